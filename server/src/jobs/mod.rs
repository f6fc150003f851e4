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
