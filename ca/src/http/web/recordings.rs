//! Session recordings: the index of the terminating gateway's recorded
//! sessions, read from the audit log, and their replay.
//!
//! ward-gateway writes each recording (asciicast v2) to its own disk,
//! `recordings_dir/ID.cast`, reports the session's end as a host audit
//! event `ward-gateway:RecordingEnd` whose `reason` reads `session ID
//! connection gs-… target T as ACCOUNT start S end E bytesIn N bytesOut M
//! recording ID` (the ward user in `detail.user`, the target in
//! `detail.target`), and then uploads the file to ward-ca (`PUT
//! /v1/host/recordings/{id}`, retried until ward-ca has it).
//!
//! - `GET /ui/recordings` ([`list`]): `GET /v1/audit/events?action=
//!   ward-gateway:RecordingEnd` as the signed-in caller (`audit:ListEvents`;
//!   a caller without it sees the denial explained), then one `GET
//!   /v1/recordings?ids=…` (`audit:ListRecordings`) for the ids on the
//!   page: a recording ward-ca holds links to its replay, one it does not
//!   hold yet says "not uploaded yet".
//! - `GET /ui/recordings/{id}` ([`show`]): the replay page. Its facts come
//!   from `GET /v1/recordings?ids=ID`; the player (vendored
//!   asciinema-player, `ca/assets/vendor/`) is created by
//!   `ca/assets/replay.js`, which reads the cast's URL from the
//!   `data-cast` attribute — no inline script; the page's policy is
//!   [`crate::http::web::REPLAY_CSP`].
//! - `GET /ui/recordings/{id}/cast` ([`cast`]): the cast, through the same
//!   authorized call as the JSON API (`GET /v1/recordings/{id}`,
//!   `audit:GetRecording`, every read audited); a refusal is that route's
//!   JSON error, which replay.js shows as text.
//!
//! The cast's content never enters a page: the player gets it as a string
//! and draws it as terminal output. Every field a host chose is written
//! through maud (escaped).

use std::collections::BTreeMap;

use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::html;
use ward_protocol::host::{recording_id_ok, MAX_RECORDING_BYTES, RECORDING_MEDIA_TYPE};

use crate::http::dispatch::{query, segment, Failure};
use crate::http::web::page::{self, failure_box};
use crate::http::web::session::Ctx;
use crate::http::web::{PLAYER_CSS, PLAYER_JS, PLAYER_LICENSE, PLAYER_VERSION, REPLAY_CSP};
use crate::service::request::rfc3339;
use crate::state::Shared;

/// Recordings per page.
const PAGE: &str = "50";

/// The audit action of a recording's end.
const RECORDING_END: &str = ward_protocol::host::EVENT_GATEWAY_RECORDING_END;

#[derive(Debug, Default, serde::Deserialize)]
struct Params {
    #[serde(default)]
    after: String,
}

/// The fields of a `RecordingEnd` reason (`key value` pairs; unknown words
/// are skipped, a missing field is empty).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Recording (and gateway session) id.
    pub recording: String,
    /// The connection's id (`gs-…`).
    pub connection: String,
    /// Target host.
    pub target: String,
    /// Account on the target.
    pub account: String,
    /// Unix seconds.
    pub start: Option<i64>,
    /// Unix seconds.
    pub end: Option<i64>,
    /// Bytes from the client.
    pub bytes_in: Option<u64>,
    /// Bytes to the client.
    pub bytes_out: Option<u64>,
}

/// Parses a `RecordingEnd` reason.
pub fn parse_reason(reason: &str) -> Summary {
    let mut s = Summary::default();
    let words: Vec<&str> = reason.split_whitespace().collect();
    let mut i = 0;
    while i + 1 < words.len() {
        let (k, v) = (words[i], words[i + 1]);
        let known = match k {
            "recording" => {
                s.recording = v.to_owned();
                true
            }
            "session" if s.recording.is_empty() => {
                s.recording = v.to_owned();
                true
            }
            "connection" => {
                s.connection = v.to_owned();
                true
            }
            "target" => {
                s.target = v.to_owned();
                true
            }
            "as" => {
                s.account = v.to_owned();
                true
            }
            "start" => {
                s.start = v.parse().ok();
                true
            }
            "end" => {
                s.end = v.parse().ok();
                true
            }
            "bytesIn" => {
                s.bytes_in = v.parse().ok();
                true
            }
            "bytesOut" => {
                s.bytes_out = v.parse().ok();
                true
            }
            _ => false,
        };
        i += if known { 2 } else { 1 };
    }
    s
}

/// `GET /ui/recordings?after=SEQ`.
pub(crate) async fn list(State(st): State<Shared>, req: Request) -> Response {
    let p: Params = serde_urlencoded::from_str(req.uri().query().unwrap_or("")).unwrap_or_default();
    let ctx = match Ctx::get(&st, req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let mut q = vec![("action", RECORDING_END), ("limit", PAGE)];
    if !p.after.is_empty() {
        q.push(("afterSeq", p.after.as_str()));
    }
    let reply = ctx
        .call(Method::GET, &format!("/v1/audit/events{}", query(&q)), None)
        .await;
    // Which of the listed recordings ward-ca holds (one call for the page).
    let ids: Vec<String> = match &reply {
        Ok(r) => r["events"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|e| parse_reason(e["detail"]["reason"].as_str().unwrap_or_default()).recording)
            .filter(|id| recording_id_ok(id))
            .collect(),
        Err(_) => Vec::new(),
    };
    let held = held(&ctx, &ids).await;
    let body = html! {
        h1 { "Session recordings" }
        p class="note" {
            "Sessions recorded by ward-gateway, from the audit log (oldest first). "
            "The gateway uploads each recording to ward-ca when its session ends "
            "(and again until ward-ca has it); an uploaded one replays here, or with "
            code { "ward recording get ID > ID.cast" } " and " code { "asciinema play ID.cast" } "."
        }
        @if let Err(f) = &held {
            p class="note" { "Whether each recording was uploaded cannot be shown: " }
            (failure_box(f))
        }
        @match &reply {
            Err(f) => (failure_box(f)),
            Ok(r) => {
                @let events = r["events"].as_array().cloned().unwrap_or_default();
                table class="list" {
                    caption class="sr-only" { "Recordings" }
                    thead { tr {
                        th scope="col" { "Recording" } th scope="col" { "User" } th scope="col" { "Target" }
                        th scope="col" { "Account" } th scope="col" { "Gateway" } th scope="col" { "Started" }
                        th scope="col" { "Ended" } th scope="col" { "Bytes in / out" }
                    } }
                    tbody {
                        @for e in &events {
                            @let d = &e["detail"];
                            @let s = parse_reason(d["reason"].as_str().unwrap_or_default());
                            @let target = d["target"].as_str().filter(|t| !t.is_empty()).unwrap_or(s.target.as_str());
                            @let gateway = e["principal"].as_str().unwrap_or_default();
                            @let gateway = gateway.rsplit('/').next().unwrap_or(gateway);
                            tr {
                                td {
                                    code class="wrap" { (s.recording) }
                                    @if !s.connection.is_empty() { br; span class="hint" { "connection " (s.connection) } }
                                    br;
                                    @match held.as_ref().ok().and_then(|h| h.get(&s.recording)) {
                                        Some(size) => {
                                            a href={"/ui/recordings/" (segment(&s.recording))} class="replay" { "Replay (" (size) " bytes)" }
                                        }
                                        None => {
                                            @if held.is_ok() { span class="hint not-uploaded" { "not uploaded yet" } }
                                        }
                                    }
                                }
                                td { (d["user"].as_str().unwrap_or_default()) }
                                td { (target) }
                                td { (d["principal"].as_str().filter(|a| !a.is_empty()).unwrap_or(s.account.as_str())) }
                                td { (gateway) }
                                td { (s.start.map(rfc3339).unwrap_or_default()) }
                                td { (s.end.map(rfc3339).unwrap_or_else(|| e["time"].as_str().unwrap_or_default().to_owned())) }
                                td { (s.bytes_in.map(|n| n.to_string()).unwrap_or_default()) " / " (s.bytes_out.map(|n| n.to_string()).unwrap_or_default()) }
                            }
                        }
                        @if events.is_empty() { tr { td colspan="8" { "No recordings." } } }
                    }
                }
                @if let Some(n) = r["nextAfterSeq"].as_i64() {
                    p { a href={"/ui/recordings?after=" (n)} rel="next" { "Next page →" } }
                }
            }
        }
    };
    page::ok(&ctx, "Session recordings", body)
}

/// The sizes of those of `ids` that ward-ca holds (`GET
/// /v1/recordings?ids=…`, at most 100 at a time), or the refusal.
async fn held(ctx: &Ctx, ids: &[String]) -> Result<BTreeMap<String, u64>, Failure> {
    let mut out = BTreeMap::new();
    for chunk in ids.chunks(crate::service::recordings::MAX_IDS) {
        let joined = chunk.join(",");
        let r = ctx
            .call(
                Method::GET,
                &format!("/v1/recordings{}", query(&[("ids", joined.as_str())])),
                None,
            )
            .await?;
        for rec in r["recordings"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            if let (Some(id), Some(size)) = (rec["id"].as_str(), rec["size"].as_u64()) {
                out.insert(id.to_owned(), size);
            }
        }
    }
    Ok(out)
}

fn bad_id(ctx: &Ctx) -> Response {
    page::fail(
        ctx,
        &Failure {
            status: StatusCode::BAD_REQUEST,
            code: "ValidationError".into(),
            message: "id must be a recording id: gws- and 32 lowercase hex digits".into(),
            field: Some("id".into()),
        },
    )
}

/// `GET /ui/recordings/{id}`: the replay page.
pub(crate) async fn show(
    State(st): State<Shared>,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    let ctx = match Ctx::get(&st, req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if !recording_id_ok(&id) {
        return bad_id(&ctx);
    }
    let facts = ctx
        .call(
            Method::GET,
            &format!("/v1/recordings{}", query(&[("ids", id.as_str())])),
            None,
        )
        .await;
    let info = facts
        .as_ref()
        .ok()
        .and_then(|r| r["recordings"].as_array().and_then(|a| a.first()).cloned());
    let missing = facts.is_ok() && info.is_none();
    let body = html! {
        h1 { "Recording " code class="wrap" { (id) } }
        p { a href="/ui/recordings" { "← All recordings" } }
        @match (&facts, &info) {
            (Err(f), _) => {
                p class="note" { "The recording's details cannot be shown:" }
                (failure_box(f))
            }
            (Ok(_), Some(i)) => {
                dl class="facts" {
                    dt { "Gateway" } dd { (i["gateway"].as_str().unwrap_or_default()) }
                    dt { "Uploaded" } dd { (i["uploadedAt"].as_str().unwrap_or_default()) }
                    dt { "Size" } dd { (i["size"].as_u64().unwrap_or_default()) " bytes" }
                    dt { "SHA-256" } dd { code class="wrap" { (i["sha256"].as_str().unwrap_or_default()) } }
                }
            }
            (Ok(_), None) => {
                p class="note not-uploaded" role="status" {
                    "ward-ca does not hold this recording: not uploaded yet (the gateway uploads it "
                    "when the session ends, and again until ward-ca has it), or no such recording."
                }
            }
        }
        @if !missing {
            link rel="stylesheet" href=(PLAYER_CSS);
            p id="replay-status" class="error" role="alert" hidden { }
            div id="replay" class="replay" data-cast={"/ui/recordings/" (segment(&id)) "/cast"}
                aria-label="Session replay" {}
            p class="hint" {
                "Player: asciinema-player " (PLAYER_VERSION) " ("
                a href=(PLAYER_LICENSE) { "Apache License 2.0" } "). Or: "
                code { "ward recording get " (id) " > " (id) ".cast" } ", then "
                code { "asciinema play " (id) ".cast" } "."
            }
            script src=(PLAYER_JS) {}
            script src="/ui/assets/replay.js" {}
        }
    };
    let mut resp = page::ok(&ctx, "Recording", body);
    resp.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(REPLAY_CSP),
    );
    resp
}

/// `GET /ui/recordings/{id}/cast`: the cast as the signed-in caller may
/// read it (`GET /v1/recordings/{id}`), or that route's JSON error.
pub(crate) async fn cast(
    State(st): State<Shared>,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    let ctx = match Ctx::get(&st, req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let max = usize::try_from(MAX_RECORDING_BYTES).unwrap_or(usize::MAX);
    let reply = match ctx
        .fetch(&format!("/v1/recordings/{}", segment(&id)), max)
        .await
    {
        Ok(r) => r,
        Err(e) => return ctx.finish(e.into_response()),
    };
    let content_type = if reply.ok() {
        RECORDING_MEDIA_TYPE
    } else {
        "application/json"
    };
    ctx.finish(
        (
            reply.status,
            [(header::CONTENT_TYPE, content_type)],
            reply.body,
        )
            .into_response(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gateway_reason_is_read_field_by_field() {
        let s = parse_reason(
            "session gws-ab connection gs-0123 target web-01 as deploy start 1700000000 \
             end 1700000060 bytesIn 12 bytesOut 3456 recording gws-ab",
        );
        assert_eq!(
            s,
            Summary {
                recording: "gws-ab".into(),
                connection: "gs-0123".into(),
                target: "web-01".into(),
                account: "deploy".into(),
                start: Some(1_700_000_000),
                end: Some(1_700_000_060),
                bytes_in: Some(12),
                bytes_out: Some(3456),
            }
        );
        // Garbage is skipped, not trusted as numbers.
        let s = parse_reason("junk start soon bytesIn -1 recording r1");
        assert_eq!(
            (s.start, s.bytes_in, s.recording.as_str()),
            (None, None, "r1")
        );
    }
}
