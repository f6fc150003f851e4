//! Sign-in: every page and server function needs a session; cookies are HttpOnly and
//! SameSite=Strict; logout revokes.

use homelab_app::api::ListServers;
use leptos::server_fn::ServerFn;

use crate::helpers::{TEST_PASSWORD, TEST_USER, spawn_app};

fn anonymous() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn every_page_sends_a_stranger_to_the_login() {
    let app = spawn_app().await;
    for path in [
        "/",
        "/servers/nas",
        "/actions",
        "/actions?status=failed",
        "/actions/1",
        "/nowhere",
    ] {
        let response = anonymous().get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 303, "{path}");
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        assert!(
            location.starts_with("/login?next=%2F"),
            "{path} -> {location}"
        );
    }
    let login = anonymous().get(app.url("/login")).send().await.unwrap();
    assert_eq!(login.status().as_u16(), 200);
    let html = login.text().await.unwrap();
    assert!(html.contains("Username") && html.contains("Password") && html.contains("Log in"));
}

#[tokio::test]
async fn server_functions_and_the_api_refuse_a_stranger() {
    let app = spawn_app().await;
    let server_fn = anonymous()
        .post(app.url(<ListServers as ServerFn>::PATH))
        .send()
        .await
        .unwrap();
    assert_eq!(server_fn.status().as_u16(), 401);
    let api = anonymous()
        .get(app.url("/api/v1/servers"))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status().as_u16(), 401);
}

#[tokio::test]
async fn a_session_cookie_is_httponly_and_strict_and_secure_behind_tls() {
    let app = spawn_app().await;
    let login = |proto: Option<&'static str>| {
        let mut request = anonymous().post(app.url("/login")).form(&[
            ("username", TEST_USER),
            ("password", TEST_PASSWORD),
            ("next", "/actions"),
        ]);
        if let Some(proto) = proto {
            request = request.header("x-forwarded-proto", proto);
        }
        request.send()
    };
    let plain = login(None).await.unwrap();
    assert_eq!(plain.status().as_u16(), 303);
    assert_eq!(plain.headers()["location"], "/actions");
    let cookie = plain.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "{cookie}");
    let tls = login(Some("https")).await.unwrap();
    assert!(
        tls.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("; Secure")
    );
}

#[tokio::test]
async fn a_wrong_password_goes_back_to_the_login_with_an_error() {
    let app = spawn_app().await;
    let response = anonymous()
        .post(app.url("/login"))
        .form(&[
            ("username", TEST_USER),
            ("password", "nope"),
            ("next", "https://evil.example/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 303);
    assert!(response.headers().get("set-cookie").is_none());
    let location = response.headers()["location"].to_str().unwrap();
    assert!(location.starts_with("/login?error="), "{location}");
    assert!(
        !location.contains("evil"),
        "never redirects off-site: {location}"
    );
}

#[tokio::test]
async fn logging_out_revokes_the_session() {
    let app = spawn_app().await;
    assert_eq!(app.get("/").await.0, 200, "logged in");
    let response = app.client.post(app.url("/logout")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(app.get("/").await.0, 303, "the session is gone");
}

#[tokio::test]
async fn the_api_accepts_a_dashboard_session_and_records_the_user() {
    let app = spawn_app().await;
    app.add_server("nas", "NAS").await;
    let response = app
        .client
        .post(app.url("/api/v1/servers/nas/actions"))
        .json(&serde_json::json!({"action_type": "apt_update"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    let action: serde_json::Value = response.json().await.unwrap();
    assert_eq!(action["created_by"], TEST_USER);
}
