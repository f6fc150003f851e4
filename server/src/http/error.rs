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
}

#[derive(Serialize)]
struct Body<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    /// An error with an explicit status and code.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
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
            AppError::Conflict(m) => Self::new(StatusCode::CONFLICT, "CONFLICT", m),
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
        };
        (self.status, Json(body)).into_response()
    }
}
