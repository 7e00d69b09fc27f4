//! Paper-account payloads (balance and positions), shared by the server's REST API, its
//! WebSocket and the page. Field names extend the seed's `account_balance` and `positions`
//! messages; money is dollars as `f64` rounded to cents, times are UTC (RFC 3339).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccountBalance {
    pub account_id: i64,
    pub account_number: String,
    pub cash: f64,
    /// Cash not held by open buy orders: what a new buy may spend (a cash account: no margin).
    pub buying_power: f64,
    /// Cash plus the market value of every position.
    pub equity: f64,
    pub market_value: f64,
    /// Equity now minus equity at the previous close (the last valuation of the previous UTC day
    /// the server ran; on an account's first day, its first valuation).
    pub day_change: f64,
    pub day_change_pct: f64,
    pub unrealized_pnl: f64,
    /// When the valuation was made (the prices' time).
    #[serde(deserialize_with = "crate::timefmt::read::utc")]
    pub timestamp: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Positions {
    pub account_id: i64,
    pub positions: Vec<Position>,
    #[serde(deserialize_with = "crate::timefmt::read::utc")]
    pub timestamp: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Position {
    pub symbol: String,
    pub quantity: i64,
    pub entry_price: f64,
    pub current_price: f64,
    pub market_value: f64,
    /// Unrealised profit and loss in dollars (the seed's `pnl`).
    pub pnl: f64,
    pub pnl_pct: f64,
}
