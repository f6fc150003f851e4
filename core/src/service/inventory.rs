//! What agents report (heartbeats) and what the dashboard reads of it.

use homelab_protocol::ServerId;

use crate::Error;
use homelab_protocol::{
    Heartbeat, HeartbeatAck, LiveEvent, Millis, PackageList, ServerDetail, ServerStatus,
};
use sha2::{Digest, Sha256};

use super::Service;
use crate::ResultExt as _;
use crate::db::{self, DbError};
use crate::tokens;

/// Why a heartbeat was refused.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// No token, or one that names no server.
    #[error("missing or unknown agent token")]
    Unauthorized,
    /// A value no machine can have.
    #[error(transparent)]
    Invalid(#[from] homelab_protocol::HeartbeatError),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl Service {
    /// Stores a heartbeat from the agent holding `token`, in one transaction. A package
    /// list identical to the stored one writes no package rows.
    pub async fn heartbeat(&self, token: &str, hb: Heartbeat) -> Result<HeartbeatAck, AgentError> {
        hb.validate()?;
        let token_hash = tokens::hash(token);
        let now = self.now_ms();
        let interval_ms = i64::try_from(self.heartbeat_interval.as_millis()).unwrap_or(i64::MAX);
        let (server, news, back) = self
            .db
            .write(move |tx| {
                Box::pin(async move {
                    let digest = hb.packages.as_deref().map(package_digest);
                    // Most heartbeats change nothing a page shows: one statement.
                    let online_since = now.saturating_sub(
                        ServerStatus::MISSED_HEARTBEATS.saturating_mul(interval_ms),
                    );
                    if let Some(server) = db::servers::record_routine_heartbeat(
                        tx,
                        &token_hash,
                        &hb,
                        digest.as_deref(),
                        now,
                        online_since,
                    )
                    .await?
                    {
                        return Ok::<_, AgentError>((server, false, Vec::new()));
                    }
                    // Read under the row's lock: what the last heartbeat before
                    // this one left.
                    let holder = db::servers::lock_by_token_hash(tx, &token_hash)
                        .await?
                        .ok_or(AgentError::Unauthorized)?;
                    let server = holder.id;
                    // A heartbeat that arrived before the one stored (its write was
                    // overtaken: its client went away, its agent timed out and sent
                    // the next) is older news: it changes nothing.
                    if holder.last_seen_ms.is_some_and(|seen| seen > now) {
                        tracing::debug!(server = %server, "heartbeat overtaken by a newer one; ignored");
                        return Ok::<_, AgentError>((server, false, Vec::new()));
                    }
                    db::webhooks::heard_from(tx, &server, now).await?;
                    let mut news = holder.last_seen_ms.is_none_or(|seen| {
                        ServerStatus::derive(Some(Millis::new(seen)), Millis::new(now), interval_ms)
                            != ServerStatus::Online
                    });
                    let mut counts = None;
                    if let (Some(packages), Some(digest)) = (&hb.packages, &digest)
                        && holder.packages_digest.as_deref() != Some(digest.as_str())
                    {
                        db::webhooks::security_updates_seen(tx, &server, packages, now).await?;
                        db::packages::replace(tx, &server, packages, now).await?;
                        tracing::info!(server = %server, pending = packages.len(),
                            "package list changed");
                        counts = Some(homelab_protocol::UpdateCounts::of(packages));
                        news = true;
                    }
                    let packages = digest.as_deref().map(|d| (d, counts));
                    db::servers::record_heartbeat(tx, &server, &hb, packages, now).await?;
                    let back = match &hb.boot_id {
                        Some(boot_id) => came_back(tx, &server, boot_id, now).await?,
                        None => Vec::new(),
                    };
                    news |= !back.is_empty();
                    Ok::<_, AgentError>((server, news, back))
                })
            })
            .await?;
        for id in back {
            tracing::info!(action = %id, server = %server, "reboot completed: the machine reports a new boot");
            self.publish(LiveEvent::Action {
                id,
                server: server.clone(),
            });
        }
        // Open pages hear of a machine that came (back) online or whose packages
        // changed; a routine heartbeat only moves "last seen", which pages tick
        // themselves.
        if news {
            self.publish(LiveEvent::Server { server });
        }
        Ok(HeartbeatAck {
            heartbeat_interval_s: u32::try_from(self.heartbeat_interval.as_secs())
                .unwrap_or(u32::MAX),
        })
    }

    /// Everything the server page shows.
    pub async fn server_detail(&self, id: &ServerId) -> Result<ServerDetail, Error> {
        let record = db::servers::get(self.db.pool(), id)
            .await
            .context("server detail")?
            .ok_or_else(|| Error::NotFound(format!("no server with id `{id}`")))?;
        let packages = self.packages(id).await?;
        let awaiting = db::actions::pending_counts(self.db.pool())
            .await
            .context("server detail")?
            .get(id.as_str())
            .copied()
            .unwrap_or(0);
        let tags = db::tags::of(self.db.pool(), id)
            .await
            .context("server detail")?;
        Ok(ServerDetail {
            summary: self.summary(&record, awaiting, tags),
            hostname: record.hostname,
            os: record.os,
            agent_version: record.agent_version,
            metrics: record.metrics,
            reboot_required_pkgs: record.reboot_required_pkgs,
            packages_seen_at_ms: record.packages_seen_at_ms,
            packages,
        })
    }

    /// Switches maintenance mode: while paused, every new action waits for a person.
    pub async fn set_paused(&self, id: &ServerId, paused: bool, actor: &str) -> Result<(), Error> {
        let (server, now) = (id.clone(), self.now_ms());
        let found = self
            .db
            .write(move |tx| {
                Box::pin(async move { db::servers::set_paused(tx, &server, paused, now).await })
            })
            .await
            .context("set paused")?;
        if !found {
            return Err(Error::NotFound(format!("no server with id `{id}`")));
        }
        tracing::info!(server = %id, paused, by = actor, "maintenance mode");
        self.publish(LiveEvent::Server { server: id.clone() });
        Ok(())
    }

    /// Sets whether every action on the server waits for a person.
    pub async fn set_policy(
        &self,
        id: &ServerId,
        policy: homelab_protocol::ApprovalPolicy,
        actor: &str,
    ) -> Result<(), Error> {
        let server = id.clone();
        let found = self
            .db
            .write(move |tx| {
                Box::pin(async move { db::servers::set_policy(tx, &server, policy).await })
            })
            .await
            .context("set policy")?;
        if !found {
            return Err(Error::NotFound(format!("no server with id `{id}`")));
        }
        tracing::info!(server = %id, policy = policy.as_str(), by = actor, "approval policy");
        self.publish(LiveEvent::Server { server: id.clone() });
        Ok(())
    }

    /// The server's pending packages with their counts.
    pub async fn packages(&self, id: &ServerId) -> Result<PackageList, Error> {
        let stored = db::packages::list(self.db.pool(), id)
            .await
            .context("packages")?;
        Ok(PackageList::new(
            stored.into_iter().map(|s| s.package).collect(),
        ))
    }

    /// The first-seen times of the server's pending packages, by name (for tests and
    /// the package table).
    pub async fn package_first_seen(&self, id: &ServerId) -> Result<Vec<(String, i64)>, Error> {
        let stored = db::packages::list(self.db.pool(), id)
            .await
            .context("package first seen")?;
        Ok(stored
            .into_iter()
            .map(|s| (s.package.name.to_string(), s.first_seen_ms))
            .collect())
    }
}

/// A digest of a package list that does not depend on the order the agent sent it in.
fn package_digest(packages: &[homelab_protocol::PendingPackage]) -> String {
    let mut sorted: Vec<_> = packages.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    // Serializing plain data cannot fail; an empty digest would only cost a rewrite.
    let bytes = serde_json::to_vec(&sorted).unwrap_or_default();
    hex::encode(Sha256::digest(bytes))
}

/// Completes the server's executing reboots that `boot_id`, the boot its agent
/// reports from now, ends (they left another boot), and returns their ids.
async fn came_back(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    server: &ServerId,
    boot_id: &homelab_protocol::BootId,
    now: i64,
) -> Result<Vec<homelab_protocol::ActionId>, DbError> {
    let mut back = Vec::new();
    for reboot in db::actions::rebooted(tx, server, boot_id.as_str()).await? {
        let after = reboot
            .started_at_ms
            .map(|started| {
                format!(
                    ", {} s after the reboot started",
                    (now - started).max(0) / 1000
                )
            })
            .unwrap_or_default();
        let outcome = db::actions::Outcome {
            status: homelab_protocol::ActionStatus::Completed,
            exit_code: Some(0),
            failure: None,
            stdout: format!(
                "The machine came back: its agent reports boot {boot_id}, after boot {}{after}.\n",
                reboot.boot_id_before
            ),
            stderr: String::new(),
            started_at_ms: None,
            finished_at_ms: now,
            reported_at_ms: now,
        };
        if db::actions::finish(tx, reboot.id, &outcome, false).await? {
            db::webhooks::action_changed(tx, reboot.id, now).await?;
            back.push(reboot.id);
        }
    }
    Ok(back)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use homelab_protocol::ServerName;

    use super::*;
    use crate::db::testing::fresh_db;

    use super::super::testing::{clocked_nas, heartbeat, package};

    /// Where each row is stored: SQLite's rowid, PostgreSQL's ctid, both of which
    /// change when a row is written again.
    async fn rowids(db: &crate::db::Database) -> Vec<String> {
        let column = match db.backend() {
            crate::db::Backend::Sqlite => "CAST(rowid AS TEXT)",
            crate::db::Backend::Postgres => "CAST(ctid AS TEXT)",
        };
        sqlx::query_scalar(&format!(
            "SELECT {column} FROM pending_packages ORDER BY name"
        ))
        .fetch_all(db.pool())
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn an_unchanged_package_list_writes_no_package_rows() {
        let (db, _dir) = fresh_db().await;
        let service = Service::new(db.clone(), Duration::from_secs(60));
        let token = service
            .add_server(
                ServerId::parse("nas").unwrap(),
                ServerName::parse("NAS").unwrap(),
            )
            .await
            .unwrap()
            .agent_token;
        let list = vec![package("curl"), package("vim")];
        service
            .heartbeat(&token, heartbeat(Some(list.clone())))
            .await
            .unwrap();
        let before = rowids(&db).await;

        // Same list, other order: nothing to write.
        let reversed: Vec<_> = list.iter().rev().cloned().collect();
        service
            .heartbeat(&token, heartbeat(Some(reversed)))
            .await
            .unwrap();
        assert_eq!(rowids(&db).await, before);

        // A changed list is written.
        service
            .heartbeat(&token, heartbeat(Some(vec![package("curl")])))
            .await
            .unwrap();
        assert_eq!(rowids(&db).await.len(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_heartbeats_of_one_machine_with_changing_lists_all_succeed() {
        // Each heartbeat's write takes the server's row first: replacements of one
        // list take turns on PostgreSQL too (tests/http/load.rs shows the 500s
        // they caused without it).
        let (db, _dir) = fresh_db().await;
        let service = Service::new(db, Duration::from_secs(60));
        let token = service
            .add_server(
                ServerId::parse("nas").unwrap(),
                ServerName::parse("NAS").unwrap(),
            )
            .await
            .unwrap()
            .agent_token;
        let beats = (0..24).map(|i| {
            let (service, token) = (service.clone(), token.clone());
            let list = if i % 2 == 0 {
                vec![package("curl"), package("vim")]
            } else {
                vec![package("curl")]
            };
            tokio::spawn(async move { service.heartbeat(&token, heartbeat(Some(list))).await })
        });
        for beat in beats {
            beat.await.unwrap().unwrap();
        }
        let stored = service
            .packages(&ServerId::parse("nas").unwrap())
            .await
            .unwrap();
        assert!((1..=2).contains(&stored.packages.len()), "{stored:?}");
    }

    #[tokio::test]
    async fn a_heartbeat_overtaken_by_a_newer_one_changes_nothing() {
        let (service, clock, nas, token, _dir) = clocked_nas(10_000).await;
        service
            .heartbeat(&token, heartbeat(Some(vec![package("curl")])))
            .await
            .unwrap();
        // One that arrived a second earlier, written only now.
        clock.advance(-1_000);
        service
            .heartbeat(&token, heartbeat(Some(vec![package("vim")])))
            .await
            .unwrap();
        let detail = service.server_detail(&nas).await.unwrap();
        assert_eq!(detail.summary.last_seen_ms, Some(Millis::new(10_000)));
        let names: Vec<_> = detail
            .packages
            .packages
            .iter()
            .map(|p| p.name.to_string())
            .collect();
        assert_eq!(names, ["curl"]);
    }

    #[tokio::test]
    async fn a_routine_heartbeat_is_stored_and_a_machine_back_from_offline_is_announced() {
        let (service, clock, nas, token, _dir) = clocked_nas(1_000_000).await;
        let list = vec![package("curl")];
        service
            .heartbeat(&token, heartbeat(Some(list.clone())))
            .await
            .unwrap();
        let mut events = service.subscribe();
        let announced = |events: &mut crate::service::LiveReceiver| events.drain_now().len();

        // A routine beat: same list, still online. Its metrics and time are stored,
        // nothing is announced.
        clock.advance(60_000);
        let mut routine = heartbeat(Some(list.clone()));
        routine.metrics.cpu_percent = 42.0;
        service.heartbeat(&token, routine).await.unwrap();
        let detail = service.server_detail(&nas).await.unwrap();
        assert_eq!(detail.summary.last_seen_ms, Some(Millis::new(1_060_000)));
        assert_eq!(detail.metrics.unwrap().cpu_percent, 42.0);
        assert_eq!(detail.packages_seen_at_ms, Some(Millis::new(1_060_000)));
        assert_eq!(announced(&mut events), 0);

        // Silent for just under three intervals: still online, still routine.
        clock.advance(179_999);
        service
            .heartbeat(&token, heartbeat(Some(list.clone())))
            .await
            .unwrap();
        assert_eq!(announced(&mut events), 0);

        // Silent for exactly three: it was offline, and is back.
        clock.advance(180_000);
        service
            .heartbeat(&token, heartbeat(Some(list.clone())))
            .await
            .unwrap();
        assert_eq!(announced(&mut events), 1);

        // An unknown token is refused, routine or not.
        let refused = service
            .heartbeat("hca_unknown", heartbeat(Some(list)))
            .await;
        assert!(matches!(refused, Err(AgentError::Unauthorized)));
    }
}
