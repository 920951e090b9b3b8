//! The account root's dashboard sessions: each open one (signed in, last
//! seen, source address, the browser's User-Agent at sign-in), the one in
//! use marked, and "sign out everywhere else", which ends every other.
//!
//! Both are the `/v1/` routes called as the signed-in caller
//! (`GET /v1/root/sessions`, `POST /v1/root/sessions/sign-out-others`),
//! which serve root only: anyone else sees the 403 explained.

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::html;

use crate::http::dispatch::Failure;
use crate::http::web::page::{self, csrf_field, failure_box};
use crate::http::web::session::Ctx;
use crate::state::Shared;

/// `GET /ui/sessions`.
pub(crate) async fn show(State(st): State<Shared>, req: Request) -> Response {
    let ctx = match Ctx::get(&st, req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    sessions_page(&ctx, StatusCode::OK, None, None).await
}

async fn sessions_page(
    ctx: &Ctx,
    status: StatusCode,
    note: Option<&str>,
    error: Option<&Failure>,
) -> Response {
    let list = ctx.call(Method::GET, "/v1/root/sessions", None).await;
    let body = html! {
        h1 { "Root sessions" }
        @if let Some(n) = note { p class="note" role="status" { (n) } }
        @if let Some(f) = error { (failure_box(f)) }
        @match &list {
            Err(f) => (failure_box(f)),
            Ok(l) => {
                @let sessions = l["sessions"].as_array().cloned().unwrap_or_default();
                table class="list" id="root-sessions" {
                    caption class="sr-only" { "The account root's open sessions" }
                    thead {
                        tr {
                            th scope="col" { "Session" }
                            th scope="col" { "Signed in" }
                            th scope="col" { "Last seen" }
                            th scope="col" { "From" }
                            th scope="col" { "Browser" }
                        }
                    }
                    tbody {
                        @for s in &sessions {
                            tr {
                                td {
                                    code { (s["id"].as_str().unwrap_or_default()) }
                                    @if s["current"].as_bool() == Some(true) {
                                        " " strong class="current" { "(this session)" }
                                    }
                                }
                                td { (s["created"].as_str().unwrap_or_default()) }
                                td { (s["lastSeen"].as_str().unwrap_or_default()) }
                                td { (s["sourceIp"].as_str().unwrap_or_default()) }
                                td { (s["userAgent"].as_str().unwrap_or("—")) }
                            }
                        }
                    }
                }
                @if sessions.iter().any(|s| s["current"].as_bool() != Some(true)) {
                    form method="post" action="/ui/sessions" class="inline" {
                        (csrf_field(ctx))
                        input type="hidden" name="op" value="sign-out-others";
                        button type="submit" class="bad" { "Sign out everywhere else" }
                    }
                } @else {
                    p { "No other session is open." }
                }
            }
        }
    };
    ctx.finish((status, page::layout(ctx, "Root sessions", body)).into_response())
}

/// `POST /ui/sessions` (`op` = sign-out-others).
pub(crate) async fn act(State(st): State<Shared>, req: Request) -> Response {
    let (ctx, form) = match Ctx::post(&st, req).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if form.text("op") != "sign-out-others" {
        return page::fail(
            &ctx,
            &Failure {
                status: StatusCode::BAD_REQUEST,
                code: "InvalidInput".into(),
                message: "op must be sign-out-others".into(),
                field: Some("op".into()),
            },
        );
    }
    match ctx
        .call(Method::POST, "/v1/root/sessions/sign-out-others", None)
        .await
    {
        Ok(r) => {
            let n = r["ended"].as_array().map_or(0, Vec::len);
            let note = format!("Signed out everywhere else: {n} session(s) ended.");
            sessions_page(&ctx, StatusCode::OK, Some(&note), None).await
        }
        Err(f) => sessions_page(&ctx, f.status, None, Some(&f)).await,
    }
}
