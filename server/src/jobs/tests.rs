//! The registry under tokio's paused clock: exact cadences, failure isolation, heartbeat reports.
//! The database is opened before time is paused, and the jobs timed here do not touch it (the
//! database's own timeouts would otherwise see paused time jump).

use super::*;
use crate::clock::TokioClock;
use crate::feed::Simulator;
use std::sync::atomic::{AtomicU64, Ordering};
use thor_core::protocol::{Envelope, ServerMessage, Topic};

async fn context(dir: &std::path::Path) -> JobContext {
    let url =
        crate::config::DatabaseUrl::new(format!("sqlite://{}", dir.join("thor.db").display()));
    let db = Database::open(&url).await.expect("database opens");
    crate::auth::seed_default_users(&db).await.expect("users");
    crate::trading::accounts::seed_demo_accounts(&db)
        .await
        .expect("accounts");
    let start = chrono::DateTime::parse_from_rfc3339("2026-03-09T14:30:00Z")
        .expect("instant")
        .with_timezone(&Utc);
    JobContext {
        db,
        hub: Hub::new(
            1,
            crate::hub::HubLimits::default(),
            &crate::metrics::MetricsRegistry::default(),
        ),
        clock: Arc::new(TokioClock::starting_at(start)),
        market: Arc::new(Mutex::new(MarketData {
            feed: Box::new(Simulator::new(7)),
            bars: BarBuilder::new(),
            session_day: None,
            last_tick_at: None,
        })),
        status: JobBoard::default(),
        lease: Lease::new(true),
        market_hours: None,
        orders_pushed: Default::default(),
        pushes: Default::default(),
    }
}

/// Fails on every other run; counts its runs.
struct Flaky {
    runs: AtomicU64,
}

impl Job for Flaky {
    fn name(&self) -> &'static str {
        "flaky"
    }
    fn cadence(&self) -> Duration {
        Duration::from_secs(2)
    }
    fn run<'a>(&'a self, _ctx: &'a JobContext) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let n = self.runs.fetch_add(1, Ordering::Relaxed) + 1;
            if n % 2 == 1 {
                anyhow::bail!("broker said no (run {n})");
            }
            Ok(())
        })
    }
}

/// A job stuck in its run must not hold the others up.
struct Slow;

impl Job for Slow {
    fn name(&self) -> &'static str {
        "slow"
    }
    fn cadence(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn run<'a>(&'a self, _ctx: &'a JobContext) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(())
        })
    }
}

/// Counts its runs.
struct Counter {
    name: &'static str,
    cadence: Duration,
}

impl Job for Counter {
    fn name(&self) -> &'static str {
        self.name
    }
    fn cadence(&self) -> Duration {
        self.cadence
    }
    fn run<'a>(&'a self, _ctx: &'a JobContext) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move { Ok(()) })
    }
}

#[tokio::test]
async fn each_job_runs_at_its_cadence() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ctx = context(dir.path()).await;
    tokio::time::pause();
    let registry = Registry::new(vec![
        Arc::new(Counter {
            name: "every_second",
            cadence: Duration::from_secs(1),
        }),
        Arc::new(Counter {
            name: "every_ten",
            cadence: Duration::from_secs(10),
        }),
    ]);
    let stop = CancellationToken::new();
    let mut tasks = JoinSet::new();
    registry.run_once(&ctx).await;
    registry.spawn(&ctx, &stop, true, &mut tasks);
    // Land between ticks, so every timer due by 60 s has fired and none due after.
    tokio::time::sleep(Duration::from_millis(60_500)).await;
    stop.cancel();
    while tasks.join_next().await.is_some() {}

    let runs = |name| ctx.status.get(name).map(|s| s.runs);
    assert_eq!(
        runs("every_second"),
        Some(61),
        "once at start, then every second"
    );
    assert_eq!(runs("every_ten"), Some(7), "once at start, then every 10 s");
}

#[test]
fn thors_jobs_have_the_cadences_of_the_brief() {
    let registry = Registry::standard(Duration::from_secs(1), 30, 0);
    let cadences: Vec<(&str, u64)> = registry
        .jobs
        .iter()
        .map(|job| (job.name(), job.cadence().as_secs()))
        .collect();
    assert_eq!(
        cadences,
        [
            ("intraday", 1),
            ("account_balance", 10),
            ("positions", 10),
            ("global_market", 10),
            ("orders", 10),
            ("heartbeat", 1),
        ]
    );
}

#[tokio::test]
async fn a_failing_job_is_recorded_retried_and_never_stops_the_others() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ctx = context(dir.path()).await;
    tokio::time::pause();
    let flaky = Arc::new(Flaky {
        runs: AtomicU64::new(0),
    });
    let registry = Registry::new(vec![
        flaky.clone(),
        Arc::new(Slow),
        Arc::new(heartbeat::HeartbeatJob::new(Duration::from_secs(1), 30)),
    ]);
    let stop = CancellationToken::new();
    let mut tasks = JoinSet::new();
    registry.spawn(&ctx, &stop, false, &mut tasks);
    tokio::time::sleep(Duration::from_millis(10_500)).await;
    stop.cancel();
    while tasks.join_next().await.is_some() {}

    let flaky_status = ctx.status.get("flaky").expect("registered");
    assert_eq!(flaky_status.runs, 6, "t = 0, 2, 4, 6, 8, 10 s");
    assert_eq!(flaky_status.failures, 3);
    assert_eq!(
        flaky_status.last_error, None,
        "the last run (6th) succeeded"
    );
    assert!(flaky_status.last_success_at.is_some());
    let heartbeat = ctx.status.get("heartbeat").expect("registered");
    assert_eq!(
        heartbeat.runs, 11,
        "unaffected by the failing and the stuck job"
    );
    assert_eq!(
        ctx.status.get("slow").map(|s| s.runs),
        Some(0),
        "still on its first run"
    );
}

#[tokio::test]
async fn a_failure_keeps_its_message_until_the_next_success() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ctx = context(dir.path()).await;
    let flaky = Flaky {
        runs: AtomicU64::new(0),
    };
    ctx.status.register(&flaky);
    run_and_record(&flaky, &ctx).await;
    let status = ctx.status.get("flaky").expect("registered");
    assert_eq!((status.runs, status.failures), (1, 1));
    assert_eq!(status.last_error.as_deref(), Some("broker said no (run 1)"));
    run_and_record(&flaky, &ctx).await;
    assert_eq!(ctx.status.get("flaky").and_then(|s| s.last_error), None);
}

#[tokio::test]
async fn the_heartbeat_beats_every_tick_and_reports_jobs_every_thirtieth() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ctx = context(dir.path()).await;
    tokio::time::pause();
    let conn = ctx
        .hub
        .connect(ctx.hub.admit().expect("a slot"), None, None, None)
        .0;
    let registry = Registry::new(vec![Arc::new(heartbeat::HeartbeatJob::new(
        Duration::from_secs(1),
        30,
    ))]);
    let stop = CancellationToken::new();
    let mut tasks = JoinSet::new();
    let t0 = Instant::now();
    registry.spawn(&ctx, &stop, false, &mut tasks);

    let mut beats = Vec::new();
    while beats.len() < 60 {
        let (frames, _) = conn.next_batch().await;
        for frame in frames {
            let envelope: Envelope = serde_json::from_str(frame.text.as_str()).expect("envelope");
            let ServerMessage::Heartbeat(beat) = envelope.message else {
                panic!("expected a heartbeat");
            };
            beats.push((Instant::now() - t0, beat));
        }
    }
    stop.cancel();
    while tasks.join_next().await.is_some() {}

    let first = beats[0].0;
    for (i, (at, beat)) in beats.iter().enumerate() {
        let n = i as u64 + 1;
        assert_eq!(beat.tick, n);
        assert_eq!(*at - first, Duration::from_secs(n - 1), "beat {n} on time");
        let reports = n == 1 || n.is_multiple_of(30);
        assert_eq!(beat.active_jobs.is_some(), reports, "beat {n}");
        assert_eq!(beat.topics.is_some(), reports, "beat {n}");
    }
    let thirtieth = &beats[29].1;
    assert_eq!(
        thirtieth.active_jobs.as_deref(),
        Some(&["heartbeat".to_string()][..])
    );
    assert_eq!(
        thirtieth
            .topics
            .as_ref()
            .and_then(|t| t.get(&Topic::Heartbeat)),
        Some(&29),
        "the report names the latest heartbeat seq before it"
    );
}
