//! Request policies that hold for the whole router, whatever the route: no dot
//! segments in paths, and writes from the dashboard's own origin only.

use axum::extract::Request;
use axum::http::HeaderMap;
use axum::http::header::{HOST, ORIGIN};
use axum::middleware::Next;
use axum::response::Response;

use super::{ApiError, bearer_token};

/// Refuses (400) a path with a `.` or `..` segment, written plainly or encoded
/// (`%2e`), or hidden behind a backslash or an encoded slash. Browsers resolve
/// such segments before sending, so only a hand-made request carries one, and
/// every layer that might resolve it differently (a proxy, the page router) then
/// sees the same path the access decision saw.
pub async fn refuse_dot_segments(request: Request, next: Next) -> Result<Response, ApiError> {
    if has_dot_segment(request.uri().path()) {
        return Err(ApiError::bad_request(
            "BAD_PATH",
            "a path may not contain '.' or '..' segments",
        ));
    }
    Ok(next.run(request).await)
}

fn has_dot_segment(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    let unencoded = lower
        .replace("%2e", ".")
        .replace("%2f", "/")
        .replace("%5c", "/")
        .replace('\\', "/");
    unencoded
        .split('/')
        .any(|segment| segment == "." || segment == "..")
}

/// Why a write was refused as cross-origin.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum CrossOrigin {
    #[error("the request came from another origin ({0})")]
    Origin(String),
    #[error("the request came from another site (Sec-Fetch-Site: {0})")]
    FetchSite(String),
}

/// Refuses (403) a state-changing request (anything but GET, HEAD, OPTIONS) that a
/// browser sent from a page that is not the dashboard's own origin.
///
/// The check runs on every route, so it covers server functions, `/login` (login
/// CSRF), `/logout` and the JSON API with a session cookie alike. What decides:
/// - `Origin`, when present, must name this host (the `Host` the browser sent);
///   `null` (sandboxed frames, some redirects) never does.
/// - Without `Origin`, `Sec-Fetch-Site` must be `same-origin` (or `none`: typed by
///   the user). `same-site` is refused: SameSite=Strict cookies do travel from
///   another port or subdomain of the same site.
/// - With neither header the request did not come from a browser (every current
///   browser sends `Origin` on a POST), so it carries no ambient authority a page
///   could borrow: curl, scripts and the agent pass.
///
/// Requests with `Authorization: Bearer` and no session cookie pass: they are
/// authenticated by their token alone. One carrying both is judged like any other:
/// the dashboard's routes read only the cookie.
pub async fn same_origin_writes(request: Request, next: Next) -> Result<Response, ApiError> {
    let token_only = bearer_token(request.headers()).is_some()
        && crate::auth::session_token(request.headers()).is_none();
    if request.method().is_safe() || token_only {
        return Ok(next.run(request).await);
    }
    let own_host = request
        .headers()
        .get(HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        // HTTP/2 carries the host in the URI (:authority), not in a header.
        .or_else(|| request.uri().authority().map(|a| a.as_str().to_owned()));
    if let Err(refusal) = check_origin(request.headers(), own_host.as_deref()) {
        tracing::warn!(
            method = %request.method(),
            path = request.uri().path(),
            reason = %refusal,
            "refused a cross-origin write"
        );
        return Err(ApiError::forbidden("CROSS_ORIGIN", refusal.to_string()));
    }
    Ok(next.run(request).await)
}

/// Whether the request's `Origin` or `Sec-Fetch-Site` names `own_host` (see
/// [`same_origin_writes`]).
pub fn check_origin(headers: &HeaderMap, own_host: Option<&str>) -> Result<(), CrossOrigin> {
    if let Some(origin) = headers.get(ORIGIN) {
        let origin = origin.to_str().unwrap_or("(not text)");
        let authority = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"));
        return match (authority, own_host) {
            (Some(authority), Some(host)) if authority.eq_ignore_ascii_case(host) => Ok(()),
            _ => Err(CrossOrigin::Origin(truncate(origin))),
        };
    }
    if let Some(site) = headers.get("sec-fetch-site") {
        let site = site.to_str().unwrap_or("(not text)");
        return match site {
            "same-origin" | "none" => Ok(()),
            other => Err(CrossOrigin::FetchSite(truncate(other))),
        };
    }
    Ok(())
}

/// A header value short enough for a log line and an error message.
fn truncate(value: &str) -> String {
    value.chars().take(100).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, value.parse().unwrap());
        }
        headers
    }

    #[test]
    fn dot_segments_are_found_plain_and_encoded() {
        for path in [
            "/agent/../actions",
            "/pkg/../servers/web1",
            "/./actions",
            "/agent/%2e%2e/actions",
            "/agent/.%2E/actions",
            "/agent%2f..%2factions",
            "/agent\\..\\actions",
            "/agent%5c..%5cactions",
            "/..",
        ] {
            assert!(has_dot_segment(path), "{path}");
        }
        for path in [
            "/",
            "/actions",
            "/pkg/homelab-cmd.js",
            "/servers/a..b",
            "/...",
            "/.well-known",
        ] {
            assert!(!has_dot_segment(path), "{path}");
        }
    }

    #[test]
    fn the_own_origin_passes_and_any_other_is_refused() {
        let host = Some("dash.example:3000");
        assert_eq!(
            check_origin(&headers(&[("origin", "http://dash.example:3000")]), host),
            Ok(())
        );
        assert_eq!(
            check_origin(&headers(&[("origin", "https://DASH.example:3000")]), host),
            Ok(())
        );
        for origin in [
            "http://dash.example:4000",
            "http://evil.example",
            "http://sub.dash.example:3000",
            "null",
            "dash.example:3000",
        ] {
            let mut h = HeaderMap::new();
            h.insert("origin", origin.parse().unwrap());
            assert!(check_origin(&h, host).is_err(), "{origin}");
        }
        assert!(check_origin(&headers(&[("origin", "http://dash.example:3000")]), None).is_err());
    }

    #[test]
    fn without_origin_fetch_metadata_decides_and_without_either_it_is_no_browser() {
        let host = Some("dash.example");
        assert_eq!(
            check_origin(&headers(&[("sec-fetch-site", "same-origin")]), host),
            Ok(())
        );
        assert_eq!(
            check_origin(&headers(&[("sec-fetch-site", "none")]), host),
            Ok(())
        );
        assert!(check_origin(&headers(&[("sec-fetch-site", "same-site")]), host).is_err());
        assert!(check_origin(&headers(&[("sec-fetch-site", "cross-site")]), host).is_err());
        assert_eq!(check_origin(&HeaderMap::new(), host), Ok(()));
        // Origin wins over fetch metadata.
        assert!(
            check_origin(
                &headers(&[
                    ("origin", "http://evil.example"),
                    ("sec-fetch-site", "same-origin")
                ]),
                host
            )
            .is_err()
        );
    }
}
