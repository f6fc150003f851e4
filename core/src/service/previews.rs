//! Know before you approve: a person asks what an upgrade would do, the agent runs
//! apt's simulation and reports it; an upgrade `auto` approved whose simulation
//! removes packages is held by the agent for a person instead of run.

use homelab_protocol::{
    Action, ActionId, ActionStatus, AptPreview, LiveEvent, Operation, PreviewOutcome, ServerId,
    previewable,
};

use super::{DispatchError, Service};
use crate::db;
use crate::{Error, ResultExt as _};

impl Service {
    /// Asks the agent of action `id`'s server for apt's simulation of it: only for an
    /// upgrade that has not started (409 otherwise). An idle agent hears at once.
    #[tracing::instrument(skip(self), fields(action = %id))]
    pub async fn request_preview(&self, id: ActionId, actor: &str) -> Result<Action, Error> {
        let now = self.now_ms();
        let asked = self
            .db
            .write(move |tx| Box::pin(db::actions::request_preview(tx, id, now)))
            .await
            .context("request a preview")?;
        let action = self.action(id).await?;
        if !asked {
            let why = if previewable(action.action_type) {
                format!(
                    "action {id} is {}; only a pending or approved upgrade can be previewed",
                    action.status
                )
            } else {
                format!(
                    "action {id} is {}: apt can preview only the upgrades",
                    action.action_type
                )
            };
            return Err(Error::conflict(why));
        }
        tracing::info!(server = %action.server_id, by = actor, "preview requested");
        self.wake(&action.server_id);
        self.publish(LiveEvent::Action {
            id,
            server: action.server_id.clone(),
        });
        Ok(action)
    }

    /// Records what the agent of `server` says apt would do for action `id`: an
    /// upgrade that has not finished (409 otherwise), of its own server (403; 404
    /// when there is no such action).
    #[tracing::instrument(skip(self, outcome), fields(action = %id, server = %server))]
    pub async fn record_preview(
        &self,
        server: &ServerId,
        id: ActionId,
        outcome: PreviewOutcome,
    ) -> Result<(), DispatchError> {
        outcome.validate().map_err(DispatchError::Invalid)?;
        let now = self.now_ms();
        let owner = server.clone();
        let summary = summary(&outcome);
        self.db
            .write(move |tx| {
                Box::pin(async move {
                    let action = owned(tx, &owner, id).await?;
                    if !previewable(action.action_type) {
                        return Err(DispatchError::NotPreviewable(
                            id,
                            format!("it is {}, not an upgrade", action.action_type),
                        ));
                    }
                    if action.status.is_final() {
                        return Err(DispatchError::NotPreviewable(
                            id,
                            format!("it is {} already", action.status),
                        ));
                    }
                    db::actions::store_preview(tx, id, &outcome, now).await?;
                    db::webhooks::action_changed(tx, id, now).await?;
                    Ok(())
                })
            })
            .await?;
        tracing::info!(%summary, "preview recorded");
        self.publish(LiveEvent::Action {
            id,
            server: server.clone(),
        });
        Ok(())
    }

    /// The agent of `server` did not run action `id`, an upgrade `auto` approved,
    /// because `preview` removes packages: it waits for a person again (pending,
    /// approval and lease cleared, slot kept), with the packages named. 409 unless
    /// it is executing; 422 when the preview removes nothing.
    #[tracing::instrument(skip(self, preview), fields(action = %id, server = %server))]
    pub async fn hold(
        &self,
        server: &ServerId,
        id: ActionId,
        preview: AptPreview,
    ) -> Result<(), DispatchError> {
        preview.validate().map_err(DispatchError::Invalid)?;
        if !preview.removes_anything() {
            return Err(DispatchError::Invalid(
                "a hold needs a preview that removes packages".to_owned(),
            ));
        }
        let to = ActionStatus::Executing
            .after(Operation::Hold)
            .expect("the status machine holds an executing action");
        let reason = preview.hold_reason();
        let now = self.now_ms();
        let owner = server.clone();
        let stored_reason = reason.clone();
        self.db
            .write(move |tx| {
                Box::pin(async move {
                    let action = owned(tx, &owner, id).await?;
                    if !previewable(action.action_type) {
                        return Err(DispatchError::NotPreviewable(
                            id,
                            format!("it is {}, not an upgrade", action.action_type),
                        ));
                    }
                    if !db::actions::hold(tx, id, to, &stored_reason, now).await? {
                        return Err(DispatchError::NotExecuting(id, action.status));
                    }
                    let outcome = PreviewOutcome::Simulated(preview);
                    db::actions::store_preview(tx, id, &outcome, now).await?;
                    Ok(())
                })
            })
            .await?;
        tracing::warn!(%reason, "upgrade held for a person: apt would remove packages");
        self.publish(LiveEvent::Action {
            id,
            server: server.clone(),
        });
        Ok(())
    }
}

/// Action `id` as stored, if it belongs to `owner`: 404 when there is none, 403 when
/// it is another server's.
async fn owned(
    tx: &mut crate::db::Tx,
    owner: &ServerId,
    id: ActionId,
) -> Result<Action, DispatchError> {
    let action = db::actions::get(&mut **tx, id)
        .await?
        .ok_or(DispatchError::NotFound(id))?;
    if action.server_id != *owner {
        return Err(DispatchError::Forbidden(id));
    }
    Ok(action)
}

/// A preview in a few words, for the log.
fn summary(outcome: &PreviewOutcome) -> String {
    match outcome {
        PreviewOutcome::Simulated(p) => format!(
            "{} upgraded, {} newly installed, {} removed",
            p.upgraded.len(),
            p.installed.len(),
            p.removed.len()
        ),
        PreviewOutcome::Failed { message } => {
            format!("failed: {}", message.chars().take(200).collect::<String>())
        }
    }
}
