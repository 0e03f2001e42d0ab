//! Limits: fuel and memory end a call with a typed error; other traps are AppTrapped; the host
//! stays healthy.

use exorun::builder::{InstanceBuilder, Linkable};
use exorun::context::Limits;
use exorun::instance::{self, InstanceHandle};
use exorun::runtime::Runtime;
use exorun::trap;
use neorpc::FailureReason;
use wasmtime::component::Val;

use crate::support::{self, apps, single};

const MIB: u32 = 1 << 20;

async fn limited(rt: &Runtime, world: &str, limits: Limits) -> anyhow::Result<InstanceHandle> {
    let app = support::register(rt, world)?;
    Ok(InstanceBuilder::new(rt, app)
        .limits(limits)
        .instantiate()
        .await?)
}

/// A call on a fresh instance still works.
async fn host_is_healthy(rt: &Runtime) -> anyhow::Result<()> {
    let calc = support::instantiate(rt, "calc-server").await?;
    let sum = calc
        .call(&apps("calc"), "add", &[Val::S32(20), Val::S32(22)])
        .await?;
    assert_eq!(single(sum)?, Val::S32(42));
    Ok(())
}

fn failure(result: Result<Vec<Val>, instance::Error>) -> anyhow::Result<trap::Error> {
    match result {
        Err(instance::Error::Call(e)) => Ok(e),
        other => anyhow::bail!("expected a failed call, got {other:?}"),
    }
}

#[tokio::test]
async fn the_spinner_runs_out_of_fuel() -> anyhow::Result<()> {
    let rt = support::runtime()?;
    let limits = Limits {
        fuel_per_call: 2_000_000,
        ..Limits::default()
    };
    let spinner = limited(&rt, "spinner", limits).await?;
    let err = failure(spinner.call(&apps("spin"), "spin", &[]).await)?;
    assert_eq!(err, trap::Error::OutOfFuel);
    assert_eq!(err.reason(), FailureReason::OutOfFuel);
    // A trapped instance is poisoned: the component model forbids entering it again. The next
    // call runs on a fresh instance, renewed from the same InstancePre, and spins out again.
    assert_eq!(spinner.renewals(), 0);
    let again = failure(spinner.call(&apps("spin"), "spin", &[]).await)?;
    assert_eq!(again, trap::Error::OutOfFuel);
    assert_eq!(spinner.renewals(), 1);
    host_is_healthy(&rt).await
}

#[tokio::test]
async fn a_yielding_spinner_lets_other_tasks_run_and_still_runs_out() -> anyhow::Result<()> {
    let rt = support::runtime()?;
    let limits = Limits {
        fuel_per_call: 5_000_000,
        fuel_yield_interval: Some(100_000),
        ..Limits::default()
    };
    let spinner = limited(&rt, "spinner", limits).await?;
    let ticks = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let counter = ticks.clone();
    let ticker = tokio::spawn(async move {
        loop {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::task::yield_now().await;
        }
    });
    let err = failure(spinner.call(&apps("spin"), "spin", &[]).await)?;
    ticker.abort();
    assert_eq!(err, trap::Error::OutOfFuel);
    let ticks = ticks.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        ticks >= 10,
        "the spinner starved the executor: {ticks} ticks"
    );
    host_is_healthy(&rt).await
}

#[tokio::test]
async fn the_hog_runs_out_of_memory() -> anyhow::Result<()> {
    let rt = support::runtime()?;
    let limits = Limits {
        memory_bytes_max: 16 * MIB as usize,
        ..Limits::default()
    };
    let hog = limited(&rt, "memory-hog", limits).await?;
    let err = failure(hog.call(&apps("hog"), "hog", &[Val::U32(64)]).await)?;
    assert_eq!(err, trap::Error::OutOfMemory);
    assert_eq!(err.reason(), FailureReason::OutOfMemory);

    let small = limited(&rt, "memory-hog", limits).await?;
    let touched = small.call(&apps("hog"), "hog", &[Val::U32(1)]).await?;
    assert_eq!(single(touched)?, Val::U64(u64::from(MIB)));
    host_is_healthy(&rt).await
}

#[tokio::test]
async fn other_traps_are_app_trapped() -> anyhow::Result<()> {
    let rt = support::runtime()?;
    let hog = support::instantiate(&rt, "memory-hog").await?;
    // More MiB than a 32-bit address space holds: the guest panics, which is `unreachable`.
    let err = failure(hog.call(&apps("hog"), "hog", &[Val::U32(5000)]).await)?;
    let expected = trap::Error::AppTrapped {
        kind: "wasm trap: wasm `unreachable` instruction executed".to_owned(),
    };
    assert_eq!(err, expected);
    let FailureReason::AppTrapped(kind) = err.reason() else {
        anyhow::bail!("expected AppTrapped, got {:?}", err.reason());
    };
    assert!(kind.contains("unreachable"), "{kind}");
    host_is_healthy(&rt).await
}

#[tokio::test]
async fn a_callee_failure_reaches_the_caller_typed() -> anyhow::Result<()> {
    let rt = support::runtime()?;
    let starved = Limits {
        fuel_per_call: 1,
        ..Limits::default()
    };
    let server_app = support::register(&rt, "calc-server")?;
    let server = InstanceBuilder::new(&rt, server_app).instantiate().await?;
    server
        .exec(|store, _| store.data_mut().set_limits(starved))
        .await?;
    let client_app = support::register(&rt, "calc-client")?;
    let client = InstanceBuilder::new(&rt, client_app)
        .link(apps("calc"), Linkable::Local(server))
        .instantiate()
        .await?;
    let args = [Val::S32(1), Val::S32(2)];
    let err = failure(client.call(&apps("runner"), "run", &args).await)?;
    assert_eq!(err, trap::Error::OutOfFuel);
    host_is_healthy(&rt).await
}
