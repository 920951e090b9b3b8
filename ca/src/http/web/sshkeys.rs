//! SSH public keys of a user: the list (id, fingerprint, status, upload
//! time, the key line with its comment), upload (the handler's validation
//! error shown in place, naming the field), activate/deactivate, delete.
//!
//! `/ui/ssh-keys` is the signed-in user's own keys; `/ui/ssh-keys/NAME`
//! another user's, which policy may allow (`iam:ListSSHPublicKeys`,
//! `iam:UploadSSHPublicKey`, … on the user's ARN) or refuse — the refusal
//! is shown with its explanation. Every read and change is a `/v1/` call
//! as the signed-in caller. Key comments are free text chosen by whoever
//! uploaded the key: written through maud (escaped), like every value.

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::html;

use crate::http::dispatch::{segment, Failure};
use crate::http::web::mfa::me;
use crate::http::web::page::{self, csrf_field, failure_box, href};
use crate::http::web::session::Ctx;
use crate::service::request::P;
use crate::state::Shared;

#[derive(Debug, Default, serde::Deserialize)]
struct Which {
    #[serde(default)]
    user: String,
}

/// `GET /ui/ssh-keys[?user=NAME]`: one's own keys, or the named user's.
pub(crate) async fn mine(State(st): State<Shared>, req: Request) -> Response {
    let which: Which =
        serde_urlencoded::from_str(req.uri().query().unwrap_or("")).unwrap_or_default();
    let ctx = match Ctx::get(&st, req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let user = match (which.user.trim(), me(&ctx)) {
        ("", Some(m)) => m,
        ("", None) => {
            let body = html! {
                h1 { "SSH keys" }
                p class="note" { "SSH keys belong to users. Open a user's keys:" }
                (user_picker())
            };
            return page::ok(&ctx, "SSH keys", body);
        }
        (u, _) => u.to_owned(),
    };
    page::see(&ctx, &href("ssh-keys", &user))
}

fn user_picker() -> maud::Markup {
    html! {
        form method="get" action="/ui/ssh-keys" class="row" {
            label for="keys-user" { "User" }
            input id="keys-user" name="user" required;
            button type="submit" { "Show keys" }
        }
    }
}

/// `GET /ui/ssh-keys/{user}`.
pub(crate) async fn show(State(st): State<Shared>, P(user): P<String>, req: Request) -> Response {
    let ctx = match Ctx::get(&st, req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    keys_page(&ctx, &user, StatusCode::OK, None, "").await
}

async fn keys_page(
    ctx: &Ctx,
    user: &str,
    status: StatusCode,
    error: Option<&Failure>,
    typed: &str,
) -> Response {
    let seg = segment(user);
    let list = ctx
        .call(Method::GET, &format!("/v1/users/{seg}/ssh-keys"), None)
        .await;
    let keys: Vec<serde_json::Value> = match &list {
        Ok(l) => l["sshPublicKeys"].as_array().cloned().unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    // The key line (with its comment) is only in a single key's answer; a
    // user has a handful of keys at most.
    let mut lines = Vec::with_capacity(keys.len());
    for k in &keys {
        let id = k["sshPublicKeyId"].as_str().unwrap_or_default();
        let one = ctx
            .call(
                Method::GET,
                &format!("/v1/users/{seg}/ssh-keys/{}", segment(id)),
                None,
            )
            .await;
        lines.push(
            one.ok()
                .and_then(|v| v["publicKey"].as_str().map(str::to_owned))
                .unwrap_or_default(),
        );
    }
    let base = href("ssh-keys", user);
    let own = me(ctx).as_deref() == Some(user);
    let body = html! {
        h1 { @if own { "Your SSH keys" } @else { "SSH keys of " span class="name" { (user) } } }
        @if let Some(f) = error { (failure_box(f)) }
        @match &list {
            Err(f) => (failure_box(f)),
            Ok(_) => {
                table class="list" {
                    caption class="sr-only" { "SSH public keys" }
                    thead { tr {
                        th scope="col" { "Key id" } th scope="col" { "Fingerprint" } th scope="col" { "Status" }
                        th scope="col" { "Uploaded" } th scope="col" { "Key" } th scope="col" { span class="sr-only" { "Actions" } }
                    } }
                    tbody {
                        @for (k, line) in keys.iter().zip(&lines) {
                            @let id = k["sshPublicKeyId"].as_str().unwrap_or_default();
                            @let active = k["status"].as_str() == Some("Active");
                            @let action = format!("{base}/{}", segment(id));
                            tr {
                                td { code { (id) } }
                                td { code class="wrap" { (k["fingerprint"].as_str().unwrap_or_default()) } }
                                td { @if active { span class="badge" { "Active" } } @else { span class="badge bad" { "Inactive" } } }
                                td { (k["uploaded"].as_str().unwrap_or_default()) }
                                td { code class="wrap key-line" { (line) } }
                                td {
                                    form method="post" action=(action) class="inline" {
                                        (csrf_field(ctx))
                                        input type="hidden" name="op" value=(if active { "Inactive" } else { "Active" });
                                        button type="submit" class="small" aria-label={(if active { "Deactivate " } else { "Activate " }) (id)} {
                                            (if active { "Deactivate" } else { "Activate" })
                                        }
                                    }
                                    " "
                                    form method="post" action=(action) class="inline" {
                                        (csrf_field(ctx))
                                        input type="hidden" name="op" value="delete";
                                        button type="submit" class="small bad" aria-label={"Delete " (id)} { "Delete" }
                                    }
                                }
                            }
                        }
                        @if keys.is_empty() { tr { td colspan="6" { "No SSH keys." } } }
                    }
                }
            }
        }
        h2 id="upload-h" { "Upload a key" }
        form method="post" action=(base) class="stack" {
            (csrf_field(ctx))
            label for="publicKey" { "Public key " span class="hint" { "(one OpenSSH line: type, base64, optional comment — e.g. the contents of ~/.ssh/id_ed25519.pub)" } }
            textarea id="publicKey" name="publicKey" rows="3" required class="code" spellcheck="false" { (typed) }
            button type="submit" { "Upload key" }
        }
        h2 { "Another user's keys" }
        (user_picker())
    };
    let title = format!("SSH keys of {user}");
    ctx.finish((status, page::layout(ctx, &title, body)).into_response())
}

/// `POST /ui/ssh-keys/{user}`: upload (`publicKey`).
pub(crate) async fn upload(State(st): State<Shared>, P(user): P<String>, req: Request) -> Response {
    let (ctx, form) = match Ctx::post(&st, req).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let text = form.text("publicKey");
    let body = serde_json::json!({"publicKey": text});
    let path = format!("/v1/users/{}/ssh-keys", segment(&user));
    match ctx.call(Method::POST, &path, Some(&body)).await {
        Ok(_) => page::see(&ctx, &href("ssh-keys", &user)),
        Err(f) => keys_page(&ctx, &user, f.status, Some(&f), text).await,
    }
}

/// `POST /ui/ssh-keys/{user}/{id}`: `op` = Active, Inactive or delete.
pub(crate) async fn act(
    State(st): State<Shared>,
    P((user, id)): P<(String, String)>,
    req: Request,
) -> Response {
    let (ctx, form) = match Ctx::post(&st, req).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let path = format!("/v1/users/{}/ssh-keys/{}", segment(&user), segment(&id));
    let res = match form.text("op") {
        "delete" => ctx.call(Method::DELETE, &path, None).await,
        status => {
            let body = serde_json::json!({"status": status});
            ctx.call(Method::PATCH, &path, Some(&body)).await
        }
    };
    match res {
        Ok(_) => page::see(&ctx, &href("ssh-keys", &user)),
        Err(f) => keys_page(&ctx, &user, f.status, Some(&f), "").await,
    }
}
