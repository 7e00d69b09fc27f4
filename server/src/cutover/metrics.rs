//! The control plane's Prometheus series: the flags (version, stage), changes by kind, reports,
//! propagation, and the lease holder's pages-by-source and gate gauges.

use super::*;

pub(super) struct CutoverMetrics {
    pub(super) version: Gauge,
    pub(super) stage: Vec<Gauge>,
    pub(super) manual: Counter,
    pub(super) forced: Counter,
    pub(super) automatic: Counter,
    pub(super) refused: Counter,
    pub(super) reports: Counter,
    pub(super) clamped: Counter,
    pub(super) propagation: Histogram,
    /// Per feature (in [`Feature::ALL`]'s order): open pages by [`PAGE_SOURCES`].
    pub(super) pages: Vec<[Gauge; 4]>,
    /// Per feature: 1 while its gate is open.
    pub(super) gate_open: Vec<Gauge>,
    /// Completed judgements of the live features: tells that the rollback rules have run.
    pub(super) judgements: Counter,
}

/// The `source` label of `thor_cutover_pages`, in the order of [`CutoverMetrics::pages`].
pub(super) const PAGE_SOURCES: [&str; 4] = ["websocket", "fallback", "rest", "unconfirmed"];

impl CutoverMetrics {
    pub(super) fn register(registry: &MetricsRegistry) -> Self {
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
    pub(super) fn show(&self, index: usize, evidence: &FeatureEvidence) {
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

    /// Zeroes the pages and gate gauges (an instance without the lease keeps none).
    pub(super) fn clear_evidence(&self) {
        for gauge in self.pages.iter().flatten().chain(&self.gate_open) {
            gauge.set(0);
        }
    }
}
