//! The dashboard's markup that needs no session: the HTML document (no
//! inline script or style: `ward.css` and `ward.js` only), form parsing,
//! tags and links, and how a handler's typed error — a denial with its
//! explanation included — is shown. `page` builds the signed-in layout on
//! top of it; `session` (sign-in) uses it directly.
//!
//! Every value is written through maud, which escapes it; nothing here
//! builds markup from strings.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

use crate::http::dispatch::{segment, Failure};

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
