//! Background jobs of a running server.

use std::time::Duration;

use crate::service::Service;

/// How often executing actions are checked for an expired lease.
pub const LEASE_CHECK_EVERY: Duration = Duration::from_secs(5);

/// Moves actions whose agent never reported to `failed/agent_lost`, so a dead agent
/// never blocks the queue. Runs until the task is dropped.
pub async fn expire_leases(service: Service, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        // Errors are logged inside; the next tick tries again.
        let _ = service.expire_leases().await;
    }
}

/// Tells open pages when a machine goes offline: that happens by time
/// passing, with no request to announce it. Checks a few times per heartbeat
/// interval; one query for the whole fleet. Runs until the task is dropped.
pub async fn announce_presence(service: Service) {
    let every =
        (service.heartbeat_interval() / 4).clamp(Duration::from_secs(1), Duration::from_secs(15));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seen = crate::service::Presence::default();
    loop {
        tick.tick().await;
        if let Err(e) = service.announce_presence(&mut seen).await {
            tracing::warn!(error = %e, "presence check failed; trying again");
        }
    }
}

/// How often every run with work left is moved on regardless of events: what a
/// missed event (a full event buffer, a change made by another replica before this
/// one started) would otherwise leave waiting.
pub const RUN_CHECK_EVERY: Duration = Duration::from_secs(5);

/// Moves fleet runs on: at once when one of their actions changes (here or, on
/// PostgreSQL, on another replica), and on a timer. Runs until the task is dropped.
pub async fn advance_runs(service: Service) {
    use homelab_protocol::LiveEvent;
    let mut events = service.subscribe();
    let mut tick = tokio::time::interval(RUN_CHECK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let moved = tokio::select! {
            event = events.recv() => match event {
                Some(LiveEvent::Action { id, .. }) => service.advance_run_of(id).await,
                Some(LiveEvent::Resync) => service.advance_runs().await,
                Some(_) => Ok(()),
                // The hub is gone: the server is shutting down.
                None => return,
            },
            _ = tick.tick() => service.advance_runs().await,
        };
        if let Err(e) = moved {
            match e {
                // Another replica moved the same run first; the next event or tick
                // looks again.
                homelab_core::Error::Conflict { message, .. } => {
                    tracing::debug!(%message, "fleet run busy; trying again");
                }
                e => {
                    tracing::warn!(error = ?anyhow::Error::from(e), "fleet run step failed; trying again")
                }
            }
        }
    }
}
