//! Hosts and the access map.
//!
//! `/ui/hosts`: the inventory (tags, agent online/offline, last seen,
//! version), each host linking to its map.
//!
//! `/ui/access?host=H` — which users may log in to H as which local
//! accounts; `/ui/access?user=U` — on which hosts, as which accounts;
//! `from=IP` decides as from that address (`ward:SourceIp`). Every cell
//! is a `host:Login` decision with `host:Principal` set to the account
//! (the column "own name" is each user's own account), `host:Name` and
//! the host's tags, all from one `POST /v1/simulate/matrix` (the
//! caller's own authority: a user the caller may not simulate is a row
//! marked "not allowed to see", with the denial). The host view shows a
//! page of [`PAGE`] users with a link to the next.
//!
//! Explanations are lazy: a cell is a link to `/ui/access/cell`, which
//! asks `POST /v1/simulate/principal` for that one cell and shows the
//! decision, its explanation and the statements that matched.
//!
//! `path=cells` renders the same matrix the old way, one
//! `simulate/principal` dispatch per cell: kept only as the baseline of
//! the benchmark (`ca/tests/dashboard_bench.rs`).
//!
//! A rendered matrix is cached per caller, view and store generation
//! (any commit makes it stale), so a second look costs nothing until
//! something changes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::Method;
use axum::response::Response;
use maud::{html, Markup, PreEscaped};
use ward_protocol::api;

use crate::http::dispatch::{query, Failure};
use crate::http::web::page::{self, failure_box, href};
use crate::http::web::session::Ctx;
use crate::state::Shared;

/// Most accounts (columns besides "own name") in one map.
const MAX_ACCOUNTS: usize = 10;

/// Most users in the old cell-by-cell host view.
const MAX_USERS: usize = 5_000;

/// Users per page of the host view.
pub const PAGE: usize = 1_000;

/// Cached matrices kept at most.
const CACHE_MAX: usize = 64;

/// The own-name column's marker.
const OWN: &str = "(own name)";

/// Rendered matrices by caller, view and inputs, with their generation.
type Matrices = HashMap<String, (u64, Arc<String>)>;

/// The cache of rendered matrices (one ward-ca per process).
static CACHE: Mutex<Option<Matrices>> = Mutex::new(None);

fn cached(key: &str, gen: u64) -> Option<Arc<String>> {
    let g = CACHE.lock().ok()?;
    match g.as_ref()?.get(key) {
        Some((at, m)) if *at == gen => Some(m.clone()),
        _ => None,
    }
}

fn remember(key: String, gen: u64, m: Arc<String>) {
    if let Ok(mut g) = CACHE.lock() {
        let map = g.get_or_insert_with(HashMap::new);
        if map.len() >= CACHE_MAX {
            map.clear();
        }
        map.insert(key, (gen, m));
    }
}

#[derive(Debug, Default, serde::Deserialize)]
struct Params {
    #[serde(default)]
    host: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    accounts: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    marker: String,
    #[serde(default)]
    path: String,
}

/// `GET /ui/hosts`.
pub(crate) async fn hosts(State(st): State<Shared>, req: Request) -> Response {
    let ctx = match Ctx::get(&st, req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let list = match ctx.call(Method::GET, "/v1/hosts", None).await {
        Ok(l) => l,
        Err(f) => return page::fail(&ctx, &f),
    };
    let body = html! {
        h1 { "Hosts" }
        table class="list" {
            thead { tr { th scope="col" { "Name" } th scope="col" { "Tags" } th scope="col" { "Agent" } th scope="col" { "Last seen" } th scope="col" { "Version" } th scope="col" { "Access" } } }
            tbody {
                @for h in list["hosts"].as_array().into_iter().flatten() {
                    @let name = h["name"].as_str().unwrap_or_default();
                    @let agent = &h["agent"];
                    tr {
                        td { code { (name) } }
                        td { @for t in h["tags"].as_array().into_iter().flatten() { span class="tag" { (t["key"].as_str().unwrap_or_default()) "=" (t["value"].as_str().unwrap_or_default()) } " " } }
                        td {
                            @if agent.is_null() { "never joined" }
                            @else if agent["online"].as_bool() == Some(true) { span class="badge" { "online" } }
                            @else { span class="badge bad" { "offline" } }
                        }
                        td { (agent["lastSeen"].as_str().unwrap_or("—")) }
                        td { (agent["agentVersion"].as_str().unwrap_or("—")) }
                        td { a href={"/ui/access" (query(&[("host", name)]))} { "Who can log in" } }
                    }
                }
            }
        }
    };
    page::ok(&ctx, "Hosts", body)
}

fn accounts_of(text: &str) -> Vec<String> {
    let mut out = vec![OWN.to_owned()];
    for a in text.split([',', ' ', '\n']).map(str::trim) {
        if !a.is_empty() && !out.iter().any(|x| x == a) && out.len() <= MAX_ACCOUNTS {
            out.push(a.to_owned());
        }
    }
    out
}

/// `GET /ui/access?host=…|user=…&accounts=…&from=…&marker=…`.
pub(crate) async fn map(State(st): State<Shared>, req: Request) -> Response {
    let p: Params = serde_urlencoded::from_str(req.uri().query().unwrap_or("")).unwrap_or_default();
    let ctx = match Ctx::get(&st, req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let accounts_text = if p.accounts.trim().is_empty() {
        "root".to_owned()
    } else {
        p.accounts.clone()
    };
    let accounts = accounts_of(&accounts_text);
    let form = html! {
        form method="get" action="/ui/access" class="row" role="search" {
            label for="map-host" { "Host" } input id="map-host" name="host" value=(p.host);
            label for="map-user" { "or user" } input id="map-user" name="user" value=(p.user);
            label for="map-accounts" { "Accounts" } input id="map-accounts" name="accounts" value=(accounts_text);
            label for="map-from" { "From address" } input id="map-from" name="from" placeholder="any" value=(p.from);
            button type="submit" { "Show" }
        }
        p class="hint" { "Each cell is the simulator's host:Login decision with host:Principal = the account; follow a cell for why." }
    };
    let gen = match st.store.generation().await {
        Ok(g) => g,
        Err(e) => return page::refused(e.status(), e.code(), &e.message()),
    };
    let cells = p.path == "cells";
    let key = format!(
        "{}\n{}\n{}\n{}\n{}\n{}\n{cells}",
        ctx.caller.principal.arn(),
        p.host,
        p.user,
        accounts.join(","),
        p.from,
        p.marker,
    );
    let matrix = if p.host.is_empty() && p.user.is_empty() {
        Ok(None)
    } else if let Some(m) = cached(&key, gen) {
        Ok(Some(m))
    } else {
        let built = match (p.host.is_empty(), cells) {
            (false, false) => host_view(&ctx, &p, &accounts).await,
            (true, false) => user_view(&ctx, &p, &accounts).await,
            (false, true) => host_view_cells(&ctx, &p.host, &accounts).await,
            (true, true) => user_view_cells(&ctx, &p.user, &accounts).await,
        };
        built.map(|m| {
            let m = Arc::new(m.into_string());
            remember(key, gen, m.clone());
            Some(m)
        })
    };
    let body = html! {
        h1 { "Access map" }
        (form)
        @match &matrix {
            Ok(Some(m)) => div class="scroll" { (PreEscaped(m.as_str())) },
            Ok(None) => {},
            Err(f) => (failure_box(f)),
        }
    };
    page::ok(&ctx, "Access map", body)
}

/// The matrix request of a view.
fn matrix_request(p: &Params, accounts: &[String]) -> serde_json::Value {
    let mut body = serde_json::json!({
        "actionName": "host:Login",
        "accounts": accounts.iter().filter(|a| *a != OWN).collect::<Vec<_>>(),
        "ownName": accounts.iter().any(|a| a == OWN),
    });
    if !p.from.trim().is_empty() {
        body["contextEntries"] = serde_json::json!({"ward:SourceIp": p.from.trim()});
    }
    body
}

/// The link that explains one cell.
fn cell_href(p: &Params, user: &str, host: &str, account: &str) -> String {
    let mut q = vec![("user", user), ("host", host), ("account", account)];
    if !p.from.trim().is_empty() {
        q.push(("from", p.from.trim()));
    }
    format!("/ui/access/cell{}", query(&q))
}

/// One cell of the matrix (`A`, `D` or `I`), linking to its explanation.
fn decided(c: char, href: &str) -> Markup {
    let (class, mark, label) = match c {
        'A' => ("yes", "✓", "allowed"),
        'D' => ("no", "✗", "explicitly denied"),
        _ => ("no", "·", "denied"),
    };
    html! { td class=(class) { a href=(href) aria-label=(label) title=(label) { (mark) } } }
}

/// A row the caller may not see.
fn hidden(columns: usize, message: &str) -> Markup {
    html! {
        td class="hidden" colspan=(columns) {
            details { summary { "not allowed to see" } span class="hint" { (message) } }
        }
    }
}

async fn host_view(ctx: &Ctx, p: &Params, accounts: &[String]) -> Result<Markup, Failure> {
    let mut body = matrix_request(p, accounts);
    body["hostNames"] = serde_json::json!([p.host]);
    body["maxUsers"] = serde_json::json!(PAGE);
    if !p.marker.is_empty() {
        body["marker"] = serde_json::json!(p.marker);
    }
    let m = ctx
        .call(Method::POST, "/v1/simulate/matrix", Some(&body))
        .await?;
    let m: api::SimulationMatrix = serde_json::from_value(m).map_err(|e| Failure {
        status: axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        code: "InternalError".into(),
        message: format!("the matrix answer does not parse: {e}"),
        field: None,
    })?;
    let host = m.hosts.first().cloned().unwrap_or_else(|| p.host.clone());
    let allowed: usize = m
        .rows
        .iter()
        .flat_map(|r| &r.cells)
        .map(|c| c.matches('A').count())
        .sum();
    let hidden_rows = m.rows.iter().filter(|r| !r.visible).count();
    let next = m.marker.as_deref().map(|mk| {
        let accts = accounts
            .iter()
            .filter(|a| *a != OWN)
            .cloned()
            .collect::<Vec<_>>()
            .join(",");
        let mut q = vec![
            ("host", p.host.as_str()),
            ("accounts", accts.as_str()),
            ("marker", mk),
        ];
        if !p.from.trim().is_empty() {
            q.push(("from", p.from.trim()));
        }
        format!("/ui/access{}", query(&q))
    });
    Ok(html! {
        h2 { "Who may log in to " code { (host) } }
        p {
            (m.rows.len()) " users"
            @if !p.marker.is_empty() { " (after " code { (p.marker) } ")" }
            " × " (accounts.len()) " accounts: " (allowed) " allowed"
            @if hidden_rows > 0 { ", " (hidden_rows) " users you may not simulate" }
            "."
        }
        table class="matrix" {
            caption class="sr-only" { "Users (rows) by local account (columns)" }
            thead { tr { th scope="col" { "User" } @for a in accounts { th scope="col" { (a) } } } }
            tbody {
                @for r in &m.rows {
                    tr {
                        th scope="row" { a href={"/ui/access" (query(&[("user", &r.user_name)]))} { (r.user_name) } }
                        @if r.visible {
                            @for (col, a) in r.cells.iter().zip(accounts) {
                                @let account = if a == OWN { r.user_name.as_str() } else { a.as_str() };
                                (decided(col.chars().next().unwrap_or('I'), &cell_href(p, &r.user_name, &host, account)))
                            }
                        } @else {
                            (hidden(accounts.len(), r.message.as_deref().unwrap_or_default()))
                        }
                    }
                }
            }
        }
        @if let Some(n) = &next { p { a href=(n) { "Next " (PAGE) " users" } } }
    })
}

async fn user_view(ctx: &Ctx, p: &Params, accounts: &[String]) -> Result<Markup, Failure> {
    let mut body = matrix_request(p, accounts);
    body["userNames"] = serde_json::json!([p.user]);
    let m = ctx
        .call(Method::POST, "/v1/simulate/matrix", Some(&body))
        .await?;
    let m: api::SimulationMatrix = serde_json::from_value(m).map_err(|e| Failure {
        status: axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        code: "InternalError".into(),
        message: format!("the matrix answer does not parse: {e}"),
        field: None,
    })?;
    let empty = api::MatrixRow {
        user_name: p.user.clone(),
        visible: false,
        cells: Vec::new(),
        message: None,
    };
    let row = m.rows.first().unwrap_or(&empty);
    let cols: Vec<Vec<char>> = row.cells.iter().map(|c| c.chars().collect()).collect();
    Ok(html! {
        h2 { "Where " a href=(href("users", &row.user_name)) { (row.user_name) } " may log in" }
        @if !row.visible {
            (failure_box(&Failure {
                status: axum::http::StatusCode::FORBIDDEN,
                code: "AccessDenied".into(),
                message: row.message.clone().unwrap_or_default(),
                field: None,
            }))
        } @else {
            p { (m.hosts.len()) " hosts × " (accounts.len()) " accounts." }
            table class="matrix" {
                caption class="sr-only" { "Hosts (rows) by local account (columns)" }
                thead { tr { th scope="col" { "Host" } @for a in accounts { th scope="col" { (a) } } } }
                tbody {
                    @for (i, h) in m.hosts.iter().enumerate() {
                        tr {
                            th scope="row" { a href={"/ui/access" (query(&[("host", h)]))} { (h) } }
                            @for (col, a) in cols.iter().zip(accounts) {
                                @let account = if a == OWN { row.user_name.as_str() } else { a.as_str() };
                                (decided(col.get(i).copied().unwrap_or('I'), &cell_href(p, &row.user_name, h, account)))
                            }
                        }
                    }
                }
            }
        }
    })
}

#[derive(Debug, Default, serde::Deserialize)]
struct CellParams {
    #[serde(default)]
    user: String,
    #[serde(default)]
    host: String,
    #[serde(default)]
    account: String,
    #[serde(default)]
    from: String,
}

/// `GET /ui/access/cell?user=…&host=…&account=…&from=…`: one cell's
/// decision explained (one `POST /v1/simulate/principal` with the
/// context the matrix decided it with).
pub(crate) async fn explain(State(st): State<Shared>, req: Request) -> Response {
    let p: CellParams =
        serde_urlencoded::from_str(req.uri().query().unwrap_or("")).unwrap_or_default();
    let ctx = match Ctx::get(&st, req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let result = explain_cell(&ctx, &p).await;
    let body = html! {
        h1 { "Access map: one cell" }
        p {
            "May " code { (p.user) } " log in to " code { (p.host) } " as " code { (p.account) }
            @if !p.from.is_empty() { " from " code { (p.from) } } "?"
        }
        @match &result {
            Err(f) => (failure_box(f)),
            Ok((arn, r)) => {
                @let decision = r["decision"].as_str().unwrap_or_default();
                div class={"decision " (if decision == "Allowed" { "allowed" } else { "denied" })} {
                    p { strong class="verdict" { (decision) } " — " code { "host:Login" } " on " code { (arn) } }
                    p class="explanation" { (r["message"].as_str().unwrap_or_default()) }
                    @let matched = r["matchedStatements"].as_array().cloned().unwrap_or_default();
                    @if !matched.is_empty() {
                        p { "Matched statements:" }
                        ul { @for m in &matched { li { code { (m.as_str().unwrap_or_default()) } } } }
                    }
                }
            }
        }
        p {
            a href={"/ui/access" (query(&[("host", p.host.as_str())]))} { "Who may log in to " (p.host) } " · "
            a href={"/ui/access" (query(&[("user", p.user.as_str())]))} { "Where " (p.user) " may log in" }
        }
    };
    page::ok(&ctx, "Access map", body)
}

async fn explain_cell(ctx: &Ctx, p: &CellParams) -> Result<(String, serde_json::Value), Failure> {
    let h = ctx
        .call(
            Method::GET,
            &format!("/v1/hosts/{}", crate::http::dispatch::segment(&p.host)),
            None,
        )
        .await?;
    let arn = h["arn"].as_str().unwrap_or_default().to_owned();
    let mut context = serde_json::Map::new();
    context.insert("host:Principal".into(), p.account.clone().into());
    context.insert(
        "host:Name".into(),
        h["name"].as_str().unwrap_or_default().into(),
    );
    for t in h["tags"].as_array().into_iter().flatten() {
        context.insert(
            format!("ward:ResourceTag/{}", t["key"].as_str().unwrap_or_default()),
            t["value"].as_str().unwrap_or_default().into(),
        );
    }
    if !p.from.trim().is_empty() {
        context.insert("ward:SourceIp".into(), p.from.trim().into());
    }
    let body = serde_json::json!({
        "policySourceArn": p.user,
        "actionNames": ["host:Login"],
        "resourceArns": [arn],
        "contextEntries": context,
    });
    let r = ctx
        .call(Method::POST, "/v1/simulate/principal", Some(&body))
        .await?;
    Ok((arn, r["results"][0].clone()))
}

/// One decision of the old path: allowed?, and why.
type Cell = (bool, String);

fn cell(c: &Cell) -> Markup {
    html! {
        td class=(if c.0 { "yes" } else { "no" }) {
            details {
                summary aria-label=(if c.0 { "allowed" } else { "denied" }) { (if c.0 { "✓" } else { "·" }) }
                span class="hint" { (c.1) }
            }
        }
    }
}

async fn host_arn(ctx: &Ctx, host: &str) -> Result<String, Failure> {
    let h = ctx
        .call(
            Method::GET,
            &format!("/v1/hosts/{}", crate::http::dispatch::segment(host)),
            None,
        )
        .await?;
    Ok(h["arn"].as_str().unwrap_or_default().to_owned())
}

async fn all_users(ctx: &Ctx) -> Result<Vec<String>, Failure> {
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let mut q = vec![("maxItems", "1000")];
        if let Some(m) = &marker {
            q.push(("marker", m.as_str()));
        }
        let r = ctx
            .call(Method::GET, &format!("/v1/users{}", query(&q)), None)
            .await?;
        for u in r["users"].as_array().into_iter().flatten() {
            out.push(u["name"].as_str().unwrap_or_default().to_owned());
        }
        match r["marker"].as_str() {
            Some(m) if out.len() < MAX_USERS => marker = Some(m.to_owned()),
            _ => return Ok(out),
        }
    }
}

/// Decisions of `host:Login` for `user` as `account` on `resources`.
async fn decide(
    ctx: &Ctx,
    user: &str,
    account: &str,
    resources: &[String],
) -> Result<Vec<Cell>, Failure> {
    let body = serde_json::json!({
        "policySourceArn": user,
        "actionNames": ["host:Login"],
        "resourceArns": resources,
        "contextEntries": {"host:Principal": account},
    });
    let r = ctx
        .call(Method::POST, "/v1/simulate/principal", Some(&body))
        .await?;
    Ok(r["results"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|x| {
            (
                x["decision"].as_str() == Some("Allowed"),
                x["message"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect())
}

async fn host_view_cells(ctx: &Ctx, host: &str, accounts: &[String]) -> Result<Markup, Failure> {
    let arn = host_arn(ctx, host).await?;
    let users = all_users(ctx).await?;
    let mut rows: Vec<(String, Vec<Cell>)> = Vec::with_capacity(users.len());
    for u in &users {
        let mut cells = Vec::with_capacity(accounts.len());
        for a in accounts {
            let account = if a == OWN { u.as_str() } else { a.as_str() };
            let mut d = decide(ctx, u, account, std::slice::from_ref(&arn)).await?;
            cells.push(d.pop().unwrap_or((false, String::new())));
        }
        rows.push((u.clone(), cells));
    }
    let allowed: usize = rows
        .iter()
        .map(|(_, c)| c.iter().filter(|x| x.0).count())
        .sum();
    Ok(html! {
        h2 { "Who may log in to " code { (host) } }
        p { (users.len()) " users × " (accounts.len()) " accounts: " (allowed) " allowed." }
        table class="matrix" {
            caption class="sr-only" { "Users (rows) by local account (columns)" }
            thead { tr { th scope="col" { "User" } @for a in accounts { th scope="col" { (a) } } } }
            tbody {
                @for (u, cells) in &rows {
                    tr {
                        th scope="row" { a href={"/ui/access" (query(&[("user", u)]))} { (u) } }
                        @for c in cells { (cell(c)) }
                    }
                }
            }
        }
    })
}

async fn user_view_cells(ctx: &Ctx, user: &str, accounts: &[String]) -> Result<Markup, Failure> {
    let list = ctx.call(Method::GET, "/v1/hosts", None).await?;
    let hosts: Vec<(String, String)> = list["hosts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| {
            (
                h["name"].as_str().unwrap_or_default().to_owned(),
                h["arn"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    // One column of decisions per account, 100 hosts a call.
    let mut columns: Vec<Vec<Cell>> = Vec::with_capacity(accounts.len());
    for a in accounts {
        let account = if a == OWN { user } else { a.as_str() };
        let mut col = Vec::with_capacity(hosts.len());
        for chunk in hosts.chunks(100) {
            let arns: Vec<String> = chunk.iter().map(|(_, arn)| arn.clone()).collect();
            col.extend(decide(ctx, user, account, &arns).await?);
        }
        columns.push(col);
    }
    Ok(html! {
        h2 { "Where " a href=(href("users", user)) { (user) } " may log in" }
        table class="matrix" {
            caption class="sr-only" { "Hosts (rows) by local account (columns)" }
            thead { tr { th scope="col" { "Host" } @for a in accounts { th scope="col" { (a) } } } }
            tbody {
                @for (i, (h, _)) in hosts.iter().enumerate() {
                    tr {
                        th scope="row" { a href={"/ui/access" (query(&[("host", h)]))} { (h) } }
                        @for col in &columns { @if let Some(c) = col.get(i) { (cell(c)) } }
                    }
                }
            }
        }
    })
}
