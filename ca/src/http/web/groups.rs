//! Groups: the list with paging, create, and a group's page (members
//! added and removed, policies attached and detached, delete). Every read
//! and change is a `/v1/` call as the signed-in caller.

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::html;

use crate::http::dispatch::{query, segment};
use crate::http::web::page::{self, csrf_field, href};
use crate::http::web::session::Ctx;
use crate::http::web::users::attached_list;
use crate::service::request::P;
use crate::state::Shared;

#[derive(Debug, Default, serde::Deserialize)]
struct ListParams {
    #[serde(default)]
    marker: String,
}

/// `GET /ui/groups?marker=`.
pub(crate) async fn list(State(st): State<Shared>, req: Request) -> Response {
    let p: ListParams =
        serde_urlencoded::from_str(req.uri().query().unwrap_or("")).unwrap_or_default();
    let ctx = match Ctx::get(&st, req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let mut q = vec![("maxItems", "50")];
    if !p.marker.is_empty() {
        q.push(("marker", p.marker.as_str()));
    }
    let reply = match ctx
        .call(Method::GET, &format!("/v1/groups{}", query(&q)), None)
        .await
    {
        Ok(r) => r,
        Err(f) => return page::fail(&ctx, &f),
    };
    let body = html! {
        h1 { "Groups" }
        table class="list" {
            thead { tr { th scope="col" { "Name" } th scope="col" { "Path" } th scope="col" { "gid" } th scope="col" { "Created" } } }
            tbody {
                @for g in reply["groups"].as_array().into_iter().flatten() {
                    @let name = g["name"].as_str().unwrap_or_default();
                    tr {
                        td { a href=(href("groups", name)) { (name) } }
                        td { code { (g["path"].as_str().unwrap_or_default()) } }
                        td { (g["gid"].as_i64().unwrap_or_default()) }
                        td { (g["created"].as_str().unwrap_or_default()) }
                    }
                }
            }
        }
        @if let Some(m) = reply["marker"].as_str() {
            p { a rel="next" href={"/ui/groups" (query(&[("marker", m)]))} { "Next page →" } }
        }
        h2 { "Create a group" }
        form method="post" action="/ui/groups" class="stack" {
            (csrf_field(&ctx))
            label for="group-name" { "Name" }
            input id="group-name" name="name" required maxlength="128";
            label for="group-path" { "Path " span class="hint" { "(default /)" } }
            input id="group-path" name="path" placeholder="/";
            button type="submit" { "Create group" }
        }
    };
    page::ok(&ctx, "Groups", body)
}

/// `POST /ui/groups`.
pub(crate) async fn create(State(st): State<Shared>, req: Request) -> Response {
    let (ctx, form) = match Ctx::post(&st, req).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let name = form.text("name").to_owned();
    let mut body = serde_json::json!({"name": name});
    if !form.text("path").is_empty() {
        body["path"] = serde_json::Value::String(form.text("path").to_owned());
    }
    match ctx.call(Method::POST, "/v1/groups", Some(&body)).await {
        Ok(_) => page::see(&ctx, &href("groups", &name)),
        Err(f) => page::fail(&ctx, &f),
    }
}

/// `GET /ui/groups/{name}`.
pub(crate) async fn show(State(st): State<Shared>, P(name): P<String>, req: Request) -> Response {
    let ctx = match Ctx::get(&st, req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let seg = segment(&name);
    let g = match ctx
        .call(Method::GET, &format!("/v1/groups/{seg}"), None)
        .await
    {
        Ok(g) => g,
        Err(f) => return page::fail(&ctx, &f),
    };
    let attached = ctx
        .call(
            Method::GET,
            &format!("/v1/groups/{seg}/attached-policies"),
            None,
        )
        .await;
    let base = href("groups", &name);
    let body = html! {
        h1 { "Group " span class="name" { (name) } }
        dl class="facts" {
            dt { "ARN" } dd { code { (g["group"]["arn"].as_str().unwrap_or_default()) } }
            dt { "gid" } dd { (g["group"]["gid"].as_i64().unwrap_or_default()) }
            dt { "Created" } dd { (g["group"]["created"].as_str().unwrap_or_default()) }
        }
        section aria-labelledby="members-h" {
            h2 id="members-h" { "Members" }
            ul {
                @for u in g["users"].as_array().into_iter().flatten() {
                    @let un = u.as_str().unwrap_or_default();
                    li {
                        a href=(href("users", un)) { (un) } " "
                        form method="post" action={(base) "/remove"} class="inline" {
                            (csrf_field(&ctx))
                            input type="hidden" name="user" value=(un);
                            button type="submit" class="small" aria-label={"Remove " (un)} { "Remove" }
                        }
                    }
                }
            }
            form method="post" action={(base) "/add"} class="row" {
                (csrf_field(&ctx))
                label for="add-user" { "User" } input id="add-user" name="user" required;
                button type="submit" { "Add member" }
            }
        }
        section aria-labelledby="gpol-h" {
            h2 id="gpol-h" { "Attached policies" }
            (attached_list(&ctx, &attached, &base))
        }
        section class="danger" {
            form method="post" action={(base) "/delete"} {
                (csrf_field(&ctx))
                button type="submit" class="bad" { "Delete group" }
            }
        }
    };
    page::ok(&ctx, &format!("Group {name}"), body)
}

/// `POST /ui/groups/{name}/{op}`: add, remove, attach, detach, delete.
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
    let res = match op.as_str() {
        "add" | "remove" => {
            let m = if op == "add" {
                Method::PUT
            } else {
                Method::DELETE
            };
            let u = segment(form.text("user"));
            ctx.call(m, &format!("/v1/groups/{seg}/users/{u}"), None)
                .await
        }
        "attach" | "detach" => {
            let m = if op == "attach" {
                Method::PUT
            } else {
                Method::DELETE
            };
            let p = segment(form.text("policy"));
            ctx.call(m, &format!("/v1/groups/{seg}/attached-policies/{p}"), None)
                .await
        }
        "delete" => {
            return match ctx
                .call(Method::DELETE, &format!("/v1/groups/{seg}"), None)
                .await
            {
                Ok(_) => page::see(&ctx, "/ui/groups"),
                Err(f) => page::fail(&ctx, &f),
            }
        }
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    match res {
        Ok(_) => page::see(&ctx, &href("groups", &name)),
        Err(f) => page::fail(&ctx, &f),
    }
}
