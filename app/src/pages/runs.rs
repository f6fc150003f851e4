//! `/runs` and `/runs/:id`: fleet runs, each server's progress, live.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::api::{ApproveAction, CancelRun, RejectAction, RunPageData, list_runs, load_run};
use crate::components::{ActionError, ActionStatusBadge, ApprovalControls, RelativeTime, use_live};
use crate::domain::{ActionStatus, AppError, ItemState, Label, LiveEvent, Run, RunId, RunStatus};

/// A run's status as a badge.
#[component]
pub fn RunStatusBadge(status: RunStatus) -> impl IntoView {
    let class = match status {
        RunStatus::Running => "action-executing",
        RunStatus::Completed => "action-completed",
        RunStatus::Failed => "action-failed",
        RunStatus::Cancelled => "action-cancelled",
    };
    view! { <span class=format!("badge {class}")>{status.label()}</span> }
}

/// One server's state in a run, as a badge.
#[component]
fn ItemStateBadge(state: ItemState) -> impl IntoView {
    let class = match state {
        ItemState::Waiting => "action-cancelled",
        ItemState::Queued => "action-executing",
        ItemState::Completed => "action-completed",
        ItemState::Failed => "action-failed",
        ItemState::Skipped => "maintenance",
        ItemState::Cancelled => "action-cancelled",
    };
    view! { <span class=format!("badge item-state {class}")>{state.label()}</span> }
}

/// "3 of 5 done" and the failures and skips, in words.
fn progress(run: &Run) -> String {
    let total = run.items.len();
    let done = run.items.iter().filter(|i| i.state.is_final()).count();
    let mut words = format!("{done} of {total} done");
    for (state, word) in [
        (ItemState::Failed, "failed"),
        (ItemState::Skipped, "skipped"),
    ] {
        let n = run.count(state);
        if n > 0 {
            words.push_str(&format!(", {n} {word}"));
        }
    }
    words
}

/// What a run works on, in words.
fn target(run: &Run) -> String {
    match &run.tag {
        Some(tag) => format!("tag {tag}"),
        None if run.items.len() == 1 => "1 server".to_owned(),
        None => format!("{} servers", run.items.len()),
    }
}

/// The runs page: the newest runs.
#[component]
pub fn RunsPage() -> impl IntoView {
    let live = use_live().changes(|e| matches!(e, LiveEvent::Run { .. }));
    let runs = Resource::new(move || live.get(), |_| list_runs());
    view! {
        <Title text="Fleet runs"/>
        <section class="page-head"><h1>"Fleet runs"</h1></section>
        <p class="muted">"Start a run from the " <a href="/">"fleet page"</a> ": tick servers or pick a tag."</p>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match runs.await {
                    Ok(data) if data.runs.is_empty() => view! {
                        <p class="card muted">"No fleet run yet."</p>
                    }.into_any(),
                    Ok(data) => {
                        let now_ms = data.now_ms;
                        let rows = data.runs.into_iter().map(|run| view! {
                            <tr>
                                <th scope="row"><a href=format!("/runs/{}", run.id)>{format!("#{}", run.id)}</a></th>
                                <td data-label="Action">{run.action_type.label()}</td>
                                <td data-label="Target">{target(&run)}</td>
                                <td data-label="Progress">{progress(&run)}</td>
                                <td data-label="Status"><RunStatusBadge status=run.status/></td>
                                <td data-label="Started by">
                                    {run.created_by.clone()}
                                    {run.late.then(|| view! { " " <span class="badge maintenance">"late"</span> })}
                                </td>
                                <td data-label="Started"><RelativeTime at_ms=Some(run.created_at_ms) now_ms/></td>
                            </tr>
                        }).collect_view();
                        view! {
                            <div class="table-wrap">
                                <table class="runs">
                                    <caption class="visually-hidden">"Fleet runs"</caption>
                                    <thead><tr>
                                        <th scope="col">"Run"</th>
                                        <th scope="col">"Action"</th>
                                        <th scope="col">"Target"</th>
                                        <th scope="col">"Progress"</th>
                                        <th scope="col">"Status"</th>
                                        <th scope="col">"Started by"</th>
                                        <th scope="col">"Started"</th>
                                    </tr></thead>
                                    <tbody>{rows}</tbody>
                                </table>
                            </div>
                        }.into_any()
                    }
                    Err(e) => view! { <p class="note error" role="alert">{e.for_user()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// One run: each server's state, its action, and the approvals it waits for.
#[component]
pub fn RunPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || {
        params
            .read()
            .get("id")
            .and_then(|s| s.parse::<RunId>().ok())
            .unwrap_or(RunId::new(0))
    };
    let approve = ServerAction::<ApproveAction>::new();
    let reject = ServerAction::<RejectAction>::new();
    let cancel = ServerAction::<CancelRun>::new();
    // Live: this run moved on, or any action changed (one of its own, say, started).
    let live = use_live().changes(move |e| match e {
        LiveEvent::Run { id: run } => *run == id(),
        LiveEvent::Action { .. } => true,
        _ => false,
    });
    let data = Resource::new(
        move || {
            (
                id(),
                live.get(),
                approve.version().get(),
                reject.version().get(),
                cancel.version().get(),
            )
        },
        |(id, ..)| load_run(id),
    );
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(page) => view! { <RunView page approve reject cancel/> }.into_any(),
                    Err(AppError::NotFound(message)) => view! {
                        <Title text="No such run"/>
                        <section class="card"><h1>"No such run"</h1><p>{message} ". " <a href="/runs">"Back to the runs"</a></p></section>
                    }.into_any(),
                    Err(e) => view! { <p class="note error" role="alert">{e.for_user()}</p> }.into_any(),
                }
            })}
        </Transition>
        <ActionError value=approve.value()/>
        <ActionError value=reject.value()/>
        <ActionError value=cancel.value()/>
    }
}

#[component]
fn RunView(
    page: RunPageData,
    approve: ServerAction<ApproveAction>,
    reject: ServerAction<RejectAction>,
    cancel: ServerAction<CancelRun>,
) -> impl IntoView {
    let RunPageData { run, now_ms } = page;
    let title = format!("Fleet run #{}: {}", run.id, run.action_type.label());
    let total = run.items.len();
    let done = run.items.iter().filter(|i| i.state.is_final()).count();
    let rows = run
        .items
        .clone()
        .into_iter()
        .map(|item| {
            let waits_for_person = item.action_status == Some(ActionStatus::Pending);
            // The step under way: the run's action, or the reboot after it.
            let current = item.reboot_action_id.or(item.action_id);
            view! {
                <tr class=format!("item-{}", item.state)>
                    <th scope="row"><a href=format!("/servers/{}", item.server_id)>{item.server_id.to_string()}</a></th>
                    <td data-label="State"><ItemStateBadge state=item.state/></td>
                    <td data-label="Action">
                        {item.action_id.map(|a| view! { <a href=format!("/actions/{a}")>{format!("#{a}")}</a> " " })}
                        {item.reboot_action_id.map(|a| view! {
                            "then reboot " <a href=format!("/actions/{a}")>{format!("#{a}")}</a> " "
                        })}
                        {item.action_status.map(|s| view! { <ActionStatusBadge status=s/> })}
                    </td>
                    <td data-label="Details">
                        {item.reason.clone().map(|r| view! { <span class="muted">{r}</span> })}
                        {waits_for_person.then(|| current.map(|a| view! {
                            <ApprovalControls id=a approve reject/>
                        }))}
                    </td>
                </tr>
            }
        })
        .collect_view();
    let running = run.status == RunStatus::Running;
    view! {
        <Title text=title.clone()/>
        <nav class="crumbs" aria-label="Breadcrumb"><a href="/runs">"Fleet runs"</a> " / " {format!("#{}", run.id)}</nav>
        <section class="page-head">
            <h1>{title}</h1>
            <RunStatusBadge status=run.status/>
        </section>
        <section class="card facts">
            <dl>
                <div><dt>"Target"</dt><dd>{target(&run)}</dd></div>
                <div><dt>"Batch size"</dt><dd>{run.batch_size}</dd></div>
                <div><dt>"Failures allowed"</dt><dd>{run.max_failures}</dd></div>
                {run.reboot_if_required.then(|| view! {
                    <div><dt>"Reboot"</dt><dd>"if required, before the next batch"</dd></div>
                })}
                <div><dt>"Started"</dt><dd><RelativeTime at_ms=Some(run.created_at_ms) now_ms/></dd></div>
                <div><dt>"Started by"</dt><dd>{run.created_by.clone()}{run.late.then_some(" (late: missed while the dashboard was down)")}</dd></div>
                {run.finished_at_ms.map(|at| view! {
                    <div><dt>"Finished"</dt><dd><RelativeTime at_ms=Some(at) now_ms/></dd></div>
                })}
            </dl>
            <p>
                <meter min="0" max=total.to_string() value=done.to_string() aria-label="Progress"></meter>
                " " <span class="run-progress">{progress(&run)}</span>
            </p>
            <p><a href=format!("/actions?run_id={}", run.id)>"This run's actions in the history"</a></p>
        </section>
        {running.then(|| view! {
            <ActionForm action=cancel attr:class="inline">
                <input type="hidden" name="id" value=run.id.to_string()/>
                <button type="submit" class="secondary">"Cancel run"</button>
            </ActionForm>
        })}
        <div class="table-wrap">
            <table class="run-items">
                <caption class="visually-hidden">"Servers in this run"</caption>
                <thead><tr>
                    <th scope="col">"Server"</th>
                    <th scope="col">"State"</th>
                    <th scope="col">"Action"</th>
                    <th scope="col">"Details"</th>
                </tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
}
