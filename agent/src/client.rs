//! The agent's side of the agent API: JSON over HTTP with the machine's token, a
//! timeout on every call, and at most [`MAX_RESPONSE_BYTES`] read of any answer.

use std::time::Duration;

use homelab_protocol::{ActionResult, ActionType, Heartbeat, HeartbeatAck, NextAction, Progress};
use reqwest::StatusCode;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::config::Config;

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
}

#[derive(Deserialize)]
struct ErrorBody {
    message: String,
}

/// A client for one server and token.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    /// A client for the configured server.
    pub fn new(config: &Config) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("homelab-agent/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Client {
            http,
            base: config.server.clone(),
            token: config.token.clone(),
        })
    }

    /// Waits up to `wait` for the next approved action of this machine.
    pub async fn next_action(&self, wait: Duration) -> Result<Option<Claim>, ClientError> {
        let response = self
            .http
            .get(format!("{}/agent/v1/actions/next", self.base))
            .query(&[("wait", wait.as_secs())])
            .bearer_auth(&self.token)
            .timeout(wait + REQUEST_TIMEOUT)
            .send()
            .await?;
        match response.status() {
            StatusCode::NO_CONTENT => Ok(None),
            s if s.is_success() => Ok(Some(parse_claim(&read_capped(response).await?)?)),
            _ => Err(Self::refused(response).await),
        }
    }

    /// Reports how action `id` ended. A repeat is harmless: the server ignores it.
    pub async fn report_result(&self, id: i64, result: &ActionResult) -> Result<(), ClientError> {
        let response = self
            .http
            .post(format!("{}/agent/v1/actions/{id}/result", self.base))
            .bearer_auth(&self.token)
            .json(result)
            .send()
            .await?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(Self::refused(response).await)
        }
    }

    /// Tells the server that action `id` still runs, which extends its lease, with
    /// the output printed since the last call.
    pub async fn progress(&self, id: i64, output: &Progress) -> Result<(), ClientError> {
        let response = self
            .http
            .post(format!("{}/agent/v1/actions/{id}/progress", self.base))
            .bearer_auth(&self.token)
            .json(output)
            .send()
            .await?;
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
        let response = self
            .http
            .post(format!("{}/agent/v1/heartbeat", self.base))
            .bearer_auth(&self.token)
            .json(hb)
            .send()
            .await?;
        if response.status().is_success() {
            read_json(response).await
        } else {
            Err(Self::refused(response).await)
        }
    }
}
