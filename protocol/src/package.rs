//! Pending apt packages: names and versions as Debian policy defines them.

use serde::{Deserialize, Serialize};

/// Why a text is not a package name or a version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackageError {
    #[error(
        "package name `{0}` does not follow Debian policy ([a-z0-9][a-z0-9+.-]+, optionally :arch)"
    )]
    BadName(String),
    #[error(
        "version `{0}` is not a Debian version ([0-9][A-Za-z0-9.+~:-]*, at most 128 characters)"
    )]
    BadVersion(String),
}

/// A Debian package name, optionally with `:arch`: `^[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?$`.
/// It can never start with `-` or hold `/`, so it is safe as an apt argument.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PackageName(String);

impl PackageName {
    /// The longest name accepted (Debian has no limit; this keeps rows bounded).
    pub const MAX_LEN: usize = 128;

    /// Checks `s` against Debian policy.
    pub fn parse(s: impl Into<String>) -> Result<Self, PackageError> {
        let s = s.into();
        let (name, arch) = match s.split_once(':') {
            Some((name, arch)) => (name, Some(arch)),
            None => (s.as_str(), None),
        };
        let name_ok = name.len() >= 2
            && name.as_bytes()[0].is_ascii_lowercase() | name.as_bytes()[0].is_ascii_digit()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+.-".contains(&b));
        let arch_ok = arch.is_none_or(|a| {
            !a.is_empty()
                && a.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        });
        if name_ok && arch_ok && s.len() <= Self::MAX_LEN {
            Ok(PackageName(s))
        } else {
            Err(PackageError::BadName(s))
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A Debian version: `^[0-9][A-Za-z0-9.+~:-]*$`, at most 128 characters. Safe as the
/// right-hand side of `name=version`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DebVersion(String);

impl DebVersion {
    /// The longest version accepted.
    pub const MAX_LEN: usize = 128;

    /// Checks `s` against the version grammar.
    pub fn parse(s: impl Into<String>) -> Result<Self, PackageError> {
        let s = s.into();
        let ok = s.len() <= Self::MAX_LEN
            && s.as_bytes().first().is_some_and(u8::is_ascii_digit)
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".+~:-".contains(&b));
        if ok {
            Ok(DebVersion(s))
        } else {
            Err(PackageError::BadVersion(s))
        }
    }

    /// The version as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

text_newtype!(PackageName, PackageError);
text_newtype!(DebVersion, PackageError);

/// One pending update as the agent reports it and the dashboard shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PendingPackage {
    pub name: PackageName,
    pub current_version: DebVersion,
    /// apt's candidate: what "apply all" would install.
    pub new_version: DebVersion,
    /// The suite (or origin) the candidate comes from, e.g. `bookworm-updates`.
    pub repository: String,
    /// Some version newer than the installed one comes from a security archive.
    pub is_security: bool,
    /// The newest version offered by a security archive; may be older than
    /// `new_version`.
    pub security_version: Option<DebVersion>,
    /// Held with `apt-mark hold`: listed, never installed by an upgrade.
    pub held: bool,
    /// Kept back by `apt-get upgrade` (it would need removals).
    pub kept_back: bool,
}

impl PendingPackage {
    /// The longest repository text accepted.
    pub const MAX_REPOSITORY_LEN: usize = 200;

    /// Whether "apply all updates" installs it.
    pub fn is_installable(&self) -> bool {
        !self.held && !self.kept_back
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn debian_names_are_accepted() {
        for ok in [
            "libc6",
            "libc6:i386",
            "g++",
            "libstdc++6",
            "0ad",
            "python3.11",
            "lib32z1:amd64",
            "x-",
        ] {
            assert!(PackageName::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            "",
            "a",
            "-o",
            "--reinstall",
            "Libc6",
            "tmp/evil.deb",
            "./x.deb",
            "..",
            "a b",
            "a;b",
            "a$(id)",
            "a`id`",
            "libc6:",
            "libc6:I386",
            "a\nb",
            "ｌibc6",
            "a:b:c",
        ] {
            assert!(PackageName::parse(bad).is_err(), "{bad:?}");
        }
        assert!(PackageName::parse("a".repeat(129)).is_err());
    }

    #[test]
    fn versions_follow_the_grammar() {
        for ok in [
            "1.0-1",
            "1:1.0-2",
            "3.0.11-1~deb12u2",
            "2024a-0+deb12u1",
            "0",
        ] {
            assert!(DebVersion::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a1.0",
            "-1",
            "1.0 1",
            "1.0/2",
            "1.0;rm",
            "1".repeat(129).as_str(),
        ] {
            assert!(DebVersion::parse(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn names_agree_with_the_policy_regex(s in "[a-z0-9+.:/ -]{0,12}|\\PC{0,12}") {
            let policy = regex::Regex::new("^[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?$").unwrap();
            prop_assert_eq!(PackageName::parse(s.clone()).is_ok(), policy.is_match(&s));
        }

        #[test]
        fn versions_agree_with_the_grammar(s in "[0-9a-zA-Z.+~:/ -]{0,12}|\\PC{0,8}") {
            let grammar = regex::Regex::new("^[0-9][A-Za-z0-9.+~:-]*$").unwrap();
            prop_assert_eq!(DebVersion::parse(s.clone()).is_ok(), grammar.is_match(&s));
        }
    }
}
