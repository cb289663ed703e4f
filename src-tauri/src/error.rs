//! The error every command returns: core's [`ErrorReport`] (kind, message and structured
//! fields; boxed, as it is large and errors are rare), serialised for the web view, which branches on `kind` and never on the message.

use airlock_core::error::ErrorReport;
use serde::Serialize;

#[derive(Debug, Serialize, specta::Type)]
#[serde(transparent)]
pub struct CommandError(pub Box<ErrorReport>);

impl From<airlock_core::Error> for CommandError {
    fn from(e: airlock_core::Error) -> Self {
        Self(Box::new(ErrorReport::from(&e)))
    }
}

impl CommandError {
    /// A failure of the shell itself (no workspace open, a task that did not run).
    pub fn shell(kind: airlock_core::ErrorKind, message: impl Into<String>) -> Self {
        let mut r = ErrorReport::from(&airlock_core::Error::InvalidInput(String::new()));
        r.kind = kind;
        r.message = message.into();
        Self(Box::new(r))
    }
}

pub type CommandResult<T> = Result<T, CommandError>;
