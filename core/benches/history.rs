//! History pages at a million actions: every filter, first and deep pages, on
//! SQLite, or on PostgreSQL with `HOMELAB_TEST_BACKEND=postgres` (and a cluster in
//! `HOMELAB_TEST_POSTGRES_URL`). See docs/BENCHMARKS.md for the commands.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use homelab_core::db::Database;
use homelab_core::service::Service;
use homelab_protocol::{ActionStatus, ActionType, HistoryFilter as Filter, ServerId, ServerName};

const ROWS: i64 = 1_000_000;
const SERVERS: i64 = 20;

/// Fills a fresh database: 20 servers, a million actions, mostly finished, a few
/// hundred waiting for approval.
async fn seed(db: &Database, service: &Service) {
    for s in 0..SERVERS {
        service
            .add_server(
                ServerId::parse(format!("srv-{s}")).unwrap(),
                ServerName::parse(&format!("Server {s}")).unwrap(),
            )
            .await
            .unwrap();
    }
    let types = ActionType::ALL;
    let mut tx = db.pool().begin().await.unwrap();
    for chunk in 0..ROWS / 500 {
        let mut sql = String::from(
            "INSERT INTO actions (server_id, action_type, argv, status, timeout_s, created_at_ms, \
             created_by, finished_at_ms, exit_code) VALUES ",
        );
        for i in 0..500 {
            let n = chunk * 500 + i;
            // Pending rows are rare and never apt (the one-apt-in-flight index).
            let status = if n % 5000 == 0 {
                ActionStatus::Pending
            } else if n % 17 == 0 {
                ActionStatus::Failed
            } else {
                ActionStatus::Completed
            };
            let action_type = if status == ActionStatus::Pending {
                ActionType::ClearLogs
            } else {
                types[(n % types.len() as i64) as usize]
            };
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&format!(
                "('srv-{}', '{}', '[]', '{}', 60, {n}, 'bench', {n}, 0)",
                n % SERVERS,
                action_type.as_str(),
                status.as_str()
            ));
        }
        sqlx::query(&sql).execute(&mut *tx).await.unwrap();
    }
    tx.commit().await.unwrap();
    sqlx::query("ANALYZE").execute(db.pool()).await.unwrap();
}

fn history(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (service, _db, _guard) = rt.block_on(async {
        let (db, guard) = homelab_core::db::testing::fresh_db().await;
        let service = Service::new(db.clone(), Duration::from_secs(60));
        seed(&db, &service).await;
        (service, db, guard)
    });
    let server = || Some(ServerId::parse("srv-7").unwrap());
    let deep = (ROWS / 2).to_string();
    let cases: Vec<(&str, Filter, Option<&str>)> = vec![
        ("first page, no filter", Filter::default(), None),
        ("deep page, no filter", Filter::default(), Some(&deep)),
        (
            "by server",
            Filter {
                server_id: server(),
                ..Filter::default()
            },
            None,
        ),
        (
            "by server, deep page",
            Filter {
                server_id: server(),
                ..Filter::default()
            },
            Some(&deep),
        ),
        (
            "by status (rare: pending)",
            Filter {
                status: Some(ActionStatus::Pending),
                ..Filter::default()
            },
            None,
        ),
        (
            "by status (failed), deep page",
            Filter {
                status: Some(ActionStatus::Failed),
                ..Filter::default()
            },
            Some(&deep),
        ),
        (
            "by type",
            Filter {
                action_type: Some(ActionType::AptUpdate),
                ..Filter::default()
            },
            None,
        ),
        (
            "server and type",
            Filter {
                server_id: server(),
                action_type: Some(ActionType::AptUpdate),
                ..Filter::default()
            },
            None,
        ),
        (
            "status and type",
            Filter {
                status: Some(ActionStatus::Failed),
                action_type: Some(ActionType::RestartService),
                ..Filter::default()
            },
            None,
        ),
    ];
    let backend = format!("{:?}", homelab_core::db::testing::backend());
    let mut group = c.benchmark_group(format!("history page of 50 at 1M actions ({backend})"));
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(3));
    for (name, filter, cursor) in cases {
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| async {
                let page = service.history(&filter, cursor, 50).await.unwrap();
                assert!(!page.actions.is_empty());
                page
            });
        });
    }
    group.finish();
}

criterion_group!(benches, history);
criterion_main!(benches);
