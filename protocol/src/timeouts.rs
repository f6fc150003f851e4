//! How long each action type may run: the design's defaults, overridable per type.

use std::collections::HashMap;
use std::str::FromStr;

use crate::ActionType;

/// The time limits of the action types, in seconds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Timeouts {
    overrides: HashMap<ActionType, u32>,
}

/// The shortest and longest limits accepted, in seconds.
pub const TIMEOUT_RANGE: std::ops::RangeInclusive<u32> = 5..=7200;

impl Timeouts {
    /// The limit for `action_type`.
    pub fn get(&self, action_type: ActionType) -> u32 {
        self.overrides
            .get(&action_type)
            .copied()
            .unwrap_or(action_type.kind().timeout_s)
    }
}

/// Parses `apt_upgrade_all=900,apt_update=180`; an empty text keeps every default.
impl FromStr for Timeouts {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut overrides = HashMap::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, secs) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}`: expected TYPE=SECONDS"))?;
            let action_type: ActionType = name.trim().parse().map_err(|e| format!("{e}"))?;
            let secs: u32 = secs
                .trim()
                .parse()
                .ok()
                .filter(|s| TIMEOUT_RANGE.contains(s))
                .ok_or_else(|| {
                    format!(
                        "`{part}`: seconds must be a number from {} to {}",
                        TIMEOUT_RANGE.start(),
                        TIMEOUT_RANGE.end()
                    )
                })?;
            overrides.insert(action_type, secs);
        }
        Ok(Timeouts { overrides })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_design_and_overrides_replace_them() {
        let t: Timeouts = "apt_upgrade_all=900, apt_update=180".parse().unwrap();
        assert_eq!(t.get(ActionType::AptUpgradeAll), 900);
        assert_eq!(t.get(ActionType::AptUpdate), 180);
        assert_eq!(t.get(ActionType::AptUpgradeSecurity), 600);
        assert_eq!(t.get(ActionType::RestartService), 60);
        assert_eq!("".parse::<Timeouts>().unwrap(), Timeouts::default());
    }

    #[test]
    fn bad_overrides_are_refused_with_a_reason() {
        for (text, expected) in [
            ("apt_update", "TYPE=SECONDS"),
            ("apt_dist_upgrade=60", "unknown action type"),
            ("apt_update=0", "from 5 to 7200"),
            ("apt_update=soon", "from 5 to 7200"),
        ] {
            let err = text.parse::<Timeouts>().unwrap_err();
            assert!(err.contains(expected), "{text}: {err}");
        }
    }
}
