//! The agent's configuration: flags, their environment twins, and an optional TOML
//! file. A flag beats the file; the file beats the defaults. `allowed_actions` lives
//! only here, on the machine, where no server can change it.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use homelab_protocol::ActionType;
use serde::Deserialize;

/// homelab-agent: reports this machine's health and pending apt updates to
/// homelab-cmd and runs the actions its admin approved.
#[derive(Debug, Default, Parser)]
#[command(name = "homelab-agent", version, about)]
pub struct Args {
    /// A TOML file with any of the settings below (flags win over it).
    #[arg(long, env = "HOMELAB_AGENT_CONFIG")]
    pub config: Option<PathBuf>,

    /// The homelab-cmd server, e.g. `http://homelab.lan:3000`.
    #[arg(long, env = "HOMELAB_SERVER")]
    pub server: Option<String>,

    /// This machine's agent token, shown once when the server was added.
    #[arg(long, env = "HOMELAB_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// Seconds between heartbeats until the server says otherwise [default: 60].
    #[arg(long, env = "HOMELAB_HEARTBEAT_INTERVAL")]
    pub heartbeat_interval: Option<u64>,

    /// Where undelivered results are kept across restarts
    /// [default: /var/lib/homelab-agent].
    #[arg(long, env = "HOMELAB_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
}

/// The config file's shape; every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    server: Option<String>,
    token: Option<String>,
    heartbeat_interval: Option<u64>,
    state_dir: Option<PathBuf>,
    allowed_actions: Option<Vec<ActionType>>,
    /// Seconds apt waits for the dpkg lock on each attempt.
    apt_lock_wait: Option<u64>,
}

/// Why the agent cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{0} is required (flag, environment variable or config file)")]
    Missing(&'static str),
    #[error("server URL `{0}` must start with http:// or https://")]
    BadServerUrl(String),
    #[error("the token must be printable ASCII without spaces")]
    BadToken,
    #[error("heartbeat interval must be between 1 and 3600 seconds, got {0}")]
    BadInterval(u64),
}

/// The settings the agent runs with, all checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The server's base URL, without a trailing slash.
    pub server: String,
    pub token: String,
    pub heartbeat_interval: Duration,
    pub state_dir: PathBuf,
    /// The action types this machine lets the server run.
    pub allowed_actions: HashSet<ActionType>,
    /// How long apt waits for the dpkg lock on each attempt.
    pub apt_lock_wait: Duration,
}

impl Config {
    /// Reads the config file (if any) and merges the flags over it.
    pub fn load(args: Args) -> Result<Config, ConfigError> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        Self::merge(args, file)
    }

    fn merge(args: Args, file: FileConfig) -> Result<Config, ConfigError> {
        let server = args
            .server
            .or(file.server)
            .ok_or(ConfigError::Missing("--server"))?;
        let server = server.trim().trim_end_matches('/').to_owned();
        if !(server.starts_with("http://") || server.starts_with("https://")) {
            return Err(ConfigError::BadServerUrl(server));
        }
        let token = args
            .token
            .or(file.token)
            .ok_or(ConfigError::Missing("--token"))?;
        let token = token.trim().to_owned();
        if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ConfigError::BadToken);
        }
        let interval = args
            .heartbeat_interval
            .or(file.heartbeat_interval)
            .unwrap_or(60);
        if !(1..=3600).contains(&interval) {
            return Err(ConfigError::BadInterval(interval));
        }
        Ok(Config {
            server,
            token,
            heartbeat_interval: Duration::from_secs(interval),
            state_dir: args
                .state_dir
                .or(file.state_dir)
                .unwrap_or_else(|| PathBuf::from("/var/lib/homelab-agent")),
            apt_lock_wait: Duration::from_secs(file.apt_lock_wait.unwrap_or(60).clamp(1, 600)),
            allowed_actions: file
                .allowed_actions
                .unwrap_or_else(|| ActionType::ALL.to_vec())
                .into_iter()
                .collect(),
        })
    }
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(server: Option<&str>, token: Option<&str>) -> Args {
        Args {
            server: server.map(str::to_owned),
            token: token.map(str::to_owned),
            ..Args::default()
        }
    }

    #[test]
    fn flags_alone_give_a_config_with_defaults() {
        let config = Config::load(args(Some("http://cmd.lan:3000/"), Some("hca_x"))).unwrap();
        assert_eq!(config.server, "http://cmd.lan:3000");
        assert_eq!(config.heartbeat_interval, Duration::from_secs(60));
        assert_eq!(config.state_dir, PathBuf::from("/var/lib/homelab-agent"));
        assert_eq!(config.allowed_actions, all_actions());
    }

    fn all_actions() -> HashSet<ActionType> {
        ActionType::ALL.iter().copied().collect()
    }

    #[test]
    fn the_file_fills_in_and_flags_win() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.toml");
        std::fs::write(
            &path,
            r#"
server = "http://from-file:3000"
token = "hca_file"
heartbeat_interval = 5
allowed_actions = ["apt_update", "restart_service"]
"#,
        )
        .unwrap();
        let mut a = args(Some("https://from-flag"), None);
        a.config = Some(path);
        let config = Config::load(a).unwrap();
        assert_eq!(config.server, "https://from-flag");
        assert_eq!(config.token, "hca_file");
        assert_eq!(config.heartbeat_interval, Duration::from_secs(5));
        assert_eq!(
            config.allowed_actions,
            HashSet::from([ActionType::AptUpdate, ActionType::RestartService])
        );
    }

    #[test]
    fn bad_settings_are_refused_with_a_clear_message() {
        let cases: [(Args, &str); 5] = [
            (args(None, Some("t")), "--server is required"),
            (args(Some("http://x"), None), "--token is required"),
            (args(Some("ftp://x"), Some("t")), "must start with http://"),
            (args(Some("http://x"), Some("a b")), "printable ASCII"),
            (
                Args {
                    heartbeat_interval: Some(0),
                    ..args(Some("http://x"), Some("t"))
                },
                "between 1 and 3600",
            ),
        ];
        for (a, expected) in cases {
            let err = Config::load(a).unwrap_err().to_string();
            assert!(
                err.contains(expected),
                "{err:?} should contain {expected:?}"
            );
        }
    }

    #[test]
    fn unknown_keys_and_action_types_in_the_file_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for (body, expected) in [
            ("servr = \"http://x\"", "unknown field"),
            ("allowed_actions = [\"rm_rf\"]", "rm_rf"),
        ] {
            let path = dir.path().join("agent.toml");
            std::fs::write(&path, body).unwrap();
            let err = Config::load(Args {
                config: Some(path),
                ..args(Some("http://x"), Some("t"))
            })
            .unwrap_err()
            .to_string();
            assert!(err.contains(expected), "{err}");
        }
    }
}

#[cfg(test)]
mod example_tests {
    use super::*;

    #[test]
    fn the_shipped_example_config_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("dist/agent.example.toml");
        let config = Config::load(Args {
            config: Some(path),
            ..Args::default()
        })
        .unwrap();
        assert_eq!(config.server, "http://homelab.lan:3000");
        assert_eq!(
            config.allowed_actions,
            ActionType::ALL.iter().copied().collect()
        );
    }
}
