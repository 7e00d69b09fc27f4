//! The intraday feature's REST resource ([`Feature::Intraday`]'s `rest_path`, with
//! `?symbol=SPY&since=2026-03-09T14:00:00Z`): a symbol's closed 1-minute bars from `since`
//! (default: the last two hours), oldest first, at most a day's worth, with the bar still forming
//! and the session's trading before `since` (for the VWAP line). The answer is an envelope whose
//! `seq` is the latest `intraday_bar` seq it includes.
//!
//! [`Feature::Intraday`]: thor_core::feature::Feature::Intraday

use super::ApiError;
use crate::clock::now_ms;
use crate::hub::Audience;
use crate::on_pool;
use crate::state::AppState;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use thor_core::feature::Feature;
use thor_core::intraday::{IntradayBar, IntradayBars, SessionSoFar};
use thor_core::parity::BarsAnswer;
use thor_core::protocol::{Envelope, ServerMessage, Topic};
use thor_core::symbol::Symbol;

const MAX_BARS: i64 = 1440;

#[derive(Deserialize)]
pub struct BarsQuery {
    symbol: Option<String>,
    since: Option<String>,
    /// `false`: leave out the session's trading before `since` (a page that already has it).
    session: Option<bool>,
}

#[derive(Serialize)]
pub struct BarsResponse {
    #[serde(rename = "type")]
    kind: &'static str,
    seq: u64,
    epoch: u64,
    ts: i64,
    data: IntradayBars,
}

#[derive(sqlx::FromRow)]
struct BarRow {
    symbol: String,
    minute_ms: i64,
    country: String,
    open: f64,
    high: f64,
    low: f64,
    close: f64,
    volume: i64,
    vwap: f64,
    trades: i64,
}

pub(crate) async fn bars(
    State(state): State<AppState>,
    query: Result<Query<BarsQuery>, QueryRejection>,
) -> Result<Json<BarsResponse>, ApiError> {
    state.cutover.count_rest(Feature::Intraday);
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let symbol = query
        .symbol
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ApiError::BadRequest("the symbol parameter is required".into()))?;
    let symbol = Symbol::parse(&symbol)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?
        .to_string();
    if !state.symbols.contains(&symbol) {
        return Err(ApiError::BadRequest(format!(
            "unknown symbol {symbol:?}; known: {}",
            state.symbols.join(", ")
        )));
    }
    let since = match query
        .since
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(text) => DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| {
                ApiError::BadRequest(format!(
                    "since {text:?} is not an RFC 3339 time such as 2026-03-09T14:00:00Z: {e}"
                ))
            })?,
        None => state.clock.now() - Duration::hours(2),
    };
    let answer = closed_bars(&state, &symbol, since, query.session.unwrap_or(true)).await?;
    Ok(Json(BarsResponse {
        kind: "intraday_bars",
        seq: answer.seq,
        epoch: answer.epoch,
        ts: now_ms(),
        data: answer.data,
    }))
}

/// A known `symbol`'s closed bars from `since` (at most a day's worth), with the bar still
/// forming and, `with_session`, the session's trading before `since`: what REST answers and the
/// page's first render shows. `seq` is the latest `intraday_bar` seq the bars include.
pub async fn closed_bars(
    state: &AppState,
    symbol: &str,
    since: DateTime<Utc>,
    with_session: bool,
) -> Result<BarsAnswer, ApiError> {
    // The seq is read before the bars: the answer holds at least every bar up to it.
    let seq = state
        .hub
        .latest(Topic::IntradayBar, Audience::Everyone)
        .map_or(0, |frame| frame.seq);
    let forming = state
        .hub
        .latest_of(Topic::FormingBar, Audience::Everyone, symbol)
        .and_then(|frame| serde_json::from_str::<Envelope>(frame.text.as_str()).ok())
        .and_then(|envelope| match envelope.message {
            ServerMessage::FormingBar(bar) => Some(bar),
            _ => None,
        });
    let rows: Vec<BarRow> = on_pool!(&state.db, pool => sqlx::query_as(
        "SELECT symbol, minute_ms, country, open, high, low, close, volume, vwap, trades \
         FROM intraday_bars WHERE symbol = $1 AND minute_ms >= $2 ORDER BY minute_ms LIMIT $3",
    )
    .bind(symbol)
    .bind(since.timestamp_millis())
    .bind(MAX_BARS)
    .fetch_all(pool)
    .await)
    .map_err(ApiError::database)?;
    let before = if with_session {
        Some(session_before(state, symbol, since).await?)
    } else {
        None
    };
    let bars = rows
        .into_iter()
        .filter_map(|row| {
            Some(IntradayBar {
                symbol: row.symbol,
                country: row.country,
                timestamp_minute: DateTime::from_timestamp_millis(row.minute_ms)?,
                open: row.open,
                high: row.high,
                low: row.low,
                close: row.close,
                volume: u64::try_from(row.volume).unwrap_or(0),
                vwap: row.vwap,
                trades: u32::try_from(row.trades).unwrap_or(u32::MAX),
            })
        })
        .collect();
    Ok(BarsAnswer {
        seq,
        epoch: state.hub.epoch(),
        data: IntradayBars {
            symbol: symbol.to_string(),
            since,
            bars,
            forming,
            before,
        },
    })
}

/// The symbol's trading in its VWAP session (the UTC day: the intraday job starts a new one at
/// midnight) before `since`.
async fn session_before(
    state: &AppState,
    symbol: &str,
    since: DateTime<Utc>,
) -> Result<SessionSoFar, ApiError> {
    let session_start = since
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map_or(since, |midnight| midnight.and_utc());
    let (pv, volume): (Option<f64>, Option<i64>) = on_pool!(&state.db, pool => sqlx::query_as(
        "SELECT SUM(vwap * volume), CAST(SUM(volume) AS BIGINT) FROM intraday_bars \
         WHERE symbol = $1 AND minute_ms >= $2 AND minute_ms < $3",
    )
    .bind(symbol)
    .bind(session_start.timestamp_millis())
    .bind(since.timestamp_millis())
    .fetch_one(pool)
    .await)
    .map_err(ApiError::database)?;
    Ok(SessionSoFar {
        pv: pv.unwrap_or(0.0),
        volume: volume.and_then(|v| u64::try_from(v).ok()).unwrap_or(0),
    })
}
