//! Replay: a replay that differs from the original names the first event where it does. (The
//! `replay` command itself is tested end to end, in tests/e2e/replay.rs.)

use exorun_sim::replay::first_difference;
use exorun_sim::scenario::Op;

use crate::support::{shipped, sim};

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
