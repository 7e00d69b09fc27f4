//! The exchange calendar (not the `global_market` feature, which publishes what it says): global market hours: each exchange's status and next transition at an injected instant.
//!
//! The instant is passed in, never read from the clock here, so tests can stand anywhere (DST
//! changes included).
//!
//! The tables live in [`exchanges`]; this module turns a local trading day into UTC instants with
//! `chrono-tz` and walks the days forward to the next transition, skipping weekends and holidays.

pub mod exchanges;

#[cfg(test)]
mod tests;

pub use exchanges::{
    EarlyClose, Exchange, Holiday, HourMinute, Sessions, Ymd, exchange_by_code, exchange_by_id,
    exchanges,
};
pub use thor_core::global_market::{
    GlobalMarkets, MarketEventKind, MarketStatus, MarketStatusKind,
};

use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

/// How far ahead [`status_at`] looks for the next transition. Real calendars never close for
/// more than a couple of weeks; a year is a safe bound.
const MAX_SCAN_DAYS: u32 = 370;

/// A transition of one exchange at a UTC instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarketEvent {
    pub kind: MarketEventKind,
    pub at: DateTime<Utc>,
}

/// The transitions of the trading day `date` (the exchange's local date), in order; empty on
/// weekends and holidays. Early closes shorten the day (dropping the afternoon session if the
/// close falls before the end of lunch).
///
/// Local times are mapped to UTC through the exchange's time zone: a time that occurs twice (DST
/// ends) is taken at its first occurrence, a time that does not exist (DST starts) at the first
/// minute after the gap.
pub fn events_on(exchange: &Exchange, date: NaiveDate) -> Vec<MarketEvent> {
    let mut events = Vec::with_capacity(5);
    if !exchange.is_trading_day(date) {
        return events;
    }
    let Some(sessions) = exchange.sessions_on(date) else {
        return events;
    };
    let close = exchange
        .early_close_on(date)
        .map_or(sessions.close, |e| e.close.min(sessions.close));
    // An early close during or before the midday break ends the day at the break.
    let (lunch, close) = match sessions.lunch {
        Some((start, end)) if close > end => (Some((start, end)), close),
        Some((start, _)) => (None, close.min(start)),
        None => (None, close),
    };

    let mut push = |kind: MarketEventKind, time: HourMinute| {
        if let Some(at) = local_to_utc(exchange.tz, date, time) {
            events.push(MarketEvent { kind, at });
        }
    };
    if let Some(premarket) = sessions.premarket.filter(|p| *p < sessions.open) {
        push(MarketEventKind::PremarketStart, premarket);
    }
    push(MarketEventKind::Open, sessions.open);
    if let Some((start, end)) = lunch {
        push(MarketEventKind::LunchStart, start);
        push(MarketEventKind::LunchEnd, end);
    }
    push(MarketEventKind::Close, close);
    events
}

/// The status of `exchange` at `now`, with its next transition.
pub fn status_at(exchange: &Exchange, now: DateTime<Utc>) -> MarketStatus {
    let local_now = now.with_timezone(&exchange.tz);
    let today = local_now.date_naive();

    // The latest transition at or before `now` gives the status; the earliest after it is next.
    // Yesterday is scanned too: a local day's events can never reach back further.
    let mut previous: Option<MarketEvent> = None;
    let mut next: Option<MarketEvent> = None;
    let mut day = today.pred_opt().unwrap_or(today);
    for _ in 0..MAX_SCAN_DAYS {
        for event in events_on(exchange, day) {
            if event.at <= now {
                if previous.is_none_or(|p| event.at >= p.at) {
                    previous = Some(event);
                }
            } else if next.is_none_or(|n| event.at < n.at) {
                next = Some(event);
            }
        }
        if next.is_some() && day >= today {
            break;
        }
        match day.succ_opt() {
            Some(following) => day = following,
            None => break,
        }
    }

    let status = previous.map_or(MarketStatusKind::Closed, |p| p.kind.status_after());
    // Unreachable with real calendars (every exchange trades within a year); keeps the promise
    // that the next event is in the future without panicking.
    let next = next.unwrap_or_else(|| MarketEvent {
        kind: MarketEventKind::Open,
        at: now
            .checked_add_signed(TimeDelta::days(1))
            .unwrap_or(DateTime::<Utc>::MAX_UTC),
    });

    MarketStatus {
        market_id: exchange.id,
        code: exchange.code.to_owned(),
        name: exchange.name.to_owned(),
        country: exchange.country.to_owned(),
        time_zone: exchange.time_zone().to_owned(),
        status,
        local_time: local_now.format("%Y-%m-%dT%H:%M:%S%:z").to_string(),
        next_event: next.kind,
        next_event_at: next.at,
        seconds_to_next_event: whole_seconds_until(now, next.at),
        holiday: exchange.holiday_on(today).map(str::to_owned),
    }
}

/// Every exchange of [`exchanges`] at `now`, in `id` order.
pub fn global_status_at(now: DateTime<Utc>) -> GlobalMarkets {
    GlobalMarkets {
        as_of: now,
        markets: exchanges().iter().map(|e| status_at(e, now)).collect(),
    }
}

/// Seconds from `now` to `then`, rounded up (so 1 for anything in (0 s, 1 s]).
fn whole_seconds_until(now: DateTime<Utc>, then: DateTime<Utc>) -> i64 {
    let delta = then.signed_duration_since(now);
    let seconds = delta.num_seconds();
    if delta > TimeDelta::seconds(seconds) {
        seconds + 1
    } else {
        seconds
    }
}

/// The UTC instant of a local wall-clock time in `tz`: the first occurrence of an ambiguous time,
/// the first existing minute after a skipped one. `None` only at the ends of chrono's range.
fn local_to_utc(tz: Tz, date: NaiveDate, time: HourMinute) -> Option<DateTime<Utc>> {
    let local = date.and_time(time.time()?);
    resolve_local(tz, local)
}

fn resolve_local(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(at) => Some(at.with_timezone(&Utc)),
        LocalResult::Ambiguous(earliest, _) => Some(earliest.with_timezone(&Utc)),
        LocalResult::None => {
            // In a gap (clocks jump forward): walk to its end, a minute at a time. Gaps last an
            // hour or two; give up after a day.
            let mut probe = local;
            for _ in 0..24 * 60 {
                probe = probe.checked_add_signed(TimeDelta::minutes(1))?;
                if let Some(at) = tz.from_local_datetime(&probe).earliest() {
                    return Some(at.with_timezone(&Utc));
                }
            }
            None
        }
    }
}
