//! `POST /agent/v1/heartbeat`: the package-list semantics and bad input.

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

fn package(name: &str, security: Option<&str>) -> Value {
    json!({
        "name": name, "current_version": "1.0-1", "new_version": "1.1-1",
        "repository": if security.is_some() { "bookworm-security" } else { "bookworm-updates" },
        "is_security": security.is_some(), "security_version": security,
        "held": false, "kept_back": false
    })
}

fn heartbeat(packages: Option<Vec<Value>>) -> Value {
    let mut hb = json!({
        "agent_version": "0.1.0", "os": "Debian GNU/Linux 12 (bookworm)", "hostname": "nas",
        "metrics": {"cpu_percent": 12.5, "memory_percent": 40.0, "disk_percent": 71.2,
                    "load_1": 0.5, "load_5": 0.4, "load_15": 0.3, "uptime_s": 86400},
        "reboot_required": true,
        "reboot_required_pkgs": ["linux-image-amd64", "libc6"]
    });
    if let Some(packages) = packages {
        hb["packages"] = Value::Array(packages);
    }
    hb
}

async fn names(app: &TestApp, id: &str) -> Vec<String> {
    let (status, body) = app.api_get(&format!("/api/v1/servers/{id}/packages")).await;
    assert_eq!(status, 200, "{body}");
    body["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_heartbeat_stores_metrics_and_packages_and_brings_the_server_online() {
    let app = spawn_app().await;
    let token = app.add_server("nas", "NAS").await;
    let hb = heartbeat(Some(vec![
        package("openssl", Some("1.1-1")),
        package("curl", None),
    ]));
    let (status, body) = app
        .post_json("/agent/v1/heartbeat", Some(&token), &hb)
        .await;
    assert_eq!((status, body), (200, json!({"heartbeat_interval_s": 60})));

    let (_, server) = app.api_get("/api/v1/servers/nas").await;
    assert_eq!(server["status"], "online");
    assert_eq!(server["reboot_required"], true);
    assert_eq!(
        server["reboot_required_pkgs"],
        json!(["linux-image-amd64", "libc6"])
    );
    assert_eq!(server["os"], "Debian GNU/Linux 12 (bookworm)");
    assert_eq!(server["metrics"]["disk_percent"], 71.2);
    assert_eq!(server["updates"], 2);
    assert_eq!(server["security_updates"], 1);
    // Security first.
    assert_eq!(names(&app, "nas").await, ["openssl", "curl"]);
}

#[tokio::test]
async fn an_absent_list_keeps_the_packages_and_an_empty_one_clears_them() {
    let app = spawn_app().await;
    let token = app.add_server("nas", "NAS").await;
    let list = Some(vec![package("curl", None)]);
    app.post_json("/agent/v1/heartbeat", Some(&token), &heartbeat(list))
        .await;

    app.post_json("/agent/v1/heartbeat", Some(&token), &heartbeat(None))
        .await;
    assert_eq!(names(&app, "nas").await, ["curl"]);

    app.post_json(
        "/agent/v1/heartbeat",
        Some(&token),
        &heartbeat(Some(vec![])),
    )
    .await;
    assert!(names(&app, "nas").await.is_empty());
}

#[tokio::test]
async fn a_package_still_pending_keeps_its_first_seen_time() {
    let app = spawn_app().await;
    let token = app.add_server("nas", "NAS").await;
    let id = homelab_protocol::ServerId::parse("nas").unwrap();
    let first = Some(vec![package("curl", None)]);
    app.post_json("/agent/v1/heartbeat", Some(&token), &heartbeat(first))
        .await;
    let before = app.service.package_first_seen(&id).await.unwrap();

    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let second = Some(vec![package("curl", None), package("vim", None)]);
    app.post_json("/agent/v1/heartbeat", Some(&token), &heartbeat(second))
        .await;
    let after = app.service.package_first_seen(&id).await.unwrap();

    assert_eq!(after.len(), 2);
    assert_eq!(after[0], before[0], "curl keeps its first-seen time");
    assert!(after[1].1 > before[0].1, "vim is new");
}

#[tokio::test]
async fn bad_heartbeats_get_a_4xx_with_a_message_and_store_nothing() {
    let app = spawn_app().await;
    let token = app.add_server("nas", "NAS").await;
    let mut negative = heartbeat(Some(vec![package("curl", None)]));
    negative["metrics"]["cpu_percent"] = json!(-5.0);
    let mut hostile = heartbeat(None);
    hostile["packages"] = json!([package("-o", None)]);
    // A trailing '-' would make `apt-get install pkg=1.1-1-` remove the package.
    let mut removal = heartbeat(None);
    removal["packages"] = json!([package("hl-normal", Some("1.1-1-"))]);
    let mut boot_shell = heartbeat(None);
    boot_shell["boot_id"] = json!("$(reboot)-0000-4000-8000-000000000000");
    let mut boot_long = heartbeat(None);
    boot_long["boot_id"] = json!("0".repeat(100_000));
    let mut boot_number = heartbeat(None);
    boot_number["boot_id"] = json!(12);
    let huge: Vec<Value> = (0..40_000)
        .map(|i| package(&format!("pkg{i}"), None))
        .collect();

    let cases = [
        (None, heartbeat(None), 401, "token"),
        (
            Some("hca_wrong"),
            heartbeat(None),
            401,
            "unknown agent token",
        ),
        (
            Some(token.as_str()),
            json!({"os": "x"}),
            422,
            "missing field",
        ),
        (Some(token.as_str()), negative, 422, "metrics.cpu_percent"),
        (Some(token.as_str()), hostile, 422, "packages[0]"),
        (Some(token.as_str()), removal, 422, "hl-normal"),
        (Some(token.as_str()), boot_shell, 422, "boot_id"),
        (Some(token.as_str()), boot_long, 422, "boot_id"),
        (Some(token.as_str()), boot_number, 422, "boot_id"),
        (
            Some(token.as_str()),
            heartbeat(Some(huge)),
            413,
            "larger than",
        ),
    ];
    for (token, body, status, message) in cases {
        let (got, answer) = app.post_json("/agent/v1/heartbeat", token, &body).await;
        assert_eq!(got, status, "{answer}");
        let text = answer["message"].as_str().unwrap();
        assert!(
            text.contains(message),
            "{text:?} should mention {message:?}"
        );
    }
    let (_, server) = app.api_get("/api/v1/servers/nas").await;
    assert_eq!(server["status"], "unknown", "nothing was stored");
    assert!(names(&app, "nas").await.is_empty());
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_400() {
    let app = spawn_app().await;
    let token = app.add_server("nas", "NAS").await;
    let response = app
        .client
        .post(app.url("/agent/v1/heartbeat"))
        .bearer_auth(token)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
}
