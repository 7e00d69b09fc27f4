//! The wire protocol: one envelope for every server message, typed payloads, and the messages a
//! page may send. The server, the REST handlers and the page all use these types, so the two
//! transports cannot drift apart.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::account::{AccountBalance, Positions};
use crate::intraday::{IntradayBar, Vwap};
use crate::markets::GlobalMarkets;

/// A stream of messages with its own sequence numbers. State topics (balance, positions,
/// market status) are worth only their latest value; bars are a stream; heartbeats may drop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Topic {
    Heartbeat,
    AccountBalance,
    Positions,
    IntradayBar,
    Vwap,
    MarketStatus,
}

impl Topic {
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Heartbeat => "heartbeat",
            Topic::AccountBalance => "account_balance",
            Topic::Positions => "positions",
            Topic::IntradayBar => "intraday_bar",
            Topic::Vwap => "vwap",
            Topic::MarketStatus => "market_status",
        }
    }
}

/// Every message the server sends: `{"type": …, "seq": …, "epoch": …, "ts": …, "data": …}`.
///
/// `seq` is per topic and grows by one per message; `epoch` changes whenever sequences restart
/// (a new server run), so a page that sees a new epoch knows its old sequence numbers mean
/// nothing. Messages addressed to one connection (`pong`, `error`) carry `seq` 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    #[serde(flatten)]
    pub message: ServerMessage,
    pub seq: u64,
    pub epoch: u64,
    /// Server send time, milliseconds since the Unix epoch.
    pub ts: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum ServerMessage {
    Heartbeat(Heartbeat),
    AccountBalance(AccountBalance),
    Positions(Positions),
    IntradayBar(IntradayBar),
    Vwap(Vwap),
    MarketStatus(GlobalMarkets),
    Pong(Pong),
    Error(ProtocolError),
}

impl ServerMessage {
    /// The topic a broadcast message belongs to; `None` for per-connection replies.
    pub fn topic(&self) -> Option<Topic> {
        match self {
            ServerMessage::Heartbeat(_) => Some(Topic::Heartbeat),
            ServerMessage::AccountBalance(_) => Some(Topic::AccountBalance),
            ServerMessage::Positions(_) => Some(Topic::Positions),
            ServerMessage::IntradayBar(_) => Some(Topic::IntradayBar),
            ServerMessage::Vwap(_) => Some(Topic::Vwap),
            ServerMessage::MarketStatus(_) => Some(Topic::MarketStatus),
            ServerMessage::Pong(_) | ServerMessage::Error(_) => None,
        }
    }
}

/// The server's pulse, once per heartbeat tick (1 s by default). Every `report_every` ticks it
/// also carries the active jobs and the latest sequence number of every topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    pub tick: u64,
    pub uptime_s: u64,
    pub connections: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_jobs: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topics: Option<BTreeMap<Topic, u64>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pong {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<u64>,
}

/// Why the server refused something a page sent. The connection stays open unless the close
/// frame that follows says otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProtocolError {
    pub code: ErrorCode,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not JSON, or JSON of the wrong shape.
    BadFrame,
    /// A `type` the server does not know.
    UnknownType,
    /// Binary frames carry nothing in this protocol.
    BinaryFrame,
}

/// Messages a page sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    Ping {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        nonce: Option<u64>,
    },
}

/// WebSocket close codes the server uses, and what a page should do about them.
pub mod close_code {
    /// The server is shutting down or restarting: reconnect (with jitter).
    pub const SERVICE_RESTART: u16 = 1012;
    /// The server is at its connection limit: reconnect later.
    pub const TRY_AGAIN_LATER: u16 = 1013;
    /// A frame was larger than the server accepts.
    pub const MESSAGE_TOO_BIG: u16 = 1009;
}

/// Why a client message was refused, worded for the `error` reply.
pub fn parse_client_message(text: &str) -> Result<ClientMessage, ProtocolError> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| ProtocolError {
        code: ErrorCode::BadFrame,
        message: format!("frame is not valid JSON: {e}"),
    })?;
    let kind = value
        .get("type")
        .and_then(|t| t.as_str())
        .ok_or_else(|| ProtocolError {
            code: ErrorCode::BadFrame,
            message: "frame has no string \"type\" field".to_string(),
        })?
        .to_string();
    serde_json::from_value(value).map_err(|e| {
        if e.to_string().starts_with("unknown variant") {
            ProtocolError {
                code: ErrorCode::UnknownType,
                message: format!("unknown message type \"{kind}\""),
            }
        } else {
            ProtocolError {
                code: ErrorCode::BadFrame,
                message: format!("bad \"{kind}\" message: {e}"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_has_the_documented_shape() {
        let envelope = Envelope {
            message: ServerMessage::Heartbeat(Heartbeat {
                tick: 7,
                uptime_s: 6,
                connections: 2,
                active_jobs: None,
                topics: None,
            }),
            seq: 7,
            epoch: 3,
            ts: 1_700_000_000_000,
        };
        let json: serde_json::Value = serde_json::to_value(&envelope).expect("envelope serialises");
        assert_eq!(json["type"], "heartbeat");
        assert_eq!(json["seq"], 7);
        assert_eq!(json["epoch"], 3);
        assert_eq!(json["ts"], 1_700_000_000_000_i64);
        assert_eq!(json["data"]["tick"], 7);
        assert!(json["data"].get("active_jobs").is_none());
        let back: Envelope = serde_json::from_value(json).expect("envelope parses back");
        assert_eq!(back, envelope);
    }

    #[test]
    fn client_messages_are_parsed_or_refused_with_a_reason() {
        assert_eq!(
            parse_client_message(r#"{"type":"ping","nonce":4}"#),
            Ok(ClientMessage::Ping { nonce: Some(4) })
        );
        assert_eq!(
            parse_client_message("not json").map_err(|e| e.code),
            Err(ErrorCode::BadFrame)
        );
        assert_eq!(
            parse_client_message(r#"{"nonce":4}"#).map_err(|e| e.code),
            Err(ErrorCode::BadFrame)
        );
        let unknown = parse_client_message(r#"{"type":"launch_rockets"}"#);
        assert_eq!(
            unknown.as_ref().map_err(|e| e.code),
            Err(ErrorCode::UnknownType)
        );
        assert!(
            unknown
                .err()
                .is_some_and(|e| e.message.contains("launch_rockets"))
        );
        assert_eq!(
            parse_client_message(r#"{"type":"ping","nonce":"four"}"#).map_err(|e| e.code),
            Err(ErrorCode::BadFrame)
        );
    }
}
