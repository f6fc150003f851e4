use leptos::prelude::*;

use crate::api::{ApproveAction, RejectAction};
use crate::components::RelativeTime;
use crate::domain::{Action, ActionId, ActionStatus, AppError, Label, Operation};

/// An action's status as an icon plus words.
#[component]
pub fn ActionStatusBadge(status: ActionStatus) -> impl IntoView {
    let icon = match status {
        ActionStatus::Pending => "…",
        ActionStatus::Approved => "◷",
        ActionStatus::Executing => "▶",
        ActionStatus::Completed => "✓",
        ActionStatus::Failed => "✕",
        ActionStatus::Rejected => "⊘",
        ActionStatus::Cancelled => "–",
    };
    view! {
        <span class=format!("badge action-{status}")>
            <span aria-hidden="true">{icon}</span>
            " "
            {status.label()}
        </span>
    }
}

/// Approve, and Reject with a required reason, for a pending action. Plain forms
/// posting to server functions: they work before and without hydration.
#[component]
pub fn ApprovalControls(
    id: ActionId,
    approve: ServerAction<ApproveAction>,
    reject: ServerAction<RejectAction>,
) -> impl IntoView {
    view! {
        <div class="approval">
            <ActionForm action=approve attr:class="inline">
                <input type="hidden" name="id" value=id.to_string()/>
                <button type="submit" class="small">"Approve"</button>
            </ActionForm>
            <details class="reject">
                <summary class="button small secondary">"Reject…"</summary>
                <ActionForm action=reject attr:class="reject-form">
                    <input type="hidden" name="id" value=id.to_string()/>
                    <label>
                        "Reason"
                        <textarea name="reason" required maxlength="1000" rows="2"></textarea>
                    </label>
                    <button type="submit" class="small danger">"Reject"</button>
                </ActionForm>
            </details>
        </div>
    }
}

/// The last error of a server action, if any, as an alert.
#[component]
pub fn ActionError<T>(value: MappedSignal<Option<Result<T, AppError>>>) -> impl IntoView
where
    T: Send + Sync + 'static,
{
    move || {
        value.with(|v| match v {
            Some(Err(e)) => Some(view! { <p class="note error" role="alert">{e.for_user()}</p> }),
            _ => None,
        })
    }
}

/// A table of actions, newest first.
#[component]
pub fn ActionsTable(
    actions: Vec<Action>,
    now_ms: crate::domain::Millis,
    #[prop(optional)] show_server: bool,
    approve: ServerAction<ApproveAction>,
    reject: ServerAction<RejectAction>,
    caption: &'static str,
) -> impl IntoView {
    let rows = actions
        .into_iter()
        .map(|a| {
            let pending = a.status.allows(Operation::Approve);
            view! {
                <tr>
                    <th scope="row"><a href=format!("/actions/{}", a.id)>{format!("#{}", a.id)}</a></th>
                    {show_server.then(|| view! {
                        <td data-label="Server"><a href=format!("/servers/{}", a.server_id)>{a.server_id.to_string()}</a></td>
                    })}
                    <td data-label="Type">{a.action_type.label()}</td>
                    <td data-label="Status"><ActionStatusBadge status=a.status/></td>
                    <td data-label="Created"><RelativeTime at_ms=Some(a.created_at_ms) now_ms/></td>
                    <td data-label="By">
                        {a.created_by.clone()}
                        {a.run_id.map(|run| view! {
                            " " <a class="run-link" href=format!("/runs/{run}")>{format!("run #{run}")}</a>
                        })}
                    </td>
                    <td>
                        {pending.then(|| view! { <ApprovalControls id=a.id approve reject/> })}
                        {a.reject_reason.clone().map(|r| view! { <span class="muted">{format!("Reason: {r}")}</span> })}
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="table-wrap">
            <table class="actions">
                <caption class="visually-hidden">{caption}</caption>
                <thead>
                    <tr>
                        <th scope="col">"Action"</th>
                        {show_server.then(|| view! { <th scope="col">"Server"</th> })}
                        <th scope="col">"Type"</th>
                        <th scope="col">"Status"</th>
                        <th scope="col">"Created"</th>
                        <th scope="col">"By"</th>
                        <th scope="col">""</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
}
