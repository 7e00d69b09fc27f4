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
mod cells;
mod clients;
mod cutover;
mod logins;
mod orders;
mod report;
mod rest;
mod server;
mod soak;
mod stats;

use cells::*;
use clients::*;
use report::*;
use server::*;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Parser, ValueEnum};
use futures::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
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
    /// thor's clients subscribe to the probe alone (each unsubscribes from every other topic
    /// once connected), so thor sends what the bare server sends and the two compare fairly.
    #[arg(long)]
    probe_only: bool,
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
    /// `--suite orders`: market orders timed one by one from the POST to the fill on a socket.
    #[arg(long, default_value_t = 40)]
    order_fills: usize,
    /// `--suite orders`: concurrent clients placing orders.
    #[arg(long, default_value_t = 16)]
    order_clients: usize,
    /// `--suite orders`: market orders placed at once and filled by the next trades.
    #[arg(long, default_value_t = 100)]
    order_batch: usize,
    /// `--suite soak`: how long the fleet runs, minutes.
    #[arg(long, default_value_t = 60)]
    soak_minutes: u64,
    /// `--suite soak`: seconds between restarts (the instances take turns).
    #[arg(long, default_value_t = 600)]
    restart_every: u64,
    /// `--suite soak`: each page leaves and comes back on average this often, minutes.
    #[arg(long, default_value_t = 10.0)]
    churn_minutes: f64,
    /// `--suite soak`: REST requests per second beside the sockets.
    #[arg(long, default_value_t = 20)]
    soak_rest_per_second: u32,
    /// `--suite soak`: seconds between RSS samples.
    #[arg(long, default_value_t = 60)]
    soak_sample_seconds: u64,
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
    /// Paper orders through the API: placed and filled per second, click to fill on a page.
    Orders,
    /// Two instances sharing PostgreSQL and Redis, restarted in turn under open pages.
    Soak,
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
    /// The server's CPU time over the window per probe delivered in it, µs.
    cpu_us_per_frame: Option<f64>,
    /// Every message (all types) and its bytes, over the clients' whole connection.
    messages: u64,
    bytes: u64,
    /// Frames a socket received per second while recording, by message type.
    frames_per_socket_s: BTreeMap<String, f64>,
}

async fn run(args: Args) -> Result<()> {
    match args.suite {
        Suite::Rest => return rest::run(&args).await,
        Suite::Logins => return logins::run(&args).await,
        Suite::Bundle => return bundle::run(&args).await,
        Suite::Orders => return orders::run(&args).await,
        Suite::Soak => return soak::run(&args).await,
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

/// The `thor` binary under test, or why it cannot be run.
fn built_thor(args: &Args) -> Result<&Path> {
    let bin = bin_of(args, Kind::Thor);
    if !bin.is_file() {
        bail!(
            "{} not found: build it with `cargo build --release -p thor-server`",
            bin.display()
        );
    }
    Ok(bin)
}

fn bin_of(args: &Args, kind: Kind) -> &Path {
    match kind {
        Kind::Thor => &args.thor_bin,
        Kind::Bare => &args.bare_bin,
        Kind::BareRest => &args.bare_rest_bin,
    }
}

// ---------------------------------------------------------------------------------------------
// The server under test, as a child process.

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
