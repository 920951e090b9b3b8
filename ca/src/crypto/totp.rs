//! RFC 6238 TOTP (HMAC-SHA-1, 30-second steps) over RFC 4226 HOTP, and the
//! RFC 4648 base32 that authenticator apps read seeds in. Pure functions:
//! the time step is an input, the seed is bytes; comparing codes runs in
//! constant time and checks every candidate step, so the answer's timing
//! does not tell which step (if any) matched.

use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

/// Seconds per time step.
pub const STEP_SECONDS: i64 = 30;
/// Digits in a code.
pub const DIGITS: u32 = 6;
/// Bytes in a seed (160 bits, RFC 4226's recommendation for SHA-1).
pub const SEED_BYTES: usize = 20;

/// The time step of Unix time `t` (T0 = 0).
pub fn step_of(t: i64) -> i64 {
    t.div_euclid(STEP_SECONDS)
}

/// RFC 4226 HOTP: the `digits`-digit code of `key` at `counter`.
pub fn hotp(key: &[u8], counter: u64, digits: u32) -> String {
    // HMAC accepts keys of any length.
    let mut mac = match Hmac::<Sha1>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(&counter.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let off = usize::from(h[19] & 0x0f);
    let bin = (u32::from(h[off] & 0x7f) << 24)
        | (u32::from(h[off + 1]) << 16)
        | (u32::from(h[off + 2]) << 8)
        | u32::from(h[off + 3]);
    let n = bin % 10u32.pow(digits);
    format!("{n:0width$}", width = digits as usize)
}

/// The 6-digit code of `key` at time step `step` (negative steps have none).
pub fn code_at(key: &[u8], step: i64) -> String {
    match u64::try_from(step) {
        Ok(s) => hotp(key, s, DIGITS),
        Err(_) => String::new(),
    }
}

/// The first step in `from..=to` after `after` whose code is `code`, or
/// `None`. Every step in the range is computed and compared in constant
/// time whatever matches.
pub fn find_step(key: &[u8], code: &str, from: i64, to: i64, after: i64) -> Option<i64> {
    let mut found = None;
    for s in from..=to {
        let c = code_at(key, s);
        let same: bool = c.as_bytes().ct_eq(code.as_bytes()).into();
        if same && s > after && found.is_none() && !c.is_empty() {
            found = Some(s);
        }
    }
    found
}

/// Whether `code` has the shape of a code: exactly [`DIGITS`] ASCII digits.
pub fn well_formed(code: &str) -> bool {
    code.len() == DIGITS as usize && code.bytes().all(|b| b.is_ascii_digit())
}

const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding (as authenticator apps take seeds).
pub fn base32(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(5) * 8);
    let (mut buf, mut bits) = (0u32, 0u32);
    for &b in data {
        buf = (buf << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(B32[((buf >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(B32[((buf << (5 - bits)) & 31) as usize]));
    }
    out
}

/// Decodes [`base32`] text (upper or lower case, padding ignored); `None`
/// for any other character.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut buf, mut bits) = (0u32, 0u32);
    for c in text.trim_end_matches('=').bytes() {
        let v = B32.iter().position(|&x| x == c.to_ascii_uppercase())?;
        buf = (buf << 5) | v as u32;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((buf >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// RFC 6238 appendix B, the SHA-1 rows (8 digits; the 6-digit code is
    /// the same number mod 10^6).
    #[test]
    fn rfc6238_appendix_b_sha1() {
        let key = b"12345678901234567890";
        for (t, want) in [
            (59i64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            let step = u64::try_from(step_of(t)).unwrap();
            assert_eq!(hotp(key, step, 8), want, "t={t}");
            assert_eq!(code_at(key, step_of(t)), want[2..], "t={t}");
        }
    }

    /// RFC 4226 appendix D.
    #[test]
    fn rfc4226_appendix_d() {
        let want = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
            "399871", "520489",
        ];
        for (i, w) in want.iter().enumerate() {
            assert_eq!(hotp(b"12345678901234567890", i as u64, 6), *w);
        }
    }

    #[test]
    fn base32_round_trips_and_matches_rfc4648() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(
            base32(b"12345678901234567890"),
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        );
        for n in 0..25 {
            let data: Vec<u8> = (0..n).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(base32_decode(&base32(&data)).unwrap(), data);
        }
        assert_eq!(base32_decode("mzxw6ytboi").unwrap(), b"foobar");
        assert!(base32_decode("MZ1W").is_none());
    }

    #[test]
    fn find_step_refuses_used_and_out_of_window_steps() {
        let key = b"12345678901234567890";
        let c = code_at(key, 100);
        assert_eq!(find_step(key, &c, 99, 101, 0), Some(100));
        assert_eq!(find_step(key, &c, 99, 101, 100), None, "replay");
        assert_eq!(find_step(key, &c, 101, 103, 0), None, "outside");
        assert_eq!(find_step(key, "", 99, 101, 0), None);
    }

    #[test]
    fn code_shapes() {
        assert!(well_formed("012345"));
        for bad in ["01234", "0123456", "01234a", "12345 ", "١٢٣٤٥٦"] {
            assert!(!well_formed(bad), "{bad}");
        }
    }
}
