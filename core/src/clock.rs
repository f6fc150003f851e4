//! The service's notion of now, injected: the real clock in production, one that a
//! test moves by hand to reach a lease's end (or a schedule's firing) without waiting.

use std::fmt::Debug;
use std::sync::atomic::{AtomicI64, Ordering};

use homelab_protocol::Millis;

/// Tells the time.
pub trait Clock: Send + Sync + Debug {
    /// Now.
    fn now(&self) -> Millis;
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Millis {
        Millis::now()
    }
}

/// A clock that stands still until told otherwise.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock showing `now`.
    pub fn at(now: Millis) -> Self {
        ManualClock(AtomicI64::new(now.get()))
    }

    /// Moves the clock on by `ms`.
    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Millis {
        Millis::new(self.0.load(Ordering::SeqCst))
    }
}
