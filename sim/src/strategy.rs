//! Scenarios as a proptest [`Strategy`], so that "every checker holds" is a property proptest
//! generates and shrinks.
//!
//! A value starts as [`generate`]`(seed)` and keeps a subset of its workload calls, partitions,
//! crash episodes and frame-fault rates. Proptest shrinks by dropping members of those subsets
//! (never by changing the seed, which would make a different scenario): a failing case ends as
//! the same topology and run seed with fewer calls and faults, still a valid scenario.

use proptest::prelude::*;
use proptest::sample::subsequence;

use crate::scenario::{Crash, Scenario, generate};

/// Scenarios of the default topology, from any seed, shrinking toward fewer calls and faults.
pub fn scenarios() -> impl Strategy<Value = Scenario> {
    (0..u64::MAX)
        .no_shrink()
        .prop_flat_map(|seed| parts(generate(seed)))
        .prop_map(|(base, parts)| select(&base, &parts))
}

/// Which members of a generated scenario a case keeps.
#[derive(Debug, Clone)]
pub struct Parts {
    pub calls: Vec<usize>,
    pub partitions: Vec<usize>,
    /// Crash episodes: a crash, or an upgrade (a crash that deploys another app) with the
    /// crash that reverts it.
    pub episodes: Vec<usize>,
    /// Keep the drop, duplicate and delay rates.
    pub rates: [bool; 3],
}

fn parts(base: Scenario) -> impl Strategy<Value = (Scenario, Parts)> {
    let calls: Vec<usize> = (0..base.calls.len()).collect();
    let partitions: Vec<usize> = (0..base.faults.partitions.len()).collect();
    let episodes: Vec<usize> = (0..episodes(&base.faults.crashes).len()).collect();
    let (n_calls, n_partitions, n_episodes) = (calls.len(), partitions.len(), episodes.len());
    let rates = [any::<bool>(), any::<bool>(), any::<bool>()];
    (
        Just(base),
        subsequence(calls, n_calls.min(1)..=n_calls),
        subsequence(partitions, 0..=n_partitions),
        subsequence(episodes, 0..=n_episodes),
        rates,
    )
        .prop_map(|(base, calls, partitions, episodes, rates)| {
            let parts = Parts {
                calls,
                partitions,
                episodes,
                rates,
            };
            (base, parts)
        })
}

/// Groups crashes into episodes: an upgrade and the next crash of the same node (its revert)
/// stay together, so that dropping one never leaves a node upgraded for good.
pub fn episodes(crashes: &[Crash]) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut taken = vec![false; crashes.len()];
    for (i, crash) in crashes.iter().enumerate() {
        if taken[i] {
            continue;
        }
        taken[i] = true;
        let mut episode = vec![i];
        if !crash.deploy.is_empty() {
            let revert =
                (i + 1..crashes.len()).find(|j| !taken[*j] && crashes[*j].node == crash.node);
            if let Some(j) = revert {
                taken[j] = true;
                episode.push(j);
            }
        }
        out.push(episode);
    }
    out
}

/// The scenario that keeps `parts` of `base`.
pub fn select(base: &Scenario, parts: &Parts) -> Scenario {
    let mut scenario = base.clone();
    scenario.calls = parts.calls.iter().map(|i| base.calls[*i].clone()).collect();
    let faults = &mut scenario.faults;
    faults.partitions = parts
        .partitions
        .iter()
        .map(|i| base.faults.partitions[*i].clone())
        .collect();
    let groups = episodes(&base.faults.crashes);
    let mut kept: Vec<usize> = parts
        .episodes
        .iter()
        .flat_map(|e| groups[*e].iter().copied())
        .collect();
    kept.sort_unstable();
    faults.crashes = kept
        .iter()
        .map(|i| base.faults.crashes[*i].clone())
        .collect();
    let [drop, duplicate, delay] = parts.rates;
    if !drop {
        faults.drop = 0.0;
    }
    if !duplicate {
        faults.duplicate = 0.0;
    }
    if !delay {
        faults.delay = 0.0;
    }
    scenario
}

#[cfg(test)]
mod tests {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    use super::*;

    #[test]
    fn every_value_is_a_valid_scenario_of_its_seed() {
        let mut runner = TestRunner::deterministic();
        for _ in 0..32 {
            let Ok(tree) = scenarios().new_tree(&mut runner) else {
                panic!("the strategy rejected its own input");
            };
            let scenario = tree.current();
            if let Err(e) = scenario.validate() {
                panic!("seed {}: {e}", scenario.seed);
            }
            let base = generate(scenario.seed);
            assert!(scenario.calls.len() <= base.calls.len());
            assert!(scenario.calls.iter().all(|c| base.calls.contains(c)));
            assert_eq!(scenario.nodes, base.nodes);
        }
    }

    #[test]
    fn shrinking_drops_calls_and_faults_and_keeps_the_seed() {
        let mut runner = TestRunner::deterministic();
        let Ok(mut tree) = scenarios().new_tree(&mut runner) else {
            panic!("the strategy rejected its own input");
        };
        let first = tree.current();
        let mut steps = 0;
        while tree.simplify() && steps < 200 {
            steps += 1;
        }
        let last = tree.current();
        assert_eq!(last.seed, first.seed);
        assert!(last.calls.len() < first.calls.len(), "no call was dropped");
        assert!(last.validate().is_ok());
    }

    #[test]
    fn an_upgrade_and_its_revert_stay_together() {
        let crash = |node: &str, deploy: bool| Crash {
            at_ms: 1,
            restart_ms: 2,
            node: node.into(),
            deploy: match deploy {
                true => [("calc-server".to_owned(), "calc-skew".to_owned())].into(),
                false => Default::default(),
            },
        };
        let crashes = [
            crash("back", true),
            crash("mid", false),
            crash("back", false),
        ];
        assert_eq!(episodes(&crashes), vec![vec![0, 2], vec![1]]);
    }
}
