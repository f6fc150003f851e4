//! The dashboard's words for the engine's values: labels for kinds, statuses and
//! failures, and an action's audit trail as sentences. The protocol carries the
//! values; only the dashboard says them to people.

use serde::{Deserialize, Serialize};

use crate::domain::{
    ACTOR_AUTO, Action, ActionStatus, ActionType, FailureReason, Millis, ServerStatus,
};

/// A short text for people.
pub trait Label {
    /// The label.
    fn label(self) -> &'static str;
}

impl Label for ActionType {
    fn label(self) -> &'static str {
        match self {
            ActionType::RestartService => "Restart service",
            ActionType::ClearLogs => "Clear logs",
            ActionType::AptUpdate => "Refresh package list",
            ActionType::AptUpgradeAll => "Apply all updates",
            ActionType::AptUpgradeSecurity => "Apply security updates",
            ActionType::Reboot => "Reboot",
        }
    }
}

impl Label for ActionStatus {
    fn label(self) -> &'static str {
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

/// A short explanation of why an action failed.
impl Label for FailureReason {
    fn label(self) -> &'static str {
        match self {
            FailureReason::ExitCode => "exited with an error",
            FailureReason::TimedOut => "timed out",
            FailureReason::NotWhitelisted => "refused by the agent's whitelist",
            FailureReason::Interrupted => "interrupted by an agent restart",
            FailureReason::SpawnError => "could not be started",
            FailureReason::AgentLost => "no result from the agent",
        }
    }
}

impl Label for homelab_protocol::RunStatus {
    fn label(self) -> &'static str {
        use homelab_protocol::RunStatus;
        match self {
            RunStatus::Running => "Running",
            RunStatus::Completed => "Completed",
            RunStatus::Failed => "Stopped by failures",
            RunStatus::Cancelled => "Cancelled",
        }
    }
}

impl Label for homelab_protocol::ItemState {
    fn label(self) -> &'static str {
        use homelab_protocol::ItemState;
        match self {
            ItemState::Waiting => "Waiting",
            ItemState::Queued => "In progress",
            ItemState::Completed => "Completed",
            ItemState::Failed => "Failed",
            ItemState::Skipped => "Skipped",
            ItemState::Cancelled => "Cancelled",
        }
    }
}

impl Label for homelab_protocol::WebhookFormat {
    fn label(self) -> &'static str {
        match self {
            homelab_protocol::WebhookFormat::Json => "JSON",
            homelab_protocol::WebhookFormat::Ntfy => "ntfy",
            homelab_protocol::WebhookFormat::Gotify => "Gotify",
            homelab_protocol::WebhookFormat::Chat => "Slack / Discord",
        }
    }
}

impl Label for homelab_protocol::WebhookEvent {
    fn label(self) -> &'static str {
        match self {
            homelab_protocol::WebhookEvent::ActionPendingApproval => "An action awaits approval",
            homelab_protocol::WebhookEvent::ActionFailed => "An action failed",
            homelab_protocol::WebhookEvent::ActionCompleted => "An action completed",
            homelab_protocol::WebhookEvent::ServerOffline => "A server went offline",
            homelab_protocol::WebhookEvent::ServerOnline => "A server came back online",
            homelab_protocol::WebhookEvent::ServerSecurityUpdates => "New security updates",
            homelab_protocol::WebhookEvent::RunFinished => "A fleet run finished",
            homelab_protocol::WebhookEvent::Test => "Test",
        }
    }
}

impl Label for homelab_protocol::DeliveryStatus {
    fn label(self) -> &'static str {
        match self {
            homelab_protocol::DeliveryStatus::Pending => "Waiting",
            homelab_protocol::DeliveryStatus::InFlight => "Sending",
            homelab_protocol::DeliveryStatus::Delivered => "Delivered",
            homelab_protocol::DeliveryStatus::Failed => "Failed",
        }
    }
}

impl Label for ServerStatus {
    fn label(self) -> &'static str {
        match self {
            ServerStatus::Online => "Online",
            ServerStatus::Offline => "Offline",
            ServerStatus::Unknown => "Waiting for agent",
        }
    }
}

/// What apt's simulation says, in one sentence: "apt would upgrade 3 packages,
/// newly install 1 and remove 1." (or why there is no simulation).
pub fn preview_summary(outcome: &crate::domain::PreviewOutcome) -> String {
    use crate::domain::PreviewOutcome;
    let p = match outcome {
        PreviewOutcome::Simulated(p) => p,
        PreviewOutcome::Failed { message } => return format!("apt's simulation failed: {message}"),
    };
    if p.is_empty() {
        return "apt would change nothing.".to_owned();
    }
    let packages = |n: usize| if n == 1 { "package" } else { "packages" };
    let mut parts = Vec::new();
    if !p.upgraded.is_empty() {
        parts.push(format!(
            "upgrade {} {}",
            p.upgraded.len(),
            packages(p.upgraded.len())
        ));
    }
    if !p.installed.is_empty() {
        parts.push(format!("newly install {}", p.installed.len()));
    }
    parts.push(if p.removed.is_empty() {
        "remove nothing".to_owned()
    } else {
        format!("remove {}", p.removed.len())
    });
    let last = parts.pop().unwrap_or_default();
    let mut sentence = if parts.is_empty() {
        format!("apt would {last}")
    } else {
        format!("apt would {} and {last}", parts.join(", "))
    };
    if p.omitted > 0 {
        sentence.push_str(&format!(" ({} more not listed)", p.omitted));
    }
    sentence.push('.');
    sentence
}

/// One line of an action's audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEvent {
    pub at_ms: Millis,
    /// "Created", "Approved", "Rejected: <reason>", "Started", "Completed (exit 0)"...
    pub what: String,
    /// Who did it, when a person or token did.
    pub by: Option<String>,
}

/// The audit trail: created, approved or rejected or cancelled, started,
/// finished, in the order they happened.
pub fn timeline(action: &Action) -> Vec<TimelineEvent> {
    let mut events = vec![TimelineEvent {
        at_ms: action.created_at_ms,
        what: "Created".to_owned(),
        by: Some(action.created_by.clone()),
    }];
    let mut push = |at: Option<Millis>, what: String, by: Option<&String>| {
        if let Some(at_ms) = at {
            events.push(TimelineEvent {
                at_ms,
                what,
                by: by.cloned(),
            });
        }
    };
    push(
        action.approved_at_ms,
        if action.approved_by.as_deref() == Some(ACTOR_AUTO) {
            "Approved automatically".to_owned()
        } else {
            "Approved".to_owned()
        },
        action.approved_by.as_ref().filter(|b| *b != ACTOR_AUTO),
    );
    push(
        action.rejected_at_ms,
        format!(
            "Rejected: {}",
            action.reject_reason.as_deref().unwrap_or("")
        ),
        action.rejected_by.as_ref(),
    );
    push(
        action.cancelled_at_ms,
        "Cancelled".to_owned(),
        action.cancelled_by.as_ref(),
    );
    if let Some(reason) = &action.hold_reason {
        push(
            action.held_at_ms,
            format!(
                "Held for a person to approve: {}",
                reason.strip_prefix("held: ").unwrap_or(reason)
            ),
            None,
        );
    }
    if action.argv.is_empty() {
        push(action.finished_at_ms, "Nothing to run".to_owned(), None);
        return events;
    }
    push(
        action.started_at_ms,
        "Started on the machine".to_owned(),
        None,
    );
    if action.result_came_late() {
        push(
            action.lease_lost_at_ms,
            "No result in time: marked as agent lost".to_owned(),
            None,
        );
    }
    let ended = match (action.status, action.failure) {
        (ActionStatus::Completed, _) => "Completed (exit 0)".to_owned(),
        (_, Some(FailureReason::ExitCode)) => {
            format!(
                "Failed: exited with {}",
                action.exit_code.unwrap_or_default()
            )
        }
        (_, Some(reason)) => format!("Failed: {}", reason.label()),
        _ => "Finished".to_owned(),
    };
    let ended = if action.result_came_late() {
        format!("{ended}; the agent's result arrived late")
    } else {
        ended
    };
    push(action.finished_at_ms, ended, None);
    events.sort_by_key(|e| e.at_ms);
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action() -> Action {
        Action {
            id: crate::domain::ActionId::new(7),
            server_id: crate::domain::ServerId::parse("nas").unwrap(),
            action_type: ActionType::AptUpgradeAll,
            parameters: None,
            argv: vec!["apt-get".into(), "upgrade".into()],
            status: ActionStatus::Failed,
            timeout_s: 600,
            created_at_ms: Millis::new(1_000),
            created_by: "alice".into(),
            approved_at_ms: Some(Millis::new(2_000)),
            approved_by: Some("bob".into()),
            rejected_at_ms: None,
            rejected_by: None,
            reject_reason: None,
            cancelled_at_ms: None,
            cancelled_by: None,
            started_at_ms: Some(Millis::new(3_000)),
            finished_at_ms: Some(Millis::new(9_000)),
            exit_code: Some(100),
            failure: Some(FailureReason::ExitCode),
            lease_lost_at_ms: None,
            run_id: None,
            stdout: String::new(),
            stderr: String::new(),
            preview: None,
            preview_requested_at_ms: None,
            held_at_ms: None,
            hold_reason: None,
        }
    }

    #[test]
    fn a_held_upgrade_says_in_its_timeline_what_apt_would_remove() {
        let held = Action {
            status: ActionStatus::Pending,
            approved_at_ms: None,
            approved_by: None,
            rejected_at_ms: None,
            rejected_by: None,
            reject_reason: None,
            started_at_ms: None,
            finished_at_ms: None,
            exit_code: None,
            failure: None,
            held_at_ms: Some(Millis::new(1_500)),
            hold_reason: Some("held: apt would remove hl-victim".into()),
            ..action()
        };
        let what: Vec<_> = timeline(&held).into_iter().map(|e| e.what).collect();
        assert_eq!(
            what,
            [
                "Created",
                "Held for a person to approve: apt would remove hl-victim"
            ]
        );
    }

    #[test]
    fn a_preview_reads_as_one_sentence() {
        use crate::domain::{AptPreview, PreviewOutcome};
        use homelab_protocol::{DebVersion, PackageName, PreviewPackage, PreviewUpgrade};
        let pkg = |n: &str| PreviewPackage {
            name: PackageName::parse(n).unwrap(),
            version: DebVersion::parse("1.0-1").unwrap(),
        };
        let up = |n: &str| PreviewUpgrade {
            name: PackageName::parse(n).unwrap(),
            from: DebVersion::parse("1.0-1").unwrap(),
            to: DebVersion::parse("1.1-1").unwrap(),
        };
        let p = AptPreview {
            upgraded: vec![up("hl-normal"), up("hl-openssl")],
            installed: vec![pkg("hl-newdep")],
            removed: vec![pkg("hl-victim")],
            omitted: 0,
        };
        assert_eq!(
            preview_summary(&PreviewOutcome::Simulated(p)),
            "apt would upgrade 2 packages, newly install 1 and remove 1."
        );
        let one = AptPreview {
            upgraded: vec![up("hl-normal")],
            ..AptPreview::default()
        };
        assert_eq!(
            preview_summary(&PreviewOutcome::Simulated(one)),
            "apt would upgrade 1 package and remove nothing."
        );
        assert_eq!(
            preview_summary(&PreviewOutcome::Simulated(AptPreview::default())),
            "apt would change nothing."
        );
        assert_eq!(
            preview_summary(&PreviewOutcome::Failed {
                message: "E: broken".into()
            }),
            "apt's simulation failed: E: broken"
        );
    }

    #[test]
    fn a_result_that_came_after_the_lease_shows_both_in_the_timeline() {
        let late = Action {
            status: ActionStatus::Completed,
            failure: None,
            exit_code: Some(0),
            lease_lost_at_ms: Some(Millis::new(5_000)),
            ..action()
        };
        let what: Vec<_> = timeline(&late).into_iter().map(|e| e.what).collect();
        assert_eq!(
            &what[what.len() - 2..],
            [
                "No result in time: marked as agent lost",
                "Completed (exit 0); the agent's result arrived late"
            ]
        );
        // Still lost: no "late" wording.
        let lost = Action {
            failure: Some(FailureReason::AgentLost),
            lease_lost_at_ms: Some(Millis::new(5_000)),
            ..action()
        };
        assert!(!lost.result_came_late());
        assert!(timeline(&lost).iter().all(|e| !e.what.contains("late")));
    }

    #[test]
    fn the_timeline_tells_who_did_what_and_when() {
        let events: Vec<_> = timeline(&action())
            .into_iter()
            .map(|e| (e.at_ms, e.what, e.by))
            .collect();
        assert_eq!(
            events,
            [
                (
                    Millis::new(1_000),
                    "Created".to_owned(),
                    Some("alice".to_owned())
                ),
                (
                    Millis::new(2_000),
                    "Approved".to_owned(),
                    Some("bob".to_owned())
                ),
                (
                    Millis::new(3_000),
                    "Started on the machine".to_owned(),
                    None
                ),
                (
                    Millis::new(9_000),
                    "Failed: exited with 100".to_owned(),
                    None
                ),
            ]
        );
        assert_eq!(action().duration_ms(), Some(6_000));

        let mut auto = action();
        auto.approved_by = Some(ACTOR_AUTO.into());
        auto.status = ActionStatus::Completed;
        auto.failure = None;
        let whats: Vec<_> = timeline(&auto).into_iter().map(|e| e.what).collect();
        assert_eq!(whats[1], "Approved automatically");
        assert_eq!(whats[3], "Completed (exit 0)");

        let mut rejected = action();
        rejected.approved_at_ms = None;
        rejected.started_at_ms = None;
        rejected.finished_at_ms = None;
        rejected.rejected_at_ms = Some(Millis::new(1_500));
        rejected.rejected_by = Some("carol".into());
        rejected.reject_reason = Some("backup window".into());
        let last = timeline(&rejected).pop().unwrap();
        assert_eq!(
            (last.what.as_str(), last.by.as_deref()),
            ("Rejected: backup window", Some("carol"))
        );
    }
}

/// What kind of machine a `uname -m` name is, for admins who do not know it by
/// that name; None for one that needs no gloss.
pub fn machine_type(arch: &str) -> Option<&'static str> {
    Some(match arch {
        "x86_64" => "64-bit PCs and servers, Intel or AMD",
        "aarch64" => "64-bit ARM: Raspberry Pi 3, 4 and 5 on a 64-bit OS, most ARM servers",
        "i686" => "32-bit PCs",
        "riscv64" => "64-bit RISC-V",
        _ => return None,
    })
}

/// The longest message shown whole; longer ones (an error quoting a pasted value,
/// say) are cut so they never push the page apart.
pub const MAX_MESSAGE_CHARS: usize = 300;

/// The name a form shows for a field the server refused.
pub fn field_label(field: &str) -> std::borrow::Cow<'_, str> {
    // A cron line's refusals name its field: `cron (day of week)`.
    if let Some(part) = field.strip_prefix("cron (") {
        return format!("Cron line ({part}").into();
    }
    std::borrow::Cow::Borrowed(match field {
        "parameters.unit" => "Unit",
        "parameters.vacuum_time" => "Keep journal for",
        "parameters" | "parameters.force" | "parameters.options" => "Options",
        "reason" => "Reason",
        "id" => "ID",
        "name" => "Name",
        "current" => "Current password",
        "password" | "new" => "New password",
        "request_id" | "Idempotency-Key" => "Request",
        "server" => "Server",
        "status" => "Status",
        "type" => "Type",
        "cursor" => "Page",
        // Fleet runs and schedules.
        "action_type" => "Action",
        "unit" => "Unit",
        "tag" | "tags" => "Tag",
        "servers" | "server_id" => "Servers",
        "batch_size" => "Batch size",
        "max_failures" => "Failures allowed",
        "reboot_if_required" => "Reboot if required",
        "cron" => "Cron line",
        "timezone" => "Time zone",
        "schedule" => "Schedule",
        "run" => "Run",
        // Webhooks.
        "url" => "Address",
        "format" => "Format",
        "events" => "Events",
        "secret" => "Secret",
        other => other,
    })
}

/// `text` cut to [`MAX_MESSAGE_CHARS`] characters, with an ellipsis when cut.
pub fn cut(text: &str) -> String {
    match text.char_indices().nth(MAX_MESSAGE_CHARS) {
        None => text.to_owned(),
        Some((at, _)) => format!("{}…", &text[..at]),
    }
}

impl crate::domain::AppError {
    /// The error in words a user knows ("Unit: ..."), never longer than
    /// [`MAX_MESSAGE_CHARS`] (plus the field's name).
    pub fn for_user(&self) -> String {
        match self {
            crate::domain::AppError::Invalid { field, message } => {
                format!("{}: {}", field_label(field), cut(message))
            }
            other => cut(&other.to_string()),
        }
    }
}

#[cfg(test)]
mod message_tests {
    use super::*;
    use crate::domain::AppError;

    #[test]
    fn refusals_name_the_field_as_the_form_does_and_long_values_are_cut() {
        let err = AppError::invalid("parameters.unit", "`x y` is not a unit name");
        assert_eq!(err.for_user(), "Unit: `x y` is not a unit name");
        let long = AppError::invalid("parameters.unit", format!("`{}` is bad", "a".repeat(5000)));
        let shown = long.for_user();
        assert!(shown.starts_with("Unit: `aaa"), "{shown}");
        assert!(shown.ends_with('…'));
        assert_eq!(
            shown.chars().count(),
            "Unit: ".len() + MAX_MESSAGE_CHARS + 1
        );
        // Cut at a character, never inside one.
        assert_eq!(cut(&"é".repeat(400)).chars().count(), MAX_MESSAGE_CHARS + 1);
        // The run, schedule and webhook forms' fields, as the server names them.
        assert_eq!(
            AppError::invalid("cron", "`0 3 * *` has 4 fields").for_user(),
            "Cron line: `0 3 * *` has 4 fields"
        );
        assert_eq!(
            AppError::invalid("cron (day of week)", "`FUNDAY` is not a day").for_user(),
            "Cron line (day of week): `FUNDAY` is not a day"
        );
        for field in [
            "action_type",
            "unit",
            "tag",
            "tags",
            "servers",
            "server_id",
            "batch_size",
            "max_failures",
            "reboot_if_required",
            "cron",
            "timezone",
            "url",
            "format",
            "events",
            "secret",
        ] {
            assert_ne!(field_label(field), field, "{field} has no label");
        }
        assert_eq!(
            AppError::NotFound("no server with id `nas`".into()).for_user(),
            "no server with id `nas`"
        );
    }
}
