//! What the control plane tells: the operator's whole status (every feature's flag, evidence,
//! gate and REST traffic, and the fleet), a gate's verdict, and a user's own view of it.

use super::*;

impl ControlPlane {
    /// Everything an operator (or the panel) needs to know, for a session in ramp `bucket`.
    pub async fn status(&self, bucket: u8) -> anyhow::Result<CutoverStatus> {
        let (flags, rows) = self.flags().await?;
        let now = now_ms();
        let fleet = self.fleet(now).await?;
        let mut features = Vec::new();
        for feature in Feature::ALL {
            let evidence = self.evidence(feature, &flags, &rows).await?;
            let flag = flags.flag(feature);
            let row = rows.get(&feature);
            let changed_version = row.map_or(0, |r| r.version);
            let mark = if flag.is_partial() || evidence.pages.unconfirmed > 0 {
                Mark::Transitioning
            } else if flag.stage == Stage::Live {
                Mark::Ws
            } else {
                Mark::Rest
            };
            let last_update_age_ms = feature
                .topics()
                .iter()
                .filter_map(|t| self.inner.hub.last_published_us(*t))
                .max()
                .map(|us| (now - us / 1000).max(0) as u64);
            let cooldown_until = self.cooldown_until(feature).await?;
            let last_rollback = flags::last_automatic_reason(&self.inner.db, feature).await?;
            features.push(FeatureStatus {
                feature,
                flag,
                mark,
                variable: feature.flag_variable().to_string(),
                start: self.inner.start[&feature],
                overridden: row.is_some(),
                changed_version,
                changed_at: row.map(|r| r.changed_at),
                changed_by: row.map(|r| r.changed_by.clone()),
                reason: row.map(|r| r.reason.clone()),
                parity: evidence.parity.clone(),
                pages_reporting: evidence.gate_evidence.pages,
                users_reporting: evidence.gate_evidence.users,
                last_diffs: reports::last_diffs(&self.inner.db, feature).await?,
                lag_ms: evidence.lag_ms,
                gate: evidence.verdict.clone(),
                pages: evidence.pages.clone(),
                last_update_age_ms,
                rest_requests_5m: fleet.rest_5m.get(&feature).copied().unwrap_or(0),
                cooldown_until,
                last_rollback,
            });
        }
        let (p50, max) = fleet.propagation();
        Ok(CutoverStatus {
            mode: Mode::of(&flags),
            flags,
            features,
            gate_rule: self.gate_rule(),
            bucket,
            propagation_p50_ms: p50,
            propagation_max_ms: max,
            instances: fleet.instances,
        })
    }

    /// The gate's verdict for `feature` now.
    pub async fn gate(&self, feature: Feature) -> anyhow::Result<GateVerdict> {
        let (flags, rows) = self.flags().await?;
        Ok(self.evidence(feature, &flags, &rows).await?.verdict)
    }

    /// What `user_id`, in ramp `bucket`, may know: the flags, the stage the session is served,
    /// and their own pages' reports (never another user's values).
    pub async fn mine(&self, user_id: i64, bucket: u8) -> anyhow::Result<MyCutover> {
        let (flags, rows) = self.flags().await?;
        let mut features = Vec::new();
        for feature in Feature::ALL {
            let flag = flags.flag(feature);
            let since = rows.get(&feature).map_or(0, |r| r.version);
            let pages = reports::pages_of(&self.inner.db, feature, user_id)
                .await?
                .into_iter()
                .map(|page| my_page(page, since))
                .collect();
            features.push(MyFeature {
                feature,
                flag,
                stage: flag.stage_for(bucket),
                pages,
                last_diffs: reports::last_diffs_of(&self.inner.db, feature, user_id).await?,
            });
        }
        Ok(MyCutover {
            flags,
            bucket,
            features,
        })
    }
}

/// A page's row as its own user sees it: counts from before the feature's last change (at
/// `since`) are history, not parity of the current stage.
fn my_page(page: reports::PageState, since: u64) -> MyPage {
    let current = u64::try_from(page.since_version).ok() == Some(since);
    let count = |n: i64| if current { n.max(0) as u64 } else { 0 };
    let mut ignored = thor_core::map::Map::new();
    if count(page.ignored) > 0 {
        ignored.insert("all_reasons".to_string(), count(page.ignored));
    }
    MyPage {
        source: page.source(),
        applied_version: page.applied_version.max(0) as u64,
        parity: thor_core::cutover::ParityCounts {
            matched: count(page.matched),
            mismatched: count(page.mismatched),
            missing_on_ws: count(page.missing_on_ws),
            ignored,
        },
        gaps: count(page.gaps),
        last_seen: page.last_seen,
        page_id: page.page_id,
    }
}
