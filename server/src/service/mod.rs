//! The service layer: the one place where the dashboard's server functions and the
//! JSON API turn requests into database work. It speaks [`AppError`]; database
//! faults are logged here with their cause chain and leave as `Internal`.

mod accounts;
mod actions;
#[cfg(test)]
mod cancellation_tests;
mod dispatch;
mod inventory;
#[cfg(test)]
mod testing;

use std::time::Duration;

use homelab_app::api::ssr::{Backend, BoxFuture};
use homelab_app::domain::{
    AddedServer, AppError, ServerDetail, ServerId, ServerName, ServerStatus, ServerSummary,
};

use crate::db::{self, Database, DbError};
use crate::tokens;

pub use accounts::{LoginError, SESSION_LIFETIME};
pub use actions::{DispatchError, LEASE_GRACE, MAX_PAGE, MAX_REASON_CHARS};
pub use dispatch::Dispatcher;
pub use inventory::AgentError;

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
        }
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

    /// The interval agents are told to report at.
    pub fn heartbeat_interval(&self) -> Duration {
        self.heartbeat_interval
    }

    /// A status for a machine last heard from at `last_seen_ms`.
    fn status(&self, last_seen_ms: Option<i64>) -> ServerStatus {
        let interval_ms = i64::try_from(self.heartbeat_interval.as_millis()).unwrap_or(i64::MAX);
        ServerStatus::derive(last_seen_ms, db::now_ms(), interval_ms)
    }

    /// Every server with its derived status and update counts, ordered by name.
    pub async fn list_servers(&self) -> Result<Vec<ServerSummary>, AppError> {
        let records = db::servers::list(self.db.pool()).await.map_err(internal)?;
        let counts = db::packages::counts(self.db.pool())
            .await
            .map_err(internal)?;
        let pending = db::actions::pending_counts(self.db.pool())
            .await
            .map_err(internal)?;
        Ok(records
            .into_iter()
            .map(|r| {
                let updates = counts.get(r.id.as_str()).copied().unwrap_or((0, 0));
                let awaiting = pending.get(r.id.as_str()).copied().unwrap_or(0);
                self.summary(&r, updates, awaiting)
            })
            .collect())
    }

    /// A server's fleet-table row from its record and counts.
    fn summary(
        &self,
        r: &db::servers::ServerRecord,
        (updates, security_updates): (u32, u32),
        awaiting_approval: u32,
    ) -> ServerSummary {
        ServerSummary {
            status: self.status(r.last_seen_ms),
            id: r.id.clone(),
            name: r.name.clone(),
            last_seen_ms: r.last_seen_ms,
            updates,
            security_updates,
            paused: r.paused,
            paused_at_ms: r.paused_at_ms,
            approval_policy: r.approval_policy,
            reboot_required: r.reboot_required,
            awaiting_approval,
        }
    }

    /// Adds a server and mints its agent token.
    pub async fn add_server(
        &self,
        id: ServerId,
        name: ServerName,
    ) -> Result<AddedServer, AppError> {
        let token = tokens::mint(AGENT_TOKEN_PREFIX);
        let (new_id, hash) = (id.clone(), token.hash.clone());
        let inserted = self
            .db
            .write(move |tx| {
                Box::pin(async move { Ok(db::servers::insert(tx, &new_id, &name, &hash).await) })
            })
            .await
            .map_err(internal)?;
        match inserted {
            Ok(()) => {
                tracing::info!(server = %id, "server added");
                Ok(AddedServer {
                    id,
                    agent_token: token.secret,
                })
            }
            Err(db::servers::InsertError::DuplicateId(id)) => Err(AppError::conflict(format!(
                "a server with id `{id}` already exists"
            ))),
            Err(db::servers::InsertError::Db(e)) => Err(internal(e)),
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
    ) -> Result<AddedServer, AppError> {
        let token = tokens::mint(AGENT_TOKEN_PREFIX);
        let (server, hash) = (id.clone(), token.hash.clone());
        let found = self
            .db
            .write(move |tx| {
                Box::pin(async move { db::servers::set_token_hash(tx, &server, &hash).await })
            })
            .await?;
        if !found {
            return Err(AppError::NotFound(format!("no server with id `{id}`")));
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
    pub async fn remove_server(&self, id: &ServerId, actor: &str) -> Result<(), AppError> {
        let (server, by) = (id.clone(), actor.to_owned());
        let cancelled = self
            .db
            .write(move |tx| {
                Box::pin(async move {
                    let now = db::now_ms();
                    if !db::servers::remove(tx, &server, &by, now).await? {
                        return Ok(None);
                    }
                    db::packages::clear(tx, &server).await?;
                    let cancelled = db::actions::cancel_waiting(tx, &server, &by, now).await?;
                    Ok::<_, DbError>(Some(cancelled))
                })
            })
            .await?
            .ok_or_else(|| AppError::NotFound(format!("no server with id `{id}`")))?;
        tracing::warn!(server = %id, by = actor, cancelled, "server removed");
        // A long-polling agent of this server has nothing left to claim.
        self.dispatcher.ring(id);
        Ok(())
    }
}

/// Logs a database fault with its cause chain; the caller sees only "internal error".
pub(crate) fn internal(err: DbError) -> AppError {
    tracing::error!(error = ?anyhow::Error::from(err), "database error");
    AppError::Internal
}

impl From<DbError> for AppError {
    fn from(err: DbError) -> Self {
        internal(err)
    }
}

impl Backend for Service {
    fn list_servers(&self) -> BoxFuture<'_, Result<Vec<ServerSummary>, AppError>> {
        Box::pin(Service::list_servers(self))
    }

    fn add_server(
        &self,
        id: ServerId,
        name: ServerName,
    ) -> BoxFuture<'_, Result<AddedServer, AppError>> {
        Box::pin(Service::add_server(self, id, name))
    }

    fn server_detail(&self, id: ServerId) -> BoxFuture<'_, Result<ServerDetail, AppError>> {
        Box::pin(async move { Service::server_detail(self, &id).await })
    }

    fn create_action(
        &self,
        server: ServerId,
        spec: homelab_protocol::ActionSpec,
        actor: String,
    ) -> BoxFuture<'_, Result<homelab_protocol::Action, AppError>> {
        Box::pin(async move { Service::create_action(self, &server, spec, &actor).await })
    }

    fn approve_action(
        &self,
        id: i64,
        actor: String,
    ) -> BoxFuture<'_, Result<homelab_protocol::Action, AppError>> {
        Box::pin(async move { Service::approve(self, id, &actor).await })
    }

    fn reject_action(
        &self,
        id: i64,
        actor: String,
        reason: String,
    ) -> BoxFuture<'_, Result<homelab_protocol::Action, AppError>> {
        Box::pin(async move { Service::reject(self, id, &actor, &reason).await })
    }

    fn cancel_action(
        &self,
        id: i64,
        actor: String,
    ) -> BoxFuture<'_, Result<homelab_protocol::Action, AppError>> {
        Box::pin(async move { Service::cancel(self, id, &actor).await })
    }

    fn action(&self, id: i64) -> BoxFuture<'_, Result<homelab_protocol::Action, AppError>> {
        Box::pin(Service::action(self, id))
    }

    fn apt_in_flight(
        &self,
        server: ServerId,
    ) -> BoxFuture<'_, Result<Option<homelab_protocol::Action>, AppError>> {
        Box::pin(async move { Service::apt_in_flight(self, &server).await })
    }

    fn set_paused(
        &self,
        server: ServerId,
        paused: bool,
        actor: String,
    ) -> BoxFuture<'_, Result<(), AppError>> {
        Box::pin(async move { Service::set_paused(self, &server, paused, &actor).await })
    }

    fn set_policy(
        &self,
        server: ServerId,
        policy: homelab_protocol::ApprovalPolicy,
        actor: String,
    ) -> BoxFuture<'_, Result<(), AppError>> {
        Box::pin(async move { Service::set_policy(self, &server, policy, &actor).await })
    }

    fn history(
        &self,
        filter: homelab_protocol::HistoryFilter,
        cursor: Option<String>,
        limit: u32,
    ) -> BoxFuture<'_, Result<homelab_protocol::ActionPage, AppError>> {
        Box::pin(async move { Service::history(self, &filter, cursor.as_deref(), limit).await })
    }

    fn rotate_agent_token(
        &self,
        server: ServerId,
        actor: String,
    ) -> BoxFuture<'_, Result<AddedServer, AppError>> {
        Box::pin(async move { Service::rotate_agent_token(self, &server, &actor).await })
    }

    fn remove_server(
        &self,
        server: ServerId,
        actor: String,
    ) -> BoxFuture<'_, Result<(), AppError>> {
        Box::pin(async move { Service::remove_server(self, &server, &actor).await })
    }

    fn list_api_tokens(
        &self,
    ) -> BoxFuture<'_, Result<Vec<homelab_protocol::ApiTokenInfo>, AppError>> {
        Box::pin(Service::list_api_tokens(self))
    }

    fn create_api_token(&self, name: String) -> BoxFuture<'_, Result<String, AppError>> {
        Box::pin(async move { Service::create_api_token(self, &name).await })
    }

    fn revoke_api_token(&self, name: String, actor: String) -> BoxFuture<'_, Result<(), AppError>> {
        Box::pin(async move { Service::revoke_api_token(self, &name, &actor).await })
    }

    fn change_password(
        &self,
        user: String,
        current: String,
        new: String,
        keep_session: Option<String>,
    ) -> BoxFuture<'_, Result<(), AppError>> {
        Box::pin(async move {
            Service::change_password(self, &user, &current, &new, keep_session.as_deref()).await
        })
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
            matches!(err, AppError::Conflict { ref message, .. } if message.contains("nas")),
            "{err:?}"
        );
    }
}
