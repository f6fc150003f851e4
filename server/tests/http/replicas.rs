//! Several replicas on one PostgreSQL (issue 12): two real servers on one database,
//! driven over real HTTP. Needs `HOMELAB_TEST_POSTGRES_URL` (`./scripts/test` starts
//! a throw-away cluster); whatever backend the rest of the run uses, these run on
//! PostgreSQL, the only one replicas can share.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_replica};
use crate::live::Events;
use crate::sandbox::{Sandbox, finished};

/// Two replicas of one fresh PostgreSQL database, agents beating every `interval` s.
async fn two_replicas(interval: u32) -> (TestApp, TestApp) {
    let url = homelab_core::db::testing::fresh_postgres_url().await;
    let a = spawn_replica(&url, interval).await;
    let b = spawn_replica(&url, interval).await;
    (a, b)
}

fn apt_update() -> Value {
    json!({"action_type": "apt_update"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_starting_at_once_on_an_empty_database_migrate_it_once() {
    let url = homelab_core::db::testing::fresh_postgres_url().await;
    let starts = (0..4).map(|_| homelab_server::db::Database::connect(&url));
    for started in futures::future::join_all(starts).await {
        started.expect("every replica starts");
    }
    let db = homelab_server::db::Database::connect(&url).await.unwrap();
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
            .fetch_all(db.pool())
            .await
            .unwrap();
    // Each file's number (`0005_action_previews.sql` is 5): numbers may skip.
    let mut expected: Vec<i64> = std::fs::read_dir(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../core/migrations/postgres"
    ))
    .unwrap()
    .map(|entry| {
        let name = entry.unwrap().file_name().into_string().unwrap();
        name.split('_').next().unwrap().parse().unwrap()
    })
    .collect();
    expected.sort();
    assert_eq!(applied, expected, "each migration once");
}

#[tokio::test]
async fn an_agent_long_polling_one_replica_gets_an_action_queued_on_the_other_at_once() {
    let (a, b) = two_replicas(60).await;
    let token = a.add_server("nas", "NAS").await;
    let started = Instant::now();
    let (claimed, created) = tokio::join!(
        async {
            let claimed = a.agent_next(&token, 25).await;
            (claimed, started.elapsed())
        },
        async {
            // Queued once the long-poll waits on replica A.
            tokio::time::sleep(Duration::from_millis(500)).await;
            let (status, created) = b
                .api_post("/api/v1/servers/nas/actions", &apt_update())
                .await;
            assert_eq!(status, 201, "{created}");
            (created, started.elapsed())
        },
    );
    let ((claimed, claimed_at), (created, created_at)) = (claimed, created);
    let claimed = claimed.expect("replica A handed the action out");
    assert_eq!(claimed["id"], created["id"]);
    let latency = claimed_at.saturating_sub(created_at);
    // Woken by replica B's notification, not by the end of its 25 s wait (the
    // latency itself is measured in docs/BENCHMARKS.md).
    assert!(latency < Duration::from_secs(10), "{latency:?}");
    eprintln!("queued on B, claimed through A {latency:?} later");
}

#[tokio::test]
async fn a_hundred_identical_apt_requests_across_two_replicas_create_one_action() {
    let (a, b) = two_replicas(60).await;
    a.add_server("nas", "NAS").await;
    let body = apt_update();
    let requests = (0..100).map(|i| {
        let replica = if i % 2 == 0 { &a } else { &b };
        replica.api_post("/api/v1/servers/nas/actions", &body)
    });
    let answers = futures::future::join_all(requests).await;
    let created: Vec<&Value> = answers
        .iter()
        .filter(|(s, _)| *s == 201)
        .map(|(_, b)| b)
        .collect();
    let refused = answers.iter().filter(|(s, _)| *s == 409).count();
    assert_eq!((created.len(), refused), (1, 99), "{answers:?}");
    // Every refusal names the one action.
    assert!(
        answers
            .iter()
            .filter(|(s, _)| *s == 409)
            .all(|(_, body)| body["existing_action_id"] == created[0]["id"])
    );
    let (_, history) = b.api_get("/api/v1/actions?server_id=nas").await;
    assert_eq!(history["actions"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn claims_through_two_replicas_at_once_hand_each_action_out_once() {
    let (a, b) = two_replicas(60).await;
    let token = a.add_server("nas", "NAS").await;
    let mut queued = Vec::new();
    for unit in ["one", "two", "three"] {
        let (status, created) = b
            .api_post(
                "/api/v1/servers/nas/actions",
                &json!({"action_type": "restart_service", "parameters": {"unit": unit}}),
            )
            .await;
        assert_eq!(status, 201, "{created}");
        queued.push(created["id"].as_i64().unwrap());
    }
    // Eight claims at once, half through each replica (an agent retried through the
    // other, or two agents holding one token): three actions, each handed out once.
    let claims = (0..8).map(|i| if i % 2 == 0 { &a } else { &b }.agent_next(&token, 0));
    let mut claimed: Vec<i64> = futures::future::join_all(claims)
        .await
        .into_iter()
        .flatten()
        .map(|next| next["id"].as_i64().unwrap())
        .collect();
    claimed.sort();
    assert_eq!(claimed, queued);
}

#[tokio::test]
async fn a_page_on_one_replica_hears_changes_made_through_the_other() {
    let (a, b) = two_replicas(60).await;
    let response = a.client.get(a.url("/events")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let mut events = Events {
        response,
        buffer: String::new(),
    };
    assert_eq!(events.next().await.unwrap().0, "hello");
    let (status, _) = b
        .api_post("/api/v1/servers", &json!({"id": "pi", "name": "Pi"}))
        .await;
    assert_eq!(status, 201);
    assert_eq!(
        events.change().await,
        json!({"kind": "server", "server": "pi"})
    );
    let (status, created) = b
        .api_post("/api/v1/servers/pi/actions", &apt_update())
        .await;
    assert_eq!(status, 201);
    assert_eq!(
        events.change().await,
        json!({"kind": "action", "id": created["id"], "server": "pi"})
    );
    // The session B's client made (at B's login) opens pages on A too: sessions
    // live in the database.
    let page = b.client.get(a.url("/")).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
}

#[tokio::test]
async fn when_one_replica_stops_mid_long_poll_the_real_agent_carries_on_through_the_other() {
    let sandbox = Sandbox::new().await;
    let (a, b) = two_replicas(2).await;
    let token = a.add_server("sandbox", "Sandbox host").await;
    let _agent = sandbox.start_agent_on(&format!("{},{}", a.base, b.base), &token);
    wait_until_seen(&b, |_| true).await;

    // Replica A goes away while the agent long-polls it.
    let last_seen_before = server(&b).await["last_seen_ms"].as_i64().unwrap();
    drop(a);
    // The agent goes on through B: its heartbeats arrive there...
    wait_until_seen(&b, |s| {
        s["last_seen_ms"].as_i64().unwrap() > last_seen_before + 2_000
    })
    .await;
    // ...and an action queued on B runs and its result is kept.
    let (status, created) = b
        .api_post("/api/v1/servers/sandbox/actions", &apt_update())
        .await;
    assert_eq!(status, 201, "{created}");
    let done = finished(&b, &created["id"]).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert!(
        done["stdout"]
            .as_str()
            .unwrap()
            .contains("Reading package lists"),
        "{done}"
    );
}

async fn server(app: &TestApp) -> Value {
    let (status, body) = app.api_get("/api/v1/servers/sandbox").await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Waits (up to 60 s) until the sandbox server, as `app` reads it, has reported and
/// `done` holds.
async fn wait_until_seen(app: &TestApp, done: impl Fn(&Value) -> bool) {
    for _ in 0..120 {
        let s = server(app).await;
        if s["last_seen_ms"].is_i64() && done(&s) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("the sandbox agent did not report through {}", app.base);
}
