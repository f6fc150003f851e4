//! The agent's last line of defence: an action runs only when its argv, joined by
//! single spaces, matches the anchored pattern of its type, every argument is a
//! plain word, and this machine's config allows the type. Nothing else ever runs.

use std::collections::HashSet;
use std::sync::LazyLock;

use homelab_protocol::ActionType;
use regex::Regex;

/// The longest argument accepted.
const MAX_ARG_LEN: usize = 300;
/// The most arguments accepted (a security upgrade pins one package per argument).
const MAX_ARGS: usize = 2_000;

const UNIT: &str = r"[A-Za-z0-9][A-Za-z0-9_.@:-]{0,254}";
const PACKAGE: &str = r"[a-z0-9][a-z0-9+.-]+(?::[a-z0-9-]+)?";
const VERSION: &str = r"[0-9][A-Za-z0-9.+~:-]*";

/// One anchored pattern per action type, built once.
static PATTERNS: LazyLock<Vec<(ActionType, Regex)>> = LazyLock::new(|| {
    let pattern = |t: ActionType| -> String {
        match t {
            ActionType::RestartService => format!("^systemctl restart {UNIT}$"),
            ActionType::ClearLogs => r"^journalctl --vacuum-time=[1-9][0-9]{0,4}[dhms]$".to_owned(),
            ActionType::AptUpdate => "^apt-get update$".to_owned(),
            ActionType::AptUpgradeAll => "^apt-get upgrade --with-new-pkgs -y$".to_owned(),
            ActionType::AptUpgradeSecurity => {
                format!("^apt-get install --only-upgrade -y --(?: {PACKAGE}={VERSION})+$")
            }
        }
    };
    ActionType::ALL
        .iter()
        .map(|&t| {
            (
                t,
                Regex::new(&pattern(t)).expect("static whitelist pattern"),
            )
        })
        .collect()
});

/// Why a command was refused (reported as `failed/not_whitelisted`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{0} is switched off in this machine's allowed_actions")]
    NotAllowed(ActionType),
    #[error("the command is empty")]
    Empty,
    #[error("argument {0} is empty, too long, or holds whitespace or control characters")]
    BadArgument(usize),
    #[error("too many arguments")]
    TooManyArguments,
    #[error("the command does not match the whitelist for {0}")]
    NoMatch(ActionType),
}

/// Checks `argv` for `action_type` against the whitelist and the local config.
pub fn check(
    action_type: ActionType,
    argv: &[String],
    allowed: &HashSet<ActionType>,
) -> Result<(), Refusal> {
    if !allowed.contains(&action_type) {
        return Err(Refusal::NotAllowed(action_type));
    }
    if argv.is_empty() {
        return Err(Refusal::Empty);
    }
    if argv.len() > MAX_ARGS {
        return Err(Refusal::TooManyArguments);
    }
    // Joining by spaces would let "a b" pass as two words: every argument must be one.
    for (i, arg) in argv.iter().enumerate() {
        let plain = !arg.is_empty()
            && arg.len() <= MAX_ARG_LEN
            && !arg.chars().any(|c| c.is_whitespace() || c.is_control());
        if !plain {
            return Err(Refusal::BadArgument(i));
        }
    }
    let joined = argv.join(" ");
    let matched = PATTERNS
        .iter()
        .find(|(t, _)| *t == action_type)
        .is_some_and(|(_, re)| re.is_match(&joined));
    if matched {
        Ok(())
    } else {
        Err(Refusal::NoMatch(action_type))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use homelab_protocol::{ActionSpec, SecurityPin, command};

    fn all() -> HashSet<ActionType> {
        ActionType::ALL.iter().copied().collect()
    }

    fn words(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn every_command_the_server_builds_is_accepted() {
        let pins = [
            SecurityPin {
                name: "openssl"
                    .parse::<String>()
                    .map(|n| homelab_protocol::PackageName::parse(n).unwrap())
                    .unwrap(),
                version: homelab_protocol::DebVersion::parse("3.0.15-1~deb12u1").unwrap(),
            },
            SecurityPin {
                name: homelab_protocol::PackageName::parse("libc6:i386").unwrap(),
                version: homelab_protocol::DebVersion::parse("1:2.36-9+deb12u9").unwrap(),
            },
        ];
        let specs = [
            (
                ActionType::RestartService,
                serde_json::json!({"unit": "getty@tty1.service"}),
            ),
            (
                ActionType::ClearLogs,
                serde_json::json!({"vacuum_time": "12h"}),
            ),
            (ActionType::AptUpdate, serde_json::json!({})),
            (ActionType::AptUpgradeAll, serde_json::json!({})),
            (ActionType::AptUpgradeSecurity, serde_json::json!({})),
        ];
        for (t, params) in specs {
            let spec = ActionSpec::parse(t, Some(&params)).unwrap();
            let argv = command::argv(&spec, &pins);
            assert_eq!(check(t, &argv, &all()), Ok(()), "{argv:?}");
        }
    }

    #[test]
    fn the_local_config_switches_types_off() {
        let only_update = HashSet::from([ActionType::AptUpdate]);
        assert_eq!(
            check(
                ActionType::AptUpdate,
                &words("apt-get update"),
                &only_update
            ),
            Ok(())
        );
        assert_eq!(
            check(
                ActionType::AptUpgradeAll,
                &words("apt-get upgrade --with-new-pkgs -y"),
                &only_update
            ),
            Err(Refusal::NotAllowed(ActionType::AptUpgradeAll))
        );
    }

    #[test]
    fn hostile_commands_are_all_refused() {
        use ActionType::*;
        let sec = "apt-get install --only-upgrade -y --";
        let cases: Vec<(ActionType, Vec<String>)> = vec![
            // Shell metacharacters and substitutions.
            (RestartService, words("systemctl restart nginx;reboot")),
            (RestartService, words("systemctl restart nginx&&reboot")),
            (RestartService, words("systemctl restart nginx|sh")),
            (RestartService, words("systemctl restart $(reboot)")),
            (RestartService, words("systemctl restart `reboot`")),
            (RestartService, words("systemctl restart nginx>x")),
            (RestartService, words("systemctl restart ${IFS}")),
            (
                RestartService,
                vec!["systemctl".into(), "restart".into(), "nginx\nreboot".into()],
            ),
            (
                RestartService,
                vec!["systemctl".into(), "restart".into(), "nginx reboot".into()],
            ),
            (RestartService, words("systemctl restart -nginx")),
            (RestartService, words("systemctl restart ../../etc/passwd")),
            (RestartService, words("systemctl restart nginx extra")),
            (RestartService, words("systemctl stop nginx")),
            (RestartService, words("systemctl  restart nginx")),
            (RestartService, words("systemctl restart nginx ")),
            (RestartService, words("sudo systemctl restart nginx")),
            (
                RestartService,
                vec![
                    "systemctl".into(),
                    "restart".into(),
                    format!("a{}", "b".repeat(300)),
                ],
            ),
            (RestartService, words("systemctl restart ｎginx")),
            // journalctl options beyond the one allowed.
            (ClearLogs, words("journalctl --vacuum-time=7d --rotate")),
            (ClearLogs, words("journalctl --vacuum-size=1")),
            (ClearLogs, words("journalctl --vacuum-time=0d")),
            (ClearLogs, words("journalctl --vacuum-time=7days")),
            (ClearLogs, words("journalctl --vacuum-time=7d;rm")),
            // apt options smuggled in.
            (
                AptUpdate,
                words("apt-get update -o APT::Update::Pre-Invoke::=/bin/sh"),
            ),
            (
                AptUpdate,
                words("apt-get -o APT::Update::Pre-Invoke::=touch update"),
            ),
            (AptUpdate, words("apt-get update --allow-unauthenticated")),
            (
                AptUpdate,
                words("apt-get update --allow-insecure-repositories"),
            ),
            (AptUpdate, words("apt update")),
            (AptUpdate, words("/usr/bin/apt-get update")),
            (AptUpgradeAll, words("apt-get dist-upgrade -y")),
            (
                AptUpgradeAll,
                words("apt-get upgrade --with-new-pkgs -y --allow-downgrades"),
            ),
            (AptUpgradeAll, words("apt-get upgrade -y")),
            // Package arguments that are not package=version.
            (AptUpgradeSecurity, words(&format!("{sec} openssl"))),
            (
                AptUpgradeSecurity,
                words(&format!("{sec} --reinstall openssl=1.0")),
            ),
            (
                AptUpgradeSecurity,
                words(&format!("{sec} -o=x openssl=1.0")),
            ),
            (AptUpgradeSecurity, words(&format!("{sec} tmp/evil.deb"))),
            (AptUpgradeSecurity, words(&format!("{sec} ./x.deb"))),
            (AptUpgradeSecurity, words(&format!("{sec} ..=1.0"))),
            (AptUpgradeSecurity, words(&format!("{sec} /tmp/x=1.0"))),
            (AptUpgradeSecurity, words(&format!("{sec} OpenSSL=1.0"))),
            (AptUpgradeSecurity, words(&format!("{sec} openssl=1.0;id"))),
            (AptUpgradeSecurity, words(&format!("{sec} openssl=$(id)"))),
            (AptUpgradeSecurity, words(&format!("{sec} openssl=a1.0"))),
            (AptUpgradeSecurity, words(&format!("{sec} ореnssl=1.0"))),
            (
                AptUpgradeSecurity,
                words(&format!("{sec} openssl=1.0 --allow-unauthenticated")),
            ),
            (
                AptUpgradeSecurity,
                words(&format!("{sec} {}=1.0", "a".repeat(400))),
            ),
            (AptUpgradeSecurity, words(sec)),
            (
                AptUpgradeSecurity,
                words("apt-get install -y -- openssl=1.0"),
            ),
            (AptUpgradeSecurity, vec![]),
            (AptUpgradeSecurity, vec!["".into()]),
            (AptUpgradeSecurity, words(&format!("{sec}  openssl=1.0"))),
            // The right command under the wrong type.
            (AptUpdate, words("apt-get upgrade --with-new-pkgs -y")),
            (RestartService, words("apt-get update")),
        ];
        assert!(cases.len() >= 40);
        for (t, argv) in cases {
            assert!(
                check(t, &argv, &all()).is_err(),
                "{t}: {argv:?} was accepted"
            );
        }
    }
}
