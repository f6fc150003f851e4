//! Server functions that take access back: a server's agent token rotated, a server
//! removed, API tokens minted and revoked, the user's own password changed.

use leptos::prelude::*;

use crate::domain::{AddedServer, ApiTokenInfo, AppError};

/// The answer to minting an API token: its secret, shown only this once.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MintedToken {
    pub name: String,
    pub token: String,
}

/// Parses a server id from a form; an impossible one names no server.
#[cfg(feature = "ssr")]
fn parse_server_id(raw: &str) -> Result<crate::domain::ServerId, AppError> {
    crate::domain::ServerId::parse(raw)
        .map_err(|_| AppError::NotFound(format!("no server with id `{raw}`")))
}

/// Gives the server a new agent token. The form's `confirm` box must be ticked.
#[server]
pub async fn rotate_agent_token(
    server_id: String,
    #[server(default)] confirm: Option<String>,
) -> Result<AddedServer, AppError> {
    super::ssr::respond(
        async {
            if confirm.as_deref() != Some("yes") {
                return Err(AppError::invalid(
                    "confirm",
                    "tick the box to confirm: the machine's agent stops working until it has the new token",
                ));
            }
            let id = parse_server_id(&server_id)?;
            Ok(super::ssr::service()?
                .rotate_agent_token(&id, &super::ssr::actor()?)
                .await?)
        }
        .await,
    )
}

/// Removes a server from the fleet; `confirm_id` must repeat its id. Goes back to
/// the fleet.
#[server]
pub async fn remove_server(server_id: String, confirm_id: String) -> Result<(), AppError> {
    super::ssr::respond(
        async {
            if confirm_id.trim() != server_id {
                return Err(AppError::invalid(
                    "confirm_id",
                    format!("type `{server_id}` to confirm the removal"),
                ));
            }
            let id = parse_server_id(&server_id)?;
            super::ssr::service()?
                .remove_server(&id, &super::ssr::actor()?)
                .await?;
            leptos_axum::redirect("/");
            Ok(())
        }
        .await,
    )
}

/// Every JSON API token, for the settings page.
#[server]
pub async fn list_api_tokens() -> Result<Vec<ApiTokenInfo>, AppError> {
    super::ssr::respond(async { Ok(super::ssr::service()?.list_api_tokens().await?) }.await)
}

/// Mints a JSON API token called `name`.
#[server]
pub async fn create_api_token(name: String) -> Result<MintedToken, AppError> {
    super::ssr::respond(
        async {
            let token = super::ssr::service()?.create_api_token(&name).await?;
            Ok(MintedToken {
                name: name.trim().to_owned(),
                token,
            })
        }
        .await,
    )
}

/// Revokes the JSON API token called `name`.
#[server]
pub async fn revoke_api_token(name: String) -> Result<(), AppError> {
    super::ssr::respond(
        async {
            Ok(super::ssr::service()?
                .revoke_api_token(&name, &super::ssr::actor()?)
                .await?)
        }
        .await,
    )
}

/// Changes the signed-in user's password; their other sessions end.
#[server]
pub async fn change_password(current: String, new: String, repeat: String) -> Result<(), AppError> {
    super::ssr::respond(
        async {
            if new != repeat {
                return Err(AppError::invalid(
                    "repeat",
                    "the two new passwords are not the same",
                ));
            }
            let session = super::ssr::session_token();
            Ok(super::ssr::service()?
                .change_password(&super::ssr::actor()?, &current, &new, session.as_deref())
                .await?)
        }
        .await,
    )
}
