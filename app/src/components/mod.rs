//! Pieces shared by several pages.

mod hydration;
mod status;
mod time;

pub use hydration::HydrationMarker;
pub use status::StatusBadge;
pub use time::{RelativeTime, duration_s, format_utc, relative};
