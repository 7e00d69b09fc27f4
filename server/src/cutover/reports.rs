//! What pages report, and the evidence it adds up to.
//!
//! A report is **bounded**: its page id, features, diffs and texts have size limits, and a page
//! cannot claim more compared samples than it can have made since its previous report (one per
//! REST poll at the feature's cadence; for bars, one per symbol and minute): more is clamped
//! and counted. It is **attributed**: every row keeps the user whose session sent it, a page id
//! belongs to the session that first used it, and the gate and the rollback rules count
//! distinct users as well as pages, so one page, or one trader's tabs, cannot open a gate or
//! roll a feature back alone.

use crate::db::Database;
use crate::error::ApiError;
use crate::on_pool;
use anyhow::Context;
use std::collections::{BTreeMap, BTreeSet};
use thor_core::cutover::{
    Diff, FeatureReport, GateEvidence, GateRule, GateVerdict, MAX_PAGE_ID, MAX_REPORT_DIFFS,
    PageCounts, PageReport, ParityCounts, Source,
};
use thor_core::feature::Feature;

/// Diffs the server keeps per feature.
const KEEP_DIFFS: i64 = 20;
/// Diffs the server keeps per feature and user beyond those (each trader's own last few).
const KEEP_OWN_DIFFS: i64 = 5;
/// Longest text kept of a diff's fields.
const MAX_DIFF_TEXT: usize = 200;
/// A first report is judged as if the page had been open this long.
const FIRST_REPORT_WINDOW_MS: i64 = 60_000;
/// After a feature's change, a page's first report is judged as if this long at most had passed.
const MAX_REPORT_WINDOW_MS: i64 = 300_000;

/// Refuses a report whose shape is out of bounds (before anything is written).
pub fn check(report: &PageReport) -> Result<(), ApiError> {
    let id = &report.page_id;
    if id.is_empty()
        || id.len() > MAX_PAGE_ID
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ApiError::BadRequest(format!(
            "page_id must be 1 to {MAX_PAGE_ID} letters, digits, '-' or '_'"
        )));
    }
    let mut seen = BTreeSet::new();
    for feature in &report.features {
        if !seen.insert(feature.feature) {
            return Err(ApiError::BadRequest(format!(
                "{} is reported twice",
                feature.feature
            )));
        }
        if feature.diffs.len() > MAX_REPORT_DIFFS {
            return Err(ApiError::BadRequest(format!(
                "at most {MAX_REPORT_DIFFS} diffs per feature"
            )));
        }
        if feature.parity.ignored.len() > 16 {
            return Err(ApiError::BadRequest(
                "at most 16 reasons for ignored pairs".into(),
            ));
        }
    }
    Ok(())
}

/// The most samples a page can have compared of `feature` in `window_ms`.
fn most_samples(feature: Feature, window_ms: i64, symbols: usize) -> u64 {
    let window = window_ms.max(0) as u64;
    match feature {
        Feature::Intraday => (window / 60_000 + 2) * symbols as u64,
        _ => window / feature.cadence().as_millis().max(1) as u64 + 2,
    }
}

/// Scales `counts` down to at most `most` samples; says whether it had to.
fn clamp(counts: &ParityCounts, most: u64) -> (ParityCounts, bool) {
    let samples = counts.samples();
    if samples <= most {
        return (counts.clone(), false);
    }
    let scale = |n: u64| (n as u128 * most as u128 / samples.max(1) as u128) as u64;
    (
        ParityCounts {
            matched: scale(counts.matched),
            mismatched: scale(counts.mismatched),
            missing_on_ws: scale(counts.missing_on_ws),
            ignored: counts.ignored.clone(),
        },
        true,
    )
}

fn short(text: &str) -> String {
    text.chars().take(MAX_DIFF_TEXT).collect()
}

#[derive(sqlx::FromRow)]
struct Existing {
    user_id: i64,
    since_version: i64,
    matched: i64,
    mismatched: i64,
    missing_on_ws: i64,
    ignored: i64,
    gaps: i64,
    first_seen: i64,
    last_seen: i64,
}

fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Adds `report` (from a session of `user_id`) to the evidence. `since` holds each feature's
/// last change version: counts from before it start afresh. Returns whether any count had to
/// be clamped.
pub async fn record(
    db: &Database,
    user_id: i64,
    report: &PageReport,
    since: &BTreeMap<Feature, u64>,
    now: i64,
    symbols: usize,
) -> Result<bool, ApiError> {
    let mut clamped_any = false;
    for feature_report in &report.features {
        let feature = feature_report.feature;
        let existing: Option<Existing> = on_pool!(db, pool => sqlx::query_as(
            "SELECT user_id, since_version, matched, mismatched, missing_on_ws, ignored, gaps, \
             first_seen, last_seen FROM cutover_pages WHERE page_id = $1 AND feature = $2",
        )
        .bind(&report.page_id)
        .bind(feature.name())
        .fetch_optional(pool)
        .await)
        .map_err(ApiError::database)?;
        if existing.as_ref().is_some_and(|e| e.user_id != user_id) {
            return Err(ApiError::Forbidden(
                "that page id belongs to another session; a page picks a fresh one".into(),
            ));
        }
        let since_version = signed(since.get(&feature).copied().unwrap_or(0));
        let carried = existing
            .as_ref()
            .filter(|e| e.since_version == since_version);
        // What this page can honestly have compared: one sample per poll at the feature's
        // cadence since it opened (a head start for its first report), less what it already
        // claimed; however it spaces its reports.
        let budget = match (&existing, carried) {
            (Some(e), Some(c)) => {
                let claimed = (c.matched + c.mismatched + c.missing_on_ws).max(0) as u64;
                most_samples(
                    feature,
                    now - e.first_seen + FIRST_REPORT_WINDOW_MS,
                    symbols,
                )
                .saturating_sub(claimed)
            }
            (Some(e), None) => most_samples(
                feature,
                (now - e.last_seen).min(MAX_REPORT_WINDOW_MS),
                symbols,
            ),
            (None, _) => most_samples(feature, FIRST_REPORT_WINDOW_MS, symbols),
        };
        let (counts, clamped) = clamp(&feature_report.parity, budget);
        clamped_any |= clamped;
        let ignored: u64 = counts.ignored.values().sum();
        let add = |old: Option<i64>, new: u64| old.unwrap_or(0).saturating_add(signed(new));
        let row = PageRow {
            matched: add(carried.map(|e| e.matched), counts.matched),
            mismatched: add(carried.map(|e| e.mismatched), counts.mismatched),
            missing_on_ws: add(carried.map(|e| e.missing_on_ws), counts.missing_on_ws),
            ignored: add(carried.map(|e| e.ignored), ignored),
            gaps: add(carried.map(|e| e.gaps), feature_report.gaps),
            first_seen: existing.as_ref().map_or(now, |e| e.first_seen),
        };
        upsert(
            db,
            user_id,
            report,
            feature_report,
            since_version,
            &row,
            now,
        )
        .await
        .map_err(|e| ApiError::database(format!("{e:#}")))?;
        for diff in &feature_report.diffs {
            let diff = Diff {
                at: short(&diff.at),
                field: short(&diff.field),
                rest: short(&diff.rest),
                ws: short(&diff.ws),
            };
            keep_diff(db, feature, user_id, &report.page_id, &diff, now)
                .await
                .map_err(|e| ApiError::database(format!("{e:#}")))?;
        }
    }
    Ok(clamped_any)
}

struct PageRow {
    matched: i64,
    mismatched: i64,
    missing_on_ws: i64,
    ignored: i64,
    gaps: i64,
    first_seen: i64,
}

async fn upsert(
    db: &Database,
    user_id: i64,
    report: &PageReport,
    feature: &FeatureReport,
    since_version: i64,
    row: &PageRow,
    now: i64,
) -> anyhow::Result<()> {
    let source = serde_json::to_value(feature.source)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    on_pool!(db, pool => sqlx::query(
        "INSERT INTO cutover_pages (page_id, feature, user_id, since_version, source, \
         applied_version, fell_back_at, matched, mismatched, missing_on_ws, ignored, gaps, \
         lag_ms, last_update_age_ms, first_seen, last_seen) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
         ON CONFLICT (page_id, feature) DO UPDATE SET since_version = excluded.since_version, \
         source = excluded.source, applied_version = excluded.applied_version, \
         fell_back_at = excluded.fell_back_at, matched = excluded.matched, \
         mismatched = excluded.mismatched, missing_on_ws = excluded.missing_on_ws, \
         ignored = excluded.ignored, gaps = excluded.gaps, lag_ms = excluded.lag_ms, \
         last_update_age_ms = excluded.last_update_age_ms, last_seen = excluded.last_seen",
    )
    .bind(&report.page_id)
    .bind(feature.feature.name())
    .bind(user_id)
    .bind(since_version)
    .bind(source)
    .bind(signed(report.applied_version))
    .bind(feature.fell_back_at)
    .bind(row.matched)
    .bind(row.mismatched)
    .bind(row.missing_on_ws)
    .bind(row.ignored)
    .bind(row.gaps)
    .bind(feature.lag_ms.map(signed))
    .bind(feature.last_update_age_ms.map(signed))
    .bind(row.first_seen)
    .bind(now)
    .execute(pool)
    .await
    .map(drop))
    .context("cannot record a page's report")
}

async fn keep_diff(
    db: &Database,
    feature: Feature,
    user_id: i64,
    page_id: &str,
    diff: &Diff,
    now: i64,
) -> anyhow::Result<()> {
    let text = serde_json::to_string(diff).context("cannot encode a diff")?;
    on_pool!(db, pool => {
        sqlx::query(
            "INSERT INTO cutover_diffs (feature, at, page_id, diff, user_id) \
             VALUES ($1, $2, $3, $4, $5)",
        )
            .bind(feature.name())
            .bind(now)
            .bind(page_id)
            .bind(&text)
            .bind(user_id)
            .execute(pool)
            .await
            .context("cannot keep a diff")?;
        // The newest of the feature, and each user's own newest: a busy page cannot push a
        // trader's last diffs out of what `GET /api/cutover/mine` shows them.
        sqlx::query(
            "DELETE FROM cutover_diffs WHERE id IN (SELECT id FROM (SELECT id, \
             ROW_NUMBER() OVER (ORDER BY id DESC) AS newest, \
             ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY id DESC) AS own \
             FROM cutover_diffs WHERE feature = $1) ranked WHERE newest > $2 AND own > $3)",
        )
        .bind(feature.name())
        .bind(KEEP_DIFFS)
        .bind(KEEP_OWN_DIFFS)
        .execute(pool)
        .await
        .context("cannot prune the diffs")?;
    });
    Ok(())
}

/// The last diffs of `feature`, newest first (every page's: for operators).
pub async fn last_diffs(db: &Database, feature: Feature) -> anyhow::Result<Vec<Diff>> {
    diffs(db, feature, None).await
}

/// The last diffs that pages of `user_id` reported of `feature`, newest first (what a trader
/// may see of the evidence: their own values only).
pub async fn last_diffs_of(
    db: &Database,
    feature: Feature,
    user_id: i64,
) -> anyhow::Result<Vec<Diff>> {
    diffs(db, feature, Some(user_id)).await
}

/// The last diffs of `feature`, of every page or of `reporter`'s pages only.
async fn diffs(
    db: &Database,
    feature: Feature,
    reporter: Option<i64>,
) -> anyhow::Result<Vec<Diff>> {
    let rows: Vec<String> = on_pool!(db, pool => sqlx::query_scalar(
        "SELECT diff FROM cutover_diffs WHERE feature = $1 AND ($2 IS NULL OR user_id = $2) \
         ORDER BY id DESC LIMIT $3",
    )
    .bind(feature.name())
    .bind(reporter)
    .bind(KEEP_DIFFS)
    .fetch_all(pool)
    .await)
    .context("cannot read the diffs")?;
    Ok(rows
        .iter()
        .filter_map(|text| serde_json::from_str(text).ok())
        .collect())
}

/// One page's row for a feature.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PageState {
    pub page_id: String,
    pub user_id: i64,
    pub since_version: i64,
    pub source: String,
    pub applied_version: i64,
    pub fell_back_at: Option<i64>,
    pub matched: i64,
    pub mismatched: i64,
    pub missing_on_ws: i64,
    pub ignored: i64,
    pub gaps: i64,
    pub lag_ms: Option<i64>,
    pub last_update_age_ms: Option<i64>,
    pub last_seen: i64,
}

impl PageState {
    pub fn source(&self) -> Option<Source> {
        serde_json::from_value(serde_json::Value::String(self.source.clone())).ok()
    }
}

pub async fn pages(db: &Database, feature: Feature) -> anyhow::Result<Vec<PageState>> {
    on_pool!(db, pool => sqlx::query_as(
        "SELECT page_id, user_id, since_version, source, applied_version, fell_back_at, \
         matched, mismatched, missing_on_ws, ignored, gaps, lag_ms, last_update_age_ms, \
         last_seen FROM cutover_pages WHERE feature = $1",
    )
    .bind(feature.name())
    .fetch_all(pool)
    .await)
    .context("cannot read the pages' reports")
}

/// The rows of `user_id`'s own pages for `feature`, most recent first.
pub async fn pages_of(
    db: &Database,
    feature: Feature,
    user_id: i64,
) -> anyhow::Result<Vec<PageState>> {
    on_pool!(db, pool => sqlx::query_as(
        "SELECT page_id, user_id, since_version, source, applied_version, fell_back_at, \
         matched, mismatched, missing_on_ws, ignored, gaps, lag_ms, last_update_age_ms, \
         last_seen FROM cutover_pages WHERE feature = $1 AND user_id = $2 \
         ORDER BY last_seen DESC LIMIT 50",
    )
    .bind(feature.name())
    .bind(user_id)
    .fetch_all(pool)
    .await)
    .context("cannot read the user's pages' reports")
}

pub async fn forget_before(db: &Database, before: i64) -> anyhow::Result<()> {
    on_pool!(db, pool => sqlx::query("DELETE FROM cutover_pages WHERE last_seen < $1")
        .bind(before)
        .execute(pool)
        .await
        .map(drop))
    .context("cannot forget old pages")
}

/// A feature's evidence: parity since its last change, the gate's verdict, and its open pages.
#[derive(Debug, Clone)]
pub struct FeatureEvidence {
    pub parity: ParityCounts,
    pub gate_evidence: GateEvidence,
    pub verdict: GateVerdict,
    pub pages: PageCounts,
    pub lag_ms: Option<u64>,
}

impl FeatureEvidence {
    /// From the pages' rows: counts of the rows since `since_version` (the feature's last
    /// change, which open pages within `page_timeout_ms` of `now` should have applied).
    pub fn gather(
        feature: Feature,
        since_version: u64,
        pages: &[PageState],
        now: i64,
        page_timeout_ms: i64,
        rule: &GateRule,
    ) -> FeatureEvidence {
        let _ = feature;
        let since = signed(since_version);
        let current: Vec<&PageState> = pages.iter().filter(|p| p.since_version == since).collect();
        let mut parity = ParityCounts::default();
        let mut users = BTreeSet::new();
        let mut reporting = 0u64;
        let mut lag_ms: Option<u64> = None;
        for page in &current {
            let counts = ParityCounts {
                matched: page.matched.max(0) as u64,
                mismatched: page.mismatched.max(0) as u64,
                missing_on_ws: page.missing_on_ws.max(0) as u64,
                ignored: thor_core::map::Map::new(),
            };
            if counts.samples() > 0 {
                reporting += 1;
                users.insert(page.user_id);
            }
            parity.add(&counts);
            if page.ignored > 0 {
                *parity.ignored.entry("all_reasons".into()).or_default() += page.ignored as u64;
            }
            if let Some(lag) = page.lag_ms {
                let lag = lag.max(0) as u64;
                lag_ms = Some(lag_ms.map_or(lag, |l| l.max(lag)));
            }
        }
        let gate_evidence = GateEvidence {
            matched: parity.matched,
            samples: parity.samples(),
            pages: reporting,
            users: users.len() as u64,
        };
        let mut counts = PageCounts::default();
        for page in pages
            .iter()
            .filter(|p| now - p.last_seen <= page_timeout_ms)
        {
            match page.source() {
                Some(Source::WebSocket) => counts.websocket += 1,
                Some(Source::RestFallback) => counts.fallen_back += 1,
                Some(Source::Rest | Source::RestShadow) | None => counts.rest += 1,
            }
            if page.applied_version < since {
                counts.unconfirmed += 1;
            }
        }
        FeatureEvidence {
            verdict: rule.judge(gate_evidence),
            parity,
            gate_evidence,
            pages: counts,
            lag_ms,
        }
    }

    /// As the audit trail keeps it.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "parity": self.parity,
            "evidence": self.gate_evidence,
            "gate": self.verdict,
            "pages": self.pages,
            "lag_ms": self.lag_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(matched: u64, mismatched: u64) -> ParityCounts {
        ParityCounts {
            matched,
            mismatched,
            ..ParityCounts::default()
        }
    }

    #[test]
    fn a_page_cannot_claim_more_samples_than_its_polls_allow() {
        // Balance polls every 10 s: a minute allows 6 polls (and two of slack).
        assert_eq!(most_samples(Feature::AccountBalance, 60_000, 5), 8);
        // Bars: one per symbol and minute.
        assert_eq!(most_samples(Feature::Intraday, 120_000, 5), 20);
        let (kept, clamped) = clamp(&counts(10_000, 0), 8);
        assert!(clamped);
        assert_eq!(kept.samples(), 8);
        let (kept, clamped) = clamp(&counts(3, 1), 8);
        assert!(!clamped);
        assert_eq!(kept, counts(3, 1));
    }

    #[test]
    fn reports_out_of_bounds_are_refused() {
        let report = |page_id: &str| PageReport {
            page_id: page_id.into(),
            applied_version: 1,
            features: vec![],
        };
        assert!(check(&report("tab-1")).is_ok());
        assert!(check(&report("")).is_err());
        assert!(check(&report("../etc")).is_err());
        assert!(check(&report(&"x".repeat(65))).is_err());
    }

    fn page(user: i64, since: i64, matched: i64, source: &str, applied: i64) -> PageState {
        PageState {
            page_id: format!("p{user}-{matched}"),
            user_id: user,
            since_version: since,
            source: source.into(),
            applied_version: applied,
            fell_back_at: None,
            matched,
            mismatched: 0,
            missing_on_ws: 0,
            ignored: 0,
            gaps: 0,
            lag_ms: Some(120),
            last_update_age_ms: None,
            last_seen: 1_000,
        }
    }

    #[test]
    fn evidence_counts_only_the_current_stage_and_open_pages() {
        let rule = GateRule {
            min_match_rate: 0.9,
            min_samples: 50,
            min_pages: 2,
        };
        let pages = vec![
            page(1, 4, 40, "rest_shadow", 4),
            page(2, 4, 30, "rest_shadow", 3),
            page(3, 2, 500, "rest_shadow", 2), // before the last change: not evidence
        ];
        let evidence = FeatureEvidence::gather(Feature::Positions, 4, &pages, 2_000, 30_000, &rule);
        assert_eq!(evidence.parity.matched, 70);
        assert_eq!(evidence.gate_evidence.pages, 2);
        assert_eq!(evidence.gate_evidence.users, 2);
        assert!(evidence.verdict.open, "{:?}", evidence.verdict);
        assert_eq!(evidence.pages.rest, 3);
        assert_eq!(evidence.pages.unconfirmed, 2);
        let later = FeatureEvidence::gather(Feature::Positions, 4, &pages, 60_000, 30_000, &rule);
        assert_eq!(
            later.pages,
            PageCounts::default(),
            "pages gone quiet are not open"
        );
    }
}
