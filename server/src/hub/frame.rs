//! What the hub carries: a message serialised once, with its stream's numbering, and who may
//! see it.

use serde::Serialize;
use std::sync::Arc;
use thor_core::protocol::{ServerMessage, Topic};
use tungstenite::Utf8Bytes;

/// Who may receive a message: everyone, or only the connections signed in to one account.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize,
)]
pub enum Audience {
    Everyone,
    Account(i64),
}

impl Audience {
    /// Whether a connection signed in to `account` (or to none) may see this.
    pub fn admits(self, account: Option<i64>) -> bool {
        match self {
            Audience::Everyone => true,
            Audience::Account(id) => account == Some(id),
        }
    }
}

/// One message, serialised once, ready for every connection allowed to see it.
#[derive(Clone, Debug)]
pub struct Frame {
    pub topic: Topic,
    pub audience: Audience,
    /// The symbol, for per-symbol topics (bars, VWAP).
    pub key: Option<Arc<str>>,
    pub seq: u64,
    pub epoch: u64,
    /// When it was published, microseconds since the Unix epoch (for the lag metric).
    pub sent_us: i64,
    pub text: Utf8Bytes,
}

/// The symbol a message is about, for per-symbol topics.
pub(super) fn key_of(message: &ServerMessage) -> Option<Arc<str>> {
    match message {
        ServerMessage::IntradayBar(bar) | ServerMessage::FormingBar(bar) => {
            Some(Arc::from(bar.symbol.as_str()))
        }
        ServerMessage::Vwap(vwap) => Some(Arc::from(vwap.symbol.as_str())),
        _ => None,
    }
}
