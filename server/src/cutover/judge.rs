//! The automatic rollback's loop: every live feature's health judged by [`rollback::Rule`], a
//! broken one sent back to REST, audited as `automatic` with what was judged.

use super::*;

impl ControlPlane {
    /// Judges every live feature and rolls back the ones that broke (the lease holder's job calls
    /// it).
    pub async fn judge_live_features(&self) -> anyhow::Result<()> {
        if self.inner.judging.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let result = self.judge().await;
        self.inner.judging.store(false, Ordering::Release);
        if result.is_ok() {
            self.inner.metrics.judgements.inc();
        }
        result
    }

    pub(super) async fn judge(&self) -> anyhow::Result<()> {
        let (flags, rows) = self.flags().await?;
        let now = now_ms();
        let mut changes = Vec::new();
        for feature in Feature::ALL {
            let flag = flags.flag(feature);
            if flag.stage != Stage::Live {
                continue;
            }
            let since = rows.get(&feature).map_or(0, |r| r.version);
            let pages = reports::pages(&self.inner.db, feature).await?;
            let server_silent_ms = feature
                .topics()
                .iter()
                .filter_map(|t| self.inner.hub.last_published_us(*t))
                .max()
                .map(|us| (now - us / 1000).max(0) as u64);
            let hub_gaps: u64 = feature
                .topics()
                .iter()
                .map(|t| self.inner.hub.metrics().gaps_of(*t))
                .sum();
            let baseline = self.lock_baseline().get(&feature).copied();
            let mut health = rollback::LiveHealth::gather(
                feature,
                since,
                &pages,
                now,
                self.inner.settings.page_timeout.as_millis() as i64,
                server_silent_ms,
                baseline.map(|b| hub_gaps.saturating_sub(b)),
            );
            let rule = rollback::Rule {
                stale_after_ms: rollback::stale_after_ms(
                    feature,
                    self.inner.settings.stale_after_cadences,
                ),
                min_users: self.gate_rule().min_pages.clamp(1, 2),
            };
            health.markets_closed = self.markets_closed(feature, now, rule.stale_after_ms);
            let Some(reason) = rule.judge(&health) else {
                continue;
            };
            let evidence = self.evidence(feature, &flags, &rows).await?;
            let mut evidence_json = evidence.json();
            if let Some(object) = evidence_json.as_object_mut() {
                object.insert("rollback".into(), health.json());
            }
            tracing::warn!(feature = feature.name(), %reason, "rolled back to REST automatically");
            changes.push(Change {
                feature,
                from: flag,
                to: Flag::new(Stage::Rest),
                clears: false,
                actor: AUTOMATIC.to_string(),
                reason,
                forced: false,
                automatic: true,
                evidence: evidence_json,
            });
        }
        self.apply(&changes, now).await?;
        Ok(())
    }

    /// Whether `feature` is quiet because its markets are: all closed now, or closed less than
    /// `grace_ms` ago (after the open, the first trades and the pages' next reports need a
    /// moment before their silence means anything again).
    fn markets_closed(&self, feature: Feature, now: i64, grace_ms: u64) -> bool {
        let Some(hours) = self.inner.market_hours.get() else {
            return false;
        };
        let mut seen = self
            .inner
            .closed_seen
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if hours.closed_for(feature) {
            seen.insert(feature, now);
            return true;
        }
        let grace = i64::try_from(grace_ms).unwrap_or(i64::MAX);
        seen.get(&feature)
            .is_some_and(|closed| now.saturating_sub(*closed) <= grace)
    }

    /// Forgets pages gone for a day (the job calls it now and then).
    pub async fn forget_old_pages(&self) -> anyhow::Result<()> {
        reports::forget_before(&self.inner.db, now_ms() - 24 * 3600 * 1000).await
    }
}
