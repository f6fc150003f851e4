use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// An error answer: `{"code", "message"}` with the matching status. Client mistakes
/// carry their message; our own faults say only "internal error", and are logged
/// here, once, with their context and causes.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    existing_action_id: Option<homelab_protocol::ActionId>,
}

/// An error answer's body; `Error` in the OpenAPI document.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Error, description = "An error answer, with the matching HTTP status.")]
pub struct ErrorBody<'a> {
    /// What went wrong, for programs: `BAD_JSON`, `BAD_PATH`, `INVALID_PATH`,
    /// `INVALID_QUERY` (400), `UNAUTHORIZED` (401), `CROSS_ORIGIN` (403), `NOT_FOUND`
    /// (404), `METHOD_NOT_ALLOWED` (405), `CONFLICT` (409), `TOO_LARGE` (413),
    /// `UNSUPPORTED_MEDIA_TYPE` (415), `INVALID` (422), `INTERNAL` (500).
    #[schema(example = "INVALID")]
    code: &'a str,
    /// What went wrong, for people; a refused value's message names its field.
    #[schema(example = "name: must not be empty")]
    message: &'a str,
    /// With `CONFLICT` for a duplicate action: the action already in flight.
    #[serde(skip_serializing_if = "Option::is_none")]
    existing_action_id: Option<homelab_protocol::ActionId>,
}

impl ApiError {
    /// An error with an explicit status and code.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            existing_action_id: None,
        }
    }

    /// 401: no credentials, or unknown ones.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message)
    }

    /// 403: the request is understood and refused (another origin, another server).
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }

    /// 400: a request the server cannot read (syntax, path, query).
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 422: well-formed JSON with a value the rules refuse.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "INVALID", message)
    }

    /// 500: our own fault, already logged; the caller learns nothing more.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "internal error",
        )
    }

    /// The status this error answers with.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<homelab_core::Error> for ApiError {
    fn from(err: homelab_core::Error) -> Self {
        use homelab_core::Error as E;
        match err {
            E::Invalid { .. } => Self::invalid(err.to_string()),
            E::NotFound(m) => Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", m),
            E::Conflict {
                message,
                existing_action_id,
            } => ApiError {
                existing_action_id,
                ..Self::new(StatusCode::CONFLICT, "CONFLICT", message)
            },
            E::Internal { .. } => {
                tracing::error!(
                    error = format!("{:#}", anyhow::Error::from(err)),
                    "internal error"
                );
                Self::internal()
            }
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        match rejection {
            PathRejection::FailedToDeserializePathParams(e) => {
                Self::bad_request("INVALID_PATH", e.body_text())
            }
            // A handler asked for a parameter its route does not have: our bug.
            other => {
                tracing::error!(error = %other.body_text(), "path extractor misconfigured");
                Self::internal()
            }
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::bad_request("INVALID_QUERY", rejection.body_text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            code: self.code,
            message: &self.message,
            existing_action_id: self.existing_action_id,
        };
        (self.status, Json(body)).into_response()
    }
}
