//! What `replay`, `shrink` and `corpus add` run: a seed, a scenario file, a planted bug.

use std::path::PathBuf;
use std::process::ExitCode;

use exorun_sim::plant::Plant;
use exorun_sim::report::Replay;
use exorun_sim::scenario::Scenario;

/// The run to pick: `--seed`, `--scenario`, `--plant`.
#[derive(Debug, Clone, clap::Args)]
pub struct Pick {
    /// The seed. Without --scenario it also generates the scenario; with it, it replaces the
    /// file's own seed (which runs when --seed is left out).
    #[arg(long)]
    pub seed: Option<u64>,
    /// A scenario file (TOML) to run instead of a generated one.
    #[arg(long)]
    pub scenario: Option<PathBuf>,
    /// Plants a known bug (forget-pending, double-execute, misroute-reply,
    /// alter-domain-code, skip-contract-check, split-store).
    #[arg(long)]
    pub plant: Option<Plant>,
}

impl Pick {
    /// The scenario to run. A wrong file or a missing seed is printed, and the exit code
    /// comes back as the error.
    pub fn scenario(&self) -> Result<Scenario, ExitCode> {
        let base = super::load(self.scenario.as_ref())?;
        match (self.seed, base) {
            (Some(seed), base) => Ok(super::scenario_for(seed, base.as_ref())),
            (None, Some(base)) => Ok(base),
            (None, None) => {
                eprintln!("exorun-sim: give --seed, or --scenario FILE (which runs its own seed)");
                Err(ExitCode::from(2))
            }
        }
    }

    /// The flags that replay the run with `run`.
    pub fn replay(&self) -> Replay {
        Replay {
            scenario_file: self.scenario.as_ref().map(|f| f.display().to_string()),
            plant: self.plant,
        }
    }

    /// `seed 17 of the default scenario, planted bug double-execute (must be caught as
    /// at-most-once)`.
    pub fn describe(&self, scenario: &Scenario) -> String {
        let what = match &self.scenario {
            Some(file) => format!("{}", file.display()),
            None => "the default scenario".to_owned(),
        };
        let mut text = format!("seed {} of {what}", scenario.seed);
        if let Some(plant) = self.plant {
            let caught_as = plant.caught_as();
            text.push_str(&format!(
                ", planted bug {plant} (must be caught as {caught_as})"
            ));
        }
        text
    }
}
