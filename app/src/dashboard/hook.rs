//! `use_websocket_aware`: one hook for every panel. It hands the panel its feature's data as a
//! signal, with where it came from and how old it is. Which source that is follows the live
//! flag state and the ramp (see [`crate::live::choose`]); the engine polls REST only while the
//! feature is not live, logs and compares the socket in shadow, and joins REST answers onto
//! the stream by `seq`.

use super::board::{Board, Chart, Shown, use_board};
use crate::account::{AccountBalance, Positions};
use crate::cutover::Source;
use crate::feature::Feature;
use crate::global_market::GlobalMarkets;
use crate::live::choose::STALE_AFTER_CADENCES;
use crate::order::Orders;
use leptos::prelude::*;

/// A feature's data, as a panel uses it.
pub trait FeatureData: Clone + Send + Sync + 'static {
    const FEATURE: Feature;
    fn slot(board: &Board) -> RwSignal<Option<Shown<Self>>>;
}

impl FeatureData for AccountBalance {
    const FEATURE: Feature = Feature::AccountBalance;
    fn slot(board: &Board) -> RwSignal<Option<Shown<Self>>> {
        board.account_balance
    }
}

impl FeatureData for Positions {
    const FEATURE: Feature = Feature::Positions;
    fn slot(board: &Board) -> RwSignal<Option<Shown<Self>>> {
        board.positions
    }
}

impl FeatureData for Chart {
    const FEATURE: Feature = Feature::Intraday;
    fn slot(board: &Board) -> RwSignal<Option<Shown<Self>>> {
        board.intraday
    }
}

impl FeatureData for GlobalMarkets {
    const FEATURE: Feature = Feature::GlobalMarket;
    fn slot(board: &Board) -> RwSignal<Option<Shown<Self>>> {
        board.global_market
    }
}

impl FeatureData for Orders {
    const FEATURE: Feature = Feature::Orders;
    fn slot(board: &Board) -> RwSignal<Option<Shown<Self>>> {
        board.orders
    }
}

/// How a panel's data stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Freshness {
    /// Nothing yet.
    Loading,
    Fresh,
    /// Older than a few of its update intervals.
    Stale,
    /// Quiet because every market it follows is closed (the heartbeat says so).
    Closed,
    /// The last REST request failed (the shown data, if any, is older).
    Failed(String),
}

/// What [`use_websocket_aware`] gives a panel.
#[derive(Clone, Copy)]
pub struct PanelFeed<T: FeatureData> {
    pub feature: Feature,
    /// The value shown, with its seq and where it came from.
    pub data: ReadSignal<Option<Shown<T>>>,
    /// Where the panel's data comes from now: "WebSocket", "REST", "REST (Shadow)" or
    /// "REST (fallback)".
    pub source: Memo<Source>,
    /// Milliseconds since the shown value arrived.
    pub age_ms: Signal<Option<f64>>,
    pub freshness: Signal<Freshness>,
    /// The shown value's `seq` (for the chart: the latest closed bar's).
    pub seq: Signal<Option<u64>>,
}

/// The data of feature `T` as signals, from WebSocket or REST as the flags decide.
pub fn use_websocket_aware<T: FeatureData>() -> PanelFeed<T> {
    let board = use_board();
    let feature = T::FEATURE;
    let slot = T::slot(&board);
    let health = board.health(feature);
    let age_ms = Signal::derive(move || {
        let now = board.now_ms();
        board.received_at(feature).map(|at| (now - at).max(0.0))
    });
    let stale_after = feature.stale_after(STALE_AFTER_CADENCES).as_millis() as f64;
    let freshness = Signal::derive(move || {
        if let Some(error) = health.with(|h| h.error.clone()) {
            return Freshness::Failed(error);
        }
        match age_ms.get() {
            None => Freshness::Loading,
            Some(age) if age > stale_after && board.live.markets_closed(feature) => {
                Freshness::Closed
            }
            Some(age) if age > stale_after => Freshness::Stale,
            Some(_) => Freshness::Fresh,
        }
    });
    PanelFeed {
        feature,
        data: slot.read_only(),
        source: board.source(feature),
        age_ms,
        freshness,
        seq: Signal::derive(move || slot.with(|s| s.as_ref().map(|s| s.seq))),
    }
}
