//! The flags in the database: a row per feature changed at run time (it wins over the
//! environment until cleared) and the audit trail, whose ids are the flags versions. A change
//! writes both in one transaction.

use crate::config::CutoverSettings;
use crate::db::Database;
use crate::on_pool;
use anyhow::Context;
use std::collections::BTreeMap;
use thor_core::cutover::{AuditEntry, Flag, Stage};
use thor_core::feature::Feature;

/// The stage each feature starts in: `WS_FEATURE_*=true` is Live, anything else allowed
/// (`false`, unset) is Shadow.
pub fn starting_stages(settings: &CutoverSettings) -> BTreeMap<Feature, Stage> {
    Feature::ALL
        .into_iter()
        .map(|feature| {
            let stage = match feature {
                Feature::AccountBalance => settings.account_balance,
                Feature::Positions => settings.positions,
                Feature::Intraday => settings.intraday,
                Feature::GlobalMarket => settings.global_market,
                Feature::Orders => settings.orders,
            };
            (feature, stage)
        })
        .collect()
}

/// A feature's run-time override.
#[derive(Debug, Clone)]
pub struct FlagRow {
    pub flag: Flag,
    /// The version of the change that set it.
    pub version: u64,
    pub changed_at: i64,
    pub changed_by: String,
    pub reason: String,
}

#[derive(sqlx::FromRow)]
struct Row {
    feature: String,
    stage: String,
    ramp: i64,
    version: i64,
    changed_at: i64,
    changed_by: String,
    reason: String,
}

pub async fn overrides(db: &Database) -> anyhow::Result<BTreeMap<Feature, FlagRow>> {
    let rows: Vec<Row> = on_pool!(db, pool => sqlx::query_as(
        "SELECT feature, stage, ramp, version, changed_at, changed_by, reason FROM cutover_flags",
    )
    .fetch_all(pool)
    .await)
    .context("cannot read the cutover flags")?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            let feature = Feature::parse(&row.feature).ok()?;
            let stage = Stage::parse(&row.stage)?;
            Some((
                feature,
                FlagRow {
                    flag: Flag {
                        stage,
                        ramp: u8::try_from(row.ramp.clamp(0, 100)).unwrap_or(100),
                    },
                    version: u64::try_from(row.version).unwrap_or(0),
                    changed_at: row.changed_at,
                    changed_by: row.changed_by,
                    reason: row.reason,
                },
            ))
        })
        .collect())
}

/// The flags version: the last change's, 0 before any.
pub async fn latest_version(db: &Database) -> anyhow::Result<u64> {
    let version: Option<i64> = on_pool!(db, pool => sqlx::query_scalar(
        "SELECT MAX(version) FROM cutover_audit",
    )
    .fetch_one(pool)
    .await)
    .context("cannot read the flags version")?;
    Ok(version.and_then(|v| u64::try_from(v).ok()).unwrap_or(0))
}

/// One change to record. With `clears`, the override is removed (`to` is then the starting
/// stage the feature goes back to).
pub struct Change {
    pub feature: Feature,
    pub from: Flag,
    pub to: Flag,
    pub clears: bool,
    pub actor: String,
    pub reason: String,
    pub forced: bool,
    pub automatic: bool,
    pub evidence: serde_json::Value,
}

/// Writes the audit entry and the override in one transaction; returns the new version.
pub async fn record(db: &Database, change: &Change, at: i64) -> anyhow::Result<u64> {
    let to = change.to;
    let evidence = change.evidence.to_string();
    let version: i64 = on_pool!(db, pool => {
        let mut tx = pool.begin().await.context("cannot start a transaction")?;
        let version: i64 = sqlx::query_scalar(
            "INSERT INTO cutover_audit (at, actor, feature, from_stage, from_ramp, to_stage, \
             to_ramp, reason, forced, automatic, evidence) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING version",
        )
        .bind(at)
        .bind(&change.actor)
        .bind(change.feature.name())
        .bind(change.from.stage.as_str())
        .bind(i64::from(change.from.ramp))
        .bind(to.stage.as_str())
        .bind(i64::from(to.ramp))
        .bind(&change.reason)
        .bind(change.forced)
        .bind(change.automatic)
        .bind(&evidence)
        .fetch_one(&mut *tx)
        .await
        .context("cannot write the audit entry")?;
        match (!change.clears).then_some(change.to) {
            Some(flag) => {
                sqlx::query(
                    "INSERT INTO cutover_flags (feature, stage, ramp, version, changed_at, \
                     changed_by, reason) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                     ON CONFLICT (feature) DO UPDATE SET stage = excluded.stage, \
                     ramp = excluded.ramp, version = excluded.version, \
                     changed_at = excluded.changed_at, changed_by = excluded.changed_by, \
                     reason = excluded.reason",
                )
                .bind(change.feature.name())
                .bind(flag.stage.as_str())
                .bind(i64::from(flag.ramp))
                .bind(version)
                .bind(at)
                .bind(&change.actor)
                .bind(&change.reason)
                .execute(&mut *tx)
                .await
                .context("cannot write the flag")?;
            }
            None => {
                sqlx::query("DELETE FROM cutover_flags WHERE feature = $1")
                    .bind(change.feature.name())
                    .execute(&mut *tx)
                    .await
                    .context("cannot clear the flag")?;
            }
        }
        tx.commit().await.context("cannot commit the change")?;
        version
    });
    Ok(u64::try_from(version).unwrap_or(0))
}

/// When the change that made `version` happened.
pub async fn changed_at(db: &Database, version: u64) -> anyhow::Result<Option<i64>> {
    let version = i64::try_from(version).unwrap_or(i64::MAX);
    let at: Option<i64> = on_pool!(db, pool => sqlx::query_scalar(
        "SELECT at FROM cutover_audit WHERE version = $1",
    )
    .bind(version)
    .fetch_optional(pool)
    .await)?;
    Ok(at)
}

/// When `feature` was last rolled back automatically.
pub async fn last_automatic(db: &Database, feature: Feature) -> anyhow::Result<Option<i64>> {
    let at: Option<i64> = on_pool!(db, pool => sqlx::query_scalar(
        "SELECT MAX(at) FROM cutover_audit WHERE feature = $1 AND automatic",
    )
    .bind(feature.name())
    .fetch_one(pool)
    .await)?;
    Ok(at)
}

/// Why `feature` was last rolled back automatically, if it ever was.
pub async fn last_automatic_reason(
    db: &Database,
    feature: Feature,
) -> anyhow::Result<Option<String>> {
    let reason: Option<String> = on_pool!(db, pool => sqlx::query_scalar(
        "SELECT reason FROM cutover_audit WHERE feature = $1 AND automatic \
         ORDER BY version DESC LIMIT 1",
    )
    .bind(feature.name())
    .fetch_optional(pool)
    .await)?;
    Ok(reason)
}

#[derive(sqlx::FromRow)]
struct AuditRow {
    version: i64,
    at: i64,
    actor: String,
    feature: String,
    from_stage: String,
    from_ramp: i64,
    to_stage: String,
    to_ramp: i64,
    reason: String,
    forced: bool,
    automatic: bool,
    evidence: String,
}

/// The latest `limit` changes, newest first.
pub async fn audit(db: &Database, limit: u32) -> anyhow::Result<Vec<AuditEntry>> {
    let rows: Vec<AuditRow> = on_pool!(db, pool => sqlx::query_as(
        "SELECT version, at, actor, feature, from_stage, from_ramp, to_stage, to_ramp, reason, \
         forced, automatic, evidence FROM cutover_audit ORDER BY version DESC LIMIT $1",
    )
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await)
    .context("cannot read the audit trail")?;
    let flag = |stage: &str, ramp: i64| Flag {
        stage: Stage::parse(stage).unwrap_or(Stage::Rest),
        ramp: u8::try_from(ramp.clamp(0, 100)).unwrap_or(100),
    };
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            Some(AuditEntry {
                version: u64::try_from(row.version).ok()?,
                at: row.at,
                actor: row.actor,
                feature: Feature::parse(&row.feature).ok()?,
                from: flag(&row.from_stage, row.from_ramp),
                to: flag(&row.to_stage, row.to_ramp),
                reason: row.reason,
                forced: row.forced,
                automatic: row.automatic,
                evidence: serde_json::from_str(&row.evidence).unwrap_or_default(),
            })
        })
        .collect())
}
