//! The remediation engine over HTTP: creation, commands, approval, the status
//! machine, duplicates under concurrency, dispatch, results, leases and history.

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

/// A heartbeat that reports these packages (name, security version, held).
async fn report_packages(app: &TestApp, token: &str, packages: &[(&str, Option<&str>, bool)]) {
    let packages: Vec<Value> = packages
        .iter()
        .map(|(name, security, held)| {
            json!({"name": name, "current_version": "1.0-1", "new_version": "2.0-1",
                   "repository": "bookworm-updates", "is_security": security.is_some(),
                   "security_version": security, "held": held, "kept_back": false})
        })
        .collect();
    let hb = json!({"agent_version": "t", "os": "Debian", "reboot_required": false,
        "metrics": {"cpu_percent": 0, "memory_percent": 0, "disk_percent": 0,
                    "load_1": 0, "load_5": 0, "load_15": 0, "uptime_s": 0},
        "packages": packages});
    let (status, body) = app.post_json("/agent/v1/heartbeat", Some(token), &hb).await;
    assert_eq!(status, 200, "{body}");
}

async fn create(app: &TestApp, server: &str, body: Value) -> (u16, Value) {
    app.api_post(&format!("/api/v1/servers/{server}/actions"), &body)
        .await
}

async fn create_ok(app: &TestApp, server: &str, action_type: &str) -> Value {
    let (status, body) = create(app, server, json!({"action_type": action_type})).await;
    assert_eq!(status, 201, "{body}");
    body
}

async fn action(app: &TestApp, id: &Value) -> Value {
    let (status, body) = app.api_get(&format!("/api/v1/actions/{id}")).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn report(
    app: &TestApp,
    token: &str,
    id: &Value,
    exit_code: Option<i32>,
    failure: Option<&str>,
) -> u16 {
    let body = json!({"exit_code": exit_code, "failure": failure, "stdout": "out", "stderr": "",
                      "started_at": 1, "finished_at": 2});
    app.post_json(
        &format!("/agent/v1/actions/{id}/result"),
        Some(token),
        &body,
    )
    .await
    .0
}

async fn pause(app: &TestApp, server: &str, paused: bool) {
    let (status, body) = app
        .api_put(
            &format!("/api/v1/servers/{server}/maintenance"),
            &json!({"paused": paused}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn each_apt_type_builds_its_command_with_its_timeout() {
    let app = spawn_app().await;
    let token = app.add_server("nas", "NAS").await;
    report_packages(
        &app,
        &token,
        &[
            ("openssl", Some("3.0.15-1~deb12u1"), false),
            ("tzdata", Some("2024a-0+deb12u1"), false),
            ("curl", None, false),
            ("libc6", Some("2.36-9+deb12u9"), true), // held: never touched
        ],
    )
    .await;
    let cases = [
        ("apt_update", json!(["apt-get", "update"]), 120),
        (
            "apt_upgrade_all",
            json!(["apt-get", "upgrade", "--with-new-pkgs", "-y"]),
            600,
        ),
        (
            "apt_upgrade_security",
            json!([
                "apt-get",
                "install",
                "--only-upgrade",
                "-y",
                "--",
                "openssl=3.0.15-1~deb12u1",
                "tzdata=2024a-0+deb12u1"
            ]),
            600,
        ),
    ];
    for (action_type, argv, timeout) in cases {
        let created = create_ok(&app, "nas", action_type).await;
        assert_eq!(created["argv"], argv, "{action_type}");
        assert_eq!(created["timeout_s"], timeout, "{action_type}");
        assert_eq!(created["status"], "approved");
        assert_eq!(created["approved_by"], "auto");
        assert_eq!(created["created_by"], "api:tests");
        // Free the apt slot for the next type.
        let (status, _) = app
            .api_post(
                &format!("/api/v1/actions/{}/cancel", created["id"]),
                &json!({}),
            )
            .await;
        assert_eq!(status, 200);
    }
}

#[tokio::test]
async fn restart_and_clear_logs_build_their_commands_and_refuse_bad_parameters() {
    let app = spawn_app().await;
    app.add_server("nas", "NAS").await;
    let (_, restart) = create(
        &app,
        "nas",
        json!({"action_type": "restart_service", "parameters": {"unit": "nginx"}}),
    )
    .await;
    // A bare name means the service unit.
    assert_eq!(
        restart["argv"],
        json!(["systemctl", "restart", "nginx.service"])
    );
    assert_eq!(restart["timeout_s"], 60);
    let (_, logs) = create(&app, "nas", json!({"action_type": "clear_logs"})).await;
    assert_eq!(logs["argv"], json!(["journalctl", "--vacuum-time=7d"]));
    assert_eq!(logs["parameters"], json!({"vacuum_time": "7d"}));

    for (body, field) in [
        (
            json!({"action_type": "restart_service", "parameters": {"unit": "nginx; reboot"}}),
            "parameters.unit",
        ),
        (json!({"action_type": "restart_service"}), "parameters.unit"),
        (
            json!({"action_type": "clear_logs", "parameters": {"vacuum_time": "forever"}}),
            "parameters.vacuum_time",
        ),
        (
            json!({"action_type": "apt_update", "parameters": {"extra": "-o x"}}),
            "parameters.extra",
        ),
        (json!({"action_type": "rm_rf"}), "action_type"),
    ] {
        let (status, answer) = create(&app, "nas", body.clone()).await;
        assert_eq!(status, 422, "{body}: {answer}");
        assert!(
            answer["message"].as_str().unwrap().contains(field),
            "{answer}"
        );
    }
    let (status, _) = create(&app, "ghost", json!({"action_type": "apt_update"})).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_security_upgrade_with_nothing_pending_completes_as_a_no_op() {
    let app = spawn_app().await;
    let token = app.add_server("nas", "NAS").await;
    report_packages(&app, &token, &[("curl", None, false)]).await;
    let created = create_ok(&app, "nas", "apt_upgrade_security").await;
    assert_eq!(created["status"], "completed");
    assert_eq!(created["argv"], json!([]));
    assert_eq!(created["exit_code"], 0);
    assert_eq!(created["stdout"], "No security packages to upgrade");
    assert!(
        app.agent_next(&token, 0).await.is_none(),
        "nothing reaches the agent"
    );
}

#[tokio::test]
async fn a_second_apt_action_is_a_conflict_naming_the_first() {
    let app = spawn_app().await;
    app.add_server("nas", "NAS").await;
    let first = create_ok(&app, "nas", "apt_update").await;
    for other in ["apt_update", "apt_upgrade_all", "apt_upgrade_security"] {
        let (status, body) = create(&app, "nas", json!({"action_type": other})).await;
        assert_eq!(status, 409, "{other}");
        assert_eq!(body["code"], "CONFLICT");
        assert_eq!(body["existing_action_id"], first["id"]);
    }
    // Other kinds of action are not held up.
    create_ok(&app, "nas", "clear_logs").await;
    let (_, history) = app.api_get("/api/v1/actions?server_id=nas").await;
    assert_eq!(history["actions"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn one_hundred_concurrent_requests_make_exactly_one_action() {
    let app = spawn_app().await;
    app.add_server("nas", "NAS").await;
    let requests = (0..100).map(|_| create(&app, "nas", json!({"action_type": "apt_upgrade_all"})));
    let answers = futures::future::join_all(requests).await;
    let created: Vec<_> = answers.iter().filter(|(s, _)| *s == 201).collect();
    let conflicts: Vec<_> = answers.iter().filter(|(s, _)| *s == 409).collect();
    assert_eq!((created.len(), conflicts.len()), (1, 99), "{answers:?}");
    let id = &created[0].1["id"];
    assert!(
        conflicts
            .iter()
            .all(|(_, b)| &b["existing_action_id"] == id)
    );
    let (_, history) = app.api_get("/api/v1/actions?server_id=nas").await;
    assert_eq!(history["actions"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn on_a_server_in_maintenance_actions_wait_for_a_person() {
    let app = spawn_app().await;
    let token = app.add_server("nas", "NAS").await;
    pause(&app, "nas", true).await;
    let created = create_ok(&app, "nas", "apt_upgrade_all").await;
    assert_eq!(created["status"], "pending");
    assert_eq!(created["approved_by"], Value::Null);
    assert!(
        app.agent_next(&token, 0).await.is_none(),
        "a pending action is not dispatched"
    );

    let (_, fleet) = app.api_get("/api/v1/servers").await;
    assert_eq!(fleet[0]["awaiting_approval"], 1);
    assert_eq!(fleet[0]["paused"], true);

    let (status, approved) = app
        .api_post(
            &format!("/api/v1/actions/{}/approve", created["id"]),
            &json!({}),
        )
        .await;
    assert_eq!(status, 200, "{approved}");
    assert_eq!(approved["status"], "approved");
    assert_eq!(approved["approved_by"], "api:tests");
    let next = app
        .agent_next(&token, 0)
        .await
        .expect("dispatched after approval");
    assert_eq!(next["id"], created["id"]);
    assert_eq!(next["timeout_s"], 600);
}

#[tokio::test]
async fn the_always_ask_policy_makes_every_action_wait() {
    let app = spawn_app().await;
    app.add_server("nas", "NAS").await;
    let (status, body) = app
        .api_put(
            "/api/v1/servers/nas/approval-policy",
            &json!({"approval_policy": "always_ask"}),
        )
        .await;
    assert_eq!(
        (status, &body["approval_policy"]),
        (200, &json!("always_ask"))
    );
    assert_eq!(
        create_ok(&app, "nas", "clear_logs").await["status"],
        "pending"
    );
}

#[tokio::test]
async fn rejecting_needs_a_reason_and_records_it() {
    let app = spawn_app().await;
    app.add_server("nas", "NAS").await;
    pause(&app, "nas", true).await;
    let created = create_ok(&app, "nas", "apt_update").await;
    let path = format!("/api/v1/actions/{}/reject", created["id"]);
    for reason in ["", "   ", &"x".repeat(1001)] {
        let (status, body) = app.api_post(&path, &json!({"reason": reason})).await;
        assert_eq!(status, 422, "{body}");
        assert!(
            body["message"].as_str().unwrap().starts_with("reason"),
            "{body}"
        );
    }
    assert_eq!(action(&app, &created["id"]).await["status"], "pending");
    let (status, rejected) = app
        .api_post(&path, &json!({"reason": "not during backups"}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(rejected["status"], "rejected");
    assert_eq!(rejected["reject_reason"], "not during backups");
    assert_eq!(rejected["rejected_by"], "api:tests");
    assert!(rejected["rejected_at_ms"].as_i64().is_some());
}

/// Puts a fresh action on server `nas` into `status` and returns its id.
async fn action_in(app: &TestApp, token: &str, status: &str) -> Value {
    pause(app, "nas", status == "pending").await;
    let created = create_ok(app, "nas", "apt_update").await;
    let id = created["id"].clone();
    match status {
        "pending" | "approved" => {}
        "executing" | "completed" | "failed" => {
            let next = app.agent_next(token, 0).await.expect("claimed");
            assert_eq!(next["id"], id);
            match status {
                "completed" => assert_eq!(report(app, token, &id, Some(0), None).await, 200),
                "failed" => assert_eq!(report(app, token, &id, Some(100), None).await, 200),
                _ => {}
            }
        }
        "rejected" => {
            unreachable!("set up through pending")
        }
        "cancelled" => {
            app.api_post(&format!("/api/v1/actions/{id}/cancel"), &json!({}))
                .await;
        }
        other => panic!("{other}"),
    }
    assert_eq!(action(app, &id).await["status"], status);
    id
}

#[tokio::test]
async fn every_status_and_operation_pair_follows_the_status_machine() {
    let app = spawn_app().await;
    let token = app.add_server("nas", "NAS").await;
    // (starting status, operation, the status it leads to, or None for 409)
    let table = [
        ("pending", "approve", Some("approved")),
        ("pending", "reject", Some("rejected")),
        ("pending", "cancel", Some("cancelled")),
        ("approved", "approve", None),
        ("approved", "reject", None),
        ("approved", "cancel", Some("cancelled")),
        ("executing", "approve", None),
        ("executing", "reject", None),
        ("executing", "cancel", None),
        ("completed", "approve", None),
        ("completed", "reject", None),
        ("completed", "cancel", None),
        ("failed", "approve", None),
        ("failed", "reject", None),
        ("failed", "cancel", None),
        ("cancelled", "approve", None),
        ("cancelled", "reject", None),
        ("cancelled", "cancel", None),
    ];
    for (from, op, to) in table {
        let id = action_in(&app, &token, from).await;
        let (status, body) = app
            .api_post(
                &format!("/api/v1/actions/{id}/{op}"),
                &json!({"reason": "because"}),
            )
            .await;
        match to {
            Some(to) => {
                assert_eq!(status, 200, "{from} {op}: {body}");
                assert_eq!(body["status"], to, "{from} {op}");
            }
            None => {
                assert_eq!(status, 409, "{from} {op}: {body}");
                let message = body["message"].as_str().unwrap();
                assert!(
                    message.contains(&format!("is {from}")),
                    "{from} {op}: {message}"
                );
                assert_eq!(action(&app, &id).await["status"], from, "unchanged");
            }
        }
        // Leave no apt action in flight for the next row.
        if let Some(status) = action(&app, &id).await["status"].as_str()
            && status == "executing"
        {
            report(&app, &token, &id, Some(0), None).await;
        } else {
            app.api_post(&format!("/api/v1/actions/{id}/cancel"), &json!({}))
                .await;
        }
    }
    // Rejected, reached from pending, refuses everything after.
    let id = action_in(&app, &token, "pending").await;
    app.api_post(
        &format!("/api/v1/actions/{id}/reject"),
        &json!({"reason": "no"}),
    )
    .await;
    for op in ["approve", "reject", "cancel"] {
        let (status, body) = app
            .api_post(
                &format!("/api/v1/actions/{id}/{op}"),
                &json!({"reason": "again"}),
            )
            .await;
        assert_eq!(status, 409, "rejected {op}: {body}");
    }
}

#[tokio::test]
async fn results_complete_the_action_once_and_repeats_change_nothing() {
    let app = spawn_app().await;
    let token = app.add_server("nas", "NAS").await;
    let created = create_ok(&app, "nas", "apt_update").await;
    app.agent_next(&token, 0).await.expect("claimed");
    let big = "x".repeat(100_000) + "THE END";
    let body = json!({"exit_code": 0, "failure": null, "stdout": big, "stderr": "warn",
                      "started_at": 1000, "finished_at": 5000});
    let path = format!("/agent/v1/actions/{}/result", created["id"]);
    assert_eq!(app.post_json(&path, Some(&token), &body).await.0, 200);
    let done = action(&app, &created["id"]).await;
    assert_eq!(done["status"], "completed");
    assert_eq!(done["exit_code"], 0);
    assert_eq!(done["started_at_ms"], 1000);
    assert_eq!(done["finished_at_ms"], 5000);
    let stdout = done["stdout"].as_str().unwrap();
    assert_eq!(stdout.len(), 64 * 1024, "a 64 KiB tail");
    assert!(stdout.ends_with("THE END"));

    let repeat = json!({"exit_code": 1, "failure": null, "stdout": "other", "stderr": "",
                        "started_at": 1, "finished_at": 2});
    assert_eq!(app.post_json(&path, Some(&token), &repeat).await.0, 200);
    assert_eq!(
        action(&app, &created["id"]).await,
        done,
        "a repeat changes nothing"
    );
}

#[tokio::test]
async fn failures_carry_their_reason() {
    let app = spawn_app().await;
    let token = app.add_server("nas", "NAS").await;
    for (exit_code, failure, expected) in [
        (Some(100), None, "exit_code"),
        (None, Some("timed_out"), "timed_out"),
        (None, Some("not_whitelisted"), "not_whitelisted"),
        (None, Some("interrupted"), "interrupted"),
        (None, Some("spawn_error"), "spawn_error"),
    ] {
        let created = create_ok(&app, "nas", "apt_upgrade_all").await;
        app.agent_next(&token, 0).await.expect("claimed");
        assert_eq!(
            report(&app, &token, &created["id"], exit_code, failure).await,
            200
        );
        let done = action(&app, &created["id"]).await;
        assert_eq!(
            (done["status"].as_str(), done["failure"].as_str()),
            (Some("failed"), Some(expected))
        );
        assert_eq!(
            done["timeout_s"], 600,
            "the 10-minute upgrade timeout is recorded"
        );
    }
}

#[tokio::test]
async fn a_waiting_agent_is_woken_by_an_approval() {
    let app = spawn_app().await;
    let token = app.add_server("nas", "NAS").await;
    pause(&app, "nas", true).await;
    let created = create_ok(&app, "nas", "apt_update").await;
    let waiting = app.agent_next(&token, 20);
    let approving = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        app.api_post(
            &format!("/api/v1/actions/{}/approve", created["id"]),
            &json!({}),
        )
        .await
    };
    let (next, (status, _)) = tokio::join!(waiting, approving);
    assert_eq!(status, 200);
    let next = next.expect("woken with the action, not a 204 after the wait");
    assert_eq!(next["id"], created["id"]);
    assert_eq!(next["argv"], json!(["apt-get", "update"]));
    assert_eq!(action(&app, &created["id"]).await["status"], "executing");
}

#[tokio::test]
async fn a_lost_agent_fails_the_action_and_frees_the_queue() {
    let app = spawn_app().await;
    let token = app.add_server("nas", "NAS").await;
    let created = create_ok(&app, "nas", "apt_update").await;
    app.agent_next(&token, 0).await.expect("claimed");
    let claimed = action(&app, &created["id"]).await;
    assert_eq!(claimed["status"], "executing");

    // The lease is the action's timeout (120 s) plus a minute of grace.
    let id = created["id"].as_i64().unwrap();
    let (started, lease): (i64, i64) =
        sqlx::query_as("SELECT started_at_ms, lease_expires_at_ms FROM actions WHERE id = $1")
            .bind(id)
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert_eq!(lease - started, 180_000);

    // Let it run out; the background job (every 100 ms in tests) fails the action.
    sqlx::query("UPDATE actions SET lease_expires_at_ms = 0 WHERE id = $1")
        .bind(id)
        .execute(app.db.pool())
        .await
        .unwrap();
    let mut lost = Value::Null;
    for _ in 0..50 {
        lost = action(&app, &created["id"]).await;
        if lost["status"] != "executing" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        (lost["status"].as_str(), lost["failure"].as_str()),
        (Some("failed"), Some("agent_lost"))
    );
    create_ok(&app, "nas", "apt_upgrade_all").await;
    // The agent was alive after all (a server outage outlasted the lease): its real
    // result wins, and the history says it came late.
    assert_eq!(
        report(&app, &token, &created["id"], Some(0), None).await,
        200
    );
    let late = action(&app, &created["id"]).await;
    assert_eq!(late["status"], "completed", "{late}");
    assert_eq!(late["failure"], Value::Null);
    assert!(late["lease_lost_at_ms"].is_i64(), "{late}");
    // A repeat of the same result changes nothing more.
    assert_eq!(
        report(&app, &token, &created["id"], Some(1), None).await,
        200
    );
    assert_eq!(action(&app, &created["id"]).await["status"], "completed");
    let (_, page) = app.get(&format!("/actions/{}", created["id"])).await;
    assert!(page.contains("arrived late"), "the action page says so");
}

/// POSTs a progress call for action `id` as the agent holding `token`.
async fn progress(app: &TestApp, token: &str, id: &Value) -> u16 {
    app.post_json(
        &format!("/agent/v1/actions/{id}/progress"),
        Some(token),
        &json!({}),
    )
    .await
    .0
}

#[tokio::test]
async fn a_running_agent_keeps_its_lease_alive_with_progress_calls() {
    let app = spawn_app().await;
    let token = app.add_server("nas", "NAS").await;
    let other = app.add_server("web", "Web").await;
    let created = create_ok(&app, "nas", "apt_update").await;
    let id = created["id"].as_i64().unwrap();
    // Not executing yet: nothing to keep alive.
    assert_eq!(progress(&app, &token, &created["id"]).await, 409);
    app.agent_next(&token, 0).await.expect("claimed");

    // The agent is past its timeout (dpkg lock retries); its lease is about to end.
    let soon = homelab_protocol::now_ms() + 300;
    sqlx::query("UPDATE actions SET lease_expires_at_ms = $2 WHERE id = $1")
        .bind(id)
        .bind(soon)
        .execute(app.db.pool())
        .await
        .unwrap();
    assert_eq!(progress(&app, &token, &created["id"]).await, 200);
    let lease: i64 = sqlx::query_scalar("SELECT lease_expires_at_ms FROM actions WHERE id = $1")
        .bind(id)
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert!(
        lease >= soon + 100_000,
        "moved on by two minutes: {lease} vs {soon}"
    );
    // Well past the old lease, with the expiry job running every 100 ms: still running.
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    assert_eq!(action(&app, &created["id"]).await["status"], "executing");

    // Only the owner may keep it alive; unknown ids are 404.
    assert_eq!(progress(&app, &other, &created["id"]).await, 403);
    assert_eq!(progress(&app, &token, &json!(999_999)).await, 404);
    assert_eq!(
        app.post_json(
            &format!("/agent/v1/actions/{id}/progress"),
            Some(&token),
            &json!({"output": "x"}),
        )
        .await
        .0,
        422,
        "unknown fields are refused"
    );

    // Once it has ended, progress is a conflict and changes nothing.
    assert_eq!(
        report(&app, &token, &created["id"], Some(0), None).await,
        200
    );
    assert_eq!(progress(&app, &token, &created["id"]).await, 409);
    assert_eq!(action(&app, &created["id"]).await["status"], "completed");
}

#[tokio::test]
async fn an_agent_reaches_only_its_own_servers_actions() {
    let app = spawn_app().await;
    let token_a = app.add_server("a", "A").await;
    let token_b = app.add_server("b", "B").await;
    let b_action = create_ok(&app, "b", "apt_update").await;
    assert!(
        app.agent_next(&token_a, 0).await.is_none(),
        "A cannot claim B's action"
    );
    assert_eq!(
        report(&app, &token_a, &b_action["id"], Some(0), None).await,
        403
    );
    assert_eq!(
        action(&app, &b_action["id"]).await["status"],
        "approved",
        "unchanged"
    );

    let next = app.agent_next(&token_b, 0).await.expect("B claims its own");
    assert_eq!(
        report(&app, &token_a, &next["id"], Some(0), None).await,
        403
    );
    assert_eq!(
        action(&app, &b_action["id"]).await["status"],
        "executing",
        "unchanged"
    );
    assert_eq!(
        report(&app, &token_a, &json!(999_999), Some(0), None).await,
        404
    );
    assert_eq!(
        report(&app, "hca_nobody", &next["id"], Some(0), None).await,
        401
    );
}

#[tokio::test]
async fn the_history_pages_newest_first_with_filters_and_a_cursor() {
    let app = spawn_app().await;
    app.add_server("a", "A").await;
    app.add_server("b", "B").await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let server = if i % 2 == 0 { "a" } else { "b" };
        let (_, created) = create(
            &app,
            server,
            json!({"action_type": "restart_service",
            "parameters": {"unit": format!("unit{i}")}}),
        )
        .await;
        ids.push(created["id"].as_i64().unwrap());
    }
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let (status, page) = app
            .api_get(&format!("/api/v1/actions?limit=3&cursor={cursor}"))
            .await;
        assert_eq!(status, 200, "{page}");
        seen.extend(
            page["actions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["id"].as_i64().unwrap()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    ids.reverse();
    assert_eq!(seen, ids, "every action once, newest first");

    let (_, only_b) = app
        .api_get("/api/v1/actions?server_id=b&action_type=restart_service&status=approved")
        .await;
    assert_eq!(only_b["actions"].as_array().unwrap().len(), 3);
    for (query, field) in [
        ("status=done", "status"),
        ("action_type=x", "action_type"),
        ("cursor=abc", "cursor"),
    ] {
        let (status, body) = app.api_get(&format!("/api/v1/actions?{query}")).await;
        assert_eq!(status, 422, "{query}: {body}");
        assert!(
            body["message"].as_str().unwrap().starts_with(field),
            "{body}"
        );
    }
}

#[tokio::test]
async fn an_approved_no_op_security_upgrade_completes_without_the_agent() {
    let app = spawn_app().await;
    let token = app.add_server("nas", "NAS").await;
    pause(&app, "nas", true).await;
    let created = create_ok(&app, "nas", "apt_upgrade_security").await;
    assert_eq!(
        (created["status"].as_str(), &created["argv"]),
        (Some("pending"), &json!([]))
    );
    let (status, approved) = app
        .api_post(
            &format!("/api/v1/actions/{}/approve", created["id"]),
            &json!({}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(approved["status"], "completed");
    assert_eq!(approved["stdout"], "No security packages to upgrade");
    assert!(app.agent_next(&token, 0).await.is_none());
}

#[tokio::test]
async fn a_security_version_apt_cannot_pin_is_reported_but_never_on_the_command_line() {
    let app = spawn_app().await;
    let token = app.add_server("nas", "NAS").await;
    // bookworm's gcc-bpf really is `12.2.0-14+deb12u1+`: Debian's, but apt would read
    // the trailing `+` as "install" and strip it.
    report_packages(
        &app,
        &token,
        &[
            ("gcc-bpf", Some("12.2.0-14+deb12u1+"), false),
            ("openssl", Some("3.0.1-1+deb12u1"), false),
        ],
    )
    .await;
    let (_, packages) = app.api_get("/api/v1/servers/nas/packages").await;
    assert_eq!(packages["security"], 2, "both are listed");
    let created = create_ok(&app, "nas", "apt_upgrade_security").await;
    assert_eq!(
        created["argv"],
        json!([
            "apt-get",
            "install",
            "--only-upgrade",
            "-y",
            "--",
            "openssl=3.0.1-1+deb12u1"
        ])
    );
}

#[tokio::test]
async fn the_same_request_twice_is_one_action_from_the_api_and_the_dashboard() {
    use homelab_app::api::CreateAction;
    use leptos::server_fn::ServerFn;

    let app = spawn_app().await;
    app.add_server("nas", "NAS").await;
    let with_key = |key: &str| {
        app.client
            .post(app.url("/api/v1/servers/nas/actions"))
            .bearer_auth(&app.api_token)
            .header("Idempotency-Key", key)
            .json(&json!({"action_type": "apt_update"}))
            .send()
    };
    let first = with_key("script-run-1").await.unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let again = with_key("script-run-1").await.unwrap();
    assert_eq!(again.status(), 200, "a repeat, not a conflict");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["id"], first["id"]);
    let refused = with_key("not a key!").await.unwrap();
    assert_eq!(refused.status(), 422);

    // The dashboard's form, sent twice (a double click without JavaScript).
    let restart = |unit: &'static str| {
        app.client
            .post(app.url(<CreateAction as ServerFn>::PATH))
            .form(&[
                ("server_id", "nas"),
                ("action_type", "restart_service"),
                ("unit", unit),
                ("request_id", "f00d-restart_service"),
            ])
            .send()
    };
    let one: Value = restart("nginx").await.unwrap().json().await.unwrap();
    let two: Value = restart("nginx").await.unwrap().json().await.unwrap();
    assert_eq!(one["id"], two["id"], "{one} {two}");
    // The same form with another unit is another request.
    let other: Value = restart("sshd").await.unwrap().json().await.unwrap();
    assert_ne!(other["id"], one["id"]);
    // A hostile request id is refused and creates nothing.
    let long = "x".repeat(5000);
    let refused = app
        .client
        .post(app.url(<CreateAction as ServerFn>::PATH))
        .form(&[
            ("server_id", "nas"),
            ("action_type", "clear_logs"),
            ("request_id", long.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    let (_, history) = app.api_get("/api/v1/actions?server_id=nas").await;
    assert_eq!(history["actions"].as_array().unwrap().len(), 3);
}
