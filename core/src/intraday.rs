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
    #[serde(deserialize_with = "crate::timefmt::read::utc")]
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
    #[serde(deserialize_with = "crate::timefmt::read::utc")]
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
    #[serde(deserialize_with = "crate::timefmt::read::utc")]
    pub since: DateTime<Utc>,
    pub bars: Vec<IntradayBar>,
    /// The bar still forming, while the symbol trades (what `forming_bar` last carried).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forming: Option<IntradayBar>,
    /// The session's trading before `since`, so the session VWAP can be drawn from `bars` on
    /// (left out when asked with `session=false`: a page that already draws the line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<SessionSoFar>,
}

/// Trading of a VWAP session (a UTC day) up to some instant: `sum(price × size)` and `sum(size)`.
/// The session VWAP after a run of bars is `(pv + Σ bar.vwap × bar.volume) / (volume + Σ
/// bar.volume)`: see [`session_vwaps`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionSoFar {
    pub pv: f64,
    pub volume: u64,
}

/// The session VWAP at the close of each bar (oldest first), starting from `before`; a bar of
/// a later UTC day starts a new session. `None` where nothing has traded yet.
pub fn session_vwaps<'a>(
    before: SessionSoFar,
    bars: impl IntoIterator<Item = &'a IntradayBar>,
) -> Vec<Option<f64>> {
    let mut so_far = before;
    let mut day = None;
    bars.into_iter()
        .map(|bar| {
            let bar_day = bar.timestamp_minute.date_naive();
            if day.is_some_and(|d| d != bar_day) {
                so_far = SessionSoFar::default();
            }
            day = Some(bar_day);
            so_far.pv += bar.vwap * bar.volume as f64;
            so_far.volume += bar.volume;
            (so_far.volume > 0).then(|| so_far.pv / so_far.volume as f64)
        })
        .collect()
}

/// 1-minute bars (oldest first) as bars of `minutes` each, aligned on the UTC day (so on every
/// zone's quarter hours): open of the first, close of the last, the highest high and lowest low,
/// volume and trades summed, the volume-weighted VWAP. Each comes with the index of its last
/// 1-minute bar (whose session VWAP is the longer bar's).
pub fn resample(bars: &[&IntradayBar], minutes: i64) -> Vec<(IntradayBar, usize)> {
    let length_ms = minutes.max(1) * 60_000;
    let mut out: Vec<(IntradayBar, usize)> = Vec::new();
    for (i, bar) in bars.iter().enumerate() {
        let start = bar
            .timestamp_minute
            .timestamp_millis()
            .div_euclid(length_ms)
            * length_ms;
        match out.last_mut() {
            Some((held, last)) if held.timestamp_minute.timestamp_millis() == start => {
                let volume = held.volume + bar.volume;
                if volume > 0 {
                    held.vwap = (held.vwap * held.volume as f64 + bar.vwap * bar.volume as f64)
                        / volume as f64;
                }
                held.high = held.high.max(bar.high);
                held.low = held.low.min(bar.low);
                held.close = bar.close;
                held.volume = volume;
                held.trades += bar.trades;
                *last = i;
            }
            _ => {
                let mut first = (*bar).clone();
                first.timestamp_minute =
                    DateTime::from_timestamp_millis(start).unwrap_or(bar.timestamp_minute);
                out.push((first, i));
            }
        }
    }
    out
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
    fn the_session_vwap_runs_on_from_what_traded_before_and_restarts_each_day() {
        let mut first = sample_bar();
        first.vwap = 10.0;
        first.volume = 100;
        let mut second = sample_bar();
        second.timestamp_minute = first.timestamp_minute + chrono::Duration::minutes(1);
        second.vwap = 20.0;
        second.volume = 300;
        let mut next_day = sample_bar();
        next_day.timestamp_minute = first.timestamp_minute + chrono::Duration::days(1);
        next_day.vwap = 7.0;
        next_day.volume = 5;
        let before = SessionSoFar {
            pv: 5.0 * 100.0,
            volume: 100,
        };
        let line = session_vwaps(before, [&first, &second, &next_day]);
        assert_eq!(line, vec![Some(7.5), Some(15.0), Some(7.0)]);
        let mut empty = sample_bar();
        empty.volume = 0;
        assert_eq!(session_vwaps(SessionSoFar::default(), [&empty]), vec![None]);
    }

    #[test]
    fn five_one_minute_bars_make_one_five_minute_bar() {
        let at = |m: i64| sample_bar().timestamp_minute + chrono::Duration::minutes(m);
        let bar = |m: i64, open: f64, high: f64, low: f64, close: f64, volume: u64, vwap: f64| {
            IntradayBar {
                timestamp_minute: at(m),
                open,
                high,
                low,
                close,
                volume,
                vwap,
                trades: 2,
                ..sample_bar()
            }
        };
        // 15:30 to 15:34 make the 15:30 bar; 15:35 starts the next.
        let bars = [
            bar(0, 10.0, 11.0, 9.5, 10.5, 100, 10.2),
            bar(2, 10.5, 12.0, 10.4, 11.8, 300, 11.0),
            bar(4, 11.8, 11.9, 9.0, 9.2, 0, 0.0),
            bar(5, 9.2, 9.4, 9.1, 9.3, 50, 9.25),
        ];
        let refs: Vec<&IntradayBar> = bars.iter().collect();
        let five = resample(&refs, 5);
        assert_eq!(five.len(), 2);
        let (first, last) = &five[0];
        assert_eq!(first.timestamp_minute, at(0));
        assert_eq!(
            (first.open, first.high, first.low, first.close),
            (10.0, 12.0, 9.0, 9.2)
        );
        assert_eq!((first.volume, first.trades), (400, 6));
        assert!((first.vwap - (10.2 * 100.0 + 11.0 * 300.0) / 400.0).abs() < 1e-9);
        assert_eq!(*last, 2);
        assert_eq!(five[1].0.timestamp_minute, at(5));
        assert_eq!(five[1].1, 3);
        // A bar of one minute is itself.
        let one = resample(&refs, 1);
        assert_eq!(one.len(), 4);
        assert_eq!(one[1].0, bars[1]);
        // 15:30 to 15:44 are one 15-minute bar.
        let fifteen = resample(&refs, 15);
        assert_eq!(fifteen.len(), 1);
        assert_eq!(fifteen[0].0.timestamp_minute, at(0));
    }

    #[test]
    fn round_cents_rounds_to_two_places() {
        assert_eq!(round_cents(453.004), 453.0);
        assert_eq!(round_cents(453.006), 453.01);
        assert_eq!(round_cents(0.125), 0.13);
        assert_eq!(round_cents(100.0), 100.0);
    }
}
