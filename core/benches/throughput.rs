//! Writes per second through the service layer, the code every request runs:
//! heartbeats (100 machines, a package list that changes every tenth beat) and
//! action creation (restarts of distinct units), from 32 concurrent callers for 5 s
//! each. On SQLite, or on PostgreSQL with `HOMELAB_TEST_BACKEND=postgres`. See
//! docs/BENCHMARKS.md for the commands.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use homelab_core::service::Service;
use homelab_protocol::{
    ActionSpec, DebVersion, Heartbeat, PackageName, PendingPackage, ServerId, ServerName, UnitName,
};

const MACHINES: usize = 100;
const CALLERS: usize = 32;
const RUN: Duration = Duration::from_secs(5);

/// A plausible heartbeat with 20 packages, 4 of them security updates.
fn heartbeat(round: u64) -> Heartbeat {
    let packages = (0..20)
        .map(|i| {
            // A new list every tenth beat: most beats store no package rows.
            let new_version = DebVersion::parse(format!("1.{}-1", round / 10)).unwrap();
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

/// Runs `call` from [`CALLERS`] tasks for [`RUN`]; calls per second.
async fn per_second<F, Fut>(call: F) -> f64
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let call = Arc::new(call);
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..CALLERS)
        .map(|_| {
            let (call, done) = (call.clone(), done.clone());
            tokio::spawn(async move {
                while started.elapsed() < RUN {
                    let n = done.fetch_add(1, Ordering::Relaxed);
                    call(n).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let backend = homelab_core::db::testing::backend();
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
            tokens.push(added.agent_token);
        }
        let tokens = Arc::new(tokens);

        let beats = {
            let (service, tokens) = (service.clone(), tokens.clone());
            per_second(move |n| {
                let (service, tokens) = (service.clone(), tokens.clone());
                async move {
                    let token = &tokens[n as usize % MACHINES];
                    service
                        .heartbeat(token, heartbeat(n / MACHINES as u64))
                        .await
                        .unwrap();
                }
            })
            .await
        };
        let creations = {
            let service = service.clone();
            per_second(move |n| {
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
        println!(
            "{backend:?}: {beats:.0} heartbeats/s, {creations:.0} actions created/s \
             ({CALLERS} concurrent callers, {MACHINES} machines, {} s each)",
            RUN.as_secs()
        );
    });
}
