//! The intraday chart laid out in its SVG's coordinates: the chart's 1-minute bars resampled to
//! the chosen interval, the latest [`CHART_BARS`] of them and the one forming, the session VWAP
//! line, both axes on the chosen clock, and each bar in words (the crosshair's readout, the
//! summary). Pure: the panel (`intraday.rs`) draws it.

use crate::dashboard::board::Chart;
use crate::dashboard::chart_view::Axis;
use crate::dashboard::{CHART_BARS, format};
use crate::intraday::{IntradayBar, resample, session_vwaps};

pub const WIDTH: f64 = 640.0;
pub const LEFT: f64 = 58.0;
pub const RIGHT: f64 = 634.0;
pub const PRICE_TOP: f64 = 10.0;
const PRICE_BOTTOM: f64 = 196.0;
const VOLUME_TOP: f64 = 206.0;
pub const VOLUME_BOTTOM: f64 = 262.0;
pub const LABEL_Y: f64 = 280.0;
pub const HEIGHT: f64 = 290.0;
const MINUTE_MS: i64 = 60_000;
/// The width of one bar's slot.
pub const SLOT: f64 = (RIGHT - LEFT) / (CHART_BARS + 1) as f64;

/// One candle, placed.
#[derive(Debug, Clone, PartialEq)]
pub struct Candle {
    /// Its start (ms since the Unix epoch): what the crosshair holds on to.
    pub minute_ms: i64,
    pub forming: bool,
    pub up: bool,
    pub x: f64,
    pub width: f64,
    pub wick_top: f64,
    pub wick_bottom: f64,
    pub body_top: f64,
    pub body_height: f64,
    pub volume_top: f64,
    /// What the crosshair reads out for it: time, OHLCV and the session VWAP then.
    pub readout: String,
}

/// The chart, laid out in the SVG's coordinates.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Layout {
    pub candles: Vec<Candle>,
    /// `x,y x,y …` of the session VWAP.
    pub vwap: String,
    /// (y, label) of the price axis.
    pub prices: Vec<(f64, String)>,
    /// (x, label) of the time axis, on the axis's clock.
    pub times: Vec<(f64, String)>,
    /// What the chart shows, in words (its accessible description).
    pub description: String,
    /// The latest bar in words (shown under the chart).
    pub latest: String,
}

/// Lays out `chart` as `axis` says: its bars resampled to the axis's interval, the last
/// [`CHART_BARS`] closed ones and the one forming.
pub fn layout(chart: &Chart, axis: &Axis) -> Layout {
    let all: Vec<&IntradayBar> = chart.bars.iter().chain(chart.forming.as_ref()).collect();
    let vwaps = session_vwaps(chart.before, all.iter().copied());
    let forming_index = chart.forming.as_ref().map(|_| all.len() - 1);
    let length = axis.interval.minutes() * MINUTE_MS;
    let bars = resample(&all, axis.interval.minutes());
    let Some(end) = bars
        .last()
        .map(|(b, _)| b.timestamp_minute.timestamp_millis())
    else {
        return Layout {
            description: format!("No bars of {} yet.", chart.symbol),
            latest: "No bars yet.".into(),
            ..Layout::default()
        };
    };
    let start = end - CHART_BARS * length;
    // (bar, the session VWAP at its close, forming)
    let shown: Vec<(IntradayBar, Option<f64>, bool)> = bars
        .into_iter()
        .filter(|(bar, _)| bar.timestamp_minute.timestamp_millis() >= start)
        .map(|(bar, last)| {
            let vwap = vwaps.get(last).copied().flatten();
            (bar, vwap, Some(last) == forming_index)
        })
        .collect();
    let lowest = shown
        .iter()
        .flat_map(|(b, v, _)| [Some(b.low), *v])
        .flatten()
        .fold(f64::INFINITY, f64::min);
    let highest = shown
        .iter()
        .flat_map(|(b, v, _)| [Some(b.high), *v])
        .flatten()
        .fold(f64::NEG_INFINITY, f64::max);
    let spread = (highest - lowest).max(0.01);
    let (low, high) = (lowest - spread * 0.05, highest + spread * 0.05);
    let y = |price: f64| PRICE_TOP + (high - price) / (high - low) * (PRICE_BOTTOM - PRICE_TOP);
    let x = |ms: i64| LEFT + ((ms - start) / length) as f64 * SLOT + SLOT / 2.0;
    let most = shown
        .iter()
        .map(|(b, _, _)| b.volume)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let candles = shown
        .iter()
        .map(|(bar, vwap, forming)| {
            let minute_ms = bar.timestamp_minute.timestamp_millis();
            let (top, bottom) = (bar.open.max(bar.close), bar.open.min(bar.close));
            Candle {
                minute_ms,
                forming: *forming,
                up: bar.close >= bar.open,
                x: x(minute_ms),
                width: (SLOT * 0.6).max(1.0),
                wick_top: y(bar.high),
                wick_bottom: y(bar.low),
                body_top: y(top),
                body_height: (y(bottom) - y(top)).max(1.0),
                volume_top: VOLUME_BOTTOM - bar.volume as f64 / most * (VOLUME_BOTTOM - VOLUME_TOP),
                readout: readout(bar, *vwap, *forming, axis),
            }
        })
        .collect();
    let vwap = shown
        .iter()
        .filter_map(|(bar, v, _)| v.map(|v| (bar, v)))
        .map(|(bar, v)| {
            format!(
                "{:.1},{:.1}",
                x(bar.timestamp_minute.timestamp_millis()),
                y(v)
            )
        })
        .collect::<Vec<_>>()
        .join(" ");
    let prices = (0..=3)
        .map(|i| {
            let price = low + (high - low) * (0.1 + 0.8 * i as f64 / 3.0);
            (y(price), format::number(price, 2))
        })
        .collect();
    let times = (0..=CHART_BARS * axis.interval.minutes())
        .map(|i| start + i * MINUTE_MS)
        .filter(|m| axis.labelled(*m))
        .map(|m| (x(m), axis.hh_mm(m)))
        .collect();
    let (description, latest) = match (shown.first(), shown.last()) {
        (Some((first, _, _)), Some((last, vwap, forming))) => summary(
            &chart.symbol,
            first.timestamp_minute.timestamp_millis(),
            (last, *vwap, *forming),
            axis,
        ),
        _ => Default::default(),
    };
    Layout {
        candles,
        vwap,
        prices,
        times,
        description,
        latest,
    }
}

/// `open 600.10, high …, low …, close …, volume 1,234; session VWAP 600.05`.
fn ohlcv(bar: &IntradayBar, vwap: Option<f64>) -> String {
    let vwap = vwap
        .map(|v| format!("; session VWAP {}", format::number(v, 2)))
        .unwrap_or_default();
    format!(
        "open {}, high {}, low {}, close {}, volume {}{vwap}",
        format::number(bar.open, 2),
        format::number(bar.high, 2),
        format::number(bar.low, 2),
        format::number(bar.close, 2),
        format::number(bar.volume as f64, 0),
    )
}

/// One bar in words: "09:32 New York: open 600.10, …; session VWAP 600.05" (the crosshair's
/// readout).
fn readout(bar: &IntradayBar, vwap: Option<f64>, forming: bool, axis: &Axis) -> String {
    let state = if forming { " (forming)" } else { "" };
    format!(
        "{} {}{state}: {}",
        axis.hh_mm(bar.timestamp_minute.timestamp_millis()),
        axis.short,
        ohlcv(bar, vwap)
    )
}

/// What the chart shows, in words: its accessible description and the visible latest bar.
fn summary(
    symbol: &str,
    first_ms: i64,
    (latest, vwap, forming): (&IntradayBar, Option<f64>, bool),
    axis: &Axis,
) -> (String, String) {
    let state = if forming { "forming" } else { "closed" };
    let at = axis.hh_mm(latest.timestamp_minute.timestamp_millis());
    let latest = format!(
        "Latest {at} {} ({state}): {}",
        axis.short,
        ohlcv(latest, vwap)
    );
    let description = format!(
        "{}-minute candlesticks of {symbol} from {} to {at} {}, with volume and the session VWAP line. {latest}.",
        axis.interval.minutes(),
        axis.hh_mm(first_ms),
        axis.short,
    );
    (description, latest)
}

/// The candle the crosshair moves to from `at` (a bar's start) on `key`, among `minutes` in
/// order: arrows step, Home and End jump; `None` when the key is not the crosshair's.
pub fn step(minutes: &[i64], at: Option<i64>, key: &str) -> Option<Option<i64>> {
    let last = minutes.len().checked_sub(1);
    let here = at.and_then(|m| minutes.iter().position(|x| *x == m));
    let to = match key {
        "ArrowLeft" => here.map_or(last, |i| Some(i.saturating_sub(1))),
        "ArrowRight" => here.map_or(last, |i| Some((i + 1).min(last.unwrap_or(0)))),
        "Home" => minutes.first().map(|_| 0),
        "End" => last,
        "Escape" => return Some(None),
        _ => return None,
    };
    Some(to.and_then(|i| minutes.get(i).copied()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dashboard::chart_view::{ChartView, Interval, Zone};
    use chrono::{TimeZone, Utc};

    fn bar(minute: i64, open: f64, close: f64, volume: u64) -> IntradayBar {
        IntradayBar {
            symbol: "SPY".into(),
            country: "USA".into(),
            timestamp_minute: Utc
                .with_ymd_and_hms(2026, 3, 9, 14, 0, 0)
                .single()
                .expect("a time")
                + chrono::Duration::minutes(minute),
            open,
            high: open.max(close) + 1.0,
            low: open.min(close) - 1.0,
            close,
            volume,
            vwap: (open + close) / 2.0,
            trades: 3,
        }
    }

    fn chart(closed: usize, forming: bool) -> Chart {
        Chart {
            symbol: "SPY".into(),
            bars: (0..closed as i64)
                .map(|m| bar(m, 100.0 + m as f64, 101.0 + m as f64, 10 + m as u64))
                .collect(),
            forming: forming.then(|| bar(closed as i64, 200.0, 199.0, 5)),
            ..Chart::default()
        }
    }

    fn axis(interval: Interval, zone: Zone) -> Axis {
        let markets = crate::global_market::GlobalMarkets::example();
        let view = ChartView {
            interval,
            zone,
            browser_offset_min: 60,
        };
        Axis::new(view, Some(&markets), Some("USA"))
    }

    fn utc() -> Axis {
        axis(Interval::One, Zone::Utc)
    }

    #[test]
    fn candles_sit_in_minute_order_inside_the_plot_and_the_forming_one_is_marked() {
        let drawn = layout(&chart(3, true), &utc());
        assert_eq!(drawn.candles.len(), 4);
        assert!(drawn.candles.windows(2).all(|w| w[0].x < w[1].x));
        assert!(drawn.candles.iter().all(|c| c.x > LEFT && c.x < RIGHT));
        assert!(
            drawn
                .candles
                .iter()
                .all(|c| c.wick_top >= PRICE_TOP && c.wick_bottom <= PRICE_BOTTOM)
        );
        let forming: Vec<bool> = drawn.candles.iter().map(|c| c.forming).collect();
        assert_eq!(forming, [false, false, false, true]);
        assert!(drawn.candles[0].up && !drawn.candles[3].up);
        // The biggest volume reaches the top of the volume band.
        let tallest = drawn
            .candles
            .iter()
            .map(|c| c.volume_top)
            .fold(f64::INFINITY, f64::min);
        assert!((tallest - VOLUME_TOP).abs() < 1e-9);
        assert_eq!(drawn.vwap.split(' ').count(), 4, "a VWAP point per bar");
        // The window is the hour up to the latest bar, labelled every quarter hour (UTC).
        let labels: Vec<&str> = drawn.times.iter().map(|t| t.1.as_str()).collect();
        assert_eq!(labels, ["13:15", "13:30", "13:45", "14:00"]);
    }

    #[test]
    fn only_the_last_sixty_bars_are_drawn() {
        let drawn = layout(&chart(90, false), &utc());
        assert_eq!(drawn.candles.len(), CHART_BARS as usize + 1);
        let empty = layout(&chart(0, false), &utc());
        assert!(empty.candles.is_empty());
        assert_eq!(empty.latest, "No bars yet.");
    }

    #[test]
    fn five_minute_bars_on_the_exchanges_clock() {
        // 14:00 to 15:29 UTC, forming at 15:30: 18 five-minute bars and a forming one.
        let drawn = layout(&chart(90, true), &axis(Interval::Five, Zone::Exchange));
        assert_eq!(drawn.candles.len(), 19);
        assert!(
            drawn
                .candles
                .iter()
                .all(|c| c.minute_ms % (5 * MINUTE_MS) == 0)
        );
        assert!(
            drawn
                .candles
                .windows(2)
                .all(|w| (w[1].x - w[0].x - SLOT).abs() < 1e-9)
        );
        let forming: Vec<bool> = drawn.candles.iter().map(|c| c.forming).collect();
        assert_eq!(forming.iter().filter(|f| **f).count(), 1);
        assert_eq!(forming.last(), Some(&true));
        // The first 5-minute bar: the open of 14:00, the close of 14:04, five volumes.
        assert!(
            drawn.candles[0].readout.starts_with(
                "10:00 New York: open 100.00, high 106.00, low 99.00, close 105.00, volume 60;"
            ),
            "{}",
            drawn.candles[0].readout
        );
        // Five hours back from 11:30 New York, labelled on the hour of New York's clock.
        let labels: Vec<&str> = drawn.times.iter().map(|t| t.1.as_str()).collect();
        assert_eq!(labels, ["07:00", "08:00", "09:00", "10:00", "11:00"]);
        assert!(
            drawn.latest.starts_with("Latest 11:30 New York (forming)"),
            "{}",
            drawn.latest
        );
        assert!(
            drawn
                .description
                .starts_with("5-minute candlesticks of SPY from 10:00 to 11:30 New York"),
            "{}",
            drawn.description
        );
        // The browser's clock (an hour east of UTC here).
        let local = layout(&chart(3, false), &axis(Interval::One, Zone::Browser));
        assert!(local.candles[0].readout.starts_with("15:00 local:"));
    }

    #[test]
    fn the_crosshair_reads_a_bar_out_and_the_keys_move_it() {
        let drawn = layout(&chart(3, true), &utc());
        assert!(
            drawn.candles[1]
                .readout
                .starts_with("14:01 UTC: open 101.00, high 103.00, low 100.00, close 102.00, volume 11; session VWAP"),
            "{}",
            drawn.candles[1].readout
        );
        assert!(drawn.candles[3].readout.starts_with("14:03 UTC (forming)"));
        let minutes: Vec<i64> = drawn.candles.iter().map(|c| c.minute_ms).collect();
        // From nowhere, the arrows start at the latest bar.
        assert_eq!(step(&minutes, None, "ArrowLeft"), Some(Some(minutes[3])));
        assert_eq!(
            step(&minutes, Some(minutes[2]), "ArrowLeft"),
            Some(Some(minutes[1]))
        );
        assert_eq!(
            step(&minutes, Some(minutes[0]), "ArrowLeft"),
            Some(Some(minutes[0]))
        );
        assert_eq!(
            step(&minutes, Some(minutes[3]), "ArrowRight"),
            Some(Some(minutes[3]))
        );
        assert_eq!(
            step(&minutes, Some(minutes[1]), "Home"),
            Some(Some(minutes[0]))
        );
        assert_eq!(
            step(&minutes, Some(minutes[1]), "End"),
            Some(Some(minutes[3]))
        );
        assert_eq!(step(&minutes, Some(minutes[1]), "Escape"), Some(None));
        assert_eq!(
            step(&minutes, Some(minutes[1]), "a"),
            None,
            "not the crosshair's key"
        );
        assert_eq!(
            step(&[], None, "ArrowLeft"),
            Some(None),
            "no bars, no crosshair"
        );
    }

    #[test]
    fn the_summary_reads_the_latest_bar_out() {
        let drawn = layout(&chart(2, true), &utc());
        assert!(
            drawn
                .latest
                .starts_with("Latest 14:02 UTC (forming): open 200.00"),
            "{}",
            drawn.latest
        );
        assert!(drawn.latest.contains("session VWAP"), "{}", drawn.latest);
        assert!(
            drawn.description.contains("from 14:00 to 14:02 UTC"),
            "{}",
            drawn.description
        );
    }
}
