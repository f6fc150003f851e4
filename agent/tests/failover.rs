//! Several replicas: the agent names a list of servers, sticks to the one that
//! answers, and moves to the next at once when it stops answering: connection
//! refused, a long-poll dropped mid-wait, a proxy's 502/503/504. A real answer of a
//! server (401, 404, 409...) is never a reason to move. Real HTTP on local ports, the
//! real client, real processes for the commands.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use homelab_agent::client::{Claim, Client, ClientError};
use homelab_protocol::{ActionResult, Heartbeat, Metrics};
use serde_json::Value;
use support::{
    Answer, Logs, Seen, TestServer, action_loop_with, apt_update, config_for, fake_program,
};

/// The warning the client writes once per switch.
const SWITCHED: &str = "moved to the next one";
/// The warning the action loop writes before its first backoff pause.
const BACKED_OFF: &str = "cannot ask the server for actions";

/// A replica that idles on the long-poll and acknowledges everything else.
fn idle_replica(req: &Seen) -> Answer {
    if req.path.contains("/next") {
        Answer::NoContent
    } else if req.path.contains("/heartbeat") {
        Answer::Body(200, r#"{"heartbeat_interval_s": 60}"#.into())
    } else {
        Answer::Body(200, r#"{"ok": true}"#.into())
    }
}

/// A replica that hands out `action` on its first long-poll, then idles.
async fn replica_with_action(action: String) -> TestServer {
    let claimed = Arc::new(AtomicUsize::new(0));
    TestServer::start(move |req| {
        if req.path.contains("/next") && claimed.fetch_add(1, Ordering::SeqCst) == 0 {
            Answer::Body(200, action.clone())
        } else {
            idle_replica(req)
        }
    })
    .await
}

/// An address nothing listens on.
async fn dead_server() -> TestServer {
    let mut server = TestServer::start(|_| Answer::NoContent).await;
    server.stop().await;
    server
}

fn heartbeat() -> Heartbeat {
    Heartbeat {
        boot_id: None,
        agent_version: "test".into(),
        os: "Debian GNU/Linux 12 (bookworm)".into(),
        hostname: None,
        metrics: Metrics {
            cpu_percent: 1.0,
            memory_percent: 2.0,
            disk_percent: 3.0,
            load_1: 0.0,
            load_5: 0.0,
            load_15: 0.0,
            uptime_s: 60,
        },
        reboot_required: false,
        reboot_required_pkgs: vec![],
        packages: None,
    }
}

fn result() -> ActionResult {
    ActionResult {
        exit_code: Some(0),
        failure: None,
        stdout: "ok\n".into(),
        stderr: String::new(),
        started_at: Some(1),
        finished_at: Some(2),
    }
}

/// Waits until `path` exists (the fake command got that far).
async fn wait_for_file(path: &std::path::Path) {
    for _ in 0..600 {
        if path.exists() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{} never appeared", path.display());
}

#[tokio::test]
async fn a_result_is_delivered_through_the_next_replica_when_the_first_dies_and_the_agent_stays_there()
 {
    let logs = Logs::capture();
    let mut a = replica_with_action(apt_update(7)).await;
    let b = TestServer::start(idle_replica).await;
    let state = tempfile::tempdir().unwrap();
    let (started, go) = (state.path().join("started"), state.path().join("go"));
    // The command runs until the test has stopped replica A.
    let fake = fake_program(
        "apt-get",
        &format!(
            "touch {}\nwhile [ ! -e {} ]; do sleep 0.05; done\necho upgraded",
            started.display(),
            go.display()
        ),
    );
    let client = Client::new(&config_for(&[&a.url, &b.url], state.path())).unwrap();
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let agent = tokio::spawn(
        action_loop_with(
            client.clone(),
            state.path(),
            fake.path(),
            Duration::from_secs(60),
        )
        .run(stop_rx),
    );

    wait_for_file(&started).await;
    a.stop().await;
    std::fs::write(&go, "").unwrap();
    b.wait_for("the result, then three long-polls", |seen| {
        seen.iter().any(|s| s.path.contains("/7/result"))
            && seen.iter().filter(|s| s.path.contains("/next")).count() >= 3
    })
    .await;

    // A comes back on its port: a sticky agent does not return to it while B answers.
    let a_again = TestServer::start_at(&a.addr.to_string(), idle_replica).await;
    client.heartbeat(&heartbeat()).await.unwrap();
    let polls = b.requests("/next").len();
    b.wait_for("two more long-polls", |seen| {
        seen.iter().filter(|s| s.path.contains("/next")).count() >= polls + 2
    })
    .await;
    stop.send(true).unwrap();
    agent.await.unwrap();

    let on_a: Vec<String> = a
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.path.clone())
        .collect();
    assert_eq!(
        on_a,
        ["/agent/v1/actions/next?wait=25"],
        "A handed out 7, then died"
    );
    let on_b = b.seen.lock().unwrap().clone();
    let delivered = b.requests("/7/result");
    assert!(
        on_b.iter()
            .filter(|s| s.path.contains("/next"))
            .all(|s| s.seq > delivered[0].seq),
        "the result before any long-poll: {on_b:?}"
    );
    let body: Value = serde_json::from_str(&delivered[0].body).unwrap();
    assert_eq!(
        (body["exit_code"].as_i64(), body["stdout"].as_str()),
        (Some(0), Some("upgraded\n"))
    );
    assert_eq!(delivered.len(), 1, "delivered once");
    assert_eq!(b.requests("/heartbeat").len(), 1, "the heartbeat went to B");
    assert!(
        a_again.seen.lock().unwrap().is_empty(),
        "no call tried A again: {:?}",
        a_again.seen.lock().unwrap()
    );
    assert_eq!(client.current_server(), b.url);
    let switches = logs.lines_with(SWITCHED);
    assert_eq!(switches.len(), 1, "one warning per switch: {}", logs.text());
    assert!(
        switches[0].contains(&format!("from={}", a.url))
            && switches[0].contains(&format!("to={}", b.url))
            && switches[0].to_lowercase().contains("connection refused"),
        "{}",
        switches[0]
    );
}

#[tokio::test]
async fn a_long_poll_dropped_mid_wait_is_asked_again_of_the_next_replica_in_the_same_call() {
    let mut a = TestServer::start(|_| Answer::Hold).await;
    let b = replica_with_action(apt_update(9)).await;
    let dir = tempfile::tempdir().unwrap();
    let client = Client::new(&config_for(&[&a.url, &b.url], dir.path())).unwrap();
    let poll = tokio::spawn({
        let client = client.clone();
        async move { client.next_action(Duration::from_secs(25)).await }
    });
    a.wait_for("the long-poll to wait on A", |seen| !seen.is_empty())
        .await;
    assert!(
        b.seen.lock().unwrap().is_empty(),
        "B is not asked while A waits"
    );
    a.stop().await;

    // One call, one answer: B's claim. No error ever reached the caller, so there was
    // nothing to back off from.
    let claim = poll.await.unwrap().unwrap();
    assert!(
        matches!(&claim, Some(Claim::Run(action)) if action.id.get() == 9),
        "{claim:?}"
    );
    let (on_a, on_b) = (a.requests("/next"), b.requests("/next"));
    assert_eq!((on_a.len(), on_b.len()), (1, 1));
    assert!(on_a[0].seq < on_b[0].seq, "A first, then B");
    assert_eq!(client.current_server(), b.url);
}

#[tokio::test]
async fn the_action_loop_moves_on_from_a_replica_stopped_mid_long_poll_without_backing_off() {
    let logs = Logs::capture();
    let mut a = TestServer::start(|_| Answer::Hold).await;
    let b = replica_with_action(apt_update(9)).await;
    let state = tempfile::tempdir().unwrap();
    let fake = fake_program("apt-get", "echo fetched");
    let client = Client::new(&config_for(&[&a.url, &b.url], state.path())).unwrap();
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let agent = tokio::spawn(
        action_loop_with(client, state.path(), fake.path(), Duration::from_secs(60)).run(stop_rx),
    );
    a.wait_for("the long-poll to wait on A", |seen| !seen.is_empty())
        .await;
    a.stop().await;
    b.wait_for("the result of 9 and the next long-poll", |seen| {
        seen.iter().any(|s| s.path.contains("/9/result"))
            && seen.iter().filter(|s| s.path.contains("/next")).count() >= 2
    })
    .await;
    stop.send(true).unwrap();
    agent.await.unwrap();

    let seen_b = b.seen.lock().unwrap().clone();
    let order: Vec<&str> = seen_b.iter().take(3).map(|s| s.path.as_str()).collect();
    assert!(
        order[0].contains("/next") && order[1].ends_with("/9/result") && order[2].contains("/next"),
        "{order:?}"
    );
    assert!(a.requests("/next")[0].seq < seen_b[0].seq);
    // The loop logs this before every first backoff pause: it never paused.
    assert!(logs.lines_with(BACKED_OFF).is_empty(), "{}", logs.text());
    assert_eq!(logs.lines_with(SWITCHED).len(), 1, "{}", logs.text());
}

#[tokio::test]
async fn answers_of_the_server_itself_are_not_reasons_to_move() {
    let logs = Logs::capture();
    let dir = tempfile::tempdir().unwrap();
    for status in [401u16, 403, 404, 409, 422] {
        let a = TestServer::start(move |_| {
            Answer::Body(status, r#"{"code": "X", "message": "no"}"#.into())
        })
        .await;
        let b = TestServer::start(idle_replica).await;
        let client = Client::new(&config_for(&[&a.url, &b.url], dir.path())).unwrap();

        let next = client
            .next_action(Duration::from_secs(1))
            .await
            .unwrap_err();
        let sent = client.report_result(5, &result()).await.unwrap_err();
        let beat = client.heartbeat(&heartbeat()).await.unwrap_err();
        for err in [&next, &sent, &beat] {
            assert!(!err.is_failover(), "{status}: {err}");
            match err {
                ClientError::Unauthorized => assert_eq!(status, 401),
                ClientError::Refused { status: s, .. } => assert_eq!(s.as_u16(), status),
                other => panic!("{status}: {other}"),
            }
        }
        assert_eq!(a.seen.lock().unwrap().len(), 3, "{status}");
        assert!(b.seen.lock().unwrap().is_empty(), "{status}: B never asked");
        assert_eq!(client.current_server(), a.url);
    }
    // 200 and 204 are answers too.
    let a = TestServer::start(idle_replica).await;
    let b = TestServer::start(idle_replica).await;
    let client = Client::new(&config_for(&[&a.url, &b.url], dir.path())).unwrap();
    assert_eq!(
        client.next_action(Duration::from_secs(1)).await.unwrap(),
        None
    );
    client.report_result(5, &result()).await.unwrap();
    assert!(b.seen.lock().unwrap().is_empty());
    assert!(logs.lines_with(SWITCHED).is_empty(), "{}", logs.text());
}

#[tokio::test]
async fn a_proxys_502_503_or_504_moves_on_and_the_next_replica_stays_current() {
    let dir = tempfile::tempdir().unwrap();
    for status in [502u16, 503, 504] {
        let a = TestServer::start(move |_| Answer::Body(status, "<html>bad gateway</html>".into()))
            .await;
        let b = TestServer::start(idle_replica).await;
        let client = Client::new(&config_for(&[&a.url, &b.url], dir.path())).unwrap();
        client.report_result(5, &result()).await.unwrap();
        client
            .progress(5, &homelab_protocol::Progress::default())
            .await
            .unwrap();
        assert_eq!(a.seen.lock().unwrap().len(), 1, "{status}: asked once");
        assert_eq!(
            (
                b.requests("/5/result").len(),
                b.requests("/5/progress").len()
            ),
            (1, 1),
            "{status}"
        );
        assert_eq!(client.current_server(), b.url);
    }
}

#[tokio::test]
async fn with_every_replica_down_a_call_goes_once_around_the_list_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        TestServer::start(|_| Answer::Body(503, String::new())).await,
        dead_server().await,
        TestServer::start(|_| Answer::Body(502, String::new())).await,
    );
    let client = Client::new(&config_for(&[&a.url, &b.url, &c.url], dir.path())).unwrap();
    let err = client.report_result(5, &result()).await.unwrap_err();
    assert!(err.is_failover() && !err.is_final(), "{err}");
    assert!(
        err.to_string().contains("502"),
        "the last one's error: {err}"
    );
    assert_eq!(
        (a.seen.lock().unwrap().len(), c.seen.lock().unwrap().len()),
        (1, 1)
    );
    assert_eq!(
        client.current_server(),
        a.url,
        "nothing answered: no switch"
    );

    // The next call starts over from the current one: once around again.
    client.heartbeat(&heartbeat()).await.unwrap_err();
    assert_eq!(
        (a.seen.lock().unwrap().len(), c.seen.lock().unwrap().len()),
        (2, 2)
    );
}

#[tokio::test]
async fn calls_failing_over_together_switch_once_and_log_it_once() {
    let logs = Logs::capture();
    let dir = tempfile::tempdir().unwrap();
    let a = dead_server().await;
    let b = TestServer::start(idle_replica).await;
    let client = Client::new(&config_for(&[&a.url, &b.url], dir.path())).unwrap();
    let (clone, hb, done) = (client.clone(), heartbeat(), result());
    let (beat, sent, poll) = tokio::join!(
        clone.heartbeat(&hb),
        client.report_result(5, &done),
        client.next_action(Duration::from_secs(1)),
    );
    beat.unwrap();
    sent.unwrap();
    poll.unwrap();
    assert_eq!(b.seen.lock().unwrap().len(), 3);
    assert_eq!(logs.lines_with(SWITCHED).len(), 1, "{}", logs.text());
    assert_eq!(
        clone.current_server(),
        b.url,
        "clones share the current server"
    );
}

#[tokio::test]
async fn the_binary_takes_a_comma_separated_list_from_its_environment_and_fails_over() {
    let a = dead_server().await;
    let b = TestServer::start(idle_replica).await;
    let state = tempfile::tempdir().unwrap();
    let token = state.path().join("token");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(&token, "hca_test\n").unwrap();
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let mut agent = tokio::process::Command::new(env!("CARGO_BIN_EXE_homelab-agent"))
        .env("HOMELAB_SERVER", format!("{}, {}/", a.url, b.url))
        .arg("--token-file")
        .arg(&token)
        .arg("--state-dir")
        .arg(state.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    b.wait_for("the agent's long-poll on B", |seen| {
        seen.iter().any(|s| s.path.contains("/next"))
    })
    .await;
    agent.kill().await.unwrap();
}
