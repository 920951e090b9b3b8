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
use crate::service::audit::audit_key;
use crate::service::request::read_body;
use crate::state::Shared;

pub use crate::http::api::{ambiguous_path, api, MAX_BODY};

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
        // A gateway's session recording: up to MAX_RECORDING_BYTES, so its
        // body is not buffered under MAX_BODY by `authn` but streamed to
        // the handler, which caps it.
        .route(
            "/v1/host/recordings/{id}",
            put(crate::service::recordings::upload)
                .layer(middleware::from_fn_with_state(st.clone(), authn_streamed)),
        )
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
        st.metrics.render()
            + &crate::service::host_sync::render_metrics(&st.host_sync)
            + &st.store.render_metrics(),
    )
        .into_response()
}

fn peer(parts: &Parts) -> (IpAddr, bool) {
    match parts.extensions.get::<ConnInfo>() {
        Some(c) => (c.remote.ip(), c.tls),
        None => (IpAddr::V4(Ipv4Addr::LOCALHOST), false),
    }
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

/// Authenticates a request whose body goes to its handler unread (a
/// recording upload, capped there). The body is not hashed, so only a
/// credential that does not sign it — a host certificate — can pass for
/// it; a SigV4 signature over a body fails, and the handler refuses any
/// caller but a gateway host anyway.
/// A refused request's answer, after its body is read (up to the ordinary
/// MAX_BODY, as every other route reads it before authenticating) and
/// dropped: answering while the client still sends resets its HTTP/2
/// stream, and the client sees a framing error instead of the refusal.
async fn refuse(answer: impl IntoResponse, body: Body) -> Response {
    let _ = read_body(body, MAX_BODY).await;
    answer.into_response()
}

async fn authn_streamed(State(st): State<Shared>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let (ip, tls) = peer(&parts);
    match authenticate(&st, &parts, &sha256_hex(b""), ip, tls).await {
        Ok(caller) => {
            if let Err(e) = crate::http::auth::confine(&caller, parts.uri.path()) {
                return refuse(e, body).await;
            }
            parts.extensions.insert(caller);
            let mut resp = next.run(Request::from_parts(parts, body)).await;
            resp.extensions_mut().insert(crate::conn::Authenticated);
            resp
        }
        Err(e) => refuse(e, body).await,
    }
}

#[cfg(test)]
mod tests {
    /// Every `(METHOD, path)` this file's `router` registers, read from
    /// its source: each `.route("PATH", get(…).post(…))` call, with
    /// `{kind}` expanded to `users`, `groups` and `roles` as `kind_of` does.
    fn served() -> std::collections::BTreeSet<(String, String)> {
        let router = include_str!("router.rs");
        let src = format!(
            "{}{}",
            &router[..router.find("#[cfg(test)]").unwrap()],
            include_str!("api.rs")
        );
        let src = src.as_str();
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
