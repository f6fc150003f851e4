//! `/metrics`: the server's numbers in Prometheus's text format, through the
//! `metrics` facade and its Prometheus exporter (a recorder only: this server's own
//! router serves the page, behind an API token like the JSON API).
//!
//! What happens in this process is counted as it happens: HTTP requests by route and
//! status with their latency, heartbeats, agents' long-polls waiting, how long actions
//! ran. What the database knows is read when the page is asked for, so every replica
//! shows the same fleet: the actions by kind and status (the queue's depth and the
//! totals that ended each way), the servers online and offline, and this process's
//! connection pool.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use homelab_protocol::{ActionResult, ActionStatus, ActionType, FailureReason, ServerStatus};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::auth::Actor;
use crate::http::ApiError;
use crate::service::Service;

/// Requests answered, by method, route and status.
pub const HTTP_REQUESTS: &str = "homelab_http_requests_total";
/// How long requests took to answer (to the response head), by method and route.
pub const HTTP_DURATION: &str = "homelab_http_request_duration_seconds";
/// Heartbeats received, by result.
pub const HEARTBEATS: &str = "homelab_heartbeats_total";
/// Agents' long-polls waiting for an action now.
pub const LONG_POLLS: &str = "homelab_agent_long_polls_waiting";
/// How long actions ran on their machines, by kind and outcome.
pub const ACTION_DURATION: &str = "homelab_action_duration_seconds";
/// Actions in the history by kind and status.
pub const ACTIONS: &str = "homelab_actions";
/// Failed actions in the history by kind and failure reason.
pub const ACTIONS_FAILED: &str = "homelab_actions_failed";
/// Servers by status.
pub const SERVERS: &str = "homelab_servers";
/// This process's database connections, by state.
pub const DB_CONNECTIONS: &str = "homelab_db_pool_connections";

/// Request latencies: a millisecond to half a minute (the request time limit).
const HTTP_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Action run times: a second to the longest time limit there is.
const ACTION_BUCKETS: &[f64] = &[
    1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
];

/// The process's recorder, installed on first use. A process has one recorder;
/// tests that start several servers in one process share it.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.to_owned()), HTTP_BUCKETS)
            .and_then(|b| {
                b.set_buckets_for_metric(Matcher::Full(ACTION_DURATION.to_owned()), ACTION_BUCKETS)
            })
            // Only an empty bucket list is refused; these are constants.
            .unwrap_or_else(|e| unreachable!("histogram buckets: {e}"))
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder was installed first: /metrics stays empty");
        }
        describe();
        handle
    })
}

fn describe() {
    metrics::describe_counter!(
        HTTP_REQUESTS,
        "Requests answered, by method, route and status."
    );
    metrics::describe_histogram!(
        HTTP_DURATION,
        metrics::Unit::Seconds,
        "Time to the response head, by method and route."
    );
    metrics::describe_counter!(HEARTBEATS, "Heartbeats received, by result.");
    metrics::describe_gauge!(LONG_POLLS, "Agents' long-polls waiting for an action.");
    metrics::describe_histogram!(
        ACTION_DURATION,
        metrics::Unit::Seconds,
        "How long actions ran on their machines, by kind and outcome."
    );
    metrics::describe_gauge!(
        ACTIONS,
        "Actions in the history by kind and status (pending, approved and executing are the queue)."
    );
    metrics::describe_gauge!(ACTIONS_FAILED, "Failed actions by kind and failure reason.");
    metrics::describe_gauge!(SERVERS, "Servers by status.");
    metrics::describe_gauge!(
        DB_CONNECTIONS,
        "This process's database connections, by state."
    );
}

/// The route a request matched, handed from [`label_route`] to [`track_requests`].
#[derive(Clone)]
struct RouteLabel(String);

/// A route layer: tells [`track_requests`] the route template the request matched
/// (a bounded set of labels, never the raw path).
pub async fn label_route(path: Option<MatchedPath>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    if let Some(path) = path {
        response
            .extensions_mut()
            .insert(RouteLabel(path.as_str().to_owned()));
    }
    response
}

/// The outermost layer: counts every request by method, route (`unmatched` for a
/// request no route took) and status, and its latency.
pub async fn track_requests(request: Request, next: Next) -> Response {
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    let route = response
        .extensions()
        .get::<RouteLabel>()
        .map_or_else(|| "unmatched".to_owned(), |r| r.0.clone());
    let status = response.status().as_u16().to_string();
    metrics::counter!(HTTP_REQUESTS, "method" => method, "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!(HTTP_DURATION, "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// A method as a label: any method outside HTTP's own is `other`, so a client cannot
/// make up label values.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// Counts a heartbeat by its result: `accepted`, `unauthorized`, `invalid` or `error`.
pub fn heartbeat(result: &'static str) {
    metrics::counter!(HEARTBEATS, "result" => result).increment(1);
}

/// A long-poll waiting, for as long as this value lives (dropped when the poll ends,
/// whether it answered or its client went away).
pub struct LongPoll(());

impl LongPoll {
    pub fn start() -> Self {
        metrics::gauge!(LONG_POLLS).increment(1.0);
        LongPoll(())
    }
}

impl Drop for LongPoll {
    fn drop(&mut self) {
        metrics::gauge!(LONG_POLLS).decrement(1.0);
    }
}

/// Records how long an action of `action_type` ran, from its result's times, with
/// the outcome the result says (a reboot's success is recorded when it is over,
/// not here).
pub fn action_ran(action_type: ActionType, result: &ActionResult) {
    let (Some(started), Some(finished)) = (result.started_at, result.finished_at) else {
        return;
    };
    let outcome = match (result.failure, result.exit_code) {
        (Some(f), _) => FailureReason::from(f).as_str(),
        (None, Some(0)) => ActionStatus::Completed.as_str(),
        (None, _) => FailureReason::ExitCode.as_str(),
    };
    let seconds = (finished - started).max(0) as f64 / 1000.0;
    metrics::histogram!(ACTION_DURATION, "type" => action_type.as_str(), "outcome" => outcome)
        .record(seconds);
}

/// `GET /metrics`: the page, with what the database knows read now.
///
/// Needs an API token or a session, like the JSON API.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "meta",
    responses(
        (status = 200, description = "Prometheus text exposition", content_type = "text/plain", body = String),
        crate::api::Always,
    ),
)]
pub async fn render(State(service): State<Service>, _actor: Actor) -> Result<Response, ApiError> {
    let handle = handle();
    let counts = service.action_counts().await?;
    for &action_type in ActionType::ALL {
        for &status in ActionStatus::ALL {
            let n: u64 = counts
                .iter()
                .filter(|c| c.action_type == action_type && c.status == status)
                .map(|c| c.count)
                .sum();
            metrics::gauge!(ACTIONS, "type" => action_type.as_str(), "status" => status.as_str())
                .set(n as f64);
        }
        for &reason in FailureReason::ALL {
            let n: u64 = counts
                .iter()
                .filter(|c| c.action_type == action_type && c.failure == Some(reason))
                .map(|c| c.count)
                .sum();
            metrics::gauge!(ACTIONS_FAILED, "type" => action_type.as_str(), "reason" => reason.as_str())
                .set(n as f64);
        }
    }
    let servers = service.list_servers().await?;
    for (status, label) in [
        (ServerStatus::Online, "online"),
        (ServerStatus::Offline, "offline"),
        (ServerStatus::Unknown, "unknown"),
    ] {
        let n = servers.iter().filter(|s| s.status == status).count();
        metrics::gauge!(SERVERS, "status" => label).set(n as f64);
    }
    let (open, idle) = service.pool_use();
    metrics::gauge!(DB_CONNECTIONS, "state" => "idle").set(idle as f64);
    metrics::gauge!(DB_CONNECTIONS, "state" => "in_use")
        .set(f64::from(open).max(idle as f64) - idle as f64);
    handle.run_upkeep();
    let mut response = handle.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_grafana_dashboard_asks_only_for_metrics_the_server_has() {
        let dashboard = include_str!("../../docs/grafana-dashboard.json");
        let known = [
            HTTP_REQUESTS,
            HTTP_DURATION,
            HEARTBEATS,
            LONG_POLLS,
            ACTION_DURATION,
            ACTIONS,
            ACTIONS_FAILED,
            SERVERS,
            DB_CONNECTIONS,
        ];
        let names = regex::Regex::new(r"homelab_[a-z_]+").unwrap();
        let mut asked = 0;
        for found in names.find_iter(dashboard) {
            let name = found.as_str();
            let base = ["_bucket", "_count", "_sum"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or(name);
            assert!(
                known.contains(&base),
                "{name} is not a metric of the server"
            );
            asked += 1;
        }
        assert!(asked >= known.len(), "the dashboard shows every metric");
        assert!(serde_json::from_str::<serde_json::Value>(dashboard).is_ok());
    }

    #[test]
    fn methods_outside_http_are_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), "other");
    }
}
