//! homelab-agent: the process on each managed machine.

use std::process::ExitCode;

use clap::Parser;
use homelab_agent::config::{Args, Config};
use homelab_agent::{actions, client, executor, heartbeat, state, units, whitelist};

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
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
    let state = match state::State::open(&config.state_dir) {
        Ok(state) => state,
        Err(e) => {
            tracing::error!(dir = %config.state_dir.display(), "cannot use the state directory: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut allowed: Vec<_> = config.allowed_actions.iter().map(|t| t.as_str()).collect();
    allowed.sort_unstable();
    tracing::info!(server = %config.server, allowed = allowed.join(","), "homelab-agent starting");

    let rescan = std::sync::Arc::new(tokio::sync::Notify::new());
    let beats =
        heartbeat::Heartbeater::new(client.clone(), config.heartbeat_interval, rescan.clone())
            .run();
    let actions = actions::ActionLoop {
        client,
        state,
        local: whitelist::Local {
            allowed_actions: config.allowed_actions.clone(),
            allowed_units: config.allowed_units.clone(),
            own_unit: units::own_unit(),
        },
        apt: executor::AptSettings {
            lock_wait: config.apt_lock_wait,
            ..executor::AptSettings::default()
        },
        rescan,
    }
    .run();
    tokio::select! {
        () = beats => {}
        () = actions => {}
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
