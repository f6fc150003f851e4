//! `/api/v1/webhooks`: notifications over JSON. A webhook is answered with its URL
//! masked and its latest deliveries; its secret only in the answer that created it.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use homelab_protocol::{CreatedWebhook, Webhook, WebhookId};
use serde::Serialize;
use utoipa::ToSchema;

use super::Actor;
use super::openapi::{Always, Conflict, JsonBody, NotFound, Write};
use crate::http::{ApiError, ApiJson, ApiPath};
use crate::service::{Service, WebhookDraft, WebhookRequest};

/// `GET /api/v1/webhooks`.
#[derive(Serialize, ToSchema)]
pub struct WebhookList {
    webhooks: Vec<Webhook>,
}

/// Every webhook, by name, each with its 10 latest deliveries.
#[utoipa::path(
    get,
    path = "/api/v1/webhooks",
    operation_id = "list_webhooks",
    tag = "webhooks",
    responses((status = 200, description = "The webhooks", body = WebhookList), Always),
)]
pub async fn list(State(service): State<Service>) -> Result<Json<WebhookList>, ApiError> {
    Ok(Json(WebhookList {
        webhooks: service.webhooks().await?,
    }))
}

/// Creates a webhook; its secret is in this answer only.
#[utoipa::path(
    post,
    path = "/api/v1/webhooks",
    operation_id = "create_webhook",
    tag = "webhooks",
    request_body = WebhookDraft,
    responses(
        (status = 201, description = "The webhook, with its secret (shown this once; null when unsigned)", body = CreatedWebhook),
        Always, Write, JsonBody, Conflict,
    ),
)]
pub async fn create(
    State(service): State<Service>,
    actor: Actor,
    ApiJson(body): ApiJson<WebhookDraft>,
) -> Result<(StatusCode, Json<CreatedWebhook>), ApiError> {
    let request = WebhookRequest::try_from(body)?;
    let created = service.create_webhook(request, &actor.0).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// A webhook, its URL masked, with its latest deliveries.
#[utoipa::path(
    get,
    path = "/api/v1/webhooks/{id}",
    operation_id = "get_webhook",
    tag = "webhooks",
    params(("id" = WebhookId, Path, description = "The webhook's number")),
    responses((status = 200, description = "The webhook", body = Webhook), Always, NotFound),
)]
pub async fn get(
    State(service): State<Service>,
    ApiPath(id): ApiPath<WebhookId>,
) -> Result<Json<Webhook>, ApiError> {
    Ok(Json(service.webhook(id).await?))
}

/// Deletes a webhook and its queued deliveries.
#[utoipa::path(
    delete,
    path = "/api/v1/webhooks/{id}",
    operation_id = "delete_webhook",
    tag = "webhooks",
    params(("id" = WebhookId, Path, description = "The webhook's number")),
    responses((status = 204, description = "Deleted"), Always, Write, NotFound),
)]
pub async fn delete(
    State(service): State<Service>,
    actor: Actor,
    ApiPath(id): ApiPath<WebhookId>,
) -> Result<StatusCode, ApiError> {
    service.delete_webhook(id, &actor.0).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Queues a test notification: 202, the webhook (its deliveries show the test).
#[utoipa::path(
    post,
    path = "/api/v1/webhooks/{id}/test",
    operation_id = "test_webhook",
    tag = "webhooks",
    params(("id" = WebhookId, Path, description = "The webhook's number")),
    responses(
        (status = 202, description = "Queued; the webhook, its deliveries showing the test", body = Webhook),
        Always, Write, NotFound,
    ),
)]
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
