//! A page's report coming in: checked, bounded, attributed, added to the evidence; a page that
//! confirms a newer flags version measures how long the change took to reach it.

use super::*;

impl ControlPlane {
    /// Takes a page's report: bounded, attributed to `user_id`, added to the evidence. A page
    /// confirming a newer version also measures how long the change took to reach it.
    pub async fn report(&self, user_id: i64, report: &PageReport) -> Result<(), ApiError> {
        reports::check(report)?;
        self.inner.metrics.reports.inc();
        let (flags, rows) = self
            .flags()
            .await
            .map_err(|e| ApiError::database(format!("{e:#}")))?;
        let since: BTreeMap<Feature, u64> = Feature::ALL
            .into_iter()
            .map(|f| (f, rows.get(&f).map_or(0, |r| r.version)))
            .collect();
        let clamped = reports::record(
            &self.inner.db,
            user_id,
            report,
            &since,
            now_ms(),
            self.inner.symbols,
        )
        .await?;
        if clamped {
            self.inner.metrics.clamped.inc();
        }
        self.confirmed(report, &flags).await;
        Ok(())
    }

    pub(super) async fn confirmed(&self, report: &PageReport, flags: &Flags) {
        let applied = report.applied_version.min(flags.version);
        let previous = {
            let mut confirmed = self
                .inner
                .confirmed
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if confirmed.len() > 10_000 {
                confirmed.clear();
            }
            confirmed.insert(report.page_id.clone(), applied)
        };
        let Some(previous) = previous else {
            return;
        };
        if applied <= previous {
            return;
        }
        let Ok(Some(at)) = flags::changed_at(&self.inner.db, applied).await else {
            return;
        };
        let lag = (now_ms() - at).max(0) as u64;
        self.inner.metrics.propagation.observe(lag as f64 / 1000.0);
        let mut lags = self.inner.lags_ms.lock().unwrap_or_else(|p| p.into_inner());
        if lags.len() >= KEEP_LAGS {
            lags.pop_front();
        }
        lags.push_back(lag);
    }
}
