//! The cutover control plane on the wire: each feature's stage, the `cutover` message that
//! carries every flag, what a page reports back, and the status an operator reads (API, CLI and
//! the Cutover Status panel alike). The rules that decide anything (which stage a page is on,
//! whether a gate opens) are pure functions here, so the server, the CLI and the page agree.
//!
//! One axis, the stage, seen four ways: [`Stage`] is what an operator sets (the flag, and the
//! `WS_FEATURE_*` starting stage); [`Source`] is what one page renders from (its stage, plus the
//! REST fallback a live page takes while its socket is down); [`Mark`] is the status panel's
//! word for one feature across the fleet (its stage, and whether every open page has applied
//! it); [`Mode`] is the whole fleet's in one word. Each is derived from the one before it.
//!
//! - here: the stage, a flag, the flags every page is sent, a page's source;
//! - `report`: what a page reports back;
//! - `gate`: the gate's rule and verdict;
//! - `status`: the operator's status and its wording;
//! - `control`: operators' requests, the audit trail, a user's own view.

mod control;
mod gate;
mod report;
mod status;

pub use control::*;
pub use gate::*;
pub use report::*;
pub use status::*;

use crate::feature::Feature;
use crate::map::Map;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a feature is in its move from REST polling to WebSocket push.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Pages poll REST only; the socket's messages for the feature are not used or logged.
    Rest,
    /// Pages render from REST, log every socket message (`[WS] <type>: …`) and compare the two.
    Shadow,
    /// Pages render from the socket and poll REST only while the socket is down or stale.
    Live,
}

crate::word::read_as_word! {
    Stage { Rest = "rest", Shadow = "shadow", Live = "live" }
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
    pub features: Map<Feature, Flag>,
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
        let thin = rule.judge(GateEvidence {
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

        let proven = rule.judge(GateEvidence {
            matched: 800,
            samples: 800,
            pages: 3,
            users: 2,
        });
        assert!(proven.open, "{proven:?}");

        let one_user = rule.judge(GateEvidence {
            matched: 800,
            samples: 800,
            pages: 3,
            users: 1,
        });
        assert!(!one_user.open, "one trader's tabs are not enough");

        let broken = rule.judge(GateEvidence {
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
