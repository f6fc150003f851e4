//! Several replicas on one PostgreSQL: what one replica's dispatcher and live stream
//! learn, the others learn through PostgreSQL's `LISTEN/NOTIFY`. A replica that
//! queues an action wakes the agent long-polling another replica; a page open on
//! one replica follows changes made through another.
//!
//! Each notification carries its sender's origin, so a replica ignores its own
//! (it already acted on it). A notification is sent after the change is committed;
//! one lost (a replica dying between the two, the listener's connection dropping)
//! costs a delay, never a change: a long-poll ends within its wait and the agent
//! asks again, and a listener that reconnects wakes every waiting agent and tells
//! every open page to reload. On SQLite (one process) nothing here runs.

use std::time::Duration;

use homelab_protocol::{LiveEvent, ServerId};
use serde::{Deserialize, Serialize};

use super::Service;
use crate::db::Backend;

/// The channel every replica listens on.
pub const CHANNEL: &str = "homelab_cmd";

/// What one replica tells the others.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "note", rename_all = "snake_case")]
pub enum Note {
    /// An action for `server` may be ready to claim.
    Wake { server: ServerId },
    /// A change open pages follow.
    Live { event: LiveEvent },
}

#[derive(Debug, Serialize, Deserialize)]
struct Envelope {
    /// The sending process.
    origin: u64,
    #[serde(flatten)]
    note: Note,
}

impl Service {
    /// Wakes the agents of `server` waiting for work, on every replica.
    pub(super) fn wake(&self, server: &ServerId) {
        self.dispatcher.ring(server);
        self.fan_out(Note::Wake {
            server: server.clone(),
        });
    }

    /// Tells the other replicas (PostgreSQL only; fire and forget: see the module).
    pub(super) fn fan_out(&self, note: Note) {
        if self.db.backend() != Backend::Postgres {
            return;
        }
        let payload = match serde_json::to_string(&Envelope {
            origin: self.origin,
            note,
        }) {
            Ok(payload) => payload,
            Err(e) => {
                tracing::error!(error = %e, "cannot encode a note for the other replicas");
                return;
            }
        };
        let pool = self.db.pool().clone();
        tokio::spawn(async move {
            let sent = sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(payload)
                .execute(&pool)
                .await;
            if let Err(e) = sent {
                tracing::warn!(error = %e, "cannot tell the other replicas of a change");
            }
        });
    }

    /// Acts on what the other replicas say, until the task is dropped. Returns at
    /// once on SQLite.
    pub async fn listen_to_replicas(self) {
        if self.db.backend() != Backend::Postgres {
            return;
        }
        let mut first = true;
        loop {
            match sqlx::postgres::PgListener::connect(self.db.url()).await {
                Ok(mut listener) => match listener.listen(CHANNEL).await {
                    Ok(()) => {
                        if !first {
                            self.catch_up();
                        }
                        first = false;
                        self.hear(&mut listener).await;
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot listen to the other replicas"),
                },
                Err(e) => {
                    tracing::warn!(error = %e, "cannot connect to listen to the other replicas")
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Reads notifications until the connection is lost.
    async fn hear(&self, listener: &mut sqlx::postgres::PgListener) {
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => self.act_on(notification.payload()),
                // The connection dropped: notifications may have been missed.
                Ok(None) => {
                    tracing::warn!(
                        "lost the connection that hears the other replicas; reconnecting"
                    );
                    self.catch_up();
                }
                Err(e) => {
                    tracing::warn!(error = %e, "hearing the other replicas failed; reconnecting");
                    return;
                }
            }
        }
    }

    fn act_on(&self, payload: &str) {
        let envelope: Envelope = match serde_json::from_str(payload) {
            Ok(envelope) => envelope,
            Err(e) => {
                tracing::warn!(error = %e, "an unreadable note from another replica; ignored");
                return;
            }
        };
        if envelope.origin == self.origin {
            return;
        }
        match envelope.note {
            Note::Wake { server } => self.dispatcher.ring(&server),
            Note::Live { event } => self.publish_here(event),
        }
    }

    /// After notifications may have been missed: every waiting agent looks again and
    /// every open page reloads.
    fn catch_up(&self) {
        self.dispatcher.ring_all();
        self.publish_here(LiveEvent::Resync);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_have_a_stable_shape_well_under_the_payload_limit() {
        let envelope = Envelope {
            origin: 7,
            note: Note::Live {
                event: LiveEvent::Action {
                    id: homelab_protocol::ActionId::new(12),
                    server: ServerId::parse("nas").unwrap(),
                },
            },
        };
        let json = serde_json::to_string(&envelope).unwrap();
        assert_eq!(
            json,
            r#"{"origin":7,"note":"live","event":{"kind":"action","id":12,"server":"nas"}}"#
        );
        // PostgreSQL refuses payloads of 8000 bytes and more; the longest server id
        // is 63 characters.
        assert!(json.len() < 400);
        let back: Envelope = serde_json::from_str(&json).unwrap();
        assert_eq!(back.note, envelope.note);
    }
}
