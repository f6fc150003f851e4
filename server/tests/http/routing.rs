//! Access is decided by the route matched, not by a prefix of the raw path; and
//! every error from the APIs is JSON `{code, message}`, axum's own rejections
//! included. Router tests: `oneshot`, no socket.

use axum::body::Body;
use homelab_app::api::ListServers;
use leptos::server_fn::ServerFn;

use crate::helpers::test_router;

#[tokio::test]
async fn dot_segments_never_reach_a_protected_page() {
    let app = test_router().await;
    app.service
        .add_server(
            homelab_protocol::ServerId::parse("web1").unwrap(),
            homelab_protocol::ServerName::parse("Web").unwrap(),
        )
        .await
        .unwrap();
    for path in [
        "/agent/../actions",
        "/pkg/../servers/web1",
        "/api/v1/../../actions",
        "/agent/%2e%2e/actions",
        "/pkg/.%2E/servers/web1",
        "/healthz/../actions",
        "/login/../actions",
        "/./actions",
    ] {
        let answer = app.get_anonymous(path).await;
        assert_eq!(answer.status, 400, "{path}: {}", answer.body);
        assert_eq!(answer.json()["code"], "BAD_PATH", "{path}");
        assert!(!answer.body.contains("Action history"), "{path}");
        // Not even with a session: the path is refused, not resolved.
        let answer = app.get_with_session(path).await;
        assert_eq!(answer.status, 400, "{path}");
    }
}

#[tokio::test]
async fn every_protected_route_refuses_a_stranger_in_its_own_way() {
    let app = test_router().await;
    for page in ["/", "/actions", "/actions/1", "/servers/web1", "/nowhere"] {
        let answer = app.get_anonymous(page).await;
        assert_eq!(answer.status, 303, "{page}");
        assert!(
            answer.header("location").starts_with("/login?next="),
            "{page}"
        );
    }
    let answer = app.get_anonymous("/api/v1/servers").await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.json()["code"], "UNAUTHORIZED");
    let server_fn = app
        .send(
            app.request("POST", <ListServers as ServerFn>::PATH)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(server_fn.status, 401);
    assert_eq!(server_fn.json()["code"], "UNAUTHORIZED");
    let agent = app.get_anonymous("/agent/v1/actions/next?wait=0").await;
    assert_eq!(agent.status, 401);
    // The public routes stay public.
    assert_eq!(app.get_anonymous("/healthz").await.status, 200);
    let login = app.get_anonymous("/login").await;
    assert_eq!(login.status, 200);
    assert!(login.body.contains("Log in"));
}

#[tokio::test]
async fn axum_rejections_and_unknown_routes_answer_in_json() {
    let app = test_router().await;
    let post = |path: &str| {
        app.request("POST", path)
            .header("authorization", format!("Bearer {}", app.api_token))
            .body(Body::empty())
            .unwrap()
    };
    let cases = [
        (
            app.send(post("/api/v1/actions/abc/approve")).await,
            400,
            "INVALID_PATH",
        ),
        (
            app.get_with_token("/api/v1/actions/abc").await,
            400,
            "INVALID_PATH",
        ),
        (
            app.get_with_token("/api/v1/actions?limit=abc").await,
            400,
            "INVALID_QUERY",
        ),
        (
            app.get_with_token("/api/v1/actions?nonsense=1").await,
            400,
            "INVALID_QUERY",
        ),
        (
            app.get_with_token("/api/v1/nowhere").await,
            404,
            "NOT_FOUND",
        ),
        (app.get_with_token("/api/nowhere").await, 404, "NOT_FOUND"),
        (app.get_anonymous("/api/v1/nowhere").await, 404, "NOT_FOUND"),
        (
            app.send(post("/api/v1/actions")).await,
            405,
            "METHOD_NOT_ALLOWED",
        ),
        (
            app.send(
                app.request("DELETE", "/api/v1/servers")
                    .header("authorization", format!("Bearer {}", app.api_token))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await,
            405,
            "METHOD_NOT_ALLOWED",
        ),
        (
            app.get_anonymous("/agent/v1/nowhere").await,
            404,
            "NOT_FOUND",
        ),
        (
            app.get_anonymous("/agent/v1/heartbeat").await,
            405,
            "METHOD_NOT_ALLOWED",
        ),
        (
            app.send(
                app.request("GET", "/agent/v1/actions/next?wait=soon")
                    .header("authorization", "Bearer hca_x")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await,
            400,
            "INVALID_QUERY",
        ),
        (
            app.send(
                app.request("POST", "/agent/v1/actions/abc/result")
                    .header("authorization", "Bearer hca_x")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await,
            400,
            "INVALID_PATH",
        ),
    ];
    for (answer, status, code) in cases {
        assert_eq!(answer.status, status, "{}", answer.body);
        let body = answer.json();
        assert_eq!(body["code"], code, "{body}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
        assert!(
            answer
                .header("content-type")
                .starts_with("application/json"),
            "{body}"
        );
    }
}
