//! The homelab-cmd server as a library, so that tests can start it on port 0.

pub mod agent_api;
pub mod api;
pub mod assets;
pub mod auth;
pub mod cli;
pub mod config;
pub mod http;
pub mod jobs;
pub mod live;
pub mod metrics;
pub mod onboarding;
pub mod serve;
pub mod startup;
pub mod state;

// The service layer and the database live in their own crate; re-exported under the
// names the server's modules (and tests) use.
pub use homelab_core::{db, service, tokens};
