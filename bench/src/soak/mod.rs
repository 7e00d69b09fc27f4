//! `--suite soak`: a fleet over time. Two `thor` instances share a fresh PostgreSQL database and
//! Redis (a prefix of their own); `--clients` sockets, each a page charting one symbol
//! (`?symbols=…`), are split between them, with churn (pages that leave and come back) and REST
//! polling beside them. Every `--restart-every` seconds one instance is restarted in turn
//! (SIGTERM, then started again on its port), as a rolling deploy would, for `--soak-minutes`.
//!
//! Each page keeps what a real one keeps (the epoch and last seq of every topic) and, closed by a
//! restart (1012) or unable to connect, opens a socket to the other instance at once, resuming.
//! Reported per restart: the sockets it closed, how long each took to be back (from the close to
//! the next socket's `hello`), what the resumes replayed and what fell to a snapshot (by
//! reason), closed bars missed (a page's bars of its symbol skipping a minute: the simulator
//! trades around the clock, so every minute has a bar), REST requests that failed on both
//! instances (each goes to the other when the first does not answer, as a load balancer's
//! would), and both instances' RSS; and RSS every `--soak-sample-seconds` over the run.

use crate::server::free_port;
use instance::Instance;

mod instance;
use crate::{Args, clients};
use anyhow::{Context, Result};
use app::live::ResumePoint;
use app::protocol::{Envelope, ServerMessage};
use futures::StreamExt;
use sqlx::{Connection, PgConnection};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

const SYMBOLS: [&str; 5] = ["SPY", "QQQ", "IWM", "AAPL", "MSFT"];
/// The close code of a server that is restarting.
const SERVICE_RESTART: u16 = 1012;

/// What the pages saw during one restart's window (from its SIGTERM to the next one's).
#[derive(Debug, Default, Clone)]
struct Window {
    /// Sockets closed with 1012.
    closed: u64,
    /// Milliseconds from each such close to the next socket's `hello`.
    back_ms: Vec<u32>,
    replayed: u64,
    snapshots: BTreeMap<String, u64>,
    missed_bars: u64,
    rest_ok: u64,
    rest_failed: u64,
}

#[derive(Default)]
struct Shared {
    /// The restart whose window it is (0: before the first).
    window: AtomicUsize,
    windows: Mutex<Vec<Window>>,
    stop: AtomicBool,
    connected: AtomicUsize,
    bars: AtomicU64,
}

impl Shared {
    fn record(&self, f: impl FnOnce(&mut Window)) {
        let index = self.window.load(Ordering::Relaxed);
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if windows.len() <= index {
            windows.resize(index + 1, Window::default());
        }
        f(&mut windows[index]);
    }
}

pub(crate) async fn run(args: &Args) -> Result<()> {
    let bin = crate::built_thor(args)?.to_path_buf();
    let n = args.clients.first().copied().unwrap_or(5000);
    let minutes = args.soak_minutes;
    let every = Duration::from_secs(args.restart_every);
    eprintln!("{}", crate::machine_line());
    let database = format!("thor_soak_{}", std::process::id());
    let server_url = std::env::var("THOR_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let redis_url =
        std::env::var("THOR_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let mut admin = PgConnection::connect(&format!("{server_url}/postgres"))
        .await
        .with_context(|| format!("PostgreSQL must be running at {server_url}"))?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE DATABASE \"{database}\""
    )))
    .execute(&mut admin)
    .await
    .context("cannot create the soak's database")?;
    let dir = tempfile::Builder::new()
        .prefix("thor-soak-")
        .tempdir()
        .context("cannot create a temporary directory")?;
    let env = vec![
        (
            "DATABASE_URL".to_string(),
            format!("{server_url}/{database}"),
        ),
        ("REDIS_URL".to_string(), redis_url),
        ("THOR_REDIS_PREFIX".to_string(), database.clone()),
        ("THOR_MAX_CONNECTIONS".to_string(), "20000".to_string()),
        (
            "THOR_MAX_CONNECTIONS_PER_USER".to_string(),
            "20000".to_string(),
        ),
        ("RUST_LOG".to_string(), "warn".to_string()),
    ];
    let mut fleet = Vec::new();
    for name in ["a", "b"] {
        let data_dir = dir.path().join(name);
        std::fs::create_dir_all(&data_dir).context("cannot create a data directory")?;
        fleet.push(Instance {
            name,
            addr: SocketAddr::from(([127, 0, 0, 1], free_port()?)),
            log: dir.path().join(format!("{name}.log")),
            data_dir,
            env: env.clone(),
            child: None,
        });
    }
    let result = soak(&bin, &mut fleet, n, minutes, every, args).await;
    for instance in &mut fleet {
        instance.stop().await?;
    }
    if result.is_err() {
        for instance in &fleet {
            let log = std::fs::read_to_string(&instance.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            eprintln!("instance {} log (last lines, newest first):", instance.name);
            tail.iter().for_each(|l| eprintln!("  {l}"));
        }
    }
    let dropped = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await;
    if let Err(e) = dropped {
        eprintln!("warning: cannot drop the soak's database {database}: {e}");
    }
    result
}

async fn soak(
    bin: &Path,
    fleet: &mut [Instance],
    n: usize,
    minutes: u64,
    every: Duration,
    args: &Args,
) -> Result<()> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .context("cannot build an HTTP client")?;
    // One at a time: the first runs the migrations and seeds the demo users.
    for instance in fleet.iter_mut() {
        instance.start(bin)?;
        instance.wait_ready(&http).await?;
    }
    let session = crate::server::sign_in_at(&http, fleet[0].addr, "demo").await?;
    let addrs: Arc<[SocketAddr; 2]> = Arc::new([fleet[0].addr, fleet[1].addr]);
    let shared = Arc::new(Shared::default());
    let started = Instant::now();
    eprintln!("connecting {n} pages, half to each instance");
    let mut pages = Vec::with_capacity(n);
    for i in 0..n {
        let page = page(
            i,
            addrs.clone(),
            session.clone(),
            shared.clone(),
            args.churn_minutes,
        );
        pages.push(tokio::spawn(page));
        if i % args.connect_batch == args.connect_batch - 1 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let rest = tokio::spawn(poll_rest(
        http.clone(),
        addrs.clone(),
        session.clone(),
        shared.clone(),
        args.soak_rest_per_second,
    ));
    let end = started + Duration::from_secs(minutes * 60);
    let sample_every = Duration::from_secs(args.soak_sample_seconds);
    let mut samples: Vec<(f64, f64, f64, usize)> = Vec::new();
    let mut rss_at_restart: Vec<(String, f64, f64)> = Vec::new();
    let mut next_sample = Instant::now();
    let mut next_restart = started + every;
    let mut restarts = 0usize;
    while Instant::now() < end {
        if Instant::now() >= next_sample {
            let (a, b) = (fleet[0].rss_mb(), fleet[1].rss_mb());
            let connected = shared.connected.load(Ordering::Relaxed);
            samples.push((started.elapsed().as_secs_f64(), a, b, connected));
            next_sample += sample_every;
        }
        if Instant::now() >= next_restart && Instant::now() + Duration::from_secs(60) < end {
            let which = restarts % 2;
            rss_at_restart.push((
                fleet[which].name.to_string(),
                fleet[0].rss_mb(),
                fleet[1].rss_mb(),
            ));
            restarts += 1;
            shared.window.store(restarts, Ordering::SeqCst);
            eprintln!(
                "{:>6.0} s: restarting instance {} ({} pages connected)",
                started.elapsed().as_secs_f64(),
                fleet[which].name,
                shared.connected.load(Ordering::Relaxed)
            );
            fleet[which].stop().await?;
            fleet[which].start(bin)?;
            fleet[which].wait_ready(&http).await?;
            next_restart += every;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let end_rss = (fleet[0].rss_mb(), fleet[1].rss_mb());
    shared.stop.store(true, Ordering::SeqCst);
    rest.abort();
    for page in pages {
        page.abort();
    }
    report(
        &shared,
        &rss_at_restart,
        end_rss,
        &samples,
        n,
        minutes,
        every,
    );
    Ok(())
}

fn report(
    shared: &Shared,
    rss_at_restart: &[(String, f64, f64)],
    end_rss: (f64, f64),
    samples: &[(f64, f64, f64, usize)],
    n: usize,
    minutes: u64,
    every: Duration,
) {
    let windows = shared
        .windows
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    println!(
        "Fleet soak: 2 instances (PostgreSQL + Redis), {n} pages, {minutes} min, a restart every {} s; {} closed bars received",
        every.as_secs(),
        shared.bars.load(Ordering::Relaxed)
    );
    println!();
    println!(
        "| window | restarted | RSS a / b MB before | sockets closed | back p50 / p99 / max ms | replayed | snapshots | missed closed bars | REST ok / failed |"
    );
    println!("|---|---|---:|---:|---:|---:|---|---:|---:|");
    for (i, w) in windows.iter().enumerate() {
        let (name, rss) = match i.checked_sub(1).and_then(|r| rss_at_restart.get(r)) {
            Some((name, a, b)) => (name.clone(), format!("{a:.1} / {b:.1}")),
            None => ("(start)".to_string(), "—".to_string()),
        };
        let mut back = w.back_ms.clone();
        back.sort_unstable();
        let pick =
            |p: f64| crate::stats::percentile(&back, p).map_or("—".into(), |v| v.to_string());
        let snapshots = if w.snapshots.is_empty() {
            "none".to_string()
        } else {
            w.snapshots
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!(
            "| {i} | {name} | {rss} | {} | {} / {} / {} | {} | {snapshots} | {} | {} / {} |",
            w.closed,
            pick(50.0),
            pick(99.0),
            pick(100.0),
            w.replayed,
            w.missed_bars,
            w.rest_ok,
            w.rest_failed
        );
    }
    let total = |(a, b): (f64, f64)| a + b;
    println!();
    // Before the first restart the pages are split between the instances; after it they sit
    // on one and the other is fresh, as at the end: the first restart's figure is the fleet's
    // just before the second (the end of the first window after a restart).
    if let Some((_, a, b)) = rss_at_restart.get(1) {
        let first = total((*a, *b));
        let last = total(end_rss);
        println!(
            "RSS of the fleet (a + b): {first:.1} MB after the first restart (just before the second), {last:.1} MB at the end ({:+.1} %)",
            (last / first - 1.0) * 100.0
        );
    }
    println!();
    println!("| t (s) | RSS a MB | RSS b MB | pages connected |");
    println!("|---:|---:|---:|---:|");
    for (t, a, b, connected) in samples {
        println!("| {t:.0} | {a:.1} | {b:.1} | {connected} |");
    }
}

/// A small deterministic generator (xorshift64*): churn times need no cryptography.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// How one socket ended.
enum Ended {
    Restart,
    Churn,
    Lost,
}

/// One page: charting `SYMBOLS[i % 5]`, first on instance `i % 2`, moving to the other when its
/// instance restarts or cannot be reached; it leaves and comes back about every
/// `churn_minutes`.
async fn page(
    i: usize,
    addrs: Arc<[SocketAddr; 2]>,
    session: String,
    shared: Arc<Shared>,
    churn_minutes: f64,
) {
    let symbol = SYMBOLS[i % SYMBOLS.len()];
    let mut at = i % 2;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9));
    let mut resume = ResumePoint::default();
    let shown = [symbol.to_string()];
    let mut last_minute: Option<i64> = None;
    // Since when the page has been without a socket because of a restart.
    let mut down_since: Option<Instant> = None;
    while !shared.stop.load(Ordering::Relaxed) {
        let query = resume.query_for(Some(&shown));
        let opening = clients::open_at(addrs[at], Some(&session), &query);
        let socket = match tokio::time::timeout(Duration::from_secs(5), opening).await {
            Ok(Ok(socket)) => socket,
            Ok(Err(_)) | Err(_) => {
                at = 1 - at;
                let pause = 50.0 + 200.0 * rng.next();
                tokio::time::sleep(Duration::from_millis(pause as u64)).await;
                continue;
            }
        };
        shared.connected.fetch_add(1, Ordering::Relaxed);
        let churn_after = Duration::from_secs_f64(churn_minutes * 60.0 * 2.0 * rng.next());
        let ended = follow(
            socket,
            &shared,
            &mut resume,
            &mut last_minute,
            &mut down_since,
            churn_after,
        )
        .await;
        shared.connected.fetch_sub(1, Ordering::Relaxed);
        match ended {
            Ended::Restart => {
                shared.record(|w| w.closed += 1);
                down_since = Some(Instant::now());
                at = 1 - at;
                // As a page does: at once, with a little jitter.
                let pause = 250.0 * rng.next();
                tokio::time::sleep(Duration::from_millis(pause as u64)).await;
            }
            Ended::Churn => {
                let pause = 1000.0 * rng.next();
                tokio::time::sleep(Duration::from_millis(pause as u64)).await;
            }
            Ended::Lost => {
                down_since.get_or_insert_with(Instant::now);
                at = 1 - at;
                let pause = 250.0 + 250.0 * rng.next();
                tokio::time::sleep(Duration::from_millis(pause as u64)).await;
            }
        }
    }
}

async fn follow(
    mut socket: clients::Socket,
    shared: &Shared,
    resume: &mut ResumePoint,
    last_minute: &mut Option<i64>,
    down_since: &mut Option<Instant>,
    churn_after: Duration,
) -> Ended {
    let leave_at = tokio::time::Instant::now() + churn_after;
    loop {
        let frame = tokio::select! {
            frame = socket.next() => frame,
            _ = tokio::time::sleep_until(leave_at) => {
                let _ = socket.close(None).await;
                return Ended::Churn;
            }
        };
        let text = match frame {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(close))) => {
                let restart = close.is_some_and(|c| u16::from(c.code) == SERVICE_RESTART);
                return if restart { Ended::Restart } else { Ended::Lost };
            }
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return Ended::Lost,
        };
        let Ok(envelope) = serde_json::from_str::<Envelope>(text.as_str()) else {
            continue;
        };
        resume.note(&envelope);
        match &envelope.message {
            ServerMessage::Hello(_) => {
                if let Some(since) = down_since.take() {
                    let ms = u32::try_from(since.elapsed().as_millis()).unwrap_or(u32::MAX);
                    shared.record(|w| w.back_ms.push(ms));
                }
            }
            ServerMessage::Resumed(resumed) => {
                resume.note_epoch(resumed.epoch);
                let replayed: u64 = resumed.replayed.values().sum();
                shared.record(|w| {
                    w.replayed += replayed;
                    for (topic, reason) in &resumed.snapshot {
                        let key = format!("{}: {reason:?}", topic.as_str());
                        *w.snapshots.entry(key).or_default() += 1;
                    }
                });
            }
            ServerMessage::IntradayBar(bar) => {
                shared.bars.fetch_add(1, Ordering::Relaxed);
                let minute = bar.timestamp_minute.timestamp() / 60;
                match *last_minute {
                    Some(last) if minute > last + 1 => {
                        let missed = u64::try_from(minute - last - 1).unwrap_or(0);
                        shared.record(|w| w.missed_bars += missed);
                        *last_minute = Some(minute);
                    }
                    Some(last) if minute <= last => {}
                    _ => *last_minute = Some(minute),
                }
            }
            _ => {}
        }
    }
}

/// REST beside the sockets: balance and bars, alternating between the instances.
async fn poll_rest(
    http: reqwest::Client,
    addrs: Arc<[SocketAddr; 2]>,
    session: String,
    shared: Arc<Shared>,
    per_second: u32,
) {
    let paths = ["/api/account/balance", "/api/intraday/bars?symbol=SPY"];
    let mut tick =
        tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(per_second.max(1))));
    let mut k = 0usize;
    loop {
        tick.tick().await;
        let path = paths[(k / 2) % 2];
        // As a load balancer would: the other instance when the first does not answer.
        let mut ok = false;
        for addr in [addrs[k % 2], addrs[(k + 1) % 2]] {
            ok = http
                .get(format!("http://{addr}{path}"))
                .header("cookie", format!("thor_session={session}"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                break;
            }
        }
        k += 1;
        shared.record(|w| {
            if ok {
                w.rest_ok += 1
            } else {
                w.rest_failed += 1
            }
        });
    }
}
