//! One module per route.

mod fleet;
mod not_found;
mod server;

pub use fleet::FleetPage;
pub use not_found::NotFound;
pub use server::ServerPage;
