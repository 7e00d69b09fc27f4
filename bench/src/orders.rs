//! `--suite orders`: paper orders through a real thor's API, as the demo trader.
//!
//! - **From the click to the fill on a page**: a socket open as the trader (what a page holds);
//!   `--order-fills` market buys of one IWM, one after another, each clicked at a different
//!   point of the second (spread evenly over it: a trader does not click in step with the
//!   simulator) and timed from the `POST` to the first `orders` message on the socket that shows
//!   it filled. A market order fills on its symbol's next trade, and the simulator trades once a
//!   second, so most of this is the wait for that trade (0–1 s); the rest is the fill and its
//!   push.
//! - **Placed per second**: `--order-clients` concurrent clients each place a resting limit buy
//!   (one share at $0.01, which never fills) and cancel it, over and over for `--seconds`:
//!   orders placed (and cancelled) per second and each `POST`'s latency.
//! - **Filled per second**: `--order-batch` market buys placed at once, filled by the next trades;
//!   the intraday job's longest run around then (`/api/jobs`) is the time the fills took, with
//!   the second's bars and pushes.

use crate::stats::percentile;
use crate::{Args, Kind, Server, clients};
use anyhow::{Context, Result, anyhow, bail};
use futures::StreamExt;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

pub(crate) async fn run(args: &Args) -> Result<()> {
    let bin = crate::built_thor(args)?;
    eprintln!("{}", crate::machine_line());
    let mut server = Server::start(Kind::Thor, bin, 0).await?;
    let result = measure(args, &server).await;
    server.stop().await?;
    let report = result?;
    println!("| measure | orders | figure |");
    println!("|---|---:|---|");
    println!(
        "| click to fill on the page's socket (market buy, 1 share) | {} | p50 {} ms, p99 {} ms, max {} ms |",
        report.click_to_fill.len(),
        ms(&report.click_to_fill, 50.0),
        ms(&report.click_to_fill, 99.0),
        ms(&report.click_to_fill, 100.0)
    );
    println!(
        "| placed and cancelled ({} clients, {} s, limit orders) | {} | {:.0} orders/s; POST p50 {} ms, p99 {} ms |",
        args.order_clients,
        args.seconds,
        report.placed.len(),
        report.placed.len() as f64 / report.placing_secs,
        ms(&report.placed, 50.0),
        ms(&report.placed, 99.0)
    );
    println!(
        "| filled by one second's trades (placed at once) | {} | intraday job {:.1} ms: {:.0} fills/s |",
        report.batch_filled,
        report.fill_ms,
        report.batch_filled as f64 / (report.fill_ms / 1000.0)
    );
    Ok(())
}

struct Report {
    /// Microseconds, sorted.
    click_to_fill: Vec<u32>,
    placed: Vec<u32>,
    placing_secs: f64,
    batch_filled: usize,
    fill_ms: f64,
}

fn ms(sorted: &[u32], p: f64) -> String {
    percentile(sorted, p).map_or("—".into(), |us| format!("{:.1}", f64::from(us) / 1000.0))
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

async fn place(server: &Server, token: &str, order: &Value) -> Result<Value> {
    let response = server
        .http
        .post(format!("http://{}/api/orders", server.addr))
        .header("cookie", format!("thor_session={token}"))
        .json(order)
        .send()
        .await
        .context("POST /api/orders")?;
    let status = response.status();
    let body: Value = response.json().await.context("the order's answer")?;
    if !status.is_success() {
        bail!("POST /api/orders answered {status}: {body}");
    }
    Ok(body)
}

fn market_buy(key: &str) -> Value {
    json!({"symbol": "IWM", "side": "buy", "quantity": 1, "type": "market",
           "time_in_force": "gtc", "client_order_id": key})
}

/// Whether `text` is an `orders` message showing order `id` filled.
fn shows_filled(text: &str, id: i64) -> bool {
    let Ok(message) = serde_json::from_str::<Value>(text) else {
        return false;
    };
    message["type"] == "orders"
        && message["data"]["finished"].as_array().is_some_and(|list| {
            list.iter()
                .any(|o| o["id"].as_i64() == Some(id) && o["status"] == "filled")
        })
}

async fn measure(args: &Args, server: &Server) -> Result<Report> {
    let token = server.sign_in().await?;
    let mut socket = clients::open(server.addr, Some(&token)).await?;

    let mut click_to_fill = Vec::new();
    for i in 0..args.order_fills {
        // The next click at i/n of the way into a second after the last fill was seen.
        let phase = (i as u64 * 1_000) / args.order_fills.max(1) as u64;
        tokio::time::sleep(Duration::from_millis(phase)).await;
        let clicked = Instant::now();
        let placed = place(server, &token, &market_buy(&format!("fill-{i}"))).await?;
        let id = placed["id"]
            .as_i64()
            .ok_or_else(|| anyhow!("no order id"))?;
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(5), socket.next())
                .await
                .map_err(|_| anyhow!("order {id} not filled on the socket within 5 s"))?
                .ok_or_else(|| anyhow!("the socket closed"))??;
            if let Message::Text(text) = frame
                && shows_filled(text.as_str(), id)
            {
                click_to_fill.push(micros(clicked.elapsed()));
                break;
            }
        }
    }
    drop(socket);
    click_to_fill.sort_unstable();

    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.order_clients {
        let (stop, next, token) = (stop.clone(), next.clone(), token.clone());
        let http = server.http.clone();
        let url = format!("http://{}/api/orders", server.addr);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let key = format!("rest-{}", next.fetch_add(1, Ordering::Relaxed));
                let order = json!({"symbol": "SPY", "side": "buy", "quantity": 1, "type": "limit",
                    "limit_price": 0.01, "time_in_force": "gtc", "client_order_id": key});
                let sent = Instant::now();
                let answer = http
                    .post(&url)
                    .header("cookie", format!("thor_session={token}"))
                    .json(&order)
                    .send()
                    .await;
                let placed: Value = match answer {
                    Ok(r) if r.status().is_success() => {
                        latencies.push(micros(sent.elapsed()));
                        r.json()
                            .await
                            .map_err(|e| anyhow!("an order's answer: {e}"))?
                    }
                    Ok(r) => return Err(anyhow!("an order was refused: {}", r.status())),
                    Err(e) => return Err(anyhow!("an order failed: {e}")),
                };
                let id = placed["id"]
                    .as_i64()
                    .ok_or_else(|| anyhow!("no order id"))?;
                let cancelled = http
                    .delete(format!("{url}/{id}"))
                    .header("cookie", format!("thor_session={token}"))
                    .send()
                    .await
                    .map_err(|e| anyhow!("a cancel failed: {e}"))?;
                if !cancelled.status().is_success() {
                    return Err(anyhow!("a cancel was refused: {}", cancelled.status()));
                }
            }
            Ok(latencies)
        }));
    }
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut placed = Vec::new();
    for task in tasks {
        placed.extend(task.await.context("a placing client panicked")??);
    }
    let placing_secs = started.elapsed().as_secs_f64();
    placed.sort_unstable();

    // A batch of market buys at once, then the second that fills them.
    let batch = futures::future::join_all((0..args.order_batch).map(|i| {
        let order = market_buy(&format!("batch-{i}"));
        let token = &token;
        async move { place(server, token, &order).await }
    }))
    .await;
    let batch_filled = batch.iter().filter(|r| r.is_ok()).count();
    if let Some(Err(e)) = batch.into_iter().find(|r| r.is_err()) {
        bail!("the batch was refused: {e:#}");
    }
    let fill_ms = fill_duration(server, &token).await?;
    Ok(Report {
        click_to_fill,
        placed,
        placing_secs,
        batch_filled,
        fill_ms,
    })
}

/// Waits until no market buy is open (and a second more), sampling the intraday job's last
/// duration (`/api/jobs`, as the operator) every 50 ms: the longest is the second that filled.
async fn fill_duration(server: &Server, token: &str) -> Result<f64> {
    let operator = server.sign_in_as("ops").await?;
    let get = |path: &'static str, token: String| async move {
        server
            .http
            .get(format!("http://{}{path}", server.addr))
            .header("cookie", format!("thor_session={token}"))
            .send()
            .await
            .with_context(|| format!("GET {path}"))?
            .json::<Value>()
            .await
            .with_context(|| format!("the answer of {path}"))
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut filled_at = None;
    let mut longest: f64 = 0.0;
    loop {
        let jobs = get("/api/jobs", operator.clone()).await?;
        if let Some(ms) = jobs["jobs"]
            .as_array()
            .and_then(|jobs| jobs.iter().find(|j| j["name"] == "intraday"))
            .and_then(|j| j["last_duration_ms"].as_f64())
        {
            longest = longest.max(ms);
        }
        match filled_at {
            Some(at) if Instant::now() >= at + Duration::from_millis(1_100) => return Ok(longest),
            Some(_) => {}
            None => {
                let orders = get("/api/orders", token.to_string()).await?;
                let market_open = orders["data"]["open"]
                    .as_array()
                    .is_some_and(|open| open.iter().any(|o| o["type"] == "market"));
                if !market_open {
                    filled_at = Some(Instant::now());
                }
            }
        }
        if Instant::now() > deadline {
            bail!("the batch did not fill within 10 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
