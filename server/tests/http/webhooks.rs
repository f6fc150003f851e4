//! Notifications (issue 15) end to end: the real server, a real agent's calls over
//! HTTP, and a real HTTP receiver on 127.0.0.1 that records what it gets and can be
//! told to refuse. Signatures are checked as a receiver would check them.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac as _};
use homelab_core::service::Backoff;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::helpers::{TestApp, spawn_app_with_backoff};

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    headers: HeaderMap,
    body: Bytes,
    /// What the receiver answered.
    status: u16,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    /// Whether its `X-Homelab-Signature` is the HMAC-SHA256 of its body with `secret`.
    fn signed_with(&self, secret: &str) -> bool {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(&self.body);
        let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        self.header("x-homelab-signature") == expected
    }
}

#[derive(Default)]
struct Log {
    received: Vec<Received>,
    /// Answer 500 to this many requests before answering 200.
    refuse: u32,
    /// Requests being answered now, and the most at once.
    open: u32,
    most_open: u32,
}

/// A local HTTP receiver: `POST /hook` records the request and answers 200, or 500
/// while told to refuse; each answer takes `delay`.
struct Receiver {
    url: String,
    log: Arc<Mutex<Log>>,
    _task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start(delay: Duration) -> Receiver {
        let log = Arc::new(Mutex::new(Log::default()));
        let handle = |State((log, delay)): State<(Arc<Mutex<Log>>, Duration)>,
                      headers: HeaderMap,
                      body: Bytes| async move {
            {
                let mut l = log.lock().unwrap();
                l.open += 1;
                l.most_open = l.most_open.max(l.open);
            }
            tokio::time::sleep(delay).await;
            let mut l = log.lock().unwrap();
            l.open -= 1;
            let status = if l.refuse > 0 {
                l.refuse -= 1;
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::OK
            };
            l.received.push(Received {
                headers,
                body,
                status: status.as_u16(),
            });
            status
        };
        let router = axum::Router::new()
            .route("/hook/{token}", axum::routing::post(handle))
            .with_state((log.clone(), delay));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Receiver {
            url: format!("http://{addr}/hook/s3cret-t0ken"),
            log,
            _task: task,
        }
    }

    fn refuse(&self, times: u32) {
        self.log.lock().unwrap().refuse = times;
    }

    fn received(&self) -> Vec<Received> {
        self.log.lock().unwrap().received.clone()
    }

    /// Every request so far, once `done` holds of them (within 20 s).
    async fn wait_for(&self, what: &str, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let start = Instant::now();
        loop {
            let got = self.received();
            if done(&got) {
                return got;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "waited 20 s for {what}; got {:?}",
                got.iter()
                    .map(|r| r.header("x-homelab-event"))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// What each request carried for `event`.
fn of(received: &[Received], event: &str) -> Vec<Received> {
    received
        .iter()
        .filter(|r| r.header("x-homelab-event") == event)
        .cloned()
        .collect()
}

fn quick() -> Backoff {
    Backoff {
        delays: vec![Duration::from_millis(200)],
        give_up_after: Duration::from_secs(3600),
        lease: Duration::from_secs(2),
        poll_every: Duration::from_millis(50),
    }
}

/// Creates a json webhook for `events` at `url`; returns its id and secret.
async fn json_webhook(app: &TestApp, url: &str, events: &[&str]) -> (i64, String) {
    let (status, created) = app
        .api_post(
            "/api/v1/webhooks",
            &json!({"name": "receiver", "url": url, "format": "json", "events": events}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let secret = created["secret"]
        .as_str()
        .expect("the secret, once")
        .to_owned();
    (created["id"].as_i64().unwrap(), secret)
}

fn heartbeat() -> Value {
    json!({
        "agent_version": "0.1.0", "os": "Debian GNU/Linux 12 (bookworm)",
        "metrics": {"cpu_percent": 1.0, "memory_percent": 2.0, "disk_percent": 3.0,
                    "load_1": 0.0, "load_5": 0.0, "load_15": 0.0, "uptime_s": 10},
        "reboot_required": false
    })
}

async fn beat(app: &TestApp, token: &str) {
    let (status, body) = app
        .post_json("/agent/v1/heartbeat", Some(token), &heartbeat())
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_failed_action_a_pending_approval_and_a_server_going_offline_and_back_each_deliver_one_signed_notification()
 {
    let receiver = Receiver::start(Duration::ZERO).await;
    // Agents beat every second: three silent seconds make a machine offline.
    let app = spawn_app_with_backoff(None, 1, quick()).await;
    let (_, secret) = json_webhook(
        &app,
        &receiver.url,
        &[
            "action.failed",
            "action.pending_approval",
            "server.offline",
            "server.online",
        ],
    )
    .await;
    let token = app.add_server("nas", "NAS").await;
    beat(&app, &token).await;

    // A failed action.
    let (status, created) = app
        .api_post(
            "/api/v1/servers/nas/actions",
            &json!({"action_type": "apt_update"}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let claimed = app.agent_next(&token, 0).await.expect("the action");
    let (status, body) = app
        .post_json(
            &format!("/agent/v1/actions/{}/result", claimed["id"]),
            Some(&token),
            &json!({"exit_code": 100, "stdout": "", "stderr": "E: no"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // A pending approval.
    let (status, body) = app
        .api_put("/api/v1/servers/nas/maintenance", &json!({"paused": true}))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, pending) = app
        .api_post(
            "/api/v1/servers/nas/actions",
            &json!({"action_type": "apt_update"}),
        )
        .await;
    assert_eq!(status, 201, "{pending}");

    // Offline: no heartbeat for three intervals; then back.
    receiver
        .wait_for("server.offline", |got| {
            !of(got, "server.offline").is_empty()
        })
        .await;
    beat(&app, &token).await;
    receiver
        .wait_for("server.online", |got| !of(got, "server.online").is_empty())
        .await;
    // Long enough for a second notification of anything to have come, were it sent.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got = receiver.received();

    for event in [
        "action.failed",
        "action.pending_approval",
        "server.offline",
        "server.online",
    ] {
        let sent = of(&got, event);
        assert_eq!(sent.len(), 1, "exactly one {event}");
        let r = &sent[0];
        assert!(r.signed_with(&secret), "{event} is signed with the secret");
        assert!(!r.signed_with("another secret entirely"));
        let doc = r.json();
        assert_eq!(doc["event"], event);
        assert_eq!(doc["server"], "nas");
        assert_eq!(r.header("x-homelab-delivery"), doc["delivery"].to_string());
        assert!(doc["summary"].as_str().unwrap().contains("nas"), "{doc}");
    }
    let failed = of(&got, "action.failed")[0].json();
    assert_eq!(failed["action"]["id"], claimed["id"]);
    assert_eq!(failed["action"]["failure"], "exit_code");
    let pending_sent = of(&got, "action.pending_approval")[0].json();
    assert_eq!(pending_sent["action"]["id"], pending["id"]);
    assert_eq!(got.len(), 4, "nothing else was sent");
}

#[tokio::test]
async fn a_receiver_refusing_three_times_gets_the_delivery_on_the_fourth_try_across_a_restart() {
    let receiver = Receiver::start(Duration::ZERO).await;
    receiver.refuse(3);
    let (url, _guard) = homelab_core::db::testing::fresh_url().await;
    let backoff = Backoff {
        delays: vec![Duration::from_millis(400)],
        ..quick()
    };
    let first = spawn_app_with_backoff(Some(&url), 60, backoff.clone()).await;
    let (id, secret) = json_webhook(&first, &receiver.url, &["run.finished"]).await;
    let (status, body) = first
        .api_post(&format!("/api/v1/webhooks/{id}/test"), &json!({}))
        .await;
    assert_eq!(status, 202, "{body}");
    receiver
        .wait_for("two refused tries", |got| got.len() >= 2)
        .await;
    // The dashboard stops between tries and starts again on the same database.
    drop(first);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let second = spawn_app_with_backoff(Some(&url), 60, backoff).await;
    receiver
        .wait_for("the delivery", |got| got.iter().any(|r| r.status == 200))
        .await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let got = receiver.received();
    let statuses: Vec<u16> = got.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [500, 500, 500, 200],
        "delivered on the fourth try, once"
    );
    let ids: Vec<&str> = got.iter().map(|r| r.header("x-homelab-delivery")).collect();
    assert!(
        ids.windows(2).all(|w| w[0] == w[1]),
        "one delivery, retried: {ids:?}"
    );
    assert!(got.iter().all(|r| r.signed_with(&secret)));

    let (status, hook) = second.api_get(&format!("/api/v1/webhooks/{id}")).await;
    assert_eq!(status, 200, "{hook}");
    let delivery = &hook["deliveries"][0];
    assert_eq!(delivery["status"], "delivered", "{hook}");
    assert_eq!(delivery["attempts"], 4);
    assert_eq!(delivery["last_status"], 200);
    assert_eq!(delivery["event"], "test");
}

#[tokio::test]
async fn a_webhook_is_shown_back_without_its_secret_or_the_token_in_its_url() {
    let app = spawn_app_with_backoff(None, 60, quick()).await;
    let (status, created) = app
        .api_post(
            "/api/v1/webhooks",
            &json!({"name": "chat", "url": "https://hooks.example/services/T0/B0/xyzzy-token",
                    "format": "chat", "events": ["run.finished"],
                    "secret": "my own secret, long enough"}),
        )
        .await;
    assert_eq!(status, 422, "a secret with spaces: {created}");
    let (status, created) = app
        .api_post(
            "/api/v1/webhooks",
            &json!({"name": "chat", "url": "https://hooks.example/services/T0/B0/xyzzy-token",
                    "format": "chat", "events": ["run.finished"],
                    "secret": "my-own-secret-long-enough"}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["secret"], "my-own-secret-long-enough");
    assert_eq!(created["url_masked"], "https://hooks.example/se…");
    let (status, listed) = app.api_get("/api/v1/webhooks").await;
    assert_eq!(status, 200);
    let text = listed.to_string();
    assert!(
        !text.contains("my-own-secret") && !text.contains("xyzzy"),
        "{text}"
    );
    assert_eq!(listed["webhooks"][0]["has_secret"], true);
    let (status, page) = app.get("/webhooks").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("https://hooks.example/se…"),
        "the page lists it"
    );
    assert!(!page.contains("xyzzy") && !page.contains("my-own-secret"));

    let id = created["id"].as_i64().unwrap();
    let delete = |id: i64| {
        app.client
            .delete(app.url(&format!("/api/v1/webhooks/{id}")))
            .bearer_auth(&app.api_token)
            .send()
    };
    assert_eq!(delete(id).await.unwrap().status().as_u16(), 204);
    assert_eq!(delete(id).await.unwrap().status().as_u16(), 404);
    let (status, _) = app
        .api_post(&format!("/api/v1/webhooks/{id}/test"), &json!({}))
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn worst_values_for_each_field_are_refused_naming_it_and_change_nothing() {
    let app = spawn_app_with_backoff(None, 60, quick()).await;
    let good = json!({"name": "phone", "url": "https://ntfy.example/topic", "format": "ntfy",
                      "events": ["action.failed"]});
    let with = |field: &str, value: Value| {
        let mut body = good.clone();
        body[field] = value;
        body
    };
    let huge_url = format!("https://example.org/{}", "a".repeat(100_000));
    for (body, field) in [
        (with("name", json!("")), "name"),
        (with("name", json!("bell\u{7}")), "name"),
        (with("name", json!("x".repeat(100_000))), "name"),
        (with("url", json!("javascript:alert(1)")), "url"),
        (with("url", json!("file:///etc/shadow")), "url"),
        (with("url", json!(huge_url)), "url"),
        (with("url", json!("https://ex ample.org/")), "url"),
        (with("url", json!("")), "url"),
        (with("format", json!("xml")), "format"),
        (with("events", json!([])), "events"),
        (with("events", json!(["server.exploded"])), "events"),
        (with("events", json!(["test"])), "events"),
        (with("secret", json!("short")), "secret"),
        (with("secret", json!("\u{0}".repeat(20))), "secret"),
        (with("events", json!("action.failed")), "events"),
        (with("name", json!(42)), "name"),
    ] {
        let (status, answer) = app.api_post("/api/v1/webhooks", &body).await;
        assert_eq!(status, 422, "{answer}");
        let message = answer["message"].as_str().unwrap();
        assert!(
            message.starts_with(field)
                || message.contains(&format!("`{field}`"))
                || message.contains(field),
            "{field}: {message}"
        );
        assert!(message.len() < 1000, "the message does not echo the value");
    }
    let (status, answer) = app
        .api_post("/api/v1/webhooks", &with("colour", json!("red")))
        .await;
    assert_eq!(status, 422, "{answer}");
    let (_, listed) = app.api_get("/api/v1/webhooks").await;
    assert_eq!(listed["webhooks"], json!([]), "nothing was created");
    let (status, answer) = app.api_post("/api/v1/webhooks", &good).await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(
        answer["secret"],
        Value::Null,
        "ntfy is not signed unless asked"
    );
    let (status, _) = app.api_post("/api/v1/webhooks", &good).await;
    assert_eq!(status, 409, "names are unique");
    let (status, _) = app.api_get("/api/v1/webhooks/999").await;
    assert_eq!(status, 404);
    let (status, _) = app.api_get("/api/v1/webhooks/nope").await;
    assert_eq!(status, 400);
}

/// PostgreSQL only: replicas share one database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_notify_an_offline_server_once_and_send_one_delivery_of_a_webhook_at_a_time() {
    let receiver = Receiver::start(Duration::from_millis(150)).await;
    let url = homelab_core::db::testing::fresh_postgres_url().await;
    let a = spawn_app_with_backoff(Some(&url), 1, quick()).await;
    let b = spawn_app_with_backoff(Some(&url), 1, quick()).await;
    let (id, secret) = json_webhook(&a, &receiver.url, &["server.offline"]).await;
    let token = a.add_server("nas", "NAS").await;
    beat(&b, &token).await;
    for _ in 0..6 {
        let (status, body) = b
            .api_post(&format!("/api/v1/webhooks/{id}/test"), &json!({}))
            .await;
        assert_eq!(status, 202, "{body}");
    }
    receiver
        .wait_for("six tests and the offline", |got| got.len() >= 7)
        .await;
    // Both replicas' presence jobs have run many times by now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let got = receiver.received();
    assert_eq!(of(&got, "server.offline").len(), 1, "offline notified once");
    assert_eq!(of(&got, "test").len(), 6);
    assert!(got.iter().all(|r| r.signed_with(&secret)));
    assert_eq!(
        receiver.log.lock().unwrap().most_open,
        1,
        "one delivery of the webhook in flight at a time"
    );
    // Oldest first.
    let tests: Vec<i64> = of(&got, "test")
        .iter()
        .map(|r| r.header("x-homelab-delivery").parse().unwrap())
        .collect();
    let mut sorted = tests.clone();
    sorted.sort_unstable();
    assert_eq!(tests, sorted);
}

#[tokio::test]
async fn the_dashboards_form_creates_a_webhook_from_its_checkboxes_and_refuses_worst_values() {
    use homelab_app::api::{CreateWebhook, DeleteWebhook, TestWebhook};
    let app = spawn_app_with_backoff(None, 60, quick()).await;
    let post = |path: &'static str, fields: Vec<(&'static str, String)>| {
        app.client.post(app.url(path)).form(&fields).send()
    };
    let form = |url: &str, events: &[&'static str]| {
        let mut fields = vec![
            ("name", "Phone".to_owned()),
            ("url", url.to_owned()),
            ("format", "json".to_owned()),
            ("secret", String::new()),
        ];
        fields.extend(events.iter().map(|e| (*e, "on".to_owned())));
        fields
    };
    let huge = format!("https://ntfy.example/{}", "t".repeat(100_000));
    for (url, events) in [
        ("javascript:alert(1)", &["action_failed"][..]),
        ("file:///etc/shadow", &["action_failed"][..]),
        (huge.as_str(), &["action_failed"][..]),
        ("https://ntfy.example/topic", &[][..]),
    ] {
        let refused = post(
            <CreateWebhook as leptos::server_fn::ServerFn>::PATH,
            form(url, events),
        )
        .await
        .unwrap();
        assert_eq!(refused.status().as_u16(), 422);
        let body = refused.text().await.unwrap();
        assert!(body.len() < 2000, "the refusal does not echo the value");
    }
    let created: Value = post(
        <CreateWebhook as leptos::server_fn::ServerFn>::PATH,
        form(
            "https://ntfy.example/s3cret-topic",
            &["action_failed", "server_offline", "run_finished"],
        ),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(
        created["events"],
        json!(["action.failed", "server.offline", "run.finished"]),
        "{created}"
    );
    assert!(created["secret"].as_str().unwrap().starts_with("whsec_"));
    let id = created["id"].to_string();
    let tested = post(
        <TestWebhook as leptos::server_fn::ServerFn>::PATH,
        vec![("id", id.clone())],
    )
    .await
    .unwrap();
    assert_eq!(tested.status().as_u16(), 200);
    let (_, page) = app.get("/webhooks").await;
    assert!(page.contains("Phone") && page.contains("https://ntfy.example/s3…"));
    assert!(!page.contains("s3cret-topic") && !page.contains("whsec_"));
    let gone = post(
        <DeleteWebhook as leptos::server_fn::ServerFn>::PATH,
        vec![("id", id)],
    )
    .await
    .unwrap();
    assert_eq!(gone.status().as_u16(), 200);
    let (_, listed) = app.api_get("/api/v1/webhooks").await;
    assert_eq!(listed["webhooks"], json!([]));
}
