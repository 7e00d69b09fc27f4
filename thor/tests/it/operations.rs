//! What an operator watches, against the real server: the HTTP series by route template (never
//! a raw path), the process's series, the gauges of pages by source and of the gates following
//! the pages' reports, every series the alerting rules name really exposed, and, with two
//! instances sharing Redis and one database, the whole fleet's REST traffic and instances in the
//! status of either.

use crate::common;

use app::cutover::{CutoverStatus, FeatureReport, PageReport, ParityCounts, Source};
use app::feature::Feature;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};
use thor_server::config::DatabaseUrl;
use thor_server::cutover::fleet;
use thor_server::{Application, Settings};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long any condition may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(20);
/// The rules file Prometheus loads.
const RULES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../ops/prometheus/thor.rules.yml"
);

async fn scrape(addr: SocketAddr) -> String {
    let response = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .expect("GET /metrics");
    assert_eq!(response.status(), 200);
    response.text().await.expect("metrics text")
}

/// The value of the sample `series` (its name and labels exactly as exposed), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

/// Polls `check` until it gives a value, or fails the test after [`DEADLINE`].
async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "{what} within {DEADLINE:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn get(addr: SocketAddr, path: &str, cookie: &str) -> reqwest::StatusCode {
    common::status_at(addr, path, cookie).await
}

async fn cutover_status(addr: SocketAddr, cookie: &str) -> CutoverStatus {
    let response = reqwest::Client::new()
        .get(format!("http://{addr}/api/cutover"))
        .header("cookie", cookie)
        .send()
        .await
        .expect("GET /api/cutover");
    assert_eq!(response.status(), 200);
    response.json().await.expect("a cutover status")
}

#[tokio::test]
async fn http_series_name_the_route_template_never_the_raw_path_and_the_process_shows() {
    let app = common::spawn_app().await;
    let ops = common::sign_in(&app, "ops").await;
    let changed = reqwest::Client::new()
        .post(app.url("/api/cutover/positions"))
        .header("cookie", &ops)
        .json(&serde_json::json!({ "stage": "rest", "reason": "operations test" }))
        .send()
        .await
        .expect("POST /api/cutover/positions");
    assert_eq!(changed.status(), 200);
    // A scanner's paths, in and outside /api.
    for path in [
        "/wp-login-3f9a.php",
        "/api/no-such-thing-77e1",
        "/.env-b2c4",
    ] {
        assert_eq!(get(app.addr, path, &ops).await, 404, "{path}");
    }

    let text = scrape(app.addr).await;
    let template = "route=\"/api/cutover/{feature}\"";
    let posted = format!("thor_http_requests_total{{method=\"POST\",{template},status=\"2xx\"}}");
    assert_eq!(sample(&text, &posted), Some(1.0), "{posted} in\n{text}");
    let timed = format!(
        "thor_http_request_duration_seconds_bucket{{le=\"10.0\",method=\"POST\",{template},status=\"2xx\"}}"
    );
    assert_eq!(
        sample(&text, &timed),
        Some(1.0),
        "timed under its template: {text}"
    );
    let unmatched = "thor_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"4xx\"}";
    assert!(
        sample(&text, unmatched).is_some_and(|n| n >= 2.0),
        "paths no route knows count under one label: {text}"
    );
    for raw in [
        "/api/cutover/positions",
        "wp-login",
        "no-such-thing",
        ".env-",
    ] {
        assert!(
            !text.contains(raw),
            "a raw path ({raw}) in the series: {text}"
        );
    }

    for name in [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_virtual_memory_bytes",
        "process_open_fds",
        "process_max_fds",
        "process_start_time_seconds",
    ] {
        let value = sample(&text, name).unwrap_or_else(|| panic!("{name} is missing: {text}"));
        assert!(value > 0.0, "{name} is {value}");
    }
    app.stop().await;
}

fn report(page_id: &str, source: Source) -> PageReport {
    PageReport {
        page_id: page_id.into(),
        applied_version: 0,
        features: vec![FeatureReport {
            feature: Feature::Positions,
            source,
            fell_back_at: (source == Source::RestFallback).then(thor_server::clock::now_ms),
            parity: ParityCounts::default(),
            diffs: Vec::new(),
            gaps: 0,
            last_update_age_ms: Some(100),
            lag_ms: None,
        }],
    }
}

async fn send(addr: SocketAddr, cookie: &str, report: &PageReport) {
    let status = reqwest::Client::new()
        .post(format!("http://{addr}/api/cutover/report"))
        .header("cookie", cookie)
        .json(report)
        .send()
        .await
        .expect("POST /api/cutover/report")
        .status();
    assert_eq!(status, 204);
}

#[tokio::test]
async fn the_pages_by_source_gauges_follow_the_pages_reports() {
    let app = common::spawn_app().await;
    let demo = common::sign_in(&app, "demo").await;
    let series =
        |source: &str| format!("thor_cutover_pages{{feature=\"positions\",source=\"{source}\"}}");
    let gate = "thor_cutover_gate_open{feature=\"positions\"}";
    let before = scrape(app.addr).await;
    assert_eq!(sample(&before, &series("fallback")), Some(0.0), "{before}");
    assert_eq!(
        sample(&before, gate),
        Some(0.0),
        "no evidence, no gate: {before}"
    );

    send(
        app.addr,
        &demo,
        &report("ops-test-page-1", Source::RestFallback),
    )
    .await;
    eventually("the page on a fallback shows", async || {
        let text = scrape(app.addr).await;
        (sample(&text, &series("fallback")) == Some(1.0)).then_some(())
    })
    .await;

    send(
        app.addr,
        &demo,
        &report("ops-test-page-1", Source::WebSocket),
    )
    .await;
    send(
        app.addr,
        &demo,
        &report("ops-test-page-2", Source::RestShadow),
    )
    .await;
    let text = eventually(
        "the page back on the socket and another on REST",
        async || {
            let text = scrape(app.addr).await;
            (sample(&text, &series("websocket")) == Some(1.0)
                && sample(&text, &series("rest")) == Some(1.0))
            .then_some(text)
        },
    )
    .await;
    assert_eq!(sample(&text, &series("fallback")), Some(0.0), "{text}");
    app.stop().await;
}

/// The text of a rules file's expressions (`expr:` and the lines that continue it), without the
/// annotations (which may name a family, e.g. `thor_ws_*`, in prose).
fn expressions(rules: &str) -> String {
    let mut text = String::new();
    let mut inside = false;
    for line in rules.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if let Some(expr) = line.strip_prefix("expr:") {
            inside = true;
            text.push_str(expr);
        } else if [
            "for:",
            "labels:",
            "annotations:",
            "- ",
            "record:",
            "alert:",
            "rules:",
        ]
        .iter()
        .any(|key| line.starts_with(key))
        {
            inside = false;
        } else if inside {
            text.push_str(line);
        }
        text.push('\n');
    }
    text
}

/// The metric names a rules file's expressions use: `thor_…` and `process_…` words (recording
/// rules' own names have colons and are left out).
fn names_in_rules(rules: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut word = String::new();
    for c in expressions(rules).chars().chain(std::iter::once(' ')) {
        if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
            word.push(c);
            continue;
        }
        if (word.starts_with("thor_") || word.starts_with("process_")) && !word.contains(':') {
            names.insert(std::mem::take(&mut word));
        }
        word.clear();
    }
    names
}

/// Every sample name `/metrics` can show, from its `# TYPE` lines (a family without series yet
/// still has one).
fn exposed_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let mut parts = rest.split_whitespace();
        let (Some(name), Some(kind)) = (parts.next(), parts.next()) else {
            continue;
        };
        let suffixes: &[&str] = match kind {
            "counter" => &["_total", "_created"],
            "histogram" => &["_bucket", "_sum", "_count", "_created"],
            "summary" => &["", "_sum", "_count", "_created"],
            _ => &[""],
        };
        names.extend(suffixes.iter().map(|s| format!("{name}{s}")));
    }
    names
}

#[tokio::test]
async fn every_series_the_alerting_rules_use_is_one_the_server_exposes() {
    let rules = std::fs::read_to_string(RULES).expect("the rules file");
    let used = names_in_rules(&rules);
    assert!(
        used.contains("thor_jobs_lease_held") && used.contains("process_resident_memory_bytes"),
        "the rules name the series they watch: {used:?}"
    );
    let app = common::spawn_app().await;
    // The first scrape is the first request: the HTTP series have one from the second on.
    scrape(app.addr).await;
    let exposed = exposed_names(&scrape(app.addr).await);
    let missing: Vec<&String> = used.difference(&exposed).collect();
    assert!(
        missing.is_empty(),
        "the rules use series /metrics does not have: {missing:?}"
    );
    app.stop().await;
}

fn redis_url() -> String {
    common::redis_server_url()
}

/// One running instance of a group sharing Redis and a database.
struct Instance {
    addr: SocketAddr,
    stop: CancellationToken,
    server: JoinHandle<anyhow::Result<()>>,
}

async fn start_sharing(data_dir: &Path, prefix: &str) -> Instance {
    let mut settings: Settings = common::test_settings(data_dir);
    settings.hub.redis_url = Some(DatabaseUrl::new(redis_url()));
    settings.hub.redis_prefix = prefix.to_string();
    settings.hub.lease_ttl = Duration::from_millis(1000);
    let app = Application::build(settings, common::SITE)
        .await
        .unwrap_or_else(|e| panic!("an instance starts on Redis at {}: {e:#}", redis_url()));
    Instance {
        addr: app.local_addr(),
        stop: app.stop_token(),
        server: tokio::spawn(app.run_until_stopped()),
    }
}

#[tokio::test]
async fn two_instances_show_the_whole_fleets_rest_traffic_and_each_other() {
    if !common::redis_may_run("two_instances_show_the_whole_fleets_rest_traffic_and_each_other")
        .await
    {
        return;
    }
    let data = tempfile::tempdir().expect("temp dir");
    let prefix = format!(
        "thor-test-operations-{}-{}",
        std::process::id(),
        thor_server::clock::now_us()
    );
    let a = start_sharing(data.path(), &prefix).await;
    let b = start_sharing(data.path(), &prefix).await;
    let demo = common::sign_in_at(a.addr, "demo").await;
    let ops = common::sign_in_at(b.addr, "ops").await;
    for (instance, n) in [(&a, 3), (&b, 2)] {
        for _ in 0..n {
            assert_eq!(get(instance.addr, "/api/positions", &demo).await, 200);
        }
    }

    for (asked, other) in [(&a, &b), (&b, &a)] {
        let status = eventually("both instances' requests in the status", async || {
            let status = cutover_status(asked.addr, &ops).await;
            let positions = status
                .features
                .iter()
                .find(|f| f.feature == Feature::Positions)?;
            (positions.rest_requests_5m == 5 && status.instances.len() == 2).then_some(status)
        })
        .await;
        let listed: BTreeSet<String> = status.instances.iter().map(|i| i.addr.clone()).collect();
        let expected: BTreeSet<String> = [a.addr, b.addr].iter().map(|a| a.to_string()).collect();
        assert_eq!(listed, expected, "{:?}", status.instances);
        assert_eq!(
            status.instances.iter().filter(|i| i.lease_holder).count(),
            1,
            "exactly one lease holder: {:?}",
            status.instances
        );
        let answering: Vec<&str> = status
            .instances
            .iter()
            .filter(|i| i.answering)
            .map(|i| i.addr.as_str())
            .collect();
        assert_eq!(answering, [asked.addr.to_string()]);
        let printed = thor_server::cli::render_status(&status);
        for addr in [asked.addr, other.addr] {
            assert!(printed.contains(&addr.to_string()), "{addr} in:\n{printed}");
        }
        assert!(printed.contains("★ lease holder"), "{printed}");
    }

    // An instance that dies without a word drops out of the fleet within a few seconds.
    b.server.abort();
    let _ = b.server.await;
    let ops_a = common::sign_in_at(a.addr, "ops").await;
    let status = eventually("the dead instance gone from the status", async || {
        let status = cutover_status(a.addr, &ops_a).await;
        (status.instances.len() == 1).then_some(status)
    })
    .await;
    assert_eq!(status.instances[0].addr, a.addr.to_string());
    let positions = status
        .features
        .iter()
        .find(|f| f.feature == Feature::Positions)
        .expect("positions");
    assert_eq!(
        positions.rest_requests_5m, 3,
        "only the live instance's share"
    );
    a.stop.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), a.server).await;
}

#[tokio::test]
async fn the_fleet_rows_round_trip_on_postgres() {
    if !common::postgres_may_run("the_fleet_rows_round_trip_on_postgres").await {
        return;
    }
    let temp = common::TempDatabase::create().await;
    let db = thor_server::db::Database::open(&temp.url())
        .await
        .expect("the migrations apply on PostgreSQL");
    let now = thor_server::clock::now_ms();
    let mut row = fleet::Report {
        id: "10.0.0.1:3000/1/ab".into(),
        addr: "10.0.0.1:3000".into(),
        started_at: now - 1000,
        last_seen: now,
        lease_holder: true,
        flags_version: Some(7),
        sockets: 3,
        rest_5m: [(Feature::Intraday, 4)].into_iter().collect(),
        lags_ms: vec![12, 30],
    };
    fleet::write(&db, &row).await.expect("first write");
    row.sockets = 4;
    fleet::write(&db, &row).await.expect("the row is rewritten");
    let quiet = fleet::Report {
        id: "quiet".into(),
        last_seen: now - fleet::LIVE_WITHIN_MS - 1,
        ..row.clone()
    };
    fleet::write(&db, &quiet).await.expect("a quiet row");
    let seen = fleet::seen_since(&db, now - fleet::LIVE_WITHIN_MS)
        .await
        .expect("read");
    assert_eq!(seen, vec![row.clone()]);
    fleet::remove(&db, &row.id).await.expect("removed");
    fleet::forget_before(&db, now).await.expect("forgotten");
    assert!(fleet::seen_since(&db, 0).await.expect("read").is_empty());
    db.close().await;
    temp.drop_it().await;
}
