//! The config file on the real binary: flags beat the environment, which beats the
//! file, which beats the defaults; a bad file stops it with the key and line.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncBufReadExt as _;
use tokio::process::Command;

use crate::helpers::{homelab_cmd_with, text};

fn url(dir: &Path, name: &str) -> String {
    format!("sqlite://{}", dir.join(name).display())
}

#[tokio::test]
async fn flags_beat_the_environment_which_beats_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!("database_url = {:?}\n", url(dir.path(), "file.db")),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let env_url = url(dir.path(), "env.db");
    let flag_url = url(dir.path(), "flag.db");
    for (env, extra, expected) in [
        (vec![("HOMELAB_CONFIG", config)], vec![], "file.db"),
        (
            vec![
                ("HOMELAB_CONFIG", config),
                ("DATABASE_URL", env_url.as_str()),
            ],
            vec![],
            "env.db",
        ),
        (
            vec![("DATABASE_URL", env_url.as_str())],
            vec!["--config", config, "--database-url", flag_url.as_str()],
            "flag.db",
        ),
    ] {
        let mut args = vec!["server", "add", "nas", "NAS"];
        args.extend(extra);
        let out = homelab_cmd_with(&env, &args).await;
        assert!(out.status.success(), "{out:?}");
        assert!(dir.path().join(expected).exists(), "{expected}: {out:?}");
    }
}

#[tokio::test]
async fn serve_listens_where_the_file_says_and_a_bad_file_stops_it_by_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "# homelab-cmd\nlisten = \"127.0.0.1:0\"\ndatabase_url = {:?}\nsite_root = {:?}\n",
            url(dir.path(), "served.db"),
            dir.path().display().to_string(),
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_homelab-cmd"))
        .env_clear()
        .env("RUST_LOG", "warn")
        .args(["serve", "--config", config.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    // A fresh database prints its first account's password before the address.
    let line = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let line = lines.next_line().await.unwrap().expect("serve runs");
            if line.contains("is running") {
                return line;
            }
        }
    })
    .await
    .expect("serve starts");
    assert!(line.contains("http://127.0.0.1:"), "{line}");
    assert!(
        !line.contains(":3000/"),
        "the file's port 0, not the default: {line}"
    );
    assert!(dir.path().join("served.db").exists());
    child.kill().await.unwrap();

    std::fs::write(
        &config,
        "database_url = \"postgres://homelab:hunter2@db/homelab\"\n\nlistn = \"0.0.0.0:80\"\n",
    )
    .unwrap();
    let out = homelab_cmd_with(&[], &["serve", "--config", config.to_str().unwrap()]).await;
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("config.toml line 3: unknown key `listn`"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");

    let missing = dir.path().join("missing.toml");
    let out = homelab_cmd_with(
        &[("HOMELAB_CONFIG", missing.to_str().unwrap())],
        &["api-token", "list"],
    )
    .await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("cannot read config file"),
        "{out:?}"
    );
}
