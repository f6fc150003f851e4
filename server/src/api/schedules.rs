//! `/api/v1/schedules`: patch policies over JSON. Each answer is the schedule with
//! its next firing and its last run.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use homelab_protocol::{Schedule, ScheduleId};
use serde::Serialize;
use utoipa::ToSchema;

use super::Actor;
use super::openapi::{Always, Conflict, JsonBody, NotFound, Write};
use crate::http::{ApiError, ApiJson, ApiPath};
use crate::service::{ScheduleDraft, ScheduleRequest, Service};

/// `GET /api/v1/schedules`.
#[derive(Serialize, ToSchema)]
pub struct ScheduleList {
    schedules: Vec<Schedule>,
}

/// Every schedule, by name.
#[utoipa::path(
    get,
    path = "/api/v1/schedules",
    operation_id = "list_schedules",
    tag = "schedules",
    responses((status = 200, description = "The schedules", body = ScheduleList), Always),
)]
pub async fn list(State(service): State<Service>) -> Result<Json<ScheduleList>, ApiError> {
    Ok(Json(ScheduleList {
        schedules: service.schedules().await?,
    }))
}

/// Creates a schedule.
#[utoipa::path(
    post,
    path = "/api/v1/schedules",
    operation_id = "create_schedule",
    tag = "schedules",
    request_body = ScheduleDraft,
    responses(
        (status = 201, description = "The schedule, with its next firing", body = Schedule),
        Always, Write, JsonBody, Conflict,
    ),
)]
pub async fn create(
    State(service): State<Service>,
    actor: Actor,
    ApiJson(body): ApiJson<ScheduleDraft>,
) -> Result<(StatusCode, Json<Schedule>), ApiError> {
    let request = ScheduleRequest::try_from(body)?;
    let schedule = service.create_schedule(request, &actor.0).await?;
    Ok((StatusCode::CREATED, Json(schedule)))
}

/// A schedule with its next firing and its last run.
#[utoipa::path(
    get,
    path = "/api/v1/schedules/{id}",
    operation_id = "get_schedule",
    tag = "schedules",
    params(("id" = ScheduleId, Path, description = "The schedule's number")),
    responses((status = 200, description = "The schedule", body = Schedule), Always, NotFound),
)]
pub async fn get(
    State(service): State<Service>,
    ApiPath(id): ApiPath<ScheduleId>,
) -> Result<Json<Schedule>, ApiError> {
    Ok(Json(service.schedule(id).await?))
}

/// Replaces a schedule; its next firing is counted again from now.
#[utoipa::path(
    put,
    path = "/api/v1/schedules/{id}",
    operation_id = "update_schedule",
    tag = "schedules",
    params(("id" = ScheduleId, Path, description = "The schedule's number")),
    request_body = ScheduleDraft,
    responses(
        (status = 200, description = "The schedule", body = Schedule),
        Always, Write, JsonBody, NotFound, Conflict,
    ),
)]
pub async fn update(
    State(service): State<Service>,
    actor: Actor,
    ApiPath(id): ApiPath<ScheduleId>,
    ApiJson(body): ApiJson<ScheduleDraft>,
) -> Result<Json<Schedule>, ApiError> {
    let request = ScheduleRequest::try_from(body)?;
    Ok(Json(service.update_schedule(id, request, &actor.0).await?))
}

/// Deletes a schedule; its runs stay in the history.
#[utoipa::path(
    delete,
    path = "/api/v1/schedules/{id}",
    operation_id = "delete_schedule",
    tag = "schedules",
    params(("id" = ScheduleId, Path, description = "The schedule's number")),
    responses((status = 204, description = "Deleted"), Always, Write, NotFound),
)]
pub async fn delete(
    State(service): State<Service>,
    actor: Actor,
    ApiPath(id): ApiPath<ScheduleId>,
) -> Result<StatusCode, ApiError> {
    service.delete_schedule(id, &actor.0).await?;
    Ok(StatusCode::NO_CONTENT)
}
