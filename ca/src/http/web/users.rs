//! Users: the list (search by name, path prefix, paging), create, and a
//! user's page (tags, groups, attached policies, access keys — a new
//! key's secret shown once with a copy button —, disable, delete). Every
//! read and change is a `/v1/` call as the signed-in caller.

use axum::extract::{Request, State};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};

use crate::http::dispatch::{query, segment, Failure};
use crate::http::web::page::{self, csrf_field, failure_box, href};
use crate::http::web::session::Ctx;
use crate::service::request::P;
use crate::state::Shared;

/// Users per page.
const PAGE: usize = 50;

/// Most users read while searching by name (in pages of 1,000).
const SEARCH_SCAN: usize = 20_000;

#[derive(Debug, Default, serde::Deserialize)]
struct ListParams {
    #[serde(default)]
    q: String,
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    marker: String,
}

fn params(req: &Request) -> ListParams {
    serde_urlencoded::from_str(req.uri().query().unwrap_or("")).unwrap_or_default()
}

/// `GET /ui/users?q=&prefix=&marker=`.
pub(crate) async fn list(State(st): State<Shared>, req: Request) -> Response {
    let p = params(&req);
    let ctx = match Ctx::get(&st, req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let prefix = if p.prefix.is_empty() { "/" } else { &p.prefix };
    let needle = p.q.to_lowercase();
    // A page of PAGE users whose names contain the search text (all
    // users when it is empty), read through the API's own paging.
    let mut users: Vec<serde_json::Value> = Vec::new();
    let mut marker = (!p.marker.is_empty()).then(|| p.marker.clone());
    let mut next = None;
    let mut scanned = 0usize;
    let batch = if needle.is_empty() { PAGE } else { 1000 };
    loop {
        let batch_s = batch.to_string();
        let mut q: Vec<(&str, &str)> = vec![("maxItems", &batch_s), ("pathPrefix", prefix)];
        if let Some(m) = &marker {
            q.push(("marker", m));
        }
        let reply = match ctx
            .call(Method::GET, &format!("/v1/users{}", query(&q)), None)
            .await
        {
            Ok(r) => r,
            Err(f) => return page::fail(&ctx, &f),
        };
        let got = reply["users"].as_array().cloned().unwrap_or_default();
        scanned += got.len();
        let more = reply["marker"].as_str().map(str::to_owned);
        let mut stopped_at = None;
        for u in got {
            let name = u["name"].as_str().unwrap_or_default().to_lowercase();
            if needle.is_empty() || name.contains(&needle) {
                if users.len() == PAGE {
                    stopped_at = Some(name);
                    break;
                }
                users.push(u);
            }
        }
        if stopped_at.is_some() {
            // Resume after the last user shown.
            next = users
                .last()
                .and_then(|u| u["name"].as_str())
                .map(str::to_owned);
            break;
        }
        match more {
            Some(m) if scanned < SEARCH_SCAN && !needle.is_empty() => marker = Some(m),
            Some(m) => {
                next = if needle.is_empty() { Some(m) } else { None };
                break;
            }
            None => break,
        }
    }
    let truncated = !needle.is_empty() && scanned >= SEARCH_SCAN;
    let next_href = next.map(|m| {
        format!(
            "/ui/users?{}",
            serde_urlencoded::to_string([("q", p.q.as_str()), ("prefix", prefix), ("marker", &m)])
                .unwrap_or_default()
        )
    });
    let body = html! {
        h1 { "Users" }
        form method="get" action="/ui/users" class="search" role="search" {
            label for="q" { "Name contains" }
            input id="q" name="q" type="search" value=(p.q);
            label for="prefix" { "Path prefix" }
            input id="prefix" name="prefix" value=(prefix);
            button type="submit" { "Search" }
        }
        @if truncated { p class="note" { "Searched the first " (SEARCH_SCAN) " users only; narrow the path prefix." } }
        table class="list" {
            caption class="sr-only" { "Users" }
            thead { tr { th scope="col" { "Name" } th scope="col" { "Path" } th scope="col" { "Created" } th scope="col" { "Tags" } th scope="col" { "Status" } } }
            tbody {
                @for u in &users {
                    @let name = u["name"].as_str().unwrap_or_default();
                    tr {
                        td { a href=(href("users", name)) { (name) } }
                        td { code { (u["path"].as_str().unwrap_or_default()) } }
                        td { (u["created"].as_str().unwrap_or_default()) }
                        td { (tag_list(&u["tags"])) }
                        td { @if u["disabled"].as_bool() == Some(true) { span class="badge bad" { "disabled" } } @else { span class="badge" { "active" } } }
                    }
                }
                @if users.is_empty() { tr { td colspan="5" { "No users." } } }
            }
        }
        @if let Some(h) = next_href { p { a href=(h) rel="next" { "Next page →" } } }
        h2 id="create" { "Create a user" }
        form method="post" action="/ui/users" class="stack" {
            (csrf_field(&ctx))
            label for="new-name" { "Name" }
            input id="new-name" name="name" required maxlength="64";
            label for="new-path" { "Path " span class="hint" { "(default /)" } }
            input id="new-path" name="path" placeholder="/";
            label for="new-tags" { "Tags " span class="hint" { "(one key=value a line)" } }
            textarea id="new-tags" name="tags" rows="3" {}
            button type="submit" { "Create user" }
        }
    };
    page::ok(&ctx, "Users", body)
}

fn tag_list(tags: &serde_json::Value) -> Markup {
    html! {
        @for t in tags.as_array().into_iter().flatten() {
            span class="tag" { (t["key"].as_str().unwrap_or_default()) "=" (t["value"].as_str().unwrap_or_default()) } " "
        }
    }
}

/// `POST /ui/users`: `POST /v1/users`.
pub(crate) async fn create(State(st): State<Shared>, req: Request) -> Response {
    let (ctx, form) = match Ctx::post(&st, req).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let name = form.text("name").to_owned();
    let mut body = serde_json::json!({"name": name, "tags": page::tags(form.text("tags"))});
    if !form.text("path").is_empty() {
        body["path"] = serde_json::Value::String(form.text("path").to_owned());
    }
    match ctx.call(Method::POST, "/v1/users", Some(&body)).await {
        Ok(_) => page::see(&ctx, &href("users", &name)),
        Err(f) => page::fail(&ctx, &f),
    }
}

/// `GET /ui/users/{name}`.
pub(crate) async fn show(State(st): State<Shared>, P(name): P<String>, req: Request) -> Response {
    let ctx = match Ctx::get(&st, req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    user_page(&ctx, &name, None).await
}

/// The user's page; `new_key` is a key just created (its secret shown
/// this once).
async fn user_page(ctx: &Ctx, name: &str, new_key: Option<&serde_json::Value>) -> Response {
    let seg = segment(name);
    let user = match ctx
        .call(Method::GET, &format!("/v1/users/{seg}"), None)
        .await
    {
        Ok(u) => u,
        Err(f) => return page::fail(ctx, &f),
    };
    // Each section is read on its own: a caller allowed to see the user
    // but not its keys sees the keys' denial explained in place.
    let groups = ctx
        .call(Method::GET, &format!("/v1/users/{seg}/groups"), None)
        .await;
    let attached = ctx
        .call(
            Method::GET,
            &format!("/v1/users/{seg}/attached-policies"),
            None,
        )
        .await;
    let keys = ctx
        .call(Method::GET, &format!("/v1/users/{seg}/access-keys"), None)
        .await;
    let base = href("users", name);
    let disabled = user["disabled"].as_bool() == Some(true);
    let body = html! {
        h1 { "User " span class="name" { (name) } }
        @if let Some(k) = new_key { (secret_once(k)) }
        dl class="facts" {
            dt { "ARN" } dd { code { (user["arn"].as_str().unwrap_or_default()) } }
            dt { "User id" } dd { code { (user["userId"].as_str().unwrap_or_default()) } }
            dt { "Path" } dd { code { (user["path"].as_str().unwrap_or_default()) } }
            dt { "Created" } dd { (user["created"].as_str().unwrap_or_default()) }
            dt { "Status" } dd { @if disabled { span class="badge bad" { "disabled" } } @else { span class="badge" { "active" } } }
            @if let Some(b) = user["permissionsBoundary"].as_str() { dt { "Boundary" } dd { code { (b) } } }
        }
        @for w in user["warnings"].as_array().into_iter().flatten() { p class="note" { (w.as_str().unwrap_or_default()) } }
        p { a href=(href("ssh-keys", name)) { "SSH keys of " (name) } }

        section aria-labelledby="tags-h" {
            h2 id="tags-h" { "Tags" }
            ul class="tags" {
                @for t in user["tags"].as_array().into_iter().flatten() {
                    @let k = t["key"].as_str().unwrap_or_default();
                    li {
                        span class="tag" { (k) "=" (t["value"].as_str().unwrap_or_default()) }
                        form method="post" action={(base) "/untag"} class="inline" {
                            (csrf_field(ctx))
                            input type="hidden" name="key" value=(k);
                            button type="submit" class="small" aria-label={"Remove tag " (k)} { "Remove" }
                        }
                    }
                }
            }
            form method="post" action={(base) "/tag"} class="row" {
                (csrf_field(ctx))
                label for="tag-key" { "Key" } input id="tag-key" name="key" required;
                label for="tag-value" { "Value" } input id="tag-value" name="value";
                button type="submit" { "Add tag" }
            }
        }

        section aria-labelledby="groups-h" {
            h2 id="groups-h" { "Groups" }
            @match &groups {
                Ok(g) => {
                    ul {
                        @for gr in g["groups"].as_array().into_iter().flatten() {
                            @let gn = gr["name"].as_str().unwrap_or_default();
                            li {
                                a href=(href("groups", gn)) { (gn) } " "
                                form method="post" action={(base) "/leave"} class="inline" {
                                    (csrf_field(ctx))
                                    input type="hidden" name="group" value=(gn);
                                    button type="submit" class="small" aria-label={"Remove from group " (gn)} { "Remove" }
                                }
                            }
                        }
                    }
                }
                Err(f) => (failure_box(f)),
            }
            form method="post" action={(base) "/join"} class="row" {
                (csrf_field(ctx))
                label for="join-group" { "Group" } input id="join-group" name="group" required;
                button type="submit" { "Add to group" }
            }
        }

        section aria-labelledby="pol-h" {
            h2 id="pol-h" { "Attached policies" }
            (attached_list(ctx, &attached, &base))
        }

        section aria-labelledby="keys-h" {
            h2 id="keys-h" { "Access keys" }
            @match &keys {
                Ok(k) => {
                    table class="list" {
                        thead { tr { th scope="col" { "Key id" } th scope="col" { "Status" } th scope="col" { "Created" } th scope="col" { "Last used" } th scope="col" { span class="sr-only" { "Actions" } } } }
                        tbody {
                            @for key in k["accessKeys"].as_array().into_iter().flatten() {
                                @let id = key["accessKeyId"].as_str().unwrap_or_default();
                                @let active = key["status"].as_str() == Some("Active");
                                tr {
                                    td { code { (id) } }
                                    td { (key["status"].as_str().unwrap_or_default()) }
                                    td { (key["created"].as_str().unwrap_or_default()) }
                                    td { (key["lastUsed"].as_str().unwrap_or("never")) }
                                    td {
                                        form method="post" action={(base) "/access-keys/" (segment(id))} class="inline" {
                                            (csrf_field(ctx))
                                            input type="hidden" name="status" value=(if active { "Inactive" } else { "Active" });
                                            button type="submit" class="small" { (if active { "Deactivate" } else { "Activate" }) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                Err(f) => (failure_box(f)),
            }
            form method="post" action={(base) "/create-key"} {
                (csrf_field(ctx))
                button type="submit" id="create-key" { "Create access key" }
            }
        }

        section aria-labelledby="danger-h" class="danger" {
            h2 id="danger-h" { "Disable or delete" }
            form method="post" action={(base) (if disabled { "/enable" } else { "/disable" })} class="inline" {
                (csrf_field(ctx))
                button type="submit" { (if disabled { "Enable user" } else { "Disable user" }) }
            }
            form method="post" action={(base) "/delete"} class="inline" {
                (csrf_field(ctx))
                button type="submit" class="bad" { "Delete user" }
            }
            p class="hint" { "Deleting a user that still has keys, groups or policies is refused, with the conflicts named." }
        }
    };
    page::ok(ctx, &format!("User {name}"), body)
}

/// A list of attached policies with detach buttons and an attach form.
pub fn attached_list(
    ctx: &Ctx,
    attached: &Result<serde_json::Value, Failure>,
    base: &str,
) -> Markup {
    html! {
        @match attached {
            Ok(a) => {
                ul {
                    @for p in a["policies"].as_array().into_iter().flatten() {
                        @let pn = p["name"].as_str().unwrap_or_default();
                        li {
                            a href=(href("policies", pn)) { (pn) } " "
                            form method="post" action={(base) "/detach"} class="inline" {
                                (csrf_field(ctx))
                                input type="hidden" name="policy" value=(pn);
                                button type="submit" class="small" aria-label={"Detach " (pn)} { "Detach" }
                            }
                        }
                    }
                }
            }
            Err(f) => (failure_box(f)),
        }
        form method="post" action={(base) "/attach"} class="row" {
            (csrf_field(ctx))
            label for="attach-policy" { "Policy" } input id="attach-policy" name="policy" required;
            button type="submit" { "Attach policy" }
        }
    }
}

/// The secret of a key just created: shown in this response only.
fn secret_once(k: &serde_json::Value) -> Markup {
    html! {
        div class="secret" role="status" {
            h2 { "New access key" }
            p { "Copy the secret now: it is shown this once and cannot be retrieved later." }
            dl class="facts" {
                dt { "Access key id" } dd { code id="new-key-id" { (k["accessKeyId"].as_str().unwrap_or_default()) } }
                dt { "Secret access key" }
                dd {
                    code id="new-key-secret" { (k["secretAccessKey"].as_str().unwrap_or_default()) } " "
                    button type="button" class="small" data-copy="new-key-secret" { "Copy" }
                }
            }
        }
    }
}

/// `POST /ui/users/{name}/{op}`: tag, untag, join, leave, attach, detach,
/// create-key, disable, enable, delete.
pub(crate) async fn act(
    State(st): State<Shared>,
    P((name, op)): P<(String, String)>,
    req: Request,
) -> Response {
    let (ctx, form) = match Ctx::post(&st, req).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let seg = segment(&name);
    let base = href("users", &name);
    let res = match op.as_str() {
        "tag" => {
            let body = serde_json::json!({"tags": [{"key": form.text("key"), "value": form.text("value")}]});
            ctx.call(Method::POST, &format!("/v1/users/{seg}/tags"), Some(&body))
                .await
        }
        "untag" => {
            let q = query(&[("keys", form.text("key"))]);
            ctx.call(Method::DELETE, &format!("/v1/users/{seg}/tags{q}"), None)
                .await
        }
        "join" | "leave" => {
            let g = segment(form.text("group"));
            let m = if op == "join" {
                Method::PUT
            } else {
                Method::DELETE
            };
            ctx.call(m, &format!("/v1/groups/{g}/users/{seg}"), None)
                .await
        }
        "attach" | "detach" => {
            let p = segment(form.text("policy"));
            let m = if op == "attach" {
                Method::PUT
            } else {
                Method::DELETE
            };
            ctx.call(m, &format!("/v1/users/{seg}/attached-policies/{p}"), None)
                .await
        }
        "create-key" => {
            return match ctx
                .call(Method::POST, &format!("/v1/users/{seg}/access-keys"), None)
                .await
            {
                Ok(k) => user_page(&ctx, &name, Some(&k)).await,
                Err(f) => page::fail(&ctx, &f),
            };
        }
        "disable" | "enable" => {
            ctx.call(Method::POST, &format!("/v1/users/{seg}/{op}"), None)
                .await
        }
        "delete" => {
            return match ctx
                .call(Method::DELETE, &format!("/v1/users/{seg}"), None)
                .await
            {
                Ok(_) => page::see(&ctx, "/ui/users"),
                Err(f) => page::fail(&ctx, &f),
            };
        }
        _ => return axum::http::StatusCode::NOT_FOUND.into_response(),
    };
    match res {
        Ok(_) => page::see(&ctx, &base),
        Err(f) => page::fail(&ctx, &f),
    }
}

/// `POST /ui/users/{name}/access-keys/{id}`: activate or deactivate.
pub(crate) async fn key_status(
    State(st): State<Shared>,
    P((name, id)): P<(String, String)>,
    req: Request,
) -> Response {
    let (ctx, form) = match Ctx::post(&st, req).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let body = serde_json::json!({"status": form.text("status")});
    let path = format!("/v1/users/{}/access-keys/{}", segment(&name), segment(&id));
    match ctx.call(Method::PATCH, &path, Some(&body)).await {
        Ok(_) => page::see(&ctx, &href("users", &name)),
        Err(f) => page::fail(&ctx, &f),
    }
}
