//! The seed's integration suite, ported to exorun's API.

use std::sync::{Arc, Mutex};

use exorun::builder::{InstanceBuilder, Linkable};
use exorun::context::{ContextBuilder, ExorunCtx};
use exorun::instance::InstanceHandle;
use exorun::runtime::{self, AppId, Runtime};
use exorun::system::{self, KvSystem, SystemComponent};
use exorun::transport::Transport;
use wasmtime::component::{Linker, Val};

use crate::support::{self, MockTransport, apps, single, some_string, string};

/// The seed's logger mock: a system component defined outside exorun.
struct SysLogger {
    logs: Arc<Mutex<Vec<String>>>,
}

impl SystemComponent for SysLogger {
    fn name(&self) -> &str {
        "sys-logger"
    }

    fn install(&self, linker: &mut Linker<ExorunCtx>) -> Result<(), system::Error> {
        let to_error = |e: wasmtime::Error| system::Error::Linker {
            system: "sys-logger".to_owned(),
            interface: system::LOGGING_INTERFACE.to_owned(),
            message: e.to_string(),
        };
        let mut instance = linker
            .instance(system::LOGGING_INTERFACE)
            .map_err(to_error)?;
        let logs = self.logs.clone();
        let log = move |_: wasmtime::StoreContextMut<'_, ExorunCtx>, (msg,): (String,)| {
            let mut logs = logs
                .lock()
                .map_err(|_| wasmtime::format_err!("log poisoned"))?;
            logs.push(msg);
            Ok(())
        };
        instance.func_wrap("log", log).map_err(to_error)?;
        Ok(())
    }

    fn configure(&self, _builder: &mut ContextBuilder) -> Result<(), system::Error> {
        Ok(())
    }
}

#[tokio::test]
async fn runtime_creation() -> anyhow::Result<()> {
    let rt = Runtime::new()?;
    assert!(rt.app_ids().is_empty());
    assert!(rt.peer_ids().is_empty());
    assert!(rt.instance_ids().is_empty());
    assert_eq!(rt.stats().linker_setups, 0);
    Ok(())
}

// Two real threads compiling at once: the simulated build runs on one and has no blocking pool.
#[cfg(not(madsim))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_bytes_compiled_at_once_register_as_one_app() -> anyhow::Result<()> {
    // calc-server's bytes with a custom section of this test's own: bytes no other test
    // compiles, so both registrations below miss the process-wide cache and compile.
    let mut bytes = support::fixture("calc-server")?;
    bytes.extend_from_slice(&[0x00, 0x0a, 0x09]);
    bytes.extend_from_slice(b"race-once");
    let bytes = Arc::new(bytes);
    let register = |bytes: Arc<Vec<u8>>| {
        tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let rt = support::runtime()?;
            let app = rt.register_app("calc-server", &bytes)?;
            Ok(rt.app(app)?.ledger)
        })
    };
    let (first, second) = (register(bytes.clone()), register(bytes));
    let (first, second) = (first.await??, second.await??);
    // One compiled app (and ledger, which keys its linked `InstancePre`s) per bytes and engine,
    // whichever compile finished first.
    assert!(
        Arc::ptr_eq(&first, &second),
        "two ledgers for the same bytes"
    );
    Ok(())
}

#[tokio::test]
async fn app_registration() -> anyhow::Result<()> {
    let rt = support::runtime()?;
    let bytes = support::fixture("calc-server")?;
    let first = rt.register_app("calc-server", &bytes)?;
    let compilations = rt.stats().compilations;
    let second = rt.register_app("calc-server-again", &bytes)?;
    assert_ne!(first, second);
    assert_eq!(rt.stats().compilations, compilations, "compiled twice");
    let app = rt.app(second)?;
    assert_eq!(app.name, "calc-server-again");
    assert!(app.ledger.export(&apps("calc")).is_ok());
    assert_eq!(rt.app_ids(), vec![first, second]);

    let err = rt.register_app("garbage", b"not wasm").err();
    let Some(runtime::Error::Compile { app, .. }) = err else {
        anyhow::bail!("garbage compiled: {err:?}");
    };
    assert_eq!(app, "garbage");
    Ok(())
}

#[tokio::test]
async fn peer_registration() -> anyhow::Result<()> {
    let rt = support::runtime()?;
    let transport: Arc<dyn Transport> = Arc::new(MockTransport::default());
    let id = rt.add_peer("node-b", transport);
    let peer = rt.peer(id)?;
    assert_eq!(peer.name, "node-b");
    peer.transport.send(b"frame").await?;
    assert_eq!(peer.transport.recv().await?, Some(b"frame".to_vec()));
    assert_eq!(rt.peer_ids(), vec![id]);
    rt.remove_peer(id)?;
    let err = rt.peer(id).err();
    let expected = runtime::Error::NotFound {
        kind: runtime::Kind::Peer,
        id: id.0,
    };
    assert_eq!(err, Some(expected));
    Ok(())
}

#[tokio::test]
async fn system_logging() -> anyhow::Result<()> {
    let rt = support::runtime()?;
    let logs = Arc::new(Mutex::new(Vec::new()));
    let logger = Linkable::system(SysLogger { logs: logs.clone() });
    let app = support::register(&rt, "logger-user")?;
    let user = InstanceBuilder::new(&rt, app)
        .link(system::LOGGING_INTERFACE, logger)
        .instantiate()
        .await?;
    let results = user.call(&apps("logger-run"), "run", &[]).await?;
    assert!(results.is_empty());
    let lines = logs
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .clone();
    assert_eq!(lines, ["logger-user: started", "logger-user: done"]);
    Ok(())
}

#[tokio::test]
async fn system_logging_builtin() -> anyhow::Result<()> {
    let rt = support::runtime()?;
    let logger = system::LogSystem::new();
    let user = with_system(&rt, "logger-user", logger.clone()).await?;
    user.call(&apps("logger-run"), "run", &[]).await?;
    user.call(&apps("logger-run"), "run", &[]).await?;
    let expected = [
        "logger-user: started",
        "logger-user: done",
        "logger-user: started",
        "logger-user: done",
    ];
    assert_eq!(logger.lines(), expected);
    Ok(())
}

#[tokio::test]
async fn local_app_to_app() -> anyhow::Result<()> {
    let rt = support::runtime()?;
    let server = support::instantiate(&rt, "calc-server").await?;
    let calc = apps("calc");
    let local = Linkable::Local(server.clone());
    let client = support::instantiate_linked(&rt, "calc-client", &calc, local).await?;
    let args = [Val::S32(2), Val::S32(40)];
    let sum = single(client.call(&apps("runner"), "run", &args).await?)?;
    assert_eq!(sum, Val::S32(42));
    let args = [Val::S32(i32::MAX), Val::S32(1)];
    let wrapped = single(client.call(&apps("runner"), "run", &args).await?)?;
    assert_eq!(wrapped, Val::S32(i32::MIN));
    Ok(())
}

#[tokio::test]
async fn second_instance_reuses_the_linked_pre() -> anyhow::Result<()> {
    let rt = support::runtime()?;
    let (server_app, server, client_app) = calc_apps(&rt).await?;
    let build = || client_of(&rt, client_app, &server);
    let first = build().instantiate().await?;
    let before = rt.stats();
    let second = build().instantiate().await?;
    let after = rt.stats();
    assert_eq!(after.linker_setups, before.linker_setups, "linked again");
    assert_eq!(after.pre_cache_hits, before.pre_cache_hits + 1);
    assert_ne!(first.id(), second.id());
    let args = [Val::S32(1), Val::S32(2)];
    assert_eq!(
        single(second.call(&apps("runner"), "run", &args).await?)?,
        Val::S32(3)
    );

    let other_server = InstanceBuilder::new(&rt, server_app).instantiate().await?;
    assert_eq!(
        rt.stats().linker_setups,
        after.linker_setups,
        "server linked again"
    );
    // Another target of the same kind: the link's functions find their target in the store,
    // so the same `InstancePre` serves, and the calls reach the other server.
    let hits = rt.stats().pre_cache_hits;
    let (server_fuel, other_fuel) = (fuel_of(&server).await?, fuel_of(&other_server).await?);
    let third = InstanceBuilder::new(&rt, client_app)
        .link(apps("calc"), Linkable::Local(other_server.clone()))
        .instantiate()
        .await?;
    assert_eq!(
        rt.stats().linker_setups,
        after.linker_setups,
        "linked again for another target"
    );
    assert_eq!(rt.stats().pre_cache_hits, hits + 1);
    assert_eq!(
        single(third.call(&apps("runner"), "run", &args).await?)?,
        Val::S32(3)
    );
    // Only the server linked to burnt fuel for the call.
    assert_eq!(
        fuel_of(&server).await?,
        server_fuel,
        "the first server was called"
    );
    assert_ne!(
        fuel_of(&other_server).await?,
        other_fuel,
        "the other server was not"
    );
    Ok(())
}

/// The fuel left in `instance`'s store: it changes with every call the instance serves.
async fn fuel_of(instance: &InstanceHandle) -> anyhow::Result<u64> {
    let fuel = instance.exec(|store, _| store.get_fuel()).await?;
    fuel.map_err(|e| anyhow::anyhow!("{e}"))
}

#[tokio::test]
async fn runtimes_on_one_engine_share_the_pres_linked_to_no_system() -> anyhow::Result<()> {
    let first = support::runtime()?;
    let (_, server, client_app) = calc_apps(&first).await?;
    client_of(&first, client_app, &server).instantiate().await?;
    // Another runtime with the same configuration, its own apps and instances: what the first
    // linked serves it (a simulator boots the same apps on every node of every seed).
    let second = support::runtime()?;
    let (_, server, client_app) = calc_apps(&second).await?;
    let client = client_of(&second, client_app, &server)
        .instantiate()
        .await?;
    assert_eq!(second.stats().linker_setups, 0, "linked again");
    assert_eq!(second.stats().pre_cache_hits, 2, "server and client");
    let args = [Val::S32(40), Val::S32(2)];
    let sum = single(client.call(&apps("runner"), "run", &args).await?)?;
    assert_eq!(sum, Val::S32(42));
    Ok(())
}

#[tokio::test]
async fn a_pre_linked_to_a_system_by_identity_stays_in_its_runtime() -> anyhow::Result<()> {
    let first = support::runtime()?;
    let logger = system::LogSystem::new();
    with_system(&first, "logger-user", logger.clone()).await?;
    let second = support::runtime()?;
    let other = system::LogSystem::new();
    let user = with_system(&second, "logger-user", other.clone()).await?;
    // The logger's functions close over it: the second runtime links its own.
    assert_eq!(second.stats().linker_setups, 1);
    assert_eq!(second.stats().pre_cache_hits, 0);
    user.call(&apps("logger-run"), "run", &[]).await?;
    assert_eq!(other.lines(), ["logger-user: started", "logger-user: done"]);
    assert!(
        logger.lines().is_empty(),
        "the first runtime's logger was written"
    );
    Ok(())
}

#[tokio::test]
async fn a_system_that_links_by_name_shares_the_pre_and_keeps_its_own_state() -> anyhow::Result<()>
{
    let first = support::runtime()?;
    let kv = KvSystem::new();
    let first_user = with_system(&first, "kv-user", kv.clone()).await?;
    let second = support::runtime()?;
    let other = KvSystem::new();
    let user = with_system(&second, "kv-user", other.clone()).await?;
    // The kv functions find their map in the store: one linking serves both runtimes.
    assert_eq!(second.stats().linker_setups, 0, "linked again");
    assert_eq!(second.stats().pre_cache_hits, 1);
    let ops = apps("kv-ops");
    user.call(&ops, "put", &[string("k"), string("second")])
        .await?;
    first_user
        .call(&ops, "put", &[string("k"), string("first")])
        .await?;
    assert_eq!(other.get("k").as_deref(), Some("second"));
    assert_eq!(kv.get("k").as_deref(), Some("first"));
    Ok(())
}

#[tokio::test]
async fn a_removed_target_leaves_the_pre_to_the_next_target() -> anyhow::Result<()> {
    let rt = support::runtime()?;
    let (server_app, server, client_app) = calc_apps(&rt).await?;
    drop(client_of(&rt, client_app, &server).instantiate().await?);
    rt.remove_instance(server.id())?;
    drop(server);
    let before = rt.stats();
    let next = InstanceBuilder::new(&rt, server_app).instantiate().await?;
    let client = client_of(&rt, client_app, &next).instantiate().await?;
    let after = rt.stats();
    assert_eq!(after.linker_setups, before.linker_setups, "linked again");
    assert_eq!(after.pre_cache_hits, before.pre_cache_hits + 2);
    let args = [Val::S32(20), Val::S32(22)];
    let sum = single(client.call(&apps("runner"), "run", &args).await?)?;
    assert_eq!(sum, Val::S32(42));
    Ok(())
}

/// An instance of the fixture `world`, registered in `rt`, with `system` linked.
async fn with_system(
    rt: &Runtime,
    world: &str,
    system: impl SystemComponent,
) -> anyhow::Result<InstanceHandle> {
    let app = support::register(rt, world)?;
    let builder = InstanceBuilder::new(rt, app).system(system);
    Ok(builder.instantiate().await?)
}

/// The apps calc-server and calc-client, registered in `rt`, and an instance of the server.
async fn calc_apps(rt: &Runtime) -> anyhow::Result<(AppId, InstanceHandle, AppId)> {
    let server_app = support::register(rt, "calc-server")?;
    let server = InstanceBuilder::new(rt, server_app).instantiate().await?;
    let client_app = support::register(rt, "calc-client")?;
    Ok((server_app, server, client_app))
}

/// A builder of `client_app` (calc-client) with its calc import linked to `server`.
fn client_of<'r>(
    rt: &'r Runtime,
    client_app: AppId,
    server: &InstanceHandle,
) -> InstanceBuilder<'r> {
    InstanceBuilder::new(rt, client_app).link(apps("calc"), Linkable::Local(server.clone()))
}

#[tokio::test]
async fn domain_errors_cross_a_local_link() -> anyhow::Result<()> {
    let rt = support::runtime()?;
    let server = support::instantiate(&rt, "auth-server").await?;
    let auth = apps("auth");
    let client =
        support::instantiate_linked(&rt, "auth-client", &auth, Linkable::Local(server)).await?;
    let check = apps("auth-check");
    let ok = client
        .call(&check, "check", &[string("alice"), string("wonderland")])
        .await?;
    let token = Val::Result(Ok(Some(Box::new(string("token-alice")))));
    assert_eq!(single(ok)?, token);
    let locked = client
        .call(&check, "check", &[string("bob"), string("x")])
        .await?;
    let error = Val::Record(vec![
        ("code".to_owned(), Val::U32(423)),
        ("message".to_owned(), string("account bob is locked")),
    ]);
    assert_eq!(single(locked)?, Val::Result(Err(Some(Box::new(error)))));
    Ok(())
}

#[tokio::test]
async fn stateful_kv_system() -> anyhow::Result<()> {
    let rt = support::runtime()?;
    let kv = KvSystem::new();
    let user = with_system(&rt, "kv-user", kv.clone()).await?;
    let ops = apps("kv-ops");
    user.call(&ops, "put", &[string("colour"), string("green")])
        .await?;
    let fetched = user.call(&ops, "fetch", &[string("colour")]).await?;
    assert_eq!(single(fetched)?, some_string("green"));
    let missing = user.call(&ops, "fetch", &[string("shape")]).await?;
    assert_eq!(single(missing)?, Val::Option(None));
    for expected in 1..=3u64 {
        let bumped = user.call(&ops, "bump", &[string("visits")]).await?;
        assert_eq!(single(bumped)?, Val::U64(expected));
    }
    assert_eq!(kv.get("colour").as_deref(), Some("green"));
    assert_eq!(kv.get("visits").as_deref(), Some("3"));
    Ok(())
}

#[tokio::test]
async fn diamond_dependency() -> anyhow::Result<()> {
    let rt = support::runtime()?;
    let shared = KvSystem::new();
    let kv = Linkable::system(shared.clone());
    let writer_app = support::register(&rt, "kv-writer")?;
    let reader_app = support::register(&rt, "kv-reader")?;
    let writer = InstanceBuilder::new(&rt, writer_app)
        .link(system::KV_INTERFACE, kv.clone())
        .instantiate()
        .await?;
    let reader = InstanceBuilder::new(&rt, reader_app)
        .link(system::KV_INTERFACE, kv)
        .instantiate()
        .await?;
    let ops = apps("kv-ops");
    writer
        .call(&ops, "put", &[string("shared"), string("42")])
        .await?;
    let seen = reader.call(&ops, "fetch", &[string("shared")]).await?;
    assert_eq!(single(seen)?, some_string("42"));
    let first = writer.call(&ops, "bump", &[string("hits")]).await?;
    let second = reader.call(&ops, "bump", &[string("hits")]).await?;
    assert_eq!(
        (single(first)?, single(second)?),
        (Val::U64(1), Val::U64(2))
    );
    let entries = shared.entries();
    let expected = [("hits", "2"), ("shared", "42")].map(|(k, v)| (k.to_owned(), v.to_owned()));
    assert_eq!(entries, expected);
    Ok(())
}
