use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use homelab_app::domain::AppError;
use serde::Serialize;

/// An error answer: `{"code", "message"}` with the matching status. Client mistakes
/// carry their message; our own faults say only "internal error" (and were logged
/// where they happened).
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    existing_action_id: Option<i64>,
}

#[derive(Serialize)]
struct Body<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    existing_action_id: Option<i64>,
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

    /// 422: well-formed JSON with a value the rules refuse.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "INVALID", message)
    }

    /// The status this error answers with.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<AppError> for ApiError {
    fn from(err: AppError) -> Self {
        match err {
            AppError::Invalid { .. } => Self::invalid(err.to_string()),
            AppError::NotFound(m) => Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", m),
            AppError::Conflict {
                message,
                existing_action_id,
            } => ApiError {
                existing_action_id,
                ..Self::new(StatusCode::CONFLICT, "CONFLICT", message)
            },
            AppError::Internal | AppError::Transport(_) => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                "internal error",
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            code: self.code,
            message: &self.message,
            existing_action_id: self.existing_action_id,
        };
        (self.status, Json(body)).into_response()
    }
}
