//! The heartbeat, once per tick (1 s by default): one `heartbeat` message, so every page can
//! tell a live server from a silent one. Every `report_every` ticks (and on the first) it also
//! reports the registered jobs and the latest sequence number of every public topic. It names
//! the topics whose markets are closed, so pages know a quiet chart from a broken socket.

use super::{Job, JobContext};
use futures::future::BoxFuture;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use thor_core::protocol::{Heartbeat, ServerMessage, Topic};
use tokio::time::Instant;

pub struct HeartbeatJob {
    interval: Duration,
    report_every: u64,
    ticks: AtomicU64,
    started: Instant,
}

impl HeartbeatJob {
    pub fn new(interval: Duration, report_every: u32) -> Self {
        Self {
            interval,
            report_every: u64::from(report_every.max(1)),
            ticks: AtomicU64::new(0),
            started: Instant::now(),
        }
    }
}

impl Job for HeartbeatJob {
    fn name(&self) -> &'static str {
        "heartbeat"
    }

    fn cadence(&self) -> Duration {
        self.interval
    }

    fn run<'a>(&'a self, ctx: &'a JobContext) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let tick = self.ticks.fetch_add(1, Ordering::Relaxed) + 1;
            let report = tick == 1 || tick.is_multiple_of(self.report_every);
            let heartbeat = Heartbeat {
                tick,
                uptime_s: self.started.elapsed().as_secs(),
                connections: ctx.hub.connections() as u64,
                active_jobs: report.then(|| ctx.status.names()),
                topics: report.then(|| ctx.hub.latest_seqs()),
                closed: ctx.closed_topics(),
            };
            ctx.hub
                .publish(Topic::Heartbeat, ServerMessage::Heartbeat(heartbeat));
            Ok(())
        })
    }
}
