//! Know before you approve, through the service on a real database (SQLite, or
//! PostgreSQL with `HOMELAB_TEST_BACKEND=postgres`): preview requests, the agent's
//! previews and holds, and every refusal.

use std::time::Duration;

use homelab_protocol::{
    ActionSpec, ActionStatus, ActionType, AptPreview, ClaimMode, DebVersion, MAX_PREVIEW_PACKAGES,
    PackageName, PreviewOutcome, PreviewPackage, ServerId, ServerName,
};

use super::testing::clocked_nas;
use super::{DispatchError, PREVIEW_RESEND, Service};
use crate::Error;

fn spec(t: ActionType) -> ActionSpec {
    ActionSpec::parse(t, None).unwrap()
}

fn removing(names: &[&str]) -> AptPreview {
    AptPreview {
        removed: names
            .iter()
            .map(|n| PreviewPackage {
                name: PackageName::parse(*n).unwrap(),
                version: DebVersion::parse("1.0-1").unwrap(),
            })
            .collect(),
        ..AptPreview::default()
    }
}

/// A second server.
async fn other_server(service: &Service) -> ServerId {
    let id = ServerId::parse("other").unwrap();
    service
        .add_server(id.clone(), ServerName::parse("Other").unwrap())
        .await
        .unwrap();
    id
}

#[tokio::test]
async fn an_auto_approved_upgrade_that_would_remove_packages_is_held_until_a_person_approves() {
    let (service, _clock, nas, token, _guard) = clocked_nas(1_000_000).await;
    let created = service
        .create_action(&nas, spec(ActionType::AptUpgradeAll), "alice")
        .await
        .unwrap();
    assert_eq!(created.approved_by.as_deref(), Some("auto"));
    let claim = service
        .next_action(&nas, &token, Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claim.mode, ClaimMode::Run);
    assert!(claim.hold_if_removing, "no person saw it: {claim:?}");

    service
        .hold(&nas, created.id, removing(&["hl-victim", "nginx"]))
        .await
        .unwrap();
    let held = service.action(created.id).await.unwrap();
    assert_eq!(held.status, ActionStatus::Pending);
    assert_eq!(
        held.hold_reason.as_deref(),
        Some("held: apt would remove hl-victim, nginx")
    );
    assert_eq!(held.held_at_ms.map(|t| t.get()), Some(1_000_000));
    assert_eq!((held.approved_by, held.approved_at_ms), (None, None));
    assert_eq!(held.started_at_ms, None);
    let Some(preview) = held.preview else {
        panic!("the hold stores its preview")
    };
    assert_eq!(
        preview.outcome,
        PreviewOutcome::Simulated(removing(&["hl-victim", "nginx"]))
    );
    // Nothing to claim, and the slot stays held: no second apt action meanwhile.
    assert_eq!(
        service
            .next_action(&nas, &token, Duration::ZERO)
            .await
            .unwrap(),
        None
    );
    let err = service
        .create_action(&nas, spec(ActionType::AptUpdate), "alice")
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Conflict { existing_action_id: Some(id), .. } if id == created.id),
        "{err:?}"
    );
    // A repeated hold finds it no longer executing.
    let again = service
        .hold(&nas, created.id, removing(&["hl-victim"]))
        .await
        .unwrap_err();
    assert!(matches!(again, DispatchError::NotExecuting(..)), "{again}");

    // A person approves it having seen the packages: the next claim runs it.
    service.approve(created.id, "bob").await.unwrap();
    let claim = service
        .next_action(&nas, &token, Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claim.id, created.id);
    assert!(!claim.hold_if_removing, "a person approved it: {claim:?}");
}

#[tokio::test]
async fn only_auto_approved_upgrades_are_checked_before_they_run() {
    let (service, _clock, nas, token, _guard) = clocked_nas(1_000_000).await;
    let update = service
        .create_action(&nas, spec(ActionType::AptUpdate), "alice")
        .await
        .unwrap();
    let claim = service
        .next_action(&nas, &token, Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claim.id, update.id);
    assert!(!claim.hold_if_removing, "apt_update removes nothing");
    // An apt_update cannot be held either.
    let err = service
        .hold(&nas, update.id, removing(&["x1"]))
        .await
        .unwrap_err();
    assert!(matches!(err, DispatchError::NotPreviewable(..)), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preview_request_wakes_the_idle_agent_and_claims_nothing() {
    let (service, clock, nas, token, _guard) = clocked_nas(1_000_000).await;
    service.set_paused(&nas, true, "alice").await.unwrap();
    let upgrade = service
        .create_action(&nas, spec(ActionType::AptUpgradeAll), "alice")
        .await
        .unwrap();
    assert_eq!(upgrade.status, ActionStatus::Pending);

    let poll = {
        let (service, nas, token) = (service.clone(), nas.clone(), token.clone());
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let next = service
                .next_action(&nas, &token, Duration::from_secs(20))
                .await;
            (next, started.elapsed())
        })
    };
    // Let the long-poll start waiting.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let asked = service.request_preview(upgrade.id, "alice").await.unwrap();
    assert_eq!(
        asked.preview_requested_at_ms.map(|t| t.get()),
        Some(1_000_000)
    );
    let (next, waited) = poll.await.unwrap();
    let next = next
        .unwrap()
        .expect("the long-poll answered with the request");
    assert!(waited < Duration::from_secs(10), "{waited:?}");
    assert_eq!(next.id, upgrade.id);
    assert_eq!(next.mode, ClaimMode::Preview);
    assert!(next.argv.is_empty(), "nothing runnable in a preview answer");
    assert_eq!(next.preview_argv, upgrade.argv);
    assert_eq!(
        service.action(upgrade.id).await.unwrap().status,
        ActionStatus::Pending
    );
    // Handed over once: the next poll waits, until the agent has had its time.
    assert_eq!(
        service
            .next_action(&nas, &token, Duration::ZERO)
            .await
            .unwrap(),
        None
    );
    clock.advance(i64::try_from(PREVIEW_RESEND.as_millis()).unwrap() + 1);
    let resent = service
        .next_action(&nas, &token, Duration::ZERO)
        .await
        .unwrap()
        .expect("asked again after the agent's silence");
    assert_eq!(resent.mode, ClaimMode::Preview);

    let preview = removing(&["hl-victim"]);
    service
        .record_preview(&nas, upgrade.id, PreviewOutcome::Simulated(preview.clone()))
        .await
        .unwrap();
    let seen = service.action(upgrade.id).await.unwrap();
    assert_eq!(seen.status, ActionStatus::Pending);
    assert_eq!(seen.preview_requested_at_ms, None);
    let stored = seen.preview.unwrap();
    assert_eq!(stored.outcome, PreviewOutcome::Simulated(preview));
    assert_eq!(stored.taken_at_ms, clock_now(&clock));
    // Answered: nothing more for the agent.
    clock.advance(i64::try_from(PREVIEW_RESEND.as_millis()).unwrap() + 1);
    assert_eq!(
        service
            .next_action(&nas, &token, Duration::ZERO)
            .await
            .unwrap(),
        None
    );
    // A newer preview replaces the old one; a failure is kept as one.
    service.request_preview(upgrade.id, "alice").await.unwrap();
    service
        .record_preview(
            &nas,
            upgrade.id,
            PreviewOutcome::Failed {
                message: "E: broken cache".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        service
            .action(upgrade.id)
            .await
            .unwrap()
            .preview
            .unwrap()
            .outcome,
        PreviewOutcome::Failed {
            message: "E: broken cache".into()
        }
    );
}

fn clock_now(clock: &crate::clock::ManualClock) -> homelab_protocol::Millis {
    use crate::clock::Clock as _;
    clock.now()
}

#[tokio::test]
async fn previews_are_refused_for_what_cannot_have_one() {
    let (service, _clock, nas, token, _guard) = clocked_nas(1_000_000).await;
    service.set_paused(&nas, true, "alice").await.unwrap();
    let update = service
        .create_action(&nas, spec(ActionType::AptUpdate), "alice")
        .await
        .unwrap();
    // Not an upgrade.
    let err = service
        .request_preview(update.id, "alice")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Conflict { message, .. } if message.contains("only the upgrades")),
        "{err:?}"
    );
    let err = service
        .record_preview(
            &nas,
            update.id,
            PreviewOutcome::Simulated(AptPreview::default()),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, DispatchError::NotPreviewable(..)), "{err}");
    // Finished.
    service.reject(update.id, "alice", "not now").await.unwrap();
    let upgrade = service
        .create_action(&nas, spec(ActionType::AptUpgradeAll), "alice")
        .await
        .unwrap();
    service.cancel(upgrade.id, "alice").await.unwrap();
    let err = service
        .request_preview(upgrade.id, "alice")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Conflict { message, .. } if message.contains("cancelled")),
        "{err:?}"
    );
    let err = service
        .record_preview(
            &nas,
            upgrade.id,
            PreviewOutcome::Simulated(AptPreview::default()),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, DispatchError::NotPreviewable(..)), "{err}");
    // Missing.
    let missing = homelab_protocol::ActionId::new(9_999);
    assert!(matches!(
        service.request_preview(missing, "alice").await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        service
            .record_preview(
                &nas,
                missing,
                PreviewOutcome::Simulated(AptPreview::default())
            )
            .await,
        Err(DispatchError::NotFound(_))
    ));
    assert!(matches!(
        service.hold(&nas, missing, removing(&["x1"])).await,
        Err(DispatchError::NotFound(_))
    ));

    // Another server's action: its agent can neither preview nor hold it.
    let live = service
        .create_action(&nas, spec(ActionType::AptUpgradeAll), "alice")
        .await
        .unwrap();
    let other = other_server(&service).await;
    let err = service
        .record_preview(
            &other,
            live.id,
            PreviewOutcome::Simulated(AptPreview::default()),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, DispatchError::Forbidden(_)), "{err}");
    let err = service
        .hold(&other, live.id, removing(&["x1"]))
        .await
        .unwrap_err();
    assert!(matches!(err, DispatchError::Forbidden(_)), "{err}");
    assert_eq!(service.action(live.id).await.unwrap().preview, None);

    // Pending, not executing: nothing to hold.
    let err = service
        .hold(&nas, live.id, removing(&["x1"]))
        .await
        .unwrap_err();
    assert!(matches!(err, DispatchError::NotExecuting(..)), "{err}");

    // Worst values: lists past the bound, an overlong message, a hold that removes nothing.
    let huge = AptPreview {
        removed: vec![removing(&["x1"]).removed[0].clone(); MAX_PREVIEW_PACKAGES + 1],
        ..AptPreview::default()
    };
    let err = service
        .record_preview(&nas, live.id, PreviewOutcome::Simulated(huge.clone()))
        .await
        .unwrap_err();
    assert!(matches!(err, DispatchError::Invalid(_)), "{err}");
    let err = service
        .record_preview(
            &nas,
            live.id,
            PreviewOutcome::Failed {
                message: "x".repeat(PreviewOutcome::MAX_MESSAGE_CHARS + 1),
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, DispatchError::Invalid(_)), "{err}");
    service.approve(live.id, "alice").await.unwrap();
    service
        .next_action(&nas, &token, Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    let err = service.hold(&nas, live.id, huge).await.unwrap_err();
    assert!(matches!(err, DispatchError::Invalid(_)), "{err}");
    let err = service
        .hold(&nas, live.id, AptPreview::default())
        .await
        .unwrap_err();
    assert!(matches!(err, DispatchError::Invalid(_)), "{err}");
    // Executing: a preview may still be recorded (the agent checks before a run).
    service
        .record_preview(
            &nas,
            live.id,
            PreviewOutcome::Simulated(AptPreview::default()),
        )
        .await
        .unwrap();
    // And a running upgrade takes no new preview request.
    let err = service.request_preview(live.id, "alice").await.unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err:?}");
}
