//! Every write must survive its caller going away at any await point: the client
//! closed the connection, hyper dropped the handler's future. These tests drop each
//! write after its first, second, third... suspension, then check that the database
//! still takes writes at once and that the dropped write was either done whole or not
//! at all.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use homelab_protocol::{
    ActionResult, ActionSpec, ActionStatus, ActionType, DebVersion, Heartbeat, PackageName,
    PendingPackage, ServerName,
};

use super::*;
use crate::db::testing::fresh_db;

/// Drives a future until it has suspended `suspensions` times, then drops it: what a
/// request future goes through when its client disconnects.
struct DropAfter<F: Future> {
    inner: Option<Pin<Box<F>>>,
    suspensions: usize,
}

impl<F: Future> Future for DropAfter<F> {
    /// `None` when the future was dropped before it finished.
    type Output = Option<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Ready(None);
        };
        match inner.as_mut().poll(cx) {
            Poll::Ready(value) => Poll::Ready(Some(value)),
            Poll::Pending if self.suspensions <= 1 => {
                self.inner = None;
                Poll::Ready(None)
            }
            Poll::Pending => {
                self.suspensions -= 1;
                Poll::Pending
            }
        }
    }
}

fn drop_after<F: Future>(future: F, suspensions: usize) -> DropAfter<F> {
    DropAfter {
        inner: Some(Box::pin(future)),
        suspensions,
    }
}

/// Runs `op` again and again, dropping it after 1, 2, 3... suspensions, until it
/// finishes unhindered; after each drop, `check` must succeed (it writes). Returns
/// how many await points were cut.
async fn cut_at_every_await<Op, Fut, T>(service: &Service, mut op: Op) -> usize
where
    Op: FnMut() -> Fut,
    Fut: Future<Output = T>,
{
    for suspensions in 1..500 {
        if drop_after(op(), suspensions).await.is_some() {
            return suspensions - 1;
        }
        // A write the database can no longer take would wait out SQLite's busy
        // timeout (5 s) and fail, or trip over a connection still in a transaction.
        let writable = tokio::time::timeout(
            Duration::from_secs(30),
            service.set_paused(&nas(), false, "check"),
        )
        .await;
        assert!(
            matches!(writable, Ok(Ok(()))),
            "after dropping at await point {suspensions}: {writable:?}"
        );
    }
    panic!("the operation never finished");
}

fn nas() -> ServerId {
    ServerId::parse("nas").unwrap()
}

fn heartbeat(version: &str) -> Heartbeat {
    let package = |name: &str| PendingPackage {
        name: PackageName::parse(name).unwrap(),
        current_version: DebVersion::parse("1.0").unwrap(),
        new_version: DebVersion::parse(version).unwrap(),
        repository: "bookworm-security".into(),
        is_security: true,
        security_version: Some(DebVersion::parse(version).unwrap()),
        held: false,
        kept_back: false,
    };
    super::testing::heartbeat(Some((0..50).map(|i| package(&format!("pkg{i}"))).collect()))
}

async fn service_with_server() -> (Service, String, crate::db::testing::Guard) {
    let (db, dir) = fresh_db().await;
    let service = Service::new(db, Duration::from_secs(60));
    let token = service
        .add_server(nas(), ServerName::parse("NAS").unwrap())
        .await
        .unwrap()
        .agent_token;
    (service, token, dir)
}

#[tokio::test]
async fn a_heartbeat_dropped_at_any_await_point_leaves_the_database_writable() {
    let (service, token, _dir) = service_with_server().await;
    let mut n = 0;
    let cut = cut_at_every_await(&service, || {
        n += 1;
        // A new list each time, so every heartbeat rewrites the package rows.
        service.heartbeat(&token, heartbeat(&format!("1.{n}")))
    })
    .await;
    assert!(cut >= 1, "the heartbeat never suspended");
    // The list is one whole list, never a mix of two heartbeats.
    let packages = service.packages(&nas()).await.unwrap();
    assert_eq!(packages.packages.len(), 50);
    let versions: std::collections::HashSet<_> = packages
        .packages
        .iter()
        .map(|p| p.new_version.as_str().to_owned())
        .collect();
    assert_eq!(versions.len(), 1, "{versions:?}");
}

#[tokio::test]
async fn every_engine_write_dropped_at_any_await_point_leaves_the_database_writable() {
    let (service, token, _dir) = service_with_server().await;
    let server = nas();
    // Create: a restart per attempt (distinct units, so none is a duplicate).
    let mut n = 0;
    cut_at_every_await(&service, || {
        n += 1;
        let spec = ActionSpec::parse(
            ActionType::RestartService,
            Some(&serde_json::json!({ "unit": format!("unit{n}") })),
        )
        .unwrap();
        service.create_action(&server, spec, "admin")
    })
    .await;

    // Claim, then report: the long-poll and the result.
    let claimed = cut_at_every_await(&service, || {
        service.next_action(&server, &token, Duration::from_millis(10))
    })
    .await;
    assert!(claimed >= 1);
    let executing = service
        .history(&Default::default(), None, 200)
        .await
        .unwrap()
        .actions
        .into_iter()
        .find(|a| a.status == ActionStatus::Executing)
        .expect("one action claimed");
    let result = ActionResult {
        exit_code: Some(0),
        failure: None,
        stdout: "done".into(),
        stderr: String::new(),
        started_at: None,
        finished_at: None,
    };
    cut_at_every_await(&service, || {
        service.report_result(&server, executing.id, result.clone())
    })
    .await;
    assert_eq!(
        service.action(executing.id).await.unwrap().status,
        ActionStatus::Completed
    );

    // A person's decisions, on a server in maintenance.
    service.set_paused(&nas(), true, "admin").await.unwrap();
    let pending = service
        .create_action(
            &nas(),
            ActionSpec::parse(ActionType::AptUpdate, None).unwrap(),
            "admin",
        )
        .await
        .unwrap();
    // set_paused(false) in the checks would auto-approve nothing already pending.
    cut_at_every_await(&service, || service.reject(pending.id, "admin", "not now")).await;
    assert_eq!(
        service.action(pending.id).await.unwrap().status,
        ActionStatus::Rejected
    );

    // Sessions and accounts.
    cut_at_every_await(&service, || {
        service.set_user_password("admin", "a long password")
    })
    .await;
    let _ = token;
}

#[tokio::test]
async fn a_connection_returned_inside_a_transaction_is_closed_not_reused() {
    use sqlx::TransactionManager as _;
    // The hole itself: a future dropped after `BEGIN` ran and before sqlx built its
    // `Transaction` guard returns the connection to the pool inside a transaction,
    // holding SQLite's write lock. Reproduced exactly: `BEGIN` through sqlx's own
    // transaction manager, no guard, connection dropped.
    let (db, _dir) = fresh_db().await;
    let service = Service::new(db.clone(), Duration::from_secs(60));
    service
        .add_server(nas(), ServerName::parse("NAS").unwrap())
        .await
        .unwrap();
    let sqlite = db.backend() == crate::db::Backend::Sqlite;
    for _ in 0..3 {
        let mut conn = db.pool().acquire().await.unwrap();
        <sqlx::Any as sqlx::Database>::TransactionManager::begin(
            &mut conn,
            Some(if sqlite { "BEGIN IMMEDIATE" } else { "BEGIN" }.into()),
        )
        .await
        .unwrap();
        if !sqlite {
            // PostgreSQL has no database-wide write lock: the row lock the
            // dangling transaction takes is what a later write would wait on.
            sqlx::query("UPDATE servers SET paused = paused WHERE id = $1")
                .bind(nas().as_str())
                .execute(&mut *conn)
                .await
                .unwrap();
        }
        drop(conn);
        let writable = tokio::time::timeout(
            Duration::from_secs(30),
            service.set_paused(&nas(), true, "check"),
        )
        .await;
        assert!(matches!(writable, Ok(Ok(()))), "{writable:?}");
    }
    assert!(service.server_detail(&nas()).await.unwrap().summary.paused);
}

#[tokio::test]
async fn the_same_request_sent_twice_at_once_creates_one_action() {
    let (service, _token, _dir) = service_with_server().await;
    let rid = homelab_protocol::RequestId::parse("form-42").unwrap();
    let spec = || ActionSpec::parse(ActionType::AptUpdate, None).unwrap();
    let server = nas();
    let (a, b) = tokio::join!(
        service.create_action_once(&server, spec(), "admin", Some(&rid)),
        service.create_action_once(&server, spec(), "admin", Some(&rid)),
    );
    let ((a, first), (b, second)) = (a.unwrap(), b.unwrap());
    assert_eq!(a.id, b.id, "the second answer is the first action");
    let mut outcomes = [first, second];
    outcomes.sort_by_key(|c| *c == Created::Repeat);
    assert_eq!(outcomes, [Created::New, Created::Repeat]);
    // Later, the same request still answers with that action.
    let (again, repeat) = service
        .create_action_once(&nas(), spec(), "admin", Some(&rid))
        .await
        .unwrap();
    assert_eq!((again.id, repeat), (a.id, Created::Repeat));
    // The same id for something else is refused, not answered with the first action.
    let other = ActionSpec::parse(ActionType::AptUpgradeAll, None).unwrap();
    assert!(matches!(
        service.create_action_once(&nas(), other, "admin", Some(&rid)).await,
        Err(Error::Conflict { existing_action_id: Some(id), .. }) if id == a.id
    ));
    // Without an id, a second apt action is the usual conflict.
    assert!(matches!(
        service.create_action(&nas(), spec(), "admin").await,
        Err(Error::Conflict { .. })
    ));
    let all = service
        .history(&Default::default(), None, 10)
        .await
        .unwrap();
    assert_eq!(all.actions.len(), 1);
}
