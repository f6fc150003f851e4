//! The homelab-cmd server as a library, so that tests can start it on port 0.

pub mod agent_api;
pub mod api;
pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod http;
pub mod jobs;
pub mod serve;
pub mod service;
pub mod startup;
pub mod tokens;
