use std::io::IsTerminal;

use homelab_server::config::{Cli, Command, LoadError};
use homelab_server::startup::{Application, shutdown_signal};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info")),
        )
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();

    let cli = match Cli::load() {
        Ok(cli) => cli,
        Err(LoadError::Args(e)) => e.exit(),
        Err(e) => return Err(e.into()),
    };
    match cli.command {
        Command::Serve(args) => {
            let app = Application::build(&args).await?;
            let addr = app.local_addr()?;
            tracing::info!(
                %addr,
                database = %homelab_core::db::redacted(&args.database.database_url),
                config = %cli.config.as_deref().map_or("none".into(), |p| p.display().to_string()),
                "homelab-cmd listening"
            );
            println!("homelab-cmd is running: open http://{addr}/");
            app.run_until(shutdown_signal()).await?;
        }
        other => homelab_server::cli::run(other).await?,
    }
    Ok(())
}
