//! The corpus: `corpus add` records runs in a scratch directory that `corpus check` then
//! replays, a changed entry fails the check by name, and every entry of the repository's
//! `corpus/` replays as recorded.

use std::path::Path;

use crate::support::{Cli, arg, exorun_sim, scratch_dir, shipped_path};

fn add(dir: &Path, args: &[&str]) -> Cli {
    let dir = arg(dir);
    let mut all = vec!["corpus", "add", "--dir", &dir];
    all.extend_from_slice(args);
    exorun_sim(&all)
}

fn check(dir: &Path) -> Cli {
    exorun_sim(&["corpus", "check", &arg(dir)])
}

#[test]
fn entries_added_then_checked_replay_and_a_changed_one_fails() {
    let dir = scratch_dir("corpus-round-trip");
    let partition = arg(&shipped_path("partition"));
    let added = [
        add(&dir, &["--seed", "5"]),
        add(&dir, &["--seed", "2", "--scenario", &partition, "--trace"]),
        add(&dir, &["--seed", "4", "--plant", "misroute-reply"]),
    ];
    for cli in &added {
        cli.assert_exit(0);
        cli.assert_stdout(&["added "]);
    }
    let again = add(&dir, &["--seed", "5"]);
    again.assert_exit(2);
    again.assert_stderr(&["default-5.toml exists; --force replaces it"]);
    let checked = check(&dir);
    checked.assert_exit(0);
    checked.assert_stdout(&[
        "  ok    default-5 ",
        "  ok    partition-2 ",
        "  ok    misroute-reply-4 ",
        "corpus: 3 entries, 3 passed, 0 failed",
    ]);

    let entry = dir.join("default-5.toml");
    let text = std::fs::read_to_string(&entry).expect("read the entry");
    let Some(at) = text.find("trace_hash = \"") else {
        panic!("no trace_hash in {text}");
    };
    let start = at + "trace_hash = \"".len();
    let changed = format!("{}0000000000000000{}", &text[..start], &text[start + 16..]);
    std::fs::write(&entry, changed).expect("write the entry");
    let wrong = "[entry]\nname = \"wrong\"\nexpect = \"pass\"\ntrace_hash = \"xyz\"\n";
    std::fs::write(dir.join("wrong.toml"), format!("seed = 1\n\n{wrong}")).expect("write");
    let checked = check(&dir);
    checked.assert_exit(1);
    checked.assert_stdout(&[
        "  FAIL  default-5 ",
        "trace-hash: recorded 0000000000000000, now ",
        "  ok    partition-2 ",
        "  FAIL  wrong.toml: corpus entry ",
        "field `entry.trace_hash`",
        "corpus: 4 entries, 2 passed, 2 failed",
    ]);
}

/// CI's corpus: every entry of `corpus/` at the repository's root replays as recorded.
#[test]
fn the_repository_corpus_replays_as_recorded() {
    let checked = exorun_sim(&["corpus", "check"]);
    checked.assert_exit(0);
    let summary = checked.stdout_value("corpus: ");
    assert!(summary.ends_with(", 0 failed"), "{}", checked.output());
    assert!(!summary.starts_with("0 entries"), "{}", checked.output());
}
