//! The agent's last line of defence: an action runs only when its argv, joined by
//! single spaces, matches the anchored pattern of its type, every argument is a
//! plain word that parses as the type it stands for (unit, package, version), and
//! this machine's config allows the type (and the unit). Nothing else ever runs.

use std::collections::HashSet;
use std::sync::LazyLock;

use homelab_protocol::{ActionType, DebVersion, PackageName, UnitName};
use regex::Regex;

use crate::units::UnitGlob;

/// The longest argument accepted.
const MAX_ARG_LEN: usize = 300;
/// The most arguments accepted (a security upgrade pins one package per argument).
const MAX_ARGS: usize = 2_000;

/// One anchored pattern per action type (the protocol's description of each kind),
/// built once.
static PATTERNS: LazyLock<Vec<(ActionType, Regex)>> = LazyLock::new(|| {
    ActionType::ALL
        .iter()
        .map(|&t| {
            (
                t,
                Regex::new(&t.whitelist_pattern()).expect("static whitelist pattern"),
            )
        })
        .collect()
});

/// What this machine's own config allows, whatever the server asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Local {
    /// The action types the server may run here.
    pub allowed_actions: HashSet<ActionType>,
    /// The units `restart_service` may restart; None allows every `.service` unit.
    pub allowed_units: Option<Vec<UnitGlob>>,
    /// The unit the agent runs in, never restarted (it would stop the agent mid-run).
    pub own_unit: Option<String>,
}

impl Local {
    /// Everything allowed: every type, every service unit.
    pub fn everything() -> Self {
        Local {
            allowed_actions: ActionType::ALL.iter().copied().collect(),
            allowed_units: None,
            own_unit: None,
        }
    }
}

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
    #[error("{0}")]
    BadUnit(String),
    #[error("`{0}` is the unit this agent runs in; restart it on the machine")]
    OwnUnit(String),
    #[error("`{0}` is not in this machine's allowed_units")]
    UnitNotAllowed(String),
    #[error("package argument `{arg}` is refused: {reason}")]
    BadPackage { arg: String, reason: String },
}

/// Checks `argv` for `action_type` against the whitelist and the local config.
pub fn check(action_type: ActionType, argv: &[String], local: &Local) -> Result<(), Refusal> {
    if !local.allowed_actions.contains(&action_type) {
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
    if !matched {
        return Err(Refusal::NoMatch(action_type));
    }
    // The patterns say the shape; the protocol's types say the rest, the same rules
    // the server applied (a second, independent reading of each argument).
    match action_type {
        ActionType::RestartService => check_unit(&argv[2], local),
        ActionType::AptUpgradeSecurity => argv[5..].iter().try_for_each(|a| check_pin(a)),
        _ => Ok(()),
    }
}

fn check_unit(arg: &str, local: &Local) -> Result<(), Refusal> {
    let unit = UnitName::parse(arg).map_err(|e| Refusal::BadUnit(e.message))?;
    if unit.as_str() != arg {
        return Err(Refusal::BadUnit(format!("`{arg}` is not a full unit name")));
    }
    if local.own_unit.as_deref() == Some(arg) {
        return Err(Refusal::OwnUnit(arg.to_owned()));
    }
    match &local.allowed_units {
        Some(globs) if !globs.iter().any(|g| g.matches(&unit)) => {
            Err(Refusal::UnitNotAllowed(arg.to_owned()))
        }
        _ => Ok(()),
    }
}

fn check_pin(arg: &str) -> Result<(), Refusal> {
    let refuse = |reason: String| Refusal::BadPackage {
        arg: arg.to_owned(),
        reason,
    };
    if arg.starts_with('-') || arg.ends_with(['-', '+']) || arg.contains('/') {
        return Err(refuse(
            "starts with -, ends with - or +, or holds / (apt would read it as an option, a removal, an install or a file)".to_owned(),
        ));
    }
    let (name, version) = arg
        .split_once('=')
        .ok_or_else(|| refuse("not NAME=VERSION".to_owned()))?;
    PackageName::parse(name).map_err(|e| refuse(e.to_string()))?;
    DebVersion::parse(version).map_err(|e| refuse(e.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use homelab_protocol::{ActionSpec, SecurityPin};

    fn all() -> Local {
        Local::everything()
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
            (ActionType::Reboot, serde_json::json!({})),
        ];
        assert_eq!(specs.len(), ActionType::ALL.len());
        for (t, params) in specs {
            let spec = ActionSpec::parse(t, Some(&params)).unwrap();
            let argv = spec.argv(&pins);
            assert_eq!(check(t, &argv, &all()), Ok(()), "{argv:?}");
        }
    }

    #[test]
    fn the_local_config_switches_types_off() {
        let only_update = Local {
            allowed_actions: HashSet::from([ActionType::AptUpdate]),
            ..Local::everything()
        };
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
        assert_eq!(
            check(ActionType::Reboot, &words("systemctl reboot"), &only_update),
            Err(Refusal::NotAllowed(ActionType::Reboot))
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
            // Only full .service names, never the agent, never the power states.
            (RestartService, words("systemctl restart nginx")),
            (RestartService, words("systemctl restart poweroff.target")),
            (RestartService, words("systemctl restart reboot.target")),
            (RestartService, words("systemctl restart emergency.target")),
            (RestartService, words("systemctl restart ssh.socket")),
            (
                RestartService,
                words("systemctl restart homelab-agent.service"),
            ),
            (
                RestartService,
                words("systemctl restart systemd-reboot.service"),
            ),
            (RestartService, words("systemctl restart getty@.service")),
            // Versions apt would read as "remove" or "install", or that are no version.
            (
                AptUpgradeSecurity,
                words(&format!("{sec} hl-normal=1.1-1-")),
            ),
            (AptUpgradeSecurity, words(&format!("{sec} hl-normal=1.0-"))),
            (AptUpgradeSecurity, words(&format!("{sec} hl-normal=1.0+"))),
            (
                AptUpgradeSecurity,
                words(&format!("{sec} hl-normal=1.0-1+")),
            ),
            (AptUpgradeSecurity, words(&format!("{sec} hl-normal=1:"))),
            (AptUpgradeSecurity, words(&format!("{sec} hl-normal=:1"))),
            (AptUpgradeSecurity, words(&format!("{sec} hl-normal=-1"))),
            (AptUpgradeSecurity, words(&format!("{sec} hl-normal="))),
            (AptUpgradeSecurity, words(&format!("{sec} hl-normal=1/2"))),
            (
                AptUpgradeSecurity,
                words(&format!("{sec} libc6:amd64-=1.0")),
            ),
            (
                AptUpgradeSecurity,
                words(&format!("{sec} openssl=3.0-1 hl-normal=1.1-1-")),
            ),
            // A reboot is exactly `systemctl reboot`: no options, no other power state,
            // no delay, no message, no other machine.
            (Reboot, words("systemctl reboot --force")),
            (Reboot, words("systemctl reboot -ff")),
            (Reboot, words("systemctl poweroff")),
            (Reboot, words("systemctl halt")),
            (Reboot, words("systemctl kexec")),
            (Reboot, words("systemctl reboot --firmware-setup")),
            (Reboot, words("systemctl -H other reboot")),
            (Reboot, words("systemctl reboot now")),
            (Reboot, words("shutdown -r now")),
            (Reboot, words("reboot")),
            (Reboot, words("/bin/systemctl reboot")),
            (Reboot, words("systemctl reboot;rm")),
            (Reboot, words("systemctl restart nginx")),
            (
                Reboot,
                vec!["systemctl".into(), "reboot".into(), String::new()],
            ),
            (RestartService, words("systemctl reboot")),
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

    #[test]
    fn every_real_debian_version_is_accepted_as_a_pin() {
        let real = include_str!("../../protocol/tests/fixtures/debian-versions.txt");
        let sec = "apt-get install --only-upgrade -y --";
        for v in real.lines().filter(|l| !l.starts_with('#')) {
            let argv = words(&format!("{sec} libc6:amd64={v}"));
            assert_eq!(
                check(ActionType::AptUpgradeSecurity, &argv, &all()),
                Ok(()),
                "{v}"
            );
        }
    }

    fn restart(unit: &str) -> Vec<String> {
        vec!["systemctl".into(), "restart".into(), unit.into()]
    }

    #[test]
    fn allowed_units_narrow_restarts_and_the_own_unit_is_refused() {
        let local = Local {
            allowed_units: Some(vec![
                UnitGlob::parse("nginx").unwrap(),
                UnitGlob::parse("docker*.service").unwrap(),
                UnitGlob::parse("hl-*").unwrap(),
            ]),
            own_unit: Some("hl-agent.service".into()),
            ..Local::everything()
        };
        let t = ActionType::RestartService;
        assert_eq!(check(t, &restart("nginx.service"), &local), Ok(()));
        assert_eq!(check(t, &restart("docker.service"), &local), Ok(()));
        assert_eq!(check(t, &restart("docker-x.service"), &local), Ok(()));
        assert_eq!(
            check(t, &restart("ssh.service"), &local),
            Err(Refusal::UnitNotAllowed("ssh.service".into()))
        );
        assert_eq!(
            check(t, &restart("hl-agent.service"), &local),
            Err(Refusal::OwnUnit("hl-agent.service".into()))
        );
        let none = Local {
            allowed_units: Some(vec![]),
            ..Local::everything()
        };
        assert!(check(t, &restart("nginx.service"), &none).is_err());
        assert_eq!(check(t, &restart("ssh.service"), &all()), Ok(()));
        let err = check(t, &restart("poweroff.target"), &all()).unwrap_err();
        assert!(err.to_string().contains("does not match"), "{err}");
    }

    proptest::proptest! {
        /// The whitelist's version pattern and the protocol's parser are two readings
        /// of one grammar: they must agree on every text.
        #[test]
        fn the_version_pattern_agrees_with_deb_version(
            v in "[0-9a-zA-Z.+~:/ _-]{0,12}|[0-9]{1,3}:?[0-9][a-z0-9.+~:-]{0,8}-?[a-z0-9.+~:-]{0,4}|\\PC{0,8}"
        ) {
            let re = Regex::new(&format!("^{}$", homelab_protocol::kind::PIN_VERSION)).unwrap();
            // The epoch's range is the parser's alone (dpkg's INT_MAX).
            proptest::prop_assume!(v.split(':').next().is_none_or(|e| e.len() <= 9));
            // A version ending in `+` is Debian's but never a pin: apt would read the
            // sign as "install" and strip it.
            let pinnable = DebVersion::parse(v.clone()).is_ok_and(|d| d.is_pinnable());
            proptest::prop_assert_eq!(re.is_match(&v), pinnable, "{:?}", v);
        }

        #[test]
        fn no_accepted_package_argument_ends_in_a_sign_starts_with_a_dash_or_holds_a_slash(
            arg in "[a-z0-9:+.-]{1,6}=[0-9a-z.+~:/-]{0,8}|\\PC{0,12}"
        ) {
            let argv = words(&format!("apt-get install --only-upgrade -y -- {arg}"));
            if check(ActionType::AptUpgradeSecurity, &argv, &all()).is_ok() {
                proptest::prop_assert!(!arg.ends_with(['-', '+']) && !arg.starts_with('-') && !arg.contains('/'));
            }
        }
    }
}
