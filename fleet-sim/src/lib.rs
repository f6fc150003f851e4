//! homelab-fleet-sim as a library: the binary (`main.rs`) is wiring only, and the
//! integration tests run fleets through [`agents::run`] against a real server.

pub mod agents;
pub mod api;
pub mod cli;
pub mod error;
pub mod hammer;
pub mod limits;
pub mod packages;
pub mod proc_stats;
pub mod report;
pub mod seed;
pub mod setup;
pub mod stats;
