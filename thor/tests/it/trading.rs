//! The trading back end over REST and the socket, against the real server with a clock the test
//! moves: balances and positions per trader (and only theirs), bars closed and stored each
//! minute, market status, the jobs' records, and bad input refused.

use crate::common::{self, at};

use app::protocol::{Envelope, ServerMessage};
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use thor_server::clock::ManualClock;
use thor_server::config::DatabaseUrl;
use tokio_tungstenite::tungstenite::Message;

async fn app_at(instant: &str) -> (common::TestApp, Arc<ManualClock>) {
    let data = tempfile::tempdir().expect("temp dir");
    let settings = common::test_settings(data.path());
    let clock = Arc::new(ManualClock::new(at(instant)));
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
    (status, response.json().await.expect("a JSON body"))
}

#[tokio::test]
async fn each_trader_gets_their_own_balance_and_positions_valued_at_live_prices() {
    let (app, _clock) = app_at("2026-03-09T14:30:10Z").await;
    let demo = common::sign_in(&app, "demo").await;
    let demo2 = common::sign_in(&app, "demo2").await;

    let (status, balance) = get(&app, "/api/account/balance", Some(&demo)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(balance["type"], "account_balance");
    assert!(balance["seq"].as_u64().is_some_and(|s| s >= 1));
    assert_eq!(balance["epoch"].as_u64(), Some(app.hub.epoch()));
    let data = &balance["data"];
    assert_eq!(data["account_number"], "THOR-10001");
    assert_eq!(data["cash"], 50_000.0);
    let equity = data["equity"].as_f64().expect("equity");
    let market_value = data["market_value"].as_f64().expect("market value");
    assert!((equity - (50_000.0 + market_value)).abs() < 0.005);
    assert_eq!(data["timestamp"], "2026-03-09T14:30:10Z");

    let (status, positions) = get(&app, "/api/positions", Some(&demo)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(positions["type"], "positions");
    let symbols: Vec<&str> = positions["data"]["positions"]
        .as_array()
        .expect("positions")
        .iter()
        .map(|p| p["symbol"].as_str().expect("symbol"))
        .collect();
    assert_eq!(symbols, ["AAPL", "MSFT", "SPY"]);
    for position in positions["data"]["positions"]
        .as_array()
        .expect("positions")
    {
        let q = position["quantity"].as_f64().expect("quantity");
        let current = position["current_price"].as_f64().expect("price");
        let entry = position["entry_price"].as_f64().expect("entry");
        let pnl = position["pnl"].as_f64().expect("pnl");
        assert!((position["market_value"].as_f64().expect("mv") - q * current).abs() < 0.01);
        assert!((pnl - (current - entry) * q).abs() < 0.01);
    }

    let (_, other) = get(&app, "/api/account/balance", Some(&demo2)).await;
    assert_eq!(other["data"]["account_number"], "THOR-10002");
    assert_ne!(other["data"]["account_id"], balance["data"]["account_id"]);
    let (_, other_positions) = get(&app, "/api/positions", Some(&demo2)).await;
    let other_symbols: Vec<&str> = other_positions["data"]["positions"]
        .as_array()
        .expect("positions")
        .iter()
        .map(|p| p["symbol"].as_str().expect("symbol"))
        .collect();
    assert_eq!(other_symbols, ["IWM", "QQQ"]);
    app.stop().await;
}

#[tokio::test]
async fn accounts_need_a_signed_in_trader() {
    let (app, _clock) = app_at("2026-03-09T14:30:10Z").await;
    for path in ["/api/account/balance", "/api/positions"] {
        let (status, body) = get(&app, path, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    let ops = common::sign_in(&app, "ops").await;
    let (status, body) = get(&app, "/api/account/balance", Some(&ops)).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "an operator has no paper account"
    );
    assert_eq!(body["error"]["code"], "not_found");
    app.stop().await;
}

#[tokio::test]
async fn balances_move_with_prices_and_day_change_counts_from_the_previous_close() {
    let (app, clock) = app_at("2026-03-09T14:30:10Z").await;
    let demo = common::sign_in(&app, "demo").await;
    let (_, first) = get(&app, "/api/account/balance", Some(&demo)).await;
    assert_eq!(
        first["data"]["day_change"], 0.0,
        "on an account's first day, its first valuation opens the day"
    );
    for _ in 0..30 {
        clock.advance(chrono::Duration::seconds(1));
        app.jobs.run_all_once().await;
    }
    let equity = |balance: &Value| balance["data"]["equity"].as_f64().expect("equity");
    let day_change = |balance: &Value| balance["data"]["day_change"].as_f64().expect("change");
    let (_, later) = get(&app, "/api/account/balance", Some(&demo)).await;
    assert!(later["seq"].as_u64() > first["seq"].as_u64());
    assert_ne!(equity(&later), equity(&first), "prices moved");
    assert!((day_change(&later) - (equity(&later) - equity(&first))).abs() < 0.01);

    // The evening: the day's last valuation is its close.
    clock.set(at("2026-03-09T23:59:50Z"));
    app.jobs.run_all_once().await;
    let (_, close) = get(&app, "/api/account/balance", Some(&demo)).await;
    // The next morning counts from that close, not from the morning's first valuation.
    clock.set(at("2026-03-10T14:30:00Z"));
    app.jobs.run_all_once().await;
    let (_, morning) = get(&app, "/api/account/balance", Some(&demo)).await;
    assert_ne!(equity(&morning), equity(&close), "prices moved overnight");
    let change = equity(&morning) - equity(&close);
    assert!(
        (day_change(&morning) - change).abs() < 0.01,
        "{} against the previous close, not {}",
        day_change(&morning),
        change
    );
    let pct = morning["data"]["day_change_pct"].as_f64().expect("pct");
    assert!(
        (pct - change / equity(&close) * 100.0).abs() < 0.01,
        "{pct}"
    );
    app.stop().await;
}

/// A restart carries the desk on: each symbol's next price is its last one moved by at most a
/// normal tick (not its start price again), the day's change is what it was, and the session
/// VWAP goes on summing the day's trading instead of starting from the first trade after.
#[tokio::test]
async fn the_desk_carries_on_across_a_restart() {
    desk_carries_on_across_a_restart(None).await;
}

/// [`the_desk_carries_on_across_a_restart`] on `database` (the SQLite file when `None`).
pub async fn desk_carries_on_across_a_restart(database: Option<DatabaseUrl>) {
    let data = tempfile::tempdir().expect("temp dir");
    let settings = || {
        let mut settings = common::test_settings(data.path());
        if let Some(url) = &database {
            settings.storage.database_url = Some(url.clone());
        }
        settings
    };
    let clock = Arc::new(ManualClock::new(at("2026-03-09T14:30:10Z")));
    let app =
        common::start_with_clock(settings(), tempfile::tempdir().expect("dir"), clock.clone())
            .await;
    // A morning's trading, then an afternoon's move in one step: prices far from their start.
    for instant in ["2026-03-09T14:31:05Z", "2026-03-09T20:00:00Z"] {
        clock.set(at(instant));
        app.jobs.run_all_once().await;
    }
    let demo = common::sign_in(&app, "demo").await;
    let prices = |positions: &Value| -> Vec<(String, f64)> {
        positions["data"]["positions"]
            .as_array()
            .expect("positions")
            .iter()
            .map(|p| {
                let symbol = p["symbol"].as_str().expect("symbol").to_string();
                (symbol, p["current_price"].as_f64().expect("price"))
            })
            .collect()
    };
    let session = |app: &common::TestApp| -> (u64, f64) {
        let frame = app
            .hub
            .latest_of(
                app::protocol::Topic::Vwap,
                thor_server::hub::Audience::Everyone,
                "SPY",
            )
            .expect("a vwap message for SPY");
        let message: Value = serde_json::from_str(frame.text.as_str()).expect("JSON");
        let data = &message["data"];
        (
            data["session_volume"].as_u64().expect("volume"),
            data["session_vwap"].as_f64().expect("vwap"),
        )
    };
    let (_, positions) = get(&app, "/api/positions", Some(&demo)).await;
    let before = prices(&positions);
    let (_, balance) = get(&app, "/api/account/balance", Some(&demo)).await;
    let (volume_before, vwap_before) = session(&app);
    let start_prices = [("AAPL", 230.0), ("MSFT", 440.0), ("SPY", 600.0)];
    assert!(
        before
            .iter()
            .zip(start_prices)
            .any(|((_, price), (_, start))| (price / start - 1.0).abs() > 0.005),
        "the prices must have moved away from their start for this test to tell: {before:?}"
    );
    app.stop().await;

    // Six seconds later, a new run on the same database.
    let clock = Arc::new(ManualClock::new(at("2026-03-09T20:00:06Z")));
    let app =
        common::start_with_clock(settings(), tempfile::tempdir().expect("dir"), clock.clone())
            .await;
    let demo = common::sign_in(&app, "demo").await;
    let (_, positions) = get(&app, "/api/positions", Some(&demo)).await;
    let after = prices(&positions);
    // A normal tick (1 s) of the most volatile default symbol (27 %) is about 0.011 %.
    for ((symbol, was), (_, is)) in before.iter().zip(&after) {
        assert!(
            (is / was - 1.0).abs() < 0.0005,
            "{symbol} jumped from {was} to {is} across the restart"
        );
    }
    let (_, balance_after) = get(&app, "/api/account/balance", Some(&demo)).await;
    assert_eq!(
        balance_after["data"]["day_change"], balance["data"]["day_change"],
        "the day's change carries on"
    );
    // The minute closes: the session VWAP counts the morning's trading and this bar's.
    clock.set(at("2026-03-09T20:01:00Z"));
    app.jobs.run_all_once().await;
    let (_, bars) = get(
        &app,
        "/api/intraday/bars?symbol=SPY&since=2026-03-09T20:00:00Z&session=false",
        None,
    )
    .await;
    let bar_volume = bars["data"]["bars"][0]["volume"]
        .as_u64()
        .expect("the 20:00 bar");
    // The tick that closed it opened the 20:01 bar.
    let forming_volume = bars["data"]["forming"]["volume"]
        .as_u64()
        .expect("the 20:01 bar");
    let (volume_after, vwap_after) = session(&app);
    assert_eq!(
        volume_after,
        volume_before + bar_volume + forming_volume,
        "the session sums the day's trading before the restart too"
    );
    assert!(
        (vwap_after / vwap_before - 1.0).abs() < 0.05,
        "{vwap_before} → {vwap_after}"
    );
    app.stop().await;
}

#[tokio::test]
async fn bars_close_each_minute_are_stored_and_survive_a_restart() {
    let data = tempfile::tempdir().expect("temp dir");
    let settings = common::test_settings(data.path());
    let clock = Arc::new(ManualClock::new(at("2026-03-09T14:30:10Z")));
    let app =
        common::start_with_clock(settings, tempfile::tempdir().expect("dir"), clock.clone()).await;
    // Three more seconds of ticks in 14:30, then the first tick of 14:31 closes the 14:30 bar.
    for _ in 0..3 {
        clock.advance(chrono::Duration::seconds(1));
        app.jobs.run_all_once().await;
    }
    clock.set(at("2026-03-09T14:31:00Z"));
    app.jobs.run_all_once().await;

    let path = "/api/intraday/bars?symbol=spy&since=2026-03-09T14:00:00Z";
    let (status, body) = get(&app, path, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["type"], "intraday_bars");
    assert!(body["seq"].as_u64().is_some_and(|s| s >= 1));
    let bars = body["data"]["bars"].as_array().expect("bars");
    assert_eq!(bars.len(), 1, "{body}");
    let bar = &bars[0];
    assert_eq!(bar["symbol"], "SPY");
    assert_eq!(bar["timestamp_minute"], "2026-03-09T14:30:00Z");
    assert_eq!(bar["trades"], 4, "ticks at :10, :11, :12 and :13");
    let (o, h, l, c) = (
        bar["open"].as_f64().expect("o"),
        bar["high"].as_f64().expect("h"),
        bar["low"].as_f64().expect("l"),
        bar["close"].as_f64().expect("c"),
    );
    assert!(l <= o.min(c) && h >= o.max(c));
    app.stop().await;

    // Same database, new run: the stored bar is still served.
    let settings = common::test_settings(data.path());
    let clock = Arc::new(ManualClock::new(at("2026-03-09T14:40:00Z")));
    let app = common::start_with_clock(settings, tempfile::tempdir().expect("dir"), clock).await;
    let (_, body) = get(&app, path, None).await;
    let bars = body["data"]["bars"].as_array().expect("bars");
    assert_eq!(
        bars.first().map(|b| b["timestamp_minute"].clone()),
        Some(json!("2026-03-09T14:30:00Z"))
    );
    app.stop().await;
}

#[tokio::test]
async fn the_bar_still_forming_moves_each_second_and_the_vwap_line_starts_from_the_session() {
    let (app, clock) = app_at("2026-03-09T14:30:10Z").await;
    for _ in 0..3 {
        clock.advance(chrono::Duration::seconds(1));
        app.jobs.run_all_once().await;
    }
    clock.set(at("2026-03-09T14:31:00Z"));
    app.jobs.run_all_once().await;
    let (_, first) = get(
        &app,
        "/api/intraday/bars?symbol=SPY&since=2026-03-09T14:31:00Z",
        None,
    )
    .await;
    assert_eq!(first["data"]["bars"].as_array().map(Vec::len), Some(0));
    let forming = &first["data"]["forming"];
    assert_eq!(
        forming["timestamp_minute"], "2026-03-09T14:31:00Z",
        "{first}"
    );
    assert_eq!(forming["trades"], 1);
    // The 14:30 bar traded before `since`: it is the session so far, for the VWAP line.
    let before = &first["data"]["before"];
    let (_, all) = get(
        &app,
        "/api/intraday/bars?symbol=SPY&since=2026-03-09T14:00:00Z",
        None,
    )
    .await;
    let bar = &all["data"]["bars"][0];
    assert_eq!(before["volume"], bar["volume"]);
    let pv = bar["vwap"].as_f64().expect("vwap") * bar["volume"].as_f64().expect("volume");
    assert!(
        (before["pv"].as_f64().expect("pv") - pv).abs() < 1e-6,
        "{before} vs {bar}"
    );
    assert_eq!(
        all["data"]["before"]["volume"], 0,
        "nothing traded before 14:00"
    );
    // A page that already draws the line asks without it: same bars, no session sum.
    let (_, lean) = get(
        &app,
        "/api/intraday/bars?symbol=SPY&since=2026-03-09T14:00:00Z&session=false",
        None,
    )
    .await;
    assert_eq!(lean["data"]["bars"], all["data"]["bars"]);
    assert!(lean["data"].get("before").is_none(), "{lean}");

    clock.advance(chrono::Duration::seconds(1));
    app.jobs.run_all_once().await;
    let (_, later) = get(
        &app,
        "/api/intraday/bars?symbol=SPY&since=2026-03-09T14:31:00Z",
        None,
    )
    .await;
    assert_eq!(
        later["data"]["forming"]["trades"], 2,
        "the forming bar took the next tick"
    );
    assert_eq!(
        later["seq"], first["seq"],
        "the seq counts closed bars only: parity compares those"
    );
    app.stop().await;
}

#[tokio::test]
async fn bad_bar_queries_are_400_with_a_reason() {
    let (app, _clock) = app_at("2026-03-09T14:30:10Z").await;
    for (path, says) in [
        ("/api/intraday/bars", "symbol"),
        ("/api/intraday/bars?symbol=", "symbol"),
        ("/api/intraday/bars?symbol=NOPE", "unknown symbol"),
        ("/api/intraday/bars?symbol=SPY&since=yesterday", "RFC 3339"),
        (
            "/api/intraday/bars?symbol=SPY&since=2026-13-40T00:00:00Z",
            "RFC 3339",
        ),
    ] {
        let (status, body) = get(&app, path, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{path}: {message}");
    }
    app.stop().await;
}

#[tokio::test]
async fn without_since_the_last_two_hours_of_bars_are_served() {
    let (app, clock) = app_at("2026-03-09T14:30:10Z").await;
    clock.set(at("2026-03-09T14:31:00Z"));
    app.jobs.run_all_once().await;
    let (status, body) = get(&app, "/api/intraday/bars?symbol=MSFT", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["since"], "2026-03-09T12:31:00Z");
    assert_eq!(body["data"]["bars"].as_array().map(Vec::len), Some(1));
    app.stop().await;
}

#[tokio::test]
async fn a_database_that_stops_answering_is_a_503_not_a_crash() {
    let (app, _clock) = app_at("2026-03-09T14:30:10Z").await;
    let demo = common::sign_in(&app, "demo").await;
    app.db.close().await;
    let (status, body) = get(&app, "/api/intraday/bars?symbol=SPY", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"]["code"], "unavailable");
    let (status, _) = get(&app, "/api/account/balance", Some(&demo)).await;
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "the session cannot be checked"
    );
    // What needs no database still answers.
    let (status, _) = get(&app, "/api/global-markets/status", None).await;
    assert_eq!(status, StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn market_status_is_served_for_the_clocks_instant() {
    // Monday 2026-03-09 10:00 in New York (EDT since the day before): NYSE is open.
    let (app, _clock) = app_at("2026-03-09T14:00:00Z").await;
    let (status, body) = get(&app, "/api/global-markets/status", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["type"], "market_status");
    assert_eq!(body["data"]["as_of"], "2026-03-09T14:00:00Z");
    let markets = body["data"]["markets"].as_array().expect("markets");
    assert!(markets.len() >= 10);
    let nyse = markets
        .iter()
        .find(|m| m["code"] == "XNYS")
        .expect("NYSE is listed");
    assert_eq!(nyse["status"], "OPEN");
    assert_eq!(nyse["next_event"], "close");
    assert_eq!(nyse["next_event_at"], "2026-03-09T20:00:00Z");
    app.stop().await;
}

#[tokio::test]
async fn the_jobs_report_their_cadence_and_runs() {
    let (app, _clock) = app_at("2026-03-09T14:30:10Z").await;
    let demo = common::sign_in(&app, "demo").await;
    for cookie in [None, Some(demo.as_str())] {
        let (status, _) = get(&app, "/api/jobs", cookie).await;
        assert!(
            [StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN].contains(&status),
            "a job's last error can name an account: operators only, not {status}"
        );
    }
    let ops = common::sign_in(&app, "ops").await;
    let (status, body) = get(&app, "/api/jobs", Some(&ops)).await;
    assert_eq!(status, StatusCode::OK);
    let jobs = body["jobs"].as_array().expect("jobs");
    let cadence = |name: &str| {
        jobs.iter()
            .find(|j| j["name"] == name)
            .and_then(|j| j["cadence_ms"].as_u64())
    };
    assert_eq!(cadence("account_balance"), Some(10_000));
    assert_eq!(cadence("positions"), Some(10_000));
    assert_eq!(cadence("global_market"), Some(10_000));
    assert_eq!(cadence("intraday"), Some(1_000));
    assert_eq!(
        cadence("heartbeat"),
        Some(100),
        "the test settings' heartbeat"
    );
    for job in jobs {
        assert!(job["runs"].as_u64().is_some_and(|r| r >= 1), "{job}");
        assert_eq!(job["last_error"], Value::Null, "{job}");
    }
    app.stop().await;
}

/// Messages a socket receives until the heartbeat published after `marker_tick` arrives.
async fn messages_until_heartbeat(
    socket: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    after_seq: u64,
) -> Vec<Envelope> {
    let mut seen = Vec::new();
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("a message within 5 s")
            .expect("open")
            .expect("readable");
        let Message::Text(text) = message else {
            continue;
        };
        let envelope: Envelope = serde_json::from_str(text.as_str()).expect("envelope");
        if matches!(envelope.message, ServerMessage::Heartbeat(_)) && envelope.seq > after_seq {
            return seen;
        }
        seen.push(envelope);
    }
}

#[tokio::test]
async fn a_traders_socket_carries_their_account_and_nobody_elses() {
    let (app, _clock) = app_at("2026-03-09T14:30:10Z").await;
    let demo = common::sign_in(&app, "demo").await;
    let (_, own) = get(&app, "/api/account/balance", Some(&demo)).await;
    let own_id = own["data"]["account_id"].as_i64().expect("id");

    let demo2 = common::sign_in(&app, "demo2").await;
    let (_, theirs) = get(&app, "/api/account/balance", Some(&demo2)).await;
    let their_id = theirs["data"]["account_id"].as_i64().expect("id");
    assert_ne!(own_id, their_id);
    let ops = common::sign_in(&app, "ops").await;
    let mut demo_socket = common::ws_connect(&app, &demo, "").await;
    let mut demo2_socket = common::ws_connect(&app, &demo2, "").await;
    let mut operator = common::ws_connect(&app, &ops, "").await;
    let mark = app
        .hub
        .latest_seqs()
        .get(&app::protocol::Topic::Heartbeat)
        .copied()
        .unwrap_or(0);
    app.jobs.run_all_once().await;

    let seen = messages_until_heartbeat(&mut demo_socket, mark).await;
    let balances: Vec<i64> = seen
        .iter()
        .filter_map(|e| match &e.message {
            ServerMessage::AccountBalance(b) => Some(b.account_id),
            ServerMessage::Positions(p) => Some(p.account_id),
            ServerMessage::Orders(o) => Some(o.account_id),
            _ => None,
        })
        .collect();
    assert!(
        balances.len() >= 3,
        "the snapshot and the new round: {balances:?}"
    );
    assert!(balances.iter().all(|id| *id == own_id), "{balances:?}");

    let seen = messages_until_heartbeat(&mut demo2_socket, mark).await;
    let theirs: Vec<i64> = seen
        .iter()
        .filter_map(|e| match &e.message {
            ServerMessage::AccountBalance(b) => Some(b.account_id),
            ServerMessage::Positions(p) => Some(p.account_id),
            ServerMessage::Orders(o) => Some(o.account_id),
            _ => None,
        })
        .collect();
    assert!(theirs.len() >= 3, "{theirs:?}");
    assert!(theirs.iter().all(|id| *id == their_id), "{theirs:?}");

    let seen = messages_until_heartbeat(&mut operator, mark).await;
    assert!(
        seen.iter().all(|e| !matches!(
            e.message,
            ServerMessage::AccountBalance(_)
                | ServerMessage::Positions(_)
                | ServerMessage::Orders(_)
        )),
        "an operator without an account sees no account"
    );
    assert!(
        seen.iter()
            .any(|e| matches!(e.message, ServerMessage::MarketStatus(_)))
    );
    app.stop().await;
}
