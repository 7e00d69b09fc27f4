//! The account balance job, every 10 s: values each paper account at the latest prices (its day
//! change counting from the previous close) and publishes its `account_balance` to that account's
//! connections only.

use super::{Job, JobContext};
use crate::hub::Audience;
use crate::trading::accounts::{self, Book};
use anyhow::Context;
use futures::future::BoxFuture;
use std::time::Duration;
use thor_core::account::Positions;
use thor_core::feature::Feature;
use thor_core::protocol::{ServerMessage, Topic};

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
            // Not beside a push of an order's change (a valuation read before a fill must not
            // be published after the fill's).
            let _turn = ctx.pushes.lock().await;
            for (book, positions) in ctx.valued_accounts().await? {
                publish_balance(ctx, &book, &positions).await?;
            }
            Ok(())
        })
    }
}

/// Publishes the balance that goes with `positions` (valued now) to the account's connections;
/// the day change counts from the previous close.
pub(super) async fn publish_balance(
    ctx: &JobContext,
    book: &Book,
    positions: &Positions,
) -> anyhow::Result<()> {
    let equity_now = accounts::equity(book, positions);
    let base = accounts::day_change_base(&ctx.db, book.id, positions.timestamp, equity_now)
        .await
        .with_context(|| format!("cannot read the previous close of {}", book.account_number))?;
    ctx.hub.publish_to(
        Audience::Account(book.id),
        Topic::AccountBalance,
        ServerMessage::AccountBalance(accounts::balance(book, positions, base)),
    );
    Ok(())
}
