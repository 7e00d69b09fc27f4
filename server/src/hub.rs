//! The in-process hub: numbers each topic's messages, serialises each message once, and fans it
//! out to the connections allowed to see it. It keeps the latest message of each topic and
//! audience, so a new connection gets the current state at once and REST can answer with exactly
//! what the socket carried.

use app::protocol::{Envelope, ServerMessage, Topic};
use axum::extract::ws::Utf8Bytes;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, broadcast};

/// How many messages a connection may fall behind before it skips ahead (heartbeats may drop).
const FANOUT_CAPACITY: usize = 256;

/// Who may receive a message: everyone, or only the connections signed in to one account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
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
    pub seq: u64,
    pub text: Utf8Bytes,
}

#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    epoch: u64,
    fanout: broadcast::Sender<Frame>,
    topics: Mutex<BTreeMap<(Topic, Audience), TopicState>>,
    admission: Arc<Semaphore>,
    max_connections: usize,
    connections: AtomicUsize,
    messages_out: AtomicU64,
    skipped: AtomicU64,
}

#[derive(Default)]
struct TopicState {
    seq: u64,
    latest: Option<Frame>,
}

/// What `/api/health` reports of the hub.
#[derive(Debug, Clone, Serialize)]
pub struct HubStatus {
    pub backend: &'static str,
    pub epoch: u64,
    pub connections: usize,
    pub max_connections: usize,
    pub messages_out: u64,
    /// Messages slow connections skipped because they fell too far behind.
    pub skipped: u64,
    pub topics: BTreeMap<Topic, u64>,
}

/// Held by each open connection; dropping it frees the slot.
pub struct ConnectionSlot {
    hub: Hub,
    _permit: OwnedSemaphorePermit,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.hub.inner.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl Hub {
    pub fn new(epoch: u64, max_connections: usize) -> Self {
        let (fanout, _) = broadcast::channel(FANOUT_CAPACITY);
        Self {
            inner: Arc::new(Inner {
                epoch,
                fanout,
                topics: Mutex::new(BTreeMap::new()),
                admission: Arc::new(Semaphore::new(max_connections)),
                max_connections,
                connections: AtomicUsize::new(0),
                messages_out: AtomicU64::new(0),
                skipped: AtomicU64::new(0),
            }),
        }
    }

    pub fn epoch(&self) -> u64 {
        self.inner.epoch
    }

    fn topics(&self) -> MutexGuard<'_, BTreeMap<(Topic, Audience), TopicState>> {
        // A panic while holding this lock cannot leave the map half-written: recover the data.
        self.inner
            .topics
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Numbers, serialises and fans out `message` to everyone; returns its sequence number.
    pub fn publish(&self, topic: Topic, message: ServerMessage) -> u64 {
        self.publish_to(Audience::Everyone, topic, message)
    }

    /// Numbers (per topic and audience), serialises and fans out `message` to `audience`.
    pub fn publish_to(&self, audience: Audience, topic: Topic, message: ServerMessage) -> u64 {
        let mut topics = self.topics();
        let state = topics.entry((topic, audience)).or_default();
        let seq = state.seq + 1;
        let envelope = Envelope {
            message,
            seq,
            epoch: self.inner.epoch,
            ts: now_ms(),
        };
        let text = match serde_json::to_string(&envelope) {
            Ok(text) => text,
            Err(e) => {
                tracing::error!(topic = topic.as_str(), error = %e, "cannot serialise a message; not sent");
                return state.seq;
            }
        };
        state.seq = seq;
        let frame = Frame {
            topic,
            audience,
            seq,
            text: text.into(),
        };
        state.latest = Some(frame.clone());
        // Sent under the lock so frames of one topic enter the fan-out in sequence order.
        let _no_receivers_is_fine = self.inner.fanout.send(frame);
        seq
    }

    /// A per-connection message (`pong`, `error`), serialised with `seq` 0.
    pub fn direct(&self, message: ServerMessage) -> Utf8Bytes {
        let envelope = Envelope {
            message,
            seq: 0,
            epoch: self.inner.epoch,
            ts: now_ms(),
        };
        serde_json::to_string(&envelope)
            .unwrap_or_else(|_| r#"{"type":"error","seq":0,"epoch":0,"ts":0,"data":{"code":"bad_frame","message":"unserialisable reply"}}"#.to_string())
            .into()
    }

    /// Takes a connection slot, or `None` when the hub is full.
    pub fn admit(&self) -> Option<ConnectionSlot> {
        let permit = self.inner.admission.clone().try_acquire_owned().ok()?;
        self.inner.connections.fetch_add(1, Ordering::Relaxed);
        Some(ConnectionSlot {
            hub: self.clone(),
            _permit: permit,
        })
    }

    /// The fan-out from now on, and the latest frame of every topic this connection may see
    /// (subscribe first, so nothing published in between is missed; the caller drops
    /// duplicates by `seq`, and must filter the fan-out with [`Audience::admits`]).
    pub fn subscribe(&self, account: Option<i64>) -> (broadcast::Receiver<Frame>, Vec<Frame>) {
        let receiver = self.inner.fanout.subscribe();
        let snapshot = self
            .topics()
            .iter()
            .filter(|((_, audience), _)| audience.admits(account))
            .filter_map(|(_, state)| state.latest.clone())
            .collect();
        (receiver, snapshot)
    }

    /// The latest message of `topic` for `audience`, exactly as the socket carried it.
    pub fn latest(&self, topic: Topic, audience: Audience) -> Option<Frame> {
        self.topics()
            .get(&(topic, audience))
            .and_then(|state| state.latest.clone())
    }

    pub fn count_sent(&self) {
        self.inner.messages_out.fetch_add(1, Ordering::Relaxed);
    }

    pub fn count_skipped(&self, n: u64) {
        self.inner.skipped.fetch_add(n, Ordering::Relaxed);
    }

    pub fn connections(&self) -> usize {
        self.inner.connections.load(Ordering::Relaxed)
    }

    /// The latest seq of every topic published to everyone (per-account sequences are private).
    pub fn latest_seqs(&self) -> BTreeMap<Topic, u64> {
        self.topics()
            .iter()
            .filter(|((_, audience), _)| *audience == Audience::Everyone)
            .map(|((topic, _), state)| (*topic, state.seq))
            .collect()
    }

    pub fn status(&self) -> HubStatus {
        HubStatus {
            backend: "in-process",
            epoch: self.inner.epoch,
            connections: self.connections(),
            max_connections: self.inner.max_connections,
            messages_out: self.inner.messages_out.load(Ordering::Relaxed),
            skipped: self.inner.skipped.load(Ordering::Relaxed),
            topics: self.latest_seqs(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::protocol::Heartbeat;

    fn beat(tick: u64) -> ServerMessage {
        ServerMessage::Heartbeat(Heartbeat {
            tick,
            uptime_s: 0,
            connections: 0,
            active_jobs: None,
            topics: None,
        })
    }

    #[tokio::test]
    async fn subscribers_get_each_message_once_in_sequence_with_the_epoch() {
        let hub = Hub::new(9, 10);
        let (mut rx, snapshot) = hub.subscribe(None);
        assert!(snapshot.is_empty());
        for tick in 1..=3 {
            assert_eq!(hub.publish(Topic::Heartbeat, beat(tick)), tick);
        }
        for expected in 1..=3 {
            let frame = rx.recv().await.expect("frame arrives");
            assert_eq!(frame.seq, expected);
            let envelope: Envelope =
                serde_json::from_str(frame.text.as_str()).expect("frame is an envelope");
            assert_eq!((envelope.seq, envelope.epoch), (expected, 9));
        }
        let (_, snapshot) = hub.subscribe(None);
        assert_eq!(snapshot.iter().map(|f| f.seq).collect::<Vec<_>>(), vec![3]);
        assert_eq!(hub.latest_seqs().get(&Topic::Heartbeat), Some(&3));
    }

    #[test]
    fn account_messages_reach_only_their_account_and_number_separately() {
        let hub = Hub::new(1, 10);
        hub.publish(Topic::Heartbeat, beat(1));
        assert_eq!(
            hub.publish_to(Audience::Account(7), Topic::Heartbeat, beat(1)),
            1
        );
        assert_eq!(
            hub.publish_to(Audience::Account(8), Topic::Heartbeat, beat(1)),
            1
        );
        assert_eq!(
            hub.publish_to(Audience::Account(7), Topic::Heartbeat, beat(2)),
            2
        );

        let audiences = |account| {
            let (_, snapshot) = hub.subscribe(account);
            let mut seen: Vec<_> = snapshot.iter().map(|f| (f.audience, f.seq)).collect();
            seen.sort();
            seen
        };
        assert_eq!(audiences(None), vec![(Audience::Everyone, 1)]);
        assert_eq!(
            audiences(Some(7)),
            vec![(Audience::Everyone, 1), (Audience::Account(7), 2)]
        );
        assert_eq!(
            audiences(Some(8)),
            vec![(Audience::Everyone, 1), (Audience::Account(8), 1)]
        );
        assert!(Audience::Everyone.admits(None));
        assert!(!Audience::Account(7).admits(None));
        assert!(!Audience::Account(7).admits(Some(8)));
        assert_eq!(
            hub.latest(Topic::Heartbeat, Audience::Account(7))
                .map(|f| f.seq),
            Some(2)
        );
        assert_eq!(hub.latest_seqs().get(&Topic::Heartbeat), Some(&1));
    }

    #[test]
    fn the_connection_limit_holds_and_slots_come_back() {
        let hub = Hub::new(1, 2);
        let first = hub.admit();
        let second = hub.admit();
        assert!(first.is_some() && second.is_some());
        assert!(
            hub.admit().is_none(),
            "a third connection is over the limit"
        );
        assert_eq!(hub.connections(), 2);
        drop(first);
        assert_eq!(hub.connections(), 1);
        assert!(hub.admit().is_some());
    }
}
