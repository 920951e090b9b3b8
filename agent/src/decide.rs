//! Login decisions on the host, from the synced snapshot, with ward-authz —
//! the same assembly, context and ARNs ward-ca uses (issue #11 item 1):
//!
//! - [`user_documents`] turns a snapshot user into
//!   [`ward_authz::PrincipalPolicies`] (own inline and managed texts, each
//!   group's, the boundary), compiled with the kinds ward-ca compiles them
//!   as ([`PrincipalPolicies::compile`]);
//! - [`request`] builds the `ward_policy::Request` with
//!   [`ward_authz::context`]: the host keys (`host:Principal`,
//!   `host:Service`, `host:Name`, `ward:ResourceTag/*` of the host), the
//!   principal's tags, `ward:AuthMethod`, `ward:SourceIp` only when known;
//!   principal and resource ARNs from [`ward_authz::arn`];
//! - [`Decider`] caches compiled sets per (snapshot, user id), refuses to
//!   decide from no snapshot or a stale one, and serves the three socket
//!   decisions ([`Decider::authorize`], [`Decider::ssh_principals`],
//!   [`Decider::ssh_keys`]), recording each as a `HostEvent`.
//!
//! MFA (issue #14 item 3): a denial that an MFA check made now would turn
//! into an allow is [`Outcome::MfaRequired`] ([`Decider::decide_user_mfa`],
//! used by every decision here and by ward-gateway);
//! [`Decider::verify_mfa`] checks a code through ward-ca, decides again
//! with the time of the check and issues a short-lived ticket that
//! `authorize` honours later in the same login (pam_ward asks for the
//! code in `authenticate` and decides in `acct_mgmt`). A ticket is single
//! use and bound to the login it was issued for: the same user, local
//! account, PAM service and source address; `authorize` consumes it when
//! it honours it. Tickets are held by their SHA-256, so a map lookup
//! never compares the secret itself.
//!
//! Fail closed: no snapshot, a snapshot older than the staleness bound, a
//! disabled user, a group or managed policy the snapshot does not hold, a
//! document that does not compile — each is a denial with its reason.
//! The time is an input (`now`), never read here.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use ward_authz::{context, Holder, PrincipalPolicies, RequestFacts};
use ward_pki::krl::Krl;
use ward_pki::sshverify::{self, Kind, VerifyRequest};
use ward_policy::{ContextValue, Policy, Principal, Request};
use ward_protocol::agent::{
    AuthorizeRequest, MfaAnswer, MfaOutcome, Outcome, Response, SessionRequest, SshKeysRequest,
    SshPrincipalsRequest, VerifyMfaRequest,
};
use ward_protocol::api::Tag;
use ward_protocol::host::{
    HostEvent, Snapshot, SnapshotRole, SnapshotUser, EVENT_CLOSE_SESSION, EVENT_OPEN_SESSION,
};

use crate::shared::{Current, Shared};

/// `host:Login`.
pub const LOGIN: &str = "host:Login";
/// `host:Sudo`.
pub const SUDO: &str = "host:Sudo";
/// Actions a caller of [`Decider::authorize`] may ask.
pub const HOST_ACTIONS: &[&str] = &[LOGIN, SUDO];
/// The reason of an allowed sudo account pre-check that did not decide
/// (the target user is decided when sudo opens the session).
pub const SUDO_PENDING: &str =
    "account stage: host:Sudo for the target user is decided when sudo opens the session";
/// `ward:AuthMethod` of a certificate login.
pub const SSH_CERTIFICATE: &str = "ssh-certificate";
/// `ward:AuthMethod` of a registered-key login.
pub const SSH_KEY: &str = "ssh-key";
/// The reason of an [`Outcome::MfaRequired`] verdict.
pub const MFA_REQUIRED: &str = "ward policy requires an MFA code for this login";
/// How long a ticket of [`Decider::verify_mfa`] is honoured (seconds).
pub const MFA_TICKET_SECONDS: i64 = 300;
/// Most tickets held at once (the oldest give way).
const MAX_TICKETS: usize = 4096;

/// The request-side inputs of a host decision.
#[derive(Clone, Copy, Debug)]
pub struct Facts<'a> {
    /// `host:Login` or `host:Sudo`.
    pub action: &'a str,
    /// `host:Principal`: the local account.
    pub principal: &'a str,
    /// `host:Service`: `sshd`, the PAM service.
    pub service: &'a str,
    /// `ward:AuthMethod`.
    pub auth_method: &'a str,
    /// `ward:SourceIp`; `None` leaves the key absent.
    pub source_ip: Option<IpAddr>,
    /// `ward:SecureTransport` (true for SSH).
    pub secure_transport: bool,
    /// Seconds since the epoch.
    pub now: i64,
}

pub use ward_authz::snapshot::{user_documents, AssemblyError};

/// A user's compiled policies, tags and principal.
#[derive(Debug)]
pub struct Compiled {
    /// The compiled documents.
    pub policies: PrincipalPolicies<Policy>,
    /// `ward:PrincipalTag/*`.
    pub tags: Vec<(String, String)>,
    /// `arn:ward:iam::ACCT:user{path}{name}` with the user id (or a role
    /// session's `arn:ward:sts::ACCT:assumed-role/ROLE/SESSION`).
    pub principal: Principal,
    /// The keys of a temporary credential (`ward:TokenIssueTime`,
    /// `ward:PrincipalArn`) for a role session; empty for a user.
    pub credential: context::Entries,
}

/// Assembles and compiles `user`'s policies.
pub fn compile(snap: &Snapshot, user: &SnapshotUser) -> Result<Compiled, AssemblyError> {
    let policies = user_documents(snap, user)?
        .compile()
        .map_err(|e| AssemblyError(format!("a policy of {} does not compile: {e}", user.name)))?;
    let arn = ward_authz::arn::user(&snap.account, &user.path, &user.name);
    let principal = Principal::from_arn(&arn)
        .map_err(|e| AssemblyError(format!("bad principal {arn}: {e:?}")))?
        .with_unique_id(user.id.clone());
    Ok(Compiled {
        policies,
        tags: user
            .tags
            .iter()
            .map(|t| (t.key.clone(), t.value.clone()))
            .collect(),
        principal,
        credential: Vec::new(),
    })
}

/// A role session's SSH certificate key id, `AROA…:SESSION:ISSUED` (as
/// ward-ca writes it): the role id, the session name and the session's
/// issue time (Unix seconds), or `None` if `s` is not one.
pub fn role_key_id(s: &str) -> Option<(&str, &str, i64)> {
    let mut parts = s.split(':');
    let (role, session, issued) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some()
        || role.len() <= 4
        || role.len() > 128
        || !role.starts_with("AROA")
        || !role
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        || !(2..=64).contains(&session.len())
        || !session
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b))
        || issued.is_empty()
        || issued.len() > 12
        || !issued.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    Some((role, session, issued.parse().ok()?))
}

/// The documents that bear on a role session: the role's own inline and
/// managed ones and its boundary, held by [`Holder::Role`] (nothing is
/// inherited). A managed policy the snapshot does not hold is an error.
pub fn role_documents<'s>(
    snap: &'s Snapshot,
    role: &'s SnapshotRole,
) -> Result<PrincipalPolicies<&'s str>, AssemblyError> {
    let policy = |arn: &str| -> Result<&'s str, AssemblyError> {
        snap.policies
            .iter()
            .find(|p| p.arn == arn)
            .map(|p| p.document.as_str())
            .ok_or_else(|| AssemblyError(format!("managed policy {arn} is not in the snapshot")))
    };
    let mut docs = PrincipalPolicies::<&str>::new(Holder::Role);
    docs.own.inline = role.inline_policies.iter().map(String::as_str).collect();
    docs.own.managed = role
        .managed_policies
        .iter()
        .map(|a| policy(a))
        .collect::<Result<_, _>>()?;
    docs.boundary = role
        .permissions_boundary
        .as_deref()
        .map(policy)
        .transpose()?;
    Ok(docs)
}

/// Assembles and compiles a role session's policies: the role's, with the
/// session as principal (`arn:ward:sts::ACCT:assumed-role/ROLE/SESSION`,
/// `ward:userid` `AROA…:SESSION`) and `ward:TokenIssueTime` = `issued_at`,
/// so that revoke-sessions' Deny reaches hosts, as ward-ca decides a
/// request of the session.
pub fn compile_role_session(
    snap: &Snapshot,
    role: &SnapshotRole,
    session: &str,
    issued_at: i64,
) -> Result<Compiled, AssemblyError> {
    let policies = role_documents(snap, role)?.compile().map_err(|e| {
        AssemblyError(format!(
            "a policy of role {} does not compile: {e}",
            role.name
        ))
    })?;
    let arn = ward_authz::arn::assumed_role(&snap.account, &role.name, session);
    let principal = Principal::from_arn(&arn)
        .map_err(|e| AssemblyError(format!("bad principal {arn}: {e:?}")))?
        .with_unique_id(format!("{}:{session}", role.id))
        .with_role_id(role.id.clone());
    let mut credential = context::temporary_credential(issued_at, None);
    credential.push((
        "ward:PrincipalArn".to_owned(),
        ContextValue::from(ward_authz::arn::role(&snap.account, &role.path, &role.name)),
    ));
    Ok(Compiled {
        policies,
        tags: role
            .tags
            .iter()
            .map(|t| (t.key.clone(), t.value.clone()))
            .collect(),
        principal,
        credential,
    })
}

/// The host a decision is about: this host, or (for a gateway's
/// `host:Connect`) a registered target host.
#[derive(Clone, Copy, Debug)]
pub struct Target<'a> {
    /// Host name (`host:Name`, and the resource ARN's name).
    pub name: &'a str,
    /// Its tags (`ward:ResourceTag/*`).
    pub tags: &'a [Tag],
}

impl<'a> Target<'a> {
    /// The host the snapshot is for.
    pub fn this_host(snap: &'a Snapshot) -> Target<'a> {
        Target {
            name: &snap.host.name,
            tags: &snap.host.tags,
        }
    }
}

/// The request for `facts` by `compiled`'s principal on this host.
pub fn request(snap: &Snapshot, compiled: &Compiled, facts: &Facts<'_>) -> Request {
    request_on(snap, compiled, facts, &Target::this_host(snap))
}

/// The request for `facts` by `compiled`'s principal on `target`. An empty
/// `facts.principal` leaves `host:Principal` absent (a gateway's
/// `host:Connect` cannot see the account: the inner session is end-to-end
/// encrypted).
pub fn request_on(
    snap: &Snapshot,
    compiled: &Compiled,
    facts: &Facts<'_>,
    target: &Target<'_>,
) -> Request {
    request_mfa(snap, compiled, facts, target, None)
}

/// [`request_on`] with the time of an MFA check (`Some`: the request has
/// `ward:MultiFactorAuthPresent` true and `ward:MultiFactorAuthAge`).
pub fn request_mfa(
    snap: &Snapshot,
    compiled: &Compiled,
    facts: &Facts<'_>,
    target: &Target<'_>,
    mfa_authenticated_at: Option<i64>,
) -> Request {
    let rf = RequestFacts {
        source_ip: facts.source_ip,
        now: facts.now,
        secure_transport: facts.secure_transport,
        auth_method: facts.auth_method,
        mfa_authenticated_at,
        principal_tags: &compiled.tags,
    };
    let mut extra: context::Entries = compiled.credential.clone();
    if !facts.principal.is_empty() {
        extra.push(("host:Principal".into(), ContextValue::from(facts.principal)));
    }
    extra.push(("host:Service".into(), ContextValue::from(facts.service)));
    extra.push((
        context::keys::HOST_NAME.into(),
        ContextValue::from(target.name),
    ));
    extra.extend(context::resource_tags(
        target
            .tags
            .iter()
            .map(|t| (t.key.as_str(), t.value.as_str())),
    ));
    let ctx = context(facts.action, &rf, &context::refs(&extra));
    Request::new(
        compiled.principal.clone(),
        facts.action,
        &ward_authz::arn::host(&snap.account, target.name),
        ctx,
    )
}

/// The host's ARN (built, not taken from the snapshot's text, so it is
/// spelled as ward-ca spells it).
pub fn host_arn(snap: &Snapshot) -> String {
    ward_authz::arn::host(&snap.account, &snap.host.name)
}

/// Decides `facts` for `compiled` with [`ward_authz::decide`].
pub fn evaluate(snap: &Snapshot, compiled: &Compiled, facts: &Facts<'_>) -> ward_authz::Decision {
    evaluate_on(snap, compiled, facts, &Target::this_host(snap))
}

/// Decides `facts` on `target` for `compiled` with [`ward_authz::decide`].
pub fn evaluate_on(
    snap: &Snapshot,
    compiled: &Compiled,
    facts: &Facts<'_>,
    target: &Target<'_>,
) -> ward_authz::Decision {
    evaluate_mfa(snap, compiled, facts, target, None)
}

/// [`evaluate_on`] with the time of an MFA check.
pub fn evaluate_mfa(
    snap: &Snapshot,
    compiled: &Compiled,
    facts: &Facts<'_>,
    target: &Target<'_>,
    mfa_authenticated_at: Option<i64>,
) -> ward_authz::Decision {
    let req = request_mfa(snap, compiled, facts, target, mfa_authenticated_at);
    let assembled = compiled.policies.assemble();
    ward_authz::decide(&assembled.set(), &req)
}

/// A decision and who it was for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// Allowed, denied, not a ward user.
    pub outcome: Outcome,
    /// The ward user's current name, if one was found.
    pub user: Option<String>,
    /// Why it was denied.
    pub reason: Option<String>,
}

impl Verdict {
    fn deny(user: Option<&SnapshotUser>, reason: impl Into<String>) -> Verdict {
        Verdict {
            outcome: Outcome::Denied,
            user: user.map(|u| u.name.clone()),
            reason: Some(reason.into()),
        }
    }
}

type CacheEntry = Result<Arc<Compiled>, AssemblyError>;

/// What a ticket of [`Decider::verify_mfa`] stands for, and the login it
/// is good for.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Ticket {
    /// The login the ticket was issued for.
    login: TicketLogin,
    /// The time of the MFA check (Unix seconds).
    at: i64,
    /// When the ticket stops being honoured.
    expires: i64,
}

/// The login a ticket is bound to: the ward user's id, the action, the
/// local account (`host:Principal`), the PAM service and the source
/// address (`None` when PAM_RHOST was not an address).
#[derive(Clone, Debug, PartialEq, Eq)]
struct TicketLogin {
    user_id: String,
    action: String,
    principal: String,
    service: String,
    source_ip: Option<IpAddr>,
}

impl TicketLogin {
    fn of(user_id: &str, facts: &Facts<'_>) -> TicketLogin {
        TicketLogin {
            user_id: user_id.to_owned(),
            action: facts.action.to_owned(),
            principal: facts.principal.to_owned(),
            service: facts.service.to_owned(),
            source_ip: facts.source_ip,
        }
    }
}

/// A ticket's map key: its SHA-256 (hex). The map never holds or compares
/// the ticket itself, so lookup timing says nothing about it.
fn ticket_key(ticket: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(ticket.as_bytes()))
}

/// Checks a ticket's shape: 32 lower-case hex digits.
pub fn ticket_ok(t: &str) -> bool {
    t.len() == 32 && t.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Checks an MFA code's shape: six ASCII digits.
pub fn code_ok(c: &str) -> bool {
    c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit())
}

struct Cache {
    /// The snapshot the entries were compiled from (compared by pointer,
    /// and held so the pointer cannot be reused).
    snapshot: Option<Arc<Current>>,
    users: HashMap<String, CacheEntry>,
    krl: Option<Arc<Krl>>,
}

/// Decides from the shared snapshot, caching compiled policy sets per
/// (snapshot, user id); the cache is dropped when the snapshot changes.
pub struct Decider {
    shared: Arc<Shared>,
    cache: Mutex<Cache>,
    tickets: Mutex<HashMap<String, Ticket>>,
    ids: AtomicU64,
    id_prefix: String,
}

/// Longest account name (`%u`, `host:Principal`) accepted.
pub const MAX_ACCOUNT: usize = 64;

/// Checks a local account name from sshd or PAM: 1–64 of
/// `[A-Za-z0-9_.-]` (a trailing `$` allowed), not starting with `-`.
pub fn account_ok(s: &str) -> bool {
    let body = s.strip_suffix('$').unwrap_or(s);
    !body.is_empty()
        && s.len() <= MAX_ACCOUNT
        && !body.starts_with('-')
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

/// Checks a ward user id (`AIDA` then upper-case letters and digits).
pub fn user_id_ok(s: &str) -> bool {
    s.len() > 4
        && s.len() <= 128
        && s.starts_with("AIDA")
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// Checks a `SHA256:` key fingerprint as sshd prints it.
pub fn fingerprint_ok(s: &str) -> bool {
    s.strip_prefix("SHA256:").is_some_and(|b| {
        !b.is_empty()
            && b.len() <= 64
            && b.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'+' || c == b'/' || c == b'=')
    })
}

/// A client address as given on the socket (`None`: unknown). A present
/// but unparsable address is an error, not "unknown".
pub fn parse_source(s: Option<&str>) -> Result<Option<IpAddr>, String> {
    match s {
        None => Ok(None),
        Some(s) => s
            .parse::<IpAddr>()
            .map(|ip| Some(ip.to_canonical()))
            .map_err(|_| {
                format!(
                    "sourceIp {:?} is not an address",
                    s.escape_debug().to_string()
                )
            }),
    }
}

fn bad(message: impl Into<String>) -> Response {
    Response::Error {
        code: "malformed".into(),
        message: message.into(),
    }
}

impl Decider {
    /// A decider over `shared`'s snapshot.
    pub fn new(shared: Arc<Shared>) -> Decider {
        let mut r = [0u8; 8];
        rand::Rng::fill(&mut rand::thread_rng(), &mut r);
        Decider {
            shared,
            cache: Mutex::new(Cache {
                snapshot: None,
                users: HashMap::new(),
                krl: None,
            }),
            tickets: Mutex::new(HashMap::new()),
            ids: AtomicU64::new(0),
            id_prefix: hex::encode(r),
        }
    }

    /// The shared state.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// The snapshot decisions may use at `now`, or why there is none.
    pub fn usable(&self, now: i64) -> Result<Arc<Current>, String> {
        let cur = self
            .shared
            .snapshot()
            .ok_or_else(|| "no snapshot yet: this host has not synced with ward-ca".to_owned())?;
        let age = now.saturating_sub(cur.received_at);
        if age > self.shared.max_staleness {
            return Err(format!(
                "the snapshot is {age} s old, beyond the staleness bound of {} s",
                self.shared.max_staleness
            ));
        }
        Ok(cur)
    }

    fn with_cache<T>(&self, cur: &Arc<Current>, f: impl FnOnce(&mut Cache) -> T) -> T {
        let mut c = match self.cache.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let same = c.snapshot.as_ref().is_some_and(|s| {
            Arc::ptr_eq(s, cur) && s.snapshot.generation == cur.snapshot.generation
        });
        if !same {
            c.snapshot = Some(cur.clone());
            c.users.clear();
            c.krl = None;
        }
        f(&mut c)
    }

    /// `user`'s compiled policies from `cur`, through the cache.
    pub fn compiled(&self, cur: &Arc<Current>, user: &SnapshotUser) -> CacheEntry {
        self.with_cache(cur, |c| {
            c.users
                .entry(user.id.clone())
                .or_insert_with(|| compile(&cur.snapshot, user).map(Arc::new))
                .clone()
        })
    }

    fn krl(&self, cur: &Arc<Current>) -> Result<Arc<Krl>, String> {
        self.with_cache(cur, |c| {
            if let Some(k) = &c.krl {
                return Ok(k.clone());
            }
            let k = Arc::new(build_krl(&cur.snapshot)?);
            c.krl = Some(k.clone());
            Ok(k)
        })
    }

    /// Decides `facts` for `user` from `cur` on this host (no audit).
    pub fn decide_user(
        &self,
        cur: &Arc<Current>,
        user: &SnapshotUser,
        facts: &Facts<'_>,
    ) -> Verdict {
        self.decide_user_on(cur, user, facts, &Target::this_host(&cur.snapshot))
    }

    /// Decides `facts` for `user` from `cur` on `target` (no audit), with
    /// no MFA: see [`Decider::decide_user_mfa`].
    pub fn decide_user_on(
        &self,
        cur: &Arc<Current>,
        user: &SnapshotUser,
        facts: &Facts<'_>,
        target: &Target<'_>,
    ) -> Verdict {
        self.decide_user_mfa(cur, user, facts, target, None)
    }

    /// Decides `facts` for `user` from `cur` on `target` (no audit), with
    /// `mfa_authenticated_at` the time of an MFA check if there was one.
    /// A denial that the same request with an MFA check made *now* would
    /// allow is [`Outcome::MfaRequired`] (the policy needs
    /// `ward:MultiFactorAuthPresent`, or a younger
    /// `ward:MultiFactorAuthAge`): the one place this is decided, for
    /// pam_ward (through the socket) and ward-gateway alike.
    pub fn decide_user_mfa(
        &self,
        cur: &Arc<Current>,
        user: &SnapshotUser,
        facts: &Facts<'_>,
        target: &Target<'_>,
        mfa_authenticated_at: Option<i64>,
    ) -> Verdict {
        if !user.enabled {
            return Verdict::deny(Some(user), format!("ward user {} is disabled", user.name));
        }
        let compiled = match self.compiled(cur, user) {
            Ok(c) => c,
            Err(e) => return Verdict::deny(Some(user), e.0),
        };
        let d = evaluate_mfa(
            &cur.snapshot,
            &compiled,
            facts,
            target,
            mfa_authenticated_at,
        );
        if d.allowed {
            return Verdict {
                outcome: Outcome::Allowed,
                user: Some(user.name.clone()),
                reason: None,
            };
        }
        let why = d
            .explanation
            .map(|e| e.message)
            .unwrap_or_else(|| format!("{} denied", facts.action));
        if evaluate_mfa(&cur.snapshot, &compiled, facts, target, Some(facts.now)).allowed {
            return Verdict {
                outcome: Outcome::MfaRequired,
                user: Some(user.name.clone()),
                reason: Some(format!("{MFA_REQUIRED} ({why})")),
            };
        }
        Verdict::deny(Some(user), why)
    }

    /// Whether an MFA check can change any decision of `action` for `user`
    /// from `cur`, on any target: [`ward_authz::mfa::may_require`] on the
    /// user's compiled policies (through the cache), without a request —
    /// for a caller that must ask for a code before it knows the target
    /// (ward-gateway's ProxyJump login). Errs towards `true`; `false` for
    /// a disabled user and for policies that do not assemble or compile,
    /// whose every decision is a denial with its reason, code or not.
    pub fn mfa_may_matter(&self, cur: &Arc<Current>, user: &SnapshotUser, action: &str) -> bool {
        if !user.enabled {
            return false;
        }
        let Ok(c) = self.compiled(cur, user) else {
            return false;
        };
        let assembled = c.policies.assemble();
        ward_authz::mfa::may_require(&assembled.set(), action)
    }

    /// Records `v` as a `HostEvent` through the audit sink (an empty
    /// `facts.principal` is recorded as absent).
    pub fn record(&self, facts: &Facts<'_>, v: &Verdict) {
        self.record_on(facts, v, None);
    }

    /// [`Decider::record`] with the host reached through a gateway.
    pub fn record_on(&self, facts: &Facts<'_>, v: &Verdict, target: Option<&str>) {
        let n = self.ids.fetch_add(1, Ordering::Relaxed);
        self.shared.audit.record(HostEvent {
            id: format!("{}-{n}", self.id_prefix),
            time: facts.now,
            action: facts.action.to_owned(),
            user: v.user.clone(),
            principal: (!facts.principal.is_empty()).then(|| facts.principal.to_owned()),
            service: Some(facts.service.to_owned()),
            source_ip: facts.source_ip.map(|ip| ip.to_string()),
            auth_method: Some(facts.auth_method.to_owned()),
            allowed: v.outcome == Outcome::Allowed,
            reason: v.reason.clone(),
            target: target.map(str::to_owned),
        });
    }

    /// `session` (PAM `open_session`/`close_session`): spools an audit
    /// event when `req.user` is a ward user in the snapshot held (stale or
    /// not: the event is a record, not a decision); users ward does not
    /// know leave no event.
    pub fn session(&self, req: &SessionRequest, now: i64) -> Response {
        if !account_ok(&req.user) {
            return bad("user is not an account name");
        }
        if req.service.is_empty()
            || req.service.len() > 64
            || !req.service.bytes().all(|b| b.is_ascii_graphic())
        {
            return bad("service must be 1-64 printable characters");
        }
        // PAM_RHOST may be a host name: only an address is kept.
        let source_ip = parse_source(req.rhost.as_deref()).ok().flatten();
        let known = self
            .shared
            .snapshot()
            .is_some_and(|cur| cur.snapshot.users.iter().any(|u| u.name == req.user));
        if known {
            let n = self.ids.fetch_add(1, Ordering::Relaxed);
            self.shared.audit.record(HostEvent {
                id: format!("{}-{n}", self.id_prefix),
                time: now,
                action: if req.open {
                    EVENT_OPEN_SESSION
                } else {
                    EVENT_CLOSE_SESSION
                }
                .to_owned(),
                user: Some(req.user.clone()),
                principal: Some(req.user.clone()),
                service: Some(req.service.clone()),
                source_ip: source_ip.map(|ip| ip.to_string()),
                auth_method: None,
                allowed: true,
                reason: None,
                target: None,
            });
        }
        Response::Recorded { recorded: known }
    }

    /// `authorize` (PAM): decides `req.action` for the ward user named
    /// `req.user`; a name the snapshot does not hold is
    /// [`Outcome::UnknownUser`] (local accounts keep working). With a
    /// ticket of [`Decider::verify_mfa`] for this user, the decision has
    /// the MFA time it stands for.
    pub fn authorize(&self, req: &AuthorizeRequest, now: i64) -> Response {
        let (facts, precheck) = match authorize_facts(req, now) {
            Ok(f) => f,
            Err(r) => return r,
        };
        let v = match self.usable(now) {
            Err(reason) => Verdict::deny(None, reason),
            Ok(cur) => match cur.snapshot.users.iter().find(|u| u.name == req.user) {
                None => Verdict {
                    outcome: Outcome::UnknownUser,
                    user: None,
                    reason: Some(format!("{} is not a ward user", req.user)),
                },
                Some(u) if precheck => self.sudo_precheck(&cur, u, &facts),
                Some(u) => {
                    let login = TicketLogin::of(&u.id, &facts);
                    let mfa = req
                        .mfa_ticket
                        .as_deref()
                        .and_then(|t| self.take_ticket(&login, t, now));
                    self.decide_user_mfa(&cur, u, &facts, &Target::this_host(&cur.snapshot), mfa)
                }
            },
        };
        self.record(&facts, &v);
        Response::Decision {
            outcome: v.outcome,
            user: v.user,
            reason: v.reason,
        }
    }

    /// The MFA time a live ticket issued for `login` stands for; the
    /// ticket is consumed (single use). A ticket presented for another
    /// login (user, account, service or source) gives no MFA and stays
    /// for the login it was issued for; an expired one is dropped.
    fn take_ticket(&self, login: &TicketLogin, ticket: &str, now: i64) -> Option<i64> {
        let key = ticket_key(ticket);
        let mut t = self.lock_tickets();
        let (expired, mine) = match t.get(&key) {
            None => return None,
            Some(found) => (now >= found.expires, found.login == *login),
        };
        if expired {
            t.remove(&key);
            return None;
        }
        if !mine {
            return None;
        }
        t.remove(&key).map(|t| t.at)
    }

    fn lock_tickets(&self) -> std::sync::MutexGuard<'_, HashMap<String, Ticket>> {
        match self.tickets.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// A new ticket for `login`'s MFA check at `at`.
    fn issue_ticket(&self, login: TicketLogin, at: i64, now: i64) -> String {
        let mut r = [0u8; 16];
        rand::Rng::fill(&mut rand::rngs::OsRng, &mut r);
        let ticket = hex::encode(r);
        let mut t = self.lock_tickets();
        t.retain(|_, v| v.expires > now);
        while t.len() >= MAX_TICKETS {
            let oldest = t
                .iter()
                .min_by_key(|(_, v)| v.expires)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => t.remove(&k),
                None => break,
            };
        }
        t.insert(
            ticket_key(&ticket),
            Ticket {
                login,
                at,
                expires: now + MFA_TICKET_SECONDS,
            },
        );
        ticket
    }

    /// `verify_mfa` (PAM `authenticate`): decides `req.request` as
    /// `authorize` does; only when that is [`Outcome::MfaRequired`] is the
    /// code checked, by `check` (ward-ca's `POST /v1/host/mfa/verify`:
    /// user, code, rhost → the time of the check), and the request decided
    /// again with that time. An allow then comes with a ticket that
    /// `authorize` honours once, within [`MFA_TICKET_SECONDS`], for the
    /// same user, account, service and source. The final decision is
    /// recorded.
    pub fn verify_mfa(
        &self,
        req: &VerifyMfaRequest,
        now: i64,
        check: impl FnOnce(&str, &str, Option<&str>) -> Result<i64, (MfaOutcome, String)>,
    ) -> Response {
        let (facts, precheck) = match authorize_facts(&req.request, now) {
            Ok(f) => f,
            Err(r) => return r,
        };
        if !code_ok(&req.code.0) {
            return bad("code must be six digits");
        }
        if let Some(r) = &req.rhost {
            if r.is_empty() || r.len() > 253 || !r.bytes().all(|b| b.is_ascii_graphic()) {
                return bad("rhost must be 1-253 printable characters");
            }
        }
        let mfa = |outcome, ticket: Option<String>, reason: Option<String>| {
            Response::Mfa(MfaAnswer {
                outcome,
                ticket,
                reason,
            })
        };
        let cur = match self.usable(now) {
            Ok(c) => c,
            Err(reason) => {
                self.record(&facts, &Verdict::deny(None, reason.clone()));
                return mfa(MfaOutcome::Denied, None, Some(reason));
            }
        };
        let Some(user) = cur
            .snapshot
            .users
            .iter()
            .find(|u| u.name == req.request.user)
        else {
            return mfa(MfaOutcome::UnknownUser, None, None);
        };
        let target = Target::this_host(&cur.snapshot);
        let first = if precheck {
            self.sudo_precheck(&cur, user, &facts)
        } else {
            self.decide_user_mfa(&cur, user, &facts, &target, None)
        };
        match first.outcome {
            Outcome::MfaRequired => {}
            Outcome::Allowed => return mfa(MfaOutcome::NotNeeded, None, None),
            _ => {
                self.record(&facts, &first);
                return mfa(MfaOutcome::Denied, None, first.reason);
            }
        }
        let at = match check(&user.name, &req.code.0, req.rhost.as_deref()) {
            Ok(at) => at,
            Err((outcome, why)) => {
                self.record(
                    &facts,
                    &Verdict::deny(Some(user), format!("MFA code not accepted: {why}")),
                );
                return mfa(outcome, None, Some(why));
            }
        };
        let v = self.decide_user_mfa(&cur, user, &facts, &target, Some(at));
        self.record(&facts, &v);
        match v.outcome {
            Outcome::Allowed => {
                let ticket = self.issue_ticket(TicketLogin::of(&user.id, &facts), at, now);
                mfa(MfaOutcome::Ok, Some(ticket), None)
            }
            _ => mfa(MfaOutcome::Denied, None, v.reason),
        }
    }

    /// sudo's account stage (`host:Sudo` without `host:Principal`: sudo
    /// names the target user only when it opens the session, where
    /// pam_ward asks again with it). Denied when the user is disabled or
    /// a `Deny` applies whatever the target; allowed when the policy
    /// allows it whatever the target; otherwise allowed *for now*, with
    /// a reason saying the session decides (pam_ward's session stage
    /// fails closed).
    fn sudo_precheck(&self, cur: &Arc<Current>, user: &SnapshotUser, facts: &Facts<'_>) -> Verdict {
        let undecided = user.enabled
            && self.compiled(cur, user).is_ok_and(|c| {
                evaluate(&cur.snapshot, &c, facts).decision
                    == ward_policy::Decision::ImplicitlyDenied
            });
        if !undecided {
            // Allowed whatever the target, disabled, a Deny that applies
            // whatever the target, or policies that do not compile.
            return self.decide_user(cur, user, facts);
        }
        Verdict {
            outcome: Outcome::Allowed,
            user: Some(user.name.clone()),
            reason: Some(SUDO_PENDING.to_owned()),
        }
    }

    /// `ssh_principals` (sshd `AuthorizedPrincipalsCommand %u %i %s %k`).
    pub fn ssh_principals(&self, req: &SshPrincipalsRequest, now: i64) -> Response {
        if !account_ok(&req.account) {
            return bad("account (%u) is not an account name");
        }
        if !user_id_ok(&req.key_id) && role_key_id(&req.key_id).is_none() {
            return bad("keyId (%i) is not a ward user id or role session");
        }
        let source_ip = match parse_source(req.source_ip.as_deref()) {
            Ok(s) => s,
            Err(m) => return bad(m),
        };
        let facts = Facts {
            action: LOGIN,
            principal: &req.account,
            service: "sshd",
            auth_method: SSH_CERTIFICATE,
            source_ip,
            secure_transport: true,
            now,
        };
        let v = self.ssh_principals_verdict(req, &facts);
        self.record(&facts, &v);
        // A role session's certificate names accounts, not a ward user:
        // sshd compares the printed line with its principals.
        if v.outcome == Outcome::Allowed && role_key_id(&req.key_id).is_some() {
            return Response::Lines {
                lines: vec![req.account.clone()],
                reason: None,
            };
        }
        lines(v)
    }

    fn ssh_principals_verdict(&self, req: &SshPrincipalsRequest, facts: &Facts<'_>) -> Verdict {
        let cur = match self.usable(facts.now) {
            Ok(c) => c,
            Err(reason) => return Verdict::deny(None, reason),
        };
        if let Some((role_id, session, issued_at)) = role_key_id(&req.key_id) {
            return self.role_session_verdict(&cur, req, facts, role_id, session, issued_at);
        }
        let snap = &cur.snapshot;
        let Some(user) = snap.users.iter().find(|u| u.id == req.key_id) else {
            return Verdict::deny(None, format!("key id {} is not a ward user", req.key_id));
        };
        let cert = match base64::engine::general_purpose::STANDARD
            .decode(req.certificate.as_bytes())
            .ok()
            .and_then(|b| ssh_key::Certificate::from_bytes(&b).ok())
        {
            Some(c) => c,
            None => return Verdict::deny(Some(user), "the certificate (%k) does not parse"),
        };
        // %i and %s must be the certificate's own (sshd substitutes them
        // from it; anything else is not sshd talking).
        if cert.key_id() != req.key_id {
            return Verdict::deny(Some(user), "the certificate's key id is not %i");
        }
        if cert.serial() != req.serial {
            return Verdict::deny(Some(user), "the certificate's serial is not %s");
        }
        let (user, verified) = match self.certificate_user(&cur, &cert, facts.source_ip, facts.now)
        {
            Ok(u) => u,
            Err(v) => return v,
        };
        if verified.key_id != req.key_id || verified.serial != req.serial {
            return Verdict::deny(Some(user), "the certificate does not match %i/%s");
        }
        self.decide_user(&cur, user, facts)
    }

    /// A role session's certificate (key id `AROA…:SESSION:ISSUED`): the
    /// role must be in the snapshot; the certificate is checked as a
    /// user's (CA, validity — capped by ward-ca at the session's expiry —,
    /// revocation, `source-address`) with the account (`%u`) among its
    /// principals; then `host:Login` is decided with the role's policies
    /// and the session's issue time ([`compile_role_session`]). The
    /// event's user is `ROLE/SESSION`; the account is printed when
    /// allowed.
    fn role_session_verdict(
        &self,
        cur: &Arc<Current>,
        req: &SshPrincipalsRequest,
        facts: &Facts<'_>,
        role_id: &str,
        session: &str,
        issued_at: i64,
    ) -> Verdict {
        let snap = &cur.snapshot;
        let deny = |who: Option<String>, why: String| Verdict {
            outcome: Outcome::Denied,
            user: who,
            reason: Some(why),
        };
        let Some(role) = snap.roles.iter().find(|r| r.id == role_id) else {
            return deny(None, format!("key id {} names no ward role", req.key_id));
        };
        let who = Some(format!("{}/{session}", role.name));
        let Some(cert) = base64::engine::general_purpose::STANDARD
            .decode(req.certificate.as_bytes())
            .ok()
            .and_then(|b| ssh_key::Certificate::from_bytes(&b).ok())
        else {
            return deny(who, "the certificate (%k) does not parse".into());
        };
        if cert.key_id() != req.key_id || cert.serial() != req.serial {
            return deny(who, "the certificate does not match %i/%s".into());
        }
        if let Err(v) = self.role_certificate(cur, &cert, &req.account, facts.source_ip, facts.now)
        {
            return v;
        }
        self.decide_role_session(
            cur,
            role,
            session,
            issued_at,
            facts,
            &Target::this_host(snap),
        )
    }

    /// A role session's SSH certificate (key id `AROA…:SESSION:ISSUED`)
    /// checked as sshd would with ward's rules for `principal` (an
    /// account among its principals) from `client` at `now`: its role is
    /// in `cur`, it is signed by a CA key of the snapshot, valid at
    /// `now` (ward-ca caps its validity at the session's expiry), not
    /// revoked, `source-address` allows `client`. The role, the session
    /// name and the session's issue time (`ward:TokenIssueTime`).
    pub fn role_certificate<'c>(
        &self,
        cur: &'c Arc<Current>,
        cert: &ssh_key::Certificate,
        principal: &str,
        client: Option<IpAddr>,
        now: i64,
    ) -> Result<(&'c SnapshotRole, String, i64), Verdict> {
        let snap = &cur.snapshot;
        let deny = |who: Option<String>, why: String| Verdict {
            outcome: Outcome::Denied,
            user: who,
            reason: Some(why),
        };
        let Some((role_id, session, issued_at)) = role_key_id(cert.key_id()) else {
            return Err(deny(
                None,
                format!("key id {:?} is not a role session", cert.key_id()),
            ));
        };
        let Some(role) = snap.roles.iter().find(|r| r.id == role_id) else {
            return Err(deny(
                None,
                format!("key id {} names no ward role", cert.key_id()),
            ));
        };
        let who = Some(format!("{}/{session}", role.name));
        let cas = ca_keys(snap).map_err(|e| deny(who.clone(), e))?;
        let krl = self.krl(cur).map_err(|e| deny(who.clone(), e))?;
        sshverify::verify(&VerifyRequest {
            cert,
            trusted_cas: &cas,
            now: u64::try_from(now).unwrap_or(0),
            kind: Kind::User,
            principal,
            client_addr: client,
            revoked: &krl,
        })
        .map_err(|e| deny(who, e.to_string()))?;
        Ok((role, session.to_owned(), issued_at))
    }

    /// Decides `facts` on `target` for session `session` of `role`
    /// issued at `issued_at`, with the role's policies
    /// ([`compile_role_session`]: `ward:TokenIssueTime`, so
    /// revoke-sessions' Deny applies). The verdict's user is
    /// `ROLE/SESSION`. No audit.
    pub fn decide_role_session(
        &self,
        cur: &Arc<Current>,
        role: &SnapshotRole,
        session: &str,
        issued_at: i64,
        facts: &Facts<'_>,
        target: &Target<'_>,
    ) -> Verdict {
        let who = Some(format!("{}/{session}", role.name));
        let deny = |why: String| Verdict {
            outcome: Outcome::Denied,
            user: who.clone(),
            reason: Some(why),
        };
        let compiled = match compile_role_session(&cur.snapshot, role, session, issued_at) {
            Ok(c) => c,
            Err(e) => return deny(e.0),
        };
        let d = evaluate_on(&cur.snapshot, &compiled, facts, target);
        if d.allowed {
            Verdict {
                outcome: Outcome::Allowed,
                user: who,
                reason: None,
            }
        } else {
            deny(
                d.explanation
                    .map(|e| e.message)
                    .unwrap_or_else(|| format!("{} denied", facts.action)),
            )
        }
    }

    /// The live ward user a user certificate certifies, checked as sshd
    /// would with ward's rules: the key id names a user of `cur`; signed by
    /// a CA key of the snapshot; valid at `now`; not revoked; the user's
    /// *current* name among the principals (a certificate issued before a
    /// rename names the old one); `source-address` against `client`. A
    /// disabled user is refused later, by the decision.
    pub fn certificate_user<'c>(
        &self,
        cur: &'c Arc<Current>,
        cert: &ssh_key::Certificate,
        client: Option<IpAddr>,
        now: i64,
    ) -> Result<(&'c SnapshotUser, sshverify::Verified), Verdict> {
        let snap = &cur.snapshot;
        let Some(user) = snap.users.iter().find(|u| u.id == cert.key_id()) else {
            return Err(Verdict::deny(
                None,
                format!("key id {:?} is not a ward user", cert.key_id()),
            ));
        };
        let cas = ca_keys(snap).map_err(|e| Verdict::deny(Some(user), e))?;
        let krl = self.krl(cur).map_err(|e| Verdict::deny(Some(user), e))?;
        match sshverify::verify(&VerifyRequest {
            cert,
            trusted_cas: &cas,
            now: u64::try_from(now).unwrap_or(0),
            kind: Kind::User,
            principal: &user.name,
            client_addr: client,
            revoked: &krl,
        }) {
            Ok(v) => Ok((user, v)),
            Err(e @ sshverify::VerifyError::PrincipalNotListed { .. }) => Err(Verdict::deny(
                Some(user),
                format!("{e}: it predates a rename of ward user {}", user.name),
            )),
            Err(e) => Err(Verdict::deny(Some(user), e.to_string())),
        }
    }

    /// The ward user holding the active registered key with this SHA-256
    /// fingerprint in `cur`, and the key; none, or more than one user, is
    /// a denial.
    pub fn key_user<'c>(
        &self,
        cur: &'c Arc<Current>,
        fingerprint: &str,
    ) -> Result<(&'c SnapshotUser, ssh_key::PublicKey), Verdict> {
        let mut found: Vec<(&SnapshotUser, ssh_key::PublicKey)> = Vec::new();
        for u in &cur.snapshot.users {
            for k in u.ssh_keys.iter().filter(|k| k.status == "Active") {
                let Ok(pk) = ssh_key::PublicKey::from_openssh(&k.public_key) else {
                    continue;
                };
                if pk.fingerprint(ssh_key::HashAlg::Sha256).to_string() == fingerprint {
                    found.push((u, pk));
                }
            }
        }
        match found.len() {
            0 => Err(Verdict::deny(
                None,
                "no active ward SSH key has that fingerprint",
            )),
            1 => Ok(found.remove(0)),
            _ => Err(Verdict::deny(
                None,
                "that key is registered to more than one ward user",
            )),
        }
    }

    /// `ssh_keys` (sshd `AuthorizedKeysCommand %u %f`).
    pub fn ssh_keys(&self, req: &SshKeysRequest, now: i64) -> Response {
        if !account_ok(&req.account) {
            return bad("account (%u) is not an account name");
        }
        if !fingerprint_ok(&req.fingerprint) {
            return bad("fingerprint (%f) is not a SHA256 fingerprint");
        }
        let source_ip = match parse_source(req.source_ip.as_deref()) {
            Ok(s) => s,
            Err(m) => return bad(m),
        };
        let facts = Facts {
            action: LOGIN,
            principal: &req.account,
            service: "sshd",
            auth_method: SSH_KEY,
            source_ip,
            secure_transport: true,
            now,
        };
        let (v, line) = self.ssh_keys_verdict(req, &facts);
        self.record(&facts, &v);
        match (v.outcome, line) {
            (Outcome::Allowed, Some(l)) => Response::Lines {
                lines: vec![l],
                reason: None,
            },
            _ => lines(v),
        }
    }

    fn ssh_keys_verdict(
        &self,
        req: &SshKeysRequest,
        facts: &Facts<'_>,
    ) -> (Verdict, Option<String>) {
        let cur = match self.usable(facts.now) {
            Ok(c) => c,
            Err(reason) => return (Verdict::deny(None, reason), None),
        };
        let (user, key) = match self.key_user(&cur, &req.fingerprint) {
            Ok(found) => found,
            Err(v) => return (v, None),
        };
        let v = self.decide_user(&cur, user, facts);
        if v.outcome != Outcome::Allowed {
            return (v, None);
        }
        // The key alone: no options (nothing that could widen access), no
        // comment (user-controlled text).
        let mut key = key;
        key.set_comment("");
        match key.to_openssh() {
            Ok(line) if !line.contains('\n') => (v, Some(line)),
            _ => (Verdict::deny(Some(user), "the key does not encode"), None),
        }
    }
}

/// The checked facts of an `authorize` request, and whether it is sudo's
/// pre-check (no `host:Principal` yet); a malformed request is the error
/// answer.
fn authorize_facts(req: &AuthorizeRequest, now: i64) -> Result<(Facts<'_>, bool), Response> {
    if !HOST_ACTIONS.contains(&req.action.as_str()) {
        return Err(bad(format!("action must be one of {HOST_ACTIONS:?}")));
    }
    if !account_ok(&req.user) {
        return Err(bad("user is not an account name"));
    }
    // sudo's account stage: the target user is not known yet (sudo sets
    // it only when it opens the session): an empty principal asks for the
    // pre-check of [`Decider::sudo_precheck`].
    let precheck = req.action == SUDO && req.principal.is_empty();
    if !precheck && !account_ok(&req.principal) {
        return Err(bad("principal is not an account name"));
    }
    let printable =
        |s: &str| !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_graphic());
    if !printable(&req.service) {
        return Err(bad("service must be 1-64 printable characters"));
    }
    if !printable(&req.auth_method) {
        return Err(bad("authMethod must be 1-64 printable characters"));
    }
    if req.mfa_ticket.as_deref().is_some_and(|t| !ticket_ok(t)) {
        return Err(bad("mfaTicket must be 32 lower-case hex digits"));
    }
    let source_ip = parse_source(req.source_ip.as_deref()).map_err(bad)?;
    Ok((
        Facts {
            action: &req.action,
            principal: &req.principal,
            service: &req.service,
            auth_method: &req.auth_method,
            source_ip,
            secure_transport: req.service == "sshd",
            now,
        },
        precheck,
    ))
}

fn lines(v: Verdict) -> Response {
    match (v.outcome, v.user) {
        (Outcome::Allowed, Some(name)) => Response::Lines {
            lines: vec![name],
            reason: None,
        },
        _ => Response::Lines {
            lines: Vec::new(),
            reason: v.reason,
        },
    }
}

/// The snapshot's SSH user CA keys; one that does not parse is an error
/// (the snapshot is not trusted in part).
pub fn ca_keys(snap: &Snapshot) -> Result<Vec<ssh_key::PublicKey>, String> {
    if snap.ssh_user_ca_keys.is_empty() {
        return Err("the snapshot holds no SSH user CA key".into());
    }
    snap.ssh_user_ca_keys
        .iter()
        .map(|l| {
            ssh_key::PublicKey::from_openssh(l.trim())
                .map_err(|e| format!("an SSH user CA key in the snapshot does not parse: {e}"))
        })
        .collect()
}

/// A KRL revoking every serial of the snapshot under every CA key.
pub fn build_krl(snap: &Snapshot) -> Result<Krl, String> {
    let mut krl = Krl::new(snap.generation, 0, "ward-agent").map_err(|e| format!("KRL: {e:?}"))?;
    for ca in ca_keys(snap)? {
        for s in &snap.revoked_ssh_serials {
            krl.revoke_serial(&ca, *s)
                .map_err(|e| format!("KRL: {e:?}"))?;
        }
    }
    Ok(krl)
}
