//! `/agent/v1/...`: what agents call. Each request carries the agent's own token,
//! which names its server.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use homelab_protocol::{Heartbeat, HeartbeatAck};

use crate::http::{ApiError, ApiJson, bearer_token};
use crate::service::{AgentError, Service};
use crate::startup::AppState;

/// The agent API's routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/agent/v1/heartbeat", post(heartbeat))
}

async fn heartbeat(
    State(service): State<Service>,
    headers: HeaderMap,
    ApiJson(hb): ApiJson<Heartbeat>,
) -> Result<Json<HeartbeatAck>, ApiError> {
    let token = bearer_token(&headers).ok_or_else(|| {
        ApiError::unauthorized("an agent token is required (Authorization: Bearer ...)")
    })?;
    service
        .heartbeat(token, &hb)
        .await
        .map(Json)
        .map_err(|e| match e {
            AgentError::Unauthorized => ApiError::unauthorized("unknown agent token"),
            AgentError::Invalid(e) => ApiError::invalid(e.to_string()),
            AgentError::Db(e) => {
                tracing::error!(error = ?anyhow::Error::from(e), "heartbeat failed");
                ApiError::from(homelab_app::domain::AppError::Internal)
            }
        })
}
