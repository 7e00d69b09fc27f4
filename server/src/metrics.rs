//! The server's one Prometheus registry, on `prometheus-client`. Each part of the server (the
//! hub, the jobs, later the cutover control plane) registers its own series on it at start-up
//! and updates them lock-free; `GET /metrics` renders it in the OpenMetrics text format.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Metric, Registry};
use std::sync::{Arc, Mutex};

/// Shared by every part of one server; cloning shares it.
#[derive(Clone, Default)]
pub struct MetricsRegistry {
    registry: Arc<Mutex<Registry>>,
}

/// The labels of a series with one label, e.g. `type="probe"`.
pub type OneLabel = [(&'static str, &'static str); 1];

impl MetricsRegistry {
    /// Adds a series. A counter's name is given without `_total`: the exposition adds it.
    pub fn register(&self, name: &str, help: &str, metric: impl Metric) {
        self.lock().register(name, help, metric);
    }

    /// Registers and returns a plain counter.
    pub fn counter(&self, name: &str, help: &str) -> Counter {
        let counter = Counter::default();
        self.register(name, help, counter.clone());
        counter
    }

    /// Registers and returns a gauge.
    pub fn gauge(&self, name: &str, help: &str) -> Gauge {
        let gauge: Gauge = Gauge::default();
        self.register(name, help, gauge.clone());
        gauge
    }

    /// Registers `name` with one counter per value of `label`, created now (so every value
    /// shows, at 0, from the first scrape), and returns them in the order of `values`: the hot
    /// path then adds to a counter without looking its labels up.
    pub fn counters_by(
        &self,
        name: &str,
        help: &str,
        label: &'static str,
        values: &[&'static str],
    ) -> Vec<Counter> {
        let family = Family::<OneLabel, Counter>::default();
        let counters = values
            .iter()
            .map(|value| family.get_or_create_owned(&[(label, *value)]))
            .collect();
        self.register(name, help, family);
        counters
    }

    /// The OpenMetrics text exposition of every series.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(16 * 1024);
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.lock()) {
            tracing::error!(error = %e, "cannot render the metrics");
        }
        out
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        // Registration and rendering leave the registry whole at every step.
        self.registry
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labelled_counters_show_from_the_start_and_count_apart() {
        let registry = MetricsRegistry::default();
        let counters = registry.counters_by(
            "thor_test_things",
            "Things, by colour.",
            "colour",
            &["red", "blue"],
        );
        let gauge: Gauge = Gauge::default();
        registry.register("thor_test_level", "A level.", gauge.clone());
        counters[1].inc_by(3);
        gauge.set(7);
        let text = registry.render();
        assert!(
            text.contains("thor_test_things_total{colour=\"red\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("thor_test_things_total{colour=\"blue\"} 3\n"),
            "{text}"
        );
        assert!(text.contains("# TYPE thor_test_things counter\n"), "{text}");
        assert!(text.contains("thor_test_level 7\n"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
