//! The audit log: events oldest first, paged by sequence number, filtered
//! by action, principal (an ARN, or a user name) and time range as the
//! API filters them, and by outcome within each page; the latest signed
//! checkpoint; and the chain verification, run on demand (it walks the
//! whole log) with a button. Everything is a `/v1/audit/` call as the
//! signed-in caller (`audit:ListEvents`, `audit:GetCheckpoint`,
//! `audit:VerifyLog`).

use axum::extract::{Request, State};
use axum::http::Method;
use axum::response::Response;
use maud::html;

use crate::http::dispatch::query;
use crate::http::web::page::{self, failure_box};
use crate::http::web::session::Ctx;
use crate::state::Shared;

#[derive(Debug, Default, serde::Deserialize)]
struct Params {
    #[serde(default)]
    action: String,
    #[serde(default)]
    principal: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
    /// `Allowed`, `Denied`, `Failed`, or empty for all.
    #[serde(default)]
    outcome: String,
    #[serde(default, rename = "afterSeq")]
    after_seq: String,
    /// `1`: verify the chain on this request.
    #[serde(default)]
    verify: String,
}

/// `GET /ui/audit?action=&principal=&since=&until=&outcome=&afterSeq=&verify=`.
pub(crate) async fn list(State(st): State<Shared>, req: Request) -> Response {
    let p: Params = serde_urlencoded::from_str(req.uri().query().unwrap_or("")).unwrap_or_default();
    let ctx = match Ctx::get(&st, req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let filters = [
        ("action", p.action.trim()),
        ("user", p.principal.trim()),
        ("since", p.since.trim()),
        ("until", p.until.trim()),
    ];
    let mut q: Vec<(&str, &str)> = filters.into_iter().filter(|(_, v)| !v.is_empty()).collect();
    q.push(("limit", "50"));
    if !p.after_seq.is_empty() {
        q.push(("afterSeq", p.after_seq.as_str()));
    }
    let events = ctx
        .call(Method::GET, &format!("/v1/audit/events{}", query(&q)), None)
        .await;
    let checkpoint = ctx.call(Method::GET, "/v1/audit/checkpoint", None).await;
    let verified = if p.verify == "1" {
        Some(ctx.call(Method::GET, "/v1/audit/verify", None).await)
    } else {
        None
    };
    // The page's own filters, for the next page.
    let here = |after: i64| {
        let after = after.to_string();
        let pairs = [
            ("action", p.action.as_str()),
            ("principal", p.principal.as_str()),
            ("since", p.since.as_str()),
            ("until", p.until.as_str()),
            ("outcome", p.outcome.as_str()),
            ("afterSeq", after.as_str()),
        ];
        let pairs: Vec<(&str, &str)> = pairs.into_iter().filter(|(_, v)| !v.is_empty()).collect();
        format!("/ui/audit{}", query(&pairs))
    };
    // Outcome is filtered within the page (the API has no such filter).
    let keep = |e: &serde_json::Value| {
        p.outcome.is_empty() || e["decision"].as_str() == Some(p.outcome.as_str())
    };
    let body = html! {
        h1 { "Audit log" }
        section aria-labelledby="chain-h" class="chain" {
            h2 id="chain-h" { "Integrity" }
            @match &checkpoint {
                Ok(c) => {
                    dl class="facts" {
                        dt { "Latest checkpoint" } dd { "event " (c["seq"].as_i64().unwrap_or_default()) " at " (c["time"].as_str().unwrap_or_default()) }
                        dt { "Chain MAC" } dd { code { (c["mac"].as_str().unwrap_or_default()) } }
                        dt { "Signed by key" } dd { code { (c["keyId"].as_str().unwrap_or_default()) } }
                        dt { "Signature" } dd { code class="wrap" { (c["signature"].as_str().unwrap_or_default()) } }
                    }
                }
                Err(f) => (failure_box(f)),
            }
            @match &verified {
                None => {
                    form method="get" action="/ui/audit" class="row" {
                        @for (k, v) in [("action", &p.action), ("principal", &p.principal), ("since", &p.since), ("until", &p.until), ("outcome", &p.outcome), ("afterSeq", &p.after_seq)] {
                            @if !v.is_empty() { input type="hidden" name=(k) value=(v); }
                        }
                        input type="hidden" name="verify" value="1";
                        button type="submit" { "Verify the chain" }
                        span class="hint" { " (walks the whole log)" }
                    }
                }
                Some(Ok(v)) => {
                    @if v["ok"].as_bool() == Some(true) {
                        p class="fine" role="status" id="chain-status" {
                            "Chain intact: " (v["events"].as_i64().unwrap_or_default()) " events verified."
                        }
                    } @else {
                        div class="error" role="alert" id="chain-status" {
                            p { strong { "Chain broken" } }
                            p { (v["problem"].as_str().unwrap_or_default()) }
                        }
                    }
                }
                Some(Err(f)) => (failure_box(f)),
            }
        }
        form method="get" action="/ui/audit" class="row filters" {
            label for="f-action" { "Action" }
            input id="f-action" name="action" value=(p.action) placeholder="iam:CreateUser";
            label for="f-principal" { "Principal " span class="hint" { "(ARN or user name)" } }
            input id="f-principal" name="principal" value=(p.principal);
            label for="f-since" { "Since" }
            input id="f-since" name="since" value=(p.since) placeholder="2026-01-01T00:00:00Z";
            label for="f-until" { "Until" }
            input id="f-until" name="until" value=(p.until);
            label for="f-outcome" { "Outcome" }
            select id="f-outcome" name="outcome" {
                @for (v, label) in [("", "All"), ("Allowed", "Allowed"), ("Denied", "Denied"), ("Failed", "Failed")] {
                    option value=(v) selected[p.outcome == v] { (label) }
                }
            }
            button type="submit" { "Filter" }
        }
        @match &events {
            Ok(list) => {
                @if !p.outcome.is_empty() {
                    p class="hint" { "Outcome " (p.outcome) " among this page of events." }
                }
                table class="list audit" {
                    thead { tr {
                        th scope="col" { "#" } th scope="col" { "Time" } th scope="col" { "Principal" }
                        th scope="col" { "Action" } th scope="col" { "Resource" } th scope="col" { "Outcome" }
                        th scope="col" { "Source" } th scope="col" { "Detail" }
                    } }
                    tbody {
                        @for e in list["events"].as_array().into_iter().flatten().filter(|e| keep(e)) {
                            @let decision = e["decision"].as_str().unwrap_or_default();
                            tr {
                                td { (e["seq"].as_i64().unwrap_or_default()) }
                                td { (e["time"].as_str().unwrap_or_default()) }
                                td { code { (e["principal"].as_str().unwrap_or_default()) } }
                                td { code { (e["action"].as_str().unwrap_or_default()) } }
                                td { code { (e["resource"].as_str().unwrap_or_default()) } }
                                td { span.badge.bad[decision != "Allowed"] { (decision) } }
                                td { (e["sourceIp"].as_str().unwrap_or_default()) }
                                td { code class="detail" { (e["detail"].to_string()) } }
                            }
                        }
                    }
                }
                @if let Some(n) = list["nextAfterSeq"].as_i64() {
                    p { a rel="next" href=(here(n)) { "Next page →" } }
                }
            }
            Err(f) => (failure_box(f)),
        }
    };
    page::ok(&ctx, "Audit log", body)
}
