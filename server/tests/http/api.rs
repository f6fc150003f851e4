//! The JSON API's server routes.

use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn adding_a_server_returns_its_token_once_and_lists_it() {
    let app = spawn_app().await;
    let (status, body) = app
        .post_json(
            "/api/v1/servers",
            Some(&app.api_token),
            &json!({"id": "web-1", "name": "Web"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["id"], "web-1");
    assert!(body["agent_token"].as_str().unwrap().starts_with("hca_"));

    let (status, list) = app.api_get("/api/v1/servers").await;
    assert_eq!(status, 200);
    assert_eq!(list[0]["id"], "web-1");
    assert_eq!(list[0]["status"], "unknown");
    assert!(list[0].get("agent_token").is_none());
}

#[tokio::test]
async fn bad_server_requests_are_refused_with_the_field_named() {
    let app = spawn_app().await;
    let token = Some(app.api_token.as_str());
    let cases = [
        (json!({"id": "Web", "name": "x"}), 422, "id:"),
        (json!({"id": "web", "name": "  "}), 422, "name:"),
        (json!({"id": "web"}), 422, "name"),
        (
            json!({"id": "web", "name": "x", "admin": true}),
            422,
            "admin",
        ),
    ];
    for (body, status, message) in cases {
        let (got, answer) = app.post_json("/api/v1/servers", token, &body).await;
        assert_eq!(got, status, "{answer}");
        assert!(
            answer["message"].as_str().unwrap().contains(message),
            "{answer}"
        );
    }
    app.post_json("/api/v1/servers", token, &json!({"id": "web", "name": "x"}))
        .await;
    let (got, answer) = app
        .post_json("/api/v1/servers", token, &json!({"id": "web", "name": "y"}))
        .await;
    assert_eq!((got, answer["code"].as_str()), (409, Some("CONFLICT")));
}

#[tokio::test]
async fn the_api_needs_a_valid_token() {
    let app = spawn_app().await;
    // A client without the test's dashboard session.
    let stranger = reqwest::Client::new();
    let response = stranger
        .get(app.url("/api/v1/servers"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let agent_token = app.add_server("nas", "NAS").await;
    let response = stranger
        .get(app.url("/api/v1/servers"))
        .bearer_auth(agent_token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status().as_u16(),
        401,
        "an agent token is not an API token"
    );
}

#[tokio::test]
async fn unknown_servers_are_404() {
    let app = spawn_app().await;
    for path in [
        "/api/v1/servers/ghost",
        "/api/v1/servers/ghost/packages",
        "/api/v1/servers/NOT%20AN%20ID",
    ] {
        let (status, body) = app.api_get(path).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (404, Some("NOT_FOUND")),
            "{path}"
        );
    }
}
