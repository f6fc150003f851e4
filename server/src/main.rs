use std::io::IsTerminal;

use anyhow::Context as _;
use clap::Parser;
use homelab_app::domain::{ServerId, ServerName};
use homelab_server::config::{Cli, Command, ServerCommand};
use homelab_server::db::Database;
use homelab_server::service::Service;
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

    match Cli::parse().command {
        Command::Serve(args) => {
            let app = Application::build(&args).await?;
            let addr = app.local_addr()?;
            tracing::info!(%addr, database = %args.database.database_url, "homelab-cmd listening");
            println!("homelab-cmd is running: open http://{addr}/");
            app.run_until(shutdown_signal()).await?;
        }
        Command::Server(ServerCommand::Add { id, name, database }) => {
            let id = ServerId::parse(id.trim()).context("invalid server id")?;
            let name = ServerName::parse(&name).context("invalid server name")?;
            let db = Database::connect(&database.database_url).await?;
            // The heartbeat interval plays no part in adding a server.
            let service = Service::new(db, std::time::Duration::from_secs(60));
            let added = service.add_server(id, name).await?;
            println!("Added server {}.", added.id);
            println!("Agent token (shown only now): {}", added.agent_token);
        }
    }
    Ok(())
}
