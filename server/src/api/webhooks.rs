//! `/api/v1/webhooks`: notifications over JSON. A webhook is answered with its URL
//! masked and its latest deliveries; its secret only in the answer that created it.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use homelab_protocol::{CreatedWebhook, Webhook, WebhookId};
use serde::Serialize;

use super::Actor;
use crate::http::{ApiError, ApiJson, ApiPath};
use crate::service::{Service, WebhookDraft, WebhookRequest};

/// `GET /api/v1/webhooks`.
#[derive(Serialize)]
pub struct WebhookList {
    webhooks: Vec<Webhook>,
}

pub async fn list(State(service): State<Service>) -> Result<Json<WebhookList>, ApiError> {
    Ok(Json(WebhookList {
        webhooks: service.webhooks().await?,
    }))
}

pub async fn create(
    State(service): State<Service>,
    actor: Actor,
    ApiJson(body): ApiJson<WebhookDraft>,
) -> Result<(StatusCode, Json<CreatedWebhook>), ApiError> {
    let request = WebhookRequest::try_from(body)?;
    let created = service.create_webhook(request, &actor.0).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

pub async fn get(
    State(service): State<Service>,
    ApiPath(id): ApiPath<WebhookId>,
) -> Result<Json<Webhook>, ApiError> {
    Ok(Json(service.webhook(id).await?))
}

pub async fn delete(
    State(service): State<Service>,
    actor: Actor,
    ApiPath(id): ApiPath<WebhookId>,
) -> Result<StatusCode, ApiError> {
    service.delete_webhook(id, &actor.0).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Queues a test notification: 202, the webhook (its deliveries show the test).
pub async fn test(
    State(service): State<Service>,
    actor: Actor,
    ApiPath(id): ApiPath<WebhookId>,
) -> Result<(StatusCode, Json<Webhook>), ApiError> {
    Ok((
        StatusCode::ACCEPTED,
        Json(service.test_webhook(id, &actor.0).await?),
    ))
}
