//! Exchange definitions: trading hours, time zones, holiday and early-close tables per exchange.
//!
//! # Sources and coverage
//! Each table names where it comes from. The lists were written from the exchanges' own published
//! calendars and checked date by date against the `exchange_calendars` Python project
//! (github.com/gerrymanoim/exchange_calendars, snapshot of July 2026), which tracks them.
//! Only weekday closures are listed (weekends are closed anyway). Outside
//! [`Exchange::holiday_years`] no holidays are known and only weekends close a market.
//! Unscheduled closures (typhoons in Hong Kong, national days of mourning announced at short
//! notice) and special weekend sessions (e.g. NSE's Budget-day Saturday) are not modelled.

use std::ops::RangeInclusive;

use chrono::{Datelike, NaiveDate, NaiveTime, Weekday};
use chrono_tz::Tz;

/// A local calendar date, as written in the tables (ordered chronologically).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ymd {
    pub year: i32,
    pub month: u32,
    pub day: u32,
}

impl Ymd {
    pub const fn new(year: i32, month: u32, day: u32) -> Self {
        Ymd { year, month, day }
    }

    /// The date, if the table entry names a real one.
    pub fn date(self) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(self.year, self.month, self.day)
    }
}

impl From<NaiveDate> for Ymd {
    fn from(date: NaiveDate) -> Self {
        Ymd::new(date.year(), date.month(), date.day())
    }
}

/// A local wall-clock time of day, to the minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HourMinute {
    pub hour: u32,
    pub minute: u32,
}

impl HourMinute {
    pub const fn new(hour: u32, minute: u32) -> Self {
        HourMinute { hour, minute }
    }

    pub fn time(self) -> Option<NaiveTime> {
        NaiveTime::from_hms_opt(self.hour, self.minute, 0)
    }
}

/// The trading hours of an exchange, in its local time, from a date on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sessions {
    /// First local date these hours apply to; `None` for "always" (the first entry).
    pub from: Option<Ymd>,
    /// Start of the premarket session, which runs until `open`.
    pub premarket: Option<HourMinute>,
    pub open: HourMinute,
    /// Midday break: (start, end).
    pub lunch: Option<(HourMinute, HourMinute)>,
    pub close: HourMinute,
}

/// A weekday on which the exchange does not trade at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holiday {
    pub date: Ymd,
    pub name: &'static str,
}

/// A trading day that ends before the regular close. When it ends at or before the midday break
/// the afternoon session is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EarlyClose {
    pub date: Ymd,
    pub close: HourMinute,
    pub name: &'static str,
}

/// One exchange: who it is, where its clock is, when it trades and when it does not.
#[derive(Debug, Clone, PartialEq)]
pub struct Exchange {
    /// Stable small id, never reused (the `market_id` of the payloads).
    pub id: u32,
    /// ISO 10383 market identifier code.
    pub code: &'static str,
    pub name: &'static str,
    pub country: &'static str,
    pub tz: Tz,
    /// Trading hours, oldest first; the last entry whose `from` is on or before a date applies.
    pub sessions: &'static [Sessions],
    /// Full-day closures on weekdays, in date order.
    pub holidays: &'static [Holiday],
    /// Shortened trading days, in date order.
    pub early_closes: &'static [EarlyClose],
    /// The years the holiday (and early-close) tables are complete for.
    pub holiday_years: RangeInclusive<i32>,
    /// Where the tables come from.
    pub source: &'static str,
}

impl Exchange {
    /// The IANA name of the exchange's time zone.
    pub fn time_zone(&self) -> &'static str {
        self.tz.name()
    }

    /// The years whose holidays are known; other years only close on weekends.
    pub fn holiday_years(&self) -> RangeInclusive<i32> {
        self.holiday_years.clone()
    }

    /// Whether the holiday tables cover `year`.
    pub fn covers_year(&self, year: i32) -> bool {
        self.holiday_years.contains(&year)
    }

    /// The holiday that closes the exchange on this local date, if any.
    pub fn holiday_on(&self, date: NaiveDate) -> Option<&'static str> {
        let key = Ymd::from(date);
        self.holidays.iter().find(|h| h.date == key).map(|h| h.name)
    }

    /// The early close of this local date, if it is one.
    pub fn early_close_on(&self, date: NaiveDate) -> Option<&'static EarlyClose> {
        let key = Ymd::from(date);
        self.early_closes.iter().find(|e| e.date == key)
    }

    /// Whether the exchange trades on this local date: a weekday that is not a holiday.
    pub fn is_trading_day(&self, date: NaiveDate) -> bool {
        !matches!(date.weekday(), Weekday::Sat | Weekday::Sun) && self.holiday_on(date).is_none()
    }

    /// The trading hours in force on this local date.
    pub fn sessions_on(&self, date: NaiveDate) -> Option<&'static Sessions> {
        let key = Ymd::from(date);
        self.sessions
            .iter()
            .rev()
            .find(|s| s.from.is_none_or(|from| from <= key))
    }
}

/// Every exchange, in `id` order.
pub fn exchanges() -> &'static [Exchange] {
    &EXCHANGES
}

/// The exchange with this market identifier code (case-insensitive), e.g. `"XNYS"`.
pub fn exchange_by_code(code: &str) -> Option<&'static Exchange> {
    EXCHANGES.iter().find(|e| e.code.eq_ignore_ascii_case(code))
}

/// The exchange with this id.
pub fn exchange_by_id(id: u32) -> Option<&'static Exchange> {
    EXCHANGES.iter().find(|e| e.id == id)
}

const fn hm(hour: u32, minute: u32) -> HourMinute {
    HourMinute::new(hour, minute)
}

const fn h(year: i32, month: u32, day: u32, name: &'static str) -> Holiday {
    Holiday {
        date: Ymd::new(year, month, day),
        name,
    }
}

const fn early(
    year: i32,
    month: u32,
    day: u32,
    close: HourMinute,
    name: &'static str,
) -> EarlyClose {
    EarlyClose {
        date: Ymd::new(year, month, day),
        close,
        name,
    }
}

/// Hours that never changed (as far as these tables go back).
const fn always(
    premarket: Option<HourMinute>,
    open: HourMinute,
    lunch: Option<(HourMinute, HourMinute)>,
    close: HourMinute,
) -> Sessions {
    Sessions {
        from: None,
        premarket,
        open,
        lunch,
        close,
    }
}

static EXCHANGES: [Exchange; 11] = [
    Exchange {
        id: 1,
        code: "XNYS",
        name: "New York Stock Exchange",
        country: "USA",
        tz: chrono_tz::America::New_York,
        sessions: US_SESSIONS,
        holidays: US_HOLIDAYS,
        early_closes: US_EARLY_CLOSES,
        holiday_years: 2025..=2027,
        source: US_SOURCE,
    },
    Exchange {
        id: 2,
        code: "XNAS",
        name: "Nasdaq",
        country: "USA",
        tz: chrono_tz::America::New_York,
        sessions: US_SESSIONS,
        holidays: US_HOLIDAYS,
        early_closes: US_EARLY_CLOSES,
        holiday_years: 2025..=2027,
        source: US_SOURCE,
    },
    Exchange {
        id: 3,
        code: "XTSE",
        name: "Toronto Stock Exchange",
        country: "Canada",
        tz: chrono_tz::America::Toronto,
        sessions: &[always(None, hm(9, 30), None, hm(16, 0))],
        holidays: TSX_HOLIDAYS,
        early_closes: TSX_EARLY_CLOSES,
        holiday_years: 2025..=2027,
        source: "TSX/TMX trading holiday calendar 2025-2027",
    },
    Exchange {
        id: 4,
        code: "XLON",
        name: "London Stock Exchange",
        country: "United Kingdom",
        tz: chrono_tz::Europe::London,
        sessions: &[always(None, hm(8, 0), None, hm(16, 30))],
        holidays: LSE_HOLIDAYS,
        early_closes: LSE_EARLY_CLOSES,
        holiday_years: 2025..=2027,
        source: "LSE business days calendar (England and Wales bank holidays) 2025-2027",
    },
    Exchange {
        id: 5,
        code: "XETR",
        name: "Xetra (Deutsche Börse)",
        country: "Germany",
        tz: chrono_tz::Europe::Berlin,
        sessions: &[always(None, hm(9, 0), None, hm(17, 30))],
        holidays: XETRA_HOLIDAYS,
        early_closes: XETRA_EARLY_CLOSES,
        holiday_years: 2025..=2027,
        source: "Deutsche Börse Xetra trading calendar 2025-2027",
    },
    Exchange {
        id: 6,
        code: "XPAR",
        name: "Euronext Paris",
        country: "France",
        tz: chrono_tz::Europe::Paris,
        sessions: &[always(None, hm(9, 0), None, hm(17, 30))],
        holidays: EURONEXT_HOLIDAYS,
        early_closes: EURONEXT_EARLY_CLOSES,
        holiday_years: 2025..=2027,
        source: "Euronext trading calendar 2025-2027",
    },
    Exchange {
        id: 7,
        code: "XTKS",
        name: "Tokyo Stock Exchange (JPX)",
        country: "Japan",
        tz: chrono_tz::Asia::Tokyo,
        sessions: &[
            always(None, hm(9, 0), Some((hm(11, 30), hm(12, 30))), hm(15, 0)),
            // arrowhead 4.0: the afternoon session runs to 15:30 from 5 November 2024.
            Sessions {
                from: Some(Ymd::new(2024, 11, 5)),
                premarket: None,
                open: hm(9, 0),
                lunch: Some((hm(11, 30), hm(12, 30))),
                close: hm(15, 30),
            },
        ],
        holidays: JPX_HOLIDAYS,
        early_closes: &[],
        holiday_years: 2025..=2027,
        source: "JPX market holidays (Japanese national holidays, Cabinet Office) 2025-2027",
    },
    Exchange {
        id: 8,
        code: "XHKG",
        name: "Hong Kong Exchanges and Clearing",
        country: "Hong Kong",
        tz: chrono_tz::Asia::Hong_Kong,
        sessions: &[always(
            None,
            hm(9, 30),
            Some((hm(12, 0), hm(13, 0))),
            hm(16, 0),
        )],
        holidays: HKEX_HOLIDAYS,
        early_closes: HKEX_EARLY_CLOSES,
        holiday_years: 2025..=2027,
        source: "HKEX trading calendar / HKSAR general holidays 2025-2027",
    },
    Exchange {
        id: 9,
        code: "XSHG",
        name: "Shanghai Stock Exchange",
        country: "China",
        tz: chrono_tz::Asia::Shanghai,
        sessions: &[always(
            None,
            hm(9, 30),
            Some((hm(11, 30), hm(13, 0))),
            hm(15, 0),
        )],
        holidays: SSE_HOLIDAYS,
        early_closes: &[],
        // The State Council announces each year's closures in November of the year before.
        holiday_years: 2025..=2026,
        source: "SSE closures per the State Council holiday notices for 2025 and 2026",
    },
    Exchange {
        id: 10,
        code: "XASX",
        name: "Australian Securities Exchange",
        country: "Australia",
        tz: chrono_tz::Australia::Sydney,
        sessions: &[always(None, hm(10, 0), None, hm(16, 0))],
        holidays: ASX_HOLIDAYS,
        early_closes: ASX_EARLY_CLOSES,
        holiday_years: 2025..=2027,
        source: "ASX trading calendar 2025-2027",
    },
    Exchange {
        id: 11,
        code: "XNSE",
        name: "National Stock Exchange of India",
        country: "India",
        tz: chrono_tz::Asia::Kolkata,
        sessions: &[always(None, hm(9, 15), None, hm(15, 30))],
        holidays: NSE_HOLIDAYS,
        early_closes: &[],
        // NSE publishes the next year's list in December.
        holiday_years: 2025..=2026,
        source: "NSE equity segment trading holidays 2025 and 2026 (circulars)",
    },
];

const US_SOURCE: &str = "NYSE Group holiday and early closings calendars (press releases of \
     November 2024 and December 2025) 2025-2027; Nasdaq follows the same calendar";

const US_SESSIONS: &[Sessions] = &[always(Some(hm(4, 0)), hm(9, 30), None, hm(16, 0))];

/// NYSE and Nasdaq, 2025-2027 (NYSE Group press releases; Nasdaq's calendar is identical).
const US_HOLIDAYS: &[Holiday] = &[
    h(2025, 1, 1, "New Year's Day"),
    h(
        2025,
        1,
        9,
        "National Day of Mourning for President Jimmy Carter",
    ),
    h(2025, 1, 20, "Martin Luther King Jr. Day"),
    h(2025, 2, 17, "Washington's Birthday"),
    h(2025, 4, 18, "Good Friday"),
    h(2025, 5, 26, "Memorial Day"),
    h(2025, 6, 19, "Juneteenth National Independence Day"),
    h(2025, 7, 4, "Independence Day"),
    h(2025, 9, 1, "Labor Day"),
    h(2025, 11, 27, "Thanksgiving Day"),
    h(2025, 12, 25, "Christmas Day"),
    h(2026, 1, 1, "New Year's Day"),
    h(2026, 1, 19, "Martin Luther King Jr. Day"),
    h(2026, 2, 16, "Washington's Birthday"),
    h(2026, 4, 3, "Good Friday"),
    h(2026, 5, 25, "Memorial Day"),
    h(2026, 6, 19, "Juneteenth National Independence Day"),
    h(2026, 7, 3, "Independence Day (observed)"),
    h(2026, 9, 7, "Labor Day"),
    h(2026, 11, 26, "Thanksgiving Day"),
    h(2026, 12, 25, "Christmas Day"),
    h(2027, 1, 1, "New Year's Day"),
    h(2027, 1, 18, "Martin Luther King Jr. Day"),
    h(2027, 2, 15, "Washington's Birthday"),
    h(2027, 3, 26, "Good Friday"),
    h(2027, 5, 31, "Memorial Day"),
    h(
        2027,
        6,
        18,
        "Juneteenth National Independence Day (observed)",
    ),
    h(2027, 7, 5, "Independence Day (observed)"),
    h(2027, 9, 6, "Labor Day"),
    h(2027, 11, 25, "Thanksgiving Day"),
    h(2027, 12, 24, "Christmas Day (observed)"),
];

/// NYSE and Nasdaq 13:00 ET closes, 2025-2027 (same press releases). Premarket is unaffected.
const US_EARLY_CLOSES: &[EarlyClose] = &[
    early(2025, 7, 3, hm(13, 0), "Day before Independence Day"),
    early(2025, 11, 28, hm(13, 0), "Day after Thanksgiving"),
    early(2025, 12, 24, hm(13, 0), "Christmas Eve"),
    early(2026, 11, 27, hm(13, 0), "Day after Thanksgiving"),
    early(2026, 12, 24, hm(13, 0), "Christmas Eve"),
    early(2027, 11, 26, hm(13, 0), "Day after Thanksgiving"),
];

/// TSX, 2025-2027 (TMX trading holidays; weekend Christmas/Boxing Day move to the next weekdays).
const TSX_HOLIDAYS: &[Holiday] = &[
    h(2025, 1, 1, "New Year's Day"),
    h(2025, 2, 17, "Family Day"),
    h(2025, 4, 18, "Good Friday"),
    h(2025, 5, 19, "Victoria Day"),
    h(2025, 7, 1, "Canada Day"),
    h(2025, 8, 4, "Civic Holiday"),
    h(2025, 9, 1, "Labour Day"),
    h(2025, 10, 13, "Thanksgiving Day"),
    h(2025, 12, 25, "Christmas Day"),
    h(2025, 12, 26, "Boxing Day"),
    h(2026, 1, 1, "New Year's Day"),
    h(2026, 2, 16, "Family Day"),
    h(2026, 4, 3, "Good Friday"),
    h(2026, 5, 18, "Victoria Day"),
    h(2026, 7, 1, "Canada Day"),
    h(2026, 8, 3, "Civic Holiday"),
    h(2026, 9, 7, "Labour Day"),
    h(2026, 10, 12, "Thanksgiving Day"),
    h(2026, 12, 25, "Christmas Day"),
    h(2026, 12, 28, "Boxing Day (observed)"),
    h(2027, 1, 1, "New Year's Day"),
    h(2027, 2, 15, "Family Day"),
    h(2027, 3, 26, "Good Friday"),
    h(2027, 5, 24, "Victoria Day"),
    h(2027, 7, 1, "Canada Day"),
    h(2027, 8, 2, "Civic Holiday"),
    h(2027, 9, 6, "Labour Day"),
    h(2027, 10, 11, "Thanksgiving Day"),
    h(2027, 12, 27, "Christmas Day (observed)"),
    h(2027, 12, 28, "Boxing Day (observed)"),
];

/// TSX 13:00 ET closes on Christmas Eve, 2025-2027.
const TSX_EARLY_CLOSES: &[EarlyClose] = &[
    early(2025, 12, 24, hm(13, 0), "Christmas Eve"),
    early(2026, 12, 24, hm(13, 0), "Christmas Eve"),
    early(2027, 12, 24, hm(13, 0), "Christmas Eve"),
];

/// LSE, 2025-2027 (England and Wales bank holidays, gov.uk; substitute days when on a weekend).
const LSE_HOLIDAYS: &[Holiday] = &[
    h(2025, 1, 1, "New Year's Day"),
    h(2025, 4, 18, "Good Friday"),
    h(2025, 4, 21, "Easter Monday"),
    h(2025, 5, 5, "Early May Bank Holiday"),
    h(2025, 5, 26, "Spring Bank Holiday"),
    h(2025, 8, 25, "Summer Bank Holiday"),
    h(2025, 12, 25, "Christmas Day"),
    h(2025, 12, 26, "Boxing Day"),
    h(2026, 1, 1, "New Year's Day"),
    h(2026, 4, 3, "Good Friday"),
    h(2026, 4, 6, "Easter Monday"),
    h(2026, 5, 4, "Early May Bank Holiday"),
    h(2026, 5, 25, "Spring Bank Holiday"),
    h(2026, 8, 31, "Summer Bank Holiday"),
    h(2026, 12, 25, "Christmas Day"),
    h(2026, 12, 28, "Boxing Day (substitute day)"),
    h(2027, 1, 1, "New Year's Day"),
    h(2027, 3, 26, "Good Friday"),
    h(2027, 3, 29, "Easter Monday"),
    h(2027, 5, 3, "Early May Bank Holiday"),
    h(2027, 5, 31, "Spring Bank Holiday"),
    h(2027, 8, 30, "Summer Bank Holiday"),
    h(2027, 12, 27, "Christmas Day (substitute day)"),
    h(2027, 12, 28, "Boxing Day (substitute day)"),
];

/// LSE 12:30 closes on Christmas Eve and New Year's Eve, 2025-2027.
const LSE_EARLY_CLOSES: &[EarlyClose] = &[
    early(2025, 12, 24, hm(12, 30), "Christmas Eve"),
    early(2025, 12, 31, hm(12, 30), "New Year's Eve"),
    early(2026, 12, 24, hm(12, 30), "Christmas Eve"),
    early(2026, 12, 31, hm(12, 30), "New Year's Eve"),
    early(2027, 12, 24, hm(12, 30), "Christmas Eve"),
    early(2027, 12, 31, hm(12, 30), "New Year's Eve"),
];

/// Xetra, 2025-2027 (Deutsche Börse trading calendar: no substitute days).
const XETRA_HOLIDAYS: &[Holiday] = &[
    h(2025, 1, 1, "New Year's Day"),
    h(2025, 4, 18, "Good Friday"),
    h(2025, 4, 21, "Easter Monday"),
    h(2025, 5, 1, "Labour Day"),
    h(2025, 12, 24, "Christmas Eve"),
    h(2025, 12, 25, "Christmas Day"),
    h(2025, 12, 26, "Boxing Day"),
    h(2025, 12, 31, "New Year's Eve"),
    h(2026, 1, 1, "New Year's Day"),
    h(2026, 4, 3, "Good Friday"),
    h(2026, 4, 6, "Easter Monday"),
    h(2026, 5, 1, "Labour Day"),
    h(2026, 12, 24, "Christmas Eve"),
    h(2026, 12, 25, "Christmas Day"),
    h(2026, 12, 31, "New Year's Eve"),
    h(2027, 1, 1, "New Year's Day"),
    h(2027, 3, 26, "Good Friday"),
    h(2027, 3, 29, "Easter Monday"),
    h(2027, 12, 24, "Christmas Eve"),
    h(2027, 12, 31, "New Year's Eve"),
];

/// Xetra ends at 14:00 on the last trading day of the year (confirmed by Deutsche Börse each
/// December; 2026 and 2027 follow the rule).
const XETRA_EARLY_CLOSES: &[EarlyClose] = &[
    early(2025, 12, 30, hm(14, 0), "Last trading day of the year"),
    early(2026, 12, 30, hm(14, 0), "Last trading day of the year"),
    early(2027, 12, 30, hm(14, 0), "Last trading day of the year"),
];

/// Euronext (Paris and the other cash markets), 2025-2027: no substitute days.
const EURONEXT_HOLIDAYS: &[Holiday] = &[
    h(2025, 1, 1, "New Year's Day"),
    h(2025, 4, 18, "Good Friday"),
    h(2025, 4, 21, "Easter Monday"),
    h(2025, 5, 1, "Labour Day"),
    h(2025, 12, 25, "Christmas Day"),
    h(2025, 12, 26, "Boxing Day"),
    h(2026, 1, 1, "New Year's Day"),
    h(2026, 4, 3, "Good Friday"),
    h(2026, 4, 6, "Easter Monday"),
    h(2026, 5, 1, "Labour Day"),
    h(2026, 12, 25, "Christmas Day"),
    h(2027, 1, 1, "New Year's Day"),
    h(2027, 3, 26, "Good Friday"),
    h(2027, 3, 29, "Easter Monday"),
];

/// Euronext ends at 14:05 CET on Christmas Eve and New Year's Eve, 2025-2027.
const EURONEXT_EARLY_CLOSES: &[EarlyClose] = &[
    early(2025, 12, 24, hm(14, 5), "Christmas Eve"),
    early(2025, 12, 31, hm(14, 5), "New Year's Eve"),
    early(2026, 12, 24, hm(14, 5), "Christmas Eve"),
    early(2026, 12, 31, hm(14, 5), "New Year's Eve"),
    early(2027, 12, 24, hm(14, 5), "Christmas Eve"),
    early(2027, 12, 31, hm(14, 5), "New Year's Eve"),
];

/// JPX/TSE, 2025-2027: Japanese national holidays (Cabinet Office; the 2027 equinoxes as
/// announced in February 2026) plus the exchange's own 2-3 January and 31 December closures.
const JPX_HOLIDAYS: &[Holiday] = &[
    h(2025, 1, 1, "New Year's Day"),
    h(2025, 1, 2, "Market holiday (New Year)"),
    h(2025, 1, 3, "Market holiday (New Year)"),
    h(2025, 1, 13, "Coming of Age Day"),
    h(2025, 2, 11, "National Foundation Day"),
    h(2025, 2, 24, "Emperor's Birthday (substitute holiday)"),
    h(2025, 3, 20, "Vernal Equinox Day"),
    h(2025, 4, 29, "Showa Day"),
    h(2025, 5, 5, "Children's Day"),
    h(2025, 5, 6, "Greenery Day (substitute holiday)"),
    h(2025, 7, 21, "Marine Day"),
    h(2025, 8, 11, "Mountain Day"),
    h(2025, 9, 15, "Respect for the Aged Day"),
    h(2025, 9, 23, "Autumnal Equinox Day"),
    h(2025, 10, 13, "Sports Day"),
    h(2025, 11, 3, "Culture Day"),
    h(2025, 11, 24, "Labour Thanksgiving Day (substitute holiday)"),
    h(2025, 12, 31, "Market holiday (year end)"),
    h(2026, 1, 1, "New Year's Day"),
    h(2026, 1, 2, "Market holiday (New Year)"),
    h(2026, 1, 12, "Coming of Age Day"),
    h(2026, 2, 11, "National Foundation Day"),
    h(2026, 2, 23, "Emperor's Birthday"),
    h(2026, 3, 20, "Vernal Equinox Day"),
    h(2026, 4, 29, "Showa Day"),
    h(2026, 5, 4, "Greenery Day"),
    h(2026, 5, 5, "Children's Day"),
    h(2026, 5, 6, "Constitution Memorial Day (substitute holiday)"),
    h(2026, 7, 20, "Marine Day"),
    h(2026, 8, 11, "Mountain Day"),
    h(2026, 9, 21, "Respect for the Aged Day"),
    h(2026, 9, 22, "Citizens' Holiday"),
    h(2026, 9, 23, "Autumnal Equinox Day"),
    h(2026, 10, 12, "Sports Day"),
    h(2026, 11, 3, "Culture Day"),
    h(2026, 11, 23, "Labour Thanksgiving Day"),
    h(2026, 12, 31, "Market holiday (year end)"),
    h(2027, 1, 1, "New Year's Day"),
    h(2027, 1, 11, "Coming of Age Day"),
    h(2027, 2, 11, "National Foundation Day"),
    h(2027, 2, 23, "Emperor's Birthday"),
    h(2027, 3, 22, "Vernal Equinox Day (substitute holiday)"),
    h(2027, 4, 29, "Showa Day"),
    h(2027, 5, 3, "Constitution Memorial Day"),
    h(2027, 5, 4, "Greenery Day"),
    h(2027, 5, 5, "Children's Day"),
    h(2027, 7, 19, "Marine Day"),
    h(2027, 8, 11, "Mountain Day"),
    h(2027, 9, 20, "Respect for the Aged Day"),
    h(2027, 9, 23, "Autumnal Equinox Day"),
    h(2027, 10, 11, "Sports Day"),
    h(2027, 11, 3, "Culture Day"),
    h(2027, 11, 23, "Labour Thanksgiving Day"),
    h(2027, 12, 31, "Market holiday (year end)"),
];

/// HKEX, 2025-2027: HKSAR general holidays (gazetted lists; lunar dates from the Hong Kong
/// Observatory). Typhoon and black-rainstorm closures are unscheduled and not included.
const HKEX_HOLIDAYS: &[Holiday] = &[
    h(2025, 1, 1, "New Year's Day"),
    h(2025, 1, 29, "Lunar New Year's Day"),
    h(2025, 1, 30, "Second day of Lunar New Year"),
    h(2025, 1, 31, "Third day of Lunar New Year"),
    h(2025, 4, 4, "Ching Ming Festival"),
    h(2025, 4, 18, "Good Friday"),
    h(2025, 4, 21, "Easter Monday"),
    h(2025, 5, 1, "Labour Day"),
    h(2025, 5, 5, "Birthday of the Buddha"),
    h(2025, 7, 1, "HKSAR Establishment Day"),
    h(2025, 10, 1, "National Day"),
    h(2025, 10, 7, "Day following Mid-Autumn Festival"),
    h(2025, 10, 29, "Chung Yeung Festival"),
    h(2025, 12, 25, "Christmas Day"),
    h(2025, 12, 26, "First weekday after Christmas Day"),
    h(2026, 1, 1, "New Year's Day"),
    h(2026, 2, 17, "Lunar New Year's Day"),
    h(2026, 2, 18, "Second day of Lunar New Year"),
    h(2026, 2, 19, "Third day of Lunar New Year"),
    h(2026, 4, 3, "Good Friday"),
    h(2026, 4, 6, "Easter Monday"),
    h(2026, 4, 7, "Day following Ching Ming Festival"),
    h(2026, 5, 1, "Labour Day"),
    h(2026, 5, 25, "Day following the Birthday of the Buddha"),
    h(2026, 6, 19, "Tuen Ng Festival"),
    h(2026, 7, 1, "HKSAR Establishment Day"),
    h(2026, 10, 1, "National Day"),
    h(2026, 10, 19, "Day following Chung Yeung Festival"),
    h(2026, 12, 25, "Christmas Day"),
    h(2027, 1, 1, "New Year's Day"),
    h(2027, 2, 8, "Third day of Lunar New Year"),
    h(2027, 2, 9, "Fourth day of Lunar New Year"),
    h(2027, 3, 26, "Good Friday"),
    h(2027, 3, 29, "Easter Monday"),
    h(2027, 4, 5, "Ching Ming Festival"),
    h(2027, 5, 13, "Birthday of the Buddha"),
    h(2027, 6, 9, "Tuen Ng Festival"),
    h(2027, 7, 1, "HKSAR Establishment Day"),
    h(2027, 9, 16, "Day following Mid-Autumn Festival"),
    h(2027, 10, 1, "National Day"),
    h(2027, 10, 8, "Chung Yeung Festival"),
    h(2027, 12, 27, "First weekday after Christmas Day"),
];

/// HKEX half days (morning session only, close 12:00) on the eves of Lunar New Year, Christmas
/// and New Year, 2025-2027.
const HKEX_EARLY_CLOSES: &[EarlyClose] = &[
    early(2025, 1, 28, hm(12, 0), "Lunar New Year's Eve"),
    early(2025, 12, 24, hm(12, 0), "Christmas Eve"),
    early(2025, 12, 31, hm(12, 0), "New Year's Eve"),
    early(2026, 2, 16, hm(12, 0), "Lunar New Year's Eve"),
    early(2026, 12, 24, hm(12, 0), "Christmas Eve"),
    early(2026, 12, 31, hm(12, 0), "New Year's Eve"),
    early(2027, 2, 5, hm(12, 0), "Lunar New Year's Eve"),
    early(2027, 12, 24, hm(12, 0), "Christmas Eve"),
    early(2027, 12, 31, hm(12, 0), "New Year's Eve"),
];

/// SSE, 2025-2026: the State Council's holiday notices (make-up working Saturdays and Sundays are
/// still non-trading days, so only weekday closures appear).
const SSE_HOLIDAYS: &[Holiday] = &[
    h(2025, 1, 1, "New Year's Day"),
    h(2025, 1, 28, "Spring Festival"),
    h(2025, 1, 29, "Spring Festival"),
    h(2025, 1, 30, "Spring Festival"),
    h(2025, 1, 31, "Spring Festival"),
    h(2025, 2, 3, "Spring Festival"),
    h(2025, 2, 4, "Spring Festival"),
    h(2025, 4, 4, "Qingming Festival"),
    h(2025, 5, 1, "Labour Day"),
    h(2025, 5, 2, "Labour Day"),
    h(2025, 5, 5, "Labour Day"),
    h(2025, 6, 2, "Dragon Boat Festival"),
    h(2025, 10, 1, "National Day and Mid-Autumn Festival"),
    h(2025, 10, 2, "National Day and Mid-Autumn Festival"),
    h(2025, 10, 3, "National Day and Mid-Autumn Festival"),
    h(2025, 10, 6, "National Day and Mid-Autumn Festival"),
    h(2025, 10, 7, "National Day and Mid-Autumn Festival"),
    h(2025, 10, 8, "National Day and Mid-Autumn Festival"),
    h(2026, 1, 1, "New Year's Day"),
    h(2026, 1, 2, "New Year's Day"),
    h(2026, 2, 16, "Spring Festival"),
    h(2026, 2, 17, "Spring Festival"),
    h(2026, 2, 18, "Spring Festival"),
    h(2026, 2, 19, "Spring Festival"),
    h(2026, 2, 20, "Spring Festival"),
    h(2026, 2, 23, "Spring Festival"),
    h(2026, 4, 6, "Qingming Festival"),
    h(2026, 5, 1, "Labour Day"),
    h(2026, 5, 4, "Labour Day"),
    h(2026, 5, 5, "Labour Day"),
    h(2026, 6, 19, "Dragon Boat Festival"),
    h(2026, 9, 25, "Mid-Autumn Festival"),
    h(2026, 10, 1, "National Day"),
    h(2026, 10, 2, "National Day"),
    h(2026, 10, 5, "National Day"),
    h(2026, 10, 6, "National Day"),
    h(2026, 10, 7, "National Day"),
];

/// ASX, 2025-2027 (ASX trading calendar: NSW public holidays the exchange observes; Anzac Day is
/// not moved when it falls on a weekend).
const ASX_HOLIDAYS: &[Holiday] = &[
    h(2025, 1, 1, "New Year's Day"),
    h(2025, 1, 27, "Australia Day (observed)"),
    h(2025, 4, 18, "Good Friday"),
    h(2025, 4, 21, "Easter Monday"),
    h(2025, 4, 25, "Anzac Day"),
    h(2025, 6, 9, "King's Birthday"),
    h(2025, 12, 25, "Christmas Day"),
    h(2025, 12, 26, "Boxing Day"),
    h(2026, 1, 1, "New Year's Day"),
    h(2026, 1, 26, "Australia Day"),
    h(2026, 4, 3, "Good Friday"),
    h(2026, 4, 6, "Easter Monday"),
    h(2026, 6, 8, "King's Birthday"),
    h(2026, 12, 25, "Christmas Day"),
    h(2026, 12, 28, "Boxing Day (observed)"),
    h(2027, 1, 1, "New Year's Day"),
    h(2027, 1, 26, "Australia Day"),
    h(2027, 3, 26, "Good Friday"),
    h(2027, 3, 29, "Easter Monday"),
    h(2027, 6, 14, "King's Birthday"),
    h(2027, 12, 27, "Christmas Day (observed)"),
    h(2027, 12, 28, "Boxing Day (observed)"),
];

/// ASX ends at 14:10 AEDT on Christmas Eve and New Year's Eve, 2025-2027.
const ASX_EARLY_CLOSES: &[EarlyClose] = &[
    early(2025, 12, 24, hm(14, 10), "Christmas Eve"),
    early(2025, 12, 31, hm(14, 10), "New Year's Eve"),
    early(2026, 12, 24, hm(14, 10), "Christmas Eve"),
    early(2026, 12, 31, hm(14, 10), "New Year's Eve"),
    early(2027, 12, 24, hm(14, 10), "Christmas Eve"),
    early(2027, 12, 31, hm(14, 10), "New Year's Eve"),
];

/// NSE equity segment, 2025-2026 (NSE holiday circulars; the 2026 list with the 15 January
/// municipal-election closure added in January 2026). 2025-10-21 (Diwali Laxmi Pujan) had only
/// the one-hour evening Muhurat session, which is not modelled.
const NSE_HOLIDAYS: &[Holiday] = &[
    h(2025, 2, 26, "Mahashivratri"),
    h(2025, 3, 14, "Holi"),
    h(2025, 3, 31, "Id-Ul-Fitr (Ramadan Eid)"),
    h(2025, 4, 10, "Shri Mahavir Jayanti"),
    h(2025, 4, 14, "Dr. Baba Saheb Ambedkar Jayanti"),
    h(2025, 4, 18, "Good Friday"),
    h(2025, 5, 1, "Maharashtra Day"),
    h(2025, 8, 15, "Independence Day"),
    h(2025, 8, 27, "Shri Ganesh Chaturthi"),
    h(2025, 10, 2, "Mahatma Gandhi Jayanti / Dussehra"),
    h(2025, 10, 21, "Diwali Laxmi Pujan"),
    h(2025, 10, 22, "Diwali Balipratipada"),
    h(2025, 11, 5, "Prakash Gurpurb Sri Guru Nanak Dev"),
    h(2025, 12, 25, "Christmas"),
    h(2026, 1, 15, "Municipal Corporation elections (Maharashtra)"),
    h(2026, 1, 26, "Republic Day"),
    h(2026, 3, 3, "Holi"),
    h(2026, 3, 26, "Shri Ram Navami"),
    h(2026, 3, 31, "Shri Mahavir Jayanti"),
    h(2026, 4, 3, "Good Friday"),
    h(2026, 4, 14, "Dr. Baba Saheb Ambedkar Jayanti"),
    h(2026, 5, 1, "Maharashtra Day"),
    h(2026, 5, 28, "Bakri Id"),
    h(2026, 6, 26, "Muharram"),
    h(2026, 9, 14, "Ganesh Chaturthi"),
    h(2026, 10, 2, "Mahatma Gandhi Jayanti"),
    h(2026, 10, 20, "Dussehra"),
    h(2026, 11, 10, "Diwali Balipratipada"),
    h(2026, 11, 24, "Prakash Gurpurb Sri Guru Nanak Dev"),
    h(2026, 12, 25, "Christmas"),
];
