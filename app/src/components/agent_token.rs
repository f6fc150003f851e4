//! The agent token of a server, shown once, with the steps that install the agent.

use leptos::prelude::*;

use crate::components::{CopyBlock, InstallSteps};
use crate::domain::AddedServer;

/// The agent token of a server just added (or given a new token), shown this once,
/// with how to install the agent on the machine. `what` says which: "added",
/// "given a new agent token".
#[component]
pub fn AgentTokenNote(added: AddedServer, what: &'static str) -> impl IntoView {
    view! {
        <div class="note success agent-token-note" role="status">
            <p>
                "Server " <strong>{added.id.to_string()}</strong>
                " " {what} ". Its agent token is shown only now:"
            </p>
            <CopyBlock text=added.agent_token label="Copy the agent token" class="token"/>
            <InstallSteps token_shown=true/>
        </div>
    }
}
