//! Shrinking: from a failing scenario, a smaller one that still fails the same way.
//!
//! [`shrink`] is generic over the question "does this scenario still fail?" (a predicate
//! `FnMut(&Scenario) -> bool`); the CLI answers it by running the scenario and looking for the
//! original violation's kind, and the unit tests answer it without running anything. The passes
//! are delta debugging over the scenario's parts, repeated until none of them removes anything
//! more (a fixpoint) or [`SHRINK_RUNS_MAX`] runs are spent:
//!
//! 1. calls, in chunks: halves, quarters, ..., single calls;
//! 2. partitions, then crashes, one by one (and a crash's upgrade, `deploy`);
//! 3. the drop, duplicate and delay rates, one by one, set to zero; then `delay_max_ms`, to
//!    zero or halved;
//! 4. instances and nodes that no remaining call or link needs;
//! 5. time: `faults.heal_ms` down to the last fault's end; every call and fault earlier, by
//!    the time before the first of them (or half of it, ...); then `limits.time_ms` down to
//!    just after the last call and its timeouts.
//!
//! Every candidate is checked with [`Scenario::validate`] first; an invalid one is skipped and
//! costs no run, and so does one already tried. The run seed (`Scenario::seed`) never changes:
//! the shrunk scenario replays with the same seed. Pure: no clock, no I/O.

use std::collections::BTreeSet;

use crate::scenario::{LinkForm, Route, Scenario, Size};
use crate::trace::fnv1a64;

/// The most runs (predicate calls) one shrink may spend.
pub const SHRINK_RUNS_MAX: u64 = 500;

/// How many shifts earlier one round tries: the whole time before the first call or fault,
/// then half of it, and so on.
const SHIFT_TRIES_MAX: u32 = 4;

/// A shrinking pass, named in progress reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Pass {
    Calls,
    Partitions,
    Crashes,
    Rates,
    DelayMax,
    Topology,
    Heal,
    Start,
    Time,
}

impl Pass {
    /// The name a progress line shows.
    pub fn name(self) -> &'static str {
        match self {
            Pass::Calls => "remove calls",
            Pass::Partitions => "remove partitions",
            Pass::Crashes => "remove crashes",
            Pass::Rates => "zero fault rates",
            Pass::DelayMax => "lower delay_max_ms",
            Pass::Topology => "remove unused instances and nodes",
            Pass::Heal => "heal earlier",
            Pass::Start => "start earlier",
            Pass::Time => "shorten time",
        }
    }
}

/// One accepted candidate: the scenario got smaller and still fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// The pass that found it.
    pub pass: Pass,
    /// Runs spent so far, this one included.
    pub runs: u64,
    /// The new scenario's size.
    pub size: Size,
}

/// What [`shrink`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct Shrunk {
    /// The smallest failing scenario found (the original, if nothing smaller fails).
    pub scenario: Scenario,
    /// Runs spent (predicate calls).
    pub runs: u64,
    /// Whether the run budget ran out before the passes reached a fixpoint.
    pub exhausted: bool,
}

/// Shrinks `scenario`, which `fails`, to a smaller scenario that `fails` too, spending at most
/// `runs_max` calls of `fails`; `progress` hears of every accepted step.
pub fn shrink(
    scenario: &Scenario,
    runs_max: u64,
    fails: impl FnMut(&Scenario) -> bool,
    progress: impl FnMut(&Step),
) -> Shrunk {
    let mut shrinker = Shrinker {
        current: scenario.clone(),
        fails,
        progress,
        runs: 0,
        runs_max,
        exhausted: false,
        tried: BTreeSet::new(),
    };
    while shrinker.round() && !shrinker.exhausted {}
    Shrunk {
        scenario: shrinker.current,
        runs: shrinker.runs,
        exhausted: shrinker.exhausted,
    }
}

struct Shrinker<F, P> {
    current: Scenario,
    fails: F,
    progress: P,
    runs: u64,
    runs_max: u64,
    exhausted: bool,
    /// Hashes of the TOML of every candidate already run: a run is deterministic, so a
    /// candidate met again (in a later round) needs no second run.
    tried: BTreeSet<u64>,
}

impl<F: FnMut(&Scenario) -> bool, P: FnMut(&Step)> Shrinker<F, P> {
    /// One round of every pass; whether any of them shrank the scenario.
    fn round(&mut self) -> bool {
        let mut shrank = false;
        shrank |= self.shrink_calls();
        shrank |= self.shrink_partitions();
        shrank |= self.shrink_crashes();
        shrank |= self.shrink_rates();
        shrank |= self.shrink_delay_max();
        shrank |= self.shrink_topology();
        shrank |= self.shrink_heal();
        shrank |= self.shrink_start();
        shrank |= self.shrink_time();
        shrank
    }

    /// Runs `candidate` if it is valid, new and the budget allows; keeps it if it fails.
    fn attempt(&mut self, pass: Pass, candidate: Scenario) -> bool {
        if self.runs >= self.runs_max {
            self.exhausted = true;
            return false;
        }
        if candidate == self.current || candidate.validate().is_err() {
            return false;
        }
        if !self.tried.insert(fnv1a64(candidate.to_toml().as_bytes())) {
            return false;
        }
        self.runs += 1;
        if !(self.fails)(&candidate) {
            return false;
        }
        assert_eq!(
            candidate.seed, self.current.seed,
            "shrinking keeps the seed"
        );
        self.current = candidate;
        let step = Step {
            pass,
            runs: self.runs,
            size: self.current.size(),
        };
        (self.progress)(&step);
        true
    }

    /// The current scenario, changed by `edit`.
    fn edited(&self, edit: impl FnOnce(&mut Scenario)) -> Scenario {
        let mut candidate = self.current.clone();
        edit(&mut candidate);
        candidate
    }

    /// Removes chunks of calls: halves, quarters, ..., single calls.
    fn shrink_calls(&mut self) -> bool {
        let mut shrank = false;
        let mut chunk = self.current.calls.len().div_ceil(2);
        while chunk > 0 && !self.exhausted {
            shrank |= self.remove_call_chunks(chunk);
            chunk = match chunk {
                1 => 0,
                _ => chunk.div_ceil(2).min(self.current.calls.len()),
            };
        }
        shrank
    }

    fn remove_call_chunks(&mut self, chunk: usize) -> bool {
        let mut shrank = false;
        let mut start = 0;
        while start < self.current.calls.len() && !self.exhausted {
            let end = (start + chunk).min(self.current.calls.len());
            let candidate = self.edited(|s| {
                s.calls.drain(start..end);
            });
            match self.attempt(Pass::Calls, candidate) {
                true => shrank = true,
                false => start += chunk,
            }
        }
        shrank
    }

    fn shrink_partitions(&mut self) -> bool {
        let mut shrank = false;
        let mut i = 0;
        while i < self.current.faults.partitions.len() && !self.exhausted {
            let candidate = self.edited(|s| {
                s.faults.partitions.remove(i);
            });
            match self.attempt(Pass::Partitions, candidate) {
                true => shrank = true,
                false => i += 1,
            }
        }
        shrank
    }

    /// Removes crashes one by one; a crash that stays loses its upgrade if it can.
    fn shrink_crashes(&mut self) -> bool {
        let mut shrank = false;
        let mut i = 0;
        while i < self.current.faults.crashes.len() && !self.exhausted {
            let candidate = self.edited(|s| {
                s.faults.crashes.remove(i);
            });
            if self.attempt(Pass::Crashes, candidate) {
                shrank = true;
                continue;
            }
            let candidate = self.edited(|s| s.faults.crashes[i].deploy.clear());
            shrank |= self.attempt(Pass::Crashes, candidate);
            i += 1;
        }
        shrank
    }

    fn shrink_rates(&mut self) -> bool {
        let mut shrank = false;
        let candidate = self.edited(|s| s.faults.drop = 0.0);
        shrank |= self.attempt(Pass::Rates, candidate);
        let candidate = self.edited(|s| s.faults.duplicate = 0.0);
        shrank |= self.attempt(Pass::Rates, candidate);
        let candidate = self.edited(|s| {
            s.faults.delay = 0.0;
            s.faults.delay_max_ms = 0;
        });
        shrank |= self.attempt(Pass::Rates, candidate);
        shrank
    }

    /// Lowers `delay_max_ms`: to 0 if the scenario still fails so, else halving it while it
    /// still fails.
    fn shrink_delay_max(&mut self) -> bool {
        if self.current.faults.delay_max_ms == 0 {
            return false;
        }
        let candidate = self.edited(|s| s.faults.delay_max_ms = 0);
        if self.attempt(Pass::DelayMax, candidate) {
            return true;
        }
        let mut shrank = false;
        while self.current.faults.delay_max_ms > 1 && !self.exhausted {
            let delay_max_ms = self.current.faults.delay_max_ms / 2;
            let candidate = self.edited(|s| s.faults.delay_max_ms = delay_max_ms);
            if !self.attempt(Pass::DelayMax, candidate) {
                break;
            }
            shrank = true;
        }
        shrank
    }

    /// Removes the instances and nodes nothing needs: all at once, else one by one.
    fn shrink_topology(&mut self) -> bool {
        let (instances, nodes) = unneeded(&self.current);
        if instances.is_empty() && nodes.is_empty() {
            return false;
        }
        let candidate = self.edited(|s| {
            for (node, instance) in &instances {
                remove_instance(s, node, instance);
            }
            for node in &nodes {
                remove_node(s, node);
            }
        });
        if self.attempt(Pass::Topology, candidate) {
            return true;
        }
        let mut shrank = false;
        for (node, instance) in &instances {
            let candidate = self.edited(|s| remove_instance(s, node, instance));
            shrank |= self.attempt(Pass::Topology, candidate);
        }
        // Nodes left without instances by the loop above are unneeded too.
        let (_, nodes) = unneeded(&self.current);
        for node in &nodes {
            let candidate = self.edited(|s| remove_node(s, node));
            shrank |= self.attempt(Pass::Topology, candidate);
        }
        shrank
    }

    /// Moves `faults.heal_ms` down to the end of the last partition or crash.
    fn shrink_heal(&mut self) -> bool {
        let faults = &self.current.faults;
        let partitions = faults.partitions.iter().map(|p| p.heal_ms);
        let crashes = faults.crashes.iter().map(|c| c.restart_ms);
        let last_fault_end = partitions.chain(crashes).max().unwrap_or(0);
        if last_fault_end >= faults.heal_ms {
            return false;
        }
        let candidate = self.edited(|s| s.faults.heal_ms = last_fault_end);
        self.attempt(Pass::Heal, candidate)
    }

    /// Moves every call and fault earlier by the time before the first of them, else by half
    /// of it, and so on, [`SHIFT_TRIES_MAX`] tries at most.
    fn shrink_start(&mut self) -> bool {
        let mut shift = earliest(&self.current);
        for _ in 0..SHIFT_TRIES_MAX {
            if shift == 0 || self.exhausted {
                break;
            }
            let candidate = self.edited(|s| shift_earlier(s, shift));
            if self.attempt(Pass::Start, candidate) {
                return true;
            }
            shift /= 2;
        }
        false
    }

    /// Moves `limits.time_ms` down to just after the last call and its timeouts, but never
    /// below `faults.heal_ms` or a time limit that must fit in it.
    fn shrink_time(&mut self) -> bool {
        let candidate = self.edited(|s| s.limits.time_ms = time_needed(s));
        self.attempt(Pass::Time, candidate)
    }
}

/// When the first call or fault starts (0 without any).
fn earliest(scenario: &Scenario) -> u64 {
    let calls = scenario.calls.iter().map(|call| call.at_ms);
    let partitions = scenario.faults.partitions.iter().map(|p| p.at_ms);
    let crashes = scenario.faults.crashes.iter().map(|c| c.at_ms);
    calls.chain(partitions).chain(crashes).min().unwrap_or(0)
}

/// Moves every call, fault and `faults.heal_ms` `shift_ms` earlier (`heal_ms` not below 0):
/// what happens keeps its order and its distance to the rest.
fn shift_earlier(scenario: &mut Scenario, shift_ms: u64) {
    for call in &mut scenario.calls {
        call.at_ms = call.at_ms.saturating_sub(shift_ms);
    }
    let faults = &mut scenario.faults;
    for partition in &mut faults.partitions {
        partition.at_ms = partition.at_ms.saturating_sub(shift_ms);
        partition.heal_ms = partition.heal_ms.saturating_sub(shift_ms);
    }
    for crash in &mut faults.crashes {
        crash.at_ms = crash.at_ms.saturating_sub(shift_ms);
        crash.restart_ms = crash.restart_ms.saturating_sub(shift_ms);
    }
    faults.heal_ms = faults.heal_ms.saturating_sub(shift_ms);
}

/// The shortest `limits.time_ms` that keeps every call and every other time of `scenario`.
fn time_needed(scenario: &Scenario) -> u64 {
    let limits = &scenario.limits;
    let wait_ms = limits.call_timeout_ms.max(limits.liveness_ms);
    let last_call = scenario.calls.iter().map(|call| call.at_ms).max();
    let after_calls = last_call.map_or(0, |at_ms| at_ms.saturating_add(wait_ms) + 1);
    let floors = [
        after_calls,
        scenario.faults.heal_ms,
        scenario.faults.delay_max_ms,
        limits.call_timeout_ms,
        limits.settle_ms,
        limits.liveness_ms,
        1,
    ];
    let needed = floors.into_iter().max().unwrap_or(1);
    needed.min(limits.time_ms)
}

/// `(node, instance)` pairs and node names that no call needs, directly or through links.
fn unneeded(scenario: &Scenario) -> (Vec<(String, String)>, Vec<String>) {
    let (instances, nodes) = needed(scenario);
    let unneeded_instances = scenario
        .nodes
        .iter()
        .flat_map(|node| {
            let pairs = node.instances.iter();
            pairs.map(|instance| (node.name.clone(), instance.name.clone()))
        })
        .filter(|pair| !instances.contains(pair))
        .collect();
    let unneeded_nodes = scenario
        .nodes
        .iter()
        .filter(|node| !nodes.contains(&node.name))
        .map(|node| node.name.clone())
        .collect();
    (unneeded_instances, unneeded_nodes)
}

/// The `(node, instance)` pairs the calls need, following links, and the nodes that call or
/// hold a needed instance.
fn needed(scenario: &Scenario) -> (BTreeSet<(String, String)>, BTreeSet<String>) {
    let mut nodes = BTreeSet::new();
    let mut todo = Vec::new();
    for call in &scenario.calls {
        nodes.insert(call.node.clone());
        let served = match call.op.route() {
            Route::Via(via) => Some((call.node.clone(), via.to_owned())),
            Route::Direct { node, target } => exposer(scenario, node, target),
        };
        todo.extend(served);
    }
    let mut instances = BTreeSet::new();
    while let Some((node, name)) = todo.pop() {
        if !instances.insert((node.clone(), name.clone())) {
            continue;
        }
        nodes.insert(node.clone());
        let Some(instance) = scenario.node(&node).and_then(|n| n.instance(&name)) else {
            continue;
        };
        for link in instance.links.values() {
            let served = match link.form() {
                LinkForm::Local { instance } => Some((node.clone(), instance.to_owned())),
                LinkForm::Remote { node, target } => exposer(scenario, node, target),
                LinkForm::System { .. } => None,
            };
            todo.extend(served);
        }
    }
    (instances, nodes)
}

/// `(node, instance)` of the instance of `node` that exposes `target`.
fn exposer(scenario: &Scenario, node: &str, target: &str) -> Option<(String, String)> {
    let instance = scenario.node(node)?.exposer(target)?;
    Some((node.to_owned(), instance.name.clone()))
}

/// Removes the instance, and the upgrades of it that crashes deploy.
fn remove_instance(scenario: &mut Scenario, node: &str, instance: &str) {
    if let Some(n) = scenario.nodes.iter_mut().find(|n| n.name == node) {
        n.instances.retain(|i| i.name != instance);
    }
    for crash in &mut scenario.faults.crashes {
        if crash.node == node {
            crash.deploy.remove(instance);
        }
    }
}

/// Removes the node and the faults that name it.
fn remove_node(scenario: &mut Scenario, node: &str) {
    scenario.nodes.retain(|n| n.name != node);
    let faults = &mut scenario.faults;
    faults.partitions.retain(|p| p.from != node && p.to != node);
    faults.crashes.retain(|c| c.node != node);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{self, Call, Op, Partition};

    /// A generated scenario with at least two partitions, a crash and every rate on.
    fn busy() -> Scenario {
        let seed = (0..1000)
            .find(|seed| {
                let faults = scenario::generate(*seed).faults;
                let rates = [faults.drop, faults.duplicate, faults.delay];
                faults.partitions.len() >= 2
                    && !faults.crashes.is_empty()
                    && rates.iter().all(|rate| *rate > 0.0)
            })
            .expect("some seed turns every fault kind on");
        scenario::generate(seed)
    }

    fn is_add(call: &Call) -> bool {
        matches!(call.op, Op::Add { .. })
    }

    #[test]
    fn the_result_keeps_exactly_what_the_failure_needs() {
        let original = busy();
        // Call id 17 is calls[16]; pick an `add` at or after it (its sum is unique).
        let call = original.calls[16..]
            .iter()
            .find(|call| is_add(call))
            .expect("an add among the calls")
            .clone();
        let partition: Partition = original.faults.partitions[1].clone();
        let fails =
            |s: &Scenario| s.calls.contains(&call) && s.faults.partitions.contains(&partition);
        let shrunk = shrink(&original, SHRINK_RUNS_MAX, fails, |_| {});
        let s = &shrunk.scenario;
        assert!(!shrunk.exhausted, "{} runs", shrunk.runs);
        assert_eq!(s.calls, std::slice::from_ref(&call));
        assert_eq!(s.faults.partitions, std::slice::from_ref(&partition));
        assert!(s.faults.crashes.is_empty(), "{:?}", s.faults.crashes);
        let rates = [s.faults.drop, s.faults.duplicate, s.faults.delay];
        assert_eq!(rates, [0.0; 3]);
        assert_eq!(s.faults.delay_max_ms, 0);
        assert_eq!(s.faults.heal_ms, partition.heal_ms);
        assert_eq!(s.seed, original.seed);
        assert_eq!(s.validate().err().map(|e| e.to_string()), None);
        // An add through a client needs the client, its proxy and the server behind it; the
        // partition's ends stay, or the partition could not.
        let Op::Add { via, .. } = &call.op else {
            unreachable!("picked an add");
        };
        let instances: Vec<&str> = s
            .nodes
            .iter()
            .flat_map(|n| n.instances.iter().map(|i| i.name.as_str()))
            .collect();
        assert_eq!(instances, [via.as_str(), "calc-proxy", "calc-server"]);
        let nodes: Vec<&str> = s.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(nodes, ["front", "mid", "back"]);
        let wait = s.limits.call_timeout_ms.max(s.limits.liveness_ms);
        assert_eq!(
            s.limits.time_ms,
            (call.at_ms + wait + 1).max(s.faults.heal_ms)
        );
    }

    #[test]
    fn a_scenario_that_always_fails_shrinks_to_one_empty_node() {
        let shrunk = shrink(&busy(), SHRINK_RUNS_MAX, |_| true, |_| {});
        let size = shrunk.scenario.size();
        let limits = &shrunk.scenario.limits;
        let time_ms = limits
            .call_timeout_ms
            .max(limits.settle_ms)
            .max(limits.liveness_ms);
        let expected = Size {
            nodes: 1,
            instances: 0,
            calls: 0,
            faults: 0,
            time_ms,
        };
        assert_eq!(size, expected);
        assert!(!shrunk.exhausted);
    }

    #[test]
    fn every_candidate_is_valid_new_and_keeps_the_seed() {
        let original = busy();
        let mut seen = BTreeSet::new();
        let mut runs = 0;
        let fails = |s: &Scenario| {
            runs += 1;
            assert_eq!(s.validate().err().map(|e| e.to_string()), None);
            assert_eq!(s.seed, original.seed);
            assert!(seen.insert(s.to_toml()), "a candidate ran twice");
            // Fails while it keeps at least 5 calls: a moving target for the chunks.
            s.calls.len() >= 5
        };
        let shrunk = shrink(&original, SHRINK_RUNS_MAX, fails, |_| {});
        assert_eq!(shrunk.scenario.calls.len(), 5);
        assert_eq!(shrunk.runs, runs);
    }

    #[test]
    fn what_a_failure_needs_moves_to_the_start() {
        let original = busy();
        let fails = |s: &Scenario| s.calls.iter().any(is_add);
        let shrunk = shrink(&original, SHRINK_RUNS_MAX, fails, |_| {});
        let s = &shrunk.scenario;
        assert_eq!(s.calls.len(), 1);
        assert_eq!(s.calls[0].at_ms, 0);
        let limits = &s.limits;
        let time_ms = limits
            .call_timeout_ms
            .max(limits.settle_ms)
            .max(limits.liveness_ms);
        assert_eq!(limits.time_ms, time_ms);
    }

    #[test]
    fn the_run_budget_is_kept() {
        let mut runs = 0;
        let shrunk = shrink(
            &busy(),
            7,
            |_| {
                runs += 1;
                false
            },
            |_| {},
        );
        assert_eq!(runs, 7);
        assert_eq!(shrunk.runs, 7);
        assert!(shrunk.exhausted);
        assert_eq!(shrunk.scenario, busy());
    }

    #[test]
    fn progress_hears_every_accepted_step_in_order() {
        let mut steps = Vec::new();
        let original = busy();
        let shrunk = shrink(
            &original,
            SHRINK_RUNS_MAX,
            |s| s.calls.len() >= 2,
            |step| steps.push(*step),
        );
        assert!(!steps.is_empty());
        assert!(steps.windows(2).all(|w| w[0].runs < w[1].runs));
        let last = steps.last().map(|step| step.size);
        assert_eq!(last, Some(shrunk.scenario.size()));
        assert!(steps.iter().any(|step| step.pass == Pass::Calls));
        assert!(steps.iter().any(|step| step.pass == Pass::Time));
    }

    #[test]
    fn a_node_that_a_needed_fault_names_stays() {
        let mut original = scenario::generate(3);
        original.faults.crashes.clear();
        original.faults.partitions = vec![Partition {
            at_ms: 100,
            heal_ms: 200,
            from: "front".into(),
            to: "back".into(),
            both: true,
        }];
        let direct = original.calls.iter().find(|call| {
            matches!(&call.op, Op::DirectAdd { node, .. } | Op::Bump { node, .. } if node == "back")
        });
        let call = direct.expect("a direct call to back").clone();
        let wanted = original.faults.partitions.clone();
        let fails = |s: &Scenario| s.calls.contains(&call) && s.faults.partitions == wanted;
        let shrunk = shrink(&original, SHRINK_RUNS_MAX, fails, |_| {});
        let nodes: Vec<&str> = shrunk
            .scenario
            .nodes
            .iter()
            .map(|n| n.name.as_str())
            .collect();
        assert_eq!(nodes, ["front", "back"]);
        assert_eq!(shrunk.scenario.size().instances, 1);
    }
}
