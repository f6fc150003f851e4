//! `actions`: the duplicate guard, the status machine's moves, claims, results and
//! leases, the history.

use homelab_core::db::actions::{self, InsertError, NewAction, Outcome};
use homelab_core::db::{Database, DbError};
use homelab_protocol::{
    ActionId, ActionSpec, ActionStatus, ActionType, FailureReason, HistoryFilter, Millis, UnitName,
};

use crate::support::{add_server, id, write};

/// Stores `spec` on server `nas` at `now`, approved or pending.
async fn insert(
    db: &Database,
    spec: ActionSpec,
    approved: bool,
    now: i64,
) -> Result<ActionId, InsertError> {
    write(db, move |tx| {
        Box::pin(async move {
            let argv = vec!["true".to_owned()];
            let slot = spec.slot();
            let new = NewAction {
                server: &id("nas"),
                action_type: spec.action_type(),
                slot: slot.as_ref(),
                parameters: None,
                argv: &argv,
                timeout_s: 60,
                created_by: "test",
                approved_by: approved.then_some("auto"),
                now_ms: now,
                request_id: None,
                run_id: None,
            };
            Ok::<_, DbError>(actions::insert(tx, &new).await)
        })
    })
    .await
}

fn apt() -> ActionSpec {
    ActionSpec::parse(ActionType::AptUpdate, None).unwrap()
}

fn restart(unit: &str) -> ActionSpec {
    ActionSpec::RestartService {
        unit: UnitName::parse(unit).unwrap(),
    }
}

async fn status(db: &Database, action: ActionId) -> ActionStatus {
    actions::get(db.pool(), action)
        .await
        .unwrap()
        .unwrap()
        .status
}

async fn claim(db: &Database, now: i64) -> Option<ActionId> {
    write(db, move |tx| {
        Box::pin(async move { actions::claim_next(tx, &id("nas"), now, 60_000).await })
    })
    .await
    .map(|next| next.id)
}

async fn fresh(db: &Database) {
    add_server(db, "nas", "h").await;
}

pub async fn one_action_per_slot_and_the_slot_is_named_for_the_conflict(db: Database) {
    fresh(&db).await;
    let first = insert(&db, apt(), true, 1).await.unwrap();
    let upgrade = ActionSpec::parse(ActionType::AptUpgradeAll, None).unwrap();
    assert!(matches!(
        insert(&db, upgrade, false, 2).await,
        Err(InsertError::Duplicate)
    ));
    assert_eq!(
        actions::holding(db.pool(), &id("nas"), "apt")
            .await
            .unwrap(),
        Some(first)
    );
    // Other slots, and kinds without one, are free.
    insert(&db, restart("nginx"), true, 3).await.unwrap();
    assert!(matches!(
        insert(&db, restart("nginx"), true, 4).await,
        Err(InsertError::Duplicate)
    ));
    insert(&db, restart("sshd"), true, 5).await.unwrap();
    let logs = ActionSpec::parse(ActionType::ClearLogs, None).unwrap();
    insert(&db, logs.clone(), true, 6).await.unwrap();
    insert(&db, logs, true, 7).await.unwrap();
}

pub async fn a_slot_held_only_while_waiting_is_freed_by_the_claim(db: Database) {
    fresh(&db).await;
    let restart_id = insert(&db, restart("nginx"), true, 1).await.unwrap();
    assert_eq!(claim(&db, 2).await, Some(restart_id));
    // Running: a second restart of the unit may wait behind it.
    insert(&db, restart("nginx"), true, 3).await.unwrap();
    // The apt slot is held while running.
    let apt_id = insert(&db, apt(), true, 4).await.unwrap();
    claim(&db, 5).await.unwrap();
    claim(&db, 6).await.unwrap();
    assert_eq!(status(&db, apt_id).await, ActionStatus::Executing);
    assert!(matches!(
        insert(&db, apt(), true, 7).await,
        Err(InsertError::Duplicate)
    ));
}

pub async fn transitions_happen_only_from_the_allowed_statuses(db: Database) {
    fresh(&db).await;
    let pending = insert(&db, apt(), false, 1).await.unwrap();
    let approve = |from: Vec<ActionStatus>, to: ActionStatus| {
        let db = db.clone();
        async move {
            write(&db, move |tx| {
                Box::pin(async move {
                    actions::transition(tx, pending, &from, to, "alice", Some("why"), 2).await
                })
            })
            .await
        }
    };
    assert!(!approve(vec![ActionStatus::Approved], ActionStatus::Cancelled).await);
    assert_eq!(status(&db, pending).await, ActionStatus::Pending);
    assert!(approve(vec![ActionStatus::Pending], ActionStatus::Rejected).await);
    let rejected = actions::get(db.pool(), pending).await.unwrap().unwrap();
    assert_eq!(rejected.status, ActionStatus::Rejected);
    assert_eq!(rejected.rejected_by.as_deref(), Some("alice"));
    assert_eq!(rejected.reject_reason.as_deref(), Some("why"));
    // A final status frees the slot.
    insert(&db, apt(), true, 3).await.unwrap();
}

pub async fn claims_take_the_oldest_approved_action_once(db: Database) {
    fresh(&db).await;
    let waiting = insert(&db, restart("a"), false, 1).await.unwrap();
    let first = insert(&db, restart("b"), true, 2).await.unwrap();
    let second = insert(&db, restart("c"), true, 3).await.unwrap();
    assert_eq!(claim(&db, 10).await, Some(first));
    assert_eq!(claim(&db, 11).await, Some(second));
    assert_eq!(
        claim(&db, 12).await,
        None,
        "a pending action is never claimed"
    );
    assert_eq!(status(&db, waiting).await, ActionStatus::Pending);
    let claimed = actions::get(db.pool(), first).await.unwrap().unwrap();
    assert_eq!(claimed.started_at_ms, Some(Millis::new(10)));
}

fn outcome(status: ActionStatus, exit_code: i32) -> Outcome {
    Outcome {
        status,
        exit_code: Some(exit_code),
        failure: (exit_code != 0).then_some(FailureReason::ExitCode),
        stdout: "out".into(),
        stderr: String::new(),
        started_at_ms: None,
        finished_at_ms: 50,
        reported_at_ms: 60,
    }
}

async fn finish(db: &Database, action: ActionId, o: Outcome, late: bool) -> bool {
    write(db, move |tx| {
        Box::pin(async move { actions::finish(tx, action, &o, late).await })
    })
    .await
}

pub async fn a_result_finishes_an_executing_action_or_a_lost_one_late(db: Database) {
    fresh(&db).await;
    let a = insert(&db, apt(), true, 1).await.unwrap();
    assert!(
        !finish(&db, a, outcome(ActionStatus::Completed, 0), false).await,
        "not running yet"
    );
    claim(&db, 2).await.unwrap();
    assert!(
        !finish(&db, a, outcome(ActionStatus::Completed, 0), true).await,
        "not lost"
    );
    assert!(finish(&db, a, outcome(ActionStatus::Failed, 3), false).await);
    let done = actions::get(db.pool(), a).await.unwrap().unwrap();
    assert_eq!(
        (done.status, done.exit_code, done.failure),
        (ActionStatus::Failed, Some(3), Some(FailureReason::ExitCode))
    );
    assert_eq!(done.stdout, "out");
    assert!(
        !finish(&db, a, outcome(ActionStatus::Completed, 0), false).await,
        "only once"
    );

    // Lost, then its result arrives after all.
    let b = insert(&db, apt(), true, 3).await.unwrap();
    claim(&db, 4).await.unwrap();
    write(&db, |tx| {
        Box::pin(async move { actions::expire_leases(tx, i64::MAX).await })
    })
    .await;
    assert!(finish(&db, b, outcome(ActionStatus::Completed, 0), true).await);
    let late = actions::get(db.pool(), b).await.unwrap().unwrap();
    assert_eq!(late.status, ActionStatus::Completed);
    assert!(late.result_came_late());
}

pub async fn expired_leases_fail_as_agent_lost_and_free_the_slot(db: Database) {
    fresh(&db).await;
    let a = insert(&db, apt(), true, 1).await.unwrap();
    claim(&db, 1_000).await.unwrap();
    // The lease is the timeout (60 s) plus the grace given to the claim (60 s).
    let early = write(&db, |tx| {
        Box::pin(async move { actions::expire_leases(tx, 120_999).await })
    })
    .await;
    assert!(early.is_empty());
    let lost = write(&db, |tx| {
        Box::pin(async move { actions::expire_leases(tx, 121_001).await })
    })
    .await;
    assert_eq!(lost, [(a, "nas".to_owned())]);
    let failed = actions::get(db.pool(), a).await.unwrap().unwrap();
    assert_eq!(
        (failed.status, failed.failure),
        (ActionStatus::Failed, Some(FailureReason::AgentLost))
    );
    assert_eq!(failed.lease_lost_at_ms, Some(Millis::new(121_001)));
    insert(&db, apt(), true, 2).await.unwrap();
}

pub async fn leases_are_extended_never_shortened(db: Database) {
    fresh(&db).await;
    let a = insert(&db, apt(), true, 1).await.unwrap();
    assert!(
        !write(&db, move |tx| Box::pin(async move {
            actions::extend_lease(tx, a, 10).await
        }))
        .await,
        "not executing"
    );
    claim(&db, 1_000).await.unwrap();
    // 121_000 now: a shorter "extension" changes nothing.
    assert!(
        write(&db, move |tx| Box::pin(async move {
            actions::extend_lease(tx, a, 5_000).await
        }))
        .await
    );
    let kept = write(&db, |tx| {
        Box::pin(async move { actions::expire_leases(tx, 120_000).await })
    })
    .await;
    assert!(kept.is_empty());
    assert!(
        write(&db, move |tx| Box::pin(async move {
            actions::extend_lease(tx, a, 500_000).await
        }))
        .await
    );
    let kept = write(&db, |tx| {
        Box::pin(async move { actions::expire_leases(tx, 499_999).await })
    })
    .await;
    assert!(kept.is_empty());
}

pub async fn live_output_grows_to_its_tail_until_the_result_replaces_it(db: Database) {
    fresh(&db).await;
    let a = insert(&db, apt(), true, 1).await.unwrap();
    claim(&db, 1_000).await.unwrap();
    let append = |out: &'static str, err: &'static str| {
        write(&db, move |tx| {
            Box::pin(async move { actions::append_output(tx, a, out, err, 8).await })
        })
    };
    append("é", "").await;
    append("abcdefg", "W: x").await;
    let so_far = actions::get(db.pool(), a).await.unwrap().unwrap();
    // The last 8 bytes cut `é` (two bytes) in half: it goes whole.
    assert_eq!(so_far.stdout, "abcdefg");
    assert_eq!(so_far.stderr, "W: x");
    append("12", "").await;
    let so_far = actions::get(db.pool(), a).await.unwrap().unwrap();
    assert_eq!(so_far.stdout, "bcdefg12");
    assert!(finish(&db, a, outcome(ActionStatus::Completed, 0), false).await);
    let done = actions::get(db.pool(), a).await.unwrap().unwrap();
    assert_eq!(done.stdout, outcome(ActionStatus::Completed, 0).stdout);
}

pub async fn history_pages_filter_and_walk_newest_first(db: Database) {
    fresh(&db).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            insert(&db, restart(&format!("u{i}")), i % 2 == 0, i)
                .await
                .unwrap(),
        );
    }
    let all = actions::list(db.pool(), &HistoryFilter::default(), None, 3)
        .await
        .unwrap();
    let got: Vec<_> = all.iter().map(|a| a.id).collect();
    assert_eq!(got, [ids[4], ids[3], ids[2]]);
    let next = actions::list(db.pool(), &HistoryFilter::default(), Some(ids[2]), 3)
        .await
        .unwrap();
    assert_eq!(
        next.iter().map(|a| a.id).collect::<Vec<_>>(),
        [ids[1], ids[0]]
    );
    let pending = HistoryFilter {
        status: Some(ActionStatus::Pending),
        ..HistoryFilter::default()
    };
    let only = actions::list(db.pool(), &pending, None, 10).await.unwrap();
    assert_eq!(
        only.iter().map(|a| a.id).collect::<Vec<_>>(),
        [ids[3], ids[1]]
    );
    let counts = actions::pending_counts(db.pool()).await.unwrap();
    assert_eq!(counts.get("nas"), Some(&2));
}

pub async fn a_request_id_names_one_action_per_actor(db: Database) {
    fresh(&db).await;
    let store = |actor: &'static str, unit: &'static str| {
        let db = db.clone();
        async move {
            write(&db, move |tx| {
                Box::pin(async move {
                    let argv = vec!["true".to_owned()];
                    let new = NewAction {
                        server: &id("nas"),
                        action_type: ActionType::ClearLogs,
                        slot: None,
                        parameters: None,
                        argv: &argv,
                        timeout_s: 60,
                        created_by: actor,
                        approved_by: None,
                        now_ms: 1,
                        request_id: Some("form-1"),
                        run_id: None,
                    };
                    Ok::<_, DbError>(actions::insert(tx, &new).await.map(|_| unit))
                })
            })
            .await
        }
    };
    store("alice", "a").await.unwrap();
    assert!(matches!(
        store("alice", "b").await,
        Err(InsertError::Duplicate)
    ));
    store("bob", "c").await.unwrap();
    let first = actions::by_request(db.pool(), "alice", "form-1")
        .await
        .unwrap();
    assert!(first.is_some());
    assert_ne!(
        first,
        actions::by_request(db.pool(), "bob", "form-1")
            .await
            .unwrap()
    );
    assert_eq!(
        actions::by_request(db.pool(), "alice", "form-2")
            .await
            .unwrap(),
        None
    );
}
