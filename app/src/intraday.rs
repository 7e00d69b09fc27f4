//! Intraday market-data payloads (1-minute OHLCV bars and session VWAP), shared by the server's REST API, its WebSocket and the page.
//!
//! The field names of [`IntradayBar`] keep those of the seed's `intraday_bar` message (`country`,
//! `symbol`, `timestamp_minute`, `open`, `high`, `low`, `close`, `volume`) and add `vwap` and
//! `trades`. Prices are dollars as `f64`, rounded to cents (see [`round_cents`]) by whoever builds
//! the payload; timestamps are UTC and serialise as RFC 3339 (`"2025-12-19T15:30:00Z"`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One closed (or, for display, still open) 1-minute OHLCV bar of one symbol.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IntradayBar {
    pub symbol: String,
    /// The country of the symbol's exchange, e.g. `"USA"`.
    pub country: String,
    /// The bar's open time: the start of its minute, always whole-minute aligned.
    pub timestamp_minute: DateTime<Utc>,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    /// Shares traded in the minute.
    pub volume: u64,
    /// The bar's own volume-weighted average price (not the session's).
    pub vwap: f64,
    /// Trades (ticks) in the minute.
    pub trades: u32,
}

/// A symbol's volume-weighted average price since its session last started.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Vwap {
    pub symbol: String,
    /// The time of the last trade included.
    pub as_of: DateTime<Utc>,
    /// `sum(price * size) / sum(size)` over the session's trades.
    pub session_vwap: f64,
    /// `sum(size)` over the session's trades.
    pub session_volume: u64,
}

/// A symbol's closed bars from `since`, oldest first: the REST answer of the intraday feature.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IntradayBars {
    pub symbol: String,
    pub since: DateTime<Utc>,
    pub bars: Vec<IntradayBar>,
}

/// Rounds a price to whole cents (2 decimal places), halves away from zero.
pub fn round_cents(price: f64) -> f64 {
    (price * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn sample_bar() -> IntradayBar {
        IntradayBar {
            symbol: "SPY".into(),
            country: "USA".into(),
            timestamp_minute: Utc.with_ymd_and_hms(2025, 12, 19, 15, 30, 0).unwrap(),
            open: 450.0,
            high: 455.5,
            low: 449.5,
            close: 453.0,
            volume: 1_250_000,
            vwap: 452.37,
            trades: 60,
        }
    }

    #[test]
    fn intraday_bar_keeps_the_seed_field_names() {
        let value = serde_json::to_value(sample_bar()).unwrap();
        for key in [
            "country",
            "symbol",
            "timestamp_minute",
            "open",
            "high",
            "low",
            "close",
            "volume",
            "vwap",
            "trades",
        ] {
            assert!(value.get(key).is_some(), "missing {key} in {value}");
        }
        assert_eq!(value["timestamp_minute"], "2025-12-19T15:30:00Z");
        assert_eq!(value["volume"], 1_250_000);
        assert_eq!(value["open"], 450.0);
        assert_eq!(value["country"], "USA");
    }

    #[test]
    fn intraday_bar_reads_back_what_it_writes() {
        let bar = sample_bar();
        let text = serde_json::to_string(&bar).unwrap();
        assert_eq!(serde_json::from_str::<IntradayBar>(&text).unwrap(), bar);
    }

    #[test]
    fn vwap_serde_shape() {
        let vwap = Vwap {
            symbol: "AAPL".into(),
            as_of: Utc.with_ymd_and_hms(2025, 12, 19, 15, 30, 59).unwrap(),
            session_vwap: 230.12,
            session_volume: 42_000,
        };
        let value = serde_json::to_value(&vwap).unwrap();
        assert_eq!(value["symbol"], "AAPL");
        assert_eq!(value["as_of"], "2025-12-19T15:30:59Z");
        assert_eq!(value["session_vwap"], 230.12);
        assert_eq!(value["session_volume"], 42_000);
        assert_eq!(serde_json::from_value::<Vwap>(value).unwrap(), vwap);
    }

    #[test]
    fn round_cents_rounds_to_two_places() {
        assert_eq!(round_cents(453.004), 453.0);
        assert_eq!(round_cents(453.006), 453.01);
        assert_eq!(round_cents(0.125), 0.13);
        assert_eq!(round_cents(100.0), 100.0);
    }
}
