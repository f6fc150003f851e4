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

/// A server's tags as small links to the fleet filtered by each.
#[component]
pub fn TagChips(tags: Vec<crate::domain::Tag>) -> impl IntoView {
    tags.into_iter()
        .map(|t| {
            view! { <a class="badge tag" href=format!("/?tag={t}")>{t.to_string()}</a> }
        })
        .collect_view()
}
