//! `/actions`: the history, rendered on the server, filterable and paged through the
//! URL, so it reads and navigates the same with JavaScript off.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::{ApproveAction, RejectAction, action_history, server_ids};
use crate::components::{ActionError, ActionsTable, use_live};
use crate::domain::{ActionStatus, ActionType, Label, LiveEvent};

/// The history page.
#[component]
pub fn HistoryPage() -> impl IntoView {
    let query = use_query_map();
    let param = move |key: &str| query.read().get(key).filter(|v| !v.is_empty());
    let approve = ServerAction::<ApproveAction>::new();
    let reject = ServerAction::<RejectAction>::new();
    // Live: a new action anywhere, or a change of one listed, shows without a reload.
    let live = use_live().changes(|e| !matches!(e, LiveEvent::Output { .. }));
    let page = Resource::new(
        move || {
            (
                live.get(),
                param("server_id"),
                param("status"),
                param("action_type"),
                (param("run_id"), param("schedule_id")),
                param("cursor"),
                approve.version().get(),
                reject.version().get(),
            )
        },
        |(_, server, status, action_type, (run, schedule), cursor, _, _)| {
            action_history(server, status, action_type, run, schedule, cursor)
        },
    );
    // Ids only: the whole fleet with its counts would cost every history page.
    let servers = Resource::new(|| (), |_| server_ids());

    view! {
        <Title text="History"/>
        <section class="page-head"><h1>"Action history"</h1></section>
        {move || param("run_id").map(|run| view! {
            <p class="note filter-note">
                "Showing the actions of "
                <a href=format!("/runs/{run}")>{format!("fleet run #{run}")}</a>
                ". "<a href="/actions">"Show every action"</a>
            </p>
        })}
        {move || param("schedule_id").map(|_| view! {
            <p class="note filter-note">
                "Showing the actions of one schedule's runs. "
                <a href="/actions">"Show every action"</a>
            </p>
        })}
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let server_ids: Vec<String> = servers
                    .await
                    .map(|ids| ids.into_iter().map(|id| id.to_string()).collect())
                    .unwrap_or_default();
                view! {
                    <Filters
                        servers=server_ids
                        server=param("server_id")
                        status=param("status")
                        action_type=param("action_type")
                        run=param("run_id")
                        schedule=param("schedule_id")
                    />
                }
            })}
        </Suspense>
        <ActionError value=approve.value()/>
        <ActionError value=reject.value()/>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Ok(data) => {
                        let (page, now_ms) = (data.page, data.now_ms);
                        let older = page
                            .next_cursor
                            .map(|cursor| history_link(param, Some(&cursor)));
                        let first_page = param("cursor").is_none();
                        view! {
                            {if page.actions.is_empty() {
                                view! { <p class="card muted">"No actions match."</p> }.into_any()
                            } else {
                                view! {
                                    <ActionsTable actions=page.actions now_ms show_server=true approve reject caption="Actions"/>
                                }.into_any()
                            }}
                            <nav class="pager" aria-label="Pages">
                                {(!first_page).then(|| view! { <a href=history_link(param, None)>"← Newest"</a> })}
                                {older.map(|href| view! { <a href=href rel="next">"Older →"</a> })}
                            </nav>
                        }.into_any()
                    }
                    Err(e) => view! { <p class="note error" role="alert">{e.for_user()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// `/actions` with the current filters, at `cursor` (or the newest page).
fn history_link(param: impl Fn(&str) -> Option<String>, cursor: Option<&str>) -> String {
    let mut params: Vec<String> = [
        "server_id",
        "status",
        "action_type",
        "run_id",
        "schedule_id",
    ]
    .into_iter()
    .filter_map(|k| param(k).map(|v| format!("{k}={v}")))
    .collect();
    params.extend(cursor.map(|c| format!("cursor={c}")));
    if params.is_empty() {
        "/actions".to_owned()
    } else {
        format!("/actions?{}", params.join("&"))
    }
}

/// The filters: a plain GET form, so the URL holds them and no script is needed.
#[component]
fn Filters(
    servers: Vec<String>,
    server: Option<String>,
    status: Option<String>,
    action_type: Option<String>,
    run: Option<String>,
    schedule: Option<String>,
) -> impl IntoView {
    let option = |value: String, label: String, current: &Option<String>| {
        let selected = current.as_deref() == Some(value.as_str());
        view! { <option value=value selected=selected>{label}</option> }
    };
    view! {
        <form method="get" action="/actions" class="card filters" role="search">
            <label>
                "Server"
                <select name="server_id">
                    <option value="">"All servers"</option>
                    {servers.into_iter().map(|s| option(s.clone(), s, &server)).collect_view()}
                </select>
            </label>
            <label>
                "Status"
                <select name="status">
                    <option value="">"Any status"</option>
                    {ActionStatus::ALL.iter().map(|s| option(s.as_str().into(), s.label().into(), &status)).collect_view()}
                </select>
            </label>
            <label>
                "Type"
                <select name="action_type">
                    <option value="">"Any type"</option>
                    {ActionType::ALL.iter().map(|t| option(t.as_str().into(), t.label().into(), &action_type)).collect_view()}
                </select>
            </label>
            <label>
                "Fleet run"
                <input type="number" name="run_id" min="1" class="run-number" placeholder="any"
                    value=run.unwrap_or_default()/>
            </label>
            // A schedule's history (linked from the schedules page) stays that while
            // the other filters change.
            {schedule.map(|s| view! { <input type="hidden" name="schedule_id" value=s/> })}
            <button type="submit">"Filter"</button>
        </form>
    }
}
