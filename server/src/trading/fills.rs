//! The fill pass, run by the intraday job after each second's trades: fills the open orders
//! those trades cross (market orders on their symbol's next trade, limit orders when a trade is
//! at the limit or better, each at that trade's price), and expires day orders whose session is
//! over. Cash, the position and the order change in one transaction; a fill races a cancel
//! through the order's `status`, and exactly one of them wins.

use super::orders::{self, OrderRow};
use crate::db::Database;
use crate::feed::hours::MarketHours;
use crate::on_pool;
use chrono::{DateTime, Utc};
use sqlx::Error as SqlError;
use std::collections::{BTreeMap, BTreeSet};
use thor_core::order::Side;

/// Fills and expires what `trades` (each symbol's last trade this second, in cents) and `now`
/// call for; returns the accounts whose orders, cash or positions changed. A day order's session
/// is over: around the clock (`hours` is `None`), with its UTC day; with exchange hours, when its
/// symbol stops trading after it traded while the order was open (one placed while the market is
/// closed waits for the open).
pub async fn fill_pass(
    db: &Database,
    trades: &BTreeMap<String, i64>,
    hours: Option<&MarketHours>,
    now: DateTime<Utc>,
) -> Result<BTreeSet<i64>, SqlError> {
    let mut changed = BTreeSet::new();
    let now_ms = now.timestamp_millis();
    for order in orders::open_orders(db).await? {
        let over = order.time_in_force == "day"
            && match hours {
                None => DateTime::from_timestamp_millis(order.placed_ms)
                    .is_some_and(|placed| placed.date_naive() < now.date_naive()),
                Some(hours) => order.seen_open == 1 && !hours.trading(&order.symbol),
            };
        if over {
            let why = Some("a day order ends with its session");
            if orders::end(db, None, order.id, "expired", why, now_ms).await? {
                changed.insert(order.account_id);
            }
            continue;
        }
        let Some(&price) = trades.get(&order.symbol) else {
            continue;
        };
        if orders::crosses(&order, price) {
            if fill(db, &order, price, now_ms).await? {
                changed.insert(order.account_id);
            }
        } else if order.time_in_force == "day" && order.seen_open == 0 {
            mark_seen_open(db, order.id).await?;
        }
    }
    Ok(changed)
}

async fn mark_seen_open(db: &Database, id: i64) -> Result<(), SqlError> {
    on_pool!(db, pool => sqlx::query("UPDATE orders SET seen_open = 1 WHERE id = $1 AND status = 'open'")
        .bind(id)
        .execute(pool)
        .await
        .map(drop))
}

/// Fills `order` at `price` (cents): false if it was no longer open (a cancel won). A buy the
/// account can no longer pay for (a market buy whose price rose past what it held, beyond the
/// free cash) is rejected instead, and its hold released.
async fn fill(db: &Database, order: &OrderRow, price: i64, now_ms: i64) -> Result<bool, SqlError> {
    let Some(side) = order.side() else {
        return Ok(false);
    };
    let amount = order.quantity.saturating_mul(price);
    let filled = on_pool!(db, pool => async {
        let mut tx = pool.begin().await?;
        let moved = sqlx::query(
            "UPDATE orders SET status = 'filled', fill_price_cents = $1, ended_ms = $2, \
             updated_ms = $2, reserved_cents = 0 WHERE id = $3 AND status = 'open'",
        )
        .bind(price)
        .bind(now_ms)
        .bind(order.id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if moved == 0 {
            tx.rollback().await?;
            return Ok::<_, SqlError>(Some(false));
        }
        match side {
            Side::Buy => {
                // Pays the trade's price and releases the hold; the rest of the free cash
                // covers a price above the hold, or the fill is refused.
                let paid = sqlx::query(
                    "UPDATE accounts SET cash_cents = cash_cents - $1, \
                     reserved_cents = reserved_cents - $2 \
                     WHERE id = $3 AND cash_cents - (reserved_cents - $2) >= $1",
                )
                .bind(amount)
                .bind(order.reserved_cents)
                .bind(order.account_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if paid == 0 {
                    tx.rollback().await?;
                    return Ok(None);
                }
                // The average entry price of what is held after the buy.
                sqlx::query(
                    "INSERT INTO positions (account_id, symbol, quantity, entry_price_cents) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (account_id, symbol) DO UPDATE SET \
                     entry_price_cents = (positions.entry_price_cents * positions.quantity \
                       + excluded.entry_price_cents * excluded.quantity) \
                       / (positions.quantity + excluded.quantity), \
                     quantity = positions.quantity + excluded.quantity",
                )
                .bind(order.account_id)
                .bind(&order.symbol)
                .bind(order.quantity)
                .bind(price)
                .execute(&mut *tx)
                .await?;
            }
            Side::Sell => {
                let delivered = sqlx::query(
                    "UPDATE positions SET quantity = quantity - $1, \
                     reserved_quantity = reserved_quantity - $1 \
                     WHERE account_id = $2 AND symbol = $3 AND quantity >= $1",
                )
                .bind(order.quantity)
                .bind(order.account_id)
                .bind(&order.symbol)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if delivered == 0 {
                    tx.rollback().await?;
                    return Ok(None);
                }
                sqlx::query(
                    "DELETE FROM positions WHERE account_id = $1 AND symbol = $2 AND quantity = 0",
                )
                .bind(order.account_id)
                .bind(&order.symbol)
                .execute(&mut *tx)
                .await?;
                sqlx::query("UPDATE accounts SET cash_cents = cash_cents + $1 WHERE id = $2")
                    .bind(amount)
                    .bind(order.account_id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(Some(true))
    }
    .await)?;
    match filled {
        Some(filled) => Ok(filled),
        None => {
            let why = match side {
                Side::Buy => format!(
                    "at {:.2} the order costs ${:.2}, more than the account's free cash",
                    price as f64 / 100.0,
                    amount as f64 / 100.0
                ),
                Side::Sell => format!(
                    "the account no longer holds {} {}",
                    order.quantity, order.symbol
                ),
            };
            orders::end(db, None, order.id, "rejected", Some(&why), now_ms).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DatabaseUrl;
    use chrono::TimeZone;
    use thor_core::order::{OrderRequest, OrderType, TimeInForce};

    async fn desk(dir: &std::path::Path) -> (Database, i64) {
        let url = DatabaseUrl::new(format!("sqlite://{}", dir.join("thor.db").display()));
        let db = Database::open(&url).await.expect("database opens");
        crate::auth::seed_default_users(&db).await.expect("users");
        super::super::accounts::seed_demo_accounts(&db)
            .await
            .expect("accounts");
        let books = super::super::accounts::load_books(&db)
            .await
            .expect("books");
        (db, books[0].id)
    }

    async fn cash_and_held(db: &Database, account: i64) -> (i64, i64) {
        on_pool!(db, pool => sqlx::query_as(
            "SELECT cash_cents, reserved_cents FROM accounts WHERE id = $1",
        )
        .bind(account)
        .fetch_one(pool)
        .await)
        .expect("account")
    }

    /// The fill pass read the order as open; a cancel won before its fill: the fill must do
    /// nothing, and the cancel stands.
    #[tokio::test]
    async fn a_fill_of_an_order_cancelled_since_it_was_read_does_nothing() {
        let dir = tempfile::tempdir().expect("dir");
        let (db, account) = desk(dir.path()).await;
        let now = Utc
            .with_ymd_and_hms(2026, 3, 9, 14, 30, 0)
            .single()
            .expect("instant");
        let request = OrderRequest::new(
            "SPY",
            Side::Buy,
            3.0,
            OrderType::Limit,
            Some(700.0),
            TimeInForce::Gtc,
            "race",
        )
        .expect("valid");
        let traded = vec!["SPY".to_string()];
        orders::place(&db, account, &request, &traded, now)
            .await
            .expect("placed");
        let before = cash_and_held(&db, account).await;
        assert_eq!(before.1, 3 * 70_000, "the buy holds its cost");
        let read = orders::open_orders(&db).await.expect("open orders");
        let cancelled = orders::cancel(&db, account, read[0].id, now)
            .await
            .expect("cancelled");
        assert_eq!(cancelled.status, thor_core::order::OrderStatus::Cancelled);
        let filled = fill(&db, &read[0], 60_000, now.timestamp_millis())
            .await
            .expect("no database error");
        assert!(!filled, "the cancel won");
        assert_eq!(cash_and_held(&db, account).await, (before.0, 0));
        let orders = orders::of_account(&db, account, now).await.expect("orders");
        assert_eq!(
            orders.finished[0].status,
            thor_core::order::OrderStatus::Cancelled
        );
        // And the other way round: a filled order cannot be cancelled.
        let request = OrderRequest::new(
            "SPY",
            Side::Buy,
            1.0,
            OrderType::Market,
            None,
            TimeInForce::Gtc,
            "race-2",
        )
        .expect("valid");
        crate::trading::desk::store(
            &db,
            &[crate::trading::desk::Carried {
                symbol: "SPY".into(),
                price: 600.0,
                at: now,
                session: None,
            }],
        )
        .await
        .expect("a price");
        let placed = orders::place(&db, account, &request, &traded, now)
            .await
            .expect("placed");
        let trades = BTreeMap::from([("SPY".to_string(), 60_000)]);
        let changed = fill_pass(&db, &trades, None, now).await.expect("fills");
        assert_eq!(changed, BTreeSet::from([account]));
        let refused = orders::cancel(&db, account, placed.order.id, now).await;
        assert!(
            matches!(&refused, Err(orders::Refusal::Conflict(why)) if why.contains("filled already")),
            "{refused:?}"
        );
        assert_eq!(
            cash_and_held(&db, account).await,
            (before.0 - 60_000, 0),
            "paid once, nothing held"
        );
    }
}
