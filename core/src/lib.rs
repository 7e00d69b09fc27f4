//! # What Thor's server, page and tools agree on
//!
//! No views and no server: the server's library depends on this crate and not on the views
//! (`app`), which re-exports it, so a change to a component does not rebuild the whole server.
//!
//! ## Layout
//! - [`feature`]: the live features, and all that is known of each (flag, topics, REST path,
//!   cadence, name).
//! - [`account`], [`intraday`], [`global_market`]: the features' payloads.
//! - [`order`]: paper orders: the checked request and what the desk reports.
//! - [`symbol`]: a ticker symbol, checked where it enters.
//! - [`cutover`]: stages, flags, page reports and the operator's status; gates as pure rules.
//! - [`parity`]: how a page compares what REST answered with what the socket brought.
//! - [`protocol`]: the WebSocket envelope and every message type, used by server and page alike.
//! - [`topic`]: the hub's topics and how each is delivered (the bottom layer).
//! - [`initial`] and [`chart_view`]: what the server renders the dashboard with, and the chart's
//!   view as the trader chose it; [`SignedIn`] and [`Build`]: who and which build a page is for.
//! - [`timefmt`]: times as text without chrono's `format`.

pub mod account;
pub mod chart_view;
pub mod cutover;
pub mod feature;
pub mod global_market;
pub mod initial;
pub mod intraday;
pub mod map;
pub mod order;
pub mod parity;
pub mod protocol;
pub mod symbol;
pub mod timefmt;
pub mod topic;
mod word;

use serde::{Deserialize, Serialize};

/// The `Cache-Control` of what is asked after on each use: pages, and files without a hash in
/// their names.
pub const REVALIDATE: &str = "no-cache";

/// The path of the sign-in page; every other page needs a session.
pub const LOGIN_PATH: &str = "/login";

/// The user a page is rendered for. The server checks the session before rendering and puts this
/// in the request's extensions; the page carries it over to the browser with the rendered HTML.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedIn {
    pub username: String,
}

/// The build of the bundle a page was rendered for: the hashes of its WebAssembly, script and
/// stylesheet (empty for a development build without hashed names). The server puts it in the
/// request's extensions and in its socket's first message (`hello`); a page whose server has
/// moved to another build reloads itself at a quiet moment (the views' `live::build`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Build(pub String);

/// Every unit enum of the wire reads the word it writes (here, at the crate's root, because the
/// test names them all and `word` must not import the modules that use it).
#[cfg(test)]
mod words {
    use crate::word::tests::words_round_trip;

    #[test]
    fn every_unit_enum_reads_the_word_it_writes() {
        use crate::chart_view::{Interval, Zone};
        use crate::cutover::Stage;
        use crate::feature::Feature;
        use crate::global_market::{MarketEventKind, MarketStatusKind};
        use crate::order::{OrderStatus, OrderType, Side, TimeInForce};
        use crate::protocol::{ErrorCode, SnapshotReason};
        use crate::topic::Topic;
        words_round_trip(Feature::WORDS, &Feature::ALL);
        words_round_trip(Topic::WORDS, &Topic::ALL);
        words_round_trip(Interval::WORDS, &Interval::ALL);
        words_round_trip(Zone::WORDS, &Zone::ALL);
        words_round_trip(Stage::WORDS, &[Stage::Rest, Stage::Shadow, Stage::Live]);
        words_round_trip(Side::WORDS, &[Side::Buy, Side::Sell]);
        words_round_trip(OrderType::WORDS, &[OrderType::Market, OrderType::Limit]);
        words_round_trip(TimeInForce::WORDS, &[TimeInForce::Day, TimeInForce::Gtc]);
        use OrderStatus::*;
        words_round_trip(
            OrderStatus::WORDS,
            &[Open, Filled, Cancelled, Expired, Rejected],
        );
        use SnapshotReason::*;
        words_round_trip(
            SnapshotReason::WORDS,
            &[NewEpoch, BeyondBuffer, AheadOfServer],
        );
        use ErrorCode::*;
        words_round_trip(
            ErrorCode::WORDS,
            &[
                BadFrame,
                UnknownType,
                BinaryFrame,
                UnknownSymbol,
                RateLimited,
            ],
        );
        use MarketStatusKind as S;
        words_round_trip(
            MarketStatusKind::WORDS,
            &[S::Premarket, S::Open, S::Lunch, S::Closed],
        );
        use MarketEventKind as E;
        words_round_trip(
            MarketEventKind::WORDS,
            &[
                E::Open,
                E::Close,
                E::LunchStart,
                E::LunchEnd,
                E::PremarketStart,
            ],
        );
        // As map keys too (the flags' features, the resume's topics).
        let flags: crate::map::Map<Feature, u8> =
            serde_json::from_str(r#"{"orders":1,"intraday":2}"#).unwrap_or_default();
        assert_eq!(flags.get(&Feature::Orders), Some(&1));
        assert_eq!(flags.get(&Feature::Intraday), Some(&2));
    }
}
