//! The fleet as the dashboard and the JSON API show it.

use serde::{Deserialize, Serialize};

use crate::{Millis, ServerId, ServerName};

/// Whether a machine's agent is reporting, derived from its last heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ServerStatus {
    /// A heartbeat arrived within the last three heartbeat intervals.
    Online,
    /// The last heartbeat is older than three heartbeat intervals.
    Offline,
    /// No heartbeat has arrived yet.
    Unknown,
}

impl ServerStatus {
    /// How many heartbeat intervals may pass before a machine counts as offline.
    pub const MISSED_HEARTBEATS: i64 = 3;

    /// The status of a machine last heard from at `last_seen`, seen at `now`, with
    /// agents reporting every `interval_ms`.
    pub fn derive(last_seen: Option<Millis>, now: Millis, interval_ms: i64) -> Self {
        match last_seen {
            None => ServerStatus::Unknown,
            Some(seen) if now.since(seen) < Self::MISSED_HEARTBEATS * interval_ms => {
                ServerStatus::Online
            }
            Some(_) => ServerStatus::Offline,
        }
    }
}

/// Whether actions on a server are approved automatically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ApprovalPolicy {
    /// Approved automatically unless the server is in maintenance mode.
    #[default]
    Auto,
    /// Every action waits for a person.
    AlwaysAsk,
}

impl ApprovalPolicy {
    /// The text stored in the database.
    pub const fn as_str(self) -> &'static str {
        match self {
            ApprovalPolicy::Auto => "auto",
            ApprovalPolicy::AlwaysAsk => "always_ask",
        }
    }

    /// Parses the stored text.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "auto" => Some(ApprovalPolicy::Auto),
            "always_ask" => Some(ApprovalPolicy::AlwaysAsk),
            _ => None,
        }
    }

    /// Whether a new action on a server with this policy waits for a person.
    pub const fn needs_person(self, paused: bool) -> bool {
        paused || matches!(self, ApprovalPolicy::AlwaysAsk)
    }
}

/// One row of the fleet table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServerSummary {
    pub id: ServerId,
    pub name: ServerName,
    pub status: ServerStatus,
    /// Unix milliseconds of the last heartbeat, if any.
    pub last_seen_ms: Option<Millis>,
    /// Installable updates (held and kept-back packages excluded).
    pub updates: u32,
    /// Packages with a version from a security archive available.
    pub security_updates: u32,
    /// Maintenance mode: every action waits for a person.
    pub paused: bool,
    /// Unix milliseconds when maintenance mode was switched on.
    pub paused_at_ms: Option<Millis>,
    pub approval_policy: ApprovalPolicy,
    pub reboot_required: bool,
    /// Actions waiting for a person to approve or reject them.
    pub awaiting_approval: u32,
    /// Its tags, sorted.
    #[serde(default)]
    pub tags: Vec<crate::Tag>,
}

/// The answer to adding a server: its id and the agent token, shown only once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AddedServer {
    pub id: ServerId,
    pub agent_token: String,
}

/// A JSON API token as listed: its name and age, never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiTokenInfo {
    pub name: String,
    pub created_at_ms: Millis,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn people_approve_in_maintenance_or_when_the_policy_says_so() {
        assert!(!ApprovalPolicy::Auto.needs_person(false));
        assert!(ApprovalPolicy::Auto.needs_person(true));
        assert!(ApprovalPolicy::AlwaysAsk.needs_person(false));
        assert_eq!(
            ApprovalPolicy::parse("always_ask"),
            Some(ApprovalPolicy::AlwaysAsk)
        );
        assert_eq!(ApprovalPolicy::parse("never"), None);
    }

    #[test]
    fn status_follows_the_last_heartbeat() {
        let interval = 60_000;
        let now = 1_000_000_000;
        let cases = [
            (None, ServerStatus::Unknown),
            (Some(now), ServerStatus::Online),
            (Some(now - 3 * interval + 1), ServerStatus::Online),
            (Some(now - 3 * interval), ServerStatus::Offline),
            (Some(now - 10 * interval), ServerStatus::Offline),
        ];
        for (seen, expected) in cases {
            assert_eq!(
                ServerStatus::derive(seen.map(Millis::new), Millis::new(now), interval),
                expected,
                "{seen:?}"
            );
        }
    }
}

/// A server's pending packages, as `GET /api/v1/servers/{id}/packages` answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PackageList {
    /// Security updates first, then by name.
    pub packages: Vec<crate::PendingPackage>,
    /// Installable updates: held and kept-back packages are listed but not counted.
    pub total: u32,
    /// Packages with a security version available (held ones excluded).
    pub security: u32,
}

impl PackageList {
    /// Counts the list the way the fleet table does.
    pub fn new(packages: Vec<crate::PendingPackage>) -> Self {
        let UpdateCounts { total, security } = UpdateCounts::of(&packages);
        PackageList {
            packages,
            total,
            security,
        }
    }
}

/// What the fleet counts of a package list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpdateCounts {
    /// Installable updates: held and kept-back packages are not counted.
    pub total: u32,
    /// Packages with a security version available (held ones excluded).
    pub security: u32,
}

impl UpdateCounts {
    /// The counts of `packages`.
    pub fn of(packages: &[crate::PendingPackage]) -> Self {
        let count = |f: &dyn Fn(&crate::PendingPackage) -> bool| {
            u32::try_from(packages.iter().filter(|p| f(p)).count()).unwrap_or(u32::MAX)
        };
        UpdateCounts {
            total: count(&|p| p.is_installable()),
            security: count(&|p| p.is_security && !p.held),
        }
    }
}

/// Everything the server page shows about one machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServerDetail {
    #[serde(flatten)]
    pub summary: ServerSummary,
    pub hostname: Option<String>,
    pub os: Option<String>,
    pub agent_version: Option<String>,
    pub metrics: Option<crate::Metrics>,
    /// The packages that asked for the pending reboot.
    pub reboot_required_pkgs: Vec<String>,
    /// Unix milliseconds of the last package scan received.
    pub packages_seen_at_ms: Option<Millis>,
    pub packages: PackageList,
}
