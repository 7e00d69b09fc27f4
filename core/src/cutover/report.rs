//! What a page reports back: its source per feature, the parity it counted, its last diffs.

use super::Source;
use crate::feature::Feature;
use crate::map::Map;
use serde::{Deserialize, Serialize};
use std::fmt;

/// What a page tells the server, every few seconds and at once after applying a flag change.
/// Counts are since the page's previous report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageReport {
    /// Random per page load (at most 64 characters); with the session, who is reporting.
    pub page_id: String,
    /// The flags version the page has applied.
    pub applied_version: u64,
    pub features: Vec<FeatureReport>,
}

/// Longest `page_id` accepted.
pub const MAX_PAGE_ID: usize = 64;
/// Most diffs a report may carry per feature.
pub const MAX_REPORT_DIFFS: usize = 5;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureReport {
    pub feature: Feature,
    pub source: Source,
    /// When (ms since the Unix epoch) the page last fell back to REST, if it is on a fallback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fell_back_at: Option<i64>,
    #[serde(default)]
    pub parity: ParityCounts,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub diffs: Vec<Diff>,
    /// Sequence gaps on the socket that no resume healed.
    #[serde(default)]
    pub gaps: u64,
    /// How long ago the page last received the feature (from either source), in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_age_ms: Option<u64>,
    /// How far the REST view trailed the socket, worst case, in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag_ms: Option<u64>,
}

/// Compared pairs of REST and socket values, by outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParityCounts {
    pub matched: u64,
    pub mismatched: u64,
    /// REST showed a seq (or bar) the socket never delivered.
    pub missing_on_ws: u64,
    /// Not comparable, by reason (e.g. `epoch_changed`, `socket_reconnected`).
    #[serde(default)]
    pub ignored: Map<String, u64>,
}

impl ParityCounts {
    /// The pairs that count as evidence: matched, mismatched and missing on the socket.
    pub fn samples(&self) -> u64 {
        self.matched + self.mismatched + self.missing_on_ws
    }

    pub fn add(&mut self, other: &ParityCounts) {
        self.matched += other.matched;
        self.mismatched += other.mismatched;
        self.missing_on_ws += other.missing_on_ws;
        for (reason, n) in &other.ignored {
            *self.ignored.entry(reason.clone()).or_default() += n;
        }
    }
}

/// One disagreement between REST and the socket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diff {
    /// What was compared, e.g. `seq 41` or `SPY 14:31`.
    pub at: String,
    /// The field that differs, e.g. `positions.AAPL.quantity`, or `missing` for a value the
    /// socket never delivered.
    pub field: String,
    pub rest: String,
    pub ws: String,
}

impl fmt::Display for Diff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: REST {} / WS {}",
            self.at, self.field, self.rest, self.ws
        )
    }
}
