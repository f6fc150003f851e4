//! What an action does ([`ActionType`]) and where it is in its life ([`ActionStatus`]).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A text that names none of an enum's variants.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{value}`; expected one of: {expected}")]
pub struct ParseEnumError {
    kind: &'static str,
    value: String,
    expected: String,
}

/// Defines a fieldless enum stored and sent as snake_case text, with `ALL`,
/// `as_str`, `Display` and `FromStr` kept in step by construction.
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $kind:literal {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $( $(#[$vmeta])* #[serde(rename = $text)] $variant ),+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The text stored in the database and sent on the wire.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = ParseEnumError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(ParseEnumError {
                        kind: $kind,
                        value: s.to_owned(),
                        expected: [$($text),+].join(", "),
                    }),
                }
            }
        }
    };
}

text_enum! {
    /// What an action does on a machine. The server builds the command from it; the
    /// agent checks the command against its whitelist for it.
    ActionType, "action type" {
        /// `systemctl restart <unit>`
        RestartService => "restart_service",
        /// `journalctl --vacuum-time=<N><unit>`
        ClearLogs => "clear_logs",
        /// `apt-get update`
        AptUpdate => "apt_update",
        /// `apt-get upgrade --with-new-pkgs -y`
        AptUpgradeAll => "apt_upgrade_all",
        /// `apt-get install --only-upgrade -y -- <pkg>=<security version> ...`
        AptUpgradeSecurity => "apt_upgrade_security",
    }
}

impl ActionType {
    /// The three apt actions share one queue slot per server.
    pub const fn is_apt(self) -> bool {
        matches!(
            self,
            ActionType::AptUpdate | ActionType::AptUpgradeAll | ActionType::AptUpgradeSecurity
        )
    }

    /// How long the agent lets the command run before it is killed, in seconds.
    pub const fn default_timeout_s(self) -> u32 {
        match self {
            ActionType::RestartService | ActionType::ClearLogs => 60,
            ActionType::AptUpdate => 120,
            ActionType::AptUpgradeAll | ActionType::AptUpgradeSecurity => 600,
        }
    }

    /// A short label for people.
    pub const fn label(self) -> &'static str {
        match self {
            ActionType::RestartService => "Restart service",
            ActionType::ClearLogs => "Clear logs",
            ActionType::AptUpdate => "Refresh package list",
            ActionType::AptUpgradeAll => "Apply all updates",
            ActionType::AptUpgradeSecurity => "Apply security updates",
        }
    }
}

text_enum! {
    /// Where an action is in the status machine of DESIGN.md.
    ActionStatus, "action status" {
        /// Waiting for a person to approve or reject it.
        Pending => "pending",
        /// Approved; waiting for the agent to claim it.
        Approved => "approved",
        /// Claimed by the agent and running.
        Executing => "executing",
        /// Ran and exited with 0.
        Completed => "completed",
        /// Ran and failed, or could not run; the action carries the reason.
        Failed => "failed",
        /// A person refused it, with a reason.
        Rejected => "rejected",
        /// Withdrawn before it ran.
        Cancelled => "cancelled",
    }
}

impl ActionStatus {
    /// True once nothing can change the action any more.
    pub const fn is_final(self) -> bool {
        matches!(
            self,
            ActionStatus::Completed
                | ActionStatus::Failed
                | ActionStatus::Rejected
                | ActionStatus::Cancelled
        )
    }

    /// True while the action holds its queue slot (see DESIGN.md, "Duplicates").
    pub const fn is_in_flight(self) -> bool {
        matches!(
            self,
            ActionStatus::Pending | ActionStatus::Approved | ActionStatus::Executing
        )
    }

    /// A short label for people.
    pub const fn label(self) -> &'static str {
        match self {
            ActionStatus::Pending => "Awaiting approval",
            ActionStatus::Approved => "Queued",
            ActionStatus::Executing => "Running",
            ActionStatus::Completed => "Completed",
            ActionStatus::Failed => "Failed",
            ActionStatus::Rejected => "Rejected",
            ActionStatus::Cancelled => "Cancelled",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_type_round_trips_through_text_and_json() {
        for &t in ActionType::ALL {
            assert_eq!(t.as_str().parse::<ActionType>(), Ok(t));
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, format!("\"{}\"", t.as_str()));
            assert_eq!(serde_json::from_str::<ActionType>(&json).unwrap(), t);
        }
    }

    #[test]
    fn every_action_status_round_trips_through_text_and_json() {
        for &s in ActionStatus::ALL {
            assert_eq!(s.as_str().parse::<ActionStatus>(), Ok(s));
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(serde_json::from_str::<ActionStatus>(&json).unwrap(), s);
        }
    }

    #[test]
    fn unknown_text_is_refused_with_the_accepted_values() {
        let err = "apt_dist_upgrade".parse::<ActionType>().unwrap_err();
        let message = err.to_string();
        assert!(message.contains("apt_dist_upgrade"), "{message}");
        assert!(message.contains("apt_upgrade_security"), "{message}");
        assert!("Pending".parse::<ActionStatus>().is_err());
        assert!(serde_json::from_str::<ActionType>("\"rm_rf\"").is_err());
    }

    #[test]
    fn timeouts_follow_the_design_table() {
        use ActionType::*;
        let table = [
            (RestartService, 60),
            (ClearLogs, 60),
            (AptUpdate, 120),
            (AptUpgradeAll, 600),
            (AptUpgradeSecurity, 600),
        ];
        assert_eq!(table.len(), ActionType::ALL.len());
        for (t, secs) in table {
            assert_eq!(t.default_timeout_s(), secs, "{t}");
        }
    }

    #[test]
    fn only_the_three_apt_types_share_the_apt_slot() {
        let apt: Vec<_> = ActionType::ALL.iter().filter(|t| t.is_apt()).collect();
        assert_eq!(
            apt,
            [
                &ActionType::AptUpdate,
                &ActionType::AptUpgradeAll,
                &ActionType::AptUpgradeSecurity
            ]
        );
    }

    #[test]
    fn in_flight_and_final_statuses_partition_the_machine() {
        for &s in ActionStatus::ALL {
            assert_ne!(s.is_final(), s.is_in_flight(), "{s}");
        }
    }
}
