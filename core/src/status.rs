//! The status a release manager sees for a release in a channel, derived from the state:
//! a protected channel's release is `current`, an unprotected one's is `staged`; quarantine
//! overrides everything, since it applies to the release everywhere.

use crate::state::{AppState, Placement};
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Status {
    Staged,
    #[serde(rename_all = "camelCase")]
    RollingOut {
        basis_points: u32,
        paused: bool,
    },
    Current,
    RollbackReady,
    Reverted,
    Archived,
    Quarantined,
}

impl Status {
    pub fn label(&self) -> &'static str {
        match self {
            Self::Staged => "staged",
            Self::RollingOut { .. } => "rolling-out",
            Self::Current => "current",
            Self::RollbackReady => "rollback-ready",
            Self::Reverted => "reverted",
            Self::Archived => "archived",
            Self::Quarantined => "quarantined",
        }
    }

    pub fn basis_points(&self) -> Option<u32> {
        match self {
            Self::RollingOut { basis_points, .. } => Some(*basis_points),
            _ => None,
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::RollingOut {
                basis_points,
                paused,
            } => {
                let pct = *basis_points as f64 / 100.0;
                write!(
                    f,
                    "rolling out at {pct} %{}",
                    if *paused { " (paused)" } else { "" }
                )
            }
            other => f.write_str(other.label()),
        }
    }
}

pub fn status_of(
    state: &AppState,
    version: &str,
    channel: &str,
    protected: bool,
) -> Option<Status> {
    let placement = state.placement(version, channel)?;
    if state
        .releases
        .get(version)
        .is_some_and(|r| r.quarantined.is_some())
    {
        return Some(Status::Quarantined);
    }
    Some(match placement {
        Placement::Current if protected => Status::Current,
        Placement::Current => Status::Staged,
        Placement::RollingOut {
            basis_points,
            paused,
        } => Status::RollingOut {
            basis_points,
            paused,
        },
        Placement::RollbackReady => Status::RollbackReady,
        Placement::Reverted => Status::Reverted,
        Placement::Archived => Status::Archived,
    })
}
