//! Wakes a waiting agent the moment an action for its server is approved, without
//! polling the database. In-process: one `Notify` per server.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use homelab_protocol::ServerId;
use tokio::sync::Notify;

/// The per-server wake-up bells.
#[derive(Debug, Default)]
pub struct Dispatcher {
    bells: Mutex<HashMap<ServerId, Arc<Notify>>>,
}

impl Dispatcher {
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
}
