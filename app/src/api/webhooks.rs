//! Server functions of the webhooks page: list, create, delete and test
//! notifications. Each event is a checkbox of its own (a plain form posts only the
//! ticked ones), read into the same request the JSON API makes.

// A form's fields are its server function's arguments: the create form has eleven.
#![allow(clippy::too_many_arguments)]

use leptos::prelude::*;

use crate::domain::{AppError, CreatedWebhook, Millis, Webhook};

/// The webhooks page's data: every webhook with its latest deliveries, and the
/// server's clock for relative times.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WebhooksPageData {
    pub webhooks: Vec<Webhook>,
    pub now_ms: Millis,
}

/// Every webhook (URL masked, secret never) with its latest deliveries.
#[server]
pub async fn load_webhooks() -> Result<WebhooksPageData, AppError> {
    super::ssr::respond(
        async {
            Ok(WebhooksPageData {
                webhooks: super::ssr::service()?.webhooks().await?,
                now_ms: Millis::now(),
            })
        }
        .await,
    )
}

/// Creates a webhook from the page's form; the answer carries its secret, once.
#[server]
pub async fn create_webhook(
    name: String,
    url: String,
    format: String,
    #[server(default)] secret: Option<String>,
    #[server(default)] action_pending_approval: Option<String>,
    #[server(default)] action_failed: Option<String>,
    #[server(default)] action_completed: Option<String>,
    #[server(default)] server_offline: Option<String>,
    #[server(default)] server_online: Option<String>,
    #[server(default)] server_security_updates: Option<String>,
    #[server(default)] run_finished: Option<String>,
) -> Result<CreatedWebhook, AppError> {
    super::ssr::respond(
        async {
            let ticked = [
                (action_pending_approval, "action.pending_approval"),
                (action_failed, "action.failed"),
                (action_completed, "action.completed"),
                (server_offline, "server.offline"),
                (server_online, "server.online"),
                (server_security_updates, "server.security_updates"),
                (run_finished, "run.finished"),
            ];
            let draft = homelab_core::service::WebhookDraft {
                name,
                url,
                format,
                events: ticked
                    .into_iter()
                    .filter(|(box_, _)| box_.is_some())
                    .map(|(_, event)| event.to_owned())
                    .collect(),
                secret,
            };
            let request = homelab_core::service::WebhookRequest::try_from(draft)?;
            Ok(super::ssr::service()?
                .create_webhook(request, &super::ssr::actor()?)
                .await?)
        }
        .await,
    )
}

/// Deletes a webhook and its queued deliveries.
#[server]
pub async fn delete_webhook(id: String) -> Result<(), AppError> {
    super::ssr::respond(
        async {
            let id = ssr::webhook_id(&id)?;
            super::ssr::service()?
                .delete_webhook(id, &super::ssr::actor()?)
                .await?;
            Ok(())
        }
        .await,
    )
}

/// Queues a test notification for one webhook.
#[server]
pub async fn test_webhook(id: String) -> Result<Webhook, AppError> {
    super::ssr::respond(
        async {
            let id = ssr::webhook_id(&id)?;
            Ok(super::ssr::service()?
                .test_webhook(id, &super::ssr::actor()?)
                .await?)
        }
        .await,
    )
}

#[cfg(feature = "ssr")]
mod ssr {
    use homelab_protocol::WebhookId;

    use crate::domain::AppError;

    /// A webhook id from a form; an impossible one names no webhook.
    pub fn webhook_id(raw: &str) -> Result<WebhookId, AppError> {
        raw.trim().parse().map_err(|_| {
            AppError::NotFound(format!(
                "no webhook `{}`",
                raw.chars().take(40).collect::<String>()
            ))
        })
    }
}
