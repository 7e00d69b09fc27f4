//! What an operator sends (changes, the global rollback, the fault switch), the audit trail it
//! leaves, and a signed-in user's own view of the cutover.

use super::{Diff, Flag, Flags, ParityCounts, Source, Stage};
use crate::feature::Feature;
use serde::{Deserialize, Serialize};

/// A change an operator asks for (`POST /api/cutover/{feature}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeRequest {
    pub stage: Stage,
    /// Percent of sessions when going live (default 100).
    #[serde(default)]
    pub ramp: Option<u8>,
    pub reason: String,
    /// Go live without shadow proof (audited as forced).
    #[serde(default)]
    pub force: bool,
}

/// `POST /api/cutover/rollback`: every feature back to REST at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    pub reason: String,
}

/// One audited change, manual or automatic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub version: u64,
    pub at: i64,
    /// The operator, or `automatic`.
    pub actor: String,
    pub feature: Feature,
    pub from: Flag,
    pub to: Flag,
    pub reason: String,
    pub forced: bool,
    pub automatic: bool,
    /// The parity and gate at that moment.
    pub evidence: serde_json::Value,
}

impl AuditEntry {
    /// The evidence behind the change in an operator's words: the parity and the gate at that
    /// moment, and for an automatic rollback what the judge saw. The same line on the page's
    /// audit trail and in `thor cutover history`; a row from before a field existed says less.
    pub fn evidence_summary(&self) -> String {
        let e = &self.evidence;
        let count = |v: &serde_json::Value, key: &str| v.get(key).and_then(|x| x.as_u64());
        let mut parts = Vec::new();
        if let Some(gathered) = e.get("evidence") {
            let matched = count(gathered, "matched").unwrap_or(0);
            let samples = count(gathered, "samples").unwrap_or(0);
            let pages = count(gathered, "pages").unwrap_or(0);
            let users = count(gathered, "users").unwrap_or(0);
            parts.push(format!(
                "parity {matched}/{samples} from {pages} pages of {users} users"
            ));
        }
        if let Some(open) = e
            .get("gate")
            .and_then(|g| g.get("open"))
            .and_then(|o| o.as_bool())
        {
            parts.push(if open { "gate open" } else { "gate closed" }.to_string());
        }
        if let Some(judged) = e.get("rollback") {
            let mut seen = Vec::new();
            if let Some(stale) = count(judged, "stale_pages").filter(|n| *n > 0) {
                seen.push(format!("{stale} pages without updates"));
            }
            if let Some(gaps) = count(judged, "users_with_gaps").filter(|n| *n > 0) {
                seen.push(format!("{gaps} users with unhealed gaps"));
            }
            if let Some(silent) = count(judged, "server_silent_ms") {
                seen.push(format!("last published {} s before", silent / 1000));
            }
            if let Some(lost) = count(judged, "hub_gaps").filter(|n| *n > 0) {
                seen.push(format!("{lost} messages lost by the hub"));
            }
            if !seen.is_empty() {
                parts.push(format!("judged on: {}", seen.join(", ")));
            }
        }
        if parts.is_empty() {
            "—".to_string()
        } else {
            parts.join("; ")
        }
    }
}

/// A fault the test switch injects into one feature's socket messages (never on by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Never delivered on the socket.
    Drop,
    /// Delivered with a value changed.
    Corrupt,
    /// Delivered this many ms late.
    Delay,
    /// Delivered as another account's (or symbol's, or exchange's) message.
    Misroute,
}

/// `POST /api/cutover/fault`: `kind` null clears the feature's fault.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRequest {
    pub feature: Feature,
    pub kind: Option<FaultKind>,
    /// For `delay`: how late, in ms (default 5000).
    #[serde(default)]
    pub delay_ms: Option<u64>,
}

/// `GET /api/cutover/mine`: what any signed-in user may know of the cutover. The flags (the
/// socket sends them to every page anyway), the stage this session is served, and what this
/// user's own pages reported; nothing about other pages, users or accounts (that is
/// [`CutoverStatus`], for operators).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MyCutover {
    pub flags: Flags,
    /// This session's ramp bucket (0–99).
    pub bucket: u8,
    pub features: Vec<MyFeature>,
}

/// One feature in [`MyCutover`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MyFeature {
    pub feature: Feature,
    pub flag: Flag,
    /// The stage this session is served (its bucket against the ramp).
    pub stage: Stage,
    /// This user's pages that reported this feature, most recent first.
    pub pages: Vec<MyPage>,
    /// The latest diffs this user's pages reported, newest first.
    pub last_diffs: Vec<Diff>,
}

/// One of the user's own pages, as it last reported a feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MyPage {
    pub page_id: String,
    pub source: Option<Source>,
    pub applied_version: u64,
    /// Counts since the feature's last change.
    pub parity: ParityCounts,
    pub gaps: u64,
    /// When it last reported (ms since the epoch).
    pub last_seen: i64,
}
