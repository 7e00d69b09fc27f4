//! What the desk carries across a restart: each symbol's last traded price (the simulator
//! continues its path from it, and positions are valued at it while a market is closed) and its
//! session so far (the VWAP carries on instead of starting again from the next trade). The
//! intraday job writes them every second; the server reads them once, at start, and a new lease
//! holder when it takes over.

use crate::db::Database;
use crate::on_pool;
use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::BTreeMap;

/// A symbol's last trade and its session's trading up to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Carried {
    pub symbol: String,
    pub price: f64,
    /// When it last traded.
    pub at: DateTime<Utc>,
    /// The session (UTC day) the sums are of, and its trading: Σ size and Σ price × size.
    pub session: Option<(NaiveDate, u64, f64)>,
}

/// Records each symbol's latest state (one transaction: one write a second whatever the number
/// of symbols).
pub async fn store(db: &Database, symbols: &[Carried]) -> anyhow::Result<()> {
    if symbols.is_empty() {
        return Ok(());
    }
    on_pool!(db, pool => async {
        let mut tx = pool.begin().await?;
        for carried in symbols {
            let (day, volume, notional) = match carried.session {
                Some((day, volume, notional)) => (
                    Some(day.to_string()),
                    Some(i64::try_from(volume).unwrap_or(i64::MAX)),
                    Some(notional),
                ),
                None => (None, None, None),
            };
            sqlx::query(
                "INSERT INTO market_prices \
                 (symbol, price, at_ms, session_day, session_volume, session_notional) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (symbol) DO UPDATE SET price = excluded.price, at_ms = excluded.at_ms, \
                 session_day = excluded.session_day, session_volume = excluded.session_volume, \
                 session_notional = excluded.session_notional",
            )
            .bind(&carried.symbol)
            .bind(carried.price)
            .bind(carried.at.timestamp_millis())
            .bind(day)
            .bind(volume)
            .bind(notional)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }
    .await)
    .context("cannot store the last prices")
}

type Row = (String, f64, i64, Option<String>, Option<i64>, Option<f64>);

/// Every symbol's last stored state, by symbol; rows that make no sense (a price that is not
/// positive, a broken session) are left out, or their session is.
pub async fn load(db: &Database) -> anyhow::Result<BTreeMap<String, Carried>> {
    let rows: Vec<Row> = on_pool!(db, pool => sqlx::query_as(
        "SELECT symbol, price, at_ms, session_day, session_volume, session_notional \
         FROM market_prices",
    )
    .fetch_all(pool)
    .await)
    .context("cannot read the last prices")?;
    Ok(rows
        .into_iter()
        .filter(|(_, price, ..)| price.is_finite() && *price > 0.0)
        .filter_map(|(symbol, price, at_ms, day, volume, notional)| {
            let at = DateTime::from_timestamp_millis(at_ms)?;
            let session = (|| {
                let day = day?.parse::<NaiveDate>().ok()?;
                let volume = u64::try_from(volume?).ok().filter(|v| *v > 0)?;
                let notional = notional.filter(|n| n.is_finite() && *n > 0.0)?;
                Some((day, volume, notional))
            })();
            Some((
                symbol.clone(),
                Carried {
                    symbol,
                    price,
                    at,
                    session,
                },
            ))
        })
        .collect())
}
