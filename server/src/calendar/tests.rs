//! Tests of the market-hours logic and tables, at fixed instants worked out by hand (no clock).

use super::*;
use MarketEventKind::{Close, LunchEnd, LunchStart, Open, PremarketStart};
use MarketStatusKind::{Closed, Lunch, Premarket};
use chrono::{Datelike, Weekday};

fn utc(year: i32, month: u32, day: u32, hour: u32, minute: u32, second: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(year, month, day, hour, minute, second)
        .single()
        .expect("valid UTC instant")
}

fn date(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).expect("valid date")
}

fn ex(code: &str) -> &'static Exchange {
    exchange_by_code(code).expect("known exchange")
}

/// Asserts the status and next event of `code` at `now` (a whole-second instant).
#[track_caller]
fn assert_status(
    code: &str,
    now: DateTime<Utc>,
    status: MarketStatusKind,
    next_event: MarketEventKind,
    next_event_at: DateTime<Utc>,
) -> MarketStatus {
    let got = status_at(ex(code), now);
    assert_eq!(
        (got.status, got.next_event, got.next_event_at),
        (status, next_event, next_event_at),
        "{code} at {now}"
    );
    assert_eq!(
        got.seconds_to_next_event,
        (next_event_at - now).num_seconds(),
        "{code} at {now}"
    );
    got
}

/// The (kind, instant) pairs of a trading day.
fn day_events(code: &str, day: NaiveDate) -> Vec<(MarketEventKind, DateTime<Utc>)> {
    events_on(ex(code), day)
        .into_iter()
        .map(|e| (e.kind, e.at))
        .collect()
}

// --- Sessions on ordinary days -------------------------------------------------------------

#[test]
fn nyse_weekday_open() {
    // Tuesday 2026-03-10, EDT (UTC-4): 10:00 local, close 16:00 = 20:00Z.
    let s = assert_status(
        "XNYS",
        utc(2026, 3, 10, 14, 0, 0),
        MarketStatusKind::Open,
        Close,
        utc(2026, 3, 10, 20, 0, 0),
    );
    assert_eq!(s.market_id, 1);
    assert_eq!(s.code, "XNYS");
    assert_eq!(s.name, "New York Stock Exchange");
    assert_eq!(s.country, "USA");
    assert_eq!(s.time_zone, "America/New_York");
    assert_eq!(s.local_time, "2026-03-10T10:00:00-04:00");
    assert_eq!(s.seconds_to_next_event, 6 * 3600);
    assert_eq!(s.holiday, None);
    // The open itself counts as open; one second before is premarket.
    assert_status(
        "XNYS",
        utc(2026, 3, 10, 13, 30, 0),
        MarketStatusKind::Open,
        Close,
        utc(2026, 3, 10, 20, 0, 0),
    );
    assert_status(
        "XNYS",
        utc(2026, 3, 10, 13, 29, 59),
        Premarket,
        Open,
        utc(2026, 3, 10, 13, 30, 0),
    );
}

#[test]
fn nyse_and_nasdaq_premarket() {
    for code in ["XNYS", "XNAS"] {
        // 08:00 EDT = 12:00Z; open 09:30 EDT = 13:30Z.
        let s = assert_status(
            code,
            utc(2026, 3, 10, 12, 0, 0),
            Premarket,
            Open,
            utc(2026, 3, 10, 13, 30, 0),
        );
        assert_eq!(s.seconds_to_next_event, 5400);
        // 03:59 EDT: closed until premarket at 04:00 EDT = 08:00Z.
        assert_status(
            code,
            utc(2026, 3, 10, 7, 59, 0),
            Closed,
            PremarketStart,
            utc(2026, 3, 10, 8, 0, 0),
        );
        // 16:00 EDT: closed until Wednesday's premarket.
        assert_status(
            code,
            utc(2026, 3, 10, 20, 0, 0),
            Closed,
            PremarketStart,
            utc(2026, 3, 11, 8, 0, 0),
        );
    }
    assert_eq!(
        status_at(ex("XNAS"), utc(2026, 3, 10, 12, 0, 0)).market_id,
        2
    );
}

#[test]
fn hkex_lunch_break() {
    // HKT = UTC+8, no DST. 12:30 HKT on Tuesday 2026-03-10 = 04:30Z.
    let s = assert_status(
        "XHKG",
        utc(2026, 3, 10, 4, 30, 0),
        Lunch,
        LunchEnd,
        utc(2026, 3, 10, 5, 0, 0),
    );
    assert_eq!(s.local_time, "2026-03-10T12:30:00+08:00");
    assert_eq!(s.seconds_to_next_event, 1800);
    // Morning session runs to 12:00 HKT = 04:00Z, afternoon to 16:00 HKT = 08:00Z.
    assert_status(
        "XHKG",
        utc(2026, 3, 10, 2, 0, 0),
        MarketStatusKind::Open,
        LunchStart,
        utc(2026, 3, 10, 4, 0, 0),
    );
    assert_status(
        "XHKG",
        utc(2026, 3, 10, 4, 0, 0),
        Lunch,
        LunchEnd,
        utc(2026, 3, 10, 5, 0, 0),
    );
    assert_status(
        "XHKG",
        utc(2026, 3, 10, 5, 0, 0),
        MarketStatusKind::Open,
        Close,
        utc(2026, 3, 10, 8, 0, 0),
    );
    assert_status(
        "XHKG",
        utc(2026, 3, 10, 1, 0, 0),
        Closed,
        Open,
        utc(2026, 3, 10, 1, 30, 0),
    );
    assert_eq!(
        day_events("XHKG", date(2026, 3, 10)),
        vec![
            (Open, utc(2026, 3, 10, 1, 30, 0)),
            (LunchStart, utc(2026, 3, 10, 4, 0, 0)),
            (LunchEnd, utc(2026, 3, 10, 5, 0, 0)),
            (Close, utc(2026, 3, 10, 8, 0, 0)),
        ]
    );
}

#[test]
fn jpx_lunch_break() {
    // JST = UTC+9. Lunch 11:30-12:30 JST = 02:30Z-03:30Z; close 15:30 JST = 06:30Z.
    let s = assert_status(
        "XTKS",
        utc(2026, 3, 10, 3, 0, 0),
        Lunch,
        LunchEnd,
        utc(2026, 3, 10, 3, 30, 0),
    );
    assert_eq!(s.local_time, "2026-03-10T12:00:00+09:00");
    assert_status(
        "XTKS",
        utc(2026, 3, 10, 2, 30, 0),
        Lunch,
        LunchEnd,
        utc(2026, 3, 10, 3, 30, 0),
    );
    assert_status(
        "XTKS",
        utc(2026, 3, 10, 2, 29, 0),
        MarketStatusKind::Open,
        LunchStart,
        utc(2026, 3, 10, 2, 30, 0),
    );
    assert_status(
        "XTKS",
        utc(2026, 3, 10, 6, 29, 0),
        MarketStatusKind::Open,
        Close,
        utc(2026, 3, 10, 6, 30, 0),
    );
    assert_status(
        "XTKS",
        utc(2026, 3, 10, 6, 30, 0),
        Closed,
        Open,
        utc(2026, 3, 11, 0, 0, 0),
    );
}

#[test]
fn sse_lunch_break() {
    // CST = UTC+8. Lunch 11:30-13:00 = 03:30Z-05:00Z; close 15:00 = 07:00Z.
    assert_status(
        "XSHG",
        utc(2026, 3, 10, 4, 0, 0),
        Lunch,
        LunchEnd,
        utc(2026, 3, 10, 5, 0, 0),
    );
    assert_status(
        "XSHG",
        utc(2026, 3, 10, 6, 0, 0),
        MarketStatusKind::Open,
        Close,
        utc(2026, 3, 10, 7, 0, 0),
    );
}

#[test]
fn jpx_close_moved_to_1530_in_november_2024() {
    // Thursday 2024-10-31 15:10 JST: closed since 15:00, next open Friday 09:00 JST = 00:00Z.
    assert_status(
        "XTKS",
        utc(2024, 10, 31, 6, 10, 0),
        Closed,
        Open,
        utc(2024, 11, 1, 0, 0, 0),
    );
    // Tuesday 2024-11-05 15:10 JST: still open until 15:30 JST = 06:30Z.
    assert_status(
        "XTKS",
        utc(2024, 11, 5, 6, 10, 0),
        MarketStatusKind::Open,
        Close,
        utc(2024, 11, 5, 6, 30, 0),
    );
}

#[test]
fn other_exchanges_open_at_their_local_times() {
    // Tuesday 2026-03-10: US on EDT already, Europe still on winter time, Sydney on AEDT.
    let day = date(2026, 3, 10);
    let first = |code: &str| day_events(code, day).into_iter().find(|(k, _)| *k == Open);
    assert_eq!(first("XTSE"), Some((Open, utc(2026, 3, 10, 13, 30, 0))));
    assert_eq!(first("XLON"), Some((Open, utc(2026, 3, 10, 8, 0, 0))));
    assert_eq!(first("XETR"), Some((Open, utc(2026, 3, 10, 8, 0, 0))));
    assert_eq!(first("XPAR"), Some((Open, utc(2026, 3, 10, 8, 0, 0))));
    assert_eq!(first("XASX"), Some((Open, utc(2026, 3, 9, 23, 0, 0))));
    // IST = UTC+5:30: 09:15 = 03:45Z, 15:30 = 10:00Z.
    assert_eq!(
        day_events("XNSE", day),
        vec![
            (Open, utc(2026, 3, 10, 3, 45, 0)),
            (Close, utc(2026, 3, 10, 10, 0, 0))
        ]
    );
    let s = status_at(ex("XNSE"), utc(2026, 3, 10, 4, 0, 0));
    assert_eq!(s.local_time, "2026-03-10T09:30:00+05:30");
}

// --- Weekends and holidays -----------------------------------------------------------------

#[test]
fn weekend_points_to_monday() {
    let saturday = utc(2026, 3, 14, 12, 0, 0);
    // Monday 2026-03-16 04:00 EDT = 08:00Z, 44 h after Saturday noon UTC.
    let s = assert_status(
        "XNYS",
        saturday,
        Closed,
        PremarketStart,
        utc(2026, 3, 16, 8, 0, 0),
    );
    assert_eq!(s.seconds_to_next_event, 44 * 3600);
    assert_eq!(s.holiday, None);
    // London still on GMT: 08:00 = 08:00Z.
    assert_status("XLON", saturday, Closed, Open, utc(2026, 3, 16, 8, 0, 0));
    // Hong Kong 09:30 HKT = 01:30Z.
    assert_status("XHKG", saturday, Closed, Open, utc(2026, 3, 16, 1, 30, 0));
    // Tokyo 09:00 JST = 00:00Z.
    assert_status("XTKS", saturday, Closed, Open, utc(2026, 3, 16, 0, 0, 0));
    // Sydney (AEDT, UTC+11): Saturday 23:00 local; Monday 10:00 AEDT = Sunday 23:00Z.
    assert_status("XASX", saturday, Closed, Open, utc(2026, 3, 15, 23, 0, 0));
    // Friday at the close: next is Monday's premarket.
    assert_status(
        "XNYS",
        utc(2026, 3, 13, 20, 0, 0),
        Closed,
        PremarketStart,
        utc(2026, 3, 16, 8, 0, 0),
    );
}

#[test]
fn nyse_christmas_2026_is_a_holiday() {
    // Friday 2026-12-25 10:00 EST = 15:00Z. Next: Monday 2026-12-28 04:00 EST = 09:00Z.
    let s = assert_status(
        "XNYS",
        utc(2026, 12, 25, 15, 0, 0),
        Closed,
        PremarketStart,
        utc(2026, 12, 28, 9, 0, 0),
    );
    assert_eq!(s.holiday.as_deref(), Some("Christmas Day"));
    assert!(day_events("XNYS", date(2026, 12, 25)).is_empty());
    // The holiday is named all local day long, from just after midnight EST (05:00Z).
    let early = status_at(ex("XNYS"), utc(2026, 12, 25, 5, 1, 0));
    assert_eq!(early.holiday.as_deref(), Some("Christmas Day"));
    // Christmas Eve closes at 13:00 EST = 18:00Z; afterwards the next event skips the holiday
    // and the weekend.
    assert_status(
        "XNYS",
        utc(2026, 12, 24, 17, 59, 0),
        MarketStatusKind::Open,
        Close,
        utc(2026, 12, 24, 18, 0, 0),
    );
    let eve = assert_status(
        "XNYS",
        utc(2026, 12, 24, 18, 0, 0),
        Closed,
        PremarketStart,
        utc(2026, 12, 28, 9, 0, 0),
    );
    assert_eq!(eve.holiday, None);
}

#[test]
fn day_before_a_holiday_points_past_it() {
    // Thursday 2026-07-02 16:00 EDT = 20:00Z; Friday 3 July is Independence Day (observed).
    assert_status(
        "XNYS",
        utc(2026, 7, 2, 20, 0, 0),
        Closed,
        PremarketStart,
        utc(2026, 7, 6, 8, 0, 0),
    );
    let s = status_at(ex("XNYS"), utc(2026, 7, 3, 14, 0, 0));
    assert_eq!(s.holiday.as_deref(), Some("Independence Day (observed)"));
    // Hong Kong, Thursday 2026-04-02 16:00 HKT = 08:00Z: Good Friday, Easter Monday and the day
    // following Ching Ming (Tuesday) closed; next open Wednesday 09:30 HKT = 01:30Z.
    assert_status(
        "XHKG",
        utc(2026, 4, 2, 8, 0, 0),
        Closed,
        Open,
        utc(2026, 4, 8, 1, 30, 0),
    );
    // Shanghai, Friday 2026-02-13 15:00 CST = 07:00Z: Spring Festival closes 16-20 and 23 Feb;
    // next open Tuesday 2026-02-24 09:30 CST = 01:30Z.
    assert_status(
        "XSHG",
        utc(2026, 2, 13, 7, 0, 0),
        Closed,
        Open,
        utc(2026, 2, 24, 1, 30, 0),
    );
    let s = status_at(ex("XSHG"), utc(2026, 2, 18, 3, 0, 0));
    assert_eq!(
        (s.status, s.holiday.as_deref()),
        (Closed, Some("Spring Festival"))
    );
}

#[test]
fn lse_good_friday_2026_is_a_holiday() {
    // London on BST since 29 March. Friday 2026-04-03 10:00 BST = 09:00Z; Easter Monday closed
    // too, so next open is Tuesday 2026-04-07 08:00 BST = 07:00Z.
    let s = assert_status(
        "XLON",
        utc(2026, 4, 3, 9, 0, 0),
        Closed,
        Open,
        utc(2026, 4, 7, 7, 0, 0),
    );
    assert_eq!(s.holiday.as_deref(), Some("Good Friday"));
    assert_eq!(s.local_time, "2026-04-03T10:00:00+01:00");
    let monday = status_at(ex("XLON"), utc(2026, 4, 6, 9, 0, 0));
    assert_eq!(monday.holiday.as_deref(), Some("Easter Monday"));
}

#[test]
fn hkex_half_day_has_no_afternoon() {
    // Christmas Eve 2026: morning only, close 12:00 HKT = 04:00Z.
    assert_eq!(
        day_events("XHKG", date(2026, 12, 24)),
        vec![
            (Open, utc(2026, 12, 24, 1, 30, 0)),
            (Close, utc(2026, 12, 24, 4, 0, 0))
        ]
    );
    // Then Christmas (Friday) and the weekend; Saturday 26th is the "first weekday after
    // Christmas", so Monday 28th trades: 09:30 HKT = 01:30Z.
    assert_status(
        "XHKG",
        utc(2026, 12, 24, 4, 0, 0),
        Closed,
        Open,
        utc(2026, 12, 28, 1, 30, 0),
    );
}

#[test]
fn outside_covered_years_only_weekends_close() {
    let nyse = ex("XNYS");
    assert_eq!(nyse.holiday_years(), 2025..=2027);
    assert!(nyse.covers_year(2027) && !nyse.covers_year(2028));
    assert!(ex("XSHG").covers_year(2026) && !ex("XSHG").covers_year(2027));
    assert!(ex("XNSE").covers_year(2026) && !ex("XNSE").covers_year(2027));
    // Tuesday 2029-12-25 10:00 EST = 15:00Z: no table for 2029, so an ordinary day.
    let s = assert_status(
        "XNYS",
        utc(2029, 12, 25, 15, 0, 0),
        MarketStatusKind::Open,
        Close,
        utc(2029, 12, 25, 21, 0, 0),
    );
    assert_eq!(s.holiday, None);
}

// --- DST changes ---------------------------------------------------------------------------

#[test]
fn new_york_dst_start_2026() {
    // EST (UTC-5) until Sunday 2026-03-08, then EDT (UTC-4).
    assert_eq!(
        day_events("XNYS", date(2026, 3, 6)),
        vec![
            (PremarketStart, utc(2026, 3, 6, 9, 0, 0)),
            (Open, utc(2026, 3, 6, 14, 30, 0)),
            (Close, utc(2026, 3, 6, 21, 0, 0)),
        ]
    );
    assert_eq!(
        day_events("XNYS", date(2026, 3, 9)),
        vec![
            (PremarketStart, utc(2026, 3, 9, 8, 0, 0)),
            (Open, utc(2026, 3, 9, 13, 30, 0)),
            (Close, utc(2026, 3, 9, 20, 0, 0)),
        ]
    );
    let friday = assert_status(
        "XNYS",
        utc(2026, 3, 6, 14, 45, 0),
        MarketStatusKind::Open,
        Close,
        utc(2026, 3, 6, 21, 0, 0),
    );
    assert_eq!(friday.local_time, "2026-03-06T09:45:00-05:00");
    assert_status(
        "XNYS",
        utc(2026, 3, 6, 14, 29, 0),
        Premarket,
        Open,
        utc(2026, 3, 6, 14, 30, 0),
    );
    // Friday close to Monday premarket across the change: 2 days 11 h.
    let s = assert_status(
        "XNYS",
        utc(2026, 3, 6, 21, 0, 0),
        Closed,
        PremarketStart,
        utc(2026, 3, 9, 8, 0, 0),
    );
    assert_eq!(s.seconds_to_next_event, (48 + 11) * 3600);
    let monday = assert_status(
        "XNYS",
        utc(2026, 3, 9, 13, 45, 0),
        MarketStatusKind::Open,
        Close,
        utc(2026, 3, 9, 20, 0, 0),
    );
    assert_eq!(monday.local_time, "2026-03-09T09:45:00-04:00");
    assert_status(
        "XNYS",
        utc(2026, 3, 9, 13, 29, 0),
        Premarket,
        Open,
        utc(2026, 3, 9, 13, 30, 0),
    );
    // During the Sunday itself, across the 02:00 jump.
    assert_status(
        "XNYS",
        utc(2026, 3, 8, 6, 59, 0),
        Closed,
        PremarketStart,
        utc(2026, 3, 9, 8, 0, 0),
    );
    assert_status(
        "XNYS",
        utc(2026, 3, 8, 7, 0, 0),
        Closed,
        PremarketStart,
        utc(2026, 3, 9, 8, 0, 0),
    );
}

#[test]
fn new_york_dst_end_2026() {
    // EDT until Sunday 2026-11-01, then EST: Friday 30 Oct opens 13:30Z, Monday 2 Nov 14:30Z.
    assert_eq!(
        day_events("XNYS", date(2026, 10, 30)).get(1),
        Some(&(Open, utc(2026, 10, 30, 13, 30, 0)))
    );
    assert_eq!(
        day_events("XNYS", date(2026, 11, 2)).get(1),
        Some(&(Open, utc(2026, 11, 2, 14, 30, 0)))
    );
    assert_status(
        "XNYS",
        utc(2026, 10, 30, 20, 0, 0),
        Closed,
        PremarketStart,
        utc(2026, 11, 2, 9, 0, 0),
    );
}

#[test]
fn london_dst_start_2026() {
    // GMT until Sunday 2026-03-29, then BST (UTC+1).
    assert_eq!(
        day_events("XLON", date(2026, 3, 27)),
        vec![
            (Open, utc(2026, 3, 27, 8, 0, 0)),
            (Close, utc(2026, 3, 27, 16, 30, 0))
        ]
    );
    assert_eq!(
        day_events("XLON", date(2026, 3, 30)),
        vec![
            (Open, utc(2026, 3, 30, 7, 0, 0)),
            (Close, utc(2026, 3, 30, 15, 30, 0))
        ]
    );
    // Friday close to Monday open: 2 days 14.5 h.
    let s = assert_status(
        "XLON",
        utc(2026, 3, 27, 16, 30, 0),
        Closed,
        Open,
        utc(2026, 3, 30, 7, 0, 0),
    );
    assert_eq!(s.seconds_to_next_event, 225_000);
    assert_eq!(s.local_time, "2026-03-27T16:30:00+00:00");
    let monday = assert_status(
        "XLON",
        utc(2026, 3, 30, 7, 0, 0),
        MarketStatusKind::Open,
        Close,
        utc(2026, 3, 30, 15, 30, 0),
    );
    assert_eq!(monday.local_time, "2026-03-30T08:00:00+01:00");
    // Xetra and Euronext change the same night: 09:00 CET = 08:00Z, then 09:00 CEST = 07:00Z.
    for code in ["XETR", "XPAR"] {
        assert_eq!(
            day_events(code, date(2026, 3, 27)).first(),
            Some(&(Open, utc(2026, 3, 27, 8, 0, 0)))
        );
        assert_eq!(
            day_events(code, date(2026, 3, 30)).first(),
            Some(&(Open, utc(2026, 3, 30, 7, 0, 0)))
        );
    }
}

#[test]
fn sydney_dst_end_2026() {
    // AEDT (UTC+11) ends Sunday 2026-04-05; then AEST (UTC+10). Thursday 2 April opens
    // 10:00 AEDT = 1 April 23:00Z and closes 16:00 AEDT = 05:00Z.
    assert_eq!(
        day_events("XASX", date(2026, 4, 2)),
        vec![
            (Open, utc(2026, 4, 1, 23, 0, 0)),
            (Close, utc(2026, 4, 2, 5, 0, 0))
        ]
    );
    assert_status(
        "XASX",
        utc(2026, 4, 1, 22, 59, 59),
        Closed,
        Open,
        utc(2026, 4, 1, 23, 0, 0),
    );
    // Good Friday, the weekend and Easter Monday closed: next open Tuesday 7 April 10:00 AEST
    // = 00:00Z, 4 days 19 h later.
    let s = assert_status(
        "XASX",
        utc(2026, 4, 2, 5, 0, 0),
        Closed,
        Open,
        utc(2026, 4, 7, 0, 0, 0),
    );
    assert_eq!(s.seconds_to_next_event, (4 * 24 + 19) * 3600);
    let good_friday = status_at(ex("XASX"), utc(2026, 4, 3, 1, 0, 0));
    assert_eq!(good_friday.holiday.as_deref(), Some("Good Friday"));
    assert_eq!(good_friday.local_time, "2026-04-03T12:00:00+11:00");
    assert_eq!(
        day_events("XASX", date(2026, 4, 7)),
        vec![
            (Open, utc(2026, 4, 7, 0, 0, 0)),
            (Close, utc(2026, 4, 7, 6, 0, 0))
        ]
    );
}

#[test]
fn sydney_dst_start_2026() {
    // AEDT starts Sunday 2026-10-04: Friday 2 Oct opens 10:00 AEST = 00:00Z, Monday 5 Oct
    // 10:00 AEDT = Sunday 4 Oct 23:00Z.
    assert_eq!(
        day_events("XASX", date(2026, 10, 2)).first(),
        Some(&(Open, utc(2026, 10, 2, 0, 0, 0)))
    );
    assert_status(
        "XASX",
        utc(2026, 10, 2, 6, 0, 0),
        Closed,
        Open,
        utc(2026, 10, 4, 23, 0, 0),
    );
}

#[test]
fn gaps_and_overlaps_resolve_without_panicking() {
    let ny = chrono_tz::America::New_York;
    let local = |d: NaiveDate, h: u32, m: u32| d.and_hms_opt(h, m, 0).expect("valid time");
    // 02:30 does not exist on 2026-03-08: the gap ends at 03:00 EDT = 07:00Z.
    assert_eq!(
        resolve_local(ny, local(date(2026, 3, 8), 2, 30)),
        Some(utc(2026, 3, 8, 7, 0, 0))
    );
    // 01:30 happens twice on 2026-11-01: first as EDT = 05:30Z.
    assert_eq!(
        resolve_local(ny, local(date(2026, 11, 1), 1, 30)),
        Some(utc(2026, 11, 1, 5, 30, 0))
    );
}

/// A made-up exchange in Cairo, where DST starts at midnight on a Friday (2026-04-24, 00:00 ->
/// 01:00) and ends at midnight on a Thursday (2026-10-29, 24:00 -> 23:00), so sessions fall into
/// the gap and the overlap on trading days.
const CAIRO_SESSIONS: &[Sessions] = &[Sessions {
    from: None,
    premarket: Some(HourMinute::new(0, 15)),
    open: HourMinute::new(0, 45),
    lunch: Some((HourMinute::new(12, 0), HourMinute::new(13, 0))),
    close: HourMinute::new(23, 30),
}];

fn cairo() -> Exchange {
    Exchange {
        id: 99,
        code: "TEST",
        name: "Test exchange",
        country: "Egypt",
        tz: chrono_tz::Africa::Cairo,
        sessions: CAIRO_SESSIONS,
        holidays: &[],
        early_closes: &[],
        holiday_years: 2026..=2026,
        source: "tests",
    }
}

#[test]
fn sessions_inside_dst_gaps_and_overlaps() {
    let cairo = cairo();
    // Friday 24 April: 00:15 and 00:45 do not exist, both land on 01:00 EEST = 23 April 22:00Z.
    // Close 23:30 EEST = 20:30Z.
    let friday: Vec<_> = events_on(&cairo, date(2026, 4, 24))
        .into_iter()
        .map(|e| (e.kind, e.at))
        .collect();
    assert_eq!(
        friday,
        vec![
            (PremarketStart, utc(2026, 4, 23, 22, 0, 0)),
            (Open, utc(2026, 4, 23, 22, 0, 0)),
            (LunchStart, utc(2026, 4, 24, 9, 0, 0)),
            (LunchEnd, utc(2026, 4, 24, 10, 0, 0)),
            (Close, utc(2026, 4, 24, 20, 30, 0)),
        ]
    );
    // Thursday 29 October: 23:30 happens twice; the close is the first (EEST) = 20:30Z.
    let thursday = events_on(&cairo, date(2026, 10, 29));
    assert_eq!(
        thursday.last().map(|e| (e.kind, e.at)),
        Some((Close, utc(2026, 10, 29, 20, 30, 0)))
    );
    // Every minute across both changes: never a panic, always a future next event.
    for (start, end) in [
        (utc(2026, 4, 22, 0, 0, 0), utc(2026, 4, 28, 0, 0, 0)),
        (utc(2026, 10, 27, 0, 0, 0), utc(2026, 11, 2, 0, 0, 0)),
    ] {
        let mut now = start;
        while now < end {
            let s = status_at(&cairo, now);
            assert!(s.next_event_at > now, "{now}: {s:?}");
            assert_eq!(
                s.seconds_to_next_event,
                (s.next_event_at - now).num_seconds()
            );
            now += TimeDelta::minutes(1);
        }
    }
}

// --- Properties over many instants ---------------------------------------------------------

/// What must hold for any status, whatever the instant.
#[track_caller]
fn check_invariants(exchange: &Exchange, now: DateTime<Utc>, s: &MarketStatus) {
    let context = format!("{} at {now}: {s:?}", exchange.code);
    assert!(s.next_event_at > now, "{context}");
    let delta = s.next_event_at - now;
    assert!(
        s.seconds_to_next_event >= delta.num_seconds()
            && s.seconds_to_next_event <= delta.num_seconds() + 1,
        "{context}"
    );
    if delta.subsec_nanos() == 0 {
        assert_eq!(s.seconds_to_next_event, delta.num_seconds(), "{context}");
    }
    let allowed: &[MarketEventKind] = match s.status {
        Premarket => &[Open],
        MarketStatusKind::Open => &[LunchStart, Close],
        Lunch => &[LunchEnd],
        Closed => &[Open, PremarketStart],
    };
    assert!(allowed.contains(&s.next_event), "{context}");
    if s.holiday.is_some() {
        assert_eq!(s.status, Closed, "{context}");
    }
    assert_eq!(s.market_id, exchange.id);
    assert_eq!(s.time_zone, exchange.tz.name());
}

/// Walks every 7 minutes from `start` for `days` days over every exchange, checking the
/// invariants and that the status only changes at the announced next event.
fn walk(start: DateTime<Utc>, days: i64) {
    let end = start + TimeDelta::days(days);
    for exchange in exchanges() {
        let mut previous: Option<MarketStatus> = None;
        let mut now = start;
        while now < end {
            let s = status_at(exchange, now);
            check_invariants(exchange, now, &s);
            if let Some(p) = &previous {
                if now < p.next_event_at {
                    assert_eq!(
                        (s.status, s.next_event, s.next_event_at),
                        (p.status, p.next_event, p.next_event_at),
                        "{} changed before its next event at {now}",
                        exchange.code
                    );
                } else {
                    assert!(
                        s.next_event_at >= p.next_event_at,
                        "{} went back at {now}",
                        exchange.code
                    );
                    // At the announced instant the announced transition has happened.
                    let at = status_at(exchange, p.next_event_at);
                    assert_eq!(
                        at.status,
                        p.next_event.status_after(),
                        "{} at {}",
                        exchange.code,
                        p.next_event_at
                    );
                }
            }
            previous = Some(s);
            now += TimeDelta::minutes(7);
        }
    }
}

#[test]
fn every_seven_minutes_around_us_dst_start() {
    walk(utc(2026, 3, 1, 0, 0, 0), 14);
}

#[test]
fn every_seven_minutes_around_europe_dst_start_easter_and_sydney_dst_end() {
    walk(utc(2026, 3, 23, 0, 0, 3), 16);
}

#[test]
fn every_seven_minutes_around_autumn_dst_changes() {
    // Sydney starts 4 October, Europe ends 25 October, New York 1 November.
    walk(utc(2026, 9, 28, 0, 0, 0), 8);
    walk(utc(2026, 10, 20, 0, 0, 0), 16);
}

#[test]
fn every_seven_minutes_over_year_ends() {
    // Early closes, Christmas, New Year, and the end of the SSE/NSE tables.
    walk(utc(2026, 12, 20, 0, 0, 0), 16);
    walk(utc(2027, 12, 20, 0, 0, 0), 16);
}

#[test]
fn seconds_round_up_for_fractional_instants() {
    let now = utc(2026, 3, 10, 13, 29, 59) + TimeDelta::milliseconds(250);
    let s = status_at(ex("XNYS"), now);
    assert_eq!(
        (s.status, s.next_event, s.next_event_at),
        (Premarket, Open, utc(2026, 3, 10, 13, 30, 0))
    );
    assert_eq!(s.seconds_to_next_event, 1);
    assert_eq!(s.local_time, "2026-03-10T09:29:59-04:00");
    let s = status_at(
        ex("XNYS"),
        utc(2026, 3, 10, 13, 0, 0) + TimeDelta::milliseconds(1),
    );
    assert_eq!(s.seconds_to_next_event, 1800);
}

#[test]
fn global_status_lists_every_exchange_in_id_order() {
    let now = utc(2026, 3, 10, 14, 0, 0);
    let global = global_status_at(now);
    assert_eq!(global.as_of, now);
    assert_eq!(global.markets.len(), exchanges().len());
    let ids: Vec<u32> = global.markets.iter().map(|m| m.market_id).collect();
    assert_eq!(ids, (1..=11).collect::<Vec<u32>>());
    for (market, exchange) in global.markets.iter().zip(exchanges()) {
        assert_eq!(market, &status_at(exchange, now));
    }
    let codes: Vec<&str> = global.markets.iter().map(|m| m.code.as_str()).collect();
    assert_eq!(
        codes,
        [
            "XNYS", "XNAS", "XTSE", "XLON", "XETR", "XPAR", "XTKS", "XHKG", "XSHG", "XASX", "XNSE"
        ]
    );
    assert_eq!(exchange_by_code("xlon").map(|e| e.id), Some(4));
    assert_eq!(exchange_by_id(8).map(|e| e.code), Some("XHKG"));
    assert!(exchange_by_code("XXXX").is_none());
}

// --- The tables themselves -----------------------------------------------------------------

#[test]
fn tables_are_sorted_weekday_and_within_their_years() {
    for exchange in exchanges() {
        let code = exchange.code;
        let mut last: Option<Ymd> = None;
        for holiday in exchange.holidays {
            let day = holiday
                .date
                .date()
                .unwrap_or_else(|| panic!("{code}: bad date {holiday:?}"));
            assert!(
                !matches!(day.weekday(), Weekday::Sat | Weekday::Sun),
                "{code}: weekend {holiday:?}"
            );
            assert!(
                exchange.covers_year(day.year()),
                "{code}: {holiday:?} outside the covered years"
            );
            assert!(
                last.is_none_or(|l| l < holiday.date),
                "{code}: unsorted at {holiday:?}"
            );
            assert!(!holiday.name.is_empty());
            last = Some(holiday.date);
        }
        let mut last: Option<Ymd> = None;
        for early in exchange.early_closes {
            let day = early
                .date
                .date()
                .unwrap_or_else(|| panic!("{code}: bad date {early:?}"));
            assert!(
                exchange.is_trading_day(day),
                "{code}: early close on a closed day {early:?}"
            );
            assert!(
                exchange.covers_year(day.year()),
                "{code}: {early:?} outside the covered years"
            );
            assert!(
                last.is_none_or(|l| l < early.date),
                "{code}: unsorted at {early:?}"
            );
            let regular = exchange.sessions_on(day).map(|s| s.close);
            assert!(
                regular.is_some_and(|close| early.close < close),
                "{code}: {early:?}"
            );
            last = Some(early.date);
        }
        assert!(!exchange.sessions.is_empty(), "{code}");
        assert!(
            exchange.sessions[0].from.is_none(),
            "{code}: first hours must apply always"
        );
        for s in exchange.sessions {
            assert!(
                s.open.time().is_some() && s.close.time().is_some(),
                "{code}"
            );
            assert!(s.premarket.is_none_or(|p| p < s.open), "{code}");
            match s.lunch {
                Some((start, end)) => {
                    assert!(s.open < start && start < end && end < s.close, "{code}")
                }
                None => assert!(s.open < s.close, "{code}"),
            }
        }
        // Every covered year has some holidays (the tables are not silently empty).
        for year in exchange.holiday_years() {
            assert!(
                exchange.holidays.iter().any(|h| h.date.year == year),
                "{code}: none in {year}"
            );
        }
    }
    let mut ids: Vec<u32> = exchanges().iter().map(|e| e.id).collect();
    ids.dedup();
    assert_eq!(
        ids.len(),
        exchanges().len(),
        "ids must be unique and in order"
    );
}

/// Easter Sunday (Gregorian), by the anonymous algorithm (Meeus/Jones/Butcher).
fn easter(year: i32) -> NaiveDate {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    date(year, month as u32, day as u32)
}

#[test]
fn easter_holidays_match_the_computed_easter() {
    assert_eq!(easter(2025), date(2025, 4, 20));
    assert_eq!(easter(2026), date(2026, 4, 5));
    assert_eq!(easter(2027), date(2027, 3, 28));
    for exchange in exchanges() {
        for holiday in exchange.holidays {
            let Some(day) = holiday.date.date() else {
                continue;
            };
            let easter = easter(day.year());
            match holiday.name {
                "Good Friday" => assert_eq!(day, easter - TimeDelta::days(2), "{}", exchange.code),
                "Easter Monday" => {
                    assert_eq!(day, easter + TimeDelta::days(1), "{}", exchange.code)
                }
                _ => {}
            }
        }
        // Every Western exchange (and HKEX, ASX, NSE) closes on Good Friday each covered year.
        if !matches!(exchange.code, "XTKS" | "XSHG") {
            for year in exchange.holiday_years() {
                let good_friday = easter(year) - TimeDelta::days(2);
                assert_eq!(
                    exchange.holiday_on(good_friday),
                    Some("Good Friday"),
                    "{} {year}",
                    exchange.code
                );
            }
        }
    }
}
