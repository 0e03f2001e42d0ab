//! The registry: unique ids under concurrent registration; unknown ids are NotFound.

use std::collections::BTreeSet;
use std::sync::Arc;

use exorun::runtime::{self, AppId, InstanceId, PeerId};
use exorun::transport::Transport;
use wasmtime::component::Val;

use crate::support::{self, MockTransport};

const TASKS: usize = 16;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_registration_gives_unique_ids() -> anyhow::Result<()> {
    let rt = Arc::new(support::runtime()?);
    let bytes = Arc::new(support::fixture("calc-server")?);
    let mut tasks = Vec::new();
    for i in 0..TASKS {
        let (rt, bytes) = (rt.clone(), bytes.clone());
        tasks.push(tokio::spawn(async move {
            let app = rt.register_app(&format!("app-{i}"), &bytes)?;
            let transport: Arc<dyn Transport> = Arc::new(MockTransport::default());
            let peer = rt.add_peer(&format!("peer-{i}"), transport);
            Ok::<_, runtime::Error>((i, app, peer))
        }));
    }
    let mut ids = BTreeSet::new();
    for task in tasks {
        let (i, app, peer) = task.await??;
        assert!(ids.insert(app.0), "duplicate id {}", app.0);
        assert!(ids.insert(peer.0), "duplicate id {}", peer.0);
        assert_eq!(rt.app(app)?.name, format!("app-{i}"));
        assert_eq!(rt.peer(peer)?.name, format!("peer-{i}"));
    }
    assert_eq!(ids.len(), 2 * TASKS);
    assert_eq!(rt.app_ids().len(), TASKS);
    assert_eq!(rt.peer_ids().len(), TASKS);
    Ok(())
}

#[tokio::test]
async fn unknown_ids_are_not_found() -> anyhow::Result<()> {
    let rt = support::runtime()?;
    let not_found = |kind, id| runtime::Error::NotFound { kind, id };
    assert_eq!(
        rt.app(AppId(404)).err(),
        Some(not_found(runtime::Kind::App, 404))
    );
    assert_eq!(
        rt.peer(PeerId(405)).err(),
        Some(not_found(runtime::Kind::Peer, 405))
    );
    let instance = rt.instance(InstanceId(406)).err();
    assert_eq!(instance, Some(not_found(runtime::Kind::Instance, 406)));
    let builder = exorun::builder::InstanceBuilder::new(&rt, AppId(407));
    let err = builder.instantiate().await.err();
    let expected = exorun::builder::Error::Runtime(not_found(runtime::Kind::App, 407));
    assert_eq!(err, Some(expected));
    Ok(())
}

#[tokio::test]
async fn instances_are_registered_and_removable() -> anyhow::Result<()> {
    let rt = support::runtime()?;
    let handle = support::instantiate(&rt, "calc-server").await?;
    assert!(rt.instance(handle.id())?.same(&handle));
    assert_eq!(rt.instance_ids(), vec![handle.id()]);
    rt.remove_instance(handle.id())?;
    let err = rt.instance(handle.id()).err();
    let expected = runtime::Error::NotFound {
        kind: runtime::Kind::Instance,
        id: handle.id().0,
    };
    assert_eq!(err, Some(expected));
    Ok(())
}

#[test]
fn a_component_the_engine_cannot_take_is_refused_with_the_reason() -> anyhow::Result<()> {
    // A component whose one type is `map<string, u32>`: component header, then a type section
    // (id 7, 4 bytes) of one defined type, a map (0x63) of string (0x73) to u32 (0x79). The
    // engine does not enable the component model's map feature.
    let bytes = [
        0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00, 0x07, 0x04, 0x01, 0x63, 0x73, 0x79,
    ];
    let rt = support::runtime()?;
    let Err(runtime::Error::Compile { app, message }) = rt.register_app("maps", &bytes) else {
        anyhow::bail!("a component with a map type compiled");
    };
    assert_eq!(app, "maps");
    // wasmtime's outermost message, and the cause that says what is wrong, where.
    assert!(
        message.starts_with("failed to parse WebAssembly module: "),
        "{message}"
    );
    assert!(
        message.contains("Maps require the component model map feature (at offset 0xb)"),
        "{message}"
    );
    Ok(())
}

#[tokio::test]
async fn an_app_compiled_once_registers_in_another_runtime_without_compiling() -> anyhow::Result<()>
{
    let first = support::runtime()?;
    let app = first.app(support::register(&first, "calc-server")?)?;
    let second = support::runtime()?;
    let id = second.register_compiled(&app)?;
    let registered = second.app(id)?;
    assert_eq!(registered.name, "calc-server");
    assert!(Arc::ptr_eq(&registered.ledger, &app.ledger));
    assert_eq!(second.stats().compilations, 0);
    // And it runs there.
    let handle = exorun::builder::InstanceBuilder::new(&second, id)
        .instantiate()
        .await?;
    let args = [Val::S32(2), Val::S32(3)];
    let sum = handle.call(&support::apps("calc"), "add", &args).await?;
    assert_eq!(sum, vec![Val::S32(5)]);
    Ok(())
}

#[test]
fn an_app_compiled_for_another_engine_is_refused() -> anyhow::Result<()> {
    let small = runtime::Config {
        pooling: None,
        ..runtime::Config::default()
    };
    let other = runtime::Runtime::with_config(small)?;
    let app = other.app(support::register(&other, "calc-server")?)?;
    let rt = support::runtime()?;
    let refused = rt.register_compiled(&app).err();
    let expected = runtime::Error::ForeignEngine {
        app: "calc-server".into(),
    };
    assert_eq!(refused, Some(expected));
    assert!(rt.app_ids().is_empty());
    Ok(())
}
