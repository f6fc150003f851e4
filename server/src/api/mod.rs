//! `/api/v1/...`: the JSON API for automation and black-box tests, over the same
//! service layer as the dashboard. Every route needs an API token.

mod actions;

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post, put};
use axum::{Extension, Json, Router};
use homelab_app::domain::{AppError, ServerId, ServerName};
use homelab_protocol::{AddedServer, ApprovalPolicy, PackageList, ServerDetail, ServerSummary};
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
        .route("/api/v1/servers/{id}/maintenance", put(set_maintenance))
        .route("/api/v1/servers/{id}/approval-policy", put(set_policy))
        .route("/api/v1/servers/{id}/actions", post(actions::create))
        .route("/api/v1/actions", get(actions::history))
        .route("/api/v1/actions/{id}", get(actions::get))
        .route("/api/v1/actions/{id}/approve", post(actions::approve))
        .route("/api/v1/actions/{id}/reject", post(actions::reject))
        .route("/api/v1/actions/{id}/cancel", post(actions::cancel))
        .route_layer(middleware::from_fn_with_state(state, require_api_token))
}

/// Who is calling: recorded as created_by / approved_by / ...
#[derive(Debug, Clone)]
pub struct Actor(pub String);

async fn require_api_token(
    State(service): State<Service>,
    headers: HeaderMap,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let Some(token) = bearer_token(&headers) else {
        // The dashboard's own session works too.
        return match crate::auth::session_user(&service, &headers).await? {
            Some(user) => {
                request.extensions_mut().insert(Actor(user));
                Ok(next.run(request).await)
            }
            None => Err(ApiError::unauthorized(
                "an API token (Authorization: Bearer ...) or a dashboard session is required",
            )),
        };
    };
    match service.api_token_name(token).await? {
        Some(name) => {
            request
                .extensions_mut()
                .insert(Actor(format!("api:{name}")));
            Ok(next.run(request).await)
        }
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
pub(crate) fn path_id(raw: &str) -> Result<ServerId, ApiError> {
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Maintenance {
    paused: bool,
}

async fn set_maintenance(
    State(service): State<Service>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
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
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Policy>,
) -> Result<Json<ServerDetail>, ApiError> {
    let id = path_id(&id)?;
    service
        .set_policy(&id, body.approval_policy, &actor.0)
        .await?;
    Ok(Json(service.server_detail(&id).await?))
}
