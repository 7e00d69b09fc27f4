//! The global market job, every 10 s: computes every exchange's session state at the clock's
//! instant and publishes it (`market_status`) to everyone.

use super::{Job, JobContext};
use futures::future::BoxFuture;
use std::time::Duration;
use thor_core::feature::Feature;
use thor_core::protocol::{ServerMessage, Topic};

pub struct GlobalMarketJob;

impl Job for GlobalMarketJob {
    fn name(&self) -> &'static str {
        Feature::GlobalMarket.name()
    }

    fn cadence(&self) -> Duration {
        Feature::GlobalMarket.cadence()
    }

    fn run<'a>(&'a self, ctx: &'a JobContext) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let markets = crate::calendar::global_status_at(ctx.clock.now());
            ctx.hub
                .publish(Topic::MarketStatus, ServerMessage::MarketStatus(markets));
            Ok(())
        })
    }
}
