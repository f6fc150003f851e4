//! `/login` is bounded and sends the browser only to its own pages. Router tests.

use axum::body::Body;

use homelab_server::service::LoginError;

use crate::helpers::{TEST_PASSWORD, TEST_USER, TestRouter, test_router};

/// POSTs the login form with `next`; returns the status and the Location.
async fn login(app: &TestRouter, password: &str, next: &str) -> (u16, String) {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("username", TEST_USER)
        .append_pair("password", password)
        .append_pair("next", next)
        .finish();
    let answer = app
        .send(
            app.request("POST", "/login")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from(body))
                .unwrap(),
        )
        .await;
    (answer.status, answer.header("location").to_owned())
}

#[tokio::test]
async fn after_login_only_local_paths_are_followed() {
    let app = test_router().await;
    for next in [
        "/\\evil.example/",
        "/\t/evil.example/",
        "/%09/evil.example/",
        "//evil.example",
        "//evil.example/path",
        "/\\/evil.example",
        "\\\\evil.example",
        "https://evil.example/",
        "http:evil.example",
        "javascript:alert(1)",
        "/\r\nSet-Cookie: x=1",
        "",
    ] {
        let (status, location) = login(&app, TEST_PASSWORD, next).await;
        assert_eq!((status, location.as_str()), (303, "/"), "{next:?}");
    }
    let (status, location) = login(&app, TEST_PASSWORD, "/actions?status=failed").await;
    assert_eq!((status, location.as_str()), (303, "/actions?status=failed"));
    // A failed login keeps only a local `next` too.
    let (_, location) = login(&app, "wrong", "//evil.example").await;
    assert_eq!(location, "/login?error=credentials&next=%2F");
}

#[tokio::test]
async fn a_large_login_form_is_refused_before_it_is_read() {
    let app = test_router().await;
    let body = format!("username={}&password=x", "a".repeat(8 * 1024));
    let answer = app
        .send(
            app.request("POST", "/login")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from(body))
                .unwrap(),
        )
        .await;
    assert_eq!(answer.status, 413);
}

#[tokio::test]
async fn parallel_guesses_queue_behind_the_per_name_delay() {
    let app = test_router().await;
    // 40 wrong guesses at once: the first few are checked one slot after another,
    // the rest are refused without a password check. A browser's attempt right
    // after them is refused too, and told why.
    let guesses = (0..40).map(|_| app.service.login(TEST_USER, "wrong guess"));
    let (results, (status, location)) = tokio::join!(
        futures::future::join_all(guesses),
        login(&app, TEST_PASSWORD, "/")
    );
    let count = |wanted: fn(&LoginError) -> bool| {
        results
            .iter()
            .filter(|r| r.as_ref().err().is_some_and(wanted))
            .count()
    };
    let checked = count(|e| matches!(e, LoginError::WrongCredentials));
    let throttled = count(|e| matches!(e, LoginError::Throttled));
    assert_eq!(checked + throttled, 40);
    assert!(checked <= 8, "{checked} guesses were checked");
    assert_eq!(status, 303);
    assert!(location.starts_with("/login?error=throttled"), "{location}");
}
