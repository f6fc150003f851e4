//! The homelab-cmd dashboard: the HTML shell, the router and the pages. Built twice:
//! with `ssr` into the server, with `hydrate` into the WebAssembly bundle.
#![recursion_limit = "256"]

pub mod api;
pub mod components;
pub mod domain;
pub mod pages;

use leptos::prelude::*;
use leptos_meta::{HashedStylesheet, MetaTags, Title, provide_meta_context};
use leptos_router::{
    Lazy, ParamSegment, SsrMode, StaticSegment,
    components::{A, Route, Router, Routes},
};

use crate::components::{LiveIndicator, LiveUpdates};
use crate::pages::{
    ActionRoute, FleetRoute, HistoryRoute, LoginRoute, NotFound, RunRoute, RunsRoute,
    SchedulesRoute, ServerRoute, SettingsRoute, WebhooksRoute,
};

/// The HTML document around the app, rendered on the server only.
///
/// The stylesheet and the hydration scripts are named from `options`: when the
/// server found cargo-leptos's hash file, their names carry a hash of their content
/// (`homelab-cmd.<hash>.wasm`), so the browser may keep them for a year and a new
/// build is fetched under new names.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <link rel="icon" type="image/svg+xml" href="/favicon.svg"/>
                <HashedStylesheet options=options.clone() id="leptos"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The dashboard: header, navigation and routes.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();

    view! {
        <Title formatter=page_title/>
        <LiveUpdates>
        <Router>
            <TopBar/>
            <main>
                <Routes fallback=NotFound>
                    // Async: the server waits for the data before it answers, so pages
                    // are whole without JavaScript and carry the right status code.
                    <Route path=StaticSegment("") view={Lazy::<FleetRoute>::new()} ssr=SsrMode::Async/>
                    <Route
                        path=(StaticSegment("servers"), ParamSegment("id"))
                        view={Lazy::<ServerRoute>::new()}
                        ssr=SsrMode::Async
                    />
                    <Route path=StaticSegment("actions") view={Lazy::<HistoryRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=StaticSegment("runs") view={Lazy::<RunsRoute>::new()} ssr=SsrMode::Async/>
                    <Route
                        path=(StaticSegment("runs"), ParamSegment("id"))
                        view={Lazy::<RunRoute>::new()}
                        ssr=SsrMode::Async
                    />
                    <Route path=StaticSegment("login") view={Lazy::<LoginRoute>::new()}/>
                    <Route path=StaticSegment("schedules") view={Lazy::<SchedulesRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=StaticSegment("settings") view={Lazy::<SettingsRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=StaticSegment("webhooks") view={Lazy::<WebhooksRoute>::new()} ssr=SsrMode::Async/>
                    <Route
                        path=(StaticSegment("actions"), ParamSegment("id"))
                        view={Lazy::<ActionRoute>::new()}
                        ssr=SsrMode::Async
                    />
                </Routes>
            </main>
        </Router>
        </LiveUpdates>
    }
}

/// The document title for a page: "PAGE · homelab-cmd", where PAGE may be a server's
/// name. leptos_meta 0.8.7 (the newest 0.8) writes the server-rendered `<title>`
/// without escaping it, so on the server the text is escaped here; in the browser
/// the formatter's result goes to `document.title`, which takes plain text.
fn page_title(page: String) -> String {
    let title = format!("{page} · homelab-cmd");
    #[cfg(feature = "ssr")]
    let title = escape_html(&title);
    title
}

/// `text` with the characters that mean something in HTML replaced by references.
#[cfg(feature = "ssr")]
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The header: brand, navigation and logout (none of it on the login page).
#[component]
fn TopBar() -> impl IntoView {
    let location = leptos_router::hooks::use_location();
    let signed_in = move || location.pathname.get() != "/login";
    view! {
        <header class="topbar">
            <A href="/" attr:class="brand">"homelab-cmd"</A>
            <Show when=signed_in>
                <nav aria-label="Main">
                    <A href="/">"Fleet"</A>
                    <A href="/runs">"Runs"</A>
                    <A href="/actions">"History"</A>
                    <A href="/schedules">"Schedules"</A>
                    <A href="/webhooks">"Webhooks"</A>
                    <A href="/settings">"Settings"</A>
                </nav>
                <LiveIndicator/>
                <form method="post" action="/logout" class="logout">
                    <button type="submit" class="secondary small">"Log out"</button>
                </form>
            </Show>
        </header>
    }
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;

    #[test]
    fn the_server_rendered_title_is_escaped() {
        assert_eq!(
            page_title("</title><script>x=1</script> & 'so'".to_owned()),
            "&lt;/title&gt;&lt;script&gt;x=1&lt;/script&gt; &amp; &#39;so&#39; · homelab-cmd"
        );
    }
}
