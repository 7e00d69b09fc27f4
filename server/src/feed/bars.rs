//! The bar builder: turns a feed's ticks into 1-minute OHLCV bars per symbol and keeps each symbol's session VWAP.
//!
//! # Bars
//!
//! A tick belongs to the minute its time falls in (its time floored to the whole minute, UTC).
//! Each symbol has at most one open bar. A bar closes, and is returned, when
//! - the first tick of a later minute arrives for the same symbol ([`BarBuilder::push`]), or
//! - [`BarBuilder::close_until`] is called with an instant at or past the end of the bar's minute
//!   (no tick can belong to a minute once the next minute has begun).
//!
//! **A minute with no ticks produces no bar**: gaps are not filled with flat, zero-volume bars.
//! A chart shows the gap; the next bar with trades is built from its own ticks alone.
//!
//! Ticks are expected in time order per symbol. A tick for a minute whose bar was already
//! closed (or that `close_until` has declared finished) cannot change what was sent, so it is
//! dropped, from the bars and from VWAP alike, and counted in [`BarBuilder::dropped_ticks`]; so
//! are ticks with a price that is not finite and positive or a size of zero.
//!
//! # Session VWAP
//!
//! Per symbol, `sum(price × size) / sum(size)` over every accepted tick since the session last
//! started. The builder does not know when sessions start: the caller decides, and calls
//! [`BarBuilder::reset_session`] or [`BarBuilder::reset_all_sessions`]. A reset clears VWAP only;
//! the open bar carries on.
//!
//! Prices in the returned payloads are rounded to cents; sums are kept unrounded.

use super::Tick;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use std::collections::BTreeMap;
use thor_core::intraday::{IntradayBar, Vwap, round_cents};

/// The length of a bar.
const BAR: TimeDelta = TimeDelta::minutes(1);

/// Builds 1-minute bars and session VWAP from ticks; see the module documentation.
#[derive(Clone, Debug, Default)]
pub struct BarBuilder {
    symbols: BTreeMap<String, SymbolState>,
    /// Minutes before this one are finished for every symbol (set by `close_until`).
    watermark: Option<DateTime<Utc>>,
    dropped: u64,
}

#[derive(Clone, Debug, Default)]
struct SymbolState {
    country: String,
    open: Option<OpenBar>,
    /// Minutes before this one are finished for this symbol (its last closed bar's successor).
    next_minute: Option<DateTime<Utc>>,
    session: Session,
    last_price: Option<f64>,
}

#[derive(Clone, Debug)]
struct OpenBar {
    minute: DateTime<Utc>,
    open: f64,
    high: f64,
    low: f64,
    close: f64,
    volume: u64,
    notional: f64,
    trades: u32,
}

#[derive(Clone, Debug, Default)]
struct Session {
    notional: f64,
    volume: u64,
    as_of: Option<DateTime<Utc>>,
}

/// The start of the minute `at` falls in.
pub fn minute_of(at: DateTime<Utc>) -> DateTime<Utc> {
    // Flooring to a whole minute cannot fail for any representable UTC instant (the only errors
    // are for zero/oversized durations and timestamps beyond ±262 000 years in nanoseconds);
    // fall back to the instant itself rather than panic.
    at.duration_trunc(BAR).unwrap_or(at)
}

impl BarBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes one tick. Returns the symbol's previous bar if this tick is the first of a later
    /// minute (that bar is now closed), otherwise `None`.
    pub fn push(&mut self, tick: &Tick) -> Option<IntradayBar> {
        if !(tick.price.is_finite() && tick.price > 0.0) || tick.size == 0 {
            self.dropped += 1;
            return None;
        }
        let minute = minute_of(tick.at);
        let watermark = self.watermark;
        let state = self.symbols.entry(tick.symbol.clone()).or_default();

        let too_late = watermark.is_some_and(|w| minute < w)
            || state.next_minute.is_some_and(|n| minute < n)
            || state.open.as_ref().is_some_and(|bar| minute < bar.minute);
        if too_late {
            self.dropped += 1;
            return None;
        }

        if state.country != tick.country {
            state.country.clone_from(&tick.country);
        }
        state.last_price = Some(tick.price);
        state.session.notional += tick.price * tick.size as f64;
        state.session.volume = state.session.volume.saturating_add(tick.size);
        state.session.as_of = Some(state.session.as_of.map_or(tick.at, |t| t.max(tick.at)));

        if let Some(bar) = state.open.as_mut().filter(|bar| bar.minute == minute) {
            bar.add(tick);
            return None;
        }
        let closed = state.close_open_bar(&tick.symbol);
        state.open = Some(OpenBar::start(minute, tick));
        closed
    }

    /// Takes ticks in order; returns the bars they closed, in the order they closed.
    pub fn push_all<'a>(&mut self, ticks: impl IntoIterator<Item = &'a Tick>) -> Vec<IntradayBar> {
        ticks.into_iter().filter_map(|t| self.push(t)).collect()
    }

    /// Closes and returns every open bar whose minute has ended by `now` (minute + 1 min ≤ now),
    /// ordered by minute then symbol. From then on, ticks for minutes before `now`'s minute are
    /// dropped as late.
    pub fn close_until(&mut self, now: DateTime<Utc>) -> Vec<IntradayBar> {
        let current = minute_of(now);
        self.watermark = Some(self.watermark.map_or(current, |w| w.max(current)));
        let mut closed: Vec<IntradayBar> = self
            .symbols
            .iter_mut()
            .filter(|(_, state)| {
                state
                    .open
                    .as_ref()
                    .is_some_and(|bar| bar.minute + BAR <= now)
            })
            .filter_map(|(symbol, state)| state.close_open_bar(symbol))
            .collect();
        closed
            .sort_by(|a, b| (a.timestamp_minute, &a.symbol).cmp(&(b.timestamp_minute, &b.symbol)));
        closed
    }

    /// The symbol's open (partial) bar, for display; `None` if it has none.
    pub fn partial(&self, symbol: &str) -> Option<IntradayBar> {
        let state = self.symbols.get(symbol)?;
        state
            .open
            .as_ref()
            .map(|bar| bar.to_payload(symbol, &state.country))
    }

    /// Every open (partial) bar, by symbol.
    pub fn partials(&self) -> Vec<IntradayBar> {
        self.symbols
            .iter()
            .filter_map(|(symbol, state)| {
                state
                    .open
                    .as_ref()
                    .map(|bar| bar.to_payload(symbol, &state.country))
            })
            .collect()
    }

    /// The symbol's session VWAP; `None` if it has traded nothing since its session started.
    pub fn vwap(&self, symbol: &str) -> Option<Vwap> {
        let state = self.symbols.get(symbol)?;
        state.session.to_payload(symbol)
    }

    /// The symbol's session so far, unrounded: Σ size, Σ price × size and the last trade's
    /// time (what [`BarBuilder::resume`] takes back after a restart).
    pub fn session(&self, symbol: &str) -> Option<(u64, f64, DateTime<Utc>)> {
        let session = &self.symbols.get(symbol)?.session;
        Some((session.volume, session.notional, session.as_of?)).filter(|(v, ..)| *v > 0)
    }

    /// Every symbol's session VWAP, by symbol (symbols without trades this session are left out).
    pub fn vwaps(&self) -> Vec<Vwap> {
        self.symbols
            .iter()
            .filter_map(|(symbol, state)| state.session.to_payload(symbol))
            .collect()
    }

    /// The price of the symbol's last accepted tick (kept across bar closes and session resets).
    pub fn last_price(&self, symbol: &str) -> Option<f64> {
        self.symbols.get(symbol)?.last_price.map(round_cents)
    }

    /// Carries on a symbol from an earlier run: its last price (for valuations before its next
    /// tick) and, when given, its session so far (`volume` shares worth `notional`, up to
    /// `as_of`), so its VWAP continues instead of starting again.
    pub fn resume(
        &mut self,
        symbol: &str,
        last_price: Option<f64>,
        session: Option<(u64, f64, DateTime<Utc>)>,
    ) {
        let state = self.symbols.entry(symbol.to_string()).or_default();
        if let Some(price) = last_price.filter(|p| p.is_finite() && *p > 0.0) {
            state.last_price = Some(price);
        }
        if let Some((volume, notional, as_of)) = session {
            state.session = Session {
                notional,
                volume,
                as_of: Some(as_of),
            };
        }
    }

    /// Starts a new session for one symbol: its VWAP restarts from the next tick.
    pub fn reset_session(&mut self, symbol: &str) {
        if let Some(state) = self.symbols.get_mut(symbol) {
            state.session = Session::default();
        }
    }

    /// Starts a new session for every symbol.
    pub fn reset_all_sessions(&mut self) {
        for state in self.symbols.values_mut() {
            state.session = Session::default();
        }
    }

    /// Ticks dropped so far: late (for a finished minute) or not a trade (bad price, zero size).
    pub fn dropped_ticks(&self) -> u64 {
        self.dropped
    }
}

impl SymbolState {
    fn close_open_bar(&mut self, symbol: &str) -> Option<IntradayBar> {
        let bar = self.open.take()?;
        self.next_minute = Some(bar.minute + BAR);
        Some(bar.to_payload(symbol, &self.country))
    }
}

impl OpenBar {
    fn start(minute: DateTime<Utc>, tick: &Tick) -> Self {
        Self {
            minute,
            open: tick.price,
            high: tick.price,
            low: tick.price,
            close: tick.price,
            volume: tick.size,
            notional: tick.price * tick.size as f64,
            trades: 1,
        }
    }

    fn add(&mut self, tick: &Tick) {
        self.high = self.high.max(tick.price);
        self.low = self.low.min(tick.price);
        self.close = tick.price;
        self.volume = self.volume.saturating_add(tick.size);
        self.notional += tick.price * tick.size as f64;
        self.trades = self.trades.saturating_add(1);
    }

    fn to_payload(&self, symbol: &str, country: &str) -> IntradayBar {
        let low = round_cents(self.low);
        let high = round_cents(self.high);
        // VWAP lies between low and high; the clamp only absorbs floating-point error.
        let vwap = round_cents(self.notional / self.volume as f64).clamp(low, high);
        IntradayBar {
            symbol: symbol.to_owned(),
            country: country.to_owned(),
            timestamp_minute: self.minute,
            open: round_cents(self.open),
            high,
            low,
            close: round_cents(self.close),
            volume: self.volume,
            vwap,
            trades: self.trades,
        }
    }
}

impl Session {
    fn to_payload(&self, symbol: &str) -> Option<Vwap> {
        let as_of = self.as_of?;
        if self.volume == 0 {
            return None;
        }
        Some(Vwap {
            symbol: symbol.to_owned(),
            as_of,
            session_vwap: round_cents(self.notional / self.volume as f64),
            session_volume: self.volume,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feed::{MarketFeed, Simulator};
    use chrono::{Duration, TimeZone};

    /// 2025-12-19 15:30:00 UTC, a whole minute.
    fn m0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 12, 19, 15, 30, 0).unwrap()
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        m0() + Duration::seconds(seconds)
    }

    fn tick(symbol: &str, seconds: i64, price: f64, size: u64) -> Tick {
        Tick {
            symbol: symbol.into(),
            country: "USA".into(),
            at: at(seconds),
            price,
            size,
        }
    }

    #[test]
    fn minute_of_floors_to_the_minute() {
        assert_eq!(minute_of(at(0)), m0());
        assert_eq!(minute_of(at(59)), m0());
        assert_eq!(
            minute_of(at(59) + Duration::milliseconds(999)),
            m0(),
            "sub-second times floor too"
        );
        assert_eq!(minute_of(at(60)), at(60));
        assert_eq!(minute_of(at(-1)), at(-60));
    }

    #[test]
    fn a_bar_is_built_exactly_from_its_ticks() {
        let mut bars = BarBuilder::new();
        let ticks = [
            tick("SPY", 5, 450.00, 100),
            tick("SPY", 12, 455.50, 300),
            tick("SPY", 30, 449.50, 200),
            tick("SPY", 59, 453.00, 400),
        ];
        assert!(
            bars.push_all(&ticks).is_empty(),
            "nothing closes within the minute"
        );
        let closed = bars.push(&tick("SPY", 60, 454.00, 1)).unwrap();
        // notional = 45000 + 136650 + 89900 + 181200 = 452750; volume 1000.
        assert_eq!(
            closed,
            IntradayBar {
                symbol: "SPY".into(),
                country: "USA".into(),
                timestamp_minute: m0(),
                open: 450.00,
                high: 455.50,
                low: 449.50,
                close: 453.00,
                volume: 1_000,
                vwap: 452.75,
                trades: 4,
            }
        );
    }

    #[test]
    fn timestamp_minute_is_aligned_even_for_an_unaligned_first_tick() {
        let mut bars = BarBuilder::new();
        let mut t = tick("QQQ", 37, 500.0, 10);
        t.at += Duration::milliseconds(250);
        bars.push(&t);
        let partial = bars.partial("QQQ").unwrap();
        assert_eq!(partial.timestamp_minute, m0());
        assert_eq!(
            partial.timestamp_minute,
            minute_of(partial.timestamp_minute)
        );
    }

    #[test]
    fn a_bar_closes_exactly_on_the_first_tick_of_the_next_minute() {
        let mut bars = BarBuilder::new();
        for s in 0..60 {
            assert_eq!(bars.push(&tick("SPY", s, 450.0, 10)), None, "second {s}");
        }
        // The partial bar is complete but still open.
        assert_eq!(bars.partial("SPY").unwrap().trades, 60);
        let closed = bars.push(&tick("SPY", 60, 451.0, 10)).unwrap();
        assert_eq!(closed.timestamp_minute, m0());
        assert_eq!(closed.trades, 60);
        assert_eq!(closed.volume, 600);
        // The new minute's tick opened the next bar.
        let partial = bars.partial("SPY").unwrap();
        assert_eq!(partial.timestamp_minute, at(60));
        assert_eq!((partial.open, partial.trades), (451.0, 1));
    }

    #[test]
    fn close_until_closes_bars_whose_minute_has_ended() {
        let mut bars = BarBuilder::new();
        bars.push(&tick("SPY", 10, 450.0, 10));
        bars.push(&tick("AAPL", 20, 230.0, 10));
        assert!(bars.close_until(at(59)).is_empty());
        assert!(
            bars.close_until(at(60) - Duration::nanoseconds(1))
                .is_empty()
        );
        let closed = bars.close_until(at(60));
        let symbols: Vec<&str> = closed.iter().map(|b| b.symbol.as_str()).collect();
        assert_eq!(symbols, ["AAPL", "SPY"]);
        assert!(closed.iter().all(|b| b.timestamp_minute == m0()));
        assert!(bars.partials().is_empty());
        // Nothing left to close.
        assert!(bars.close_until(at(61)).is_empty());
        // The next tick starts a fresh bar and closes nothing.
        assert_eq!(bars.push(&tick("SPY", 61, 452.0, 5)), None);
        assert_eq!(bars.partial("SPY").unwrap().open, 452.0);
    }

    #[test]
    fn close_until_leaves_the_current_minute_open() {
        let mut bars = BarBuilder::new();
        bars.push(&tick("SPY", 10, 450.0, 10));
        bars.push(&tick("SPY", 70, 451.0, 10));
        assert!(bars.close_until(at(119)).is_empty());
        assert_eq!(bars.partial("SPY").unwrap().timestamp_minute, at(60));
        assert_eq!(bars.close_until(at(120)).len(), 1);
    }

    #[test]
    fn a_minute_without_ticks_makes_no_bar() {
        let mut bars = BarBuilder::new();
        bars.push(&tick("SPY", 0, 450.0, 10));
        bars.push(&tick("SPY", 30, 452.0, 30));
        // Nothing in minutes 1 and 2; the next tick is in minute 3.
        let closed = bars.push(&tick("SPY", 185, 460.0, 7)).unwrap();
        assert_eq!(closed.timestamp_minute, m0());
        assert_eq!(
            (closed.open, closed.close, closed.volume),
            (450.0, 452.0, 40)
        );
        assert!(
            bars.close_until(at(179)).is_empty(),
            "no bars for the empty minutes"
        );
        bars.push(&tick("SPY", 200, 458.0, 3));
        let closed = bars.close_until(at(240));
        assert_eq!(closed.len(), 1);
        let bar = &closed[0];
        assert_eq!(bar.timestamp_minute, at(180));
        assert_eq!(
            (bar.open, bar.high, bar.low, bar.close),
            (460.0, 460.0, 458.0, 458.0)
        );
        assert_eq!((bar.volume, bar.trades), (10, 2));
        // (460*7 + 458*3) / 10 = 459.4
        assert_eq!(bar.vwap, 459.4);
    }

    #[test]
    fn symbols_are_independent() {
        let mut bars = BarBuilder::new();
        bars.push(&tick("SPY", 0, 450.0, 10));
        assert_eq!(bars.push(&tick("AAPL", 65, 230.0, 10)), None);
        assert_eq!(bars.partial("SPY").unwrap().timestamp_minute, m0());
        assert_eq!(bars.partial("AAPL").unwrap().timestamp_minute, at(60));
        assert_eq!(bars.partial("MSFT"), None);
    }

    #[test]
    fn late_and_invalid_ticks_are_dropped() {
        let mut bars = BarBuilder::new();
        bars.push(&tick("SPY", 30, 450.0, 10));
        bars.push(&tick("SPY", 65, 451.0, 10)).unwrap();
        // Minute 0 was sent already: a straggler cannot change it.
        assert_eq!(bars.push(&tick("SPY", 59, 1.0, 1_000)), None);
        bars.push(&tick("AAPL", 70, 230.0, 10));
        bars.close_until(at(120));
        // Minute 1 was declared finished for every symbol, even one with no bar in it.
        assert_eq!(bars.push(&tick("MSFT", 119, 440.0, 10)), None);
        assert_eq!(bars.partial("MSFT"), None);
        assert_eq!(bars.push(&tick("SPY", 130, f64::NAN, 10)), None);
        assert_eq!(bars.push(&tick("SPY", 130, -1.0, 10)), None);
        assert_eq!(bars.push(&tick("SPY", 130, 452.0, 0)), None);
        assert_eq!(bars.dropped_ticks(), 5);
        // None of them reached VWAP.
        assert_eq!(bars.vwap("SPY").unwrap().session_volume, 20);
        assert_eq!(bars.vwap("MSFT"), None);
        assert_eq!(bars.partial("SPY"), None);
    }

    #[test]
    fn session_vwap_is_exact_and_restarts_on_reset() {
        let mut bars = BarBuilder::new();
        assert_eq!(bars.vwap("SPY"), None);
        bars.push_all(&[
            tick("SPY", 0, 100.00, 100),
            tick("SPY", 30, 101.00, 300),
            tick("SPY", 90, 102.00, 600),
            tick("AAPL", 91, 230.00, 50),
        ]);
        // (10000 + 30300 + 61200) / 1000 = 101.5
        assert_eq!(
            bars.vwap("SPY"),
            Some(Vwap {
                symbol: "SPY".into(),
                as_of: at(90),
                session_vwap: 101.50,
                session_volume: 1_000,
            })
        );

        bars.reset_session("SPY");
        assert_eq!(bars.vwap("SPY"), None);
        assert_eq!(
            bars.vwap("AAPL").unwrap().session_volume,
            50,
            "others keep their session"
        );
        // The open bar carries on through a reset.
        assert_eq!(bars.partial("SPY").unwrap().volume, 600);

        bars.push_all(&[tick("SPY", 100, 104.00, 10), tick("SPY", 110, 101.00, 30)]);
        // (1040 + 3030) / 40 = 101.75
        let vwap = bars.vwap("SPY").unwrap();
        assert_eq!(
            (vwap.session_vwap, vwap.session_volume, vwap.as_of),
            (101.75, 40, at(110))
        );

        bars.reset_all_sessions();
        assert!(bars.vwaps().is_empty());
        assert_eq!(
            bars.last_price("SPY"),
            Some(101.0),
            "the last price survives a reset"
        );
        bars.reset_session("UNKNOWN");
    }

    #[test]
    fn one_second_ticks_for_three_minutes_close_three_bars_per_symbol() {
        let mut sim = Simulator::new(42);
        let mut bars = BarBuilder::new();
        let mut closed = Vec::new();
        // 180 one-second steps: 15:30:00 .. 15:32:59.
        for s in 0..180 {
            let now = at(s);
            let ticks = sim.tick(now);
            closed.extend(bars.push_all(&ticks));
            closed.extend(bars.close_until(now));
        }
        // Minutes 0 and 1 closed on the first tick of the next minute; minute 2 is still open.
        assert_eq!(closed.len(), 2 * 5);
        assert_eq!(bars.partials().len(), 5);
        closed.extend(bars.close_until(at(180)));
        assert_eq!(closed.len(), 3 * 5);

        for symbol in sim.symbols() {
            let mine: Vec<&IntradayBar> = closed.iter().filter(|b| &b.symbol == symbol).collect();
            let minutes: Vec<DateTime<Utc>> = mine.iter().map(|b| b.timestamp_minute).collect();
            assert_eq!(minutes, [at(0), at(60), at(120)], "{symbol}");
            for bar in &mine {
                assert_eq!(bar.trades, 60, "{symbol}");
                assert!(bar.low <= bar.open && bar.open <= bar.high, "{bar:?}");
                assert!(bar.low <= bar.close && bar.close <= bar.high, "{bar:?}");
                assert!(bar.low <= bar.vwap && bar.vwap <= bar.high, "{bar:?}");
                assert_eq!(bar.country, "USA");
            }
            // Bars and session account for the same trades.
            let bar_volume: u64 = mine.iter().map(|b| b.volume).sum();
            assert_eq!(bars.vwap(symbol).unwrap().session_volume, bar_volume);
        }
    }

    #[test]
    fn bars_match_a_recount_of_the_ticks() {
        let mut sim = Simulator::new(7);
        let mut bars = BarBuilder::new();
        let mut all_ticks = Vec::new();
        let mut closed = Vec::new();
        // Start mid-minute and step every 7 s for 10 minutes.
        for i in 0..86 {
            let now = at(25 + 7 * i);
            let ticks = sim.tick(now);
            closed.extend(bars.push_all(&ticks));
            all_ticks.extend(ticks);
        }
        // The last step, 25 + 7 × 85 = 620 s, is in the minute that ends at 660 s.
        assert!(bars.close_until(at(659)).is_empty());
        closed.extend(bars.close_until(at(660)));
        assert!(bars.partials().is_empty());
        for bar in &closed {
            let ticks: Vec<&Tick> = all_ticks
                .iter()
                .filter(|t| t.symbol == bar.symbol && minute_of(t.at) == bar.timestamp_minute)
                .collect();
            assert!(!ticks.is_empty());
            let volume: u64 = ticks.iter().map(|t| t.size).sum();
            let notional: f64 = ticks.iter().map(|t| t.price * t.size as f64).sum();
            assert_eq!(bar.open, ticks[0].price);
            assert_eq!(bar.close, ticks[ticks.len() - 1].price);
            assert_eq!(
                bar.high,
                ticks.iter().map(|t| t.price).fold(f64::MIN, f64::max)
            );
            assert_eq!(
                bar.low,
                ticks.iter().map(|t| t.price).fold(f64::MAX, f64::min)
            );
            assert_eq!(bar.volume, volume);
            assert_eq!(bar.trades as usize, ticks.len());
            assert_eq!(bar.vwap, round_cents(notional / volume as f64));
        }
        // Every (symbol, minute) with ticks has exactly one bar.
        let mut keys: Vec<(String, DateTime<Utc>)> = all_ticks
            .iter()
            .map(|t| (t.symbol.clone(), minute_of(t.at)))
            .collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), closed.len());
    }
}
