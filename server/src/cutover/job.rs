//! The control plane's job, on the instance that runs the jobs: every tick it publishes a new
//! flags version if there is one (changes made on other instances included), and every few
//! ticks it judges the live features and rolls back the ones that broke, and sets the gauges of
//! pages by source and of the gates from the evidence.

use super::ControlPlane;
use crate::jobs::{Job, JobContext};
use futures::future::BoxFuture;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How often the flags version is checked: the most a follower's change waits to go out.
pub const CADENCE: Duration = Duration::from_millis(200);
/// Live features are judged every this many ticks.
const JUDGE_EVERY: u64 = 5;
/// The pages and gate gauges are set every this many ticks (5 s: pages report every few
/// seconds, and the alerts on them wait minutes), so the evidence is not read twice a second.
const GAUGES_EVERY: u64 = 25;
/// Old pages are forgotten every this many ticks.
const FORGET_EVERY: u64 = 18_000;

pub struct CutoverJob {
    plane: ControlPlane,
    ticks: AtomicU64,
}

impl CutoverJob {
    pub fn new(plane: ControlPlane) -> Self {
        Self {
            plane,
            ticks: AtomicU64::new(0),
        }
    }
}

impl Job for CutoverJob {
    fn name(&self) -> &'static str {
        "cutover"
    }

    fn cadence(&self) -> Duration {
        CADENCE
    }

    fn run<'a>(&'a self, _ctx: &'a JobContext) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let tick = self.ticks.fetch_add(1, Ordering::Relaxed);
            self.plane.sync().await?;
            if tick.is_multiple_of(JUDGE_EVERY) {
                self.plane.judge_live_features().await?;
            }
            if tick.is_multiple_of(GAUGES_EVERY) {
                self.plane.refresh_gauges().await?;
            }
            if tick.is_multiple_of(FORGET_EVERY) {
                self.plane.forget_old_pages().await?;
            }
            Ok(())
        })
    }
}
