//! How the trader looks at the chart: the bars' interval (1, 5 or 15 minutes) and the time
//! axis's zone (the exchange's, the browser's or UTC), remembered in a cookie like the palette so
//! the server's first paint is already drawn that way.

use crate::global_market::GlobalMarkets;
use serde::{Deserialize, Serialize};

/// The cookie that remembers the chart's view: `interval.zone.offset`, e.g. `5.browser.-300`.
pub const CHART_VIEW_COOKIE: &str = "thor_chart";

/// How many bars the chart draws (plus the one forming), whatever their interval.
pub const CHART_BARS: i64 = 60;

/// The length of the chart's bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum Interval {
    #[default]
    One,
    Five,
    Fifteen,
}

crate::word::read_as_word! {
    Interval { One = "One", Five = "Five", Fifteen = "Fifteen" }
}

impl Interval {
    pub const ALL: [Interval; 3] = [Interval::One, Interval::Five, Interval::Fifteen];

    pub fn minutes(self) -> i64 {
        match self {
            Interval::One => 1,
            Interval::Five => 5,
            Interval::Fifteen => 15,
        }
    }

    /// The interval of `minutes` (`"1"`, `"5"`, `"15"`), if it is one.
    pub fn parse(minutes: &str) -> Option<Interval> {
        Interval::ALL
            .into_iter()
            .find(|i| i.minutes().to_string() == minutes)
    }

    /// Minutes between two labels of the time axis: about every 12 to 15 bars, on the hour where
    /// the bars are long enough.
    pub fn label_every(self) -> i64 {
        match self {
            Interval::One => 15,
            Interval::Five => 60,
            Interval::Fifteen => 180,
        }
    }
}

/// Whose clock the time axis, the readouts and the summary read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum Zone {
    /// The wall clock of the charted symbol's exchange (New York for SPY).
    #[default]
    Exchange,
    /// The trader's own, as the browser tells it.
    Browser,
    Utc,
}

crate::word::read_as_word! {
    Zone { Exchange = "Exchange", Browser = "Browser", Utc = "Utc" }
}

impl Zone {
    pub const ALL: [Zone; 3] = [Zone::Exchange, Zone::Browser, Zone::Utc];

    pub fn as_str(self) -> &'static str {
        match self {
            Zone::Exchange => "exchange",
            Zone::Browser => "browser",
            Zone::Utc => "utc",
        }
    }

    pub fn parse(text: &str) -> Option<Zone> {
        Zone::ALL.into_iter().find(|z| z.as_str() == text)
    }
}

/// The chart's view as the trader chose it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ChartView {
    pub interval: Interval,
    pub zone: Zone,
    /// The browser's UTC offset in minutes east when the zone was last chosen or the page last
    /// loaded (the server cannot know it; it draws the first paint with this one).
    pub browser_offset_min: i32,
}

/// Offsets beyond ±18 hours are nonsense (chrono's `FixedOffset` refuses them too).
const MAX_OFFSET_MIN: i32 = 18 * 60;

impl ChartView {
    /// The minutes of 1-minute bars the chart needs: its bars times their length.
    pub fn window_minutes(&self) -> i64 {
        CHART_BARS * self.interval.minutes()
    }

    /// The cookie's value, e.g. `15.exchange.0`.
    pub fn cookie_value(&self) -> String {
        format!(
            "{}.{}.{}",
            self.interval.minutes(),
            self.zone.as_str(),
            self.browser_offset_min
        )
    }

    /// The view a cookie remembers; whatever part makes no sense is the default's (an edited or
    /// older cookie never breaks the page).
    pub fn from_cookie(value: &str) -> ChartView {
        let mut parts = value.split('.');
        let default = ChartView::default();
        ChartView {
            interval: parts
                .next()
                .and_then(Interval::parse)
                .unwrap_or(default.interval),
            zone: parts.next().and_then(Zone::parse).unwrap_or(default.zone),
            browser_offset_min: parts
                .next()
                .and_then(|o| o.parse::<i32>().ok())
                .filter(|o| o.abs() <= MAX_OFFSET_MIN)
                .unwrap_or(default.browser_offset_min),
        }
    }
}

/// The time axis as drawn: a name for the readouts, the caption and the UTC offset (minutes
/// east). One offset for the chart's whole window: a daylight-saving change inside it shifts the
/// labels before it by the hour it moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Axis {
    pub interval: Interval,
    pub offset_min: i32,
    /// After each time: `UTC`, `New York`, `local`.
    pub short: String,
    /// The caption beside the controls.
    pub caption: String,
}

impl Axis {
    /// The axis for `view`, charting a symbol of `country` while `markets` are as they are (the
    /// exchange's zone is the first exchange of that country's, as the simulator's hours use).
    pub fn new(view: ChartView, markets: Option<&GlobalMarkets>, country: Option<&str>) -> Axis {
        let utc = |caption: &str| Axis {
            interval: view.interval,
            offset_min: 0,
            short: "UTC".into(),
            caption: caption.into(),
        };
        match view.zone {
            Zone::Utc => utc("Times in UTC"),
            Zone::Browser => Axis {
                interval: view.interval,
                offset_min: view.browser_offset_min,
                short: "local".into(),
                caption: format!(
                    "Times in your browser's zone ({})",
                    utc_offset(view.browser_offset_min)
                ),
            },
            Zone::Exchange => {
                let exchange = country.and_then(|country| {
                    markets?
                        .markets
                        .iter()
                        .find(|m| m.country == country)
                        .and_then(|m| {
                            let offset = crate::timefmt::offset_of(&m.local_time)?;
                            Some((m.city(), offset.local_minus_utc() / 60))
                        })
                });
                match exchange {
                    Some((city, offset_min)) => Axis {
                        interval: view.interval,
                        offset_min,
                        caption: format!("Times in {city} ({})", utc_offset(offset_min)),
                        short: city,
                    },
                    None => utc("Times in UTC (the exchange's zone is not known yet)"),
                }
            }
        }
    }

    /// `hh:mm` of an instant (ms since the Unix epoch) on this axis's clock.
    pub fn hh_mm(&self, ms: i64) -> String {
        let minutes = (ms.div_euclid(60_000) + self.offset_min as i64).rem_euclid(24 * 60);
        format!("{:02}:{:02}", minutes / 60, minutes % 60)
    }

    /// Whether a label belongs at the minute starting at `ms` (on the hour, or every 15 minutes,
    /// of this axis's clock).
    pub fn labelled(&self, ms: i64) -> bool {
        (ms.div_euclid(60_000) + self.offset_min as i64).rem_euclid(self.interval.label_every())
            == 0
    }
}

/// `UTC−04:00`, `UTC+05:30`, `UTC+00:00`.
pub fn utc_offset(minutes: i32) -> String {
    let sign = if minutes < 0 { '−' } else { '+' };
    let m = minutes.abs();
    format!("UTC{sign}{:02}:{:02}", m / 60, m % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::global_market::tests::sample;

    #[test]
    fn the_cookie_reads_back_what_it_wrote_and_nonsense_is_the_default() {
        let view = ChartView {
            interval: Interval::Fifteen,
            zone: Zone::Browser,
            browser_offset_min: -300,
        };
        assert_eq!(view.cookie_value(), "15.browser.-300");
        assert_eq!(ChartView::from_cookie(&view.cookie_value()), view);
        assert_eq!(ChartView::from_cookie(""), ChartView::default());
        assert_eq!(ChartView::from_cookie("7.mars.99999"), ChartView::default());
        assert_eq!(
            ChartView::from_cookie("5.nonsense"),
            ChartView {
                interval: Interval::Five,
                ..ChartView::default()
            }
        );
        assert_eq!(view.window_minutes(), 900);
        assert_eq!(ChartView::default().window_minutes(), 60);
    }

    #[test]
    fn the_exchange_axis_reads_the_exchanges_clock_and_falls_back_to_utc() {
        let markets = sample();
        let view = ChartView::default();
        let axis = Axis::new(view, Some(&markets), Some("USA"));
        assert_eq!(axis.offset_min, -240);
        assert_eq!(axis.short, "New York");
        assert_eq!(axis.caption, "Times in New York (UTC−04:00)");
        // 13:45 UTC is 09:45 in New York on 2026-03-09.
        let ms = markets.as_of.timestamp_millis();
        assert_eq!(axis.hh_mm(ms), "09:45");
        let unknown = Axis::new(view, Some(&markets), Some("Mars"));
        assert_eq!(unknown.offset_min, 0);
        assert!(unknown.caption.contains("not known"), "{}", unknown.caption);
        assert_eq!(Axis::new(view, None, Some("USA")).short, "UTC");
    }

    #[test]
    fn labels_fall_on_the_zones_own_quarter_hours_and_hours() {
        let browser = Axis::new(
            ChartView {
                interval: Interval::Five,
                zone: Zone::Browser,
                browser_offset_min: 330,
            },
            None,
            None,
        );
        assert_eq!(browser.caption, "Times in your browser's zone (UTC+05:30)");
        // 00:30 UTC is 06:00 at UTC+05:30: an hour's label there, not at 01:00 UTC.
        assert!(browser.labelled(30 * 60_000));
        assert!(!browser.labelled(60 * 60_000));
        assert_eq!(browser.hh_mm(30 * 60_000), "06:00");
        // Before the epoch and across midnight, the clock still reads right.
        assert_eq!(browser.hh_mm(-60_000), "05:29");
        let utc = Axis::new(
            ChartView {
                zone: Zone::Utc,
                ..ChartView::default()
            },
            None,
            None,
        );
        assert!(utc.labelled(15 * 60_000) && !utc.labelled(16 * 60_000));
        assert_eq!(utc_offset(-90), "UTC−01:30");
    }
}
