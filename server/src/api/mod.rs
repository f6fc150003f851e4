//! `/api/v1/...`: the JSON API for automation and black-box tests, over the same
//! service layer as the dashboard. Every route needs an API token.

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use homelab_app::domain::{AppError, ServerId, ServerName};
use homelab_protocol::{AddedServer, PackageList, ServerDetail, ServerSummary};
use serde::Deserialize;

use crate::http::{ApiError, ApiJson, bearer_token};
use crate::service::Service;
use crate::startup::AppState;

/// The JSON API's routes, behind token authentication.
pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/api/v1/servers", get(list_servers).post(add_server))
        .route("/api/v1/servers/{id}", get(get_server))
        .route("/api/v1/servers/{id}/packages", get(get_packages))
        .route_layer(middleware::from_fn_with_state(state, require_api_token))
}

async fn require_api_token(
    State(service): State<Service>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let token = bearer_token(&headers).ok_or_else(|| {
        ApiError::unauthorized("an API token is required (Authorization: Bearer ...)")
    })?;
    match service.api_token_name(token).await? {
        Some(_) => Ok(next.run(request).await),
        None => Err(ApiError::unauthorized("unknown API token")),
    }
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
fn path_id(raw: &str) -> Result<ServerId, ApiError> {
    ServerId::parse(raw)
        .map_err(|_| AppError::NotFound(format!("no server with id `{raw}`")).into())
}

async fn get_server(
    State(service): State<Service>,
    Path(id): Path<String>,
) -> Result<Json<ServerDetail>, ApiError> {
    Ok(Json(service.server_detail(&path_id(&id)?).await?))
}

async fn get_packages(
    State(service): State<Service>,
    Path(id): Path<String>,
) -> Result<Json<PackageList>, ApiError> {
    let id = path_id(&id)?;
    // A server without packages and a server that does not exist must differ.
    service.server_detail(&id).await?;
    Ok(Json(service.packages(&id).await?))
}
