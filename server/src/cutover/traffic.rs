//! REST requests per feature: a counter per feature in `/metrics`, and a count per minute over
//! the last minutes for the status, the evidence an operator needs before retiring a REST timer
//! (once a feature is live it should fall to zero). Counted per instance.

use crate::metrics::MetricsRegistry;
use prometheus_client::metrics::counter::Counter;
use std::sync::Mutex;
use thor_core::feature::Feature;

/// Minutes kept.
const MINUTES: usize = 15;

pub struct RestTraffic {
    counters: Vec<Counter>,
    /// Per feature: (minute number, count) for the last minutes.
    minutes: Mutex<Vec<[(i64, u64); MINUTES]>>,
}

impl RestTraffic {
    pub fn register(registry: &MetricsRegistry) -> Self {
        let names: Vec<&'static str> = Feature::ALL.iter().map(|f| f.name()).collect();
        Self {
            counters: registry.counters_by(
                "thor_rest_requests",
                "REST requests for each live feature's data.",
                "feature",
                &names,
            ),
            minutes: Mutex::new(vec![[(-1, 0); MINUTES]; Feature::ALL.len()]),
        }
    }

    fn index(feature: Feature) -> usize {
        Feature::ALL.iter().position(|f| *f == feature).unwrap_or(0)
    }

    pub fn count(&self, feature: Feature, now_ms: i64) {
        let i = Self::index(feature);
        if let Some(counter) = self.counters.get(i) {
            counter.inc();
        }
        let minute = now_ms / 60_000;
        let mut minutes = self.minutes.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(ring) = minutes.get_mut(i) {
            let slot = &mut ring[(minute.rem_euclid(MINUTES as i64)) as usize];
            if slot.0 != minute {
                *slot = (minute, 0);
            }
            slot.1 += 1;
        }
    }

    /// Requests for `feature` in the last `n` minutes (this one included).
    pub fn last_minutes(&self, feature: Feature, now_ms: i64, n: i64) -> u64 {
        let now = now_ms / 60_000;
        let minutes = self.minutes.lock().unwrap_or_else(|p| p.into_inner());
        minutes.get(Self::index(feature)).map_or(0, |ring| {
            ring.iter()
                .filter(|(minute, _)| *minute > now - n && *minute <= now)
                .map(|(_, count)| count)
                .sum()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_per_feature_and_old_minutes_fall_away() {
        let traffic = RestTraffic::register(&MetricsRegistry::default());
        let minute = 60_000;
        traffic.count(Feature::Positions, 10 * minute);
        traffic.count(Feature::Positions, 12 * minute + 5);
        traffic.count(Feature::Intraday, 12 * minute);
        assert_eq!(traffic.last_minutes(Feature::Positions, 12 * minute, 5), 2);
        assert_eq!(traffic.last_minutes(Feature::Positions, 16 * minute, 5), 1);
        assert_eq!(traffic.last_minutes(Feature::Positions, 30 * minute, 5), 0);
        assert_eq!(
            traffic.last_minutes(Feature::AccountBalance, 12 * minute, 5),
            0
        );
    }
}
