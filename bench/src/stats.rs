//! The arithmetic of the benchmark, kept apart from sockets and processes so it can be tested:
//! packing a probe sample, counting loss from `seq`s, percentiles.

/// Latencies are stored in 24 bits of a sample: at most this many microseconds (16.7 s).
pub const MAX_LATENCY_US: u64 = (1 << 24) - 1;

/// One received probe, packed into a `u64` so 5,000 clients × 100/s × 10 s of samples stay
/// small: the probe's `seq` in the high 40 bits, the latency in µs (saturated) in the low 24.
pub fn pack(seq: u64, latency_us: i64) -> u64 {
    let latency = u64::try_from(latency_us.max(0))
        .unwrap_or(0)
        .min(MAX_LATENCY_US);
    (seq << 24) | latency
}

pub fn unpack(sample: u64) -> (u64, u32) {
    // The low 24 bits always fit in a u32.
    (sample >> 24, (sample & MAX_LATENCY_US) as u32)
}

/// What one client saw of the probes whose `seq` lies in the window `(lo, hi]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WindowCount {
    /// Probes in the window this client should have received.
    pub expected: u64,
    /// Distinct probes in the window it did receive.
    pub received: u64,
}

impl WindowCount {
    pub fn lost(&self) -> u64 {
        self.expected.saturating_sub(self.received)
    }
}

/// Loss for one client over the window `(lo, hi]` of probe `seq`s, where `hi` is the last `seq`
/// the server had published when the window closed.
///
/// `first_seen` is the first probe `seq` the client ever received (its snapshot or first live
/// message), or `None` if it received none. A client is owed every `seq` from the later of
/// `lo + 1` and `first_seen` up to `hi`; a client that saw no probe at all is owed the whole
/// window. `received_seqs` are the `seq`s it received (any order; duplicates and `seq`s outside
/// the window are ignored).
pub fn window_count(
    lo: u64,
    hi: u64,
    first_seen: Option<u64>,
    received_seqs: impl IntoIterator<Item = u64>,
) -> WindowCount {
    if hi <= lo {
        return WindowCount::default();
    }
    let start = match first_seen {
        Some(first) => first.max(lo + 1),
        None => lo + 1,
    };
    let expected = (hi + 1).saturating_sub(start);
    let mut seen: Vec<u64> = received_seqs
        .into_iter()
        .filter(|s| *s >= start && *s <= hi)
        .collect();
    seen.sort_unstable();
    seen.dedup();
    WindowCount {
        expected,
        received: seen.len() as u64,
    }
}

/// The nearest-rank percentile (`p` in 0..=100) of sorted values; `None` when there are none.
pub fn percentile(sorted: &[u32], p: f64) -> Option<u32> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len();
    let rank = ((p / 100.0) * n as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, n) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_round_trips_and_saturates() {
        assert_eq!(unpack(pack(12_345, 678)), (12_345, 678));
        assert_eq!(unpack(pack(1 << 39, 0)), (1 << 39, 0));
        // A clock step backwards is not a negative latency.
        assert_eq!(unpack(pack(7, -5)), (7, 0));
        assert_eq!(unpack(pack(7, 1 << 30)), (7, MAX_LATENCY_US as u32));
    }

    #[test]
    fn no_loss_when_every_seq_arrives() {
        let c = window_count(10, 20, Some(3), 3..=25);
        assert_eq!(
            c,
            WindowCount {
                expected: 10,
                received: 10
            }
        );
        assert_eq!(c.lost(), 0);
    }

    #[test]
    fn gaps_inside_the_window_are_lost() {
        // 11..=20 expected; 13 and 17 missing.
        let got = (11..=20).filter(|s| *s != 13 && *s != 17);
        assert_eq!(window_count(10, 20, Some(1), got).lost(), 2);
    }

    #[test]
    fn trailing_seqs_never_received_are_lost() {
        // The server published up to 20; the client stopped at 18.
        assert_eq!(window_count(10, 20, Some(1), 11..=18).lost(), 2);
    }

    #[test]
    fn a_client_is_owed_only_from_its_first_probe() {
        // Joined late: first probe 15, so 11..=14 are not owed.
        let c = window_count(10, 20, Some(15), 15..=20);
        assert_eq!(c.expected, 6);
        assert_eq!(c.lost(), 0);
    }

    #[test]
    fn a_client_that_saw_no_probe_lost_the_whole_window() {
        assert_eq!(window_count(10, 20, None, []).lost(), 10);
    }

    #[test]
    fn duplicates_and_outsiders_do_not_hide_loss() {
        // 12 twice, 25 beyond the window, 5 before it: still 11..=20 minus {11,12} received.
        let got = [12, 12, 25, 5, 13, 14, 15, 16, 17, 18, 19, 20];
        let c = window_count(10, 20, Some(5), got);
        assert_eq!(c.received, 9);
        assert_eq!(c.lost(), 1);
    }

    #[test]
    fn empty_window() {
        assert_eq!(
            window_count(20, 20, Some(1), 1..=20),
            WindowCount::default()
        );
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile(&v, 100.0), Some(100));
        assert_eq!(percentile(&v, 0.0), Some(1));
        let v = [10, 20, 30];
        assert_eq!(percentile(&v, 50.0), Some(20));
        assert_eq!(percentile(&v, 99.0), Some(30));
        assert_eq!(percentile(&[], 50.0), None);
    }
}
