//! homelab-agent: the process on each managed machine.

use std::process::ExitCode;

use clap::Parser;
use homelab_agent::config::{Args, Config};
use homelab_agent::{actions, client, executor, heartbeat, state, units, whitelist};
use tokio::signal::unix::{Signal, SignalKind, signal};

// One thread: the agent waits on the network and on child processes, and every thread
// would cost memory on each machine of the fleet.
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();

    let mut signals = StopSignals::install();
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
    tracing::info!(servers = %config.servers, allowed = allowed.join(","), "homelab-agent starting");

    let rescan = std::sync::Arc::new(tokio::sync::Notify::new());
    let (first_beat, first_beat_done) = tokio::sync::oneshot::channel();
    let beats = tokio::spawn(
        heartbeat::Heartbeater::new(client.clone(), config.heartbeat_interval, rescan.clone())
            .with_first_beat(first_beat)
            .run(),
    );
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let mut actions = tokio::spawn(
        actions::ActionLoop {
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
            progress_every: homelab_protocol::PROGRESS_EVERY,
            first_heartbeat: Some(first_beat_done),
        }
        .run(stop_rx),
    );
    tokio::select! {
        _ = &mut actions => {
            tracing::error!("the action loop ended unexpectedly");
            return ExitCode::FAILURE;
        }
        () = signals.recv() => {}
    }
    // Killing apt mid-run would leave dpkg half-done: the running action finishes
    // and reports first (the unit's TimeoutStopSec covers the longest one).
    tracing::info!("stopping: no new actions; letting a running one finish");
    let _ = stop.send(true);
    tokio::select! {
        _ = &mut actions => tracing::info!("stopped"),
        () = signals.recv() => {
            // Exit without unwinding: the command keeps running in its own process
            // group, and the next start waits for it and reports it interrupted.
            tracing::warn!("second stop signal: exiting now; a running command is left to end");
            std::process::exit(1);
        }
    }
    beats.abort();
    ExitCode::SUCCESS
}

/// SIGTERM and SIGINT, caught from start-up on: a stop that arrives before the loops
/// run must not kill the agent the default way.
struct StopSignals {
    term: Option<Signal>,
    int: Option<Signal>,
}

impl StopSignals {
    fn install() -> Self {
        let install = |kind: SignalKind, name: &str| match signal(kind) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!("cannot listen for {name}: {e}");
                None
            }
        };
        StopSignals {
            term: install(SignalKind::terminate(), "SIGTERM"),
            int: install(SignalKind::interrupt(), "SIGINT"),
        }
    }

    /// Resolves on the next SIGTERM or SIGINT.
    async fn recv(&mut self) {
        async fn next(s: &mut Option<Signal>) {
            match s {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            () = next(&mut self.term) => {}
            () = next(&mut self.int) => {}
        }
    }
}
