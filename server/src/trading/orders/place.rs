//! Placing an order: checked against the desk and the account, its cash or shares held, and
//! inserted, in one transaction; idempotent by the trader's key.

use super::{MAX_OPEN_ORDERS, OrderRow, Placed, Refusal, by_key, dollars};
use crate::db::Database;
use crate::on_pool;
use chrono::{DateTime, Utc};
use sqlx::Error as SqlError;
use thor_core::order::{Order, OrderRequest, Side};

/// The last stored price of `symbol`, in cents.
async fn last_price_cents(db: &Database, symbol: &str) -> Result<Option<i64>, SqlError> {
    let price: Option<f64> = on_pool!(db, pool => sqlx::query_scalar(
        "SELECT price FROM market_prices WHERE symbol = $1",
    )
    .bind(symbol)
    .fetch_optional(pool)
    .await)?;
    Ok(price
        .filter(|p| p.is_finite() && *p > 0.0)
        .map(|p| (p * 100.0).round() as i64))
}

/// The cash a buy holds while open.
async fn hold_for(db: &Database, request: &OrderRequest) -> Result<i64, Refusal> {
    let symbol = request.symbol().as_str();
    let price = match request.limit_price_cents() {
        Some(limit) => limit,
        None => {
            let last = last_price_cents(db, symbol).await?.ok_or_else(|| {
                Refusal::Conflict(format!(
                    "{symbol} has not traded yet, so a market order has no price to hold cash \
                     for; place a limit order"
                ))
            })?;
            thor_core::order::market_buy_hold_cents(last)
        }
    };
    // At most 10^6 shares × 10^8 cents: far inside i64.
    Ok(request.quantity().saturating_mul(price))
}

/// Places `request` for `account`, or returns the order its key already placed. A key reused
/// for a different order is refused. `traded` are the symbols the desk trades.
pub async fn place(
    db: &Database,
    account: i64,
    request: &OrderRequest,
    traded: &[String],
    now: DateTime<Utc>,
) -> Result<Placed, Refusal> {
    let symbol = request.symbol().as_str();
    if !traded.iter().any(|s| s == symbol) {
        return Err(Refusal::Invalid(format!(
            "{symbol} is not traded here; the symbols are {}",
            traded.join(", ")
        )));
    }
    let hold = match request.side() {
        Side::Buy => hold_for(db, request).await?,
        Side::Sell => 0,
    };

    // Twice at most: a second request with the same key may win the insert in between.
    for _ in 0..2 {
        if let Some(existing) = by_key(db, account, request.client_order_id()).await? {
            return replayed(existing, request);
        }
        match insert(db, account, request, hold, now).await? {
            Some(order) => return Ok(Placed { order, new: true }),
            None => continue,
        }
    }
    match by_key(db, account, request.client_order_id()).await? {
        Some(existing) => replayed(existing, request),
        None => Err(Refusal::Conflict(
            "the order could not be placed; try again".into(),
        )),
    }
}

fn replayed(existing: OrderRow, request: &OrderRequest) -> Result<Placed, Refusal> {
    if !existing.same_as(request) {
        return Err(Refusal::Conflict(format!(
            "client_order_id {:?} already placed order {} ({} {} {}); a new order needs a new key",
            existing.client_order_id,
            existing.id,
            existing.side,
            existing.quantity,
            existing.symbol
        )));
    }
    let order = existing
        .to_order()
        .ok_or_else(|| Refusal::Conflict("the order under this key cannot be read".into()))?;
    Ok(Placed { order, new: false })
}

/// Holds what the order needs and inserts it, in one transaction. `None` when another request
/// inserted the same key first (nothing is held then).
async fn insert(
    db: &Database,
    account: i64,
    request: &OrderRequest,
    hold: i64,
    now: DateTime<Utc>,
) -> Result<Option<Order>, Refusal> {
    let symbol = request.symbol().as_str();
    let quantity = request.quantity();
    let now_ms = now.timestamp_millis();
    let insert_sql = concat!(
        "INSERT INTO orders (account_id, client_order_id, symbol, side, quantity, order_type, \
         limit_price_cents, time_in_force, status, reserved_cents, placed_ms, updated_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'open', $9, $10, $10) RETURNING ",
        columns!()
    );
    let outcome: Result<Inserted, SqlError> = on_pool!(db, pool => async {
        let mut tx = pool.begin().await?;
        // The hold first (a sell's is 0): the transaction's first statement writes the
        // account's row, so SQLite takes its write lock at once, and PostgreSQL locks the row
        // and re-checks it after any concurrent order of the account commits. Everything below
        // sees the account as no concurrent order can change it.
        let mut held = sqlx::query(
            "UPDATE accounts SET reserved_cents = reserved_cents + $1 \
             WHERE id = $2 AND cash_cents - reserved_cents >= $1",
        )
        .bind(hold)
        .bind(account)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if held == 1 && request.side() == Side::Sell {
            held = sqlx::query(
                "UPDATE positions SET reserved_quantity = reserved_quantity + $1 \
                 WHERE account_id = $2 AND symbol = $3 AND quantity - reserved_quantity >= $1",
            )
            .bind(quantity)
            .bind(account)
            .bind(symbol)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        if held == 0 {
            tx.rollback().await?;
            return Ok(Inserted::CannotHold);
        }
        let open: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM orders WHERE account_id = $1 AND status = 'open'",
        )
        .bind(account)
        .fetch_one(&mut *tx)
        .await?;
        if open >= MAX_OPEN_ORDERS {
            tx.rollback().await?;
            return Ok(Inserted::TooMany(open));
        }
        let row = sqlx::query_as::<_, OrderRow>(insert_sql)
            .bind(account)
            .bind(request.client_order_id())
            .bind(symbol)
            .bind(request.side().as_str())
            .bind(quantity)
            .bind(request.order_type().as_str())
            .bind(request.limit_price_cents())
            .bind(request.time_in_force().as_str())
            .bind(hold)
            .bind(now_ms)
            .fetch_one(&mut *tx)
            .await;
        match row {
            Ok(row) => {
                tx.commit().await?;
                Ok(Inserted::Placed(Box::new(row)))
            }
            Err(e) if is_unique_violation(&e) => {
                tx.rollback().await?;
                Ok(Inserted::KeyTaken)
            }
            Err(e) => Err(e),
        }
    }
    .await);
    match outcome? {
        Inserted::Placed(row) => row
            .to_order()
            .map(Some)
            .ok_or_else(|| Refusal::Conflict("the placed order cannot be read back".into())),
        // The key was taken meanwhile: the caller reads that order.
        Inserted::KeyTaken => Ok(None),
        Inserted::CannotHold => Err(not_enough(db, account, request, hold).await),
        Inserted::TooMany(open) => Err(Refusal::Conflict(format!(
            "{open} orders are open, the most an account may have; cancel one first"
        ))),
    }
}

/// What one attempt to insert an order came to.
enum Inserted {
    Placed(Box<OrderRow>),
    /// The account lacks the cash (or the shares): nothing was written.
    CannotHold,
    /// Another request inserted the same key first: nothing was written.
    KeyTaken,
    /// The account has this many orders open, the most it may: nothing was written.
    TooMany(i64),
}

fn is_unique_violation(error: &SqlError) -> bool {
    error
        .as_database_error()
        .is_some_and(|e| e.is_unique_violation())
}

/// The refusal of an order the account cannot pay for (or deliver), with the figures.
async fn not_enough(db: &Database, account: i64, request: &OrderRequest, hold: i64) -> Refusal {
    let symbol = request.symbol().as_str();
    match request.side() {
        Side::Buy => {
            let free: Result<Option<i64>, SqlError> = on_pool!(db, pool => sqlx::query_scalar(
                "SELECT cash_cents - reserved_cents FROM accounts WHERE id = $1",
            )
            .bind(account)
            .fetch_optional(pool)
            .await);
            match free {
                Ok(free) => Refusal::Conflict(format!(
                    "not enough buying power: the order holds ${:.2}; ${:.2} is free",
                    dollars(hold),
                    dollars(free.unwrap_or(0))
                )),
                Err(e) => e.into(),
            }
        }
        Side::Sell => {
            let free: Result<Option<i64>, SqlError> = on_pool!(db, pool => sqlx::query_scalar(
                "SELECT quantity - reserved_quantity FROM positions \
                 WHERE account_id = $1 AND symbol = $2",
            )
            .bind(account)
            .bind(symbol)
            .fetch_optional(pool)
            .await);
            match free {
                Ok(free) => Refusal::Conflict(format!(
                    "not enough {symbol} to sell: the order sells {}; {} free to sell (no short \
                     selling)",
                    request.quantity(),
                    free.unwrap_or(0)
                )),
                Err(e) => e.into(),
            }
        }
    }
}
