//! One module per route.

mod action;
mod fleet;
mod history;
mod login;
mod not_found;
mod server;
mod settings;

pub use action::ActionPage;
pub use fleet::FleetPage;
pub use history::HistoryPage;
pub use login::LoginPage;
pub use not_found::NotFound;
pub use server::ServerPage;
pub use settings::SettingsPage;
