//! Shards split a range so that together they run each seed once, whether chosen by flag or by
//! a Kubernetes Indexed Job's or a Slurm array's variables; the per-seed report lines read back;
//! and the merged reports of the shards give the summary of the unsharded exploration.

use std::ops::Range;

use exorun_sim::jsonl::{Merge, Origin, SeedLine};
use exorun_sim::shard::{self, Shard};

use crate::support::{explore_lines, options};

/// The shard `choose` picks with `vars` as the environment.
fn chosen(flag: Option<&str>, count: Option<u64>, vars: &[(&str, String)]) -> Shard {
    let env = |name: &str| {
        vars.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    };
    match shard::choose(flag, count, env) {
        Ok(chosen) => chosen.shard,
        Err(e) => panic!("{flag:?} {count:?} {vars:?}: {e}"),
    }
}

/// Every shard's block of `seeds`, concatenated, is `seeds`.
fn check_cover(seeds: &Range<u64>, shards: &[Shard]) {
    let all: Vec<u64> = shards.iter().flat_map(|s| s.block(seeds)).collect();
    assert_eq!(all, seeds.clone().collect::<Vec<_>>(), "{shards:?}");
}

#[test]
fn shards_from_flags_and_batch_variables_cover_a_range_once() {
    for seeds in [0..1_000, 17..18, 5..5, 1_000_000..1_000_997] {
        for count in [1u64, 2, 3, 8, 25] {
            let by_flag: Vec<Shard> = (0..count)
                .map(|i| chosen(Some(&format!("{i}/{count}")), None, &[]))
                .collect();
            check_cover(&seeds, &by_flag);
            let kubernetes: Vec<Shard> = (0..count)
                .map(|i| {
                    let vars = [
                        (shard::KUBERNETES_INDEX, i.to_string()),
                        (shard::SHARD_COUNT, count.to_string()),
                    ];
                    chosen(None, None, &vars)
                })
                .collect();
            check_cover(&seeds, &kubernetes);
            // sbatch --array=1-COUNT: ids from 1.
            let slurm: Vec<Shard> = (1..=count)
                .map(|id| {
                    let vars = [
                        (shard::SLURM_ID, id.to_string()),
                        (shard::SLURM_MIN, "1".to_owned()),
                        (shard::SLURM_MAX, count.to_string()),
                        (shard::SLURM_COUNT, count.to_string()),
                    ];
                    chosen(None, None, &vars)
                })
                .collect();
            check_cover(&seeds, &slurm);
        }
    }
}

#[test]
fn bad_batch_variables_are_refused() {
    let env = |vars: &'static [(&'static str, &'static str)]| {
        move |name: &str| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        }
    };
    let refused = [
        shard::choose(None, None, env(&[("JOB_COMPLETION_INDEX", "2")])),
        shard::choose(None, Some(4), env(&[("JOB_COMPLETION_INDEX", "two")])),
        shard::choose(None, Some(4), env(&[("JOB_COMPLETION_INDEX", "4")])),
        shard::choose(None, None, env(&[("SLURM_ARRAY_TASK_ID", "3")])),
        shard::choose(Some("4/4"), None, env(&[])),
        shard::choose(Some("x"), None, env(&[])),
    ];
    for result in refused {
        assert!(result.is_err(), "{result:?}");
    }
}

/// Each shard's report, written and read back, merges (in any order) into the summary of
/// exploring the whole range at once.
#[test]
fn merged_shard_reports_give_the_unsharded_summary() {
    let seeds = 40..46;
    let (whole, whole_lines) = explore_lines(&options(seeds.clone(), 1));
    let mut merge = Merge::default();
    for (file, index) in [1, 0].into_iter().enumerate() {
        let block = Shard { index, count: 2 }.block(&seeds);
        let (_, lines) = explore_lines(&options(block, 2));
        let mut written = Vec::new();
        for line in &lines {
            line.write(&mut written).unwrap();
        }
        let text = String::from_utf8(written).unwrap();
        for (n, text) in text.lines().enumerate() {
            let line = SeedLine::parse(text).unwrap();
            assert!(whole_lines.contains(&line), "{text}");
            let origin = Origin {
                file,
                line: n as u64 + 1,
            };
            merge.add(&line, origin);
        }
    }
    let merged = merge.finish();
    assert_eq!(merged.covered.len(), 1);
    assert_eq!(merged.covered[0], seeds);
    assert_eq!((merged.duplicates, merged.conflicts), (0, 0));
    assert_eq!(merged.summary, whole.summary);
    assert_eq!(merged.summary.render(None), whole.summary.render(None));
}
