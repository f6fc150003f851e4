use serde::{Deserialize, Serialize};

/// What can go wrong in a server function, in words the browser may see. Our own
/// faults are `Internal` and carry no detail: the server logs it instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
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
        existing_action_id: Option<i64>,
    },
    /// Our fault; the details are in the server log.
    #[error("internal error; the server log has the details")]
    Internal,
    /// The call itself failed (network, encoding).
    #[error("request failed: {0}")]
    Transport(String),
}

impl AppError {
    /// Shorthand for a refused field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl AppError {
    /// A conflict that names no existing action.
    pub fn conflict(message: impl Into<String>) -> Self {
        AppError::Conflict {
            message: message.into(),
            existing_action_id: None,
        }
    }
}

/// The service's answer in the browser's words. Our own faults are logged here, once,
/// with what we were doing and why it failed; the browser learns only that it did.
#[cfg(feature = "ssr")]
impl From<homelab_core::Error> for AppError {
    fn from(err: homelab_core::Error) -> Self {
        use homelab_core::Error as E;
        match err {
            E::Invalid { field, message } => AppError::Invalid { field, message },
            E::NotFound(message) => AppError::NotFound(message),
            E::Conflict {
                message,
                existing_action_id,
            } => AppError::Conflict {
                message,
                existing_action_id: existing_action_id.map(homelab_protocol::ActionId::get),
            },
            E::Internal { .. } => {
                tracing::error!(
                    error = format!("{:#}", anyhow::Error::from(err)),
                    "internal error"
                );
                AppError::Internal
            }
        }
    }
}
