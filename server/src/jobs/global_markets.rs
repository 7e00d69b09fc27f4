//! The market status job, every 10 s: computes every exchange's session state at the clock's
//! instant and publishes it (`market_status`) to everyone.

use super::{Job, JobContext};
use app::protocol::{ServerMessage, Topic};
use futures::future::BoxFuture;
use std::time::Duration;

pub struct GlobalMarketsJob;

impl Job for GlobalMarketsJob {
    fn name(&self) -> &'static str {
        "market_status"
    }

    fn cadence(&self) -> Duration {
        Duration::from_secs(10)
    }

    fn run<'a>(&'a self, ctx: &'a JobContext) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let markets = crate::markets::global_status_at(ctx.clock.now());
            ctx.hub
                .publish(Topic::MarketStatus, ServerMessage::MarketStatus(markets));
            Ok(())
        })
    }
}
