//! The probe: `probe` messages at a fixed rate, numbered like every other topic, so a client
//! can measure delivery latency (from `sent_us`) and loss (from `seq`) end to end. Off unless
//! `hub.probe-rate-hz` / `THOR_PROBE_RATE` is set; the benchmark turns it on.

use super::{Job, JobContext};
use crate::clock::now_us;
use futures::future::BoxFuture;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use thor_core::protocol::{Probe, ServerMessage, Topic};

pub struct ProbeJob {
    interval: Duration,
    sent: AtomicU64,
}

impl ProbeJob {
    pub fn new(rate_hz: u32) -> Self {
        Self {
            interval: Duration::from_secs(1) / rate_hz.max(1),
            sent: AtomicU64::new(0),
        }
    }
}

impl Job for ProbeJob {
    fn name(&self) -> &'static str {
        "probe"
    }

    fn cadence(&self) -> Duration {
        self.interval
    }

    fn run<'a>(&'a self, ctx: &'a JobContext) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let n = self.sent.fetch_add(1, Ordering::Relaxed) + 1;
            let probe = Probe {
                n,
                sent_us: now_us(),
            };
            ctx.hub.publish(Topic::Probe, ServerMessage::Probe(probe));
            Ok(())
        })
    }
}
