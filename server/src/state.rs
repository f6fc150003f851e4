//! What every handler can reach: the service layer, the Leptos options and what
//! onboarding a machine needs. Its own
//! module, so that the routers (`api`, `agent_api`) and `startup`, which assembles
//! them, all depend on it and not on each other.

use leptos::config::LeptosOptions;

use crate::service::Service;

/// Everything a request handler may need.
#[derive(Clone, axum::extract::FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub service: Service,
    pub onboarding: crate::onboarding::Onboarding,
}
