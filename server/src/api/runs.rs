//! `/api/v1/runs` and `/api/v1/servers/{id}/tags`: patching the fleet over JSON.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use homelab_core::Error as AppError;
use homelab_protocol::{ActionType, Run, RunId, ServerDetail, Tag};
use serde::Deserialize;

use super::{Actor, path_id};
use crate::http::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::service::{RunRequest, Service};

/// `POST /api/v1/runs`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRun {
    action_type: ActionType,
    #[serde(default)]
    parameters: Option<serde_json::Value>,
    #[serde(default)]
    servers: Option<Vec<String>>,
    #[serde(default)]
    tag: Option<String>,
    #[serde(default)]
    batch_size: Option<u32>,
    #[serde(default)]
    max_failures: Option<u32>,
    #[serde(default)]
    reboot_if_required: Option<bool>,
}

/// Starts a fleet run: 201 with the run and its first batch queued.
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunsQuery {
    limit: Option<u32>,
    schedule_id: Option<homelab_protocol::ScheduleId>,
}

/// The newest runs, newest first.
pub async fn list(
    State(service): State<Service>,
    ApiQuery(q): ApiQuery<RunsQuery>,
) -> Result<Json<Vec<Run>>, ApiError> {
    Ok(Json(
        service.runs(q.schedule_id, q.limit.unwrap_or(50)).await?,
    ))
}

pub async fn get(
    State(service): State<Service>,
    ApiPath(id): ApiPath<RunId>,
) -> Result<Json<Run>, ApiError> {
    Ok(Json(service.run(id).await?))
}

pub async fn cancel(
    State(service): State<Service>,
    actor: Actor,
    ApiPath(id): ApiPath<RunId>,
) -> Result<Json<Run>, ApiError> {
    Ok(Json(service.cancel_run(id, &actor.0).await?))
}

/// `PUT /api/v1/servers/{id}/tags`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tags {
    tags: Vec<String>,
}

/// Replaces a server's tags; answers with the server.
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
