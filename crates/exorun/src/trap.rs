//! How a call into a guest ended badly, as a typed [`Error`] that maps onto
//! [`neorpc::FailureReason`].
//!
//! - `Trap::OutOfFuel` is [`Error::OutOfFuel`].
//! - A trap after the store's limiter refused a memory grow is [`Error::OutOfMemory`]: a guest
//!   whose allocation fails aborts (a Rust guest executes `unreachable`), so the refusal, not the
//!   trap's own code, says what happened.
//! - Any other trap is [`Error::AppTrapped`], carrying the trap's description (never a host path,
//!   never a backtrace).
//! - An error that a linked callee or a system component raised crosses unchanged: a host
//!   function returns `wasmtime::Error::new(trap::Error)` and the caller finds it again here.
//! - A remote import whose peer cannot be reached (the call timed out, the connection closed, a
//!   reconnect was refused or found the contract broken) is [`Error::Unavailable`]; a peer sees
//!   it as [`FailureReason::Unavailable`], and an importer above that peer raises it again, so
//!   it crosses a chain of nodes unchanged.
//! - Anything else the host raised is [`Error::Host`].
//! - A call into an instance that an earlier trap poisoned, when building the fresh instance it
//!   would run on failed, is [`Error::Renewal`], with why (see [`crate::instance`]); a peer sees
//!   it as [`FailureReason::AppTrapped`].
//!
//! What a peer reads is [`Error::reason`]: the reason, with a message meant for the peer. The
//! host's own text (a system's error, a remote target's name, a transport error, why a renewal
//! failed) is [`Error::detail`], for the node's log, and never crosses: a peer sees
//! `AppTrapped("host error")`, `Unavailable("a peer of the callee could not be reached")` or
//! `AppTrapped("cannot renew the trapped instance")`.

use neorpc::FailureReason;

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The call used up its fuel (`Limits::fuel_per_call`).
    #[error("out of fuel")]
    OutOfFuel,
    /// A memory grow beyond `Limits::memory_bytes_max` was refused and the guest gave up.
    #[error("out of memory")]
    OutOfMemory,
    /// The guest trapped; `kind` describes the trap.
    #[error("app trapped: {kind}")]
    AppTrapped { kind: String },
    /// A domain failure raised on purpose by a system component, for the caller as raised.
    #[error("domain error {code}: {message}")]
    Domain { code: u32, message: String },
    /// The guest exited through `wasi:cli/exit`.
    #[error("app exited with status {status}")]
    Exited { status: i32 },
    /// The host failed the call (a system component's error, a wasmtime error).
    #[error("host error: {message}")]
    Host { message: String },
    /// A remote import could not reach its peer; `message` says which target and which kind
    /// ("calc: call timed out"), never a host path.
    #[error("unavailable: {message}")]
    Unavailable { message: String },
    /// An earlier call trapped the instance of `app`, and building a fresh one for this call
    /// failed, for the reason `cause` (see [`crate::instance`]); the next call tries again.
    /// The message includes the cause, so it is not also the error's `source()`: a chain
    /// printed with `{:#}` says it once.
    #[error("cannot renew the trapped instance of `{app}`: {cause}")]
    Renewal { app: String, cause: Box<Error> },
}

impl Error {
    /// Classifies an error returned by wasmtime for a call into a store. `memory_refused` tells
    /// whether that store's limiter refused a memory grow during the call.
    pub fn classify(err: &wasmtime::Error, memory_refused: bool) -> Error {
        if let Some(raised) = err.downcast_ref::<Error>() {
            return raised.clone();
        }
        if let Some(trap) = err.downcast_ref::<wasmtime::Trap>() {
            return classify_trap(*trap, memory_refused);
        }
        if memory_refused {
            return Error::OutOfMemory;
        }
        if let Some(exit) = err.downcast_ref::<wasmtime_wasi::I32Exit>() {
            return Error::Exited { status: exit.0 };
        }
        Error::Host {
            message: err.root_cause().to_string(),
        }
    }

    /// The failure a peer sees for this error: its reason, with a message meant for the peer.
    /// The host's own text stays out of it (see [`Error::detail`]).
    pub fn reason(&self) -> FailureReason {
        match self {
            Error::OutOfFuel => FailureReason::OutOfFuel,
            Error::OutOfMemory => FailureReason::OutOfMemory,
            Error::AppTrapped { kind } => FailureReason::AppTrapped(kind.clone()),
            Error::Domain { code, message } => {
                FailureReason::DomainSpecific(*code, message.clone())
            }
            Error::Exited { status } => {
                FailureReason::AppTrapped(format!("exited with status {status}"))
            }
            Error::Host { .. } => FailureReason::AppTrapped(HOST_ERROR.to_owned()),
            Error::Unavailable { .. } => FailureReason::Unavailable(UNAVAILABLE.to_owned()),
            Error::Renewal { .. } => FailureReason::AppTrapped(RENEWAL_FAILED.to_owned()),
        }
    }

    /// What [`Error::reason`] leaves out, for the node's log: the whole error, when it carries
    /// the host's own text (a system's error, a remote target's name, a transport error, why a
    /// renewal failed). `None` when the reason says everything.
    pub fn detail(&self) -> Option<String> {
        match self {
            Error::Host { .. } | Error::Unavailable { .. } | Error::Renewal { .. } => {
                Some(self.to_string())
            }
            Error::OutOfFuel
            | Error::OutOfMemory
            | Error::AppTrapped { .. }
            | Error::Domain { .. }
            | Error::Exited { .. } => None,
        }
    }
}

/// What a peer reads for an [`Error::Host`].
pub const HOST_ERROR: &str = "host error";

/// What a peer reads for an [`Error::Unavailable`].
pub const UNAVAILABLE: &str = "a peer of the callee could not be reached";

/// What a peer reads for an [`Error::Renewal`].
pub const RENEWAL_FAILED: &str = "cannot renew the trapped instance";

fn classify_trap(trap: wasmtime::Trap, memory_refused: bool) -> Error {
    if trap == wasmtime::Trap::OutOfFuel {
        return Error::OutOfFuel;
    }
    if memory_refused {
        return Error::OutOfMemory;
    }
    Error::AppTrapped {
        kind: trap.to_string(),
    }
}

impl From<Error> for FailureReason {
    fn from(e: Error) -> Self {
        e.reason()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(err: wasmtime::Error, memory_refused: bool, expected: Error) {
        assert_eq!(Error::classify(&err, memory_refused), expected);
    }

    #[test]
    fn classification() {
        let fuel = || wasmtime::Error::new(wasmtime::Trap::OutOfFuel);
        let unreachable = || wasmtime::Error::new(wasmtime::Trap::UnreachableCodeReached);
        check(fuel(), false, Error::OutOfFuel);
        check(fuel(), true, Error::OutOfFuel);
        check(unreachable(), true, Error::OutOfMemory);
        let kind = "wasm trap: wasm `unreachable` instruction executed".to_owned();
        check(unreachable(), false, Error::AppTrapped { kind });
        let exit = wasmtime::Error::new(wasmtime_wasi::I32Exit(3));
        check(exit, false, Error::Exited { status: 3 });
        let raised = Error::Domain {
            code: 7,
            message: "nope".to_owned(),
        };
        let wrapped = wasmtime::Error::new(raised.clone()).context("while calling");
        check(wrapped, true, raised);
        let host = wasmtime::format_err!("disk on fire");
        let message = "disk on fire".to_owned();
        check(host, false, Error::Host { message });
    }

    #[test]
    fn reasons() {
        assert_eq!(Error::OutOfFuel.reason(), FailureReason::OutOfFuel);
        assert_eq!(Error::OutOfMemory.reason(), FailureReason::OutOfMemory);
        let domain = Error::Domain {
            code: 401,
            message: "bad password".to_owned(),
        };
        let expected = FailureReason::DomainSpecific(401, "bad password".to_owned());
        assert_eq!(FailureReason::from(domain), expected);
    }

    /// The host's own text stays in the detail; the peer reads a message meant for it.
    #[test]
    fn host_text_stays_in_the_detail() {
        let check = |err: Error, reason: FailureReason, detail: &str| {
            assert_eq!(err.reason(), reason);
            assert_eq!(err.detail().as_deref(), Some(detail));
        };
        let message = "kv: the value under `n` is not a counter".to_owned();
        let host = FailureReason::AppTrapped(HOST_ERROR.to_owned());
        check(
            Error::Host { message },
            host,
            "host error: kv: the value under `n` is not a counter",
        );
        let message = "calc: call timed out".to_owned();
        let unavailable = FailureReason::Unavailable(UNAVAILABLE.to_owned());
        check(
            Error::Unavailable { message },
            unavailable,
            "unavailable: calc: call timed out",
        );
        let renewal = Error::Renewal {
            app: "calc-server".to_owned(),
            cause: Box::new(Error::Host {
                message: "cannot mount /srv/data".to_owned(),
            }),
        };
        let failed = FailureReason::AppTrapped(RENEWAL_FAILED.to_owned());
        let why = "cannot renew the trapped instance of `calc-server`: host error: cannot mount \
                   /srv/data";
        check(renewal, failed, why);
        assert_eq!(Error::OutOfFuel.detail(), None);
    }
}
