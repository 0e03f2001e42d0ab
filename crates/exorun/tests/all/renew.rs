//! Renewal: one trapping call must not take an instance down. After a trap (out of fuel, out of
//! memory, unreachable) wasmtime refuses to enter the instance again; exorun replaces it with a
//! fresh one from its `InstancePre` before the next call, through every path that enters it
//! (direct calls, `exec`, a server, local links awaiting or through held locks), and says so.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use exorun::builder::{InstanceBuilder, Linkable};
use exorun::client::{self, Client};
use exorun::context::{self, Captured, ContextBuilder, Limits};
use exorun::instance::{self, InstanceHandle};
use exorun::runtime::Runtime;
use exorun::server::{self, ConnStats};
use exorun::system::{self, SystemComponent};
use exorun::trap;
use neorpc::FailureReason;
use neorpc::schema::Type;
use wasmtime::component::{Linker, Val};

use crate::support::{self, apps, single, string};

const MIB: u32 = 1 << 20;

/// A memory limit the hog passes with 1 MiB and exceeds with 64.
const HOG_LIMITS: Limits = Limits {
    memory_bytes_max: 16 * MIB as usize,
    fuel_per_call: Limits::FUEL_PER_CALL_DEFAULT,
    fuel_yield_interval: None,
    table_elements_max: Limits::TABLE_ELEMENTS_MAX_DEFAULT,
};

/// Fuel the spinner runs out of quickly.
const SPINNER_LIMITS: Limits = Limits {
    fuel_per_call: 2_000_000,
    ..HOG_LIMITS
};

async fn limited(rt: &Runtime, world: &str, limits: Limits) -> anyhow::Result<InstanceHandle> {
    let app = support::register(rt, world)?;
    let builder = InstanceBuilder::new(rt, app).limits(limits);
    Ok(builder.instantiate().await?)
}

fn failure(result: Result<Vec<Val>, instance::Error>) -> anyhow::Result<trap::Error> {
    match result {
        Err(instance::Error::Call(e)) => Ok(e),
        other => anyhow::bail!("expected a failed call, got {other:?}"),
    }
}

fn remote_failure(outcome: Result<Vec<Val>, client::Error>) -> anyhow::Result<FailureReason> {
    match outcome {
        Err(client::Error::Failed(reason)) => Ok(reason),
        other => anyhow::bail!("expected a Failure from the peer, got {other:?}"),
    }
}

/// `hog.hog(mib)` on the target `hog`, over `client`.
async fn hog_remotely(client: &Client, mib: u32) -> Result<Vec<Val>, client::Error> {
    let method = server::method_name(&apps("hog"), "hog");
    let args = [Val::U32(mib)];
    let call = client.call("hog", &method, &args, &[Type::U32], &[Type::U64]);
    call.await
}

/// `spin.spin()` on the target `spinner`, over `client`.
async fn spin_remotely(client: &Client) -> Result<Vec<Val>, client::Error> {
    let method = server::method_name(&apps("spin"), "spin");
    client
        .call("spinner", &method, &[], &[], &[Type::U64])
        .await
}

#[tokio::test]
async fn a_direct_call_after_a_trap_runs_on_a_renewed_instance() -> anyhow::Result<()> {
    let rt = support::runtime()?;
    let hog = limited(&rt, "memory-hog", HOG_LIMITS).await?;
    let err = failure(hog.call(&apps("hog"), "hog", &[Val::U32(64)]).await)?;
    assert_eq!(err, trap::Error::OutOfMemory);
    assert_eq!(hog.renewals(), 0, "renewed before an entry needed it");
    let touched = hog.call(&apps("hog"), "hog", &[Val::U32(1)]).await?;
    assert_eq!(single(touched)?, Val::U64(u64::from(MIB)));
    assert_eq!(hog.renewals(), 1);
    // A healthy instance is not renewed again.
    let touched = hog.call(&apps("hog"), "hog", &[Val::U32(2)]).await?;
    assert_eq!(single(touched)?, Val::U64(u64::from(2 * MIB)));
    assert_eq!(hog.renewals(), 1);
    Ok(())
}

#[tokio::test]
async fn an_exported_func_resolved_before_a_renewal_calls_the_renewed_instance()
-> anyhow::Result<()> {
    let rt = support::runtime()?;
    let hog = limited(&rt, "memory-hog", HOG_LIMITS).await?;
    let func = hog.func(&apps("hog"), "hog").await?;
    assert_eq!(
        (func.interface(), func.method()),
        (apps("hog").as_str(), "hog")
    );
    let mut results = [Val::U64(0)];
    let called = hog.call_func_if(&func, &[Val::U32(64)], &mut results, || true);
    match called.await {
        Err(instance::Error::Call(trap::Error::OutOfMemory)) => {}
        other => anyhow::bail!("expected OutOfMemory, got {other:?}"),
    }
    let called = hog.call_func_if(&func, &[Val::U32(1)], &mut results, || true);
    assert!(called.await?);
    assert_eq!(results, [Val::U64(u64::from(MIB))]);
    assert_eq!(hog.renewals(), 1);
    // An export of one instance is refused by another, typed, instead of wasmtime's panic.
    let other = limited(&rt, "memory-hog", HOG_LIMITS).await?;
    let called = other.call_func_if(&func, &[Val::U32(1)], &mut results, || true);
    match called.await {
        Err(instance::Error::ForeignFunc { method, .. }) => assert_eq!(method, "hog"),
        other => anyhow::bail!("expected ForeignFunc, got {other:?}"),
    }
    Ok(())
}

/// User data a context step inserts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Marker(u32);

#[tokio::test]
async fn a_renewed_instance_starts_again_from_its_recipe() -> anyhow::Result<()> {
    let rt = support::runtime()?;
    let app = support::register(&rt, "chatter")?;
    let stdout = Captured::new();
    let attached = stdout.clone();
    let chatter = InstanceBuilder::new(&rt, app)
        .context(move |c| {
            c.insert(Marker(1)).stdout(&attached);
        })
        .instantiate()
        .await?;
    chatter
        .call(&apps("chat"), "say", &[string("before")])
        .await?;
    // State the store keeps: user data changed, limits tightened until a call runs out of fuel.
    let starved = Limits {
        fuel_per_call: 1,
        ..rt.config().limits
    };
    chatter
        .exec(move |store, _| {
            if let Some(marker) = store.data_mut().get_mut::<Marker>() {
                marker.0 = 2;
            }
            store.data_mut().set_limits(starved);
        })
        .await?;
    let err = failure(chatter.call(&apps("chat"), "say", &[string("lost")]).await)?;
    assert_eq!(err, trap::Error::OutOfFuel);
    // `exec` renews first: the context is the builder's again, its steps replayed.
    let (marker, limits) = chatter
        .exec(|store, _| (store.data().get::<Marker>().copied(), store.data().limits()))
        .await?;
    assert_eq!(marker, Some(Marker(1)));
    assert_eq!(limits, rt.config().limits);
    assert_eq!(chatter.renewals(), 1);
    // Output captured outside the store survives, from both generations in order.
    chatter
        .call(&apps("chat"), "say", &[string("after")])
        .await?;
    assert_eq!(stdout.text(), "before\nafter\n");
    Ok(())
}

/// A system whose `configure` fails while `broken` is set (in every clone).
#[derive(Clone, Default)]
struct Flaky {
    broken: Arc<AtomicBool>,
}

impl SystemComponent for Flaky {
    fn name(&self) -> &str {
        "flaky"
    }

    fn synchronous(&self) -> bool {
        true
    }

    fn install(&self, _linker: &mut Linker<context::ExorunCtx>) -> Result<(), system::Error> {
        Ok(())
    }

    fn configure(&self, _builder: &mut ContextBuilder) -> Result<(), system::Error> {
        if !self.broken.load(Ordering::SeqCst) {
            return Ok(());
        }
        let kind = std::io::ErrorKind::NotFound;
        let cause = context::Error::Mount {
            guest: "/data".to_owned(),
            kind,
        };
        let system = "flaky".to_owned();
        Err(system::Error::Config { system, cause })
    }
}

#[tokio::test]
async fn a_failed_renewal_fails_the_call_typed_and_the_next_call_tries_again() -> anyhow::Result<()>
{
    let rt = support::runtime()?;
    let flaky = Flaky::default();
    let app = support::register(&rt, "memory-hog")?;
    let hog = InstanceBuilder::new(&rt, app)
        .limits(HOG_LIMITS)
        .system(flaky.clone())
        .instantiate()
        .await?;
    let err = failure(hog.call(&apps("hog"), "hog", &[Val::U32(64)]).await)?;
    assert_eq!(err, trap::Error::OutOfMemory);
    flaky.broken.store(true, Ordering::SeqCst);
    let why = "system `flaky` cannot configure the context: cannot mount a host directory at \
               guest path `/data`: entity not found";
    let expected = trap::Error::Renewal {
        app: "memory-hog".to_owned(),
        cause: Box::new(trap::Error::Host {
            message: why.to_owned(),
        }),
    };
    for _ in 0..2 {
        let err = failure(hog.call(&apps("hog"), "hog", &[Val::U32(1)]).await)?;
        assert_eq!(err, expected);
        assert_eq!(hog.renewals(), 0);
    }
    // A peer learns that the renewal failed; which app, and why, stay on the node.
    let seen = FailureReason::AppTrapped(trap::RENEWAL_FAILED.to_owned());
    assert_eq!(expected.reason(), seen);
    let detail = expected.detail().unwrap_or_default();
    assert!(
        detail.starts_with("cannot renew the trapped instance of `memory-hog`"),
        "{detail}"
    );
    flaky.broken.store(false, Ordering::SeqCst);
    let touched = hog.call(&apps("hog"), "hog", &[Val::U32(1)]).await?;
    assert_eq!(single(touched)?, Val::U64(u64::from(MIB)));
    assert_eq!(hog.renewals(), 1);
    Ok(())
}

#[tokio::test]
async fn a_served_instance_survives_a_peer_that_makes_it_run_out_of_memory() -> anyhow::Result<()> {
    let rt = support::runtime()?;
    let hog = limited(&rt, "memory-hog", HOG_LIMITS).await?;
    let server = support::exposing("hog", &hog, "hog")?;
    let (client, serving) = support::connect_duplex(&server);
    let outcome = hog_remotely(&client, 64).await;
    assert_eq!(remote_failure(outcome)?, FailureReason::OutOfMemory);
    let touched = hog_remotely(&client, 1).await?;
    assert_eq!(single(touched)?, Val::U64(u64::from(MIB)));
    assert_eq!(hog.renewals(), 1);
    drop(client);
    let expected = ConnStats {
        calls: 2,
        renewals: 1,
        ..ConnStats::default()
    };
    assert_eq!(support::ended(serving).await?, expected);
    Ok(())
}

/// What a server's observer heard, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Heard {
    Executing(u64),
    Answered(u64, bool),
    Renewed(String, u64),
}

#[derive(Default)]
struct Recorder {
    heard: Mutex<Vec<Heard>>,
}

impl Recorder {
    fn take(&self) -> Vec<Heard> {
        std::mem::take(&mut *self.heard.lock().unwrap())
    }
}

impl server::Observe for Recorder {
    fn executing(&self, seq: u64, _target: &str, _method: &str) {
        self.heard.lock().unwrap().push(Heard::Executing(seq));
    }

    fn answered(&self, seq: u64, reply: bool) {
        self.heard.lock().unwrap().push(Heard::Answered(seq, reply));
    }

    fn duplicate(&self, _seq: u64) {}

    fn renewed(&self, target: &str, renewals: u64) {
        let heard = Heard::Renewed(target.to_owned(), renewals);
        self.heard.lock().unwrap().push(heard);
    }
}

#[tokio::test]
async fn a_server_reports_each_renewal_once_before_the_call_that_found_it() -> anyhow::Result<()> {
    let rt = support::runtime()?;
    let hog = limited(&rt, "memory-hog", HOG_LIMITS).await?;
    let server = support::exposing("hog", &hog, "hog")?;
    let recorder = Arc::new(Recorder::default());
    let (near, far) = exorun::transport::duplex_pair(64);
    let observer = Some(Arc::clone(&recorder) as Arc<dyn server::Observe>);
    let serving = {
        let server = Arc::clone(&server);
        tokio::spawn(async move { server.serve_observed(Arc::new(far), observer).await })
    };
    let client = support::client(Arc::new(near));
    remote_failure(hog_remotely(&client, 64).await)?;
    hog_remotely(&client, 1).await?;
    hog_remotely(&client, 1).await?;
    // A renewal by a direct call is reported too, by the next call the server starts.
    failure(hog.call(&apps("hog"), "hog", &[Val::U32(64)]).await)?;
    hog.call(&apps("hog"), "hog", &[Val::U32(1)]).await?;
    hog_remotely(&client, 1).await?;
    let expected = [
        Heard::Executing(1),
        Heard::Answered(1, false),
        Heard::Renewed("hog".to_owned(), 1),
        Heard::Executing(2),
        Heard::Answered(2, true),
        Heard::Executing(3),
        Heard::Answered(3, true),
        Heard::Renewed("hog".to_owned(), 2),
        Heard::Executing(4),
        Heard::Answered(4, true),
    ];
    assert_eq!(recorder.take(), expected);
    drop(client);
    assert_eq!(support::ended(serving).await?.renewals, 2);
    Ok(())
}

#[tokio::test]
async fn a_served_spinner_runs_out_of_fuel_on_every_call() -> anyhow::Result<()> {
    let rt = support::runtime()?;
    let spinner = limited(&rt, "spinner", SPINNER_LIMITS).await?;
    let server = support::exposing("spinner", &spinner, "spin")?;
    let (client, _serving) = support::connect_duplex(&server);
    for _ in 0..3 {
        let outcome = spin_remotely(&client).await;
        assert_eq!(remote_failure(outcome)?, FailureReason::OutOfFuel);
    }
    assert_eq!(spinner.renewals(), 2);
    Ok(())
}

// ---- local links ----------------------------------------------------------------------------

/// Fuel that `calc.add` fits in and `calc.sum` of [`LONG_LIST`] numbers does not.
const SUM_FUEL: u64 = 100_000;

/// How many numbers make `calc.sum` run out of [`SUM_FUEL`].
const LONG_LIST: usize = 100_000;

fn long_list() -> Val {
    Val::List(vec![Val::U32(1); LONG_LIST])
}

async fn add(handle: &InstanceHandle) -> anyhow::Result<Val> {
    single(
        handle
            .call(&apps("calc"), "add", &[Val::S32(1), Val::S32(2)])
            .await?,
    )
}

async fn sum_runs_out(handle: &InstanceHandle) -> anyhow::Result<()> {
    let err = failure(handle.call(&apps("calc"), "sum", &[long_list()]).await)?;
    assert_eq!(err, trap::Error::OutOfFuel);
    Ok(())
}

/// A `calc-proxy` in front of a `calc-server` limited to [`SUM_FUEL`], yielding every
/// `yield_interval` fuel if given (an asynchronous target, reached by awaiting its lock).
async fn proxied_calc(
    rt: &Runtime,
    yield_interval: Option<u64>,
) -> anyhow::Result<(InstanceHandle, InstanceHandle)> {
    let limits = Limits {
        fuel_per_call: SUM_FUEL,
        fuel_yield_interval: yield_interval,
        ..rt.config().limits
    };
    let server = limited(rt, "calc-server", limits).await?;
    let app = support::register(rt, "calc-proxy")?;
    let proxy = InstanceBuilder::new(rt, app)
        .link(apps("calc"), Linkable::Local(server.clone()))
        .instantiate()
        .await?;
    Ok((proxy, server))
}

/// The target traps on a call of its own, then through the link; each time the link's next call
/// reaches the renewed target (its function resolved again) and the importer goes on.
async fn check_link_survives_its_target(
    proxy: &InstanceHandle,
    server: &InstanceHandle,
) -> anyhow::Result<()> {
    assert_eq!(add(proxy).await?, Val::S32(3));
    sum_runs_out(server).await?;
    assert_eq!(add(proxy).await?, Val::S32(3));
    assert_eq!((proxy.renewals(), server.renewals()), (0, 1));
    // Through the link, the target's trap traps the importer too: both are renewed.
    sum_runs_out(proxy).await?;
    assert_eq!(add(proxy).await?, Val::S32(3));
    assert_eq!((proxy.renewals(), server.renewals()), (1, 2));
    assert_eq!(add(server).await?, Val::S32(3));
    Ok(())
}

#[tokio::test]
async fn a_link_through_held_locks_reaches_its_renewed_target() -> anyhow::Result<()> {
    let rt = support::runtime()?;
    let (proxy, server) = proxied_calc(&rt, None).await?;
    assert!(proxy.is_sync() && server.is_sync());
    check_link_survives_its_target(&proxy, &server).await
}

#[tokio::test]
async fn an_awaiting_link_reaches_its_renewed_target() -> anyhow::Result<()> {
    let rt = support::runtime()?;
    let (proxy, server) = proxied_calc(&rt, Some(10_000)).await?;
    assert!(!proxy.is_sync() && !server.is_sync());
    check_link_survives_its_target(&proxy, &server).await
}
