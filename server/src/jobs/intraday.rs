//! The intraday job, every second: advances the feed, closes 1-minute bars, stores each closed
//! bar and publishes it (`intraday_bar`) with the symbol's session VWAP (`vwap`), then every
//! symbol's bar still forming (`forming_bar`, a state topic: a slow page keeps only the newest).
//! It stores each symbol's last price too, where a restart carries on from, and fills the open
//! orders the second's trades cross (pushing each filled account's orders, positions and
//! balance at once).

use super::{Job, JobContext, orders};
use crate::on_pool;
use crate::trading::desk::{self, Carried};
use crate::trading::fills;
use anyhow::Context;
use futures::future::BoxFuture;
use std::collections::BTreeMap;
use std::time::Duration;
use thor_core::feature::Feature;
use thor_core::intraday::IntradayBar;
use thor_core::protocol::{ServerMessage, Topic};

pub struct IntradayJob;

impl Job for IntradayJob {
    fn name(&self) -> &'static str {
        Feature::Intraday.name()
    }

    fn cadence(&self) -> Duration {
        Feature::Intraday.cadence()
    }

    fn run<'a>(&'a self, ctx: &'a JobContext) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let now = ctx.clock.now();
            let carried;
            let (closed, vwaps, forming) = {
                let mut market = ctx.market();
                if market.last_tick_at.is_some_and(|last| now <= last) {
                    // Time has not moved on (or went back): there is nothing new to trade.
                    return Ok(());
                }
                market.last_tick_at = Some(now);
                let day = now.date_naive();
                if market.session_day != Some(day) {
                    // A new UTC day starts a new VWAP session.
                    market.bars.reset_all_sessions();
                    market.session_day = Some(day);
                }
                let ticks = market.feed.tick(now);
                let mut closed = market.bars.push_all(ticks.iter());
                closed.extend(market.bars.close_until(now));
                let vwaps: Vec<_> = closed
                    .iter()
                    .filter_map(|bar| market.bars.vwap(&bar.symbol))
                    .collect();
                carried = ticks
                    .iter()
                    .filter_map(|t| {
                        Some(Carried {
                            symbol: t.symbol.clone(),
                            price: market.bars.last_price(&t.symbol)?,
                            at: t.at,
                            session: market
                                .bars
                                .session(&t.symbol)
                                .map(|(volume, notional, _)| (day, volume, notional)),
                        })
                    })
                    .collect::<Vec<_>>();
                (closed, vwaps, market.bars.partials())
            };
            // Where a restart carries on from (one write, whatever the number of symbols).
            desk::store(&ctx.db, &carried).await?;
            for bar in &closed {
                store_bar(ctx, bar).await?;
                ctx.hub
                    .publish(Topic::IntradayBar, ServerMessage::IntradayBar(bar.clone()));
            }
            for vwap in vwaps {
                ctx.hub.publish(Topic::Vwap, ServerMessage::Vwap(vwap));
            }
            for bar in forming {
                ctx.hub
                    .publish(Topic::FormingBar, ServerMessage::FormingBar(bar));
            }
            // This second's trades fill the orders they cross, pushed at once.
            let trades: BTreeMap<String, i64> = carried
                .iter()
                .map(|c| (c.symbol.clone(), (c.price * 100.0).round() as i64))
                .collect();
            let filled = fills::fill_pass(&ctx.db, &trades, ctx.market_hours.as_ref(), now)
                .await
                .context("cannot fill the open orders")?;
            orders::push_accounts(ctx, &filled).await?;
            orders::push_changed(ctx, &filled).await?;
            Ok(())
        })
    }
}

/// Stores a closed bar; a bar already stored for that minute (a restart inside the minute) is
/// replaced, so the table holds one bar per symbol and minute.
async fn store_bar(ctx: &JobContext, bar: &IntradayBar) -> anyhow::Result<()> {
    on_pool!(&ctx.db, pool => sqlx::query(
        "INSERT INTO intraday_bars (symbol, minute_ms, country, open, high, low, close, volume, vwap, trades) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (symbol, minute_ms) DO UPDATE SET country = excluded.country, open = excluded.open, \
         high = excluded.high, low = excluded.low, close = excluded.close, volume = excluded.volume, \
         vwap = excluded.vwap, trades = excluded.trades",
    )
    .bind(&bar.symbol)
    .bind(bar.timestamp_minute.timestamp_millis())
    .bind(&bar.country)
    .bind(bar.open)
    .bind(bar.high)
    .bind(bar.low)
    .bind(bar.close)
    .bind(i64::try_from(bar.volume).unwrap_or(i64::MAX))
    .bind(bar.vwap)
    .bind(i64::from(bar.trades))
    .execute(pool)
    .await
    .map(drop))
    .with_context(|| format!("cannot store the {} bar of {}", bar.symbol, bar.timestamp_minute))
}
