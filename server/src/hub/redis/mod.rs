//! The hub shared by several `thor` instances over Redis (`hub.redis-url` / `REDIS_URL`).
//!
//! One instance at a time holds the jobs **lease** (`crate::jobs::lease`) and runs the jobs; its
//! hub numbers every message as usual, delivers it to its own sockets at once, and hands it to the
//! **publisher** here, which puts it on Redis. Every instance's **subscriber** reads the channel
//! and [`Hub::ingest`]s what the lease holder numbered, so a socket on any instance sees the same
//! messages with the same `epoch` and `seq`.
//!
//! Redis keys and channels (`P` is `hub.redis-prefix`, default `thor`):
//!
//! | Key | Type | What |
//! |---|---|---|
//! | `P:hub` | channel | every message, encoded as [`wire`] says (JSON) |
//! | `P:lease` | string | the id of the instance that runs the jobs, with a TTL (`crate::jobs::lease`) |
//! | `P:replay:TOPIC:AUDIENCE` | list | the last `hub.replay-capacity` messages of a `Replay` stream (bars, probes) |
//! | `P:streams` | set | the names of those lists |
//! | `P:latest` | hash | the latest message of every other stream (per symbol), for instances that (re)join |
//! | `P:sessions` | channel | sessions that ended (`crate::auth::Sessions`), read on the same subscription as `P:hub` |
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
//!
//! ## Layout
//! - [`link`]: one Redis command connection with deadlines and reconnects, and backoff.
//! - [`wire`]: a frame as Redis carries it.
//! - [`publisher`]: the lease holder's side: every numbered message into Redis, in order.
//! - [`subscriber`]: every instance's side: the channel into the hub, gaps filled back.

pub(crate) mod link;
mod publisher;
mod subscriber;
pub mod wire;

use super::{Audience, Frame, Hub};
use crate::config::DatabaseUrl;
use anyhow::Context;
use link::Link;
use publisher::Publisher;
use redis::Client;
use std::path::{Path, PathBuf};
use std::time::Duration;
use subscriber::Reader;
use thor_core::protocol::Topic;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Frames the hub may hand the publisher before `try_send` fails (and the hub logs it).
const OUTLET_CAPACITY: usize = 16 * 1024;
/// How long a publish, a read or a (re)connection may take before it counts as failed.
pub(crate) const IO_TIMEOUT: Duration = Duration::from_secs(2);

/// What [`start`] needs from the settings.
#[derive(Debug, Clone)]
pub struct SharedSettings {
    pub url: DatabaseUrl,
    /// Every key and channel starts with `prefix:`.
    pub prefix: String,
    /// The CA certificate (PEM) a `rediss://` server's certificate is checked against (the
    /// system's CAs when none).
    pub ca_file: Option<PathBuf>,
    /// Messages each `Replay` stream keeps in Redis (as the hub keeps locally).
    pub replay_capacity: usize,
    /// Another channel read on the hub's subscription, its messages handed over as they come
    /// (one pub/sub connection per instance, whoever listens).
    pub side_channel: Option<SideChannel>,
}

/// A channel the subscriber reads beside the hub's, for someone else (session ends).
#[derive(Debug, Clone)]
pub struct SideChannel {
    pub channel: String,
    /// Where its payloads go; when full, a payload is dropped (and logged).
    pub payloads: mpsc::Sender<Vec<u8>>,
}

/// Connects to Redis, loads what the other instances already published into `hub`, and
/// spawns into `tasks` the publisher (which takes every message `hub` numbers from now on) and
/// the subscriber, which stop when `stop` is cancelled. Returns the client, for the jobs lease.
/// Fails when Redis cannot be reached.
pub async fn start(
    settings: &SharedSettings,
    hub: &Hub,
    stop: &CancellationToken,
    tasks: &mut JoinSet<()>,
) -> anyhow::Result<Client> {
    let shown = match (
        settings.url.expose().starts_with("rediss://"),
        &settings.ca_file,
    ) {
        (false, _) => settings.url.redacted(),
        (true, None) => format!(
            "{} (TLS, checked against the system's CAs)",
            settings.url.redacted()
        ),
        (true, Some(ca)) => format!(
            "{} (TLS, checked against the CA in {})",
            settings.url.redacted(),
            ca.display()
        ),
    };
    let client = client(&settings.url, settings.ca_file.as_deref())?;
    let keys = Keys::new(&settings.prefix);

    // The subscription first, so nothing published from here on is missed.
    let pubsub = subscriber::subscribe(&client, &keys.channel, settings.side_channel.as_ref())
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

    let (outlet, frames) = mpsc::channel(OUTLET_CAPACITY);
    hub.attach_outlet(outlet, "redis");
    let publisher = Publisher::new(
        Link::new(client.clone(), IO_TIMEOUT),
        keys,
        settings.replay_capacity.max(1),
    );
    tasks.spawn(publisher.run(frames, stop.clone()));
    tasks.spawn(subscriber::run(
        client.clone(),
        pubsub,
        reader,
        settings.side_channel.clone(),
        stop.clone(),
    ));
    Ok(client)
}

/// A client of the Redis at `url`: `rediss://` is TLS, the server's certificate checked against
/// the CA in `ca_file` when given, else against the system's CAs. A CA file with a plain
/// `redis://` URL is refused: the operator meant TLS.
pub fn client(url: &DatabaseUrl, ca_file: Option<&Path>) -> anyhow::Result<Client> {
    let shown = url.redacted();
    let Some(path) = ca_file else {
        return Client::open(url.expose())
            .with_context(|| format!("{shown} is not a valid Redis URL"));
    };
    anyhow::ensure!(
        url.expose().starts_with("rediss://"),
        "hub.redis-ca-file (THOR_REDIS_CA_FILE) is {} but {shown} is not a rediss:// URL; the CA \
         file is only used over TLS",
        path.display()
    );
    let pem = crate::db::read_ca_file(path, "hub.redis-ca-file (THOR_REDIS_CA_FILE)")?;
    let certificates = redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(pem),
    };
    Client::build_with_tls(url.expose(), certificates).with_context(|| {
        format!(
            "cannot use {shown} with the CA in {} (a valid rediss:// URL and PEM file?)",
            path.display()
        )
    })
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
    pub(crate) fn latest_field(frame: &Frame) -> String {
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

/// Helpers for the tests against the real Redis (`THOR_TEST_REDIS_URL`, default
/// `redis://127.0.0.1:6379`), each test under its own prefix.
#[cfg(test)]
pub(crate) mod test_support {
    use super::link::Link;
    use super::{Frame, Hub, IO_TIMEOUT};
    use crate::hub::HubLimits;
    use crate::metrics::MetricsRegistry;
    use redis::Client;
    use thor_core::protocol::{Probe, ServerMessage, Topic};
    use tokio::sync::mpsc;

    pub fn client() -> Client {
        let url = std::env::var("THOR_TEST_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_string());
        Client::open(url).expect("a Redis URL")
    }

    /// Whether the test Redis answers; if not, `test` is skipped (saying so on the terminal)
    /// unless `THOR_REQUIRE_SERVICES=1` (as `scripts/test` and CI run), which fails it.
    pub async fn redis_may_run(test: &str) -> bool {
        use std::io::Write;
        let ping = async {
            let mut connection = client().get_multiplexed_async_connection().await?;
            redis::cmd("PING")
                .query_async::<String>(&mut connection)
                .await
        };
        let why = match tokio::time::timeout(std::time::Duration::from_secs(3), ping).await {
            Ok(Ok(_)) => return true,
            Ok(Err(e)) => e.to_string(),
            Err(_) => "no answer within 3 s".to_string(),
        };
        let required =
            std::env::var("THOR_REQUIRE_SERVICES").is_ok_and(|v| v == "1" || v == "true");
        assert!(
            !required,
            "{test} needs Redis, which is not available: {why}"
        );
        // Written to the terminal itself: the test harness captures only the print macros.
        let _ = writeln!(
            std::io::stderr(),
            "skipped {test}: Redis is not available ({why}); `scripts/test` runs it, with \
             THOR_REQUIRE_SERVICES=1"
        );
        false
    }

    pub fn prefix(test: &str) -> String {
        format!(
            "thor-unit-{test}-{}-{:x}",
            std::process::id(),
            crate::clock::now_us()
        )
    }

    pub async fn forget(prefix: &str) {
        let mut link = Link::new(client(), IO_TIMEOUT);
        let keys: Vec<String> = link
            .query(redis::cmd("KEYS").arg(format!("{prefix}:*")))
            .await
            .expect("KEYS");
        if !keys.is_empty() {
            let _: i64 = link.query(redis::cmd("DEL").arg(&keys)).await.expect("DEL");
        }
    }

    pub fn hub() -> Hub {
        Hub::new(1, HubLimits::default(), &MetricsRegistry::default())
    }

    /// A hub whose published frames come out of the returned receiver, like the lease holder's.
    pub fn holder_hub() -> (Hub, mpsc::Receiver<Frame>) {
        let hub = hub();
        let (tx, rx) = mpsc::channel(1024);
        hub.attach_outlet(tx, "redis");
        hub.begin_epoch();
        (hub, rx)
    }

    pub fn probe(hub: &Hub, n: u64) -> u64 {
        hub.publish(
            Topic::Probe,
            ServerMessage::Probe(Probe {
                n,
                sent_us: n as i64,
            }),
        )
    }
}
