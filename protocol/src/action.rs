//! What an action does ([`ActionType`]) and where it is in its life ([`ActionStatus`]).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Millis;

/// A text that names none of an enum's variants.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{value}`; expected one of: {expected}")]
pub struct ParseEnumError {
    pub(crate) kind: &'static str,
    pub(crate) value: String,
    pub(crate) expected: String,
}

/// Defines a fieldless enum stored and sent as snake_case text, with `ALL`,
/// `as_str`, `Display` and `FromStr` kept in step by construction.
///
/// Each text is a `tt`, not a `literal`: a `literal` fragment reaches the derives
/// wrapped in an invisible group, which `utoipa::ToSchema` does not read in
/// `#[serde(rename = ...)]` (the OpenAPI document then listed the variants' Rust names).
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $kind:literal {
            $( $(#[$vmeta:meta])* $variant:ident => $text:tt ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

pub(crate) use text_enum;

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
        /// `systemctl reboot`; completed when the machine reports a new boot id
        Reboot => "reboot",
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

    /// The status machine of DESIGN.md, in one place: the status after `op`, or
    /// None when `op` is not allowed from this status. The engine asks it for a
    /// person's moves (approve, reject, cancel), the dashboard before it offers a
    /// button; the agent's moves (claim, result, lost lease) are guarded updates in
    /// `core/src/db/actions.rs` that follow the same table (and a result that comes
    /// after a lost lease still wins, marked late).
    pub const fn after(self, op: Operation) -> Option<ActionStatus> {
        use ActionStatus::*;
        match (self, op) {
            (Pending, Operation::Approve) => Some(Approved),
            (Pending, Operation::Reject) => Some(Rejected),
            (Pending | Approved, Operation::Cancel) => Some(Cancelled),
            (Approved, Operation::Claim) => Some(Executing),
            // The no-op security upgrade: approved, with nothing for the agent to run.
            (Approved, Operation::CompleteWithoutRunning) => Some(Completed),
            (Executing, Operation::Succeed) => Some(Completed),
            (Executing, Operation::Fail | Operation::LoseAgent) => Some(Failed),
            // apt's simulation would remove packages and no person approved it: it
            // waits for one again, its slot still held.
            (Executing, Operation::Hold) => Some(Pending),
            _ => None,
        }
    }

    /// Whether the machine allows `op` from this status.
    pub const fn allows(self, op: Operation) -> bool {
        self.after(op).is_some()
    }
}

/// What can happen to an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// A person lets it run.
    Approve,
    /// A person refuses it, with a reason.
    Reject,
    /// A person withdraws it before it runs.
    Cancel,
    /// The agent takes it to run.
    Claim,
    /// It needs no run (nothing to upgrade) and ends at once.
    CompleteWithoutRunning,
    /// The agent reports exit 0.
    Succeed,
    /// The agent reports a failure.
    Fail,
    /// No result came before the lease ran out.
    LoseAgent,
    /// The agent did not run an automatically approved upgrade because apt's
    /// simulation would remove packages: a person must approve it.
    Hold,
}

impl Operation {
    /// Every operation.
    pub const ALL: [Operation; 9] = [
        Operation::Approve,
        Operation::Reject,
        Operation::Cancel,
        Operation::Claim,
        Operation::CompleteWithoutRunning,
        Operation::Succeed,
        Operation::Fail,
        Operation::LoseAgent,
        Operation::Hold,
    ];

    /// The statuses `self` may start from.
    pub fn allowed_from(self) -> Vec<ActionStatus> {
        ActionStatus::ALL
            .iter()
            .copied()
            .filter(|s| s.allows(self))
            .collect()
    }
}

impl ActionStatus {}

text_enum! {
    /// Why a `failed` action failed.
    FailureReason, "failure reason" {
        /// The command ran and exited non-zero.
        ExitCode => "exit_code",
        /// The command ran past its time limit and was killed.
        TimedOut => "timed_out",
        /// The agent's whitelist refused the command; it never ran.
        NotWhitelisted => "not_whitelisted",
        /// The agent restarted while the command ran; it is never run again.
        Interrupted => "interrupted",
        /// The command could not be started.
        SpawnError => "spawn_error",
        /// No result arrived within the time limit plus a grace period.
        AgentLost => "agent_lost",
    }
}

/// An action's number: the history's order, the agent's handle, the URL's `/actions/N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(transparent)]
pub struct ActionId(i64);

impl ActionId {
    /// The action numbered `n` (the database hands them out).
    pub const fn new(n: i64) -> Self {
        ActionId(n)
    }

    /// The number, for storing and binding.
    pub const fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for ActionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for ActionId {
    type Err = std::num::ParseIntError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(ActionId)
    }
}

/// Who did something to an action: `auto`, a user, or an API token.
pub const ACTOR_AUTO: &str = "auto";

/// An action as the API, the dashboard and the history show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Action {
    pub id: ActionId,
    pub server_id: crate::ServerId,
    pub action_type: ActionType,
    /// `{"unit": ...}`, `{"vacuum_time": ...}`, or null for the apt actions.
    #[cfg_attr(
        feature = "openapi",
        schema(schema_with = crate::params::parameters_schema)
    )]
    pub parameters: Option<serde_json::Value>,
    /// The exact command; empty for a security upgrade with nothing to upgrade.
    pub argv: Vec<String>,
    pub status: ActionStatus,
    pub timeout_s: u32,
    pub created_at_ms: Millis,
    pub created_by: String,
    pub approved_at_ms: Option<Millis>,
    pub approved_by: Option<String>,
    pub rejected_at_ms: Option<Millis>,
    pub rejected_by: Option<String>,
    pub reject_reason: Option<String>,
    pub cancelled_at_ms: Option<Millis>,
    pub cancelled_by: Option<String>,
    pub started_at_ms: Option<Millis>,
    pub finished_at_ms: Option<Millis>,
    pub exit_code: Option<i32>,
    pub failure: Option<FailureReason>,
    /// When the server stopped waiting for the agent (`agent_lost`); kept when the
    /// real result arrived after all.
    #[serde(default)]
    pub lease_lost_at_ms: Option<Millis>,
    /// The fleet run that queued it, if one did.
    #[serde(default)]
    pub run_id: Option<crate::RunId>,
    /// The last 64 KiB of each stream.
    pub stdout: String,
    pub stderr: String,
    /// The latest preview of what apt would do (upgrades only), with its age.
    #[serde(default)]
    pub preview: Option<crate::ActionPreview>,
    /// When a person last asked for a preview the agent has not sent yet.
    #[serde(default)]
    pub preview_requested_at_ms: Option<Millis>,
    /// When the agent held it back for a person (apt would remove packages).
    #[serde(default)]
    pub held_at_ms: Option<Millis>,
    /// Why it was held: `held: apt would remove foo, bar`.
    #[serde(default)]
    pub hold_reason: Option<String>,
}

impl Action {
    /// Whether the agent's real result arrived after the server had given up on it.
    pub fn result_came_late(&self) -> bool {
        self.lease_lost_at_ms.is_some() && self.failure != Some(FailureReason::AgentLost)
    }

    /// How long the command ran, once it finished.
    pub fn duration_ms(&self) -> Option<i64> {
        Some(self.finished_at_ms?.since(self.started_at_ms?))
    }
}

/// What the history shows: each filter is off when None.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryFilter {
    pub server_id: Option<crate::ServerId>,
    pub status: Option<ActionStatus>,
    pub action_type: Option<ActionType>,
    /// Only the actions of this fleet run.
    #[serde(default)]
    pub run_id: Option<crate::RunId>,
    /// Only the actions of runs this schedule started.
    #[serde(default)]
    pub schedule_id: Option<crate::ScheduleId>,
}

/// One page of the history, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActionPage {
    pub actions: Vec<Action>,
    /// Pass as `cursor` for the next (older) page; null on the last page.
    pub next_cursor: Option<String>,
}

/// What the agent gets from `GET /agent/v1/actions/next`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextAction {
    pub id: ActionId,
    pub action_type: ActionType,
    /// The command to run; empty when `mode` is preview (see `preview_argv`).
    pub argv: Vec<String>,
    pub timeout_s: u32,
    /// Run it (it is now executing), or only simulate it (it stays where it was).
    #[serde(default)]
    pub mode: crate::ClaimMode,
    /// An upgrade approved by `auto`, with no person having seen it: the agent
    /// simulates it first and, if apt would remove packages, holds it instead of
    /// running it.
    #[serde(default)]
    pub hold_if_removing: bool,
    /// With mode preview, the command to simulate. It travels apart from `argv` so
    /// that an agent from before previews, which knows no `mode`, gets an empty
    /// command and refuses it rather than run an upgrade nobody approved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preview_argv: Vec<String>,
}

impl NextAction {
    /// A claimed action to run, as the long-poll hands it over.
    pub fn run(id: ActionId, action_type: ActionType, argv: Vec<String>, timeout_s: u32) -> Self {
        NextAction {
            id,
            action_type,
            argv,
            timeout_s,
            mode: crate::ClaimMode::Run,
            hold_if_removing: false,
            preview_argv: Vec::new(),
        }
    }
}

/// How often a running agent calls `POST /agent/v1/actions/{id}/progress` (body
/// `{}`) while it runs action `id`, dpkg-lock retries included, so that the server
/// extends the action's lease instead of declaring the agent lost.
pub const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// How a run ended, as the agent reports it (`failure` null with an exit code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentFailure {
    TimedOut,
    NotWhitelisted,
    Interrupted,
    SpawnError,
}

impl From<AgentFailure> for FailureReason {
    fn from(f: AgentFailure) -> Self {
        match f {
            AgentFailure::TimedOut => FailureReason::TimedOut,
            AgentFailure::NotWhitelisted => FailureReason::NotWhitelisted,
            AgentFailure::Interrupted => FailureReason::Interrupted,
            AgentFailure::SpawnError => FailureReason::SpawnError,
        }
    }
}

/// The most output kept of each stream, in bytes.
pub const MAX_OUTPUT_BYTES: usize = 64 * 1024;

/// `POST /agent/v1/actions/{id}/result`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionResult {
    /// Null when the command never ran or was killed.
    pub exit_code: Option<i32>,
    pub failure: Option<AgentFailure>,
    pub stdout: String,
    pub stderr: String,
    /// Unix milliseconds.
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

/// The last `max` bytes of `text`, cut at a character boundary.
pub fn tail(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
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
            (Reboot, 900),
        ];
        assert_eq!(table.len(), ActionType::ALL.len());
        for (t, secs) in table {
            assert_eq!(t.kind().timeout_s, secs, "{t}");
        }
    }

    #[test]
    fn only_the_three_apt_types_run_apt() {
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
    fn the_status_machine_allows_exactly_the_designs_moves() {
        use ActionStatus::*;
        use Operation::*;
        let moves: Vec<_> = ActionStatus::ALL
            .iter()
            .flat_map(|&s| {
                Operation::ALL
                    .into_iter()
                    .filter_map(move |op| s.after(op).map(|to| (s, op, to)))
            })
            .collect();
        assert_eq!(
            moves,
            [
                (Pending, Approve, Approved),
                (Pending, Reject, Rejected),
                (Pending, Cancel, Cancelled),
                (Approved, Cancel, Cancelled),
                (Approved, Claim, Executing),
                (Approved, CompleteWithoutRunning, Completed),
                (Executing, Succeed, Completed),
                (Executing, Fail, Failed),
                (Executing, LoseAgent, Failed),
                (Executing, Hold, Pending),
            ]
        );
        assert_eq!(Cancel.allowed_from(), [Pending, Approved]);
        assert!(
            ActionStatus::ALL
                .iter()
                .filter(|s| s.is_final())
                .all(|s| { Operation::ALL.into_iter().all(|op| !s.allows(op)) })
        );
    }

    #[test]
    fn tails_keep_the_end_on_a_character_boundary() {
        assert_eq!(tail("hello", 10), "hello");
        assert_eq!(tail("hello", 3), "llo");
        assert_eq!(tail("aé", 1), "");
        assert_eq!(tail("aéb", 2), "b");
        assert_eq!(
            tail(&"x".repeat(MAX_OUTPUT_BYTES + 5), MAX_OUTPUT_BYTES).len(),
            MAX_OUTPUT_BYTES
        );
    }

    #[test]
    fn a_claim_from_an_older_server_runs_and_a_preview_carries_no_runnable_argv() {
        let old =
            r#"{"id":3,"action_type":"apt_update","argv":["apt-get","update"],"timeout_s":120}"#;
        let claim: NextAction = serde_json::from_str(old).unwrap();
        assert_eq!(
            claim,
            NextAction::run(
                ActionId::new(3),
                ActionType::AptUpdate,
                vec!["apt-get".into(), "update".into()],
                120
            )
        );
        let preview = NextAction {
            mode: crate::ClaimMode::Preview,
            preview_argv: vec!["apt-get".into(), "upgrade".into()],
            ..NextAction::run(ActionId::new(4), ActionType::AptUpgradeAll, Vec::new(), 600)
        };
        let json = serde_json::to_value(&preview).unwrap();
        // What an agent from before previews reads: its own four fields, and an
        // empty command, which its whitelist refuses.
        assert_eq!(json["argv"], serde_json::json!([]));
        assert_eq!(json["mode"], "preview");
        assert_eq!(
            json["preview_argv"],
            serde_json::json!(["apt-get", "upgrade"])
        );
        assert_eq!(serde_json::from_value::<NextAction>(json).unwrap(), preview);
        // A run carries no preview_argv at all.
        let run = serde_json::to_value(NextAction::run(
            ActionId::new(5),
            ActionType::AptUpdate,
            vec![],
            1,
        ))
        .unwrap();
        assert!(run.get("preview_argv").is_none(), "{run}");
    }

    #[test]
    fn in_flight_and_final_statuses_partition_the_machine() {
        for &s in ActionStatus::ALL {
            assert_ne!(s.is_final(), s.is_in_flight(), "{s}");
        }
    }
}
