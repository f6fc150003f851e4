//! Server functions of the remediation engine: the dashboard's way into the same
//! service layer as the JSON API.

use leptos::prelude::*;

use serde::{Deserialize, Serialize};

use crate::domain::{Action, ActionId, ActionPage, ActionType, AppError};

/// A history page with the server's clock, for relative times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryPageData {
    pub page: ActionPage,
    pub now_ms: crate::domain::Millis,
}

/// An action with the server's clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionPageData {
    pub action: Action,
    pub now_ms: crate::domain::Millis,
}

/// The history page size.
pub const PAGE_SIZE: u32 = 25;

/// Queues an action on a server. `unit` is for `restart_service`, `vacuum_time` for
/// `clear_logs`; both are checked on the server.
#[server]
pub async fn create_action(
    server_id: String,
    action_type: ActionType,
    #[server(default)] unit: Option<String>,
    #[server(default)] vacuum_time: Option<String>,
    #[server(default)] request_id: Option<String>,
) -> Result<Action, AppError> {
    use crate::domain::{ActionSpec, ServerId};

    super::ssr::respond(
        async {
            let server = ServerId::parse(server_id.as_str())
                .map_err(|_| AppError::NotFound(format!("no server with id `{server_id}`")))?;
            let mut parameters = serde_json::Map::new();
            if let Some(unit) = unit.filter(|u| !u.trim().is_empty()) {
                parameters.insert("unit".into(), unit.trim().into());
            }
            if let Some(v) = vacuum_time.filter(|v| !v.trim().is_empty()) {
                parameters.insert("vacuum_time".into(), v.trim().into());
            }
            let parameters = serde_json::Value::Object(parameters);
            let spec = ActionSpec::parse(action_type, Some(&parameters))
                .map_err(|e| AppError::invalid(e.field, e.message))?;
            // The same form sent again is the same request; the same form with other
            // values (another unit) is another.
            let request_id = super::ssr::form_request_id(request_id, &parameters.to_string())?;
            let (action, _) = super::ssr::service()?
                .create_action_once(&server, spec, &super::ssr::actor()?, request_id.as_ref())
                .await?;
            Ok(action)
        }
        .await,
    )
}

/// Approves a pending action.
#[server]
pub async fn approve_action(id: ActionId) -> Result<Action, AppError> {
    super::ssr::respond(
        async {
            Ok(super::ssr::service()?
                .approve(id, &super::ssr::actor()?)
                .await?)
        }
        .await,
    )
}

/// Rejects a pending action; the reason is required.
#[server]
pub async fn reject_action(id: ActionId, reason: String) -> Result<Action, AppError> {
    super::ssr::respond(
        async {
            Ok(super::ssr::service()?
                .reject(id, &super::ssr::actor()?, &reason)
                .await?)
        }
        .await,
    )
}

/// Cancels an action that has not started.
#[server]
pub async fn cancel_action(id: ActionId) -> Result<Action, AppError> {
    super::ssr::respond(
        async {
            Ok(super::ssr::service()?
                .cancel(id, &super::ssr::actor()?)
                .await?)
        }
        .await,
    )
}

/// Asks the agent what apt would do for a pending or approved upgrade; the preview
/// arrives later (the live stream reloads the page).
#[server]
pub async fn request_preview(id: ActionId) -> Result<Action, AppError> {
    super::ssr::respond(
        async {
            Ok(super::ssr::service()?
                .request_preview(id, &super::ssr::actor()?)
                .await?)
        }
        .await,
    )
}

/// One action with its output and timeline.
#[server]
pub async fn load_action(id: ActionId) -> Result<ActionPageData, AppError> {
    super::ssr::respond(
        async {
            Ok(ActionPageData {
                action: super::ssr::service()?.action(id).await?,
                now_ms: crate::domain::Millis::now(),
            })
        }
        .await,
    )
}

/// A page of the history. Filters come from the URL as text; an empty one is off.
#[server]
pub async fn action_history(
    #[server(default)] server_id: Option<String>,
    #[server(default)] status: Option<String>,
    #[server(default)] action_type: Option<String>,
    #[server(default)] run_id: Option<String>,
    #[server(default)] schedule_id: Option<String>,
    #[server(default)] cursor: Option<String>,
) -> Result<HistoryPageData, AppError> {
    use crate::domain::{ActionStatus, HistoryFilter, RunId, ScheduleId, ServerId};

    super::ssr::respond(
        async {
            let set = |v: Option<String>| v.filter(|s| !s.is_empty());
            let filter = HistoryFilter {
                server_id: set(server_id)
                    .map(ServerId::parse)
                    .transpose()
                    .map_err(|e| AppError::invalid("server", e.to_string()))?,
                status: set(status)
                    .map(|s| s.parse::<ActionStatus>())
                    .transpose()
                    .map_err(|e| AppError::invalid("status", e.to_string()))?,
                action_type: set(action_type)
                    .map(|s| s.parse::<ActionType>())
                    .transpose()
                    .map_err(|e| AppError::invalid("type", e.to_string()))?,
                run_id: set(run_id)
                    .map(|s| s.parse::<RunId>())
                    .transpose()
                    .map_err(|_| AppError::invalid("run", "not a run number"))?,
                schedule_id: set(schedule_id)
                    .map(|s| s.parse::<ScheduleId>())
                    .transpose()
                    .map_err(|_| AppError::invalid("schedule", "not a schedule number"))?,
            };
            Ok(HistoryPageData {
                page: super::ssr::service()?
                    .history(&filter, set(cursor).as_deref(), PAGE_SIZE)
                    .await?,
                now_ms: crate::domain::Millis::now(),
            })
        }
        .await,
    )
}
