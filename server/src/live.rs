//! `GET /events`: the dashboard's live stream, as server-sent events. Every open
//! page holds one; each event is a [`LiveEvent`] in JSON, saying what changed (the
//! page asks for its data again). The browser's `EventSource` reconnects by itself,
//! and a page that reconnects reloads its data, so nothing missed stays missed.
//!
//! The stream lives only as long as its session: it ends when the session does
//! (logout, expiry, the user removed), when the server shuts down, or when the
//! client goes away (dropping the stream drops its subscription; nothing else
//! depends on it running to its end).

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt as _};
use homelab_protocol::LiveEvent;

use crate::auth::{DashboardSession, NoSession, session_token};
use crate::http::ApiError;
use crate::service::{LiveReceiver, Service};

/// How often the stream checks that its session still holds.
pub const SESSION_CHECK_EVERY: Duration = Duration::from_secs(30);
/// A comment this often keeps proxies from closing a quiet stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// What the browser waits before reconnecting a dropped stream.
const RECONNECT_AFTER: Duration = Duration::from_secs(2);

/// The stream, for a signed-in user; a plain 401 otherwise (an `EventSource` cannot
/// follow a redirect to the login page, and must not retry it in a loop).
pub async fn events(
    State(service): State<Service>,
    headers: HeaderMap,
    session: Result<DashboardSession, NoSession>,
) -> Response {
    match session {
        Ok(_) => {}
        Err(NoSession::Failed(e)) => return e.into_response(),
        Err(_) => {
            return ApiError::unauthorized("log in first: the session is missing or expired")
                .into_response();
        }
    }
    let token = session_token(&headers).map(str::to_owned);
    Sse::new(stream(service, token, SESSION_CHECK_EVERY))
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response()
}

/// What one stream reads from.
struct Source {
    service: Service,
    events: LiveReceiver,
    stopping: tokio::sync::watch::Receiver<bool>,
    /// The session cookie's token; `None` when the session came another way (never
    /// for a browser), and then it is not checked again.
    token: Option<String>,
    check: tokio::time::Interval,
}

/// The events of `service`, for as long as the session of `token` holds.
fn stream(
    service: Service,
    token: Option<String>,
    check_every: Duration,
) -> impl Stream<Item = Result<Event, Infallible>> {
    // The first check one period from now, not at once.
    let mut check =
        tokio::time::interval_at(tokio::time::Instant::now() + check_every, check_every);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let source = Source {
        events: service.subscribe(),
        stopping: service.stopping(),
        service,
        token,
        check,
    };
    // Sets the reconnect delay, and tells the page the stream is open.
    let hello = Event::default()
        .event("hello")
        .data("{}")
        .retry(RECONNECT_AFTER);
    futures::stream::once(async { Ok(hello) }).chain(futures::stream::unfold(source, |mut s| async move {
        loop {
            if *s.stopping.borrow_and_update() {
                return None;
            }
            tokio::select! {
                event = s.events.recv() => {
                    let event = event?;
                    return Some((Ok(to_sse(&event)), s));
                }
                _ = s.check.tick() => {
                    if let Some(token) = &s.token {
                        match s.service.session_user(token).await {
                            Ok(Some(_)) => {}
                            Ok(None) => return None,
                            // A database hiccup does not end the stream; the next
                            // check decides.
                            Err(e) => tracing::warn!(error = %e, "live stream: session check failed"),
                        }
                    }
                }
                _ = s.stopping.changed() => return None,
            }
        }
    }))
}

fn to_sse(event: &LiveEvent) -> Event {
    Event::default()
        .data(serde_json::to_string(event).unwrap_or_else(|_| "{\"kind\":\"resync\"}".to_owned()))
}

#[cfg(test)]
mod tests {
    use futures::StreamExt as _;

    use super::*;
    use crate::db::Database;

    async fn service() -> (Service, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("live.db").display());
        let db = Database::connect(&url).await.unwrap();
        (Service::new(db, Duration::from_secs(60)), dir)
    }

    #[tokio::test]
    async fn the_stream_ends_with_its_session() {
        let (service, _dir) = service().await;
        service
            .set_user_password("alice", "a long password")
            .await
            .unwrap();
        let token = service.login("alice", "a long password").await.unwrap();
        let stream = stream(
            service.clone(),
            Some(token.clone()),
            Duration::from_millis(50),
        );
        tokio::pin!(stream);
        assert!(stream.next().await.is_some(), "hello");
        service.logout(&token).await.unwrap();
        let end = tokio::time::timeout(Duration::from_secs(5), stream.next()).await;
        assert!(matches!(end, Ok(None)), "ended after logout");
    }

    #[tokio::test]
    async fn the_stream_ends_when_the_server_stops() {
        let (service, _dir) = service().await;
        let stream = stream(service.clone(), None, SESSION_CHECK_EVERY);
        tokio::pin!(stream);
        assert!(stream.next().await.is_some(), "hello");
        service.stop_long_polls();
        let end = tokio::time::timeout(Duration::from_secs(5), stream.next()).await;
        assert!(matches!(end, Ok(None)), "ended at shutdown");
    }
}
