//! The one-off commands: servers, accounts and API tokens, straight on the database
//! (no server needs to run). Destructive ones ask for confirmation.

use std::io::{BufRead, IsTerminal};

use anyhow::Context as _;
use homelab_protocol::{ServerId, ServerName};

use crate::config::{
    ApiTokenCommand, BackupArgs, Command, Confirm, DatabaseArgs, MigrateArgs, RestoreArgs,
    ServerCommand, UserCommand,
};
use crate::db::{Database, backup, copy, redacted};
use crate::service::Service;

/// Runs a command other than `serve`.
pub async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(_) => anyhow::bail!("`serve` is not a one-off command"),
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
        Command::ApiToken(ApiTokenCommand::List { database }) => {
            for token in offline_service(&database).await?.list_api_tokens().await? {
                println!(
                    "{}\tcreated {}",
                    token.name,
                    homelab_app::components::format_utc(token.created_at_ms)
                );
            }
        }
        Command::ApiToken(ApiTokenCommand::Revoke {
            name,
            confirm,
            database,
        }) => {
            confirmed(&confirm, &format!("revoke the API token `{name}`"), &name)?;
            offline_service(&database)
                .await?
                .revoke_api_token(&name, CLI_ACTOR)
                .await?;
            println!("Revoked the API token {name}.");
        }
        Command::Server(ServerCommand::RotateToken {
            id,
            confirm,
            database,
        }) => {
            let id = ServerId::parse(id.trim()).context("invalid server id")?;
            confirmed(
                &confirm,
                &format!("give {id} a new agent token (its agent stops working until it has it)"),
                id.as_str(),
            )?;
            let rotated = offline_service(&database)
                .await?
                .rotate_agent_token(&id, CLI_ACTOR)
                .await?;
            println!(
                "New agent token for {id} (shown only now): {}",
                rotated.agent_token
            );
        }
        Command::Server(ServerCommand::Remove {
            id,
            confirm,
            database,
        }) => {
            let id = ServerId::parse(id.trim()).context("invalid server id")?;
            confirmed(
                &confirm,
                &format!("remove {id} from the fleet (its history stays)"),
                id.as_str(),
            )?;
            offline_service(&database)
                .await?
                .remove_server(&id, CLI_ACTOR)
                .await?;
            println!("Removed {id}.");
        }
        Command::MigrateTo(args) => migrate_to(&args).await?,
        Command::Backup(BackupArgs { file, database }) => {
            let shown = redacted(&database.database_url);
            let size = backup::backup(&database.database_url, &file)
                .await
                .with_context(|| format!("backing up {shown}: no backup written"))?;
            println!(
                "Backed up {shown} into {} ({size} bytes, readable by its owner only).",
                file.display()
            );
        }
        Command::Restore(args) => restore(&args).await?,
    }
    Ok(())
}

/// Replaces the database with a backup, once confirmed.
async fn restore(args: &RestoreArgs) -> anyhow::Result<()> {
    let url = &args.database.database_url;
    let shown = redacted(url);
    confirmed(
        &args.confirm,
        &format!(
            "replace the database {shown} with the backup {} (the current one is kept beside it)",
            args.file.display()
        ),
        "restore",
    )?;
    let restored = backup::restore(url, &args.file)
        .await
        .with_context(|| format!("restoring {shown}: nothing changed"))?;
    println!("Restored {shown} from {}.", args.file.display());
    if let Some(kept) = restored.kept {
        println!("The database it replaced is kept as {}.", kept.display());
    }
    Ok(())
}

/// Copies the whole database into an empty one and says what went across.
async fn migrate_to(args: &MigrateArgs) -> anyhow::Result<()> {
    let (source_url, target_url) = (&args.database.database_url, &args.target_url);
    let (source_shown, target_shown) = (redacted(source_url), redacted(target_url));
    if copy::same_database(source_url, target_url) {
        return Err(copy::CopyError::SameDatabase)
            .with_context(|| format!("copying {source_shown} into {target_shown}"));
    }
    confirmed(
        &args.confirm,
        &format!(
            "copy everything in {source_shown} into {target_shown} (stop the dashboard \
             first: what it writes meanwhile would not be copied)"
        ),
        "migrate",
    )?;
    let source = Database::connect_existing(source_url)
        .await
        .with_context(|| format!("opening the source database {source_shown}"))?;
    crate::db::probe(target_url)
        .await
        .with_context(|| format!("opening the target database {target_shown}"))?;
    let target = Database::connect(target_url)
        .await
        .with_context(|| format!("opening the target database {target_shown}"))?;
    let copied = copy::copy_all(&source, &target)
        .await
        .with_context(|| format!("copying {source_shown} into {target_shown}: nothing copied"))?;
    println!("Copied {source_shown} into {target_shown}:");
    for (table, rows) in copied.tables() {
        println!("  {table:<17}{rows:>9}");
    }
    println!("Start the dashboard with --database-url (or DATABASE_URL) {target_shown}.");
    Ok(())
}

/// Who the history names for changes made from the command line.
const CLI_ACTOR: &str = "cli";

/// Asks the person at the terminal to type `answer` before doing `what`; `--yes`
/// skips the question, and without a terminal `--yes` is required.
fn confirmed(confirm: &Confirm, what: &str, answer: &str) -> anyhow::Result<()> {
    if confirm.yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        anyhow::bail!("this would {what}: pass --yes to confirm");
    }
    eprintln!("This will {what}. Type `{answer}` to confirm:");
    let mut typed = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut typed)
        .context("reading the confirmation")?;
    if typed.trim() != answer {
        anyhow::bail!("not confirmed: nothing changed");
    }
    Ok(())
}

/// The service layer for a one-off command (no server running).
async fn offline_service(database: &DatabaseArgs) -> anyhow::Result<Service> {
    let db = Database::connect(&database.database_url)
        .await
        .with_context(|| {
            format!(
                "opening database {}",
                crate::db::redacted(&database.database_url)
            )
        })?;
    // The heartbeat interval only matters to a running server.
    Ok(Service::new(db, std::time::Duration::from_secs(60)))
}
