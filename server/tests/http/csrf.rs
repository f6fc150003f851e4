//! Writes carried by the session cookie come from the dashboard's own origin only;
//! the JSON API takes `application/json` and nothing after it. Router tests.

use axum::body::Body;
use homelab_app::api::ListServers;
use leptos::server_fn::ServerFn;

use crate::helpers::{TEST_HOST, TEST_PASSWORD, TEST_USER, TestRouter, test_router};

const ADD_SERVER: &str = r#"{"id": "web1", "name": "Web"}"#;

/// POSTs a new server to the JSON API with the session cookie and `headers`.
async fn add_with_cookie(app: &TestRouter, id: &str, headers: &[(&str, &str)]) -> u16 {
    let mut request = app
        .request("POST", "/api/v1/servers")
        .header("cookie", &app.session_cookie)
        .header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let body = format!(r#"{{"id": "{id}", "name": "Web"}}"#);
    app.send(request.body(Body::from(body)).unwrap())
        .await
        .status
}

#[tokio::test]
async fn a_cookie_borne_write_from_another_origin_is_refused() {
    let app = test_router().await;
    let own = format!("http://{TEST_HOST}");
    let refused: &[&[(&str, &str)]] = &[
        &[("origin", "http://evil.example")],
        // Another port of the same host: SameSite=Strict lets the cookie through.
        &[("origin", "http://dash.test:8080")],
        &[("origin", "http://sub.dash.test:3000")],
        &[("origin", "null")],
        &[("sec-fetch-site", "same-site")],
        &[("sec-fetch-site", "cross-site")],
        &[
            ("origin", "http://evil.example"),
            ("sec-fetch-site", "same-origin"),
        ],
    ];
    for headers in refused {
        assert_eq!(
            add_with_cookie(&app, "web1", headers).await,
            403,
            "{headers:?}"
        );
    }
    assert!(
        app.service.list_servers().await.unwrap().is_empty(),
        "nothing was added"
    );

    let accepted: &[&[(&str, &str)]] = &[
        &[("origin", own.as_str())],
        &[("sec-fetch-site", "same-origin")],
        // No browser sends neither on a POST: curl and scripts do.
        &[],
    ];
    for (i, headers) in accepted.iter().enumerate() {
        assert_eq!(
            add_with_cookie(&app, &format!("web{i}"), headers).await,
            201,
            "{headers:?}"
        );
    }
}

#[tokio::test]
async fn server_functions_logout_and_login_are_guarded_too() {
    let app = test_router().await;
    let server_fn = app
        .send(
            app.request("POST", <ListServers as ServerFn>::PATH)
                .header("cookie", &app.session_cookie)
                .header("origin", "http://evil.example")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(server_fn.status, 403, "{}", server_fn.body);
    assert_eq!(server_fn.json()["code"], "CROSS_ORIGIN");

    let logout = app
        .send(
            app.request("POST", "/logout")
                .header("cookie", &app.session_cookie)
                .header("sec-fetch-site", "cross-site")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(logout.status, 403);
    assert_eq!(
        app.get_with_session("/").await.status,
        200,
        "still logged in"
    );

    // Login CSRF: signing the victim in as the attacker's account.
    let login = app
        .send(
            app.request("POST", "/login")
                .header("origin", "http://evil.example")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from(format!(
                    "username={TEST_USER}&password={}&next=%2F",
                    TEST_PASSWORD.replace(' ', "+")
                )))
                .unwrap(),
        )
        .await;
    assert_eq!(login.status, 403);
    assert_eq!(login.header("set-cookie"), "");

    // The same from the dashboard itself works.
    let server_fn = app
        .send(
            app.request("POST", <ListServers as ServerFn>::PATH)
                .header("cookie", &app.session_cookie)
                .header("origin", format!("http://{TEST_HOST}"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(server_fn.status, 200, "{}", server_fn.body);
}

#[tokio::test]
async fn a_bearer_token_is_not_subject_to_the_origin_check() {
    let app = test_router().await;
    let answer = app
        .send(
            app.request("POST", "/api/v1/servers")
                .header("authorization", format!("Bearer {}", app.api_token))
                .header("origin", "http://automation.example")
                .header("content-type", "application/json")
                .body(Body::from(ADD_SERVER))
                .unwrap(),
        )
        .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
}

#[tokio::test]
async fn the_json_api_takes_declared_json_and_nothing_after_it() {
    let app = test_router().await;
    let send = |content_type: Option<&'static str>, body: &'static str| {
        let mut request = app
            .request("POST", "/api/v1/servers")
            .header("cookie", &app.session_cookie);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        app.send(request.body(Body::from(body)).unwrap())
    };
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
    ] {
        let answer = send(content_type, ADD_SERVER).await;
        assert_eq!(answer.status, 415, "{content_type:?}");
        assert_eq!(answer.json()["code"], "UNSUPPORTED_MEDIA_TYPE");
    }
    for body in [
        r#"{"id": "web1", "name": "Web"} {"id": "web2"}"#,
        r#"{"id": "web1", "name": "Web"}x"#,
    ] {
        let answer = send(Some("application/json"), body).await;
        assert_eq!(answer.status, 400, "{body}");
        assert_eq!(answer.json()["code"], "BAD_JSON");
    }
    assert!(app.service.list_servers().await.unwrap().is_empty());
    let answer = send(Some("application/json; charset=utf-8"), ADD_SERVER).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
}
