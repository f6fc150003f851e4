//! One module per route.

mod fleet;
mod not_found;

pub use fleet::FleetPage;
pub use not_found::NotFound;
