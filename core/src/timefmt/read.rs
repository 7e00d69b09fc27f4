//! Reading the RFC 3339 times of the wire (`#[serde(deserialize_with = …)]`) without chrono's
//! general parser: `DateTime<Utc>`'s own `Deserialize` goes through chrono's `format::parse`,
//! about 20 KB of the page's WebAssembly (twiggy, 2026-12-05) for the one shape the server writes.
//!
//! Accepted: `YYYY-MM-DDTHH:MM:SS`, an optional fraction (digits past nanoseconds are dropped),
//! then `Z` or `±HH:MM` (`t`, `z` and a space for `T` as RFC 3339 allows). Anything else,
//! including a leap second (chrono's `and_hms_nano_opt` takes none at second 60), is refused.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Deserializer, de::Error as _};

/// A required time.
pub fn utc<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
    let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
    parse(&text).ok_or_else(|| D::Error::custom(format!("\"{text}\" is not an RFC 3339 time")))
}

/// A time or `null` (with `#[serde(default)]`, also a missing field).
pub fn utc_opt<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    let Some(text) = <Option<std::borrow::Cow<'de, str>>>::deserialize(deserializer)? else {
        return Ok(None);
    };
    parse(&text)
        .map(Some)
        .ok_or_else(|| D::Error::custom(format!("\"{text}\" is not an RFC 3339 time")))
}

/// `2026-12-05T14:31:00.25Z` → that instant; `None` if it is not one.
pub fn parse(text: &str) -> Option<DateTime<Utc>> {
    let b = text.as_bytes();
    let num = |from: usize, len: usize| -> Option<u32> {
        let digits = b.get(from..from + len)?;
        digits.iter().try_fold(0u32, |n, d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    let punctuated = at(4, b'-')
        && at(7, b'-')
        && matches!(b.get(10), Some(b'T' | b't' | b' '))
        && at(13, b':')
        && at(16, b':');
    if !punctuated {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    let mut i = 19;
    let mut nanos = 0u32;
    if at(i, b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            if i - start < 9 {
                nanos = nanos * 10 + u32::from(b[i] - b'0');
            }
            i += 1;
        }
        let read = i - start;
        if read == 0 {
            return None;
        }
        for _ in read..9 {
            nanos *= 10;
        }
    }
    let offset_s: i64 = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if i + 6 == b.len() && at(i + 3, b':') => {
            let (h, m) = (num(i + 1, 2)?, num(i + 4, 2)?);
            if h > 23 || m > 59 {
                return None;
            }
            let s = i64::from(h * 3600 + m * 60);
            if *sign == b'-' { -s } else { s }
        }
        _ => return None,
    };
    let local = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?
        .and_hms_nano_opt(hour, minute, second, nanos)?;
    let utc = local.checked_sub_signed(chrono::TimeDelta::seconds(offset_s))?;
    Some(utc.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_chrono_reads() {
        for text in [
            "2026-12-05T14:31:00Z",
            "2026-12-05T14:31:00.5Z",
            "2026-12-05T14:31:00.123456789Z",
            "2026-12-05T14:31:00.1234567891Z",
            "2026-03-09T09:45:00-04:00",
            "2026-03-09T23:45:00+05:30",
            "2026-12-31t23:59:59z",
            "2026-01-01 00:00:00+00:00",
            "2024-02-29T12:00:00Z",
        ] {
            let chrono = DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc));
            assert_eq!(parse(text), chrono.ok(), "{text}");
            assert!(parse(text).is_some(), "{text}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_time() {
        for text in [
            "",
            "2026-12-05",
            "2026-12-05T14:31Z",
            "2026-12-05T14:31:00",
            "2026-12-05T14:31:00.Z",
            "2026-12-05T14:31:00+0100",
            "2026-12-05T14:31:00Zjunk",
            "2026-13-05T14:31:00Z",
            "2025-02-29T12:00:00Z",
            "2026-12-05T24:00:00Z",
            "2026-12-05T14:60:00Z",
            "2026-12-05T14:31:60Z",
            "2026-12-05T14:31:00+24:00",
            "2026-12-05X14:31:00Z",
            "+026-12-05T14:31:00Z",
            "2026-12-05T14:31:00.5\u{e9}",
        ] {
            assert_eq!(parse(text), None, "{text}");
        }
    }

    #[test]
    fn a_wire_time_reads_back_as_written() {
        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
        struct At {
            #[serde(deserialize_with = "utc")]
            at: DateTime<Utc>,
            #[serde(default, deserialize_with = "utc_opt")]
            ended: Option<DateTime<Utc>>,
        }
        for nanos in [0, 1_000_000, 123_456_000, 123_456_789] {
            let at = DateTime::from_timestamp(1_764_945_060, nanos).unwrap_or_default();
            for ended in [None, Some(at)] {
                let value = At { at, ended };
                let json = serde_json::to_string(&value).unwrap_or_default();
                assert_eq!(
                    serde_json::from_str::<At>(&json).ok(),
                    Some(value),
                    "{json}"
                );
            }
        }
        let missing: At = serde_json::from_str(r#"{"at":"2026-12-05T14:31:00Z"}"#)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(missing.ended, None);
        let wrong = serde_json::from_str::<At>(r#"{"at":"yesterday"}"#).err();
        assert!(wrong.is_some_and(|e| {
            e.to_string()
                .contains("\"yesterday\" is not an RFC 3339 time")
        }));
    }
}
