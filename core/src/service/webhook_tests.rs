//! Notifications, on the run's backend: what each change queues (inside its own
//! transaction), the presence watch, and the outbox's claims, retries and leases,
//! with a clock the test moves.

use std::time::Duration;

use homelab_protocol::{
    ActionSpec, DeliveryStatus, Millis, RunTarget, ServerId, WebhookEvent, WebhookId,
};

use super::runs_tests::exited;
use super::testing::{add_nas, clocked_nas, heartbeat, package, two_replicas};
use super::{Backoff, RunRequest, SendResult, Service, WebhookDraft, WebhookRequest};
use crate::db::webhooks::Claimed;

const T0: i64 = 1_700_000_000_000;

fn request(name: &str, format: &str, events: &[&str]) -> WebhookRequest {
    WebhookRequest::try_from(WebhookDraft {
        name: name.to_owned(),
        url: "https://hooks.example/t0ken-in-path".to_owned(),
        format: format.to_owned(),
        events: events.iter().map(|e| (*e).to_owned()).collect(),
        secret: None,
    })
    .unwrap()
}

pub(super) async fn hook(service: &Service, name: &str, events: &[&str]) -> WebhookId {
    service
        .create_webhook(request(name, "json", events), "admin")
        .await
        .unwrap()
        .webhook
        .id
}

/// Every delivery of webhook `id` as (event, status), oldest first.
pub(super) async fn queued(
    service: &Service,
    id: WebhookId,
) -> Vec<(WebhookEvent, DeliveryStatus)> {
    let mut all: Vec<_> = service
        .webhook(id)
        .await
        .unwrap()
        .deliveries
        .into_iter()
        .map(|d| (d.event, d.status))
        .collect();
    all.reverse();
    all
}

fn quick() -> Backoff {
    Backoff {
        delays: vec![Duration::from_secs(10), Duration::from_secs(30)],
        give_up_after: Duration::from_secs(60),
        lease: Duration::from_secs(20),
        poll_every: Duration::from_millis(10),
    }
}

#[tokio::test]
async fn a_failed_action_queues_one_notification_for_the_webhooks_that_want_it() {
    let (service, _clock, nas, token, _g) = clocked_nas(T0).await;
    let failed = hook(&service, "failures", &["action.failed"]).await;
    let runs = hook(&service, "runs", &["run.finished"]).await;
    service.heartbeat(&token, heartbeat(None)).await.unwrap();
    service
        .create_action(&nas, ActionSpec::AptUpdate, "admin")
        .await
        .unwrap();
    let next = service
        .next_action(&nas, &token, Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    service
        .report_result(&nas, next.id, exited(100))
        .await
        .unwrap();
    // A repeat of the result changes nothing and notifies nothing.
    service
        .report_result(&nas, next.id, exited(100))
        .await
        .unwrap();
    assert_eq!(
        queued(&service, failed).await,
        [(WebhookEvent::ActionFailed, DeliveryStatus::Pending)]
    );
    assert_eq!(queued(&service, runs).await, []);
    let delivery = &service.webhook(failed).await.unwrap().deliveries[0];
    assert_eq!(
        delivery.summary,
        format!(
            "Action #{} (apt_update) on nas failed (exit_code).",
            next.id
        )
    );
}

#[tokio::test]
async fn an_action_that_waits_for_a_person_queues_pending_approval_and_its_end_completed() {
    let (service, _clock, nas, token, _g) = clocked_nas(T0).await;
    let id = hook(
        &service,
        "all",
        &["action.pending_approval", "action.completed"],
    )
    .await;
    service.heartbeat(&token, heartbeat(None)).await.unwrap();
    service.set_paused(&nas, true, "admin").await.unwrap();
    let action = service
        .create_action(&nas, ActionSpec::AptUpdate, "admin")
        .await
        .unwrap();
    assert_eq!(
        queued(&service, id).await,
        [(WebhookEvent::ActionPendingApproval, DeliveryStatus::Pending)]
    );
    service.approve(action.id, "admin").await.unwrap();
    let next = service
        .next_action(&nas, &token, Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    service
        .report_result(&nas, next.id, exited(0))
        .await
        .unwrap();
    assert_eq!(
        queued(&service, id).await,
        [
            (WebhookEvent::ActionPendingApproval, DeliveryStatus::Pending),
            (WebhookEvent::ActionCompleted, DeliveryStatus::Pending),
        ]
    );
}

#[tokio::test]
async fn an_agent_lost_queues_action_failed() {
    let (service, clock, nas, token, _g) = clocked_nas(T0).await;
    let id = hook(&service, "failures", &["action.failed"]).await;
    service.heartbeat(&token, heartbeat(None)).await.unwrap();
    service
        .create_action(&nas, ActionSpec::AptUpdate, "admin")
        .await
        .unwrap();
    service
        .next_action(&nas, &token, Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    clock.advance(3_600_000);
    assert_eq!(service.expire_leases().await.unwrap().len(), 1);
    assert_eq!(
        queued(&service, id).await,
        [(WebhookEvent::ActionFailed, DeliveryStatus::Pending)]
    );
    assert!(
        service.webhook(id).await.unwrap().deliveries[0]
            .summary
            .contains("agent_lost")
    );
}

#[tokio::test]
async fn a_fleet_run_that_ends_queues_run_finished_once() {
    let (service, _clock, nas, token, _g) = clocked_nas(T0).await;
    let id = hook(&service, "runs", &["run.finished"]).await;
    service.heartbeat(&token, heartbeat(None)).await.unwrap();
    let run = service
        .start_run(
            RunRequest::new(ActionSpec::AptUpdate, RunTarget::Servers(vec![nas.clone()])),
            "admin",
        )
        .await
        .unwrap();
    let next = service
        .next_action(&nas, &token, Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    service
        .report_result(&nas, next.id, exited(0))
        .await
        .unwrap();
    service.advance_run_of(next.id).await.unwrap();
    service.advance_runs().await.unwrap();
    assert_eq!(
        queued(&service, id).await,
        [(WebhookEvent::RunFinished, DeliveryStatus::Pending)]
    );
    let summary = &service.webhook(id).await.unwrap().deliveries[0].summary;
    assert_eq!(
        summary,
        &format!("Fleet run #{} (apt_update) completed.", run.id)
    );
}

#[tokio::test]
async fn a_server_silent_for_three_intervals_is_notified_offline_once_then_online_once() {
    let (service, clock, nas, token, _g) = clocked_nas(T0).await;
    let id = hook(&service, "presence", &["server.offline", "server.online"]).await;
    // A new server's first heartbeat is not a return.
    service.heartbeat(&token, heartbeat(None)).await.unwrap();
    assert_eq!(
        service.notify_offline().await.unwrap(),
        Vec::<ServerId>::new()
    );
    clock.advance(3 * 60_000 - 1);
    assert!(
        service.notify_offline().await.unwrap().is_empty(),
        "not yet"
    );
    clock.advance(2);
    assert_eq!(
        service.notify_offline().await.unwrap(),
        std::slice::from_ref(&nas)
    );
    clock.advance(60_000);
    assert!(service.notify_offline().await.unwrap().is_empty(), "once");
    service.heartbeat(&token, heartbeat(None)).await.unwrap();
    service.heartbeat(&token, heartbeat(None)).await.unwrap();
    assert_eq!(
        queued(&service, id).await,
        [
            (WebhookEvent::ServerOffline, DeliveryStatus::Pending),
            (WebhookEvent::ServerOnline, DeliveryStatus::Pending),
        ]
    );
}

#[tokio::test]
async fn two_replicas_watching_presence_notify_an_offline_server_once() {
    let (a, b, clock, _g) = two_replicas(T0).await;
    let (_, token) = add_nas(&a).await;
    let id = hook(&a, "presence", &["server.offline"]).await;
    a.heartbeat(&token, heartbeat(None)).await.unwrap();
    clock.advance(10 * 60_000);
    for _ in 0..5 {
        let (x, y) = tokio::join!(a.notify_offline(), b.notify_offline());
        let _ = (x.unwrap(), y.unwrap());
    }
    assert_eq!(
        queued(&b, id).await,
        [(WebhookEvent::ServerOffline, DeliveryStatus::Pending)]
    );
}

#[tokio::test]
async fn new_security_updates_are_notified_once_per_new_set() {
    let (service, _clock, _nas, token, _g) = clocked_nas(T0).await;
    let id = hook(&service, "security", &["server.security_updates"]).await;
    let security = |name: &str| {
        let mut p = package(name);
        p.is_security = true;
        p.security_version = Some(p.new_version.clone());
        p
    };
    let beat = |packages| service.heartbeat(&token, heartbeat(Some(packages)));
    beat(vec![package("vim")]).await.unwrap();
    beat(vec![package("vim"), security("openssl")])
        .await
        .unwrap();
    beat(vec![security("openssl"), package("vim")])
        .await
        .unwrap();
    // One gone and nothing new: nothing to tell.
    beat(vec![security("openssl")]).await.unwrap();
    beat(vec![security("openssl"), security("libc6")])
        .await
        .unwrap();
    let deliveries = service.webhook(id).await.unwrap().deliveries;
    let summaries: Vec<&str> = deliveries
        .iter()
        .rev()
        .map(|d| d.summary.as_str())
        .collect();
    assert_eq!(
        summaries,
        [
            "New security updates on nas: openssl.",
            "New security updates on nas: libc6.",
        ]
    );
}

#[tokio::test]
async fn a_json_webhook_gets_a_secret_shown_once_and_its_url_only_masked() {
    let (service, _clock, _nas, _token, _g) = clocked_nas(T0).await;
    let created = service
        .create_webhook(request("phone", "json", &["action.failed"]), "admin")
        .await
        .unwrap();
    let secret = created.secret.expect("a json webhook gets a secret");
    assert!(secret.starts_with(super::WEBHOOK_SECRET_PREFIX));
    assert_eq!(created.webhook.url_masked, "https://hooks.example/t0…");
    let listed = service.webhooks().await.unwrap();
    assert!(listed[0].has_secret);
    let shown = serde_json::to_string(&listed).unwrap();
    assert!(
        !shown.contains(&secret) && !shown.contains("t0ken-in-path"),
        "{shown}"
    );

    let plain = service
        .create_webhook(request("chat", "chat", &["run.finished"]), "admin")
        .await
        .unwrap();
    assert_eq!(plain.secret, None);
    assert!(!plain.webhook.has_secret);
    let again = service
        .create_webhook(request("phone", "ntfy", &["run.finished"]), "admin")
        .await
        .unwrap_err();
    assert!(matches!(again, crate::Error::Conflict { .. }), "{again:?}");
}

#[test]
fn a_draft_names_the_field_at_fault() {
    let ok = WebhookDraft {
        name: "phone".into(),
        url: "https://ntfy.example/x".into(),
        format: "ntfy".into(),
        events: vec!["action.failed".into()],
        secret: None,
    };
    let field = |draft: WebhookDraft| match WebhookRequest::try_from(draft) {
        Err(crate::Error::Invalid { field, .. }) => field,
        other => panic!("{other:?}"),
    };
    let huge = format!("https://h.example/{}", "a".repeat(100_000));
    for (draft, expected) in [
        (
            WebhookDraft {
                name: "\u{7}".into(),
                ..ok.clone()
            },
            "name",
        ),
        (
            WebhookDraft {
                name: "x".repeat(10_000),
                ..ok.clone()
            },
            "name",
        ),
        (
            WebhookDraft {
                url: "javascript:alert(1)".into(),
                ..ok.clone()
            },
            "url",
        ),
        (
            WebhookDraft {
                url: "file:///etc/shadow".into(),
                ..ok.clone()
            },
            "url",
        ),
        (
            WebhookDraft {
                url: huge,
                ..ok.clone()
            },
            "url",
        ),
        (
            WebhookDraft {
                format: "xml".into(),
                ..ok.clone()
            },
            "format",
        ),
        (
            WebhookDraft {
                events: vec![],
                ..ok.clone()
            },
            "events",
        ),
        (
            WebhookDraft {
                events: vec!["server.exploded".into()],
                ..ok.clone()
            },
            "events",
        ),
        (
            WebhookDraft {
                secret: Some("short".into()),
                ..ok.clone()
            },
            "secret",
        ),
        (
            WebhookDraft {
                secret: Some("x\ny".repeat(10)),
                ..ok.clone()
            },
            "secret",
        ),
    ] {
        assert_eq!(field(draft), expected);
    }
    // A blank secret is no secret.
    let blank = WebhookRequest::try_from(WebhookDraft {
        secret: Some("  ".into()),
        ..ok
    })
    .unwrap();
    assert!(blank.secret.is_none());
}

/// Queues `n` test deliveries for `id`.
async fn tests_queued(service: &Service, id: WebhookId, n: usize) {
    for _ in 0..n {
        service.test_webhook(id, "admin").await.unwrap();
    }
}

#[tokio::test]
async fn one_delivery_per_webhook_is_in_flight_oldest_first() {
    let (service, _clock, _nas, _token, _g) = clocked_nas(T0).await;
    let a = hook(&service, "a", &["action.failed"]).await;
    let b = hook(&service, "b", &["action.failed"]).await;
    tests_queued(&service, a, 3).await;
    tests_queued(&service, b, 1).await;
    let backoff = quick();
    let first = service.claim_deliveries(&backoff, 16).await.unwrap();
    let hooks: Vec<WebhookId> = first.iter().map(|c| c.webhook).collect();
    assert_eq!(hooks, [a, b], "one each");
    assert!(
        service
            .claim_deliveries(&backoff, 16)
            .await
            .unwrap()
            .is_empty()
    );
    let of_a = first.iter().find(|c| c.webhook == a).unwrap();
    assert!(
        service
            .record_delivery(of_a, SendResult::Answered(204), &backoff)
            .await
            .unwrap()
    );
    let second = service.claim_deliveries(&backoff, 16).await.unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].webhook, a);
    assert!(second[0].id > of_a.id, "the next oldest");
}

#[tokio::test]
async fn a_refused_delivery_is_retried_after_its_backoff_then_given_up() {
    let (service, clock, _nas, _token, _g) = clocked_nas(T0).await;
    let id = hook(&service, "flaky", &["action.failed"]).await;
    tests_queued(&service, id, 1).await;
    let backoff = quick();
    let claim = || async { service.claim_deliveries(&backoff, 16).await.unwrap() };
    let fail = |c: Claimed| {
        let backoff = backoff.clone();
        let service = service.clone();
        async move {
            assert!(
                service
                    .record_delivery(&c, SendResult::Answered(500), &backoff)
                    .await
                    .unwrap()
            );
        }
    };
    let first = claim().await.pop().unwrap();
    assert_eq!(first.attempt, 1);
    fail(first).await;
    let shown = &service.webhook(id).await.unwrap().deliveries[0];
    assert_eq!(shown.status, DeliveryStatus::Pending);
    assert_eq!(shown.last_status, Some(500));
    assert_eq!(shown.next_attempt_at_ms, Some(Millis::new(T0 + 10_000)));
    assert!(claim().await.is_empty(), "not before its wait");
    clock.advance(10_000);
    let second = claim().await.pop().unwrap();
    assert_eq!(second.attempt, 2);
    fail(second).await;
    clock.advance(30_000);
    fail(claim().await.pop().unwrap()).await;
    // Each later wait is the last one, until the period is over.
    clock.advance(30_000);
    fail(claim().await.pop().unwrap()).await;
    let shown = &service.webhook(id).await.unwrap().deliveries[0];
    assert_eq!(shown.status, DeliveryStatus::Failed);
    assert_eq!(shown.attempts, 4);
    assert!(claim().await.is_empty());
}

#[tokio::test]
async fn a_delivery_whose_lease_ran_out_is_claimed_again_and_the_late_sender_records_nothing() {
    let (service, clock, _nas, _token, _g) = clocked_nas(T0).await;
    let id = hook(&service, "slow", &["action.failed"]).await;
    tests_queued(&service, id, 1).await;
    let backoff = quick();
    let lost = service
        .claim_deliveries(&backoff, 16)
        .await
        .unwrap()
        .pop()
        .unwrap();
    clock.advance(20_001);
    let again = service
        .claim_deliveries(&backoff, 16)
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!((again.id, again.attempt), (lost.id, 2));
    assert!(
        !service
            .record_delivery(&lost, SendResult::Answered(200), &backoff)
            .await
            .unwrap(),
        "the first sender lost its lease"
    );
    assert!(
        service
            .record_delivery(&again, SendResult::Answered(200), &backoff)
            .await
            .unwrap()
    );
    let shown = &service.webhook(id).await.unwrap().deliveries[0];
    assert_eq!(shown.status, DeliveryStatus::Delivered);
    assert_eq!(shown.delivered_at_ms, Some(Millis::new(T0 + 20_001)));
}

#[tokio::test]
async fn two_replicas_claiming_at_once_never_hold_two_deliveries_of_one_webhook() {
    let (a, b, _clock, _g) = two_replicas(T0).await;
    let mut hooks = Vec::new();
    for name in ["one", "two", "three"] {
        let id = hook(&a, name, &["action.failed"]).await;
        tests_queued(&a, id, 4).await;
        hooks.push(id);
    }
    let backoff = quick();
    for _ in 0..4 {
        let (x, y) = tokio::join!(
            a.claim_deliveries(&backoff, 16),
            b.claim_deliveries(&backoff, 16)
        );
        let mut claimed: Vec<Claimed> = x.unwrap();
        claimed.extend(y.unwrap());
        let mut by_hook: Vec<WebhookId> = claimed.iter().map(|c| c.webhook).collect();
        by_hook.sort();
        assert_eq!(by_hook, hooks, "one in flight per webhook");
        for c in &claimed {
            a.record_delivery(c, SendResult::Answered(200), &backoff)
                .await
                .unwrap();
        }
    }
    for id in hooks {
        assert!(
            a.webhook(id)
                .await
                .unwrap()
                .deliveries
                .iter()
                .all(|d| d.status == DeliveryStatus::Delivered)
        );
    }
}

#[tokio::test]
async fn only_the_latest_finished_deliveries_are_kept() {
    let (service, _clock, _nas, _token, _g) = clocked_nas(T0).await;
    let id = hook(&service, "busy", &["action.failed"]).await;
    let kept = super::DELIVERIES_KEPT as usize;
    tests_queued(&service, id, kept + 3).await;
    let backoff = quick();
    loop {
        let claimed = service.claim_deliveries(&backoff, 16).await.unwrap();
        if claimed.is_empty() {
            break;
        }
        for c in &claimed {
            service
                .record_delivery(c, SendResult::Answered(200), &backoff)
                .await
                .unwrap();
        }
    }
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM webhook_deliveries")
        .fetch_one(service.db.pool())
        .await
        .unwrap();
    assert_eq!(count, kept as i64);
}

#[tokio::test]
async fn no_debug_print_of_a_webhook_shows_its_secret_or_its_url_token() {
    let (service, _clock, _nas, _token, _g) = clocked_nas(T0).await;
    let draft = WebhookDraft {
        name: "phone".into(),
        url: "https://hooks.example/t0ken-in-path".into(),
        format: "json".into(),
        events: vec!["action.failed".into()],
        secret: Some("a-secret-of-twenty-chars".into()),
    };
    let request = WebhookRequest::try_from(draft.clone()).unwrap();
    let id = service
        .create_webhook(request.clone(), "admin")
        .await
        .unwrap()
        .webhook
        .id;
    service.test_webhook(id, "admin").await.unwrap();
    let claimed = service.claim_deliveries(&quick(), 1).await.unwrap();
    let record = crate::db::webhooks::get(service.db.pool(), id)
        .await
        .unwrap()
        .unwrap();
    let printed = format!("{draft:?} {request:?} {claimed:?} {record:?}");
    assert!(!printed.contains("a-secret-of-twenty"), "{printed}");
    assert!(!printed.contains("t0ken-in-path"), "{printed}");
}
