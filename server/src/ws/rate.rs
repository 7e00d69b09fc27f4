//! Every frame a client sends counts against a token bucket; a client that keeps sending past it is
//! flooding and is closed (1008).

use std::time::{Duration, Instant};

/// After this many refused messages in a row the client is flooding: close it (1008).
pub(super) const FLOOD_LIMIT: u32 = 50;

/// A token bucket: `rate` messages per second on average, bursts of up to `burst`.
pub(super) struct RateLimiter {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
    refused_in_a_row: u32,
    last_warning: Option<Instant>,
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Admit {
    Yes,
    /// Ignored; `warn` at most once a second, so refusals do not become a flood of their own.
    No {
        warn: bool,
    },
    Flooding,
}

impl RateLimiter {
    pub(super) fn new(rate: u32, burst: u32) -> Self {
        Self {
            rate: f64::from(rate.max(1)),
            burst: f64::from(burst.max(1)),
            tokens: f64::from(burst.max(1)),
            last: Instant::now(),
            refused_in_a_row: 0,
            last_warning: None,
        }
    }

    pub(super) fn admit(&mut self, now: Instant) -> Admit {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            self.refused_in_a_row = 0;
            return Admit::Yes;
        }
        self.refused_in_a_row += 1;
        if self.refused_in_a_row > FLOOD_LIMIT {
            return Admit::Flooding;
        }
        let warn = self
            .last_warning
            .is_none_or(|at| now.saturating_duration_since(at) >= Duration::from_secs(1));
        if warn {
            self.last_warning = Some(now);
        }
        Admit::No { warn }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_limit_allows_bursts_refuses_floods_and_recovers() {
        let start = Instant::now();
        let mut limiter = RateLimiter::new(10, 5);
        for _ in 0..5 {
            assert_eq!(limiter.admit(start), Admit::Yes);
        }
        assert_eq!(limiter.admit(start), Admit::No { warn: true });
        assert_eq!(
            limiter.admit(start),
            Admit::No { warn: false },
            "one warning a second"
        );
        // 100 ms later one token has come back.
        let later = start + Duration::from_millis(100);
        assert_eq!(limiter.admit(later), Admit::Yes);
        let mut last = Admit::Yes;
        for _ in 0..=FLOOD_LIMIT {
            last = limiter.admit(later);
        }
        assert_eq!(last, Admit::Flooding);
    }
}
