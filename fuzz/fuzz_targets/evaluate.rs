//! A policy document and a request, evaluated with and without tracing.
//!
//! Input format (plain bytes rather than `arbitrary`, so that seeds are
//! readable policies and libFuzzer's dictionary-free mutations of the JSON
//! stay meaningful):
//!
//! ```text
//! POLICY-JSON \0 ACTION \n RESOURCE \n KEY=VALUE \n KEY[]=V1 \t V2 …
//! ```
//!
//! Everything after the first NUL (which cannot occur in valid JSON) is the
//! request: the action, the resource, then up to [`MAX_KEYS`] context keys,
//! single-valued as `key=value` or multi-valued as `key[]=v1<TAB>v2`
//! (`key[]=` is an empty set). The policy is parsed as an identity policy
//! and as a resource (or, for `sts:AssumeRole*`, trust) policy and placed in
//! each slot of a [`PolicySet`] it fits; each set is evaluated for a few
//! fixed principals.
//!
//! Properties: nothing panics, and [`explain`] always reaches the same
//! decision as [`evaluate`].
#![no_main]

use libfuzzer_sys::fuzz_target;
use ward_policy::{
    evaluate, explain, Context, ContextValue, Policy, PolicyKind, PolicySet, Principal, Request,
};

/// Most context keys taken from one input; more add nothing but time.
const MAX_KEYS: usize = 8;

/// Fixed principals of every kind that evaluation treats differently.
const PRINCIPALS: [&str; 4] = [
    "arn:ward:iam::123456789012:user/alice",
    "arn:ward:sts::123456789012:assumed-role/deploy/alice-session",
    "arn:ward:iam::123456789012:root",
    "arn:ward:host::210987654321:host/db-1",
];

fn context(lines: std::str::Split<'_, char>) -> Context {
    let mut ctx = Context::new();
    for line in lines.take(MAX_KEYS) {
        let (key, value) = line.split_once('=').unwrap_or((line, ""));
        match key.strip_suffix("[]") {
            Some(key) => {
                let values = if value.is_empty() {
                    Vec::new()
                } else {
                    value.split('\t').map(str::to_owned).collect()
                };
                ctx.insert(key, ContextValue::Multi(values));
            }
            None => ctx.insert(key, ContextValue::from(value)),
        }
    }
    ctx
}

fuzz_target!(|data: &[u8]| {
    let (doc, rest) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let Ok(rest) = std::str::from_utf8(rest) else {
        return;
    };
    let mut lines = rest.split('\n');
    let action = lines.next().unwrap_or("");
    let resource = lines.next().unwrap_or("");
    let ctx = context(lines);

    let resource_kind = if action.to_lowercase().starts_with("sts:assumerole") {
        PolicyKind::Trust
    } else {
        PolicyKind::Resource
    };
    // InlineRole has the most generous identity-side size limit.
    let identity = Policy::parse_bytes(doc, PolicyKind::InlineRole).ok();
    let resource_policy = Policy::parse_bytes(doc, resource_kind).ok();
    if identity.is_none() && resource_policy.is_none() {
        return;
    }
    let identity_refs: Vec<&Policy> = identity.iter().collect();
    let mut sets: Vec<PolicySet<'_>> = Vec::new();
    if let Some(p) = &identity {
        sets.push(PolicySet {
            identity: &identity_refs,
            ..PolicySet::default()
        });
        sets.push(PolicySet {
            identity: &identity_refs,
            boundaries: &identity_refs,
            session: Some(p),
            ..PolicySet::default()
        });
    }
    if let Some(p) = &resource_policy {
        sets.push(PolicySet {
            resource: Some(p),
            ..PolicySet::default()
        });
        sets.push(PolicySet {
            identity: &identity_refs,
            resource: Some(p),
            ..PolicySet::default()
        });
    }

    for arn in PRINCIPALS {
        let principal = Principal::from_arn(arn).expect("the fixed principal ARNs are valid");
        let principal = if arn.contains(":user/") {
            principal.with_unique_id("AIDAEXAMPLEALICE")
        } else {
            principal
        };
        let request = Request::new(principal, action, resource, ctx.clone());
        for set in &sets {
            let decision = evaluate(set, &request);
            let explanation = explain(set, &request);
            assert_eq!(
                decision, explanation.decision,
                "evaluate and explain disagree for {arn}; explanation: {explanation:?}"
            );
        }
    }
});
