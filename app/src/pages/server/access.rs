//! The server page's access card: a new agent token, or the server's removal. Both
//! are confirmed inside the form itself (a box to tick, the id to type), so they
//! work without JavaScript and a stray click does nothing.

use leptos::prelude::*;

use crate::api::{RemoveServer, RotateAgentToken};
use crate::components::{ActionError, AgentTokenNote};

/// Rotate the agent token; remove the server.
#[component]
pub fn AccessCard(server_id: String) -> impl IntoView {
    let rotate = ServerAction::<RotateAgentToken>::new();
    let remove = ServerAction::<RemoveServer>::new();
    let rotated = rotate.value();
    let id2 = server_id.clone();
    let id3 = server_id.clone();
    view! {
        <section class="card" aria-labelledby="access-title">
            <h2 id="access-title">"Access"</h2>
            <details class="danger-zone">
                <summary>"New agent token…"</summary>
                <p>
                    "If the token may have leaked: the machine's agent is refused from now on "
                    "until it is given the new token."
                </p>
                <ActionForm action=rotate attr:class="inline-form">
                    <input type="hidden" name="server_id" value=server_id/>
                    <label class="check">
                        <input type="checkbox" name="confirm" value="yes" required/>
                        " The current token stops working at once"
                    </label>
                    <button type="submit" class="danger">"Give it a new token"</button>
                </ActionForm>
            </details>
            {move || rotated.with(|v| match v {
                Some(Ok(added)) => Some(view! { <AgentTokenNote added=added.clone() what="given a new agent token"/> }.into_any()),
                Some(Err(e)) => Some(view! { <p class="note error" role="alert">{e.for_user()}</p> }.into_any()),
                None => None,
            })}
            <details class="danger-zone">
                <summary>"Remove this server…"</summary>
                <p>
                    "Its agent is refused, its pending packages are forgotten and its waiting "
                    "actions are cancelled. Its history stays readable, and the id can be added "
                    "again later."
                </p>
                <ActionForm action=remove attr:class="inline-form">
                    <input type="hidden" name="server_id" value=id2/>
                    <label>
                        "Type " <code>{id3.clone()}</code> " to confirm "
                        <input name="confirm_id" required autocomplete="off" pattern=regex_escape(&id3)/>
                    </label>
                    <button type="submit" class="danger">"Remove server"</button>
                </ActionForm>
                <ActionError value=remove.value()/>
            </details>
        </section>
    }
}

/// `s` as an HTML `pattern` that matches only itself. Server ids are
/// `[a-z0-9-]`, where only `-` needs escaping in the `v` mode browsers use.
fn regex_escape(s: &str) -> String {
    s.replace('-', "\\-")
}
