//! The server against a misbehaving peer, frame by frame: a duplicated `Call` executes once
//! (a KV counter proves it), a call past its deadline or cancelled while it waits for the
//! instance is not started, and garbage or oversized frames are rejected without a panic and
//! without disturbing other calls or connections.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context as _;

use exorun::builder::InstanceBuilder;
use exorun::client::{self, Client};
use exorun::instance::InstanceHandle;
use exorun::runtime::Runtime;
use exorun::server::{self, ConnStats, Server};
use exorun::system::KvSystem;
use exorun::transport::{self, DuplexTransport, FRAME_SIZE_MAX_DEFAULT, TcpTransport, Transport};
use neorpc::FailureReason;
use neorpc::codec;
use neorpc::frame::{self, CallEncoder, Frame};
use neorpc::schema::Type;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use wasmtime::component::Val;

use crate::support::{self, Served, apps, string};

/// A node serving kv-user's `kv-ops` as "kv", backed by a KV system the test can read.
pub struct KvNode {
    _runtime: Runtime,
    pub kv: KvSystem,
    pub handle: InstanceHandle,
    pub server: Arc<Server>,
}

async fn kv_node() -> anyhow::Result<KvNode> {
    kv_node_with(server::Config::default()).await
}

/// A server configured so, exposing kv-user's `kv-ops` as "kv".
pub async fn kv_node_with(config: server::Config) -> anyhow::Result<KvNode> {
    let runtime = support::runtime()?;
    let kv = KvSystem::new();
    let app = support::register(&runtime, "kv-user")?;
    let handle = InstanceBuilder::new(&runtime, app)
        .system(kv.clone())
        .instantiate()
        .await?;
    let mut server = Server::new(config);
    server.expose("kv", &handle, &apps("kv-ops"))?;
    Ok(KvNode {
        _runtime: runtime,
        kv,
        handle,
        server: Arc::new(server),
    })
}

pub fn bump_method() -> String {
    server::method_name(&apps("kv-ops"), "bump")
}

pub fn key_args(key: &str) -> Vec<u8> {
    codec::encode_args(&[string(key)], &[Type::String]).unwrap()
}

/// `kv-ops.bump(key)` as a `Call` frame.
pub fn bump_call(seq: u64, key: &str, deadline_ms: Option<u64>) -> Vec<u8> {
    let (method, args) = (bump_method(), key_args(key));
    let mut call = CallEncoder::new(seq, "kv", &method, &args);
    if let Some(budget) = deadline_ms {
        call = call.with_deadline(budget);
    }
    call.to_bytes().unwrap()
}

/// The counter the KV system holds under `key`.
pub fn counter(kv: &KvSystem, key: &str) -> Option<u64> {
    kv.get(key).map(|text| text.parse().unwrap())
}

/// The caller's end of a connection to a real server, driven frame by frame.
pub struct RawCaller {
    pub transport: DuplexTransport,
    pub serving: JoinHandle<Served>,
}

impl RawCaller {
    /// Connects and reads the server's `Hello`.
    pub async fn connect(server: &Arc<Server>) -> RawCaller {
        let (transport, serving) = support::serve_duplex(server);
        RawCaller::hello(transport, serving).await
    }

    /// Takes over a connection being served, once it has sent its `Hello`.
    pub async fn hello(transport: DuplexTransport, serving: JoinHandle<Served>) -> RawCaller {
        let caller = RawCaller { transport, serving };
        let hello = caller.recv().await;
        assert!(
            matches!(frame::decode(&hello), Ok(Frame::Hello { .. })),
            "the server must open with Hello, got {hello:?}"
        );
        caller
    }

    /// Sends `bytes`; a failure, not a hang, if the server reads none of them in time.
    pub async fn send(&self, bytes: &[u8]) {
        let sent =
            tokio::time::timeout(support::CONNECTION_END_TIMEOUT, self.transport.send(bytes));
        let sent = sent.await.expect("the server reads no frame");
        sent.expect("send to the server");
    }

    /// The next frame from the server; a failure with a message, not a hang, if none comes
    /// (in virtual time, for the tests that pause it).
    pub async fn recv(&self) -> Vec<u8> {
        let received = tokio::time::timeout(support::CONNECTION_END_TIMEOUT, self.transport.recv());
        let received = received.await.expect("no frame from the server in time");
        let received = received.expect("recv from the server");
        received.expect("the server closed the stream")
    }

    /// Closes our sending side; returns every frame the server still sent and its counters.
    pub async fn finish(self) -> anyhow::Result<(Vec<Vec<u8>>, ConnStats)> {
        self.transport.close();
        let mut rest = Vec::new();
        while let Some(bytes) = support::next_frame(&self.transport).await? {
            rest.push(bytes);
        }
        let stats = support::ended(self.serving).await?;
        Ok((rest, stats))
    }
}

/// The one u64 a `Reply` for `seq` carries.
pub fn reply_u64(bytes: &[u8], seq: u64) -> u64 {
    let decoded = frame::decode(bytes).expect("a well-formed frame");
    let Frame::Reply { seq: got, results } = decoded else {
        panic!("expected a Reply for {seq}, got {decoded:?}");
    };
    assert_eq!(got, seq);
    let vals = codec::decode_results(results, &[Type::U64]).unwrap();
    let [Val::U64(n)] = vals[..] else {
        panic!("expected one u64, got {vals:?}");
    };
    n
}

/// The reason of a `Failure` for `seq`.
pub fn failure_reason(bytes: &[u8], seq: u64) -> FailureReason {
    let decoded = frame::decode(bytes).expect("a well-formed frame");
    let Frame::Failure { seq: got, reason } = decoded else {
        panic!("expected a Failure for {seq}, got {decoded:?}");
    };
    assert_eq!(got, seq);
    reason
}

// ---- duplicates -----------------------------------------------------------------------------

#[tokio::test]
async fn a_duplicated_call_after_its_outcome_gets_the_same_bytes_and_runs_once()
-> anyhow::Result<()> {
    let node = kv_node().await?;
    let caller = RawCaller::connect(&node.server).await;
    let call = bump_call(1, "n", None);
    caller.send(&call).await;
    let first = caller.recv().await;
    assert_eq!(reply_u64(&first, 1), 1);
    caller.send(&call).await;
    let second = caller.recv().await;
    assert_eq!(
        second, first,
        "the copy must get the very same outcome frame"
    );
    assert_eq!(counter(&node.kv, "n"), Some(1));
    // A new seq runs.
    caller.send(&bump_call(2, "n", None)).await;
    assert_eq!(reply_u64(&caller.recv().await, 2), 2);
    assert_eq!(counter(&node.kv, "n"), Some(2));
    let (rest, stats) = caller.finish().await?;
    assert_eq!(rest, Vec::<Vec<u8>>::new());
    let expected = ConnStats {
        calls: 2,
        duplicates: 1,
        ..ConnStats::default()
    };
    assert_eq!(stats, expected);
    Ok(())
}

/// The copy arrives while the original may still run: it is dropped then, or answered with
/// the same bytes after; either way the call runs once.
#[tokio::test]
async fn a_duplicated_call_back_to_back_runs_once() -> anyhow::Result<()> {
    let node = kv_node().await?;
    let caller = RawCaller::connect(&node.server).await;
    let call = bump_call(1, "n", None);
    caller.send(&call).await;
    caller.send(&call).await;
    caller.send(&bump_call(2, "n", None)).await;
    let (frames, stats) = caller.finish().await?;
    let mut by_seq: BTreeMap<u64, Vec<Vec<u8>>> = BTreeMap::new();
    for bytes in frames {
        let seq = frame::decode(&bytes)
            .unwrap()
            .seq()
            .expect("an outcome has a seq");
        by_seq.entry(seq).or_default().push(bytes);
    }
    let (firsts, seconds) = (&by_seq[&1], &by_seq[&2]);
    assert!(matches!(firsts.len(), 1 | 2), "{firsts:?}");
    assert!(firsts.iter().all(|f| *f == firsts[0]), "copies differ");
    assert_eq!(seconds.len(), 1);
    let mut values = [reply_u64(&firsts[0], 1), reply_u64(&seconds[0], 2)];
    values.sort_unstable();
    assert_eq!(values, [1, 2]);
    assert_eq!(counter(&node.kv, "n"), Some(2));
    let expected = ConnStats {
        calls: 2,
        duplicates: 1,
        ..ConnStats::default()
    };
    assert_eq!(stats, expected);
    Ok(())
}

/// Duplicates are per connection: the same seq from another caller is another call.
#[tokio::test]
async fn the_same_seq_on_another_connection_is_another_call() -> anyhow::Result<()> {
    let node = kv_node().await?;
    let (one, two) = (
        RawCaller::connect(&node.server).await,
        RawCaller::connect(&node.server).await,
    );
    one.send(&bump_call(1, "n", None)).await;
    assert_eq!(reply_u64(&one.recv().await, 1), 1);
    two.send(&bump_call(1, "n", None)).await;
    assert_eq!(reply_u64(&two.recv().await, 1), 2);
    assert_eq!(counter(&node.kv, "n"), Some(2));
    for caller in [one, two] {
        let (_, stats) = caller.finish().await?;
        assert_eq!((stats.calls, stats.duplicates), (1, 0));
    }
    Ok(())
}

// ---- deadlines ------------------------------------------------------------------------------

#[tokio::test]
async fn a_call_past_its_deadline_is_refused_and_not_run() -> anyhow::Result<()> {
    let node = kv_node().await?;
    let caller = RawCaller::connect(&node.server).await;
    caller.send(&bump_call(1, "n", Some(0))).await;
    let refused = failure_reason(&caller.recv().await, 1);
    assert_eq!(refused, FailureReason::DeadlineExceeded);
    assert_eq!(counter(&node.kv, "n"), None, "a refused call must not run");
    // The largest budget a peer can send is no deadline in practice, and no overflow.
    caller.send(&bump_call(2, "n", Some(u64::MAX))).await;
    assert_eq!(reply_u64(&caller.recv().await, 2), 1);
    caller.send(&bump_call(3, "n", Some(60_000))).await;
    assert_eq!(reply_u64(&caller.recv().await, 3), 2);
    let (_, stats) = caller.finish().await?;
    let expected = ConnStats {
        calls: 3,
        deadline_exceeded: 1,
        ..ConnStats::default()
    };
    assert_eq!(stats, expected);
    Ok(())
}

// ---- cancellation ---------------------------------------------------------------------------

/// `calc.add(a, b)` as a `Call` frame for the target "calc".
fn add_call(seq: u64, a: i32, b: i32) -> Vec<u8> {
    let method = server::method_name(&apps("calc"), "add");
    let args = [Val::S32(a), Val::S32(b)];
    let args = codec::encode_args(&args, &[Type::S32, Type::S32]).unwrap();
    CallEncoder::new(seq, "calc", &method, &args)
        .to_bytes()
        .unwrap()
}

fn cancel_frame(seq: u64) -> Vec<u8> {
    let mut cancel = neopack::Encoder::new();
    frame::encode_cancel(&mut cancel, seq).unwrap();
    cancel.into_bytes().unwrap()
}

/// A call waiting for its instance's lock when its Cancel arrives never starts and is never
/// answered; the calls behind it run.
#[tokio::test]
async fn a_call_cancelled_while_it_waits_for_the_instance_never_starts() -> anyhow::Result<()> {
    let runtime = support::runtime()?;
    let kv = KvSystem::new();
    let app = support::register(&runtime, "kv-user")?;
    let kv_user = InstanceBuilder::new(&runtime, app).system(kv.clone());
    let kv_user = kv_user.instantiate().await?;
    let calc = support::instantiate(&runtime, "calc-server").await?;
    let mut server = Server::new(server::Config::default());
    server.expose("kv", &kv_user, &apps("kv-ops"))?;
    server.expose("calc", &calc, &apps("calc"))?;
    let caller = RawCaller::connect(&Arc::new(server)).await;

    // Someone else holds kv-user until told to let go.
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let (holding, held) = tokio::sync::oneshot::channel::<()>();
    let holder = kv_user.clone();
    let holder = tokio::spawn(async move {
        holder
            .exec_async(move |_| {
                Box::pin(async move {
                    let _ = holding.send(());
                    let _ = released.await;
                })
            })
            .await
    });
    held.await?;
    caller.send(&bump_call(1, "cancelled", None)).await;
    caller.send(&cancel_frame(1)).await;
    // The server reads frames in order: once calc answers, it has seen the Cancel.
    caller.send(&add_call(2, 40, 2)).await;
    let answered = caller.recv().await;
    let answered = frame::decode(&answered)?;
    let Frame::Reply { seq: 2, results } = answered else {
        anyhow::bail!("expected calc's Reply for 2, got {answered:?}");
    };
    assert_eq!(
        codec::decode_results(results, &[Type::S32])?,
        vec![Val::S32(42)]
    );
    caller.send(&bump_call(3, "after", None)).await;
    let _ = release.send(());
    holder.await??;
    // Call 1 was first in line for the lock: had it been answered, it would come first.
    assert_eq!(reply_u64(&caller.recv().await, 3), 1);
    assert_eq!(counter(&kv, "cancelled"), None, "the cancelled call ran");
    assert_eq!(counter(&kv, "after"), Some(1));
    let (rest, stats) = caller.finish().await?;
    assert_eq!(
        rest,
        Vec::<Vec<u8>>::new(),
        "the cancelled call was answered"
    );
    assert_eq!(stats.cancelled, 1);
    Ok(())
}

// ---- garbage --------------------------------------------------------------------------------

/// Frames that do not decode: empty, not neopack, a value that is no frame, an unknown kind,
/// every strict prefix of a valid `Call`.
fn garbage_frames() -> Vec<Vec<u8>> {
    let mut frames = vec![
        Vec::new(),
        vec![0xFF; 7],
        b"GET / HTTP/1.1\r\n\r\n".to_vec(),
    ];
    let mut not_a_frame = neopack::Encoder::new();
    not_a_frame.u64(42).unwrap();
    frames.push(not_a_frame.into_bytes().unwrap());
    let mut unknown_kind = neopack::Encoder::new();
    unknown_kind.variant_begin(99).unwrap();
    unknown_kind.unit().unwrap();
    unknown_kind.variant_end().unwrap();
    frames.push(unknown_kind.into_bytes().unwrap());
    let call = bump_call(7, "n", None);
    frames.extend((1..call.len()).map(|n| call[..n].to_vec()));
    frames
}

/// Well-formed frames a server does not act on: answers (counted as unexpected), and a Hello
/// and a Cancel for no call (ignored).
fn stray_frames() -> (Vec<Vec<u8>>, u64) {
    let mut reply = neopack::Encoder::new();
    frame::encode_reply(&mut reply, 1, &codec::encode_results(&[], &[]).unwrap()).unwrap();
    let mut failure = neopack::Encoder::new();
    frame::encode_failure(&mut failure, 2, &FailureReason::OutOfFuel).unwrap();
    let mut hello = neopack::Encoder::new();
    frame::encode_hello(&mut hello, frame::VERSION, "peer", &[0x00]).unwrap();
    let mut cancel = neopack::Encoder::new();
    frame::encode_cancel(&mut cancel, 12345).unwrap();
    let frames = [reply, failure, hello, cancel].map(|enc| enc.into_bytes().unwrap());
    (frames.to_vec(), 2)
}

#[tokio::test]
async fn garbage_frames_are_counted_and_the_connection_goes_on() -> anyhow::Result<()> {
    let node = kv_node().await?;
    let caller = RawCaller::connect(&node.server).await;
    caller.send(&bump_call(1, "n", None)).await;
    assert_eq!(reply_u64(&caller.recv().await, 1), 1);
    let garbage = garbage_frames();
    for bytes in &garbage {
        caller.send(bytes).await;
    }
    let (stray, unexpected) = stray_frames();
    for bytes in &stray {
        caller.send(bytes).await;
    }
    caller.send(&bump_call(2, "n", None)).await;
    assert_eq!(reply_u64(&caller.recv().await, 2), 2);
    let (rest, stats) = caller.finish().await?;
    assert_eq!(rest, Vec::<Vec<u8>>::new(), "garbage must get no answer");
    let expected = ConnStats {
        calls: 2,
        malformed: garbage.len() as u64,
        unexpected,
        ..ConnStats::default()
    };
    assert_eq!(stats, expected);
    assert_eq!(counter(&node.kv, "n"), Some(2));
    Ok(())
}

// ---- the caller's Hello ---------------------------------------------------------------------

/// How the connection ended; waiting at most `CONNECTION_END_TIMEOUT` (a server that goes on
/// reading fails the test with a message instead of hanging it).
async fn served(caller: RawCaller) -> anyhow::Result<support::Served> {
    let ended = tokio::time::timeout(support::CONNECTION_END_TIMEOUT, caller.serving).await;
    Ok(ended.map_err(|_| anyhow::anyhow!("the server went on reading the connection"))??)
}

fn hello_frame(version: u32) -> Vec<u8> {
    let mut hello = neopack::Encoder::new();
    frame::encode_hello(&mut hello, version, "caller", &[0x00]).unwrap();
    hello.into_bytes().unwrap()
}

#[tokio::test]
async fn a_caller_hello_of_our_version_is_accepted_once() -> anyhow::Result<()> {
    let node = kv_node().await?;
    let caller = RawCaller::connect(&node.server).await;
    caller.send(&hello_frame(frame::VERSION)).await;
    caller.send(&bump_call(1, "n", None)).await;
    assert_eq!(reply_u64(&caller.recv().await, 1), 1);
    // A second Hello breaks the handshake: the server stops reading this connection.
    caller.send(&hello_frame(frame::VERSION)).await;
    caller.send(&bump_call(2, "n", None)).await;
    let served = served(caller).await?;
    let Err(server::Error::Handshake(err)) = served else {
        anyhow::bail!("a second Hello must end the connection, got {served:?}");
    };
    assert_eq!(err, neorpc::Error::SecondHello);
    assert_eq!(
        server::Error::Handshake(err).to_string(),
        "the peer's Hello: the peer sent a second Hello"
    );
    assert_eq!(counter(&node.kv, "n"), Some(1), "a call after it ran");
    Ok(())
}

#[tokio::test]
async fn a_caller_hello_of_another_version_ends_the_connection() -> anyhow::Result<()> {
    let node = kv_node().await?;
    let caller = RawCaller::connect(&node.server).await;
    let other_version = frame::VERSION + 1;
    caller.send(&hello_frame(other_version)).await;
    caller.send(&bump_call(1, "n", None)).await;
    let served = served(caller).await?;
    let Err(server::Error::Handshake(err)) = served else {
        anyhow::bail!("a Hello of version {other_version} must end the connection, got {served:?}");
    };
    let expected = neorpc::Error::Version {
        peer: other_version,
        ours: frame::VERSION,
    };
    assert_eq!(err, expected);
    assert_eq!(counter(&node.kv, "n"), None, "a call after it ran");
    Ok(())
}

/// Writes `frame` to a raw socket as the TCP transport frames it: u32 LE length, then bytes.
async fn write_framed(stream: &mut TcpStream, frame: &[u8]) {
    let len = u32::try_from(frame.len()).unwrap();
    stream.write_all(&len.to_le_bytes()).await.unwrap();
    stream.write_all(frame).await.unwrap();
}

/// `bump("n")` through a client.
async fn bump(client: &Client) -> anyhow::Result<u64> {
    let results = client
        .call_raw("kv", &bump_method(), &key_args("n"))
        .await?;
    let vals = codec::decode_results(&results, &[Type::U64])?;
    let [Val::U64(n)] = vals[..] else {
        anyhow::bail!("expected one u64, got {vals:?}");
    };
    Ok(n)
}

#[tokio::test]
async fn garbage_over_tcp_is_counted_and_the_connection_goes_on() -> anyhow::Result<()> {
    let node = kv_node().await?;
    let (addr, mut ended) = support::listen(&node.server).await?;
    let mut stream = TcpStream::connect(addr).await?;
    let garbage = garbage_frames();
    for bytes in &garbage {
        write_framed(&mut stream, bytes).await;
    }
    stream.flush().await?;
    // The same socket, now spoken to properly (the server's Hello still waits in it).
    let transport = TcpTransport::from_stream(stream)?;
    let caller = transport.local_addr();
    let client = support::client(Arc::new(transport));
    assert_eq!(bump(&client).await?, 1);
    assert_eq!(bump(&client).await?, 2);
    drop(client);
    let (peer, served) = support::next_ended(&mut ended).await?;
    assert_eq!(peer, caller);
    let expected = ConnStats {
        calls: 2,
        malformed: garbage.len() as u64,
        ..ConnStats::default()
    };
    assert_eq!(served?, expected);
    Ok(())
}

#[tokio::test]
async fn an_oversized_frame_ends_only_its_own_connection() -> anyhow::Result<()> {
    let node = kv_node().await?;
    let (addr, mut ended) = support::listen(&node.server).await?;
    let good = support::client(Arc::new(TcpTransport::connect(addr).await?));
    assert_eq!(bump(&good).await?, 1);
    let frame_size_max = u32::try_from(FRAME_SIZE_MAX_DEFAULT)?;
    for announced in [frame_size_max + 1, u32::MAX] {
        let mut bad = TcpStream::connect(addr).await?;
        let bad_addr = bad.local_addr()?;
        bad.write_all(&announced.to_le_bytes()).await?;
        bad.flush().await?;
        let (peer, served) = support::next_ended(&mut ended).await?;
        assert_eq!(peer, bad_addr);
        let Err(server::Error::Transport(transport::Error::FrameTooLarge { size, max })) = served
        else {
            anyhow::bail!("expected FrameTooLarge, got {served:?}");
        };
        assert_eq!((size, max), (u64::from(announced), FRAME_SIZE_MAX_DEFAULT));
        // The server hung up on it: its Hello, then the end of the stream.
        let bad = TcpTransport::from_stream(bad)?;
        let hello = support::next_frame(&bad)
            .await?
            .expect("the server's Hello");
        assert!(matches!(frame::decode(&hello), Ok(Frame::Hello { .. })));
        assert_eq!(support::next_frame(&bad).await?, None);
        // The other connection did not notice.
        assert!(!good.is_disconnected());
        assert_eq!(bump(&good).await?, 2 + u64::from(announced == u32::MAX));
    }
    assert_eq!(good.pending_len(), 0);
    assert_eq!(counter(&node.kv, "n"), Some(3));
    Ok(())
}

// ---- at most once, at the window's edges ----------------------------------------------------

fn window_of(entries: usize) -> server::Config {
    server::Config {
        dedup_window_max: entries,
        ..server::Config::default()
    }
}

/// A `Protocol` failure for `seq` whose message contains `words`.
pub fn assert_protocol_failure(bytes: &[u8], seq: u64, words: &str) {
    let reason = failure_reason(bytes, seq);
    let FailureReason::Protocol(message) = &reason else {
        panic!("expected a Protocol failure for {seq}, got {reason:?}");
    };
    assert!(message.contains(words), "{message:?} should say {words:?}");
}

/// The window evicts in the order outcomes were kept, not by seq: the oldest outcome goes
/// first, and a copy of a call still in the window gets its outcome again.
#[tokio::test]
async fn the_window_evicts_its_oldest_outcome_not_its_smallest_seq() -> anyhow::Result<()> {
    let node = kv_node_with(window_of(2)).await?;
    let caller = RawCaller::connect(&node.server).await;
    let mut firsts = BTreeMap::new();
    for (seq, value) in [(10, 1), (5, 2), (7, 3)] {
        caller.send(&bump_call(seq, "n", None)).await;
        let answer = caller.recv().await;
        assert_eq!(reply_u64(&answer, seq), value);
        firsts.insert(seq, answer);
    }
    // 10 was kept first: it is the one evicted, though 5 is smaller.
    caller.send(&bump_call(5, "n", None)).await;
    assert_eq!(caller.recv().await, firsts[&5], "5 is still in the window");
    caller.send(&bump_call(10, "n", None)).await;
    assert_protocol_failure(&caller.recv().await, 10, "refused");
    assert_eq!(counter(&node.kv, "n"), Some(3), "a copy ran again");
    let (rest, stats) = caller.finish().await?;
    assert_eq!(rest, Vec::<Vec<u8>>::new());
    assert_eq!((stats.calls, stats.duplicates, stats.refused), (3, 1, 1));
    Ok(())
}

/// A copy that arrives after its call left the window is refused, never executed again:
/// seqs on a connection increase, so a seq at or below the newest evicted one that the window
/// does not hold has been seen.
#[tokio::test]
async fn a_duplicate_after_its_eviction_is_refused_not_executed() -> anyhow::Result<()> {
    let node = kv_node_with(window_of(2)).await?;
    let caller = RawCaller::connect(&node.server).await;
    for seq in 1..=3 {
        caller.send(&bump_call(seq, "n", None)).await;
        assert_eq!(reply_u64(&caller.recv().await, seq), seq);
    }
    caller.send(&bump_call(1, "n", None)).await;
    assert_protocol_failure(&caller.recv().await, 1, "refused");
    assert_eq!(
        counter(&node.kv, "n"),
        Some(3),
        "the evicted call ran again"
    );
    // Later seqs still run.
    caller.send(&bump_call(4, "n", None)).await;
    assert_eq!(reply_u64(&caller.recv().await, 4), 4);
    let (_, stats) = caller.finish().await?;
    assert_eq!((stats.calls, stats.refused), (4, 1));
    Ok(())
}

/// A copy of a call that was cancelled before it started does not run either: the cancelled
/// call stays in the window, and its copy, like it, gets no answer. In paused time, so that the
/// server has read the `Cancel` (every task waits) before the instance is let go.
#[tokio::test(start_paused = true)]
async fn a_duplicate_after_a_cancel_does_not_run() -> anyhow::Result<()> {
    let runtime = support::runtime()?;
    let kv = KvSystem::new();
    let app = support::register(&runtime, "kv-user")?;
    let kv_user = InstanceBuilder::new(&runtime, app).system(kv.clone());
    let kv_user = kv_user.instantiate().await?;
    let mut server = Server::new(server::Config::default());
    server.expose("kv", &kv_user, &apps("kv-ops"))?;
    let caller = RawCaller::connect(&Arc::new(server)).await;
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let (holding, held) = tokio::sync::oneshot::channel::<()>();
    let holder = kv_user.clone();
    let holder = tokio::spawn(async move {
        holder
            .exec_async(move |_| {
                Box::pin(async move {
                    let _ = holding.send(());
                    let _ = released.await;
                })
            })
            .await
    });
    held.await?;
    caller.send(&bump_call(1, "cancelled", None)).await;
    caller.send(&cancel_frame(1)).await;
    caller.send(&bump_call(2, "after", None)).await;
    support::settle().await;
    let _ = release.send(());
    holder.await??;
    assert_eq!(reply_u64(&caller.recv().await, 2), 1);
    // The copy arrives after the cancelled call was let go.
    caller.send(&bump_call(1, "cancelled", None)).await;
    caller.send(&bump_call(3, "after", None)).await;
    assert_eq!(reply_u64(&caller.recv().await, 3), 2);
    assert_eq!(
        counter(&kv, "cancelled"),
        None,
        "the copy of a cancelled call ran"
    );
    let (rest, stats) = caller.finish().await?;
    assert_eq!(
        rest,
        Vec::<Vec<u8>>::new(),
        "the cancelled call was answered"
    );
    assert_eq!((stats.cancelled, stats.duplicates), (1, 1));
    Ok(())
}

/// A seq used again for another call (other arguments) is a protocol error: it neither runs
/// nor gets the first call's outcome.
#[tokio::test]
async fn a_reused_seq_with_other_arguments_is_a_protocol_error() -> anyhow::Result<()> {
    let node = kv_node().await?;
    let caller = RawCaller::connect(&node.server).await;
    caller.send(&bump_call(1, "a", None)).await;
    assert_eq!(reply_u64(&caller.recv().await, 1), 1);
    caller.send(&bump_call(1, "b", None)).await;
    assert_protocol_failure(&caller.recv().await, 1, "seq 1");
    assert_eq!(counter(&node.kv, "a"), Some(1));
    assert_eq!(counter(&node.kv, "b"), None, "the reused seq ran");
    // An exact copy still gets the first outcome.
    caller.send(&bump_call(1, "a", None)).await;
    assert_eq!(reply_u64(&caller.recv().await, 1), 1);
    let (_, stats) = caller.finish().await?;
    assert_eq!((stats.calls, stats.duplicates, stats.refused), (1, 1, 1));
    Ok(())
}

// ---- answers that cannot be sent, calls that cannot be read ----------------------------------

/// A reply over the transport's frame limit is replaced by a `Failure` for the same call that
/// says how large the result was and what the limit is; the caller does not wait out its
/// timeout. A copy of the call gets the same failure.
#[tokio::test(start_paused = true)]
async fn a_reply_over_the_frame_limit_becomes_a_failure_for_its_call() -> anyhow::Result<()> {
    let node = kv_node().await?;
    let big = "x".repeat(60 * 1024);
    node.kv.set("big".to_owned(), big)?;
    let frame_size_max = 32 * 1024;
    let withheld = Arc::new(Withheld::default());
    let (client, serving) = limited_connection(&node, frame_size_max, &withheld);
    let method = server::method_name(&apps("kv-ops"), "fetch");
    let fetched = client.call_raw("kv", &method, &key_args("big")).await;
    let Err(client::Error::Failed(FailureReason::Protocol(message))) = fetched else {
        anyhow::bail!("expected a Protocol failure, got {fetched:?}");
    };
    assert!(message.contains("too large"), "{message}");
    assert!(message.contains(&frame_size_max.to_string()), "{message}");
    let size = message
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|word| word.parse::<usize>().ok())
        .find(|n| *n > frame_size_max);
    assert!(
        size.is_some(),
        "the message names the result's size: {message}"
    );
    // A small result on the same connection still arrives.
    let fetched = client.call_raw("kv", &method, &key_args("none")).await?;
    let vals = codec::decode_results(&fetched, &[Type::Option(Box::new(Type::String))])?;
    assert_eq!(vals, [Val::Option(None)]);
    drop(client);
    let stats = support::ended(serving).await?;
    assert_eq!(stats.too_large, 1);
    // The observer hears the failure that was sent, not the reply that was too large.
    assert_eq!(*withheld.answers.lock().unwrap(), [(1, false), (2, true)]);
    Ok(())
}

/// A reply exactly at the transport's frame limit is sent as it is.
#[tokio::test(start_paused = true)]
async fn a_reply_at_the_frame_limit_is_sent() -> anyhow::Result<()> {
    let node = kv_node().await?;
    let value = "x".repeat(1000);
    node.kv.set("edge".to_owned(), value.clone())?;
    let optional = [Type::Option(Box::new(Type::String))];
    let results = codec::encode_results(&[support::some_string(&value)], &optional)?;
    let mut reply = neopack::Encoder::new();
    frame::encode_reply(&mut reply, 1, &results)?;
    let frame_size_max = reply.into_bytes()?.len();
    let withheld = Arc::new(Withheld::default());
    let (client, serving) = limited_connection(&node, frame_size_max, &withheld);
    let method = server::method_name(&apps("kv-ops"), "fetch");
    let fetched = client.call_raw("kv", &method, &key_args("edge")).await?;
    assert_eq!(fetched, results);
    drop(client);
    assert_eq!(support::ended(serving).await?.too_large, 0);
    Ok(())
}

/// A client on a connection to `node` whose transport takes frames of up to `frame_size_max`
/// bytes, served with `withheld` observing, and the task serving it.
fn limited_connection(
    node: &KvNode,
    frame_size_max: usize,
    withheld: &Arc<Withheld>,
) -> (Client, JoinHandle<Served>) {
    let (near, far) = transport::duplex_pair_with_frame_size_max(8, frame_size_max);
    let observer = Arc::clone(withheld) as Arc<dyn server::Observe>;
    let server = Arc::clone(&node.server);
    let serving =
        tokio::spawn(async move { server.serve_observed(Arc::new(far), Some(observer)).await });
    (support::client(Arc::new(near)), serving)
}

/// A `Call` frame that does not decode, but whose seq can be read, is answered with a protocol
/// failure for that seq, naming what was wrong; one answer per seq.
#[tokio::test(start_paused = true)]
async fn a_malformed_call_with_a_readable_seq_gets_a_protocol_failure() -> anyhow::Result<()> {
    let node = kv_node().await?;
    let caller = RawCaller::connect(&node.server).await;
    let mut bad = neopack::Encoder::new();
    bad.variant_begin(frame::kind::CALL)?;
    bad.list_begin()?;
    bad.u64(4)?;
    bad.str("kv")?;
    bad.str(&bump_method())?;
    // The deadline is an option: case 7 does not exist.
    bad.variant_begin(7)?;
    bad.unit()?;
    bad.variant_end()?;
    bad.raw_bytes(&key_args("n"))?;
    bad.list_end()?;
    bad.variant_end()?;
    let bad = bad.into_bytes()?;
    caller.send(&bad).await;
    assert_protocol_failure(&caller.recv().await, 4, "deadline");
    // Its copy gets nothing more; a call on the next seq runs.
    caller.send(&bad).await;
    caller.send(&bump_call(5, "n", None)).await;
    assert_eq!(reply_u64(&caller.recv().await, 5), 1);
    let (rest, stats) = caller.finish().await?;
    assert_eq!(rest, Vec::<Vec<u8>>::new());
    assert_eq!((stats.calls, stats.malformed), (1, 2));
    Ok(())
}

// ---- one peer's sends hold up no one else -----------------------------------------------------

/// Connection A asks for answers it does not read: a duplicate's answer fills its queue, then
/// another duplicate's answer has to wait. Meanwhile A's call 3 was first in line for calc's
/// lock. Client B, on its own connection, still gets calc: A's waiting answer does not stop
/// A's call 3 from running and letting go of the lock.
#[tokio::test(start_paused = true)]
async fn a_peer_that_reads_no_answers_freezes_no_instance() -> anyhow::Result<()> {
    let runtime = support::runtime()?;
    let calc = support::instantiate(&runtime, "calc-server").await?;
    let server = support::exposing("calc", &calc, "calc")?;
    // Connection A holds one frame each way.
    let (a, far) = transport::duplex_pair(1);
    let serving = Arc::clone(&server);
    let _serving_a = tokio::spawn(async move { serving.serve(Arc::new(far)).await });
    support::next_frame(&a).await?.context("A's Hello")?;
    a.send(&add_call(1, 1, 1)).await?;
    support::next_frame(&a).await?.context("the reply to 1")?;
    // The copy's answer fills A's queue; A reads no more.
    a.send(&add_call(1, 1, 1)).await?;
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let (holding, held) = tokio::sync::oneshot::channel::<()>();
    let holder = calc.clone();
    let holder = tokio::spawn(async move {
        holder
            .exec_async(move |_| {
                Box::pin(async move {
                    let _ = holding.send(());
                    let _ = released.await;
                })
            })
            .await
    });
    held.await?;
    a.send(&add_call(3, 2, 2)).await?;
    a.send(&add_call(1, 1, 1)).await?;
    for _ in 0..8 {
        tokio::task::yield_now().await;
    }
    let _ = release.send(());
    holder.await??;
    let (b, _serving_b) = support::connect_duplex(&server);
    let method = server::method_name(&apps("calc"), "add");
    let sum = b
        .call_with_timeout(
            "calc",
            &method,
            &[Val::S32(1), Val::S32(2)],
            &[Type::S32, Type::S32],
            &[Type::S32],
            std::time::Duration::from_secs(10),
        )
        .await;
    assert_eq!(sum?, [Val::S32(3)], "B could not get calc");
    drop(a);
    Ok(())
}

// ---- what a peer learns -----------------------------------------------------------------------

/// Keeps the details a server withholds from its peers, for its log.
#[derive(Default)]
struct Withheld {
    details: std::sync::Mutex<Vec<(u64, String)>>,
    /// Each answer as `answered` heard it: its seq, and whether it was a `Reply`.
    answers: std::sync::Mutex<Vec<(u64, bool)>>,
}

impl server::Observe for Withheld {
    fn executing(&self, _seq: u64, _target: &str, _method: &str) {}

    fn answered(&self, seq: u64, reply: bool) {
        self.answers.lock().unwrap().push((seq, reply));
    }

    fn duplicate(&self, _seq: u64) {}

    fn failure_detail(&self, seq: u64, detail: &str) {
        self.details.lock().unwrap().push((seq, detail.to_owned()));
    }
}

/// A host failure reaches a remote caller as its reason and a message meant for it; the host's
/// own text (here the KV system's error, naming the key) stays on the node, for its log.
#[tokio::test]
async fn a_host_failure_reaches_the_peer_without_the_hosts_text() -> anyhow::Result<()> {
    let node = kv_node().await?;
    node.kv.set("n".to_owned(), "not a number".to_owned())?;
    let (near, far) = transport::duplex_pair(8);
    let withheld = Arc::new(Withheld::default());
    let observer = Arc::clone(&withheld) as Arc<dyn server::Observe>;
    let server = Arc::clone(&node.server);
    let serving =
        tokio::spawn(async move { server.serve_observed(Arc::new(far), Some(observer)).await });
    let client = support::client(Arc::new(near));
    let bumped = bump(&client).await;
    let Err(error) = bumped else {
        anyhow::bail!("bumping a value that is no counter succeeded");
    };
    let client::Error::Failed(reason) = error.downcast::<client::Error>()? else {
        anyhow::bail!("expected a failure from the peer");
    };
    assert_eq!(reason, FailureReason::AppTrapped("host error".to_owned()));
    let details = withheld.details.lock().unwrap().clone();
    let expected = "host error: kv: the value under `n` is not a counter".to_owned();
    assert_eq!(details, [(1, expected)]);
    drop(client);
    support::ended(serving).await?;
    Ok(())
}

/// The server keeps the configuration it was given, and prints its node and targets.
#[tokio::test]
async fn a_server_keeps_and_shows_its_configuration() -> anyhow::Result<()> {
    let config = server::Config {
        node: "node-a".to_owned(),
        dedup_window_max: 3,
        ..server::Config::default()
    };
    let node = kv_node_with(config).await?;
    assert_eq!(node.server.config().node, "node-a");
    assert_eq!(node.server.config().dedup_window_max, 3);
    let shown = format!("{:?}", node.server);
    for needed in ["\"node-a\"", "dedup_window_max: 3", "targets: [\"kv\"]"] {
        assert!(shown.contains(needed), "{shown} lacks {needed}");
    }
    Ok(())
}

/// A target name serves one instance: exposing an interface twice, or another instance's
/// interface under the same name, is refused; the first exposure stays as it was.
#[tokio::test]
async fn a_target_name_serves_one_instance_and_each_interface_once() -> anyhow::Result<()> {
    let runtime = support::runtime()?;
    let calc = support::instantiate(&runtime, "calc-server").await?;
    let auth = support::instantiate(&runtime, "auth-server").await?;
    let mut server = Server::new(server::Config::default());
    server.expose("t", &calc, &apps("calc"))?;
    for (handle, interface) in [(&calc, "calc"), (&auth, "auth")] {
        let exposed = server.expose("t", handle, &apps(interface));
        let Err(server::Error::AlreadyExposed {
            target,
            interface: refused,
        }) = exposed
        else {
            anyhow::bail!("expected AlreadyExposed for {interface}, got {exposed:?}");
        };
        assert_eq!((target.as_str(), refused), ("t", apps(interface)));
    }
    let offered = server.offer();
    let names: Vec<&str> = offered.targets["t"]
        .iter()
        .map(|i| i.name.as_str())
        .collect();
    assert_eq!(names, [apps("calc")]);
    // Under a name of its own, the other instance is served.
    server.expose("a", &auth, &apps("auth"))?;
    assert_eq!(server.offer().targets.len(), 2);
    Ok(())
}
