//! The database: one pool for the process, the embedded migrations, and one module
//! per table or aggregate. Queries are plain portable SQL over sqlx's `Any` driver,
//! so the backend is a run-time choice made by the database URL.
//!
//! Every change goes through [`Database::write`]: one transaction, run on a task that
//! no request owns, so a client that goes away mid-request can never leave a
//! connection inside a transaction (sqlx 0.8's `begin` is not cancellation-safe: a
//! future dropped between `BEGIN` and the guard keeps the write lock for good). On
//! SQLite one writer task runs every write, committing concurrent ones together
//! ([`writer`]): writes never wait in SQLite's busy handler. The pool refuses to hand
//! out, or take back, a connection still inside a transaction, whatever put it there.

pub mod actions;
pub mod api_tokens;
pub mod backup;
pub mod copy;
pub mod login_attempts;
pub mod packages;
pub mod runs;
pub mod schedules;
pub mod servers;
pub mod sessions;
pub mod tags;
pub mod users;
pub mod webhooks;
pub mod writer;

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyConnection, AnyPool, Executor, TransactionManager};
use tracing::Instrument as _;

/// A write transaction, as handed to the work of [`Database::write`].
pub type Tx = sqlx::Transaction<'static, Any>;

/// The future a unit of write work returns; it may borrow the transaction.
pub type WriteFuture<'t, T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send + 't>>;

/// What can go wrong talking to the database.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("unsupported database URL `{0}`: use sqlite:PATH or postgres://...")]
    UnsupportedUrl(String),
    #[error("could not create the database file or its directory: {path}")]
    CreateDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("there is no database file {0}")]
    NoSuchFile(String),
    #[error("{0} is being restored from a backup: start again when the restore is done")]
    Restoring(String),
    #[error("the database server did not answer within {0} s")]
    NoAnswer(u64),
    #[error("database migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    #[error("a database write task ended abnormally")]
    WriteTask(#[from] tokio::task::JoinError),
    #[error("a unit of database write work panicked; its changes were rolled back")]
    WorkPanicked,
    #[error("the database writer has stopped")]
    WriterStopped,
    #[error("the write was abandoned: its transaction failed before it ran")]
    WriteAbandoned,
    #[error("the write was not committed")]
    NotCommitted(#[source] Arc<sqlx::Error>),
}

/// Whether a unique constraint refused the last write.
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
/// PostgreSQL's own: sqlx takes an advisory lock around them, so replicas starting
/// at once apply each migration once.
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend of `url`, by its scheme.
    pub fn of(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
}

/// The process's connection pool.
#[derive(Clone, Debug)]
pub struct Database {
    pool: AnyPool,
    backend: Backend,
    /// The URL it was opened with (PostgreSQL's listener opens its own connection).
    url: DatabaseUrl,
    /// SQLite has one writer at a time: every write goes through this one task,
    /// rather than spin in SQLite's busy handler (which starves some writers until
    /// they fail). PostgreSQL takes concurrent writers itself.
    writer: Option<writer::Writer>,
    /// A SQLite database's shared lock, held while the pool lives: a restore waits
    /// for no one and refuses while it is held ([`backup`]).
    _in_use: Option<Arc<std::fs::File>>,
}

/// A database URL, which may hold a password: `Debug` shows it without.
#[derive(Clone)]
struct DatabaseUrl(Arc<str>);

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&redacted(&self.0))
    }
}

/// Whether sqlx still counts `conn` as inside a transaction.
fn in_transaction(conn: &AnyConnection) -> bool {
    <Any as sqlx::Database>::TransactionManager::get_transaction_depth(conn) != 0
}

impl Database {
    /// Opens the database at `url`, creating a SQLite file (and its directory) on
    /// first use, and applies the embedded migrations.
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        sqlx::any::install_default_drivers();
        let mut in_use = None;
        if let Some(file) = sqlite_file(url) {
            private_file(file)?;
            in_use = Some(Arc::new(
                backup::lock_shared(file)
                    .map_err(|source| DbError::CreateDir {
                        path: format!("{}.lock", file.display()),
                        source,
                    })?
                    .ok_or_else(|| DbError::Restoring(file.display().to_string()))?,
            ));
        }
        let url = prepare_url(url)?;
        let options = AnyConnectOptions::from_str(&url)?;
        let backend = Backend::of(&url).ok_or_else(|| DbError::UnsupportedUrl(redacted(&url)))?;
        let sqlite = backend == Backend::Sqlite;
        let pool = AnyPoolOptions::new()
            .max_connections(if sqlite { 8 } else { 16 })
            .acquire_timeout(Duration::from_secs(10))
            // A ping before each use guards against a server that dropped the
            // connection; a SQLite file cannot, and the ping cost every read a round
            // trip to the connection's thread.
            .test_before_acquire(!sqlite)
            // A connection left inside a transaction holds SQLite's write lock (or a
            // PostgreSQL snapshot and row locks) for as long as it lives: close it,
            // which rolls the transaction back, rather than reuse it.
            .after_release(|conn, _meta| {
                Box::pin(async move {
                    let healthy = !in_transaction(conn);
                    if !healthy {
                        tracing::error!("a connection came back inside a transaction: closed");
                    }
                    Ok(healthy)
                })
            })
            .before_acquire(|conn, _meta| {
                Box::pin(async move {
                    let healthy = !in_transaction(conn);
                    if !healthy {
                        tracing::error!("an idle connection was inside a transaction: closed");
                    }
                    Ok(healthy)
                })
            })
            .after_connect(|conn, _meta| {
                Box::pin(async move {
                    if conn.backend_name() == "SQLite" {
                        // WAL lets readers run beside the writer; the busy timeout
                        // makes concurrent writers queue instead of failing.
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA busy_timeout = 5000").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        match backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&pool).await?,
        }
        Ok(Database {
            writer: sqlite.then(|| writer::Writer::start(pool.clone())),
            _in_use: in_use,
            pool,
            backend,
            url: DatabaseUrl(url.as_str().into()),
        })
    }

    /// Opens a database that must already exist: unlike [`Database::connect`], a
    /// SQLite file that is not there is an error, never created empty.
    pub async fn connect_existing(url: &str) -> Result<Self, DbError> {
        if let Some(file) = sqlite_file(url)
            && !file.exists()
        {
            return Err(DbError::NoSuchFile(file.display().to_string()));
        }
        probe(url).await?;
        Self::connect(url).await
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL it was opened with (it may hold a password: never log it as is).
    pub fn url(&self) -> &str {
        &self.url.0
    }

    /// Runs `work` in a transaction and commits it when `work` succeeds (an error
    /// undoes what it did). The transaction lives on a task of its own, not the
    /// caller's: when the caller's future is dropped (the client went away), the
    /// write still runs to its end, commits or rolls back, and returns its
    /// connection clean. Accepted work is never half done. On SQLite the transaction
    /// may carry other callers' work too ([`writer`]); each answer waits for the
    /// commit.
    ///
    /// `work` must own what it uses (`move` it in): it may outlive the caller.
    pub async fn write<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: for<'t> FnOnce(&'t mut Tx) -> WriteFuture<'t, T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        if let Some(writer) = &self.writer {
            return writer.write(work).await;
        }
        let pool = self.pool.clone();
        let task = async move {
            let mut tx = pool.begin().await.map_err(|e| E::from(e.into()))?;
            let value = work(&mut tx).await?;
            tx.commit().await.map_err(|e| E::from(e.into()))?;
            Ok(value)
        };
        tokio::spawn(task.instrument(tracing::Span::current()))
            .await
            .map_err(|e| E::from(DbError::from(e)))?
    }

    /// SQLite's writer's count of transactions and of the units of work they
    /// carried; `None` on PostgreSQL (each write is its own transaction).
    pub fn write_stats(&self) -> Option<(u64, u64)> {
        self.writer.as_ref().map(writer::Writer::stats)
    }

    /// The pool, for the query modules.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

/// Connects once to a PostgreSQL server, without the pool's retries: an unreachable
/// server or a refused login is reported at once with its own reason, where the pool
/// would only say, ten seconds later, that it timed out. A SQLite URL passes.
pub async fn probe(url: &str) -> Result<(), DbError> {
    use sqlx::Connection as _;
    const WAIT_S: u64 = 10;
    if Backend::of(url) != Some(Backend::Postgres) {
        return Ok(());
    }
    sqlx::any::install_default_drivers();
    let conn = tokio::time::timeout(Duration::from_secs(WAIT_S), AnyConnection::connect(url))
        .await
        .map_err(|_| DbError::NoAnswer(WAIT_S))??;
    conn.close().await?;
    Ok(())
}

/// The SQLite file a URL names, unless it is in memory or opened read-only (a file
/// that is not ours to create or narrow).
fn sqlite_file(url: &str) -> Option<&Path> {
    let path = url.strip_prefix("sqlite:")?.trim_start_matches("//");
    let (file, query) = path.split_once('?').unwrap_or((path, ""));
    let read_only = query.split('&').any(|kv| kv == "mode=ro");
    (file != ":memory:" && !read_only).then(|| Path::new(file))
}

/// Checks the URL's scheme and completes a SQLite URL's mode. Pure: it touches no
/// file. A PostgreSQL URL is passed on as it is.
fn prepare_url(url: &str) -> Result<String, DbError> {
    if Backend::of(url) == Some(Backend::Postgres) {
        return Ok(url.to_owned());
    }
    let Some(rest) = url.strip_prefix("sqlite:") else {
        return Err(DbError::UnsupportedUrl(redacted(url)));
    };
    let path = rest.trim_start_matches("//");
    let (file, query) = path.split_once('?').unwrap_or((path, ""));
    // `mode=rwc` creates the file on first run unless the caller chose a mode.
    Ok(if query.split('&').any(|kv| kv.starts_with("mode=")) {
        url.to_owned()
    } else if query.is_empty() {
        format!("sqlite://{file}?mode=rwc")
    } else {
        format!("sqlite://{file}?{query}&mode=rwc")
    })
}

/// `url` without a password, for messages and logs: `postgres://user:secret@host`
/// becomes `postgres://user:***@host`.
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = rest
        .split_once('/')
        .map_or((rest, None), |(a, p)| (a, Some(p)));
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => authority.to_owned(),
    };
    match path {
        Some(path) => format!("{scheme}://{authority}/{path}"),
        None => format!("{scheme}://{authority}"),
    }
}

/// Makes sure the database file is readable by its owner only (it holds password
/// and token hashes and every machine's command output): a directory we create is
/// 0700, the file is created 0600 before SQLite opens it (SQLite gives its `-wal` and
/// `-shm` files the same mode), and an existing file is narrowed to 0600.
fn private_file(file: &Path) -> Result<(), DbError> {
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};

    let io_err = |path: &Path| {
        let path = path.display().to_string();
        move |source| DbError::CreateDir { path, source }
    };
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io_err(dir))?;
    }
    // Never open an existing file here: closing any descriptor of a file drops every
    // POSIX lock this process holds on it, SQLite's included, so a second pool on a
    // database already open in this process would leave the first unprotected (and
    // another process, a backup say, would checkpoint and remove the WAL under it).
    if let Err(e) = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
        && e.kind() != std::io::ErrorKind::AlreadyExists
    {
        return Err(io_err(file)(e));
    }
    let mode = std::fs::metadata(file)
        .map_err(io_err(file))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))
            .map_err(io_err(file))?;
    }
    Ok(())
}

/// The current time in Unix milliseconds, as stored in the database.
pub use homelab_protocol::now_ms;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show_in_urls_shown() {
        assert_eq!(
            redacted("postgres://homelab:s3cret@db.lan:5432/homelab"),
            "postgres://homelab:***@db.lan:5432/homelab"
        );
        assert_eq!(
            redacted("postgres://homelab@db.lan/x"),
            "postgres://homelab@db.lan/x"
        );
        assert_eq!(
            redacted("sqlite://data/homelab-cmd.db"),
            "sqlite://data/homelab-cmd.db"
        );
        // A password holding '@' is cut at the last one, where the host starts.
        assert_eq!(redacted("postgres://u:p@ss@h/d"), "postgres://u:***@h/d");
        let url = DatabaseUrl("postgres://u:topsecret@h/d".into());
        assert!(!format!("{url:?}").contains("topsecret"));
    }

    #[test]
    fn sqlite_urls_get_create_mode_unless_they_chose_one() {
        let cases = [
            ("sqlite::memory:", "sqlite://:memory:?mode=rwc"),
            ("sqlite://:memory:", "sqlite://:memory:?mode=rwc"),
            ("sqlite://x.db?mode=ro", "sqlite://x.db?mode=ro"),
            (
                "sqlite:x.db?cache=shared",
                "sqlite://x.db?cache=shared&mode=rwc",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(prepare_url(input).unwrap(), expected, "{input}");
        }
    }

    #[test]
    fn other_schemes_are_refused_by_name() {
        let err = prepare_url("mysql://db").unwrap_err();
        assert!(err.to_string().contains("mysql://db"), "{err}");
    }

    #[tokio::test]
    async fn upgrading_names_the_slots_of_the_actions_already_in_flight() {
        // A database as the previous version left it (migrations up to 0007), with an
        // apt action running, a restart waiting and one that ended.
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("old.db").display());
        {
            sqlx::any::install_default_drivers();
            let pool = AnyPool::connect(&prepare_url(&url).unwrap()).await.unwrap();
            let before = Migrator {
                migrations: std::borrow::Cow::Owned(
                    SQLITE_MIGRATIONS
                        .iter()
                        .filter(|m| m.version < 8)
                        .cloned()
                        .collect(),
                ),
                ignore_missing: false,
                locking: true,
                no_tx: false,
            };
            before.run(&pool).await.unwrap();
            sqlx::query(
                "INSERT INTO servers (id, name, agent_token_hash, created_at_ms) \
                 VALUES ('nas', 'NAS', 'h', 0)",
            )
            .execute(&pool)
            .await
            .unwrap();
            for (t, unit, status) in [
                ("apt_upgrade_all", None, "executing"),
                // Units used to be stored as typed.
                ("restart_service", Some("nginx"), "approved"),
                ("restart_service", Some("nginx"), "completed"),
                ("restart_service", Some("sshd.service"), "pending"),
            ] {
                sqlx::query(
                    "INSERT INTO actions (server_id, action_type, unit, argv, status, timeout_s, \
                     created_at_ms, created_by) VALUES ('nas', $1, $2, '[]', $3, 60, 0, 'x')",
                )
                .bind(t)
                .bind(unit)
                .bind(status)
                .execute(&pool)
                .await
                .unwrap();
            }
            pool.close().await;
        }
        let db = Database::connect(&url).await.unwrap();
        let slots: Vec<(Option<String>, i64)> =
            sqlx::query_as("SELECT slot, slot_while_running FROM actions ORDER BY id")
                .fetch_all(db.pool())
                .await
                .unwrap();
        assert_eq!(
            slots,
            [
                (Some("apt".to_owned()), 1),
                (Some("unit:nginx.service".to_owned()), 0),
                (None, 0),
                (Some("unit:sshd.service".to_owned()), 0),
            ]
        );
        // The waiting restart now runs what the agent accepts; the ended one is
        // history, as it was.
        let waiting = actions::get(db.pool(), homelab_protocol::ActionId::new(2))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(waiting.argv, ["systemctl", "restart", "nginx.service"]);
        assert_eq!(
            waiting.parameters,
            Some(serde_json::json!({"unit": "nginx.service"}))
        );
        let ended: (Option<String>,) = sqlx::query_as("SELECT unit FROM actions WHERE id = 3")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(ended.0.as_deref(), Some("nginx"));
    }

    #[tokio::test]
    async fn the_database_and_its_directory_are_private_to_the_owner() {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data/homelab.db");
        let db = Database::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        sqlx::query("SELECT 1").execute(db.pool()).await.unwrap();
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir.path().join("data/homelab.db-wal")), 0o600);

        // A file an earlier version left world-readable is narrowed.
        let old = dir.path().join("old.db");
        std::fs::write(&old, b"").unwrap();
        std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).unwrap();
        Database::connect(&format!("sqlite://{}", old.display()))
            .await
            .unwrap();
        assert_eq!(mode(&old), 0o600);
    }

    #[tokio::test]
    async fn connect_creates_the_file_and_its_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/data/homelab.db");
        let db = Database::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        assert!(path.exists());
        // Migrations ran: the servers table answers.
        assert_eq!(servers::list(&db).await.unwrap().len(), 0);
    }
}

/// Fresh databases for tests, on the backend the test run asks for.
#[cfg(any(test, feature = "testing"))]
pub mod testing;
