//! The test switch that breaks one feature's socket messages, so a test (or an operator
//! rehearsing) can see parity catch it. Off unless `cutover.allow-faults` is set; operator-only;
//! it touches only what the socket carries (REST keeps the truth), on this instance.

use crate::hub::Frame;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use thor_core::cutover::FaultKind;
use thor_core::feature::Feature;
use tungstenite::Utf8Bytes;

/// How late `delay` delivers when no delay is given.
pub const DEFAULT_DELAY: Duration = Duration::from_secs(5);

#[derive(Default)]
pub struct Faults {
    /// Whether any fault is set: the send path checks this alone in the normal case.
    any: AtomicBool,
    set: Mutex<BTreeMap<Feature, (FaultKind, Duration)>>,
}

/// What to do with one frame on its way to a socket.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Send,
    Drop,
    Replace(Utf8Bytes),
    Delay(Duration),
}

impl Faults {
    pub fn set(&self, feature: Feature, fault: Option<(FaultKind, Duration)>) {
        let mut set = self.set.lock().unwrap_or_else(|p| p.into_inner());
        match fault {
            Some(fault) => {
                set.insert(feature, fault);
            }
            None => {
                set.remove(&feature);
            }
        }
        self.any.store(!set.is_empty(), Ordering::Release);
    }

    pub fn active(&self) -> BTreeMap<Feature, FaultKind> {
        let set = self.set.lock().unwrap_or_else(|p| p.into_inner());
        set.iter().map(|(f, (kind, _))| (*f, *kind)).collect()
    }

    /// What the fault of `frame`'s feature, if any, does to it.
    pub fn apply(&self, frame: &Frame) -> Action {
        if !self.any.load(Ordering::Acquire) {
            return Action::Send;
        }
        let Some(feature) = Feature::of_topic(frame.topic) else {
            return Action::Send;
        };
        let fault = {
            let set = self.set.lock().unwrap_or_else(|p| p.into_inner());
            set.get(&feature).copied()
        };
        match fault {
            None => Action::Send,
            Some((FaultKind::Drop, _)) => Action::Drop,
            Some((FaultKind::Delay, by)) => Action::Delay(by),
            Some((kind @ (FaultKind::Corrupt | FaultKind::Misroute), _)) => {
                match rewrite(frame.text.as_str(), kind) {
                    Some(text) => Action::Replace(text.into()),
                    None => Action::Send,
                }
            }
        }
    }
}

/// The message with one value changed (`corrupt`) or its identity swapped (`misroute`: another
/// account, symbol or exchange).
fn rewrite(text: &str, kind: FaultKind) -> Option<String> {
    let mut envelope: Value = serde_json::from_str(text).ok()?;
    let data = envelope.get_mut("data")?;
    match kind {
        FaultKind::Corrupt => {
            if let Some(cash) = data.get_mut("cash") {
                *cash = Value::from(cash.as_f64()? + 1.0);
            } else if let Some(positions) = data.get_mut("positions") {
                let first = positions.get_mut(0)?;
                let quantity = first.get_mut("quantity")?;
                *quantity = Value::from(quantity.as_i64()? + 1);
            } else if let Some(markets) = data.get_mut("markets") {
                let status = markets.get_mut(0)?.get_mut("status")?;
                let flipped = if status.as_str()? == "OPEN" {
                    "CLOSED"
                } else {
                    "OPEN"
                };
                *status = Value::from(flipped);
            } else if let Some(close) = data.get_mut("close") {
                *close = Value::from(close.as_f64()? + 1.0);
            } else if let Some(open) = data.get_mut("open") {
                let quantity = open.get_mut(0)?.get_mut("quantity")?;
                *quantity = Value::from(quantity.as_i64()? + 1);
            } else {
                return None;
            }
        }
        FaultKind::Misroute => {
            if let Some(number) = data.get_mut("account_number") {
                *number = Value::from(format!("{}-X", number.as_str()?));
            } else if let Some(id) = data.get_mut("account_id") {
                *id = Value::from(id.as_i64()? + 1);
            } else if let Some(markets) = data.get_mut("markets") {
                let list = markets.as_array_mut()?;
                if list.len() < 2 {
                    return None;
                }
                let first = list.first()?.get("code")?.clone();
                let second = list.get(1)?.get("code")?.clone();
                *list.get_mut(0)?.get_mut("code")? = second;
                *list.get_mut(1)?.get_mut("code")? = first;
            } else if let Some(symbol) = data.get_mut("symbol") {
                *symbol = Value::from(format!("{}X", symbol.as_str()?));
            } else {
                return None;
            }
        }
        FaultKind::Drop | FaultKind::Delay => return None,
    }
    serde_json::to_string(&envelope).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrupt_changes_a_compared_value_and_misroute_an_identity() {
        let balance = r#"{"type":"account_balance","seq":3,"epoch":1,"ts":0,"data":{"account_number":"PA-1","cash":100.0}}"#;
        let corrupt = rewrite(balance, FaultKind::Corrupt).expect("rewritten");
        assert!(corrupt.contains("101.0"), "{corrupt}");
        let misroute = rewrite(balance, FaultKind::Misroute).expect("rewritten");
        assert!(misroute.contains("PA-1-X"), "{misroute}");
        assert!(
            misroute.contains("\"seq\":3"),
            "the seq stays: parity pairs it"
        );

        let bar = r#"{"type":"intraday_bar","seq":1,"epoch":1,"ts":0,"data":{"symbol":"SPY","close":10.0}}"#;
        assert!(rewrite(bar, FaultKind::Corrupt).is_some_and(|t| t.contains("11.0")));
        assert!(rewrite(bar, FaultKind::Misroute).is_some_and(|t| t.contains("SPYX")));
        assert_eq!(rewrite("not json", FaultKind::Corrupt), None);

        let orders = r#"{"type":"orders","seq":2,"epoch":1,"ts":0,"data":{"account_id":7,"open":[{"id":1,"quantity":5}],"finished":[]}}"#;
        assert!(rewrite(orders, FaultKind::Corrupt).is_some_and(|t| t.contains("\"quantity\":6")));
        assert!(
            rewrite(orders, FaultKind::Misroute).is_some_and(|t| t.contains("\"account_id\":8"))
        );
        let none_open = r#"{"type":"orders","seq":2,"epoch":1,"ts":0,"data":{"account_id":7,"open":[],"finished":[]}}"#;
        assert_eq!(
            rewrite(none_open, FaultKind::Corrupt),
            None,
            "nothing to corrupt: sent as it is"
        );
    }
}
