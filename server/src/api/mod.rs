//! `/api/v1/...`: the JSON API for automation and black-box tests, over the same
//! service layer as the dashboard. Every route needs an API token.

mod access;
mod actions;
mod runs;
mod schedules;
mod webhooks;

use axum::extract::State;
use axum::http::StatusCode;
use axum::middleware;
use axum::routing::{any, delete, get, post, put};
use axum::{Json, Router};
use homelab_core::Error as AppError;
use homelab_protocol::{AddedServer, ApprovalPolicy, PackageList, ServerDetail, ServerSummary};
use homelab_protocol::{ServerId, ServerName};
use serde::Deserialize;

pub use crate::auth::Actor;
use crate::http::{ApiError, ApiJson, ApiPath, json_method_not_allowed, json_not_found};
use crate::service::Service;
use crate::state::AppState;

/// The JSON API's routes. Every one needs an [`Actor`] (an API token or a dashboard
/// session), required by the router's auth layer whatever the handler asks for; an
/// unknown path under `/api/` or a wrong method answers in the API's JSON shape.
pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/api/v1/servers", get(list_servers).post(add_server))
        .route(
            "/api/v1/servers/{id}",
            get(get_server).delete(access::remove_server),
        )
        .route(
            "/api/v1/servers/{id}/agent-token",
            post(access::rotate_agent_token),
        )
        .route(
            "/api/v1/tokens",
            get(access::list_tokens).post(access::create_token),
        )
        .route("/api/v1/tokens/{name}", delete(access::revoke_token))
        .route("/api/v1/servers/{id}/packages", get(get_packages))
        .route("/api/v1/servers/{id}/maintenance", put(set_maintenance))
        .route("/api/v1/servers/{id}/approval-policy", put(set_policy))
        .route("/api/v1/servers/{id}/actions", post(actions::create))
        .route("/api/v1/actions", get(actions::history))
        .route("/api/v1/actions/{id}", get(actions::get))
        .route("/api/v1/actions/{id}/approve", post(actions::approve))
        .route("/api/v1/actions/{id}/reject", post(actions::reject))
        .route("/api/v1/actions/{id}/cancel", post(actions::cancel))
        .route("/api/v1/servers/{id}/tags", put(runs::set_tags))
        .route("/api/v1/runs", get(runs::list).post(runs::create))
        .route("/api/v1/runs/{id}", get(runs::get))
        .route("/api/v1/runs/{id}/cancel", post(runs::cancel))
        .route(
            "/api/v1/schedules",
            get(schedules::list).post(schedules::create),
        )
        .route(
            "/api/v1/schedules/{id}",
            get(schedules::get)
                .put(schedules::update)
                .delete(schedules::delete),
        )
        .route(
            "/api/v1/webhooks",
            get(webhooks::list).post(webhooks::create),
        )
        .route(
            "/api/v1/webhooks/{id}",
            get(webhooks::get).delete(webhooks::delete),
        )
        .route("/api/v1/webhooks/{id}/test", post(webhooks::test))
        .route(
            "/api/v1/actions/{id}/preview",
            post(actions::request_preview),
        )
        .route("/metrics", get(crate::metrics::render))
        .route_layer(middleware::from_extractor_with_state::<Actor, _>(state))
        // After the auth layer: an unknown path is a 404 for everyone, and the
        // dashboard's server functions (`/api/NAME`) are more specific routes.
        .route("/api/{*rest}", any(json_not_found))
        .method_not_allowed_fallback(json_method_not_allowed)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewServer {
    id: String,
    name: String,
}

async fn add_server(
    State(service): State<Service>,
    ApiJson(body): ApiJson<NewServer>,
) -> Result<(StatusCode, Json<AddedServer>), ApiError> {
    let id = ServerId::parse(body.id.trim()).map_err(|e| AppError::invalid("id", e.to_string()))?;
    let name =
        ServerName::parse(&body.name).map_err(|e| AppError::invalid("name", e.to_string()))?;
    let added = service.add_server(id, name).await?;
    Ok((StatusCode::CREATED, Json(added)))
}

async fn list_servers(
    State(service): State<Service>,
) -> Result<Json<Vec<ServerSummary>>, ApiError> {
    Ok(Json(service.list_servers().await?))
}

/// A server id from the path; an impossible one cannot name a server.
pub(crate) fn path_id(raw: &str) -> Result<ServerId, ApiError> {
    ServerId::parse(raw)
        .map_err(|_| AppError::NotFound(format!("no server with id `{raw}`")).into())
}

async fn get_server(
    State(service): State<Service>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ServerDetail>, ApiError> {
    Ok(Json(service.server_detail(&path_id(&id)?).await?))
}

async fn get_packages(
    State(service): State<Service>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<PackageList>, ApiError> {
    let id = path_id(&id)?;
    // A server without packages and a server that does not exist must differ.
    service.server_detail(&id).await?;
    Ok(Json(service.packages(&id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Maintenance {
    paused: bool,
}

async fn set_maintenance(
    State(service): State<Service>,
    actor: Actor,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Maintenance>,
) -> Result<Json<ServerDetail>, ApiError> {
    let id = path_id(&id)?;
    service.set_paused(&id, body.paused, &actor.0).await?;
    Ok(Json(service.server_detail(&id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Policy {
    approval_policy: ApprovalPolicy,
}

async fn set_policy(
    State(service): State<Service>,
    actor: Actor,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Policy>,
) -> Result<Json<ServerDetail>, ApiError> {
    let id = path_id(&id)?;
    service
        .set_policy(&id, body.approval_policy, &actor.0)
        .await?;
    Ok(Json(service.server_detail(&id).await?))
}
