//! What a connection is sent when it connects, subscribes or resumes: the current state, or
//! what followed the client's seqs from the replay ring, falling back to the current state (with
//! the reason) where that is impossible.

use super::queue::ConnQueue;
use super::{Hub, State};
use std::collections::BTreeSet;
use std::sync::Arc;
use thor_core::map::Map;
use thor_core::protocol::{Delivery, Resumed, SnapshotReason, Topic};

/// What a connection is sent when it connects, subscribes or resumes.
#[derive(Clone, Copy)]
pub(super) enum Fill<'a> {
    /// The current state; with `only`, just of these added topics and symbols.
    Snapshot {
        only: Option<(&'a BTreeSet<Topic>, &'a BTreeSet<Arc<str>>)>,
    },
    /// What followed each named topic's seq of `epoch`, from the replay buffer (or the
    /// current state where that is impossible). Unnamed topics get the current state at
    /// connect time, and nothing on a `resume` message.
    Resume {
        epoch: u64,
        seqs: &'a Map<Topic, u64>,
        others_get_snapshot: bool,
    },
}

impl Hub {
    /// Queues, for every stream the connection may see and is subscribed to, what `fill`
    /// asks: the current state, or what followed a client's seqs (see [`Fill`]).
    pub(super) fn fill(
        &self,
        state: &State,
        queue: &mut ConnQueue,
        account: Option<i64>,
        fill: Fill<'_>,
    ) -> Option<Resumed> {
        let metrics = &self.inner.metrics;
        let mut report = match fill {
            Fill::Resume { .. } => {
                metrics.resumes.inc();
                Some(Resumed {
                    epoch: state.epoch,
                    replayed: Map::new(),
                    snapshot: Map::new(),
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
                        metrics.replayed.inc_by(n);
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
}
