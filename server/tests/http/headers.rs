//! Security headers on every response: pages, APIs, static files and errors; the
//! CSP nonce is new on each response and is the one the page's scripts carry.

use axum::body::Body;

use crate::helpers::test_router;

const FIXED: [(&str, &str); 3] = [
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
];

#[tokio::test]
async fn every_kind_of_response_carries_the_security_headers() {
    let app = test_router().await;
    let answers = [
        ("page", app.get_with_session("/").await),
        ("login page", app.get_anonymous("/login").await),
        ("redirect", app.get_anonymous("/actions").await),
        ("404 page", app.get_with_session("/nowhere").await),
        ("API", app.get_with_token("/api/v1/servers").await),
        ("API error", app.get_anonymous("/api/v1/servers").await),
        ("API 404", app.get_with_token("/api/v1/nowhere").await),
        ("static", app.get_anonymous("/pkg/homelab-cmd.js").await),
        ("health", app.get_anonymous("/healthz").await),
        ("bad path", app.get_anonymous("/agent/../actions").await),
        (
            "cross-origin refusal",
            app.send(
                app.request("POST", "/logout")
                    .header("origin", "http://evil.example")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await,
        ),
    ];
    for (what, answer) in &answers {
        for (name, value) in FIXED {
            assert_eq!(answer.header(name), value, "{what}: {name}");
        }
        let csp = answer.header("content-security-policy");
        for directive in [
            "default-src 'self'",
            "script-src 'self' 'nonce-",
            "style-src 'self';",
            "img-src 'self' data:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
            "form-action 'self'",
        ] {
            assert!(
                csp.contains(directive),
                "{what}: {directive} missing from {csp}"
            );
        }
        assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
        assert_eq!(
            answer.header("strict-transport-security"),
            "",
            "{what}: plain HTTP"
        );
    }
}

#[tokio::test]
async fn hsts_is_sent_behind_tls() {
    let app = test_router().await;
    for path in ["/login", "/api/v1/servers", "/healthz"] {
        let answer = app
            .send(
                app.request("GET", path)
                    .header("x-forwarded-proto", "https")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert!(
            answer
                .header("strict-transport-security")
                .starts_with("max-age="),
            "{path}"
        );
    }
}

/// The nonce of a CSP header.
fn nonce(csp: &str) -> &str {
    let start = csp.find("'nonce-").expect("a nonce") + "'nonce-".len();
    let end = start + csp[start..].find('\'').expect("closing quote");
    &csp[start..end]
}

#[tokio::test]
async fn the_page_scripts_carry_the_nonce_of_their_own_response() {
    let app = test_router().await;
    let first = app.get_with_session("/").await;
    let second = app.get_with_session("/").await;
    let (a, b) = (
        nonce(first.header("content-security-policy")).to_owned(),
        nonce(second.header("content-security-policy")).to_owned(),
    );
    assert_ne!(a, b, "a new nonce per response");
    // Every inline or module script of the page carries the response's nonce.
    let scripts = first.body.matches("<script").count();
    assert!(scripts > 0, "{}", first.body);
    assert_eq!(
        first
            .body
            .matches(&format!("<script type=\"module\" nonce=\"{a}\""))
            .count()
            + first
                .body
                .matches(&format!("<script nonce=\"{a}\""))
                .count(),
        scripts,
        "{}",
        first.body
    );
    assert!(!first.body.contains(&b));
}
