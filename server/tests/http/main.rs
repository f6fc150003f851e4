//! Whole-server tests: the real server on port 0 with a fresh database, driven over
//! real HTTP. One binary, one module per feature.

mod helpers;

mod actions;
mod api;
mod auth;
mod csrf;
mod dashboard;
mod escaping;
mod headers;
mod health;
mod heartbeat;
mod load;
mod login;
mod routing;
mod sandbox;
mod transport;
