//! Revocation: API tokens listed, minted and revoked; a server's agent token rotated;
//! a server removed (its history stays).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use homelab_protocol::{AddedServer, ApiTokenInfo};
use serde::{Deserialize, Serialize};

use super::{Actor, path_id};
use crate::http::{ApiError, ApiJson, ApiPath};
use crate::service::Service;

/// `GET /api/v1/tokens`
#[derive(Serialize)]
pub(super) struct TokenList {
    tokens: Vec<ApiTokenInfo>,
}

pub(super) async fn list_tokens(
    State(service): State<Service>,
) -> Result<Json<TokenList>, ApiError> {
    Ok(Json(TokenList {
        tokens: service.list_api_tokens().await?,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewToken {
    name: String,
}

/// A new token's secret, shown only in this answer.
#[derive(Serialize)]
pub(super) struct MintedToken {
    name: String,
    token: String,
}

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

pub(super) async fn revoke_token(
    State(service): State<Service>,
    actor: Actor,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    service.revoke_api_token(&name, &actor.0).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn rotate_agent_token(
    State(service): State<Service>,
    actor: Actor,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<AddedServer>, ApiError> {
    let id = path_id(&id)?;
    Ok(Json(service.rotate_agent_token(&id, &actor.0).await?))
}

pub(super) async fn remove_server(
    State(service): State<Service>,
    actor: Actor,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let id = path_id(&id)?;
    service.remove_server(&id, &actor.0).await?;
    Ok(StatusCode::NO_CONTENT)
}
