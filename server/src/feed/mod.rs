//! Market data behind a feed trait: the [`MarketFeed`] a source of trades implements, the seeded [`Simulator`] that implements it today, and the [`BarBuilder`] that turns trades into 1-minute bars and session VWAP.
//!
//! Everything here is synchronous, pure logic with the clock injected: the caller (a job) reads
//! the clock once and passes the instant in, so tests can stand at any instant without sleeping.
//!
//! ```text
//! job, every second:  now ──▶ feed.tick(now) ──▶ ticks ──▶ bars.push_all(&ticks) ──▶ closed bars
//!                                                          bars.close_until(now)  ──▶ closed bars
//! ```
//!
//! - [`simulator`]: seeded, reproducible price paths for a configurable symbol list.
//! - [`bars`]: 1-minute OHLCV bars, the open (partial) bar, session VWAP.
//! - [`hours`]: a wrapper that lets each symbol trade only during its exchange's session.
//! - [`rng`]: the small, versioned PRNG the simulator draws from.

pub mod bars;
pub mod hours;
pub mod rng;
pub mod simulator;

pub use bars::BarBuilder;
pub use simulator::{Simulator, SimulatorError, SymbolSpec};

use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// One trade (or, from the simulator, the trading of one symbol in one step) as a feed reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct Tick {
    pub symbol: String,
    /// The country of the symbol's exchange, e.g. `"USA"`; carried so bars need no lookup table.
    pub country: String,
    /// When the trade happened.
    pub at: DateTime<Utc>,
    /// Trade price in dollars; the simulator rounds it to cents.
    pub price: f64,
    /// Shares traded.
    pub size: u64,
}

/// A source of trades: the simulator today, a broker's feed tomorrow.
///
/// Synchronous and clock-injected: `tick` is handed the current instant and must not read a clock
/// itself, so the same sequence of instants can be replayed in tests.
pub trait MarketFeed: Send {
    /// The symbols this feed trades, in a fixed order.
    fn symbols(&self) -> &[String];

    /// Advances the feed to `now` and returns the trades that happened since the last call.
    fn tick(&mut self, now: DateTime<Utc>) -> Vec<Tick>;

    /// Carries on from the last prices an earlier run stored (symbol → dollars). A feed that
    /// reports a real market's prices has nothing to carry on and ignores them.
    fn continue_from(&mut self, _prices: &BTreeMap<String, f64>) {}
}
