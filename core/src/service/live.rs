//! The live stream's source: every change the engine and the inventory make is
//! announced here, once, for every open dashboard page to hear. In-process, like
//! the dispatcher's bells: a reader that falls behind is told to catch up
//! ([`LiveEvent::Resync`]) instead of holding the writers up.

use std::collections::HashMap;

use homelab_protocol::{LiveEvent, ServerId, ServerStatus};
use tokio::sync::broadcast;

use super::Service;
use crate::Error;
use crate::ResultExt as _;

/// How many events a slow reader may fall behind before it is told to resync.
const BACKLOG: usize = 1024;

/// The broadcast every live stream subscribes to.
#[derive(Debug)]
pub struct LiveHub {
    sender: broadcast::Sender<LiveEvent>,
}

impl Default for LiveHub {
    fn default() -> Self {
        LiveHub {
            sender: broadcast::channel(BACKLOG).0,
        }
    }
}

/// One reader's view of the live events.
#[derive(Debug)]
pub struct LiveReceiver(broadcast::Receiver<LiveEvent>);

impl LiveReceiver {
    /// The next event; [`LiveEvent::Resync`] when events were missed. `None` once
    /// the service is gone.
    pub async fn recv(&mut self) -> Option<LiveEvent> {
        match self.0.recv().await {
            Ok(event) => Some(event),
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::debug!(missed, "live reader fell behind; telling it to resync");
                Some(LiveEvent::Resync)
            }
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }

    /// Every event published so far, without waiting (for tests).
    #[cfg(test)]
    pub(crate) fn drain_now(&mut self) -> Vec<LiveEvent> {
        std::iter::from_fn(|| self.0.try_recv().ok()).collect()
    }
}

/// What the presence watch last saw of each server, to announce only changes.
#[derive(Debug, Default)]
pub struct Presence(HashMap<ServerId, ServerStatus>);

impl Service {
    /// Hears every change from now on.
    pub fn subscribe(&self) -> LiveReceiver {
        LiveReceiver(self.live.sender.subscribe())
    }

    /// Announces a change, here and to the other replicas. Nobody listening is fine.
    pub(super) fn publish(&self, event: LiveEvent) {
        self.fan_out(super::fanout::Note::Live {
            event: event.clone(),
        });
        self.publish_here(event);
    }

    /// Announces a change to this process's pages only (what every replica finds
    /// out by itself, or heard from another).
    pub(super) fn publish_here(&self, event: LiveEvent) {
        let _ = self.live.sender.send(event);
    }

    /// Announces the servers that went offline since the last call: that happens by
    /// time passing, with no request to announce it. One query (the server rows,
    /// without the fleet table's counts) for the whole fleet, however many pages are
    /// open.
    pub async fn announce_presence(&self, seen: &mut Presence) -> Result<(), Error> {
        let records = crate::db::servers::list(&self.db)
            .await
            .context("presence")?;
        let mut now = HashMap::with_capacity(records.len());
        for r in records {
            let status = self.status(r.last_seen_ms);
            // Coming online is announced by the heartbeat that brought it.
            let went_offline = status == ServerStatus::Offline
                && seen.0.get(&r.id).is_some_and(|&was| was != status);
            if went_offline {
                // Every replica's presence job sees it: announced here only.
                self.publish_here(LiveEvent::Server {
                    server: r.id.clone(),
                });
            }
            now.insert(r.id, status);
        }
        seen.0 = now;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use homelab_protocol::{ActionResult, ActionSpec, ActionType, Millis, Progress, ServerName};

    use super::*;
    use crate::clock::ManualClock;
    use crate::db::testing::fresh_db;
    use crate::service::testing::{heartbeat, package};

    /// Every event published so far, without waiting.
    fn drain(events: &mut LiveReceiver) -> Vec<LiveEvent> {
        events.drain_now()
    }

    #[tokio::test]
    async fn every_change_a_page_shows_is_announced_once_and_routine_heartbeats_are_not() {
        let (db, _dir) = fresh_db().await;
        let clock = Arc::new(ManualClock::at(Millis::new(1_000_000)));
        let service = Service::new(db, Duration::from_secs(60)).with_clock(clock.clone());
        let mut events = service.subscribe();
        let nas = ServerId::parse("nas").unwrap();
        let on_nas = LiveEvent::Server {
            server: nas.clone(),
        };
        let token = service
            .add_server(nas.clone(), ServerName::parse("NAS").unwrap())
            .await
            .unwrap()
            .agent_token;
        assert_eq!(drain(&mut events), std::slice::from_ref(&on_nas), "added");

        let mut seen = Presence::default();
        service.announce_presence(&mut seen).await.unwrap();
        service
            .heartbeat(&token, heartbeat(Some(vec![package("curl")])))
            .await
            .unwrap();
        assert_eq!(
            drain(&mut events),
            std::slice::from_ref(&on_nas),
            "first heartbeat"
        );
        service
            .heartbeat(&token, heartbeat(Some(vec![package("curl")])))
            .await
            .unwrap();
        service.announce_presence(&mut seen).await.unwrap();
        assert_eq!(drain(&mut events), [], "nothing changed");
        service
            .heartbeat(&token, heartbeat(Some(Vec::new())))
            .await
            .unwrap();
        assert_eq!(
            drain(&mut events),
            std::slice::from_ref(&on_nas),
            "packages changed"
        );

        let spec = ActionSpec::parse(ActionType::AptUpdate, None).unwrap();
        let created = service.create_action(&nas, spec, "alice").await.unwrap();
        let on_action = LiveEvent::Action {
            id: created.id,
            server: nas.clone(),
        };
        assert_eq!(
            drain(&mut events),
            std::slice::from_ref(&on_action),
            "queued"
        );
        service
            .next_action(&nas, &token, Duration::ZERO)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            drain(&mut events),
            std::slice::from_ref(&on_action),
            "claimed"
        );
        service
            .action_progress(&nas, created.id, Progress::default())
            .await
            .unwrap();
        assert_eq!(drain(&mut events), [], "a bare sign of life");
        let chunk = Progress {
            stdout: "Get:1 http://deb.debian.org bookworm InRelease\n".into(),
            stderr: String::new(),
        };
        service
            .action_progress(&nas, created.id, chunk)
            .await
            .unwrap();
        assert_eq!(
            drain(&mut events),
            [LiveEvent::Output {
                id: created.id,
                server: nas.clone()
            }]
        );
        assert!(
            service
                .action(created.id)
                .await
                .unwrap()
                .stdout
                .starts_with("Get:1")
        );
        let result = ActionResult {
            exit_code: Some(0),
            failure: None,
            stdout: "done\n".into(),
            stderr: String::new(),
            started_at: None,
            finished_at: None,
        };
        service
            .report_result(&nas, created.id, result.clone())
            .await
            .unwrap();
        assert_eq!(
            drain(&mut events),
            std::slice::from_ref(&on_action),
            "finished"
        );
        service
            .report_result(&nas, created.id, result)
            .await
            .unwrap();
        assert_eq!(drain(&mut events), [], "a repeated result changes nothing");

        // Offline by time passing, then back.
        clock.advance(10 * 60_000);
        service.announce_presence(&mut seen).await.unwrap();
        assert_eq!(
            drain(&mut events),
            std::slice::from_ref(&on_nas),
            "went offline"
        );
        service.announce_presence(&mut seen).await.unwrap();
        assert_eq!(drain(&mut events), [], "still offline");
        service
            .heartbeat(&token, heartbeat(Some(Vec::new())))
            .await
            .unwrap();
        assert_eq!(
            drain(&mut events),
            std::slice::from_ref(&on_nas),
            "back online"
        );
        service.set_paused(&nas, true, "alice").await.unwrap();
        assert_eq!(
            drain(&mut events),
            std::slice::from_ref(&on_nas),
            "maintenance"
        );
        service.remove_server(&nas, "alice").await.unwrap();
        assert_eq!(drain(&mut events), [on_nas], "removed");
    }

    #[tokio::test]
    async fn a_reader_that_falls_behind_is_told_to_resync_and_reads_on() {
        let (db, _dir) = fresh_db().await;
        let service = Service::new(db, Duration::from_secs(60));
        let mut events = service.subscribe();
        let nas = ServerId::parse("nas").unwrap();
        for _ in 0..BACKLOG + 10 {
            service.publish(LiveEvent::Server {
                server: nas.clone(),
            });
        }
        assert_eq!(events.recv().await, Some(LiveEvent::Resync));
        assert_eq!(events.recv().await, Some(LiveEvent::Server { server: nas }));
    }
}
