//! Roles: the list with paging, create (the trust policy in a JSON editor
//! validated live as a trust policy, each problem with its JSON path), and
//! a role's page (trust policy, inline and managed policies, permissions
//! boundary, maximum session duration, tags; description and maximum
//! session updated, trust policy replaced, policies attached and
//! detached, sessions revoked, delete with the handler's conflict
//! explained). Every read and change is a `/v1/` call as the signed-in
//! caller.

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};

use crate::http::dispatch::{query, segment};
use crate::http::web::page::{self, csrf_field, failure_box, href, tags};
use crate::http::web::session::Ctx;
use crate::http::web::users::attached_list;
use crate::service::request::P;
use crate::state::Shared;

const TRUST_EXAMPLE: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Principal": {"AWS": "arn:ward:iam::ACCOUNT:root"},
      "Action": "sts:AssumeRole"
    }
  ]
}"#;

/// A trust policy editor: validated as one types by `ward.js` (kind
/// `trust`, the parser the handler runs), problems listed under it.
fn trust_editor(id: &str, text: &str) -> Markup {
    html! {
        textarea id=(id) name="document" rows="14" spellcheck="false" class="code"
            data-validate="trust" aria-describedby={(id) "-problems"} { (text) }
        div id={(id) "-problems"} class="problems" aria-live="polite" {}
    }
}

#[derive(Debug, Default, serde::Deserialize)]
struct ListParams {
    #[serde(default)]
    marker: String,
}

/// `GET /ui/roles?marker=`.
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
        .call(Method::GET, &format!("/v1/roles{}", query(&q)), None)
        .await
    {
        Ok(r) => r,
        Err(f) => return page::fail(&ctx, &f),
    };
    let example = TRUST_EXAMPLE.replace("ACCOUNT", ctx.st.store.account_id());
    let body = html! {
        h1 { "Roles" }
        table class="list" {
            thead { tr {
                th scope="col" { "Name" } th scope="col" { "Path" }
                th scope="col" { "Max session" } th scope="col" { "Description" }
            } }
            tbody {
                @for r in reply["roles"].as_array().into_iter().flatten() {
                    @let name = r["name"].as_str().unwrap_or_default();
                    tr {
                        td { a href=(href("roles", name)) { (name) } }
                        td { code { (r["path"].as_str().unwrap_or_default()) } }
                        td { (r["maxSessionDuration"].as_i64().unwrap_or_default()) " s" }
                        td { (r["description"].as_str().unwrap_or_default()) }
                    }
                }
            }
        }
        @if let Some(m) = reply["marker"].as_str() {
            p { a rel="next" href={"/ui/roles" (query(&[("marker", m)]))} { "Next page →" } }
        }
        h2 { "Create a role" }
        form method="post" action="/ui/roles" class="stack" {
            (csrf_field(&ctx))
            label for="role-name" { "Name" }
            input id="role-name" name="name" required maxlength="64";
            label for="role-description" { "Description" }
            input id="role-description" name="description" maxlength="1000";
            label for="role-max" { "Maximum session (seconds, 3600–43200)" }
            input id="role-max" name="maxSessionDuration" inputmode="numeric" placeholder="3600";
            label for="role-tags" { "Tags " span class="hint" { "(one key=value a line)" } }
            textarea id="role-tags" name="tags" rows="3" {}
            label for="role-trust" { "Trust policy (who may assume it)" }
            (trust_editor("role-trust", &example))
            button type="submit" { "Create role" }
        }
    };
    page::ok(&ctx, "Roles", body)
}

/// The maximum session field: absent when empty, else a number (a
/// non-number goes on as a string, so the handler names the field).
fn max_session(text: &str) -> Option<serde_json::Value> {
    if text.is_empty() {
        return None;
    }
    Some(match text.parse::<i64>() {
        Ok(n) => serde_json::Value::from(n),
        Err(_) => serde_json::Value::String(text.to_owned()),
    })
}

/// The trust policy typed, as a JSON string: the handler validates
/// exactly the text typed and names the field of a problem.
fn document(text: &str) -> serde_json::Value {
    serde_json::Value::String(text.to_owned())
}

/// `POST /ui/roles`.
pub(crate) async fn create(State(st): State<Shared>, req: Request) -> Response {
    let (ctx, form) = match Ctx::post(&st, req).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let name = form.text("name").to_owned();
    let mut body = serde_json::json!({
        "name": name,
        "description": form.text("description"),
        "assumeRolePolicyDocument": document(form.get("document").unwrap_or("")),
        "tags": tags(form.get("tags").unwrap_or("")),
    });
    if let Some(m) = max_session(form.text("maxSessionDuration")) {
        body["maxSessionDuration"] = m;
    }
    match ctx.call(Method::POST, "/v1/roles", Some(&body)).await {
        Ok(_) => page::see(&ctx, &href("roles", &name)),
        Err(f) => page::fail(&ctx, &f),
    }
}

/// `GET /ui/roles/{name}`.
pub(crate) async fn show(State(st): State<Shared>, P(name): P<String>, req: Request) -> Response {
    let ctx = match Ctx::get(&st, req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let seg = segment(&name);
    let r = match ctx
        .call(Method::GET, &format!("/v1/roles/{seg}"), None)
        .await
    {
        Ok(r) => r,
        Err(f) => return page::fail(&ctx, &f),
    };
    let inline = ctx
        .call(Method::GET, &format!("/v1/roles/{seg}/policies"), None)
        .await;
    let attached = ctx
        .call(
            Method::GET,
            &format!("/v1/roles/{seg}/attached-policies"),
            None,
        )
        .await;
    let trust = serde_json::to_string_pretty(&r["assumeRolePolicyDocument"]).unwrap_or_default();
    let base = href("roles", &name);
    let body = html! {
        h1 { "Role " span class="name" { (name) } }
        dl class="facts" {
            dt { "ARN" } dd { code { (r["arn"].as_str().unwrap_or_default()) } }
            dt { "Role id" } dd { code { (r["roleId"].as_str().unwrap_or_default()) } }
            dt { "Description" } dd { (r["description"].as_str().unwrap_or_default()) }
            dt { "Maximum session" } dd { (r["maxSessionDuration"].as_i64().unwrap_or_default()) " seconds" }
            dt { "Permissions boundary" }
            dd {
                @match r["permissionsBoundary"].as_str() {
                    Some(b) => { code { (b) } }
                    None => { "none" }
                }
            }
            dt { "Created" } dd { (r["created"].as_str().unwrap_or_default()) }
        }
        section aria-labelledby="tags-h" {
            h2 id="tags-h" { "Tags" }
            ul class="tags" {
                @for t in r["tags"].as_array().into_iter().flatten() {
                    li { code { (t["key"].as_str().unwrap_or_default()) } " = " (t["value"].as_str().unwrap_or_default()) }
                }
            }
        }
        section aria-labelledby="trust-h" {
            h2 id="trust-h" { "Trust policy" }
            pre class="code" { (trust) }
            form method="post" action={(base) "/trust"} class="stack" {
                (csrf_field(&ctx))
                label for="trust-document" { "New trust policy" }
                (trust_editor("trust-document", &trust))
                button type="submit" { "Replace trust policy" }
            }
        }
        section aria-labelledby="update-h" {
            h2 id="update-h" { "Description and maximum session" }
            form method="post" action={(base) "/update"} class="stack" {
                (csrf_field(&ctx))
                label for="upd-description" { "Description" }
                input id="upd-description" name="description" maxlength="1000"
                    value=(r["description"].as_str().unwrap_or_default());
                label for="upd-max" { "Maximum session (seconds, 3600–43200)" }
                input id="upd-max" name="maxSessionDuration" inputmode="numeric"
                    value=(r["maxSessionDuration"].as_i64().unwrap_or_default());
                button type="submit" { "Save" }
            }
        }
        section aria-labelledby="inline-h" {
            h2 id="inline-h" { "Inline policies" }
            @match &inline {
                Ok(v) => {
                    ul {
                        @for n in v["policyNames"].as_array().into_iter().flatten() {
                            li { code { (n.as_str().unwrap_or_default()) } }
                        }
                    }
                }
                Err(f) => (failure_box(f)),
            }
        }
        section aria-labelledby="rpol-h" {
            h2 id="rpol-h" { "Attached policies" }
            (attached_list(&ctx, &attached, &base))
        }
        section aria-labelledby="sessions-h" {
            h2 id="sessions-h" { "Sessions" }
            p { "Revoking refuses every session of this role issued until now (an inline deny on their issue time)." }
            form method="post" action={(base) "/revoke-sessions"} {
                (csrf_field(&ctx))
                button type="submit" { "Revoke active sessions" }
            }
        }
        section class="danger" {
            form method="post" action={(base) "/delete"} {
                (csrf_field(&ctx))
                button type="submit" class="bad" { "Delete role" }
            }
        }
    };
    page::ok(&ctx, &format!("Role {name}"), body)
}

/// `POST /ui/roles/{name}/{op}`: update, trust, attach, detach,
/// revoke-sessions, delete.
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
        "update" => {
            let mut body = serde_json::json!({"description": form.text("description")});
            if let Some(m) = max_session(form.text("maxSessionDuration")) {
                body["maxSessionDuration"] = m;
            }
            ctx.call(Method::PATCH, &format!("/v1/roles/{seg}"), Some(&body))
                .await
        }
        "trust" => {
            let body =
                serde_json::json!({"document": document(form.get("document").unwrap_or(""))});
            ctx.call(
                Method::PUT,
                &format!("/v1/roles/{seg}/trust-policy"),
                Some(&body),
            )
            .await
        }
        "attach" | "detach" => {
            let m = if op == "attach" {
                Method::PUT
            } else {
                Method::DELETE
            };
            let p = segment(form.text("policy"));
            ctx.call(m, &format!("/v1/roles/{seg}/attached-policies/{p}"), None)
                .await
        }
        "revoke-sessions" => {
            ctx.call(
                Method::POST,
                &format!("/v1/roles/{seg}/revoke-sessions"),
                None,
            )
            .await
        }
        "delete" => {
            return match ctx
                .call(Method::DELETE, &format!("/v1/roles/{seg}"), None)
                .await
            {
                Ok(_) => page::see(&ctx, "/ui/roles"),
                Err(f) => page::fail(&ctx, &f),
            }
        }
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    match res {
        Ok(_) => page::see(&ctx, &href("roles", &name)),
        Err(f) => page::fail(&ctx, &f),
    }
}
