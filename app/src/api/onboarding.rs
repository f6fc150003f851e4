//! What the dashboard tells an admin about putting a machine on it: the address
//! agents are told, and whether the agent can be downloaded from here. The server
//! works it out for each request (the fallback address is the one the browser
//! used) and hands it to Leptos as context; this server function passes it on.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::domain::AppError;

/// The address agents are told, and the agent the dashboard serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnboardingInfo {
    /// `--public-url`, or else the address this request reached the dashboard at.
    pub base_url: String,
    /// False when `base_url` is only the browser's address: `--public-url` is unset,
    /// and an agent on another machine may not reach that address.
    pub public_url_set: bool,
    /// The agent binaries under `/downloads/agents/{arch}/`, one per machine type,
    /// sorted by it; empty when the dashboard found none.
    pub agents: Vec<AgentDownload>,
}

/// An agent binary the dashboard serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentDownload {
    /// SHA-256 of the file, lowercase hex.
    pub sha256: String,
    /// The machine type it runs on, as `uname -m` says it (`x86_64`, `aarch64`).
    pub arch: String,
    /// Its size in bytes.
    pub size: u64,
}

/// The onboarding facts for the page asking.
#[server]
pub async fn load_onboarding() -> Result<OnboardingInfo, AppError> {
    super::ssr::respond(use_context::<OnboardingInfo>().ok_or_else(|| {
        tracing::error!("no OnboardingInfo in the Leptos context; the router was built without it");
        AppError::Internal
    }))
}
