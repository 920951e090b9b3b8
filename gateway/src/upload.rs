//! Uploads finished session recordings to ward-ca (issue #15), so that
//! they can be replayed in the dashboard and with `ward recording get`.
//!
//! When a terminating session ends, [`crate::terminate`] hands its id to
//! [`Uploads::finished`] — a queue push, so the session never waits for
//! ward-ca. One thread ([`Uploads::spawn`]) sends each queued cast with
//! `PUT /v1/host/recordings/{id}` over the gateway's mTLS host client,
//! streamed from the file (`Content-Length`, never read whole). The file
//! stays where it is; what happened is a marker beside it:
//!
//! - `ID.cast.uploaded` — ward-ca stored it (201) or already held these
//!   very bytes (200). Never sent again.
//! - `ID.cast.refused` — ward-ca refused it for good (400: not asciicast
//!   v2, with the line; 409: other bytes are stored under this id; 413:
//!   larger than [`MAX_RECORDING_BYTES`]); the reason is in the marker and
//!   the log. Not sent again.
//!
//! Anything else — ward-ca unreachable, 5xx, 429/503 (after its
//! `Retry-After`), 403, or 404 (ward-ca has not yet received the
//! session's `RecordingStart` audit event, which the spool delivers
//! separately) — keeps the id queued and retries with the agent's
//! back-off (1 s doubling to 30 s, jittered), the other queued ids in turn.
//! At start ([`Uploads::resume`]) every `ID.cast` without a marker is
//! queued again, so a restart resumes where the last run stopped (no
//! session is being recorded then).

use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use ward_agent::client::{CaClient, CallError};
use ward_agent::shared::log;
use ward_agent::sync::Backoff;
use ward_protocol::host::{recording_id_ok, MAX_RECORDING_BYTES, RECORDING_MEDIA_TYPE};

/// How the upload thread reaches ward-ca (built again after a failure, so
/// a renewed host certificate is picked up).
pub type Connect = Box<dyn Fn() -> Result<CaClient, String> + Send + Sync>;

/// Largest answer read from ward-ca.
const MAX_ANSWER: u64 = 64 * 1024;

/// The marker of a recording ward-ca holds.
pub fn uploaded_marker(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("{id}.cast.uploaded"))
}

/// The marker of a recording ward-ca refused for good.
pub fn refused_marker(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("{id}.cast.refused"))
}

/// What one attempt came to.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// ward-ca holds it.
    Stored,
    /// Refused for good, with why.
    Refused(String),
    /// Try again later (after `Retry-After` when ward-ca sent one).
    Retry(String, Option<Duration>),
    /// The file is gone: nothing to send.
    Gone,
}

/// The queue of recordings to upload.
pub struct Uploads {
    dir: PathBuf,
    queue: Mutex<VecDeque<String>>,
    wake: Condvar,
}

impl Uploads {
    /// Uploads from `dir` (the gateway's `recordings_dir`).
    pub fn new(dir: &Path) -> Arc<Uploads> {
        Arc::new(Uploads {
            dir: dir.to_path_buf(),
            queue: Mutex::new(VecDeque::new()),
            wake: Condvar::new(),
        })
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, VecDeque<String>> {
        match self.queue.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Queues recording `id`, whose file is complete (its session ended).
    pub fn finished(&self, id: &str) {
        if !recording_id_ok(id) {
            return;
        }
        let mut q = self.queue();
        if !q.iter().any(|x| x == id) {
            q.push_back(id.to_owned());
        }
        drop(q);
        self.wake.notify_all();
    }

    /// Queues every recording in the directory without a marker; call at
    /// start, before any session is recorded. How many were queued.
    pub fn resume(&self) -> std::io::Result<usize> {
        let mut ids: Vec<(std::time::SystemTime, String)> = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".cast")) else {
                continue;
            };
            if !recording_id_ok(id)
                || uploaded_marker(&self.dir, id).exists()
                || refused_marker(&self.dir, id).exists()
            {
                continue;
            }
            let at = entry
                .metadata()
                .and_then(|m| m.modified())
                .unwrap_or(std::time::UNIX_EPOCH);
            ids.push((at, id.to_owned()));
        }
        // Oldest first.
        ids.sort();
        let n = ids.len();
        for (_, id) in ids {
            self.finished(&id);
        }
        Ok(n)
    }

    /// Recordings waiting to be uploaded.
    pub fn pending(&self) -> usize {
        self.queue().len()
    }

    /// Starts the upload thread.
    pub fn spawn(self: &Arc<Self>, connect: Connect) -> std::io::Result<()> {
        let me = self.clone();
        std::thread::Builder::new()
            .name("recordings".into())
            .spawn(move || me.run(&connect))
            .map(drop)
    }

    fn next(&self) -> Option<String> {
        let mut q = self.queue();
        if q.is_empty() {
            q = match self.wake.wait_timeout(q, Duration::from_secs(30)) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
        q.pop_front()
    }

    fn requeue(&self, id: String) {
        let mut q = self.queue();
        if !q.iter().any(|x| *x == id) {
            q.push_back(id);
        }
    }

    /// The upload loop (never returns).
    fn run(&self, connect: &Connect) {
        let mut backoff = Backoff::default();
        let mut client: Option<CaClient> = None;
        let mut last_error = String::new();
        loop {
            let Some(id) = self.next() else { continue };
            let c = match client.take() {
                Some(c) => c,
                None => match connect() {
                    Ok(c) => c,
                    Err(e) => {
                        if e != last_error {
                            log(format_args!("recording upload: {e}"));
                            last_error = e;
                        }
                        self.requeue(id);
                        std::thread::sleep(backoff.next_delay());
                        continue;
                    }
                },
            };
            match upload(&c, &self.dir, &id) {
                Outcome::Stored => {
                    if let Err(e) = mark(&uploaded_marker(&self.dir, &id), "uploaded\n") {
                        log(format_args!(
                            "recording {id}: uploaded, but the marker: {e}"
                        ));
                    }
                    log(format_args!("recording {id} uploaded to ward-ca"));
                    backoff.reset();
                    last_error.clear();
                    client = Some(c);
                }
                Outcome::Refused(why) => {
                    log(format_args!(
                        "recording {id}: ward-ca refused it ({why}); it stays on this gateway"
                    ));
                    if let Err(e) = mark(&refused_marker(&self.dir, &id), &format!("{why}\n")) {
                        log(format_args!("recording {id}: the refusal marker: {e}"));
                    }
                    client = Some(c);
                }
                Outcome::Gone => {
                    log(format_args!(
                        "recording {id}: the file is gone; nothing to upload"
                    ));
                    client = Some(c);
                }
                Outcome::Retry(why, after) => {
                    let m = format!("recording {id}: {why}");
                    if m != last_error {
                        log(format_args!("{m} (will retry)"));
                        last_error = m;
                    }
                    self.requeue(id);
                    std::thread::sleep(after.unwrap_or_else(|| backoff.next_delay()));
                }
            }
        }
    }
}

/// Writes a marker file (0600) atomically enough: a new file, synced.
fn mark(path: &Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

/// One attempt at uploading `dir/ID.cast`.
fn upload(c: &CaClient, dir: &Path, id: &str) -> Outcome {
    let path = dir.join(format!("{id}.cast"));
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Outcome::Gone,
        Err(e) => return Outcome::Retry(format!("{}: {e}", path.display()), None),
    };
    let len = match file.metadata() {
        Ok(m) => m.len(),
        Err(e) => return Outcome::Retry(format!("{}: {e}", path.display()), None),
    };
    if len > MAX_RECORDING_BYTES {
        return Outcome::Refused(format!(
            "{len} bytes, more than the {MAX_RECORDING_BYTES} ward-ca accepts"
        ));
    }
    let route = format!("/v1/host/recordings/{id}");
    match c.put_stream(&route, RECORDING_MEDIA_TYPE, len, file, MAX_ANSWER) {
        Ok((200 | 201, _)) => Outcome::Stored,
        Ok((code, _)) => Outcome::Retry(format!("ward-ca answered {code}"), None),
        Err(e) => classify(&e),
    }
}

/// Which failures are final.
fn classify(e: &CallError) -> Outcome {
    match e {
        CallError::Status {
            code: 400 | 409 | 413,
            ..
        } => Outcome::Refused(e.to_string()),
        CallError::Status {
            retry_after: Some(s),
            ..
        } => Outcome::Retry(e.to_string(), Some(Duration::from_secs((*s).clamp(1, 300)))),
        _ => Outcome::Retry(e.to_string(), None),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn status(code: u16, retry_after: Option<u64>) -> CallError {
        CallError::Status {
            code,
            error: None,
            message: "m".into(),
            retry_after,
        }
    }

    #[test]
    fn final_and_passing_failures() {
        for code in [400, 409, 413] {
            assert!(
                matches!(classify(&status(code, None)), Outcome::Refused(_)),
                "{code}"
            );
        }
        for code in [403, 404, 500, 502] {
            assert!(
                matches!(classify(&status(code, None)), Outcome::Retry(_, None)),
                "{code}"
            );
        }
        assert_eq!(
            classify(&status(503, Some(5))),
            Outcome::Retry(
                status(503, Some(5)).to_string(),
                Some(Duration::from_secs(5))
            )
        );
        assert!(matches!(
            classify(&CallError::Unreachable("down".into())),
            Outcome::Retry(_, None)
        ));
    }

    #[test]
    fn resume_queues_unmarked_recordings_once() {
        let dir = std::env::temp_dir().join(format!("ward-upl-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let a = format!("gws-{}", "a".repeat(32));
        let b = format!("gws-{}", "b".repeat(32));
        let c = format!("gws-{}", "c".repeat(32));
        for id in [&a, &b, &c] {
            std::fs::write(dir.join(format!("{id}.cast")), "{}\n").unwrap();
        }
        std::fs::write(uploaded_marker(&dir, &b), "").unwrap();
        std::fs::write(refused_marker(&dir, &c), "").unwrap();
        std::fs::write(dir.join("notes.txt"), "").unwrap();
        std::fs::write(dir.join("gws-short.cast"), "").unwrap();
        let u = Uploads::new(&dir);
        assert_eq!(u.resume().unwrap(), 1);
        u.finished(&a);
        u.finished("../../etc/passwd");
        assert_eq!(u.pending(), 1);
        assert_eq!(u.next(), Some(a));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
