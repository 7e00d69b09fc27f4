//! Shadow parity: does what the socket brought agree with what REST answered?
//!
//! Values are paired by what they are, never by when they arrived: balance, positions and
//! market status by `seq` (a REST answer carries the seq of the socket message it reflects),
//! closed bars by symbol and minute. Each pair is compared as a normalised projection (money to
//! the cent, positions keyed by symbol, a market's next event time rather than its countdown)
//! and counted as matched, mismatched, missing on the socket, or ignored with a reason. What REST
//! showed first the socket must bring within the late threshold (a mismatch, `late`, after it;
//! missing after twice it): a state seq, or a bar newer than any an earlier answer showed (it
//! closed while the socket was open). The page and the test clients run this same code; the
//! server only adds the counts up.

use crate::cutover::{Diff, FeatureReport, MAX_REPORT_DIFFS, ParityCounts, Source};
use crate::feature::Feature;
use crate::intraday::{IntradayBar, IntradayBars};
use crate::map::{Map, Set};
use crate::protocol::{Envelope, ServerMessage};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

mod bars;
mod project;

pub use project::{
    Projection, compared, differences, project_balance, project_bar, project_markets,
    project_positions, project_state,
};

/// The REST answer of the intraday feature: closed bars, with the latest `intraday_bar` seq
/// they include.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BarsAnswer {
    pub seq: u64,
    pub epoch: u64,
    pub data: IntradayBars,
}

/// Socket messages of a state feature kept for pairing.
const KEEP_SEQS: usize = 64;
/// REST answers waiting for the socket to reach their seq.
const KEEP_PENDING: usize = 16;
/// Bars kept (per page) for pairing, and bars already judged.
const KEEP_BARS: usize = 4096;

#[derive(Default)]
struct StateParity {
    epoch: Option<u64>,
    /// seq → (projection, page time received).
    seen: Map<u64, (Projection, f64)>,
    max_seq: u64,
    /// Seqs in (from, to) were skipped by a reconnect (a snapshot), not lost.
    reconnect_windows: Vec<(u64, u64)>,
    reconnected_at: Option<u64>,
    pending: VecDeque<(u64, Projection, f64)>,
}

#[derive(Default)]
struct BarParity {
    epoch: Option<u64>,
    /// (symbol, minute ms) → projection.
    seen: Map<(String, i64), Projection>,
    /// The first minute the socket delivered per symbol (earlier bars predate the socket).
    first_minute: Map<String, i64>,
    /// Per symbol REST answered for in this epoch, the latest minute its answers showed
    /// (`None`: none yet). A later bar closed while this page's socket was open: the socket
    /// owes it.
    rest_latest: Map<String, Option<i64>>,
    /// Bars REST showed before the socket delivered them: key → (projection, page time shown).
    pending: Map<(String, i64), (Projection, f64)>,
    judged: Set<(String, i64)>,
    judged_order: VecDeque<(String, i64)>,
    /// The seq of the last bar the socket brought, per symbol.
    last_seq: Map<String, u64>,
}

#[derive(Default)]
struct Outcomes {
    counts: ParityCounts,
    diffs: Vec<Diff>,
    lag_ms: Option<u64>,
    gaps: u64,
}

impl Outcomes {
    fn ignore(&mut self, reason: &str) {
        *self.counts.ignored.entry(reason.to_string()).or_default() += 1;
    }

    fn compare(&mut self, at: String, rest: &Projection, ws: &Projection) {
        let found = differences(&at, rest, ws);
        if found.is_empty() {
            self.counts.matched += 1;
        } else {
            self.counts.mismatched += 1;
            self.keep_diffs(found);
        }
    }

    fn late(&mut self, at: String, behind_ms: f64) {
        self.counts.mismatched += 1;
        self.keep_diffs(vec![Diff {
            at,
            field: "late".into(),
            rest: "on time".into(),
            ws: format!("{} ms after REST", behind_ms.max(0.0) as u64),
        }]);
    }

    fn missing(&mut self, at: String) {
        self.counts.missing_on_ws += 1;
        self.keep_diffs(vec![Diff {
            at,
            field: "missing".into(),
            rest: "present".into(),
            ws: "never delivered".into(),
        }]);
    }

    fn keep_diffs(&mut self, found: Vec<Diff>) {
        for diff in found {
            if self.diffs.len() >= MAX_REPORT_DIFFS {
                self.diffs.remove(0);
            }
            self.diffs.push(diff);
        }
    }

    fn lag(&mut self, ms: f64) {
        let ms = ms.max(0.0) as u64;
        self.lag_ms = Some(self.lag_ms.map_or(ms, |l| l.max(ms)));
    }
}

/// What one page has compared since its last report, per feature.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Taken {
    pub parity: ParityCounts,
    pub diffs: Vec<Diff>,
    pub lag_ms: Option<u64>,
    pub gaps: u64,
}

/// One page's parity bookkeeping for every feature.
#[derive(Default)]
pub struct ParityTracker {
    /// The server's epoch, from any socket message.
    epoch: Option<u64>,
    state: Map<Feature, StateParity>,
    bars: BarParity,
    outcomes: Map<Feature, Outcomes>,
    /// A socket message this much later than REST's answer of the same seq (or bar) is a
    /// mismatch (`late`); `None`: the feature's update interval, taken as at least 5 s.
    late_after_ms: Option<f64>,
}

impl ParityTracker {
    pub fn new() -> Self {
        Self::default()
    }

    /// Judges a socket message late after `ms` instead of after the feature's cadence.
    pub fn with_late_after(ms: f64) -> Self {
        Self {
            late_after_ms: Some(ms),
            ..Self::default()
        }
    }

    /// When a socket message of `feature` is late.
    fn late_after(&self, feature: Feature) -> f64 {
        self.late_after_ms
            .unwrap_or(feature.stale_after(1.0).as_millis() as f64)
    }

    /// The socket dropped and came back: seqs it skips next were replaced by a snapshot.
    pub fn on_socket_reconnect(&mut self) {
        for state in self.state.values_mut() {
            state.reconnected_at = Some(state.max_seq);
        }
    }

    /// The page starts or stops following `symbol` on its socket: whatever its bars were waiting
    /// for or showed is forgotten (a symbol not followed has bars the socket rightly never
    /// brought), and its comparison starts again from the next bar.
    pub fn forget_symbol(&mut self, symbol: &str) {
        let bars = &mut self.bars;
        let waited = bars.pending.keys().filter(|(s, _)| s == symbol).count() as u64;
        if waited > 0 {
            let outcomes = self.outcomes.entry(Feature::Intraday).or_default();
            *outcomes
                .counts
                .ignored
                .entry("symbol_unfollowed".to_string())
                .or_default() += waited;
        }
        bars.pending.retain(|(s, _), _| s != symbol);
        bars.seen.retain(|(s, _), _| s != symbol);
        bars.first_minute.remove(symbol);
        bars.rest_latest.remove(symbol);
        bars.last_seq.remove(symbol);
    }

    /// A socket message arrived at page time `now_ms`.
    pub fn on_socket(&mut self, envelope: &Envelope, now_ms: f64) {
        if self.epoch != Some(envelope.epoch) {
            self.epoch = Some(envelope.epoch);
        }
        if let ServerMessage::IntradayBar(bar) = &envelope.message {
            self.on_socket_bar(envelope, bar, now_ms);
            return;
        }
        let Some((feature, projection)) = project_state(&envelope.message) else {
            return;
        };
        let late_after = self.late_after(feature);
        let outcomes = self.outcomes.entry(feature).or_default();
        let state = self.state.entry(feature).or_default();
        if state.epoch != Some(envelope.epoch) {
            *state = StateParity {
                epoch: Some(envelope.epoch),
                ..StateParity::default()
            };
        }
        let seq = envelope.seq;
        if let Some(from) = state.reconnected_at.take()
            && seq > from + 1
        {
            state.reconnect_windows.push((from, seq));
            if state.reconnect_windows.len() > 8 {
                state.reconnect_windows.remove(0);
            }
        }
        state.max_seq = state.max_seq.max(seq);
        // REST answers that waited for this point of the stream are judged now.
        while let Some((wanted, _, _)) = state.pending.front() {
            if *wanted > seq {
                break;
            }
            let Some((wanted, rest, rest_at)) = state.pending.pop_front() else {
                break;
            };
            let behind = now_ms - rest_at;
            if wanted == seq && behind > late_after {
                outcomes.late(format!("seq {seq}"), behind);
            } else if wanted == seq {
                outcomes.compare(format!("seq {seq}"), &rest, &projection);
                outcomes.lag(0.0);
            } else if in_windows(&state.reconnect_windows, wanted) {
                outcomes.ignore("socket_reconnected");
            } else {
                outcomes.missing(format!("seq {wanted}"));
            }
        }
        state.seen.insert(seq, (projection, now_ms));
        while state.seen.len() > KEEP_SEQS {
            state.seen.pop_first();
        }
    }

    fn on_socket_bar(&mut self, envelope: &Envelope, bar: &IntradayBar, now_ms: f64) {
        let (epoch, seq) = (envelope.epoch, envelope.seq);
        let late_after = self.late_after(Feature::Intraday);
        let outcomes = self.outcomes.entry(Feature::Intraday).or_default();
        let bars = &mut self.bars;
        if bars.epoch != Some(epoch) {
            *bars = BarParity {
                epoch: Some(epoch),
                ..BarParity::default()
            };
        } else if let (Some(last), Some(prev)) = (bars.last_seq.get(&bar.symbol), envelope.prev)
            && prev > *last
        {
            // Bars are replayed on resume: a bar of the symbol that is still missing is lost.
            // (Seqs are per topic; the page may follow only some symbols, so `prev` tells.)
            outcomes.gaps += 1;
        }
        let last = bars.last_seq.entry(bar.symbol.clone()).or_insert(seq);
        *last = (*last).max(seq);
        let minute = bar.timestamp_minute.timestamp_millis();
        bars.first_minute
            .entry(bar.symbol.clone())
            .and_modify(|m| *m = (*m).min(minute))
            .or_insert(minute);
        let key = (bar.symbol.clone(), minute);
        let projection = project_bar(bar);
        // A bar REST showed first is judged now: late, or compared.
        if let Some((rest, rest_at)) = bars.pending.remove(&key) {
            let at = format!(
                "{} {}",
                bar.symbol,
                crate::timefmt::hh_mm(&bar.timestamp_minute)
            );
            let behind = now_ms - rest_at;
            if behind > late_after {
                outcomes.late(at, behind);
            } else {
                outcomes.compare(at, &rest, &projection);
            }
            bars.mark_judged(key.clone());
        }
        bars.remember(key, projection);
    }

    /// A REST answer of a state feature (the envelope the endpoint returned) at page time `now_ms`.
    pub fn on_rest(&mut self, envelope: &Envelope, now_ms: f64) {
        let Some((feature, projection)) = project_state(&envelope.message) else {
            return;
        };
        let outcomes = self.outcomes.entry(feature).or_default();
        let state = self.state.entry(feature).or_default();
        let seq = envelope.seq;
        if self.epoch.is_none() {
            outcomes.ignore("no_socket_yet");
            return;
        }
        if self.epoch != Some(envelope.epoch) {
            outcomes.ignore("epoch_changed");
            return;
        }
        if state.epoch != self.epoch {
            // Nothing of this feature on the socket yet in this epoch.
            *state = StateParity {
                epoch: self.epoch,
                ..StateParity::default()
            };
        }
        if let Some((ws, received)) = state.seen.get(&seq) {
            outcomes.compare(format!("seq {seq}"), &projection, ws);
            outcomes.lag(now_ms - received);
        } else if seq > state.max_seq {
            if state.pending.len() >= KEEP_PENDING {
                state.pending.pop_front();
                outcomes.ignore("too_many_waiting");
            }
            state.pending.push_back((seq, projection, now_ms));
        } else if in_windows(&state.reconnect_windows, seq) {
            outcomes.ignore("socket_reconnected");
        } else if state
            .seen
            .first_key_value()
            .is_some_and(|(first, _)| seq < *first)
        {
            outcomes.ignore("older_than_kept");
        } else {
            outcomes.missing(format!("seq {seq}"));
        }
    }

    /// A REST answer of the intraday feature at page time `now_ms`. Each closed bar is judged
    /// once: compared when the socket delivered it; missing when the socket delivered later bars
    /// of the symbol but not it; when it is newer than every bar an earlier answer showed (it
    /// closed while the socket was open), waited for like a state seq (late or missing if the
    /// socket does not bring it in time); otherwise left for a later answer.
    pub fn on_rest_bars(&mut self, answer: &BarsAnswer, now_ms: f64) {
        let outcomes = self.outcomes.entry(Feature::Intraday).or_default();
        if self.epoch.is_none() {
            outcomes.ignore("no_socket_yet");
            return;
        }
        if self.epoch != Some(answer.epoch) {
            outcomes.ignore("epoch_changed");
            return;
        }
        let bars = &mut self.bars;
        if bars.epoch != self.epoch {
            // No bar of this epoch on the socket yet.
            *bars = BarParity {
                epoch: self.epoch,
                ..BarParity::default()
            };
        }
        let symbol = answer.data.symbol.clone();
        let shown_before = bars.rest_latest.get(&symbol).copied();
        let latest_on_ws = bars
            .seen
            .keys()
            .filter(|(s, _)| *s == symbol)
            .map(|(_, m)| *m)
            .max();
        for bar in &answer.data.bars {
            let minute = bar.timestamp_minute.timestamp_millis();
            let key = (symbol.clone(), minute);
            if bars.judged.contains(&key) || bars.pending.contains_key(&key) {
                continue;
            }
            let at = format!("{symbol} {}", crate::timefmt::hh_mm(&bar.timestamp_minute));
            let judged = if let Some(ws) = bars.seen.get(&key) {
                outcomes.compare(at, &project_bar(bar), ws);
                true
            } else if shown_before.is_some_and(|latest| latest.is_none_or(|l| minute > l)) {
                if bars.pending.len() >= KEEP_BARS {
                    bars.pending.pop_first();
                    outcomes.ignore("too_many_waiting");
                }
                bars.pending.insert(key.clone(), (project_bar(bar), now_ms));
                false
            } else if bars
                .first_minute
                .get(&symbol)
                .is_none_or(|first| minute < *first)
            {
                // Closed before this page's socket began: nothing to compare with.
                false
            } else if latest_on_ws.is_some_and(|latest| minute < latest) {
                outcomes.missing(at);
                true
            } else {
                false
            };
            if judged {
                bars.mark_judged(key);
            }
        }
        let latest_shown = answer
            .data
            .bars
            .iter()
            .map(|b| b.timestamp_minute.timestamp_millis())
            .max()
            .max(shown_before.flatten());
        bars.rest_latest.insert(symbol, latest_shown);
    }

    /// REST answers (and bars) still waiting for the socket to reach them.
    pub fn waiting(&self) -> usize {
        self.state.values().map(|s| s.pending.len()).sum::<usize>() + self.bars.pending.len()
    }

    /// REST answers that have waited for the socket longer than twice the late threshold: the
    /// socket never delivered them (a socket that delivers nothing at all of a feature leaves
    /// no later seq to tell by).
    pub fn expire(&mut self, now_ms: f64) {
        let bars_late_after = self.late_after(Feature::Intraday);
        let expired: Vec<(String, i64)> = self
            .bars
            .pending
            .iter()
            .filter(|(_, (_, at))| now_ms - at > 2.0 * bars_late_after)
            .map(|(key, _)| key.clone())
            .collect();
        for key in expired {
            self.bars.pending.remove(&key);
            let at = chrono::DateTime::from_timestamp_millis(key.1)
                .map_or_else(|| key.1.to_string(), |t| crate::timefmt::hh_mm(&t));
            self.outcomes
                .entry(Feature::Intraday)
                .or_default()
                .missing(format!("{} {at}", key.0));
            self.bars.mark_judged(key);
        }
        let late_after_ms = self.late_after_ms;
        for (feature, state) in &mut self.state {
            let late_after = late_after_ms.unwrap_or(feature.stale_after(1.0).as_millis() as f64);
            let outcomes = self.outcomes.entry(*feature).or_default();
            while state
                .pending
                .front()
                .is_some_and(|(_, _, at)| now_ms - at > 2.0 * late_after)
            {
                if let Some((seq, _, _)) = state.pending.pop_front() {
                    outcomes.missing(format!("seq {seq}"));
                }
            }
        }
    }

    /// What a page reports of `feature` (on `source`, last updated `last_update_age_ms` ago):
    /// what was compared since its last report.
    pub fn report(
        &mut self,
        feature: Feature,
        source: Source,
        last_update_age_ms: Option<u64>,
    ) -> FeatureReport {
        let taken = self.take(feature);
        FeatureReport {
            feature,
            source,
            fell_back_at: None,
            parity: taken.parity,
            diffs: taken.diffs,
            gaps: taken.gaps,
            last_update_age_ms,
            lag_ms: taken.lag_ms,
        }
    }

    /// What was compared for `feature` since the last call, and starts counting afresh.
    pub fn take(&mut self, feature: Feature) -> Taken {
        let outcomes = self.outcomes.remove(&feature).unwrap_or_default();
        Taken {
            parity: outcomes.counts,
            diffs: outcomes.diffs,
            lag_ms: outcomes.lag_ms,
            gaps: outcomes.gaps,
        }
    }
}

fn in_windows(windows: &[(u64, u64)], seq: u64) -> bool {
    windows.iter().any(|(from, to)| seq > *from && seq < *to)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::Position;
    use crate::account::{AccountBalance, Positions};
    use crate::protocol::Topic;
    use chrono::{TimeZone, Utc};

    fn positions(quantity: i64, price: f64) -> ServerMessage {
        ServerMessage::Positions(Positions {
            account_id: 1,
            positions: vec![
                Position {
                    symbol: "AAPL".into(),
                    quantity,
                    entry_price: 150.0,
                    current_price: price,
                    market_value: price * quantity as f64,
                    pnl: (price - 150.0) * quantity as f64,
                    pnl_pct: 0.0,
                },
                Position {
                    symbol: "SPY".into(),
                    quantity: 10,
                    entry_price: 400.0,
                    current_price: 410.0,
                    market_value: 4100.0,
                    pnl: 100.0,
                    pnl_pct: 2.5,
                },
            ],
            timestamp: Utc
                .with_ymd_and_hms(2026, 3, 9, 14, 0, 0)
                .single()
                .expect("time"),
        })
    }

    fn bar_env(bar: IntradayBar, seq: u64, prev: Option<u64>) -> Envelope {
        Envelope {
            prev,
            ..env(ServerMessage::IntradayBar(bar), seq)
        }
    }

    fn env(message: ServerMessage, seq: u64) -> Envelope {
        Envelope {
            message,
            seq,
            epoch: 7,
            ts: 0,
            prev: None,
        }
    }

    fn bar(symbol: &str, minute: u32, close: f64) -> IntradayBar {
        IntradayBar {
            symbol: symbol.into(),
            country: "USA".into(),
            timestamp_minute: Utc
                .with_ymd_and_hms(2026, 3, 9, 14, minute, 0)
                .single()
                .expect("time"),
            open: 100.0,
            high: 101.0,
            low: 99.0,
            close,
            volume: 1000,
            vwap: 100.2,
            trades: 12,
        }
    }

    #[test]
    fn pairs_are_made_by_seq_not_by_arrival_and_noise_below_a_cent_matches() {
        let mut t = ParityTracker::new();
        t.on_socket(&env(positions(100, 151.0), 1), 0.0);
        t.on_socket(&env(positions(100, 152.0), 2), 1000.0);
        // REST answers seq 1 after the socket has moved on: still paired with seq 1.
        t.on_rest(&env(positions(100, 151.0), 1), 2500.0);
        // Sub-cent float noise and a reordered position list still match.
        let mut noisy = positions(100, 152.000_000_1);
        if let ServerMessage::Positions(p) = &mut noisy {
            p.positions.reverse();
        }
        t.on_rest(&env(noisy, 2), 1200.0);
        let taken = t.take(Feature::Positions);
        assert_eq!(taken.parity.matched, 2, "{taken:?}");
        assert_eq!(taken.parity.samples(), 2);
        assert_eq!(taken.lag_ms, Some(2500), "REST trailed the socket by 2.5 s");
        assert_eq!(t.take(Feature::Positions).parity.samples(), 0, "taken once");
    }

    #[test]
    fn a_changed_value_is_a_mismatch_with_its_field() {
        let mut t = ParityTracker::new();
        t.on_socket(&env(positions(101, 151.0), 5), 0.0);
        t.on_rest(&env(positions(100, 151.0), 5), 10.0);
        let taken = t.take(Feature::Positions);
        assert_eq!(taken.parity.mismatched, 1);
        let fields: Vec<&str> = taken.diffs.iter().map(|d| d.field.as_str()).collect();
        assert!(fields.contains(&"AAPL.quantity"), "{fields:?}");
    }

    #[test]
    fn a_seq_the_socket_skipped_is_missing_unless_a_reconnect_explains_it() {
        let mut t = ParityTracker::new();
        t.on_socket(&env(positions(1, 151.0), 1), 0.0);
        t.on_socket(&env(positions(1, 151.0), 3), 0.0);
        t.on_rest(&env(positions(1, 151.0), 2), 0.0);
        assert_eq!(t.take(Feature::Positions).parity.missing_on_ws, 1);

        t.on_socket_reconnect();
        t.on_socket(&env(positions(1, 151.0), 9), 0.0);
        t.on_rest(&env(positions(1, 151.0), 6), 0.0);
        let taken = t.take(Feature::Positions);
        assert_eq!(taken.parity.missing_on_ws, 0);
        assert_eq!(taken.parity.ignored.get("socket_reconnected"), Some(&1));
    }

    #[test]
    fn a_rest_answer_ahead_of_the_socket_waits_for_it() {
        let mut t = ParityTracker::new();
        t.on_socket(&env(positions(1, 151.0), 1), 0.0);
        t.on_rest(&env(positions(1, 151.0), 2), 0.0);
        t.on_rest(&env(positions(1, 151.0), 3), 0.0);
        assert_eq!(t.take(Feature::Positions).parity.samples(), 0, "waiting");
        t.on_socket(&env(positions(1, 151.0), 3), 0.0);
        let taken = t.take(Feature::Positions);
        assert_eq!(taken.parity.matched, 1, "seq 3");
        assert_eq!(taken.parity.missing_on_ws, 1, "seq 2 never came");
    }

    #[test]
    fn a_socket_message_later_than_rest_by_more_than_the_cadence_is_late() {
        let mut t = ParityTracker::with_late_after(500.0);
        t.on_socket(&env(positions(1, 151.0), 1), 0.0);
        t.on_rest(&env(positions(1, 151.0), 2), 1000.0);
        t.on_rest(&env(positions(1, 151.0), 3), 1000.0);
        t.on_socket(&env(positions(1, 151.0), 2), 1100.0);
        t.on_socket(&env(positions(1, 151.0), 3), 2000.0);
        let taken = t.take(Feature::Positions);
        assert_eq!((taken.parity.matched, taken.parity.mismatched), (1, 1));
        assert_eq!(taken.diffs[0].field, "late");
    }

    #[test]
    fn an_answer_the_socket_never_reaches_expires_as_missing() {
        let mut t = ParityTracker::with_late_after(500.0);
        t.on_socket(&env(positions(1, 151.0), 1), 0.0);
        t.on_rest(&env(positions(1, 151.0), 2), 100.0);
        t.expire(900.0);
        assert_eq!(t.waiting(), 1, "not yet");
        t.expire(1200.0);
        assert_eq!(t.waiting(), 0);
        assert_eq!(t.take(Feature::Positions).parity.missing_on_ws, 1);
    }

    #[test]
    fn another_epoch_is_ignored_not_compared() {
        let mut t = ParityTracker::new();
        t.on_rest(&env(positions(1, 151.0), 1), 0.0);
        t.on_socket(&env(positions(1, 151.0), 1), 0.0);
        let mut other = env(positions(1, 151.0), 1);
        other.epoch = 8;
        t.on_rest(&other, 0.0);
        let taken = t.take(Feature::Positions);
        assert_eq!(taken.parity.samples(), 0);
        assert_eq!(taken.parity.ignored.get("epoch_changed"), Some(&1));
        assert_eq!(taken.parity.ignored.get("no_socket_yet"), Some(&1));
    }

    #[test]
    fn market_countdowns_do_not_count_but_next_event_times_do() {
        let markets = |seconds: i64, next_hour: u32| {
            let json = serde_json::json!({
                "as_of": "2026-03-09T14:00:00Z",
                "markets": [{
                    "market_id": 1, "code": "XNYS", "name": "NYSE", "country": "USA",
                    "time_zone": "America/New_York", "status": "OPEN",
                    "local_time": "2026-03-09T10:00:00-04:00", "next_event": "close",
                    "next_event_at": format!("2026-03-09T{next_hour}:00:00Z"),
                    "seconds_to_next_event": seconds, "holiday": null
                }]
            });
            ServerMessage::MarketStatus(serde_json::from_value(json).expect("markets"))
        };
        let mut t = ParityTracker::new();
        t.on_socket(&env(markets(21_600, 20), 1), 0.0);
        t.on_rest(&env(markets(21_590, 20), 1), 0.0);
        t.on_socket(&env(markets(21_600, 20), 2), 0.0);
        t.on_rest(&env(markets(21_600, 21), 2), 0.0);
        let taken = t.take(Feature::GlobalMarket);
        assert_eq!((taken.parity.matched, taken.parity.mismatched), (1, 1));
        assert_eq!(taken.diffs[0].field, "XNYS.next_event_at");
    }

    fn bars_answer(symbol: &str, bars: Vec<IntradayBar>) -> BarsAnswer {
        BarsAnswer {
            seq: 0,
            epoch: 7,
            data: IntradayBars {
                symbol: symbol.into(),
                since: Utc
                    .with_ymd_and_hms(2026, 3, 9, 12, 0, 0)
                    .single()
                    .expect("time"),
                bars,
                forming: None,
                before: Default::default(),
            },
        }
    }

    #[test]
    fn a_new_bar_rest_showed_first_is_late_when_the_socket_brings_it_after_the_threshold() {
        let mut t = ParityTracker::with_late_after(500.0);
        // Any message of the epoch: the socket is open.
        t.on_socket(&env(positions(1, 151.0), 1), 0.0);
        t.on_rest_bars(&bars_answer("SPY", vec![bar("SPY", 30, 100.0)]), 10.0);
        assert_eq!(
            t.waiting(),
            0,
            "the first answer only says what predates it"
        );
        t.on_rest_bars(
            &bars_answer("SPY", vec![bar("SPY", 30, 100.0), bar("SPY", 31, 100.5)]),
            1_000.0,
        );
        assert_eq!(t.waiting(), 1, "14:31 closed while the socket was open");
        t.on_socket(
            &env(ServerMessage::IntradayBar(bar("SPY", 31, 100.5)), 5),
            1_400.0,
        );
        t.on_rest_bars(&bars_answer("SPY", vec![bar("SPY", 32, 100.7)]), 2_000.0);
        t.on_socket(
            &env(ServerMessage::IntradayBar(bar("SPY", 32, 100.7)), 6),
            2_600.0,
        );
        let taken = t.take(Feature::Intraday);
        assert_eq!((taken.parity.matched, taken.parity.mismatched), (1, 1));
        assert_eq!(taken.diffs[0].field, "late", "{taken:?}");
        assert_eq!(taken.diffs[0].at, "SPY 14:32");
        assert_eq!(t.waiting(), 0);
    }

    #[test]
    fn a_new_bar_the_socket_never_brings_is_missing_even_when_it_brought_no_bar_at_all() {
        let mut t = ParityTracker::with_late_after(500.0);
        t.on_socket(&env(positions(1, 151.0), 1), 0.0);
        // Misrouted: the socket brings the bar under another symbol.
        t.on_socket(
            &env(ServerMessage::IntradayBar(bar("SPYX", 31, 100.5)), 4),
            0.0,
        );
        t.on_rest_bars(&bars_answer("SPY", vec![]), 0.0);
        t.on_rest_bars(&bars_answer("SPY", vec![bar("SPY", 31, 100.5)]), 100.0);
        t.expire(1_000.0);
        assert_eq!(t.waiting(), 1, "not yet");
        t.expire(1_200.0);
        assert_eq!(t.waiting(), 0);
        // Brought after all, or shown again: judged once.
        t.on_socket(
            &env(ServerMessage::IntradayBar(bar("SPY", 31, 100.5)), 5),
            1_300.0,
        );
        t.on_rest_bars(&bars_answer("SPY", vec![bar("SPY", 31, 100.5)]), 1_400.0);
        let taken = t.take(Feature::Intraday);
        assert_eq!(taken.parity.missing_on_ws, 1, "{taken:?}");
        assert_eq!(taken.parity.samples(), 1);
        assert_eq!(taken.diffs[0].at, "SPY 14:31");
    }

    #[test]
    fn a_market_under_another_exchanges_code_is_a_mismatch_of_its_identity() {
        let markets = |swap: bool| {
            let market = |id: u32, code: &str| {
                serde_json::json!({
                    "market_id": id, "code": code, "name": code, "country": "USA",
                    "time_zone": "America/New_York", "status": "OPEN",
                    "local_time": "2026-03-09T10:00:00-04:00", "next_event": "close",
                    "next_event_at": "2026-03-09T20:00:00Z",
                    "seconds_to_next_event": 60, "holiday": null
                })
            };
            let (a, b) = if swap {
                ("XNAS", "XNYS")
            } else {
                ("XNYS", "XNAS")
            };
            let json = serde_json::json!({
                "as_of": "2026-03-09T14:00:00Z",
                "markets": [market(1, a), market(2, b)]
            });
            ServerMessage::MarketStatus(serde_json::from_value(json).expect("markets"))
        };
        let mut t = ParityTracker::new();
        t.on_socket(&env(markets(true), 1), 0.0);
        t.on_rest(&env(markets(false), 1), 0.0);
        let taken = t.take(Feature::GlobalMarket);
        assert_eq!(taken.parity.mismatched, 1, "{taken:?}");
        assert!(taken.diffs.iter().any(|d| d.field == "XNYS.market_id"));
    }

    #[test]
    fn bars_pair_by_symbol_and_minute_once_each_and_gaps_are_counted() {
        let mut t = ParityTracker::new();
        let ws = |t: &mut ParityTracker, seq: u64, b: IntradayBar| {
            t.on_socket(&bar_env(b, seq, seq.checked_sub(1)), 0.0);
        };
        ws(&mut t, 10, bar("SPY", 31, 100.5));
        ws(&mut t, 11, bar("SPY", 32, 100.7));
        // seq 12 (SPY 14:33) lost, 13 arrives.
        ws(&mut t, 13, bar("SPY", 34, 100.9));
        let answer = |bars: Vec<IntradayBar>| BarsAnswer {
            seq: 13,
            epoch: 7,
            data: IntradayBars {
                symbol: "SPY".into(),
                since: Utc
                    .with_ymd_and_hms(2026, 3, 9, 12, 0, 0)
                    .single()
                    .expect("time"),
                bars,
                forming: None,
                before: Default::default(),
            },
        };
        let rest = answer(vec![
            bar("SPY", 30, 100.1), // before the socket began: not judged
            bar("SPY", 31, 100.5),
            bar("SPY", 32, 100.8), // differs
            bar("SPY", 33, 100.6), // never on the socket
            bar("SPY", 34, 100.9),
        ]);
        t.on_rest_bars(&rest, 0.0);
        t.on_rest_bars(&rest, 0.0);
        let taken = t.take(Feature::Intraday);
        assert_eq!(taken.parity.matched, 2, "{taken:?}");
        assert_eq!(taken.parity.mismatched, 1);
        assert_eq!(taken.parity.missing_on_ws, 1);
        assert_eq!(taken.gaps, 1);
        assert!(
            taken
                .diffs
                .iter()
                .any(|d| d.field == "close" && d.at == "SPY 14:32")
        );
    }

    fn balance(cash: f64) -> ServerMessage {
        ServerMessage::AccountBalance(AccountBalance {
            account_id: 1,
            account_number: "PA-0001".into(),
            cash,
            buying_power: 2_000.0,
            equity: 3_000.0,
            market_value: 1_000.0,
            day_change: 12.5,
            day_change_pct: 0.4,
            unrealized_pnl: 20.0,
            timestamp: Utc
                .with_ymd_and_hms(2026, 3, 9, 14, 0, 0)
                .single()
                .expect("time"),
        })
    }

    /// A bar `minutes` after midnight of the test day (any number of them).
    fn bar_at(symbol: &str, minutes: i64) -> IntradayBar {
        IntradayBar {
            timestamp_minute: Utc
                .with_ymd_and_hms(2026, 3, 9, 0, 0, 0)
                .single()
                .expect("time")
                + chrono::TimeDelta::minutes(minutes),
            ..bar(symbol, 0, 100.0)
        }
    }

    #[test]
    fn a_balance_is_compared_to_the_cent_and_its_lag_is_how_long_rest_trailed() {
        let mut t = ParityTracker::new();
        t.on_socket(&env(balance(100.0), 1), 1_000.0);
        t.on_rest(&env(balance(100.001), 1), 1_250.0);
        t.on_socket(&env(balance(100.0), 2), 1_300.0);
        t.on_rest(&env(balance(101.0), 2), 1_400.0);
        let taken = t.take(Feature::AccountBalance);
        assert_eq!((taken.parity.matched, taken.parity.mismatched), (1, 1));
        assert_eq!(
            taken.diffs,
            vec![Diff {
                at: "seq 2".into(),
                field: "cash".into(),
                rest: "101.00".into(),
                ws: "100.00".into(),
            }]
        );
        assert_eq!(taken.lag_ms, Some(250), "REST came 250 ms after the socket");
    }

    #[test]
    fn a_rest_answer_before_any_socket_message_of_its_feature_waits_for_it() {
        let mut t = ParityTracker::new();
        // The socket is open (a balance came), but no positions message yet.
        t.on_socket(&env(balance(100.0), 1), 0.0);
        t.on_rest(&env(positions(1, 151.0), 4), 0.0);
        assert_eq!(t.waiting(), 1);
        t.on_socket(&env(positions(1, 151.0), 4), 10.0);
        assert_eq!(t.waiting(), 0);
        assert_eq!(t.take(Feature::Positions).parity.matched, 1);
    }

    #[test]
    fn a_seamless_reconnect_opens_no_window_and_the_last_eight_windows_are_kept() {
        let p = || positions(1, 151.0);
        let mut t = ParityTracker::new();
        t.on_socket(&env(p(), 1), 0.0);
        // Seqs 2 and 3 replaced by a snapshot.
        t.on_socket_reconnect();
        t.on_socket(&env(p(), 4), 0.0);
        // Eight reconnects that resume exactly where the socket was: no windows of their own,
        // so they do not push the real one out.
        for seq in 5..=12 {
            t.on_socket_reconnect();
            t.on_socket(&env(p(), seq), 0.0);
        }
        t.on_rest(&env(p(), 2), 0.0);
        let taken = t.take(Feature::Positions);
        assert_eq!(taken.parity.ignored.get("socket_reconnected"), Some(&1));
        assert_eq!(taken.parity.missing_on_ws, 0);

        let mut t = ParityTracker::new();
        t.on_socket(&env(p(), 1), 0.0);
        // Eight real skips: (1, 4), (4, 7), ... (22, 25), all remembered.
        for seq in (4..=25).step_by(3) {
            t.on_socket_reconnect();
            t.on_socket(&env(p(), seq), 0.0);
        }
        t.on_rest(&env(p(), 2), 0.0);
        let taken = t.take(Feature::Positions);
        assert_eq!(taken.parity.ignored.get("socket_reconnected"), Some(&1));
        // A ninth forgets the first: seq 3 is no longer explained.
        t.on_socket_reconnect();
        t.on_socket(&env(p(), 28), 0.0);
        t.on_rest(&env(p(), 3), 0.0);
        let taken = t.take(Feature::Positions);
        assert_eq!(taken.parity.missing_on_ws, 1, "{taken:?}");
        assert!(taken.parity.ignored.is_empty());
    }

    #[test]
    fn a_reconnect_window_excludes_the_seqs_delivered_at_its_ends() {
        let windows = [(3, 7)];
        let inside: Vec<u64> = (0..10).filter(|seq| in_windows(&windows, *seq)).collect();
        assert_eq!(inside, vec![4, 5, 6]);
        assert!(!in_windows(&[], 5));
    }

    #[test]
    fn a_socket_message_exactly_at_the_threshold_is_on_time() {
        let mut t = ParityTracker::with_late_after(500.0);
        t.on_socket(&env(positions(1, 151.0), 1), 0.0);
        t.on_rest(&env(positions(1, 151.0), 2), 1_000.0);
        t.on_socket(&env(positions(1, 151.0), 2), 1_500.0);
        let taken = t.take(Feature::Positions);
        assert_eq!((taken.parity.matched, taken.parity.mismatched), (1, 0));

        t.on_rest_bars(&bars_answer("SPY", vec![]), 0.0);
        t.on_rest_bars(&bars_answer("SPY", vec![bar("SPY", 31, 100.5)]), 1_000.0);
        t.on_socket(
            &env(ServerMessage::IntradayBar(bar("SPY", 31, 100.5)), 3),
            1_500.0,
        );
        let taken = t.take(Feature::Intraday);
        assert_eq!((taken.parity.matched, taken.parity.mismatched), (1, 0));
    }

    #[test]
    fn an_answer_expires_only_after_more_than_twice_the_threshold() {
        let mut t = ParityTracker::with_late_after(500.0);
        t.on_socket(&env(positions(1, 151.0), 1), 0.0);
        t.on_rest(&env(positions(1, 151.0), 2), 1_000.0);
        t.on_rest_bars(&bars_answer("SPY", vec![]), 0.0);
        t.on_rest_bars(&bars_answer("SPY", vec![bar("SPY", 31, 100.5)]), 1_000.0);
        assert_eq!(t.waiting(), 2);
        t.expire(1_500.0);
        assert_eq!(t.waiting(), 2, "only the threshold has passed");
        t.expire(2_000.0);
        assert_eq!(t.waiting(), 2, "exactly twice the threshold is not more");
        t.expire(2_001.0);
        assert_eq!(t.waiting(), 0);
        assert_eq!(t.take(Feature::Positions).parity.missing_on_ws, 1);
        assert_eq!(t.take(Feature::Intraday).parity.missing_on_ws, 1);
    }

    #[test]
    fn the_last_64_socket_seqs_are_kept_and_an_answer_older_than_them_is_ignored() {
        let mut t = ParityTracker::new();
        for seq in 1..=65 {
            t.on_socket(&env(positions(1, 151.0), seq), 0.0);
        }
        t.on_rest(&env(positions(1, 151.0), 2), 0.0);
        t.on_rest(&env(positions(1, 151.0), 1), 0.0);
        let taken = t.take(Feature::Positions);
        assert_eq!(taken.parity.matched, 1, "seq 2 is still kept: {taken:?}");
        assert_eq!(taken.parity.missing_on_ws, 0);
        assert_eq!(taken.parity.ignored.get("older_than_kept"), Some(&1));
    }

    #[test]
    fn only_a_jump_in_bar_seqs_counts_as_a_gap() {
        let mut t = ParityTracker::new();
        for (seq, minute) in [(10, 31), (11, 32), (12, 33), (14, 35), (14, 35)] {
            t.on_socket(&bar_env(bar("SPY", minute, 100.0), seq, Some(seq - 1)), 0.0);
        }
        assert_eq!(t.take(Feature::Intraday).gaps, 1, "seq 13 only");
    }

    /// A page following SPY alone receives every fifth bar seq: not a gap, as each bar names
    /// the previous one of its symbol; one of those missing is.
    #[test]
    fn a_page_following_one_symbol_counts_only_its_lost_bars() {
        let mut t = ParityTracker::new();
        // SPY's bars are seqs 10, 15, 20, 25 among five symbols'; 20 is lost.
        t.on_socket(&bar_env(bar("SPY", 31, 100.0), 10, Some(5)), 0.0);
        t.on_socket(&bar_env(bar("SPY", 32, 100.0), 15, Some(10)), 0.0);
        assert_eq!(t.take(Feature::Intraday).gaps, 0, "seqs 11-14 are others'");
        t.on_socket(&bar_env(bar("SPY", 34, 100.0), 25, Some(20)), 0.0);
        assert_eq!(t.take(Feature::Intraday).gaps, 1, "SPY's seq 20 is lost");
    }

    /// SPY, then AAPL, then SPY again: the bars closed while SPY was not followed are neither a
    /// gap nor missing; after the switch back its bars are compared again.
    #[test]
    fn a_symbol_followed_again_starts_afresh() {
        let mut t = ParityTracker::new();
        t.on_socket(&bar_env(bar("SPY", 31, 100.0), 10, None), 0.0);
        let spy_answer = |bars| bars_answer("SPY", bars);
        t.on_rest_bars(&spy_answer(vec![bar("SPY", 31, 100.0)]), 0.0);
        t.forget_symbol("SPY");
        t.forget_symbol("AAPL");
        t.on_socket(&bar_env(bar("AAPL", 32, 200.0), 16, None), 0.0);
        t.forget_symbol("AAPL");
        t.forget_symbol("SPY");
        // Back on SPY: the snapshot is its bar of 14:34 (seq 30, after 15, 20 and 25 unseen).
        t.on_socket(&bar_env(bar("SPY", 34, 100.0), 30, Some(25)), 0.0);
        t.on_rest_bars(
            &spy_answer(vec![
                bar("SPY", 31, 100.0),
                bar("SPY", 32, 100.0),
                bar("SPY", 33, 100.0),
                bar("SPY", 34, 100.0),
            ]),
            0.0,
        );
        let taken = t.take(Feature::Intraday);
        assert_eq!(taken.gaps, 0, "{taken:?}");
        assert_eq!(taken.parity.missing_on_ws, 0, "{taken:?}");
        assert_eq!(taken.parity.mismatched, 0, "{taken:?}");
        assert_eq!(
            taken.parity.matched, 2,
            "14:31 before, 14:34 after: {taken:?}"
        );
        t.on_socket(&bar_env(bar("SPY", 36, 100.0), 40, Some(35)), 0.0);
        assert_eq!(
            t.take(Feature::Intraday).gaps,
            1,
            "followed again, a lost bar counts"
        );
    }

    #[test]
    fn every_new_bar_rest_showed_first_waits() {
        let mut t = ParityTracker::with_late_after(500.0);
        t.on_socket(&env(positions(1, 151.0), 1), 0.0);
        t.on_rest_bars(&bars_answer("SPY", vec![]), 0.0);
        t.on_rest_bars(
            &bars_answer("SPY", vec![bar("SPY", 31, 100.5), bar("SPY", 32, 100.6)]),
            100.0,
        );
        assert_eq!(t.waiting(), 2);
        let taken = t.take(Feature::Intraday);
        assert!(taken.parity.ignored.is_empty(), "{taken:?}");
    }

    #[test]
    fn bars_from_before_the_socket_began_are_not_judged() {
        let mut t = ParityTracker::new();
        t.on_socket(
            &env(ServerMessage::IntradayBar(bar("SPY", 31, 31.0)), 1),
            0.0,
        );
        t.on_socket(
            &env(ServerMessage::IntradayBar(bar("SPY", 33, 33.0)), 2),
            0.0,
        );
        let shown = (29..=33).map(|m| bar("SPY", m, f64::from(m)));
        t.on_rest_bars(&bars_answer("SPY", shown.collect()), 0.0);
        let taken = t.take(Feature::Intraday);
        assert_eq!(taken.parity.matched, 2, "{taken:?}");
        assert_eq!(taken.parity.missing_on_ws, 1, "14:32 only");
        assert_eq!(
            taken.parity.samples(),
            3,
            "14:29 and 14:30 predate the socket"
        );
        assert_eq!(taken.diffs[0].at, "SPY 14:32");
    }

    /// A page open all day on several symbols keeps each symbol's newest bars: the oldest
    /// minute is forgotten first, whichever symbol it is of.
    #[test]
    fn past_the_cap_the_oldest_minutes_are_forgotten_not_the_first_symbols_newest() {
        let mut t = ParityTracker::new();
        let minutes = KEEP_BARS as i64;
        let mut seq = 0;
        for m in 0..minutes {
            for symbol in ["AAPL", "SPY"] {
                seq += 1;
                t.on_socket(
                    &env(ServerMessage::IntradayBar(bar_at(symbol, m)), seq),
                    0.0,
                );
            }
        }
        let recent: Vec<IntradayBar> = (minutes - 10..minutes).map(|m| bar_at("AAPL", m)).collect();
        let answer = BarsAnswer {
            seq,
            ..bars_answer("AAPL", recent)
        };
        t.on_rest_bars(&answer, 0.0);
        let taken = t.take(Feature::Intraday);
        assert_eq!(taken.parity.matched, 10, "{:?}", taken.diffs);
        assert_eq!(taken.parity.missing_on_ws, 0);
    }

    #[test]
    fn a_full_day_of_bars_is_kept_and_each_is_judged_once() {
        let mut t = ParityTracker::new();
        let bars: Vec<IntradayBar> = (0..KEEP_BARS as i64).map(|m| bar_at("SPY", m)).collect();
        for (seq, b) in (1..).zip(&bars) {
            t.on_socket(&env(ServerMessage::IntradayBar(b.clone()), seq), 0.0);
        }
        let answer = BarsAnswer {
            seq: KEEP_BARS as u64,
            ..bars_answer("SPY", bars)
        };
        t.on_rest_bars(&answer, 0.0);
        t.on_rest_bars(&answer, 0.0);
        let taken = t.take(Feature::Intraday);
        assert_eq!(taken.parity.matched, KEEP_BARS as u64, "{:?}", taken.diffs);
        assert_eq!(taken.parity.samples(), KEEP_BARS as u64, "none twice");
    }

    #[test]
    fn only_balances_positions_markets_and_closed_bars_are_compared() {
        for topic in [
            Topic::AccountBalance,
            Topic::Positions,
            Topic::MarketStatus,
            Topic::IntradayBar,
        ] {
            assert!(compared(topic), "{topic:?}");
        }
        for topic in [
            Topic::Heartbeat,
            Topic::FormingBar,
            Topic::Vwap,
            Topic::Cutover,
        ] {
            assert!(!compared(topic), "{topic:?}");
        }
    }
}
