//! `fleet`: simulated agents on one runtime and one connection pool. Each has its
//! own server and token, a heartbeat loop and an always-open long-poll; every action
//! it gets is claimed, optionally reported on halfway, and answered with a result
//! after the configured time. Optionally the simulator creates actions itself and
//! measures the time from their 201 to the claim an agent sees. At the end every
//! result sent is read back through the API: one not stored as sent is a lost result.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{StreamExt, stream};
use homelab_agent::client::{Claim, Client as AgentClient, ClientError};
use homelab_protocol::{ActionResult, ActionStatus, Metrics, NextAction, Progress, ServerId};
use rand::Rng;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::api::{self, Api, ApiError};
use crate::cli::FleetArgs;
use crate::error::RunError;
use crate::packages::{ListShape, Packages};
use crate::proc_stats::Watch;
use crate::report::Report;
use crate::setup::{self, SimServer};
use crate::stats::{Answer, Recorder};

/// Health figures of an idle machine.
pub fn idle_metrics() -> Metrics {
    Metrics {
        cpu_percent: 2.0,
        memory_percent: 30.0,
        disk_percent: 40.0,
        load_1: 0.1,
        load_5: 0.1,
        load_15: 0.1,
        uptime_s: 86_400,
    }
}

/// The status-table entry for an agent-client call: the status code on success,
/// the refusal's, or the kind of transport failure.
pub fn answer_of(r: &Result<u16, &ClientError>) -> Answer {
    match r {
        Ok(code) => Answer::Status(*code),
        Err(ClientError::Unauthorized) => Answer::Status(401),
        Err(ClientError::Refused { status, .. }) => Answer::Status(status.as_u16()),
        Err(ClientError::Transport(e)) => Answer::from_reqwest(e),
        Err(ClientError::TooLarge | ClientError::BadAnswer(_)) => Answer::Transport("bad answer"),
    }
}

/// Where an action the simulator created stands: whichever of its 201 and its
/// claim is seen first waits here for the other.
enum Seen {
    Created(Instant),
    Claimed,
}

/// A result the server acknowledged, to be read back at the end.
struct Sent {
    id: i64,
    server: ServerId,
    failed: bool,
    stdout: String,
}

/// What the agents and the creator share.
struct Shared {
    rec: Recorder,
    seen: Mutex<HashMap<i64, Seen>>,
    sent: Mutex<Vec<Sent>>,
    /// Servers with an action of the creator's in flight: the creator picks others,
    /// so create-to-claim measures dispatch, not an agent still busy with its last
    /// action.
    busy: Mutex<HashSet<ServerId>>,
}

impl Shared {
    /// Marks one of `candidates` busy and returns it; None when the few tried were
    /// all busy.
    fn pick_idle(&self, servers: &[SimServer]) -> Option<ServerId> {
        let mut busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        for _ in 0..20 {
            let id = &servers[rand::rng().random_range(0..servers.len())].id;
            if busy.insert(id.clone()) {
                return Some(id.clone());
            }
        }
        None
    }

    fn idle(&self, server: &ServerId) {
        self.busy
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(server);
    }

    fn created(&self, id: i64, at: Instant) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        match seen.remove(&id) {
            // The long-poll woke before the 201 arrived: no wait at all.
            Some(Seen::Claimed) => {
                self.rec.latency("create-to-claim", Duration::ZERO);
                self.rec.count("claimed_before_201", 1);
            }
            _ => {
                seen.insert(id, Seen::Created(at));
            }
        }
    }

    fn claimed(&self, id: i64, at: Instant) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        match seen.remove(&id) {
            Some(Seen::Created(created)) => {
                self.rec
                    .latency("create-to-claim", at.saturating_duration_since(created));
            }
            Some(Seen::Claimed) => self.rec.error(format!("action {id} was claimed twice")),
            None => {
                seen.insert(id, Seen::Claimed);
            }
        }
    }
}

/// Runs the fleet described by `args` and reports.
pub async fn run(args: &FleetArgs) -> Result<Report, RunError> {
    let url = api::parse_url(&args.server.url)?;
    let shape = ListShape::new(args.packages.packages, args.packages.security)?;
    let agents = args.agents as usize;
    match crate::limits::raise_open_files() {
        Ok(Some(n)) if n < crate::limits::files_needed(agents) => tracing::warn!(
            open_files = n,
            needed = crate::limits::files_needed(agents),
            "the open-files limit may be too low for this many agents: raise `ulimit -n` (hard limit)"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "could not raise the open-files limit"),
    }
    let concurrency = usize::from(args.server.setup_concurrency);
    let api = Api::new(
        api::http_client(concurrency),
        url.clone(),
        args.server.api_token.clone(),
    );
    api.check().await?;
    let servers = setup::ensure_servers(&api, &args.server.prefix, agents, concurrency).await?;
    tracing::info!(agents, "servers ready; the fleet starts");

    // One pool for every agent: idle connections are kept for the heartbeats.
    let http = api::http_client(usize::MAX);
    let shared = Arc::new(Shared {
        rec: Recorder::default(),
        seen: Mutex::new(HashMap::new()),
        sent: Mutex::new(Vec::new()),
        busy: Mutex::new(HashSet::new()),
    });
    let watch = Watch::start(args.output.server_pid)?;
    let started = Instant::now();
    let stop_polls = CancellationToken::new();
    let stop_beats = CancellationToken::new();
    let list = api::server_list(&url);
    let mut tasks = JoinSet::new();
    for s in &servers {
        let client = AgentClient::with_http(http.clone(), list.clone(), s.token.clone());
        tasks.spawn(beat_loop(
            client.clone(),
            Packages::new(shape, args.churn),
            args.heartbeat_interval,
            shared.clone(),
            stop_beats.clone(),
        ));
        tasks.spawn(poll_loop(
            client,
            s.id.clone(),
            args.clone(),
            shared.clone(),
            stop_polls.clone(),
        ));
    }
    let stop_creating = CancellationToken::new();
    let creator = (args.actions_per_s > 0.0).then(|| {
        tokio::spawn(create_loop(
            api.clone(),
            servers.clone(),
            args.actions_per_s,
            shared.clone(),
            stop_creating.clone(),
        ))
    });

    tokio::select! {
        () = tokio::time::sleep(args.duration) => {}
        _ = tokio::signal::ctrl_c() => tracing::warn!("interrupted: stopping early"),
    }
    stop_creating.cancel();
    if let Some(creator) = creator {
        let _ = creator.await;
    }
    drain(&shared, args.drain).await;
    let elapsed = started.elapsed();
    stop_beats.cancel();
    stop_polls.cancel();
    while tasks.join_next().await.is_some() {}
    let usage = watch.finish().await;

    let unclaimed = {
        let seen = shared.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.iter()
            .filter(|(_, s)| matches!(s, Seen::Created(_)))
            .map(|(id, _)| *id)
            .collect::<Vec<_>>()
    };
    for id in &unclaimed {
        shared
            .rec
            .error(format!("action {id} was created but no agent claimed it"));
    }
    verify(&api, &shared, concurrency).await;

    let settings = BTreeMap::from([
        ("agents".to_owned(), agents.to_string()),
        (
            "heartbeat_interval_s".to_owned(),
            args.heartbeat_interval.as_secs_f64().to_string(),
        ),
        (
            "packages".to_owned(),
            format!("{} ({} security)", shape.size(), args.packages.security),
        ),
        (
            "churn".to_owned(),
            format!("{:?}", args.churn).to_lowercase(),
        ),
        ("actions_per_s".to_owned(), args.actions_per_s.to_string()),
        (
            "action_duration_s".to_owned(),
            args.action_duration.as_secs_f64().to_string(),
        ),
        ("failure_ratio".to_owned(), args.failure_ratio.to_string()),
    ]);
    Ok(Report::new(
        "fleet",
        settings,
        elapsed.as_secs_f64(),
        shared.rec.snapshot(elapsed),
        usage,
    ))
}

/// Waits up to `grace` for every created action to be claimed and answered.
async fn drain(shared: &Shared, grace: Duration) {
    let until = Instant::now() + grace;
    while Instant::now() < until {
        let waiting = shared
            .seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .any(|s| matches!(s, Seen::Created(_)));
        let running = shared.rec.counter("claims")
            > shared.rec.counter("results_acknowledged") + shared.rec.counter("results_given_up");
        if !waiting && !running {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn beat_loop(
    client: AgentClient,
    mut packages: Packages,
    interval: Duration,
    shared: Arc<Shared>,
    stop: CancellationToken,
) {
    let first = interval.mul_f64(rand::rng().random_range(0.0..1.0));
    tokio::select! {
        () = stop.cancelled() => return,
        () = tokio::time::sleep(first) => {}
    }
    let mut next = Instant::now();
    loop {
        let hb = setup::heartbeat(packages.next_beat());
        let t = Instant::now();
        let r = client.heartbeat(&hb).await;
        shared.rec.request(
            "heartbeat",
            t.elapsed(),
            answer_of(&r.as_ref().map(|_| 200)),
            r.is_ok(),
        );
        if r.is_ok() {
            shared.rec.count("heartbeats", 1);
        }
        // A fixed schedule: a slow answer does not stretch the interval.
        next += interval;
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep_until(next.max(Instant::now()).into()) => {}
        }
    }
}

async fn poll_loop(
    client: AgentClient,
    server: ServerId,
    args: FleetArgs,
    shared: Arc<Shared>,
    stop: CancellationToken,
) {
    let wait = Duration::from_secs(args.long_poll_wait);
    loop {
        let t = Instant::now();
        let r = tokio::select! {
            () = stop.cancelled() => return,
            r = client.next_action(wait) => r,
        };
        let at = Instant::now();
        let code = match &r {
            Ok(Some(_)) => 200,
            _ => 204,
        };
        shared.rec.request(
            "long-poll",
            at - t,
            answer_of(&r.as_ref().map(|_| code)),
            r.is_ok(),
        );
        match r {
            Ok(None) => {}
            Ok(Some(Claim::Run(next))) => {
                shared.rec.count("claims", 1);
                shared.claimed(next.id.get(), at);
                execute(&client, &server, next, &args, &shared).await;
                shared.idle(&server);
            }
            Ok(Some(Claim::Unreadable { id, reason })) => {
                shared
                    .rec
                    .error(format!("{server}: action {id} unreadable: {reason}"));
            }
            Err(_) => {
                // Counted above; do not spin against a refusing server.
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }
}

/// "Runs" a claimed action: progress halfway if asked, then the result, resent
/// until acknowledged (as the agent does), at most five times.
async fn execute(
    client: &AgentClient,
    server: &ServerId,
    next: NextAction,
    args: &FleetArgs,
    shared: &Shared,
) {
    let id = next.id.get();
    let started_at = homelab_protocol::now_ms();
    let mut stdout = format!("simulated {} on {server}\n", next.argv.join(" "));
    if args.progress {
        tokio::time::sleep(args.action_duration / 2).await;
        let progress = Progress {
            stdout: stdout.clone(),
            stderr: String::new(),
        };
        let t = Instant::now();
        let r = client.progress(id, &progress).await;
        shared.rec.request(
            "progress",
            t.elapsed(),
            answer_of(&r.as_ref().map(|()| 200)),
            r.is_ok(),
        );
        tokio::time::sleep(args.action_duration - args.action_duration / 2).await;
    } else {
        tokio::time::sleep(args.action_duration).await;
    }
    let failed = rand::rng().random_bool(args.failure_ratio);
    stdout.push_str(if failed { "exit 1\n" } else { "done\n" });
    let result = ActionResult {
        exit_code: Some(i32::from(failed)),
        failure: None,
        stdout: stdout.clone(),
        stderr: if failed {
            "simulated failure\n".to_owned()
        } else {
            String::new()
        },
        started_at: Some(started_at),
        finished_at: Some(homelab_protocol::now_ms()),
    };
    for attempt in 0..5u32 {
        let t = Instant::now();
        let r = client.report_result(id, &result).await;
        shared.rec.request(
            "result",
            t.elapsed(),
            answer_of(&r.as_ref().map(|()| 200)),
            r.is_ok(),
        );
        match r {
            Ok(()) => {
                shared.rec.count("results_acknowledged", 1);
                shared
                    .sent
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(Sent {
                        id,
                        server: server.clone(),
                        failed,
                        stdout,
                    });
                return;
            }
            Err(e) if e.is_final() => break,
            Err(_) => tokio::time::sleep(Duration::from_millis(200 << attempt)).await,
        }
    }
    shared.rec.count("results_given_up", 1);
    shared.rec.error(format!(
        "{server}: the result of action {id} was never acknowledged"
    ));
}

/// Creates `restart_service` actions of distinct units on random idle servers (none
/// of the creator's actions in flight) at `rate` per second, each request on its own
/// task so a slow answer does not slow the rate.
async fn create_loop(
    api: Api,
    servers: Vec<SimServer>,
    rate: f64,
    shared: Arc<Shared>,
    stop: CancellationToken,
) {
    let run: u32 = rand::rng().random();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut inflight = JoinSet::new();
    for n in 0u64.. {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        let Some(server) = shared.pick_idle(&servers) else {
            shared.rec.count("creates_skipped_all_busy", 1);
            continue;
        };
        let (api, shared) = (api.clone(), shared.clone());
        inflight.spawn(async move {
            let body = serde_json::json!({
                "action_type": "restart_service",
                "parameters": { "unit": format!("sim-{run:08x}-{n}") },
            });
            let t = Instant::now();
            let r = api.create_action(&server, &body).await;
            let at = Instant::now();
            let answer = match &r {
                Ok(c) => Answer::Status(c.status.as_u16()),
                Err(ApiError::Status { status, .. }) => Answer::Status(status.as_u16()),
                Err(ApiError::Transport { source, .. }) => Answer::from_reqwest(source),
                Err(ApiError::BadAnswer { .. }) => Answer::Transport("bad answer"),
            };
            let created = matches!(&r, Ok(c) if c.status == reqwest::StatusCode::CREATED);
            shared.rec.request("create-action", at - t, answer, created);
            match r {
                Ok(c) => {
                    shared.rec.count("actions_created", 1);
                    shared.created(c.id, at);
                }
                Err(_) => shared.idle(&server),
            }
        });
        while inflight.try_join_next().is_some() {}
    }
    while inflight.join_next().await.is_some() {}
}

/// Reads every acknowledged result back: it must be stored as sent.
async fn verify(api: &Api, shared: &Shared, concurrency: usize) {
    let sent = std::mem::take(&mut *shared.sent.lock().unwrap_or_else(|p| p.into_inner()));
    let checks = stream::iter(sent)
        .map(|s| async move {
            let t = Instant::now();
            let r = api.action(s.id).await;
            (s, t.elapsed(), r)
        })
        .buffer_unordered(concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
    for (s, took, r) in checks {
        let answer = match &r {
            Ok(_) => Answer::Status(200),
            Err(e) => e
                .status()
                .map_or(Answer::Transport("transport error"), |c| {
                    Answer::Status(c.as_u16())
                }),
        };
        shared
            .rec
            .request("verify (GET action)", took, answer, r.is_ok());
        let Ok(action) = r else { continue };
        let want = if s.failed {
            ActionStatus::Failed
        } else {
            ActionStatus::Completed
        };
        let exit = Some(i32::from(s.failed));
        if action.status == want
            && action.exit_code == exit
            && action.stdout == s.stdout
            && action.server_id == s.server
        {
            shared.rec.count("results_verified", 1);
        } else {
            shared.rec.error(format!(
                "lost result: action {} on {} is {} with exit code {:?}, but the agent reported {} with exit code {:?}",
                s.id, s.server, action.status, action.exit_code, want, exit
            ));
        }
    }
}
