//! The agent against a local HTTP server playing the hub: capped answers, actions it
//! cannot read, progress calls, a clean stop, and recovery after a crash. Commands
//! are fake programs on the children's PATH; processes are real.

mod support;

use std::os::unix::process::CommandExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use homelab_agent::client::{Claim, Client, ClientError};
use homelab_agent::state::State;
use serde_json::Value;
use support::{Answer, TestServer, action_loop, apt_update, config, fake_program};

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_400_mb_answer_is_refused_past_one_mebibyte_and_memory_stays_flat() {
    let dir = tempfile::tempdir().unwrap();
    let before = peak_rss_kib();
    for with_length in [true, false] {
        let server = TestServer::start(move |_| Answer::Endless {
            total: 400 * 1024 * 1024,
            with_length,
        })
        .await;
        let client = Client::new(&config(&server.url, dir.path())).unwrap();
        let err = client
            .next_action(Duration::from_secs(1))
            .await
            .unwrap_err();
        assert!(matches!(err, ClientError::TooLarge), "{with_length}: {err}");
        assert!(
            err.to_string().contains("larger than 1048576 bytes"),
            "{err}"
        );
    }
    let grown_mib = (peak_rss_kib() - before) / 1024;
    assert!(grown_mib < 64, "peak memory grew by {grown_mib} MiB");
}

#[tokio::test]
async fn an_unknown_action_type_gets_one_failed_result_for_its_id() {
    let claimed = Arc::new(AtomicUsize::new(0));
    let count = claimed.clone();
    let server = TestServer::start(move |req| {
        if req.path.contains("/next") && count.fetch_add(1, Ordering::SeqCst) == 0 {
            Answer::Body(
                200,
                r#"{"id": 41, "action_type": "reboot_into_rescue", "argv": ["x"], "timeout_s": 5, "new_field": 1}"#.into(),
            )
        } else if req.path.contains("/next") {
            Answer::NoContent
        } else {
            Answer::Body(200, r#"{"ok": true}"#.into())
        }
    })
    .await;
    let state = tempfile::tempdir().unwrap();
    let path = tempfile::tempdir().unwrap();
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let agent = tokio::spawn(
        action_loop(
            &server.url,
            state.path(),
            path.path(),
            Duration::from_secs(30),
        )
        .run(stop_rx),
    );
    // Two more polls after the claim: the loop went on, it did not retry 41.
    server
        .wait_for("two polls after the result", |seen| {
            seen.iter().filter(|s| s.path.contains("/next")).count() >= 3
        })
        .await;
    stop.send(true).unwrap();
    agent.await.unwrap();

    let results = server.requests("/actions/41/result");
    assert_eq!(results.len(), 1, "{results:?}");
    let body: Value = serde_json::from_str(&results[0].body).unwrap();
    assert_eq!(body["failure"], "not_whitelisted");
    assert_eq!(body["exit_code"], Value::Null);
    let stderr = body["stderr"].as_str().unwrap();
    assert!(
        stderr.contains("unknown action type `reboot_into_rescue`"),
        "{stderr}"
    );
}

#[test]
fn a_claim_is_read_leniently_enough_to_keep_its_id() {
    let cases = [
        (
            r#"{"id": 3, "action_type": "apt_update", "argv": ["apt-get", "update"], "timeout_s": 120}"#,
            "run",
        ),
        (
            r#"{"id": 3, "action_type": "apt_dist_upgrade", "argv": [], "timeout_s": 1}"#,
            "unknown action type",
        ),
        (
            r#"{"id": 3, "action_type": "apt_update", "argv": "apt-get update", "timeout_s": 1}"#,
            "could not be read",
        ),
        (r#"{"id": 3, "action_type": 7}"#, "could not be read"),
    ];
    for (body, expected) in cases {
        match homelab_agent::client::parse_claim(body.as_bytes()).unwrap() {
            Claim::Run(a) => assert_eq!((a.id.get(), expected), (3, "run")),
            Claim::Unreadable { id, reason } => {
                assert_eq!(id, 3);
                assert!(reason.contains(expected), "{reason}");
            }
        }
    }
    for bad in [
        "",
        "{",
        r#"{"action_type": "apt_update"}"#,
        r#"{"id": "3"}"#,
        "[]",
    ] {
        assert!(
            homelab_agent::client::parse_claim(bad.as_bytes()).is_err(),
            "{bad}"
        );
    }
}

/// A hub that hands out action 7 once, then idles; progress answered `progress`.
async fn hub_with_one_action(progress: u16) -> TestServer {
    let claimed = Arc::new(AtomicUsize::new(0));
    TestServer::start(move |req| {
        if req.path.contains("/next") {
            if claimed.fetch_add(1, Ordering::SeqCst) == 0 {
                Answer::Body(200, apt_update(7))
            } else {
                Answer::NoContent
            }
        } else if req.path.contains("/progress") {
            Answer::Body(
                progress,
                r#"{"code": "CONFLICT", "message": "not executing"}"#.into(),
            )
        } else {
            Answer::Body(200, r#"{"ok": true}"#.into())
        }
    })
    .await
}

#[tokio::test]
async fn a_running_action_keeps_its_lease_through_lock_retries() {
    let server = hub_with_one_action(200).await;
    let state = tempfile::tempdir().unwrap();
    // The lock is held on the first two attempts, then apt succeeds.
    let count = state.path().join("attempts");
    let fake = fake_program(
        "apt-get",
        &format!(
            "echo x >> {c}\nif [ $(wc -l < {c}) -le 2 ]; then\n  echo 'E: Could not get lock /var/lib/dpkg/lock-frontend' >&2; exit 100\nfi\nsleep 0.5; echo upgraded",
            c = count.display()
        ),
    );
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let agent = tokio::spawn(
        action_loop(
            &server.url,
            state.path(),
            fake.path(),
            Duration::from_millis(100),
        )
        .run(stop_rx),
    );
    server
        .wait_for("the result", |seen| {
            seen.iter().any(|s| s.path.contains("/7/result"))
        })
        .await;
    stop.send(true).unwrap();
    agent.await.unwrap();

    let body: Value = serde_json::from_str(&server.requests("/7/result")[0].body).unwrap();
    assert_eq!(body["exit_code"], 0, "{body}");
    assert!(body["stdout"].as_str().unwrap().contains("upgraded"));
    let progress = server.requests("/actions/7/progress");
    assert!(progress.len() >= 2, "{progress:?}");
    assert!(progress.iter().all(|p| p.method == "POST"
        && serde_json::from_str::<homelab_protocol::Progress>(&p.body).is_ok()));
}

#[tokio::test]
async fn output_reaches_the_server_while_the_command_runs_at_most_about_once_a_second() {
    let server = hub_with_one_action(200).await;
    let state = tempfile::tempdir().unwrap();
    let fake = fake_program(
        "apt-get",
        "echo 'Get:1 first'; echo 'W: warned' >&2; sleep 2.5; echo 'Get:2 second'; sleep 1.5; echo done",
    );
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    // Leases are renewed rarely here: every progress call below is one with output.
    let agent = tokio::spawn(
        action_loop(
            &server.url,
            state.path(),
            fake.path(),
            Duration::from_secs(60),
        )
        .run(stop_rx),
    );
    server
        .wait_for("the result", |seen| {
            seen.iter().any(|s| s.path.contains("/7/result"))
        })
        .await;
    stop.send(true).unwrap();
    agent.await.unwrap();

    let seen = server.seen.lock().unwrap().clone();
    let result_at = seen
        .iter()
        .position(|s| s.path.contains("/7/result"))
        .unwrap();
    let chunks: Vec<homelab_protocol::Progress> = seen[..result_at]
        .iter()
        .filter(|s| s.path.contains("/7/progress"))
        .map(|s| serde_json::from_str(&s.body).unwrap())
        .collect();
    assert!(chunks.iter().all(|c| !c.is_empty()), "{chunks:?}");
    // The first line was sent on its own, while the command slept.
    assert_eq!(chunks[0].stdout, "Get:1 first\n", "{chunks:?}");
    assert_eq!(chunks[0].stderr, "W: warned\n", "{chunks:?}");
    let streamed: String = chunks.iter().map(|c| c.stdout.as_str()).collect();
    assert!(
        streamed.starts_with("Get:1 first\nGet:2 second\n"),
        "{streamed:?}"
    );
    // About once a second at most: 4 s of running, never a burst.
    assert!(chunks.len() <= 5, "{chunks:?}");
}

#[tokio::test]
async fn a_refused_progress_call_is_not_repeated_and_the_action_runs_on() {
    let server = hub_with_one_action(409).await;
    let state = tempfile::tempdir().unwrap();
    let fake = fake_program("apt-get", "sleep 1; echo done");
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let agent = tokio::spawn(
        action_loop(
            &server.url,
            state.path(),
            fake.path(),
            Duration::from_millis(50),
        )
        .run(stop_rx),
    );
    server
        .wait_for("the result", |seen| {
            seen.iter().any(|s| s.path.contains("/7/result"))
        })
        .await;
    stop.send(true).unwrap();
    agent.await.unwrap();
    assert_eq!(server.requests("/progress").len(), 1);
    let body: Value = serde_json::from_str(&server.requests("/7/result")[0].body).unwrap();
    assert_eq!(
        (body["exit_code"].as_i64(), body["stdout"].as_str()),
        (Some(0), Some("done\n"))
    );
}

#[tokio::test]
async fn a_stop_lets_the_running_action_finish_and_report_and_claims_nothing_more() {
    let server = hub_with_one_action(200).await;
    let state = tempfile::tempdir().unwrap();
    let pid_file = state.path().join("apt.pid");
    let fake = fake_program(
        "apt-get",
        &format!("echo $$ > {}\nsleep 2\necho finished", pid_file.display()),
    );
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let agent = tokio::spawn(
        action_loop(
            &server.url,
            state.path(),
            fake.path(),
            Duration::from_secs(30),
        )
        .run(stop_rx),
    );
    for _ in 0..600 {
        if std::fs::read_to_string(&pid_file).is_ok_and(|s| s.ends_with('\n')) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The command's process group is on disk while it runs, for a restarted agent.
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        State::open(state.path()).unwrap().interrupted_group(),
        Some(pid)
    );

    stop.send(true).unwrap();
    let polls_at_stop = server.requests("/next").len();
    tokio::time::timeout(Duration::from_secs(60), agent)
        .await
        .expect("the loop ends once the action is done")
        .unwrap();

    let body: Value = serde_json::from_str(&server.requests("/7/result")[0].body).unwrap();
    assert_eq!(body["exit_code"], 0, "{body}");
    assert_eq!(body["stdout"], "finished\n");
    assert_eq!(
        server.requests("/next").len(),
        polls_at_stop,
        "no claim after the stop"
    );
    assert_eq!(State::open(state.path()).unwrap().interrupted_group(), None);
}

#[tokio::test]
async fn after_a_crash_nothing_runs_while_the_old_command_lives() {
    let server = hub_with_one_action(200).await;
    let state_dir = tempfile::tempdir().unwrap();
    // What a killed agent leaves: action 5 marked running, its command still alive in
    // its own process group.
    let mut old = std::process::Command::new("sleep")
        .arg("600")
        .process_group(0)
        .spawn()
        .unwrap();
    let state = State::open(state_dir.path()).unwrap();
    state
        .mark_running(&homelab_protocol::NextAction::run(
            homelab_protocol::ActionId::new(5),
            homelab_protocol::ActionType::AptUpgradeAll,
            vec![],
            600,
        ))
        .unwrap();
    state.mark_group(old.id() as i32).unwrap();
    let marker = state_dir.path().join("ran");
    let fake = fake_program("apt-get", &format!("touch {}", marker.display()));

    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let agent = tokio::spawn(
        action_loop(
            &server.url,
            state_dir.path(),
            fake.path(),
            Duration::from_secs(30),
        )
        .run(stop_rx),
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        server.seen.lock().unwrap().is_empty(),
        "nothing claimed or reported yet"
    );
    assert!(!marker.exists());

    old.kill().unwrap();
    old.wait().unwrap();
    server
        .wait_for("action 7 to run", |seen| {
            seen.iter().any(|s| s.path.contains("/7/result"))
        })
        .await;
    stop.send(true).unwrap();
    agent.await.unwrap();

    let seen = server.seen.lock().unwrap().clone();
    let at = |part: &str| seen.iter().position(|s| s.path.contains(part)).unwrap();
    assert!(at("/5/result") < at("/next"), "{seen:?}");
    let body: Value = serde_json::from_str(&seen[at("/5/result")].body).unwrap();
    assert_eq!(body["failure"], "interrupted");
    assert!(
        marker.exists(),
        "the next action ran once the old one was gone"
    );
}
