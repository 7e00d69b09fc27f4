//! The page's live connection: one WebSocket per tab, shared by every panel through context.
//!
//! On the server (SSR) nothing connects: the signals start as "connecting" with no data, which is
//! exactly what the hydrated page starts from too, so hydration matches. In the browser the
//! dashboard opens the socket after hydration ([`connect`]). The page remembers the epoch and the
//! last `seq` of every topic it received, and every reconnect asks the server to resume from
//! there (`/ws?epoch=E&since=topic:seq,…`), so nothing still in the server's buffer is missed.
//! A socket the server closed for a restart (1012) or for falling behind (4008) comes back at once;
//! any other loss, with jittered exponential backoff.
//!
//! ## Parts
//! - `store`: [`LiveStore`], the signals panels read: the latest message of every topic (with its
//!   receipt time), the heartbeat, the [`ConnectionState`], the page clock and the connect count.
//! - `browser` (below, browser only): the tab's one socket, its reconnects, and the "still
//!   signed in?" check; the only writer of the store.
//! - `resume`: [`ResumePoint`], where a reconnect resumes from.

mod resume;
mod store;

pub use resume::ResumePoint;
pub use store::{ConnectionState, HEARTBEAT_STALE_AFTER_MS, LiveStore, Received, SeenHeartbeat};

use leptos::prelude::*;

/// Creates the page's live signals and puts them in context. Call once, in `App`. Nothing
/// connects until [`connect`].
pub fn provide_live_store() -> LiveStore {
    let live = LiveStore::new();
    provide_context(live);
    live
}

/// The live signals `App` provided.
pub fn use_live_store() -> LiveStore {
    expect_context::<LiveStore>()
}

/// Opens the tab's socket once the page has hydrated. However often the dashboard mounts, a tab
/// has one socket. On the server this does nothing.
pub fn connect(live: LiveStore) {
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| untrack(|| browser::start(live)));
    #[cfg(not(feature = "hydrate"))]
    let _ = live;
}

/// The page is leaving (signing out): close the socket and never reconnect.
pub fn stop() {
    #[cfg(feature = "hydrate")]
    browser::stop();
}

#[cfg(feature = "hydrate")]
mod browser {
    use super::{ConnectionState, LiveStore, ResumePoint};
    use crate::protocol::{Envelope, ServerMessage, close_code};
    use leptos::prelude::*;
    use std::cell::{Cell, RefCell};
    use std::rc::Rc;
    use std::time::Duration;
    use wasm_bindgen::JsCast;
    use wasm_bindgen::prelude::{Closure, JsValue};
    use web_sys::{CloseEvent, MessageEvent, WebSocket};

    const BACKOFF_START_MS: f64 = 500.0;
    const BACKOFF_MAX_MS: f64 = 15_000.0;
    /// Ceiling of the jitter before an immediate reconnect (after 1012 or 4008).
    const QUICK_RECONNECT_MS: f64 = 250.0;
    /// The normal close a page sends when it leaves.
    const NORMAL_CLOSURE: u16 = 1000;

    /// What outlives one socket: where to resume from, and how the reconnects are going.
    struct Connection {
        live: LiveStore,
        resume: ResumePoint,
        /// Attempts since the last socket that opened.
        failures: u32,
        socket: Option<WebSocket>,
        /// Set when the page leaves: nothing reconnects after that.
        stopped: bool,
    }

    type Shared = Rc<RefCell<Connection>>;

    thread_local! {
        /// The tab's one connection, once started.
        static CONNECTION: RefCell<Option<Shared>> = const { RefCell::new(None) };
    }

    pub(super) fn start(live: LiveStore) {
        let fresh = CONNECTION.with(|slot| {
            let mut slot = slot.borrow_mut();
            if slot.is_some() {
                return None;
            }
            let connection = Rc::new(RefCell::new(Connection {
                live,
                resume: ResumePoint::default(),
                failures: 0,
                socket: None,
                stopped: false,
            }));
            *slot = Some(connection.clone());
            Some(connection)
        });
        let Some(connection) = fresh else {
            return;
        };
        live.tick(js_sys::Date::now());
        let ticking = set_interval_with_handle(
            move || live.tick(js_sys::Date::now()),
            Duration::from_secs(1),
        );
        if let Err(e) = ticking {
            leptos::logging::warn!("[WS] cannot start the page clock: {e:?}");
        }
        connect(connection);
    }

    pub(super) fn stop() {
        let Some(connection) = CONNECTION.with(|slot| slot.borrow().clone()) else {
            return;
        };
        let socket = {
            let mut connection = connection.borrow_mut();
            connection.stopped = true;
            connection.socket.take()
        };
        if let Some(socket) = socket
            && let Err(e) = socket.close_with_code(NORMAL_CLOSURE)
        {
            leptos::logging::warn!("[WS] cannot close the socket: {e:?}");
        }
    }

    /// `/ws`, or on a reconnect `/ws?epoch=E&since=topic:seq,…` to resume where the page left off.
    fn socket_url(resume: &ResumePoint) -> Option<String> {
        let location = window().location();
        let protocol = location.protocol().ok()?;
        let host = location.host().ok()?;
        let scheme = if protocol == "https:" { "wss" } else { "ws" };
        Some(format!("{scheme}://{host}/ws{}", resume.query()))
    }

    fn connect(connection: Shared) {
        let (url, live) = {
            let state = connection.borrow();
            if state.stopped {
                return;
            }
            (socket_url(&state.resume), state.live)
        };
        let Some(url) = url else {
            leptos::logging::warn!("[WS] cannot work out the socket address from the page");
            return;
        };
        let socket = match WebSocket::new(&url) {
            Ok(socket) => socket,
            Err(e) => {
                leptos::logging::warn!("[WS] cannot open {url}: {e:?}");
                schedule_reconnect(connection, false);
                return;
            }
        };
        let opened = Rc::new(Cell::new(false));

        let on_open = {
            let connection = connection.clone();
            let opened = opened.clone();
            Closure::<dyn FnMut()>::new(move || {
                opened.set(true);
                connection.borrow_mut().failures = 0;
                live.opened();
            })
        };
        let on_message = {
            let connection = connection.clone();
            Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
                let Some(text) = event.data().as_string() else {
                    return;
                };
                match serde_json::from_str::<Envelope>(&text) {
                    Ok(envelope) => receive(&connection, envelope),
                    Err(e) => leptos::logging::warn!("[WS] unreadable message ({e}): {text}"),
                }
            })
        };
        let on_close = {
            let connection = connection.clone();
            let socket = socket.clone();
            Closure::<dyn FnMut(CloseEvent)>::new(move |event: CloseEvent| {
                let stopped = {
                    let mut state = connection.borrow_mut();
                    // Only the current socket's end matters (a stopped page already let go).
                    if state.socket.as_ref() == Some(&socket) {
                        state.socket = None;
                    }
                    state.stopped
                };
                if stopped {
                    return;
                }
                live.set_state(ConnectionState::Reconnecting);
                let code = event.code();
                let quick = code == close_code::SERVICE_RESTART || code == close_code::TOO_SLOW;
                if quick {
                    leptos::logging::log!("[WS] closed with {code}: reconnecting now to resume");
                } else if !opened.get() {
                    // Never opened: perhaps the session is gone, and no reconnect will help.
                    check_still_signed_in();
                }
                schedule_reconnect(connection.clone(), quick);
            })
        };
        socket.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        // The socket owns these callbacks for the rest of its life; a reconnect makes new ones.
        on_open.forget();
        on_message.forget();
        on_close.forget();
        connection.borrow_mut().socket = Some(socket);
    }

    fn receive(connection: &Shared, envelope: Envelope) {
        let live = {
            let mut state = connection.borrow_mut();
            state.resume.note(&envelope);
            state.live
        };
        match &envelope.message {
            ServerMessage::Resumed(resumed) => {
                leptos::logging::log!(
                    "[WS] resumed epoch {}: replayed {:?}, snapshot {:?}",
                    resumed.epoch,
                    resumed.replayed,
                    resumed.snapshot
                );
                connection.borrow_mut().resume.note_epoch(resumed.epoch);
            }
            ServerMessage::Subscribed(subscription) => {
                leptos::logging::log!("[WS] subscribed: {subscription:?}");
            }
            ServerMessage::Error(error) => {
                leptos::logging::warn!("[WS] server refused a message: {}", error.message);
            }
            _ => live.keep(envelope, js_sys::Date::now()),
        }
    }

    fn schedule_reconnect(connection: Shared, quick: bool) {
        let delay = {
            let mut state = connection.borrow_mut();
            if quick {
                state.failures = 0;
                QUICK_RECONNECT_MS * js_sys::Math::random()
            } else {
                let attempt = state.failures;
                state.failures = attempt.saturating_add(1);
                let ceiling =
                    (BACKOFF_START_MS * 2f64.powi(attempt.min(10) as i32)).min(BACKOFF_MAX_MS);
                // Full jitter between half and all of the ceiling, so a restarted server is not
                // stampeded.
                ceiling * (0.5 + js_sys::Math::random() * 0.5)
            }
        };
        set_timeout(
            move || connect(connection),
            Duration::from_millis(delay as u64),
        );
    }

    /// Asks the server whether this page's session still stands; if it does not, goes to the
    /// sign-in page instead of knocking on `/ws` forever.
    fn check_still_signed_in() {
        let on_answer = Closure::once(move |response: JsValue| {
            let status = js_sys::Reflect::get(&response, &JsValue::from_str("status"))
                .ok()
                .and_then(|status| status.as_f64());
            if status == Some(401.0)
                && let Err(e) = window().location().assign(crate::LOGIN_PATH)
            {
                leptos::logging::warn!("[WS] cannot go to the sign-in page: {e:?}");
            }
        });
        // Unreachable server: the reconnects carry on and will try again.
        let on_failure = Closure::once(move |_: JsValue| {});
        let _pending = window()
            .fetch_with_str("/api/auth/me")
            .then2(&on_answer, &on_failure);
        on_answer.forget();
        on_failure.forget();
    }
}
