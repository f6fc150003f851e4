//! Points in time as the fleet stores and shows them: Unix milliseconds, as a type.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A point in time, in milliseconds since the Unix epoch (UTC). On the wire and in
/// the database it is that plain number.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(transparent)]
pub struct Millis(i64);

impl Millis {
    /// The moment `ms` milliseconds after the epoch.
    pub const fn new(ms: i64) -> Self {
        Millis(ms)
    }

    /// Milliseconds since the epoch, for storing and arithmetic at the edges.
    pub const fn get(self) -> i64 {
        self.0
    }

    /// Now, by the system clock.
    pub fn now() -> Self {
        Millis(crate::now_ms())
    }

    /// `self` plus `d` (saturating).
    pub fn plus(self, d: Duration) -> Self {
        Millis(
            self.0
                .saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        )
    }

    /// Milliseconds from `earlier` to `self` (negative when `earlier` is later).
    pub const fn since(self, earlier: Millis) -> i64 {
        self.0.saturating_sub(earlier.0)
    }
}

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_add_and_subtract_without_overflow() {
        let t = Millis::new(1_000);
        assert_eq!(t.plus(Duration::from_secs(2)), Millis::new(3_000));
        assert_eq!(Millis::new(3_000).since(t), 2_000);
        assert_eq!(
            Millis::new(i64::MAX).plus(Duration::from_secs(1)),
            Millis::new(i64::MAX)
        );
        assert_eq!(serde_json::to_string(&t).unwrap(), "1000");
    }
}
