//! A reader that stops reading: `exorun-sim run --trace | head -1` ends the process quietly
//! (SIGPIPE, as for other Unix tools), never with a panic.

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};

use crate::support::{binary, root};

/// SIGPIPE's number on Linux.
const SIGPIPE: i32 = 13;

#[test]
fn a_closed_pipe_ends_the_trace_quietly() {
    let mut child = Command::new(binary())
        .args(["run", "--seed", "0", "--trace"])
        .current_dir(root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run exorun-sim: {e}"));
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut first = String::new();
    let read = BufReader::new(stdout).read_line(&mut first);
    // The reader is dropped here: the trace (far more than a pipe holds) cannot be written.
    assert!(matches!(read, Ok(n) if n > 0), "no first line: {read:?}");
    let output = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("exorun-sim did not end: {e}"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "a panic:\n{stderr}");
    assert_eq!(
        output.status.signal(),
        Some(SIGPIPE),
        "not ended by SIGPIPE: {:?}\n{stderr}",
        output.status
    );
}
