//! The RPC client: every call gets exactly its own outcome, failures arrive as raised, and no
//! fault (timeout, disconnect, garbage, a dropped caller) leaves a pending entry behind.

use std::sync::Arc;
use std::time::Duration;

use exorun::client::{self, Client, Config, PeerHello, Stats};
use exorun::transport::{DuplexTransport, TcpTransport, Transport, duplex_pair};
use neorpc::FailureReason;
use neorpc::frame::{self, Frame};
use neorpc::schema::Type;
use tokio::io::AsyncWriteExt;
use wasmtime::component::Val;

use crate::support;

// ---- a scripted peer ------------------------------------------------------------------------

/// A `Call` frame as the fake server saw it.
#[derive(Debug, Clone)]
struct SeenCall {
    seq: u64,
    target: String,
    method: String,
    deadline_ms: Option<u64>,
    args: Vec<u8>,
}

/// How long the fake server waits for a frame: longer than any wait a test means (10 s at
/// most), short enough that a client that never sends fails its test rather than hangs it.
const FRAME_WAIT: Duration = Duration::from_secs(12);

/// The far end of a duplex pair, driven by hand.
struct FakeServer {
    transport: DuplexTransport,
}

/// `future`'s output, or a failure naming `what` if it takes longer than [`FRAME_WAIT`]: for
/// the tests on real sockets, where a client that never sends would otherwise hang them.
async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(FRAME_WAIT, future).await {
        Ok(output) => output,
        Err(_) => panic!("{what}: nothing within {FRAME_WAIT:?}"),
    }
}

impl FakeServer {
    /// The next frame from the client; a failure with a message, not a hang, if none comes
    /// within [`FRAME_WAIT`] (in virtual time, for the tests that pause it).
    async fn recv_frame(&self) -> Vec<u8> {
        let received = tokio::time::timeout(FRAME_WAIT, self.transport.recv()).await;
        let received = received.expect("no frame from the client in time");
        received
            .expect("server recv")
            .expect("the client closed the stream")
    }

    async fn next_call(&self) -> SeenCall {
        let bytes = self.recv_frame().await;
        let decoded = frame::decode(&bytes).expect("a well-formed frame");
        let Frame::Call {
            seq,
            target,
            method,
            deadline_ms,
            args,
        } = decoded
        else {
            panic!("expected a Call, got {decoded:?}");
        };
        SeenCall {
            seq,
            target: target.to_owned(),
            method: method.to_owned(),
            deadline_ms,
            args: args.to_vec(),
        }
    }

    async fn next_cancel(&self) -> u64 {
        let bytes = self.recv_frame().await;
        let decoded = frame::decode(&bytes).expect("a well-formed frame");
        let Frame::Cancel { seq } = decoded else {
            panic!("expected a Cancel, got {decoded:?}");
        };
        seq
    }

    async fn reply(&self, seq: u64, results_payload: &[u8]) {
        let mut enc = neopack::Encoder::new();
        frame::encode_reply(&mut enc, seq, results_payload).unwrap();
        self.send_raw(&enc.into_bytes().unwrap()).await;
    }

    async fn fail(&self, seq: u64, reason: &FailureReason) {
        let mut enc = neopack::Encoder::new();
        frame::encode_failure(&mut enc, seq, reason).unwrap();
        self.send_raw(&enc.into_bytes().unwrap()).await;
    }

    /// Sends `bytes` to the client; a failure, not a hang, if it reads none of them within
    /// [`FRAME_WAIT`] (the pair holds only so many).
    async fn send_raw(&self, bytes: &[u8]) {
        let sent = within("the client reads no frame", self.transport.send(bytes)).await;
        sent.expect("server send");
    }
}

fn connect(config: Config) -> (Arc<Client>, FakeServer) {
    let (near, far) = duplex_pair(64);
    let client = Client::with_config(Arc::new(near), config);
    (Arc::new(client), FakeServer { transport: far })
}

fn connect_default() -> (Arc<Client>, FakeServer) {
    connect(Config::default())
}

/// One neopack value, as the results of a call: the list `[n]`.
fn payload_u64(n: u64) -> Vec<u8> {
    neorpc::codec::encode_results(&[Val::U64(n)], &[Type::U64]).unwrap()
}

fn decode_u64(payload: &[u8]) -> u64 {
    let vals = neorpc::codec::decode_results(payload, &[Type::U64]).unwrap();
    let [Val::U64(n)] = vals[..] else {
        panic!("expected one u64, got {vals:?}");
    };
    n
}

/// A tiny deterministic generator for shuffles (xorshift64*).
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

// ---- correlation ----------------------------------------------------------------------------

const CORRELATION_CALLS: u64 = 1_000;

/// The echo types of the correlation test: `(id: u64, name: string) -> (u64, string)`.
fn echo_params() -> Vec<Type> {
    vec![Type::U64, Type::String]
}

/// What the server answers to `(id, name)`: derived from the arguments, so a misrouted reply
/// shows.
fn echo_answer(id: u64, name: &str) -> Vec<Val> {
    vec![Val::U64(id * 3 + 1), Val::String(format!("re:{name}"))]
}

#[tokio::test(start_paused = true)]
async fn a_thousand_concurrent_calls_each_get_their_own_shuffled_reply() {
    let (client, server) = connect_default();
    let callers: Vec<_> = (0..CORRELATION_CALLS)
        .map(|id| tokio::spawn(echo_caller(client.clone(), id)))
        .collect();
    let mut calls = Vec::with_capacity(CORRELATION_CALLS as usize);
    for _ in 0..CORRELATION_CALLS {
        calls.push(server.next_call().await);
    }
    assert_eq!(client.pending_len(), CORRELATION_CALLS as usize);
    XorShift(0x9E37_79B9_7F4A_7C15).shuffle(&mut calls);
    for call in &calls {
        server.reply(call.seq, &echo_results_for(call)).await;
    }
    for caller in callers {
        caller.await.expect("caller task");
    }
    assert_eq!(client.pending_len(), 0);
    assert_eq!(client.stats(), Stats::default());
}

async fn echo_caller(client: Arc<Client>, id: u64) {
    let name = format!("caller-{id}");
    let args = [Val::U64(id), Val::String(name.clone())];
    let results = client
        .call("calc", "echo", &args, &echo_params(), &echo_params())
        .await
        .expect("echo call");
    assert_eq!(results, echo_answer(id, &name));
}

fn echo_results_for(call: &SeenCall) -> Vec<u8> {
    assert_eq!(
        (call.target.as_str(), call.method.as_str()),
        ("calc", "echo")
    );
    let args = neorpc::codec::decode_args(&call.args, &echo_params()).unwrap();
    let [Val::U64(id), Val::String(name)] = &args[..] else {
        panic!("unexpected args {args:?}");
    };
    neorpc::codec::encode_results(&echo_answer(*id, name), &echo_params()).unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_call_carries_its_remaining_budget_as_deadline() {
    let (client, server) = connect_default();
    let caller = tokio::spawn({
        let client = client.clone();
        async move {
            let timeout = Duration::from_secs(5);
            client
                .call_raw_with_timeout("t", "m", &payload_u64(1), timeout)
                .await
        }
    });
    let call = server.next_call().await;
    let budget = call.deadline_ms.expect("a deadline");
    assert!(budget <= 5_000, "budget {budget} ms exceeds the timeout");
    assert!(
        budget >= 4_000,
        "budget {budget} ms lost too much on the way"
    );
    assert_eq!(call.args, payload_u64(1));
    server.reply(call.seq, &payload_u64(2)).await;
    assert_eq!(caller.await.unwrap().unwrap(), payload_u64(2));
}

// ---- failure fidelity -----------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn every_failure_reason_arrives_exactly_as_raised() {
    let reasons = [
        FailureReason::DomainSpecific(0, String::new()),
        FailureReason::DomainSpecific(u32::MAX, "ä€𝄞 — multi-byte".to_owned()),
        FailureReason::DomainSpecific(403, "access denied: token expired".to_owned()),
        FailureReason::DomainSpecific(1, "x".repeat(10_000)),
        FailureReason::AppTrapped("unreachable".to_owned()),
        FailureReason::OutOfFuel,
        FailureReason::OutOfMemory,
        FailureReason::InstanceNotFound("calc".to_owned()),
        FailureReason::MethodNotFound("divide".to_owned()),
        FailureReason::BadArgumentCount {
            expected: 2,
            found: 3,
        },
        FailureReason::BadArgumentType("args[1].name: expected string, found u32".to_owned()),
        FailureReason::DeadlineExceeded,
        FailureReason::Overloaded,
        FailureReason::Protocol("garbled".to_owned()),
    ];
    let (client, server) = connect_default();
    for reason in &reasons {
        check_failure_raw(&client, &server, reason).await;
        check_failure_typed(&client, &server, reason).await;
    }
    assert_eq!(client.pending_len(), 0);
}

async fn check_failure_raw(client: &Client, server: &FakeServer, reason: &FailureReason) {
    let args = payload_u64(7);
    let (outcome, ()) = tokio::join!(client.call_raw("auth", "login", &args), async {
        let call = server.next_call().await;
        server.fail(call.seq, reason).await;
    });
    let Err(client::Error::Failed(arrived)) = outcome else {
        panic!("call_raw: expected Failed({reason:?}), got {outcome:?}");
    };
    assert_eq!(&arrived, reason);
}

async fn check_failure_typed(client: &Client, server: &FakeServer, reason: &FailureReason) {
    let call = client.call("auth", "login", &[Val::U64(7)], &[Type::U64], &[Type::U64]);
    let (outcome, ()) = tokio::join!(call, async {
        let call = server.next_call().await;
        server.fail(call.seq, reason).await;
    });
    let Err(client::Error::Failed(arrived)) = outcome else {
        panic!("call: expected Failed({reason:?}), got {outcome:?}");
    };
    assert_eq!(&arrived, reason);
}

#[tokio::test(start_paused = true)]
async fn results_of_the_wrong_type_are_a_codec_error_naming_the_path() {
    let (client, server) = connect_default();
    let call = client.call("calc", "add", &[Val::U64(1)], &[Type::U64], &[Type::String]);
    let (outcome, ()) = tokio::join!(call, async {
        let call = server.next_call().await;
        server.reply(call.seq, &payload_u64(2)).await;
    });
    let Err(client::Error::Codec(e)) = outcome else {
        panic!("expected a codec error, got {outcome:?}");
    };
    assert!(e.to_string().starts_with("results[0]"), "{e}");
}

#[tokio::test(start_paused = true)]
async fn arguments_of_the_wrong_type_are_refused_before_sending() {
    let (client, server) = connect_default();
    let outcome = client
        .call(
            "calc",
            "add",
            &[Val::String("one".into())],
            &[Type::U64],
            &[Type::U64],
        )
        .await;
    assert!(
        matches!(outcome, Err(client::Error::Codec(_))),
        "{outcome:?}"
    );
    assert_eq!(client.pending_len(), 0);
    // Nothing was sent: the next frame the server sees is the next call.
    let args = payload_u64(1);
    let (_, call) = tokio::join!(client.call_raw("calc", "next", &args), async {
        let call = server.next_call().await;
        server.reply(call.seq, &payload_u64(1)).await;
        call
    });
    assert_eq!(call.method, "next");
}

// ---- timeouts and cancellation --------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_dropped_reply_times_out_cancels_and_leaves_no_entry() {
    let (client, server) = connect_default();
    let timeout = Duration::from_secs(5);
    let caller = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .call_raw_with_timeout("t", "slow", &payload_u64(1), timeout)
                .await
        }
    });
    let call = server.next_call().await;
    assert_eq!(client.pending_len(), 1);
    // The server never answers.
    let outcome = caller.await.unwrap();
    assert!(
        matches!(outcome, Err(client::Error::Timeout)),
        "{outcome:?}"
    );
    assert_eq!(client.pending_len(), 0);
    assert_eq!(server.next_cancel().await, call.seq);
    assert_eq!(client.stats().timeouts, 1);

    // The late reply is counted and disturbs nothing.
    server.reply(call.seq, &payload_u64(1)).await;
    let args = payload_u64(2);
    let (next, ()) = tokio::join!(client.call_raw("t", "fast", &args), async {
        let call = server.next_call().await;
        server.reply(call.seq, &payload_u64(3)).await;
    });
    assert_eq!(next.unwrap(), payload_u64(3));
    assert_eq!(client.stats().unknown_replies, 1);
    assert_eq!(client.pending_len(), 0);
}

#[tokio::test(start_paused = true)]
async fn the_configured_timeout_applies_by_default() {
    let config = Config {
        timeout: Duration::from_millis(250),
        ..Config::default()
    };
    let (client, server) = connect(config);
    let started = support::now();
    let args = payload_u64(1);
    let (outcome, _call) = tokio::join!(client.call_raw("t", "slow", &args), server.next_call());
    assert!(
        matches!(outcome, Err(client::Error::Timeout)),
        "{outcome:?}"
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(250),
        "gave up after {waited:?}"
    );
    assert!(waited < Duration::from_secs(1), "gave up after {waited:?}");
}

#[tokio::test(start_paused = true)]
async fn a_dropped_caller_leaves_no_entry_and_cancels() {
    let (client, server) = connect_default();
    let caller = tokio::spawn({
        let client = client.clone();
        async move { client.call_raw("t", "abandoned", &payload_u64(1)).await }
    });
    let call = server.next_call().await;
    assert_eq!(client.pending_len(), 1);
    caller.abort();
    assert!(caller.await.is_err(), "the caller was aborted");
    assert_eq!(client.pending_len(), 0);
    assert_eq!(server.next_cancel().await, call.seq);
}

// ---- disconnects ----------------------------------------------------------------------------

/// Virtual time that counts as "at once": far below any timeout in play.
const INSTANT: Duration = Duration::from_millis(1);

#[tokio::test(start_paused = true)]
async fn a_closed_stream_fails_every_pending_call_at_once() {
    let (client, server) = connect_default();
    let callers: Vec<_> = (0..10)
        .map(|n| {
            let client = client.clone();
            tokio::spawn(async move { client.call_raw("t", "m", &payload_u64(n)).await })
        })
        .collect();
    for _ in 0..10 {
        server.next_call().await;
    }
    assert_eq!(client.pending_len(), 10);
    let closed_at = support::now();
    drop(server);
    for caller in callers {
        let outcome = caller.await.unwrap();
        assert!(
            matches!(outcome, Err(client::Error::Disconnected)),
            "{outcome:?}"
        );
    }
    // "At once": no timer had to fire (paused tokio shows zero; madsim charges a few
    // simulated microseconds per scheduling step).
    assert!(closed_at.elapsed() < INSTANT, "{:?}", closed_at.elapsed());
    assert_eq!(client.pending_len(), 0);
    assert!(client.is_disconnected());
    assert_eq!(client.disconnect_cause(), None);

    // Later calls fail fast, too.
    let outcome = client.call_raw("t", "m", &payload_u64(0)).await;
    assert!(
        matches!(outcome, Err(client::Error::Disconnected)),
        "{outcome:?}"
    );
    assert!(closed_at.elapsed() < INSTANT, "{:?}", closed_at.elapsed());
    assert_eq!(client.pending_len(), 0);
}

/// A close of the client's own sending side (half-close) makes calls fail as disconnected
/// without waiting for their timeout.
#[tokio::test(start_paused = true)]
async fn a_send_on_a_closed_transport_is_a_disconnect() {
    let (near, far) = duplex_pair(4);
    let near = Arc::new(near);
    let client = support::client(near.clone());
    near.close();
    let started = support::now();
    let outcome = client.call_raw("t", "m", &payload_u64(0)).await;
    assert!(
        matches!(outcome, Err(client::Error::Disconnected)),
        "{outcome:?}"
    );
    assert!(started.elapsed() < INSTANT, "{:?}", started.elapsed());
    assert_eq!(client.pending_len(), 0);
    drop(far);
}

/// A peer that announces an oversized frame over TCP breaks the stream: pending calls fail as
/// disconnected, the cause is kept, nothing panics.
#[tokio::test(start_paused = true)]
async fn an_oversized_frame_from_the_peer_disconnects_cleanly() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (connected, accepted) = tokio::join!(TcpTransport::connect(addr), listener.accept());
    let transport = connected.unwrap().with_frame_size_max(1024);
    let (mut raw, _) = accepted.unwrap();
    let client = Arc::new(support::client(Arc::new(transport)));
    let caller = tokio::spawn({
        let client = client.clone();
        async move { client.call_raw("t", "m", &payload_u64(1)).await }
    });
    // Wait for the call to be on the wire, then answer with an oversized announcement.
    let mut header = [0u8; 4];
    let read = tokio::io::AsyncReadExt::read_exact(&mut raw, &mut header);
    within("the call's frame", read).await.unwrap();
    raw.write_all(&(1025u32).to_le_bytes()).await.unwrap();
    raw.flush().await.unwrap();
    let outcome = within("the caller's outcome", caller).await.unwrap();
    assert!(
        matches!(outcome, Err(client::Error::Disconnected)),
        "{outcome:?}"
    );
    assert_eq!(client.pending_len(), 0);
    let cause = client.disconnect_cause().expect("a cause");
    assert!(cause.contains("frame_size_max"), "{cause}");
}

// ---- garbage --------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn garbage_and_stray_frames_are_counted_and_disturb_no_call() {
    let (client, server) = connect_default();
    let callers: Vec<_> = (0..3u64)
        .map(|n| {
            let client = client.clone();
            tokio::spawn(async move { client.call_raw("t", "m", &payload_u64(n)).await })
        })
        .collect();
    let mut calls = Vec::new();
    for _ in 0..3 {
        calls.push(server.next_call().await);
    }
    let malformed = send_garbage(&server).await;
    let unknown = send_stray_answers(&server).await;
    let unexpected = send_unexpected_frames(&server).await;
    for call in &calls {
        let n = decode_u64(&call.args);
        server.reply(call.seq, &payload_u64(n + 100)).await;
    }
    for (n, caller) in callers.into_iter().enumerate() {
        let results = caller
            .await
            .unwrap()
            .expect("call completes despite garbage");
        assert_eq!(decode_u64(&results), n as u64 + 100);
    }
    let stats = client.stats();
    assert_eq!(stats.malformed_frames, malformed);
    assert_eq!(stats.unknown_replies, unknown);
    assert_eq!(stats.unexpected_frames, unexpected);
    assert_eq!(client.pending_len(), 0);
    assert!(!client.is_disconnected());
}

/// Frames whose kind or sequence number cannot be read. Returns how many were sent.
async fn send_garbage(server: &FakeServer) -> u64 {
    let mut reply = neopack::Encoder::new();
    frame::encode_reply(&mut reply, 1, &payload_u64(0)).unwrap();
    let reply = reply.into_bytes().unwrap();
    let garbage: [&[u8]; 6] = [
        &[],
        &[0xFF; 16],
        b"not a frame at all",
        &[0x00],
        // A Reply cut off before its seq.
        &reply[..2],
        // A valid neopack variant with a kind no frame has.
        &unknown_kind_frame(),
    ];
    for bytes in garbage {
        server.send_raw(bytes).await;
    }
    garbage.len() as u64
}

fn unknown_kind_frame() -> Vec<u8> {
    let mut enc = neopack::Encoder::new();
    enc.variant_begin(77).unwrap();
    enc.list_begin().unwrap();
    enc.u64(1).unwrap();
    enc.list_end().unwrap();
    enc.variant_end().unwrap();
    enc.into_bytes().unwrap()
}

/// A `Reply` and a `Failure` for sequence numbers no call has. Returns how many were sent.
async fn send_stray_answers(server: &FakeServer) -> u64 {
    server.reply(999_999, &payload_u64(0)).await;
    server.fail(u64::MAX, &FailureReason::OutOfFuel).await;
    2
}

/// A `Call` and a `Cancel`, which a client never expects. Returns how many were sent.
async fn send_unexpected_frames(server: &FakeServer) -> u64 {
    let call = frame::CallEncoder::new(1, "t", "m", &payload_u64(0))
        .to_bytes()
        .unwrap();
    server.send_raw(&call).await;
    let mut cancel = neopack::Encoder::new();
    frame::encode_cancel(&mut cancel, 2).unwrap();
    server.send_raw(&cancel.into_bytes().unwrap()).await;
    2
}

#[tokio::test(start_paused = true)]
async fn a_duplicated_reply_is_counted_once_delivered_once() {
    let (client, server) = connect_default();
    let args = payload_u64(1);
    let (outcome, ()) = tokio::join!(client.call_raw("t", "m", &args), async {
        let call = server.next_call().await;
        server.reply(call.seq, &payload_u64(5)).await;
        server.reply(call.seq, &payload_u64(6)).await;
    });
    assert_eq!(outcome.unwrap(), payload_u64(5));
    // Wait for the pump to have seen the duplicate: it precedes the next call's reply.
    let args = payload_u64(2);
    let (next, ()) = tokio::join!(client.call_raw("t", "m", &args), async {
        let call = server.next_call().await;
        server.reply(call.seq, &payload_u64(7)).await;
    });
    assert_eq!(next.unwrap(), payload_u64(7));
    assert_eq!(client.stats().unknown_replies, 1);
}

// ---- pushback -------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn pending_calls_max_makes_the_next_caller_wait_not_fail() {
    let config = Config {
        pending_calls_max: 2,
        ..Config::default()
    };
    let (client, server) = connect(config);
    let callers: Vec<_> = (0..3u64)
        .map(|n| {
            let client = client.clone();
            tokio::spawn(async move { client.call_raw("t", "m", &payload_u64(n)).await })
        })
        .collect();
    let first = server.next_call().await;
    let second = server.next_call().await;
    // The third call does not go out while two are pending (virtual time passes here).
    let third = tokio::time::timeout(Duration::from_secs(10), server.next_call()).await;
    assert!(
        third.is_err(),
        "a third call went out past pending_calls_max"
    );
    assert_eq!(client.pending_len(), 2);

    server
        .reply(first.seq, &payload_u64(decode_u64(&first.args)))
        .await;
    let third = server.next_call().await;
    server
        .reply(third.seq, &payload_u64(decode_u64(&third.args)))
        .await;
    server
        .reply(second.seq, &payload_u64(decode_u64(&second.args)))
        .await;
    for (n, caller) in callers.into_iter().enumerate() {
        let results = caller.await.unwrap().expect("no call is lost");
        assert_eq!(decode_u64(&results), n as u64);
    }
    assert_eq!(client.pending_len(), 0);
}

#[tokio::test(start_paused = true)]
async fn waiting_for_a_slot_counts_against_the_timeout() {
    let config = Config {
        pending_calls_max: 1,
        ..Config::default()
    };
    let (client, server) = connect(config);
    let holder = tokio::spawn({
        let client = client.clone();
        async move { client.call_raw("t", "hold", &payload_u64(0)).await }
    });
    let held = server.next_call().await;
    let short = Duration::from_secs(1);
    let outcome = client
        .call_raw_with_timeout("t", "m", &payload_u64(1), short)
        .await;
    assert!(
        matches!(outcome, Err(client::Error::Timeout)),
        "{outcome:?}"
    );
    assert_eq!(client.pending_len(), 1);
    server.reply(held.seq, &payload_u64(0)).await;
    assert!(holder.await.unwrap().is_ok());
    assert_eq!(client.pending_len(), 0);
}

// ---- handshake ------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn hellos_travel_both_ways() {
    let config = Config {
        node: "node-a".to_owned(),
        ..Config::default()
    };
    let (client, server) = connect(config);
    let offer = payload_u64(42);
    let mut enc = neopack::Encoder::new();
    frame::encode_hello(&mut enc, frame::VERSION, "node-b", &offer).unwrap();
    server.send_raw(&enc.into_bytes().unwrap()).await;
    let hello = client.peer_hello().await.unwrap();
    let expected = PeerHello {
        version: frame::VERSION,
        node: "node-b".to_owned(),
        offer: offer.clone(),
    };
    assert_eq!(hello, expected);

    client.send_hello(&payload_u64(7)).await.unwrap();
    let bytes = server.recv_frame().await;
    let Frame::Hello {
        version,
        node,
        offer,
    } = frame::decode(&bytes).unwrap()
    else {
        panic!("expected a Hello");
    };
    assert_eq!((version, node), (frame::VERSION, "node-a"));
    assert_eq!(offer, payload_u64(7));
}

#[tokio::test(start_paused = true)]
async fn a_second_hello_is_a_protocol_error_that_disconnects() {
    let (client, server) = connect_default();
    let hello = |node: &str| {
        let mut enc = neopack::Encoder::new();
        frame::encode_hello(&mut enc, frame::VERSION, node, &payload_u64(1)).unwrap();
        enc.into_bytes().unwrap()
    };
    server.send_raw(&hello("first")).await;
    assert_eq!(client.peer_hello().await.unwrap().node, "first");
    // A call waits for its answer when the second Hello arrives instead.
    let calling = {
        let client = Arc::clone(&client);
        tokio::spawn(async move { client.call_raw("t", "m", &payload_u64(1)).await })
    };
    server.next_call().await;
    server.send_raw(&hello("second")).await;
    let outcome = calling.await.unwrap();
    assert!(
        matches!(outcome, Err(client::Error::Disconnected)),
        "{outcome:?}"
    );
    assert!(client.is_disconnected());
    assert_eq!(
        client.disconnect_cause().as_deref(),
        Some("protocol: the peer sent a second Hello")
    );
    // The first Hello stands.
    assert_eq!(client.peer_hello().await.unwrap().node, "first");
    assert_eq!(client.pending_len(), 0);
}

#[tokio::test(start_paused = true)]
async fn peer_hello_times_out_or_reports_the_disconnect() {
    let (client, server) = connect_default();
    let waited = client.peer_hello_with_timeout(Duration::from_secs(2)).await;
    assert!(matches!(waited, Err(client::Error::Timeout)), "{waited:?}");
    drop(server);
    let waited = client.peer_hello().await;
    assert!(
        matches!(waited, Err(client::Error::Disconnected)),
        "{waited:?}"
    );
}

/// A Hello that arrived before the stream closed is still there after.
#[tokio::test(start_paused = true)]
async fn peer_hello_survives_the_disconnect() {
    let (client, server) = connect_default();
    let mut enc = neopack::Encoder::new();
    frame::encode_hello(&mut enc, frame::VERSION, "gone", &payload_u64(1)).unwrap();
    server.send_raw(&enc.into_bytes().unwrap()).await;
    drop(server);
    let outcome = client.call_raw("t", "m", &payload_u64(0)).await;
    assert!(
        matches!(outcome, Err(client::Error::Disconnected)),
        "{outcome:?}"
    );
    assert_eq!(client.peer_hello().await.unwrap().node, "gone");
}

// ---- over TCP -------------------------------------------------------------------------------

#[tokio::test]
async fn calls_correlate_over_tcp_too() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (connected, accepted) = tokio::join!(TcpTransport::connect(addr), listener.accept());
    let client = Arc::new(support::client(Arc::new(connected.unwrap())));
    let server = TcpTransport::from_stream(accepted.unwrap().0).unwrap();
    let callers: Vec<_> = (0..200u64)
        .map(|n| {
            let client = client.clone();
            tokio::spawn(async move { client.call_raw("t", "m", &payload_u64(n)).await })
        })
        .collect();
    let mut calls = Vec::new();
    for _ in 0..200 {
        let bytes = within("a Call", server.recv()).await.unwrap().unwrap();
        let Frame::Call { seq, args, .. } = frame::decode(&bytes).unwrap() else {
            panic!("expected a Call");
        };
        calls.push((seq, decode_u64(args)));
    }
    XorShift(7).shuffle(&mut calls);
    for (seq, n) in calls {
        let mut enc = neopack::Encoder::new();
        frame::encode_reply(&mut enc, seq, &payload_u64(n * n)).unwrap();
        server.send(&enc.into_bytes().unwrap()).await.unwrap();
    }
    for (n, caller) in callers.into_iter().enumerate() {
        let results = within("a reply", caller).await.unwrap().unwrap();
        assert_eq!(decode_u64(&results), (n * n) as u64);
    }
    assert_eq!(client.pending_len(), 0);
}

// ---- static properties ----------------------------------------------------------------------

/// Call futures can be spawned (they are `Send`); the client can be shared.
#[test]
fn call_futures_are_send_and_the_client_is_sync() {
    fn send<T: Send>(_: &T) {}
    fn sync<T: Send + Sync>() {}
    sync::<Client>();
    sync::<client::Error>();
    // Type-checked only: the futures are built, never polled.
    let _check = |client: &Client| {
        send(&client.call_raw("t", "m", &[]));
        send(&client.call("t", "m", &[], &[], &[]));
        send(&client.peer_hello());
        send(&client.send_hello(&[]));
    };
}

#[test]
fn config_defaults_are_the_named_constants() {
    let config = Config::default();
    assert_eq!(config.timeout, client::TIMEOUT_DEFAULT);
    assert_eq!(config.timeout, Duration::from_secs(30));
    assert_eq!(config.pending_calls_max, client::PENDING_CALLS_MAX_DEFAULT);
    assert_eq!(config.node, client::NODE_DEFAULT);
}

/// A timeout too long to add to the clock (`Duration::MAX`) means "never": the call still waits
/// for its answer years later.
#[tokio::test(start_paused = true)]
async fn a_timeout_past_the_end_of_time_never_expires() {
    let (client, server) = connect_default();
    let caller = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .call_raw_with_timeout("t", "m", &payload_u64(1), Duration::MAX)
                .await
        }
    });
    let call = server.next_call().await;
    tokio::time::sleep(Duration::from_secs(5 * 365 * 24 * 3600)).await;
    server.reply(call.seq, &payload_u64(2)).await;
    assert_eq!(caller.await.unwrap().unwrap(), payload_u64(2));
    assert_eq!(client.stats().timeouts, 0);
}

/// The client keeps the configuration it was given, and says what it holds when printed.
#[tokio::test]
async fn a_client_keeps_and_shows_its_configuration() {
    let config = Config {
        timeout: Duration::from_millis(1234),
        pending_calls_max: 7,
        node: "node-b".to_owned(),
        observer: None,
    };
    let (client, _server) = connect(config);
    assert_eq!(client.config().timeout, Duration::from_millis(1234));
    assert_eq!(client.config().pending_calls_max, 7);
    assert_eq!(client.config().node, "node-b");
    let shown = format!("{client:?}");
    for needed in [
        "1.234s",
        "pending_calls_max: 7",
        "\"node-b\"",
        "pending: 0",
        "disconnected: false",
    ] {
        assert!(shown.contains(needed), "{shown} lacks {needed}");
    }
}
