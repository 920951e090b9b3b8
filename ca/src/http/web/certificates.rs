//! Certificates: the inventory of issued SSH and X.509 certificates
//! (newest first, paged), filtered by state (valid, expired, revoked) and
//! kind and user, each revocable (a CSRF-checked form; the handler
//! authorizes `ca:RevokeCertificate` and audits). Reads and revocations
//! are `/v1/` calls as the signed-in caller.

use axum::extract::{Request, State};
use axum::http::Method;
use axum::response::Response;
use maud::html;

use crate::http::dispatch::{query, segment};
use crate::http::web::page::{self, csrf_field};
use crate::http::web::session::Ctx;
use crate::service::request::{rfc3339, P};
use crate::state::{now, Shared};

#[derive(Debug, Default, serde::Deserialize)]
struct ListParams {
    /// `all`, `valid`, `expired` or `revoked`.
    #[serde(default)]
    state: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    marker: String,
}

/// The state of a certificate at `now` (RFC 3339 strings in one format
/// compare as times).
fn state_of(c: &serde_json::Value, now: &str) -> &'static str {
    if c["revoked"].is_string() {
        "revoked"
    } else if c["validBefore"].as_str().unwrap_or_default() <= now {
        "expired"
    } else if c["validAfter"].as_str().unwrap_or_default() > now {
        "not yet valid"
    } else {
        "valid"
    }
}

/// `GET /ui/certificates?state=&kind=&user=&marker=`.
pub(crate) async fn list(State(st): State<Shared>, req: Request) -> Response {
    let p: ListParams =
        serde_urlencoded::from_str(req.uri().query().unwrap_or("")).unwrap_or_default();
    let ctx = match Ctx::get(&st, req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let mut q = vec![("limit", "50")];
    match p.state.as_str() {
        "valid" => q.extend([("validNow", "true"), ("revoked", "false")]),
        "expired" => q.push(("revoked", "false")),
        "revoked" => q.push(("revoked", "true")),
        _ => {}
    }
    if !p.kind.is_empty() {
        q.push(("kind", p.kind.as_str()));
    }
    if !p.user.is_empty() {
        q.push(("user", p.user.as_str()));
    }
    if !p.marker.is_empty() {
        q.push(("marker", p.marker.as_str()));
    }
    let reply = match ctx
        .call(Method::GET, &format!("/v1/certificates{}", query(&q)), None)
        .await
    {
        Ok(r) => r,
        Err(f) => return page::fail(&ctx, &f),
    };
    let t = rfc3339(now());
    // `expired`: the API has no such filter; the page keeps the
    // unrevoked certificates of this page that have expired.
    let rows: Vec<&serde_json::Value> = reply["certificates"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| p.state != "expired" || state_of(c, &t) == "expired")
        .collect();
    let here = |marker: &str| {
        let mut pairs = vec![("state", p.state.as_str())];
        pairs.extend([("kind", p.kind.as_str()), ("user", p.user.as_str())]);
        pairs.push(("marker", marker));
        let pairs: Vec<(&str, &str)> = pairs.into_iter().filter(|(_, v)| !v.is_empty()).collect();
        format!("/ui/certificates{}", query(&pairs))
    };
    let body = html! {
        h1 { "Certificates" }
        form method="get" action="/ui/certificates" class="row filters" {
            label for="cert-state" { "State" }
            select id="cert-state" name="state" {
                @for (v, label) in [("", "All"), ("valid", "Valid"), ("expired", "Expired"), ("revoked", "Revoked")] {
                    option value=(v) selected[p.state == v] { (label) }
                }
            }
            label for="cert-kind" { "Kind" }
            select id="cert-kind" name="kind" {
                @for (v, label) in [("", "All"), ("ssh-user", "SSH user"), ("ssh-host", "SSH host"), ("x509-client", "X.509 client")] {
                    option value=(v) selected[p.kind == v] { (label) }
                }
            }
            label for="cert-user" { "User" }
            input id="cert-user" name="user" value=(p.user);
            button type="submit" { "Filter" }
        }
        @if p.state == "expired" {
            p class="hint" { "Expired certificates among this page of unrevoked ones." }
        }
        table class="list" {
            thead { tr {
                th scope="col" { "Serial" } th scope="col" { "Kind" } th scope="col" { "Key id / subject" }
                th scope="col" { "Principals" } th scope="col" { "Valid until" } th scope="col" { "State" }
                th scope="col" { "Action" }
            } }
            tbody {
                @for c in &rows {
                    @let serial = c["serial"].as_str().unwrap_or_default();
                    @let state = state_of(c, &t);
                    tr {
                        td { code { (serial) } }
                        td { (c["kind"].as_str().unwrap_or_default()) }
                        td { code class="subject" { (c["subject"].as_str().unwrap_or_default()) } }
                        td {
                            @for (i, pr) in c["principals"].as_array().into_iter().flatten().enumerate() {
                                @if i > 0 { ", " }
                                code { (pr.as_str().unwrap_or_default()) }
                            }
                        }
                        td { (c["validBefore"].as_str().unwrap_or_default()) }
                        td { span class={"badge state-" (state.replace(' ', "-"))} { (state) } }
                        td {
                            @if state != "revoked" {
                                form method="post" action={"/ui/certificates/" (segment(serial)) "/revoke"} class="inline" {
                                    (csrf_field(&ctx))
                                    button type="submit" class="small bad" aria-label={"Revoke certificate " (serial)} { "Revoke" }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if rows.is_empty() { p { "No certificates." } }
        @if let Some(m) = reply["marker"].as_str() {
            p { a rel="next" href=(here(m)) { "Next page →" } }
        }
    };
    page::ok(&ctx, "Certificates", body)
}

/// `POST /ui/certificates/{serial}/revoke`.
pub(crate) async fn revoke(
    State(st): State<Shared>,
    P(serial): P<String>,
    req: Request,
) -> Response {
    let (ctx, _) = match Ctx::post(&st, req).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match ctx
        .call(
            Method::POST,
            &format!("/v1/certificates/{}/revoke", segment(&serial)),
            None,
        )
        .await
    {
        Ok(_) => page::see(&ctx, "/ui/certificates?state=revoked"),
        Err(f) => page::fail(&ctx, &f),
    }
}
