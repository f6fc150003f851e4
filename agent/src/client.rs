//! The agent's side of the agent API: JSON over HTTP with the machine's token, a
//! timeout on every call, and at most [`MAX_RESPONSE_BYTES`] read of any answer.
//!
//! Failover: with several servers (replicas on one database) every call goes to the
//! current one; when it does not answer (refused, reset, dropped mid long-poll, timed
//! out, or a proxy's 502/503/504) the same call goes at once to the next, once around
//! the list. The one that answers becomes current and stays so while it answers, so
//! a healthy agent does not bounce between replicas. An answer that is the server
//! speaking (200, 204, 401, 403, 404, 409, 422...) is never a reason to move: every
//! replica would say the same.

use std::fmt::Write as _;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use homelab_protocol::{
    ActionResult, ActionType, AptPreview, Heartbeat, HeartbeatAck, NextAction, PreviewOutcome,
    Progress,
};
use reqwest::StatusCode;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::config::{Config, ServerList};

/// How long one request may take, end to end.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The most the agent reads of one answer: the largest real one (an action with two
/// thousand pinned packages) is far smaller, and a hostile hub must not grow a root
/// process without bound.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// Why a call to the server failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the server refused the agent token (401): check --token")]
    Unauthorized,
    #[error("the server refused the request ({status}): {message}")]
    Refused { status: StatusCode, message: String },
    #[error("cannot reach the server: {0}")]
    Transport(#[from] reqwest::Error),
    #[error("the server's answer is larger than {MAX_RESPONSE_BYTES} bytes; not read")]
    TooLarge,
    #[error("the server's answer is not what the agent expects: {0}")]
    BadAnswer(String),
}

/// What the long-poll handed over (the server now counts it as executing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// An action this agent can read.
    Run(NextAction),
    /// An action it cannot read (an action type from a newer server, a malformed
    /// field): it gets a failed result for its id rather than an endless retry.
    Unreadable { id: i64, reason: String },
}

/// Reads the long-poll's answer: only the id must be readable, so that anything
/// else wrong is answered for that id.
pub fn parse_claim(body: &[u8]) -> Result<Claim, ClientError> {
    #[derive(Deserialize)]
    struct Id {
        id: i64,
    }
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| ClientError::BadAnswer(e.to_string()))?;
    let Id { id } = Id::deserialize(&value)
        .map_err(|e| ClientError::BadAnswer(format!("an action without an id: {e}")))?;
    match NextAction::deserialize(&value) {
        Ok(action) => Ok(Claim::Run(action)),
        Err(e) => {
            let reason = match value.get("action_type").and_then(|t| t.as_str()) {
                Some(t) if t.parse::<ActionType>().is_err() => format!(
                    "unknown action type `{}`: this agent (version {}) does not know it; upgrade the agent",
                    t.chars().take(64).collect::<String>(),
                    env!("CARGO_PKG_VERSION")
                ),
                _ => format!("the action could not be read: {e}"),
            };
            Ok(Claim::Unreadable { id, reason })
        }
    }
}

/// Reads a body, at most [`MAX_RESPONSE_BYTES`] of it, chunk by chunk: a body that
/// says or turns out to be larger is refused without being buffered.
async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, ClientError> {
    if response
        .content_length()
        .is_some_and(|n| n > MAX_RESPONSE_BYTES as u64)
    {
        return Err(ClientError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(ClientError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Reads a capped body as JSON.
async fn read_json<T: DeserializeOwned>(response: reqwest::Response) -> Result<T, ClientError> {
    let body = read_capped(response).await?;
    serde_json::from_slice(&body).map_err(|e| ClientError::BadAnswer(e.to_string()))
}

impl ClientError {
    /// Whether sending again can never succeed (the server refused this very request).
    pub fn is_final(&self) -> bool {
        matches!(self, ClientError::Refused { status, .. }
            if status.is_client_error() && *status != StatusCode::TOO_MANY_REQUESTS
                && *status != StatusCode::REQUEST_TIMEOUT)
    }

    /// Whether the server did not answer, so another replica may: no connection,
    /// a connection reset or dropped before or during the answer, a timeout, or a
    /// proxy saying its backend is gone (502, 503, 504). Not a malformed request or a
    /// redirect, and never an answer of the server itself.
    pub fn is_failover(&self) -> bool {
        match self {
            ClientError::Transport(e) => {
                e.is_connect() || e.is_timeout() || e.is_request() || e.is_body() || e.is_decode()
            }
            ClientError::Refused { status, .. } => matches!(
                *status,
                StatusCode::BAD_GATEWAY
                    | StatusCode::SERVICE_UNAVAILABLE
                    | StatusCode::GATEWAY_TIMEOUT
            ),
            _ => false,
        }
    }

    /// A short reason for a log line: the innermost cause of a transport error
    /// ("Connection refused", "connection closed before message completed"), not
    /// reqwest's generic "error sending request".
    fn why(&self) -> String {
        match self {
            ClientError::Transport(e) if e.is_timeout() => "timed out".to_owned(),
            ClientError::Transport(e) => {
                let mut cause: &dyn std::error::Error = e;
                while let Some(inner) = cause.source() {
                    cause = inner;
                }
                cause.to_string()
            }
            ClientError::Refused { status, .. } => format!("{status} from a proxy"),
            other => other.to_string(),
        }
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    message: String,
}

/// A client for the configured servers and token. Clones share the current
/// server: once the action loop has moved on from a dead replica, the heartbeat goes
/// to the new one too.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    servers: ServerList,
    /// Index into `servers` of the one calls start with.
    current: Arc<AtomicUsize>,
    token: String,
}

impl Client {
    /// A client for the configured servers, starting with the first.
    pub fn new(config: &Config) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("homelab-agent/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Client::with_http(
            http,
            config.servers.clone(),
            config.token.clone(),
        ))
    }

    /// A client for `servers` and `token` over an existing connection pool: a fleet
    /// simulator runs thousands of machines on one pool. `http` should carry a
    /// default timeout, as [`Client::new`]'s does; the long-poll sets its own.
    pub fn with_http(http: reqwest::Client, servers: ServerList, token: String) -> Self {
        Client {
            http,
            servers,
            current: Arc::new(AtomicUsize::new(0)),
            token,
        }
    }

    /// The server calls go to first.
    pub fn current_server(&self) -> &str {
        let servers = self.servers.as_slice();
        servers[self.current.load(Ordering::Acquire) % servers.len()].as_str()
    }

    /// Sends the request `request` builds for a base URL to the current server, and
    /// on a failover reason ([`ClientError::is_failover`]) to the next ones in turn,
    /// once around the list; `read` turns an answer into the call's outcome, so an
    /// answer cut off halfway also moves on. The server that answered becomes
    /// current. With every server down, the last one's error (the caller backs off).
    async fn call<T, F>(
        &self,
        request: impl Fn(&str) -> reqwest::RequestBuilder,
        read: impl Fn(reqwest::Response) -> F,
    ) -> Result<T, ClientError>
    where
        F: Future<Output = Result<T, ClientError>>,
    {
        let servers = self.servers.as_slice();
        let start = self.current.load(Ordering::Acquire) % servers.len();
        let mut failed: Vec<(usize, ClientError)> = Vec::new();
        loop {
            let at = (start + failed.len()) % servers.len();
            let outcome = match request(servers[at].as_str()).send().await {
                Ok(response) => read(response).await,
                Err(e) => Err(ClientError::Transport(e)),
            };
            match outcome {
                Err(e) if e.is_failover() && failed.len() + 1 < servers.len() => {
                    failed.push((at, e));
                }
                // An answer, or the last server down too.
                outcome => {
                    if at != start && !outcome.as_ref().is_err_and(ClientError::is_failover) {
                        self.switch(start, at, &failed);
                    }
                    return outcome;
                }
            }
        }
    }

    /// Makes `to` current unless another call already moved on from `from`, and
    /// says so once.
    fn switch(&self, from: usize, to: usize, failed: &[(usize, ClientError)]) {
        if self
            .current
            .compare_exchange(from, to, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return;
        }
        let servers = self.servers.as_slice();
        let mut why = String::new();
        for (i, (at, e)) in failed.iter().enumerate() {
            let sep = if i == 0 { "" } else { "; " };
            let _ = write!(why, "{sep}{}: {}", servers[*at], e.why());
        }
        tracing::warn!(
            from = %servers[from],
            to = %servers[to],
            %why,
            "server not answering; moved to the next one, which answers calls from now on"
        );
    }

    /// Waits up to `wait` for the next approved action of this machine.
    pub async fn next_action(&self, wait: Duration) -> Result<Option<Claim>, ClientError> {
        self.call(
            |base| {
                self.http
                    .get(format!("{base}/agent/v1/actions/next"))
                    .query(&[("wait", wait.as_secs())])
                    .bearer_auth(&self.token)
                    .timeout(wait + REQUEST_TIMEOUT)
            },
            |response| async move {
                match response.status() {
                    StatusCode::NO_CONTENT => Ok(None),
                    s if s.is_success() => Ok(Some(parse_claim(&read_capped(response).await?)?)),
                    _ => Err(Self::refused(response).await),
                }
            },
        )
        .await
    }

    /// Reports how action `id` ended. A repeat is harmless: the server ignores it,
    /// whichever replica it reaches.
    pub async fn report_result(&self, id: i64, result: &ActionResult) -> Result<(), ClientError> {
        self.call(
            |base| {
                self.http
                    .post(format!("{base}/agent/v1/actions/{id}/result"))
                    .bearer_auth(&self.token)
                    .json(result)
            },
            Self::acknowledged,
        )
        .await
    }

    /// Tells the server that action `id` still runs, which extends its lease, with
    /// the output printed since the last call.
    pub async fn progress(&self, id: i64, output: &Progress) -> Result<(), ClientError> {
        self.call(
            |base| {
                self.http
                    .post(format!("{base}/agent/v1/actions/{id}/progress"))
                    .bearer_auth(&self.token)
                    .json(output)
            },
            Self::acknowledged,
        )
        .await
    }

    /// Sends what apt's simulation says action `id` would do (or why there is none).
    pub async fn record_preview(
        &self,
        id: i64,
        outcome: &PreviewOutcome,
    ) -> Result<(), ClientError> {
        self.call(
            |base| {
                self.http
                    .post(format!("{base}/agent/v1/actions/{id}/preview"))
                    .bearer_auth(&self.token)
                    .json(outcome)
            },
            Self::acknowledged,
        )
        .await
    }

    /// Hands action `id` back for a person: apt would remove packages (`preview`).
    pub async fn hold(&self, id: i64, preview: &AptPreview) -> Result<(), ClientError> {
        self.call(
            |base| {
                self.http
                    .post(format!("{base}/agent/v1/actions/{id}/hold"))
                    .bearer_auth(&self.token)
                    .json(preview)
            },
            Self::acknowledged,
        )
        .await
    }

    /// Any 2xx, its body unread; otherwise the refusal.
    async fn acknowledged(response: reqwest::Response) -> Result<(), ClientError> {
        if response.status().is_success() {
            Ok(())
        } else {
            Err(Self::refused(response).await)
        }
    }

    async fn refused(response: reqwest::Response) -> ClientError {
        match response.status() {
            StatusCode::UNAUTHORIZED => ClientError::Unauthorized,
            status => {
                let message = read_json::<ErrorBody>(response)
                    .await
                    .map(|b| b.message.chars().take(500).collect())
                    .unwrap_or_else(|_| "no message".to_owned());
                ClientError::Refused { status, message }
            }
        }
    }

    /// Sends a heartbeat.
    pub async fn heartbeat(&self, hb: &Heartbeat) -> Result<HeartbeatAck, ClientError> {
        self.call(
            |base| {
                self.http
                    .post(format!("{base}/agent/v1/heartbeat"))
                    .bearer_auth(&self.token)
                    .json(hb)
            },
            |response| async move {
                if response.status().is_success() {
                    read_json(response).await
                } else {
                    Err(Self::refused(response).await)
                }
            },
        )
        .await
    }
}
