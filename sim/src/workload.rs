//! The workload: calls whose right outcome is known from their arguments, made the way an
//! application would (through a guest's import, or directly over a node's session), with the
//! expected outcome written into the trace before the call and the real one after.
//!
//! | op | how | expected |
//! | --- | --- | --- |
//! | `add` | `runner.run(a, b)` on a `calc-client`, whose `calc` import crosses nodes | `ok(a + b)` |
//! | `login` | `auth-check.check` on an `auth-client`, two hops to `auth-server` | its table |
//! | `roll` | `chance.roll` on a local `dice` | any result |
//! | `direct-add` | the node calls `calc.add` over its session | `ok(a + b)` |
//! | `bump` | the node calls `kv-ops.bump(key)`, a fresh key | `ok(1)`, effect once |
//! | `put` | the node calls `kv-ops.put(key, value)` on a `kv-writer` | `ok()`, a write |
//! | `fetch` | the node calls `kv-ops.fetch(key)` on a `kv-reader` sharing the writer's store | a read that sees the writes (the diamond) |
//! | `spin` | the node calls `spin.spin`, which never returns | `out-of-fuel` |
//! | `hog` | the node calls `hog.hog(mib)` | `ok(bytes)`, or `out-of-memory` above the limit |

use std::sync::Arc;
use std::time::Duration;

use exorun::client;
use exorun::instance;
use exorun::trap;
use neorpc::FailureReason;
use neorpc::codec;
use neorpc::schema::Type;
use wasmtime::component::Val;

use crate::node::{Live, World, qualified};
use crate::scenario::{Limits, Op, Route};
use crate::trace::{EventKind, Expected, Outcome};

const MIB: u64 = 1 << 20;

/// The peer node and target of an op that calls a peer directly.
pub fn direct_target(op: &Op) -> Option<(&str, &str)> {
    match op.route() {
        Route::Direct { node, target } => Some((node, target)),
        Route::Via(_) => None,
    }
}

/// The instance a guest op calls, on the calling node.
pub fn via(op: &Op) -> Option<&str> {
    match op.route() {
        Route::Via(via) => Some(via),
        Route::Direct { .. } => None,
    }
}

/// The interface (short name) a direct op calls.
pub fn direct_interface(op: &Op) -> Option<&'static str> {
    match op {
        Op::DirectAdd { .. } => Some("calc"),
        Op::Bump { .. } | Op::Put { .. } | Op::Fetch { .. } => Some("kv-ops"),
        Op::Spin { .. } => Some("spin"),
        Op::Hog { .. } => Some("hog"),
        _ => None,
    }
}

/// What the op must end with, from its arguments alone.
pub fn expected(op: &Op, limits: &Limits) -> Expected {
    let exactly = Expected::Exactly;
    match op {
        Op::Add { a, b, .. } | Op::DirectAdd { a, b, .. } => {
            exactly(Outcome::Ok(a.wrapping_add(*b).to_string()))
        }
        Op::Login { user, password, .. } => exactly(login_expected(user, password)),
        Op::Roll { .. } => Expected::AnyOk,
        Op::Bump { .. } => exactly(Outcome::Ok("1".into())),
        Op::Put {
            node, key, value, ..
        } => Expected::Write {
            node: node.clone(),
            key: key.clone(),
            value: value.clone(),
        },
        Op::Fetch { node, key, .. } => Expected::Read {
            node: node.clone(),
            key: key.clone(),
        },
        Op::Spin { .. } => exactly(Outcome::OutOfFuel),
        Op::Hog { mib, .. } => exactly(hog_expected(*mib, limits.memory_mib)),
    }
}

/// `auth-server`'s table.
fn login_expected(user: &str, password: &str) -> Outcome {
    let domain = |code, message: String| Outcome::Domain { code, message };
    match user {
        "alice" if password == "wonderland" => Outcome::Ok("\"token-alice\"".into()),
        "alice" => domain(401, "bad password for alice".into()),
        "bob" => domain(423, "account bob is locked".into()),
        _ => domain(404, format!("no such user: {user}")),
    }
}

/// A hog of at least the memory limit cannot fit. Below it the guest's own heap must fit
/// beside it too: scenarios ask for at most half the limit (the generator does), never for the
/// band in between, where the answer depends on the guest's allocator.
fn hog_expected(mib: u32, memory_mib: u32) -> Outcome {
    if mib >= memory_mib {
        return Outcome::OutOfMemory;
    }
    Outcome::Ok((u64::from(mib) * MIB).to_string())
}

/// Runs workload call `id` on its node and records its start and end.
pub async fn run_call(world: Arc<World>, id: u64, node: String, op: Op) {
    let Some(live) = world.live(&node) else {
        return;
    };
    let expected = expected(&op, &world.scenario.limits);
    let start = EventKind::CallStart {
        id,
        op: op.to_string(),
        expected,
    };
    let generation = live.generation;
    world.recorder.record_from(&node, generation, start);
    let timeout = Duration::from_millis(world.scenario.limits.call_timeout_ms);
    let outcome = perform(&live, &op, timeout).await;
    if let Some(instance) = via(&op) {
        live.flush_output(&world.recorder, instance);
    }
    let end = EventKind::CallEnd { id, outcome };
    world.recorder.record_from(&node, generation, end);
}

async fn perform(live: &Live, op: &Op, timeout: Duration) -> Outcome {
    match op {
        Op::Add { via, a, b } => {
            let args = [Val::S32(*a), Val::S32(*b)];
            guest(live, via, "runner", "run", &args).await
        }
        Op::Login {
            via,
            user,
            password,
        } => {
            let args = [Val::String(user.clone()), Val::String(password.clone())];
            guest(live, via, "auth-check", "check", &args).await
        }
        Op::Roll { via } => guest(live, via, "chance", "roll", &[]).await,
        Op::DirectAdd { a, b, .. } => {
            let args = [Val::S32(*a), Val::S32(*b)];
            let types = [Type::S32, Type::S32];
            direct(live, op, "add", &args, &types, &[Type::S32], timeout).await
        }
        Op::Bump { key, .. } => {
            let args = [Val::String(key.clone())];
            direct(
                live,
                op,
                "bump",
                &args,
                &[Type::String],
                &[Type::U64],
                timeout,
            )
            .await
        }
        Op::Put { key, value, .. } => {
            let args = [Val::String(key.clone()), Val::String(value.clone())];
            let types = [Type::String, Type::String];
            direct(live, op, "put", &args, &types, &[], timeout).await
        }
        Op::Fetch { key, .. } => {
            let args = [Val::String(key.clone())];
            let option = [Type::Option(Box::new(Type::String))];
            direct(live, op, "fetch", &args, &[Type::String], &option, timeout).await
        }
        Op::Spin { .. } => direct(live, op, "spin", &[], &[], &[Type::U64], timeout).await,
        Op::Hog { mib, .. } => {
            let args = [Val::U32(*mib)];
            direct(live, op, "hog", &args, &[Type::U32], &[Type::U64], timeout).await
        }
    }
}

/// Calls an export of a local guest.
async fn guest(live: &Live, via: &str, interface: &str, function: &str, args: &[Val]) -> Outcome {
    let Some(handle) = live.instances.get(via) else {
        return Outcome::Failed(format!("no instance {via}"));
    };
    match handle.call(&qualified(interface), function, args).await {
        Ok(results) => results_outcome(&results),
        Err(instance::Error::Call(e)) => trap_outcome(e),
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

/// Calls a peer over the node's session, encoding and decoding by the given types.
async fn direct(
    live: &Live,
    op: &Op,
    function: &str,
    args: &[Val],
    params: &[Type],
    results: &[Type],
    timeout: Duration,
) -> Outcome {
    let (Some((peer, target)), Some(interface)) = (direct_target(op), direct_interface(op)) else {
        return Outcome::Failed("not a direct op".into());
    };
    let Some(session) = live.sessions.get(peer) else {
        return Outcome::Failed(format!("no session to {peer}"));
    };
    let payload = match codec::encode_args(args, params) {
        Ok(payload) => payload,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    let method = exorun::server::method_name(&qualified(interface), function);
    let called = session
        .call_raw_with_timeout(target, &method, &payload, timeout)
        .await;
    match called {
        Ok(answer) => match codec::decode_results(&answer, results) {
            Ok(vals) => results_outcome(&vals),
            Err(e) => Outcome::Failed(format!("results: {e}")),
        },
        Err(e) => client_outcome(e),
    }
}

/// Results as WAVE-like text; a `result` value is unwrapped, its `err(domain-error)` becoming a
/// domain outcome as the caller would read it.
fn results_outcome(results: &[Val]) -> Outcome {
    if let [Val::Result(result)] = results {
        return match result {
            Ok(Some(value)) => Outcome::Ok(value_text(value)),
            Ok(None) => Outcome::Ok("()".into()),
            Err(Some(error)) => domain_outcome(error),
            Err(None) => Outcome::Failed("err".into()),
        };
    }
    let texts: Vec<String> = results.iter().map(value_text).collect();
    Outcome::Ok(texts.join(", "))
}

fn domain_outcome(error: &Val) -> Outcome {
    let Val::Record(fields) = error else {
        return Outcome::Failed(format!("err({})", value_text(error)));
    };
    let code = fields
        .iter()
        .find_map(|(name, v)| match (name.as_str(), v) {
            ("code", Val::U32(code)) => Some(*code),
            _ => None,
        });
    let message = fields
        .iter()
        .find_map(|(name, v)| match (name.as_str(), v) {
            ("message", Val::String(message)) => Some(message.clone()),
            _ => None,
        });
    match (code, message) {
        (Some(code), Some(message)) => Outcome::Domain { code, message },
        _ => Outcome::Failed(format!("err({})", value_text(error))),
    }
}

/// A value as text, enough to tell results apart.
fn value_text(value: &Val) -> String {
    match value {
        Val::Bool(b) => b.to_string(),
        Val::S32(n) => n.to_string(),
        Val::U32(n) => n.to_string(),
        Val::S64(n) => n.to_string(),
        Val::U64(n) => n.to_string(),
        Val::String(s) => format!("{s:?}"),
        Val::Option(None) => "none".to_string(),
        Val::Option(Some(value)) => format!("some({})", value_text(value)),
        Val::Tuple(items) => {
            let texts: Vec<String> = items.iter().map(value_text).collect();
            format!("({})", texts.join(", "))
        }
        other => format!("{other:?}"),
    }
}

/// A guest call's trap, as the workload sees it.
fn trap_outcome(e: trap::Error) -> Outcome {
    match e {
        trap::Error::OutOfFuel => Outcome::OutOfFuel,
        trap::Error::OutOfMemory => Outcome::OutOfMemory,
        trap::Error::AppTrapped { kind } => Outcome::Trapped(kind),
        trap::Error::Domain { code, message } => Outcome::Domain { code, message },
        trap::Error::Unavailable { message } => Outcome::Unavailable(message),
        other => Outcome::Failed(other.to_string()),
    }
}

/// A direct call's failure, as the workload sees it.
fn client_outcome(e: client::Error) -> Outcome {
    match e {
        client::Error::Failed(reason) => reason_outcome(reason),
        client::Error::Timeout => Outcome::Timeout,
        client::Error::Disconnected => Outcome::Disconnected,
        client::Error::Contract(why) => Outcome::Contract(why),
        // The session could not connect again: the peer is down or cut off.
        client::Error::Unreachable { .. } => Outcome::Disconnected,
        other => Outcome::Failed(other.to_string()),
    }
}

fn reason_outcome(reason: FailureReason) -> Outcome {
    match reason {
        FailureReason::OutOfFuel => Outcome::OutOfFuel,
        FailureReason::OutOfMemory => Outcome::OutOfMemory,
        FailureReason::AppTrapped(kind) => Outcome::Trapped(kind),
        FailureReason::DomainSpecific(code, message) => Outcome::Domain { code, message },
        FailureReason::Unavailable(why) => Outcome::Unavailable(why),
        FailureReason::DeadlineExceeded => Outcome::DeadlineExceeded,
        other => Outcome::Failed(other.to_string()),
    }
}
