//! The service layer: the one place where the dashboard's server functions, the JSON
//! API, the agent API and the command line turn requests into database work. It
//! speaks [`Error`]; a database fault leaves as `Internal` with what we were doing,
//! for the caller's edge to log once.

mod accounts;
mod actions;
#[cfg(test)]
mod cancellation_tests;
mod dispatch;
mod fanout;
mod inventory;
mod live;
#[cfg(test)]
mod preview_tests;
mod previews;
#[cfg(test)]
mod reboot_tests;
mod runs;
#[cfg(test)]
mod runs_tests;
#[cfg(test)]
mod schedule_tests;
mod schedules;
/// Fixtures for tests and benches (feature `testing`).
#[cfg(any(test, feature = "testing"))]
pub mod testing;
#[cfg(test)]
mod webhook_tests;
mod webhooks;

use std::time::Duration;

use homelab_protocol::{AddedServer, Millis, ServerId, ServerName, ServerStatus, ServerSummary};

use crate::clock::{Clock, SystemClock};
use crate::db::{self, Database, DbError};
use crate::tokens;
use crate::{Error, ResultExt as _};

pub use accounts::{LoginError, SESSION_LIFETIME};
pub use actions::{
    Created, DispatchError, LEASE_GRACE, MAX_PAGE, MAX_REASON_CHARS, PREVIEW_RESEND,
};
pub use dispatch::Dispatcher;
pub use inventory::AgentError;
pub use live::{LiveReceiver, Presence};
pub use runs::{Firing, MAX_RUNS_LISTED, RunRequest};
pub use schedules::{Fired, ScheduleDraft, ScheduleRequest};
pub use webhooks::{
    Backoff, DELIVERIES_KEPT, SendResult, WEBHOOK_SECRET_PREFIX, WebhookDraft, WebhookRequest,
};

/// The prefix of agent tokens.
pub const AGENT_TOKEN_PREFIX: &str = "hca_";

/// The service layer over one database.
#[derive(Clone, Debug)]
pub struct Service {
    db: Database,
    heartbeat_interval: Duration,
    dispatcher: std::sync::Arc<Dispatcher>,
    login_throttle: std::sync::Arc<accounts::LoginThrottle>,
    timeouts: std::sync::Arc<homelab_protocol::Timeouts>,
    clock: std::sync::Arc<dyn Clock>,
    live: std::sync::Arc<live::LiveHub>,
    /// This process, in the notes replicas send each other.
    origin: u64,
}

impl Service {
    /// A service over `db`, judging agents online by `heartbeat_interval`.
    pub fn new(db: Database, heartbeat_interval: Duration) -> Self {
        Service {
            db,
            heartbeat_interval,
            dispatcher: std::sync::Arc::default(),
            login_throttle: std::sync::Arc::default(),
            timeouts: std::sync::Arc::default(),
            clock: std::sync::Arc::new(SystemClock),
            live: std::sync::Arc::default(),
            origin: rand::random(),
        }
    }

    /// Tells the time by `clock` instead of the system's (tests move it by hand).
    pub fn with_clock(mut self, clock: std::sync::Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Now, by the service's clock.
    fn now(&self) -> Millis {
        self.clock.now()
    }

    /// Now, by the service's clock, in Unix milliseconds (as the database stores it).
    fn now_ms(&self) -> i64 {
        self.now().get()
    }

    /// Replaces the design's default time limits where `timeouts` says so.
    pub fn with_timeouts(mut self, timeouts: homelab_protocol::Timeouts) -> Self {
        self.timeouts = std::sync::Arc::new(timeouts);
        self
    }

    /// Stops serving long-polls: those waiting answer "nothing" at once, so a
    /// shutdown does not wait out their 25 seconds.
    pub fn stop_long_polls(&self) {
        self.dispatcher.close();
    }

    /// Turns true when the server starts shutting down ([`Service::stop_long_polls`]):
    /// long-lived answers (live streams) end.
    pub fn stopping(&self) -> tokio::sync::watch::Receiver<bool> {
        self.dispatcher.closed()
    }

    /// How many actions the history holds, by kind, status and failure reason.
    pub async fn action_counts(&self) -> Result<Vec<db::actions::ActionCount>, Error> {
        db::actions::counts(self.db.pool())
            .await
            .context("count actions")
    }

    /// The database pool's open connections and how many of them are idle.
    pub fn pool_use(&self) -> (u32, usize) {
        (self.db.pool().size(), self.db.pool().num_idle())
    }

    /// The interval agents are told to report at.
    pub fn heartbeat_interval(&self) -> Duration {
        self.heartbeat_interval
    }

    /// A status for a machine last heard from at `last_seen_ms`.
    fn status(&self, last_seen: Option<Millis>) -> ServerStatus {
        let interval_ms = i64::try_from(self.heartbeat_interval.as_millis()).unwrap_or(i64::MAX);
        ServerStatus::derive(last_seen, self.now(), interval_ms)
    }

    /// Every server with its derived status and update counts, ordered by name.
    pub async fn list_servers(&self) -> Result<Vec<ServerSummary>, Error> {
        let records = db::servers::list(&self.db).await.context("list servers")?;
        let pending = db::actions::pending_counts(self.db.pool())
            .await
            .context("list servers")?;
        let mut tags = db::tags::all(&self.db).await.context("list servers")?;
        Ok(records
            .into_iter()
            .map(|r| {
                let awaiting = pending.get(r.id.as_str()).copied().unwrap_or(0);
                let tags = tags.remove(&r.id).unwrap_or_default();
                self.summary(&r, awaiting, tags)
            })
            .collect())
    }

    /// The ids of the fleet's servers, in order: one small query, for filters (the
    /// whole fleet with its counts costs a page with a thousand servers ~76 ms).
    pub async fn server_ids(&self) -> Result<Vec<ServerId>, Error> {
        db::servers::ids(self.db.pool()).await.context("server ids")
    }

    /// A server's fleet-table row from its record and counts.
    fn summary(
        &self,
        r: &db::servers::ServerRecord,
        awaiting_approval: u32,
        tags: Vec<homelab_protocol::Tag>,
    ) -> ServerSummary {
        ServerSummary {
            status: self.status(r.last_seen_ms),
            id: r.id.clone(),
            name: r.name.clone(),
            last_seen_ms: r.last_seen_ms,
            updates: r.updates.total,
            security_updates: r.updates.security,
            paused: r.paused,
            paused_at_ms: r.paused_at_ms,
            approval_policy: r.approval_policy,
            reboot_required: r.reboot_required,
            awaiting_approval,
            tags,
        }
    }

    /// Adds a server and mints its agent token.
    pub async fn add_server(&self, id: ServerId, name: ServerName) -> Result<AddedServer, Error> {
        let token = tokens::mint(AGENT_TOKEN_PREFIX);
        let (new_id, hash, now) = (id.clone(), token.hash.clone(), self.now_ms());
        let inserted = self
            .db
            .write(move |tx| {
                Box::pin(async move {
                    Ok::<_, DbError>(db::servers::insert(tx, &new_id, &name, &hash, now).await)
                })
            })
            .await
            .context("add server")?;
        match inserted {
            Ok(()) => {
                tracing::info!(server = %id, "server added");
                self.publish(homelab_protocol::LiveEvent::Server { server: id.clone() });
                Ok(AddedServer {
                    id,
                    agent_token: token.secret,
                })
            }
            Err(db::servers::InsertError::DuplicateId(id)) => Err(Error::conflict(format!(
                "a server with id `{id}` already exists"
            ))),
            Err(db::servers::InsertError::Db(e)) => Err(Error::internal("add server", e)),
        }
    }
}

impl Service {
    /// Gives the server a new agent token and returns it (shown once): the old token
    /// stops working at once.
    pub async fn rotate_agent_token(
        &self,
        id: &ServerId,
        actor: &str,
    ) -> Result<AddedServer, Error> {
        let token = tokens::mint(AGENT_TOKEN_PREFIX);
        let (server, hash) = (id.clone(), token.hash.clone());
        let found = self
            .db
            .write(move |tx| {
                Box::pin(async move { db::servers::set_token_hash(tx, &server, &hash).await })
            })
            .await?;
        if !found {
            return Err(Error::NotFound(format!("no server with id `{id}`")));
        }
        tracing::warn!(server = %id, by = actor, "agent token rotated");
        Ok(AddedServer {
            id: id.clone(),
            agent_token: token.secret,
        })
    }

    /// Removes a server from the fleet: its agent is refused from now on, its pending
    /// packages are forgotten and its waiting actions cancelled; its history stays.
    /// An action already running is left to finish or run out of lease.
    pub async fn remove_server(&self, id: &ServerId, actor: &str) -> Result<(), Error> {
        let (server, by) = (id.clone(), actor.to_owned());
        let now = self.now_ms();
        let cancelled = self
            .db
            .write(move |tx| {
                Box::pin(async move {
                    if !db::servers::remove(tx, &server, &by, now).await? {
                        return Ok(None);
                    }
                    db::packages::clear(tx, &server).await?;
                    let cancelled = db::actions::cancel_waiting(tx, &server, &by, now).await?;
                    Ok::<_, DbError>(Some(cancelled))
                })
            })
            .await?
            .ok_or_else(|| Error::NotFound(format!("no server with id `{id}`")))?;
        tracing::warn!(server = %id, by = actor, cancelled, "server removed");
        // A long-polling agent of this server has nothing left to claim.
        self.wake(id);
        self.publish(homelab_protocol::LiveEvent::Server { server: id.clone() });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing::fresh_db;

    #[tokio::test]
    async fn a_new_server_is_listed_as_never_seen_and_its_token_is_not_stored() {
        let (db, _dir) = fresh_db().await;
        let service = Service::new(db.clone(), Duration::from_secs(60));
        let added = service
            .add_server(
                ServerId::parse("nas").unwrap(),
                ServerName::parse("NAS").unwrap(),
            )
            .await
            .unwrap();
        assert!(added.agent_token.starts_with(AGENT_TOKEN_PREFIX));

        let listed = service.list_servers().await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].status, ServerStatus::Unknown);

        let stored: Vec<(String,)> = sqlx::query_as("SELECT agent_token_hash FROM servers")
            .fetch_all(db.pool())
            .await
            .unwrap();
        assert_eq!(stored, [(tokens::hash(&added.agent_token),)]);
    }

    #[tokio::test]
    async fn adding_an_existing_id_is_a_conflict() {
        let (db, _dir) = fresh_db().await;
        let service = Service::new(db, Duration::from_secs(60));
        let id = ServerId::parse("nas").unwrap();
        let name = ServerName::parse("NAS").unwrap();
        service.add_server(id.clone(), name.clone()).await.unwrap();
        let err = service.add_server(id, name).await.unwrap_err();
        assert!(
            matches!(err, Error::Conflict { ref message, .. } if message.contains("nas")),
            "{err:?}"
        );
    }
}
