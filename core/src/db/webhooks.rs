//! The `webhooks` table and its outbox, `webhook_deliveries`: notifications are
//! queued inside the transaction of the change they tell of ([`enqueue`] and the
//! hooks below it), and sent by the delivery job ([`claim`], [`record_attempt`]).

use homelab_protocol::{
    ActionId, ActionStatus, ActionType, Delivery, DeliveryId, DeliveryStatus, FailureReason,
    Millis, Notification, NotifiedAction, NotifiedRun, PendingPackage, RunId, RunStatus, ServerId,
    WebhookEvent, WebhookFormat, WebhookId, WebhookName, WebhookUrl,
};
use sqlx::{Any, AnyPool, Transaction};

use super::DbError;

fn corrupt(what: impl std::fmt::Display) -> DbError {
    DbError::Sqlx(sqlx::Error::Decode(format!("webhooks: {what}").into()))
}

/// A webhook as stored, parsed; its secret included (the service never shows it,
/// and `Debug` leaves it out).
#[derive(Clone)]
pub struct WebhookRecord {
    pub id: WebhookId,
    pub name: WebhookName,
    pub url: WebhookUrl,
    pub format: WebhookFormat,
    pub events: Vec<WebhookEvent>,
    pub secret: Option<String>,
    pub created_at_ms: Millis,
    pub created_by: String,
}

impl std::fmt::Debug for WebhookRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookRecord")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("url", &self.url)
            .field("format", &self.format)
            .field("events", &self.events)
            .field("has_secret", &self.secret.is_some())
            .finish_non_exhaustive()
    }
}

#[derive(sqlx::FromRow)]
struct WebhookRow {
    id: i64,
    name: String,
    url: String,
    format: String,
    events: String,
    secret: Option<String>,
    created_at_ms: i64,
    created_by: String,
}

impl TryFrom<WebhookRow> for WebhookRecord {
    type Error = DbError;

    fn try_from(r: WebhookRow) -> Result<Self, DbError> {
        let events: Vec<String> = serde_json::from_str(&r.events).map_err(corrupt)?;
        Ok(WebhookRecord {
            id: WebhookId::new(r.id),
            name: WebhookName::parse(&r.name).map_err(corrupt)?,
            url: WebhookUrl::parse(&r.url).map_err(corrupt)?,
            format: r.format.parse().map_err(corrupt)?,
            events: WebhookEvent::parse_set(&events).map_err(corrupt)?,
            secret: r.secret,
            created_at_ms: Millis::new(r.created_at_ms),
            created_by: r.created_by,
        })
    }
}

const WEBHOOK_COLUMNS: &str = "id, name, url, format, events, secret, created_at_ms, created_by";

/// A webhook to store.
#[derive(Debug)]
pub struct NewWebhook<'a> {
    pub name: &'a WebhookName,
    pub url: &'a WebhookUrl,
    pub format: WebhookFormat,
    pub events: &'a [WebhookEvent],
    pub secret: Option<&'a str>,
    pub actor: &'a str,
    pub now_ms: i64,
}

/// Why a webhook could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("a webhook with this name already exists")]
    DuplicateName,
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Stores a new webhook.
pub async fn insert(
    tx: &mut Transaction<'_, Any>,
    new: &NewWebhook<'_>,
) -> Result<WebhookId, WriteError> {
    let events: Vec<&str> = new.events.iter().map(|e| e.as_str()).collect();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO webhooks (name, url, format, events, secret, created_at_ms, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(new.name.as_str())
    .bind(new.url.expose())
    .bind(new.format.as_str())
    .bind(serde_json::to_string(&events).unwrap_or_else(|_| "[]".into()))
    .bind(new.secret)
    .bind(new.now_ms)
    .bind(new.actor)
    .fetch_one(&mut **tx)
    .await
    .map_err(|e| {
        if super::is_unique_violation(&e) {
            WriteError::DuplicateName
        } else {
            WriteError::Db(e.into())
        }
    })?;
    Ok(WebhookId::new(id))
}

/// Deletes webhook `id` and its deliveries; false when there is none.
pub async fn delete(tx: &mut Transaction<'_, Any>, id: WebhookId) -> Result<bool, DbError> {
    // The webhook's row first, as `claim` takes it: deleting its deliveries first
    // would lock them in the other order than a claim under way (webhook, then its
    // delivery), and PostgreSQL would end one of the two as a deadlock.
    sqlx::query("UPDATE webhooks SET created_at_ms = created_at_ms WHERE id = $1")
        .bind(id.get())
        .execute(&mut **tx)
        .await?;
    // Explicitly, not only by the foreign key: SQLite enforces it per connection.
    sqlx::query("DELETE FROM webhook_deliveries WHERE webhook_id = $1")
        .bind(id.get())
        .execute(&mut **tx)
        .await?;
    let done = sqlx::query("DELETE FROM webhooks WHERE id = $1")
        .bind(id.get())
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Every webhook, by name.
pub async fn list(pool: &AnyPool) -> Result<Vec<WebhookRecord>, DbError> {
    let rows: Vec<WebhookRow> = sqlx::query_as(&format!(
        "SELECT {WEBHOOK_COLUMNS} FROM webhooks ORDER BY name"
    ))
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(WebhookRecord::try_from).collect()
}

/// Webhook `id`.
pub async fn get(pool: &AnyPool, id: WebhookId) -> Result<Option<WebhookRecord>, DbError> {
    let row: Option<WebhookRow> = sqlx::query_as(&format!(
        "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = $1"
    ))
    .bind(id.get())
    .fetch_optional(pool)
    .await?;
    row.map(WebhookRecord::try_from).transpose()
}

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: i64,
    event: String,
    payload: String,
    status: String,
    attempts: i64,
    next_attempt_at_ms: i64,
    last_status: Option<i64>,
    last_error: Option<String>,
    created_at_ms: i64,
    finished_at_ms: Option<i64>,
}

impl TryFrom<DeliveryRow> for Delivery {
    type Error = DbError;

    fn try_from(r: DeliveryRow) -> Result<Self, DbError> {
        let status: DeliveryStatus = r.status.parse().map_err(corrupt)?;
        let notification: Notification = serde_json::from_str(&r.payload).map_err(corrupt)?;
        Ok(Delivery {
            id: DeliveryId::new(r.id),
            event: r.event.parse().map_err(corrupt)?,
            status,
            attempts: u32::try_from(r.attempts).unwrap_or(u32::MAX),
            last_status: r.last_status.and_then(|s| u16::try_from(s).ok()),
            last_error: r.last_error,
            next_attempt_at_ms: (status == DeliveryStatus::Pending)
                .then_some(Millis::new(r.next_attempt_at_ms)),
            created_at_ms: Millis::new(r.created_at_ms),
            delivered_at_ms: (status == DeliveryStatus::Delivered)
                .then_some(r.finished_at_ms.map(Millis::new))
                .flatten(),
            summary: notification.summary(),
        })
    }
}

/// Webhook `id`'s latest `limit` deliveries, newest first.
pub async fn recent_deliveries(
    pool: &AnyPool,
    id: WebhookId,
    limit: u32,
) -> Result<Vec<Delivery>, DbError> {
    let rows: Vec<DeliveryRow> = sqlx::query_as(
        "SELECT id, event, payload, status, attempts, next_attempt_at_ms, last_status, \
         last_error, created_at_ms, finished_at_ms FROM webhook_deliveries \
         WHERE webhook_id = $1 ORDER BY id DESC LIMIT $2",
    )
    .bind(id.get())
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(Delivery::try_from).collect()
}

/// Queues `notification` for every webhook that subscribes to its event, inside the
/// caller's transaction: it is sent if and only if the change commits. One
/// statement, whatever the number of webhooks (none, usually).
pub async fn enqueue(
    tx: &mut Transaction<'_, Any>,
    notification: &Notification,
) -> Result<u64, DbError> {
    let payload = serde_json::to_string(notification).map_err(corrupt)?;
    let at = notification.at.get();
    // `events` is a JSON array of names, each quoted: the quotes keep one name from
    // matching inside another.
    let done = sqlx::query(
        "INSERT INTO webhook_deliveries (webhook_id, event, payload, status, attempts, \
         next_attempt_at_ms, created_at_ms) \
         SELECT id, $1, $2, $3, 0, $4, $4 FROM webhooks WHERE events LIKE $5",
    )
    .bind(notification.event.as_str())
    .bind(payload)
    .bind(DeliveryStatus::Pending.as_str())
    .bind(at)
    .bind(format!("%\"{}\"%", notification.event.as_str()))
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected())
}

/// Queues `notification` for webhook `id` alone, whatever it subscribes to (a test);
/// false when there is no such webhook.
pub async fn enqueue_for(
    tx: &mut Transaction<'_, Any>,
    id: WebhookId,
    notification: &Notification,
) -> Result<bool, DbError> {
    let payload = serde_json::to_string(notification).map_err(corrupt)?;
    let done = sqlx::query(
        "INSERT INTO webhook_deliveries (webhook_id, event, payload, status, attempts, \
         next_attempt_at_ms, created_at_ms) \
         SELECT id, $1, $2, $3, 0, $4, $4 FROM webhooks WHERE id = $5",
    )
    .bind(notification.event.as_str())
    .bind(payload)
    .bind(DeliveryStatus::Pending.as_str())
    .bind(notification.at.get())
    .bind(id.get())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The hook for an action whose status just changed (queued, finished, held):
/// queues `action.pending_approval`, `action.completed` or `action.failed` as its
/// status now says; other statuses notify nothing.
pub async fn action_changed(
    tx: &mut Transaction<'_, Any>,
    id: ActionId,
    now_ms: i64,
) -> Result<(), DbError> {
    let row: Option<(String, String, String, Option<String>)> =
        sqlx::query_as("SELECT server_id, action_type, status, failure FROM actions WHERE id = $1")
            .bind(id.get())
            .fetch_optional(&mut **tx)
            .await?;
    let Some((server, action_type, status, failure)) = row else {
        return Ok(());
    };
    let status: ActionStatus = status.parse().map_err(corrupt)?;
    let event = match status {
        ActionStatus::Pending => WebhookEvent::ActionPendingApproval,
        ActionStatus::Completed => WebhookEvent::ActionCompleted,
        ActionStatus::Failed => WebhookEvent::ActionFailed,
        _ => return Ok(()),
    };
    let mut notification = Notification::new(event, Millis::new(now_ms));
    notification.server = ServerId::parse(server).ok();
    notification.action = Some(NotifiedAction {
        id,
        action_type: action_type.parse::<ActionType>().map_err(corrupt)?,
        status,
        failure: failure
            .map(|f| f.parse::<FailureReason>())
            .transpose()
            .map_err(corrupt)?,
    });
    enqueue(tx, &notification).await?;
    Ok(())
}

/// The hook for a fleet run that just ended: queues `run.finished`.
pub async fn run_finished(
    tx: &mut Transaction<'_, Any>,
    id: RunId,
    now_ms: i64,
) -> Result<(), DbError> {
    let row: Option<(String, String)> =
        sqlx::query_as("SELECT action_type, status FROM runs WHERE id = $1")
            .bind(id.get())
            .fetch_optional(&mut **tx)
            .await?;
    let Some((action_type, status)) = row else {
        return Ok(());
    };
    let mut notification = Notification::new(WebhookEvent::RunFinished, Millis::new(now_ms));
    notification.run = Some(NotifiedRun {
        id,
        status: status.parse::<RunStatus>().map_err(corrupt)?,
        action_type: action_type.parse().map_err(corrupt)?,
    });
    enqueue(tx, &notification).await?;
    Ok(())
}

/// The hook for a heartbeat (not a routine one): a server last notified as offline
/// is notified as back online, once (the conditional update lets one writer win).
/// A server never notified about (a new one) is not.
pub async fn heard_from(
    tx: &mut Transaction<'_, Any>,
    server: &ServerId,
    now_ms: i64,
) -> Result<(), DbError> {
    let flipped = sqlx::query(
        "UPDATE servers SET presence_notified = 'online' \
         WHERE id = $1 AND presence_notified = 'offline'",
    )
    .bind(server.as_str())
    .execute(&mut **tx)
    .await?;
    if flipped.rows_affected() == 1 {
        let mut notification = Notification::new(WebhookEvent::ServerOnline, Millis::new(now_ms));
        notification.server = Some(server.clone());
        enqueue(tx, &notification).await?;
    }
    Ok(())
}

/// Marks the fleet's servers last heard from before `silent_since_ms` as notified
/// offline and queues `server.offline` for each one this call flipped: once per
/// transition, whichever replica gets there first (the update re-checks each row).
pub async fn mark_offline(
    tx: &mut Transaction<'_, Any>,
    silent_since_ms: i64,
    now_ms: i64,
) -> Result<Vec<ServerId>, DbError> {
    let flipped: Vec<(String,)> = sqlx::query_as(
        "UPDATE servers SET presence_notified = 'offline' \
         WHERE removed_at_ms IS NULL AND last_seen_ms IS NOT NULL AND last_seen_ms < $1 \
         AND (presence_notified IS NULL OR presence_notified <> 'offline') RETURNING id",
    )
    .bind(silent_since_ms)
    .fetch_all(&mut **tx)
    .await?;
    let mut servers = Vec::with_capacity(flipped.len());
    for (id,) in flipped {
        let Ok(server) = ServerId::parse(id) else {
            continue;
        };
        let mut notification = Notification::new(WebhookEvent::ServerOffline, Millis::new(now_ms));
        notification.server = Some(server.clone());
        enqueue(tx, &notification).await?;
        servers.push(server);
    }
    Ok(servers)
}

/// The hook for a changed package list, called before it replaces the stored one:
/// queues `server.security_updates` when `packages` holds a security update the
/// stored list did not (so once per new set, not per heartbeat).
pub async fn security_updates_seen(
    tx: &mut Transaction<'_, Any>,
    server: &ServerId,
    packages: &[PendingPackage],
    now_ms: i64,
) -> Result<(), DbError> {
    if !packages.iter().any(|p| p.is_security) {
        return Ok(());
    }
    let known: Vec<(String,)> = sqlx::query_as(
        "SELECT name FROM pending_packages WHERE server_id = $1 AND is_security = 1",
    )
    .bind(server.as_str())
    .fetch_all(&mut **tx)
    .await?;
    let known: std::collections::HashSet<String> = known.into_iter().map(|(n,)| n).collect();
    let mut new: Vec<String> = packages
        .iter()
        .filter(|p| p.is_security && !known.contains(p.name.as_str()))
        .map(|p| p.name.to_string())
        .collect();
    if new.is_empty() {
        return Ok(());
    }
    new.sort();
    let mut notification =
        Notification::new(WebhookEvent::ServerSecurityUpdates, Millis::new(now_ms));
    notification.server = Some(server.clone());
    notification.packages = new;
    enqueue(tx, &notification).await?;
    Ok(())
}

/// A delivery handed to this replica to send (`Debug` leaves the secret out).
#[derive(Clone)]
pub struct Claimed {
    pub id: DeliveryId,
    pub webhook: WebhookId,
    /// This attempt's number (1 for the first): the lease's token.
    pub attempt: u32,
    pub url: WebhookUrl,
    pub format: WebhookFormat,
    pub secret: Option<String>,
    pub notification: Notification,
    pub created_at_ms: i64,
}

impl std::fmt::Debug for Claimed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claimed")
            .field("id", &self.id)
            .field("webhook", &self.webhook)
            .field("attempt", &self.attempt)
            .field("url", &self.url)
            .field("format", &self.format)
            .field("event", &self.notification.event)
            .finish_non_exhaustive()
    }
}

/// Claims up to `limit` due deliveries, each under a lease until `lease_until_ms`:
/// for each webhook only its oldest unfinished delivery, and only while no other
/// delivery of it is in flight. The webhook's row is locked first (a no-op update),
/// so replicas claiming for one webhook take turns, and the check that nothing of
/// it is in flight reads what the other committed.
pub async fn claim(
    tx: &mut Transaction<'_, Any>,
    now_ms: i64,
    lease_until_ms: i64,
    limit: u32,
) -> Result<Vec<Claimed>, DbError> {
    let due: Vec<(i64,)> = sqlx::query_as(
        "SELECT DISTINCT webhook_id FROM webhook_deliveries \
         WHERE (status = 'pending' AND next_attempt_at_ms <= $1) \
         OR (status = 'in_flight' AND lease_until_ms < $1) \
         ORDER BY webhook_id LIMIT $2",
    )
    .bind(now_ms)
    .bind(i64::from(limit))
    .fetch_all(&mut **tx)
    .await?;
    let mut claimed = Vec::new();
    for (webhook,) in due {
        // A column no key holds: the lock does not stop deliveries being queued
        // for the webhook meanwhile (their foreign key only shares the key).
        let locked = sqlx::query("UPDATE webhooks SET created_at_ms = created_at_ms WHERE id = $1")
            .bind(webhook)
            .execute(&mut **tx)
            .await?;
        if locked.rows_affected() == 0 {
            continue;
        }
        // The oldest unfinished delivery, if it may be sent now; none while another
        // is in flight under a live lease.
        let next: Option<(i64,)> = sqlx::query_as(
            "SELECT id FROM webhook_deliveries d WHERE webhook_id = $1 \
             AND status IN ('pending', 'in_flight') \
             AND ((status = 'pending' AND next_attempt_at_ms <= $2) \
                  OR (status = 'in_flight' AND lease_until_ms < $2)) \
             AND NOT EXISTS (SELECT 1 FROM webhook_deliveries o WHERE o.webhook_id = $1 \
                 AND o.status IN ('pending', 'in_flight') AND o.id < d.id) \
             AND NOT EXISTS (SELECT 1 FROM webhook_deliveries f WHERE f.webhook_id = $1 \
                 AND f.status = 'in_flight' AND f.lease_until_ms >= $2 AND f.id <> d.id)",
        )
        .bind(webhook)
        .bind(now_ms)
        .fetch_optional(&mut **tx)
        .await?;
        let Some((id,)) = next else { continue };
        let row: Option<(i64, String, i64)> = sqlx::query_as(
            "UPDATE webhook_deliveries SET status = 'in_flight', attempts = attempts + 1, \
             lease_until_ms = $2 WHERE id = $1 RETURNING attempts, payload, created_at_ms",
        )
        .bind(id)
        .bind(lease_until_ms)
        .fetch_optional(&mut **tx)
        .await?;
        let Some((attempts, payload, created_at_ms)) = row else {
            continue;
        };
        let hook: WebhookRow = sqlx::query_as(&format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = $1"
        ))
        .bind(webhook)
        .fetch_one(&mut **tx)
        .await?;
        let hook = WebhookRecord::try_from(hook)?;
        claimed.push(Claimed {
            id: DeliveryId::new(id),
            webhook: hook.id,
            attempt: u32::try_from(attempts).unwrap_or(u32::MAX),
            url: hook.url,
            format: hook.format,
            secret: hook.secret,
            notification: serde_json::from_str(&payload).map_err(corrupt)?,
            created_at_ms,
        });
    }
    Ok(claimed)
}

/// What became of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempted {
    /// Delivered (a 2xx answer).
    Delivered { status: u16 },
    /// Not delivered; tried again at `next_at_ms`.
    Retry {
        status: Option<u16>,
        error: String,
        next_at_ms: i64,
    },
    /// Not delivered, and given up on.
    Failed { status: Option<u16>, error: String },
}

/// Records attempt `attempt` of delivery `id`, unless its lease was lost (another
/// replica claimed it again meanwhile): then nothing changes and false is returned.
/// Afterwards only the latest `keep` finished deliveries of its webhook are kept.
pub async fn record_attempt(
    tx: &mut Transaction<'_, Any>,
    id: DeliveryId,
    webhook: WebhookId,
    attempt: u32,
    outcome: &Attempted,
    now_ms: i64,
    keep: u32,
) -> Result<bool, DbError> {
    let (status, last_status, last_error, next_at, finished) = match outcome {
        Attempted::Delivered { status } => (
            DeliveryStatus::Delivered,
            Some(*status),
            None,
            None,
            Some(now_ms),
        ),
        Attempted::Retry {
            status,
            error,
            next_at_ms,
        } => (
            DeliveryStatus::Pending,
            *status,
            Some(error.as_str()),
            Some(*next_at_ms),
            None,
        ),
        Attempted::Failed { status, error } => (
            DeliveryStatus::Failed,
            *status,
            Some(error.as_str()),
            None,
            Some(now_ms),
        ),
    };
    let done = sqlx::query(
        "UPDATE webhook_deliveries SET status = $3, last_status = $4, last_error = $5, \
         next_attempt_at_ms = COALESCE($6, next_attempt_at_ms), finished_at_ms = $7, \
         lease_until_ms = NULL \
         WHERE id = $1 AND attempts = $2 AND status = 'in_flight'",
    )
    .bind(id.get())
    .bind(i64::from(attempt))
    .bind(status.as_str())
    .bind(last_status.map(i64::from))
    .bind(last_error)
    .bind(next_at)
    .bind(finished)
    .execute(&mut **tx)
    .await?;
    if finished.is_some() {
        sqlx::query(
            "DELETE FROM webhook_deliveries WHERE webhook_id = $1 \
             AND status IN ('delivered', 'failed') AND id NOT IN ( \
                 SELECT id FROM webhook_deliveries WHERE webhook_id = $1 \
                 AND status IN ('delivered', 'failed') ORDER BY id DESC LIMIT $2)",
        )
        .bind(webhook.get())
        .bind(i64::from(keep))
        .execute(&mut **tx)
        .await?;
    }
    Ok(done.rows_affected() == 1)
}
