//! Hosts and the access map.
//!
//! `/ui/hosts`: the inventory (tags, agent online/offline, last seen,
//! version), each host linking to its map.
//!
//! `/ui/access?host=H` — which users may log in to H as which local
//! accounts; `/ui/access?user=U` — on which hosts, as which accounts.
//! Every cell is a `host:Login` decision of the simulator
//! (`POST /v1/simulate/principal`, the caller's own authority: a caller
//! without `iam:SimulatePrincipalPolicy` sees the denial) with
//! `host:Principal` set to the account; the column "own name" is each
//! user's own account. A cell opens (a `<details>`, keyboard and
//! screen-reader friendly, no script) to the decision's explanation.
//!
//! Cost: the host view asks once per user and account, the user view
//! once per account and 100 hosts. A rendered matrix is cached per
//! caller, view and store generation (any commit makes it stale), so a
//! second look costs nothing until something changes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::Method;
use axum::response::Response;
use maud::{html, Markup, PreEscaped};

use crate::http::dispatch::{query, Failure};
use crate::http::web::page::{self, failure_box, href};
use crate::http::web::session::Ctx;
use crate::state::Shared;

/// Most accounts (columns besides "own name") in one map.
const MAX_ACCOUNTS: usize = 10;

/// Most users in the host view.
const MAX_USERS: usize = 5_000;

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

/// `GET /ui/access?host=…|user=…&accounts=…`.
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
            button type="submit" { "Show" }
        }
        p class="hint" { "Each cell is the simulator's host:Login decision with host:Principal = the account; open a cell for why." }
    };
    let gen = match st.store.generation().await {
        Ok(g) => g,
        Err(e) => return page::refused(e.status(), e.code(), &e.message()),
    };
    let key = format!(
        "{}\n{}\n{}\n{}",
        ctx.caller.principal.arn(),
        p.host,
        p.user,
        accounts.join(",")
    );
    let matrix = if p.host.is_empty() && p.user.is_empty() {
        Ok(None)
    } else if let Some(m) = cached(&key, gen) {
        Ok(Some(m))
    } else {
        let built = if !p.host.is_empty() {
            host_view(&ctx, &p.host, &accounts).await
        } else {
            user_view(&ctx, &p.user, &accounts).await
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

/// One decision: allowed?, and why.
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

async fn host_view(ctx: &Ctx, host: &str, accounts: &[String]) -> Result<Markup, Failure> {
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

async fn user_view(ctx: &Ctx, user: &str, accounts: &[String]) -> Result<Markup, Failure> {
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
