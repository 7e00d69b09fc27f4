//! Paper orders in the database: placing one (checked against the account, idempotent by the
//! trader's key), cancelling one, and one account's [`Orders`]. Fills are `fills`'.
//!
//! Money and shares an open order may need are held as it is placed: a buy holds its cost
//! (`accounts.reserved_cents`), a sell the shares it will deliver (`positions.reserved_quantity`).
//! Each hold is one conditional `UPDATE` (`… WHERE cash_cents - reserved_cents >= $cost`), so
//! concurrent orders, on any instance, on SQLite or PostgreSQL, can never spend the same money
//! or shares twice. The account is a cash account: no margin, and no short selling (a sell
//! needs the shares).

use crate::db::Database;
use crate::on_pool;
use chrono::{DateTime, Utc};
use sqlx::Error as SqlError;
use thor_core::order::{Order, OrderRequest, OrderType, Orders, Side};

/// How many finished orders of today an [`Orders`] carries (the newest).
pub const FINISHED_SHOWN: i64 = 50;
/// The most orders an account may have open at once (a desk's risk limit; it also bounds the
/// `orders` message, which carries every open order).
pub const MAX_OPEN_ORDERS: i64 = 100;

/// Why an order was not placed or cancelled, as the trader reads it.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// Not the trader's to ask this way (400).
    #[error("{0}")]
    Invalid(String),
    /// The account or the order's state says no (409).
    #[error("{0}")]
    Conflict(String),
    /// No such order of this account (404).
    #[error("{0}")]
    NotFound(String),
    #[error("database: {0}")]
    Database(#[from] SqlError),
}

/// A placed order, and whether this request placed it (false: the same key placed it before).
#[derive(Debug)]
pub struct Placed {
    pub order: Order,
    pub new: bool,
}

#[derive(sqlx::FromRow, Debug, Clone)]
pub(super) struct OrderRow {
    pub id: i64,
    pub account_id: i64,
    pub client_order_id: String,
    pub symbol: String,
    pub side: String,
    pub quantity: i64,
    pub order_type: String,
    pub limit_price_cents: Option<i64>,
    pub time_in_force: String,
    pub status: String,
    pub reserved_cents: i64,
    pub seen_open: i64,
    pub placed_ms: i64,
    pub fill_price_cents: Option<i64>,
    pub ended_ms: Option<i64>,
    pub reason: Option<String>,
}

/// An order row's columns, for `concat!` (SQL text stays static).
macro_rules! columns {
    () => {
        "id, account_id, client_order_id, symbol, side, quantity, order_type, limit_price_cents, \
         time_in_force, status, reserved_cents, seen_open, placed_ms, fill_price_cents, \
         ended_ms, reason"
    };
}

// After `columns!`, which it uses.
mod place;

pub use place::place;

fn instant(ms: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
}

fn dollars(cents: i64) -> f64 {
    cents as f64 / 100.0
}

impl OrderRow {
    /// The order as reported; `None` for a row whose words are not ours (logged).
    pub fn to_order(&self) -> Option<Order> {
        let parsed = (|| {
            Some(Order {
                id: self.id,
                client_order_id: self.client_order_id.clone(),
                symbol: self.symbol.clone(),
                side: self.side.parse().ok()?,
                quantity: self.quantity,
                order_type: self.order_type.parse().ok()?,
                limit_price: self.limit_price_cents.map(dollars),
                time_in_force: self.time_in_force.parse().ok()?,
                status: self.status.parse().ok()?,
                placed_at: instant(self.placed_ms)?,
                fill_price: self.fill_price_cents.map(dollars),
                ended_at: self.ended_ms.and_then(instant),
                reason: self.reason.clone(),
            })
        })();
        if parsed.is_none() {
            tracing::error!(order = self.id, "a stored order does not parse; left out");
        }
        parsed
    }

    pub fn side(&self) -> Option<Side> {
        self.side.parse().ok()
    }

    /// Whether `request` asks for exactly this order (a retry), not another under its key.
    fn same_as(&self, request: &OrderRequest) -> bool {
        self.symbol == request.symbol().as_str()
            && self.side == request.side().as_str()
            && self.quantity == request.quantity()
            && self.order_type == request.order_type().as_str()
            && self.limit_price_cents == request.limit_price_cents()
            && self.time_in_force == request.time_in_force().as_str()
    }
}

async fn by_key(db: &Database, account: i64, key: &str) -> Result<Option<OrderRow>, SqlError> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM orders WHERE account_id = $1 AND client_order_id = $2"
    );
    on_pool!(db, pool => sqlx::query_as::<_, OrderRow>(sql)
        .bind(account)
        .bind(key)
        .fetch_optional(pool)
        .await)
}

async fn by_id(db: &Database, account: i64, id: i64) -> Result<Option<OrderRow>, SqlError> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM orders WHERE account_id = $1 AND id = $2"
    );
    on_pool!(db, pool => sqlx::query_as::<_, OrderRow>(sql)
        .bind(account)
        .bind(id)
        .fetch_optional(pool)
        .await)
}

/// Cancels an open order of `account`, releasing what it held. Exactly one of a cancel and a
/// fill of the same order wins: each moves it from `open` in one conditional update.
pub async fn cancel(
    db: &Database,
    account: i64,
    id: i64,
    now: DateTime<Utc>,
) -> Result<Order, Refusal> {
    let now_ms = now.timestamp_millis();
    let closed = end(db, Some(account), id, "cancelled", None, now_ms).await?;
    if !closed {
        return match by_id(db, account, id).await? {
            None => Err(Refusal::NotFound(format!("you have no order {id}"))),
            Some(row) => Err(Refusal::Conflict(format!(
                "order {id} is {} already; only an open order can be cancelled",
                row.status
            ))),
        };
    }
    by_id(db, account, id)
        .await?
        .and_then(|row| row.to_order())
        .ok_or_else(|| Refusal::NotFound(format!("you have no order {id}")))
}

/// Moves an open order to `status` (cancelled, expired or rejected) and releases its hold, in
/// one transaction; false if it was not open (or not `account`'s, when given).
pub(super) async fn end(
    db: &Database,
    account: Option<i64>,
    id: i64,
    status: &str,
    reason: Option<&str>,
    now_ms: i64,
) -> Result<bool, SqlError> {
    on_pool!(db, pool => async {
        let mut tx = pool.begin().await?;
        let ended: Option<(i64, String, String, i64, i64)> = sqlx::query_as(
            "UPDATE orders SET status = $1, reason = $2, ended_ms = $3, updated_ms = $3 \
             WHERE id = $4 AND status = 'open' AND ($5 IS NULL OR account_id = $5) \
             RETURNING account_id, side, symbol, quantity, reserved_cents",
        )
        .bind(status)
        .bind(reason)
        .bind(now_ms)
        .bind(id)
        .bind(account)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((account_id, side, symbol, quantity, reserved)) = ended else {
            tx.rollback().await?;
            return Ok(false);
        };
        if side == Side::Buy.as_str() {
            sqlx::query("UPDATE accounts SET reserved_cents = reserved_cents - $1 WHERE id = $2")
                .bind(reserved)
                .bind(account_id)
                .execute(&mut *tx)
                .await?;
        } else {
            sqlx::query(
                "UPDATE positions SET reserved_quantity = reserved_quantity - $1 \
                 WHERE account_id = $2 AND symbol = $3",
            )
            .bind(quantity)
            .bind(account_id)
            .bind(&symbol)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }
    .await)
}

/// One account's open orders (oldest first) and those finished since the start of `now`'s UTC
/// day (newest first, at most [`FINISHED_SHOWN`]).
pub async fn of_account(
    db: &Database,
    account: i64,
    now: DateTime<Utc>,
) -> Result<Orders, SqlError> {
    let open_sql = concat!(
        "SELECT ",
        columns!(),
        " FROM orders WHERE account_id = $1 AND status = 'open' ORDER BY id"
    );
    let finished_sql = concat!(
        "SELECT ",
        columns!(),
        " FROM orders WHERE account_id = $1 AND status <> 'open' \
         AND ended_ms >= $2 ORDER BY ended_ms DESC, id DESC LIMIT $3"
    );
    let day_start = now
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map_or(0, |start| start.and_utc().timestamp_millis());
    let open: Vec<OrderRow> = on_pool!(db, pool => sqlx::query_as(open_sql)
        .bind(account)
        .fetch_all(pool)
        .await)?;
    let finished: Vec<OrderRow> = on_pool!(db, pool => sqlx::query_as(finished_sql)
        .bind(account)
        .bind(day_start)
        .bind(FINISHED_SHOWN)
        .fetch_all(pool)
        .await)?;
    Ok(Orders {
        account_id: account,
        open: open.iter().filter_map(OrderRow::to_order).collect(),
        finished: finished.iter().filter_map(OrderRow::to_order).collect(),
        timestamp: now,
    })
}

/// Whether an open order fills at a trade of `price_cents`.
pub(super) fn crosses(order: &OrderRow, price_cents: i64) -> bool {
    let Some(side) = order.side() else {
        return false;
    };
    match (
        order.order_type.parse::<OrderType>(),
        order.limit_price_cents,
    ) {
        (Ok(OrderType::Market), _) => true,
        (Ok(OrderType::Limit), Some(limit)) => match side {
            Side::Buy => price_cents <= limit,
            Side::Sell => price_cents >= limit,
        },
        _ => false,
    }
}

/// Every open order (oldest first), for the fill pass.
pub(super) async fn open_orders(db: &Database) -> Result<Vec<OrderRow>, SqlError> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM orders WHERE status = 'open' ORDER BY id"
    );
    on_pool!(db, pool => sqlx::query_as(sql).fetch_all(pool).await)
}

/// The accounts whose orders changed after `since_ms` (on any instance), each with its latest
/// change.
pub async fn changed_since(db: &Database, since_ms: i64) -> Result<Vec<(i64, i64)>, SqlError> {
    on_pool!(db, pool => sqlx::query_as(
        "SELECT account_id, MAX(updated_ms) FROM orders WHERE updated_ms > $1 GROUP BY account_id",
    )
    .bind(since_ms)
    .fetch_all(pool)
    .await)
}
