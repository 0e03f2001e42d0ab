//! Sessions: a remote link that survives its peer's restart. Over duplex pairs from a
//! [`TestPeer`], which can crash and come back with another app: calls after a restart go
//! through, a call in flight at the break fails and is never sent again, a peer that comes back
//! breaking the contract gets no call at all, and a peer that stays down makes calls give up in
//! time with a clear error.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use exorun::bind::RemoteTarget;
use exorun::builder::{InstanceBuilder, Linkable};
use exorun::client;
use exorun::instance::{self, InstanceHandle};
use exorun::runtime::Runtime;
use exorun::server::{self, Server};
use exorun::session::{self, Session};
use exorun::transport::{DuplexTransport, Transport};
use exorun::trap;
use neorpc::codec;
use neorpc::frame::{self, Frame};
use neorpc::schema::Type;
use tokio::sync::mpsc;
use wasmtime::component::Val;

use crate::support::{self, Deployment, TestPeer, apps, single};

/// A node running `world` with its `calc` exposed as "calc".
pub(crate) struct CalcNode {
    _runtime: Runtime,
    pub(crate) server: Arc<Server>,
}

pub(crate) async fn calc_node(world: &str) -> anyhow::Result<CalcNode> {
    let runtime = support::runtime()?;
    let calc = support::instantiate(&runtime, world).await?;
    let server = support::exposing("calc", &calc, "calc")?;
    Ok(CalcNode {
        _runtime: runtime,
        server,
    })
}

/// A session config with `attempts` connect attempts per reconnect.
pub(crate) fn config(attempts: u32) -> session::Config {
    session::Config {
        client: support::client_config(),
        reconnect_attempts_max: attempts,
        ..session::Config::default()
    }
}

/// calc-client on `runtime`, its `calc` import linked to "calc" through `session`.
async fn calc_client(runtime: &Runtime, session: &Arc<Session>) -> anyhow::Result<InstanceHandle> {
    let app = support::register(runtime, "calc-client")?;
    let remote = RemoteTarget::session(Arc::clone(session), "calc");
    let builder = InstanceBuilder::new(runtime, app).link(apps("calc"), Linkable::Remote(remote));
    Ok(builder.instantiate().await?)
}

/// `runner.run(a, b)` on calc-client.
async fn run(runner: &InstanceHandle, a: i32, b: i32) -> Result<Vec<Val>, instance::Error> {
    let args = [Val::S32(a), Val::S32(b)];
    runner.call(&apps("runner"), "run", &args).await
}

/// The trap a guest call ended in.
fn trap_of(outcome: Result<Vec<Val>, instance::Error>) -> anyhow::Result<trap::Error> {
    match outcome {
        Err(instance::Error::Call(e)) => Ok(e),
        other => anyhow::bail!("expected a trapped call, got {other:?}"),
    }
}

fn add_method() -> String {
    server::method_name(&apps("calc"), "add")
}

fn add_args(a: i32, b: i32) -> Vec<u8> {
    codec::encode_args(&[Val::S32(a), Val::S32(b)], &[Type::S32, Type::S32]).unwrap()
}

/// `calc.add(a, b)` straight through the session.
pub(crate) async fn add(session: &Session, a: i32, b: i32) -> Result<i32, client::Error> {
    let payload = session
        .call_raw("calc", &add_method(), &add_args(a, b))
        .await?;
    let results = codec::decode_results(&payload, &[Type::S32])?;
    let [Val::S32(sum)] = results[..] else {
        panic!("add returned {results:?}");
    };
    Ok(sum)
}

// ---- (a) a restart, then calls as before ----------------------------------------------------

#[tokio::test(start_paused = true)]
async fn calls_through_a_guest_go_on_after_the_peer_restarts() -> anyhow::Result<()> {
    let node_a = calc_node("calc-server").await?;
    let peer = TestPeer::serving(&node_a.server);
    let session = Session::connect(peer.clone(), config(3)).await?;
    let node_b = support::runtime()?;
    let runner = calc_client(&node_b, &session).await?;
    assert_eq!(single(run(&runner, 2, 40).await?)?, Val::S32(42));
    assert_eq!(session.generation(), 1);

    // Node A dies and comes back: a fresh runtime, a fresh instance.
    let before = session.client();
    peer.crash();
    drop(node_a);
    support::disconnected(&before).await?;
    let node_a = calc_node("calc-server").await?;
    peer.deploy(Deployment::Serving(Arc::clone(&node_a.server), None));
    assert_eq!(single(run(&runner, 1, 2).await?)?, Val::S32(3));
    assert_eq!(single(run(&runner, -7, 7).await?)?, Val::S32(0));
    assert_eq!(session.generation(), 2);
    assert_eq!(peer.attempts(), 2);
    assert_eq!(peer.calls_received(), [1, 2]);
    assert!(!Arc::ptr_eq(&before, &session.client()));
    assert_eq!(session.client().pending_len(), 0);
    Ok(())
}

/// Callers that find the connection gone at the same time share one reconnect.
#[tokio::test(start_paused = true)]
async fn concurrent_callers_share_one_reconnect() -> anyhow::Result<()> {
    const CALLERS: i32 = 8;
    let node_a = calc_node("calc-server").await?;
    let peer = TestPeer::serving(&node_a.server);
    let session = Session::connect(peer.clone(), config(3)).await?;
    peer.crash();
    support::disconnected(&session.client()).await?;
    peer.deploy(Deployment::Serving(Arc::clone(&node_a.server), None));
    let callers: Vec<_> = (0..CALLERS)
        .map(|n| {
            let session = Arc::clone(&session);
            tokio::spawn(async move { add(&session, n, 100).await })
        })
        .collect();
    for (n, caller) in (0..CALLERS).zip(callers) {
        assert_eq!(caller.await??, n + 100);
    }
    assert_eq!(session.generation(), 2);
    assert_eq!(peer.attempts(), 2);
    assert_eq!(peer.calls_received(), [0, CALLERS as u64]);
    Ok(())
}

// ---- (b) a call in flight at the break ------------------------------------------------------

/// The next connection's far end, as handed to the test.
async fn next_far(hand: &mut mpsc::UnboundedReceiver<DuplexTransport>) -> DuplexTransport {
    hand.recv().await.expect("the peer is gone")
}

#[tokio::test(start_paused = true)]
async fn a_call_in_flight_at_the_break_fails_and_is_never_sent_again() -> anyhow::Result<()> {
    let offer = calc_node("calc-server").await?.server.offer().encode()?;
    let (hand_tx, mut hand) = mpsc::unbounded_channel();
    let peer = TestPeer::new(Deployment::ByHand(hand_tx));
    let connecting = tokio::spawn(Session::connect(peer.clone(), config(3)));
    let far = next_far(&mut hand).await;
    let mut hello = neopack::Encoder::new();
    frame::encode_hello(&mut hello, frame::VERSION, "by-hand", &offer)?;
    far.send(&hello.into_bytes()?).await?;
    let session = connecting.await??;

    let in_flight = tokio::spawn({
        let session = Arc::clone(&session);
        async move { add(&session, 2, 40).await }
    });
    let bytes = support::next_frame(&far)
        .await?
        .context("the session closed the stream")?;
    let Frame::Call { target, method, .. } = frame::decode(&bytes)? else {
        anyhow::bail!("expected a Call");
    };
    assert_eq!((target, method), ("calc", add_method().as_str()));
    // The peer dies with the call unanswered.
    let before = session.client();
    peer.crash();
    drop(far);
    let outcome = in_flight.await?;
    assert!(
        matches!(outcome, Err(client::Error::Disconnected)),
        "{outcome:?}"
    );
    assert_eq!(before.pending_len(), 0);

    // The peer comes back: only the next call reaches it.
    let node_a = calc_node("calc-server").await?;
    peer.deploy(Deployment::Serving(Arc::clone(&node_a.server), None));
    assert_eq!(add(&session, 1, 2).await?, 3);
    assert_eq!(peer.calls_received(), [1]);
    assert_eq!(session.generation(), 2);
    Ok(())
}

// ---- (c) the peer comes back breaking the contract ------------------------------------------

/// The message of the contract error for calc-skew's `add`.
fn skew_message() -> String {
    format!(
        "the peer breaks the contract: method `add` of `{}` does not match: \
         parameter 0 `a`: expected s32, found s64",
        apps("calc")
    )
}

#[tokio::test(start_paused = true)]
async fn a_peer_back_with_a_broken_contract_gets_no_call() -> anyhow::Result<()> {
    let node_a = calc_node("calc-server").await?;
    let peer = TestPeer::serving(&node_a.server);
    let session = Session::connect(peer.clone(), config(3)).await?;
    let node_b = support::runtime()?;
    let runner = calc_client(&node_b, &session).await?;
    assert_eq!(single(run(&runner, 2, 40).await?)?, Val::S32(42));

    // Node A comes back running calc-skew, whose `add` takes s64.
    peer.crash();
    support::disconnected(&session.client()).await?;
    let skewed = calc_node("calc-skew").await?;
    peer.deploy(Deployment::Serving(Arc::clone(&skewed.server), None));
    let direct = add(&session, 2, 40).await;
    let Err(client::Error::Contract(message)) = &direct else {
        anyhow::bail!("expected a contract error, got {direct:?}");
    };
    assert_eq!(
        format!("the peer breaks the contract: {message}"),
        skew_message()
    );
    let err = trap_of(run(&runner, 2, 40).await)?;
    let message = format!("calc: {}", skew_message());
    assert_eq!(err, trap::Error::Unavailable { message });
    // Connected to the new peer, which saw no call.
    assert_eq!(session.generation(), 2);
    assert_eq!(peer.calls_received(), [1, 0]);
    // Nor can a new link be made against it.
    let linked = calc_client(&support::runtime()?, &session).await;
    let err = linked.expect_err("calc-client must not link against calc-skew");
    assert!(err.to_string().contains("expected s32, found s64"), "{err}");
    Ok(())
}

// ---- (d) the peer stays down ----------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_peer_that_stays_down_makes_calls_give_up_in_time() -> anyhow::Result<()> {
    let node_a = calc_node("calc-server").await?;
    let peer = TestPeer::serving(&node_a.server);
    let session = Session::connect(peer.clone(), config(3)).await?;
    let node_b = support::runtime()?;
    let runner = calc_client(&node_b, &session).await?;
    peer.crash();
    support::disconnected(&session.client()).await?;

    // Three refused attempts, 10 ms and 20 ms apart: given up after 30 ms.
    let started = support::now();
    let outcome = add(&session, 2, 40).await;
    let waited = started.elapsed();
    let Err(client::Error::Unreachable { attempts, cause }) = &outcome else {
        anyhow::bail!("expected Unreachable, got {outcome:?}");
    };
    assert_eq!(*attempts, 3);
    assert!(cause.contains("refused"), "{cause}");
    assert!(waited >= Duration::from_millis(30), "{waited:?}");
    assert!(waited < Duration::from_millis(40), "{waited:?}");
    assert_eq!(peer.attempts(), 1 + 3);

    // A call whose timeout ends first times out, at its timeout.
    let started = support::now();
    let timeout = Duration::from_millis(25);
    let method = add_method();
    let outcome = session
        .call_raw_with_timeout("calc", &method, &add_args(1, 2), timeout)
        .await;
    let waited = started.elapsed();
    assert!(
        matches!(outcome, Err(client::Error::Timeout)),
        "{outcome:?}"
    );
    assert!(waited >= timeout, "{waited:?}");
    assert!(waited < Duration::from_millis(30), "{waited:?}");

    // Through a guest: unavailable, saying why.
    let err = trap_of(run(&runner, 2, 40).await)?;
    let trap::Error::Unavailable { message } = &err else {
        anyhow::bail!("expected Unavailable, got {err:?}");
    };
    assert!(
        message.starts_with("calc: peer unreachable: 3 connect attempts failed"),
        "{message}"
    );
    assert_eq!(session.generation(), 1);
    assert_eq!(peer.calls_received(), [0]);

    // A session cannot start against a peer that is down.
    let refused = Session::connect(peer.clone(), config(2)).await;
    let Err(session::Error::Unreachable { attempts: 2, .. }) = refused else {
        anyhow::bail!("expected Unreachable after 2 attempts, got {refused:?}");
    };
    Ok(())
}

#[tokio::test]
async fn a_config_that_cannot_work_is_refused() -> anyhow::Result<()> {
    let peer = TestPeer::new(Deployment::Down);
    let cases = [
        config(0),
        session::Config {
            backoff_initial: Duration::from_secs(2),
            ..config(1)
        },
        session::Config {
            client: client::Config {
                pending_calls_max: 0,
                ..client::Config::default()
            },
            ..config(1)
        },
    ];
    for case in cases {
        let refused = Session::connect(peer.clone(), case.clone()).await;
        let Err(session::Error::Config { .. }) = refused else {
            anyhow::bail!("{case:?}: expected a config error, got {refused:?}");
        };
    }
    assert_eq!(peer.attempts(), 0);
    Ok(())
}
