//! `ward policy simulate-principal` and `ward policy simulate-custom`:
//! ward-ca's policy simulator (`POST /v1/simulate/…`). Unlike the offline
//! `ward policy simulate`, these ask the server, which decides with the
//! policies it holds (principal) or the documents sent (custom), exactly as
//! a real request would be decided.
//!
//! Policy files are sent as JSON strings holding their text, as with
//! `ward policy create --document`: ward-ca validates what was written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::Value;
use ward_protocol::api;

use crate::client::Method;
use crate::ctx::{body, Ctx, Done};
use crate::error::Failure;
use crate::output::table;

/// A context entry from the command line: a key and a string or a list.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ContextEntry {
    key: String,
    value: Value,
}

/// `KEY=VALUE` → a single-valued entry (the value may be empty).
fn parse_single(s: &str) -> Result<ContextEntry, String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok(ContextEntry {
            key: k.to_owned(),
            value: Value::String(v.to_owned()),
        }),
        _ => Err(format!("{s:?} is not KEY=VALUE")),
    }
}

/// `KEY=V1,V2,…` → a multi-valued entry; `KEY=` is the empty set.
fn parse_list(s: &str) -> Result<ContextEntry, String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok(ContextEntry {
            key: k.to_owned(),
            value: Value::Array(if v.is_empty() {
                Vec::new()
            } else {
                v.split(',').map(|x| Value::String(x.to_owned())).collect()
            }),
        }),
        _ => Err(format!("{s:?} is not KEY=VALUE1,VALUE2,…")),
    }
}

/// What to decide: actions × resources, with extra context.
#[derive(Args, Debug)]
pub(crate) struct Requests {
    /// An action to try, e.g. iam:GetUser; repeat for more.
    #[arg(long = "action", value_name = "ACTION", required = true)]
    actions: Vec<String>,
    /// A resource ARN to try; repeat for more [default: *].
    #[arg(long = "resource", value_name = "ARN")]
    resources: Vec<String>,
    /// A single-valued context key, KEY=VALUE (e.g. ward:SourceIp=10.0.0.7); repeat for more.
    #[arg(long = "context", value_name = "KEY=VALUE", value_parser = parse_single)]
    context: Vec<ContextEntry>,
    /// A multi-valued context key, KEY=V1,V2,… (KEY= for the empty set); repeat for more.
    #[arg(long = "context-list", value_name = "KEY=V1,V2", value_parser = parse_list)]
    context_lists: Vec<ContextEntry>,
}

impl Requests {
    /// The `contextEntries` object; a key given twice is a usage error
    /// rather than a silent "last one wins".
    fn context_entries(&self) -> Result<BTreeMap<String, Value>, Failure> {
        let mut seen = BTreeMap::new();
        let mut out = BTreeMap::new();
        for e in self.context.iter().chain(&self.context_lists) {
            if let Some(first) = seen.insert(same_key(&e.key), e.key.clone()) {
                return Err(Failure::usage(format!(
                    "context key {:?} is given more than once (as {first:?} and {:?})",
                    e.key, e.key
                )));
            }
            out.insert(e.key.clone(), e.value.clone());
        }
        Ok(out)
    }
}

/// The spelling ward-policy treats as the same key: case-insensitive, and
/// `aws:` is `ward:` (ward-policy's `key_id`).
fn same_key(k: &str) -> String {
    let lower = k.trim().to_lowercase();
    match lower.strip_prefix("aws:") {
        Some(rest) => format!("ward:{rest}"),
        None => lower,
    }
}

#[derive(Args, Debug)]
pub(crate) struct Principal {
    /// The user whose policies decide: name or ARN.
    #[arg(value_name = "USER")]
    user: String,
    #[command(flatten)]
    requests: Requests,
}

#[derive(Args, Debug)]
pub(crate) struct Custom {
    /// An identity policy document (JSON), or - for standard input; repeat for more.
    #[arg(long = "policy", value_name = "FILE", required = true)]
    policies: Vec<PathBuf>,
    /// A permissions boundary document; repeat for more.
    #[arg(long = "boundary", value_name = "FILE")]
    boundaries: Vec<PathBuf>,
    /// A resource policy (or, for sts:AssumeRole*, a trust policy) document.
    #[arg(long, value_name = "FILE")]
    resource_policy: Option<PathBuf>,
    /// The principal to simulate [default: the caller].
    #[arg(long, value_name = "ARN")]
    caller_arn: Option<String>,
    #[command(flatten)]
    requests: Requests,
}

fn results_table(r: &api::SimulationResults) -> String {
    let rows: Vec<Vec<String>> = r
        .results
        .iter()
        .map(|x| {
            vec![
                x.action_name.clone(),
                x.resource_arn.clone(),
                x.decision.clone(),
                x.message.clone(),
            ]
        })
        .collect();
    table(&["action", "resource", "decision", "message"], &rows)
}

pub(crate) fn principal(a: Principal, ctx: &Ctx) -> Done {
    let req = api::SimulatePrincipalPolicy {
        policy_source_arn: a.user,
        context_entries: a.requests.context_entries()?,
        action_names: a.requests.actions,
        resource_arns: a.requests.resources,
    };
    let api = ctx.api()?;
    let v = api.send_for_json(Method::Post, &["simulate", "principal"], body(&req)?)?;
    api.show(&v, results_table)
}

pub(crate) fn custom(a: Custom, ctx: &Ctx) -> Done {
    let files: Vec<&Path> = a
        .policies
        .iter()
        .chain(&a.boundaries)
        .chain(&a.resource_policy)
        .map(PathBuf::as_path)
        .collect();
    if files.iter().filter(|p| **p == Path::new("-")).count() > 1 {
        return Err(Failure::usage(
            "standard input (-) can be given for only one policy",
        ));
    }
    let docs = |paths: &[PathBuf]| {
        paths
            .iter()
            .map(|p| super::remote::document(p))
            .collect::<Result<Vec<_>, _>>()
    };
    let req = api::SimulateCustomPolicy {
        policy_input_list: docs(&a.policies)?,
        permissions_boundary_policy_input_list: docs(&a.boundaries)?,
        resource_policy: a
            .resource_policy
            .as_deref()
            .map(super::remote::document)
            .transpose()?,
        caller_arn: a.caller_arn,
        context_entries: a.requests.context_entries()?,
        action_names: a.requests.actions,
        resource_arns: a.requests.resources,
    };
    let api = ctx.api()?;
    let v = api.send_for_json(Method::Post, &["simulate", "custom"], body(&req)?)?;
    api.show(&v, results_table)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use serde_json::json;

    #[test]
    fn context_flags() {
        for (s, single, list) in [
            ("k=v", Some(json!("v")), Some(json!(["v"]))),
            ("k=", Some(json!("")), Some(json!([]))),
            ("k=a,b", Some(json!("a,b")), Some(json!(["a", "b"]))),
            ("k=a=b", Some(json!("a=b")), Some(json!(["a=b"]))),
            ("=v", None, None),
            (" =v", None, None),
            ("novalue", None, None),
        ] {
            assert_eq!(parse_single(s).ok().map(|e| e.value), single, "{s}");
            assert_eq!(parse_list(s).ok().map(|e| e.value), list, "{s}");
        }
    }

    #[test]
    fn duplicate_context_keys() {
        let reqs = |single: &[&str], lists: &[&str]| Requests {
            actions: vec!["iam:GetUser".into()],
            resources: Vec::new(),
            context: single.iter().map(|s| parse_single(s).unwrap()).collect(),
            context_lists: lists.iter().map(|s| parse_list(s).unwrap()).collect(),
        };
        let ok = reqs(&["a:x=1", "a:y=2"], &["a:z=3,4"])
            .context_entries()
            .unwrap();
        assert_eq!(
            serde_json::to_value(ok).unwrap(),
            json!({"a:x": "1", "a:y": "2", "a:z": ["3", "4"]})
        );
        for (single, lists) in [
            (&["a:x=1", "a:x=2"][..], &[][..]),
            (&["A:X=1"], &["a:x=2"]),
            (&["aws:SourceIp=1"], &["ward:sourceip=2"]),
        ] {
            let e = reqs(single, lists).context_entries().unwrap_err();
            assert_eq!(e.exit_code(), 2, "{single:?} {lists:?}");
        }
    }
}
