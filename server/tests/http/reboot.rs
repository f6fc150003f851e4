//! The reboot flow end to end: the real server, and the real agent in a Debian root
//! whose `systemctl` is a test double. The double only notes that a reboot was asked
//! for; the test then plays the machine: it stops the agent as a shutdown would,
//! and either boots again (a new boot id in the root's
//! `/proc/sys/kernel/random/boot_id`, which is a plain file there, and the agent
//! started again) or stays down.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::process::Child;

use crate::helpers::{TestApp, spawn_app_with_timeouts};
use crate::sandbox::{Sandbox, finished, wait_for_packages};

const FIRST_BOOT: &str = "6f1c1d2e-0a4b-4c5d-8e9f-000000000001";
const SECOND_BOOT: &str = "6f1c1d2e-0a4b-4c5d-8e9f-000000000002";

/// `systemctl` inside the root: `reboot` leaves a note and answers at once, as
/// systemd does when it starts a shutdown; anything else fails.
const SYSTEMCTL_DOUBLE: &str = "#!/bin/sh\n\
    # Test double planted by server/tests/http/reboot.rs.\n\
    [ \"$*\" = reboot ] || { echo \"systemctl double: only 'reboot', not '$*'\" >&2; exit 1; }\n\
    date +%s > /reboot-requested\n\
    exit 0\n";

/// A sandbox machine that can be rebooted.
struct Machine {
    sandbox: Sandbox,
}

impl Machine {
    async fn new() -> Machine {
        let sandbox = Sandbox::new().await;
        let machine = Machine { sandbox };
        machine.boot(FIRST_BOOT);
        let systemctl = machine.sandbox.root().join("usr/bin/systemctl");
        std::fs::write(&systemctl, SYSTEMCTL_DOUBLE).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&systemctl, std::fs::Permissions::from_mode(0o755)).unwrap();
        machine
    }

    fn path(&self, inside: &str) -> PathBuf {
        self.sandbox.root().join(inside)
    }

    /// The kernel's boot id, as the agent reads it.
    fn boot(&self, id: &str) {
        let file = self.path("proc/sys/kernel/random/boot_id");
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, format!("{id}\n")).unwrap();
    }

    /// Waits until the double was asked to reboot, and takes the note away; false
    /// when it never was.
    async fn reboot_requested(&self) -> bool {
        let note = self.path("reboot-requested");
        for _ in 0..120 {
            if note.exists() {
                std::fs::remove_file(note).unwrap();
                return true;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        false
    }
}

/// Stops the agent as a shutdown does (SIGTERM, then wait for it to exit).
async fn shut_down(mut agent: Child) {
    let pid = agent.id().expect("the agent runs");
    let status = tokio::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .await
        .unwrap();
    assert!(status.success());
    tokio::time::timeout(Duration::from_secs(30), agent.wait())
        .await
        .expect("the agent stops on SIGTERM")
        .unwrap();
}

async fn reboot(app: &TestApp) -> Value {
    let (status, body) = app
        .api_post(
            "/api/v1/servers/sandbox/actions",
            &json!({"action_type": "reboot"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["argv"], json!(["systemctl", "reboot"]));
    body
}

async fn action(app: &TestApp, id: &Value) -> Value {
    app.api_get(&format!("/api/v1/actions/{id}")).await.1
}

/// Waits until the machine's agent has reported (the server knows its boot id).
async fn online(app: &TestApp) {
    for _ in 0..240 {
        let (_, server) = app.api_get("/api/v1/servers/sandbox").await;
        if server["status"] == "online" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("the agent never reported");
}

#[tokio::test]
async fn a_reboot_completes_when_the_machine_comes_back_and_fails_when_it_stays_down() {
    let machine = Machine::new().await;
    // Heartbeats every second; a reboot gets 5 s to come back.
    let app = spawn_app_with_timeouts(1, "reboot=5".parse().unwrap()).await;
    let token = app.add_server("sandbox", "Sandbox host").await;
    let agent = machine.sandbox.start_agent(&app, &token);
    online(&app).await;

    // The machine comes back.
    let first = reboot(&app).await;
    assert!(machine.reboot_requested().await, "no `systemctl reboot`");
    // The command answered, the agent beats on from the old boot: not done.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(action(&app, &first["id"]).await["status"], "executing");
    assert!(
        machine.path("var/lib/homelab-agent/reboot.json").exists(),
        "the agent recorded the reboot"
    );
    shut_down(agent).await;
    machine.boot(SECOND_BOOT);
    let agent = machine.sandbox.start_agent(&app, &token);
    let done = finished(&app, &first["id"]).await;
    assert_eq!(done["status"], "completed", "{done}");
    let stdout = done["stdout"].as_str().unwrap();
    assert!(
        stdout.contains(FIRST_BOOT) && stdout.contains(SECOND_BOOT),
        "{stdout}"
    );
    // The restarted agent settles its mark as it starts, beside its first heartbeat.
    let mark = machine.path("var/lib/homelab-agent/reboot.json");
    for _ in 0..100 {
        if !mark.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!mark.exists(), "the agent forgot the reboot once back");

    // The machine stays down: nothing reports a new boot within the limit.
    let second = reboot(&app).await;
    assert!(machine.reboot_requested().await, "no `systemctl reboot`");
    shut_down(agent).await;
    let failed = finished(&app, &second["id"]).await;
    assert_eq!(
        (failed["status"].as_str(), failed["failure"].as_str()),
        (Some("failed"), Some("timed_out")),
        "{failed}"
    );
    // Back long after: the failure stands, and the machine takes actions again.
    machine.boot(FIRST_BOOT);
    let _agent = machine.sandbox.start_agent(&app, &token);
    online(&app).await;
    assert_eq!(action(&app, &second["id"]).await["status"], "failed");
    let update = app
        .api_post(
            "/api/v1/servers/sandbox/actions",
            &json!({"action_type": "apt_update"}),
        )
        .await;
    assert_eq!(update.0, 201, "{}", update.1);
}

#[tokio::test]
async fn a_fleet_run_reboots_the_machine_its_upgrade_left_needing_it() {
    let machine = Machine::new().await;
    let sandbox = &machine.sandbox;
    // A kernel-like package: installed, then a security update whose postinst asks
    // for a reboot the way Debian's kernel and libc packages do.
    sandbox
        .publish_with_postinst("bookworm", "hl-kernel", "1.0-1", &[], None)
        .await;
    sandbox
        .chroot(&["apt-get", "install", "-y", "-q", "hl-kernel"])
        .await;
    sandbox
        .publish_with_postinst(
            "bookworm-security",
            "hl-kernel",
            "1.1-1",
            &[],
            Some(
                "touch /run/reboot-required\n\
                 echo hl-kernel >> /run/reboot-required.pkgs",
            ),
        )
        .await;
    let app = spawn_app_with_timeouts(1, "reboot=30".parse().unwrap()).await;
    let token = app.add_server("sandbox", "Sandbox host").await;
    let agent = sandbox.start_agent(&app, &token);
    wait_for_packages(&app, "sandbox", "hl-kernel's security update", |l| {
        l["packages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "hl-kernel" && p["is_security"] == true)
    })
    .await;

    let (status, run) = app
        .api_post(
            "/api/v1/runs",
            &json!({"action_type": "apt_upgrade_security", "servers": ["sandbox"],
                    "reboot_if_required": true}),
        )
        .await;
    assert_eq!(status, 201, "{run}");
    assert_eq!(run["reboot_if_required"], true);
    let run_path = format!("/api/v1/runs/{}", run["id"]);

    // The upgrade runs for real, its postinst asks for a reboot, the run reboots.
    let requested = machine.reboot_requested().await;
    let (_, seen) = app.api_get(&run_path).await;
    assert!(requested, "no `systemctl reboot`: {seen}");
    let item = &seen["items"][0];
    assert_eq!(item["state"], "queued", "{seen}");
    let reboot = item["reboot_action_id"].clone();
    assert!(reboot.is_i64(), "{seen}");
    assert_eq!(
        action(&app, &item["action_id"]).await["status"],
        "completed"
    );
    assert_eq!(
        sandbox.versions(&["hl-kernel"]).await,
        [("hl-kernel".to_owned(), "1.1-1".to_owned())]
    );

    // Back from a new boot, without the note (a real boot clears /run).
    shut_down(agent).await;
    std::fs::remove_file(machine.path("run/reboot-required")).unwrap();
    std::fs::remove_file(machine.path("run/reboot-required.pkgs")).unwrap();
    machine.boot(SECOND_BOOT);
    let _agent = sandbox.start_agent(&app, &token);
    assert_eq!(finished(&app, &reboot).await["status"], "completed");
    for _ in 0..100 {
        let (_, seen) = app.api_get(&run_path).await;
        if seen["status"] != "running" {
            assert_eq!(seen["status"], "completed", "{seen}");
            assert_eq!(seen["items"][0]["state"], "completed", "{seen}");
            assert_eq!(seen["items"][0]["reboot_action_id"], reboot, "{seen}");
            let (_, server) = app.api_get("/api/v1/servers/sandbox").await;
            assert_eq!(server["reboot_required"], false, "{server}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("the run did not finish once the machine was back");
}
