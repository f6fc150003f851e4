//! `/api/v1/schedules`: patch policies over JSON. Each answer is the schedule with
//! its next firing and its last run.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use homelab_protocol::{Schedule, ScheduleId};
use serde::Serialize;

use super::Actor;
use crate::http::{ApiError, ApiJson, ApiPath};
use crate::service::{ScheduleDraft, ScheduleRequest, Service};

/// `GET /api/v1/schedules`.
#[derive(Serialize)]
pub struct ScheduleList {
    schedules: Vec<Schedule>,
}

pub async fn list(State(service): State<Service>) -> Result<Json<ScheduleList>, ApiError> {
    Ok(Json(ScheduleList {
        schedules: service.schedules().await?,
    }))
}

pub async fn create(
    State(service): State<Service>,
    actor: Actor,
    ApiJson(body): ApiJson<ScheduleDraft>,
) -> Result<(StatusCode, Json<Schedule>), ApiError> {
    let request = ScheduleRequest::try_from(body)?;
    let schedule = service.create_schedule(request, &actor.0).await?;
    Ok((StatusCode::CREATED, Json(schedule)))
}

pub async fn get(
    State(service): State<Service>,
    ApiPath(id): ApiPath<ScheduleId>,
) -> Result<Json<Schedule>, ApiError> {
    Ok(Json(service.schedule(id).await?))
}

pub async fn update(
    State(service): State<Service>,
    actor: Actor,
    ApiPath(id): ApiPath<ScheduleId>,
    ApiJson(body): ApiJson<ScheduleDraft>,
) -> Result<Json<Schedule>, ApiError> {
    let request = ScheduleRequest::try_from(body)?;
    Ok(Json(service.update_schedule(id, request, &actor.0).await?))
}

pub async fn delete(
    State(service): State<Service>,
    actor: Actor,
    ApiPath(id): ApiPath<ScheduleId>,
) -> Result<StatusCode, ApiError> {
    service.delete_schedule(id, &actor.0).await?;
    Ok(StatusCode::NO_CONTENT)
}
