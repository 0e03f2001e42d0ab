//! The `exorun-sim` binary, built once per process, and what every module needs to run it.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use exorun_sim::shard;

/// The repository's root.
pub fn root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    match manifest.parent() {
        Some(root) => root.to_path_buf(),
        None => panic!("{} has no parent", manifest.display()),
    }
}

/// A file of the repository, by its path from the root.
pub fn repo_file(path: &str) -> PathBuf {
    root().join(path)
}

/// A shipped scenario file, by name (`sim/scenarios/NAME.toml`).
pub fn shipped_path(name: &str) -> PathBuf {
    repo_file(&format!("sim/scenarios/{name}.toml"))
}

/// Where this test binary was built: the target directory and the profile's directory name
/// (`debug` for the dev and test profiles, else the profile's name).
struct Build {
    target_dir: PathBuf,
    profile_dir: String,
}

/// The test binary is `<target dir>/<profile dir>/deps/e2e-<hash>`.
fn this_build() -> Build {
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => panic!("cannot find this test binary: {e}"),
    };
    let profile = exe.parent().and_then(Path::parent);
    let target_dir = profile.and_then(Path::parent);
    let name = profile.and_then(Path::file_name);
    let (Some(target_dir), Some(name)) = (target_dir, name) else {
        panic!(
            "{}: not in <target dir>/<profile>/deps/, where cargo puts test binaries",
            exe.display()
        );
    };
    Build {
        target_dir: target_dir.to_path_buf(),
        profile_dir: name.to_string_lossy().into_owned(),
    }
}

/// The cargo profile whose output lands in `profile_dir`: `debug` holds `dev` (and `test`).
fn profile_of(profile_dir: &str) -> &str {
    match profile_dir {
        "debug" => "dev",
        other => other,
    }
}

/// The cargo profile this test binary was built in, for `scripts/sim.sh`.
pub fn profile() -> String {
    profile_of(&this_build().profile_dir).to_owned()
}

/// The target directory this test binary was built in.
pub fn target_dir() -> PathBuf {
    this_build().target_dir
}

/// The `exorun-sim` binary of this build, built on first use: with the flags this test binary
/// was built with (RUSTFLAGS, carrying `--cfg madsim`, is inherited), in its target directory
/// and profile, so that cargo finds it fresh. Run through a hard link of its own, so that a
/// later cargo build (`scripts/sim.sh`'s, say) replacing the file does not pull it away from
/// under a test.
pub fn binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        check_apps();
        let built = build();
        let Build {
            target_dir,
            profile_dir,
        } = this_build();
        let private = target_dir
            .join("tmp")
            .join(format!("exorun-sim-e2e-{profile_dir}"));
        link_or_copy(&built, &private);
        private
    })
}

fn build() -> PathBuf {
    let Build {
        target_dir,
        profile_dir,
    } = this_build();
    let mut args = vec![
        "build".to_owned(),
        "--locked".to_owned(),
        "-p".to_owned(),
        "exorun-sim".to_owned(),
        "--bin".to_owned(),
        "exorun-sim".to_owned(),
    ];
    if profile_dir != "debug" {
        args.extend(["--profile".to_owned(), profile_dir.clone()]);
    }
    args.extend(["--target-dir".to_owned(), target_dir.display().to_string()]);
    let output = Command::new(env!("CARGO"))
        .args(&args)
        .current_dir(root())
        .output();
    let by_hand = format!(
        "RUSTFLAGS={:?} cargo {}",
        std::env::var("RUSTFLAGS").unwrap_or_default(),
        args.join(" ")
    );
    let output = match output {
        Ok(output) => output,
        Err(e) => panic!("cannot run cargo ({e}); build exorun-sim by hand: {by_hand}"),
    };
    if !output.status.success() {
        panic!(
            "building exorun-sim failed ({}); by hand: {by_hand}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let binary = target_dir
        .join(&profile_dir)
        .join(format!("exorun-sim{}", std::env::consts::EXE_SUFFIX));
    assert!(binary.is_file(), "cargo built no {}", binary.display());
    binary
}

fn link_or_copy(from: &Path, to: &Path) {
    let made = to.parent().map(std::fs::create_dir_all);
    if let Some(Err(e)) = made {
        panic!("{}: {e}", to.display());
    }
    let _ = std::fs::remove_file(to);
    if std::fs::hard_link(from, to).is_ok() {
        return;
    }
    if let Err(e) = std::fs::copy(from, to) {
        panic!("cannot copy {} to {}: {e}", from.display(), to.display());
    }
}

/// Every app the simulator loads must be in the fixtures directory, where
/// `scripts/build_apps.sh` writes them (and where the binary looks by default).
fn check_apps() {
    let dir = repo_file("crates/exorun/tests/fixtures");
    let missing: Vec<&str> = exorun_sim::scenario::APPS
        .iter()
        .copied()
        .filter(|app| !dir.join(format!("{app}.wasm")).is_file())
        .collect();
    assert!(
        missing.is_empty(),
        "the guest apps are not built (no {} in {}): run scripts/build_apps.sh",
        missing.join(", "),
        dir.display()
    );
}

/// The batch systems' variables `explore` reads to pick a shard. A test sets the ones it means;
/// the environment the tests run in (a Slurm job, say) must not choose shards for the others.
const BATCH_VARIABLES: [&str; 7] = [
    shard::KUBERNETES_INDEX,
    shard::SHARD_COUNT,
    shard::SLURM_ID,
    shard::SLURM_COUNT,
    shard::SLURM_MIN,
    shard::SLURM_MAX,
    shard::SLURM_STEP,
];

/// What one run of a command did.
pub struct Cli {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Cli {
    /// Both streams, for assertion messages.
    pub fn output(&self) -> String {
        format!(
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }

    /// Fails the test, showing the output, unless the command exited with `code`.
    pub fn assert_exit(&self, code: i32) {
        assert_eq!(self.code, Some(code), "{}", self.output());
    }

    /// Fails the test unless stdout holds each of `texts`.
    pub fn assert_stdout(&self, texts: &[&str]) {
        for text in texts {
            assert!(
                self.stdout.contains(text),
                "no {text:?} in stdout:\n{}",
                self.output()
            );
        }
    }

    /// Fails the test unless stderr holds each of `texts`.
    pub fn assert_stderr(&self, texts: &[&str]) {
        for text in texts {
            assert!(
                self.stderr.contains(text),
                "no {text:?} in stderr:\n{}",
                self.output()
            );
        }
    }

    /// The value of the first stdout line that starts with `prefix`, after it.
    pub fn stdout_value(&self, prefix: &str) -> String {
        let line = self.stdout.lines().find_map(|l| l.strip_prefix(prefix));
        match line {
            Some(value) => value.trim().to_owned(),
            None => panic!("no line starting {prefix:?} in stdout:\n{}", self.output()),
        }
    }
}

/// Runs `command` (with no batch variables but those in `env`) to its end.
pub fn finish(mut command: Command, env: &[(&str, &str)]) -> Cli {
    for name in BATCH_VARIABLES {
        command.env_remove(name);
    }
    command.envs(env.iter().copied());
    let output = match command.output() {
        Ok(output) => output,
        Err(e) => panic!("cannot run {command:?}: {e}"),
    };
    Cli {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs `exorun-sim ARGS` from the repository's root.
pub fn exorun_sim<S: AsRef<OsStr>>(args: &[S]) -> Cli {
    exorun_sim_env(args, &[])
}

/// Runs `exorun-sim ARGS` from the repository's root with the variables `env` set.
pub fn exorun_sim_env<S: AsRef<OsStr>>(args: &[S], env: &[(&str, &str)]) -> Cli {
    let mut command = Command::new(binary());
    command.args(args).current_dir(root());
    finish(command, env)
}

/// A fresh, empty directory for one test, under cargo's directory for test files.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        panic!("{}: {e}", dir.display());
    }
    dir
}

/// A path as one argument.
pub fn arg(path: &Path) -> String {
    path.display().to_string()
}

/// The rows of a summary table that depend on wall time.
const WALL_ROWS: [&str; 4] = ["wall time", "seeds/s", "calls/s", "simulated/wall"];

/// The name of a summary row (`  calls                  1234`).
fn row_name(line: &str) -> Option<&str> {
    let row = line.strip_prefix("  ")?;
    let name = match row.find("  ") {
        Some(end) => &row[..end],
        None => row,
    };
    Some(name.trim_end())
}

/// The summary table in `stdout` (the `summary` line and its rows), without the rows that
/// depend on wall time: what an exploration and a merge of its reports print alike.
pub fn summary_table(stdout: &str) -> String {
    let mut lines = stdout.lines().skip_while(|line| *line != "summary");
    let mut table = String::new();
    let Some(first) = lines.next() else {
        return table;
    };
    table.push_str(first);
    table.push('\n');
    for line in lines {
        let Some(name) = row_name(line) else {
            break;
        };
        if !WALL_ROWS.contains(&name) {
            table.push_str(line);
            table.push('\n');
        }
    }
    table
}

/// `text` with the values of the wall-time rows replaced by `[wall]`, for a golden file.
pub fn redact_wall(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        match row_name(line) {
            Some(name) if WALL_ROWS.contains(&name) => {
                out.push_str(&format!("  {name:<22} [wall]"));
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}
