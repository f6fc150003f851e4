//! The command line. Every flag of `serve` has an environment-variable twin, a key in
//! the config file ([`file`]) and a default, so `homelab-cmd serve` alone starts a
//! working dashboard.

pub mod file;

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, CommandFactory as _, FromArgMatches as _, Parser, Subcommand};

/// homelab-cmd: watch a fleet of Debian/Ubuntu machines and patch them safely.
#[derive(Debug, Parser)]
#[command(name = "homelab-cmd", version, about)]
pub struct Cli {
    /// A TOML file with any of the settings of `serve` (flags and environment
    /// variables win over it) [default: /etc/homelab-cmd/config.toml, if it exists].
    // After `Cli::load`: the file that was read, if any.
    #[arg(long, env = "HOMELAB_CONFIG", global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

/// Why the command line and config file give no settings to run with.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Args(#[from] clap::Error),
    #[error(transparent)]
    File(#[from] file::ConfigFileError),
}

impl Cli {
    /// Parses the process's command line and fills in what it left at its defaults
    /// from the config file.
    pub fn load() -> Result<Cli, LoadError> {
        Self::load_from(std::env::args_os(), Path::new(file::DEFAULT_PATH))
    }

    /// [`Cli::load`] from `args`, looking for the file at `default_file` when
    /// `--config` is not given.
    pub fn load_from(
        args: impl IntoIterator<Item = impl Into<OsString> + Clone>,
        default_file: &Path,
    ) -> Result<Cli, LoadError> {
        let matches = Cli::command().try_get_matches_from(args)?;
        let mut cli = Cli::from_arg_matches(&matches)?;
        cli.config = file::chosen(cli.config.as_deref(), default_file);
        if let Some(path) = &cli.config {
            let settings = file::read(path)?;
            file::apply(settings, &mut cli.command, &matches);
        }
        Ok(cli)
    }
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the dashboard, the JSON API and the agent API.
    Serve(ServeArgs),
    /// Manage the fleet's servers.
    #[command(subcommand)]
    Server(ServerCommand),
    /// Manage dashboard accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage tokens for the JSON API.
    #[command(subcommand, name = "api-token")]
    ApiToken(ApiTokenCommand),
    /// Copy everything (servers, packages, the action history with its ids, accounts,
    /// sessions, API tokens) from the database into another, empty one: SQLite to
    /// PostgreSQL, or back. Stop the dashboard first: what it writes during the copy
    /// would not be copied.
    #[command(name = "migrate-to")]
    MigrateTo(MigrateArgs),
    /// Write a consistent copy of the SQLite database into a new FILE (mode 0600)
    /// while the dashboard keeps running. PostgreSQL: use pg_dump.
    Backup(BackupArgs),
    /// Replace the SQLite database with a backup, keeping the old one beside it as
    /// `NAME.before-restore-<time>`. Stop the dashboard first. PostgreSQL: use
    /// pg_restore.
    Restore(RestoreArgs),
}

impl Command {
    /// The database the command works on, if it takes one.
    pub fn database_mut(&mut self) -> Option<&mut DatabaseArgs> {
        match self {
            Command::Serve(args) => Some(&mut args.database),
            Command::Server(
                ServerCommand::Add { database, .. }
                | ServerCommand::RotateToken { database, .. }
                | ServerCommand::Remove { database, .. },
            )
            | Command::User(UserCommand::Add { database, .. })
            | Command::ApiToken(
                ApiTokenCommand::Create { database, .. }
                | ApiTokenCommand::List { database }
                | ApiTokenCommand::Revoke { database, .. },
            ) => Some(database),
            Command::MigrateTo(args) => Some(&mut args.database),
            Command::Backup(args) => Some(&mut args.database),
            Command::Restore(args) => Some(&mut args.database),
        }
    }
}

/// `homelab-cmd backup FILE`
#[derive(Debug, Clone, Args)]
pub struct BackupArgs {
    /// The new file to write; an existing one is never overwritten.
    pub file: PathBuf,
    /// The database to copy (left unchanged).
    #[command(flatten)]
    pub database: DatabaseArgs,
}

/// `homelab-cmd restore FILE`
#[derive(Debug, Clone, Args)]
pub struct RestoreArgs {
    /// A file written by `homelab-cmd backup`.
    pub file: PathBuf,
    #[command(flatten)]
    pub confirm: Confirm,
    /// The database to replace.
    #[command(flatten)]
    pub database: DatabaseArgs,
}

/// `homelab-cmd migrate-to TARGET_URL`
#[derive(Debug, Clone, Args)]
pub struct MigrateArgs {
    /// The database to copy into, e.g. `postgres://homelab:PASSWORD@db/homelab`: it
    /// must exist and be empty (its tables are made). A password on the command line
    /// is visible to the machine's other users: the environment variable keeps it out.
    #[arg(env = "HOMELAB_MIGRATE_TARGET_URL", hide_env_values = true)]
    pub target_url: String,
    #[command(flatten)]
    pub confirm: Confirm,
    /// The database to copy from (left unchanged).
    #[command(flatten)]
    pub database: DatabaseArgs,
}

/// `homelab-cmd user ...`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account (or set its password), reading the password from stdin.
    Add {
        /// The login name.
        name: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

/// `homelab-cmd api-token ...`
#[derive(Debug, Subcommand)]
pub enum ApiTokenCommand {
    /// Create a token for the JSON API and print it (shown only this once).
    Create {
        /// What the token is for, e.g. `backup-script`.
        name: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// List the JSON API tokens (names and ages, never secrets).
    List {
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Revoke a token: requests carrying it are refused at once.
    Revoke {
        /// The token's name.
        name: String,
        #[command(flatten)]
        confirm: Confirm,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

/// Confirmation of a change that cannot be undone.
#[derive(Debug, Clone, Args)]
pub struct Confirm {
    /// Do it without asking (for scripts); otherwise the terminal asks for the name
    /// (for `migrate-to`, the word `migrate`) to be typed.
    #[arg(long)]
    pub yes: bool,
}

/// `homelab-cmd server ...`
#[derive(Debug, Subcommand)]
pub enum ServerCommand {
    /// Add a server and print its agent token (shown only this once).
    Add {
        /// The server's id: lowercase letters, digits and '-', e.g. `nas-01`.
        id: String,
        /// The name shown in the dashboard.
        name: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Give a server a new agent token and print it (shown only this once); the old
    /// one stops working at once.
    RotateToken {
        /// The server's id.
        id: String,
        #[command(flatten)]
        confirm: Confirm,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Remove a server: its agent is refused, its waiting actions are cancelled, its
    /// history stays readable.
    Remove {
        /// The server's id.
        id: String,
        #[command(flatten)]
        confirm: Confirm,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

/// Where the database lives.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// `sqlite:PATH` (created on first run) or `postgres://USER:PASSWORD@HOST/DB`
    /// (the database must exist; its tables are made on first start).
    #[arg(
        long,
        env = "DATABASE_URL",
        hide_env_values = true,
        default_value = "sqlite://data/homelab-cmd.db"
    )]
    pub database_url: String,
}

/// `homelab-cmd serve`
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "HOMELAB_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,

    #[command(flatten)]
    pub database: DatabaseArgs,

    /// How often agents send a heartbeat, in seconds; a machine is offline after
    /// three missed ones.
    #[arg(
        long,
        env = "HOMELAB_HEARTBEAT_INTERVAL",
        default_value = "60",
        value_parser = clap::value_parser!(u32).range(1..=3600)
    )]
    pub heartbeat_interval: u32,

    /// Time limits that replace the defaults (apt_update 120 s, upgrades 600 s, others
    /// 60 s), e.g. `apt_upgrade_all=900,apt_update=180`.
    #[arg(long, env = "HOMELAB_ACTION_TIMEOUTS", default_value = "")]
    pub action_timeouts: homelab_protocol::Timeouts,

    /// The directory cargo-leptos built the stylesheet and WebAssembly bundle into.
    #[arg(long, env = "LEPTOS_SITE_ROOT", default_value = "target/site")]
    pub site_root: PathBuf,

    #[command(flatten)]
    pub http: HttpArgs,

    #[command(flatten)]
    pub onboarding: OnboardingArgs,
}

/// How machines join: the address agents are told, and the agent binary served.
#[derive(Debug, Clone, Default, Args)]
pub struct OnboardingArgs {
    /// The dashboard's address as the agents' machines reach it, e.g.
    /// `http://homelab.lan:3000` or `https://homelab.example.org`: written into the
    /// install line and the agents' configs. Unset, the dashboard shows the address
    /// the browser used and warns that other machines may not reach it.
    #[arg(long, env = "HOMELAB_PUBLIC_URL")]
    pub public_url: Option<crate::onboarding::PublicUrl>,

    /// A `homelab-agent` binary to offer under `/downloads/`; repeat it (or separate
    /// the files with commas) to offer one per machine type, e.g. an x86-64 and an
    /// arm64 build: each machine's install line fetches the one for its own type
    /// [default: `homelab-agent` beside this executable, if it is there].
    #[arg(long, env = "HOMELAB_AGENT_BINARY", value_delimiter = ',')]
    pub agent_binary: Vec<PathBuf>,
}

/// How the listener protects itself from clients that hold connections open.
#[derive(Debug, Clone, Args)]
pub struct HttpArgs {
    /// Open connections at most (also bounded by the open-files limit); more are
    /// closed as soon as they are accepted.
    #[arg(
        long,
        env = "HOMELAB_MAX_CONNECTIONS",
        default_value = "4096",
        value_parser = clap::value_parser!(u32).range(16..=1_000_000)
    )]
    pub max_connections: u32,

    /// Seconds a client may take to send a request's headers; also how long an idle
    /// keep-alive connection stays open.
    #[arg(
        long,
        env = "HOMELAB_HEADER_READ_TIMEOUT",
        default_value = "15",
        value_parser = clap::value_parser!(u32).range(1..=600)
    )]
    pub header_read_timeout: u32,
}

impl Default for HttpArgs {
    fn default() -> Self {
        HttpArgs {
            max_connections: 4096,
            header_read_timeout: 15,
        }
    }
}

impl ServeArgs {
    /// The heartbeat interval as a duration.
    pub fn heartbeat_interval(&self) -> Duration {
        Duration::from_secs(u64::from(self.heartbeat_interval))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn serve_has_sane_defaults() {
        let cli = Cli::try_parse_from(["homelab-cmd", "serve"]).unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("expected serve");
        };
        // The environment may set twins; only check what the flags default to when it
        // does not.
        if std::env::var_os("HOMELAB_LISTEN").is_none() {
            assert_eq!(args.listen, "127.0.0.1:3000".parse().unwrap());
        }
        if std::env::var_os("HOMELAB_HEARTBEAT_INTERVAL").is_none() {
            assert_eq!(args.heartbeat_interval(), Duration::from_secs(60));
        }
    }

    #[test]
    fn action_timeouts_can_be_changed_per_type_and_bad_ones_are_refused() {
        let cli = Cli::try_parse_from([
            "homelab-cmd",
            "serve",
            "--action-timeouts",
            "apt_upgrade_all=900,apt_update=180",
        ])
        .unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("expected serve");
        };
        use homelab_protocol::ActionType;
        assert_eq!(args.action_timeouts.get(ActionType::AptUpgradeAll), 900);
        assert_eq!(
            args.action_timeouts.get(ActionType::AptUpgradeSecurity),
            600
        );
        let err =
            Cli::try_parse_from(["homelab-cmd", "serve", "--action-timeouts", "apt_update=0"])
                .unwrap_err()
                .to_string();
        assert!(err.contains("from 5 to 7200"), "{err}");
    }

    #[test]
    fn a_public_url_is_parsed_at_start_up_and_a_bad_one_is_a_clear_error() {
        let cli = Cli::try_parse_from([
            "homelab-cmd",
            "serve",
            "--public-url",
            "http://homelab.lan:3000/",
        ])
        .unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("expected serve");
        };
        assert_eq!(
            args.onboarding.public_url.unwrap().as_str(),
            "http://homelab.lan:3000"
        );
        let huge = format!("http://h/{}", "a".repeat(100_000));
        for (bad, says) in [
            ("javascript:alert(1)", "must start with http:// or https://"),
            ("http://a b", "printable ASCII without spaces"),
            ("http://user:pw@host", "user name or password"),
            ("http://host/?x=1", "query"),
            ("http://host/'$(reboot)'", "only letters, digits"),
            (huge.as_str(), "longer than 512 bytes"),
        ] {
            let err = Cli::try_parse_from(["homelab-cmd", "serve", "--public-url", bad])
                .unwrap_err()
                .to_string();
            assert!(err.contains("--public-url"), "{err}");
            assert!(err.contains(says), "{bad:.40}: {err:.300}");
        }
    }

    #[test]
    fn a_bad_listen_address_is_refused() {
        let err = Cli::try_parse_from(["homelab-cmd", "serve", "--listen", "localhost"]);
        assert!(err.is_err());
    }
}
