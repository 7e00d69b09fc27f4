use super::PanelHead;
use crate::dashboard::format;
use crate::dashboard::{use_board, use_websocket_aware};
use crate::global_market::{GlobalMarkets, MarketEventKind, MarketStatus, MarketStatusKind};
use crate::timefmt;
use chrono::{DateTime, Utc};
use leptos::prelude::*;

fn event_label(event: MarketEventKind) -> &'static str {
    match event {
        MarketEventKind::Open => "Opens in",
        MarketEventKind::Close => "Closes in",
        MarketEventKind::LunchStart => "Lunch in",
        MarketEventKind::LunchEnd => "Reopens in",
        MarketEventKind::PremarketStart => "Premarket in",
    }
}

/// The exchange's wall clock at `now`, in the UTC offset its status was computed with.
fn local_clock(market: &MarketStatus, now: DateTime<Utc>) -> String {
    match timefmt::offset_of(&market.local_time) {
        Some(offset) => timefmt::hh_mm_ss(&now.with_timezone(&offset)),
        None => "—".into(),
    }
}

/// Seconds to the market's next event at `now`: from `next_event_at`, never from a countdown
/// that may be old.
fn seconds_to_next(market: &MarketStatus, now: DateTime<Utc>) -> i64 {
    let ms = (market.next_event_at - now).num_milliseconds();
    // Rounded up, as the server does: "1s" until the event.
    (ms + 999).div_euclid(1000)
}

fn status_class(status: MarketStatusKind) -> &'static str {
    match status {
        MarketStatusKind::Open => "market-status status-open",
        MarketStatusKind::Premarket => "market-status status-premarket",
        MarketStatusKind::Lunch => "market-status status-lunch",
        MarketStatusKind::Closed => "market-status status-closed",
    }
}

/// One card per exchange: name, city, local time, status and a countdown to its next event,
/// ticking every second on the page's clock.
#[component]
pub fn GlobalMarketPanel() -> impl IntoView {
    let feed = use_websocket_aware::<GlobalMarkets>();
    let board = use_board();
    let now = move || DateTime::from_timestamp_millis(board.now_ms() as i64).unwrap_or_default();
    view! {
        <section class="panel markets" aria-labelledby="global_market-title" data-testid="panel-global_market">
            <PanelHead feature=feed.feature source=feed.source age_ms=feed.age_ms freshness=feed.freshness seq=feed.seq/>
            <ul class="market-cards">
                {move || feed.data.with(|d| d.as_ref().map(|d| d.value.markets.clone())).unwrap_or_default()
                    .into_iter()
                    .map(|market| {
                        let code = market.code.clone();
                        let status = match &market.holiday {
                            Some(holiday) if market.status == MarketStatusKind::Closed => {
                                format!("CLOSED · {holiday}")
                            }
                            _ => market.status.as_str().to_string(),
                        };
                        let for_clock = market.clone();
                        let for_countdown = market.clone();
                        view! {
                            <li class="market-card" data-testid=format!("market-{code}")>
                                <div class="market-name">
                                    <strong>{market.name.clone()}</strong>
                                    <span class="market-city">{market.city()} " · " {market.code.clone()}</span>
                                </div>
                                <span class=status_class(market.status) data-testid=format!("market-status-{code}")>{status}</span>
                                <span class="market-clock num" data-testid=format!("market-clock-{code}")>
                                    {move || local_clock(&for_clock, now())}
                                </span>
                                <span class="market-next">
                                    {event_label(market.next_event)} " "
                                    <span class="num" data-testid=format!("countdown-{code}")>
                                        {move || format::countdown(seconds_to_next(&for_countdown, now()))}
                                    </span>
                                </span>
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn market() -> MarketStatus {
        crate::global_market::GlobalMarkets::example()
            .markets
            .remove(0)
    }

    #[test]
    fn the_countdown_is_recomputed_from_the_event_time_not_the_stale_countdown() {
        let m = market();
        let at = |h, mi, s| {
            Utc.with_ymd_and_hms(2026, 3, 9, h, mi, s)
                .single()
                .expect("a time")
        };
        assert_eq!(seconds_to_next(&m, at(13, 45, 0)), 22_500);
        assert_eq!(seconds_to_next(&m, at(19, 59, 59)), 1);
        let half = at(19, 59, 59) + chrono::Duration::milliseconds(500);
        assert_eq!(seconds_to_next(&m, half), 1, "rounded up");
        assert_eq!(seconds_to_next(&m, at(20, 0, 5)), -5, "past: shown as 0s");
    }

    #[test]
    fn the_local_clock_keeps_the_exchange_offset() {
        let m = market();
        let now = Utc
            .with_ymd_and_hms(2026, 3, 9, 14, 0, 7)
            .single()
            .expect("a time");
        assert_eq!(local_clock(&m, now), "10:00:07");
    }
}
