//! Remote call benchmarks: one call's round trip through `Client` over the in-memory duplex pair
//! and over TCP loopback, beside a raw tokio TCP echo of the same bytes (the floor); and
//! throughput with 1, 32 and 256 concurrent callers over TCP loopback.
//!
//! The peer is a fake echo server task (it answers each `Call` with a `Reply` carrying the
//! call's args as results) or the real `Server` serving calc-server's `calc.add`. Round trips
//! run on a current-thread runtime (no thread wake-ups in the path); throughput runs on two
//! worker threads. Run: `cargo bench -p exorun --bench remote`.

use std::sync::{Arc, OnceLock};

use divan::Bencher;
use divan::counter::ItemsCount;
use exorun::client::Client;
use exorun::transport::{TcpTransport, Transport, duplex_pair};
use neorpc::frame::{self, Frame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;

/// Calls each concurrent caller makes per benchmark iteration in the throughput benches.
const CALLS_PER_CALLER: usize = 16;

/// Frames buffered per direction in the duplex pair.
const DUPLEX_CAPACITY: usize = 1024;

fn main() {
    divan::main();
}

fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime")
    })
}

/// A small args payload: the neopack list `[u64, string]`.
fn args_payload() -> &'static [u8] {
    static ARGS: OnceLock<Vec<u8>> = OnceLock::new();
    ARGS.get_or_init(|| {
        let mut enc = neopack::Encoder::new();
        enc.list_begin().unwrap();
        enc.u64(42).unwrap();
        enc.str("hello, remote").unwrap();
        enc.list_end().unwrap();
        enc.into_bytes().unwrap()
    })
}

/// Answers every `Call` with a `Reply` echoing its args, until the stream ends.
async fn echo_server(transport: impl Transport) {
    while let Ok(Some(bytes)) = transport.recv().await {
        let Ok(Frame::Call { seq, args, .. }) = frame::decode(&bytes) else {
            continue;
        };
        let mut enc = neopack::Encoder::with_capacity(args.len() + 16);
        frame::encode_reply(&mut enc, seq, args).unwrap();
        let reply = enc.into_bytes().unwrap();
        if transport.send(&reply).await.is_err() {
            return;
        }
    }
}

/// A client whose peer is a fake echo task over the duplex pair, on the current runtime.
async fn duplex_echo_client() -> Arc<Client> {
    let (near, far) = duplex_pair(DUPLEX_CAPACITY);
    tokio::spawn(echo_server(far));
    Arc::new(Client::new(Arc::new(near)))
}

/// A client whose peer is a fake echo task over TCP loopback, on the current runtime.
async fn tcp_echo_client() -> Arc<Client> {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (connected, accepted) = tokio::join!(TcpTransport::connect(addr), listener.accept());
    let server = TcpTransport::from_stream(accepted.unwrap().0).unwrap();
    tokio::spawn(echo_server(server));
    Arc::new(Client::new(Arc::new(connected.unwrap())))
}

fn tcp_client() -> &'static Arc<Client> {
    static CLIENT: OnceLock<Arc<Client>> = OnceLock::new();
    CLIENT.get_or_init(|| runtime().block_on(tcp_echo_client()))
}

/// A single-threaded runtime for the round-trip benches: client, peer and floor all run on the
/// benchmark's thread, so a round trip measures the path, not how fast this machine wakes a
/// parked worker thread (40-60 us here, and it comes and goes between runs).
fn current_thread() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// The same bytes a `call_raw` puts on the wire: one encoded `Call` frame.
fn call_frame() -> Vec<u8> {
    frame::CallEncoder::new(1, "bench", "echo", args_payload())
        .with_deadline(30_000)
        .to_bytes()
        .unwrap()
}

/// A raw, length-prefixed TCP echo on one connection: the floor for a round trip.
struct RawEcho {
    stream: tokio::sync::Mutex<TcpStream>,
}

/// A raw echo connection, on the current runtime.
async fn raw_echo() -> RawEcho {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (connected, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
    tokio::spawn(raw_echo_server(accepted.unwrap().0));
    let stream = connected.unwrap();
    stream.set_nodelay(true).unwrap();
    RawEcho {
        stream: tokio::sync::Mutex::new(stream),
    }
}

async fn raw_echo_server(mut stream: TcpStream) {
    stream.set_nodelay(true).unwrap();
    let mut buf = Vec::new();
    loop {
        let Ok(size) = stream.read_u32_le().await else {
            return;
        };
        buf.resize(size as usize + 4, 0);
        buf[..4].copy_from_slice(&size.to_le_bytes());
        if stream.read_exact(&mut buf[4..]).await.is_err() {
            return;
        }
        if stream.write_all(&buf).await.is_err() {
            return;
        }
    }
}

impl RawEcho {
    /// Writes one frame (prefix and body in one write), then reads the echo back.
    async fn round_trip(&self, wire: &[u8], echo: &mut Vec<u8>) {
        let mut stream = self.stream.lock().await;
        stream.write_all(wire).await.unwrap();
        let size = stream.read_u32_le().await.unwrap();
        echo.resize(size as usize, 0);
        stream.read_exact(echo).await.unwrap();
    }
}

// ---- round trip, one caller -----------------------------------------------------------------

#[divan::bench]
fn round_trip_client_duplex(bencher: Bencher) {
    let runtime = current_thread();
    let client = runtime.block_on(duplex_echo_client());
    bencher.bench_local(|| {
        runtime
            .block_on(client.call_raw("bench", "echo", args_payload()))
            .unwrap()
    });
}

#[divan::bench]
fn round_trip_client_tcp(bencher: Bencher) {
    let runtime = current_thread();
    let client = runtime.block_on(tcp_echo_client());
    bencher.bench_local(|| {
        runtime
            .block_on(client.call_raw("bench", "echo", args_payload()))
            .unwrap()
    });
}

/// The floor: the bytes of one `Call` frame, echoed over raw tokio TCP.
#[divan::bench]
fn round_trip_raw_tcp_echo(bencher: Bencher) {
    let runtime = current_thread();
    let echo = runtime.block_on(raw_echo());
    let call = call_frame();
    let mut wire = (call.len() as u32).to_le_bytes().to_vec();
    wire.extend_from_slice(&call);
    let mut back = Vec::new();
    bencher.bench_local(|| {
        runtime.block_on(echo.round_trip(&wire, &mut back));
        back.len()
    });
}

// ---- throughput, concurrent callers ---------------------------------------------------------

/// Each iteration: `callers` tasks, each making `CALLS_PER_CALLER` calls back to back.
#[divan::bench(args = [1, 32, 256])]
fn throughput_client_tcp(bencher: Bencher, callers: usize) {
    let client = tcp_client();
    let runtime = runtime();
    bencher
        .counter(ItemsCount::new(callers * CALLS_PER_CALLER))
        .bench_local(|| runtime.block_on(concurrent_calls(client, callers)));
}

async fn concurrent_calls(client: &Arc<Client>, callers: usize) {
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                for _ in 0..CALLS_PER_CALLER {
                    client
                        .call_raw("bench", "echo", args_payload())
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
}

// ---- the real server: calc-server's `add` behind `Server`, over TCP loopback ----------------

/// A `Client` connected over TCP to a real `Server` exposing calc-server's `calc` as "calc".
fn calc_client() -> &'static Arc<Client> {
    static CLIENT: OnceLock<Arc<Client>> = OnceLock::new();
    CLIENT.get_or_init(|| runtime().block_on(calc_tcp_client()))
}

/// A client of a real server over TCP loopback, on the current runtime.
async fn calc_tcp_client() -> Arc<Client> {
    let server = Arc::new(calc_server().await);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (connected, accepted) = tokio::join!(TcpTransport::connect(addr), listener.accept());
    let transport = TcpTransport::from_stream(accepted.unwrap().0).unwrap();
    tokio::spawn(async move { server.serve(Arc::new(transport)).await });
    Arc::new(Client::new(Arc::new(connected.unwrap())))
}

async fn calc_server() -> exorun::server::Server {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/calc-server.wasm"
    );
    let bytes = std::fs::read(path).expect("calc-server.wasm: run scripts/build_apps.sh first");
    let rt = exorun::runtime::Runtime::new().unwrap();
    let app = rt.register_app("calc-server", &bytes).unwrap();
    let handle = exorun::builder::InstanceBuilder::new(&rt, app)
        .instantiate()
        .await
        .unwrap();
    let mut server = exorun::server::Server::new(Default::default());
    server.expose("calc", &handle, CALC).unwrap();
    server
}

const CALC: &str = "exorun:apps/calc@0.1.0";

fn add_args() -> &'static (String, Vec<u8>) {
    static ARGS: OnceLock<(String, Vec<u8>)> = OnceLock::new();
    ARGS.get_or_init(|| {
        use neorpc::schema::Type;
        use wasmtime::component::Val;
        let args = [Val::S32(2), Val::S32(40)];
        let payload = neorpc::codec::encode_args(&args, &[Type::S32, Type::S32]).unwrap();
        (exorun::server::method_name(CALC, "add"), payload)
    })
}

/// One `calc.add` through the real server: decode, lock, call into wasm, encode, reply.
#[divan::bench]
fn round_trip_server_calc_tcp(bencher: Bencher) {
    let runtime = current_thread();
    let client = runtime.block_on(calc_tcp_client());
    let (method, args) = add_args();
    bencher.bench_local(|| {
        runtime
            .block_on(client.call_raw("calc", method, args))
            .unwrap()
    });
}

/// `callers` tasks, each making `CALLS_PER_CALLER` `calc.add` calls through the real server.
#[divan::bench(args = [1, 32, 256])]
fn throughput_server_calc_tcp(bencher: Bencher, callers: usize) {
    let client = calc_client();
    let runtime = runtime();
    bencher
        .counter(ItemsCount::new(callers * CALLS_PER_CALLER))
        .bench_local(|| {
            runtime.block_on(async {
                let (method, args) = add_args();
                let tasks: Vec<_> = (0..callers)
                    .map(|_| {
                        let client = client.clone();
                        tokio::spawn(async move {
                            for _ in 0..CALLS_PER_CALLER {
                                client.call_raw("calc", method, args).await.unwrap();
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.unwrap();
                }
            })
        });
}
