//! One description per action kind: its time limit, its place in the duplicate guard
//! (its slot), the exact command it runs (never a shell string; no apt option ever
//! comes from a request) and the pattern that command must match on the agent. Its
//! parameters are [`crate::ActionSpec`]'s (`params.rs`). Every match over the kinds
//! is exhaustive, so the compiler points at each place a new kind needs a word.

use crate::command::SecurityPin;
use crate::{ActionSpec, ActionType};

/// What an action kind is, beside its parameters and command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    /// How long the agent lets the command run before it kills it, in seconds
    /// (the design's default; the server may override it per kind).
    pub timeout_s: u32,
    /// Which actions a new one of this kind would duplicate.
    pub slot: SlotRule,
}

/// Which in-flight actions a new one duplicates (DESIGN.md, "Duplicates").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotRule {
    /// Any number at once.
    None,
    /// One per server for all the kinds that share the slot, held until it ends
    /// (the apt kinds: one apt run at a time).
    PerServer(&'static str),
    /// One per server and unit, held until it starts (a second restart of a unit
    /// that is restarting would do nothing).
    PerUnit,
}

impl ActionType {
    /// The description of this kind.
    pub const fn kind(self) -> Kind {
        match self {
            ActionType::RestartService => Kind {
                timeout_s: 60,
                slot: SlotRule::PerUnit,
            },
            ActionType::ClearLogs => Kind {
                timeout_s: 60,
                slot: SlotRule::None,
            },
            ActionType::AptUpdate => Kind {
                timeout_s: 120,
                slot: SlotRule::PerServer(APT_SLOT),
            },
            ActionType::AptUpgradeAll | ActionType::AptUpgradeSecurity => Kind {
                timeout_s: 600,
                slot: SlotRule::PerServer(APT_SLOT),
            },
            // The limit covers the machine going down and its agent reporting in
            // from the next boot. It shares the apt slot: no reboot while apt runs,
            // and no apt run while the machine goes down.
            ActionType::Reboot => Kind {
                timeout_s: 900,
                slot: SlotRule::PerServer(APT_SLOT),
            },
        }
    }

    /// The anchored pattern the command, its arguments joined by single spaces, must
    /// match for the agent to run it. Shape only: the agent also parses each unit,
    /// package and version argument as its type.
    pub fn whitelist_pattern(self) -> String {
        match self {
            ActionType::RestartService => format!("^systemctl restart {UNIT}$"),
            ActionType::ClearLogs => r"^journalctl --vacuum-time=[1-9][0-9]{0,4}[dhms]$".to_owned(),
            ActionType::AptUpdate => "^apt-get update$".to_owned(),
            ActionType::AptUpgradeAll => "^apt-get upgrade --with-new-pkgs -y$".to_owned(),
            ActionType::AptUpgradeSecurity => {
                format!("^apt-get install --only-upgrade -y --(?: {PACKAGE}={PIN_VERSION})+$")
            }
            ActionType::Reboot => "^systemctl reboot$".to_owned(),
        }
    }

    /// Whether this kind runs apt.
    pub fn is_apt(self) -> bool {
        matches!(
            self,
            ActionType::AptUpdate | ActionType::AptUpgradeAll | ActionType::AptUpgradeSecurity
        )
    }
}

/// The slot the apt kinds and the reboot share.
const APT_SLOT: &str = "apt";

/// A systemd service unit, as the whitelist reads it.
pub const UNIT: &str = r"[A-Za-z0-9][A-Za-z0-9_.@:-]{0,246}\.service";
/// A Debian package name, with an optional `:arch`.
pub const PACKAGE: &str = r"[a-z0-9][a-z0-9+.-]+(?::[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)?";
/// A Debian version apt can be asked for exactly: `[epoch:]upstream[-revision]` by
/// policy, the revision non-empty, and never ending in `+` (nor `-`): apt reads a
/// trailing sign on a package argument as "install"/"remove", even after
/// `--only-upgrade`.
pub const PIN_VERSION: &str = concat!(
    r"(?:[0-9]+:[0-9][A-Za-z0-9.+~:-]*-[A-Za-z0-9.+~]*[A-Za-z0-9.~]",
    r"|[0-9]+:[0-9](?:[A-Za-z0-9.+~:]*[A-Za-z0-9.~:])?",
    r"|[0-9][A-Za-z0-9.+~-]*-[A-Za-z0-9.+~]*[A-Za-z0-9.~]",
    r"|[0-9](?:[A-Za-z0-9.+~]*[A-Za-z0-9.~])?)"
);

/// The duplicate-guard slot an action takes while it waits (and, for some kinds,
/// while it runs): two actions of one server with the same slot cannot both be in
/// flight; the database holds it with a unique index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// `apt`, or `unit:<name>.service`.
    pub name: String,
    /// Whether the slot stays taken while the action runs, not only while it waits.
    pub while_running: bool,
}

impl ActionSpec {
    /// The argv of an action. `security` is the server's pending security packages at
    /// creation time (used by `apt_upgrade_security` only). An empty argv is the no-op of
    /// a security upgrade with nothing to upgrade.
    pub fn argv(&self, security: &[SecurityPin]) -> Vec<String> {
        let words = |w: &[&str]| w.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        match self {
            ActionSpec::RestartService { unit } => {
                vec!["systemctl".into(), "restart".into(), unit.to_string()]
            }
            ActionSpec::ClearLogs { vacuum_time } => {
                vec!["journalctl".into(), format!("--vacuum-time={vacuum_time}")]
            }
            ActionSpec::AptUpdate => words(&["apt-get", "update"]),
            ActionSpec::AptUpgradeAll => words(&["apt-get", "upgrade", "--with-new-pkgs", "-y"]),
            ActionSpec::AptUpgradeSecurity if security.is_empty() => Vec::new(),
            ActionSpec::AptUpgradeSecurity => {
                let mut argv = words(&["apt-get", "install", "--only-upgrade", "-y", "--"]);
                argv.extend(security.iter().map(|p| format!("{}={}", p.name, p.version)));
                argv
            }
            ActionSpec::Reboot => words(&["systemctl", "reboot"]),
        }
    }

    /// The slot this action takes, if its kind has one.
    pub fn slot(&self) -> Option<Slot> {
        match (self.action_type().kind().slot, self) {
            (SlotRule::None, _) => None,
            (SlotRule::PerServer(name), _) => Some(Slot {
                name: name.to_owned(),
                while_running: true,
            }),
            (SlotRule::PerUnit, ActionSpec::RestartService { unit }) => Some(Slot {
                name: format!("unit:{unit}"),
                while_running: false,
            }),
            // Only restarts name a unit; a per-unit kind without one has no slot.
            (SlotRule::PerUnit, _) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::UnitName;

    #[test]
    fn the_apt_kinds_and_the_reboot_share_one_slot_held_while_running_and_restarts_one_per_unit() {
        let apt: Vec<_> = [
            ActionType::AptUpdate,
            ActionType::AptUpgradeAll,
            ActionType::AptUpgradeSecurity,
            ActionType::Reboot,
        ]
        .into_iter()
        .map(|t| ActionSpec::parse(t, None).unwrap().slot())
        .collect();
        let expected = Some(Slot {
            name: "apt".into(),
            while_running: true,
        });
        assert!(apt.iter().all(|s| *s == expected), "{apt:?}");
        let restart = ActionSpec::RestartService {
            unit: UnitName::parse("nginx").unwrap(),
        };
        assert_eq!(
            restart.slot(),
            Some(Slot {
                name: "unit:nginx.service".into(),
                while_running: false
            })
        );
        let logs = ActionSpec::parse(ActionType::ClearLogs, None).unwrap();
        assert_eq!(logs.slot(), None);
    }

    #[test]
    fn every_kind_has_a_pattern_that_compiles_and_a_sane_time_limit() {
        for &t in ActionType::ALL {
            regex::Regex::new(&t.whitelist_pattern()).unwrap();
            assert!(
                crate::timeouts::TIMEOUT_RANGE.contains(&t.kind().timeout_s),
                "{t}"
            );
        }
    }
}
