//! Errors print each cause once: printed with its chain (`{:#}`, as anyhow and most CLIs do),
//! no error repeats the message of its `source()`. Every variant of every error type exorun
//! defines, with the errors it wraps.

use std::error::Error as StdError;

use exorun::ledger::{self, Side};
use exorun::runtime::{self, Kind};
use exorun::{
    bind, builder, client, context, instance, server, session, system, transport, trap, wave,
};
use neorpc::FailureReason;
use neorpc::schema::{Mismatch, SigMismatch, Type};

/// Walks `err`'s chain: no message may contain the message of the error below it.
fn check_causes_once(err: &(dyn StdError + 'static)) {
    let mut current = err;
    while let Some(source) = current.source() {
        let (outer, inner) = (current.to_string(), source.to_string());
        assert!(
            !outer.contains(&inner),
            "{outer:?} repeats its cause {inner:?}"
        );
        current = source;
    }
    // What anyhow prints with `{:#}` has each level once, in order.
    let mut levels = vec![err.to_string()];
    let mut current = err;
    while let Some(source) = current.source() {
        levels.push(source.to_string());
        current = source;
    }
    let chained = levels.join(": ");
    for level in &levels {
        assert_eq!(
            chained.matches(level.as_str()).count(),
            1,
            "{chained:?} says {level:?} more than once"
        );
    }
}

fn io() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer")
}

fn transport_errors() -> Vec<transport::Error> {
    vec![
        transport::Error::Io(io()),
        transport::Error::Closed,
        transport::Error::FrameTooLarge { size: 20, max: 10 },
        transport::Error::Truncated {
            expected: 9,
            received: 3,
        },
    ]
}

fn ledger_errors() -> Vec<ledger::Error> {
    let at = Mismatch {
        path: ".name".into(),
        expected: "string".into(),
        found: "u32".into(),
    };
    vec![
        ledger::Error::InterfaceNotFound {
            interface: "i".into(),
            side: Side::Import,
        },
        ledger::Error::MethodNotFound {
            interface: "i".into(),
            method: "m".into(),
        },
        ledger::Error::SignatureMismatch {
            interface: "i".into(),
            method: "m".into(),
            mismatch: Box::new(SigMismatch::Param {
                index: 0,
                name: "p".into(),
                at,
            }),
        },
        ledger::Error::ResourceOnRemoteBoundary {
            interface: "i".into(),
            method: "m".into(),
            resource: "r".into(),
        },
        ledger::Error::Unsupported {
            interface: "i".into(),
            method: "m".into(),
            reason: "stream values are not supported by neorpc".into(),
        },
    ]
}

fn trap_errors() -> Vec<trap::Error> {
    let host = trap::Error::Host {
        message: "system `flaky` cannot configure the context".into(),
    };
    vec![
        trap::Error::OutOfFuel,
        trap::Error::OutOfMemory,
        trap::Error::AppTrapped {
            kind: "unreachable".into(),
        },
        trap::Error::Domain {
            code: 7,
            message: "nope".into(),
        },
        trap::Error::Exited { status: 3 },
        host.clone(),
        trap::Error::Unavailable {
            message: "calc: call timed out".into(),
        },
        trap::Error::Renewal {
            app: "hog".into(),
            cause: Box::new(host),
        },
    ]
}

fn session_errors() -> Vec<session::Error> {
    let mut errors = vec![
        session::Error::Config {
            message: "no attempts".into(),
        },
        session::Error::Unreachable {
            attempts: 3,
            cause: "refused".into(),
        },
        session::Error::Timeout,
        session::Error::Handshake {
            message: "peer speaks neorpc version 2, we speak 1".into(),
        },
        session::Error::NotOffered {
            interface: "i".into(),
            target: "t".into(),
        },
        session::Error::TooManyContracts { max: 64 },
    ];
    errors.extend(ledger_errors().into_iter().map(session::Error::Contract));
    errors
}

fn instance_errors() -> Vec<instance::Error> {
    let mut errors = vec![
        instance::Error::ExportNotFound {
            interface: "i".into(),
            method: "m".into(),
        },
        instance::Error::ArgumentCount {
            method: "m".into(),
            expected: 2,
            found: 1,
        },
        instance::Error::Panicked {
            message: "boom".into(),
        },
        instance::Error::ForeignFunc {
            interface: "i".into(),
            method: "m".into(),
        },
    ];
    errors.extend(trap_errors().into_iter().map(instance::Error::Call));
    errors
}

fn bind_errors() -> Vec<bind::Error> {
    let mut errors = vec![
        bind::Error::ResourceUnsupported {
            interface: "imports".into(),
        },
        bind::Error::NotOffered {
            interface: "i".into(),
            target: "t".into(),
        },
        bind::Error::Handshake {
            target: "t".into(),
            message: "malformed offer".into(),
        },
        bind::Error::Linker {
            interface: "i".into(),
            message: "defined twice".into(),
        },
        bind::Error::TargetNotSync {
            interface: "i".into(),
        },
    ];
    errors.extend(ledger_errors().into_iter().map(bind::Error::Contract));
    errors.extend(instance_errors().into_iter().map(bind::Error::Target));
    errors.extend(session_errors().into_iter().map(bind::Error::Session));
    errors
}

fn context_errors() -> Vec<context::Error> {
    vec![context::Error::Mount {
        guest: "/data".into(),
        kind: std::io::ErrorKind::NotFound,
    }]
}

fn system_errors() -> Vec<system::Error> {
    let mut errors = vec![
        system::Error::Linker {
            system: "kv".into(),
            interface: "i".into(),
            message: "defined twice".into(),
        },
        system::Error::KvFull {
            what: "entries",
            max: 4,
        },
        system::Error::KvNotCounter { key: "k".into() },
        system::Error::NotStaged {
            system: "kv".into(),
            what: "kv map",
        },
    ];
    let config = |cause| system::Error::Config {
        system: "wasi".into(),
        cause,
    };
    errors.extend(context_errors().into_iter().map(config));
    errors
}

fn runtime_errors() -> Vec<runtime::Error> {
    vec![
        runtime::Error::NotFound {
            kind: Kind::App,
            id: 3,
        },
        runtime::Error::Engine {
            message: "bad config".into(),
        },
        runtime::Error::Compile {
            app: "a".into(),
            message: "failed to parse WebAssembly module: unexpected end".into(),
        },
    ]
}

fn builder_errors() -> Vec<builder::Error> {
    let mut errors = vec![builder::Error::Unlinked {
        app: "a".into(),
        message: "import `i` has the wrong type".into(),
    }];
    errors.extend(runtime_errors().into_iter().map(builder::Error::Runtime));
    errors.extend(system_errors().into_iter().map(builder::Error::System));
    let bind = |cause| builder::Error::Bind {
        interface: "imports".into(),
        cause,
    };
    errors.extend(bind_errors().into_iter().map(bind));
    let instantiate = |cause| builder::Error::Instantiate {
        app: "a".into(),
        cause,
    };
    errors.extend(trap_errors().into_iter().map(instantiate));
    errors
}

fn client_errors() -> Vec<client::Error> {
    let codec = neorpc::codec::decode_args(&[0x05], &[Type::U32]).unwrap_err();
    let pack = neorpc::Error::Pack(neopack::Decoder::new(&[]).u32().unwrap_err());
    let mut errors = vec![
        client::Error::Failed(FailureReason::DomainSpecific(401, "locked".into())),
        client::Error::Timeout,
        client::Error::Disconnected,
        client::Error::Codec(codec),
        client::Error::Protocol(pack),
        client::Error::Contract("method `add` differs".into()),
        client::Error::Unreachable {
            attempts: 2,
            cause: "refused".into(),
        },
    ];
    errors.extend(transport_errors().into_iter().map(client::Error::Transport));
    errors
}

fn server_errors() -> Vec<server::Error> {
    let mut errors = vec![
        server::Error::AlreadyExposed {
            target: "t".into(),
            interface: "i".into(),
        },
        server::Error::Encode(neorpc::Error::UnknownFrame { kind: 9 }),
    ];
    errors.extend(ledger_errors().into_iter().map(server::Error::Contract));
    errors.extend(transport_errors().into_iter().map(server::Error::Transport));
    errors
}

fn wave_errors() -> Vec<wave::Error> {
    vec![
        wave::Error::Type {
            ty: "own<r>".into(),
        },
        wave::Error::Parse {
            ty: "u32".into(),
            text: "x".into(),
            message: "invalid value".into(),
        },
        wave::Error::Print {
            message: "bad".into(),
        },
    ]
}

/// The protocol crates' errors, which exorun's wrap.
fn neorpc_errors() -> Vec<neorpc::Error> {
    let pack = neopack::Decoder::new(&[]).u32().unwrap_err();
    vec![
        neorpc::Error::Pack(pack),
        neorpc::Error::UnknownFrame { kind: 9 },
        neorpc::Error::UnknownFailure { tag: 99 },
        neorpc::Error::NoSeq { kind: "Hello" },
        neorpc::Error::BadField {
            field: "deadline",
            reason: "option case must be 0 or 1",
        },
        neorpc::Error::SchemaTooDeep { max: 32 },
    ]
}

fn codec_errors() -> Vec<neorpc::codec::Error> {
    let wrong = neorpc::codec::decode_args(&[0x05], &[Type::U32]).unwrap_err();
    let mismatch = neorpc::codec::encode_args(&[0u32.into()], &[Type::String]).unwrap_err();
    vec![wrong, mismatch]
}

fn check_all<E: StdError + 'static>(errors: Vec<E>) {
    assert!(!errors.is_empty());
    for err in &errors {
        check_causes_once(err);
    }
}

#[test]
fn every_error_prints_each_cause_once() {
    check_all(transport_errors());
    check_all(ledger_errors());
    check_all(trap_errors());
    check_all(session_errors());
    check_all(instance_errors());
    check_all(bind_errors());
    check_all(context_errors());
    check_all(system_errors());
    check_all(runtime_errors());
    check_all(builder_errors());
    check_all(client_errors());
    check_all(server_errors());
    check_all(wave_errors());
    check_all(neorpc_errors());
    check_all(codec_errors());
    check_all(vec![FailureReason::Protocol("bad frame".into())]);
    check_all(vec![neopack::Decoder::new(&[0x05]).str().unwrap_err()]);
}

#[test]
fn a_link_error_with_its_chain_says_its_cause_once() {
    // The report that started this: a local link refused for resources, as anyhow prints it.
    let err = builder::Error::Bind {
        interface: "imports".into(),
        cause: bind::Error::ResourceUnsupported {
            interface: "imports".into(),
        },
    };
    let printed = format!("{:#}", anyhow::Error::new(err));
    assert_eq!(
        printed,
        "linking `imports`: interface `imports` uses resources, which a local link cannot pass"
    );
}
