//! Running one scenario: a madsim runtime seeded with the scenario's seed, a node per scenario
//! node, the fault plan and the workload on one timeline, then quiescence and the checkers.
//!
//! Running generates nothing: every random choice of the run (the scheduler's, the network's)
//! comes from streams seeded by `Scenario::seed`, so a scenario file replays on its own.

use std::collections::{BTreeMap, BTreeSet};
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use exorun::runtime::Runtime;
use madsim::runtime::NodeHandle;
use neorpc::schema::InterfaceSchema;

use crate::check;
use crate::network::{Network, Requirement, Settings};
use crate::node::{self, Catalog, Slot, World, qualified};
use crate::plant::Plant;
use crate::recorder::{Recorder, now};
use crate::report::Report;
use crate::scenario::{self, Crash, LinkForm, Op, Partition, Scenario};
use crate::trace::{EventKind, SIM};
use crate::workload;

/// How often the supervisor looks whether every call has ended.
const QUIESCE_POLL: Duration = Duration::from_millis(10);

/// How long the torn-down run waits for the tasks its teardown woke to be dropped.
const TEAR_DOWN_TICK: Duration = Duration::from_millis(1);

/// The stack of a run's thread: a main thread's, not a spawned thread's 2 MiB.
const RUN_STACK_BYTES: usize = 8 << 20;

/// About how many trace events a workload call leads to, with its frames and their fates (the
/// default scenario's seeds record 12 to 14), and how many a run records besides.
const EVENTS_PER_CALL: usize = 16;
const EVENTS_PER_RUN: usize = 256;

/// Room for a run's trace, so that it rarely grows (each growth copies every event so far).
fn expected_events(scenario: &Scenario) -> usize {
    scenario
        .calls
        .len()
        .saturating_mul(EVENTS_PER_CALL)
        .saturating_add(EVENTS_PER_RUN)
}

/// What every run in this process shares: the components, compiled once, and their ledgers.
pub struct Simulator {
    /// The apps with their ledgers, read to know contracts without instantiating anything.
    catalog: Arc<Catalog>,
}

impl Simulator {
    /// Reads and compiles every known app from `apps_dir` (the fixtures `scripts/build_apps.sh`
    /// writes).
    pub fn new(apps_dir: &Path) -> Result<Simulator, node::Error> {
        let compiler = Runtime::new().map_err(|e| node::Error::App {
            app: "*".into(),
            message: e.to_string(),
        })?;
        let catalog = Catalog::load(apps_dir, scenario::APPS, &compiler)?;
        Ok(Simulator {
            catalog: Arc::new(catalog),
        })
    }

    /// Runs `scenario` once, with `plant` switched on, in a madsim runtime of its own seeded
    /// with `scenario.seed`, and checks the trace. A panic or an exceeded virtual time limit
    /// ends the run and is reported with the trace up to it.
    ///
    /// Each run gets a thread of its own, as madsim's `check_determinism` gives each of its
    /// runs: state a thread keeps lazily would otherwise leak from one run into the next. Under
    /// madsim `getrandom` draws from the running seed's stream, and `rand`'s thread-local
    /// generator (which wasmtime-wasi's `WasiCtxBuilder::new` draws from for every instance,
    /// before exorun replaces its generators with seeded ones) seeds itself through it on first
    /// use and again after every 64 KiB; std's `RandomState` keys likewise come from the first
    /// seed on a thread. Run on a reused thread, the same seed gave another trace as the first
    /// run of a process than as the second.
    pub fn run(&self, scenario: &Scenario, plant: Option<Plant>) -> Report {
        std::thread::scope(|scope| {
            let thread = std::thread::Builder::new()
                .name(format!("seed-{}", scenario.seed))
                .stack_size(RUN_STACK_BYTES)
                .spawn_scoped(scope, || self.run_on_this_thread(scenario, plant));
            match thread.map(|thread| thread.join()) {
                Ok(Ok(report)) => report,
                Ok(Err(payload)) => std::panic::resume_unwind(payload),
                Err(error) => self.judge(
                    scenario,
                    crate::trace::Trace::new(),
                    Some(format!("cannot start the run's thread: {error}")),
                ),
            }
        })
    }

    fn run_on_this_thread(&self, scenario: &Scenario, plant: Option<Plant>) -> Report {
        let recorder = Arc::new(Recorder::new_unstarted(expected_events(scenario)));
        let limit = Duration::from_millis(scenario.limits.time_ms.saturating_mul(4) + 60_000);
        let mut rt = madsim::runtime::Runtime::with_seed_and_config(
            scenario.seed,
            madsim::Config::default(),
        );
        rt.set_time_limit(limit);
        let run = self.traced(scenario, plant, &recorder);
        let ran = std::panic::catch_unwind(AssertUnwindSafe(|| rt.block_on(run)));
        set_plant(None);
        drop(rt);
        let panicked = ran.err().map(|payload| panic_message(&payload));
        self.judge(scenario, recorder.take(), panicked)
    }

    /// Runs `scenario` inside the current madsim runtime (a `#[madsim::test]`, or
    /// `Runtime::check_determinism`), whose seed then drives the scheduler.
    pub async fn run_here(&self, scenario: &Scenario, plant: Option<Plant>) -> Report {
        let recorder = Arc::new(Recorder::new_unstarted(expected_events(scenario)));
        self.traced(scenario, plant, &recorder).await;
        set_plant(None);
        self.judge(scenario, recorder.take(), None)
    }

    async fn traced(&self, scenario: &Scenario, plant: Option<Plant>, recorder: &Arc<Recorder>) {
        set_plant(plant);
        let requirements = self.requirements(scenario);
        supervise(self, scenario, plant, recorder, requirements).await;
    }

    fn judge(
        &self,
        scenario: &Scenario,
        trace: crate::trace::Trace,
        panicked: Option<String>,
    ) -> Report {
        let params = check::Params {
            settle_us: scenario.limits.settle_ms * 1000,
            liveness_us: scenario.limits.liveness_ms * 1000,
        };
        Report {
            seed: scenario.seed,
            violations: check::check(&trace, &params),
            tally: check::tally(&trace),
            trace,
            panicked,
        }
    }

    /// What each node's direct calls require of each peer.
    fn direct_contracts(
        &self,
        scenario: &Scenario,
    ) -> BTreeMap<(String, String), Vec<(String, InterfaceSchema)>> {
        let mut out: BTreeMap<(String, String), Vec<(String, InterfaceSchema)>> = BTreeMap::new();
        for (node, peer, target, short) in distinct_direct_calls(scenario) {
            let Some(schema) = self.canonical_schema(&qualified(short)) else {
                continue;
            };
            let list = out.entry((node.to_owned(), peer.to_owned())).or_default();
            if !list.iter().any(|(t, s)| t == target && *s == schema) {
                list.push((target.to_owned(), schema));
            }
        }
        out
    }

    /// What each caller node requires of each server node, from the callers' ledgers.
    fn requirements(&self, scenario: &Scenario) -> BTreeMap<(String, String), Vec<Requirement>> {
        let mut out: BTreeMap<(String, String), Vec<Requirement>> = BTreeMap::new();
        let mut add = |from: &str, to: &str, target: &str, interface: String, schema| {
            let list = out.entry((from.to_owned(), to.to_owned())).or_default();
            if list
                .iter()
                .any(|r| r.target == target && r.interface == interface)
            {
                return;
            }
            let target = target.to_owned();
            list.push(Requirement {
                target,
                interface,
                schema,
            });
        };
        for node in &scenario.nodes {
            for instance in &node.instances {
                for (short, link) in &instance.links {
                    let LinkForm::Remote { node: peer, target } = link.form() else {
                        continue;
                    };
                    let interface = qualified(short);
                    if let Some(schema) = self.import_schema(&instance.app, &interface) {
                        add(&node.name, peer, target, interface, schema);
                    }
                }
            }
        }
        for (node, peer, target, short) in distinct_direct_calls(scenario) {
            let interface = qualified(short);
            if let Some(schema) = self.canonical_schema(&interface) {
                add(node, peer, target, interface, schema);
            }
        }
        out
    }

    fn import_schema(&self, app: &str, interface: &str) -> Option<InterfaceSchema> {
        let app = self.catalog.app(app).ok()?;
        Some(app.ledger.import(interface).ok()?.schema.clone())
    }

    /// The interface as its reference server exports it: what a direct caller expects.
    pub fn canonical_schema(&self, interface: &str) -> Option<InterfaceSchema> {
        let exporter = CANONICAL_EXPORTERS
            .iter()
            .find(|(name, _)| qualified(name) == interface)?
            .1;
        let app = self.catalog.app(exporter).ok()?;
        Some(app.ledger.export(interface).ok()?.schema.clone())
    }
}

/// Each distinct (caller node, peer, target, interface's short name) of the scenario's direct
/// calls, in the order of their first call: what a node requires of its peers depends on these
/// alone, and a seed has a few of them against hundreds of calls (looking schemas up per call
/// cloned one each time).
fn distinct_direct_calls(scenario: &Scenario) -> Vec<(&str, &str, &str, &str)> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for call in &scenario.calls {
        let (Some((peer, target)), Some(short)) = (
            workload::direct_target(&call.op),
            workload::direct_interface(&call.op),
        ) else {
            continue;
        };
        let key = (call.node.as_str(), peer, target, short);
        if seen.insert(key) {
            out.push(key);
        }
    }
    out
}

/// The app whose export defines each interface a node calls directly.
const CANONICAL_EXPORTERS: [(&str, &str); 4] = [
    ("calc", "calc-server"),
    ("kv-ops", "kv-user"),
    ("spin", "spinner"),
    ("hog", "memory-hog"),
];

#[cfg(madsim)]
fn set_plant(plant: Option<Plant>) {
    let planted = plant.and_then(|p| match p {
        Plant::ForgetPending => Some(exorun::plant::Plant::ForgetPending),
        Plant::DoubleExecute => Some(exorun::plant::Plant::DoubleExecute),
        Plant::MisrouteReply => Some(exorun::plant::Plant::MisrouteReply),
        Plant::SkipContractCheck => Some(exorun::plant::Plant::SkipContractCheck),
        Plant::AlterDomainCode | Plant::SplitStore => None,
    });
    exorun::plant::set(planted);
}

fn panic_message(payload: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        return (*s).to_owned();
    }
    if let Some(s) = payload.downcast_ref::<String>() {
        return s.clone();
    }
    "a panic without a message".to_owned()
}

/// One step of the run's timeline.
enum Action {
    Cut {
        from: String,
        to: String,
        both: bool,
    },
    Heal {
        from: String,
        to: String,
        both: bool,
    },
    Crash {
        node: String,
    },
    Restart {
        node: String,
        deploy: BTreeMap<String, String>,
    },
    Healed,
    Call {
        id: u64,
        index: usize,
    },
}

/// The fault plan and the workload on one timeline, in virtual microseconds; at equal times
/// faults come first, in plan order, then calls in workload order.
fn timeline(scenario: &Scenario) -> Vec<(u64, Action)> {
    let mut steps = Vec::new();
    let ms = |t: u64| t.saturating_mul(1000);
    for Partition {
        at_ms,
        heal_ms,
        from,
        to,
        both,
    } in &scenario.faults.partitions
    {
        let (from, to, both) = (from.clone(), to.clone(), *both);
        let (f, t) = (from.clone(), to.clone());
        steps.push((ms(*at_ms), Action::Cut { from, to, both }));
        steps.push((
            ms(*heal_ms),
            Action::Heal {
                from: f,
                to: t,
                both,
            },
        ));
    }
    for Crash {
        at_ms,
        restart_ms,
        node,
        deploy,
    } in &scenario.faults.crashes
    {
        steps.push((ms(*at_ms), Action::Crash { node: node.clone() }));
        let restart = Action::Restart {
            node: node.clone(),
            deploy: deploy.clone(),
        };
        steps.push((ms(*restart_ms), restart));
    }
    let healed = steps.iter().map(|(t, _)| *t).max().unwrap_or(0);
    steps.push((healed.max(ms(scenario.faults.heal_ms)), Action::Healed));
    for (index, call) in scenario.calls.iter().enumerate() {
        let id = index as u64 + 1;
        steps.push((ms(call.at_ms), Action::Call { id, index }));
    }
    steps.sort_by_key(|(t, _)| *t);
    steps
}

/// The run, from the supervisor's node: boots the nodes, plays the timeline, waits for every
/// call, and records what the nodes still hold.
async fn supervise(
    sim: &Simulator,
    scenario: &Scenario,
    plant: Option<Plant>,
    recorder: &Arc<Recorder>,
    requirements: BTreeMap<(String, String), Vec<Requirement>>,
) {
    recorder.start();
    let handle = madsim::runtime::Handle::current();
    let seed = scenario.seed;
    let name = scenario.name.clone();
    recorder.record(
        SIM,
        EventKind::RunStart {
            scenario: name,
            seed,
        },
    );
    let home = handle.create_node().name("net").build();
    let home_id = home.id();
    let settings = Settings {
        seed,
        net: scenario.net.clone(),
        faults: scenario.faults.clone(),
        alter_domain_code: plant == Some(Plant::AlterDomainCode),
    };
    let net = Network::new(settings, Arc::clone(recorder), home, requirements);
    let slots = scenario
        .nodes
        .iter()
        .map(|n| (n.name.clone(), Slot::default()));
    let world = Arc::new(World {
        scenario: scenario.clone(),
        recorder: Arc::clone(recorder),
        net: Arc::clone(&net),
        catalog: Arc::clone(&sim.catalog),
        slots: slots.collect(),
        direct_contracts: sim.direct_contracts(scenario),
        split_store: plant == Some(Plant::SplitStore),
    });
    let nodes = create_nodes(&handle, &world);
    let outstanding = Arc::new(AtomicU64::new(0));
    play(&handle, &world, &nodes, &outstanding).await;
    wait_for_calls(scenario, &outstanding).await;
    quiesce(&world).await;
    recorder.record(SIM, EventKind::RunEnd);
    recorder.close();
    tear_down(&handle, &world, &nodes, home_id).await;
}

/// Ends the run for good, so that it leaves nothing behind in the process: every node is
/// killed and forgotten, the network closes (waking the tasks that wait on its channels), and
/// one more tick of the executor drops the tasks that woke.
///
/// madsim frees no task when its runtime is dropped: a task still pending then stays in a run
/// queue that its own waker keeps alive. Tasks hold the world, so without this every run kept
/// its nodes, instances and their slots in the engine's instance pool, and after a few dozen
/// runs in one process (`explore`, `shrink`, `corpus check`) no instance could start.
async fn tear_down(
    handle: &madsim::runtime::Handle,
    world: &World,
    nodes: &BTreeMap<String, NodeHandle>,
    home: madsim::task::NodeId,
) {
    for (name, node) in nodes {
        handle.kill(node.id());
        if let Some(slot) = world.slot(name) {
            slot.crashed();
        }
    }
    handle.kill(home);
    world.net.close();
    tokio::time::sleep(TEAR_DOWN_TICK).await;
}

fn create_nodes(
    handle: &madsim::runtime::Handle,
    world: &Arc<World>,
) -> BTreeMap<String, NodeHandle> {
    let mut nodes = BTreeMap::new();
    for node in &world.scenario.nodes {
        let name = node.name.clone();
        let booted = Arc::clone(world);
        let node_handle = handle
            .create_node()
            .name(&name)
            .init({
                let name = name.clone();
                move || node::boot(Arc::clone(&booted), name.clone())
            })
            .build();
        nodes.insert(name, node_handle);
    }
    nodes
}

async fn play(
    handle: &madsim::runtime::Handle,
    world: &Arc<World>,
    nodes: &BTreeMap<String, NodeHandle>,
    outstanding: &Arc<AtomicU64>,
) {
    let start = now();
    for (at_us, action) in timeline(&world.scenario) {
        tokio::time::sleep_until(start + Duration::from_micros(at_us)).await;
        match action {
            Action::Call { id, index } => spawn_call(world, nodes, outstanding, id, index),
            Action::Cut { from, to, both } => {
                world.net.cut(&from, &to, both);
                world
                    .recorder
                    .record(SIM, EventKind::LinkCut { from, to, both });
            }
            Action::Heal { from, to, both } => {
                world.net.heal(&from, &to, both);
                world
                    .recorder
                    .record(SIM, EventKind::LinkHeal { from, to, both });
            }
            Action::Crash { node } => crash(handle, world, nodes, &node),
            Action::Restart { node, deploy } => restart(handle, world, nodes, &node, deploy),
            Action::Healed => {
                world.net.heal_all();
                world.recorder.record(SIM, EventKind::Healed);
            }
        }
    }
}

fn spawn_call(
    world: &Arc<World>,
    nodes: &BTreeMap<String, NodeHandle>,
    outstanding: &Arc<AtomicU64>,
    id: u64,
    index: usize,
) {
    let Some(call) = world.scenario.calls.get(index) else {
        return;
    };
    let Some(node) = nodes.get(&call.node) else {
        return;
    };
    if world.live(&call.node).is_none() {
        return;
    }
    let world = Arc::clone(world);
    let outstanding = Arc::clone(outstanding);
    outstanding.fetch_add(1, Ordering::Relaxed);
    let (caller, op) = (call.node.clone(), call.op.clone());
    node.spawn(async move {
        // Boxed: the call's future is about 2 KiB, which spawning would copy more than once.
        Box::pin(workload::run_call(world, id, caller, op)).await;
        outstanding.fetch_sub(1, Ordering::Relaxed);
    });
}

fn crash(
    handle: &madsim::runtime::Handle,
    world: &World,
    nodes: &BTreeMap<String, NodeHandle>,
    node: &str,
) {
    let Some(node_handle) = nodes.get(node) else {
        return;
    };
    // First: what the dying boot's leftovers report as madsim drops them is not the node's.
    world.recorder.set_incarnation(node, None);
    world.recorder.record(node, EventKind::NodeCrash);
    handle.kill(node_handle.id());
    if let Some(slot) = world.slot(node) {
        slot.crashed();
    }
    world.net.crash(node);
}

fn restart(
    handle: &madsim::runtime::Handle,
    world: &World,
    nodes: &BTreeMap<String, NodeHandle>,
    node: &str,
    deploy: BTreeMap<String, String>,
) {
    let (Some(node_handle), Some(slot)) = (nodes.get(node), world.slot(node)) else {
        return;
    };
    slot.set_deploy(deploy);
    handle.restart(node_handle.id());
}

/// Waits until every workload call has ended, or until well past the run's time budget (a
/// call that never ends is then a one-outcome violation, not a hang).
async fn wait_for_calls(scenario: &Scenario, outstanding: &AtomicU64) {
    let deadline = Duration::from_millis(scenario.limits.time_ms.saturating_mul(2));
    let start = now();
    while outstanding.load(Ordering::Relaxed) > 0 && now() - start < deadline {
        tokio::time::sleep(QUIESCE_POLL).await;
    }
}

/// Lets the servers finish what they started, then records what each node still holds.
async fn quiesce(world: &World) {
    let grace = Duration::from_millis(world.scenario.limits.call_timeout_ms.saturating_mul(2));
    tokio::time::sleep(grace).await;
    let bumped: BTreeSet<&str> = world
        .scenario
        .calls
        .iter()
        .filter_map(|call| match &call.op {
            Op::Bump { key, .. } => Some(key.as_str()),
            _ => None,
        })
        .collect();
    for name in world.slots.keys() {
        let Some(live) = world.live(name) else {
            continue;
        };
        for instance in live.instances.keys() {
            live.flush_output(&world.recorder, instance);
        }
        let load = live.server.load();
        let quiesce = EventKind::Quiesce {
            pending: live.pending(),
            calls_running: load.calls_running,
            conns: load.connections,
        };
        world.recorder.record(name, quiesce);
        for (key, value) in live.kv.entries() {
            // Only bumped keys hold counts; `put` keys hold values (a scenario never mixes
            // them: validation refuses a key that is both).
            if !bumped.contains(key.as_str()) {
                continue;
            }
            let count = value.parse().unwrap_or(u64::MAX);
            world
                .recorder
                .record(name, EventKind::Effect { key, count });
        }
    }
}
