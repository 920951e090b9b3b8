//! Managed policies: the list, create with a JSON editor validated live
//! (each problem with its JSON path, as `ward policy validate` prints
//! them), a policy's page (default document, versions, a new version,
//! the default switched, delete). Changes are `/v1/` calls as the
//! signed-in caller; the live validation is the pure parser of
//! `ward-policy`, the same the handlers run, and decides nothing.

use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use ward_policy::{Policy, PolicyKind};

use crate::http::dispatch::{query, segment};
use crate::http::web::page::{self, csrf_field, failure_box, href};
use crate::http::web::session::Ctx;
use crate::service::request::P;
use crate::state::Shared;

const EXAMPLE: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "LoginAsDeploy",
      "Effect": "Allow",
      "Action": "host:Login",
      "Resource": "*",
      "Condition": {"StringEquals": {"host:Principal": "deploy"}}
    }
  ]
}"#;

/// `{problems: [{path, message}]}` for a document of `kind`.
pub fn problems(text: &str, kind: PolicyKind) -> serde_json::Value {
    let problems: Vec<serde_json::Value> = match Policy::parse(text, kind) {
        Ok(_) => Vec::new(),
        Err(e) => e
            .problems
            .iter()
            .map(|p| serde_json::json!({"path": p.path.to_string(), "message": p.message}))
            .collect(),
    };
    serde_json::json!({"valid": problems.is_empty(), "problems": problems})
}

/// The editor: a textarea validated as one types (`ward.js`), with the
/// problems listed under it.
fn editor(id: &str, name: &str, text: &str, kind: &str) -> Markup {
    html! {
        textarea id=(id) name=(name) rows="16" spellcheck="false" class="code"
            data-validate=(kind) aria-describedby={(id) "-problems"} { (text) }
        div id={(id) "-problems"} class="problems" aria-live="polite" {}
    }
}

#[derive(Debug, Default, serde::Deserialize)]
struct ListParams {
    #[serde(default)]
    marker: String,
}

/// `GET /ui/policies`.
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
        .call(Method::GET, &format!("/v1/policies{}", query(&q)), None)
        .await
    {
        Ok(r) => r,
        Err(f) => return page::fail(&ctx, &f),
    };
    let body = html! {
        h1 { "Policies" }
        table class="list" {
            thead { tr { th scope="col" { "Name" } th scope="col" { "Default" } th scope="col" { "Attachments" } th scope="col" { "Description" } } }
            tbody {
                @for p in reply["policies"].as_array().into_iter().flatten() {
                    @let name = p["name"].as_str().unwrap_or_default();
                    tr {
                        td { a href=(href("policies", name)) { (name) } }
                        td { (p["defaultVersionId"].as_str().unwrap_or_default()) }
                        td { (p["attachmentCount"].as_i64().unwrap_or_default()) }
                        td { (p["description"].as_str().unwrap_or_default()) }
                    }
                }
            }
        }
        @if let Some(m) = reply["marker"].as_str() {
            p { a rel="next" href={"/ui/policies" (query(&[("marker", m)]))} { "Next page →" } }
        }
        h2 { "Create a policy" }
        form method="post" action="/ui/policies" class="stack" {
            (csrf_field(&ctx))
            label for="policy-name" { "Name" }
            input id="policy-name" name="name" required maxlength="128";
            label for="policy-description" { "Description" }
            input id="policy-description" name="description" maxlength="1000";
            label for="policy-document" { "Document" }
            (editor("policy-document", "document", EXAMPLE, "managed"))
            button type="submit" { "Create policy" }
        }
    };
    page::ok(&ctx, "Policies", body)
}

/// `POST /ui/policies`.
pub(crate) async fn create(State(st): State<Shared>, req: Request) -> Response {
    let (ctx, form) = match Ctx::post(&st, req).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let name = form.text("name").to_owned();
    // The document goes as a JSON string: the handler validates exactly
    // the text typed.
    let body = serde_json::json!({
        "name": name,
        "description": form.text("description"),
        "document": form.get("document").unwrap_or(""),
    });
    match ctx.call(Method::POST, "/v1/policies", Some(&body)).await {
        Ok(_) => page::see(&ctx, &href("policies", &name)),
        Err(f) => page::fail(&ctx, &f),
    }
}

/// `GET /ui/policies/{name}`.
pub(crate) async fn show(State(st): State<Shared>, P(name): P<String>, req: Request) -> Response {
    let ctx = match Ctx::get(&st, req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let seg = segment(&name);
    let p = match ctx
        .call(Method::GET, &format!("/v1/policies/{seg}"), None)
        .await
    {
        Ok(p) => p,
        Err(f) => return page::fail(&ctx, &f),
    };
    let versions = ctx
        .call(Method::GET, &format!("/v1/policies/{seg}/versions"), None)
        .await;
    let doc = serde_json::to_string_pretty(&p["document"]).unwrap_or_default();
    let base = href("policies", &name);
    let body = html! {
        h1 { "Policy " span class="name" { (name) } }
        dl class="facts" {
            dt { "ARN" } dd { code { (p["arn"].as_str().unwrap_or_default()) } }
            dt { "Description" } dd { (p["description"].as_str().unwrap_or_default()) }
            dt { "Default version" } dd { (p["defaultVersionId"].as_str().unwrap_or_default()) }
            dt { "Attachments" } dd { (p["attachmentCount"].as_i64().unwrap_or_default()) }
        }
        h2 { "Default document" }
        pre class="code" { (doc) }
        section aria-labelledby="versions-h" {
            h2 id="versions-h" { "Versions" }
            @match &versions {
                Ok(v) => {
                    ul {
                        @for ver in v["versions"].as_array().into_iter().flatten() {
                            @let id = ver["versionId"].as_str().unwrap_or_default();
                            li {
                                (id) " — " (ver["created"].as_str().unwrap_or_default())
                                @if ver["isDefault"].as_bool() == Some(true) { " " span class="badge" { "default" } }
                                @else {
                                    " "
                                    form method="post" action={(base) "/default"} class="inline" {
                                        (csrf_field(&ctx))
                                        input type="hidden" name="version" value=(id);
                                        button type="submit" class="small" { "Make default" }
                                    }
                                }
                            }
                        }
                    }
                }
                Err(f) => (failure_box(f)),
            }
            @if let Ok(v) = &versions {
                @let ids: Vec<&str> = v["versions"].as_array().into_iter().flatten().filter_map(|x| x["versionId"].as_str()).collect();
                @if ids.len() > 1 {
                    h3 { "Compare versions" }
                    form method="get" action={"/ui/policy-diff/" (segment(&name))} class="row" {
                        label for="diff-from" { "From" }
                        select id="diff-from" name="from" {
                            @for (i, id) in ids.iter().enumerate() { option value=(id) selected[i + 2 == ids.len()] { (id) } }
                        }
                        label for="diff-to" { "To" }
                        select id="diff-to" name="to" {
                            @for (i, id) in ids.iter().enumerate() { option value=(id) selected[i + 1 == ids.len()] { (id) } }
                        }
                        button type="submit" { "Show diff" }
                    }
                }
            }
            h3 { "New version" }
            form method="post" action={(base) "/version"} class="stack" {
                (csrf_field(&ctx))
                label for="version-document" { "Document" }
                (editor("version-document", "document", &doc, "managed"))
                label class="check" { input type="checkbox" name="default" value="1" checked; " Make it the default" }
                button type="submit" { "Create version" }
            }
        }
        section class="danger" {
            form method="post" action={(base) "/delete"} {
                (csrf_field(&ctx))
                button type="submit" class="bad" { "Delete policy" }
            }
        }
    };
    page::ok(&ctx, &format!("Policy {name}"), body)
}

/// `POST /ui/policies/{name}/{op}`: version, default, delete.
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
        "version" => {
            let body = serde_json::json!({
                "document": form.get("document").unwrap_or(""),
                "setAsDefault": form.get("default") == Some("1"),
            });
            ctx.call(
                Method::POST,
                &format!("/v1/policies/{seg}/versions"),
                Some(&body),
            )
            .await
        }
        "default" => {
            let body = serde_json::json!({"versionId": form.text("version")});
            ctx.call(
                Method::PUT,
                &format!("/v1/policies/{seg}/default-version"),
                Some(&body),
            )
            .await
        }
        "delete" => {
            return match ctx
                .call(Method::DELETE, &format!("/v1/policies/{seg}"), None)
                .await
            {
                Ok(_) => page::see(&ctx, "/ui/policies"),
                Err(f) => page::fail(&ctx, &f),
            }
        }
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    match res {
        Ok(_) => page::see(&ctx, &href("policies", &name)),
        Err(f) => page::fail(&ctx, &f),
    }
}

/// `POST /ui/api/validate-policy` (form: `csrf`, `document`, `kind`):
/// `{valid, problems: [{path, message}]}` for the live editor.
pub(crate) async fn validate(State(st): State<Shared>, req: Request) -> Response {
    let (ctx, form) = match Ctx::post(&st, req).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(kind) = PolicyKind::from_name(form.text("kind")) else {
        return ctx.finish(
            crate::error::ApiError::invalid(
                "kind",
                "kind must be managed, inline-user, inline-group, inline-role, session, resource or trust",
            )
            .into_response(),
        );
    };
    let out = problems(form.get("document").unwrap_or(""), kind);
    ctx.finish(
        (
            [(header::CONTENT_TYPE, "application/json")],
            out.to_string(),
        )
            .into_response(),
    )
}
