//! Splitting a range of seeds among machines: `--shard I/N`, or the index a batch system gives
//! each of its tasks (a Kubernetes Indexed Job, a Slurm job array).
//!
//! Shard `I` of `N` takes one contiguous block of the range: of `S` seeds starting at `from`,
//! the seeds `from + ⌊I·S/N⌋ .. from + ⌊(I+1)·S/N⌋`. The blocks cover the range exactly once,
//! in order, and their sizes differ by at most one. Blocks rather than strides keep each shard's
//! report one range, so merged reports show a missing shard, or one stopped by its time limit,
//! as one gap.
//!
//! Plain code: the environment is passed in as a lookup function, so the rules are tested
//! without touching the process's environment.

use std::fmt;
use std::ops::Range;

/// The index of a Kubernetes Indexed Job's pod (`.spec.completionMode: Indexed`), from 0.
pub const KUBERNETES_INDEX: &str = "JOB_COMPLETION_INDEX";
/// The shard count beside [`KUBERNETES_INDEX`]: Kubernetes does not put `.spec.completions` in
/// the pod's environment, so the Job sets this (or passes `--shard-count`).
pub const SHARD_COUNT: &str = "EXORUN_SHARD_COUNT";
/// A Slurm job array task's id (`sbatch --array=MIN-MAX[:STEP]`).
pub const SLURM_ID: &str = "SLURM_ARRAY_TASK_ID";
/// How many tasks the Slurm array has.
pub const SLURM_COUNT: &str = "SLURM_ARRAY_TASK_COUNT";
/// The Slurm array's first id (`--array=1-8` starts at 1); 0 when unset.
pub const SLURM_MIN: &str = "SLURM_ARRAY_TASK_MIN";
/// The Slurm array's last id; when set, checked against the others.
pub const SLURM_MAX: &str = "SLURM_ARRAY_TASK_MAX";
/// The Slurm array's step (`--array=0-30:10`); 1 when unset.
pub const SLURM_STEP: &str = "SLURM_ARRAY_TASK_STEP";

/// The most shards a range may be split into.
pub const SHARD_COUNT_MAX: u64 = 1 << 32;

/// What can be wrong with a shard, from a flag or from the environment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("--shard `{text}`: expected I/N, the shard's index from 0 and the count (e.g. 3/10)")]
    Syntax { text: String },
    #[error("shard {index}/{count}: the count must be 1 to {SHARD_COUNT_MAX}")]
    Count { index: u64, count: u64 },
    #[error("shard {index}/{count}: the index must be below the count (shards count from 0)")]
    Index { index: u64, count: u64 },
    #[error("{name}=`{value}`: expected {expected}")]
    Var {
        name: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error(
        "{KUBERNETES_INDEX}={index} says which shard this is, but not how many there are: pass \
         --shard-count N or set {SHARD_COUNT}=N (the Job's .spec.completions; Kubernetes does not \
         put it in the pod's environment)"
    )]
    KubernetesCount { index: u64 },
    #[error(
        "{SLURM_ID}={id} is set but {SLURM_COUNT} is not: pass --shard I/N (I = the task's index \
         from 0, N = the array's size)"
    )]
    SlurmCount { id: u64 },
    #[error(
        "{SLURM_ID}={id} is not one of the {count} ids from {min} with step {step}: use a plain \
         range (sbatch --array=0-{last}) or pass --shard I/N",
        last = count.saturating_sub(1)
    )]
    SlurmId {
        id: u64,
        min: u64,
        step: u64,
        count: u64,
    },
    #[error(
        "the Slurm array is not a range ({SLURM_MIN}={min}, {SLURM_STEP}={step}, {SLURM_COUNT}={count}, \
         but {SLURM_MAX}={max}): use a plain range (sbatch --array=0-{last}) or pass --shard I/N",
        last = count.saturating_sub(1)
    )]
    SlurmNotARange {
        min: u64,
        max: u64,
        step: u64,
        count: u64,
    },
    #[error("--shard-count {flag} disagrees with {SLURM_COUNT}={slurm}")]
    SlurmCountMismatch { flag: u64, slurm: u64 },
    #[error(
        "both {KUBERNETES_INDEX} and {SLURM_ID} are set; pass --shard I/N to say which shard this is"
    )]
    Ambiguous,
    #[error("--shard-count goes with {KUBERNETES_INDEX}; with --shard, write the count as I/N")]
    CountWithFlag,
    #[error(
        "--shard-count {count} without {KUBERNETES_INDEX}: pass --shard I/N to pick a shard by hand"
    )]
    CountWithoutIndex { count: u64 },
}

/// Shard `index` of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    /// The whole range: one shard of one.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    pub fn new(index: u64, count: u64) -> Result<Shard, Error> {
        if count == 0 || count > SHARD_COUNT_MAX {
            return Err(Error::Count { index, count });
        }
        if index >= count {
            return Err(Error::Index { index, count });
        }
        Ok(Shard { index, count })
    }

    /// `I/N`, as `--shard` takes it.
    pub fn parse(text: &str) -> Result<Shard, Error> {
        let syntax = || Error::Syntax {
            text: text.to_owned(),
        };
        let (index, count) = text.split_once('/').ok_or_else(syntax)?;
        let index = index.trim().parse().map_err(|_| syntax())?;
        let count = count.trim().parse().map_err(|_| syntax())?;
        Shard::new(index, count)
    }

    /// This shard's block of `seeds`.
    pub fn block(&self, seeds: &Range<u64>) -> Range<u64> {
        let len = u128::from(seeds.end.saturating_sub(seeds.start));
        let bound = |i: u64| {
            let offset = len * u128::from(i) / u128::from(self.count);
            // offset <= len, which came from a u64.
            seeds.start + u64::try_from(offset).unwrap_or(u64::MAX)
        };
        bound(self.index)..bound(self.index + 1)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Where the shard's count came from, for a Kubernetes Indexed Job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountFrom {
    Flag,
    Env,
}

/// Why this shard: what [`choose`] read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `--shard I/N`; `ignored` names the batch variables that were set and not used.
    Flag { ignored: Vec<&'static str> },
    /// A Kubernetes Indexed Job's `JOB_COMPLETION_INDEX`, with the count from `count_from`.
    Kubernetes { count_from: CountFrom },
    /// A Slurm job array: `id` among `count` ids from `min` by `step`.
    Slurm { id: u64, min: u64, step: u64 },
    /// Nothing asked for a shard: the whole range.
    Unsharded,
}

/// The shard chosen and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    pub shard: Shard,
    pub source: Source,
}

impl fmt::Display for Chosen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shard = self.shard;
        match &self.source {
            Source::Unsharded => write!(
                f,
                "every seed (no --shard, no {KUBERNETES_INDEX}, no {SLURM_ID})"
            ),
            Source::Flag { ignored } if ignored.is_empty() => write!(f, "shard {shard} (--shard)"),
            Source::Flag { ignored } => write!(
                f,
                "shard {shard} (--shard, which overrides {})",
                ignored.join(" and ")
            ),
            Source::Kubernetes { count_from } => {
                let count = match count_from {
                    CountFrom::Flag => "--shard-count".to_owned(),
                    CountFrom::Env => SHARD_COUNT.to_owned(),
                };
                write!(
                    f,
                    "shard {shard} (Kubernetes Indexed Job: {KUBERNETES_INDEX}={}, count from {count})",
                    shard.index
                )
            }
            Source::Slurm { id, min, step } => write!(
                f,
                "shard {shard} (Slurm job array: {SLURM_ID}={id}, {SLURM_MIN}={min}, \
                 {SLURM_STEP}={step}, {SLURM_COUNT}={})",
                shard.count
            ),
        }
    }
}

/// The shard to run: `--shard I/N` when given (`flag`), else the batch system's index from
/// `env` (a Kubernetes Indexed Job, with its count from `--shard-count` (`count`) or
/// `EXORUN_SHARD_COUNT`; a Slurm job array), else the whole range. `env` looks a variable up.
pub fn choose(
    flag: Option<&str>,
    count: Option<u64>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Chosen, Error> {
    let set: Vec<&'static str> = [KUBERNETES_INDEX, SLURM_ID]
        .into_iter()
        .filter(|name| env(name).is_some())
        .collect();
    if let Some(text) = flag {
        if count.is_some() {
            return Err(Error::CountWithFlag);
        }
        let shard = Shard::parse(text)?;
        let source = Source::Flag { ignored: set };
        return Ok(Chosen { shard, source });
    }
    let kubernetes = env(KUBERNETES_INDEX);
    let slurm = env(SLURM_ID);
    match (kubernetes, slurm) {
        (Some(_), Some(_)) => Err(Error::Ambiguous),
        (Some(index), None) => kubernetes_shard(&index, count, &env),
        (None, Some(id)) => slurm_shard(&id, count, &env),
        (None, None) => match count {
            Some(count) => Err(Error::CountWithoutIndex { count }),
            None => Ok(Chosen {
                shard: Shard::WHOLE,
                source: Source::Unsharded,
            }),
        },
    }
}

fn kubernetes_shard(
    index: &str,
    count: Option<u64>,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<Chosen, Error> {
    let index = number(KUBERNETES_INDEX, index)?;
    let (count, count_from) = match (count, env(SHARD_COUNT)) {
        (Some(count), _) => (count, CountFrom::Flag),
        (None, Some(text)) => (number(SHARD_COUNT, &text)?, CountFrom::Env),
        (None, None) => return Err(Error::KubernetesCount { index }),
    };
    let shard = Shard::new(index, count)?;
    let source = Source::Kubernetes { count_from };
    Ok(Chosen { shard, source })
}

fn slurm_shard(
    id: &str,
    flag_count: Option<u64>,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<Chosen, Error> {
    let id = number(SLURM_ID, id)?;
    let var = |name: &'static str, default: Option<u64>| match env(name) {
        Some(text) => number(name, &text).map(Some),
        None => Ok(default),
    };
    let count = var(SLURM_COUNT, None)?.ok_or(Error::SlurmCount { id })?;
    let min = var(SLURM_MIN, Some(0))?.unwrap_or(0);
    let step = var(SLURM_STEP, Some(1))?.unwrap_or(1);
    if step == 0 {
        return Err(Error::Var {
            name: SLURM_STEP,
            value: "0".into(),
            expected: "a step of at least 1",
        });
    }
    if let Some(flag) = flag_count
        && flag != count
    {
        return Err(Error::SlurmCountMismatch { flag, slurm: count });
    }
    let not_a_range = |max| Error::SlurmNotARange {
        min,
        max,
        step,
        count,
    };
    if let Some(max) = var(SLURM_MAX, None)? {
        let last = count
            .checked_sub(1)
            .and_then(|n| n.checked_mul(step))
            .and_then(|n| n.checked_add(min));
        if last != Some(max) {
            return Err(not_a_range(max));
        }
    }
    let offset = id.checked_sub(min).filter(|o| o % step == 0);
    let Some(index) = offset.map(|o| o / step).filter(|i| *i < count) else {
        return Err(Error::SlurmId {
            id,
            min,
            step,
            count,
        });
    };
    let shard = Shard::new(index, count)?;
    let source = Source::Slurm { id, min, step };
    Ok(Chosen { shard, source })
}

fn number(name: &'static str, text: &str) -> Result<u64, Error> {
    text.trim().parse().map_err(|_| Error::Var {
        name,
        value: text.to_owned(),
        expected: "a whole number",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every seed of `seeds` lands in exactly one of the `count` blocks, the blocks follow each
    /// other in order, and their sizes differ by at most one.
    fn check_cover(seeds: Range<u64>, count: u64) {
        let blocks: Vec<Range<u64>> = (0..count)
            .map(|index| Shard::new(index, count).unwrap().block(&seeds))
            .collect();
        let mut next = seeds.start;
        for block in &blocks {
            assert_eq!(block.start, next, "{seeds:?} / {count}: {blocks:?}");
            assert!(block.start <= block.end, "{seeds:?} / {count}: {blocks:?}");
            next = block.end;
        }
        assert_eq!(next, seeds.end, "{seeds:?} / {count}: {blocks:?}");
        let sizes = blocks.iter().map(|b| b.end - b.start);
        let (small, large) = (sizes.clone().min().unwrap(), sizes.max().unwrap());
        assert!(large - small <= 1, "{seeds:?} / {count}: {blocks:?}");
    }

    #[test]
    fn shards_cover_a_range_exactly_once() {
        let starts = [0, 1, 7, 1_000, u64::MAX - 1_000_000];
        let lens = [0, 1, 2, 3, 10, 99, 100, 101, 1_000, 1_000_000];
        let counts = [1, 2, 3, 4, 7, 10, 16, 100, 1_000, 1_001];
        for start in starts {
            for len in lens {
                for count in counts {
                    check_cover(start..start + len, count);
                }
            }
        }
    }

    #[test]
    fn shards_cover_the_whole_u64_range() {
        let all = 0..u64::MAX;
        check_cover(all.clone(), 3);
        check_cover(all.clone(), 1_001);
        let count = SHARD_COUNT_MAX;
        let block = |index| Shard::new(index, count).unwrap().block(&all);
        assert_eq!(block(0).start, 0);
        assert_eq!(block(count - 1).end, u64::MAX);
        for index in [1, 2, count / 3, count / 2, count - 1] {
            assert_eq!(block(index - 1).end, block(index).start, "{index}");
        }
    }

    #[test]
    fn a_block_is_what_the_docs_say() {
        let seeds = 100..110;
        let blocks: Vec<_> = (0..4)
            .map(|i| Shard::new(i, 4).unwrap().block(&seeds))
            .collect();
        assert_eq!(blocks, [100..102, 102..105, 105..107, 107..110]);
    }

    #[test]
    fn the_flag_parses() {
        assert_eq!(
            Shard::parse("3/10"),
            Ok(Shard {
                index: 3,
                count: 10
            })
        );
        assert_eq!(Shard::parse(" 0 / 1 "), Ok(Shard::WHOLE));
        for bad in ["", "3", "3/", "/10", "a/b", "-1/4", "3/10/2", "1.5/4"] {
            assert_eq!(
                Shard::parse(bad),
                Err(Error::Syntax { text: bad.into() }),
                "{bad}"
            );
        }
        assert_eq!(
            Shard::parse("10/10"),
            Err(Error::Index {
                index: 10,
                count: 10
            })
        );
        assert_eq!(
            Shard::parse("0/0"),
            Err(Error::Count { index: 0, count: 0 })
        );
    }

    /// `choose` with `vars` as the whole environment.
    fn choose_in(
        flag: Option<&str>,
        count: Option<u64>,
        vars: &[(&str, &str)],
    ) -> Result<Chosen, Error> {
        let env = |name: &str| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        };
        choose(flag, count, env)
    }

    fn shard(index: u64, count: u64) -> Shard {
        Shard { index, count }
    }

    #[test]
    fn without_flag_or_variables_the_whole_range_runs() {
        let chosen = choose_in(None, None, &[("SLURM_JOB_ID", "7")]).unwrap();
        assert_eq!(chosen.shard, Shard::WHOLE);
        assert_eq!(chosen.source, Source::Unsharded);
        assert_eq!(chosen.shard.block(&(5..15)), 5..15);
    }

    #[test]
    fn the_flag_wins_over_the_environment() {
        let vars = [(SLURM_ID, "4"), (SLURM_COUNT, "8")];
        let chosen = choose_in(Some("1/2"), None, &vars).unwrap();
        assert_eq!(chosen.shard, shard(1, 2));
        assert_eq!(
            chosen.source,
            Source::Flag {
                ignored: vec![SLURM_ID]
            }
        );
        assert!(chosen.to_string().contains("overrides SLURM_ARRAY_TASK_ID"));
        assert_eq!(
            choose_in(Some("1/2"), Some(2), &[]),
            Err(Error::CountWithFlag)
        );
    }

    #[test]
    fn a_kubernetes_indexed_job_needs_its_count() {
        let vars = [(KUBERNETES_INDEX, "3")];
        let from_flag = choose_in(None, Some(10), &vars).unwrap();
        assert_eq!(from_flag.shard, shard(3, 10));
        assert_eq!(
            from_flag.source,
            Source::Kubernetes {
                count_from: CountFrom::Flag
            }
        );
        let vars = [(KUBERNETES_INDEX, "3"), (SHARD_COUNT, "10")];
        let from_env = choose_in(None, None, &vars).unwrap();
        assert_eq!(from_env.shard, shard(3, 10));
        assert_eq!(
            choose_in(None, None, &[(KUBERNETES_INDEX, "3")]),
            Err(Error::KubernetesCount { index: 3 })
        );
        assert_eq!(
            choose_in(None, Some(3), &[(KUBERNETES_INDEX, "3")]),
            Err(Error::Index { index: 3, count: 3 })
        );
    }

    #[test]
    fn bad_values_are_named() {
        let bad = |name: &'static str, value: &str| Error::Var {
            name,
            value: value.into(),
            expected: "a whole number",
        };
        assert_eq!(
            choose_in(None, Some(4), &[(KUBERNETES_INDEX, "x")]),
            Err(bad(KUBERNETES_INDEX, "x"))
        );
        assert_eq!(
            choose_in(None, None, &[(KUBERNETES_INDEX, "1"), (SHARD_COUNT, "-4")]),
            Err(bad(SHARD_COUNT, "-4"))
        );
        assert_eq!(
            choose_in(None, None, &[(SLURM_ID, "1"), (SLURM_COUNT, "many")]),
            Err(bad(SLURM_COUNT, "many"))
        );
        assert_eq!(
            choose_in(None, None, &[(SLURM_ID, ""), (SLURM_COUNT, "4")]),
            Err(bad(SLURM_ID, ""))
        );
        let message = choose_in(None, None, &[(KUBERNETES_INDEX, "x")])
            .unwrap_err()
            .to_string();
        assert_eq!(message, "JOB_COMPLETION_INDEX=`x`: expected a whole number");
    }

    #[test]
    fn a_slurm_array_counts_from_its_minimum() {
        let array = |id: &'static str| {
            [
                (SLURM_ID, id),
                (SLURM_MIN, "1"),
                (SLURM_MAX, "8"),
                (SLURM_COUNT, "8"),
            ]
        };
        assert_eq!(
            choose_in(None, None, &array("1")).unwrap().shard,
            shard(0, 8)
        );
        assert_eq!(
            choose_in(None, None, &array("8")).unwrap().shard,
            shard(7, 8)
        );
        let error = Error::SlurmId {
            id: 9,
            min: 1,
            step: 1,
            count: 8,
        };
        assert_eq!(choose_in(None, None, &array("9")), Err(error));
        let chosen = choose_in(None, None, &array("5")).unwrap();
        assert_eq!(
            chosen.source,
            Source::Slurm {
                id: 5,
                min: 1,
                step: 1
            }
        );
        assert_eq!(chosen.shard, shard(4, 8));
        assert_eq!(
            choose_in(None, Some(4), &array("5")),
            Err(Error::SlurmCountMismatch { flag: 4, slurm: 8 })
        );
        assert_eq!(
            choose_in(None, Some(8), &array("5")).unwrap().shard,
            shard(4, 8)
        );
    }

    #[test]
    fn a_slurm_array_with_a_step() {
        let vars = |id: &'static str| {
            [
                (SLURM_ID, id),
                (SLURM_MIN, "0"),
                (SLURM_MAX, "30"),
                (SLURM_STEP, "10"),
                (SLURM_COUNT, "4"),
            ]
        };
        assert_eq!(
            choose_in(None, None, &vars("20")).unwrap().shard,
            shard(2, 4)
        );
        assert!(matches!(
            choose_in(None, None, &vars("15")),
            Err(Error::SlurmId { id: 15, .. })
        ));
    }

    #[test]
    fn a_slurm_list_that_is_not_a_range_is_refused() {
        // sbatch --array=1,4,9: 3 tasks, min 1, max 9.
        let vars = [
            (SLURM_ID, "4"),
            (SLURM_MIN, "1"),
            (SLURM_MAX, "9"),
            (SLURM_COUNT, "3"),
        ];
        let refused = choose_in(None, None, &vars);
        assert!(
            matches!(refused, Err(Error::SlurmNotARange { max: 9, .. })),
            "{refused:?}"
        );
        assert_eq!(
            choose_in(None, None, &[(SLURM_ID, "2")]),
            Err(Error::SlurmCount { id: 2 })
        );
    }

    #[test]
    fn two_batch_systems_at_once_are_ambiguous() {
        let vars = [(KUBERNETES_INDEX, "1"), (SLURM_ID, "1"), (SLURM_COUNT, "2")];
        assert_eq!(choose_in(None, Some(2), &vars), Err(Error::Ambiguous));
        assert_eq!(
            choose_in(None, Some(2), &[]),
            Err(Error::CountWithoutIndex { count: 2 })
        );
    }

    /// Every task of a Kubernetes Indexed Job and of a Slurm array, together, runs each seed
    /// of the range exactly once.
    #[test]
    fn batch_tasks_together_cover_the_range_once() {
        let seeds = 1_000..2_003;
        for count in [1u64, 2, 5, 16] {
            let mut kubernetes = Vec::new();
            let mut slurm = Vec::new();
            for i in 0..count {
                let index = i.to_string();
                let k = choose_in(None, Some(count), &[(KUBERNETES_INDEX, &index)]).unwrap();
                kubernetes.extend(k.shard.block(&seeds));
                let id = (i + 1).to_string();
                let (max, n) = (count.to_string(), count.to_string());
                let vars = [
                    (SLURM_ID, id.as_str()),
                    (SLURM_MIN, "1"),
                    (SLURM_MAX, max.as_str()),
                    (SLURM_COUNT, n.as_str()),
                ];
                slurm.extend(choose_in(None, None, &vars).unwrap().shard.block(&seeds));
            }
            let all: Vec<u64> = seeds.clone().collect();
            assert_eq!(kubernetes, all, "kubernetes, {count} shards");
            assert_eq!(slurm, all, "slurm, {count} shards");
        }
    }
}
