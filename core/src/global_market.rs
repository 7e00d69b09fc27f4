//! Global market hours on the wire: exchange statuses shared by the REST API, WebSocket and page.

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// Where an exchange stands at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MarketStatusKind {
    /// Early trading before the regular open (only exchanges that have one, e.g. NYSE, Nasdaq).
    Premarket,
    /// The regular session.
    Open,
    /// The midday break of exchanges that have one (e.g. HKEX, JPX, SSE).
    Lunch,
    /// Outside every session: night, weekend or holiday.
    Closed,
}

crate::word::read_as_word! {
    MarketStatusKind { Premarket = "PREMARKET", Open = "OPEN", Lunch = "LUNCH", Closed = "CLOSED" }
}

impl MarketStatusKind {
    /// The wire spelling, e.g. `"OPEN"`.
    pub fn as_str(self) -> &'static str {
        match self {
            MarketStatusKind::Premarket => "PREMARKET",
            MarketStatusKind::Open => "OPEN",
            MarketStatusKind::Lunch => "LUNCH",
            MarketStatusKind::Closed => "CLOSED",
        }
    }

    /// Whether orders are matched now (premarket or regular session).
    pub fn is_trading(self) -> bool {
        matches!(self, MarketStatusKind::Premarket | MarketStatusKind::Open)
    }
}

/// A transition between two [`MarketStatusKind`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MarketEventKind {
    /// Regular session starts: status becomes `OPEN`.
    Open,
    /// Trading day ends: status becomes `CLOSED`.
    Close,
    /// Midday break starts: status becomes `LUNCH`.
    LunchStart,
    /// Midday break ends: status becomes `OPEN` again.
    LunchEnd,
    /// Premarket starts: status becomes `PREMARKET`.
    PremarketStart,
}

crate::word::read_as_word! {
    MarketEventKind { Open = "open", Close = "close", LunchStart = "lunch_start", LunchEnd = "lunch_end", PremarketStart = "premarket_start" }
}

impl MarketEventKind {
    /// The wire spelling, e.g. `"lunch_start"`.
    pub fn as_str(self) -> &'static str {
        match self {
            MarketEventKind::Open => "open",
            MarketEventKind::Close => "close",
            MarketEventKind::LunchStart => "lunch_start",
            MarketEventKind::LunchEnd => "lunch_end",
            MarketEventKind::PremarketStart => "premarket_start",
        }
    }

    /// The status an exchange is in once this event has happened.
    pub fn status_after(self) -> MarketStatusKind {
        match self {
            MarketEventKind::Open | MarketEventKind::LunchEnd => MarketStatusKind::Open,
            MarketEventKind::Close => MarketStatusKind::Closed,
            MarketEventKind::LunchStart => MarketStatusKind::Lunch,
            MarketEventKind::PremarketStart => MarketStatusKind::Premarket,
        }
    }
}

/// One exchange at one instant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MarketStatus {
    /// Stable small id of the exchange (1 = NYSE, 2 = Nasdaq, …); never reused.
    pub market_id: u32,
    /// ISO 10383 market identifier code, e.g. `"XNYS"`.
    pub code: String,
    /// e.g. `"New York Stock Exchange"`.
    pub name: String,
    /// e.g. `"USA"`.
    pub country: String,
    /// IANA time zone of the exchange, e.g. `"America/New_York"`.
    pub time_zone: String,
    pub status: MarketStatusKind,
    /// The exchange's wall clock at the instant, RFC 3339 with its UTC offset and whole seconds,
    /// e.g. `"2026-03-09T09:45:00-04:00"`.
    pub local_time: String,
    /// The next transition, skipping weekends and holidays.
    pub next_event: MarketEventKind,
    /// When [`next_event`](Self::next_event) happens; always after the instant.
    #[serde(deserialize_with = "crate::timefmt::read::utc")]
    pub next_event_at: DateTime<Utc>,
    /// Whole seconds until `next_event_at`, rounded up (so at least 1).
    pub seconds_to_next_event: i64,
    /// The name of the holiday the exchange is closed for today (its local date), if any.
    pub holiday: Option<String>,
}

impl MarketStatus {
    /// The exchange's city, from its time zone: `America/New_York` → `New York`.
    pub fn city(&self) -> String {
        let zone = &self.time_zone;
        zone.rsplit('/').next().unwrap_or(zone).replace('_', " ")
    }
}

/// Every exchange at one instant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GlobalMarkets {
    /// The instant the statuses are computed for.
    #[serde(deserialize_with = "crate::timefmt::read::utc")]
    pub as_of: DateTime<Utc>,
    pub markets: Vec<MarketStatus>,
}

impl GlobalMarkets {
    /// An example: NYSE open at 09:45 New York time on 2026-03-09, the documented shape (the
    /// views' tests draw with it).
    pub fn example() -> GlobalMarkets {
        let as_of = Utc
            .with_ymd_and_hms(2026, 3, 9, 13, 45, 0)
            .single()
            .unwrap_or_default();
        let next = Utc
            .with_ymd_and_hms(2026, 3, 9, 20, 0, 0)
            .single()
            .unwrap_or_default();
        GlobalMarkets {
            as_of,
            markets: vec![MarketStatus {
                market_id: 1,
                code: "XNYS".into(),
                name: "New York Stock Exchange".into(),
                country: "USA".into(),
                time_zone: "America/New_York".into(),
                status: MarketStatusKind::Open,
                local_time: "2026-03-09T09:45:00-04:00".into(),
                next_event: MarketEventKind::Close,
                next_event_at: next,
                seconds_to_next_event: 22_500,
                holiday: None,
            }],
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// NYSE, open, at 09:45 New York time on 2026-03-09 (other modules' tests use it too).
    pub(crate) fn sample() -> GlobalMarkets {
        GlobalMarkets::example()
    }

    #[test]
    fn the_city_comes_from_the_time_zone() {
        let mut market = sample().markets.remove(0);
        assert_eq!(market.city(), "New York");
        market.time_zone = "Asia/Hong_Kong".into();
        assert_eq!(market.city(), "Hong Kong");
        market.time_zone = "UTC".into();
        assert_eq!(market.city(), "UTC");
    }

    #[test]
    fn global_markets_have_the_documented_shape() {
        let json = serde_json::to_value(sample()).expect("serialises");
        assert_eq!(json["as_of"], "2026-03-09T13:45:00Z");
        let market = &json["markets"][0];
        assert_eq!(market["market_id"], 1);
        assert_eq!(market["code"], "XNYS");
        assert_eq!(market["time_zone"], "America/New_York");
        assert_eq!(market["status"], "OPEN");
        assert_eq!(market["local_time"], "2026-03-09T09:45:00-04:00");
        assert_eq!(market["next_event"], "close");
        assert_eq!(market["next_event_at"], "2026-03-09T20:00:00Z");
        assert_eq!(market["seconds_to_next_event"], 22_500);
        assert!(market["holiday"].is_null());
        let back: GlobalMarkets = serde_json::from_value(json).expect("parses back");
        assert_eq!(back, sample());
    }

    #[test]
    fn kinds_use_their_wire_spellings() {
        for kind in [
            MarketStatusKind::Premarket,
            MarketStatusKind::Open,
            MarketStatusKind::Lunch,
            MarketStatusKind::Closed,
        ] {
            let json = serde_json::to_value(kind).expect("serialises");
            assert_eq!(json, kind.as_str());
            assert_eq!(
                serde_json::from_value::<MarketStatusKind>(json).ok(),
                Some(kind)
            );
        }
        for kind in [
            MarketEventKind::Open,
            MarketEventKind::Close,
            MarketEventKind::LunchStart,
            MarketEventKind::LunchEnd,
            MarketEventKind::PremarketStart,
        ] {
            let json = serde_json::to_value(kind).expect("serialises");
            assert_eq!(json, kind.as_str());
            assert_eq!(
                serde_json::from_value::<MarketEventKind>(json).ok(),
                Some(kind)
            );
        }
        assert_eq!(
            MarketEventKind::LunchStart.status_after(),
            MarketStatusKind::Lunch
        );
        assert!(MarketStatusKind::Premarket.is_trading());
        assert!(!MarketStatusKind::Lunch.is_trading());
    }
}
