//! Authentication failures per source address: aggregation of their audit
//! records and a failure-based rate limit.
//!
//! Each failed authentication used to commit its own chained audit event
//! (serialising every writer on the audit head) with the whole raw path.
//! Now, per source address and fixed window ([`WINDOW_SECS`]):
//!
//! - the first failure of each failure code is recorded as an event (with
//!   bounded fields, see [`bounded`]);
//! - later failures with the same code are counted in memory and written
//!   as one aggregate event with the count when the window closes (by the
//!   periodic flush, when the source fails again after the window, when the
//!   source is evicted, or at shutdown): counted, not dropped;
//! - after [`LIMIT`] failures in a window the source is rate-limited: its
//!   requests get 429 with `Retry-After` and cost no database access,
//!   except a request signed with an access key whose secret is already in
//!   memory, which is verified (a few HMACs) and served if it is valid.
//!
//! Memory is bounded: at most [`MAX_SOURCES`] addresses are tracked; when
//! full the one with the oldest window is evicted (its counts are flushed
//! as aggregate events first).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// The window, in seconds.
pub const WINDOW_SECS: i64 = 60;
/// Failures per source and window before the source is rate-limited.
pub const LIMIT: u32 = 200;
/// Most source addresses tracked.
pub const MAX_SOURCES: usize = 10_000;
/// Most bytes kept of a recorded request field (path, claimed key id,
/// message).
pub const FIELD_BOUND: usize = 256;

/// `s` cut to at most [`FIELD_BOUND`] bytes (at a character boundary),
/// with a marker naming how many bytes were left off.
pub fn bounded(s: &str) -> String {
    if s.len() <= FIELD_BOUND {
        return s.to_owned();
    }
    let mut end = FIELD_BOUND;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…[truncated {} bytes]", &s[..end], s.len() - end)
}

/// Failures not recorded individually, to be written as one event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Aggregate {
    /// The source address.
    pub source: IpAddr,
    /// The failure code, e.g. `SignatureDoesNotMatch`.
    pub code: String,
    /// Failures counted (beyond the first, which was recorded).
    pub count: u64,
    /// Window start, Unix seconds.
    pub window_start: i64,
    /// Window end, Unix seconds.
    pub window_end: i64,
}

#[derive(Debug)]
struct Source {
    window_start: i64,
    failures: u32,
    /// Per failure code: failures after the first one, not yet written.
    codes: Vec<(String, u64)>,
}

impl Source {
    fn drain(&mut self, ip: IpAddr, out: &mut Vec<Aggregate>) {
        for (code, count) in self.codes.drain(..) {
            if count > 0 {
                out.push(Aggregate {
                    source: ip,
                    code,
                    count,
                    window_start: self.window_start,
                    window_end: self.window_start + WINDOW_SECS,
                });
            }
        }
    }
}

/// What to do with one failure.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Record this failure as its own event (the first of its code in the
    /// window).
    pub record: bool,
    /// Aggregates to write now (a closed window, an evicted source).
    pub flushed: Vec<Aggregate>,
}

/// The per-source failure table.
#[derive(Debug, Default)]
pub struct FailureTable {
    map: Mutex<HashMap<IpAddr, Source>>,
}

impl FailureTable {
    /// `Some(seconds to wait)` if `ip` is rate-limited at time `t`.
    pub fn limited(&self, ip: IpAddr, t: i64) -> Option<i64> {
        let map = self.map.lock().ok()?;
        let s = map.get(&ip)?;
        let end = s.window_start + WINDOW_SECS;
        (t < end && s.failures >= LIMIT).then(|| (end - t).max(1))
    }

    /// Counts a failure from `ip` with `code` at time `t`.
    pub fn failure(&self, ip: IpAddr, code: &str, t: i64) -> Outcome {
        let mut out = Outcome::default();
        let Ok(mut map) = self.map.lock() else {
            // A poisoned table: record everything (fail towards auditing).
            out.record = true;
            return out;
        };
        if !map.contains_key(&ip) && map.len() >= MAX_SOURCES {
            if let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.window_start)
                .map(|(k, _)| *k)
            {
                if let Some(mut s) = map.remove(&oldest) {
                    s.drain(oldest, &mut out.flushed);
                }
            }
        }
        let s = map.entry(ip).or_insert_with(|| Source {
            window_start: t,
            failures: 0,
            codes: Vec::new(),
        });
        if t >= s.window_start + WINDOW_SECS {
            s.drain(ip, &mut out.flushed);
            s.window_start = t;
            s.failures = 0;
        }
        s.failures = s.failures.saturating_add(1);
        match s.codes.iter_mut().find(|(c, _)| c == code) {
            Some((_, n)) => *n += 1,
            None => {
                s.codes.push((code.to_owned(), 0));
                out.record = true;
            }
        }
        out
    }

    /// Removes the sources whose window closed before `t`, returning their
    /// counts (the periodic flush).
    pub fn expire(&self, t: i64) -> Vec<Aggregate> {
        let mut out = Vec::new();
        if let Ok(mut map) = self.map.lock() {
            map.retain(|ip, s| {
                if t >= s.window_start + WINDOW_SECS {
                    s.drain(*ip, &mut out);
                    false
                } else {
                    true
                }
            });
        }
        out
    }

    /// Every count not yet written (shutdown).
    pub fn drain_all(&self) -> Vec<Aggregate> {
        let mut out = Vec::new();
        if let Ok(mut map) = self.map.lock() {
            for (ip, mut s) in map.drain() {
                s.drain(ip, &mut out);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, n])
    }

    #[test]
    fn first_recorded_rest_counted_then_limited() {
        let t = FailureTable::default();
        assert!(t.failure(ip(1), "A", 100).record);
        assert!(!t.failure(ip(1), "A", 101).record);
        assert!(t.failure(ip(1), "B", 101).record);
        assert!(t.limited(ip(1), 101).is_none());
        for _ in 3..LIMIT {
            assert!(!t.failure(ip(1), "A", 102).record);
        }
        assert_eq!(t.limited(ip(1), 102), Some(WINDOW_SECS - 2));
        assert!(t.limited(ip(2), 102).is_none());
        assert!(t.limited(ip(1), 100 + WINDOW_SECS).is_none());
        // The next failure after the window flushes the old counts.
        let o = t.failure(ip(1), "A", 100 + WINDOW_SECS);
        assert!(o.record);
        assert_eq!(o.flushed.len(), 1);
        assert_eq!(o.flushed[0].code, "A");
        assert_eq!(o.flushed[0].count, u64::from(LIMIT) - 2);
        assert!(t.drain_all().is_empty(), "the new window has no extra yet");
    }

    #[test]
    fn expire_and_eviction_flush_counts() {
        let t = FailureTable::default();
        t.failure(ip(1), "A", 0);
        t.failure(ip(1), "A", 1);
        t.failure(ip(2), "A", 30);
        t.failure(ip(2), "A", 31);
        let e = t.expire(WINDOW_SECS);
        assert_eq!(e.len(), 1);
        assert_eq!((e[0].source, e[0].count), (ip(1), 1));
        assert!(t.limited(ip(1), WINDOW_SECS).is_none());
        assert_eq!(t.map.lock().unwrap().len(), 1);
        // Fill past the cap: the oldest (ip 2) is evicted and its count
        // flushed, and the table stays at the cap.
        let mut flushed = Vec::new();
        for i in 0..MAX_SOURCES {
            let a = IpAddr::from([11, (i >> 16) as u8, (i >> 8) as u8, i as u8]);
            flushed.extend(t.failure(a, "A", 40).flushed);
        }
        assert_eq!(t.map.lock().unwrap().len(), MAX_SOURCES);
        assert_eq!(flushed.len(), 1);
        assert_eq!((flushed[0].source, flushed[0].count), (ip(2), 1));
    }

    #[test]
    fn bounded_fields() {
        assert_eq!(bounded("short"), "short");
        let long = "é".repeat(1000);
        let b = bounded(&long);
        assert!(b.len() <= FIELD_BOUND + 40, "{}", b.len());
        assert!(b.ends_with("[truncated 1744 bytes]"), "{b}");
    }
}
