use leptos::prelude::*;

use crate::api::{ApproveAction, RejectAction, RequestPreview};
use crate::components::RelativeTime;
use crate::domain::{
    Action, ActionId, ActionStatus, AppError, AptPreview, Label, Millis, Operation, PreviewOutcome,
    preview_summary, previewable,
};

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
                        <HoldNote action=a.clone()/>
                        {pending.then(|| view! { <ApprovalControls id=a.id approve reject/> })}
                        {pending.then(|| view! { <PreviewPanel action=a.clone() now_ms compact=true/> })}
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

/// Why an upgrade waits for a person although its server approves automatically:
/// the agent held it, because apt would remove the packages it names.
#[component]
pub fn HoldNote(action: Action) -> impl IntoView {
    let held = action.status == ActionStatus::Pending;
    action.hold_reason.filter(|_| held).map(|reason| {
        let names = reason
            .strip_prefix("held: apt would remove ")
            .unwrap_or(&reason)
            .to_owned();
        view! {
            <p class="note warning hold" role="note">
                <strong>"Held for your approval: "</strong>
                "apt would remove "
                <span class="removed">{names}</span>
                ". It was approved automatically, so the agent checked first and did not run it."
            </p>
        }
    })
}

/// "Check what apt would do" for an upgrade that has not run, and the latest
/// preview with its age (removed packages first and marked). `compact` (tables)
/// shows the sentence and the removed packages only; the action page lists all.
/// Everything shown is apt's output from the machine: text nodes only, escaped.
#[component]
pub fn PreviewPanel(
    action: Action,
    now_ms: Millis,
    #[prop(optional)] compact: bool,
) -> impl IntoView {
    if !previewable(action.action_type) {
        return None;
    }
    let request = ServerAction::<RequestPreview>::new();
    let can_ask = matches!(
        action.status,
        ActionStatus::Pending | ActionStatus::Approved
    );
    let asking = action.preview_requested_at_ms.filter(|_| can_ask);
    let label = if action.preview.is_some() {
        "Check again"
    } else {
        "Check what apt would do"
    };
    let preview = action.preview.clone().map(|p| {
        let failed = matches!(p.outcome, PreviewOutcome::Failed { .. });
        let details = match &p.outcome {
            PreviewOutcome::Simulated(sim) => Some(preview_lists(sim, compact)),
            PreviewOutcome::Failed { .. } => None,
        };
        view! {
            <p class=if failed { "note error preview-summary" } else { "preview-summary" }>
                {preview_summary(&p.outcome)}
                " "
                <span class="muted">"Checked " <RelativeTime at_ms=Some(p.taken_at_ms) now_ms/> "."</span>
            </p>
            {details}
        }
    });
    Some(view! {
        <div class="preview" role="group" aria-label=format!("What apt would do for action #{}", action.id)>
            {preview}
            {asking.map(|at| view! {
                <p class="muted" role="status">"Asking the agent… (since " <RelativeTime at_ms=Some(at) now_ms/> ")"</p>
            })}
            {can_ask.then(|| view! {
                <ActionForm action=request attr:class="inline">
                    <input type="hidden" name="id" value=action.id.to_string()/>
                    <button type="submit" class="small secondary">{label}</button>
                </ActionForm>
            })}
            <ActionError value=request.value()/>
        </div>
    })
}

/// The packages of a preview: removed ones always (they are what a person must
/// see), upgraded and newly installed ones unless `compact`.
fn preview_lists(sim: &AptPreview, compact: bool) -> impl IntoView + use<> {
    let removed = (!sim.removed.is_empty()).then(|| {
        let items = sim
            .removed
            .iter()
            .map(|p| view! { <li><strong>{p.name.to_string()}</strong> " " <span class="muted">{p.version.to_string()}</span></li> })
            .collect_view();
        view! {
            <div class="removed">
                <h3>"Would be removed"</h3>
                <ul aria-label="Packages apt would remove">{items}</ul>
            </div>
        }
    });
    let rest = (!compact).then(|| {
        let upgraded = (!sim.upgraded.is_empty()).then(|| {
            let items = sim
                .upgraded
                .iter()
                .map(|u| view! { <li>{u.name.to_string()} " " <span class="muted">{format!("{} → {}", u.from, u.to)}</span></li> })
                .collect_view();
            view! { <h3>"Would be upgraded"</h3><ul aria-label="Packages apt would upgrade">{items}</ul> }
        });
        let installed = (!sim.installed.is_empty()).then(|| {
            let items = sim
                .installed
                .iter()
                .map(|p| view! { <li>{p.name.to_string()} " " <span class="muted">{p.version.to_string()}</span></li> })
                .collect_view();
            view! { <h3>"Would be newly installed"</h3><ul aria-label="Packages apt would newly install">{items}</ul> }
        });
        view! { {upgraded} {installed} }
    });
    view! { {removed} {rest} }
}
