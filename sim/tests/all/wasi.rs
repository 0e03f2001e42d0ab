//! A guest that reads the clock and draws random bytes gives the same answers on every replay
//! of a seed, and other answers for another seed; what it prints is in the trace.

use exorun_sim::trace::{EventKind, Outcome};

use crate::support::{shipped, sim};

/// The outcomes of the `roll` calls and the guest output of a run of `scenario` with `seed`.
fn rolls(seed: u64) -> (Vec<Outcome>, Vec<String>) {
    let mut scenario = shipped("default");
    scenario.seed = seed;
    let report = sim().run(&scenario, None);
    assert!(report.passed(), "{:?}", report.violations);
    let roll_ids: Vec<u64> = report
        .trace
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::CallStart { id, op, .. } if op.starts_with("roll") => Some(*id),
            _ => None,
        })
        .collect();
    let outcomes = report
        .trace
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::CallEnd { id, outcome } if roll_ids.contains(id) => Some(outcome.clone()),
            _ => None,
        })
        .collect();
    let output = report
        .trace
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Output { instance, text, .. } if instance == "dice" => Some(text.clone()),
            _ => None,
        })
        .collect();
    (outcomes, output)
}

#[test]
fn clock_and_randomness_replay_exactly() {
    let (outcomes, output) = rolls(11);
    assert!(!outcomes.is_empty(), "the default scenario rolls no dice");
    assert!(
        outcomes.iter().all(|o| matches!(o, Outcome::Ok(_))),
        "{outcomes:?}"
    );
    assert_eq!(
        output.len(),
        outcomes.len(),
        "each roll prints one line: {output:?}"
    );
    assert!(
        output.iter().all(|line| line.starts_with("roll wall_ns=")),
        "{output:?}"
    );
    assert_eq!(
        rolls(11),
        (outcomes.clone(), output),
        "a replay rolled differently"
    );
    let (other, _) = rolls(12);
    assert_ne!(other, outcomes, "another seed rolled the same numbers");
}
