//! What goes wrong with a statement or with building the database, for every backend.

use std::time::Duration;

use crate::policy::Refusal;

/// What went wrong with a statement or with building the database.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The statement was refused by the policy before it ran.
    #[error("refused: {0}")]
    Refused(Refusal),
    /// The statement ran past the time limit and was interrupted.
    #[error("query interrupted after {}s timeout", .0.as_secs_f64())]
    Timeout(Duration),
    /// The work was stopped by [`Database::stop`](crate::database::Database::stop) (the client
    /// cancelled its request).
    #[error("the statement was stopped: its request was cancelled")]
    Stopped,
    /// SQLite reported an error; its message is shown as is (and is the whole message, so
    /// it is not also this error's `source()`).
    #[error("{0}")]
    Sqlite(rusqlite::Error),
    /// The database refused or failed the statement: its message (with PostgreSQL's
    /// detail and hint) and its SQLSTATE.
    #[error("{message}")]
    Database {
        /// What the database said.
        message: String,
        /// The SQLSTATE (`42P01`), when the database gave one.
        code: Option<String>,
    },
    /// No connection to the database could be had, or it was lost during the statement.
    #[error("{0}")]
    Unavailable(String),
    /// The number of bound parameters does not fit the statement.
    #[error(
        "the statement has {expected} parameter{} but {given} {} given",
        if *.expected == 1 { "" } else { "s" },
        if *.given == 1 { "was" } else { "were" }
    )]
    Parameters {
        /// The placeholders of the statement.
        expected: usize,
        /// The values given.
        given: usize,
    },
    /// `describe_table` named no table or view of the database.
    #[error("no such table: {0}")]
    UnknownTable(String),
    /// Building the database at start failed.
    #[error("{context}: {reason}")]
    Setup {
        /// What was being done: the option and file (`--load sales=FILE`), or the step.
        context: String,
        /// Why it failed: the message of the CSV reader, the file system or SQLite.
        reason: String,
    },
}

impl From<Refusal> for DbError {
    fn from(refusal: Refusal) -> Self {
        Self::Refused(refusal)
    }
}

impl DbError {
    /// `db.response.status_code`: the database's own code for the failure (PostgreSQL's
    /// SQLSTATE, SQLite's extended result code), when it gave one.
    pub fn status_code(&self) -> Option<String> {
        match self {
            Self::Database { code, .. } => code.clone(),
            Self::Sqlite(rusqlite::Error::SqliteFailure(error, _)) => {
                Some(error.extended_code.to_string())
            }
            _ => None,
        }
    }

    /// `error.type`: the status code when there is one, else the kind of failure
    /// (`refused`, `timeout`, `cancelled`, `unavailable`, `invalid_parameters`, ...).
    pub fn error_type(&self) -> String {
        if let Some(code) = self.status_code() {
            return code;
        }
        match self {
            Self::Refused(_) => "refused",
            Self::Timeout(_) => "timeout",
            Self::Stopped => "cancelled",
            Self::Unavailable(_) => "unavailable",
            Self::Parameters { .. } => "invalid_parameters",
            Self::UnknownTable(_) => "unknown_table",
            Self::Setup { .. } => "setup",
            Self::Database { .. } | Self::Sqlite(_) => "database_error",
        }
        .to_owned()
    }

    /// A setup failure of `context` (the option and file it concerns).
    pub(crate) fn setup(context: &str, reason: &dyn std::fmt::Display) -> Self {
        Self::Setup {
            context: context.to_owned(),
            reason: reason.to_string(),
        }
    }
}
