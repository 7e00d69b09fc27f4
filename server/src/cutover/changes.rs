//! Changing a flag: an operator's change (checked against the gate and the cooldown), clearing
//! an override, the global rollback. Every change, automatic ones too, ends the same way
//! ([`ControlPlane::apply`]): recorded with its evidence, counted, then the flags re-read and
//! published.

use super::*;

/// Why a change was not made. The request itself was checked at the edge ([`ChangeRequest`],
/// [`Reason`]); what is left is the gate and the database.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error("{feature} may not go live yet: {}; use --force to go live anyway", missing.join("; "))]
    Gate {
        feature: Feature,
        missing: Vec<String>,
    },
    #[error("the database is not answering")]
    Storage(#[from] anyhow::Error),
}

impl From<ChangeError> for ApiError {
    fn from(error: ChangeError) -> Self {
        match error {
            gate @ ChangeError::Gate { .. } => ApiError::Conflict(gate.to_string()),
            ChangeError::Storage(e) => ApiError::database(format!("{e:#}")),
        }
    }
}

impl ControlPlane {
    /// Moves `feature` as an operator asked (the request was checked where it came in). Going live from anything else needs the gate's
    /// proof (and no cooldown after an automatic rollback) unless forced.
    pub async fn change(
        &self,
        actor: &str,
        feature: Feature,
        request: &ChangeRequest,
    ) -> Result<Flags, ChangeError> {
        let to = request.to();
        let (flags, rows) = self.flags().await?;
        let from = flags.flag(feature);
        let evidence = self.evidence(feature, &flags, &rows).await?;
        if to.stage == Stage::Live && from.stage != Stage::Live && !request.force() {
            let mut missing = evidence.verdict.missing.clone();
            if let Some(until) = self.cooldown_until(feature).await? {
                missing.insert(
                    0,
                    format!(
                        "it was rolled back automatically; the cooldown ends in {} s",
                        (until - now_ms()).max(0) / 1000
                    ),
                );
            }
            if !missing.is_empty() {
                self.inner.metrics.refused.inc();
                return Err(ChangeError::Gate { feature, missing });
            }
        }
        if from == to {
            return Ok(flags);
        }
        let forced = request.force() && from.stage != Stage::Live;
        let change = Change {
            feature,
            from,
            to,
            clears: false,
            actor: actor.to_string(),
            reason: request.reason().to_string(),
            forced,
            automatic: false,
            evidence: evidence.json(),
        };
        Ok(self.apply(&[change], now_ms()).await?)
    }

    /// Drops `feature`'s run-time override: it goes back to its `WS_FEATURE_*` stage.
    pub async fn clear(
        &self,
        actor: &str,
        feature: Feature,
        reason: &Reason,
    ) -> Result<Flags, ChangeError> {
        let (flags, rows) = self.flags().await?;
        if !rows.contains_key(&feature) {
            return Ok(flags);
        }
        let evidence = self.evidence(feature, &flags, &rows).await?;
        let start = Flag::new(self.inner.start[&feature]);
        let change = Change {
            feature,
            from: flags.flag(feature),
            to: start,
            clears: true,
            actor: actor.to_string(),
            reason: format!("cleared: {reason}"),
            forced: false,
            automatic: false,
            evidence: evidence.json(),
        };
        Ok(self.apply(&[change], now_ms()).await?)
    }

    /// Every feature back to REST at once (the global switch).
    pub async fn rollback_all(
        &self,
        actor: &str,
        reason: &Reason,
        automatic: bool,
    ) -> Result<Flags, ChangeError> {
        let (flags, rows) = self.flags().await?;
        let mut changes = Vec::new();
        for feature in Feature::ALL {
            let from = flags.flag(feature);
            if from.stage == Stage::Rest {
                continue;
            }
            let evidence = self.evidence(feature, &flags, &rows).await?;
            changes.push(Change {
                feature,
                from,
                to: Flag::new(Stage::Rest),
                clears: false,
                actor: actor.to_string(),
                reason: reason.to_string(),
                forced: false,
                automatic,
                evidence: evidence.json(),
            });
        }
        Ok(self.apply(&changes, now_ms()).await?)
    }

    /// The one ending of every change, an operator's or the judge's: each recorded (with its
    /// evidence, at `at`) and counted by kind, a feature going live gets its hub-gap baseline,
    /// then the flags are read again and published (also when nothing changed: a follower's
    /// change since is sent on too).
    pub(super) async fn apply(&self, changes: &[Change], at: i64) -> anyhow::Result<Flags> {
        let metrics = &self.inner.metrics;
        for change in changes {
            flags::record(&self.inner.db, change, at).await?;
            let kind = if change.automatic {
                &metrics.automatic
            } else if change.forced {
                &metrics.forced
            } else {
                &metrics.manual
            };
            kind.inc();
            self.after_change(change.feature, change.to);
        }
        let (flags, _) = self.flags().await?;
        self.publish(&flags);
        Ok(flags)
    }

    pub(super) fn after_change(&self, feature: Feature, to: Flag) {
        if to.stage == Stage::Live {
            let gaps = feature
                .topics()
                .iter()
                .map(|t| self.inner.hub.metrics().gaps_of(*t))
                .sum();
            self.lock_baseline().insert(feature, gaps);
        }
    }

    pub(super) fn lock_baseline(&self) -> std::sync::MutexGuard<'_, BTreeMap<Feature, u64>> {
        self.inner
            .gap_baseline
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// When the cooldown after `feature`'s last automatic rollback ends, if it has not yet.
    pub(super) async fn cooldown_until(&self, feature: Feature) -> anyhow::Result<Option<i64>> {
        let last = flags::last_automatic(&self.inner.db, feature).await?;
        let cooldown = self.inner.settings.rollback_cooldown.as_millis() as i64;
        Ok(last
            .map(|at| at + cooldown)
            .filter(|until| *until > now_ms()))
    }
}
