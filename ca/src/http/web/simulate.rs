//! The policy simulator: a user, actions, resources and context in; the
//! decision and its explanation out (`POST /v1/simulate/principal`, the
//! same as `ward policy simulate-principal`), then the user's managed
//! policies (its own and its groups') with the statements that match the
//! request highlighted. Which statements of a document match is asked of
//! ward too: one `POST /v1/simulate/custom` per document, as the user,
//! whose matched statements name that document's statements by index.

use axum::extract::{Request, State};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};

use crate::http::dispatch::{segment, Failure};
use crate::http::web::page::{self, csrf_field, failure_box, href, Form};
use crate::http::web::session::Ctx;
use crate::state::Shared;

/// Most documents shown with highlights.
const MAX_DOCS: usize = 20;

/// The simulator's inputs, as typed.
#[derive(Debug, Default)]
struct Input {
    user: String,
    actions: String,
    resources: String,
    context: String,
}

impl Input {
    fn of(form: &Form) -> Input {
        Input {
            user: form.text("user").to_owned(),
            actions: form.text("actions").to_owned(),
            resources: form.text("resources").to_owned(),
            context: form.text("context").to_owned(),
        }
    }

    fn lines(text: &str) -> Vec<String> {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// `key=value` lines; a key given twice is a list of values.
    fn context(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        for l in Input::lines(&self.context) {
            let (k, v) = l.split_once('=').unwrap_or((&l, ""));
            let (k, v) = (k.trim().to_owned(), v.trim().to_owned());
            match m.remove(&k) {
                None => {
                    m.insert(k, serde_json::Value::String(v));
                }
                Some(serde_json::Value::String(a)) => {
                    m.insert(k, serde_json::json!([a, v]));
                }
                Some(serde_json::Value::Array(mut a)) => {
                    a.push(serde_json::Value::String(v));
                    m.insert(k, serde_json::Value::Array(a));
                }
                Some(other) => {
                    m.insert(k, other);
                }
            }
        }
        m
    }
}

fn form_markup(ctx: &Ctx, i: &Input) -> Markup {
    html! {
        form method="post" action="/ui/simulate" class="stack" {
            (csrf_field(ctx))
            label for="sim-user" { "User" }
            input id="sim-user" name="user" required value=(i.user);
            label for="sim-actions" { "Actions " span class="hint" { "(one a line, e.g. host:Login)" } }
            textarea id="sim-actions" name="actions" rows="2" required { (i.actions) }
            label for="sim-resources" { "Resources " span class="hint" { "(one a line; empty means *)" } }
            textarea id="sim-resources" name="resources" rows="2" { (i.resources) }
            label for="sim-context" { "Context " span class="hint" { "(key=value a line, e.g. host:Principal=deploy)" } }
            textarea id="sim-context" name="context" rows="3" { (i.context) }
            button type="submit" { "Simulate" }
        }
    }
}

/// `GET /ui/simulate`.
pub(crate) async fn form(State(st): State<Shared>, req: Request) -> Response {
    let ctx = match Ctx::get(&st, req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let body = html! {
        h1 { "Policy simulator" }
        (form_markup(&ctx, &Input::default()))
    };
    page::ok(&ctx, "Simulator", body)
}

/// `POST /ui/simulate`.
pub(crate) async fn run(State(st): State<Shared>, req: Request) -> Response {
    let (ctx, form) = match Ctx::post(&st, req).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let input = Input::of(&form);
    let actions = Input::lines(&input.actions);
    let resources = Input::lines(&input.resources);
    let context = input.context();
    let body = serde_json::json!({
        "policySourceArn": input.user,
        "actionNames": actions,
        "resourceArns": resources,
        "contextEntries": context,
    });
    let result = ctx
        .call(Method::POST, "/v1/simulate/principal", Some(&body))
        .await;
    let docs = match &result {
        Ok(_) => documents(&ctx, &input.user, &actions, &resources, &context).await,
        Err(_) => Ok(Vec::new()),
    };
    let status = match &result {
        Err(f) => f.status,
        Ok(_) => axum::http::StatusCode::OK,
    };
    let body = html! {
        h1 { "Policy simulator" }
        (form_markup(&ctx, &input))
        h2 { "Result" }
        @match &result {
            Err(f) => (failure_box(f)),
            Ok(r) => {
                @for res in r["results"].as_array().into_iter().flatten() {
                    @let decision = res["decision"].as_str().unwrap_or_default();
                    div class={"decision " (if decision == "Allowed" { "allowed" } else { "denied" })} {
                        p {
                            strong class="verdict" { (decision) } " — "
                            code { (res["actionName"].as_str().unwrap_or_default()) } " on "
                            code { (res["resourceArn"].as_str().unwrap_or_default()) }
                        }
                        p class="explanation" { (res["message"].as_str().unwrap_or_default()) }
                        @let matched = res["matchedStatements"].as_array().cloned().unwrap_or_default();
                        @if !matched.is_empty() {
                            p { "Matched statements:" }
                            ul { @for m in &matched { li { code { (m.as_str().unwrap_or_default()) } } } }
                        }
                    }
                }
            }
        }
        @match &docs {
            Ok(docs) if !docs.is_empty() => {
                h2 { "The user's managed policies" }
                p class="hint" { "Statements that match the request are highlighted (each document asked of ward on its own)." }
                @for d in docs { (doc_markup(d)) }
            }
            Ok(_) => {}
            Err(f) => { h2 { "The user's managed policies" } (failure_box(f)) }
        }
    };
    ctx.finish((status, page::layout(&ctx, "Simulator", body)).into_response())
}

/// A document with the statements that matched.
struct Doc {
    holder: String,
    name: String,
    document: serde_json::Value,
    /// Matched statement indexes and their effects.
    matched: Vec<usize>,
    /// Why highlights are missing, when the per-document ask failed.
    note: Option<Failure>,
}

async fn documents(
    ctx: &Ctx,
    user: &str,
    actions: &[String],
    resources: &[String],
    context: &serde_json::Map<String, serde_json::Value>,
) -> Result<Vec<Doc>, Failure> {
    let seg = segment(user);
    let u = ctx
        .call(Method::GET, &format!("/v1/users/{seg}"), None)
        .await?;
    let arn = u["arn"].as_str().unwrap_or_default().to_owned();
    let mut holders: Vec<(String, String)> = vec![(format!("users/{seg}"), format!("user {user}"))];
    let groups = ctx
        .call(Method::GET, &format!("/v1/users/{seg}/groups"), None)
        .await?;
    for g in groups["groups"].as_array().into_iter().flatten() {
        let gn = g["name"].as_str().unwrap_or_default();
        holders.push((format!("groups/{}", segment(gn)), format!("group {gn}")));
    }
    let mut out = Vec::new();
    for (path, holder) in holders {
        let attached = ctx
            .call(Method::GET, &format!("/v1/{path}/attached-policies"), None)
            .await?;
        for p in attached["policies"].as_array().into_iter().flatten() {
            if out.len() >= MAX_DOCS {
                return Ok(out);
            }
            let pn = p["name"].as_str().unwrap_or_default().to_owned();
            let full = ctx
                .call(Method::GET, &format!("/v1/policies/{}", segment(&pn)), None)
                .await?;
            let document = full["document"].clone();
            let ask = serde_json::json!({
                "policyInputList": [document.to_string()],
                "callerArn": arn,
                "actionNames": actions,
                "resourceArns": resources,
                "contextEntries": context,
            });
            let (matched, note) = match ctx
                .call(Method::POST, "/v1/simulate/custom", Some(&ask))
                .await
            {
                Ok(r) => (matched_indexes(&r), None),
                Err(f) => (Vec::new(), Some(f)),
            };
            out.push(Doc {
                holder: holder.clone(),
                name: pn,
                document,
                matched,
                note,
            });
        }
    }
    Ok(out)
}

/// Statement indexes named by `identityPolicies[0]#N …` in any result.
fn matched_indexes(r: &serde_json::Value) -> Vec<usize> {
    let mut out = Vec::new();
    for res in r["results"].as_array().into_iter().flatten() {
        for m in res["matchedStatements"].as_array().into_iter().flatten() {
            let s = m.as_str().unwrap_or_default();
            // `identityPolicies[0]#N (Sid) Effect`: the one document sent.
            if let Some(rest) = s.strip_prefix("identityPolicies[0]#") {
                let n: String = rest.chars().take_while(char::is_ascii_digit).collect();
                if let Ok(n) = n.parse::<usize>() {
                    if !out.contains(&n) {
                        out.push(n);
                    }
                }
            }
        }
    }
    out
}

fn doc_markup(d: &Doc) -> Markup {
    let statements: Vec<serde_json::Value> = match &d.document["Statement"] {
        serde_json::Value::Array(a) => a.clone(),
        serde_json::Value::Null => Vec::new(),
        one => vec![one.clone()],
    };
    html! {
        article class="doc" {
            h3 { a href=(href("policies", &d.name)) { (d.name) } " " span class="hint" { "(attached to " (d.holder) ")" } }
            @if let Some(f) = &d.note { (failure_box(f)) }
            @for (i, s) in statements.iter().enumerate() {
                @let hit = d.matched.contains(&i);
                pre class={"code statement" (if hit { " matched" } else { "" })} {
                    @if hit { span class="mark" { "matched: statement " (i) } "\n" }
                    (serde_json::to_string_pretty(s).unwrap_or_default())
                }
            }
        }
    }
}
