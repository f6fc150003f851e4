//! The server's config file: TOML with any of `serve`'s settings, under the flags and
//! their environment variables. clap says where each value came from, so the file
//! fills in exactly the settings that were left at their defaults: flags beat the
//! environment, the environment beats the file, the file beats the defaults.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use clap::ArgMatches;
use clap::parser::ValueSource;
use serde::{Deserialize, Deserializer};

use homelab_protocol::timeouts::TIMEOUT_RANGE;

use super::{Command, HttpArgs, ServeArgs};
use crate::onboarding::PublicUrl;

/// Where the file is looked for when `--config` is not given.
pub const DEFAULT_PATH: &str = "/etc/homelab-cmd/config.toml";

/// A config file is a few hundred bytes; anything near this is a mistake.
pub const MAX_BYTES: u64 = 64 * 1024;

/// Why the config file cannot be used. The messages name the file; those about a
/// setting name its key and line. None ever shows a value (a `database_url` may
/// hold a password).
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {0} is not a regular file")]
    NotAFile(String),
    #[error("config file {0} is larger than {MAX_BYTES} bytes")]
    TooLarge(String),
    #[error("config file {0} is not UTF-8 text")]
    NotText(String),
    #[error("{path} line {line}: {message}")]
    Setting {
        path: String,
        line: usize,
        message: String,
    },
    #[error("config file {path}: {message}")]
    Invalid { path: String, message: String },
}

/// The file's shape: every key optional, none other allowed.
#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<SocketAddr>,
    pub database_url: Option<DatabaseUrl>,
    pub heartbeat_interval: Option<Ranged<1, 3600>>,
    /// A table of seconds by action type: `{ apt_upgrade_all = 900 }`.
    pub action_timeouts: Option<FileTimeouts>,
    pub site_root: Option<PathBuf>,
    pub public_url: Option<Parsed<PublicUrl>>,
    /// One file, or a list of them (one per machine type).
    pub agent_binary: Option<OneOrMore<PathBuf>>,
    pub max_connections: Option<Ranged<16, 1_000_000>>,
    pub header_read_timeout: Option<Ranged<1, 600>>,
}

/// A database URL from the file: `Debug` never shows its password.
#[derive(PartialEq, Deserialize)]
#[serde(transparent)]
pub struct DatabaseUrl(pub String);

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::db::redacted(&self.0))
    }
}

/// An integer the flag would accept: within `MIN..=MAX`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ranged<const MIN: u32, const MAX: u32>(pub u32);

impl<'de, const MIN: u32, const MAX: u32> Deserialize<'de> for Ranged<MIN, MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Number<const MIN: u32, const MAX: u32>;
        impl<const MIN: u32, const MAX: u32> serde::de::Visitor<'_> for Number<MIN, MAX> {
            type Value = Ranged<MIN, MAX>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a whole number from {MIN} to {MAX}")
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Self::Value, E> {
                u32::try_from(n)
                    .ok()
                    .filter(|n| (MIN..=MAX).contains(n))
                    .map(Ranged)
                    .ok_or_else(|| E::custom(format!("must be a number from {MIN} to {MAX}")))
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Self::Value, E> {
                self.visit_i64(i64::try_from(n).unwrap_or(i64::MAX))
            }
        }
        d.deserialize_i64(Number::<MIN, MAX>)
    }
}

/// A string parsed as the flag parses it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Parsed<T>(pub T);

impl<'de, T: FromStr> Deserialize<'de> for Parsed<T>
where
    T::Err: fmt::Display,
{
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map(Parsed).map_err(serde::de::Error::custom)
    }
}

/// A key that takes one value or a list of them: `"a"` or `["a", "b"]`.
#[derive(Debug, Clone, PartialEq)]
pub struct OneOrMore<T>(pub Vec<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMore<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged, expecting = "one value or a list of them")]
        enum Shape<T> {
            One(T),
            More(Vec<T>),
        }
        Ok(OneOrMore(match Shape::deserialize(d)? {
            Shape::One(one) => vec![one],
            Shape::More(more) => more,
        }))
    }
}

/// `[action_timeouts]`: seconds by action type, checked as `--action-timeouts` is.
#[derive(Debug, Clone, PartialEq)]
pub struct FileTimeouts(pub homelab_protocol::Timeouts);

impl<'de> Deserialize<'de> for FileTimeouts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Typed entries, so that a bad one is reported at its own line.
        let table = std::collections::HashMap::<
            Parsed<homelab_protocol::ActionType>,
            Ranged<{ *TIMEOUT_RANGE.start() }, { *TIMEOUT_RANGE.end() }>,
        >::deserialize(d)?;
        let text = table
            .iter()
            .map(|(k, v)| format!("{}={}", k.0, v.0))
            .collect::<Vec<_>>()
            .join(",");
        text.parse()
            .map(FileTimeouts)
            .map_err(serde::de::Error::custom)
    }
}

/// Which file to read: the one named (which must exist), else the default path when
/// something is there, else none.
pub fn chosen(named: Option<&Path>, default: &Path) -> Option<PathBuf> {
    match named {
        Some(path) => Some(path.to_owned()),
        // Only "not there" means no file: a dangling link, or a directory we may not
        // look into, is reported rather than silently skipped.
        None => match default.symlink_metadata() {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            _ => Some(default.to_owned()),
        },
    }
}

/// Reads and parses the file at `path`.
pub fn read(path: &Path) -> Result<FileConfig, ConfigFileError> {
    use std::io::Read as _;
    let shown = path.display().to_string();
    let read_err = |source| ConfigFileError::Read {
        path: shown.clone(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_err)?;
    if !file.metadata().map_err(read_err)?.is_file() {
        return Err(ConfigFileError::NotAFile(shown));
    }
    let mut bytes = Vec::new();
    file.take(MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(ConfigFileError::TooLarge(shown));
    }
    let text = String::from_utf8(bytes).map_err(|_| ConfigFileError::NotText(shown.clone()))?;
    parse(&text, &shown)
}

/// Parses the text of a config file; `shown` names it in errors.
pub fn parse(text: &str, shown: &str) -> Result<FileConfig, ConfigFileError> {
    toml::from_str(text).map_err(|e| located(text, shown, &e))
}

/// The error with its line and key, in the file's words. toml's own rendering quotes
/// the offending line, which may hold a password: only its message is used.
fn located(text: &str, shown: &str, e: &toml::de::Error) -> ConfigFileError {
    let message = scrub(&e.message().replace("unknown field", "unknown key"));
    // "unknown key `x`, expected one of ...": the key is the news.
    let message = match message.split_once(", expected one of") {
        Some((head, _)) if head.starts_with("unknown key") => head.to_owned(),
        _ => message,
    };
    let Some(span) = e.span() else {
        return ConfigFileError::Invalid {
            path: shown.to_owned(),
            message,
        };
    };
    let start = span.start.min(text.len());
    let line = text[..start].matches('\n').count() + 1;
    let line_text = text.lines().nth(line - 1).unwrap_or("");
    let key = line_text
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"'))
        .filter(|k| !k.is_empty() && !k.starts_with('['));
    let message = match key {
        Some(key) if !message.contains(&format!("`{key}`")) => format!("`{key}`: {message}"),
        _ => message,
    };
    ConfigFileError::Setting {
        path: shown.to_owned(),
        line,
        // The key comes from the file's text, which may hold a password too.
        message: scrub(&message),
    }
}

/// `message` with any URL's password replaced by `***`.
fn scrub(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '`' | '\''))
            .unwrap_or(tail.len());
        out.push_str(&crate::db::redacted(&format!("x://{}", &tail[..end]))[4..]);
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// Whether `id` was left at its default (neither a flag nor the environment set it).
fn unset(matches: &ArgMatches, id: &str) -> bool {
    !matches!(
        matches.value_source(id),
        Some(ValueSource::CommandLine | ValueSource::EnvVariable)
    )
}

/// The matches of the command that runs (`server add`, not `server`).
fn leaf(matches: &ArgMatches) -> &ArgMatches {
    match matches.subcommand() {
        Some((_, sub)) => leaf(sub),
        None => matches,
    }
}

/// Puts the file's settings where the flags and environment left defaults.
pub fn apply(file: FileConfig, command: &mut Command, matches: &ArgMatches) {
    let m = leaf(matches);
    let set = |id: &str| unset(m, id);
    if let (Some(url), Some(database)) = (file.database_url, command.database_mut())
        && set("database_url")
    {
        database.database_url = url.0;
    }
    let Command::Serve(serve) = command else {
        return;
    };
    let ServeArgs {
        listen,
        heartbeat_interval,
        action_timeouts,
        site_root,
        http: HttpArgs {
            max_connections,
            header_read_timeout,
        },
        onboarding,
        database: _,
    } = serve;
    fn fill<T>(slot: &mut T, value: Option<T>, unset: bool) {
        if let (Some(value), true) = (value, unset) {
            *slot = value;
        }
    }
    fill(listen, file.listen, set("listen"));
    fill(
        heartbeat_interval,
        file.heartbeat_interval.map(|r| r.0),
        set("heartbeat_interval"),
    );
    fill(
        action_timeouts,
        file.action_timeouts.map(|t| t.0),
        set("action_timeouts"),
    );
    fill(site_root, file.site_root, set("site_root"));
    fill(
        max_connections,
        file.max_connections.map(|r| r.0),
        set("max_connections"),
    );
    fill(
        header_read_timeout,
        file.header_read_timeout.map(|r| r.0),
        set("header_read_timeout"),
    );
    if set("public_url")
        && let Some(url) = file.public_url
    {
        onboarding.public_url = Some(url.0);
    }
    if set("agent_binary")
        && let Some(paths) = file.agent_binary
    {
        onboarding.agent_binary = paths.0;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use homelab_protocol::ActionType;

    use super::*;
    use crate::config::{Cli, LoadError};

    /// A default path that is never there.
    fn nowhere() -> PathBuf {
        PathBuf::from("/nonexistent/homelab-cmd/config.toml")
    }

    fn load(args: &[&str]) -> Result<Cli, LoadError> {
        Cli::load_from(
            std::iter::once("homelab-cmd").chain(args.iter().copied()),
            &nowhere(),
        )
    }

    fn serve(cli: Cli) -> ServeArgs {
        match cli.command {
            Command::Serve(args) => args,
            other => panic!("expected serve, got {other:?}"),
        }
    }

    fn write(dir: &tempfile::TempDir, body: impl AsRef<[u8]>) -> String {
        let path = dir.path().join("config.toml");
        std::fs::write(&path, body).unwrap();
        path.display().to_string()
    }

    fn error(dir: &tempfile::TempDir, body: impl AsRef<[u8]>) -> String {
        let path = write(dir, body);
        load(&["serve", "--config", &path]).unwrap_err().to_string()
    }

    #[test]
    fn the_shipped_example_config_is_valid_and_holds_the_defaults() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("dist/config.example.toml");
        let text = std::fs::read_to_string(&example).unwrap();
        let parsed = parse(&text, "config.example.toml").unwrap();
        // Every key is in it (the commented-out ones have no default).
        for key in [
            "listen",
            "database_url",
            "heartbeat_interval",
            "action_timeouts",
            "site_root",
            "public_url",
            "agent_binary",
            "max_connections",
            "header_read_timeout",
        ] {
            assert!(
                text.contains(&format!("\n{key} ="))
                    || text.contains(&format!("# {key} ="))
                    || text.contains(&format!("[{key}]")),
                "{key} is missing"
            );
        }
        assert!(parsed.public_url.is_none() && parsed.agent_binary.is_none());

        let with = serve(load(&["serve", "--config", &example.display().to_string()]).unwrap());
        let without = serve(load(&["serve"]).unwrap());
        assert_eq!(with.listen, without.listen);
        assert_eq!(with.database.database_url, without.database.database_url);
        assert_eq!(with.heartbeat_interval, without.heartbeat_interval);
        assert_eq!(with.site_root, without.site_root);
        assert_eq!(with.http.max_connections, without.http.max_connections);
        assert_eq!(
            with.http.header_read_timeout,
            without.http.header_read_timeout
        );
        assert!(with.onboarding.public_url.is_none() && with.onboarding.agent_binary.is_empty());
        for &t in ActionType::ALL {
            assert_eq!(
                with.action_timeouts.get(t),
                without.action_timeouts.get(t),
                "{t:?}"
            );
        }
    }

    #[test]
    fn agent_binaries_are_one_file_or_a_list_and_the_flag_replaces_the_list() {
        let dir = tempfile::tempdir().unwrap();
        let one = write(&dir, r#"agent_binary = "/opt/a""#);
        let args = serve(load(&["serve", "--config", &one]).unwrap());
        assert_eq!(args.onboarding.agent_binary, [PathBuf::from("/opt/a")]);

        let list = write(&dir, r#"agent_binary = ["/opt/a", "/opt/b"]"#);
        let args = serve(load(&["serve", "--config", &list]).unwrap());
        assert_eq!(
            args.onboarding.agent_binary,
            [PathBuf::from("/opt/a"), PathBuf::from("/opt/b")]
        );
        let args = serve(
            load(&[
                "serve",
                "--config",
                &list,
                "--agent-binary",
                "/x",
                "--agent-binary",
                "/y,/z",
            ])
            .unwrap(),
        );
        assert_eq!(
            args.onboarding.agent_binary,
            [
                PathBuf::from("/x"),
                PathBuf::from("/y"),
                PathBuf::from("/z")
            ]
        );

        for bad in [
            "agent_binary = 7",
            "agent_binary = [\"/a\", 7]",
            "agent_binary = { path = \"/a\" }",
        ] {
            let err = error(&dir, bad);
            assert!(
                err.contains("line 1") && err.contains("agent_binary"),
                "{err}"
            );
            assert!(err.contains("one value or a list of them"), "{err}");
        }
    }

    #[test]
    fn the_file_fills_in_what_the_flags_leave_and_flags_win() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            r#"
listen = "127.0.0.1:4000"
database_url = "sqlite://from-file.db"
heartbeat_interval = 5
public_url = "http://homelab.lan:3000/"
max_connections = 64

[action_timeouts]
apt_upgrade_all = 900
"#,
        );
        // `--config` is global: before or after the subcommand.
        let args =
            serve(load(&["serve", "--config", &path, "--listen", "127.0.0.1:5000"]).unwrap());
        assert_eq!(
            args.listen,
            "127.0.0.1:5000".parse().unwrap(),
            "the flag wins"
        );
        assert_eq!(args.database.database_url, "sqlite://from-file.db");
        assert_eq!(args.heartbeat_interval(), Duration::from_secs(5));
        assert_eq!(
            args.onboarding.public_url.unwrap().as_str(),
            "http://homelab.lan:3000"
        );
        assert_eq!(args.http.max_connections, 64);
        assert_eq!(args.http.header_read_timeout, 15, "the default stays");
        assert_eq!(args.action_timeouts.get(ActionType::AptUpgradeAll), 900);
        assert_eq!(args.action_timeouts.get(ActionType::AptUpdate), 120);

        // The one-off commands take the file's database.
        let cli = load(&["--config", &path, "server", "add", "nas", "NAS"]).unwrap();
        let Command::Server(crate::config::ServerCommand::Add { database, .. }) = cli.command
        else {
            panic!("expected server add");
        };
        assert_eq!(database.database_url, "sqlite://from-file.db");
        let cli = load(&[
            "backup",
            "x.db",
            "--config",
            &path,
            "--database-url",
            "sqlite://flag.db",
        ])
        .unwrap();
        let Command::Backup(backup) = cli.command else {
            panic!("expected backup");
        };
        assert_eq!(backup.database.database_url, "sqlite://flag.db");
    }

    #[test]
    fn the_default_file_is_read_only_when_it_is_there_and_a_named_one_must_be() {
        let dir = tempfile::tempdir().unwrap();
        let default = dir.path().join("config.toml");
        assert_eq!(chosen(None, &default), None);
        let named = dir.path().join("other.toml");
        assert_eq!(chosen(Some(&named), &default), Some(named.clone()));
        let err = load(&["serve", "--config", &named.display().to_string()])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("cannot read config file") && err.contains("other.toml"),
            "{err}"
        );

        std::fs::write(&default, "heartbeat_interval = 7\n").unwrap();
        let cli = Cli::load_from(["homelab-cmd", "serve"], &default).unwrap();
        assert_eq!(serve(cli).heartbeat_interval, 7);
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key_and_its_line() {
        let dir = tempfile::tempdir().unwrap();
        for (body, expected) in [
            (
                "listen = \"127.0.0.1:3000\"\n\n# a comment\nlistn = \"x\"\n",
                "config.toml line 4: unknown key `listn`",
            ),
            (
                "\n[http]\nmax_connections = 20\n",
                "line 2: unknown key `http`",
            ),
            (
                "heartbeat_interval = \"often\"\n",
                "line 1: `heartbeat_interval`: invalid type: string \"often\", expected a whole number from 1 to 3600",
            ),
            (
                "\n\nheartbeat_interval = 0\n",
                "line 3: `heartbeat_interval`: must be a number from 1 to 3600",
            ),
            (
                "max_connections = -1\n",
                "line 1: `max_connections`: must be a number from 16",
            ),
            ("listen = \"localhost\"\n", "line 1: `listen`"),
            (
                "listen = \"127.0.0.1:1\"\nlisten = \"127.0.0.1:2\"\n",
                "line 2: `listen`: duplicate key",
            ),
            (
                "[action_timeouts]\napt_update = 1\n",
                "line 2: `apt_update`: must be a number from 5 to 7200",
            ),
            (
                "[action_timeouts]\n\nrm_rf = 60\n",
                "line 3: unknown action type `rm_rf`",
            ),
            (
                "public_url = \"ftp://x\"\n",
                "line 1: `public_url`: must start with http://",
            ),
            ("site_root = [1, 2]\n", "line 1: `site_root`"),
            ("listen = \n", "line 1"),
            ("\u{1}\u{2}garbage = = =\n", "line 1"),
        ] {
            let err = error(&dir, body);
            assert!(
                err.contains(expected),
                "{body:?}: {err:?} should contain {expected:?}"
            );
            assert!(!err.contains('\n'), "one line: {err:?}");
        }
    }

    #[test]
    fn files_that_are_not_config_files_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 131 % 256) as u8).collect();
        assert!(error(&dir, garbage).contains("not UTF-8 text"));
        let huge = format!("# {}\n", "x".repeat(10 * 1024 * 1024));
        assert!(error(&dir, huge).contains("larger than"));
        let err = load(&["serve", "--config", &dir.path().display().to_string()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a regular file"), "{err}");
        // A regular file whose read fails, even for root.
        let err = load(&["serve", "--config", "/proc/self/mem"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("cannot read config file /proc/self/mem"),
            "{err}"
        );
        // root reads any file: the mode cannot make one unreadable.
        if unsafe { libc::geteuid() } != 0 {
            use std::os::unix::fs::PermissionsExt as _;
            let path = write(&dir, "listen = \"127.0.0.1:1\"\n");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
            let err = load(&["serve", "--config", &path]).unwrap_err().to_string();
            assert!(err.contains("cannot read config file"), "{err}");
        }
    }

    #[test]
    fn a_password_in_the_file_never_shows_in_an_error() {
        let dir = tempfile::tempdir().unwrap();
        for body in [
            "database_url = \"postgres://homelab:hunter2@db/homelab\"\nlistn = 1\n",
            "database_url = 5\n",
            "heartbeat_interval = \"postgres://homelab:hunter2@db/homelab\"\n",
            "listen = \"postgres://homelab:hunter2@db/homelab\"\n",
            "[action_timeouts]\n\"postgres://homelab:hunter2@db\" = 5\n",
            "database_url = \"postgres://homelab:hunter2@db/homelab\"\ndatabase_url = \"x\"\n",
        ] {
            let err = error(&dir, body);
            assert!(!err.contains("hunter2"), "{err}");
        }
        let parsed = parse("database_url = \"postgres://u:hunter2@db/x\"", "c").unwrap();
        assert!(!format!("{parsed:?}").contains("hunter2"));
    }
}
