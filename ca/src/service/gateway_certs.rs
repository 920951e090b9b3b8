//! `POST /v1/host/gateway/session-certificate` (issue #13, terminating
//! mode): a one-session SSH user certificate for a ward-gateway, so that it
//! can log into a target's sshd on behalf of a user it has just
//! authenticated.
//!
//! The gateway's word is not trusted alone: only a caller whose enrolled
//! identity is a gateway (`host_identity.kind`) may ask; ward-ca re-decides
//! `host:Login` for (user, target, account) from current policy with the
//! facts the gateway reports (`host:Service` = `gateway`, the client's
//! address, the authentication method) and refuses unknown and disabled
//! users. A reported MFA time (`mfaAuthenticatedAt`) must be one at which
//! this very gateway had a code of the user's device checked
//! (`mfa::checked_at`). The certificate lives at most
//! [`GATEWAY_SESSION_TTL`] seconds, is pinned with `source-address` to the
//! gateway's address as ward-ca sees it (the mTLS peer), carries no
//! forwarding extensions, and is recorded in the inventory naming both the
//! user (`user_id`, key id) and the gateway (`gateway`), with its audit
//! event, before it is handed out.
//!
//! Key id and principals follow ward's user certificates (key id = the
//! user's id; principals = the account and the user's name) so that a
//! target run by ward-agent checks and decides it like any ward
//! certificate; a stock sshd needs the account among the principals.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use rand::RngCore;
use ward_authz::RequestFacts;
use ward_policy::{ContextValue, Principal, Request};
use ward_protocol::host::{
    GatewaySessionCertificate, GatewaySessionCertificateRequest, EVENT_GATEWAY_SESSION_CERTIFICATE,
    GATEWAY_SESSION_TTL, KIND_GATEWAY,
};

use crate::error::ApiError;
use crate::service::authz::{load_effective, system_grant};
use crate::service::caller::{require_host, user_arn, Caller};
use crate::service::certificates::authorities;
use crate::service::mfa::Claim;
use crate::state::{now, AppState, Shared};
use crate::store::authority::{self, Signer};
use crate::store::certs::{self, kind, CertRecord};
use crate::store::{host_registry, hosts, iam, AuditEvent};
use ward_pki::sshca;

/// Longest account name accepted (as ward-agent's `account_ok`).
const MAX_ACCOUNT: usize = 64;
/// Longest target name accepted.
const MAX_TARGET: usize = 253;
/// Backdating of valid-after, for clock skew.
const BACKDATE: i64 = 30;
/// The authentication methods a gateway may report.
const METHODS: &[&str] = &["ssh-certificate", "ssh-key", "password"];
/// The audit reason of an `mfaAuthenticatedAt` no code check matches.
const NO_MFA_CHECK: &str = "no MFA check at mfaAuthenticatedAt";
/// The audit reason of an `mfaAuthenticatedAt` whose code another host
/// checked.
const MFA_CHECKED_ELSEWHERE: &str = "MFA code at mfaAuthenticatedAt checked by another host";

/// A local account name: 1–64 of `[A-Za-z0-9_.-]` (a trailing `$`
/// allowed), not starting with `-`.
fn account(field: &str, s: &str) -> Result<(), ApiError> {
    let body = s.strip_suffix('$').unwrap_or(s);
    let ok = !body.is_empty()
        && s.len() <= MAX_ACCOUNT
        && !body.starts_with('-')
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            field,
            format!(
                "{field} must be 1 to {MAX_ACCOUNT} of A-Z a-z 0-9 _ . - (not starting with -)"
            ),
        ))
    }
}

fn user_id(field: &str, s: &str) -> Result<(), ApiError> {
    let ok = s.len() > 4
        && s.len() <= 128
        && s.starts_with("AIDA")
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            field,
            format!("{field} is not a ward user id"),
        ))
    }
}

/// The audit event of a refusal or an issue, naming the user, the
/// account and the gateway.
fn event(caller: &Caller, resource: &str, decision: &str, detail: serde_json::Value) -> AuditEvent {
    AuditEvent {
        at: now(),
        principal: caller.arn().to_owned(),
        action: EVENT_GATEWAY_SESSION_CERTIFICATE.to_owned(),
        resource: resource.to_owned(),
        decision: decision.to_owned(),
        source_ip: caller.source_ip.to_string(),
        detail,
    }
}

async fn refuse(
    st: &AppState,
    ev: AuditEvent,
    message: String,
) -> Result<(StatusCode, Json<GatewaySessionCertificate>), ApiError> {
    st.store.record(&ev).await?;
    Err(ApiError::Denied { message })
}

/// `POST /v1/host/gateway/session-certificate`.
pub(crate) async fn issue(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    b: Bytes,
) -> Result<(StatusCode, Json<GatewaySessionCertificate>), ApiError> {
    let host = require_host(&caller)?.clone();
    {
        let mut c = st.store.pool().acquire().await?;
        if host_registry::kind(&mut c, &host.id).await?.as_deref() != Some(KIND_GATEWAY) {
            return Err(ApiError::Denied {
                message: format!(
                    "{} is not enrolled as a gateway: only a gateway may ask for a one-session certificate",
                    host.name
                ),
            });
        }
    }
    let req: GatewaySessionCertificateRequest = crate::service::request::body(&b)?;
    user_id("userId", &req.user_id)?;
    account("account", &req.account)?;
    if req.target.is_empty()
        || req.target.len() > MAX_TARGET
        || !req.target.bytes().all(|x| x.is_ascii_graphic())
    {
        return Err(ApiError::invalid(
            "target",
            format!("target must be 1 to {MAX_TARGET} printable ASCII characters"),
        ));
    }
    let client: std::net::IpAddr = req
        .source_ip
        .parse()
        .map_err(|_| ApiError::invalid("sourceIp", "sourceIp must be an IPv4 or IPv6 address"))?;
    let Some(method) = METHODS.iter().copied().find(|m| *m == req.auth_method) else {
        return Err(ApiError::invalid(
            "authMethod",
            format!("authMethod must be one of {}", METHODS.join(", ")),
        ));
    };
    let key = sshca::parse_public_key(&req.public_key)
        .map_err(|e| ApiError::invalid("publicKey", e.to_string()))?;

    let account_id = st.store.account_id().to_owned();
    let (user, target) = {
        let mut c = st.store.pool().acquire().await?;
        (
            iam::user_by_id(&mut c, &req.user_id).await?,
            hosts::find(&mut c, &req.target).await?,
        )
    };
    let Some(target) = target else {
        return Err(ApiError::invalid(
            "target",
            format!("{} is not a host registered with ward", req.target),
        ));
    };
    let resource = ward_authz::arn::host(&account_id, &target.name);
    let base = serde_json::json!({
        "gateway": host.name,
        "userId": req.user_id,
        "account": req.account,
        "target": target.name,
        "clientIp": client.to_string(),
    });
    let Some(user) = user else {
        let mut d = base;
        d["reason"] = "unknown user".into();
        return refuse(
            &st,
            event(&caller, &resource, "Denied", d),
            format!("{} is not a ward user", req.user_id),
        )
        .await;
    };
    if user.disabled_at.is_some() {
        let mut d = base;
        d["reason"] = "user disabled".into();
        return refuse(
            &st,
            event(&caller, &resource, "Denied", d),
            format!("ward user {} is disabled", user.name),
        )
        .await;
    }

    // An MFA check the gateway reports: this gateway must have had a code
    // of the user's device checked at that very time (a gateway cannot
    // make one up, nor borrow one another host or the API checked).
    let t = now();
    if let Some(at) = req.mfa_authenticated_at {
        let (reason, message) =
            match crate::service::mfa::checked_at(&st, &user, &host.id, at, t).await? {
                Claim::Checked => (None, String::new()),
                Claim::NoCheck => (
                    Some(NO_MFA_CHECK),
                    format!(
                        "mfaAuthenticatedAt {at}: ward user {}'s MFA device accepted no code then",
                        user.name
                    ),
                ),
                Claim::OtherHost => (
                    Some(MFA_CHECKED_ELSEWHERE),
                    format!(
                        "mfaAuthenticatedAt {at}: the MFA code ward user {} gave then was checked by another host, not by {}",
                        user.name, host.name
                    ),
                ),
            };
        if let Some(reason) = reason {
            let mut d = base;
            d["reason"] = reason.into();
            return refuse(&st, event(&caller, &resource, "Denied", d), message).await;
        }
    }

    // host:Login, decided here from current policy.
    let eff = load_effective(&st, &user).await?;
    let facts = RequestFacts {
        source_ip: Some(client),
        now: t,
        secure_transport: true,
        auth_method: method,
        mfa_authenticated_at: req.mfa_authenticated_at,
        principal_tags: &eff.tags,
    };
    let mut extra: ward_authz::context::Entries = vec![
        (
            "host:Principal".into(),
            ContextValue::from(req.account.as_str()),
        ),
        ("host:Service".into(), ContextValue::from("gateway")),
        (
            ward_authz::context::keys::HOST_NAME.into(),
            ContextValue::from(target.name.as_str()),
        ),
    ];
    extra.extend(ward_authz::context::resource_tags(
        target
            .tags
            .iter()
            .map(|t| (t.key.as_str(), t.value.as_str())),
    ));
    let action = "host:Login";
    let ctx = ward_authz::context(action, &facts, &ward_authz::context::refs(&extra));
    let arn = user_arn(&account_id, &user);
    let principal = Principal::from_arn(&arn)
        .map_err(|e| ApiError::internal(format!("bad principal {arn}: {e:?}")))?
        .with_unique_id(user.id.clone());
    let assembled = eff.policies.assemble();
    let d = ward_authz::decide(
        &assembled.set(),
        &Request::new(principal, action, &resource, ctx),
    );
    if !d.allowed {
        let message = d
            .explanation
            .map(|w| w.message)
            .unwrap_or_else(|| "host:Login is not allowed".into());
        let mut det = base;
        det["reason"] = message.clone().into();
        return refuse(
            &st,
            event(&caller, &resource, "Denied", det),
            format!("host:Login denied: {message}"),
        )
        .await;
    }

    let auth = authorities(&st).await?;
    let signing = auth.signing(authority::SSH_USER)?;
    let Signer::Ssh(ca) = &signing.signer else {
        return Err(ApiError::internal("ssh-user authority holds a non-SSH key"));
    };
    let (valid_after, valid_before) = (t - BACKDATE, t + GATEWAY_SESSION_TTL);
    let mut principals = vec![req.account.clone()];
    if user.name != req.account {
        principals.push(user.name.clone());
    }
    // The gateway's address as ward-ca sees it: the mTLS peer.
    let source = caller.source_ip.to_canonical().to_string();
    let sources = [source.clone()];
    let serial = rand::rngs::OsRng.next_u64().max(1);
    let cert = sshca::sign_user_cert(
        ca,
        &sshca::UserCertRequest {
            public_key: &key,
            serial,
            key_id: &user.id,
            principals: &principals,
            valid_after: u64::try_from(valid_after).unwrap_or(0),
            valid_before: u64::try_from(valid_before).unwrap_or(0),
            permit_pty: true,
            permit_port_forwarding: false,
            permit_agent_forwarding: false,
            permit_x11_forwarding: false,
            permit_user_rc: false,
            source_addresses: Some(&sources),
        },
    )
    .map_err(|e| ApiError::invalid(e.field().unwrap_or("publicKey"), e.to_string()))?;
    let fingerprint = key.fingerprint(ssh_key::HashAlg::Sha256).to_string();
    let rec = CertRecord {
        serial: serial.to_string(),
        kind: kind::SSH_USER.into(),
        user_id: Some(user.id.clone()),
        subject: user.id.clone(),
        key_fingerprint: fingerprint.clone(),
        ca_key_id: signing.id.clone(),
        principals: serde_json::to_string(&principals).unwrap_or_default(),
        valid_after,
        valid_before,
        issued_at: t,
        revoked_at: None,
        public_key: None,
        gateway: Some(host.name.clone()),
    };
    let text = cert.to_openssh().map_err(ApiError::internal)?;
    // What the gateway verifies the target's host certificate with.
    let host_ca_keys = auth
        .ssh_keys(authority::SSH_HOST)
        .iter()
        .map(|k| k.public_key().to_openssh().map_err(ApiError::internal))
        .collect::<Result<Vec<_>, _>>()?;
    let revoked_host_keys = {
        let mut c = st.store.pool().acquire().await?;
        certs::revoked_host_keys(&mut c, t).await?
    };
    let mut det = base;
    det["serial"] = serial.to_string().into();
    det["principals"] = serde_json::json!(principals);
    det["validitySeconds"] = GATEWAY_SESSION_TTL.into();
    det["sourceAddress"] = source.clone().into();
    det["keyFingerprint"] = fingerprint.into();
    det["user"] = user.name.clone().into();
    if let Some(at) = req.mfa_authenticated_at {
        det["mfaAuthenticatedAt"] = at.into();
    }
    let g = system_grant(EVENT_GATEWAY_SESSION_CERTIFICATE, &resource);
    // Durable before the certificate is handed out.
    st.recorder
        .record(g, rec, event(&caller, &resource, "Allowed", det))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(GatewaySessionCertificate {
            certificate: text,
            serial: serial.to_string(),
            principals,
            source_address: source,
            valid_before,
            host_ca_keys,
            revoked_host_keys,
        }),
    ))
}
