//! `/actions/:id`: one action: command, timeline, exit code, output. Follows the
//! live stream: a status change or new output reloads it.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::api::{ActionPageData, ApproveAction, CancelAction, RejectAction, load_action};
use crate::components::{
    ActionError, ActionStatusBadge, ApprovalControls, ExactTime, HoldNote, PreviewPanel,
    RelativeTime, action_changes,
};
use crate::domain::{ActionId, AppError, Label, Operation, previewable};

/// The action page.
#[component]
pub fn ActionPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || {
        params
            .read()
            .get("id")
            .and_then(|s| s.parse::<ActionId>().ok())
            .unwrap_or(ActionId::new(0))
    };
    let approve = ServerAction::<ApproveAction>::new();
    let reject = ServerAction::<RejectAction>::new();
    let cancel = ServerAction::<CancelAction>::new();
    let changed = action_changes(id);
    let data = Resource::new(
        move || {
            (
                id(),
                changed.get(),
                approve.version().get(),
                reject.version().get(),
                cancel.version().get(),
            )
        },
        |(id, ..)| load_action(id),
    );

    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(page) => view! { <ActionView page approve reject cancel/> }.into_any(),
                    Err(AppError::NotFound(message)) => view! {
                        <Title text="No such action"/>
                        <section class="card"><h1>"No such action"</h1><p>{message} ". " <a href="/actions">"Back to the history"</a></p></section>
                    }.into_any(),
                    Err(e) => view! { <p class="note error" role="alert">{e.for_user()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn ActionView(
    page: ActionPageData,
    approve: ServerAction<ApproveAction>,
    reject: ServerAction<RejectAction>,
    cancel: ServerAction<CancelAction>,
) -> impl IntoView {
    let ActionPageData { action: a, now_ms } = page;
    let title = format!("Action #{}: {}", a.id, a.action_type.label());
    let command = if a.argv.is_empty() {
        "(nothing to run)".to_owned()
    } else {
        a.argv.join(" ")
    };
    let timeline = crate::domain::timeline(&a)
        .into_iter()
        .map(|e| {
            view! {
                <li>
                    <ExactTime at_ms=e.at_ms/>
                    " — " {e.what}
                    {e.by.map(|by| view! { <span class="muted">{format!(" by {by}")}</span> })}
                </li>
            }
        })
        .collect_view();
    let cancellable = a.status.allows(Operation::Cancel);
    // Before it runs, or once it has been checked: what apt would do.
    let preview = (previewable(a.action_type)
        && (a.preview.is_some() || a.status.allows(Operation::Cancel)))
    .then(|| {
        let a = a.clone();
        view! {
            <section class="card" aria-labelledby="preview-title">
                <h2 id="preview-title">"What apt would do"</h2>
                <PreviewPanel action=a now_ms/>
            </section>
        }
    });
    let hold = a.clone();
    view! {
        <Title text=title.clone()/>
        <nav class="crumbs" aria-label="Breadcrumb"><a href="/actions">"History"</a> " / " {format!("#{}", a.id)}</nav>
        <section class="page-head">
            <h1>{title}</h1>
            <ActionStatusBadge status=a.status/>
        </section>
        <section class="card facts">
            <dl>
                <div><dt>"Server"</dt><dd><a href=format!("/servers/{}", a.server_id)>{a.server_id.to_string()}</a></dd></div>
                <div><dt>"Created"</dt><dd><RelativeTime at_ms=Some(a.created_at_ms) now_ms/></dd></div>
                {a.run_id.map(|run| view! {
                    <div><dt>"Fleet run"</dt><dd><a href=format!("/runs/{run}")>{format!("#{run}")}</a></dd></div>
                })}
                <div><dt>"Time limit"</dt><dd>{format!("{} s", a.timeout_s)}</dd></div>
                <div><dt>"Exit code"</dt><dd>{a.exit_code.map(|c| c.to_string()).unwrap_or_else(|| "—".into())}</dd></div>
                <div><dt>"Failure"</dt><dd>{a.failure.map(|f| f.label().to_owned()).unwrap_or_else(|| "—".into())}</dd></div>
                <div><dt>"Duration"</dt><dd>{a.duration_ms().map(|ms| format!("{:.1} s", ms as f64 / 1000.0)).unwrap_or_else(|| "—".into())}</dd></div>
            </dl>
            <h2>"Command"</h2>
            <pre class="command">{command}</pre>
        </section>
        <HoldNote action=hold/>
        {a.status.allows(Operation::Approve).then(|| view! {
            <section class="card"><h2>"Awaiting approval"</h2><ApprovalControls id=a.id approve reject/></section>
        })}
        {preview}
        {cancellable.then(|| view! {
            <ActionForm action=cancel attr:class="inline">
                <input type="hidden" name="id" value=a.id.to_string()/>
                <button type="submit" class="secondary">"Cancel action"</button>
            </ActionForm>
        })}
        <ActionError value=approve.value()/>
        <ActionError value=reject.value()/>
        <ActionError value=cancel.value()/>
        <section class="card" aria-labelledby="timeline-title">
            <h2 id="timeline-title">"Timeline"</h2>
            <ol class="timeline">{timeline}</ol>
        </section>
        <section class="card" aria-labelledby="output-title">
            <h2 id="output-title">"Output"</h2>
            {if a.stdout.is_empty() && a.stderr.is_empty() {
                view! { <p class="muted">{if a.status.is_final() { "No output." } else { "No output yet." }}</p> }.into_any()
            } else {
                // Each stream only when it has something: an empty box reads as
                // something missing.
                let stream = |name: &'static str, text: String| {
                    (!text.is_empty()).then(|| view! {
                        <h3>{name}</h3>
                        <pre class="output" aria-label=name>{text}</pre>
                    })
                };
                view! {
                    {stream("stdout", a.stdout)}
                    {stream("stderr", a.stderr)}
                }.into_any()
            }}
        </section>
    }
}
