//! The node binary's commands.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use exorun::builder::InstanceBuilder;
use exorun::client::{self, Client};
use exorun::runtime::Runtime;
use exorun::server::{self, Offer, Server};
use exorun::system::{KvSystem, LogSystem};
use exorun::transport::TcpTransport;
use exorun::wave;
use neorpc::schema::{FuncSig, InterfaceSchema};

#[derive(Parser)]
#[command(
    name = "exorun",
    version,
    about = "Host wasm components and call them over neorpc"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Load components and serve chosen interfaces of them over TCP.
    Serve(Serve),
    /// Call one function on a remote node and print its results.
    Call(Call),
}

#[derive(Parser)]
struct Serve {
    /// The address to listen on; port 0 picks a free port (the chosen address is printed).
    #[arg(long, default_value = "127.0.0.1:7000")]
    listen: String,
    /// A component to run, as NAME=PATH (repeatable). Its logging and kv imports are served by
    /// the node; WASI gets no ambient access.
    #[arg(long = "app", value_name = "NAME=PATH", required = true)]
    apps: Vec<String>,
    /// An interface to expose, as NAME=INTERFACE (repeatable): callers reach it as target NAME.
    #[arg(long = "expose", value_name = "NAME=INTERFACE", required = true)]
    exposes: Vec<String>,
    /// This node's name, sent to callers in Hello.
    #[arg(long, default_value = "exorun")]
    node: String,
    /// Fuel per call (bounds execution).
    #[arg(long)]
    fuel: Option<u64>,
    /// Memory limit per instance, in MiB.
    #[arg(long)]
    memory_mib: Option<usize>,
    #[command(flatten)]
    limits: Limits,
}

/// What a peer can make the node hold: the fields of `server::Config`.
#[derive(Parser)]
#[command(next_help_heading = "Limits")]
struct Limits {
    /// Connections served at once; more are refused. Each is a file descriptor: keep it below
    /// the process's limit (ulimit -n).
    #[arg(long, default_value_t = server::CONNECTIONS_MAX)]
    connections_max: usize,
    /// Calls running at once per connection; at the limit the node stops reading it.
    #[arg(long, default_value_t = server::CALLS_IN_FLIGHT_MAX)]
    calls_in_flight_max: usize,
    /// Bytes of calls one connection may have waiting to start; at the limit the node stops
    /// reading it.
    #[arg(long, default_value_t = server::ADMITTED_BYTES_MAX)]
    admitted_bytes_max: usize,
    /// Bytes of calls waiting to start over all connections; a call beyond it fails with
    /// Overloaded.
    #[arg(long, default_value_t = server::ADMITTED_NODE_BYTES_MAX)]
    admitted_node_bytes_max: usize,
    /// Finished calls remembered per connection, so that a duplicated call never runs twice;
    /// an older duplicate is refused.
    #[arg(long, default_value_t = server::DEDUP_WINDOW_MAX)]
    dedup_window_max: usize,
    /// Bytes of outcomes one connection keeps to answer duplicates again; past it the oldest
    /// are let go (a duplicate of one is refused).
    #[arg(long, default_value_t = server::DEDUP_WINDOW_BYTES_MAX)]
    dedup_window_bytes_max: usize,
    /// Bytes of outcomes kept to answer duplicates over all connections.
    #[arg(long, default_value_t = server::DEDUP_NODE_BYTES_MAX)]
    dedup_node_bytes_max: usize,
    /// Milliseconds a frame may wait for the peer to take it; a peer that does not read is
    /// disconnected after that.
    #[arg(long, default_value_t = millis(server::SEND_TIMEOUT))]
    send_timeout_ms: u64,
    /// Milliseconds a connection may receive nothing and run nothing before it is closed.
    #[arg(long, default_value_t = millis(server::IDLE_TIMEOUT))]
    idle_timeout_ms: u64,
}

impl Limits {
    fn config(&self, node: &str) -> server::Config {
        server::Config {
            node: node.to_owned(),
            dedup_window_max: self.dedup_window_max,
            dedup_window_bytes_max: self.dedup_window_bytes_max,
            dedup_node_bytes_max: self.dedup_node_bytes_max,
            calls_in_flight_max: self.calls_in_flight_max,
            admitted_bytes_max: self.admitted_bytes_max,
            admitted_node_bytes_max: self.admitted_node_bytes_max,
            connections_max: self.connections_max,
            send_timeout: Duration::from_millis(self.send_timeout_ms),
            idle_timeout: Duration::from_millis(self.idle_timeout_ms),
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// The first pause after `accept` fails (out of file descriptors, say), doubling while it keeps
/// failing, up to [`ACCEPT_BACKOFF_MAX`].
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);

/// The longest pause between two failed `accept`s.
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

const _: () = assert!(ACCEPT_BACKOFF_MIN.as_nanos() <= ACCEPT_BACKOFF_MAX.as_nanos());

#[derive(Parser)]
struct Call {
    /// The node's address, HOST:PORT.
    addr: String,
    /// The target name the node exposes.
    target: String,
    /// The function: `add`, or `INTERFACE#add` when several exposed interfaces have one.
    method: String,
    /// Arguments as WIT values (WAVE text): 42, "hi", [1, 2], {name: "ada", age: 36}, some(1).
    /// Negative numbers are values, not options.
    #[arg(allow_negative_numbers = true)]
    args: Vec<String>,
    /// Give up after this many milliseconds.
    #[arg(long, default_value_t = 30_000)]
    timeout_ms: u64,
}

/// A line in the node's log, stderr. Unlike `eprintln!`, it never panics: a node whose stderr
/// is gone (closed pipe, full disk) keeps serving, unlogged.
macro_rules! log {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build();
    let Ok(runtime) = runtime else {
        eprintln!("error: cannot start the async runtime");
        return ExitCode::FAILURE;
    };
    let result = match cli.command {
        Command::Serve(serve) => runtime.block_on(run_serve(serve)),
        Command::Call(call) => runtime.block_on(run_call(call)),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn split_pair<'a>(text: &'a str, what: &str) -> anyhow::Result<(&'a str, &'a str)> {
    let Some((name, value)) = text.split_once('=') else {
        bail!("{what} must be NAME=VALUE, got `{text}`");
    };
    Ok((name, value))
}

async fn run_serve(args: Serve) -> anyhow::Result<ExitCode> {
    let mut config = exorun::runtime::Config::default();
    if let Some(fuel) = args.fuel {
        config.limits.fuel_per_call = fuel;
    }
    if let Some(mib) = args.memory_mib {
        config.limits.memory_bytes_max = mib.saturating_mul(1 << 20);
    }
    let runtime = Runtime::with_config(config).context("starting the runtime")?;
    let kv = KvSystem::new();
    let mut server = Server::new(args.limits.config(&args.node));
    let mut handles = std::collections::BTreeMap::new();
    for app in &args.apps {
        let (name, path) = split_pair(app, "--app")?;
        let path = PathBuf::from(path);
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let id = runtime
            .register_app(name, &bytes)
            .with_context(|| format!("loading app `{name}`"))?;
        let handle = InstanceBuilder::new(&runtime, id)
            .system(LogSystem::new())
            .system(kv.clone())
            .instantiate()
            .await
            .with_context(|| format!("instantiating app `{name}`"))?;
        handles.insert(name.to_owned(), handle);
    }
    for expose in &args.exposes {
        let (name, interface) = split_pair(expose, "--expose")?;
        let Some(handle) = handles.get(name) else {
            bail!("--expose names app `{name}`, which no --app loads");
        };
        server
            .expose(name, handle, interface)
            .with_context(|| format!("exposing `{expose}`"))?;
    }
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let addr: SocketAddr = listener.local_addr()?;
    println!("listening on {addr}");
    print_offer(&server.offer());
    accept_loop(listener, Arc::new(server)).await
}

fn print_offer(offer: &Offer) {
    for (target, interfaces) in &offer.targets {
        for interface in interfaces {
            let funcs: Vec<&str> = interface.funcs.keys().map(String::as_str).collect();
            println!(
                "serving {target}: {} ({})",
                interface.name,
                funcs.join(", ")
            );
        }
    }
}

/// Serves every connection, for as long as the node runs. A failed `accept` (out of file
/// descriptors, a connection reset before it was taken) is logged and retried after a pause
/// that doubles while it keeps failing: it never ends the node, whose calls in flight go on.
async fn accept_loop(
    listener: tokio::net::TcpListener,
    server: Arc<Server>,
) -> anyhow::Result<ExitCode> {
    let mut backoff = ACCEPT_BACKOFF_MIN;
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                let pause = backoff.as_millis();
                log!("accepting a connection failed: {e}; trying again in {pause} ms");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                continue;
            }
        };
        backoff = ACCEPT_BACKOFF_MIN;
        serve_connection(&server, stream, peer);
    }
}

/// Serves one accepted connection in a task of its own; what goes wrong is logged.
fn serve_connection(server: &Arc<Server>, stream: tokio::net::TcpStream, peer: SocketAddr) {
    let transport = match TcpTransport::from_stream(stream) {
        Ok(transport) => transport,
        Err(e) => {
            log!("connection from {peer}: {e}");
            return;
        }
    };
    let server = Arc::clone(server);
    let log: Arc<dyn server::Observe> = Arc::new(ConnLog { peer });
    tokio::spawn(async move {
        if let Err(e) = server.serve_observed(Arc::new(transport), Some(log)).await {
            log!("connection from {peer}: {e}");
        }
    });
}

/// The node's log of one connection: what the peer was not told (host errors in full) and
/// the calls refused.
struct ConnLog {
    peer: SocketAddr,
}

impl server::Observe for ConnLog {
    fn executing(&self, _seq: u64, _target: &str, _method: &str) {}

    fn answered(&self, _seq: u64, _reply: bool) {}

    fn duplicate(&self, _seq: u64) {}

    fn refused(&self, seq: u64, reason: &neorpc::FailureReason) {
        log!(
            "connection from {}: call {seq} refused: {reason}",
            self.peer
        );
    }

    fn failure_detail(&self, seq: u64, detail: &str) {
        log!("connection from {}: call {seq} failed: {detail}", self.peer);
    }
}

async fn run_call(args: Call) -> anyhow::Result<ExitCode> {
    let timeout = Duration::from_millis(args.timeout_ms);
    let transport = TcpTransport::connect(args.addr.as_str())
        .await
        .with_context(|| format!("connecting to {}", args.addr))?;
    let config = client::Config {
        timeout,
        node: "exorun-call".to_owned(),
        ..Default::default()
    };
    let client = Client::with_config(Arc::new(transport), config);
    let hello = client
        .peer_hello_with_timeout(timeout)
        .await
        .context("waiting for the node's Hello")?;
    neorpc::frame::check_version(hello.version).context("the node's Hello")?;
    let offer = Offer::decode(&hello.offer).context("reading the node's offer")?;
    let (interface, sig) = find_method(&offer, &args.target, &args.method)?;
    let params = sig.param_types();
    if args.args.len() != params.len() {
        bail!(
            "`{}` takes {} arguments ({sig}), {} given",
            args.method,
            params.len(),
            args.args.len()
        );
    }
    let mut vals = Vec::with_capacity(params.len());
    for (text, ty) in args.args.iter().zip(&params) {
        vals.push(wave::parse(ty, text)?);
    }
    let method = server::method_name(&interface.name, function_name(&args.method));
    let called = client
        .call(&args.target, &method, &vals, &params, &sig.results)
        .await;
    match called {
        Ok(results) => {
            println!("{}", wave::print_all(&results, &sig.results)?);
            Ok(ExitCode::SUCCESS)
        }
        Err(client::Error::Failed(reason)) => {
            eprintln!("call failed: {reason}");
            Ok(ExitCode::FAILURE)
        }
        Err(e) => Err(e).context("calling"),
    }
}

fn function_name(method: &str) -> &str {
    method.rsplit_once('#').map_or(method, |(_, f)| f)
}

fn find_method<'o>(
    offer: &'o Offer,
    target: &str,
    method: &str,
) -> anyhow::Result<(&'o InterfaceSchema, &'o FuncSig)> {
    let Some(interfaces) = offer.targets.get(target) else {
        let known: Vec<&str> = offer.targets.keys().map(String::as_str).collect();
        bail!(
            "the node exposes no target `{target}` (it exposes: {})",
            known.join(", ")
        );
    };
    let (wanted_interface, function) = match method.rsplit_once('#') {
        Some((i, f)) => (Some(i), f),
        None => (None, method),
    };
    let mut found = interfaces
        .iter()
        .filter(|i| wanted_interface.is_none_or(|w| i.name == w));
    let matches: Vec<(&InterfaceSchema, &FuncSig)> = found
        .by_ref()
        .filter_map(|i| Some((i, i.funcs.get(function)?)))
        .collect();
    match matches.as_slice() {
        [one] => Ok(*one),
        [] => bail!("target `{target}` has no function `{method}`"),
        _ => bail!("`{method}` is ambiguous on `{target}`: write INTERFACE#{function}"),
    }
}
