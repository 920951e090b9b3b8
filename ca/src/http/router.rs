//! The router: every route of the `/v1/` API (table in `ward_protocol::api`)
//! mapped to its service handler, the middleware around them (ambiguous
//! paths refused, the body buffered under a cap, authentication into a
//! `Caller`, responses counted), and the unauthenticated `/healthz`,
//! `/readyz` and `/metrics`.

use std::net::{IpAddr, Ipv4Addr};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;

use crate::conn::ConnInfo;
use crate::crypto::sha256_hex;
use crate::error::ApiError;
use crate::http::auth::authenticate;
use crate::service::audit::{audit_checkpoint, audit_events, audit_key, audit_verify};
use crate::service::credentials::{
    create_access_key, delete_access_key, delete_login_profile, list_access_keys,
    put_login_profile, update_access_key,
};
use crate::service::iam::*;
use crate::service::request::read_body;
use crate::state::Shared;

/// Largest request body accepted.
pub const MAX_BODY: usize = 256 * 1024;

/// The whole HTTP surface.
pub fn router(st: Shared) -> Router {
    Router::new()
        .route("/v1/login", post(crate::service::passwords::login))
        .route("/v1/host/join", post(crate::service::host_join::join))
        .route(
            "/v1/identity/guest/id",
            post(crate::service::identity_pools::guest_get_id),
        )
        .route(
            "/v1/identity/guest/credentials",
            post(crate::service::identity_pools::guest_credentials),
        )
        .merge(api().layer(middleware::from_fn_with_state(st.clone(), authn)))
        .route(
            "/v1/ca/ssh-user-keys",
            get(crate::service::certificates::ssh_user_keys),
        )
        .route(
            "/v1/ca/ssh-known-hosts",
            get(crate::service::certificates::ssh_known_hosts),
        )
        .route(
            "/v1/ca/x509-bundle.pem",
            get(crate::service::certificates::x509_bundle),
        )
        .route(
            "/v1/ca/ssh-user.krl",
            get(crate::service::certificates::ssh_krl),
        )
        .route(
            "/v1/ca/ssh-host.krl",
            get(crate::service::certificates::ssh_host_krl),
        )
        .route(
            "/v1/ca/x509.crl",
            get(crate::service::certificates::x509_crl),
        )
        .route(
            "/v1/ca/x509-crls/{id}",
            get(crate::service::certificates::x509_crl_der),
        )
        .route("/v1/ca/audit-key", get(audit_key))
        // The AWS IAM/STS Query API (`POST /`, `GET /?Action=…`): its own
        // authentication scopes, then the same handlers as `/v1/`.
        .route_service("/", crate::http::query::service(st.clone()))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        // The dashboard (issue #15): `/ui/…` (and a browser's bare `GET /`,
        // which the Query API's `serve` hands to `web::root`).
        .merge(crate::http::web::routes())
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

/// The authenticated `/v1/` routes without authentication in front:
/// [`router`] puts `authn` before them, and [`crate::http::dispatch`] calls
/// them for an already authenticated caller — one set of handlers (and so
/// one authorization path) behind every wire format.
pub fn api() -> Router<Shared> {
    Router::new()
        .route("/v1/whoami", get(whoami))
        .route("/v1/users", post(create_user).get(list_users))
        .route(
            "/v1/users/{name}",
            get(get_user).patch(update_user).delete(delete_user),
        )
        .route("/v1/users/{name}/tags", post(tag_user).delete(untag_user))
        .route(
            "/v1/users/{name}/disable",
            post(crate::service::disable::disable),
        )
        .route(
            "/v1/users/{name}/enable",
            post(crate::service::disable::enable),
        )
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
            get(crate::service::sessions::list).delete(crate::service::sessions::revoke_all),
        )
        .route(
            "/v1/users/{name}/sessions/{id}",
            axum::routing::delete(crate::service::sessions::revoke),
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
            post(crate::service::ssh_keys::upload).get(crate::service::ssh_keys::list),
        )
        .route(
            "/v1/users/{name}/ssh-keys/{id}",
            get(crate::service::ssh_keys::get)
                .patch(crate::service::ssh_keys::update)
                .delete(crate::service::ssh_keys::delete),
        )
        .route("/v1/mfa-devices", post(crate::service::mfa::create))
        .route(
            "/v1/mfa-devices/{name}",
            axum::routing::delete(crate::service::mfa::delete),
        )
        .route(
            "/v1/users/{name}/mfa-devices",
            post(crate::service::mfa::enable).get(crate::service::mfa::list),
        )
        .route(
            "/v1/users/{name}/mfa-devices/{device}",
            axum::routing::delete(crate::service::mfa::deactivate),
        )
        .route(
            "/v1/users/{name}/mfa-devices/{device}/resync",
            post(crate::service::mfa::resync),
        )
        .route(
            "/v1/simulate/principal",
            post(crate::service::simulate::principal),
        )
        .route(
            "/v1/simulate/custom",
            post(crate::service::simulate::custom),
        )
        .route(
            "/v1/ssh/user-certificates",
            post(crate::service::certificates::ssh_user_certificate),
        )
        .route(
            "/v1/x509/client-certificates",
            post(crate::service::certificates::x509_client_certificate),
        )
        .route(
            "/v1/hosts",
            post(crate::service::hosts::register).get(crate::service::hosts::list),
        )
        .route(
            "/v1/hosts/{name}",
            get(crate::service::hosts::get)
                .delete(crate::service::hosts::deregister)
                .patch(crate::service::host_registry::update),
        )
        .route(
            "/v1/gateway-sessions/{id}/terminate",
            post(crate::service::gateway_sessions::terminate),
        )
        .route(
            "/v1/hosts/{name}/ssh-certificate",
            post(crate::service::hosts::host_certificate),
        )
        .route("/v1/certificates", get(crate::service::certificates::list))
        .route(
            "/v1/certificates/{serial}/revoke",
            post(crate::service::certificates::revoke),
        )
        .route(
            "/v1/users/{name}/certificates/revoke",
            post(crate::service::certificates::revoke_user),
        )
        .route(
            "/v1/change-password",
            post(crate::service::passwords::change_password),
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
        .route(
            "/v1/roles",
            post(crate::service::roles::create_role).get(crate::service::roles::list_roles),
        )
        .route(
            "/v1/roles/{name}",
            get(crate::service::roles::get_role)
                .patch(crate::service::roles::update_role)
                .delete(crate::service::roles::delete_role),
        )
        .route(
            "/v1/roles/{name}/trust-policy",
            put(crate::service::roles::update_trust),
        )
        .route(
            "/v1/roles/{name}/tags",
            post(crate::service::roles::tag_role).delete(crate::service::roles::untag_role),
        )
        .route(
            "/v1/roles/{name}/permissions-boundary",
            put(crate::service::roles::put_boundary).delete(crate::service::roles::delete_boundary),
        )
        .route(
            "/v1/roles/{name}/revoke-sessions",
            post(crate::service::roles::revoke_sessions),
        )
        .route(
            "/v1/sts/assume-role",
            post(crate::service::sts::assume_role),
        )
        .route(
            "/v1/sts/session-token",
            post(crate::service::sts::session_token),
        )
        .route(
            "/v1/identity-pools",
            post(crate::service::identity_pools::create).get(crate::service::identity_pools::list),
        )
        .route(
            "/v1/identity-pools/{id}",
            get(crate::service::identity_pools::get)
                .patch(crate::service::identity_pools::update)
                .delete(crate::service::identity_pools::delete),
        )
        .route(
            "/v1/identity/id",
            post(crate::service::identity_pools::get_id),
        )
        .route(
            "/v1/identity/credentials",
            post(crate::service::identity_pools::credentials),
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
            post(crate::service::host_join::create_token),
        )
        .route("/v1/host/renew", post(crate::service::host_join::renew))
        .route(
            "/v1/host/snapshot",
            get(crate::service::host_sync::snapshot),
        )
        .route("/v1/host/audit", post(crate::service::host_audit::deliver))
        .route(
            "/v1/host/password/verify",
            post(crate::service::host_passwords::verify),
        )
        .route(
            "/v1/host/password/change",
            post(crate::service::host_passwords::change),
        )
        .route(
            "/v1/host/mfa/verify",
            post(crate::service::mfa::host_verify),
        )
        .route(
            "/v1/host/gateway/session-certificate",
            post(crate::service::gateway_certs::issue),
        )
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
        st.metrics.render() + &crate::service::host_sync::render_metrics(&st.host_sync),
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
pub(crate) fn ambiguous_path(path: &str) -> bool {
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
            if let Err(e) = crate::http::auth::confine(&caller, parts.uri.path()) {
                return e.into_response();
            }
            parts.extensions.insert(caller);
            let mut resp = next
                .run(Request::from_parts(parts, Body::from(bytes)))
                .await;
            // Authenticated callers' connections are shed last when the
            // listener is full.
            resp.extensions_mut().insert(crate::conn::Authenticated);
            resp
        }
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    /// Every `(METHOD, path)` this file's `router` registers, read from
    /// its source: each `.route("PATH", get(…).post(…))` call, with
    /// `{kind}` expanded to `users`, `groups` and `roles` as `kind_of` does.
    fn served() -> std::collections::BTreeSet<(String, String)> {
        let src = include_str!("router.rs");
        let src = &src[..src.find("#[cfg(test)]").unwrap()];
        let b = src.as_bytes();
        let mut out = std::collections::BTreeSet::new();
        let mut at = 0;
        while let Some(i) = src[at..].find(".route(") {
            let start = at + i + ".route(".len();
            // The call's arguments, up to its closing parenthesis.
            let (mut depth, mut end) = (1, start);
            while depth > 0 {
                match b[end] {
                    b'(' => depth += 1,
                    b')' => depth -= 1,
                    _ => {}
                }
                end += 1;
            }
            let args = &src[start..end - 1];
            let q1 = args.find('"').unwrap();
            let q2 = q1 + 1 + args[q1 + 1..].find('"').unwrap();
            let path = &args[q1 + 1..q2];
            // Method routers at the top level of the second argument.
            let rest = &args[q2 + 1..];
            let (rb, mut d) = (rest.as_bytes(), 0);
            for (j, c) in rb.iter().enumerate() {
                match c {
                    b'(' => d += 1,
                    b')' => d -= 1,
                    _ => {}
                }
                if d == 0 && *c == b'(' {
                    continue;
                }
                if d == 0 {
                    for m in ["get", "post", "put", "patch", "delete"] {
                        let boundary =
                            j == 0 || !(rb[j - 1].is_ascii_alphanumeric() || rb[j - 1] == b'_');
                        if boundary && rest[j..].starts_with(&format!("{m}(")) {
                            let paths = if path.contains("{kind}") {
                                vec![
                                    path.replace("{kind}", "users"),
                                    path.replace("{kind}", "groups"),
                                    path.replace("{kind}", "roles"),
                                ]
                            } else {
                                vec![path.to_owned()]
                            };
                            for p in paths {
                                out.insert((m.to_uppercase(), p));
                            }
                        }
                    }
                }
            }
            at = end;
        }
        out
    }

    #[test]
    fn the_router_serves_exactly_the_route_table() {
        let served: std::collections::BTreeSet<(String, String)> = served()
            .into_iter()
            .filter(|(_, p)| p.starts_with("/v1/"))
            .collect();
        let table: std::collections::BTreeSet<(String, String)> = ward_authz::routes::ROUTES
            .iter()
            .map(|r| (r.method.to_owned(), r.path.to_owned()))
            .collect();
        // Not vacuous: the parse finds routes of every method.
        for m in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            assert!(served.iter().any(|(x, _)| x == m), "no {m} route parsed");
        }
        let missing: Vec<_> = served.difference(&table).collect();
        let extra: Vec<_> = table.difference(&served).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "served but not in ward_authz::routes::ROUTES: {missing:?}\n\
             in ROUTES but not served: {extra:?}"
        );
    }

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
