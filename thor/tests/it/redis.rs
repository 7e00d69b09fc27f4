//! Several `thor` instances sharing the hub over the real Redis on this machine
//! (`THOR_TEST_REDIS_URL`, default `redis://127.0.0.1:6379`): one runs the jobs under the lease
//! and the others deliver its messages to their own sockets; the lease moves when the lease holder
//! stops or dies; a lost subscription is healed from the shared buffer; Redis going away and
//! coming back crashes nothing. Each test uses its own key prefix, so they run in parallel.

use crate::common;

use app::protocol::{Envelope, Topic};
use futures::StreamExt;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use thor_server::config::DatabaseUrl;
use thor_server::hub::Hub;
use thor_server::{Application, Settings};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

const LEASE_TTL: Duration = Duration::from_millis(1000);
const PROBE_HZ: u32 = 100;
/// How long any condition may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(15);

fn redis_url() -> String {
    common::redis_server_url()
}

/// A key prefix no other test (or run) uses.
fn unique_prefix(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("thor-test-{test}-{}-{nanos:x}", std::process::id())
}

async fn admin(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .expect("a Redis URL")
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|e| panic!("Redis must be running for this test ({url}): {e}"))
}

/// Deletes every key under `prefix`.
async fn forget(url: &str, prefix: &str) {
    let mut redis = admin(url).await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut redis)
        .await
        .expect("KEYS");
    if !keys.is_empty() {
        let _: i64 = redis::cmd("DEL")
            .arg(&keys)
            .query_async(&mut redis)
            .await
            .expect("DEL");
    }
}

/// One running `thor` of the group.
struct Instance {
    addr: SocketAddr,
    stop: CancellationToken,
    hub: Hub,
    server: JoinHandle<anyhow::Result<()>>,
}

/// Starts an instance on `redis` under `prefix`, with its database in `data_dir` (instances of
/// one test share it, so a session made on one is good on the other).
async fn start(data_dir: &Path, redis: &str, prefix: &str) -> Instance {
    start_with(data_dir, redis, prefix, |_| {}).await
}

/// The servers' logs, when `RUST_LOG` asks for them.
fn logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

async fn start_with(
    data_dir: &Path,
    redis: &str,
    prefix: &str,
    tweak: impl FnOnce(&mut Settings),
) -> Instance {
    logs();
    let mut settings: Settings = common::test_settings(data_dir);
    settings.hub.redis_url = Some(DatabaseUrl::new(redis));
    settings.hub.redis_prefix = prefix.to_string();
    settings.hub.lease_ttl = LEASE_TTL;
    settings.hub.probe_rate_hz = PROBE_HZ;
    tweak(&mut settings);
    let app = Application::build(settings, common::SITE)
        .await
        .expect("server builds");
    Instance {
        addr: app.local_addr(),
        stop: app.stop_token(),
        hub: app.hub(),
        server: tokio::spawn(app.run_until_stopped()),
    }
}

impl Instance {
    fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Whether this instance runs the jobs, as `/metrics` says.
    async fn holds_lease(&self) -> bool {
        let text = reqwest::get(self.url("/metrics"))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        let line = text
            .lines()
            .find(|l| l.starts_with("thor_jobs_lease_held "))
            .expect("a thor_jobs_lease_held line");
        line.ends_with(" 1")
    }

    async fn health(&self) -> serde_json::Value {
        let response = reqwest::get(self.url("/api/health")).await.expect("health");
        assert_eq!(response.status(), 200);
        response.json().await.expect("json")
    }

    /// Stops it gracefully (it hands the lease back).
    async fn stop(self) {
        self.stop.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.server)
            .await
            .expect("stops within 10 s")
            .expect("joins")
            .expect("stops cleanly");
    }

    /// Kills it without a word: the tasks are dropped mid-flight and the lease is left to expire.
    async fn crash(self) {
        self.server.abort();
        let _ = self.server.await;
    }

    /// Signs in as `demo` and opens `/ws`; what arrives is collected in the background.
    async fn socket(&self) -> Inbox {
        let cookie = common::sign_in_at(self.addr, "demo").await;
        let mut socket = common::ws_connect_at(self.addr, &cookie, "").await;
        let inbox = Inbox::default();
        let seen = inbox.clone();
        tokio::spawn(async move {
            while let Some(Ok(message)) = socket.next().await {
                if let Message::Text(text) = message {
                    let envelope: Envelope =
                        serde_json::from_str(text.as_str()).expect("an envelope");
                    seen.0.lock().expect("inbox").push(Received {
                        envelope,
                        text: text.to_string(),
                    });
                }
            }
        });
        inbox
    }
}

struct Received {
    envelope: Envelope,
    text: String,
}

/// Everything one socket received, in order.
#[derive(Clone, Default)]
struct Inbox(Arc<Mutex<Vec<Received>>>);

impl Inbox {
    /// (epoch, seq, text) of every message of `topic`, in arrival order.
    fn of(&self, topic: Topic) -> Vec<(u64, u64, String)> {
        self.0
            .lock()
            .expect("inbox")
            .iter()
            .filter(|r| r.envelope.message.topic() == Some(topic))
            .map(|r| (r.envelope.epoch, r.envelope.seq, r.text.clone()))
            .collect()
    }

    /// The probe seqs of `epoch`, in arrival order.
    fn probes(&self, epoch: u64) -> Vec<u64> {
        self.of(Topic::Probe)
            .into_iter()
            .filter(|(e, _, _)| *e == epoch)
            .map(|(_, seq, _)| seq)
            .collect()
    }
}

/// Every seq follows the one before it: nothing missing, nothing twice, nothing out of order.
fn assert_contiguous(seqs: &[u64], what: &str) {
    for pair in seqs.windows(2) {
        assert_eq!(pair[1], pair[0] + 1, "{what}: {seqs:?}");
    }
}

/// Polls `check` until it answers, or fails the test after `DEADLINE`.
async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "{what}: not within {DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn a_follower_delivers_the_leaders_messages_with_the_same_numbers() {
    if !common::redis_may_run("a_follower_delivers_the_leaders_messages_with_the_same_numbers")
        .await
    {
        return;
    }
    let redis = redis_url();
    let prefix = unique_prefix("follow");
    let data = tempfile::tempdir().expect("temp dir");
    let holder = start(data.path(), &redis, &prefix).await;
    let follower = start(data.path(), &redis, &prefix).await;
    assert!(
        holder.holds_lease().await,
        "the first instance takes the lease"
    );
    assert!(!follower.holds_lease().await, "the second one follows");
    assert_eq!(holder.health().await["hub"]["backend"], "redis");
    assert_eq!(follower.health().await["hub"]["backend"], "redis");
    let epoch = holder.hub.epoch();
    assert_eq!(
        follower.hub.epoch(),
        epoch,
        "the follower took the lease holder's epoch"
    );

    let on_holder = holder.socket().await;
    let on_follower = follower.socket().await;
    // State published once, before the follower existed, reaches its sockets from Redis.
    eventually("the market status on the follower's socket", async || {
        (!on_follower.of(Topic::MarketStatus).is_empty()).then_some(())
    })
    .await;
    let start_seq = holder
        .hub
        .stream_seq(Topic::Probe, thor_server::hub::Audience::Everyone);
    eventually("50 more probes on both sockets", async || {
        let enough = |inbox: &Inbox| {
            inbox
                .probes(epoch)
                .last()
                .is_some_and(|seq| *seq >= start_seq + 50)
        };
        (enough(&on_holder) && enough(&on_follower)).then_some(())
    })
    .await;

    let follower_probes = on_follower.probes(epoch);
    assert_contiguous(&follower_probes, "the follower's probes");
    // The very same messages: same epoch, same seq, same bytes.
    let holder_messages = on_holder.of(Topic::Probe);
    let follower_messages = on_follower.of(Topic::Probe);
    let mut compared = 0;
    for message in &follower_messages {
        if let Some(same) = holder_messages.iter().find(|m| m.1 == message.1) {
            assert_eq!(same, message, "seq {} differs", message.1);
            compared += 1;
        }
    }
    assert!(compared >= 40, "only {compared} probes in common");
    let heartbeats = on_follower.of(Topic::Heartbeat);
    assert!(
        heartbeats.iter().all(|(e, _, _)| *e == epoch),
        "{heartbeats:?}"
    );
    assert!(!follower.holds_lease().await, "still one lease holder");

    follower.stop().await;
    holder.stop().await;
    forget(&redis, &prefix).await;
}

#[tokio::test]
async fn the_lease_moves_at_once_when_the_leader_stops() {
    if !common::redis_may_run("the_lease_moves_at_once_when_the_leader_stops").await {
        return;
    }
    let redis = redis_url();
    let prefix = unique_prefix("handover");
    let data = tempfile::tempdir().expect("temp dir");
    // A long TTL: the lease must move long before it could have expired.
    let ttl = Duration::from_secs(6);
    let holder = start_with(data.path(), &redis, &prefix, |s| s.hub.lease_ttl = ttl).await;
    let follower = start_with(data.path(), &redis, &prefix, |s| s.hub.lease_ttl = ttl).await;
    let first_epoch = holder.hub.epoch();
    let inbox = follower.socket().await;
    eventually("probes on the follower", async || {
        (inbox.probes(first_epoch).len() >= 5).then_some(())
    })
    .await;

    let stopped = Instant::now();
    holder.stop().await;
    eventually("the follower takes the lease", async || {
        follower.holds_lease().await.then_some(())
    })
    .await;
    // Handed back on shutdown: no waiting for the TTL (the follower asks every ttl/3).
    let took = stopped.elapsed();
    assert!(took < ttl / 2, "took {took:?}");

    let second_epoch = follower.hub.epoch();
    assert!(second_epoch > first_epoch, "a new, larger epoch");
    eventually("the jobs' messages continue in the new epoch", async || {
        (inbox.probes(second_epoch).len() >= 20).then_some(())
    })
    .await;
    assert_contiguous(&inbox.probes(first_epoch), "before the handover");
    assert_contiguous(&inbox.probes(second_epoch), "after the handover");
    assert!(
        inbox
            .of(Topic::MarketStatus)
            .iter()
            .any(|(e, _, _)| *e == second_epoch),
        "the new lease holder ran every job at once"
    );

    follower.stop().await;
    forget(&redis, &prefix).await;
}

#[tokio::test]
async fn the_lease_moves_within_a_few_ttl_when_the_leader_dies() {
    if !common::redis_may_run("the_lease_moves_within_a_few_ttl_when_the_leader_dies").await {
        return;
    }
    let redis = redis_url();
    let prefix = unique_prefix("crash");
    let data = tempfile::tempdir().expect("temp dir");
    let holder = start(data.path(), &redis, &prefix).await;
    let follower = start(data.path(), &redis, &prefix).await;
    let first_epoch = holder.hub.epoch();
    let inbox = follower.socket().await;
    eventually("probes on the follower", async || {
        (inbox.probes(first_epoch).len() >= 5).then_some(())
    })
    .await;

    let died = Instant::now();
    holder.crash().await;
    eventually("the follower takes the lease", async || {
        follower.holds_lease().await.then_some(())
    })
    .await;
    let took = died.elapsed();
    assert!(took < LEASE_TTL * 4, "took {took:?}");
    let second_epoch = follower.hub.epoch();
    assert!(second_epoch > first_epoch);
    eventually("the jobs' messages continue in the new epoch", async || {
        (inbox.probes(second_epoch).len() >= 20).then_some(())
    })
    .await;
    assert_contiguous(&inbox.probes(second_epoch), "after the takeover");

    follower.stop().await;
    forget(&redis, &prefix).await;
}

/// `redis://HOST:PORT…` with the given user and password instead of any in the URL.
fn as_user(url: &str, user: &str, password: &str) -> String {
    let rest = url.strip_prefix("redis://").expect("a redis:// URL");
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    format!("redis://{user}:{password}@{rest}")
}

#[tokio::test]
async fn a_lost_subscription_is_healed_from_the_shared_buffer() {
    if !common::redis_may_run("a_lost_subscription_is_healed_from_the_shared_buffer").await {
        return;
    }
    let redis = redis_url();
    let prefix = unique_prefix("heal");
    // The follower signs in to Redis as its own user, allowed only this test's keys and
    // channel, so its pub/sub connection (and nobody else's) can be killed.
    let user = prefix.clone();
    let mut admin_conn = admin(&redis).await;
    let _: () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg(&user)
        .arg("on")
        .arg(">secret")
        .arg(format!("~{prefix}:*"))
        .arg(format!("&{prefix}:*"))
        .arg("+@all")
        .query_async(&mut admin_conn)
        .await
        .expect("ACL SETUSER");
    let data = tempfile::tempdir().expect("temp dir");
    let holder = start(data.path(), &redis, &prefix).await;
    let follower = start(data.path(), &as_user(&redis, &user, "secret"), &prefix).await;
    let epoch = holder.hub.epoch();
    let inbox = follower.socket().await;
    eventually("probes on the follower", async || {
        (inbox.probes(epoch).len() >= 5).then_some(())
    })
    .await;

    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("USER")
        .arg(&user)
        .arg("TYPE")
        .arg("pubsub")
        .query_async(&mut admin_conn)
        .await
        .expect("CLIENT KILL");
    assert_eq!(killed, 1, "the follower's subscription");
    let at_kill = holder
        .hub
        .stream_seq(Topic::Probe, thor_server::hub::Audience::Everyone);

    eventually(
        "the follower catches up with the lease holder",
        async || {
            let holder_seq = holder
                .hub
                .stream_seq(Topic::Probe, thor_server::hub::Audience::Everyone);
            let seen = inbox.probes(epoch);
            (holder_seq > at_kill + 50 && seen.last().is_some_and(|s| *s >= at_kill + 50))
                .then_some(())
        },
    )
    .await;
    let healed = follower.hub.metrics().healed.get();
    assert!(healed > 0, "probes published meanwhile were read back");
    assert_contiguous(
        &inbox.probes(epoch),
        "no probe missing on the follower's socket",
    );
    assert_eq!(follower.hub.epoch(), epoch);

    follower.stop().await;
    holder.stop().await;
    let _: i64 = redis::cmd("ACL")
        .arg("DELUSER")
        .arg(&user)
        .query_async(&mut admin_conn)
        .await
        .expect("ACL DELUSER");
    forget(&redis, &prefix).await;
}

/// A Redis of this test's own (the shared one must not be stopped), on a free port.
struct PrivateRedis {
    port: u16,
    child: Option<std::process::Child>,
}

impl PrivateRedis {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut redis = Self { port, child: None };
        redis.restart();
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn restart(&mut self) {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("redis-server must be installed for this test");
        self.child = Some(child);
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    async fn wait_until_up(&self) {
        let url = self.url();
        eventually("the private Redis answers", async || {
            let client = redis::Client::open(url.as_str()).ok()?;
            let mut conn = client.get_multiplexed_async_connection().await.ok()?;
            redis::cmd("PING")
                .query_async::<String>(&mut conn)
                .await
                .ok()
        })
        .await;
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

#[tokio::test]
async fn redis_going_away_and_coming_back_crashes_nothing() {
    if !common::may_run(
        "redis_going_away_and_coming_back_crashes_nothing",
        "redis-server",
        common::program_found("redis-server"),
    ) {
        return;
    }
    let mut redis = PrivateRedis::start();
    redis.wait_until_up().await;
    let prefix = "thor";
    let data = tempfile::tempdir().expect("temp dir");
    // A gentler probe: after the outage the catch-up hands a socket everything at once.
    let gentle = |s: &mut Settings| s.hub.probe_rate_hz = 20;
    let holder = start_with(data.path(), &redis.url(), prefix, gentle).await;
    let follower = start_with(data.path(), &redis.url(), prefix, gentle).await;
    let first_epoch = holder.hub.epoch();
    let inbox = follower.socket().await;
    eventually("probes on the follower", async || {
        (inbox.probes(first_epoch).len() >= 5).then_some(())
    })
    .await;

    redis.kill();
    // Without renewals for a whole TTL the lease holder steps down; both keep serving.
    eventually("the lease holder steps down", async || {
        (!holder.holds_lease().await).then_some(())
    })
    .await;
    assert!(!follower.holds_lease().await);
    assert_eq!(holder.health().await["status"], "ok");
    assert_eq!(follower.health().await["status"], "ok");

    redis.restart();
    redis.wait_until_up().await;
    let (new_leader, other) = eventually("one instance takes the lease again", async || {
        match (holder.holds_lease().await, follower.holds_lease().await) {
            (true, false) => Some((&holder, &follower)),
            (false, true) => Some((&follower, &holder)),
            _ => None,
        }
    })
    .await;
    let second_epoch = new_leader.hub.epoch();
    assert!(second_epoch > first_epoch);
    eventually(
        "the follower's socket gets the jobs' messages again",
        async || (inbox.probes(second_epoch).len() >= 20).then_some(()),
    )
    .await;
    assert_contiguous(&inbox.probes(second_epoch), "after Redis came back");
    // The other one follows the new epoch once its subscription is back (it retries with
    // backoff, so it may come back after the new holder).
    eventually("both instances in the same epoch again", async || {
        (other.hub.epoch() == new_leader.hub.epoch()).then_some(())
    })
    .await;

    follower.stop().await;
    holder.stop().await;
}

#[test]
fn an_unreachable_redis_is_a_clear_error_without_the_password() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_thor"))
        .current_dir(dir.path())
        .env_remove("DATABASE_URL")
        .env_remove("THOR_CONFIG")
        .env("THOR_DATA_DIR", dir.path().join("data"))
        .env("LEPTOS_SITE_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "error")
        // Port 1 on loopback: nothing listens there, so the refusal is immediate.
        .env("REDIS_URL", "redis://:hunter2@127.0.0.1:1")
        .output()
        .expect("thor runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    assert!(stderr.contains("cannot reach Redis at"), "stderr: {stderr}");
    assert!(!stderr.contains("hunter2"), "the password leaked: {stderr}");
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
}

/// A flag change made on either instance reaches a page on the other: the follower writes it
/// to the shared database and the lease holder's cutover job publishes it over the shared hub.
#[tokio::test]
async fn a_flag_change_on_either_instance_reaches_pages_on_the_other() {
    if !common::redis_may_run("a_flag_change_on_either_instance_reaches_pages_on_the_other").await {
        return;
    }
    use app::cutover::Stage;
    use app::feature::Feature;
    use common::page::Page;

    let redis = redis_url();
    let prefix = unique_prefix("cutover");
    let data = tempfile::tempdir().expect("temp dir");
    let gentle = |s: &mut Settings| s.hub.probe_rate_hz = 0;
    let holder = start_with(data.path(), &redis, &prefix, gentle).await;
    let follower = start_with(data.path(), &redis, &prefix, gentle).await;
    assert!(holder.holds_lease().await && !follower.holds_lease().await);

    let demo = common::sign_in_at(holder.addr, "demo").await;
    let on_holder = Page::open(holder.addr, &demo, "on-holder", 1000.0).await;
    let on_follower = Page::open(follower.addr, &demo, "on-follower", 1000.0).await;
    let change = |addr: SocketAddr, feature: &'static str, stage: &'static str| async move {
        let ops = common::sign_in_at(addr, "ops").await;
        let response = reqwest::Client::new()
            .post(format!("http://{addr}/api/cutover/{feature}"))
            .header("cookie", ops)
            .json(&serde_json::json!({"stage": stage, "reason": "across instances", "force": true}))
            .send()
            .await
            .expect("answered");
        assert_eq!(response.status(), 200);
        let flags: app::cutover::Flags = response.json().await.expect("flags");
        flags.version
    };

    let version = change(follower.addr, "positions", "live").await;
    let (flags, _) = on_holder.wait_for_version(version, DEADLINE).await;
    assert_eq!(
        flags.flag(Feature::Positions).stage,
        Stage::Live,
        "made on the follower"
    );
    on_follower.wait_for_version(version, DEADLINE).await;

    let version = change(holder.addr, "intraday", "rest").await;
    let (flags, _) = on_follower.wait_for_version(version, DEADLINE).await;
    assert_eq!(
        flags.flag(Feature::Intraday).stage,
        Stage::Rest,
        "made on the lease holder"
    );
    assert_eq!(flags.flag(Feature::Positions).stage, Stage::Live);

    follower.stop().await;
    holder.stop().await;
    forget(&redis, &prefix).await;
}

/// Signing out on one instance ends the session on all of them: the sockets it has on another
/// instance close within a second (4001), and that instance's REST forgets it.
#[tokio::test]
async fn signing_out_on_one_instance_closes_the_sessions_sockets_on_the_others() {
    if !common::redis_may_run(
        "signing_out_on_one_instance_closes_the_sessions_sockets_on_the_others",
    )
    .await
    {
        return;
    }
    let redis = redis_url();
    let prefix = unique_prefix("signout");
    let data = tempfile::tempdir().expect("temp dir");
    let one = start(data.path(), &redis, &prefix).await;
    let other = start(data.path(), &redis, &prefix).await;
    let cookie = common::sign_in_at(one.addr, "demo").await;
    let mut socket = common::ws_connect_at(other.addr, &cookie, "").await;
    let first = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .expect("a first message");
    assert!(matches!(first, Some(Ok(Message::Text(_)))));
    let me = |addr: SocketAddr| {
        let cookie = cookie.clone();
        async move {
            reqwest::Client::new()
                .get(format!("http://{addr}/api/auth/me"))
                .header("cookie", cookie)
                .send()
                .await
                .expect("request")
                .status()
        }
    };
    assert_eq!(
        me(other.addr).await,
        200,
        "the other instance knows (and caches) it"
    );

    let out = reqwest::Client::new()
        .post(one.url("/api/auth/logout"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("request");
    assert_eq!(out.status(), 204);
    let code = common::close_code_within(&mut socket, Duration::from_millis(1500)).await;
    assert_eq!(code, Some(app::protocol::close_code::SESSION_ENDED));
    assert_eq!(me(other.addr).await, 401);
    one.stop().await;
    other.stop().await;
    forget(&redis, &prefix).await;
}

/// The notice alone ends a session's sockets on every instance (the database still holds the
/// session here, so no sweep would): what `thor users set-password` and a sign-out send.
#[tokio::test]
async fn a_session_end_notice_over_redis_closes_the_sockets_at_once() {
    if !common::redis_may_run("a_session_end_notice_over_redis_closes_the_sockets_at_once").await {
        return;
    }
    let redis = redis_url();
    let prefix = unique_prefix("notice");
    let data = tempfile::tempdir().expect("temp dir");
    let one = start(data.path(), &redis, &prefix).await;
    let other = start(data.path(), &redis, &prefix).await;
    let cookie = common::sign_in_at(one.addr, "demo").await;
    let mut sockets = Vec::new();
    for instance in [&one, &other] {
        let mut socket = common::ws_connect_at(instance.addr, &cookie, "").await;
        common::serving(&mut socket).await;
        sockets.push(socket);
    }
    let token = cookie.trim_start_matches("thor_session=");
    let ended = thor_server::auth::Ended::Session(thor_server::auth::token_hash(token));
    thor_server::auth::announce(&DatabaseUrl::new(redis.as_str()), None, &prefix, &ended)
        .await
        .expect("published");
    for socket in &mut sockets {
        let code = common::close_code_within(socket, Duration::from_secs(1)).await;
        assert_eq!(code, Some(app::protocol::close_code::SESSION_ENDED));
    }
    one.stop().await;
    other.stop().await;
    forget(&redis, &prefix).await;
}

/// `thor users disable`, run beside the servers, tells every instance over Redis at once (a
/// notice naming the user, on `P:sessions`), and the user's sockets on every instance close.
#[tokio::test]
async fn disabling_a_user_tells_every_instance_over_redis() {
    if !common::redis_may_run("disabling_a_user_tells_every_instance_over_redis").await {
        return;
    }
    let redis = redis_url();
    let prefix = unique_prefix("disable");
    let data = tempfile::tempdir().expect("temp dir");
    let one = start(data.path(), &redis, &prefix).await;
    let other = start(data.path(), &redis, &prefix).await;
    let cookie = common::sign_in_at(one.addr, "demo").await;
    let mut sockets = Vec::new();
    for instance in [&one, &other] {
        let mut socket = common::ws_connect_at(instance.addr, &cookie, "").await;
        common::serving(&mut socket).await;
        sockets.push(socket);
    }
    let mut notices = redis::Client::open(redis.as_str())
        .expect("a Redis URL")
        .get_async_pubsub()
        .await
        .expect("a subscription");
    notices
        .subscribe(format!("{prefix}:sessions"))
        .await
        .expect("subscribed");

    let cli = {
        let (data, redis, prefix) = (data.path().to_path_buf(), redis.clone(), prefix.clone());
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_thor"))
                .args(["users", "disable", "demo"])
                .env("THOR_DATA_DIR", &data)
                .env("REDIS_URL", &redis)
                .env("THOR_REDIS_PREFIX", &prefix)
                .env_remove("DATABASE_URL")
                .env_remove("THOR_CONFIG")
                .current_dir(&data)
                .output()
                .expect("thor runs")
        })
        .await
        .expect("joins")
    };
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    let notice = tokio::time::timeout(Duration::from_secs(2), notices.on_message().next())
        .await
        .expect("a notice within 2 s")
        .expect("the subscription is open");
    let ended: thor_server::auth::Ended =
        serde_json::from_slice(notice.get_payload_bytes()).expect("a session notice");
    let pool = sqlx::SqlitePool::connect(common::sqlite_url(data.path()).expose())
        .await
        .expect("the shared database");
    let demo: i64 = sqlx::query_scalar("SELECT id FROM users WHERE username = 'demo'")
        .fetch_one(&pool)
        .await
        .expect("demo's id");
    pool.close().await;
    assert_eq!(ended, thor_server::auth::Ended::User(demo));
    for socket in &mut sockets {
        let code = common::close_code_within(socket, Duration::from_secs(1)).await;
        assert_eq!(code, Some(app::protocol::close_code::SESSION_ENDED));
    }
    one.stop().await;
    other.stop().await;
    forget(&redis, &prefix).await;
}
