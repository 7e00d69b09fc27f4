//! What an operator sends (changes, the global rollback, the fault switch), the audit trail it
//! leaves, and a signed-in user's own view of the cutover.

use super::{Diff, Flag, Flags, ParityCounts, Source, Stage};
use crate::feature::Feature;
use serde::{Deserialize, Serialize};

/// Why a change was made, as the audit trail keeps it: said (trimmed) and at most
/// [`Reason::MAX_CHARS`] characters. Parsed where the text comes in (the request body, the
/// CLI's `--reason`, the page's field), so nothing past the edge holds a reason that is not one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Reason(String);

impl Reason {
    pub const MAX_CHARS: usize = 500;

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Reason {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err("say why: a reason is required for every change".into());
        }
        if trimmed.chars().count() > Self::MAX_CHARS {
            return Err(format!(
                "the reason is at most {} characters",
                Self::MAX_CHARS
            ));
        }
        Ok(Reason(trimmed.to_string()))
    }
}

impl std::str::FromStr for Reason {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Reason::try_from(text.to_string())
    }
}

impl From<Reason> for String {
    fn from(reason: Reason) -> String {
        reason.0
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The share of sessions a live flag serves: 1 to 100 percent. Written `10`, `10%` or `10 %`
/// by a person ([`str::parse`]); a bare number on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u64", into = "u8")]
pub struct Ramp(u8);

impl Ramp {
    /// Every session.
    pub const ALL: Ramp = Ramp(100);

    pub fn percent(self) -> u8 {
        self.0
    }
}

impl TryFrom<u64> for Ramp {
    type Error = String;

    fn try_from(percent: u64) -> Result<Self, String> {
        match u8::try_from(percent) {
            Ok(p) if (1..=100).contains(&p) => Ok(Ramp(p)),
            _ => Err(format!(
                "a ramp is a share of sessions from 1% to 100%, not {percent}"
            )),
        }
    }
}

impl std::str::FromStr for Ramp {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let number = text.trim().trim_end_matches('%').trim();
        number
            .parse::<u64>()
            .map_err(|_| format!("{text:?} is not a share of sessions from 1% to 100%"))
            .and_then(Ramp::try_from)
    }
}

impl From<Ramp> for u8 {
    fn from(ramp: Ramp) -> u8 {
        ramp.0
    }
}

/// A change an operator asks for (`POST /api/cutover/{feature}`), checked whole when it is
/// made or read: a [`Reason`], and a [`Ramp`] only when going live. Going live without the
/// gate's proof (`force`) is audited as forced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ChangeBody", into = "ChangeBody")]
pub struct ChangeRequest {
    to: Flag,
    reason: Reason,
    force: bool,
}

/// [`ChangeRequest`] as it travels.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangeBody {
    stage: Stage,
    /// Percent of sessions when going live (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ramp: Option<Ramp>,
    reason: Reason,
    #[serde(default)]
    force: bool,
}

impl ChangeRequest {
    /// Moves to `stage` (live for `ramp` of sessions, every session when `None`).
    pub fn new(
        stage: Stage,
        ramp: Option<Ramp>,
        reason: Reason,
        force: bool,
    ) -> Result<Self, String> {
        ChangeBody {
            stage,
            ramp,
            reason,
            force,
        }
        .try_into()
    }

    /// The flag asked for.
    pub fn to(&self) -> Flag {
        self.to
    }

    pub fn reason(&self) -> &Reason {
        &self.reason
    }

    /// Live without the gate's proof; never set for another stage.
    pub fn force(&self) -> bool {
        self.force
    }
}

impl TryFrom<ChangeBody> for ChangeRequest {
    type Error = String;

    fn try_from(body: ChangeBody) -> Result<Self, String> {
        let ramp = match (body.stage, body.ramp) {
            (Stage::Live, ramp) => ramp.unwrap_or(Ramp::ALL),
            (_, None) => Ramp::ALL,
            (_, Some(_)) => return Err("a ramp applies only when going live".into()),
        };
        Ok(ChangeRequest {
            to: Flag {
                stage: body.stage,
                ramp: ramp.percent(),
            },
            reason: body.reason,
            force: body.force && body.stage == Stage::Live,
        })
    }
}

impl From<ChangeRequest> for ChangeBody {
    fn from(request: ChangeRequest) -> ChangeBody {
        let to = request.to;
        ChangeBody {
            stage: to.stage,
            ramp: (to.stage == Stage::Live && to.ramp < 100).then_some(Ramp(to.ramp)),
            reason: request.reason,
            force: request.force,
        }
    }
}

/// `POST /api/cutover/rollback`: every feature back to REST at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    pub reason: Reason,
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
    /// Who made the change, as the page's audit trail and `thor cutover history` say it:
    /// `automatic`, the operator, or the operator with `(forced)` when the gate was skipped.
    pub fn who(&self) -> String {
        if self.automatic {
            "automatic".to_string()
        } else if self.forced {
            format!("{} (forced)", self.actor)
        } else {
            self.actor.clone()
        }
    }

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
mod tests {
    use super::*;
    use serde_json::json;

    fn request(body: serde_json::Value) -> Result<ChangeRequest, String> {
        serde_json::from_value(body).map_err(|e| e.to_string())
    }

    #[test]
    fn a_reason_is_said_trimmed_and_short() {
        assert_eq!(
            "  moving on  ".parse::<Reason>().map(String::from),
            Ok("moving on".into())
        );
        for empty in ["", "   ", "\n\t"] {
            let error = empty.parse::<Reason>().err().unwrap_or_default();
            assert!(error.contains("say why"), "{empty:?}: {error}");
        }
        assert!("é".repeat(500).parse::<Reason>().is_ok());
        let error = "é".repeat(501).parse::<Reason>().err().unwrap_or_default();
        assert!(error.contains("at most 500"), "{error}");
    }

    #[test]
    fn ramps_read_like_percentages() {
        for (text, percent) in [("10%", 10), (" 50 % ", 50), ("100", 100), ("1", 1)] {
            assert_eq!(
                text.parse::<Ramp>().map(Ramp::percent),
                Ok(percent),
                "{text}"
            );
        }
        for bad in ["0", "101", "300%", "half", "-5%", ""] {
            let error = bad.parse::<Ramp>().err().unwrap_or_default();
            assert!(error.contains("1% to 100%"), "{bad:?}: {error}");
        }
    }

    /// The body is checked whole as it is read: nothing invalid reaches the control plane.
    #[test]
    fn a_change_request_is_refused_as_it_is_read_when_it_makes_no_sense() {
        let cases = [
            (json!({"stage": "live", "reason": "   "}), "say why"),
            (json!({"stage": "live", "ramp": 0, "reason": "x"}), "not 0"),
            (
                json!({"stage": "live", "ramp": 101, "reason": "x"}),
                "not 101",
            ),
            (
                json!({"stage": "live", "ramp": 300, "reason": "x"}),
                "not 300",
            ),
            (
                json!({"stage": "shadow", "ramp": 10, "reason": "x"}),
                "only when going live",
            ),
            (
                json!({"stage": "live", "reason": "x", "extra": 1}),
                "unknown field",
            ),
            (
                json!({"stage": "sideways", "reason": "x"}),
                "unknown variant",
            ),
        ];
        for (body, said) in cases {
            let error = request(body.clone()).err().unwrap_or_default();
            assert!(error.contains(said), "{body}: {error}");
        }
    }

    #[test]
    fn a_change_request_reads_what_it_was_sent_and_travels_unchanged() {
        let half = request(json!({"stage": "live", "ramp": 50, "reason": " half ", "force": true}));
        let half = half.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            half.to(),
            Flag {
                stage: Stage::Live,
                ramp: 50
            }
        );
        assert_eq!(half.reason().as_str(), "half");
        assert!(half.force());
        let all =
            request(json!({"stage": "live", "reason": "x"})).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(all.to(), Flag::new(Stage::Live));
        // Forcing means skipping the gate to go live; it is not carried to another stage.
        let back = request(json!({"stage": "rest", "reason": "x", "force": true}));
        assert!(!back.unwrap_or_else(|e| panic!("{e}")).force());
        for sent in [half, all] {
            let wire = serde_json::to_value(&sent).unwrap_or_default();
            assert_eq!(request(wire).ok(), Some(sent));
        }
    }
}
