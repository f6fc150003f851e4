//! Putting a machine on the dashboard: the address agents are told (`--public-url`)
//! and what the dashboard hands out under `/downloads/`: the agent binary, its
//! checksum, its systemd unit and an install script rendered for this dashboard.
//!
//! The downloads need no login: the machine being installed has no session. Nothing
//! in them is secret (the token never travels this way; the script asks for it).

mod agent_binary;
mod public_url;

use std::borrow::Cow;
use std::path::PathBuf;

use axum::Router;
use axum::extract::{Path, State};
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
    /// One per machine type, sorted by it.
    agents: Vec<AgentBinary>,
}

impl Onboarding {
    /// From parts already loaded (tests build it this way). Two agents for the same
    /// machine type are refused: which one a machine got would be a coin toss.
    pub fn new(
        public_url: Option<PublicUrl>,
        agents: Vec<(PathBuf, AgentBinary)>,
    ) -> Result<Onboarding, AgentBinaryError> {
        let mut agents = agents;
        agents.sort_by_key(|(_, agent)| agent.arch());
        if let Some(pair) = agents.windows(2).find(|w| w[0].1.arch() == w[1].1.arch()) {
            return Err(AgentBinaryError::SameMachine {
                first: pair[0].0.clone(),
                second: pair[1].0.clone(),
                arch: pair[0].1.arch(),
            });
        }
        Ok(Onboarding {
            public_url,
            agents: agents.into_iter().map(|(_, agent)| agent).collect(),
        })
    }

    /// Reads the agent binaries named by `--agent-binary` (an error if one cannot be
    /// read: it was asked for), or the one beside this executable (a warning if it
    /// is not there: the dashboard works without downloads).
    pub async fn load(args: &OnboardingArgs) -> anyhow::Result<Onboarding> {
        use anyhow::Context as _;

        let mut agents = Vec::new();
        for path in &args.agent_binary {
            let agent = AgentBinary::load(path)
                .await
                .context("--agent-binary (HOMELAB_AGENT_BINARY)")?;
            agents.push((path.clone(), agent));
        }
        if args.agent_binary.is_empty()
            && let Some(path) = default_path()
        {
            match AgentBinary::load(&path).await {
                Ok(agent) => agents.push((path, agent)),
                Err(e) => tracing::warn!(
                    error = %e,
                    "agent downloads are off: put homelab-agent beside homelab-cmd or pass --agent-binary"
                ),
            }
        }
        let onboarding = Onboarding::new(args.public_url.clone(), agents)
            .context("--agent-binary (HOMELAB_AGENT_BINARY)")?;
        for agent in &onboarding.agents {
            tracing::info!(
                sha256 = agent.sha256(),
                arch = agent.arch(),
                "serving homelab-agent at /downloads/agents/{}/homelab-agent",
                agent.arch()
            );
        }
        if args.public_url.is_none() {
            tracing::warn!(
                "--public-url is not set: the dashboard tells agents the address each browser used; \
                 set it to the address other machines reach this dashboard at"
            );
        }
        Ok(onboarding)
    }

    /// The agent for machines of type `arch` (as `uname -m` says it).
    fn agent_for(&self, arch: &str) -> Option<&AgentBinary> {
        self.agents.iter().find(|agent| agent.arch() == arch)
    }

    /// The agent `/downloads/agents/{arch}/...` names, or a 404 saying which machine
    /// types this dashboard has agents for. The path's text is not echoed: anyone
    /// can ask.
    fn agent_named(&self, arch: &str) -> Result<&AgentBinary, Unavailable> {
        if self.agents.is_empty() {
            return Err(Unavailable(StatusCode::NOT_FOUND, NO_AGENT.into()));
        }
        self.agent_for(arch).ok_or_else(|| {
            let served: Vec<&str> = self.agents.iter().map(AgentBinary::arch).collect();
            Unavailable(
                StatusCode::NOT_FOUND,
                format!(
                    "this dashboard has no homelab-agent for that machine type; it serves agents for {}. \
                     Its admin can build one for the machine and add it with --agent-binary.",
                    served.join(", ")
                )
                .into(),
            )
        })
    }

    /// What `/downloads/homelab-agent` serves: the agent for the dashboard's own
    /// machine type when there is one (a fleet is mostly of one type), else the
    /// first.
    fn default_or_unavailable(&self) -> Result<&AgentBinary, Unavailable> {
        self.agent_for(std::env::consts::ARCH)
            .or_else(|| self.agents.first())
            .ok_or(Unavailable(StatusCode::NOT_FOUND, NO_AGENT.into()))
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
            agents: self
                .agents
                .iter()
                .map(|agent| AgentDownload {
                    sha256: agent.sha256().to_owned(),
                    arch: agent.arch().to_owned(),
                    size: agent.len(),
                })
                .collect(),
        }
    }
}

/// The public `/downloads/...` routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/downloads/homelab-agent", get(default_agent_binary))
        .route(
            "/downloads/homelab-agent.sha256",
            get(default_agent_checksum),
        )
        .route("/downloads/agents/{arch}/homelab-agent", get(agent_binary))
        .route(
            "/downloads/agents/{arch}/homelab-agent.sha256",
            get(agent_checksum),
        )
        .route("/downloads/homelab-agent.service", get(agent_unit))
        .route("/downloads/install.sh", get(install_script_route))
}

/// What a download route answers when something it needs is missing: plain text,
/// since `curl`, `sh` and a browser tab read these routes, not the JSON API's clients.
struct Unavailable(StatusCode, Cow<'static, str>);

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

async fn default_agent_binary(
    State(onboarding): State<Onboarding>,
) -> Result<Response, Unavailable> {
    Ok(binary_response(onboarding.default_or_unavailable()?))
}

async fn agent_binary(
    State(onboarding): State<Onboarding>,
    Path(arch): Path<String>,
) -> Result<Response, Unavailable> {
    Ok(binary_response(onboarding.agent_named(&arch)?))
}

async fn default_agent_checksum(
    State(onboarding): State<Onboarding>,
) -> Result<Response, Unavailable> {
    Ok(checksum_response(onboarding.default_or_unavailable()?))
}

async fn agent_checksum(
    State(onboarding): State<Onboarding>,
    Path(arch): Path<String>,
) -> Result<Response, Unavailable> {
    Ok(checksum_response(onboarding.agent_named(&arch)?))
}

fn binary_response(agent: &AgentBinary) -> Response {
    (
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
        .into_response()
}

/// `sha256sum`'s own format, so `sha256sum -c homelab-agent.sha256` checks a
/// download.
fn checksum_response(agent: &AgentBinary) -> Response {
    (
        [(CONTENT_TYPE, "text/plain; charset=utf-8"), NO_CACHE],
        format!("{}  homelab-agent\n", agent.sha256()),
    )
        .into_response()
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
    if onboarding.agents.is_empty() {
        return Err(Unavailable(StatusCode::NOT_FOUND, NO_AGENT.into()));
    }
    let (base, _) = onboarding.base_url(&headers).ok_or(Unavailable(
        StatusCode::BAD_REQUEST,
        "this request's Host is not a plain host name: the dashboard cannot tell the agent \
         where it is. Its admin can set --public-url."
            .into(),
    ))?;
    Ok((
        // Plain text: a browser shows the script to read before running it.
        [(CONTENT_TYPE, "text/plain; charset=utf-8"), NO_CACHE],
        install_script(&base, &onboarding.agents),
    )
        .into_response())
}

/// The install script for agents reaching the dashboard at `base`, choosing among
/// `agents` by the machine's type. Every value goes in single-quoted, although
/// [`PublicUrl`] admits no quote: the script runs as root.
pub fn install_script(base: &PublicUrl, agents: &[AgentBinary]) -> String {
    // One line per machine type: `x86_64 <sha256>`; both words are from fixed
    // alphabets (a known `uname -m` name, lowercase hex).
    let table: Vec<String> = agents
        .iter()
        .map(|agent| format!("{} {}", agent.arch(), agent.sha256()))
        .collect();
    INSTALL_TEMPLATE
        .replace("@BASE_URL_SH@", &shell_quote(base.as_str()))
        // Comments only: a public URL holds no newline, so it cannot leave them.
        .replace("@BASE_URL@", base.as_str())
        .replace("@AGENTS@", &shell_quote(&table.join("\n")))
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
        let elf = |machine: u16| {
            let mut elf = b"\x7fELF\x02\x01\x01".to_vec();
            elf.resize(18, 0);
            elf.extend(machine.to_le_bytes());
            elf.resize(64, 0);
            AgentBinary::from_bytes(elf, std::path::Path::new("a")).unwrap()
        };
        let (amd64, arm64) = (elf(0x3e), elf(0xb7));
        let script = install_script(
            &PublicUrl::parse("http://dash.lan:3000").unwrap(),
            &[amd64.clone(), arm64.clone()],
        );
        assert!(!script.contains("@BASE_URL"), "{script}");
        assert!(!script.contains("@AGENTS@"), "{script}");
        assert!(!script.contains("@UNIT_FILE@"), "{script}");
        assert!(script.contains("\nBASE_URL='http://dash.lan:3000'\n"));
        assert!(script.contains(&format!(
            "\nAGENTS='x86_64 {}\naarch64 {}'\n",
            amd64.sha256(),
            arm64.sha256()
        )));
        assert!(script.ends_with("main \"$@\"\n"));
    }
}
