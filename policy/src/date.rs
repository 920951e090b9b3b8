//! Date values for the `Date*` condition operators.
//!
//! IAM accepts ISO 8601 date-times, possibly partial (`2019`, `2019-07`,
//! `2019-07-01T13`, with or without zone, `t` in any case, up to nine
//! fractional digits) and non-negative epoch seconds. Years run from
//! -292275054 to 292278993, the range of a Java millisecond `long`, which is
//! what AWS (and moto's validator, whose corpus we must classify) accept.

/// An instant: seconds since the Unix epoch plus nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant {
    secs: i64,
    nanos: u32,
}

impl Instant {
    /// The instant `secs` seconds after the epoch.
    pub fn from_epoch_seconds(secs: i64) -> Instant {
        Instant { secs, nanos: 0 }
    }

    /// Seconds since the epoch (floor).
    pub fn epoch_seconds(self) -> i64 {
        self.secs
    }

    /// Parses an IAM date value; `None` if it is not one.
    pub fn parse(s: &str) -> Option<Instant> {
        if s.is_empty() {
            return None;
        }
        if s.bytes().all(|b| b.is_ascii_digit()) {
            // Epoch seconds; must fit in an i64.
            return s.parse::<i64>().ok().map(Instant::from_epoch_seconds);
        }
        parse_iso8601(s)
    }

    /// Formats as RFC 3339 UTC (`2024-01-02T03:04:05Z`), for context values.
    pub fn to_rfc3339(self) -> String {
        let days = self.secs.div_euclid(86_400);
        let rem = self.secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            rem / 3600,
            (rem % 3600) / 60,
            rem % 60
        )
    }
}

fn parse_iso8601(s: &str) -> Option<Instant> {
    let lower_t = s.find(['t', 'T']);
    let (date, rest) = match lower_t {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (negative, date) = match date.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, date),
    };
    let mut parts = date.split('-');
    let year_digits = parts.next()?;
    let mut year = digits(year_digits, 1, 9)?;
    if negative {
        year = -year;
    }
    if !(-292_275_054..=292_278_993).contains(&year) {
        return None;
    }
    let month = match parts.next() {
        Some(m) => digits(m, 1, 2)?,
        None => 1,
    };
    let day = match parts.next() {
        Some(d) => digits(d, 1, 2)?,
        None => 1,
    };
    if parts.next().is_some() || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    if day > days_in_month(year, month) {
        return None;
    }
    let mut secs_of_day = 0i64;
    let mut nanos = 0u32;
    let mut offset = 0i64;
    if let Some(rest) = rest {
        let (time, zone) = split_zone(rest)?;
        offset = zone;
        if !time.is_empty() {
            let mut t = time.split(':');
            let h = digits(t.next()?, 1, 2)?;
            let mi = match t.next() {
                Some(x) => digits(x, 1, 2)?,
                None => 0,
            };
            let (sec, frac) = match t.next() {
                Some(x) => match x.split_once('.') {
                    Some((sec, frac)) => (digits(sec, 1, 2)?, Some(frac)),
                    None => (digits(x, 1, 2)?, None),
                },
                None => (0, None),
            };
            if t.next().is_some() || h > 23 || mi > 59 || sec > 59 {
                return None;
            }
            if let Some(frac) = frac {
                if frac.is_empty() || frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let scale = 10u32.pow(9 - frac.len() as u32);
                nanos = frac.parse::<u32>().ok()? * scale;
            }
            secs_of_day = h * 3600 + mi * 60 + sec;
        }
    } else if date.is_empty() {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days
        .checked_mul(86_400)?
        .checked_add(secs_of_day)?
        .checked_sub(offset)?;
    Some(Instant { secs, nanos })
}

/// Splits `time[zone]` and returns the zone offset in seconds east of UTC.
fn split_zone(s: &str) -> Option<(&str, i64)> {
    if let Some(t) = s.strip_suffix(['z', 'Z']) {
        return Some((t, 0));
    }
    let Some(i) = s.rfind(['+', '-']) else {
        return Some((s, 0));
    };
    let (time, zone) = (&s[..i], &s[i + 1..]);
    // Slicing below is by byte; a non-ASCII zone is invalid anyway (and
    // slicing it could split a character: found by cargo-fuzz).
    if !zone.is_ascii() {
        return None;
    }
    let sign = if s.as_bytes()[i] == b'-' { -1 } else { 1 };
    let (h, m) = match zone.split_once(':') {
        Some((h, m)) => (h, m),
        None if zone.len() == 4 => (&zone[..2], &zone[2..]),
        None => (zone, "00"),
    };
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m) = (digits(h, 2, 2)?, digits(m, 2, 2)?);
    if h > 23 || m > 59 {
        return None;
    }
    Some((time, sign * (h * 3600 + m * 60)))
}

fn digits(s: &str, min: usize, max: usize) -> Option<i64> {
    if s.len() < min || s.len() > max || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's days_from_civil / civil_from_days (public domain algorithms).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: Option<i64>) {
        assert_eq!(
            Instant::parse(input).map(Instant::epoch_seconds),
            expected,
            "input {input:?}"
        );
    }

    #[test]
    fn parses_iam_dates() {
        check("2017-07-01T00:00:00Z", Some(1_498_867_200));
        check("2017-07-01", Some(1_498_867_200));
        check("2017-07", Some(1_498_867_200));
        check("2017-06", Some(1_498_867_200 - 30 * 86_400));
        check("1970", Some(1970)); // digits only: epoch seconds
        check("1970-01", Some(0));
        check("1970-01-01T01:00:00+01:00", Some(0));
        check("1970-01-01T00:00:00-0130", Some(5400));
        check("2016-12-13T21:20:37.593194+00:00", Some(1_481_664_037));
        check(
            "2016-12-13t2:00:00.593194+23",
            Some(1_481_594_400 - 23 * 3600),
        );
        check("01T", Some(days_from_civil(1, 1, 1) * 86_400));
        check("1498867200", Some(1_498_867_200));
        check("0", Some(0));
        assert!(Instant::parse("-292275054").is_some());
        check("9223372036854775808", None);
        check("sdfdsf", None);
        check("234-13", None);
        check("2016-12-13t2:00:00.593194+1", None);
        check("2016-12-13t2:00:00.1999999999+10:59", None);
        check("2017-02-30", None);
        check("2017-07-01T24:00:00Z", None);
        check("", None);
        check("T", None);
        check("2017-07-01T00:00:00.Z", None);
        // Multi-byte characters in the zone (a fuzzer find: used to panic).
        check("2t-1\u{50b}2", None);
        check("2t+\u{50b}\u{50b}", None);
        check("2017-07-01T00:00:00+\u{e9}1", None);
    }

    #[test]
    fn formats() {
        assert_eq!(
            Instant::from_epoch_seconds(0).to_rfc3339(),
            "1970-01-01T00:00:00Z"
        );
        assert_eq!(
            Instant::from_epoch_seconds(1_498_867_200).to_rfc3339(),
            "2017-07-01T00:00:00Z"
        );
        assert_eq!(
            Instant::parse("2000-02-29T12:34:56Z").unwrap().to_rfc3339(),
            "2000-02-29T12:34:56Z"
        );
    }
}
