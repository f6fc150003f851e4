//! The seam between the dashboard's server functions and the server's service layer.
//! The server crate implements [`Backend`] over its database and hands it to Leptos as
//! context, so the dashboard never touches SQL and the JSON API and the server
//! functions share one service layer.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use leptos::prelude::use_context;

use crate::domain::{
    Action, ActionPage, ActionSpec, AddedServer, ApiTokenInfo, AppError, ApprovalPolicy,
    HistoryFilter, ServerDetail, ServerId, ServerName, ServerSummary,
};

/// A boxed future, so that [`Backend`] can be used as a trait object.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the dashboard asks of the server.
pub trait Backend: Send + Sync + 'static {
    /// Every server in the fleet, ordered by name.
    fn list_servers(&self) -> BoxFuture<'_, Result<Vec<ServerSummary>, AppError>>;

    /// Adds a server and returns its agent token, which is never shown again.
    fn add_server(
        &self,
        id: ServerId,
        name: ServerName,
    ) -> BoxFuture<'_, Result<AddedServer, AppError>>;

    /// One server with its metrics and pending packages.
    fn server_detail(&self, id: ServerId) -> BoxFuture<'_, Result<ServerDetail, AppError>>;

    /// Queues an action for `actor`.
    fn create_action(
        &self,
        server: ServerId,
        spec: ActionSpec,
        actor: String,
    ) -> BoxFuture<'_, Result<Action, AppError>>;

    /// Approves a pending action.
    fn approve_action(&self, id: i64, actor: String) -> BoxFuture<'_, Result<Action, AppError>>;

    /// Rejects a pending action with a reason.
    fn reject_action(
        &self,
        id: i64,
        actor: String,
        reason: String,
    ) -> BoxFuture<'_, Result<Action, AppError>>;

    /// Cancels an action that has not started.
    fn cancel_action(&self, id: i64, actor: String) -> BoxFuture<'_, Result<Action, AppError>>;

    /// One action with its output.
    fn action(&self, id: i64) -> BoxFuture<'_, Result<Action, AppError>>;

    /// The apt action queued or running on `server`, if any.
    fn apt_in_flight(&self, server: ServerId) -> BoxFuture<'_, Result<Option<Action>, AppError>>;

    /// Switches maintenance mode.
    fn set_paused(
        &self,
        server: ServerId,
        paused: bool,
        actor: String,
    ) -> BoxFuture<'_, Result<(), AppError>>;

    /// Sets the approval policy.
    fn set_policy(
        &self,
        server: ServerId,
        policy: ApprovalPolicy,
        actor: String,
    ) -> BoxFuture<'_, Result<(), AppError>>;

    /// A page of the history, newest first.
    fn history(
        &self,
        filter: HistoryFilter,
        cursor: Option<String>,
        limit: u32,
    ) -> BoxFuture<'_, Result<ActionPage, AppError>>;

    /// Gives a server a new agent token (shown once); the old one dies at once.
    fn rotate_agent_token(
        &self,
        server: ServerId,
        actor: String,
    ) -> BoxFuture<'_, Result<AddedServer, AppError>>;

    /// Removes a server from the fleet; its history stays.
    fn remove_server(&self, server: ServerId, actor: String)
    -> BoxFuture<'_, Result<(), AppError>>;

    /// Every JSON API token (names and ages).
    fn list_api_tokens(&self) -> BoxFuture<'_, Result<Vec<ApiTokenInfo>, AppError>>;

    /// Mints an API token and returns its secret (shown once).
    fn create_api_token(&self, name: String) -> BoxFuture<'_, Result<String, AppError>>;

    /// Revokes an API token.
    fn revoke_api_token(&self, name: String, actor: String) -> BoxFuture<'_, Result<(), AppError>>;

    /// Changes the signed-in user's password, ending their other sessions.
    fn change_password(
        &self,
        user: String,
        current: String,
        new: String,
        keep_session: Option<String>,
    ) -> BoxFuture<'_, Result<(), AppError>>;
}

/// The backend shared by every request.
pub type SharedBackend = Arc<dyn Backend>;

/// The backend the server provided for this request.
pub fn backend() -> Result<SharedBackend, AppError> {
    use_context::<SharedBackend>().ok_or_else(|| {
        tracing::error!("no Backend in the Leptos context; the router was built without it");
        AppError::Internal
    })
}

pub use homelab_protocol::now_ms;

/// Who is acting through the dashboard: the signed-in user. The session middleware
/// lets no request without one reach a server function.
pub fn actor() -> String {
    use_context::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<SessionUser>().cloned())
        .map(|user| user.0)
        .unwrap_or_else(|| {
            tracing::error!("server function without a session user");
            "unknown".to_owned()
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
