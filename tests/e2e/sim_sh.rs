//! `scripts/sim.sh`, the README's main job, explores a few seeds: it builds the guest apps and
//! `exorun-sim` (in this test's profile, through `EXORUN_SIM_PROFILE`, so that it finds the
//! build the other tests use instead of compiling a release one) and runs it.

use std::process::Command;

use crate::fixtures::whole;
use crate::support::{
    arg, binary, exorun_sim, finish, profile, repo_file, root, scratch_dir, summary_table,
    target_dir,
};

/// How many seeds the script explores: the first of the fixtures' exploration.
const SEEDS: u64 = 3;
const _: () = assert!(crate::fixtures::SEEDS.start == 0);
const _: () = assert!(SEEDS <= crate::fixtures::SEEDS.end);

#[test]
fn sim_sh_explores_seeds_of_the_default_scenario() {
    // The script builds in target/sim, as the simulated tests are meant to be run; from any
    // other target directory it would start a build of its own from nothing.
    let expected = root().join("target").join("sim");
    let (ours, theirs) = (target_dir().canonicalize(), expected.canonicalize());
    assert!(
        matches!((&ours, &theirs), (Ok(a), Ok(b)) if a == b),
        "this test binary is in {}, scripts/sim.sh builds in {}: run the simulated tests with \
         CARGO_TARGET_DIR=target/sim, as scripts/test.sh does",
        target_dir().display(),
        expected.display()
    );
    // Built once by this process already, so the script's cargo finds it fresh.
    binary();
    let seeds = SEEDS.to_string();
    let mut command = Command::new(repo_file("scripts/sim.sh"));
    command.args(["explore", "--seeds", &seeds]);
    let profile = profile();
    let cli = finish(command, &[("EXORUN_SIM_PROFILE", profile.as_str())]);
    cli.assert_exit(0);
    cli.assert_stdout(&[&format!(
        "exorun-sim explore: seeds 0..{SEEDS} of the default scenario\n"
    )]);
    let table = summary_table(&cli.stdout);
    for row in [
        format!("seeds                  {SEEDS}"),
        "failed                 0".to_owned(),
    ] {
        assert!(
            table.contains(&format!("\n  {row}\n")),
            "no {row:?} in\n{}",
            cli.output()
        );
    }
    // The same seeds, explored by the binary itself among others, sum up alike.
    let dir = scratch_dir("sim-sh");
    let report = dir.join("first.jsonl");
    let mut text = Vec::new();
    for line in whole().lines.iter().filter(|line| line.seed < SEEDS) {
        if let Err(e) = line.write(&mut text) {
            panic!("seed {}: {e}", line.seed);
        }
    }
    if let Err(e) = std::fs::write(&report, text) {
        panic!("{}: {e}", report.display());
    }
    let merged = exorun_sim(&["summarize".to_owned(), arg(&report)]);
    merged.assert_exit(0);
    assert_eq!(table, summary_table(&merged.stdout), "{}", merged.output());
}
