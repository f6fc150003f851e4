//! `--public-url`: the dashboard's address as the agents on other machines reach it.
//! It is written into the install script that root runs on those machines, so it is
//! parsed strictly here, once, and nothing else ever reaches that script.

use std::fmt;
use std::str::FromStr;

/// The longest public URL accepted: a real one is a few dozen bytes; a value this
/// long is a mistake (or an attack on whatever renders it).
pub const MAX_PUBLIC_URL_BYTES: usize = 512;

/// An `http`/`https` URL with a host and nothing a shell, a TOML string or a browser
/// could read as more than an address: no user info, no query, no fragment, only
/// `A-Z a-z 0-9 - . _ ~ : / [ ] %`. Kept without a trailing slash, so
/// `{url}/downloads/...` and the agent's `{server}/agent/v1/...` are well-formed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl(String);

/// Why a public URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublicUrlError {
    #[error("is empty")]
    Empty,
    #[error("is longer than {MAX_PUBLIC_URL_BYTES} bytes")]
    TooLong,
    #[error("may hold only printable ASCII without spaces")]
    NotPrintable,
    #[error("is not a URL ({0})")]
    Malformed(url::ParseError),
    #[error("must start with http:// or https://, not {0}:")]
    Scheme(String),
    #[error("needs a host name or address")]
    NoHost,
    #[error("may not hold a user name or password (agents authenticate with their token)")]
    UserInfo,
    #[error("may not hold a query (?...) or a fragment (#...)")]
    QueryOrFragment,
    #[error("may hold only letters, digits and - . _ ~ : / [ ] % (found {0:?})")]
    Character(char),
}

impl PublicUrl {
    /// Parses `raw`, refusing anything but a plain http(s) base address.
    pub fn parse(raw: &str) -> Result<PublicUrl, PublicUrlError> {
        if raw.is_empty() {
            return Err(PublicUrlError::Empty);
        }
        if raw.len() > MAX_PUBLIC_URL_BYTES {
            return Err(PublicUrlError::TooLong);
        }
        // The url crate silently drops tabs and newlines inside a URL; a value that
        // holds one was not meant as this address.
        if !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(PublicUrlError::NotPrintable);
        }
        let url = url::Url::parse(raw).map_err(PublicUrlError::Malformed)?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(PublicUrlError::Scheme(url.scheme().to_owned()));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(PublicUrlError::NoHost);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(PublicUrlError::UserInfo);
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(PublicUrlError::QueryOrFragment);
        }
        // What the url crate leaves unencoded in a path includes ' $ ( ) ; & and `:
        // the normalised text must still be a plain word for sh and for TOML.
        let text = url.as_str().trim_end_matches('/');
        if let Some(c) = text.chars().find(|c| !is_plain(*c)) {
            return Err(PublicUrlError::Character(c));
        }
        Ok(PublicUrl(text.to_owned()))
    }

    /// The URL, without a trailing slash.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The origin a request reached us at, from its `Host` header: what the browser
    /// (or `curl`) used, when no public URL is configured. The header is the
    /// client's to choose, so it goes through the same parse.
    pub fn from_host(host: &str, tls: bool) -> Result<PublicUrl, PublicUrlError> {
        let scheme = if tls { "https" } else { "http" };
        if host.contains(['/', '?', '#', '@', '\\']) {
            return Err(PublicUrlError::NoHost);
        }
        Self::parse(&format!("{scheme}://{host}"))
    }
}

fn is_plain(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~' | ':' | '/' | '[' | ']' | '%')
}

impl FromStr for PublicUrl {
    type Err = PublicUrlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PublicUrl::parse(s)
    }
}

impl fmt::Display for PublicUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_addresses_are_kept_without_a_trailing_slash() {
        for (raw, expected) in [
            ("http://homelab.lan:3000", "http://homelab.lan:3000"),
            ("http://homelab.lan:3000/", "http://homelab.lan:3000"),
            ("https://homelab.example.org", "https://homelab.example.org"),
            (
                "HTTPS://Homelab.Example.org/",
                "https://homelab.example.org",
            ),
            ("http://192.168.1.10:3000", "http://192.168.1.10:3000"),
            ("http://[fd00::1]:3000/", "http://[fd00::1]:3000"),
            (
                "https://example.org/homelab/",
                "https://example.org/homelab",
            ),
            ("http://example.org:80/", "http://example.org"),
        ] {
            assert_eq!(PublicUrl::parse(raw).unwrap().as_str(), expected, "{raw}");
        }
    }

    #[test]
    fn anything_but_a_plain_http_address_is_refused_with_a_reason() {
        use PublicUrlError as E;
        let long = format!("http://h/{}", "a".repeat(MAX_PUBLIC_URL_BYTES));
        for (raw, expected) in [
            ("", E::Empty),
            (long.as_str(), E::TooLong),
            ("http://a b", E::NotPrintable),
            ("http://host\n/x", E::NotPrintable),
            ("http://hôst", E::NotPrintable),
            ("javascript:alert(1)", E::Scheme("javascript".into())),
            ("file:///etc/passwd", E::Scheme("file".into())),
            ("ftp://host", E::Scheme("ftp".into())),
            ("http://user:pw@host", E::UserInfo),
            ("http://user@host", E::UserInfo),
            ("http://host/?a=b", E::QueryOrFragment),
            ("http://host/#top", E::QueryOrFragment),
            ("http://host/a'b", E::Character('\'')),
            ("http://host/$(reboot)", E::Character('$')),
            ("http://host/a;b", E::Character(';')),
            ("http://host/(x)", E::Character('(')),
        ] {
            assert_eq!(PublicUrl::parse(raw), Err(expected), "{raw}");
        }
        assert!(matches!(
            PublicUrl::parse("homelab.lan:3000"),
            Err(E::Scheme(_) | E::Malformed(_))
        ));
        assert!(matches!(
            PublicUrl::parse("http://"),
            Err(E::Malformed(_) | E::NoHost)
        ));
        assert!(matches!(
            PublicUrl::parse("http://a$b/"),
            Err(E::Malformed(_) | E::Character('$'))
        ));
    }

    #[test]
    fn what_the_url_crate_percent_encodes_stays_encoded() {
        assert_eq!(
            PublicUrl::parse("http://host/`id`/a\"b").unwrap().as_str(),
            "http://host/%60id%60/a%22b"
        );
    }

    #[test]
    fn a_host_header_becomes_an_origin_only_if_it_is_a_plain_host() {
        assert_eq!(
            PublicUrl::from_host("127.0.0.1:3000", false)
                .unwrap()
                .as_str(),
            "http://127.0.0.1:3000"
        );
        assert_eq!(
            PublicUrl::from_host("dash.example.org", true)
                .unwrap()
                .as_str(),
            "https://dash.example.org"
        );
        for host in ["evil/x", "a@b", "h'$(id)", "a b", "", "h?x"] {
            assert!(PublicUrl::from_host(host, false).is_err(), "{host}");
        }
    }
}
