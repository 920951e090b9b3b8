//! The policy set of a principal, assembled from its attachments given as
//! plain data: the documents attached to the principal itself (inline and
//! managed), those it inherits (each group of a user; nothing yet for a
//! role), and its permissions boundary. Where they are stored, and how
//! compiled policies are cached, is the caller's business.
//!
//! A role is another [`Holder`], not another type: the same
//! [`PrincipalPolicies`] carries a user's, a group's or a role's documents.

use std::borrow::Borrow;

use ward_policy::{Policy, PolicyError, PolicyKind, PolicySet};

/// The kind of principal a policy document is attached to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Holder {
    /// An IAM user.
    User,
    /// An IAM group (its documents bear on every member).
    Group,
    /// An IAM role (its documents bear on every session of it).
    Role,
}

impl Holder {
    /// The kind ward-policy validates an inline document of this holder as
    /// (the size limits differ); managed documents are always
    /// [`PolicyKind::Managed`].
    pub fn inline_kind(self) -> PolicyKind {
        match self {
            Holder::User => PolicyKind::InlineUser,
            Holder::Group => PolicyKind::InlineGroup,
            Holder::Role => PolicyKind::InlineRole,
        }
    }
}

/// The documents attached to one principal.
#[derive(Clone, Debug)]
pub struct Attached<P> {
    /// Who holds them.
    pub holder: Holder,
    /// Inline documents.
    pub inline: Vec<P>,
    /// Default versions of the attached managed policies.
    pub managed: Vec<P>,
}

impl<P> Attached<P> {
    /// No documents, held by `holder`.
    pub fn new(holder: Holder) -> Attached<P> {
        Attached {
            holder,
            inline: Vec::new(),
            managed: Vec::new(),
        }
    }

    fn len(&self) -> usize {
        self.inline.len() + self.managed.len()
    }

    fn try_map<Q, E>(
        self,
        f: &mut impl FnMut(P, PolicyKind) -> Result<Q, E>,
    ) -> Result<Attached<Q>, E> {
        let kind = self.holder.inline_kind();
        Ok(Attached {
            holder: self.holder,
            inline: self
                .inline
                .into_iter()
                .map(|p| f(p, kind))
                .collect::<Result<_, _>>()?,
            managed: self
                .managed
                .into_iter()
                .map(|p| f(p, PolicyKind::Managed))
                .collect::<Result<_, _>>()?,
        })
    }

    fn iter(&self) -> impl Iterator<Item = &P> {
        self.inline.iter().chain(&self.managed)
    }
}

/// Everything whose policies bear on a principal. `P` is a document text
/// (`&str`, `String`) before [`PrincipalPolicies::try_map`] /
/// [`PrincipalPolicies::compile`], a compiled policy (`Policy`,
/// `Arc<Policy>`) after.
#[derive(Clone, Debug)]
pub struct PrincipalPolicies<P> {
    /// The principal's own documents (a user's or a role's).
    pub own: Attached<P>,
    /// Documents it inherits: each of a user's groups.
    pub inherited: Vec<Attached<P>>,
    /// The permissions boundary (a managed policy's default version).
    pub boundary: Option<P>,
}

impl<P> PrincipalPolicies<P> {
    /// A principal of kind `holder` with nothing attached.
    pub fn new(holder: Holder) -> PrincipalPolicies<P> {
        PrincipalPolicies {
            own: Attached::new(holder),
            inherited: Vec::new(),
            boundary: None,
        }
    }

    /// Every identity document (own, then inherited).
    pub fn identity(&self) -> impl Iterator<Item = &P> {
        self.own
            .iter()
            .chain(self.inherited.iter().flat_map(Attached::iter))
    }

    /// Maps every document with the kind it is validated as (compiling
    /// through a cache, say); the first error stops it.
    pub fn try_map<Q, E>(
        self,
        mut f: impl FnMut(P, PolicyKind) -> Result<Q, E>,
    ) -> Result<PrincipalPolicies<Q>, E> {
        Ok(PrincipalPolicies {
            own: self.own.try_map(&mut f)?,
            inherited: self
                .inherited
                .into_iter()
                .map(|a| a.try_map(&mut f))
                .collect::<Result<_, _>>()?,
            boundary: self
                .boundary
                .map(|p| f(p, PolicyKind::Managed))
                .transpose()?,
        })
    }
}

impl<P: AsRef<str>> PrincipalPolicies<P> {
    /// Compiles every document text (no cache).
    pub fn compile(self) -> Result<PrincipalPolicies<Policy>, PolicyError> {
        self.try_map(|text, kind| Policy::parse(text.as_ref(), kind))
    }

    /// Which costly context keys these documents can look at.
    pub fn wanted(&self) -> Wanted {
        self.identity()
            .chain(&self.boundary)
            .fold(Wanted::default(), |w, d| w.or(Wanted::of(d.as_ref())))
    }
}

impl<P: Borrow<Policy>> PrincipalPolicies<P> {
    /// The references ward-policy's [`PolicySet`] is made of.
    pub fn assemble(&self) -> Assembled<'_> {
        let n = self.own.len() + self.inherited.iter().map(Attached::len).sum::<usize>();
        let mut identity = Vec::with_capacity(n);
        identity.extend(self.identity().map(Borrow::borrow));
        Assembled {
            identity,
            boundaries: self.boundary.iter().map(Borrow::borrow).collect(),
            session: None,
        }
    }
}

/// A principal's policies as ward-policy takes them.
#[derive(Debug)]
pub struct Assembled<'a> {
    /// Identity policies.
    pub identity: Vec<&'a Policy>,
    /// Permissions boundaries (none or one).
    pub boundaries: Vec<&'a Policy>,
    /// A role session's session policy (inline and managed session
    /// policies merged into one document when the role was assumed).
    pub session: Option<&'a Policy>,
}

impl<'a> Assembled<'a> {
    /// The same policies limited by a role session's session policy, so
    /// that the session may do only what both the role's policies (within
    /// its boundary) and the session policy allow.
    pub fn with_session(mut self, session: Option<&'a Policy>) -> Assembled<'a> {
        self.session = session;
        self
    }

    /// The policy set (no resource policy).
    pub fn set(&self) -> PolicySet<'_> {
        self.set_with_resource(None)
    }

    /// The policy set with a resource policy: for `sts:AssumeRole`, the
    /// role's trust policy.
    pub fn set_with_resource<'s>(&'s self, resource: Option<&'s Policy>) -> PolicySet<'s> {
        PolicySet {
            identity: &self.identity,
            resource,
            boundaries: &self.boundaries,
            session: self.session,
        }
    }
}

/// Which context keys that cost a store read to supply a principal's
/// policies can look at. A policy that never names `ResourceTag` cannot
/// depend on a target's tags, so a request by its holder can skip that
/// read; any policy that does (in any case, under `aws:` or `ward:`) gets
/// them. The test is on the text, so it errs towards reading.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Wanted {
    /// `ward:ResourceTag/*` of the target.
    pub resource_tags: bool,
    /// `iam:PermissionsBoundary` (the target user's boundary).
    pub boundary: bool,
}

impl Wanted {
    /// What one document text may look at.
    pub fn of(doc: &str) -> Wanted {
        let lc = doc.to_ascii_lowercase();
        Wanted {
            resource_tags: lc.contains("resourcetag"),
            boundary: lc.contains("permissionsboundary"),
        }
    }

    /// Either's wants.
    pub fn or(self, o: Wanted) -> Wanted {
        Wanted {
            resource_tags: self.resource_tags || o.resource_tags,
            boundary: self.boundary || o.boundary,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ward_policy::{evaluate, Context, Decision, Principal, Request};

    fn doc(effect: &str, action: &str) -> String {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"{effect}","Action":"{action}","Resource":"*"}}]}}"#
        )
    }

    fn decide(p: &PrincipalPolicies<Policy>, action: &str) -> Decision {
        let who = Principal::from_arn("arn:ward:iam::123456789012:user/alice").unwrap();
        let req = Request::new(
            who,
            action,
            "arn:ward:iam::123456789012:user/bob",
            Context::new(),
        );
        evaluate(&p.assemble().set(), &req)
    }

    #[test]
    fn groups_inline_managed_and_boundary_all_count() {
        let mut p = PrincipalPolicies::<String>::new(Holder::User);
        p.own.inline.push(doc("Allow", "iam:GetUser"));
        let mut g = Attached::new(Holder::Group);
        g.managed.push(doc("Allow", "iam:ListUsers"));
        g.inline.push(doc("Deny", "iam:DeleteUser"));
        p.inherited.push(g);
        p.own.managed.push(doc("Allow", "iam:*User"));
        let c = p.clone().compile().unwrap();
        assert_eq!(c.assemble().identity.len(), 4);
        assert_eq!(decide(&c, "iam:GetUser"), Decision::Allowed);
        assert_eq!(decide(&c, "iam:ListUsers"), Decision::Allowed);
        assert_eq!(decide(&c, "iam:DeleteUser"), Decision::ExplicitlyDenied);
        assert_eq!(decide(&c, "iam:CreateGroup"), Decision::ImplicitlyDenied);
        // A boundary limits what the identity policies allow.
        p.boundary = Some(doc("Allow", "iam:Get*"));
        let c = p.compile().unwrap();
        assert_eq!(decide(&c, "iam:GetUser"), Decision::Allowed);
        assert_eq!(decide(&c, "iam:ListUsers"), Decision::ImplicitlyDenied);
    }

    #[test]
    fn a_session_policy_narrows_a_role() {
        let mut p = PrincipalPolicies::<String>::new(Holder::Role);
        p.own.inline.push(doc("Allow", "iam:*"));
        let c = p.compile().unwrap();
        let session = Policy::parse(&doc("Allow", "iam:Get*"), PolicyKind::Session).unwrap();
        let who = Principal::from_arn("arn:ward:sts::123456789012:assumed-role/r/s").unwrap();
        let req = |action: &str| {
            Request::new(
                who.clone(),
                action,
                "arn:ward:iam::123456789012:user/bob",
                Context::new(),
            )
        };
        let a = c.assemble().with_session(Some(&session));
        assert_eq!(evaluate(&a.set(), &req("iam:GetUser")), Decision::Allowed);
        assert_eq!(
            evaluate(&a.set(), &req("iam:DeleteUser")),
            Decision::ImplicitlyDenied
        );
        // Without the session policy the role allows it.
        let a = c.assemble();
        assert_eq!(
            evaluate(&a.set(), &req("iam:DeleteUser")),
            Decision::Allowed
        );
    }

    #[test]
    fn documents_compile_as_their_holders_kind() {
        let mut seen = Vec::new();
        let mut p = PrincipalPolicies::<&str>::new(Holder::Role);
        p.own.inline.push("r");
        p.own.managed.push("m");
        let mut g = Attached::new(Holder::Group);
        g.inline.push("g");
        p.inherited.push(g);
        p.boundary = Some("b");
        let _ = p.try_map(|d, k| {
            seen.push((d, k));
            Ok::<_, ()>(())
        });
        assert_eq!(
            seen,
            [
                ("r", PolicyKind::InlineRole),
                ("m", PolicyKind::Managed),
                ("g", PolicyKind::InlineGroup),
                ("b", PolicyKind::Managed),
            ]
        );
    }

    #[test]
    fn a_bad_document_is_an_error_not_an_empty_set() {
        let mut p = PrincipalPolicies::<&str>::new(Holder::User);
        p.own.inline.push("{not json");
        assert!(p.compile().is_err());
    }

    #[test]
    fn wanted_reads_every_spelling() {
        assert_eq!(Wanted::of(&doc("Allow", "*")), Wanted::default());
        assert!(Wanted::of(r#""aws:ResourceTag/team""#).resource_tags);
        assert!(Wanted::of(r#""WARD:RESOURCETAG/x""#).resource_tags);
        assert!(Wanted::of(r#""iam:PermissionsBoundary""#).boundary);
        let mut p = PrincipalPolicies::<&str>::new(Holder::User);
        p.boundary = Some(r#""iam:permissionsboundary""#);
        assert!(p.wanted().boundary);
        assert!(!p.wanted().resource_tags);
    }
}
