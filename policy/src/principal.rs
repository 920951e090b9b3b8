//! Principals: who is asking, and the `Principal`/`NotPrincipal` element that
//! names them in resource and trust policies.

use std::fmt;

/// What kind of identity a request principal is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PrincipalKind {
    /// The account root, `arn:…:iam::ACCT:root`.
    Root,
    /// An IAM user, `arn:…:iam::ACCT:user/PATH/NAME`.
    User {
        /// The user name (last path component).
        name: String,
    },
    /// A role session, `arn:…:sts::ACCT:assumed-role/ROLE/SESSION`.
    AssumedRole {
        /// The role's name.
        role: String,
        /// The session name.
        session: String,
    },
    /// A registered host, `arn:…:host::ACCT:host/NAME`.
    Host {
        /// The host name.
        name: String,
    },
    /// Anything else with an ARN (e.g. a role itself).
    Other,
}

/// The principal making a request, parsed from its ARN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    arn: String,
    partition: String,
    account: String,
    kind: PrincipalKind,
    unique_id: Option<String>,
    role_id: Option<String>,
    federated: Option<String>,
}

/// A principal ARN that could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadPrincipal(pub String);

impl fmt::Display for BadPrincipal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadPrincipal {}

impl Principal {
    /// Parses a principal ARN (user, root, assumed-role session, host, …).
    pub fn from_arn(arn: &str) -> Result<Principal, BadPrincipal> {
        let bad = |why: &str| BadPrincipal(format!("principal {arn:?} {why}"));
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        if parts.len() != 6 || parts[0] != "arn" {
            return Err(bad(
                "is not an ARN (arn:PARTITION:SERVICE::ACCOUNT:RESOURCE)",
            ));
        }
        if !crate::arn::PARTITIONS.contains(&parts[1]) {
            return Err(bad("has an unknown partition"));
        }
        if arn.contains(['*', '?']) {
            return Err(bad("contains a wildcard"));
        }
        let (service, account, resource) = (parts[2], parts[4], parts[5]);
        if !is_account_id(account) {
            return Err(bad("needs a 12-digit account id"));
        }
        let last = |r: &str| r.rsplit('/').next().unwrap_or("").to_owned();
        let kind = match (service, resource) {
            ("iam", "root") => PrincipalKind::Root,
            ("iam", r) if r.starts_with("user/") && !last(r).is_empty() => {
                PrincipalKind::User { name: last(r) }
            }
            ("sts", r) if r.starts_with("assumed-role/") => {
                let mut it = r["assumed-role/".len()..].splitn(2, '/');
                match (it.next(), it.next()) {
                    (Some(role), Some(session)) if !role.is_empty() && !session.is_empty() => {
                        PrincipalKind::AssumedRole {
                            role: role.to_owned(),
                            session: session.to_owned(),
                        }
                    }
                    _ => return Err(bad("must be assumed-role/ROLE/SESSION")),
                }
            }
            ("host", r) if r.starts_with("host/") && !last(r).is_empty() => {
                PrincipalKind::Host { name: last(r) }
            }
            _ => PrincipalKind::Other,
        };
        Ok(Principal {
            arn: arn.to_owned(),
            partition: parts[1].to_owned(),
            account: account.to_owned(),
            kind,
            unique_id: None,
            role_id: None,
            federated: None,
        })
    }

    /// Sets the principal's unique id (`AIDA…`), which policies naming the
    /// principal are stored under.
    pub fn with_unique_id(mut self, id: impl Into<String>) -> Principal {
        self.unique_id = Some(id.into());
        self
    }

    /// For a role session: sets the role's unique id (`AROA…`).
    pub fn with_role_id(mut self, id: impl Into<String>) -> Principal {
        self.role_id = Some(id.into());
        self
    }

    /// For a caller federated through an identity provider (ward's
    /// identity pools: `identity.ward`): the provider name, which a
    /// `{"Federated": NAME}` principal entry matches.
    pub fn with_federated(mut self, provider: impl Into<String>) -> Principal {
        self.federated = Some(provider.into());
        self
    }

    /// The identity provider a federated caller came through, if any.
    pub fn federated(&self) -> Option<&str> {
        self.federated.as_deref()
    }

    /// The principal's ARN.
    pub fn arn(&self) -> &str {
        &self.arn
    }

    /// The 12-digit account id.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// What kind of principal this is.
    pub fn kind(&self) -> &PrincipalKind {
        &self.kind
    }

    /// The unique id, if known.
    pub fn unique_id(&self) -> Option<&str> {
        self.unique_id.as_deref()
    }

    /// A short human name: the user, role session or host name.
    pub fn display_name(&self) -> &str {
        match &self.kind {
            PrincipalKind::Root => "root",
            PrincipalKind::User { name } | PrincipalKind::Host { name } => name,
            PrincipalKind::AssumedRole { .. } | PrincipalKind::Other => {
                self.arn.rsplit(':').next().unwrap_or(&self.arn)
            }
        }
    }

    /// The `ward:PrincipalType` value.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            PrincipalKind::Root => "Account",
            PrincipalKind::User { .. } => "User",
            PrincipalKind::AssumedRole { .. } => "AssumedRole",
            PrincipalKind::Host { .. } => "Host",
            PrincipalKind::Other => "Other",
        }
    }
}

pub(crate) fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_unique_id(s: &str) -> bool {
    (16..=32).contains(&s.len())
        && ["AIDA", "AROA"].iter().any(|p| s.starts_with(p))
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// Principal namespaces in a `Principal` object. `AWS` and `Ward` are the
/// same namespace (ARNs, account ids, unique ids).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Namespace {
    Ward,
    Aws,
    Service,
    Federated,
    CanonicalUser,
}

impl Namespace {
    pub(crate) fn parse(s: &str) -> Option<Namespace> {
        Some(match s {
            "Ward" => Namespace::Ward,
            "AWS" => Namespace::Aws,
            "Service" => Namespace::Service,
            "Federated" => Namespace::Federated,
            "CanonicalUser" => Namespace::CanonicalUser,
            _ => return None,
        })
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Namespace::Ward => "Ward",
            Namespace::Aws => "AWS",
            Namespace::Service => "Service",
            Namespace::Federated => "Federated",
            Namespace::CanonicalUser => "CanonicalUser",
        }
    }
}

/// One entry of a `Principal`/`NotPrincipal` element.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Entry {
    /// `"*"` (bare or inside `AWS`/`Ward`).
    Anyone,
    /// An account: `"123456789012"` or `arn:…:iam::123456789012:root`.
    Account(String),
    /// A role, matching the role itself and its sessions.
    Role {
        partition: String,
        account: String,
        name: String,
        arn: String,
    },
    /// Any other ARN or unique id, matched exactly.
    Exact(String),
    /// A `Federated` provider name (`identity.ward`), matched exactly
    /// against the provider a federated caller came through.
    Federated(String),
    /// A `Service`/`CanonicalUser` name: never one of ward's request
    /// principals today.
    Foreign,
}

/// A compiled `Principal`/`NotPrincipal` element.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PrincipalSpec {
    /// The element as written, for serialisation: `None` for bare `"*"`.
    pub raw: Option<Vec<(Namespace, Vec<String>)>>,
    entries: Vec<Entry>,
}

/// How strongly a `Principal` element names the request principal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum PrincipalMatch {
    /// Not named.
    No,
    /// Named through its account: delegates to identity policies.
    Account,
    /// Named through the role of a role session.
    ViaRole,
    /// Named directly (its ARN, unique id, session ARN or `*`).
    Direct,
}

impl PrincipalSpec {
    /// The bare `"*"` element.
    pub(crate) fn anyone() -> PrincipalSpec {
        PrincipalSpec {
            raw: None,
            entries: vec![Entry::Anyone],
        }
    }

    /// Compiles `{namespace: [values]}`; the error names the bad value.
    pub(crate) fn compile(raw: Vec<(Namespace, Vec<String>)>) -> Result<PrincipalSpec, String> {
        let mut entries = Vec::new();
        for (ns, values) in &raw {
            for v in values {
                entries.push(compile_entry(*ns, v)?);
            }
        }
        Ok(PrincipalSpec {
            raw: Some(raw),
            entries,
        })
    }

    /// How the element names `p` (the strongest of its entries).
    pub(crate) fn match_principal(&self, p: &Principal) -> PrincipalMatch {
        self.entries
            .iter()
            .map(|e| entry_match(e, p))
            .max()
            .unwrap_or(PrincipalMatch::No)
    }

    /// True if a `NotPrincipal` element excludes `p`. AWS evaluates every
    /// identity in the principal's chain (account; role; user or session)
    /// and excludes the request only if all of them are listed, which is
    /// why its documentation tells you to list the account and the session
    /// ARN as well. A role ARN does not stand for its sessions here.
    pub(crate) fn excludes(&self, p: &Principal) -> bool {
        self.chain(p, true)
    }

    /// True if a `NotPrincipal` element names `p` or any identity in its
    /// chain (its account, its role). An `Allow` with `NotPrincipal`
    /// grants everyone *else*, so it must not apply to a principal it
    /// lists in any form: reading the list generously here only ever
    /// withholds an Allow, which fails closed.
    pub(crate) fn mentions(&self, p: &Principal) -> bool {
        self.chain(p, false)
    }

    /// `all`: every identity of the chain is listed; otherwise any one.
    fn chain(&self, p: &Principal, all: bool) -> bool {
        let listed = |f: &dyn Fn(&Entry) -> bool| self.entries.iter().any(f);
        if listed(&|e| matches!(e, Entry::Anyone)) {
            return true;
        }
        let account = listed(&|e| matches!(e, Entry::Account(a) if *a == p.account));
        let me = listed(&|e| match e {
            Entry::Exact(x) => *x == p.arn || Some(x.as_str()) == p.unique_id.as_deref(),
            Entry::Federated(x) => Some(x.as_str()) == p.federated.as_deref(),
            _ => false,
        });
        let role = listed(&|e| {
            role_entry_matches(e, p) || matches!(e, Entry::Role { arn, .. } if *arn == p.arn)
        });
        if !all {
            return account || me || role;
        }
        match &p.kind {
            PrincipalKind::Root => account,
            PrincipalKind::AssumedRole { .. } => account && role && me,
            _ => account && me,
        }
    }
}

fn role_entry_matches(e: &Entry, p: &Principal) -> bool {
    let PrincipalKind::AssumedRole { role, .. } = &p.kind else {
        return false;
    };
    match e {
        Entry::Role {
            partition,
            account,
            name,
            ..
        } => *partition == p.partition && *account == p.account && name == role,
        Entry::Exact(x) => Some(x.as_str()) == p.role_id.as_deref(),
        _ => false,
    }
}

fn entry_match(e: &Entry, p: &Principal) -> PrincipalMatch {
    match e {
        Entry::Anyone => PrincipalMatch::Direct,
        Entry::Account(a) if *a == p.account => PrincipalMatch::Account,
        Entry::Exact(x) if *x == p.arn || Some(x.as_str()) == p.unique_id.as_deref() => {
            PrincipalMatch::Direct
        }
        Entry::Role { arn, .. } if *arn == p.arn => PrincipalMatch::Direct,
        Entry::Federated(x) if Some(x.as_str()) == p.federated.as_deref() => PrincipalMatch::Direct,
        e if role_entry_matches(e, p) => PrincipalMatch::ViaRole,
        _ => PrincipalMatch::No,
    }
}

fn compile_entry(ns: Namespace, v: &str) -> Result<Entry, String> {
    if v.is_empty() {
        return Err(format!("{} principal must not be empty", ns.as_str()));
    }
    match ns {
        Namespace::Service | Namespace::Federated | Namespace::CanonicalUser => {
            if v.contains(['*', '?']) && v != "*" {
                return Err(format!("principal {v:?} cannot contain wildcards"));
            }
            return Ok(if v == "*" {
                Entry::Anyone
            } else if ns == Namespace::Federated {
                Entry::Federated(v.to_owned())
            } else {
                Entry::Foreign
            });
        }
        Namespace::Ward | Namespace::Aws => {}
    }
    if v == "*" {
        return Ok(Entry::Anyone);
    }
    if v.contains(['*', '?']) {
        return Err(format!(
            "principal {v:?} cannot contain wildcards (use \"*\" alone, or a condition on ward:PrincipalArn)"
        ));
    }
    if is_account_id(v) {
        return Ok(Entry::Account(v.to_owned()));
    }
    if is_unique_id(v) {
        return Ok(Entry::Exact(v.to_owned()));
    }
    let parts: Vec<&str> = v.splitn(6, ':').collect();
    let ok_shape = parts.len() == 6
        && parts[0] == "arn"
        && crate::arn::PARTITIONS.contains(&parts[1])
        && parts[3].is_empty()
        && is_account_id(parts[4]);
    if !ok_shape {
        return Err(format!(
            "principal {v:?} must be \"*\", a 12-digit account id, a unique id or an ARN like arn:ward:iam::ACCOUNT:user/NAME"
        ));
    }
    let (service, account, resource) = (parts[2], parts[4], parts[5]);
    match (service, resource) {
        ("iam", "root") => Ok(Entry::Account(account.to_owned())),
        ("iam", r) if r.starts_with("role/") => {
            let name = r.rsplit('/').next().unwrap_or("");
            if name.is_empty() {
                return Err(format!("principal {v:?} has an empty role name"));
            }
            Ok(Entry::Role {
                partition: parts[1].to_owned(),
                account: account.to_owned(),
                name: name.to_owned(),
                arn: v.to_owned(),
            })
        }
        ("iam", r) if r.starts_with("user/") && !r.ends_with('/') => Ok(Entry::Exact(v.to_owned())),
        ("sts", r) if r.starts_with("assumed-role/") && r.matches('/').count() >= 2 => {
            Ok(Entry::Exact(v.to_owned()))
        }
        ("host", r) if r.starts_with("host/") && !r.ends_with('/') => {
            Ok(Entry::Exact(v.to_owned()))
        }
        _ => Err(format!(
            "principal {v:?} is not a user, role, role session, host or account root ARN"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCT: &str = "123456789012";

    fn spec(values: &[&str]) -> PrincipalSpec {
        PrincipalSpec::compile(vec![(
            Namespace::Ward,
            values.iter().map(|s| s.to_string()).collect(),
        )])
        .unwrap()
    }

    fn user(name: &str) -> Principal {
        Principal::from_arn(&format!("arn:ward:iam::{ACCT}:user/{name}")).unwrap()
    }

    fn session(role: &str, s: &str) -> Principal {
        Principal::from_arn(&format!("arn:ward:sts::{ACCT}:assumed-role/{role}/{s}")).unwrap()
    }

    #[test]
    fn federated_entries_match_only_their_provider() {
        let fed = PrincipalSpec::compile(vec![(
            Namespace::Federated,
            vec!["identity.ward".to_owned()],
        )])
        .unwrap();
        let guest = Principal::from_arn(&format!(
            "arn:ward:identity::{ACCT}:identity-pool/local:0000"
        ))
        .unwrap();
        // Not federated, or through another provider: not named.
        assert_eq!(fed.match_principal(&guest), PrincipalMatch::No);
        assert_eq!(fed.match_principal(&user("alice")), PrincipalMatch::No);
        let other = guest.clone().with_federated("accounts.example.com");
        assert_eq!(fed.match_principal(&other), PrincipalMatch::No);
        let ward = guest.with_federated("identity.ward");
        assert_eq!(fed.match_principal(&ward), PrincipalMatch::Direct);
        assert!(fed.mentions(&ward));
        // The account names it only as the account (which delegates to
        // identity policies, and a federated caller has none).
        assert_eq!(
            spec(&[ACCT]).match_principal(&ward),
            PrincipalMatch::Account
        );
    }

    fn check(values: &[&str], p: &Principal, expected: PrincipalMatch) {
        assert_eq!(
            spec(values).match_principal(p),
            expected,
            "{values:?} vs {}",
            p.arn()
        );
    }

    #[test]
    fn principal_matching() {
        let alice = user("alice").with_unique_id("AIDAABCDEFGHIJKLMNOPQ");
        check(&["*"], &alice, PrincipalMatch::Direct);
        check(&[ACCT], &alice, PrincipalMatch::Account);
        check(
            &["arn:ward:iam::123456789012:root"],
            &alice,
            PrincipalMatch::Account,
        );
        check(
            &["arn:ward:iam::123456789012:user/alice"],
            &alice,
            PrincipalMatch::Direct,
        );
        check(&["AIDAABCDEFGHIJKLMNOPQ"], &alice, PrincipalMatch::Direct);
        check(
            &["arn:ward:iam::123456789012:user/bob"],
            &alice,
            PrincipalMatch::No,
        );
        check(&["999999999999"], &alice, PrincipalMatch::No);
        let s = session("deploy", "ci-1");
        check(
            &["arn:ward:iam::123456789012:role/team/deploy"],
            &s,
            PrincipalMatch::ViaRole,
        );
        check(
            &["arn:ward:sts::123456789012:assumed-role/deploy/ci-1"],
            &s,
            PrincipalMatch::Direct,
        );
        check(
            &["arn:ward:iam::123456789012:role/other"],
            &s,
            PrincipalMatch::No,
        );
        check(
            &["arn:aws:iam::123456789012:role/deploy"],
            &s,
            PrincipalMatch::No,
        );
        check(
            &[ACCT, "arn:ward:iam::123456789012:user/alice"],
            &alice,
            PrincipalMatch::Direct,
        );
    }

    #[test]
    fn not_principal_needs_the_whole_chain() {
        let alice = user("alice");
        assert!(!spec(&["arn:ward:iam::123456789012:user/alice"]).excludes(&alice));
        assert!(spec(&["arn:ward:iam::123456789012:user/alice", ACCT]).excludes(&alice));
        assert!(!spec(&[ACCT]).excludes(&alice));
        let s = session("deploy", "ci-1");
        let role = "arn:ward:iam::123456789012:role/deploy";
        let sess = "arn:ward:sts::123456789012:assumed-role/deploy/ci-1";
        assert!(!spec(&[role, ACCT]).excludes(&s));
        assert!(spec(&[role, sess, ACCT]).excludes(&s));
        assert!(spec(&["*"]).excludes(&s));
    }

    #[test]
    fn not_principal_allow_reads_any_listing() {
        let alice = user("alice");
        let alice_arn = "arn:ward:iam::123456789012:user/alice";
        assert!(spec(&[alice_arn]).mentions(&alice));
        assert!(spec(&[ACCT]).mentions(&alice));
        assert!(spec(&["*"]).mentions(&alice));
        assert!(!spec(&["arn:ward:iam::123456789012:user/bob"]).mentions(&alice));
        assert!(!spec(&["210987654321"]).mentions(&alice));
        let s = session("deploy", "ci-1");
        assert!(spec(&["arn:ward:iam::123456789012:role/deploy"]).mentions(&s));
        assert!(spec(&["arn:ward:sts::123456789012:assumed-role/deploy/ci-1"]).mentions(&s));
        assert!(!spec(&["arn:ward:iam::123456789012:role/other"]).mentions(&s));
    }

    #[test]
    fn bad_entries() {
        for bad in [
            "arn:ward:iam::123456789012:user/*",
            "arn:ward:iam::*:root",
            "12345",
            "alice",
            "arn:ward:iam::123456789012:group/ops",
            "arn:ward:iam::123456789012:role/",
            "",
        ] {
            assert!(
                PrincipalSpec::compile(vec![(Namespace::Aws, vec![bad.into()])]).is_err(),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn principal_arns() {
        assert!(Principal::from_arn("arn:ward:iam::123456789012:user/ops/alice").is_ok());
        assert_eq!(user("ops/alice").display_name(), "alice");
        assert!(Principal::from_arn("arn:ward:iam::12:user/alice").is_err());
        assert!(Principal::from_arn("arn:ward:iam::123456789012:user/*").is_err());
        assert!(Principal::from_arn("arn:ward:sts::123456789012:assumed-role/x").is_err());
        assert!(Principal::from_arn("alice").is_err());
    }
}
