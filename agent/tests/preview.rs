//! Know before you approve, in the agent's loop against a local hub: preview
//! requests are simulated and answered without running anything; an upgrade `auto`
//! approved is held when apt would remove packages, run when it would not, and not
//! run when the simulation fails. `apt-get` is a fake program that prints real
//! captured apt output and records every call; processes are real.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::Value;
use support::{Answer, TestServer, action_loop, fake_program};

const REMOVING: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/apt/bookworm-security-sim-removing.txt"
);
const NOT_REMOVING: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/apt/bookworm-upgrade-sim-new-dependency.txt"
);

/// A fake apt-get that logs each call's arguments (one line per call) and prints
/// `fixture` when simulating (`-s` first), exits 0 otherwise.
fn fake_apt(fixture: &str) -> tempfile::TempDir {
    fake_program(
        "apt-get",
        &format!(
            "echo \"$*\" >> \"$(dirname \"$0\")/calls\"\n\
             if [ \"$1\" = -s ]; then cat '{fixture}'; fi"
        ),
    )
}

fn calls(dir: &tempfile::TempDir) -> Vec<String> {
    std::fs::read_to_string(dir.path().join("calls"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A hub that hands out `claim` once, then nothing, and acknowledges every report.
async fn hub_with(claim: String) -> TestServer {
    let handed = Arc::new(AtomicUsize::new(0));
    TestServer::start(move |req| {
        if req.path.contains("/next") {
            if handed.fetch_add(1, Ordering::SeqCst) == 0 {
                Answer::Body(200, claim.clone())
            } else {
                Answer::NoContent
            }
        } else {
            Answer::Body(200, r#"{"ok": true}"#.into())
        }
    })
    .await
}

/// Runs the loop until `done` holds for what the hub saw, then stops it; returns
/// the agent's state directory.
async fn run_until(
    server: &TestServer,
    path: &tempfile::TempDir,
    what: &str,
    done: impl Fn(&[support::Seen]) -> bool,
) -> tempfile::TempDir {
    let state = tempfile::tempdir().unwrap();
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
    server.wait_for(what, done).await;
    stop.send(true).unwrap();
    agent.await.unwrap();
    state
}

const SECURITY_ARGV: &str = r#"["apt-get", "install", "--only-upgrade", "-y", "--", "hl-remover=1.0-1+deb12u1", "hl-openssl=3.0.1-1+deb12u1"]"#;

#[tokio::test]
async fn a_preview_request_is_simulated_and_answered_and_nothing_runs() {
    let apt = fake_apt(REMOVING);
    let server = hub_with(format!(
        r#"{{"id": 7, "action_type": "apt_upgrade_security", "argv": [], "timeout_s": 600,
            "mode": "preview", "preview_argv": {SECURITY_ARGV}}}"#
    ))
    .await;
    run_until(&server, &apt, "the preview", |seen| {
        seen.iter().any(|s| s.path.ends_with("/actions/7/preview"))
            && seen.iter().filter(|s| s.path.contains("/next")).count() >= 2
    })
    .await;
    assert_eq!(
        calls(&apt),
        ["-s install --only-upgrade -y -- hl-remover=1.0-1+deb12u1 hl-openssl=3.0.1-1+deb12u1"]
    );
    let preview: Value =
        serde_json::from_str(&server.requests("/actions/7/preview")[0].body).unwrap();
    assert_eq!(
        preview["simulated"]["removed"],
        serde_json::json!([{"name": "hl-victim", "version": "1.0-1"}])
    );
    // Not claimed, so no result and no hold.
    assert!(server.requests("/actions/7/result").is_empty());
    assert!(server.requests("/actions/7/hold").is_empty());
}

#[tokio::test]
async fn an_auto_approved_upgrade_that_would_remove_packages_is_held_not_run() {
    let apt = fake_apt(REMOVING);
    let server = hub_with(format!(
        r#"{{"id": 8, "action_type": "apt_upgrade_security", "argv": {SECURITY_ARGV},
            "timeout_s": 600, "hold_if_removing": true}}"#
    ))
    .await;
    let state = run_until(&server, &apt, "the hold", |seen| {
        seen.iter().any(|s| s.path.ends_with("/actions/8/hold"))
            && seen.iter().filter(|s| s.path.contains("/next")).count() >= 2
    })
    .await;
    // Nothing ran and nothing is left to report after a restart.
    let state = homelab_agent::state::State::open(state.path()).unwrap();
    assert_eq!(state.recover_interrupted().unwrap(), None);
    assert!(state.pending_results().unwrap().is_empty());
    // Only the simulation ran.
    assert_eq!(calls(&apt).len(), 1, "{:?}", calls(&apt));
    assert!(calls(&apt)[0].starts_with("-s "));
    let hold: Value = serde_json::from_str(&server.requests("/actions/8/hold")[0].body).unwrap();
    assert_eq!(hold["removed"][0]["name"], "hl-victim");
    assert!(server.requests("/actions/8/result").is_empty());
}

#[tokio::test]
async fn an_auto_approved_upgrade_that_removes_nothing_runs_after_its_check() {
    let apt = fake_apt(NOT_REMOVING);
    let server = hub_with(
        r#"{"id": 9, "action_type": "apt_upgrade_all", "argv": ["apt-get", "upgrade", "--with-new-pkgs", "-y"],
            "timeout_s": 600, "hold_if_removing": true}"#
            .to_owned(),
    )
    .await;
    run_until(&server, &apt, "the result", |seen| {
        seen.iter().any(|s| s.path.ends_with("/actions/9/result"))
    })
    .await;
    let calls = calls(&apt);
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0], "-s upgrade --with-new-pkgs -y");
    assert!(
        calls[1].ends_with("upgrade --with-new-pkgs -y") && !calls[1].contains("-s "),
        "{calls:?}"
    );
    assert_eq!(server.requests("/actions/9/preview").len(), 1);
    assert!(server.requests("/actions/9/hold").is_empty());
    let result: Value =
        serde_json::from_str(&server.requests("/actions/9/result")[0].body).unwrap();
    assert_eq!(result["exit_code"], 0);
}

#[tokio::test]
async fn a_failed_simulation_before_an_automatic_run_runs_nothing_and_says_why() {
    let apt = fake_program(
        "apt-get",
        "echo \"$*\" >> \"$(dirname \"$0\")/calls\"\n\
         echo 'E: The package lists or status file could not be parsed or opened.' >&2; exit 100",
    );
    let server = hub_with(
        r#"{"id": 10, "action_type": "apt_upgrade_all", "argv": ["apt-get", "upgrade", "--with-new-pkgs", "-y"],
            "timeout_s": 600, "hold_if_removing": true}"#
            .to_owned(),
    )
    .await;
    run_until(&server, &apt, "the result", |seen| {
        seen.iter().any(|s| s.path.ends_with("/actions/10/result"))
    })
    .await;
    assert_eq!(calls(&apt), ["-s upgrade --with-new-pkgs -y"]);
    let result: Value =
        serde_json::from_str(&server.requests("/actions/10/result")[0].body).unwrap();
    assert_eq!(result["exit_code"], 100);
    let stderr = result["stderr"].as_str().unwrap();
    assert!(stderr.starts_with("not run:"), "{stderr}");
    assert!(stderr.contains("could not be parsed"), "{stderr}");
}

#[tokio::test]
async fn a_preview_of_a_non_upgrade_or_a_refused_command_is_answered_with_why_and_never_run() {
    let apt = fake_apt(REMOVING);
    let server = hub_with(
        r#"{"id": 11, "action_type": "apt_upgrade_all", "argv": [], "timeout_s": 600,
            "mode": "preview", "preview_argv": ["apt-get", "dist-upgrade", "-y"]}"#
            .to_owned(),
    )
    .await;
    run_until(&server, &apt, "the answer", |seen| {
        seen.iter().any(|s| s.path.ends_with("/actions/11/preview"))
    })
    .await;
    assert!(calls(&apt).is_empty(), "{:?}", calls(&apt));
    let answer: Value =
        serde_json::from_str(&server.requests("/actions/11/preview")[0].body).unwrap();
    let message = answer["failed"]["message"].as_str().unwrap();
    assert!(
        message.contains("does not match the whitelist"),
        "{message}"
    );

    let server = hub_with(
        r#"{"id": 12, "action_type": "restart_service", "argv": [], "timeout_s": 60,
            "mode": "preview", "preview_argv": ["systemctl", "restart", "nginx.service"]}"#
            .to_owned(),
    )
    .await;
    run_until(&server, &apt, "the answer", |seen| {
        seen.iter().any(|s| s.path.ends_with("/actions/12/preview"))
    })
    .await;
    let answer: Value =
        serde_json::from_str(&server.requests("/actions/12/preview")[0].body).unwrap();
    let message = answer["failed"]["message"].as_str().unwrap();
    assert!(message.contains("cannot be previewed"), "{message}");
    assert!(calls(&apt).is_empty());
}
