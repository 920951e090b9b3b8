//! Registered hosts and their SSH host certificates. Hosts are resources
//! of the `host` service (`arn:ward:host::ACCT:host/NAME`); their tags are
//! what `ward:ResourceTag/K` means in login policies. The host agent (a
//! later issue) enrols hosts with join tokens; here an administrator
//! registers them and certifies their host keys, so that clients can trust
//! `@cert-authority` lines instead of per-host keys.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use rand::RngCore;
use ward_authz::context;
use ward_authz::names::host_name;
use ward_policy::ContextValue;
use ward_protocol::api;

use crate::crypto;
use crate::error::ApiError;
use crate::service::authz::{authorize, authorize_read};
use crate::service::caller::Caller;
use crate::service::certificates::authorities;
use crate::service::host_sync::agent_status;
use crate::service::names;
use crate::service::request::{body, commit, rfc3339, P};
use crate::state::{now, Shared};
use crate::store::authority::{self, Signer};
use crate::store::certs::{self, kind, CertRecord};
use crate::store::host_identity;
use crate::store::hosts::{self, HostRow};
use ward_pki::sshca;

/// Default and largest host certificate lifetimes.
const HOST_DEFAULT_TTL: i64 = 30 * 86_400;
const HOST_MAX_TTL: i64 = 365 * 86_400;

fn arn(st: &Shared, name: &str) -> String {
    ward_authz::arn::host(st.store.account_id(), name)
}

pub(crate) fn out(st: &Shared, h: &HostRow) -> api::Host {
    api::Host {
        name: h.name.clone(),
        host_id: h.id.clone(),
        arn: arn(st, &h.name),
        aliases: h.aliases.clone(),
        tags: h.tags.clone(),
        created: rfc3339(h.created_at),
        agent: None,
        address: None,
        kind: None,
    }
}

/// Host tags as `RegisterHost` takes them: at most `MAX_TAGS`, each
/// valid, no key twice (case-insensitive).
pub(crate) fn check_tags(tags: &[api::Tag]) -> Result<(), ApiError> {
    if tags.len() > names::MAX_TAGS {
        return Err(ApiError::invalid(
            "tags",
            format!("at most {} tags", names::MAX_TAGS),
        ));
    }
    let mut keys_seen = std::collections::HashSet::new();
    for (i, t) in tags.iter().enumerate() {
        names::tag(&format!("tags[{i}]"), &t.key, &t.value)?;
        if !keys_seen.insert(t.key.to_lowercase()) {
            return Err(ApiError::invalid(
                format!("tags[{i}].key"),
                format!("tag key {:?} is given twice", t.key),
            ));
        }
    }
    Ok(())
}

/// Host aliases as `RegisterHost` (and `PATCH /v1/hosts/{name}`) take
/// them: at most 32, each a host name or an address in its one spelling,
/// none twice (nor the name itself).
pub(crate) fn check_aliases(name: &str, aliases: &[String]) -> Result<(), ApiError> {
    if aliases.len() > 32 {
        return Err(ApiError::invalid("aliases", "at most 32 aliases"));
    }
    let mut seen = std::collections::HashSet::from([name.to_lowercase()]);
    for (i, a) in aliases.iter().enumerate() {
        let field = format!("aliases[{i}]");
        host_name(&field, a, true)?;
        // One spelling per address, so that uniqueness means something.
        if let Ok(ip) = a.parse::<std::net::IpAddr>() {
            if ip.to_string() != *a {
                return Err(ApiError::invalid(
                    field,
                    format!("write the address {a:?} as {ip}"),
                ));
            }
        }
        if !seen.insert(a.to_lowercase()) {
            return Err(ApiError::invalid(
                field,
                format!("{a:?} is given twice (as the name or another alias)"),
            ));
        }
    }
    Ok(())
}

/// Fills the registry fields of a host as the API shows it (address, and
/// kind once enrolled).
pub(crate) async fn describe(
    c: &mut crate::store::Conn,
    host_id: &str,
    o: &mut api::Host,
) -> Result<(), ApiError> {
    o.address = crate::store::host_registry::address(c, host_id).await?;
    o.kind = crate::store::host_registry::kind(c, host_id).await?;
    Ok(())
}

/// `POST /v1/hosts`.
pub(crate) async fn register(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    b: Bytes,
) -> Result<(StatusCode, Json<api::Host>), ApiError> {
    let req: api::RegisterHost = body(&b)?;
    host_name("name", &req.name, false)?;
    check_aliases(&req.name, &req.aliases)?;
    check_tags(&req.tags)?;
    // ward:RequestTag/* and ward:TagKeys, as AWS supplies for tagging at
    // creation, so a tag guard-rail holds at RegisterHost too.
    let pairs: Vec<(String, String)> = req
        .tags
        .iter()
        .map(|t| (t.key.clone(), t.value.clone()))
        .collect();
    let owned = context::request_tags(&pairs);
    let ctx = context::refs(&owned);
    let g = authorize(
        &st,
        &caller,
        "host:RegisterHost",
        &arn(&st, &req.name),
        &ctx,
    )
    .await?;
    // Every alias will be a principal of the host's certificates: the
    // caller must be allowed to register a host of that name too.
    for a in &req.aliases {
        authorize(&st, &caller, "host:RegisterHost", &arn(&st, a), &ctx).await?;
    }
    let mut m = st.store.mutation(&g).await?;
    if hosts::find(&mut m.tx, &req.name).await?.is_some() {
        return Err(ApiError::exists("host", &req.name));
    }
    let h = HostRow {
        id: crypto::unique_id("AHOA"),
        name: req.name.clone(),
        aliases: req.aliases.clone(),
        tags: req.tags.clone(),
        created_at: now(),
    };
    hosts::insert(&mut m.tx, &h).await?;
    commit(m, &caller, &g, serde_json::json!({"hostId": h.id})).await?;
    Ok((StatusCode::CREATED, Json(out(&st, &h))))
}

/// `GET /v1/hosts`.
pub(crate) async fn list(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<api::HostList>, ApiError> {
    authorize_read(&st, &caller, "host:ListHosts", &arn(&st, "*"), &[]).await?;
    let mut c = st.store.pool().acquire().await?;
    let mut hosts = Vec::new();
    let current = host_identity::generation(&mut c).await?;
    for name in hosts::names(&mut c).await? {
        if let Some(h) = hosts::find(&mut c, &name).await? {
            let mut o = out(&st, &h);
            o.agent = agent_status(&mut c, &h.id, current).await?;
            describe(&mut c, &h.id, &mut o).await?;
            hosts.push(o);
        }
    }
    Ok(Json(api::HostList { hosts }))
}

/// `ward:ResourceTag/*` of a host.
pub(crate) fn host_tags(h: &HostRow) -> context::Entries {
    context::resource_tags(h.tags.iter().map(|t| (t.key.as_str(), t.value.as_str())))
}

pub(crate) async fn target(
    st: &Shared,
    caller: &Caller,
    action: &str,
    name: &str,
    extra: &[(&str, ContextValue)],
) -> Result<(HostRow, crate::store::Grant), ApiError> {
    host_name("name", name, false)?;
    let mut c = st.store.pool().acquire().await?;
    let found = hosts::find(&mut c, name).await?;
    drop(c);
    let tags = match &found {
        Some(h) => host_tags(h),
        None => Vec::new(),
    };
    let mut ctx_ref = extra.to_vec();
    ctx_ref.extend(context::refs(&tags));
    let g = authorize(st, caller, action, &arn(st, name), &ctx_ref).await?;
    Ok((found.ok_or_else(|| ApiError::no_such("host", name))?, g))
}

/// `GET /v1/hosts/{name}`.
pub(crate) async fn get(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
) -> Result<Json<api::Host>, ApiError> {
    let (h, _) = target(&st, &caller, "host:GetHost", &name, &[]).await?;
    let mut o = out(&st, &h);
    let mut c = st.store.pool().acquire().await?;
    let current = host_identity::generation(&mut c).await?;
    o.agent = agent_status(&mut c, &h.id, current).await?;
    describe(&mut c, &h.id, &mut o).await?;
    Ok(Json(o))
}

/// `DELETE /v1/hosts/{name}`.
pub(crate) async fn deregister(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
) -> Result<StatusCode, ApiError> {
    let (h, g) = target(&st, &caller, "host:DeregisterHost", &name, &[]).await?;
    let mut m = st.store.mutation(&g).await?;
    hosts::delete(&mut m.tx, &h.id).await?;
    host_identity::forget(&mut m.tx, &h.id).await?;
    // Its certificates name it: once it is gone they must not vouch for a
    // host that may re-register under the same name with another key.
    let serials = certs::revoke_host(
        &mut m.tx,
        &h.id,
        now(),
        &format!("host {} deregistered", h.name),
    )
    .await?;
    commit(
        m,
        &caller,
        &g,
        serde_json::json!({"hostId": h.id, "revokedSerials": serials}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Signs an SSH host certificate for `key` (key id = the host's id, a
/// random serial, valid-after backdated 30 s) with the current ssh-host
/// CA key; returns the certificate line and its inventory record (not yet
/// recorded). `field` names the key in errors.
pub(crate) fn sign_host_key(
    auth: &crate::store::authority::Authorities,
    key: &ssh_key::PublicKey,
    host_id: &str,
    principals: &[String],
    validity: i64,
    field: &str,
) -> Result<(String, CertRecord), ApiError> {
    let signing = auth.signing(authority::SSH_HOST)?;
    let Signer::Ssh(ca) = &signing.signer else {
        return Err(ApiError::internal("ssh-host authority holds a non-SSH key"));
    };
    let t = now();
    let serial = rand::rngs::OsRng.next_u64().max(1);
    let (after, before) = (t - 30, t + validity);
    let cert = sshca::sign_host_cert(
        ca,
        key,
        serial,
        host_id,
        principals,
        u64::try_from(after).unwrap_or(0),
        u64::try_from(before).unwrap_or(0),
    )
    .map_err(|e| {
        if e.is_internal() {
            ApiError::internal(e)
        } else {
            ApiError::invalid(field, e.to_string())
        }
    })?;
    let text = cert.to_openssh().map_err(ApiError::internal)?;
    let rec = CertRecord {
        serial: serial.to_string(),
        kind: kind::SSH_HOST.into(),
        user_id: None,
        subject: host_id.to_owned(),
        key_fingerprint: key.fingerprint(ssh_key::HashAlg::Sha256).to_string(),
        ca_key_id: signing.id.clone(),
        principals: serde_json::to_string(principals).unwrap_or_default(),
        valid_after: after,
        valid_before: before,
        issued_at: t,
        revoked_at: None,
        public_key: Some(key.to_openssh().map_err(ApiError::internal)?),
        gateway: None,
    };
    Ok((text, rec))
}

/// `POST /v1/hosts/{name}/ssh-certificate`: principals are the host name
/// and its aliases.
pub(crate) async fn host_certificate(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
    b: Bytes,
) -> Result<(StatusCode, Json<api::SshCertificate>), ApiError> {
    let req: api::HostCertificateRequest = body(&b)?;
    let key = sshca::parse_public_key(&req.public_key)
        .map_err(|e| ApiError::invalid("publicKey", e.to_string()))?;
    let validity = match req.validity_seconds {
        None => HOST_DEFAULT_TTL,
        Some(v) if (60..=HOST_MAX_TTL).contains(&v) => v,
        Some(v) => {
            return Err(ApiError::invalid(
                "validitySeconds",
                format!("validitySeconds {v} must be between 60 and {HOST_MAX_TTL}"),
            ))
        }
    };
    // The principals are the host's name and aliases as registered now;
    // read them first (a pooled read, no authorization decision yet) so
    // that `ca:Principals` is in the context of every decision.
    host_name("name", &name, false)?;
    let principals = {
        let mut c = st.store.pool().acquire().await?;
        match hosts::find(&mut c, &name).await? {
            Some(h) => std::iter::once(h.name).chain(h.aliases).collect(),
            None => vec![name.clone()],
        }
    };
    let extra = context::ssh_host_certificate(validity, &name, &principals);
    // The resource is the host whose key is certified, so policies can
    // scope host certificates by host name and tags.
    let (h, g) = target(&st, &caller, "ca:IssueSshHostCertificate", &name, &extra).await?;
    // Every other name in the certificate is authorized as a host resource
    // of its own (with the host's tags), so a right on `host/dev-*` cannot
    // certify `prod-db.example.com`.
    let tags = host_tags(&h);
    let mut ctx: Vec<(&str, ContextValue)> = extra.to_vec();
    ctx.extend(context::refs(&tags));
    for a in &h.aliases {
        authorize(
            &st,
            &caller,
            "ca:IssueSshHostCertificate",
            &arn(&st, a),
            &ctx,
        )
        .await?;
    }
    let mut now_principals = vec![h.name.clone()];
    now_principals.extend(h.aliases.iter().cloned());
    if now_principals != principals {
        return Err(ApiError::Conflict {
            code: "ConcurrentModification",
            message: format!(
                "host {} changed while its certificate was requested; retry",
                h.name
            ),
        });
    }
    let auth = authorities(&st).await?;
    let (text, rec) = sign_host_key(&auth, &key, &h.id, &principals, validity, "publicKey")?;
    let (serial, fingerprint) = (rec.serial.clone(), rec.key_fingerprint.clone());
    let (after, before) = (rec.valid_after, rec.valid_before);
    let ev = crate::service::request::event(
        &caller,
        &g,
        serde_json::json!({"host": h.name, "serial": serial, "keyFingerprint": fingerprint}),
    );
    st.recorder.record(g, rec, ev).await?;
    Ok((
        StatusCode::CREATED,
        Json(api::SshCertificate {
            certificate: format!("{text} {}", h.name),
            serial,
            key_id: h.id.clone(),
            principals,
            valid_after: rfc3339(after),
            valid_before: rfc3339(before),
        }),
    ))
}
