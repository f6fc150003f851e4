//! The real agent in a real Debian root (scripts/sandbox/make-host.sh) reporting to
//! the real server over loopback. Needs root (chroot) like the rest of the suite.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::process::{Child, Command};

use crate::helpers::{TestApp, spawn_app_with_interval};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// The agent binary cargo built next to this test (scripts/test builds it first).
fn agent_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("HOMELAB_AGENT_BIN") {
        return path.into();
    }
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/http-<hash> -> target/<profile>/homelab-agent
    let path = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("homelab-agent");
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build -p homelab-agent` (scripts/test does)",
        path.display()
    );
    path
}

/// A fresh sandbox host: a Debian root with the known pending updates.
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    async fn new() -> Sandbox {
        assert!(
            running_as_root(),
            "the sandbox tests need root (chroot); run the suite as root"
        );
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new(repo_root().join("scripts/sandbox/make-host.sh"))
            .arg(dir.path())
            .status()
            .await
            .unwrap();
        assert!(status.success(), "make-host.sh failed");
        std::fs::copy(
            agent_binary(),
            dir.path().join("root/usr/local/bin/homelab-agent"),
        )
        .unwrap();
        Sandbox { dir }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// Runs a command inside the root and insists that it succeeds.
    async fn chroot(&self, argv: &[&str]) {
        let out = Command::new("chroot")
            .arg(self.root())
            .args(argv)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .env("LANG", "C")
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{argv:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts the real agent inside the root; it stops when the handle is dropped.
    fn start_agent(&self, app: &TestApp, token: &str) -> Child {
        Command::new("chroot")
            .arg(self.root())
            .args([
                "/usr/local/bin/homelab-agent",
                "--server",
                &app.base,
                "--token",
                token,
            ])
            .args(["--state-dir", "/var/lib/homelab-agent"])
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap()
    }
}

fn running_as_root() -> bool {
    // The effective uid is the second field of the Uid: line.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// Polls the packages of `id` until `done` holds (or fails after 60 s).
async fn wait_for_packages(
    app: &TestApp,
    id: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    for _ in 0..120 {
        let (status, body) = app.api_get(&format!("/api/v1/servers/{id}/packages")).await;
        assert_eq!(status, 200, "{body}");
        if done(&body) {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("timed out waiting for {what}");
}

fn names(list: &Value) -> Vec<&str> {
    list["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn the_real_agent_reports_the_sandbox_updates_and_follows_apt() {
    let sandbox = Sandbox::new().await;
    let app = spawn_app_with_interval(1).await;
    let token = app.add_server("sandbox", "Sandbox host").await;
    let _agent = sandbox.start_agent(&app, &token);

    let list = wait_for_packages(&app, "sandbox", "the first scan", |l| {
        !l["packages"].as_array().unwrap().is_empty()
    })
    .await;
    let package = |name: &str| -> Value {
        let mut p = list["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{name} missing: {list}"))
            .clone();
        p.as_object_mut().unwrap().remove("name");
        p
    };
    let expect = |current: &str, new: &str, repo: &str, security: Option<&str>, held, kept_back| {
        json!({"current_version": current, "new_version": new, "repository": repo,
               "is_security": security.is_some(), "security_version": security,
               "held": held, "kept_back": kept_back})
    };
    assert_eq!(
        names(&list),
        [
            "hl-epoch",
            "hl-openssl",
            "hl-tzdata",
            "hl-held",
            "hl-keptback",
            "hl-normal",
            "hl-security-tools"
        ]
    );
    assert_eq!(
        package("hl-normal"),
        expect("1.0-1", "1.1-1", "bookworm-updates", None, false, false)
    );
    assert_eq!(
        package("hl-openssl"),
        expect(
            "3.0.1-1",
            "3.0.1-1+deb12u1",
            "bookworm-security",
            Some("3.0.1-1+deb12u1"),
            false,
            false
        )
    );
    assert_eq!(
        package("hl-security-tools"),
        expect("2.0-1", "2.1-1", "bookworm-updates", None, false, false)
    );
    assert_eq!(
        package("hl-tzdata"),
        expect(
            "2024a-1",
            "2025b-0+deb12u1",
            "bookworm-updates",
            Some("2024a-1+deb12u1"),
            false,
            false
        )
    );
    assert_eq!(
        package("hl-held"),
        expect("1.0-1", "1.1-1", "bookworm-updates", None, true, false)
    );
    assert_eq!(
        package("hl-keptback"),
        expect("1.0-1", "2.0-1", "bookworm-updates", None, false, true)
    );
    assert_eq!(
        package("hl-epoch"),
        expect(
            "1:1.0-1",
            "1:1.0-2",
            "bookworm-security",
            Some("1:1.0-2"),
            false,
            false
        )
    );
    assert_eq!(
        (list["total"].as_u64(), list["security"].as_u64()),
        (Some(5), Some(3))
    );

    let (_, server) = app.api_get("/api/v1/servers/sandbox").await;
    assert_eq!(server["status"], "online");
    assert_eq!(server["os"], "Debian GNU/Linux 12 (bookworm)");

    // Installing one update inside the machine: the next heartbeat drops it.
    sandbox
        .chroot(&["apt-get", "install", "-y", "-q", "hl-normal"])
        .await;
    wait_for_packages(&app, "sandbox", "hl-normal to go", |l| {
        !names(l).contains(&"hl-normal")
    })
    .await;

    // Everything installed, nothing held: the list empties and the server clears it.
    sandbox.chroot(&["apt-mark", "unhold", "hl-held"]).await;
    sandbox
        .chroot(&["apt-get", "dist-upgrade", "-y", "-q"])
        .await;
    let empty = wait_for_packages(&app, "sandbox", "an empty list", |l| names(l).is_empty()).await;
    assert_eq!(
        (empty["total"].as_u64(), empty["security"].as_u64()),
        (Some(0), Some(0))
    );
}
