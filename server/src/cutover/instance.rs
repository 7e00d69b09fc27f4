//! This instance in the fleet: the loop that writes its row, what the row says, the fleet's sums
//! as this instance sees them, and the evidence gauges (set by the lease holder).

use super::*;

impl ControlPlane {
    /// Joins the fleet as the instance serving on `addr`: spawns into `tasks` the loop that
    /// writes this instance's row every [`fleet::BEAT`] (and zeroes the evidence gauges while
    /// another instance holds the lease), and deletes the row when `stop` is cancelled.
    pub fn announce(&self, addr: SocketAddr, stop: &CancellationToken, tasks: &mut JoinSet<()>) {
        let id = crate::jobs::lease::instance_id(addr);
        if self
            .inner
            .me
            .set((id.clone(), addr.to_string(), now_ms()))
            .is_err()
        {
            return;
        }
        let plane = self.clone();
        let stop = stop.clone();
        tasks.spawn(async move {
            let mut ticker = tokio::time::interval(fleet::BEAT);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let mut failing = false;
            let mut beats = 0u64;
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = ticker.tick() => {}
                }
                beats += 1;
                if !plane.inner.lease.holds() {
                    plane.inner.metrics.clear_evidence();
                }
                let now = now_ms();
                let mut written = fleet::write(&plane.inner.db, &plane.own_report(now)).await;
                // Quiet rows go now and then (any instance may: the delete is idempotent).
                if written.is_ok() && beats.is_multiple_of(30) {
                    written = fleet::forget_before(&plane.inner.db, now - fleet::FORGET_AFTER_MS)
                        .await;
                }
                match written {
                    Ok(()) if failing => {
                        failing = false;
                        tracing::info!("this instance's fleet row is written again");
                    }
                    Ok(()) => {}
                    Err(e) if !failing => {
                        failing = true;
                        tracing::warn!(error = %format!("{e:#}"), "cannot write this instance's fleet row");
                    }
                    Err(_) => {}
                }
            }
            if let Err(e) = fleet::remove(&plane.inner.db, &id).await {
                tracing::warn!(error = %format!("{e:#}"), "cannot delete this instance's fleet row; it drops out by itself");
            }
        });
    }

    /// This instance's figures now, as its fleet row carries them.
    pub(super) fn own_report(&self, now: i64) -> fleet::Report {
        let (id, addr, started_at) = self.inner.me.get().cloned().unwrap_or_default();
        let flags_version = self
            .inner
            .hub
            .latest(Topic::Cutover, Audience::Everyone)
            .and_then(|frame| serde_json::from_str::<Envelope>(frame.text.as_str()).ok())
            .and_then(|envelope| match envelope.message {
                ServerMessage::Cutover(flags) => Some(flags.version),
                _ => None,
            });
        fleet::Report {
            id,
            addr,
            started_at,
            last_seen: now,
            lease_holder: self.inner.lease.holds(),
            flags_version,
            sockets: self.inner.hub.connections() as u64,
            rest_5m: Feature::ALL
                .into_iter()
                .map(|f| (f, self.inner.traffic.last_minutes(f, now, 5)))
                .collect(),
            lags_ms: self
                .inner
                .lags_ms
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .copied()
                .collect(),
        }
    }

    /// The whole fleet's figures now: this instance's, and the rows of the others seen lately.
    pub(super) async fn fleet(&self, now: i64) -> anyhow::Result<fleet::Fleet> {
        let others = fleet::seen_since(&self.inner.db, now - fleet::LIVE_WITHIN_MS).await?;
        Ok(fleet::Fleet::sum(&self.own_report(now), &others))
    }

    /// Sets the pages-by-source and gate gauges from every feature's evidence now (the lease
    /// holder's job calls it).
    pub async fn refresh_gauges(&self) -> anyhow::Result<()> {
        let (flags, rows) = self.flags().await?;
        for (index, feature) in Feature::ALL.into_iter().enumerate() {
            let evidence = self.evidence(feature, &flags, &rows).await?;
            self.inner.metrics.show(index, &evidence);
        }
        Ok(())
    }
}
