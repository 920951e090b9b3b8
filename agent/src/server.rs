//! The agent socket (`/run/ward/agent.sock`, protocol in
//! `ward_protocol::agent`): a Unix stream socket served by one accept loop
//! and at most [`ServerOptions::max_connections`] connection threads
//! (issue #11 item 5).
//!
//! - The socket is mode 0666 (every local process may do NSS lookups); its
//!   parent directory is created 0755. A stale socket file is removed; a
//!   live agent on it, or a non-socket at the path, is an error.
//! - The peer's uid comes from `SO_PEERCRED`. Decisions (`authorize`,
//!   `ssh_principals`, `ssh_keys`), password checks (`verify_password`,
//!   `change_password`, see [`crate::passwords`]) and MFA checks
//!   (`verify_mfa`, see [`crate::decide`]) are served to uid 0 and
//!   [`ServerOptions::decision_uids`] only (`forbidden` otherwise); lookups
//!   and `status` to anyone.
//! - Limits: a connection beyond the total cap or the peer uid's cap gets
//!   one `busy` error and is closed. A peer has `idle_timeout` to start a
//!   frame and `read_timeout` to finish it (a deadline over the whole
//!   frame, not per read, so trickling bytes does not hold a slot).
//! - An oversized length prefix gets `too_large` and the connection is
//!   closed (the stream cannot be resynchronised); a malformed body gets
//!   `malformed` and the connection stays usable; a truncated frame closes
//!   it. None of this affects other connections.

use std::collections::HashMap;
use std::io::{self, Read};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _};
use ward_protocol::agent::{
    parse_request, read_frame, write_frame, FrameError, Request, Response, DEFAULT_SOCKET,
    MAX_REQUEST, MAX_RESPONSE,
};

use crate::decide::Decider;
use crate::lookup::Lookup;
use crate::passwords::Passwords;
use crate::shared::Shared;

/// How the socket is served.
pub struct ServerOptions {
    /// Socket path (default `/run/ward/agent.sock`).
    pub socket: PathBuf,
    /// uids besides 0 that may ask for decisions.
    pub decision_uids: Vec<u32>,
    /// The local passwd file (default `/etc/passwd`): its names and ids
    /// are never answered.
    pub passwd_file: PathBuf,
    /// The local group file (default `/etc/group`).
    pub group_file: PathBuf,
    /// Most connections served at once (default 64).
    pub max_connections: usize,
    /// Most connections one unprivileged peer uid may hold (default 8);
    /// unprivileged peers together may hold at most 3/4 of
    /// `max_connections`, uid 0 and `decision_uids` only the total.
    pub max_per_uid: usize,
    /// Time to receive a frame once its first byte arrived (default 5 s).
    pub read_timeout: Duration,
    /// Time a connection may wait before starting a frame (default 30 s).
    pub idle_timeout: Duration,
    /// Called once, when the socket is bound and listening (systemd
    /// readiness).
    pub on_ready: Option<Box<dyn FnOnce() + Send>>,
    /// Password checks (`verify_password`, `change_password`); `None`
    /// answers them `unavailable`.
    pub passwords: Option<Arc<Passwords>>,
    /// When set to true, the accept loop stops (after the next connection
    /// attempt wakes it) and [`serve`] removes the socket and returns.
    pub stop: Option<Arc<AtomicBool>>,
}

impl Default for ServerOptions {
    fn default() -> ServerOptions {
        ServerOptions {
            socket: DEFAULT_SOCKET.into(),
            decision_uids: Vec::new(),
            passwd_file: "/etc/passwd".into(),
            group_file: "/etc/group".into(),
            max_connections: 64,
            max_per_uid: 8,
            read_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(30),
            on_ready: None,
            passwords: None,
            stop: None,
        }
    }
}

impl std::fmt::Debug for ServerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerOptions")
            .field("socket", &self.socket)
            .field("decision_uids", &self.decision_uids)
            .field("max_connections", &self.max_connections)
            .field("max_per_uid", &self.max_per_uid)
            .finish_non_exhaustive()
    }
}

/// Connection slots. Privileged peers (uid 0 and the decision uids:
/// sshd's helper commands, PAM) are bound only by the total; every other
/// peer by its per-uid cap, and all of them together by the total less a
/// reserve of a quarter, so local users cannot starve login decisions.
struct Slots {
    max: usize,
    per_uid: usize,
    reserve: usize,
    held: Mutex<Held>,
}

#[derive(Default)]
struct Held {
    total: usize,
    unprivileged: usize,
    per_uid: HashMap<u32, usize>,
}

struct Slot {
    slots: Arc<Slots>,
    uid: u32,
    privileged: bool,
}

impl Slots {
    fn new(max: usize, per_uid: usize) -> Slots {
        let max = max.max(1);
        Slots {
            max,
            per_uid: per_uid.max(1),
            reserve: max / 4,
            held: Mutex::new(Held::default()),
        }
    }

    fn take(self: &Arc<Self>, uid: u32, privileged: bool) -> Option<Slot> {
        let mut g = match self.held.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if g.total >= self.max {
            return None;
        }
        if !privileged {
            let mine = g.per_uid.get(&uid).copied().unwrap_or(0);
            if mine >= self.per_uid || g.unprivileged >= self.max - self.reserve {
                return None;
            }
            g.per_uid.insert(uid, mine + 1);
            g.unprivileged += 1;
        }
        g.total += 1;
        Some(Slot {
            slots: self.clone(),
            uid,
            privileged,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut g = match self.slots.held.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        g.total = g.total.saturating_sub(1);
        if self.privileged {
            return;
        }
        g.unprivileged = g.unprivileged.saturating_sub(1);
        if let Some(n) = g.per_uid.get_mut(&self.uid) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                g.per_uid.remove(&self.uid);
            }
        }
    }
}

struct Ctx {
    decider: Decider,
    passwords: Option<Arc<Passwords>>,
    lookup: Lookup,
    decision_uids: Vec<u32>,
    read_timeout: Duration,
    idle_timeout: Duration,
}

/// Binds the socket and serves it until `opts.stop` is set (or forever).
pub fn serve(shared: Arc<Shared>, mut opts: ServerOptions) -> anyhow::Result<()> {
    let listener = bind(&opts.socket)?;
    if let Some(ready) = opts.on_ready.take() {
        ready();
    }
    let ctx = Arc::new(Ctx {
        decider: Decider::new(shared),
        passwords: opts.passwords.clone(),
        lookup: Lookup::new(opts.passwd_file.clone(), opts.group_file.clone()),
        decision_uids: opts.decision_uids.clone(),
        read_timeout: opts.read_timeout,
        idle_timeout: opts.idle_timeout,
    });
    let slots = Arc::new(Slots::new(opts.max_connections, opts.max_per_uid));
    let stopped = || opts.stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst));
    for conn in listener.incoming() {
        if stopped() {
            break;
        }
        let stream = match conn {
            Ok(s) => s,
            Err(e) => {
                // EMFILE and friends: back off a little, keep serving.
                eprintln!("ward-agent: accept: {e}");
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        // The peer and the caps are checked here, before a thread exists.
        let uid = match rustix::net::sockopt::socket_peercred(&stream) {
            Ok(c) => c.uid.as_raw(),
            Err(_) => continue,
        };
        let privileged = uid == 0 || ctx.decision_uids.contains(&uid);
        let Some(slot) = slots.take(uid, privileged) else {
            let _ = stream.set_nonblocking(true);
            let _ = write_frame(
                &mut &stream,
                &error("busy", "too many connections"),
                MAX_RESPONSE,
            );
            continue;
        };
        let ctx = ctx.clone();
        let spawned = std::thread::Builder::new()
            .name("ward-agent-conn".into())
            .spawn(move || connection(&ctx, stream, uid, slot));
        if let Err(e) = spawned {
            eprintln!("ward-agent: cannot start a connection thread: {e}");
        }
    }
    let _ = std::fs::remove_file(&opts.socket);
    Ok(())
}

fn bind(path: &std::path::Path) -> anyhow::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() && !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(dir)
                .with_context(|| format!("creating {}", dir.display()))?;
        }
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            if UnixStream::connect(path).is_ok() {
                bail!("{} is served by a running agent", path.display());
            }
            std::fs::remove_file(path)
                .with_context(|| format!("removing the stale socket {}", path.display()))?;
        }
        Ok(_) => bail!("{} exists and is not a socket", path.display()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("{}", path.display())),
    }
    let l = UnixListener::bind(path).with_context(|| format!("binding {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))
        .with_context(|| format!("chmod {}", path.display()))?;
    Ok(l)
}

/// Reads a connection's frames through a deadline, buffered: one `recv`
/// usually brings a whole request (length prefix and body), so a request
/// costs one read and one timeout update instead of one of each per
/// piece. Before each `recv` the socket's timeout is set to what is left
/// of the deadline. The buffer is wiped as it drains and when dropped: a
/// request may carry a password.
struct Deadline<'a> {
    stream: &'a UnixStream,
    deadline: Instant,
    started: bool,
    read_timeout: Duration,
    buf: zeroize::Zeroizing<Vec<u8>>,
    pos: usize,
    end: usize,
}

/// Bytes one `recv` may bring (larger frames take several).
const READ_BUFFER: usize = 8 * 1024;

impl<'a> Deadline<'a> {
    fn new(stream: &'a UnixStream, read_timeout: Duration) -> Deadline<'a> {
        Deadline {
            stream,
            deadline: Instant::now(),
            started: false,
            read_timeout,
            buf: zeroize::Zeroizing::new(vec![0; READ_BUFFER]),
            pos: 0,
            end: 0,
        }
    }

    /// Waits for the next frame: `idle` to start it, then `read_timeout`
    /// to finish it (at once if bytes of it are already buffered).
    fn next_frame(&mut self, idle: Duration) {
        self.started = self.pos < self.end;
        self.deadline = Instant::now()
            + if self.started {
                self.read_timeout
            } else {
                idle
            };
    }
}

impl Read for Deadline<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.end {
            zeroize::Zeroize::zeroize(&mut self.buf[..self.end]);
            self.pos = 0;
            self.end = 0;
            let left = self.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::ErrorKind::TimedOut.into());
            }
            self.stream.set_read_timeout(Some(left))?;
            let n = (&*self.stream).read(&mut self.buf)?;
            if n == 0 {
                return Ok(0);
            }
            if !self.started {
                // The frame began: it has read_timeout to complete.
                self.started = true;
                self.deadline = Instant::now() + self.read_timeout;
            }
            self.end = n;
        }
        let n = out.len().min(self.end - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn error(code: &str, message: impl Into<String>) -> Response {
    Response::Error {
        code: code.into(),
        message: message.into(),
    }
}

/// Serves one connection; `_slot` is released when it ends.
fn connection(ctx: &Ctx, stream: UnixStream, uid: u32, _slot: Slot) {
    let _ = stream.set_write_timeout(Some(ctx.read_timeout));
    let may_decide = uid == 0 || ctx.decision_uids.contains(&uid);
    let mut r = Deadline::new(&stream, ctx.read_timeout);
    loop {
        r.next_frame(ctx.idle_timeout);
        let body = match read_frame(&mut r, MAX_REQUEST) {
            Ok(b) => b,
            Err(FrameError::TooLarge(n)) => {
                let _ = write_frame(
                    &mut &stream,
                    &error(
                        "too_large",
                        format!("a request is at most {MAX_REQUEST} bytes, not {n}"),
                    ),
                    MAX_RESPONSE,
                );
                return;
            }
            Err(_) => return,
        };
        let resp = match parse_request(&body) {
            Err(resp) => resp,
            Ok(req) => answer(ctx, may_decide, &req),
        };
        if let Err(e) = write_frame(&mut &stream, &resp, MAX_RESPONSE) {
            match e {
                // A response that does not fit is reported, not dropped.
                FrameError::TooLarge(_) => {
                    let _ = write_frame(
                        &mut &stream,
                        &error("too_large", "the response does not fit in a frame"),
                        MAX_RESPONSE,
                    );
                }
                _ => return,
            }
        }
    }
}

fn answer(ctx: &Ctx, may_decide: bool, req: &Request) -> Response {
    let decision = matches!(
        req,
        Request::Authorize(_)
            | Request::SshPrincipals(_)
            | Request::SshKeys(_)
            | Request::VerifyPassword(_)
            | Request::VerifyMfa(_)
            | Request::ChangePassword(_)
            | Request::Session(_)
    );
    if decision && !may_decide {
        return error(
            "forbidden",
            "decisions are served to root and configured uids only",
        );
    }
    let now = now();
    match req {
        Request::Authorize(r) => ctx.decider.authorize(r, now),
        Request::SshPrincipals(r) => ctx.decider.ssh_principals(r, now),
        Request::SshKeys(r) => ctx.decider.ssh_keys(r, now),
        // Argon2 and the call to ward-ca run on this connection's thread:
        // other connections are served meanwhile.
        Request::VerifyPassword(r) => match &ctx.passwords {
            Some(p) => p.verify_password(r, now),
            None => error("unavailable", "password checks are not configured"),
        },
        // The call to ward-ca runs on this connection's thread too.
        Request::VerifyMfa(r) => match &ctx.passwords {
            Some(p) => ctx
                .decider
                .verify_mfa(r, now, |user, code, rhost| p.verify_mfa(user, code, rhost)),
            None => error("unavailable", "MFA checks are not configured"),
        },
        Request::ChangePassword(r) => match &ctx.passwords {
            Some(p) => p.change_password(r, now),
            None => error("unavailable", "password checks are not configured"),
        },
        Request::Session(r) => ctx.decider.session(r, now),
        Request::Status => status(ctx, now),
        other => {
            let cur = ctx.decider.shared().snapshot();
            ctx.lookup
                .answer(cur.as_ref(), other)
                .unwrap_or_else(|| error("malformed", "unknown request"))
        }
    }
}

fn status(ctx: &Ctx, now: i64) -> Response {
    // One definition of the status (sync state, cache age, staleness,
    // audit backlog) for the socket and for `ward-agent status`.
    Response::Status(ctx.decider.shared().status_now(now))
}
