//! Synchronous instances: which instances run without a fiber, and that chains and shared
//! targets of synchronous local links stay correct (and free of deadlock) under concurrent
//! callers, next to asynchronous importers and direct callers of the same targets.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use exorun::bind::RemoteTarget;
use exorun::builder::{InstanceBuilder, Linkable};
use exorun::context::{Captured, Limits};
use exorun::instance::InstanceHandle;
use exorun::runtime::Runtime;
use exorun::system::{self, KvSystem, LogSystem, SystemComponent};
use wasmtime::component::{Linker, Val};

use crate::support::{self, apps, single, string};

/// How long the concurrent tests may take; only a deadlock comes near it.
const DEADLOCK_TIMEOUT: Duration = Duration::from_secs(30);

/// A system that installs nothing and does not say it is synchronous.
struct Opaque;

impl SystemComponent for Opaque {
    fn name(&self) -> &str {
        "opaque"
    }

    fn install(
        &self,
        _linker: &mut Linker<exorun::context::ExorunCtx>,
    ) -> Result<(), system::Error> {
        Ok(())
    }
}

/// An instance of `world` whose `calc` import is linked to `target`.
async fn calc_importer(
    rt: &Runtime,
    world: &str,
    target: &InstanceHandle,
) -> anyhow::Result<InstanceHandle> {
    support::instantiate_linked(rt, world, &apps("calc"), Linkable::Local(target.clone())).await
}

async fn run(client: &InstanceHandle, a: i32, b: i32) -> anyhow::Result<Val> {
    let args = [Val::S32(a), Val::S32(b)];
    single(client.call(&apps("runner"), "run", &args).await?)
}

async fn add(calc: &InstanceHandle, a: i32, b: i32) -> anyhow::Result<Val> {
    let args = [Val::S32(a), Val::S32(b)];
    single(calc.call(&apps("calc"), "add", &args).await?)
}

#[tokio::test]
async fn instances_whose_imports_never_wait_run_synchronously() -> anyhow::Result<()> {
    let rt = support::runtime()?;
    let server = support::instantiate(&rt, "calc-server").await?;
    assert!(server.is_sync(), "calc-server imports only stdio WASI");
    let client = calc_importer(&rt, "calc-client", &server).await?;
    assert!(client.is_sync(), "a local link to a synchronous target");
    let proxy = calc_importer(&rt, "calc-proxy", &server).await?;
    let chained = calc_importer(&rt, "calc-client", &proxy).await?;
    assert!(proxy.is_sync() && chained.is_sync(), "a chain of them");
    assert_eq!(run(&chained, 40, 2).await?, Val::S32(42));

    let logger = support::register(&rt, "logger-user")?;
    let logs = InstanceBuilder::new(&rt, logger).system(LogSystem::new());
    assert!(
        logs.instantiate().await?.is_sync(),
        "LogSystem is synchronous"
    );
    let kv = support::register(&rt, "kv-user")?;
    let kv = InstanceBuilder::new(&rt, kv).system(KvSystem::new());
    assert!(kv.instantiate().await?.is_sync(), "KvSystem is synchronous");
    Ok(())
}

#[tokio::test]
async fn instances_that_may_wait_run_asynchronously() -> anyhow::Result<()> {
    let rt = support::runtime()?;
    let files = support::instantiate(&rt, "file-reader").await?;
    assert!(!files.is_sync(), "file-reader imports wasi:filesystem");

    let calc = support::register(&rt, "calc-server")?;
    let yielding = Limits {
        fuel_yield_interval: Some(100_000),
        ..Limits::default()
    };
    let builder = InstanceBuilder::new(&rt, calc).limits(yielding);
    let yielding = builder.instantiate().await?;
    assert!(!yielding.is_sync(), "yielding needs a fiber");
    let above = calc_importer(&rt, "calc-client", &yielding).await?;
    assert!(!above.is_sync(), "its importer awaits it");
    assert_eq!(run(&above, 1, 2).await?, Val::S32(3));

    let opaque = InstanceBuilder::new(&rt, calc).system(Opaque);
    let opaque = opaque.instantiate().await?;
    assert!(
        !opaque.is_sync(),
        "a system that does not say it is synchronous"
    );

    let node_a = support::runtime()?;
    let served = support::instantiate(&node_a, "calc-server").await?;
    let server = support::exposing("calc", &served, "calc")?;
    let (peer, _serving) = support::connect_duplex(&server);
    let app = support::register(&rt, "calc-client")?;
    let remote = Linkable::Remote(RemoteTarget::new(Arc::clone(&peer), "calc"));
    let builder = InstanceBuilder::new(&rt, app).link(apps("calc"), remote);
    let remote = builder.instantiate().await?;
    assert!(!remote.is_sync(), "a remote link waits for the network");
    assert_eq!(run(&remote, 5, 6).await?, Val::S32(11));
    Ok(())
}

/// Calls every client and the shared server from many tasks at once; each answer is checked.
async fn hammer(clients: &[InstanceHandle], server: &InstanceHandle) -> anyhow::Result<()> {
    let mut tasks = Vec::new();
    for i in 0..32 {
        for client in clients {
            let client = client.clone();
            tasks.push(tokio::spawn(async move {
                let got = run(&client, i, 1_000).await?;
                anyhow::ensure!(got == Val::S32(i + 1_000), "run({i}, 1000) gave {got:?}");
                anyhow::Ok(())
            }));
        }
        let server = server.clone();
        tasks.push(tokio::spawn(async move {
            let got = add(&server, i, -i).await?;
            anyhow::ensure!(got == Val::S32(0), "add({i}, -{i}) gave {got:?}");
            anyhow::Ok(())
        }));
    }
    let all = futures_util::future::join_all(tasks);
    let joined = tokio::time::timeout(DEADLOCK_TIMEOUT, all).await;
    for task in joined.context("concurrent calls deadlocked")? {
        task??;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_synchronous_targets_serve_concurrent_chains() -> anyhow::Result<()> {
    let rt = support::runtime()?;
    let server = support::instantiate(&rt, "calc-server").await?;
    let left = calc_importer(&rt, "calc-proxy", &server).await?;
    let right = calc_importer(&rt, "calc-proxy", &server).await?;
    let clients = [
        calc_importer(&rt, "calc-client", &left).await?,
        calc_importer(&rt, "calc-client", &right).await?,
        calc_importer(&rt, "calc-client", &server).await?,
    ];
    assert!(clients.iter().all(InstanceHandle::is_sync));
    hammer(&clients, &server).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asynchronous_importers_share_synchronous_targets() -> anyhow::Result<()> {
    let rt = support::runtime()?;
    let server = support::instantiate(&rt, "calc-server").await?;
    let proxy = support::register(&rt, "calc-proxy")?;
    let yielding = Limits {
        fuel_yield_interval: Some(10_000),
        ..Limits::default()
    };
    let builder = InstanceBuilder::new(&rt, proxy)
        .limits(yielding)
        .link(apps("calc"), Linkable::Local(server.clone()));
    let async_proxy = builder.instantiate().await?;
    let sync_proxy = calc_importer(&rt, "calc-proxy", &server).await?;
    let clients = [
        calc_importer(&rt, "calc-client", &async_proxy).await?,
        calc_importer(&rt, "calc-client", &sync_proxy).await?,
    ];
    assert!(!async_proxy.is_sync() && !clients[0].is_sync());
    assert!(sync_proxy.is_sync() && clients[1].is_sync());
    hammer(&clients, &server).await
}

#[tokio::test]
async fn a_synchronous_instance_writes_to_stdout_and_reads_closed_stdin() -> anyhow::Result<()> {
    let rt = support::runtime()?;
    let app = support::register(&rt, "chatter")?;
    let stdout = Captured::new();
    let attached = stdout.clone();
    let builder = InstanceBuilder::new(&rt, app).context(move |c| {
        c.stdout(&attached);
    });
    let chatter = builder.instantiate().await?;
    assert!(chatter.is_sync());
    for line in ["hello", "world"] {
        let said = chatter.call(&apps("chat"), "say", &[string(line)]).await?;
        assert!(said.is_empty());
    }
    assert_eq!(stdout.text(), "hello\nworld\n");
    let heard = chatter.call(&apps("chat"), "listen", &[]).await?;
    assert_eq!(single(heard)?, Val::Option(None));
    Ok(())
}

#[tokio::test]
async fn a_later_yield_interval_leaves_a_synchronous_instance_synchronous() -> anyhow::Result<()> {
    let rt = support::runtime()?;
    let server = support::instantiate(&rt, "calc-server").await?;
    let client = calc_importer(&rt, "calc-client", &server).await?;
    let yielding = Limits {
        fuel_yield_interval: Some(1_000),
        ..Limits::default()
    };
    for handle in [&server, &client] {
        handle
            .exec(|store, _| store.data_mut().set_limits(yielding))
            .await?;
    }
    assert!(server.is_sync() && client.is_sync());
    assert_eq!(run(&client, 20, 22).await?, Val::S32(42));
    assert_eq!(add(&server, 1, 1).await?, Val::S32(2));
    Ok(())
}

/// `calc` as a system whose every function panics: a host bug under a chain of links.
#[cfg(not(madsim))]
struct PanickingCalc;

#[cfg(not(madsim))]
impl SystemComponent for PanickingCalc {
    fn name(&self) -> &str {
        "panicking-calc"
    }

    fn install(
        &self,
        linker: &mut Linker<exorun::context::ExorunCtx>,
    ) -> Result<(), system::Error> {
        let refused = |e: wasmtime::Error| system::Error::Linker {
            system: "panicking-calc".to_owned(),
            interface: apps("calc"),
            message: e.to_string(),
        };
        let mut calc = linker.instance(&apps("calc")).map_err(refused)?;
        for method in ["add", "sum", "greet"] {
            let defined = calc.func_new(method, |_, _, _, _| panic!("the host broke"));
            defined.map_err(refused)?;
        }
        Ok(())
    }

    fn synchronous(&self) -> bool {
        true
    }
}

// Not under madsim: a panicking task brings the whole simulation down there.
#[cfg(not(madsim))]
#[tokio::test]
async fn a_host_panic_under_a_chain_of_links_releases_every_lock() -> anyhow::Result<()> {
    let rt = support::runtime()?;
    let proxy = support::register(&rt, "calc-proxy")?;
    let builder =
        InstanceBuilder::new(&rt, proxy).link(apps("calc"), Linkable::system(PanickingCalc));
    let broken = builder.instantiate().await?;
    let middle = calc_importer(&rt, "calc-proxy", &broken).await?;
    let client = calc_importer(&rt, "calc-client", &middle).await?;
    assert!(client.is_sync() && middle.is_sync() && broken.is_sync());

    let calling = client.clone();
    let called = tokio::spawn(async move { run(&calling, 1, 2).await }).await;
    let panicked = called.err().is_some_and(|e| e.is_panic());
    assert!(panicked, "the host's panic reaches the caller");
    for handle in [&client, &middle, &broken] {
        let entered = handle.exec(|_, _| ());
        let entered = tokio::time::timeout(DEADLOCK_TIMEOUT, entered).await;
        entered.context("a lock was left taken")??;
    }
    Ok(())
}
