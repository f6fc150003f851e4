//! The page's side of the live stream (`GET /events`, see the server's `live`
//! module). One `EventSource` per tab; pages ask for a counter that moves whenever an
//! event they care about arrives, and make their data depend on it, so a change on
//! the server reloads exactly the pages showing it. Bursts are coalesced: a page
//! reloads at most once per [`COALESCE_MS`]. After a dropped connection every
//! counter moves once (the page catches up on what it missed).
//!
//! On the server and before hydration nothing here runs: the counters stay at zero,
//! so server render and hydration agree, and without JavaScript pages are simply
//! as fresh as their last load.

use std::sync::{Arc, Mutex};

use leptos::prelude::*;

use crate::domain::{ActionId, LiveEvent, Millis};

/// How long a burst of events is gathered into one reload.
pub const COALESCE_MS: u64 = 300;

/// Whether the stream is connected, as the header shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveStatus {
    /// Not started (server render, no JavaScript) or connecting for the first time.
    Starting,
    Live,
    /// Lost; the browser is reconnecting.
    Reconnecting,
}

type Filter = Arc<dyn Fn(&LiveEvent) -> bool + Send + Sync>;

struct Listener {
    id: u64,
    wants: Filter,
    bump: RwSignal<u64>,
    /// A reload is already scheduled.
    scheduled: Arc<std::sync::atomic::AtomicBool>,
}

/// The live stream's state, in context for every page.
#[derive(Clone, Copy)]
pub struct Live {
    listeners: StoredValue<Arc<Mutex<Vec<Listener>>>>,
    next_id: StoredValue<Arc<std::sync::atomic::AtomicU64>>,
    /// The stream's state.
    pub status: RwSignal<LiveStatus>,
    /// The browser's clock in Unix milliseconds, ticking every second once hydrated
    /// (`None` before): relative times follow it.
    pub tick: RwSignal<Option<Millis>>,
}

impl Default for Live {
    fn default() -> Self {
        Self::new()
    }
}

impl Live {
    /// Listeners but no stream: [`LiveUpdates`] opens it in the browser.
    pub fn new() -> Self {
        Live {
            listeners: StoredValue::new(Arc::default()),
            next_id: StoredValue::new(Arc::default()),
            status: RwSignal::new(LiveStatus::Starting),
            tick: RwSignal::new(None),
        }
    }

    /// A counter that moves (at most every [`COALESCE_MS`]) when an event `wants`
    /// accepts arrives, or after a reconnect. Forgotten when the calling component is.
    pub fn changes(
        &self,
        wants: impl Fn(&LiveEvent) -> bool + Send + Sync + 'static,
    ) -> Signal<u64> {
        let bump = RwSignal::new(0u64);
        let id = self
            .next_id
            .with_value(|n| n.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        self.listeners.with_value(|all| {
            lock(all).push(Listener {
                id,
                wants: Arc::new(wants),
                bump,
                scheduled: Arc::default(),
            });
        });
        let listeners = self.listeners;
        on_cleanup(move || {
            listeners.try_with_value(|all| lock(all).retain(|l| l.id != id));
        });
        bump.into()
    }

    /// Hands `event` to every listener that wants it (a resync to all of them).
    pub fn dispatch(&self, event: &LiveEvent) {
        let due: Vec<(RwSignal<u64>, Arc<std::sync::atomic::AtomicBool>)> =
            self.listeners.with_value(|all| {
                lock(all)
                    .iter()
                    .filter(|l| matches!(event, LiveEvent::Resync) || (l.wants)(event))
                    .map(|l| (l.bump, l.scheduled.clone()))
                    .collect()
            });
        for (bump, scheduled) in due {
            if scheduled.swap(true, std::sync::atomic::Ordering::SeqCst) {
                continue;
            }
            later(COALESCE_MS, move || {
                scheduled.store(false, std::sync::atomic::Ordering::SeqCst);
                bump.try_update(|n| *n += 1);
            });
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(target_arch = "wasm32")]
fn later(ms: u64, f: impl FnOnce() + 'static) {
    set_timeout(f, std::time::Duration::from_millis(ms));
}

/// Outside the browser (tests) there is no burst to gather: at once.
#[cfg(not(target_arch = "wasm32"))]
fn later(_ms: u64, f: impl FnOnce() + 'static) {
    f();
}

/// The live stream of the context (provided by [`LiveUpdates`]).
pub fn use_live() -> Live {
    use_context::<Live>().unwrap_or_else(|| {
        let live = Live::new();
        provide_context(live);
        live
    })
}

/// A counter for pages about the action `id`.
pub fn action_changes(id: impl Fn() -> ActionId + Send + Sync + 'static) -> Signal<u64> {
    use_live().changes(move |e| e.action() == Some(id()))
}

/// Provides [`Live`] and, in the browser, opens the stream and starts the clock.
#[component]
pub fn LiveUpdates(children: Children) -> impl IntoView {
    let live = Live::new();
    provide_context(live);
    crate::components::browser_effect(move || {
        #[cfg(target_arch = "wasm32")]
        browser::start(live);
    });
    children()
}

/// The header's sign of the stream: nothing until it has connected once.
#[component]
pub fn LiveIndicator() -> impl IntoView {
    let live = use_live();
    move || {
        match live.status.get() {
        LiveStatus::Starting => None,
        LiveStatus::Live => Some(view! {
            <span class="live on" title="This page follows the fleet as it changes">"● Live"</span>
        }.into_any()),
        LiveStatus::Reconnecting => Some(view! {
            <span class="live off" title="The connection to the dashboard was lost; reconnecting">"○ Reconnecting…"</span>
        }.into_any()),
    }
    }
}

#[cfg(target_arch = "wasm32")]
mod browser {
    use std::cell::Cell;
    use std::rc::Rc;

    use leptos::prelude::*;
    use wasm_bindgen::JsCast as _;
    use wasm_bindgen::closure::Closure;

    use super::{Live, LiveStatus};
    use crate::domain::{LiveEvent, Millis};

    /// After a refusal (a 401: the session ended) the browser gives up on an
    /// `EventSource`; a new one is tried this much later.
    const RETRY_CLOSED_MS: i32 = 10_000;

    pub fn start(live: Live) {
        start_clock(live);
        open(live, Rc::new(Cell::new(false)));
    }

    fn start_clock(live: Live) {
        let now = || Millis::new(js_sys::Date::now() as i64);
        live.tick.set(Some(now()));
        let tick = Closure::<dyn Fn()>::new(move || live.tick.set(Some(now())));
        // The page lives as long as the tab: the interval and its closure too.
        let _ = window().set_interval_with_callback_and_timeout_and_arguments_0(
            tick.as_ref().unchecked_ref(),
            1000,
        );
        tick.forget();
    }

    /// Opens the stream. `was_open` is true once any stream of this tab has been
    /// open: a later open means events may have been missed.
    fn open(live: Live, was_open: Rc<Cell<bool>>) {
        let Ok(source) = web_sys::EventSource::new("/events") else {
            live.status.set(LiveStatus::Reconnecting);
            return;
        };
        let on_hello = {
            let was_open = was_open.clone();
            Closure::<dyn Fn(web_sys::Event)>::new(move |_| {
                if was_open.replace(true) {
                    live.dispatch(&LiveEvent::Resync);
                }
                live.status.set(LiveStatus::Live);
            })
        };
        let on_message =
            Closure::<dyn Fn(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
                let event = e
                    .data()
                    .as_string()
                    .and_then(|text| serde_json::from_str::<LiveEvent>(&text).ok())
                    // An event this build does not know: reload what may have changed.
                    .unwrap_or(LiveEvent::Resync);
                live.dispatch(&event);
            });
        let on_error = {
            let source = source.clone();
            Closure::<dyn Fn(web_sys::Event)>::new(move |_| {
                live.status.set(LiveStatus::Reconnecting);
                if source.ready_state() == web_sys::EventSource::CLOSED {
                    let was_open = was_open.clone();
                    let again = Closure::once_into_js(move || open(live, was_open));
                    let _ = window().set_timeout_with_callback_and_timeout_and_arguments_0(
                        again.unchecked_ref(),
                        RETRY_CLOSED_MS,
                    );
                }
            })
        };
        let _ = source.add_event_listener_with_callback("hello", on_hello.as_ref().unchecked_ref());
        source.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        // One stream per tab, for the tab's life (a closed one is replaced, and its
        // handlers are never called again).
        on_hello.forget();
        on_message.forget();
        on_error.forget();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ServerId;

    #[test]
    fn each_page_hears_its_own_events_and_every_page_hears_a_resync() {
        let owner = Owner::new();
        owner.with(|| {
            let live = Live::new();
            let nas = ServerId::parse("nas").unwrap();
            let pi = ServerId::parse("pi").unwrap();
            let nas_page = {
                let nas = nas.clone();
                live.changes(move |e| e.server() == Some(&nas))
            };
            let action_page = live.changes(|e| e.action() == Some(ActionId::new(7)));
            let counts = || (nas_page.get_untracked(), action_page.get_untracked());

            live.dispatch(&LiveEvent::Server { server: pi.clone() });
            assert_eq!(counts(), (0, 0));
            live.dispatch(&LiveEvent::Output {
                id: ActionId::new(7),
                server: nas.clone(),
            });
            assert_eq!(counts(), (1, 1));
            live.dispatch(&LiveEvent::Action {
                id: ActionId::new(8),
                server: pi,
            });
            assert_eq!(counts(), (1, 1));
            live.dispatch(&LiveEvent::Resync);
            assert_eq!(counts(), (2, 2));
        });
    }

    #[test]
    fn a_page_that_is_gone_is_forgotten() {
        let owner = Owner::new();
        owner.with(|| {
            let live = Live::new();
            let page = Owner::new();
            page.with(|| {
                live.changes(|_| true);
            });
            let count = || live.listeners.with_value(|all| lock(all).len());
            assert_eq!(count(), 1);
            page.cleanup();
            assert_eq!(count(), 0);
        });
    }
}
