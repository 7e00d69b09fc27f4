//! The hub shared by several `thor` instances over Redis (`hub.redis-url` / `REDIS_URL`).
//!
//! One instance at a time holds the jobs **lease** and runs the jobs; its hub numbers every
//! message as usual, delivers it to its own sockets at once, and hands it to the **publisher**
//! here, which puts it on Redis. Every instance's **subscriber** reads the channel and
//! [`Hub::ingest`]s what the leader numbered, so a socket on any instance sees the same
//! messages with the same `epoch` and `seq`.
//!
//! Redis keys and channels (`P` is `hub.redis-prefix`, default `thor`):
//!
//! | Key | Type | What |
//! |---|---|---|
//! | `P:hub` | channel | every message, encoded as [`Wire`] (JSON) |
//! | `P:lease` | string | the id of the instance that runs the jobs, with a TTL |
//! | `P:replay:TOPIC:AUDIENCE` | list | the last `hub.replay-capacity` messages of a `Replay` stream (bars, probes) |
//! | `P:streams` | set | the names of those lists |
//! | `P:latest` | hash | the latest message of every other stream (per symbol), for instances that (re)join |
//!
//! Each message is written to its list or the hash and published in one `MULTI`/`EXEC`, so by
//! the time a subscriber sees a message, the messages before it can be read back.
//!
//! - **Gaps.** A subscriber that sees a `Replay` stream skip seqs reads the missing ones back
//!   from the stream's list and ingests them first (`thor_hub_healed_total`); a lost pub/sub
//!   connection is re-established with backoff, after which every list and the latest hash are
//!   read back, so an outage of Redis or of one connection heals without losing a bar.
//! - **Redis away.** The publisher keeps what the hub hands it in a bounded buffer (the oldest
//!   dropped beyond it, logged) and flushes it in order once Redis answers again. Nothing
//!   here panics or blocks the hub.
//! - **The lease.** `SET P:lease ID NX PX ttl`, renewed every ttl/3 by a compare-and-expire
//!   script. The holder steps down at once when a renewal finds another holder, or when no
//!   renewal succeeded for a whole ttl (it may have expired in Redis); whoever acquires it
//!   starts a new, larger epoch and runs every job once, so the new leader's state is out within
//!   a second. On shutdown the holder deletes the lease (if still its own) so another instance
//!   takes over at its next attempt instead of after the TTL.

use super::{Audience, Frame, Hub, Ingested};
use crate::config::DatabaseUrl;
use crate::jobs::{JobContext, Registry};
use anyhow::Context;
use app::protocol::{Delivery, Topic};
use redis::aio::{MultiplexedConnection, PubSub};
use redis::{AsyncConnectionConfig, Client, FromRedisValue, Script};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// Frames the hub may hand the publisher before `try_send` fails (and the hub logs it).
const OUTLET_CAPACITY: usize = 16 * 1024;
/// Frames the publisher keeps while Redis does not answer; the oldest go beyond it.
const PENDING_CAPACITY: usize = 32 * 1024;
/// Frames written per `MULTI`/`EXEC`.
const BATCH: usize = 512;
/// How long a publish, a read or a (re)connection may take before it counts as failed.
const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// How often an idle pub/sub connection is pinged (a silent dead connection is noticed).
const PING_EVERY: Duration = Duration::from_secs(3);
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// What [`start`] needs from the settings.
#[derive(Debug, Clone)]
pub struct SharedSettings {
    pub url: DatabaseUrl,
    /// Every key and channel starts with `prefix:`.
    pub prefix: String,
    pub lease_ttl: Duration,
    /// Messages each `Replay` stream keeps in Redis (as the hub keeps locally).
    pub replay_capacity: usize,
    /// This instance's name in the lease (unique per process).
    pub instance: String,
}

/// Connects to Redis, loads what the other instances already published, takes the first turn
/// at the lease (so a lone instance leads before it serves: check `ctx.lead` afterwards) and
/// spawns into `tasks` the publisher, the subscriber and the lease keeper, which stop when
/// `stop` is cancelled (the keeper then hands the lease back). Fails when Redis cannot be
/// reached.
pub async fn start(
    settings: SharedSettings,
    ctx: &JobContext,
    registry: Arc<Registry>,
    stop: &CancellationToken,
    tasks: &mut JoinSet<()>,
) -> anyhow::Result<()> {
    let shown = settings.url.redacted();
    let client = Client::open(settings.url.expose())
        .with_context(|| format!("{shown} is not a valid Redis URL"))?;
    let keys = Keys::new(&settings.prefix);
    let hub = ctx.hub.clone();

    // The subscription first, so nothing published from here on is missed.
    let pubsub = subscribe(&client, &keys.channel)
        .await
        .with_context(|| format!("cannot reach Redis at {shown}"))?;
    let mut reader = Reader {
        link: Link::new(client.clone(), IO_TIMEOUT),
        keys: keys.clone(),
        hub: hub.clone(),
    };
    match reader.catch_up(false).await {
        Ok(loaded) => tracing::info!(
            loaded,
            epoch = hub.epoch(),
            "loaded the shared hub's state from Redis"
        ),
        Err(e) => return Err(e).with_context(|| format!("cannot read from Redis at {shown}")),
    }

    let lease_timeout = (settings.lease_ttl / 2).max(Duration::from_millis(100));
    let mut lease = Lease {
        link: Link::new(client.clone(), lease_timeout),
        key: keys.lease.clone(),
        me: settings.instance.clone(),
        ttl: settings.lease_ttl,
    };
    let sent = Instant::now();
    let acquired = lease
        .acquire()
        .await
        .with_context(|| format!("cannot take the jobs lease in Redis at {shown}"))?;
    let (valid_until, epoch) = if acquired {
        let epoch = hub.begin_epoch();
        ctx.lead.set(true);
        tracing::info!(instance = %settings.instance, epoch, "this instance holds the jobs lease");
        (Some(sent + settings.lease_ttl), epoch)
    } else {
        tracing::info!(instance = %settings.instance, "another instance runs the jobs; following it");
        (None, 0)
    };

    let (outlet, frames) = mpsc::channel(OUTLET_CAPACITY);
    hub.attach_outlet(outlet, "redis");
    let publisher = Publisher {
        link: Link::new(client.clone(), IO_TIMEOUT),
        keys: keys.clone(),
        replay_capacity: settings.replay_capacity.max(1),
        pending: VecDeque::new(),
        dropped: 0,
    };
    tasks.spawn(publisher.run(frames, stop.clone()));
    tasks.spawn(subscriber(client, pubsub, reader, stop.clone()));
    let keeper = Keeper {
        lease,
        ctx: ctx.clone(),
        registry,
        valid_until,
        epoch,
        failing: false,
    };
    tasks.spawn(keeper.run(stop.clone()));
    Ok(())
}

/// A name for this process in the lease: its address, process id and a random part.
pub fn instance_id(addr: std::net::SocketAddr) -> String {
    use rand_core::RngCore;
    let mut random = [0u8; 4];
    let random = match rand_core::OsRng.try_fill_bytes(&mut random) {
        Ok(()) => u32::from_le_bytes(random),
        Err(_) => super::now_us() as u32,
    };
    format!("{addr}/{}/{random:08x}", std::process::id())
}

/// The names of this deployment's keys and channel.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
    pub channel: String,
    pub lease: String,
    pub streams: String,
    pub latest: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_string(),
            channel: format!("{prefix}:hub"),
            lease: format!("{prefix}:lease"),
            streams: format!("{prefix}:streams"),
            latest: format!("{prefix}:latest"),
        }
    }

    /// The list that keeps a `Replay` stream's recent messages.
    pub fn replay(&self, topic: Topic, audience: Audience) -> String {
        format!(
            "{}:replay:{}:{}",
            self.prefix,
            topic.as_str(),
            audience_tag(audience)
        )
    }

    /// The field of [`Keys::latest`] that keeps a stream's latest message (per symbol).
    fn latest_field(frame: &Frame) -> String {
        format!(
            "{}:{}:{}",
            frame.topic.as_str(),
            audience_tag(frame.audience),
            frame.key.as_deref().unwrap_or("")
        )
    }
}

fn audience_tag(audience: Audience) -> String {
    match audience {
        Audience::Everyone => "all".to_string(),
        Audience::Account(id) => format!("account-{id}"),
    }
}

/// A frame as Redis carries it: the hub's numbering and the serialised envelope.
#[derive(Debug, Serialize, Deserialize)]
struct Wire<'a> {
    #[serde(rename = "t")]
    topic: Topic,
    #[serde(rename = "a")]
    audience: Audience,
    #[serde(rename = "k", borrow, default, skip_serializing_if = "Option::is_none")]
    key: Option<Cow<'a, str>>,
    #[serde(rename = "s")]
    seq: u64,
    #[serde(rename = "e")]
    epoch: u64,
    #[serde(rename = "u")]
    sent_us: i64,
    #[serde(rename = "m", borrow)]
    text: Cow<'a, str>,
}

pub fn encode(frame: &Frame) -> serde_json::Result<Vec<u8>> {
    serde_json::to_vec(&Wire {
        topic: frame.topic,
        audience: frame.audience,
        key: frame.key.as_deref().map(Cow::Borrowed),
        seq: frame.seq,
        epoch: frame.epoch,
        sent_us: frame.sent_us,
        text: Cow::Borrowed(frame.text.as_str()),
    })
}

pub fn decode(bytes: &[u8]) -> serde_json::Result<Frame> {
    let wire: Wire<'_> = serde_json::from_slice(bytes)?;
    Ok(Frame {
        topic: wire.topic,
        audience: wire.audience,
        key: wire.key.map(|k| Arc::from(k.as_ref())),
        seq: wire.seq,
        epoch: wire.epoch,
        sent_us: wire.sent_us,
        text: wire.text.into_owned().into(),
    })
}

/// One command connection, opened on first use and reopened after any failure; every request
/// has a deadline.
struct Link {
    client: Client,
    conn: Option<MultiplexedConnection>,
    timeout: Duration,
}

impl Link {
    fn new(client: Client, timeout: Duration) -> Self {
        Self {
            client,
            conn: None,
            timeout,
        }
    }

    async fn connection(&mut self) -> anyhow::Result<&mut MultiplexedConnection> {
        let conn = match self.conn.take() {
            Some(conn) => conn,
            None => {
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(self.timeout))
                    .set_response_timeout(Some(self.timeout));
                let connecting = self
                    .client
                    .get_multiplexed_async_connection_with_config(&config);
                tokio::time::timeout(self.timeout, connecting)
                    .await
                    .context("timed out connecting")?
                    .map_err(plain)?
            }
        };
        Ok(self.conn.insert(conn))
    }

    /// Sends `request`. After any failure the connection is dropped (the next use reconnects);
    /// a kept connection that turns out broken (Redis restarted since its last use) is
    /// replaced and the request sent once more at once. Every request here is safe to repeat.
    async fn send<T: FromRedisValue>(&mut self, request: Request<'_>) -> anyhow::Result<T> {
        let timeout = self.timeout;
        let mut retried = false;
        loop {
            let reused = self.conn.is_some();
            let conn = match self.connection().await {
                Ok(conn) => conn,
                Err(e) => {
                    self.conn = None;
                    return Err(e);
                }
            };
            let answer = match request {
                Request::Command(cmd) => tokio::time::timeout(timeout, cmd.query_async(conn)).await,
                Request::Pipeline(pipe) => {
                    tokio::time::timeout(timeout, pipe.query_async(conn)).await
                }
                Request::Script(invocation) => {
                    tokio::time::timeout(timeout, invocation.invoke_async(conn)).await
                }
            };
            match answer {
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(e)) => {
                    self.conn = None;
                    let broken =
                        e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error();
                    if !(broken && reused && !retried) {
                        return Err(plain(e));
                    }
                    retried = true;
                }
                Err(_) => {
                    self.conn = None;
                    anyhow::bail!("no answer within {timeout:?}");
                }
            }
        }
    }

    async fn query<T: FromRedisValue>(&mut self, cmd: &redis::Cmd) -> anyhow::Result<T> {
        self.send(Request::Command(cmd)).await
    }

    async fn pipeline<T: FromRedisValue>(&mut self, pipe: &redis::Pipeline) -> anyhow::Result<T> {
        self.send(Request::Pipeline(pipe)).await
    }

    async fn script<T: FromRedisValue>(
        &mut self,
        script: &Script,
        key: &str,
        args: &[&str],
    ) -> anyhow::Result<T> {
        let mut invocation = script.key(key);
        for arg in args {
            invocation.arg(*arg);
        }
        self.send(Request::Script(&invocation)).await
    }
}

#[derive(Clone, Copy)]
enum Request<'a> {
    Command(&'a redis::Cmd),
    Pipeline(&'a redis::Pipeline),
    Script(&'a redis::ScriptInvocation<'a>),
}

/// A Redis error as one line (its `source` repeats what its message already says).
fn plain(e: redis::RedisError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// Exponential backoff between attempts, with jitter so instances do not retry in step.
struct Backoff {
    next: Duration,
}

impl Backoff {
    fn new() -> Self {
        Self { next: BACKOFF_MIN }
    }

    fn reset(&mut self) {
        self.next = BACKOFF_MIN;
    }

    fn next(&mut self) -> Duration {
        let base = self.next;
        self.next = (base * 2).min(BACKOFF_MAX);
        // 75 % to 125 % of the base, from the clock's low bits.
        let jitter = (super::now_us().unsigned_abs() % 501) as u32;
        base * (750 + jitter) / 1000
    }
}

/// Sleeps `wait`, or less if `stop` is cancelled first (then `false`).
async fn pause(wait: Duration, stop: &CancellationToken) -> bool {
    tokio::select! {
        _ = stop.cancelled() => false,
        _ = tokio::time::sleep(wait) => true,
    }
}

// ---------------------------------------------------------------------------------------------
// Publisher

struct Publisher {
    link: Link,
    keys: Keys,
    replay_capacity: usize,
    /// Frames not yet in Redis, oldest first.
    pending: VecDeque<Frame>,
    /// Frames dropped from `pending` during the current outage.
    dropped: u64,
}

impl Publisher {
    async fn run(mut self, mut frames: mpsc::Receiver<Frame>, stop: CancellationToken) {
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

    fn keep(&mut self, frame: Frame) {
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
    async fn flush_batch(&mut self) -> anyhow::Result<()> {
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

// ---------------------------------------------------------------------------------------------
// Subscriber

async fn subscribe(client: &Client, channel: &str) -> anyhow::Result<PubSub> {
    let connecting = async {
        let mut pubsub = client.get_async_pubsub().await.map_err(plain)?;
        pubsub.subscribe(channel).await.map_err(plain)?;
        anyhow::Ok(pubsub)
    };
    tokio::time::timeout(IO_TIMEOUT, connecting)
        .await
        .context("timed out")?
}

/// Reads back what the publisher wrote, to fill gaps.
struct Reader {
    link: Link,
    keys: Keys,
    hub: Hub,
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
        self.hub
            .metrics()
            .healed
            .fetch_add(healed, Ordering::Relaxed);
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
    async fn catch_up(&mut self, count: bool) -> anyhow::Result<u64> {
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
        // Only the newest epoch counts: older ones are a deposed leader's leftovers.
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
            self.hub
                .metrics()
                .healed
                .fetch_add(taken, Ordering::Relaxed);
        }
        Ok(taken)
    }
}

fn decode_logged(bytes: &[u8]) -> Option<Frame> {
    match decode(bytes) {
        Ok(frame) => Some(frame),
        Err(e) => {
            tracing::warn!(error = %e, bytes = bytes.len(), "skipped a message from Redis that does not decode");
            None
        }
    }
}

async fn subscriber(client: Client, first: PubSub, mut reader: Reader, stop: CancellationToken) {
    let channel = reader.keys.channel.clone();
    let mut connection = Some(first);
    let mut backoff = Backoff::new();
    let mut lost_at: Option<Instant> = None;
    let mut failing = false;
    loop {
        let pubsub = match connection.take() {
            Some(pubsub) => pubsub,
            None => match subscribe(&client, &channel).await {
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
                        if let Some(frame) = decode_logged(message.get_payload_bytes()) {
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

// ---------------------------------------------------------------------------------------------
// Lease

/// Takes the lease if it is free, or extends it if it is ours: 1 extended, 2 it was free and
/// is ours now (at start, or after Redis lost it), 0 another instance holds it.
const RENEW: &str = r"
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 2
end
return 0
";

/// Deletes the lease if it is ours: 1 deleted, 0 not ours.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

struct Lease {
    link: Link,
    key: String,
    me: String,
    ttl: Duration,
}

impl Lease {
    fn ttl_ms(&self) -> String {
        self.ttl.as_millis().max(1).to_string()
    }

    async fn acquire(&mut self) -> anyhow::Result<bool> {
        Ok(self.renew().await? != 0)
    }

    async fn renew(&mut self) -> anyhow::Result<i64> {
        let ttl = self.ttl_ms();
        self.link
            .script(&Script::new(RENEW), &self.key, &[&self.me, &ttl])
            .await
    }

    async fn release(&mut self) -> anyhow::Result<bool> {
        let deleted: i64 = self
            .link
            .script(&Script::new(RELEASE), &self.key, &[&self.me])
            .await?;
        Ok(deleted == 1)
    }
}

struct Keeper {
    lease: Lease,
    ctx: JobContext,
    registry: Arc<Registry>,
    /// While held: the lease cannot have expired in Redis before this (the send time of the
    /// last successful renewal plus the TTL).
    valid_until: Option<Instant>,
    /// The epoch this instance started when it took the lease.
    epoch: u64,
    /// Whether the last request failed (so an outage is logged once).
    failing: bool,
}

impl Keeper {
    async fn run(mut self, stop: CancellationToken) {
        let ttl = self.lease.ttl;
        let every = (ttl / 3).max(Duration::from_millis(50));
        let mut ticker = tokio::time::interval_at(Instant::now() + every, every);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = ticker.tick() => {}
            }
            match self.valid_until {
                Some(valid_until) => self.renew(valid_until).await,
                None => self.try_acquire().await,
            }
        }
        if self.valid_until.take().is_some() {
            self.ctx.lead.set(false);
            match self.lease.release().await {
                Ok(true) => tracing::info!("handed the jobs lease back"),
                Ok(false) => {}
                Err(e) => tracing::warn!(
                    error = %format!("{e:#}"),
                    "cannot hand the jobs lease back; it expires by itself"
                ),
            }
        }
    }

    async fn renew(&mut self, valid_until: Instant) {
        let sent = Instant::now();
        // An answer after the lease may have run out is worth nothing: stop waiting then.
        let renewal = tokio::time::timeout_at(valid_until, self.lease.renew())
            .await
            .unwrap_or_else(|_| Err(anyhow::anyhow!("no answer before the lease ran out")));
        match renewal {
            Ok(renewal @ (1 | 2)) => {
                if renewal == 2 {
                    // Redis lost the key (a restart) while the lease was still valid: nobody
                    // else can have held it meanwhile, so the jobs carry on in the same epoch.
                    tracing::info!("the jobs lease was gone from Redis; it is ours again");
                }
                self.renewed(sent);
                if self.ctx.hub.epoch() != self.epoch {
                    // Another leader's messages reached the hub after all: never publish in
                    // its epoch, start a newer one.
                    tracing::warn!("another instance published while this one held the lease");
                    self.take_over();
                }
            }
            Ok(_) => self.step_down("another instance holds the jobs lease"),
            Err(e) => {
                if !self.failing {
                    self.failing = true;
                    tracing::warn!(error = %format!("{e:#}"), "cannot renew the jobs lease");
                }
                if Instant::now() >= valid_until {
                    self.step_down("no renewal of the jobs lease succeeded for a whole TTL");
                }
            }
        }
    }

    fn renewed(&mut self, sent: Instant) {
        if self.failing {
            self.failing = false;
            tracing::info!("Redis answers again; this instance still holds the jobs lease");
        }
        self.valid_until = Some(sent + self.lease.ttl);
    }

    /// Starts this leader's epoch and runs every job once, at once, so the new leader's state
    /// is out within a second (beside this loop, so the renewals keep their beat).
    fn take_over(&mut self) {
        self.epoch = self.ctx.hub.begin_epoch();
        self.ctx.lead.set(true);
        tracing::info!(instance = %self.lease.me, epoch = self.epoch, "took over the jobs lease");
        let registry = self.registry.clone();
        let ctx = self.ctx.clone();
        tokio::spawn(async move { registry.run_once(&ctx).await });
    }

    fn step_down(&mut self, reason: &str) {
        self.ctx.lead.set(false);
        self.valid_until = None;
        tracing::warn!(reason, "this instance no longer runs the jobs");
    }

    async fn try_acquire(&mut self) {
        let sent = Instant::now();
        match self.lease.acquire().await {
            Ok(true) => {
                self.failing = false;
                self.valid_until = Some(sent + self.lease.ttl);
                self.take_over();
            }
            Ok(false) => self.failing = false,
            Err(e) => {
                if !self.failing {
                    self.failing = true;
                    tracing::warn!(error = %format!("{e:#}"), "cannot reach Redis for the jobs lease");
                }
            }
        }
    }
}

/// Against the real Redis (`THOR_TEST_REDIS_URL`, default `redis://127.0.0.1:6379`), each test
/// under its own prefix.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::HubLimits;
    use app::protocol::{Probe, ServerMessage};

    fn client() -> Client {
        let url = std::env::var("THOR_TEST_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_string());
        Client::open(url).expect("a Redis URL")
    }

    fn prefix(test: &str) -> String {
        format!(
            "thor-unit-{test}-{}-{:x}",
            std::process::id(),
            super::super::now_us()
        )
    }

    async fn forget(prefix: &str) {
        let mut link = Link::new(client(), IO_TIMEOUT);
        let keys: Vec<String> = link
            .query(redis::cmd("KEYS").arg(format!("{prefix}:*")))
            .await
            .expect("KEYS");
        if !keys.is_empty() {
            let _: i64 = link.query(redis::cmd("DEL").arg(&keys)).await.expect("DEL");
        }
    }

    /// A hub whose published frames come out of the returned receiver, like the leader's.
    fn leader_hub() -> (Hub, mpsc::Receiver<Frame>) {
        let hub = Hub::new(1, HubLimits::default());
        let (tx, rx) = mpsc::channel(1024);
        hub.attach_outlet(tx, "redis");
        hub.begin_epoch();
        (hub, rx)
    }

    fn probe(hub: &Hub, n: u64) -> u64 {
        hub.publish(
            Topic::Probe,
            ServerMessage::Probe(Probe {
                n,
                sent_us: n as i64,
            }),
        )
    }

    fn publisher(keys: &Keys, capacity: usize) -> Publisher {
        Publisher {
            link: Link::new(client(), IO_TIMEOUT),
            keys: keys.clone(),
            replay_capacity: capacity,
            pending: VecDeque::new(),
            dropped: 0,
        }
    }

    #[test]
    fn frames_survive_the_wire_and_garbage_is_an_error() {
        let (hub, mut rx) = leader_hub();
        probe(&hub, 7);
        let frame = rx.try_recv().expect("a frame");
        let back = decode(&encode(&frame).expect("encodes")).expect("decodes");
        assert_eq!(
            (
                back.topic,
                back.audience,
                back.seq,
                back.epoch,
                back.sent_us
            ),
            (
                frame.topic,
                frame.audience,
                frame.seq,
                frame.epoch,
                frame.sent_us
            )
        );
        assert_eq!(back.text.as_str(), frame.text.as_str());
        let keyed = Frame {
            audience: Audience::Account(7),
            key: Some(Arc::from("BRK.B")),
            ..frame
        };
        let back = decode(&encode(&keyed).expect("encodes")).expect("decodes");
        assert_eq!(back.key.as_deref(), Some("BRK.B"));
        assert_eq!(back.audience, Audience::Account(7));
        assert!(decode(b"{not json").is_err());
        assert!(decode(br#"{"t":"nope","a":"Everyone","s":1,"e":1,"u":0,"m":""}"#).is_err());
    }

    #[tokio::test]
    async fn a_skipped_seq_is_filled_from_the_shared_buffer_before_the_new_message() {
        let prefix = prefix("gap");
        let keys = Keys::new(&prefix);
        let (leader, mut frames) = leader_hub();
        let mut publisher = publisher(&keys, 100);
        let mut sent = Vec::new();
        for n in 1..=6 {
            probe(&leader, n);
            let frame = frames.try_recv().expect("a frame");
            sent.push(frame.clone());
            publisher.keep(frame);
        }
        publisher.flush_batch().await.expect("published");

        let follower = Hub::new(1, HubLimits::default());
        let mut reader = Reader {
            link: Link::new(client(), IO_TIMEOUT),
            keys: keys.clone(),
            hub: follower.clone(),
        };
        assert_eq!(reader.receive(sent[0].clone()).await, Ingested::Delivered);
        // Seqs 2 to 4 never arrived: they are read back and ingested before 5.
        assert_eq!(reader.receive(sent[4].clone()).await, Ingested::Delivered);
        assert_eq!(follower.stream_seq(Topic::Probe, Audience::Everyone), 5);
        assert_eq!(follower.metrics().healed.load(Ordering::Relaxed), 3);
        assert_eq!(follower.metrics().gaps.load(Ordering::Relaxed), 0);
        assert_eq!(reader.receive(sent[5].clone()).await, Ingested::Delivered);
        assert_eq!(reader.receive(sent[5].clone()).await, Ingested::Duplicate);
        forget(&prefix).await;
    }

    #[tokio::test]
    async fn catching_up_takes_only_the_newest_epoch_and_the_list_keeps_its_capacity() {
        let prefix = prefix("catch-up");
        let keys = Keys::new(&prefix);
        let mut publisher = publisher(&keys, 4);
        // A deposed leader's messages, then the current leader's.
        let (old, mut old_frames) = leader_hub();
        for n in 1..=3 {
            probe(&old, n);
            publisher.keep(old_frames.try_recv().expect("a frame"));
        }
        let (new, mut new_frames) = leader_hub();
        new.begin_epoch();
        assert!(new.epoch() > old.epoch());
        for n in 1..=6 {
            probe(&new, n);
            publisher.keep(new_frames.try_recv().expect("a frame"));
        }
        new.publish(
            Topic::Heartbeat,
            ServerMessage::Heartbeat(app::protocol::Heartbeat {
                tick: 1,
                uptime_s: 0,
                connections: 0,
                active_jobs: None,
                topics: None,
            }),
        );
        publisher.keep(new_frames.try_recv().expect("a heartbeat"));
        publisher.flush_batch().await.expect("published");

        let follower = Hub::new(1, HubLimits::default());
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
        assert_eq!(follower.metrics().healed.load(Ordering::Relaxed), 5);
        // Nothing new: nothing taken.
        assert_eq!(reader.catch_up(true).await.expect("caught up"), 0);
        forget(&prefix).await;
    }

    #[tokio::test]
    async fn one_holder_at_a_time_and_a_lost_key_is_taken_back_by_its_holder() {
        let prefix = prefix("lease");
        let keys = Keys::new(&prefix);
        let lease = |me: &str| Lease {
            link: Link::new(client(), IO_TIMEOUT),
            key: keys.lease.clone(),
            me: me.to_string(),
            ttl: Duration::from_secs(30),
        };
        let (mut a, mut b) = (lease("a"), lease("b"));
        assert!(a.acquire().await.expect("a asks"));
        assert!(!b.acquire().await.expect("b asks"));
        assert!(a.acquire().await.expect("a asks again"), "a keeps its own");
        assert_eq!(a.renew().await.expect("a renews"), 1);
        assert_eq!(b.renew().await.expect("b renews"), 0, "b does not hold it");
        assert!(
            !b.release().await.expect("b releases"),
            "b cannot delete a's lease"
        );

        let mut admin = Link::new(client(), IO_TIMEOUT);
        let _: i64 = admin
            .query(redis::cmd("DEL").arg(&keys.lease))
            .await
            .expect("DEL");
        assert_eq!(a.renew().await.expect("a renews"), 2, "gone, and a's again");
        assert!(!b.acquire().await.expect("b asks"));

        assert!(a.release().await.expect("a releases"));
        assert!(b.acquire().await.expect("b asks"));
        forget(&prefix).await;
    }
}
