//! `thor accounts import FILE`: traders' paper accounts (number, starting cash, holdings) from a
//! small TOML or CSV file; `docs/accounts.md` describes both, with examples beside it.
//!
//! The whole file is checked, then checked against the database, before anything is written;
//! then every account is written in one transaction, each with its audit entry. A file with any
//! problem changes nothing, and all its problems are reported at once, each with the place in
//! the file it is at. Re-importing a trader's account (same number) replaces its cash and
//! holdings; an account never changes hands or number, so two traders never share one.

use super::accounts::Holding;
use crate::audit::{self, Entry};
use crate::clock::now_ms;
use crate::db::Database;
use crate::on_pool;
use anyhow::{Context, bail};
use serde::Deserialize;
use std::path::Path;
use thor_core::symbol::Symbol;

mod parse;

pub use parse::{dollars, parse_csv, parse_toml};

/// One trader's account as the file gives it, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountSpec {
    pub trader: String,
    pub number: String,
    pub cash_cents: i64,
    pub holdings: Vec<Holding>,
    /// Where it is in the file, for messages: `account 2` (TOML) or `line 4` (CSV).
    pub place: String,
}

/// What an account number may be.
pub const NUMBER_RULE: &str = "1 to 32 letters, digits, '-' or '_'";
/// The most starting cash an account may have, in dollars (a typo guard).
pub(super) const MAX_CASH_DOLLARS: i64 = 1_000_000_000_000;
/// The highest entry price, in dollars.
pub(super) const MAX_PRICE_DOLLARS: i64 = 10_000_000;
/// The largest holding, in shares.
pub(super) const MAX_QUANTITY: i64 = 1_000_000_000;
/// The CSV file's columns, in this order.
pub const CSV_HEADER: [&str; 6] = [
    "trader",
    "account",
    "cash",
    "symbol",
    "quantity",
    "entry_price",
];

/// Reads and checks the file: `.toml` or `.csv`, by its extension.
pub fn read_file(path: &Path) -> anyhow::Result<Vec<AccountSpec>> {
    let shown = path.display();
    let kind = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let parse: fn(&str) -> Result<Vec<AccountSpec>, Vec<String>> = match kind.as_deref() {
        Some("toml") => parse_toml,
        Some("csv") => parse_csv,
        _ => bail!("{shown}: the file must end in .toml or .csv (see docs/accounts.md)"),
    };
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {shown}"))?;
    parse(&text).map_err(|problems| refused(&shown.to_string(), &problems))
}

/// The error for a file with problems: every one, and that nothing was imported.
fn refused(file: &str, problems: &[String]) -> anyhow::Error {
    let count = match problems.len() {
        1 => "a problem".to_string(),
        n => format!("{n} problems"),
    };
    anyhow::anyhow!(
        "{file} has {count}; nothing was imported:\n  {}",
        problems.join("\n  ")
    )
}

/// One account as imported.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    pub trader: String,
    pub number: String,
    pub cash_cents: i64,
    pub holdings: usize,
    /// The trader had this account already; its cash and holdings were replaced.
    pub replaced: bool,
}

#[derive(sqlx::FromRow)]
struct Trader {
    id: i64,
    role: String,
}

/// Checks `specs` against the database (each trader exists and is a trader; no account changes
/// hands or number) and writes them, all in one transaction with an audit entry each (by
/// `actor`); any problem, and nothing is written. `file` names the file in messages.
pub async fn import(
    db: &Database,
    file: &str,
    specs: &[AccountSpec],
    actor: &str,
) -> anyhow::Result<Vec<Imported>> {
    let at = now_ms();
    let imported = on_pool!(db, pool => {
        let mut tx = pool.begin().await.context("cannot start a transaction")?;
        let mut problems = Vec::new();
        // (user id, the account the trader has now, if any) per spec.
        let mut plan = Vec::new();
        for spec in specs {
            let place = &spec.place;
            let trader: Option<Trader> =
                sqlx::query_as("SELECT id, role FROM users WHERE username = $1")
                    .bind(&spec.trader)
                    .fetch_optional(&mut *tx)
                    .await
                    .context("cannot look the trader up")?;
            let Some(trader) = trader else {
                problems.push(format!(
                    "{place}: there is no user named {:?}; add them first with \
                     `thor users add {} --role trader`",
                    spec.trader, spec.trader
                ));
                continue;
            };
            if trader.role != "trader" {
                problems.push(format!(
                    "{place}: {} is an {}; only traders have paper accounts",
                    spec.trader, trader.role
                ));
                continue;
            }
            let holder: Option<String> = sqlx::query_scalar(
                "SELECT u.username FROM accounts a JOIN users u ON u.id = a.user_id \
                 WHERE a.account_number = $1 AND a.user_id <> $2",
            )
            .bind(&spec.number)
            .bind(trader.id)
            .fetch_optional(&mut *tx)
            .await
            .context("cannot look the account number up")?;
            if let Some(holder) = holder {
                problems.push(format!(
                    "{place}: account {} belongs to {holder}; two traders never share an account",
                    spec.number
                ));
                continue;
            }
            let existing: Option<(i64, String)> = sqlx::query_as(
                "SELECT id, account_number FROM accounts WHERE user_id = $1",
            )
            .bind(trader.id)
            .fetch_optional(&mut *tx)
            .await
            .context("cannot look the trader's account up")?;
            match existing {
                Some((_, number)) if number != spec.number => problems.push(format!(
                    "{place}: {} already has account {number}; an account keeps its number \
                     (the file gives {})",
                    spec.trader, spec.number
                )),
                existing => plan.push((spec, trader.id, existing.map(|(id, _)| id))),
            }
        }
        if !problems.is_empty() {
            return Err(refused(file, &problems));
        }
        let mut imported = Vec::new();
        for (spec, user_id, existing) in plan {
            let account_id: i64 = match existing {
                Some(id) => {
                    sqlx::query("UPDATE accounts SET cash_cents = $1, reserved_cents = 0 WHERE id = $2")
                        .bind(spec.cash_cents)
                        .bind(id)
                        .execute(&mut *tx)
                        .await
                        .context("cannot update the account")?;
                    // The old holdings go, and the day change counts from the new ones.
                    // Its open orders end: what they held is of the old account.
                    sqlx::query(
                        "UPDATE orders SET status = 'cancelled', \
                         reason = 'the account was imported again', ended_ms = $1, \
                         updated_ms = $1 WHERE account_id = $2 AND status = 'open'",
                    )
                    .bind(now_ms())
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .context("cannot cancel the account's open orders")?;
                    for statement in [
                        "DELETE FROM positions WHERE account_id = $1",
                        "DELETE FROM account_days WHERE account_id = $1",
                    ] {
                        sqlx::query(statement)
                        .bind(id)
                        .execute(&mut *tx)
                        .await
                        .context("cannot clear the account")?;
                    }
                    id
                }
                None => sqlx::query_scalar(
                    "INSERT INTO accounts (user_id, account_number, cash_cents) \
                     VALUES ($1, $2, $3) RETURNING id",
                )
                .bind(user_id)
                .bind(&spec.number)
                .bind(spec.cash_cents)
                .fetch_one(&mut *tx)
                .await
                .context("cannot create the account")?,
            };
            for holding in &spec.holdings {
                sqlx::query(
                    "INSERT INTO positions (account_id, symbol, quantity, entry_price_cents) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(account_id)
                .bind(&holding.symbol)
                .bind(holding.quantity)
                .bind(holding.entry_price_cents)
                .execute(&mut *tx)
                .await
                .context("cannot write a holding")?;
            }
            let listed: Vec<String> = spec
                .holdings
                .iter()
                .map(|h| format!("{} {} @ {}", h.symbol, h.quantity, dollars(h.entry_price_cents)))
                .collect();
            let entry = Entry {
                at,
                actor: actor.to_string(),
                action: "import-account".into(),
                username: spec.trader.clone(),
                detail: format!(
                    "{} ({}): cash {}; holdings: {}",
                    spec.number,
                    if existing.is_some() { "replaced" } else { "new" },
                    dollars(spec.cash_cents),
                    if listed.is_empty() { "none".to_string() } else { listed.join(", ") }
                ),
            };
            audit::record!(tx, &entry)
                .await
                .context("cannot write the audit entry")?;
            imported.push(Imported {
                trader: spec.trader.clone(),
                number: spec.number.clone(),
                cash_cents: spec.cash_cents,
                holdings: spec.holdings.len(),
                replaced: existing.is_some(),
            });
        }
        tx.commit().await.context("cannot commit the accounts")?;
        imported
    });
    for account in &imported {
        tracing::info!(
            trader = %account.trader,
            account = %account.number,
            replaced = account.replaced,
            actor,
            "imported a paper account"
        );
    }
    Ok(imported)
}

#[cfg(test)]
mod tests {
    use super::parse::money;
    use super::*;

    #[test]
    fn the_documented_examples_read_as_the_same_accounts() {
        let toml = parse_toml(include_str!("../../../../docs/accounts.example.toml"))
            .expect("the TOML example");
        let csv = parse_csv(include_str!("../../../../docs/accounts.example.csv"))
            .expect("the CSV example");
        let without_places = |specs: Vec<AccountSpec>| -> Vec<AccountSpec> {
            specs
                .into_iter()
                .map(|spec| AccountSpec {
                    place: String::new(),
                    ..spec
                })
                .collect()
        };
        assert_eq!(toml.len(), 2);
        assert_eq!(toml[0].holdings[1].entry_price_cents, 22_810);
        assert_eq!(without_places(toml), without_places(csv));
    }

    #[test]
    fn money_is_read_exactly_in_whole_cents() {
        assert_eq!(
            money("250000", "cash", MAX_CASH_DOLLARS, true),
            Ok(25_000_000)
        );
        let over = money("595.1", "entry_price", 10, false);
        assert_eq!(
            over.err().as_deref(),
            Some("entry_price 595.1 is over 10 dollars")
        );
        assert_eq!(money("595.1", "p", 1000, false), Ok(59_510));
        assert_eq!(money("0.07", "p", 1000, false), Ok(7));
        assert_eq!(money("0", "cash", 1000, true), Ok(0));
        for bad in ["", "-5", "1e3", "12.", ".5", "1,000", "$5", "1.234", "0"] {
            assert!(money(bad, "p", 1000, false).is_err(), "{bad:?}");
        }
        assert_eq!(dollars(59_510), "595.10");
    }

    #[test]
    fn a_toml_file_reads_into_accounts_and_its_problems_are_all_named() {
        let good = r#"
            [[account]]
            trader = "alice"
            number = "DESK-0001"
            cash = 250000.50
            holdings = [
              { symbol = "spy", quantity = 100, entry_price = 595.1 },
              { symbol = "AAPL", quantity = 50, entry_price = 228 },
            ]

            [[account]]
            trader = "bob"
            number = "DESK-0002"
            cash = 125000
        "#;
        let specs = parse_toml(good).expect("a good file");
        assert_eq!(specs.len(), 2);
        assert_eq!(specs[0].cash_cents, 25_000_050);
        assert_eq!(
            specs[0].holdings[0],
            Holding {
                symbol: "SPY".into(),
                quantity: 100,
                entry_price_cents: 59_510
            }
        );
        assert!(specs[1].holdings.is_empty());

        let bad = r#"
            [[account]]
            trader = "alice"
            number = "DESK 1"
            cash = -5
            holdings = [{ symbol = "SPY", quantity = 0, entry_price = 1.005 }]

            [[account]]
            trader = "alice"
            number = "DESK-2"
            cash = 1
        "#;
        let problems = parse_toml(bad).expect_err("problems").join("\n");
        for expected in [
            "account 1 (alice): cash \"-5\"",
            "quantity 0 is not from 1",
            "more than two decimals",
            "account number \"DESK 1\"",
            "account 2 (alice): alice already has an account in this file (account 1 (alice))",
        ] {
            assert!(problems.contains(expected), "{expected}: {problems}");
        }
        let unknown =
            parse_toml("[[account]]\ntrader = \"a\"\nnumber = \"1\"\ncash = 1\nbroker = \"x\"\n");
        assert!(unknown.expect_err("refused").join("").contains("broker"));
        assert!(parse_toml("").expect_err("empty")[0].contains("no accounts"));
    }

    #[test]
    fn a_csv_file_groups_a_traders_rows_and_checks_that_they_agree() {
        let good = "trader,account,cash,symbol,quantity,entry_price\n\
                    # alice holds two\n\
                    alice,DESK-0001,250000.00,SPY,100,595.00\n\
                    alice,DESK-0001,250000.00,AAPL,50,228.00\n\
                    bob,DESK-0002,125000,,,\n";
        let specs = parse_csv(good).expect("a good file");
        assert_eq!(specs.len(), 2);
        assert_eq!(specs[0].holdings.len(), 2);
        assert_eq!(specs[1].cash_cents, 12_500_000);

        let bad = "trader,account,cash,symbol,quantity,entry_price\n\
                   alice,DESK-0001,250000.00,SPY,100,595.00\n\
                   alice,DESK-0009,1.00,SPY,ten,595.00\n\
                   bob,DESK-0001,5,QQQ,,\n";
        let problems = parse_csv(bad).expect_err("problems").join("\n");
        for expected in [
            "line 3: alice's account is DESK-0001 (line 2), not DESK-0009",
            "line 3: alice's cash is 250000.00 (line 2), not 1.00",
            "line 3: quantity \"ten\" is not a whole number",
            "line 4: symbol, quantity and entry_price are given together",
            "line 4: account DESK-0001 is also alice's (line 2)",
        ] {
            assert!(problems.contains(expected), "{expected}: {problems}");
        }
        let header = parse_csv("name,account\nalice,1\n").expect_err("refused");
        assert!(header[0].contains("trader,account,cash,symbol,quantity,entry_price"));
    }
}
