//! Session recordings: the index of the terminating gateway's recorded
//! sessions, read from the audit log.
//!
//! ward-gateway writes each recording (asciicast v2) to its own disk,
//! `recordings_dir/ID.cast`, and reports the session's end as a host
//! audit event `ward-gateway:RecordingEnd` whose `reason` reads `session
//! ID connection gs-… target T as ACCOUNT start S end E bytesIn N bytesOut
//! M recording ID` (the ward user in `detail.user`, the target in
//! `detail.target`). ward-ca keeps no copy of the cast files and has no
//! route to fetch one from a gateway, so this page lists recordings — who,
//! target, account, gateway, when, bytes, id — and says where each file
//! is; it does not replay them. The list is `GET /v1/audit/events?action=
//! ward-gateway:RecordingEnd` as the signed-in caller (`audit:ListEvents`):
//! a caller without it sees the denial explained. Every field came from a
//! host and is written through maud (escaped).

use axum::extract::{Request, State};
use axum::http::Method;
use axum::response::Response;
use maud::html;

use crate::http::dispatch::query;
use crate::http::web::page::{self, failure_box};
use crate::http::web::session::Ctx;
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
    let body = html! {
        h1 { "Session recordings" }
        p class="note" {
            "Sessions recorded by ward-gateway, from the audit log (oldest first). "
            "Each recording is an asciicast file on its gateway, "
            code { "recordings_dir/ID.cast" }
            "; ward-ca keeps no copy, so replay it where it is (e.g. "
            code { "asciinema play ID.cast" } ")."
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
                                td { code class="wrap" { (s.recording) } @if !s.connection.is_empty() { br; span class="hint" { "connection " (s.connection) } } }
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
