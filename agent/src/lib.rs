//! homelab-agent as a library: the binary (`main.rs`) is wiring only, and the
//! integration tests drive these modules against real processes and a local HTTP
//! server.

pub mod actions;
pub mod apt;
pub mod client;
pub mod config;
pub mod executor;
pub mod heartbeat;
pub mod live_output;
pub mod metrics;
pub mod preview;
pub mod runner;
pub mod scan;
pub mod state;
pub mod units;
pub mod whitelist;
