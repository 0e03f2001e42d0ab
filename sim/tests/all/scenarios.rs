//! The hand-written scenarios shipped under sim/scenarios/ pass, and do what they say.

use exorun_sim::trace::{EventKind, Outcome};

use crate::support::{describe, shipped, sim};

#[test]
fn the_shipped_scenarios_pass() {
    for name in ["default", "partition", "upgrade"] {
        let scenario = shipped(name);
        let report = sim().run(&scenario, None);
        assert!(report.passed(), "{name}:\n{}", describe(&report));
    }
}

/// A restart into an incompatible app is refused at the contract check: calls fail with a
/// contract error and no `Call` frame reaches the incompatible server.
#[test]
fn an_incompatible_restart_is_refused_before_any_call() {
    let scenario = shipped("upgrade");
    let report = sim().run(&scenario, None);
    assert!(report.passed(), "{}", describe(&report));
    let refused = report.trace.events.iter().filter(|e| {
        let EventKind::CallEnd { outcome, .. } = &e.kind else {
            return false;
        };
        matches!(outcome, Outcome::Contract(_) | Outcome::Unavailable(_))
    });
    assert!(refused.count() > 0, "no call met the incompatible server");
    let broken = report
        .trace
        .events
        .iter()
        .filter(|e| matches!(&e.kind, EventKind::Offer { holds: false, .. }));
    assert!(broken.count() > 0, "no offer failed the contract");
}
