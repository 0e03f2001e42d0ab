//! Shards of a range, chosen by `--shard I/N`, by a Kubernetes Indexed Job's variables or by a
//! Slurm job array's: their reports together hold every seed of the range exactly once, each
//! with the line the unsharded exploration wrote for it. Bad variables exit 2 before any seed
//! runs.

use std::collections::BTreeSet;

use exorun_sim::shard;

use crate::fixtures::{Explored, SEEDS, SHARDS, by_flag, explore, whole};
use crate::support::exorun_sim_env;

/// The shards' reports hold each seed of [`SEEDS`] once, with the unsharded run's line, and
/// each shard says which it is, as `header(I)`.
fn check_cover(shards: &[Explored], header: impl Fn(u64) -> String) {
    assert_eq!(shards.len() as u64, SHARDS);
    let mut seen = BTreeSet::new();
    for (index, explored) in (0..).zip(shards) {
        explored.cli.assert_exit(0);
        let header = header(index);
        explored.cli.assert_stdout(&[&format!(
            "\nshard: {header} of seeds {}..{}\n",
            SEEDS.start, SEEDS.end
        )]);
        assert!(!explored.lines.is_empty(), "{}", explored.cli.output());
        for line in &explored.lines {
            assert!(seen.insert(line.seed), "seed {} ran twice", line.seed);
            let unsharded = whole().lines.iter().find(|l| l.seed == line.seed);
            assert_eq!(Some(line), unsharded, "seed {}", line.seed);
        }
    }
    assert_eq!(seen, SEEDS.collect::<BTreeSet<u64>>());
}

#[test]
fn shards_by_flag_cover_the_range_once() {
    check_cover(by_flag(), |index| {
        format!("shard {index}/{SHARDS} (--shard)")
    });
}

/// An Indexed Job of SHARDS completions: `JOB_COMPLETION_INDEX` from 0, the count from
/// `EXORUN_SHARD_COUNT` (even indexes) or `--shard-count` (odd ones).
#[test]
fn shards_of_a_kubernetes_indexed_job_cover_the_range_once() {
    let count = SHARDS.to_string();
    let shards: Vec<Explored> = (0..SHARDS)
        .map(|index| {
            let index_text = index.to_string();
            let name = format!("shard-kubernetes-{index}");
            let mut env = vec![(shard::KUBERNETES_INDEX, index_text.as_str())];
            match index % 2 {
                0 => {
                    env.push((shard::SHARD_COUNT, &count));
                    explore(&name, &SEEDS, &[], &env)
                }
                _ => explore(&name, &SEEDS, &["--shard-count", &count], &env),
            }
        })
        .collect();
    check_cover(&shards, |index| {
        let from = match index % 2 {
            0 => shard::SHARD_COUNT,
            _ => "--shard-count",
        };
        format!(
            "shard {index}/{SHARDS} (Kubernetes Indexed Job: {}={index}, count from {from})",
            shard::KUBERNETES_INDEX
        )
    });
}

/// `sbatch --array=1-SHARDS`: task ids from 1, with the variables Slurm sets for each task.
#[test]
fn shards_of_a_slurm_job_array_cover_the_range_once() {
    let (count, max) = (SHARDS.to_string(), SHARDS.to_string());
    let shards: Vec<Explored> = (1..=SHARDS)
        .map(|id| {
            let id = id.to_string();
            let env = [
                (shard::SLURM_ID, id.as_str()),
                (shard::SLURM_COUNT, &count),
                (shard::SLURM_MIN, "1"),
                (shard::SLURM_MAX, &max),
                (shard::SLURM_STEP, "1"),
            ];
            explore(&format!("shard-slurm-{id}"), &SEEDS, &[], &env)
        })
        .collect();
    check_cover(&shards, |index| {
        format!(
            "shard {index}/{SHARDS} (Slurm job array: {}={}, {}=1, {}=1, {}={SHARDS})",
            shard::SLURM_ID,
            index + 1,
            shard::SLURM_MIN,
            shard::SLURM_STEP,
            shard::SLURM_COUNT
        )
    });
}

/// Variables that do not say one shard, refused with what is wrong before any seed runs.
#[test]
fn bad_batch_variables_exit_2() {
    let check = |env: &[(&str, &str)], flags: &[&str], named: &str| {
        let mut args = vec!["explore", "--seeds", "10"];
        args.extend_from_slice(flags);
        let cli = exorun_sim_env(&args, env);
        cli.assert_exit(2);
        cli.assert_stderr(&[named]);
        assert!(cli.stdout.is_empty(), "{}", cli.output());
    };
    let k8s = shard::KUBERNETES_INDEX;
    let slurm = shard::SLURM_ID;
    check(
        &[(k8s, "1"), (slurm, "1"), (shard::SLURM_COUNT, "2")],
        &[],
        "both JOB_COMPLETION_INDEX and SLURM_ARRAY_TASK_ID are set",
    );
    check(
        &[(k8s, "1")],
        &[],
        "pass --shard-count N or set EXORUN_SHARD_COUNT=N",
    );
    check(
        &[(k8s, "3"), (shard::SHARD_COUNT, "3")],
        &[],
        "the index must be below the count",
    );
    check(
        &[(k8s, "one"), (shard::SHARD_COUNT, "3")],
        &[],
        "JOB_COMPLETION_INDEX=`one`",
    );
    check(&[(slurm, "2")], &[], "SLURM_ARRAY_TASK_COUNT is not");
    check(
        &[
            (slurm, "4"),
            (shard::SLURM_COUNT, "3"),
            (shard::SLURM_STEP, "3"),
        ],
        &[],
        "SLURM_ARRAY_TASK_ID=4 is not one of the 3 ids from 0 with step 3",
    );
    check(
        &[],
        &["--shard-count", "3"],
        "--shard-count 3 without JOB_COMPLETION_INDEX",
    );
}
