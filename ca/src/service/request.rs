//! What every handler does with a request before and after its own work:
//! bounded body reading, JSON bodies, path and query parameters whose
//! errors name the field (`P`, `Q`, `body`), and the audit event a
//! mutation commits with (`event`, `commit`).

use axum::body::{Body, Bytes};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use ward_policy::Instant;

use crate::error::ApiError;
use crate::service::caller::Caller;
use crate::state::now;
use crate::store::{AuditEvent, Grant, Mutation};

/// Buffers a request body of at most `limit` bytes: 413 if it is longer,
/// 408 if it does not arrive within the listener's body deadline.
pub(crate) async fn read_body(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        if crate::conn::is_body_timeout(&e) {
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

pub(crate) fn rfc3339(t: i64) -> String {
    Instant::from_epoch_seconds(t).to_rfc3339()
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

/// The `limit` query parameter of a listing: 1 to 1000, 100 if absent.
pub(crate) fn limit(q: &Option<String>) -> Result<i64, ApiError> {
    match q {
        None => Ok(100),
        Some(l) => l
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| ApiError::invalid("limit", "limit must be an integer from 1 to 1000")),
    }
}
