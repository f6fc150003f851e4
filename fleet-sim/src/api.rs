//! The JSON API (`/api/v1`, with an API token) and the dashboard's login, as the
//! simulator uses them to set up servers, create actions and read them back.

use std::time::Duration;

use homelab_agent::config::{ServerList, ServerUrl};
use homelab_protocol::{Action, AddedServer, ServerId};
use reqwest::StatusCode;
use serde::Deserialize;

/// How long one API call may take.
pub const API_TIMEOUT: Duration = Duration::from_secs(60);

/// Why an API call failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("cannot reach {url}: {}", root_cause(source))]
    Transport { url: String, source: reqwest::Error },
    #[error("{what}: the server answered {status}: {message}")]
    Status {
        what: String,
        status: StatusCode,
        message: String,
    },
    #[error("{what}: unexpected answer: {message}")]
    BadAnswer { what: String, message: String },
}

impl ApiError {
    /// The status the server answered with, if it answered.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            ApiError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// The innermost cause of an error ("Connection refused"), not reqwest's generic
/// "error sending request".
pub fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    cause.to_string()
}

/// The server's `{"code", "message"}` error body.
#[derive(Deserialize)]
struct ErrorBody {
    message: String,
}

/// An action just created: its id, and whether it was new (201) or an idempotent
/// repeat.
#[derive(Debug, Clone, Copy)]
pub struct Created {
    pub id: i64,
    pub status: StatusCode,
}

/// A client of one server's JSON API.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: ServerUrl,
    token: String,
}

/// Checks a `--url`: one `http://` or `https://` address without a path query.
pub fn parse_url(raw: &str) -> Result<ServerUrl, homelab_agent::config::ServerListError> {
    ServerUrl::parse(raw)
}

/// The base URL as the agent client's server list.
pub fn server_list(url: &ServerUrl) -> ServerList {
    ServerList::parse([url.as_str()]).expect("an already checked URL")
}

/// A connection pool with the simulator's timeouts.
pub fn http_client(pool_idle_per_host: usize) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(API_TIMEOUT)
        .connect_timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(pool_idle_per_host)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("homelab-fleet-sim/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("an HTTP client (TLS roots readable)")
}

impl Api {
    /// A client for `base` with `token`.
    pub fn new(http: reqwest::Client, base: ServerUrl, token: String) -> Self {
        Api { http, base, token }
    }

    /// The server's base URL.
    pub fn base(&self) -> &ServerUrl {
        &self.base
    }

    /// The API token.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, ApiError> {
        request
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|source| ApiError::Transport {
                url: self.base.to_string(),
                source,
            })
    }

    async fn refused(what: String, response: reqwest::Response) -> ApiError {
        let status = response.status();
        let message = match response.json::<ErrorBody>().await {
            Ok(b) => b.message,
            Err(_) => "no message".to_owned(),
        };
        ApiError::Status {
            what,
            status,
            message,
        }
    }

    async fn json<T: serde::de::DeserializeOwned>(
        what: String,
        response: reqwest::Response,
    ) -> Result<T, ApiError> {
        response.json().await.map_err(|e| ApiError::BadAnswer {
            what,
            message: e.to_string(),
        })
    }

    /// Checks that the server answers and takes the token: a light authenticated
    /// call.
    pub async fn check(&self) -> Result<(), ApiError> {
        let what = || "checking the API token (GET /api/v1/tokens)".to_owned();
        let response = self.send(self.http.get(self.url("/api/v1/tokens"))).await?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(Self::refused(what(), response).await)
        }
    }

    /// Adds server `id`; its agent token, or None when it already exists (409).
    pub async fn add_server(&self, id: &ServerId) -> Result<Option<String>, ApiError> {
        let what = || format!("adding server {id}");
        let body = serde_json::json!({ "id": id.as_str(), "name": format!("Simulated {id}") });
        let response = self
            .send(self.http.post(self.url("/api/v1/servers")).json(&body))
            .await?;
        match response.status() {
            StatusCode::CREATED => Ok(Some(
                Self::json::<AddedServer>(what(), response)
                    .await?
                    .agent_token,
            )),
            StatusCode::CONFLICT => Ok(None),
            _ => Err(Self::refused(what(), response).await),
        }
    }

    /// Gives server `id` a new agent token (for a server added by an earlier run).
    pub async fn rotate_token(&self, id: &ServerId) -> Result<String, ApiError> {
        let what = || format!("rotating the agent token of {id}");
        let response = self
            .send(
                self.http
                    .post(self.url(&format!("/api/v1/servers/{id}/agent-token"))),
            )
            .await?;
        if response.status().is_success() {
            Ok(Self::json::<AddedServer>(what(), response)
                .await?
                .agent_token)
        } else {
            Err(Self::refused(what(), response).await)
        }
    }

    /// Creates an action on `server`: 201 (or 200 for an idempotent repeat).
    pub async fn create_action(
        &self,
        server: &ServerId,
        body: &serde_json::Value,
    ) -> Result<Created, ApiError> {
        let what = || format!("creating an action on {server}");
        let response = self
            .send(
                self.http
                    .post(self.url(&format!("/api/v1/servers/{server}/actions")))
                    .json(body),
            )
            .await?;
        let status = response.status();
        if status.is_success() {
            let action: Action = Self::json(what(), response).await?;
            Ok(Created {
                id: action.id.get(),
                status,
            })
        } else {
            Err(Self::refused(what(), response).await)
        }
    }

    /// Action `id`, with its output.
    pub async fn action(&self, id: i64) -> Result<Action, ApiError> {
        let what = || format!("reading action {id}");
        let response = self
            .send(self.http.get(self.url(&format!("/api/v1/actions/{id}"))))
            .await?;
        if response.status().is_success() {
            Self::json(what(), response).await
        } else {
            Err(Self::refused(what(), response).await)
        }
    }

    /// The newest action's id, if there is one.
    pub async fn newest_action_id(&self) -> Result<Option<i64>, ApiError> {
        let what = || "reading the newest action (GET /api/v1/actions?limit=1)".to_owned();
        let response = self
            .send(self.http.get(self.url("/api/v1/actions?limit=1")))
            .await?;
        if !response.status().is_success() {
            return Err(Self::refused(what(), response).await);
        }
        let page: homelab_protocol::ActionPage = Self::json(what(), response).await?;
        Ok(page.actions.first().map(|a| a.id.get()))
    }
}

/// Logs in to the dashboard as `user`: the session cookie (`name=value`) the
/// server-rendered pages need.
pub async fn login(
    http: &reqwest::Client,
    base: &ServerUrl,
    user: &str,
    password: &str,
) -> Result<String, ApiError> {
    let what = format!("logging in as {user} (POST /login)");
    let response = http
        .post(format!("{base}/login"))
        .form(&[("username", user), ("password", password), ("next", "/")])
        .send()
        .await
        .map_err(|source| ApiError::Transport {
            url: base.to_string(),
            source,
        })?;
    let cookie = response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .find(|c| c.contains('=') && !c.ends_with('='))
        .map(str::to_owned);
    match (response.status(), cookie) {
        (StatusCode::SEE_OTHER, Some(cookie)) => Ok(cookie),
        (status, _) => Err(ApiError::Status {
            what,
            status,
            message: "no session: check --user and HOMELAB_SIM_PASSWORD".to_owned(),
        }),
    }
}
