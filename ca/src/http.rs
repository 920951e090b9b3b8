//! The http layer: the TLS listener and its connection budget (`tls`),
//! the router, body limits and health/metrics endpoints (`router`),
//! authentication into a [`crate::service::caller::Caller`] (`auth`),
//! in-process calls of the JSON API's handlers for other wire formats
//! (`dispatch`: the AWS Query API, the dashboard), the AWS IAM/STS
//! Query API at `/` (`query`), and the one mapping of [`ApiError`] to an HTTP response (below). It calls
//! the services; nothing below it (service, state, store) names it.

use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

pub mod api;
pub mod auth;
pub mod dispatch;
pub mod query;
pub mod router;
pub mod tls;
pub mod web;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal { detail } = &self {
            tracing::error!(%detail, "internal error");
        }
        let mut err = serde_json::json!({"code": self.code(), "message": self.message()});
        if let Some(f) = self.field() {
            err["field"] = serde_json::Value::String(f.to_owned());
        }
        if let ApiError::SignatureMismatch {
            canonical_request,
            string_to_sign,
            ..
        } = &self
        {
            err["canonicalRequest"] = serde_json::Value::String(canonical_request.clone());
            err["stringToSign"] = serde_json::Value::String(string_to_sign.clone());
        }
        let mut resp = (
            self.status(),
            axum::Json(serde_json::json!({ "error": err })),
        )
            .into_response();
        let retry_after = match &self {
            ApiError::RetryLater { retry_after, .. } => Some(*retry_after),
            ApiError::Unavailable { .. } => Some(crate::error::UNAVAILABLE_RETRY_AFTER),
            _ => None,
        };
        if let Some(secs) = retry_after {
            resp.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(secs),
            );
        }
        resp
    }
}
