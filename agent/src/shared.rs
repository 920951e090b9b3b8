//! State shared between the sync loop (which replaces the snapshot) and
//! the socket server (which decides from it): the current snapshot with
//! when it arrived, the agent's status, and the audit sink decisions are
//! recorded to.

use std::sync::{Arc, Mutex, RwLock};

use ward_protocol::agent::Status;
use ward_protocol::host::{HostEvent, Snapshot};

/// A snapshot and when this host received it (Unix seconds).
#[derive(Debug)]
pub struct Current {
    /// The snapshot.
    pub snapshot: Snapshot,
    /// When it was received from ward-ca (staleness counts from here).
    pub received_at: i64,
}

/// Where decisions are recorded for delivery to ward-ca.
pub trait AuditSink: Send + Sync {
    /// Records one event durably (it must survive a restart of the agent).
    fn record(&self, event: HostEvent);

    /// Events recorded but not yet delivered (for `status`).
    fn backlog(&self) -> u64 {
        0
    }
}

/// Shared by every thread of the daemon.
pub struct Shared {
    /// The snapshot decisions use; `None` before the first one.
    pub current: RwLock<Option<Arc<Current>>>,
    /// Sync status (online, last error) for `status`.
    pub status: Mutex<Status>,
    /// Where decisions go.
    pub audit: Box<dyn AuditSink>,
    /// Oldest snapshot (seconds since received) decisions may use.
    pub max_staleness: i64,
}

impl Shared {
    /// The current snapshot, if any.
    pub fn snapshot(&self) -> Option<Arc<Current>> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Replaces the snapshot.
    pub fn replace(&self, next: Current) {
        let next = Some(Arc::new(next));
        match self.current.write() {
            Ok(mut g) => *g = next,
            Err(p) => *p.into_inner() = next,
        }
    }
}

impl Shared {
    /// The agent's status at `now` (Unix seconds), as `status` shows it:
    /// the sync state, the cache's age and whether it is too old to decide
    /// from, and the audit backlog.
    pub fn status_now(&self, now: i64) -> Status {
        let mut status = match self.status.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        };
        match self.snapshot() {
            Some(c) => {
                let age = now.saturating_sub(c.received_at);
                status.generation = c.snapshot.generation;
                status.cache_age_seconds = Some(age.max(0).unsigned_abs());
                status.stale = age > self.max_staleness || age < 0;
                if status.host.is_empty() {
                    status.host = c.snapshot.host.name.clone();
                }
            }
            None => {
                status.cache_age_seconds = None;
                status.stale = true;
            }
        }
        status.audit_backlog = self.audit.backlog();
        status
    }

    /// Updates the sync status.
    pub fn set_status(&self, f: impl FnOnce(&mut Status)) {
        match self.status.lock() {
            Ok(mut g) => f(&mut g),
            Err(p) => f(&mut p.into_inner()),
        }
    }
}

/// Now, in Unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Writes one log line to stderr (journald under systemd). Never given a
/// secret.
pub fn log(message: impl std::fmt::Display) {
    eprintln!("ward-agent: {message}");
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Counting(u64);
    impl AuditSink for Counting {
        fn record(&self, _: HostEvent) {}
        fn backlog(&self) -> u64 {
            self.0
        }
    }

    fn shared(received_at: Option<i64>) -> Shared {
        Shared {
            current: RwLock::new(received_at.map(|r| {
                let mut snapshot = Snapshot {
                    generation: 9,
                    ..Snapshot::default()
                };
                snapshot.host.name = "web-01".into();
                Arc::new(Current {
                    snapshot,
                    received_at: r,
                })
            })),
            status: Mutex::new(Status::default()),
            audit: Box::new(Counting(3)),
            max_staleness: 100,
        }
    }

    #[test]
    fn status_reports_age_staleness_and_backlog() {
        let s = shared(Some(1000)).status_now(1100);
        assert_eq!(
            (s.cache_age_seconds, s.stale, s.generation, s.audit_backlog),
            (Some(100), false, 9, 3)
        );
        assert_eq!(s.host, "web-01");
        assert!(shared(Some(1000)).status_now(1101).stale);
        // A receive time in the future is not "fresh".
        assert!(shared(Some(2000)).status_now(1000).stale);
        let none = shared(None).status_now(1000);
        assert_eq!((none.cache_age_seconds, none.stale), (None, true));
    }
}
