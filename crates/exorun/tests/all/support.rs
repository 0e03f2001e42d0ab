//! Shared helpers: fixtures, runtimes, values, a mock transport, servers on duplex pairs and
//! loopback listeners, and a peer that can crash and be redeployed, for sessions.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use exorun::builder::{InstanceBuilder, Linkable};
use exorun::client::{self, Client};
use exorun::instance::{self, InstanceHandle};
use exorun::runtime::{AppId, Runtime};
use exorun::server::{self, ConnStats, Server};
use exorun::session::Connect;
use exorun::transport::{self, DuplexTransport, TcpTransport, Transport};
use neorpc::frame;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use wasmtime::component::Val;

/// The script that builds the fixtures.
pub const BUILD_SCRIPT: &str = "scripts/build_apps.sh";

/// The qualified name of an interface of `exorun:apps`.
pub fn apps(interface: &str) -> String {
    format!("exorun:apps/{interface}@0.1.0")
}

/// Where the component built from `world` is.
pub fn fixture_path(world: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("{world}.wasm"))
}

/// The bytes of the component built from `world`.
pub fn fixture(world: &str) -> anyhow::Result<Vec<u8>> {
    let path = fixture_path(world);
    std::fs::read(&path).with_context(|| {
        format!(
            "fixture {} is missing: run {BUILD_SCRIPT} first",
            path.display()
        )
    })
}

/// A runtime with the default configuration.
pub fn runtime() -> anyhow::Result<Runtime> {
    Ok(Runtime::new()?)
}

/// Registers the fixture `world` under its own name.
pub fn register(runtime: &Runtime, world: &str) -> anyhow::Result<AppId> {
    Ok(runtime.register_app(world, &fixture(world)?)?)
}

/// An instance of `world` with no links beyond WASI.
pub async fn instantiate(runtime: &Runtime, world: &str) -> anyhow::Result<InstanceHandle> {
    let app = register(runtime, world)?;
    Ok(InstanceBuilder::new(runtime, app).instantiate().await?)
}

/// An instance of `world` with one link.
pub async fn instantiate_linked(
    runtime: &Runtime,
    world: &str,
    interface: &str,
    target: Linkable,
) -> anyhow::Result<InstanceHandle> {
    let app = register(runtime, world)?;
    let builder = InstanceBuilder::new(runtime, app).link(interface, target);
    Ok(builder.instantiate().await?)
}

/// The only result of a call.
pub fn single(results: Vec<Val>) -> anyhow::Result<Val> {
    let [one] = <[Val; 1]>::try_from(results)
        .map_err(|r| anyhow::anyhow!("expected one result, got {r:?}"))?;
    Ok(one)
}

pub fn string(s: &str) -> Val {
    Val::String(s.to_owned())
}

pub fn some_string(s: &str) -> Val {
    Val::Option(Some(Box::new(string(s))))
}

/// A transport that hands back what was sent, in order.
#[derive(Default)]
pub struct MockTransport {
    frames: Mutex<VecDeque<Vec<u8>>>,
}

#[async_trait::async_trait]
impl transport::Transport for MockTransport {
    async fn send(&self, frame: &[u8]) -> Result<(), transport::Error> {
        let mut frames = self.frames.lock().map_err(|_| transport::Error::Closed)?;
        frames.push_back(frame.to_vec());
        Ok(())
    }

    async fn recv(&self) -> Result<Option<Vec<u8>>, transport::Error> {
        let mut frames = self.frames.lock().map_err(|_| transport::Error::Closed)?;
        Ok(frames.pop_front())
    }
}

// ---- serving --------------------------------------------------------------------------------

/// How a served connection ended: what `Server::serve` returned.
pub type Served = Result<ConnStats, server::Error>;

/// A server exposing the `exorun:apps` interface `interface` of `handle` under `target`.
pub fn exposing(
    target: &str,
    handle: &InstanceHandle,
    interface: &str,
) -> anyhow::Result<Arc<Server>> {
    let mut server = Server::new(server::Config::default());
    server.expose(target, handle, &apps(interface))?;
    Ok(Arc::new(server))
}

/// How long a test waits for a connection to end once it let go of it. Only a bug (something
/// still holding the client) makes it wait that long: a failure with a message, not a hang.
pub const CONNECTION_END_TIMEOUT: Duration = Duration::from_secs(10);

/// What a served connection's task returned, once the connection ended.
pub async fn ended(serving: JoinHandle<Served>) -> anyhow::Result<ConnStats> {
    let joined = tokio::time::timeout(CONNECTION_END_TIMEOUT, serving).await;
    let served = joined.context("the connection did not end: something still holds its client")?;
    Ok(served??)
}

/// The next frame on `transport`, or `None` at its end, waiting at most
/// [`CONNECTION_END_TIMEOUT`]: a failure with a message, not a hang, when the other side stops
/// making progress (in virtual time, for the tests that pause it).
pub async fn next_frame<T: Transport + ?Sized>(transport: &T) -> anyhow::Result<Option<Vec<u8>>> {
    let received = tokio::time::timeout(CONNECTION_END_TIMEOUT, transport.recv()).await;
    Ok(received.context("no frame in time: the other side stopped making progress")??)
}

/// The next connection end a listener reports (see [`listen`]).
pub async fn next_ended(
    ended: &mut mpsc::UnboundedReceiver<(SocketAddr, Served)>,
) -> anyhow::Result<(SocketAddr, Served)> {
    let next = tokio::time::timeout(CONNECTION_END_TIMEOUT, ended.recv()).await;
    let next = next.context("no connection ended: something still holds its client")?;
    next.context("the listener is gone")
}

/// Serves one connection of `server` over a fresh duplex pair: the caller's end, and the task
/// serving the other end.
pub fn serve_duplex(server: &Arc<Server>) -> (DuplexTransport, JoinHandle<Served>) {
    let (near, far) = transport::duplex_pair(64);
    let server = Arc::clone(server);
    let serving = tokio::spawn(async move { server.serve(Arc::new(far)).await });
    (near, serving)
}

/// How long a test's client waits for an outcome (or for the peer's `Hello`). Far beyond what
/// any call takes in a healthy run, under load included, and short enough that a client or a
/// server that stops making progress fails its test with `Timeout` (in well under the 20 s that
/// mutation testing allows a run) instead of hanging it, as the 30 s default would.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The client configuration of the tests: the default, with [`CALL_TIMEOUT`].
pub fn client_config() -> client::Config {
    client::Config {
        timeout: CALL_TIMEOUT,
        ..client::Config::default()
    }
}

/// A test's client on `transport` ([`client_config`]).
pub fn client(transport: Arc<dyn Transport>) -> Client {
    Client::with_config(transport, client_config())
}

/// A client on a fresh duplex connection to `server`, and the task serving it.
pub fn connect_duplex(server: &Arc<Server>) -> (Arc<Client>, JoinHandle<Served>) {
    let (near, serving) = serve_duplex(server);
    (Arc::new(client(Arc::new(near))), serving)
}

/// Serves every connection to a fresh loopback listener, each in a task of its own. Each
/// connection's end is reported on the channel, with the caller's address.
pub async fn listen(
    server: &Arc<Server>,
) -> anyhow::Result<(SocketAddr, mpsc::UnboundedReceiver<(SocketAddr, Served)>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (ended_tx, ended) = mpsc::unbounded_channel();
    let server = Arc::clone(server);
    tokio::spawn(async move {
        while let Ok((stream, peer)) = listener.accept().await {
            let (server, ended_tx) = (Arc::clone(&server), ended_tx.clone());
            tokio::spawn(async move {
                let served = match TcpTransport::from_stream(stream) {
                    Ok(transport) => server.serve(Arc::new(transport)).await,
                    Err(e) => Err(e.into()),
                };
                let _ = ended_tx.send((peer, served));
            });
        }
    });
    Ok((addr, ended))
}

// ---- a peer that restarts -------------------------------------------------------------------

/// What a [`TestPeer`] answers a connect with.
pub enum Deployment {
    /// Nothing listens: connects are refused.
    Down,
    /// A server serves each new connection, reporting to the observer if there is one.
    Serving(Arc<Server>, Option<Arc<dyn server::Observe>>),
    /// Each new connection's far end goes to the test, which drives it by hand.
    ByHand(mpsc::UnboundedSender<DuplexTransport>),
}

/// A peer for sessions over duplex pairs: each connect gets a fresh pair, served as the current
/// deployment says. [`TestPeer::crash`] ends every served connection at once.
pub struct TestPeer {
    deployed: Mutex<Deployment>,
    serving: Mutex<Vec<JoinHandle<Served>>>,
    /// `Call` frames each served connection received, in the order they were made.
    calls: Mutex<Vec<Arc<AtomicU64>>>,
    /// Connect attempts, refused ones included.
    attempts: AtomicU64,
}

impl TestPeer {
    pub fn new(deployment: Deployment) -> Arc<TestPeer> {
        Arc::new(TestPeer {
            deployed: Mutex::new(deployment),
            serving: Mutex::new(Vec::new()),
            calls: Mutex::new(Vec::new()),
            attempts: AtomicU64::new(0),
        })
    }

    /// Serves `server` to new connections.
    pub fn serving(server: &Arc<Server>) -> Arc<TestPeer> {
        TestPeer::new(Deployment::Serving(Arc::clone(server), None))
    }

    /// What new connections get from now on.
    pub fn deploy(&self, deployment: Deployment) {
        *self.deployed.lock().unwrap() = deployment;
    }

    /// The peer dies: every connection it serves ends at once, and connects are refused until
    /// the next [`TestPeer::deploy`]. (Connections driven by hand end when the test drops them.)
    pub fn crash(&self) {
        self.deploy(Deployment::Down);
        for serving in self.serving.lock().unwrap().drain(..) {
            serving.abort();
        }
    }

    /// Connect attempts so far, refused ones included.
    pub fn attempts(&self) -> u64 {
        self.attempts.load(Ordering::SeqCst)
    }

    /// How many `Call` frames each served connection received, in the order they were made.
    pub fn calls_received(&self) -> Vec<u64> {
        let calls = self.calls.lock().unwrap();
        calls.iter().map(|n| n.load(Ordering::SeqCst)).collect()
    }

    fn serve(
        &self,
        server: &Arc<Server>,
        observer: Option<Arc<dyn server::Observe>>,
    ) -> DuplexTransport {
        let (near, far) = transport::duplex_pair(64);
        let calls = Arc::new(AtomicU64::new(0));
        self.calls.lock().unwrap().push(Arc::clone(&calls));
        let far = Arc::new(CountingTransport { inner: far, calls });
        let server = Arc::clone(server);
        let serving = tokio::spawn(async move { server.serve_observed(far, observer).await });
        self.serving.lock().unwrap().push(serving);
        near
    }
}

#[async_trait::async_trait]
impl Connect for TestPeer {
    async fn connect(&self) -> Result<Arc<dyn Transport>, transport::Error> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        let deployed = self.deployed.lock().unwrap();
        let near = match &*deployed {
            Deployment::Down => {
                let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
                return Err(transport::Error::Io(refused));
            }
            Deployment::Serving(server, observer) => self.serve(server, observer.clone()),
            Deployment::ByHand(hand) => {
                let (near, far) = transport::duplex_pair(64);
                hand.send(far).map_err(|_| transport::Error::Closed)?;
                near
            }
        };
        Ok(Arc::new(near))
    }
}

/// A transport that counts the `Call` frames it receives.
struct CountingTransport {
    inner: DuplexTransport,
    calls: Arc<AtomicU64>,
}

#[async_trait::async_trait]
impl Transport for CountingTransport {
    async fn send(&self, frame: &[u8]) -> Result<(), transport::Error> {
        self.inner.send(frame).await
    }

    async fn recv(&self) -> Result<Option<Vec<u8>>, transport::Error> {
        let received = self.inner.recv().await?;
        let Some(bytes) = received else {
            return Ok(None);
        };
        let kind = neopack::Decoder::new(&bytes).variant();
        if kind.is_ok_and(|kind| kind == frame::kind::CALL) {
            self.calls.fetch_add(1, Ordering::SeqCst);
        }
        Ok(Some(bytes))
    }
}

/// How long a test waits for a client to notice that its peer is gone (virtual time).
pub const DISCONNECT_NOTICE_TIMEOUT: Duration = Duration::from_secs(1);

/// Waits until `client` has noticed that its connection ended; a failure with a message, not a
/// hang, if it never does.
pub async fn disconnected(client: &Client) -> anyhow::Result<()> {
    let started = now();
    while !client.is_disconnected() {
        anyhow::ensure!(
            started.elapsed() < DISCONNECT_NOTICE_TIMEOUT,
            "the client did not notice its connection ended"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(())
}

/// The current instant on the runtime's clock: tokio's (paused in most tests) normally, the
/// virtual clock under madsim, which intercepts `Instant::now`.
#[cfg_attr(
    madsim,
    allow(clippy::disallowed_methods, reason = "madsim virtualizes Instant::now")
)]
pub fn now() -> tokio::time::Instant {
    tokio::time::Instant::now()
}

// ---- holding an instance --------------------------------------------------------------------

/// Someone else holding an instance's lock, so that calls into it wait, until released.
pub struct Held {
    release: tokio::sync::oneshot::Sender<()>,
    holder: JoinHandle<Result<(), instance::Error>>,
}

/// Takes `handle`'s lock and keeps it until [`Held::release`].
pub async fn hold(handle: &InstanceHandle) -> anyhow::Result<Held> {
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let (holding, held) = tokio::sync::oneshot::channel::<()>();
    let handle = handle.clone();
    let holder = tokio::spawn(async move {
        handle
            .exec_async(move |_| {
                Box::pin(async move {
                    let _ = holding.send(());
                    let _ = released.await;
                })
            })
            .await
    });
    held.await.context("the holder never got the lock")?;
    Ok(Held { release, holder })
}

impl Held {
    /// Lets go of the lock.
    pub async fn release(self) -> anyhow::Result<()> {
        let _ = self.release.send(());
        Ok(self.holder.await??)
    }
}

/// Lets every task run until none can, in virtual time: the runtime moves its paused clock (or
/// madsim its simulated one) only once every task waits.
pub async fn settle() {
    tokio::time::sleep(Duration::from_millis(1)).await;
}
