//! The fleet-run engine, driven as the server drives it (the agent's claims and
//! results, a person's approvals) with a clock the test moves.

use std::sync::Arc;
use std::time::Duration;

use homelab_protocol::{
    ActionResult, ActionSpec, ActionStatus, ActionType, ItemState, Millis, Run, RunStatus,
    RunTarget, ServerId, ServerName, Tag,
};

use super::testing::heartbeat;
use super::{RunRequest, Service};
use crate::Error;
use crate::clock::ManualClock;
use crate::db::testing::{Guard, fresh_db};

pub(super) const T0: i64 = 1_700_000_000_000;

/// A fleet of named servers, each with its agent token.
pub(super) struct Fleet {
    pub(super) service: Service,
    pub(super) clock: Arc<ManualClock>,
    tokens: Vec<(ServerId, String)>,
    _guard: Guard,
}

impl Fleet {
    /// `names` added; each reports once, so it is online.
    pub(super) async fn online(names: &[&str]) -> Fleet {
        let (db, guard) = fresh_db().await;
        let clock = Arc::new(ManualClock::at(Millis::new(T0)));
        let service = Service::new(db, Duration::from_secs(60)).with_clock(clock.clone());
        let mut tokens = Vec::new();
        for name in names {
            let id = ServerId::parse(*name).unwrap();
            let added = service
                .add_server(id.clone(), ServerName::parse(name).unwrap())
                .await
                .unwrap();
            service
                .heartbeat(&added.agent_token, heartbeat(None))
                .await
                .unwrap();
            tokens.push((id, added.agent_token));
        }
        Fleet {
            service,
            clock,
            tokens,
            _guard: guard,
        }
    }

    pub(super) fn id(&self, name: &str) -> ServerId {
        ServerId::parse(name).unwrap()
    }

    pub(super) fn token(&self, name: &str) -> &str {
        &self
            .tokens
            .iter()
            .find(|(id, _)| id.as_str() == name)
            .unwrap()
            .1
    }

    /// The agent of `name` claims its next action and reports `exit_code`; the
    /// server then moves the run on, as its job does when the action changes.
    pub(super) async fn agent_runs(&self, name: &str, exit_code: i32) {
        let id = self.id(name);
        let next = self
            .service
            .next_action(&id, self.token(name), Duration::ZERO)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{name} has nothing to run"));
        self.service
            .report_result(&id, next.id, exited(exit_code))
            .await
            .unwrap();
        self.service.advance_run_of(next.id).await.unwrap();
    }

    pub(super) async fn has_nothing_to_run(&self, name: &str) -> bool {
        self.service
            .next_action(&self.id(name), self.token(name), Duration::ZERO)
            .await
            .unwrap()
            .is_none()
    }

    pub(super) async fn start(&self, names: &[&str], batch_size: u32, max_failures: u32) -> Run {
        let mut request = RunRequest::new(
            ActionSpec::parse(ActionType::AptUpdate, None).unwrap(),
            RunTarget::Servers(names.iter().map(|n| self.id(n)).collect()),
        );
        request.batch_size = batch_size;
        request.max_failures = max_failures;
        self.service.start_run(request, "alice").await.unwrap()
    }

    pub(super) async fn run(&self, run: &Run) -> Run {
        self.service.run(run.id).await.unwrap()
    }
}

/// What an agent reports for a command that exited with `exit_code`.
pub(super) fn exited(exit_code: i32) -> ActionResult {
    ActionResult {
        exit_code: Some(exit_code),
        failure: None,
        stdout: String::new(),
        stderr: String::new(),
        started_at: None,
        finished_at: None,
    }
}

/// Each item's state, in order.
pub(super) fn states(run: &Run) -> Vec<ItemState> {
    run.items.iter().map(|i| i.state).collect()
}

use ItemState::{Cancelled, Completed, Failed, Queued, Skipped, Waiting};

#[tokio::test]
async fn one_server_at_a_time_each_batch_after_the_previous_one_finished() {
    let fleet = Fleet::online(&["a", "b", "c"]).await;
    let run = fleet.start(&["a", "b", "c"], 1, 0).await;
    assert_eq!(run.status, RunStatus::Running);
    assert_eq!(states(&run), [Queued, Waiting, Waiting]);
    assert_eq!(run.items[0].action_status, Some(ActionStatus::Approved));
    assert!(fleet.has_nothing_to_run("b").await, "b's turn has not come");

    fleet.agent_runs("a", 0).await;
    assert_eq!(states(&fleet.run(&run).await), [Completed, Queued, Waiting]);
    fleet.agent_runs("b", 0).await;
    fleet.agent_runs("c", 0).await;
    let done = fleet.run(&run).await;
    assert_eq!(states(&done), [Completed, Completed, Completed]);
    assert_eq!(done.status, RunStatus::Completed);
    assert_eq!(done.finished_at_ms, Some(Millis::new(T0)));
    // Every step is an ordinary action that names its run, started by its starter.
    let action = fleet
        .service
        .action(done.items[2].action_id.unwrap())
        .await
        .unwrap();
    assert_eq!(action.run_id, Some(run.id));
    assert_eq!(action.created_by, "alice");
    assert_eq!(action.approved_by.as_deref(), Some("auto"));
}

#[tokio::test]
async fn a_batch_of_two_starts_together_and_the_next_waits_for_both() {
    let fleet = Fleet::online(&["a", "b", "c"]).await;
    let run = fleet.start(&["a", "b", "c"], 2, 0).await;
    assert_eq!(states(&run), [Queued, Queued, Waiting]);
    fleet.agent_runs("b", 0).await;
    assert_eq!(states(&fleet.run(&run).await), [Queued, Completed, Waiting]);
    fleet.agent_runs("a", 0).await;
    assert_eq!(
        states(&fleet.run(&run).await),
        [Completed, Completed, Queued]
    );
}

#[tokio::test]
async fn the_first_failure_stops_the_run_by_default() {
    let fleet = Fleet::online(&["a", "b", "c"]).await;
    let run = fleet.start(&["a", "b", "c"], 1, 0).await;
    fleet.agent_runs("a", 100).await;
    let stopped = fleet.run(&run).await;
    assert_eq!(stopped.status, RunStatus::Failed);
    assert_eq!(states(&stopped), [Failed, Cancelled, Cancelled]);
    assert_eq!(
        stopped.items[0].reason.as_deref(),
        Some("failed: exit_code")
    );
    assert!(
        stopped.items[1]
            .reason
            .as_deref()
            .unwrap()
            .contains("1 server failed, 0 allowed"),
        "{:?}",
        stopped.items[1].reason
    );
    assert!(fleet.has_nothing_to_run("b").await);
}

#[tokio::test]
async fn max_failures_lets_that_many_fail_and_the_next_one_stops_the_run() {
    let fleet = Fleet::online(&["a", "b", "c", "d"]).await;
    let run = fleet.start(&["a", "b", "c", "d"], 1, 1).await;
    fleet.agent_runs("a", 1).await;
    assert_eq!(
        states(&fleet.run(&run).await),
        [Failed, Queued, Waiting, Waiting]
    );
    fleet.agent_runs("b", 0).await;
    fleet.agent_runs("c", 1).await;
    let stopped = fleet.run(&run).await;
    assert_eq!(stopped.status, RunStatus::Failed);
    assert_eq!(states(&stopped), [Failed, Completed, Failed, Cancelled]);
}

#[tokio::test]
async fn offline_never_seen_and_busy_servers_are_skipped_with_their_reason() {
    let fleet = Fleet::online(&["a", "busy", "old"]).await;
    // `old` stops reporting: four minutes later it is offline, the others report.
    fleet.clock.advance(4 * 60_000);
    for name in ["a", "busy"] {
        fleet
            .service
            .heartbeat(fleet.token(name), heartbeat(None))
            .await
            .unwrap();
    }
    fleet
        .service
        .add_server(fleet.id("new"), ServerName::parse("new").unwrap())
        .await
        .unwrap();
    let in_flight = fleet
        .service
        .create_action(
            &fleet.id("busy"),
            ActionSpec::parse(ActionType::AptUpgradeAll, None).unwrap(),
            "bob",
        )
        .await
        .unwrap();

    let run = fleet.start(&["old", "new", "busy", "a"], 1, 0).await;
    // Skips take no turn: the first server that can run is queued at once.
    assert_eq!(states(&run), [Skipped, Skipped, Skipped, Queued]);
    let reasons: Vec<_> = run.items.iter().map(|i| i.reason.clone()).collect();
    assert_eq!(reasons[0].as_deref(), Some("offline"));
    assert_eq!(
        reasons[1].as_deref(),
        Some("offline: its agent never reported")
    );
    assert_eq!(
        reasons[2].as_deref(),
        Some(
            format!(
                "busy: an apt action or a reboot is already in flight (action {})",
                in_flight.id
            )
            .as_str()
        )
    );
    fleet.agent_runs("a", 0).await;
    let done = fleet.run(&run).await;
    // Skipped servers are not failures.
    assert_eq!(done.status, RunStatus::Completed);
    // Nothing was queued behind the busy server's own action.
    let busy = fleet.service.action(in_flight.id).await.unwrap();
    assert_eq!(busy.status, ActionStatus::Approved);
}

#[tokio::test]
async fn a_server_in_maintenance_holds_the_run_until_a_person_approves() {
    let fleet = Fleet::online(&["a", "b"]).await;
    fleet
        .service
        .set_paused(&fleet.id("a"), true, "alice")
        .await
        .unwrap();
    let run = fleet.start(&["a", "b"], 1, 0).await;
    assert_eq!(run.items[0].action_status, Some(ActionStatus::Pending));
    assert!(fleet.has_nothing_to_run("a").await);
    // Time passes; the run waits for the person, not for a timer.
    fleet.clock.advance(30_000);
    fleet.service.advance_runs().await.unwrap();
    assert_eq!(states(&fleet.run(&run).await), [Queued, Waiting]);

    let pending = run.items[0].action_id.unwrap();
    fleet.service.approve(pending, "alice").await.unwrap();
    fleet.service.advance_run_of(pending).await.unwrap();
    fleet.agent_runs("a", 0).await;
    assert_eq!(states(&fleet.run(&run).await), [Completed, Queued]);
}

#[tokio::test]
async fn a_rejected_step_counts_as_a_failure() {
    let fleet = Fleet::online(&["a", "b"]).await;
    fleet
        .service
        .set_paused(&fleet.id("a"), true, "alice")
        .await
        .unwrap();
    let run = fleet.start(&["a", "b"], 1, 0).await;
    let pending = run.items[0].action_id.unwrap();
    fleet
        .service
        .reject(pending, "alice", "not during the backup")
        .await
        .unwrap();
    fleet.service.advance_run_of(pending).await.unwrap();
    let stopped = fleet.run(&run).await;
    assert_eq!(stopped.status, RunStatus::Failed);
    assert_eq!(
        stopped.items[0].reason.as_deref(),
        Some("rejected by alice: not during the backup")
    );
}

#[tokio::test]
async fn cancelling_withdraws_what_has_not_started_and_lets_running_actions_finish() {
    let fleet = Fleet::online(&["a", "b", "c"]).await;
    fleet
        .service
        .set_paused(&fleet.id("b"), true, "alice")
        .await
        .unwrap();
    let run = fleet.start(&["a", "b", "c"], 2, 0).await;
    // a's agent claims its action; b's waits for approval.
    let claimed = fleet
        .service
        .next_action(&fleet.id("a"), fleet.token("a"), Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    let cancelled = fleet.service.cancel_run(run.id, "carol").await.unwrap();
    assert_eq!(cancelled.status, RunStatus::Cancelled);
    assert_eq!(cancelled.cancelled_by.as_deref(), Some("carol"));
    assert_eq!(states(&cancelled), [Queued, Cancelled, Cancelled]);
    let b = fleet
        .service
        .action(cancelled.items[1].action_id.unwrap())
        .await
        .unwrap();
    assert_eq!(b.status, ActionStatus::Cancelled);
    assert_eq!(b.cancelled_by.as_deref(), Some("carol"));

    // The running action finishes, and the run still shows how it ended.
    fleet
        .service
        .report_result(&fleet.id("a"), claimed.id, exited(0))
        .await
        .unwrap();
    fleet.service.advance_runs().await.unwrap();
    let after = fleet.run(&run).await;
    assert_eq!(states(&after), [Completed, Cancelled, Cancelled]);
    assert_eq!(after.status, RunStatus::Cancelled);
    assert!(fleet.has_nothing_to_run("c").await);

    let again = fleet.service.cancel_run(run.id, "carol").await.unwrap_err();
    assert!(matches!(again, Error::Conflict { .. }), "{again:?}");
}

#[tokio::test]
async fn a_tag_names_its_servers_by_id_and_leaves_the_others_alone() {
    let fleet = Fleet::online(&["web", "nas", "db"]).await;
    let lab = Tag::parse("lab").unwrap();
    for name in ["web", "db"] {
        fleet
            .service
            .set_tags(&fleet.id(name), vec![lab.clone()], "alice")
            .await
            .unwrap();
    }
    let request = RunRequest::new(
        ActionSpec::parse(ActionType::AptUpdate, None).unwrap(),
        RunTarget::Tag(lab.clone()),
    );
    let run = fleet.service.start_run(request, "alice").await.unwrap();
    assert_eq!(run.tag, Some(lab));
    let servers: Vec<_> = run.items.iter().map(|i| i.server_id.as_str()).collect();
    assert_eq!(servers, ["db", "web"]);
    assert!(fleet.has_nothing_to_run("nas").await);

    let none = RunRequest::new(
        ActionSpec::parse(ActionType::AptUpdate, None).unwrap(),
        RunTarget::Tag(Tag::parse("prod").unwrap()),
    );
    let err = fleet.service.start_run(none, "alice").await.unwrap_err();
    assert!(
        matches!(err, Error::Invalid { ref field, .. } if field == "tag"),
        "{err:?}"
    );
}

#[tokio::test]
async fn impossible_requests_are_refused_and_start_nothing() {
    let fleet = Fleet::online(&["a"]).await;
    let apt = || ActionSpec::parse(ActionType::AptUpdate, None).unwrap();
    let cases = [
        (RunTarget::Servers(vec![]), 1, 0, "servers"),
        (RunTarget::Servers(vec![fleet.id("ghost")]), 1, 0, "servers"),
        (RunTarget::Servers(vec![fleet.id("a")]), 0, 0, "batch_size"),
        (
            RunTarget::Servers(vec![fleet.id("a")]),
            1_001,
            0,
            "batch_size",
        ),
        (
            RunTarget::Servers(vec![fleet.id("a")]),
            1,
            u32::MAX,
            "max_failures",
        ),
    ];
    for (target, batch_size, max_failures, field) in cases {
        let mut request = RunRequest::new(apt(), target);
        request.batch_size = batch_size;
        request.max_failures = max_failures;
        let err = fleet.service.start_run(request, "alice").await.unwrap_err();
        assert!(
            matches!(err, Error::Invalid { field: ref f, .. } if f == field),
            "{err:?}"
        );
    }
    assert!(fleet.service.runs(None, 10).await.unwrap().is_empty());
    assert!(fleet.has_nothing_to_run("a").await);
    // A server named twice runs once.
    let run = fleet.start(&["a", "a"], 1, 0).await;
    assert_eq!(run.items.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_advancing_one_run_at_once_queue_each_server_once() {
    let (a, b, _clock, _guard) = super::testing::two_replicas(T0).await;
    let mut tokens = Vec::new();
    for n in 0..6 {
        let id = ServerId::parse(format!("m-{n}")).unwrap();
        let added = a
            .add_server(id.clone(), ServerName::parse("M").unwrap())
            .await
            .unwrap();
        a.heartbeat(&added.agent_token, heartbeat(None))
            .await
            .unwrap();
        tokens.push((id, added.agent_token));
    }
    let mut request = RunRequest::new(
        ActionSpec::parse(ActionType::ClearLogs, None).unwrap(),
        RunTarget::Servers(tokens.iter().map(|(id, _)| id.clone()).collect()),
    );
    request.batch_size = 2;
    let run = a.start_run(request, "alice").await.unwrap();
    for round in 0..3 {
        for (id, token) in &tokens[round * 2..round * 2 + 2] {
            let next = b
                .next_action(id, token, Duration::ZERO)
                .await
                .unwrap()
                .unwrap();
            b.report_result(id, next.id, exited(0)).await.unwrap();
        }
        // Both replicas hear of the change and move the run on at once. (clear_logs
        // has no duplicate guard: only the run's lock keeps a server from being
        // queued twice.)
        let (x, y) = tokio::join!(a.advance_run(run.id), b.advance_run(run.id));
        for r in [x, y] {
            // A replica that lost a race is told to try again, and changes nothing.
            assert!(
                r.is_ok() || matches!(r, Err(Error::Conflict { .. })),
                "{r:?}"
            );
        }
    }
    let done = a.run(run.id).await.unwrap();
    assert_eq!(done.status, RunStatus::Completed, "{done:?}");
    let history = a
        .history(
            &homelab_protocol::HistoryFilter {
                run_id: Some(run.id),
                ..Default::default()
            },
            None,
            100,
        )
        .await
        .unwrap();
    assert_eq!(history.actions.len(), 6, "one action per server");
}

/// The dashboard's run form carries a request id: the same form sent twice (a
/// double click without JavaScript, a resent POST), even at once on two replicas,
/// starts one run; another person's request with the same id is theirs.
#[tokio::test]
async fn the_same_request_starts_one_run_even_sent_twice_at_once() {
    use homelab_protocol::RequestId;

    let (a, b, _clock, _guard) = super::testing::two_replicas(T0).await;
    let nas = ServerId::parse("nas").unwrap();
    let added = a
        .add_server(nas.clone(), ServerName::parse("NAS").unwrap())
        .await
        .unwrap();
    a.heartbeat(&added.agent_token, heartbeat(None))
        .await
        .unwrap();
    // clear_logs has no duplicate guard: only the request id keeps a second run out.
    let request = || {
        RunRequest::new(
            ActionSpec::parse(ActionType::ClearLogs, None).unwrap(),
            RunTarget::Servers(vec![nas.clone()]),
        )
    };
    let form = RequestId::parse("f0rm-t0ken-0123456789abcdef").unwrap();

    let first = a
        .start_run_once(request(), "alice", Some(&form))
        .await
        .unwrap();
    let again = b
        .start_run_once(request(), "alice", Some(&form))
        .await
        .unwrap();
    assert_eq!(again.id, first.id);
    assert_eq!(a.runs(None, 10).await.unwrap().len(), 1);

    let other = RequestId::parse("other-form").unwrap();
    let (x, y) = tokio::join!(
        a.start_run_once(request(), "alice", Some(&other)),
        b.start_run_once(request(), "alice", Some(&other)),
    );
    let (x, y) = (x.unwrap(), y.unwrap());
    assert_eq!(x.id, y.id, "one run for the request sent twice at once");
    assert_ne!(x.id, first.id);
    assert_eq!(a.runs(None, 10).await.unwrap().len(), 2);

    let bobs = a
        .start_run_once(request(), "bob", Some(&form))
        .await
        .unwrap();
    assert_ne!(bobs.id, first.id, "another person's request is another run");
    assert_eq!(bobs.created_by, "bob");
    // Without a request id, every start is a run of its own (the JSON API).
    a.start_run(request(), "alice").await.unwrap();
    assert_eq!(a.runs(None, 10).await.unwrap().len(), 4);
}

/// The runs list and a run's own page, read while runs stop, never pair a run's
/// row with items from another moment: a run still `running` shows no `cancelled` item (a failure
/// cancels the rest in the same transaction that marks the run `failed`), and a
/// stopped run shows no `waiting` one.
#[tokio::test]
async fn the_runs_list_read_while_runs_stop_shows_each_run_as_it_was() {
    let fleet = Arc::new(Fleet::online(&["a", "b", "c", "d"]).await);
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (fleet, done) = (fleet.clone(), done.clone());
        tokio::spawn(async move {
            let mut reads = 0u32;
            let check = |run: &Run| {
                let states = states(run);
                match run.status {
                    RunStatus::Running => assert!(
                        !states.contains(&ItemState::Cancelled),
                        "a running run with cancelled items: {states:?}"
                    ),
                    _ => assert!(
                        !states.contains(&ItemState::Waiting),
                        "a stopped run with waiting items: {:?} {states:?}",
                        run.status
                    ),
                }
            };
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let listed = fleet.service.runs(None, 50).await.unwrap();
                listed.iter().for_each(check);
                // And the newest alone, as its page reads it.
                if let Some(newest) = listed.first() {
                    check(&fleet.service.run(newest.id).await.unwrap());
                }
                reads += 1;
                tokio::task::yield_now().await;
            }
            reads
        })
    };
    for _ in 0..25 {
        let run = fleet.start(&["a", "b", "c", "d"], 1, 0).await;
        fleet.agent_runs("a", 1).await;
        assert_eq!(fleet.run(&run).await.status, RunStatus::Failed);
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let reads = reader.await.unwrap();
    assert!(reads > 0);
}
