//! Which systemd units this machine lets the server restart: `allowed_units` globs
//! from the local config, and the unit the agent itself runs in.

use std::fmt;

use homelab_protocol::UnitName;
use serde::{Deserialize, Serialize};

/// Why an `allowed_units` entry is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GlobError {
    #[error("`{0}`: a unit glob holds letters, digits, _.@:- and the wildcards * and ?")]
    BadChar(String),
    #[error("`{0}`: only .service units can be restarted, so only .service globs are allowed")]
    NotAService(String),
}

/// One `allowed_units` entry: a unit name with `*` (any run of characters) and `?`
/// (one character). Matched against full unit names, so `nginx` means
/// `nginx.service` and `docker*` matches `docker.service` and `docker-x.service`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UnitGlob(String);

impl UnitGlob {
    /// Checks `s` and completes a bare name with `.service`.
    pub fn parse(s: impl Into<String>) -> Result<Self, GlobError> {
        let s = s.into();
        let chars_ok = !s.is_empty()
            && s.len() <= UnitName::MAX_LEN
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.@:-*?".contains(&b));
        if !chars_ok {
            return Err(GlobError::BadChar(s));
        }
        let suffix = s.rsplit_once('.').map(|(_, suffix)| suffix);
        match suffix {
            Some("service") => Ok(UnitGlob(s)),
            Some(t) if homelab_protocol::params::OTHER_UNIT_TYPES.contains(&t) => {
                Err(GlobError::NotAService(s))
            }
            // `docker*` already reaches `.service` names; only those exist to match.
            _ if s.ends_with('*') => Ok(UnitGlob(s)),
            _ => Ok(UnitGlob(format!("{s}.service"))),
        }
    }

    /// Whether `unit` matches this glob.
    pub fn matches(&self, unit: &UnitName) -> bool {
        glob_match(self.0.as_bytes(), unit.as_str().as_bytes())
    }
}

impl TryFrom<String> for UnitGlob {
    type Error = GlobError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        UnitGlob::parse(s)
    }
}

impl From<UnitGlob> for String {
    fn from(g: UnitGlob) -> Self {
        g.0
    }
}

impl fmt::Display for UnitGlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `*` and `?` matching, linear in practice: on a mismatch it only retries from the
/// last `*`, which is enough because a later `*` can absorb anything an earlier one
/// could.
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// The service unit this process runs in, from `/proc/self/cgroup`
/// (`0::/system.slice/homelab-agent.service`), whatever the unit file is called.
pub fn own_unit() -> Option<String> {
    own_unit_from(&std::fs::read_to_string("/proc/self/cgroup").ok()?)
}

/// [`own_unit`] from the text of a cgroup file.
pub fn own_unit_from(cgroup: &str) -> Option<String> {
    // cgroup v2's line is `0::PATH`; with v1 the `name=systemd` line carries it.
    let path = cgroup
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .or_else(|| {
            cgroup
                .lines()
                .find_map(|l| l.split_once(":name=systemd:").map(|(_, p)| p))
        })?;
    path.split('/')
        .rev()
        .find(|part| part.ends_with(".service"))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn unit(s: &str) -> UnitName {
        UnitName::parse(s).unwrap()
    }

    #[test]
    fn globs_match_full_service_names() {
        let cases = [
            ("nginx.service", "nginx", true),
            ("nginx", "nginx", true),
            ("nginx", "nginx-debug", false),
            ("docker*.service", "docker", true),
            ("docker*.service", "docker-compose", true),
            ("docker*", "docker.io", true),
            ("docker*.service", "containerd", false),
            ("php?.?-fpm", "php8.2-fpm", true),
            ("php?.?-fpm", "php8.10-fpm", false),
            ("*", "anything", true),
            ("getty@*.service", "getty@tty1", true),
            ("*@*", "nginx", false),
            ("a*b*c.service", "axxbyyc", true),
            ("a*b*c.service", "axxbyy", false),
        ];
        for (glob, name, expected) in cases {
            assert_eq!(
                UnitGlob::parse(glob).unwrap().matches(&unit(name)),
                expected,
                "{glob} vs {name}"
            );
        }
    }

    #[test]
    fn globs_for_other_unit_types_or_odd_characters_are_refused() {
        for bad in [
            "*.target",
            "poweroff.target",
            "ssh.socket",
            "",
            "a b",
            "a/b",
            "[ab]",
        ] {
            assert!(UnitGlob::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_agents_own_unit_comes_from_its_cgroup() {
        assert_eq!(
            own_unit_from("0::/system.slice/homelab-agent.service\n").as_deref(),
            Some("homelab-agent.service")
        );
        assert_eq!(
            own_unit_from("12:cpu:/x\n1:name=systemd:/system.slice/hl.service\n").as_deref(),
            Some("hl.service")
        );
        assert_eq!(
            own_unit_from("0::/user.slice/user-0.slice/session-3.scope"),
            None
        );
        assert_eq!(own_unit_from(""), None);
    }

    proptest! {
        #[test]
        fn matching_agrees_with_a_regex(glob in "[ab*?]{0,8}", text in "[ab]{0,10}") {
            let re = format!(
                "^{}$",
                glob.chars()
                    .map(|c| match c { '*' => ".*".to_owned(), '?' => ".".to_owned(), c => c.to_string() })
                    .collect::<String>()
            );
            let expected = regex::Regex::new(&re).unwrap().is_match(&text);
            prop_assert_eq!(glob_match(glob.as_bytes(), text.as_bytes()), expected);
        }
    }
}
