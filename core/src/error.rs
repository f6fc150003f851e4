//! What the service answers when it cannot do what was asked.

use crate::db::DbError;

/// Why an operation failed: the caller's mistake (with words for them), or our own
/// fault (with the context and cause for the log, and nothing for the caller).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request named `field` with a value the rules refuse.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// The thing asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request clashes with the current state; for a duplicate action, the id of
    /// the action already in flight.
    #[error("{message}")]
    Conflict {
        message: String,
        existing_action_id: Option<homelab_protocol::ActionId>,
    },
    /// Our fault: what we were doing, and why it failed. Log it (once, where the
    /// answer is made); show only that something went wrong.
    #[error("{context}")]
    Internal {
        context: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl Error {
    /// Shorthand for a refused field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    /// A conflict that names no existing action.
    pub fn conflict(message: impl Into<String>) -> Self {
        Error::Conflict {
            message: message.into(),
            existing_action_id: None,
        }
    }
}

/// A database fault met without more to say about it.
impl From<DbError> for Error {
    fn from(source: DbError) -> Self {
        Error::Internal {
            context: "database",
            source: Box::new(source),
        }
    }
}

impl Error {
    /// Our own fault, while doing `context`.
    pub fn internal(
        context: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Error::Internal {
            context,
            source: source.into(),
        }
    }
}

/// Says what the service was doing when the database failed.
pub trait ResultExt<T> {
    /// Turns a database fault into [`Error::Internal`] with `context`.
    fn context(self, context: &'static str) -> Result<T, Error>;
}

impl<T, E: Into<DbError>> ResultExt<T> for Result<T, E> {
    fn context(self, context: &'static str) -> Result<T, Error> {
        self.map_err(|e| Error::Internal {
            context,
            source: Box::new(e.into()),
        })
    }
}
