//! `/`: every machine of the fleet, and the form that adds one.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::{AddServer, ApproveAction, Fleet, RejectAction, action_history, list_servers};
use crate::components::{
    ActionError, ActionsTable, AgentTokenNote, RelativeTime, StatusBadge, use_live,
};
use crate::domain::{ActionStatus, AppError, Label, ServerStatus};

/// The fleet table, rendered on the server and refreshed after a server is added.
#[component]
pub fn FleetPage() -> impl IntoView {
    let add = ServerAction::<AddServer>::new();
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
                    Ok(fleet) => view! { <FleetTable fleet/> }.into_any(),
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
fn FleetTable(fleet: Fleet) -> impl IntoView {
    let now_ms = fleet.now_ms;
    let waiting = fleet
        .servers
        .iter()
        .filter(|s| s.status == ServerStatus::Unknown)
        .count();
    let rows = fleet
        .servers
        .into_iter()
        .map(|s| {
            let security_class = if s.security_updates > 0 { "num security-count" } else { "num" };
            // Before its first report a machine has no counts, not zero updates.
            let never_seen = s.status == ServerStatus::Unknown;
            let count = move |n: u32| if never_seen { "—".to_owned() } else { n.to_string() };
            view! {
                <tr>
                    <th scope="row">
                        <a class="server-name" href=format!("/servers/{}", s.id)>{s.name.to_string()}</a>
                        <span class="muted server-id">{s.id.to_string()}</span>
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
                </tr>
            }
        })
        .collect_view();

    view! {
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
