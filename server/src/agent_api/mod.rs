//! `/agent/v1/...`: what agents call. Each request carries the agent's own token,
//! which names its server; a token reaches only its own server's actions.

use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use homelab_protocol::{
    ActionResult, AptPreview, Heartbeat, HeartbeatAck, PreviewOutcome, Progress, ServerId,
};
use serde::Deserialize;

use crate::http::{
    AgentJson, ApiError, ApiPath, ApiQuery, bearer_token, json_method_not_allowed, json_not_found,
};
use crate::service::{AgentError, DispatchError, Service};
use crate::state::AppState;

/// The longest long-poll an agent may ask for; below the server's request timeout.
pub const MAX_WAIT: Duration = Duration::from_secs(50);

/// The agent API's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/agent/v1/heartbeat", post(heartbeat))
        .route("/agent/v1/actions/next", get(next_action))
        .route("/agent/v1/actions/{id}/result", post(report_result))
        .route("/agent/v1/actions/{id}/progress", post(action_progress))
        .route("/agent/v1/actions/{id}/preview", post(record_preview))
        .route("/agent/v1/actions/{id}/hold", post(hold))
        // An unknown path or a wrong method answers in the API's JSON shape too.
        .route("/agent/{*rest}", any(json_not_found))
        .method_not_allowed_fallback(json_method_not_allowed)
}

fn token(headers: &HeaderMap) -> Result<&str, ApiError> {
    bearer_token(headers).ok_or_else(|| {
        ApiError::unauthorized("an agent token is required (Authorization: Bearer ...)")
    })
}

async fn heartbeat(
    State(service): State<Service>,
    headers: HeaderMap,
    AgentJson(hb): AgentJson<Heartbeat>,
) -> Result<Json<HeartbeatAck>, ApiError> {
    let token = token(&headers).inspect_err(|_| crate::metrics::heartbeat("unauthorized"))?;
    let answer = service.heartbeat(token, hb).await;
    crate::metrics::heartbeat(match &answer {
        Ok(_) => "accepted",
        Err(AgentError::Unauthorized) => "unauthorized",
        Err(AgentError::Invalid(_)) => "invalid",
        Err(AgentError::Db(_)) => "error",
    });
    answer.map(Json).map_err(|e| match e {
        AgentError::Unauthorized => ApiError::unauthorized("unknown agent token"),
        AgentError::Invalid(e) => ApiError::invalid(e.to_string()),
        AgentError::Db(e) => dispatch_error(DispatchError::Db(e)),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NextQuery {
    /// Seconds to wait for an approved action.
    wait: Option<u64>,
}

async fn next_action(
    State(service): State<Service>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<NextQuery>,
) -> Result<Response, ApiError> {
    let server = agent_server(&service, &headers).await?;
    let wait = Duration::from_secs(query.wait.unwrap_or(25)).min(MAX_WAIT);
    let _waiting = crate::metrics::LongPoll::start();
    match service
        .next_action(&server, token(&headers)?, wait)
        .await
        .map_err(dispatch_error)?
    {
        Some(next) => Ok(Json(next).into_response()),
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

async fn report_result(
    State(service): State<Service>,
    headers: HeaderMap,
    ApiPath(id): ApiPath<homelab_protocol::ActionId>,
    AgentJson(result): AgentJson<ActionResult>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let server = agent_server(&service, &headers).await?;
    let ended = service
        .report_result(&server, id, result.clone())
        .await
        .map_err(dispatch_error)?;
    // The run time, once: when this result ended the action (not a repeat, not a
    // reboot waiting for its machine).
    if let Some(kind) = ended {
        crate::metrics::action_ran(kind, &result);
    }
    Ok(Json(serde_json::json!({ "ok": true })))
}

async fn action_progress(
    State(service): State<Service>,
    headers: HeaderMap,
    ApiPath(id): ApiPath<homelab_protocol::ActionId>,
    AgentJson(progress): AgentJson<Progress>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let server = agent_server(&service, &headers).await?;
    progress.validate().map_err(ApiError::invalid)?;
    service
        .action_progress(&server, id, progress)
        .await
        .map_err(dispatch_error)?;
    Ok(Json(serde_json::json!({ "ok": true })))
}

/// What apt's simulation says an upgrade would do (or why there is no simulation).
async fn record_preview(
    State(service): State<Service>,
    headers: HeaderMap,
    ApiPath(id): ApiPath<homelab_protocol::ActionId>,
    AgentJson(outcome): AgentJson<PreviewOutcome>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let server = agent_server(&service, &headers).await?;
    service
        .record_preview(&server, id, outcome)
        .await
        .map_err(dispatch_error)?;
    Ok(Json(serde_json::json!({ "ok": true })))
}

/// The agent did not run an upgrade `auto` approved: apt would remove packages.
async fn hold(
    State(service): State<Service>,
    headers: HeaderMap,
    ApiPath(id): ApiPath<homelab_protocol::ActionId>,
    AgentJson(preview): AgentJson<AptPreview>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let server = agent_server(&service, &headers).await?;
    service
        .hold(&server, id, preview)
        .await
        .map_err(dispatch_error)?;
    Ok(Json(serde_json::json!({ "ok": true })))
}

async fn agent_server(service: &Service, headers: &HeaderMap) -> Result<ServerId, ApiError> {
    service
        .agent_server(token(headers)?)
        .await
        .map_err(dispatch_error)
}

fn dispatch_error(e: DispatchError) -> ApiError {
    match e {
        DispatchError::Unauthorized => ApiError::unauthorized("unknown agent token"),
        DispatchError::Forbidden(id) => ApiError::new(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            format!("action {id} belongs to another server"),
        ),
        DispatchError::NotFound(id) => ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("no action {id}"),
        ),
        e @ (DispatchError::NotExecuting(..) | DispatchError::NotPreviewable(..)) => {
            ApiError::new(StatusCode::CONFLICT, "CONFLICT", e.to_string())
        }
        DispatchError::Invalid(message) => ApiError::invalid(message),
        DispatchError::Db(e) => {
            tracing::error!(error = format!("{:#}", anyhow::Error::from(e)), "agent API");
            ApiError::internal()
        }
    }
}
