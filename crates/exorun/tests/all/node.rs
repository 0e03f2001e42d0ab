//! The node binary: `exorun serve` on a loopback port, `exorun call` against it, checked by what
//! they print and how they exit. Real processes, so real time, for timeouts only: a stuck child
//! fails the test with a message (and is killed) instead of hanging it.

use std::process::Stdio;
use std::time::Duration;

use anyhow::Context as _;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStderr, Command};

use crate::support::{self, apps};

/// How long a child may take to start serving, or to finish one call.
const CHILD_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a serving node may take between the lines of its banner: it prints them together,
/// once it listens, so a line that has not come by then never will (a node that serves less
/// than it was told to fails the test here rather than after [`CHILD_TIMEOUT`]).
const BANNER_LINE_TIMEOUT: Duration = Duration::from_secs(5);

const EXORUN: &str = env!("CARGO_BIN_EXE_exorun");

/// A running `exorun serve`; killed when dropped.
struct ServingNode {
    child: Child,
    /// The node's log (stderr), once read: kept open, so that the node can go on writing it.
    log: Option<Lines<BufReader<ChildStderr>>>,
    /// The address it printed first.
    addr: String,
    /// What it printed after the address: the interfaces it serves.
    banner: Vec<String>,
}

impl ServingNode {
    /// Serves each `(name, world, interface)`: the fixture `world` as app `name`, its
    /// `exorun:apps` `interface` exposed as target `name`.
    async fn start(apps_served: &[(&str, &str, &str)]) -> anyhow::Result<ServingNode> {
        ServingNode::spawn(Command::new(EXORUN), apps_served, &[]).await
    }

    /// Like [`ServingNode::start`], with at most `fd_limit` open file descriptors and `flags`
    /// given to `serve`.
    async fn start_limited(
        apps_served: &[(&str, &str, &str)],
        fd_limit: u32,
        flags: &[&str],
    ) -> anyhow::Result<ServingNode> {
        let mut command = Command::new("sh");
        let script = format!("ulimit -n {fd_limit} && exec \"$0\" \"$@\"");
        command.arg("-c").arg(script).arg(EXORUN);
        ServingNode::spawn(command, apps_served, flags).await
    }

    /// Runs `command serve` on a free loopback port with the apps and `flags`, and waits for
    /// it to say where it listens and what it serves.
    async fn spawn(
        mut command: Command,
        apps_served: &[(&str, &str, &str)],
        flags: &[&str],
    ) -> anyhow::Result<ServingNode> {
        command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(flags);
        for (name, world, interface) in apps_served {
            let path = support::fixture_path(world);
            anyhow::ensure!(
                path.exists(),
                "fixture {} is missing: run {} first",
                path.display(),
                support::BUILD_SCRIPT
            );
            command
                .arg("--app")
                .arg(format!("{name}={}", path.display()));
            command
                .arg("--expose")
                .arg(format!("{name}={}", apps(interface)));
        }
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().context("spawning exorun serve")?;
        let stdout = child.stdout.take().context("no stdout pipe")?;
        let mut lines = BufReader::new(stdout).lines();
        let mut printed = Vec::new();
        // "listening on ADDR", then one "serving" line per exposed interface.
        while printed.len() < 1 + apps_served.len() {
            let wait = match printed.is_empty() {
                true => CHILD_TIMEOUT,
                false => BANNER_LINE_TIMEOUT,
            };
            let next = tokio::time::timeout(wait, lines.next_line()).await;
            let next =
                next.with_context(|| format!("exorun serve printed {printed:?}, then nothing"))?;
            match next? {
                Some(line) => printed.push(line),
                None => {
                    let stderr = stderr_of(&mut child).await;
                    anyhow::bail!("exorun serve exited after {printed:?}; stderr: {stderr}");
                }
            }
        }
        let first = printed.remove(0);
        let addr = first
            .strip_prefix("listening on ")
            .with_context(|| format!("expected `listening on ADDR` first, got {first:?}"))?;
        Ok(ServingNode {
            addr: addr.to_owned(),
            banner: printed,
            child,
            log: None,
        })
    }

    /// Reads the node's log (its stderr) until a line contains `text`; fails with what it read
    /// if the node exits or says nothing of the kind in time.
    async fn wait_for_log(&mut self, text: &str) -> anyhow::Result<()> {
        if self.log.is_none() {
            let stderr = self.child.stderr.take().context("no stderr pipe")?;
            self.log = Some(BufReader::new(stderr).lines());
        }
        let lines = self.log.as_mut().context("no log")?;
        let mut read = Vec::new();
        loop {
            let next = tokio::time::timeout(CHILD_TIMEOUT, lines.next_line()).await;
            let next = next.with_context(|| format!("the node logged no {text:?}: {read:?}"))?;
            let Some(line) = next? else {
                anyhow::bail!("the node exited before logging {text:?}: {read:?}");
            };
            if line.contains(text) {
                return Ok(());
            }
            read.push(line);
        }
    }
}

/// What a child that gave up wrote to stderr (bounded by the time it takes).
async fn stderr_of(child: &mut Child) -> String {
    let Some(mut stderr) = child.stderr.take() else {
        return String::new();
    };
    let mut text = String::new();
    let read = tokio::time::timeout(CHILD_TIMEOUT, stderr.read_to_string(&mut text)).await;
    match read {
        Ok(Ok(_)) => text,
        _ => format!("(unreadable) {text}"),
    }
}

/// How an `exorun call` ended.
#[derive(Debug)]
struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `exorun call ARGS...`.
async fn exorun_call(args: &[&str]) -> anyhow::Result<Ran> {
    let child = Command::new(EXORUN)
        .arg("call")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("spawning exorun call")?;
    let output = tokio::time::timeout(CHILD_TIMEOUT, child.wait_with_output()).await;
    let output = output.with_context(|| format!("exorun call {args:?} did not finish in time"))?;
    let output = output?;
    Ok(Ran {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout)?,
        stderr: String::from_utf8(output.stderr)?,
    })
}

/// One `exorun call` against the node and what it must do: its exit code, exactly what it
/// prints on stdout, and a part of what it prints on stderr.
struct Case {
    args: &'static [&'static str],
    code: i32,
    stdout: &'static str,
    stderr_contains: &'static str,
}

const fn ok(args: &'static [&'static str], stdout: &'static str) -> Case {
    Case {
        args,
        code: 0,
        stdout,
        stderr_contains: "",
    }
}

const fn fails(args: &'static [&'static str], stderr_contains: &'static str) -> Case {
    Case {
        args,
        code: 1,
        stdout: "",
        stderr_contains,
    }
}

const CASES: &[Case] = &[
    ok(&["calc", "add", "2", "3"], "5\n"),
    ok(&["calc", "add", "-7", "7"], "0\n"),
    ok(&["calc", "exorun:apps/calc@0.1.0#add", "40", "2"], "42\n"),
    ok(&["calc", "sum", "[1, 2, 4294967295]"], "4294967298\n"),
    ok(
        &["calc", "greet", r#"{name: "ada", age: 36}"#],
        "\"hello ada, 36\"\n",
    ),
    // Strings are WAVE text too: quoted.
    ok(
        &["auth", "login", r#""alice""#, r#""wonderland""#],
        "ok(\"token-alice\")\n",
    ),
    // Domain failures: the reason, exactly.
    fails(
        &["auth", "login", r#""bob""#, r#""x""#],
        "call failed: domain error 423: account bob is locked\n",
    ),
    fails(
        &["auth", "login", r#""alice""#, r#""x""#],
        "call failed: domain error 401: bad password for alice\n",
    ),
    // Bad input: refused before calling, with a message that says what is wrong.
    fails(
        &["calc", "add", "two", "3"],
        "`two` is not a value of type s32",
    ),
    fails(
        &["auth", "login", "alice", r#""x""#],
        "`alice` is not a value of type string",
    ),
    fails(
        &["calc", "add", "300000000000", "3"],
        "is not a value of type s32",
    ),
    fails(
        &["calc", "greet", "{name: \"ada\"}"],
        "is not a value of type",
    ),
    fails(&["calc", "add", "2"], "`add` takes 2 arguments"),
    fails(
        &["calc", "mul", "2", "3"],
        "target `calc` has no function `mul`",
    ),
    fails(
        &["nope", "add", "2", "3"],
        "the node exposes no target `nope`",
    ),
];

/// `args` as a shell would need them typed: single-quoted where plain words would not do.
fn shell_words(args: &[&str]) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_.:/@#".contains(c);
    let quoted = args.iter().map(|arg| {
        if !arg.is_empty() && arg.chars().all(plain) {
            (*arg).to_owned()
        } else {
            format!("'{}'", arg.replace('\'', r"'\''"))
        }
    });
    quoted.collect::<Vec<_>>().join(" ")
}

#[tokio::test]
async fn calls_against_a_serving_node_print_results_and_failures() -> anyhow::Result<()> {
    let node = ServingNode::start(&[
        ("calc", "calc-server", "calc"),
        ("auth", "auth-server", "auth"),
    ])
    .await?;
    let mut transcript = String::new();
    for case in CASES {
        let mut args = vec![node.addr.as_str()];
        args.extend_from_slice(case.args);
        let ran = exorun_call(&args).await?;
        let shown = shell_words(case.args);
        assert_eq!(ran.code, Some(case.code), "exorun call {shown}: {ran:?}");
        assert_eq!(ran.stdout, case.stdout, "exorun call {shown}: {ran:?}");
        assert!(
            ran.stderr.contains(case.stderr_contains),
            "exorun call {shown}: stderr {:?} lacks {:?}",
            ran.stderr,
            case.stderr_contains
        );
        if case.code == 0 {
            assert_eq!(ran.stderr, "", "exorun call {shown}");
        }
        let code = ran.code.unwrap_or(-1);
        transcript.push_str(&format!(
            "$ exorun call ADDR {shown}\n[exit {code}]\n{}{}\n",
            ran.stdout,
            ran.stderr.replace(&node.addr, "ADDR")
        ));
    }
    insta::assert_snapshot!(transcript);
    Ok(())
}

#[tokio::test]
async fn serve_prints_its_address_then_what_it_serves() -> anyhow::Result<()> {
    let node = ServingNode::start(&[
        ("calc", "calc-server", "calc"),
        ("auth", "auth-server", "auth"),
    ])
    .await?;
    let addr: std::net::SocketAddr = node.addr.parse()?;
    assert!(addr.ip().is_loopback(), "{addr}");
    assert_ne!(addr.port(), 0, "the chosen port is printed, not 0");
    insta::assert_snapshot!(node.banner.join("\n"));
    Ok(())
}

#[tokio::test]
async fn calling_where_nothing_listens_fails_connecting() -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?.to_string();
    drop(listener);
    let ran = exorun_call(&[&addr, "calc", "add", "2", "3"]).await?;
    assert_ne!(ran.code, Some(0), "{ran:?}");
    assert_eq!(ran.stdout, "");
    let connecting = format!("connecting to {addr}");
    assert!(ran.stderr.contains(&connecting), "{ran:?}");
    Ok(())
}

/// The file descriptors `exorun serve` may open in the next test: about 10 to start.
const FD_LIMIT: u32 = 64;

/// Out of file descriptors, `accept` fails: the node logs it, backs off, and serves again once
/// descriptors are free (it used to exit, dropping every call in flight).
#[tokio::test]
async fn a_node_out_of_file_descriptors_keeps_serving() -> anyhow::Result<()> {
    let served = [("calc", "calc-server", "calc")];
    let mut node =
        ServingNode::start_limited(&served, FD_LIMIT, &["--connections-max", "100000"]).await?;
    let mut flood = Vec::new();
    for _ in 0..2 * FD_LIMIT {
        flood.push(tokio::net::TcpStream::connect(&node.addr).await?);
    }
    node.wait_for_log("accepting a connection failed").await?;
    drop(flood);
    let ran = exorun_call(&[&node.addr, "calc", "add", "2", "3"]).await?;
    assert_eq!((ran.code, ran.stdout.as_str()), (Some(0), "5\n"), "{ran:?}");
    Ok(())
}

/// `exorun serve --help` lists every limit with its default.
#[tokio::test]
async fn serve_help_shows_each_limit_and_its_default() -> anyhow::Result<()> {
    let output = Command::new(EXORUN)
        .args(["serve", "--help"])
        // The width clap wraps at when it finds no terminal, whatever the test runs in.
        .env("COLUMNS", "100")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(CHILD_TIMEOUT, output).await??;
    assert!(output.status.success(), "{output:?}");
    let help = String::from_utf8(output.stdout)?;
    insta::assert_snapshot!(help);
    Ok(())
}

#[tokio::test]
async fn calling_a_node_of_another_protocol_version_fails_on_its_hello() -> anyhow::Result<()> {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use exorun::server::Offer;
    use exorun::transport::{TcpTransport, Transport};
    use neorpc::frame;
    use neorpc::schema::{FuncSig, InterfaceSchema, Type};

    // A node that offers calc's `add` in a Hello of the next protocol version, then waits.
    let add = FuncSig {
        params: vec![("a".into(), Type::S32), ("b".into(), Type::S32)],
        results: vec![Type::S32],
    };
    let calc = InterfaceSchema {
        name: apps("calc"),
        funcs: BTreeMap::from([("add".to_owned(), add)]),
    };
    let offer = Offer {
        targets: BTreeMap::from([("calc".to_owned(), vec![calc])]),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?.to_string();
    let other_version = frame::VERSION + 1;
    let node = tokio::spawn(async move {
        let (stream, _) = listener.accept().await?;
        let transport = Arc::new(TcpTransport::from_stream(stream)?);
        let mut hello = neopack::Encoder::new();
        frame::encode_hello(&mut hello, other_version, "future", &offer.encode()?)?;
        transport.send(&hello.into_bytes()?).await?;
        // Whatever the caller sends, until it hangs up.
        while let Ok(Some(_)) = transport.recv().await {}
        anyhow::Ok(())
    });
    let ran = exorun_call(&[&addr, "calc", "add", "2", "3", "--timeout-ms", "5000"]).await?;
    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert_eq!(ran.stdout, "");
    let refused = format!(
        "the node's Hello: peer speaks neorpc version {other_version}, we speak {}",
        frame::VERSION
    );
    assert!(ran.stderr.contains(&refused), "{ran:?}");
    node.await??;
    Ok(())
}
