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
use sqlx::{AnyConnection, Row};
use ward_policy::ContextValue;
use ward_protocol::api;

use crate::api::{body, commit, rfc3339, P};
use crate::auth::Caller;
use crate::authority::{self, Signer};
use crate::authz::{authorize, authorize_read};
use crate::certs::{kind, CertRecord};
use crate::error::ApiError;
use crate::issue_api::authorities;
use crate::state::{now, Shared};
use crate::{crypto, names, sshca};

/// Default and largest host certificate lifetimes.
const HOST_DEFAULT_TTL: i64 = 30 * 86_400;
const HOST_MAX_TTL: i64 = 365 * 86_400;

/// A host name: a DNS name (1–253 characters of `[a-z0-9.-]`, labels
/// 1–63, no leading or trailing `-` or `.`), or an IP address (aliases).
fn host_name(field: &str, s: &str, allow_ip: bool) -> Result<(), ApiError> {
    if allow_ip && s.parse::<std::net::IpAddr>().is_ok() {
        return Ok(());
    }
    let ok = !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            field,
            format!("{s:?} is not a host name (lower-case DNS labels of letters, digits and '-')"),
        ))
    }
}

struct HostRow {
    id: String,
    name: String,
    aliases: Vec<String>,
    tags: Vec<api::Tag>,
    created_at: i64,
}

async fn find(c: &mut AnyConnection, name: &str) -> Result<Option<HostRow>, ApiError> {
    let r = sqlx::query("SELECT id, name, aliases, tags, created_at FROM hosts WHERE name_lc = $1")
        .bind(name.to_lowercase())
        .fetch_optional(&mut *c)
        .await?;
    let Some(r) = r else { return Ok(None) };
    let (aliases, tags): (String, String) = (r.try_get(2)?, r.try_get(3)?);
    Ok(Some(HostRow {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        aliases: serde_json::from_str(&aliases).unwrap_or_default(),
        tags: serde_json::from_str(&tags).unwrap_or_default(),
        created_at: r.try_get(4)?,
    }))
}

fn arn(st: &Shared, name: &str) -> String {
    format!("arn:ward:host::{}:host/{name}", st.store.account_id())
}

fn out(st: &Shared, h: &HostRow) -> api::Host {
    api::Host {
        name: h.name.clone(),
        host_id: h.id.clone(),
        arn: arn(st, &h.name),
        aliases: h.aliases.clone(),
        tags: h.tags.clone(),
        created: rfc3339(h.created_at),
    }
}

/// `POST /v1/hosts`.
pub(crate) async fn register(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    b: Bytes,
) -> Result<(StatusCode, Json<api::Host>), ApiError> {
    let req: api::RegisterHost = body(&b)?;
    host_name("name", &req.name, false)?;
    if req.aliases.len() > 32 {
        return Err(ApiError::invalid("aliases", "at most 32 aliases"));
    }
    for (i, a) in req.aliases.iter().enumerate() {
        host_name(&format!("aliases[{i}]"), a, true)?;
    }
    if req.tags.len() > names::MAX_TAGS {
        return Err(ApiError::invalid(
            "tags",
            format!("at most {} tags", names::MAX_TAGS),
        ));
    }
    for (i, t) in req.tags.iter().enumerate() {
        names::tag(&format!("tags[{i}]"), &t.key, &t.value)?;
    }
    let keys: Vec<String> = req.tags.iter().map(|t| t.key.clone()).collect();
    let g = authorize(
        &st,
        &caller,
        "host:RegisterHost",
        &arn(&st, &req.name),
        &[("ward:TagKeys", ContextValue::Multi(keys))],
    )
    .await?;
    let mut m = st.store.mutation(&g).await?;
    if find(&mut m.tx, &req.name).await?.is_some() {
        return Err(ApiError::exists("host", &req.name));
    }
    let h = HostRow {
        id: crypto::unique_id("AHOA"),
        name: req.name.clone(),
        aliases: req.aliases.clone(),
        tags: req.tags.clone(),
        created_at: now(),
    };
    sqlx::query("INSERT INTO hosts (id, name, name_lc, aliases, tags, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(&h.id)
        .bind(&h.name)
        .bind(h.name.to_lowercase())
        .bind(serde_json::to_string(&h.aliases).unwrap_or_default())
        .bind(serde_json::to_string(&h.tags).unwrap_or_default())
        .bind(h.created_at)
        .execute(&mut *m.tx)
        .await?;
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
    let rows = sqlx::query("SELECT name FROM hosts ORDER BY name_lc LIMIT 10000")
        .fetch_all(&mut *c)
        .await?;
    let mut hosts = Vec::new();
    for r in &rows {
        if let Some(h) = find(&mut c, &r.try_get::<String, _>(0)?).await? {
            hosts.push(out(&st, &h));
        }
    }
    Ok(Json(api::HostList { hosts }))
}

async fn target(
    st: &Shared,
    caller: &Caller,
    action: &str,
    name: &str,
    extra: &[(&str, ContextValue)],
) -> Result<(HostRow, crate::authz::Grant), ApiError> {
    host_name("name", name, false)?;
    let mut c = st.store.pool().acquire().await?;
    let found = find(&mut c, name).await?;
    drop(c);
    let mut ctx: Vec<(String, ContextValue)> = extra
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    if let Some(h) = &found {
        for t in &h.tags {
            ctx.push((
                format!("ward:ResourceTag/{}", t.key),
                ContextValue::from(t.value.as_str()),
            ));
        }
    }
    let ctx_ref: Vec<(&str, ContextValue)> =
        ctx.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
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
    Ok(Json(out(&st, &h)))
}

/// `DELETE /v1/hosts/{name}`.
pub(crate) async fn deregister(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
) -> Result<StatusCode, ApiError> {
    let (h, g) = target(&st, &caller, "host:DeregisterHost", &name, &[]).await?;
    let mut m = st.store.mutation(&g).await?;
    sqlx::query("DELETE FROM hosts WHERE id = $1")
        .bind(&h.id)
        .execute(&mut *m.tx)
        .await?;
    commit(m, &caller, &g, serde_json::json!({"hostId": h.id})).await?;
    Ok(StatusCode::NO_CONTENT)
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
    let extra = [
        (
            "ca:ValiditySeconds",
            ContextValue::from(validity.to_string()),
        ),
        ("host:Name", ContextValue::from(name.as_str())),
    ];
    // The resource is the host whose key is certified, so policies can
    // scope host certificates by host name and tags.
    let (h, g) = target(&st, &caller, "ca:IssueSshHostCertificate", &name, &extra).await?;
    let auth = authorities(&st).await?;
    let signing = auth.signing(authority::SSH_HOST)?;
    let Signer::Ssh(ca) = &signing.signer else {
        return Err(ApiError::internal("ssh-host authority holds a non-SSH key"));
    };
    let t = now();
    let serial = rand::rngs::OsRng.next_u64().max(1);
    let mut principals = vec![h.name.clone()];
    principals.extend(h.aliases.iter().cloned());
    let (after, before) = (t - 30, t + validity);
    let cert = sshca::sign_host_cert(
        ca,
        &key,
        serial,
        &h.id,
        &principals,
        u64::try_from(after).unwrap_or(0),
        u64::try_from(before).unwrap_or(0),
    )
    .map_err(|e| {
        if e.is_internal() {
            ApiError::internal(e)
        } else {
            ApiError::invalid(e.field().unwrap_or("publicKey"), e.to_string())
        }
    })?;
    let text = cert.to_openssh().map_err(ApiError::internal)?;
    let fingerprint = key.fingerprint(ssh_key::HashAlg::Sha256).to_string();
    let rec = CertRecord {
        serial: serial.to_string(),
        kind: kind::SSH_HOST.into(),
        user_id: None,
        subject: h.id.clone(),
        key_fingerprint: fingerprint.clone(),
        ca_key_id: signing.id.clone(),
        principals: serde_json::to_string(&principals).unwrap_or_default(),
        valid_after: after,
        valid_before: before,
        issued_at: t,
        revoked_at: None,
    };
    let ev = crate::api::event(
        &caller,
        &g,
        serde_json::json!({"host": h.name, "serial": serial.to_string(), "keyFingerprint": fingerprint}),
    );
    st.recorder.record(g, rec, ev).await?;
    Ok((
        StatusCode::CREATED,
        Json(api::SshCertificate {
            certificate: format!("{text} {}", h.name),
            serial: serial.to_string(),
            key_id: h.id.clone(),
            principals,
            valid_after: rfc3339(after),
            valid_before: rfc3339(before),
        }),
    ))
}
