//! Sends the webhooks' outbox and watches for machines going offline. Both run on
//! every replica: the database hands each delivery to one sender at a time and lets
//! one replica notify each transition.

use std::time::Duration;

use homelab_core::db::webhooks::Claimed;
use homelab_core::service::{Backoff, SendResult};
use tokio::task::JoinSet;

use crate::service::Service;

/// How long a receiver may take to answer (the lease is longer).
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Deliveries this replica sends at once, at most (each to a different webhook).
const MAX_SENDING: usize = 16;

/// The client every delivery goes out on: a time limit, no redirects followed (a
/// receiver's redirect is not where the admin said to send), no cookies.
pub fn client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(SEND_TIMEOUT)
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("homelab-cmd/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Sends one delivery in its webhook's format. The answer's body is never read:
/// its status is all that counts, and a receiver cannot make us buffer anything.
pub async fn send(client: &reqwest::Client, claimed: &Claimed) -> SendResult {
    let out = homelab_core::notify::render(claimed);
    let mut request = client
        .post(claimed.url.expose())
        .header(reqwest::header::CONTENT_TYPE, out.content_type)
        .body(out.body);
    for (name, value) in out.headers {
        request = request.header(name, value);
    }
    match request.send().await {
        Ok(answer) => SendResult::Answered(answer.status().as_u16()),
        Err(e) => SendResult::NoAnswer(describe(&e)),
    }
}

/// Why a request got no answer, in words that never hold the URL (it may carry a
/// token).
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        format!("no answer within {} s", SEND_TIMEOUT.as_secs())
    } else if e.is_connect() {
        "could not connect to the receiver".to_owned()
    } else if e.is_builder() {
        "the request could not be built".to_owned()
    } else {
        "the request failed before an answer".to_owned()
    }
}

/// Claims due deliveries every `backoff.poll_every` and sends each on a task of its
/// own, so one slow receiver holds up only its own webhook. Never touches the
/// engine: it only reads and updates the outbox. Runs until the task is dropped
/// (which ends the sends in flight; their leases run out and they are sent again).
pub async fn deliver_webhooks(service: Service, backoff: Backoff) {
    let client = match client() {
        Ok(client) => client,
        Err(e) => {
            tracing::error!(error = %e, "cannot make the webhook client: no notifications");
            return;
        }
    };
    let mut tick = tokio::time::interval(backoff.poll_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sending = JoinSet::new();
    loop {
        tick.tick().await;
        while sending.try_join_next().is_some() {}
        let room = MAX_SENDING.saturating_sub(sending.len());
        if room == 0 {
            continue;
        }
        let claimed = match service
            .claim_deliveries(&backoff, u32::try_from(room).unwrap_or(1))
            .await
        {
            Ok(claimed) => claimed,
            Err(e) => {
                tracing::warn!(error = ?anyhow::Error::from(e), "cannot claim webhook deliveries; trying again");
                continue;
            }
        };
        for delivery in claimed {
            let (service, client, backoff) = (service.clone(), client.clone(), backoff.clone());
            sending.spawn(async move {
                let result = send(&client, &delivery).await;
                if let Err(e) = service.record_delivery(&delivery, result, &backoff).await {
                    tracing::warn!(delivery = %delivery.id, error = ?anyhow::Error::from(e),
                        "cannot record a webhook delivery; its lease will run out and it is sent again");
                }
            });
        }
    }
}

/// Notifies `server.offline` for machines silent for three heartbeat intervals,
/// checking a few times per interval. Runs until the task is dropped.
pub async fn watch_presence(service: Service) {
    let every = (service.heartbeat_interval() / 4)
        .clamp(Duration::from_millis(200), Duration::from_secs(15));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = service.notify_offline().await {
            tracing::warn!(error = ?anyhow::Error::from(e), "offline check failed; trying again");
        }
    }
}
