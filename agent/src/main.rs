//! homelab-agent: the process on each managed machine.

mod apt;
mod client;
mod config;
mod heartbeat;
mod metrics;
mod runner;
mod scan;

use std::process::ExitCode;

use clap::Parser;
use config::{Args, Config};

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();

    let config = match Config::load(Args::parse()) {
        Ok(config) => config,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(2);
        }
    };
    let client = match client::Client::new(&config) {
        Ok(client) => client,
        Err(e) => {
            tracing::error!("cannot set up the HTTP client: {e}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(server = %config.server, allowed = ?config.allowed_actions, "homelab-agent starting");
    let beats = heartbeat::Heartbeater::new(client, config.heartbeat_interval).run();
    tokio::select! {
        () = beats => {}
        () = shutdown_signal() => tracing::info!("stopping"),
    }
    ExitCode::SUCCESS
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(e) => {
            tracing::warn!("cannot listen for SIGTERM: {e}");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
