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
    assert!(html.contains("Never seen"), "{html}");
    assert!(!html.contains("No servers yet"), "{html}");
}

#[tokio::test]
async fn an_unknown_page_is_a_404_with_the_not_found_page() {
    let app = spawn_app().await;
    let (status, html) = app.get("/nowhere").await;
    assert_eq!(status, 404);
    assert!(html.contains("Page not found"), "{html}");
}
