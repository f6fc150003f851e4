//! What the dashboard's live stream (`GET /events`) tells open pages, and what a
//! running agent sends of its command's output.
//!
//! An event says *what* changed, never the new state: a page that cares asks for
//! its data again, so the database stays the one source of truth and a page that
//! missed events (a dropped connection) catches up the same way.

use serde::{Deserialize, Serialize};

use crate::{ActionId, ServerId};

/// One change the dashboard's pages may want to follow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum LiveEvent {
    /// A machine's row changed: added, removed, first seen, online or offline again,
    /// its package list or settings changed.
    Server { server: ServerId },
    /// An action was queued or changed state (approved, claimed, finished...).
    Action { id: ActionId, server: ServerId },
    /// A running action's output grew.
    Output { id: ActionId, server: ServerId },
    /// A fleet run started, moved on a batch, or ended.
    Run { id: crate::RunId },
    /// The schedules changed: one was created, edited or deleted, or fired (its
    /// next firing moved on).
    Schedules,
    /// Events were lost (the reader fell behind): everything may have changed.
    Resync,
}

impl LiveEvent {
    /// The machine the event is about, if one.
    pub fn server(&self) -> Option<&ServerId> {
        match self {
            LiveEvent::Server { server }
            | LiveEvent::Action { server, .. }
            | LiveEvent::Output { server, .. } => Some(server),
            LiveEvent::Run { .. } | LiveEvent::Schedules | LiveEvent::Resync => None,
        }
    }

    /// The action the event is about, if one.
    pub fn action(&self) -> Option<ActionId> {
        match self {
            LiveEvent::Action { id, .. } | LiveEvent::Output { id, .. } => Some(*id),
            LiveEvent::Server { .. }
            | LiveEvent::Run { .. }
            | LiveEvent::Schedules
            | LiveEvent::Resync => None,
        }
    }
}

/// The longest output chunk of each stream one progress call may carry, in bytes.
/// The agent sends what came since its last call, at most about once a second.
pub const MAX_CHUNK_BYTES: usize = 64 * 1024;

/// How often a running agent sends new output, at most.
pub const OUTPUT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// `POST /agent/v1/actions/{id}/progress`: a running action's sign of life, with
/// the output its command printed since the last call (possibly none).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Progress {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stdout: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stderr: String,
}

impl Progress {
    /// Refuses chunks over [`MAX_CHUNK_BYTES`]: an agent cuts its output before
    /// sending it.
    pub fn validate(&self) -> Result<(), String> {
        for (name, chunk) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            if chunk.len() > MAX_CHUNK_BYTES {
                return Err(format!(
                    "{name}: {} bytes is more than the {MAX_CHUNK_BYTES} one call may carry",
                    chunk.len()
                ));
            }
        }
        Ok(())
    }

    /// Nothing new was printed.
    pub fn is_empty(&self) -> bool {
        self.stdout.is_empty() && self.stderr.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_have_a_stable_json_shape() {
        let server = ServerId::parse("nas").unwrap();
        let event = LiveEvent::Action {
            id: ActionId::new(7),
            server: server.clone(),
        };
        let json = serde_json::to_string(&event).unwrap();
        assert_eq!(json, r#"{"kind":"action","id":7,"server":"nas"}"#);
        assert_eq!(serde_json::from_str::<LiveEvent>(&json).unwrap(), event);
        assert_eq!(
            serde_json::to_string(&LiveEvent::Resync).unwrap(),
            r#"{"kind":"resync"}"#
        );
        assert_eq!(
            serde_json::to_string(&LiveEvent::Schedules).unwrap(),
            r#"{"kind":"schedules"}"#
        );
        assert_eq!(event.server(), Some(&server));
        assert_eq!(event.action(), Some(ActionId::new(7)));
    }

    #[test]
    fn progress_without_output_is_the_old_empty_body_and_big_chunks_are_refused() {
        assert_eq!(
            serde_json::from_str::<Progress>("{}").unwrap(),
            Progress::default()
        );
        assert_eq!(serde_json::to_string(&Progress::default()).unwrap(), "{}");
        assert!(serde_json::from_str::<Progress>(r#"{"stdin":"x"}"#).is_err());
        let big = Progress {
            stdout: "x".repeat(MAX_CHUNK_BYTES + 1),
            stderr: String::new(),
        };
        assert!(big.validate().unwrap_err().starts_with("stdout"));
        let fine = Progress {
            stdout: String::new(),
            stderr: "y".repeat(MAX_CHUNK_BYTES),
        };
        assert!(fine.validate().is_ok());
    }
}
