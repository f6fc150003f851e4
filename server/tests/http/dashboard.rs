use crate::helpers::spawn_app;

#[tokio::test]
async fn a_fresh_fleet_page_is_rendered_on_the_server_with_its_empty_state() {
    let app = spawn_app().await;
    let (status, html) = app.get("/").await;
    assert_eq!(status, 200);
    assert!(html.contains("No servers yet"), "{html}");
    assert!(html.contains("homelab-cmd server add"), "{html}");
    // The page loads the bundle that hydrates it.
    assert!(html.contains("/pkg/homelab-cmd.js"), "{html}");
}

#[tokio::test]
async fn servers_in_the_database_are_rendered_in_the_fleet_table() {
    let app = spawn_app().await;
    app.add_server("nas-01", "Attic NAS").await;
    let (status, html) = app.get("/").await;
    assert_eq!(status, 200);
    assert!(html.contains("Attic NAS"), "{html}");
    assert!(html.contains("nas-01"), "{html}");
    assert!(html.contains("Waiting for agent"), "{html}");
    assert!(!html.contains("No servers yet"), "{html}");
}

#[tokio::test]
async fn an_unknown_page_is_a_404_with_the_not_found_page() {
    let app = spawn_app().await;
    let (status, html) = app.get("/nowhere").await;
    assert_eq!(status, 404);
    assert!(html.contains("Page not found"), "{html}");
}

#[tokio::test]
async fn the_server_page_shows_metrics_and_packages_security_first() {
    let app = spawn_app().await;
    let token = app.add_server("nas", "Attic NAS").await;
    let hb = serde_json::json!({
        "agent_version": "0.1.0", "os": "Debian GNU/Linux 12 (bookworm)", "hostname": "attic",
        "metrics": {"cpu_percent": 12.0, "memory_percent": 40.0, "disk_percent": 71.0,
                    "load_1": 0.5, "load_5": 0.4, "load_15": 0.3, "uptime_s": 90000},
        "reboot_required": false,
        "packages": [
            {"name": "curl", "current_version": "7.88.1-10", "new_version": "7.88.1-10+deb12u8",
             "repository": "bookworm-updates", "is_security": false, "security_version": null,
             "held": false, "kept_back": false},
            {"name": "openssl", "current_version": "3.0.11-1", "new_version": "3.0.15-1",
             "repository": "bookworm-security", "is_security": true, "security_version": "3.0.15-1",
             "held": false, "kept_back": false}
        ]
    });
    let (status, _) = app
        .post_json("/agent/v1/heartbeat", Some(&token), &hb)
        .await;
    assert_eq!(status, 200);

    let (status, html) = app.get("/servers/nas").await;
    assert_eq!(status, 200);
    for text in [
        "Attic NAS",
        "attic",
        "Debian GNU/Linux 12 (bookworm)",
        "1 d 1 h",
        "Online",
    ] {
        assert!(html.contains(text), "{text} missing");
    }
    let openssl = html.find(">openssl<").expect("openssl row");
    let curl = html.find(">curl<").expect("curl row");
    assert!(openssl < curl, "security updates come first");

    let (_, filtered) = app.get("/servers/nas?only=security").await;
    assert!(filtered.contains(">openssl<"));
    assert!(
        !filtered.contains(">curl<"),
        "the security filter hides curl"
    );
}

#[tokio::test]
async fn an_unknown_server_page_is_a_404() {
    let app = spawn_app().await;
    let (status, html) = app.get("/servers/ghost").await;
    assert_eq!(status, 404);
    assert!(html.contains("No such server"), "{html}");
}

#[tokio::test]
async fn a_server_that_never_reported_says_it_waits_for_its_agent() {
    let app = spawn_app().await;
    let token = app.add_server("nas", "Attic NAS").await;
    let (_, page) = app.get("/servers/nas").await;
    assert!(page.contains("Waiting for the agent."), "{page}");
    assert!(page.contains("No package list yet"), "{page}");
    assert!(!page.contains("Everything is up to date"), "{page}");
    let (_, fleet) = app.get("/").await;
    assert!(
        fleet.contains("class=\"num\">—</td>"),
        "no 0/0 before a report: {fleet}"
    );

    let hb = serde_json::json!({
        "agent_version": "0.1.0", "os": "Debian", "packages": [],
        "metrics": {"cpu_percent": 1.0, "memory_percent": 1.0, "disk_percent": 1.0,
                    "load_1": 0.0, "load_5": 0.0, "load_15": 0.0, "uptime_s": 1},
        "reboot_required": false
    });
    let (status, _) = app
        .post_json("/agent/v1/heartbeat", Some(&token), &hb)
        .await;
    assert_eq!(status, 200);
    let (_, page) = app.get("/servers/nas").await;
    assert!(!page.contains("Waiting for the agent."), "{page}");
    assert!(page.contains("Everything is up to date"), "{page}");
    // Buttons with nothing to do say so.
    assert!(page.contains("No updates to apply"), "{page}");
    assert!(page.contains("No security updates"), "{page}");
    assert!(!page.contains("Apply security updates (0)"), "{page}");
}

#[tokio::test]
async fn the_history_page_carries_server_ids_for_its_filter_not_the_fleet() {
    let app = spawn_app().await;
    app.add_server("nas-01", "Attic NAS with a name only the fleet shows")
        .await;
    let (status, html) = app.get("/actions").await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"<option value="nas-01""#), "{html}");
    // The fleet's summaries (names, counts) are neither rendered nor in the
    // hydration data: the filter needs the ids only.
    assert!(!html.contains("only the fleet shows"), "{html}");
}
