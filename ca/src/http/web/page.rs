//! The dashboard's layout and building blocks: the HTML document (no
//! inline script or style: `ward.css` and `ward.js` only), navigation,
//! form parsing, the CSRF field, and how a handler's typed error — a
//! denial with its explanation included — is shown.
//!
//! Every value is written through maud, which escapes it; nothing here
//! builds markup from strings.

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

use crate::http::dispatch::{segment, Failure};
use crate::http::web::session::Ctx;
use crate::state::Shared;

/// A parsed `application/x-www-form-urlencoded` body.
#[derive(Debug, Default)]
pub struct Form(Vec<(String, String)>);

impl Form {
    /// Parses a body (undecodable pairs are dropped).
    pub fn parse(bytes: &[u8]) -> Form {
        Form(serde_urlencoded::from_bytes::<Vec<(String, String)>>(bytes).unwrap_or_default())
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `name`, trimmed, or "".
    pub fn text(&self, name: &str) -> &str {
        self.get(name).map(str::trim).unwrap_or("")
    }
}

/// `key=value` lines as ward tags (`[{key, value}]`); lines without `=`
/// are tags with an empty value.
pub fn tags(text: &str) -> serde_json::Value {
    let tags: Vec<serde_json::Value> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or((l, ""));
            serde_json::json!({"key": k.trim(), "value": v.trim()})
        })
        .collect();
    serde_json::Value::Array(tags)
}

/// A link to a dashboard page for a named thing (`/ui/users/NAME`).
pub fn href(kind: &str, name: &str) -> String {
    format!("/ui/{kind}/{}", segment(name))
}

/// The whole HTML document.
pub fn document(title: &str, nav: Option<Markup>, main: Markup) -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) " · ward" }
                    link rel="stylesheet" href="/ui/assets/ward.css";
                link rel="icon" href="/ui/assets/favicon.svg" type="image/svg+xml";
                    script src="/ui/assets/ward.js" defer {}
                }
                body {
                    a class="skip" href="#main" { "Skip to content" }
                    @if let Some(n) = nav { (n) }
                    div id="main" class="content" tabindex="-1" { (main) }
                }
            }
        }
        .into_string(),
    )
}

/// The page layout for a signed-in caller.
pub fn layout(ctx: &Ctx, title: &str, main: Markup) -> Html<String> {
    let nav = html! {
        header class="top" {
            a class="brand" href="/ui/" { "ward" }
            nav aria-label="Main" {
                ul {
                    li { a href="/ui/users" { "Users" } }
                    li { a href="/ui/groups" { "Groups" } }
                    li { a href="/ui/policies" { "Policies" } }
                    li { a href="/ui/simulate" { "Simulator" } }
                    li { a href="/ui/hosts" { "Hosts" } }
                    li { a href="/ui/access" { "Access map" } }
                }
            }
            div class="me" {
                span class="who" { "Signed in as " strong { (ctx.who()) } }
                a href="/ui/password" { "Password" }
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

/// A handler's error, as the page shows it: code, explanation, field.
pub fn failure_box(f: &Failure) -> Markup {
    html! {
        div class="error" role="alert" {
            p { strong { (f.code) } " (" (f.status.as_u16()) ")" }
            p class="explanation" { (f.message) }
            @if let Some(field) = &f.field { p { "Field: " code { (field) } } }
        }
    }
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
/// CSRF, oversized body).
pub fn refused(status: StatusCode, code: &str, message: &str) -> Response {
    let body = html! {
        h1 { "Refused" }
        div class="error" role="alert" {
            p { strong { (code) } " (" (status.as_u16()) ")" }
            p class="explanation" { (message) }
        }
        p { a href="/ui/" { "Dashboard" } }
    };
    (status, document("Refused", None, body)).into_response()
}

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
            li { a href="/ui/policies" { "Policies" } " — documents, versions, live validation" }
            li { a href="/ui/simulate" { "Policy simulator" } " — why a request is allowed or denied" }
            li { a href="/ui/hosts" { "Hosts" } " — agents online, last seen, versions" }
            li { a href="/ui/access" { "Access map" } " — who may log in where, as whom" }
        }
    };
    ok(&ctx, "Home", body)
}
