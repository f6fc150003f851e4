//! Notifications: webhooks the admin registers, the events they hear of, and the
//! deliveries queued for them. A webhook's secret and the full URL (which often
//! carries a token: `https://ntfy.sh/<topic>`, Slack's `/services/T../B../xyz`) are
//! never part of what is shown back: only [`WebhookUrl::masked`] and `has_secret`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ParseEnumError;
use crate::action::text_enum;
use crate::run::row_id;
use crate::{
    ActionId, ActionStatus, ActionType, FailureReason, Millis, RunId, RunStatus, ServerId,
};

row_id!(
    /// A webhook's number (`/api/v1/webhooks/N`).
    WebhookId
);
row_id!(
    /// A queued delivery's number (sent as `X-Homelab-Delivery`).
    DeliveryId
);

/// Why a text is not a webhook name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookNameError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {max} characters, got {0}", max = WebhookName::MAX_CHARS)]
    TooLong(usize),
    #[error("must not contain control characters or text-direction overrides")]
    ControlCharacter,
}

/// A webhook's name: trimmed, 1 to [`WebhookName::MAX_CHARS`] displayable characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WebhookName(String);

impl WebhookName {
    /// The longest name accepted, in characters.
    pub const MAX_CHARS: usize = 64;

    /// Trims `s` and checks it.
    pub fn parse(s: impl AsRef<str>) -> Result<Self, WebhookNameError> {
        let name = s.as_ref().trim();
        if name.is_empty() {
            return Err(WebhookNameError::Empty);
        }
        let len = name.chars().count();
        if len > Self::MAX_CHARS {
            return Err(WebhookNameError::TooLong(len));
        }
        if !crate::text::displayable(name) {
            return Err(WebhookNameError::ControlCharacter);
        }
        Ok(WebhookName(name.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

text_newtype!(WebhookName, WebhookNameError);
text_schema!(
    WebhookName,
    "A webhook's name: trimmed, no control characters or text-direction overrides.",
    length = 1..=WebhookName::MAX_CHARS,
    example = "Phone",
);

/// Why a text is not a webhook URL. None of them repeats the URL: it may hold a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookUrlError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {max} bytes, got {0}", max = WebhookUrl::MAX_BYTES)]
    TooLong(usize),
    #[error("must not contain spaces or control characters")]
    ControlCharacter,
    #[error("is not a URL ({0})")]
    Malformed(String),
    #[error("must start with http:// or https://, not {0}:")]
    Scheme(String),
    #[error("must name a host")]
    NoHost,
}

/// Where a webhook posts: an absolute `http` or `https` URL with a host, at most
/// [`WebhookUrl::MAX_BYTES`], kept as the `url` crate writes it out. `Debug` shows
/// only the masked form, so a URL in a log line gives no token away.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WebhookUrl(String);

impl WebhookUrl {
    /// The longest URL accepted, in bytes.
    pub const MAX_BYTES: usize = 2048;
    /// How much of the path (and query) the masked form keeps.
    const SHOWN_CHARS: usize = 2;

    /// Checks `s` (trimmed).
    pub fn parse(s: impl AsRef<str>) -> Result<Self, WebhookUrlError> {
        let s = s.as_ref().trim();
        if s.is_empty() {
            return Err(WebhookUrlError::Empty);
        }
        if s.len() > Self::MAX_BYTES {
            return Err(WebhookUrlError::TooLong(s.len()));
        }
        // The url crate drops tabs and newlines silently; a URL typed with them
        // is a mistake to point out, not to repair.
        if s.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(WebhookUrlError::ControlCharacter);
        }
        let url = url::Url::parse(s).map_err(|e| WebhookUrlError::Malformed(e.to_string()))?;
        match url.scheme() {
            "http" | "https" => {}
            other => {
                return Err(WebhookUrlError::Scheme(other.chars().take(16).collect()));
            }
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(WebhookUrlError::NoHost);
        }
        let text = String::from(url);
        if text.len() > Self::MAX_BYTES {
            // Percent-encoding grew it past the bound.
            return Err(WebhookUrlError::TooLong(text.len()));
        }
        Ok(WebhookUrl(text))
    }

    /// The whole URL, for sending only: never show or log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL as it may be shown: scheme, host and port, then the first
    /// characters of the path and query and an ellipsis; user info never
    /// (`https://ntfy.example/ab…`).
    pub fn masked(&self) -> String {
        // Parsed once already: it parses again.
        let Ok(url) = url::Url::parse(&self.0) else {
            return "…".to_owned();
        };
        let host = url.host_str().unwrap_or_default();
        let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
        let mut rest = url.path().trim_start_matches('/').to_owned();
        if let Some(q) = url.query() {
            rest.push('?');
            rest.push_str(q);
        }
        let shown: String = rest.chars().take(Self::SHOWN_CHARS).collect();
        let cut = if rest.chars().count() > Self::SHOWN_CHARS {
            "…"
        } else {
            ""
        };
        format!("{}://{host}{port}/{shown}{cut}", url.scheme())
    }
}

impl fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebhookUrl({})", self.masked())
    }
}

impl TryFrom<String> for WebhookUrl {
    type Error = WebhookUrlError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        WebhookUrl::parse(s)
    }
}

impl From<WebhookUrl> for String {
    fn from(v: WebhookUrl) -> Self {
        v.0
    }
}

/// Why a text is not a webhook secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookSecretError {
    #[error("must be {min} to {max} characters, got {0}", min = WebhookSecret::MIN_CHARS, max = WebhookSecret::MAX_CHARS)]
    Length(usize),
    #[error("must be printable ASCII without spaces")]
    Character,
}

/// The key of a `json` webhook's signature: 16 to 128 printable ASCII characters
/// (it travels in forms and configuration files). `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(String);

impl WebhookSecret {
    /// The shortest secret accepted: a guessable key signs nothing.
    pub const MIN_CHARS: usize = 16;
    /// The longest secret accepted.
    pub const MAX_CHARS: usize = 128;

    /// Checks `s` (trimmed).
    pub fn parse(s: impl AsRef<str>) -> Result<Self, WebhookSecretError> {
        let s = s.as_ref().trim();
        let len = s.chars().count();
        if !(Self::MIN_CHARS..=Self::MAX_CHARS).contains(&len) {
            return Err(WebhookSecretError::Length(len));
        }
        if !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(WebhookSecretError::Character);
        }
        Ok(WebhookSecret(s.to_owned()))
    }

    /// The key, for signing and storing only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(***)")
    }
}

text_enum! {
    /// What a webhook's request looks like.
    WebhookFormat, "webhook format" {
        /// A JSON document, signed (`X-Homelab-Signature`).
        Json => "json",
        /// ntfy: the sentence as a plain-text body, `Title`, `Priority`, `Tags`.
        Ntfy => "ntfy",
        /// Gotify: `{"title", "message", "priority"}`.
        Gotify => "gotify",
        /// Slack- and Discord-compatible incoming webhooks: `{"text", "content"}`.
        Chat => "chat",
    }
}

text_enum! {
    /// What a notification is about.
    WebhookEvent, "webhook event" {
        /// An action waits for a person to approve it.
        ActionPendingApproval => "action.pending_approval",
        /// An action failed (its command, or its agent was lost).
        ActionFailed => "action.failed",
        /// An action completed.
        ActionCompleted => "action.completed",
        /// A server missed three heartbeats.
        ServerOffline => "server.offline",
        /// A server reported offline is heard from again.
        ServerOnline => "server.online",
        /// A server reports security updates it did not have.
        ServerSecurityUpdates => "server.security_updates",
        /// A fleet run ended (completed, failed or cancelled).
        RunFinished => "run.finished",
        /// A person pressed "Send test": no webhook subscribes to it.
        Test => "test",
    }
}

impl WebhookEvent {
    /// The events a webhook can subscribe to (all but [`WebhookEvent::Test`]).
    pub fn subscribable() -> impl Iterator<Item = WebhookEvent> {
        Self::ALL
            .iter()
            .copied()
            .filter(|e| *e != WebhookEvent::Test)
    }

    /// A webhook's event set from a request: each known and subscribable, at least
    /// one, in declaration order, duplicates dropped.
    pub fn parse_set<S: AsRef<str>>(raw: &[S]) -> Result<Vec<WebhookEvent>, ParseEnumError> {
        let expected = || {
            Self::subscribable()
                .map(WebhookEvent::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut events = Vec::new();
        for r in raw {
            let r = r.as_ref().trim();
            let event = WebhookEvent::from_str(r)
                .ok()
                .filter(|e| *e != WebhookEvent::Test)
                .ok_or_else(|| ParseEnumError {
                    kind: "webhook event",
                    value: r.chars().take(40).collect(),
                    expected: expected(),
                })?;
            if !events.contains(&event) {
                events.push(event);
            }
        }
        if events.is_empty() {
            return Err(ParseEnumError {
                kind: "webhook event",
                value: String::new(),
                expected: format!("at least one of {}", expected()),
            });
        }
        events.sort_by_key(|e| Self::ALL.iter().position(|a| a == e));
        Ok(events)
    }
}

text_enum! {
    /// Where a queued delivery is.
    DeliveryStatus, "delivery status" {
        /// Waiting for its turn or its next attempt.
        Pending => "pending",
        /// Being sent by a replica (under a lease).
        InFlight => "in_flight",
        /// The receiver answered 2xx.
        Delivered => "delivered",
        /// Given up on after retrying for the retry period.
        Failed => "failed",
    }
}

/// A webhook as it is shown: never its secret, and its URL only masked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Webhook {
    pub id: WebhookId,
    pub name: WebhookName,
    /// The URL cut after its first characters, so it gives no token away
    /// (`WebhookUrl::masked`).
    pub url_masked: String,
    pub format: WebhookFormat,
    pub events: Vec<WebhookEvent>,
    /// Whether requests are signed (a `json` webhook always is).
    pub has_secret: bool,
    pub created_at_ms: Millis,
    pub created_by: String,
    /// The latest deliveries, newest first.
    pub deliveries: Vec<Delivery>,
}

/// A webhook just created, with its secret shown this once (null when it has none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub webhook: Webhook,
    pub secret: Option<String>,
}

/// One notification queued for one webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Delivery {
    pub id: DeliveryId,
    pub event: WebhookEvent,
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: u32,
    /// The receiver's last HTTP status, if it answered.
    pub last_status: Option<u16>,
    /// Why the last attempt did not deliver, in words.
    pub last_error: Option<String>,
    /// When it is tried next (pending only).
    pub next_attempt_at_ms: Option<Millis>,
    pub created_at_ms: Millis,
    pub delivered_at_ms: Option<Millis>,
    /// The sentence it carries.
    pub summary: String,
}

/// An action a notification is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifiedAction {
    pub id: ActionId,
    pub action_type: ActionType,
    pub status: ActionStatus,
    pub failure: Option<FailureReason>,
}

/// A fleet run a notification is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifiedRun {
    pub id: RunId,
    pub status: RunStatus,
    pub action_type: ActionType,
}

/// What happened, as queued for delivery and sent (the `json` format's body is this
/// plus `summary` and the delivery id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    pub event: WebhookEvent,
    /// When it happened.
    pub at: Millis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<NotifiedAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<NotifiedRun>,
    /// `server.security_updates`: the security packages that appeared.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<String>,
}

impl Notification {
    /// A notification of `event` at `at` about nothing in particular.
    pub fn new(event: WebhookEvent, at: Millis) -> Self {
        Notification {
            event,
            at,
            server: None,
            action: None,
            run: None,
            packages: Vec::new(),
        }
    }

    /// The one sentence every format carries.
    pub fn summary(&self) -> String {
        let on = self
            .server
            .as_ref()
            .map(|s| format!(" on {s}"))
            .unwrap_or_default();
        let action = |a: &NotifiedAction| format!("Action #{} ({}){on}", a.id, a.action_type);
        match (self.event, &self.action, &self.run) {
            (WebhookEvent::ActionPendingApproval, Some(a), _) => {
                format!("{} waits for approval.", action(a))
            }
            (WebhookEvent::ActionFailed, Some(a), _) => match a.failure {
                Some(why) => format!("{} failed ({why}).", action(a)),
                None => format!("{} failed.", action(a)),
            },
            (WebhookEvent::ActionCompleted, Some(a), _) => format!("{} completed.", action(a)),
            (WebhookEvent::RunFinished, _, Some(r)) => {
                format!("Fleet run #{} ({}) {}.", r.id, r.action_type, r.status)
            }
            (WebhookEvent::ServerOffline, ..) => {
                format!(
                    "Server{} is offline: no heartbeat for three intervals.",
                    on.trim_start_matches(" on")
                )
            }
            (WebhookEvent::ServerOnline, ..) => {
                format!("Server{} is back online.", on.trim_start_matches(" on"))
            }
            (WebhookEvent::ServerSecurityUpdates, ..) => {
                let n = self.packages.len();
                let shown: Vec<&str> = self.packages.iter().take(5).map(String::as_str).collect();
                let more = if n > shown.len() {
                    format!(" and {} more", n - shown.len())
                } else {
                    String::new()
                };
                format!("New security updates{on}: {}{more}.", shown.join(", "))
            }
            (WebhookEvent::Test, ..) => "Test notification from homelab-cmd.".to_owned(),
            (event, ..) => format!("{event}{on}."),
        }
    }

    /// A short title for formats that have one.
    pub fn title(&self) -> String {
        let what = match self.event {
            WebhookEvent::ActionPendingApproval => "Approval needed",
            WebhookEvent::ActionFailed => "Action failed",
            WebhookEvent::ActionCompleted => "Action completed",
            WebhookEvent::ServerOffline => "Server offline",
            WebhookEvent::ServerOnline => "Server online",
            WebhookEvent::ServerSecurityUpdates => "Security updates",
            WebhookEvent::RunFinished => "Fleet run finished",
            WebhookEvent::Test => "Test",
        };
        format!("homelab-cmd: {what}")
    }

    /// How urgent it is, 1 (least) to 5 (most), ntfy's scale.
    pub fn priority(&self) -> u8 {
        match self.event {
            WebhookEvent::ActionFailed | WebhookEvent::ServerOffline => 4,
            WebhookEvent::ActionPendingApproval | WebhookEvent::ServerSecurityUpdates => 3,
            WebhookEvent::Test
            | WebhookEvent::ActionCompleted
            | WebhookEvent::ServerOnline
            | WebhookEvent::RunFinished => 2,
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn web_urls_are_accepted_and_kept_as_written_out() {
        for (input, kept) in [
            ("https://ntfy.example/alerts", "https://ntfy.example/alerts"),
            (
                "  http://10.0.0.5:8080/hook?x=1 ",
                "http://10.0.0.5:8080/hook?x=1",
            ),
            (
                "HTTPS://Hooks.Slack.com/services/T1/B2/xyz",
                "https://hooks.slack.com/services/T1/B2/xyz",
            ),
            ("http://[::1]:9/", "http://[::1]:9/"),
        ] {
            assert_eq!(WebhookUrl::parse(input).unwrap().expose(), kept, "{input}");
        }
    }

    #[test]
    fn urls_that_are_not_web_addresses_are_refused_without_being_repeated() {
        let huge = format!("https://example.org/{}", "a".repeat(100_000));
        let cases: [(&str, WebhookUrlError); 9] = [
            ("", WebhookUrlError::Empty),
            ("   ", WebhookUrlError::Empty),
            (
                "javascript:alert(1)",
                WebhookUrlError::Scheme("javascript".into()),
            ),
            ("file:///etc/passwd", WebhookUrlError::Scheme("file".into())),
            ("ftp://example.org/x", WebhookUrlError::Scheme("ftp".into())),
            (
                "https://example.org/a\nb",
                WebhookUrlError::ControlCharacter,
            ),
            ("https://exa mple.org/", WebhookUrlError::ControlCharacter),
            (
                "https://example.org/\u{7}",
                WebhookUrlError::ControlCharacter,
            ),
            (&huge, WebhookUrlError::TooLong(huge.len())),
        ];
        for (input, expected) in cases {
            assert_eq!(
                WebhookUrl::parse(input).unwrap_err(),
                expected,
                "{input:.40}"
            );
        }
        assert!(matches!(
            WebhookUrl::parse("not a url"),
            Err(WebhookUrlError::ControlCharacter)
        ));
        assert!(matches!(
            WebhookUrl::parse("example.org/hook"),
            Err(WebhookUrlError::Malformed(_))
        ));
        let err = WebhookUrl::parse("data:text/plain,topsecret").unwrap_err();
        assert!(!err.to_string().contains("topsecret"), "{err}");
    }

    #[test]
    fn a_masked_url_shows_its_host_and_hides_its_path_query_and_user() {
        for (input, masked) in [
            (
                "https://ntfy.example/abcdef-topic",
                "https://ntfy.example/ab…",
            ),
            (
                "https://user:pw@h.example:8443/t0ken?k=v",
                "https://h.example:8443/t0…",
            ),
            ("http://h.example/?token=s3cret", "http://h.example/?t…"),
            ("http://h.example/", "http://h.example/"),
            ("http://h.example/ab", "http://h.example/ab"),
        ] {
            let url = WebhookUrl::parse(input).unwrap();
            assert_eq!(url.masked(), masked, "{input}");
            assert_eq!(format!("{url:?}"), format!("WebhookUrl({masked})"));
        }
    }

    #[test]
    fn names_are_trimmed_bounded_and_displayable() {
        assert_eq!(
            WebhookName::parse("  ntfy phone ").unwrap().as_str(),
            "ntfy phone"
        );
        assert_eq!(
            WebhookName::parse(" ").unwrap_err(),
            WebhookNameError::Empty
        );
        assert_eq!(
            WebhookName::parse("x".repeat(65)).unwrap_err(),
            WebhookNameError::TooLong(65)
        );
        assert_eq!(
            WebhookName::parse("a\u{202E}b").unwrap_err(),
            WebhookNameError::ControlCharacter
        );
    }

    #[test]
    fn secrets_are_long_printable_and_never_debug_printed() {
        let secret = WebhookSecret::parse("0123456789abcdef").unwrap();
        assert_eq!(format!("{secret:?}"), "WebhookSecret(***)");
        assert_eq!(
            WebhookSecret::parse("short").unwrap_err(),
            WebhookSecretError::Length(5)
        );
        assert_eq!(
            WebhookSecret::parse("0123456789 abcdef").unwrap_err(),
            WebhookSecretError::Character
        );
        assert_eq!(
            WebhookSecret::parse("é".repeat(20)).unwrap_err(),
            WebhookSecretError::Character
        );
        assert!(WebhookSecret::parse("x".repeat(129)).is_err());
    }

    #[test]
    fn event_sets_are_known_events_at_least_one_without_test_or_duplicates() {
        assert_eq!(
            WebhookEvent::parse_set(&["run.finished", "action.failed", "action.failed"]).unwrap(),
            [WebhookEvent::ActionFailed, WebhookEvent::RunFinished]
        );
        let empty: [&str; 0] = [];
        assert!(
            WebhookEvent::parse_set(&empty)
                .unwrap_err()
                .to_string()
                .contains("at least one")
        );
        let unknown = WebhookEvent::parse_set(&["server.exploded"]).unwrap_err();
        assert!(unknown.to_string().contains("server.exploded"), "{unknown}");
        assert!(WebhookEvent::parse_set(&["test"]).is_err());
        assert_eq!(WebhookEvent::subscribable().count(), 7);
    }

    #[test]
    fn formats_and_statuses_round_trip_through_their_text() {
        for f in WebhookFormat::ALL {
            assert_eq!(f.as_str().parse::<WebhookFormat>().unwrap(), *f);
        }
        for s in DeliveryStatus::ALL {
            assert_eq!(s.as_str().parse::<DeliveryStatus>().unwrap(), *s);
        }
        assert!("xml".parse::<WebhookFormat>().is_err());
    }

    #[test]
    fn each_event_reads_as_one_sentence() {
        let mut n = Notification::new(WebhookEvent::ActionFailed, Millis::new(0));
        n.server = Some(ServerId::parse("nas").unwrap());
        n.action = Some(NotifiedAction {
            id: ActionId::new(7),
            action_type: ActionType::AptUpdate,
            status: ActionStatus::Failed,
            failure: Some(FailureReason::ExitCode),
        });
        assert_eq!(
            n.summary(),
            "Action #7 (apt_update) on nas failed (exit_code)."
        );
        n.event = WebhookEvent::ServerOffline;
        assert_eq!(
            n.summary(),
            "Server nas is offline: no heartbeat for three intervals."
        );
        n.event = WebhookEvent::ServerSecurityUpdates;
        n.packages = (0..7).map(|i| format!("p{i}")).collect();
        assert_eq!(
            n.summary(),
            "New security updates on nas: p0, p1, p2, p3, p4 and 2 more."
        );
    }

    proptest! {
        #[test]
        fn any_text_is_a_url_or_a_refusal_and_a_url_masks_without_its_secret(s in ".{0,300}") {
            if let Ok(url) = WebhookUrl::parse(&s) {
                prop_assert!(url.expose().starts_with("http://") || url.expose().starts_with("https://"));
                prop_assert!(url.expose().len() <= WebhookUrl::MAX_BYTES);
            }
        }

        #[test]
        fn a_token_in_a_path_never_shows_in_the_masked_url(token in "[A-Za-z0-9]{8,40}") {
            let url = WebhookUrl::parse(format!("https://hooks.example/{token}")).unwrap();
            prop_assert!(!url.masked().contains(&token));
            let url = WebhookUrl::parse(format!("https://u:{token}@hooks.example/")).unwrap();
            prop_assert!(!url.masked().contains(&token));
        }

        #[test]
        fn any_names_are_a_name_or_a_refusal(s in any::<String>()) {
            if let Ok(name) = WebhookName::parse(&s) {
                prop_assert!(crate::text::displayable(name.as_str()));
                prop_assert!(name.as_str().chars().count() <= WebhookName::MAX_CHARS);
            }
        }

        #[test]
        fn any_event_lists_are_a_set_or_a_refusal(raw in proptest::collection::vec(".{0,30}", 0..5)) {
            if let Ok(set) = WebhookEvent::parse_set(&raw) {
                prop_assert!(!set.is_empty());
                prop_assert!(!set.contains(&WebhookEvent::Test));
            }
        }
    }
}
