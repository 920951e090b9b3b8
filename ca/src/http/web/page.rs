//! The dashboard's layout and building blocks: the HTML document (no
//! inline script or style: `ward.css` and `ward.js` only), navigation,
//! form parsing, the CSRF field, and how a handler's typed error — a
//! denial with its explanation included — is shown.
//!
//! Every value is written through maud, which escapes it; nothing here
//! builds markup from strings.

use axum::extract::{Request, State};
use axum::http::Method;
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup};

use crate::http::dispatch::Failure;
pub use crate::http::web::markup::{document, failure_box, href, refused, tags, Form};
use crate::http::web::session::Ctx;
use crate::state::Shared;

/// `key=value` lines as ward tags (`[{key, value}]`); lines without `=`
/// The page layout for a signed-in caller.
pub fn layout(ctx: &Ctx, title: &str, main: Markup) -> Html<String> {
    let nav = html! {
        header class="top" {
            a class="brand" href="/ui/" { "ward" }
            nav aria-label="Main" {
                ul {
                    li { a href="/ui/users" { "Users" } }
                    li { a href="/ui/groups" { "Groups" } }
                    li { a href="/ui/roles" { "Roles" } }
                    li { a href="/ui/policies" { "Policies" } }
                    li { a href="/ui/simulate" { "Simulator" } }
                    li { a href="/ui/hosts" { "Hosts" } }
                    li { a href="/ui/access" { "Access map" } }
                    li { a href="/ui/certificates" { "Certificates" } }
                    li { a href="/ui/audit" { "Audit log" } }
                    li { a href="/ui/recordings" { "Recordings" } }
                }
            }
            div class="me" {
                span class="who" { "Signed in as " strong { (ctx.who()) } }
                a href="/ui/password" { "Password" }
                a href="/ui/mfa" { "MFA" }
                a href="/ui/ssh-keys" { "SSH keys" }
                @if matches!(ctx.caller.identity, crate::service::caller::Identity::Root) {
                    a href="/ui/sessions" { "Sessions" }
                }
                form method="post" action="/ui/logout" class="inline" {
                    (csrf_field(ctx))
                    button type="submit" class="link" { "Sign out" }
                }
            }
        }
    };
    document(title, Some(nav), main)
}

/// The hidden CSRF field of every form.
pub fn csrf_field(ctx: &Ctx) -> Markup {
    html! { input type="hidden" name="csrf" value=(ctx.csrf); }
}

/// A full page for a failed request, with the signed-in layout.
pub fn fail(ctx: &Ctx, f: &Failure) -> Response {
    let body = html! {
        h1 { "Refused" }
        (failure_box(f))
        p { a href="/ui/" { "Home" } }
    };
    ctx.finish((f.status, layout(ctx, "Refused", body)).into_response())
}

/// A page for a request refused before any session is known (bad origin,
/// A rendered page (200) with the cookie re-issued.
pub fn ok(ctx: &Ctx, title: &str, main: Markup) -> Response {
    ctx.finish(layout(ctx, title, main).into_response())
}

/// A 303 to `to` with the cookie re-issued.
pub fn see(ctx: &Ctx, to: &str) -> Response {
    ctx.finish(crate::http::web::redirect(to))
}

/// `GET /ui/`: who is signed in, and where to go.
pub(crate) async fn home(State(st): State<Shared>, req: Request) -> Response {
    let ctx = match Ctx::get(&st, req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let who = ctx.call(Method::GET, "/v1/whoami", None).await;
    let body = html! {
        h1 { "ward" }
        @match &who {
            Ok(w) => {
                dl class="facts" {
                    dt { "Principal" } dd { code { (w["arn"].as_str().unwrap_or_default()) } }
                    dt { "Account" } dd { (w["account"].as_str().unwrap_or_default()) }
                }
            }
            Err(f) => (failure_box(f)),
        }
        ul class="cards" {
            li { a href="/ui/users" { "Users" } " — identities, tags, groups, access keys" }
            li { a href="/ui/groups" { "Groups" } " — members and their policies" }
            li { a href="/ui/roles" { "Roles" } " — trust policies, policies, sessions" }
            li { a href="/ui/policies" { "Policies" } " — documents, versions, live validation" }
            li { a href="/ui/simulate" { "Policy simulator" } " — why a request is allowed or denied" }
            li { a href="/ui/hosts" { "Hosts" } " — agents online, last seen, versions" }
            li { a href="/ui/access" { "Access map" } " — who may log in where, as whom" }
            li { a href="/ui/certificates" { "Certificates" } " — issued, expired, revoked; revoke" }
            li { a href="/ui/audit" { "Audit log" } " — events, chain verification, checkpoint" }
            li { a href="/ui/recordings" { "Session recordings" } " — the gateway's recorded sessions" }
            li { a href="/ui/mfa" { "Your MFA device" } " and " a href="/ui/ssh-keys" { "SSH keys" } }
        }
    };
    ok(&ctx, "Home", body)
}
