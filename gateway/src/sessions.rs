//! Open gateway sessions and their live enforcement (issue #13, item 5).
//!
//! An authenticated connection becomes a *session* when its first channel
//! is allowed: an id (`gs-` and 16 hex digits), who (user id and name,
//! authentication method, certificate serial), the source address, the
//! targets reached, when it started and the bytes each way. The session
//! ends with its connection.
//!
//! [`enforce`] watches the synced snapshot: on every new generation (the
//! sync thread's long-poll returns at once when ward-ca changes anything;
//! this loop looks every [`POLL`]) and at least every [`FULL_EVERY`], each
//! open session is checked again with the same decision code that let it
//! in ([`recheck`]): the user still exists under the same name and is
//! enabled, the certificate still verifies (revocations, CA keys,
//! principals and source address as of now, validity as of the
//! authentication), a registered key still belongs to the user, a password
//! user still has a password, `host:Connect` (and `host:Login` for a
//! terminating session's account) is still allowed on every target — with
//! the time of the connection's MFA check, if it had one, so an MFA age
//! condition ends the session when it expires —, and no
//! administrator asked to terminate it (`ward session terminate ID`,
//! carried in the gateway's snapshot). Between those, the limits are
//! checked: `idle_timeout_seconds` (no channel data either way) and
//! `max_session_seconds`. A session that fails is ended: the client gets an
//! SSH disconnect whose text is `ward: session ended: REASON`, its
//! forwardings stop at once, and the end is audited with the reason and
//! the bytes each way.

use std::collections::HashMap;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::watch;
use ward_agent::decide::{Decider, Facts, Target, Verdict, LOGIN};
use ward_agent::shared::{now, Current};
use ward_protocol::agent::Outcome;
use ward_protocol::host::HostEvent;

use crate::server::{Gateway, CONNECT, SERVICE};

/// Audit action of a session's start.
pub const SESSION_START: &str = ward_protocol::host::EVENT_GATEWAY_SESSION_START;
/// Audit action of a session's end.
pub const SESSION_END: &str = ward_protocol::host::EVENT_GATEWAY_SESSION_END;
/// How often [`enforce`] looks for a new snapshot and checks the limits.
pub const POLL: Duration = Duration::from_millis(100);
/// Every session is checked again at least this often (time conditions,
/// staleness), even when the snapshot has not changed.
pub const FULL_EVERY: Duration = Duration::from_secs(10);

/// What the user authenticated with, as much as a re-check needs.
#[derive(Clone)]
pub enum Credential {
    /// A ward user certificate (the workspace `ssh-key`, as the decision
    /// code reads it).
    Certificate(Box<::ssh_key::Certificate>),
    /// A registered key, by SHA-256 fingerprint.
    Key(String),
    /// A password checked by ward-ca.
    Password,
    /// A role session's certificate (key id `AROA…:SESSION:ISSUED`):
    /// decided with the role's policies.
    Role(Box<RoleCertificate>),
}

/// A role session's certificate and what it was accepted as.
#[derive(Clone)]
pub struct RoleCertificate {
    /// The certificate (the workspace `ssh-key`).
    pub cert: ::ssh_key::Certificate,
    /// The account (principal) it was checked for.
    pub principal: String,
    /// The role's id (`AROA…`).
    pub role_id: String,
    /// The session name.
    pub session: String,
    /// When the session was issued (`ward:TokenIssueTime`).
    pub issued_at: i64,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Certificate(c) => write!(f, "Certificate(serial {})", c.serial()),
            Credential::Key(fp) => write!(f, "Key({fp})"),
            Credential::Password => f.write_str("Password"),
            Credential::Role(r) => write!(
                f,
                "Role({}:{}, serial {})",
                r.role_id,
                r.session,
                r.cert.serial()
            ),
        }
    }
}

/// Who a session belongs to.
#[derive(Clone, Debug)]
pub struct Who {
    /// The ward user's id (stable across renames).
    pub user_id: String,
    /// Its name when it authenticated (the SSH user name).
    pub user_name: String,
    /// `ward:AuthMethod`.
    pub method: &'static str,
    /// The credential.
    pub credential: Credential,
    /// When it authenticated (Unix seconds).
    pub authed_at: i64,
    /// When ward-ca checked its MFA code, if it was asked for one
    /// ([`crate::mfa`]): re-checks decide with it, so
    /// `ward:MultiFactorAuthAge` grows as the session goes on.
    pub mfa_at: Option<i64>,
}

/// A target a session reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reached {
    /// The registered host's name.
    pub host: String,
    /// For a terminating session (hook): the account logged into, whose
    /// `host:Login` is checked again as well.
    pub account: Option<String>,
}

/// One open session.
pub struct Session {
    /// `gs-` and 16 hex digits.
    pub id: String,
    /// Who.
    pub who: Who,
    /// The client's address.
    pub source: IpAddr,
    /// When it started (Unix seconds).
    pub started: i64,
    started_at: Instant,
    targets: Mutex<Vec<Reached>>,
    /// Bytes from the client to targets.
    up: AtomicU64,
    /// Bytes from targets to the client.
    down: AtomicU64,
    /// Milliseconds after `started_at` of the last channel data.
    last: AtomicU64,
    /// Why it was ended (set once).
    reason: Mutex<Option<String>>,
    /// Set after the disconnect was sent: forwardings stop.
    ended: watch::Sender<Option<String>>,
    handle: russh::server::Handle,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("who", &self.who)
            .field("source", &self.source)
            .field("started", &self.started)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Session {
    /// Adds a target reached (once per host and account).
    pub fn reached(&self, r: Reached) {
        let mut t = lock(&self.targets);
        if !t.contains(&r) {
            t.push(r);
        }
    }

    /// The targets reached so far.
    pub fn targets(&self) -> Vec<Reached> {
        lock(&self.targets).clone()
    }

    /// Bytes (client → targets, targets → client).
    pub fn bytes(&self) -> (u64, u64) {
        (
            self.up.load(Ordering::Relaxed),
            self.down.load(Ordering::Relaxed),
        )
    }

    fn touch(&self) {
        let ms = u64::try_from(self.started_at.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.fetch_max(ms, Ordering::Relaxed);
    }

    fn idle_for(&self, now: Instant) -> Duration {
        let last = self.started_at + Duration::from_millis(self.last.load(Ordering::Relaxed));
        now.saturating_duration_since(last)
    }

    /// Why the session was ended, if it was.
    pub fn end_reason(&self) -> Option<String> {
        lock(&self.reason).clone()
    }

    /// Resolves once the session is ended (forwardings stop on it).
    pub async fn wait_ended(&self) {
        let mut rx = self.ended.subscribe();
        let _ = rx.wait_for(|e| e.is_some()).await;
    }

    /// Ends the session for `reason` (once): the client is disconnected
    /// with `ward: session ended: REASON`, then every forwarding stops
    /// (in that order, so the disconnect reaches the client before the
    /// channels close: a ProxyJump client exits when the inner
    /// connection does, and would not print a later message).
    pub fn end(self: &Arc<Self>, reason: &str) {
        let first = {
            let mut r = lock(&self.reason);
            if r.is_some() {
                false
            } else {
                *r = Some(reason.to_owned());
                true
            }
        };
        if first {
            let s = self.clone();
            let text = format!("ward: session ended: {reason}");
            let reason = reason.to_owned();
            tokio::spawn(async move {
                let _ = s
                    .handle
                    .disconnect(russh::Disconnect::ByApplication, text, String::new())
                    .await;
                s.ended.send_replace(Some(reason));
            });
        }
    }
}

/// The limits enforced on sessions.
#[derive(Clone, Debug)]
pub struct Limits {
    /// No channel data either way for this long ends a session.
    pub idle: Duration,
    /// No session lasts longer.
    pub max_session: Duration,
    /// Open sessions per user at once.
    pub per_user: usize,
}

/// The open sessions.
pub struct Registry {
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    limits: Limits,
}

/// A fresh session id: `gs-` and 16 hex digits from the OS's generator.
pub fn new_id() -> String {
    format!("gs-{}", hex::encode(rand::random::<[u8; 8]>()))
}

impl Registry {
    /// An empty registry with `limits`.
    pub fn new(limits: Limits) -> Registry {
        Registry {
            sessions: Mutex::new(HashMap::new()),
            limits,
        }
    }

    /// The limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Opens a session for `who` from `source`, or says why not (the user
    /// has `per_user` open already). Records its start.
    pub fn open(
        &self,
        decider: &Decider,
        who: Who,
        source: IpAddr,
        handle: russh::server::Handle,
        first: Reached,
    ) -> Result<Arc<Session>, String> {
        let s = {
            let mut g = lock(&self.sessions);
            let open = g.values().filter(|s| s.who.user_id == who.user_id).count();
            if open >= self.limits.per_user {
                return Err(format!(
                    "ward-gateway: ward user {} already has {open} open sessions (at most {} at once)",
                    who.user_name, self.limits.per_user
                ));
            }
            let (ended, _) = watch::channel(None);
            let s = Arc::new(Session {
                id: new_id(),
                who,
                source,
                started: now(),
                started_at: Instant::now(),
                targets: Mutex::new(vec![first]),
                up: AtomicU64::new(0),
                down: AtomicU64::new(0),
                last: AtomicU64::new(0),
                reason: Mutex::new(None),
                ended,
                handle,
            });
            g.insert(s.id.clone(), s.clone());
            s
        };
        record(
            decider,
            &s,
            SESSION_START,
            format!("session {} started to {}", s.id, names(&s.targets())),
        );
        Ok(s)
    }

    /// Removes `s` (its connection ended) and records its end.
    pub fn close(&self, decider: &Decider, s: &Session) {
        lock(&self.sessions).remove(&s.id);
        let (up, down) = s.bytes();
        let why = s
            .end_reason()
            .unwrap_or_else(|| "the connection closed".to_owned());
        record(
            decider,
            s,
            SESSION_END,
            format!(
                "session {} to {} ended: {why}; {up} bytes from the client, {down} bytes to it",
                s.id,
                names(&s.targets())
            ),
        );
    }

    /// The open sessions.
    pub fn list(&self) -> Vec<Arc<Session>> {
        lock(&self.sessions).values().cloned().collect()
    }

    /// Ends every session that fails its limits at `at` or, with `full`,
    /// its [`recheck`] against the current snapshot. Returns the ended
    /// sessions' ids and reasons.
    pub fn sweep(&self, decider: &Decider, at: Instant, full: bool) -> Vec<(String, String)> {
        let mut ended = Vec::new();
        let t = now();
        let cur = if full { Some(decider.usable(t)) } else { None };
        for s in self.list() {
            if s.end_reason().is_some() {
                continue;
            }
            let why = if s.idle_for(at) >= self.limits.idle {
                Some(format!(
                    "no data for {} s (idle_timeout_seconds)",
                    self.limits.idle.as_secs()
                ))
            } else if at.saturating_duration_since(s.started_at) >= self.limits.max_session {
                Some(format!(
                    "the session reached its maximum length of {} s (max_session_seconds)",
                    self.limits.max_session.as_secs()
                ))
            } else {
                match &cur {
                    None => None,
                    Some(Err(r)) => Some(r.clone()),
                    Some(Ok(c)) => recheck(decider, c, &s, t).err(),
                }
            };
            if let Some(why) = why {
                s.end(&why);
                ended.push((s.id.clone(), why));
            }
        }
        ended
    }
}

fn names(t: &[Reached]) -> String {
    t.iter()
        .map(|r| match &r.account {
            Some(a) => format!("{a}@{}", r.host),
            None => r.host.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn record(decider: &Decider, s: &Session, action: &str, reason: String) {
    let suffix = if action == SESSION_START {
        "start"
    } else {
        "end"
    };
    decider.shared().audit.record(HostEvent {
        id: format!("{}-{suffix}", s.id),
        time: now(),
        action: action.to_owned(),
        user: Some(s.who.user_name.clone()),
        principal: None,
        service: Some(SERVICE.to_owned()),
        source_ip: Some(s.source.to_string()),
        auth_method: Some(s.who.method.to_owned()),
        allowed: true,
        reason: Some(reason),
        target: Some(names(&s.targets())),
    });
}

/// Decides `facts` on `target` for a connection's principal: ward user
/// `id` with its policies and the connection's MFA time, or (a role
/// session's certificate) the role's policies with the session's issue
/// time — the same ward-authz code ward-agent decides with. No audit.
#[allow(clippy::too_many_arguments)] // who, what, where and the MFA time
pub fn decide(
    decider: &Decider,
    cur: &Arc<Current>,
    id: &str,
    name: &str,
    credential: &Credential,
    facts: &Facts<'_>,
    target: &Target<'_>,
    mfa_at: Option<i64>,
) -> Verdict {
    let deny = |why: String| Verdict {
        outcome: Outcome::Denied,
        user: Some(name.to_owned()),
        reason: Some(why),
    };
    match credential {
        Credential::Role(r) => match cur.snapshot.roles.iter().find(|x| x.id == r.role_id) {
            None => deny(format!("the ward role of {name} no longer exists")),
            Some(role) => {
                decider.decide_role_session(cur, role, &r.session, r.issued_at, facts, target)
            }
        },
        _ => match cur.snapshot.users.iter().find(|u| u.id == id) {
            None => deny(format!("ward user {name} no longer exists")),
            Some(u) => decider.decide_user_mfa(cur, u, facts, target, mfa_at),
        },
    }
}

/// The ward user of a session still exists under the same name, is
/// enabled, and still holds its credential.
fn user_holds(decider: &Decider, cur: &Arc<Current>, s: &Session) -> Result<(), String> {
    let who = &s.who;
    let Some(user) = cur.snapshot.users.iter().find(|u| u.id == who.user_id) else {
        return Err(format!("ward user {} was deleted", who.user_name));
    };
    if !user.enabled {
        return Err(format!("ward user {} is disabled", user.name));
    }
    if user.name != who.user_name {
        return Err(format!(
            "ward user {} was renamed to {}",
            who.user_name, user.name
        ));
    }
    match &who.credential {
        Credential::Certificate(cert) => {
            decider
                .certificate_user(cur, cert, Some(s.source), who.authed_at)
                .map_err(|v| {
                    format!(
                        "the certificate (serial {}) is no longer valid: {}",
                        cert.serial(),
                        v.reason.unwrap_or_default()
                    )
                })?;
        }
        Credential::Key(fp) => match decider.key_user(cur, fp) {
            Ok((u, _)) if u.id == user.id => {}
            _ => {
                return Err(format!(
                    "the SSH key {fp} is no longer registered to {}",
                    user.name
                ))
            }
        },
        Credential::Password => {
            if user.login_profile.is_none() {
                return Err(format!("ward user {} no longer has a password", user.name));
            }
        }
        Credential::Role(_) => return Err("not a ward user's credential".into()),
    }
    Ok(())
}

/// Whether `s` may stay open under `cur` at `t` (see the module docs);
/// the reason it may not. A role session's certificate must still verify
/// at `t` (its role exists, not revoked, not expired: the session ends
/// with the certificate) and the role's policies decide the targets
/// (`ward role revoke-sessions` denies by `ward:TokenIssueTime`).
pub fn recheck(decider: &Decider, cur: &Arc<Current>, s: &Session, t: i64) -> Result<(), String> {
    let snap = &cur.snapshot;
    let who = &s.who;
    if let Some(t) = snap
        .gateway_terminations
        .iter()
        .flatten()
        .find(|t| t.id == s.id)
    {
        return Err(format!("terminated by {}", t.requested_by));
    }
    match &who.credential {
        Credential::Role(r) => {
            decider
                .role_certificate(cur, &r.cert, &r.principal, Some(s.source), t)
                .map_err(|v| {
                    format!(
                        "the role session's certificate (serial {}) is no longer valid: {}",
                        r.cert.serial(),
                        v.reason.unwrap_or_default()
                    )
                })?;
        }
        _ => user_holds(decider, cur, s)?,
    }
    let Some(registry) = snap.registry.as_deref() else {
        return Err("this gateway's snapshot has no host registry".into());
    };
    for r in s.targets() {
        let Some(host) = registry.iter().find(|h| h.name == r.host) else {
            return Err(format!("{} is no longer a registered host", r.host));
        };
        let target = Target {
            name: &host.name,
            tags: &host.tags,
        };
        // ProxyJump needs host:Connect; a terminating session, where the
        // gateway itself logs in, host:Login for its account.
        let checks = match &r.account {
            Some(a) => vec![(LOGIN, a.as_str())],
            None => vec![(CONNECT, "")],
        };
        for (action, principal) in checks {
            let facts = Facts {
                action,
                principal,
                service: SERVICE,
                auth_method: who.method,
                source_ip: Some(s.source),
                secure_transport: true,
                now: t,
            };
            // With the connection's MFA time: an age condition that
            // expires ends the session (MfaRequired is not Allowed).
            let v = decide(
                decider,
                cur,
                &who.user_id,
                &who.user_name,
                &who.credential,
                &facts,
                &target,
                who.mfa_at,
            );
            if v.outcome != Outcome::Allowed {
                return Err(format!(
                    "{action} on {} is no longer allowed: {}",
                    host.name,
                    v.reason.unwrap_or_default()
                ));
            }
        }
    }
    Ok(())
}

/// Checks every open session as the snapshot changes and as time passes
/// (see the module docs); runs forever.
pub async fn enforce(gw: Arc<Gateway>) {
    let mut last_generation = None;
    let mut last_full = Instant::now();
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let generation = gw
            .decider
            .shared()
            .snapshot()
            .map(|c| c.snapshot.generation);
        let at = Instant::now();
        let full = generation != last_generation || at.duration_since(last_full) >= FULL_EVERY;
        if full {
            last_generation = generation;
            last_full = at;
        }
        for (id, why) in gw.sessions.sweep(&gw.decider, at, full) {
            ward_agent::shared::log(format_args!("session {id} ended: {why}"));
        }
    }
}

/// A target connection that counts the bytes of a session each way and
/// when data last moved.
pub struct Counted<S> {
    inner: S,
    session: Arc<Session>,
}

impl<S> Counted<S> {
    /// Counts `inner`'s traffic into `session`.
    pub fn new(inner: S, session: Arc<Session>) -> Counted<S> {
        Counted { inner, session }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = buf.filled().len().saturating_sub(before);
        if n > 0 {
            self.session
                .down
                .fetch_add(u64::try_from(n).unwrap_or(0), Ordering::Relaxed);
            self.session.touch();
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &r {
            if *n > 0 {
                self.session
                    .up
                    .fetch_add(u64::try_from(*n).unwrap_or(0), Ordering::Relaxed);
                self.session.touch();
            }
        }
        r
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
