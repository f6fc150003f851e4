//! Reboots that come back: a reboot ends when its machine reports from a new boot,
//! fails when it does not in time, and fleet runs reboot the servers an upgrade
//! left needing it before they start the next batch. Driven as the server drives
//! them (claims, results, heartbeats) with a clock the test moves.

use std::time::Duration;

use homelab_protocol::{
    Action, ActionSpec, ActionStatus, ActionType, BootId, FailureReason, ItemState, RunStatus,
    RunTarget,
};

use super::RunRequest;
use super::runs_tests::{Fleet, exited, states};
use super::testing::{FIRST_BOOT, heartbeat};
use crate::Error;

const SECOND_BOOT: &str = "00000000-0000-4000-8000-000000000002";

impl Fleet {
    /// The agent of `name` reports from `boot`, needing a reboot or not, a second
    /// after whatever happened before.
    async fn beat(&self, name: &str, boot: Option<&str>, reboot_required: bool) {
        self.clock.advance(1_000);
        let mut hb = heartbeat(None);
        hb.boot_id = boot.map(|b| BootId::parse(b).unwrap());
        hb.reboot_required = reboot_required;
        self.service.heartbeat(self.token(name), hb).await.unwrap();
    }

    /// Queues a reboot of `name` as a person would.
    async fn reboot(&self, name: &str) -> Result<Action, Error> {
        self.service
            .create_action(&self.id(name), ActionSpec::Reboot, "alice")
            .await
    }

    /// The agent of `name` claims its next action, which must be `expected`, and
    /// says its command succeeded; returns the action as the server then has it.
    async fn claims_and_succeeds(&self, name: &str, expected: ActionType) -> Action {
        let next = self
            .service
            .next_action(&self.id(name), self.token(name), Duration::ZERO)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{name} has nothing to run"));
        assert_eq!(next.action_type, expected);
        self.service
            .report_result(&self.id(name), next.id, exited(0))
            .await
            .unwrap();
        self.service.action(next.id).await.unwrap()
    }

    async fn upgrade_run(&self, names: &[&str]) -> homelab_protocol::Run {
        let mut request = RunRequest::new(
            ActionSpec::AptUpgradeAll,
            RunTarget::Servers(names.iter().map(|n| self.id(n)).collect()),
        );
        request.reboot_if_required = true;
        self.service.start_run(request, "alice").await.unwrap()
    }
}

#[tokio::test]
async fn a_reboot_completes_only_when_the_machine_reports_from_a_new_boot() {
    let fleet = Fleet::online(&["nas"]).await;
    let reboot = fleet.reboot("nas").await.unwrap();
    assert_eq!(reboot.argv, ["systemctl", "reboot"]);
    assert_eq!(reboot.timeout_s, 900);

    // The command answered: the machine is going down, nothing is done yet.
    let claimed = fleet.claims_and_succeeds("nas", ActionType::Reboot).await;
    assert_eq!(claimed.status, ActionStatus::Executing);
    // Reports from the same boot (the agent's last beats before the shutdown, or an
    // agent restarted without a reboot) change nothing.
    fleet.beat("nas", Some(FIRST_BOOT), false).await;
    assert_eq!(
        fleet.service.action(reboot.id).await.unwrap().status,
        ActionStatus::Executing
    );
    // An agent that says nothing of its boot proves nothing either.
    fleet.beat("nas", None, false).await;
    assert_eq!(
        fleet.service.action(reboot.id).await.unwrap().status,
        ActionStatus::Executing
    );

    fleet.beat("nas", Some(SECOND_BOOT), false).await;
    let done = fleet.service.action(reboot.id).await.unwrap();
    assert_eq!(done.status, ActionStatus::Completed);
    assert_eq!(done.exit_code, Some(0));
    assert!(
        done.stdout.contains(FIRST_BOOT) && done.stdout.contains(SECOND_BOOT),
        "{}",
        done.stdout
    );
    // Once over, the machine's slot is free again.
    fleet
        .service
        .create_action(&fleet.id("nas"), ActionSpec::AptUpdate, "alice")
        .await
        .unwrap();
}

#[tokio::test]
async fn a_reboot_and_apt_never_overlap_either_way() {
    let fleet = Fleet::online(&["nas"]).await;
    let update = fleet
        .service
        .create_action(&fleet.id("nas"), ActionSpec::AptUpdate, "alice")
        .await
        .unwrap();
    match fleet.reboot("nas").await.unwrap_err() {
        Error::Conflict {
            message,
            existing_action_id,
        } => {
            assert_eq!(existing_action_id, Some(update.id));
            assert!(message.contains("apt action or a reboot"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    fleet.agent_runs("nas", 0).await;

    let reboot = fleet.reboot("nas").await.unwrap();
    for spec in [ActionSpec::AptUpdate, ActionSpec::AptUpgradeSecurity] {
        let err = fleet
            .service
            .create_action(&fleet.id("nas"), spec, "alice")
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Conflict { existing_action_id: Some(id), .. } if id == reboot.id),
            "{err:?}"
        );
    }
    // Still held while the machine is down, until it is back.
    fleet.claims_and_succeeds("nas", ActionType::Reboot).await;
    assert!(fleet.reboot("nas").await.is_err());
    fleet.beat("nas", Some(SECOND_BOOT), false).await;
    fleet.reboot("nas").await.unwrap();
}

#[tokio::test]
async fn a_reboot_whose_machine_does_not_come_back_in_time_fails_as_timed_out() {
    let fleet = Fleet::online(&["nas"]).await;
    let reboot = fleet.reboot("nas").await.unwrap();
    fleet.claims_and_succeeds("nas", ActionType::Reboot).await;
    // Its time limit is all it gets: no grace, and an agent still reporting
    // progress does not move it.
    fleet.clock.advance(899_000);
    fleet
        .service
        .action_progress(&fleet.id("nas"), reboot.id, Default::default())
        .await
        .unwrap();
    assert!(fleet.service.expire_leases().await.unwrap().is_empty());
    fleet.clock.advance(1_001);
    assert_eq!(fleet.service.expire_leases().await.unwrap(), [reboot.id]);
    let failed = fleet.service.action(reboot.id).await.unwrap();
    assert_eq!(failed.status, ActionStatus::Failed);
    assert_eq!(failed.failure, Some(FailureReason::TimedOut));
    assert_eq!(failed.lease_lost_at_ms, None, "not an agent lost");
    assert!(failed.stderr.contains("new boot"), "{}", failed.stderr);
    // A new boot that reports afterwards does not turn the failure round.
    fleet.beat("nas", Some(SECOND_BOOT), false).await;
    assert_eq!(
        fleet.service.action(reboot.id).await.unwrap().status,
        ActionStatus::Failed
    );
}

#[tokio::test]
async fn a_machine_whose_agent_reports_no_boot_id_is_not_rebooted() {
    let fleet = Fleet::online(&["old"]).await;
    fleet.beat("old", None, true).await;
    match fleet.reboot("old").await.unwrap_err() {
        Error::Conflict { message, .. } => assert!(message.contains("boot id"), "{message}"),
        other => panic!("{other:?}"),
    }
    // A run of reboots skips it, saying why, instead of stalling on it.
    let run = fleet
        .service
        .start_run(
            RunRequest::new(
                ActionSpec::Reboot,
                RunTarget::Servers(vec![fleet.id("old")]),
            ),
            "alice",
        )
        .await
        .unwrap();
    assert_eq!(states(&run), [ItemState::Skipped]);
    assert!(
        run.items[0].reason.as_deref().unwrap().contains("boot id"),
        "{:?}",
        run.items[0].reason
    );
}

#[tokio::test]
async fn a_run_reboots_what_its_upgrade_left_needing_it_before_the_next_batch() {
    let fleet = Fleet::online(&["a", "b"]).await;
    let run = fleet.upgrade_run(&["a", "b"]).await;
    assert!(run.reboot_if_required);
    fleet
        .claims_and_succeeds("a", ActionType::AptUpgradeAll)
        .await;
    fleet.service.advance_runs().await.unwrap();
    // The upgrade is done, but no heartbeat since has said whether a reboot is due.
    let seen = fleet.run(&run).await;
    assert_eq!(states(&seen), [ItemState::Queued, ItemState::Waiting]);
    assert_eq!(seen.items[0].reboot_action_id, None);

    fleet.beat("a", Some(FIRST_BOOT), true).await;
    fleet.service.advance_runs().await.unwrap();
    let seen = fleet.run(&run).await;
    assert_eq!(states(&seen), [ItemState::Queued, ItemState::Waiting]);
    let reboot = seen.items[0].reboot_action_id.expect("a reboot queued");
    assert_eq!(seen.items[0].action_status, Some(ActionStatus::Approved));
    let queued = fleet.service.action(reboot).await.unwrap();
    assert_eq!(queued.action_type, ActionType::Reboot);
    assert_eq!(queued.run_id, Some(run.id));
    assert!(
        fleet.has_nothing_to_run("b").await,
        "b waits for a's reboot"
    );

    fleet.claims_and_succeeds("a", ActionType::Reboot).await;
    fleet.service.advance_runs().await.unwrap();
    assert_eq!(
        states(&fleet.run(&run).await),
        [ItemState::Queued, ItemState::Waiting]
    );
    fleet.beat("a", Some(SECOND_BOOT), false).await;
    fleet.service.advance_runs().await.unwrap();
    let seen = fleet.run(&run).await;
    assert_eq!(states(&seen), [ItemState::Completed, ItemState::Queued]);
    assert_eq!(seen.items[0].action_status, Some(ActionStatus::Completed));

    // b needs no reboot: done after its first heartbeat since the upgrade.
    fleet
        .claims_and_succeeds("b", ActionType::AptUpgradeAll)
        .await;
    fleet.beat("b", Some(FIRST_BOOT), false).await;
    fleet.service.advance_runs().await.unwrap();
    let seen = fleet.run(&run).await;
    assert_eq!(states(&seen), [ItemState::Completed, ItemState::Completed]);
    assert_eq!(seen.items[1].reboot_action_id, None);
    assert_eq!(seen.status, RunStatus::Completed);
}

#[tokio::test]
async fn a_reboot_in_a_run_that_fails_or_never_gets_a_heartbeat_fails_the_item() {
    let fleet = Fleet::online(&["a", "b"]).await;
    let run = fleet.upgrade_run(&["a", "b"]).await;
    fleet
        .claims_and_succeeds("a", ActionType::AptUpgradeAll)
        .await;
    fleet.beat("a", Some(FIRST_BOOT), true).await;
    fleet.service.advance_runs().await.unwrap();
    fleet.claims_and_succeeds("a", ActionType::Reboot).await;
    fleet.clock.advance(1_000_000);
    fleet.service.expire_leases().await.unwrap();
    fleet.service.advance_runs().await.unwrap();
    let seen = fleet.run(&run).await;
    // The first failure stops the run (max_failures 0): b never starts.
    assert_eq!(states(&seen), [ItemState::Failed, ItemState::Cancelled]);
    assert_eq!(seen.status, RunStatus::Failed);
    let reason = seen.items[0].reason.as_deref().unwrap();
    assert!(
        reason.contains("reboot") && reason.contains("timed_out"),
        "{reason}"
    );

    // A machine silent since its upgrade: whether it needs a reboot is unknown.
    let fleet = Fleet::online(&["c"]).await;
    let run = fleet.upgrade_run(&["c"]).await;
    fleet
        .claims_and_succeeds("c", ActionType::AptUpgradeAll)
        .await;
    fleet.clock.advance(2 * 60_000);
    fleet.service.advance_runs().await.unwrap();
    assert_eq!(states(&fleet.run(&run).await), [ItemState::Queued]);
    fleet.clock.advance(2 * 60_000);
    fleet.service.advance_runs().await.unwrap();
    let seen = fleet.run(&run).await;
    assert_eq!(states(&seen), [ItemState::Failed]);
    assert!(
        seen.items[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("no heartbeat"),
        "{:?}",
        seen.items[0].reason
    );
}

#[tokio::test]
async fn a_reboot_follows_an_upgrade_only() {
    let fleet = Fleet::online(&["a"]).await;
    for t in [
        ActionType::AptUpdate,
        ActionType::ClearLogs,
        ActionType::Reboot,
    ] {
        let mut request = RunRequest::new(
            ActionSpec::parse(t, None).unwrap(),
            RunTarget::Servers(vec![fleet.id("a")]),
        );
        request.reboot_if_required = true;
        match fleet.service.start_run(request, "alice").await.unwrap_err() {
            Error::Invalid { field, .. } => assert_eq!(field, "reboot_if_required"),
            other => panic!("{t}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_reboots_end_is_notified_like_any_actions() {
    use super::webhook_tests::{hook, queued};
    use homelab_protocol::{DeliveryStatus, WebhookEvent};
    let fleet = Fleet::online(&["nas"]).await;
    let hook = hook(
        &fleet.service,
        "ends",
        &["action.completed", "action.failed"],
    )
    .await;
    fleet.reboot("nas").await.unwrap();
    fleet.claims_and_succeeds("nas", ActionType::Reboot).await;
    // The command's success is not the reboot's end: nothing yet.
    assert!(queued(&fleet.service, hook).await.is_empty());
    fleet.beat("nas", Some(SECOND_BOOT), false).await;
    assert_eq!(
        queued(&fleet.service, hook).await,
        [(WebhookEvent::ActionCompleted, DeliveryStatus::Pending)]
    );

    fleet.reboot("nas").await.unwrap();
    fleet.claims_and_succeeds("nas", ActionType::Reboot).await;
    fleet.clock.advance(900_001);
    fleet.service.expire_leases().await.unwrap();
    assert_eq!(
        queued(&fleet.service, hook).await,
        [
            (WebhookEvent::ActionCompleted, DeliveryStatus::Pending),
            (WebhookEvent::ActionFailed, DeliveryStatus::Pending)
        ]
    );
}
