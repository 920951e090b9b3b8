//! The `/v1/` JSON API (route table in `ward_protocol::api`), health and
//! metrics endpoints. Each handler: parse and validate input (typed 400s
//! naming the field), authorize (a [`Grant`]), then one mutation
//! transaction that commits with its audit event.

use std::net::{IpAddr, Ipv4Addr};

use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Extension, Json, Router};
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use ward_authz::context;
use ward_policy::{ContextValue, Instant, Policy, PolicyKind};
use ward_protocol::api;

use crate::auth::{authenticate, user_arn, Caller, Identity};
use crate::authz::{authorize, authorize_read, Grant};
use crate::crypto::{self, sha256_hex};
use crate::error::ApiError;
use crate::iam::{self, PageRequest, PrincipalType};
use crate::names;
use crate::state::{now, Shared};
use crate::store::{AuditEvent, AuditFilter, Mutation};
use crate::tls::ConnInfo;

/// Largest request body accepted.
pub const MAX_BODY: usize = 256 * 1024;

/// The whole HTTP surface.
pub fn router(st: Shared) -> Router {
    let authed = Router::new()
        .route("/v1/whoami", get(whoami))
        .route("/v1/users", post(create_user).get(list_users))
        .route(
            "/v1/users/{name}",
            get(get_user).patch(update_user).delete(delete_user),
        )
        .route("/v1/users/{name}/tags", post(tag_user).delete(untag_user))
        .route(
            "/v1/users/{name}/disable",
            post(crate::disable_api::disable),
        )
        .route("/v1/users/{name}/enable", post(crate::disable_api::enable))
        .route("/v1/users/{name}/groups", get(groups_for_user))
        .route(
            "/v1/users/{name}/permissions-boundary",
            put(put_boundary).delete(delete_boundary),
        )
        .route(
            "/v1/users/{name}/login-profile",
            put(put_login_profile).delete(delete_login_profile),
        )
        .route(
            "/v1/users/{name}/sessions",
            get(crate::sessions_api::list).delete(crate::sessions_api::revoke_all),
        )
        .route(
            "/v1/users/{name}/sessions/{id}",
            axum::routing::delete(crate::sessions_api::revoke),
        )
        .route(
            "/v1/users/{name}/access-keys",
            post(create_access_key).get(list_access_keys),
        )
        .route(
            "/v1/users/{name}/access-keys/{id}",
            axum::routing::patch(update_access_key).delete(delete_access_key),
        )
        .route(
            "/v1/users/{name}/ssh-keys",
            post(crate::ssh_keys::upload).get(crate::ssh_keys::list),
        )
        .route(
            "/v1/users/{name}/ssh-keys/{id}",
            get(crate::ssh_keys::get)
                .patch(crate::ssh_keys::update)
                .delete(crate::ssh_keys::delete),
        )
        .route(
            "/v1/simulate/principal",
            post(crate::simulate_api::principal),
        )
        .route("/v1/simulate/custom", post(crate::simulate_api::custom))
        .route(
            "/v1/ssh/user-certificates",
            post(crate::issue_api::ssh_user_certificate),
        )
        .route(
            "/v1/x509/client-certificates",
            post(crate::issue_api::x509_client_certificate),
        )
        .route(
            "/v1/hosts",
            post(crate::hosts_api::register).get(crate::hosts_api::list),
        )
        .route(
            "/v1/hosts/{name}",
            get(crate::hosts_api::get).delete(crate::hosts_api::deregister),
        )
        .route(
            "/v1/hosts/{name}/ssh-certificate",
            post(crate::hosts_api::host_certificate),
        )
        .route("/v1/certificates", get(crate::issue_api::list))
        .route(
            "/v1/certificates/{serial}/revoke",
            post(crate::issue_api::revoke),
        )
        .route(
            "/v1/users/{name}/certificates/revoke",
            post(crate::issue_api::revoke_user),
        )
        .route(
            "/v1/change-password",
            post(crate::password_api::change_password),
        )
        .route("/v1/groups", post(create_group).get(list_groups))
        .route("/v1/groups/{name}", get(get_group).delete(delete_group))
        .route(
            "/v1/groups/{name}/users/{user}",
            put(add_user_to_group).delete(remove_user_from_group),
        )
        .route("/v1/policies", post(create_policy).get(list_policies))
        .route("/v1/policies/{name}", get(get_policy).delete(delete_policy))
        .route(
            "/v1/policies/{name}/versions",
            post(create_policy_version).get(list_policy_versions),
        )
        .route(
            "/v1/policies/{name}/versions/{v}",
            get(get_policy_version).delete(delete_policy_version),
        )
        .route(
            "/v1/policies/{name}/default-version",
            put(set_default_version),
        )
        .route("/v1/{kind}/{name}/attached-policies", get(list_attached))
        .route(
            "/v1/{kind}/{name}/attached-policies/{policy}",
            put(attach_policy).delete(detach_policy),
        )
        .route("/v1/{kind}/{name}/policies", get(list_inline))
        .route(
            "/v1/{kind}/{name}/policies/{pname}",
            put(put_inline).get(get_inline).delete(delete_inline),
        )
        .route("/v1/audit/events", get(audit_events))
        .route("/v1/audit/verify", get(audit_verify))
        .route("/v1/audit/checkpoint", get(audit_checkpoint))
        .route(
            "/v1/hosts/{name}/join-tokens",
            post(crate::host_join::create_token),
        )
        .route("/v1/host/renew", post(crate::host_join::renew))
        .route("/v1/host/snapshot", get(crate::host_sync::snapshot))
        .route("/v1/host/audit", post(crate::host_audit::deliver))
        .layer(middleware::from_fn_with_state(st.clone(), authn));
    Router::new()
        .route("/v1/login", post(crate::password_api::login))
        .route("/v1/host/join", post(crate::host_join::join))
        .merge(authed)
        .route("/v1/ca/ssh-user-keys", get(crate::issue_api::ssh_user_keys))
        .route(
            "/v1/ca/ssh-known-hosts",
            get(crate::issue_api::ssh_known_hosts),
        )
        .route("/v1/ca/x509-bundle.pem", get(crate::issue_api::x509_bundle))
        .route("/v1/ca/ssh-user.krl", get(crate::issue_api::ssh_krl))
        .route("/v1/ca/ssh-host.krl", get(crate::issue_api::ssh_host_krl))
        .route("/v1/ca/x509.crl", get(crate::issue_api::x509_crl))
        .route("/v1/ca/x509-crls/{id}", get(crate::issue_api::x509_crl_der))
        .route("/v1/ca/audit-key", get(audit_key))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(|| async {
            ApiError::NotFound {
                code: "NotFound",
                message: "no such API route".into(),
            }
        })
        // After every route: axum's own 405 has an empty body.
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(middleware::from_fn(refuse_ambiguous_paths))
        .layer(middleware::from_fn_with_state(st.clone(), count_responses))
        .with_state(st)
}

async fn count_responses(State(st): State<Shared>, req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    st.metrics.response(resp.status().as_u16());
    resp
}

/// `GET /readyz`: 200 only if the store takes a real write now (a full
/// disk, an I/O error or a lock held by a frozen replica make it 503).
/// How long one `/readyz` write probe answers for.
const READINESS_TTL: std::time::Duration = std::time::Duration::from_secs(1);

/// `GET /readyz` (no authentication): 200 if the store took a real write.
/// The probe is a write transaction (and, while recovering, a large one), so
/// an unauthenticated flood must not turn into a flood of writes contending
/// with real mutations for the audit head: one probe runs at a time and its
/// outcome answers every request for [`READINESS_TTL`].
async fn readyz(State(st): State<Shared>) -> Response {
    let outcome = {
        let mut last = st.readiness.lock().await;
        match &*last {
            Some((at, outcome)) if at.elapsed() < READINESS_TTL => outcome.clone(),
            _ => {
                st.metrics
                    .readiness_probes
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let outcome = st.store.can_write().await.err().map(|e| e.message());
                *last = Some((std::time::Instant::now(), outcome.clone()));
                outcome
            }
        }
    };
    match outcome {
        None => (StatusCode::OK, "ready\n").into_response(),
        Some(message) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(
                axum::http::header::RETRY_AFTER,
                crate::error::UNAVAILABLE_RETRY_AFTER.to_string(),
            )],
            format!("store cannot write: {message}\n"),
        )
            .into_response(),
    }
}

/// `GET /metrics`: Prometheus counters, served only to sources in the
/// `[metrics] allow` CIDR list (default loopback only); others get a 403.
async fn metrics(State(st): State<Shared>, req: Request) -> Response {
    let (parts, _) = req.into_parts();
    let (ip, _) = peer(&parts);
    if !st.config.metrics_allow.iter().any(|net| net.contains(ip)) {
        return ApiError::Denied {
            message: "/metrics is not served to this address (see [metrics] allow)".into(),
        }
        .into_response();
    }
    (
        [("content-type", "text/plain; version=0.0.4")],
        st.metrics.render(),
    )
        .into_response()
}

fn peer(parts: &Parts) -> (IpAddr, bool) {
    match parts.extensions.get::<ConnInfo>() {
        Some(c) => (c.remote.ip(), c.tls),
        None => (IpAddr::V4(Ipv4Addr::LOCALHOST), false),
    }
}

/// True if a raw path has `.`/`..` segments (also percent-encoded) or an
/// empty segment. SigV4 signs the normalised path while the router sees
/// the raw one, so such paths are refused before either looks at them.
fn ambiguous_path(path: &str) -> bool {
    path.split('/').skip(1).enumerate().any(|(i, seg)| {
        let lower = seg.to_ascii_lowercase();
        let dots = lower.replace("%2e", ".");
        dots == "." || dots == ".." || (seg.is_empty() && i + 1 < path.split('/').count() - 1)
    }) || path.to_ascii_lowercase().contains("%2f")
}

/// Refuses [`ambiguous_path`]s on every route (and on no route: a path
/// that names no route is still refused as ambiguous, not as unknown).
async fn refuse_ambiguous_paths(req: Request, next: Next) -> Response {
    if ambiguous_path(req.uri().path()) {
        return ApiError::invalid("path", "paths with '.', '..' or empty segments are refused")
            .into_response();
    }
    next.run(req).await
}

/// Buffers the body (bounded), authenticates, and hands the caller on.
async fn authn(State(st): State<Shared>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let bytes = match read_body(body, MAX_BODY).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    // GET, HEAD and DELETE take no body: refuse one rather than ignore it.
    if !bytes.is_empty() && matches!(parts.method.as_str(), "GET" | "HEAD" | "DELETE") {
        return ApiError::invalid("body", format!("{} requests take no body", parts.method))
            .into_response();
    }
    let (ip, tls) = peer(&parts);
    match authenticate(&st, &parts, &sha256_hex(&bytes), ip, tls).await {
        Ok(caller) => {
            // A host principal may call the host routes and nothing else.
            if matches!(caller.identity, Identity::Host(_))
                && !parts.uri.path().starts_with(crate::host_join::HOST_ROUTES)
            {
                return crate::host_join::host_route_only().into_response();
            }
            parts.extensions.insert(caller);
            let mut resp = next
                .run(Request::from_parts(parts, Body::from(bytes)))
                .await;
            // Authenticated callers' connections are shed last when the
            // listener is full.
            resp.extensions_mut().insert(crate::tls::Authenticated);
            resp
        }
        Err(e) => e.into_response(),
    }
}

/// Buffers a request body of at most `limit` bytes: 413 if it is longer,
/// 408 if it does not arrive within the listener's body deadline.
pub(crate) async fn read_body(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        if crate::tls::is_body_timeout(&e) {
            ApiError::Timeout {
                message: "the request body did not arrive in time".into(),
            }
        } else {
            ApiError::TooLarge {
                message: format!("request body exceeds {limit} bytes"),
            }
        }
    })
}

// ---- extraction helpers ------------------------------------------------

/// Path parameters with JSON errors.
pub(crate) struct P<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for P<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| P(p.0))
            .map_err(|e| ApiError::invalid("path", format!("bad path parameter: {e}")))
    }
}

/// Query parameters with JSON errors; unknown parameters are refused.
pub(crate) struct Q<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Q<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let q = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded_shim::Deserializer::new(q);
        serde_path_to_error::deserialize(de).map(Q).map_err(|e| {
            let field = e.path().to_string();
            let inner = e.inner().to_string();
            // Unknown, missing and repeated parameters are named in
            // backquotes; name them as the field.
            let field = if field == "." {
                field_in(&inner).unwrap_or_else(|| "query".into())
            } else {
                field
            };
            ApiError::invalid(field, format!("bad query: {inner}"))
        })
    }
}

/// Minimal `application/x-www-form-urlencoded` deserializer via serde_json:
/// decodes pairs into a JSON object of strings (last value wins is refused:
/// duplicates are an error).
mod serde_urlencoded_shim {
    pub struct Deserializer(pub Result<serde_json::Value, String>);

    impl Deserializer {
        pub fn new(q: &str) -> Deserializer {
            let mut m = serde_json::Map::new();
            for pair in q.split('&').filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                let dec = |s: &str| {
                    percent_encoding::percent_decode_str(s) // '+' is a literal plus, as in SigV4
                        .decode_utf8()
                        .map(|c| c.into_owned())
                };
                let (k, v) = match (dec(k), dec(v)) {
                    (Ok(k), Ok(v)) => (k, v),
                    _ => return Deserializer(Err("query is not valid UTF-8".into())),
                };
                // A presigned URL's authentication parameters were checked
                // by `authn`; they are not the route's parameters.
                if k.starts_with("X-Amz-") {
                    continue;
                }
                if m.insert(k.clone(), serde_json::Value::String(v)).is_some() {
                    return Deserializer(Err(format!("query parameter `{k}` is given twice")));
                }
            }
            Deserializer(Ok(serde_json::Value::Object(m)))
        }
    }

    impl<'de> serde::Deserializer<'de> for Deserializer {
        type Error = serde_json::Error;
        fn deserialize_any<V: serde::de::Visitor<'de>>(
            self,
            v: V,
        ) -> Result<V::Value, Self::Error> {
            use serde::de::Error;
            match self.0 {
                Ok(val) => serde::Deserializer::deserialize_any(val, v),
                Err(e) => Err(serde_json::Error::custom(e)),
            }
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
            bytes byte_buf option unit unit_struct newtype_struct seq tuple
            tuple_struct map struct enum identifier ignored_any
        }
    }
}

/// Parses a JSON body; errors name the field.
pub(crate) fn body<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::invalid("body", "a JSON request body is required"));
    }
    // serde's derived structs also accept a JSON array of their fields in
    // order (`["alice"]`, or `[]` for all-optional ones); only an object is
    // a request.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::invalid(
            "body",
            "the request body must be a JSON object",
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let v: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.inner().to_string();
        let field = if !e.inner().is_data() {
            // A syntax error: serde_path_to_error's path is then `?`.
            "body".to_owned()
        } else if path == "." {
            // Unknown and missing fields are named by serde; use that name.
            field_in(&inner).unwrap_or_else(|| "body".into())
        } else if inner.starts_with("missing field") {
            // The path is the object that lacks it: name the field in it.
            match field_in(&inner) {
                Some(f) => format!("{path}.{f}"),
                None => path,
            }
        } else {
            path
        };
        ApiError::invalid(field, format!("malformed request body: {inner}"))
    })?;
    de.end()
        .map_err(|e| ApiError::invalid("body", format!("malformed request body: {e}")))?;
    Ok(v)
}

fn field_in(msg: &str) -> Option<String> {
    let start = msg.find('`')? + 1;
    let end = start + msg[start..].find('`')?;
    Some(msg[start..end].to_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn ambiguous_paths() {
        for p in [
            "/v1/users/./x",
            "/v1/users/../x",
            "/v1//users",
            "/v1/users/%2e%2E",
            "/v1/users/%2E",
            "/v1/a%2fb",
        ] {
            assert!(super::ambiguous_path(p), "{p}");
        }
        for p in [
            "/v1/users",
            "/v1/users/",
            "/v1/users/a.b",
            "/v1/users/..a",
            "/",
        ] {
            assert!(!super::ambiguous_path(p), "{p}");
        }
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ListQuery {
    #[serde(default)]
    path_prefix: Option<String>,
    #[serde(default)]
    marker: Option<String>,
    #[serde(default)]
    max_items: Option<String>,
}

impl ListQuery {
    fn page(&self) -> Result<(String, PageRequest), ApiError> {
        let prefix = self.path_prefix.clone().unwrap_or_else(|| "/".into());
        if !prefix.starts_with('/')
            || prefix.len() > 512
            || !prefix.bytes().all(|b| (0x21..=0x7e).contains(&b))
        {
            return Err(ApiError::invalid(
                "pathPrefix",
                "pathPrefix must start with '/' and be at most 512 printable ASCII characters",
            ));
        }
        let max_items = match &self.max_items {
            None => 100,
            Some(m) => m
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=1000).contains(n))
                .ok_or_else(|| {
                    ApiError::invalid("maxItems", "maxItems must be an integer from 1 to 1000")
                })?,
        };
        let marker = self.marker.clone().unwrap_or_default();
        names::text("marker", &marker, 256)?;
        Ok((prefix, PageRequest { marker, max_items }))
    }
}

pub(crate) fn rfc3339(t: i64) -> String {
    Instant::from_epoch_seconds(t).to_rfc3339()
}

fn acct(st: &Shared) -> String {
    st.store.account_id().to_owned()
}

fn path_or_root(field: &str, p: &Option<String>) -> Result<String, ApiError> {
    let p = p.clone().unwrap_or_else(|| "/".into());
    names::path(field, &p)?;
    Ok(p)
}

/// An audit event for a mutation by `caller`.
pub(crate) fn event(caller: &Caller, g: &Grant, detail: serde_json::Value) -> AuditEvent {
    AuditEvent {
        at: now(),
        principal: caller.arn().to_owned(),
        action: g.action().to_owned(),
        resource: g.resource().to_owned(),
        decision: "Allowed".into(),
        source_ip: caller.source_ip.to_string(),
        detail,
    }
}

pub(crate) async fn commit(
    m: Mutation,
    caller: &Caller,
    g: &Grant,
    detail: serde_json::Value,
) -> Result<(), ApiError> {
    m.commit(&event(caller, g, detail)).await.map(|_| ())
}

/// The text of a raw `document` field: an object as written, or the
/// contents of a JSON string.
pub(crate) fn document_text(raw: &RawValue) -> Result<String, ApiError> {
    let t = raw.get().trim();
    if t.starts_with('"') {
        serde_json::from_str::<String>(t)
            .map_err(|e| ApiError::invalid("document", format!("document string: {e}")))
    } else if t.starts_with('{') {
        Ok(t.to_owned())
    } else {
        Err(ApiError::invalid(
            "document",
            "document must be a JSON object or a string holding one",
        ))
    }
}

/// Validates a document as `kind`; faults become `MalformedPolicyDocument`.
fn validate_document(raw: &RawValue, kind: PolicyKind) -> Result<String, ApiError> {
    let text = document_text(raw)?;
    Policy::parse(&text, kind).map_err(|e| {
        ApiError::invalid_code("MalformedPolicyDocument", "document", e.to_string())
    })?;
    Ok(text)
}

fn document_json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or(serde_json::Value::String(text.to_owned()))
}

// ---- identity ---------------------------------------------------------

async fn whoami(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<api::CallerIdentity>, ApiError> {
    // As in AWS, anyone authenticated may ask who they are; root use is
    // still audited.
    if matches!(caller.identity, Identity::Root) {
        authorize_read(&st, &caller, "sts:GetCallerIdentity", caller.arn(), &[]).await?;
    }
    let user_id = match &caller.identity {
        Identity::Root => acct(&st),
        Identity::User(u) => u.id.clone(),
        Identity::Host(h) => h.id.clone(),
    };
    Ok(Json(api::CallerIdentity {
        arn: caller.arn().to_owned(),
        user_id,
        account: acct(&st),
        auth_method: caller.auth_method.into(),
    }))
}

// ---- users ------------------------------------------------------------

pub(crate) async fn user_out(
    st: &Shared,
    c: &mut sqlx::AnyConnection,
    u: &iam::User,
) -> Result<api::User, ApiError> {
    let tags = iam::user_tags(c, &u.id)
        .await?
        .into_iter()
        .map(|(key, value)| api::Tag { key, value })
        .collect();
    let boundary = match &u.boundary_policy_id {
        Some(pid) => iam::policy_by_id(c, pid).await?.map(|p| policy_arn(st, &p)),
        None => None,
    };
    Ok(api::User {
        name: u.name.clone(),
        user_id: u.id.clone(),
        arn: user_arn(&acct(st), u),
        path: u.path.clone(),
        uid: u.uid,
        created: rfc3339(u.created_at),
        tags,
        permissions_boundary: boundary,
        posix: crate::posix::posix_view(u, &st.config.posix),
        disabled: u.disabled_at.is_some(),
        disabled_at: u.disabled_at.map(rfc3339),
        warnings: crate::posix::no_posix_reason(&u.name).into_iter().collect(),
    })
}

fn check_tags(field: &str, tags: &[api::Tag]) -> Result<Vec<(String, String)>, ApiError> {
    if tags.len() > names::MAX_TAGS {
        return Err(ApiError::invalid(
            field,
            format!("at most {} tags", names::MAX_TAGS),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for (i, t) in tags.iter().enumerate() {
        names::tag(&format!("{field}[{i}]"), &t.key, &t.value)?;
        if !seen.insert(t.key.to_lowercase()) {
            return Err(ApiError::invalid(
                format!("{field}[{i}].key"),
                format!("tag key {:?} is given twice", t.key),
            ));
        }
    }
    Ok(tags
        .iter()
        .map(|t| (t.key.clone(), t.value.clone()))
        .collect())
}

fn user_resource(st: &Shared, path: &str, name: &str) -> String {
    ward_authz::arn::user(st.store.account_id(), path, name)
}

/// Loads a user by name for a request on it; the resource ARN of a user
/// that does not exist is built from its name so that authorization runs
/// before a 404 reveals anything.
pub(crate) async fn target_user(
    st: &Shared,
    caller: &Caller,
    action: &str,
    name: &str,
    read: bool,
) -> Result<(iam::User, Grant), ApiError> {
    target_user_with(st, caller, action, name, read, &[]).await
}

/// The context keys a request on an existing user supplies: the user's
/// tags as `ward:ResourceTag/*` and, for the actions that take it, the
/// user's permissions boundary as `iam:PermissionsBoundary` — read only
/// when the caller's policies can look at them.
async fn user_resource_context(
    st: &Shared,
    c: &mut sqlx::AnyConnection,
    want: crate::authz::Wanted,
    action: &str,
    u: &iam::User,
) -> Result<Vec<(String, ContextValue)>, ApiError> {
    let mut ctx = Vec::new();
    if want.resource_tags {
        let tags = iam::user_tags(c, &u.id).await?;
        ctx = context::resource_tags(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    }
    if want.boundary && context::supplies_current_boundary(action) {
        if let Some(pid) = &u.boundary_policy_id {
            let p = iam::policy_by_id(c, pid)
                .await?
                .ok_or_else(|| ApiError::internal("boundary policy missing"))?;
            let (k, v) = context::permissions_boundary(&policy_arn(st, &p));
            ctx.push((k.to_owned(), v));
        }
    }
    Ok(ctx)
}

/// [`target_user`] with request-specific context keys (`ward:TagKeys`,
/// `iam:PolicyARN`, …) besides the user's own.
pub(crate) async fn target_user_with(
    st: &Shared,
    caller: &Caller,
    action: &str,
    name: &str,
    read: bool,
    extra: &[(&str, ContextValue)],
) -> Result<(iam::User, Grant), ApiError> {
    names::user_name("name", name)?;
    let want = crate::authz::wanted(st, caller).await?;
    let mut c = st.store.pool().acquire().await?;
    let found = iam::find_user(&mut c, name).await?;
    let own = match &found {
        Some(u) => user_resource_context(st, &mut c, want, action, u).await?,
        None => Vec::new(),
    };
    // Never hold a pooled connection while authorization takes another.
    drop(c);
    let arn = match &found {
        Some(u) => user_arn(&acct(st), u),
        None => user_resource(st, "/", name),
    };
    let ctx: Vec<(&str, ContextValue)> = own
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .chain(extra.iter().cloned())
        .collect();
    let g = if read {
        authorize_read(st, caller, action, &arn, &ctx).await?
    } else {
        authorize(st, caller, action, &arn, &ctx).await?
    };
    let u = found.ok_or_else(|| ApiError::no_such("user", name))?;
    Ok((u, g))
}

async fn create_user(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    b: Bytes,
) -> Result<(StatusCode, Json<api::User>), ApiError> {
    let req: api::CreateUser = body(&b)?;
    names::user_name("name", &req.name)?;
    let path = path_or_root("path", &req.path)?;
    let tags = check_tags("tags", &req.tags)?;
    // AWS supplies the tags and the boundary a CreateUser asks for, so a
    // Deny on iam:TagUser-style keys or a required boundary applies here
    // too (tags given at creation must not bypass a tagging guard-rail).
    let mut ctx = context::request_tags(&tags);
    let boundary = match &req.permissions_boundary {
        None => None,
        Some(r) => {
            let (p, arn) = policy_ref(&st, "permissionsBoundary", r).await?;
            let (k, v) = context::permissions_boundary(&arn);
            ctx.push((k.to_owned(), v));
            Some((p, arn))
        }
    };
    let arn = user_resource(&st, &path, &req.name);
    let g = authorize(&st, &caller, "iam:CreateUser", &arn, &context::refs(&ctx)).await?;
    // As AWS: tagging at creation also needs iam:TagUser, and a boundary at
    // creation also needs iam:PutUserPermissionsBoundary, each with the same
    // keys — otherwise CreateUser is a way around their guard-rails.
    if !tags.is_empty() {
        authorize(&st, &caller, "iam:TagUser", &arn, &context::refs(&ctx)).await?;
    }
    if boundary.is_some() {
        authorize(
            &st,
            &caller,
            "iam:PutUserPermissionsBoundary",
            &arn,
            &context::refs(&ctx),
        )
        .await?;
    }
    let boundary = match boundary {
        None => None,
        Some((p, arn)) => Some(p.ok_or_else(|| ApiError::no_such("policy", &arn))?),
    };
    let mut m = st.store.mutation(&g).await?;
    let u = iam::create_user(
        &mut m.tx,
        &crypto::unique_id("AIDA"),
        &req.name,
        &path,
        now(),
        st.config.uid_range.1,
    )
    .await?;
    iam::tag_user(&mut m.tx, &u.id, &tags).await?;
    let u = match &boundary {
        None => u,
        Some(p) => {
            iam::set_boundary(&mut m.tx, &u.id, Some(&p.id)).await?;
            iam::User {
                boundary_policy_id: Some(p.id.clone()),
                ..u
            }
        }
    };
    let out = user_out(&st, &mut m.tx, &u).await?;
    commit(
        m,
        &caller,
        &g,
        serde_json::json!({"userId": u.id, "uid": u.uid,
            "permissionsBoundary": boundary.as_ref().map(|p| policy_arn(&st, p))}),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(out)))
}

async fn list_users(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    Q(q): Q<ListQuery>,
) -> Result<Json<api::UserList>, ApiError> {
    let (prefix, page) = q.page()?;
    authorize_read(
        &st,
        &caller,
        "iam:ListUsers",
        &ward_authz::arn::user(&acct(&st), &prefix, "*"),
        &[],
    )
    .await?;
    let mut c = st.store.pool().acquire().await?;
    let p = iam::list_users(&mut c, &prefix, &page).await?;
    let mut users = Vec::with_capacity(p.items.len());
    for u in &p.items {
        users.push(user_out(&st, &mut c, u).await?);
    }
    Ok(Json(api::UserList {
        users,
        marker: p.marker,
    }))
}

async fn get_user(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
) -> Result<Json<api::User>, ApiError> {
    let (u, _) = target_user(&st, &caller, "iam:GetUser", &name, true).await?;
    let mut c = st.store.pool().acquire().await?;
    Ok(Json(user_out(&st, &mut c, &u).await?))
}

async fn update_user(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
    b: Bytes,
) -> Result<Json<api::User>, ApiError> {
    let req: api::UpdateUser = body(&b)?;
    if let Some(n) = &req.new_name {
        names::user_name("newName", n)?;
    }
    if let Some(p) = &req.new_path {
        names::path("newPath", p)?;
    }
    let shell = req
        .shell
        .as_deref()
        .map(|s| crate::posix::shell("shell", s))
        .transpose()?;
    let home = req
        .home
        .as_deref()
        .map(|s| crate::posix::home("home", s))
        .transpose()?;
    let gecos = req
        .gecos
        .as_deref()
        .map(|s| crate::posix::gecos("gecos", s))
        .transpose()?;
    let (u, g) = target_user(&st, &caller, "iam:UpdateUser", &name, false).await?;
    // As AWS: a rename or move needs the permission on the new ARN too, or
    // a user allowed to update only `user/${ward:username}` could become
    // `root`, or move under a path that other policies trust.
    let new_path = req.new_path.as_deref().unwrap_or(&u.path);
    let new_name = req.new_name.as_deref().unwrap_or(&u.name);
    let new_arn = user_resource(&st, new_path, new_name);
    if new_arn != user_arn(&acct(&st), &u) {
        let want = crate::authz::wanted(&st, &caller).await?;
        let mut c = st.store.pool().acquire().await?;
        let own = user_resource_context(&st, &mut c, want, "iam:UpdateUser", &u).await?;
        drop(c);
        authorize(
            &st,
            &caller,
            "iam:UpdateUser",
            &new_arn,
            &context::refs(&own),
        )
        .await?;
    }
    let mut m = st.store.mutation(&g).await?;
    let u2 = iam::update_user(
        &mut m.tx,
        &u,
        req.new_name.as_deref(),
        req.new_path.as_deref(),
    )
    .await?;
    let posix_change = shell.is_some() || home.is_some() || gecos.is_some();
    let u2 = if posix_change {
        let home = home.unwrap_or_else(|| u2.home.clone());
        let shell = shell.unwrap_or_else(|| u2.shell.clone());
        let gecos = gecos.unwrap_or_else(|| u2.gecos.clone());
        iam::set_posix(&mut m.tx, &u2, home.as_deref(), shell.as_deref(), &gecos).await?
    } else {
        u2
    };
    // Issue #7 item 3: certificates naming the old name are revoked (same transaction).
    if u2.name != u.name {
        crate::certs::revoke_for_user_change(
            &mut m.tx,
            &u.id,
            crate::certs::UserChange::Renamed(&u.name),
            now(),
        )
        .await?;
    }
    let out = user_out(&st, &mut m.tx, &u2).await?;
    commit(
        m,
        &caller,
        &g,
        serde_json::json!({"newName": req.new_name, "newPath": req.new_path,
            "shell": req.shell, "home": req.home, "gecos": req.gecos}),
    )
    .await?;
    Ok(Json(out))
}

async fn delete_user(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
) -> Result<StatusCode, ApiError> {
    let (u, g) = target_user(&st, &caller, "iam:DeleteUser", &name, false).await?;
    let mut m = st.store.mutation(&g).await?;
    iam::delete_user(&mut m.tx, &u).await?;
    // Issue #7 item 3: the user's certificates die with it (same transaction).
    crate::certs::revoke_for_user_change(
        &mut m.tx,
        &u.id,
        crate::certs::UserChange::Deleted,
        now(),
    )
    .await?;
    commit(m, &caller, &g, serde_json::json!({"userId": u.id})).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn tag_user(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
    b: Bytes,
) -> Result<Json<api::User>, ApiError> {
    let req: api::TagRequest = body(&b)?;
    let tags = check_tags("tags", &req.tags)?;
    let keys: Vec<String> = tags.iter().map(|(k, _)| k.clone()).collect();
    // One decision, with every key AWS supplies for TagUser.
    let ctx = context::request_tags(&tags);
    let (u, g) = target_user_with(
        &st,
        &caller,
        "iam:TagUser",
        &name,
        false,
        &context::refs(&ctx),
    )
    .await?;
    let mut m = st.store.mutation(&g).await?;
    iam::tag_user(&mut m.tx, &u.id, &tags).await?;
    let out = user_out(&st, &mut m.tx, &u).await?;
    commit(m, &caller, &g, serde_json::json!({"tagKeys": keys})).await?;
    Ok(Json(out))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysQuery {
    keys: String,
}

async fn untag_user(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
    Q(q): Q<KeysQuery>,
) -> Result<Json<api::User>, ApiError> {
    let keys: Vec<String> = q
        .keys
        .split(',')
        .map(str::to_owned)
        .filter(|k| !k.is_empty())
        .collect();
    if keys.is_empty() || keys.len() > names::MAX_TAGS {
        return Err(ApiError::invalid(
            "keys",
            "keys must list 1 to 50 comma-separated tag keys",
        ));
    }
    for k in &keys {
        names::tag("keys", k, "")?;
    }
    let (u, g) = target_user_with(
        &st,
        &caller,
        "iam:UntagUser",
        &name,
        false,
        &[context::tag_keys(keys.clone())],
    )
    .await?;
    let mut m = st.store.mutation(&g).await?;
    iam::untag_user(&mut m.tx, &u.id, &keys).await?;
    let out = user_out(&st, &mut m.tx, &u).await?;
    commit(m, &caller, &g, serde_json::json!({"tagKeys": keys})).await?;
    Ok(Json(out))
}

// ---- groups -----------------------------------------------------------

fn group_out(st: &Shared, g: &iam::Group) -> api::Group {
    api::Group {
        name: g.name.clone(),
        group_id: g.id.clone(),
        arn: ward_authz::arn::group(&acct(st), &g.path, &g.name),
        path: g.path.clone(),
        gid: g.gid,
        created: rfc3339(g.created_at),
    }
}

async fn target_group(
    st: &Shared,
    caller: &Caller,
    action: &str,
    name: &str,
    read: bool,
) -> Result<(iam::Group, Grant), ApiError> {
    target_group_with(st, caller, action, name, read, &[]).await
}

/// [`target_group`] with request-specific context keys.
async fn target_group_with(
    st: &Shared,
    caller: &Caller,
    action: &str,
    name: &str,
    read: bool,
    extra: &[(&str, ContextValue)],
) -> Result<(iam::Group, Grant), ApiError> {
    names::group_name("name", name)?;
    let mut c = st.store.pool().acquire().await?;
    let found = iam::find_group(&mut c, name).await?;
    // Never hold a pooled connection while authorization takes another.
    drop(c);
    let arn = match &found {
        Some(g) => group_out(st, g).arn,
        None => ward_authz::arn::group(&acct(st), "/", name),
    };
    let grant = if read {
        authorize_read(st, caller, action, &arn, extra).await?
    } else {
        authorize(st, caller, action, &arn, extra).await?
    };
    Ok((
        found.ok_or_else(|| ApiError::no_such("group", name))?,
        grant,
    ))
}

async fn create_group(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    b: Bytes,
) -> Result<(StatusCode, Json<api::Group>), ApiError> {
    let req: api::CreateGroup = body(&b)?;
    names::group_name("name", &req.name)?;
    let path = path_or_root("path", &req.path)?;
    let g = authorize(
        &st,
        &caller,
        "iam:CreateGroup",
        &ward_authz::arn::group(&acct(&st), &path, &req.name),
        &[],
    )
    .await?;
    let mut m = st.store.mutation(&g).await?;
    let grp = iam::create_group(
        &mut m.tx,
        &crypto::unique_id("AGPA"),
        &req.name,
        &path,
        now(),
        st.config.uid_range.1,
    )
    .await?;
    commit(
        m,
        &caller,
        &g,
        serde_json::json!({"groupId": grp.id, "gid": grp.gid}),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(group_out(&st, &grp))))
}

async fn list_groups(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    Q(q): Q<ListQuery>,
) -> Result<Json<api::GroupList>, ApiError> {
    let (prefix, page) = q.page()?;
    authorize_read(
        &st,
        &caller,
        "iam:ListGroups",
        &ward_authz::arn::group(&acct(&st), &prefix, "*"),
        &[],
    )
    .await?;
    let mut c = st.store.pool().acquire().await?;
    let p = iam::list_groups(&mut c, &prefix, &page).await?;
    Ok(Json(api::GroupList {
        groups: p.items.iter().map(|g| group_out(&st, g)).collect(),
        marker: p.marker,
    }))
}

async fn get_group(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
) -> Result<Json<api::GroupDetail>, ApiError> {
    let (g, _) = target_group(&st, &caller, "iam:GetGroup", &name, true).await?;
    let mut c = st.store.pool().acquire().await?;
    let users = iam::group_members(&mut c, &g.id)
        .await?
        .into_iter()
        .map(|u| u.name)
        .collect();
    Ok(Json(api::GroupDetail {
        group: group_out(&st, &g),
        users,
    }))
}

async fn delete_group(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
) -> Result<StatusCode, ApiError> {
    let (grp, g) = target_group(&st, &caller, "iam:DeleteGroup", &name, false).await?;
    let mut m = st.store.mutation(&g).await?;
    iam::delete_group(&mut m.tx, &grp).await?;
    commit(m, &caller, &g, serde_json::json!({"groupId": grp.id})).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn membership(
    st: &Shared,
    caller: &Caller,
    action: &str,
    group: &str,
    user: &str,
) -> Result<(iam::Group, iam::User, Grant), ApiError> {
    names::user_name("user", user)?;
    let (grp, g) = target_group(st, caller, action, group, false).await?;
    let mut c = st.store.pool().acquire().await?;
    let u = iam::user(&mut c, user).await?;
    Ok((grp, u, g))
}

async fn add_user_to_group(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P((group, user)): P<(String, String)>,
) -> Result<StatusCode, ApiError> {
    membership_change(&st, &caller, &group, &user, true).await
}

async fn remove_user_from_group(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P((group, user)): P<(String, String)>,
) -> Result<StatusCode, ApiError> {
    membership_change(&st, &caller, &group, &user, false).await
}

/// Adds (or removes) a user to (from) a group.
async fn membership_change(
    st: &Shared,
    caller: &Caller,
    group: &str,
    user: &str,
    add: bool,
) -> Result<StatusCode, ApiError> {
    let action = if add {
        "iam:AddUserToGroup"
    } else {
        "iam:RemoveUserFromGroup"
    };
    let (grp, u, g) = membership(st, caller, action, group, user).await?;
    let mut m = st.store.mutation(&g).await?;
    if add {
        iam::add_user_to_group(&mut m.tx, &grp, &u).await?;
    } else {
        iam::remove_user_from_group(&mut m.tx, &grp, &u).await?;
    }
    commit(
        m,
        caller,
        &g,
        serde_json::json!({"user": u.name, "userId": u.id}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn groups_for_user(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
) -> Result<Json<api::GroupList>, ApiError> {
    let (u, _) = target_user(&st, &caller, "iam:ListGroupsForUser", &name, true).await?;
    let mut c = st.store.pool().acquire().await?;
    let groups = iam::groups_for_user(&mut c, &u.id).await?;
    Ok(Json(api::GroupList {
        groups: groups.iter().map(|g| group_out(&st, g)).collect(),
        marker: None,
    }))
}

// ---- managed policies -------------------------------------------------

fn policy_arn(st: &Shared, p: &iam::ManagedPolicy) -> String {
    ward_authz::arn::policy(&acct(st), &p.path, &p.name)
}

async fn policy_out(
    st: &Shared,
    c: &mut sqlx::AnyConnection,
    p: &iam::ManagedPolicy,
    with_doc: bool,
) -> Result<api::ManagedPolicy, ApiError> {
    use sqlx::Row;
    let count: i64 = sqlx::query("SELECT COUNT(*) FROM attachments WHERE policy_id = $1")
        .bind(&p.id)
        .fetch_one(&mut *c)
        .await?
        .try_get(0)?;
    let document = if with_doc {
        iam::policy_document(c, &p.id, p.default_version)
            .await?
            .map(|d| document_json(&d))
    } else {
        None
    };
    Ok(api::ManagedPolicy {
        name: p.name.clone(),
        policy_id: p.id.clone(),
        arn: policy_arn(st, p),
        path: p.path.clone(),
        description: p.description.clone(),
        default_version_id: format!("v{}", p.default_version),
        attachment_count: count,
        created: rfc3339(p.created_at),
        updated: rfc3339(p.updated_at),
        document,
    })
}

/// Accepts a policy name or its ARN.
/// Resolves a managed-policy reference (a name or an ARN) before
/// authorization: the policy, if it exists, and the ARN that
/// `iam:PolicyARN` / `iam:PermissionsBoundary` carry — for a missing policy
/// the ARN is derived from the reference, so that authorization still runs
/// before a 404 says anything.
async fn policy_ref(
    st: &Shared,
    field: &str,
    r: &str,
) -> Result<(Option<iam::ManagedPolicy>, String), ApiError> {
    let name = policy_name_of(r);
    names::policy_name(field, name)?;
    if r.len() > 2048 {
        return Err(ApiError::invalid(
            field,
            "a policy ARN is at most 2048 characters",
        ));
    }
    let mut c = st.store.pool().acquire().await?;
    let found = iam::find_policy(&mut c, name).await?;
    drop(c);
    // An ARN must name this policy, not one of the same name elsewhere.
    let found = found.filter(|p| !r.starts_with("arn:") || r == policy_arn(st, p));
    let arn = match &found {
        Some(p) => policy_arn(st, p),
        None if r.starts_with("arn:") => r.to_owned(),
        None => ward_authz::arn::policy(&acct(st), "/", name),
    };
    Ok((found, arn))
}

fn policy_name_of(s: &str) -> &str {
    if s.starts_with("arn:") {
        s.rsplit('/').next().unwrap_or(s)
    } else {
        s
    }
}

async fn target_policy(
    st: &Shared,
    caller: &Caller,
    action: &str,
    name: &str,
    read: bool,
) -> Result<(iam::ManagedPolicy, Grant), ApiError> {
    let name = policy_name_of(name);
    names::policy_name("name", name)?;
    let mut c = st.store.pool().acquire().await?;
    let found = iam::find_policy(&mut c, name).await?;
    // Never hold a pooled connection while authorization takes another.
    drop(c);
    let arn = match &found {
        Some(p) => policy_arn(st, p),
        None => ward_authz::arn::policy(&acct(st), "/", name),
    };
    let g = if read {
        authorize_read(st, caller, action, &arn, &[]).await?
    } else {
        authorize(st, caller, action, &arn, &[]).await?
    };
    Ok((found.ok_or_else(|| ApiError::no_such("policy", name))?, g))
}

async fn create_policy(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    b: Bytes,
) -> Result<(StatusCode, Json<api::ManagedPolicy>), ApiError> {
    let req: api::CreatePolicy = body(&b)?;
    names::policy_name("name", &req.name)?;
    let path = path_or_root("path", &req.path)?;
    let description = req.description.clone().unwrap_or_default();
    names::text("description", &description, 1000)?;
    let doc = validate_document(&req.document, PolicyKind::Managed)?;
    let g = authorize(
        &st,
        &caller,
        "iam:CreatePolicy",
        &ward_authz::arn::policy(&acct(&st), &path, &req.name),
        &[],
    )
    .await?;
    let mut m = st.store.mutation(&g).await?;
    let p = iam::create_policy(
        &mut m.tx,
        &crypto::unique_id("ANPA"),
        &req.name,
        &path,
        &description,
        &doc,
        now(),
    )
    .await?;
    let out = policy_out(&st, &mut m.tx, &p, true).await?;
    commit(m, &caller, &g, serde_json::json!({"policyId": p.id})).await?;
    Ok((StatusCode::CREATED, Json(out)))
}

async fn list_policies(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    Q(q): Q<ListQuery>,
) -> Result<Json<api::PolicyList>, ApiError> {
    let (prefix, page) = q.page()?;
    authorize_read(
        &st,
        &caller,
        "iam:ListPolicies",
        &ward_authz::arn::policy(&acct(&st), &prefix, "*"),
        &[],
    )
    .await?;
    let mut c = st.store.pool().acquire().await?;
    let p = iam::list_policies(&mut c, &prefix, &page).await?;
    let mut policies = Vec::new();
    for x in &p.items {
        policies.push(policy_out(&st, &mut c, x, false).await?);
    }
    Ok(Json(api::PolicyList {
        policies,
        marker: p.marker,
    }))
}

async fn get_policy(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
) -> Result<Json<api::ManagedPolicy>, ApiError> {
    let (p, _) = target_policy(&st, &caller, "iam:GetPolicy", &name, true).await?;
    let mut c = st.store.pool().acquire().await?;
    Ok(Json(policy_out(&st, &mut c, &p, true).await?))
}

async fn delete_policy(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
) -> Result<StatusCode, ApiError> {
    let (p, g) = target_policy(&st, &caller, "iam:DeletePolicy", &name, false).await?;
    let mut m = st.store.mutation(&g).await?;
    iam::delete_policy(&mut m.tx, &p).await?;
    commit(m, &caller, &g, serde_json::json!({"policyId": p.id})).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn parse_version(field: &str, v: &str) -> Result<i64, ApiError> {
    v.strip_prefix('v')
        .unwrap_or(v)
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| ApiError::invalid(field, format!("version {v:?} must look like v1, v2, …")))
}

async fn create_policy_version(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
    b: Bytes,
) -> Result<(StatusCode, Json<api::PolicyVersion>), ApiError> {
    let req: api::CreatePolicyVersion = body(&b)?;
    let doc = validate_document(&req.document, PolicyKind::Managed)?;
    let (p, g) = target_policy(&st, &caller, "iam:CreatePolicyVersion", &name, false).await?;
    let mut m = st.store.mutation(&g).await?;
    let t = now();
    let v = iam::create_policy_version(&mut m.tx, &p, &doc, req.set_as_default, t).await?;
    commit(m, &caller, &g, serde_json::json!({"policyId": p.id, "versionId": format!("v{v}"), "setAsDefault": req.set_as_default})).await?;
    Ok((
        StatusCode::CREATED,
        Json(api::PolicyVersion {
            version_id: format!("v{v}"),
            is_default: req.set_as_default,
            created: rfc3339(t),
            document: Some(document_json(&doc)),
        }),
    ))
}

async fn list_policy_versions(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
) -> Result<Json<api::PolicyVersionList>, ApiError> {
    let (p, _) = target_policy(&st, &caller, "iam:ListPolicyVersions", &name, true).await?;
    let mut c = st.store.pool().acquire().await?;
    let versions = iam::policy_versions(&mut c, &p.id)
        .await?
        .into_iter()
        .map(|(v, t)| api::PolicyVersion {
            version_id: format!("v{v}"),
            is_default: v == p.default_version,
            created: rfc3339(t),
            document: None,
        })
        .collect();
    Ok(Json(api::PolicyVersionList { versions }))
}

async fn get_policy_version(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P((name, v)): P<(String, String)>,
) -> Result<Json<api::PolicyVersion>, ApiError> {
    let v = parse_version("versionId", &v)?;
    let (p, _) = target_policy(&st, &caller, "iam:GetPolicyVersion", &name, true).await?;
    let mut c = st.store.pool().acquire().await?;
    let versions = iam::policy_versions(&mut c, &p.id).await?;
    let (_, created) = versions
        .iter()
        .find(|(x, _)| *x == v)
        .copied()
        .ok_or_else(|| ApiError::no_such("policy version", &format!("v{v} of {}", p.name)))?;
    let doc = iam::policy_document(&mut c, &p.id, v)
        .await?
        .unwrap_or_default();
    Ok(Json(api::PolicyVersion {
        version_id: format!("v{v}"),
        is_default: v == p.default_version,
        created: rfc3339(created),
        document: Some(document_json(&doc)),
    }))
}

async fn delete_policy_version(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P((name, v)): P<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let v = parse_version("versionId", &v)?;
    let (p, g) = target_policy(&st, &caller, "iam:DeletePolicyVersion", &name, false).await?;
    let mut m = st.store.mutation(&g).await?;
    iam::delete_policy_version(&mut m.tx, &p, v).await?;
    commit(
        m,
        &caller,
        &g,
        serde_json::json!({"policyId": p.id, "versionId": format!("v{v}")}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn set_default_version(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
    b: Bytes,
) -> Result<StatusCode, ApiError> {
    let req: api::SetDefaultVersion = body(&b)?;
    let v = parse_version("versionId", &req.version_id)?;
    let (p, g) = target_policy(&st, &caller, "iam:SetDefaultPolicyVersion", &name, false).await?;
    let mut m = st.store.mutation(&g).await?;
    iam::set_default_version(&mut m.tx, &p, v, now()).await?;
    commit(
        m,
        &caller,
        &g,
        serde_json::json!({"policyId": p.id, "versionId": format!("v{v}")}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- attachments and inline policies ----------------------------------

/// A user or group named in a `/v1/{kind}/{name}/…` route.
struct Principal {
    kind: PrincipalType,
    id: String,
    name: String,
}

fn kind_of(kind: &str) -> Result<PrincipalType, ApiError> {
    match kind {
        "users" => Ok(PrincipalType::User),
        "groups" => Ok(PrincipalType::Group),
        _ => Err(ApiError::NotFound {
            code: "NotFound",
            message: format!("no such API route: /v1/{kind}/…"),
        }),
    }
}

fn action_for(kind: PrincipalType, user: &str, group: &str) -> String {
    match kind {
        PrincipalType::User => user.to_owned(),
        PrincipalType::Group => group.to_owned(),
    }
}

async fn target_principal(
    st: &Shared,
    caller: &Caller,
    kind: &str,
    name: &str,
    actions: (&str, &str),
    read: bool,
) -> Result<(Principal, Grant), ApiError> {
    target_principal_with(st, caller, kind, name, actions, read, &[]).await
}

/// [`target_principal`] with request-specific context keys.
async fn target_principal_with(
    st: &Shared,
    caller: &Caller,
    kind: &str,
    name: &str,
    actions: (&str, &str),
    read: bool,
    extra: &[(&str, ContextValue)],
) -> Result<(Principal, Grant), ApiError> {
    let kind = kind_of(kind)?;
    let action = action_for(kind, actions.0, actions.1);
    match kind {
        PrincipalType::User => {
            let (u, g) = target_user_with(st, caller, &action, name, read, extra).await?;
            Ok((
                Principal {
                    kind,
                    id: u.id,
                    name: u.name,
                },
                g,
            ))
        }
        PrincipalType::Group => {
            let (grp, g) = target_group_with(st, caller, &action, name, read, extra).await?;
            Ok((
                Principal {
                    kind,
                    id: grp.id,
                    name: grp.name,
                },
                g,
            ))
        }
    }
}

async fn attach_policy(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P((kind, name, policy)): P<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    attachment(&st, &caller, &kind, &name, &policy, true).await
}

async fn detach_policy(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P((kind, name, policy)): P<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    attachment(&st, &caller, &kind, &name, &policy, false).await
}

/// Attaches (or detaches) a managed policy to a user or group.
async fn attachment(
    st: &Shared,
    caller: &Caller,
    kind: &str,
    name: &str,
    policy: &str,
    attach: bool,
) -> Result<StatusCode, ApiError> {
    let actions = if attach {
        ("iam:AttachUserPolicy", "iam:AttachGroupPolicy")
    } else {
        ("iam:DetachUserPolicy", "iam:DetachGroupPolicy")
    };
    // iam:PolicyARN is the policy being attached, as in AWS, so that a
    // Deny on attaching `Admin` is a guard-rail that holds.
    let (p, arn) = policy_ref(st, "policy", policy).await?;
    let (pr, g) = target_principal_with(
        st,
        caller,
        kind,
        name,
        actions,
        false,
        &[context::policy_arn(&arn)],
    )
    .await?;
    let p = p.ok_or_else(|| ApiError::no_such("policy", policy))?;
    let mut m = st.store.mutation(&g).await?;
    if attach {
        iam::attach(&mut m.tx, pr.kind, &pr.id, &pr.name, &p).await?;
    } else {
        iam::detach(&mut m.tx, pr.kind, &pr.id, &pr.name, &p).await?;
    }
    commit(
        m,
        caller,
        &g,
        serde_json::json!({"policyArn": policy_arn(st, &p)}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_attached(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P((kind, name)): P<(String, String)>,
) -> Result<Json<api::PolicyList>, ApiError> {
    let (pr, _) = target_principal(
        &st,
        &caller,
        &kind,
        &name,
        (
            "iam:ListAttachedUserPolicies",
            "iam:ListAttachedGroupPolicies",
        ),
        true,
    )
    .await?;
    let mut c = st.store.pool().acquire().await?;
    let mut policies = Vec::new();
    for p in iam::attached(&mut c, pr.kind, &pr.id).await? {
        policies.push(policy_out(&st, &mut c, &p, false).await?);
    }
    Ok(Json(api::PolicyList {
        policies,
        marker: None,
    }))
}

async fn put_inline(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P((kind, name, pname)): P<(String, String, String)>,
    b: Bytes,
) -> Result<StatusCode, ApiError> {
    names::policy_name("policyName", &pname)?;
    let req: api::PutInlinePolicy = body(&b)?;
    let pk = match kind_of(&kind)? {
        PrincipalType::User => PolicyKind::InlineUser,
        PrincipalType::Group => PolicyKind::InlineGroup,
    };
    let doc = validate_document(&req.document, pk)?;
    let (pr, g) = target_principal(
        &st,
        &caller,
        &kind,
        &name,
        ("iam:PutUserPolicy", "iam:PutGroupPolicy"),
        false,
    )
    .await?;
    let mut m = st.store.mutation(&g).await?;
    iam::put_inline(&mut m.tx, pr.kind, &pr.id, &pr.name, &pname, &doc).await?;
    commit(m, &caller, &g, serde_json::json!({"policyName": pname})).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn get_inline(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P((kind, name, pname)): P<(String, String, String)>,
) -> Result<Json<api::InlinePolicy>, ApiError> {
    names::policy_name("policyName", &pname)?;
    let (pr, _) = target_principal(
        &st,
        &caller,
        &kind,
        &name,
        ("iam:GetUserPolicy", "iam:GetGroupPolicy"),
        true,
    )
    .await?;
    let mut c = st.store.pool().acquire().await?;
    let all = iam::inline_policies(&mut c, pr.kind, &pr.id).await?;
    let (n, d) = all
        .into_iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(&pname))
        .ok_or_else(|| ApiError::NotFound {
            code: "NoSuchEntity",
            message: format!(
                "{} {} has no inline policy {pname}",
                pr.kind.as_str(),
                pr.name
            ),
        })?;
    Ok(Json(api::InlinePolicy {
        name: n,
        document: document_json(&d),
    }))
}

async fn list_inline(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P((kind, name)): P<(String, String)>,
) -> Result<Json<api::InlinePolicyList>, ApiError> {
    let (pr, _) = target_principal(
        &st,
        &caller,
        &kind,
        &name,
        ("iam:ListUserPolicies", "iam:ListGroupPolicies"),
        true,
    )
    .await?;
    let mut c = st.store.pool().acquire().await?;
    let names = iam::inline_policies(&mut c, pr.kind, &pr.id)
        .await?
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    Ok(Json(api::InlinePolicyList {
        policy_names: names,
    }))
}

async fn delete_inline(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P((kind, name, pname)): P<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    names::policy_name("policyName", &pname)?;
    let (pr, g) = target_principal(
        &st,
        &caller,
        &kind,
        &name,
        ("iam:DeleteUserPolicy", "iam:DeleteGroupPolicy"),
        false,
    )
    .await?;
    let mut m = st.store.mutation(&g).await?;
    iam::delete_inline(&mut m.tx, pr.kind, &pr.id, &pr.name, &pname).await?;
    commit(m, &caller, &g, serde_json::json!({"policyName": pname})).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn put_boundary(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
    b: Bytes,
) -> Result<StatusCode, ApiError> {
    let req: api::SetBoundary = body(&b)?;
    let (p, arn) = policy_ref(&st, "policy", &req.policy).await?;
    let (u, g) = target_user_with(
        &st,
        &caller,
        "iam:PutUserPermissionsBoundary",
        &name,
        false,
        &[context::permissions_boundary(&arn)],
    )
    .await?;
    let p = p.ok_or_else(|| ApiError::no_such("policy", &req.policy))?;
    let mut m = st.store.mutation(&g).await?;
    iam::set_boundary(&mut m.tx, &u.id, Some(&p.id)).await?;
    commit(
        m,
        &caller,
        &g,
        serde_json::json!({"policyArn": policy_arn(&st, &p)}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_boundary(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
) -> Result<StatusCode, ApiError> {
    let (u, g) = target_user(
        &st,
        &caller,
        "iam:DeleteUserPermissionsBoundary",
        &name,
        false,
    )
    .await?;
    if u.boundary_policy_id.is_none() {
        return Err(ApiError::no_such("permissions boundary of user", &u.name));
    }
    let mut m = st.store.mutation(&g).await?;
    iam::set_boundary(&mut m.tx, &u.id, None).await?;
    commit(m, &caller, &g, serde_json::json!({})).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- credentials ------------------------------------------------------

async fn put_login_profile(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
    b: Bytes,
) -> Result<StatusCode, ApiError> {
    let req: api::LoginProfile = body(&b)?;
    names::user_name("name", &name)?;
    let want = crate::authz::wanted(&st, &caller).await?;
    let mut c = st.store.pool().acquire().await?;
    let found = iam::find_user(&mut c, &name).await?;
    let exists = match &found {
        Some(u) => iam::password_hash(&mut c, &u.id).await?.is_some(),
        None => false,
    };
    let action = if exists {
        "iam:UpdateLoginProfile"
    } else {
        "iam:CreateLoginProfile"
    };
    let own = match &found {
        Some(u) => user_resource_context(&st, &mut c, want, action, u).await?,
        None => Vec::new(),
    };
    drop(c);
    let arn = found
        .as_ref()
        .map(|u| user_arn(&acct(&st), u))
        .unwrap_or_else(|| user_resource(&st, "/", &name));
    let g = authorize(&st, &caller, action, &arn, &context::refs(&own)).await?;
    let u0 = found.ok_or_else(|| ApiError::no_such("user", &name))?;
    names::password(
        "password",
        &u0.name,
        &req.password,
        st.config.passwords.min_length,
    )?;
    let password = req.password.clone();
    // Hashing takes an Argon2 slot like a login does.
    let permit = st.password_checks.try_permit(&st.metrics)?;
    let hash = tokio::task::spawn_blocking(move || {
        let h = crypto::hash_password(&password);
        drop(permit);
        h
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    let mut m = st.store.mutation(&g).await?;
    // A new password ends every session the old one opened.
    let revoked =
        iam::set_password(&mut m.tx, &u0.id, &hash, req.password_reset_required, now()).await?;
    commit(
        m,
        &caller,
        &g,
        serde_json::json!({"passwordResetRequired": req.password_reset_required, "sessionsRevoked": revoked}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_login_profile(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
) -> Result<StatusCode, ApiError> {
    let (u, g) = target_user(&st, &caller, "iam:DeleteLoginProfile", &name, false).await?;
    let mut m = st.store.mutation(&g).await?;
    iam::delete_password(&mut m.tx, &u.id, &u.name).await?;
    commit(m, &caller, &g, serde_json::json!({})).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn key_out(user: &str, k: &iam::AccessKey) -> api::AccessKey {
    api::AccessKey {
        user_name: user.into(),
        access_key_id: k.id.clone(),
        status: k.status.clone(),
        created: rfc3339(k.created_at),
        last_used: k.last_used_at.map(rfc3339),
    }
}

async fn create_access_key(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
) -> Result<(StatusCode, Json<api::NewAccessKey>), ApiError> {
    let (u, g) = target_user(&st, &caller, "iam:CreateAccessKey", &name, false).await?;
    let id = crypto::access_key_id("AKIA");
    let secret = crypto::secret_access_key();
    let sealed = st.master.seal(secret.expose().as_bytes(), id.as_bytes());
    let mut m = st.store.mutation(&g).await?;
    let k = iam::create_access_key(&mut m.tx, &id, &u, &sealed, now()).await?;
    commit(m, &caller, &g, serde_json::json!({"accessKeyId": id})).await?;
    Ok((
        StatusCode::CREATED,
        Json(api::NewAccessKey {
            user_name: u.name,
            access_key_id: k.id,
            secret_access_key: secret.expose().to_owned(),
            status: k.status,
            created: rfc3339(k.created_at),
        }),
    ))
}

async fn list_access_keys(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
) -> Result<Json<api::AccessKeyList>, ApiError> {
    let (u, _) = target_user(&st, &caller, "iam:ListAccessKeys", &name, true).await?;
    let mut c = st.store.pool().acquire().await?;
    let keys = iam::access_keys(&mut c, &u.id).await?;
    Ok(Json(api::AccessKeyList {
        access_keys: keys.iter().map(|k| key_out(&u.name, k)).collect(),
    }))
}

fn check_key_id(id: &str) -> Result<(), ApiError> {
    let ok = id.len() == 20
        && id.starts_with("AKIA")
        && id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "accessKeyId",
            format!("{id:?} is not an access key id (AKIA followed by 16 characters)"),
        ))
    }
}

async fn update_access_key(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P((name, id)): P<(String, String)>,
    b: Bytes,
) -> Result<StatusCode, ApiError> {
    check_key_id(&id)?;
    let req: api::UpdateAccessKey = body(&b)?;
    if req.status != "Active" && req.status != "Inactive" {
        return Err(ApiError::invalid(
            "status",
            "status must be Active or Inactive",
        ));
    }
    let (u, g) = target_user(&st, &caller, "iam:UpdateAccessKey", &name, false).await?;
    let mut m = st.store.mutation(&g).await?;
    iam::set_access_key_status(&mut m.tx, &u, &id, &req.status).await?;
    commit(
        m,
        &caller,
        &g,
        serde_json::json!({"accessKeyId": id, "status": req.status}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_access_key(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P((name, id)): P<(String, String)>,
) -> Result<StatusCode, ApiError> {
    check_key_id(&id)?;
    let (u, g) = target_user(&st, &caller, "iam:DeleteAccessKey", &name, false).await?;
    let mut m = st.store.mutation(&g).await?;
    iam::delete_access_key(&mut m.tx, &u, &id).await?;
    commit(m, &caller, &g, serde_json::json!({"accessKeyId": id})).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- audit ------------------------------------------------------------

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AuditQuery {
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    since: Option<String>,
    #[serde(default)]
    until: Option<String>,
    #[serde(default)]
    after_seq: Option<String>,
    #[serde(default)]
    limit: Option<String>,
}

fn time_param(field: &str, v: &Option<String>, default: i64) -> Result<i64, ApiError> {
    match v {
        None => Ok(default),
        Some(s) => Instant::parse(s)
            .map(Instant::epoch_seconds)
            .ok_or_else(|| {
                ApiError::invalid(
                    field,
                    format!("{s:?} is not a time (RFC 3339 or epoch seconds)"),
                )
            }),
    }
}

async fn audit_events(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    Q(q): Q<AuditQuery>,
) -> Result<Json<api::AuditEventList>, ApiError> {
    let limit = match &q.limit {
        None => 100,
        Some(l) => l
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| ApiError::invalid("limit", "limit must be an integer from 1 to 1000"))?,
    };
    let after_seq = match &q.after_seq {
        None => 0,
        Some(s) => s.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
            ApiError::invalid("afterSeq", "afterSeq must be a non-negative integer")
        })?,
    };
    let f = AuditFilter {
        after_seq,
        since: time_param("since", &q.since, i64::MIN)?,
        until: time_param("until", &q.until, i64::MAX)?,
        principal: q.user.clone().unwrap_or_default(),
        action: q.action.clone().unwrap_or_default(),
        limit,
    };
    names::text("user", &f.principal, 2048)?;
    names::text("action", &f.action, 256)?;
    authorize_read(
        &st,
        &caller,
        "audit:ListEvents",
        &ward_authz::arn::audit_log(&acct(&st)),
        &[],
    )
    .await?;
    let events = st.store.audit_events(&f).await?;
    let next = (events.len() as i64 == limit)
        .then(|| events.last().map(|e| e.seq))
        .flatten();
    Ok(Json(api::AuditEventList {
        events: events
            .into_iter()
            .map(|e| api::AuditEvent {
                seq: e.seq,
                time: rfc3339(e.event.at),
                principal: e.event.principal,
                action: e.event.action,
                resource: e.event.resource,
                decision: e.event.decision,
                source_ip: e.event.source_ip,
                detail: e.event.detail,
                hash: e.hash,
            })
            .collect(),
        next_after_seq: next,
    }))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct VerifyQuery {
    #[serde(default)]
    checkpoint_seq: Option<String>,
    #[serde(default)]
    checkpoint_mac: Option<String>,
}

async fn audit_verify(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    Q(q): Q<VerifyQuery>,
) -> Result<Json<api::AuditVerify>, ApiError> {
    let checkpoint = match (&q.checkpoint_seq, &q.checkpoint_mac) {
        (None, None) => None,
        (Some(seq), Some(mac)) => {
            let seq = seq.parse::<i64>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                ApiError::invalid("checkpointSeq", "checkpointSeq must be a positive integer")
            })?;
            if mac.len() != 64 || !mac.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(ApiError::invalid(
                    "checkpointMac",
                    "checkpointMac must be 64 hex digits",
                ));
            }
            Some((seq, mac.to_ascii_lowercase()))
        }
        (Some(_), None) => {
            return Err(ApiError::invalid(
                "checkpointMac",
                "checkpointSeq needs checkpointMac",
            ))
        }
        (None, Some(_)) => {
            return Err(ApiError::invalid(
                "checkpointSeq",
                "checkpointMac needs checkpointSeq",
            ))
        }
    };
    authorize_read(
        &st,
        &caller,
        "audit:VerifyLog",
        &ward_authz::arn::audit_log(&acct(&st)),
        &[],
    )
    .await?;
    let cp = checkpoint.as_ref().map(|(n, m)| (*n, m.as_str()));
    Ok(Json(match st.store.verify_audit(cp).await? {
        Ok(v) => api::AuditVerify {
            ok: true,
            events: v.events,
            problem: None,
            legacy_events: (v.legacy_events > 0).then_some(v.legacy_events),
            checkpoint_seq: cp.map(|(n, _)| n),
        },
        Err(p) => api::AuditVerify {
            ok: false,
            events: 0,
            problem: Some(p),
            legacy_events: None,
            checkpoint_seq: cp.map(|(n, _)| n),
        },
    }))
}

/// `GET /v1/audit/checkpoint`: the audit head, signed.
async fn audit_checkpoint(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<api::AuditCheckpoint>, ApiError> {
    authorize_read(
        &st,
        &caller,
        "audit:GetCheckpoint",
        &ward_authz::arn::audit_log(&acct(&st)),
        &[],
    )
    .await?;
    let signer = st
        .audit_signer
        .as_ref()
        .ok_or_else(|| ApiError::internal("the audit signing key is not loaded"))?;
    let (seq, mac) = st.store.audit_head().await?;
    Ok(Json(signer.checkpoint(
        &acct(&st),
        seq,
        &mac,
        &rfc3339(now()),
    )))
}

/// `GET /v1/ca/audit-key` (unauthenticated, like the CA keys): the public
/// key that signs audit checkpoints, derived from the opened private key.
async fn audit_key(State(st): State<Shared>) -> Result<Json<api::AuditKey>, ApiError> {
    let signer = st
        .audit_signer
        .as_ref()
        .ok_or_else(|| ApiError::internal("the audit signing key is not loaded"))?;
    Ok(Json(api::AuditKey {
        account_id: acct(&st).to_owned(),
        key_id: signer.id.clone(),
        public_key: signer.public_key_b64(),
    }))
}
