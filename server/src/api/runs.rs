//! `/api/v1/runs` and `/api/v1/servers/{id}/tags`: patching the fleet over JSON.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use homelab_core::Error as AppError;
use homelab_protocol::{ActionType, Run, RunId, ScheduleId, ServerDetail, ServerId, Tag};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::openapi::{Always, Conflict, Invalid, JsonBody, NotFound, Write};
use super::{Actor, SERVER_ID, path_id};
use crate::http::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::service::{RunRequest, Service};

/// `POST /api/v1/runs`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRun {
    action_type: ActionType,
    #[serde(default)]
    #[schema(schema_with = homelab_protocol::params::parameters_schema)]
    parameters: Option<serde_json::Value>,
    /// These servers, in this order; or name a `tag`.
    #[serde(default)]
    #[schema(value_type = Option<Vec<ServerId>>)]
    servers: Option<Vec<String>>,
    /// Every server carrying this tag now; or name the `servers`.
    #[serde(default)]
    #[schema(value_type = Option<Tag>)]
    tag: Option<String>,
    /// Servers patched at a time (default 1).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 1000)]
    batch_size: Option<u32>,
    /// Failed servers tolerated before the run stops (default 0).
    #[serde(default)]
    max_failures: Option<u32>,
    /// Reboot each upgraded server that reports it needs one (upgrades only; default
    /// false).
    #[serde(default)]
    reboot_if_required: Option<bool>,
}

/// Starts a fleet run: 201 with the run and its first batch queued.
#[utoipa::path(
    post,
    path = "/api/v1/runs",
    operation_id = "create_run",
    tag = "runs",
    request_body = NewRun,
    responses(
        (status = 201, description = "The run, its first batch queued", body = Run),
        Always, Write, JsonBody,
    ),
)]
pub async fn create(
    State(service): State<Service>,
    actor: Actor,
    ApiJson(body): ApiJson<NewRun>,
) -> Result<(StatusCode, Json<Run>), ApiError> {
    let request = RunRequest::parse(
        body.action_type,
        body.parameters.as_ref(),
        body.servers,
        body.tag,
        body.batch_size,
        body.max_failures,
        body.reboot_if_required,
    )?;
    let run = service.start_run(request, &actor.0).await?;
    Ok((StatusCode::CREATED, Json(run)))
}

/// `GET /api/v1/runs`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RunsQuery {
    /// How many to answer (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// Only the runs this schedule started.
    schedule_id: Option<ScheduleId>,
}

/// The newest runs, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/runs",
    operation_id = "list_runs",
    tag = "runs",
    params(RunsQuery),
    responses((status = 200, description = "The runs, newest first", body = Vec<Run>), Always, Invalid),
)]
pub async fn list(
    State(service): State<Service>,
    ApiQuery(q): ApiQuery<RunsQuery>,
) -> Result<Json<Vec<Run>>, ApiError> {
    Ok(Json(
        service.runs(q.schedule_id, q.limit.unwrap_or(50)).await?,
    ))
}

/// A run with its items, server by server.
#[utoipa::path(
    get,
    path = "/api/v1/runs/{id}",
    operation_id = "get_run",
    tag = "runs",
    params(("id" = RunId, Path, description = "The run's number")),
    responses((status = 200, description = "The run", body = Run), Always, NotFound),
)]
pub async fn get(
    State(service): State<Service>,
    ApiPath(id): ApiPath<RunId>,
) -> Result<Json<Run>, ApiError> {
    Ok(Json(service.run(id).await?))
}

/// Cancels a running run.
///
/// Servers not started (and their waiting actions) are cancelled; running actions
/// finish.
#[utoipa::path(
    post,
    path = "/api/v1/runs/{id}/cancel",
    operation_id = "cancel_run",
    tag = "runs",
    params(("id" = RunId, Path, description = "The run's number")),
    responses(
        (status = 200, description = "The run, cancelled", body = Run),
        Always, Write, NotFound, Conflict,
    ),
)]
pub async fn cancel(
    State(service): State<Service>,
    actor: Actor,
    ApiPath(id): ApiPath<RunId>,
) -> Result<Json<Run>, ApiError> {
    Ok(Json(service.cancel_run(id, &actor.0).await?))
}

/// `PUT /api/v1/servers/{id}/tags`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Tags {
    /// The server's tags, replacing its others: at most 16, duplicates dropped.
    #[schema(value_type = Vec<Tag>)]
    tags: Vec<String>,
}

/// Replaces a server's tags; answers with the server.
#[utoipa::path(
    put,
    path = "/api/v1/servers/{id}/tags",
    tag = "servers",
    params(("id" = ServerId, Path, description = SERVER_ID)),
    request_body = Tags,
    responses((status = 200, description = "The server", body = ServerDetail), Always, Write, JsonBody, NotFound),
)]
pub async fn set_tags(
    State(service): State<Service>,
    actor: Actor,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Tags>,
) -> Result<Json<ServerDetail>, ApiError> {
    let id = path_id(&id)?;
    if body.tags.len() > 4 * Tag::MAX_PER_SERVER {
        return Err(
            AppError::invalid("tags", format!("at most {} tags", Tag::MAX_PER_SERVER)).into(),
        );
    }
    let tags = Tag::parse_set(&body.tags).map_err(|e| AppError::invalid("tags", e.to_string()))?;
    service.set_tags(&id, tags, &actor.0).await?;
    Ok(Json(service.server_detail(&id).await?))
}
