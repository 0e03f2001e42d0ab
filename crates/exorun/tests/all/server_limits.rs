//! The server's limits, each a field of `server::Config`: what a peer (or many) can make it
//! hold stays within them. Outcomes kept for duplicates, per connection and over the node;
//! calls admitted and not started, per connection (the server stops reading) and over the node
//! (`Overloaded`); connections; a peer that does not read (disconnected after `send_timeout`);
//! a connection that does nothing (closed after `idle_timeout`). Virtual time throughout.

use std::sync::Arc;
use std::time::Duration;

use exorun::server::{self, Load};
use exorun::transport::{self, Transport};
use neorpc::FailureReason;
use neorpc::codec;
use neorpc::frame::{self, CallEncoder, Frame};
use neorpc::schema::Type;

use crate::server_faults::{
    KvNode, RawCaller, assert_protocol_failure, bump_call, bump_method, counter, failure_reason,
    key_args, kv_node_with, reply_u64,
};
use crate::support::{self, apps};

const KIB: usize = 1024;

/// `kv-ops.fetch(key)` as a `Call` frame.
fn fetch_call(seq: u64, key: &str) -> Vec<u8> {
    let method = server::method_name(&apps("kv-ops"), "fetch");
    CallEncoder::new(seq, "kv", &method, &key_args(key))
        .to_bytes()
        .unwrap()
}

/// A node whose KV holds a value of `len` bytes under "v".
async fn kv_node_holding(config: server::Config, len: usize) -> anyhow::Result<KvNode> {
    let node = kv_node_with(config).await?;
    node.kv.set("v".to_owned(), "x".repeat(len))?;
    Ok(node)
}

/// Fetches "v" as `seq` and returns the answer, a `Reply`.
async fn fetch(caller: &RawCaller, seq: u64) -> Vec<u8> {
    caller.send(&fetch_call(seq, "v")).await;
    let answer = caller.recv().await;
    let decoded = frame::decode(&answer);
    assert!(
        matches!(decoded, Ok(Frame::Reply { seq: got, .. }) if got == seq),
        "expected a Reply for {seq}, got {decoded:?}"
    );
    answer
}

// ---- the dedup window, in bytes ---------------------------------------------------------------

/// A connection keeps its outcomes within `dedup_window_bytes_max`: the oldest are let go, and
/// a copy of a call whose outcome was let go is refused, not run again.
#[tokio::test(start_paused = true)]
async fn a_connection_keeps_outcomes_within_its_bytes() -> anyhow::Result<()> {
    let window_bytes_max = 4 * KIB;
    let config = server::Config {
        dedup_window_bytes_max: window_bytes_max,
        ..server::Config::default()
    };
    let node = kv_node_holding(config, KIB).await?;
    let caller = RawCaller::connect(&node.server).await;
    let mut answers = Vec::new();
    for seq in 1..=16 {
        answers.push(fetch(&caller, seq).await);
        let kept = node.server.load().dedup_bytes;
        assert!(kept <= window_bytes_max as u64, "{kept} bytes kept");
    }
    caller.send(&fetch_call(1, "v")).await;
    assert_protocol_failure(&caller.recv().await, 1, "no longer keeps");
    caller.send(&fetch_call(16, "v")).await;
    assert_eq!(
        caller.recv().await,
        answers[15],
        "the newest outcome is kept"
    );
    let (_, stats) = caller.finish().await?;
    assert_eq!((stats.calls, stats.duplicates, stats.refused), (16, 1, 1));
    assert_eq!(node.server.load(), Load::default());
    Ok(())
}

/// The connections of a node keep outcomes within `dedup_node_bytes_max` together.
#[tokio::test(start_paused = true)]
async fn a_node_keeps_outcomes_within_its_bytes() -> anyhow::Result<()> {
    let node_bytes_max = 6 * KIB;
    let config = server::Config {
        dedup_window_bytes_max: 4 * KIB,
        dedup_node_bytes_max: node_bytes_max,
        ..server::Config::default()
    };
    let node = kv_node_holding(config, KIB).await?;
    let callers = [
        RawCaller::connect(&node.server).await,
        RawCaller::connect(&node.server).await,
    ];
    for seq in 1..=8 {
        for caller in &callers {
            fetch(caller, seq).await;
            let kept = node.server.load().dedup_bytes;
            assert!(kept <= node_bytes_max as u64, "{kept} bytes kept");
        }
    }
    assert!(
        node.server.load().dedup_bytes > 4 * KIB as u64,
        "both connections keep some"
    );
    for caller in callers {
        caller.finish().await?;
    }
    assert_eq!(node.server.load(), Load::default());
    Ok(())
}

// ---- calls admitted and not started -----------------------------------------------------------

/// At `admitted_bytes_max`, a connection is not read further: calls waiting for their instance
/// hold no more than that (one frame may take it past), whatever the peer sends.
#[tokio::test(start_paused = true)]
async fn a_connection_stops_reading_at_its_admitted_bytes() -> anyhow::Result<()> {
    let frame_len = bump_call(1, "n", None).len();
    let config = server::Config {
        admitted_bytes_max: 2 * frame_len,
        ..server::Config::default()
    };
    let load = reading_stops_at(config, 2).await?;
    assert_eq!(load.admitted_bytes, 2 * frame_len as u64, "{load:?}");
    Ok(())
}

/// At `calls_in_flight_max`, a connection is not read further until one of its calls ends.
#[tokio::test(start_paused = true)]
async fn a_connection_stops_reading_at_its_calls_in_flight() -> anyhow::Result<()> {
    let config = server::Config {
        calls_in_flight_max: 2,
        ..server::Config::default()
    };
    reading_stops_at(config, 2).await?;
    Ok(())
}

/// Sends six calls while their instance is held: the server, configured so, reads only
/// `running` of them (the load it shows then is returned); once the instance is free, every
/// call runs, in order, and the connection ends with nothing held.
async fn reading_stops_at(config: server::Config, running: u64) -> anyhow::Result<Load> {
    let node = kv_node_with(config).await?;
    let caller = RawCaller::connect(&node.server).await;
    let held = support::hold(&node.handle).await?;
    for seq in 1..=6 {
        caller.send(&bump_call(seq, "n", None)).await;
    }
    support::settle().await;
    let load = node.server.load();
    assert_eq!(load.calls_running, running, "{load:?}");
    held.release().await?;
    for seq in 1..=6 {
        assert_eq!(reply_u64(&caller.recv().await, seq), seq);
    }
    assert_eq!(counter(&node.kv, "n"), Some(6));
    caller.finish().await?;
    assert_eq!(node.server.load(), Load::default());
    Ok(load)
}

/// At `admitted_node_bytes_max` over every connection, a further call is refused with
/// `Overloaded`, at once, and not run; the calls admitted before run.
#[tokio::test(start_paused = true)]
async fn a_node_refuses_calls_beyond_its_admitted_bytes() -> anyhow::Result<()> {
    let frame_len = bump_call(1, "n", None).len();
    let config = server::Config {
        admitted_node_bytes_max: frame_len + frame_len / 2,
        ..server::Config::default()
    };
    let node = kv_node_with(config).await?;
    let (first, second) = (
        RawCaller::connect(&node.server).await,
        RawCaller::connect(&node.server).await,
    );
    let held = support::hold(&node.handle).await?;
    first.send(&bump_call(1, "n", None)).await;
    support::settle().await;
    second.send(&bump_call(1, "n", None)).await;
    assert_eq!(
        failure_reason(&second.recv().await, 1),
        FailureReason::Overloaded
    );
    // A copy gets the same answer; the call did not run.
    second.send(&bump_call(1, "n", None)).await;
    assert_eq!(
        failure_reason(&second.recv().await, 1),
        FailureReason::Overloaded
    );
    held.release().await?;
    assert_eq!(reply_u64(&first.recv().await, 1), 1);
    // Room again.
    second.send(&bump_call(2, "n", None)).await;
    assert_eq!(reply_u64(&second.recv().await, 2), 2);
    let (_, stats) = second.finish().await?;
    assert_eq!((stats.overloaded, stats.calls, stats.duplicates), (1, 1, 1));
    first.finish().await?;
    assert_eq!(node.server.load(), Load::default());
    Ok(())
}

// ---- connections ----------------------------------------------------------------------------

/// Past `connections_max`, a connection is refused at once; once one ends, the next is served.
#[tokio::test(start_paused = true)]
async fn connections_beyond_the_cap_are_refused() -> anyhow::Result<()> {
    let config = server::Config {
        connections_max: 2,
        ..server::Config::default()
    };
    let node = kv_node_with(config).await?;
    let first = RawCaller::connect(&node.server).await;
    let second = RawCaller::connect(&node.server).await;
    let (near, serving) = support::serve_duplex(&node.server);
    let refused = support::ended(serving).await;
    let Err(error) = refused else {
        anyhow::bail!("a third connection was served");
    };
    let error = error.downcast::<server::Error>()?;
    assert!(
        matches!(error, server::Error::ConnectionsFull { max: 2 }),
        "{error:?}"
    );
    assert_eq!(
        support::next_frame(&near).await?,
        None,
        "a refused connection gets no Hello"
    );
    first.finish().await?;
    let third = RawCaller::connect(&node.server).await;
    third.send(&bump_call(1, "n", None)).await;
    assert_eq!(reply_u64(&third.recv().await, 1), 1);
    for caller in [second, third] {
        caller.finish().await?;
    }
    assert_eq!(node.server.load(), Load::default());
    Ok(())
}

/// A connection that receives nothing and runs nothing for `idle_timeout` is closed; a call
/// that runs longer than that keeps it open, and so does a call that comes before it elapses.
#[tokio::test(start_paused = true)]
async fn an_idle_connection_is_closed() -> anyhow::Result<()> {
    let idle_timeout = Duration::from_secs(5);
    let config = server::Config {
        idle_timeout,
        ..server::Config::default()
    };
    let node = kv_node_with(config).await?;
    let caller = RawCaller::connect(&node.server).await;
    let held = support::hold(&node.handle).await?;
    caller.send(&bump_call(1, "n", None)).await;
    tokio::time::sleep(3 * idle_timeout).await;
    held.release().await?;
    assert_eq!(reply_u64(&caller.recv().await, 1), 1);
    // Activity puts the end off: it comes `idle_timeout` after the last call, not the connect.
    tokio::time::sleep(idle_timeout / 2).await;
    caller.send(&bump_call(2, "n", None)).await;
    assert_eq!(reply_u64(&caller.recv().await, 2), 2);
    let RawCaller { transport, serving } = caller;
    let ended = support::ended(serving).await;
    let Err(error) = ended else {
        anyhow::bail!("the idle connection ended otherwise: {ended:?}");
    };
    let error = error.downcast::<server::Error>()?;
    assert!(
        matches!(error, server::Error::Idle { timeout } if timeout == idle_timeout),
        "{error:?}"
    );
    assert_eq!(
        support::next_frame(&transport).await?,
        None,
        "the server hung up"
    );
    assert_eq!(node.server.load(), Load::default());
    Ok(())
}

// ---- a peer that does not read ----------------------------------------------------------------

/// A peer that sends calls and never reads their answers is disconnected after `send_timeout`;
/// another connection is served meanwhile, and the peer's calls that had not started by then
/// never run.
#[tokio::test(start_paused = true)]
async fn a_peer_that_does_not_read_is_disconnected() -> anyhow::Result<()> {
    let send_timeout = Duration::from_secs(2);
    let config = server::Config {
        send_timeout,
        ..server::Config::default()
    };
    let node = kv_node_with(config).await?;
    // Room for the Hello and one answer, both left unread.
    let (near, far) = transport::duplex_pair(2);
    let server = Arc::clone(&node.server);
    let serving = tokio::spawn(async move { server.serve(Arc::new(far)).await });
    for seq in 1..=3 {
        near.send(&bump_call(seq, "slow", None)).await?;
    }
    support::settle().await;
    // The three ran; the answers to 2 and 3 wait for a reader.
    assert_eq!(counter(&node.kv, "slow"), Some(3));
    let (other, _serving) = support::serve_duplex(&node.server);
    let other = support::client(Arc::new(other));
    let bumped = other
        .call_raw("kv", &bump_method(), &key_args("other"))
        .await?;
    assert_eq!(codec::decode_results(&bumped, &[Type::U64])?.len(), 1);
    // Call 4 waits for kv past the timeout.
    let held = support::hold(&node.handle).await?;
    near.send(&bump_call(4, "slow", None)).await?;
    tokio::time::sleep(2 * send_timeout).await;
    held.release().await?;
    let ended = support::ended(serving).await;
    let Err(error) = ended else {
        anyhow::bail!("the connection ended otherwise: {ended:?}");
    };
    let error = error.downcast::<server::Error>()?;
    assert!(
        matches!(error, server::Error::SendTimeout { timeout } if timeout == send_timeout),
        "{error:?}"
    );
    assert_eq!(
        counter(&node.kv, "slow"),
        Some(3),
        "call 4 ran for a peer that was gone"
    );
    drop((near, other));
    support::settle().await;
    assert_eq!(node.server.load(), Load::default());
    Ok(())
}
