//! The module graph of `crates/exorun/src` reads bottom-up (ARCHITECTURE.md, "the module
//! graph"): every module sits in a layer of [`LAYERS`], imports only from its own layer or
//! below, and no modules import each other in a circle.
//!
//! The sources are read as text: each `crate::<module>` in code (a `use` item or a path written
//! inline, `crate::{a, b}` groups included; comments and literals skipped) is an import of
//! `<module>`. A child module (`server/dedup.rs`) counts as its parent. `src/bin` is another
//! crate, and `lib.rs` only declares the modules.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The layers, from the bottom up, and the modules in each.
const LAYERS: &[(&str, &[&str])] = &[
    // What a call, an interface and a failure are; planted bugs.
    ("base", &["plant", "trap", "domain", "ledger", "wave"]),
    // Frames over a transport; calling a peer; what a peer offers.
    ("wire", &["transport", "client", "offer", "session"]),
    // A store and its instance, systems, and the registry they live in.
    (
        "host",
        &["wasi_io", "context", "system", "id", "instance", "runtime"],
    ),
    // Linking an import to a system, a local instance or a remote peer.
    ("linking", &["bind", "builder"]),
    // Serving calls from peers.
    ("serving", &["server"]),
];

#[test]
fn the_module_graph_reads_bottom_up() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let modules = modules(&src);
    let mut problems = Vec::new();
    for module in modules.keys() {
        if layer(module).is_none() {
            problems.push(format!("`{module}` is in no layer: add it to LAYERS"));
        }
    }
    for (_, names) in LAYERS {
        for name in *names {
            if !modules.contains_key(*name) {
                problems.push(format!("LAYERS lists `{name}`, which is no module of src"));
            }
        }
    }
    let edges = edges(&src, &modules);
    for edge in &edges {
        // A module in no layer is told above.
        let Some(from) = layer(&edge.from) else {
            continue;
        };
        let Some(to) = layer(&edge.to) else {
            let (at, to) = (&edge.at, &edge.to);
            problems.push(format!("{at}: `crate::{to}` names no module of LAYERS"));
            continue;
        };
        if to > from {
            problems.push(format!(
                "{}: `{}` ({}) imports `{}` ({}), a higher layer",
                edge.at, edge.from, LAYERS[from].0, edge.to, LAYERS[to].0
            ));
        }
    }
    if let Some(circle) = circle(&edges) {
        let path: Vec<String> = circle
            .iter()
            .map(|e| format!("`{}` -> `{}` ({})", e.from, e.to, e.at))
            .collect();
        problems.push(format!("circle: {}", path.join(", ")));
    }
    assert!(
        problems.is_empty(),
        "a module imports only from its own layer or below, and no circle:\n{}",
        problems.join("\n")
    );
}

/// The layer `module` sits in, counted from the bottom.
fn layer(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, names)| names.contains(&module))
}

/// One import: `from` names `crate::<to>` at `at` (file and line).
#[derive(Debug, Clone)]
struct Edge {
    from: String,
    to: String,
    at: String,
}

/// The crate's modules, each with its files (the module's own and its children's).
fn modules(src: &Path) -> BTreeMap<String, Vec<PathBuf>> {
    let mut modules: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for file in rust_files(src) {
        let Ok(relative) = file.strip_prefix(src) else {
            continue;
        };
        let first = relative.components().next();
        let first = first.map(|c| c.as_os_str().to_string_lossy().into_owned());
        let Some(first) = first else {
            continue;
        };
        if first == "bin" || first == "lib.rs" {
            continue;
        }
        let module = first.strip_suffix(".rs").unwrap_or(&first).to_owned();
        modules.entry(module).or_default().push(file);
    }
    modules
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// Every import of another module, in file order.
fn edges(src: &Path, modules: &BTreeMap<String, Vec<PathBuf>>) -> Vec<Edge> {
    let mut edges = Vec::new();
    for (module, files) in modules {
        for file in files {
            let text =
                std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            let shown = file.strip_prefix(src).unwrap_or(file).display().to_string();
            for (line, to) in crate_paths(&code_only(&text)) {
                if to != *module {
                    let at = format!("src/{shown}:{line}");
                    let from = module.clone();
                    edges.push(Edge { from, to, at });
                }
            }
        }
    }
    edges
}

/// The first segment after each `crate::` in `code`, with its line: `crate::{a, b::c}` gives
/// `a` and `b`. A `self` in a group names the crate root, which is no import; a glob or anything
/// else that is not a name is returned as written, to be refused.
fn crate_paths(code: &str) -> Vec<(usize, String)> {
    let bytes = code.as_bytes();
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(offset) = code[from..].find("crate::") {
        let start = from + offset;
        from = start + "crate::".len();
        let glued = start > 0 && is_ident(bytes[start - 1]);
        if glued {
            continue;
        }
        let line = code[..start].matches('\n').count() + 1;
        let rest = code[from..].trim_start();
        if let Some(group) = rest.strip_prefix('{') {
            for item in group_items(group) {
                if item != "self" {
                    found.push((line, item));
                }
            }
        } else {
            found.push((line, first_segment(rest)));
        }
    }
    found
}

/// The first segment of each item of a `{...}` group, `group` starting after its `{`.
fn group_items(group: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut depth = 0;
    let mut item_start = true;
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => item_start = true,
            c if c.is_whitespace() => {}
            _ if item_start => {
                items.push(first_segment(&group[i..]));
                item_start = false;
            }
            _ => {}
        }
    }
    items
}

/// The identifier `path` starts with, or its first character if it starts with none.
fn first_segment(path: &str) -> String {
    let len = path.bytes().take_while(|&b| is_ident(b)).count();
    match len {
        0 => path.chars().next().map(String::from).unwrap_or_default(),
        len => path[..len].to_owned(),
    }
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// `source` with its comments and its string and character literals blanked out; newlines stay,
/// so that lines keep their numbers.
fn code_only(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut code = String::with_capacity(source.len());
    let mut i = 0;
    while i < chars.len() {
        let end = match literal_or_comment(&chars, i) {
            Some(end) => end.min(chars.len()),
            None => {
                code.push(chars[i]);
                i += 1;
                continue;
            }
        };
        for &c in &chars[i..end] {
            code.push(if c == '\n' { '\n' } else { ' ' });
        }
        i = end;
    }
    code
}

/// Where the comment or literal starting at `i` ends (one past it), if one starts there.
fn literal_or_comment(chars: &[char], i: usize) -> Option<usize> {
    let at = |k: usize| chars.get(k).copied();
    let after_ident = i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
    match (chars[i], at(i + 1)) {
        ('/', Some('/')) => Some(find_from(chars, i, '\n')),
        ('/', Some('*')) => Some(block_comment_end(chars, i)),
        ('"', _) => Some(string_end(chars, i + 1)),
        ('\'', Some('\\')) => Some(find_from(chars, i + 3, '\'') + 1),
        ('\'', _) if at(i + 2) == Some('\'') => Some(i + 3),
        ('r' | 'b', _) if !after_ident => raw_string_end(chars, i),
        _ => None,
    }
}

/// The index of the first `c` at or after `from`, or the end.
fn find_from(chars: &[char], from: usize, c: char) -> usize {
    let found = chars
        .get(from..)
        .and_then(|rest| rest.iter().position(|&x| x == c));
    found.map_or(chars.len(), |n| from + n)
}

/// One past the `*/` closing the block comment opened at `i`; block comments nest.
fn block_comment_end(chars: &[char], i: usize) -> usize {
    let mut depth = 0;
    let mut k = i;
    while k + 1 < chars.len() {
        match (chars[k], chars[k + 1]) {
            ('/', '*') => {
                depth += 1;
                k += 2;
            }
            ('*', '/') => {
                depth -= 1;
                k += 2;
                if depth == 0 {
                    return k;
                }
            }
            _ => k += 1,
        }
    }
    chars.len()
}

/// One past the `"` closing a string whose contents start at `from`.
fn string_end(chars: &[char], from: usize) -> usize {
    let mut k = from;
    while k < chars.len() {
        match chars[k] {
            '\\' => k += 2,
            '"' => return k + 1,
            _ => k += 1,
        }
    }
    chars.len()
}

/// For `r"`, `r#"`, `br"`, `b"` and the like at `i`: one past the literal's end.
fn raw_string_end(chars: &[char], i: usize) -> Option<usize> {
    let mut k = i;
    if chars[k] == 'b' {
        k += 1;
        if chars.get(k) == Some(&'"') {
            return Some(string_end(chars, k + 1));
        }
    }
    if chars.get(k) != Some(&'r') {
        return None;
    }
    k += 1;
    let hashes = chars[k..].iter().take_while(|&&c| c == '#').count();
    k += hashes;
    if chars.get(k) != Some(&'"') {
        return None;
    }
    k += 1;
    while k < chars.len() {
        let closes = chars[k] == '"'
            && chars.len() >= k + 1 + hashes
            && chars[k + 1..k + 1 + hashes].iter().all(|&c| c == '#');
        if closes {
            return Some(k + 1 + hashes);
        }
        k += 1;
    }
    Some(chars.len())
}

/// A circle of imports, if there is one: each edge in turn, the last back to the first's
/// module.
fn circle(edges: &[Edge]) -> Option<Vec<Edge>> {
    let mut graph: BTreeMap<&str, BTreeMap<&str, &Edge>> = BTreeMap::new();
    for edge in edges {
        let out = graph.entry(&edge.from).or_default();
        out.entry(&edge.to).or_insert(edge);
    }
    let mut done: Vec<&str> = Vec::new();
    for &start in graph.keys() {
        let mut path = Vec::new();
        if let Some(circle) = walk(&graph, start, &mut path, &mut done) {
            return Some(circle.into_iter().cloned().collect());
        }
    }
    None
}

/// Depth first from `module`, `path` the edges that led here; a circle once an edge leads back
/// onto the path.
fn walk<'g>(
    graph: &BTreeMap<&'g str, BTreeMap<&'g str, &'g Edge>>,
    module: &'g str,
    path: &mut Vec<&'g Edge>,
    done: &mut Vec<&'g str>,
) -> Option<Vec<&'g Edge>> {
    if done.contains(&module) {
        return None;
    }
    for (&to, &edge) in graph.get(module).into_iter().flatten() {
        let back = path.iter().position(|e| e.from == to);
        if let Some(at) = back {
            let mut circle = path[at..].to_vec();
            circle.push(edge);
            return Some(circle);
        }
        if to == module {
            continue;
        }
        path.push(edge);
        let found = walk(graph, to, path, done);
        path.pop();
        if found.is_some() {
            return found;
        }
    }
    done.push(module);
    None
}
