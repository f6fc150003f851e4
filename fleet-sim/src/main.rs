use std::process::ExitCode;

use clap::Parser;
use homelab_fleet_sim::cli::{Cli, Command};
use homelab_fleet_sim::{agents, hammer, report::Report, seed};

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let (json, outcome): (bool, anyhow::Result<Report>) = match &cli.command {
        Command::Fleet(a) => (a.output.json, agents::run(a).await.map_err(Into::into)),
        Command::Hammer(a) => (a.output.json, hammer::run(a).await.map_err(Into::into)),
        Command::Seed(a) => (a.output.json, seed::run(a).await.map_err(Into::into)),
    };
    match outcome {
        Ok(report) => {
            if json {
                match serde_json::to_string_pretty(&report) {
                    Ok(text) => println!("{text}"),
                    Err(e) => eprintln!("error: cannot write the report as JSON: {e}"),
                }
            } else {
                print!("{}", report.table());
            }
            // A run with errors fails, so scripts notice.
            if report.errors == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            // Each error names its cause in its own message.
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
