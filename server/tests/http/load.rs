//! Load that ends the way real load ends: clients closing their connections in the
//! middle of requests. Afterwards the server must take writes at once; before the fix,
//! one such run could leave SQLite write-locked until restart.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::spawn_app;

fn heartbeat(round: u64) -> Value {
    let packages: Vec<Value> = (0..50)
        .map(|i| {
            json!({
                "name": format!("pkg{i}"), "current_version": "1.0-1",
                "new_version": format!("1.{round}-1"), "repository": "bookworm-security",
                "is_security": true, "security_version": format!("1.{round}-1"),
                "held": false, "kept_back": false
            })
        })
        .collect();
    json!({
        "agent_version": "0.1.0", "os": "Debian GNU/Linux 12 (bookworm)", "hostname": "nas",
        "metrics": {"cpu_percent": 1.0, "memory_percent": 2.0, "disk_percent": 3.0,
                    "load_1": 0.0, "load_5": 0.0, "load_15": 0.0, "uptime_s": 1},
        "reboot_required": false, "reboot_required_pkgs": [], "packages": packages
    })
}

/// One client: sends heartbeats over fresh connections, and walks away from some of
/// them before, during or after the server's work.
async fn client(addr: String, token: String, seed: u64) {
    let mut state = seed;
    for round in 0.. {
        // A small LCG: deterministic per client, different between clients.
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        let body = heartbeat(seed * 1_000_000 + round).to_string();
        let request = format!(
            "POST /agent/v1/heartbeat HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let Ok(mut stream) = TcpStream::connect(&addr).await else {
            continue;
        };
        if stream.write_all(request.as_bytes()).await.is_err() {
            continue;
        }
        match (state >> 33) % 4 {
            // Read the whole answer.
            0 => {
                let mut sink = Vec::new();
                let _ = stream.read_to_end(&mut sink).await;
            }
            // Go away at once, or after a moment: mid-transaction, often.
            1 => {}
            n => tokio::time::sleep(Duration::from_micros((state >> 40) % (400 * n))).await,
        }
        drop(stream);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_clients_abandon_requests_mid_write_the_server_still_writes() {
    let app = spawn_app().await;
    let token = app.add_server("nas", "NAS").await;
    let addr = app.base.trim_start_matches("http://").to_owned();

    for pass in 0..3u64 {
        let clients: Vec<_> = (0..16)
            .map(|i| tokio::spawn(client(addr.clone(), token.clone(), pass * 100 + i + 1)))
            .collect();
        tokio::time::sleep(Duration::from_millis(700)).await;
        // Every connection closes wherever its request happens to be.
        for c in &clients {
            c.abort();
        }
        for c in clients {
            let _ = c.await;
        }

        // The server takes writes: a heartbeat, and an action.
        let (status, body) = app
            .post_json("/agent/v1/heartbeat", Some(&token), &heartbeat(999 + pass))
            .await;
        assert_eq!(status, 200, "pass {pass}: heartbeat after the load: {body}");
        let (status, body) = app
            .api_post(
                "/api/v1/servers/nas/actions",
                &json!({"action_type": "restart_service", "parameters": {"unit": format!("u{pass}")}}),
            )
            .await;
        assert_eq!(status, 201, "pass {pass}: action after the load: {body}");
    }
    // The last complete heartbeat is what is stored, whole.
    let (_, packages) = app.api_get("/api/v1/servers/nas/packages").await;
    assert_eq!(packages["total"], 50);
    assert!(
        packages["packages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["new_version"] == "1.1001-1"),
        "{packages}"
    );
}
