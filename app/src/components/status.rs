use leptos::prelude::*;

use crate::domain::{Label, ServerStatus};

/// A machine's status as an icon plus words, so it never rests on colour alone.
#[component]
pub fn StatusBadge(status: ServerStatus) -> impl IntoView {
    let (class, icon) = match status {
        ServerStatus::Online => ("badge status-online", "●"),
        ServerStatus::Offline => ("badge status-offline", "▲"),
        ServerStatus::Unknown => ("badge status-unknown", "○"),
    };
    view! {
        <span class=class>
            <span aria-hidden="true">{icon}</span>
            " "
            {status.label()}
        </span>
    }
}
