//! Know before you approve, over HTTP: `POST /api/v1/actions/{id}/preview`, the
//! long-poll's preview answer, `POST /agent/v1/actions/{id}/preview` and `/hold`,
//! with their refusals.

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

async fn create_ok(app: &TestApp, server: &str, action_type: &str) -> Value {
    let (status, body) = app
        .api_post(
            &format!("/api/v1/servers/{server}/actions"),
            &json!({"action_type": action_type}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body
}

async fn pause(app: &TestApp, server: &str) {
    let (status, body) = app
        .api_put(
            &format!("/api/v1/servers/{server}/maintenance"),
            &json!({"paused": true}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

fn removing(name: &str) -> Value {
    json!({"upgraded": [{"name": "hl-openssl", "from": "3.0.1-1", "to": "3.0.1-1+deb12u1"}],
           "installed": [{"name": "hl-newdep", "version": "1.0-1"}],
           "removed": [{"name": name, "version": "1.0-1"}]})
}

#[tokio::test]
async fn a_preview_asked_for_in_the_api_reaches_the_agent_and_comes_back_with_its_age() {
    let app = spawn_app().await;
    let token = app.add_server("nas", "NAS").await;
    pause(&app, "nas").await;
    let upgrade = create_ok(&app, "nas", "apt_upgrade_all").await;
    let id = &upgrade["id"];

    let (status, asked) = app
        .api_post(&format!("/api/v1/actions/{id}/preview"), &json!({}))
        .await;
    assert_eq!(status, 202, "{asked}");
    assert_eq!(asked["status"], "pending");
    assert!(asked["preview_requested_at_ms"].is_i64(), "{asked}");

    let next = app
        .agent_next(&token, 5)
        .await
        .expect("the preview request");
    assert_eq!(next["id"], *id);
    assert_eq!(next["mode"], "preview");
    assert_eq!(next["argv"], json!([]));
    assert_eq!(
        next["preview_argv"],
        json!(["apt-get", "upgrade", "--with-new-pkgs", "-y"])
    );
    assert_eq!(next["hold_if_removing"], false);

    let (status, body) = app
        .post_json(
            &format!("/agent/v1/actions/{id}/preview"),
            Some(&token),
            &json!({"simulated": removing("hl-victim")}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, seen) = app.api_get(&format!("/api/v1/actions/{id}")).await;
    assert_eq!(seen["status"], "pending");
    assert_eq!(seen["preview_requested_at_ms"], Value::Null);
    assert!(seen["preview"]["taken_at_ms"].is_i64(), "{seen}");
    assert_eq!(
        seen["preview"]["outcome"]["simulated"]["removed"],
        json!([{"name": "hl-victim", "version": "1.0-1"}])
    );
    // A preview for an apt_update, or for a finished action, is refused.
    let (status, body) = app
        .api_post("/api/v1/actions/999/preview", &json!({}))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("NOT_FOUND")),
        "{body}"
    );
    let (status, body) = app
        .post_json(
            &format!("/api/v1/actions/{id}/cancel"),
            Some(&app.api_token),
            &json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app
        .api_post(&format!("/api/v1/actions/{id}/preview"), &json!({}))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("CONFLICT")),
        "{body}"
    );
    let (status, body) = app
        .post_json(
            &format!("/agent/v1/actions/{id}/preview"),
            Some(&token),
            &json!({"simulated": removing("hl-victim")}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    let update = create_ok(&app, "nas", "apt_update").await;
    let (status, body) = app
        .api_post(
            &format!("/api/v1/actions/{}/preview", update["id"]),
            &json!({}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("only the upgrades"),
        "{body}"
    );
}

#[tokio::test]
async fn an_auto_approved_upgrade_is_claimed_with_hold_if_removing_and_a_hold_waits_for_a_person() {
    let app = spawn_app().await;
    let token = app.add_server("nas", "NAS").await;
    let upgrade = create_ok(&app, "nas", "apt_upgrade_all").await;
    let id = &upgrade["id"];
    let claim = app.agent_next(&token, 1).await.expect("the upgrade");
    assert_eq!(
        (&claim["mode"], &claim["hold_if_removing"]),
        (&json!("run"), &json!(true))
    );

    let (status, body) = app
        .post_json(
            &format!("/agent/v1/actions/{id}/hold"),
            Some(&token),
            &removing("hl-victim"),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, held) = app.api_get(&format!("/api/v1/actions/{id}")).await;
    assert_eq!(held["status"], "pending");
    assert_eq!(held["hold_reason"], "held: apt would remove hl-victim");
    assert_eq!(held["approved_by"], Value::Null);
    // A repeat finds it no longer executing.
    let (status, _) = app
        .post_json(
            &format!("/agent/v1/actions/{id}/hold"),
            Some(&token),
            &removing("hl-victim"),
        )
        .await;
    assert_eq!(status, 409);

    let (status, _) = app
        .api_post(&format!("/api/v1/actions/{id}/approve"), &json!({}))
        .await;
    assert_eq!(status, 200);
    let claim = app
        .agent_next(&token, 1)
        .await
        .expect("approved by a person");
    assert_eq!(claim["id"], *id);
    assert_eq!(claim["hold_if_removing"], false);
}

#[tokio::test]
async fn agents_cannot_preview_or_hold_another_servers_action_nor_send_hostile_or_huge_previews() {
    let app = spawn_app().await;
    let token = app.add_server("nas", "NAS").await;
    let other = app.add_server("other", "Other").await;
    let upgrade = create_ok(&app, "nas", "apt_upgrade_all").await;
    let id = &upgrade["id"];
    app.agent_next(&token, 1).await.expect("the upgrade");

    for path in ["preview", "hold"] {
        let body = if path == "preview" {
            json!({"simulated": removing("hl-victim")})
        } else {
            removing("hl-victim")
        };
        let url = format!("/agent/v1/actions/{id}/{path}");
        let (status, answer) = app.post_json(&url, Some(&other), &body).await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (403, Some("FORBIDDEN")),
            "{path}"
        );
        let (status, _) = app.post_json(&url, None, &body).await;
        assert_eq!(status, 401, "{path}");
        let (status, _) = app
            .post_json(
                &format!("/agent/v1/actions/424242/{path}"),
                Some(&token),
                &body,
            )
            .await;
        assert_eq!(status, 404, "{path}");
    }

    // Names and versions outside Debian policy never get in.
    for hostile in [
        json!({"simulated": removing("<script>alert(1)</script>")}),
        json!({"simulated": {"upgraded": [], "installed": [],
                             "removed": [{"name": "ok-name", "version": "1\u{202e}0"}]}}),
        json!({"simulated": removing("hl-victim"), "extra": true}),
        json!({"failed": {"message": "x".repeat(5_000)}}),
        json!({"failed": {"message": "E: \u{1b}[2J\u{202e}looks fine"}}),
    ] {
        let (status, body) = app
            .post_json(
                &format!("/agent/v1/actions/{id}/preview"),
                Some(&token),
                &hostile,
            )
            .await;
        assert_eq!(status, 422, "{hostile}: {body}");
    }
    // A thousand removals is the most a list may hold.
    let many: Vec<Value> = (0..1_001)
        .map(|i| json!({"name": format!("pkg-{i}"), "version": "1.0-1"}))
        .collect();
    let huge = json!({"upgraded": [], "installed": [], "removed": many});
    let (status, body) = app
        .post_json(&format!("/agent/v1/actions/{id}/hold"), Some(&token), &huge)
        .await;
    assert_eq!(status, 422, "{body}");
    // A hold that removes nothing is not a hold.
    let nothing = json!({"upgraded": [], "installed": [], "removed": []});
    let (status, body) = app
        .post_json(
            &format!("/agent/v1/actions/{id}/hold"),
            Some(&token),
            &nothing,
        )
        .await;
    assert_eq!(status, 422, "{body}");

    let (_, seen) = app.api_get(&format!("/api/v1/actions/{id}")).await;
    assert_eq!(seen["status"], "executing");
    assert_eq!(seen["preview"], Value::Null);
}
