//! Each value reduced to what must agree (money to the cent, positions keyed by symbol, a
//! market's next event time rather than its countdown), and the differences between two.

use crate::account::{AccountBalance, Positions};
use crate::cutover::{Diff, MAX_REPORT_DIFFS};
use crate::feature::Feature;
use crate::global_market::GlobalMarkets;
use crate::intraday::IntradayBar;
use crate::map::{Map, Set};
use crate::order::Orders;
use crate::protocol::{ServerMessage, Topic};

/// A value reduced to what must agree: field path → canonical text.
pub type Projection = Map<String, String>;

fn cents(value: f64) -> String {
    format!("{:.2}", value)
}

pub fn project_balance(b: &AccountBalance) -> Projection {
    [
        ("account", b.account_number.clone()),
        ("cash", cents(b.cash)),
        ("buying_power", cents(b.buying_power)),
        ("equity", cents(b.equity)),
        ("market_value", cents(b.market_value)),
        ("day_change", cents(b.day_change)),
        ("unrealized_pnl", cents(b.unrealized_pnl)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

pub fn project_positions(p: &Positions) -> Projection {
    let mut out = Projection::new();
    out.insert("account_id".into(), p.account_id.to_string());
    for position in &p.positions {
        let s = &position.symbol;
        out.insert(format!("{s}.quantity"), position.quantity.to_string());
        out.insert(format!("{s}.entry_price"), cents(position.entry_price));
        out.insert(format!("{s}.current_price"), cents(position.current_price));
        out.insert(format!("{s}.market_value"), cents(position.market_value));
        out.insert(format!("{s}.pnl"), cents(position.pnl));
    }
    out
}

pub fn project_markets(m: &GlobalMarkets) -> Projection {
    let mut out = Projection::new();
    for market in &m.markets {
        let c = &market.code;
        // The exchange's identity: a message about another exchange under this code differs.
        out.insert(format!("{c}.market_id"), market.market_id.to_string());
        out.insert(format!("{c}.status"), market.status.as_str().to_string());
        out.insert(
            format!("{c}.next_event"),
            market.next_event.as_str().to_string(),
        );
        out.insert(
            format!("{c}.next_event_at"),
            crate::timefmt::iso_utc(&market.next_event_at),
        );
        out.insert(
            format!("{c}.holiday"),
            market.holiday.clone().unwrap_or_default(),
        );
    }
    out
}

pub fn project_orders(o: &Orders) -> Projection {
    let mut out = Projection::new();
    out.insert("account_id".into(), o.account_id.to_string());
    for order in o.open.iter().chain(&o.finished) {
        let id = order.id;
        out.insert(format!("{id}.status"), order.status.as_str().to_string());
        out.insert(format!("{id}.symbol"), order.symbol.clone());
        out.insert(format!("{id}.side"), order.side.as_str().to_string());
        out.insert(format!("{id}.quantity"), order.quantity.to_string());
        out.insert(
            format!("{id}.fill_price"),
            order.fill_price.map(cents).unwrap_or_default(),
        );
    }
    out
}

pub fn project_bar(b: &IntradayBar) -> Projection {
    [
        ("open", cents(b.open)),
        ("high", cents(b.high)),
        ("low", cents(b.low)),
        ("close", cents(b.close)),
        ("volume", b.volume.to_string()),
        ("vwap", cents(b.vwap)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// The projection of a state message (balance, positions, market status, orders), if it is one.
pub fn project_state(message: &ServerMessage) -> Option<(Feature, Projection)> {
    match message {
        ServerMessage::AccountBalance(b) => Some((Feature::AccountBalance, project_balance(b))),
        ServerMessage::Positions(p) => Some((Feature::Positions, project_positions(p))),
        ServerMessage::MarketStatus(m) => Some((Feature::GlobalMarket, project_markets(m))),
        ServerMessage::Orders(o) => Some((Feature::Orders, project_orders(o))),
        _ => None,
    }
}

/// The first fields where `rest` and `ws` differ (a field only one side has counts too).
pub fn differences(at: &str, rest: &Projection, ws: &Projection) -> Vec<Diff> {
    let keys: Set<&String> = rest.keys().chain(ws.keys()).collect();
    keys.into_iter()
        .filter(|k| rest.get(*k) != ws.get(*k))
        .take(MAX_REPORT_DIFFS)
        .map(|k| Diff {
            at: at.to_string(),
            field: k.clone(),
            rest: rest.get(k).cloned().unwrap_or_else(|| "—".into()),
            ws: ws.get(k).cloned().unwrap_or_else(|| "—".into()),
        })
        .collect()
}

/// Whether a topic's messages are compared at all (VWAP rides along with bars, unpaired).
pub fn compared(topic: Topic) -> bool {
    matches!(
        topic,
        Topic::AccountBalance
            | Topic::Positions
            | Topic::MarketStatus
            | Topic::IntradayBar
            | Topic::Orders
    )
}
