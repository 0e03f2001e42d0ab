use neopack::{Encoder, ErrorKind};
use neorpc::frame::{self, CallEncoder, Frame};
use neorpc::{Error, FailureReason};
use proptest::prelude::*;

use crate::strategies::failure_reason;

fn hex(bytes: &[u8]) -> String {
    let words: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
    words
        .chunks(16)
        .map(|line| line.join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// One encoded neopack value to stand in for args or results: `list[u32 7, str "x"]`.
fn payload() -> Vec<u8> {
    let mut enc = Encoder::new();
    enc.list_begin().unwrap();
    enc.u32(7).unwrap();
    enc.str("x").unwrap();
    enc.list_end().unwrap();
    enc.into_bytes().unwrap()
}

#[test]
fn call_encoder_injects_args_untouched_at_their_offset() {
    let args = [0xCA, 0xFE, 0xBA, 0xBE];
    let bytes = CallEncoder::new(7, "calc", "add", &args)
        .to_bytes()
        .unwrap();
    let body_len = (bytes.len() - 11) as u32;
    let mut expected = vec![0x22, 0x01, 0x20];
    expected.extend_from_slice(&body_len.to_le_bytes());
    expected.extend_from_slice(&5u32.to_le_bytes()); // five fields
    expected.extend_from_slice(&[0x06, 0x07]); // u64 seq 7
    expected.extend_from_slice(&[0x10, 0x04]); // str, 4 bytes
    expected.extend_from_slice(b"calc");
    expected.extend_from_slice(&[0x10, 0x03]); // str, 3 bytes
    expected.extend_from_slice(b"add");
    expected.extend_from_slice(&[0x22, 0x00, 0x00]); // deadline: none
    let args_at = expected.len();
    expected.extend_from_slice(&args);
    assert_eq!(hex(&bytes), hex(&expected));
    assert_eq!(&bytes[args_at..args_at + 4], &args);
    assert_eq!(args_at, 27);
}

#[test]
fn call_round_trips_and_hands_back_args_as_a_borrowed_slice() {
    let args = payload();
    let call = CallEncoder::new(u64::MAX, "node-a/calc", "greet", &args).with_deadline(1500);
    let bytes = call.to_bytes().unwrap();
    let Frame::Call {
        seq,
        target,
        method,
        deadline_ms,
        args: got,
    } = frame::decode(&bytes).unwrap()
    else {
        panic!("decoded some other frame kind");
    };
    assert_eq!(
        (seq, target, method, deadline_ms),
        (u64::MAX, "node-a/calc", "greet", Some(1500))
    );
    assert_eq!(got, args.as_slice());
    let offset = got.as_ptr() as usize - bytes.as_ptr() as usize;
    assert!(
        offset < bytes.len(),
        "args must borrow from the input, not a copy"
    );
}

fn sample_frames(args: &[u8]) -> Vec<(&'static str, Frame<'_>)> {
    vec![
        (
            "hello",
            Frame::Hello {
                version: frame::VERSION,
                node: "node-a",
                offer: args,
            },
        ),
        (
            "call",
            Frame::Call {
                seq: 1,
                target: "calc",
                method: "add",
                deadline_ms: Some(30_000),
                args,
            },
        ),
        (
            "reply",
            Frame::Reply {
                seq: 1,
                results: args,
            },
        ),
        (
            "failure",
            Frame::Failure {
                seq: 2,
                reason: FailureReason::DomainSpecific(401, "bad password".into()),
            },
        ),
        ("cancel", Frame::Cancel { seq: 3 }),
        (
            "failure_unavailable",
            Frame::Failure {
                seq: 4,
                reason: FailureReason::Unavailable("calc: call timed out".into()),
            },
        ),
    ]
}

#[test]
fn wire_bytes_of_each_frame_kind_are_pinned() {
    let args = payload();
    for (name, frame) in sample_frames(&args) {
        let bytes = frame.to_bytes().unwrap();
        insta::assert_snapshot!(format!("frame_{name}"), hex(&bytes));
        assert_eq!(frame::decode(&bytes).unwrap(), frame);
    }
}

#[test]
fn every_strict_prefix_of_every_frame_is_incomplete() {
    let args = payload();
    for (name, frame) in sample_frames(&args) {
        let bytes = frame.to_bytes().unwrap();
        for cut in 0..bytes.len() {
            let err = frame::decode(&bytes[..cut]).unwrap_err();
            let Error::Pack(e) = &err else {
                panic!("{name} cut at {cut}: {err}")
            };
            assert_eq!(e.kind, ErrorKind::Incomplete, "{name} cut at {cut}: {err}");
        }
    }
}

#[test]
fn decode_seq_reads_the_seq_of_every_kind_that_has_one() {
    let args = payload();
    for (name, frame) in sample_frames(&args) {
        let bytes = frame.to_bytes().unwrap();
        match frame.seq() {
            Some(seq) => assert_eq!(frame::decode_seq(&bytes).unwrap(), seq, "{name}"),
            None => assert_eq!(
                frame::decode_seq(&bytes),
                Err(Error::NoSeq { kind: "Hello" })
            ),
        }
    }
}

#[test]
fn a_length_of_2_pow_32_on_a_ten_byte_input_fails_fast() {
    // variant(Call), then a str whose varint length is 2^32: 0x80 0x80 0x80 0x80 0x10.
    let bytes = [0x22, 0x01, 0x10, 0x80, 0x80, 0x80, 0x80, 0x10, b'a', b'b'];
    let err = frame::decode(&bytes).unwrap_err();
    assert!(matches!(err, Error::Pack(_)), "{err}");
    let list_claim = [
        0x22, 0x01, 0x20, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00, 0x00, 0x00,
    ];
    let Error::Pack(e) = frame::decode(&list_claim).unwrap_err() else {
        panic!("not a pack error")
    };
    assert!(matches!(e.kind, ErrorKind::LengthTooLarge { .. }), "{e}");
    let mut dec = neopack::Decoder::new(&bytes[2..]);
    let e = dec.str().unwrap_err();
    assert!(
        matches!(
            e.kind,
            ErrorKind::LengthTooLarge {
                length: 4_294_967_296,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn unknown_frame_kinds_and_trailing_bytes_are_errors() {
    let mut enc = Encoder::new();
    enc.variant_begin(99).unwrap();
    enc.list_begin().unwrap();
    enc.u64(1).unwrap();
    enc.list_end().unwrap();
    enc.variant_end().unwrap();
    let bytes = enc.into_bytes().unwrap();
    assert_eq!(frame::decode(&bytes), Err(Error::UnknownFrame { kind: 99 }));
    assert_eq!(
        frame::decode_seq(&bytes),
        Err(Error::UnknownFrame { kind: 99 })
    );

    let mut cancel = Frame::Cancel { seq: 5 }.to_bytes().unwrap();
    cancel.push(0);
    let Error::Pack(e) = frame::decode(&cancel).unwrap_err() else {
        panic!("not a pack error")
    };
    assert_eq!(e.kind, ErrorKind::TrailingBytes { count: 1 });
}

fn any_frame_parts() -> impl Strategy<Value = (u64, String, String, Option<u64>, Vec<u32>)> {
    (
        any::<u64>(),
        ".{0,12}",
        ".{0,12}",
        any::<Option<u64>>(),
        proptest::collection::vec(any::<u32>(), 0..8),
    )
}

fn args_of(values: &[u32]) -> Vec<u8> {
    let mut enc = Encoder::new();
    enc.list_begin().unwrap();
    for v in values {
        enc.u32(*v).unwrap();
    }
    enc.list_end().unwrap();
    enc.into_bytes().unwrap()
}

proptest! {
    #[test]
    fn every_frame_kind_round_trips(
        (seq, target, method, deadline_ms, values) in any_frame_parts(),
        reason in failure_reason(),
    ) {
        let args = args_of(&values);
        let frames = [
            Frame::Hello { version: seq as u32, node: &target, offer: &args },
            Frame::Call { seq, target: &target, method: &method, deadline_ms, args: &args },
            Frame::Reply { seq, results: &args },
            Frame::Failure { seq, reason },
            Frame::Cancel { seq },
        ];
        for frame in frames {
            let bytes = frame.to_bytes().unwrap();
            prop_assert_eq!(frame::decode(&bytes).unwrap(), frame.clone());
            if let Some(seq) = frame.seq() {
                prop_assert_eq!(frame::decode_seq(&bytes).unwrap(), seq);
            }
            for cut in 0..bytes.len() {
                prop_assert!(frame::decode(&bytes[..cut]).is_err());
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_frame_decoders(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = frame::decode(&bytes);
        let _ = frame::decode_seq(&bytes);
    }

    #[test]
    fn mutated_frames_never_panic_and_never_decode_to_a_different_kind_silently(
        (seq, target, method, deadline_ms, values) in any_frame_parts(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let args = args_of(&values);
        let call = Frame::Call { seq, target: &target, method: &method, deadline_ms, args: &args };
        let mut bytes = call.to_bytes().unwrap();
        for (at, byte) in flips {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        let _ = frame::decode(&bytes);
        let _ = frame::decode_seq(&bytes);
    }
}

#[test]
fn each_frame_kind_has_its_name() {
    let args = payload();
    let names: Vec<&str> = sample_frames(&args)
        .iter()
        .map(|(_, frame)| frame.kind_name())
        .collect();
    assert_eq!(
        names,
        ["Hello", "Call", "Reply", "Failure", "Cancel", "Failure"]
    );
}

#[test]
fn only_our_protocol_version_is_accepted() {
    assert_eq!(frame::check_version(frame::VERSION), Ok(()));
    for other in [0, frame::VERSION + 1, u32::MAX] {
        let refused = Error::Version {
            peer: other,
            ours: frame::VERSION,
        };
        assert_eq!(frame::check_version(other), Err(refused));
    }
}
