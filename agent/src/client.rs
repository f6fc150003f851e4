//! The agent's side of the agent API: JSON over HTTP with the machine's token, a
//! timeout on every call.

use std::time::Duration;

use homelab_protocol::{ActionResult, Heartbeat, HeartbeatAck, NextAction};
use reqwest::StatusCode;
use serde::Deserialize;

use crate::config::Config;

/// How long one request may take, end to end.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a call to the server failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the server refused the agent token (401): check --token")]
    Unauthorized,
    #[error("the server refused the request ({status}): {message}")]
    Refused { status: StatusCode, message: String },
    #[error("cannot reach the server: {0}")]
    Transport(#[from] reqwest::Error),
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
    pub async fn next_action(&self, wait: Duration) -> Result<Option<NextAction>, ClientError> {
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
            s if s.is_success() => Ok(Some(response.json().await?)),
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

    async fn refused(response: reqwest::Response) -> ClientError {
        match response.status() {
            StatusCode::UNAUTHORIZED => ClientError::Unauthorized,
            status => {
                let message = response
                    .json::<ErrorBody>()
                    .await
                    .map(|b| b.message)
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
            Ok(response.json().await?)
        } else {
            Err(Self::refused(response).await)
        }
    }
}
