use super::PanelHead;
use crate::dashboard::board::Chart;
use crate::dashboard::format;
use crate::dashboard::{CHART_MINUTES, use_board, use_websocket_aware};
use crate::intraday::{IntradayBar, session_vwaps};
use leptos::prelude::*;

const WIDTH: f64 = 640.0;
const LEFT: f64 = 58.0;
const RIGHT: f64 = 634.0;
const PRICE_TOP: f64 = 10.0;
const PRICE_BOTTOM: f64 = 196.0;
const VOLUME_TOP: f64 = 206.0;
const VOLUME_BOTTOM: f64 = 262.0;
const LABEL_Y: f64 = 280.0;
const HEIGHT: f64 = 290.0;
const MINUTE_MS: i64 = 60_000;

/// One candle, placed.
#[derive(Debug, Clone, PartialEq)]
struct Candle {
    minute_ms: i64,
    forming: bool,
    up: bool,
    x: f64,
    width: f64,
    wick_top: f64,
    wick_bottom: f64,
    body_top: f64,
    body_height: f64,
    volume_top: f64,
}

/// The chart, laid out in the SVG's coordinates.
#[derive(Debug, Clone, PartialEq, Default)]
struct Layout {
    candles: Vec<Candle>,
    /// `x,y x,y …` of the session VWAP.
    vwap: String,
    /// (y, label) of the price axis.
    prices: Vec<(f64, String)>,
    /// (x, label) of the time axis (UTC).
    times: Vec<(f64, String)>,
}

/// Lays out the last [`CHART_MINUTES`] closed bars and the forming one.
fn layout(chart: &Chart) -> Layout {
    let all: Vec<&IntradayBar> = chart.bars.iter().chain(chart.forming.as_ref()).collect();
    let Some(last) = all.last() else {
        return Layout::default();
    };
    let end = last.timestamp_minute.timestamp_millis();
    let start = end - CHART_MINUTES * MINUTE_MS;
    let vwaps = session_vwaps(chart.before, all.iter().copied());
    let shown: Vec<(&IntradayBar, Option<f64>)> = all
        .iter()
        .copied()
        .zip(vwaps)
        .filter(|(bar, _)| bar.timestamp_minute.timestamp_millis() >= start)
        .collect();
    let lowest = shown
        .iter()
        .flat_map(|(b, v)| [Some(b.low), *v])
        .flatten()
        .fold(f64::INFINITY, f64::min);
    let highest = shown
        .iter()
        .flat_map(|(b, v)| [Some(b.high), *v])
        .flatten()
        .fold(f64::NEG_INFINITY, f64::max);
    let spread = (highest - lowest).max(0.01);
    let (low, high) = (lowest - spread * 0.05, highest + spread * 0.05);
    let y = |price: f64| PRICE_TOP + (high - price) / (high - low) * (PRICE_BOTTOM - PRICE_TOP);
    let slot = (RIGHT - LEFT) / (CHART_MINUTES + 1) as f64;
    let x = |minute_ms: i64| LEFT + ((minute_ms - start) / MINUTE_MS) as f64 * slot + slot / 2.0;
    let most = shown
        .iter()
        .map(|(b, _)| b.volume)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let forming_minute = chart
        .forming
        .as_ref()
        .map(|f| f.timestamp_minute.timestamp_millis());
    let candles = shown
        .iter()
        .map(|(bar, _)| {
            let minute_ms = bar.timestamp_minute.timestamp_millis();
            let (top, bottom) = (bar.open.max(bar.close), bar.open.min(bar.close));
            Candle {
                minute_ms,
                forming: Some(minute_ms) == forming_minute,
                up: bar.close >= bar.open,
                x: x(minute_ms),
                width: (slot * 0.6).max(1.0),
                wick_top: y(bar.high),
                wick_bottom: y(bar.low),
                body_top: y(top),
                body_height: (y(bottom) - y(top)).max(1.0),
                volume_top: VOLUME_BOTTOM - bar.volume as f64 / most * (VOLUME_BOTTOM - VOLUME_TOP),
            }
        })
        .collect();
    let vwap = shown
        .iter()
        .filter_map(|(bar, v)| v.map(|v| (bar, v)))
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
    let times = (0..=CHART_MINUTES)
        .map(|i| start + i * MINUTE_MS)
        .filter(|m| (m / MINUTE_MS) % 15 == 0)
        .filter_map(|m| {
            chrono::DateTime::from_timestamp_millis(m).map(|t| (x(m), crate::timefmt::hh_mm(&t)))
        })
        .collect();
    Layout {
        candles,
        vwap,
        prices,
        times,
    }
}

fn hhmm(bar: &IntradayBar) -> String {
    crate::timefmt::hh_mm(&bar.timestamp_minute)
}

/// What the chart shows, in words (its accessible description and the visible summary).
fn summary(chart: &Chart) -> (String, String) {
    let vwap = session_vwaps(
        chart.before,
        chart.bars.iter().chain(chart.forming.as_ref()),
    )
    .last()
    .copied()
    .flatten();
    let latest = chart.forming.as_ref().or(chart.bars.last());
    let Some(latest) = latest else {
        return (
            format!("No bars of {} yet.", chart.symbol),
            "No bars yet.".into(),
        );
    };
    let state = if chart.forming.is_some() {
        "forming"
    } else {
        "closed"
    };
    let ohlcv = format!(
        "{} UTC ({state}): open {}, high {}, low {}, close {}, volume {}",
        hhmm(latest),
        format::number(latest.open, 2),
        format::number(latest.high, 2),
        format::number(latest.low, 2),
        format::number(latest.close, 2),
        format::number(latest.volume as f64, 0),
    );
    let vwap = vwap
        .map(|v| format!("; session VWAP {}", format::number(v, 2)))
        .unwrap_or_default();
    let first = chart.bars.first().map(hhmm).unwrap_or_else(|| hhmm(latest));
    let description = format!(
        "Candlesticks of {} from {first} to {} UTC, with volume and the session VWAP line. Latest {ohlcv}{vwap}.",
        chart.symbol,
        hhmm(latest)
    );
    (description, format!("Latest {ohlcv}{vwap}"))
}

/// 1-minute candles, volume and the session VWAP of one symbol, drawn as SVG (server-rendered;
/// no chart library in the bundle).
#[component]
pub fn IntradayPanel() -> impl IntoView {
    let feed = use_websocket_aware::<Chart>();
    let board = use_board();
    let symbols = board.symbols.get_value();
    let drawn = Memo::new(move |_| {
        feed.data
            .with(|d| d.as_ref().map(|d| (layout(&d.value), summary(&d.value))))
    });
    let symbol = board.symbol;
    view! {
        <section class="panel intraday" aria-labelledby="intraday-title" data-testid="panel-intraday">
            <PanelHead feature=feed.feature source=feed.source age_ms=feed.age_ms freshness=feed.freshness seq=feed.seq/>
            <div class="chart-controls">
                <label for="chart-symbol">"Symbol"</label>
                <select
                    id="chart-symbol"
                    data-testid="chart-symbol"
                    prop:value=move || symbol.get()
                    on:change=move |ev| symbol.set(event_target_value(&ev))
                >
                    {symbols.into_iter().map(|s| view! { <option value=s.clone()>{s.clone()}</option> }).collect_view()}
                </select>
                <span class="zone">"Times in UTC"</span>
                <span class="legend"><span class="legend-vwap" aria-hidden="true"></span>"Session VWAP"</span>
            </div>
            {move || drawn.get().map(|(layout, (description, latest))| view! {
                <svg
                    class="chart"
                    data-testid="chart"
                    viewBox=format!("0 0 {WIDTH} {HEIGHT}")
                    role="img"
                    aria-labelledby="chart-title chart-desc"
                >
                    <title id="chart-title">{move || format!("{}, 1-minute bars", symbol.get())}</title>
                    <desc id="chart-desc">{description}</desc>
                    <g class="axis">
                        {layout.prices.into_iter().map(|(y, label)| view! {
                            <line x1=LEFT x2=RIGHT y1=y y2=y class="grid"/>
                            <text x=LEFT - 4.0 y=y + 3.0 text-anchor="end">{label}</text>
                        }).collect_view()}
                        {layout.times.into_iter().map(|(x, label)| view! {
                            <line x1=x x2=x y1=PRICE_TOP y2=VOLUME_BOTTOM class="grid"/>
                            <text x=x y=LABEL_Y text-anchor="middle">{label}</text>
                        }).collect_view()}
                    </g>
                    <g class="candles">
                        {layout.candles.into_iter().map(|c| {
                            let class = format!(
                                "candle {}{}",
                                if c.up { "up" } else { "down" },
                                if c.forming { " forming" } else { "" }
                            );
                            view! {
                                <g class=class data-minute=c.minute_ms>
                                    <line class="wick" x1=c.x x2=c.x y1=c.wick_top y2=c.wick_bottom/>
                                    <rect class="body" x=c.x - c.width / 2.0 y=c.body_top width=c.width height=c.body_height/>
                                    <rect class="volume" x=c.x - c.width / 2.0 y=c.volume_top width=c.width height=VOLUME_BOTTOM - c.volume_top/>
                                </g>
                            }
                        }).collect_view()}
                    </g>
                    <polyline class="vwap" points=layout.vwap/>
                </svg>
                <p class="chart-latest num" data-testid="chart-latest">{latest}</p>
            })}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
            before: Default::default(),
        }
    }

    #[test]
    fn candles_sit_in_minute_order_inside_the_plot_and_the_forming_one_is_marked() {
        let drawn = layout(&chart(3, true));
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
    fn only_the_last_hour_is_drawn() {
        let drawn = layout(&chart(90, false));
        assert_eq!(drawn.candles.len(), CHART_MINUTES as usize + 1);
        assert!(layout(&chart(0, false)).candles.is_empty());
    }

    #[test]
    fn the_summary_reads_the_latest_bar_out() {
        let (description, latest) = summary(&chart(2, true));
        assert!(
            latest.starts_with("Latest 14:02 UTC (forming): open 200.00"),
            "{latest}"
        );
        assert!(latest.contains("session VWAP"), "{latest}");
        assert!(
            description.contains("from 14:00 to 14:02 UTC"),
            "{description}"
        );
        assert_eq!(summary(&chart(0, false)).1, "No bars yet.");
    }
}
