//! Taking access back: a password change ends sessions, API tokens are revoked, agent
//! tokens rotated, servers removed (their history stays readable).

use serde_json::{Value, json};

use crate::helpers::{TEST_USER, TestApp, spawn_app};

fn heartbeat() -> Value {
    json!({
        "agent_version": "0.1.0", "os": "Debian GNU/Linux 12 (bookworm)", "hostname": "nas",
        "metrics": {"cpu_percent": 1.0, "memory_percent": 2.0, "disk_percent": 3.0,
                    "load_1": 0.0, "load_5": 0.0, "load_15": 0.0, "uptime_s": 1},
        "reboot_required": false, "reboot_required_pkgs": [],
        "packages": [{
            "name": "curl", "current_version": "1.0-1", "new_version": "1.1-1",
            "repository": "bookworm-security", "is_security": true,
            "security_version": "1.1-1", "held": false, "kept_back": false
        }]
    })
}

async fn beat(app: &TestApp, token: &str) -> u16 {
    app.post_json("/agent/v1/heartbeat", Some(token), &heartbeat())
        .await
        .0
}

async fn delete(app: &TestApp, path: &str, token: &str) -> u16 {
    app.client
        .delete(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn changing_a_password_ends_that_users_sessions() {
    let app = spawn_app().await;
    // The test client holds a session: the JSON API accepts it.
    let signed_in = app
        .client
        .get(app.url("/api/v1/servers"))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 200);

    app.service
        .set_user_password(TEST_USER, "a brand new password")
        .await
        .unwrap();
    let after = app
        .client
        .get(app.url("/api/v1/servers"))
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 401, "the old session is over");
    let page = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 303, "pages send it to the login");
}

#[tokio::test]
async fn api_tokens_are_listed_without_secrets_and_revoked_at_once() {
    let app = spawn_app().await;
    let (status, minted) = app
        .api_post("/api/v1/tokens", &json!({"name": "backup-script"}))
        .await;
    assert_eq!(status, 201, "{minted}");
    let secret = minted["token"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("hcp_"));

    let (status, listed) = app.api_get("/api/v1/tokens").await;
    assert_eq!(status, 200);
    let names: Vec<_> = listed["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["backup-script", "tests"]);
    assert!(!listed.to_string().contains(&secret), "no secret is listed");

    let with_secret = |path: &str| app.client.get(app.url(path)).bearer_auth(&secret);
    assert_eq!(
        with_secret("/api/v1/servers")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        delete(&app, "/api/v1/tokens/backup-script", &app.api_token).await,
        204
    );
    assert_eq!(
        with_secret("/api/v1/servers")
            .send()
            .await
            .unwrap()
            .status(),
        401,
        "refused at once"
    );
    assert_eq!(
        delete(&app, "/api/v1/tokens/backup-script", &app.api_token).await,
        404
    );
}

#[tokio::test]
async fn a_rotated_agent_token_replaces_the_old_one_at_once() {
    let app = spawn_app().await;
    let old = app.add_server("nas", "NAS").await;
    assert_eq!(beat(&app, &old).await, 200);

    let (status, rotated) = app
        .api_post("/api/v1/servers/nas/agent-token", &json!({}))
        .await;
    assert_eq!(status, 200, "{rotated}");
    let new = rotated["agent_token"].as_str().unwrap();
    assert_ne!(new, old);
    assert_eq!(beat(&app, &old).await, 401, "the old token is dead");
    assert_eq!(beat(&app, new).await, 200);
    let (status, _) = app
        .api_post("/api/v1/servers/nope/agent-token", &json!({}))
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_removed_server_leaves_the_fleet_but_its_history_stays() {
    let app = spawn_app().await;
    let token = app.add_server("nas", "NAS").await;
    assert_eq!(beat(&app, &token).await, 200);
    let (_, done) = app
        .api_post(
            "/api/v1/servers/nas/actions",
            &json!({"action_type": "apt_update"}),
        )
        .await;
    app.agent_next(&token, 0).await.expect("claimed");
    app.post_json(
        &format!("/agent/v1/actions/{}/result", done["id"]),
        Some(&token),
        &json!({"exit_code": 0, "failure": null, "stdout": "ok", "stderr": "",
                "started_at": null, "finished_at": null}),
    )
    .await;
    app.api_put("/api/v1/servers/nas/maintenance", &json!({"paused": true}))
        .await;
    let (_, waiting) = app
        .api_post(
            "/api/v1/servers/nas/actions",
            &json!({"action_type": "apt_update"}),
        )
        .await;
    assert_eq!(waiting["status"], "pending");

    assert_eq!(
        delete(&app, "/api/v1/servers/nas", &app.api_token).await,
        204
    );

    let (_, fleet) = app.api_get("/api/v1/servers").await;
    assert_eq!(fleet, json!([]));
    assert_eq!(app.api_get("/api/v1/servers/nas").await.0, 404);
    assert_eq!(beat(&app, &token).await, 401, "its agent is refused");
    let next = app
        .client
        .get(app.url("/agent/v1/actions/next?wait=0"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(next.status(), 401);
    // History: the finished action as it was, the waiting one cancelled by whoever
    // removed the server.
    let (status, kept) = app
        .api_get(&format!("/api/v1/actions/{}", done["id"]))
        .await;
    assert_eq!((status, kept["status"].as_str()), (200, Some("completed")));
    assert_eq!(kept["stdout"], "ok");
    let (_, cancelled) = app
        .api_get(&format!("/api/v1/actions/{}", waiting["id"]))
        .await;
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["cancelled_by"], "api:tests");
    let (status, page) = app.get("/actions?server_id=nas").await;
    assert_eq!(status, 200);
    assert!(
        page.contains(&format!("/actions/{}", done["id"])),
        "listed in the history"
    );
    // Nothing can be queued on it, and a second removal is a 404.
    let (status, _) = app
        .api_post(
            "/api/v1/servers/nas/actions",
            &json!({"action_type": "apt_update"}),
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(
        delete(&app, "/api/v1/servers/nas", &app.api_token).await,
        404
    );

    // The id can be used again: a fresh machine with the old history.
    let (status, added) = app
        .api_post("/api/v1/servers", &json!({"id": "nas", "name": "New NAS"}))
        .await;
    assert_eq!(status, 201, "{added}");
    let (_, back) = app.api_get("/api/v1/servers/nas").await;
    assert_eq!(back["name"], "New NAS");
    assert_eq!(back["status"], "unknown", "nothing reported yet");
    assert_eq!(back["updates"], 0);
    assert_eq!(beat(&app, &token).await, 401, "the old token stays dead");
    assert_eq!(
        beat(&app, added["agent_token"].as_str().unwrap()).await,
        200
    );
    let (_, history) = app.api_get("/api/v1/actions?server_id=nas").await;
    assert_eq!(history["actions"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn names_that_would_read_differently_are_refused() {
    let app = spawn_app().await;
    // U+202E turns "nas-txt.exe" around on screen.
    let (status, body) = app
        .api_post(
            "/api/v1/servers",
            &json!({"id": "nas", "name": "nas\u{202E}exe.txt"}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("direction"),
        "{body}"
    );
}

/// Logs a new client in as the test user; returns it with its session.
async fn second_session(app: &TestApp, password: &str) -> reqwest::Client {
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = client
        .post(app.url("/login"))
        .form(&[
            ("username", TEST_USER),
            ("password", password),
            ("next", "/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert!(
        response.headers().get("set-cookie").is_some(),
        "logged in with {password:?}"
    );
    client
}

#[tokio::test]
async fn a_password_changed_in_the_dashboard_keeps_this_session_and_ends_the_others() {
    use homelab_app::api::ChangePassword;
    use leptos::server_fn::ServerFn;

    let app = spawn_app().await;
    let other = second_session(&app, crate::helpers::TEST_PASSWORD).await;
    let change = |current: &str, new: &str, repeat: &str| {
        app.client
            .post(app.url(<ChangePassword as ServerFn>::PATH))
            .form(&[("current", current), ("new", new), ("repeat", repeat)])
            .send()
    };

    // A wrong current password, or two different new ones: refused, nothing ends.
    let wrong = change("not it", "another password", "another password")
        .await
        .unwrap();
    assert_eq!(wrong.status(), 422);
    let mismatch = change(crate::helpers::TEST_PASSWORD, "another password", "other")
        .await
        .unwrap();
    assert_eq!(mismatch.status(), 422);
    let still = other.get(app.url("/api/v1/servers")).send().await.unwrap();
    assert_eq!(still.status(), 200);

    let changed = change(
        crate::helpers::TEST_PASSWORD,
        "another password",
        "another password",
    )
    .await
    .unwrap();
    assert_eq!(changed.status(), 200, "{:?}", changed.text().await);
    let mine = app
        .client
        .get(app.url("/api/v1/servers"))
        .send()
        .await
        .unwrap();
    assert_eq!(mine.status(), 200, "the session that changed it stays");
    let theirs = other.get(app.url("/api/v1/servers")).send().await.unwrap();
    assert_eq!(theirs.status(), 401, "every other session ends");
    second_session(&app, "another password").await;
}

#[tokio::test]
async fn a_long_poll_with_a_token_rotated_while_it_waited_claims_nothing() {
    let app = spawn_app().await;
    let old = app.add_server("nas", "NAS").await;
    app.api_put("/api/v1/servers/nas/maintenance", &json!({"paused": true}))
        .await;
    let (_, pending) = app
        .api_post(
            "/api/v1/servers/nas/actions",
            &json!({"action_type": "apt_update"}),
        )
        .await;
    let waiting = app
        .client
        .get(app.url("/agent/v1/actions/next?wait=20"))
        .bearer_auth(&old)
        .send();
    let rotate_then_approve = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let (status, _) = app
            .api_post("/api/v1/servers/nas/agent-token", &json!({}))
            .await;
        assert_eq!(status, 200);
        app.api_post(
            &format!("/api/v1/actions/{}/approve", pending["id"]),
            &json!({}),
        )
        .await
    };
    let (answer, (approved, _)) = tokio::join!(waiting, rotate_then_approve);
    assert_eq!(approved, 200);
    assert_eq!(
        answer.unwrap().status(),
        401,
        "the old token claims nothing"
    );
    let (_, action) = app
        .api_get(&format!("/api/v1/actions/{}", pending["id"]))
        .await;
    assert_eq!(
        action["status"], "approved",
        "still waiting for the real agent"
    );
}
