//! Server functions for fleet runs and tags.

// A form's fields are its server function's arguments: the run form has eight.
#![allow(clippy::too_many_arguments)]

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::domain::{ActionType, AppError, Millis, Run, RunId};

/// One run with the server's clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunPageData {
    pub run: Run,
    pub now_ms: Millis,
}

/// The newest runs with the server's clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunsPageData {
    pub runs: Vec<Run>,
    pub now_ms: Millis,
}

/// How many runs the runs page lists.
pub const RUNS_LISTED: u32 = 50;

/// Starts a fleet run from the fleet page's form, then opens its page. `target` is
/// `tag` (run on `tag`'s servers) or `selected` (the ticked `servers`); the sizes
/// come as the form's text.
#[server]
pub async fn start_run(
    action_type: ActionType,
    #[server(default)] unit: Option<String>,
    #[server(default)] target: Option<String>,
    #[server(default)] servers: Vec<String>,
    #[server(default)] tag: Option<String>,
    #[server(default)] batch_size: Option<String>,
    #[server(default)] max_failures: Option<String>,
    #[server(default)] reboot_if_required: Option<String>,
    #[server(default)] request_id: Option<String>,
) -> Result<RunId, AppError> {
    use homelab_core::service::RunRequest;

    super::ssr::respond(
        async {
            // Every value of the form: the same form with other servers ticked, or
            // another batch size, is another run.
            let values = serde_json::json!([
                action_type.as_str(),
                unit,
                target,
                servers,
                tag,
                batch_size,
                max_failures,
                reboot_if_required,
            ]);
            let request_id = super::ssr::form_request_id(request_id, &values.to_string())?;
            let parameters = unit
                .filter(|u| !u.trim().is_empty())
                .map(|u| serde_json::json!({ "unit": u.trim() }));
            let (servers, tag) = match target.as_deref() {
                Some("tag") => (None, tag.filter(|t| !t.is_empty())),
                _ if servers.is_empty() => {
                    return Err(AppError::invalid(
                        "servers",
                        "tick the servers to run on, or pick a tag",
                    ));
                }
                _ => (Some(servers), None),
            };
            if servers.is_none() && tag.is_none() {
                return Err(AppError::invalid("tag", "pick a tag"));
            }
            let request = RunRequest::parse(
                action_type,
                parameters.as_ref(),
                servers,
                tag,
                super::ssr::form_number("batch_size", batch_size)?,
                super::ssr::form_number("max_failures", max_failures)?,
                Some(super::ssr::form_flag(
                    "reboot_if_required",
                    reboot_if_required,
                )?),
            )?;
            let run = super::ssr::service()?
                .start_run_once(request, &super::ssr::actor()?, request_id.as_ref())
                .await?;
            leptos_axum::redirect(&format!("/runs/{}", run.id));
            Ok(run.id)
        }
        .await,
    )
}

/// One run, for its page.
#[server]
pub async fn load_run(id: RunId) -> Result<RunPageData, AppError> {
    super::ssr::respond(
        async {
            Ok(RunPageData {
                run: super::ssr::service()?.run(id).await?,
                now_ms: Millis::now(),
            })
        }
        .await,
    )
}

/// The newest runs, for the runs page.
#[server]
pub async fn list_runs() -> Result<RunsPageData, AppError> {
    super::ssr::respond(
        async {
            Ok(RunsPageData {
                runs: super::ssr::service()?.runs(None, RUNS_LISTED).await?,
                now_ms: Millis::now(),
            })
        }
        .await,
    )
}

/// Cancels a running run.
#[server]
pub async fn cancel_run(id: RunId) -> Result<Run, AppError> {
    super::ssr::respond(
        async {
            Ok(super::ssr::service()?
                .cancel_run(id, &super::ssr::actor()?)
                .await?)
        }
        .await,
    )
}

/// Replaces a server's tags with the words of `tags` (separated by spaces or commas).
#[server]
pub async fn set_tags(server_id: String, #[server(default)] tags: String) -> Result<(), AppError> {
    use crate::domain::{ServerId, Tag};

    super::ssr::respond(
        async {
            let server = ServerId::parse(server_id.as_str())
                .map_err(|_| AppError::NotFound(format!("no server with id `{server_id}`")))?;
            if tags.len() > 4096 {
                return Err(AppError::invalid("tags", "too long"));
            }
            let words: Vec<&str> = tags
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|w| !w.is_empty())
                .collect();
            let tags =
                Tag::parse_set(&words).map_err(|e| AppError::invalid("tags", e.to_string()))?;
            super::ssr::service()?
                .set_tags(&server, tags, &super::ssr::actor()?)
                .await?;
            Ok(())
        }
        .await,
    )
}
