//! The dashboard's password page: a signed-in user changes their own
//! password through the same ChangePassword handler as the API (which
//! revokes the user's other sessions, this one's cookie included).

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::html;

use crate::http::dispatch::Failure;
use crate::http::web::session::{clear_cookie, Ctx};
use crate::http::web::{page, redirect};
use crate::state::Shared;

/// `GET /ui/password`: change one's own password.
pub(crate) async fn password_form(State(st): State<Shared>, req: Request) -> Response {
    let (parts, _) = req.into_parts();
    let ctx = match Ctx::from_parts(&st, &parts).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    password_page(&ctx, StatusCode::OK, None)
}

fn password_page(ctx: &Ctx, status: StatusCode, error: Option<&Failure>) -> Response {
    let body = html! {
        h1 { "Change your password" }
        @if ctx.caller.password_change_only {
            p class="note" role="status" { "Your password must be changed before you can go on." }
        }
        @if let Some(f) = error { (page::failure_box(f)) }
        form method="post" action="/ui/password" {
            (page::csrf_field(ctx))
            label for="oldPassword" { "Current password" }
            input id="oldPassword" name="oldPassword" type="password" autocomplete="current-password" required;
            label for="newPassword" { "New password" }
            input id="newPassword" name="newPassword" type="password" autocomplete="new-password" required;
            button type="submit" { "Change password" }
        }
        p { "Changing it signs out every session of yours, this one included." }
    };
    ctx.finish((status, page::layout(ctx, "Password", body)).into_response())
}

/// `POST /ui/password`: `POST /v1/change-password`, then sign in again.
pub(crate) async fn change_password(State(st): State<Shared>, req: Request) -> Response {
    let (ctx, form) = match Ctx::post(&st, req).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let body = serde_json::json!({
        "oldPassword": form.get("oldPassword").unwrap_or(""),
        "newPassword": form.get("newPassword").unwrap_or(""),
    });
    match ctx
        .call(Method::POST, "/v1/change-password", Some(&body))
        .await
    {
        Ok(_) => {
            let mut r = redirect("/ui/login?changed=1");
            if let Ok(v) = HeaderValue::from_str(&clear_cookie()) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        }
        Err(f) => password_page(&ctx, f.status, Some(&f)),
    }
}
