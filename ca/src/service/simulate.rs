//! `iam:SimulatePrincipalPolicy` and `iam:SimulateCustomPolicy`: the API's
//! policy simulator. Both evaluate with ward-policy's `explain`, so the
//! answer and its reasons are exactly what a real request would get.
//!
//! A simulation evaluates caller-supplied policies against up to
//! 100 × 100 requests, so it is bounded before it starts and run where it
//! cannot starve the server:
//! - its work (requests × [`Policy::evaluation_cost`]) is estimated first
//!   and a request over [`MAX_WORK`] is refused with a 400 naming the limit;
//! - it runs on a blocking thread, at most [`slots`] at a time (half the
//!   cores), never on the async workers that serve `/healthz` and the API;
//! - a caller that waits [`QUEUE_WAIT`] for a slot, or a simulation that
//!   runs past [`DEADLINE`], gets a 503 with `Retry-After`.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant as Clock};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use tokio::sync::Semaphore;
use ward_policy::{
    explain, Context, ContextValue, Policy, PolicyKind, PolicySet, Principal, Request,
    MAX_ARN_CHARS,
};
use ward_protocol::api;

use crate::error::ApiError;
use crate::service::authz::{authorize_read, load_effective};
use crate::service::caller::{user_arn, Caller};
use crate::service::request::{body, document_text};
use crate::state::{now, Shared};
use crate::store::iam;

/// Most actions, and resources, per simulation.
const MAX_ITEMS: usize = 100;

/// Most evaluation work per simulation, in the character steps of
/// [`Policy::evaluation_cost`] summed over every (action, resource) pair.
/// Ordinary simulations (a few policies, tens of pairs) use well under 1%.
pub const MAX_WORK: u64 = 50_000_000;

/// How long one simulation may evaluate before it is abandoned.
pub(crate) const DEADLINE: Duration = Duration::from_secs(10);

/// How long a simulation waits for an evaluation slot.
pub(crate) const QUEUE_WAIT: Duration = Duration::from_secs(2);

/// Seconds a refused caller is told to wait.
pub(crate) const RETRY_AFTER_SECS: &str = "2";

/// Evaluation slots: half the cores (at least one), so simulations can
/// never take every core from the rest of the server.
pub(crate) fn slots() -> &'static Semaphore {
    static SLOTS: OnceLock<Semaphore> = OnceLock::new();
    SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Semaphore::new((cores / 2).max(1))
    })
}

/// A simulator failure: an API error, or "busy, come back" (503 with
/// `Retry-After`).
#[derive(Debug)]
pub(crate) enum SimError {
    Api(ApiError),
    Busy(String),
}

impl From<ApiError> for SimError {
    fn from(e: ApiError) -> SimError {
        SimError::Api(e)
    }
}

impl IntoResponse for SimError {
    fn into_response(self) -> Response {
        match self {
            SimError::Api(e) => e.into_response(),
            SimError::Busy(message) => {
                // ApiError::Unavailable is a 503; add when to come back.
                let mut r = ApiError::Unavailable { message }.into_response();
                r.headers_mut().insert(
                    header::RETRY_AFTER,
                    header::HeaderValue::from_static(RETRY_AFTER_SECS),
                );
                r
            }
        }
    }
}

fn requests(actions: &[String], resources: &[String]) -> Result<Vec<(String, String)>, ApiError> {
    if actions.is_empty() || actions.len() > MAX_ITEMS {
        return Err(ApiError::invalid(
            "actionNames",
            format!("give 1 to {MAX_ITEMS} actions"),
        ));
    }
    if resources.len() > MAX_ITEMS {
        return Err(ApiError::invalid(
            "resourceArns",
            format!("give at most {MAX_ITEMS} resources"),
        ));
    }
    for (i, a) in actions.iter().enumerate() {
        if a.len() > 128 || a.split(':').count() != 2 || a.contains(['*', '?']) {
            return Err(ApiError::invalid(
                format!("actionNames[{i}]"),
                format!("{a:?} must be one action like iam:GetUser"),
            ));
        }
    }
    for (i, r) in resources.iter().enumerate() {
        let n = r.chars().count();
        if n == 0 || n > MAX_ARN_CHARS {
            return Err(ApiError::invalid(
                format!("resourceArns[{i}]"),
                format!("resource ARNs must be 1 to {MAX_ARN_CHARS} characters; this one is {n}"),
            ));
        }
    }
    let resources: Vec<String> = if resources.is_empty() {
        vec!["*".into()]
    } else {
        resources.to_vec()
    };
    Ok(actions
        .iter()
        .flat_map(|a| resources.iter().map(move |r| (a.clone(), r.clone())))
        .collect())
}

/// The estimated work of deciding `reqs` against `policies`; a 400 naming
/// the limit if it is over [`MAX_WORK`].
fn check_work(
    policies: &[Arc<Policy>],
    ctx: &Context,
    reqs: &[(String, String)],
) -> Result<(), ApiError> {
    // A condition on a multi-valued key tests each value: its text is
    // all of them.
    let longest_value = ctx
        .iter()
        .map(|(_, vs)| vs.iter().map(|v| v.len()).sum::<usize>())
        .max()
        .unwrap_or(0);
    let mut work: u64 = 0;
    for (a, r) in reqs {
        let text = a.len().max(r.len()).max(longest_value);
        let per = policies
            .iter()
            .map(|p| p.evaluation_cost(text))
            .fold(1u64, u64::saturating_add);
        work = work.saturating_add(per);
        if work > MAX_WORK {
            return Err(ApiError::invalid(
                "actionNames",
                format!(
                    "this simulation is too large: {} action/resource pairs against these policies \
                     exceed the limit of {MAX_WORK} evaluation steps (pairs × policy size × ARN length); \
                     simulate fewer actions or resources at a time, or shorter policies",
                    reqs.len()
                ),
            ));
        }
    }
    Ok(())
}

/// Policies to evaluate, owned so that they can move to a blocking thread.
struct Owned {
    identity: Vec<Arc<Policy>>,
    boundaries: Vec<Arc<Policy>>,
    resource: Option<Arc<Policy>>,
}

/// Runs the simulation off the async workers, bounded as the module says.
async fn run_bounded(
    set: Owned,
    principal: Principal,
    ctx: Context,
    reqs: Vec<(String, String)>,
) -> Result<api::SimulationResults, SimError> {
    let all: Vec<Arc<Policy>> = set
        .identity
        .iter()
        .chain(&set.boundaries)
        .chain(&set.resource)
        .cloned()
        .collect();
    check_work(&all, &ctx, &reqs)?;
    let busy = || {
        SimError::Busy(format!(
            "the policy simulator is busy; try again in {RETRY_AFTER_SECS} seconds"
        ))
    };
    let permit = tokio::time::timeout(QUEUE_WAIT, slots().acquire())
        .await
        .map_err(|_| busy())?
        .map_err(|_| busy())?;
    let task = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let identity: Vec<&Policy> = set.identity.iter().map(|p| &**p).collect();
        let boundaries: Vec<&Policy> = set.boundaries.iter().map(|p| &**p).collect();
        let policies = PolicySet {
            identity: &identity,
            boundaries: &boundaries,
            resource: set.resource.as_deref(),
            session: None,
        };
        run(&policies, &principal, &ctx, &reqs, Clock::now() + DEADLINE)
    });
    match task.await {
        Ok(Some(results)) => Ok(results),
        Ok(None) => Err(SimError::Busy(format!(
            "the simulation did not finish within {} seconds; try again in {RETRY_AFTER_SECS} seconds or simulate fewer actions or resources",
            DEADLINE.as_secs()
        ))),
        Err(e) => Err(ApiError::internal(format!("simulation task: {e}")).into()),
    }
}

pub(crate) fn context(
    entries: &std::collections::BTreeMap<String, serde_json::Value>,
) -> Result<Context, ApiError> {
    if entries.len() > 50 {
        return Err(ApiError::invalid(
            "contextEntries",
            "at most 50 context entries",
        ));
    }
    let mut ctx = Context::new();
    ward_authz::context::insert_time(&mut ctx, now());
    for (k, v) in entries {
        let field = format!("contextEntries.{k}");
        if k.is_empty() || k.len() > 256 {
            return Err(ApiError::invalid(
                field,
                "context keys must be 1 to 256 characters",
            ));
        }
        let value = match v {
            serde_json::Value::String(s) => ContextValue::Single(s.clone()),
            serde_json::Value::Array(a) => ContextValue::Multi(
                a.iter()
                    .map(|x| {
                        x.as_str().map(str::to_owned).ok_or_else(|| {
                            ApiError::invalid(
                                field.clone(),
                                "context values must be strings or lists of strings",
                            )
                        })
                    })
                    .collect::<Result<_, _>>()?,
            ),
            _ => {
                return Err(ApiError::invalid(
                    field,
                    "context values must be strings or lists of strings",
                ))
            }
        };
        ctx.insert(k, value);
    }
    Ok(ctx)
}

/// Decides every request; `None` if `deadline` passes first (checked
/// between requests: each one is bounded by [`check_work`]).
fn run(
    set: &PolicySet<'_>,
    principal: &Principal,
    ctx: &Context,
    reqs: &[(String, String)],
    deadline: Clock,
) -> Option<api::SimulationResults> {
    let mut results = Vec::with_capacity(reqs.len());
    for (a, r) in reqs {
        if Clock::now() > deadline {
            return None;
        }
        let e = explain(set, &Request::new(principal.clone(), a, r, ctx.clone()));
        results.push(api::SimulationResult {
            action_name: a.clone(),
            resource_arn: r.clone(),
            decision: e.decision.as_str().to_owned(),
            message: e.message.clone(),
            matched_statements: e
                .matched()
                .map(|s| {
                    let sid = s
                        .sid
                        .as_deref()
                        .filter(|x| !x.is_empty())
                        .map(|x| format!(" ({x})"))
                        .unwrap_or_default();
                    format!(
                        "{}[{}]#{}{sid} {}",
                        s.role.field(),
                        s.policy,
                        s.statement,
                        s.effect.as_str()
                    )
                })
                .collect(),
        });
    }
    Some(api::SimulationResults { results })
}

/// `POST /v1/simulate/principal`.
pub(crate) async fn principal(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    b: Bytes,
) -> Result<Json<api::SimulationResults>, SimError> {
    let req: api::SimulatePrincipalPolicy = body(&b)?;
    let reqs = requests(&req.action_names, &req.resource_arns)?;
    let ctx = context(&req.context_entries)?;
    // A name, or this account's user ARN: another account's ARN or a group
    // ARN must not quietly simulate a local user of the same name.
    let src = &req.policy_source_arn;
    let name = if src.starts_with("arn:") {
        let prefix = ward_authz::arn::user(st.store.account_id(), "/", "");
        match src.strip_prefix(&prefix) {
            Some(rest) => rest.rsplit('/').next().unwrap_or("").to_owned(),
            None => {
                return Err(ApiError::invalid(
                    "policySourceArn",
                    format!("{src:?} is not a user ARN of this account ({prefix}…)"),
                )
                .into())
            }
        }
    } else {
        src.clone()
    };
    crate::service::names::user_name("policySourceArn", &name).map_err(ApiError::from)?;
    let mut c = st.store.pool().acquire().await.map_err(ApiError::from)?;
    let found = iam::find_user(&mut c, &name).await?;
    drop(c);
    let arn = found
        .as_ref()
        .map(|u| user_arn(st.store.account_id(), u))
        .unwrap_or_else(|| ward_authz::arn::user(st.store.account_id(), "/", &name));
    authorize_read(&st, &caller, "iam:SimulatePrincipalPolicy", &arn, &[]).await?;
    let user = found.ok_or_else(|| ApiError::no_such("user", &name))?;
    let eff = load_effective(&st, &user).await?;
    let mut ctx = ctx;
    ward_authz::context::insert_principal_tags(&mut ctx, eff.tags());
    let principal = Principal::from_arn(&arn)
        .map_err(ApiError::internal)?
        .with_unique_id(user.id.clone());
    let set = Owned {
        identity: eff.policies().identity().cloned().collect(),
        boundaries: eff.policies().boundary.iter().cloned().collect(),
        resource: None,
    };
    Ok(Json(run_bounded(set, principal, ctx, reqs).await?))
}

fn parse_docs(
    field: &str,
    docs: &[Box<serde_json::value::RawValue>],
    kind: PolicyKind,
) -> Result<Vec<Arc<Policy>>, ApiError> {
    if docs.len() > 20 {
        return Err(ApiError::invalid(field, "at most 20 policies"));
    }
    docs.iter()
        .enumerate()
        .map(|(i, d)| {
            let text = document_text(d).map_err(|_| {
                ApiError::invalid(
                    format!("{field}[{i}]"),
                    "a policy must be a JSON object or a string holding one",
                )
            })?;
            Policy::parse(&text, kind).map(Arc::new).map_err(|e| {
                ApiError::invalid_code(
                    "MalformedPolicyDocument",
                    format!("{field}[{i}]"),
                    e.to_string(),
                )
            })
        })
        .collect()
}

/// `POST /v1/simulate/custom`.
pub(crate) async fn custom(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    b: Bytes,
) -> Result<Json<api::SimulationResults>, SimError> {
    let req: api::SimulateCustomPolicy = body(&b)?;
    let reqs = requests(&req.action_names, &req.resource_arns)?;
    let ctx = context(&req.context_entries)?;
    let identity = parse_docs(
        "policyInputList",
        &req.policy_input_list,
        PolicyKind::InlineRole,
    )?;
    let boundaries = parse_docs(
        "permissionsBoundaryPolicyInputList",
        &req.permissions_boundary_policy_input_list,
        PolicyKind::Managed,
    )?;
    let resource_kind = if req
        .action_names
        .iter()
        .any(|a| a.to_lowercase().starts_with("sts:assumerole"))
    {
        PolicyKind::Trust
    } else {
        PolicyKind::Resource
    };
    let resource = match &req.resource_policy {
        Some(d) => parse_docs("resourcePolicy", std::slice::from_ref(d), resource_kind)?.pop(),
        None => None,
    };
    let principal = match &req.caller_arn {
        Some(a) => Principal::from_arn(a).map_err(|e| ApiError::invalid("callerArn", e.0))?,
        None => caller.principal.clone(),
    };
    authorize_read(&st, &caller, "iam:SimulateCustomPolicy", "*", &[]).await?;
    let set = Owned {
        identity,
        boundaries,
        resource,
    };
    Ok(Json(run_bounded(set, principal, ctx, reqs).await?))
}
