//! What an operator reads (API, CLI and the Cutover Status panel alike): the mode and marks in
//! the seeds' words, each feature's status, the fleet's instances.

use super::{Diff, Flag, Flags, GateRule, GateVerdict, ParityCounts, Stage};
use crate::feature::Feature;
use serde::{Deserialize, Serialize};

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
