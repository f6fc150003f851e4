//! Writes per second through the service layer, the code every request runs, from 16
//! concurrent callers over 1,000 machines for 5 s per case: heartbeats whose
//! 50-package list (10 security updates) is unchanged, has one package changed, or
//! is replaced whole; action creation (restarts of distinct units); and the
//! duplicate request answered 409. On SQLite, or on PostgreSQL with
//! `HOMELAB_TEST_BACKEND=postgres`. See docs/BENCHMARKS.md for the commands.
//!
//! It measures the service and the database without HTTP; the fleet simulator
//! (`homelab-fleet-sim hammer`) measures the same paths through the server.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use homelab_core::service::Service;
use homelab_protocol::{
    ActionSpec, DebVersion, Heartbeat, PackageName, PendingPackage, ServerId, ServerName, UnitName,
};

const MACHINES: usize = 1_000;
const CALLERS: usize = 16;
const PACKAGES: usize = 50;
const RUN: Duration = Duration::from_secs(5);

/// How a machine's package list moves from one beat to the next.
#[derive(Clone, Copy, Debug)]
enum Churn {
    Unchanged,
    OneChanged,
    Replaced,
}

/// Beat `round` of a machine: 50 packages, every fifth a security update.
fn heartbeat(churn: Churn, round: u64) -> Heartbeat {
    let packages = (0..PACKAGES)
        .map(|i| {
            let generation = match churn {
                Churn::Unchanged => 0,
                // The package whose turn it is carries the round: one differs.
                Churn::OneChanged if i == (round as usize % PACKAGES) => round,
                Churn::OneChanged => 0,
                Churn::Replaced => round,
            };
            let new_version = DebVersion::parse(format!("1.{generation}-1")).unwrap();
            let is_security = i % 5 == 0;
            PendingPackage {
                name: PackageName::parse(format!("pkg-{i}")).unwrap(),
                current_version: DebVersion::parse("1.0-1").unwrap(),
                security_version: is_security.then(|| new_version.clone()),
                new_version,
                repository: "bookworm-updates".into(),
                is_security,
                held: false,
                kept_back: false,
            }
        })
        .collect();
    homelab_core::service::testing::heartbeat(Some(packages))
}

/// Calls per second and latency percentiles of one case.
struct Figures {
    per_s: f64,
    p50: Duration,
    p99: Duration,
    max: Duration,
}

/// Runs `call(n)` from [`CALLERS`] tasks for [`RUN`], `n` counting calls.
async fn measure<F, Fut>(call: F) -> Figures
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let call = Arc::new(call);
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..CALLERS)
        .map(|_| {
            let (call, next) = (call.clone(), next.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while started.elapsed() < RUN {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    let sent = Instant::now();
                    call(n).await;
                    latencies.push(sent.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    Figures {
        per_s: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50: at(0.50),
        p99: at(0.99),
        max: at(1.0),
    }
}

fn report(backend: &str, case: &str, f: &Figures) {
    println!(
        "{backend:<9} {case:<26} {:>8.0}/s   p50 {:>7.2} ms   p99 {:>7.2} ms   max {:>7.2} ms",
        f.per_s,
        f.p50.as_secs_f64() * 1e3,
        f.p99.as_secs_f64() * 1e3,
        f.max.as_secs_f64() * 1e3,
    );
}

fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let backend = format!("{:?}", homelab_core::db::testing::backend());
        let (db, _guard) = homelab_core::db::testing::fresh_db().await;
        let service = Service::new(db, Duration::from_secs(60));
        let mut tokens = Vec::new();
        for m in 0..MACHINES {
            let added = service
                .add_server(
                    ServerId::parse(format!("m-{m}")).unwrap(),
                    ServerName::parse(&format!("Machine {m}")).unwrap(),
                )
                .await
                .unwrap();
            service
                .heartbeat(&added.agent_token, heartbeat(Churn::Unchanged, 0))
                .await
                .unwrap();
            tokens.push(added.agent_token);
        }
        let tokens = Arc::new(tokens);

        for (case, churn) in [
            ("heartbeat, unchanged", Churn::Unchanged),
            ("heartbeat, one changed", Churn::OneChanged),
            ("heartbeat, list replaced", Churn::Replaced),
        ] {
            let (service, tokens) = (service.clone(), tokens.clone());
            let figures = measure(move |n| {
                let (service, tokens) = (service.clone(), tokens.clone());
                async move {
                    let token = &tokens[n as usize % MACHINES];
                    // Each machine's own count of beats, so "one changed" differs
                    // from that machine's previous list.
                    let round = n / MACHINES as u64 + 1;
                    service
                        .heartbeat(token, heartbeat(churn, round))
                        .await
                        .unwrap();
                }
            })
            .await;
            report(&backend, case, &figures);
        }

        let figures = {
            let service = service.clone();
            measure(move |n| {
                let service = service.clone();
                async move {
                    let server = ServerId::parse(format!("m-{}", n as usize % MACHINES)).unwrap();
                    let spec = ActionSpec::RestartService {
                        unit: UnitName::parse(format!("bench-{n}")).unwrap(),
                    };
                    service.create_action(&server, spec, "bench").await.unwrap();
                }
            })
            .await
        };
        report(&backend, "create action", &figures);

        // One apt action in flight per machine; asking again is the duplicate path.
        for m in 0..MACHINES {
            let server = ServerId::parse(format!("m-{m}")).unwrap();
            service
                .create_action(&server, ActionSpec::AptUpgradeAll, "bench")
                .await
                .unwrap();
        }
        let figures = {
            let service = service.clone();
            measure(move |n| {
                let service = service.clone();
                async move {
                    let server = ServerId::parse(format!("m-{}", n as usize % MACHINES)).unwrap();
                    let refused = service
                        .create_action(&server, ActionSpec::AptUpgradeAll, "bench")
                        .await;
                    assert!(refused.is_err(), "a second apt action was accepted");
                }
            })
            .await
        };
        report(&backend, "duplicate (409)", &figures);
        println!(
            "({CALLERS} concurrent callers, {MACHINES} machines, {PACKAGES} packages, {} s each)",
            RUN.as_secs()
        );
    });
}
