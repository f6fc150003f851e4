use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

use super::ApiError;

/// The largest JSON body the APIs read.
pub const MAX_JSON_BYTES: usize = homelab_protocol::heartbeat::MAX_HEARTBEAT_BYTES;

/// A JSON body parsed into `T`, with errors in the API's own shape: 415 unless the
/// body is declared `application/json` (a browser form or `text/plain` can never
/// reach a JSON handler), 413 when too large, 400 when not JSON or followed by
/// anything but whitespace, 422 when JSON with the wrong fields or values (the
/// message names the field).
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        if !declares_json(req.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_MEDIA_TYPE",
                "the body must be sent as Content-Type: application/json",
            ));
        }
        parse(&read(req).await?).map(ApiJson)
    }
}

/// Like [`ApiJson`] without the Content-Type check, for the agent API: it takes
/// bearer tokens only (never a cookie a browser would attach), and agents released
/// before the check may send JSON undeclared.
pub struct AgentJson<T>(pub T);

impl<S, T> FromRequest<S> for AgentJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        parse(&read(req).await?).map(AgentJson)
    }
}

/// Whether `Content-Type` is `application/json` (parameters such as charset allowed).
fn declares_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

async fn read(req: Request) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(req.into_body(), MAX_JSON_BYTES)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "TOO_LARGE",
                format!("request body is larger than {MAX_JSON_BYTES} bytes"),
            )
        })
}

fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    // Most bodies are good: read them plainly (tracking the path costs a tenth of a
    // heartbeat), and read a refused one again to say where it went wrong.
    if let Ok(value) = serde_json::from_slice(body) {
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_data() {
            let field = if path == "." {
                String::new()
            } else {
                format!("{path}: ")
            };
            ApiError::invalid(format!("{field}{inner}"))
        } else {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "BAD_JSON",
                format!("request body is not valid JSON: {inner}"),
            )
        }
    })?;
    // One JSON value per body: trailing data means the client and we disagree on
    // where the request ends.
    de.end().map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "BAD_JSON",
            format!("request body has data after the JSON value: {e}"),
        )
    })?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use homelab_protocol::Heartbeat;

    #[test]
    fn data_errors_name_the_field() {
        let body = Bytes::from_static(
            br#"{"agent_version":"1","os":"x","reboot_required":false,
                "metrics":{"cpu_percent":"high","memory_percent":0,"disk_percent":0,
                "load_1":0,"load_5":0,"load_15":0,"uptime_s":0}}"#,
        );
        let err = parse::<Heartbeat>(&body).unwrap_err();
        assert_eq!(err.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            format!("{err:?}").contains("metrics.cpu_percent"),
            "{err:?}"
        );
    }

    #[test]
    fn trailing_data_after_the_json_is_a_bad_request() {
        let err = parse::<serde_json::Value>(&Bytes::from_static(b"{} {}")).unwrap_err();
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        let err = parse::<serde_json::Value>(&Bytes::from_static(b"{}garbage")).unwrap_err();
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        assert!(parse::<serde_json::Value>(&Bytes::from_static(b" {} \n")).is_ok());
    }

    #[test]
    fn only_application_json_is_declared_json() {
        let mut headers = HeaderMap::new();
        assert!(!declares_json(&headers));
        for (value, ok) in [
            ("application/json", true),
            ("Application/JSON; charset=utf-8", true),
            ("text/plain", false),
            ("application/x-www-form-urlencoded", false),
            ("application/jsonp", false),
        ] {
            headers.insert(CONTENT_TYPE, value.parse().unwrap());
            assert_eq!(declares_json(&headers), ok, "{value}");
        }
    }

    #[test]
    fn syntax_errors_are_bad_requests() {
        let err = parse::<Heartbeat>(&Bytes::from_static(b"{not json")).unwrap_err();
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
    }
}
