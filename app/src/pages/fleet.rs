//! `/`: every machine of the fleet, and the form that adds one.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::{AddServer, ApproveAction, Fleet, RejectAction, action_history, list_servers};
use crate::components::{ActionError, ActionsTable, RelativeTime, StatusBadge};
use crate::domain::{ActionStatus, AddedServer, AppError};

/// The fleet table, rendered on the server and refreshed after a server is added.
#[component]
pub fn FleetPage() -> impl IntoView {
    let add = ServerAction::<AddServer>::new();
    let approve = ServerAction::<ApproveAction>::new();
    let reject = ServerAction::<RejectAction>::new();
    let changes = move || {
        (
            add.version().get(),
            approve.version().get(),
            reject.version().get(),
        )
    };
    let servers = Resource::new(changes, |_| list_servers());
    let waiting = Resource::new(changes, |_| {
        action_history(None, Some("pending".to_owned()), None, None)
    });

    view! {
        <Title text="Fleet"/>
        <section class="page-head">
            <h1>"Fleet"</h1>
        </section>
        <Suspense fallback=|| view! { <p class="muted">"Loading the fleet…"</p> }>
            {move || Suspend::new(async move {
                match servers.await {
                    Ok(fleet) if fleet.servers.is_empty() => view! { <EmptyFleet/> }.into_any(),
                    Ok(fleet) => view! { <FleetTable fleet/> }.into_any(),
                    Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                }
            })}
        </Suspense>
        <ActionError value=approve.value()/>
        <ActionError value=reject.value()/>
        <Suspense fallback=|| ()>
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
        </Suspense>
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
    let rows = fleet
        .servers
        .into_iter()
        .map(|s| {
            let security_class = if s.security_updates > 0 { "num security-count" } else { "num" };
            view! {
                <tr>
                    <th scope="row">
                        <a class="server-name" href=format!("/servers/{}", s.id)>{s.name.to_string()}</a>
                        <span class="muted server-id">{s.id.to_string()}</span>
                    </th>
                    <td><StatusBadge status=s.status/></td>
                    <td><RelativeTime at_ms=s.last_seen_ms now_ms/></td>
                    <td class="num">{s.updates}</td>
                    <td class=security_class>{s.security_updates}</td>
                    <td class="num">{s.awaiting_approval}</td>
                    <td>
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
                Ok(added) => view! { <AddedServerNote added/> }.into_any(),
                Err(error) => view! { <ErrorNote error/> }.into_any(),
            })}
        </section>
    }
}

/// The token of a freshly added server, shown this once, with what to paste on the
/// machine.
#[component]
fn AddedServerNote(added: AddedServer) -> impl IntoView {
    let server_url = dashboard_origin();
    // The token goes into a file only root can read: a command line is readable by
    // every local user. `printf` is a shell builtin, so the token never shows in
    // another process's argv either.
    let command = format!(
        "install -d -m 0700 /etc/homelab-agent\n\
         (umask 077; printf '%s\\n' '{}' > /etc/homelab-agent/token)\n\
         homelab-agent --server {server_url} --token-file /etc/homelab-agent/token",
        added.agent_token
    );
    let config = format!(
        "server = \"{server_url}\"\ntoken = \"{}\"\n",
        added.agent_token
    );
    view! {
        <div class="note success" role="status">
            <p>
                "Server " <strong>{added.id.to_string()}</strong>
                " added. Its agent token is shown only now:"
            </p>
            <pre class="token">{added.agent_token}</pre>
            <p>"On the machine, as root, run the agent with it:"</p>
            <pre class="snippet">{command}</pre>
            <p>
                "or put this in " <code>"/etc/homelab-agent/agent.toml"</code>
                " and start the " <code>"homelab-agent"</code> " systemd unit (see the README):"
            </p>
            <pre class="snippet">{config}</pre>
        </div>
    }
}

/// The dashboard's address as the admin's browser reaches it: what agents on the
/// LAN most likely reach too.
fn dashboard_origin() -> String {
    #[cfg(feature = "hydrate")]
    {
        if let Ok(origin) = window().location().origin() {
            return origin;
        }
    }
    "http://HOMELAB-CMD-HOST:3000".to_owned()
}

/// An error from a server function, in words.
#[component]
fn ErrorNote(error: AppError) -> impl IntoView {
    view! { <p class="note error" role="alert">{error.to_string()}</p> }
}
