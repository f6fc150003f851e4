use std::io::{BufRead, IsTerminal};

use anyhow::Context as _;
use clap::Parser;
use homelab_app::domain::{ServerId, ServerName};
use homelab_server::config::{
    ApiTokenCommand, Cli, Command, DatabaseArgs, ServerCommand, UserCommand,
};
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
            let added = offline_service(&database)
                .await?
                .add_server(id, name)
                .await?;
            println!("Added server {}.", added.id);
            println!("Agent token (shown only now): {}", added.agent_token);
        }
        Command::User(UserCommand::Add { name, database }) => {
            if std::io::stdin().is_terminal() {
                eprintln!("Password for {name} (then Enter):");
            }
            let mut password = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut password)
                .context("reading the password from stdin")?;
            let password = password.trim_end_matches(['\r', '\n']);
            let created = offline_service(&database)
                .await?
                .set_user_password(&name, password)
                .await?;
            println!(
                "{} user {name}.",
                if created {
                    "Created"
                } else {
                    "Updated the password of"
                }
            );
        }
        Command::ApiToken(ApiTokenCommand::Create { name, database }) => {
            let secret = offline_service(&database)
                .await?
                .create_api_token(&name)
                .await?;
            println!("{secret}");
        }
    }
    Ok(())
}

/// The service layer for a one-off command (no server running).
async fn offline_service(database: &DatabaseArgs) -> anyhow::Result<Service> {
    let db = Database::connect(&database.database_url)
        .await
        .with_context(|| format!("opening database {}", database.database_url))?;
    // The heartbeat interval only matters to a running server.
    Ok(Service::new(db, std::time::Duration::from_secs(60)))
}
