//! Paper orders against the real server, with a clock the test moves (each step of it one second
//! of trading): every order rule and its error, idempotent retries, concurrent orders against
//! the buying power, fills pushed at once, fills across a restart, a cancel racing a fill, day
//! orders ending with their session, and one trader's orders out of every other's sight. Each
//! scenario takes the database to run on, so `postgres.rs` runs the same ones on PostgreSQL.

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

/// A server on `database` (a fresh SQLite file when `None`) with its clock at `instant`.
async fn desk(
    database: &Option<DatabaseUrl>,
    data: &std::path::Path,
    instant: &str,
) -> (common::TestApp, Arc<ManualClock>) {
    let mut settings = common::test_settings(data);
    if let Some(url) = database {
        settings.storage.database_url = Some(url.clone());
    }
    let clock = Arc::new(ManualClock::new(at(instant)));
    let app =
        common::start_with_clock(settings, tempfile::tempdir().expect("dir"), clock.clone()).await;
    (app, clock)
}

/// One second of trading: the clock moves and every job runs (the intraday job fills).
async fn trade_a_second(app: &common::TestApp, clock: &ManualClock) {
    clock.advance(chrono::Duration::seconds(1));
    app.jobs.run_all_once().await;
}

async fn send(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.expect("request");
    let status = response.status();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

async fn get(app: &common::TestApp, path: &str, cookie: &str) -> (StatusCode, Value) {
    send(
        reqwest::Client::new()
            .get(app.url(path))
            .header("cookie", cookie),
    )
    .await
}

async fn place(app: &common::TestApp, cookie: &str, order: &Value) -> (StatusCode, Value) {
    send(
        reqwest::Client::new()
            .post(app.url("/api/orders"))
            .header("cookie", cookie)
            .json(order),
    )
    .await
}

async fn cancel(app: &common::TestApp, cookie: &str, id: &Value) -> (StatusCode, Value) {
    send(
        reqwest::Client::new()
            .delete(app.url(&format!("/api/orders/{id}")))
            .header("cookie", cookie),
    )
    .await
}

fn order(symbol: &str, side: &str, quantity: i64, limit: Option<f64>, key: &str) -> Value {
    let mut order = json!({
        "symbol": symbol, "side": side, "quantity": quantity,
        "type": if limit.is_some() { "limit" } else { "market" },
        "time_in_force": "gtc", "client_order_id": key,
    });
    if let Some(price) = limit {
        order["limit_price"] = json!(price);
    }
    order
}

fn message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or("")
}

/// The account's cash, buying power and holdings (symbol → quantity), as REST answers now.
async fn account(app: &common::TestApp, cookie: &str) -> (f64, f64, Vec<(String, i64)>) {
    let (_, balance) = get(app, "/api/account/balance", cookie).await;
    let (_, positions) = get(app, "/api/positions", cookie).await;
    let holdings = positions["data"]["positions"]
        .as_array()
        .expect("positions")
        .iter()
        .map(|p| {
            (
                p["symbol"].as_str().expect("symbol").to_string(),
                p["quantity"].as_i64().expect("quantity"),
            )
        })
        .collect();
    (
        balance["data"]["cash"].as_f64().expect("cash"),
        balance["data"]["buying_power"]
            .as_f64()
            .expect("buying power"),
        holdings,
    )
}

fn held(holdings: &[(String, i64)], symbol: &str) -> i64 {
    holdings
        .iter()
        .find(|(s, _)| s == symbol)
        .map_or(0, |(_, q)| *q)
}

/// The account's orders as REST answers: (open, finished).
async fn orders(app: &common::TestApp, cookie: &str) -> (Vec<Value>, Vec<Value>) {
    let (status, body) = get(app, "/api/orders", cookie).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["type"], "orders");
    let list = |key: &str| body["data"][key].as_array().cloned().expect("a list");
    (list("open"), list("finished"))
}

#[tokio::test]
async fn every_order_rule_refuses_with_its_reason_and_changes_nothing() {
    order_rules(None).await;
}

pub async fn order_rules(database: Option<DatabaseUrl>) {
    let data = tempfile::tempdir().expect("dir");
    let (app, _clock) = desk(&database, data.path(), "2026-03-09T14:30:10Z").await;
    let demo = common::sign_in(&app, "demo").await;
    let before = account(&app, &demo).await;
    let refusals = [
        // Checked at the edge.
        (json!({"symbol": "SPY"}), 400, "missing field"),
        (order("SPY", "buy", 0, None, "k1"), 400, "1 to 1000000"),
        (
            json!({"symbol": "SPY", "side": "buy", "quantity": 2.5, "type": "market", "client_order_id": "k2"}),
            400,
            "whole number of shares",
        ),
        (
            order("SPY", "buy", 1, Some(600.001), "k3"),
            400,
            "whole number of cents",
        ),
        (
            json!({"symbol": "SPY", "side": "buy", "quantity": 1, "type": "market", "limit_price": 5, "client_order_id": "k4"}),
            400,
            "takes no limit_price",
        ),
        (
            order("SPY", "buy", 1, None, "has space"),
            400,
            "client_order_id",
        ),
        // Checked against the desk and the account.
        (order("ZZZZ", "buy", 1, None, "k5"), 400, "not traded here"),
        (
            order("SPY", "buy", 1000, Some(600.0), "k6"),
            409,
            "not enough buying power",
        ),
        (
            order("SPY", "sell", 101, None, "k7"),
            409,
            "no short selling",
        ),
        (order("QQQ", "sell", 1, None, "k8"), 409, "not enough QQQ"),
    ];
    for (body, status, words) in &refusals {
        let (got, answer) = place(&app, &demo, body).await;
        assert_eq!(got.as_u16(), *status, "{body}: {answer}");
        assert!(message(&answer).contains(words), "{body}: {answer}");
    }
    let (got, answer) = send(
        reqwest::Client::new()
            .post(app.url("/api/orders"))
            .header("cookie", &demo)
            .header("content-type", "application/json")
            .body("{not json"),
    )
    .await;
    assert_eq!(got, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(
        account(&app, &demo).await,
        before,
        "nothing was held or spent"
    );
    let (open, finished) = orders(&app, &demo).await;
    assert!(
        open.is_empty() && finished.is_empty(),
        "{open:?} {finished:?}"
    );

    // Who may ask: nobody signed out, no operator (no account), nobody for another's order.
    let (got, _) = place(
        &app,
        "thor_session=nobody",
        &order("SPY", "buy", 1, None, "x"),
    )
    .await;
    assert_eq!(got, StatusCode::UNAUTHORIZED);
    let ops = common::sign_in(&app, "ops").await;
    let (got, answer) = place(&app, &ops, &order("SPY", "buy", 1, None, "x")).await;
    assert_eq!(got, StatusCode::NOT_FOUND, "{answer}");
    assert!(message(&answer).contains("no paper account"), "{answer}");
    let (got, placed) = place(&app, &demo, &order("SPY", "buy", 1, Some(1.0), "mine")).await;
    assert_eq!(got, StatusCode::CREATED, "{placed}");
    let demo2 = common::sign_in(&app, "demo2").await;
    let (got, answer) = cancel(&app, &demo2, &placed["id"]).await;
    assert_eq!(
        got,
        StatusCode::NOT_FOUND,
        "another trader's order is not theirs: {answer}"
    );
    let (got, _) = cancel(&app, &demo, &json!("abc")).await;
    assert_eq!(got, StatusCode::NOT_FOUND);
    let (theirs, _) = orders(&app, &demo2).await;
    assert!(
        theirs.is_empty(),
        "demo2 sees none of demo's orders: {theirs:?}"
    );

    // A key already used for another order is refused; the order stands.
    let (got, answer) = place(&app, &demo, &order("SPY", "buy", 2, Some(1.0), "mine")).await;
    assert_eq!(got, StatusCode::CONFLICT, "{answer}");
    assert!(message(&answer).contains("new key"), "{answer}");
    // Cancelled once; not twice.
    let (got, cancelled) = cancel(&app, &demo, &placed["id"]).await;
    assert_eq!(
        (got, &cancelled["status"]),
        (StatusCode::OK, &json!("cancelled"))
    );
    let (got, answer) = cancel(&app, &demo, &placed["id"]).await;
    assert_eq!(got, StatusCode::CONFLICT, "{answer}");
    assert!(message(&answer).contains("cancelled already"), "{answer}");
    assert_eq!(
        account(&app, &demo).await,
        before,
        "the cancel released the hold"
    );

    // At most 100 open orders an account; a cancel makes room again.
    let resting = |i: usize| order("SPY", "buy", 1, Some(0.01), &format!("cap-{i}"));
    let mut first = Value::Null;
    for i in 0..100 {
        let (got, placed) = place(&app, &demo, &resting(i)).await;
        assert_eq!(got, StatusCode::CREATED, "order {i}: {placed}");
        if i == 0 {
            first = placed["id"].clone();
        }
    }
    let (got, answer) = place(&app, &demo, &resting(100)).await;
    assert_eq!(got, StatusCode::CONFLICT, "{answer}");
    assert!(message(&answer).contains("100 orders are open"), "{answer}");
    let (got, again) = place(&app, &demo, &resting(99)).await;
    assert_eq!(
        got,
        StatusCode::OK,
        "a retry of an open order is still its order: {again}"
    );
    cancel(&app, &demo, &first).await;
    let (got, answer) = place(&app, &demo, &resting(100)).await;
    assert_eq!(got, StatusCode::CREATED, "{answer}");
    app.stop().await;
}

#[tokio::test]
async fn a_retried_order_is_one_order() {
    retried_orders(None).await;
}

pub async fn retried_orders(database: Option<DatabaseUrl>) {
    let data = tempfile::tempdir().expect("dir");
    let (app, _clock) = desk(&database, data.path(), "2026-03-09T14:30:10Z").await;
    let demo = common::sign_in(&app, "demo").await;
    let (cash, power, _) = account(&app, &demo).await;
    let ticket = order("AAPL", "buy", 10, Some(100.0), "click-1");
    // A double click and three retries, all at once.
    let answers = futures::future::join_all((0..5).map(|_| place(&app, &demo, &ticket))).await;
    let created = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1, "{answers:?}");
    assert!(answers.iter().all(|(s, _)| s.is_success()), "{answers:?}");
    let ids: Vec<&Value> = answers.iter().map(|(_, b)| &b["id"]).collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "one order: {ids:?}");
    let (open, _) = orders(&app, &demo).await;
    assert_eq!(open.len(), 1, "{open:?}");
    let (cash_now, power_now, _) = account(&app, &demo).await;
    assert_eq!(cash_now, cash);
    assert_eq!(power_now, power - 1_000.0, "held once: 10 × $100");
    app.stop().await;
}

#[tokio::test]
async fn fifty_concurrent_orders_fill_exactly_up_to_the_buying_power() {
    concurrent_orders(None).await;
}

pub async fn concurrent_orders(database: Option<DatabaseUrl>) {
    let data = tempfile::tempdir().expect("dir");
    let (app, clock) = desk(&database, data.path(), "2026-03-09T14:30:10Z").await;
    let demo = common::sign_in(&app, "demo").await;
    let (cash, power, holdings) = account(&app, &demo).await;
    assert_eq!((cash, power), (50_000.0, 50_000.0));
    // 50 buys of 2 SPY with a limit of $1,000 (above the market: each fills at the next trade)
    // hold $2,000 each: $100,000 asked of $50,000.
    let answers = futures::future::join_all((0..50).map(|i| {
        let demo = demo.clone();
        let app = &app;
        async move {
            place(
                app,
                &demo,
                &order("SPY", "buy", 2, Some(1_000.0), &format!("c{i}")),
            )
            .await
        }
    }))
    .await;
    let placed = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    let refused: Vec<&Value> = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::CONFLICT)
        .map(|(_, body)| body)
        .collect();
    let statuses: Vec<u16> = answers.iter().map(|(s, _)| s.as_u16()).collect();
    assert_eq!((placed, refused.len()), (25, 25), "{statuses:?}");
    assert!(
        refused
            .iter()
            .all(|b| message(b).contains("not enough buying power")),
        "{refused:?}"
    );
    trade_a_second(&app, &clock).await;
    let (open, finished) = orders(&app, &demo).await;
    assert!(open.is_empty(), "every placed order filled: {open:?}");
    assert_eq!(finished.len(), 25);
    let spent: f64 = finished
        .iter()
        .map(|o| {
            assert_eq!(o["status"], "filled", "{o}");
            2.0 * o["fill_price"].as_f64().expect("fill price")
        })
        .sum();
    let (cash_after, power_after, holdings_after) = account(&app, &demo).await;
    assert!(
        (cash_after - (cash - spent)).abs() < 0.005,
        "{cash_after} {spent}"
    );
    assert!(cash_after >= 0.0);
    assert_eq!(power_after, cash_after, "nothing is held any more");
    assert_eq!(held(&holdings_after, "SPY"), held(&holdings, "SPY") + 50);
    app.stop().await;
}

/// What `socket` receives until the next heartbeat published from now (every 100 ms in tests):
/// everything pushed before it.
async fn received(app: &common::TestApp, socket: &mut common::Socket) -> Vec<Envelope> {
    let mark = app
        .hub
        .latest_seqs()
        .get(&app::protocol::Topic::Heartbeat)
        .copied()
        .unwrap_or(0);
    let mut seen = Vec::new();
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("a message within 5 s")
            .expect("open")
            .expect("readable");
        let Message::Text(text) = frame else { continue };
        let envelope: Envelope = serde_json::from_str(text.as_str()).expect("envelope");
        if matches!(envelope.message, ServerMessage::Heartbeat(_)) && envelope.seq > mark {
            return seen;
        }
        seen.push(envelope);
    }
}

#[tokio::test]
async fn a_fill_changes_cash_positions_and_orders_at_once_on_the_socket() {
    let data = tempfile::tempdir().expect("dir");
    let (app, clock) = desk(&None, data.path(), "2026-03-09T14:30:10Z").await;
    let demo = common::sign_in(&app, "demo").await;
    let demo2 = common::sign_in(&app, "demo2").await;
    let (cash, _, holdings) = account(&app, &demo).await;
    let mut socket = common::ws_connect(&app, &demo, "").await;
    let mut other = common::ws_connect(&app, &demo2, "").await;
    received(&app, &mut socket).await;
    received(&app, &mut other).await;

    // A market buy, and a limit sell far above the market (it stays open).
    let (status, bought) = place(&app, &demo, &order("AAPL", "buy", 10, None, "m1")).await;
    assert_eq!(status, StatusCode::CREATED, "{bought}");
    let (status, resting) =
        place(&app, &demo, &order("MSFT", "sell", 5, Some(9_999.0), "l1")).await;
    assert_eq!(status, StatusCode::CREATED, "{resting}");
    let placed = received(&app, &mut socket).await;
    let open_now = placed.iter().rev().find_map(|e| match &e.message {
        ServerMessage::Orders(o) => Some(o.open.len()),
        _ => None,
    });
    assert_eq!(open_now, Some(2), "the placed orders are pushed as placed");

    // The next second's trade fills the market order; the fill is pushed at once, not at the
    // next 10 s round (the test's clock moves one second; no balance round falls due).
    trade_a_second(&app, &clock).await;
    let seen = received(&app, &mut socket).await;
    let pushed_orders = seen
        .iter()
        .rev()
        .find_map(|e| match &e.message {
            ServerMessage::Orders(o) => Some(o.clone()),
            _ => None,
        })
        .expect("orders pushed");
    let fill = pushed_orders
        .finished
        .iter()
        .find(|o| o.client_order_id == "m1")
        .expect("the market order filled");
    let price = fill.fill_price.expect("a fill price");
    assert_eq!(pushed_orders.open.len(), 1, "the limit sell rests");
    let balance = seen
        .iter()
        .rev()
        .find_map(|e| match &e.message {
            ServerMessage::AccountBalance(b) => Some(b.clone()),
            _ => None,
        })
        .expect("balance pushed with the fill");
    assert!(
        (balance.cash - (cash - 10.0 * price)).abs() < 0.005,
        "{balance:?}"
    );
    let positions = seen
        .iter()
        .rev()
        .find_map(|e| match &e.message {
            ServerMessage::Positions(p) => Some(p.clone()),
            _ => None,
        })
        .expect("positions pushed with the fill");
    let aapl = positions
        .positions
        .iter()
        .find(|p| p.symbol == "AAPL")
        .expect("AAPL");
    assert_eq!(aapl.quantity, held(&holdings, "AAPL") + 10);
    // The average entry: 50 at $228.00 and 10 at the fill.
    let average = ((50.0 * 228.0 + 10.0 * price) / 60.0 * 100.0).trunc() / 100.0;
    assert!(
        (aapl.entry_price - average).abs() < 0.011,
        "{aapl:?} {average}"
    );

    // Nothing of it reached the other trader.
    let theirs = received(&app, &mut other).await;
    assert!(
        theirs.iter().all(|e| match &e.message {
            ServerMessage::Orders(o) => o.open.is_empty() && o.finished.is_empty(),
            ServerMessage::AccountBalance(b) => b.account_number == "THOR-10002",
            ServerMessage::Positions(p) => p.positions.iter().all(|p| p.symbol != "AAPL"),
            _ => true,
        }),
        "{theirs:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn fills_and_open_orders_survive_a_restart() {
    fills_survive_a_restart(None).await;
}

pub async fn fills_survive_a_restart(database: Option<DatabaseUrl>) {
    let data = tempfile::tempdir().expect("dir");
    let (app, clock) = desk(&database, data.path(), "2026-03-09T14:30:10Z").await;
    let demo = common::sign_in(&app, "demo").await;
    place(&app, &demo, &order("SPY", "sell", 40, None, "s1")).await;
    let (status, resting) = place(&app, &demo, &order("MSFT", "buy", 3, Some(1.0), "r1")).await;
    assert_eq!(status, StatusCode::CREATED, "{resting}");
    trade_a_second(&app, &clock).await;
    let before = account(&app, &demo).await;
    assert_eq!(held(&before.2, "SPY"), 60);
    let (open_before, finished_before) = orders(&app, &demo).await;
    app.stop().await;

    let (app, _clock) = desk(&database, data.path(), "2026-03-09T14:30:20Z").await;
    let demo = common::sign_in(&app, "demo").await;
    assert_eq!(
        account(&app, &demo).await,
        before,
        "cash, holds and holdings are kept"
    );
    let (open, finished) = orders(&app, &demo).await;
    assert_eq!(open, open_before, "the resting order is still open");
    assert_eq!(finished, finished_before, "today's fill is still shown");
    let (status, cancelled) = cancel(&app, &demo, &resting["id"]).await;
    assert_eq!(
        (status, &cancelled["status"]),
        (StatusCode::OK, &json!("cancelled"))
    );
    app.stop().await;
}

#[tokio::test]
async fn a_cancel_racing_a_fill_has_exactly_one_winner() {
    cancel_races_fill(None).await;
}

pub async fn cancel_races_fill(database: Option<DatabaseUrl>) {
    let data = tempfile::tempdir().expect("dir");
    let (app, clock) = desk(&database, data.path(), "2026-03-09T14:30:10Z").await;
    let demo = common::sign_in(&app, "demo").await;
    let (cash, _, holdings) = account(&app, &demo).await;
    let mut ids = Vec::new();
    for i in 0..20 {
        let (status, placed) =
            place(&app, &demo, &order("SPY", "buy", 1, None, &format!("r{i}"))).await;
        assert_eq!(status, StatusCode::CREATED, "{placed}");
        ids.push(placed["id"].clone());
    }
    // The fill pass and twenty cancels, at once.
    let cancels = futures::future::join_all(ids.iter().map(|id| cancel(&app, &demo, id)));
    let (answers, ()) = tokio::join!(cancels, trade_a_second(&app, &clock));
    let (open, finished) = orders(&app, &demo).await;
    assert!(open.is_empty(), "{open:?}");
    let mut filled = 0;
    let mut spent = 0.0;
    for ((status, answer), id) in answers.iter().zip(&ids) {
        let end = finished
            .iter()
            .find(|o| &o["id"] == id)
            .expect("every order ended");
        match end["status"].as_str() {
            Some("cancelled") => assert_eq!(*status, StatusCode::OK, "{answer}"),
            Some("filled") => {
                assert_eq!(*status, StatusCode::CONFLICT, "the cancel lost: {answer}");
                assert!(message(answer).contains("filled already"), "{answer}");
                filled += 1;
                spent += end["fill_price"].as_f64().expect("price");
            }
            other => panic!("order {id} ended {other:?}"),
        }
    }
    let (cash_after, power_after, holdings_after) = account(&app, &demo).await;
    assert!(
        (cash_after - (cash - spent)).abs() < 0.005,
        "{cash_after} {cash} {spent}"
    );
    assert_eq!(power_after, cash_after, "no hold is left behind");
    assert_eq!(
        held(&holdings_after, "SPY"),
        held(&holdings, "SPY") + filled
    );
    app.stop().await;
}

#[tokio::test]
async fn a_day_order_ends_with_its_day_and_a_gtc_order_does_not() {
    let data = tempfile::tempdir().expect("dir");
    let (app, clock) = desk(&None, data.path(), "2026-03-09T23:59:58Z").await;
    let demo = common::sign_in(&app, "demo").await;
    let mut day = order("SPY", "buy", 1, Some(1.0), "d1");
    day["time_in_force"] = json!("day");
    place(&app, &demo, &day).await;
    place(&app, &demo, &order("SPY", "buy", 1, Some(1.0), "g1")).await;
    let (_, power, _) = account(&app, &demo).await;
    assert_eq!(power, 50_000.0 - 2.0);
    trade_a_second(&app, &clock).await;
    let (open, _) = orders(&app, &demo).await;
    assert_eq!(open.len(), 2, "both rest until midnight: {open:?}");
    clock.set(at("2026-03-10T00:00:01Z"));
    app.jobs.run_all_once().await;
    let (open, finished) = orders(&app, &demo).await;
    assert_eq!(open.len(), 1);
    assert_eq!(open[0]["client_order_id"], "g1");
    assert_eq!(finished.len(), 1);
    assert_eq!(finished[0]["status"], "expired");
    assert!(
        finished[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("session")),
        "{finished:?}"
    );
    let (_, power, _) = account(&app, &demo).await;
    assert_eq!(
        power,
        50_000.0 - 1.0,
        "the expired order's hold is released"
    );
    app.stop().await;
}
