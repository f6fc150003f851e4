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
use crate::sandbox::{Sandbox, finished};

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

    /// Waits until the double was asked to reboot, and takes the note away.
    async fn reboot_requested(&self) {
        let note = self.path("reboot-requested");
        for _ in 0..120 {
            if note.exists() {
                std::fs::remove_file(note).unwrap();
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        panic!("the agent never ran `systemctl reboot`");
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
    machine.reboot_requested().await;
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
    machine.reboot_requested().await;
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
