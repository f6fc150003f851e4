//! `GET /events`: the dashboard's live stream, over real HTTP, fed by real requests
//! to the JSON and agent APIs.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::spawn_app;

/// Reads a server-sent event stream one event at a time.
pub(crate) struct Events {
    pub(crate) response: reqwest::Response,
    pub(crate) buffer: String,
}

impl Events {
    /// The next event's `(name, data)`; keep-alive comments are skipped.
    pub(crate) async fn next(&mut self) -> Option<(String, String)> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut name = "message".to_owned();
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim());
                    }
                }
                if data.is_empty() {
                    continue;
                }
                return Some((name, data));
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.response.chunk())
                .await
                .expect("an event within 10 s")
                .expect("the stream reads")?;
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// The next change, as JSON.
    pub(crate) async fn change(&mut self) -> Value {
        let (name, data) = self.next().await.expect("the stream is open");
        assert_eq!(name, "message", "{data}");
        serde_json::from_str(&data).unwrap()
    }
}

#[tokio::test]
async fn a_signed_in_page_hears_every_change_of_the_fleet_as_it_happens() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/events")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut events = Events {
        response,
        buffer: String::new(),
    };
    let (name, _) = events.next().await.unwrap();
    assert_eq!(name, "hello");
    assert!(events.buffer.is_empty() || !events.buffer.contains("data"));

    let (status, added) = app
        .api_post("/api/v1/servers", &json!({"id": "nas", "name": "NAS"}))
        .await;
    assert_eq!(status, 201, "{added}");
    let token = added["agent_token"].as_str().unwrap().to_owned();
    assert_eq!(
        events.change().await,
        json!({"kind": "server", "server": "nas"})
    );

    let hb = json!({"agent_version": "t", "os": "Debian", "reboot_required": false,
        "metrics": {"cpu_percent": 0, "memory_percent": 0, "disk_percent": 0,
                    "load_1": 0, "load_5": 0, "load_15": 0, "uptime_s": 0},
        "packages": []});
    let (status, _) = app
        .post_json("/agent/v1/heartbeat", Some(&token), &hb)
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        events.change().await,
        json!({"kind": "server", "server": "nas"}),
        "first seen"
    );

    let (status, action) = app
        .api_post(
            "/api/v1/servers/nas/actions",
            &json!({"action_type": "apt_update"}),
        )
        .await;
    assert_eq!(status, 201, "{action}");
    let id = action["id"].as_i64().unwrap();
    let on_action = json!({"kind": "action", "id": id, "server": "nas"});
    assert_eq!(events.change().await, on_action, "queued");
    app.agent_next(&token, 0).await.expect("claimed");
    assert_eq!(events.change().await, on_action, "claimed");

    let (status, body) = app
        .post_json(
            &format!("/agent/v1/actions/{id}/progress"),
            Some(&token),
            &json!({"stdout": "Hit:1 http://deb.debian.org bookworm InRelease\n"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        events.change().await,
        json!({"kind": "output", "id": id, "server": "nas"})
    );
    let (_, shown) = app.api_get(&format!("/api/v1/actions/{id}")).await;
    assert_eq!(
        shown["stdout"], "Hit:1 http://deb.debian.org bookworm InRelease\n",
        "the output so far is there for a page that loads now"
    );

    let (status, _) = app
        .post_json(
            &format!("/agent/v1/actions/{id}/result"),
            Some(&token),
            &json!({"exit_code": 0, "failure": null, "stdout": "all of it\n", "stderr": "",
                    "started_at": null, "finished_at": null}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(events.change().await, on_action, "finished");
}

#[tokio::test]
async fn a_stream_needs_a_session_and_says_so_without_redirecting() {
    let app = spawn_app().await;
    let anonymous = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = anonymous.get(app.url("/events")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("log in"),
        "{body}"
    );

    // An API token is not a dashboard session.
    let response = anonymous
        .get(app.url("/events"))
        .bearer_auth(&app.api_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
}

#[tokio::test]
async fn progress_with_oversized_or_unknown_output_is_refused_and_stores_nothing() {
    let app = spawn_app().await;
    let token = app.add_server("nas", "NAS").await;
    let (_, action) = app
        .api_post(
            "/api/v1/servers/nas/actions",
            &json!({"action_type": "apt_update"}),
        )
        .await;
    let id = action["id"].as_i64().unwrap();
    app.agent_next(&token, 0).await.expect("claimed");
    let path = format!("/agent/v1/actions/{id}/progress");
    let big = "x".repeat(homelab_protocol::MAX_CHUNK_BYTES + 1);
    for (body, expect) in [
        (json!({"stdout": big}), 422),
        (json!({"stdin": "x"}), 422),
        (json!({"stdout": 5}), 422),
    ] {
        let (status, answer) = app.post_json(&path, Some(&token), &body).await;
        assert_eq!(status, expect, "{body}: {answer}");
        assert!(!answer["message"].as_str().unwrap().is_empty(), "{answer}");
    }
    let (_, shown) = app.api_get(&format!("/api/v1/actions/{id}")).await;
    assert_eq!(shown["stdout"], "");
    // Another server's agent cannot write into this action's output.
    let other = app.add_server("pi", "Pi").await;
    let (status, _) = app
        .post_json(&path, Some(&other), &json!({"stdout": "forged\n"}))
        .await;
    assert_eq!(status, 403);
    let (_, shown) = app.api_get(&format!("/api/v1/actions/{id}")).await;
    assert_eq!(shown["stdout"], "");
}
