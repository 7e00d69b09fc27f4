//! Paper orders: what a trader asks for ([`OrderRequest`], checked whole as it is read, by the
//! server's `POST /api/orders` and the page's ticket alike) and what the desk reports of them
//! ([`Order`], and [`Orders`]: one account's open orders and today's finished ones, the
//! `orders` feature's payload). Money on the wire is dollars rounded to cents, as elsewhere; the
//! desk keeps cents.

use crate::symbol::Symbol;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Buy,
    Sell,
}

crate::word::read_as_word! {
    Side { Buy = "buy", Sell = "sell" }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderType {
    /// Filled on the symbol's next trade, at its price.
    Market,
    /// Filled on the first trade at the limit price or better, at that trade's price.
    Limit,
}

crate::word::read_as_word! {
    OrderType { Market = "market", Limit = "limit" }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeInForce {
    /// Good for one session: the symbol's next (or current) session; it expires at its close
    /// (around the clock, at the end of the UTC day).
    #[default]
    Day,
    /// Good till cancelled.
    Gtc,
}

crate::word::read_as_word! {
    TimeInForce { Day = "day", Gtc = "gtc" }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderStatus {
    Open,
    Filled,
    Cancelled,
    Expired,
    /// Could not be filled when its price came (a market buy whose price rose past what it held).
    Rejected,
}

crate::word::read_as_word! {
    OrderStatus { Open = "open", Filled = "filled", Cancelled = "cancelled", Expired = "expired", Rejected = "rejected" }
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "buy",
            Side::Sell => "sell",
        }
    }
}

impl OrderType {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderType::Market => "market",
            OrderType::Limit => "limit",
        }
    }
}

impl TimeInForce {
    pub fn as_str(self) -> &'static str {
        match self {
            TimeInForce::Day => "day",
            TimeInForce::Gtc => "gtc",
        }
    }
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Open => "open",
            OrderStatus::Filled => "filled",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Expired => "expired",
            OrderStatus::Rejected => "rejected",
        }
    }
}

/// Parses the stored or written word back (`buy`, `gtc`, `filled`, …), by the same table the
/// wire's reader uses (`WORDS`, from `read_as_word!`).
macro_rules! parse_words {
    ($($ty:ty),+ $(,)?) => {$(
        impl std::str::FromStr for $ty {
            type Err = String;

            fn from_str(text: &str) -> Result<Self, String> {
                crate::word::parse(<$ty>::WORDS, text)
            }
        }
    )+};
}

parse_words! { Side, OrderType, TimeInForce, OrderStatus }

/// A market buy holds its quantity at the last price plus this percentage, so a price that moves
/// before the next trade still fills; at the fill it pays the trade's price.
pub const MARKET_BUY_HOLD_PERCENT: i64 = 2;

/// What a market buy holds per share at a last price of `last_cents` (rounded up to a cent).
pub fn market_buy_hold_cents(last_cents: i64) -> i64 {
    last_cents + (last_cents * MARKET_BUY_HOLD_PERCENT + 99) / 100
}

/// The largest quantity one order may ask for.
pub const MAX_QUANTITY: i64 = 1_000_000;
/// The highest limit price accepted, in dollars.
pub const MAX_PRICE: f64 = 1_000_000.0;
/// The longest idempotency key.
pub const MAX_CLIENT_ORDER_ID: usize = 64;

/// An order as the trader asked for it, checked: a ticker, a whole quantity of 1 to
/// [`MAX_QUANTITY`], a limit price in whole cents exactly when the type is `limit`, and an
/// idempotency key (`client_order_id`) of 1 to [`MAX_CLIENT_ORDER_ID`] letters, digits, `-`,
/// `_`, `.` or `:`. Whether the symbol is traded, and whether the account can pay, are the
/// desk's to say.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "OrderBody", into = "OrderBody")]
pub struct OrderRequest {
    symbol: Symbol,
    side: Side,
    quantity: i64,
    order_type: OrderType,
    limit_price_cents: Option<i64>,
    time_in_force: TimeInForce,
    client_order_id: String,
}

/// The request body as written: numbers as JSON numbers (a quantity of `1.5` or a price of
/// `10.005` must reach the checks, not fail as a type error).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OrderBody {
    symbol: String,
    side: Side,
    quantity: f64,
    #[serde(rename = "type")]
    order_type: OrderType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    limit_price: Option<f64>,
    #[serde(default)]
    time_in_force: TimeInForce,
    client_order_id: String,
}

/// Why an order request is refused at the edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidOrder(pub String);

impl fmt::Display for InvalidOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidOrder {}

/// Dollars as whole cents, if they are a whole number of cents.
pub fn whole_cents(dollars: f64) -> Option<i64> {
    let cents = dollars * 100.0;
    let rounded = cents.round();
    ((cents - rounded).abs() < 1e-6 && rounded.is_finite()).then_some(rounded as i64)
}

impl OrderRequest {
    /// Checks an order; the same rules as reading one from JSON.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        symbol: &str,
        side: Side,
        quantity: f64,
        order_type: OrderType,
        limit_price: Option<f64>,
        time_in_force: TimeInForce,
        client_order_id: &str,
    ) -> Result<Self, InvalidOrder> {
        let bad = |why: String| Err(InvalidOrder(why));
        let symbol = Symbol::parse(symbol).map_err(|e| InvalidOrder(e.to_string()))?;
        if !(quantity.is_finite() && quantity.fract() == 0.0) {
            return bad(format!(
                "quantity {quantity} is not a whole number of shares"
            ));
        }
        if !(1.0..=MAX_QUANTITY as f64).contains(&quantity) {
            return bad(format!(
                "quantity {quantity} is out of range: 1 to {MAX_QUANTITY} shares"
            ));
        }
        let limit_price_cents = match (order_type, limit_price) {
            (OrderType::Market, None) => None,
            (OrderType::Market, Some(_)) => {
                return bad("a market order takes no limit_price".into());
            }
            (OrderType::Limit, None) => return bad("a limit order needs a limit_price".into()),
            (OrderType::Limit, Some(price)) => {
                if !(price.is_finite() && price > 0.0 && price <= MAX_PRICE) {
                    return bad(format!(
                        "limit_price {price} is out of range: above 0 and at most {MAX_PRICE}"
                    ));
                }
                match whole_cents(price) {
                    Some(cents) if cents > 0 => Some(cents),
                    _ => {
                        return bad(format!(
                            "limit_price {price} is not a whole number of cents"
                        ));
                    }
                }
            }
        };
        let key = client_order_id.trim();
        let key_ok = !key.is_empty()
            && key.len() <= MAX_CLIENT_ORDER_ID
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
        if !key_ok {
            return bad(format!(
                "client_order_id must be 1 to {MAX_CLIENT_ORDER_ID} letters, digits, '-', '_', \
                 '.' or ':' (it makes a retried order one order)"
            ));
        }
        Ok(OrderRequest {
            symbol,
            side,
            quantity: quantity as i64,
            order_type,
            limit_price_cents,
            time_in_force,
            client_order_id: key.to_string(),
        })
    }

    pub fn symbol(&self) -> &Symbol {
        &self.symbol
    }
    pub fn side(&self) -> Side {
        self.side
    }
    pub fn quantity(&self) -> i64 {
        self.quantity
    }
    pub fn order_type(&self) -> OrderType {
        self.order_type
    }
    pub fn limit_price_cents(&self) -> Option<i64> {
        self.limit_price_cents
    }
    pub fn time_in_force(&self) -> TimeInForce {
        self.time_in_force
    }
    pub fn client_order_id(&self) -> &str {
        &self.client_order_id
    }
}

impl TryFrom<OrderBody> for OrderRequest {
    type Error = InvalidOrder;

    fn try_from(body: OrderBody) -> Result<Self, InvalidOrder> {
        OrderRequest::new(
            &body.symbol,
            body.side,
            body.quantity,
            body.order_type,
            body.limit_price,
            body.time_in_force,
            &body.client_order_id,
        )
    }
}

impl From<OrderRequest> for OrderBody {
    fn from(order: OrderRequest) -> Self {
        OrderBody {
            symbol: order.symbol.as_str().to_string(),
            side: order.side,
            quantity: order.quantity as f64,
            order_type: order.order_type,
            limit_price: order.limit_price_cents.map(|c| c as f64 / 100.0),
            time_in_force: order.time_in_force,
            client_order_id: order.client_order_id,
        }
    }
}

/// One order as the desk reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub id: i64,
    pub client_order_id: String,
    pub symbol: String,
    pub side: Side,
    pub quantity: i64,
    #[serde(rename = "type")]
    pub order_type: OrderType,
    pub limit_price: Option<f64>,
    pub time_in_force: TimeInForce,
    pub status: OrderStatus,
    #[serde(deserialize_with = "crate::timefmt::read::utc")]
    pub placed_at: DateTime<Utc>,
    /// The price it filled at.
    pub fill_price: Option<f64>,
    /// When it was filled, cancelled, expired or rejected.
    #[serde(default, deserialize_with = "crate::timefmt::read::utc_opt")]
    pub ended_at: Option<DateTime<Utc>>,
    /// Why it expired or was rejected.
    pub reason: Option<String>,
}

/// One account's orders: those still open (oldest first) and those finished today (UTC),
/// newest first: the `orders` feature's payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Orders {
    pub account_id: i64,
    pub open: Vec<Order>,
    pub finished: Vec<Order>,
    #[serde(deserialize_with = "crate::timefmt::read::utc")]
    pub timestamp: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<OrderRequest, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn a_well_formed_order_reads_whole_and_round_trips() {
        let order = parse(
            r#"{"symbol":" aapl ","side":"buy","quantity":10,"type":"limit","limit_price":226.19,
                "time_in_force":"gtc","client_order_id":"tkt-1"}"#,
        )
        .expect("valid");
        assert_eq!(order.symbol().as_str(), "AAPL");
        assert_eq!(order.quantity(), 10);
        assert_eq!(order.limit_price_cents(), Some(22_619));
        assert_eq!(order.time_in_force(), TimeInForce::Gtc);
        let again = parse(&serde_json::to_string(&order).expect("writes")).expect("reads back");
        assert_eq!(again, order);
        let market = parse(
            r#"{"symbol":"SPY","side":"sell","quantity":1,"type":"market","client_order_id":"a"}"#,
        )
        .expect("valid");
        assert_eq!(market.time_in_force(), TimeInForce::Day, "day by default");
        assert_eq!(market.limit_price_cents(), None);
    }

    #[test]
    fn each_rule_refuses_with_its_own_words() {
        let cases = [
            (r#""quantity":1.5"#, "whole number of shares"),
            (r#""quantity":0"#, "1 to 1000000"),
            (r#""quantity":-3"#, "1 to 1000000"),
            (r#""quantity":1e9"#, "1 to 1000000"),
        ];
        for (quantity, words) in cases {
            let json = format!(
                r#"{{"symbol":"SPY","side":"buy",{quantity},"type":"market","client_order_id":"k"}}"#
            );
            let error = parse(&json).expect_err(quantity);
            assert!(error.contains(words), "{quantity}: {error}");
        }
        let limit = |price: &str| {
            parse(&format!(
                r#"{{"symbol":"SPY","side":"buy","quantity":1,"type":"limit"{price},"client_order_id":"k"}}"#
            ))
        };
        assert!(
            limit("")
                .expect_err("no price")
                .contains("needs a limit_price")
        );
        let cases = [
            (r#","limit_price":10.005"#, "whole number of cents"),
            (r#","limit_price":0"#, "out of range"),
            (r#","limit_price":-1"#, "out of range"),
            (r#","limit_price":2000000"#, "out of range"),
        ];
        for (price, words) in cases {
            let error = limit(price).expect_err(price);
            assert!(error.contains(words), "{price}: {error}");
        }
        let market_with_price = parse(
            r#"{"symbol":"SPY","side":"buy","quantity":1,"type":"market","limit_price":5,"client_order_id":"k"}"#,
        );
        assert!(
            market_with_price
                .expect_err("market with a price")
                .contains("takes no limit_price")
        );
        for key in ["", "   ", "has space", "ünï", &"k".repeat(65)] {
            let json = format!(
                r#"{{"symbol":"SPY","side":"buy","quantity":1,"type":"market","client_order_id":{key:?}}}"#
            );
            assert!(
                parse(&json).expect_err(key).contains("client_order_id"),
                "{key:?}"
            );
        }
        let bad_symbol = parse(
            r#"{"symbol":"NOT A TICKER","side":"buy","quantity":1,"type":"market","client_order_id":"k"}"#,
        );
        assert!(bad_symbol.expect_err("symbol").contains("not a ticker"));
        let unknown_field = parse(
            r#"{"symbol":"SPY","side":"buy","quantity":1,"type":"market","client_order_id":"k","price":5}"#,
        );
        assert!(unknown_field.expect_err("field").contains("unknown field"));
        let bad_side = parse(
            r#"{"symbol":"SPY","side":"short","quantity":1,"type":"market","client_order_id":"k"}"#,
        );
        assert!(bad_side.expect_err("side").contains("unknown variant"));
    }

    #[test]
    fn stored_words_parse_back() {
        for status in [
            OrderStatus::Open,
            OrderStatus::Filled,
            OrderStatus::Cancelled,
            OrderStatus::Expired,
            OrderStatus::Rejected,
        ] {
            assert_eq!(status.as_str().parse::<OrderStatus>(), Ok(status));
        }
        assert_eq!("gtc".parse::<TimeInForce>(), Ok(TimeInForce::Gtc));
        assert!("GTC".parse::<TimeInForce>().is_err());
        assert_eq!(whole_cents(226.19), Some(22_619));
        assert_eq!(whole_cents(0.1 + 0.2), Some(30));
        assert_eq!(whole_cents(10.005), None);
        // 2 % over the last price, rounded up to a cent: what the server holds, and what the
        // ticket's confirmation says it holds.
        assert_eq!(market_buy_hold_cents(22_619), 23_072);
        assert_eq!(market_buy_hold_cents(100), 102);
    }
}
