//! What each webhook format sends: the body and headers of one delivery. The words
//! come from one place, `Notification::summary`; each format only wraps them.

use hmac::{Hmac, Mac as _};
use homelab_protocol::{Notification, WebhookEvent, WebhookFormat};
use sha2::Sha256;

use crate::db::webhooks::Claimed;

/// The header carrying the `json` format's signature: `sha256=<hex>`.
pub const SIGNATURE_HEADER: &str = "X-Homelab-Signature";
/// The header naming the event.
pub const EVENT_HEADER: &str = "X-Homelab-Event";
/// The header carrying the delivery's id (the same on every retry of it, so a
/// receiver can drop a repeat).
pub const DELIVERY_HEADER: &str = "X-Homelab-Delivery";

/// One request to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// `sha256=<hex HMAC-SHA256 of body with secret>`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The request for `claimed` in its webhook's format. Every format carries the event
/// and delivery headers, and the signature when the webhook has a secret (a `json`
/// one always does).
pub fn render(claimed: &Claimed) -> Outgoing {
    let n = &claimed.notification;
    let summary = n.summary();
    let (content_type, body, mut headers) = match claimed.format {
        WebhookFormat::Json => {
            let mut doc = serde_json::to_value(n).unwrap_or_default();
            if let Some(fields) = doc.as_object_mut() {
                fields.insert("summary".into(), summary.into());
                fields.insert("delivery".into(), claimed.id.get().into());
            }
            ("application/json", json_bytes(&doc), Vec::new())
        }
        WebhookFormat::Ntfy => (
            "text/plain; charset=utf-8",
            summary.into_bytes(),
            vec![
                ("Title", n.title()),
                ("Priority", n.priority().to_string()),
                ("Tags", ntfy_tag(n).to_owned()),
            ],
        ),
        WebhookFormat::Gotify => {
            let doc = serde_json::json!({
                "title": n.title(),
                "message": summary,
                // Gotify counts 0 to 10.
                "priority": u32::from(n.priority()) * 2,
            });
            ("application/json", json_bytes(&doc), Vec::new())
        }
        WebhookFormat::Chat => {
            // Slack reads `text`, Discord `content`: both, so either accepts it.
            let doc = serde_json::json!({ "text": summary, "content": summary });
            ("application/json", json_bytes(&doc), Vec::new())
        }
    };
    headers.push((EVENT_HEADER, n.event.as_str().to_owned()));
    headers.push((DELIVERY_HEADER, claimed.id.to_string()));
    if let Some(secret) = &claimed.secret {
        headers.push((SIGNATURE_HEADER, signature(secret, &body)));
    }
    Outgoing {
        content_type,
        headers,
        body,
    }
}

fn json_bytes(doc: &serde_json::Value) -> Vec<u8> {
    // A Value always serializes.
    serde_json::to_vec(doc).unwrap_or_default()
}

/// ntfy's emoji tag for the event.
fn ntfy_tag(n: &Notification) -> &'static str {
    match n.event {
        WebhookEvent::ActionFailed | WebhookEvent::ServerOffline => "warning",
        WebhookEvent::ActionPendingApproval => "hourglass",
        WebhookEvent::ServerSecurityUpdates => "lock",
        WebhookEvent::ActionCompleted | WebhookEvent::ServerOnline => "white_check_mark",
        WebhookEvent::RunFinished => "checkered_flag",
        WebhookEvent::Test => "bell",
    }
}

#[cfg(test)]
mod tests {
    use homelab_protocol::{DeliveryId, Millis, ServerId, WebhookId, WebhookUrl};

    use super::*;

    fn claimed(format: WebhookFormat, secret: Option<&str>) -> Claimed {
        let mut notification = Notification::new(WebhookEvent::ServerOffline, Millis::new(5));
        notification.server = Some(ServerId::parse("nas").unwrap());
        Claimed {
            id: DeliveryId::new(9),
            webhook: WebhookId::new(1),
            attempt: 1,
            url: WebhookUrl::parse("https://hooks.example/x").unwrap(),
            format,
            secret: secret.map(str::to_owned),
            notification,
            created_at_ms: 5,
        }
    }

    #[test]
    fn the_signature_is_the_hmac_of_the_body_known_answer() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn the_json_format_is_signed_and_carries_the_sentence_and_the_delivery() {
        let out = render(&claimed(WebhookFormat::Json, Some("k3y-k3y-k3y-k3y-k3y")));
        let doc: serde_json::Value = serde_json::from_slice(&out.body).unwrap();
        assert_eq!(doc["event"], "server.offline");
        assert_eq!(doc["server"], "nas");
        assert_eq!(doc["at"], 5);
        assert_eq!(doc["delivery"], 9);
        assert_eq!(
            doc["summary"],
            "Server nas is offline: no heartbeat for three intervals."
        );
        let header = |name| {
            out.headers
                .iter()
                .find(|(h, _)| *h == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(
            header(SIGNATURE_HEADER),
            Some(signature("k3y-k3y-k3y-k3y-k3y", &out.body))
        );
        assert_eq!(header(EVENT_HEADER).as_deref(), Some("server.offline"));
        assert_eq!(header(DELIVERY_HEADER).as_deref(), Some("9"));
    }

    #[test]
    fn the_presets_carry_the_same_sentence_in_their_own_shape() {
        let sentence = "Server nas is offline: no heartbeat for three intervals.";
        let ntfy = render(&claimed(WebhookFormat::Ntfy, None));
        assert_eq!(ntfy.body, sentence.as_bytes());
        assert!(ntfy.headers.contains(&("Priority", "4".to_owned())));
        assert!(ntfy.headers.iter().all(|(h, _)| *h != SIGNATURE_HEADER));
        let gotify: serde_json::Value =
            serde_json::from_slice(&render(&claimed(WebhookFormat::Gotify, None)).body).unwrap();
        assert_eq!(gotify["message"], sentence);
        assert_eq!(gotify["priority"], 8);
        let chat: serde_json::Value =
            serde_json::from_slice(&render(&claimed(WebhookFormat::Chat, None)).body).unwrap();
        assert_eq!(chat["text"], sentence);
        assert_eq!(chat["content"], sentence);
    }
}
