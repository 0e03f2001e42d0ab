//! Planted bugs: known defects the simulator switches on, one per run, to prove that its
//! checkers catch what they claim to. Off by default; four of them live in exorun behind
//! `#[cfg(madsim)]` (`exorun::plant`), so no real deployment can reach them, and two are the
//! simulator's own: `alter-domain-code` (its network) and `split-store` (how its nodes link).

use std::fmt;
use std::str::FromStr;

use crate::check::ViolationKind;

/// A bug the simulator can plant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Plant {
    /// The client forgets to remove a pending entry when its call times out.
    ForgetPending,
    /// The server executes a duplicated `Call` again.
    DoubleExecute,
    /// The client delivers a reply to another pending call's `seq`.
    MisrouteReply,
    /// A `DomainSpecific` failure's code changes in transit.
    AlterDomainCode,
    /// A reconnecting session does not check the contract against the new offer.
    SkipContractCheck,
    /// A node links each instance's `kv` import to a store of its own instead of the node's
    /// one: the diamond's writer and reader no longer share state.
    SplitStore,
}

impl Plant {
    pub const ALL: [Plant; 6] = [
        Plant::ForgetPending,
        Plant::DoubleExecute,
        Plant::MisrouteReply,
        Plant::AlterDomainCode,
        Plant::SkipContractCheck,
        Plant::SplitStore,
    ];

    /// The name `--plant` takes.
    pub fn name(self) -> &'static str {
        match self {
            Plant::ForgetPending => "forget-pending",
            Plant::DoubleExecute => "double-execute",
            Plant::MisrouteReply => "misroute-reply",
            Plant::AlterDomainCode => "alter-domain-code",
            Plant::SkipContractCheck => "skip-contract-check",
            Plant::SplitStore => "split-store",
        }
    }

    /// The violation the bug must produce.
    pub fn caught_as(self) -> ViolationKind {
        match self {
            Plant::ForgetPending => ViolationKind::Leak,
            Plant::DoubleExecute => ViolationKind::AtMostOnce,
            Plant::MisrouteReply => ViolationKind::Correlation,
            Plant::AlterDomainCode => ViolationKind::Fidelity,
            Plant::SkipContractCheck => ViolationKind::Contract,
            Plant::SplitStore => ViolationKind::SharedState,
        }
    }
}

impl fmt::Display for Plant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `--plant` named no known bug.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown plant `{0}` (known: forget-pending, double-execute, misroute-reply, alter-domain-code, skip-contract-check, split-store)"
)]
pub struct UnknownPlant(pub String);

impl FromStr for Plant {
    type Err = UnknownPlant;

    fn from_str(s: &str) -> Result<Plant, UnknownPlant> {
        let found = Plant::ALL.into_iter().find(|p| p.name() == s);
        found.ok_or_else(|| UnknownPlant(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for plant in Plant::ALL {
            assert_eq!(plant.name().parse::<Plant>(), Ok(plant));
        }
        let refused = "forget".parse::<Plant>();
        assert_eq!(refused, Err(UnknownPlant("forget".into())));
    }
}
