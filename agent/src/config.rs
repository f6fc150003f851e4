//! The agent's configuration: flags, their environment twins, and an optional TOML
//! file. A flag beats the file; the file beats the defaults. `allowed_actions` lives
//! only here, on the machine, where no server can change it, and so does
//! `allowed_units`. The token comes from a file (`--token-file`, `token_file`) or the
//! config file; `--token` still works but puts it in argv, which every local user can
//! read, so it is deprecated.
//!
//! The server may be a list (several replicas on one database): `--server` repeated
//! or comma-separated, the same in `HOMELAB_SERVER`, a string or an array in the
//! file; [`ServerList`] parses them all the same way.

mod servers;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use homelab_protocol::ActionType;
use serde::Deserialize;

use crate::units::UnitGlob;

use servers::FileServers;
pub use servers::{MAX_SERVERS, ServerList, ServerListError, ServerUrl, UrlProblem};

/// homelab-agent: reports this machine's health and pending apt updates to
/// homelab-cmd and runs the actions its admin approved.
#[derive(Debug, Default, Parser)]
#[command(name = "homelab-agent", version, about)]
pub struct Args {
    /// A TOML file with any of the settings below (flags win over it).
    #[arg(long, env = "HOMELAB_AGENT_CONFIG")]
    pub config: Option<PathBuf>,

    /// The homelab-cmd server, e.g. `http://homelab.lan:3000`. For several replicas
    /// repeat the flag or separate URLs with commas (at most 16; no `user:password@`):
    /// the agent sticks to one while it answers and moves to the next when it stops
    /// answering.
    #[arg(long, env = "HOMELAB_SERVER", value_name = "URL[,URL...]")]
    pub server: Vec<String>,

    /// A file holding this machine's agent token (mode 0600), shown once when the
    /// server was added.
    #[arg(long, env = "HOMELAB_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,

    /// Deprecated: the token itself. On the command line every local user can read
    /// it (ps); use --token-file, the config file or the environment variable.
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
    /// One URL, a comma-separated list, or an array of URLs.
    server: Option<FileServers>,
    token: Option<String>,
    token_file: Option<PathBuf>,
    heartbeat_interval: Option<u64>,
    state_dir: Option<PathBuf>,
    allowed_actions: Option<Vec<ActionType>>,
    allowed_units: Option<Vec<UnitGlob>>,
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
    #[error(transparent)]
    Servers(ServerListError),
    #[error("the token must be printable ASCII without spaces")]
    BadToken,
    #[error("cannot read token file {path}: {source}")]
    TokenFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "token file {path} can be read or changed by other users (mode {mode:04o}); run chmod 600 on it"
    )]
    TokenFileOpen { path: PathBuf, mode: u32 },
    #[error("heartbeat interval must be between 1 and 3600 seconds, got {0}")]
    BadInterval(u64),
}

/// The settings the agent runs with, all checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The servers' base URLs, in the order they are tried.
    pub servers: ServerList,
    pub token: String,
    pub heartbeat_interval: Duration,
    pub state_dir: PathBuf,
    /// The action types this machine lets the server run.
    pub allowed_actions: HashSet<ActionType>,
    /// The units `restart_service` may restart; None: every `.service` unit.
    pub allowed_units: Option<Vec<UnitGlob>>,
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
        let token = Self::token(&args, &file)?;
        // The flag (or its variable) replaces the file's list, never adds to it.
        let entries = if args.server.is_empty() {
            file.server.unwrap_or_default().0
        } else {
            args.server
        };
        let servers =
            ServerList::parse(entries.iter().map(String::as_str)).map_err(|e| match e {
                ServerListError::Empty => ConfigError::Missing("--server"),
                e => ConfigError::Servers(e),
            })?;
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
            servers,
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
            allowed_units: file.allowed_units,
        })
    }

    /// The token, from the most specific source: a token file named by a flag, the
    /// token flag or its variable, then the config file's `token_file` or `token`.
    fn token(args: &Args, file: &FileConfig) -> Result<String, ConfigError> {
        if let Some(path) = &args.token_file {
            return read_token_file(path);
        }
        if let Some(token) = &args.token {
            // clap fills `token` from HOMELAB_TOKEN too; only argv is a leak.
            if std::env::var("HOMELAB_TOKEN").ok().as_ref() != Some(token) {
                tracing::warn!(
                    "--token is deprecated: every local user can read the command line; \
                     use --token-file FILE (mode 0600) or `token_file` in the config file"
                );
            }
            return Ok(token.clone());
        }
        if let Some(path) = &file.token_file {
            return read_token_file(path);
        }
        file.token
            .clone()
            .ok_or(ConfigError::Missing("--token-file"))
    }
}

/// Reads a token file, refusing one that other users can read or change.
fn read_token_file(path: &Path) -> Result<String, ConfigError> {
    use std::os::unix::fs::PermissionsExt;
    let io = |source| ConfigError::TokenFile {
        path: path.to_owned(),
        source,
    };
    let mode = std::fs::metadata(path).map_err(io)?.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(ConfigError::TokenFileOpen {
            path: path.to_owned(),
            mode,
        });
    }
    std::fs::read_to_string(path).map_err(io)
}

/// What is wrong with the file, and on which line. toml's own rendering quotes the
/// offending line, which may hold the token: only its message is used.
fn parse_message(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim().replace('\n', "; ");
    match e.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("line {line}: {message}")
        }
        None => message,
    }
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    use std::os::unix::fs::PermissionsExt;
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let file: FileConfig = toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.to_owned(),
        message: parse_message(&text, &e),
    })?;
    let mode = std::fs::metadata(path).map(|m| m.permissions().mode() & 0o7777);
    if file.token.is_some() && mode.is_ok_and(|m| m & 0o077 != 0) {
        tracing::warn!(
            path = %path.display(),
            "the config file holds the token and other users can read it; run chmod 600 on it"
        );
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(server: Option<&str>, token: Option<&str>) -> Args {
        Args {
            server: server.into_iter().map(str::to_owned).collect(),
            token: token.map(str::to_owned),
            ..Args::default()
        }
    }

    #[test]
    fn flags_alone_give_a_config_with_defaults() {
        let config = Config::load(args(Some("http://cmd.lan:3000/"), Some("hca_x"))).unwrap();
        assert_eq!(config.servers.to_string(), "http://cmd.lan:3000");
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
        assert_eq!(config.servers.to_string(), "https://from-flag");
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
            (args(Some("http://x"), None), "--token-file is required"),
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
            ("servr = \"http://x\"", "line 1: unknown field"),
            ("allowed_actions = [\"rm_rf\"]", "rm_rf"),
            ("heartbeat_interval = 60\nstate_dir = 5", "line 2"),
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

    #[test]
    fn a_broken_line_is_named_without_the_token_on_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.toml");
        for body in [
            "token = \"hca_s3cret\nserver = \"http://x\"",
            "token = hca_s3cret",
            "token = \"hca_s3cret\" trailing",
            "token = [\"hca_s3cret\"]",
        ] {
            std::fs::write(&path, body).unwrap();
            let err = Config::load(Args {
                config: Some(path.clone()),
                ..args(Some("http://x"), None)
            })
            .unwrap_err()
            .to_string();
            assert!(err.contains("line 1"), "{err}");
            assert!(!err.contains("s3cret"), "the token is in the error: {err}");
        }
    }
}

#[cfg(test)]
mod token_and_unit_tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn with_file(body: &str, dir: &Path) -> Args {
        let path = dir.join("agent.toml");
        std::fs::write(&path, body).unwrap();
        Args {
            config: Some(path),
            server: vec!["http://x".into()],
            ..Args::default()
        }
    }

    fn token_file(dir: &Path, mode: u32) -> PathBuf {
        let path = dir.join("token");
        std::fs::write(&path, "hca_from_file\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn the_token_is_read_from_a_private_file_by_flag_or_config_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = token_file(dir.path(), 0o600);
        let by_flag = Args {
            server: vec!["http://x".into()],
            token_file: Some(path.clone()),
            ..Args::default()
        };
        assert_eq!(Config::load(by_flag).unwrap().token, "hca_from_file");
        let by_key = with_file(
            &format!("token_file = {:?}", path.display().to_string()),
            dir.path(),
        );
        assert_eq!(Config::load(by_key).unwrap().token, "hca_from_file");
    }

    #[test]
    fn a_token_file_others_can_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = token_file(dir.path(), 0o644);
        let err = Config::load(Args {
            server: vec!["http://x".into()],
            token_file: Some(path),
            ..Args::default()
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("mode 0644") && err.contains("chmod 600"),
            "{err}"
        );
        let missing = Config::load(Args {
            server: vec!["http://x".into()],
            token_file: Some(dir.path().join("nope")),
            ..Args::default()
        })
        .unwrap_err();
        assert!(
            matches!(missing, ConfigError::TokenFile { .. }),
            "{missing}"
        );
    }

    #[test]
    fn allowed_units_are_globs_of_service_units() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::load(with_file(
            "token = \"t\"\nallowed_units = [\"nginx\", \"docker*.service\"]",
            dir.path(),
        ))
        .unwrap();
        let globs: Vec<String> = config
            .allowed_units
            .unwrap()
            .into_iter()
            .map(String::from)
            .collect();
        assert_eq!(globs, ["nginx.service", "docker*.service"]);
        let absent = Config::load(with_file("token = \"t\"", dir.path())).unwrap();
        assert_eq!(absent.allowed_units, None, "absent: every .service unit");
        let err = Config::load(with_file(
            "token = \"t\"\nallowed_units = [\"*.target\"]",
            dir.path(),
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("only .service"), "{err}");
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
        assert_eq!(config.servers.to_string(), "http://homelab.lan:3000");
        assert_eq!(
            config.allowed_actions,
            ActionType::ALL.iter().copied().collect()
        );
        assert_eq!(
            config.allowed_units, None,
            "the example lists globs commented out"
        );
    }
}

#[cfg(test)]
mod server_list_tests {
    use super::*;

    fn from_argv(argv: &[&str]) -> Result<Config, ConfigError> {
        let args = Args::try_parse_from(
            ["homelab-agent", "--token", "t"]
                .iter()
                .chain(argv)
                .copied(),
        )
        .unwrap();
        Config::merge(args, FileConfig::default())
    }

    fn from_file(body: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.toml");
        std::fs::write(&path, format!("token = \"t\"\n{body}")).unwrap();
        Config::load(Args {
            config: Some(path),
            ..Args::default()
        })
    }

    #[test]
    fn the_flag_may_be_repeated_and_hold_comma_separated_lists() {
        let config = from_argv(&[
            "--server",
            "http://a:3000/, http://b:3000",
            "--server",
            "https://c",
        ])
        .unwrap();
        assert_eq!(
            config.servers.to_string(),
            "http://a:3000,http://b:3000,https://c"
        );
        let one = from_argv(&["--server", "http://a:3000/"]).unwrap();
        assert_eq!(one.servers.as_slice().len(), 1);
        assert_eq!(one.servers.as_slice()[0].as_str(), "http://a:3000");
    }

    #[test]
    fn the_file_takes_a_string_a_comma_list_or_an_array() {
        for (body, expected) in [
            ("server = \"http://a/\"", "http://a"),
            ("server = \"http://a, http://b\"", "http://a,http://b"),
            (
                "server = [\"http://a\", \"https://b:8443/\"]",
                "http://a,https://b:8443",
            ),
        ] {
            let config = from_file(body).unwrap();
            assert_eq!(config.servers.to_string(), expected, "{body}");
        }
    }

    #[test]
    fn a_flag_replaces_the_files_list() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.toml");
        std::fs::write(
            &path,
            "token = \"t\"\nserver = [\"http://a\", \"http://b\"]",
        )
        .unwrap();
        let config = Config::load(Args {
            config: Some(path),
            server: vec!["http://c".into()],
            ..Args::default()
        })
        .unwrap();
        assert_eq!(config.servers.to_string(), "http://c");
    }

    #[test]
    fn worst_values_are_refused_with_a_message_naming_the_entry() {
        let flag_cases: [(&[&str], &str); 8] = [
            (&["--server", ""], "--server is required"),
            (&["--server", " , "], "--server is required"),
            (&["--server", "http://a,,http://b"], "entry 2 of 3 is empty"),
            (
                &["--server", "http://a", "--server", "ftp://b"],
                "`ftp://b` must start with http://",
            ),
            (
                &["--server", "http://a,gopher://b"],
                "`gopher://b` must start with http://",
            ),
            (&["--server", "http://a,http://a/"], "listed twice"),
            (
                &["--server", "http://root:hunter2@hub"],
                "`http://***@hub` holds a user name or password",
            ),
            (&["--server", "http://a b"], "is not a valid URL"),
        ];
        for (argv, expected) in flag_cases {
            let err = from_argv(argv).unwrap_err().to_string();
            assert!(err.contains(expected), "{argv:?}: {err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
        let thousand: Vec<String> = (0..1000).map(|i| format!("\"http://r{i}\"")).collect();
        let file_cases = [
            ("server = []", "--server is required".to_owned()),
            ("server = \"\"", "--server is required".to_owned()),
            (
                "server = [\"http://a\", \"\"]",
                "entry 2 of 2 is empty".to_owned(),
            ),
            (
                &*format!("server = [{}]", thousand.join(",")),
                format!("1000 server URLs given; at most {MAX_SERVERS}"),
            ),
            ("server = 3", "a URL or an array of URLs".to_owned()),
            ("server = [3]", "expected a string".to_owned()),
        ];
        for (body, expected) in file_cases {
            let err = from_file(body).unwrap_err().to_string();
            assert!(
                err.contains(&expected),
                "{}: {err}",
                &body[..body.len().min(40)]
            );
        }
    }
}
