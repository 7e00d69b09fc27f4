//! One open socket's end of the hub: its queue, what it subscribes to, and resuming on an open
//! connection. The socket task in `ws.rs` drains it with [`Connection::next_batch`].

use super::admission::Slot;
use super::queue::ConnQueue;
use super::resume::Fill;
use super::{Frame, Hub};
use crate::clock::now_us;
use std::collections::{BTreeSet, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use thor_core::map::Map;
use thor_core::protocol::{Resumed, Subscription, Topic};
use tokio::sync::Notify;
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

pub(super) struct ConnShared {
    pub(super) id: u64,
    pub(super) account: Option<i64>,
    pub(super) user: Option<i64>,
    pub(super) session: Option<Arc<str>>,
    /// Cancelled when the connection's session ends (sign-out, password change, expiry).
    pub(super) ended: CancellationToken,
    pub(super) queue: Mutex<ConnQueue>,
    pub(super) notify: Notify,
}

impl ConnShared {
    pub(super) fn queue(&self) -> MutexGuard<'_, ConnQueue> {
        self.queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// One open connection's end of the hub. Dropping it unregisters the connection.
pub struct Connection {
    hub: Hub,
    shared: Arc<ConnShared>,
    _slot: Slot,
}

impl Hub {
    /// Registers a connection for `account`, subscribed to every topic and to `symbols` (`None`:
    /// every symbol), and queues what it gets at once: the current state of every topic it may
    /// see, or, with `resume` (epoch and last seq per topic), what it missed — with the
    /// `resumed` reply that says which.
    pub fn connect(
        &self,
        slot: Slot,
        account: Option<i64>,
        symbols: Option<BTreeSet<Arc<str>>>,
        resume: Option<(u64, &Map<Topic, u64>)>,
    ) -> (Connection, Option<Resumed>) {
        let shared = Arc::new(ConnShared {
            id: self.inner.next_id.fetch_add(1, Ordering::Relaxed),
            account,
            user: slot.user(),
            session: slot.session.clone(),
            ended: CancellationToken::new(),
            queue: Mutex::new(ConnQueue::new(self.inner.limits.queue_capacity)),
            notify: Notify::new(),
        });
        let mut state = self.state();
        let resumed = {
            let mut queue = shared.queue();
            queue.set_symbols(symbols);
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
        self.inner.metrics.connections.inc();
        self.inner.metrics.accepted.inc();
        (
            Connection {
                hub: self.clone(),
                shared,
                _slot: slot,
            },
            resumed,
        )
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

    /// Completes when the connection's session has ended: the socket must close.
    pub fn session_ended(&self) -> WaitForCancellationFuture<'_> {
        self.shared.ended.cancelled()
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
    pub fn resume(&self, epoch: u64, seqs: &Map<Topic, u64>) -> Resumed {
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
                replayed: Map::new(),
                snapshot: Map::new(),
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
        self.hub.inner.metrics.connections.dec();
    }
}
