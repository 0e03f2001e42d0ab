//! Architecture invariants that a test can check.

/// `frame`, `error` and `schema` are wasmtime-free: only `codec` may name it. (scripts/test.sh
/// also builds neorpc with `--no-default-features`, which has no wasmtime at all.)
#[test]
fn only_the_codec_mentions_wasmtime() {
    let sources = [
        ("frame.rs", include_str!("../../src/frame.rs")),
        ("error.rs", include_str!("../../src/error.rs")),
        ("schema.rs", include_str!("../../src/schema.rs")),
    ];
    for (file, source) in sources {
        assert!(!source.contains("wasmtime"), "{file} mentions wasmtime");
    }
    assert!(include_str!("../../src/codec.rs").contains("use wasmtime::"));
}
