//! `hammer`: closed-loop load on one path, like wrk. C connections (each its own
//! client with one kept-alive connection) send their next request as soon as the
//! last is answered, for D seconds; every answer other than the path's expected one
//! is an error.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use futures::{StreamExt, TryStreamExt, stream};
use rand::Rng;
use reqwest::StatusCode;

use crate::api::{self, Api};
use crate::cli::{HammerArgs, Target};
use crate::error::RunError;
use crate::packages::{Churn, ListShape, Packages};
use crate::proc_stats::Watch;
use crate::report::Report;
use crate::setup::{self, SimServer};
use crate::stats::{Answer, Recorder};

/// What every connection needs to build its requests.
struct Plan {
    target: Target,
    api: Api,
    /// The simulated servers, for the heartbeat and action targets.
    servers: Vec<SimServer>,
    shape: ListShape,
    /// The path and query of a GET target.
    path: String,
    /// A dashboard session for the page targets.
    cookie: Option<String>,
    run: u32,
}

impl Plan {
    fn churn(&self) -> Churn {
        match self.target {
            Target::HeartbeatChanged => Churn::One,
            Target::HeartbeatReplace => Churn::Replace,
            _ => Churn::Unchanged,
        }
    }

    /// The answer a request of this target should get.
    fn expected(&self) -> StatusCode {
        match self.target {
            Target::CreateAction => StatusCode::CREATED,
            Target::Duplicate => StatusCode::CONFLICT,
            _ => StatusCode::OK,
        }
    }
}

/// Runs the load described by `args` and reports.
pub async fn run(args: &HammerArgs) -> Result<Report, RunError> {
    let url = api::parse_url(&args.server.url)?;
    let shape = ListShape::new(args.packages.packages, args.packages.security)?;
    if let Err(e) = crate::limits::raise_open_files() {
        tracing::warn!(error = %e, "could not raise the open-files limit");
    }
    let concurrency = usize::from(args.server.setup_concurrency);
    let setup_http = api::http_client(concurrency);
    let api = Api::new(
        setup_http.clone(),
        url.clone(),
        args.server.api_token.clone(),
    );
    api.check().await?;
    let target = args.target;
    let needs_servers = matches!(
        target,
        Target::HeartbeatUnchanged
            | Target::HeartbeatChanged
            | Target::HeartbeatReplace
            | Target::CreateAction
            | Target::Duplicate
    );
    let servers = if needs_servers {
        setup::ensure_servers(
            &api,
            &args.server.prefix,
            args.servers as usize,
            concurrency,
        )
        .await?
    } else {
        Vec::new()
    };
    let cookie = match target {
        Target::HistoryPage | Target::FleetPage => {
            let password = args
                .password
                .as_deref()
                .ok_or(RunError::NoPassword(target.name()))?;
            Some(api::login(&setup_http, &url, &args.user, password).await?)
        }
        _ => None,
    };
    let path = match target {
        Target::HistoryJson | Target::HistoryPage => {
            let base = if target == Target::HistoryJson {
                format!("/api/v1/actions?limit={}", args.limit)
            } else {
                "/actions".to_owned()
            };
            if args.deep {
                let newest = api
                    .newest_action_id()
                    .await?
                    .ok_or(RunError::EmptyHistory)?;
                let sep = if base.contains('?') { '&' } else { '?' };
                format!("{base}{sep}cursor={}", (newest / 2).max(1))
            } else {
                base
            }
        }
        Target::FleetPage => "/".to_owned(),
        Target::ServersJson => "/api/v1/servers".to_owned(),
        _ => String::new(),
    };
    let plan = Arc::new(Plan {
        target,
        api,
        servers,
        shape,
        path,
        cookie,
        run: rand::rng().random(),
    });
    warm_up(&plan, &setup_http, concurrency).await?;

    let rec = Arc::new(Recorder::default());
    let watch = Watch::start(args.output.server_pid)?;
    let connections = args.connections as usize;
    let started = Instant::now();
    let deadline = started + args.duration;
    let tasks: Vec<_> = (0..connections)
        .map(|c| {
            tokio::spawn(connection(
                plan.clone(),
                rec.clone(),
                c,
                connections,
                deadline,
            ))
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = started.elapsed();
    let usage = watch.finish().await;
    let mut settings = BTreeMap::from([
        ("connections".to_owned(), connections.to_string()),
        (
            "duration_s".to_owned(),
            args.duration.as_secs_f64().to_string(),
        ),
    ]);
    if needs_servers {
        settings.insert("servers".to_owned(), args.servers.to_string());
    }
    if matches!(
        target,
        Target::HeartbeatUnchanged | Target::HeartbeatChanged | Target::HeartbeatReplace
    ) {
        settings.insert(
            "packages".to_owned(),
            format!("{} ({} security)", shape.size(), args.packages.security),
        );
    }
    if !plan.path.is_empty() {
        settings.insert("path".to_owned(), plan.path.clone());
    }
    Ok(Report::new(
        format!("hammer {}", target.name()),
        settings,
        elapsed.as_secs_f64(),
        rec.snapshot(elapsed),
        usage,
    ))
}

/// Before the clock starts: heartbeat targets give every server its list (so that
/// "unchanged" is unchanged from the first timed beat); `duplicate` puts an apt
/// action in flight on every server (201, or 409 when one already is).
async fn warm_up(plan: &Plan, http: &reqwest::Client, concurrency: usize) -> Result<(), RunError> {
    match plan.target {
        Target::HeartbeatUnchanged | Target::HeartbeatChanged | Target::HeartbeatReplace => {
            setup::send_lists(&plan.api, http, &plan.servers, plan.shape, concurrency).await?;
        }
        Target::Duplicate => {
            let body = serde_json::json!({ "action_type": "apt_update" });
            stream::iter(&plan.servers)
                .map(|s| {
                    let body = &body;
                    async move {
                        match plan.api.create_action(&s.id, body).await {
                            Ok(_) => Ok(()),
                            Err(e) if e.status() == Some(StatusCode::CONFLICT) => Ok(()),
                            Err(e) => Err(RunError::Warmup(e.to_string())),
                        }
                    }
                })
                .buffer_unordered(concurrency.max(1))
                .try_collect::<Vec<_>>()
                .await?;
        }
        _ => {}
    }
    Ok(())
}

/// The servers connection `c` of `n` takes turns on: its own, so no two
/// connections write the same server's row at once.
fn share(servers: &[SimServer], c: usize, n: usize) -> Vec<SimServer> {
    if servers.is_empty() {
        return Vec::new();
    }
    let mine: Vec<SimServer> = servers.iter().skip(c).step_by(n).cloned().collect();
    if mine.is_empty() {
        // More connections than servers: share them round the ring.
        vec![servers[c % servers.len()].clone()]
    } else {
        mine
    }
}

/// One connection's loop until `deadline`.
async fn connection(plan: Arc<Plan>, rec: Arc<Recorder>, c: usize, n: usize, deadline: Instant) {
    let http = api::http_client(1);
    let servers = share(&plan.servers, c, n);
    let mut lists: Vec<Packages> = servers
        .iter()
        .map(|_| Packages::new(plan.shape, plan.churn()))
        .collect();
    // The warm-up sent each list once: the first timed beat is the second.
    for l in &mut lists {
        let _ = l.next_beat();
    }
    let expected = plan.expected();
    let name = plan.target.name();
    let mut turn = 0usize;
    let mut sent = 0u64;
    while Instant::now() < deadline {
        let at = if servers.is_empty() {
            0
        } else {
            turn % servers.len()
        };
        turn += 1;
        let request = match plan.target {
            Target::HeartbeatUnchanged | Target::HeartbeatChanged | Target::HeartbeatReplace => {
                http.post(format!("{}/agent/v1/heartbeat", plan.api.base()))
                    .bearer_auth(&servers[at].token)
                    .json(&setup::heartbeat(lists[at].next_beat()))
            }
            Target::CreateAction => http
                .post(
                    plan.api
                        .url(&format!("/api/v1/servers/{}/actions", servers[at].id)),
                )
                .bearer_auth(plan.api.token())
                .json(&serde_json::json!({
                    "action_type": "restart_service",
                    "parameters": { "unit": format!("h{:08x}-{c}-{sent}", plan.run) },
                })),
            Target::Duplicate => http
                .post(
                    plan.api
                        .url(&format!("/api/v1/servers/{}/actions", servers[at].id)),
                )
                .bearer_auth(plan.api.token())
                .json(&serde_json::json!({ "action_type": "apt_update" })),
            Target::HistoryJson | Target::ServersJson => http
                .get(plan.api.url(&plan.path))
                .bearer_auth(plan.api.token()),
            Target::HistoryPage | Target::FleetPage => http.get(plan.api.url(&plan.path)).header(
                reqwest::header::COOKIE,
                plan.cookie.as_deref().unwrap_or_default(),
            ),
        };
        sent += 1;
        let t = Instant::now();
        let answer = match request.send().await {
            // The whole body is part of the answer's time.
            Ok(response) => {
                let status = response.status();
                match response.bytes().await {
                    Ok(_) => Answer::Status(status.as_u16()),
                    Err(e) => Answer::from_reqwest(&e),
                }
            }
            Err(e) => Answer::from_reqwest(&e),
        };
        let ok = answer == Answer::Status(expected.as_u16());
        rec.request(name, t.elapsed(), answer, ok);
        if !ok && matches!(rec.errors(), 1 | 100 | 10_000) {
            tracing::warn!(target = name, errors = rec.errors(), "unexpected answers");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn servers(n: usize) -> Vec<SimServer> {
        (0..n)
            .map(|i| SimServer {
                id: setup::server_id("sim", i).unwrap(),
                token: format!("t{i}"),
            })
            .collect()
    }

    #[test]
    fn connections_share_the_servers_without_overlap() {
        let all = servers(10);
        let mut seen: Vec<String> = (0..3)
            .flat_map(|c| share(&all, c, 3))
            .map(|s| s.id.to_string())
            .collect();
        seen.sort();
        assert_eq!(seen.len(), 10);
        seen.dedup();
        assert_eq!(seen.len(), 10);
    }

    #[test]
    fn more_connections_than_servers_still_gives_each_one_a_server() {
        let all = servers(2);
        for c in 0..5 {
            assert_eq!(share(&all, c, 5).len(), 1);
        }
    }
}
