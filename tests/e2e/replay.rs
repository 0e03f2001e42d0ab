//! `exorun-sim replay`: a seed's trace hash reproduces (twice in the replaying process, and as
//! `run` printed it in another), and an entry whose recorded trace differs from the replay
//! shows the first event where they part ways.

use exorun_sim::trace::fnv1a64;

use crate::fixtures::{PLANT, planted_seed};
use crate::support::{arg, exorun_sim, scratch_dir, shipped_path};

const SEED: u64 = 3;

#[test]
fn replay_of_a_seed_prints_the_hash_run_printed() {
    let seed = SEED.to_string();
    let partition = arg(&shipped_path("partition"));
    let run = exorun_sim(&["run", "--seed", &seed, "--scenario", &partition]);
    let hash = run.stdout_value("trace-hash: ");
    let replay = exorun_sim(&["replay", "--seed", &seed, "--scenario", &partition]);
    replay.assert_stdout(&[&format!("\nreplay: deterministic, trace-hash {hash}\n")]);
    assert_eq!(
        replay.code,
        run.code,
        "{}\n{}",
        run.output(),
        replay.output()
    );
}

/// A failing seed replays too: the same violation each time, exit status 1, and the command
/// that replays it with `run`.
#[test]
fn replay_of_a_planted_bug_reproduces_its_violation() {
    let seed = planted_seed().to_string();
    let replay = exorun_sim(&["replay", "--seed", &seed, "--plant", PLANT.name()]);
    replay.assert_exit(1);
    let kind = PLANT.caught_as();
    replay.assert_stdout(&[
        &format!("\noutcome: {kind} ("),
        &format!("\nseed {seed}: VIOLATION {kind} at event "),
        &format!("\nreplay: scripts/sim.sh run --seed {seed} --plant {PLANT} --trace\n"),
        "\nreplay: deterministic, trace-hash ",
    ]);
}

/// An entry replays as recorded; once its kept trace is edited (and its hash with it), the
/// replay fails and shows the edited event beside the real one.
#[test]
fn replay_of_an_entry_shows_the_first_event_that_changed() {
    let dir = scratch_dir("replay-entry");
    let seed = SEED.to_string();
    let add = exorun_sim(&[
        "corpus",
        "add",
        "--seed",
        &seed,
        "--scenario",
        &arg(&shipped_path("partition")),
        "--name",
        "partition",
        "--trace",
        "--dir",
        &arg(&dir),
    ]);
    add.assert_exit(0);
    let entry = arg(&dir.join("partition.toml"));
    let replay = exorun_sim(&["replay", "--entry", &entry]);
    replay.assert_exit(0);
    replay.assert_stdout(&["replay: deterministic, trace-hash "]);

    let edited_at = 30;
    let (real, before) = edit_trace(&dir.join("partition"), edited_at);
    let broken = exorun_sim(&["replay", "--entry", &entry]);
    broken.assert_exit(1);
    broken.assert_stderr(&[
        &format!("entry {entry} replays otherwise than recorded"),
        "determinism broke",
        &format!("the traces differ first at event {edited_at}:"),
        &format!("  -  {edited_at:>6} {real} (edited)\n"),
        &format!("  +  {edited_at:>6} {real}\n"),
        &format!("     {:>6} {before}\n", edited_at - 1),
    ]);
}

/// Appends ` (edited)` to event `at` of the entry `stem`'s trace file and records the edited
/// trace's hash in `stem.toml`, as a run that changed would; the real event and the one before.
fn edit_trace(stem: &std::path::Path, at: usize) -> (String, String) {
    let trace_path = stem.with_extension("trace");
    let entry_path = stem.with_extension("toml");
    let read = |path: &std::path::Path| match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => panic!("{}: {e}", path.display()),
    };
    let write = |path: &std::path::Path, text: &str| {
        if let Err(e) = std::fs::write(path, text) {
            panic!("{}: {e}", path.display());
        }
    };
    let trace = read(&trace_path);
    let mut lines: Vec<String> = trace.lines().map(str::to_owned).collect();
    assert!(lines.len() > at, "the trace has {} events", lines.len());
    let (real, before) = (lines[at].clone(), lines[at - 1].clone());
    lines[at] = format!("{real} (edited)");
    let edited: String = lines.iter().map(|line| format!("{line}\n")).collect();
    write(&trace_path, &edited);
    let text = read(&entry_path);
    let recorded = format!("trace_hash = \"{:016x}\"", fnv1a64(trace.as_bytes()));
    assert!(text.contains(&recorded), "{text}");
    let now = format!("trace_hash = \"{:016x}\"", fnv1a64(edited.as_bytes()));
    write(&entry_path, &text.replace(&recorded, &now));
    (real, before)
}
