//! The agent token of a server, shown once, with what to paste on the machine.

use leptos::prelude::*;

use crate::domain::AddedServer;

/// The agent token of a server just added (or given a new token), shown this once,
/// with what to paste on the machine. `what` says which: "added", "given a new token".
#[component]
pub fn AgentTokenNote(added: AddedServer, what: &'static str) -> impl IntoView {
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
                " " {what} ". Its agent token is shown only now:"
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
