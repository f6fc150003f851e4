//! `homelab-cmd backup` and `restore` on the real binary: a backup taken while the
//! server works is one moment's state, and a restore never replaces a database in
//! use, nor with a file that is not one of ours.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt as _;
use tokio::process::Command;

use crate::helpers::{TestApp, homelab_cmd, spawn_replica, text};

/// A SQLite database `homelab-cmd.db` in a new directory, with server `nas` added
/// by the binary: the directory, the file and its URL.
async fn database_with_nas() -> (tempfile::TempDir, std::path::PathBuf, String) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("homelab-cmd.db");
    let url = sqlite_url(&db);
    assert!(
        homelab_cmd(&url, &["server", "add", "nas", "NAS"])
            .await
            .status
            .success()
    );
    (dir, db, url)
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The whole action history through the JSON API, oldest first.
async fn history(app: &TestApp) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor = String::new();
    loop {
        let (status, page) = app
            .api_get(&format!("/api/v1/actions?limit=100&cursor={cursor}"))
            .await;
        assert_eq!(status, 200, "{page}");
        all.extend(page["actions"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    all.reverse();
    all
}

fn heartbeat() -> Value {
    json!({
        "agent_version": "0.1.0", "os": "Debian GNU/Linux 12 (bookworm)", "hostname": "nas",
        "metrics": {"cpu_percent": 12.5, "memory_percent": 40.0, "disk_percent": 71.2,
                    "load_1": 0.5, "load_5": 0.4, "load_15": 0.3, "uptime_s": 86400},
        "reboot_required": false,
        "packages": []
    })
}

/// Files in `dir` whose names start with `prefix`.
fn named(dir: &Path, prefix: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_taken_under_load_restores_to_an_identical_history() {
    let dir = tempfile::tempdir().unwrap();
    let live_url = sqlite_url(&dir.path().join("live.db"));
    let app = Arc::new(spawn_replica(&live_url, 60).await);
    let mut tokens = Vec::new();
    for id in ["nas", "pi"] {
        tokens.push((id, app.add_server(id, id).await));
    }

    // Two writers: each creates restarts of new units and beats, until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let created = Arc::new(AtomicUsize::new(0));
    let mut writers = Vec::new();
    for (id, token) in tokens {
        let (app, stop, created) = (app.clone(), stop.clone(), created.clone());
        writers.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let (status, body) = app
                    .api_post(
                        &format!("/api/v1/servers/{id}/actions"),
                        &json!({"action_type": "restart_service",
                                "parameters": {"unit": format!("svc-{i}")}}),
                    )
                    .await;
                assert_eq!(status, 201, "{body}");
                created.fetch_add(1, Ordering::Relaxed);
                if i % 3 == 0 {
                    let (status, body) = app
                        .post_json("/agent/v1/heartbeat", Some(&token), &heartbeat())
                        .await;
                    assert_eq!(status, 200, "{body}");
                }
                i += 1;
            }
        }));
    }
    let wait_for = |n: usize| {
        let created = created.clone();
        async move {
            while created.load(Ordering::Relaxed) < n {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    wait_for(30).await;
    let backup = dir.path().join("backup.db");
    // Every action answered before the copy starts is in it.
    let before_backup = created.load(Ordering::Relaxed);
    let taken = homelab_cmd(&live_url, &["backup", path_str(&backup)]).await;
    assert!(taken.status.success(), "{taken:?}");
    assert!(text(&taken.stdout).contains("Backed up"), "{taken:?}");
    let after_backup = created.load(Ordering::Relaxed);
    // The server keeps working after the copy: the backup must not hold what follows.
    wait_for(after_backup + 20).await;
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.await.unwrap();
    }
    let mode = std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the backup holds password hashes");
    assert!(named(dir.path(), ".backup").is_empty(), "no work file left");
    let live = history(&app).await;

    // Restored into a new place, with no server on it.
    let restored_db = dir.path().join("restored").join("homelab-cmd.db");
    let restored_url = sqlite_url(&restored_db);
    let restored = homelab_cmd(&restored_url, &["restore", path_str(&backup), "--yes"]).await;
    assert!(restored.status.success(), "{restored:?}");
    assert!(!text(&restored.stdout).contains("kept"), "{restored:?}");
    let mode = std::fs::metadata(&restored_db)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let copy = spawn_replica(&restored_url, 60).await;
    let from_backup = history(&copy).await;

    // Each writer may have had one action committed but not yet counted.
    assert!(
        (before_backup..=after_backup + 2).contains(&from_backup.len())
            && from_backup.len() < live.len(),
        "{} actions in the backup: {before_backup} answered before it, {after_backup} after, {} live",
        from_backup.len(),
        live.len()
    );
    // One moment's state: every action whole, and exactly the first N of the live
    // history (nothing missing before the last one it has, nothing half-written).
    assert_eq!(from_backup[..], live[..from_backup.len()]);
}

#[tokio::test]
async fn a_backup_never_overwrites_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir.path().join("live.db"));
    assert!(
        homelab_cmd(&url, &["server", "add", "nas", "NAS"])
            .await
            .status
            .success()
    );
    let there = dir.path().join("precious.db");
    std::fs::write(&there, "not to be lost").unwrap();
    let refused = homelab_cmd(&url, &["backup", path_str(&there)]).await;
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("already exists"),
        "{refused:?}"
    );
    assert_eq!(std::fs::read_to_string(&there).unwrap(), "not to be lost");

    let nothing = homelab_cmd(
        &sqlite_url(&dir.path().join("nothing.db")),
        &["backup", path_str(&dir.path().join("b.db"))],
    )
    .await;
    assert!(!nothing.status.success());
    assert!(
        text(&nothing.stderr).contains("no database file"),
        "{nothing:?}"
    );
    assert!(!dir.path().join("nothing.db").exists(), "never created");
}

/// `homelab-cmd serve` on `url`, as a process of its own; killed when dropped.
async fn serve(url: &str, site: &Path) -> tokio::process::Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_homelab-cmd"))
        .env_clear()
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--site-root",
            path_str(site),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("homelab-cmd serve starts");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("is running") {
                return;
            }
        }
        panic!("serve ended before it listened");
    });
    ready.await.expect("serve listens within 30 s");
    child
}

#[tokio::test]
async fn a_restore_is_refused_while_a_server_runs_on_the_database() {
    let (dir, _db, url) = database_with_nas().await;
    let backup = dir.path().join("backup.db");
    assert!(
        homelab_cmd(&url, &["backup", path_str(&backup)])
            .await
            .status
            .success()
    );

    let mut server = serve(&url, dir.path()).await;
    // The server is idle: it holds no SQLite lock a writer would see, only its own.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = homelab_cmd(&url, &["restore", path_str(&backup), "--yes"]).await;
    assert!(!refused.status.success());
    let stderr = text(&refused.stderr);
    assert!(
        stderr.contains("in use by a running homelab-cmd"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing changed"), "{stderr}");
    assert!(named(dir.path(), "homelab-cmd.db.before-restore").is_empty());

    // Stopped, the same restore goes through and keeps the database it replaced.
    server.kill().await.unwrap();
    server.wait().await.unwrap();
    let restored = homelab_cmd(&url, &["restore", path_str(&backup), "--yes"]).await;
    assert!(restored.status.success(), "{restored:?}");
    // The killed server's write-ahead log goes with the file it belongs to.
    let mut kept = named(dir.path(), "homelab-cmd.db.before-restore-");
    kept.retain(|n| !n.ends_with("-wal") && !n.ends_with("-shm"));
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(!dir.path().join("homelab-cmd.db-wal").exists());
    assert!(text(&restored.stdout).contains(&kept[0]), "{restored:?}");
    // And a server starts on the restored database, with the server it had.
    let app = spawn_replica(&url, 60).await;
    let (status, _) = app.api_get("/api/v1/servers/nas").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_restore_from_a_file_that_is_not_our_database_changes_nothing() {
    let (dir, db, url) = database_with_nas().await;
    let before = std::fs::read(&db).unwrap();

    let not_sqlite = dir.path().join("notes.txt");
    std::fs::write(&not_sqlite, "SQLite? no, a shopping list\n".repeat(100)).unwrap();
    let foreign = dir.path().join("foreign.db");
    {
        use sqlx::Connection as _;
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&format!("{}?mode=rwc", sqlite_url(&foreign)))
            .await
            .unwrap();
        sqlx::query("CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT)")
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    }
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, "").unwrap();
    for (file, says) in [
        (&not_sqlite, "is not a SQLite database"),
        (&empty, "is not a SQLite database"),
        (&foreign, "not homelab-cmd's"),
        (&dir.path().join("missing.db"), "no database file"),
        (&dir.path().to_path_buf(), "no database file"),
    ] {
        let refused = homelab_cmd(&url, &["restore", path_str(file), "--yes"]).await;
        assert!(!refused.status.success(), "{file:?}");
        let stderr = text(&refused.stderr);
        assert!(stderr.contains(says), "{file:?}: {stderr}");
        assert_eq!(
            std::fs::read(&db).unwrap(),
            before,
            "{file:?}: target untouched"
        );
        assert!(named(dir.path(), "homelab-cmd.db.before-restore").is_empty());
        assert!(
            named(dir.path(), ".homelab-cmd.db").is_empty(),
            "no work file left"
        );
    }

    let unconfirmed = homelab_cmd(&url, &["restore", path_str(&foreign)]).await;
    assert!(
        text(&unconfirmed.stderr).contains("--yes"),
        "{unconfirmed:?}"
    );
}

#[tokio::test]
async fn postgres_is_backed_up_and_restored_with_its_own_tools() {
    // Refused from the URL alone, before any connection: no cluster needed.
    let url = "postgres://homelab:s3cret-pw@db.lan:5432/homelab";
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("b.db");
    let backup = homelab_cmd(url, &["backup", path_str(&file)]).await;
    assert!(!backup.status.success());
    let stderr = text(&backup.stderr);
    assert!(
        stderr.contains("pg_dump --format=custom --file=homelab-cmd.dump 'postgres://homelab@db.lan:5432/homelab'"),
        "{stderr}"
    );
    assert!(!file.exists());
    std::fs::write(&file, "x").unwrap();
    let restore = homelab_cmd(url, &["restore", path_str(&file), "--yes"]).await;
    assert!(!restore.status.success());
    let stderr_restore = text(&restore.stderr);
    assert!(stderr_restore.contains("pg_restore"), "{stderr_restore}");
    for out in [&backup, &restore] {
        assert!(!text(&out.stderr).contains("s3cret-pw"), "{out:?}");
        assert!(!text(&out.stdout).contains("s3cret-pw"), "{out:?}");
    }
}
