//! Host enrolment and host identity (issue #11): one-time join tokens
//! (`POST /v1/hosts/{name}/join-tokens`, `host:RegisterHost`), the
//! unauthenticated `POST /v1/host/join` where the token is the credential,
//! `POST /v1/host/renew` for an enrolled host, and the host principal that
//! http's `auth` makes of a `spiffe://TD/host/NAME` client certificate
//! (SQL: [`crate::store::host_identity`]).
//!
//! A token is `wjt_` + 32 random bytes (base64url); only its SHA-256 is
//! stored. It is consumed (`used_at`) in the same transaction that
//! registers or updates the host and records both certificates, so a
//! replay, an expired token or any failure writes nothing. Failed joins
//! count in the per-source failure table like bad signatures
//! ([`crate::service::authn_failures::note_failure`]) and are throttled the same way.
//!
//! The host's X.509 certificate and SSH host certificate are recorded in
//! the inventory with the host id as subject and no user, so
//! deregistration ([`crate::store::certs::revoke_host`]) revokes both, and
//! authentication refuses a certificate whose host is gone.

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use base64::Engine;
use rand::RngCore;
use subtle::ConstantTimeEq;
use ward_authz::context;
use ward_authz::names::host_name;
use ward_pki::{sshca, x509};
use ward_protocol::api::Tag;
use ward_protocol::host::{
    CreateJoinToken, JoinRequest, JoinResponse, JoinToken, RenewRequest, KIND_GATEWAY, KIND_HOST,
};

use crate::crypto::{self, sha256_hex};
use crate::error::ApiError;
use crate::service::authn_failures;
use crate::service::authz::{authorize, system_grant};
use crate::service::caller::{require_host, Caller};
use crate::service::certificates::{authorities, sign_x509, trust_domain};
use crate::service::hosts::{self as hosts_api, check_tags};
use crate::service::request::{body, commit, read_body, rfc3339, P};
use crate::state::{now, AppState, Shared};
use crate::store::certs::{self, CertRecord};
use crate::store::host_identity::{self, JoinTokenRow, NewJoinToken};
use crate::store::hosts::{self, HostRow};
use crate::store::AuditEvent;

/// Join token prefix.
const TOKEN_PREFIX: &str = "wjt_";
/// Join token lifetimes (seconds): default, least, most.
const TOKEN_DEFAULT_TTL: u64 = 3600;
const TOKEN_MIN_TTL: u64 = 60;
const TOKEN_MAX_TTL: u64 = 7 * 86_400;
/// Lifetime of a host's X.509 and SSH host certificates (renewed by the
/// agent well before).
const HOST_CERT_TTL: i64 = 30 * 86_400;
/// Longest SSH host public key line accepted.
const MAX_SSH_KEY_LEN: usize = 8 * 1024;
/// Largest join/renew body.
const MAX_JOIN_BODY: usize = 64 * 1024;

fn host_arn(st: &AppState, name: &str) -> String {
    ward_authz::arn::host(st.store.account_id(), name)
}

/// `POST /v1/hosts/{name}/join-tokens`.
pub(crate) async fn create_token(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
    b: Bytes,
) -> Result<(StatusCode, Json<JoinToken>), ApiError> {
    let req: CreateJoinToken = body(&b)?;
    host_name("name", &name, false)?;
    let ttl = match req.ttl_seconds {
        None => TOKEN_DEFAULT_TTL,
        Some(v) if (TOKEN_MIN_TTL..=TOKEN_MAX_TTL).contains(&v) => v,
        Some(v) => {
            return Err(ApiError::invalid(
                "ttlSeconds",
                format!(
                    "ttlSeconds {v} must be between {TOKEN_MIN_TTL} and {TOKEN_MAX_TTL} (7 days)"
                ),
            ))
        }
    };
    check_tags(&req.tags)?;
    // The tags the host gets are request tags of RegisterHost, as for
    // `POST /v1/hosts`, so a tagging guard-rail holds for tokens too.
    let pairs: Vec<(String, String)> = req
        .tags
        .iter()
        .map(|t| (t.key.clone(), t.value.clone()))
        .collect();
    let owned = context::request_tags(&pairs);
    let g = authorize(
        &st,
        &caller,
        "host:RegisterHost",
        &host_arn(&st, &name),
        &context::refs(&owned),
    )
    .await?;
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let token = format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    );
    let t = now();
    let expires = t.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX));
    // Creating a token changes nothing a host syncs.
    let mut m = st.store.mutation(&g).await?.without_iam_change();
    host_identity::insert_join_token(
        &mut m.tx,
        &NewJoinToken {
            token_hash: &sha256_hex(token.as_bytes()),
            host_name: &name,
            tags: &req.tags,
            created_at: t,
            expires_at: expires,
            created_by: caller.arn(),
            kind: if req.gateway { KIND_GATEWAY } else { KIND_HOST },
        },
    )
    .await?;
    commit(
        m,
        &caller,
        &g,
        serde_json::json!({"host": name, "expiresAt": rfc3339(expires), "gateway": req.gateway}),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(JoinToken {
            host_name: name,
            token,
            expires_at: rfc3339(expires),
        }),
    ))
}

/// Why a join failed: the credential (counted as a failed authentication)
/// or anything else.
enum JoinError {
    Credential(ApiError),
    Other(ApiError),
}

impl From<ApiError> for JoinError {
    fn from(e: ApiError) -> JoinError {
        JoinError::Other(e)
    }
}

fn bad_token(message: &str) -> JoinError {
    JoinError::Credential(ApiError::Unauthenticated {
        code: "InvalidJoinToken",
        message: message.into(),
        status: StatusCode::UNAUTHORIZED,
    })
}

/// `POST /v1/host/join` (no authentication: the token is the credential).
pub(crate) async fn join(State(st): State<Shared>, req: Request) -> Response {
    let (parts, b) = req.into_parts();
    let ip = parts
        .extensions
        .get::<crate::conn::ConnInfo>()
        .map(|c| c.remote.ip())
        .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
    // The body (at most 64 KiB) is read before a rate-limited source is
    // refused, as the authentication middleware does: an HTTP/2 stream
    // answered while its body is still arriving is reset, and the client
    // saw a framing error instead of the 429.
    let bytes = match read_body(b, MAX_JOIN_BODY).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    if let Some(retry) = st.failures.limited(ip, now()) {
        st.metrics
            .auth_rate_limited
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return authn_failures::throttled(retry);
    }
    let req: JoinRequest = match body(&bytes) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    match join_inner(&st, &req, ip).await {
        Ok(r) => (StatusCode::CREATED, Json(r)).into_response(),
        Err(JoinError::Other(e)) => e.into_response(),
        Err(JoinError::Credential(e)) => {
            authn_failures::note_failure(&st, "join-token".into(), "POST /v1/host/join", ip, &e)
                .await;
            e.into_response()
        }
    }
}

/// The stored join token `token` names, if it is well formed and known.
async fn find_token(st: &AppState, token: &str) -> Result<Option<JoinTokenRow>, ApiError> {
    let well_formed = token.len() == TOKEN_PREFIX.len() + 43
        && token.starts_with(TOKEN_PREFIX)
        && token[TOKEN_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
        return Ok(None);
    }
    let hash = sha256_hex(token.as_bytes());
    let mut c = st.store.pool().acquire().await?;
    let Some(r) = host_identity::find_join_token(&mut c, &hash).await? else {
        return Ok(None);
    };
    if !bool::from(r.token_hash.as_bytes().ct_eq(hash.as_bytes())) {
        return Ok(None);
    }
    Ok(Some(r))
}

/// Checks the CSR (its only allowed requested name is the host's own
/// SPIFFE ID) and the SSH host key; refusals name the field.
fn check_keys(
    st: &AppState,
    name: &str,
    csr_pem: &str,
    ssh_key_line: &str,
) -> Result<(x509::CheckedCsr, ssh_key::PublicKey), JoinError> {
    if csr_pem.len() > x509::MAX_CSR_PEM_LEN {
        return Err(ApiError::invalid("csrPem", "the CSR is larger than 16 KiB").into());
    }
    let own = x509::host_spiffe_id(&trust_domain(st), name);
    let csr = x509::check_csr_allowing_uri(csr_pem, &own).map_err(|e| match e {
        x509::X509Error::CsrRequestsNames(_) => JoinError::Credential(ApiError::Denied {
            message: format!(
                "csrPem: {e}; a host may name only itself ({own}) in its CSR, and this token enrols {name}"
            ),
        }),
        e if e.is_bad_input() => ApiError::invalid("csrPem", e.to_string()).into(),
        e => ApiError::internal(e).into(),
    })?;
    if ssh_key_line.len() > MAX_SSH_KEY_LEN {
        return Err(ApiError::invalid(
            "sshHostPublicKey",
            format!("the SSH host public key is longer than {MAX_SSH_KEY_LEN} bytes"),
        )
        .into());
    }
    let key = sshca::parse_public_key(ssh_key_line)
        .map_err(|e| ApiError::invalid("sshHostPublicKey", e.to_string()))?;
    Ok((csr, key))
}

/// Both certificates for a host, signed (not yet recorded).
struct Issued {
    x509: CertRecord,
    ssh: CertRecord,
    certificate_pem: String,
    expires_at: i64,
    ssh_line: String,
}

async fn issue(
    st: &AppState,
    host_id: &str,
    name: &str,
    principals: &[String],
    csr: &x509::CheckedCsr,
    key: &ssh_key::PublicKey,
) -> Result<Issued, ApiError> {
    let auth = authorities(st).await?;
    let (leaf, issuing_id, chain) = sign_x509(
        st,
        &auth,
        csr,
        name,
        crate::service::certificates::Lifetime::of(HOST_CERT_TTL),
        x509::SpiffeKind::Host,
        "csrPem",
    )?;
    let (ssh_text, ssh) = hosts_api::sign_host_key(
        &auth,
        key,
        host_id,
        principals,
        HOST_CERT_TTL,
        "sshHostPublicKey",
    )?;
    let x509 = CertRecord {
        serial: leaf.serial_hex.clone(),
        kind: certs::kind::X509_CLIENT.into(),
        user_id: None,
        subject: host_id.to_owned(),
        key_fingerprint: leaf.public_key_sha256_hex.clone(),
        ca_key_id: issuing_id,
        principals: serde_json::to_string(&[name]).unwrap_or_default(),
        valid_after: leaf.not_before,
        valid_before: leaf.not_after,
        issued_at: now(),
        revoked_at: None,
        public_key: None,
        gateway: None,
    };
    Ok(Issued {
        x509,
        ssh,
        certificate_pem: format!("{}{chain}", leaf.cert_pem),
        expires_at: leaf.not_after,
        ssh_line: format!("{ssh_text} {name}"),
    })
}

async fn record_certs(c: &mut crate::store::Conn, issued: &Issued) -> Result<(), ApiError> {
    for rec in [&issued.x509, &issued.ssh] {
        if !certs::insert(c, rec).await? {
            return Err(ApiError::Conflict {
                code: "ConcurrentModification",
                message: "a certificate serial was drawn twice; retry".into(),
            });
        }
    }
    Ok(())
}

async fn response(st: &AppState, name: &str, issued: Issued) -> Result<JoinResponse, ApiError> {
    let auth = authorities(st).await?;
    let ca_bundle_pem: String = auth
        .x509_issuing
        .iter()
        .chain(auth.x509_root.iter())
        .map(|e| e.public_text.clone())
        .collect();
    Ok(JoinResponse {
        host_name: name.to_owned(),
        host_arn: host_arn(st, name),
        account: st.store.account_id().to_owned(),
        trust_domain: trust_domain(st),
        certificate_pem: issued.certificate_pem,
        certificate_expires_at: rfc3339(issued.expires_at),
        ca_bundle_pem,
        ssh_host_certificate: issued.ssh_line,
        ssh_user_ca_keys: auth
            .ssh_user
            .iter()
            .map(|e| e.public_text.clone())
            .collect(),
    })
}

async fn join_inner(
    st: &AppState,
    req: &JoinRequest,
    ip: std::net::IpAddr,
) -> Result<JoinResponse, JoinError> {
    let t = now();
    let tok = find_token(st, &req.token).await?;
    let tok =
        match tok {
            None => return Err(bad_token("the join token is not valid")),
            Some(r) if r.used => return Err(bad_token(
                "the join token has already been used; ask for a new one (ward host join-token)",
            )),
            Some(r) if r.expires_at <= t => {
                return Err(bad_token(
                    "the join token has expired; ask for a new one (ward host join-token)",
                ))
            }
            Some(r) => r,
        };
    let name = tok.host_name.clone();
    let (csr, key) = check_keys(st, &name, &req.csr_pem, &req.ssh_host_public_key)?;
    // The host as registered now (an administrator may have registered it
    // with aliases); its id and names go into the SSH host certificate.
    let existing = {
        let mut c = st.store.pool().acquire().await.map_err(ApiError::from)?;
        hosts::find(&mut c, &name).await?
    };
    let host_id = existing
        .as_ref()
        .map(|h| h.id.clone())
        .unwrap_or_else(|| crypto::unique_id("AHOA"));
    let principals: Vec<String> = match &existing {
        Some(h) => std::iter::once(h.name.clone())
            .chain(h.aliases.iter().cloned())
            .collect(),
        None => vec![name.clone()],
    };
    let issued = issue(st, &host_id, &name, &principals, &csr, &key).await?;
    let arn = host_arn(st, &name);
    let g = system_grant("host:Join", &arn);
    let mut m = st.store.mutation(&g).await?;
    // Consume the token first: of two racing joins with one token, exactly
    // one gets the row; the other writes nothing.
    if !host_identity::consume_join_token(&mut m.tx, &sha256_hex(req.token.as_bytes()), t).await? {
        return Err(bad_token(
            "the join token has already been used; ask for a new one (ward host join-token)",
        ));
    }
    let now_host = hosts::find(&mut m.tx, &name).await?;
    let mut revoked = Vec::new();
    match now_host {
        None if existing.is_some() => {
            return Err(ApiError::Conflict {
                code: "ConcurrentModification",
                message: format!("host {name} was deregistered during the join; retry"),
            }
            .into())
        }
        None => {
            hosts::insert(
                &mut m.tx,
                &HostRow {
                    id: host_id.clone(),
                    name: name.clone(),
                    aliases: Vec::new(),
                    tags: tok.tags.clone(),
                    created_at: t,
                },
            )
            .await?;
        }
        Some(h) => {
            if h.id != host_id || h.aliases.len() + 1 != principals.len() {
                return Err(ApiError::Conflict {
                    code: "ConcurrentModification",
                    message: format!("host {name} changed during the join; retry"),
                }
                .into());
            }
            // The token's tags win over the registered ones, key by key.
            let mut tags: Vec<Tag> = h
                .tags
                .iter()
                .filter(|old| {
                    !tok.tags
                        .iter()
                        .any(|n| n.key.eq_ignore_ascii_case(&old.key))
                })
                .cloned()
                .collect();
            tags.extend(tok.tags.iter().cloned());
            hosts::set_tags(&mut m.tx, &h.id, &tags).await?;
            // A re-join replaces the host's identity: what it held before
            // (perhaps on a lost or compromised machine) stops working.
            revoked = certs::revoke_host(&mut m.tx, &h.id, t, "host joined again").await?;
        }
    }
    record_certs(&mut m.tx, &issued).await?;
    host_identity::forget(&mut m.tx, &host_id).await?;
    host_identity::insert_identity(
        &mut m.tx,
        &host_id,
        &issued.x509.serial,
        &issued.ssh.serial,
        t,
        &tok.kind,
    )
    .await?;
    let ev = AuditEvent {
        at: t,
        principal: arn.clone(),
        action: "host:Join".into(),
        resource: arn,
        decision: "Allowed".into(),
        source_ip: ip.to_string(),
        detail: serde_json::json!({
            "hostId": host_id,
            "x509Serial": issued.x509.serial,
            "sshSerial": issued.ssh.serial,
            "revokedSerials": revoked,
        }),
    };
    m.commit(&ev).await?;
    Ok(response(st, &name, issued).await?)
}

/// `POST /v1/host/renew`: fresh certificates for the calling host's own
/// name (its previous ones stay valid until they expire).
pub(crate) async fn renew(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    b: Bytes,
) -> Result<(StatusCode, Json<JoinResponse>), ApiError> {
    let host = require_host(&caller)?.clone();
    let req: RenewRequest = body(&b)?;
    let (csr, key) = match check_keys(&st, &host.name, &req.csr_pem, &req.ssh_host_public_key) {
        Ok(k) => k,
        Err(JoinError::Credential(e) | JoinError::Other(e)) => return Err(e),
    };
    let principals: Vec<String> = {
        let mut c = st.store.pool().acquire().await?;
        let h = hosts::find(&mut c, &host.name)
            .await?
            .filter(|h| h.id == host.id)
            .ok_or_else(|| ApiError::no_such("host", &host.name))?;
        std::iter::once(h.name).chain(h.aliases).collect()
    };
    let issued = issue(&st, &host.id, &host.name, &principals, &csr, &key).await?;
    let arn = host_arn(&st, &host.name);
    let g = system_grant("host:Renew", &arn);
    // New certificates change nothing a host syncs.
    let mut m = st.store.mutation(&g).await?.without_iam_change();
    if !host_identity::host_exists(&mut m.tx, &host.id).await? {
        return Err(ApiError::no_such("host", &host.name));
    }
    record_certs(&mut m.tx, &issued).await?;
    let t = now();
    host_identity::renewed(
        &mut m.tx,
        &host.id,
        &issued.x509.serial,
        &issued.ssh.serial,
        t,
    )
    .await?;
    let ev = AuditEvent {
        at: t,
        principal: arn.clone(),
        action: "host:Renew".into(),
        resource: arn,
        decision: "Allowed".into(),
        source_ip: caller.source_ip.to_string(),
        detail: serde_json::json!({
            "hostId": host.id,
            "x509Serial": issued.x509.serial,
            "sshSerial": issued.ssh.serial,
        }),
    };
    m.commit(&ev).await?;
    Ok((
        StatusCode::CREATED,
        Json(response(&st, &host.name, issued).await?),
    ))
}
