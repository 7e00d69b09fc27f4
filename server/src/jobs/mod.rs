//! The server's periodic jobs, one per file, in one registry with their cadences.
//!
//! Each job runs on its own timer (first run at once). A failing run is logged and recorded,
//! and the job simply runs again on its next tick; it never stops the others. `GET /api/jobs`
//! shows every job's cadence, last run, duration and last error.

pub mod account_balance;
pub mod global_market;
pub mod heartbeat;
pub mod intraday;
pub mod lease;
pub mod orders;
pub mod positions;
pub mod probe;

use crate::clock::Clock;
use crate::db::Database;
use crate::feed::hours::MarketHours;
use crate::feed::{BarBuilder, MarketFeed};
use crate::hub::Hub;
use crate::metrics::MetricsRegistry;
use crate::trading::accounts::{self, Book};
use crate::trading::desk;
use anyhow::Context;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use prometheus_client::metrics::gauge::Gauge;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use thor_core::account::Positions;
use thor_core::feature::Feature;
use thor_core::protocol::Topic;
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// What every job can reach.
#[derive(Clone)]
pub struct JobContext {
    pub db: Database,
    pub hub: Hub,
    pub clock: Arc<dyn Clock>,
    pub market: Arc<Mutex<MarketData>>,
    pub status: JobBoard,
    /// Whether this instance runs the jobs now (always, unless instances share a hub).
    pub lease: Lease,
    /// When trading follows exchange hours: whether the feed's markets are all closed.
    pub market_hours: Option<MarketHours>,
    /// Each account's latest order change pushed (`orders::push_changed`).
    pub orders_pushed: Arc<tokio::sync::Mutex<BTreeMap<i64, i64>>>,
    /// Held by whatever reads an account's values and publishes them (the account jobs, the
    /// orders' pushes): a snapshot read before a fill is never published after the fill's.
    pub pushes: Arc<tokio::sync::Mutex<()>>,
}

/// Whether this instance holds the jobs lease. Alone, it always does; with a shared hub, the
/// lease keeper sets it, and the job timers skip their runs while it is not held.
#[derive(Clone, Debug)]
pub struct Lease {
    held: Arc<AtomicBool>,
    /// `thor_jobs_lease_held`, once registered.
    gauge: Gauge,
}

impl Lease {
    pub fn new(held: bool) -> Self {
        let lease = Self {
            held: Arc::new(AtomicBool::new(held)),
            gauge: Gauge::default(),
        };
        lease.set(held);
        lease
    }

    pub fn holds(&self) -> bool {
        self.held.load(Ordering::Acquire)
    }

    pub fn set(&self, held: bool) {
        self.held.store(held, Ordering::Release);
        self.gauge.set(i64::from(held));
    }

    pub fn register_metrics(&self, registry: &MetricsRegistry) {
        registry.register(
            "thor_jobs_lease_held",
            "1 when this instance runs the jobs (holds the lease).",
            self.gauge.clone(),
        );
    }
}

/// The market feed and what it has built: bars, VWAP and the latest prices.
pub struct MarketData {
    pub feed: Box<dyn MarketFeed>,
    pub bars: BarBuilder,
    /// The UTC day of the current VWAP session.
    pub session_day: Option<chrono::NaiveDate>,
    /// The instant the feed was last advanced to.
    pub last_tick_at: Option<DateTime<Utc>>,
}

impl JobContext {
    pub fn market(&self) -> MutexGuard<'_, MarketData> {
        // The market data is plain values: a panic mid-update leaves it usable.
        self.market
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Carries the desk on from what the last run (or the last lease holder) stored: the feed
    /// continues each symbol's price path from its last stored price, positions are valued at
    /// it until the symbol trades again, and today's session VWAP continues from its sums. The
    /// bars of whoever ran before are not this instance's: the builder starts afresh.
    pub async fn carry_over(&self) -> anyhow::Result<()> {
        let day = self.clock.now().date_naive();
        let carried = desk::load(&self.db).await?;
        let mut market = self.market();
        let prices: BTreeMap<String, f64> = carried
            .iter()
            .map(|(symbol, c)| (symbol.clone(), c.price))
            .collect();
        market.feed.continue_from(&prices);
        let mut bars = BarBuilder::new();
        for c in carried.values() {
            // Only today's session carries on; a new day starts a new one.
            let session = c
                .session
                .filter(|(of, ..)| *of == day)
                .map(|(_, volume, notional)| (volume, notional, c.at));
            bars.resume(&c.symbol, Some(c.price), session);
        }
        market.bars = bars;
        market.session_day = Some(day);
        Ok(())
    }

    /// The topics that are quiet because every market they follow is closed now (none when
    /// trading goes on around the clock).
    pub fn closed_topics(&self) -> Vec<Topic> {
        let Some(hours) = &self.market_hours else {
            return Vec::new();
        };
        Feature::ALL
            .into_iter()
            .filter(|f| hours.closed_for(*f))
            .flat_map(|f| f.topics().iter().copied())
            .collect()
    }

    /// The latest traded price of `symbol`.
    pub fn price(&self, symbol: &str) -> Option<f64> {
        self.market().bars.last_price(symbol)
    }

    /// Every paper account with its positions valued at the latest prices, as of the clock's now.
    pub async fn valued_accounts(&self) -> anyhow::Result<Vec<(Book, Positions)>> {
        let now = self.clock.now();
        let books = accounts::load_books(&self.db)
            .await
            .context("cannot load the accounts")?;
        Ok(books
            .into_iter()
            .map(|book| {
                let positions = accounts::value_positions(&book, |s| self.price(s), now);
                (book, positions)
            })
            .collect())
    }
}

pub trait Job: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    fn cadence(&self) -> Duration;
    fn run<'a>(&'a self, ctx: &'a JobContext) -> BoxFuture<'a, anyhow::Result<()>>;
}

/// One job's record, as `GET /api/jobs` shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct JobStatus {
    pub name: &'static str,
    pub cadence_ms: u64,
    pub runs: u64,
    pub failures: u64,
    pub last_run_at: Option<DateTime<Utc>>,
    pub last_duration_ms: Option<f64>,
    pub last_error: Option<String>,
    pub last_success_at: Option<DateTime<Utc>>,
}

/// The jobs' records, shared by the runners and the API.
#[derive(Clone, Default)]
pub struct JobBoard {
    inner: Arc<Mutex<BTreeMap<&'static str, JobStatus>>>,
    /// `thor_jobs_failing`, once registered.
    failing: Gauge,
}

impl JobBoard {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<&'static str, JobStatus>> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn register(&self, job: &dyn Job) {
        self.lock().entry(job.name()).or_insert_with(|| JobStatus {
            name: job.name(),
            cadence_ms: job.cadence().as_millis() as u64,
            runs: 0,
            failures: 0,
            last_run_at: None,
            last_duration_ms: None,
            last_error: None,
            last_success_at: None,
        });
    }

    fn record(
        &self,
        name: &'static str,
        at: DateTime<Utc>,
        took: Duration,
        result: &anyhow::Result<()>,
    ) {
        let mut board = self.lock();
        let Some(status) = board.get_mut(name) else {
            return;
        };
        status.runs += 1;
        status.last_run_at = Some(at);
        status.last_duration_ms = Some(took.as_secs_f64() * 1000.0);
        match result {
            Ok(()) => {
                status.last_error = None;
                status.last_success_at = Some(at);
            }
            Err(e) => {
                status.failures += 1;
                status.last_error = Some(format!("{e:#}"));
            }
        }
        let failing = board.values().filter(|j| j.last_error.is_some()).count();
        self.failing.set(i64::try_from(failing).unwrap_or(i64::MAX));
    }

    pub fn register_metrics(&self, registry: &MetricsRegistry) {
        registry.register(
            "thor_jobs_failing",
            "Jobs whose last run failed.",
            self.failing.clone(),
        );
    }

    pub fn all(&self) -> Vec<JobStatus> {
        self.lock().values().cloned().collect()
    }

    pub fn get(&self, name: &str) -> Option<JobStatus> {
        self.lock().get(name).cloned()
    }

    /// The names of the registered jobs, for the heartbeat's report.
    pub fn names(&self) -> Vec<String> {
        self.lock().keys().map(|name| name.to_string()).collect()
    }
}

/// The jobs of a server, in the order their first runs happen.
pub struct Registry {
    jobs: Vec<Arc<dyn Job>>,
}

impl Registry {
    pub fn new(jobs: Vec<Arc<dyn Job>>) -> Self {
        Self { jobs }
    }

    /// Adds a job defined above this module (the control plane's).
    pub fn with(mut self, job: Arc<dyn Job>) -> Self {
        self.jobs.push(job);
        self
    }

    /// Thor's jobs: intraday first (it makes the prices the others value at), and the probe
    /// when `probe_rate_hz` is above zero.
    pub fn standard(
        heartbeat_interval: Duration,
        heartbeat_report_every: u32,
        probe_rate_hz: u32,
    ) -> Self {
        let mut jobs: Vec<Arc<dyn Job>> = vec![
            Arc::new(intraday::IntradayJob),
            Arc::new(account_balance::AccountBalanceJob),
            Arc::new(positions::PositionsJob),
            Arc::new(global_market::GlobalMarketJob),
            Arc::new(orders::OrdersJob),
            Arc::new(heartbeat::HeartbeatJob::new(
                heartbeat_interval,
                heartbeat_report_every,
            )),
        ];
        if probe_rate_hz > 0 {
            jobs.push(Arc::new(probe::ProbeJob::new(probe_rate_hz)));
        }
        Self::new(jobs)
    }

    /// Runs every job once, in order, recording the results (done before serving, so the first
    /// REST answers and snapshots already have data).
    pub async fn run_once(&self, ctx: &JobContext) {
        for job in &self.jobs {
            ctx.status.register(job.as_ref());
            run_and_record(job.as_ref(), ctx).await;
        }
    }

    /// Starts one timer task per job; each stops when `stop` is cancelled. With `ran_once`, the
    /// first tick waits a whole cadence (the immediate run already happened).
    pub fn spawn(
        &self,
        ctx: &JobContext,
        stop: &CancellationToken,
        ran_once: bool,
        tasks: &mut JoinSet<()>,
    ) {
        for job in &self.jobs {
            ctx.status.register(job.as_ref());
            let job = job.clone();
            let ctx = ctx.clone();
            let stop = stop.clone();
            tasks.spawn(async move {
                let cadence = job.cadence();
                let first = if ran_once {
                    Instant::now() + cadence
                } else {
                    Instant::now()
                };
                let mut ticker = tokio::time::interval_at(first, cadence);
                // A stalled process runs a late job once, not once per missed tick.
                ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = ticker.tick() => {}
                    }
                    if !ctx.lease.holds() {
                        continue;
                    }
                    // Shutdown does not wait for a run that is stuck (each step is atomic).
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = run_and_record(job.as_ref(), &ctx) => {}
                    }
                }
            });
        }
    }
}

async fn run_and_record(job: &dyn Job, ctx: &JobContext) {
    let at = ctx.clock.now();
    let started = Instant::now();
    let result = job.run(ctx).await;
    let took = started.elapsed();
    if let Err(e) = &result {
        tracing::warn!(job = job.name(), error = %format!("{e:#}"), "job failed; it runs again on its next tick");
    }
    ctx.status.record(job.name(), at, took, &result);
}

#[cfg(test)]
mod tests;
