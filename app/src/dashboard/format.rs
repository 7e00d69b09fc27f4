//! Figures as a trader reads them: thousands separators, two decimals, an explicit sign and an
//! arrow for changes (so a gain or loss never rests on colour alone), and durations that count.

/// `1234567.891` → `1,234,567.89`; `-5` → `-5.00`.
pub fn number(value: f64, decimals: usize) -> String {
    if !value.is_finite() {
        return "—".to_string();
    }
    let text = format!("{:.*}", decimals, value.abs());
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (text.as_str(), None),
    };
    let mut grouped = String::with_capacity(whole.len() + whole.len() / 3);
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    // A value that rounds to zero is shown unsigned.
    let negative = value < 0.0 && text.chars().any(|c| c.is_ascii_digit() && c != '0');
    let sign = if negative { "-" } else { "" };
    match fraction {
        Some(fraction) => format!("{sign}{grouped}.{fraction}"),
        None => format!("{sign}{grouped}"),
    }
}

/// Dollars: `$1,234.50`, `-$12.00`.
pub fn money(value: f64) -> String {
    let text = number(value, 2);
    match text.strip_prefix('-') {
        Some(rest) => format!("-${rest}"),
        None if text == "—" => text,
        None => format!("${text}"),
    }
}

/// A change in dollars, always signed: `+$1,234.50`, `-$12.00`, `$0.00`.
pub fn signed_money(value: f64) -> String {
    let text = money(value);
    if text.starts_with('-') || text == "$0.00" || text == "—" {
        text
    } else {
        format!("+{text}")
    }
}

/// A change in percent, always signed: `+1.23 %`, `-0.50 %`.
pub fn signed_percent(value: f64) -> String {
    let text = number(value, 2);
    if text.starts_with('-') || text == "0.00" || text == "—" {
        format!("{text} %")
    } else {
        format!("+{text} %")
    }
}

/// Which way a change went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Up,
    Down,
    Flat,
}

impl Direction {
    /// Up or down by at least a cent (or a hundredth of a percent).
    pub fn of(value: f64) -> Direction {
        if value >= 0.005 {
            Direction::Up
        } else if value <= -0.005 {
            Direction::Down
        } else {
            Direction::Flat
        }
    }

    pub fn arrow(self) -> &'static str {
        match self {
            Direction::Up => "▲",
            Direction::Down => "▼",
            Direction::Flat => "",
        }
    }

    /// The CSS class (its colour depends on the chosen palette).
    pub fn class(self) -> &'static str {
        match self {
            Direction::Up => "num gain",
            Direction::Down => "num loss",
            Direction::Flat => "num",
        }
    }
}

/// `3725` → `1h 02m 05s`; `65` → `1m 05s`; `5` → `5s`; negative counts as zero. Seconds are
/// always shown, so a countdown visibly ticks even days ahead.
pub fn countdown(seconds: i64) -> String {
    let seconds = seconds.max(0);
    let (d, h, m, s) = (
        seconds / 86_400,
        (seconds / 3600) % 24,
        (seconds / 60) % 60,
        seconds % 60,
    );
    if d > 0 {
        format!("{d}d {h:02}h {m:02}m {s:02}s")
    } else if h > 0 {
        format!("{h}h {m:02}m {s:02}s")
    } else if m > 0 {
        format!("{m}m {s:02}s")
    } else {
        format!("{s}s")
    }
}

/// How long ago, for ages of data: `0.4 s ago`, `12 s ago`, `3 min ago`.
pub fn age(ms: f64) -> String {
    let ms = ms.max(0.0);
    if ms < 10_000.0 {
        format!("{:.1} s ago", ms / 1000.0)
    } else if ms < 120_000.0 {
        format!("{:.0} s ago", ms / 1000.0)
    } else {
        format!("{:.0} min ago", ms / 60_000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_by_thousands_with_fixed_decimals() {
        assert_eq!(number(1_234_567.891, 2), "1,234,567.89");
        assert_eq!(number(999.999, 2), "1,000.00");
        assert_eq!(number(12.0, 0), "12");
        assert_eq!(number(-1_000.0, 2), "-1,000.00");
        assert_eq!(number(-0.001, 2), "0.00", "rounds to zero: unsigned");
        assert_eq!(number(f64::NAN, 2), "—");
    }

    #[test]
    fn money_and_changes_carry_their_sign() {
        assert_eq!(money(100_000.0), "$100,000.00");
        assert_eq!(money(-12.5), "-$12.50");
        assert_eq!(signed_money(1_234.5), "+$1,234.50");
        assert_eq!(signed_money(-3.0), "-$3.00");
        assert_eq!(signed_money(0.001), "$0.00");
        assert_eq!(signed_percent(1.234), "+1.23 %");
        assert_eq!(signed_percent(-0.5), "-0.50 %");
        assert_eq!(signed_percent(0.0), "0.00 %");
    }

    #[test]
    fn a_change_has_an_arrow_as_well_as_a_colour() {
        assert_eq!(Direction::of(0.01).arrow(), "▲");
        assert_eq!(Direction::of(-0.01).arrow(), "▼");
        assert_eq!(Direction::of(0.001), Direction::Flat);
        assert_eq!(Direction::of(-2.0).class(), "num loss");
    }

    #[test]
    fn countdowns_and_ages_read_like_clocks() {
        assert_eq!(countdown(5), "5s");
        assert_eq!(countdown(65), "1m 05s");
        assert_eq!(countdown(3_725), "1h 02m 05s");
        assert_eq!(countdown(2 * 86_400 + 3_600 + 5), "2d 01h 00m 05s");
        assert_eq!(countdown(-4), "0s");
        assert_eq!(age(400.0), "0.4 s ago");
        assert_eq!(age(12_000.0), "12 s ago");
        assert_eq!(age(180_000.0), "3 min ago");
    }
}
