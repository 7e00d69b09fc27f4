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
//! - [`job`]: the leader's loop: publish each new flags version, judge live features, keep the
//!   pages-by-source and gate gauges current.
//!
//! Changes can be made on any instance. The instance that holds the jobs lease publishes: at
//! once when the change was its own, otherwise within one tick of its job (it watches the
//! audit trail's version), so a change made on a follower reaches every page too.

pub mod faults;
pub mod flags;
pub mod fleet;
pub mod job;
pub mod reports;
pub mod rollback;
pub mod traffic;

use crate::clock::now_ms;
use crate::config::CutoverSettings;
use crate::db::Database;
use crate::error::ApiError;
use crate::hub::Audience;
use crate::hub::Hub;
use crate::jobs::Lead;
use crate::metrics::MetricsRegistry;
use app::cutover::{
    AuditEntry, ChangeRequest, CutoverStatus, FeatureStatus, Flag, Flags, GateRule, GateVerdict,
    Mark, Mode, MyCutover, MyFeature, MyPage, PageReport, Stage,
};
use app::feature::Feature;
use app::protocol::{Envelope, ServerMessage, Topic};
use faults::Faults;
use flags::{Change, FlagRow};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use reports::Evidence;
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
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
    lead: Lead,
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
}

struct CutoverMetrics {
    version: Gauge,
    stage: Vec<Gauge>,
    manual: Counter,
    forced: Counter,
    automatic: Counter,
    refused: Counter,
    reports: Counter,
    clamped: Counter,
    propagation: Histogram,
    /// Per feature (in [`Feature::ALL`]'s order): open pages by [`PAGE_SOURCES`].
    pages: Vec<[Gauge; 4]>,
    /// Per feature: 1 while its gate is open.
    gate_open: Vec<Gauge>,
    /// Completed judgements of the live features: tells that the rollback rules have run.
    judgements: Counter,
}

/// The `source` label of `thor_cutover_pages`, in the order of [`CutoverMetrics::pages`].
const PAGE_SOURCES: [&str; 4] = ["websocket", "fallback", "rest", "unconfirmed"];

impl CutoverMetrics {
    fn register(registry: &MetricsRegistry) -> Self {
        let gauge = |name: &str, help: &str| registry.gauge(name, help);
        let counter = |name: &str, help: &str| registry.counter(name, help);
        let changes = registry.counters_by(
            "thor_cutover_changes",
            "Flag changes, by kind.",
            "kind",
            &["manual", "forced", "automatic"],
        );
        let [manual, forced, automatic] = <[Counter; 3]>::try_from(changes).unwrap_or_default();
        let stages =
            prometheus_client::metrics::family::Family::<crate::metrics::OneLabel, Gauge>::default(
            );
        let stage = Feature::ALL
            .iter()
            .map(|f| stages.get_or_create_owned(&[("feature", f.name())]))
            .collect();
        registry.register(
            "thor_cutover_stage",
            "Each feature's stage: 0 REST, 1 Shadow, 2 Live.",
            stages,
        );
        let pages = prometheus_client::metrics::family::Family::<
            [(&'static str, &'static str); 2],
            Gauge,
        >::default();
        let pages_of = Feature::ALL
            .iter()
            .map(|f| {
                PAGE_SOURCES.map(|source| {
                    pages.get_or_create_owned(&[("feature", f.name()), ("source", source)])
                })
            })
            .collect();
        registry.register(
            "thor_cutover_pages",
            "Open pages of each feature by what they render from (websocket, fallback, rest) and \
             those that have not confirmed the current flags (unconfirmed); kept by the lease \
             holder, 0 elsewhere.",
            pages,
        );
        let gates =
            prometheus_client::metrics::family::Family::<crate::metrics::OneLabel, Gauge>::default(
            );
        let gate_open = Feature::ALL
            .iter()
            .map(|f| gates.get_or_create_owned(&[("feature", f.name())]))
            .collect();
        registry.register(
            "thor_cutover_gate_open",
            "1 while a feature's gate to Live is open; kept by the lease holder, 0 elsewhere.",
            gates,
        );
        let propagation = Histogram::new([0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]);
        registry.register(
            "thor_cutover_propagation_seconds",
            "Time from a flag change to a page confirming it.",
            propagation.clone(),
        );
        Self {
            version: gauge("thor_cutover_version", "The flags version."),
            stage,
            manual,
            forced,
            automatic,
            refused: counter(
                "thor_cutover_refused",
                "Changes to Live refused by the gate or a cooldown.",
            ),
            reports: counter("thor_cutover_reports", "Page reports received."),
            clamped: counter(
                "thor_cutover_reports_clamped",
                "Page reports that claimed more samples than a page can have made.",
            ),
            propagation,
            pages: pages_of,
            gate_open,
            judgements: counter(
                "thor_cutover_judgements",
                "Completed judgements of the live features by the automatic rollback's rules.",
            ),
        }
    }

    /// Shows `evidence` (of the feature at `index` in [`Feature::ALL`]) in the gauges.
    fn show(&self, index: usize, evidence: &Evidence) {
        let signed = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        if let Some(gauges) = self.pages.get(index) {
            let counts = &evidence.pages;
            for (gauge, n) in gauges.iter().zip([
                counts.websocket,
                counts.fallen_back,
                counts.rest,
                counts.unconfirmed,
            ]) {
                gauge.set(signed(n));
            }
        }
        if let Some(gauge) = self.gate_open.get(index) {
            gauge.set(i64::from(evidence.verdict.open));
        }
    }

    /// Zeroes the pages and gate gauges (an instance that does not lead keeps none).
    fn clear_evidence(&self) {
        for gauge in self.pages.iter().flatten().chain(&self.gate_open) {
            gauge.set(0);
        }
    }
}

/// Why a change was not made.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error("{0}")]
    Invalid(String),
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
            ChangeError::Invalid(message) => ApiError::BadRequest(message),
            gate @ ChangeError::Gate { .. } => ApiError::Conflict(gate.to_string()),
            ChangeError::Storage(e) => ApiError::database(format!("{e:#}")),
        }
    }
}

impl ControlPlane {
    pub fn new(
        db: Database,
        hub: Hub,
        lead: Lead,
        settings: &CutoverSettings,
        symbols: usize,
        registry: &MetricsRegistry,
    ) -> Self {
        let start = flags::starting_stages(settings);
        Self {
            inner: Arc::new(Inner {
                db,
                hub,
                lead,
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
            }),
        }
    }

    pub fn faults(&self) -> &Faults {
        &self.inner.faults
    }

    /// Counts a REST request for `feature`.
    pub fn count_rest(&self, feature: Feature) {
        self.inner.traffic.count(feature, now_ms());
    }

    /// Joins the fleet as the instance serving on `addr`: spawns into `tasks` the loop that
    /// writes this instance's row every [`fleet::BEAT`] (and zeroes the evidence gauges while
    /// another instance leads), and deletes the row when `stop` is cancelled.
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
                if !plane.inner.lead.holds() {
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
    fn own_report(&self, now: i64) -> fleet::Report {
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
            lease_holder: self.inner.lead.holds(),
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
    async fn fleet(&self, now: i64) -> anyhow::Result<fleet::Fleet> {
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
        if !self.inner.lead.holds() {
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
        if !self.inner.lead.holds() {
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

    /// Moves `feature` as an operator asked. Going live from anything else needs the gate's
    /// proof (and no cooldown after an automatic rollback) unless forced.
    pub async fn change(
        &self,
        actor: &str,
        feature: Feature,
        request: &ChangeRequest,
    ) -> Result<Flags, ChangeError> {
        let reason = request.reason.trim();
        if reason.is_empty() {
            return Err(ChangeError::Invalid(
                "say why: a reason is required for every change".into(),
            ));
        }
        if reason.len() > 500 {
            return Err(ChangeError::Invalid(
                "the reason is at most 500 characters".into(),
            ));
        }
        let ramp = match (request.stage, request.ramp) {
            (Stage::Live, Some(ramp)) if (1..=100).contains(&ramp) => ramp,
            (Stage::Live, Some(ramp)) => {
                return Err(ChangeError::Invalid(format!(
                    "a ramp is a percentage of sessions from 1 to 100, not {ramp}"
                )));
            }
            (_, Some(_)) => {
                return Err(ChangeError::Invalid(
                    "a ramp applies only when going live".into(),
                ));
            }
            (_, None) => 100,
        };
        let to = Flag {
            stage: request.stage,
            ramp,
        };
        let (flags, rows) = self.flags().await?;
        let from = flags.flag(feature);
        let evidence = self.evidence(feature, &flags, &rows).await?;
        if to.stage == Stage::Live && from.stage != Stage::Live && !request.force {
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
        let forced = request.force && to.stage == Stage::Live && from.stage != Stage::Live;
        let change = Change {
            feature,
            from,
            to,
            clears: false,
            actor: actor.to_string(),
            reason: reason.to_string(),
            forced,
            automatic: false,
            evidence: evidence.json(),
        };
        flags::record(&self.inner.db, &change, now_ms()).await?;
        if forced {
            self.inner.metrics.forced.inc();
        } else {
            self.inner.metrics.manual.inc();
        }
        self.after_change(feature, to);
        let (flags, _) = self.flags().await?;
        self.publish(&flags);
        Ok(flags)
    }

    /// Drops `feature`'s run-time override: it goes back to its `WS_FEATURE_*` stage.
    pub async fn clear(
        &self,
        actor: &str,
        feature: Feature,
        reason: &str,
    ) -> Result<Flags, ChangeError> {
        if reason.trim().is_empty() {
            return Err(ChangeError::Invalid("say why: a reason is required".into()));
        }
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
            reason: format!("cleared: {}", reason.trim()),
            forced: false,
            automatic: false,
            evidence: evidence.json(),
        };
        flags::record(&self.inner.db, &change, now_ms()).await?;
        self.inner.metrics.manual.inc();
        self.after_change(feature, start);
        let (flags, _) = self.flags().await?;
        self.publish(&flags);
        Ok(flags)
    }

    /// Every feature back to REST at once (the global switch).
    pub async fn rollback_all(
        &self,
        actor: &str,
        reason: &str,
        automatic: bool,
    ) -> Result<Flags, ChangeError> {
        if reason.trim().is_empty() {
            return Err(ChangeError::Invalid("say why: a reason is required".into()));
        }
        let (flags, rows) = self.flags().await?;
        for feature in Feature::ALL {
            let from = flags.flag(feature);
            if from.stage == Stage::Rest {
                continue;
            }
            let evidence = self.evidence(feature, &flags, &rows).await?;
            let change = Change {
                feature,
                from,
                to: Flag::new(Stage::Rest),
                clears: false,
                actor: actor.to_string(),
                reason: reason.trim().to_string(),
                forced: false,
                automatic,
                evidence: evidence.json(),
            };
            flags::record(&self.inner.db, &change, now_ms()).await?;
            if automatic {
                self.inner.metrics.automatic.inc();
            } else {
                self.inner.metrics.manual.inc();
            }
        }
        let (flags, _) = self.flags().await?;
        self.publish(&flags);
        Ok(flags)
    }

    fn after_change(&self, feature: Feature, to: Flag) {
        if to.stage == Stage::Live {
            let gaps = feature
                .topics()
                .iter()
                .map(|t| self.inner.hub.metrics().gaps_of(*t))
                .sum();
            self.lock_baseline().insert(feature, gaps);
        }
    }

    fn lock_baseline(&self) -> std::sync::MutexGuard<'_, BTreeMap<Feature, u64>> {
        self.inner
            .gap_baseline
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// When the cooldown after `feature`'s last automatic rollback ends, if it has not yet.
    async fn cooldown_until(&self, feature: Feature) -> anyhow::Result<Option<i64>> {
        let last = flags::last_automatic(&self.inner.db, feature).await?;
        let cooldown = self.inner.settings.rollback_cooldown.as_millis() as i64;
        Ok(last
            .map(|at| at + cooldown)
            .filter(|until| *until > now_ms()))
    }

    /// The evidence behind `feature` now: its parity since its last change, and the gate.
    async fn evidence(
        &self,
        feature: Feature,
        flags: &Flags,
        rows: &BTreeMap<Feature, FlagRow>,
    ) -> anyhow::Result<Evidence> {
        let since = rows.get(&feature).map_or(0, |row| row.version);
        let pages = reports::pages(&self.inner.db, feature).await?;
        let _ = flags;
        Ok(Evidence::gather(
            feature,
            since,
            &pages,
            now_ms(),
            self.inner.settings.page_timeout.as_millis() as i64,
            &self.gate_rule(),
        ))
    }

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

    async fn confirmed(&self, report: &PageReport, flags: &Flags) {
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

    pub async fn audit(&self, limit: u32) -> anyhow::Result<Vec<AuditEntry>> {
        flags::audit(&self.inner.db, limit).await
    }

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

    /// Judges every live feature and rolls back the ones that broke (the leader's job calls it).
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

    async fn judge(&self) -> anyhow::Result<()> {
        let (flags, rows) = self.flags().await?;
        let now = now_ms();
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
            let health = rollback::Health::gather(
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
            let Some(reason) = rule.judge(&health) else {
                continue;
            };
            let evidence = self.evidence(feature, &flags, &rows).await?;
            let mut evidence_json = evidence.json();
            if let Some(object) = evidence_json.as_object_mut() {
                object.insert("rollback".into(), health.json());
            }
            let change = Change {
                feature,
                from: flag,
                to: Flag::new(Stage::Rest),
                clears: false,
                actor: AUTOMATIC.to_string(),
                reason: reason.clone(),
                forced: false,
                automatic: true,
                evidence: evidence_json,
            };
            flags::record(&self.inner.db, &change, now).await?;
            self.inner.metrics.automatic.inc();
            tracing::warn!(feature = feature.name(), %reason, "rolled back to REST automatically");
        }
        let (flags, _) = self.flags().await?;
        self.publish(&flags);
        Ok(())
    }

    /// Forgets pages gone for a day (the job calls it now and then).
    pub async fn forget_old_pages(&self) -> anyhow::Result<()> {
        reports::forget_before(&self.inner.db, now_ms() - 24 * 3600 * 1000).await
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
    let mut ignored = BTreeMap::new();
    if count(page.ignored) > 0 {
        ignored.insert("all_reasons".to_string(), count(page.ignored));
    }
    MyPage {
        source: page.source(),
        applied_version: page.applied_version.max(0) as u64,
        parity: app::cutover::ParityCounts {
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
