//! What the dashboard's server functions need on the server: the service layer (which
//! the server hands to Leptos as context), the signed-in user, and the HTTP status of
//! an error. The JSON API and the server functions share that one service layer.

use leptos::prelude::use_context;

use crate::domain::AppError;

/// The service layer the server provided for this request (as Leptos context).
pub fn service() -> Result<homelab_core::Service, AppError> {
    use_context::<homelab_core::Service>().ok_or_else(|| {
        tracing::error!("no Service in the Leptos context; the router was built without it");
        AppError::Internal
    })
}

/// Who is acting through the dashboard: the signed-in user. The session middleware
/// lets no request without one reach a server function.
pub fn actor() -> Result<String, AppError> {
    use_context::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<SessionUser>().cloned())
        .map(|user| user.0)
        .ok_or_else(|| {
            // The session layer lets no such request through: refuse rather than act
            // as nobody.
            tracing::error!("server function without a session user: refused");
            AppError::Internal
        })
}

/// Passes a server function's result through, giving an error the HTTP status it
/// deserves (422, 404, 409, 500) instead of server_fn's blanket 500.
pub fn respond<T>(result: Result<T, AppError>) -> Result<T, AppError> {
    if let Err(e) = &result {
        let status = match e {
            AppError::Invalid { .. } => http::StatusCode::UNPROCESSABLE_ENTITY,
            AppError::NotFound(_) => http::StatusCode::NOT_FOUND,
            AppError::Conflict { .. } => http::StatusCode::CONFLICT,
            AppError::Internal | AppError::Transport(_) => http::StatusCode::INTERNAL_SERVER_ERROR,
        };
        if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
            response.set_status(status);
        }
    }
    result
}

/// The signed-in user, put into each request's extensions by the server's session
/// middleware.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionUser(pub String);

/// The secret of the request's own session (its cookie), beside [`SessionUser`]: a
/// password change keeps this one session and ends the others.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken(pub String);

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionToken(..)")
    }
}

/// The request's own session token, if it came with one.
pub fn session_token() -> Option<String> {
    use_context::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<SessionToken>().cloned())
        .map(|t| t.0)
}

/// A checkbox of a form: absent when unticked, `on` (or `true`) when ticked; any
/// other value is a refusal naming `field`.
pub fn form_flag(field: &str, value: Option<String>) -> Result<bool, AppError> {
    match value.as_deref().map(str::trim) {
        None | Some("" | "false") => Ok(false),
        Some("on" | "true") => Ok(true),
        Some(other) => {
            let shown: String = other.chars().take(40).collect();
            Err(AppError::invalid(
                field,
                format!("`{shown}` is not a checkbox value"),
            ))
        }
    }
}

/// A whole number from a form's text field: `None` when left empty, a refusal naming
/// `field` (and what was sent, cut short) when it is not one.
pub fn form_number(field: &str, text: Option<String>) -> Result<Option<u32>, AppError> {
    text.map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse::<u32>().map_err(|_| {
                let shown: String = t.chars().take(40).collect();
                AppError::invalid(field, format!("`{shown}` is not a whole number"))
            })
        })
        .transpose()
}

/// The request id of a form sent with the page's `token`: the same form sent again
/// (a double click, a resent POST) is the same request; the same form with other
/// `values` is another. `None` when the form sent no token (a script's own POST).
pub fn form_request_id(
    token: Option<String>,
    values: &str,
) -> Result<Option<crate::domain::RequestId>, AppError> {
    token
        .filter(|t| !t.is_empty())
        .map(|t| crate::domain::RequestId::parse(format!("{t}-{:016x}", fnv1a(values.as_bytes()))))
        .transpose()
        .map_err(|e| AppError::invalid(e.field, e.message))
}

/// FNV-1a: a short, stable digest of a form's values (not a secret, only a name).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
