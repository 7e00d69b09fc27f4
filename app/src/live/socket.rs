//! The tab's one WebSocket (browser only), on gloo-net: a single task opens it, reads it into the
//! [`LiveStore`], and when it closes waits and opens the next one, resuming where it left off.

use super::{ConnectionState, LiveStore, ResumePoint};
use crate::protocol::{Envelope, ServerMessage, close_code};
use futures::channel::{mpsc, oneshot};
use futures::future::{Either, select};
use futures::{SinkExt, StreamExt};
use gloo_net::http::Request;
use gloo_net::websocket::futures::WebSocket;
use gloo_net::websocket::{Message, State, WebSocketError};
use leptos::prelude::*;
use std::cell::RefCell;
use std::future::poll_fn;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

const BACKOFF_START_MS: f64 = 500.0;
const BACKOFF_MAX_MS: f64 = 15_000.0;
/// Ceiling of the jitter before an immediate reconnect (after 1012 or 4008).
const QUICK_RECONNECT_MS: f64 = 250.0;
/// The normal close a page sends when it leaves.
const NORMAL_CLOSURE: u16 = 1000;

/// The tab's connection, as far as starting and stopping it goes.
enum Tab {
    NotStarted,
    /// The task is running; sending on this tells it the page is leaving.
    Running(oneshot::Sender<()>),
    /// The page is leaving: nothing (re)connects.
    Left,
}

/// Called with every message the socket brings (parsed, and its text), in order, before the
/// store keeps it.
type Listener = std::rc::Rc<dyn Fn(&Envelope, &str)>;

thread_local! {
    static TAB: RefCell<Tab> = const { RefCell::new(Tab::NotStarted) };
    static LISTENERS: RefCell<Vec<Listener>> = const { RefCell::new(Vec::new()) };
    /// The symbols whose bars, forming bar and VWAP the page shows (`None`: every symbol).
    static SYMBOLS: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
    /// Tells the connection task that [`SYMBOLS`] changed.
    static SYMBOLS_CHANGED: RefCell<Option<mpsc::UnboundedSender<()>>> = const { RefCell::new(None) };
}

/// The page shows these symbols now: the open socket changes its subscription, and every
/// later socket asks for them when it opens.
pub(super) fn show_symbols(symbols: Vec<String>) {
    let changed = SYMBOLS.with(|held| {
        let mut held = held.borrow_mut();
        let changed = held.as_ref() != Some(&symbols);
        *held = Some(symbols);
        changed
    });
    if changed {
        SYMBOLS_CHANGED.with(|tx| {
            if let Some(tx) = tx.borrow().as_ref() {
                // The task has ended (the page is leaving): nothing to tell.
                let _ = tx.unbounded_send(());
            }
        });
    }
}

fn shown_symbols() -> Option<Vec<String>> {
    SYMBOLS.with(|held| held.borrow().clone())
}

/// Hands every message the socket brings to `listener`, in order: for what needs each message
/// (closed bars, parity, the shadow log), where the store's signals keep only the latest.
pub(super) fn listen(listener: impl Fn(&Envelope, &str) + 'static) {
    LISTENERS.with(|all| all.borrow_mut().push(std::rc::Rc::new(listener)));
}

/// Starts the page clock and the connection task, once per tab.
pub(super) fn start(live: LiveStore) {
    let leaving = TAB.with(|tab| {
        let mut tab = tab.borrow_mut();
        if !matches!(*tab, Tab::NotStarted) {
            return None;
        }
        let (leave, leaving) = oneshot::channel();
        *tab = Tab::Running(leave);
        Some(leaving)
    });
    let Some(leaving) = leaving else {
        return;
    };
    let (symbols_changed, changes) = mpsc::unbounded();
    SYMBOLS_CHANGED.with(|tx| *tx.borrow_mut() = Some(symbols_changed));
    live.tick(js_sys::Date::now());
    let ticking = set_interval_with_handle(
        move || live.tick(js_sys::Date::now()),
        Duration::from_secs(1),
    );
    if let Err(e) = ticking {
        leptos::logging::warn!("[WS] cannot start the page clock: {e:?}");
    }
    leptos::task::spawn_local(stay_connected(live, leaving, changes));
}

/// The page is leaving: close the socket (the task does, it owns it) and never reconnect.
pub(super) fn stop() {
    let tab = TAB.with(|tab| tab.replace(Tab::Left));
    if let Tab::Running(leave) = tab {
        // Already gone means the task has ended: nothing left to close.
        let _ = leave.send(());
    }
}

/// How one socket's life ended.
enum Ended {
    /// The page is leaving; the socket is closed.
    Left,
    /// The browser would not even create the socket.
    Refused,
    /// The socket failed before it opened.
    NeverOpened,
    /// The socket opened, then closed (with the code of its close frame, if one came).
    Closed(Option<u16>),
}

/// Opens the socket, follows it until it closes, waits, and opens the next, until the page leaves.
async fn stay_connected(
    live: LiveStore,
    mut leaving: oneshot::Receiver<()>,
    mut changes: mpsc::UnboundedReceiver<()>,
) {
    let mut resume = ResumePoint::default();
    // Attempts since the last socket that opened.
    let mut failures: u32 = 0;
    loop {
        let symbols = shown_symbols();
        let ended = match open(&resume, symbols.as_deref()) {
            Some(socket) => {
                let followed = Followed {
                    socket,
                    symbols,
                    changes: &mut changes,
                };
                follow(followed, live, &mut resume, &mut leaving).await
            }
            None => Ended::Refused,
        };
        let code = match ended {
            Ended::Left => return,
            Ended::Refused => None,
            Ended::NeverOpened => {
                // Perhaps the session is gone, and no reconnect will help.
                check_still_signed_in();
                None
            }
            Ended::Closed(Some(close_code::SESSION_ENDED)) => {
                // Signed out (here or elsewhere), or the session expired: to the sign-in page.
                check_still_signed_in();
                None
            }
            Ended::Closed(code) => {
                failures = 0;
                code
            }
        };
        live.set_state(ConnectionState::Reconnecting);
        // A restart (1012) or falling behind (4008): come back at once and resume.
        let quick = code.filter(|&c| c == close_code::SERVICE_RESTART || c == close_code::TOO_SLOW);
        if let Some(code) = quick {
            leptos::logging::log!("[WS] closed with {code}: reconnecting now to resume");
        }
        let delay = reconnect_delay_ms(quick.is_some(), failures, js_sys::Math::random());
        if quick.is_none() {
            failures = failures.saturating_add(1);
        }
        if unless_leaving(sleep(delay), &mut leaving).await.is_none() {
            return;
        }
    }
}

/// Opens a socket to `/ws` for `symbols`, resuming from `resume`; `None` if the browser
/// refuses to.
fn open(resume: &ResumePoint, symbols: Option<&[String]>) -> Option<WebSocket> {
    let Some(url) = socket_url(resume, symbols) else {
        leptos::logging::warn!("[WS] cannot work out the socket address from the page");
        return None;
    };
    match WebSocket::open(&url) {
        Ok(socket) => Some(socket),
        Err(e) => {
            leptos::logging::warn!("[WS] cannot open {url}: {e}");
            None
        }
    }
}

/// `/ws?symbols=…`, and on a reconnect `&epoch=E&since=topic:seq,…` to resume where the page
/// left off.
fn socket_url(resume: &ResumePoint, symbols: Option<&[String]>) -> Option<String> {
    // web-sys: gloo-net has no view of the page's own address.
    let location = window().location();
    let protocol = location.protocol().ok()?;
    let host = location.host().ok()?;
    let scheme = if protocol == "https:" { "wss" } else { "ws" };
    Some(format!("{scheme}://{host}/ws{}", resume.query_for(symbols)))
}

/// One open socket, the symbols it is subscribed to, and word of the page's changing them.
struct Followed<'a> {
    socket: WebSocket,
    /// `None`: every symbol.
    symbols: Option<Vec<String>>,
    changes: &'a mut mpsc::UnboundedReceiver<()>,
}

/// `{"type":"subscribe","symbols":[…]}` (or `unsubscribe`): a struct, not `serde_json::json!`,
/// whose `Value` would bring a `BTreeMap` of its own and a float writer into the bundle.
#[derive(serde::Serialize)]
struct Follow<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    symbols: &'a [&'a String],
}

impl Followed<'_> {
    /// Subscribes to the symbols the page shows now and unsubscribes from those it no longer
    /// does (added first, so the chart never goes without its symbol's bars).
    async fn follow_symbols(&mut self) {
        let Some(wanted) = shown_symbols() else {
            return;
        };
        let held = self.symbols.clone().unwrap_or_default();
        let added: Vec<&String> = wanted.iter().filter(|s| !held.contains(s)).collect();
        let removed: Vec<&String> = held.iter().filter(|s| !wanted.contains(s)).collect();
        let messages = [("subscribe", added), ("unsubscribe", removed)];
        for (kind, symbols) in messages.iter().filter(|(_, s)| !s.is_empty()) {
            let text = serde_json::to_string(&Follow { kind, symbols }).unwrap_or_default();
            if let Err(e) = self.socket.send(Message::Text(text)).await {
                // The socket is closing: the next one opens with the symbols shown.
                leptos::logging::warn!("[WS] cannot {kind}: {e}");
                return;
            }
        }
        self.symbols = Some(wanted);
    }
}

/// Reads one socket into the store until it closes or the page leaves, following the symbols
/// the page shows.
async fn follow(
    mut followed: Followed<'_>,
    live: LiveStore,
    resume: &mut ResumePoint,
    leaving: &mut oneshot::Receiver<()>,
) -> Ended {
    let Some(opened) = unless_leaving(opened(&mut followed.socket), leaving).await else {
        return leave(followed.socket);
    };
    if !opened {
        return Ended::NeverOpened;
    }
    live.opened();
    // The symbols may have changed while the socket was opening.
    followed.follow_symbols().await;
    loop {
        let step = select(followed.socket.next(), followed.changes.next());
        let Some(step) = unless_leaving(step, leaving).await else {
            return leave(followed.socket);
        };
        let next = match step {
            Either::Left((next, _)) => next,
            Either::Right(_) => {
                followed.follow_symbols().await;
                continue;
            }
        };
        match next {
            Some(Ok(Message::Text(text))) => match serde_json::from_str::<Envelope>(&text) {
                Ok(envelope) => receive(live, resume, envelope, &text),
                Err(e) => leptos::logging::warn!("[WS] unreadable message ({e}): {text}"),
            },
            Some(Ok(Message::Bytes(bytes))) => {
                leptos::logging::warn!("[WS] ignored a binary message of {} bytes", bytes.len());
            }
            Some(Err(WebSocketError::ConnectionClose(event))) => {
                return Ended::Closed(Some(event.code));
            }
            // The browser reports the failure itself; the close that follows ends the socket.
            Some(Err(_)) => {}
            None => return Ended::Closed(None),
        }
    }
}

/// Waits until the socket opens (`true`) or fails first (`false`).
async fn opened(socket: &mut WebSocket) -> bool {
    poll_fn(|cx| {
        // The sink is ready once the socket has left "connecting"; its state says how.
        if socket.poll_ready_unpin(cx).is_ready() {
            return Poll::Ready(matches!(socket.state(), State::Open));
        }
        // An error or close while still connecting (no message can come before the open).
        socket.poll_next_unpin(cx).map(|_| false)
    })
    .await
}

/// Closes the socket the normal way as the page leaves.
fn leave(socket: WebSocket) -> Ended {
    if let Err(e) = socket.close(Some(NORMAL_CLOSURE), None) {
        leptos::logging::warn!("[WS] cannot close the socket: {e}");
    }
    Ended::Left
}

/// Notes where to resume from, keeps topic messages in the store, and logs the replies.
fn receive(live: LiveStore, resume: &mut ResumePoint, envelope: Envelope, text: &str) {
    resume.note(&envelope);
    match &envelope.message {
        ServerMessage::Hello(hello) => live.server_build(hello.build.clone()),
        ServerMessage::Resumed(resumed) => {
            leptos::logging::log!(
                "[WS] resumed epoch {}: replayed {:?}, snapshot {:?}",
                resumed.epoch,
                resumed.replayed,
                resumed.snapshot
            );
            resume.note_epoch(resumed.epoch);
        }
        ServerMessage::Subscribed(subscription) => {
            leptos::logging::log!("[WS] subscribed: {subscription:?}");
        }
        ServerMessage::Error(error) => {
            leptos::logging::warn!("[WS] server refused a message: {}", error.message);
        }
        _ => {
            // Cloned out first: a listener may register another.
            let listeners: Vec<Listener> = LISTENERS.with(|all| all.borrow().clone());
            for listener in listeners {
                listener(&envelope, text);
            }
            live.keep(envelope, js_sys::Date::now());
        }
    }
}

/// How long to wait before the next attempt. `random` is in [0, 1).
fn reconnect_delay_ms(quick: bool, failures: u32, random: f64) -> f64 {
    if quick {
        return QUICK_RECONNECT_MS * random;
    }
    let ceiling = (BACKOFF_START_MS * 2f64.powi(failures.min(10) as i32)).min(BACKOFF_MAX_MS);
    // Full jitter between half and all of the ceiling, so a restarted server is not stampeded.
    ceiling * (0.5 + random * 0.5)
}

/// Waits for `step`, unless the page leaves first (`None`).
async fn unless_leaving<T>(
    step: impl Future<Output = T>,
    leaving: &mut oneshot::Receiver<()>,
) -> Option<T> {
    // Leaving is checked first, so a page that left never acts on a socket's last words.
    match select(leaving, pin!(step)).await {
        Either::Left(_) => None,
        Either::Right((value, _)) => Some(value),
    }
}

async fn sleep(delay_ms: f64) {
    let (done, wait) = oneshot::channel();
    set_timeout(
        move || {
            let _ = done.send(());
        },
        Duration::from_millis(delay_ms as u64),
    );
    let _ = wait.await;
}

/// Asks the server whether this page's session still stands; if it does not, goes to the
/// sign-in page instead of knocking on `/ws` forever.
fn check_still_signed_in() {
    leptos::task::spawn_local(async {
        // Unreachable server: the reconnects carry on and will try again.
        let Ok(response) = Request::get("/api/auth/me").send().await else {
            return;
        };
        // web-sys: gloo-net does not navigate.
        if response.status() == 401
            && let Err(e) = window().location().assign(crate::LOGIN_PATH)
        {
            leptos::logging::warn!("[WS] cannot go to the sign-in page: {e:?}");
        }
    });
}
