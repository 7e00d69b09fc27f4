//! The positions job, every 10 s: values each paper account's positions at the latest prices and
//! publishes them (`positions`) to that account's connections only.

use super::{Job, JobContext};
use crate::hub::Audience;
use futures::future::BoxFuture;
use std::time::Duration;
use thor_core::feature::Feature;
use thor_core::protocol::{ServerMessage, Topic};

pub struct PositionsJob;

impl Job for PositionsJob {
    fn name(&self) -> &'static str {
        Feature::Positions.name()
    }

    fn cadence(&self) -> Duration {
        Feature::Positions.cadence()
    }

    fn run<'a>(&'a self, ctx: &'a JobContext) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            // Not beside a push of an order's change (a valuation read before a fill must not
            // be published after the fill's).
            let _turn = ctx.pushes.lock().await;
            for (book, positions) in ctx.valued_accounts().await? {
                ctx.hub.publish_to(
                    Audience::Account(book.id),
                    Topic::Positions,
                    ServerMessage::Positions(positions),
                );
            }
            Ok(())
        })
    }
}
