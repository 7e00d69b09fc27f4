//! The five live features an operator moves from REST polling to WebSocket push, one at a time.
//!
//! Everything the server, the CLI and the page need to know about a feature is said once, here:
//! its name on the wire and in the CLI, the environment variable that gives its starting stage,
//! the socket topics that carry it, the REST path that serves it, its cadence and the name a
//! trader reads. The README's "Names" table lists them; this file is where they are defined.

use crate::topic::Topic;
use serde::Serialize;
use std::fmt;
use std::time::Duration;

/// Staleness counts a feature's update interval as at least this (see [`Feature::stale_after`]).
pub const MIN_STALE_INTERVAL: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Feature {
    AccountBalance,
    Positions,
    Intraday,
    GlobalMarket,
    /// The trader's open orders and today's finished ones.
    Orders,
}

crate::word::read_as_word! {
    Feature { AccountBalance = "account_balance", Positions = "positions", Intraday = "intraday", GlobalMarket = "global_market", Orders = "orders" }
}

/// A name that is not one of the features.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownFeature(pub String);

impl fmt::Display for UnknownFeature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let known: Vec<&str> = Feature::ALL.iter().map(|f| f.name()).collect();
        write!(
            f,
            "unknown feature {:?}; the features are {}",
            self.0,
            known.join(", ")
        )
    }
}

impl std::error::Error for UnknownFeature {}

impl Feature {
    pub const ALL: [Feature; 5] = [
        Feature::AccountBalance,
        Feature::Positions,
        Feature::Intraday,
        Feature::GlobalMarket,
        Feature::Orders,
    ];

    /// The name on the wire, in the API and the CLI (the serde name), e.g. `global_market`.
    pub fn name(self) -> &'static str {
        match self {
            Feature::AccountBalance => "account_balance",
            Feature::Positions => "positions",
            Feature::Intraday => "intraday",
            Feature::GlobalMarket => "global_market",
            Feature::Orders => "orders",
        }
    }

    /// The environment variable that gives the feature's starting stage (as in the seeds).
    pub fn flag_variable(self) -> &'static str {
        match self {
            Feature::AccountBalance => "WS_FEATURE_ACCOUNT_BALANCE",
            Feature::Positions => "WS_FEATURE_POSITIONS",
            Feature::Intraday => "WS_FEATURE_INTRADAY",
            Feature::GlobalMarket => "WS_FEATURE_GLOBAL_MARKET",
            Feature::Orders => "WS_FEATURE_ORDERS",
        }
    }

    /// The socket topics that carry the feature.
    pub fn topics(self) -> &'static [Topic] {
        match self {
            Feature::AccountBalance => &[Topic::AccountBalance],
            Feature::Positions => &[Topic::Positions],
            Feature::Intraday => &[Topic::IntradayBar, Topic::FormingBar, Topic::Vwap],
            Feature::GlobalMarket => &[Topic::MarketStatus],
            Feature::Orders => &[Topic::Orders],
        }
    }

    /// The feature a topic's messages belong to, if any (heartbeats, probes and cutover
    /// messages belong to none).
    pub fn of_topic(topic: Topic) -> Option<Feature> {
        Feature::ALL
            .into_iter()
            .find(|feature| feature.topics().contains(&topic))
    }

    /// The REST endpoint a page polls while the feature is not live.
    pub fn rest_path(self) -> &'static str {
        match self {
            Feature::AccountBalance => "/api/account/balance",
            Feature::Positions => "/api/positions",
            Feature::Intraday => "/api/intraday/bars",
            Feature::GlobalMarket => "/api/global-markets/status",
            Feature::Orders => "/api/orders",
        }
    }

    /// How often the server recomputes it (and a page polls it over REST).
    pub fn cadence(self) -> Duration {
        match self {
            Feature::Intraday => Duration::from_secs(1),
            Feature::AccountBalance
            | Feature::Positions
            | Feature::GlobalMarket
            | Feature::Orders => Duration::from_secs(10),
        }
    }

    /// Whether the feature goes quiet while its markets are closed (with `market.exchange-hours`):
    /// intraday's bars and forming bars stop; balances, positions and the market status keep
    /// their cadence. A quiet feature is not a broken one: the automatic rollback forgives it.
    pub fn follows_market_hours(self) -> bool {
        matches!(self, Feature::Intraday)
    }

    /// How often the feature's socket messages arrive: its cadence (intraday's forming bars
    /// come every second, between the closed bars of each minute). Staleness is judged
    /// against this.
    pub fn update_interval(self) -> Duration {
        self.cadence()
    }

    /// How long the feature may go without an update before it counts as stale: `multiple` of
    /// its update interval, taken as at least [`MIN_STALE_INTERVAL`] (a second's forming bar
    /// must not make a pause of a few seconds, or a jobs-lease handover, look like an outage).
    pub fn stale_after(self, multiple: f64) -> Duration {
        self.update_interval()
            .max(MIN_STALE_INTERVAL)
            .mul_f64(multiple.max(0.0))
    }

    /// The panel's title, as a trader reads it.
    pub fn display_name(self) -> &'static str {
        match self {
            Feature::AccountBalance => "Account Balance",
            Feature::Positions => "Positions",
            Feature::Intraday => "Intraday Bars",
            Feature::GlobalMarket => "Global Markets",
            Feature::Orders => "Orders",
        }
    }

    /// The feature named `name` (its wire name, any case, surrounding blanks ignored).
    pub fn parse(name: &str) -> Result<Feature, UnknownFeature> {
        let wanted = name.trim();
        Feature::ALL
            .into_iter()
            .find(|feature| feature.name().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| UnknownFeature(name.to_string()))
    }
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Feature {
    type Err = UnknownFeature;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Feature::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_parse_serde_and_the_flag_variable() {
        for feature in Feature::ALL {
            assert_eq!(Feature::parse(feature.name()), Ok(feature));
            let json = serde_json::to_string(&feature).expect("serialises");
            assert_eq!(json, format!("\"{}\"", feature.name()), "serde agrees");
            assert_eq!(
                feature.flag_variable(),
                format!("WS_FEATURE_{}", feature.name().to_ascii_uppercase())
            );
        }
        assert_eq!(Feature::parse(" Intraday "), Ok(Feature::Intraday));
    }

    #[test]
    fn an_unknown_name_is_an_error_that_lists_the_features() {
        let error = Feature::parse("markets").expect_err("not a feature");
        let message = error.to_string();
        assert!(message.contains("\"markets\""), "{message}");
        assert!(message.contains("global_market"), "{message}");
    }

    #[test]
    fn every_feature_topic_belongs_to_exactly_one_feature() {
        for feature in Feature::ALL {
            for topic in feature.topics() {
                assert_eq!(Feature::of_topic(*topic), Some(feature));
            }
        }
        assert_eq!(Feature::of_topic(Topic::Heartbeat), None);
        assert_eq!(Feature::of_topic(Topic::Cutover), None);
        assert!(
            Feature::ALL
                .iter()
                .all(|f| f.rest_path().starts_with("/api/"))
        );
    }
}
