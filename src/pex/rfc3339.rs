//! The timestamps of Go's address book file: RFC 3339 in UTC, as Go's `time.Time`
//! marshals them (`2026-12-01T18:02:58.575680136Z`; the zero time
//! `0001-01-01T00:00:00Z` for "never"). Whole seconds are kept. Pure.

use super::known::Secs;

/// Days from 1970-01-01 to the civil date (proleptic Gregorian; Howard Hinnant's
/// algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + (m <= 2) as i64, m, d)
}

/// `secs` as RFC 3339 UTC; `None` as Go's zero time.
pub(crate) fn format(secs: Option<Secs>) -> String {
    let Some(s) = secs else {
        return "0001-01-01T00:00:00Z".into();
    };
    let s = s as i64;
    let (y, m, d) = civil_from_days(s.div_euclid(86_400));
    let t = s.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        t / 3600,
        t / 60 % 60,
        t % 60
    )
}

/// The last second `format` can write (9999-12-31T23:59:59Z).
const MAX: i64 = 253_402_300_799;

/// Reads an RFC 3339 timestamp (any offset, any fraction, which is dropped): `None` for
/// a time before 1970 (Go's zero time among them). A date that does not exist (Feb 31)
/// or an offset over 23:59 is an error; a time after year 9999 in UTC, which `format`
/// could not write, is read as the last second of 9999.
pub(crate) fn parse(text: &str) -> Result<Option<Secs>, String> {
    let bad = || format!("{text:?} is not an RFC 3339 time");
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| -> Result<i64, String> {
        let s = text.get(r).ok_or_else(bad)?;
        if !s.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        s.parse().map_err(|_| bad())
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if b[13] != b':'
        || b[16] != b':'
        || !(1..=12).contains(&mo)
        || !(1..=31).contains(&d)
        || h > 23
        || mi > 59
        || s > 60
    {
        return Err(bad());
    }
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return Err(bad());
        }
    }
    let offset = match b.get(i..) {
        Some(b"Z") | Some(b"z") => 0,
        Some([sign @ (b'+' | b'-'), ..]) if b.len() == i + 6 && b[i + 3] == b':' => {
            let (oh, om) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            if oh > 23 || om > 59 {
                return Err(bad());
            }
            let o = oh * 3600 + om * 60;
            if *sign == b'+' {
                o
            } else {
                -o
            }
        }
        _ => return Err(bad()),
    };
    let days = days_from_civil(y, mo, d);
    if civil_from_days(days) != (y, mo, d) {
        return Err(bad()); // Feb 30, Apr 31, ...
    }
    // After year 9999 in UTC (a 9999 date with a negative offset): the last second
    // `format` can write, so what is read can always be written back.
    let t = (days * 86_400 + h * 3600 + mi * 60 + s - offset).min(MAX);
    Ok(u64::try_from(t).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_timestamps_read_and_write_back() {
        assert_eq!(parse("0001-01-01T00:00:00Z"), Ok(None));
        assert_eq!(parse("1970-01-01T00:00:00Z"), Ok(Some(0)));
        let t = parse("2026-12-01T18:02:58.575680136Z").unwrap();
        assert_eq!(t, Some(1_796_148_178));
        assert_eq!(format(t), "2026-12-01T18:02:58Z");
        assert_eq!(parse("2026-12-01T20:02:58+02:00"), Ok(t));
        assert_eq!(format(None), "0001-01-01T00:00:00Z");
        // Leap days, and the round trip over four centuries of days.
        assert_eq!(
            parse("2024-02-29T00:00:00Z").map(format),
            Ok("2024-02-29T00:00:00Z".into())
        );
        for days in (0..146_097 * 2).step_by(97) {
            let s = days as u64 * 86_400 + 3723;
            assert_eq!(parse(&format(Some(s))), Ok(Some(s)));
        }
        // What is read can be written back, and read again.
        assert_eq!(
            parse("9999-12-31T23:59:59-23:59"),
            parse("9999-12-31T23:59:59Z"),
            "year 10000 in UTC is clamped"
        );
        assert_eq!(
            parse("9999-12-31T23:59:59Z").map(format),
            Ok("9999-12-31T23:59:59Z".into())
        );
        for bad in [
            "2026-02-31T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-12-01T00:00:00+99:99",
            "",
            "2026-12-01",
            "2026-13-01T00:00:00Z",
            "2026-12-01T00:00:00",
            "2026-12-01T00:00:00.Z",
            "x026-12-01T00:00:00Z",
            "2026-12-01T00:00:00+0200",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
