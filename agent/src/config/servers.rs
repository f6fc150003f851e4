//! The servers an agent reports to: one `homelab-cmd`, or several replicas on one
//! database, tried in order when one stops answering. Parsed once here, from a
//! flag, its environment twin or the config file, so the client never meets an
//! empty list, a duplicate or a URL with a password in it.

use std::fmt;

use reqwest::Url;
use serde::Deserialize;

/// The most servers one agent may name: a few replicas, never a list to scan.
pub const MAX_SERVERS: usize = 16;

/// The longest URL accepted, and the most of a bad one an error message repeats.
const MAX_URL_LEN: usize = 512;
const MAX_SHOWN: usize = 100;

/// One server's base URL: `http://` or `https://`, a host, an optional port and
/// path, no user info, query or fragment, without a trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUrl(String);

/// Why a server list was refused; every message names the entry at fault (a
/// password in it is masked, as the message is logged).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServerListError {
    /// No URL at all: the caller reports the setting as missing.
    #[error("no server URL given")]
    Empty,
    #[error(
        "server list entry {position} of {count} is empty (a doubled or trailing comma, or a blank): remove it"
    )]
    EmptyEntry { position: usize, count: usize },
    #[error(
        "{count} server URLs given; at most {MAX_SERVERS} are allowed (name a few replicas, or one proxy)"
    )]
    TooMany { count: usize },
    #[error("server URL `{shown}` {problem}")]
    BadUrl { shown: String, problem: UrlProblem },
    #[error("server URL `{shown}` is listed twice (as `{first}` before)")]
    Duplicate { shown: String, first: String },
}

/// What is wrong with one URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UrlProblem {
    #[error("must start with http:// or https://")]
    Scheme,
    #[error("is not a valid URL")]
    Invalid,
    #[error("is longer than {MAX_URL_LEN} bytes")]
    TooLong,
    #[error(
        "holds a user name or password: it would end up in logs; the agent authenticates with its token"
    )]
    UserInfo,
    #[error("must not have a query (?...) or a fragment (#...)")]
    QueryOrFragment,
}

impl ServerUrl {
    /// Checks one URL (surrounding blanks and trailing slashes are dropped).
    pub fn parse(raw: &str) -> Result<ServerUrl, ServerListError> {
        let given = raw.trim();
        let text = given.trim_end_matches('/');
        let bad = |problem| ServerListError::BadUrl {
            shown: shown(given),
            problem,
        };
        if given.len() > MAX_URL_LEN {
            return Err(bad(UrlProblem::TooLong));
        }
        let lower = given.to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://")) {
            return Err(bad(UrlProblem::Scheme));
        }
        let url = Url::parse(text).map_err(|_| bad(UrlProblem::Invalid))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad(UrlProblem::UserInfo));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad(UrlProblem::QueryOrFragment));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad(UrlProblem::Invalid));
        }
        Ok(ServerUrl(text.to_owned()))
    }

    /// The URL as given, without a trailing slash: paths are appended to it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The same server whatever the spelling (`HTTP://Hub:80` is `http://hub`).
    fn canonical(&self) -> String {
        Url::parse(&self.0)
            .map(|u| u.as_str().trim_end_matches('/').to_owned())
            .unwrap_or_else(|_| self.0.clone())
    }
}

impl fmt::Display for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One to [`MAX_SERVERS`] distinct server URLs, in the order they are tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerList(Vec<ServerUrl>);

impl ServerList {
    /// Parses entries that may each hold a comma-separated list (`--server a,b
    /// --server c`, `HOMELAB_SERVER=a,b`, `server = "a"`, `server = ["a", "b"]`).
    /// No entry at all is [`ServerListError::Empty`]; an empty one among others is
    /// refused, as it is most likely a typo.
    pub fn parse<'a>(
        entries: impl IntoIterator<Item = &'a str>,
    ) -> Result<ServerList, ServerListError> {
        let parts: Vec<&str> = entries
            .into_iter()
            .flat_map(|e| e.split(','))
            .map(str::trim)
            .collect();
        if parts.iter().all(|p| p.is_empty()) {
            return Err(ServerListError::Empty);
        }
        let count = parts.len();
        if let Some(at) = parts.iter().position(|p| p.is_empty()) {
            return Err(ServerListError::EmptyEntry {
                position: at + 1,
                count,
            });
        }
        if count > MAX_SERVERS {
            return Err(ServerListError::TooMany { count });
        }
        let mut urls: Vec<ServerUrl> = Vec::with_capacity(count);
        for part in parts {
            let url = ServerUrl::parse(part)?;
            if let Some(first) = urls.iter().find(|u| u.canonical() == url.canonical()) {
                return Err(ServerListError::Duplicate {
                    shown: shown(url.as_str()),
                    first: shown(first.as_str()),
                });
            }
            urls.push(url);
        }
        Ok(ServerList(urls))
    }

    /// The URLs, in order; never empty.
    pub fn as_slice(&self) -> &[ServerUrl] {
        &self.0
    }

    /// How many servers there are (at least one).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false: kept for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for ServerList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, url) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(url.as_str())?;
        }
        Ok(())
    }
}

/// The config file's `server`: one string (which may itself be a comma-separated
/// list) or an array of strings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileServers(pub Vec<String>);

impl<'de> Deserialize<'de> for FileServers {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = FileServers;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a URL or an array of URLs")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<FileServers, E> {
                Ok(FileServers(vec![v.to_owned()]))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<FileServers, A::Error> {
                let mut urls = Vec::new();
                while let Some(url) = seq.next_element::<String>()? {
                    urls.push(url);
                }
                Ok(FileServers(urls))
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// At most [`MAX_SHOWN`] characters of a URL for a message, with any user info
/// masked: `http://***@host`.
fn shown(text: &str) -> String {
    let masked = match text.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            match rest[..authority_end].rfind('@') {
                Some(at) => format!("{scheme}://***{}", &rest[at..]),
                None => text.to_owned(),
            }
        }
        None => text.to_owned(),
    };
    let mut out: String = masked.chars().take(MAX_SHOWN).collect();
    if out.len() < masked.len() {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(entries: &[&str]) -> Result<Vec<String>, ServerListError> {
        ServerList::parse(entries.iter().copied())
            .map(|l| l.as_slice().iter().map(|u| u.as_str().to_owned()).collect())
    }

    #[test]
    fn one_url_parses_as_before_with_its_trailing_slash_trimmed() {
        assert_eq!(
            parse(&["http://cmd.lan:3000/"]).unwrap(),
            ["http://cmd.lan:3000"]
        );
        assert_eq!(
            parse(&["  https://hub.example.org/homelab//  "]).unwrap(),
            ["https://hub.example.org/homelab"]
        );
    }

    #[test]
    fn repeated_entries_and_comma_lists_combine_in_order() {
        assert_eq!(
            parse(&["http://a:3000, http://b:3000/", "https://c"]).unwrap(),
            ["http://a:3000", "http://b:3000", "https://c"]
        );
    }

    #[test]
    fn nothing_at_all_is_empty_and_an_empty_entry_among_others_is_named() {
        for nothing in [&[][..], &[""], &["  "], &[",", " , "]] {
            assert_eq!(parse(nothing), Err(ServerListError::Empty), "{nothing:?}");
        }
        let cases: [(&[&str], usize, usize); 4] = [
            (&["http://a,,http://b"], 2, 3),
            (&["http://a,"], 2, 2),
            (&[",http://a"], 1, 2),
            (&["http://a", " "], 2, 2),
        ];
        for (entries, position, count) in cases {
            let err = parse(entries).unwrap_err();
            assert_eq!(
                err,
                ServerListError::EmptyEntry { position, count },
                "{entries:?}"
            );
            assert!(
                err.to_string()
                    .contains(&format!("entry {position} of {count} is empty")),
                "{err}"
            );
        }
    }

    #[test]
    fn more_than_sixteen_urls_are_refused_before_any_is_read() {
        let many: Vec<String> = (0..1000).map(|i| format!("http://r{i}")).collect();
        let err = ServerList::parse(many.iter().map(String::as_str)).unwrap_err();
        assert_eq!(err, ServerListError::TooMany { count: 1000 });
        assert!(err.to_string().contains("at most 16"), "{err}");
        let joined = many[..17].join(",");
        assert_eq!(
            parse(&[&joined]),
            Err(ServerListError::TooMany { count: 17 })
        );
        assert_eq!(parse(&[&many[..16].join(",")]).unwrap().len(), 16);
    }

    #[test]
    fn bad_urls_are_refused_naming_the_entry() {
        let cases = [
            ("ftp://hub", "`ftp://hub` must start with http://"),
            ("hub.lan:3000", "`hub.lan:3000` must start with http://"),
            ("file:///etc/passwd", "must start with http://"),
            ("http://", "`http://` is not a valid URL"),
            ("http://hub:99999", "`http://hub:99999` is not a valid URL"),
            ("http://hub?x=1", "must not have a query"),
            ("http://hub/#top", "must not have a query"),
        ];
        for (url, expected) in cases {
            let err = parse(&["http://good", url]).unwrap_err().to_string();
            assert!(err.contains(expected), "{url}: {err}");
        }
        let long = format!("http://h/{}", "a".repeat(600));
        let err = parse(&[&long]).unwrap_err().to_string();
        assert!(err.contains("longer than 512 bytes"), "{err}");
        assert!(err.len() < 300, "the message repeats a bounded part: {err}");
    }

    #[test]
    fn a_url_with_user_info_is_refused_without_repeating_the_password() {
        for url in [
            "http://admin:s3cret@hub:3000",
            "https://s3cret@hub",
            "http://admin:s3cret@hub:notaport/x",
        ] {
            let err = parse(&[url]).unwrap_err().to_string();
            assert!(!err.contains("s3cret"), "{err}");
            assert!(err.contains("***@hub"), "{err}");
        }
        let err = parse(&["http://admin:s3cret@hub"]).unwrap_err().to_string();
        assert!(err.contains("user name or password"), "{err}");
    }

    #[test]
    fn duplicates_are_refused_whatever_the_spelling() {
        for (a, b) in [
            ("http://a:3000", "http://a:3000/"),
            ("http://hub", "HTTP://HUB:80"),
            ("https://hub/x", "https://hub:443/x/"),
        ] {
            let err = parse(&[a, b]).unwrap_err();
            assert!(matches!(err, ServerListError::Duplicate { .. }), "{err}");
            assert!(err.to_string().contains("listed twice"), "{err}");
        }
        assert_eq!(
            parse(&["http://hub:3000", "http://hub:3001"])
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn the_list_displays_as_a_comma_separated_line() {
        let list = ServerList::parse(["http://a/", "http://b"]).unwrap();
        assert_eq!(list.to_string(), "http://a,http://b");
    }
}
