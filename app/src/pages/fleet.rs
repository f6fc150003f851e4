//! `/`: every machine of the fleet, and the form that adds one.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::{
    AddServer, ApproveAction, Fleet, RejectAction, StartRun, action_history, list_servers,
};
use crate::components::{
    ActionError, ActionsTable, AgentTokenNote, RelativeTime, StatusBadge, TagChips, use_live,
};
use crate::domain::{ActionStatus, ActionType, AppError, Label, ServerStatus, Tag};

/// The fleet table, rendered on the server and refreshed after a server is added.
#[component]
pub fn FleetPage() -> impl IntoView {
    let add = ServerAction::<AddServer>::new();
    let start = ServerAction::<StartRun>::new();
    // `?tag=lab` shows the servers tagged `lab` (a link: no script needed).
    let query = use_query_map();
    let tag = move || query.read().get("tag").and_then(|t| Tag::parse(t).ok());
    let approve = ServerAction::<ApproveAction>::new();
    let reject = ServerAction::<RejectAction>::new();
    // Live: every change anywhere in the fleet can change a row or the approvals.
    let live = use_live().changes(|_| true);
    let changes = move || {
        (
            live.get(),
            add.version().get(),
            approve.version().get(),
            reject.version().get(),
        )
    };
    let servers = Resource::new(changes, |_| list_servers());
    let waiting = Resource::new(changes, |_| {
        action_history(None, Some("pending".to_owned()), None, None, None, None)
    });

    view! {
        <Title text="Fleet"/>
        <section class="page-head">
            <h1>"Fleet"</h1>
        </section>
        <Transition fallback=|| view! { <p class="muted">"Loading the fleet…"</p> }>
            {move || Suspend::new(async move {
                match servers.await {
                    Ok(fleet) if fleet.servers.is_empty() => view! { <EmptyFleet/> }.into_any(),
                    Ok(fleet) => view! { <FleetTable fleet tag=tag() start/> }.into_any(),
                    Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                }
            })}
        </Transition>
        <ActionError value=approve.value()/>
        <ActionError value=reject.value()/>
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                waiting.await.ok().filter(|d| !d.page.actions.is_empty()).map(|d| view! {
                    <section class="card" aria-labelledby="approvals-title">
                        <h2 id="approvals-title">"Awaiting approval"</h2>
                        <ActionsTable
                            actions=d.page.actions
                            now_ms=d.now_ms
                            show_server=true
                            approve
                            reject
                            caption="Actions awaiting approval"
                        />
                    </section>
                })
            })}
        </Transition>
        <AddServerForm action=add/>
    }
}

/// What a fresh installation shows: how to put the first machine on the dashboard.
#[component]
fn EmptyFleet() -> impl IntoView {
    view! {
        <section class="card empty-state">
            <h2>"No servers yet"</h2>
            <p>
                "Add your first machine with the form below (or "
                <code>"homelab-cmd server add ID NAME"</code>
                "). You get an agent token, shown once: install "
                <code>"homelab-agent"</code>
                " on the machine with that token and it appears here with its pending updates."
            </p>
        </section>
    }
}

#[component]
fn FleetTable(fleet: Fleet, tag: Option<Tag>, start: ServerAction<StartRun>) -> impl IntoView {
    let now_ms = fleet.now_ms;
    let form_token = fleet.form_token.clone();
    let mut tags: Vec<Tag> = fleet.servers.iter().flat_map(|s| s.tags.clone()).collect();
    tags.sort();
    tags.dedup();
    let shown: Vec<_> = fleet
        .servers
        .into_iter()
        .filter(|s| tag.as_ref().is_none_or(|t| s.tags.contains(t)))
        .collect();
    let waiting = shown
        .iter()
        .filter(|s| s.status == ServerStatus::Unknown)
        .count();
    let rows = shown
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let security_class = if s.security_updates > 0 { "num security-count" } else { "num" };
            // Before its first report a machine has no counts, not zero updates.
            let never_seen = s.status == ServerStatus::Unknown;
            let count = move |n: u32| if never_seen { "—".to_owned() } else { n.to_string() };
            view! {
                <tr>
                    <th scope="row">
                        // Part of the run form below (its `form` attribute): ticked
                        // servers are the run's, in the table's order.
                        <div class="server-cell">
                            <input type="checkbox" class="select" form="run-form" name=format!("servers[{i}]")
                                value=s.id.to_string() aria-label=format!("Select {}", s.name)/>
                            <div>
                                <a class="server-name" href=format!("/servers/{}", s.id)>{s.name.to_string()}</a>
                                <span class="muted server-id">{s.id.to_string()}</span>
                            </div>
                        </div>
                    </th>
                    <td data-label="Status"><StatusBadge status=s.status/></td>
                    <td data-label="Last seen"><RelativeTime at_ms=s.last_seen_ms now_ms/></td>
                    <td data-label="Updates" class="num">{count(s.updates)}</td>
                    <td data-label="Security" class=security_class>{count(s.security_updates)}</td>
                    <td data-label=ActionStatus::Pending.label() class="num">{s.awaiting_approval}</td>
                    <td data-label="Flags">
                        {s.paused.then(|| view! { <span class="badge maintenance">"Maintenance"</span> })}
                        {s.reboot_required.then(|| view! { <span class="badge reboot">"Reboot required"</span> })}
                    </td>
                    <td data-label="Tags"><TagChips tags=s.tags.clone()/></td>
                </tr>
            }
        })
        .collect_view();

    let filter = (!tags.is_empty()).then(|| {
        let current = tag.clone();
        view! { <TagFilter tags=tags.clone() current/> }
    });
    view! {
        {filter}
        <div class="table-wrap">
            <table class="fleet">
                <caption class="visually-hidden">"Servers"</caption>
                <thead>
                    <tr>
                        <th scope="col">"Server"</th>
                        <th scope="col">"Status"</th>
                        <th scope="col">"Last seen"</th>
                        <th scope="col" class="num">"Updates"</th>
                        <th scope="col" class="num">"Security"</th>
                        <th scope="col" class="num">{ActionStatus::Pending.label()}</th>
                        <th scope="col">"Flags"</th>
                        <th scope="col">"Tags"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
        {(waiting > 0).then(|| view! {
            <p class="muted waiting-note">
                {if waiting == 1 {
                    "1 machine is waiting for its agent's first connection: its actions wait \
                     until then. Open it for how to install the agent."
                        .to_owned()
                } else {
                    format!(
                        "{waiting} machines are waiting for their agent's first connection: \
                         their actions wait until then. Open one for how to install the agent."
                    )
                }}
            </p>
        })}
        <RunForm tags tag start form_token/>
    }
}

/// The fleet's tags as links: all servers, or the servers with one tag.
#[component]
fn TagFilter(tags: Vec<Tag>, current: Option<Tag>) -> impl IntoView {
    let all_current = current.is_none().then_some("page");
    let links = tags
        .into_iter()
        .map(|t| {
            let here = (current.as_ref() == Some(&t)).then_some("page");
            view! { <a href=format!("/?tag={t}") aria-current=here class="tag-link">{t.to_string()}</a> }
        })
        .collect_view();
    view! {
        <nav class="tag-filter" aria-label="Filter by tag">
            <span class="muted">"Tags:"</span>
            <a href="/" aria-current=all_current class="tag-link">"All servers"</a>
            {links}
        </nav>
    }
}

/// Starts a fleet run: one action over the ticked servers, or over every server
/// with a tag, in batches. A plain form posting to a server function (it works
/// without JavaScript); the server opens the run's page.
#[component]
fn RunForm(
    tags: Vec<Tag>,
    tag: Option<Tag>,
    start: ServerAction<StartRun>,
    form_token: String,
) -> impl IntoView {
    let on_tag = tag.is_some();
    let has_tags = !tags.is_empty();
    let options = tags
        .into_iter()
        .map(|t| {
            let selected = tag.as_ref() == Some(&t);
            view! { <option value=t.to_string() selected=selected>{t.to_string()}</option> }
        })
        .collect_view();
    let kinds = [
        ActionType::AptUpgradeSecurity,
        ActionType::AptUpgradeAll,
        ActionType::AptUpdate,
        ActionType::RestartService,
        ActionType::ClearLogs,
        ActionType::Reboot,
    ]
    .into_iter()
    .map(|t| view! { <option value=t.as_str()>{t.label()}</option> })
    .collect_view();
    let pending = start.pending();
    view! {
        <section class="card" aria-labelledby="run-title">
            <h2 id="run-title">"Patch several servers"</h2>
            <p class="muted">
                "A fleet run queues one action per server, a batch at a time: the next batch "
                "starts when the previous one has finished, and the run stops at the first "
                "failure beyond those allowed. Offline or busy servers are skipped; servers in "
                "maintenance wait for your approval."
            </p>
            <ActionForm action=start attr:id="run-form" attr:class="stacked-form run-form">
                <input type="hidden" name="request_id" value=form_token/>
                <label>
                    "Action"
                    <select name="action_type">{kinds}</select>
                </label>
                <label>
                    "Unit (for a restart)"
                    <input name="unit" placeholder="nginx" maxlength="256"/>
                </label>
                <fieldset>
                    <legend>"Servers"</legend>
                    <label class="check">
                        <input type="radio" name="target" value="selected" checked=!on_tag/>
                        "The servers ticked above"
                    </label>
                    {has_tags.then(|| view! {
                        <label class="check">
                            <input type="radio" name="target" value="tag" checked=on_tag/>
                            "Every server tagged"
                        </label>
                        <label>
                            <span class="visually-hidden">"Tag"</span>
                            <select name="tag" aria-label="Tag">{options}</select>
                        </label>
                    })}
                </fieldset>
                <label>
                    "Batch size"
                    <input type="number" name="batch_size" value="1" min="1" max="1000" required/>
                </label>
                <label>
                    "Failures allowed"
                    <input type="number" name="max_failures" value="0" min="0" max="10000" required/>
                </label>
                <label class="check">
                    <input type="checkbox" name="reboot_if_required" value="on"/>
                    "Reboot if required (after an upgrade; the next batch waits until the machine is back)"
                </label>
                <button type="submit" disabled=pending>"Start run"</button>
            </ActionForm>
            <ActionError value=start.value()/>
        </section>
    }
}

/// The "Add server" form. It posts to the server function, so it works before the
/// WebAssembly bundle has loaded.
#[component]
fn AddServerForm(action: ServerAction<AddServer>) -> impl IntoView {
    let result = action.value();
    let pending = action.pending();

    view! {
        <section class="card" aria-labelledby="add-server-title">
            <h2 id="add-server-title">"Add server"</h2>
            <ActionForm action=action attr:class="add-server">
                <label>
                    "ID"
                    <input name="id" required pattern="[a-z0-9][a-z0-9\\-]{0,62}" placeholder="nas-01"
                        title="lowercase letters, digits and '-', up to 63 characters"/>
                </label>
                <label>
                    "Name"
                    <input name="name" required maxlength="100" placeholder="Storage box"/>
                </label>
                <button type="submit" disabled=pending>"Add server"</button>
            </ActionForm>
            {move || result.get().map(|outcome| match outcome {
                Ok(added) => view! { <AgentTokenNote added what="added"/> }.into_any(),
                Err(error) => view! { <ErrorNote error/> }.into_any(),
            })}
        </section>
    }
}

/// An error from a server function, in words.
#[component]
fn ErrorNote(error: AppError) -> impl IntoView {
    view! { <p class="note error" role="alert">{error.for_user()}</p> }
}
