//! A feed wrapper that lets each symbol trade only during its exchange's regular session (the
//! first exchange of the symbol's country: NYSE for "USA"). The simulator keeps walking while the
//! market is shut, so the next open gaps as a real one does.

use super::{MarketFeed, Tick};
use crate::calendar::{self, Exchange, MarketStatusKind};
use crate::clock::Clock;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use thor_core::feature::Feature;

pub struct DuringExchangeHours<F> {
    inner: F,
}

impl<F: MarketFeed> DuringExchangeHours<F> {
    pub fn new(inner: F) -> Self {
        Self { inner }
    }
}

/// The exchange whose hours a symbol of `country` follows.
pub fn home_exchange(country: &str) -> Option<&'static Exchange> {
    calendar::exchanges().iter().find(|e| e.country == country)
}

fn in_session(country: &str, now: DateTime<Utc>) -> bool {
    // A country without a known exchange trades around the clock rather than never.
    home_exchange(country)
        .is_none_or(|exchange| calendar::status_at(exchange, now).status == MarketStatusKind::Open)
}

/// Whether any market a feed trades on is in session, read from the jobs' clock: what tells a
/// market that has closed from a feed that has stopped.
#[derive(Clone)]
pub struct MarketHours {
    countries: Vec<String>,
    /// Each symbol's country.
    symbols: BTreeMap<String, String>,
    clock: Arc<dyn Clock>,
}

impl MarketHours {
    /// For the feed's `(symbol, country)` pairs.
    pub fn new(symbols: impl IntoIterator<Item = (String, String)>, clock: Arc<dyn Clock>) -> Self {
        let symbols: BTreeMap<String, String> = symbols.into_iter().collect();
        let countries: BTreeSet<String> = symbols.values().cloned().collect();
        Self {
            countries: countries.into_iter().collect(),
            symbols,
            clock,
        }
    }

    /// Whether `symbol` trades now (a symbol the feed does not know is taken as trading).
    pub fn trading(&self, symbol: &str) -> bool {
        self.symbols
            .get(symbol)
            .is_none_or(|country| in_session(country, self.clock.now()))
    }

    /// Every market is closed now (false for a feed with no symbols: nothing to wait for).
    pub fn all_closed(&self) -> bool {
        let now = self.clock.now();
        !self.countries.is_empty() && !self.countries.iter().any(|c| in_session(c, now))
    }

    /// Whether `feature` is quiet now because every market it follows is closed: the one rule
    /// the heartbeat (what pages are told) and the automatic rollback both read.
    pub fn closed_for(&self, feature: Feature) -> bool {
        feature.follows_market_hours() && self.all_closed()
    }
}

impl<F: MarketFeed> MarketFeed for DuringExchangeHours<F> {
    fn symbols(&self) -> &[String] {
        self.inner.symbols()
    }

    fn tick(&mut self, now: DateTime<Utc>) -> Vec<Tick> {
        self.inner
            .tick(now)
            .into_iter()
            .filter(|tick| in_session(&tick.country, now))
            .collect()
    }

    fn continue_from(&mut self, prices: &std::collections::BTreeMap<String, f64>) {
        self.inner.continue_from(prices);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feed::{Simulator, SymbolSpec};

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("instant")
            .with_timezone(&Utc)
    }

    #[test]
    fn us_symbols_trade_in_the_nyse_session_only() {
        let mut feed = DuringExchangeHours::new(Simulator::new(1));
        // Monday 2026-03-09 10:00 New York (EDT): open.
        assert_eq!(feed.tick(at("2026-03-09T14:00:00Z")).len(), 5);
        // The same day 08:00 New York: premarket, no regular trading.
        assert!(feed.tick(at("2026-03-10T12:00:00Z")).is_empty());
        // Saturday: closed.
        assert!(feed.tick(at("2026-03-14T15:00:00Z")).is_empty());
        // Christmas 2026 is a Friday and an NYSE holiday.
        assert!(feed.tick(at("2026-12-25T15:00:00Z")).is_empty());
        assert_eq!(feed.symbols().len(), 5);
    }

    #[test]
    fn each_symbol_follows_its_own_country() {
        let specs = vec![
            SymbolSpec::new("SPY", "USA", 600.0, 0.2, 100),
            SymbolSpec::new("7203", "Japan", 3000.0, 0.2, 100),
        ];
        let mut feed =
            DuringExchangeHours::new(Simulator::with_symbols(1, specs).expect("valid specs"));
        // 01:00 UTC Tuesday = 10:00 Tokyo (open) and 21:00 Monday New York (closed).
        let ticks = feed.tick(at("2026-03-10T01:00:00Z"));
        assert_eq!(
            ticks.iter().map(|t| t.symbol.as_str()).collect::<Vec<_>>(),
            ["7203"]
        );
        // A country without an exchange in the calendar trades around the clock.
        assert!(home_exchange("Atlantis").is_none());
        assert!(in_session("Atlantis", at("2026-03-14T15:00:00Z")));
    }
}
