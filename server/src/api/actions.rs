//! `/api/v1/.../actions`: the remediation engine over JSON.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use homelab_core::Error as AppError;
use homelab_protocol::{
    Action, ActionId, ActionPage, ActionSpec, ActionStatus, ActionType, HistoryFilter, RequestId,
    RunId, ScheduleId, ServerId,
};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::openapi::{Always, Conflict, Invalid, JsonBody, NotFound, Write};
use super::{Actor, SERVER_ID, path_id};
use crate::http::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};
use crate::service::{Created, Service};

/// The `{id}` of an action's routes.
const ACTION_ID: &str = "The action's number";

/// `POST /api/v1/servers/{id}/actions`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAction {
    action_type: ActionType,
    #[serde(default)]
    #[schema(schema_with = homelab_protocol::params::parameters_schema)]
    parameters: Option<serde_json::Value>,
}

/// Creates an action.
///
/// With an `Idempotency-Key` header, a repeat of the same request answers 200 with
/// the action the first one created, and creates nothing.
#[utoipa::path(
    post,
    path = "/api/v1/servers/{id}/actions",
    operation_id = "create_action",
    tag = "actions",
    params(
        ("id" = ServerId, Path, description = SERVER_ID),
        ("Idempotency-Key" = inline(Option<RequestId>), Header, nullable = false,
            description = "Makes a repeat of this request answer with the action the first one created"),
    ),
    request_body = NewAction,
    responses(
        (status = 201, description = "Created: approved at once, or pending for a person", body = Action),
        (status = 200, description = "A repeat of an `Idempotency-Key` this token used: the action it created", body = Action),
        Always, Write, JsonBody, NotFound,
        (status = 409, description = "An action it would duplicate is in flight (`existing_action_id` names it), or the agent cannot be rebooted", body = ErrorBody),
    ),
)]
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

/// `GET /api/v1/actions`: each filter is off when absent or empty.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// Only this server's actions.
    #[param(value_type = Option<ServerId>)]
    server_id: Option<String>,
    /// Only actions with this status.
    #[param(value_type = Option<ActionStatus>)]
    status: Option<String>,
    /// Only actions of this kind.
    #[param(value_type = Option<ActionType>)]
    action_type: Option<String>,
    /// Only the actions of this fleet run.
    run_id: Option<RunId>,
    /// Only the actions of runs this schedule started.
    schedule_id: Option<ScheduleId>,
    /// How many to answer (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// Where the page starts: a previous page's `next_cursor`.
    cursor: Option<String>,
}

/// The history, newest first, one page at a time.
#[utoipa::path(
    get,
    path = "/api/v1/actions",
    operation_id = "list_actions",
    tag = "actions",
    params(HistoryQuery),
    responses((status = 200, description = "A page of the history", body = ActionPage), Always, Invalid),
)]
pub async fn history(
    State(service): State<Service>,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> Result<Json<ActionPage>, ApiError> {
    let invalid = |field: &str, e: &dyn std::fmt::Display| AppError::invalid(field, e.to_string());
    let filter = HistoryFilter {
        server_id: q
            .server_id
            .filter(|s| !s.is_empty())
            .map(|s| ServerId::parse(s).map_err(|e| invalid("server_id", &e)))
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

/// An action with its command, timeline and output.
#[utoipa::path(
    get,
    path = "/api/v1/actions/{id}",
    operation_id = "get_action",
    tag = "actions",
    params(("id" = ActionId, Path, description = ACTION_ID)),
    responses((status = 200, description = "The action", body = Action), Always, NotFound),
)]
pub async fn get(
    State(service): State<Service>,
    ApiPath(id): ApiPath<ActionId>,
) -> Result<Json<Action>, ApiError> {
    Ok(Json(service.action(id).await?))
}

/// Approves a pending action.
#[utoipa::path(
    post,
    path = "/api/v1/actions/{id}/approve",
    operation_id = "approve_action",
    tag = "actions",
    params(("id" = ActionId, Path, description = ACTION_ID)),
    responses(
        (status = 200, description = "The action, approved", body = Action),
        Always, Write, NotFound, Conflict,
    ),
)]
pub async fn approve(
    State(service): State<Service>,
    actor: Actor,
    ApiPath(id): ApiPath<ActionId>,
) -> Result<Json<Action>, ApiError> {
    Ok(Json(service.approve(id, &actor.0).await?))
}

/// `POST /api/v1/actions/{id}/reject`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rejection {
    /// Why: 1 to 1000 characters.
    #[schema(min_length = 1, max_length = 1000)]
    reason: String,
}

/// Rejects a pending action, saying why.
#[utoipa::path(
    post,
    path = "/api/v1/actions/{id}/reject",
    operation_id = "reject_action",
    tag = "actions",
    params(("id" = ActionId, Path, description = ACTION_ID)),
    request_body = Rejection,
    responses(
        (status = 200, description = "The action, rejected", body = Action),
        Always, Write, JsonBody, NotFound, Conflict,
    ),
)]
pub async fn reject(
    State(service): State<Service>,
    actor: Actor,
    ApiPath(id): ApiPath<ActionId>,
    ApiJson(body): ApiJson<Rejection>,
) -> Result<Json<Action>, ApiError> {
    Ok(Json(service.reject(id, &actor.0, &body.reason).await?))
}

/// Cancels a pending or approved action.
#[utoipa::path(
    post,
    path = "/api/v1/actions/{id}/cancel",
    operation_id = "cancel_action",
    tag = "actions",
    params(("id" = ActionId, Path, description = ACTION_ID)),
    responses(
        (status = 200, description = "The action, cancelled", body = Action),
        Always, Write, NotFound, Conflict,
    ),
)]
pub async fn cancel(
    State(service): State<Service>,
    actor: Actor,
    ApiPath(id): ApiPath<ActionId>,
) -> Result<Json<Action>, ApiError> {
    Ok(Json(service.cancel(id, &actor.0).await?))
}

/// Asks the agent what apt would do for a pending or approved upgrade.
///
/// Answers 202 with the action; the preview appears in `GET /api/v1/actions/{id}`
/// when the agent sends it.
#[utoipa::path(
    post,
    path = "/api/v1/actions/{id}/preview",
    operation_id = "request_preview",
    tag = "actions",
    params(("id" = ActionId, Path, description = ACTION_ID)),
    responses(
        (status = 202, description = "Asked; the action, with `preview_requested_at_ms`", body = Action),
        Always, Write, NotFound, Conflict,
    ),
)]
pub async fn request_preview(
    State(service): State<Service>,
    actor: Actor,
    ApiPath(id): ApiPath<ActionId>,
) -> Result<(StatusCode, Json<Action>), ApiError> {
    Ok((
        StatusCode::ACCEPTED,
        Json(service.request_preview(id, &actor.0).await?),
    ))
}
