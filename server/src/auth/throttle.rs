//! The sign-in throttle: wrong passwords are counted per username and per client address, and
//! beyond a burst a key must wait (429 with `Retry-After`) before it may try again. An attempt
//! is counted before its password is checked (so concurrent guesses cannot all pass the check
//! together) and given back if the password was right: right passwords never count in the end,
//! so a desk of traders behind one address signs in freely. While a key is throttled even the
//! right password waits, or the throttle would tell which guess was right.
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

    /// Counts an attempt for `key`, or says how long it must wait first (and counts nothing).
    fn take(&self, key: K, now: Instant) -> Result<(), Duration> {
        let (interval, tolerance) = (self.interval, self.tolerance);
        let mut refused = None;
        self.due.entry(key).and_compute_with(|current| {
            let due = current.map_or(now, |entry| (*entry.value()).max(now));
            let allowed_from = due.checked_sub(tolerance).unwrap_or(now);
            if allowed_from > now {
                refused = Some(allowed_from - now);
                Op::Nop
            } else {
                Op::Put(due + interval)
            }
        });
        refused.map_or(Ok(()), Err)
    }

    /// Gives back an attempt [`Gcra::take`] counted.
    fn give_back(&self, key: K) {
        let interval = self.interval;
        self.due
            .entry(key)
            .and_compute_with(|current| match current {
                Some(entry) => {
                    let due = *entry.value();
                    Op::Put(due.checked_sub(interval).unwrap_or(due))
                }
                None => Op::Nop,
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

    /// Counts a sign-in attempt against its username and address, or refuses it (counting
    /// nothing) with how long it must wait. Give it back with [`LoginThrottle::give_back`] if
    /// the password was right.
    pub fn attempt(
        &self,
        username: &str,
        address: Option<IpAddr>,
        now: Instant,
    ) -> Result<(), Duration> {
        let refused = self.users.take(username.to_string(), now).and_then(|()| {
            let Some(address) = address else {
                return Ok(());
            };
            self.addresses.take(address, now).inspect_err(|_| {
                self.users.give_back(username.to_string());
            })
        });
        if refused.is_err() {
            self.throttled.inc();
        }
        refused
    }

    /// The attempt was no wrong password (a right one, or it could not be checked): it does not
    /// count.
    pub fn give_back(&self, username: &str, address: Option<IpAddr>) {
        self.users.give_back(username.to_string());
        if let Some(address) = address {
            self.addresses.give_back(address);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOME: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));

    /// An attempt whose password was wrong.
    fn fail(throttle: &LoginThrottle, user: &str, address: Option<IpAddr>, now: Instant) {
        assert_eq!(
            throttle.attempt(user, address, now),
            Ok(()),
            "{user} may try"
        );
    }

    #[test]
    fn a_burst_of_failures_then_one_per_interval() {
        let throttle = LoginThrottle::new(6, 1000);
        let start = Instant::now();
        for _ in 0..6 {
            fail(&throttle, "demo", HOME, start);
        }
        // Six a minute: one more after ten seconds.
        assert_eq!(
            throttle.attempt("demo", HOME, start),
            Err(Duration::from_secs(10))
        );
        let later = start + Duration::from_secs(4);
        assert_eq!(
            throttle.attempt("demo", HOME, later),
            Err(Duration::from_secs(6)),
            "a refused attempt does not count"
        );
        let after = start + Duration::from_secs(10);
        fail(&throttle, "demo", HOME, after);
        assert_eq!(
            throttle.attempt("demo", HOME, after),
            Err(Duration::from_secs(10)),
            "one failure buys one interval of waiting"
        );
        // A minute of quiet and the whole burst is back.
        let quiet = after + Duration::from_secs(60);
        for _ in 0..6 {
            fail(&throttle, "demo", HOME, quiet);
        }
        assert!(throttle.attempt("demo", HOME, quiet).is_err());
    }

    #[test]
    fn right_passwords_are_given_back() {
        let throttle = LoginThrottle::new(2, 2);
        let now = Instant::now();
        for _ in 0..10 {
            assert_eq!(throttle.attempt("demo", HOME, now), Ok(()));
            throttle.give_back("demo", HOME);
        }
        fail(&throttle, "demo", HOME, now);
        fail(&throttle, "demo", HOME, now);
        assert!(throttle.attempt("demo", HOME, now).is_err());
    }

    #[test]
    fn attempts_in_flight_count_until_they_are_decided() {
        let throttle = LoginThrottle::new(3, 1000);
        let now = Instant::now();
        // Three checks under way at once, none decided yet: a fourth must wait.
        for _ in 0..3 {
            assert_eq!(throttle.attempt("demo", HOME, now), Ok(()));
        }
        assert!(throttle.attempt("demo", HOME, now).is_err());
        throttle.give_back("demo", HOME);
        assert_eq!(throttle.attempt("demo", HOME, now), Ok(()));
    }

    #[test]
    fn usernames_and_addresses_are_counted_apart() {
        let throttle = LoginThrottle::new(2, 3);
        let now = Instant::now();
        let other = Some(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 9)));
        fail(&throttle, "demo", HOME, now);
        fail(&throttle, "demo", HOME, now);
        assert!(
            throttle.attempt("demo", other, now).is_err(),
            "per username"
        );
        fail(&throttle, "demo2", HOME, now);
        assert!(throttle.attempt("demo3", HOME, now).is_err(), "per address");
        assert_eq!(
            throttle.attempt("demo4", HOME, now).ok(),
            None,
            "the address is still throttled"
        );
        fail(&throttle, "demo3", other, now);
        fail(&throttle, "demo3", None, now);
    }

    #[test]
    fn refusals_are_counted_in_the_metrics() {
        let registry = MetricsRegistry::default();
        let throttle = LoginThrottle::new(1, 1000);
        throttle.register_metrics(&registry);
        let now = Instant::now();
        fail(&throttle, "demo", HOME, now);
        assert!(throttle.attempt("demo", HOME, now).is_err());
        assert!(throttle.attempt("demo", None, now).is_err());
        let text = registry.render();
        assert!(text.contains("thor_logins_throttled_total 2"), "{text}");
    }

    #[test]
    fn a_throttled_key_is_remembered_while_its_count_runs_down() {
        // Sixty a minute: one interval is a second, the whole count a minute. The key must be
        // kept that long (not, say, an interval's sixtieth) or waiting a moment would reset it.
        let throttle = LoginThrottle::new(60, 1000);
        let now = Instant::now();
        for _ in 0..60 {
            fail(&throttle, "demo", HOME, now);
        }
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(
            throttle.attempt("demo", HOME, now),
            Err(Duration::from_secs(1))
        );
    }
}
