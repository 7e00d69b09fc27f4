//! `bare-rest`: the baseline `thor-bench --suite rest` measures thor's signed-in REST against.
//! The least an axum + sqlx JSON endpoint can be: `GET /api/account/balance` reads one row of an
//! SQLite file through a sqlx pool (WAL, like thor's) and answers it as JSON of the same shape
//! and about the same size as thor's `account_balance` message. No sign-in, no session, no
//! layers, no logging: what is left when everything thor adds is taken away.

use anyhow::{Context, Result};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use clap::Parser;
use serde::Serialize;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;

#[derive(Debug, Parser)]
#[command(about = "A bare axum + sqlx JSON endpoint: the REST baseline for thor-bench")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: SocketAddr,
    /// Directory for the SQLite file.
    #[arg(long, default_value = ".")]
    data_dir: PathBuf,
}

#[derive(Serialize, sqlx::FromRow)]
struct Balance {
    account_id: i64,
    account_number: String,
    cash: f64,
    buying_power: f64,
    equity: f64,
    market_value: f64,
    day_change: f64,
    day_change_pct: f64,
    unrealized_pnl: f64,
    timestamp: String,
}

/// The envelope thor's REST answers carry, so both servers write alike.
#[derive(Serialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: &'static str,
    seq: u64,
    epoch: u64,
    ts: i64,
    data: Balance,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create {}", args.data_dir.display()))?;
    let options = SqliteConnectOptions::new()
        .filename(args.data_dir.join("bare.db"))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal);
    let pool = SqlitePoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await
        .context("cannot open the SQLite file")?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS balances (account_id INTEGER PRIMARY KEY, account_number \
         TEXT, cash REAL, buying_power REAL, equity REAL, market_value REAL, day_change REAL, \
         day_change_pct REAL, unrealized_pnl REAL, timestamp TEXT)",
    )
    .execute(&pool)
    .await
    .context("cannot create the table")?;
    sqlx::query(
        "INSERT OR REPLACE INTO balances VALUES (1, 'PA-000001', 100000.0, 137512.25, \
         175024.5, 75024.5, 1234.56, 0.71, 5024.5, '2026-11-29T14:30:00Z')",
    )
    .execute(&pool)
    .await
    .context("cannot seed the row")?;

    let app = axum::Router::new()
        .route("/api/account/balance", get(balance))
        .with_state(pool);
    let listener = TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    println!(
        "bare-rest listening on {}",
        listener.local_addr().context("cannot read the address")?
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(terminated())
        .await
        .context("the server failed")
}

async fn balance(State(pool): State<SqlitePool>) -> Result<Json<Envelope>, StatusCode> {
    let data: Balance = sqlx::query_as("SELECT * FROM balances WHERE account_id = 1")
        .fetch_one(&pool)
        .await
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    Ok(Json(Envelope {
        kind: "account_balance",
        seq: 1,
        epoch: 1,
        ts: i64::try_from(now.as_millis()).unwrap_or(i64::MAX),
        data,
    }))
}

/// SIGTERM or Ctrl-C.
async fn terminated() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}
