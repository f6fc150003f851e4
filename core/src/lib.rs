//! The heart of homelab-cmd, with no Leptos and no HTTP: the service layer (the
//! inventory of machines, the remediation engine, accounts and tokens, the agents'
//! dispatch) over the database (one module per table, every write through
//! [`db::Database::write`], migrations embedded). The server's HTTP layers and the
//! dashboard's server functions call [`Service`] directly; each turns [`Error`] into
//! its own answer, and logs our own faults once, there.

pub mod clock;
pub mod db;
mod error;
pub mod firing;
pub mod notify;
pub mod service;
pub mod tokens;

pub use error::{Error, ResultExt};
pub use service::Service;
