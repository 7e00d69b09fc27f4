//! The cutover control plane against the real server: flags from the environment and at run
//! time, persistence, who may change them, the audit trail, shadow parity from pages (with
//! every injected fault caught), the gate, automatic rollback, ramps.
//!
//! The jobs' clock stands still (a `ManualClock`), so the tests publish when they choose with
//! the job runner; pages are Rust clients that run the shared crate's parity code.

use crate::common;

use app::cutover::{
    AuditEntry, CutoverStatus, FaultKind, FeatureStatus, Flags, Mark, Mode, MyCutover, Source,
    Stage,
};
use app::feature::Feature;
use chrono::{TimeZone, Utc};
use common::page::Page;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use thor_server::Settings;
use thor_server::clock::ManualClock;

/// Pages in these tests call a socket message late after this long.
const LATE_MS: f64 = 500.0;

async fn app_with(tweak: impl FnOnce(&mut Settings)) -> common::TestApp {
    app_and_clock(tweak).await.0
}

/// A test server and the clock its jobs read (move it to close bars).
async fn app_and_clock(tweak: impl FnOnce(&mut Settings)) -> (common::TestApp, Arc<ManualClock>) {
    let data = tempfile::tempdir().expect("temp dir");
    let mut settings = common::test_settings(data.path());
    settings.hub.heartbeat_interval = Duration::from_secs(600);
    settings.cutover.gate_min_samples = 6;
    settings.cutover.gate_min_match_percent = 60.0;
    settings.cutover.allow_faults = true;
    tweak(&mut settings);
    let start = Utc
        .with_ymd_and_hms(2026, 3, 9, 15, 0, 0)
        .single()
        .expect("valid instant");
    let clock = Arc::new(ManualClock::new(start));
    let app = common::start_with_clock(settings, data, clock.clone()).await;
    (app, clock)
}

async fn get(app: &common::TestApp, path: &str, cookie: Option<&str>) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new().get(app.url(path));
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn post(
    app: &common::TestApp,
    path: &str,
    cookie: Option<&str>,
    body: Value,
) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new().post(app.url(path)).json(&body);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn status(app: &common::TestApp, cookie: &str) -> CutoverStatus {
    let (code, body) = get(app, "/api/cutover", Some(cookie)).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    serde_json::from_value(body).expect("a cutover status")
}

async fn mine(app: &common::TestApp, cookie: &str) -> MyCutover {
    let (code, body) = get(app, "/api/cutover/mine", Some(cookie)).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    serde_json::from_value(body).expect("a session's cutover view")
}

fn feature(status: &CutoverStatus, feature: Feature) -> &FeatureStatus {
    status
        .features
        .iter()
        .find(|f| f.feature == feature)
        .expect("every feature is in the status")
}

async fn audit(app: &common::TestApp, ops: &str) -> Vec<AuditEntry> {
    let (code, body) = get(app, "/api/cutover/audit", Some(ops)).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    serde_json::from_value(body).expect("audit entries")
}

/// Publishes a round of every job, then has each page poll the given features.
async fn round(app: &common::TestApp, pages: &[&Page], features: &[Feature]) {
    app.jobs.run_all_once().await;
    for page in pages {
        for feature in features {
            page.poll(*feature).await;
        }
    }
}

/// How many judgements of the live features the server has completed (`/metrics`).
async fn judgements(app: &common::TestApp) -> u64 {
    let text = reqwest::get(app.url("/metrics"))
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .find_map(|line| line.strip_prefix("thor_cutover_judgements_total "))
        .and_then(|n| n.trim().parse().ok())
        .expect("thor_cutover_judgements_total in /metrics")
}

/// Waits (at most 10 s) until the judge has completed `runs` judgements after `since` (a count
/// read after the event to judge: the first may have begun before it, the second cannot).
async fn judged(app: &common::TestApp, since: u64, runs: u64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let now = judgements(app).await;
        if now >= since + runs {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the judge ran {} times in 10 s, not {runs}",
            now - since
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits (at most 10 s) until the audit trail has an automatic change of `feature`.
async fn automatic_rollback(app: &common::TestApp, ops: &str, feature: Feature) -> AuditEntry {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(entry) = audit(app, ops)
            .await
            .into_iter()
            .find(|e| e.automatic && e.feature == feature)
        {
            return entry;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no automatic rollback of {feature}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_environment_starts_each_feature_and_a_bad_value_names_its_variable() {
    let env = |key: &str| match key {
        "WS_FEATURE_POSITIONS" => Some("true".to_string()),
        "WS_FEATURE_INTRADAY" => Some("false".to_string()),
        _ => None,
    };
    let settings = Settings::from_layers(None, "t", env).expect("settings load");
    assert_eq!(settings.cutover.positions, Stage::Live);
    assert_eq!(settings.cutover.intraday, Stage::Shadow);
    assert_eq!(settings.cutover.account_balance, Stage::Shadow);

    for bad in ["yes", "1", "live", "ture"] {
        let env = |key: &str| (key == "WS_FEATURE_GLOBAL_MARKET").then(|| bad.to_string());
        let error = Settings::from_layers(None, "t", env).expect_err("refused");
        let message = format!("{error:#}");
        assert!(
            message.contains("WS_FEATURE_GLOBAL_MARKET") && message.contains(bad),
            "{message}"
        );
    }

    let app = app_with(|s| s.cutover.positions = Stage::Live).await;
    let ops = common::sign_in(&app, "ops").await;
    let status = status(&app, &ops).await;
    assert_eq!(status.flags.flag(Feature::Positions).stage, Stage::Live);
    assert_eq!(status.flags.flag(Feature::Intraday).stage, Stage::Shadow);
    assert_eq!(status.mode, Mode::PartialCutover);
    let positions = feature(&status, Feature::Positions);
    assert_eq!(positions.variable, "WS_FEATURE_POSITIONS");
    assert!(!positions.overridden);
    app.stop().await;
}

#[tokio::test]
async fn a_change_survives_a_restart_and_wins_over_the_environment_until_cleared() {
    let data = tempfile::tempdir().expect("temp dir");
    let settings = || {
        let mut settings = common::test_settings(data.path());
        settings.cutover.positions = Stage::Live;
        settings
    };
    let app = common::start(settings(), tempfile::tempdir().expect("unused")).await;
    let ops = common::sign_in(&app, "ops").await;
    let (code, body) = post(
        &app,
        "/api/cutover/positions",
        Some(&ops),
        json!({"stage": "shadow", "reason": "parity first"}),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    app.stop().await;

    let app = common::start(settings(), tempfile::tempdir().expect("unused")).await;
    let ops = common::sign_in(&app, "ops").await;
    let after = status(&app, &ops).await;
    let positions = feature(&after, Feature::Positions);
    assert_eq!(
        positions.flag.stage,
        Stage::Shadow,
        "the change outlived the restart"
    );
    assert!(positions.overridden);
    assert_eq!(positions.changed_by.as_deref(), Some("ops"));

    let (code, body) = post(
        &app,
        "/api/cutover/positions/clear",
        Some(&ops),
        json!({"reason": "back to the deploy's setting"}),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let flags: Flags = serde_json::from_value(body).expect("flags");
    assert_eq!(
        flags.flag(Feature::Positions).stage,
        Stage::Live,
        "the variable again"
    );
    app.stop().await;
}

#[tokio::test]
async fn only_operators_change_flags_or_read_the_evidence_and_signed_in_users_read_the_flags() {
    let app = app_with(|_| {}).await;
    let demo = common::sign_in(&app, "demo").await;
    let change = json!({"stage": "live", "reason": "try", "force": true});
    let (code, _) = get(&app, "/api/cutover", None).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    let (code, _) = post(&app, "/api/cutover/positions", None, change.clone()).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    let (code, body) = post(&app, "/api/cutover/positions", Some(&demo), change.clone()).await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{body}");
    let (code, _) = post(
        &app,
        "/api/cutover/rollback",
        Some(&demo),
        json!({"reason": "no"}),
    )
    .await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    let (code, _) = get(&app, "/api/cutover/audit", Some(&demo)).await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    let (code, body) = get(&app, "/api/cutover", Some(&demo)).await;
    assert_eq!(code, StatusCode::FORBIDDEN, "the fleet's evidence: {body}");
    let (code, body) = get(&app, "/api/cutover/mine", Some(&demo)).await;
    assert_eq!(code, StatusCode::OK, "a trader reads the flags: {body}");
    let (code, _) = get(&app, "/api/cutover/mine", None).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);

    let ops = common::sign_in(&app, "ops").await;
    for (path, body, expected) in [
        (
            "/api/cutover/markets",
            change.clone(),
            StatusCode::NOT_FOUND,
        ),
        (
            "/api/cutover/positions",
            json!({"stage": "live", "reason": "   "}),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/cutover/positions",
            json!({"stage": "live", "ramp": 0, "reason": "x", "force": true}),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/cutover/positions",
            json!({"stage": "sideways", "reason": "x"}),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let (code, answer) = post(&app, path, Some(&ops), body).await;
        assert_eq!(code, expected, "{path}: {answer}");
        assert!(answer["error"]["message"].is_string(), "{answer}");
    }
    assert!(
        audit(&app, &ops).await.is_empty(),
        "refused changes change nothing"
    );
    app.stop().await;
}

#[tokio::test]
async fn shadow_parity_from_two_pages_opens_the_gate_and_the_audit_keeps_the_evidence() {
    let app = app_with(|_| {}).await;
    let ops = common::sign_in(&app, "ops").await;
    let demo = common::sign_in(&app, "demo").await;
    let demo2 = common::sign_in(&app, "demo2").await;

    // Unproven: the gate refuses and says what is missing.
    let go_live = json!({"stage": "live", "reason": "parity looks fine"});
    let (code, body) = post(&app, "/api/cutover/positions", Some(&ops), go_live.clone()).await;
    assert_eq!(code, StatusCode::CONFLICT, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("6 more samples"), "{message}");
    assert!(message.contains("--force"), "{message}");

    let a = Page::open(app.addr, &demo, "page-a", LATE_MS).await;
    let b = Page::open(app.addr, &demo2, "page-b", LATE_MS).await;
    let features = [
        Feature::Positions,
        Feature::AccountBalance,
        Feature::GlobalMarket,
    ];
    for _ in 0..4 {
        round(&app, &[&a, &b], &features).await;
    }
    let shadow: Vec<(Feature, Source)> =
        features.iter().map(|f| (*f, Source::RestShadow)).collect();
    for page in [&a, &b] {
        page.settle(Duration::from_secs(3)).await;
        assert_eq!(page.report(&shadow, |_| {}).await, StatusCode::NO_CONTENT);
    }
    let evidence = status(&app, &ops).await;
    for f in features {
        let status = feature(&evidence, f);
        assert_eq!(status.parity.matched, 8, "{f}: {:?}", status.parity);
        assert_eq!(status.parity.mismatched + status.parity.missing_on_ws, 0);
        assert_eq!((status.pages_reporting, status.users_reporting), (2, 2));
        assert!(status.gate.open, "{f}: {:?}", status.gate);
        assert_eq!(status.pages.rest, 2, "both pages on REST (shadow)");
        assert!(status.rest_requests_5m >= 8, "{f}: REST traffic is counted");
    }

    let (code, body) = post(&app, "/api/cutover/positions", Some(&ops), go_live).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let (flags, _) = a.wait_for_version(1, Duration::from_secs(5)).await;
    assert_eq!(
        flags.flag(Feature::Positions).stage,
        Stage::Live,
        "pushed to the page"
    );

    // Forced: no proof needed, and the audit says so.
    let (code, body) = post(
        &app,
        "/api/cutover/intraday",
        Some(&ops),
        json!({"stage": "live", "reason": "bars look right to me", "force": true}),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");

    let trail = audit(&app, &ops).await;
    assert_eq!(trail.len(), 2);
    let (forced, proven) = (&trail[0], &trail[1]);
    assert_eq!((forced.version, proven.version), (2, 1), "newest first");
    assert_eq!(proven.actor, "ops");
    assert_eq!(proven.feature, Feature::Positions);
    assert_eq!(
        (proven.from.stage, proven.to.stage),
        (Stage::Shadow, Stage::Live)
    );
    assert_eq!(proven.reason, "parity looks fine");
    assert!(!proven.forced && !proven.automatic);
    assert_eq!(
        proven.evidence["parity"]["matched"], 8,
        "{}",
        proven.evidence
    );
    assert_eq!(proven.evidence["gate"]["open"], true);
    assert!(forced.forced, "{forced:?}");
    assert_eq!(forced.evidence["gate"]["open"], false);

    // The pages confirm the versions they applied: the change's propagation is measured.
    a.wait_for_version(2, Duration::from_secs(5)).await;
    assert_eq!(a.report(&shadow, |_| {}).await, StatusCode::NO_CONTENT);
    let after = status(&app, &ops).await;
    assert!(after.propagation_max_ms.is_some(), "{after:?}");
    assert_eq!(
        feature(&after, Feature::Positions).mark,
        Mark::Transitioning,
        "page b has not confirmed positions' change yet"
    );
    b.wait_for_version(2, Duration::from_secs(5)).await;
    assert_eq!(b.report(&shadow, |_| {}).await, StatusCode::NO_CONTENT);
    let confirmed = status(&app, &ops).await;
    assert_eq!(feature(&confirmed, Feature::Positions).mark, Mark::Ws);
    assert_eq!(feature(&confirmed, Feature::Positions).pages.unconfirmed, 0);
    app.stop().await;
}

/// How late a delayed socket message comes: far beyond [`LATE_MS`] (REST would have to answer
/// two seconds after the publish for it to look on time), and waited for, never given up on.
const FAULT_DELAY_MS: u64 = 2_500;

/// The field (its end) a fault of `kind` on `feature` shows up as in the pages' diffs.
fn diff_of(feature: Feature, kind: FaultKind) -> &'static str {
    match (feature, kind) {
        (_, FaultKind::Drop) => "missing",
        (_, FaultKind::Delay) => "late",
        (Feature::AccountBalance, FaultKind::Corrupt) => "cash",
        (Feature::AccountBalance, FaultKind::Misroute) => "account",
        (Feature::Positions, FaultKind::Corrupt) => ".quantity",
        (Feature::Positions, FaultKind::Misroute) => "account_id",
        (Feature::GlobalMarket, FaultKind::Corrupt) => ".status",
        (Feature::GlobalMarket, FaultKind::Misroute) => ".market_id",
        (Feature::Intraday, FaultKind::Corrupt) => "close",
        // A bar under another symbol never comes under its own.
        (Feature::Intraday, FaultKind::Misroute) => "missing",
        (Feature::Orders, FaultKind::Corrupt) => ".quantity",
        (Feature::Orders, FaultKind::Misroute) => "account_id",
    }
}

/// What came of a shadow run: the fleet's status of the feature, and each user's own pages.
struct ShadowRun {
    status: FeatureStatus,
    mine: Vec<(&'static str, app::cutover::MyFeature)>,
}

/// A fresh server with `feature` in Shadow (its socket broken by `fault`, if any), and pages of
/// two users that each poll it once, then after each of four rounds of publishing (a closed
/// minute for intraday), and report.
async fn shadow_run(feature: Feature, fault: Option<FaultKind>) -> ShadowRun {
    let (app, clock) = app_and_clock(|_| {}).await;
    let ops = common::sign_in(&app, "ops").await;
    let users = ["demo", "demo2"];
    let mut cookies = Vec::new();
    for user in users {
        cookies.push(common::sign_in(&app, user).await);
    }
    if let Some(kind) = fault {
        let (code, body) = post(
            &app,
            "/api/cutover/fault",
            Some(&ops),
            json!({"feature": feature, "kind": kind, "delay_ms": FAULT_DELAY_MS}),
        )
        .await;
        assert_eq!(code, StatusCode::NO_CONTENT, "{feature} {kind:?}: {body}");
    }
    if feature == Feature::Orders {
        // An order resting on each account, far from the market: something to compare.
        for (symbol, cookie) in ["SPY", "QQQ"].into_iter().zip(&cookies) {
            let order = json!({
                "symbol": symbol, "side": "sell", "quantity": 1, "type": "limit",
                "limit_price": 99_999, "time_in_force": "gtc", "client_order_id": "rest-1",
            });
            let (code, body) = post(&app, "/api/orders", Some(cookie), order).await;
            assert_eq!(code, StatusCode::CREATED, "{body}");
        }
    }
    let mut pages = Vec::new();
    for (user, cookie) in users.iter().zip(&cookies) {
        pages.push(Page::open(app.addr, cookie, &format!("{user}-page"), LATE_MS).await);
    }
    // The first answer: what predates the pages (bars closed before them are not theirs).
    for page in &pages {
        page.poll(feature).await;
    }
    for _ in 0..4 {
        if feature == Feature::Intraday {
            clock.advance(chrono::Duration::seconds(60));
        }
        app.jobs.run_all_once().await;
        for page in &pages {
            page.poll(feature).await;
        }
    }
    for page in &pages {
        if fault == Some(FaultKind::Delay) {
            page.wait_for_socket(Duration::from_secs(10)).await;
        } else {
            page.settle(Duration::from_secs(5)).await;
        }
        let report = page.report(&[(feature, Source::RestShadow)], |_| {}).await;
        assert_eq!(report, StatusCode::NO_CONTENT, "{feature} {fault:?}");
    }
    let status = self::feature(&status(&app, &ops).await, feature).clone();
    let mut mine_of = Vec::new();
    for (user, cookie) in users.into_iter().zip(&cookies) {
        let own = mine(&app, cookie)
            .await
            .features
            .into_iter()
            .find(|f| f.feature == feature)
            .expect("every feature is in a user's view");
        mine_of.push((user, own));
    }
    app.stop().await;
    ShadowRun {
        status,
        mine: mine_of,
    }
}

/// Every fault kind on `feature` is caught by both users' pages, and keeps the gate closed for
/// that reason alone; the same run without a fault opens it.
async fn every_fault_is_caught(feature: Feature) {
    let healthy = shadow_run(feature, None).await;
    let parity = &healthy.status.parity;
    assert_eq!(
        parity.mismatched + parity.missing_on_ws,
        0,
        "{feature} without a fault: {parity:?} {:?}",
        healthy.status.last_diffs
    );
    assert!(
        healthy.status.gate.open,
        "{feature} without a fault opens its gate: {:?} ({parity:?})",
        healthy.status.gate
    );
    for kind in [
        FaultKind::Corrupt,
        FaultKind::Misroute,
        FaultKind::Drop,
        FaultKind::Delay,
    ] {
        let run = shadow_run(feature, Some(kind)).await;
        let status = &run.status;
        let field = diff_of(feature, kind);
        for (user, own) in &run.mine {
            let page = own.pages.first();
            let caught = page.map_or(0, |p| p.parity.mismatched + p.parity.missing_on_ws);
            assert!(
                caught >= 1 && page.is_some_and(|p| p.parity.matched == 0),
                "({feature}, {kind:?}) not caught by {user}'s page: {:?}",
                own.pages
            );
            assert!(
                own.last_diffs.iter().any(|d| d.field.ends_with(field)),
                "({feature}, {kind:?}): no {field} diff on {user}'s page: {:?}",
                own.last_diffs
            );
        }
        assert_eq!(
            (status.pages_reporting, status.users_reporting),
            (2, 2),
            "({feature}, {kind:?})"
        );
        assert!(
            !status.gate.open,
            "({feature}, {kind:?}) a broken feature cannot pass its gate: {:?}",
            status.parity
        );
        // Enough samples from enough pages and users: only the mismatches keep it closed.
        assert!(
            status.gate.missing.len() == 1 && status.gate.missing[0].starts_with("match rate"),
            "({feature}, {kind:?}): {:?}",
            status.gate.missing
        );
    }
}

#[tokio::test]
async fn every_fault_on_account_balance_is_caught_by_parity_and_alone_keeps_its_gate_closed() {
    every_fault_is_caught(Feature::AccountBalance).await;
}

#[tokio::test]
async fn every_fault_on_positions_is_caught_by_parity_and_alone_keeps_its_gate_closed() {
    every_fault_is_caught(Feature::Positions).await;
}

#[tokio::test]
async fn every_fault_on_intraday_bars_is_caught_by_parity_and_alone_keeps_its_gate_closed() {
    every_fault_is_caught(Feature::Intraday).await;
}

#[tokio::test]
async fn every_fault_on_global_markets_is_caught_by_parity_and_alone_keeps_its_gate_closed() {
    every_fault_is_caught(Feature::GlobalMarket).await;
}

#[tokio::test]
async fn every_fault_on_orders_is_caught_by_parity_and_alone_keeps_its_gate_closed() {
    every_fault_is_caught(Feature::Orders).await;
}

#[tokio::test]
async fn the_fault_switch_is_off_unless_configured() {
    let app = app_with(|s| s.cutover.allow_faults = false).await;
    let ops = common::sign_in(&app, "ops").await;
    let (code, body) = post(
        &app,
        "/api/cutover/fault",
        Some(&ops),
        json!({"feature": "positions", "kind": "drop"}),
    )
    .await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{body}");
    app.stop().await;
}

#[tokio::test]
async fn a_live_feature_rolls_back_when_pages_of_two_users_report_gaps_then_cools_down() {
    let app = app_with(|_| {}).await;
    let ops = common::sign_in(&app, "ops").await;
    let demo = common::sign_in(&app, "demo").await;
    let demo2 = common::sign_in(&app, "demo2").await;
    let (code, body) = post(
        &app,
        "/api/cutover/intraday",
        Some(&ops),
        json!({"stage": "live", "reason": "go", "force": true}),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let a = Page::open(app.addr, &demo, "gaps-a", LATE_MS).await;
    let b = Page::open(app.addr, &demo2, "gaps-b", LATE_MS).await;
    a.wait_for_version(1, Duration::from_secs(5)).await;
    b.wait_for_version(1, Duration::from_secs(5)).await;
    let live = [(Feature::Intraday, Source::WebSocket)];
    // One user's gaps (or a faker's) are not enough: the judge has seen them, twice.
    a.report(&live, |r| r.gaps = 2).await;
    let reported = judgements(&app).await;
    judged(&app, reported, 2).await;
    assert!(audit(&app, &ops).await.iter().all(|e| !e.automatic));
    let still = status(&app, &ops).await;
    assert_eq!(feature(&still, Feature::Intraday).flag.stage, Stage::Live);

    b.report(&live, |r| r.gaps = 1).await;
    let rollback = automatic_rollback(&app, &ops, Feature::Intraday).await;
    assert_eq!(rollback.actor, "automatic");
    assert_eq!(rollback.to.stage, Stage::Rest);
    assert!(rollback.reason.contains("gaps"), "{}", rollback.reason);
    assert_eq!(rollback.evidence["rollback"]["users_with_gaps"], 2);
    let (flags, _) = a.wait_for_version(2, Duration::from_secs(5)).await;
    assert_eq!(
        flags.flag(Feature::Intraday).stage,
        Stage::Rest,
        "pages told at once"
    );

    // Cooling down: going live again needs --force, and says why.
    let (code, body) = post(
        &app,
        "/api/cutover/intraday",
        Some(&ops),
        json!({"stage": "live", "reason": "again"}),
    )
    .await;
    assert_eq!(code, StatusCode::CONFLICT);
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("cooldown")),
        "{body}"
    );
    let after = status(&app, &ops).await;
    assert!(feature(&after, Feature::Intraday).cooldown_until.is_some());
    app.stop().await;
}

#[tokio::test]
async fn a_live_feature_rolls_back_when_the_server_stops_publishing_it() {
    // Positions are published every 10 s; here a tenth of that (1 s) without one is silence.
    let app = app_with(|s| s.cutover.stale_after_cadences = 0.1).await;
    let ops = common::sign_in(&app, "ops").await;
    // The test publishes (the jobs' own timers wait 10 s): every 200 ms until told to stop.
    let publishing = tokio_util::sync::CancellationToken::new();
    let publisher = {
        let jobs = app.jobs.clone();
        let stop = publishing.clone();
        tokio::spawn(async move {
            while !stop.is_cancelled() {
                jobs.run_all_once().await;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    let (code, body) = post(
        &app,
        "/api/cutover/positions",
        Some(&ops),
        json!({"stage": "live", "reason": "go", "force": true}),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    // Published within the limit: the judge runs, and the feature stays live.
    let live_since = judgements(&app).await;
    judged(&app, live_since, 3).await;
    assert!(
        audit(&app, &ops).await.iter().all(|e| !e.automatic),
        "rolled back while it was being published"
    );
    let still = status(&app, &ops).await;
    assert_eq!(feature(&still, Feature::Positions).flag.stage, Stage::Live);

    publishing.cancel();
    publisher.await.expect("the publisher stops");
    let rollback = automatic_rollback(&app, &ops, Feature::Positions).await;
    assert!(
        rollback.reason.contains("not published"),
        "{}",
        rollback.reason
    );
    assert_eq!(
        (rollback.from.stage, rollback.to.stage),
        (Stage::Live, Stage::Rest)
    );
    let silent = rollback.evidence["rollback"]["server_silent_ms"].as_u64();
    assert!(
        silent.is_some_and(|ms| ms > 1_000),
        "silent for {silent:?} ms"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_ramp_chooses_the_same_sessions_every_time() {
    use app::live::choose::{self, Conditions};
    let app = app_with(|_| {}).await;
    let ops = common::sign_in(&app, "ops").await;
    let (code, body) = post(
        &app,
        "/api/cutover/account_balance",
        Some(&ops),
        json!({"stage": "live", "ramp": 50, "reason": "half the desk", "force": true}),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let balance = Feature::AccountBalance;
    let mut buckets = std::collections::BTreeSet::new();
    let (mut inside, mut outside) = (0, 0);
    for i in 0..20 {
        let session = common::sign_in(&app, "demo").await;
        let first = mine(&app, &session).await;
        let again = mine(&app, &session).await;
        assert_eq!(
            first.bucket, again.bucket,
            "stable across a session's requests"
        );
        buckets.insert(first.bucket);
        // The flags as this session's page gets them: on its socket.
        let page = Page::open(app.addr, &session, &format!("ramp-{i}"), LATE_MS).await;
        let (flags, _) = page.wait_for_version(1, Duration::from_secs(5)).await;
        assert_eq!(flags.flag(balance).ramp, 50);
        // The page's own rule, fed what the page knows.
        let stage = choose::stage(balance, Some(&flags), Some(first.bucket));
        let served = first
            .features
            .iter()
            .find(|f| f.feature == balance)
            .map(|f| f.stage);
        assert_eq!(served, Some(stage), "bucket {}", first.bucket);
        let healthy = Conditions {
            flags: Some(&flags),
            bucket: Some(first.bucket),
            socket_open: true,
            heartbeat_age_ms: Some(0.0),
            update_age_ms: Some(0.0),
            markets_closed: false,
        };
        if first.bucket < 50 {
            inside += 1;
            assert_eq!(stage, Stage::Live, "bucket {} is inside", first.bucket);
            assert_eq!(choose::source(balance, &healthy), Source::WebSocket);
        } else {
            outside += 1;
            assert_eq!(stage, Stage::Shadow, "bucket {} is outside", first.bucket);
            assert_eq!(choose::source(balance, &healthy), Source::RestShadow);
        }
        // The first HTML renders the panel's source with the session's own bucket (before its
        // socket opens, a live feature waits on REST).
        let first_paint = choose::source(
            balance,
            &Conditions {
                socket_open: false,
                heartbeat_age_ms: None,
                update_age_ms: None,
                ..healthy
            },
        );
        let (code, html) = body_text(&app, "/", &session).await;
        assert_eq!(code, StatusCode::OK);
        assert_eq!(
            rendered_source(&html, balance).as_deref(),
            Some(first_paint.label()),
            "bucket {}",
            first.bucket
        );
    }
    assert!(
        inside > 0 && outside > 0,
        "some sessions inside the ramp, some outside: {inside} and {outside}"
    );
    assert!(
        buckets.len() >= 10,
        "sessions get different buckets: {buckets:?}"
    );
    let status = status(&app, &ops).await;
    assert_eq!(feature(&status, balance).mark, Mark::Transitioning);
    assert_eq!(status.mode, Mode::PartialCutover);
    app.stop().await;
}

/// The source label the cutover panel of a rendered page shows for `feature`.
fn rendered_source(html: &str, feature: Feature) -> Option<String> {
    let marker = format!("data-testid=\"cutover-source-{}\"", feature.name());
    let cell = &html[html.find(&marker)? + marker.len()..];
    let text = &cell[cell.find('>')? + 1..];
    let text = &text[..text.find("</td>")?];
    // Without the renderer's markers (`<!>`, `<!--…-->`).
    let mut plain = String::new();
    let mut in_marker = false;
    for c in text.chars() {
        match c {
            '<' => in_marker = true,
            '>' => in_marker = false,
            c if !in_marker => plain.push(c),
            _ => {}
        }
    }
    Some(plain.trim().to_string())
}

#[tokio::test]
async fn reports_are_bounded_and_attributed() {
    let app = app_with(|_| {}).await;
    let ops = common::sign_in(&app, "ops").await;
    let demo = common::sign_in(&app, "demo").await;
    let demo2 = common::sign_in(&app, "demo2").await;
    let report = |page: &str, matched: u64| {
        json!({"page_id": page, "applied_version": 0, "features": [{
            "feature": "positions", "source": "rest_shadow",
            "parity": {"matched": matched, "mismatched": 0, "missing_on_ws": 0}
        }]})
    };
    let (code, _) = post(
        &app,
        "/api/cutover/report",
        Some(&demo),
        report("tab", 1_000_000),
    )
    .await;
    assert_eq!(code, StatusCode::NO_CONTENT);
    let status_now = status(&app, &ops).await;
    let positions = feature(&status_now, Feature::Positions);
    assert!(
        positions.parity.matched <= 8,
        "a page cannot claim more samples than its polls allow: {:?}",
        positions.parity
    );
    assert!(
        !positions.gate.open,
        "one page of one user never opens a gate"
    );

    let (code, body) = post(&app, "/api/cutover/report", Some(&demo2), report("tab", 1)).await;
    assert_eq!(
        code,
        StatusCode::FORBIDDEN,
        "another session's page id: {body}"
    );
    let (code, _) = post(&app, "/api/cutover/report", Some(&demo), report("../x", 1)).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    let (code, _) = post(&app, "/api/cutover/report", None, report("tab2", 1)).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    let (code, _) = post(
        &app,
        "/api/cutover/report",
        Some(&demo),
        json!({"page_id": 3}),
    )
    .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    app.stop().await;
}

/// A page's report of one feature with one diff whose values are `marker` (as a trader's page
/// reports the values its account showed).
fn report_with_diff(page_id: &str, marker: &str) -> Value {
    json!({
        "page_id": page_id,
        "applied_version": 0,
        "features": [{
            "feature": "positions",
            "source": "rest_shadow",
            "parity": {"matched": 3, "mismatched": 1, "missing_on_ws": 0},
            "diffs": [{
                "at": "seq 7",
                "field": "positions.AAPL.quantity",
                "rest": format!("{marker}0"),
                "ws": format!("{marker}1"),
            }],
        }],
    })
}

/// Every GET route a signed-in user can call (the router's, with the `/api/cutover/{feature}`
/// family being POST only).
const GET_ROUTES: &[&str] = &[
    "/",
    "/login",
    "/api/health",
    "/api/auth/me",
    "/api/account/balance",
    "/api/positions",
    "/api/orders",
    "/api/intraday/bars?symbol=SPY",
    "/api/global-markets/status",
    "/api/jobs",
    "/api/cutover",
    "/api/cutover/mine",
    "/api/cutover/audit",
    "/metrics",
];

async fn body_text(app: &common::TestApp, path: &str, cookie: &str) -> (StatusCode, String) {
    let response = reqwest::Client::new()
        .get(app.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .expect("request");
    let status = response.status();
    (status, response.text().await.unwrap_or_default())
}

#[tokio::test]
async fn a_trader_never_reads_what_another_traders_pages_reported_and_an_operator_does() {
    let app = app_with(|_| {}).await;
    traders_read_only_their_own_reports(app).await;
}

#[tokio::test]
async fn on_postgres_a_trader_never_reads_what_another_traders_pages_reported() {
    if !common::postgres_may_run(
        "on_postgres_a_trader_never_reads_what_another_traders_pages_reported",
    )
    .await
    {
        return;
    }
    let database = common::TempDatabase::create().await;
    let url = database.url();
    let app = app_with(move |settings| settings.storage.database_url = Some(url)).await;
    traders_read_only_their_own_reports(app).await;
    database.drop_it().await;
}

/// Two traders' pages report diffs; every GET route and the socket, as each trader, show none
/// of the other's values; the operator sees both.
async fn traders_read_only_their_own_reports(app: common::TestApp) {
    let demo = common::sign_in(&app, "demo").await;
    let demo2 = common::sign_in(&app, "demo2").await;
    let ops = common::sign_in(&app, "ops").await;
    // Markers no real figure in the demo accounts looks like.
    let (mark1, mark2) = ("8642097531", "9753108642");
    for (cookie, page, marker) in [(&demo, "page-one", mark1), (&demo2, "page-two", mark2)] {
        let (code, body) = post(
            &app,
            "/api/cutover/report",
            Some(cookie),
            report_with_diff(page, marker),
        )
        .await;
        assert_eq!(code, StatusCode::NO_CONTENT, "{body}");
    }
    app.jobs.run_all_once().await;

    for (cookie, own, other) in [(&demo, mark1, mark2), (&demo2, mark2, mark1)] {
        for path in GET_ROUTES {
            let (code, text) = body_text(&app, path, cookie).await;
            assert!(
                !text.contains(other),
                "GET {path} ({code}) shows a trader another trader's reported value"
            );
            if *path == "/api/cutover/mine" {
                assert_eq!(code, StatusCode::OK);
                assert!(text.contains(own), "a trader sees their own page's diff");
            }
        }
        // The socket: a round of every job and the flags, then nothing of the other's.
        let mut socket = common::ws_connect(&app, cookie, "").await;
        app.jobs.run_all_once().await;
        let frames = frames_until_second_positions(&mut socket).await;
        assert!(
            frames.iter().all(|frame| !frame.contains(other)),
            "the socket carried another trader's reported value"
        );
    }
    let mine = mine(&app, &demo).await;
    let positions = mine
        .features
        .iter()
        .find(|f| f.feature == Feature::Positions)
        .expect("positions");
    assert_eq!(positions.pages.len(), 1, "only the trader's own page");
    assert_eq!(positions.pages[0].page_id, "page-one");
    assert_eq!(positions.pages[0].parity.matched, 3);

    let (code, fleet) = body_text(&app, "/api/cutover", &ops).await;
    assert_eq!(code, StatusCode::OK);
    assert!(
        fleet.contains(mark1) && fleet.contains(mark2),
        "an operator sees every page's evidence"
    );
    app.stop().await;
}

/// The socket's text frames up to the second `positions` message (the snapshot's, then the
/// job round's), within 10 s.
async fn frames_until_second_positions(socket: &mut common::Socket) -> Vec<String> {
    use futures::StreamExt;
    let mut frames = Vec::new();
    let mut positions = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while positions < 2 {
        let message = tokio::time::timeout_at(deadline, socket.next())
            .await
            .expect("two positions messages within 10 s")
            .expect("the socket stays open")
            .expect("a frame");
        let Ok(text) = message.into_text() else {
            continue;
        };
        if text.starts_with("{\"type\":\"positions\"") {
            positions += 1;
        }
        frames.push(text.to_string());
    }
    frames
}

#[tokio::test]
async fn a_busy_page_never_pushes_a_traders_own_last_diffs_out_of_their_view() {
    let app = app_with(|_| {}).await;
    let demo = common::sign_in(&app, "demo").await;
    let demo2 = common::sign_in(&app, "demo2").await;
    let ops = common::sign_in(&app, "ops").await;
    let (code, body) = post(
        &app,
        "/api/cutover/report",
        Some(&demo),
        report_with_diff("quiet-page", "7531902468"),
    )
    .await;
    assert_eq!(code, StatusCode::NO_CONTENT, "{body}");
    // The other trader's page then reports far more diffs than the server keeps per feature.
    for round in 0..6 {
        let diffs: Vec<Value> = (0..5)
            .map(|i| json!({"at": format!("seq {round}{i}"), "field": "positions.QQQ.quantity", "rest": "1", "ws": "2"}))
            .collect();
        let report = json!({
            "page_id": "busy-page",
            "applied_version": 0,
            "features": [{
                "feature": "positions",
                "source": "rest_shadow",
                "parity": {"matched": 0, "mismatched": 1, "missing_on_ws": 0},
                "diffs": diffs,
            }],
        });
        let (code, body) = post(&app, "/api/cutover/report", Some(&demo2), report).await;
        assert_eq!(code, StatusCode::NO_CONTENT, "{body}");
    }
    let own = mine(&app, &demo).await;
    let positions = own
        .features
        .iter()
        .find(|f| f.feature == Feature::Positions)
        .expect("positions");
    assert!(
        positions.last_diffs.iter().any(|d| d.rest == "75319024680"),
        "the trader still sees their own diff: {:?}",
        positions.last_diffs
    );
    let fleet = status(&app, &ops).await;
    assert_eq!(
        feature(&fleet, Feature::Positions).last_diffs.len(),
        20,
        "operators see the newest 20"
    );
    app.stop().await;
}

/// A closed market is quiet, not broken: with exchange hours on, a live intraday feature stays
/// live past its market's close (no bar, no forming bar: silence far past its limit, judged
/// again and again); the next morning, the same silence while the market is open rolls it back.
#[tokio::test]
async fn a_live_intraday_feature_stays_live_across_its_markets_close() {
    // Intraday's limit: 0.4 of its 5 s interval, 2 s without a message.
    let (app, clock) = app_and_clock(|s| {
        s.market.exchange_hours = true;
        s.cutover.intraday = Stage::Live;
        s.cutover.stale_after_cadences = 0.4;
    })
    .await;
    let ops = common::sign_in(&app, "ops").await;
    let silent_for = |app: &common::TestApp| {
        let last = Feature::Intraday
            .topics()
            .iter()
            .filter_map(|t| app.hub.last_published_us(*t))
            .max()
            .expect("intraday was published");
        Duration::from_micros(u64::try_from(thor_server::clock::now_us() - last).unwrap_or(0))
    };
    let wait_for_silence = async |app: &common::TestApp, limit: Duration| {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while silent_for(app) <= limit {
            assert!(
                std::time::Instant::now() < deadline,
                "intraday kept publishing"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    // 15:59:58 in New York: the day's last trades. Then the close: the feed stops.
    clock.set(common::at("2026-03-09T19:59:58Z"));
    app.jobs.run_all_once().await;
    clock.set(common::at("2026-03-09T20:00:30Z"));
    app.jobs.run_all_once().await;
    wait_for_silence(&app, Duration::from_secs(4)).await;
    let since = judgements(&app).await;
    judged(&app, since, 2).await;
    assert!(
        audit(&app, &ops).await.iter().all(|e| !e.automatic),
        "rolled back because its market closed"
    );
    let evening = status(&app, &ops).await;
    assert_eq!(feature(&evening, Feature::Intraday).flag.stage, Stage::Live);
    // Pages are told too: the heartbeat names the quiet topics.
    let closed = |app: &common::TestApp| {
        let frame = app
            .hub
            .latest(
                app::protocol::Topic::Heartbeat,
                thor_server::hub::Audience::Everyone,
            )
            .expect("a heartbeat");
        let message: Value = serde_json::from_str(frame.text.as_str()).expect("JSON");
        message["data"]["closed"].clone()
    };
    app.jobs.run_all_once().await;
    assert_eq!(
        closed(&app),
        json!(["intraday_bar", "forming_bar", "vwap"]),
        "the evening's heartbeat"
    );

    // The next morning, 10:00 in New York: one round of trades, then nothing while open.
    clock.set(common::at("2026-03-10T14:00:00Z"));
    app.jobs.run_all_once().await;
    assert_eq!(
        closed(&app),
        Value::Null,
        "the morning's heartbeat names nothing"
    );
    let rollback = automatic_rollback(&app, &ops, Feature::Intraday).await;
    assert!(
        rollback.reason.contains("not published"),
        "{}",
        rollback.reason
    );
    assert_eq!(rollback.evidence["rollback"]["markets_closed"], false);
    app.stop().await;
}
