//! The hub: numbers each topic's messages, serialises each message once, keeps what a
//! (re)connecting client needs, and hands every message to the connections allowed and
//! subscribed to see it, each through its own bounded queue.
//!
//! - **Streams.** Messages are numbered per topic and audience (`seq`, from 1 in each `epoch`).
//!   Each stream keeps its latest message per symbol (the snapshot a new connection gets, and
//!   what REST answers), and `Replay` topics (bars) also keep a ring of recent messages for
//!   clients that resume.
//! - **Queues.** Publishing pushes into each interested connection's queue under the topic's
//!   delivery policy ([`queue`]); a connection that cannot keep up is closed with 4008 and
//!   resumes, so it never slows the others and never holds more than the queue capacity.
//! - **Sharing.** In process by default. With Redis ([`redis`]), one instance (the lease
//!   holder) numbers and publishes; every instance ingests the numbered messages with
//!   [`Hub::ingest`], which detects gaps by `seq` and epochs that move on.

//! ## Layout
//! - [`frame`]: a message serialised once, and its [`Audience`].
//! - [`streams`]: numbering per topic and audience, epochs, publishing and ingesting.
//! - [`queue`]: one connection's bounded queue and its delivery policy (why a client is closed
//!   with 4008).
//! - [`admission`]: connection slots, overall and per user.
//! - [`connection`]: one socket's end of the hub: its queue, subscriptions, resume by message.
//! - [`resume`]: what a (re)connecting client is sent: a snapshot, or a replay of what it missed.
//! - [`metrics`]: the hub's and the sockets' Prometheus series.
//! - [`redis`]: the hub shared by several instances over Redis (publisher, subscriber, wire
//!   format). The jobs lease that decides which instance publishes is `crate::jobs::lease`.

mod admission;
mod connection;
mod frame;
pub mod metrics;
pub mod queue;
pub mod redis;
mod resume;
mod streams;

pub use admission::{Refused, Slot};
pub use connection::Connection;
pub use frame::{Audience, Frame};
pub use streams::Ingested;

use crate::config::HubSettings;
use crate::metrics::MetricsRegistry;
use connection::ConnShared;
use metrics::HubMetrics;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use streams::Stream;
use thor_core::protocol::Topic;
use tokio::sync::{Semaphore, mpsc};

/// Sizes and limits of the hub.
#[derive(Debug, Clone, Copy)]
pub struct HubLimits {
    pub max_connections: usize,
    /// Live messages a connection may have queued before it is closed as too slow.
    pub queue_capacity: usize,
    /// Messages each `Replay` stream keeps for resuming clients.
    pub replay_capacity: usize,
}

impl From<&HubSettings> for HubLimits {
    fn from(settings: &HubSettings) -> Self {
        Self {
            max_connections: settings.max_connections,
            queue_capacity: settings.queue_capacity,
            replay_capacity: settings.replay_capacity,
        }
    }
}

impl Default for HubLimits {
    /// The configured defaults.
    fn default() -> Self {
        Self::from(&crate::config::Settings::default().hub)
    }
}

#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    limits: HubLimits,
    admission: Arc<Semaphore>,
    /// Open connections per user.
    per_user: Mutex<HashMap<i64, usize>>,
    next_id: AtomicU64,
    metrics: HubMetrics,
    /// Where locally numbered messages also go (the shared hub's publisher), if anywhere.
    outlet: OnceLock<mpsc::Sender<Frame>>,
    backend: OnceLock<&'static str>,
}

struct State {
    epoch: u64,
    /// The epoch this instance started as the publisher ([`Hub::begin_epoch`]). Sharing a hub,
    /// it may number messages only in that epoch: a deposed publisher that has already seen
    /// the new publisher's epoch must not issue seqs in it.
    own_epoch: Option<u64>,
    /// The last seq this instance handed out per stream (it may run ahead of `streams` only
    /// while the shared hub echoes messages back).
    numbering: BTreeMap<(Topic, Audience), u64>,
    streams: BTreeMap<(Topic, Audience), Stream>,
    conns: HashMap<u64, Arc<ConnShared>>,
    by_account: HashMap<i64, Vec<Arc<ConnShared>>>,
}

/// Whose connections [`Hub::end_sessions`] closes.
#[derive(Debug, Clone, Copy)]
pub enum SessionsEnding<'a> {
    /// Those opened in this session (its token's hash).
    Session(&'a str),
    /// Every one of this user's.
    User(i64),
}

/// What `/api/health` reports of the hub.
#[derive(Debug, Clone, Serialize)]
pub struct HubStatus {
    pub backend: &'static str,
    pub epoch: u64,
    pub connections: usize,
    pub max_connections: usize,
    pub messages_out: u64,
    /// Queued messages replaced by newer ones or dropped for slow connections.
    pub coalesced_or_dropped: u64,
    pub slow_closes: u64,
    pub topics: thor_core::map::Map<Topic, u64>,
}

impl Hub {
    /// A hub in `epoch`, whose series are registered on `registry`.
    pub fn new(epoch: u64, limits: HubLimits, registry: &MetricsRegistry) -> Self {
        let metrics = HubMetrics::register(registry);
        metrics.epoch.set(i64::try_from(epoch).unwrap_or(i64::MAX));
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    epoch,
                    own_epoch: None,
                    numbering: BTreeMap::new(),
                    streams: BTreeMap::new(),
                    conns: HashMap::new(),
                    by_account: HashMap::new(),
                }),
                admission: Arc::new(Semaphore::new(limits.max_connections)),
                per_user: Mutex::new(HashMap::new()),
                limits,
                next_id: AtomicU64::new(1),
                metrics,
                outlet: OnceLock::new(),
                backend: OnceLock::new(),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every update below leaves the state consistent at each step: recover from a poison.
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn epoch(&self) -> u64 {
        self.state().epoch
    }

    pub fn metrics(&self) -> &HubMetrics {
        &self.inner.metrics
    }

    /// Sends every locally numbered message to `outlet` too (the shared hub's publisher).
    pub fn attach_outlet(&self, outlet: mpsc::Sender<Frame>, backend: &'static str) {
        let _once = self.inner.outlet.set(outlet);
        let _once = self.inner.backend.set(backend);
    }

    /// The latest message of `topic` for `audience`, exactly as the socket carried it (for
    /// per-symbol topics: the most recent of any symbol).
    pub fn latest(&self, topic: Topic, audience: Audience) -> Option<Frame> {
        self.state()
            .streams
            .get(&(topic, audience))
            .and_then(|s| s.latest.values().max_by_key(|f| f.seq).cloned())
    }

    /// The latest message of a per-symbol `topic` about `symbol`, for `audience`.
    pub fn latest_of(&self, topic: Topic, audience: Audience, symbol: &str) -> Option<Frame> {
        self.state()
            .streams
            .get(&(topic, audience))
            .and_then(|s| s.latest.get(&Some(Arc::from(symbol))).cloned())
    }

    /// When (µs since the Unix epoch) the latest message of `topic` to any audience was
    /// published, if any in this epoch.
    pub fn last_published_us(&self, topic: Topic) -> Option<i64> {
        self.state()
            .streams
            .iter()
            .filter(|((t, _), _)| *t == topic)
            .filter_map(|(_, stream)| stream.latest.values().map(|f| f.sent_us).max())
            .max()
    }

    pub fn connections(&self) -> usize {
        usize::try_from(self.inner.metrics.connections.get()).unwrap_or(0)
    }

    /// The latest seq of every topic published to everyone (per-account sequences are private).
    pub fn latest_seqs(&self) -> thor_core::map::Map<Topic, u64> {
        self.state()
            .streams
            .iter()
            .filter(|((_, audience), _)| *audience == Audience::Everyone)
            .map(|((topic, _), stream)| (*topic, stream.seq))
            .collect()
    }

    pub fn backend(&self) -> &'static str {
        self.inner.backend.get().copied().unwrap_or("in-process")
    }

    /// Ends the connections of a session or of every session of a user (their sockets close
    /// with 4001); returns how many.
    pub fn end_sessions(&self, which: SessionsEnding<'_>) -> usize {
        let state = self.state();
        let mut ended = 0;
        for conn in state.conns.values() {
            let matches = match which {
                SessionsEnding::Session(hash) => conn.session.as_deref() == Some(hash),
                SessionsEnding::User(user) => conn.user == Some(user),
            };
            if matches && !conn.ended.is_cancelled() {
                conn.ended.cancel();
                ended += 1;
            }
        }
        ended
    }

    /// The sessions (token hashes) that have open connections, each once.
    pub fn open_sessions(&self) -> Vec<Arc<str>> {
        let state = self.state();
        let mut sessions: Vec<Arc<str>> = state
            .conns
            .values()
            .filter_map(|conn| conn.session.clone())
            .collect();
        sessions.sort_unstable();
        sessions.dedup();
        sessions
    }

    pub fn status(&self) -> HubStatus {
        let metrics = &self.inner.metrics;
        HubStatus {
            backend: self.backend(),
            epoch: self.epoch(),
            connections: self.connections(),
            max_connections: self.inner.limits.max_connections,
            messages_out: metrics.messages_out(),
            coalesced_or_dropped: metrics.dropped_total(),
            slow_closes: metrics.slow_closes.get(),
            topics: self.latest_seqs(),
        }
    }
}

#[cfg(test)]
mod tests;
