//! Whole-server tests: the real server on port 0 with a fresh database, driven over
//! real HTTP. One binary, one module per feature.

mod helpers;

mod actions;
mod api;
mod assets;
mod auth;
mod backup;
mod cli;
mod config_file;
mod csrf;
mod dashboard;
mod downloads;
mod escaping;
mod headers;
mod health;
mod heartbeat;
mod live;
mod load;
mod login;
mod metrics;
mod openapi;
mod previews;
mod reboot;
mod replicas;
mod revocation;
mod routing;
mod runs;
mod sandbox;
mod schedules;
mod transport;
mod webhooks;
