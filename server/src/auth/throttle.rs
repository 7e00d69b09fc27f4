//! The sign-in throttle: wrong passwords are counted per username and per client address, and
//! beyond a burst a key must wait (429 with `Retry-After`) before it may try again. Right
//! passwords are never counted, so a desk of traders behind one address signs in freely; but
//! while a key is throttled even the right password waits, or the throttle would tell which
//! guess was right.
//!
//! Each key is a GCRA (the algorithm `governor` uses) over a `moka` cache: governor's limiters
//! cannot look without counting, and only failures may count here; moka bounds how many keys
//! are kept (an attacker inventing usernames cannot grow it) and forgets idle ones.

use crate::metrics::MetricsRegistry;
use moka::ops::compute::Op;
use moka::sync::Cache;
use prometheus_client::metrics::counter::Counter;
use std::hash::Hash;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Keys (usernames, addresses) remembered at most; the least recently used go first.
const MAX_KEYS: u64 = 100_000;

/// Wrong passwords per key per minute, in a burst or spread.
#[derive(Clone)]
struct Gcra<K: Hash + Eq + Send + Sync + 'static> {
    /// When the key's count will be back to zero ("theoretical arrival time").
    due: Cache<K, Instant>,
    /// One failure's worth of waiting.
    interval: Duration,
    /// How far ahead `due` may run before the key must wait: the burst, less one.
    tolerance: Duration,
}

impl<K: Hash + Eq + Send + Sync + Clone + 'static> Gcra<K> {
    fn per_minute(failures: u32) -> Self {
        let failures = failures.max(1);
        let interval = Duration::from_secs(60) / failures;
        Self {
            due: Cache::builder()
                .max_capacity(MAX_KEYS)
                // After this long a key's count is zero again anyway.
                .time_to_idle(interval * failures)
                .build(),
            interval,
            tolerance: interval * (failures - 1),
        }
    }

    /// How long `key` must wait before its next attempt, if at all.
    fn wait(&self, key: &K, now: Instant) -> Option<Duration> {
        let due = self.due.get(key)?;
        let allowed_from = due.checked_sub(self.tolerance).unwrap_or(now);
        (allowed_from > now).then(|| allowed_from - now)
    }

    fn failed(&self, key: K, now: Instant) {
        let interval = self.interval;
        self.due.entry(key).and_compute_with(|current| {
            let due = current.map_or(now, |entry| (*entry.value()).max(now));
            Op::Put(due + interval)
        });
    }
}

/// Wrong passwords per username and per client address.
#[derive(Clone)]
pub struct LoginThrottle {
    users: Gcra<String>,
    addresses: Gcra<IpAddr>,
    throttled: Counter,
}

impl LoginThrottle {
    pub fn new(per_user_per_minute: u32, per_address_per_minute: u32) -> Self {
        Self {
            users: Gcra::per_minute(per_user_per_minute),
            addresses: Gcra::per_minute(per_address_per_minute),
            throttled: Counter::default(),
        }
    }

    pub fn register_metrics(&self, registry: &MetricsRegistry) {
        registry.register(
            "thor_logins_throttled",
            "Sign-ins refused (429) after too many wrong passwords for the username or address.",
            self.throttled.clone(),
        );
    }

    /// `Err(wait)` when this username or address must wait before trying again.
    pub fn check(
        &self,
        username: &str,
        address: Option<IpAddr>,
        now: Instant,
    ) -> Result<(), Duration> {
        let user = self.users.wait(&username.to_string(), now);
        let address = address.and_then(|a| self.addresses.wait(&a, now));
        match user.max(address) {
            Some(wait) => {
                self.throttled.inc();
                Err(wait)
            }
            None => Ok(()),
        }
    }

    /// Counts a wrong password against both keys.
    pub fn failed(&self, username: &str, address: Option<IpAddr>, now: Instant) {
        self.users.failed(username.to_string(), now);
        if let Some(address) = address {
            self.addresses.failed(address, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOME: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));

    #[test]
    fn a_burst_of_failures_then_one_per_interval() {
        let throttle = LoginThrottle::new(6, 1000);
        let start = Instant::now();
        for _ in 0..6 {
            assert_eq!(throttle.check("demo", HOME, start), Ok(()));
            throttle.failed("demo", HOME, start);
        }
        // Six a minute: one more after ten seconds.
        assert_eq!(
            throttle.check("demo", HOME, start),
            Err(Duration::from_secs(10))
        );
        let later = start + Duration::from_secs(4);
        assert_eq!(
            throttle.check("demo", HOME, later),
            Err(Duration::from_secs(6))
        );
        let after = start + Duration::from_secs(10);
        assert_eq!(throttle.check("demo", HOME, after), Ok(()));
        throttle.failed("demo", HOME, after);
        assert_eq!(
            throttle.check("demo", HOME, after),
            Err(Duration::from_secs(10)),
            "one failure buys one interval of waiting"
        );
        // A minute of quiet and the whole burst is back.
        let quiet = after + Duration::from_secs(60);
        for _ in 0..6 {
            assert_eq!(throttle.check("demo", HOME, quiet), Ok(()));
            throttle.failed("demo", HOME, quiet);
        }
        assert!(throttle.check("demo", HOME, quiet).is_err());
    }

    #[test]
    fn usernames_and_addresses_are_counted_apart() {
        let throttle = LoginThrottle::new(2, 3);
        let now = Instant::now();
        let other = Some(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 9)));
        throttle.failed("demo", HOME, now);
        throttle.failed("demo", HOME, now);
        assert!(throttle.check("demo", other, now).is_err(), "per username");
        assert_eq!(throttle.check("demo2", HOME, now), Ok(()));
        throttle.failed("demo2", HOME, now);
        assert!(throttle.check("demo3", HOME, now).is_err(), "per address");
        assert_eq!(throttle.check("demo3", other, now), Ok(()));
        assert_eq!(throttle.check("demo3", None, now), Ok(()));
    }
}
