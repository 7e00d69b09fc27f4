//! Paper accounts: stored cash and holdings, seeded for the demo traders, valued at the latest
//! prices into the `account_balance` and `positions` payloads.

use crate::db::Database;
use crate::on_pool;
use anyhow::Context;
use chrono::{DateTime, Utc};
use thor_core::account::{AccountBalance, Position, Positions};
use thor_core::intraday::round_cents;

/// An account as stored: cash and holdings, in cents.
#[derive(Debug, Clone, PartialEq)]
pub struct Book {
    pub id: i64,
    pub account_number: String,
    pub cash_cents: i64,
    /// Cash held by open buy orders.
    pub reserved_cents: i64,
    pub holdings: Vec<Holding>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Holding {
    pub symbol: String,
    pub quantity: i64,
    pub entry_price_cents: i64,
}

/// A demo trader's starting account. Holdings are (symbol, quantity, entry price in cents).
struct DemoAccount {
    username: &'static str,
    number: &'static str,
    cash_cents: i64,
    holdings: &'static [(&'static str, i64, i64)],
}

/// The demo traders' accounts, created with the demo users. Different on purpose, so a leak
/// from one to the other would show.
const DEMO_ACCOUNTS: [DemoAccount; 2] = [
    DemoAccount {
        username: "demo",
        number: "THOR-10001",
        cash_cents: 5_000_000,
        holdings: &[
            ("SPY", 100, 59_500),
            ("AAPL", 50, 22_800),
            ("MSFT", 30, 44_500),
        ],
    },
    DemoAccount {
        username: "demo2",
        number: "THOR-10002",
        cash_cents: 12_500_000,
        holdings: &[("QQQ", 200, 51_000), ("IWM", 150, 22_700)],
    },
];

/// Gives each demo trader that has no account its demo account; returns how many were made.
pub async fn seed_demo_accounts(db: &Database) -> anyhow::Result<usize> {
    let mut made = 0;
    for DemoAccount {
        username,
        number,
        cash_cents: cash,
        holdings,
    } in DEMO_ACCOUNTS
    {
        let user: Option<i64> = on_pool!(db, pool => sqlx::query_scalar(
            "SELECT u.id FROM users u LEFT JOIN accounts a ON a.user_id = u.id \
             WHERE u.username = $1 AND a.id IS NULL",
        )
        .bind(username)
        .fetch_optional(pool)
        .await)
        .with_context(|| format!("cannot look up {username}'s account"))?;
        let Some(user_id) = user else { continue };
        // An imported account may have taken the demo number; the start must not fail on it.
        let account_id: Option<i64> = on_pool!(db, pool => sqlx::query_scalar(
            "INSERT INTO accounts (user_id, account_number, cash_cents) \
             SELECT $1, $2, $3 WHERE NOT EXISTS \
             (SELECT 1 FROM accounts WHERE account_number = $4) RETURNING id",
        )
        .bind(user_id)
        .bind(number)
        .bind(cash)
        .bind(number)
        .fetch_optional(pool)
        .await)
        .with_context(|| format!("cannot create {username}'s account"))?;
        let Some(account_id) = account_id else {
            tracing::warn!(
                user = username,
                number,
                "the demo account number is taken; {username} gets no demo account"
            );
            continue;
        };
        for (symbol, quantity, entry) in holdings {
            on_pool!(db, pool => sqlx::query(
                "INSERT INTO positions (account_id, symbol, quantity, entry_price_cents) VALUES ($1, $2, $3, $4)",
            )
            .bind(account_id)
            .bind(*symbol)
            .bind(*quantity)
            .bind(*entry)
            .execute(pool)
            .await
            .map(drop))
            .with_context(|| format!("cannot give {username} a {symbol} position"))?;
        }
        made += 1;
    }
    Ok(made)
}

/// The paper account of a user, if they have one (operators do not).
pub async fn account_id_of(db: &Database, user_id: i64) -> Result<Option<i64>, sqlx::Error> {
    on_pool!(db, pool => sqlx::query_scalar("SELECT id FROM accounts WHERE user_id = $1")
        .bind(user_id)
        .fetch_optional(pool)
        .await)
}

#[derive(sqlx::FromRow)]
struct AccountRow {
    id: i64,
    account_number: String,
    cash_cents: i64,
    reserved_cents: i64,
}

#[derive(sqlx::FromRow)]
struct HoldingRow {
    account_id: i64,
    symbol: String,
    quantity: i64,
    entry_price_cents: i64,
}

/// Every account with its holdings (symbols in alphabetical order).
pub async fn load_books(db: &Database) -> Result<Vec<Book>, sqlx::Error> {
    load(db, None).await
}

/// Every account's id.
pub async fn account_ids(db: &Database) -> Result<Vec<i64>, sqlx::Error> {
    on_pool!(db, pool => sqlx::query_scalar("SELECT id FROM accounts ORDER BY id")
        .fetch_all(pool)
        .await)
}

/// One account with its holdings, if it exists.
pub async fn load_book(db: &Database, id: i64) -> Result<Option<Book>, sqlx::Error> {
    Ok(load(db, Some(id)).await?.into_iter().next())
}

async fn load(db: &Database, only: Option<i64>) -> Result<Vec<Book>, sqlx::Error> {
    let accounts: Vec<AccountRow> = on_pool!(db, pool => sqlx::query_as(
        "SELECT id, account_number, cash_cents, reserved_cents FROM accounts \
         WHERE ($1 IS NULL OR id = $1) ORDER BY id",
    )
    .bind(only)
    .fetch_all(pool)
    .await)?;
    let holdings: Vec<HoldingRow> = on_pool!(db, pool => sqlx::query_as(
        "SELECT account_id, symbol, quantity, entry_price_cents FROM positions \
         WHERE ($1 IS NULL OR account_id = $1) ORDER BY account_id, symbol",
    )
    .bind(only)
    .fetch_all(pool)
    .await)?;
    Ok(accounts
        .into_iter()
        .map(|account| Book {
            id: account.id,
            account_number: account.account_number,
            cash_cents: account.cash_cents,
            reserved_cents: account.reserved_cents,
            holdings: holdings
                .iter()
                .filter(|h| h.account_id == account.id)
                .map(|h| Holding {
                    symbol: h.symbol.clone(),
                    quantity: h.quantity,
                    entry_price_cents: h.entry_price_cents,
                })
                .collect(),
        })
        .collect())
}

/// What an account's day change counts from: its equity at the previous close (the last
/// valuation recorded on an earlier UTC day), or on its first day its first valuation. Records
/// `equity_now` as the latest valuation of `now`'s day (the close the next day counts from), and
/// as the day's opening one if it is the first.
pub async fn day_change_base(
    db: &Database,
    account_id: i64,
    now: DateTime<Utc>,
    equity_now: f64,
) -> Result<f64, sqlx::Error> {
    let day = now.format("%Y-%m-%d").to_string();
    let cents = (equity_now * 100.0).round() as i64;
    on_pool!(db, pool => sqlx::query(
        "INSERT INTO account_days (account_id, day, open_equity_cents, close_equity_cents) \
         VALUES ($1, $2, $3, $3) \
         ON CONFLICT (account_id, day) DO UPDATE SET close_equity_cents = excluded.close_equity_cents",
    )
    .bind(account_id)
    .bind(&day)
    .bind(cents)
    .execute(pool)
    .await
    .map(drop))?;
    let previous_close: Option<i64> = on_pool!(db, pool => sqlx::query_scalar(
        "SELECT COALESCE(close_equity_cents, open_equity_cents) FROM account_days \
         WHERE account_id = $1 AND day < $2 ORDER BY day DESC LIMIT 1",
    )
    .bind(account_id)
    .bind(&day)
    .fetch_optional(pool)
    .await)?;
    let base = match previous_close {
        Some(close) => close,
        None => on_pool!(db, pool => sqlx::query_scalar(
            "SELECT open_equity_cents FROM account_days WHERE account_id = $1 AND day = $2",
        )
        .bind(account_id)
        .bind(&day)
        .fetch_one(pool)
        .await)?,
    };
    Ok(base as f64 / 100.0)
}

fn pct(part: f64, whole: f64) -> f64 {
    if whole.abs() < f64::EPSILON {
        0.0
    } else {
        (part / whole * 10_000.0).round() / 100.0
    }
}

/// Values each holding at `price(symbol)` (the entry price when the feed has none).
pub fn value_positions(
    book: &Book,
    price: impl Fn(&str) -> Option<f64>,
    at: DateTime<Utc>,
) -> Positions {
    let positions = book
        .holdings
        .iter()
        .map(|h| {
            let entry = h.entry_price_cents as f64 / 100.0;
            let current = round_cents(price(&h.symbol).unwrap_or(entry));
            let quantity = h.quantity as f64;
            let cost = entry * quantity;
            let market_value = round_cents(current * quantity);
            let pnl = round_cents(market_value - cost);
            Position {
                symbol: h.symbol.clone(),
                quantity: h.quantity,
                entry_price: entry,
                current_price: current,
                market_value,
                pnl,
                pnl_pct: pct(pnl, cost),
            }
        })
        .collect();
    Positions {
        account_id: book.id,
        positions,
        timestamp: at,
    }
}

fn market_value(positions: &Positions) -> f64 {
    round_cents(positions.positions.iter().map(|p| p.market_value).sum())
}

/// Cash plus the market value of every position.
pub fn equity(book: &Book, positions: &Positions) -> f64 {
    round_cents(book.cash_cents as f64 / 100.0 + market_value(positions))
}

/// The balance that goes with `positions`, given what the day's change counts from.
pub fn balance(book: &Book, positions: &Positions, day_base: f64) -> AccountBalance {
    let cash = book.cash_cents as f64 / 100.0;
    let market_value = market_value(positions);
    let unrealized_pnl = round_cents(positions.positions.iter().map(|p| p.pnl).sum());
    let equity = equity(book, positions);
    let day_change = round_cents(equity - day_base);
    AccountBalance {
        account_id: book.id,
        account_number: book.account_number.clone(),
        cash,
        // A cash account: what open buy orders hold is not free to spend.
        buying_power: round_cents((book.cash_cents - book.reserved_cents) as f64 / 100.0),
        equity,
        market_value,
        day_change,
        day_change_pct: pct(day_change, day_base),
        unrealized_pnl,
        timestamp: positions.timestamp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn book() -> Book {
        Book {
            id: 1,
            account_number: "THOR-1".into(),
            cash_cents: 1_000_000,
            reserved_cents: 25_000,
            holdings: vec![
                Holding {
                    symbol: "AAA".into(),
                    quantity: 10,
                    entry_price_cents: 10_000,
                },
                Holding {
                    symbol: "BBB".into(),
                    quantity: 4,
                    entry_price_cents: 2_500,
                },
            ],
        }
    }

    #[test]
    fn positions_are_valued_at_the_latest_price_with_pnl() {
        let at = Utc
            .with_ymd_and_hms(2026, 3, 9, 14, 0, 0)
            .single()
            .expect("instant");
        let prices = |s: &str| match s {
            "AAA" => Some(110.0),
            "BBB" => Some(20.0),
            _ => None,
        };
        let positions = value_positions(&book(), prices, at);
        let aaa = &positions.positions[0];
        assert_eq!(
            (aaa.current_price, aaa.market_value, aaa.pnl, aaa.pnl_pct),
            (110.0, 1100.0, 100.0, 10.0)
        );
        let bbb = &positions.positions[1];
        assert_eq!(
            (bbb.current_price, bbb.market_value, bbb.pnl, bbb.pnl_pct),
            (20.0, 80.0, -20.0, -20.0)
        );

        let balance = balance(&book(), &positions, 11_000.0);
        assert_eq!(balance.cash, 10_000.0);
        assert_eq!(balance.market_value, 1_180.0);
        assert_eq!(balance.equity, 11_180.0);
        assert_eq!(
            balance.buying_power, 9_750.0,
            "cash less what open buys hold"
        );
        assert_eq!(balance.unrealized_pnl, 80.0);
        assert_eq!((balance.day_change, balance.day_change_pct), (180.0, 1.64));
        assert_eq!(balance.timestamp, at);
    }

    #[test]
    fn a_symbol_without_a_price_is_valued_at_cost() {
        let at = Utc
            .with_ymd_and_hms(2026, 3, 9, 14, 0, 0)
            .single()
            .expect("instant");
        let positions = value_positions(&book(), |_| None, at);
        assert!(positions.positions.iter().all(|p| p.pnl == 0.0));
    }
}
