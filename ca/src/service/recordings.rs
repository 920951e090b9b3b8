//! Session recordings (issue #15): ward-gateway uploads each finished
//! terminating session's asciicast v2 file, and users with policy read it
//! back (the dashboard's replay page, `ward recording get`).
//!
//! - `PUT /v1/host/recordings/{id}` ([`upload`]): only an enrolled host of
//!   kind `gateway`, by its host certificate, and only for a session it
//!   reported itself (its `ID-start` audit event is in `host_audit_ids`).
//!   The body is read under [`MAX_RECORDING_BYTES`] (a `Content-Length`
//!   above it is refused before reading; a body growing past it is cut
//!   off: 413), at most [`UPLOAD_SLOTS`] at a time (else 429 with
//!   `Retry-After`), so memory stays bounded. It must be asciicast v2
//!   ([`validate`]: a header object with `version` 2 and a positive
//!   width and height, then `[time, code, data]` events with `code` one
//!   of `o`, `i`, `r`, `m`, `data` a string and times that never go
//!   back): otherwise 400 naming the line. Written once: the same bytes
//!   again under the same id from the same gateway are 200 (nothing
//!   written), other bytes are 409, and any other gateway is 403 — a
//!   recording can be neither overwritten nor claimed. Each stored upload
//!   is audited (`host:UploadRecording`, with size and SHA-256); so are
//!   refused overwrites and claims.
//! - `GET /v1/recordings/{id}` ([`get`]): `audit:GetRecording` on
//!   `arn:ward:audit::ACCT:recording/ID`, authorized before the lookup (an
//!   unknown id is 404 only to a caller who may read it), every read
//!   audited; the bytes as stored, `application/x-asciicast`.
//! - `GET /v1/recordings?ids=a,b&limit=N` ([`list`]):
//!   `audit:ListRecordings` on `arn:ward:audit::ACCT:recording/*`; the
//!   metadata (never the bytes) of the ids asked for that are held, or of
//!   the newest `limit`.
//!
//! The bytes are data: stored and served as uploaded, never parsed into
//! HTML (the dashboard hands them to the player as a string).

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use ward_protocol::api::{RecordingInfo, RecordingList};
use ward_protocol::host::{
    recording_id_ok, RecordingUploaded, EVENT_RECORDING_UPLOAD, KIND_GATEWAY, MAX_RECORDING_BYTES,
    RECORDING_MEDIA_TYPE,
};

use crate::crypto::sha256_hex;
use crate::error::ApiError;
use crate::service::authz::{authorize, system_grant};
use crate::service::caller::{require_host, Caller};
use crate::service::iam::acct;
use crate::service::request::{limit, read_body, rfc3339, P, Q};
use crate::state::{now, Shared};
use crate::store::recordings::{self, Meta};
use crate::store::{host_registry, AuditEvent};

/// Uploads read at the same time (each holds at most
/// [`MAX_RECORDING_BYTES`] in memory); more get 429 with `Retry-After`.
pub const UPLOAD_SLOTS: usize = 2;
/// Seconds a gateway is asked to wait when every slot is taken.
const BUSY_RETRY_AFTER: u64 = 5;
/// Most ids in one `GET /v1/recordings?ids=`.
pub const MAX_IDS: usize = 100;

static SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(UPLOAD_SLOTS);

/// Why a cast is not asciicast v2: the 1-based line and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadCast {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub why: String,
}

fn bad(line: usize, why: impl Into<String>) -> BadCast {
    BadCast {
        line,
        why: why.into(),
    }
}

/// Checks that `bytes` is an asciicast v2 recording: line 1 a JSON object
/// with `version` 2 and positive integer `width` and `height`; every
/// other line a JSON array `[time, code, data]` — `time` a finite number
/// ≥ 0 and ≥ the previous event's, `code` one of `o` (output), `i`
/// (input), `r` (resize: `COLSxROWS`), `m` (marker), `data` a string. A
/// final newline is allowed; empty lines elsewhere are not. Pure.
pub fn validate(bytes: &[u8]) -> Result<(), BadCast> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        bad(line, "is not UTF-8")
    })?;
    let body = text.strip_suffix('\n').unwrap_or(text);
    if body.is_empty() {
        return Err(bad(1, "the header is missing (the body is empty)"));
    }
    let mut last = 0.0f64;
    for (i, line) in body.split('\n').enumerate() {
        let n = i + 1;
        let v: serde_json::Value = serde_json::from_str(line.strip_suffix('\r').unwrap_or(line))
            .map_err(|e| bad(n, format!("is not JSON ({e})")))?;
        if n == 1 {
            let h = v
                .as_object()
                .ok_or_else(|| bad(1, "the header must be a JSON object"))?;
            if h.get("version").and_then(serde_json::Value::as_u64) != Some(2) {
                return Err(bad(1, "the header's version must be 2 (asciicast v2)"));
            }
            for k in ["width", "height"] {
                match h.get(k).and_then(serde_json::Value::as_u64) {
                    Some(x) if (1..=10_000).contains(&x) => {}
                    _ => {
                        return Err(bad(
                            1,
                            format!("the header's {k} must be an integer from 1 to 10000"),
                        ))
                    }
                }
            }
            continue;
        }
        let ev = v
            .as_array()
            .filter(|a| a.len() == 3)
            .ok_or_else(|| bad(n, "an event must be [time, code, data]"))?;
        let t = ev[0]
            .as_f64()
            .filter(|t| t.is_finite() && *t >= 0.0)
            .ok_or_else(|| bad(n, "the event time must be a number ≥ 0"))?;
        if t < last {
            return Err(bad(
                n,
                format!("the event time {t} is before the previous event's {last}"),
            ));
        }
        last = t;
        let code = ev[1]
            .as_str()
            .ok_or_else(|| bad(n, "the event code must be a string"))?;
        let data = ev[2]
            .as_str()
            .ok_or_else(|| bad(n, "the event data must be a string"))?;
        match code {
            "o" | "i" | "m" => {}
            "r" => {
                let ok = data.split_once('x').is_some_and(|(c, r)| {
                    c.parse::<u32>().is_ok_and(|c| c > 0) && r.parse::<u32>().is_ok_and(|r| r > 0)
                });
                if !ok {
                    return Err(bad(n, "a resize event's data must be COLSxROWS"));
                }
            }
            other => {
                return Err(bad(
                    n,
                    format!(
                        "the event code {:?} is not o, i, r or m",
                        other.chars().take(16).collect::<String>()
                    ),
                ))
            }
        }
    }
    Ok(())
}

fn id_param(id: &str) -> Result<(), ApiError> {
    if recording_id_ok(id) {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "id",
            "id must be a recording id: gws- and 32 lowercase hex digits",
        ))
    }
}

fn event(
    caller: &Caller,
    action: &str,
    resource: &str,
    decision: &str,
    detail: serde_json::Value,
) -> AuditEvent {
    AuditEvent {
        at: now(),
        principal: caller.arn().to_owned(),
        action: action.to_owned(),
        resource: resource.to_owned(),
        decision: decision.to_owned(),
        source_ip: caller.source_ip.to_string(),
        detail,
    }
}

/// `PUT /v1/host/recordings/{id}` (body: the cast, streamed).
pub(crate) async fn upload(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(id): P<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<RecordingUploaded>), ApiError> {
    let host = require_host(&caller)?.clone();
    {
        let mut c = st.store.pool().acquire().await?;
        if host_registry::kind(&mut c, &host.id).await?.as_deref() != Some(KIND_GATEWAY) {
            return Err(ApiError::Denied {
                message: format!(
                    "{} is not enrolled as a gateway: only a gateway uploads session recordings",
                    host.name
                ),
            });
        }
    }
    id_param(&id)?;
    let too_large = || ApiError::TooLarge {
        message: format!("a recording may be at most {MAX_RECORDING_BYTES} bytes"),
    };
    // A declared length over the cap is refused before anything is read.
    if let Some(n) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if n > MAX_RECORDING_BYTES {
            return Err(too_large());
        }
    }
    let _slot = SLOTS.try_acquire().map_err(|_| ApiError::RetryLater {
        message: "ward-ca is busy storing other recordings; try again".into(),
        retry_after: BUSY_RETRY_AFTER,
    })?;
    let cap = usize::try_from(MAX_RECORDING_BYTES).unwrap_or(usize::MAX);
    let bytes = match read_body(body, cap).await {
        Ok(b) => b,
        Err(ApiError::TooLarge { .. }) => return Err(too_large()),
        Err(e) => return Err(e),
    };
    if let Err(b) = validate(&bytes) {
        return Err(ApiError::invalid(
            "body",
            format!("line {}: {} (asciicast v2 expected)", b.line, b.why),
        ));
    }
    let sha = sha256_hex(&bytes);
    let size = bytes.len() as u64;
    let resource = ward_authz::arn::recording(&acct(&st), &id);
    let (existing, reported) = {
        let mut c = st.store.pool().acquire().await?;
        (
            recordings::get_meta(&mut c, &id).await?,
            recordings::reported(&mut c, &host.id, &format!("{id}-start")).await?,
        )
    };
    let answer = |created: bool| RecordingUploaded {
        id: id.clone(),
        size,
        sha256: sha.clone(),
        created,
    };
    if let Some(old) = existing {
        if old.host_id != host.id {
            let message = format!(
                "recording {id} was uploaded by another gateway; it cannot be overwritten or claimed"
            );
            st.store
                .record(&event(
                    &caller,
                    EVENT_RECORDING_UPLOAD,
                    &resource,
                    "Refused",
                    serde_json::json!({"reason": "OwnedByAnotherGateway", "sha256": sha, "size": size}),
                ))
                .await?;
            return Err(ApiError::Denied { message });
        }
        if old.sha256 != sha {
            st.store
                .record(&event(
                    &caller,
                    EVENT_RECORDING_UPLOAD,
                    &resource,
                    "Refused",
                    serde_json::json!({"reason": "DifferentContent", "sha256": sha, "size": size,
                                       "storedSha256": old.sha256}),
                ))
                .await?;
            return Err(ApiError::Conflict {
                code: "RecordingExists",
                message: format!(
                    "recording {id} is already stored with other content (sha256 {}); recordings are never overwritten",
                    old.sha256
                ),
            });
        }
        return Ok((StatusCode::OK, Json(answer(false))));
    }
    // Only the gateway that reported the session may upload its recording
    // (its RecordingStart event carries the id `ID-start`): no gateway can
    // claim an id another one recorded.
    if !reported {
        return Err(ApiError::NotFound {
            code: "NoSuchEntity",
            message: format!(
                "{} has not reported a recorded session {id} (its RecordingStart audit event has not arrived yet)",
                host.name
            ),
        });
    }
    let mut m = st
        .store
        .mutation(&system_grant(EVENT_RECORDING_UPLOAD, &resource))
        .await?
        .without_iam_change();
    let row = Meta {
        id: id.clone(),
        host_id: host.id.clone(),
        host_name: host.name.clone(),
        size: i64::try_from(size).map_err(ApiError::internal)?,
        sha256: sha.clone(),
        created_at: now(),
    };
    if !recordings::insert(&mut m.tx, &row, &bytes).await? {
        // Another upload of this id committed between the check and the
        // insert: nothing written; the next attempt gets 200, 403 or 409.
        return Err(ApiError::RetryLater {
            message: format!("recording {id} was stored meanwhile; upload it again"),
            retry_after: 1,
        });
    }
    m.commit(&event(
        &caller,
        EVENT_RECORDING_UPLOAD,
        &resource,
        "Allowed",
        serde_json::json!({"gateway": host.name, "size": size, "sha256": sha}),
    ))
    .await?;
    Ok((StatusCode::CREATED, Json(answer(true))))
}

/// `GET /v1/recordings/{id}`: the cast.
pub(crate) async fn get(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(id): P<String>,
) -> Result<Response, ApiError> {
    id_param(&id)?;
    let resource = ward_authz::arn::recording(&acct(&st), &id);
    authorize(&st, &caller, "audit:GetRecording", &resource, &[]).await?;
    let bytes = {
        let mut c = st.store.pool().acquire().await?;
        recordings::content(&mut c, &id).await?
    };
    let Some(bytes) = bytes else {
        return Err(ApiError::NotFound {
            code: "NoSuchEntity",
            message: format!(
                "recording {id} is not stored on ward-ca (not uploaded yet, or no such recording)"
            ),
        });
    };
    // Who replayed which recording is part of the record.
    st.store
        .record(&event(
            &caller,
            "audit:GetRecording",
            &resource,
            "Allowed",
            serde_json::json!({"size": bytes.len()}),
        ))
        .await?;
    Ok((
        [
            (header::CONTENT_TYPE, RECORDING_MEDIA_TYPE),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        bytes,
    )
        .into_response())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ListQuery {
    #[serde(default)]
    ids: Option<String>,
    #[serde(default)]
    limit: Option<String>,
}

/// `GET /v1/recordings?ids=a,b&limit=N`.
pub(crate) async fn list(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    Q(q): Q<ListQuery>,
) -> Result<Json<RecordingList>, ApiError> {
    let limit = limit(&q.limit)?;
    let ids: Option<Vec<String>> = match &q.ids {
        None => None,
        Some(s) => {
            let ids: Vec<String> = s
                .split(',')
                .filter(|x| !x.is_empty())
                .map(str::to_owned)
                .collect();
            if ids.len() > MAX_IDS {
                return Err(ApiError::invalid(
                    "ids",
                    format!("at most {MAX_IDS} ids at a time"),
                ));
            }
            if let Some(b) = ids.iter().find(|i| !recording_id_ok(i)) {
                return Err(ApiError::invalid(
                    "ids",
                    format!(
                        "{:?} is not a recording id (gws- and 32 lowercase hex digits)",
                        b.chars().take(64).collect::<String>()
                    ),
                ));
            }
            Some(ids)
        }
    };
    let resource = ward_authz::arn::recording(&acct(&st), "*");
    crate::service::authz::authorize_read(&st, &caller, "audit:ListRecordings", &resource, &[])
        .await?;
    let mut c = st.store.pool().acquire().await?;
    let rows = match ids {
        Some(ids) => recordings::some(&mut c, &ids).await?,
        None => recordings::newest(&mut c, limit).await?,
    };
    Ok(Json(RecordingList {
        recordings: rows
            .into_iter()
            .map(|m| RecordingInfo {
                id: m.id,
                gateway: m.host_name,
                size: u64::try_from(m.size).unwrap_or_default(),
                sha256: m.sha256,
                uploaded_at: rfc3339(m.created_at),
            })
            .collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asciicast_v2_is_checked_line_by_line() {
        let h = r#"{"version":2,"width":80,"height":24}"#;
        let ok = format!(
            "{h}\n[0.1,\"o\",\"hi\"]\n[0.1,\"r\",\"100x30\"]\n[0.5,\"i\",\"x\"]\n[1,\"m\",\"\"]\n"
        );
        assert_eq!(validate(ok.as_bytes()), Ok(()));
        // Header only, no final newline.
        assert_eq!(validate(h.as_bytes()), Ok(()));
        for (text, line, why) in [
            ("", 1, "header is missing"),
            ("[1]\n", 1, "JSON object"),
            (
                r#"{"version":1,"width":80,"height":24}"#,
                1,
                "version must be 2",
            ),
            (r#"{"version":2,"width":0,"height":24}"#, 1, "width"),
            (r#"{"version":2,"width":80}"#, 1, "height"),
            ("not json", 1, "not JSON"),
        ] {
            assert_eq!(
                validate(text.as_bytes()).map_err(|b| (b.line, b.why.contains(why))),
                Err((line, true)),
                "{text}"
            );
        }
        for (ev, why) in [
            ("[0.2,\"o\"]", "[time, code, data]"),
            ("[-1,\"o\",\"x\"]", "≥ 0"),
            ("[0.05,\"o\",\"x\"]", "before the previous"),
            ("[0.2,\"x\",\"x\"]", "not o, i, r or m"),
            ("[0.2,\"o\",3]", "data must be a string"),
            ("[0.2,\"r\",\"wide\"]", "COLSxROWS"),
            ("", "not JSON"),
            ("<script>alert(1)</script>", "not JSON"),
        ] {
            let text = format!("{h}\n[0.1,\"o\",\"a\"]\n{ev}\n[9,\"o\",\"b\"]\n");
            let r = validate(text.as_bytes()).map_err(|b| (b.line, b.why.clone()));
            match r {
                Err((3, w)) => assert!(w.contains(why), "{ev}: {w}"),
                other => panic!("{ev}: {other:?}"),
            }
        }
        let mut latin = format!("{h}\n").into_bytes();
        latin.extend_from_slice(b"[0.1,\"o\",\"\xff\"]\n");
        assert_eq!(validate(&latin).map_err(|b| b.line), Err(2));
    }
}
