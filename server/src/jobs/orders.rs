//! The orders job, every 10 s: publishes each account's open orders and today's finished ones
//! (`orders`) to that account's connections only. Between its runs, a change is pushed at once:
//! the intraday job's fill pass pushes the orders, positions and balance of each account it
//! fills, and so does the instance that takes an order or a cancel (when it holds the jobs
//! lease; otherwise the lease holder's next second does, [`push_changed`]).

use super::{Job, JobContext};
use crate::db::Database;
use crate::hub::{Audience, Hub};
use crate::trading::{accounts, orders};
use anyhow::Context;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use std::collections::BTreeSet;
use std::time::Duration;
use thor_core::feature::Feature;
use thor_core::protocol::{ServerMessage, Topic};

/// How far back the lease holder looks for orders another instance changed: a change stamped by
/// a clock a little behind, or committed a little after its stamp, is still seen.
const CHANGE_WINDOW_MS: i64 = 5_000;

pub struct OrdersJob;

impl Job for OrdersJob {
    fn name(&self) -> &'static str {
        Feature::Orders.name()
    }

    fn cadence(&self) -> Duration {
        Feature::Orders.cadence()
    }

    fn run<'a>(&'a self, ctx: &'a JobContext) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let now = ctx.clock.now();
            let ids = accounts::account_ids(&ctx.db)
                .await
                .context("cannot list the accounts")?;
            let _turn = ctx.pushes.lock().await;
            for account in ids {
                publish_orders(&ctx.db, &ctx.hub, account, now).await?;
            }
            Ok(())
        })
    }
}

/// Publishes one account's orders to its connections, the caller holding `ctx.pushes`.
async fn publish_orders(
    db: &Database,
    hub: &Hub,
    account: i64,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let orders = orders::of_account(db, account, now)
        .await
        .with_context(|| format!("cannot read the orders of account {account}"))?;
    hub.publish_to(
        Audience::Account(account),
        Topic::Orders,
        ServerMessage::Orders(orders),
    );
    Ok(())
}

/// Publishes the orders, positions and balance of `accounts` at once (after a fill, a placed
/// or a cancelled order: each changes what the account holds or may spend).
pub async fn push_accounts(ctx: &JobContext, changed: &BTreeSet<i64>) -> anyhow::Result<()> {
    if changed.is_empty() {
        return Ok(());
    }
    let _turn = ctx.pushes.lock().await;
    let now = ctx.clock.now();
    for account in changed {
        publish_orders(&ctx.db, &ctx.hub, *account, now).await?;
    }
    for account in changed {
        let Some(book) = accounts::load_book(&ctx.db, *account)
            .await
            .with_context(|| format!("cannot load account {account}"))?
        else {
            continue;
        };
        let positions = accounts::value_positions(&book, |s| ctx.price(s), now);
        super::account_balance::publish_balance(ctx, &book, &positions).await?;
        ctx.hub.publish_to(
            Audience::Account(book.id),
            Topic::Positions,
            ServerMessage::Positions(positions),
        );
    }
    Ok(())
}

/// Pushes the orders of accounts whose orders changed since the last look (placed or
/// cancelled, here or on another instance) and were not pushed since (`ctx.orders_pushed`
/// remembers each account's latest change pushed); `already` were pushed just now.
pub async fn push_changed(ctx: &JobContext, already: &BTreeSet<i64>) -> anyhow::Result<()> {
    let now = ctx.clock.now();
    let since = now.timestamp_millis() - CHANGE_WINDOW_MS;
    let changed = orders::changed_since(&ctx.db, since)
        .await
        .context("cannot read which orders changed")?;
    let mut to_push = BTreeSet::new();
    let mut pushed = ctx.orders_pushed.lock().await;
    pushed.retain(|_, at| *at > since);
    for (account, latest) in changed {
        if pushed.get(&account).is_some_and(|at| *at >= latest) {
            continue;
        }
        pushed.insert(account, latest);
        if !already.contains(&account) {
            to_push.insert(account);
        }
    }
    drop(pushed);
    push_accounts(ctx, &to_push).await
}
