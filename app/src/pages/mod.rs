//! One module per route.

mod action;
mod fleet;
mod history;
mod login;
mod not_found;
mod runs;
mod schedules;
mod server;
mod settings;
mod webhooks;

pub use action::ActionPage;
pub use fleet::FleetPage;
pub use history::HistoryPage;
pub use login::LoginPage;
pub use not_found::NotFound;
pub use runs::{RunPage, RunsPage};
pub use schedules::SchedulesPage;
pub use server::ServerPage;
pub use settings::SettingsPage;
pub use webhooks::WebhooksPage;

/// Route-level code splitting: each page's view code lives in its own WebAssembly
/// chunk (`cargo leptos build --split`), which the browser loads when it first
/// shows that page; the server renders the same page and names the chunks the
/// first page needs in its `<head>`, so they load alongside the main bundle.
/// Without `--split` (the Rust tests, `cargo leptos watch`) the pages are simply
/// part of the main bundle.
macro_rules! lazy_page {
    ($($(#[$doc:meta])* $route:ident => $page:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $route;

        #[leptos_router::lazy_route]
        impl leptos_router::LazyRoute for $route {
            fn data() -> Self {
                $route
            }

            fn view(_this: Self) -> leptos::prelude::AnyView {
                use leptos::prelude::IntoAny;
                $page().into_any()
            }
        }
    )*};
}

lazy_page! {
    /// `/`: [`FleetPage`].
    FleetRoute => FleetPage;
    /// `/servers/:id`: [`ServerPage`].
    ServerRoute => ServerPage;
    /// `/actions`: [`HistoryPage`].
    HistoryRoute => HistoryPage;
    /// `/actions/:id`: [`ActionPage`].
    ActionRoute => ActionPage;
    /// `/schedules`: [`SchedulesPage`].
    SchedulesRoute => SchedulesPage;
    /// `/settings`: [`SettingsPage`].
    SettingsRoute => SettingsPage;
    /// `/webhooks`: [`WebhooksPage`].
    WebhooksRoute => WebhooksPage;
    /// `/runs`: [`RunsPage`].
    RunsRoute => RunsPage;
    /// `/runs/:id`: [`RunPage`].
    RunRoute => RunPage;
    /// `/login`: [`LoginPage`].
    LoginRoute => LoginPage;
}
