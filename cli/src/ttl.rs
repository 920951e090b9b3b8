//! Certificate lifetimes on the command line: `--ttl 3600`, `--ttl 8h`,
//! `--ttl 1h30m`, `--ttl 7d`. ward-ca applies its own bounds and the
//! policy's cap (`ca:ValiditySeconds`); here only the syntax is checked.

use crate::error::Failure;

/// Longest lifetime accepted locally (far beyond any server limit; it only
/// keeps the arithmetic small).
const MAX_SECONDS: i64 = 10 * 366 * 86_400;

/// A requested lifetime, in seconds (at least 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ttl(i64);

impl Ttl {
    /// Seconds.
    pub(crate) fn seconds(self) -> i64 {
        self.0
    }
}

/// Parses `SECONDS` or `NUMBERunit…` with units `s`, `m`, `h`, `d`, each at
/// most once and largest first (`1h30m`, not `30m1h`).
pub(crate) fn parse(s: &str) -> Result<Ttl, String> {
    let bad = || {
        format!("{s:?} is not a lifetime: give seconds (3600) or a duration such as 30m, 8h, 1h30m or 7d")
    };
    if s.is_empty() || !s.is_ascii() {
        return Err(bad());
    }
    let total = if s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse::<i64>().map_err(|_| bad())?
    } else {
        let mut total: i64 = 0;
        let mut rest = s;
        // Units still allowed, largest first.
        let mut units: &[(u8, i64)] = &[(b'd', 86_400), (b'h', 3600), (b'm', 60), (b's', 1)];
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 || digits > 12 {
                return Err(bad());
            }
            let (n, tail) = rest.split_at(digits);
            let n: i64 = n.parse().map_err(|_| bad())?;
            let unit = tail.bytes().next().ok_or_else(bad)?;
            let pos = units.iter().position(|(u, _)| *u == unit).ok_or_else(bad)?;
            let factor = units.get(pos).map_or(1, |(_, f)| *f);
            units = units.get(pos + 1..).unwrap_or(&[]);
            total = n
                .checked_mul(factor)
                .and_then(|v| total.checked_add(v))
                .ok_or_else(bad)?;
            rest = tail.get(1..).unwrap_or("");
        }
        total
    };
    if total < 1 {
        return Err(format!("{s:?}: the lifetime must be at least one second"));
    }
    if total > MAX_SECONDS {
        return Err(format!("{s:?}: the lifetime is too long"));
    }
    Ok(Ttl(total))
}

/// Passes `e` on; when policy refused a request that asked for the
/// default lifetime because of `ca:ValiditySeconds` (the server's
/// explanation names the key), first says so on stderr. Other denials get
/// no note: it would send the user after the wrong cause (issue #8).
pub(crate) fn note_denial(e: Failure, ttl: Option<Ttl>, default: &str) -> Failure {
    if let (Failure::Api { error }, None) = (&e, ttl) {
        if error.code == "AccessDenied" && error.message.contains("ca:ValiditySeconds") {
            eprintln!(
                "ward: note: without --ttl the lifetime asked for is the default, {default}; \
                 if policy caps ca:ValiditySeconds, ask for less (e.g. --ttl 1h)"
            );
        }
    }
    e
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn check(input: &str, expected: Option<i64>) {
        assert_eq!(parse(input).ok().map(Ttl::seconds), expected, "{input:?}");
    }

    #[test]
    fn lifetimes() {
        for (input, expected) in [
            ("3600", Some(3600)),
            ("60s", Some(60)),
            ("30m", Some(1800)),
            ("8h", Some(28_800)),
            ("1h30m", Some(5400)),
            ("1d2h3m4s", Some(93_784)),
            ("7d", Some(604_800)),
            ("0", None),
            ("0h", None),
            ("", None),
            ("abc", None),
            ("h", None),
            ("8", Some(8)),
            ("8x", None),
            ("8 h", None),
            ("-5", None),
            ("30m1h", None),
            ("1h1h", None),
            ("1.5h", None),
            ("8H", None),
            ("99999999999999999999", None),
            ("9999999999999d", None),
            ("\u{663}h", None),
        ] {
            check(input, expected);
        }
        assert!(parse("abc").unwrap_err().contains("8h"));
    }
}
