//! Ids, order keys and timestamps that apps put on what they store and send.

use std::sync::atomic::{AtomicI64, Ordering};

use rand::RngCore;

/// A random (version 4) UUID in its usual text form.
pub fn new_id() -> String {
    let mut b = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let mut s = String::with_capacity(36);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push_str(&format!("{byte:02x}"));
    }
    s
}

/// Microseconds since the epoch, strictly increasing within this process: orders rows as the
/// server received them, even several in one millisecond.
pub fn next_order_key() -> i64 {
    static LAST: AtomicI64 = AtomicI64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0);
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(last + 1);
        match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(current) => last = current,
        }
    }
}

/// Milliseconds since the Unix epoch as ISO 8601 in UTC with milliseconds, the form
/// JavaScript's `Date.prototype.toISOString` gives: `2025-12-19T08:00:00.000Z`.
pub fn iso8601(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let in_day = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        in_day / 3600,
        in_day % 3600 / 60,
        in_day % 60
    )
}

/// The current time as [`iso8601`].
pub fn now_iso() -> String {
    iso8601(roomwire_store::now_ms())
}

/// Milliseconds since the Unix epoch of an ISO 8601 / RFC 3339 date-time as clients send it:
/// `2026-12-05T07:37:15.493Z` (JavaScript's `Date` serialised), with `T` or a space, seconds
/// and fractions optional, and `Z`, `+HH:MM`, `+HHMM` or no zone (taken as UTC). Anything
/// else, or an impossible date, is `None`.
pub fn parse_iso8601(s: &str) -> Option<i64> {
    let b = s.trim().as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = b.get(from..from + len)?;
        part.iter()
            .all(u8::is_ascii_digit)
            .then(|| part.iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0')))
    };
    let (y, mo, d) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let (mut h, mut mi, mut sec, mut millis) = (0, 0, 0, 0);
    let mut i = 10;
    if matches!(b.get(i), Some(b'T' | b't' | b' ')) {
        h = num(i + 1, 2)?;
        if b.get(i + 3) != Some(&b':') {
            return None;
        }
        mi = num(i + 4, 2)?;
        i += 6;
        if b.get(i) == Some(&b':') {
            sec = num(i + 1, 2)?;
            i += 3;
            if matches!(b.get(i), Some(b'.' | b',')) {
                let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
                if digits == 0 {
                    return None;
                }
                let kept = digits.min(3);
                millis = num(i + 1, kept)? * 10i64.pow(3 - kept as u32);
                i += 1 + digits;
            }
        }
    }
    let offset_minutes = match &b[i.min(b.len())..] {
        [] | [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let (oh, om) = match rest {
                [_, _, b':', _, _] => (num(i + 1, 2)?, num(i + 4, 2)?),
                [_, _, _, _] => (num(i + 1, 2)?, num(i + 3, 2)?),
                [_, _] => (num(i + 1, 2)?, 0),
                _ => return None,
            };
            if oh > 23 || om > 59 {
                return None;
            }
            let m = oh * 60 + om;
            if *sign == b'-' {
                -m
            } else {
                m
            }
        }
        _ => return None,
    };
    let days_in_month = match mo {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => return None,
    };
    if d < 1 || d > days_in_month || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let days = days_from_civil(y, mo as u32, d as u32);
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset_minutes * 60;
    Some(secs * 1000 + millis)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Year, month, day of a day count since 1970-01-01 in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_matches_known_instants() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(1_766_131_200_000), "2025-12-19T08:00:00.000Z");
        assert_eq!(iso8601(951_825_600_123), "2000-02-29T12:00:00.123Z");
        assert_eq!(iso8601(4_107_542_399_999), "2100-02-28T23:59:59.999Z");
        assert_eq!(iso8601(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn iso8601_parses_what_clients_send_and_round_trips() {
        for ms in [0, 1_766_131_200_000, 951_825_600_123, 4_107_542_399_999, -1] {
            assert_eq!(parse_iso8601(&iso8601(ms)), Some(ms), "{}", iso8601(ms));
        }
        let z = parse_iso8601("2026-12-05T07:37:15.493Z").unwrap();
        assert_eq!(iso8601(z), "2026-12-05T07:37:15.493Z");
        assert_eq!(parse_iso8601("2026-12-05T09:37:15.493+02:00"), Some(z));
        assert_eq!(parse_iso8601("2026-12-05T02:37:15.493-0500"), Some(z));
        assert_eq!(parse_iso8601("2026-12-05 07:37:15.4931234Z"), Some(z));
        assert_eq!(parse_iso8601("2026-12-05T07:37:15Z"), Some(z - 493));
        assert_eq!(parse_iso8601("2026-12-05T07:37Z"), Some(z - 15_493));
        assert_eq!(parse_iso8601("2026-12-05"), Some(z - 27_435_493));
        for bad in [
            "",
            "yesterday",
            "2026-13-01T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2026-12-05T24:00:00Z",
            "2026-12-05T07:37:15.Z",
            "2026-12-05T07:37:15Zjunk",
            "2026/12/05",
            "1698500000000",
        ] {
            assert_eq!(parse_iso8601(bad), None, "{bad:?}");
        }
        assert!(parse_iso8601("2024-02-29T00:00:00Z").is_some());
    }

    #[test]
    fn ids_are_v4_uuids_and_distinct() {
        let a = new_id();
        let b = new_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        let parts: Vec<&str> = a.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'));
        assert!(matches!(&parts[3][..1], "8" | "9" | "a" | "b"));
    }

    #[test]
    fn order_keys_strictly_increase() {
        let mut last = next_order_key();
        for _ in 0..1000 {
            let k = next_order_key();
            assert!(k > last);
            last = k;
        }
    }
}
