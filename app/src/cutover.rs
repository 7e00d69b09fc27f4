//! The cutover control plane on the wire: each feature's stage, the `cutover` message that
//! carries every flag, what a page reports back, and the status an operator reads (API, CLI and
//! the Cutover Status panel alike). The rules that decide anything (which stage a page is on,
//! whether a gate opens) are pure functions here, so the server, the CLI and the page agree.

use crate::feature::Feature;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Where a feature is in its move from REST polling to WebSocket push.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Pages poll REST only; the socket's messages for the feature are not used or logged.
    Rest,
    /// Pages render from REST, log every socket message (`[WS] <type>: …`) and compare the two.
    Shadow,
    /// Pages render from the socket and poll REST only while the socket is down or stale.
    Live,
}

impl Stage {
    pub const ALL: [Stage; 3] = [Stage::Rest, Stage::Shadow, Stage::Live];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Rest => "rest",
            Stage::Shadow => "shadow",
            Stage::Live => "live",
        }
    }

    pub fn parse(text: &str) -> Option<Stage> {
        Stage::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(text.trim()))
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One feature's flag: its stage and, when live, the share of signed-in sessions it is live for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flag {
    pub stage: Stage,
    /// Percent of sessions (0 to 100) that render from the socket while the stage is `live`;
    /// the others stay in shadow. 100 outside `live`.
    pub ramp: u8,
}

impl Flag {
    pub const fn new(stage: Stage) -> Flag {
        Flag { stage, ramp: 100 }
    }

    /// The stage a session in ramp bucket `bucket` (0 to 99, stable per session) is on.
    pub fn stage_for(self, bucket: u8) -> Stage {
        match self.stage {
            Stage::Live if bucket >= self.ramp => Stage::Shadow,
            stage => stage,
        }
    }

    /// Live for only some sessions.
    pub fn is_partial(self) -> bool {
        self.stage == Stage::Live && self.ramp < 100
    }
}

/// Every feature's flag at one version: the `cutover` message, and what `GET /api/cutover`
/// starts with. `version` grows by one with every change, manual or automatic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flags {
    pub version: u64,
    pub features: BTreeMap<Feature, Flag>,
}

impl Flags {
    /// The flag of `feature` (REST if the message somehow lacks it).
    pub fn flag(&self, feature: Feature) -> Flag {
        self.features
            .get(&feature)
            .copied()
            .unwrap_or(Flag::new(Stage::Rest))
    }
}

/// The source a page actually renders a feature from, as its panel says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// REST polling (stage `rest`).
    Rest,
    /// REST polling while the socket is compared with it (stage `shadow`).
    RestShadow,
    /// The socket (stage `live`).
    WebSocket,
    /// REST polling while a live feature waits for its socket (down, stale, or flags quiet).
    RestFallback,
}

impl Source {
    /// As the seeds' panels read it.
    pub fn label(self) -> &'static str {
        match self {
            Source::Rest => "REST",
            Source::RestShadow => "REST (Shadow)",
            Source::WebSocket => "WebSocket",
            Source::RestFallback => "REST (fallback)",
        }
    }
}

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
    pub ignored: BTreeMap<String, u64>,
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

/// The lower bound of the Wilson score interval (95 %) of `matched` successes in `samples`:
/// the match rate the evidence supports with 95 % confidence.
pub fn wilson_lower_bound(matched: u64, samples: u64) -> f64 {
    if samples == 0 {
        return 0.0;
    }
    const Z: f64 = 1.959_963_984_540_054;
    let n = samples as f64;
    let p = matched as f64 / n;
    let z2 = Z * Z;
    let centre = p + z2 / (2.0 * n);
    let spread = Z * ((p * (1.0 - p) + z2 / (4.0 * n)) / n).sqrt();
    ((centre - spread) / (1.0 + z2 / n)).clamp(0.0, 1.0)
}

/// What a feature needs before it may go live.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GateRule {
    /// The Wilson lower bound of the match rate must be at least this (0 to 1).
    pub min_match_rate: f64,
    pub min_samples: u64,
    /// Distinct pages that reported, from at least two users when it is two or more.
    pub min_pages: u64,
}

/// The evidence a gate is judged on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Evidence {
    pub matched: u64,
    pub samples: u64,
    pub pages: u64,
    pub users: u64,
}

/// Whether a gate opens, and if not, what is missing in an operator's words.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateVerdict {
    pub open: bool,
    pub lower_bound: f64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
}

impl GateRule {
    pub fn judge(&self, evidence: Evidence) -> GateVerdict {
        let lower_bound = wilson_lower_bound(evidence.matched, evidence.samples);
        let mut missing = Vec::new();
        if evidence.samples < self.min_samples {
            missing.push(format!(
                "{} more samples (have {}, need {})",
                self.min_samples - evidence.samples,
                evidence.samples,
                self.min_samples
            ));
        }
        if evidence.pages < self.min_pages {
            missing.push(format!(
                "reports from {} more pages (have {}, need {})",
                self.min_pages - evidence.pages,
                evidence.pages,
                self.min_pages
            ));
        }
        let users_needed = self.min_pages.min(2);
        if evidence.users < users_needed {
            missing.push(format!(
                "reports from {} more users (have {}, need {})",
                users_needed - evidence.users,
                evidence.users,
                users_needed
            ));
        }
        if lower_bound < self.min_match_rate {
            let more = self.matching_samples_needed(evidence);
            let rate = if evidence.samples == 0 {
                0.0
            } else {
                evidence.matched as f64 / evidence.samples as f64
            };
            missing.push(match more {
                Some(more) => format!(
                    "match rate {:.2} % (lower bound {:.2} %) is below {:.2} %: about {more} more \
                     matching samples without a mismatch",
                    rate * 100.0,
                    lower_bound * 100.0,
                    self.min_match_rate * 100.0
                ),
                None => format!(
                    "match rate {:.2} % (lower bound {:.2} %) is below {:.2} %, and no number of \
                     further matches reaches it soon: find the mismatches first",
                    rate * 100.0,
                    lower_bound * 100.0,
                    self.min_match_rate * 100.0
                ),
            });
        }
        GateVerdict {
            open: missing.is_empty(),
            lower_bound,
            missing,
        }
    }

    /// How many more matches in a row would lift the lower bound to the threshold (`None` if
    /// more than a million would be needed).
    fn matching_samples_needed(&self, evidence: Evidence) -> Option<u64> {
        let reaches = |extra: u64| {
            wilson_lower_bound(evidence.matched + extra, evidence.samples + extra)
                >= self.min_match_rate
        };
        let mut high = 1u64;
        while !reaches(high) {
            high *= 2;
            if high > 1_000_000 {
                return None;
            }
        }
        let mut low = high / 2;
        while low + 1 < high {
            let mid = (low + high) / 2;
            if reaches(mid) {
                high = mid;
            } else {
                low = mid;
            }
        }
        Some(high)
    }
}

/// The whole deployment, as the seeds' status script named it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Mode {
    /// No feature renders from the socket.
    Shadow,
    /// Some do.
    PartialCutover,
    /// Every feature is live for every session.
    FullCutover,
}

impl Mode {
    pub fn of(flags: &Flags) -> Mode {
        let live: Vec<bool> = Feature::ALL
            .iter()
            .map(|f| flags.flag(*f).stage == Stage::Live)
            .collect();
        let full = Feature::ALL.iter().all(|f| {
            let flag = flags.flag(*f);
            flag.stage == Stage::Live && flag.ramp >= 100
        });
        if full {
            Mode::FullCutover
        } else if live.iter().any(|l| *l) {
            Mode::PartialCutover
        } else {
            Mode::Shadow
        }
    }

    pub fn headline(self) -> &'static str {
        match self {
            Mode::Shadow => "⚪ SHADOW MODE - All features using REST (WebSocket logging)",
            Mode::PartialCutover => "✅ PARTIAL CUTOVER - Some features using WebSocket",
            Mode::FullCutover => "✅ FULL CUTOVER - All features using WebSocket",
        }
    }
}

/// How a feature shows in the status: the seeds' three marks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mark {
    /// ✅ live for every session, and every open page has confirmed it.
    Ws,
    /// ⚪ REST or shadow, confirmed.
    Rest,
    /// ⚡ a partial ramp, or open pages that have not yet confirmed the current flag.
    Transitioning,
}

impl Mark {
    pub fn label(self) -> &'static str {
        match self {
            Mark::Ws => "✅ WS",
            Mark::Rest => "⚪ REST",
            Mark::Transitioning => "⚡ Transitioning",
        }
    }
}

/// Open pages of a feature, by what they last confirmed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageCounts {
    pub websocket: u64,
    pub rest: u64,
    pub fallen_back: u64,
    /// Pages whose last report applied an older flags version.
    pub unconfirmed: u64,
}

/// One feature in `GET /api/cutover`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureStatus {
    pub feature: Feature,
    pub flag: Flag,
    pub mark: Mark,
    /// The variable that gives the starting stage, and the stage it gave.
    pub variable: String,
    pub start: Stage,
    /// A change made at run time overrides the variable (until cleared).
    pub overridden: bool,
    /// The flags version of the feature's last change.
    pub changed_version: u64,
    pub changed_at: Option<i64>,
    pub changed_by: Option<String>,
    pub reason: Option<String>,
    pub parity: ParityCounts,
    pub pages_reporting: u64,
    pub users_reporting: u64,
    pub last_diffs: Vec<Diff>,
    pub lag_ms: Option<u64>,
    pub gate: GateVerdict,
    pub pages: PageCounts,
    /// How long ago the server last published the feature, in ms.
    pub last_update_age_ms: Option<u64>,
    /// REST requests for the feature over the last five minutes, summed over every live instance
    /// (see [`CutoverStatus::instances`]).
    pub rest_requests_5m: u64,
    /// Set while a feature that was rolled back automatically may not go live unforced.
    pub cooldown_until: Option<i64>,
    /// The last automatic rollback, if any, in words.
    pub last_rollback: Option<String>,
}

/// `GET /api/cutover`: the flags, each feature's evidence, and this session's ramp bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CutoverStatus {
    pub flags: Flags,
    pub mode: Mode,
    pub features: Vec<FeatureStatus>,
    pub gate_rule: GateRule,
    /// The asking session's ramp bucket (0 to 99).
    pub bucket: u8,
    /// Median and worst time from a change to a page confirming it, over recent changes (ms),
    /// measured by every live instance.
    pub propagation_p50_ms: Option<u64>,
    pub propagation_max_ms: Option<u64>,
    /// The instances serving now (seen within a few seconds), the one that answered included;
    /// the figures above are their sums. Empty from a server older than this field.
    #[serde(default)]
    pub instances: Vec<InstanceStatus>,
}

/// One running instance of the server, as it last told the shared database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceStatus {
    /// Unique per process: its address, process id and a random part.
    pub id: String,
    /// The address it serves on.
    pub addr: String,
    /// Whether it holds the jobs lease (runs the jobs and judges live features).
    pub lease_holder: bool,
    /// The flags version its pages were last sent (`None` before the first).
    pub flags_version: Option<u64>,
    /// Open WebSocket connections.
    pub sockets: u64,
    /// When it started and when it last wrote its row (ms since the Unix epoch).
    pub started_at: i64,
    pub last_seen: i64,
    /// The instance that answered this status.
    #[serde(default)]
    pub answering: bool,
}

impl CutoverStatus {
    /// Features an operator should look at: rolled back (cooling down), shadow evidence below
    /// the gate because REST and the socket disagreed, pages fallen back or not yet confirming;
    /// and a fleet where no instance holds the jobs lease.
    pub fn needs_attention(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if !self.instances.is_empty() && !self.instances.iter().any(|i| i.lease_holder) {
            notes.push(
                "no instance holds the jobs lease: nothing publishes or judges live features"
                    .to_string(),
            );
        }
        for f in &self.features {
            let name = f.feature.name();
            if let Some(rollback) = &f.last_rollback
                && f.cooldown_until.is_some()
            {
                notes.push(format!("{name}: rolled back automatically ({rollback})"));
            }
            // Disagreements need a look; a clean feature that only needs more samples or pages
            // is still gathering its proof.
            let disagreed = f.parity.mismatched + f.parity.missing_on_ws;
            if f.flag.stage == Stage::Shadow && !f.gate.open && disagreed > 0 {
                notes.push(format!(
                    "{name}: shadow parity below its gate ({disagreed} of {} samples disagree)",
                    f.parity.samples()
                ));
            }
            if f.pages.fallen_back > 0 {
                notes.push(format!(
                    "{name}: {} page(s) fell back to REST",
                    f.pages.fallen_back
                ));
            }
            if f.mark == Mark::Transitioning && !f.flag.is_partial() {
                notes.push(format!(
                    "{name}: {} page(s) have not confirmed the change",
                    f.pages.unconfirmed
                ));
            }
        }
        notes
    }
}

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

#[cfg(test)]
mod gate_tests {
    use super::*;

    const RULE: GateRule = GateRule {
        min_match_rate: 0.995,
        min_samples: 100,
        min_pages: 2,
    };

    fn evidence(matched: u64, samples: u64) -> Evidence {
        Evidence {
            matched,
            samples,
            pages: 3,
            users: 2,
        }
    }

    #[test]
    fn the_wilson_bound_has_the_textbook_values() {
        // 95 % Wilson score intervals: 10/10 → [0.7225, 1], 5/10 → [0.2366, 0.7634].
        for (matched, samples, lower) in [
            (10, 10, 0.722_467),
            (5, 10, 0.236_593),
            (990, 1000, 0.981_691),
            (700, 800, 0.850_275),
        ] {
            let bound = wilson_lower_bound(matched, samples);
            assert!(
                (bound - lower).abs() < 1e-6,
                "{matched}/{samples}: {bound} is not {lower}"
            );
        }
    }

    #[test]
    fn exactly_the_minimum_of_each_requirement_opens_the_gate() {
        let rule = GateRule {
            min_match_rate: wilson_lower_bound(100, 100),
            min_samples: 100,
            min_pages: 2,
        };
        let verdict = rule.judge(Evidence {
            matched: 100,
            samples: 100,
            pages: 2,
            users: 2,
        });
        assert!(verdict.open, "{verdict:?}");
        assert_eq!(verdict.lower_bound, rule.min_match_rate);
    }

    #[test]
    fn a_rate_below_the_threshold_is_told_with_the_observed_rate_and_its_bound() {
        let verdict = RULE.judge(evidence(700, 800));
        let text = verdict.missing.join("; ");
        assert!(
            text.contains("match rate 87.50 % (lower bound 85.03 %) is below 99.50 %"),
            "{text}"
        );
        let nothing = RULE.judge(evidence(0, 0));
        assert_eq!(nothing.lower_bound, 0.0);
        assert!(
            nothing.missing.join("; ").contains("match rate 0.00 %"),
            "{nothing:?}"
        );
    }

    #[test]
    fn the_matches_still_needed_are_the_fewest_that_reach_the_threshold() {
        let text = RULE.judge(evidence(40, 40)).missing.join("; ");
        assert!(
            text.contains("about 725 more matching samples without a mismatch"),
            "{text}"
        );
        let rates = [0.9, 0.99, 0.995, 0.999];
        let cases = [(0, 1), (1, 1), (40, 40), (700, 800), (990, 1000), (5, 10)];
        for min_match_rate in rates {
            let rule = GateRule {
                min_match_rate,
                ..RULE
            };
            for (matched, samples) in cases {
                let reaches = |extra: u64| {
                    wilson_lower_bound(matched + extra, samples + extra) >= min_match_rate
                };
                if reaches(0) {
                    continue; // already above: the gate does not ask
                }
                let more = rule
                    .matching_samples_needed(evidence(matched, samples))
                    .expect("within a million");
                assert!(
                    reaches(more) && !reaches(more - 1),
                    "{matched}/{samples} at {min_match_rate}: {more}"
                );
            }
        }
    }

    #[test]
    fn evidence_too_far_below_the_threshold_says_to_find_the_mismatches() {
        // A 0 % match rate over 10 000 samples needs about two million matches in a row.
        let far = evidence(0, 10_000);
        assert_eq!(RULE.matching_samples_needed(far), None);
        let text = RULE.judge(far).missing.join("; ");
        assert!(text.contains("find the mismatches first"), "{text}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ramp_is_live_for_the_buckets_below_it_and_shadow_for_the_rest() {
        let flag = Flag {
            stage: Stage::Live,
            ramp: 10,
        };
        assert_eq!(flag.stage_for(0), Stage::Live);
        assert_eq!(flag.stage_for(9), Stage::Live);
        assert_eq!(flag.stage_for(10), Stage::Shadow);
        assert_eq!(flag.stage_for(99), Stage::Shadow);
        assert_eq!(Flag::new(Stage::Live).stage_for(99), Stage::Live);
        assert_eq!(Flag::new(Stage::Rest).stage_for(0), Stage::Rest);
        assert!(flag.is_partial());
    }

    #[test]
    fn the_wilson_bound_is_cautious_with_few_samples() {
        assert_eq!(wilson_lower_bound(0, 0), 0.0);
        let few = wilson_lower_bound(10, 10);
        let many = wilson_lower_bound(1000, 1000);
        assert!(few < 0.75 && few > 0.65, "{few}");
        assert!(many > 0.996, "{many}");
        let with_misses = wilson_lower_bound(990, 1000);
        assert!(with_misses < 0.99 && with_misses > 0.98, "{with_misses}");
    }

    #[test]
    fn the_gate_says_what_is_missing() {
        let rule = GateRule {
            min_match_rate: 0.995,
            min_samples: 100,
            min_pages: 2,
        };
        let thin = rule.judge(Evidence {
            matched: 40,
            samples: 40,
            pages: 1,
            users: 1,
        });
        assert!(!thin.open);
        let text = thin.missing.join("; ");
        assert!(text.contains("60 more samples"), "{text}");
        assert!(text.contains("1 more pages"), "{text}");
        assert!(text.contains("more matching samples"), "{text}");

        let proven = rule.judge(Evidence {
            matched: 800,
            samples: 800,
            pages: 3,
            users: 2,
        });
        assert!(proven.open, "{proven:?}");

        let one_user = rule.judge(Evidence {
            matched: 800,
            samples: 800,
            pages: 3,
            users: 1,
        });
        assert!(!one_user.open, "one trader's tabs are not enough");

        let broken = rule.judge(Evidence {
            matched: 700,
            samples: 800,
            pages: 3,
            users: 2,
        });
        assert!(!broken.open);
        assert!(broken.missing.join(" ").contains("below 99.50 %"));
    }

    fn shadow_status(parity: ParityCounts, gate_open: bool) -> CutoverStatus {
        let flag = Flag::new(Stage::Shadow);
        let feature = FeatureStatus {
            feature: Feature::Intraday,
            flag,
            mark: Mark::Rest,
            variable: "WS_FEATURE_INTRADAY".into(),
            start: Stage::Shadow,
            overridden: false,
            changed_version: 0,
            changed_at: None,
            changed_by: None,
            reason: None,
            parity,
            pages_reporting: 4,
            users_reporting: 2,
            last_diffs: vec![],
            lag_ms: None,
            gate: GateVerdict {
                open: gate_open,
                lower_bound: 0.5,
                missing: vec![],
            },
            pages: PageCounts::default(),
            last_update_age_ms: None,
            rest_requests_5m: 0,
            cooldown_until: None,
            last_rollback: None,
        };
        CutoverStatus {
            flags: Flags {
                version: 0,
                features: [(Feature::Intraday, flag)].into(),
            },
            mode: Mode::Shadow,
            features: vec![feature],
            gate_rule: GateRule {
                min_match_rate: 0.8,
                min_samples: 20,
                min_pages: 2,
            },
            bucket: 0,
            propagation_p50_ms: None,
            propagation_max_ms: None,
            instances: vec![],
        }
    }

    #[test]
    fn only_disagreement_below_the_gate_needs_attention_not_too_few_samples() {
        let clean = ParityCounts {
            matched: 4,
            ..ParityCounts::default()
        };
        assert_eq!(
            shadow_status(clean, false).needs_attention(),
            Vec::<String>::new(),
            "100 % parity that needs more samples is still gathering"
        );
        let broken = ParityCounts {
            matched: 4,
            mismatched: 1,
            ..ParityCounts::default()
        };
        assert_eq!(
            shadow_status(broken, false).needs_attention(),
            vec!["intraday: shadow parity below its gate (1 of 5 samples disagree)".to_string()]
        );
        let missing = ParityCounts {
            matched: 40,
            missing_on_ws: 2,
            ..ParityCounts::default()
        };
        assert_eq!(
            shadow_status(missing.clone(), false)
                .needs_attention()
                .len(),
            1
        );
        assert!(
            shadow_status(missing, true).needs_attention().is_empty(),
            "an open gate tolerates a few disagreements"
        );
    }

    #[test]
    fn the_mode_follows_the_seeds() {
        let mut flags = Flags {
            version: 1,
            features: Feature::ALL
                .into_iter()
                .map(|f| (f, Flag::new(Stage::Shadow)))
                .collect(),
        };
        assert_eq!(Mode::of(&flags), Mode::Shadow);
        flags
            .features
            .insert(Feature::Positions, Flag::new(Stage::Live));
        assert_eq!(Mode::of(&flags), Mode::PartialCutover);
        for f in Feature::ALL {
            flags.features.insert(f, Flag::new(Stage::Live));
        }
        assert_eq!(Mode::of(&flags), Mode::FullCutover);
        flags.features.insert(
            Feature::Intraday,
            Flag {
                stage: Stage::Live,
                ramp: 50,
            },
        );
        assert_eq!(Mode::of(&flags), Mode::PartialCutover);
    }

    #[test]
    fn an_audit_entry_says_what_the_change_was_judged_on() {
        let entry = |evidence: serde_json::Value| AuditEntry {
            version: 3,
            at: 0,
            actor: "automatic".into(),
            feature: Feature::Positions,
            from: Flag::new(Stage::Live),
            to: Flag::new(Stage::Rest),
            reason: "pages of 2 users had no update".into(),
            forced: false,
            automatic: true,
            evidence,
        };
        let rollback = entry(serde_json::json!({
            "evidence": {"matched": 12, "samples": 13, "pages": 2, "users": 2},
            "gate": {"open": false, "lower_bound": 0.6},
            "rollback": {"users_with_gaps": 0, "stale_pages": 2, "server_silent_ms": 4_200, "hub_gaps": 0},
        }));
        assert_eq!(
            rollback.evidence_summary(),
            "parity 12/13 from 2 pages of 2 users; gate closed; judged on: 2 pages without \
             updates, last published 4 s before"
        );
        let gaps = entry(serde_json::json!({
            "gate": {"open": true},
            "rollback": {"users_with_gaps": 2, "stale_pages": 0, "server_silent_ms": null, "hub_gaps": 5},
        }));
        assert_eq!(
            gaps.evidence_summary(),
            "gate open; judged on: 2 users with unhealed gaps, 5 messages lost by the hub"
        );
        assert_eq!(entry(serde_json::json!({})).evidence_summary(), "—");
    }
}
