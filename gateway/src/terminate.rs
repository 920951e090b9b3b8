//! Terminating mode (issue #13): `ssh -p 2222 ACCOUNT%TARGET@GATEWAY`
//! (or `-o User=ACCOUNT%TARGET`). The ward user is whoever the key or
//! certificate authenticates; the SSH user name only names where to go.
//!
//! For each session channel: `host:Login` is decided on the synced
//! snapshot (`host:Principal` = ACCOUNT, `host:Service` = `gateway`, the
//! target's tags, the client's address, the time of the connection's MFA
//! check if it had one); an ephemeral Ed25519 key is made
//! and ward-ca issues a one-session certificate for it (ward-ca decides
//! `host:Login` again itself, pins the certificate to the gateway's address
//! and lives at most 5 minutes); the gateway connects to the target's
//! registered address under the same rules as ProxyJump ([`crate::target`]),
//! accepts the target only if it presents a host certificate signed by
//! ward's SSH host CA naming the target and not revoked — never trust on
//! first use —, logs in as ACCOUNT with the certificate, and bridges the
//! channel ([`crate::bridge`]), recording it ([`crate::recording`]). Start
//! and end are audited through the agent's spool. A refusal at any step
//! reaches the client as the channel-open failure message. When the
//! session ends its recording is queued for upload to ward-ca
//! ([`crate::upload`]).

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::RngCore;
use russh::client;
use russh::keys::ssh_key;
use russh::server::{ChannelOpenHandle, Msg};
use russh::{Channel, ChannelOpenFailure};
use ward_agent::client::CaClient;
use ward_agent::decide::{Facts, Target, Verdict, LOGIN};
use ward_agent::shared::{log, now};
use ward_protocol::agent::Outcome;
use ward_protocol::host::{
    GatewaySessionCertificate, GatewaySessionCertificateRequest, HostEvent,
    EVENT_GATEWAY_RECORDING_END, EVENT_GATEWAY_RECORDING_START,
};

use crate::recording::Recording;
use crate::server::{Gateway, SERVICE};
use crate::target;

/// The separator between account and target in the SSH user name.
pub const SEPARATOR: char = '%';
/// Longest account name (as ward-agent's `account_ok`).
const MAX_ACCOUNT: usize = 64;
/// Largest certificate answer read from ward-ca.
const MAX_ANSWER: u64 = 256 * 1024;

/// Where a terminating session goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dest {
    /// The account on the target.
    pub account: String,
    /// The target as the client named it (a registered name or alias).
    pub target: String,
}

/// Parses the SSH user name: `None` if it is not the terminating syntax
/// (no `%`), else the destination or why it is malformed.
pub fn parse_user(user: &str) -> Option<Result<Dest, String>> {
    if !user.contains(SEPARATOR) {
        return None;
    }
    let bad = |why: &str| {
        Some(Err(format!(
            "ward-gateway: {why} (use ACCOUNT%TARGET, e.g. deploy%web-01)"
        )))
    };
    let mut parts = user.split(SEPARATOR);
    let (Some(account), Some(target), None) = (parts.next(), parts.next(), parts.next()) else {
        return bad("the user name has more than one %");
    };
    if account.is_empty() {
        return bad("the account before % is empty");
    }
    if target.is_empty() {
        return bad("the target after % is empty");
    }
    let body = account.strip_suffix('$').unwrap_or(account);
    if body.is_empty()
        || account.len() > MAX_ACCOUNT
        || body.starts_with('-')
        || !body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
    {
        return bad("the account is not an account name");
    }
    if target.len() > target::MAX_TARGET
        || !target
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._[]:".contains(&b))
    {
        return bad("the target is not a host name");
    }
    Some(Ok(Dest {
        account: account.to_owned(),
        target: target.to_owned(),
    }))
}

/// What terminating mode needs besides the decider: ward-ca (for the
/// one-session certificate) and where recordings go.
pub struct Terminator {
    /// The gateway's mTLS client to ward-ca (again after each renewal).
    pub ca: Box<dyn Fn() -> Result<CaClient, String> + Send + Sync>,
    /// Where a finished recording goes to be uploaded to ward-ca
    /// ([`crate::upload`]); `None`: recordings stay on this gateway only.
    pub uploads: Option<Arc<crate::upload::Uploads>>,
}

/// The authenticated user a session is for.
#[derive(Clone, Debug)]
pub struct Who {
    /// Ward user id.
    pub id: String,
    /// Ward user name.
    pub name: String,
    /// `ward:AuthMethod`.
    pub method: &'static str,
    /// The client's address.
    pub source: IpAddr,
    /// When ward-ca checked the connection's MFA code, if it was asked
    /// for one ([`crate::mfa`]).
    pub mfa_at: Option<i64>,
}

/// A decided session: where to connect.
struct Decided {
    name: String,
    address: String,
    port: u16,
}

fn deny(user: &str, reason: String) -> Verdict {
    Verdict {
        outcome: Outcome::Denied,
        user: Some(user.to_owned()),
        reason: Some(reason),
    }
}

/// Decides `host:Login` for `who` as `dest.account` on `dest.target`
/// (recorded); the target's address, or the refusal the client sees.
fn decide(gw: &Gateway, who: &Who, dest: &Dest, t: i64) -> Result<Decided, String> {
    let facts = Facts {
        action: LOGIN,
        principal: &dest.account,
        service: SERVICE,
        auth_method: who.method,
        source_ip: Some(who.source),
        secure_transport: true,
        now: t,
    };
    let refuse = |reason: String| {
        let reason = format!("ward-gateway: {}: {reason}", dest.target);
        gw.decider.record(&facts, &deny(&who.name, reason.clone()));
        Err(reason)
    };
    let cur = match gw.decider.usable(t) {
        Ok(c) => c,
        Err(r) => return refuse(r),
    };
    let Some(registry) = cur.snapshot.registry.as_deref() else {
        return refuse("this gateway's snapshot has no host registry".into());
    };
    let host = match target::find(registry, &dest.target, 22) {
        Ok(h) => h,
        Err(r) => return refuse(r),
    };
    let Some(user) = cur.snapshot.users.iter().find(|u| u.id == who.id) else {
        return refuse(format!("ward user {} no longer exists", who.name));
    };
    let tgt = Target {
        name: &host.name,
        tags: &host.tags,
    };
    let mut v = gw
        .decider
        .decide_user_mfa(&cur, user, &facts, &tgt, who.mfa_at);
    v.reason = Some(match v.reason.take() {
        None => format!("target {} as {}", host.name, dest.account),
        Some(r) => format!("target {} as {}: {r}", host.name, dest.account),
    });
    gw.decider.record(&facts, &v);
    match (v.outcome, &host.address) {
        (Outcome::Allowed, Some(a)) => Ok(Decided {
            name: host.name.clone(),
            address: a.clone(),
            port: host.port,
        }),
        (Outcome::Allowed, None) => Err(format!("ward-gateway: {} has no address", host.name)),
        _ => Err(format!(
            "ward-gateway: denied: {}",
            v.reason.unwrap_or_default()
        )),
    }
}

/// A fresh Ed25519 key, never written anywhere.
fn ephemeral_key() -> Result<ssh_key::PrivateKey, String> {
    let mut seed = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut seed)
        .map_err(|e| format!("no randomness: {e}"))?;
    let kp = ssh_key::private::Ed25519Keypair::from_seed(&seed);
    Ok(ssh_key::PrivateKey::from(kp))
}

/// A random session id (also the recording's file name).
fn session_id() -> String {
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("gws-{hex}")
}

/// Checks the target's host key: only a host certificate signed by one of
/// ward's SSH host CA keys, valid now, naming the target, without critical
/// options, whose key is not revoked. Never a bare key (no trust on first
/// use).
struct TargetKey {
    name: String,
    cas: Vec<ssh_key::Fingerprint>,
    revoked: Vec<ssh_key::public::KeyData>,
    why: Arc<Mutex<Option<String>>>,
}

impl TargetKey {
    fn check(&self, key: &russh::keys::PublicKeyOrCertificate) -> Result<(), String> {
        let cert = match key {
            russh::keys::PublicKeyOrCertificate::PublicKey { .. } => {
                return Err(format!(
                    "{} presented a bare host key, not a host certificate from ward's SSH host CA (ward host certificate {} --public-key …)",
                    self.name, self.name
                ))
            }
            russh::keys::PublicKeyOrCertificate::Certificate(c) => c,
        };
        if cert.cert_type() != ssh_key::certificate::CertType::Host {
            return Err("the target presented a user certificate".into());
        }
        let t = u64::try_from(now()).unwrap_or(0);
        cert.validate_at(t, self.cas.iter()).map_err(|_| {
            format!(
                "{}'s host certificate is not signed by ward's SSH host CA or is not valid now",
                self.name
            )
        })?;
        if !cert.critical_options().is_empty() {
            return Err(format!(
                "{}'s host certificate has critical options",
                self.name
            ));
        }
        let wanted = self.name.to_ascii_lowercase();
        if !cert
            .valid_principals()
            .iter()
            .any(|p| p.to_ascii_lowercase() == wanted)
        {
            return Err(format!(
                "the host certificate presented is not for {}",
                self.name
            ));
        }
        if self.revoked.iter().any(|k| k == cert.public_key()) {
            return Err(format!("{}'s host certificate is revoked", self.name));
        }
        Ok(())
    }
}

impl client::Handler for TargetKey {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        match self.check(key) {
            Ok(()) => Ok(true),
            Err(why) => {
                if let Ok(mut w) = self.why.lock() {
                    *w = Some(why);
                }
                Ok(false)
            }
        }
    }
}

/// The russh client configuration for targets: modern algorithms, host
/// certificates asked for.
fn client_config(idle: Duration) -> client::Config {
    use russh::{kex, Preferred};
    let algs: &'static [ssh_key::Algorithm] = &[
        ssh_key::Algorithm::Ed25519,
        ssh_key::Algorithm::Ecdsa {
            curve: ssh_key::EcdsaCurve::NistP256,
        },
    ];
    client::Config {
        preferred: Preferred {
            kex: std::borrow::Cow::Borrowed(&[
                kex::CURVE25519,
                kex::CURVE25519_PRE_RFC_8731,
                kex::EXTENSION_SUPPORT_AS_CLIENT,
                kex::EXTENSION_OPENSSH_STRICT_KEX_AS_CLIENT,
            ]),
            key: std::borrow::Cow::Borrowed(algs),
            host_key_certificates: std::borrow::Cow::Borrowed(algs),
            cipher: std::borrow::Cow::Borrowed(target_ciphers()),
            ..Preferred::default()
        },
        inactivity_timeout: Some(idle),
        nodelay: true,
        window_size: 8 * 1024 * 1024,
        ..client::Config::default()
    }
}

/// The ciphers offered to targets, best first. The gateway re-encrypts
/// every byte of a terminating session, so this leg's cipher is on the
/// hot path twice (the gateway encrypts, the target's sshd decrypts):
/// with AES and carry-less multiply in hardware, AES-GCM is the faster
/// AEAD on both ends; without them, ChaCha20-Poly1305 is. Only AEAD
/// ciphers either way.
fn target_ciphers() -> &'static [russh::cipher::Name] {
    use russh::cipher;
    const AES_FIRST: &[cipher::Name] = &[
        cipher::AES_256_GCM,
        cipher::AES_128_GCM,
        cipher::CHACHA20_POLY1305,
    ];
    const CHACHA_FIRST: &[cipher::Name] = &[
        cipher::CHACHA20_POLY1305,
        cipher::AES_256_GCM,
        cipher::AES_128_GCM,
    ];
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("aes")
            && std::arch::is_x86_feature_detected!("pclmulqdq")
        {
            return AES_FIRST;
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        if std::arch::is_aarch64_feature_detected!("aes")
            && std::arch::is_aarch64_feature_detected!("pmull")
        {
            return AES_FIRST;
        }
    }
    CHACHA_FIRST
}

fn parse_keys(lines: &[String]) -> Vec<ssh_key::PublicKey> {
    lines
        .iter()
        .filter_map(|l| ssh_key::PublicKey::from_openssh(l.trim()).ok())
        .collect()
}

/// The one-session certificate from ward-ca (blocking call on the
/// blocking pool).
async fn certificate(
    gw: &Arc<Gateway>,
    who: &Who,
    dest: &Dest,
    target_name: &str,
    key: &ssh_key::PrivateKey,
) -> Result<GatewaySessionCertificate, String> {
    let public = key
        .public_key()
        .to_openssh()
        .map_err(|e| format!("encoding the session key: {e}"))?;
    let body = GatewaySessionCertificateRequest {
        user_id: who.id.clone(),
        target: target_name.to_owned(),
        account: dest.account.clone(),
        public_key: public,
        source_ip: who.source.to_string(),
        auth_method: who.method.to_owned(),
        mfa_authenticated_at: who.mfa_at,
    };
    let gw = gw.clone();
    tokio::task::spawn_blocking(move || {
        let c = (gw.terminator.ca)()?;
        c.post::<_, GatewaySessionCertificate>(
            "/v1/host/gateway/session-certificate",
            &body,
            MAX_ANSWER,
        )
        .map_err(|e| match e {
            ward_agent::client::CallError::Status { message, .. } => message,
            other => format!("ward-ca: {other}"),
        })
    })
    .await
    .map_err(|e| format!("certificate task: {e}"))?
}

/// Where the open-session registry ([`crate::sessions`]) tracks a
/// terminating channel.
#[derive(Clone, Debug)]
pub struct Registered {
    /// The target's registered name.
    pub host: String,
    /// The connection's session id (`gs-…`, what `ward session terminate`
    /// takes and `ward-gateway:SessionStart`/`SessionEnd` name).
    pub connection: String,
}

/// A session's bookkeeping for its audit events.
pub struct SessionInfo {
    /// Session (and recording) id.
    pub id: String,
    /// The connection's session id (`gs-…`).
    pub connection: String,
    /// Who.
    pub who: Who,
    /// The target's registered name.
    pub target: String,
    /// The account.
    pub account: String,
    /// Unix seconds.
    pub started: i64,
}

fn audit(gw: &Gateway, info: &SessionInfo, action: &str, suffix: &str, reason: String) {
    gw.decider.shared().audit.record(HostEvent {
        id: format!("{}-{suffix}", info.id),
        time: now(),
        action: action.to_owned(),
        user: Some(info.who.name.clone()),
        principal: Some(info.account.clone()),
        service: Some(SERVICE.to_owned()),
        source_ip: Some(info.who.source.to_string()),
        auth_method: Some(info.who.method.to_owned()),
        allowed: true,
        reason: Some(reason),
        target: Some(info.target.clone()),
    });
}

/// A target session ready to bridge.
struct Ready {
    name: String,
    serial: String,
    handle: client::Handle<TargetKey>,
    channel: Channel<client::Msg>,
}

/// Decides, gets the certificate, connects, verifies and logs in: the
/// target's open session channel, or the refusal the client sees.
async fn prepare(gw: &Arc<Gateway>, who: &Who, dest: &Dest) -> Result<Ready, String> {
    let decided = decide(gw, who, dest, now())?;
    let name = decided.name.clone();
    let fail = |e: String| format!("ward-gateway: {name}: {e}");
    let key = ephemeral_key().map_err(|e| format!("ward-gateway: {e}"))?;
    let issued = certificate(gw, who, dest, &decided.name, &key)
        .await
        .map_err(|e| fail(format!("ward-ca refused: {e}")))?;
    let cert = ssh_key::Certificate::from_openssh(issued.certificate.trim())
        .map_err(|e| fail(format!("the certificate does not parse: {e}")))?;
    let why = Arc::new(Mutex::new(None));
    let checker = TargetKey {
        name: decided.name.clone(),
        cas: parse_keys(&issued.host_ca_keys)
            .iter()
            .map(|k| k.fingerprint(ssh_key::HashAlg::Sha256))
            .collect(),
        revoked: parse_keys(&issued.revoked_host_keys)
            .into_iter()
            .map(|k| k.key_data().clone())
            .collect(),
        why: why.clone(),
    };
    let tcp = crate::server::connect(
        &decided.address,
        decided.port,
        gw.cfg.dangerous_allow_loopback_targets,
        gw.cfg.connect_timeout,
    )
    .await
    .map_err(fail)?;
    let config = Arc::new(client_config(gw.cfg.idle_timeout));
    let mut handle = match tokio::time::timeout(
        gw.cfg.connect_timeout,
        client::connect_stream(config, tcp, checker),
    )
    .await
    {
        Ok(Ok(h)) => h,
        Ok(Err(e)) => {
            let w = why.lock().ok().and_then(|w| w.clone());
            return Err(fail(w.unwrap_or_else(|| e.to_string())));
        }
        Err(_) => return Err(fail("the SSH handshake took too long".into())),
    };
    let auth = handle
        .authenticate_openssh_cert(dest.account.clone(), Arc::new(key), cert)
        .await
        .map_err(|e| fail(e.to_string()))?;
    if !auth.success() {
        return Err(fail(format!(
            "the target refused the one-session certificate for {}",
            dest.account
        )));
    }
    let channel = handle
        .channel_open_session()
        .await
        .map_err(|e| fail(format!("opening a session: {e}")))?;
    Ok(Ready {
        name: decided.name,
        serial: issued.serial,
        handle,
        channel,
    })
}

/// Serves one session channel in terminating mode: decides, connects,
/// bridges; `reply` is accepted only once the target's channel is open
/// and the recording file exists. `guard` is held for the session's life
/// (the connection's channel count). `registered` is where the
/// open-session registry tracks this session: the target's name (a target
/// that now resolves to another name is refused) and the connection's
/// `gs-` id, which the recording's audit events carry so recordings and
/// `ward session terminate` ids link up.
#[allow(clippy::too_many_arguments)] // russh's channel, reply, handle and the guard are separate values.
pub async fn serve<G: Send + 'static>(
    gw: Arc<Gateway>,
    who: Who,
    dest: Dest,
    registered: Option<Registered>,
    channel: Channel<Msg>,
    reply: ChannelOpenHandle,
    handle: russh::server::Handle,
    guard: G,
) {
    let _guard = guard;
    let ready = match prepare(&gw, &who, &dest).await {
        Ok(r) => match registered {
            Some(reg) if reg.host == r.name => (r, reg.connection),
            _ => {
                // The registry changed between channel open and here: the
                // session the registry tracks is not this target's (fail
                // closed rather than run a session nothing re-checks).
                let reason =
                    "ward-gateway: the host registry changed while the channel opened; try again"
                        .to_owned();
                reply
                    .reject(ChannelOpenFailure::Other { code: 1, reason })
                    .await;
                return;
            }
        },
        Err(reason) => {
            reply
                .reject(ChannelOpenFailure::Other { code: 1, reason })
                .await;
            return;
        }
    };
    let (ready, connection) = ready;
    let info = SessionInfo {
        id: session_id(),
        connection,
        who: who.clone(),
        target: ready.name.clone(),
        account: dest.account.clone(),
        started: now(),
    };
    let recording = crate::recording::prepare_dir(&gw.cfg.recordings_dir).and_then(|()| {
        Recording::create(
            &gw.cfg.recordings_dir,
            &info.id,
            info.started,
            gw.cfg.recording_max_bytes,
            gw.cfg.record_input,
        )
    });
    let recording = match recording {
        Ok(r) => r,
        Err(e) => {
            // Fail closed: a session that must be recorded is not served
            // unrecorded.
            log(format_args!("recording {}: {e}", info.id));
            reply
                .reject(ChannelOpenFailure::Other {
                    code: 1,
                    reason: "ward-gateway: the session cannot be recorded".into(),
                })
                .await;
            return;
        }
    };
    reply.accept().await;
    audit(
        &gw,
        &info,
        EVENT_GATEWAY_RECORDING_START,
        "start",
        format!(
            "session {} connection {} target {} as {} serial {} recording {}",
            info.id, info.connection, info.target, info.account, ready.serial, info.id
        ),
    );
    let counts = crate::bridge::run(channel, ready.channel, handle, recording).await;
    let _ = ready
        .handle
        .disconnect(russh::Disconnect::ByApplication, "", "")
        .await;
    audit(
        &gw,
        &info,
        EVENT_GATEWAY_RECORDING_END,
        "end",
        format!(
            "session {} connection {} target {} as {} start {} end {} bytesIn {} bytesOut {} recording {}",
            info.id,
            info.connection,
            info.target,
            info.account,
            info.started,
            now(),
            counts.input,
            counts.output,
            info.id
        ),
    );
    // The file is complete (the bridge closed it): queue its upload. A
    // queue push — the session never waits for ward-ca.
    if let Some(u) = &gw.terminator.uploads {
        u.finished(&info.id);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn user_syntax() {
        assert_eq!(parse_user("alice"), None);
        assert_eq!(
            parse_user("deploy%web-01"),
            Some(Ok(Dest {
                account: "deploy".into(),
                target: "web-01".into()
            }))
        );
        for (u, why) in [
            ("%web-01", "account before % is empty"),
            ("deploy%", "target after % is empty"),
            ("a%b%c", "more than one %"),
            ("-rf%web-01", "not an account name"),
            ("de ploy%web-01", "not an account name"),
            ("deploy%web 01", "not a host name"),
        ] {
            match parse_user(u) {
                Some(Err(e)) => assert!(e.contains(why), "{u}: {e}"),
                other => panic!("{u}: {other:?}"),
            }
        }
        let long = format!("deploy%{}", "a".repeat(300));
        assert!(matches!(parse_user(&long), Some(Err(_))));
        let long = format!("{}%web", "a".repeat(65));
        assert!(matches!(parse_user(&long), Some(Err(_))));
    }
}
