//! Fresh, migrated databases for tests, on either backend. SQLite needs nothing; a
//! PostgreSQL database is made in the cluster `HOMELAB_TEST_POSTGRES_URL` names
//! (`./scripts/test` starts a throw-away one). `HOMELAB_TEST_BACKEND=postgres` makes
//! [`fresh_db`] (used by the engine and HTTP tests) use PostgreSQL, so the same tests
//! run on both.

use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::Connection as _;

use super::{Backend, Database};

/// The environment variable naming the test cluster.
pub const POSTGRES_URL_VAR: &str = "HOMELAB_TEST_POSTGRES_URL";
/// The environment variable choosing the backend of [`fresh_db`].
pub const BACKEND_VAR: &str = "HOMELAB_TEST_BACKEND";

/// What keeps a fresh database alive: its directory (SQLite). A PostgreSQL test
/// database lives as long as the throw-away cluster.
#[derive(Debug, Default)]
pub struct Guard {
    _dir: Option<tempfile::TempDir>,
}

/// The backend the test run asks for (SQLite unless `HOMELAB_TEST_BACKEND=postgres`).
pub fn backend() -> Backend {
    match std::env::var(BACKEND_VAR).as_deref() {
        Ok("postgres") => Backend::Postgres,
        Ok("sqlite") | Err(_) => Backend::Sqlite,
        Ok(other) => panic!("{BACKEND_VAR}={other}: use sqlite or postgres"),
    }
}

/// A fresh database on the run's backend, and its URL.
pub async fn fresh_url() -> (String, Guard) {
    match backend() {
        Backend::Sqlite => fresh_sqlite_url(),
        Backend::Postgres => (fresh_postgres_url().await, Guard { _dir: None }),
    }
}

/// A fresh, migrated database on the run's backend.
pub async fn fresh_db() -> (Database, Guard) {
    let (url, guard) = fresh_url().await;
    let db = Database::connect(&url).await.expect("fresh database");
    (db, guard)
}

/// A fresh, migrated SQLite database.
pub async fn fresh_sqlite() -> (Database, Guard) {
    let (url, guard) = fresh_sqlite_url();
    (
        Database::connect(&url)
            .await
            .expect("fresh SQLite database"),
        guard,
    )
}

/// A fresh, migrated PostgreSQL database.
pub async fn fresh_postgres() -> (Database, Guard) {
    let url = fresh_postgres_url().await;
    let db = Database::connect(&url)
        .await
        .expect("fresh PostgreSQL database");
    (db, Guard { _dir: None })
}

fn fresh_sqlite_url() -> (String, Guard) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("test.db").display());
    (url, Guard { _dir: Some(dir) })
}

/// Makes an empty database in the test cluster and returns its URL.
pub async fn fresh_postgres_url() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let admin = std::env::var(POSTGRES_URL_VAR).unwrap_or_else(|_| {
        panic!(
            "{POSTGRES_URL_VAR} is not set: the PostgreSQL tests need a cluster \
             (./scripts/test starts a throw-away one and sets it)"
        )
    });
    let name = format!(
        "homelab_test_{}_{}_{:08x}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        rand::random::<u32>()
    );
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&admin)
        .await
        .expect("connecting to the test cluster");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("creating a test database");
    let _ = conn.close().await;
    let (base, _) = admin.rsplit_once('/').expect("a database URL with a path");
    format!("{base}/{name}")
}
