//! What the server renders the dashboard with: every panel's current data, so the first HTML
//! already has numbers and the hydrating page starts from the very same values (no flash, no
//! refetch).

use crate::chart_view::ChartView;
use crate::cutover::Flags;
use crate::parity::BarsAnswer;
use crate::protocol::Envelope;
use serde::{Deserialize, Serialize};

/// The cookie that remembers the colour-blind-safe palette (`cb`), read by the server so the
/// first paint is already in the chosen colours.
pub const PALETTE_COOKIE: &str = "thor_palette";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Initial {
    /// The signed-in user may change flags (and sees the controls).
    pub operator: bool,
    /// The signed-in user has a paper account (operators have none): balance and positions.
    pub has_account: bool,
    /// The colour-blind-safe palette is chosen.
    pub colour_blind: bool,
    /// The chart's interval and zone, as the trader chose them.
    #[serde(default)]
    pub chart_view: ChartView,
    /// This session's ramp bucket (0 to 99).
    pub bucket: u8,
    /// The flags as the socket last carried them.
    pub flags: Option<Flags>,
    /// The latest `account_balance`, `positions` and `market_status` messages, envelopes and all
    /// (the very text the socket carried and REST answers).
    pub balance: Option<Envelope>,
    pub positions: Option<Envelope>,
    pub markets: Option<Envelope>,
    /// The latest `orders` message of the trader.
    #[serde(default)]
    pub orders: Option<Envelope>,
    /// The chart's symbol and its bars (the chart view's window), as REST answers them.
    pub bars: Option<BarsAnswer>,
    /// Every symbol the feed trades, in its order.
    pub symbols: Vec<String>,
    /// When the server rendered the page (ms since the Unix epoch): ages and countdowns on the
    /// first paint are measured from here.
    pub rendered_at_ms: i64,
}
