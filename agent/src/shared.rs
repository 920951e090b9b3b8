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
