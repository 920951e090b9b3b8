//! The audit spool (`STATE/audit-spool`): every decision the host makes is
//! appended here (one JSON line per [`HostEvent`]) before it is
//! acknowledged, and a delivery thread sends the oldest
//! events, in order, in batches of at most [`BATCH`] to
//! `POST /v1/host/audit`. Events leave the spool only after a 2xx answer
//! (`AuditAccepted`), so a lost reply means the batch is sent again, and
//! ward-ca's per-host id dedupe keeps it from being recorded twice.
//!
//! Event ids are `<boot>-<counter>`: 16 random hex digits chosen at each
//! start of the agent, then a counter, so ids never repeat on a host
//! (2⁻⁶⁴ odds of a boot prefix repeating).
//!
//! Full spool: the spool holds at most `audit_spool_max_bytes`. When an
//! event does not fit, it is **dropped** (the older events are kept, so
//! what is delivered is an unbroken prefix of what happened), the drop is
//! logged (the first and every 1000th), and once there is room again a
//! `ward-agent:AuditEventsDropped` event saying how many were lost is
//! spooled ahead of the next event, so ward-ca's log shows the gap.
//!
//! A batch that ward-ca throttles (429, its per-host limit on audit
//! batches) or cannot take now (503) stays spooled whole — ward-ca records
//! nothing of a refused batch — and is sent again, on the same connection,
//! after the `Retry-After` it named ([`retry_later`]); the ids it carries
//! make a later re-send harmless.
//!
//! A batch that ward-ca refuses as malformed (400/413/422) is retried one
//! event at a time; a single event it refuses is dropped with a log line,
//! so one bad event cannot block delivery forever.
//!
//! A crash in the middle of an append leaves a partial last line; it is cut
//! off (and logged) when the spool is opened.
//!
//! Durability (group commit): [`Spool::append`] returns once the line is
//! written (`write(2)` to the spool file, in the kernel's page cache), so
//! a decision is answered without waiting for the disk, and the event
//! survives a crash or SIGKILL of the agent. A background thread
//! (`audit-fsync`) then fsyncs everything written meanwhile with one
//! `fdatasync`, [`COMMIT_WINDOW`] after the first unsynced write, so an
//! event reaches the disk within about 50 ms of its decision (the window
//! plus the fsync itself). A power loss or kernel crash in that window can
//! lose those last events; nothing else can. Dropping the spool fsyncs
//! what is left.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::Duration;

use ward_protocol::host::{AuditAccepted, AuditBatch, HostEvent};

use crate::client::{CaClient, CallError};
use crate::files::write_atomic;
use crate::shared::{log, AuditSink};

/// Most events per delivery.
pub const BATCH: usize = 500;

/// Longest string field kept in a spooled event (longer ones are cut).
const MAX_FIELD: usize = 1024;

/// The action of the event that reports dropped events.
pub const DROPPED_ACTION: &str = "ward-agent:AuditEventsDropped";

/// How long the group commit gathers writes before its fsync: an event
/// is on disk at most this long (plus the fsync) after its append.
pub const COMMIT_WINDOW: Duration = Duration::from_millis(20);

/// The on-disk spool.
pub struct Spool {
    path: PathBuf,
    max_bytes: u64,
    boot: String,
    counter: AtomicU64,
    inner: Arc<Mutex<Inner>>,
    ready: Condvar,
    commit: Arc<Commit>,
    /// Held by [`Spool::remove_first`] for a whole rewrite (one at a time).
    rewrite: Mutex<()>,
}

/// The group commit's state, shared with the `audit-fsync` thread.
#[derive(Default)]
struct Commit {
    state: Mutex<CommitState>,
    wake: Condvar,
    /// fsyncs done (by the thread and by [`Spool::sync_now`]).
    fsyncs: AtomicU64,
}

#[derive(Default)]
struct CommitState {
    /// Lines written but not yet covered by an fsync (a commit is due).
    pending: bool,
    /// Lines known to be on disk, by [`Inner::written`] number.
    synced: u64,
    /// The spool was dropped: the thread does a last fsync and ends.
    stop: bool,
}

impl Commit {
    fn lock(&self) -> MutexGuard<'_, CommitState> {
        match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// One fsync of the spool's current file, covering every line written
    /// before it started.
    fn sync(&self, inner: &Mutex<Inner>) {
        let (file, target) = {
            let g = match inner.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            (g.file.clone(), g.written)
        };
        match file.sync_data() {
            Ok(()) => {
                self.fsyncs.fetch_add(1, Ordering::Relaxed);
                let mut st = self.lock();
                st.synced = st.synced.max(target);
            }
            Err(e) => log(format_args!("audit spool: fsync failed: {e}")),
        }
    }

    /// The `audit-fsync` thread: waits for a write, gathers writes for
    /// `window`, fsyncs them all at once; ends when the spool is dropped.
    fn run(&self, inner: &Weak<Mutex<Inner>>, window: Duration) {
        loop {
            let mut st = self.lock();
            while !st.pending && !st.stop {
                st = match self.wake.wait(st) {
                    Ok(g) => g,
                    Err(p) => p.into_inner(),
                };
            }
            if !st.stop {
                // Gather: every write in the window shares this fsync
                // (the spool being dropped cuts the window short).
                st = match self.wake.wait_timeout_while(st, window, |s| !s.stop) {
                    Ok((g, _)) => g,
                    Err(p) => p.into_inner().0,
                };
            }
            let stop = st.stop;
            st.pending = false;
            drop(st);
            let Some(inner) = inner.upgrade() else { return };
            self.sync(&inner);
            drop(inner);
            if stop {
                return;
            }
        }
    }
}

struct Inner {
    file: Arc<File>,
    bytes: u64,
    count: u64,
    dropped: u64,
    /// Lines appended since open (numbers the group commit waits for).
    written: u64,
}

/// The oldest spooled events.
#[derive(Debug, Default)]
pub struct Batch {
    /// Events, oldest first.
    pub events: Vec<HostEvent>,
    /// Spool lines they came from (damaged lines skipped are counted).
    pub lines: usize,
}

impl Spool {
    /// Opens (creating, 0600) the spool at `path`, with its group commit
    /// thread ([`COMMIT_WINDOW`]).
    pub fn open(path: &Path, max_bytes: u64) -> std::io::Result<Spool> {
        Spool::open_with_window(path, max_bytes, COMMIT_WINDOW)
    }

    /// [`Spool::open`] with another group commit window (tests use a long
    /// one to see that appends do not wait for the disk).
    pub fn open_with_window(
        path: &Path,
        max_bytes: u64,
        window: Duration,
    ) -> std::io::Result<Spool> {
        let mut bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        let whole = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        if whole < bytes.len() {
            log(format_args!(
                "audit spool {}: cutting off a partial last line of {} bytes (an append was interrupted)",
                path.display(),
                bytes.len() - whole
            ));
            bytes.truncate(whole);
            write_atomic(path, &bytes, 0o600)?;
        }
        let count = bytes.iter().filter(|&&b| b == b'\n').count() as u64;
        let file = open_append(path)?;
        let inner = Arc::new(Mutex::new(Inner {
            file: Arc::new(file),
            bytes: bytes.len() as u64,
            count,
            dropped: 0,
            written: 0,
        }));
        let commit = Arc::new(Commit::default());
        {
            let (commit, inner) = (commit.clone(), Arc::downgrade(&inner));
            std::thread::Builder::new()
                .name("audit-fsync".into())
                .spawn(move || commit.run(&inner, window))?;
        }
        Ok(Spool {
            path: path.to_path_buf(),
            max_bytes,
            boot: format!("{:016x}", rand::random::<u64>()),
            counter: AtomicU64::new(0),
            inner,
            ready: Condvar::new(),
            commit,
            rewrite: Mutex::new(()),
        })
    }

    /// A new event id, unique on this host.
    pub fn next_id(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed) + 1;
        format!("{}-{n}", self.boot)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Events dropped because the spool was full, not yet reported.
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }

    /// Appends `event` (assigning an id if it has none or an invalid one).
    /// Returns false if it was dropped.
    pub fn append(&self, mut event: HostEvent) -> bool {
        if !valid_id(&event.id) {
            event.id = self.next_id();
        }
        clamp(&mut event);
        let Ok(mut line) = serde_json::to_vec(&event) else {
            return false;
        };
        line.push(b'\n');
        let mut g = self.lock();
        if g.dropped > 0 {
            let summary = HostEvent {
                id: self.next_id(),
                time: event.time,
                action: DROPPED_ACTION.into(),
                allowed: false,
                reason: Some(format!(
                    "the audit spool of this host was full: {} events were dropped",
                    g.dropped
                )),
                ..HostEvent::default()
            };
            if let Ok(mut s) = serde_json::to_vec(&summary) {
                s.push(b'\n');
                if g.bytes + s.len() as u64 + line.len() as u64 <= self.max_bytes
                    && write_line(&mut g, &s)
                {
                    g.dropped = 0;
                }
            }
        }
        let ok = g.dropped == 0
            && g.bytes + line.len() as u64 <= self.max_bytes
            && write_line(&mut g, &line);
        if !ok {
            g.dropped += 1;
            if g.dropped == 1 || g.dropped % 1000 == 0 {
                log(format_args!(
                    "audit spool {} is full ({} bytes): dropped {} events so far (newest dropped, oldest kept)",
                    self.path.display(),
                    g.bytes,
                    g.dropped
                ));
            }
        }
        drop(g);
        if ok {
            // The line is written (it survives the agent's death); the
            // group commit puts it on disk shortly (see the module docs).
            let mut st = self.commit.lock();
            if !st.pending {
                st.pending = true;
                self.commit.wake.notify_all();
            }
        }
        self.ready.notify_all();
        ok
    }

    /// Fsyncs now everything written so far (shutdown; tests).
    pub fn sync_now(&self) {
        self.commit.sync(&self.inner);
    }

    /// Lines appended since open, and how many of them are known to be
    /// on disk (fsynced).
    pub fn written_and_synced(&self) -> (u64, u64) {
        let written = self.lock().written;
        (written, self.commit.lock().synced)
    }

    /// fsyncs of the spool since open (the group commit's and
    /// [`Spool::sync_now`]'s).
    pub fn fsyncs(&self) -> u64 {
        self.commit.fsyncs.load(Ordering::Relaxed)
    }

    /// Events waiting for delivery.
    pub fn len(&self) -> u64 {
        self.lock().count
    }

    /// Whether nothing waits for delivery.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits until there is an event or `timeout` passes.
    pub fn wait(&self, timeout: Duration) {
        let g = self.lock();
        if g.count == 0 {
            let _ = self.ready.wait_timeout(g, timeout);
        }
    }

    /// The oldest `max` events (damaged lines are skipped and counted in
    /// `lines`, so removing them takes them out).
    pub fn peek(&self, max: usize) -> std::io::Result<Batch> {
        let g = self.lock();
        let mut text = Vec::new();
        File::open(&self.path)?
            .take(g.bytes)
            .read_to_end(&mut text)?;
        drop(g);
        let mut batch = Batch::default();
        // Every piece but the one after the last newline is a line; an
        // empty line is damage like any other (counted, skipped).
        let mut pieces: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
        pieces.pop();
        for line in pieces {
            if batch.lines >= max {
                break;
            }
            batch.lines += 1;
            match serde_json::from_slice::<HostEvent>(line) {
                Ok(e) => batch.events.push(e),
                Err(e) => log(format_args!(
                    "audit spool {}: skipping a damaged line: {e}",
                    self.path.display()
                )),
            }
        }
        Ok(batch)
    }

    /// Removes the oldest `lines` lines (after they were delivered).
    ///
    /// The rest is rewritten to a temporary file and fsynced *without* the
    /// lock appends take, so decisions are not held up by the disk while a
    /// batch is removed; then, under the lock, the lines appended meanwhile
    /// are copied over and the file renamed into place (no fsync under the
    /// lock: those lines are synced right after, like any append).
    pub fn remove_first(&self, lines: usize) -> std::io::Result<()> {
        if lines == 0 {
            return Ok(());
        }
        let _one = match self.rewrite.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let (text, seen) = {
            let g = self.lock();
            let mut text = Vec::new();
            File::open(&self.path)?
                .take(g.bytes)
                .read_to_end(&mut text)?;
            (text, g.bytes)
        };
        let mut cut = 0;
        let mut removed = 0u64;
        for _ in 0..lines {
            match text[cut..].iter().position(|&b| b == b'\n') {
                Some(i) => {
                    cut += i + 1;
                    removed += 1;
                }
                None => break,
            }
        }
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let tmp = dir.join(format!(
            ".audit-spool.tmp-{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        let result = (|| {
            let mut f = open_new(&tmp)?;
            f.write_all(&text[cut..])?;
            f.sync_all()?;
            let mut g = self.lock();
            let mut tail = Vec::new();
            if g.bytes > seen {
                let mut old = File::open(&self.path)?;
                std::io::Seek::seek(&mut old, std::io::SeekFrom::Start(seen))?;
                old.take(g.bytes - seen).read_to_end(&mut tail)?;
                f.write_all(&tail)?;
            }
            std::fs::rename(&tmp, &self.path)?;
            g.file = Arc::new(f);
            g.bytes = (text.len() - cut + tail.len()) as u64;
            g.count = g.count.saturating_sub(removed);
            Ok::<bool, std::io::Error>(!tail.is_empty())
        })();
        match result {
            Ok(tail) => {
                if tail {
                    self.sync_now();
                }
                crate::files::sync_dir(&dir)
            }
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                Err(e)
            }
        }
    }

    /// Sends the oldest events (at most `max`) to ward-ca and removes them
    /// after a 2xx. Returns how many were delivered.
    pub fn deliver(&self, client: &CaClient, max: usize) -> Result<usize, DeliverError> {
        let batch = self.peek(max).map_err(DeliverError::Io)?;
        if batch.lines == 0 {
            return Ok(0);
        }
        if !batch.events.is_empty() {
            let body = AuditBatch {
                events: batch.events,
            };
            client
                .post::<_, AuditAccepted>("/v1/host/audit", &body, 64 * 1024)
                .map_err(DeliverError::Call)?;
        }
        self.remove_first(batch.lines).map_err(DeliverError::Io)?;
        Ok(batch.lines)
    }
}

impl Drop for Spool {
    /// Stops the group commit thread, which fsyncs what is left.
    fn drop(&mut self) {
        self.commit.lock().stop = true;
        self.commit.wake.notify_all();
        // The thread cannot upgrade its reference once `inner` is gone:
        // the last fsync is done here.
        self.sync_now();
    }
}

impl AuditSink for Spool {
    fn record(&self, event: HostEvent) {
        self.append(event);
    }

    fn backlog(&self) -> u64 {
        self.len()
    }
}

impl AuditSink for std::sync::Arc<Spool> {
    fn record(&self, event: HostEvent) {
        self.append(event);
    }

    fn backlog(&self) -> u64 {
        self.len()
    }
}

/// Why a delivery failed.
#[derive(Debug)]
pub enum DeliverError {
    /// Reading or rewriting the spool failed.
    Io(std::io::Error),
    /// The call failed.
    Call(CallError),
}

impl std::fmt::Display for DeliverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeliverError::Io(e) => write!(f, "audit spool: {e}"),
            DeliverError::Call(e) => write!(f, "audit delivery: {e}"),
        }
    }
}

/// Starts [`deliver_forever`] on a thread named `audit`, connecting with
/// the host's current certificate ([`crate::sync::Sync::ca_client`]).
pub fn spawn_delivery(spool: &Arc<Spool>, sync: &Arc<crate::sync::Sync>) -> std::io::Result<()> {
    let spool = spool.clone();
    let sync = sync.clone();
    std::thread::Builder::new()
        .name("audit".into())
        .spawn(move || deliver_forever(&spool, &|| sync.ca_client()))
        .map(drop)
}

/// The delivery loop (never returns): waits for events, sends them in
/// order, backs off while ward-ca is unreachable. `connect` builds the
/// mTLS client (again after any failure, so a renewed certificate is
/// picked up).
pub fn deliver_forever(spool: &Spool, connect: &dyn Fn() -> Result<CaClient, String>) {
    let mut backoff = crate::sync::Backoff::default();
    let mut client: Option<CaClient> = None;
    let mut size = BATCH;
    let mut last_error = String::new();
    loop {
        spool.wait(Duration::from_secs(30));
        if spool.is_empty() {
            continue;
        }
        let c = match client.take() {
            Some(c) => c,
            None => match connect() {
                Ok(c) => c,
                Err(e) => {
                    if e != last_error {
                        log(format_args!("audit delivery: {e}"));
                        last_error = e;
                    }
                    std::thread::sleep(backoff.next_delay());
                    continue;
                }
            },
        };
        match spool.deliver(&c, size) {
            Ok(0) => {
                // The count says there are events but none could be read:
                // do not spin.
                client = Some(c);
                std::thread::sleep(backoff.next_delay());
            }
            Ok(_) => {
                size = BATCH;
                backoff.reset();
                last_error.clear();
                client = Some(c);
            }
            Err(e) if retry_later(&e).is_some() => {
                // Throttled or busy: the batch stays in the spool; wait as
                // long as ward-ca asked, keep the connection.
                let wait = retry_later(&e).unwrap_or(Duration::from_secs(1));
                let m = e.to_string();
                if m != last_error {
                    log(format_args!("{m} (retrying in {} s)", wait.as_secs()));
                    last_error = m;
                }
                client = Some(c);
                std::thread::sleep(wait);
            }
            Err(e) if refused_as_malformed(&e) && size > 1 => {
                log(format_args!("{e}; retrying one event at a time"));
                size = 1;
                client = Some(c);
            }
            Err(e) if refused_as_malformed(&e) => {
                log(format_args!("{e}; dropping the refused event"));
                if let Err(e) = spool.remove_first(1) {
                    log(format_args!("audit spool: {e}"));
                }
                client = Some(c);
            }
            Err(e) => {
                let m = e.to_string();
                if m != last_error {
                    log(format_args!("{m} (will retry)"));
                    last_error = m;
                }
                std::thread::sleep(backoff.next_delay());
            }
        }
    }
}

/// Longest wait a `Retry-After` can ask for.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// How long to wait before sending the same batch again if ward-ca
/// throttled it (429) or could not take it now (503): its `Retry-After`
/// (1 s if none, at most [`MAX_RETRY_AFTER`]). `None` for other errors.
pub fn retry_later(e: &DeliverError) -> Option<Duration> {
    match e {
        DeliverError::Call(CallError::Status {
            code: 429 | 503,
            retry_after,
            ..
        }) => Some(Duration::from_secs(retry_after.unwrap_or(1).max(1)).min(MAX_RETRY_AFTER)),
        _ => None,
    }
}

/// Whether ward-ca refused the batch's content (not the connection or
/// our identity): then retry one event at a time.
pub fn refused_as_malformed(e: &DeliverError) -> bool {
    matches!(e, DeliverError::Call(CallError::Status { code, .. }) if matches!(code, 400 | 413 | 422))
}

/// Appends one line (not yet fsynced: see the group commit in the module
/// docs).
fn write_line(g: &mut Inner, line: &[u8]) -> bool {
    match (&*g.file).write_all(line) {
        Ok(()) => {
            g.bytes += line.len() as u64;
            g.count += 1;
            g.written += 1;
            true
        }
        Err(e) => {
            log(format_args!("audit spool: append failed: {e}"));
            false
        }
    }
}

/// A new spool file (0600) for [`Spool::remove_first`], opened for
/// appending like the spool itself.
fn open_new(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = OpenOptions::new()
        .append(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    // create_new honours the umask; set the bits exactly.
    f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    Ok(f)
}

fn open_append(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
}

/// Event ids ward-ca accepts: 1–64 of `[A-Za-z0-9_-]`.
pub fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn clamp(e: &mut HostEvent) {
    let cut = |s: &mut String| {
        if s.len() > MAX_FIELD {
            let mut end = MAX_FIELD;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            s.truncate(end);
        }
    };
    cut(&mut e.action);
    for s in [
        &mut e.user,
        &mut e.principal,
        &mut e.service,
        &mut e.source_ip,
        &mut e.auth_method,
        &mut e.reason,
        &mut e.target,
    ]
    .into_iter()
    .flatten()
    {
        cut(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_clamping() {
        assert!(valid_id("0123456789abcdef-1"));
        assert!(!valid_id(""));
        assert!(!valid_id("a b"));
        assert!(!valid_id(&"a".repeat(65)));
        let mut e = HostEvent {
            reason: Some("é".repeat(1000)),
            ..HostEvent::default()
        };
        clamp(&mut e);
        assert!(e.reason.as_ref().is_some_and(|r| r.len() <= MAX_FIELD));
    }
}
