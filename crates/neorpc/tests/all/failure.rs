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
