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
pub(crate) struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    pub(crate) async fn new() -> Sandbox {
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

    pub(crate) fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// Runs a command inside the root and insists that it succeeds.
    pub(crate) async fn chroot(&self, argv: &[&str]) {
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

    /// Publishes a package version into the root's repository
    /// (`scripts/sandbox/add-package.sh`), apt's lists updated.
    async fn publish(&self, suite: &str, name: &str, version: &str, control: &[&str]) {
        self.publish_with_postinst(suite, name, version, control, None)
            .await;
    }

    /// [`Self::publish`], the package running `postinst` (a shell script body) when
    /// it is installed.
    pub(crate) async fn publish_with_postinst(
        &self,
        suite: &str,
        name: &str,
        version: &str,
        control: &[&str],
        postinst: Option<&str>,
    ) {
        let mut command = Command::new(repo_root().join("scripts/sandbox/add-package.sh"));
        if let Some(body) = postinst {
            command.env("POSTINST", body);
        }
        let status = command
            .arg(self.dir.path())
            .args([suite, name, version])
            .args(control)
            .stdout(Stdio::null())
            .status()
            .await
            .unwrap();
        assert!(status.success(), "add-package.sh {name} {version} failed");
    }

    /// Starts the real agent inside the root; it stops when the handle is dropped.
    /// apt waits one second for the dpkg lock per attempt, to keep lock tests short.
    pub(crate) fn start_agent(&self, app: &TestApp, token: &str) -> Child {
        self.start_agent_on(&app.base, token)
    }

    /// Starts the real agent inside the root, given its `--server` (one URL, or a
    /// comma-separated list of replicas).
    pub(crate) fn start_agent_on(&self, servers: &str, token: &str) -> Child {
        std::fs::write(
            self.root().join("etc/homelab-agent.toml"),
            "apt_lock_wait = 1\n",
        )
        .unwrap();
        Command::new("chroot")
            .arg(self.root())
            .args([
                "/usr/local/bin/homelab-agent",
                "--server",
                servers,
                "--token",
                token,
            ])
            .args([
                "--state-dir",
                "/var/lib/homelab-agent",
                "--config",
                "/etc/homelab-agent.toml",
            ])
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap()
    }

    /// The pids and command lines of the processes running inside this root.
    fn processes_inside(&self) -> Vec<(i32, String)> {
        let root = std::fs::canonicalize(self.root()).unwrap();
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|entry| {
                let pid = entry.file_name().to_string_lossy().parse::<i32>().ok()?;
                let inside = std::fs::read_link(entry.path().join("root")).ok()? == root;
                let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
                inside.then(|| (pid, String::from_utf8_lossy(&cmdline).replace('\0', " ")))
            })
            .collect()
    }

    /// SIGKILLs every process whose root directory is this sandbox's root.
    fn kill_everything_inside(&self) {
        for (pid, _) in self.processes_inside() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }

    /// The installed version of each package.
    pub(crate) async fn versions(&self, names: &[&str]) -> Vec<(String, String)> {
        let out = Command::new("chroot")
            .arg(self.root())
            .args(["dpkg-query", "-W", "-f", "${Package} ${Version}\\n"])
            .args(names)
            .output()
            .await
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| {
                let (name, version) = l.split_once(' ').unwrap();
                (name.to_owned(), version.to_owned())
            })
            .collect()
    }

    /// Holds dpkg's frontend lock the way apt does (an fcntl lock) until dropped.
    async fn hold_dpkg_lock(&self) -> Child {
        use tokio::io::AsyncReadExt;
        let lock = self.root().join("var/lib/dpkg/lock-frontend");
        let script = "import fcntl, sys, time\n\
                      f = open(sys.argv[1], 'w')\n\
                      fcntl.lockf(f, fcntl.LOCK_EX)\n\
                      print('locked', flush=True)\n\
                      time.sleep(3600)\n";
        let script_path = self.dir.path().join("hold-lock.py");
        std::fs::write(&script_path, script).unwrap();
        let mut holder = Command::new("python3")
            .arg(&script_path)
            .arg(&lock)
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut line = [0u8; 7];
        holder
            .stdout
            .as_mut()
            .unwrap()
            .read_exact(&mut line)
            .await
            .unwrap();
        assert_eq!(&line, b"locked\n");
        holder
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
pub(crate) async fn wait_for_packages(
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

/// Queues an action through the JSON API.
async fn queue(app: &TestApp, action_type: &str, parameters: Value) -> Value {
    let (status, body) = app
        .api_post(
            "/api/v1/servers/sandbox/actions",
            &json!({"action_type": action_type, "parameters": parameters}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body
}

/// Polls an action until it has finished (or fails after 120 s).
pub(crate) async fn finished(app: &TestApp, id: &Value) -> Value {
    for _ in 0..240 {
        let (_, action) = app.api_get(&format!("/api/v1/actions/{id}")).await;
        if matches!(action["status"].as_str(), Some("completed" | "failed")) {
            return action;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("action {id} did not finish");
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
    assert_eq!(server["reboot_required"], false);

    // What the kernel or libc packages leave behind when they want a reboot.
    let run = sandbox.root().join("run");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::write(
        run.join("reboot-required"),
        "*** System restart required ***\n",
    )
    .unwrap();
    std::fs::write(
        run.join("reboot-required.pkgs"),
        "linux-image-amd64\nlibc6\nlibc6\n",
    )
    .unwrap();
    let mut server = Value::Null;
    for _ in 0..40 {
        server = app.api_get("/api/v1/servers/sandbox").await.1;
        if server["reboot_required"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(server["reboot_required"], true);
    assert_eq!(
        server["reboot_required_pkgs"],
        json!(["libc6", "linux-image-amd64"])
    );

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

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

#[tokio::test]
async fn apt_actions_run_for_real_in_the_sandbox() {
    let sandbox = Sandbox::new().await;
    let app = spawn_app_with_interval(60).await;
    let token = app.add_server("sandbox", "Sandbox host").await;
    let _agent = sandbox.start_agent(&app, &token);
    wait_for_packages(&app, "sandbox", "the first scan", |l| l["total"] == 5).await;

    let update = finished(&app, &queue(&app, "apt_update", Value::Null).await["id"]).await;
    assert_eq!(update["status"], "completed", "{update}");
    assert!(
        update["stdout"]
            .as_str()
            .unwrap()
            .contains("Reading package lists"),
        "{update}"
    );

    // Only the security packages change, each to its security version.
    let security = queue(&app, "apt_upgrade_security", Value::Null).await;
    assert_eq!(
        security["argv"],
        json!([
            "apt-get",
            "install",
            "--only-upgrade",
            "-y",
            "--",
            "hl-epoch=1:1.0-2",
            "hl-openssl=3.0.1-1+deb12u1",
            "hl-tzdata=2024a-1+deb12u1"
        ])
    );
    let security = finished(&app, &security["id"]).await;
    assert_eq!(security["status"], "completed", "{security}");
    let all = [
        "hl-epoch",
        "hl-held",
        "hl-keptback",
        "hl-normal",
        "hl-openssl",
        "hl-security-tools",
        "hl-tzdata",
    ];
    assert_eq!(
        sandbox.versions(&all).await,
        pairs(&[
            ("hl-epoch", "1:1.0-2"),
            ("hl-held", "1.0-1"),
            ("hl-keptback", "1.0-1"),
            ("hl-normal", "1.0-1"),
            ("hl-openssl", "3.0.1-1+deb12u1"),
            ("hl-security-tools", "2.0-1"),
            ("hl-tzdata", "2024a-1+deb12u1"),
        ])
    );
    // The agent rescans after an apt action: no security update is left.
    wait_for_packages(&app, "sandbox", "the rescan", |l| l["security"] == 0).await;

    // Everything installable; the held and the kept-back package stay.
    let upgrade = finished(
        &app,
        &queue(&app, "apt_upgrade_all", Value::Null).await["id"],
    )
    .await;
    assert_eq!(upgrade["status"], "completed", "{upgrade}");
    assert_eq!(
        sandbox.versions(&all).await,
        pairs(&[
            ("hl-epoch", "1:1.0-2"),
            ("hl-held", "1.0-1"),
            ("hl-keptback", "1.0-1"),
            ("hl-normal", "1.1-1"),
            ("hl-openssl", "3.0.1-1+deb12u1"),
            ("hl-security-tools", "2.1-1"),
            ("hl-tzdata", "2025b-0+deb12u1"),
        ])
    );
    let left = wait_for_packages(&app, "sandbox", "the rescan", |l| l["total"] == 0).await;
    assert_eq!(names(&left), ["hl-held", "hl-keptback"]);
}

#[tokio::test]
async fn refused_and_failing_commands_end_failed_with_the_reason() {
    let sandbox = Sandbox::new().await;
    let app = spawn_app_with_interval(60).await;
    let token = app.add_server("sandbox", "Sandbox host").await;

    // A command the server would never build, planted in the database: the agent's
    // whitelist is the last line of defence.
    let planted = queue(&app, "restart_service", json!({"unit": "nginx"})).await;
    sqlx::query("UPDATE actions SET argv = $1 WHERE id = $2")
        .bind(r#"["touch", "/tmp/pwned"]"#)
        .bind(planted["id"].as_i64().unwrap())
        .execute(app.db.pool())
        .await
        .unwrap();
    let _agent = sandbox.start_agent(&app, &token);
    let refused = finished(&app, &planted["id"]).await;
    assert_eq!(
        (refused["status"].as_str(), refused["failure"].as_str()),
        (Some("failed"), Some("not_whitelisted"))
    );
    assert!(
        refused["stderr"].as_str().unwrap().contains("whitelist"),
        "{refused}"
    );
    assert!(
        !sandbox.root().join("tmp/pwned").exists(),
        "the refused command ran"
    );

    // There is no systemd in the sandbox root: restarting any unit fails, with the
    // error shown.
    let restart = finished(
        &app,
        &queue(&app, "restart_service", json!({"unit": "no-such.service"})).await["id"],
    )
    .await;
    assert_eq!(restart["status"], "failed", "{restart}");
    assert!(!restart["stderr"].as_str().unwrap().is_empty(), "{restart}");
}

#[tokio::test]
async fn a_held_dpkg_lock_is_waited_for_and_retried() {
    let sandbox = Sandbox::new().await;
    let app = spawn_app_with_interval(60).await;
    let token = app.add_server("sandbox", "Sandbox host").await;
    let _agent = sandbox.start_agent(&app, &token);

    // Released while the agent retries: the upgrade goes through.
    let holder = sandbox.hold_dpkg_lock().await;
    let upgrade = queue(&app, "apt_upgrade_all", Value::Null).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    drop(holder);
    let upgrade = finished(&app, &upgrade["id"]).await;
    assert_eq!(upgrade["status"], "completed", "{upgrade}");
    assert_eq!(
        sandbox.versions(&["hl-normal"]).await,
        pairs(&[("hl-normal", "1.1-1")])
    );

    // Never released: it fails, saying the lock was held.
    let _holder = sandbox.hold_dpkg_lock().await;
    let upgrade = finished(
        &app,
        &queue(&app, "apt_upgrade_all", Value::Null).await["id"],
    )
    .await;
    assert_eq!(
        (upgrade["status"].as_str(), upgrade["failure"].as_str()),
        (Some("failed"), Some("exit_code"))
    );
    let stderr = upgrade["stderr"].as_str().unwrap();
    assert!(
        stderr.contains("lock was still held after 4 attempts"),
        "{stderr}"
    );
    assert!(stderr.contains("lock-frontend"), "{stderr}");
}

#[tokio::test]
async fn an_action_interrupted_by_an_agent_crash_is_reported_and_never_run_again() {
    let sandbox = Sandbox::new().await;
    let app = spawn_app_with_interval(60).await;
    let token = app.add_server("sandbox", "Sandbox host").await;
    let mut agent = sandbox.start_agent(&app, &token);

    // The lock keeps apt waiting, so the agent is killed mid-action.
    let holder = sandbox.hold_dpkg_lock().await;
    let upgrade = queue(&app, "apt_upgrade_all", Value::Null).await;
    let id = upgrade["id"].clone();
    // Wait until apt itself runs (the agent has recorded the action as running):
    // a crash between the claim and that record is the lease's case, not this one.
    // The agent claims after its first heartbeat; on a loaded machine that and the
    // claim take seconds.
    // The real run, not a simulation (`-s`: the package scan, the check before an
    // automatically approved upgrade), which runs apt-get too.
    for _ in 0..600 {
        if sandbox.processes_inside().iter().any(|(_, cmd)| {
            cmd.starts_with("apt-get")
                && cmd.contains("upgrade")
                && !cmd.split(' ').any(|word| word == "-s")
        }) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(action_status(&app, &id).await, "executing");
    agent.kill().await.unwrap();
    // apt runs in its own process group; a real crash takes the whole unit down.
    sandbox.kill_everything_inside();
    drop(holder);

    let _agent = sandbox.start_agent(&app, &token);
    let done = finished(&app, &id).await;
    assert_eq!(
        (done["status"].as_str(), done["failure"].as_str()),
        (Some("failed"), Some("interrupted"))
    );
    // It was not run again: nothing was upgraded.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        sandbox.versions(&["hl-normal"]).await,
        pairs(&[("hl-normal", "1.0-1")])
    );
}

async fn action_status(app: &TestApp, id: &Value) -> String {
    let (_, action) = app.api_get(&format!("/api/v1/actions/{id}")).await;
    action["status"].as_str().unwrap_or_default().to_owned()
}

/// Polls an action until `done` holds (or fails after 60 s).
async fn action_until(
    app: &TestApp,
    id: &Value,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    for _ in 0..120 {
        let (_, action) = app.api_get(&format!("/api/v1/actions/{id}")).await;
        if done(&action) {
            return action;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("action {id}: timed out waiting for {what}");
}

#[tokio::test]
async fn an_auto_approved_upgrade_that_would_remove_a_package_is_held_and_nothing_runs() {
    let sandbox = Sandbox::new().await;
    // A security fix whose new version needs a package that conflicts with an
    // installed one: `apt-get install --only-upgrade` (the security upgrade's
    // command) would remove hl-victim.
    sandbox.publish("bookworm", "hl-victim", "1.0-1", &[]).await;
    sandbox
        .publish("bookworm", "hl-remover", "1.0-1", &[])
        .await;
    sandbox
        .chroot(&[
            "apt-get",
            "install",
            "-y",
            "-q",
            "hl-victim",
            "hl-remover=1.0-1",
        ])
        .await;
    sandbox
        .publish(
            "bookworm-security",
            "hl-newdep",
            "1.0-1",
            &["Conflicts: hl-victim"],
        )
        .await;
    sandbox
        .publish(
            "bookworm-security",
            "hl-remover",
            "1.0-1+deb12u1",
            &["Depends: hl-newdep"],
        )
        .await;
    let before = [
        "hl-epoch",
        "hl-openssl",
        "hl-remover",
        "hl-tzdata",
        "hl-victim",
    ];
    let installed_before = sandbox.versions(&before).await;

    let app = spawn_app_with_interval(60).await;
    let token = app.add_server("sandbox", "Sandbox host").await;
    let _agent = sandbox.start_agent(&app, &token);
    wait_for_packages(&app, "sandbox", "hl-remover's security fix", |l| {
        names(l).contains(&"hl-remover") && l["security"] == 4
    })
    .await;

    // The server approves it by itself (policy auto): the agent checks first.
    let upgrade = queue(&app, "apt_upgrade_security", Value::Null).await;
    assert_eq!(upgrade["approved_by"], "auto");
    assert!(
        upgrade["argv"]
            .as_array()
            .unwrap()
            .contains(&json!("hl-remover=1.0-1+deb12u1")),
        "{upgrade}"
    );
    let held = action_until(&app, &upgrade["id"], "the hold", |a| {
        a["hold_reason"].is_string()
    })
    .await;
    assert_eq!(held["status"], "pending", "{held}");
    assert_eq!(held["hold_reason"], "held: apt would remove hl-victim");
    let preview = &held["preview"]["outcome"]["simulated"];
    assert_eq!(
        preview["removed"],
        json!([{"name": "hl-victim", "version": "1.0-1"}]),
        "{held}"
    );
    assert_eq!(
        preview["installed"],
        json!([{"name": "hl-newdep", "version": "1.0-1"}])
    );
    let upgraded: Vec<&str> = preview["upgraded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        upgraded,
        ["hl-epoch", "hl-openssl", "hl-remover", "hl-tzdata"]
    );
    // Nothing ran: every package is as it was, hl-victim still installed.
    assert_eq!(sandbox.versions(&before).await, installed_before);

    // Asked again from the API: the idle agent simulates at once, claims nothing.
    let taken = held["preview"]["taken_at_ms"].as_i64().unwrap();
    let (status, body) = app
        .api_post(
            &format!("/api/v1/actions/{}/preview", upgrade["id"]),
            &json!({}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let again = action_until(&app, &upgrade["id"], "a fresh preview", |a| {
        a["preview"]["taken_at_ms"].as_i64() > Some(taken)
    })
    .await;
    assert_eq!(again["status"], "pending");
    assert_eq!(again["preview_requested_at_ms"], Value::Null);
    assert_eq!(
        again["preview"]["outcome"]["simulated"]["removed"],
        preview["removed"]
    );
    assert_eq!(sandbox.versions(&before).await, installed_before);

    // A person approves, having seen it: it runs, and apt removes hl-victim.
    let (status, body) = app
        .api_post(
            &format!("/api/v1/actions/{}/approve", upgrade["id"]),
            &json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let done = finished(&app, &upgrade["id"]).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(
        sandbox.versions(&["hl-newdep", "hl-remover"]).await,
        pairs(&[("hl-newdep", "1.0-1"), ("hl-remover", "1.0-1+deb12u1")])
    );
    assert!(
        sandbox
            .versions(&["hl-victim"])
            .await
            .iter()
            .all(|(_, v)| v.is_empty())
    );
}
