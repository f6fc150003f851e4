//! The homelab-cmd server as a library, so that tests can start it on port 0.

pub mod config;
pub mod db;
pub mod service;
pub mod startup;
pub mod tokens;
