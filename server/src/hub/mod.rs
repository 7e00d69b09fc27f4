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
//! - **Sharing.** In process by default. With Redis ([`shared`]), one instance (the lease
//!   holder) numbers and publishes; every instance ingests the numbered messages with
//!   [`Hub::ingest`], which detects gaps by `seq` and epochs that move on.

pub mod metrics;
pub mod queue;
pub mod shared;

use app::protocol::Resumed;
use app::protocol::{Delivery, Envelope, ServerMessage, SnapshotReason, Subscription, Topic};
use axum::extract::ws::Utf8Bytes;
use metrics::{Metrics, inc};
use queue::{ConnQueue, Pushed};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc};

/// Who may receive a message: everyone, or only the connections signed in to one account.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize,
)]
pub enum Audience {
    Everyone,
    Account(i64),
}

impl Audience {
    /// Whether a connection signed in to `account` (or to none) may see this.
    pub fn admits(self, account: Option<i64>) -> bool {
        match self {
            Audience::Everyone => true,
            Audience::Account(id) => account == Some(id),
        }
    }
}

/// One message, serialised once, ready for every connection allowed to see it.
#[derive(Clone, Debug)]
pub struct Frame {
    pub topic: Topic,
    pub audience: Audience,
    /// The symbol, for per-symbol topics (bars, VWAP).
    pub key: Option<Arc<str>>,
    pub seq: u64,
    pub epoch: u64,
    /// When it was published, microseconds since the Unix epoch (for the lag metric).
    pub sent_us: i64,
    pub text: Utf8Bytes,
}

/// Sizes and limits of the hub.
#[derive(Debug, Clone, Copy)]
pub struct HubLimits {
    pub max_connections: usize,
    /// Live messages a connection may have queued before it is closed as too slow.
    pub queue_capacity: usize,
    /// Messages each `Replay` stream keeps for resuming clients.
    pub replay_capacity: usize,
}

impl Default for HubLimits {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            queue_capacity: 256,
            replay_capacity: 1024,
        }
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
    connections: AtomicUsize,
    next_id: AtomicU64,
    metrics: Metrics,
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

#[derive(Default)]
struct Stream {
    seq: u64,
    latest: BTreeMap<Option<Arc<str>>, Frame>,
    ring: VecDeque<Frame>,
}

impl Stream {
    /// The current state: the latest message per symbol, in seq order.
    fn snapshot(&self) -> Vec<&Frame> {
        let mut frames: Vec<&Frame> = self.latest.values().collect();
        frames.sort_by_key(|f| f.seq);
        frames
    }
}

/// What a connection is sent when it connects, subscribes or resumes.
#[derive(Clone, Copy)]
enum Fill<'a> {
    /// The current state; with `only`, just of these added topics and symbols.
    Snapshot {
        only: Option<(&'a BTreeSet<Topic>, &'a BTreeSet<Arc<str>>)>,
    },
    /// What followed each named topic's seq of `epoch`, from the replay buffer (or the
    /// current state where that is impossible). Unnamed topics get the current state at
    /// connect time, and nothing on a `resume` message.
    Resume {
        epoch: u64,
        seqs: &'a BTreeMap<Topic, u64>,
        others_get_snapshot: bool,
    },
}

/// What happened to a message handed to [`Hub::ingest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingested {
    Delivered,
    /// Already had it (this instance published it, or it came twice).
    Duplicate,
    /// Delivered, but messages between the last one and this one never arrived.
    AfterGap {
        missing_from: u64,
    },
    /// From an epoch older than the current one (a deposed publisher): ignored.
    Stale,
}

struct ConnShared {
    id: u64,
    account: Option<i64>,
    queue: Mutex<ConnQueue>,
    notify: Notify,
}

impl ConnShared {
    fn queue(&self) -> MutexGuard<'_, ConnQueue> {
        self.queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
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
    pub topics: BTreeMap<Topic, u64>,
}

/// A connection slot, taken before the upgrade so a full server can say so.
pub struct Slot {
    _permit: OwnedSemaphorePermit,
    user: Option<UserSlot>,
}

/// One of a user's connections; dropping it gives the place back.
struct UserSlot {
    hub: Hub,
    user: i64,
}

impl Drop for UserSlot {
    fn drop(&mut self) {
        let mut per_user = self.hub.per_user();
        if let Some(count) = per_user.get_mut(&self.user) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                per_user.remove(&self.user);
            }
        }
    }
}

/// Why [`Hub::admit_user`] refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The server is at its connection limit.
    Full,
    /// This user already holds their limit of connections.
    UserLimit,
}

/// One open connection's end of the hub. Dropping it unregisters the connection.
pub struct Connection {
    hub: Hub,
    shared: Arc<ConnShared>,
    _slot: Slot,
}

pub fn now_ms() -> i64 {
    now_us() / 1000
}

pub fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The symbol a message is about, for per-symbol topics.
fn key_of(message: &ServerMessage) -> Option<Arc<str>> {
    match message {
        ServerMessage::IntradayBar(bar) => Some(Arc::from(bar.symbol.as_str())),
        ServerMessage::Vwap(vwap) => Some(Arc::from(vwap.symbol.as_str())),
        _ => None,
    }
}

impl Hub {
    pub fn new(epoch: u64, limits: HubLimits) -> Self {
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
                connections: AtomicUsize::new(0),
                next_id: AtomicU64::new(1),
                metrics: Metrics::default(),
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

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Sends every locally numbered message to `outlet` too (the shared hub's publisher).
    pub fn attach_outlet(&self, outlet: mpsc::Sender<Frame>, backend: &'static str) {
        let _once = self.inner.outlet.set(outlet);
        let _once = self.inner.backend.set(backend);
    }

    /// Starts a new epoch (this instance became the publisher): sequences restart at 1 and
    /// every stream is emptied. The epoch is the later of now in milliseconds and the current
    /// epoch plus one, so it only ever grows, even across restarts of the shared store.
    pub fn begin_epoch(&self) -> u64 {
        let mut state = self.state();
        let epoch = u64::try_from(now_ms()).unwrap_or(0).max(state.epoch + 1);
        state.switch_epoch(epoch);
        state.own_epoch = Some(epoch);
        epoch
    }

    /// Numbers, serialises and delivers `message` to everyone; returns its sequence number.
    pub fn publish(&self, topic: Topic, message: ServerMessage) -> u64 {
        self.publish_to(Audience::Everyone, topic, message)
    }

    /// Numbers (per topic and audience), serialises and delivers `message` to `audience`.
    pub fn publish_to(&self, audience: Audience, topic: Topic, message: ServerMessage) -> u64 {
        let key = key_of(&message);
        let mut state = self.state();
        let stream_seq = state.streams.get(&(topic, audience)).map_or(0, |s| s.seq);
        if self.inner.outlet.get().is_some() && state.own_epoch != Some(state.epoch) {
            tracing::warn!(
                topic = topic.as_str(),
                epoch = state.epoch,
                "not the publisher of this epoch (the lease moved on); message not sent"
            );
            return stream_seq;
        }
        let epoch = state.epoch;
        let numbered = state.numbering.entry((topic, audience)).or_default();
        let seq = (*numbered).max(stream_seq) + 1;
        let sent_us = now_us();
        let envelope = Envelope {
            message,
            seq,
            epoch,
            ts: sent_us / 1000,
        };
        let text = match serde_json::to_string(&envelope) {
            Ok(text) => text,
            Err(e) => {
                tracing::error!(topic = topic.as_str(), error = %e, "cannot serialise a message; not sent");
                return seq - 1;
            }
        };
        *numbered = seq;
        let frame = Frame {
            topic,
            audience,
            key,
            seq,
            epoch,
            sent_us,
            text: text.into(),
        };
        self.inner.metrics.published(topic);
        if let Some(outlet) = self.inner.outlet.get()
            && outlet.try_send(frame.clone()).is_err()
        {
            inc(&self.inner.metrics.outlet_drops);
            tracing::warn!(
                topic = topic.as_str(),
                seq,
                "the shared hub's publisher is too far behind: this message reaches only this \
                 instance's sockets; other instances will see a gap and fall back to snapshots"
            );
        }
        self.ingest_locked(&mut state, frame);
        seq
    }

    /// Delivers a message numbered elsewhere (by the instance holding the lease). Newer epochs
    /// replace the current one; a seq that skips ahead is delivered and reported as a gap.
    pub fn ingest(&self, frame: Frame) -> Ingested {
        let mut state = self.state();
        self.ingest_locked(&mut state, frame)
    }

    fn ingest_locked(&self, state: &mut State, frame: Frame) -> Ingested {
        if frame.epoch < state.epoch {
            return Ingested::Stale;
        }
        if frame.epoch > state.epoch {
            state.switch_epoch(frame.epoch);
        }
        let stream = state
            .streams
            .entry((frame.topic, frame.audience))
            .or_default();
        if frame.seq <= stream.seq {
            return Ingested::Duplicate;
        }
        let outcome = if stream.seq > 0 && frame.seq > stream.seq + 1 {
            inc(&self.inner.metrics.gaps);
            // A hole in the ring: resuming across it must fall back to a snapshot.
            stream.ring.clear();
            Ingested::AfterGap {
                missing_from: stream.seq + 1,
            }
        } else {
            Ingested::Delivered
        };
        stream.seq = frame.seq;
        stream.latest.insert(frame.key.clone(), frame.clone());
        if frame.topic.delivery() == Delivery::Replay {
            if stream.ring.len() >= self.inner.limits.replay_capacity {
                stream.ring.pop_front();
            }
            stream.ring.push_back(frame.clone());
        }
        let metrics = &self.inner.metrics;
        let deliver = |conn: &Arc<ConnShared>| {
            let pushed = conn.queue().push(&frame);
            match pushed {
                Pushed::Skipped => return,
                Pushed::Queued => {}
                Pushed::Coalesced => metrics.coalesced(frame.topic),
                Pushed::Dropped => {
                    metrics.dropped(frame.topic);
                    return;
                }
                Pushed::Overflowed => inc(&metrics.slow_closes),
            }
            conn.notify.notify_one();
        };
        match frame.audience {
            Audience::Everyone => state.conns.values().for_each(deliver),
            Audience::Account(id) => {
                if let Some(conns) = state.by_account.get(&id) {
                    conns.iter().for_each(deliver);
                }
            }
        }
        outcome
    }

    /// The seq this instance last delivered on a stream (0: none yet in this epoch).
    pub fn stream_seq(&self, topic: Topic, audience: Audience) -> u64 {
        self.state()
            .streams
            .get(&(topic, audience))
            .map_or(0, |s| s.seq)
    }

    fn per_user(&self) -> MutexGuard<'_, HashMap<i64, usize>> {
        self.inner
            .per_user
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes a connection slot, or `None` when the hub is full.
    pub fn admit(&self) -> Option<Slot> {
        let permit = self.inner.admission.clone().try_acquire_owned().ok();
        if permit.is_none() {
            inc(&self.inner.metrics.refused_full);
        }
        Some(Slot {
            _permit: permit?,
            user: None,
        })
    }

    /// Takes a connection slot for `user`, who may hold at most `per_user` at once.
    pub fn admit_user(&self, user: i64, per_user: usize) -> Result<Slot, Refused> {
        {
            let mut counts = self.per_user();
            let count = counts.entry(user).or_default();
            if *count >= per_user {
                inc(&self.inner.metrics.refused_user_limit);
                return Err(Refused::UserLimit);
            }
            *count += 1;
        }
        // From here the user's place is held by the guard, and given back if the hub is full.
        let guard = UserSlot {
            hub: self.clone(),
            user,
        };
        let mut slot = self.admit().ok_or(Refused::Full)?;
        slot.user = Some(guard);
        Ok(slot)
    }

    /// Registers a connection for `account` and queues what it gets at once: the current
    /// state of every topic it may see, or, with `resume` (epoch and last seq per topic), what
    /// it missed — with the `resumed` reply that says which.
    pub fn connect(
        &self,
        slot: Slot,
        account: Option<i64>,
        resume: Option<(u64, &BTreeMap<Topic, u64>)>,
    ) -> (Connection, Option<Resumed>) {
        let shared = Arc::new(ConnShared {
            id: self.inner.next_id.fetch_add(1, Ordering::Relaxed),
            account,
            queue: Mutex::new(ConnQueue::new(self.inner.limits.queue_capacity)),
            notify: Notify::new(),
        });
        let mut state = self.state();
        let resumed = {
            let mut queue = shared.queue();
            let fill = match resume {
                Some((epoch, seqs)) => Fill::Resume {
                    epoch,
                    seqs,
                    others_get_snapshot: true,
                },
                None => Fill::Snapshot { only: None },
            };
            let resumed = self.fill(&state, &mut queue, account, fill);
            if !queue.is_empty() {
                shared.notify.notify_one();
            }
            resumed
        };
        state.conns.insert(shared.id, shared.clone());
        if let Some(id) = account {
            state.by_account.entry(id).or_default().push(shared.clone());
        }
        drop(state);
        self.inner.connections.fetch_add(1, Ordering::Relaxed);
        inc(&self.inner.metrics.accepted);
        (
            Connection {
                hub: self.clone(),
                shared,
                _slot: slot,
            },
            resumed,
        )
    }

    /// Queues, for every stream the connection may see and is subscribed to, what `fill`
    /// asks: the current state, or what followed a client's seqs (see [`Fill`]).
    fn fill(
        &self,
        state: &State,
        queue: &mut ConnQueue,
        account: Option<i64>,
        fill: Fill<'_>,
    ) -> Option<Resumed> {
        let metrics = &self.inner.metrics;
        let mut report = match fill {
            Fill::Resume { .. } => {
                inc(&metrics.resumes);
                Some(Resumed {
                    epoch: state.epoch,
                    replayed: BTreeMap::new(),
                    snapshot: BTreeMap::new(),
                })
            }
            Fill::Snapshot { .. } => None,
        };
        for ((topic, audience), stream) in &state.streams {
            if !audience.admits(account) || !queue.wants_topic(*topic) {
                continue;
            }
            let (epoch, since) = match fill {
                Fill::Snapshot { only: None } => {
                    stream.snapshot().into_iter().for_each(|f| {
                        queue.push_initial(f);
                    });
                    continue;
                }
                Fill::Snapshot {
                    only: Some((topics, symbols)),
                } => {
                    for frame in stream.snapshot() {
                        let added = topics.contains(topic)
                            || frame.key.as_ref().is_some_and(|k| symbols.contains(k));
                        if added {
                            queue.push_initial(frame);
                        }
                    }
                    continue;
                }
                Fill::Resume {
                    epoch,
                    seqs,
                    others_get_snapshot,
                } => match seqs.get(topic) {
                    Some(since) => (epoch, *since),
                    None => {
                        if others_get_snapshot {
                            stream.snapshot().into_iter().for_each(|f| {
                                queue.push_initial(f);
                            });
                        }
                        continue;
                    }
                },
            };
            let Some(report) = report.as_mut() else {
                continue;
            };
            // Whatever of this stream is queued is sent again below, in order from `since`.
            queue.forget_stream(*topic, *audience);
            let fallback = if epoch != state.epoch {
                Some(SnapshotReason::NewEpoch)
            } else if since > stream.seq {
                Some(SnapshotReason::AheadOfServer)
            } else if since == stream.seq {
                None
            } else if topic.delivery() == Delivery::Replay {
                match stream.ring.front() {
                    Some(oldest) if oldest.seq <= since + 1 => {
                        let missed = stream.ring.iter().filter(|f| f.seq > since);
                        let n = missed.filter(|f| queue.push_initial(f)).count() as u64;
                        *report.replayed.entry(*topic).or_default() += n;
                        metrics.replayed.fetch_add(n, Ordering::Relaxed);
                        None
                    }
                    _ => Some(SnapshotReason::BeyondBuffer),
                }
            } else {
                // Of state and droppable topics only the newest matters: send what changed.
                let changed = stream.snapshot().into_iter().filter(|f| f.seq > since);
                let n = changed.filter(|f| queue.push_initial(f)).count() as u64;
                *report.replayed.entry(*topic).or_default() += n;
                None
            };
            if let Some(reason) = fallback {
                metrics.snapshot_fallback(reason);
                report.snapshot.insert(*topic, reason);
                stream.snapshot().into_iter().for_each(|f| {
                    queue.push_initial(f);
                });
            }
        }
        report
    }

    /// The latest message of `topic` for `audience`, exactly as the socket carried it (for
    /// per-symbol topics: the most recent of any symbol).
    pub fn latest(&self, topic: Topic, audience: Audience) -> Option<Frame> {
        self.state()
            .streams
            .get(&(topic, audience))
            .and_then(|s| s.latest.values().max_by_key(|f| f.seq).cloned())
    }

    pub fn connections(&self) -> usize {
        self.inner.connections.load(Ordering::Relaxed)
    }

    /// The latest seq of every topic published to everyone (per-account sequences are private).
    pub fn latest_seqs(&self) -> BTreeMap<Topic, u64> {
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

    pub fn status(&self) -> HubStatus {
        let metrics = &self.inner.metrics;
        HubStatus {
            backend: self.backend(),
            epoch: self.epoch(),
            connections: self.connections(),
            max_connections: self.inner.limits.max_connections,
            messages_out: metrics.messages_out(),
            coalesced_or_dropped: metrics.dropped_total(),
            slow_closes: metrics.slow_closes.load(Ordering::Relaxed),
            topics: self.latest_seqs(),
        }
    }

    /// Every metric in Prometheus's text format.
    pub fn render_metrics(&self, extra: &[(&str, &str, f64)]) -> String {
        let mut gauges = vec![
            (
                "thor_ws_connections",
                "Open WebSocket connections.",
                self.connections() as f64,
            ),
            (
                "thor_hub_epoch",
                "The hub's current epoch.",
                self.epoch() as f64,
            ),
        ];
        gauges.extend_from_slice(extra);
        self.inner.metrics.render(&gauges)
    }
}

impl State {
    fn switch_epoch(&mut self, epoch: u64) {
        tracing::info!(from = self.epoch, to = epoch, "the hub starts a new epoch");
        self.epoch = epoch;
        self.own_epoch = None;
        self.streams.clear();
        self.numbering.clear();
    }
}

impl Connection {
    /// Waits until something is queued, then takes it all, in order; the flag says the
    /// connection overflowed and must be closed as too slow.
    pub async fn next_batch(&self) -> (VecDeque<Frame>, bool) {
        loop {
            let (frames, overflowed) = self.shared.queue().take();
            if overflowed || !frames.is_empty() {
                return (frames, overflowed);
            }
            // `notify_one` keeps a permit when nobody waits, so a push between the take above
            // and this wait is not missed.
            self.shared.notify.notified().await;
        }
    }

    /// Counts a message written to the socket.
    pub fn sent(&self, frame: &Frame) {
        self.hub
            .inner
            .metrics
            .sent(frame.topic, frame.text.len(), now_us() - frame.sent_us);
    }

    /// What this connection currently receives.
    pub fn subscription(&self, all_symbols: &[Arc<str>]) -> Subscription {
        let queue = self.shared.queue();
        Subscription {
            topics: queue.topics(),
            symbols: match queue.symbols() {
                Some(symbols) => symbols.iter().map(|s| s.to_string()).collect(),
                None => all_symbols.iter().map(|s| s.to_string()).collect(),
            },
        }
    }

    /// Adds topics and symbols, and queues the current state of what was added.
    pub fn subscribe(&self, topics: &[Topic], symbols: &[Arc<str>]) {
        let state = self.hub.state();
        let mut queue = self.shared.queue();
        let new_topics: BTreeSet<Topic> = topics
            .iter()
            .copied()
            .filter(|t| !queue.wants_topic(*t))
            .collect();
        let new_symbols: BTreeSet<Arc<str>> = symbols
            .iter()
            .filter(|s| !queue.wants_symbol(s))
            .cloned()
            .collect();
        for topic in &new_topics {
            queue.set_topic(*topic, true);
        }
        if let Some(mut current) = queue.symbols().cloned() {
            current.extend(new_symbols.iter().cloned());
            queue.set_symbols(Some(current));
        }
        if new_topics.is_empty() && new_symbols.is_empty() {
            return;
        }
        self.hub.fill(
            &state,
            &mut queue,
            self.shared.account,
            Fill::Snapshot {
                only: Some((&new_topics, &new_symbols)),
            },
        );
        if !queue.is_empty() {
            self.shared.notify.notify_one();
        }
    }

    /// Removes topics and symbols (`all_symbols`: every symbol, for narrowing from "all").
    pub fn unsubscribe(&self, topics: &[Topic], symbols: &[Arc<str>], all_symbols: &[Arc<str>]) {
        let mut queue = self.shared.queue();
        for topic in topics {
            queue.set_topic(*topic, false);
        }
        if !symbols.is_empty() {
            let mut current: BTreeSet<Arc<str>> = match queue.symbols() {
                Some(current) => current.clone(),
                None => all_symbols.iter().cloned().collect(),
            };
            for symbol in symbols {
                current.remove(symbol);
            }
            queue.set_symbols(Some(current));
        }
        queue.retain_wanted();
    }

    /// Queues what followed the given seqs of `epoch` for the named topics (or their current
    /// state where that is gone), and says which.
    pub fn resume(&self, epoch: u64, seqs: &BTreeMap<Topic, u64>) -> Resumed {
        let state = self.hub.state();
        let mut queue = self.shared.queue();
        let resumed = self
            .hub
            .fill(
                &state,
                &mut queue,
                self.shared.account,
                Fill::Resume {
                    epoch,
                    seqs,
                    others_get_snapshot: false,
                },
            )
            .unwrap_or(Resumed {
                epoch: state.epoch,
                replayed: BTreeMap::new(),
                snapshot: BTreeMap::new(),
            });
        if !queue.is_empty() {
            self.shared.notify.notify_one();
        }
        resumed
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        let mut state = self.hub.state();
        state.conns.remove(&self.shared.id);
        if let Some(id) = self.shared.account
            && let Some(conns) = state.by_account.get_mut(&id)
        {
            conns.retain(|c| c.id != self.shared.id);
            if conns.is_empty() {
                state.by_account.remove(&id);
            }
        }
        drop(state);
        self.hub.inner.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests;
