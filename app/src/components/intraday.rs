//! The intraday panel: candles, volume and the session VWAP of one symbol at the trader's
//! interval and clock, with a crosshair (pointer and keyboard). The drawing's geometry is
//! `chart_layout`.

use super::PanelHead;
use super::chart_layout::{
    HEIGHT, LABEL_Y, LEFT, PRICE_TOP, RIGHT, SLOT, VOLUME_BOTTOM, WIDTH, layout, step,
};
use crate::dashboard::board::Chart;
use crate::dashboard::chart_view::{Axis, ChartView, Interval, Zone};
use crate::dashboard::{CHART_VIEW_COOKIE, remember, use_board, use_websocket_aware};
use leptos::prelude::*;

/// Candles, volume and the session VWAP of one symbol, drawn as SVG (server-rendered; no chart
/// library in the bundle).
#[component]
pub fn IntradayPanel() -> impl IntoView {
    let feed = use_websocket_aware::<Chart>();
    let board = use_board();
    let symbols = board.symbols.get_value();
    let view_of = board.chart_view;
    // The clock the axis reads: the view's zone, and for the exchange's, the charted symbol's
    // exchange as the market status has it.
    let axis = Memo::new(move |_| {
        let view = view_of.get();
        let country = feed.data.with(|d| {
            d.as_ref().and_then(|d| {
                let chart = &d.value;
                chart
                    .forming
                    .as_ref()
                    .or(chart.bars.last())
                    .map(|b| b.country.clone())
            })
        });
        board
            .global_market
            .with(|m| Axis::new(view, m.as_ref().map(|m| &m.value), country.as_deref()))
    });
    let drawn = Memo::new(move |_| {
        let axis = axis.get();
        feed.data
            .with(|d| d.as_ref().map(|d| layout(&d.value, &axis)))
    });
    let symbol = board.symbol;
    let has_chart = Memo::new(move |_| drawn.with(|d| d.is_some()));
    // The browser's own offset, once the page runs (the server drew the first paint with the one
    // the cookie remembered; daylight saving may have moved it since).
    Effect::new(move |_| {
        let view = view_of.get_untracked();
        if view.zone == Zone::Browser
            && let Some(offset) = browser_offset_min()
            && offset != view.browser_offset_min
        {
            choose(view_of, |v| v.browser_offset_min = offset);
        }
    });
    // The crosshair: the bar under the pointer or the keyboard's focus, by its start (it stays on
    // that bar as new ones come).
    let crosshair = RwSignal::new(None::<i64>);
    // Where the pointer last was over the chart. The bars are drawn anew each second, and the
    // browser tells a resting pointer it entered whichever new bar is now under it; when the
    // window has moved on a bar, that is the next bar, not the one the trader chose. A bar entered
    // where the pointer already was is that, and leaves the crosshair where it is.
    let pointer_at = StoredValue::new(None::<(i32, i32)>);
    let on_enter = move |minute: i64, ev: &leptos::ev::PointerEvent| {
        let at = (ev.client_x(), ev.client_y());
        if crosshair.get_untracked().is_some() && pointer_at.get_value() == Some(at) {
            return;
        }
        pointer_at.set_value(Some(at));
        crosshair.set(Some(minute));
    };
    let candle_minutes = move || {
        drawn.with(|d| {
            d.as_ref()
                .map(|l| l.candles.iter().map(|c| c.minute_ms).collect::<Vec<_>>())
                .unwrap_or_default()
        })
    };
    let on_key = move |ev: leptos::ev::KeyboardEvent| {
        if let Some(to) = step(&candle_minutes(), crosshair.get_untracked(), &ev.key()) {
            ev.prevent_default();
            crosshair.set(to);
        }
    };
    let pointed = move || {
        let at = crosshair.get()?;
        drawn.with(|d| {
            d.as_ref()?
                .candles
                .iter()
                .find(|c| c.minute_ms == at)
                .map(|c| (c.x, c.readout.clone()))
        })
    };
    let on_interval = move |ev: leptos::ev::Event| {
        if let Some(interval) = Interval::parse(&event_target_value(&ev)) {
            crosshair.set(None);
            choose(view_of, |v| v.interval = interval);
        }
    };
    let on_zone = move |ev: leptos::ev::Event| {
        if let Some(zone) = Zone::parse(&event_target_value(&ev)) {
            let offset = browser_offset_min();
            choose(view_of, |v| {
                v.zone = zone;
                if let Some(offset) = offset {
                    v.browser_offset_min = offset;
                }
            });
        }
    };
    let zone_name = |zone: Zone| match zone {
        Zone::Exchange => "Exchange",
        Zone::Browser => "Browser",
        Zone::Utc => "UTC",
    };
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
                <label for="chart-interval">"Bars"</label>
                <select id="chart-interval" data-testid="chart-interval" on:change=on_interval>
                    {Interval::ALL.map(|i| view! {
                        <option
                            value=i.minutes().to_string()
                            selected=move || view_of.with(|v| v.interval == i)
                        >
                            {format!("{} min", i.minutes())}
                        </option>
                    }).collect_view()}
                </select>
                <label for="chart-zone">"Time"</label>
                <select id="chart-zone" data-testid="chart-zone" on:change=on_zone>
                    {Zone::ALL.map(|z| view! {
                        <option value=z.as_str() selected=move || view_of.with(|v| v.zone == z)>
                            {zone_name(z)}
                        </option>
                    }).collect_view()}
                </select>
                <span class="zone" data-testid="chart-zone-caption">{move || axis.with(|a| a.caption.clone())}</span>
                <span class="legend"><span class="legend-vwap" aria-hidden="true"></span>"Session VWAP"</span>
            </div>
            // The SVG stays put while its bars change every second, so it keeps the keyboard's
            // focus (the crosshair's arrows); only its insides follow the data.
            {move || has_chart.get().then(|| view! {
                <svg
                    class="chart"
                    data-testid="chart"
                    viewBox=format!("0 0 {WIDTH} {HEIGHT}")
                    role="img"
                    aria-labelledby="chart-title chart-desc"
                    aria-describedby="chart-crosshair"
                    tabindex="0"
                    on:keydown=on_key
                    on:pointermove=move |ev| pointer_at.set_value(Some((ev.client_x(), ev.client_y())))
                    on:pointerleave=move |_| {
                        pointer_at.set_value(None);
                        crosshair.set(None);
                    }
                >
                    <title id="chart-title">{move || format!("{}, {}-minute bars", symbol.get(), view_of.with(|v| v.interval.minutes()))}</title>
                    <desc id="chart-desc">{move || drawn.with(|d| d.as_ref().map(|l| l.description.clone()))}</desc>
                    {move || drawn.get().map(|layout| view! {
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
                                let minute = c.minute_ms;
                                view! {
                                    <g class=class data-minute=c.minute_ms on:pointerenter=move |ev| on_enter(minute, &ev)>
                                        // The bar's whole slot answers the pointer, not just its body.
                                        <rect class="hit" x=c.x - SLOT / 2.0 y=PRICE_TOP width=SLOT height=VOLUME_BOTTOM - PRICE_TOP/>
                                        <line class="wick" x1=c.x x2=c.x y1=c.wick_top y2=c.wick_bottom/>
                                        <rect class="body" x=c.x - c.width / 2.0 y=c.body_top width=c.width height=c.body_height/>
                                        <rect class="volume" x=c.x - c.width / 2.0 y=c.volume_top width=c.width height=VOLUME_BOTTOM - c.volume_top/>
                                    </g>
                                }
                            }).collect_view()}
                        </g>
                        <polyline class="vwap" points=layout.vwap/>
                    })}
                    {move || pointed().map(|(x, _)| view! {
                        <line class="crosshair" data-testid="chart-crosshair-line" x1=x x2=x y1=PRICE_TOP y2=VOLUME_BOTTOM/>
                    })}
                </svg>
                <p class="chart-latest num" data-testid="chart-latest">
                    {move || drawn.with(|d| d.as_ref().map(|l| l.latest.clone()))}
                </p>
                <p class="chart-crosshair num" id="chart-crosshair" role="status" data-testid="chart-crosshair">
                    {move || pointed().map(|(_, text)| text)}
                </p>
            })}
        </section>
    }
}

/// Changes the chart's view and remembers it for the next first paint.
fn choose(view: RwSignal<ChartView>, change: impl FnOnce(&mut ChartView)) {
    view.update(change);
    remember(CHART_VIEW_COOKIE, &view.get_untracked().cookie_value());
}

/// The browser's UTC offset now, in minutes east (browser only).
fn browser_offset_min() -> Option<i32> {
    #[cfg(feature = "hydrate")]
    {
        // JavaScript's is minutes west.
        Some(-(js_sys::Date::new_0().get_timezone_offset() as i32))
    }
    #[cfg(not(feature = "hydrate"))]
    None
}
