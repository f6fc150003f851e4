//! Background jobs of a running server.

use std::time::Duration;

pub mod webhooks;

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

/// The longest the schedule job sleeps between passes: a schedule created or changed
/// on another replica is seen this soon, and its firing is this late at most.
pub const SCHEDULES_CHECK_AT_LEAST_EVERY: Duration = Duration::from_secs(15);

/// Fires schedules when they are due (`Service::fire_due_schedules`), on every
/// replica: the database lets each firing start one run. The first pass runs at
/// start-up, which is when a firing missed while the dashboard was down runs (once,
/// recorded as late). Between passes it sleeps until the next firing, at most
/// [`SCHEDULES_CHECK_AT_LEAST_EVERY`]. A failed or panicking pass is logged and the
/// next one tries again. Runs until the task is dropped.
pub async fn fire_schedules(service: Service) {
    loop {
        let pass = tokio::spawn({
            let service = service.clone();
            async move { service.fire_due_schedules().await }
        });
        let failed = match pass.await {
            Ok(Ok(_)) => false,
            // Logged with its schedule where it happened.
            Ok(Err(_)) => true,
            Err(e) => {
                tracing::error!(error = %e, "a schedule pass panicked; trying again");
                true
            }
        };
        // After a failure the due firing is still due: wait the whole period
        // rather than spin on it.
        let next = if failed {
            Ok(None)
        } else {
            service.next_schedule_firing().await
        };
        let sleep = match next {
            Ok(Some(next)) => {
                let wait = next.since(homelab_protocol::Millis::now()).max(0);
                Duration::from_millis(u64::try_from(wait).unwrap_or(0))
                    .clamp(Duration::from_secs(1), SCHEDULES_CHECK_AT_LEAST_EVERY)
            }
            Ok(None) => SCHEDULES_CHECK_AT_LEAST_EVERY,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the next schedule firing; trying again");
                SCHEDULES_CHECK_AT_LEAST_EVERY
            }
        };
        tokio::time::sleep(sleep).await;
    }
}
