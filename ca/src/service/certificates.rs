//! Certificate issuance, inventory and revocation over the API, and the
//! public trust material (CA keys, known_hosts line, X.509 bundle, KRL,
//! CRL).
//!
//! SSH user certificates (SPEC §5–§6): key id = the user's unique id;
//! principals = the user name plus any requested and allowed; TTL default
//! 8 h, at most 24 h and capped by policy (`ca:ValiditySeconds`);
//! valid-after backdated 30 s; `permit-pty` always, other extensions on
//! request and visible to policy as `ca:Extensions`; optional
//! `source-address`; a unique random serial; the inventory record and the
//! audit event commit together.
//!
//! A role session may ask for both kinds too (issue #14 item 5): the SSH
//! key id is `AROA…:SESSION:ISSUED` (see [`role_session_key_id`]) and the
//! principals are the accounts it asks for; the X.509 URI SAN is
//! `spiffe://TD/role/ROLE/SESSION`; either is decided with the role's
//! policies as any request of the session, capped by the session's expiry,
//! and recorded in the inventory with that subject. A session with a
//! session policy, session tags or a source identity gets none (hosts
//! decide with the role's policies and could not apply them).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use rand::RngCore;
use ward_protocol::api;

use crate::error::ApiError;
use crate::service::authz::authorize;
use crate::service::caller::{Caller, Identity, RoleSession};
use crate::service::iam::target_user;
use crate::service::request::{body, commit, limit, rfc3339, P, Q};
use crate::state::{now, AppState, Shared};
use crate::store::authority::{self, Authorities, Signer};
use crate::store::certs::{self, kind, CertRecord};
use crate::store::iam;
use ward_pki::{sshca, x509};

/// Default and largest SSH user certificate lifetimes.
const SSH_DEFAULT_TTL: i64 = 8 * 3600;
const SSH_MAX_TTL: i64 = 24 * 3600;
/// Default and largest X.509 client certificate lifetimes.
const X509_DEFAULT_TTL: i64 = 24 * 3600;
const X509_MAX_TTL: i64 = 90 * 86_400;
/// Backdating of valid-after, for clock skew between hosts.
const BACKDATE: i64 = 30;

const EXTENSIONS: &[&str] = &[
    "permit-port-forwarding",
    "permit-agent-forwarding",
    "permit-X11-forwarding",
    "permit-user-rc",
];

/// The CA keys, cached until `ca_keys` changes. Rotation may happen in
/// another process (`ward-ca rotate`), so the cache is keyed by a summary of
/// the table, re-read at most every [`CA_RECHECK`] (a new key is used within
/// that time; old keys stay trusted until retired anyway).
pub(crate) async fn authorities(st: &AppState) -> Result<Arc<Authorities>, ApiError> {
    if let Ok(last) = st.ca_checked.lock() {
        if let Some((at, key)) = &*last {
            if at.elapsed() < CA_RECHECK {
                if let Some(a) = st.authorities.get(key, 0) {
                    return Ok(a);
                }
            }
        }
    }
    let mut c = st.store.pool().acquire().await?;
    let key = authority::summary(&mut c).await?;
    if let Ok(mut last) = st.ca_checked.lock() {
        *last = Some((std::time::Instant::now(), key.clone()));
    }
    if let Some(a) = st.authorities.get(&key, 0) {
        return Ok(a);
    }
    let a = Arc::new(authority::load(&mut c, &st.master).await?);
    st.authorities.put(&key, 0, a.clone());
    // New or retired X.509 keys change which client certificates pass the
    // TLS handshake: swap the anchors now rather than at the next restart.
    if let Some(roots) = &st.client_roots {
        let pem: String = a
            .x509_issuing
            .iter()
            .chain(a.x509_root.iter())
            .map(|e| e.public_text.clone())
            .collect();
        if let Err(e) = roots.replace_pem(&pem) {
            tracing::warn!(error = %e, "could not update the client-certificate anchors");
        }
    }
    Ok(a)
}

/// Re-reads the CA key table if it changed (for a periodic task).
pub async fn refresh_authorities(st: &AppState) -> Result<(), ApiError> {
    authorities(st).await.map(|_| ())
}

/// How often the CA key table is re-checked for rotations.
const CA_RECHECK: std::time::Duration = std::time::Duration::from_secs(2);

fn ca_arn(st: &AppState, authority: &str) -> String {
    ward_authz::arn::authority(st.store.account_id(), authority)
}

/// Whom a certificate is for: a user, or a role session (issue #14
/// item 5).
enum Holder<'a> {
    User(&'a iam::User),
    Role(&'a RoleSession),
}

fn caller_holder(caller: &Caller) -> Result<Holder<'_>, ApiError> {
    match &caller.identity {
        Identity::User(u) => Ok(Holder::User(u)),
        Identity::Root => Err(ApiError::invalid(
            "caller",
            "the account root gets no certificates: sign in as a user",
        )),
        Identity::RoleSession(rs) => {
            // Hosts decide a role session's certificate with the role's
            // policies and tags alone: a session narrowed by a session
            // policy, re-tagged by session tags or carrying a source
            // identity would be decided there without them, so it gets
            // no certificate (fail closed).
            let why = if rs.policy.is_some() {
                Some("a session policy")
            } else if !rs.tags.is_empty() {
                Some("session tags")
            } else if rs.source_identity.is_some() {
                Some("a source identity")
            } else {
                None
            };
            match why {
                Some(what) => Err(ApiError::Denied {
                    message: format!(
                        "role session {} has {what}, which hosts cannot apply to a \
                         certificate: assume the role without it to get certificates",
                        rs.assumed_role_id()
                    ),
                }),
                None => Ok(Holder::Role(rs)),
            }
        }
        Identity::Host(_) => Err(crate::service::caller::host_route_only()),
    }
}

/// The SSH certificate key id of a role session: `AROA…:SESSION:ISSUED`,
/// its `ward:userid` and the session's issue time (Unix seconds), which
/// hosts use as `ward:TokenIssueTime` so that revoke-sessions reaches
/// them.
pub fn role_session_key_id(rs: &RoleSession) -> String {
    format!("{}:{}", rs.assumed_role_id(), rs.issued_at)
}

/// A requested lifetime capped by a role session's expiry: a role
/// session's certificate never outlives the session.
fn capped(holder: &Holder<'_>, validity: i64, t: i64) -> i64 {
    match holder {
        Holder::User(_) => validity,
        Holder::Role(rs) => validity.min(rs.expires_at - t).max(1),
    }
}

/// A certificate's lifetime: `seconds` from signing, and never past
/// `until` (a role session's expiry). The lifetime is capped when the
/// request arrives; signing happens later (a second may have passed), so
/// the end is capped again when the certificate is signed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Lifetime {
    /// Seconds from signing.
    pub seconds: i64,
    /// The latest end (epoch seconds), if any.
    pub until: Option<i64>,
}

impl Lifetime {
    /// `seconds` from signing, uncapped.
    pub(crate) fn of(seconds: i64) -> Lifetime {
        Lifetime {
            seconds,
            until: None,
        }
    }

    fn for_holder(holder: &Holder<'_>, seconds: i64) -> Lifetime {
        Lifetime {
            seconds,
            until: match holder {
                Holder::User(_) => None,
                Holder::Role(rs) => Some(rs.expires_at),
            },
        }
    }

    /// The end of a certificate signed at `t`.
    pub(crate) fn not_after(self, t: i64) -> i64 {
        let end = t + self.seconds;
        self.until.map_or(end, |u| end.min(u))
    }
}

fn ttl(field: &str, requested: Option<i64>, default: i64, max: i64) -> Result<i64, ApiError> {
    match requested {
        None => Ok(default),
        Some(v) if (60..=max).contains(&v) => Ok(v),
        Some(v) => Err(ApiError::invalid(
            field,
            format!("validitySeconds {v} must be between 60 and {max}"),
        )),
    }
}

fn ssh_error(e: sshca::SshCaError) -> ApiError {
    if e.is_internal() {
        ApiError::internal(e)
    } else {
        ApiError::invalid(e.field().unwrap_or("publicKey"), e.to_string())
    }
}

/// `POST /v1/ssh/user-certificates`.
pub(crate) async fn ssh_user_certificate(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    b: Bytes,
) -> Result<(StatusCode, Json<api::SshCertificate>), ApiError> {
    let req: api::SshCertificateRequest = body(&b)?;
    let holder = caller_holder(&caller)?;
    let key = sshca::parse_public_key(&req.public_key).map_err(ssh_error)?;
    let validity = capped(
        &holder,
        ttl(
            "validitySeconds",
            req.validity_seconds,
            SSH_DEFAULT_TTL,
            SSH_MAX_TTL,
        )?,
        now(),
    );
    if req.principals.len() > 32 {
        return Err(ApiError::invalid(
            "principals",
            "at most 32 extra principals",
        ));
    }
    // A user's certificate names the user; a role session has no account
    // of its own and names the accounts it asks for (at least one).
    let (mut principals, key_id, comment, user_id) = match &holder {
        Holder::User(u) => (
            vec![u.name.clone()],
            u.id.clone(),
            u.name.clone(),
            Some(u.id.clone()),
        ),
        Holder::Role(rs) => {
            if req.principals.is_empty() {
                return Err(ApiError::invalid(
                    "principals",
                    "a role session's certificate names the accounts it logs in as: give at least one principal",
                ));
            }
            (
                Vec::new(),
                role_session_key_id(rs),
                format!("{}/{}", rs.role.name, rs.name),
                None,
            )
        }
    };
    for (i, p) in req.principals.iter().enumerate() {
        crate::service::names::user_name(&format!("principals[{i}]"), p)?;
        if !principals.iter().any(|x| x == p) {
            principals.push(p.clone());
        }
    }
    for (i, e) in req.extensions.iter().enumerate() {
        if !EXTENSIONS.contains(&e.as_str()) {
            return Err(ApiError::invalid(
                format!("extensions[{i}]"),
                format!(
                    "unknown extension {e:?} (allowed: {})",
                    EXTENSIONS.join(", ")
                ),
            ));
        }
    }
    let extra = ward_authz::context::ssh_user_certificate(
        &principals,
        validity,
        key.algorithm().as_str(),
        &req.extensions,
    );
    let g = authorize(
        &st,
        &caller,
        "ca:IssueSshUserCertificate",
        &ca_arn(&st, authority::SSH_USER),
        &extra,
    )
    .await?;
    let auth = authorities(&st).await?;
    let signing = auth.signing(authority::SSH_USER)?;
    let Signer::Ssh(ca) = &signing.signer else {
        return Err(ApiError::internal("ssh-user authority holds a non-SSH key"));
    };
    let t = now();
    let (valid_after, valid_before) = (
        t - BACKDATE,
        Lifetime::for_holder(&holder, validity).not_after(t),
    );
    let has = |e: &str| req.extensions.iter().any(|x| x == e);
    let fingerprint = key.fingerprint(ssh_key::HashAlg::Sha256).to_string();
    // A random 64-bit serial; the inventory's primary key refuses the
    // (astronomically rare) duplicate, which then fails this request.
    let serial = rand::rngs::OsRng.next_u64().max(1);
    let cert = sshca::sign_user_cert(
        ca,
        &sshca::UserCertRequest {
            public_key: &key,
            serial,
            key_id: &key_id,
            principals: &principals,
            valid_after: u64::try_from(valid_after).unwrap_or(0),
            valid_before: u64::try_from(valid_before).unwrap_or(0),
            permit_pty: true,
            permit_port_forwarding: has("permit-port-forwarding"),
            permit_agent_forwarding: has("permit-agent-forwarding"),
            permit_x11_forwarding: has("permit-X11-forwarding"),
            permit_user_rc: has("permit-user-rc"),
            source_addresses: req.source_addresses.as_deref(),
        },
    )
    .map_err(ssh_error)?;
    let rec = CertRecord {
        serial: serial.to_string(),
        kind: kind::SSH_USER.into(),
        user_id,
        subject: key_id.clone(),
        key_fingerprint: fingerprint.clone(),
        ca_key_id: signing.id.clone(),
        principals: serde_json::to_string(&principals).unwrap_or_default(),
        valid_after,
        valid_before,
        issued_at: t,
        revoked_at: None,
        public_key: None,
        gateway: None,
    };
    let text = cert.to_openssh().map_err(ApiError::internal)?;
    let ev = crate::service::request::event(
        &caller,
        &g,
        serde_json::json!({"serial": serial.to_string(), "keyId": key_id, "principals": principals, "validitySeconds": validity, "keyFingerprint": fingerprint}),
    );
    // Durable before the certificate is handed out.
    st.recorder.record(g, rec, ev).await?;
    Ok((
        StatusCode::CREATED,
        Json(api::SshCertificate {
            certificate: format!("{text} {comment}"),
            serial: serial.to_string(),
            key_id,
            principals,
            valid_after: rfc3339(valid_after),
            valid_before: rfc3339(valid_before),
        }),
    ))
}

/// The SPIFFE trust domain of this installation.
pub(crate) fn trust_domain(st: &AppState) -> String {
    format!("{}.ward", st.store.account_id())
}

/// `POST /v1/x509/client-certificates`.
pub(crate) async fn x509_client_certificate(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    b: Bytes,
) -> Result<(StatusCode, Json<api::X509Certificate>), ApiError> {
    let req: api::X509CertificateRequest = body(&b)?;
    let holder = caller_holder(&caller)?;
    let validity = capped(
        &holder,
        ttl(
            "validitySeconds",
            req.validity_seconds,
            X509_DEFAULT_TTL,
            X509_MAX_TTL,
        )?,
        now(),
    );
    if req.csr.len() > x509::MAX_CSR_PEM_LEN {
        return Err(ApiError::invalid("csr", "the CSR is larger than 16 KiB"));
    }
    // The CSR is checked before the decision: its key type is ca:KeyType.
    let csr = x509::check_csr(&req.csr).map_err(|e| {
        if e.is_bad_input() {
            ApiError::invalid("csr", e.to_string())
        } else {
            ApiError::internal(e)
        }
    })?;
    let extra = ward_authz::context::x509_certificate(validity, csr.key_type());
    let g = authorize(
        &st,
        &caller,
        "ca:IssueX509Certificate",
        &ca_arn(&st, "x509-client"),
        &extra,
    )
    .await?;
    let auth = authorities(&st).await?;
    let t = now();
    let td = trust_domain(&st);
    let (name, spiffe_kind, user_id, subject) = match &holder {
        Holder::User(u) => (
            u.name.clone(),
            x509::SpiffeKind::User,
            Some(u.id.clone()),
            x509::spiffe_id(&td, &u.name),
        ),
        Holder::Role(rs) => {
            let n = format!("{}/{}", rs.role.name, rs.name);
            let subject = format!("spiffe://{td}/role/{n}");
            (n, x509::SpiffeKind::Role, None, subject)
        }
    };
    let (issued, issuing_id, chain) = sign_x509(
        &st,
        &auth,
        &csr,
        &name,
        Lifetime::for_holder(&holder, validity),
        spiffe_kind,
        "csr",
    )?;
    let rec = CertRecord {
        serial: issued.serial_hex.clone(),
        kind: kind::X509_CLIENT.into(),
        user_id,
        subject: subject.clone(),
        key_fingerprint: issued.public_key_sha256_hex.clone(),
        ca_key_id: issuing_id,
        principals: serde_json::to_string(&[&name]).unwrap_or_default(),
        valid_after: issued.not_before,
        valid_before: issued.not_after,
        issued_at: t,
        revoked_at: None,
        public_key: None,
        gateway: None,
    };
    let ev = crate::service::request::event(
        &caller,
        &g,
        serde_json::json!({"serial": issued.serial_hex, "subject": subject, "validitySeconds": validity}),
    );
    st.recorder.record(g, rec, ev).await?;
    Ok((
        StatusCode::CREATED,
        Json(api::X509Certificate {
            certificate: issued.cert_pem,
            chain,
            serial: issued.serial_hex,
            not_after: rfc3339(issued.not_after),
        }),
    ))
}

/// Signs an X.509 client certificate for `name` (a user, or an enrolled
/// host: `kind` picks the SPIFFE path) with the current issuing key,
/// valid-after backdated; returns it with the signing key's id and the
/// chain (issuing CA then root, PEM). `field` names the CSR in errors.
pub(crate) fn sign_x509(
    st: &AppState,
    auth: &Authorities,
    csr: &x509::CheckedCsr,
    name: &str,
    lifetime: Lifetime,
    kind: x509::SpiffeKind,
    field: &str,
) -> Result<(x509::IssuedCert, String, String), ApiError> {
    let issuing = auth.signing(authority::X509_ISSUING)?;
    let Signer::X509(ca) = &issuing.signer else {
        return Err(ApiError::internal(
            "x509-issuing authority holds a non-X.509 key",
        ));
    };
    let t = now();
    let mut serial = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut serial);
    let td = trust_domain(st);
    // With an external URL configured, the certificate names the CRL of
    // the key that signs it, so relying parties can fetch it.
    let crl_url = st
        .config
        .external_url
        .as_ref()
        .map(|u| format!("{u}/v1/ca/x509-crls/{}", issuing.id));
    let req = x509::ClientCertRequest {
        csr_pem: "",
        trust_domain: &td,
        user_name: name,
        not_before: t - BACKDATE,
        not_after: lifetime.not_after(t),
        serial,
    };
    let signer = x509::CaSigner::new(ca).map_err(ApiError::internal)?;
    let issued = match kind {
        x509::SpiffeKind::User => signer.issue_checked_client_cert(csr, &req, crl_url.as_deref()),
        x509::SpiffeKind::Host => signer.issue_checked_host_cert(csr, &req, crl_url.as_deref()),
        x509::SpiffeKind::Role => signer.issue_checked_role_cert(csr, &req, crl_url.as_deref()),
    }
    .map_err(|e| {
        if e.is_bad_input() {
            ApiError::invalid(field, e.to_string())
        } else {
            ApiError::internal(e)
        }
    })?;
    let chain = format!(
        "{}{}",
        issuing.public_text,
        auth.signing(authority::X509_ROOT)?.public_text
    );
    Ok((issued, issuing.id.clone(), chain))
}

fn record_out(r: &CertRecord) -> api::CertificateRecord {
    api::CertificateRecord {
        serial: r.serial.clone(),
        kind: r.kind.clone(),
        subject: r.subject.clone(),
        principals: serde_json::from_str(&r.principals).unwrap_or_default(),
        key_fingerprint: r.key_fingerprint.clone(),
        valid_after: rfc3339(r.valid_after),
        valid_before: rfc3339(r.valid_before),
        issued: rfc3339(r.issued_at),
        revoked: r.revoked_at.map(rfc3339),
        gateway: r.gateway.clone(),
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct CertQuery {
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    revoked: Option<String>,
    #[serde(default)]
    limit: Option<String>,
    /// `true`: only certificates valid now (not expired, not yet valid
    /// excluded; combine with `revoked=false` for "in force").
    #[serde(default)]
    valid_now: Option<String>,
    /// `newest` (default) or `oldest` first.
    #[serde(default)]
    order: Option<String>,
    /// The `marker` of the previous page.
    #[serde(default)]
    marker: Option<String>,
}

/// A page position: `ISSUED_AT.SERIAL` (the last certificate of a page).
fn parse_marker(m: &str) -> Result<(i64, String), ApiError> {
    let bad = || ApiError::invalid("marker", "marker must be one this API returned");
    let (at, serial) = m.split_once('.').ok_or_else(bad)?;
    let at: i64 = at.parse().map_err(|_| bad())?;
    if serial.is_empty() || serial.len() > 64 || !serial.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(bad());
    }
    Ok((at, serial.to_owned()))
}

/// `GET /v1/certificates`.
pub(crate) async fn list(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    Q(q): Q<CertQuery>,
) -> Result<Json<api::CertificateList>, ApiError> {
    let limit = limit(&q.limit)?;
    if let Some(k) = &q.kind {
        if ![kind::SSH_USER, kind::SSH_HOST, kind::X509_CLIENT].contains(&k.as_str()) {
            return Err(ApiError::invalid(
                "kind",
                "kind must be ssh-user, ssh-host or x509-client",
            ));
        }
    }
    let valid_now = match q.valid_now.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            return Err(ApiError::invalid(
                "validNow",
                "validNow must be true or false",
            ))
        }
    };
    let newest_first = match q.order.as_deref() {
        None | Some("newest") => true,
        Some("oldest") => false,
        Some(_) => return Err(ApiError::invalid("order", "order must be newest or oldest")),
    };
    let after = q.marker.as_deref().map(parse_marker).transpose()?;
    let revoked = match q.revoked.as_deref() {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => {
            return Err(ApiError::invalid(
                "revoked",
                "revoked must be true or false",
            ))
        }
    };
    if let Some(name) = &q.user {
        crate::service::names::user_name("user", name)?;
    }
    // Authorize before looking the user up: a 404 must not tell a caller
    // without rights which users exist.
    crate::service::authz::authorize_read(
        &st,
        &caller,
        "ca:ListCertificates",
        &ward_authz::arn::certificate(st.store.account_id(), "*"),
        &[],
    )
    .await?;
    let user_id = match &q.user {
        None => None,
        Some(name) => {
            let mut c = st.store.pool().acquire().await?;
            match iam::find_user(&mut c, name).await? {
                Some(u) => Some(u.id),
                // A user id (`AIDA…`) names a user even after deletion, so a
                // deleted user's (revoked) certificates can still be listed.
                None if is_user_id(name) => Some(name.clone()),
                None => return Err(ApiError::no_such("user", name)),
            }
        }
    };
    let mut c = st.store.pool().acquire().await?;
    let mut rows = certs::list(
        &mut c,
        &certs::Filter {
            user_id,
            kind: q.kind.clone(),
            revoked,
            valid_at: valid_now.then(now),
            newest_first,
            after,
            limit: limit + 1,
        },
    )
    .await?;
    // One more than asked for says whether another page follows.
    let more = rows.len() as i64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(0));
    let marker = if more {
        rows.last().map(|r| format!("{}.{}", r.issued_at, r.serial))
    } else {
        None
    };
    Ok(Json(api::CertificateList {
        certificates: rows.iter().map(record_out).collect(),
        marker,
    }))
}

/// The shape of a user's unique id: `AIDA` and 17 upper-case letters or
/// digits (see `crypto::unique_id`).
fn is_user_id(s: &str) -> bool {
    s.len() == 21
        && s.starts_with("AIDA")
        && s[4..]
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

fn check_serial(serial: &str) -> Result<String, ApiError> {
    let ssh =
        !serial.is_empty() && serial.len() <= 20 && serial.bytes().all(|b| b.is_ascii_digit());
    if ssh {
        return Ok(serial.trim_start_matches('0').to_owned());
    }
    x509::parse_serial_hex(serial)
        .map(hex::encode)
        .map_err(|_| {
            ApiError::invalid(
                "serial",
                format!("{serial:?} is not a certificate serial (decimal for SSH, hex for X.509)"),
            )
        })
}

/// `POST /v1/certificates/{serial}/revoke`.
pub(crate) async fn revoke(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(serial): P<String>,
) -> Result<Json<api::Revoked>, ApiError> {
    let serial = check_serial(&serial)?;
    let g = authorize(
        &st,
        &caller,
        "ca:RevokeCertificate",
        &ward_authz::arn::certificate(st.store.account_id(), &serial.to_string()),
        &[],
    )
    .await?;
    // Revocations move the generation: hosts sync revoked serials.
    let mut m = st.store.mutation(&g).await?;
    if !certs::revoke(&mut m.tx, &serial, now(), "revoked by request").await? {
        return Err(ApiError::no_such("certificate", &serial));
    }
    commit(m, &caller, &g, serde_json::json!({"serials": [serial]})).await?;
    Ok(Json(api::Revoked {
        serials: vec![serial],
    }))
}

/// `POST /v1/users/{name}/certificates/revoke`: all of a user's certificates.
pub(crate) async fn revoke_user(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
) -> Result<Json<api::Revoked>, ApiError> {
    let (u, _) = target_user(&st, &caller, "ca:RevokeCertificate", &name, false).await?;
    let g = authorize(
        &st,
        &caller,
        "ca:RevokeCertificate",
        &ward_authz::arn::certificate(st.store.account_id(), "*"),
        &[],
    )
    .await?;
    // Revocations move the generation: hosts sync revoked serials.
    let mut m = st.store.mutation(&g).await?;
    let serials = certs::revoke_user(
        &mut m.tx,
        &u.id,
        now(),
        &format!("all certificates of user {}", u.name),
    )
    .await?;
    commit(
        m,
        &caller,
        &g,
        serde_json::json!({"user": u.name, "serials": serials}),
    )
    .await?;
    Ok(Json(api::Revoked { serials }))
}

fn text(body: String, content_type: &'static str) -> Response {
    (
        [
            ("content-type", content_type),
            ("cache-control", "max-age=60"),
        ],
        body,
    )
        .into_response()
}

/// `GET /v1/ca/ssh-user-keys`: `TrustedUserCAKeys` lines (all unretired keys).
pub(crate) async fn ssh_user_keys(State(st): State<Shared>) -> Result<Response, ApiError> {
    let a = authorities(&st).await?;
    let lines: String = a
        .ssh_user
        .iter()
        .map(|e| format!("{}\n", e.public_text))
        .collect();
    Ok(text(lines, "text/plain; charset=utf-8"))
}

/// `GET /v1/ca/ssh-known-hosts`: `@cert-authority * KEY` lines, then an
/// `@revoked * KEY` line for the key of every revoked host certificate that
/// has not expired (ssh refuses a host whose key, or whose certificate's
/// key, is on such a line, even when a trusted CA signed it).
pub(crate) async fn ssh_known_hosts(State(st): State<Shared>) -> Result<Response, ApiError> {
    let a = authorities(&st).await?;
    let mut lines: String = a
        .ssh_keys(authority::SSH_HOST)
        .iter()
        .map(|k| format!("{}\n", sshca::known_hosts_line(&k.public_key(), "*")))
        .collect();
    let mut c = st.store.pool().acquire().await?;
    for key in certs::revoked_host_keys(&mut c, now()).await? {
        let pk = ssh_key::PublicKey::from_openssh(&key).map_err(ApiError::internal)?;
        let text = pk.to_openssh().map_err(ApiError::internal)?;
        lines.push_str(&format!("@revoked * {text}\n"));
    }
    Ok(text(lines, "text/plain; charset=utf-8"))
}

/// `GET /v1/ca/x509-bundle.pem`: issuing CAs and roots.
pub(crate) async fn x509_bundle(State(st): State<Shared>) -> Result<Response, ApiError> {
    let a = authorities(&st).await?;
    let pem: String = a
        .x509_issuing
        .iter()
        .chain(a.x509_root.iter())
        .map(|e| e.public_text.clone())
        .collect();
    Ok(text(pem, "application/x-pem-file"))
}

/// `GET /v1/ca/ssh-user.krl`: revoked SSH user certificates as an OpenSSH KRL.
pub(crate) async fn ssh_krl(State(st): State<Shared>) -> Result<Response, ApiError> {
    krl_of(&st, authority::SSH_USER, kind::SSH_USER).await
}

/// `GET /v1/ca/ssh-host.krl`: revoked SSH host certificates as an OpenSSH
/// KRL (for `RevokedHostKeys` in ssh_config).
pub(crate) async fn ssh_host_krl(State(st): State<Shared>) -> Result<Response, ApiError> {
    krl_of(&st, authority::SSH_HOST, kind::SSH_HOST).await
}

async fn krl_of(st: &AppState, authority: &str, cert_kind: &str) -> Result<Response, ApiError> {
    let mut c = st.store.pool().acquire().await?;
    let revoked = certs::revoked(&mut c, cert_kind).await?;
    let t = now();
    let mut krl = ward_pki::krl::Krl::new(
        u64::try_from(t).unwrap_or(0),
        u64::try_from(t).unwrap_or(0),
        &format!("ward {authority} KRL"),
    )
    .map_err(ApiError::internal)?;
    // Revoke each serial under the CA key that signed it (retired keys
    // included, so their certificates stay revoked).
    let keys = crate::store::authority::all_public_keys(&mut c, authority).await?;
    for (serial, ca_key_id, _) in &revoked {
        let Ok(s) = serial.parse::<u64>() else {
            continue;
        };
        if let Some((_, pk)) = keys.iter().find(|(id, _)| id == ca_key_id) {
            krl.revoke_serial(pk, s).map_err(ApiError::internal)?;
        }
    }
    let bytes = krl.to_bytes().map_err(ApiError::internal)?;
    Ok((
        [
            ("content-type", "application/octet-stream"),
            ("cache-control", "max-age=30"),
        ],
        bytes,
    )
        .into_response())
}

/// One CRL per unretired X.509 CA key: each issuing key's lists the
/// revoked client certificates it signed (so certificates of an older
/// issuing key stay checkable after a rotation), each root's lists revoked
/// issuing CAs (none today: retiring an issuing key removes it from the
/// trust bundle instead), so that `openssl verify -crl_check_all` finds a
/// CRL for every CA in the chain. `(key id, signer, revoked)`.
async fn crls(
    st: &AppState,
) -> Result<Vec<(String, x509::CaSigner, Vec<([u8; 16], i64)>)>, ApiError> {
    let a = authorities(st).await?;
    let mut c = st.store.pool().acquire().await?;
    let revoked = certs::revoked(&mut c, kind::X509_CLIENT).await?;
    let mut out = Vec::new();
    for e in a.x509_issuing.iter().chain(a.x509_root.iter()) {
        let Signer::X509(ca) = &e.signer else {
            return Err(ApiError::internal(
                "an X.509 authority holds a non-X.509 key",
            ));
        };
        let signer = x509::CaSigner::new(ca).map_err(ApiError::internal)?;
        let mine: Vec<([u8; 16], i64)> = revoked
            .iter()
            .filter(|(_, key, _)| *key == e.id)
            .filter_map(|(s, _, at)| x509::parse_serial_hex(s).ok().map(|b| (b, *at)))
            .collect();
        out.push((e.id.clone(), signer, mine));
    }
    Ok(out)
}

/// `GET /v1/ca/x509.crl`: every CRL (see [`crls`]) as one PEM file, for
/// `openssl verify -CRLfile` and `ward x509 crl`.
pub(crate) async fn x509_crl(State(st): State<Shared>) -> Result<Response, ApiError> {
    let t = now();
    let mut pem = String::new();
    for (_, signer, revoked) in crls(&st).await? {
        pem.push_str(
            &signer
                .crl_pem(&revoked, u64::try_from(t).unwrap_or(0), t, t + 86_400)
                .map_err(ApiError::internal)?,
        );
    }
    Ok(text(pem, "application/x-pem-file"))
}

/// `GET /v1/ca/x509-crls/{key id}`: one CA key's CRL, DER
/// (`application/pkix-crl`, RFC 5280's distribution point format).
pub(crate) async fn x509_crl_der(
    State(st): State<Shared>,
    P(id): P<String>,
) -> Result<Response, ApiError> {
    let t = now();
    let Some((_, signer, revoked)) = crls(&st).await?.into_iter().find(|(k, _, _)| *k == id) else {
        return Err(ApiError::no_such("CA key", &id));
    };
    let der = signer
        .crl_der(&revoked, u64::try_from(t).unwrap_or(0), t, t + 86_400)
        .map_err(ApiError::internal)?;
    Ok((
        [
            ("content-type", "application/pkix-crl"),
            ("cache-control", "max-age=60"),
        ],
        der,
    )
        .into_response())
}
