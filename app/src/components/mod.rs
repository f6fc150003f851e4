//! Pieces shared by several pages.

mod hydration;
mod status;

pub use hydration::HydrationMarker;
pub use status::StatusBadge;
