//! Builds the router and runs the server until it is told to stop.

use std::net::SocketAddr;
use std::time::Duration;

use std::path::PathBuf;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, Uri};
use axum::middleware;
use axum::routing::{get, post};
use homelab_app::{App, shell};
use leptos::config::{Env, LeptosOptions};
use leptos::prelude::{provide_context, use_context};
use leptos_axum::{LeptosRoutes, generate_route_list_with_exclusions};
use tokio::net::TcpListener;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::auth::{DashboardSession, MAX_LOGIN_FORM_BYTES};
use crate::config::ServeArgs;
use crate::db::Database;
use crate::http::{CspNonce, refuse_dot_segments, same_origin_writes, security_headers};
use crate::service::Service;
pub use crate::state::AppState;

/// How long a request may take before the server answers 408. Long-polls stay below it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The name cargo-leptos gives the bundle's files (`output-name` in `Cargo.toml`).
const OUTPUT_NAME: &str = "homelab-cmd";

/// The Leptos options for serving the bundle that cargo-leptos built into `site_root`:
/// with its hash file, when there is one, the page names the hashed files.
pub fn leptos_options(args: &ServeArgs) -> LeptosOptions {
    let hash_file = crate::assets::find_hash_file(&args.site_root, OUTPUT_NAME);
    match &hash_file {
        Some(file) => tracing::info!(hash_file = %file.display(), "serving content-hashed assets"),
        None if args
            .site_root
            .join("pkg")
            .join(format!("{OUTPUT_NAME}.wasm"))
            .is_file() =>
        {
            tracing::info!(site_root = %args.site_root.display(), "serving assets without hashes")
        }
        None => tracing::warn!(
            site_root = %args.site_root.display(),
            "no hash file and no {OUTPUT_NAME}.wasm in the site: pages will not load their \
             bundle (build with scripts/run, or copy hash.txt into the site folder)"
        ),
    }
    LeptosOptions::builder()
        .output_name(OUTPUT_NAME)
        .site_root(args.site_root.display().to_string())
        .site_pkg_dir("pkg")
        .site_addr(args.listen)
        .env(Env::PROD)
        .hash_files(hash_file.is_some())
        .hash_file(
            hash_file
                .map(|f| f.display().to_string())
                .unwrap_or_else(|| crate::assets::HASH_FILE.to_owned())
                .into(),
        )
        .build()
}

/// The whole HTTP surface, as routers scoped by who may call them:
/// - public: `/healthz`, the login page and form, `/logout`, static files, and the
///   onboarding downloads (`/downloads/...`, nothing secret in them);
/// - the agent API (`/agent/...`), which checks agent tokens itself;
/// - the JSON API (`/api/v1/...`), behind the [`Actor`](crate::auth::Actor) extractor;
/// - the dashboard's pages and server functions, behind
///   [`DashboardSession`], as is the 404 page.
///
/// Access is decided by the route matched, never by a prefix of the raw path; and
/// three policies hold for every request: security headers, no dot segments, and
/// same-origin writes.
pub fn router(state: AppState) -> Router {
    let service = state.service.clone();
    let onboarding = state.onboarding.clone();
    let context = move || {
        provide_context(service.clone());
        provide_request_nonce();
        provide_onboarding(&onboarding);
    };
    let leptos_options = state.leptos_options.clone();
    let app_shell = move || shell(leptos_options.clone());
    let site_root = PathBuf::from(&*state.leptos_options.site_root);

    let public = Router::new()
        .route("/healthz", get(healthz))
        .route(
            "/login",
            get(leptos_axum::render_app_to_stream_with_context(
                context.clone(),
                app_shell.clone(),
            ))
            .post(crate::auth::login)
            .layer(DefaultBodyLimit::max(MAX_LOGIN_FORM_BYTES)),
        )
        .route("/logout", post(crate::auth::logout))
        .merge(crate::onboarding::router())
        // Checks the session itself: a stream answers 401, never a login redirect.
        .route("/events", get(crate::live::events))
        .merge(crate::assets::router(&site_root))
        .route_layer(middleware::from_fn(crate::metrics::label_route));

    // The login page is public (above); every other page and every server function
    // needs a session.
    let pages = generate_route_list_with_exclusions(App, Some(vec!["/login".to_owned()]));
    let dashboard = Router::new()
        .leptos_routes_with_context(&state, pages, context.clone(), app_shell)
        .route_layer(middleware::from_extractor_with_state::<DashboardSession, _>(state.clone()))
        .route_layer(middleware::from_fn(crate::metrics::label_route));
    let not_found = leptos_axum::file_and_error_handler_with_context::<AppState, _>(context, shell);

    Router::new()
        .merge(public)
        .merge(
            crate::agent_api::router()
                .route_layer(middleware::from_fn(crate::metrics::label_route)),
        )
        .merge(
            crate::api::router(state.clone())
                .route_layer(middleware::from_fn(crate::metrics::label_route)),
        )
        .merge(dashboard)
        .fallback(
            move |_: DashboardSession, uri: Uri, state: State<AppState>, request: Request| {
                not_found(uri, state, request)
            },
        )
        .layer(middleware::from_fn(same_origin_writes))
        .layer(middleware::from_fn(refuse_dot_segments))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(TraceLayer::new_for_http())
        .layer(middleware::from_fn(security_headers))
        .layer(middleware::from_fn(crate::metrics::track_requests))
        .with_state(state)
}

/// Hands the request's CSP nonce (made by [`security_headers`]) to Leptos, so the
/// hydration scripts it writes carry the nonce the response's policy allows.
fn provide_request_nonce() {
    let nonce = use_context::<axum::http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<CspNonce>().cloned());
    if let Some(CspNonce(nonce)) = nonce {
        provide_context(leptos::nonce::Nonce::from_value(nonce));
    }
}

/// Hands the onboarding facts to Leptos, worked out for this request: without a
/// public URL, the address its browser used.
fn provide_onboarding(onboarding: &crate::onboarding::Onboarding) {
    if let Some(parts) = use_context::<axum::http::request::Parts>() {
        provide_context(onboarding.info(&parts.headers));
    }
}

async fn healthz() -> &'static str {
    "ok"
}

/// A server bound to its port, ready to run.
pub struct Application {
    listener: TcpListener,
    router: Router,
    service: Service,
    lease_check_every: Duration,
    webhook_backoff: homelab_core::service::Backoff,
    limits: crate::serve::Limits,
}

impl Application {
    /// Opens the database, applies migrations and binds the listen address.
    pub async fn build(args: &ServeArgs) -> anyhow::Result<Self> {
        use anyhow::Context as _;

        // Counting starts with the process (the recorder is the process's).
        crate::metrics::handle();

        let db = Database::connect(&args.database.database_url)
            .await
            .with_context(|| {
                format!(
                    "opening database {}",
                    crate::db::redacted(&args.database.database_url)
                )
            })?;
        let service =
            Service::new(db, args.heartbeat_interval()).with_timeouts(args.action_timeouts.clone());
        if let Some(password) = service.bootstrap_admin().await? {
            tracing::warn!("fresh database: created the account `admin`");
            println!(
                "First start: log in as `admin` with password {password}\n\
                 (change it with `homelab-cmd user add admin`)."
            );
        }
        let state = AppState {
            leptos_options: leptos_options(args),
            service: service.clone(),
            onboarding: crate::onboarding::Onboarding::load(&args.onboarding).await?,
        };
        let listener = TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("binding {}", args.listen))?;
        let open_files = crate::serve::raise_open_files_limit();
        let limits = crate::serve::Limits {
            max_connections: crate::serve::cap_for(
                open_files,
                usize::try_from(args.http.max_connections).unwrap_or(usize::MAX),
            ),
            header_read_timeout: Duration::from_secs(u64::from(args.http.header_read_timeout)),
            ..crate::serve::Limits::default()
        };
        tracing::debug!(?limits, open_files, "listener limits");
        Ok(Application {
            listener,
            router: router(state),
            service,
            lease_check_every: crate::jobs::LEASE_CHECK_EVERY,
            webhook_backoff: homelab_core::service::Backoff::default(),
            limits,
        })
    }

    /// Checks leases this often (tests use a short period).
    pub fn with_lease_check_every(mut self, every: Duration) -> Self {
        self.lease_check_every = every;
        self
    }

    /// Retries webhook deliveries on this schedule (tests use a short one).
    pub fn with_webhook_backoff(mut self, backoff: homelab_core::service::Backoff) -> Self {
        self.webhook_backoff = backoff;
        self
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, then ends the agents' long-polls and lets
    /// the other requests in flight finish (for a bounded time).
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let jobs = [
            tokio::spawn(crate::jobs::expire_leases(
                self.service.clone(),
                self.lease_check_every,
            )),
            tokio::spawn(crate::jobs::announce_presence(self.service.clone())),
            tokio::spawn(crate::jobs::advance_runs(self.service.clone())),
            tokio::spawn(crate::jobs::fire_schedules(self.service.clone())),
            tokio::spawn(crate::jobs::webhooks::deliver_webhooks(
                self.service.clone(),
                self.webhook_backoff.clone(),
            )),
            tokio::spawn(crate::jobs::webhooks::watch_presence(self.service.clone())),
            // PostgreSQL: what the other replicas change (nothing on SQLite).
            tokio::spawn(self.service.clone().listen_to_replicas()),
        ];
        let service = self.service.clone();
        let shutdown = async move {
            shutdown.await;
            service.stop_long_polls();
        };
        crate::serve::serve(self.listener, self.router, self.limits, shutdown).await;
        for job in jobs {
            job.abort();
        }
        Ok(())
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();

    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
