//! Remote linking end to end: a guest on one runtime calls a guest served by another, over the
//! duplex channel and over TCP on loopback. Failures arrive as raised (domain errors, fuel,
//! memory, traps), the server maps bad calls onto their reasons, and a broken contract (resources,
//! a missing method, a skewed signature, nothing offered, a failed handshake) fails at link time,
//! before any call is sent.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use exorun::bind::{self, RemoteTarget};
use exorun::builder::{self, InstanceBuilder, Linkable};
use exorun::client::{self, Client};
use exorun::context::Limits;
use exorun::instance::{self, InstanceHandle};
use exorun::ledger;
use exorun::runtime::Runtime;
use exorun::server::{self, ConnStats, Server};
use exorun::transport::{DuplexTransport, TcpTransport, Transport, duplex_pair};
use exorun::trap;
use neorpc::FailureReason;
use neorpc::codec;
use neorpc::frame::{self, Frame};
use neorpc::schema::{Field, FuncSig, Type};
use wasmtime::component::Val;

use crate::support::{self, apps, single, string};

const MIB: u32 = 1 << 20;

/// The signature of `function` in the `exorun:apps` interface `interface` that `handle`
/// exports, as its ledger read it.
fn sig(handle: &InstanceHandle, interface: &str, function: &str) -> anyhow::Result<FuncSig> {
    let exported = handle.ledger().export(&apps(interface))?;
    let sig = exported.schema.funcs.get(function).cloned();
    sig.with_context(|| format!("{interface} exports no `{function}`"))
}

/// Calls `function` of the `exorun:apps` interface `interface` on `target`, typed by `sig`.
async fn call(
    client: &Client,
    target: &str,
    interface: &str,
    function: &str,
    sig: &FuncSig,
    args: &[Val],
) -> Result<Vec<Val>, client::Error> {
    let method = server::method_name(&apps(interface), function);
    let params = sig.param_types();
    client
        .call(target, &method, args, &params, &sig.results)
        .await
}

/// The reason a call failed with, or a description of what happened instead.
fn failure_of(outcome: Result<Vec<Val>, client::Error>) -> anyhow::Result<FailureReason> {
    match outcome {
        Err(client::Error::Failed(reason)) => Ok(reason),
        other => anyhow::bail!("expected a Failure from the peer, got {other:?}"),
    }
}

/// The trap a guest call ended in.
fn trap_of(outcome: Result<Vec<Val>, instance::Error>) -> anyhow::Result<trap::Error> {
    match outcome {
        Err(instance::Error::Call(e)) => Ok(e),
        other => anyhow::bail!("expected a trapped call, got {other:?}"),
    }
}

/// An instance of `world` whose import `interface` is served by the peer behind `client` as
/// `target`.
async fn instantiate_remote(
    runtime: &Runtime,
    world: &str,
    interface: &str,
    client: &Arc<Client>,
    target: &str,
) -> Result<InstanceHandle, builder::Error> {
    let app = support::register(runtime, world).expect("fixture registers");
    let remote = Linkable::Remote(RemoteTarget::new(Arc::clone(client), target));
    InstanceBuilder::new(runtime, app)
        .link(apps(interface), remote)
        .instantiate()
        .await
}

// ---- calc, end to end -----------------------------------------------------------------------

/// Node B runs calc-client with its `calc` import linked to the peer behind `client`; returns
/// how many calls it made.
async fn check_remote_calc_client(client: &Arc<Client>) -> anyhow::Result<u64> {
    let node_b = support::runtime()?;
    let runner = instantiate_remote(&node_b, "calc-client", "calc", client, "calc").await?;
    let cases = [((2, 40), 42), ((-7, 7), 0), ((i32::MAX, 1), i32::MIN)];
    for ((a, b), expected) in cases {
        let args = [Val::S32(a), Val::S32(b)];
        let results = runner.call(&apps("runner"), "run", &args).await?;
        assert_eq!(single(results)?, Val::S32(expected), "run({a}, {b})");
    }
    assert_eq!(client.pending_len(), 0);
    Ok(cases.len() as u64)
}

/// calc-server's other functions, called directly: a list and a record cross too.
async fn check_calc_by_client(client: &Client, calc: &InstanceHandle) -> anyhow::Result<u64> {
    let sum = sig(calc, "calc", "sum")?;
    let xs = Val::List(vec![Val::U32(1), Val::U32(2), Val::U32(u32::MAX)]);
    let total = call(client, "calc", "calc", "sum", &sum, &[xs]).await?;
    assert_eq!(single(total)?, Val::U64(3 + u64::from(u32::MAX)));
    let greet = sig(calc, "calc", "greet")?;
    let ada = Val::Record(vec![
        ("name".to_owned(), string("ada")),
        ("age".to_owned(), Val::U8(36)),
    ]);
    let greeting = call(client, "calc", "calc", "greet", &greet, &[ada]).await?;
    assert_eq!(single(greeting)?, string("hello ada, 36"));
    Ok(2)
}

#[tokio::test]
async fn calc_client_calls_calc_on_another_runtime_over_duplex() -> anyhow::Result<()> {
    let node_a = support::runtime()?;
    let calc = support::instantiate(&node_a, "calc-server").await?;
    let server = support::exposing("calc", &calc, "calc")?;
    let (client, serving) = support::connect_duplex(&server);
    let mut calls = check_remote_calc_client(&client).await?;
    calls += check_calc_by_client(&client, &calc).await?;
    // Everything holding the client gone (runtime B's links with it), the connection ends.
    drop(client);
    let stats = support::ended(serving).await?;
    let expected = ConnStats {
        calls,
        ..ConnStats::default()
    };
    assert_eq!(stats, expected);
    Ok(())
}

#[tokio::test]
async fn calc_client_calls_calc_on_another_runtime_over_tcp() -> anyhow::Result<()> {
    let node_a = support::runtime()?;
    let calc = support::instantiate(&node_a, "calc-server").await?;
    let server = support::exposing("calc", &calc, "calc")?;
    let (addr, mut ended) = support::listen(&server).await?;
    let transport = TcpTransport::connect(addr).await?;
    let caller = transport.local_addr();
    let client = Arc::new(support::client(Arc::new(transport)));
    let mut calls = check_remote_calc_client(&client).await?;
    calls += check_calc_by_client(&client, &calc).await?;
    drop(client);
    let (peer, served) = support::next_ended(&mut ended).await?;
    assert_eq!(peer, caller);
    let expected = ConnStats {
        calls,
        ..ConnStats::default()
    };
    assert_eq!(served?, expected);
    Ok(())
}

// ---- domain failures ------------------------------------------------------------------------

/// What `auth.login` answers: a token, or a rejection's (code, message).
type Answer = Result<&'static str, (u32, &'static str)>;

/// `auth.login(user, password)`, and what it answers.
const LOGINS: [(&str, &str, Answer); 5] = [
    ("alice", "wonderland", Ok("token-alice")),
    (
        "alice",
        "looking-glass",
        Err((401, "bad password for alice")),
    ),
    ("bob", "anything", Err((423, "account bob is locked"))),
    ("carol", "", Err((404, "no such user: carol"))),
    ("", "", Err((404, "no such user: "))),
];

#[tokio::test]
async fn auth_rejections_arrive_exactly_through_client_call() -> anyhow::Result<()> {
    let node_a = support::runtime()?;
    let auth = support::instantiate(&node_a, "auth-server").await?;
    let server = support::exposing("auth", &auth, "auth")?;
    let (client, _serving) = support::connect_duplex(&server);
    let login = sig(&auth, "auth", "login")?;
    for (user, password, expected) in LOGINS {
        let args = [string(user), string(password)];
        let outcome = call(&client, "auth", "auth", "login", &login, &args).await;
        match expected {
            Ok(token) => {
                let ok = Val::Result(Ok(Some(Box::new(string(token)))));
                assert_eq!(single(outcome?)?, ok, "login({user:?})");
            }
            Err((code, message)) => {
                let reason = failure_of(outcome)?;
                let raised = FailureReason::DomainSpecific(code, message.to_owned());
                assert_eq!(reason, raised, "login({user:?})");
            }
        }
    }
    assert_eq!(client.pending_len(), 0);
    Ok(())
}

/// What a guest's `result<string, domain-error>` holds.
fn domain_result(expected: Answer) -> Val {
    match expected {
        Ok(token) => Val::Result(Ok(Some(Box::new(string(token))))),
        Err((code, message)) => exorun::domain::err_value(code, message),
    }
}

#[tokio::test]
async fn auth_rejections_arrive_exactly_through_a_guest_import() -> anyhow::Result<()> {
    let node_a = support::runtime()?;
    let auth = support::instantiate(&node_a, "auth-server").await?;
    let server = support::exposing("auth", &auth, "auth")?;
    let (client, _serving) = support::connect_duplex(&server);
    let node_b = support::runtime()?;
    let remote = instantiate_remote(&node_b, "auth-client", "auth", &client, "auth").await?;
    // The oracle: the same client app linked locally, on node A.
    let local = support::instantiate_linked(
        &node_a,
        "auth-client",
        &apps("auth"),
        Linkable::Local(auth.clone()),
    )
    .await?;
    for (user, password, expected) in LOGINS {
        let args = [string(user), string(password)];
        let remotely = single(remote.call(&apps("auth-check"), "check", &args).await?)?;
        let record = domain_result(expected);
        assert_eq!(remotely, record, "check({user:?}) through the remote link");
        let locally = single(local.call(&apps("auth-check"), "check", &args).await?)?;
        assert_eq!(
            remotely, locally,
            "check({user:?}): remote and local differ"
        );
    }
    Ok(())
}

// ---- fuel, memory, traps --------------------------------------------------------------------

/// An instance of `world` on `runtime` with `limits`.
async fn limited(rt: &Runtime, world: &str, limits: Limits) -> anyhow::Result<InstanceHandle> {
    let app = support::register(rt, world)?;
    let builder = InstanceBuilder::new(rt, app).limits(limits);
    Ok(builder.instantiate().await?)
}

#[tokio::test]
async fn the_spinner_runs_out_of_fuel_across_the_wire() -> anyhow::Result<()> {
    let node_a = support::runtime()?;
    let limits = Limits {
        fuel_per_call: 2_000_000,
        ..Limits::default()
    };
    let spinner = limited(&node_a, "spinner", limits).await?;
    let server = support::exposing("spinner", &spinner, "spin")?;
    let (client, _serving) = support::connect_duplex(&server);
    let spin = sig(&spinner, "spin", "spin")?;
    let outcome = call(&client, "spinner", "spin", "spin", &spin, &[]).await;
    assert_eq!(failure_of(outcome)?, FailureReason::OutOfFuel);
    // The trapped instance is poisoned; the next call runs on a renewed one, and spins out too.
    let again = call(&client, "spinner", "spin", "spin", &spin, &[]).await;
    assert_eq!(failure_of(again)?, FailureReason::OutOfFuel);
    assert_eq!(spinner.renewals(), 1);
    Ok(())
}

#[tokio::test]
async fn the_hog_runs_out_of_memory_across_the_wire() -> anyhow::Result<()> {
    let node_a = support::runtime()?;
    let limits = Limits {
        memory_bytes_max: 16 * MIB as usize,
        ..Limits::default()
    };
    let hog = limited(&node_a, "memory-hog", limits).await?;
    let server = support::exposing("hog", &hog, "hog")?;
    let (client, _serving) = support::connect_duplex(&server);
    let hog_sig = sig(&hog, "hog", "hog")?;
    let outcome = call(&client, "hog", "hog", "hog", &hog_sig, &[Val::U32(64)]).await;
    assert_eq!(failure_of(outcome)?, FailureReason::OutOfMemory);
    Ok(())
}

#[tokio::test]
async fn a_trap_arrives_as_app_trapped_and_the_server_goes_on() -> anyhow::Result<()> {
    let node_a = support::runtime()?;
    let hog = support::instantiate(&node_a, "memory-hog").await?;
    let calc = support::instantiate(&node_a, "calc-server").await?;
    let mut server = Server::new(server::Config::default());
    server.expose("hog", &hog, &apps("hog"))?;
    server.expose("calc", &calc, &apps("calc"))?;
    let server = Arc::new(server);
    let (client, _serving) = support::connect_duplex(&server);
    let hog_sig = sig(&hog, "hog", "hog")?;
    // More MiB than a 32-bit address space holds: the guest panics.
    let outcome = call(&client, "hog", "hog", "hog", &hog_sig, &[Val::U32(5000)]).await;
    let unreachable = "wasm trap: wasm `unreachable` instruction executed".to_owned();
    assert_eq!(failure_of(outcome)?, FailureReason::AppTrapped(unreachable));
    let add = sig(&calc, "calc", "add")?;
    let sum = call(
        &client,
        "calc",
        "calc",
        "add",
        &add,
        &[Val::S32(1), Val::S32(2)],
    )
    .await?;
    assert_eq!(single(sum)?, Val::S32(3));
    Ok(())
}

/// A callee's fuel failure, raised on node A, is raised again in the importing guest on node B.
#[tokio::test]
async fn a_remote_callee_failure_traps_the_importer_typed() -> anyhow::Result<()> {
    let node_a = support::runtime()?;
    let starved = Limits {
        fuel_per_call: 1,
        ..Limits::default()
    };
    let calc = support::instantiate(&node_a, "calc-server").await?;
    // After instantiation, which needs fuel of its own.
    calc.exec(|store, _| store.data_mut().set_limits(starved))
        .await?;
    let server = support::exposing("calc", &calc, "calc")?;
    let (client, _serving) = support::connect_duplex(&server);
    let node_b = support::runtime()?;
    let runner = instantiate_remote(&node_b, "calc-client", "calc", &client, "calc").await?;
    let args = [Val::S32(1), Val::S32(2)];
    let err = trap_of(runner.call(&apps("runner"), "run", &args).await)?;
    assert_eq!(err, trap::Error::OutOfFuel);
    Ok(())
}

// ---- the server's failure mapping -----------------------------------------------------------

/// Encoded arguments: `vals` of `types`.
fn args(vals: &[Val], types: &[Type]) -> Vec<u8> {
    codec::encode_args(vals, types).expect("arguments match their types")
}

fn calc_method(function: &str) -> String {
    server::method_name(&apps("calc"), function)
}

/// A raw call through `client` fails with `expected`.
async fn check_failure(
    client: &Client,
    target: &str,
    method: &str,
    args_payload: &[u8],
    expected: FailureReason,
) {
    let outcome = client.call_raw(target, method, args_payload).await;
    let Err(client::Error::Failed(reason)) = outcome else {
        panic!("{target} {method}: expected {expected:?}, got {outcome:?}");
    };
    assert_eq!(reason, expected, "{target} {method}");
}

#[tokio::test]
async fn bad_calls_map_onto_their_failure_reasons() -> anyhow::Result<()> {
    let node_a = support::runtime()?;
    let calc = support::instantiate(&node_a, "calc-server").await?;
    let server = support::exposing("calc", &calc, "calc")?;
    let (client, serving) = support::connect_duplex(&server);
    let s32s = [Type::S32, Type::S32];
    let two = args(&[Val::S32(2), Val::S32(3)], &s32s);

    let not_found = FailureReason::InstanceNotFound("nope".to_owned());
    check_failure(&client, "nope", &calc_method("add"), &two, not_found).await;
    let empty_target = FailureReason::InstanceNotFound(String::new());
    check_failure(&client, "", &calc_method("add"), &two, empty_target).await;

    let unknown_methods = [
        calc_method("mul"),
        "add".to_owned(),
        format!("{}#", apps("calc")),
        // An interface the instance does not export, and one it may export but is not exposed.
        server::method_name(&apps("auth"), "login"),
        server::method_name("exorun:apps/calc@9.9.9", "add"),
    ];
    for method in unknown_methods {
        let expected = FailureReason::MethodNotFound(method.clone());
        check_failure(&client, "calc", &method, &two, expected).await;
    }

    let one = args(&[Val::S32(1)], &[Type::S32]);
    let expected = FailureReason::BadArgumentCount {
        expected: 2,
        found: 1,
    };
    check_failure(&client, "calc", &calc_method("add"), &one, expected).await;
    let three = args(
        &[Val::S32(1), Val::S32(2), Val::S32(3)],
        &[Type::S32, Type::S32, Type::S32],
    );
    let expected = FailureReason::BadArgumentCount {
        expected: 2,
        found: 3,
    };
    check_failure(&client, "calc", &calc_method("add"), &three, expected).await;

    let wrong = args(&[Val::S32(1), string("two")], &[Type::S32, Type::String]);
    let expected = FailureReason::BadArgumentType("args[1]: expected s32, found string".to_owned());
    check_failure(&client, "calc", &calc_method("add"), &wrong, expected).await;
    // Deep inside a record: the path names the field.
    let person = Type::Record(vec![
        Field {
            name: "name".to_owned(),
            ty: Type::String,
        },
        Field {
            name: "age".to_owned(),
            ty: Type::String,
        },
    ]);
    let ada = Val::Record(vec![
        ("name".to_owned(), string("ada")),
        ("age".to_owned(), string("old")),
    ]);
    let wrong = args(&[ada], &[person]);
    let expected =
        FailureReason::BadArgumentType("args[0].age: expected u8, found string".to_owned());
    check_failure(&client, "calc", &calc_method("greet"), &wrong, expected).await;
    // A count wrong inside an argument (a record of one field) is a type error at its path,
    // not a wrong number of arguments.
    let short_person = Type::Record(vec![Field {
        name: "name".to_owned(),
        ty: Type::String,
    }]);
    let short = Val::Record(vec![("name".to_owned(), string("ada"))]);
    let wrong = args(&[short], &[short_person]);
    let expected = FailureReason::BadArgumentType("args[0]: expected 2 values, found 1".to_owned());
    check_failure(&client, "calc", &calc_method("greet"), &wrong, expected).await;

    // After all that, the connection still serves.
    let sum = client.call_raw("calc", &calc_method("add"), &two).await?;
    let sum = codec::decode_results(&sum, &[Type::S32])?;
    assert_eq!(sum, [Val::S32(5)]);
    drop(client);
    let stats = support::ended(serving).await?;
    assert_eq!((stats.malformed, stats.unexpected), (0, 0));
    Ok(())
}

// ---- link time: contracts and the handshake -------------------------------------------------

/// The near end of a connection whose far end the test drives by hand, and a client on it.
/// How long a fake peer waits for a frame: long enough for any client that sends one, short
/// enough that a client that never does fails its test instead of hanging it.
const FRAME_WAIT: Duration = Duration::from_secs(12);

struct FakePeer {
    near: Arc<DuplexTransport>,
    far: DuplexTransport,
    client: Arc<Client>,
}

impl FakePeer {
    fn new() -> FakePeer {
        FakePeer::with_config(support::client_config())
    }

    fn with_config(config: client::Config) -> FakePeer {
        let (near, far) = duplex_pair(64);
        let near = Arc::new(near);
        let transport = Arc::clone(&near) as Arc<dyn Transport>;
        let client = Arc::new(Client::with_config(transport, config));
        FakePeer { near, far, client }
    }

    async fn send_hello(&self, version: u32, offer: &[u8]) {
        let mut enc = neopack::Encoder::new();
        frame::encode_hello(&mut enc, version, "fake", offer).unwrap();
        let hello = enc.into_bytes().unwrap();
        let sent = tokio::time::timeout(FRAME_WAIT, self.far.send(&hello)).await;
        sent.expect("the client reads no frame").unwrap();
    }

    /// The next frame the client sent; a failure, not a hang, if none comes within
    /// [`FRAME_WAIT`].
    async fn next_frame(&self) -> anyhow::Result<Vec<u8>> {
        let received = tokio::time::timeout(FRAME_WAIT, self.far.recv()).await;
        let received = received.context("no frame from the client in time")?;
        received?.context("the client closed the stream")
    }

    /// The next frame the client sent, or `None` at the end of its stream, within
    /// [`FRAME_WAIT`].
    async fn next_frame_or_end(&self) -> Option<Vec<u8>> {
        let received = tokio::time::timeout(FRAME_WAIT, self.far.recv()).await;
        received.expect("the stream does not end").unwrap()
    }

    /// Closes the client's sending side, then reads everything it sent.
    async fn sent_frames(&self) -> Vec<Vec<u8>> {
        self.near.close();
        let mut frames = Vec::new();
        while let Some(bytes) = self.next_frame_or_end().await {
            frames.push(bytes);
        }
        frames
    }
}

/// The `Call` frames among `frames`.
fn calls_among(frames: &[Vec<u8>]) -> usize {
    let is_call = |bytes: &&Vec<u8>| matches!(frame::decode(bytes), Ok(Frame::Call { .. }));
    frames.iter().filter(is_call).count()
}

#[tokio::test]
async fn a_resource_interface_cannot_be_linked_remotely() -> anyhow::Result<()> {
    let counters = apps("counters");
    // A short timeout: were the link to wait for the peer's Hello, it would fail soon, not hang.
    let peer = FakePeer::with_config(client::Config {
        timeout: Duration::from_secs(1),
        ..client::Config::default()
    });
    let node_b = support::runtime()?;
    let linked = instantiate_remote(&node_b, "counter-client", "counters", &peer.client, "c").await;
    let refused = ledger::Error::ResourceOnRemoteBoundary {
        interface: counters.clone(),
        method: "[constructor]counter".to_owned(),
        resource: "counter".to_owned(),
    };
    let expected = builder::Error::Bind {
        interface: counters.clone(),
        cause: bind::Error::Contract(refused.clone()),
    };
    assert_eq!(linked.err(), Some(expected));
    // Refused before the handshake: the peer saw nothing, no Call and no wait for its Hello.
    let sent = peer.sent_frames().await;
    assert_eq!(calls_among(&sent), 0);
    assert_eq!(sent.len(), 0);

    // Nor can a node expose it.
    let node_a = support::runtime()?;
    let counter_server = support::instantiate(&node_a, "counter-server").await?;
    let mut server = Server::new(server::Config::default());
    let exposed = server.expose("c", &counter_server, &counters);
    let Err(server::Error::Contract(err)) = exposed else {
        anyhow::bail!("expected a contract error, got {exposed:?}");
    };
    assert_eq!(err, refused);
    assert_eq!(server.offer(), server::Offer::default());
    Ok(())
}

/// Links calc-client, on a runtime of its own, to `world`'s `calc` served as `exposed_as`,
/// importing it as target "calc". The server must see no call either way.
async fn link_calc_client_against(
    world: &str,
    exposed_as: Option<&str>,
) -> anyhow::Result<Result<(), builder::Error>> {
    let node_a = support::runtime()?;
    let calc = support::instantiate(&node_a, world).await?;
    let mut server = Server::new(server::Config::default());
    if let Some(target) = exposed_as {
        server.expose(target, &calc, &apps("calc"))?;
    }
    let (client, serving) = support::connect_duplex(&Arc::new(server));
    let node_b = support::runtime()?;
    let linked = instantiate_remote(&node_b, "calc-client", "calc", &client, "calc").await;
    let linked = linked.map(drop);
    drop((client, node_b));
    let stats = support::ended(serving).await?;
    assert_eq!(
        stats,
        ConnStats::default(),
        "linking against {world} sent frames"
    );
    Ok(linked)
}

/// The link error, expected to be a `bind::Error` for `exorun:apps/calc`.
fn bind_error<T: std::fmt::Debug>(
    linked: Result<T, builder::Error>,
) -> anyhow::Result<bind::Error> {
    match linked {
        Err(builder::Error::Bind { interface, cause }) if interface == apps("calc") => Ok(cause),
        other => anyhow::bail!("expected a link error for calc, got {other:?}"),
    }
}

#[tokio::test]
async fn a_missing_method_fails_at_link_time() -> anyhow::Result<()> {
    let linked = link_calc_client_against("calc-lite", Some("calc")).await?;
    let missing = ledger::Error::MethodNotFound {
        interface: apps("calc"),
        method: "sum".to_owned(),
    };
    assert_eq!(bind_error(linked)?, bind::Error::Contract(missing));
    Ok(())
}

#[tokio::test]
async fn a_skewed_signature_fails_at_link_time_naming_the_method() -> anyhow::Result<()> {
    let linked = link_calc_client_against("calc-skew", Some("calc")).await?;
    let err = bind_error(linked)?;
    let bind::Error::Contract(ledger::Error::SignatureMismatch {
        interface, method, ..
    }) = &err
    else {
        anyhow::bail!("expected SignatureMismatch, got {err:?}");
    };
    assert_eq!(
        (interface.as_str(), method.as_str()),
        (apps("calc").as_str(), "add")
    );
    let message = err.to_string();
    let expected = "method `add` of `exorun:apps/calc@0.1.0` does not match: \
                    parameter 0 `a`: expected s32, found s64";
    assert_eq!(message, expected);
    Ok(())
}

#[tokio::test]
async fn a_target_the_peer_does_not_offer_fails_at_link_time() -> anyhow::Result<()> {
    // Nothing exposed at all, and calc exposed under another name.
    for exposed_as in [None, Some("calculator")] {
        let linked = link_calc_client_against("calc-server", exposed_as).await?;
        let expected = bind::Error::NotOffered {
            interface: apps("calc"),
            target: "calc".to_owned(),
        };
        assert_eq!(bind_error(linked)?, expected, "exposed as {exposed_as:?}");
    }
    // The matching server links.
    let linked = link_calc_client_against("calc-server", Some("calc")).await?;
    assert!(linked.is_ok(), "{linked:?}");
    Ok(())
}

/// The offer of a server exposing calc-server's `calc` as "calc".
async fn calc_offer() -> anyhow::Result<Vec<u8>> {
    let node_a = support::runtime()?;
    let calc = support::instantiate(&node_a, "calc-server").await?;
    let server = support::exposing("calc", &calc, "calc")?;
    Ok(server.offer().encode()?)
}

#[tokio::test]
async fn a_failed_handshake_fails_at_link_time() -> anyhow::Result<()> {
    let offer = calc_offer().await?;
    let other_version = frame::VERSION + 1;
    let version_message = format!(
        "peer speaks neorpc version {other_version}, we speak {}",
        frame::VERSION
    );
    // The Hello the peer sends, if any, as (version, offer), before it hangs up; and how the
    // handshake error's message starts.
    type Hello = Option<(u32, Vec<u8>)>;
    let cases: [(Hello, &str); 3] = [
        (None, "connection to the peer is closed"),
        (Some((other_version, offer)), &version_message),
        // One valid neopack value that is not an offer.
        (Some((frame::VERSION, vec![0x00])), "malformed offer"),
    ];
    for (hello, message) in cases {
        let peer = FakePeer::new();
        if let Some((version, offer)) = &hello {
            peer.send_hello(*version, offer).await;
        }
        peer.far.close();
        let node_b = support::runtime()?;
        let linked = instantiate_remote(&node_b, "calc-client", "calc", &peer.client, "calc").await;
        let err = bind_error(linked)?;
        let bind::Error::Handshake {
            target,
            message: got,
        } = &err
        else {
            anyhow::bail!("expected a handshake error, got {err:?}");
        };
        assert_eq!(target, "calc");
        assert!(
            got.starts_with(message),
            "{got:?} does not start with {message:?}"
        );
        assert_eq!(calls_among(&peer.sent_frames().await), 0);
    }
    Ok(())
}

// ---- a broken connection --------------------------------------------------------------------

#[tokio::test]
async fn a_connection_closed_mid_call_fails_the_guest_call() -> anyhow::Result<()> {
    let peer = FakePeer::new();
    peer.send_hello(frame::VERSION, &calc_offer().await?).await;
    let node_b = support::runtime()?;
    let runner = instantiate_remote(&node_b, "calc-client", "calc", &peer.client, "calc").await?;
    let running = tokio::spawn(async move {
        let args = [Val::S32(2), Val::S32(40)];
        runner.call(&apps("runner"), "run", &args).await
    });
    // The call reaches the peer, which hangs up instead of answering.
    let bytes = peer.next_frame().await?;
    let Frame::Call { target, method, .. } = frame::decode(&bytes)? else {
        anyhow::bail!("expected a Call");
    };
    assert_eq!((target, method), ("calc", calc_method("add").as_str()));
    let FakePeer { far, client, .. } = peer;
    drop(far);
    let err = trap_of(running.await?)?;
    let message = "calc: connection to the peer is closed".to_owned();
    assert_eq!(err, trap::Error::Unavailable { message });
    assert_eq!(client.pending_len(), 0);
    Ok(())
}

// ---- an unreachable peer down a chain -------------------------------------------------------

/// How long node B's calls to node C may take in the chain test.
const CHAIN_TIMEOUT: Duration = Duration::from_millis(200);

/// Node A's calc-client, linked to node B's calc-proxy, whose `calc` import is `to_c`. Built
/// afresh for each call that traps: a trapped instance stays poisoned.
struct Chain {
    _nodes: (Runtime, Runtime),
    runner: InstanceHandle,
    to_b: Arc<Client>,
    add: FuncSig,
}

async fn chain(to_c: &Arc<Client>) -> anyhow::Result<Chain> {
    let node_b = support::runtime()?;
    let proxy = instantiate_remote(&node_b, "calc-proxy", "calc", to_c, "calc").await?;
    let server_b = support::exposing("calc", &proxy, "calc")?;
    let (to_b, _serving) = support::connect_duplex(&server_b);
    let node_a = support::runtime()?;
    let runner = instantiate_remote(&node_a, "calc-client", "calc", &to_b, "calc").await?;
    let add = sig(&proxy, "calc", "add")?;
    Ok(Chain {
        _nodes: (node_a, node_b),
        runner,
        to_b,
        add,
    })
}

/// Node A's calc-client calls node B's calc-proxy, whose `calc` import is node C: a fake peer
/// that offers calc and never answers, then hangs up. Node B's guest traps with `Unavailable`
/// naming its target and the kind; node B answers `Failure(Unavailable)` with a message meant
/// for node A (B's target name and the kind stay on node B); node A's guest raises that again,
/// unchanged. No host path appears anywhere.
#[tokio::test(start_paused = true)]
async fn an_unreachable_peer_crosses_a_chain_as_unavailable() -> anyhow::Result<()> {
    let node_c = FakePeer::with_config(client::Config {
        timeout: CHAIN_TIMEOUT,
        ..client::Config::default()
    });
    let to_c = Arc::clone(&node_c.client);
    node_c
        .send_hello(frame::VERSION, &calc_offer().await?)
        .await;
    let args = [Val::S32(2), Val::S32(40)];
    let crossed = trap::Error::Unavailable {
        message: trap::UNAVAILABLE.to_owned(),
    };

    let through_guests = chain(&to_c).await?;
    let err = trap_of(
        through_guests
            .runner
            .call(&apps("runner"), "run", &args)
            .await,
    )?;
    assert_eq!(err, crossed);
    let by_client = chain(&to_c).await?;
    let (to_b, add) = (&by_client.to_b, &by_client.add);
    let direct = call(to_b, "calc", "calc", "add", add, &args).await;
    assert_eq!(failure_of(direct)?, crossed.reason());

    // Node C hangs up: the same path, another kind, the same failure beyond node B.
    drop(node_c);
    let through_guests = chain(&to_c).await?;
    let err = trap_of(
        through_guests
            .runner
            .call(&apps("runner"), "run", &args)
            .await,
    )?;
    assert_eq!(err, crossed);
    assert_eq!(
        err.reason(),
        FailureReason::Unavailable(trap::UNAVAILABLE.to_owned())
    );
    assert_eq!(
        (through_guests.to_b.pending_len(), to_c.pending_len()),
        (0, 0)
    );
    Ok(())
}
