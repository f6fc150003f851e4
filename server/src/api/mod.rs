//! `/api/v1/...`: the JSON API for automation and black-box tests, over the same
//! service layer as the dashboard. Every route needs an API token or a session, and
//! is described in the OpenAPI document (`openapi.rs`).

mod access;
mod actions;
mod openapi;
mod runs;
mod schedules;
mod webhooks;

use axum::extract::State;
use axum::http::StatusCode;
use axum::middleware;
use axum::routing::any;
use axum::{Json, Router};
use homelab_core::Error as AppError;
use homelab_protocol::{AddedServer, ApprovalPolicy, PackageList, ServerDetail, ServerSummary};
use homelab_protocol::{ServerId, ServerName};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use crate::auth::Actor;
use crate::http::{ApiError, ApiJson, ApiPath, json_method_not_allowed, json_not_found};
use crate::service::Service;
use crate::state::AppState;
pub(crate) use openapi::Always;
use openapi::{Conflict, JsonBody, NotFound, Write};

/// The JSON API's routes. Every one needs an [`Actor`] (an API token or a dashboard
/// session), required by the router's auth layer whatever the handler asks for; an
/// unknown path under `/api/` or a wrong method answers in the API's JSON shape.
pub fn router(state: AppState) -> Router<AppState> {
    openapi::prepare();
    let (router, _) = routes()
        .route_layer(middleware::from_extractor_with_state::<Actor, _>(state))
        .split_for_parts();
    router
        // After the auth layer: an unknown path is a 404 for everyone, and the
        // dashboard's server functions (`/api/NAME`) are more specific routes.
        .route("/api/{*rest}", any(json_not_found))
        .method_not_allowed_fallback(json_method_not_allowed)
}

/// The OpenAPI document of the JSON API (served at `GET /api/v1/openapi.json`).
pub fn document() -> utoipa::openapi::OpenApi {
    routes().into_openapi()
}

/// Every route with its documentation: `routes!` registers a handler by its
/// `#[utoipa::path]` (method and path), so a route is in the router exactly when it is
/// in the document. A route added any other way is caught by the tests
/// (`tests/http/openapi.rs`).
fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::base())
        .routes(routes!(list_servers, add_server))
        .routes(routes!(get_server, access::remove_server))
        .routes(routes!(access::rotate_agent_token))
        .routes(routes!(access::list_tokens, access::create_token))
        .routes(routes!(access::revoke_token))
        .routes(routes!(get_packages))
        .routes(routes!(set_maintenance))
        .routes(routes!(set_policy))
        .routes(routes!(actions::create))
        .routes(routes!(actions::history))
        .routes(routes!(actions::get))
        .routes(routes!(actions::approve))
        .routes(routes!(actions::reject))
        .routes(routes!(actions::cancel))
        .routes(routes!(actions::request_preview))
        .routes(routes!(runs::set_tags))
        .routes(routes!(runs::list, runs::create))
        .routes(routes!(runs::get))
        .routes(routes!(runs::cancel))
        .routes(routes!(schedules::list, schedules::create))
        .routes(routes!(
            schedules::get,
            schedules::update,
            schedules::delete
        ))
        .routes(routes!(webhooks::list, webhooks::create))
        .routes(routes!(webhooks::get, webhooks::delete))
        .routes(routes!(webhooks::test))
        .routes(routes!(openapi::openapi_json))
        .routes(routes!(crate::metrics::render))
}

/// The `{id}` of a server's routes.
const SERVER_ID: &str = "The server's id";

/// `POST /api/v1/servers`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewServer {
    #[schema(value_type = ServerId)]
    id: String,
    #[schema(value_type = ServerName)]
    name: String,
}

/// Adds a server; its agent token is in this answer only.
#[utoipa::path(
    post,
    path = "/api/v1/servers",
    tag = "servers",
    request_body = NewServer,
    responses(
        (status = 201, description = "Added, with the agent's token (shown this once)", body = AddedServer),
        Always, Write, JsonBody, Conflict,
    ),
)]
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

/// Every server with its status, counts and settings.
#[utoipa::path(
    get,
    path = "/api/v1/servers",
    tag = "servers",
    responses((status = 200, description = "The fleet, by id", body = Vec<ServerSummary>), Always),
)]
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

/// A server with its metrics and pending packages.
#[utoipa::path(
    get,
    path = "/api/v1/servers/{id}",
    tag = "servers",
    params(("id" = ServerId, Path, description = SERVER_ID)),
    responses((status = 200, description = "The server", body = ServerDetail), Always, NotFound),
)]
async fn get_server(
    State(service): State<Service>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ServerDetail>, ApiError> {
    Ok(Json(service.server_detail(&path_id(&id)?).await?))
}

/// A server's pending packages, security updates first.
#[utoipa::path(
    get,
    path = "/api/v1/servers/{id}/packages",
    tag = "servers",
    params(("id" = ServerId, Path, description = SERVER_ID)),
    responses((status = 200, description = "Its packages and their counts", body = PackageList), Always, NotFound),
)]
async fn get_packages(
    State(service): State<Service>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<PackageList>, ApiError> {
    let id = path_id(&id)?;
    // A server without packages and a server that does not exist must differ.
    service.server_detail(&id).await?;
    Ok(Json(service.packages(&id).await?))
}

/// `PUT /api/v1/servers/{id}/maintenance`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Maintenance {
    /// Maintenance mode: every new action waits for a person.
    paused: bool,
}

/// Switches maintenance mode on or off.
#[utoipa::path(
    put,
    path = "/api/v1/servers/{id}/maintenance",
    tag = "servers",
    params(("id" = ServerId, Path, description = SERVER_ID)),
    request_body = Maintenance,
    responses((status = 200, description = "The server", body = ServerDetail), Always, Write, JsonBody, NotFound),
)]
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

/// `PUT /api/v1/servers/{id}/approval-policy`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Policy {
    approval_policy: ApprovalPolicy,
}

/// Sets whether the server's actions are approved automatically.
#[utoipa::path(
    put,
    path = "/api/v1/servers/{id}/approval-policy",
    tag = "servers",
    params(("id" = ServerId, Path, description = SERVER_ID)),
    request_body = Policy,
    responses((status = 200, description = "The server", body = ServerDetail), Always, Write, JsonBody, NotFound),
)]
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
