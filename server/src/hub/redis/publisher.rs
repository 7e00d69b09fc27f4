//! The lease holder's side: every message its hub numbers goes into Redis in order, each written to
//! its stream's list (bars, probes) or the latest hash and published in one `MULTI`/`EXEC`.
//! While Redis is away, messages wait in a bounded buffer and are flushed once it answers.

use super::Keys;
use super::link::{Backoff, Link};
use super::wire::encode;
use crate::hub::Frame;
use std::collections::{BTreeSet, VecDeque};
use thor_core::protocol::Delivery;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Frames the publisher keeps while Redis does not answer; the oldest go beyond it.
const PENDING_CAPACITY: usize = 32 * 1024;
/// Frames written per `MULTI`/`EXEC`.
const BATCH: usize = 512;

pub(super) struct Publisher {
    link: Link,
    keys: Keys,
    replay_capacity: usize,
    /// Frames not yet in Redis, oldest first.
    pending: VecDeque<Frame>,
    /// Frames dropped from `pending` during the current outage.
    dropped: u64,
}

impl Publisher {
    pub(super) fn new(link: Link, keys: Keys, replay_capacity: usize) -> Self {
        Self {
            link,
            keys,
            replay_capacity,
            pending: VecDeque::new(),
            dropped: 0,
        }
    }

    pub(super) async fn run(mut self, mut frames: mpsc::Receiver<Frame>, stop: CancellationToken) {
        let mut backoff = Backoff::new();
        let mut failing = false;
        loop {
            if self.pending.is_empty() {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    frame = frames.recv() => match frame {
                        Some(frame) => self.keep(frame),
                        None => break,
                    },
                }
            }
            while let Ok(frame) = frames.try_recv() {
                self.keep(frame);
            }
            match self.flush_batch().await {
                Ok(()) => {
                    backoff.reset();
                    if failing && self.pending.is_empty() {
                        failing = false;
                        tracing::info!(
                            dropped = self.dropped,
                            "Redis answers again: the messages kept meanwhile are published"
                        );
                        self.dropped = 0;
                    }
                }
                Err(e) => {
                    if !failing {
                        failing = true;
                        tracing::warn!(
                            error = %format!("{e:#}"),
                            "cannot publish to Redis; keeping the messages and retrying"
                        );
                    }
                    // Keep taking what the hub hands over while waiting, so it never blocks.
                    let wait = tokio::time::sleep(backoff.next());
                    tokio::pin!(wait);
                    loop {
                        tokio::select! {
                            _ = stop.cancelled() => return,
                            _ = &mut wait => break,
                            frame = frames.recv() => match frame {
                                Some(frame) => self.keep(frame),
                                None => return,
                            },
                        }
                    }
                }
            }
        }
        // Shutting down: one last, quick try at what is left (a follower may need it).
        while let Ok(frame) = frames.try_recv() {
            self.keep(frame);
        }
        while !self.pending.is_empty() {
            if self.flush_batch().await.is_err() {
                tracing::warn!(
                    left = self.pending.len(),
                    "shutting down with messages not yet in Redis"
                );
                break;
            }
        }
    }

    pub(super) fn keep(&mut self, frame: Frame) {
        if self.pending.len() >= PENDING_CAPACITY {
            self.pending.pop_front();
            self.dropped += 1;
            if self.dropped == 1 || self.dropped.is_power_of_two() {
                tracing::warn!(
                    dropped = self.dropped,
                    kept = PENDING_CAPACITY,
                    "Redis is still away: dropping the oldest messages kept for it"
                );
            }
        }
        self.pending.push_back(frame);
    }

    /// Writes the oldest `BATCH` pending frames in one transaction; they stay pending on error.
    pub(super) async fn flush_batch(&mut self) -> anyhow::Result<()> {
        let n = self.pending.len().min(BATCH);
        if n == 0 {
            return Ok(());
        }
        let pipe = self.batch(n);
        self.link.pipeline::<()>(&pipe).await?;
        self.pending.drain(..n);
        Ok(())
    }

    fn batch(&self, n: usize) -> redis::Pipeline {
        let mut pipe = redis::pipe();
        pipe.atomic();
        let mut lists = BTreeSet::new();
        for frame in self.pending.iter().take(n) {
            let payload = match encode(frame) {
                Ok(payload) => payload,
                Err(e) => {
                    tracing::error!(topic = frame.topic.as_str(), seq = frame.seq, error = %e, "cannot encode a message for Redis; skipped");
                    continue;
                }
            };
            if frame.topic.delivery() == Delivery::Replay {
                let list = self.keys.replay(frame.topic, frame.audience);
                pipe.cmd("RPUSH").arg(&list).arg(&payload).ignore();
                lists.insert(list);
            } else {
                pipe.cmd("HSET")
                    .arg(&self.keys.latest)
                    .arg(Keys::latest_field(frame))
                    .arg(&payload)
                    .ignore();
            }
            pipe.cmd("PUBLISH")
                .arg(&self.keys.channel)
                .arg(&payload)
                .ignore();
        }
        let keep = i64::try_from(self.replay_capacity).unwrap_or(i64::MAX);
        for list in &lists {
            pipe.cmd("LTRIM").arg(list).arg(-keep).arg(-1).ignore();
        }
        if !lists.is_empty() {
            pipe.cmd("SADD")
                .arg(&self.keys.streams)
                .arg(&lists)
                .ignore();
        }
        pipe
    }
}
