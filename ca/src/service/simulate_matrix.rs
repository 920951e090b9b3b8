//! `POST /v1/simulate/matrix`: the access map's batch simulator — one
//! host action (`host:Login`, `host:Sudo`) decided for users × hosts ×
//! local accounts in one call, where the dashboard used to make one
//! `simulate/principal` dispatch per cell.
//!
//! Each cell is exactly what `POST /v1/simulate/principal` answers for
//! that user with `host:Principal` (the account), `host:Name` and the
//! host's `ward:ResourceTag/*` added to the request's `contextEntries`
//! (`ca/tests/access_matrix.rs` compares every cell): the same context
//! ([`crate::service::simulate::context`], then the user's tags), the
//! same principal, the same policies. What differs is the cost:
//!
//! - the caller is authorized once per user it reveals
//!   (`iam:SimulatePrincipalPolicy` on the user, as the single route); a
//!   user it may not simulate is a row marked not visible with the
//!   denial's explanation and no cells — never dropped, never decided —
//!   and the hidden rows of one call are audited as one denial record
//!   (their count and the first [`crate::service::authz::BATCH_NAMES`]
//!   names), not one record a row; the caller's policies and the
//!   generation are read once per call ([`crate::service::authz::prepare`]),
//!   not once a row;
//!   listing every user needs `iam:ListUsers`, every host
//!   `host:ListHosts`, a named host `host:GetHost`;
//! - users, groups and policies come from one store snapshot: the
//!   per-generation host snapshot the agents fetch
//!   ([`crate::service::host_sync::shared_snapshot`]), assembled per user
//!   with [`ward_authz::snapshot::user_documents`], the agent's own
//!   assembly, and compiled through the policy cache;
//! - cells are decided with [`ward_authz::decision`] (no explanation; a
//!   person asks for one cell's with `simulate/principal`), on a blocking
//!   thread holding one of the simulator's slots, under its deadline;
//! - a matrix over [`MAX_CELLS`] cells is refused (400 naming the field)
//!   before anything is read.

use std::sync::Arc;
use std::time::Instant as Clock;

use axum::body::Bytes;
use axum::extract::State;
use axum::{Extension, Json};
use ward_authz::context::{insert_principal_tags, keys, resource_tags, Entries};
use ward_authz::names::{host_name, unix_name};
use ward_authz::PrincipalPolicies;
use ward_policy::{Context, ContextValue, Decision, Policy, Principal, Request};
use ward_protocol::api;

use crate::error::ApiError;
use crate::service::authz::{audit_denied_batch, authorize_read, prepare, Refused};
use crate::service::caller::{Caller, Identity};
use crate::service::host_sync::shared_snapshot;
use crate::service::names::user_name;
use crate::service::request::body;
use crate::service::simulate::{context, slots, SimError, DEADLINE, QUEUE_WAIT, RETRY_AFTER_SECS};
use crate::state::Shared;
use crate::store::hosts;

/// Most cells (users × hosts × columns) in one matrix: 1,000 users ×
/// 200 hosts × 4 accounts.
pub const MAX_CELLS: usize = 1_000 * 200 * 4;

/// Most users in one page, and most names in `userNames` / `hostNames`.
pub const MAX_NAMES: usize = 1_000;

/// Most accounts (columns besides the own name).
pub const MAX_ACCOUNTS: usize = 20;

/// The action each row is authorized for, as the single route's.
const SIMULATE: &str = "iam:SimulatePrincipalPolicy";

/// The actions a matrix may decide.
const ACTIONS: &[&str] = &["host:Login", "host:Sudo"];

/// Context keys each cell sets itself (a request may not set them).
fn set_per_cell(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k == "host:principal" || k == "host:name" || k.starts_with("ward:resourcetag/")
}

/// A column host: its name, ARN and `ward:ResourceTag/*`.
struct Host {
    name: String,
    arn: String,
    tags: Entries,
}

/// A row the caller may see, ready to decide.
struct Row {
    name: String,
    principal: Principal,
    policies: PrincipalPolicies<Arc<Policy>>,
    tags: Vec<(String, String)>,
}

/// A row: decided, or hidden with why.
enum Slot {
    Shown(Box<Row>),
    Hidden(String, String),
}

fn too_large(cells: usize) -> ApiError {
    ApiError::invalid(
        "maxUsers",
        format!(
            "this matrix would have {cells} cells (users × hosts × accounts); the limit is \
             {MAX_CELLS}: ask fewer users (maxUsers, userNames), hosts (hostNames) or accounts"
        ),
    )
}

/// Checks the request's shape; the columns' count.
fn check(req: &api::SimulateMatrix) -> Result<usize, ApiError> {
    if let Some(a) = &req.action_name {
        if !ACTIONS.contains(&a.as_str()) {
            return Err(ApiError::invalid(
                "actionName",
                format!("{a:?} is not one of {}", ACTIONS.join(", ")),
            ));
        }
    }
    if req.user_names.len() > MAX_NAMES {
        return Err(ApiError::invalid(
            "userNames",
            format!("give at most {MAX_NAMES} users"),
        ));
    }
    if req.host_names.len() > MAX_NAMES {
        return Err(ApiError::invalid(
            "hostNames",
            format!("give at most {MAX_NAMES} hosts"),
        ));
    }
    if req.accounts.len() > MAX_ACCOUNTS {
        return Err(ApiError::invalid(
            "accounts",
            format!("give at most {MAX_ACCOUNTS} accounts"),
        ));
    }
    if req.accounts.is_empty() && !req.own_name {
        return Err(ApiError::invalid(
            "accounts",
            "give at least one account, or ownName",
        ));
    }
    for (i, a) in req.accounts.iter().enumerate() {
        unix_name(&format!("accounts[{i}]"), a)?;
        if req.accounts[..i].contains(a) {
            return Err(ApiError::invalid(
                format!("accounts[{i}]"),
                format!("{a:?} is given twice"),
            ));
        }
    }
    for (i, u) in req.user_names.iter().enumerate() {
        user_name(&format!("userNames[{i}]"), u)?;
    }
    for (i, h) in req.host_names.iter().enumerate() {
        host_name(&format!("hostNames[{i}]"), h, false)?;
    }
    if let Some(k) = req.context_entries.keys().find(|k| set_per_cell(k)) {
        return Err(ApiError::invalid(
            format!("contextEntries.{k}"),
            "host:Principal, host:Name and ward:ResourceTag/* are set by each cell",
        ));
    }
    if let Some(n) = req.max_users {
        if n == 0 || n as usize > MAX_NAMES {
            return Err(ApiError::invalid(
                "maxUsers",
                format!("give 1 to {MAX_NAMES}"),
            ));
        }
    }
    if let Some(m) = &req.marker {
        user_name("marker", m)?;
    }
    let columns = req.accounts.len() + usize::from(req.own_name);
    let rows = if req.user_names.is_empty() {
        req.max_users.map_or(MAX_NAMES, |n| n as usize)
    } else {
        req.user_names.len()
    };
    if !req.host_names.is_empty() {
        let cells = rows * req.host_names.len() * columns;
        if cells > MAX_CELLS {
            return Err(too_large(cells));
        }
    }
    Ok(columns)
}

/// The column hosts: those named (`host:GetHost` each), or every one
/// (`host:ListHosts`).
async fn hosts_of(st: &Shared, caller: &Caller, names: &[String]) -> Result<Vec<Host>, ApiError> {
    let account = st.store.account_id();
    let host = |h: hosts::HostRow| Host {
        arn: ward_authz::arn::host(account, &h.name),
        tags: resource_tags(h.tags.iter().map(|t| (t.key.as_str(), t.value.as_str()))),
        name: h.name,
    };
    if !names.is_empty() {
        let mut out = Vec::with_capacity(names.len());
        for n in names {
            let (h, _) = crate::service::hosts::target(st, caller, "host:GetHost", n, &[]).await?;
            out.push(host(h));
        }
        return Ok(out);
    }
    authorize_read(
        st,
        caller,
        "host:ListHosts",
        &ward_authz::arn::host(account, "*"),
        &[],
    )
    .await?;
    let mut c = st.store.pool().acquire().await?;
    let mut out = Vec::new();
    for n in hosts::names(&mut c).await? {
        if let Some(h) = hosts::find(&mut c, &n).await? {
            out.push(host(h));
        }
    }
    Ok(out)
}

/// `POST /v1/simulate/matrix`.
pub(crate) async fn matrix(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    b: Bytes,
) -> Result<Json<api::SimulationMatrix>, SimError> {
    let req: api::SimulateMatrix = body(&b)?;
    let columns = check(&req)?;
    let base = context(&req.context_entries)?;
    let action = req.action_name.as_deref().unwrap_or(ACTIONS[0]).to_owned();
    let account = st.store.account_id().to_owned();
    let hosts = hosts_of(&st, &caller, &req.host_names).await?;
    let built = shared_snapshot(&st).await?;
    let snap = &built.snapshot;
    // The rows: those named, in that order, or a page of every user.
    let mut by_name: Vec<&ward_protocol::host::SnapshotUser> = snap.users.iter().collect();
    by_name.sort_by(|a, b| a.name.cmp(&b.name));
    let mut marker = None;
    let wanted: Vec<(String, Option<&ward_protocol::host::SnapshotUser>)> =
        if req.user_names.is_empty() {
            authorize_read(
                &st,
                &caller,
                "iam:ListUsers",
                &ward_authz::arn::user(&account, "/", "*"),
                &[],
            )
            .await?;
            let after = req.marker.as_deref().unwrap_or("");
            let page = req.max_users.map_or(MAX_NAMES, |n| n as usize);
            let rest: Vec<_> = by_name.iter().filter(|u| u.name.as_str() > after).collect();
            if rest.len() > page {
                marker = Some(rest[page - 1].name.clone());
            }
            rest.into_iter()
                .take(page)
                .map(|u| (u.name.clone(), Some(*u)))
                .collect()
        } else {
            req.user_names
                .iter()
                .map(|n| {
                    let lc = n.to_lowercase();
                    (
                        n.clone(),
                        by_name
                            .iter()
                            .find(|u| u.name.to_lowercase() == lc)
                            .copied(),
                    )
                })
                .collect()
        };
    let cells = wanted.len() * hosts.len() * columns;
    if cells > MAX_CELLS {
        return Err(too_large(cells).into());
    }
    // Root may simulate anyone: its read is audited once, not per row.
    if matches!(caller.identity, Identity::Root) {
        authorize_read(
            &st,
            &caller,
            SIMULATE,
            &ward_authz::arn::user(&account, "/", "*"),
            &[],
        )
        .await?;
    }
    // The caller's policies are read once (one generation read), every
    // row decided without a store read, and the hidden rows audited as
    // one record before anything else can fail.
    let prepared = prepare(&st, &caller).await?;
    let mut decided = Vec::with_capacity(wanted.len());
    let mut hidden: Vec<String> = Vec::new();
    let mut explicit = 0usize;
    for (name, found) in wanted {
        let arn = match found {
            Some(u) => ward_authz::arn::user(&account, &u.path, &u.name),
            None => ward_authz::arn::user(&account, "/", &name),
        };
        let denied = match prepared.decide(&caller, SIMULATE, &arn, &[], None) {
            Ok(_) => None,
            Err(Refused::Denied(d)) => {
                explicit += usize::from(d.decision == "ExplicitlyDenied");
                hidden.push(name.clone());
                Some(d.message)
            }
            Err(Refused::Other(e)) => return Err(e.into()),
        };
        decided.push((name, found, arn, denied));
    }
    if !hidden.is_empty() {
        let decision = if explicit > 0 {
            "ExplicitlyDenied"
        } else {
            "ImplicitlyDenied"
        };
        audit_denied_batch(
            &st,
            &caller,
            SIMULATE,
            &ward_authz::arn::user(&account, "/", "*"),
            decision,
            &hidden,
            serde_json::json!({
                "reason": "SimulateMatrixRowsHidden",
                "explicitlyDenied": explicit,
            }),
        )
        .await?;
    }
    let mut rows = Vec::with_capacity(decided.len());
    for (name, found, arn, denied) in decided {
        if let Some(message) = denied {
            rows.push(Slot::Hidden(name, message));
            continue;
        }
        let u = found.ok_or_else(|| ApiError::no_such("user", &name))?;
        let policies = ward_authz::snapshot::user_documents(snap, u)
            .map_err(|e| ApiError::internal(e.0))?
            .try_map(|doc, kind| st.policies.get(doc, kind))?;
        let principal = Principal::from_arn(&arn)
            .map_err(ApiError::internal)?
            .with_unique_id(u.id.clone());
        rows.push(Slot::Shown(Box::new(Row {
            name: u.name.clone(),
            principal,
            policies,
            tags: u
                .tags
                .iter()
                .map(|t| (t.key.clone(), t.value.clone()))
                .collect(),
        })));
    }
    let generation = built.generation;
    drop(built);
    let busy = || {
        SimError::Busy(format!(
            "the policy simulator is busy; try again in {RETRY_AFTER_SECS} seconds"
        ))
    };
    let permit = tokio::time::timeout(QUEUE_WAIT, slots().acquire())
        .await
        .map_err(|_| busy())?
        .map_err(|_| busy())?;
    let accounts = req.accounts.clone();
    let own = req.own_name;
    let act = action.clone();
    let host_list = hosts;
    let task = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let deadline = Clock::now() + DEADLINE;
        let mut out = Vec::with_capacity(rows.len());
        for slot in rows {
            match slot {
                Slot::Hidden(name, message) => out.push(api::MatrixRow {
                    user_name: name,
                    visible: false,
                    cells: Vec::new(),
                    message: Some(message),
                }),
                Slot::Shown(row) => {
                    if Clock::now() > deadline {
                        return None;
                    }
                    let cells = decide_row(&row, &act, &host_list, &accounts, own, &base);
                    out.push(api::MatrixRow {
                        user_name: row.name,
                        visible: true,
                        cells,
                        message: None,
                    });
                }
            }
        }
        Some((out, host_list.into_iter().map(|h| h.name).collect()))
    });
    let (rows, hosts) = match task.await {
        Ok(Some(x)) => x,
        Ok(None) => {
            return Err(SimError::Busy(format!(
                "the matrix did not finish within {} seconds; try again in {RETRY_AFTER_SECS} \
                 seconds or ask fewer users (maxUsers) or hosts",
                DEADLINE.as_secs()
            )))
        }
        Err(e) => return Err(ApiError::internal(format!("matrix task: {e}")).into()),
    };
    Ok(Json(api::SimulationMatrix {
        action_name: action,
        hosts,
        accounts: req.accounts,
        own_name: req.own_name,
        rows,
        marker,
        generation,
    }))
}

/// One user's cells: a string per column, a character per host.
fn decide_row(
    row: &Row,
    action: &str,
    hosts: &[Host],
    accounts: &[String],
    own: bool,
    base: &Context,
) -> Vec<String> {
    let assembled = row.policies.assemble();
    let set = assembled.set();
    let mut row_ctx = base.clone();
    insert_principal_tags(&mut row_ctx, &row.tags);
    let names: Vec<&str> = own
        .then_some(row.name.as_str())
        .into_iter()
        .chain(accounts.iter().map(String::as_str))
        .collect();
    let mut cols: Vec<String> = vec![String::with_capacity(hosts.len()); names.len()];
    for h in hosts {
        let mut host_ctx = row_ctx.clone();
        host_ctx.insert(keys::HOST_NAME, ContextValue::from(h.name.as_str()));
        for (k, v) in &h.tags {
            host_ctx.insert(k, v.clone());
        }
        for (col, account) in cols.iter_mut().zip(&names) {
            let mut ctx = host_ctx.clone();
            ctx.insert("host:Principal", ContextValue::from(*account));
            let req = Request::new(row.principal.clone(), action, &h.arn, ctx);
            col.push(match ward_authz::decision(&set, &req) {
                Decision::Allowed => 'A',
                Decision::ExplicitlyDenied => 'D',
                Decision::ImplicitlyDenied => 'I',
            });
        }
    }
    cols
}
