//! Dashboard sign-in: `POST /login`, `POST /logout`, and the middleware that keeps
//! every page and server function behind a session. Plain forms and redirects, so
//! they work without JavaScript.

use axum::extract::{Form, Request, State};
use axum::http::header::{COOKIE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use homelab_app::api::ssr::SessionUser;
use serde::Deserialize;

use crate::http::ApiError;
use crate::service::{LoginError, SESSION_LIFETIME, Service};

/// The session cookie's name.
pub const COOKIE_NAME: &str = "hlc_session";

/// The session token of the request's cookie, if any.
pub fn session_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == COOKIE_NAME && !value.is_empty()).then_some(value)
        })
}

/// The signed-in user of the request, if any.
pub async fn session_user(
    service: &Service,
    headers: &HeaderMap,
) -> Result<Option<String>, ApiError> {
    match session_token(headers) {
        Some(token) => Ok(service.session_user(token).await?),
        None => Ok(None),
    }
}

/// Paths that need no session: the login page, static files, health, and the two
/// APIs, which check their own credentials.
fn is_public(path: &str) -> bool {
    path == "/login"
        || path == "/logout"
        || path == "/healthz"
        || path == "/favicon.svg"
        || path.starts_with("/pkg/")
        || path.starts_with("/agent/")
        || path.starts_with("/api/v1/")
}

/// Lets a request through with its [`SessionUser`], or sends it to the login page
/// (server functions get a 401).
pub async fn require_session(
    State(service): State<Service>,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    if is_public(&path) {
        return next.run(request).await;
    }
    match session_user(&service, request.headers()).await {
        Ok(Some(user)) => {
            request.extensions_mut().insert(SessionUser(user));
            next.run(request).await
        }
        Ok(None) if path.starts_with("/api/") => {
            ApiError::unauthorized("log in first: the session is missing or expired")
                .into_response()
        }
        Ok(None) => {
            let target = request
                .uri()
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/");
            redirect(&format!("/login?next={}", encode(target)))
        }
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    next: String,
}

/// Checks the credentials; on success sets the session cookie and goes to `next`.
pub async fn login(
    State(service): State<Service>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    // Only local paths: never redirect off-site.
    let next = if form.next.starts_with('/') && !form.next.starts_with("//") {
        form.next.clone()
    } else {
        "/".to_owned()
    };
    match service.login(&form.username, &form.password).await {
        Ok(token) => {
            let mut response = redirect(&next);
            let cookie = format!(
                "{COOKIE_NAME}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
                SESSION_LIFETIME.as_secs(),
                if behind_tls(&headers) { "; Secure" } else { "" }
            );
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(SET_COOKIE, value);
            }
            response
        }
        Err(LoginError::WrongCredentials) => {
            redirect(&format!("/login?error=credentials&next={}", encode(&next)))
        }
        Err(LoginError::Internal(e)) => ApiError::from(e).into_response(),
    }
}

/// Ends the session and clears the cookie.
pub async fn logout(State(service): State<Service>, headers: HeaderMap) -> Response {
    if let Some(token) = session_token(&headers) {
        // A failed delete leaves a session that expires by itself; still log out here.
        let _ = service.logout(token).await;
    }
    let mut response = redirect("/login");
    response.headers_mut().insert(
        SET_COOKIE,
        HeaderValue::from_static("hlc_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    response
}

/// Whether the browser reached us over TLS (directly or through a proxy).
fn behind_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

fn redirect(to: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(to) {
        response.headers_mut().insert(LOCATION, value);
    }
    response
}

/// Percent-encodes a path for a query parameter.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, "a=1; hlc_session=hcs_abc; b=2".parse().unwrap());
        assert_eq!(session_token(&headers), Some("hcs_abc"));
        headers.insert(COOKIE, "hlc_session=".parse().unwrap());
        assert_eq!(session_token(&headers), None);
    }

    #[test]
    fn next_paths_are_encoded() {
        assert_eq!(
            encode("/actions?status=failed&x=1"),
            "/actions%3Fstatus%3Dfailed%26x%3D1"
        );
    }
}
