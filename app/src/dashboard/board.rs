//! The dashboard's state, shared by every panel through context: what each feature shows now
//! (and where it came from), which source each feature renders from, and what this page has
//! seen of parity. The server renders it from [`Initial`]; in the browser only the engine
//! (`engine.rs`) writes it.

use crate::account::{AccountBalance, Positions};
use crate::cutover::{Diff, Flags, ParityCounts, Source};
use crate::feature::Feature;
use crate::global_market::GlobalMarkets;
use crate::intraday::{IntradayBar, SessionSoFar};
use crate::live::choose::{self, Conditions};
use crate::live::{ConnectionState, LiveStore};
use crate::order::Orders;
use crate::parity::BarsAnswer;
use crate::protocol::{Envelope, ServerMessage, Topic};
use leptos::prelude::*;
use thor_core::chart_view::ChartView;
use thor_core::initial::Initial;

/// A feature's value as shown, with its place in the stream (`epoch`, `seq`) and when this page
/// got it (page clock, ms since the Unix epoch). Where it came from is the feature's source
/// ([`Board::source`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Shown<T> {
    pub value: T,
    pub epoch: u64,
    pub seq: u64,
    pub received_at_ms: f64,
}

/// Whether a value at (`epoch`, `seq`) may replace `held`: a later seq of the same run, or any
/// seq of a later run (epochs only grow). A REST answer joins the stream this way, so nothing
/// goes backwards, not even a late answer from before a restart.
pub fn replaces<T>(held: Option<&Shown<T>>, epoch: u64, seq: u64) -> bool {
    match held {
        None => true,
        Some(held) => epoch > held.epoch || (epoch == held.epoch && seq > held.seq),
    }
}

/// The chart's data: closed bars of one symbol (oldest first, one per minute), the bar still
/// forming, and the session's trading before the first bar.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Chart {
    pub symbol: String,
    pub bars: Vec<IntradayBar>,
    pub forming: Option<IntradayBar>,
    pub before: SessionSoFar,
    /// From when its bars are complete (the earliest `since` of the history it took in).
    pub since_ms: Option<i64>,
}

impl Chart {
    pub fn from_answer(answer: &BarsAnswer) -> Chart {
        let mut chart = Chart {
            symbol: answer.data.symbol.clone(),
            ..Chart::default()
        };
        chart.merge(answer);
        chart
    }

    /// Takes in a REST answer for the same symbol: its closed bars join (or correct) those held,
    /// and its forming bar replaces an older one. An answer with the session's trading from
    /// before an earlier `since` (a longer window's history) extends the chart back to it.
    pub fn merge(&mut self, answer: &BarsAnswer) {
        if answer.data.symbol != self.symbol {
            return;
        }
        let since_ms = answer.data.since.timestamp_millis();
        if let Some(before) = answer.data.before
            && self.since_ms.is_none_or(|held| since_ms < held)
        {
            self.before = before;
            self.since_ms = Some(since_ms);
        }
        for bar in &answer.data.bars {
            self.close(bar.clone());
        }
        if let Some(forming) = &answer.data.forming {
            self.form(forming.clone());
        }
    }

    /// A closed bar: kept in minute order (replacing one of the same minute). The forming bar
    /// of that minute or earlier is done.
    pub fn close(&mut self, bar: IntradayBar) {
        if bar.symbol != self.symbol {
            return;
        }
        let minute = bar.timestamp_minute;
        if self
            .forming
            .as_ref()
            .is_some_and(|f| f.timestamp_minute <= minute)
        {
            self.forming = None;
        }
        match self
            .bars
            .binary_search_by_key(&minute, |b| b.timestamp_minute)
        {
            Ok(i) => self.bars[i] = bar,
            Err(i) => self.bars.insert(i, bar),
        }
        // A day's worth at most; the chart draws the latest hour.
        const KEEP: usize = 1_440;
        if self.bars.len() > KEEP {
            let drop = self.bars.len() - KEEP;
            // The dropped bars' trading still counts towards the session VWAP.
            for old in self.bars.drain(..drop) {
                self.before.pv += old.vwap * old.volume as f64;
                self.before.volume += old.volume;
            }
            // Complete from the first bar kept on.
            if self.since_ms.is_some() {
                self.since_ms = self
                    .bars
                    .first()
                    .map(|b| b.timestamp_minute.timestamp_millis());
            }
        }
    }

    /// The bar still forming: only a minute after the last closed one, and never an older view
    /// of it (a REST answer that was in flight while the socket moved on).
    pub fn form(&mut self, bar: IntradayBar) {
        if bar.symbol != self.symbol {
            return;
        }
        let after_closed = self
            .bars
            .last()
            .is_none_or(|last| bar.timestamp_minute > last.timestamp_minute);
        let newer = self.forming.as_ref().is_none_or(|held| {
            bar.timestamp_minute > held.timestamp_minute
                || (bar.timestamp_minute == held.timestamp_minute && bar.trades >= held.trades)
        });
        if after_closed && newer {
            self.forming = Some(bar);
        }
    }

    /// Whether it holds `symbol`'s bars from `from_ms` on (else it needs that history first).
    pub fn covers(&self, symbol: &str, from_ms: i64) -> bool {
        self.symbol == symbol && self.since_ms.is_some_and(|since| since <= from_ms)
    }

    /// The latest minute of a closed bar.
    pub fn last_closed_ms(&self) -> Option<i64> {
        self.bars
            .last()
            .map(|b| b.timestamp_minute.timestamp_millis())
    }
}

/// A feature's trouble, as its panel shows it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PanelHealth {
    /// The last REST failure, until an answer comes.
    pub error: Option<String>,
    /// When (page clock) the feature last fell back to REST while live.
    pub fell_back_at: Option<f64>,
}

/// What this page has compared since it loaded, per feature.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PageParity {
    pub counts: ParityCounts,
    pub last_diff: Option<Diff>,
}

/// Everything the panels read. `Copy`: every component can hold it.
#[derive(Clone, Copy)]
pub struct Board {
    /// The signed-in user may change flags.
    pub operator: bool,
    /// The user has a paper account (balance and positions); operators have none.
    pub has_account: bool,
    /// This session's ramp bucket.
    pub bucket: u8,
    /// When the server rendered the page: "now" until the page's own clock runs.
    pub rendered_at_ms: f64,
    pub colour_blind: RwSignal<bool>,
    /// The chart's interval and time zone.
    pub chart_view: RwSignal<ChartView>,
    pub symbols: StoredValue<Vec<String>>,
    /// The chart's symbol.
    pub symbol: RwSignal<String>,
    /// The flags the socket last carried (or the server rendered).
    pub flags: Memo<Option<Flags>>,
    pub account_balance: RwSignal<Option<Shown<AccountBalance>>>,
    pub positions: RwSignal<Option<Shown<Positions>>>,
    pub global_market: RwSignal<Option<Shown<GlobalMarkets>>>,
    pub intraday: RwSignal<Option<Shown<Chart>>>,
    pub orders: RwSignal<Option<Shown<Orders>>>,
    pub live: LiveStore,
    health: [RwSignal<PanelHealth>; Feature::ALL.len()],
    parity: [RwSignal<PageParity>; Feature::ALL.len()],
    sources: [Memo<Source>; Feature::ALL.len()],
}

fn index(feature: Feature) -> usize {
    Feature::ALL
        .iter()
        .position(|f| *f == feature)
        .unwrap_or_default()
}

fn shown<T>(envelope: Envelope, value: T, received_at_ms: f64) -> Shown<T> {
    Shown {
        value,
        epoch: envelope.epoch,
        seq: envelope.seq,
        received_at_ms,
    }
}

impl Board {
    /// The board the server renders from `initial` (and the hydrating page starts from).
    pub fn new(initial: Initial, live: LiveStore) -> Board {
        let at = initial.rendered_at_ms as f64;
        let balance = initial.balance.and_then(|e| match e.message.clone() {
            ServerMessage::AccountBalance(b) => Some(shown(e, b, at)),
            _ => None,
        });
        let positions = initial.positions.and_then(|e| match e.message.clone() {
            ServerMessage::Positions(p) => Some(shown(e, p, at)),
            _ => None,
        });
        let markets = initial.markets.and_then(|e| match e.message.clone() {
            ServerMessage::MarketStatus(m) => Some(shown(e, m, at)),
            _ => None,
        });
        let orders = initial.orders.and_then(|e| match e.message.clone() {
            ServerMessage::Orders(o) => Some(shown(e, o, at)),
            _ => None,
        });
        let chart = initial.bars.as_ref().map(|answer| Shown {
            value: Chart::from_answer(answer),
            epoch: answer.epoch,
            seq: answer.seq,
            received_at_ms: at,
        });
        let symbol = initial
            .bars
            .as_ref()
            .map(|a| a.data.symbol.clone())
            .or_else(|| initial.symbols.first().cloned())
            .unwrap_or_default();
        let rendered_flags = initial.flags;
        let flags = Memo::new(move |_| {
            live.latest(Topic::Cutover)
                .with(|r| match r.as_ref().map(|r| &r.envelope.message) {
                    Some(ServerMessage::Cutover(flags)) => Some(flags.clone()),
                    _ => None,
                })
                .or_else(|| rendered_flags.clone())
        });
        let bucket = initial.bucket;
        let sources = Feature::ALL.map(|feature| {
            Memo::new(move |_| {
                let now = live.now_ms.get();
                let update_age_ms = now.and_then(|now| {
                    feature
                        .topics()
                        .iter()
                        .filter_map(|t| {
                            live.latest(*t)
                                .with(|r| r.as_ref().map(|r| r.received_at_ms))
                        })
                        .reduce(f64::max)
                        .map(|at| (now - at).max(0.0))
                });
                let socket_open = live.state.get() == ConnectionState::Open;
                let heartbeat_age_ms = live.heartbeat_age_ms();
                flags.with(|flags| {
                    choose::source(
                        feature,
                        &Conditions {
                            flags: flags.as_ref(),
                            bucket: Some(bucket),
                            socket_open,
                            heartbeat_age_ms,
                            update_age_ms,
                            markets_closed: live.markets_closed(feature),
                        },
                    )
                })
            })
        });
        Board {
            operator: initial.operator,
            has_account: initial.has_account,
            bucket,
            rendered_at_ms: at,
            colour_blind: RwSignal::new(initial.colour_blind),
            chart_view: RwSignal::new(initial.chart_view),
            symbols: StoredValue::new(initial.symbols),
            symbol: RwSignal::new(symbol),
            flags,
            account_balance: RwSignal::new(balance),
            positions: RwSignal::new(positions),
            global_market: RwSignal::new(markets),
            intraday: RwSignal::new(chart),
            orders: RwSignal::new(orders),
            live,
            health: Feature::ALL.map(|_| RwSignal::new(PanelHealth::default())),
            parity: Feature::ALL.map(|_| RwSignal::new(PageParity::default())),
            sources,
        }
    }

    /// Whether this page shows `feature` at all (an operator has no balance, positions or
    /// orders).
    pub fn shows(&self, feature: Feature) -> bool {
        self.has_account
            || !matches!(
                feature,
                Feature::AccountBalance | Feature::Positions | Feature::Orders
            )
    }

    /// The source `feature` renders from right now (see [`choose::source`]).
    pub fn source(&self, feature: Feature) -> Memo<Source> {
        self.sources[index(feature)]
    }

    pub fn health(&self, feature: Feature) -> RwSignal<PanelHealth> {
        self.health[index(feature)]
    }

    pub fn parity(&self, feature: Feature) -> RwSignal<PageParity> {
        self.parity[index(feature)]
    }

    /// The page's clock, or the moment the server rendered it until the clock runs.
    pub fn now_ms(&self) -> f64 {
        self.live.now_ms.get().unwrap_or(self.rendered_at_ms)
    }

    /// When `feature`'s shown value arrived.
    pub fn received_at(&self, feature: Feature) -> Option<f64> {
        match feature {
            Feature::AccountBalance => self
                .account_balance
                .with(|s| s.as_ref().map(|s| s.received_at_ms)),
            Feature::Positions => self
                .positions
                .with(|s| s.as_ref().map(|s| s.received_at_ms)),
            Feature::Intraday => self.intraday.with(|s| s.as_ref().map(|s| s.received_at_ms)),
            Feature::GlobalMarket => self
                .global_market
                .with(|s| s.as_ref().map(|s| s.received_at_ms)),
            Feature::Orders => self.orders.with(|s| s.as_ref().map(|s| s.received_at_ms)),
        }
    }

    /// Applies a state message (balance, positions, market status) if it is newer than what is
    /// shown; the same message again (a REST answer of the seq shown) makes it current again.
    pub fn apply_state(&self, envelope: &Envelope, at: f64) {
        fn apply<T: Clone + Send + Sync + 'static>(
            slot: RwSignal<Option<Shown<T>>>,
            value: &T,
            envelope: &Envelope,
            at: f64,
        ) {
            let (epoch, seq) = (envelope.epoch, envelope.seq);
            slot.update(|held| match held {
                Some(held) if held.epoch == epoch && held.seq == seq => held.received_at_ms = at,
                held if replaces(held.as_ref(), epoch, seq) => {
                    *held = Some(Shown {
                        value: value.clone(),
                        epoch,
                        seq,
                        received_at_ms: at,
                    })
                }
                _ => {}
            });
        }
        match &envelope.message {
            ServerMessage::AccountBalance(b) => apply(self.account_balance, b, envelope, at),
            ServerMessage::Positions(p) => apply(self.positions, p, envelope, at),
            ServerMessage::MarketStatus(m) => apply(self.global_market, m, envelope, at),
            ServerMessage::Orders(o) => apply(self.orders, o, envelope, at),
            _ => {}
        }
    }
}

/// The board `Dashboard` provided.
pub fn use_board() -> Board {
    expect_context::<Board>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn bar(minute: u32, close: f64) -> IntradayBar {
        IntradayBar {
            symbol: "SPY".into(),
            country: "USA".into(),
            timestamp_minute: Utc
                .with_ymd_and_hms(2026, 3, 9, 14, minute, 0)
                .single()
                .expect("a time"),
            open: close,
            high: close,
            low: close,
            close,
            volume: 10,
            vwap: close,
            trades: 1,
        }
    }

    #[test]
    fn a_value_replaces_only_an_older_one_of_its_run() {
        let held = Shown {
            value: (),
            epoch: 3,
            seq: 10,
            received_at_ms: 0.0,
        };
        assert!(replaces(None::<&Shown<()>>, 3, 1));
        assert!(replaces(Some(&held), 3, 11));
        assert!(!replaces(Some(&held), 3, 10), "the same value again");
        assert!(!replaces(Some(&held), 3, 9), "never backwards");
        assert!(replaces(Some(&held), 4, 1), "a new server run");
        assert!(
            !replaces(Some(&held), 2, 99),
            "a late answer from an older run"
        );
    }

    #[test]
    fn closed_bars_join_in_minute_order_and_end_the_forming_bar() {
        let mut chart = Chart {
            symbol: "SPY".into(),
            ..Chart::default()
        };
        chart.close(bar(2, 2.0));
        chart.close(bar(0, 1.0));
        chart.form(bar(3, 3.5));
        assert_eq!(chart.forming.as_ref().map(|b| b.close), Some(3.5));
        chart.form(bar(1, 9.0));
        assert_eq!(
            chart.forming.as_ref().map(|b| b.close),
            Some(3.5),
            "not a forming bar before the last closed one"
        );
        let mut later = bar(3, 3.7);
        later.trades = 5;
        chart.form(later.clone());
        let mut stale = bar(3, 3.6);
        stale.trades = 4;
        chart.form(stale);
        assert_eq!(
            chart.forming.as_ref().map(|b| b.close),
            Some(3.7),
            "an older view of the same minute does not roll it back"
        );
        chart.close(bar(1, 1.5));
        chart.close(bar(2, 2.5));
        let closes: Vec<f64> = chart.bars.iter().map(|b| b.close).collect();
        assert_eq!(closes, vec![1.0, 1.5, 2.5], "one bar per minute, corrected");
        chart.close(bar(3, 3.0));
        assert_eq!(chart.forming, None, "its minute has closed");
        let mut other = bar(4, 1.0);
        other.symbol = "AAPL".into();
        chart.close(other);
        assert_eq!(
            chart.bars.len(),
            4,
            "another symbol's bar is not this chart's"
        );
    }

    fn answer(since_minute: u32, bars: &[u32], before: Option<SessionSoFar>) -> BarsAnswer {
        use crate::intraday::IntradayBars;
        BarsAnswer {
            seq: 1,
            epoch: 1,
            data: IntradayBars {
                symbol: "SPY".into(),
                since: Utc
                    .with_ymd_and_hms(2026, 3, 9, 14, since_minute, 0)
                    .single()
                    .expect("a time"),
                bars: bars.iter().map(|m| bar(*m, *m as f64)).collect(),
                forming: None,
                before,
            },
        }
    }

    #[test]
    fn a_longer_windows_history_extends_the_chart_back_and_its_session_sum_with_it() {
        let minute = |m: u32| bar(m, 0.0).timestamp_minute.timestamp_millis();
        let late = SessionSoFar {
            pv: 500.0,
            volume: 50,
        };
        let mut chart = Chart::from_answer(&answer(30, &[30, 31], Some(late)));
        assert!(chart.covers("SPY", minute(30)));
        assert!(!chart.covers("SPY", minute(10)), "it needs more history");
        assert!(!chart.covers("AAPL", minute(30)));
        // The next poll (no session sum) changes nothing of where it starts.
        chart.merge(&answer(31, &[31, 32], None));
        assert_eq!((chart.since_ms, chart.before), (Some(minute(30)), late));
        // The longer history: from 14:10, with what traded before 14:10.
        let early = SessionSoFar {
            pv: 100.0,
            volume: 10,
        };
        chart.merge(&answer(10, &[10, 20, 30, 31], Some(early)));
        assert!(chart.covers("SPY", minute(10)));
        assert_eq!(chart.before, early);
        let minutes: Vec<i64> = chart
            .bars
            .iter()
            .map(|b| b.timestamp_minute.timestamp_millis())
            .collect();
        assert_eq!(
            minutes,
            [10, 20, 30, 31, 32].map(minute),
            "the held bars stay, the older ones join"
        );
        // A late answer for a shorter window does not take the earlier sum away.
        chart.merge(&answer(30, &[30], Some(late)));
        assert_eq!((chart.since_ms, chart.before), (Some(minute(10)), early));
    }
}
