//! Pending apt packages: names and versions as Debian policy defines them.

use serde::{Deserialize, Serialize};

/// Why a text is not a package name or a version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackageError {
    #[error(
        "package name `{0}` does not follow Debian policy ([a-z0-9][a-z0-9+.-]+, optionally :arch)"
    )]
    BadName(String),
    #[error("version `{version}` is not a Debian version: {fault}")]
    BadVersion {
        /// The refused text, cut to 64 characters so that logs stay bounded.
        version: String,
        /// The rule it breaks.
        fault: VersionFault,
    },
    #[error("package `{package}`: {field}: {source}")]
    InPackage {
        /// The package whose field is wrong.
        package: PackageName,
        /// The field, as named on the wire.
        field: &'static str,
        /// What is wrong with it.
        source: Box<PackageError>,
    },
}

/// The rule of Debian policy (section 5.6.12) a version breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VersionFault {
    #[error("it is empty")]
    Empty,
    #[error("it is longer than {} characters", DebVersion::MAX_LEN)]
    TooLong,
    #[error("the epoch before `:` must be a number")]
    BadEpoch,
    #[error("the upstream version must start with a digit")]
    UpstreamStart,
    #[error(
        "the upstream version holds only letters, digits and . + ~ (- only before a revision, : only after an epoch)"
    )]
    UpstreamChar,
    #[error("the revision after the last `-` must not be empty")]
    EmptyRevision,
    #[error("the revision after the last `-` holds only letters, digits and + . ~")]
    RevisionChar,
}

/// A Debian package name, optionally with `:arch`: `^[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?$`,
/// the architecture neither starting nor ending with `-`.
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
        // Architectures (`amd64`, `i386`, `linux-any`) never start or end with `-`.
        let arch_ok = arch.is_none_or(|a| {
            !a.is_empty()
                && !a.starts_with('-')
                && !a.ends_with('-')
                && a.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        });
        if name_ok && arch_ok && s.len() <= Self::MAX_LEN {
            Ok(PackageName(s))
        } else {
            Err(PackageError::BadName(shown(&s)))
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A Debian version by policy: `[epoch:]upstream[-revision]`. The epoch is a
/// number; the upstream version starts with a digit and holds letters, digits and
/// `. + ~` (`-` only when a revision follows, `:` only after an epoch); the revision,
/// after the last `-`, is non-empty letters, digits and `+ . ~`. It never ends with
/// `-` or `+`, which apt would read as "remove" or "install" at the end of
/// `name=version`, so it is safe as the right-hand side of an apt pin.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DebVersion(String);

impl DebVersion {
    /// The longest version accepted.
    pub const MAX_LEN: usize = 128;

    /// Checks `s` against Debian policy's version grammar.
    pub fn parse(s: impl Into<String>) -> Result<Self, PackageError> {
        let s = s.into();
        match version_fault(&s) {
            None => Ok(DebVersion(s)),
            Some(fault) => Err(PackageError::BadVersion {
                version: shown(&s),
                fault,
            }),
        }
    }

    /// The version as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether apt can be asked for exactly this version (`name=VERSION`). Policy
    /// allows a version to end in `+` (bookworm's gcc-bpf is `12.2.0-14+deb12u1+`),
    /// but apt reads a trailing `+` on an argument as "install" and strips it, so
    /// such a pin would ask for another version; it is never put on a command line.
    pub fn is_pinnable(&self) -> bool {
        !self.0.ends_with('+')
    }
}

/// The first rule `s` breaks, if any.
fn version_fault(s: &str) -> Option<VersionFault> {
    if s.is_empty() {
        return Some(VersionFault::Empty);
    }
    if s.len() > DebVersion::MAX_LEN {
        return Some(VersionFault::TooLong);
    }
    // dpkg takes the epoch up to the first colon and the revision from the last hyphen.
    let (epoch, rest) = match s.split_once(':') {
        Some((epoch, rest)) => (Some(epoch), rest),
        None => (None, s),
    };
    // dpkg refuses an epoch past INT_MAX.
    let epoch_bad = |e: &str| {
        e.is_empty() || !e.bytes().all(|b| b.is_ascii_digit()) || e.parse::<i32>().is_err()
    };
    if epoch.is_some_and(epoch_bad) {
        return Some(VersionFault::BadEpoch);
    }
    let (upstream, revision) = match rest.rsplit_once('-') {
        Some((upstream, revision)) => (upstream, Some(revision)),
        None => (rest, None),
    };
    if !upstream.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        return Some(VersionFault::UpstreamStart);
    }
    let upstream_ok = upstream.bytes().all(|b| {
        b.is_ascii_alphanumeric()
            || b".+~".contains(&b)
            || (b == b'-' && revision.is_some())
            || (b == b':' && epoch.is_some())
    });
    if !upstream_ok {
        return Some(VersionFault::UpstreamChar);
    }
    if let Some(revision) = revision {
        if revision.is_empty() {
            return Some(VersionFault::EmptyRevision);
        }
        if !revision
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+.~".contains(&b))
        {
            return Some(VersionFault::RevisionChar);
        }
    }
    None
}

/// A refused text as errors quote it: at most 64 characters, so that a hostile
/// megabyte never reaches a log whole.
fn shown(s: &str) -> String {
    const MAX: usize = 64;
    match s.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

text_newtype!(PackageName, PackageError);
text_newtype!(DebVersion, PackageError);
text_schema!(
    PackageName,
    "A Debian package name by policy, optionally with `:arch`.",
    length = 2..=PackageName::MAX_LEN,
    pattern = "^[a-z0-9][a-z0-9+.-]+(:[a-z0-9]([a-z0-9-]*[a-z0-9])?)?$",
    example = "openssl",
);
text_schema!(
    DebVersion,
    "A Debian version by policy: optional `epoch:`, an upstream version starting \
     with a digit, optional `-revision`.",
    length = 1..=DebVersion::MAX_LEN,
    pattern = "^([0-9]+:)?[0-9][A-Za-z0-9.+~:-]*$",
    example = "3.0.15-1~deb12u1",
);

/// One pending update as the agent reports it and the dashboard shows it. It is
/// read through [`PendingPackageWire`] so that a refused version names its package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(description = "One pending update, as the agent reported it.")
)]
#[serde(try_from = "PendingPackageWire")]
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

/// [`PendingPackage`] as it arrives: the name checked first, the versions as text, so
/// that an impossible version is refused with the package it belongs to.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PendingPackageWire {
    name: PackageName,
    current_version: String,
    new_version: String,
    repository: String,
    is_security: bool,
    security_version: Option<String>,
    held: bool,
    kept_back: bool,
}

impl TryFrom<PendingPackageWire> for PendingPackage {
    type Error = PackageError;

    fn try_from(w: PendingPackageWire) -> Result<Self, Self::Error> {
        let version = |field: &'static str, text: String| {
            DebVersion::parse(text).map_err(|e| PackageError::InPackage {
                package: w.name.clone(),
                field,
                source: Box::new(e),
            })
        };
        Ok(PendingPackage {
            current_version: version("current_version", w.current_version)?,
            new_version: version("new_version", w.new_version)?,
            security_version: w
                .security_version
                .map(|v| version("security_version", v))
                .transpose()?,
            name: w.name,
            repository: w.repository,
            is_security: w.is_security,
            held: w.held,
            kept_back: w.kept_back,
        })
    }
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
            "foo:linux-any",
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
            "libc6:-amd64",
            "libc6:amd64-",
        ] {
            assert!(PackageName::parse(bad).is_err(), "{bad:?}");
        }
        assert!(PackageName::parse("a".repeat(129)).is_err());
    }

    /// Versions taken from Debian's Packages files.
    const REAL: &str = include_str!("../tests/fixtures/debian-versions.txt");

    fn real_versions() -> impl Iterator<Item = &'static str> {
        REAL.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
    }

    #[test]
    fn every_version_from_debian_packages_files_is_accepted() {
        let mut count = 0;
        for v in real_versions().chain([
            "1:2.36-9+deb12u9",
            "2.0~rc1-1",
            "3.0.11-1~deb12u2",
            "1.2.3+dfsg-4",
            "20230311",
            "1:9.18.28-1~deb12u2",
            "2024a-0+deb12u1",
            "0",
            "1.0--1",
            // A colon after the epoch belongs to the upstream version (dpkg allows it).
            "1:2.3:4-1",
            // bookworm's gcc-bpf: valid, though never pinnable.
            "12.2.0-14+deb12u1+",
        ]) {
            assert_eq!(
                DebVersion::parse(v).map(|d| d.to_string()),
                Ok(v.to_owned())
            );
            count += 1;
        }
        assert!(count > 5_000, "{count} versions");
    }

    #[test]
    fn impossible_versions_are_refused_with_the_rule_they_break() {
        use VersionFault::*;
        let long = "1".repeat(129);
        for (bad, fault) in [
            ("1.1-1-", EmptyRevision),
            ("1.0-", EmptyRevision),
            ("-1", UpstreamStart),
            ("a1", UpstreamStart),
            ("a1.0", UpstreamStart),
            ("1:", UpstreamStart),
            (":1", BadEpoch),
            ("a:1", BadEpoch),
            ("99999999999:1", BadEpoch),
            ("", Empty),
            (" 1", UpstreamStart),
            ("1.0 1", UpstreamChar),
            ("1.0/2", UpstreamChar),
            ("1.0;rm", UpstreamChar),
            ("1.0_1", UpstreamChar),
            ("1.0-1:2", BadEpoch),
            ("1.0-1_2", RevisionChar),
            ("1.0-é", RevisionChar),
            ("１.0", UpstreamStart),
            ("1.0\n", UpstreamChar),
            (long.as_str(), TooLong),
        ] {
            match DebVersion::parse(bad) {
                Err(PackageError::BadVersion { fault: got, .. }) => {
                    assert_eq!(got, fault, "{bad:?}")
                }
                other => panic!("{bad:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn refusals_quote_at_most_64_characters() {
        let err = DebVersion::parse(format!("a{}", "x".repeat(10_000))).unwrap_err();
        assert!(err.to_string().len() < 300, "{err}");
    }

    #[test]
    fn a_package_with_an_impossible_version_is_refused_naming_it() {
        let json = serde_json::json!({"name": "hl-normal", "current_version": "1.0-1",
            "new_version": "1.1-1-", "repository": "bookworm", "is_security": false,
            "security_version": null, "held": false, "kept_back": false});
        let err = serde_json::from_value::<PendingPackage>(json)
            .unwrap_err()
            .to_string();
        assert!(err.contains("hl-normal"), "{err}");
        assert!(err.contains("new_version"), "{err}");
        assert!(err.contains("1.1-1-"), "{err}");
    }

    proptest! {
        #[test]
        fn names_agree_with_the_policy_regex(s in "[a-z0-9+.:/ -]{0,12}|\\PC{0,12}") {
            let policy = regex::Regex::new("^[a-z0-9][a-z0-9+.-]+(:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)?$").unwrap();
            prop_assert_eq!(PackageName::parse(s.clone()).is_ok(), policy.is_match(&s));
        }

        #[test]
        fn versions_agree_with_the_policy_regex(
            s in "[0-9a-zA-Z.+~:/ _-]{0,12}|[0-9]{1,3}:?[0-9][a-z0-9.+~:-]{0,8}-?[a-z0-9.+~:-]{0,4}|\\PC{0,8}"
        ) {
            prop_assert_eq!(DebVersion::parse(s.clone()).is_ok(), policy_regex().is_match(&s), "{:?}", s);
        }

        #[test]
        fn no_accepted_version_ends_in_a_hyphen_or_holds_a_slash(s in "\\PC{0,16}|[0-9][0-9a-z.+~:-]{0,10}") {
            if let Ok(v) = DebVersion::parse(s) {
                let v = v.as_str();
                prop_assert!(!v.ends_with('-') && !v.starts_with('-'));
                prop_assert_eq!(v.ends_with('+'), !DebVersion::parse(v).unwrap().is_pinnable());
                prop_assert!(!v.contains('/') && !v.contains(char::is_whitespace));
            }
        }
    }

    /// Debian policy's version grammar written as one regex, independently of the
    /// hand-written parser (the epoch's range aside).
    fn policy_regex() -> regex::Regex {
        let rev = "[A-Za-z0-9.+~]+";
        regex::Regex::new(&format!(
            "^(?:[0-9]{{1,9}}:[0-9][A-Za-z0-9.+~:-]*-{rev}\
             |[0-9]{{1,9}}:[0-9][A-Za-z0-9.+~:]*\
             |[0-9][A-Za-z0-9.+~-]*-{rev}\
             |[0-9][A-Za-z0-9.+~]*)$"
        ))
        .unwrap()
    }
}
