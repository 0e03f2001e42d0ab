//! The corpus: runs kept as regression tests, each with the outcome and trace hash it had.
//!
//! An entry is a TOML file `corpus/NAME.toml`: an `[entry]` table (its name, the outcome it is
//! expected to have, the planted bug if any, the trace hash) and the scenario, either as
//! `seed = N` (the generated default scenario of that seed) or inline under `[scenario]`:
//!
//! ```toml
//! seed = 42
//!
//! [entry]
//! name = "default-42"
//! expect = "pass"                  # or a violation kind: "at-most-once", ...
//! trace_hash = "5076b50ec73a231f"  # 16 hex digits (TOML integers are signed)
//! ```
//!
//! An entry may also keep its whole trace in a file beside it (`trace = "NAME.trace"`), so a
//! replay that differs can show the first event where it does. `exorun-sim corpus check` runs
//! every entry and compares ([`judge`]); CI does that on every change.
//!
//! Reading never panics: every error names the entry file and the field. Pure: file I/O only,
//! no runs (the CLI runs the scenarios).

use std::fmt;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::check::ViolationKind;
use crate::plant::Plant;
use crate::replay::{self, Difference};
use crate::report::Report;
use crate::scenario::{self, Scenario};
use crate::trace::fnv1a64;

/// Largest entry file, in bytes: a scenario and a few lines more.
pub const ENTRY_BYTES_MAX: usize = scenario::TOML_BYTES_MAX + (64 << 10);
/// Largest trace file an entry may keep, in bytes.
pub const TRACE_BYTES_MAX: usize = 256 << 20;
/// Most entries in one corpus directory.
pub const ENTRIES_MAX: usize = 10_000;
/// Longest entry name, in bytes.
pub const NAME_LEN_MAX: usize = scenario::NAME_LEN_MAX;

/// The extension of entry files.
pub const ENTRY_EXTENSION: &str = "toml";
/// The extension of trace files.
pub const TRACE_EXTENSION: &str = "trace";

/// Why an entry or a corpus directory could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A field of the entry breaks a rule; `field` is its path, e.g. `entry.trace_hash` or
    /// `scenario.call[3].op.via`.
    #[error("corpus entry `{}`: field `{field}`: {reason}", path.display())]
    Invalid {
        path: PathBuf,
        field: String,
        reason: String,
    },
    /// The text is not TOML or not an entry's shape; `message` is the parser's, with the line.
    #[error("corpus entry `{}`: TOML: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    /// A file or directory could not be read or written. The message includes the cause, so
    /// it is not also the error's `source()`: a chain printed with `{:#}` says it once.
    #[error("corpus `{}`: {cause}", path.display())]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
}

fn invalid(path: &Path, field: impl Into<String>, reason: impl Into<String>) -> Error {
    Error::Invalid {
        path: path.to_path_buf(),
        field: field.into(),
        reason: reason.into(),
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |cause| Error::Io {
        path: path.to_path_buf(),
        cause,
    }
}

// ---- the outcome an entry expects ----

/// How a run ended, as an entry records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// No violation.
    Pass,
    /// The first violation (by event) is of this kind.
    Violation(ViolationKind),
    /// The run itself broke (a panic, the virtual time limit) without a violation.
    Broken,
}

impl Expect {
    /// How `report`'s run ended.
    pub fn of(report: &Report) -> Expect {
        match (report.violations.first(), &report.panicked) {
            (Some(violation), _) => Expect::Violation(violation.kind),
            (None, Some(_)) => Expect::Broken,
            (None, None) => Expect::Pass,
        }
    }

    /// The name an entry writes: `pass`, `broken`, or the violation kind's name.
    pub fn name(self) -> &'static str {
        match self {
            Expect::Pass => "pass",
            Expect::Violation(kind) => kind.name(),
            Expect::Broken => "broken",
        }
    }

    /// The outcome named `name`.
    pub fn from_name(name: &str) -> Option<Expect> {
        match name {
            "pass" => Some(Expect::Pass),
            "broken" => Some(Expect::Broken),
            _ => ViolationKind::from_name(name).map(Expect::Violation),
        }
    }
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

// ---- the entry ----

/// Which scenario an entry runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// `scenario::generate(seed)`.
    Seed(u64),
    /// A scenario written out in full; its `seed` drives the run.
    Scenario(Box<Scenario>),
}

/// One corpus entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The file's stem: `corpus/NAME.toml`.
    pub name: String,
    /// The outcome the run must have.
    pub expect: Expect,
    /// The bug planted in the run, if any.
    pub plant: Option<Plant>,
    /// The hash of the run's trace ([`crate::trace::Trace::hash`]).
    pub trace_hash: u64,
    /// A file beside the entry with the whole trace text, if kept.
    pub trace_file: Option<String>,
    /// The scenario.
    pub source: Source,
}

impl Entry {
    /// The scenario to run.
    pub fn scenario(&self) -> Scenario {
        match &self.source {
            Source::Seed(seed) => scenario::generate(*seed),
            Source::Scenario(scenario) => Scenario::clone(scenario),
        }
    }

    /// The run seed.
    pub fn seed(&self) -> u64 {
        match &self.source {
            Source::Seed(seed) => *seed,
            Source::Scenario(scenario) => scenario.seed,
        }
    }

    /// The entry as the TOML `load` reads back: `load` of what `save` wrote gives `self`.
    pub fn to_toml(&self) -> String {
        match self.try_to_toml() {
            Ok(text) => text,
            Err(error) => format!("# this entry cannot be written as TOML: {error}\n"),
        }
    }

    fn try_to_toml(&self) -> Result<String, toml::ser::Error> {
        let mut text = String::from(
            "# A corpus entry: `exorun-sim corpus check` runs it and compares its outcome and \
             trace hash;\n# `exorun-sim replay --entry FILE` replays it alone.\n\n",
        );
        if let Source::Seed(seed) = &self.source {
            text.push_str(&toml::to_string(&SeedOnly {
                seed: SeedField(*seed),
            })?);
            text.push('\n');
        }
        let header = Header {
            name: self.name.clone(),
            expect: self.expect.name().to_owned(),
            plant: self.plant.map(|plant| plant.name().to_owned()),
            trace_hash: format!("{:016x}", self.trace_hash),
            trace: self.trace_file.clone(),
        };
        text.push_str(&toml::to_string(&EntryOnly { entry: header })?);
        if let Source::Scenario(scenario) = &self.source {
            text.push('\n');
            text.push_str(&scenario_toml(scenario)?);
        }
        Ok(text)
    }
}

/// The scenario under a `[scenario]` table, its calls last with inline ops, as
/// `Scenario::to_toml` writes them.
fn scenario_toml(scenario: &Scenario) -> Result<String, toml::ser::Error> {
    let head = Scenario {
        calls: Vec::new(),
        ..scenario.clone()
    };
    let mut text = toml::to_string(&ScenarioOnly { scenario: head })?;
    for call in &scenario.calls {
        text.push_str("\n[[scenario.call]]\n");
        push_entry(&mut text, "at_ms", &call.at_ms)?;
        push_entry(&mut text, "node", &call.node)?;
        push_entry(&mut text, "op", &call.op)?;
    }
    Ok(text)
}

/// Appends `key = value` with `value` as an inline TOML value.
fn push_entry<T: Serialize>(
    text: &mut String,
    key: &str,
    value: &T,
) -> Result<(), toml::ser::Error> {
    text.push_str(key);
    text.push_str(" = ");
    value.serialize(toml::ser::ValueSerializer::new(text))?;
    text.push('\n');
    Ok(())
}

// ---- the file's shape ----

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    seed: Option<SeedField>,
    entry: Header,
    #[serde(default)]
    scenario: Option<Scenario>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    name: String,
    expect: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    plant: Option<String>,
    trace_hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    trace: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct SeedField(#[serde(with = "crate::scenario::seed_form")] u64);

#[derive(Serialize)]
struct SeedOnly {
    seed: SeedField,
}

#[derive(Serialize)]
struct EntryOnly {
    entry: Header,
}

#[derive(Serialize)]
struct ScenarioOnly {
    scenario: Scenario,
}

// ---- reading and writing ----

/// Parses the text of the entry file at `path` (named in errors) and validates it.
pub fn parse(path: &Path, text: &str) -> Result<Entry, Error> {
    if text.len() > ENTRY_BYTES_MAX {
        let message = format!(
            "{} bytes, more than ENTRY_BYTES_MAX = {ENTRY_BYTES_MAX}",
            text.len()
        );
        return Err(Error::Parse {
            path: path.to_path_buf(),
            message,
        });
    }
    let file: File = toml::from_str(text).map_err(|error| Error::Parse {
        path: path.to_path_buf(),
        message: error.to_string(),
    })?;
    let header = &file.entry;
    check_name(path, "entry.name", &header.name)?;
    let expect = Expect::from_name(&header.expect).ok_or_else(|| {
        let kinds: Vec<&str> = ViolationKind::ALL.iter().map(|k| k.name()).collect();
        let reason = format!(
            "unknown outcome {:?}; known: pass, broken, {}",
            header.expect,
            kinds.join(", ")
        );
        invalid(path, "entry.expect", reason)
    })?;
    let plant = match &header.plant {
        None => None,
        Some(name) => Some(
            name.parse::<Plant>()
                .map_err(|e| invalid(path, "entry.plant", e.to_string()))?,
        ),
    };
    let trace_hash = parse_hash(&header.trace_hash)
        .ok_or_else(|| invalid(path, "entry.trace_hash", hash_reason(&header.trace_hash)))?;
    if let Some(trace) = &header.trace {
        check_name(path, "entry.trace", trace)?;
    }
    let source = source(path, file.seed, file.scenario)?;
    Ok(Entry {
        name: file.entry.name,
        expect,
        plant,
        trace_hash,
        trace_file: file.entry.trace,
        source,
    })
}

fn source(
    path: &Path,
    seed: Option<SeedField>,
    scenario: Option<Scenario>,
) -> Result<Source, Error> {
    match (seed, scenario) {
        (Some(SeedField(seed)), None) => Ok(Source::Seed(seed)),
        (None, Some(scenario)) => match scenario.validate() {
            Ok(()) => Ok(Source::Scenario(Box::new(scenario))),
            Err(scenario::Error::Invalid { field, reason }) => {
                Err(invalid(path, format!("scenario.{field}"), reason))
            }
            Err(other) => Err(invalid(path, "scenario", other.to_string())),
        },
        (Some(_), Some(_)) => Err(invalid(
            path,
            "seed",
            "an entry has either `seed` (a generated scenario) or `[scenario]`, not both",
        )),
        (None, None) => Err(invalid(
            path,
            "seed",
            "an entry needs `seed = N` (a generated scenario) or a `[scenario]` table",
        )),
    }
}

/// A name: non-empty, at most [`NAME_LEN_MAX`] bytes of ASCII letters, digits, `-`, `_`, `.`,
/// not starting with `.`: a plain file name everywhere.
fn check_name(path: &Path, field: &str, name: &str) -> Result<(), Error> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    let reason = match () {
        () if name.is_empty() => "must not be empty".to_owned(),
        () if name.len() > NAME_LEN_MAX => {
            format!(
                "{} bytes, more than NAME_LEN_MAX = {NAME_LEN_MAX}",
                name.len()
            )
        }
        () if !name.chars().all(allowed) || name.starts_with('.') => {
            format!("{name:?}: use ASCII letters, digits, `-`, `_` and `.` (not first)")
        }
        () => return Ok(()),
    };
    Err(invalid(path, field, reason))
}

/// Checks `name` as an entry name, for a command line.
pub fn check_entry_name(name: &str) -> Result<(), Error> {
    check_name(Path::new(name), "entry.name", name)
}

/// A trace hash: exactly 16 hex digits.
fn parse_hash(text: &str) -> Option<u64> {
    let hex = text.len() == 16 && text.bytes().all(|b| b.is_ascii_hexdigit());
    hex.then(|| u64::from_str_radix(text, 16).ok()).flatten()
}

fn hash_reason(text: &str) -> String {
    format!("{text:?} is not a trace hash: 16 hex digits, e.g. \"5076b50ec73a231f\"")
}

/// Reads a file of at most `cap` bytes as text.
fn read_capped(path: &Path, cap: usize) -> Result<String, Error> {
    let file = std::fs::File::open(path).map_err(io(path))?;
    let mut text = String::new();
    let limit = u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1);
    file.take(limit)
        .read_to_string(&mut text)
        .map_err(io(path))?;
    Ok(text)
}

/// Reads and validates the entry at `path`; its name must be the file's stem.
pub fn load(path: &Path) -> Result<Entry, Error> {
    let text = read_capped(path, ENTRY_BYTES_MAX)?;
    let entry = parse(path, &text)?;
    let stem = path.file_stem().and_then(|stem| stem.to_str());
    if stem != Some(entry.name.as_str()) {
        let reason = format!(
            "{:?} is not the file's name; an entry lives in NAME.{ENTRY_EXTENSION}",
            entry.name
        );
        return Err(invalid(path, "entry.name", reason));
    }
    Ok(entry)
}

/// The trace text the entry at `path` keeps, if it keeps one; it must hash to the entry's
/// `trace_hash`.
pub fn load_trace(path: &Path, entry: &Entry) -> Result<Option<String>, Error> {
    let Some(file) = &entry.trace_file else {
        return Ok(None);
    };
    let trace_path = path.with_file_name(file);
    let text = read_capped(&trace_path, TRACE_BYTES_MAX)?;
    if text.len() > TRACE_BYTES_MAX {
        let reason = format!("{file} is larger than TRACE_BYTES_MAX = {TRACE_BYTES_MAX}");
        return Err(invalid(path, "entry.trace", reason));
    }
    let hash = fnv1a64(text.as_bytes());
    if hash != entry.trace_hash {
        let reason = format!(
            "{file} hashes to {hash:016x}, not to trace_hash = {:016x}",
            entry.trace_hash
        );
        return Err(invalid(path, "entry.trace", reason));
    }
    Ok(Some(text))
}

/// Writes `entry` as `dir/NAME.toml`, and `trace` (if given) as `dir/NAME.trace`, which the
/// entry then names. Returns the entry's path.
pub fn save(dir: &Path, entry: &Entry, trace: Option<&str>) -> Result<PathBuf, Error> {
    check_entry_name(&entry.name)?;
    let mut entry = entry.clone();
    if let Some(text) = trace {
        let file = format!("{}.{TRACE_EXTENSION}", entry.name);
        let trace_path = dir.join(&file);
        std::fs::write(&trace_path, text).map_err(io(&trace_path))?;
        entry.trace_file = Some(file);
    }
    let path = entry_path(dir, &entry.name);
    std::fs::write(&path, entry.to_toml()).map_err(io(&path))?;
    Ok(path)
}

/// Where the entry named `name` lives in `dir`.
pub fn entry_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.{ENTRY_EXTENSION}"))
}

/// The entry files of `dir` (`*.toml`), sorted by name.
pub fn entry_paths(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut paths = Vec::new();
    for item in std::fs::read_dir(dir).map_err(io(dir))? {
        let path = item.map_err(io(dir))?.path();
        if path.extension().and_then(|e| e.to_str()) != Some(ENTRY_EXTENSION) {
            continue;
        }
        if paths.len() == ENTRIES_MAX {
            let reason = format!("more than ENTRIES_MAX = {ENTRIES_MAX} entries");
            return Err(invalid(dir, "*.toml", reason));
        }
        paths.push(path);
    }
    paths.sort();
    Ok(paths)
}

// ---- judging a replay ----

/// How a replay of an entry differs from what the entry recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    /// The run ended otherwise than expected.
    Outcome { expected: Expect, got: Expect },
    /// The trace hash changed.
    Hash { recorded: u64, now: u64 },
    /// The trace changed here (known when the entry keeps its trace).
    Trace(Difference),
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::Outcome { expected, got } => {
                write!(f, "outcome: expected {expected}, got {got}")
            }
            Mismatch::Hash { recorded, now } => {
                write!(f, "trace-hash: recorded {recorded:016x}, now {now:016x}")
            }
            Mismatch::Trace(difference) => difference.fmt(f),
        }
    }
}

/// How the replay `report` of `entry` differs from what the entry recorded (its outcome, its
/// hash, and, given the recorded trace text, the first event that differs). Empty: the same.
pub fn judge(entry: &Entry, report: &Report, recorded_trace: Option<&str>) -> Vec<Mismatch> {
    let mut mismatches = Vec::new();
    let got = Expect::of(report);
    if got != entry.expect {
        mismatches.push(Mismatch::Outcome {
            expected: entry.expect,
            got,
        });
    }
    let now = report.trace.hash();
    if now != entry.trace_hash {
        mismatches.push(Mismatch::Hash {
            recorded: entry.trace_hash,
            now,
        });
        let difference = recorded_trace
            .and_then(|recorded| replay::first_difference(recorded, &report.trace.text()));
        mismatches.extend(difference.map(Mismatch::Trace));
    }
    mismatches
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{Tally, Violation};
    use crate::trace::{EventKind, Trace};

    fn entry(source: Source) -> Entry {
        Entry {
            name: "double-execute-17".into(),
            expect: Expect::Violation(ViolationKind::AtMostOnce),
            plant: Some(Plant::DoubleExecute),
            trace_hash: 0x0123_4567_89ab_cdef,
            trace_file: None,
            source,
        }
    }

    fn path() -> &'static Path {
        Path::new("corpus/double-execute-17.toml")
    }

    #[test]
    fn every_error_prints_its_cause_once() {
        let errors = [
            invalid(path(), "entry.trace_hash", "expected 16 hex digits"),
            Error::Parse {
                path: path().to_path_buf(),
                message: "expected `=`, line 3".into(),
            },
            io(path())(std::io::Error::other("disk on fire")),
        ];
        for error in &errors {
            // A message that includes a cause does not also return it as its source.
            let mut current: &dyn std::error::Error = error;
            while let Some(source) = current.source() {
                let (outer, inner) = (current.to_string(), source.to_string());
                assert!(!outer.contains(&inner), "{outer:?} repeats {inner:?}");
                current = source;
            }
        }
        let printed = errors[2].to_string();
        assert_eq!(printed.matches("disk on fire").count(), 1, "{printed}");
        assert!(std::error::Error::source(&errors[2]).is_none());
    }

    fn round_trip(entry: &Entry) {
        let text = entry.to_toml();
        let back = parse(path(), &text).map_err(|e| e.to_string());
        assert_eq!(back.as_ref(), Ok(entry), "{text}");
    }

    #[test]
    fn entries_round_trip_through_toml() {
        round_trip(&entry(Source::Seed(17)));
        round_trip(&entry(Source::Seed(u64::MAX)));
        let mut shrunk = scenario::generate(5);
        shrunk.calls.truncate(3);
        let mut with_trace = entry(Source::Scenario(Box::new(shrunk)));
        with_trace.trace_file = Some("double-execute-17.trace".into());
        with_trace.plant = None;
        with_trace.expect = Expect::Pass;
        round_trip(&with_trace);
        for expect in [Expect::Broken, Expect::Violation(ViolationKind::Liveness)] {
            round_trip(&Entry {
                expect,
                ..entry(Source::Seed(1))
            });
        }
    }

    #[test]
    fn a_seed_entry_reads_as_written_by_hand() {
        let text = "seed = 42\n\n[entry]\nname = \"default-42\"\nexpect = \"pass\"\n\
                    trace_hash = \"5076B50EC73A231F\"\n";
        let parsed = parse(Path::new("corpus/default-42.toml"), text).map_err(|e| e.to_string());
        let expected = Entry {
            name: "default-42".into(),
            expect: Expect::Pass,
            plant: None,
            trace_hash: 0x5076_b50e_c73a_231f,
            trace_file: None,
            source: Source::Seed(42),
        };
        assert_eq!(parsed, Ok(expected));
    }

    /// The one helper every refusal goes through: the error's text must contain `expected`.
    fn refused(text: &str, expected: &str) {
        let error = match parse(path(), text) {
            Ok(entry) => panic!("accepted {entry:?}"),
            Err(error) => error.to_string(),
        };
        assert!(error.contains(expected), "{error:?} lacks {expected:?}");
        assert!(error.contains("corpus/double-execute-17.toml"), "{error}");
    }

    #[test]
    fn a_wrong_entry_is_refused_naming_the_field() {
        let good = entry(Source::Seed(17)).to_toml();
        let cases = [
            (
                good.replace("0123456789abcdef", "0123"),
                "field `entry.trace_hash`",
            ),
            (
                good.replace("0123456789abcdef", "0123456789abcdeg"),
                "entry.trace_hash",
            ),
            (
                good.replace("\"at-most-once\"", "\"fails\""),
                "field `entry.expect`",
            ),
            (
                good.replace("plant = \"double-execute\"", "plant = \"x\""),
                "field `entry.plant`",
            ),
            (
                good.replace("name = \"double-execute-17\"", "name = \"../up\""),
                "entry.name",
            ),
            (
                good.replace("name = \"double-execute-17\"", "name = \"\""),
                "entry.name",
            ),
            (good.replace("seed = 17\n", ""), "field `seed`"),
            (good.replace("seed = 17", "seed = -1"), "TOML"),
            (
                good.replace("[entry]", "colour = 1\n[entry]"),
                "unknown field `colour`",
            ),
            (good.replace("trace_hash", "trace_hsah"), "TOML"),
            (String::from("[entry"), "TOML"),
        ];
        for (text, expected) in cases {
            refused(&text, expected);
        }
        let mut inline = entry(Source::Scenario(Box::new(scenario::generate(2)))).to_toml();
        refused(&format!("seed = 2\n{inline}"), "not both");
        inline = inline.replacen("via = \"calc-client-1\"", "via = \"nobody\"", 1);
        refused(&inline, "field `scenario.call[");
    }

    #[test]
    fn load_wants_the_name_of_the_file() {
        let dir = std::env::temp_dir().join(format!("exorun-corpus-unit-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let original = entry(Source::Seed(17));
        let path = save(&dir, &original, Some("line 1\n")).map_err(|e| e.to_string());
        let path = path.expect("saved");
        let loaded = load(&path).map_err(|e| e.to_string()).expect("loads");
        assert_eq!(
            loaded.trace_file.as_deref(),
            Some("double-execute-17.trace")
        );
        // The trace does not hash to trace_hash: refused, naming the field.
        let trace = load_trace(&path, &loaded).map_err(|e| e.to_string());
        assert!(
            matches!(&trace, Err(e) if e.contains("entry.trace")),
            "{trace:?}"
        );
        let moved = dir.join("other.toml");
        let _ = std::fs::rename(&path, &moved);
        let error = load(&moved).map(|_| ()).map_err(|e| e.to_string());
        assert!(
            matches!(&error, Err(e) if e.contains("not the file's name")),
            "{error:?}"
        );
        let listed = entry_paths(&dir).map_err(|e| e.to_string());
        assert_eq!(listed, Ok(vec![moved]));
        let _ = std::fs::remove_dir_all(&dir);
        let missing = load(&dir.join("gone.toml"))
            .map(|_| ())
            .map_err(|e| e.to_string());
        assert!(
            matches!(&missing, Err(e) if e.contains("gone.toml")),
            "{missing:?}"
        );
    }

    fn report(violations: Vec<ViolationKind>, panicked: bool, text: &[&str]) -> Report {
        let mut trace = Trace::new();
        for (i, line) in text.iter().enumerate() {
            let kind = EventKind::Output {
                instance: "dice".into(),
                stderr: false,
                text: (*line).to_owned(),
            };
            trace.push(i as u64, "front", kind);
        }
        let violations = violations
            .into_iter()
            .map(|kind| Violation {
                kind,
                event: 0,
                message: String::new(),
            })
            .collect();
        Report {
            seed: 1,
            trace,
            violations,
            tally: Tally::default(),
            panicked: panicked.then(|| "boom".to_owned()),
        }
    }

    #[test]
    fn expect_reads_the_first_violation() {
        let fidelity = ViolationKind::Fidelity;
        let leak = ViolationKind::Leak;
        let cases = [
            (report(vec![], false, &[]), Expect::Pass),
            (
                report(vec![leak, fidelity], false, &[]),
                Expect::Violation(leak),
            ),
            (report(vec![], true, &[]), Expect::Broken),
            (
                report(vec![fidelity], true, &[]),
                Expect::Violation(fidelity),
            ),
        ];
        for (report, expected) in cases {
            assert_eq!(Expect::of(&report), expected);
            assert_eq!(Expect::from_name(expected.name()), Some(expected));
        }
        assert_eq!(Expect::from_name("failed"), None);
    }

    #[test]
    fn judge_names_every_mismatch() {
        let now = report(vec![], false, &["a", "b", "c"]);
        let mut recorded = Entry {
            expect: Expect::Pass,
            trace_hash: now.trace.hash(),
            ..entry(Source::Seed(1))
        };
        assert_eq!(judge(&recorded, &now, None), []);
        recorded.expect = Expect::Violation(ViolationKind::AtMostOnce);
        let outcome = Mismatch::Outcome {
            expected: recorded.expect,
            got: Expect::Pass,
        };
        assert_eq!(judge(&recorded, &now, None), std::slice::from_ref(&outcome));
        let old = report(vec![], false, &["a", "x", "c"]);
        recorded.trace_hash = old.trace.hash();
        let hash = Mismatch::Hash {
            recorded: old.trace.hash(),
            now: now.trace.hash(),
        };
        let found = judge(&recorded, &now, Some(&old.trace.text()));
        let Some(Mismatch::Trace(difference)) = found.get(2) else {
            panic!("no trace difference in {found:?}");
        };
        assert_eq!(found[..2], [outcome, hash]);
        assert_eq!(difference.index, 1);
        assert!(
            difference
                .original
                .as_deref()
                .is_some_and(|l| l.ends_with("\"x\""))
        );
        assert!(
            difference
                .replay
                .as_deref()
                .is_some_and(|l| l.ends_with("\"b\""))
        );
    }
}
