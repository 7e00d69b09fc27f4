//! The page's live connection: one WebSocket per tab, shared by every panel through context.
//!
//! On the server (SSR) nothing connects: the signals start as "connecting" with no data, which is
//! exactly what the hydrated page starts from too, so hydration matches. In the browser the
//! dashboard opens the socket after hydration ([`connect`]). The page remembers the epoch and the
//! last `seq` of every topic it received, and every reconnect asks the server to resume from
//! there (`/ws?epoch=E&since=topic:seq,…`), so nothing still in the server's buffer is missed.
//! The socket carries the per-symbol topics (bars, forming bar, VWAP) of the symbols the page
//! shows ([`show_symbols`]: `?symbols=SPY`, and `subscribe`/`unsubscribe` when they change).
//! A socket the server closed for a restart (1012) or for falling behind (4008) comes back at once;
//! any other loss, with jittered exponential backoff.
//!
//! ## Parts
//! - `store`: [`LiveStore`], the signals panels read: the latest message of every topic (with its
//!   receipt time), the heartbeat, the [`ConnectionState`], the page clock and the connect count.
//! - `socket` (browser only): the tab's one socket on gloo-net, its reconnects, and the "still
//!   signed in?" check; the only writer of the store.
//! - `resume`: [`ResumePoint`], where a reconnect resumes from.
//! - [`build`]: a page of an old build reloads itself once the server is on a new one.
//! - [`choose`]: which source a panel renders a feature from (the websocket-aware hook's rule).

pub mod build;
pub mod choose;
mod resume;
#[cfg(feature = "hydrate")]
mod socket;
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
    Effect::new(move |_| untrack(|| socket::start(live)));
    #[cfg(not(feature = "hydrate"))]
    let _ = live;
}

/// Hands every message the socket brings to `listener`, in order (browser only).
#[cfg(feature = "hydrate")]
pub fn listen(listener: impl Fn(&crate::protocol::Envelope, &str) + 'static) {
    socket::listen(listener);
}

/// The page shows these symbols (the chart's): the socket receives the bars, forming bar and
/// VWAP of these alone, from its next open or at once if it is open (browser only). Until a
/// page says, a socket receives every symbol's.
pub fn show_symbols(symbols: Vec<String>) {
    #[cfg(feature = "hydrate")]
    socket::show_symbols(symbols);
    #[cfg(not(feature = "hydrate"))]
    let _ = symbols;
}

/// The page is leaving (signing out): close the socket and never reconnect.
pub fn stop() {
    #[cfg(feature = "hydrate")]
    socket::stop();
}
