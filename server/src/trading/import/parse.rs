//! The two file formats, TOML and CSV, read into checked account specs; every problem reported
//! with its place in the file.

use super::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TomlFile {
    #[serde(default)]
    account: Vec<TomlAccount>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TomlAccount {
    trader: String,
    number: String,
    cash: f64,
    #[serde(default)]
    holdings: Vec<TomlHolding>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TomlHolding {
    symbol: String,
    quantity: i64,
    entry_price: f64,
}

/// `[[account]]` tables: `trader`, `number`, `cash`, and `holdings`, a list of `{ symbol,
/// quantity, entry_price }`.
pub fn parse_toml(text: &str) -> Result<Vec<AccountSpec>, Vec<String>> {
    let file: TomlFile = toml::from_str(text).map_err(|e| vec![e.to_string()])?;
    let mut problems = Vec::new();
    let mut specs = Vec::new();
    for (i, account) in file.account.into_iter().enumerate() {
        let place = format!("account {} ({})", i + 1, account.trader);
        let mut bad = |what: String| problems.push(format!("{place}: {what}"));
        // f64's Display is the shortest text that reads back as the same number: "595.1", never
        // an exponent, so the money is checked as the decimal that was written.
        let cash = money(&account.cash.to_string(), "cash", MAX_CASH_DOLLARS, true);
        let cash_cents = cash.unwrap_or_else(|e| {
            bad(e);
            0
        });
        let mut holdings = Vec::new();
        for holding in account.holdings {
            let price = money(
                &holding.entry_price.to_string(),
                "entry_price",
                MAX_PRICE_DOLLARS,
                false,
            );
            match (symbol(&holding.symbol), quantity(holding.quantity), price) {
                (Ok(symbol), Ok(quantity), Ok(entry_price_cents)) => holdings.push(Holding {
                    symbol,
                    quantity,
                    entry_price_cents,
                }),
                (symbol, quantity, price) => {
                    let errors = [symbol.err(), quantity.err(), price.err()];
                    for e in errors.into_iter().flatten() {
                        bad(format!("holding {}: {e}", holding.symbol));
                    }
                }
            }
        }
        specs.push(AccountSpec {
            trader: account.trader,
            number: account.number,
            cash_cents,
            holdings,
            place,
        });
    }
    finish(specs, problems)
}

#[derive(Deserialize)]
pub(super) struct CsvRow {
    trader: String,
    account: String,
    cash: String,
    symbol: String,
    quantity: String,
    entry_price: String,
}

/// A header row (`CSV_HEADER`), then one row per holding; a trader's rows repeat the account and
/// cash; an account without holdings is one row with the last three cells empty. `#` starts a
/// comment line.
pub fn parse_csv(text: &str) -> Result<Vec<AccountSpec>, Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| vec![format!("cannot read the header row: {e}")])?
        .iter()
        .map(str::to_string)
        .collect();
    if header != CSV_HEADER {
        return Err(vec![format!(
            "the header row must be `{}` (it is `{}`)",
            CSV_HEADER.join(","),
            header.join(",")
        )]);
    }
    let mut problems = Vec::new();
    let mut specs: Vec<AccountSpec> = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(record) => record,
            Err(e) => {
                problems.push(e.to_string());
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        let place = format!("line {line}");
        let row: CsvRow = match record.deserialize(None) {
            Ok(row) => row,
            Err(e) => {
                problems.push(format!("{place}: {e}"));
                continue;
            }
        };
        let mut bad = |what: String| problems.push(format!("{place}: {what}"));
        let cash_cents = money(&row.cash, "cash", MAX_CASH_DOLLARS, true).unwrap_or_else(|e| {
            bad(e);
            0
        });
        let holding = match [&row.symbol, &row.quantity, &row.entry_price].map(|c| c.is_empty()) {
            [true, true, true] => None,
            [false, false, false] => {
                let quantity = row
                    .quantity
                    .parse::<i64>()
                    .map_err(|_| format!("quantity {:?} is not a whole number", row.quantity))
                    .and_then(quantity);
                let price = money(&row.entry_price, "entry_price", MAX_PRICE_DOLLARS, false);
                match (symbol(&row.symbol), quantity, price) {
                    (Ok(symbol), Ok(quantity), Ok(entry_price_cents)) => Some(Holding {
                        symbol,
                        quantity,
                        entry_price_cents,
                    }),
                    (symbol, quantity, price) => {
                        for e in [symbol.err(), quantity.err(), price.err()]
                            .into_iter()
                            .flatten()
                        {
                            bad(e);
                        }
                        None
                    }
                }
            }
            _ => {
                bad(
                    "symbol, quantity and entry_price are given together, or all left empty".into(),
                );
                None
            }
        };
        // A trader's later rows add holdings to the account their first row opened.
        match specs.iter_mut().find(|s| s.trader == row.trader) {
            Some(spec) => {
                if spec.number != row.account {
                    bad(format!(
                        "{}'s account is {} ({}), not {}",
                        row.trader, spec.number, spec.place, row.account
                    ));
                }
                if spec.cash_cents != cash_cents {
                    bad(format!(
                        "{}'s cash is {} ({}), not {}",
                        row.trader,
                        dollars(spec.cash_cents),
                        spec.place,
                        row.cash
                    ));
                }
                spec.holdings.extend(holding);
            }
            None => specs.push(AccountSpec {
                trader: row.trader,
                number: row.account,
                cash_cents,
                holdings: holding.into_iter().collect(),
                place,
            }),
        }
    }
    finish(specs, problems)
}

/// The checks every account and the file as a whole pass, whatever the format.
pub(super) fn finish(
    specs: Vec<AccountSpec>,
    mut problems: Vec<String>,
) -> Result<Vec<AccountSpec>, Vec<String>> {
    if specs.is_empty() && problems.is_empty() {
        problems.push("there are no accounts in it".into());
    }
    for (i, spec) in specs.iter().enumerate() {
        let place = &spec.place;
        if spec.trader.is_empty() {
            problems.push(format!("{place}: the trader is missing"));
        }
        let number_ok = (1..=32).contains(&spec.number.len())
            && spec
                .number
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !number_ok {
            problems.push(format!(
                "{place}: account number {:?} is not {NUMBER_RULE}",
                spec.number
            ));
        }
        for (j, holding) in spec.holdings.iter().enumerate() {
            if spec.holdings[..j]
                .iter()
                .any(|h| h.symbol == holding.symbol)
            {
                problems.push(format!(
                    "{place}: {} is held twice; give one holding per symbol",
                    holding.symbol
                ));
            }
        }
        if let Some(earlier) = specs[..i].iter().find(|s| s.trader == spec.trader) {
            problems.push(format!(
                "{place}: {} already has an account in this file ({}); a trader has one",
                spec.trader, earlier.place
            ));
        }
        if let Some(earlier) = specs[..i]
            .iter()
            .find(|s| s.number == spec.number && s.trader != spec.trader)
        {
            problems.push(format!(
                "{place}: account {} is also {}'s ({}); two traders never share an account",
                spec.number, earlier.trader, earlier.place
            ));
        }
    }
    if problems.is_empty() {
        Ok(specs)
    } else {
        Err(problems)
    }
}

pub(super) fn symbol(text: &str) -> Result<String, String> {
    Symbol::parse(text)
        .map(|s| s.to_string())
        .map_err(|e| e.to_string())
}

pub(super) fn quantity(quantity: i64) -> Result<i64, String> {
    if (1..=MAX_QUANTITY).contains(&quantity) {
        Ok(quantity)
    } else {
        Err(format!(
            "quantity {quantity} is not from 1 to {MAX_QUANTITY} shares"
        ))
    }
}

/// Dollars written as a decimal (`250000`, `595.1`, `595.10`) to whole cents, exactly: at most
/// two decimals, at most `max` dollars; zero only where `zero_ok`.
pub(super) fn money(text: &str, what: &str, max: i64, zero_ok: bool) -> Result<i64, String> {
    let bad = || format!("{what} {text:?} is not an amount in dollars such as 1250.50");
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || whole.len() > 15 || !digits(whole) || !digits(fraction) {
        return Err(bad());
    }
    if text.contains('.') && fraction.is_empty() {
        return Err(bad());
    }
    if fraction.len() > 2 {
        return Err(format!(
            "{what} {text} has more than two decimals (whole cents only)"
        ));
    }
    let whole: i64 = whole.parse().map_err(|_| bad())?;
    let cents: i64 = format!("{fraction:0<2}").parse().map_err(|_| bad())?;
    if whole > max || (whole == max && cents > 0) {
        return Err(format!("{what} {text} is over {max} dollars"));
    }
    let total = whole * 100 + cents;
    if total == 0 && !zero_ok {
        return Err(format!("{what} must be above zero"));
    }
    Ok(total)
}

/// Cents as dollars, `1234.50`.
pub fn dollars(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}
