//! The types a setting may have: how each is read from the file and from an environment
//! variable, and how it is shown in messages and in the README.

use super::DatabaseUrl;
use figment::value::Value;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use thor_core::cutover::Stage;

/// A type a setting may have. Reasons for a refusal are phrased to follow the value: `"abc"`:
/// "must be a whole number …".
pub(crate) trait Kind: Sized {
    /// Said after the variable's name in the README, e.g. "(comma-separated)".
    const ENV_NOTE: &'static str = "";
    /// Values that may hold a password: messages show them redacted.
    const SECRET: bool = false;
    /// Reads what a layer gave: a TOML value, or what [`Kind::from_env`] made of a variable.
    fn from_value(value: &Value) -> Result<Self, String>;
    /// Reads an environment variable's text into the value the file would have held.
    fn from_env(text: &str) -> Result<Value, String>;
    /// The value as the README and messages show it.
    fn show(&self) -> String;
}

fn text(value: &Value) -> Option<&str> {
    match value {
        Value::String(_, text) => Some(text),
        _ => None,
    }
}

macro_rules! whole_numbers {
    ($($ty:ty),*) => {$(
        impl Kind for $ty {
            fn from_value(value: &Value) -> Result<Self, String> {
                // TOML integers arrive signed; negative ones and floats are refused here.
                let number = match value {
                    Value::Num(_, number) => number.to_u128_lossy(),
                    _ => None,
                };
                number
                    .and_then(|n| Self::try_from(n).ok())
                    .ok_or_else(|| format!("must be a whole number from 0 to {}", Self::MAX))
            }

            fn from_env(text: &str) -> Result<Value, String> {
                text.trim()
                    .parse::<Self>()
                    .map(Value::from)
                    .map_err(|_| format!("must be a whole number from 0 to {}", Self::MAX))
            }

            fn show(&self) -> String {
                self.to_string()
            }
        }
    )*};
}

whole_numbers!(u32, u64, usize);

/// Durations are whole milliseconds: their keys end in `-ms` and their variables in `_MS`.
impl Kind for Duration {
    fn from_value(value: &Value) -> Result<Self, String> {
        u64::from_value(value)
            .map(Duration::from_millis)
            .map_err(|_| "must be a whole number of milliseconds".to_string())
    }

    fn from_env(text: &str) -> Result<Value, String> {
        u64::from_env(text).map_err(|_| "must be a whole number of milliseconds".to_string())
    }

    fn show(&self) -> String {
        self.as_millis().to_string()
    }
}

impl Kind for bool {
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Bool(_, flag) => Ok(*flag),
            _ => Err("must be true or false".into()),
        }
    }

    /// Variables also take the spellings shell scripts and container files use.
    fn from_env(text: &str) -> Result<Value, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(true.into()),
            "0" | "false" | "no" | "off" => Ok(false.into()),
            _ => Err("must be true or false (or 1/0, yes/no, on/off)".into()),
        }
    }

    fn show(&self) -> String {
        self.to_string()
    }
}

impl Kind for String {
    fn from_value(value: &Value) -> Result<Self, String> {
        text(value)
            .map(str::to_string)
            .ok_or_else(|| "must be a string".into())
    }

    fn from_env(text: &str) -> Result<Value, String> {
        Ok(text.into())
    }

    fn show(&self) -> String {
        self.clone()
    }
}

impl Kind for PathBuf {
    fn from_value(value: &Value) -> Result<Self, String> {
        String::from_value(value).map(PathBuf::from)
    }

    fn from_env(text: &str) -> Result<Value, String> {
        Ok(text.into())
    }

    fn show(&self) -> String {
        self.display().to_string()
    }
}

/// An optional file, such as a CA certificate: unset or blank is none.
impl Kind for Option<PathBuf> {
    fn from_value(value: &Value) -> Result<Self, String> {
        String::from_value(value)
            .map(|path| Some(PathBuf::from(path)).filter(|p| !p.as_os_str().is_empty()))
    }

    fn from_env(text: &str) -> Result<Value, String> {
        Ok(text.into())
    }

    fn show(&self) -> String {
        self.as_ref()
            .map_or_else(|| "none".into(), |path| path.display().to_string())
    }
}

impl Kind for SocketAddr {
    fn from_value(value: &Value) -> Result<Self, String> {
        text(value)
            .and_then(|text| text.trim().parse().ok())
            .ok_or_else(|| "must be an IP address and port, like 127.0.0.1:3000".into())
    }

    fn from_env(text: &str) -> Result<Value, String> {
        Ok(text.into())
    }

    fn show(&self) -> String {
        self.to_string()
    }
}

impl Kind for Vec<String> {
    const ENV_NOTE: &'static str = " (comma-separated)";

    fn from_value(value: &Value) -> Result<Self, String> {
        let Value::Array(_, items) = value else {
            return Err(r#"must be a list of strings, like ["SPY", "QQQ"]"#.into());
        };
        items
            .iter()
            .map(|item| text(item).map(str::to_string))
            .collect::<Option<_>>()
            .ok_or_else(|| r#"must be a list of strings, like ["SPY", "QQQ"]"#.into())
    }

    fn from_env(text: &str) -> Result<Value, String> {
        let items: Vec<String> = text.split(',').map(|s| s.trim().to_string()).collect();
        Ok(items.into())
    }

    fn show(&self) -> String {
        self.join(", ")
    }
}

impl Kind for Option<DatabaseUrl> {
    const SECRET: bool = true;

    fn from_value(value: &Value) -> Result<Self, String> {
        String::from_value(value).map(|url| Some(DatabaseUrl::new(url)))
    }

    fn from_env(text: &str) -> Result<Value, String> {
        Ok(text.into())
    }

    fn show(&self) -> String {
        self.as_ref()
            .map_or_else(|| "none".into(), DatabaseUrl::redacted)
    }
}

/// Fractions and percentages. A whole number in the file (`99`) reads as a number too.
impl Kind for f64 {
    fn from_value(value: &Value) -> Result<Self, String> {
        let number = match value {
            Value::Num(_, number) => number
                .to_f64()
                .or_else(|| number.to_i128().map(|n| n as f64)),
            _ => None,
        };
        number
            .filter(|n| n.is_finite())
            .ok_or_else(|| "must be a number".to_string())
    }

    fn from_env(text: &str) -> Result<Value, String> {
        text.trim()
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .map(Value::from)
            .ok_or_else(|| "must be a number".to_string())
    }

    fn show(&self) -> String {
        self.to_string()
    }
}

/// A feature's starting stage, as the seeds' `WS_FEATURE_*` variables give it: `true` is Live;
/// `false` (or unset) is Shadow. Nothing else is accepted, so a typo cannot start a feature in
/// a stage nobody chose (and REST is a run-time choice, never a starting one).
impl Kind for Stage {
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Bool(_, true) => Ok(Stage::Live),
            Value::Bool(_, false) => Ok(Stage::Shadow),
            _ => Err("must be true (Live) or false (Shadow)".into()),
        }
    }

    fn from_env(text: &str) -> Result<Value, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(true.into()),
            "false" => Ok(false.into()),
            _ => Err("must be true (Live) or false (Shadow)".into()),
        }
    }

    fn show(&self) -> String {
        match self {
            Stage::Live => "true (Live)",
            _ => "false (Shadow)",
        }
        .to_string()
    }
}
