//! The offline simulator's contract (SPEC §4): one JSON input naming a
//! request and the policies that bear on it, one JSON output with the
//! decision and its explanation. `ward policy simulate` is a thin shell over
//! [`simulate`]; the caller supplies the clock.

use std::fmt;

use serde_json::{json, Value};

use crate::arn::MAX_ARN_CHARS;
use crate::context::{Context, ContextValue};
use crate::date::Instant;
use crate::eval::{explain, Explanation, Outcome, PolicyRole, PolicySet, Request};
use crate::json::{Json, JsonPath};
use crate::policy::{Policy, PolicyKind, Problem};
use crate::principal::Principal;

/// Largest simulator input accepted.
pub const MAX_INPUT_BYTES: usize = 4 * 1024 * 1024;

/// Invalid simulator input: every fault found, with JSON paths.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimulateError {
    /// The faults.
    pub problems: Vec<Problem>,
}

impl fmt::Display for SimulateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SimulateError {}

/// A simulation's result.
#[derive(Clone, Debug)]
pub struct Simulation {
    /// The request as evaluated (with derived context keys).
    pub request: Request,
    /// The decision and why.
    pub explanation: Explanation,
    /// Validation warnings from the policies, with input paths.
    pub warnings: Vec<Problem>,
}

fn problem(path: JsonPath, message: impl Into<String>) -> SimulateError {
    SimulateError {
        problems: vec![Problem {
            path,
            message: message.into(),
        }],
    }
}

/// Runs the simulator on `input`. `now`, when given, fills
/// `ward:CurrentTime` and `ward:EpochTime` unless the input sets them.
pub fn simulate(input: &[u8], now: Option<Instant>) -> Result<Simulation, SimulateError> {
    let root = JsonPath::root();
    if input.len() > MAX_INPUT_BYTES {
        return Err(problem(
            root,
            format!(
                "input is {} bytes; the limit is {MAX_INPUT_BYTES}",
                input.len()
            ),
        ));
    }
    let json =
        Json::parse(input).map_err(|e| problem(root.clone(), format!("malformed JSON: {e}")))?;
    let Json::Object(members) = &json else {
        return Err(problem(
            root,
            format!("input must be an object, not {}", json.type_name()),
        ));
    };
    const KEYS: &[&str] = &[
        "request",
        "identityPolicies",
        "resourcePolicy",
        "permissionsBoundaries",
        "sessionPolicy",
    ];
    let mut problems = Vec::new();
    for (k, _) in members {
        if !KEYS.contains(&k.as_str()) {
            problems.push(Problem {
                path: root.key(k),
                message: format!("unknown key {k:?} (allowed: {})", KEYS.join(", ")),
            });
        }
    }
    let get = |k: &str| members.iter().find(|(n, _)| n == k).map(|(_, v)| v);

    let request = match get("request") {
        Some(r) => parse_request(r, &root.key("request"), now, &mut problems),
        None => {
            problems.push(Problem {
                path: root.clone(),
                message: "request is required".into(),
            });
            None
        }
    };
    let resource_kind = match &request {
        Some(r) if r.action().to_lowercase().starts_with("sts:assumerole") => PolicyKind::Trust,
        _ => PolicyKind::Resource,
    };
    let mut warnings = Vec::new();
    let mut policies = |key: &str, kind: PolicyKind, problems: &mut Vec<Problem>| -> Vec<Policy> {
        let path = root.key(key);
        match get(key) {
            None | Some(Json::Null) => Vec::new(),
            Some(Json::Array(a)) => a
                .iter()
                .enumerate()
                .filter_map(|(i, d)| parse_policy(d, &path.index(i), kind, problems, &mut warnings))
                .collect(),
            Some(other) => {
                problems.push(Problem {
                    path,
                    message: format!(
                        "{key} must be an array of policies, not {}",
                        other.type_name()
                    ),
                });
                Vec::new()
            }
        }
    };
    // Identity policies may be any identity kind; the most generous limit applies.
    let identity = policies("identityPolicies", PolicyKind::InlineRole, &mut problems);
    let boundaries = policies("permissionsBoundaries", PolicyKind::Managed, &mut problems);
    let mut single = |key: &str, kind: PolicyKind, problems: &mut Vec<Problem>| -> Option<Policy> {
        match get(key) {
            None | Some(Json::Null) => None,
            Some(d) => parse_policy(d, &root.key(key), kind, problems, &mut warnings),
        }
    };
    let resource = single("resourcePolicy", resource_kind, &mut problems);
    let session = single("sessionPolicy", PolicyKind::Session, &mut problems);

    let Some(request) = request else {
        return Err(SimulateError { problems });
    };
    if !problems.is_empty() {
        return Err(SimulateError { problems });
    }
    let identity_refs: Vec<&Policy> = identity.iter().collect();
    let boundary_refs: Vec<&Policy> = boundaries.iter().collect();
    let set = PolicySet {
        identity: &identity_refs,
        resource: resource.as_ref(),
        boundaries: &boundary_refs,
        session: session.as_ref(),
    };
    let explanation = explain(&set, &request);
    Ok(Simulation {
        request,
        explanation,
        warnings,
    })
}

fn parse_policy(
    d: &Json,
    path: &JsonPath,
    kind: PolicyKind,
    problems: &mut Vec<Problem>,
    warnings: &mut Vec<Problem>,
) -> Option<Policy> {
    // A policy may be given inline or, as in AWS's APIs, as a JSON string.
    let parsed = match d {
        Json::String(s) => Policy::parse(s, kind),
        Json::Object(_) => Policy::from_json(d, kind),
        other => {
            problems.push(Problem {
                path: path.clone(),
                message: format!(
                    "a policy must be an object or a JSON string, not {}",
                    other.type_name()
                ),
            });
            return None;
        }
    };
    let rebase = |p: &Problem| Problem {
        path: JsonPath::join(path, &p.path),
        message: p.message.clone(),
    };
    match parsed {
        Ok(p) => {
            warnings.extend(p.warnings().iter().map(rebase));
            Some(p)
        }
        Err(e) => {
            problems.extend(e.problems.iter().map(rebase));
            None
        }
    }
}

impl JsonPath {
    /// `base` followed by `inner` (a path from a nested document's root).
    fn join(base: &JsonPath, inner: &JsonPath) -> JsonPath {
        let rest = inner.as_str().strip_prefix('$').unwrap_or(inner.as_str());
        JsonPath::from_string(format!("{base}{rest}"))
    }
}

fn parse_request(
    r: &Json,
    path: &JsonPath,
    now: Option<Instant>,
    problems: &mut Vec<Problem>,
) -> Option<Request> {
    let Json::Object(members) = r else {
        problems.push(Problem {
            path: path.clone(),
            message: format!("request must be an object, not {}", r.type_name()),
        });
        return None;
    };
    const KEYS: &[&str] = &["action", "resource", "principal", "context"];
    let before = problems.len();
    for (k, _) in members {
        if !KEYS.contains(&k.as_str()) {
            problems.push(Problem {
                path: path.key(k),
                message: format!("unknown key {k:?} (allowed: {})", KEYS.join(", ")),
            });
        }
    }
    let get = |k: &str| members.iter().find(|(n, _)| n == k).map(|(_, v)| v);
    let string = |k: &str, problems: &mut Vec<Problem>| -> Option<String> {
        match get(k) {
            Some(Json::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(Json::String(_)) => {
                problems.push(Problem {
                    path: path.key(k),
                    message: format!("{k} must not be empty"),
                });
                None
            }
            Some(other) => {
                problems.push(Problem {
                    path: path.key(k),
                    message: format!("{k} must be a string, not {}", other.type_name()),
                });
                None
            }
            None => {
                problems.push(Problem {
                    path: path.clone(),
                    message: format!("request.{k} is required"),
                });
                None
            }
        }
    };
    let action = string("action", problems);
    let resource = string("resource", problems).filter(|r| {
        let n = r.chars().count();
        if n > MAX_ARN_CHARS {
            problems.push(Problem {
                path: path.key("resource"),
                message: format!("resource is {n} characters; the limit is {MAX_ARN_CHARS}"),
            });
        }
        n <= MAX_ARN_CHARS
    });
    let principal = string("principal", problems).and_then(|p| match Principal::from_arn(&p) {
        Ok(p) => Some(p),
        Err(e) => {
            problems.push(Problem {
                path: path.key("principal"),
                message: e.0,
            });
            None
        }
    });
    if let Some(a) = &action {
        if a != "*" && a.split(':').count() != 2 {
            problems.push(Problem {
                path: path.key("action"),
                message: format!("action {a:?} must look like service:Action"),
            });
        }
    }
    let mut context = Context::new();
    match get("context") {
        None | Some(Json::Null) => {}
        Some(Json::Object(keys)) => {
            let cpath = path.key("context");
            let mut seen: Vec<String> = Vec::new();
            for (k, v) in keys {
                let kpath = cpath.key(k);
                let norm = crate::context::normalise_key(k);
                if k.trim().is_empty() {
                    problems.push(Problem {
                        path: kpath,
                        message: "context keys must not be empty".into(),
                    });
                    continue;
                }
                if seen.contains(&norm) {
                    problems.push(Problem { path: kpath, message: format!("context key {k:?} is given twice (keys are case-insensitive and aws: is ward:)") });
                    continue;
                }
                seen.push(norm);
                let value = match v {
                    Json::String(s) => ContextValue::Single(s.clone()),
                    Json::Array(a) => {
                        let mut out = Vec::new();
                        for (i, e) in a.iter().enumerate() {
                            match e {
                                Json::String(s) => out.push(s.clone()),
                                other => problems.push(Problem {
                                    path: kpath.index(i),
                                    message: format!(
                                        "context values must be strings, not {}",
                                        other.type_name()
                                    ),
                                }),
                            }
                        }
                        ContextValue::Multi(out)
                    }
                    other => {
                        problems.push(Problem {
                            path: kpath,
                            message: format!(
                                "context values must be strings or arrays of strings, not {}",
                                other.type_name()
                            ),
                        });
                        continue;
                    }
                };
                context.insert(k, value);
            }
        }
        Some(other) => problems.push(Problem {
            path: path.key("context"),
            message: format!("context must be an object, not {}", other.type_name()),
        }),
    }
    if let Some(now) = now {
        if !context.contains("ward:CurrentTime") {
            context.insert("ward:CurrentTime", ContextValue::Single(now.to_rfc3339()));
        }
        if !context.contains("ward:EpochTime") {
            context.insert(
                "ward:EpochTime",
                ContextValue::Single(now.epoch_seconds().to_string()),
            );
        }
    }
    if problems.len() != before {
        return None;
    }
    Some(Request::new(principal?, &action?, &resource?, context))
}

fn outcome_text(o: &Outcome) -> String {
    match o {
        Outcome::Applied => "applied".into(),
        Outcome::ActionNotMatched => "action does not match".into(),
        Outcome::ResourceNotMatched => "resource does not match".into(),
        Outcome::PrincipalNotMatched => "principal does not match".into(),
        Outcome::VariableUnresolved => "a policy variable in Resource has no value".into(),
        Outcome::ConditionFailed { operator, key } => {
            format!("condition {operator} on {key} is false")
        }
    }
}

fn policy_name(role: PolicyRole, index: usize) -> String {
    match role {
        PolicyRole::Identity | PolicyRole::Boundary => format!("{}[{index}]", role.field()),
        PolicyRole::Resource | PolicyRole::Session => role.field().to_owned(),
    }
}

impl Simulation {
    /// The SPEC §4 output: `{"decision": …, "explanation": …}`.
    pub fn to_json(&self) -> Value {
        let e = &self.explanation;
        let matched: Vec<Value> = e
            .matched()
            .map(|s| {
                json!({
                    "policy": policy_name(s.role, s.policy),
                    "statement": s.statement,
                    "sid": s.sid,
                    "effect": s.effect.as_str(),
                })
            })
            .collect();
        json!({
            "decision": e.decision.as_str(),
            "explanation": {
                "reason": format!("{:?}", e.reason),
                "message": e.message,
                "matchedStatements": matched,
                "statementsEvaluated": e.statements.len(),
                "warnings": self.warnings.iter().map(|w| w.to_string()).collect::<Vec<_>>(),
            }
        })
    }

    /// A human-readable account: the decision, then every statement.
    pub fn to_text(&self) -> String {
        let e = &self.explanation;
        let mut out = format!("{}\n{}\n", e.decision.as_str(), e.message);
        out.push_str(&format!(
            "request: {} on {} by {}\n",
            self.request.action(),
            self.request.resource(),
            self.request.principal().arn()
        ));
        for s in &e.statements {
            let sid = s
                .sid
                .as_deref()
                .filter(|s| !s.is_empty())
                .map(|s| format!(" ({s})"))
                .unwrap_or_default();
            out.push_str(&format!(
                "  {} statement #{}{sid} [{}]: {}\n",
                policy_name(s.role, s.policy),
                s.statement,
                s.effect.as_str(),
                outcome_text(&s.outcome)
            ));
        }
        for w in &self.warnings {
            out.push_str(&format!("warning: {w}\n"));
        }
        out
    }
}
