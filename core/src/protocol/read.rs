//! Reading an [`Envelope`] without serde's buffered `flatten`.
//!
//! Derived, `#[serde(flatten)]` over the adjacently tagged [`ServerMessage`] buffers every
//! message into serde's `Content` tree and instantiates every payload's deserialiser a second
//! time over it: about 75 KB of the page's WebAssembly (twiggy, 2026-12-05). Here the envelope's
//! fields are read directly, `data` is kept as raw JSON, and the payload is parsed once its `type`
//! is known, whatever the order of the fields. The wire shape is the derived `Serialize`'s; the
//! round trip of every variant is tested below.

use serde::de::{Deserializer, Error as _};
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::value::RawValue;

use super::{Envelope, ServerMessage};

/// The envelope as it travels, its payload not yet parsed.
#[derive(Deserialize)]
struct Wire {
    #[serde(rename = "type")]
    kind: String,
    data: Box<RawValue>,
    seq: u64,
    epoch: u64,
    ts: i64,
    #[serde(default)]
    prev: Option<u64>,
}

impl<'de> Deserialize<'de> for Envelope {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = Wire::deserialize(deserializer)?;
        let message = ServerMessage::read(&wire.kind, wire.data.get()).map_err(D::Error::custom)?;
        Ok(Envelope {
            message,
            seq: wire.seq,
            epoch: wire.epoch,
            ts: wire.ts,
            prev: wire.prev,
        })
    }
}

impl ServerMessage {
    /// The message of type `kind` (its serde name) whose payload is the JSON `data`.
    pub fn read(kind: &str, data: &str) -> Result<ServerMessage, String> {
        fn parse<T: DeserializeOwned>(kind: &str, data: &str) -> Result<T, String> {
            serde_json::from_str(data).map_err(|e| format!("the data of a {kind} message: {e}"))
        }
        use ServerMessage as M;
        Ok(match kind {
            "hello" => M::Hello(parse(kind, data)?),
            "heartbeat" => M::Heartbeat(parse(kind, data)?),
            "account_balance" => M::AccountBalance(parse(kind, data)?),
            "positions" => M::Positions(parse(kind, data)?),
            "intraday_bar" => M::IntradayBar(parse(kind, data)?),
            "forming_bar" => M::FormingBar(parse(kind, data)?),
            "vwap" => M::Vwap(parse(kind, data)?),
            "market_status" => M::MarketStatus(parse(kind, data)?),
            "orders" => M::Orders(parse(kind, data)?),
            "cutover" => M::Cutover(parse(kind, data)?),
            "probe" => M::Probe(parse(kind, data)?),
            "pong" => M::Pong(parse(kind, data)?),
            "resumed" => M::Resumed(parse(kind, data)?),
            "subscribed" => M::Subscribed(parse(kind, data)?),
            "error" => M::Error(parse(kind, data)?),
            other => return Err(format!("unknown message type \"{other}\"")),
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::account::{AccountBalance, Position, Positions};
    use crate::cutover::{Flag, Flags, Stage};
    use crate::feature::Feature;
    use crate::global_market::GlobalMarkets;
    use crate::intraday::{IntradayBar, Vwap};
    use crate::map::Map;
    use crate::order::{Order, OrderStatus, OrderType, Orders, Side, TimeInForce};
    use crate::protocol::*;
    use chrono::{DateTime, TimeZone, Utc};

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 5, 14, 31, 0)
            .single()
            .unwrap_or_default()
    }

    fn bar() -> IntradayBar {
        IntradayBar {
            symbol: "AAPL".into(),
            country: "USA".into(),
            timestamp_minute: at(),
            open: 190.25,
            high: 190.75,
            low: 189.5,
            close: 190.0,
            volume: 1_200,
            vwap: 190.1,
            trades: 42,
        }
    }

    /// One message of every variant (the match below fails to compile when one is added).
    fn every_message() -> Vec<ServerMessage> {
        let order = Order {
            id: 7,
            client_order_id: "c-7".into(),
            symbol: "AAPL".into(),
            side: Side::Buy,
            quantity: 10,
            order_type: OrderType::Limit,
            limit_price: Some(189.0),
            time_in_force: TimeInForce::Day,
            status: OrderStatus::Filled,
            placed_at: at(),
            fill_price: Some(188.95),
            ended_at: Some(at()),
            reason: None,
        };
        let messages = vec![
            ServerMessage::Hello(Hello {
                build: "a.b.c".into(),
            }),
            ServerMessage::Heartbeat(Heartbeat {
                tick: 3,
                uptime_s: 2,
                connections: 1,
                active_jobs: Some(vec!["balance".into()]),
                topics: Some(Map::from([(Topic::Heartbeat, 3)])),
                closed: vec![Topic::IntradayBar],
            }),
            ServerMessage::AccountBalance(AccountBalance {
                account_id: 1,
                account_number: "DEMO-1".into(),
                cash: 100_000.5,
                buying_power: 99_000.0,
                equity: 101_000.25,
                market_value: 1_000.0,
                day_change: -12.5,
                day_change_pct: -0.01,
                unrealized_pnl: 3.25,
                timestamp: at(),
            }),
            ServerMessage::Positions(Positions {
                account_id: 1,
                positions: vec![Position {
                    symbol: "AAPL".into(),
                    quantity: 10,
                    entry_price: 188.95,
                    current_price: 190.0,
                    market_value: 1_900.0,
                    pnl: 10.5,
                    pnl_pct: 0.55,
                }],
                timestamp: at(),
            }),
            ServerMessage::IntradayBar(bar()),
            ServerMessage::FormingBar(bar()),
            ServerMessage::Vwap(Vwap {
                symbol: "AAPL".into(),
                as_of: at(),
                session_vwap: 190.05,
                session_volume: 5_000,
            }),
            ServerMessage::MarketStatus(GlobalMarkets::example()),
            ServerMessage::Orders(Orders {
                account_id: 1,
                open: vec![],
                finished: vec![order],
                timestamp: at(),
            }),
            ServerMessage::Cutover(Flags {
                version: 4,
                features: Map::from([(
                    Feature::Positions,
                    Flag {
                        stage: Stage::Live,
                        ramp: 50,
                    },
                )]),
            }),
            ServerMessage::Probe(Probe { n: 1, sent_us: 5 }),
            ServerMessage::Pong(Pong { nonce: Some(9) }),
            ServerMessage::Resumed(Resumed {
                epoch: 2,
                replayed: Map::from([(Topic::Heartbeat, 4)]),
                snapshot: Map::from([(Topic::Positions, SnapshotReason::BeyondBuffer)]),
            }),
            ServerMessage::Subscribed(Subscription {
                topics: vec![Topic::Heartbeat],
                symbols: vec!["AAPL".into()],
            }),
            ServerMessage::Error(ProtocolError {
                code: ErrorCode::RateLimited,
                message: "slow down".into(),
            }),
        ];
        for message in &messages {
            match message {
                ServerMessage::Hello(_)
                | ServerMessage::Heartbeat(_)
                | ServerMessage::AccountBalance(_)
                | ServerMessage::Positions(_)
                | ServerMessage::IntradayBar(_)
                | ServerMessage::FormingBar(_)
                | ServerMessage::Vwap(_)
                | ServerMessage::MarketStatus(_)
                | ServerMessage::Orders(_)
                | ServerMessage::Cutover(_)
                | ServerMessage::Probe(_)
                | ServerMessage::Pong(_)
                | ServerMessage::Resumed(_)
                | ServerMessage::Subscribed(_)
                | ServerMessage::Error(_) => {}
            }
        }
        messages
    }

    #[test]
    fn every_message_reads_back_as_it_was_written() {
        let messages = every_message();
        assert_eq!(messages.len(), 15, "one of each variant");
        for (i, message) in messages.into_iter().enumerate() {
            let envelope = Envelope {
                message,
                seq: i as u64 + 1,
                epoch: 3,
                ts: 1_764_945_060_000,
                prev: (i % 2 == 0).then_some(i as u64),
            };
            let json = serde_json::to_string(&envelope).expect("serialises");
            let back: Envelope = serde_json::from_str(&json)
                .unwrap_or_else(|e| panic!("{json} does not read back: {e}"));
            assert_eq!(back, envelope, "{json}");
        }
    }

    #[test]
    fn the_fields_may_come_in_any_order() {
        let json = r#"{"data":{"build":"x"},"ts":5,"seq":1,"epoch":2,"type":"hello"}"#;
        let envelope: Envelope = serde_json::from_str(json).expect("reads");
        assert_eq!(
            envelope.message,
            ServerMessage::Hello(Hello { build: "x".into() })
        );
        assert_eq!(
            (envelope.seq, envelope.epoch, envelope.ts, envelope.prev),
            (1, 2, 5, None)
        );
    }

    #[test]
    fn a_wrong_message_is_refused_with_its_reason() {
        let unknown = r#"{"type":"launch","data":{},"seq":1,"epoch":1,"ts":1}"#;
        let error = serde_json::from_str::<Envelope>(unknown)
            .err()
            .map(|e| e.to_string());
        assert!(error.is_some_and(|e| e.contains("unknown message type \"launch\"")));
        let wrong_data = r#"{"type":"probe","data":{"n":"one"},"seq":1,"epoch":1,"ts":1}"#;
        let error = serde_json::from_str::<Envelope>(wrong_data)
            .err()
            .map(|e| e.to_string());
        assert!(error.is_some_and(|e| e.contains("the data of a probe message")));
        let no_seq = r#"{"type":"pong","data":{}}"#;
        assert!(serde_json::from_str::<Envelope>(no_seq).is_err());
    }
}
