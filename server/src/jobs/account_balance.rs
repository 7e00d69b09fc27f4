//! The account balance job, every 10 s: values each paper account at the latest prices (its day
//! change counting from the previous close) and publishes its `account_balance` to that account's
//! connections only.

use super::{Job, JobContext};
use crate::hub::Audience;
use crate::trading::accounts;
use anyhow::Context;
use app::feature::Feature;
use app::protocol::{ServerMessage, Topic};
use futures::future::BoxFuture;
use std::time::Duration;

pub struct AccountBalanceJob;

impl Job for AccountBalanceJob {
    fn name(&self) -> &'static str {
        Feature::AccountBalance.name()
    }

    fn cadence(&self) -> Duration {
        Feature::AccountBalance.cadence()
    }

    fn run<'a>(&'a self, ctx: &'a JobContext) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            for (book, positions) in ctx.valued_accounts().await? {
                let now = positions.timestamp;
                let equity_now = accounts::equity(&book, &positions);
                let base = accounts::day_change_base(&ctx.db, book.id, now, equity_now)
                    .await
                    .with_context(|| {
                        format!("cannot read the previous close of {}", book.account_number)
                    })?;
                let balance = accounts::balance(&book, &positions, base);
                ctx.hub.publish_to(
                    Audience::Account(book.id),
                    Topic::AccountBalance,
                    ServerMessage::AccountBalance(balance),
                );
            }
            Ok(())
        })
    }
}
