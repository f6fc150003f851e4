//! `/api/v1/schedules`: patch policies over JSON, and the job that fires them.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, spawn_replica};

fn nightly() -> Value {
    json!({
        "name": "nightly",
        "cron": "0 3 * * SUN",
        "timezone": "Europe/London",
        "action_type": "apt_upgrade_security",
        "servers": ["nas"],
    })
}

/// `body` with `field` set to `value` (or removed when null).
fn with(mut body: Value, field: &str, value: Value) -> Value {
    if value.is_null() {
        body.as_object_mut().unwrap().remove(field);
    } else {
        body[field] = value;
    }
    body
}

async fn delete(app: &TestApp, path: &str) -> u16 {
    app.client
        .delete(app.url(path))
        .bearer_auth(&app.api_token)
        .send()
        .await
        .expect("request")
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_schedule_is_created_read_changed_and_deleted_with_its_next_firing() {
    let app = spawn_app().await;
    app.add_server("nas", "NAS").await;
    let (status, created) = app.api_post("/api/v1/schedules", &nightly()).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["name"], "nightly");
    assert_eq!(created["cron"], "0 3 * * SUN");
    assert_eq!(created["timezone"], "Europe/London");
    assert_eq!(created["description"], "at 03:00 on Sunday");
    assert_eq!(created["action_type"], "apt_upgrade_security");
    assert_eq!(created["servers"], json!(["nas"]));
    assert_eq!(created["tag"], Value::Null);
    assert_eq!(created["batch_size"], 1);
    assert_eq!(created["max_failures"], 0);
    assert_eq!(created["reboot_if_required"], false);
    assert_eq!(created["last_run"], Value::Null);
    let next = created["next_fire_at_ms"].as_i64().unwrap();
    let now = homelab_protocol::now_ms();
    assert!(next > now && next <= now + 8 * 24 * 3_600_000, "{created}");
    let local = created["next_fire_local"].as_str().unwrap();
    assert!(
        local.starts_with("Sun ") && local.contains(" 03:00 "),
        "{local}"
    );

    let (status, list) = app.api_get("/api/v1/schedules").await;
    assert_eq!(status, 200);
    assert_eq!(list["schedules"][0]["id"], id);
    let (status, one) = app.api_get(&format!("/api/v1/schedules/{id}")).await;
    assert_eq!((status, &one), (200, &created));

    let changed = with(with(nightly(), "servers", Value::Null), "tag", json!("lab"));
    let changed = with(changed, "cron", json!("30 4 1 * *"));
    let (status, changed) = app
        .api_put(&format!("/api/v1/schedules/{id}"), &changed)
        .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["tag"], "lab");
    assert_eq!(changed["servers"], Value::Null);
    assert_eq!(changed["description"], "at 04:30 on day 1 of each month");
    assert!(
        changed["next_fire_local"]
            .as_str()
            .unwrap()
            .contains("-01 04:30 ")
    );

    assert_eq!(delete(&app, &format!("/api/v1/schedules/{id}")).await, 204);
    let (status, gone) = app.api_get(&format!("/api/v1/schedules/{id}")).await;
    assert_eq!(status, 404, "{gone}");
    assert_eq!(delete(&app, &format!("/api/v1/schedules/{id}")).await, 404);
}

#[tokio::test]
async fn bad_schedules_are_refused_with_the_field_named() {
    let app = spawn_app().await;
    app.add_server("nas", "NAS").await;
    let long_cron = format!("0 3 * * {}", "1,".repeat(5_000));
    let cases = [
        (with(nightly(), "name", json!("")), "name:"),
        (with(nightly(), "name", json!("   ")), "name:"),
        (with(nightly(), "name", json!("night\u{7}ly")), "name:"),
        (with(nightly(), "name", json!("x".repeat(65))), "name:"),
        (with(nightly(), "name", Value::Null), "name"),
        (
            with(nightly(), "cron", json!("0 3 * *")),
            "cron: five fields",
        ),
        (
            with(nightly(), "cron", json!("61 3 * * *")),
            "cron (minute)",
        ),
        (
            with(nightly(), "cron", json!("0 3 * * FUNDAY")),
            "cron (day of week)",
        ),
        (
            with(nightly(), "cron", json!("* * * * *")),
            "at most every 15 minutes",
        ),
        (with(nightly(), "cron", json!("0 0 30 2 *")), "never fires"),
        (with(nightly(), "cron", json!(long_cron)), "cron: at most"),
        (with(nightly(), "timezone", json!("Mars/Base")), "timezone:"),
        (
            with(nightly(), "timezone", json!("../../etc/passwd")),
            "timezone:",
        ),
        (
            with(nightly(), "action_type", json!("rm_rf")),
            "action_type",
        ),
        (
            with(nightly(), "parameters", json!({"unit": "nginx"})),
            "parameters",
        ),
        (with(nightly(), "tag", json!("lab")), "tag:"),
        (with(nightly(), "servers", Value::Null), "tag:"),
        (with(nightly(), "servers", json!(["ghost"])), "servers:"),
        (
            with(nightly(), "servers", json!(["Not A Slug"])),
            "servers:",
        ),
        (with(nightly(), "servers", json!([])), "servers:"),
        (with(nightly(), "batch_size", json!(0)), "batch_size:"),
        (with(nightly(), "batch_size", json!(1_001)), "batch_size:"),
        (with(nightly(), "max_failures", json!(-1)), "max_failures"),
        (
            with(
                with(nightly(), "action_type", json!("apt_update")),
                "reboot_if_required",
                json!(true),
            ),
            "reboot_if_required: a reboot can only follow an upgrade",
        ),
        (
            with(nightly(), "reboot_if_required", json!("yes")),
            "reboot_if_required",
        ),
        (with(nightly(), "enabled", json!(true)), "enabled"),
    ];
    for (body, message) in cases {
        let (status, answer) = app.api_post("/api/v1/schedules", &body).await;
        assert_eq!(status, 422, "{body}: {answer}");
        assert_eq!(answer["code"], "INVALID", "{answer}");
        let text = answer["message"].as_str().unwrap();
        assert!(text.contains(message), "{message:?} in {text:?}");
        assert!(text.len() < 400, "{text}");
    }
    let (_, list) = app.api_get("/api/v1/schedules").await;
    assert_eq!(list["schedules"], json!([]), "nothing was stored");

    let (status, _) = app.api_post("/api/v1/schedules", &nightly()).await;
    assert_eq!(status, 201);
    let (status, answer) = app.api_post("/api/v1/schedules", &nightly()).await;
    assert_eq!((status, answer["code"].as_str()), (409, Some("CONFLICT")));
    assert!(answer["message"].as_str().unwrap().contains("nightly"));

    let (status, _) = app.api_get("/api/v1/schedules/999").await;
    assert_eq!(status, 404);
    let (status, _) = app.api_get("/api/v1/schedules/abc").await;
    assert_eq!(status, 400);
    let (status, _) = app.api_put("/api/v1/schedules/999", &nightly()).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn schedules_need_a_token() {
    let app = spawn_app().await;
    let response = reqwest::Client::new()
        .get(app.url("/api/v1/schedules"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let (status, _) = app
        .post_json("/api/v1/schedules", Some("hcp_wrong"), &nightly())
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn a_firing_missed_while_the_dashboard_was_down_runs_once_when_it_starts() {
    let (url, _guard) = homelab_core::db::testing::fresh_url().await;
    let first = spawn_replica(&url, 60).await;
    first.add_server("nas", "NAS").await;
    let body = with(nightly(), "cron", json!("0 3 * * *"));
    let body = with(body, "timezone", json!("UTC"));
    let (status, created) = first.api_post("/api/v1/schedules", &body).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().unwrap();
    drop(first);

    // While it was down, the firing of 03:00 UTC two days ago (and those since) came
    // and went.
    const DAY: i64 = 24 * 3_600_000;
    let missed = homelab_protocol::now_ms() / DAY * DAY - 2 * DAY + 3 * 3_600_000;
    let db = homelab_core::db::Database::connect(&url).await.unwrap();
    sqlx::query("UPDATE schedules SET next_fire_at_ms = $1 WHERE id = $2")
        .bind(missed)
        .bind(id)
        .execute(db.pool())
        .await
        .unwrap();

    let again = spawn_replica(&url, 60).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let schedule = loop {
        let (_, schedule) = again.api_get(&format!("/api/v1/schedules/{id}")).await;
        if !schedule["last_run"].is_null() {
            break schedule;
        }
        assert!(Instant::now() < deadline, "no run started: {schedule}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(schedule["last_run"]["late"], true, "{schedule}");
    let fired = schedule["last_fired_at_ms"].as_i64().unwrap();
    assert!(
        fired > missed && fired <= homelab_protocol::now_ms(),
        "{schedule}"
    );
    assert!(schedule["next_fire_at_ms"].as_i64().unwrap() > homelab_protocol::now_ms());
    // Once: the runs of this schedule in the database.
    let runs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM runs WHERE schedule_id = $1")
        .bind(id)
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(runs, 1);
    let created_by: String =
        sqlx::query_scalar("SELECT created_by FROM runs WHERE schedule_id = $1")
            .bind(id)
            .fetch_one(db.pool())
            .await
            .unwrap();
    assert_eq!(created_by, "schedule:nightly");
}
