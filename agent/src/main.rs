//! homelab-agent: the process on each managed machine.

mod config;

use std::process::ExitCode;

use clap::Parser;
use config::{Args, Config};

fn main() -> ExitCode {
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
    tracing::info!(server = %config.server, "configuration loaded");
    ExitCode::SUCCESS
}
