use homelab_protocol::{ServerId, ServerName};
use homelab_server::config::{DatabaseArgs, OnboardingArgs, ServeArgs};
use homelab_server::db::Database;
use homelab_server::service::Service;
use homelab_server::startup::Application;
use tokio::sync::oneshot;

/// The account the test client is logged in as.
pub const TEST_USER: &str = "admin";
pub const TEST_PASSWORD: &str = "test password";

/// A running server on a fresh database; stops when dropped. Its `client` holds a
/// dashboard session.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    /// The service layer over the same database, for arranging a test's state.
    pub service: Service,
    /// A second pool on the same database, for what only SQL can arrange.
    pub db: Database,
    /// A JSON API token.
    pub api_token: String,
    _stop: oneshot::Sender<()>,
    _dir: tempfile::TempDir,
    _db: homelab_core::db::testing::Guard,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// GETs `path` and returns the status and the body.
    pub async fn get(&self, path: &str) -> (u16, String) {
        let response = self
            .client
            .get(self.url(path))
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (status, response.text().await.expect("body"))
    }

    /// POSTs `body` as JSON with `Authorization: Bearer token`.
    pub async fn post_json(
        &self,
        path: &str,
        token: Option<&str>,
        body: &serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let mut request = self.client.post(self.url(path)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        Self::answer(request.send().await.expect("request")).await
    }

    /// POSTs to the JSON API with the test's API token.
    pub async fn api_post(&self, path: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
        self.post_json(path, Some(&self.api_token), body).await
    }

    /// PUTs to the JSON API with the test's API token.
    pub async fn api_put(&self, path: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
        let request = self
            .client
            .put(self.url(path))
            .bearer_auth(&self.api_token)
            .json(body);
        Self::answer(request.send().await.expect("request")).await
    }

    /// Asks for the next action as the agent holding `token`; None on 204.
    pub async fn agent_next(&self, token: &str, wait_s: u64) -> Option<serde_json::Value> {
        let response = self
            .client
            .get(self.url(&format!("/agent/v1/actions/next?wait={wait_s}")))
            .bearer_auth(token)
            .send()
            .await
            .expect("request");
        match response.status().as_u16() {
            204 => None,
            200 => Some(response.json().await.expect("json")),
            other => panic!(
                "next action: {other} {}",
                response.text().await.unwrap_or_default()
            ),
        }
    }

    /// GETs `path` from the JSON API with the test's API token.
    pub async fn api_get(&self, path: &str) -> (u16, serde_json::Value) {
        let request = self.client.get(self.url(path)).bearer_auth(&self.api_token);
        Self::answer(request.send().await.expect("request")).await
    }

    async fn answer(response: reqwest::Response) -> (u16, serde_json::Value) {
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        let json = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("status {status}, body is not JSON ({e}): {text}"));
        (status, json)
    }

    /// Adds a server through the service layer and returns its agent token.
    pub async fn add_server(&self, id: &str, name: &str) -> String {
        self.service
            .add_server(
                ServerId::parse(id).unwrap(),
                ServerName::parse(name).unwrap(),
            )
            .await
            .expect("server added")
            .agent_token
    }
}

/// Starts the real server on 127.0.0.1:0 over a new SQLite file.
pub async fn spawn_app() -> TestApp {
    spawn_app_with_interval(60).await
}

/// Like [`spawn_app`], telling agents to beat every `heartbeat_interval` seconds.
pub async fn spawn_app_with_interval(heartbeat_interval: u32) -> TestApp {
    spawn_app_with(heartbeat_interval, OnboardingArgs::default(), |_| ()).await
}

/// Like [`spawn_app`], serving the site folder that `make_site` fills before the
/// server starts (it looks for the site's hash file at start).
pub async fn spawn_app_with_site(make_site: impl FnOnce(&std::path::Path)) -> TestApp {
    spawn_app_with(60, OnboardingArgs::default(), make_site).await
}

/// Like [`spawn_app`], with these onboarding settings (`--public-url`,
/// `--agent-binary`).
pub async fn spawn_app_with_onboarding(onboarding: OnboardingArgs) -> TestApp {
    spawn_app_with(60, onboarding, |_| ()).await
}

/// A replica: the real server on the existing database at `database_url` (other
/// replicas may serve it too), agents told to beat every `heartbeat_interval`
/// seconds.
pub async fn spawn_replica(database_url: &str, heartbeat_interval: u32) -> TestApp {
    start_app(
        Options {
            database_url: Some(database_url.to_owned()),
            ..Options::every(heartbeat_interval)
        },
        |_| (),
    )
    .await
}

/// Like [`spawn_app_with_interval`], with these action time limits.
pub async fn spawn_app_with_timeouts(
    heartbeat_interval: u32,
    timeouts: homelab_protocol::Timeouts,
) -> TestApp {
    start_app(
        Options {
            action_timeouts: timeouts,
            ..Options::every(heartbeat_interval)
        },
        |_| (),
    )
    .await
}

/// The real server on `database_url` (an existing database, or a fresh one of the
/// run's backend), retrying webhook deliveries on `backoff`.
pub async fn spawn_app_with_backoff(
    database_url: Option<&str>,
    heartbeat_interval: u32,
    backoff: homelab_core::service::Backoff,
) -> TestApp {
    start_app(
        Options {
            database_url: database_url.map(str::to_owned),
            backoff: Some(backoff),
            ..Options::every(heartbeat_interval)
        },
        |_| (),
    )
    .await
}

async fn spawn_app_with(
    heartbeat_interval: u32,
    onboarding: OnboardingArgs,
    make_site: impl FnOnce(&std::path::Path),
) -> TestApp {
    start_app(
        Options {
            onboarding,
            ..Options::every(heartbeat_interval)
        },
        make_site,
    )
    .await
}

/// How a test server is started.
struct Options {
    heartbeat_interval: u32,
    onboarding: OnboardingArgs,
    /// An existing database; `None` for a fresh one of the run's backend.
    database_url: Option<String>,
    action_timeouts: homelab_protocol::Timeouts,
    /// Webhook retries; `None` for the real backoff.
    backoff: Option<homelab_core::service::Backoff>,
}

impl Options {
    /// The defaults, agents told to beat every `heartbeat_interval` seconds.
    fn every(heartbeat_interval: u32) -> Self {
        Options {
            heartbeat_interval,
            onboarding: OnboardingArgs::default(),
            database_url: None,
            action_timeouts: homelab_protocol::Timeouts::default(),
            backoff: None,
        }
    }
}

/// Starts the server as `options` say; `make_site` fills the site folder first.
async fn start_app(options: Options, make_site: impl FnOnce(&std::path::Path)) -> TestApp {
    let Options {
        heartbeat_interval,
        onboarding,
        database_url,
        action_timeouts,
        backoff,
    } = options;
    // The server's warnings and errors, shown with a failing test's output.
    let _ = tracing_subscriber::fmt()
        .with_env_filter("warn")
        .with_test_writer()
        .try_init();
    let dir = tempfile::tempdir().expect("temporary directory");
    std::fs::create_dir(dir.path().join("site")).expect("site folder");
    make_site(&dir.path().join("site"));
    let replica = database_url.is_some();
    // SQLite, or PostgreSQL when the run says so (HOMELAB_TEST_BACKEND=postgres).
    let (database_url, db_guard) = match database_url {
        Some(url) => (url, homelab_core::db::testing::Guard::default()),
        None => homelab_core::db::testing::fresh_url().await,
    };
    let args = ServeArgs {
        listen: "127.0.0.1:0".parse().unwrap(),
        database: DatabaseArgs {
            database_url: database_url.clone(),
        },
        heartbeat_interval,
        action_timeouts,
        site_root: dir.path().join("site"),
        http: Default::default(),
        onboarding,
    };
    let app = Application::build(&args)
        .await
        .expect("server starts")
        .with_lease_check_every(std::time::Duration::from_millis(100))
        .with_webhook_backoff(backoff.unwrap_or_default());
    let addr = app.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let db = Database::connect(&database_url).await.expect("second pool");
    let service = Service::new(db.clone(), args.heartbeat_interval());
    // A replica's API token needs a name of its own: names are unique.
    let token_name = if replica {
        format!("tests-replica-{}", addr.port())
    } else {
        "tests".to_owned()
    };
    let api_token = service
        .create_api_token(&token_name)
        .await
        .expect("API token");
    // Setting a password ends the user's sessions: a second replica keeps the
    // account the first one made.
    if service.login(TEST_USER, TEST_PASSWORD).await.is_err() {
        service
            .set_user_password(TEST_USER, TEST_PASSWORD)
            .await
            .expect("test account");
    }
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = client
        .post(format!("http://{addr}/login"))
        .form(&[
            ("username", TEST_USER),
            ("password", TEST_PASSWORD),
            ("next", "/"),
        ])
        .send()
        .await
        .expect("login");
    assert_eq!(response.status().as_u16(), 303, "login redirects");
    TestApp {
        db,
        service,
        api_token,
        base: format!("http://{addr}"),
        client,
        _stop: stop,
        _dir: dir,
        _db: db_guard,
    }
}

/// The router alone over a fresh database, driven with `tower::ServiceExt::oneshot`:
/// for auth refusals, error mapping and headers, where no socket is needed.
pub struct TestRouter {
    router: axum::Router,
    pub service: Service,
    /// A JSON API token.
    pub api_token: String,
    /// A `Cookie` header value holding a live dashboard session of [`TEST_USER`].
    pub session_cookie: String,
    _dir: tempfile::TempDir,
    _db: homelab_core::db::testing::Guard,
}

/// The host the oneshot requests are addressed to.
pub const TEST_HOST: &str = "dash.test:3000";

/// Builds the router over a new SQLite file, with an API token and a session.
pub async fn test_router() -> TestRouter {
    test_router_with(homelab_server::onboarding::Onboarding::default()).await
}

/// Like [`test_router`], with these onboarding facts (public URL, agent binary).
pub async fn test_router_with(onboarding: homelab_server::onboarding::Onboarding) -> TestRouter {
    let dir = tempfile::tempdir().expect("temporary directory");
    // SQLite, or PostgreSQL when the run says so (HOMELAB_TEST_BACKEND=postgres).
    let (database_url, db_guard) = homelab_core::db::testing::fresh_url().await;
    let db = Database::connect(&database_url).await.expect("database");
    let service = Service::new(db, std::time::Duration::from_secs(60));
    let api_token = service.create_api_token("tests").await.expect("API token");
    service
        .set_user_password(TEST_USER, TEST_PASSWORD)
        .await
        .expect("test account");
    let session = service
        .login(TEST_USER, TEST_PASSWORD)
        .await
        .expect("session");
    let leptos_options = leptos::config::LeptosOptions::builder()
        .output_name("homelab-cmd")
        .site_root(dir.path().join("site").display().to_string())
        .site_pkg_dir("pkg")
        .build();
    let router = homelab_server::startup::router(homelab_server::startup::AppState {
        leptos_options,
        service: service.clone(),
        onboarding,
    });
    TestRouter {
        router,
        service,
        api_token,
        session_cookie: format!("{}={session}", homelab_server::auth::COOKIE_NAME),
        _dir: dir,
        _db: db_guard,
    }
}

/// An answer read whole.
pub struct Answer {
    pub status: u16,
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

impl Answer {
    /// The body as JSON; panics with the body when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("status {}, not JSON ({e}): {}", self.status, self.body))
    }

    /// A header's value as text ("" when absent).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

impl TestRouter {
    /// Every path the router routes, as written in its routes (`/api/v1/runs/{id}`).
    ///
    /// axum has no API to list routes; its router's `Debug` output names each path,
    /// and is read here. Tests that use this also check that known paths are found,
    /// so a change in that output fails them rather than emptying the list.
    pub fn routed_paths(&self) -> std::collections::BTreeSet<String> {
        let debug = format!("{:?}", self.router);
        debug
            .split('"')
            .skip(1)
            .step_by(2)
            .filter(|s| s.starts_with('/'))
            .map(str::to_owned)
            .collect()
    }

    /// A request to `path` on [`TEST_HOST`], without credentials.
    pub fn request(&self, method: &str, path: &str) -> axum::http::request::Builder {
        axum::http::Request::builder()
            .method(method)
            .uri(path)
            .header("host", TEST_HOST)
    }

    /// Sends `request` through the router and reads the answer.
    pub async fn send(&self, request: axum::http::Request<axum::body::Body>) -> Answer {
        use tower::ServiceExt as _;
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("the router never fails");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), 16 * 1024 * 1024)
            .await
            .expect("body");
        Answer {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    /// GETs `path` with no credentials.
    pub async fn get_anonymous(&self, path: &str) -> Answer {
        self.send(
            self.request("GET", path)
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
    }

    /// GETs `path` with the API token.
    pub async fn get_with_token(&self, path: &str) -> Answer {
        self.send(
            self.request("GET", path)
                .header("authorization", format!("Bearer {}", self.api_token))
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
    }

    /// GETs `path` with the session cookie.
    pub async fn get_with_session(&self, path: &str) -> Answer {
        self.send(
            self.request("GET", path)
                .header("cookie", &self.session_cookie)
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
    }
}

/// Runs the `homelab-cmd` binary on the database at `url`, as a script would: a
/// clean environment, no terminal (nobody can type a confirmation).
pub async fn homelab_cmd(url: &str, args: &[&str]) -> std::process::Output {
    homelab_cmd_with(&[("DATABASE_URL", url)], args).await
}

/// Runs the `homelab-cmd` binary with only `env` (and a quiet log) in its
/// environment and no terminal.
pub async fn homelab_cmd_with(env: &[(&str, &str)], args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_homelab-cmd"))
        .env_clear()
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("homelab-cmd runs")
}

/// A command's output as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
