//! `/metrics`: Prometheus's text format, behind an API token, moving as a heartbeat
//! and an action go through.

use serde_json::json;

use crate::helpers::{TestApp, spawn_app};

/// The page as an API client (Prometheus with a bearer token) reads it.
async fn scrape(app: &TestApp) -> String {
    let response = reqwest::Client::new()
        .get(app.url("/metrics"))
        .bearer_auth(&app.api_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    response.text().await.unwrap()
}

/// The value of the sample `name` whose labels include `labels` (0 when there is
/// none yet). Every line is checked to be a comment or a `name{...} number` sample.
fn value(page: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let mut found = 0.0;
    for line in page
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (series, number) = line.rsplit_once(' ').expect("a sample line");
        let number: f64 = number.parse().unwrap_or_else(|_| panic!("{line}"));
        let (metric, rest) = series.split_once('{').unwrap_or((series, "}"));
        if metric != name {
            continue;
        }
        if labels
            .iter()
            .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
        {
            found = number;
        }
    }
    found
}

fn heartbeat() -> serde_json::Value {
    json!({"agent_version": "t", "os": "Debian", "reboot_required": false, "packages": [],
           "metrics": {"cpu_percent": 0, "memory_percent": 0, "disk_percent": 0,
                       "load_1": 0, "load_5": 0, "load_15": 0, "uptime_s": 0}})
}

#[tokio::test]
async fn metrics_move_as_a_heartbeat_and_an_action_go_through() {
    let app = spawn_app().await;
    let token = app.add_server("nas", "NAS").await;
    let before = scrape(&app).await;
    let accepted = [("result", "accepted")];
    let created = [
        ("method", "POST"),
        ("route", "/api/v1/servers/{id}/actions"),
        ("status", "201"),
    ];
    let completed = [("type", "apt_update"), ("status", "completed")];

    let (status, _) = app
        .post_json("/agent/v1/heartbeat", Some(&token), &heartbeat())
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .post_json("/agent/v1/heartbeat", Some("hca_wrong"), &heartbeat())
        .await;
    assert_eq!(status, 401);
    let middle = scrape(&app).await;
    assert_eq!(
        value(&middle, "homelab_heartbeats_total", &accepted)
            - value(&before, "homelab_heartbeats_total", &accepted),
        1.0
    );
    assert_eq!(
        value(
            &middle,
            "homelab_heartbeats_total",
            &[("result", "unauthorized")]
        ),
        1.0
    );
    assert_eq!(
        value(&middle, "homelab_servers", &[("status", "online")]),
        1.0
    );

    let (status, action) = app
        .api_post(
            "/api/v1/servers/nas/actions",
            &json!({"action_type": "apt_update"}),
        )
        .await;
    assert_eq!(status, 201, "{action}");
    let queued = scrape(&app).await;
    assert_eq!(
        value(
            &queued,
            "homelab_actions",
            &[("type", "apt_update"), ("status", "approved")]
        ),
        1.0,
        "the queue's depth"
    );
    assert_eq!(
        value(&queued, "homelab_http_requests_total", &created),
        1.0,
        "by route template, never the raw path"
    );
    let next = app.agent_next(&token, 0).await.expect("the action");
    let body = json!({"exit_code": 0, "failure": null, "stdout": "", "stderr": "",
                      "started_at": 1_000, "finished_at": 4_500});
    let (status, _) = app
        .post_json(
            &format!("/agent/v1/actions/{}/result", next["id"]),
            Some(&token),
            &body,
        )
        .await;
    assert_eq!(status, 200);
    // Sent again, as an agent does until acknowledged: counted once.
    app.post_json(
        &format!("/agent/v1/actions/{}/result", next["id"]),
        Some(&token),
        &body,
    )
    .await;

    let after = scrape(&app).await;
    assert_eq!(value(&after, "homelab_actions", &completed), 1.0);
    assert_eq!(
        value(
            &after,
            "homelab_actions",
            &[("type", "apt_update"), ("status", "approved")]
        ),
        0.0
    );
    let ran = [("type", "apt_update"), ("outcome", "completed")];
    assert_eq!(
        value(&after, "homelab_action_duration_seconds_count", &ran),
        1.0
    );
    assert_eq!(
        value(&after, "homelab_action_duration_seconds_sum", &ran),
        3.5
    );
    assert_eq!(
        value(
            &after,
            "homelab_action_duration_seconds_bucket",
            &[
                ("type", "apt_update"),
                ("outcome", "completed"),
                ("le", "5")
            ]
        ),
        1.0
    );
    assert_eq!(value(&after, "homelab_agent_long_polls_waiting", &[]), 0.0);
    assert!(value(&after, "homelab_db_pool_connections", &[("state", "idle")]) >= 0.0);
    assert!(
        value(
            &after,
            "homelab_http_request_duration_seconds_count",
            &[("route", "/agent/v1/heartbeat")]
        ) >= 2.0
    );
}

#[tokio::test]
async fn metrics_need_a_token_and_made_up_paths_and_methods_make_no_labels() {
    let app = spawn_app().await;
    let anonymous = reqwest::Client::new();
    let refused = anonymous.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    let refused = anonymous
        .get(app.url("/metrics"))
        .bearer_auth("hct_wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    // Hostile paths and methods: counted, under fixed labels.
    for path in [
        "/no/such/page-1234",
        "/api/v1/servers/<script>/x",
        "/%2e%2e/etc",
    ] {
        anonymous.get(app.url(path)).send().await.unwrap();
    }
    anonymous
        .request(
            reqwest::Method::from_bytes(b"BREW").unwrap(),
            app.url("/metrics"),
        )
        .send()
        .await
        .unwrap();
    let page = scrape(&app).await;
    assert!(!page.contains("page-1234") && !page.contains("script") && !page.contains("BREW"));
    assert!(
        value(
            &page,
            "homelab_http_requests_total",
            &[("route", "unmatched")]
        ) >= 1.0
    );
    assert!(value(&page, "homelab_http_requests_total", &[("method", "other")]) >= 1.0);
}
