//! Every user-controlled text is escaped wherever the dashboard shows it, the page
//! title included: a server named `</title><script>...` is harmless. Whole-server
//! test: the text goes in through the APIs an attacker could use (the JSON API, an
//! agent's heartbeat and result) and comes out in the server-rendered HTML.

use serde_json::json;

use crate::helpers::spawn_app;

/// Markup that would run script if any of it reached the page unescaped.
const PAYLOAD: &str = "</title><script>window.__pwned=1</script><img src=x onerror=alert(1)>";

/// What must never appear in the HTML: the payload's tags, as tags.
const RAW: [&str; 3] = ["<script>window.__pwned", "<img src=x", "</title><script>"];

fn assert_escaped(page: &str, html: &str) {
    for raw in RAW {
        assert!(
            !html.contains(raw),
            "{page} contains {raw:?} unescaped:\n{html}"
        );
    }
}

#[tokio::test]
async fn user_controlled_text_is_escaped_on_every_page_and_in_the_title() {
    let app = spawn_app().await;
    // Server name: through the JSON API.
    let (status, added) = app
        .api_post("/api/v1/servers", &json!({"id": "web1", "name": PAYLOAD}))
        .await;
    assert_eq!(status, 201, "{added}");
    let token = added["agent_token"].as_str().unwrap().to_owned();

    // OS, hostname, agent version, package repository: through a heartbeat.
    let short = &PAYLOAD[..60];
    let hb = json!({
        "agent_version": short, "os": PAYLOAD, "hostname": PAYLOAD,
        "metrics": {"cpu_percent": 1.0, "memory_percent": 1.0, "disk_percent": 1.0,
                    "load_1": 0.0, "load_5": 0.0, "load_15": 0.0, "uptime_s": 60},
        "reboot_required": true,
        "packages": [
            {"name": "openssl", "current_version": "3.0.11-1", "new_version": "3.0.15-1",
             "repository": PAYLOAD, "is_security": true, "security_version": "3.0.15-1",
             "held": false, "kept_back": false}
        ]
    });
    let (status, body) = app
        .post_json("/agent/v1/heartbeat", Some(&token), &hb)
        .await;
    assert_eq!(status, 200, "{body}");

    // Package names, versions and units are parsed at the edge: markup cannot get in.
    let mut bad_package = hb.clone();
    bad_package["packages"][0]["name"] = json!(PAYLOAD);
    let (status, _) = app
        .post_json("/agent/v1/heartbeat", Some(&token), &bad_package)
        .await;
    assert_eq!(status, 422);
    let mut bad_version = hb.clone();
    bad_version["packages"][0]["new_version"] = json!("1<script>");
    let (status, _) = app
        .post_json("/agent/v1/heartbeat", Some(&token), &bad_version)
        .await;
    assert!(status == 400 || status == 422, "{status}");
    let (status, _) = app
        .api_post(
            "/api/v1/servers/web1/actions",
            &json!({"action_type": "restart_service", "parameters": {"unit": PAYLOAD}}),
        )
        .await;
    assert_eq!(status, 422);

    // Reject reason: an action waiting for approval, rejected with the payload.
    let (status, _) = app
        .api_put(
            "/api/v1/servers/web1/approval-policy",
            &json!({"approval_policy": "always_ask"}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, rejected) = app
        .api_post(
            "/api/v1/servers/web1/actions",
            &json!({"action_type": "restart_service", "parameters": {"unit": "nginx"}}),
        )
        .await;
    let rejected_id = rejected["id"].clone();
    let (status, body) = app
        .api_post(
            &format!("/api/v1/actions/{rejected_id}/reject"),
            &json!({"reason": PAYLOAD}),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // stdout and stderr: an action the agent ran and reported.
    let (_, ran) = app
        .api_post(
            "/api/v1/servers/web1/actions",
            &json!({"action_type": "apt_update"}),
        )
        .await;
    let ran_id = ran["id"].clone();
    let (status, _) = app
        .api_post(&format!("/api/v1/actions/{ran_id}/approve"), &json!({}))
        .await;
    assert_eq!(status, 200);
    let claimed = app.agent_next(&token, 0).await.expect("the action");
    assert_eq!(claimed["id"], ran_id);
    let result = json!({"exit_code": 1, "failure": null, "stdout": PAYLOAD, "stderr": PAYLOAD,
                        "started_at": 1, "finished_at": 2});
    let (status, _) = app
        .post_json(
            &format!("/agent/v1/actions/{ran_id}/result"),
            Some(&token),
            &result,
        )
        .await;
    assert_eq!(status, 200);

    let escaped_title = "&lt;/title&gt;&lt;script&gt;window.__pwned=1&lt;/script&gt;";
    for page in [
        "/".to_owned(),
        "/servers/web1".to_owned(),
        "/servers/web1?only=security".to_owned(),
        "/actions".to_owned(),
        "/actions?server_id=web1".to_owned(),
        format!("/actions/{rejected_id}"),
        format!("/actions/{ran_id}"),
    ] {
        let (status, html) = app.get(&page).await;
        assert_eq!(status, 200, "{page}");
        assert_escaped(&page, &html);
        assert!(
            html.contains("&lt;script&gt;window.__pwned=1"),
            "{page} shows the text:\n{html}"
        );
        if page == "/servers/web1" {
            let title = &html[html.find("<title>").expect("a title")..];
            assert!(
                title.starts_with(&format!("<title>{escaped_title}")),
                "{title}"
            );
        }
    }
    // The JSON API gives the text back as it was stored: JSON, not HTML.
    let (_, server) = app.api_get("/api/v1/servers/web1").await;
    assert_eq!(server["name"], PAYLOAD);
}
