//! The hub's topics and how each is delivered: the bottom of the crate, which every other
//! module may use (a feature names its topics, the protocol its messages' topics).

use serde::Serialize;

/// A stream of messages with its own sequence numbers. State topics (balance, positions,
/// market status) are worth only their latest value; bars are a stream; heartbeats may drop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Topic {
    Heartbeat,
    AccountBalance,
    Positions,
    IntradayBar,
    /// The 1-minute bar still forming, per symbol, every second (state: only the newest counts).
    FormingBar,
    Vwap,
    MarketStatus,
    /// One account's open orders and today's finished ones (state: only the newest counts).
    Orders,
    Cutover,
    Probe,
}

crate::word::read_as_word! {
    Topic { Heartbeat = "heartbeat", AccountBalance = "account_balance", Positions = "positions", IntradayBar = "intraday_bar", FormingBar = "forming_bar", Vwap = "vwap", MarketStatus = "market_status", Orders = "orders", Cutover = "cutover", Probe = "probe" }
}

/// How the hub treats a topic's messages for a client that falls behind or reconnects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Only the newest message (per symbol, where the topic has one) matters: a slow client's
    /// queued message is replaced by the newer one, and a resuming client gets the latest.
    Latest,
    /// Every message matters: queued in order, kept in a replay buffer for resuming clients.
    Replay,
    /// Worth something only when fresh: a slow client keeps just the newest one queued, and a
    /// resuming client gets nothing old.
    Droppable,
}

impl Topic {
    pub const ALL: [Topic; 10] = [
        Topic::Heartbeat,
        Topic::AccountBalance,
        Topic::Positions,
        Topic::IntradayBar,
        Topic::FormingBar,
        Topic::Vwap,
        Topic::MarketStatus,
        Topic::Orders,
        Topic::Cutover,
        Topic::Probe,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Heartbeat => "heartbeat",
            Topic::AccountBalance => "account_balance",
            Topic::Positions => "positions",
            Topic::IntradayBar => "intraday_bar",
            Topic::FormingBar => "forming_bar",
            Topic::Vwap => "vwap",
            Topic::MarketStatus => "market_status",
            Topic::Orders => "orders",
            Topic::Cutover => "cutover",
            Topic::Probe => "probe",
        }
    }

    pub fn from_name(name: &str) -> Option<Topic> {
        Topic::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// A small dense index, for per-topic counters and bit sets.
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn delivery(self) -> Delivery {
        match self {
            Topic::Heartbeat => Delivery::Droppable,
            Topic::IntradayBar | Topic::Probe => Delivery::Replay,
            Topic::AccountBalance
            | Topic::Positions
            | Topic::FormingBar
            | Topic::Vwap
            | Topic::MarketStatus
            | Topic::Orders
            | Topic::Cutover => Delivery::Latest,
        }
    }

    /// Whether subscriptions to this topic can be narrowed to some symbols.
    pub fn per_symbol(self) -> bool {
        matches!(self, Topic::IntradayBar | Topic::FormingBar | Topic::Vwap)
    }
}
