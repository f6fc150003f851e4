//! The agent's side of the agent API: JSON over HTTP with the machine's token, a
//! timeout on every call.

use std::time::Duration;

use homelab_protocol::{Heartbeat, HeartbeatAck};
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

    /// Sends a heartbeat.
    pub async fn heartbeat(&self, hb: &Heartbeat) -> Result<HeartbeatAck, ClientError> {
        let response = self
            .http
            .post(format!("{}/agent/v1/heartbeat", self.base))
            .bearer_auth(&self.token)
            .json(hb)
            .send()
            .await?;
        match response.status() {
            s if s.is_success() => Ok(response.json().await?),
            StatusCode::UNAUTHORIZED => Err(ClientError::Unauthorized),
            status => {
                let message = response
                    .json::<ErrorBody>()
                    .await
                    .map(|b| b.message)
                    .unwrap_or_else(|_| "no message".to_owned());
                Err(ClientError::Refused { status, message })
            }
        }
    }
}
