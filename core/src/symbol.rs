//! A ticker symbol, checked once where it enters (settings, a REST query, a socket message):
//! past the edge a [`Symbol`] is valid by its type.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest symbol accepted (e.g. `BRK.B`, `RDS-A` fit easily).
pub const MAX_SYMBOL_LEN: usize = 12;

/// One to [`MAX_SYMBOL_LEN`] ASCII letters, digits, dots or dashes, stored upper-case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Symbol(String);

/// Why a text is not a [`Symbol`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidSymbol {
    pub text: String,
}

impl fmt::Display for InvalidSymbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "symbol {:?} is not a ticker (1 to {MAX_SYMBOL_LEN} letters, digits, dots or dashes)",
            self.text
        )
    }
}

impl std::error::Error for InvalidSymbol {}

impl Symbol {
    /// `text` without surrounding blanks, upper-cased, if it is a ticker.
    pub fn parse(text: &str) -> Result<Symbol, InvalidSymbol> {
        let trimmed = text.trim();
        let valid = !trimmed.is_empty()
            && trimmed.len() <= MAX_SYMBOL_LEN
            && trimmed
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
        if valid {
            Ok(Symbol(trimmed.to_ascii_uppercase()))
        } else {
            Err(InvalidSymbol {
                text: text.chars().take(40).collect(),
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Symbol {
    type Error = InvalidSymbol;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Symbol::parse(&text)
    }
}

impl From<Symbol> for String {
    fn from(symbol: Symbol) -> String {
        symbol.0
    }
}

impl AsRef<str> for Symbol {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Symbol {
    type Err = InvalidSymbol;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Symbol::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickers_are_trimmed_and_upper_cased() {
        assert_eq!(
            Symbol::parse(" spy ").map(|s| s.to_string()),
            Ok("SPY".into())
        );
        assert_eq!(
            Symbol::parse("brk.b").map(|s| s.to_string()),
            Ok("BRK.B".into())
        );
        assert!(Symbol::parse("RDS-A").is_ok());
    }

    #[test]
    fn anything_else_is_refused_with_the_rule() {
        for bad in [
            "",
            "   ",
            "../etc/passwd",
            "SP Y",
            "'; DROP",
            "ABCDEFGHIJKLM",
            "ÄPPL",
        ] {
            let error = Symbol::parse(bad).expect_err(bad);
            assert!(error.to_string().contains("not a ticker"), "{error}");
        }
    }

    #[test]
    fn serde_checks_at_the_edge() {
        let ok: Vec<Symbol> = serde_json::from_str(r#"["aapl"]"#).expect("valid");
        assert_eq!(ok[0].as_str(), "AAPL");
        assert_eq!(
            serde_json::to_string(&ok).expect("serialises"),
            r#"["AAPL"]"#
        );
        let bad = serde_json::from_str::<Vec<Symbol>>(r#"["a/b"]"#).expect_err("invalid");
        assert!(bad.to_string().contains("not a ticker"), "{bad}");
    }
}
