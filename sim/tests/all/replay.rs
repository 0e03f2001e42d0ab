//! Replay: a seed's trace reproduces (twice in one process, and in another process), and a
//! replay that differs from the original names the first event where it does.

use exorun_sim::replay::first_difference;
use exorun_sim::scenario::Op;
use exorun_sim::trace::fnv1a64;

use crate::support::{exorun_sim, scratch_dir, shipped, shipped_path, sim};

const SEED: u64 = 3;

#[test]
fn replay_of_a_seed_prints_the_hash_it_had() {
    let mut scenario = shipped("partition");
    scenario.seed = SEED;
    let report = sim().run(&scenario, None);
    let path = shipped_path("partition");
    let seed = SEED.to_string();
    let cli = exorun_sim(&[
        "replay",
        "--seed",
        &seed,
        "--scenario",
        &path.to_string_lossy(),
    ]);
    let same = format!(
        "replay: deterministic, trace-hash {:016x}",
        report.trace.hash()
    );
    assert!(cli.stdout.contains(&same), "{}", cli.output());
    let code = if report.passed() { 0 } else { 1 };
    assert_eq!(cli.code, Some(code), "{}", cli.output());
}

/// Two runs that differ in one argument of one call agree up to that call's start, which is
/// the first difference, shown with the events before it.
#[test]
fn the_first_difference_of_two_traces_is_where_they_part() {
    let original = shipped("partition");
    let mut changed = original.clone();
    let index = changed
        .calls
        .iter()
        .position(|call| call.at_ms > 5000 && matches!(call.op, Op::Add { .. }))
        .expect("partition.toml has an add after 5 s");
    let Op::Add { a, .. } = &mut changed.calls[index].op else {
        unreachable!("found an add");
    };
    *a += 1;
    let before = sim().run(&original, None).trace.text();
    let after = sim().run(&changed, None).trace.text();
    let Some(difference) = first_difference(&before, &after) else {
        panic!("the traces are the same");
    };
    let id = format!("call-start id={} ", index + 1);
    let line = before.lines().position(|line| line.contains(&id));
    assert_eq!(Some(difference.index), line, "{difference}");
    let (old, new) = (
        difference.original.unwrap_or_default(),
        difference.replay.unwrap_or_default(),
    );
    assert!(old.contains(&id) && new.contains(&id), "{old}\n{new}");
    assert_ne!(old, new);
    let shared: Vec<&str> = before.lines().take(difference.index).collect();
    assert_eq!(
        difference.context,
        shared[shared.len() - difference.context.len()..]
    );
    assert_eq!(difference.context.len(), exorun_sim::replay::CONTEXT_LINES);
}

/// An entry replays as recorded; once its kept trace is edited (and its hash with it), the
/// replay fails and shows the edited event beside the real one.
#[test]
fn replay_of_an_entry_shows_the_first_event_that_changed() {
    let dir = scratch_dir("replay-entry");
    let path = shipped_path("partition");
    let seed = SEED.to_string();
    let dir_arg = dir.to_string_lossy();
    let add = exorun_sim(&[
        "corpus",
        "add",
        "--seed",
        &seed,
        "--scenario",
        &path.to_string_lossy(),
        "--name",
        "partition",
        "--trace",
        "--dir",
        &dir_arg,
    ]);
    assert_eq!(add.code, Some(0), "{}", add.output());
    let entry = dir.join("partition.toml");
    let entry_arg = entry.to_string_lossy();
    let replay = exorun_sim(&["replay", "--entry", &entry_arg]);
    assert_eq!(replay.code, Some(0), "{}", replay.output());
    assert!(
        replay.stdout.contains("replay: deterministic, trace-hash "),
        "{}",
        replay.output()
    );

    let trace_path = dir.join("partition.trace");
    let trace = std::fs::read_to_string(&trace_path).expect("the entry keeps its trace");
    let mut lines: Vec<String> = trace.lines().map(str::to_owned).collect();
    let edited_at = 30;
    let real = lines[edited_at].clone();
    lines[edited_at] = format!("{real} (edited)");
    let edited = lines
        .iter()
        .map(|line| format!("{line}\n"))
        .collect::<String>();
    std::fs::write(&trace_path, &edited).expect("write the trace");
    let text = std::fs::read_to_string(&entry).expect("read the entry");
    let recorded = format!("trace_hash = \"{:016x}\"", fnv1a64(trace.as_bytes()));
    assert!(text.contains(&recorded), "{text}");
    let now = format!("trace_hash = \"{:016x}\"", fnv1a64(edited.as_bytes()));
    std::fs::write(&entry, text.replace(&recorded, &now)).expect("write the entry");

    let broken = exorun_sim(&["replay", "--entry", &entry_arg]);
    assert_eq!(broken.code, Some(1), "{}", broken.output());
    let shown = [
        "determinism broke".to_owned(),
        format!("the traces differ first at event {edited_at}:"),
        format!("  -  {edited_at:>6} {real} (edited)\n"),
        format!("  +  {edited_at:>6} {real}\n"),
        format!("     {:>6} {}\n", edited_at - 1, lines[edited_at - 1]),
    ];
    for text in shown {
        assert!(
            broken.stderr.contains(&text),
            "no {text:?} in\n{}",
            broken.output()
        );
    }
}
