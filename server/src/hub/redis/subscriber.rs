//! Every instance's side: the channel's messages into the hub. A `Replay` stream that skips
//! seqs is filled back from its Redis list first; a lost subscription is re-established with
//! backoff and then every list and the latest hash are read back.

use super::link::{Backoff, Link, pause, plain};
use super::wire::decode_logged;
use super::{IO_TIMEOUT, Keys, SideChannel};
use crate::hub::{Frame, Hub, Ingested};
use anyhow::Context;
use redis::Client;
use redis::aio::PubSub;
use std::time::Duration;
use thor_core::protocol::Delivery;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// How often an idle pub/sub connection is pinged (a silent dead connection is noticed).
const PING_EVERY: Duration = Duration::from_secs(3);

pub(super) async fn subscribe(
    client: &Client,
    channel: &str,
    side: Option<&SideChannel>,
) -> anyhow::Result<PubSub> {
    let connecting = async {
        let mut pubsub = client.get_async_pubsub().await.map_err(plain)?;
        pubsub.subscribe(channel).await.map_err(plain)?;
        if let Some(side) = side {
            pubsub.subscribe(&side.channel).await.map_err(plain)?;
        }
        anyhow::Ok(pubsub)
    };
    tokio::time::timeout(IO_TIMEOUT, connecting)
        .await
        .context("timed out")?
}

/// Reads back what the publisher wrote, to fill gaps.
pub(super) struct Reader {
    pub(super) link: Link,
    pub(super) keys: Keys,
    pub(super) hub: Hub,
}

impl Reader {
    /// Ingests one frame from the channel; first, when it skips seqs of a `Replay` stream,
    /// the missing ones from the stream's list.
    async fn receive(&mut self, frame: Frame) -> Ingested {
        if frame.topic.delivery() == Delivery::Replay {
            let epoch = self.hub.epoch();
            let have = if frame.epoch == epoch {
                Some(self.hub.stream_seq(frame.topic, frame.audience))
            } else if frame.epoch > epoch {
                Some(0)
            } else {
                None
            };
            if let Some(have) = have
                && frame.seq > have + 1
                && let Err(e) = self.fill(&frame, have).await
            {
                tracing::warn!(
                    topic = frame.topic.as_str(),
                    missing_from = have + 1,
                    missing_to = frame.seq - 1,
                    error = %format!("{e:#}"),
                    "cannot read the missing messages back from Redis"
                );
            }
        }
        let outcome = self.hub.ingest(frame);
        if let Ingested::AfterGap { missing_from } = outcome {
            tracing::debug!(missing_from, "a gap the shared buffer could not fill");
        }
        outcome
    }

    /// Ingests the frames of `next`'s stream and epoch after `have` and before `next`.
    async fn fill(&mut self, next: &Frame, have: u64) -> anyhow::Result<()> {
        let list = self.keys.replay(next.topic, next.audience);
        let raw: Vec<Vec<u8>> = self
            .link
            .query(redis::cmd("LRANGE").arg(&list).arg(0).arg(-1))
            .await?;
        let mut missing: Vec<Frame> = raw
            .iter()
            .filter_map(|bytes| decode_logged(bytes))
            .filter(|f| f.epoch == next.epoch && f.seq > have && f.seq < next.seq)
            .collect();
        missing.sort_by_key(|f| f.seq);
        missing.dedup_by_key(|f| f.seq);
        let mut healed = 0u64;
        for frame in missing {
            if matches!(
                self.hub.ingest(frame),
                Ingested::Delivered | Ingested::AfterGap { .. }
            ) {
                healed += 1;
            }
        }
        self.hub.metrics().healed.inc_by(healed);
        if healed > 0 {
            tracing::info!(
                topic = next.topic.as_str(),
                healed,
                "filled a gap from the shared buffer"
            );
        }
        Ok(())
    }

    /// Reads every list and the latest hash and ingests what is newer than what the hub has
    /// (after a lost subscription, and at start-up). Returns how many messages were taken;
    /// with `count`, they are counted as healed.
    pub(super) async fn catch_up(&mut self, count: bool) -> anyhow::Result<u64> {
        let lists: Vec<String> = self
            .link
            .query(redis::cmd("SMEMBERS").arg(&self.keys.streams))
            .await?;
        let mut pipe = redis::pipe();
        for list in &lists {
            pipe.cmd("LRANGE").arg(list).arg(0).arg(-1);
        }
        pipe.cmd("HVALS").arg(&self.keys.latest);
        let raw: Vec<Vec<Vec<u8>>> = self.link.pipeline(&pipe).await?;
        let mut frames: Vec<Frame> = raw
            .iter()
            .flatten()
            .filter_map(|bytes| decode_logged(bytes))
            .collect();
        // Only the newest epoch counts: older ones are a deposed lease holder's leftovers.
        let Some(newest) = frames.iter().map(|f| f.epoch).max() else {
            return Ok(0);
        };
        if newest < self.hub.epoch() {
            return Ok(0);
        }
        frames.retain(|f| f.epoch == newest);
        frames.sort_by_key(|f| (f.topic, f.audience, f.seq));
        frames.dedup_by_key(|f| (f.topic, f.audience, f.seq));
        let mut taken = 0u64;
        for frame in frames {
            if matches!(
                self.hub.ingest(frame),
                Ingested::Delivered | Ingested::AfterGap { .. }
            ) {
                taken += 1;
            }
        }
        if count {
            self.hub.metrics().healed.inc_by(taken);
        }
        Ok(taken)
    }
}

pub(super) async fn run(
    client: Client,
    first: PubSub,
    mut reader: Reader,
    side: Option<SideChannel>,
    stop: CancellationToken,
) {
    let channel = reader.keys.channel.clone();
    let mut connection = Some(first);
    let mut backoff = Backoff::new();
    let mut lost_at: Option<Instant> = None;
    let mut failing = false;
    loop {
        let pubsub = match connection.take() {
            Some(pubsub) => pubsub,
            None => match subscribe(&client, &channel, side.as_ref()).await {
                Ok(pubsub) => pubsub,
                Err(e) => {
                    if !failing {
                        failing = true;
                        tracing::warn!(error = %format!("{e:#}"), "cannot subscribe to Redis; retrying");
                    }
                    if !pause(backoff.next(), &stop).await {
                        return;
                    }
                    continue;
                }
            },
        };
        backoff.reset();
        failing = false;
        if let Some(since) = lost_at.take() {
            match reader.catch_up(true).await {
                Ok(healed) => tracing::info!(
                    healed,
                    outage_ms = since.elapsed().as_millis() as u64,
                    "subscribed to Redis again and caught up"
                ),
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "subscribed to Redis again but cannot catch up; retrying");
                    lost_at = Some(since);
                    if !pause(backoff.next(), &stop).await {
                        return;
                    }
                    continue;
                }
            }
        }
        let (mut sink, mut messages) = pubsub.split();
        let mut ping = tokio::time::interval_at(Instant::now() + PING_EVERY, PING_EVERY);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let reason = loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                message = futures::StreamExt::next(&mut messages) => match message {
                    Some(message) => {
                        if let Some(side) = side.as_ref().filter(|s| message.get_channel_name() == s.channel) {
                            if side.payloads.try_send(message.get_payload_bytes().to_vec()).is_err() {
                                tracing::warn!(channel = %side.channel, "dropped a side-channel message: its reader is behind");
                            }
                        } else if let Some(frame) = decode_logged(message.get_payload_bytes()) {
                            reader.receive(frame).await;
                        }
                    }
                    None => break "the connection closed".to_string(),
                },
                _ = ping.tick() => {
                    match tokio::time::timeout(IO_TIMEOUT, sink.ping::<redis::Value>()).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => break format!("ping failed: {e}"),
                        Err(_) => break "ping timed out".to_string(),
                    }
                }
            }
        };
        tracing::warn!(%reason, "lost the Redis subscription; resubscribing");
        lost_at = Some(Instant::now());
        if !pause(backoff.next(), &stop).await {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::Audience;
    use crate::hub::redis::publisher::Publisher;
    use crate::hub::redis::test_support::{
        client, forget, holder_hub, hub, prefix, probe, redis_may_run,
    };
    use thor_core::protocol::{ServerMessage, Topic};

    fn publisher(keys: &Keys, capacity: usize) -> Publisher {
        Publisher::new(Link::new(client(), IO_TIMEOUT), keys.clone(), capacity)
    }

    #[tokio::test]
    async fn a_skipped_seq_is_filled_from_the_shared_buffer_before_the_new_message() {
        if !redis_may_run("a_skipped_seq_is_filled_from_the_shared_buffer_before_the_new_message")
            .await
        {
            return;
        }
        let prefix = prefix("gap");
        let keys = Keys::new(&prefix);
        let (holder, mut frames) = holder_hub();
        let mut publisher = publisher(&keys, 100);
        let mut sent = Vec::new();
        for n in 1..=6 {
            probe(&holder, n);
            let frame = frames.try_recv().expect("a frame");
            sent.push(frame.clone());
            publisher.keep(frame);
        }
        publisher.flush_batch().await.expect("published");

        let follower = hub();
        let mut reader = Reader {
            link: Link::new(client(), IO_TIMEOUT),
            keys: keys.clone(),
            hub: follower.clone(),
        };
        assert_eq!(reader.receive(sent[0].clone()).await, Ingested::Delivered);
        // Seqs 2 to 4 never arrived: they are read back and ingested before 5.
        assert_eq!(reader.receive(sent[4].clone()).await, Ingested::Delivered);
        assert_eq!(follower.stream_seq(Topic::Probe, Audience::Everyone), 5);
        assert_eq!(follower.metrics().healed.get(), 3);
        assert_eq!(follower.metrics().gaps_total(), 0);
        assert_eq!(reader.receive(sent[5].clone()).await, Ingested::Delivered);
        assert_eq!(reader.receive(sent[5].clone()).await, Ingested::Duplicate);
        forget(&prefix).await;
    }

    #[tokio::test]
    async fn catching_up_takes_only_the_newest_epoch_and_the_list_keeps_its_capacity() {
        if !redis_may_run("catching_up_takes_only_the_newest_epoch_and_the_list_keeps_its_capacity")
            .await
        {
            return;
        }
        let prefix = prefix("catch-up");
        let keys = Keys::new(&prefix);
        let mut publisher = publisher(&keys, 4);
        // A deposed lease holder's messages, then the current lease holder's.
        let (old, mut old_frames) = holder_hub();
        for n in 1..=3 {
            probe(&old, n);
            publisher.keep(old_frames.try_recv().expect("a frame"));
        }
        let (new, mut new_frames) = holder_hub();
        new.begin_epoch();
        assert!(new.epoch() > old.epoch());
        for n in 1..=6 {
            probe(&new, n);
            publisher.keep(new_frames.try_recv().expect("a frame"));
        }
        new.publish(
            Topic::Heartbeat,
            ServerMessage::Heartbeat(thor_core::protocol::Heartbeat {
                tick: 1,
                uptime_s: 0,
                connections: 0,
                active_jobs: None,
                topics: None,
                closed: Vec::new(),
            }),
        );
        publisher.keep(new_frames.try_recv().expect("a heartbeat"));
        publisher.flush_batch().await.expect("published");

        let follower = hub();
        let mut reader = Reader {
            link: Link::new(client(), IO_TIMEOUT),
            keys: keys.clone(),
            hub: follower.clone(),
        };
        // The list kept the last 4 probes (3 to 6 of the new epoch), plus the heartbeat.
        assert_eq!(reader.catch_up(true).await.expect("caught up"), 5);
        assert_eq!(follower.epoch(), new.epoch());
        assert_eq!(follower.stream_seq(Topic::Probe, Audience::Everyone), 6);
        assert_eq!(follower.stream_seq(Topic::Heartbeat, Audience::Everyone), 1);
        assert_eq!(follower.metrics().healed.get(), 5);
        // Nothing new: nothing taken.
        assert_eq!(reader.catch_up(true).await.expect("caught up"), 0);
        forget(&prefix).await;
    }
}
