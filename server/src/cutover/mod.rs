//! The cutover control plane: each feature's flag (REST, Shadow, Live, with a ramp), changed at
//! run time by operators or automatically, persisted, audited, versioned and pushed to every page
//! as a `cutover` message; the pages' parity reports, added up per feature across pages and
//! instances (in the database, so every instance sees the same evidence); the gate that a
//! feature must pass to go live; the automatic rollback of a live feature that breaks.
//!
//! ## Layout
//! - [`flags`]: the flags in the database (overrides and the audit trail) and the starting
//!   stages from `WS_FEATURE_*`.
//! - [`reports`]: what pages report, bounded and attributed, and the evidence it adds up to.
//! - [`rollback`]: when a live feature goes back to REST on its own (pure rules).
//! - [`faults`]: the test switch that breaks one feature's socket messages (off by default).
//! - [`traffic`]: REST requests per feature (the evidence that a REST timer can go).
//! - [`fleet`]: every instance's row about itself, summed into the fleet's figures.
//! - [`job`]: the lease holder's loop: publish each new flags version, judge live features, keep
//!   the pages-by-source and gate gauges current.
//!
//! The [`ControlPlane`] itself is here (its state, the flags, publishing them); its other parts
//! are `impl` blocks of their own: `changes` (operators' changes, the global rollback, and the
//! one way every change is applied), `intake` (pages' reports), `status` (what it tells),
//! `judge` (the automatic rollback's loop), `instance` (this instance in the fleet) and
//! `metrics` (its Prometheus series).
//!
//! Changes can be made on any instance. The instance that holds the jobs lease publishes: at
//! once when the change was its own, otherwise within one tick of its job (it watches the
//! audit trail's version), so a change made on a follower reaches every page too.

mod changes;
pub mod faults;
pub mod flags;
pub mod fleet;
mod instance;
mod intake;
pub mod job;
mod judge;
mod metrics;
pub mod reports;
pub mod rollback;
mod status;
pub mod traffic;

pub use changes::ChangeError;
use metrics::CutoverMetrics;

use crate::clock::now_ms;
use crate::config::CutoverSettings;
use crate::db::Database;
use crate::error::ApiError;
use crate::feed::hours::MarketHours;
use crate::hub::Audience;
use crate::hub::Hub;
use crate::jobs::Lease;
use crate::metrics::MetricsRegistry;
use faults::Faults;
use flags::{Change, FlagRow};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use reports::FeatureEvidence;
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use thor_core::cutover::{
    AuditEntry, ChangeRequest, CutoverStatus, FeatureStatus, Flag, Flags, GateRule, GateVerdict,
    Mark, Mode, MyCutover, MyFeature, MyPage, PageReport, Reason, Stage,
};
use thor_core::feature::Feature;
use thor_core::protocol::{Envelope, ServerMessage, Topic};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use traffic::RestTraffic;

/// Who made a change that no operator made.
pub const AUTOMATIC: &str = "automatic";
/// Recent propagation lags kept for the status's median and worst.
const KEEP_LAGS: usize = 64;

/// The control plane of one server; cloning shares it.
#[derive(Clone)]
pub struct ControlPlane {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    hub: Hub,
    /// Whether this instance publishes (alone, always; sharing a hub, while it holds the lease).
    lease: Lease,
    settings: CutoverSettings,
    start: BTreeMap<Feature, Stage>,
    faults: Faults,
    traffic: RestTraffic,
    /// The flags version this instance last published, and in which hub epoch.
    published: Mutex<Option<(u64, u64)>>,
    /// The version each page last confirmed, to measure each change's propagation once.
    confirmed: Mutex<BTreeMap<String, u64>>,
    lags_ms: Mutex<VecDeque<u64>>,
    /// The hub's gap count per feature when it last went live.
    gap_baseline: Mutex<BTreeMap<Feature, u64>>,
    symbols: usize,
    metrics: CutoverMetrics,
    /// A rollback evaluation is under way (the job ticks faster than one may take).
    judging: AtomicBool,
    /// This instance in the fleet, once [`ControlPlane::announce`]d: id, address, start.
    me: OnceLock<(String, String, i64)>,
    /// When trading follows exchange hours: whether the feed's markets are all closed.
    market_hours: OnceLock<MarketHours>,
    /// When the judge last saw each market-hours feature's markets closed (ms).
    closed_seen: Mutex<BTreeMap<Feature, i64>>,
}

impl ControlPlane {
    pub fn new(
        db: Database,
        hub: Hub,
        lease: Lease,
        settings: &CutoverSettings,
        symbols: usize,
        registry: &MetricsRegistry,
    ) -> Self {
        let start = flags::starting_stages(settings);
        Self {
            inner: Arc::new(Inner {
                db,
                hub,
                lease,
                settings: settings.clone(),
                start,
                faults: Faults::default(),
                traffic: RestTraffic::register(registry),
                published: Mutex::new(None),
                confirmed: Mutex::new(BTreeMap::new()),
                lags_ms: Mutex::new(VecDeque::new()),
                gap_baseline: Mutex::new(BTreeMap::new()),
                symbols: symbols.max(1),
                metrics: CutoverMetrics::register(registry),
                judging: AtomicBool::new(false),
                me: OnceLock::new(),
                market_hours: OnceLock::new(),
                closed_seen: Mutex::new(BTreeMap::new()),
            }),
        }
    }

    /// Trading follows exchange hours: a feature that does ([`Feature::follows_market_hours`])
    /// is quiet, not broken, while its markets are closed.
    pub fn follow_market_hours(&self, hours: MarketHours) {
        let _ = self.inner.market_hours.set(hours);
    }

    pub fn faults(&self) -> &Faults {
        &self.inner.faults
    }

    /// Counts a REST request for `feature`.
    pub fn count_rest(&self, feature: Feature) {
        self.inner.traffic.count(feature, now_ms());
    }

    pub fn faults_allowed(&self) -> bool {
        self.inner.settings.allow_faults
    }

    pub fn gate_rule(&self) -> GateRule {
        let s = &self.inner.settings;
        GateRule {
            min_match_rate: s.gate_min_match_percent / 100.0,
            min_samples: s.gate_min_samples,
            min_pages: s.gate_min_pages,
        }
    }

    /// The flags now, and each feature's override row (if changed at run time).
    pub async fn flags(&self) -> anyhow::Result<(Flags, BTreeMap<Feature, FlagRow>)> {
        let rows = flags::overrides(&self.inner.db).await?;
        let version = flags::latest_version(&self.inner.db).await?;
        let features = Feature::ALL
            .into_iter()
            .map(|f| {
                let flag = rows
                    .get(&f)
                    .map_or(Flag::new(self.inner.start[&f]), |row| row.flag);
                (f, flag)
            })
            .collect();
        Ok((Flags { version, features }, rows))
    }

    /// Publishes `flags` on the hub if this instance publishes and has not published them yet.
    fn publish(&self, flags: &Flags) {
        if !self.inner.lease.holds() {
            return;
        }
        let marker = Some((flags.version, self.inner.hub.epoch()));
        {
            let mut published = self.lock_published();
            if *published == marker {
                return;
            }
            *published = marker;
        }
        self.inner
            .hub
            .publish(Topic::Cutover, ServerMessage::Cutover(flags.clone()));
        let metrics = &self.inner.metrics;
        metrics
            .version
            .set(i64::try_from(flags.version).unwrap_or(i64::MAX));
        for (i, feature) in Feature::ALL.iter().enumerate() {
            if let Some(gauge) = metrics.stage.get(i) {
                gauge.set(match flags.flag(*feature).stage {
                    Stage::Rest => 0,
                    Stage::Shadow => 1,
                    Stage::Live => 2,
                });
            }
        }
    }

    fn lock_published(&self) -> std::sync::MutexGuard<'_, Option<(u64, u64)>> {
        self.inner
            .published
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Publishes the current flags if the version moved since this instance last did (or the
    /// hub began a new epoch, e.g. this instance just took the lease).
    pub async fn sync(&self) -> anyhow::Result<()> {
        if !self.inner.lease.holds() {
            return Ok(());
        }
        let version = flags::latest_version(&self.inner.db).await?;
        if *self.lock_published() == Some((version, self.inner.hub.epoch())) {
            return Ok(());
        }
        let (flags, _) = self.flags().await?;
        self.publish(&flags);
        Ok(())
    }

    /// The evidence behind `feature` now: its parity since its last change, and the gate.
    async fn evidence(
        &self,
        feature: Feature,
        flags: &Flags,
        rows: &BTreeMap<Feature, FlagRow>,
    ) -> anyhow::Result<FeatureEvidence> {
        let since = rows.get(&feature).map_or(0, |row| row.version);
        let pages = reports::pages(&self.inner.db, feature).await?;
        let _ = flags;
        Ok(FeatureEvidence::gather(
            feature,
            since,
            &pages,
            now_ms(),
            self.inner.settings.page_timeout.as_millis() as i64,
            &self.gate_rule(),
        ))
    }

    pub async fn audit(&self, limit: u32) -> anyhow::Result<Vec<AuditEntry>> {
        flags::audit(&self.inner.db, limit).await
    }
}
