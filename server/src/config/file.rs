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
    pub agent_binary: Option<PathBuf>,
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
        let n = i64::deserialize(d)?;
        u32::try_from(n)
            .ok()
            .filter(|n| (MIN..=MAX).contains(n))
            .map(Ranged)
            .ok_or_else(|| {
                serde::de::Error::custom(format!("must be a number from {MIN} to {MAX}"))
            })
    }
}

/// A string parsed as the flag parses it.
#[derive(Debug, Clone, PartialEq)]
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

/// `[action_timeouts]`: seconds by action type, checked as `--action-timeouts` is.
#[derive(Debug, Clone, PartialEq)]
pub struct FileTimeouts(pub homelab_protocol::Timeouts);

impl<'de> Deserialize<'de> for FileTimeouts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let table = std::collections::BTreeMap::<String, i64>::deserialize(d)?;
        let text = table
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
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
        // `symlink_metadata`: a dangling link or an unreadable file at the default
        // path is reported, not skipped.
        None => default
            .symlink_metadata()
            .is_ok()
            .then(|| default.to_owned()),
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
        message,
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
        && let Some(path) = file.agent_binary
    {
        onboarding.agent_binary = Some(path);
    }
}
