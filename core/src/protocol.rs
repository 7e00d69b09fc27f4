//! The wire protocol: one envelope for every server message, typed payloads, and the messages a
//! page may send. The server, the REST handlers and the page all use these types, so the two
//! transports cannot drift apart.

use crate::map::Map;
use serde::{Deserialize, Serialize};

use crate::account::{AccountBalance, Positions};
use crate::cutover::Flags;
use crate::global_market::GlobalMarkets;
use crate::intraday::{IntradayBar, Vwap};
use crate::order::Orders;
use crate::symbol::Symbol;
pub use crate::topic::{Delivery, Topic};

mod read;

/// Every message the server sends: `{"type": …, "seq": …, "epoch": …, "ts": …, "data": …}`.
///
/// `seq` is per topic and grows by one per message; `epoch` changes whenever sequences restart
/// (a new server run), so a page that sees a new epoch knows its old sequence numbers mean
/// nothing. Messages addressed to one connection (`pong`, `error`) carry `seq` 0.
/// Read by hand (`read.rs`): a derived, flattened reader buffers every message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Envelope {
    #[serde(flatten)]
    pub message: ServerMessage,
    pub seq: u64,
    pub epoch: u64,
    /// Server send time, milliseconds since the Unix epoch.
    pub ts: i64,
    /// Closed bars only: the seq of the previous bar of the same symbol in this epoch. A page
    /// subscribed to some symbols receives gaps in `seq` by design; a `prev` it has not
    /// received is a lost bar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev: Option<u64>,
}

/// Written by serde (adjacently tagged, `{"type": …, "data": …}`), read by
/// [`ServerMessage::read`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum ServerMessage {
    /// The first message on every connection: which build of the page the server serves. A page
    /// of another build reloads itself at a quiet moment (`live::build`).
    Hello(Hello),
    Heartbeat(Heartbeat),
    AccountBalance(AccountBalance),
    Positions(Positions),
    IntradayBar(IntradayBar),
    /// The bar of the current minute so far; it closes as an `intraday_bar`.
    FormingBar(IntradayBar),
    Vwap(Vwap),
    MarketStatus(GlobalMarkets),
    Orders(Orders),
    /// Every feature's flag, at once whenever one changes (and in every snapshot).
    Cutover(Flags),
    /// A synthetic message at a fixed rate, for measuring delivery (off unless configured).
    Probe(Probe),
    Pong(Pong),
    /// The answer to a `resume`: what was replayed, and which topics got a snapshot instead.
    Resumed(Resumed),
    /// The answer to `subscribe` / `unsubscribe`: what this connection now receives.
    Subscribed(Subscription),
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
            ServerMessage::FormingBar(_) => Some(Topic::FormingBar),
            ServerMessage::Vwap(_) => Some(Topic::Vwap),
            ServerMessage::MarketStatus(_) => Some(Topic::MarketStatus),
            ServerMessage::Orders(_) => Some(Topic::Orders),
            ServerMessage::Cutover(_) => Some(Topic::Cutover),
            ServerMessage::Probe(_) => Some(Topic::Probe),
            ServerMessage::Hello(_)
            | ServerMessage::Pong(_)
            | ServerMessage::Resumed(_)
            | ServerMessage::Subscribed(_)
            | ServerMessage::Error(_) => None,
        }
    }
}

/// What the server says first on each connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    /// The build of the bundle the server's pages load (`crate::Build`); empty when it has no
    /// hashed bundle (a development build), which never asks a page to reload.
    pub build: String,
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
    pub topics: Option<Map<Topic, u64>>,
    /// Topics whose markets are all closed now (when trading follows exchange hours): quiet,
    /// not broken, so a page neither calls them stale nor falls back to REST for them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub closed: Vec<Topic>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    /// Counts up from 1 within a run of the probe.
    pub n: u64,
    /// When the server published it, microseconds since the Unix epoch (finer than `ts`).
    pub sent_us: i64,
}

/// Why a topic got a snapshot instead of a replay on `resume`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotReason {
    /// The server restarted (or the hub failed over): old sequence numbers mean nothing.
    NewEpoch,
    /// The messages after the client's seq are no longer in the server's replay buffer.
    BeyondBuffer,
    /// The client sent a seq the server never issued.
    AheadOfServer,
}

crate::word::read_as_word! {
    SnapshotReason { NewEpoch = "new_epoch", BeyondBuffer = "beyond_buffer", AheadOfServer = "ahead_of_server" }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resumed {
    /// The server's current epoch.
    pub epoch: u64,
    /// How many missed messages of each topic follow this reply.
    pub replayed: Map<Topic, u64>,
    /// Topics whose gap could not be replayed: the current state follows instead.
    pub snapshot: Map<Topic, SnapshotReason>,
}

/// What a connection receives: these topics, and for per-symbol topics these symbols.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    pub topics: Vec<Topic>,
    pub symbols: Vec<String>,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not JSON, or JSON of the wrong shape.
    BadFrame,
    /// A `type` the server does not know.
    UnknownType,
    /// Binary frames carry nothing in this protocol.
    BinaryFrame,
    /// A symbol the market feed does not trade.
    UnknownSymbol,
    /// More messages than the per-connection rate allows; this one was ignored.
    RateLimited,
}

crate::word::read_as_word! {
    ErrorCode { BadFrame = "bad_frame", UnknownType = "unknown_type", BinaryFrame = "binary_frame", UnknownSymbol = "unknown_symbol", RateLimited = "rate_limited" }
}

/// Messages a page sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    Ping {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        nonce: Option<u64>,
    },
    /// Adds topics and/or symbols; the current state of what is added follows at once.
    /// Omitted fields change nothing. A new connection starts subscribed to everything.
    Subscribe {
        #[serde(default)]
        topics: Vec<Topic>,
        #[serde(default)]
        symbols: Vec<Symbol>,
    },
    /// Removes topics and/or symbols.
    Unsubscribe {
        #[serde(default)]
        topics: Vec<Topic>,
        #[serde(default)]
        symbols: Vec<Symbol>,
    },
    /// "I have everything up to these seqs of `epoch`": the server sends what followed, in
    /// order, from its replay buffer, or the current state where it cannot (and says so in a
    /// `resumed` reply). The same can be asked at connect time: `/ws?epoch=E&since=topic:seq,…`.
    Resume { epoch: u64, seqs: Map<Topic, u64> },
}

/// Parses the `since` query parameter of `/ws` (`heartbeat:12,intraday_bar:40`).
pub fn parse_since(text: &str) -> Result<Map<Topic, u64>, String> {
    let mut seqs = Map::new();
    for part in text.split(',').filter(|p| !p.is_empty()) {
        let (name, seq) = part
            .split_once(':')
            .ok_or_else(|| format!("\"{part}\" is not topic:seq"))?;
        let topic = Topic::from_name(name).ok_or_else(|| format!("unknown topic \"{name}\""))?;
        let seq = seq
            .parse::<u64>()
            .map_err(|_| format!("\"{seq}\" is not a sequence number"))?;
        seqs.insert(topic, seq);
    }
    Ok(seqs)
}

/// The inverse of [`parse_since`].
pub fn format_since(seqs: &Map<Topic, u64>) -> String {
    seqs.iter()
        .map(|(topic, seq)| format!("{}:{seq}", topic.as_str()))
        .collect::<Vec<_>>()
        .join(",")
}

/// The body of every error answer of the REST API, `{"error": {"code": "…", "message": "…"}}`:
/// written by the server (`thor_server::error`), read by the page and by `thor cutover`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Stable and machine-readable (`bad_request`, `forbidden`, `conflict`, …).
    pub code: String,
    /// For people: what went wrong and, where it can, what to do.
    pub message: String,
}

impl ErrorBody {
    pub fn new(code: &str, message: String) -> Self {
        ErrorBody {
            error: ErrorDetail {
                code: code.to_string(),
                message,
            },
        }
    }

    /// The message of an error answer's `body`; `None` when it is not one (an HTML page from a
    /// proxy, an empty body).
    pub fn message_of(body: &str) -> Option<String> {
        serde_json::from_str::<ErrorBody>(body)
            .ok()
            .map(|b| b.error.message)
    }
}

/// WebSocket close codes the server uses, and what a page should do about them.
pub mod close_code {
    /// The server is shutting down or restarting: reconnect (with jitter).
    pub const SERVICE_RESTART: u16 = 1012;
    /// The server is at its connection limit: reconnect later.
    pub const TRY_AGAIN_LATER: u16 = 1013;
    /// A frame was larger than the server accepts.
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// The client broke the WebSocket protocol (reserved bits, an unmasked frame, …).
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// A text frame was not valid UTF-8.
    pub const INVALID_DATA: u16 = 1007;
    /// The session ended (signed out, password changed, expired): sign in again.
    pub const SESSION_ENDED: u16 = 4001;
    /// The client kept sending faster than the rate limit after being warned.
    pub const POLICY_VIOLATION: u16 = 1008;
    /// The client fell so far behind that its queue filled: reconnect and `resume`.
    pub const TOO_SLOW: u16 = 4008;
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
    const KNOWN: [&str; 4] = ["ping", "subscribe", "unsubscribe", "resume"];
    serde_json::from_value(value).map_err(|e| {
        if !KNOWN.contains(&kind.as_str()) {
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
    fn each_topic_name_is_its_serde_name() {
        for topic in Topic::ALL {
            let json = serde_json::to_string(&topic).expect("serialises");
            assert_eq!(json, format!("\"{}\"", topic.as_str()));
            assert_eq!(Topic::from_name(topic.as_str()), Some(topic));
        }
    }

    #[test]
    fn envelope_has_the_documented_shape() {
        let envelope = Envelope {
            message: ServerMessage::Heartbeat(Heartbeat {
                tick: 7,
                uptime_s: 6,
                connections: 2,
                active_jobs: None,
                topics: None,
                closed: Vec::new(),
            }),
            seq: 7,
            epoch: 3,
            ts: 1_700_000_000_000,
            prev: None,
        };
        let json: serde_json::Value = serde_json::to_value(&envelope).expect("envelope serialises");
        assert_eq!(json["type"], "heartbeat");
        assert_eq!(json["seq"], 7);
        assert_eq!(json["epoch"], 3);
        assert_eq!(json["ts"], 1_700_000_000_000_i64);
        assert_eq!(json["data"]["tick"], 7);
        assert!(json["data"].get("active_jobs").is_none());
        let back: Envelope = serde_json::from_str(&json.to_string()).expect("envelope parses back");
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
        assert_eq!(
            parse_client_message(r#"{"type":"subscribe","symbols":["AAPL"]}"#),
            Ok(ClientMessage::Subscribe {
                topics: vec![],
                symbols: vec![Symbol::parse("AAPL").expect("a ticker")]
            })
        );
        assert_eq!(
            parse_client_message(r#"{"type":"unsubscribe","topics":["no_such_topic"]}"#)
                .map_err(|e| e.code),
            Err(ErrorCode::BadFrame)
        );
        assert_eq!(
            parse_client_message(r#"{"type":"resume","epoch":3,"seqs":{"intraday_bar":9}}"#),
            Ok(ClientMessage::Resume {
                epoch: 3,
                seqs: Map::from([(Topic::IntradayBar, 9)])
            })
        );
    }

    #[test]
    fn since_round_trips_and_refuses_nonsense() {
        let seqs = Map::from([(Topic::Heartbeat, 12), (Topic::IntradayBar, 40)]);
        assert_eq!(format_since(&seqs), "heartbeat:12,intraday_bar:40");
        assert_eq!(parse_since(&format_since(&seqs)), Ok(seqs));
        assert_eq!(parse_since(""), Ok(Map::new()));
        assert!(parse_since("heartbeat").is_err());
        assert!(parse_since("nope:1").is_err());
        assert!(parse_since("heartbeat:-1").is_err());
    }

    #[test]
    fn topic_names_and_indices_agree() {
        for (i, topic) in Topic::ALL.into_iter().enumerate() {
            assert_eq!(topic.index(), i);
            assert_eq!(Topic::from_name(topic.as_str()), Some(topic));
            let json = serde_json::to_string(&topic).expect("topic serialises");
            assert_eq!(json, format!("\"{}\"", topic.as_str()));
        }
    }
}
