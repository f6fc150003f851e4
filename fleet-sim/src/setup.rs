//! Making the fleet a run needs: simulated servers with their agent tokens (new, or
//! an earlier run's with rotated tokens), and a seeded history.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt, stream};
use homelab_agent::client::{Claim, Client as AgentClient};
use homelab_protocol::{ActionResult, ServerId};
use rand::Rng;

use crate::api::{Api, ApiError, server_list};
use crate::packages::{Churn, ListShape, Packages};
use crate::stats::{Answer, Recorder};

/// Why set-up failed.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("--prefix `{prefix}` does not make valid server ids ({example}): {reason}")]
    BadPrefix {
        prefix: String,
        example: String,
        reason: String,
    },
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("seeding stopped after {done} of {wanted} actions: {reason}")]
    Seed {
        done: u64,
        wanted: u64,
        reason: String,
    },
}

/// A simulated machine: its server id and agent token.
#[derive(Debug, Clone)]
pub struct SimServer {
    pub id: ServerId,
    pub token: String,
}

/// The id of simulated server `i`.
pub fn server_id(prefix: &str, i: usize) -> Result<ServerId, SetupError> {
    let text = format!("{prefix}-{i:05}");
    ServerId::parse(&text).map_err(|e| SetupError::BadPrefix {
        prefix: prefix.to_owned(),
        example: text,
        reason: e.to_string(),
    })
}

/// Servers PREFIX-00000 to PREFIX-(count-1), added, or given new agent tokens when an
/// earlier run added them, `concurrency` requests at a time.
pub async fn ensure_servers(
    api: &Api,
    prefix: &str,
    count: usize,
    concurrency: usize,
) -> Result<Vec<SimServer>, SetupError> {
    // Check the prefix (and the longest id) before sending anything.
    server_id(prefix, 0)?;
    server_id(prefix, count.saturating_sub(1))?;
    stream::iter(0..count)
        .map(|i| async move {
            let id = server_id(prefix, i)?;
            let token = match api.add_server(&id).await? {
                Some(token) => token,
                None => api.rotate_token(&id).await?,
            };
            Ok::<_, SetupError>(SimServer { id, token })
        })
        .buffered(concurrency.max(1))
        .try_collect()
        .await
}

/// A machine's health figures: a quiet one.
pub fn heartbeat(
    packages: Option<Vec<homelab_protocol::PendingPackage>>,
) -> homelab_protocol::Heartbeat {
    homelab_protocol::Heartbeat {
        boot_id: None,
        agent_version: concat!("fleet-sim/", env!("CARGO_PKG_VERSION")).to_owned(),
        os: "Debian GNU/Linux 12 (bookworm)".to_owned(),
        hostname: None,
        metrics: crate::agents::idle_metrics(),
        reboot_required: false,
        reboot_required_pkgs: Vec::new(),
        packages,
    }
}

/// Sends every server one heartbeat with its package list.
pub async fn send_lists(
    api: &Api,
    http: &reqwest::Client,
    servers: &[SimServer],
    shape: ListShape,
    concurrency: usize,
) -> Result<(), SetupError> {
    let list = server_list(api.base());
    stream::iter(servers)
        .map(|s| {
            let client = AgentClient::with_http(http.clone(), list.clone(), s.token.clone());
            async move {
                let packages = Packages::new(shape, Churn::Unchanged).next_beat();
                client
                    .heartbeat(&heartbeat(packages))
                    .await
                    .map_err(|e| SetupError::Seed {
                        done: 0,
                        wanted: 0,
                        reason: format!("heartbeat of {}: {e}", s.id),
                    })
            }
        })
        .buffer_unordered(concurrency.max(1))
        .try_collect::<Vec<_>>()
        .await
        .map(|_| ())
}

/// Adds `wanted` finished actions to the history: each a `restart_service` of a new
/// unit created through the API, claimed through the agent API by its server's token
/// and reported (a share `failure_ratio` as failed), `concurrency` cycles at a time,
/// each worker on servers of its own. Every request is recorded in `rec`.
pub async fn seed_actions(
    api: &Api,
    http: &reqwest::Client,
    servers: &[SimServer],
    wanted: u64,
    concurrency: usize,
    failure_ratio: f64,
    rec: &Recorder,
) -> Result<u64, SetupError> {
    let done = Arc::new(AtomicU64::new(0));
    let next = AtomicU64::new(0);
    let run: u32 = rand::rng().random();
    let workers = concurrency.clamp(1, servers.len().max(1));
    let started = Instant::now();
    let list = server_list(api.base());
    let results = stream::iter(0..workers)
        .map(|w| {
            let mine: Vec<&SimServer> = servers.iter().skip(w).step_by(workers).collect();
            let (done, next, list) = (done.clone(), &next, list.clone());
            async move {
                let clients: Vec<(ServerId, AgentClient)> = mine
                    .iter()
                    .map(|s| {
                        let c = AgentClient::with_http(http.clone(), list.clone(), s.token.clone());
                        (s.id.clone(), c)
                    })
                    .collect();
                let mut turn = 0usize;
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= wanted {
                        return Ok::<_, String>(());
                    }
                    let (server, client) = &clients[turn % clients.len()];
                    turn += 1;
                    seed_one(api, server, client, run, n, failure_ratio, rec).await?;
                    let total = done.fetch_add(1, Ordering::Relaxed) + 1;
                    if total.is_multiple_of(10_000) {
                        tracing::info!(
                            seeded = total,
                            per_s =
                                format!("{:.0}", total as f64 / started.elapsed().as_secs_f64()),
                            "seeding"
                        );
                    }
                }
            }
        })
        .buffer_unordered(workers)
        .collect::<Vec<_>>()
        .await;
    let done = done.load(Ordering::Relaxed);
    match results.into_iter().find_map(Result::err) {
        Some(reason) => Err(SetupError::Seed {
            done,
            wanted,
            reason,
        }),
        None => Ok(done),
    }
}

/// One create, claim, result cycle.
async fn seed_one(
    api: &Api,
    server: &ServerId,
    client: &AgentClient,
    run: u32,
    n: u64,
    failure_ratio: f64,
    rec: &Recorder,
) -> Result<(), String> {
    let body = serde_json::json!({
        "action_type": "restart_service",
        "parameters": { "unit": format!("seed-{run:08x}-{n}") },
    });
    let t = Instant::now();
    let created = api.create_action(server, &body).await;
    let answer = match &created {
        Ok(c) => Answer::Status(c.status.as_u16()),
        Err(ApiError::Status { status, .. }) => Answer::Status(status.as_u16()),
        Err(_) => Answer::Transport("transport error"),
    };
    rec.request("create-action", t.elapsed(), answer, created.is_ok());
    created.map_err(|e| e.to_string())?;
    let t = Instant::now();
    let claim = client.next_action(Duration::ZERO).await;
    rec.request(
        "long-poll (wait=0)",
        t.elapsed(),
        crate::agents::answer_of(&claim.as_ref().map(|c| if c.is_some() { 200 } else { 204 })),
        matches!(claim, Ok(Some(_))),
    );
    let id = match claim.map_err(|e| e.to_string())? {
        Some(Claim::Run(next)) => next.id.get(),
        Some(Claim::Unreadable { id, reason }) => return Err(format!("action {id}: {reason}")),
        None => {
            return Err(format!(
                "{server}: the action just created was not handed out"
            ));
        }
    };
    let failed = rand::rng().random_bool(failure_ratio);
    let now = homelab_protocol::now_ms();
    let result = ActionResult {
        exit_code: Some(i32::from(failed)),
        failure: None,
        stdout: format!("seeded action {n}\n"),
        stderr: if failed {
            "simulated failure\n".to_owned()
        } else {
            String::new()
        },
        started_at: Some(now),
        finished_at: Some(now),
    };
    let t = Instant::now();
    let reported = client.report_result(id, &result).await;
    rec.request(
        "result",
        t.elapsed(),
        crate::agents::answer_of(&reported.as_ref().map(|()| 200)),
        reported.is_ok(),
    );
    reported.map_err(|e| format!("result of action {id}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_ids_are_numbered_under_the_prefix() {
        assert_eq!(server_id("sim", 7).unwrap().as_str(), "sim-00007");
        assert!(server_id("Sim", 0).is_err());
        assert!(server_id(&"a".repeat(60), 0).is_err());
    }
}
