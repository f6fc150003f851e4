//! Putting a machine on the dashboard: the address agents are told (`--public-url`)
//! and what the dashboard hands out under `/downloads/`: the agent binary, its
//! checksum, its systemd unit and an install script rendered for this dashboard.
//!
//! The downloads need no login: the machine being installed has no session. Nothing
//! in them is secret (the token never travels this way; the script asks for it).

mod agent_binary;
mod public_url;

use axum::Router;
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE, HOST};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use homelab_app::api::{AgentDownload, OnboardingInfo};

pub use agent_binary::{AgentBinary, AgentBinaryError, default_path};
pub use public_url::{MAX_PUBLIC_URL_BYTES, PublicUrl, PublicUrlError};

use crate::config::OnboardingArgs;
use crate::state::AppState;

/// The systemd unit the install script writes (the one `agent/dist/` documents).
pub const AGENT_UNIT: &str = include_str!("../../../agent/dist/homelab-agent.service");

/// The install script, with `@...@` placeholders that [`install_script`] fills in.
const INSTALL_TEMPLATE: &str = include_str!("install.sh");

/// What the onboarding routes and pages know, fixed at start-up.
#[derive(Debug, Clone, Default)]
pub struct Onboarding {
    public_url: Option<PublicUrl>,
    agent: Option<AgentBinary>,
}

impl Onboarding {
    /// From parts already loaded (tests build it this way).
    pub fn new(public_url: Option<PublicUrl>, agent: Option<AgentBinary>) -> Onboarding {
        Onboarding { public_url, agent }
    }

    /// Reads the agent binary named by `--agent-binary` (an error if it cannot be
    /// read: it was asked for), or the one beside this executable (a warning if it
    /// is not there: the dashboard works without downloads).
    pub async fn load(args: &OnboardingArgs) -> anyhow::Result<Onboarding> {
        use anyhow::Context as _;

        let agent = match &args.agent_binary {
            Some(path) => Some(
                AgentBinary::load(path)
                    .await
                    .context("--agent-binary (HOMELAB_AGENT_BINARY)")?,
            ),
            None => match default_path() {
                Some(path) => match AgentBinary::load(&path).await {
                    Ok(binary) => Some(binary),
                    Err(e) => {
                        tracing::warn!(
                            error = %e,
                            "agent downloads are off: put homelab-agent beside homelab-cmd or pass --agent-binary"
                        );
                        None
                    }
                },
                None => None,
            },
        };
        if let Some(agent) = &agent {
            tracing::info!(sha256 = agent.sha256(), arch = ?agent.arch(), "serving homelab-agent at /downloads/");
        }
        if args.public_url.is_none() {
            tracing::warn!(
                "--public-url is not set: the dashboard tells agents the address each browser used; \
                 set it to the address other machines reach this dashboard at"
            );
        }
        Ok(Onboarding::new(args.public_url.clone(), agent))
    }

    /// The address agents should use, as seen by a request with these headers: the
    /// public URL, else the origin the request itself reached (its `Host`). The bool
    /// says whether it is the configured public URL.
    fn base_url(&self, headers: &HeaderMap) -> Option<(PublicUrl, bool)> {
        if let Some(url) = &self.public_url {
            return Some((url.clone(), true));
        }
        let host = headers.get(HOST)?.to_str().ok()?;
        PublicUrl::from_host(host, crate::http::behind_tls(headers))
            .ok()
            .map(|url| (url, false))
    }

    /// What the dashboard's pages show, for a request with these headers.
    pub fn info(&self, headers: &HeaderMap) -> OnboardingInfo {
        let (base_url, public_url_set) = match self.base_url(headers) {
            Some((url, set)) => (url.to_string(), set),
            None => ("http://DASHBOARD-ADDRESS:3000".to_owned(), false),
        };
        OnboardingInfo {
            base_url,
            public_url_set,
            agent: self.agent.as_ref().map(|agent| AgentDownload {
                sha256: agent.sha256().to_owned(),
                arch: agent.arch().map(str::to_owned),
                size: agent.len(),
            }),
        }
    }
}

/// The public `/downloads/...` routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/downloads/homelab-agent", get(agent_binary))
        .route("/downloads/homelab-agent.sha256", get(agent_checksum))
        .route("/downloads/homelab-agent.service", get(agent_unit))
        .route("/downloads/install.sh", get(install_script_route))
}

/// What a download route answers when something it needs is missing: plain text,
/// since `curl`, `sh` and a browser tab read these routes, not the JSON API's clients.
struct Unavailable(StatusCode, &'static str);

impl IntoResponse for Unavailable {
    fn into_response(self) -> Response {
        (
            self.0,
            [(CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("{}\n", self.1),
        )
            .into_response()
    }
}

/// Said when there is no agent binary to serve. It names no path: anyone can ask.
const NO_AGENT: &str = "homelab-agent is not available for download here: this dashboard found no \
     agent binary when it started. Its admin can build one (cargo build --release -p homelab-agent), \
     put it beside homelab-cmd or pass --agent-binary, and restart the dashboard.";

/// Downloads change when the dashboard is upgraded: always ask again.
const NO_CACHE: (axum::http::HeaderName, &str) = (CACHE_CONTROL, "no-cache");

async fn agent_binary(State(onboarding): State<Onboarding>) -> Result<Response, Unavailable> {
    let agent = onboarding
        .agent
        .as_ref()
        .ok_or(Unavailable(StatusCode::NOT_FOUND, NO_AGENT))?;
    Ok((
        [
            (CONTENT_TYPE, "application/octet-stream"),
            (
                CONTENT_DISPOSITION,
                "attachment; filename=\"homelab-agent\"",
            ),
            NO_CACHE,
        ],
        agent.bytes(),
    )
        .into_response())
}

/// `sha256sum`'s own format, so `sha256sum -c homelab-agent.sha256` checks a
/// download.
async fn agent_checksum(State(onboarding): State<Onboarding>) -> Result<Response, Unavailable> {
    let agent = onboarding
        .agent
        .as_ref()
        .ok_or(Unavailable(StatusCode::NOT_FOUND, NO_AGENT))?;
    Ok((
        [(CONTENT_TYPE, "text/plain; charset=utf-8"), NO_CACHE],
        format!("{}  homelab-agent\n", agent.sha256()),
    )
        .into_response())
}

async fn agent_unit() -> Response {
    (
        [(CONTENT_TYPE, "text/plain; charset=utf-8"), NO_CACHE],
        AGENT_UNIT,
    )
        .into_response()
}

async fn install_script_route(
    State(onboarding): State<Onboarding>,
    headers: HeaderMap,
) -> Result<Response, Unavailable> {
    let agent = onboarding
        .agent
        .as_ref()
        .ok_or(Unavailable(StatusCode::NOT_FOUND, NO_AGENT))?;
    let (base, _) = onboarding.base_url(&headers).ok_or(Unavailable(
        StatusCode::BAD_REQUEST,
        "this request's Host is not a plain host name: the dashboard cannot tell the agent \
         where it is. Its admin can set --public-url.",
    ))?;
    Ok((
        // Plain text: a browser shows the script to read before running it.
        [(CONTENT_TYPE, "text/plain; charset=utf-8"), NO_CACHE],
        install_script(&base, agent),
    )
        .into_response())
}

/// The install script for agents reaching the dashboard at `base`. Every value goes
/// in single-quoted, although [`PublicUrl`] admits no quote: the script runs as root.
pub fn install_script(base: &PublicUrl, agent: &AgentBinary) -> String {
    INSTALL_TEMPLATE
        .replace("@BASE_URL_SH@", &shell_quote(base.as_str()))
        // Comments only: a public URL holds no newline, so it cannot leave them.
        .replace("@BASE_URL@", base.as_str())
        .replace("@AGENT_SHA256@", &shell_quote(agent.sha256()))
        .replace("@AGENT_ARCH@", &shell_quote(agent.arch().unwrap_or("")))
        .replace("@UNIT_FILE@", AGENT_UNIT.trim_end())
}

/// `s` as one word for `sh`: single quotes, each `'` written as `'\''`.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting_keeps_every_character_literal() {
        assert_eq!(shell_quote("http://h"), "'http://h'");
        assert_eq!(shell_quote("a'b"), r"'a'\''b'");
        assert_eq!(shell_quote("$(id)`id`"), "'$(id)`id`'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn the_unit_cannot_end_the_heredoc_it_is_written_with() {
        assert!(!AGENT_UNIT.lines().any(|l| l.trim() == "HOMELAB_AGENT_UNIT"));
        assert!(
            AGENT_UNIT.contains(
                "ExecStart=/usr/local/bin/homelab-agent --config /etc/homelab-agent/agent.toml"
            ),
            "the install script writes the config the unit reads"
        );
    }

    #[test]
    fn the_rendered_script_has_every_placeholder_filled() {
        let mut elf = b"\x7fELF\x02\x01\x01".to_vec();
        elf.resize(64, 0);
        let agent = AgentBinary::from_bytes(elf, std::path::Path::new("a")).unwrap();
        let script = install_script(&PublicUrl::parse("http://dash.lan:3000").unwrap(), &agent);
        assert!(!script.contains("@BASE_URL"), "{script}");
        assert!(!script.contains("@AGENT_"), "{script}");
        assert!(!script.contains("@UNIT_FILE@"), "{script}");
        assert!(script.contains("\nBASE_URL='http://dash.lan:3000'\n"));
        assert!(script.contains(&format!("\nAGENT_SHA256='{}'\n", agent.sha256())));
        assert!(script.contains("\nAGENT_ARCH=''\n"));
        assert!(script.ends_with("main \"$@\"\n"));
    }
}
