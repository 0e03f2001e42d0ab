//! Observation hooks: a client's observer hears each call it sent and exactly one end for each
//! (reply, failure, timeout, disconnect, a dropped caller); a server's observer hears each call
//! start executing, each outcome, each duplicate; the server's gauges return to zero.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use exorun::client::{self, CallEnd, Client};
use exorun::server::{self, Load};
use exorun::transport::{DuplexTransport, Transport, duplex_pair};
use neorpc::FailureReason;
use neorpc::codec;
use neorpc::frame::{self, CallEncoder, Frame};
use neorpc::schema::Type;
use wasmtime::component::Val;

use crate::support::{self, apps};

/// One thing an observer heard.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    Sent(u64, String, String),
    Ended(u64, CallEnd),
    Executing(u64, String, String),
    Answered(u64, bool),
    Duplicate(u64),
}

/// Writes down everything it hears, in order.
#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<Event>>,
}

impl Recorder {
    fn push(&self, event: Event) {
        self.events.lock().unwrap().push(event);
    }

    /// Everything heard so far, forgotten.
    fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.events.lock().unwrap())
    }
}

impl client::Observe for Recorder {
    fn sent(&self, seq: u64, target: &str, method: &str) {
        self.push(Event::Sent(seq, target.to_owned(), method.to_owned()));
    }

    fn ended(&self, seq: u64, end: &CallEnd) {
        self.push(Event::Ended(seq, end.clone()));
    }
}

impl server::Observe for Recorder {
    fn executing(&self, seq: u64, target: &str, method: &str) {
        self.push(Event::Executing(seq, target.to_owned(), method.to_owned()));
    }

    fn answered(&self, seq: u64, reply: bool) {
        self.push(Event::Answered(seq, reply));
    }

    fn duplicate(&self, seq: u64) {
        self.push(Event::Duplicate(seq));
    }
}

fn sent(seq: u64, target: &str, method: &str) -> Event {
    Event::Sent(seq, target.to_owned(), method.to_owned())
}

fn executing(seq: u64, target: &str, method: &str) -> Event {
    Event::Executing(seq, target.to_owned(), method.to_owned())
}

fn add_method() -> String {
    server::method_name(&apps("calc"), "add")
}

fn add_args(a: i32, b: i32) -> Vec<u8> {
    codec::encode_args(&[Val::S32(a), Val::S32(b)], &[Type::S32, Type::S32]).unwrap()
}

/// A client reporting to `recorder`, on `transport`.
fn observed_client(transport: DuplexTransport, recorder: &Arc<Recorder>) -> Arc<Client> {
    let config = client::Config {
        timeout: Duration::from_millis(100),
        observer: Some(Arc::clone(recorder) as Arc<dyn client::Observe>),
        ..client::Config::default()
    };
    Arc::new(Client::with_config(Arc::new(transport), config))
}

/// The `seq` of the next `Call` the far end receives, skipping the `Cancel`s of calls that
/// gave up (sent from tasks of their own, in no particular order).
async fn next_call(far: &DuplexTransport) -> anyhow::Result<u64> {
    loop {
        let bytes = support::next_frame(far).await?;
        let Some(bytes) = bytes else {
            anyhow::bail!("the client closed the stream");
        };
        match frame::decode(&bytes)? {
            Frame::Call { seq, .. } => return Ok(seq),
            Frame::Cancel { .. } => continue,
            other => anyhow::bail!("expected a Call, got {other:?}"),
        }
    }
}

// ---- the client -----------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_client_reports_each_call_sent_and_its_one_end() -> anyhow::Result<()> {
    let runtime = support::runtime()?;
    let calc = support::instantiate(&runtime, "calc-server").await?;
    let server = support::exposing("calc", &calc, "calc")?;
    let (near, _serving) = support::serve_duplex(&server);
    let recorder = Arc::new(Recorder::default());
    let client = observed_client(near, &recorder);
    let method = add_method();
    client.call_raw("calc", &method, &add_args(2, 40)).await?;
    let outcome = client.call_raw("nope", &method, &add_args(2, 40)).await;
    assert!(
        matches!(outcome, Err(client::Error::Failed(_))),
        "{outcome:?}"
    );
    let not_found = FailureReason::InstanceNotFound("nope".to_owned());
    let expected = [
        sent(1, "calc", &method),
        Event::Ended(1, CallEnd::Reply),
        sent(2, "nope", &method),
        Event::Ended(2, CallEnd::Failed(not_found)),
    ];
    assert_eq!(recorder.take(), expected);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_client_reports_timeouts_dropped_callers_and_disconnects() -> anyhow::Result<()> {
    let (near, far) = duplex_pair(64);
    let recorder = Arc::new(Recorder::default());
    let client = observed_client(near, &recorder);
    // Nobody answers: a timeout.
    let outcome = client.call_raw("t", "slow", &add_args(1, 1)).await;
    assert!(
        matches!(outcome, Err(client::Error::Timeout)),
        "{outcome:?}"
    );
    assert_eq!(next_call(&far).await?, 1);
    // A caller dropped once its call is out.
    let caller = tokio::spawn({
        let client = Arc::clone(&client);
        async move { client.call_raw("t", "dropped", &add_args(1, 1)).await }
    });
    assert_eq!(next_call(&far).await?, 2);
    caller.abort();
    assert!(caller.await.is_err(), "the caller was aborted");
    // The peer hangs up on a pending call.
    let caller = tokio::spawn({
        let client = Arc::clone(&client);
        async move { client.call_raw("t", "cut", &add_args(1, 1)).await }
    });
    assert_eq!(next_call(&far).await?, 3);
    drop(far);
    let outcome = caller.await?;
    assert!(
        matches!(outcome, Err(client::Error::Disconnected)),
        "{outcome:?}"
    );
    // Not sent at all: not reported.
    let outcome = client.call_raw("t", "after", &add_args(1, 1)).await;
    assert!(
        matches!(outcome, Err(client::Error::Disconnected)),
        "{outcome:?}"
    );
    let expected = [
        sent(1, "t", "slow"),
        Event::Ended(1, CallEnd::Timeout),
        sent(2, "t", "dropped"),
        Event::Ended(2, CallEnd::Dropped),
        sent(3, "t", "cut"),
        Event::Ended(3, CallEnd::Disconnected),
    ];
    assert_eq!(recorder.take(), expected);
    assert_eq!(client.pending_len(), 0);
    Ok(())
}

// ---- the server -----------------------------------------------------------------------------

/// A `Call` of calc's `add` as a frame.
fn add_call(seq: u64, a: i32, b: i32) -> Vec<u8> {
    let (method, args) = (add_method(), add_args(a, b));
    CallEncoder::new(seq, "calc", &method, &args)
        .to_bytes()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_server_reports_executions_answers_and_duplicates() -> anyhow::Result<()> {
    let runtime = support::runtime()?;
    let calc = support::instantiate(&runtime, "calc-server").await?;
    let server = support::exposing("calc", &calc, "calc")?;
    assert_eq!(server.load(), Load::default());
    let recorder = Arc::new(Recorder::default());
    let (near, far) = duplex_pair(64);
    let serving = tokio::spawn({
        let server = Arc::clone(&server);
        let observer = Some(Arc::clone(&recorder) as Arc<dyn server::Observe>);
        async move { server.serve_observed(Arc::new(far), observer).await }
    });
    let hello = support::next_frame(&near).await?;
    assert!(matches!(
        hello.as_deref().map(frame::decode),
        Some(Ok(Frame::Hello { .. }))
    ));
    assert_eq!(server.load().connections, 1);

    near.send(&add_call(1, 2, 40)).await?;
    let reply = support::next_frame(&near).await?.expect("a reply");
    near.send(&add_call(1, 2, 40)).await?;
    assert_eq!(
        support::next_frame(&near).await?.expect("the same reply"),
        reply
    );
    let (method, args) = (add_method(), add_args(1, 2));
    let unknown = CallEncoder::new(2, "nope", &method, &args).to_bytes()?;
    near.send(&unknown).await?;
    let failure = support::next_frame(&near).await?.expect("a failure");
    assert!(matches!(
        frame::decode(&failure),
        Ok(Frame::Failure { seq: 2, .. })
    ));

    near.close();
    assert_eq!(support::next_frame(&near).await?, None);
    support::ended(serving).await?;
    let expected = [
        executing(1, "calc", &method),
        Event::Answered(1, true),
        Event::Duplicate(1),
        Event::Answered(2, false),
    ];
    assert_eq!(recorder.take(), expected);
    assert_eq!(server.load(), Load::default());
    Ok(())
}

/// A call waiting for its instance counts as running; the gauges return to zero when the
/// connections end, also when a connection's task is dropped mid-call.
#[tokio::test(start_paused = true)]
async fn the_server_gauges_follow_connections_and_calls() -> anyhow::Result<()> {
    let runtime = support::runtime()?;
    let calc = support::instantiate(&runtime, "calc-server").await?;
    let server = support::exposing("calc", &calc, "calc")?;
    let held = support::hold(&calc).await?;
    let (first, first_serving) = support::serve_duplex(&server);
    let (second, second_serving) = support::serve_duplex(&server);
    for near in [&first, &second] {
        support::next_frame(near).await?.expect("a Hello");
        near.send(&add_call(1, 2, 40)).await?;
    }
    support::settle().await;
    // Both calls wait for calc: their frames count as admitted, not started.
    let frame_bytes = add_call(1, 2, 40).len() as u64;
    let expected = Load {
        connections: 2,
        calls_running: 2,
        admitted_bytes: 2 * frame_bytes,
        dedup_bytes: 0,
    };
    assert_eq!(server.load(), expected);
    // The second connection's task dies mid-call.
    second_serving.abort();
    assert!(second_serving.await.is_err(), "the task was aborted");
    let expected = Load {
        connections: 1,
        calls_running: 1,
        admitted_bytes: frame_bytes,
        dedup_bytes: 0,
    };
    assert_eq!(server.load(), expected);
    held.release().await?;
    let reply = support::next_frame(&first).await?.expect("the reply");
    // The first call started and ended: its outcome is kept for copies.
    let expected = Load {
        connections: 1,
        calls_running: 0,
        admitted_bytes: 0,
        dedup_bytes: reply.len() as u64,
    };
    assert_eq!(server.load(), expected);
    first.close();
    support::ended(first_serving).await?;
    assert_eq!(server.load(), Load::default());
    drop(second);
    Ok(())
}

/// A configuration prints that it has an observer, without printing the observer.
#[test]
fn a_config_shows_whether_it_has_an_observer() {
    let recorder = Arc::new(Recorder::default());
    let config = client::Config {
        observer: Some(recorder as Arc<dyn client::Observe>),
        ..client::Config::default()
    };
    let shown = format!("{config:?}");
    assert!(shown.contains("observer: Some(\"dyn Observe\")"), "{shown}");
    let shown = format!("{:?}", client::Config::default());
    assert!(shown.contains("observer: None"), "{shown}");
}
