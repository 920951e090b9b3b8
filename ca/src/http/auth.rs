//! Authentication: who is calling. SigV4 (header or presigned query) with a
//! long-term `AKIA…` key, a temporary `ASIA…` key plus session token, or a
//! bearer session token from password login, or a client certificate.
//! Every user credential is refused while the user is disabled
//! (`UserDisabled`, 403). Failures use AWS's error
//! names and are audited; secrets are compared in constant time (inside the
//! SigV4 verifier and here for session tokens).
//!
//! Failures are audited through [`crate::failures`]: bounded fields, the
//! first failure per source and code per window recorded, the rest counted
//! into one aggregate event, and a per-source rate limit after which only
//! requests signed with an access key already in memory are verified.

use std::net::IpAddr;
use std::sync::Arc;

use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;
use ward_policy::Principal;

use crate::config::SERVICE;
use crate::crypto::sha256_hex;
use crate::error::ApiError;
use crate::service::authn_failures;
use crate::service::caller::{root_arn, user_arn, Caller, Identity, RoleSession};
use crate::sigv4;
use crate::state::{now, AppState};
use crate::state::{KeyEntry, RoleSessionEntry};
use crate::store::iam::{self, User};

fn deny(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::Unauthenticated {
        code,
        message: message.into(),
        status: StatusCode::FORBIDDEN,
    }
}

/// A host principal may call the host routes (`/v1/host/*`) and nothing
/// else: any other path is refused before a handler runs.
pub fn confine(caller: &Caller, path: &str) -> Result<(), ApiError> {
    use crate::service::caller::{host_route_only, HOST_ROUTES};
    if matches!(caller.identity, Identity::Host(_)) && !path.starts_with(HOST_ROUTES) {
        return Err(host_route_only());
    }
    Ok(())
}

/// Why a request was not authenticated.
#[derive(Debug)]
pub enum Refusal {
    /// Authentication failed (audited).
    Failed(ApiError),
    /// The source is rate-limited for repeated failures: 429 with
    /// `Retry-After` (seconds), not audited individually, counted in
    /// `ward_auth_rate_limited_total`.
    RateLimited(i64),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Failed(e) => e.into_response(),
            Refusal::RateLimited(secs) => authn_failures::throttled(secs),
        }
    }
}

/// Authenticates a request whose body hashed to `body_sha256_hex`
/// (SigV4 scoped to service `ward` in the configured region).
pub async fn authenticate(
    st: &AppState,
    parts: &Parts,
    body_sha256_hex: &str,
    source_ip: IpAddr,
    secure: bool,
) -> Result<Caller, Refusal> {
    let region = st.config.region.clone();
    let scope = Scope {
        region: &region,
        service: SERVICE,
    };
    authenticate_scoped(st, parts, body_sha256_hex, source_ip, secure, scope).await
}

/// The one SigV4 credential scope (region, service) a front end accepts
/// for a request: `ward` in the configured region for `/v1/`; the AWS
/// Query API picks `iam` or `sts` (see `crate::http::query`).
#[derive(Clone, Copy, Debug)]
pub struct Scope<'a> {
    /// The credential-scope region.
    pub region: &'a str,
    /// The credential-scope service.
    pub service: &'a str,
}

/// [`authenticate`] with SigV4 expecting `scope` instead of `ward`'s.
pub async fn authenticate_scoped(
    st: &AppState,
    parts: &Parts,
    body_sha256_hex: &str,
    source_ip: IpAddr,
    secure: bool,
    scope: Scope<'_>,
) -> Result<Caller, Refusal> {
    let t = now();
    if let Some(retry) = st.failures.limited(source_ip, t) {
        // Only a request signed with an access key whose secret is in
        // memory is verified (no store access); anything else, and any
        // failure, is refused without an audit write.
        return match authenticate_inner(st, parts, body_sha256_hex, source_ip, secure, true, scope)
            .await
        {
            Ok(c) => Ok(c),
            Err(_) => {
                st.metrics
                    .auth_rate_limited
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Err(Refusal::RateLimited(retry))
            }
        };
    }
    let result =
        authenticate_inner(st, parts, body_sha256_hex, source_ip, secure, false, scope).await;
    if let Err(e) = &result {
        let claimed = claimed_key(parts).unwrap_or_else(|| "anonymous".into());
        let resource = format!("{} {}", parts.method, parts.uri.path());
        note_failure(st, claimed, &resource, source_ip, e).await;
    }
    result.map_err(Refusal::Failed)
}

pub use crate::service::authn_failures::{note_failure, record_aggregates};

/// Authenticates by client certificate: it must be in the inventory, not
/// revoked, for this trust domain, and its user must still exist.
async fn certificate_caller(
    st: &AppState,
    account: &str,
    leaf: &[u8],
    source_ip: IpAddr,
    secure: bool,
) -> Result<Caller, ApiError> {
    let refused = |why: &str| {
        deny(
            "InvalidClientCertificate",
            format!("the client certificate is not accepted: {why}"),
        )
    };
    let id = ward_pki::x509::parse_client_cert(leaf).map_err(|e| refused(&e.to_string()))?;
    if id.trust_domain != crate::service::certificates::trust_domain(st) {
        return Err(refused("it belongs to another trust domain"));
    }
    if id.kind == ward_pki::x509::SpiffeKind::Role {
        return Err(refused(
            "a role session's certificate does not sign in to ward-ca; use the session's temporary credentials",
        ));
    }
    let mut c = st.store.pool().acquire().await?;
    let rec = crate::store::certs::get(&mut c, &id.serial_hex)
        .await?
        .ok_or_else(|| refused("ward did not issue it"))?;
    if rec.kind != crate::store::certs::kind::X509_CLIENT
        || rec.key_fingerprint != id.public_key_sha256_hex
    {
        return Err(refused("it does not match ward's record"));
    }
    if rec.revoked_at.is_some() {
        return Err(refused("it has been revoked"));
    }
    let t = now();
    if t < rec.valid_after || t >= rec.valid_before {
        return Err(refused("it is expired or not yet valid"));
    }
    if id.kind == ward_pki::x509::SpiffeKind::Host {
        let host = crate::store::host_identity::host_for_cert(&mut c, &rec, &id.user_name)
            .await?
            .map_err(&refused)?;
        let principal = Principal::from_arn(&ward_authz::arn::host(account, &host.name))
            .map_err(ApiError::internal)?;
        return Ok(Caller {
            identity: Identity::Host(host),
            principal,
            auth_method: "certificate",
            source_ip,
            secure,
            access_key_id: None,
            password_change_only: false,
            mfa_authenticated_at: None,
        });
    }
    let user_id = rec.user_id.ok_or_else(|| refused("it names no user"))?;
    let user = iam::user_by_id(&mut c, &user_id)
        .await?
        .ok_or_else(|| refused("its user no longer exists"))?;
    if user.name != id.user_name {
        return Err(refused("its user was renamed"));
    }
    caller_for_user(account, user, "certificate", source_ip, secure, None)
}

/// The access key id a request claims, for audit records of failures.
fn claimed_key(parts: &Parts) -> Option<String> {
    let auth = parts.headers.get("authorization")?.to_str().ok()?;
    let cred = auth.split("Credential=").nth(1)?;
    let id: String = cred
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .take(32)
        .collect();
    (!id.is_empty()).then_some(id)
}

async fn authenticate_inner(
    st: &AppState,
    parts: &Parts,
    body_sha256_hex: &str,
    source_ip: IpAddr,
    secure: bool,
    cached_only: bool,
    scope: Scope<'_>,
) -> Result<Caller, ApiError> {
    // In `cached_only` mode (a rate-limited source) every path that would
    // read the store is refused.
    let needs_store = || deny("Throttling", "rate-limited");
    let account = st.store.account_id().to_owned();
    let auth_header = parts.headers.get("authorization").map(|v| v.as_bytes());
    // A ward-issued client certificate (already chain- and expiry-checked
    // by rustls against the X.509 roots) authenticates a request that
    // carries no other credentials.
    let client_cert = parts
        .extensions
        .get::<crate::conn::ConnInfo>()
        .and_then(|c| c.client_cert_chain_der.clone());
    let query = parts.uri.query().unwrap_or("");
    if auth_header.is_none() && !query.contains("X-Amz-Signature") {
        if let Some(chain) = client_cert {
            if let Some(leaf) = chain.first() {
                if cached_only {
                    return Err(needs_store());
                }
                return certificate_caller(st, &account, leaf, source_ip, secure).await;
            }
        }
    }
    if let Some(token) = auth_header.and_then(|h| h.strip_prefix(b"Bearer ")) {
        if cached_only {
            return Err(needs_store());
        }
        let token = std::str::from_utf8(token).map_err(|_| bad_token())?.trim();
        let mut c = st.store.pool().acquire().await?;
        let hash = sha256_hex(token.as_bytes());
        let Some(s) = iam::session_by_token_hash(&mut c, &hash).await? else {
            // A root session (root's dashboard sign-in): the root caller.
            let r = crate::store::root_login::session_by_token_hash(&mut c, &hash)
                .await?
                .ok_or_else(bad_token)?;
            let caller = root_session_caller(&account, r.clone(), source_ip, secure)?;
            // Root's session list shows when each was last used.
            let t = now();
            if t - r.last_seen >= crate::store::root_login::SEEN_GRANULARITY {
                crate::store::root_login::seen(&mut c, &r.id, t).await?;
            }
            return Ok(caller);
        };
        if s.expires_at <= now() {
            return Err(ApiError::Unauthenticated {
                code: "ExpiredToken",
                message: "the session has expired; log in again".into(),
                status: StatusCode::UNAUTHORIZED,
            });
        }
        return session_caller(&mut c, &account, s, source_ip, secure, bad_token).await;
    }

    let mut headers: Vec<(&str, &[u8])> = parts
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_bytes()))
        .collect();
    // HTTP/2 carries the host in the :authority pseudo-header, which hyper
    // puts in the URI; SigV4 signs it as "host".
    let authority = parts.uri.authority().map(|a| a.as_str().to_owned());
    if !parts.headers.contains_key("host") {
        if let Some(a) = &authority {
            headers.push(("host", a.as_bytes()));
        }
    }
    let req = sigv4::HttpRequest {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers: &headers,
        body_sha256_hex,
    };
    let region = scope.region.to_owned();
    let expect = sigv4::Expect {
        region: &region,
        service: scope.service,
        now_epoch_secs: now(),
        max_skew_secs: 900,
        max_presign_expires_secs: 604_800,
    };
    let claim = sigv4::parse(&req, &expect).map_err(sig_error)?;
    // Presigned URLs are for reads; a mutation must carry its signature in
    // a header, where it is not logged by proxies and browsers.
    if claim.presigned && !matches!(parts.method.as_str(), "GET" | "HEAD") {
        return Err(deny(
            "AccessDenied",
            "presigned URLs are accepted for GET and HEAD only",
        ));
    }
    let key_id = claim.access_key_id.clone();
    let mut c = st.store.pool().acquire().await?;

    if key_id.starts_with("ASIA") {
        let token = claim.session_token.as_deref().unwrap_or("");
        // An authenticated role session is cached at the generation it
        // was read at (any revocation, role deletion or policy change
        // moves it); its token and expiry are checked on every use.
        let gen = st.store.generation_on(&mut c).await?;
        if let Some(e) = st.role_sessions.get(&key_id, gen) {
            st.metrics
                .role_session_cache_hits
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            check_session(&e.session, token)?;
            sigv4::verify(&req, &claim, &e.secret)
                .map_err(|err| mismatch_error(err, &req, &claim))?;
            return role_session_caller(&account, &e.session, e.role.clone(), source_ip, secure);
        }
        if cached_only {
            return Err(needs_store());
        }
        let s = iam::session_by_key(&mut c, &key_id)
            .await?
            .ok_or_else(invalid_key)?;
        check_session(&s, token)?;
        let secret = st
            .master
            .open(&s.secret_sealed, key_id.as_bytes())
            .map_err(ApiError::internal)?;
        sigv4::verify(&req, &claim, &secret).map_err(|e| mismatch_error(e, &req, &claim))?;
        if let Some(role_id) = &s.role_id {
            let role = crate::store::roles::role_by_id(&mut c, role_id)
                .await?
                .ok_or_else(invalid_key)?;
            let caller = role_session_caller(&account, &s, role.clone(), source_ip, secure)?;
            st.role_sessions.put(
                &key_id,
                gen,
                Arc::new(RoleSessionEntry {
                    session: s,
                    role,
                    secret,
                }),
            );
            return Ok(caller);
        }
        return session_caller(&mut c, &account, s, source_ip, secure, invalid_key).await;
    }

    if claim.session_token.is_some() {
        return Err(deny(
            "InvalidClientTokenId",
            "a long-term access key takes no session token",
        ));
    }
    // On the connection this request already holds (never a second one).
    let gen = st.store.generation_on(&mut c).await?;
    let entry = match st.keys.get(&key_id, gen) {
        Some(e) => e,
        None if cached_only => return Err(needs_store()),
        None => {
            let e = Arc::new(load_key(st, &mut c, &key_id).await?);
            st.keys.put(&key_id, gen, e.clone());
            e
        }
    };
    if !entry.active {
        return Err(invalid_key());
    }
    sigv4::verify(&req, &claim, &entry.secret).map_err(|e| mismatch_error(e, &req, &claim))?;
    match &entry.user {
        None => {
            let principal = Principal::from_arn(&root_arn(&account)).map_err(ApiError::internal)?;
            Ok(Caller {
                identity: Identity::Root,
                principal,
                auth_method: "access-key",
                source_ip,
                secure,
                access_key_id: Some(key_id),
                password_change_only: false,
                mfa_authenticated_at: None,
            })
        }
        Some(user) => {
            touch_last_used(st, &mut c, &key_id, &region, scope.service).await;
            caller_for_user(
                &account,
                user.clone(),
                "access-key",
                source_ip,
                secure,
                Some(key_id),
            )
        }
    }
}

/// Reads a root or user access key; unknown keys are `InvalidClientTokenId`.
async fn load_key(
    st: &AppState,
    c: &mut crate::store::Conn,
    key_id: &str,
) -> Result<KeyEntry, ApiError> {
    if let Some((status, sealed)) = iam::root_access_key(c, key_id).await? {
        let secret = st
            .master
            .open(&sealed, key_id.as_bytes())
            .map_err(ApiError::internal)?;
        return Ok(KeyEntry {
            user: None,
            active: status == "Active",
            secret,
        });
    }
    let (key, sealed) = iam::access_key_secret(c, key_id)
        .await?
        .ok_or_else(invalid_key)?;
    let secret = st
        .master
        .open(&sealed, key_id.as_bytes())
        .map_err(ApiError::internal)?;
    let user = iam::user_by_id(c, &key.user_id)
        .await?
        .ok_or_else(invalid_key)?;
    Ok(KeyEntry {
        user: Some(user),
        active: key.status == "Active",
        secret,
    })
}

/// Writes the key's last use at most once a minute per key.
async fn touch_last_used(
    st: &AppState,
    c: &mut crate::store::Conn,
    key_id: &str,
    region: &str,
    service: &str,
) {
    let t = now();
    let due = match st.last_used.lock() {
        Ok(mut m) => {
            let due = m.get(key_id).is_none_or(|&last| t - last >= 60);
            if due {
                m.insert(key_id.to_owned(), t);
            }
            due
        }
        Err(_) => false,
    };
    if due {
        if let Err(e) = iam::touch_access_key(c, key_id, t, region, service).await {
            tracing::warn!(error = %e, "could not record access key use");
        }
    }
}

/// The caller a temporary credential stands for, read from its session
/// row on every request: its user's, or a session of its role. A session
/// whose user or role is gone is `gone()`.
async fn session_caller(
    c: &mut crate::store::Conn,
    account: &str,
    s: iam::Session,
    source_ip: IpAddr,
    secure: bool,
    gone: fn() -> ApiError,
) -> Result<Caller, ApiError> {
    if let Some(role_id) = &s.role_id {
        let role = crate::store::roles::role_by_id(c, role_id)
            .await?
            .ok_or_else(gone)?;
        return role_session_caller(account, &s, role, source_ip, secure);
    }
    let user_id = s.user_id.as_deref().ok_or_else(gone)?;
    let user = iam::user_by_id(c, user_id).await?.ok_or_else(gone)?;
    caller_for_user(
        account,
        user,
        "session",
        source_ip,
        secure,
        Some(s.access_key_id),
    )
    .map(|c| {
        c.with_password_change_only(s.password_change_only)
            .with_mfa(s.mfa_authenticated_at)
    })
}

/// The root caller of a root session (see
/// [`crate::service::root_login`]), unless it has expired.
fn root_session_caller(
    account: &str,
    s: crate::store::root_login::RootSession,
    source_ip: IpAddr,
    secure: bool,
) -> Result<Caller, ApiError> {
    if s.expires_at <= now() {
        return Err(ApiError::Unauthenticated {
            code: "ExpiredToken",
            message: "the session has expired; log in again".into(),
            status: StatusCode::UNAUTHORIZED,
        });
    }
    let principal = Principal::from_arn(&root_arn(account)).map_err(ApiError::internal)?;
    Ok(Caller {
        identity: Identity::Root,
        principal,
        auth_method: "session",
        source_ip,
        secure,
        access_key_id: Some(s.id),
        password_change_only: false,
        mfa_authenticated_at: None,
    })
}

/// A SigV4 request's session token must hash to the session's (compared
/// in constant time), and the session must not have expired.
fn check_session(s: &iam::Session, token: &str) -> Result<(), ApiError> {
    let ok: bool = sha256_hex(token.as_bytes())
        .as_bytes()
        .ct_eq(s.token_hash.as_bytes())
        .into();
    if !ok {
        return Err(deny(
            "InvalidClientTokenId",
            "the security token included in the request is invalid",
        ));
    }
    if s.expires_at <= now() {
        return Err(deny(
            "ExpiredToken",
            "the security token included in the request is expired",
        ));
    }
    Ok(())
}

/// The caller a role session stands for.
fn role_session_caller(
    account: &str,
    s: &iam::Session,
    role: crate::store::roles::Role,
    source_ip: IpAddr,
    secure: bool,
) -> Result<Caller, ApiError> {
    let rs = RoleSession {
        role,
        name: s.session_name.clone(),
        access_key_id: s.access_key_id.clone(),
        issued_at: s.created_at,
        expires_at: s.expires_at,
        policy: s.session_policy.clone(),
        tags: s.session_tags.clone(),
        transitive_tag_keys: s.transitive_tag_keys.clone(),
        source_identity: s.source_identity.clone(),
    };
    let principal = Principal::from_arn(&ward_authz::arn::assumed_role(
        account,
        &rs.role.name,
        &rs.name,
    ))
    .map_err(ApiError::internal)?
    .with_unique_id(rs.assumed_role_id())
    .with_role_id(rs.role.id.clone());
    Ok(Caller {
        access_key_id: Some(rs.access_key_id.clone()),
        identity: Identity::RoleSession(rs),
        principal,
        auth_method: "session",
        source_ip,
        secure,
        password_change_only: false,
        mfa_authenticated_at: s.mfa_authenticated_at,
    })
}

fn caller_for_user(
    account: &str,
    user: User,
    method: &'static str,
    source_ip: IpAddr,
    secure: bool,
    key: Option<String>,
) -> Result<Caller, ApiError> {
    // Every user credential ends here: a disabled user's keys, sessions
    // and certificates are refused (the user row is read at the current
    // generation, so a cached key never outlives a disable).
    if user.disabled_at.is_some() {
        return Err(crate::service::disable::refused(&user));
    }
    let principal = Principal::from_arn(&user_arn(account, &user))
        .map_err(ApiError::internal)?
        .with_unique_id(user.id.clone());
    Ok(Caller {
        identity: Identity::User(user),
        principal,
        auth_method: method,
        source_ip,
        secure,
        access_key_id: key,
        password_change_only: false,
        mfa_authenticated_at: None,
    })
}

fn invalid_key() -> ApiError {
    deny(
        "InvalidClientTokenId",
        "the security token included in the request is invalid",
    )
}

fn bad_token() -> ApiError {
    ApiError::Unauthenticated {
        code: "InvalidToken",
        message: "the session token is invalid".into(),
        status: StatusCode::UNAUTHORIZED,
    }
}

/// A failed signature check. For a wrong signature, the answer carries the
/// canonical request and string to sign ward computed (issue #8 item 11),
/// as AWS's error body does, so that a caller sees e.g. that its signer
/// left the query unsorted or unencoded. Both are built from the request as
/// received (nothing the caller did not send, apart from the date scope);
/// session tokens in them are redacted, and the secret and signing key
/// never appear.
fn mismatch_error(
    e: sigv4::SigV4Error,
    req: &sigv4::HttpRequest<'_>,
    claim: &sigv4::Claim,
) -> ApiError {
    if e.code() != "SignatureDoesNotMatch" {
        return sig_error(e);
    }
    let Ok(creq) = sigv4::canonical_request(req, claim) else {
        return sig_error(e);
    };
    let string_to_sign = sigv4::string_to_sign(claim, &creq);
    ApiError::SignatureMismatch {
        message: format!(
            "{} The canonical request and string to sign ward computed are in \
             canonicalRequest and stringToSign: compare them with your signer's \
             (the query must be sorted by name and percent-encoded).",
            e.message()
        ),
        canonical_request: redact_tokens(&String::from_utf8_lossy(&creq)),
        string_to_sign,
    }
}

/// The canonical request with the values of `x-amz-security-token` (signed
/// header) and `X-Amz-Security-Token` (presigned query) replaced.
fn redact_tokens(creq: &str) -> String {
    const REDACTED: &str = "REDACTED";
    creq.split('\n')
        .enumerate()
        .map(|(i, line)| {
            if line.starts_with("x-amz-security-token:") {
                format!("x-amz-security-token:{REDACTED}")
            } else if i == 2 {
                // The canonical query string.
                line.split('&')
                    .map(|pair| match pair.split_once('=') {
                        Some((k, _)) if k == "X-Amz-Security-Token" => format!("{k}={REDACTED}"),
                        _ => pair.to_owned(),
                    })
                    .collect::<Vec<_>>()
                    .join("&")
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn sig_error(e: sigv4::SigV4Error) -> ApiError {
    // AWS's statuses: malformed or out-of-window signatures are the
    // client's bad request (400); a wrong key or signature is 403; no
    // credentials at all is 401 here (AWS says 403) so HTTP clients prompt.
    let status = match e.code() {
        "MissingAuthenticationToken" => StatusCode::UNAUTHORIZED,
        "IncompleteSignature" | "InvalidSignatureException" | "RequestExpired" => {
            StatusCode::BAD_REQUEST
        }
        _ => StatusCode::FORBIDDEN,
    };
    ApiError::Unauthenticated {
        code: e.code(),
        message: e.message(),
        status,
    }
}

#[cfg(test)]
mod tests {
    use super::redact_tokens;

    #[test]
    fn session_tokens_are_redacted_from_canonical_requests() {
        let creq = "GET\n/v1/whoami\nX-Amz-Credential=ASIA%2Fx&X-Amz-Security-Token=sekrit&a=1\n\
                    host:h\nx-amz-security-token:sekrit\n\nhost;x-amz-security-token\nUNSIGNED-PAYLOAD";
        let out = redact_tokens(creq);
        assert!(!out.contains("sekrit"), "{out}");
        assert!(out.contains("X-Amz-Security-Token=REDACTED&a=1"), "{out}");
        assert!(out.contains("\nx-amz-security-token:REDACTED\n"), "{out}");
        assert!(out.contains("\nhost:h\n"), "{out}");
    }
}
