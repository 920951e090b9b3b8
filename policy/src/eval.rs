//! Evaluation: AWS's policy evaluation logic with three outcomes.
//!
//! In order (AWS "policy evaluation logic", same-account case):
//! 1. An explicit `Deny` that applies, in any policy (identity, resource or
//!    trust, boundary, session), decides `ExplicitlyDenied`.
//! 2. For `sts:AssumeRole*` the role's trust policy (passed as the resource
//!    policy) must itself allow the caller. If it names the caller directly
//!    (user ARN, session ARN, `*`), that is enough; if it names the caller's
//!    account, identity policies must allow too (and boundary and session
//!    policy limit them).
//! 3. Otherwise a resource policy that names the caller directly (user ARN,
//!    session ARN, unique id, `*`) grants by itself — neither a permissions
//!    boundary nor a session policy limits it. One that names the role of a
//!    role session grants subject to boundary and session policy; one that
//!    names only the account delegates to identity policies.
//! 4. An identity-policy `Allow` grants if every permissions boundary and
//!    the session policy (when present) also allow.
//! 5. Otherwise `ImplicitlyDenied`.
//!
//! The evaluator is generic over a [`Trace`] so that the hot path
//! ([`evaluate`]) records nothing and stops at the first applicable Deny,
//! while [`explain`] records the outcome of every statement.

use crate::arn::ArnCuts;
use crate::condition::Condition;
use crate::context::{fnv1a, Context, ContextValue};
use crate::policy::{Effect, Policy, Statement};
use crate::principal::{Principal, PrincipalKind, PrincipalMatch};

/// The outcome of an authorization decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Decision {
    /// Some policy allows and none denies.
    Allowed,
    /// Nothing allows (the default).
    ImplicitlyDenied,
    /// A `Deny` statement applies.
    ExplicitlyDenied,
}

impl Decision {
    /// `"Allowed"`, `"ImplicitlyDenied"` or `"ExplicitlyDenied"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allowed => "Allowed",
            Decision::ImplicitlyDenied => "ImplicitlyDenied",
            Decision::ExplicitlyDenied => "ExplicitlyDenied",
        }
    }

    /// True for `Allowed`.
    pub fn is_allowed(self) -> bool {
        self == Decision::Allowed
    }
}

/// One authorization request: who, what, on which resource, in what context.
#[derive(Clone, Debug)]
pub struct Request {
    principal: Principal,
    action: String,
    action_lc: String,
    action_hash: u64,
    resource: String,
    resource_cuts: ArnCuts,
    context: Context,
    /// `sts:GetCallerIdentity`: never denied (AWS).
    always_allowed: bool,
}

impl Request {
    /// Builds a request. Principal-derived keys (`ward:PrincipalArn`,
    /// `ward:PrincipalType`, `ward:PrincipalAccount`, `ward:username` for
    /// users, `ward:userid` when the unique id is known) are added to the
    /// context unless the caller set them.
    pub fn new(
        principal: Principal,
        action: &str,
        resource: &str,
        mut context: Context,
    ) -> Request {
        let mut add = |k: &str, v: &str| {
            if !context.contains(k) {
                context.insert(k, ContextValue::from(v));
            }
        };
        add("ward:PrincipalArn", principal.arn());
        add("ward:PrincipalType", principal.type_name());
        add("ward:PrincipalAccount", principal.account());
        if let PrincipalKind::User { name } = principal.kind() {
            add("ward:username", name);
        }
        if let Some(id) = principal.unique_id() {
            add("ward:userid", id);
        }
        Request {
            always_allowed: action.eq_ignore_ascii_case(ALWAYS_ALLOWED),
            action_hash: fnv1a(&action.to_lowercase()),
            action_lc: action.to_lowercase(),
            action: action.to_owned(),
            resource_cuts: ArnCuts::new(resource),
            resource: resource.to_owned(),
            principal,
            context,
        }
    }

    /// The principal.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// The action as given, e.g. `host:Login`.
    pub fn action(&self) -> &str {
        &self.action
    }

    /// The resource ARN.
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// The context.
    pub fn context(&self) -> &Context {
        &self.context
    }

    fn is_assume_role(&self) -> bool {
        self.action_lc.starts_with("sts:assumerole")
    }
}

/// The policies that bear on one request.
#[derive(Clone, Copy, Debug, Default)]
pub struct PolicySet<'a> {
    /// Identity policies: the user's inline and managed policies and those of
    /// every group the user is in (or the role's, for a role session).
    pub identity: &'a [&'a Policy],
    /// The resource's policy; for `sts:AssumeRole*`, the role's trust policy.
    pub resource: Option<&'a Policy>,
    /// Permissions boundaries; each one must allow.
    pub boundaries: &'a [&'a Policy],
    /// The session policy of a role session, if any.
    pub session: Option<&'a Policy>,
}

/// Which part of a [`PolicySet`] a policy came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyRole {
    /// An identity policy.
    Identity,
    /// The resource (or trust) policy.
    Resource,
    /// A permissions boundary.
    Boundary,
    /// The session policy.
    Session,
}

impl PolicyRole {
    /// The simulator input field this role comes from.
    pub fn field(self) -> &'static str {
        match self {
            PolicyRole::Identity => "identityPolicies",
            PolicyRole::Resource => "resourcePolicy",
            PolicyRole::Boundary => "permissionsBoundaries",
            PolicyRole::Session => "sessionPolicy",
        }
    }
}

/// Why a statement did or did not apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Action, resource, principal and every condition matched.
    Applied,
    /// The action is not in `Action` (or is in `NotAction`).
    ActionNotMatched,
    /// The resource is not in `Resource` (or is in `NotResource`).
    ResourceNotMatched,
    /// `Principal` does not name the caller (or `NotPrincipal` excludes it).
    PrincipalNotMatched,
    /// A policy variable in `Resource` could not be resolved.
    VariableUnresolved,
    /// This condition was false.
    ConditionFailed {
        /// The operator as written.
        operator: String,
        /// The condition key as written.
        key: String,
    },
}

pub(crate) trait Trace {
    const ON: bool;
    fn statement(
        &mut self,
        role: PolicyRole,
        policy: usize,
        index: usize,
        stmt: &Statement,
        outcome: Outcome,
    );
}

struct NoTrace;

impl Trace for NoTrace {
    const ON: bool = false;
    #[inline(always)]
    fn statement(&mut self, _: PolicyRole, _: usize, _: usize, _: &Statement, _: Outcome) {}
}

/// The one action no policy can deny. As in AWS, any authenticated caller
/// may ask who they are, even under an explicit `Deny` of `*`: it reveals
/// only the caller's own identity, and denying it would only break tools.
pub const ALWAYS_ALLOWED: &str = "sts:GetCallerIdentity";

/// Decides `request` against `set`. Allocation-free.
pub fn evaluate(set: &PolicySet<'_>, request: &Request) -> Decision {
    if request.always_allowed {
        return Decision::Allowed;
    }
    decide(set, request, &mut NoTrace).0
}

/// What the allow logic concluded, for explanations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// A Deny statement applied.
    ExplicitDeny,
    /// Identity policies allow (and boundaries and session policy agree).
    AllowedByIdentityPolicy,
    /// The resource policy names the caller and allows.
    AllowedByResourcePolicy,
    /// The role's trust policy names the caller and allows.
    AllowedByTrustPolicy,
    /// No statement allows.
    NoAllow,
    /// An allow was found but a permissions boundary does not allow.
    BoundaryDoesNotAllow,
    /// An allow was found but the session policy does not allow.
    SessionPolicyDoesNotAllow,
    /// `sts:AssumeRole*` on a role without a trust policy.
    TrustPolicyMissing,
    /// The trust policy does not allow the caller.
    TrustPolicyDoesNotAllow,
    /// `sts:GetCallerIdentity`, which no policy can deny.
    AlwaysAllowed,
}

fn decide<T: Trace>(set: &PolicySet<'_>, req: &Request, t: &mut T) -> (Decision, Reason) {
    let mut deny = false;

    // Identity policies.
    let mut identity_allow = false;
    for (pi, p) in set.identity.iter().enumerate() {
        match scan(p, PolicyRole::Identity, pi, req, None, t) {
            Scan::Deny if !T::ON => return (Decision::ExplicitlyDenied, Reason::ExplicitDeny),
            Scan::Deny => deny = true,
            Scan::Allow(_) => identity_allow = true,
            Scan::Nothing => {}
        }
    }

    // Resource (or trust) policy.
    let mut grant = PrincipalMatch::No;
    if let Some(p) = set.resource {
        match scan(p, PolicyRole::Resource, 0, req, Some(&req.principal), t) {
            Scan::Deny if !T::ON => return (Decision::ExplicitlyDenied, Reason::ExplicitDeny),
            Scan::Deny => deny = true,
            Scan::Allow(m) => grant = m,
            Scan::Nothing => {}
        }
    }

    // Boundaries: each must allow.
    let mut boundaries_allow = true;
    for (pi, p) in set.boundaries.iter().enumerate() {
        match scan(p, PolicyRole::Boundary, pi, req, None, t) {
            Scan::Deny if !T::ON => return (Decision::ExplicitlyDenied, Reason::ExplicitDeny),
            Scan::Deny => deny = true,
            Scan::Allow(_) => {}
            Scan::Nothing => boundaries_allow = false,
        }
    }

    let mut session_allows = true;
    if let Some(p) = set.session {
        match scan(p, PolicyRole::Session, 0, req, None, t) {
            Scan::Deny if !T::ON => return (Decision::ExplicitlyDenied, Reason::ExplicitDeny),
            Scan::Deny => deny = true,
            Scan::Allow(_) => {}
            Scan::Nothing => session_allows = false,
        }
    }

    if deny {
        return (Decision::ExplicitlyDenied, Reason::ExplicitDeny);
    }
    // Allows that boundaries and session policies limit.
    let limited = |ok: Reason| -> (Decision, Reason) {
        if !boundaries_allow {
            (Decision::ImplicitlyDenied, Reason::BoundaryDoesNotAllow)
        } else if !session_allows {
            (
                Decision::ImplicitlyDenied,
                Reason::SessionPolicyDoesNotAllow,
            )
        } else {
            (Decision::Allowed, ok)
        }
    };
    if req.is_assume_role() {
        if set.resource.is_none() {
            return (Decision::ImplicitlyDenied, Reason::TrustPolicyMissing);
        }
        return match grant {
            PrincipalMatch::No => (Decision::ImplicitlyDenied, Reason::TrustPolicyDoesNotAllow),
            PrincipalMatch::Direct => (Decision::Allowed, Reason::AllowedByTrustPolicy),
            PrincipalMatch::ViaRole => limited(Reason::AllowedByTrustPolicy),
            PrincipalMatch::Account if identity_allow => limited(Reason::AllowedByIdentityPolicy),
            PrincipalMatch::Account => (Decision::ImplicitlyDenied, Reason::NoAllow),
        };
    }
    match grant {
        PrincipalMatch::Direct => (Decision::Allowed, Reason::AllowedByResourcePolicy),
        PrincipalMatch::ViaRole => limited(Reason::AllowedByResourcePolicy),
        PrincipalMatch::Account | PrincipalMatch::No if identity_allow => {
            limited(Reason::AllowedByIdentityPolicy)
        }
        PrincipalMatch::Account | PrincipalMatch::No => {
            (Decision::ImplicitlyDenied, Reason::NoAllow)
        }
    }
}

enum Scan {
    Nothing,
    /// The strongest principal match among applicable Allow statements
    /// (`Direct` for identity-side policies, which need none).
    Allow(PrincipalMatch),
    Deny,
}

/// Scans one policy's statements. `principal` is `Some` for resource
/// policies, whose statements must name the caller.
#[inline]
fn scan<T: Trace>(
    policy: &Policy,
    role: PolicyRole,
    pi: usize,
    req: &Request,
    principal: Option<&Principal>,
    t: &mut T,
) -> Scan {
    let mut result = Scan::Nothing;
    for (si, s) in policy.statements().iter().enumerate() {
        let m = match principal {
            None => PrincipalMatch::Direct,
            Some(p) => principal_match(s, p),
        };
        let outcome = if m == PrincipalMatch::No {
            Outcome::PrincipalNotMatched
        } else {
            applies(s, req, T::ON)
        };
        let applied = outcome == Outcome::Applied;
        t.statement(role, pi, si, s, outcome);
        if !applied {
            continue;
        }
        match s.effect {
            Effect::Deny => {
                if !T::ON {
                    return Scan::Deny;
                }
                result = Scan::Deny;
            }
            Effect::Allow => {
                result = match result {
                    Scan::Deny => Scan::Deny,
                    Scan::Allow(prev) => Scan::Allow(prev.max(m)),
                    Scan::Nothing => Scan::Allow(m),
                }
            }
        }
    }
    result
}

fn principal_match(s: &Statement, p: &Principal) -> PrincipalMatch {
    match &s.principal {
        // A resource-policy statement without Principal never applies.
        None => PrincipalMatch::No,
        // NotPrincipal: a Deny is escaped only if every identity in the
        // caller's chain is listed (AWS's documented rule); an Allow grants
        // only callers it does not list in any form. Both fail closed.
        Some(ps) if ps.not => {
            let out = match s.effect {
                Effect::Deny => ps.spec.excludes(p),
                Effect::Allow => ps.spec.mentions(p),
            };
            if out {
                PrincipalMatch::No
            } else {
                PrincipalMatch::Direct
            }
        }
        Some(ps) => ps.spec.match_principal(p),
    }
}

/// Does the statement apply to the request (principal aside)? With
/// `detail` false the `ConditionFailed` outcome carries no names.
#[inline]
fn applies(s: &Statement, req: &Request, detail: bool) -> Outcome {
    let ctx = &req.context;
    let hit = s
        .actions
        .matchers
        .iter()
        .any(|m| m.matches(&req.action_lc, req.action_hash, ctx));
    if hit == s.actions.not {
        return Outcome::ActionNotMatched;
    }
    if let Some(r) = &s.resources {
        let mut hit = false;
        for p in &r.patterns {
            match p.matches_cut(&req.resource, &req.resource_cuts, ctx) {
                Some(true) => {
                    hit = true;
                    break;
                }
                Some(false) => {}
                None => return Outcome::VariableUnresolved,
            }
        }
        if hit == r.not {
            return Outcome::ResourceNotMatched;
        }
    }
    for c in &s.conditions {
        if !c.eval(ctx) {
            return condition_failed(c, detail);
        }
    }
    Outcome::Applied
}

#[cold]
fn condition_failed(c: &Condition, detail: bool) -> Outcome {
    if detail {
        Outcome::ConditionFailed {
            operator: c.op_name.clone(),
            key: c.key_name.clone(),
        }
    } else {
        Outcome::ConditionFailed {
            operator: String::new(),
            key: String::new(),
        }
    }
}

/// One statement's outcome, as recorded by [`explain`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatementTrace {
    /// Which part of the policy set.
    pub role: PolicyRole,
    /// Index of the policy within its part.
    pub policy: usize,
    /// Index of the statement within the policy.
    pub statement: usize,
    /// The statement's Sid.
    pub sid: Option<String>,
    /// The statement's effect.
    pub effect: Effect,
    /// Whether and why not it applied.
    pub outcome: Outcome,
}

/// A decision with its reasons.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explanation {
    /// The decision (always equal to [`evaluate`]'s).
    pub decision: Decision,
    /// Why.
    pub reason: Reason,
    /// Every statement evaluated, with its outcome.
    pub statements: Vec<StatementTrace>,
    /// A one-line account for people, e.g. `denied: no statement allows
    /// host:Login on arn:… for principal alice`.
    pub message: String,
}

impl Explanation {
    /// The statements that applied.
    pub fn matched(&self) -> impl Iterator<Item = &StatementTrace> {
        self.statements
            .iter()
            .filter(|s| s.outcome == Outcome::Applied)
    }
}

struct Recorder(Vec<StatementTrace>);

impl Trace for Recorder {
    const ON: bool = true;
    fn statement(
        &mut self,
        role: PolicyRole,
        policy: usize,
        index: usize,
        stmt: &Statement,
        outcome: Outcome,
    ) {
        self.0.push(StatementTrace {
            role,
            policy,
            statement: index,
            sid: stmt.sid().map(str::to_owned),
            effect: stmt.effect(),
            outcome,
        });
    }
}

/// Decides `request` and records why: every statement's outcome and a
/// message for people.
pub fn explain(set: &PolicySet<'_>, request: &Request) -> Explanation {
    let mut rec = Recorder(Vec::new());
    let (mut decision, mut reason) = decide(set, request, &mut rec);
    if request.always_allowed {
        // The statements are still traced, so the account shows what the
        // policies would have said.
        (decision, reason) = (Decision::Allowed, Reason::AlwaysAllowed);
    }
    let statements = rec.0;
    let what = format!(
        "{} on {} for principal {}",
        request.action,
        request.resource,
        request.principal.display_name()
    );
    let first = |effect: Effect, role: Option<PolicyRole>| {
        statements
            .iter()
            .find(|s| {
                s.outcome == Outcome::Applied
                    && s.effect == effect
                    && role.is_none_or(|r| s.role == r)
            })
            .map(label)
            .unwrap_or_default()
    };
    let message = match reason {
        Reason::ExplicitDeny => format!(
            "denied: {} explicitly denies {what}",
            first(Effect::Deny, None)
        ),
        Reason::AllowedByIdentityPolicy => format!(
            "allowed: {} allows {what}",
            first(Effect::Allow, Some(PolicyRole::Identity))
        ),
        Reason::AllowedByResourcePolicy | Reason::AllowedByTrustPolicy => {
            format!(
                "allowed: {} allows {what}",
                first(Effect::Allow, Some(PolicyRole::Resource))
            )
        }
        Reason::NoAllow => {
            // Point at the nearest miss: an Allow that matched the action
            // and resource but whose condition was false.
            let near = statements.iter().find_map(|s| match &s.outcome {
                Outcome::ConditionFailed { operator, key } if s.effect == Effect::Allow => {
                    Some(format!(
                        "; {} matches but its condition {operator} on {key} is false",
                        label(s)
                    ))
                }
                _ => None,
            });
            format!(
                "denied: no statement allows {what}{}",
                near.unwrap_or_default()
            )
        }
        Reason::BoundaryDoesNotAllow => {
            format!("denied: a policy allows {what}, but the permissions boundary does not")
        }
        Reason::SessionPolicyDoesNotAllow => {
            format!("denied: a policy allows {what}, but the session policy does not")
        }
        Reason::TrustPolicyMissing => {
            format!("denied: the role has no trust policy, so nothing allows {what}")
        }
        Reason::TrustPolicyDoesNotAllow => {
            format!("denied: the role's trust policy does not allow {what}")
        }
        Reason::AlwaysAllowed => {
            format!("allowed: {ALWAYS_ALLOWED} is never denied, whatever the policies say ({what})")
        }
    };
    Explanation {
        decision,
        reason,
        statements,
        message,
    }
}

/// `statement "Sid" of identityPolicies[0]` or `statement #2 of …`.
pub(crate) fn label(s: &StatementTrace) -> String {
    let which = match &s.sid {
        Some(sid) if !sid.is_empty() => format!("statement {sid:?}"),
        _ => format!("statement #{}", s.statement),
    };
    match s.role {
        PolicyRole::Identity | PolicyRole::Boundary => {
            format!("{which} of {}[{}]", s.role.field(), s.policy)
        }
        PolicyRole::Resource | PolicyRole::Session => format!("{which} of {}", s.role.field()),
    }
}
