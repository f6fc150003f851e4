//! Server functions for the fleet.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::domain::{AddedServer, AppError, ServerDetail, ServerSummary};

/// The fleet as the fleet page shows it, with the server's clock so relative times
/// render the same on the server and in the browser.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fleet {
    pub servers: Vec<ServerSummary>,
    /// New with every load: the run form sends it as its request id, so a double
    /// click or a resent form starts one run.
    pub form_token: String,
    pub now_ms: crate::domain::Millis,
}

/// One server as the server page shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerPageData {
    pub detail: ServerDetail,
    /// The newest actions on this server.
    pub recent: Vec<crate::domain::Action>,
    /// The apt action queued or running, which the apt buttons wait for.
    pub apt_in_flight: Option<crate::domain::Action>,
    /// New with every load of the page: the forms send it (with their action type) as
    /// their request id, so a double click or a resent form queues one action.
    pub form_token: String,
    pub now_ms: crate::domain::Millis,
}

/// How many recent actions the server page lists.
pub const RECENT_ACTIONS: u32 = 10;

/// Every server in the fleet, for the fleet table.
#[server]
pub async fn list_servers() -> Result<Fleet, AppError> {
    super::ssr::respond(
        async {
            let servers = super::ssr::service()?.list_servers().await?;
            Ok(Fleet {
                servers,
                form_token: homelab_core::tokens::mint("").secret[..24].to_owned(),
                now_ms: crate::domain::Millis::now(),
            })
        }
        .await,
    )
}

/// The ids of the fleet's servers, for the history's filter: no counts, no names.
#[server]
pub async fn server_ids() -> Result<Vec<crate::domain::ServerId>, AppError> {
    super::ssr::respond(async { Ok(super::ssr::service()?.server_ids().await?) }.await)
}

/// Adds a server from the dashboard's form. The fields are parsed here, at the edge.
#[server]
pub async fn add_server(id: String, name: String) -> Result<AddedServer, AppError> {
    use crate::domain::{ServerId, ServerName};

    super::ssr::respond(
        async {
            let id =
                ServerId::parse(id.trim()).map_err(|e| AppError::invalid("id", e.to_string()))?;
            let name =
                ServerName::parse(&name).map_err(|e| AppError::invalid("name", e.to_string()))?;
            Ok(super::ssr::service()?.add_server(id, name).await?)
        }
        .await,
    )
}

/// One server with its metrics and pending packages, for the server page.
#[server]
pub async fn load_server_page(id: String) -> Result<ServerPageData, AppError> {
    super::ssr::respond(
        async {
            let id = crate::domain::ServerId::parse(id.as_str())
                .map_err(|_| AppError::NotFound(format!("no server with id `{id}`")))?;
            let service = super::ssr::service()?;
            let detail = service.server_detail(&id).await?;
            let recent = service
                .history(
                    &crate::domain::HistoryFilter {
                        server_id: Some(id.clone()),
                        ..crate::domain::HistoryFilter::default()
                    },
                    None,
                    RECENT_ACTIONS,
                )
                .await?
                .actions;
            let apt_in_flight = service.apt_in_flight(&id).await?;
            Ok(ServerPageData {
                detail,
                recent,
                apt_in_flight,
                form_token: homelab_core::tokens::mint("").secret[..24].to_owned(),
                now_ms: crate::domain::Millis::now(),
            })
        }
        .await,
    )
}

/// Switches maintenance mode from the server page.
#[server]
pub async fn set_maintenance(server_id: String, paused: bool) -> Result<(), AppError> {
    super::ssr::respond(
        async {
            let id = crate::domain::ServerId::parse(server_id.as_str())
                .map_err(|_| AppError::NotFound(format!("no server with id `{server_id}`")))?;
            Ok(super::ssr::service()?
                .set_paused(&id, paused, &super::ssr::actor()?)
                .await?)
        }
        .await,
    )
}

/// Sets the approval policy from the server page.
#[server]
pub async fn set_approval_policy(
    server_id: String,
    policy: crate::domain::ApprovalPolicy,
) -> Result<(), AppError> {
    super::ssr::respond(
        async {
            let id = crate::domain::ServerId::parse(server_id.as_str())
                .map_err(|_| AppError::NotFound(format!("no server with id `{server_id}`")))?;
            Ok(super::ssr::service()?
                .set_policy(&id, policy, &super::ssr::actor()?)
                .await?)
        }
        .await,
    )
}
