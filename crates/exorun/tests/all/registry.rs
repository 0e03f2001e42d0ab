//! The registry: unique ids under concurrent registration; unknown ids are NotFound.

use std::collections::BTreeSet;
use std::sync::Arc;

use exorun::runtime::{self, AppId, InstanceId, PeerId};
use exorun::transport::Transport;

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
