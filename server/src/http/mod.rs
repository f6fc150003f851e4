//! What every HTTP surface shares: the error body, the JSON, path and query
//! extractors that answer in that body, bearer-token parsing, and the request
//! policies applied to the whole router (security headers, dot-segment refusal,
//! same-origin writes).

mod error;
mod extract;
mod guard;
mod headers;
mod json;

pub use error::{ApiError, ErrorBody};
pub use extract::{ApiPath, ApiQuery, json_method_not_allowed, json_not_found};
pub use guard::{refuse_dot_segments, same_origin_writes};
pub use headers::{CspNonce, security_headers};
pub use json::{AgentJson, ApiJson, MAX_JSON_BYTES};

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;

/// The token of an `Authorization: Bearer ...` header, if there is one.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Whether the browser reached us over TLS, directly or through a proxy that says so
/// with `X-Forwarded-Proto: https`.
pub fn behind_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_read_from_the_authorization_header() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer_token(&headers), None);
        for (value, expected) in [
            ("Bearer abc", Some("abc")),
            ("bearer  abc ", Some("abc")),
            ("Basic abc", None),
            ("Bearer ", None),
            ("Bearer", None),
        ] {
            headers.insert(AUTHORIZATION, value.parse().unwrap());
            assert_eq!(bearer_token(&headers), expected, "{value:?}");
        }
    }
}
