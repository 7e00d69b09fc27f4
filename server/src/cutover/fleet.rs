//! The fleet: every instance writes a row about itself into the shared database every [`BEAT`]
//! (`cutover_instances`): what it counts on its own (REST requests per feature over the last
//! five minutes, recent flag propagation lags) and what it is (address, lease holder, the flags
//! version its pages were last sent, open sockets). The status reads the rows seen within
//! [`LIVE_WITHIN_MS`] and sums them, so `thor cutover status` on any instance shows the whole
//! fleet; an instance gone quiet drops out, one that stops cleanly deletes its row, and rows
//! quiet for an hour are deleted by whoever writes next.

use crate::db::Database;
use crate::on_pool;
use anyhow::Context;
use std::collections::BTreeMap;
use std::time::Duration;
use thor_core::cutover::InstanceStatus;
use thor_core::feature::Feature;

/// How often each instance writes its row.
pub const BEAT: Duration = Duration::from_secs(2);
/// A row written within this long is a live instance (three beats: one slow write does not
/// drop an instance from the sums).
pub const LIVE_WITHIN_MS: i64 = 6_000;
/// Rows quiet this long are deleted.
pub const FORGET_AFTER_MS: i64 = 3_600_000;

/// What one instance says about itself.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Report {
    pub id: String,
    pub addr: String,
    pub started_at: i64,
    pub last_seen: i64,
    pub lease_holder: bool,
    pub flags_version: Option<u64>,
    pub sockets: u64,
    /// REST requests per feature over the last five minutes.
    pub rest_5m: BTreeMap<Feature, u64>,
    /// Recent propagation lags measured here (ms), oldest first.
    pub lags_ms: Vec<u64>,
}

impl Report {
    pub fn status(&self, answering: bool) -> InstanceStatus {
        InstanceStatus {
            id: self.id.clone(),
            addr: self.addr.clone(),
            lease_holder: self.lease_holder,
            flags_version: self.flags_version,
            sockets: self.sockets,
            started_at: self.started_at,
            last_seen: self.last_seen,
            answering,
        }
    }
}

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    addr: String,
    started_at: i64,
    last_seen: i64,
    lease_holder: bool,
    flags_version: Option<i64>,
    sockets: i64,
    rest_5m: String,
    lags_ms: String,
}

impl Row {
    /// A row as its instance meant it; an unreadable figure counts as none (rows of a newer
    /// version may name features this one does not know).
    fn report(self) -> Report {
        let named: BTreeMap<String, u64> = serde_json::from_str(&self.rest_5m).unwrap_or_default();
        let rest_5m = Feature::ALL
            .into_iter()
            .filter_map(|f| named.get(f.name()).map(|n| (f, *n)))
            .collect();
        Report {
            id: self.id,
            addr: self.addr,
            started_at: self.started_at,
            last_seen: self.last_seen,
            lease_holder: self.lease_holder,
            flags_version: self.flags_version.and_then(|v| u64::try_from(v).ok()),
            sockets: u64::try_from(self.sockets).unwrap_or(0),
            rest_5m,
            lags_ms: serde_json::from_str(&self.lags_ms).unwrap_or_default(),
        }
    }
}

fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Writes (or rewrites) `report`'s row.
pub async fn write(db: &Database, report: &Report) -> anyhow::Result<()> {
    let rest_5m: BTreeMap<&str, u64> = report.rest_5m.iter().map(|(f, n)| (f.name(), *n)).collect();
    let rest_5m = serde_json::to_string(&rest_5m).context("cannot encode the REST counts")?;
    let lags_ms = serde_json::to_string(&report.lags_ms).context("cannot encode the lags")?;
    on_pool!(db, pool => sqlx::query(
        "INSERT INTO cutover_instances (id, addr, started_at, last_seen, lease_holder, \
         flags_version, sockets, rest_5m, lags_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (id) DO UPDATE SET addr = $2, started_at = $3, last_seen = $4, \
         lease_holder = $5, flags_version = $6, sockets = $7, rest_5m = $8, lags_ms = $9",
    )
    .bind(&report.id)
    .bind(&report.addr)
    .bind(report.started_at)
    .bind(report.last_seen)
    .bind(report.lease_holder)
    .bind(report.flags_version.map(signed))
    .bind(signed(report.sockets))
    .bind(&rest_5m)
    .bind(&lags_ms)
    .execute(pool)
    .await
    .map(drop))
    .context("cannot write this instance's row")
}

/// The rows written since `since`, in address order.
pub async fn seen_since(db: &Database, since: i64) -> anyhow::Result<Vec<Report>> {
    let rows: Vec<Row> = on_pool!(db, pool => sqlx::query_as(
        "SELECT id, addr, started_at, last_seen, lease_holder, flags_version, sockets, rest_5m, \
         lags_ms FROM cutover_instances WHERE last_seen >= $1 ORDER BY addr, id",
    )
    .bind(since)
    .fetch_all(pool)
    .await)
    .context("cannot read the instances' rows")?;
    Ok(rows.into_iter().map(Row::report).collect())
}

/// Deletes `id`'s row (an instance stopping cleanly).
pub async fn remove(db: &Database, id: &str) -> anyhow::Result<()> {
    on_pool!(db, pool => sqlx::query("DELETE FROM cutover_instances WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await
        .map(drop))
    .context("cannot delete this instance's row")
}

/// Deletes the rows written before `before`.
pub async fn forget_before(db: &Database, before: i64) -> anyhow::Result<()> {
    on_pool!(db, pool => sqlx::query("DELETE FROM cutover_instances WHERE last_seen < $1")
        .bind(before)
        .execute(pool)
        .await
        .map(drop))
    .context("cannot delete quiet instances' rows")
}

/// The whole fleet's figures.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Fleet {
    /// The lease holder first, then by address; the answering instance is marked.
    pub instances: Vec<InstanceStatus>,
    pub rest_5m: BTreeMap<Feature, u64>,
    /// Every instance's recent lags, sorted.
    pub lags_ms: Vec<u64>,
}

impl Fleet {
    /// `own` (read now) with the `others`' rows (its own row among them is left out: `own` is
    /// fresher).
    pub fn sum(own: &Report, others: &[Report]) -> Fleet {
        let mut fleet = Fleet::default();
        let everyone = std::iter::once((own, true))
            .chain(others.iter().filter(|r| r.id != own.id).map(|r| (r, false)));
        for (report, answering) in everyone {
            for (feature, n) in &report.rest_5m {
                *fleet.rest_5m.entry(*feature).or_default() += n;
            }
            fleet.lags_ms.extend(&report.lags_ms);
            fleet.instances.push(report.status(answering));
        }
        fleet.lags_ms.sort_unstable();
        fleet
            .instances
            .sort_by(|a, b| (!a.lease_holder, &a.addr).cmp(&(!b.lease_holder, &b.addr)));
        fleet
    }

    /// The median and the worst lag.
    pub fn propagation(&self) -> (Option<u64>, Option<u64>) {
        (
            self.lags_ms.get(self.lags_ms.len() / 2).copied(),
            self.lags_ms.last().copied(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(id: &str, lease_holder: bool, positions: u64, lags: &[u64]) -> Report {
        Report {
            id: id.into(),
            addr: format!("10.0.0.{id}:3000"),
            lease_holder,
            rest_5m: [(Feature::Positions, positions)].into_iter().collect(),
            lags_ms: lags.to_vec(),
            ..Report::default()
        }
    }

    #[test]
    fn the_fleet_sums_every_instance_once_with_its_own_figures_freshest() {
        let own = report("2", false, 5, &[40]);
        let stale_own = report("2", false, 1, &[]);
        let holder = report("1", true, 7, &[10, 900]);
        let fleet = Fleet::sum(&own, &[holder, stale_own]);
        assert_eq!(fleet.rest_5m.get(&Feature::Positions), Some(&12));
        assert_eq!(fleet.instances.len(), 2);
        assert!(
            fleet.instances[0].lease_holder,
            "the lease holder comes first"
        );
        assert!(fleet.instances[1].answering);
        assert!(!fleet.instances[0].answering);
        assert_eq!(fleet.propagation(), (Some(40), Some(900)));
    }
}
