//! Server functions for the fleet.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::domain::{AddedServer, AppError, ServerDetail, ServerSummary};

/// The fleet as the fleet page shows it, with the server's clock so relative times
/// render the same on the server and in the browser.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fleet {
    pub servers: Vec<ServerSummary>,
    pub now_ms: i64,
}

/// One server as the server page shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerPageData {
    pub detail: ServerDetail,
    pub now_ms: i64,
}

/// Every server in the fleet, for the fleet table.
#[server]
pub async fn list_servers() -> Result<Fleet, AppError> {
    super::ssr::respond(
        async {
            let servers = super::ssr::backend()?.list_servers().await?;
            Ok(Fleet {
                servers,
                now_ms: super::ssr::now_ms(),
            })
        }
        .await,
    )
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
            super::ssr::backend()?.add_server(id, name).await
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
            let detail = super::ssr::backend()?.server_detail(id).await?;
            Ok(ServerPageData {
                detail,
                now_ms: super::ssr::now_ms(),
            })
        }
        .await,
    )
}
