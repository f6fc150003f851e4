//! Wakes a waiting agent the moment an action for its server is approved, without
//! polling the database. In-process: one `Notify` per server.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use homelab_protocol::ServerId;
use tokio::sync::{Notify, watch};

/// The per-server wake-up bells.
#[derive(Debug)]
pub struct Dispatcher {
    bells: Mutex<HashMap<ServerId, Arc<Notify>>>,
    /// True once the server is shutting down: every long-poll answers "nothing".
    closed: watch::Sender<bool>,
}

impl Default for Dispatcher {
    fn default() -> Self {
        Dispatcher {
            bells: Mutex::default(),
            closed: watch::channel(false).0,
        }
    }
}

impl Dispatcher {
    /// Ends every long-poll, now and to come: the server is stopping, and agents
    /// should not hold its shutdown up for their wait.
    pub fn close(&self) {
        self.closed.send_replace(true);
    }

    /// Watches for [`Dispatcher::close`].
    pub fn closed(&self) -> watch::Receiver<bool> {
        self.closed.subscribe()
    }

    /// The bell of `server`, made on first use.
    pub fn bell(&self, server: &ServerId) -> Arc<Notify> {
        let mut bells = self
            .bells
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        bells.entry(server.clone()).or_default().clone()
    }

    /// Wakes every agent of `server` waiting for work.
    pub fn ring(&self, server: &ServerId) {
        self.bell(server).notify_waiters();
    }

    /// Wakes every waiting agent (after wake-ups may have been missed).
    pub fn ring_all(&self) {
        let bells: Vec<Arc<Notify>> = self
            .bells
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .values()
            .cloned()
            .collect();
        for bell in bells {
            bell.notify_waiters();
        }
    }
}
