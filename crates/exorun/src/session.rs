//! `Session`: a link to one peer that survives the peer's restart.
//!
//! A [`Client`] lives and dies with its connection. A session holds the current client and,
//! when a call finds it disconnected, makes a new connection through its [`Connect`]or first:
//!
//! 1. One reconnect at a time. The first caller to find the connection gone reconnects; callers
//!    arriving meanwhile wait for it and use the connection it made.
//! 2. Connect attempts are spaced by a doubling backoff (`backoff_initial` up to `backoff_max`,
//!    slept with `tokio::time`, so virtual under madsim), at most `reconnect_attempts_max` of
//!    them, and all of it within the call's own timeout.
//! 3. The new peer's `Hello` is awaited and its protocol version checked.
//! 4. Every contract registered with [`Session::require`] is checked against the new offer
//!    before any call is sent on the new connection. A call whose target and interface no
//!    longer hold their contract fails with [`client::Error::Contract`], and no `Call` frame
//!    leaves for it.
//!
//! Nothing is ever sent twice: a call in flight when the connection broke fails with
//! [`client::Error::Disconnected`] (as on a plain client), and only calls made after the break
//! go out on the new connection.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use neorpc::schema::InterfaceSchema;
use tokio::time::Instant;

use crate::client::{self, Client, PeerHello};
use crate::ledger;
use crate::offer::{self, Offer, offer_of};
use crate::transport::{self, TcpTransport, Transport};

/// The pause after the first failed connect attempt unless configured otherwise; each further
/// failure doubles it, up to [`BACKOFF_MAX_DEFAULT`].
pub const BACKOFF_INITIAL_DEFAULT: Duration = Duration::from_millis(10);

/// The longest pause between two connect attempts unless configured otherwise.
pub const BACKOFF_MAX_DEFAULT: Duration = Duration::from_secs(1);

/// How many connect attempts one (re)connect makes unless configured otherwise, before it gives
/// up with [`client::Error::Unreachable`]. With the default backoff, eight attempts span about
/// 1.3 s.
pub const RECONNECT_ATTEMPTS_MAX_DEFAULT: u32 = 8;

/// How many contracts (distinct required schemas of a target's interface) a session keeps.
pub const CONTRACTS_MAX: usize = 1024;

const _: () = assert!(!BACKOFF_INITIAL_DEFAULT.is_zero());
const _: () = assert!(BACKOFF_INITIAL_DEFAULT.as_nanos() <= BACKOFF_MAX_DEFAULT.as_nanos());
const _: () = assert!(RECONNECT_ATTEMPTS_MAX_DEFAULT > 0);
const _: () = assert!(CONTRACTS_MAX > 0);

/// Makes a new connection to the peer, each time it is asked.
#[async_trait::async_trait]
pub trait Connect: Send + Sync + 'static {
    /// A fresh transport to the peer, or why there is none (for TCP: refused, unreachable).
    async fn connect(&self) -> Result<Arc<dyn Transport>, transport::Error>;
}

/// Connects over TCP ([`TcpTransport`]) to `addr` (madsim's simulated network under
/// `--cfg madsim`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpConnect {
    pub addr: SocketAddr,
}

#[async_trait::async_trait]
impl Connect for TcpConnect {
    async fn connect(&self) -> Result<Arc<dyn Transport>, transport::Error> {
        let transport = TcpTransport::connect(self.addr).await?;
        Ok(Arc::new(transport))
    }
}

/// What can go wrong making a session or registering a contract.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The configuration cannot work.
    #[error("bad session configuration: {message}")]
    Config { message: String },
    /// Every connect attempt failed.
    #[error("peer unreachable: {attempts} connect attempts failed, the last with: {cause}")]
    Unreachable { attempts: u32, cause: String },
    /// No connection delivered the peer's `Hello` within the client's timeout.
    #[error("no connection to the peer delivered its Hello in time")]
    Timeout,
    /// The peer's `Hello` cannot be accepted (another protocol version, a malformed offer).
    #[error("handshake: {message}")]
    Handshake { message: String },
    /// The peer's offer breaks the required contract.
    #[error(transparent)]
    Contract(#[from] ledger::Error),
    /// The peer's offer does not serve the interface under the target name.
    #[error("peer target `{target}` does not serve `{interface}`")]
    NotOffered { interface: String, target: String },
    /// More than [`CONTRACTS_MAX`] contracts.
    #[error("a session keeps at most {max} contracts")]
    TooManyContracts { max: usize },
}

/// How a [`Session`] behaves.
#[derive(Debug, Clone)]
pub struct Config {
    /// The configuration of each connection's client. Its `timeout` bounds a call made through
    /// [`Session::call_raw`], reconnecting included, and [`Session::connect`].
    pub client: client::Config,
    /// The pause after the first failed connect attempt ([`BACKOFF_INITIAL_DEFAULT`]).
    pub backoff_initial: Duration,
    /// The longest pause between attempts ([`BACKOFF_MAX_DEFAULT`]).
    pub backoff_max: Duration,
    /// Connect attempts per (re)connect, at least one ([`RECONNECT_ATTEMPTS_MAX_DEFAULT`]).
    pub reconnect_attempts_max: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            client: client::Config::default(),
            backoff_initial: BACKOFF_INITIAL_DEFAULT,
            backoff_max: BACKOFF_MAX_DEFAULT,
            reconnect_attempts_max: RECONNECT_ATTEMPTS_MAX_DEFAULT,
        }
    }
}

impl Config {
    fn check(&self) -> Result<(), Error> {
        let bad = |message: &str| {
            Err(Error::Config {
                message: message.to_owned(),
            })
        };
        if self.reconnect_attempts_max == 0 {
            return bad("reconnect_attempts_max must be at least 1");
        }
        if self.backoff_initial > self.backoff_max {
            return bad("backoff_initial must not exceed backoff_max");
        }
        let pending = self.client.pending_calls_max;
        if pending == 0 || pending > tokio::sync::Semaphore::MAX_PERMITS {
            return bad("client.pending_calls_max must be positive and fit a semaphore");
        }
        Ok(())
    }
}

/// Required schemas by target, then interface: what importers rely on.
type Contracts = BTreeMap<String, BTreeMap<String, Vec<InterfaceSchema>>>;

/// One connection: its client, and what its `Hello` allows.
struct Link {
    client: Arc<Client>,
    /// The peer's offer, or why its `Hello` cannot be accepted.
    offer: Result<Offer, String>,
    /// The registered contracts this connection's offer broke when it was made: target, then
    /// interface, then why.
    broken: BTreeMap<String, BTreeMap<String, String>>,
}

impl Link {
    /// Whether a call of `method` on `target` may be sent on this connection.
    fn admit(&self, target: &str, method: &str) -> Result<(), client::Error> {
        if let Err(message) = &self.offer {
            return Err(client::Error::Contract(format!("handshake: {message}")));
        }
        let interface = offer::interface_of(method);
        let why = self
            .broken
            .get(target)
            .and_then(|broken| broken.get(interface));
        let Some(why) = why else {
            return Ok(());
        };
        Err(client::Error::Contract(why.clone()))
    }
}

/// A link to one peer that reconnects when the peer restarts; see the module documentation.
/// Share it behind an `Arc`; calls may run concurrently from any number of tasks.
pub struct Session {
    connector: Arc<dyn Connect>,
    config: Config,
    /// Lock order: `contracts`, then `current`. Neither is held across an await.
    contracts: std::sync::Mutex<Contracts>,
    current: std::sync::Mutex<Arc<Link>>,
    /// Held by the one caller reconnecting.
    reconnecting: tokio::sync::Mutex<()>,
    generation: AtomicU64,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("config", &self.config)
            .field("generation", &self.generation())
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Connects through `connector` (with the backoff and attempts of `config`, within
    /// `config.client.timeout`), makes a client with `config.client`, and waits for the peer's
    /// `Hello`. Call inside a tokio (or madsim) runtime.
    pub async fn connect(
        connector: Arc<dyn Connect>,
        config: Config,
    ) -> Result<Arc<Session>, Error> {
        config.check()?;
        let deadline = client::deadline_after(config.client.timeout);
        let dialing = dial(connector.as_ref(), &config, deadline);
        let Ok(dialed) = client::within(deadline, dialing).await else {
            return Err(Error::Timeout);
        };
        let (client, hello) = dialed?;
        let offer = offer_of(&hello).map_err(|message| Error::Handshake { message })?;
        let link = Link {
            client,
            offer: Ok(offer),
            broken: BTreeMap::new(),
        };
        Ok(Arc::new(Session {
            connector,
            config,
            contracts: std::sync::Mutex::new(BTreeMap::new()),
            current: std::sync::Mutex::new(Arc::new(link)),
            reconnecting: tokio::sync::Mutex::new(()),
            generation: AtomicU64::new(1),
        }))
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// How many connections the session has made that got as far as the peer's `Hello`: 1
    /// after [`Session::connect`], one more per reconnect.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// The client of the current connection (which may have ended; the next call reconnects).
    pub fn client(&self) -> Arc<Client> {
        Arc::clone(&self.current().client)
    }

    /// Registers a contract: the importer requires `required` (an interface schema, as its
    /// ledger describes the import) from the peer's target `target`. Checks it against the
    /// current offer now, and against every new connection's offer before any call is sent on
    /// it. A contract that does not hold now is not registered.
    pub fn require(&self, target: &str, required: &InterfaceSchema) -> Result<(), Error> {
        let mut contracts = lock(&self.contracts);
        let link = self.current();
        let offer = link.offer.as_ref().map_err(|message| Error::Handshake {
            message: message.clone(),
        })?;
        check(offer, target, required)?;
        let schemas = contracts.get(target).and_then(|i| i.get(&required.name));
        if schemas.is_some_and(|schemas| schemas.contains(required)) {
            return Ok(());
        }
        if contracts_count(&contracts) >= CONTRACTS_MAX {
            return Err(Error::TooManyContracts { max: CONTRACTS_MAX });
        }
        let interfaces = contracts.entry(target.to_owned()).or_default();
        let schemas = interfaces.entry(required.name.clone()).or_default();
        schemas.push(required.clone());
        Ok(())
    }

    /// Calls `method` on `target` with pre-encoded arguments, within the client's configured
    /// timeout, reconnecting first if the connection is gone. See [`Client::call_raw`].
    pub async fn call_raw(
        &self,
        target: &str,
        method: &str,
        args_payload: &[u8],
    ) -> Result<Vec<u8>, client::Error> {
        let timeout = self.config.client.timeout;
        self.call_raw_with_timeout(target, method, args_payload, timeout)
            .await
    }

    /// Like [`Session::call_raw`], within `timeout`: reconnecting, waiting for the new `Hello`
    /// and the call itself all count against it.
    pub async fn call_raw_with_timeout(
        &self,
        target: &str,
        method: &str,
        args_payload: &[u8],
        timeout: Duration,
    ) -> Result<Vec<u8>, client::Error> {
        let deadline = client::deadline_after(timeout);
        let link = self.link(deadline).await?;
        link.admit(target, method)?;
        let remaining = deadline.saturating_duration_since(client::now());
        let client = &link.client;
        client
            .call_raw_with_timeout(target, method, args_payload, remaining)
            .await
    }

    fn current(&self) -> Arc<Link> {
        Arc::clone(&lock(&self.current))
    }

    /// A connection to send on: the current one, or, if it has ended, a new one.
    async fn link(&self, deadline: Instant) -> Result<Arc<Link>, client::Error> {
        let link = self.current();
        if !link.client.is_disconnected() {
            return Ok(link);
        }
        let Ok(reconnected) = client::within(deadline, self.reconnect(deadline)).await else {
            return Err(client::Error::Timeout);
        };
        reconnected.map_err(Error::into_client)
    }

    /// Makes a new connection, unless another caller did while this one waited its turn.
    async fn reconnect(&self, deadline: Instant) -> Result<Arc<Link>, Error> {
        let _turn = self.reconnecting.lock().await;
        let link = self.current();
        if !link.client.is_disconnected() {
            return Ok(link);
        }
        let (client, hello) = dial(self.connector.as_ref(), &self.config, deadline).await?;
        Ok(self.install(client, &hello))
    }

    /// Checks every registered contract against the new peer's offer, then makes the new
    /// connection the current one.
    fn install(&self, client: Arc<Client>, hello: &PeerHello) -> Arc<Link> {
        let contracts = lock(&self.contracts);
        let offer = offer_of(hello);
        let broken = match &offer {
            Ok(offer) => broken_contracts(&contracts, offer),
            Err(_) => BTreeMap::new(),
        };
        #[cfg(madsim)]
        let broken = match crate::plant::active(crate::plant::Plant::SkipContractCheck) {
            true => BTreeMap::new(),
            false => broken,
        };
        let link = Arc::new(Link {
            client,
            offer,
            broken,
        });
        *lock(&self.current) = Arc::clone(&link);
        self.generation.fetch_add(1, Ordering::SeqCst);
        link
    }
}

impl Error {
    /// The error a call that needed this (re)connect fails with.
    fn into_client(self) -> client::Error {
        match self {
            Error::Unreachable { attempts, cause } => {
                client::Error::Unreachable { attempts, cause }
            }
            Error::Timeout => client::Error::Timeout,
            other => client::Error::Contract(other.to_string()),
        }
    }
}

/// Connects, with backoff, until a connection delivers the peer's `Hello`. A connection that
/// ends before its `Hello` counts as a failed attempt. Callers bound it by their deadline.
async fn dial(
    connector: &dyn Connect,
    config: &Config,
    deadline: Instant,
) -> Result<(Arc<Client>, PeerHello), Error> {
    let mut backoff = config.backoff_initial;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let cause = match attempt(connector, config, deadline).await {
            Attempt::Connected(client, hello) => return Ok((client, hello)),
            Attempt::TimedOut => return Err(Error::Timeout),
            Attempt::Failed(cause) => cause,
        };
        if attempts >= config.reconnect_attempts_max {
            return Err(Error::Unreachable { attempts, cause });
        }
        tokio::time::sleep(backoff).await;
        backoff = backoff.saturating_mul(2).min(config.backoff_max);
    }
}

/// How one connect attempt went.
enum Attempt {
    Connected(Arc<Client>, PeerHello),
    /// The deadline passed while waiting for the `Hello`.
    TimedOut,
    /// No connection, or it ended before its `Hello`: worth another attempt.
    Failed(String),
}

async fn attempt(connector: &dyn Connect, config: &Config, deadline: Instant) -> Attempt {
    let transport = match connector.connect().await {
        Ok(transport) => transport,
        Err(e) => return Attempt::Failed(e.to_string()),
    };
    let client = Arc::new(Client::with_config(transport, config.client.clone()));
    let remaining = deadline.saturating_duration_since(client::now());
    match client.peer_hello_with_timeout(remaining).await {
        Ok(hello) => Attempt::Connected(client, hello),
        Err(client::Error::Timeout) => Attempt::TimedOut,
        Err(e) => Attempt::Failed(format!("before the peer's Hello: {e}")),
    }
}

/// Whether `offer` serves `required` under `target` with a matching contract.
fn check(offer: &Offer, target: &str, required: &InterfaceSchema) -> Result<(), Error> {
    let Some(offered) = offer.interface(target, &required.name) else {
        return Err(Error::NotOffered {
            interface: required.name.clone(),
            target: target.to_owned(),
        });
    };
    Ok(ledger::check_contract(required, offered)?)
}

/// The registered contracts `offer` breaks, with why: target, then interface, then the first
/// broken requirement's reason.
fn broken_contracts(
    contracts: &Contracts,
    offer: &Offer,
) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut broken: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (target, interfaces) in contracts {
        for (interface, schemas) in interfaces {
            let failed = schemas.iter().find_map(|s| check(offer, target, s).err());
            let Some(e) = failed else {
                continue;
            };
            let why = broken.entry(target.clone()).or_default();
            why.insert(interface.clone(), e.to_string());
        }
    }
    broken
}

/// How many contracts are registered.
fn contracts_count(contracts: &Contracts) -> usize {
    let interfaces = contracts.values().flat_map(BTreeMap::values);
    interfaces.map(Vec::len).sum()
}

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The guarded values hold no invariant a panic could break.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
