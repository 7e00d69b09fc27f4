//! The hub's counters, rendered in Prometheus's text format at `GET /metrics`.

use app::protocol::{SnapshotReason, Topic};
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

const TOPICS: usize = Topic::ALL.len();

/// Upper bounds (seconds) of the send-lag histogram: publish to written-to-socket.
const LAG_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Default)]
struct PerTopic([AtomicU64; TOPICS]);

impl PerTopic {
    fn add(&self, topic: Topic, n: u64) {
        self.0[topic.index()].fetch_add(n, Ordering::Relaxed);
    }

    fn get(&self, topic: Topic) -> u64 {
        self.0[topic.index()].load(Ordering::Relaxed)
    }

    fn total(&self) -> u64 {
        self.0.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }
}

#[derive(Default)]
pub struct Metrics {
    published: PerTopic,
    messages_out: PerTopic,
    bytes_out: PerTopic,
    coalesced: PerTopic,
    dropped: PerTopic,
    pub accepted: AtomicU64,
    pub refused_full: AtomicU64,
    pub refused_origin: AtomicU64,
    pub refused_unauthenticated: AtomicU64,
    pub refused_user_limit: AtomicU64,
    pub slow_closes: AtomicU64,
    pub resumes: AtomicU64,
    pub replayed: AtomicU64,
    fallback_new_epoch: AtomicU64,
    fallback_beyond_buffer: AtomicU64,
    fallback_ahead: AtomicU64,
    pub bad_frames: AtomicU64,
    pub rate_limited: AtomicU64,
    pub rate_closes: AtomicU64,
    /// Messages that arrived from the shared hub (Redis) out of sequence.
    pub gaps: AtomicU64,
    /// Messages fetched back from the shared hub's buffer to fill a gap.
    pub healed: AtomicU64,
    /// Messages that never reached the shared hub because its publisher was too far behind.
    pub outlet_drops: AtomicU64,
    lag_buckets: [AtomicU64; LAG_BUCKETS.len()],
    lag_count: AtomicU64,
    lag_sum_us: AtomicU64,
}

pub fn inc(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Metrics {
    pub fn published(&self, topic: Topic) {
        self.published.add(topic, 1);
    }

    pub fn sent(&self, topic: Topic, bytes: usize, lag_us: i64) {
        self.messages_out.add(topic, 1);
        self.bytes_out.add(topic, bytes as u64);
        let lag_us = lag_us.max(0) as u64;
        let lag_s = lag_us as f64 / 1e6;
        if let Some(i) = LAG_BUCKETS.iter().position(|bound| lag_s <= *bound) {
            self.lag_buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.lag_count.fetch_add(1, Ordering::Relaxed);
        self.lag_sum_us.fetch_add(lag_us, Ordering::Relaxed);
    }

    pub fn coalesced(&self, topic: Topic) {
        self.coalesced.add(topic, 1);
    }

    pub fn dropped(&self, topic: Topic) {
        self.dropped.add(topic, 1);
    }

    pub fn snapshot_fallback(&self, reason: SnapshotReason) {
        inc(match reason {
            SnapshotReason::NewEpoch => &self.fallback_new_epoch,
            SnapshotReason::BeyondBuffer => &self.fallback_beyond_buffer,
            SnapshotReason::AheadOfServer => &self.fallback_ahead,
        });
    }

    pub fn messages_out(&self) -> u64 {
        self.messages_out.total()
    }

    pub fn dropped_total(&self) -> u64 {
        self.dropped.total() + self.coalesced.total()
    }

    /// The Prometheus text exposition of every counter, plus the gauges passed in.
    pub fn render(&self, gauges: &[(&str, &str, f64)]) -> String {
        let mut out = String::with_capacity(8 * 1024);
        for (name, help, value) in gauges {
            header(&mut out, name, help, "gauge");
            let _ = writeln!(out, "{name} {value}");
        }
        let per_topic: [(&str, &str, &PerTopic); 5] = [
            (
                "thor_hub_published_total",
                "Messages published on the hub, by type.",
                &self.published,
            ),
            (
                "thor_ws_messages_out_total",
                "Messages written to WebSockets, by type.",
                &self.messages_out,
            ),
            (
                "thor_ws_bytes_out_total",
                "Bytes of message text written to WebSockets, by type.",
                &self.bytes_out,
            ),
            (
                "thor_ws_coalesced_total",
                "Queued messages replaced by a newer one for a slow connection, by type.",
                &self.coalesced,
            ),
            (
                "thor_ws_dropped_total",
                "Droppable messages dropped because a connection's queue was full, by type.",
                &self.dropped,
            ),
        ];
        for (name, help, counters) in per_topic {
            header(&mut out, name, help, "counter");
            for topic in Topic::ALL {
                let _ = writeln!(
                    out,
                    "{name}{{type=\"{}\"}} {}",
                    topic.as_str(),
                    counters.get(topic)
                );
            }
        }
        let refused = [
            ("full", &self.refused_full),
            ("origin", &self.refused_origin),
            ("unauthenticated", &self.refused_unauthenticated),
            ("user_limit", &self.refused_user_limit),
        ];
        header(
            &mut out,
            "thor_ws_refused_total",
            "WebSocket upgrades refused, by reason.",
            "counter",
        );
        for (reason, counter) in refused {
            let _ = writeln!(
                out,
                "thor_ws_refused_total{{reason=\"{reason}\"}} {}",
                counter.load(Ordering::Relaxed)
            );
        }
        header(
            &mut out,
            "thor_ws_snapshot_fallbacks_total",
            "Resumed topics answered with a snapshot instead of a replay, by reason.",
            "counter",
        );
        for (reason, counter) in [
            ("new_epoch", &self.fallback_new_epoch),
            ("beyond_buffer", &self.fallback_beyond_buffer),
            ("ahead_of_server", &self.fallback_ahead),
        ] {
            let _ = writeln!(
                out,
                "thor_ws_snapshot_fallbacks_total{{reason=\"{reason}\"}} {}",
                counter.load(Ordering::Relaxed)
            );
        }
        let plain = [
            (
                "thor_ws_connections_accepted_total",
                "WebSocket connections accepted.",
                &self.accepted,
            ),
            (
                "thor_ws_slow_closes_total",
                "Connections closed (4008) because their queue filled.",
                &self.slow_closes,
            ),
            (
                "thor_ws_resumes_total",
                "Resume requests (at connect or by message).",
                &self.resumes,
            ),
            (
                "thor_ws_replayed_total",
                "Messages replayed from the buffer to resuming connections.",
                &self.replayed,
            ),
            (
                "thor_ws_bad_frames_total",
                "Client frames answered with an error (malformed, unknown, binary).",
                &self.bad_frames,
            ),
            (
                "thor_ws_rate_limited_total",
                "Client messages ignored for exceeding the rate limit.",
                &self.rate_limited,
            ),
            (
                "thor_ws_rate_closes_total",
                "Connections closed (1008) for flooding.",
                &self.rate_closes,
            ),
            (
                "thor_hub_gaps_total",
                "Messages from the shared hub that arrived after a gap in their sequence.",
                &self.gaps,
            ),
            (
                "thor_hub_healed_total",
                "Messages fetched back from the shared hub's buffer to fill gaps.",
                &self.healed,
            ),
            (
                "thor_hub_outlet_drops_total",
                "Messages that never reached the shared hub: its publisher was too far behind.",
                &self.outlet_drops,
            ),
        ];
        for (name, help, counter) in plain {
            header(&mut out, name, help, "counter");
            let _ = writeln!(out, "{name} {}", counter.load(Ordering::Relaxed));
        }
        let name = "thor_ws_send_lag_seconds";
        header(
            &mut out,
            name,
            "Time from publishing a message to writing it to a socket.",
            "histogram",
        );
        let mut cumulative = 0;
        for (bound, count) in LAG_BUCKETS.iter().zip(&self.lag_buckets) {
            cumulative += count.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let count = self.lag_count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            out,
            "{name}_sum {}",
            self.lag_sum_us.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count {count}");
        out
    }
}

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_counts_per_type_and_fills_the_lag_histogram() {
        let metrics = Metrics::default();
        metrics.sent(Topic::IntradayBar, 120, 300);
        metrics.sent(Topic::IntradayBar, 80, 20_000);
        metrics.coalesced(Topic::AccountBalance);
        inc(&metrics.slow_closes);
        let text = metrics.render(&[("thor_ws_connections", "Open sockets.", 3.0)]);
        assert!(text.contains("thor_ws_connections 3\n"));
        assert!(text.contains("thor_ws_messages_out_total{type=\"intraday_bar\"} 2\n"));
        assert!(text.contains("thor_ws_bytes_out_total{type=\"intraday_bar\"} 200\n"));
        assert!(text.contains("thor_ws_coalesced_total{type=\"account_balance\"} 1\n"));
        assert!(text.contains("thor_ws_slow_closes_total 1\n"));
        assert!(text.contains("thor_ws_send_lag_seconds_bucket{le=\"0.0005\"} 1\n"));
        assert!(text.contains("thor_ws_send_lag_seconds_bucket{le=\"0.01\"} 1\n"));
        assert!(text.contains("thor_ws_send_lag_seconds_bucket{le=\"0.025\"} 2\n"));
        assert!(text.contains("thor_ws_send_lag_seconds_count 2\n"));
    }
}
