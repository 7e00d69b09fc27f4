//! `thor-bench`: N WebSocket clients against a real `thor` server publishing probes at R per
//! second, and the same against `bare-hub` (a bare tokio broadcast server) on the same machine
//! in the same run. Reports delivered probes per second, delivery latency (client receive time −
//! the probe's `sent_us`, both from this machine's clock), loss (from `seq`), and server RSS.
//!
//! For each N and each server: one start with the probe off measures memory per idle connection
//! (RSS with N clients connected minus RSS before them, over N); then one start per rate R
//! connects N clients, warms up, and measures a window. The window is a range of probe `seq`s:
//! `(S0, S1]`, where S0 is the server's last published `seq` when the window opens and S1 when it
//! closes. After a drain (until every client has seen a probe at or past S1, at most
//! `--drain-seconds`), each client is owed every `seq` in the window from its first probe on;
//! whatever it did not receive is lost. Latency and delivered counts cover the same range.
//!
//! The clients run in this process on a multi-thread tokio runtime, one task per connection, on
//! the same cores as the server: on a small machine they compete with it for CPU, for both
//! servers alike.

mod bundle;
mod cutover;
mod logins;
mod rest;
mod stats;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Parser, ValueEnum};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::http::header::COOKIE;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

#[derive(Debug, Parser)]
#[command(about = "WebSocket delivery benchmark: thor against a bare tokio broadcast server")]
struct Args {
    /// The `thor` binary (a release build).
    #[arg(
        long,
        env = "THOR_BENCH_THOR_BIN",
        default_value = "target/release/thor"
    )]
    thor_bin: PathBuf,
    /// The `bare-hub` binary (a release build).
    #[arg(
        long,
        env = "THOR_BENCH_BARE_BIN",
        default_value = "target/release/bare-hub"
    )]
    bare_bin: PathBuf,
    /// Numbers of concurrent WebSocket clients, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "100,1000,5000")]
    clients: Vec<usize>,
    /// Probe rates (messages per second), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "10,100")]
    rates: Vec<u32>,
    /// Length of each measuring window, seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Warm-up between the last client connecting and the window opening, seconds.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// The longest wait after the window for late probes, seconds.
    #[arg(long, default_value_t = 5)]
    drain_seconds: u64,
    /// Connections opened concurrently while connecting the clients.
    #[arg(long, default_value_t = 200)]
    connect_batch: usize,
    /// Which servers to run, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "thor,bare")]
    servers: Vec<Kind>,
    /// For `--suite cutover`: how many flag changes to time reaching every socket (N from
    /// --clients; thor only).
    #[arg(long, default_value_t = 20)]
    cutover_changes: usize,
    /// Also write every result as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// What to measure: `ws` (WebSocket delivery, above), `rest` (signed-in
    /// `GET /api/account/balance` under wrk, thor against bare-rest) or `logins` (thor's RSS
    /// through bursts of concurrent wrong sign-ins).
    #[arg(long, value_enum, default_value = "ws")]
    suite: Suite,
    /// The `bare-rest` binary (a release build), for `--suite rest`.
    #[arg(
        long,
        env = "THOR_BENCH_BARE_REST_BIN",
        default_value = "target/release/bare-rest"
    )]
    bare_rest_bin: PathBuf,
    /// `--suite rest`: wrk's concurrent connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// `--suite rest`: runs per server, alternating; the median counts.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// `--suite logins`: concurrent wrong sign-ins per burst.
    #[arg(long, default_value_t = 64)]
    logins: usize,
    /// `--suite bundle`: the release site (`cargo leptos build --release`).
    #[arg(long, env = "THOR_BENCH_SITE_ROOT", default_value = "target/site")]
    site_root: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Suite {
    Ws,
    Rest,
    Logins,
    /// Flag changes reaching N open sockets.
    Cutover,
    /// The dashboard's first load: bytes on the wire per file, Brotli and gzip.
    Bundle,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
enum Kind {
    Thor,
    Bare,
    /// The REST baseline (`bare-rest`), for `--suite rest` only.
    BareRest,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Thor => "thor",
            Kind::Bare => "bare",
            Kind::BareRest => "bare-rest",
        }
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    let nofile = raise_nofile_limit().context("cannot raise the open-file limit")?;
    let largest = args.clients.iter().copied().max().unwrap_or(0) as u64;
    if nofile < largest + 256 {
        eprintln!(
            "warning: the open-file limit is {nofile}; {largest} clients need more than that \
             (raise the hard limit: ulimit -Hn)"
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    runtime.block_on(run(args))
}

/// Raises this process's soft RLIMIT_NOFILE to its hard limit (children inherit it).
fn raise_nofile_limit() -> Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit through a valid pointer to a local.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error()).context("getrlimit(RLIMIT_NOFILE)");
    }
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: setrlimit reads one rlimit through a valid pointer to a local.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
            return Err(std::io::Error::last_os_error()).context("setrlimit(RLIMIT_NOFILE)");
        }
    }
    Ok(limit.rlim_cur)
}

#[derive(Debug, Serialize)]
struct Report {
    machine: String,
    command: String,
    idle: Vec<IdleResult>,
    load: Vec<LoadResult>,
    failures: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
struct IdleResult {
    server: Kind,
    clients: usize,
    connected: usize,
    connect_errors: usize,
    rss_before_kb: u64,
    rss_after_kb: u64,
    kb_per_connection: f64,
}

#[derive(Debug, Clone, Serialize)]
struct LoadResult {
    server: Kind,
    clients: usize,
    rate: u32,
    connected: usize,
    connect_errors: usize,
    /// Connections that ended (error or close) before the benchmark stopped them.
    ended_early: usize,
    first_end_reason: Option<String>,
    window_s: f64,
    /// Probes the server published in the window (S1 − S0).
    published: u64,
    /// Probe deliveries owed to all clients in the window.
    expected: u64,
    /// Probe deliveries received in the window.
    delivered: u64,
    delivered_per_s: f64,
    lost: u64,
    loss_pct: f64,
    /// Probes that arrived with a `seq` not above the client's previous one.
    out_of_order: u64,
    p50_us: Option<u32>,
    p99_us: Option<u32>,
    max_us: Option<u32>,
    peak_rss_kb: u64,
    /// Every message (all types) and its bytes, over the clients' whole connection.
    messages: u64,
    bytes: u64,
}

async fn run(args: Args) -> Result<()> {
    match args.suite {
        Suite::Rest => return rest::run(&args).await,
        Suite::Logins => return logins::run(&args).await,
        Suite::Bundle => return bundle::run(&args).await,
        Suite::Cutover => return run_cutover(&args, args.cutover_changes).await,
        Suite::Ws => {}
    }
    if args.clients.is_empty() || args.rates.is_empty() || args.servers.is_empty() {
        bail!("--clients, --rates and --servers each need at least one value");
    }
    if args.rates.contains(&0) {
        bail!("rates must be above 0 (the idle measurement runs with the probe off anyway)");
    }
    for kind in &args.servers {
        let bin = bin_of(&args, *kind);
        if !bin.is_file() {
            bail!(
                "{} not found: build it with `cargo build --release -p thor-server -p thor-bench` \
                 (or pass --{}-bin)",
                bin.display(),
                kind.name()
            );
        }
    }
    let mut report = Report {
        machine: machine_line(),
        command: command_line(),
        idle: Vec::new(),
        load: Vec::new(),
        failures: Vec::new(),
    };
    eprintln!("{}", report.machine);

    for &n in &args.clients {
        for &kind in &args.servers {
            match idle_cell(&args, kind, n).await {
                Ok(r) => {
                    eprintln!(
                        "{} N={n} idle: {} connected, RSS {} → {} KB, {:.1} KB per connection",
                        kind.name(),
                        r.connected,
                        r.rss_before_kb,
                        r.rss_after_kb,
                        r.kb_per_connection
                    );
                    report.idle.push(r);
                }
                Err(e) => {
                    let msg = format!("{} N={n} idle: {e:#}", kind.name());
                    eprintln!("FAILED {msg}");
                    report.failures.push(msg);
                }
            }
            for &rate in &args.rates {
                match load_cell(&args, kind, n, rate).await {
                    Ok(r) => {
                        eprintln!(
                            "{} N={n} R={rate}: {:.0} msgs/s, p50 {} p99 {} max {}, lost {} of {}, \
                             peak RSS {} KB, {} ended early",
                            kind.name(),
                            r.delivered_per_s,
                            ms(r.p50_us),
                            ms(r.p99_us),
                            ms(r.max_us),
                            r.lost,
                            r.expected,
                            r.peak_rss_kb,
                            r.ended_early
                        );
                        report.load.push(r);
                    }
                    Err(e) => {
                        let msg = format!("{} N={n} R={rate}: {e:#}", kind.name());
                        eprintln!("FAILED {msg}");
                        report.failures.push(msg);
                    }
                }
            }
        }
    }

    print!("{}", markdown(&args, &report));
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report).context("cannot serialise the report")?;
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    if !report.failures.is_empty() {
        bail!("{} benchmark cell(s) failed", report.failures.len());
    }
    Ok(())
}

/// The flag-propagation benchmark: a markdown table of the time from a change to the pages.
async fn run_cutover(args: &Args, changes: usize) -> Result<()> {
    if !args.thor_bin.is_file() {
        bail!("{} not found: build it first", args.thor_bin.display());
    }
    eprintln!("{}", machine_line());
    println!(
        "| N sockets | changes | last page p50 / p99 / max ms | every page p50 / p99 / max ms |"
    );
    println!("|---:|---:|---:|---:|");
    for &n in &args.clients {
        let r = cutover::measure(&args.thor_bin, n, changes, args.connect_batch).await?;
        let f = |v: [f64; 3]| format!("{:.1} / {:.1} / {:.1}", v[0], v[1], v[2]);
        println!(
            "| {} | {} | {} | {} |",
            r.clients,
            r.changes,
            f(r.last_page_ms),
            f(r.every_page_ms)
        );
    }
    Ok(())
}

fn bin_of(args: &Args, kind: Kind) -> &Path {
    match kind {
        Kind::Thor => &args.thor_bin,
        Kind::Bare => &args.bare_bin,
        Kind::BareRest => &args.bare_rest_bin,
    }
}

async fn idle_cell(args: &Args, kind: Kind, n: usize) -> Result<IdleResult> {
    let mut server = Server::start(kind, bin_of(args, kind), 0).await?;
    let result = async {
        // Let start-up allocations settle before the baseline.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let rss_before_kb = server.rss_kb()?;
        let clients = Clients::connect(&server, n, args.connect_batch).await;
        // The snapshot and the first live messages arrive and are read.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let rss_after_kb = server.rss_kb()?;
        let connected = clients.connected();
        let connect_errors = clients.connect_errors;
        let first_error = clients.first_connect_error.clone();
        clients.stop().await;
        if connected == 0 {
            bail!(
                "no client connected ({connect_errors} errors; first: {})",
                first_error.unwrap_or_default()
            );
        }
        Ok(IdleResult {
            server: kind,
            clients: n,
            connected,
            connect_errors,
            rss_before_kb,
            rss_after_kb,
            kb_per_connection: (rss_after_kb as f64 - rss_before_kb as f64) / connected as f64,
        })
    }
    .await;
    server.stop().await?;
    result
}

async fn load_cell(args: &Args, kind: Kind, n: usize, rate: u32) -> Result<LoadResult> {
    let mut server = Server::start(kind, bin_of(args, kind), rate).await?;
    let result = measure(args, &mut server, n, rate).await;
    server.stop().await?;
    result
}

async fn measure(args: &Args, server: &mut Server, n: usize, rate: u32) -> Result<LoadResult> {
    let clients = Clients::connect(server, n, args.connect_batch).await;
    if clients.connected() == 0 {
        let e = clients.first_connect_error.clone().unwrap_or_default();
        clients.stop().await;
        bail!("no client connected; first error: {e}");
    }
    // The snapshot, then the warm-up.
    tokio::time::sleep(Duration::from_secs(1 + args.warmup)).await;

    // Recording starts before S0 is read, so every probe after S0 is recorded.
    clients.shared.recording.store(true, Ordering::SeqCst);
    let s0 = server.last_probe_seq().await?;
    let opened = Instant::now();
    let window = Duration::from_secs(args.seconds);
    let mut peak_rss_kb = server.rss_kb()?;
    while opened.elapsed() < window {
        let left = window.saturating_sub(opened.elapsed());
        tokio::time::sleep(left.min(Duration::from_millis(200))).await;
        peak_rss_kb = peak_rss_kb.max(server.rss_kb()?);
    }
    let s1 = server.last_probe_seq().await?;
    let window_s = opened.elapsed().as_secs_f64();
    if s1 <= s0 {
        clients.stop().await;
        bail!(
            "the server published no probe in the window (last seq {s0} → {s1}); \
             does it support the probe rate setting?"
        );
    }

    // The drain: until every live client has a probe at or past S1, or the time is up.
    clients.shared.drain_target.store(s1, Ordering::SeqCst);
    let drain_until = Instant::now() + Duration::from_secs(args.drain_seconds);
    while Instant::now() < drain_until {
        let done = clients.shared.caught_up.load(Ordering::SeqCst)
            + clients.shared.ended.load(Ordering::SeqCst);
        if done >= clients.connected() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        peak_rss_kb = peak_rss_kb.max(server.rss_kb()?);
    }
    clients.shared.recording.store(false, Ordering::SeqCst);

    let connected = clients.connected();
    let connect_errors = clients.connect_errors;
    let reports = clients.stop().await;

    let mut latencies: Vec<u32> = Vec::new();
    let mut expected = 0u64;
    let mut delivered = 0u64;
    let mut lost = 0u64;
    let mut ended_early = 0usize;
    let mut first_end_reason = None;
    let mut out_of_order = 0u64;
    let mut messages = 0u64;
    let mut bytes = 0u64;
    for report in &reports {
        let in_window = report
            .samples
            .iter()
            .map(|s| stats::unpack(*s))
            .filter(|(seq, _)| *seq > s0 && *seq <= s1);
        let count = stats::window_count(
            s0,
            s1,
            report.first_probe,
            in_window.clone().map(|(seq, _)| seq),
        );
        expected += count.expected;
        delivered += count.received;
        lost += count.lost();
        latencies.extend(in_window.map(|(_, latency)| latency));
        if let Some(reason) = &report.ended {
            ended_early += 1;
            first_end_reason.get_or_insert_with(|| reason.clone());
        }
        out_of_order += report.out_of_order;
        messages += report.messages;
        bytes += report.bytes;
    }
    latencies.sort_unstable();
    Ok(LoadResult {
        server: server.kind,
        clients: n,
        rate,
        connected,
        connect_errors,
        ended_early,
        first_end_reason,
        window_s,
        published: s1 - s0,
        expected,
        delivered,
        delivered_per_s: delivered as f64 / window_s,
        lost,
        loss_pct: if expected == 0 {
            0.0
        } else {
            lost as f64 * 100.0 / expected as f64
        },
        out_of_order,
        p50_us: stats::percentile(&latencies, 50.0),
        p99_us: stats::percentile(&latencies, 99.0),
        max_us: latencies.last().copied(),
        peak_rss_kb,
        messages,
        bytes,
    })
}

// ---------------------------------------------------------------------------------------------
// The server under test, as a child process.

struct Server {
    kind: Kind,
    child: Child,
    addr: SocketAddr,
    http: reqwest::Client,
    /// The `thor_session` token every client presents (thor only).
    session: Option<String>,
    log: PathBuf,
    dir: tempfile::TempDir,
}

impl Server {
    async fn start(kind: Kind, bin: &Path, rate: u32) -> Result<Server> {
        Self::start_with(kind, bin, rate, &[]).await
    }

    /// [`Server::start`] with extra environment variables (thor only).
    async fn start_with(kind: Kind, bin: &Path, rate: u32, env: &[(&str, &str)]) -> Result<Server> {
        let dir = tempfile::Builder::new()
            .prefix("thor-bench-")
            .tempdir()
            .context("cannot create a temporary directory")?;
        let port = free_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let log = dir.path().join("server.log");
        let out = File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
        let err = out.try_clone().context("cannot share the server log")?;
        let mut command = Command::new(bin);
        command
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        match kind {
            Kind::Thor => {
                command
                    .env("THOR_DATA_DIR", dir.path().join("data"))
                    .env("LEPTOS_SITE_ADDR", addr.to_string())
                    .env("THOR_MAX_CONNECTIONS", "20000")
                    // Every client signs in as the same user.
                    .env("THOR_MAX_CONNECTIONS_PER_USER", "20000")
                    .env("THOR_PROBE_RATE", rate.to_string())
                    .env("RUST_LOG", "warn")
                    .envs(env.iter().copied());
            }
            Kind::BareRest => {
                command
                    .arg("--addr")
                    .arg(addr.to_string())
                    .arg("--data-dir")
                    .arg(dir.path().join("data"));
            }
            Kind::Bare => {
                command
                    .arg("--addr")
                    .arg(addr.to_string())
                    .arg("--rate")
                    .arg(rate.to_string());
            }
        }
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .context("cannot build an HTTP client")?;
        let mut server = Server {
            kind,
            child,
            addr,
            http,
            session: None,
            log,
            dir,
        };
        if let Err(e) = server.wait_ready().await {
            let tail = server.log_tail();
            server.stop().await?;
            return Err(e.context(format!("server log:\n{tail}")));
        }
        Ok(server)
    }

    async fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().context("cannot poll the server")? {
                bail!("the server exited during start-up ({status})");
            }
            let ready = match self.kind {
                Kind::Thor => self
                    .http
                    .get(format!("http://{}/api/health", self.addr))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success()),
                Kind::Bare | Kind::BareRest => TcpStream::connect(self.addr).await.is_ok(),
            };
            if ready {
                break;
            }
            if Instant::now() > deadline {
                bail!("the server did not become ready within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if self.kind == Kind::Thor {
            self.session = Some(self.sign_in().await?);
        }
        Ok(())
    }

    async fn sign_in(&self) -> Result<String> {
        let response = self
            .http
            .post(format!("http://{}/api/auth/login", self.addr))
            .json(&serde_json::json!({"username": "demo", "password": "demo"}))
            .send()
            .await
            .context("POST /api/auth/login")?;
        if !response.status().is_success() {
            bail!("POST /api/auth/login answered {}", response.status());
        }
        response
            .headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| session_from_set_cookie(v).map(str::to_string))
            .ok_or_else(|| anyhow!("POST /api/auth/login set no thor_session cookie"))
    }

    /// The last probe `seq` the server has published (0 before the first).
    async fn last_probe_seq(&self) -> Result<u64> {
        match self.kind {
            Kind::Thor => {
                let health: serde_json::Value = self
                    .http
                    .get(format!("http://{}/api/health", self.addr))
                    .send()
                    .await
                    .context("GET /api/health")?
                    .json()
                    .await
                    .context("GET /api/health: not JSON")?;
                let topics = health
                    .pointer("/hub/topics")
                    .ok_or_else(|| anyhow!("GET /api/health has no hub.topics"))?;
                Ok(topics.get("probe").and_then(|v| v.as_u64()).unwrap_or(0))
            }
            Kind::Bare => {
                let text = self
                    .http
                    .get(format!("http://{}/seq", self.addr))
                    .send()
                    .await
                    .context("GET /seq")?
                    .text()
                    .await
                    .context("GET /seq: no body")?;
                text.trim()
                    .parse()
                    .with_context(|| format!("GET /seq answered {text:?}"))
            }
            Kind::BareRest => bail!("bare-rest publishes no probes"),
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn rss_kb(&self) -> Result<u64> {
        self.status_kb("VmRSS:")
    }

    /// A `kB` line of /proc/<pid>/status (`VmRSS:`, `VmHWM:`).
    fn status_kb(&self, field: &str) -> Result<u64> {
        let path = format!("/proc/{}/status", self.child.id());
        let status =
            std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
        status_line_kb(&status, field).ok_or_else(|| anyhow!("no {field} in {path}"))
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// SIGTERM, then up to 15 s for a clean exit, then SIGKILL.
    async fn stop(&mut self) -> Result<()> {
        if self
            .child
            .try_wait()
            .context("cannot poll the server")?
            .is_some()
        {
            return Ok(());
        }
        let pid = libc::pid_t::try_from(self.child.id()).context("pid out of range")?;
        // SAFETY: kill(2) on our own child's pid; it has not been reaped (try_wait said so).
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if self
                .child
                .try_wait()
                .context("cannot poll the server")?
                .is_some()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        eprintln!(
            "warning: {} did not stop within 15 s of SIGTERM; killing it",
            self.kind.name()
        );
        self.child.kill().context("cannot kill the server")?;
        self.child.wait().context("cannot reap the server")?;
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // A cell that failed half-way must not leave its server running.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn free_port() -> Result<u16> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").context("cannot find a free local port")?;
    Ok(listener
        .local_addr()
        .context("cannot read a local address")?
        .port())
}

/// The token of a `Set-Cookie: thor_session=<token>; ...` header.
fn session_from_set_cookie(header: &str) -> Option<&str> {
    let pair = header.split(';').next()?.trim();
    let token = pair.strip_prefix("thor_session=")?;
    (!token.is_empty()).then_some(token)
}

/// `VmRSS:   12345 kB` from /proc/<pid>/status.
#[cfg(test)]
fn vm_rss_kb(status: &str) -> Option<u64> {
    status_line_kb(status, "VmRSS:")
}

/// `FIELD   12345 kB` from /proc/<pid>/status.
fn status_line_kb(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse().ok())
}

// ---------------------------------------------------------------------------------------------
// The clients.

/// What all clients of one cell share with the driver.
#[derive(Default)]
struct Shared {
    /// Whether clients keep latency samples.
    recording: AtomicBool,
    /// During the drain: the `seq` each client waits for (`u64::MAX` before).
    drain_target: AtomicU64,
    /// Clients that have seen a probe at or past `drain_target`.
    caught_up: AtomicUsize,
    /// Clients whose connection ended before they were stopped.
    ended: AtomicUsize,
}

#[derive(Debug, Default)]
struct ClientReport {
    messages: u64,
    bytes: u64,
    first_probe: Option<u64>,
    /// Packed (`seq`, latency) of each probe received while recording.
    samples: Vec<u64>,
    out_of_order: u64,
    /// Why the connection ended before the stop, if it did.
    ended: Option<String>,
}

struct Clients {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<ClientReport>>,
    connect_errors: usize,
    first_connect_error: Option<String>,
}

type Socket = WebSocketStream<TcpStream>;

impl Clients {
    /// Opens `n` connections, `batch` at a time; each starts reading as soon as it is open.
    async fn connect(server: &Server, n: usize, batch: usize) -> Clients {
        let shared = Arc::new(Shared {
            drain_target: AtomicU64::new(u64::MAX),
            ..Shared::default()
        });
        let (stop, _) = watch::channel(false);
        let mut clients = Clients {
            shared,
            stop,
            tasks: Vec::with_capacity(n),
            connect_errors: 0,
            first_connect_error: None,
        };
        let addr = server.addr;
        let session = server.session.as_deref();
        let mut opening = futures::stream::iter(0..n)
            .map(|_| async move {
                tokio::time::timeout(Duration::from_secs(20), open(addr, session))
                    .await
                    .unwrap_or_else(|_| Err(anyhow!("connect timed out after 20 s")))
            })
            .buffer_unordered(batch.max(1));
        while let Some(opened) = opening.next().await {
            match opened {
                Ok(socket) => {
                    let shared = clients.shared.clone();
                    let stop = clients.stop.subscribe();
                    clients
                        .tasks
                        .push(tokio::spawn(client(socket, shared, stop)));
                }
                Err(e) => {
                    clients.connect_errors += 1;
                    clients
                        .first_connect_error
                        .get_or_insert_with(|| format!("{e:#}"));
                }
            }
        }
        if clients.connect_errors > 0 {
            eprintln!(
                "warning: {} of {n} connections failed; first: {}",
                clients.connect_errors,
                clients.first_connect_error.as_deref().unwrap_or_default()
            );
        }
        clients
    }

    fn connected(&self) -> usize {
        self.tasks.len()
    }

    /// Stops every client (each closes its socket) and collects what it saw.
    async fn stop(self) -> Vec<ClientReport> {
        let _ = self.stop.send(true);
        let mut reports = Vec::with_capacity(self.tasks.len());
        for task in self.tasks {
            match task.await {
                Ok(report) => reports.push(report),
                Err(e) => reports.push(ClientReport {
                    ended: Some(format!("client task failed: {e}")),
                    ..ClientReport::default()
                }),
            }
        }
        reports
    }
}

async fn open(addr: SocketAddr, session: Option<&str>) -> Result<Socket> {
    let tcp = TcpStream::connect(addr)
        .await
        .with_context(|| format!("cannot connect to {addr}"))?;
    let mut request = format!("ws://{addr}/ws")
        .into_client_request()
        .context("cannot build the upgrade request")?;
    if let Some(token) = session {
        let cookie = HeaderValue::from_str(&format!("thor_session={token}"))
            .context("the session token is not a valid header value")?;
        request.headers_mut().insert(COOKIE, cookie);
    }
    // Small read buffers: 5,000 clients × the default 128 KiB would be 640 MB in this process.
    let config = WebSocketConfig::default().read_buffer_size(8 * 1024);
    let (socket, _) = tokio_tungstenite::client_async_with_config(request, tcp, Some(config))
        .await
        .context("WebSocket handshake failed")?;
    Ok(socket)
}

async fn client(
    mut socket: Socket,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) -> ClientReport {
    let mut report = ClientReport::default();
    let mut last_probe = 0u64;
    let mut caught_up = false;
    loop {
        let frame = tokio::select! {
            biased;
            _ = stop.changed() => break,
            frame = socket.next() => frame,
        };
        let received_us = now_us();
        let text = match frame {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(close))) => {
                report.ended = Some(format!("closed by the server: {close:?}"));
                break;
            }
            Some(Ok(other)) => {
                report.messages += 1;
                report.bytes += other.len() as u64;
                continue;
            }
            Some(Err(e)) => {
                report.ended = Some(format!("read failed: {e}"));
                break;
            }
            None => {
                report.ended = Some("the connection ended".to_string());
                break;
            }
        };
        report.messages += 1;
        report.bytes += text.len() as u64;
        let Some((seq, sent_us)) = parse_probe(text.as_str()) else {
            continue;
        };
        report.first_probe.get_or_insert(seq);
        if seq <= last_probe {
            report.out_of_order += 1;
        } else {
            last_probe = seq;
            if shared.recording.load(Ordering::Relaxed) {
                report.samples.push(stats::pack(seq, received_us - sent_us));
            }
        }
        if !caught_up && seq >= shared.drain_target.load(Ordering::Relaxed) {
            caught_up = true;
            shared.caught_up.fetch_add(1, Ordering::SeqCst);
        }
    }
    if report.ended.is_some() {
        shared.ended.fetch_add(1, Ordering::SeqCst);
    }
    report
}

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[derive(Deserialize)]
struct Head<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
}

#[derive(Deserialize)]
struct ProbeFrame {
    seq: u64,
    data: ProbeData,
}

#[derive(Deserialize)]
struct ProbeData {
    sent_us: i64,
}

/// `(seq, sent_us)` of a probe message; `None` for any other message (or one that is not JSON).
/// Two borrowing parses, no allocation: the first reads only `type`, the second only runs for
/// probes.
fn parse_probe(text: &str) -> Option<(u64, i64)> {
    let head: Head<'_> = serde_json::from_str(text).ok()?;
    if head.kind != "probe" {
        return None;
    }
    let probe: ProbeFrame = serde_json::from_str(text).ok()?;
    Some((probe.seq, probe.data.sent_us))
}

// ---------------------------------------------------------------------------------------------
// The report.

fn machine_line() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("Machine: {cpus} CPUs ({model}), Linux {kernel}; clients and server share them.")
}

fn command_line() -> String {
    std::env::args()
        .map(|a| {
            if a.is_empty() || a.contains(|c: char| c.is_whitespace() || "'\"$\\".contains(c)) {
                format!("'{}'", a.replace('\'', r"'\''"))
            } else {
                a
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn ms(us: Option<u32>) -> String {
    us.map_or_else(|| "—".into(), |us| format!("{:.2}", f64::from(us) / 1000.0))
}

fn markdown(args: &Args, report: &Report) -> String {
    let load = |kind: Kind, n: usize, rate: u32| {
        report
            .load
            .iter()
            .find(|r| r.server == kind && r.clients == n && r.rate == rate)
    };
    let idle = |kind: Kind, n: usize| {
        report
            .idle
            .iter()
            .find(|r| r.server == kind && r.clients == n)
            .map_or_else(|| "—".into(), |r| format!("{:.1}", r.kb_per_connection))
    };
    let rate_of = |r: Option<&LoadResult>| {
        r.map_or_else(|| "—".into(), |r| format!("{:.0}", r.delivered_per_s))
    };
    let lat = |r: Option<&LoadResult>| {
        r.map_or_else(
            || "—".into(),
            |r| format!("{} / {}", ms(r.p50_us), ms(r.p99_us)),
        )
    };
    let loss = |r: Option<&LoadResult>| {
        r.map_or_else(
            || "—".into(),
            |r| format!("{} ({:.3}%)", r.lost, r.loss_pct),
        )
    };
    let mut out = String::new();
    out.push_str(&format!("{}\n\n", report.machine));
    out.push_str(&format!("Command: `{}`\n\n", report.command));
    out.push_str(&format!(
        "Window {} s after {} s warm-up; latency = client receive time − the probe's `sent_us`; \
         loss = probe `seq`s a client never received in the window. Each cell's latencies are \
         N × R × {} samples, but only R × {} distinct probes: at a low R, p99 is the slowest \
         probe or two.\n\n",
        args.seconds, args.warmup, args.seconds, args.seconds
    ));
    out.push_str(
        "| N | R/s | thor msgs/s | bare msgs/s | thor p50 / p99 ms | bare p50 / p99 ms \
         | p99 thor/bare | thor loss | bare loss | thor peak RSS MB | thor KB/idle conn \
         | bare KB/idle conn |\n",
    );
    out.push_str("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for &n in &args.clients {
        for &rate in &args.rates {
            let thor = load(Kind::Thor, n, rate);
            let bare = load(Kind::Bare, n, rate);
            let ratio = match (thor.and_then(|t| t.p99_us), bare.and_then(|b| b.p99_us)) {
                (Some(t), Some(b)) if b > 0 => format!("{:.2}", f64::from(t) / f64::from(b)),
                _ => "—".into(),
            };
            let rss = thor.map_or_else(
                || "—".into(),
                |t| format!("{:.1}", t.peak_rss_kb as f64 / 1024.0),
            );
            out.push_str(&format!(
                "| {n} | {rate} | {} | {} | {} | {} | {ratio} | {} | {} | {rss} | {} | {} |\n",
                rate_of(thor),
                rate_of(bare),
                lat(thor),
                lat(bare),
                loss(thor),
                loss(bare),
                idle(Kind::Thor, n),
                idle(Kind::Bare, n),
            ));
        }
    }
    let troubles: Vec<String> = report
        .load
        .iter()
        .filter(|r| r.connect_errors > 0 || r.ended_early > 0 || r.out_of_order > 0)
        .map(|r| {
            format!(
                "- {} N={} R={}: {} connect errors, {} connections ended early{}, {} out-of-order probes",
                r.server.name(),
                r.clients,
                r.rate,
                r.connect_errors,
                r.ended_early,
                r.first_end_reason
                    .as_deref()
                    .map(|e| format!(" (first: {e})"))
                    .unwrap_or_default(),
                r.out_of_order
            )
        })
        .chain(report.failures.iter().map(|f| format!("- failed: {f}")))
        .collect();
    if !troubles.is_empty() {
        out.push_str("\nClient-side trouble:\n");
        for t in troubles {
            out.push_str(&t);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_thor_and_bare_probes_and_skips_the_rest() {
        // thor's field order (the flattened message first).
        let thor = r#"{"type":"probe","data":{"n":3,"sent_us":1700000000123456},"seq":42,"epoch":7,"ts":1700000000123}"#;
        assert_eq!(parse_probe(thor), Some((42, 1_700_000_000_123_456)));
        let bare = r#"{"type":"probe","seq":9,"epoch":1,"ts":1,"data":{"n":9,"sent_us":55}}"#;
        assert_eq!(parse_probe(bare), Some((9, 55)));
        let heartbeat = r#"{"type":"heartbeat","data":{"n":1},"seq":1,"epoch":7,"ts":1}"#;
        assert_eq!(parse_probe(heartbeat), None);
        let positions =
            r#"{"type":"positions","data":[1,2,{"x":"probe"}],"seq":1,"epoch":7,"ts":1}"#;
        assert_eq!(parse_probe(positions), None);
        assert_eq!(parse_probe("not json"), None);
        // A probe without sent_us is not a probe we can time.
        assert_eq!(parse_probe(r#"{"type":"probe","seq":1,"data":{}}"#), None);
    }

    #[test]
    fn reads_the_session_cookie() {
        assert_eq!(
            session_from_set_cookie("thor_session=abc123; Path=/; HttpOnly; SameSite=Lax"),
            Some("abc123")
        );
        assert_eq!(session_from_set_cookie("other=1; Path=/"), None);
        assert_eq!(session_from_set_cookie("thor_session=; Max-Age=0"), None);
    }

    #[test]
    fn reads_vm_rss() {
        let status = "Name:\tthor\nVmPeak:\t  999 kB\nVmRSS:\t   12345 kB\nThreads:\t4\n";
        assert_eq!(vm_rss_kb(status), Some(12_345));
        assert_eq!(vm_rss_kb("Name:\tthor\n"), None);
    }
}
