//! Renewal: one trapping call must not take an instance down. After a trap (out of fuel, out of
//! memory, unreachable) wasmtime refuses to enter the instance again; exorun replaces it with a
//! fresh one from its `InstancePre` before the next call, through every path that enters it.

use exorun::builder::InstanceBuilder;
use exorun::client::{self, Client};
use exorun::context::Limits;
use exorun::instance::{self, InstanceHandle};
use exorun::runtime::Runtime;
use exorun::server;
use exorun::trap;
use neorpc::FailureReason;
use neorpc::schema::Type;
use wasmtime::component::Val;

use crate::support::{self, apps, single};

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
    let touched = hog.call(&apps("hog"), "hog", &[Val::U32(1)]).await?;
    assert_eq!(single(touched)?, Val::U64(u64::from(MIB)));
    Ok(())
}

#[tokio::test]
async fn a_served_instance_survives_a_peer_that_makes_it_run_out_of_memory() -> anyhow::Result<()> {
    let rt = support::runtime()?;
    let hog = limited(&rt, "memory-hog", HOG_LIMITS).await?;
    let server = support::exposing("hog", &hog, "hog")?;
    let (client, _serving) = support::connect_duplex(&server);
    let outcome = hog_remotely(&client, 64).await;
    assert_eq!(remote_failure(outcome)?, FailureReason::OutOfMemory);
    let touched = hog_remotely(&client, 1).await?;
    assert_eq!(single(touched)?, Val::U64(u64::from(MIB)));
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
    Ok(())
}
