//! Times as text without chrono's `format` machinery (its strftime parser and formatter would
//! weigh on the browser bundle for a handful of fixed shapes).

use chrono::{DateTime, Datelike, FixedOffset, TimeZone, Timelike, Utc};

pub mod read;

/// `14:05`.
pub fn hh_mm<Tz: TimeZone>(t: &DateTime<Tz>) -> String {
    format!("{:02}:{:02}", t.hour(), t.minute())
}

/// `14:05:09`.
pub fn hh_mm_ss<Tz: TimeZone>(t: &DateTime<Tz>) -> String {
    format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second())
}

/// `2026-03-09T14:05:09Z` (whole seconds, UTC): what `?since=` takes.
pub fn iso_utc(t: &DateTime<Utc>) -> String {
    format!(
        "{:04}-{:02}-{:02}T{}Z",
        t.year(),
        t.month(),
        t.day(),
        hh_mm_ss(t)
    )
}

/// The UTC offset at the end of an RFC 3339 time (`…-04:00`, `…+05:30`, `…Z`).
pub fn offset_of(rfc3339: &str) -> Option<FixedOffset> {
    if rfc3339.ends_with('Z') {
        return FixedOffset::east_opt(0);
    }
    let tail = rfc3339.get(rfc3339.len().checked_sub(6)?..)?;
    let sign = match tail.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (hours, minutes) = tail.get(1..)?.split_once(':')?;
    let seconds = hours.parse::<i32>().ok()? * 3600 + minutes.parse::<i32>().ok()? * 60;
    FixedOffset::east_opt(sign * seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_shapes_read_as_chrono_would_write_them() {
        let t = Utc
            .with_ymd_and_hms(2026, 3, 9, 4, 5, 9)
            .single()
            .expect("a time");
        assert_eq!(hh_mm(&t), t.format("%H:%M").to_string());
        assert_eq!(hh_mm_ss(&t), t.format("%H:%M:%S").to_string());
        assert_eq!(iso_utc(&t), "2026-03-09T04:05:09Z");
        assert_eq!(
            DateTime::parse_from_rfc3339(&iso_utc(&t)).map(|p| p.timestamp()),
            Ok(t.timestamp())
        );
    }

    #[test]
    fn offsets_come_from_the_end_of_the_time() {
        let east = |s| FixedOffset::east_opt(s);
        assert_eq!(offset_of("2026-03-09T09:45:00-04:00"), east(-4 * 3600));
        assert_eq!(
            offset_of("2026-03-09T19:15:00+05:30"),
            east(5 * 3600 + 1800)
        );
        assert_eq!(offset_of("2026-03-09T13:45:00Z"), east(0));
        assert_eq!(offset_of("nonsense"), None);
        assert_eq!(offset_of(""), None);
    }
}
