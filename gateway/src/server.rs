//! The SSH server (russh): authentication by ward user certificate or
//! registered key, ProxyJump (`direct-tcpip`) to registered hosts decided
//! by `host:Connect`, every limit bounded. Decisions go through
//! [`ward_agent::decide::Decider`] on the synced snapshot, and every
//! authentication and decision is recorded through the agent's audit
//! spool.
//!
//! Each connection is its own task; until it has authenticated, its socket
//! reads fail once the handshake deadline passes ([`Deadline`]), so a
//! client that stalls mid-handshake holds only its own connection.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use russh::keys::ssh_key;
use russh::server::{Auth, ChannelOpenHandle, Msg, Session};
use russh::{Channel, ChannelOpenFailure, MethodKind, MethodSet};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use ward_agent::decide::{Decider, Facts, Target, Verdict, SSH_CERTIFICATE, SSH_KEY};
use ward_agent::shared::{log, now};
use ward_protocol::agent::Outcome;

use crate::config::Config;
use crate::password::{self, Refusal, PASSWORD};
use crate::sessions::{Counted, Credential, Reached, Registry, Who};
use crate::target;
use crate::throttle::Throttle;

/// `host:Connect`.
pub const CONNECT: &str = "host:Connect";
/// The audit action of an authentication at the gateway.
pub const AUTHENTICATE: &str = "ward-gateway:Authenticate";
/// `host:Service` of gateway decisions.
pub const SERVICE: &str = "gateway";

/// Everything connections share.
pub struct Gateway {
    /// Configuration.
    pub cfg: Config,
    /// Decisions on the synced snapshot.
    pub decider: Decider,
    /// Failed authentications per source.
    pub throttle: Throttle,
    /// Terminating mode's link to ward-ca.
    pub terminator: crate::terminate::Terminator,
    /// Open sessions ([`crate::sessions`]).
    pub sessions: Registry,
    /// Password checks through ward-ca; `None` when `passwords = false`.
    pub passwords: Option<Arc<ward_agent::passwords::Passwords>>,
    /// MFA code checks through ward-ca (`POST /v1/host/mfa/verify`,
    /// [`crate::mfa`]); `None`: codes cannot be checked, and a connection
    /// whose decision needs one is refused.
    pub mfa: Option<Arc<ward_agent::passwords::Passwords>>,
}

/// How much longer than `idle_timeout` a connection may receive nothing.
const IDLE_GRACE: Duration = Duration::from_secs(10);

/// The russh server configuration: the certified host key, modern
/// algorithms only (curve25519 key exchange, Ed25519/ECDSA host keys,
/// ChaCha20-Poly1305 or AES-GCM), public-key authentication, the
/// configured limits.
pub fn russh_config(
    cfg: &Config,
    key: ssh_key::PrivateKey,
    certificate: Option<ssh_key::Certificate>,
) -> russh::server::Config {
    use russh::{cipher, kex, mac, Preferred};
    let preferred = Preferred {
        kex: std::borrow::Cow::Borrowed(&[
            kex::CURVE25519,
            kex::CURVE25519_PRE_RFC_8731,
            kex::EXTENSION_SUPPORT_AS_SERVER,
            kex::EXTENSION_OPENSSH_STRICT_KEX_AS_SERVER,
        ]),
        key: std::borrow::Cow::Borrowed(&[
            ssh_key::Algorithm::Ed25519,
            ssh_key::Algorithm::Ecdsa {
                curve: ssh_key::EcdsaCurve::NistP256,
            },
        ]),
        cipher: std::borrow::Cow::Owned(
            cfg.ciphers
                .iter()
                .filter_map(|c| match c.as_str() {
                    "chacha20-poly1305@openssh.com" => Some(cipher::CHACHA20_POLY1305),
                    "aes256-gcm@openssh.com" => Some(cipher::AES_256_GCM),
                    "aes128-gcm@openssh.com" => Some(cipher::AES_128_GCM),
                    _ => None,
                })
                .collect(),
        ),
        // Unused with AEAD ciphers; listed because the negotiation needs one.
        mac: std::borrow::Cow::Borrowed(&[mac::HMAC_SHA256_ETM, mac::HMAC_SHA512_ETM]),
        ..Preferred::default()
    };
    let methods = methods(cfg);
    russh::server::Config {
        server_id: russh::SshId::Standard("SSH-2.0-ward-gateway".into()),
        methods,
        auth_rejection_time: Duration::from_millis(300),
        auth_rejection_time_initial: Some(Duration::ZERO),
        keys: vec![key],
        certificates: certificate.into_iter().collect(),
        preferred,
        max_auth_attempts: cfg.max_auth_attempts,
        // Sessions are ended with a message after `idle_timeout` without
        // channel data ([`crate::sessions`]); this later bound closes
        // connections that never opened a channel.
        inactivity_timeout: Some(cfg.idle_timeout + IDLE_GRACE),
        nodelay: true,
        ..russh::server::Config::default()
    }
}

/// The authentication methods offered: public keys, and
/// keyboard-interactive for passwords unless `passwords = false`.
fn methods(cfg: &Config) -> MethodSet {
    let mut methods = MethodSet::empty();
    methods.push(MethodKind::PublicKey);
    if cfg.passwords {
        methods.push(MethodKind::KeyboardInteractive);
    }
    methods
}

/// Accepts connections forever; each gets its own task. `config` is the
/// current russh configuration (replaced when the host certificate is
/// renewed).
pub async fn serve(
    gw: Arc<Gateway>,
    listener: TcpListener,
    config: watch::Receiver<Arc<russh::server::Config>>,
) {
    let slots = Arc::new(Semaphore::new(gw.cfg.max_connections));
    loop {
        let (sock, peer) = match listener.accept().await {
            Ok(a) => a,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                log(format_args!("accept: {e}"));
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if gw.throttle.limited(peer.ip(), Instant::now()) {
            continue;
        }
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            continue;
        };
        let _ = sock.set_nodelay(true);
        let cfg = config.borrow().clone();
        let gw = gw.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let authed = Arc::new(AtomicBool::new(false));
            let stream = Deadline::new(sock, gw.cfg.handshake_timeout, authed.clone());
            let conn = Conn {
                gw,
                peer,
                authed,
                user: None,
                dest: None,
                open: Arc::new(AtomicUsize::new(0)),
                live: None,
                must_change: false,
                pending: None,
                envs: std::collections::HashMap::new(),
            };
            if let Ok(running) = russh::server::run_stream(cfg, stream, conn).await {
                let _ = running.await;
            }
        });
    }
}

/// A socket whose reads fail once `deadline` has passed unless the
/// connection has authenticated: the handshake bound.
pub struct Deadline {
    inner: TcpStream,
    sleep: Pin<Box<tokio::time::Sleep>>,
    authed: Arc<AtomicBool>,
}

impl Deadline {
    /// Wraps `inner` with a handshake deadline of `limit` from now.
    pub fn new(inner: TcpStream, limit: Duration, authed: Arc<AtomicBool>) -> Deadline {
        Deadline {
            inner,
            sleep: Box::pin(tokio::time::sleep(limit)),
            authed,
        }
    }
}

impl AsyncRead for Deadline {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if !self.authed.load(Ordering::Acquire) && self.sleep.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the handshake took too long",
            )));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Deadline {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Who authenticated on a connection.
#[derive(Clone, Debug)]
struct Authed {
    id: String,
    name: String,
    method: &'static str,
    credential: Credential,
    at: i64,
    /// When an MFA code was checked for this connection (Unix seconds,
    /// ward-ca's time): every decision of the connection and its live
    /// re-checks carry it ([`crate::mfa`]).
    mfa_at: Option<i64>,
}

/// One connection's handler.
pub struct Conn {
    gw: Arc<Gateway>,
    peer: SocketAddr,
    authed: Arc<AtomicBool>,
    user: Option<Authed>,
    /// Terminating mode: where the SSH user name says to go (or why it
    /// is malformed); `None`: ProxyJump only.
    dest: Option<Result<crate::terminate::Dest, String>>,
    /// Channels open now.
    open: Arc<AtomicUsize>,
    /// The session, once a channel was allowed ([`crate::sessions`]).
    live: Option<Arc<crate::sessions::Session>>,
    /// Environment requests seen per session channel (terminating mode;
    /// [`crate::bridge::env_forwarded`] decides which are forwarded).
    envs: std::collections::HashMap<russh::ChannelId, usize>,
    /// A keyboard-interactive round told the client its password must be
    /// changed, or why its MFA code was not accepted; the next answer is
    /// refused.
    must_change: bool,
    /// A first factor accepted whose decision needs an MFA code: the
    /// connection is authenticated only once the code is checked
    /// ([`crate::mfa`]).
    pending: Option<crate::mfa::Pending>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let Some(s) = self.live.take() {
            self.gw.sessions.close(&self.gw.decider, &s);
        }
    }
}

/// Decrements a channel count when a forwarding ends.
struct Open(Arc<AtomicUsize>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn denied(user: Option<String>, reason: String) -> Verdict {
    Verdict {
        outcome: Outcome::Denied,
        user,
        reason: Some(reason),
    }
}

/// Longest SSH user name considered.
const MAX_USER: usize = 128;

impl Conn {
    fn source(&self) -> IpAddr {
        self.peer.ip().to_canonical()
    }

    fn facts<'a>(&self, action: &'a str, method: &'a str, now: i64) -> Facts<'a> {
        Facts {
            action,
            principal: "",
            service: SERVICE,
            auth_method: method,
            source_ip: Some(self.source()),
            secure_transport: true,
            now,
        }
    }

    /// Records the outcome of an authentication and turns it into russh's.
    /// A first factor whose decision needs an MFA code is held
    /// ([`Conn::pending`]) and the code asked for ([`crate::mfa`]).
    fn finish_auth(
        &mut self,
        ssh_user: &str,
        method: &'static str,
        outcome: Result<(String, String, Credential), Verdict>,
        now: i64,
    ) -> Auth {
        match outcome {
            Ok((id, name, credential)) if self.mfa_needed(ssh_user, &id, method, now) => {
                log(format_args!(
                    "{name} from {}: the decision needs an MFA code; asking for one",
                    self.source()
                ));
                self.pending = Some(crate::mfa::Pending {
                    ssh_user: ssh_user.to_owned(),
                    id,
                    name,
                    method,
                    credential,
                });
                if method == PASSWORD {
                    // Still inside keyboard-interactive: the next prompt.
                    crate::mfa::prompt()
                } else {
                    crate::mfa::ask()
                }
            }
            Ok((id, name, credential)) => {
                self.accept(ssh_user, id, name, method, credential, now, None)
            }
            Err(v) => {
                let facts = self.facts(AUTHENTICATE, method, now);
                self.gw.decider.record(&facts, &v);
                self.gw.throttle.failed(self.source(), Instant::now());
                Auth::reject()
            }
        }
    }

    /// Accepts `name` (id `id`) as this connection's user, with the time
    /// of its MFA check if there was one: recorded, and the handshake
    /// deadline lifted.
    #[allow(clippy::too_many_arguments)] // the parts of one authentication
    fn accept(
        &mut self,
        ssh_user: &str,
        id: String,
        name: String,
        method: &'static str,
        credential: Credential,
        now: i64,
        mfa_at: Option<i64>,
    ) -> Auth {
        let facts = self.facts(AUTHENTICATE, method, now);
        self.gw.decider.record(
            &facts,
            &Verdict {
                outcome: Outcome::Allowed,
                user: Some(name.clone()),
                reason: mfa_at.map(|_| crate::mfa::VERIFIED.to_owned()),
            },
        );
        self.pending = None;
        self.user = Some(Authed {
            id,
            name,
            method,
            credential,
            at: now,
            mfa_at,
        });
        self.dest = crate::terminate::parse_user(ssh_user);
        self.authed.store(true, Ordering::Release);
        Auth::Accept
    }

    /// Whether the first factor of ward user `id` needs an MFA code
    /// before the connection is accepted ([`crate::mfa::needed`]).
    fn mfa_needed(&self, ssh_user: &str, id: &str, method: &'static str, now: i64) -> bool {
        let Ok(cur) = self.gw.decider.usable(now) else {
            return false;
        };
        let Some(user) = cur.snapshot.users.iter().find(|u| u.id == id) else {
            return false;
        };
        let dest = match crate::terminate::parse_user(ssh_user) {
            Some(Ok(d)) => Some(d),
            Some(Err(_)) => return false,
            None => None,
        };
        let facts = self.facts(CONNECT, method, now);
        crate::mfa::needed(&self.gw.decider, &cur, user, &facts, dest.as_ref())
    }

    fn key_auth(
        &self,
        user: &str,
        key: &ssh_key::PublicKey,
        now: i64,
    ) -> Result<(String, String, Credential), Verdict> {
        let cur = self.gw.decider.usable(now).map_err(|r| denied(None, r))?;
        let fp = key.fingerprint(ssh_key::HashAlg::Sha256).to_string();
        let (u, _) = self.gw.decider.key_user(&cur, &fp)?;
        let (id, name) = live(u, user)?;
        Ok((id, name, Credential::Key(fp)))
    }

    fn cert_auth(
        &self,
        user: &str,
        cert: &ssh_key::Certificate,
        now: i64,
    ) -> Result<(String, String, Credential), Verdict> {
        let cur = self.gw.decider.usable(now).map_err(|r| denied(None, r))?;
        // russh's ssh-key and ward-pki's are different versions: cross by
        // the OpenSSH encoding.
        let text = cert
            .to_openssh()
            .map_err(|e| denied(None, format!("the certificate does not encode: {e}")))?;
        let cert = ::ssh_key::Certificate::from_openssh(&text)
            .map_err(|e| denied(None, format!("the certificate does not parse: {e}")))?;
        if ward_agent::decide::role_key_id(cert.key_id()).is_some() {
            return self.role_auth(user, cert, &cur, now);
        }
        let (u, _) = self
            .gw
            .decider
            .certificate_user(&cur, &cert, Some(self.source()), now)?;
        let (id, name) = live(u, user)?;
        Ok((id, name, Credential::Certificate(Box::new(cert))))
    }

    /// A role session's certificate (key id `AROA…:SESSION:ISSUED`),
    /// checked for the account the SSH user name names (`ACCOUNT`, or
    /// `ACCOUNT%TARGET`) with ward-agent's code: the connection's id is
    /// `AROA…:SESSION`, its name `ROLE/SESSION`; its decisions use the
    /// role's policies ([`crate::sessions::decide`]).
    fn role_auth(
        &self,
        user: &str,
        cert: ::ssh_key::Certificate,
        cur: &Arc<ward_agent::shared::Current>,
        now: i64,
    ) -> Result<(String, String, Credential), Verdict> {
        let principal = match crate::terminate::parse_user(user) {
            Some(Ok(d)) => d.account,
            Some(Err(why)) => return Err(denied(None, why)),
            None => user.to_owned(),
        };
        let (role, session, issued_at) =
            self.gw
                .decider
                .role_certificate(cur, &cert, &principal, Some(self.source()), now)?;
        let id = format!("{}:{session}", role.id);
        let name = format!("{}/{session}", role.name);
        let credential = Credential::Role(Box::new(crate::sessions::RoleCertificate {
            cert,
            principal,
            role_id: role.id.clone(),
            session,
            issued_at,
        }));
        Ok((id, name, credential))
    }

    /// A password user `user` ward-ca accepted: the live ward user.
    fn password_user(&self, user: &str, now: i64) -> Result<(String, String, Credential), Verdict> {
        let cur = self.gw.decider.usable(now).map_err(|r| denied(None, r))?;
        let Some(u) = cur.snapshot.users.iter().find(|u| u.name == user) else {
            return Err(denied(None, format!("{user:?} is not a ward user")));
        };
        let (id, name) = live(u, user)?;
        Ok((id, name, Credential::Password))
    }

    /// This connection's session, opened on its first allowed channel
    /// (refused when the user has `max_sessions_per_user` open), with
    /// `reached` added.
    fn session(
        &mut self,
        reached: Reached,
        handle: russh::server::Handle,
    ) -> Result<Arc<crate::sessions::Session>, String> {
        if let Some(s) = &self.live {
            if let Some(why) = s.end_reason() {
                return Err(format!("ward: session ended: {why}"));
            }
            s.reached(reached);
            return Ok(s.clone());
        }
        let Some(a) = &self.user else {
            return Err("not authenticated".into());
        };
        let who = Who {
            user_id: a.id.clone(),
            user_name: a.name.clone(),
            method: a.method,
            credential: a.credential.clone(),
            authed_at: a.at,
            mfa_at: a.mfa_at,
        };
        let s = self
            .gw
            .sessions
            .open(&self.gw.decider, who, self.source(), handle, reached)?;
        self.live = Some(s.clone());
        Ok(s)
    }

    /// Decides a ProxyJump to `requested:port`: the target host's address,
    /// port and name, or why not (the text the client sees).
    fn decide_connect(
        &self,
        requested: &str,
        port: u32,
        now: i64,
    ) -> Result<(String, u16, String), String> {
        let Some(a) = &self.user else {
            return Err("not authenticated".into());
        };
        let facts = self.facts(CONNECT, a.method, now);
        let refuse = |reason: String| {
            let reason = format!("ward-gateway: {requested}: {reason}");
            self.gw
                .decider
                .record(&facts, &denied(Some(a.name.clone()), reason.clone()));
            Err(reason)
        };
        let cur = match self.gw.decider.usable(now) {
            Ok(c) => c,
            Err(r) => return refuse(r),
        };
        let Some(registry) = cur.snapshot.registry.as_deref() else {
            return refuse(
                "this gateway's snapshot has no host registry (enrol it with a --gateway join token)"
                    .into(),
            );
        };
        let host = match target::find(registry, requested, port) {
            Ok(h) => h,
            Err(r) => return refuse(r),
        };
        let t = Target {
            name: &host.name,
            tags: &host.tags,
        };
        let v = crate::sessions::decide(
            &self.gw.decider,
            &cur,
            &a.id,
            &a.name,
            &a.credential,
            &facts,
            &t,
            a.mfa_at,
        );
        self.gw.decider.record_on(&facts, &v, Some(&host.name));
        match (v.outcome, &host.address) {
            (Outcome::Allowed, Some(addr)) => Ok((addr.clone(), host.port, host.name.clone())),
            (Outcome::Allowed, None) => Err(format!("ward-gateway: {} has no address", host.name)),
            _ => Err(format!(
                "ward-gateway: denied: target {}: {}",
                host.name,
                v.reason.unwrap_or_default()
            )),
        }
    }
}

impl Conn {
    /// A keyboard-interactive round while a first factor waits for its
    /// MFA code ([`crate::mfa`]): the prompt, then the code checked by
    /// ward-ca, then (terminating mode) the decision again with the time
    /// of the check. A refusal is shown as instructions and the answer
    /// to them refused; the first factor stays held, so the client may
    /// try another code (ward-ca throttles them).
    async fn mfa_round(
        &mut self,
        user: &str,
        response: Option<russh::server::Response<'_>>,
    ) -> Auth {
        let Some(p) = self.pending.clone() else {
            return Auth::reject();
        };
        if p.ssh_user != user {
            // Another name: the held first factor was for someone else.
            self.pending = None;
            return Auth::reject();
        }
        if self.gw.throttle.limited(self.source(), Instant::now())
            || std::mem::take(&mut self.must_change)
        {
            return Auth::reject();
        }
        let Some(mut response) = response else {
            return crate::mfa::prompt();
        };
        let (Some(answer), None) = (response.next(), response.next()) else {
            return Auth::reject();
        };
        let t = now();
        let code = String::from_utf8_lossy(&answer).trim().to_owned();
        let checked = crate::mfa::check(self.gw.mfa.clone(), &p.name, &code, self.source()).await;
        let outcome = checked.and_then(|at| {
            let cur = self.gw.decider.usable(t)?;
            let u = cur
                .snapshot
                .users
                .iter()
                .find(|u| u.id == p.id)
                .ok_or_else(|| format!("ward user {} no longer exists", p.name))?;
            let dest = match crate::terminate::parse_user(user) {
                Some(Ok(d)) => Some(d),
                _ => None,
            };
            let facts = self.facts(CONNECT, p.method, t);
            crate::mfa::after_code(&self.gw.decider, &cur, u, &facts, dest.as_ref(), at)?;
            Ok(at)
        });
        match outcome {
            Ok(at) => self.accept(user, p.id, p.name, p.method, p.credential, t, Some(at)),
            Err(why) => {
                log(format_args!(
                    "MFA code of {} from {} not accepted: {why}",
                    p.name,
                    self.source()
                ));
                let facts = self.facts(AUTHENTICATE, p.method, t);
                self.gw.decider.record(
                    &facts,
                    &denied(
                        Some(p.name.clone()),
                        format!("MFA code not accepted: {why}"),
                    ),
                );
                self.gw.throttle.failed(self.source(), Instant::now());
                self.must_change = true;
                crate::mfa::refused(&why)
            }
        }
    }
}

/// The user must be enabled and the SSH user name must be its name.
fn live(
    u: &ward_protocol::host::SnapshotUser,
    ssh_user: &str,
) -> Result<(String, String), Verdict> {
    if !u.enabled {
        return Err(denied(
            Some(u.name.clone()),
            format!("ward user {} is disabled", u.name),
        ));
    }
    // ACCOUNT%TARGET (terminating mode) names where to go, not who: the
    // key or certificate says who.
    if u.name != ssh_user && crate::terminate::parse_user(ssh_user).is_none() {
        return Err(denied(
            Some(u.name.clone()),
            format!(
                "the SSH user {:?} is not the ward user {} the key belongs to",
                ssh_user.escape_debug().to_string(),
                u.name
            ),
        ));
    }
    Ok((u.id.clone(), u.name.clone()))
}

/// Resolves `address:port` and connects to the first acceptable address;
/// any resolved address that is not acceptable refuses the whole target
/// (a name must not smuggle in a loopback or metadata address).
pub(crate) async fn connect(
    address: &str,
    port: u16,
    allow_loopback: bool,
    limit: Duration,
) -> Result<TcpStream, String> {
    let resolved: Vec<SocketAddr> = match address.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::time::timeout(limit, tokio::net::lookup_host((address, port)))
            .await
            .map_err(|_| format!("resolving {address} took too long"))?
            .map_err(|e| format!("resolving {address}: {e}"))?
            .collect(),
    };
    if resolved.is_empty() {
        return Err(format!("{address} does not resolve"));
    }
    for a in &resolved {
        target::address_allowed(a.ip(), allow_loopback)?;
    }
    let mut last = String::new();
    for a in resolved {
        match tokio::time::timeout(limit, TcpStream::connect(a)).await {
            Ok(Ok(s)) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Ok(Err(e)) => last = format!("connecting to {a}: {e}"),
            Err(_) => last = format!("connecting to {a} took too long"),
        }
    }
    Err(last)
}

impl russh::server::Handler for Conn {
    type Error = russh::Error;

    async fn auth_none(&mut self, _user: &str) -> Result<Auth, Self::Error> {
        Ok(Auth::Reject {
            proceed_with_methods: Some(methods(&self.gw.cfg)),
            partial_success: false,
        })
    }

    async fn auth_keyboard_interactive<'a>(
        &'a mut self,
        user: &str,
        _submethods: &str,
        response: Option<russh::server::Response<'a>>,
    ) -> Result<Auth, Self::Error> {
        if self.pending.is_some() {
            return Ok(self.mfa_round(user, response).await);
        }
        let Some(passwords) = self.gw.passwords.clone() else {
            return Ok(Auth::reject());
        };
        if user.len() > MAX_USER
            || self.gw.throttle.limited(self.source(), Instant::now())
            || std::mem::take(&mut self.must_change)
        {
            return Ok(Auth::reject());
        }
        let Some(mut response) = response else {
            return Ok(Auth::Partial {
                name: "".into(),
                instructions: "".into(),
                prompts: vec![(password::PROMPT.into(), false)].into(),
            });
        };
        let (Some(answer), None) = (response.next(), response.next()) else {
            return Ok(Auth::reject());
        };
        let t = now();
        let outcome = match String::from_utf8(answer.to_vec()) {
            Err(_) => Err(Refusal::Refused("the password is not UTF-8".into())),
            Ok(pw) => password::check(passwords, user, pw, self.source()).await,
        };
        match outcome {
            Ok(()) => {
                let r = self.password_user(user, t);
                Ok(self.finish_auth(user, PASSWORD, r, t))
            }
            Err(Refusal::MustChange) => {
                let _ = self.finish_auth(
                    user,
                    PASSWORD,
                    Err(denied(
                        Some(user.to_owned()),
                        "the password must be changed first".into(),
                    )),
                    t,
                );
                self.must_change = true;
                Ok(Auth::Partial {
                    name: "".into(),
                    instructions: password::MUST_CHANGE.into(),
                    prompts: Vec::new().into(),
                })
            }
            Err(Refusal::Refused(why)) => {
                log(format_args!(
                    "password of {:?} from {} refused: {why}",
                    user.escape_debug().to_string(),
                    self.source()
                ));
                let v = denied(Some(user.to_owned()), why);
                Ok(self.finish_auth(user, PASSWORD, Err(v), t))
            }
        }
    }

    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        _key: &ssh_key::PublicKey,
    ) -> Result<Auth, Self::Error> {
        if user.len() > MAX_USER || self.gw.throttle.limited(self.source(), Instant::now()) {
            return Ok(Auth::reject());
        }
        Ok(Auth::Accept)
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: &ssh_key::PublicKey,
    ) -> Result<Auth, Self::Error> {
        if self.gw.throttle.limited(self.source(), Instant::now()) {
            return Ok(Auth::reject());
        }
        let t = now();
        let r = self.key_auth(user, key, t);
        Ok(self.finish_auth(user, SSH_KEY, r, t))
    }

    async fn auth_openssh_certificate(
        &mut self,
        user: &str,
        certificate: &ssh_key::Certificate,
    ) -> Result<Auth, Self::Error> {
        if self.gw.throttle.limited(self.source(), Instant::now()) {
            return Ok(Auth::reject());
        }
        let t = now();
        let r = self.cert_auth(user, certificate, t);
        Ok(self.finish_auth(user, SSH_CERTIFICATE, r, t))
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        if let (Some(a), Some(dest)) = (&self.user, &self.dest) {
            let dest = match dest {
                Ok(_) if matches!(a.credential, Credential::Role(_)) => {
                    // ward-ca issues one-session certificates for ward
                    // users only (fail closed).
                    let reason = format!(
                        "ward-gateway: {}: terminating mode is for ward users; a role session's certificate reaches targets by ProxyJump (ssh -J ACCOUNT@GATEWAY ACCOUNT@TARGET)",
                        a.name
                    );
                    reply
                        .reject(ChannelOpenFailure::Other { code: 1, reason })
                        .await;
                    return Ok(());
                }
                Ok(d) => d.clone(),
                Err(reason) => {
                    let reason = reason.clone();
                    reply
                        .reject(ChannelOpenFailure::Other { code: 1, reason })
                        .await;
                    return Ok(());
                }
            };
            let max = self.gw.cfg.max_channels_per_connection;
            if self.open.fetch_add(1, Ordering::AcqRel) >= max {
                self.open.fetch_sub(1, Ordering::AcqRel);
                let reason =
                    format!("ward-gateway: at most {max} channels at once on one connection");
                reply
                    .reject(ChannelOpenFailure::Other { code: 4, reason })
                    .await;
                return Ok(());
            }
            let who = crate::terminate::Who {
                id: a.id.clone(),
                name: a.name.clone(),
                method: a.method,
                source: self.source(),
                mfa_at: a.mfa_at,
            };
            // The open-session registry knows terminating sessions too
            // (live cuts, limits, `ward session terminate`): by the
            // target's registered name, with the account whose
            // `host:Login` is re-checked. `serve` refuses a channel whose
            // target it resolves to another name (or that was not
            // registered here), so no terminating session goes untracked.
            let host = self.gw.decider.usable(now()).ok().and_then(|cur| {
                let registry = cur.snapshot.registry.as_deref()?;
                target::find(registry, &dest.target, 22)
                    .ok()
                    .map(|h| h.name.clone())
            });
            let mut registered = None;
            if let Some(host) = host {
                let reached = Reached {
                    host: host.clone(),
                    account: Some(dest.account.clone()),
                };
                match self.session(reached, session.handle()) {
                    Ok(s) => {
                        registered = Some(crate::terminate::Registered {
                            host,
                            connection: s.id.clone(),
                        })
                    }
                    Err(reason) => {
                        self.open.fetch_sub(1, Ordering::AcqRel);
                        reply
                            .reject(ChannelOpenFailure::Other { code: 1, reason })
                            .await;
                        return Ok(());
                    }
                }
            }
            tokio::spawn(crate::terminate::serve(
                self.gw.clone(),
                who,
                dest,
                registered,
                channel,
                reply,
                session.handle(),
                Open(self.open.clone()),
            ));
            return Ok(());
        }
        reply
            .reject(ChannelOpenFailure::Other {
                code: 1,
                reason: "ward-gateway: ProxyJump (ssh -J USER@GATEWAY TARGET) or terminating mode (ssh ACCOUNT%TARGET@GATEWAY)"
                    .into(),
            })
            .await;
        Ok(())
    }

    /// Answers an environment request — only if the client asked for an
    /// answer (russh checks) — with what the bridge does with it: success
    /// if forwarded, failure if over the limits. The answer is given here,
    /// while russh handles this very request, and not by the bridge: russh
    /// hands the bridge every request as wanting a reply, and a reply sent
    /// later would answer whatever request came next (OpenSSH sends `env`
    /// without want-reply, then `exec` with it).
    async fn env_request(
        &mut self,
        channel: russh::ChannelId,
        variable_name: &str,
        variable_value: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let n = self.envs.entry(channel).or_insert(0);
        *n += 1;
        if crate::bridge::env_forwarded(*n, variable_name, variable_value) {
            session.channel_success(channel)?;
        } else {
            session.channel_failure(channel)?;
        }
        Ok(())
    }

    /// X11 forwarding (`ssh -X`, `x11-req`): refused, answered here while
    /// russh handles this very request (see `env_request`; the bridge
    /// ignores it).
    async fn x11_request(
        &mut self,
        channel: russh::ChannelId,
        _single_connection: bool,
        _x11_auth_protocol: &str,
        _x11_auth_cookie: &str,
        _x11_screen_number: u32,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)?;
        Ok(())
    }

    /// Agent forwarding (`ssh -A`, `auth-agent-req@openssh.com`):
    /// refused on the channel, here (only if the client asked for an
    /// answer: OpenSSH does not). `true` keeps russh from sending a
    /// *global* request-failure of its own, which answers no request the
    /// client made (russh then replies only to a global request still
    /// waiting for one).
    async fn agent_request(
        &mut self,
        channel: russh::ChannelId,
        session: &mut Session,
    ) -> Result<bool, Self::Error> {
        session.channel_failure(channel)?;
        Ok(true)
    }

    /// A window change goes to the target without want-reply (the
    /// bridge); a client that asked for an answer gets it here.
    async fn window_change_request(
        &mut self,
        channel: russh::ChannelId,
        _col_width: u32,
        _row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)?;
        Ok(())
    }

    /// As `window_change_request`, for signals.
    async fn signal(
        &mut self,
        channel: russh::ChannelId,
        _signal: russh::Sig,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)?;
        Ok(())
    }

    async fn channel_open_direct_tcpip(
        &mut self,
        channel: Channel<Msg>,
        host_to_connect: &str,
        port_to_connect: u32,
        _originator_address: &str,
        _originator_port: u32,
        reply: ChannelOpenHandle,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let max = self.gw.cfg.max_channels_per_connection;
        if self.open.load(Ordering::Acquire) >= max {
            reply
                .reject(ChannelOpenFailure::Other {
                    code: 4,
                    reason: format!(
                        "ward-gateway: at most {max} channels at once on one connection"
                    ),
                })
                .await;
            return Ok(());
        }
        let (address, port, name) =
            match self.decide_connect(host_to_connect, port_to_connect, now()) {
                Ok(t) => t,
                Err(reason) => {
                    reply
                        .reject(ChannelOpenFailure::Other { code: 1, reason })
                        .await;
                    return Ok(());
                }
            };
        let reached = Reached {
            host: name,
            account: None,
        };
        let live = match self.session(reached, session.handle()) {
            Ok(s) => s,
            Err(reason) => {
                reply
                    .reject(ChannelOpenFailure::Other { code: 1, reason })
                    .await;
                return Ok(());
            }
        };
        self.open.fetch_add(1, Ordering::AcqRel);
        let open = Open(self.open.clone());
        let allow_loopback = self.gw.cfg.dangerous_allow_loopback_targets;
        let limit = self.gw.cfg.connect_timeout;
        let requested = host_to_connect.to_owned();
        tokio::spawn(async move {
            let _open = open;
            match connect(&address, port, allow_loopback, limit).await {
                Err(reason) => {
                    reply
                        .reject(ChannelOpenFailure::Other {
                            code: 2,
                            reason: format!("ward-gateway: {requested}: {reason}"),
                        })
                        .await
                }
                Ok(tcp) => {
                    reply.accept().await;
                    let mut stream = channel.into_stream();
                    let mut tcp = Counted::new(tcp, live.clone());
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut stream, &mut tcp) => {}
                        () = live.wait_ended() => {}
                    }
                }
            }
        });
        Ok(())
    }
}
