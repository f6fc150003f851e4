//! Builds the router and runs the server until it is told to stop.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use homelab_app::api::ssr::SharedBackend;
use homelab_app::{App, shell};
use leptos::config::{Env, LeptosOptions};
use leptos::prelude::provide_context;
use leptos_axum::{LeptosRoutes, generate_route_list};
use tokio::net::TcpListener;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::config::ServeArgs;
use crate::db::Database;
use crate::service::Service;

/// How long a request may take before the server answers 408. Long-polls stay below it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Everything a request handler may need.
#[derive(Clone, axum::extract::FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub service: Service,
}

/// The Leptos options for serving the bundle that cargo-leptos built into `site_root`.
pub fn leptos_options(args: &ServeArgs) -> LeptosOptions {
    LeptosOptions::builder()
        .output_name("homelab-cmd")
        .site_root(args.site_root.display().to_string())
        .site_pkg_dir("pkg")
        .site_addr(args.listen)
        .env(Env::PROD)
        .build()
}

/// The whole HTTP surface: the dashboard (SSR and server functions), static files and
/// `/healthz`.
pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let backend: SharedBackend = Arc::new(state.service.clone());
    let leptos_options = state.leptos_options.clone();

    Router::new()
        .route("/healthz", get(healthz))
        .route("/login", axum::routing::post(crate::auth::login))
        .route("/logout", axum::routing::post(crate::auth::logout))
        .merge(crate::agent_api::router())
        .merge(crate::api::router(state.clone()))
        .leptos_routes_with_context(
            &state,
            routes,
            move || provide_context(backend.clone()),
            move || shell(leptos_options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(|| {}, shell))
        .layer(axum::middleware::from_fn_with_state(
            state.service.clone(),
            crate::auth::require_session,
        ))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
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
    limits: crate::serve::Limits,
}

impl Application {
    /// Opens the database, applies migrations and binds the listen address.
    pub async fn build(args: &ServeArgs) -> anyhow::Result<Self> {
        use anyhow::Context as _;

        let db = Database::connect(&args.database.database_url)
            .await
            .with_context(|| format!("opening database {}", args.database.database_url))?;
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
            limits,
        })
    }

    /// Checks leases this often (tests use a short period).
    pub fn with_lease_check_every(mut self, every: Duration) -> Self {
        self.lease_check_every = every;
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
        let jobs = tokio::spawn(crate::jobs::expire_leases(
            self.service.clone(),
            self.lease_check_every,
        ));
        let service = self.service.clone();
        let shutdown = async move {
            shutdown.await;
            service.stop_long_polls();
        };
        crate::serve::serve(self.listener, self.router, self.limits, shutdown).await;
        jobs.abort();
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
