//! Server functions for the fleet.

use leptos::prelude::*;

use crate::domain::{AddedServer, AppError, ServerSummary};

/// Every server in the fleet, for the fleet table.
#[server]
pub async fn list_servers() -> Result<Vec<ServerSummary>, AppError> {
    super::ssr::backend()?.list_servers().await
}

/// Adds a server from the dashboard's form. The fields are parsed here, at the edge.
#[server]
pub async fn add_server(id: String, name: String) -> Result<AddedServer, AppError> {
    use crate::domain::{ServerId, ServerName};

    let id = ServerId::parse(id.trim()).map_err(|e| AppError::invalid("id", e.to_string()))?;
    let name = ServerName::parse(&name).map_err(|e| AppError::invalid("name", e.to_string()))?;
    super::ssr::backend()?.add_server(id, name).await
}

/// One server with its metrics and pending packages, for the server page.
#[server]
pub async fn server_detail(id: String) -> Result<crate::domain::ServerDetail, AppError> {
    let id = crate::domain::ServerId::parse(id)
        .map_err(|e| AppError::NotFound(format!("no such server: {e}")))?;
    super::ssr::backend()?.server_detail(id).await
}
