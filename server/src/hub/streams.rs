//! Streams and epochs: numbering each topic's messages per audience, keeping what a
//! (re)connecting client needs, and handing each message to the interested connections' queues.
//! A stream restarts at seq 1 whenever the epoch moves on (a new run, or a new lease holder).

use super::connection::ConnShared;
use super::frame::key_of;
use super::queue::Pushed;
use super::{Audience, Frame, Hub, State};
use crate::clock::{now_ms, now_us};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use thor_core::protocol::{Delivery, Envelope, ServerMessage, Topic};

#[derive(Default)]
pub(super) struct Stream {
    pub(super) seq: u64,
    pub(super) latest: BTreeMap<Option<Arc<str>>, Frame>,
    pub(super) ring: VecDeque<Frame>,
}

impl Stream {
    /// The current state: the latest message per symbol, in seq order.
    pub(super) fn snapshot(&self) -> Vec<&Frame> {
        let mut frames: Vec<&Frame> = self.latest.values().collect();
        frames.sort_by_key(|f| f.seq);
        frames
    }
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

impl Hub {
    /// Starts a new epoch (this instance became the publisher): sequences restart at 1 and
    /// every stream is emptied. The epoch is the later of now in milliseconds and the current
    /// epoch plus one, so it only ever grows, even across restarts of the shared store.
    pub fn begin_epoch(&self) -> u64 {
        let mut state = self.state();
        let epoch = u64::try_from(now_ms()).unwrap_or(0).max(state.epoch + 1);
        state.switch_epoch(epoch);
        self.inner
            .metrics
            .epoch
            .set(i64::try_from(epoch).unwrap_or(i64::MAX));
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
        let seq = state
            .numbering
            .get(&(topic, audience))
            .copied()
            .unwrap_or(0)
            .max(stream_seq)
            + 1;
        // A closed bar names the seq of its symbol's previous one: how a page subscribed to
        // some symbols tells a lost bar from one of a symbol it does not follow.
        let prev = match &key {
            Some(key) if topic.delivery() == Delivery::Replay => state
                .streams
                .get(&(topic, audience))
                .and_then(|s| s.latest.get(&Some(key.clone())))
                .map(|f| f.seq),
            _ => None,
        };
        let numbered = state.numbering.entry((topic, audience)).or_default();
        let sent_us = now_us();
        let envelope = Envelope {
            message,
            seq,
            epoch,
            ts: sent_us / 1000,
            prev,
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
            self.inner.metrics.outlet_drops.inc();
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
            self.inner
                .metrics
                .epoch
                .set(i64::try_from(frame.epoch).unwrap_or(i64::MAX));
        }
        let stream = state
            .streams
            .entry((frame.topic, frame.audience))
            .or_default();
        if frame.seq <= stream.seq {
            return Ingested::Duplicate;
        }
        let outcome = if stream.seq > 0 && frame.seq > stream.seq + 1 {
            self.inner.metrics.gap(frame.topic);
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
                Pushed::Overflowed => {
                    metrics.slow_closes.inc();
                }
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
}

impl State {
    pub(super) fn switch_epoch(&mut self, epoch: u64) {
        tracing::info!(from = self.epoch, to = epoch, "the hub starts a new epoch");
        self.epoch = epoch;
        self.own_epoch = None;
        self.streams.clear();
        self.numbering.clear();
    }
}
