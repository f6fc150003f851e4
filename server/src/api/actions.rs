//! `/api/v1/.../actions`: the remediation engine over JSON.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use homelab_core::Error as AppError;
use homelab_protocol::{
    Action, ActionPage, ActionSpec, ActionStatus, ActionType, HistoryFilter, RequestId,
};
use serde::Deserialize;

use super::{Actor, path_id};
use crate::http::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::service::{Created, Service};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAction {
    action_type: ActionType,
    #[serde(default)]
    parameters: Option<serde_json::Value>,
}

/// Creates an action. With an `Idempotency-Key` header, a repeat of the same request
/// answers 200 with the action the first one created, and creates nothing.
pub async fn create(
    State(service): State<Service>,
    actor: Actor,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<NewAction>,
) -> Result<(StatusCode, Json<Action>), ApiError> {
    let server = path_id(&id)?;
    let spec = ActionSpec::parse(body.action_type, body.parameters.as_ref())
        .map_err(|e| AppError::invalid(e.field, e.message))?;
    let request_id = headers
        .get("idempotency-key")
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|v| RequestId::parse(v).ok())
                .ok_or_else(|| {
                    AppError::invalid("Idempotency-Key", "1 to 64 letters, digits, '-' or '_'")
                })
        })
        .transpose()?;
    let (action, created) = service
        .create_action_once(&server, spec, &actor.0, request_id.as_ref())
        .await?;
    let status = match created {
        Created::New => StatusCode::CREATED,
        Created::Repeat => StatusCode::OK,
    };
    Ok((status, Json(action)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    server_id: Option<String>,
    status: Option<String>,
    action_type: Option<String>,
    run_id: Option<homelab_protocol::RunId>,
    schedule_id: Option<homelab_protocol::ScheduleId>,
    limit: Option<u32>,
    cursor: Option<String>,
}

pub async fn history(
    State(service): State<Service>,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> Result<Json<ActionPage>, ApiError> {
    let invalid = |field: &str, e: &dyn std::fmt::Display| AppError::invalid(field, e.to_string());
    let filter = HistoryFilter {
        server_id: q
            .server_id
            .filter(|s| !s.is_empty())
            .map(|s| homelab_protocol::ServerId::parse(s).map_err(|e| invalid("server_id", &e)))
            .transpose()?,
        status: q
            .status
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<ActionStatus>().map_err(|e| invalid("status", &e)))
            .transpose()?,
        action_type: q
            .action_type
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<ActionType>()
                    .map_err(|e| invalid("action_type", &e))
            })
            .transpose()?,
        run_id: q.run_id,
        schedule_id: q.schedule_id,
    };
    let page = service
        .history(
            &filter,
            q.cursor.as_deref().filter(|c| !c.is_empty()),
            q.limit.unwrap_or(50),
        )
        .await?;
    Ok(Json(page))
}

pub async fn get(
    State(service): State<Service>,
    ApiPath(id): ApiPath<homelab_protocol::ActionId>,
) -> Result<Json<Action>, ApiError> {
    Ok(Json(service.action(id).await?))
}

pub async fn approve(
    State(service): State<Service>,
    actor: Actor,
    ApiPath(id): ApiPath<homelab_protocol::ActionId>,
) -> Result<Json<Action>, ApiError> {
    Ok(Json(service.approve(id, &actor.0).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rejection {
    reason: String,
}

pub async fn reject(
    State(service): State<Service>,
    actor: Actor,
    ApiPath(id): ApiPath<homelab_protocol::ActionId>,
    ApiJson(body): ApiJson<Rejection>,
) -> Result<Json<Action>, ApiError> {
    Ok(Json(service.reject(id, &actor.0, &body.reason).await?))
}

pub async fn cancel(
    State(service): State<Service>,
    actor: Actor,
    ApiPath(id): ApiPath<homelab_protocol::ActionId>,
) -> Result<Json<Action>, ApiError> {
    Ok(Json(service.cancel(id, &actor.0).await?))
}

/// Asks the agent what apt would do for a pending or approved upgrade: 202 with the
/// action; the preview appears in `GET /api/v1/actions/{id}` when the agent sends it.
pub async fn request_preview(
    State(service): State<Service>,
    actor: Actor,
    ApiPath(id): ApiPath<homelab_protocol::ActionId>,
) -> Result<(StatusCode, Json<Action>), ApiError> {
    Ok((
        StatusCode::ACCEPTED,
        Json(service.request_preview(id, &actor.0).await?),
    ))
}
