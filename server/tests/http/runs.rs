//! Fleet runs and tags over HTTP: the API's shapes and refusals, and the server's
//! own job moving a run on as its agents report.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

/// Adds `id` and sends one heartbeat, so it is online; returns its agent token.
async fn online(app: &TestApp, id: &str) -> String {
    let token = app.add_server(id, id).await;
    let hb = json!({"agent_version": "t", "os": "Debian", "reboot_required": false,
        "metrics": {"cpu_percent": 0, "memory_percent": 0, "disk_percent": 0,
                    "load_1": 0, "load_5": 0, "load_15": 0, "uptime_s": 0}});
    let (status, body) = app
        .post_json("/agent/v1/heartbeat", Some(&token), &hb)
        .await;
    assert_eq!(status, 200, "{body}");
    token
}

async fn tag(app: &TestApp, server: &str, tags: Value) -> (u16, Value) {
    app.api_put(
        &format!("/api/v1/servers/{server}/tags"),
        &json!({ "tags": tags }),
    )
    .await
}

/// The agent holding `token` runs its next action with exit code `code`.
async fn agent_runs(app: &TestApp, token: &str, code: i32) {
    let next = app.agent_next(token, 0).await.expect("an action to run");
    let body = json!({"exit_code": code, "failure": null, "stdout": "", "stderr": "",
                      "started_at": 1, "finished_at": 2});
    let (status, answer) = app
        .post_json(
            &format!("/agent/v1/actions/{}/result", next["id"]),
            Some(token),
            &body,
        )
        .await;
    assert_eq!(status, 200, "{answer}");
}

/// Waits until the run's items are in `states` (the server's job moves it on).
async fn wait_for(app: &TestApp, run: &Value, states: &[&str]) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = app.api_get(&format!("/api/v1/runs/{}", run["id"])).await;
        assert_eq!(status, 200, "{body}");
        let now: Vec<&str> = body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["state"].as_str().unwrap())
            .collect();
        if now == states {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the run stayed at {now:?}, expected {states:?}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_run_on_a_tag_goes_one_server_after_the_other_and_leaves_the_rest_alone() {
    let app = spawn_app().await;
    let web = online(&app, "web").await;
    let db = online(&app, "db").await;
    let nas = online(&app, "nas").await;
    for server in ["web", "db"] {
        let (status, body) = tag(&app, server, json!(["lab", "prod", "lab"])).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["tags"], json!(["lab", "prod"]));
    }
    let (status, run) = app
        .api_post(
            "/api/v1/runs",
            &json!({"action_type": "apt_update", "tag": "lab"}),
        )
        .await;
    assert_eq!(status, 201, "{run}");
    assert_eq!(run["status"], "running");
    assert_eq!(run["tag"], "lab");
    assert_eq!(run["batch_size"], 1);
    assert_eq!(run["items"][0]["server_id"], "db");
    assert_eq!(run["items"][0]["state"], "queued");
    assert!(run["items"][0]["action_id"].is_i64());
    assert_eq!(run["items"][1]["state"], "waiting");
    assert!(run["items"][1]["action_id"].is_null());

    agent_runs(&app, &db, 0).await;
    wait_for(&app, &run, &["completed", "queued"]).await;
    agent_runs(&app, &web, 0).await;
    let done = wait_for(&app, &run, &["completed", "completed"]).await;
    assert_eq!(done["status"], "completed");
    assert!(app.agent_next(&nas, 0).await.is_none(), "nas is not tagged");

    // The history shows the run's actions, and each names its run.
    let (_, history) = app
        .api_get(&format!("/api/v1/actions?run_id={}", run["id"]))
        .await;
    let actions = history["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 2);
    assert!(actions.iter().all(|a| a["run_id"] == run["id"]));
    let (_, listed) = app.api_get("/api/v1/runs").await;
    assert_eq!(listed[0]["id"], run["id"]);
    let (_, fleet) = app.api_get("/api/v1/servers").await;
    let nas_row = fleet
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "nas")
        .unwrap();
    assert_eq!(nas_row["tags"], json!([]));
}

#[tokio::test]
async fn a_failure_stops_the_run_and_cancel_withdraws_what_waits() {
    let app = spawn_app().await;
    let a = online(&app, "a").await;
    online(&app, "b").await;
    online(&app, "c").await;
    let body = json!({"action_type": "clear_logs", "parameters": {"vacuum_time": "2d"},
                      "servers": ["a", "b", "c"]});
    let (status, run) = app.api_post("/api/v1/runs", &body).await;
    assert_eq!(status, 201, "{run}");
    agent_runs(&app, &a, 1).await;
    let stopped = wait_for(&app, &run, &["failed", "cancelled", "cancelled"]).await;
    assert_eq!(stopped["status"], "failed");

    let (status, again) = app
        .api_post(&format!("/api/v1/runs/{}/cancel", run["id"]), &json!({}))
        .await;
    assert_eq!(
        (status, again["code"].as_str()),
        (409, Some("CONFLICT")),
        "{again}"
    );

    let (_, second) = app
        .api_post(
            "/api/v1/runs",
            &json!({"action_type": "apt_update", "servers": ["b", "c"], "batch_size": 1}),
        )
        .await;
    let (status, cancelled) = app
        .api_post(&format!("/api/v1/runs/{}/cancel", second["id"]), &json!({}))
        .await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["items"][0]["state"], "cancelled");
    assert_eq!(cancelled["items"][0]["action_status"], "cancelled");
    assert_eq!(cancelled["items"][1]["state"], "cancelled");
}

#[tokio::test]
async fn bad_runs_and_tags_are_refused_with_the_field_named_and_change_nothing() {
    let app = spawn_app().await;
    online(&app, "a").await;
    let long = "x".repeat(100_000);
    let runs = [
        (json!({"action_type": "apt_update"}), "servers"),
        (
            json!({"action_type": "apt_update", "servers": []}),
            "servers",
        ),
        (
            json!({"action_type": "apt_update", "servers": ["a"], "tag": "lab"}),
            "servers",
        ),
        (
            json!({"action_type": "apt_update", "servers": ["A; rm -rf /"]}),
            "servers",
        ),
        (
            json!({"action_type": "apt_update", "servers": ["ghost"]}),
            "ghost",
        ),
        (
            json!({"action_type": "apt_update", "tag": "nobody"}),
            "nobody",
        ),
        (json!({"action_type": "apt_update", "tag": long}), "tag"),
        (
            json!({"action_type": "apt_update", "servers": ["a"], "batch_size": 0}),
            "batch_size",
        ),
        (
            json!({"action_type": "apt_update", "servers": ["a"], "batch_size": -1}),
            "batch_size",
        ),
        (
            json!({"action_type": "apt_update", "servers": ["a"], "batch_size": 1e12}),
            "batch_size",
        ),
        (
            json!({"action_type": "apt_update", "servers": ["a"], "max_failures": 4294967295u32}),
            "max_failures",
        ),
        (
            json!({"action_type": "apt_update", "servers": ["a"], "parameters": {"unit": "x"}}),
            "unit",
        ),
        (
            json!({"action_type": "restart_service", "servers": ["a"], "parameters": {"unit": "-x"}}),
            "unit",
        ),
        (
            json!({"action_type": "reboot_everything", "servers": ["a"]}),
            "action_type",
        ),
        (
            json!({"action_type": "apt_update", "servers": ["a"], "force": true}),
            "force",
        ),
        (
            json!({"action_type": "apt_update", "servers": ["a"], "reboot_if_required": true}),
            "reboot_if_required",
        ),
        (
            json!({"action_type": "reboot", "servers": ["a"], "reboot_if_required": true}),
            "reboot_if_required",
        ),
        (
            json!({"action_type": "apt_upgrade_all", "servers": ["a"], "reboot_if_required": "yes"}),
            "reboot_if_required",
        ),
        (
            json!({"action_type": "apt_upgrade_all", "servers": ["a"], "reboot_if_required": 1}),
            "reboot_if_required",
        ),
        (
            json!({"action_type": "reboot", "servers": ["a"], "parameters": {"when": "now"}}),
            "when",
        ),
    ];
    for (body, field) in runs {
        let (status, answer) = app.api_post("/api/v1/runs", &body).await;
        assert_eq!(status, 422, "{body}: {answer}");
        assert!(
            answer["message"].as_str().unwrap().contains(field),
            "{body}: {answer}"
        );
    }
    let (_, listed) = app.api_get("/api/v1/runs").await;
    assert_eq!(listed, json!([]));

    let too_many: Vec<String> = (0..17).map(|n| format!("t{n}")).collect();
    let tags = [
        json!(["Lab"]),
        json!(["-lab"]),
        json!([""]),
        json!(["<script>"]),
        json!([long]),
        json!(too_many),
        json!("lab"),
        json!([1]),
    ];
    for tags in tags {
        let (status, answer) = tag(&app, "a", tags.clone()).await;
        assert_eq!(status, 422, "{tags}: {answer}");
    }
    let (status, _) = tag(&app, "ghost", json!(["lab"])).await;
    assert_eq!(status, 404);
    let (_, server) = app.api_get("/api/v1/servers/a").await;
    assert_eq!(server["tags"], json!([]));
    let (status, _) = app.api_get("/api/v1/runs/999").await;
    assert_eq!(status, 404);
    let (status, _) = app.api_get("/api/v1/runs/abc").await;
    assert!(status == 400 || status == 404 || status == 422, "{status}");
    let (status, answer) = app.api_get("/api/v1/actions?run_id=abc").await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["message"].as_str().unwrap().contains("run_id"),
        "{answer}"
    );
}

/// The fleet page's run form, sent twice (a double click without JavaScript, a
/// resent POST), starts one run; the same form with another value is another run,
/// and a hostile request id is refused and starts nothing.
#[tokio::test]
async fn the_run_form_sent_twice_starts_one_run() {
    use homelab_app::api::StartRun;
    use leptos::server_fn::ServerFn;

    let app = spawn_app().await;
    online(&app, "nas").await;
    let start = |batch: &str, request_id: &str| {
        let form = [
            ("action_type", "clear_logs"),
            ("target", "selected"),
            ("servers[0]", "nas"),
            ("batch_size", batch),
            ("max_failures", "0"),
            ("request_id", request_id),
        ];
        let request = app
            .client
            .post(app.url(<StartRun as ServerFn>::PATH))
            .form(&form);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    let runs = || async {
        app.api_get("/api/v1/runs")
            .await
            .1
            .as_array()
            .unwrap()
            .len()
    };
    let token = "f0rm-t0ken-0123456789ab";
    let (one, two) = tokio::join!(start("1", token), start("1", token));
    assert!(one < 400 && two < 400, "{one} {two}");
    assert_eq!(runs().await, 1, "the same form twice is one run");
    assert!(start("1", token).await < 400);
    assert_eq!(runs().await, 1, "and again later");
    assert!(start("2", token).await < 400);
    assert_eq!(runs().await, 2, "another batch size is another run");
    assert_eq!(start("1", &"x".repeat(5000)).await, 422);
    assert_eq!(start("1", "not a key!").await, 422);
    assert_eq!(runs().await, 2, "a refused request id starts nothing");
}
