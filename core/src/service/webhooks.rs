//! Notifications: the webhooks the admin manages, the delivery of their outbox, and
//! the server-side presence watch that tells of machines going offline.
//!
//! The engine only ever inserts delivery rows, inside the transaction of the change
//! it tells of (`db::webhooks::enqueue` and its hooks), so sending never blocks it
//! and a notification is never lost nor sent for a change that rolled back. The
//! server's delivery job claims due deliveries ([`Service::claim_deliveries`]), sends
//! them and records each attempt ([`Service::record_delivery`]), retrying with the
//! [`Backoff`] for at least an hour.

use std::time::Duration;

use homelab_protocol::{
    CreatedWebhook, Millis, Notification, ServerStatus, Webhook, WebhookEvent, WebhookFormat,
    WebhookId, WebhookName, WebhookSecret, WebhookUrl,
};

use super::Service;
use crate::db;
use crate::db::webhooks::{Attempted, Claimed};
use crate::tokens;
use crate::{Error, ResultExt as _};

/// The prefix of generated webhook secrets.
pub const WEBHOOK_SECRET_PREFIX: &str = "whsec_";
/// Deliveries listed with each webhook.
pub const DELIVERIES_SHOWN: u32 = 10;
/// Finished deliveries kept per webhook (older ones are deleted).
pub const DELIVERIES_KEPT: u32 = 50;

/// When a delivery that was not accepted is tried again, and when it is given up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    /// The wait after the first, second... failed attempt; the last repeats.
    pub delays: Vec<Duration>,
    /// A delivery failing this long after it was queued is given up (`failed`).
    pub give_up_after: Duration,
    /// How long a claimed delivery is this replica's; a replica that dies mid-send
    /// leaves it to be claimed again after this.
    pub lease: Duration,
    /// How often the delivery job looks for due deliveries.
    pub poll_every: Duration,
}

impl Default for Backoff {
    /// 10 s, 30 s, 1, 2, 5, 10, then every 15 minutes, for an hour.
    fn default() -> Self {
        Backoff {
            delays: [10, 30, 60, 120, 300, 600, 900]
                .into_iter()
                .map(Duration::from_secs)
                .collect(),
            give_up_after: Duration::from_secs(3600),
            lease: Duration::from_secs(60),
            poll_every: Duration::from_secs(1),
        }
    }
}

impl Backoff {
    /// What to do after failed attempt `attempt` (1 for the first) at `now` of a
    /// delivery queued at `created_at`: try again at the time returned, or give up.
    pub fn next_attempt(&self, attempt: u32, created_at: Millis, now: Millis) -> Option<Millis> {
        if now.since(created_at) >= ms(self.give_up_after) {
            return None;
        }
        let index = usize::try_from(attempt.saturating_sub(1)).unwrap_or(usize::MAX);
        let delay = self
            .delays
            .get(index)
            .or(self.delays.last())
            .copied()
            .unwrap_or_default();
        Some(now.plus(delay))
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// How one attempt to send a delivery ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendResult {
    /// The receiver answered with this HTTP status.
    Answered(u16),
    /// No answer: a refused connection, a timeout... in words, without the URL.
    NoAnswer(String),
}

/// A webhook as a request asks for it, unchecked (the JSON API's body, the form).
/// `Debug` shows neither the URL nor the secret: they may be tokens.
///
/// In the OpenAPI document each text field is described by the type it is read into.
#[derive(Clone, Default, serde::Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(description = "A webhook: where to send which events, in which format.")
)]
#[serde(deny_unknown_fields)]
pub struct WebhookDraft {
    #[cfg_attr(feature = "openapi", schema(value_type = WebhookName))]
    pub name: String,
    /// Where to send: `http://` or `https://`, at most 2048 bytes.
    #[cfg_attr(feature = "openapi", schema(format = "uri", max_length = 2048))]
    pub url: String,
    #[cfg_attr(feature = "openapi", schema(value_type = WebhookFormat))]
    pub format: String,
    /// The events to notify (at least one; `test` is sent only on request).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<WebhookEvent>))]
    pub events: Vec<String>,
    /// The signing key of the `json` format: 16 to 128 printable ASCII characters
    /// without spaces. A `json` webhook without one gets a new `whsec_...` key.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 16, max_length = 128, pattern = "^[!-~]{16,128}$")
    )]
    pub secret: Option<String>,
}

impl std::fmt::Debug for WebhookDraft {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookDraft")
            .field("name", &self.name)
            .field("format", &self.format)
            .field("events", &self.events)
            .finish_non_exhaustive()
    }
}

/// A webhook to create, checked.
#[derive(Debug, Clone)]
pub struct WebhookRequest {
    pub name: WebhookName,
    pub url: WebhookUrl,
    pub format: WebhookFormat,
    pub events: Vec<WebhookEvent>,
    /// The signing key the admin chose; a `json` webhook without one gets one made.
    pub secret: Option<WebhookSecret>,
}

impl TryFrom<WebhookDraft> for WebhookRequest {
    type Error = Error;

    /// Reads every field, naming the first one at fault.
    fn try_from(draft: WebhookDraft) -> Result<Self, Error> {
        let name =
            WebhookName::parse(&draft.name).map_err(|e| Error::invalid("name", e.to_string()))?;
        let url =
            WebhookUrl::parse(&draft.url).map_err(|e| Error::invalid("url", e.to_string()))?;
        let format =
            draft
                .format
                .trim()
                .parse()
                .map_err(|e: homelab_protocol::ParseEnumError| {
                    Error::invalid("format", e.to_string())
                })?;
        let events = WebhookEvent::parse_set(&draft.events)
            .map_err(|e| Error::invalid("events", e.to_string()))?;
        let secret = draft
            .secret
            .filter(|s| !s.trim().is_empty())
            .map(WebhookSecret::parse)
            .transpose()
            .map_err(|e| Error::invalid("secret", e.to_string()))?;
        Ok(WebhookRequest {
            name,
            url,
            format,
            events,
            secret,
        })
    }
}

impl Service {
    /// Stores a new webhook. A `json` webhook without a secret gets one made; the
    /// secret (made or given) is in the answer this once and never again.
    pub async fn create_webhook(
        &self,
        request: WebhookRequest,
        actor: &str,
    ) -> Result<CreatedWebhook, Error> {
        let secret = match (&request.secret, request.format) {
            (Some(s), _) => Some(s.expose().to_owned()),
            (None, WebhookFormat::Json) => Some(tokens::mint(WEBHOOK_SECRET_PREFIX).secret),
            (None, _) => None,
        };
        let now = self.now_ms();
        let by = actor.to_owned();
        let (stored, stored_secret) = (request.clone(), secret.clone());
        let id = self
            .db
            .write(move |tx| {
                Box::pin(async move {
                    db::webhooks::insert(
                        tx,
                        &db::webhooks::NewWebhook {
                            name: &stored.name,
                            url: &stored.url,
                            format: stored.format,
                            events: &stored.events,
                            secret: stored_secret.as_deref(),
                            actor: &by,
                            now_ms: now,
                        },
                    )
                    .await
                })
            })
            .await
            .map_err(|e| match e {
                db::webhooks::WriteError::DuplicateName => {
                    Error::conflict(format!("a webhook named `{}` already exists", request.name))
                }
                db::webhooks::WriteError::Db(e) => Error::internal("create webhook", e),
            })?;
        // The URL may carry a token: the log names the webhook, never the URL.
        tracing::info!(webhook = %id, name = %request.name, format = %request.format,
            by = actor, "webhook created");
        Ok(CreatedWebhook {
            webhook: self.webhook(id).await?,
            secret,
        })
    }

    /// One webhook with its latest deliveries.
    pub async fn webhook(&self, id: WebhookId) -> Result<Webhook, Error> {
        let record = db::webhooks::get(self.db.pool(), id)
            .await
            .context("webhook")?
            .ok_or_else(|| no_webhook(id))?;
        self.webhook_view(record).await
    }

    /// Every webhook, by name, each with its latest deliveries.
    pub async fn webhooks(&self) -> Result<Vec<Webhook>, Error> {
        let records = db::webhooks::list(self.db.pool())
            .await
            .context("webhooks")?;
        let mut hooks = Vec::with_capacity(records.len());
        for record in records {
            hooks.push(self.webhook_view(record).await?);
        }
        Ok(hooks)
    }

    async fn webhook_view(&self, r: db::webhooks::WebhookRecord) -> Result<Webhook, Error> {
        let deliveries = db::webhooks::recent_deliveries(self.db.pool(), r.id, DELIVERIES_SHOWN)
            .await
            .context("webhook deliveries")?;
        Ok(Webhook {
            id: r.id,
            url_masked: r.url.masked(),
            name: r.name,
            format: r.format,
            events: r.events,
            has_secret: r.secret.is_some(),
            created_at_ms: r.created_at_ms,
            created_by: r.created_by,
            deliveries,
        })
    }

    /// Deletes webhook `id` and its queued deliveries.
    pub async fn delete_webhook(&self, id: WebhookId, actor: &str) -> Result<(), Error> {
        let found = self
            .db
            .write(move |tx| Box::pin(async move { db::webhooks::delete(tx, id).await }))
            .await
            .context("delete webhook")?;
        if !found {
            return Err(no_webhook(id));
        }
        tracing::info!(webhook = %id, by = actor, "webhook deleted");
        Ok(())
    }

    /// Queues a test notification for webhook `id` alone.
    pub async fn test_webhook(&self, id: WebhookId, actor: &str) -> Result<Webhook, Error> {
        let notification = Notification::new(WebhookEvent::Test, self.now());
        let found = self
            .db
            .write(move |tx| {
                Box::pin(async move { db::webhooks::enqueue_for(tx, id, &notification).await })
            })
            .await
            .context("test webhook")?;
        if !found {
            return Err(no_webhook(id));
        }
        tracing::info!(webhook = %id, by = actor, "test notification queued");
        self.webhook(id).await
    }

    /// Claims up to `limit` due deliveries for this replica to send (see
    /// `db::webhooks::claim`: at most one in flight per webhook, oldest first).
    pub async fn claim_deliveries(
        &self,
        backoff: &Backoff,
        limit: u32,
    ) -> Result<Vec<Claimed>, Error> {
        let now = self.now_ms();
        let until = now.saturating_add(ms(backoff.lease));
        self.db
            .write(move |tx| Box::pin(db::webhooks::claim(tx, now, until, limit)))
            .await
            .context("claim deliveries")
    }

    /// Records how sending `claimed` went: delivered on a 2xx answer, otherwise
    /// tried again after the backoff's wait, or given up once it has been failing for
    /// the backoff's whole period. False when the lease was lost meanwhile (another
    /// replica took the delivery over): nothing recorded.
    pub async fn record_delivery(
        &self,
        claimed: &Claimed,
        result: SendResult,
        backoff: &Backoff,
    ) -> Result<bool, Error> {
        let now = self.now();
        let (status, error) = match result {
            SendResult::Answered(s) if (200..300).contains(&s) => (Some(s), None),
            SendResult::Answered(s) => (Some(s), Some(format!("the receiver answered {s}"))),
            SendResult::NoAnswer(why) => (None, Some(why)),
        };
        let outcome = match (status, error) {
            (Some(status), None) => Attempted::Delivered { status },
            (status, error) => {
                let error = error.unwrap_or_default();
                match backoff.next_attempt(claimed.attempt, Millis::new(claimed.created_at_ms), now)
                {
                    Some(next) => Attempted::Retry {
                        status,
                        error,
                        next_at_ms: next.get(),
                    },
                    None => Attempted::Failed { status, error },
                }
            }
        };
        let (id, webhook, attempt) = (claimed.id, claimed.webhook, claimed.attempt);
        let logged = outcome.clone();
        let recorded = self
            .db
            .write(move |tx| {
                Box::pin(async move {
                    db::webhooks::record_attempt(
                        tx,
                        id,
                        webhook,
                        attempt,
                        &outcome,
                        now.get(),
                        DELIVERIES_KEPT,
                    )
                    .await
                })
            })
            .await
            .context("record delivery")?;
        match logged {
            Attempted::Delivered { .. } => {
                tracing::debug!(delivery = %id, %webhook, attempt, "webhook delivered");
            }
            Attempted::Retry { error, .. } => {
                tracing::info!(delivery = %id, %webhook, attempt, %error,
                    "webhook not delivered; trying again later");
            }
            Attempted::Failed { error, .. } => {
                tracing::warn!(delivery = %id, %webhook, attempt, %error,
                    "webhook not delivered; given up");
            }
        }
        Ok(recorded)
    }

    /// Notifies `server.offline` for every server silent for
    /// [`ServerStatus::MISSED_HEARTBEATS`] intervals, once per transition across
    /// every replica. Returns the servers this call notified.
    pub async fn notify_offline(&self) -> Result<Vec<homelab_protocol::ServerId>, Error> {
        let now = self.now_ms();
        let silent_since = now.saturating_sub(
            ServerStatus::MISSED_HEARTBEATS.saturating_mul(ms(self.heartbeat_interval)),
        );
        let flipped = self
            .db
            .write(move |tx| Box::pin(db::webhooks::mark_offline(tx, silent_since, now)))
            .await
            .context("notify offline")?;
        for server in &flipped {
            tracing::info!(server = %server, "server offline: notified");
        }
        Ok(flipped)
    }
}

fn no_webhook(id: WebhookId) -> Error {
    Error::NotFound(format!("no webhook with id {id}"))
}
