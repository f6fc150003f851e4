use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use super::ApiError;

/// The largest JSON body the APIs read.
pub const MAX_JSON_BYTES: usize = homelab_protocol::heartbeat::MAX_HEARTBEAT_BYTES;

/// A JSON body parsed into `T`, with errors in the API's own shape: 413 when too large,
/// 400 when not JSON, 422 when JSON with the wrong fields or values (the message
/// names the field).
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let body = axum::body::to_bytes(req.into_body(), MAX_JSON_BYTES)
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "TOO_LARGE",
                    format!("request body is larger than {MAX_JSON_BYTES} bytes"),
                )
            })?;
        let _ = state;
        parse(&body).map(ApiJson)
    }
}

fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
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
    })
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
    fn syntax_errors_are_bad_requests() {
        let err = parse::<Heartbeat>(&Bytes::from_static(b"{not json")).unwrap_err();
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
    }
}
