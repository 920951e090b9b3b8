//! Policy documents: strict parsing and validation into a compiled form.
//!
//! [`Policy::parse`] checks a document against the whole AWS grammar and the
//! rules of its [`PolicyKind`], and compiles every matcher once (actions
//! lower-cased, ARN patterns split into segments, condition values parsed),
//! so that evaluation does no parsing. Every fault is reported with the JSON
//! path where it sits; all faults are reported, not just the first.

use std::fmt;

use crate::arn::{validate_resource, ArnPattern};
use crate::condition::{Condition, Operator};
use crate::context::fnv1a;
use crate::json::{Json, JsonPath};
use crate::pattern::{Pattern, Syntax};
use crate::principal::{Namespace, PrincipalSpec};

/// Hard cap on the raw size of any policy document, whitespace included,
/// checked before the JSON is parsed.
pub const MAX_RAW_BYTES: usize = 128 * 1024;

/// Most faults reported for one document; the rest are summarised.
const MAX_PROBLEMS: usize = 50;

/// What a policy document is for; decides the version rule, whether
/// `Principal` is allowed and `Resource` required, and the size limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PolicyKind {
    /// A managed policy (also used as a permissions boundary): 6,144 chars.
    Managed,
    /// A user's inline policy: 2,048 chars for all of a user's inline policies.
    InlineUser,
    /// A group's inline policy: 5,120 chars in all.
    InlineGroup,
    /// A role's inline policy: 10,240 chars in all.
    InlineRole,
    /// A session policy passed when assuming a role: 2,048 chars.
    Session,
    /// A resource-based policy: names principals; 20,480 chars.
    Resource,
    /// A role's trust policy: names principals, needs no `Resource`; 2,048 chars.
    Trust,
}

impl PolicyKind {
    /// The size limit in characters, not counting whitespace (SPEC §3).
    pub fn max_chars(self) -> usize {
        match self {
            PolicyKind::Managed => 6_144,
            PolicyKind::InlineUser | PolicyKind::Session | PolicyKind::Trust => 2_048,
            PolicyKind::InlineGroup => 5_120,
            PolicyKind::InlineRole => 10_240,
            PolicyKind::Resource => 20_480,
        }
    }

    /// Identity-side policies (everything but resource and trust policies):
    /// they may not name a principal and must say Version 2012-10-17.
    pub fn is_identity(self) -> bool {
        !matches!(self, PolicyKind::Resource | PolicyKind::Trust)
    }

    /// The kind's name as used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            PolicyKind::Managed => "managed",
            PolicyKind::InlineUser => "inline-user",
            PolicyKind::InlineGroup => "inline-group",
            PolicyKind::InlineRole => "inline-role",
            PolicyKind::Session => "session",
            PolicyKind::Resource => "resource",
            PolicyKind::Trust => "trust",
        }
    }

    /// Parses a kind name (`managed`, `inline-user`, …, `boundary` = managed).
    pub fn from_name(s: &str) -> Option<PolicyKind> {
        Some(match s {
            "managed" | "identity" | "boundary" => PolicyKind::Managed,
            "inline-user" => PolicyKind::InlineUser,
            "inline-group" => PolicyKind::InlineGroup,
            "inline-role" => PolicyKind::InlineRole,
            "session" => PolicyKind::Session,
            "resource" => PolicyKind::Resource,
            "trust" => PolicyKind::Trust,
            _ => return None,
        })
    }
}

/// One fault (or warning) in a document, with where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Where in the document, e.g. `$.Statement[1].Action[0]`.
    pub path: JsonPath,
    /// What is wrong, naming the offending value.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// A document that is not a valid policy; lists every fault found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyError {
    /// The faults, in document order.
    pub problems: Vec<Problem>,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for p in &self.problems {
            if !first {
                f.write_str("; ")?;
            }
            first = false;
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PolicyError {}

/// `Version` of a document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// `2012-10-17`: policy variables are substituted.
    V2012_10_17,
    /// `2008-10-17` (or absent, in resource and trust policies): `${…}` is literal.
    V2008_10_17,
}

/// `Effect` of a statement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Grants.
    Allow,
    /// Denies, overriding any Allow.
    Deny,
}

impl Effect {
    /// `"Allow"` or `"Deny"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "Allow",
            Effect::Deny => "Deny",
        }
    }
}

/// A compiled action pattern: lower-cased, with the common shapes special-cased.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum ActionMatcher {
    Any,
    /// The lower-cased name and its [`fnv1a`] hash.
    Exact(u64, Box<str>),
    Prefix(Box<str>),
    Glob(Pattern),
}

impl ActionMatcher {
    fn compile(raw: &str) -> Result<ActionMatcher, String> {
        let lc = raw.to_lowercase();
        if lc == "*" {
            return Ok(ActionMatcher::Any);
        }
        let p = Pattern::compile(
            &lc,
            Syntax {
                wildcards: true,
                variables: false,
            },
        )?;
        if let Some(lit) = p.as_literal() {
            return Ok(ActionMatcher::Exact(fnv1a(lit), lit.into()));
        }
        if let Some(prefix) = lc.strip_suffix('*') {
            if !prefix.contains(['*', '?']) {
                return Ok(ActionMatcher::Prefix(prefix.into()));
            }
        }
        Ok(ActionMatcher::Glob(p))
    }

    /// Matches a lower-cased action name whose [`fnv1a`] hash is `hash`.
    #[inline]
    pub(crate) fn matches(&self, action_lc: &str, hash: u64, ctx: &crate::Context) -> bool {
        match self {
            ActionMatcher::Any => true,
            ActionMatcher::Exact(h, e) => *h == hash && **e == *action_lc,
            ActionMatcher::Prefix(p) => action_lc.starts_with(&**p),
            ActionMatcher::Glob(g) => g.matches(action_lc, ctx).unwrap_or(false),
        }
    }
}

/// `Action` or `NotAction`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Actions {
    pub not: bool,
    pub raw: Vec<String>,
    pub matchers: Vec<ActionMatcher>,
}

/// `Resource` or `NotResource`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Resources {
    pub not: bool,
    pub raw: Vec<String>,
    pub patterns: Vec<ArnPattern>,
}

/// `Principal` or `NotPrincipal`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Principals {
    pub not: bool,
    pub spec: PrincipalSpec,
}

/// One compiled statement.
#[derive(Clone, Debug, PartialEq)]
pub struct Statement {
    pub(crate) sid: Option<String>,
    pub(crate) effect: Effect,
    pub(crate) principal: Option<Principals>,
    pub(crate) actions: Actions,
    pub(crate) resources: Option<Resources>,
    pub(crate) conditions: Vec<Condition>,
}

impl Statement {
    /// The statement's `Sid`, if any.
    pub fn sid(&self) -> Option<&str> {
        self.sid.as_deref()
    }

    /// The statement's effect.
    pub fn effect(&self) -> Effect {
        self.effect
    }

    /// Whether the statement's `Action` (or `NotAction`) admits `action`
    /// (any case): only then can it take part in deciding a request for
    /// it, whatever the principal, resource and context.
    pub fn may_apply_to(&self, action: &str) -> bool {
        let lc = action.to_lowercase();
        let hash = fnv1a(&lc);
        // Action patterns take no policy variables: the context is unused.
        let ctx = crate::Context::new();
        let hit = self
            .actions
            .matchers
            .iter()
            .any(|m| m.matches(&lc, hash, &ctx));
        hit != self.actions.not
    }

    /// Whether the statement can look at a context key for which `is_key`
    /// is true: a condition on it, or a policy variable `${KEY}` (default
    /// or not) in a condition value or a resource. `is_key` gets each key
    /// normalised: lower case, `aws:` spelt `ward:`. Variables are read
    /// from the document's text, so a `${…}` that a 2008-10-17 document
    /// takes literally also counts (the answer errs towards `true`).
    pub fn may_consult(&self, is_key: impl Fn(&str) -> bool) -> bool {
        let in_text = |t: &str| variables_in(t).any(|k| is_key(&k));
        self.conditions.iter().any(|c| {
            is_key(&crate::context::normalise_key(&c.key_name))
                || json_strings(&c.raw_values, &in_text)
        }) || self
            .resources
            .as_ref()
            .is_some_and(|r| r.raw.iter().any(|t| in_text(t)))
    }
}

/// The keys named by `${…}` in `text`, normalised (the default after a
/// comma dropped); an unclosed `${` ends the scan.
fn variables_in(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split("${").skip(1).map_while(|rest| {
        let inner = &rest[..rest.find('}')?];
        let name = inner.split(',').next().unwrap_or(inner);
        Some(crate::context::normalise_key(name))
    })
}

/// Whether `f` holds for some string in `v`, at any depth.
fn json_strings(v: &Json, f: &impl Fn(&str) -> bool) -> bool {
    match v {
        Json::String(s) => f(s),
        Json::Array(a) => a.iter().any(|x| json_strings(x, f)),
        Json::Object(o) => o.iter().any(|(k, x)| f(k) || json_strings(x, f)),
        Json::Null | Json::Bool(_) | Json::Number(_) => false,
    }
}

/// A validated, compiled policy document. Two policies are equal when they
/// mean the same document (warnings are not compared).
#[derive(Clone, Debug)]
pub struct Policy {
    kind: PolicyKind,
    version: Option<Version>,
    id: Option<String>,
    statements: Vec<Statement>,
    single_statement: bool,
    warnings: Vec<Problem>,
}

impl PartialEq for Policy {
    fn eq(&self, other: &Policy) -> bool {
        self.kind == other.kind
            && self.version == other.version
            && self.id == other.id
            && self.statements == other.statements
            && self.single_statement == other.single_statement
    }
}

impl Policy {
    /// Parses and validates a document of the given kind.
    pub fn parse(text: &str, kind: PolicyKind) -> Result<Policy, PolicyError> {
        Policy::parse_bytes(text.as_bytes(), kind)
    }

    /// Parses raw bytes (which must be UTF-8 JSON).
    pub fn parse_bytes(bytes: &[u8], kind: PolicyKind) -> Result<Policy, PolicyError> {
        let root = JsonPath::root();
        let one = |message: String| PolicyError {
            problems: vec![Problem {
                path: root.clone(),
                message,
            }],
        };
        if bytes.len() > MAX_RAW_BYTES {
            return Err(one(format!(
                "policy document is {} bytes; documents over {MAX_RAW_BYTES} bytes are refused",
                bytes.len()
            )));
        }
        let chars = count_non_whitespace(bytes);
        if chars > kind.max_chars() {
            return Err(one(format!(
                "policy document is {chars} characters without whitespace; the limit for a {} policy is {}",
                kind.name(),
                kind.max_chars()
            )));
        }
        let json = Json::parse(bytes).map_err(|e| one(format!("malformed JSON: {e}")))?;
        Policy::from_json(&json, kind)
    }

    /// Validates a parsed JSON document.
    pub(crate) fn from_json(json: &Json, kind: PolicyKind) -> Result<Policy, PolicyError> {
        let mut cx = Checker {
            problems: Vec::new(),
            warnings: Vec::new(),
        };
        let policy = cx.policy(json, kind);
        match policy {
            Some(p) if cx.problems.is_empty() => Ok(Policy {
                warnings: cx.warnings,
                ..p
            }),
            _ => {
                if cx.problems.is_empty() {
                    cx.problems.push(Problem {
                        path: JsonPath::root(),
                        message: "invalid policy".into(),
                    });
                }
                if cx.problems.len() > MAX_PROBLEMS {
                    let more = cx.problems.len() - MAX_PROBLEMS;
                    cx.problems.truncate(MAX_PROBLEMS);
                    cx.problems.push(Problem {
                        path: JsonPath::root(),
                        message: format!("… and {more} more problems"),
                    });
                }
                Err(PolicyError {
                    problems: cx.problems,
                })
            }
        }
    }

    /// The kind the document was validated as.
    pub fn kind(&self) -> PolicyKind {
        self.kind
    }

    /// The document's effective version (absent means 2008-10-17).
    pub fn version(&self) -> Version {
        self.version.unwrap_or(Version::V2008_10_17)
    }

    /// The statements.
    pub fn statements(&self) -> &[Statement] {
        &self.statements
    }

    /// An upper bound, in character steps, on the work of deciding one
    /// request against this policy when every string of the request
    /// (action, resource, context value) is at most `text_len` characters.
    /// Matching is linear per pattern, so each pattern costs at most its
    /// own length plus the text's. Callers that evaluate untrusted policies
    /// in bulk (the API simulator) budget with it before doing the work.
    pub fn evaluation_cost(&self, text_len: usize) -> u64 {
        let text = text_len as u64;
        let each = |s: &str| pattern_cost(s, text);
        let mut total: u64 = 0;
        for st in &self.statements {
            let mut c: u64 = 1;
            c = st
                .actions
                .raw
                .iter()
                .map(|a| each(a))
                .fold(c, u64::saturating_add);
            if let Some(r) = &st.resources {
                c = r.raw.iter().map(|x| each(x)).fold(c, u64::saturating_add);
            }
            for cond in &st.conditions {
                c = c.saturating_add(json_cost(&cond.raw_values, text));
            }
            total = total.saturating_add(c);
        }
        total
    }

    /// Non-fatal findings (e.g. an action ward does not have).
    pub fn warnings(&self) -> &[Problem] {
        &self.warnings
    }

    /// The document as JSON, normalised (element order fixed, one string
    /// for one-element lists). Parsing the output yields an equal policy.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::{json, Map, Value};
        let list = |v: &[String]| -> Value {
            match v {
                [one] => Value::String(one.clone()),
                many => Value::Array(many.iter().cloned().map(Value::String).collect()),
            }
        };
        let mut doc = Map::new();
        if let Some(v) = self.version {
            let s = match v {
                Version::V2012_10_17 => "2012-10-17",
                Version::V2008_10_17 => "2008-10-17",
            };
            doc.insert("Version".into(), json!(s));
        }
        if let Some(id) = &self.id {
            doc.insert("Id".into(), json!(id));
        }
        let stmts: Vec<Value> = self
            .statements
            .iter()
            .map(|s| {
                let mut m = Map::new();
                if let Some(sid) = &s.sid {
                    m.insert("Sid".into(), json!(sid));
                }
                m.insert("Effect".into(), json!(s.effect.as_str()));
                if let Some(p) = &s.principal {
                    let key = if p.not { "NotPrincipal" } else { "Principal" };
                    let v = match &p.spec.raw {
                        None => json!("*"),
                        Some(raw) => Value::Object(
                            raw.iter()
                                .map(|(ns, vals)| (ns.as_str().to_owned(), list(vals)))
                                .collect(),
                        ),
                    };
                    m.insert(key.into(), v);
                }
                let key = if s.actions.not { "NotAction" } else { "Action" };
                m.insert(key.into(), list(&s.actions.raw));
                if let Some(r) = &s.resources {
                    let key = if r.not { "NotResource" } else { "Resource" };
                    m.insert(key.into(), list(&r.raw));
                }
                if !s.conditions.is_empty() {
                    let mut cond = Map::new();
                    for c in &s.conditions {
                        let entry = cond
                            .entry(c.op_name.clone())
                            .or_insert_with(|| Value::Object(Map::new()));
                        if let Value::Object(keys) = entry {
                            keys.insert(c.key_name.clone(), c.raw_values.to_value());
                        }
                    }
                    m.insert("Condition".into(), Value::Object(cond));
                }
                Value::Object(m)
            })
            .collect();
        let stmt = match (self.single_statement, stmts.len()) {
            (true, 1) => stmts.into_iter().next().unwrap_or(Value::Null),
            _ => Value::Array(stmts),
        };
        doc.insert("Statement".into(), stmt);
        Value::Object(doc)
    }
}

/// Characters that are not JSON whitespace (UTF-8 continuation bytes are
/// not counted, so this counts characters, not bytes).
fn count_non_whitespace(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .filter(|&&b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r') && (b & 0xC0) != 0x80)
        .count()
}

struct Checker {
    problems: Vec<Problem>,
    warnings: Vec<Problem>,
}

impl Checker {
    fn err(&mut self, path: &JsonPath, message: impl Into<String>) {
        self.problems.push(Problem {
            path: path.clone(),
            message: message.into(),
        });
    }

    fn warn(&mut self, path: &JsonPath, message: impl Into<String>) {
        self.warnings.push(Problem {
            path: path.clone(),
            message: message.into(),
        });
    }

    fn object<'a>(
        &mut self,
        v: &'a Json,
        path: &JsonPath,
        what: &str,
        allowed: &[&str],
    ) -> Option<&'a [(String, Json)]> {
        let Json::Object(members) = v else {
            self.err(
                path,
                format!("{what} must be an object, not {}", v.type_name()),
            );
            return None;
        };
        for (k, _) in members {
            if !allowed.contains(&k.as_str()) {
                self.err(
                    &path.key(k),
                    format!(
                        "unknown key {k:?} in {what} (allowed: {})",
                        allowed.join(", ")
                    ),
                );
            }
        }
        Some(members)
    }

    fn policy(&mut self, json: &Json, kind: PolicyKind) -> Option<Policy> {
        let root = JsonPath::root();
        let members = self.object(
            json,
            &root,
            "a policy document",
            &["Version", "Id", "Statement"],
        )?;
        let get = |k: &str| members.iter().find(|(n, _)| n == k).map(|(_, v)| v);

        let version = match get("Version") {
            None if kind.is_identity() => {
                self.err(
                    &root,
                    "Version is required and must be \"2012-10-17\" for identity policies",
                );
                None
            }
            None => None,
            Some(Json::String(s)) if s == "2012-10-17" => Some(Version::V2012_10_17),
            Some(Json::String(s)) if s == "2008-10-17" && !kind.is_identity() => {
                Some(Version::V2008_10_17)
            }
            Some(Json::String(s)) if s == "2008-10-17" => {
                self.err(
                    &root.key("Version"),
                    "identity policies must be Version \"2012-10-17\"",
                );
                None
            }
            Some(other) => {
                self.err(
                    &root.key("Version"),
                    format!(
                        "Version must be \"2012-10-17\" or \"2008-10-17\", not {}",
                        show(other)
                    ),
                );
                None
            }
        };
        let variables = version == Some(Version::V2012_10_17);

        let id = match get("Id") {
            None => None,
            Some(Json::String(s)) => Some(s.clone()),
            Some(other) => {
                self.err(
                    &root.key("Id"),
                    format!("Id must be a string, not {}", other.type_name()),
                );
                None
            }
        };

        let spath = root.key("Statement");
        let (single, raw_statements): (bool, Vec<(JsonPath, &Json)>) = match get("Statement") {
            None => {
                self.err(&root, "Statement is required");
                return None;
            }
            Some(s @ Json::Object(_)) => (true, vec![(spath.clone(), s)]),
            Some(Json::Array(a)) if a.is_empty() => {
                self.err(&spath, "Statement must not be empty");
                return None;
            }
            Some(Json::Array(a)) => (
                false,
                a.iter()
                    .enumerate()
                    .map(|(i, s)| (spath.index(i), s))
                    .collect(),
            ),
            Some(other) => {
                self.err(
                    &spath,
                    format!(
                        "Statement must be an object or an array of objects, not {}",
                        other.type_name()
                    ),
                );
                return None;
            }
        };

        let mut statements = Vec::new();
        let mut sids: Vec<&str> = Vec::new();
        for (path, raw) in &raw_statements {
            if let Some(Json::String(sid)) = match raw {
                Json::Object(m) => m.iter().find(|(k, _)| k == "Sid").map(|(_, v)| v),
                _ => None,
            } {
                if !sid.is_empty() {
                    if sids.contains(&sid.as_str()) {
                        self.err(
                            &path.key("Sid"),
                            format!(
                                "duplicate Sid {sid:?}: statement ids must be unique in a policy"
                            ),
                        );
                    }
                    sids.push(sid);
                }
            }
            if let Some(s) = self.statement(raw, path, kind, variables) {
                statements.push(s);
            }
        }
        if !self.problems.is_empty() {
            return None;
        }
        Some(Policy {
            kind,
            version,
            id,
            statements,
            single_statement: single,
            warnings: Vec::new(),
        })
    }

    fn statement(
        &mut self,
        raw: &Json,
        path: &JsonPath,
        kind: PolicyKind,
        variables: bool,
    ) -> Option<Statement> {
        const KEYS: &[&str] = &[
            "Sid",
            "Effect",
            "Principal",
            "NotPrincipal",
            "Action",
            "NotAction",
            "Resource",
            "NotResource",
            "Condition",
        ];
        let members = self.object(raw, path, "a statement", KEYS)?;
        let get = |k: &str| members.iter().find(|(n, _)| n == k).map(|(_, v)| v);
        let before = self.problems.len();

        let sid = match get("Sid") {
            None => None,
            Some(Json::String(s)) => Some(s.clone()),
            Some(other) => {
                self.err(
                    &path.key("Sid"),
                    format!("Sid must be a string, not {}", other.type_name()),
                );
                None
            }
        };

        let effect = match get("Effect") {
            Some(Json::String(s)) if s == "Allow" => Some(Effect::Allow),
            Some(Json::String(s)) if s == "Deny" => Some(Effect::Deny),
            Some(other) => {
                self.err(
                    &path.key("Effect"),
                    format!(
                        "Effect must be \"Allow\" or \"Deny\" (case-sensitive), not {}",
                        show(other)
                    ),
                );
                None
            }
            None => {
                self.err(path, "statement must have an Effect");
                None
            }
        };

        let principal = self.principal(get("Principal"), get("NotPrincipal"), path, kind);
        let actions = self.actions(get("Action"), get("NotAction"), path);
        let resources = self.resources(get("Resource"), get("NotResource"), path, kind, variables);
        let conditions = match get("Condition") {
            None => Some(Vec::new()),
            Some(c) => self.conditions(c, &path.key("Condition"), variables),
        };

        if self.problems.len() != before {
            return None;
        }
        if let (Some(a), Some(conds)) = (&actions, &conditions) {
            if !a.not {
                self.unsupplied_keys(&a.raw, conds, &path.key("Condition"));
            }
        }
        Some(Statement {
            sid,
            effect: effect?,
            principal: principal?,
            actions: actions?,
            resources: resources?,
            conditions: conditions?,
        })
    }

    /// Warns about each condition key that none of the statement's actions
    /// ever supplies: such a condition tests a missing key on every request
    /// (false for most operators), so a guard-rail built on it silently
    /// never applies.
    fn unsupplied_keys(&mut self, actions: &[String], conds: &[Condition], path: &JsonPath) {
        let mut warned: Vec<String> = Vec::new();
        for c in conds {
            let norm = c.key_name.to_ascii_lowercase();
            if warned.contains(&norm) || !crate::actions::unsupplied_key(actions, &c.key_name) {
                continue;
            }
            warned.push(norm);
            self.warn(
                &path.key(&c.op_name).key(&c.key_name),
                format!(
                    "condition key {:?} is never supplied by {}; the condition always sees it missing (false for most operators, so a Deny that depends on it never applies)",
                    c.key_name,
                    actions.join(", ")
                ),
            );
        }
    }

    fn principal(
        &mut self,
        p: Option<&Json>,
        np: Option<&Json>,
        path: &JsonPath,
        kind: PolicyKind,
    ) -> Option<Option<Principals>> {
        let (not, value, key) = match (p, np) {
            (Some(_), Some(_)) => {
                self.err(
                    path,
                    "a statement cannot have both Principal and NotPrincipal",
                );
                return None;
            }
            (Some(v), None) => (false, v, "Principal"),
            (None, Some(v)) => (true, v, "NotPrincipal"),
            (None, None) => {
                if !kind.is_identity() {
                    self.warn(path, "statement names no Principal: in a resource or trust policy it never applies");
                }
                return Some(None);
            }
        };
        let ppath = path.key(key);
        if kind.is_identity() {
            self.err(&ppath, format!("{key} is not allowed in an identity policy: identity policies apply to the principal they are attached to"));
            return None;
        }
        let spec = match value {
            Json::String(s) if s == "*" => PrincipalSpec::anyone(),
            Json::Object(members) if !members.is_empty() => {
                let mut raw = Vec::new();
                for (k, v) in members {
                    let kpath = ppath.key(k);
                    let Some(ns) = Namespace::parse(k) else {
                        self.err(&kpath, format!("unknown principal type {k:?} (allowed: Ward, AWS, Service, Federated, CanonicalUser)"));
                        continue;
                    };
                    if let Some(values) = self.string_list(v, &kpath, "principal", false) {
                        raw.push((ns, values));
                    }
                }
                match PrincipalSpec::compile(raw) {
                    Ok(spec) => spec,
                    Err(e) => {
                        self.err(&ppath, e);
                        return None;
                    }
                }
            }
            other => {
                self.err(
                    &ppath,
                    format!(
                        "{key} must be \"*\" or an object like {{\"Ward\": \"arn:…\"}}, not {}",
                        show(other)
                    ),
                );
                return None;
            }
        };
        Some(Some(Principals { not, spec }))
    }

    /// A string or a non-empty array of strings. `skip_nulls` drops `null`
    /// entries (AWS accepts them in Resource lists).
    fn string_list(
        &mut self,
        v: &Json,
        path: &JsonPath,
        what: &str,
        skip_nulls: bool,
    ) -> Option<Vec<String>> {
        match v {
            Json::String(s) => Some(vec![s.clone()]),
            Json::Array(a) => {
                let mut out = Vec::new();
                let mut ok = true;
                for (i, e) in a.iter().enumerate() {
                    match e {
                        Json::String(s) => out.push(s.clone()),
                        Json::Null if skip_nulls => {}
                        other => {
                            self.err(
                                &path.index(i),
                                format!("{what} must be a string, not {}", other.type_name()),
                            );
                            ok = false;
                        }
                    }
                }
                ok.then_some(out)
            }
            other => {
                self.err(
                    path,
                    format!(
                        "{what} must be a string or an array of strings, not {}",
                        other.type_name()
                    ),
                );
                None
            }
        }
    }

    fn actions(&mut self, a: Option<&Json>, na: Option<&Json>, path: &JsonPath) -> Option<Actions> {
        let (not, value, key) = match (a, na) {
            (Some(_), Some(_)) => {
                self.err(path, "a statement cannot have both Action and NotAction");
                return None;
            }
            (Some(v), None) => (false, v, "Action"),
            (None, Some(v)) => (true, v, "NotAction"),
            (None, None) => {
                self.err(path, "statement must contain Action or NotAction");
                return None;
            }
        };
        let apath = path.key(key);
        let raw = self.string_list(value, &apath, "action", false)?;
        if raw.is_empty() {
            self.err(
                &apath,
                format!("{key} must not be empty: a statement must contain actions"),
            );
            return None;
        }
        let mut matchers = Vec::new();
        for (i, action) in raw.iter().enumerate() {
            let ipath = if matches!(value, Json::Array(_)) {
                apath.index(i)
            } else {
                apath.clone()
            };
            if let Err(e) = check_action(action) {
                self.err(&ipath, e);
                continue;
            }
            if let Some((service, name)) = action.split_once(':') {
                if crate::actions::is_ward_service(service)
                    && !name.contains(['*', '?'])
                    && !crate::actions::is_known(service, name)
                {
                    self.warn(
                        &ipath,
                        format!(
                            "{action:?} is not a ward action; this entry never matches a request"
                        ),
                    );
                }
            }
            match ActionMatcher::compile(action) {
                Ok(m) => matchers.push(m),
                Err(e) => self.err(&ipath, e),
            }
        }
        (matchers.len() == raw.len()).then_some(Actions { not, raw, matchers })
    }

    fn resources(
        &mut self,
        r: Option<&Json>,
        nr: Option<&Json>,
        path: &JsonPath,
        kind: PolicyKind,
        variables: bool,
    ) -> Option<Option<Resources>> {
        let (not, value, key) = match (r, nr) {
            (Some(_), Some(_)) => {
                self.err(
                    path,
                    "a statement cannot have both Resource and NotResource",
                );
                return None;
            }
            (Some(v), None) => (false, v, "Resource"),
            (None, Some(v)) => (true, v, "NotResource"),
            (None, None) if kind == PolicyKind::Trust => return Some(None),
            (None, None) => {
                self.err(path, "statement must contain Resource or NotResource");
                return None;
            }
        };
        let rpath = path.key(key);
        let raw = self.string_list(value, &rpath, "resource", true)?;
        if raw.is_empty() {
            self.err(
                &rpath,
                format!("{key} must not be empty: a statement must contain resources"),
            );
            return None;
        }
        let mut patterns = Vec::new();
        for (i, res) in raw.iter().enumerate() {
            let ipath = if matches!(value, Json::Array(_)) {
                rpath.index(i)
            } else {
                rpath.clone()
            };
            match validate_resource(res, variables)
                .and_then(|()| ArnPattern::compile(res, variables))
            {
                Ok(p) => patterns.push(p),
                Err(e) => self.err(&ipath, e),
            }
        }
        (patterns.len() == raw.len()).then_some(Some(Resources { not, raw, patterns }))
    }

    fn conditions(&mut self, c: &Json, path: &JsonPath, variables: bool) -> Option<Vec<Condition>> {
        let Json::Object(ops) = c else {
            self.err(
                path,
                format!(
                    "Condition must be an object of operators, not {}",
                    c.type_name()
                ),
            );
            return None;
        };
        let mut out = Vec::new();
        let before = self.problems.len();
        for (op_name, keys) in ops {
            let opath = path.key(op_name);
            let Json::Object(keys) = keys else {
                self.err(
                    &opath,
                    format!(
                        "condition operator {op_name:?} must map to an object of keys, not {}",
                        keys.type_name()
                    ),
                );
                continue;
            };
            let op = match Operator::parse(op_name) {
                Ok(op) => op,
                Err(e) if keys.is_empty() => {
                    // AWS accepts an unknown operator with no keys (moto's
                    // corpus has it); it tests nothing, so warn.
                    self.warn(&opath, format!("{e}; it has no keys and is ignored"));
                    continue;
                }
                Err(e) => {
                    self.err(&opath, e);
                    continue;
                }
            };
            for (key, values) in keys {
                match Condition::compile(op_name, op, key, values, variables) {
                    Ok(c) => out.push(c),
                    Err(e) => self.err(&opath.key(key), e),
                }
            }
        }
        (self.problems.len() == before).then_some(out)
    }
}

/// [`Policy::evaluation_cost`] of one pattern against `text` characters:
/// its length plus one pass over the text, or, with `?`, one pass per 64
/// pattern characters (the bit-parallel automaton's words).
fn pattern_cost(s: &str, text: u64) -> u64 {
    let len = s.len() as u64;
    let passes = if s.contains('?') { 1 + len / 64 } else { 1 };
    len.saturating_add(text.saturating_mul(passes))
}

/// [`Policy::evaluation_cost`] of one condition's values.
fn json_cost(v: &Json, text: u64) -> u64 {
    match v {
        Json::Array(a) => a
            .iter()
            .map(|e| json_cost(e, text))
            .fold(0, u64::saturating_add),
        Json::String(s) => pattern_cost(s, text),
        _ => 32u64.saturating_add(text),
    }
}

/// Checks an action's shape: `*` or `vendor:name`, vendor `[A-Za-z0-9.-]+`.
fn check_action(action: &str) -> Result<(), String> {
    if action == "*" {
        return Ok(());
    }
    let mut parts = action.split(':');
    let vendor = parts.next().unwrap_or("");
    let Some(_name) = parts.next() else {
        return Err(format!(
            "action {action:?} must be prefixed by a service, like host:Login or iam:*"
        ));
    };
    if parts.next().is_some() {
        return Err(format!("action {action:?} can contain only one colon"));
    }
    if vendor.is_empty()
        || !vendor
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        return Err(format!(
            "service {vendor:?} in action {action:?} is not valid (letters, digits, '-' and '.')"
        ));
    }
    Ok(())
}

fn show(v: &Json) -> String {
    match v {
        Json::String(s) => format!("{s:?}"),
        other => other.type_name().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `doc` as `kind`; `expected` is `Ok(())` or a fragment that one
    /// of the problem messages (with its path) must contain.
    fn check(kind: PolicyKind, doc: &str, expected: Result<(), &str>) {
        let got = Policy::parse(doc, kind);
        match (&got, expected) {
            (Ok(_), Ok(())) => {}
            (Err(e), Err(frag)) => assert!(
                e.to_string().contains(frag),
                "{doc}\n  error {e}\n  lacks {frag:?}"
            ),
            _ => panic!("{doc}\n  got {got:?}\n  expected {expected:?}"),
        }
    }

    const M: PolicyKind = PolicyKind::Managed;

    #[test]
    fn grammar() {
        let ok = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"host:Login","Resource":"*"}}"#;
        check(M, ok, Ok(()));
        check(
            M,
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"host:Login","Resource":"*"}],"Id":"x"}"#,
            Ok(()),
        );
        check(
            M,
            r#"{"Statement":{"Effect":"Allow","Action":"host:Login","Resource":"*"}}"#,
            Err("$: Version is required"),
        );
        check(
            M,
            r#"{"Version":"2008-10-17","Statement":{"Effect":"Allow","Action":"a:b","Resource":"*"}}"#,
            Err("$.Version: identity policies must be"),
        );
        check(
            PolicyKind::Resource,
            r#"{"Version":"2008-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"a:b","Resource":"*"}}"#,
            Ok(()),
        );
        check(
            PolicyKind::Resource,
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"a:b","Resource":"*"}}"#,
            Ok(()),
        );
        check(
            M,
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"a:b","Resource":"*","Extra":1}}"#,
            Err("$.Statement.Extra: unknown key \"Extra\""),
        );
        check(
            M,
            r#"{"Version":"2012-10-17","Statement":[]}"#,
            Err("$.Statement: Statement must not be empty"),
        );
        check(
            M,
            r#"{"Version":"2012-10-17","Statement":["x"]}"#,
            Err("$.Statement[0]: a statement must be an object"),
        );
        check(
            M,
            r#"{"Version":"2012-10-17","Statement":{"Effect":"allow","Action":"a:b","Resource":"*"}}"#,
            Err("$.Statement.Effect: Effect must be \"Allow\" or \"Deny\""),
        );
        check(
            M,
            r#"{"Version":"2012-10-17","Statement":{"Action":"a:b","Resource":"*"}}"#,
            Err("must have an Effect"),
        );
        check(
            M,
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"a:b","NotAction":"c:d","Resource":"*"}}"#,
            Err("both Action and NotAction"),
        );
        check(
            M,
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"a:b","Resource":"*","NotResource":"*"}}"#,
            Err("both Resource and NotResource"),
        );
        check(
            M,
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"a:b"}}"#,
            Err("must contain Resource or NotResource"),
        );
        check(
            PolicyKind::Trust,
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Ward":"123456789012"},"Action":"sts:AssumeRole"}}"#,
            Ok(()),
        );
        check(
            M,
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Resource":"*"}}"#,
            Err("must contain Action or NotAction"),
        );
        check(
            M,
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":[],"Resource":"*"}}"#,
            Err("$.Statement.Action: Action must not be empty"),
        );
        check(
            M,
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"login","Resource":"*"}}"#,
            Err("$.Statement.Action: action \"login\" must be prefixed by a service"),
        );
        check(
            M,
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["a:b","x:y:z"],"Resource":"*"}}"#,
            Err("$.Statement.Action[1]: action \"x:y:z\" can contain only one colon"),
        );
        check(
            M,
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"a a:b","Resource":"*"}}"#,
            Err("service \"a a\""),
        );
        check(
            M,
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"a:b","Resource":["*",7]}}"#,
            Err("$.Statement.Resource[1]: resource must be a string, not a number"),
        );
        check(
            M,
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"a:b","Resource":"host/db"}}"#,
            Err("must be in ARN format"),
        );
        check(
            M,
            r#"{"Version":"2012-10-17","Statement":{"Sid":1,"Effect":"Allow","Action":"a:b","Resource":"*"}}"#,
            Err("$.Statement.Sid: Sid must be a string"),
        );
        check(
            M,
            r#"{"Version":"2012-10-17","Statement":[{"Sid":"a","Effect":"Allow","Action":"a:b","Resource":"*"},{"Sid":"a","Effect":"Allow","Action":"a:b","Resource":"*"}]}"#,
            Err("$.Statement[1].Sid: duplicate Sid \"a\""),
        );
        check(
            M,
            r#"{"Version":"2012-10-17","Statement":[{"Sid":"","Effect":"Allow","Action":"a:b","Resource":"*"},{"Sid":"","Effect":"Allow","Action":"a:b","Resource":"*"}]}"#,
            Ok(()),
        );
        check(
            M,
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"a:b","Resource":"*"}}"#,
            Err("$.Statement.Principal: Principal is not allowed in an identity policy"),
        );
        check(
            PolicyKind::Resource,
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"alice","Action":"a:b","Resource":"*"}}"#,
            Err("$.Statement.Principal: Principal must be \"*\" or an object"),
        );
        check(
            PolicyKind::Resource,
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Ward":"arn:ward:iam::123456789012:user/*"},"Action":"a:b","Resource":"*"}}"#,
            Err("cannot contain wildcards"),
        );
        check(
            PolicyKind::Resource,
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Bogus":"x"},"Action":"a:b","Resource":"*"}}"#,
            Err("unknown principal type \"Bogus\""),
        );
        check(
            PolicyKind::Resource,
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","NotPrincipal":"*","Action":"a:b","Resource":"*"}}"#,
            Err("both Principal and NotPrincipal"),
        );
        check(
            M,
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"a:b","Resource":"*","Condition":{"StringEqual":{"k":"v"}}}}"#,
            Err("$.Statement.Condition.StringEqual: unknown condition operator"),
        );
        check(
            M,
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"a:b","Resource":"*","Condition":{"IpAddress":{"ward:SourceIp":"10.0.0.0/40"}}}}"#,
            Err(
                r#"$.Statement.Condition.IpAddress["ward:SourceIp"]: IpAddress: "10.0.0.0/40" is not an IP address"#,
            ),
        );
        check(
            M,
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"a:b","Resource":"*","Condition":{"StringEquals":"x"}}}"#,
            Err("must map to an object of keys"),
        );
        check(
            M,
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"a:b","Resource":"*","Condition":[]}}"#,
            Err("Condition must be an object"),
        );
        check(
            M,
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"a:b","Resource":"*","Condition":{"StringEquals":{"k":{}}}}}"#,
            Err("condition values must be strings"),
        );
        check(M, "not json", Err("$: malformed JSON"));
        check(
            M,
            r#"{"Version":"2012-10-17","Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"a:b","Resource":"*"}}"#,
            Err("duplicate key \"Version\""),
        );
        check(M, "[]", Err("$: a policy document must be an object"));
    }

    #[test]
    fn every_fault_is_reported() {
        let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"nope","Resource":"x"},{"Effect":"Maybe","Action":"a:b","Resource":"*"}]}"#;
        let e = Policy::parse(doc, M).unwrap_err();
        let paths: Vec<&str> = e.problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "$.Statement[0].Action",
                "$.Statement[0].Resource",
                "$.Statement[1].Effect"
            ]
        );
    }

    #[test]
    fn size_limits() {
        let stmt = r#"{"Effect":"Allow","Action":"host:Login","Resource":"*"}"#;
        let doc = |n: usize| {
            format!(
                r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
                vec![stmt; n].join(",")
            )
        };
        let small = doc(10);
        assert!(Policy::parse(&small, PolicyKind::InlineUser).is_ok());
        let big = doc(120);
        assert!(big.len() > 6144);
        check(M, &big, Err("the limit for a managed policy is 6144"));
        assert!(Policy::parse(&big, PolicyKind::InlineRole).is_ok());
        // Whitespace does not count.
        let spaced = small.replace(
            ',',
            ",                                                            ",
        );
        assert!(spaced.len() > 2048 && Policy::parse(&spaced, PolicyKind::InlineUser).is_ok());
        let huge = " ".repeat(MAX_RAW_BYTES + 1);
        check(M, &huge, Err("documents over 131072 bytes are refused"));
    }

    #[test]
    fn warnings() {
        let p = Policy::parse(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["host:Logon","host:Log*","s3:GetObject"],"Resource":"*","Condition":{"a":{}}}}"#,
            M,
        )
        .unwrap();
        let w: Vec<String> = p.warnings().iter().map(|w| w.to_string()).collect();
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].starts_with("$.Statement.Action[0]: \"host:Logon\" is not a ward action"));
        assert!(w[1].starts_with("$.Statement.Condition.a: unknown condition operator"));
    }

    #[test]
    fn round_trip() {
        let doc = r#"{"Version":"2012-10-17","Id":"x","Statement":[{"Sid":"s1","Effect":"Deny","NotAction":["host:Sudo","iam:*"],"NotResource":"arn:ward:host::*:host/${ward:username}","Condition":{"ForAnyValue:StringLike":{"ward:TagKeys":["a*",1,true]},"Bool":{"ward:SecureTransport":false}}}]}"#;
        let p = Policy::parse(doc, M).unwrap();
        let again = Policy::parse(&p.to_json().to_string(), M).unwrap();
        assert_eq!(p, again);
        let r = Policy::parse(r#"{"Statement":{"Effect":"Allow","NotPrincipal":{"AWS":["123456789012"],"Ward":"arn:ward:iam::123456789012:user/a"},"Action":"sts:AssumeRole"}}"#, PolicyKind::Trust).unwrap();
        assert_eq!(
            r,
            Policy::parse(&r.to_json().to_string(), PolicyKind::Trust).unwrap()
        );
    }

    #[test]
    fn may_apply_to_reads_action_and_not_action() {
        let st = |action: &str| {
            let doc = format!(
                r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow",{action},"Resource":"*"}}}}"#
            );
            Policy::parse(&doc, M).unwrap().statements()[0].clone()
        };
        for (action, connect) in [
            (r#""Action":"host:Connect""#, true),
            (r#""Action":"HOST:connect""#, true),
            (r#""Action":"host:*""#, true),
            (r#""Action":"*""#, true),
            (r#""Action":"host:Con?ect""#, true),
            (r#""Action":["iam:GetUser","host:C*"]"#, true),
            (r#""Action":"host:Login""#, false),
            (r#""NotAction":"host:Connect""#, false),
            (r#""NotAction":"host:*""#, false),
            (r#""NotAction":"iam:*""#, true),
        ] {
            assert_eq!(st(action).may_apply_to("host:Connect"), connect, "{action}");
        }
    }

    #[test]
    fn may_consult_finds_condition_keys_and_variables() {
        let consults = |statement: &str| {
            let doc = format!(r#"{{"Version":"2012-10-17","Statement":{{{statement}}}}}"#);
            Policy::parse(&doc, M).unwrap().statements()[0]
                .may_consult(|k| k == "ward:multifactorauthage")
        };
        let base = r#""Effect":"Allow","Action":"*""#;
        assert!(consults(&format!(
            r#"{base},"Resource":"*","Condition":{{"NumericLessThan":{{"ward:MultiFactorAuthAge":"60"}}}}"#
        )));
        // aws: spelling, any case, any operator.
        assert!(consults(&format!(
            r#"{base},"Resource":"*","Condition":{{"Null":{{"AWS:multifactorauthage":"true"}}}}"#
        )));
        // A variable in a condition value or a resource, with a default.
        assert!(consults(&format!(
            r#"{base},"Resource":"*","Condition":{{"StringEquals":{{"host:Principal":["x","${{aws:MultiFactorAuthAge, '1'}}"]}}}}"#
        )));
        assert!(consults(&format!(
            r#"{base},"Resource":"arn:ward:host::*:host/${{ward:MultiFactorAuthAge}}""#
        )));
        // Other keys, other variables, an unclosed brace: no.
        assert!(!consults(&format!(
            r#"{base},"Resource":"arn:ward:host::*:host/${{ward:username}}","Condition":{{"Bool":{{"ward:MultiFactorAuthPresent":"true"}}}}"#
        )));
        assert!(!consults(&format!(r#"{base},"Resource":"*""#)));
        let v: Vec<String> = variables_in("a${ward:X}b${ AWS:y ,'d'}c${open").collect();
        assert_eq!(v, ["ward:x", "ward:y"]);
    }
}
