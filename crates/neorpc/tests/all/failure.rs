use neopack::{Decoder, Encoder};
use neorpc::FailureReason;
use neorpc::frame::{self, Frame};
use proptest::prelude::*;

use crate::strategies::failure_reason;

fn through_the_wire(reason: &FailureReason) -> FailureReason {
    let bytes = Frame::Failure {
        seq: 9,
        reason: reason.clone(),
    }
    .to_bytes()
    .unwrap();
    let Frame::Failure { seq: 9, reason } = frame::decode(&bytes).unwrap() else {
        panic!("a Failure frame did not decode as Failure 9");
    };
    reason
}

#[test]
fn domain_specific_codes_and_messages_arrive_exactly() {
    let cases = [
        (0, ""),
        (401, "bad password for alice"),
        (u32::MAX, "ünïcödé ✓ 日本語 🦀"),
        (7, "line one\nline two\0with a nul"),
    ];
    for (code, message) in cases {
        let sent = FailureReason::DomainSpecific(code, message.to_owned());
        assert_eq!(through_the_wire(&sent), sent);
    }
}

#[test]
fn wire_tags_are_stable() {
    let tags = [
        (FailureReason::AppTrapped("unreachable".into()), 1),
        (FailureReason::OutOfFuel, 2),
        (FailureReason::OutOfMemory, 3),
        (FailureReason::InstanceNotFound("x".into()), 4),
        (FailureReason::MethodNotFound("x".into()), 5),
        (
            FailureReason::BadArgumentCount {
                expected: 2,
                found: 1,
            },
            6,
        ),
        (
            FailureReason::BadArgumentType("args[0]: expected u32, found string".into()),
            7,
        ),
        (FailureReason::DomainSpecific(1, "x".into()), 8),
        (FailureReason::DeadlineExceeded, 9),
        (FailureReason::Overloaded, 10),
        (FailureReason::Protocol("x".into()), 11),
        (
            FailureReason::Unavailable("calc: call timed out".into()),
            12,
        ),
    ];
    for (reason, tag) in tags {
        assert_eq!(reason.tag(), tag, "{reason}");
        let mut enc = Encoder::new();
        reason.encode(&mut enc).unwrap();
        let bytes = enc.into_bytes().unwrap();
        assert_eq!(Decoder::new(&bytes).variant().unwrap(), tag);
    }
}

#[test]
fn an_unknown_reason_tag_is_an_error_not_a_guess() {
    let mut enc = Encoder::new();
    enc.variant_begin(200).unwrap();
    enc.unit().unwrap();
    enc.variant_end().unwrap();
    let bytes = enc.into_bytes().unwrap();
    let err = FailureReason::decode(&mut Decoder::new(&bytes)).unwrap_err();
    assert_eq!(err, neorpc::Error::UnknownFailure { tag: 200 });
}

proptest! {
    #[test]
    fn every_failure_reason_decodes_to_an_equal_value(reason in failure_reason()) {
        prop_assert_eq!(through_the_wire(&reason), reason);
    }
}

#[test]
fn every_failure_reason_displays_what_happened() {
    let cases = [
        (
            FailureReason::AppTrapped("unreachable".into()),
            "app trapped: unreachable",
        ),
        (FailureReason::OutOfFuel, "out of fuel"),
        (FailureReason::OutOfMemory, "out of memory"),
        (
            FailureReason::InstanceNotFound("calc".into()),
            "instance not found: calc",
        ),
        (
            FailureReason::MethodNotFound("add".into()),
            "method not found: add",
        ),
        (
            FailureReason::BadArgumentCount {
                expected: 2,
                found: 1,
            },
            "bad argument count: expected 2, found 1",
        ),
        (
            FailureReason::BadArgumentType("args[0]: expected u32, found string".into()),
            "bad argument type: args[0]: expected u32, found string",
        ),
        (
            FailureReason::DomainSpecific(423, "locked".into()),
            "domain error 423: locked",
        ),
        (
            FailureReason::DeadlineExceeded,
            "deadline exceeded before start",
        ),
        (FailureReason::Overloaded, "callee overloaded"),
        (
            FailureReason::Protocol("bad frame".into()),
            "protocol error: bad frame",
        ),
        (
            FailureReason::Unavailable("calc: call timed out".into()),
            "unavailable: calc: call timed out",
        ),
    ];
    for (reason, text) in cases {
        assert_eq!(reason.to_string(), text);
        assert!(std::error::Error::source(&reason).is_none());
    }
}

#[test]
fn every_protocol_error_displays_what_is_wrong_and_each_cause_once() {
    let pack = neopack::Decoder::new(&[]).u32().unwrap_err();
    let cases = [
        (
            neorpc::Error::Pack(pack.clone()),
            "malformed frame: at byte 0: input ended early",
        ),
        (
            neorpc::Error::UnknownFrame { kind: 9 },
            "unknown frame kind 9",
        ),
        (
            neorpc::Error::UnknownFailure { tag: 99 },
            "unknown failure reason tag 99",
        ),
        (
            neorpc::Error::NoSeq { kind: "Hello" },
            "a Hello frame carries no sequence number",
        ),
        (
            neorpc::Error::BadField {
                field: "deadline",
                reason: "option case must be 0 or 1",
            },
            "frame field `deadline`: option case must be 0 or 1",
        ),
        (
            neorpc::Error::FieldCount {
                what: "a Cancel frame",
                expected: 1,
                found: 0,
            },
            "a Cancel frame has 1 fields, not 0",
        ),
        (
            neorpc::Error::Version { peer: 2, ours: 1 },
            "peer speaks neorpc version 2, we speak 1",
        ),
        (neorpc::Error::SecondHello, "the peer sent a second Hello"),
    ];
    for (err, text) in cases {
        assert_eq!(err.to_string(), text);
        // The neopack error is in the message, so it is not also the source: a chain printed
        // with `{:#}` says it once.
        assert!(std::error::Error::source(&err).is_none(), "{err}");
    }
    assert_eq!(neorpc::Error::from(pack.clone()), neorpc::Error::Pack(pack));
}

#[test]
fn reasons_without_a_payload_carry_unit_and_nothing_else() {
    // OutOfFuel's tag around a str instead of unit.
    let mut enc = Encoder::new();
    enc.variant_begin(2).unwrap();
    enc.str("x").unwrap();
    enc.variant_end().unwrap();
    let bytes = enc.into_bytes().unwrap();
    let err = FailureReason::decode(&mut Decoder::new(&bytes)).unwrap_err();
    assert!(matches!(err, neorpc::Error::Pack(_)), "{err}");
    for (reason, tag) in [
        (FailureReason::OutOfFuel, 2),
        (FailureReason::OutOfMemory, 3),
        (FailureReason::DeadlineExceeded, 9),
        (FailureReason::Overloaded, 10),
    ] {
        let mut enc = Encoder::new();
        reason.encode(&mut enc).unwrap();
        assert_eq!(enc.into_bytes().unwrap(), [0x22, tag, 0x00], "{reason}");
    }
}
