//! Backups of a SQLite installation, taken while the dashboard runs, and restoring
//! one. PostgreSQL has its own tools (`pg_dump`, `pg_restore`); these refuse it and
//! say so.
//!
//! Every process that opens a SQLite database holds a shared `flock` on a lock file
//! beside it (`FILE.lock`, see [`lock_shared`]); a restore takes it exclusively, so it
//! never swaps the file under a running dashboard (or a one-off command), and a
//! dashboard cannot start in the middle of a restore. SQLite's own locks cannot say
//! this: in WAL mode an idle dashboard holds none that a writer would notice.

use std::fs::{File, OpenOptions};
use std::io::Read as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions as _, Connection as _, Row as _};

use super::{Backend, SQLITE_MIGRATIONS, redacted, sqlite_file};

/// Why a backup or a restore did not happen. Nothing was changed in either case.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(
        "{0} is a PostgreSQL database: back it up with PostgreSQL's own tool, e.g. \
         `pg_dump --format=custom --file=homelab-cmd.dump '{0}'` (the password from \
         ~/.pgpass or PGPASSWORD)"
    )]
    PostgresBackup(String),
    #[error(
        "{0} is a PostgreSQL database: restore a pg_dump file with PostgreSQL's own \
         tools, e.g. `pg_restore --clean --dbname='{0}' homelab-cmd.dump` (or psql for \
         a plain SQL dump), with the dashboard stopped"
    )]
    PostgresRestore(String),
    #[error("`{0}` is not a SQLite file database")]
    NotAFile(String),
    #[error("there is no database file {0}")]
    NoDatabase(String),
    #[error("{0} already exists: choose a new file name (a backup never overwrites)")]
    Exists(String),
    #[error(
        "{0} is in use by a running homelab-cmd (the dashboard, or another command): \
         stop it first (systemctl stop homelab-cmd)"
    )]
    InUse(String),
    #[error("{0} is not a SQLite database")]
    NotSqlite(String),
    #[error("{0} is a SQLite database but not homelab-cmd's (it has no migrations table)")]
    Foreign(String),
    #[error(
        "{path} was made by another version of homelab-cmd: its schema has migration \
         {version}, which this binary does not know; restore it with the version that \
         made it"
    )]
    UnknownSchema { path: String, version: i64 },
    #[error("{path} is damaged: SQLite's check says {says}")]
    Damaged { path: String, says: String },
    #[error("{what} {path}")]
    Io {
        what: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} {path}")]
    Sql {
        what: &'static str,
        path: String,
        #[source]
        source: sqlx::Error,
    },
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> BackupError {
    let path = path.display().to_string();
    move |source| BackupError::Io { what, path, source }
}

fn sql(what: &'static str, path: &Path) -> impl FnOnce(sqlx::Error) -> BackupError {
    let path = path.display().to_string();
    move |source| BackupError::Sql { what, path, source }
}

/// The URL as a command line may show it: with no password at all (pg_dump and
/// pg_restore read it from ~/.pgpass or PGPASSWORD).
fn without_password(url: &str) -> String {
    redacted(url).replacen(":***@", "@", 1)
}

/// The SQLite file `url` names, or why it names none we can back up or restore.
fn sqlite_target(url: &str, postgres: fn(String) -> BackupError) -> Result<PathBuf, BackupError> {
    if Backend::of(url) == Some(Backend::Postgres) {
        return Err(postgres(without_password(url)));
    }
    sqlite_file(url)
        .map(Path::to_owned)
        .ok_or_else(|| BackupError::NotAFile(redacted(url)))
}

/// The lock file beside a SQLite database.
fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

fn open_lock(db: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(lock_path(db))
}

/// Marks `db` as in use for as long as the returned file stays open: a restore
/// refuses to replace it meanwhile. `None` when a restore holds it now.
pub(super) fn lock_shared(db: &Path) -> std::io::Result<Option<File>> {
    let file = open_lock(db)?;
    match file.try_lock_shared() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

/// A file name beside `path` for work in progress: the same directory, so the final
/// rename or link is atomic.
fn temp_beside(path: &Path, what: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{what}-{}", std::process::id()))
}

/// Flushes a directory, so a rename or link in it survives a power cut.
fn sync_dir(path: &Path) -> Result<(), BackupError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("could not flush the directory", dir))
}

/// One connection to the existing SQLite file at `path`. Options, not a URL: a path
/// may hold `?`, `#` or `%`.
async fn open_existing(path: &Path) -> Result<SqliteConnection, BackupError> {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(false)
        .busy_timeout(std::time::Duration::from_secs(10))
        .connect()
        .await
        .map_err(sql("could not open", path))
}

/// Removes a work file when dropped, unless it was kept.
struct TempFile(Option<PathBuf>);

impl TempFile {
    fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Writes a consistent copy of the SQLite database at `url` into the new file `to`
/// (mode 0600), while other processes keep using the database. Returns its size.
pub async fn backup(url: &str, to: &Path) -> Result<u64, BackupError> {
    let source = sqlite_target(url, BackupError::PostgresBackup)?;
    if !source.is_file() {
        return Err(BackupError::NoDatabase(source.display().to_string()));
    }
    if to.symlink_metadata().is_ok() {
        return Err(BackupError::Exists(to.display().to_string()));
    }
    // The copy holds password and token hashes: it is private from its first byte.
    // VACUUM INTO accepts an empty file.
    let temp = temp_beside(to, "backup");
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp)
        .map_err(io("could not create", &temp))?;
    let guard = TempFile(Some(temp.clone()));
    // Read-write, not read-only: a reader of a WAL database needs its shared-memory
    // file, which a read-only connection may not be able to set up. VACUUM INTO never
    // writes the source; it reads it in one transaction, so the copy is one moment's
    // state.
    let mut conn = open_existing(&source).await?;
    sqlx::query("VACUUM INTO ?1")
        .bind(temp.display().to_string())
        .execute(&mut conn)
        .await
        .map_err(sql("could not copy", &source))?;
    let _ = conn.close().await;
    let file = File::open(&temp).map_err(io("could not read back", &temp))?;
    file.sync_all().map_err(io("could not flush", &temp))?;
    let size = file
        .metadata()
        .map_err(io("could not read back", &temp))?
        .len();
    // A link, unlike a rename, fails when `to` appeared meanwhile.
    std::fs::hard_link(&temp, to).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            BackupError::Exists(to.display().to_string())
        } else {
            io("could not create", to)(e)
        }
    })?;
    drop(guard);
    sync_dir(to)?;
    Ok(size)
}

/// What a restore did.
#[derive(Debug)]
pub struct Restored {
    /// Where the database it replaced was kept, if there was one.
    pub kept: Option<PathBuf>,
}

/// Replaces the SQLite database at `url` with the backup `from`, after checking that
/// it is a homelab-cmd database this binary can open, and keeps the one it replaces
/// as `FILE.before-restore-<UTC time>`. Refused while any process has the database
/// open through [`super::Database`].
pub async fn restore(url: &str, from: &Path) -> Result<Restored, BackupError> {
    let target = sqlite_target(url, BackupError::PostgresRestore)?;
    if !from.is_file() {
        return Err(BackupError::NoDatabase(from.display().to_string()));
    }
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        use std::os::unix::fs::DirBuilderExt as _;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io("could not create the directory", dir))?;
    }
    let lock = open_lock(&target).map_err(io("could not open the lock file of", &target))?;
    if lock.try_lock().is_err() {
        return Err(BackupError::InUse(target.display().to_string()));
    }
    // Check the copy that will be installed, not the file it came from.
    let temp = temp_beside(&target, "restore");
    let guard = TempFile(Some(temp.clone()));
    {
        let mut out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)
            .map_err(io("could not create", &temp))?;
        let mut input = File::open(from).map_err(io("could not read", from))?;
        std::io::copy(&mut input, &mut out).map_err(io("could not copy", from))?;
        out.sync_all().map_err(io("could not flush", &temp))?;
    }
    check_backup(&temp, from).await?;

    let kept = if target.exists() {
        let stamp = chrono::DateTime::from_timestamp_millis(super::now_ms())
            .unwrap_or_default()
            .format("%Y%m%dT%H%M%SZ");
        let mut name = target.as_os_str().to_owned();
        name.push(format!(".before-restore-{stamp}"));
        let kept = PathBuf::from(name);
        std::fs::hard_link(&target, &kept).map_err(io("could not keep", &target))?;
        // A write-ahead log left by a crash belongs to the old file: it goes with it
        // (SQLite would otherwise replay it into the restored one).
        for suffix in ["-wal", "-shm"] {
            let (mut old, mut new) = (target.as_os_str().to_owned(), kept.as_os_str().to_owned());
            old.push(suffix);
            new.push(suffix);
            match std::fs::rename(&old, &new) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io("could not move", Path::new(&old))(e)),
            }
        }
        Some(kept)
    } else {
        None
    };
    std::fs::rename(&temp, &target).map_err(io("could not replace", &target))?;
    guard.keep();
    sync_dir(&target)?;
    drop(lock);
    Ok(Restored { kept })
}

/// Checks that `path` (a copy of `shown`) is an intact homelab-cmd SQLite database
/// whose every migration this binary knows.
async fn check_backup(path: &Path, shown: &Path) -> Result<(), BackupError> {
    let name = || shown.display().to_string();
    let mut header = [0u8; 16];
    let read = File::open(path).and_then(|mut f| f.read_exact(&mut header));
    if read.is_err() || &header != b"SQLite format 3\0" {
        return Err(BackupError::NotSqlite(name()));
    }
    let mut conn = open_existing(path).await?;
    let result = async {
        let says: String = sqlx::query_scalar("PRAGMA quick_check")
            .fetch_one(&mut conn)
            .await
            .map_err(|_| BackupError::NotSqlite(name()))?;
        if says != "ok" {
            return Err(BackupError::Damaged { path: name(), says });
        }
        let has_table: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .fetch_one(&mut conn)
        .await
        .map_err(sql("could not read", shown))?;
        if has_table == 0 {
            return Err(BackupError::Foreign(name()));
        }
        let applied = sqlx::query("SELECT version, checksum FROM _sqlx_migrations")
            .fetch_all(&mut conn)
            .await
            .map_err(sql("could not read", shown))?;
        if applied.is_empty() {
            return Err(BackupError::Foreign(name()));
        }
        for row in applied {
            let version: i64 = row.try_get(0).map_err(sql("could not read", shown))?;
            let checksum: Vec<u8> = row.try_get(1).map_err(sql("could not read", shown))?;
            let known = SQLITE_MIGRATIONS
                .iter()
                .any(|m| m.version == version && *m.checksum == *checksum);
            if !known {
                return Err(BackupError::UnknownSchema {
                    path: name(),
                    version,
                });
            }
        }
        Ok(())
    }
    .await;
    let _ = conn.close().await;
    // The check's connection may leave a journal mode's side files behind.
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut side = path.as_os_str().to_owned();
        side.push(suffix);
        let _ = std::fs::remove_file(side);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{Database, DbError};

    fn url(path: &Path) -> String {
        format!("sqlite://{}", path.display())
    }

    #[tokio::test]
    async fn a_restore_waits_for_no_one_and_an_open_database_refuses_it() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("live.db");
        let db = Database::connect(&url(&live)).await.unwrap();
        let copy = dir.path().join("copy.db");
        backup(&url(&live), &copy).await.unwrap();
        let err = restore(&url(&live), &copy).await.unwrap_err();
        assert!(matches!(err, BackupError::InUse(_)), "{err}");
        drop(db);
        // Closed, it goes through; and a database cannot open while a restore
        // holds the lock.
        let lock = open_lock(&live).unwrap();
        lock.try_lock().unwrap();
        let err = Database::connect(&url(&live)).await.unwrap_err();
        assert!(matches!(err, DbError::Restoring(_)), "{err}");
        drop(lock);
        let restored = restore(&url(&live), &copy).await.unwrap();
        assert!(restored.kept.is_some_and(|k| k.exists()));
        Database::connect(&url(&live)).await.unwrap();
    }

    #[tokio::test]
    async fn a_backup_from_a_newer_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("live.db");
        let db = Database::connect(&url(&live)).await.unwrap();
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, \
             execution_time) VALUES (99999, 'from the future', TRUE, x'00', 0)",
        )
        .execute(db.pool())
        .await
        .unwrap();
        let copy = dir.path().join("copy.db");
        backup(&url(&live), &copy).await.unwrap();
        drop(db);
        let target = dir.path().join("target.db");
        let err = restore(&url(&target), &copy).await.unwrap_err();
        assert!(
            matches!(err, BackupError::UnknownSchema { version: 99999, .. }),
            "{err}"
        );
        assert!(!target.exists(), "nothing written");
    }

    #[tokio::test]
    async fn a_backup_goes_to_any_file_name_and_restores_from_it() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("live.db");
        let db = Database::connect(&url(&live)).await.unwrap();
        let odd = dir.path().join("my backups? 100% #1.db");
        backup(&url(&live), &odd).await.unwrap();
        drop(db);
        let target = dir.path().join("restored.db");
        let restored = restore(&url(&target), &odd).await.unwrap();
        assert!(restored.kept.is_none());
        Database::connect(&url(&target)).await.unwrap();
    }
}
