//! The market simulator: seeded, reproducible price paths and trade sizes for a configurable symbol list, one tick per symbol per step.
//!
//! # The model
//!
//! Each symbol's log price follows a geometric Brownian motion with no drift and a weak pull back
//! towards its starting price (an Ornstein–Uhlenbeck process in log space), stepped exactly for
//! whatever time has passed since the previous call:
//!
//! ```text
//! x = ln(price),  m = ln(start_price),  k = MEAN_REVERSION,  σ = annual_volatility
//! x' = m + (x - m)·e^(−k·dt) + σ·sqrt((1 − e^(−2k·dt)) / 2k)·Z,   Z ~ N(0, 1)
//! ```
//!
//! Time is measured in trading years of [`TRADING_SECONDS_PER_YEAR`] seconds, so a 1 s step moves
//! a 16 %-volatility index by about 0.007 %. The pull back has a half-life of one trading year:
//! invisible within a day, it keeps a simulator left running for months near plausible prices.
//! Prices are rounded to cents and never fall below one cent.
//!
//! Sizes are log-normal around each symbol's `avg_size` (shares per step), at least one share.
//!
//! # Reproducibility
//!
//! Same seed + same symbol specs + same sequence of instants ⇒ identical ticks, on any machine and
//! with any crate versions (see [`super::rng`]). Each symbol draws from its own stream, derived
//! from the seed and the symbol's name, so adding or removing one symbol does not change the
//! paths of the others.
//!
//! # Trading hours
//!
//! The simulator trades around the clock: every call to [`MarketFeed::tick`] gives one tick per
//! symbol, whatever the time of day or day of week. Restricting symbols to their exchange's
//! sessions is left to a later flag.

use super::rng::{Rng, SplitMix64, fnv1a64};
use super::{MarketFeed, Tick};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet};
use thor_core::intraday::round_cents;

/// Seconds in a trading year (252 days of 6.5 hours), the unit volatilities are quoted in.
pub const TRADING_SECONDS_PER_YEAR: f64 = 252.0 * 6.5 * 3600.0;

/// Strength of the pull of the log price towards its start, per trading year: ln 2, a half-life
/// of one trading year.
pub const MEAN_REVERSION: f64 = std::f64::consts::LN_2;

/// Log-normal dispersion of trade sizes (the standard deviation of ln size).
const SIZE_DISPERSION: f64 = 0.75;

/// The lowest price the simulator reports, one cent.
const MIN_PRICE: f64 = 0.01;

/// One simulated instrument.
#[derive(Clone, Debug, PartialEq)]
pub struct SymbolSpec {
    pub symbol: String,
    /// The country of its exchange, e.g. `"USA"`.
    pub country: String,
    /// The first tick's price, in dollars, and the level the path is weakly pulled back to.
    pub start_price: f64,
    /// Annualised volatility over trading time, e.g. `0.16` for 16 %.
    pub annual_volatility: f64,
    /// Mean shares per tick (per step of about one second).
    pub avg_size: u64,
}

impl SymbolSpec {
    pub fn new(
        symbol: impl Into<String>,
        country: impl Into<String>,
        start_price: f64,
        annual_volatility: f64,
        avg_size: u64,
    ) -> Self {
        Self {
            symbol: symbol.into(),
            country: country.into(),
            start_price,
            annual_volatility,
            avg_size,
        }
    }

    /// The default list: `SPY, QQQ, IWM, AAPL, MSFT`, all in the USA.
    pub fn defaults() -> Vec<SymbolSpec> {
        vec![
            SymbolSpec::new("SPY", "USA", 600.00, 0.16, 3_000),
            SymbolSpec::new("QQQ", "USA", 520.00, 0.21, 2_000),
            SymbolSpec::new("IWM", "USA", 225.00, 0.23, 1_200),
            SymbolSpec::new("AAPL", "USA", 230.00, 0.27, 2_200),
            SymbolSpec::new("MSFT", "USA", 440.00, 0.24, 900),
        ]
    }
}

/// Why a symbol list was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SimulatorError {
    #[error("symbol {0:?} appears more than once")]
    DuplicateSymbol(String),
    #[error("symbol {symbol:?}: {reason}")]
    InvalidSpec {
        symbol: String,
        reason: &'static str,
    },
}

/// The state of one simulated symbol.
#[derive(Clone, Debug)]
struct Path {
    spec: SymbolSpec,
    rng: Rng,
    /// ln(start_price), the level the log price is pulled towards.
    anchor: f64,
    /// The current log price, unrounded.
    log_price: f64,
    /// The last reported price, rounded to cents.
    last_price: f64,
}

/// A seeded market simulator; see the module documentation for the model.
#[derive(Clone, Debug)]
pub struct Simulator {
    seed: u64,
    symbols: Vec<String>,
    paths: Vec<Path>,
    /// The latest instant seen; the next step covers the time since then.
    last_step: Option<DateTime<Utc>>,
}

impl Simulator {
    /// A simulator of the default symbols ([`SymbolSpec::defaults`]).
    pub fn new(seed: u64) -> Self {
        let specs = SymbolSpec::defaults();
        let symbols = specs.iter().map(|s| s.symbol.clone()).collect();
        let paths = specs
            .into_iter()
            .map(|spec| Path::new(seed, spec))
            .collect();
        Self {
            seed,
            symbols,
            paths,
            last_step: None,
        }
    }

    /// A simulator of the given symbols, in the given order. Symbols must be unique and non-empty,
    /// start prices finite and positive, volatilities finite and not negative, average sizes
    /// positive. An empty list is allowed: it trades nothing.
    pub fn with_symbols(seed: u64, specs: Vec<SymbolSpec>) -> Result<Self, SimulatorError> {
        let mut seen = BTreeSet::new();
        for spec in &specs {
            validate(spec)?;
            if !seen.insert(spec.symbol.as_str()) {
                return Err(SimulatorError::DuplicateSymbol(spec.symbol.clone()));
            }
        }
        let symbols = specs.iter().map(|s| s.symbol.clone()).collect();
        let paths = specs
            .into_iter()
            .map(|spec| Path::new(seed, spec))
            .collect();
        Ok(Self {
            seed,
            symbols,
            paths,
            last_step: None,
        })
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The simulated instruments, in tick order.
    pub fn specs(&self) -> impl Iterator<Item = &SymbolSpec> {
        self.paths.iter().map(|p| &p.spec)
    }

    /// The symbol's last price in dollars (its start price before the first tick), e.g. to value
    /// a paper position.
    pub fn last_price(&self, symbol: &str) -> Option<f64> {
        self.paths
            .iter()
            .find(|p| p.spec.symbol == symbol)
            .map(|p| p.last_price)
    }
}

impl MarketFeed for Simulator {
    fn symbols(&self) -> &[String] {
        &self.symbols
    }

    /// Continues each listed symbol's path from its price (a restart carrying on where the last run
    /// left off): a new simulator's first tick reports that price, and every later tick moves on
    /// from it. The pull back still aims at the symbol's start price. Unknown symbols and prices
    /// that are not finite and positive are ignored.
    fn continue_from(&mut self, prices: &BTreeMap<String, f64>) {
        for path in &mut self.paths {
            if let Some(price) = prices
                .get(&path.spec.symbol)
                .copied()
                .filter(|p| p.is_finite() && *p >= MIN_PRICE)
            {
                path.log_price = price.ln();
                path.last_price = round_cents(price);
            }
        }
    }

    /// One tick per symbol, all at `now`, in symbol order. The first call reports the start
    /// prices; later calls move each price by the time elapsed since the latest instant seen. An
    /// instant earlier than one already seen moves nothing (elapsed time counts as zero) but still
    /// trades.
    fn tick(&mut self, now: DateTime<Utc>) -> Vec<Tick> {
        let dt_years = match self.last_step {
            Some(last) if now > last => {
                let elapsed = now - last;
                let seconds = elapsed.num_seconds() as f64
                    + f64::from(elapsed.subsec_nanos()) / 1_000_000_000.0;
                seconds / TRADING_SECONDS_PER_YEAR
            }
            _ => 0.0,
        };
        self.last_step = Some(self.last_step.map_or(now, |last| last.max(now)));
        self.paths
            .iter_mut()
            .map(|path| path.step(now, dt_years))
            .collect()
    }
}

fn validate(spec: &SymbolSpec) -> Result<(), SimulatorError> {
    let invalid = |reason| SimulatorError::InvalidSpec {
        symbol: spec.symbol.clone(),
        reason,
    };
    if spec.symbol.trim().is_empty() {
        return Err(invalid("the symbol is empty"));
    }
    if !(spec.start_price.is_finite() && spec.start_price >= MIN_PRICE) {
        return Err(invalid(
            "the start price must be finite and at least one cent",
        ));
    }
    if !(spec.annual_volatility.is_finite() && spec.annual_volatility >= 0.0) {
        return Err(invalid("the volatility must be finite and not negative"));
    }
    if spec.annual_volatility > 10.0 {
        return Err(invalid("the volatility must be at most 10 (1000 %)"));
    }
    if spec.avg_size == 0 {
        return Err(invalid("the average size must be positive"));
    }
    Ok(())
}

impl Path {
    fn new(seed: u64, spec: SymbolSpec) -> Self {
        // One stream per symbol: the seed's first SplitMix64 output mixed with the symbol's hash.
        let stream_seed = SplitMix64::new(seed).next_u64() ^ fnv1a64(spec.symbol.as_bytes());
        let anchor = spec.start_price.ln();
        let last_price = round_cents(spec.start_price).max(MIN_PRICE);
        Self {
            rng: Rng::seed_from_u64(stream_seed),
            anchor,
            log_price: anchor,
            last_price,
            spec,
        }
    }

    /// Moves the price over `dt_years` of trading time and draws a size. Always takes exactly two
    /// normal draws, so the stream's position depends only on the number of steps.
    fn step(&mut self, at: DateTime<Utc>, dt_years: f64) -> Tick {
        let z_price = self.rng.next_normal();
        let z_size = self.rng.next_normal();

        if dt_years > 0.0 {
            let k = MEAN_REVERSION;
            let sigma = self.spec.annual_volatility;
            let decay = (-k * dt_years).exp();
            let spread = sigma * ((1.0 - (-2.0 * k * dt_years).exp()) / (2.0 * k)).sqrt();
            self.log_price =
                self.anchor + (self.log_price - self.anchor) * decay + spread * z_price;
            // Keep the unrounded level above the price floor too, so it cannot wander off.
            self.log_price = self.log_price.max(MIN_PRICE.ln());
        }
        self.last_price = round_cents(self.log_price.exp()).max(MIN_PRICE);

        // Log-normal with mean avg_size: E[exp(μ + sZ)] = exp(μ + s²/2).
        let s = SIZE_DISPERSION;
        let mu = (self.spec.avg_size as f64).ln() - s * s / 2.0;
        let size = (mu + s * z_size).exp().round();
        // `as` saturates; the floor of one share keeps every tick a trade.
        let size = (size as u64).max(1);

        Tick {
            symbol: self.spec.symbol.clone(),
            country: self.spec.country.clone(),
            at,
            price: self.last_price,
            size,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 12, 19, 14, 30, 0).unwrap()
    }

    fn run(sim: &mut Simulator, steps: i64) -> Vec<Tick> {
        (0..steps)
            .flat_map(|i| sim.tick(t0() + Duration::seconds(i)))
            .collect()
    }

    #[test]
    fn default_symbols_and_country() {
        let sim = Simulator::new(1);
        assert_eq!(sim.symbols(), ["SPY", "QQQ", "IWM", "AAPL", "MSFT"]);
        assert!(sim.specs().all(|s| s.country == "USA"));
        assert_eq!(sim.last_price("SPY"), Some(600.0));
        assert_eq!(sim.last_price("NOPE"), None);
    }

    #[test]
    fn one_tick_per_symbol_per_call_at_the_given_instant() {
        let mut sim = Simulator::new(1);
        let ticks = sim.tick(t0());
        assert_eq!(ticks.len(), 5);
        let symbols: Vec<&str> = ticks.iter().map(|t| t.symbol.as_str()).collect();
        assert_eq!(symbols, ["SPY", "QQQ", "IWM", "AAPL", "MSFT"]);
        assert!(ticks.iter().all(|t| t.at == t0() && t.country == "USA"));
        // The first tick reports the start prices.
        let prices: Vec<f64> = ticks.iter().map(|t| t.price).collect();
        assert_eq!(prices, [600.0, 520.0, 225.0, 230.0, 440.0]);
    }

    #[test]
    fn same_seed_same_ticks() {
        let mut a = Simulator::new(42);
        let mut b = Simulator::new(42);
        let ta = run(&mut a, 600);
        let tb = run(&mut b, 600);
        assert_eq!(ta.len(), 3000);
        assert_eq!(ta, tb);
    }

    #[test]
    fn different_seeds_differ() {
        let mut a = Simulator::new(42);
        let mut b = Simulator::new(43);
        let ta = run(&mut a, 600);
        let tb = run(&mut b, 600);
        assert_ne!(ta, tb);
        // Not just the sizes: the price paths themselves differ.
        let pa: Vec<f64> = ta.iter().map(|t| t.price).collect();
        let pb: Vec<f64> = tb.iter().map(|t| t.price).collect();
        assert_ne!(pa, pb);
    }

    #[test]
    fn the_path_is_pinned_forever() {
        // Same seed, same prices: if this changes, every recorded simulation changes with it.
        let mut sim = Simulator::new(42);
        let ticks = run(&mut sim, 600);
        let last: Vec<(f64, u64)> = ticks[2995..].iter().map(|t| (t.price, t.size)).collect();
        assert_eq!(last, PINNED_LAST_TICKS);
    }

    const PINNED_LAST_TICKS: [(f64, u64); 5] = [
        (600.33, 364),
        (520.75, 3062),
        (224.9, 281),
        (229.98, 603),
        (441.38, 1817),
    ];

    #[test]
    fn a_symbols_path_does_not_depend_on_the_others() {
        let mut all = Simulator::new(7);
        let mut alone =
            Simulator::with_symbols(7, vec![SymbolSpec::new("AAPL", "USA", 230.0, 0.27, 2_200)])
                .unwrap();
        let from_all: Vec<Tick> = run(&mut all, 300)
            .into_iter()
            .filter(|t| t.symbol == "AAPL")
            .collect();
        assert_eq!(from_all, run(&mut alone, 300));
    }

    #[test]
    fn prices_stay_positive_and_plausible_over_a_day_of_seconds() {
        let mut sim = Simulator::new(2025);
        let mut count = 0usize;
        for i in 0..86_400 {
            for tick in sim.tick(t0() + Duration::seconds(i)) {
                assert!(tick.price.is_finite() && tick.price >= 0.01, "{tick:?}");
                assert!(tick.size >= 1, "{tick:?}");
                assert_eq!(tick.price, round_cents(tick.price));
                count += 1;
            }
        }
        assert_eq!(count, 86_400 * 5);
        // A day of around-the-clock trading is ~3.7 trading days: no price should be far off.
        for spec in SymbolSpec::defaults() {
            let last = sim.last_price(&spec.symbol).unwrap();
            let ratio = last / spec.start_price;
            assert!((0.5..2.0).contains(&ratio), "{} at {last}", spec.symbol);
        }
    }

    #[test]
    fn prices_stay_positive_under_extreme_volatility_and_long_gaps() {
        let spec = SymbolSpec::new("WILD", "USA", 0.05, 10.0, 10);
        let mut sim = Simulator::with_symbols(3, vec![spec]).unwrap();
        for i in 0..5_000 {
            for tick in sim.tick(t0() + Duration::days(i)) {
                assert!(tick.price.is_finite() && tick.price >= 0.01, "{tick:?}");
            }
        }
    }

    #[test]
    fn sizes_average_near_avg_size() {
        let spec = SymbolSpec::new("SPY", "USA", 600.0, 0.16, 3_000);
        let mut sim = Simulator::with_symbols(11, vec![spec]).unwrap();
        let ticks = run(&mut sim, 20_000);
        let mean = ticks.iter().map(|t| t.size as f64).sum::<f64>() / ticks.len() as f64;
        assert!((2_800.0..3_200.0).contains(&mean), "mean size {mean}");
    }

    #[test]
    fn one_second_moves_are_small() {
        let mut sim = Simulator::new(5);
        let mut previous = sim.tick(t0());
        for i in 1..3_600 {
            let ticks = sim.tick(t0() + Duration::seconds(i));
            for (a, b) in previous.iter().zip(&ticks) {
                let change = (b.price / a.price - 1.0).abs();
                assert!(change < 0.002, "{a:?} -> {b:?}");
            }
            previous = ticks;
        }
    }

    #[test]
    fn repeated_or_earlier_instants_do_not_move_prices() {
        let mut sim = Simulator::new(9);
        sim.tick(t0());
        let a = sim.tick(t0() + Duration::seconds(1));
        let b = sim.tick(t0() + Duration::seconds(1));
        let c = sim.tick(t0());
        let prices = |ts: &[Tick]| ts.iter().map(|t| t.price).collect::<Vec<_>>();
        assert_eq!(prices(&a), prices(&b));
        assert_eq!(prices(&a), prices(&c));
        assert!(c.iter().all(|t| t.at == t0()));
    }

    #[test]
    fn zero_volatility_keeps_the_start_price() {
        let spec = SymbolSpec::new("FLAT", "USA", 100.0, 0.0, 100);
        let mut sim = Simulator::with_symbols(1, vec![spec]).unwrap();
        assert!(run(&mut sim, 100).iter().all(|t| t.price == 100.0));
    }

    #[test]
    fn bad_symbol_lists_are_refused() {
        let ok = || SymbolSpec::new("X", "USA", 10.0, 0.2, 100);
        assert_eq!(
            Simulator::with_symbols(1, vec![ok(), ok()]).unwrap_err(),
            SimulatorError::DuplicateSymbol("X".into())
        );
        for bad in [
            SymbolSpec {
                symbol: " ".into(),
                ..ok()
            },
            SymbolSpec {
                start_price: 0.0,
                ..ok()
            },
            SymbolSpec {
                start_price: f64::NAN,
                ..ok()
            },
            SymbolSpec {
                annual_volatility: -0.1,
                ..ok()
            },
            SymbolSpec {
                annual_volatility: f64::INFINITY,
                ..ok()
            },
            SymbolSpec {
                avg_size: 0,
                ..ok()
            },
        ] {
            assert!(matches!(
                Simulator::with_symbols(1, vec![bad]),
                Err(SimulatorError::InvalidSpec { .. })
            ));
        }
        let empty = Simulator::with_symbols(1, vec![]).unwrap();
        assert!(empty.symbols().is_empty());
    }

    #[test]
    fn usable_as_a_boxed_feed() {
        let mut feed: Box<dyn MarketFeed> = Box::new(Simulator::new(1));
        assert_eq!(feed.tick(t0()).len(), feed.symbols().len());
    }

    #[test]
    fn a_continued_path_starts_from_the_carried_price_and_moves_on_from_it() {
        let mut sim = Simulator::new(1);
        let carried = BTreeMap::from([
            ("AAPL".to_string(), 251.37),
            ("SPY".to_string(), f64::NAN),
            ("NOPE".to_string(), 5.0),
        ]);
        sim.continue_from(&carried);
        let first = sim.tick(t0());
        let price = |ticks: &[Tick], symbol: &str| {
            ticks.iter().find(|t| t.symbol == symbol).map(|t| t.price)
        };
        assert_eq!(price(&first, "AAPL"), Some(251.37));
        assert_eq!(price(&first, "SPY"), Some(600.0), "a NaN is not a price");
        assert!(
            price(&first, "NOPE").is_none(),
            "unknown symbols are not added"
        );
        let next = sim.tick(t0() + Duration::seconds(1));
        let moved = price(&next, "AAPL").unwrap_or_default();
        assert!((moved / 251.37 - 1.0).abs() < 0.001, "{moved}");
    }
}
