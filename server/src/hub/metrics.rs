//! The hub's and the sockets' series, registered on the server's [`MetricsRegistry`]: what was
//! published, written, coalesced and dropped (by type), who was refused and why, resumes and
//! their fallbacks, rate limiting, the shared hub's gaps, and the send lag.

use crate::metrics::MetricsRegistry;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use thor_core::protocol::{SnapshotReason, Topic};

/// Upper bounds (seconds) of the send-lag histogram: publish to written-to-socket.
const LAG_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// One counter per topic, indexed by [`Topic::index`].
#[derive(Default)]
struct PerTopic(Vec<Counter>);

impl PerTopic {
    fn register(registry: &MetricsRegistry, name: &str, help: &str) -> Self {
        let names: Vec<&'static str> = Topic::ALL.iter().map(|t| t.as_str()).collect();
        Self(registry.counters_by(name, help, "type", &names))
    }

    fn add(&self, topic: Topic, n: u64) {
        if let Some(counter) = self.0.get(topic.index()) {
            counter.inc_by(n);
        }
    }

    fn total(&self) -> u64 {
        self.0.iter().map(Counter::get).sum()
    }
}

/// Why an upgrade was refused.
pub struct Refusals {
    pub full: Counter,
    pub origin: Counter,
    pub unauthenticated: Counter,
    pub user_limit: Counter,
}

pub struct HubMetrics {
    published: PerTopic,
    messages_out: PerTopic,
    bytes_out: PerTopic,
    coalesced: PerTopic,
    dropped: PerTopic,
    pub refused: Refusals,
    /// Indexed like [`SNAPSHOT_REASONS`].
    fallbacks: Vec<Counter>,
    pub accepted: Counter,
    pub slow_closes: Counter,
    pub resumes: Counter,
    pub replayed: Counter,
    pub bad_frames: Counter,
    pub rate_limited: Counter,
    pub rate_closes: Counter,
    /// Messages that arrived from the shared hub (Redis) after a gap nothing filled, by type.
    gaps: PerTopic,
    /// Messages fetched back from the shared hub's buffer to fill a gap.
    pub healed: Counter,
    /// Messages that never reached the shared hub because its publisher was too far behind.
    pub outlet_drops: Counter,
    pub connections: Gauge,
    pub epoch: Gauge,
    lag: Histogram,
}

const SNAPSHOT_REASONS: [(SnapshotReason, &str); 3] = [
    (SnapshotReason::NewEpoch, "new_epoch"),
    (SnapshotReason::BeyondBuffer, "beyond_buffer"),
    (SnapshotReason::AheadOfServer, "ahead_of_server"),
];

impl HubMetrics {
    pub fn register(registry: &MetricsRegistry) -> Self {
        let counter = |name: &str, help: &str| registry.counter(name, help);
        let gauge = |name: &str, help: &str| registry.gauge(name, help);
        let refused = registry.counters_by(
            "thor_ws_refused",
            "WebSocket upgrades refused, by reason.",
            "reason",
            &["full", "origin", "unauthenticated", "user_limit"],
        );
        let [full, origin, unauthenticated, user_limit] =
            <[Counter; 4]>::try_from(refused).unwrap_or_default();
        let lag = Histogram::new(LAG_BUCKETS);
        registry.register(
            "thor_ws_send_lag_seconds",
            "Time from publishing a message to writing it to a socket.",
            lag.clone(),
        );
        Self {
            published: PerTopic::register(
                registry,
                "thor_hub_published",
                "Messages published on the hub, by type.",
            ),
            messages_out: PerTopic::register(
                registry,
                "thor_ws_messages_out",
                "Messages written to WebSockets, by type.",
            ),
            bytes_out: PerTopic::register(
                registry,
                "thor_ws_bytes_out",
                "Bytes of message text written to WebSockets, by type.",
            ),
            coalesced: PerTopic::register(
                registry,
                "thor_ws_coalesced",
                "Queued messages replaced by a newer one for a slow connection, by type.",
            ),
            dropped: PerTopic::register(
                registry,
                "thor_ws_dropped",
                "Droppable messages dropped because a connection's queue was full, by type.",
            ),
            refused: Refusals {
                full,
                origin,
                unauthenticated,
                user_limit,
            },
            fallbacks: registry.counters_by(
                "thor_ws_snapshot_fallbacks",
                "Resumed topics answered with a snapshot instead of a replay, by reason.",
                "reason",
                &SNAPSHOT_REASONS.map(|(_, name)| name),
            ),
            accepted: counter(
                "thor_ws_connections_accepted",
                "WebSocket connections accepted.",
            ),
            slow_closes: counter(
                "thor_ws_slow_closes",
                "Connections closed (4008) because their queue filled.",
            ),
            resumes: counter(
                "thor_ws_resumes",
                "Resume requests (at connect or by message).",
            ),
            replayed: counter(
                "thor_ws_replayed",
                "Messages replayed from the buffer to resuming connections.",
            ),
            bad_frames: counter(
                "thor_ws_bad_frames",
                "Client frames answered with an error (malformed, unknown, binary).",
            ),
            rate_limited: counter(
                "thor_ws_rate_limited",
                "Client messages ignored for exceeding the rate limit.",
            ),
            rate_closes: counter(
                "thor_ws_rate_closes",
                "Connections closed (1008) for flooding.",
            ),
            gaps: PerTopic::register(
                registry,
                "thor_hub_gaps",
                "Messages from the shared hub that arrived after a gap in their sequence, by type.",
            ),
            healed: counter(
                "thor_hub_healed",
                "Messages fetched back from the shared hub's buffer to fill gaps.",
            ),
            outlet_drops: counter(
                "thor_hub_outlet_drops",
                "Messages that never reached the shared hub: its publisher was too far behind.",
            ),
            connections: gauge("thor_ws_connections", "Open WebSocket connections."),
            epoch: gauge("thor_hub_epoch", "The hub's current epoch."),
            lag,
        }
    }

    pub fn published(&self, topic: Topic) {
        self.published.add(topic, 1);
    }

    pub fn sent(&self, topic: Topic, bytes: usize, lag_us: i64) {
        self.messages_out.add(topic, 1);
        self.bytes_out.add(topic, bytes as u64);
        self.lag.observe(lag_us.max(0) as f64 / 1e6);
    }

    pub fn gap(&self, topic: Topic) {
        self.gaps.add(topic, 1);
    }

    /// Gaps seen on `topic`'s streams.
    pub fn gaps_of(&self, topic: Topic) -> u64 {
        self.gaps.0.get(topic.index()).map_or(0, Counter::get)
    }

    pub fn gaps_total(&self) -> u64 {
        self.gaps.total()
    }

    pub fn coalesced(&self, topic: Topic) {
        self.coalesced.add(topic, 1);
    }

    pub fn dropped(&self, topic: Topic) {
        self.dropped.add(topic, 1);
    }

    pub fn snapshot_fallback(&self, reason: SnapshotReason) {
        if let Some(i) = SNAPSHOT_REASONS.iter().position(|(r, _)| *r == reason)
            && let Some(counter) = self.fallbacks.get(i)
        {
            counter.inc();
        }
    }

    pub fn messages_out(&self) -> u64 {
        self.messages_out.total()
    }

    pub fn dropped_total(&self) -> u64 {
        self.dropped.total() + self.coalesced.total()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_counts_per_type_and_fills_the_lag_histogram() {
        let registry = MetricsRegistry::default();
        let metrics = HubMetrics::register(&registry);
        metrics.sent(Topic::IntradayBar, 120, 300);
        metrics.sent(Topic::IntradayBar, 80, 20_000);
        metrics.coalesced(Topic::AccountBalance);
        metrics.slow_closes.inc();
        metrics.connections.set(3);
        metrics.snapshot_fallback(SnapshotReason::BeyondBuffer);
        let text = registry.render();
        assert!(text.contains("thor_ws_connections 3\n"), "{text}");
        assert!(text.contains("thor_ws_messages_out_total{type=\"intraday_bar\"} 2\n"));
        assert!(text.contains("thor_ws_messages_out_total{type=\"probe\"} 0\n"));
        assert!(text.contains("thor_ws_bytes_out_total{type=\"intraday_bar\"} 200\n"));
        assert!(text.contains("thor_ws_coalesced_total{type=\"account_balance\"} 1\n"));
        assert!(text.contains("thor_ws_slow_closes_total 1\n"));
        assert!(text.contains("thor_ws_snapshot_fallbacks_total{reason=\"beyond_buffer\"} 1\n"));
        assert!(text.contains("thor_ws_refused_total{reason=\"user_limit\"} 0\n"));
        assert!(
            text.contains("thor_ws_send_lag_seconds_bucket{le=\"0.0005\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("thor_ws_send_lag_seconds_bucket{le=\"0.01\"} 1\n"));
        assert!(text.contains("thor_ws_send_lag_seconds_bucket{le=\"0.025\"} 2\n"));
        assert!(text.contains("thor_ws_send_lag_seconds_count 2\n"));
        assert_eq!(metrics.messages_out(), 2);
        assert_eq!(metrics.dropped_total(), 1);
    }
}
