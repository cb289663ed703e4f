//! The console's commands, one file per area. Each is a few lines: take the state, call one
//! airlock-core function, map the error. Every rule is core's.

pub mod actions;
pub mod gate;
pub mod incidents;
pub mod kpi;
pub mod notify;
pub mod publish;
pub mod reports;
pub mod settings;
pub mod sync;
pub mod views;
pub mod workspace;

use crate::error::{CommandError, CommandResult};
use crate::state::Console;
use airlock_core::{Attribution, ErrorKind, Workspace};

/// Who is acting: `--actor` / `AIRLOCK_ACTOR`, else the workspace's `actor` setting.
pub(crate) fn attribution(
    console: &Console,
    ws: &Workspace,
    reason: Option<&str>,
) -> CommandResult<Attribution> {
    let actor = console
        .actor
        .clone()
        .or_else(|| ws.config().actor.clone())
        .ok_or_else(|| {
            CommandError::shell(
                ErrorKind::Config,
                "who is acting? set your name under Settings → Actor",
            )
        })?;
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    Ok(Attribution::new(&actor, reason)?)
}
