//! The signals the live connection feeds: the latest message of every topic, the heartbeat, the
//! connection state and the page clock. Panels read them; only the socket writes them.

// Only the browser's socket writes; the server renders the store as created.
#![cfg_attr(not(feature = "hydrate"), allow(dead_code))]

use crate::feature::Feature;
use crate::protocol::{Envelope, Heartbeat, ServerMessage, Topic};
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

/// A topic's latest message and when this page received it.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    pub envelope: Envelope,
    /// Page clock (ms since the Unix epoch) at receipt: ages are measured on one clock.
    pub received_at_ms: f64,
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

const TOPICS: usize = Topic::ALL.len();

/// What the live connection has received so far, as signals. `Copy`, so every component can
/// hold it; a new panel reads [`LiveStore::latest`] for its topic.
#[derive(Debug, Clone, Copy)]
pub struct LiveStore {
    pub state: ReadSignal<ConnectionState>,
    pub heartbeat: ReadSignal<Option<SeenHeartbeat>>,
    /// Ticks once a second in the browser so ages re-render; `None` on the server.
    pub now_ms: ReadSignal<Option<f64>>,
    /// Connections opened since the page loaded (1 after the first success).
    pub connects: ReadSignal<u32>,
    /// The build the server's pages load, from its socket's `hello` (`None` until one came).
    pub server_build: ReadSignal<Option<String>>,
    latest: [ReadSignal<Option<Received>>; TOPICS],
    write: Writers,
}

/// The write halves, kept to the live connection so panels cannot edit what it received.
#[derive(Debug, Clone, Copy)]
struct Writers {
    state: WriteSignal<ConnectionState>,
    heartbeat: WriteSignal<Option<SeenHeartbeat>>,
    now_ms: WriteSignal<Option<f64>>,
    connects: WriteSignal<u32>,
    server_build: WriteSignal<Option<String>>,
    latest: [WriteSignal<Option<Received>>; TOPICS],
}

impl LiveStore {
    /// Empty and "connecting": what the server renders and the hydrating page starts from.
    pub fn new() -> Self {
        let (state, set_state) = signal(ConnectionState::Connecting);
        let (heartbeat, set_heartbeat) = signal(None);
        let (now_ms, set_now_ms) = signal(None);
        let (connects, set_connects) = signal(0);
        let (server_build, set_server_build) = signal(None);
        let pairs: [_; TOPICS] = std::array::from_fn(|_| signal(None));
        LiveStore {
            state,
            heartbeat,
            now_ms,
            connects,
            server_build,
            latest: pairs.map(|(read, _)| read),
            write: Writers {
                state: set_state,
                heartbeat: set_heartbeat,
                now_ms: set_now_ms,
                connects: set_connects,
                server_build: set_server_build,
                latest: pairs.map(|(_, write)| write),
            },
        }
    }

    /// The latest message of `topic` and when it arrived; `None` until one has.
    pub fn latest(&self, topic: Topic) -> ReadSignal<Option<Received>> {
        self.latest[topic.index()]
    }

    /// Milliseconds since the last heartbeat, once the page has a clock and a heartbeat.
    pub fn heartbeat_age_ms(&self) -> Option<f64> {
        let now = self.now_ms.get()?;
        let seen = self
            .heartbeat
            .with(|h| h.as_ref().map(|h| h.received_at_ms))?;
        Some((now - seen).max(0.0))
    }

    /// Whether the latest heartbeat says every market `feature` follows is closed (tracked).
    pub fn markets_closed(&self, feature: Feature) -> bool {
        let topics = feature.topics();
        self.heartbeat.with(|seen| {
            seen.as_ref().is_some_and(|seen| {
                !topics.is_empty() && topics.iter().all(|t| seen.heartbeat.closed.contains(t))
            })
        })
    }

    pub(super) fn set_state(&self, state: ConnectionState) {
        self.write.state.set(state);
    }

    /// A socket opened: the page is live again.
    pub(super) fn opened(&self) {
        self.write.state.set(ConnectionState::Open);
        self.write.connects.update(|n| *n += 1);
    }

    /// The server said which build its pages load.
    pub(super) fn server_build(&self, build: String) {
        self.write.server_build.set(Some(build));
    }

    pub(super) fn tick(&self, now_ms: f64) {
        self.write.now_ms.set(Some(now_ms));
    }

    /// Keeps a topic's message if it is newer than the one held. Per-connection replies (`pong`,
    /// `resumed`, …) belong to no topic and are not kept.
    pub(super) fn keep(&self, envelope: Envelope, received_at_ms: f64) {
        let Some(topic) = envelope.message.topic() else {
            return;
        };
        let (epoch, seq) = (envelope.epoch, envelope.seq);
        if let ServerMessage::Heartbeat(heartbeat) = &envelope.message {
            let heartbeat = heartbeat.clone();
            self.write.heartbeat.maybe_update(|held| {
                let newer = supersedes(held.as_ref().map(|h| (h.epoch, h.seq)), epoch, seq);
                if newer {
                    *held = Some(SeenHeartbeat {
                        seq,
                        epoch,
                        server_ts: envelope.ts,
                        received_at_ms,
                        heartbeat,
                    });
                }
                newer
            });
        }
        self.write.latest[topic.index()].maybe_update(|held| {
            let newer = supersedes(
                held.as_ref().map(|r| (r.envelope.epoch, r.envelope.seq)),
                epoch,
                seq,
            );
            if newer {
                *held = Some(Received {
                    envelope,
                    received_at_ms,
                });
            }
            newer
        });
    }
}

impl Default for LiveStore {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether a message (`epoch`, `seq`) replaces the held one (`(epoch, seq)`): a later seq, or
/// any seq of a new server run.
fn supersedes(held: Option<(u64, u64)>, epoch: u64, seq: u64) -> bool {
    match held {
        Some((held_epoch, held_seq)) => held_epoch != epoch || seq > held_seq,
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::{ConnectionState, LiveStore};
    use crate::protocol::{Envelope, Heartbeat, Pong, ServerMessage, Topic};
    use leptos::prelude::*;

    fn heartbeat(epoch: u64, seq: u64) -> Envelope {
        Envelope {
            message: ServerMessage::Heartbeat(Heartbeat {
                tick: seq * 10,
                uptime_s: 1,
                connections: 1,
                active_jobs: None,
                topics: None,
                closed: Vec::new(),
            }),
            seq,
            epoch,
            ts: 0,
            prev: None,
        }
    }

    /// A store under its own reactive owner: with the server's `ssr` features in the same
    /// build (a workspace `cargo test`), signals need an owner's arena.
    fn store() -> (Owner, LiveStore) {
        let owner = Owner::new();
        owner.set();
        (owner, LiveStore::new())
    }

    fn latest_seq(live: &LiveStore, topic: Topic) -> Option<u64> {
        live.latest(topic)
            .with_untracked(|r| r.as_ref().map(|r| r.envelope.seq))
    }

    #[test]
    fn a_new_store_is_empty_and_connecting_like_the_server_renders_it() {
        let (_owner, live) = store();
        assert_eq!(live.state.get_untracked(), ConnectionState::Connecting);
        assert_eq!(live.heartbeat.get_untracked(), None);
        assert_eq!(live.now_ms.get_untracked(), None);
        assert_eq!(live.connects.get_untracked(), 0);
        assert!(Topic::ALL.iter().all(|&t| latest_seq(&live, t).is_none()));
    }

    #[test]
    fn each_topic_keeps_its_latest_message_with_its_receipt_time() {
        let (_owner, live) = store();
        live.keep(heartbeat(3, 12), 1_000.0);
        assert_eq!(latest_seq(&live, Topic::Heartbeat), Some(12));
        assert_eq!(latest_seq(&live, Topic::Positions), None);
        let seen = live
            .heartbeat
            .get_untracked()
            .map(|h| (h.seq, h.heartbeat.tick));
        assert_eq!(seen, Some((12, 120)));
        let received = live
            .latest(Topic::Heartbeat)
            .with_untracked(|r| r.as_ref().map(|r| r.received_at_ms));
        assert_eq!(received, Some(1_000.0));
    }

    #[test]
    fn an_older_message_of_the_same_run_is_ignored_and_a_new_run_replaces_it() {
        let (_owner, live) = store();
        live.keep(heartbeat(3, 12), 1_000.0);
        live.keep(heartbeat(3, 11), 2_000.0);
        assert_eq!(latest_seq(&live, Topic::Heartbeat), Some(12));
        assert_eq!(live.heartbeat.get_untracked().map(|h| h.seq), Some(12));

        live.keep(heartbeat(4, 2), 3_000.0);
        assert_eq!(latest_seq(&live, Topic::Heartbeat), Some(2));
        assert_eq!(live.heartbeat.get_untracked().map(|h| h.epoch), Some(4));
    }

    #[test]
    fn replies_to_this_page_are_not_kept() {
        let (_owner, live) = store();
        live.keep(
            Envelope {
                message: ServerMessage::Pong(Pong { nonce: None }),
                seq: 0,
                epoch: 3,
                ts: 0,
                prev: None,
            },
            1_000.0,
        );
        assert!(Topic::ALL.iter().all(|&t| latest_seq(&live, t).is_none()));
    }

    #[test]
    fn heartbeat_age_is_measured_on_the_page_clock() {
        let (_owner, live) = store();
        assert_eq!(live.heartbeat_age_ms(), None, "no clock, no heartbeat");
        live.keep(heartbeat(3, 12), 1_000.0);
        assert_eq!(live.heartbeat_age_ms(), None, "no clock yet (the server)");
        live.tick(3_500.0);
        assert_eq!(live.heartbeat_age_ms(), Some(2_500.0));
        live.tick(500.0);
        assert_eq!(
            live.heartbeat_age_ms(),
            Some(0.0),
            "a clock set back reads as fresh"
        );
    }

    #[test]
    fn each_opened_socket_counts_and_makes_the_page_live() {
        let (_owner, live) = store();
        live.opened();
        live.set_state(ConnectionState::Reconnecting);
        live.opened();
        assert_eq!(live.state.get_untracked(), ConnectionState::Open);
        assert_eq!(live.connects.get_untracked(), 2);
    }
}
