//! `iam:SimulatePrincipalPolicy` and `iam:SimulateCustomPolicy`: the API's
//! policy simulator. Both evaluate with ward-policy's `explain`, so the
//! answer and its reasons are exactly what a real request would get.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::{Extension, Json};
use ward_policy::{
    explain, Context, ContextValue, Instant, Policy, PolicyKind, PolicySet, Principal, Request,
};
use ward_protocol::api;

use crate::api::{body, document_text};
use crate::auth::{user_arn, Caller};
use crate::authz::{authorize_read, load_effective};
use crate::error::ApiError;
use crate::iam;
use crate::state::{now, Shared};

/// Most actions, and resources, per simulation.
const MAX_ITEMS: usize = 100;

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
        if r.is_empty() || r.len() > 2048 {
            return Err(ApiError::invalid(
                format!("resourceArns[{i}]"),
                "resource ARNs must be 1 to 2048 characters",
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

fn context(
    entries: &std::collections::BTreeMap<String, serde_json::Value>,
) -> Result<Context, ApiError> {
    if entries.len() > 50 {
        return Err(ApiError::invalid(
            "contextEntries",
            "at most 50 context entries",
        ));
    }
    let mut ctx = Context::new();
    let t = now();
    ctx.insert(
        "ward:CurrentTime",
        ContextValue::from(Instant::from_epoch_seconds(t).to_rfc3339()),
    );
    ctx.insert("ward:EpochTime", ContextValue::from(t.to_string()));
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

fn run(
    set: &PolicySet<'_>,
    principal: &Principal,
    ctx: &Context,
    reqs: &[(String, String)],
) -> api::SimulationResults {
    let results = reqs
        .iter()
        .map(|(a, r)| {
            let e = explain(set, &Request::new(principal.clone(), a, r, ctx.clone()));
            api::SimulationResult {
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
            }
        })
        .collect();
    api::SimulationResults { results }
}

/// `POST /v1/simulate/principal`.
pub(crate) async fn principal(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    b: Bytes,
) -> Result<Json<api::SimulationResults>, ApiError> {
    let req: api::SimulatePrincipalPolicy = body(&b)?;
    let reqs = requests(&req.action_names, &req.resource_arns)?;
    let ctx = context(&req.context_entries)?;
    // A name, or this account's user ARN: another account's ARN or a group
    // ARN must not quietly simulate a local user of the same name.
    let src = &req.policy_source_arn;
    let name = if src.starts_with("arn:") {
        let prefix = format!("arn:ward:iam::{}:user/", st.store.account_id());
        match src.strip_prefix(&prefix) {
            Some(rest) => rest.rsplit('/').next().unwrap_or("").to_owned(),
            None => {
                return Err(ApiError::invalid(
                    "policySourceArn",
                    format!("{src:?} is not a user ARN of this account ({prefix}…)"),
                ))
            }
        }
    } else {
        src.clone()
    };
    crate::names::user_name("policySourceArn", &name)?;
    let mut c = st.store.pool().acquire().await?;
    let found = iam::find_user(&mut c, &name).await?;
    drop(c);
    let arn = found
        .as_ref()
        .map(|u| user_arn(st.store.account_id(), u))
        .unwrap_or_else(|| format!("arn:ward:iam::{}:user/{name}", st.store.account_id()));
    authorize_read(&st, &caller, "iam:SimulatePrincipalPolicy", &arn, &[]).await?;
    let user = found.ok_or_else(|| ApiError::no_such("user", &name))?;
    let eff = load_effective(&st, &user).await?;
    let mut ctx = ctx;
    for (k, v) in eff.tags() {
        ctx.insert(
            &format!("ward:PrincipalTag/{k}"),
            ContextValue::from(v.as_str()),
        );
    }
    let principal = Principal::from_arn(&arn)
        .map_err(ApiError::internal)?
        .with_unique_id(user.id.clone());
    let identity: Vec<&Policy> = eff.identity().iter().map(|p| &**p).collect();
    let boundaries: Vec<&Policy> = eff.boundary().map(|p| &**p).into_iter().collect();
    let set = PolicySet {
        identity: &identity,
        boundaries: &boundaries,
        ..PolicySet::default()
    };
    Ok(Json(run(&set, &principal, &ctx, &reqs)))
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
) -> Result<Json<api::SimulationResults>, ApiError> {
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
    let identity: Vec<&Policy> = identity.iter().map(|p| &**p).collect();
    let boundaries: Vec<&Policy> = boundaries.iter().map(|p| &**p).collect();
    let set = PolicySet {
        identity: &identity,
        boundaries: &boundaries,
        resource: resource.as_deref(),
        session: None,
    };
    Ok(Json(run(&set, &principal, &ctx, &reqs)))
}
