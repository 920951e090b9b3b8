//! Per-source failed-authentication throttle: a source address with
//! `max` failures within `window` is refused (its new connections closed
//! at once, its authentication attempts rejected) until the window that
//! holds them has passed. Bounded memory: at most [`MAX_SOURCES`] sources
//! are tracked; when full, expired entries are dropped first and then the
//! oldest.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Sources tracked at once.
pub const MAX_SOURCES: usize = 65_536;

/// The throttle.
pub struct Throttle {
    max: u32,
    window: Duration,
    sources: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl Throttle {
    /// `max` failures per `window` per source.
    pub fn new(max: u32, window: Duration) -> Throttle {
        Throttle {
            max,
            window,
            sources: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, (u32, Instant)>> {
        match self.sources.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Whether `ip` is refused at `now`.
    pub fn limited(&self, ip: IpAddr, now: Instant) -> bool {
        let g = self.lock();
        g.get(&ip.to_canonical())
            .is_some_and(|(n, since)| *n >= self.max && now.duration_since(*since) < self.window)
    }

    /// Counts a failure of `ip` at `now`.
    pub fn failed(&self, ip: IpAddr, now: Instant) {
        let mut g = self.lock();
        if g.len() >= MAX_SOURCES {
            let window = self.window;
            g.retain(|_, (_, since)| now.duration_since(*since) < window);
            if g.len() >= MAX_SOURCES {
                if let Some(oldest) = g.iter().min_by_key(|(_, (_, s))| *s).map(|(k, _)| *k) {
                    g.remove(&oldest);
                }
            }
        }
        let e = g.entry(ip.to_canonical()).or_insert((0, now));
        if now.duration_since(e.1) >= self.window {
            *e = (0, now);
        }
        e.0 = e.0.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_source_within_the_window() {
        let t = Throttle::new(3, Duration::from_secs(60));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(!t.limited(a, t0));
            t.failed(a, t0);
        }
        assert!(t.limited(a, t0));
        assert!(!t.limited(b, t0));
        assert!(!t.limited(a, t0 + Duration::from_secs(61)));
        // The mapped spelling is the same source.
        assert!(t.limited("::ffff:10.0.0.1".parse().unwrap(), t0));
    }
}
