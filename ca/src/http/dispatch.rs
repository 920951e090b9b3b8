//! In-process dispatch: other wire formats over the same handlers.
//!
//! The AWS Query API (`Action=CreateUser&…`, XML) and the dashboard's
//! pages are second and third front ends to the JSON API, not second
//! implementations of it. Once a request of theirs is authenticated into a
//! [`Caller`], they call the JSON route that does the job through
//! [`Dispatch::call`]: the request runs through the very handlers of
//! [`api::api`](crate::http::api::api) — their validation, their
//! authorization against the caller's policies, their audit events — and
//! the front end renders the JSON reply (or the typed error) in its own
//! format. Nothing here decides anything: the same host-route confinement
//! and path rules as the wire apply, and the handler authorizes.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::Router;
use bytes::Bytes;
use tower::ServiceExt;

use crate::conn::ConnInfo;
use crate::error::ApiError;
use crate::service::caller::Caller;
use crate::service::request::read_body;
use crate::state::Shared;

/// Largest reply a front end reads back (a full page of a list).
pub const MAX_REPLY: usize = 16 * 1024 * 1024;

/// The JSON API's authenticated routes, ready to be called in process.
/// Cheap to clone (the routes are shared).
#[derive(Clone)]
pub struct Dispatch {
    api: Router,
}

/// What a handler answered.
#[derive(Debug)]
pub struct Reply {
    /// Its HTTP status.
    pub status: StatusCode,
    /// Its body (JSON for every `/v1/` handler, errors included, but a
    /// recording's bytes).
    pub body: Bytes,
    /// Its `Content-Type`, if it sent one.
    pub content_type: Option<String>,
}

/// A handler's error reply, as the JSON API writes it
/// (`{"error": {"code", "message", "field"?}}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// HTTP status.
    pub status: StatusCode,
    /// ward's error code (`NoSuchEntity`, `AccessDenied`, …).
    pub code: String,
    /// The message, as shown to JSON callers.
    pub message: String,
    /// The input field at fault, when the handler named one.
    pub field: Option<String>,
}

impl Failure {
    /// A handler's typed error as the reply it would have written
    /// (internal errors are logged here, as the wire's reply logs them).
    pub fn from_api(e: &ApiError) -> Failure {
        if let ApiError::Internal { detail } = e {
            tracing::error!(%detail, "internal error");
        }
        Failure {
            status: e.status(),
            code: e.code().to_owned(),
            message: e.message(),
            field: e.field().map(str::to_owned),
        }
    }
}

impl Reply {
    /// True for a 2xx reply.
    pub fn ok(&self) -> bool {
        self.status.is_success()
    }

    /// The body as JSON (`null` for an empty body, e.g. a 204).
    pub fn json(&self) -> Result<serde_json::Value, ApiError> {
        if self.body.is_empty() {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_slice(&self.body)
            .map_err(|e| ApiError::internal(format!("handler reply is not JSON: {e}")))
    }

    /// The error a non-2xx reply carries, if it is one.
    pub fn failure(&self) -> Option<Failure> {
        if self.ok() {
            return None;
        }
        let v: serde_json::Value = serde_json::from_slice(&self.body).unwrap_or_default();
        let err = &v["error"];
        let text = |k: &str| err[k].as_str().map(str::to_owned);
        Some(Failure {
            status: self.status,
            code: text("code").unwrap_or_else(|| "InternalError".into()),
            message: text("message").unwrap_or_default(),
            field: text("field"),
        })
    }
}

impl Dispatch {
    /// The `/v1/` routes of [`crate::http::api::api`] over `st`.
    pub fn new(st: Shared) -> Dispatch {
        let api = crate::http::api::api()
            .fallback(|| async {
                ApiError::NotFound {
                    code: "NotFound",
                    message: "no such API route".into(),
                }
            })
            .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
            .with_state(st);
        Dispatch { api }
    }

    /// Calls `METHOD path_and_query` with an optional JSON body as `caller`
    /// from the connection `conn`. The path must be percent-encoded (see
    /// [`segment`]); ambiguous paths and host callers outside the host
    /// routes are refused as on the wire. A handler's error comes back as a
    /// [`Reply`] with its status (see [`Reply::failure`]); `Err` only for a
    /// request that could not be made.
    pub async fn call(
        &self,
        caller: &Caller,
        conn: Option<&ConnInfo>,
        method: Method,
        path_and_query: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Reply, ApiError> {
        self.call_capped(caller, conn, method, path_and_query, body, MAX_REPLY)
            .await
    }

    /// [`Dispatch::call`] reading back at most `max_reply` bytes (a
    /// session recording is larger than any JSON page).
    pub async fn call_capped(
        &self,
        caller: &Caller,
        conn: Option<&ConnInfo>,
        method: Method,
        path_and_query: &str,
        body: Option<&serde_json::Value>,
        max_reply: usize,
    ) -> Result<Reply, ApiError> {
        let path = path_and_query.split('?').next().unwrap_or_default();
        if !path.starts_with("/v1/") || crate::http::api::ambiguous_path(path) {
            return Err(ApiError::invalid(
                "path",
                "paths with '.', '..' or empty segments are refused",
            ));
        }
        crate::http::auth::confine(caller, path)?;
        let bytes = match body {
            Some(v) => {
                Bytes::from(serde_json::to_vec(v).map_err(|e| ApiError::internal(e.to_string()))?)
            }
            None => Bytes::new(),
        };
        let mut req = Request::builder()
            .method(method)
            .uri(path_and_query)
            .header("content-type", "application/json")
            .body(Body::from(bytes))
            .map_err(|e| ApiError::invalid("path", format!("not a valid request path: {e}")))?;
        req.extensions_mut().insert(caller.clone());
        if let Some(c) = conn {
            req.extensions_mut().insert(c.clone());
        }
        let resp = match self.api.clone().oneshot(req).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        let status = resp.status();
        let content_type = resp
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = read_body(resp.into_body(), max_reply).await?;
        Ok(Reply {
            status,
            body,
            content_type,
        })
    }
}

/// Runs one JSON API handler directly — the same function the route
/// table maps `path` to, with the caller's [`Caller`] as its extension —
/// without the in-process HTTP framing of [`Dispatch::call`] (request,
/// routing, a JSON body written and parsed back). For the hot reads of a
/// front end. `segments` are the path's caller-supplied segments: the
/// same ambiguous-path rule as the wire applies to them, and the same
/// host-route confinement to `path`. The reply comes back as JSON.
pub async fn handler<T, F>(
    caller: &Caller,
    path: &str,
    segments: &[&str],
    call: F,
) -> Result<serde_json::Value, Failure>
where
    T: serde::Serialize,
    F: std::future::Future<Output = Result<axum::Json<T>, ApiError>>,
{
    let refuse = |e: ApiError| Failure::from_api(&e);
    if segments.iter().any(|s| matches!(*s, "" | "." | "..")) {
        return Err(refuse(ApiError::invalid(
            "path",
            "paths with '.', '..' or empty segments are refused",
        )));
    }
    crate::http::auth::confine(caller, path).map_err(refuse)?;
    // `call` is a future not yet polled: nothing ran before the checks.
    let axum::Json(v) = call.await.map_err(refuse)?;
    serde_json::to_value(v).map_err(|e| refuse(ApiError::internal(e.to_string())))
}

/// `s` percent-encoded as one path segment (everything but RFC 3986's
/// unreserved characters), so a name can never add a segment or a query.
pub fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `pairs` as a query string (`?a=1&b=2`, values percent-encoded as
/// [`segment`]s), or the empty string when there are none.
pub fn query(pairs: &[(&str, &str)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", segment(k), segment(v)))
        .collect();
    format!("?{}", parts.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_cannot_add_path_or_query() {
        assert_eq!(segment("alice"), "alice");
        assert_eq!(segment("a/b?c=d#e"), "a%2Fb%3Fc%3Dd%23e");
        assert_eq!(segment("x y+z@w"), "x%20y%2Bz%40w");
        assert_eq!(query(&[]), "");
        assert_eq!(
            query(&[("maxItems", "10"), ("pathPrefix", "/")]),
            "?maxItems=10&pathPrefix=%2F"
        );
    }
}
