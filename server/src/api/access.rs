//! Revocation: API tokens listed, minted and revoked; a server's agent token rotated;
//! a server removed (its history stays).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use homelab_protocol::{AddedServer, ApiTokenInfo, ServerId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::openapi::{Always, Conflict, JsonBody, NotFound, Write};
use super::{Actor, SERVER_ID, path_id};
use crate::http::{ApiError, ApiJson, ApiPath};
use crate::service::Service;

/// `GET /api/v1/tokens`
#[derive(Serialize, ToSchema)]
pub(super) struct TokenList {
    tokens: Vec<ApiTokenInfo>,
}

/// Every API token, by name; never a secret.
#[utoipa::path(
    get,
    path = "/api/v1/tokens",
    tag = "tokens",
    responses((status = 200, description = "The tokens", body = TokenList), Always),
)]
pub(super) async fn list_tokens(
    State(service): State<Service>,
) -> Result<Json<TokenList>, ApiError> {
    Ok(Json(TokenList {
        tokens: service.list_api_tokens().await?,
    }))
}

/// `POST /api/v1/tokens`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewToken {
    /// A name of its own, to revoke it by: trimmed, 1 to 100 bytes, no control
    /// characters.
    name: String,
}

/// A new token's secret, shown only in this answer.
#[derive(Serialize, ToSchema)]
pub(super) struct MintedToken {
    name: String,
    token: String,
}

/// Mints an API token; its secret is in this answer only.
#[utoipa::path(
    post,
    path = "/api/v1/tokens",
    tag = "tokens",
    request_body = NewToken,
    responses(
        (status = 201, description = "The token (shown this once)", body = MintedToken),
        Always, Write, JsonBody, Conflict,
    ),
)]
pub(super) async fn create_token(
    State(service): State<Service>,
    actor: Actor,
    ApiJson(body): ApiJson<NewToken>,
) -> Result<(StatusCode, Json<MintedToken>), ApiError> {
    let token = service.create_api_token(&body.name).await?;
    tracing::info!(token = body.name.trim(), by = actor.0, "API token created");
    Ok((
        StatusCode::CREATED,
        Json(MintedToken {
            name: body.name.trim().to_owned(),
            token,
        }),
    ))
}

/// Revokes an API token: requests carrying it are refused at once.
#[utoipa::path(
    delete,
    path = "/api/v1/tokens/{name}",
    tag = "tokens",
    params(("name" = String, Path, description = "The token's name")),
    responses((status = 204, description = "Revoked"), Always, Write, NotFound),
)]
pub(super) async fn revoke_token(
    State(service): State<Service>,
    actor: Actor,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    service.revoke_api_token(&name, &actor.0).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Gives the server's agent a new token; the old one is refused from now on.
#[utoipa::path(
    post,
    path = "/api/v1/servers/{id}/agent-token",
    tag = "servers",
    params(("id" = ServerId, Path, description = SERVER_ID)),
    responses(
        (status = 200, description = "The new agent token (shown this once)", body = AddedServer),
        Always, Write, NotFound,
    ),
)]
pub(super) async fn rotate_agent_token(
    State(service): State<Service>,
    actor: Actor,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<AddedServer>, ApiError> {
    let id = path_id(&id)?;
    Ok(Json(service.rotate_agent_token(&id, &actor.0).await?))
}

/// Removes a server.
///
/// Its agent is refused and its waiting actions cancelled; its history stays and its
/// id can be added again.
#[utoipa::path(
    delete,
    path = "/api/v1/servers/{id}",
    tag = "servers",
    params(("id" = ServerId, Path, description = SERVER_ID)),
    responses((status = 204, description = "Removed"), Always, Write, NotFound),
)]
pub(super) async fn remove_server(
    State(service): State<Service>,
    actor: Actor,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let id = path_id(&id)?;
    service.remove_server(&id, &actor.0).await?;
    Ok(StatusCode::NO_CONTENT)
}
