//! Who is asking, decided by extractors: [`Actor`] for the JSON API (session or API
//! token) and [`DashboardSession`] for pages and server functions (session only),
//! plus the sign-in endpoints `POST /login` and `POST /logout`, plain forms and
//! redirects that work without JavaScript.

use axum::extract::{Form, FromRef, FromRequestParts, MatchedPath, State};
use axum::http::header::{COOKIE, LOCATION, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use homelab_app::api::ssr::{SessionToken, SessionUser};
use serde::Deserialize;

use crate::http::{ApiError, bearer_token, behind_tls};
use crate::service::{LoginError, SESSION_LIFETIME, Service};

/// The session cookie's name.
pub const COOKIE_NAME: &str = "hlc_session";

/// The largest `/login` form body read, in bytes: a name, a password and a path fit
/// easily; anything bigger is refused (413) before it is parsed.
pub const MAX_LOGIN_FORM_BYTES: usize = 4 * 1024;

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

/// Who is calling the JSON API, recorded as created_by / approved_by / ...: an API
/// token (`Authorization: Bearer`, recorded as `api:NAME`) or, without one, the
/// dashboard session's user. A bearer token that is wrong is refused even when a
/// session cookie rides along, so a request is judged by one credential only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(pub String);

impl<S> FromRequestParts<S> for Actor
where
    Service: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // The router's auth layer already ran this extractor; the handler reuses it.
        if let Some(actor) = parts.extensions.get::<Actor>() {
            return Ok(actor.clone());
        }
        let service = Service::from_ref(state);
        let actor = match bearer_token(&parts.headers) {
            Some(token) => match service.api_token_name(token).await? {
                Some(name) => Actor(format!("api:{name}")),
                None => return Err(ApiError::unauthorized("unknown API token")),
            },
            None => match session_user(&service, &parts.headers).await? {
                Some(user) => Actor(user),
                None => {
                    return Err(ApiError::unauthorized(
                        "an API token (Authorization: Bearer ...) or a dashboard session is required",
                    ));
                }
            },
        };
        parts.extensions.insert(actor.clone());
        Ok(actor)
    }
}

/// The signed-in user of a dashboard page or server function. Extracting it also
/// puts the [`SessionUser`] where server functions look for it (the request's
/// extensions, which Leptos hands them).
#[derive(Debug, Clone)]
pub struct DashboardSession(pub SessionUser);

/// Why a dashboard request has no session, and what the caller gets instead.
#[derive(Debug)]
pub enum NoSession {
    /// A page: the browser goes to the login, then back to the page.
    Page { next: String },
    /// A server function: a JSON 401 its caller can show.
    ServerFn,
    /// The session store failed.
    Failed(ApiError),
}

impl IntoResponse for NoSession {
    fn into_response(self) -> Response {
        match self {
            NoSession::Page { next } => redirect(&login_url(None, &next)),
            NoSession::ServerFn => {
                ApiError::unauthorized("log in first: the session is missing or expired")
                    .into_response()
            }
            NoSession::Failed(e) => e.into_response(),
        }
    }
}

impl<S> FromRequestParts<S> for DashboardSession
where
    Service: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = NoSession;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(user) = parts.extensions.get::<SessionUser>() {
            return Ok(DashboardSession(user.clone()));
        }
        let service = Service::from_ref(state);
        match session_user(&service, &parts.headers).await {
            Ok(Some(user)) => {
                let user = SessionUser(user);
                parts.extensions.insert(user.clone());
                if let Some(token) = session_token(&parts.headers) {
                    let token = SessionToken(token.to_owned());
                    parts.extensions.insert(token);
                }
                Ok(DashboardSession(user))
            }
            Ok(None) => {
                // Server functions are routed under Leptos' `/api/` prefix; pages are
                // the GET routes (and the 404 fallback, which has no matched path).
                let server_fn = parts
                    .extensions
                    .get::<MatchedPath>()
                    .is_some_and(|m| m.as_str().starts_with("/api/"));
                if server_fn || parts.method != Method::GET {
                    Err(NoSession::ServerFn)
                } else {
                    let next = parts
                        .uri
                        .path_and_query()
                        .map_or("/", |p| p.as_str())
                        .to_owned();
                    Err(NoSession::Page { next })
                }
            }
            Err(e) => Err(NoSession::Failed(e)),
        }
    }
}

/// A path on this dashboard, safe to send a browser to after login: it resolves
/// against the dashboard's own origin to that same origin. Anything else (other
/// hosts, scheme-relative `//host`, backslashes, which browsers read as slashes,
/// control characters and whitespace, which they strip) is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalPath(String);

impl LocalPath {
    /// Parses a `next` parameter.
    pub fn parse(raw: &str) -> Option<Self> {
        // Judged twice: as written, and percent-decoded once, in case some layer
        // (a proxy, a browser quirk) decodes before the browser parses the URL.
        let decoded = percent_decode(raw);
        for text in [raw, decoded.as_str()] {
            if !text.starts_with('/')
                || text.starts_with("//")
                || text.contains('\\')
                || text.chars().any(|c| c.is_control() || c.is_whitespace())
            {
                return None;
            }
        }
        let base = url::Url::parse("http://dashboard.invalid/").ok()?;
        let resolved = base.join(raw).ok()?;
        if resolved.origin() != base.origin() {
            return None;
        }
        // What the browser will follow is what was checked: the parsed form. Dot
        // segments are resolved by then, so `/.//evil` has become `//evil`: check again.
        if resolved.path().starts_with("//") {
            return None;
        }
        let mut path = resolved.path().to_owned();
        if let Some(query) = resolved.query() {
            path.push('?');
            path.push_str(query);
        }
        Some(LocalPath(path))
    }

    /// The path and query.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for LocalPath {
    fn default() -> Self {
        LocalPath("/".to_owned())
    }
}

/// `raw` with each `%XX` replaced by its byte (invalid UTF-8 replaced by U+FFFD).
fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The `/login` form.
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
    let next = LocalPath::parse(&form.next).unwrap_or_default();
    match service.login(&form.username, &form.password).await {
        Ok(token) => {
            let mut response = redirect(next.as_str());
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
            redirect(&login_url(Some("credentials"), next.as_str()))
        }
        Err(LoginError::Throttled) => redirect(&login_url(Some("throttled"), next.as_str())),
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

/// `/login?error=...&next=...`.
fn login_url(error: Option<&str>, next: &str) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if let Some(error) = error {
        query.append_pair("error", error);
    }
    query.append_pair("next", next);
    format!("/login?{}", query.finish())
}

fn redirect(to: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(to) {
        response.headers_mut().insert(LOCATION, value);
    }
    response
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
            login_url(None, "/actions?status=failed&x=1"),
            "/login?next=%2Factions%3Fstatus%3Dfailed%26x%3D1"
        );
        assert_eq!(
            login_url(Some("credentials"), "/"),
            "/login?error=credentials&next=%2F"
        );
    }

    #[test]
    fn only_local_paths_are_followed_after_login() {
        for ok in [
            "/",
            "/actions?status=failed",
            "/servers/web-1",
            "/actions/7#output",
        ] {
            assert!(LocalPath::parse(ok).is_some(), "{ok}");
        }
        assert_eq!(
            LocalPath::parse("/actions?status=failed").unwrap().as_str(),
            "/actions?status=failed"
        );
        for bad in [
            "",
            "actions",
            "//evil.example",
            "/.//evil.example",
            "/a/..//evil.example",
            "/%2e//evil.example",
            "//evil.example/",
            "/\\evil.example/",
            "/\t/evil.example/",
            "/\n/evil.example/",
            "/ /evil.example/",
            "\\\\evil.example",
            "https://evil.example/",
            "http://dashboard.invalid/",
            "javascript:alert(1)",
            "/%5Cevil\\",
        ] {
            assert_eq!(LocalPath::parse(bad), None, "{bad:?}");
        }
        // Encoded, too: whatever decodes it must not find a way off-site.
        for bad in [
            "/%09/evil.example/",
            "/%5Cevil.example/",
            "/%2F/evil.example",
            "/%0a",
        ] {
            assert_eq!(LocalPath::parse(bad), None, "{bad:?}");
        }
        assert_eq!(
            LocalPath::parse("/actions?server_id=a%20b").map(|p| p.0),
            None,
            "an encoded space decodes to whitespace; the login is not worth the risk"
        );
        assert_eq!(LocalPath::parse("/a/../../b").unwrap().as_str(), "/b");
    }
}
