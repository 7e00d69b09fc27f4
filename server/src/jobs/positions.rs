//! The positions job, every 10 s: values each paper account's positions at the latest prices and
//! publishes them (`positions`) to that account's connections only.

use super::{Job, JobContext};
use crate::hub::Audience;
use app::feature::Feature;
use app::protocol::{ServerMessage, Topic};
use futures::future::BoxFuture;
use std::time::Duration;

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
