//! The page's live connection: one WebSocket per tab, shared by every panel through context.
//!
//! On the server (SSR) nothing connects: the signals start as "connecting" with no data, which is
//! exactly what the hydrated page starts from too, so hydration matches. In the browser an effect
//! opens the socket after hydration and reconnects with jittered exponential backoff.

use crate::protocol::Heartbeat;
use leptos::prelude::*;

/// Where the page's socket stands, as a trader would read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionState {
    /// First attempt under way (also what the server renders).
    Connecting,
    /// Open, and messages are arriving.
    Open,
    /// Lost; the next attempt is scheduled.
    Reconnecting,
}

impl ConnectionState {
    pub fn label(self) -> &'static str {
        match self {
            ConnectionState::Connecting => "Connecting…",
            ConnectionState::Open => "Live",
            ConnectionState::Reconnecting => "Reconnecting…",
        }
    }

    pub fn css_class(self) -> &'static str {
        match self {
            ConnectionState::Connecting => "conn conn-connecting",
            ConnectionState::Open => "conn conn-open",
            ConnectionState::Reconnecting => "conn conn-reconnecting",
        }
    }
}

/// The latest heartbeat and when this page received it.
#[derive(Debug, Clone, PartialEq)]
pub struct SeenHeartbeat {
    pub seq: u64,
    pub epoch: u64,
    pub server_ts: i64,
    /// Page clock (ms since the Unix epoch) at receipt: ages are measured on one clock.
    pub received_at_ms: f64,
    pub heartbeat: Heartbeat,
}

/// A heartbeat older than this means the socket is open but the server has gone quiet.
pub const HEARTBEAT_STALE_AFTER_MS: f64 = 5_000.0;

/// The signals the live connection feeds. `Copy`, so every component can hold it.
#[derive(Debug, Clone, Copy)]
pub struct LiveSocket {
    pub state: RwSignal<ConnectionState>,
    pub heartbeat: RwSignal<Option<SeenHeartbeat>>,
    /// Ticks once a second in the browser so ages re-render; `None` on the server.
    pub now_ms: RwSignal<Option<f64>>,
    /// Connections opened since the page loaded (1 after the first success).
    pub connects: RwSignal<u32>,
}

impl LiveSocket {
    /// Milliseconds since the last heartbeat, once the page has a clock and a heartbeat.
    pub fn heartbeat_age_ms(&self) -> Option<f64> {
        let now = self.now_ms.get()?;
        let seen = self
            .heartbeat
            .with(|h| h.as_ref().map(|h| h.received_at_ms))?;
        Some((now - seen).max(0.0))
    }
}

/// Creates the page's live connection and puts it in context. Call once, in `App`.
pub fn provide_live_socket() -> LiveSocket {
    let live = LiveSocket {
        state: RwSignal::new(ConnectionState::Connecting),
        heartbeat: RwSignal::new(None),
        now_ms: RwSignal::new(None),
        connects: RwSignal::new(0),
    };
    provide_context(live);
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| untrack(|| browser::start(live)));
    live
}

/// The live connection `App` provided.
pub fn use_live_socket() -> LiveSocket {
    expect_context::<LiveSocket>()
}

#[cfg(feature = "hydrate")]
mod browser {
    use super::{ConnectionState, LiveSocket, SeenHeartbeat};
    use crate::protocol::{Envelope, ServerMessage, close_code};
    use leptos::prelude::*;
    use std::cell::Cell;
    use std::rc::Rc;
    use std::time::Duration;
    use wasm_bindgen::JsCast;
    use wasm_bindgen::prelude::Closure;
    use web_sys::{CloseEvent, MessageEvent, WebSocket};

    const BACKOFF_START_MS: f64 = 500.0;
    const BACKOFF_MAX_MS: f64 = 15_000.0;

    pub(super) fn start(live: LiveSocket) {
        live.now_ms.set(Some(js_sys::Date::now()));
        let ticking = set_interval_with_handle(
            move || live.now_ms.set(Some(js_sys::Date::now())),
            Duration::from_secs(1),
        );
        if let Err(e) = ticking {
            leptos::logging::warn!("[WS] cannot start the page clock: {e:?}");
        }
        let failures = Rc::new(Cell::new(0u32));
        connect(live, failures);
    }

    fn socket_url() -> Option<String> {
        let location = window().location();
        let protocol = location.protocol().ok()?;
        let host = location.host().ok()?;
        let scheme = if protocol == "https:" { "wss" } else { "ws" };
        Some(format!("{scheme}://{host}/ws"))
    }

    fn connect(live: LiveSocket, failures: Rc<Cell<u32>>) {
        let Some(url) = socket_url() else {
            leptos::logging::warn!("[WS] cannot work out the socket address from the page");
            return;
        };
        let socket = match WebSocket::new(&url) {
            Ok(socket) => socket,
            Err(e) => {
                leptos::logging::warn!("[WS] cannot open {url}: {e:?}");
                schedule_reconnect(live, failures);
                return;
            }
        };

        let on_open = {
            let failures = failures.clone();
            Closure::<dyn FnMut()>::new(move || {
                failures.set(0);
                live.state.set(ConnectionState::Open);
                live.connects.update(|n| *n += 1);
            })
        };
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            let Some(text) = event.data().as_string() else {
                return;
            };
            match serde_json::from_str::<Envelope>(&text) {
                Ok(envelope) => receive(live, envelope),
                Err(e) => leptos::logging::warn!("[WS] unreadable message ({e}): {text}"),
            }
        });
        let on_close = {
            let failures = failures.clone();
            Closure::<dyn FnMut(CloseEvent)>::new(move |event: CloseEvent| {
                if event.code() == close_code::SERVICE_RESTART {
                    // A planned restart: come back quickly rather than after a long backoff.
                    failures.set(0);
                }
                live.state.set(ConnectionState::Reconnecting);
                schedule_reconnect(live, failures.clone());
            })
        };
        socket.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        // The socket owns these callbacks for the rest of its life; a reconnect makes new ones.
        on_open.forget();
        on_message.forget();
        on_close.forget();
    }

    fn receive(live: LiveSocket, envelope: Envelope) {
        match envelope.message {
            ServerMessage::Heartbeat(heartbeat) => {
                let newer = live.heartbeat.with_untracked(|seen| match seen {
                    Some(seen) => seen.epoch != envelope.epoch || envelope.seq > seen.seq,
                    None => true,
                });
                if newer {
                    live.heartbeat.set(Some(SeenHeartbeat {
                        seq: envelope.seq,
                        epoch: envelope.epoch,
                        server_ts: envelope.ts,
                        received_at_ms: js_sys::Date::now(),
                        heartbeat,
                    }));
                }
            }
            ServerMessage::Error(error) => {
                leptos::logging::warn!("[WS] server refused a message: {}", error.message);
            }
            // No panel shows the features yet; the page ignores their messages until one does.
            ServerMessage::AccountBalance(_)
            | ServerMessage::Positions(_)
            | ServerMessage::IntradayBar(_)
            | ServerMessage::Vwap(_)
            | ServerMessage::MarketStatus(_)
            | ServerMessage::Pong(_) => {}
        }
    }

    fn schedule_reconnect(live: LiveSocket, failures: Rc<Cell<u32>>) {
        let attempt = failures.get();
        failures.set(attempt.saturating_add(1));
        let ceiling = (BACKOFF_START_MS * 2f64.powi(attempt.min(10) as i32)).min(BACKOFF_MAX_MS);
        // Full jitter between half and all of the ceiling, so a restarted server is not stampeded.
        let delay = ceiling * (0.5 + js_sys::Math::random() * 0.5);
        set_timeout(
            move || connect(live, failures),
            Duration::from_millis(delay as u64),
        );
    }
}
