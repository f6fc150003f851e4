//! What a security upgrade pins, and what it says when there is nothing to pin. The
//! command itself is built by [`ActionSpec::argv`] (in `kind.rs`).

use crate::package::{DebVersion, PackageName};

/// A package pinned to the version from the security archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityPin {
    pub name: PackageName,
    pub version: DebVersion,
}

/// What `apt_upgrade_security` records when nothing is pending.
pub const NO_SECURITY_PACKAGES: &str = "No security packages to upgrade";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ActionType;
    use crate::params::ActionSpec;
    use crate::params::{UnitName, VacuumTime};

    fn pin(name: &str, version: &str) -> SecurityPin {
        SecurityPin {
            name: PackageName::parse(name).unwrap(),
            version: DebVersion::parse(version).unwrap(),
        }
    }

    #[test]
    fn every_action_type_builds_the_design_command() {
        let pins = [
            pin("openssl", "3.0.15-1~deb12u1"),
            pin("libc6:i386", "2.36-9+deb12u9"),
        ];
        let cases = [
            (
                ActionSpec::RestartService {
                    unit: UnitName::parse("nginx.service").unwrap(),
                },
                vec!["systemctl", "restart", "nginx.service"],
            ),
            (
                ActionSpec::ClearLogs {
                    vacuum_time: VacuumTime::parse("3d").unwrap(),
                },
                vec!["journalctl", "--vacuum-time=3d"],
            ),
            (ActionSpec::AptUpdate, vec!["apt-get", "update"]),
            (
                ActionSpec::AptUpgradeAll,
                vec!["apt-get", "upgrade", "--with-new-pkgs", "-y"],
            ),
            (
                ActionSpec::AptUpgradeSecurity,
                vec![
                    "apt-get",
                    "install",
                    "--only-upgrade",
                    "-y",
                    "--",
                    "openssl=3.0.15-1~deb12u1",
                    "libc6:i386=2.36-9+deb12u9",
                ],
            ),
            (ActionSpec::Reboot, vec!["systemctl", "reboot"]),
        ];
        assert_eq!(cases.len(), ActionType::ALL.len());
        for (spec, expected) in cases {
            assert_eq!(spec.argv(&pins), expected, "{:?}", spec.action_type());
        }
    }

    #[test]
    fn a_bare_unit_restarts_its_service_and_pins_never_end_in_a_sign() {
        let spec = ActionSpec::RestartService {
            unit: UnitName::parse("nginx").unwrap(),
        };
        assert_eq!(spec.argv(&[]), ["systemctl", "restart", "nginx.service"]);
        let pins = [pin("g++", "4:12.2.0-3"), pin("x-", "1.0~rc1")];
        for arg in &ActionSpec::AptUpgradeSecurity.argv(&pins)[5..] {
            assert!(!arg.ends_with(['-', '+']) && !arg.starts_with('-'), "{arg}");
        }
    }

    #[test]
    fn a_security_upgrade_with_nothing_pending_is_a_no_op() {
        assert!(crate::params::ActionSpec::argv(&ActionSpec::AptUpgradeSecurity, &[]).is_empty());
    }
}
