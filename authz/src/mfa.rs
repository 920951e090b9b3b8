//! Whether an MFA check can bear on a principal's decisions for an action,
//! read from its policies alone ([`may_require`]): no request, no target.
//!
//! ward-gateway must decide at login, before a ProxyJump client names its
//! target, whether to ask for a code. Deciding `host:Connect` against every
//! registered host answered that exactly but cost one decision per host on
//! the authentication path; this answers it from the policy set in time
//! proportional to its statements. The answer errs towards asking: a
//! statement counts when its `Action`/`NotAction` admits the action and it
//! can look at `ward:MultiFactorAuthPresent` or `ward:MultiFactorAuthAge`
//! (any case, `aws:` or `ward:`; a condition on the key or a `${…}`
//! variable naming it), whatever its effect (an `Allow` that needs MFA, a
//! `Deny` that MFA lifts), its resource, principal or other conditions.
//! When no statement does, an MFA check cannot change any decision for
//! the action: every request is decided the same with and without one.

use ward_policy::PolicySet;

use crate::context::keys::{MFA_AGE, MFA_PRESENT};

/// True if a normalised key (lower case, `ward:`) is an MFA key.
fn mfa_key(k: &str) -> bool {
    k.eq_ignore_ascii_case(MFA_PRESENT) || k.eq_ignore_ascii_case(MFA_AGE)
}

/// Whether some statement of `set` (identity, resource, boundary or
/// session policy) that may apply to `action` can consult an MFA key:
/// `false` means an MFA check changes no decision of `set` for `action`.
pub fn may_require(set: &PolicySet<'_>, action: &str) -> bool {
    set.identity
        .iter()
        .chain(set.boundaries)
        .copied()
        .chain(set.resource)
        .chain(set.session)
        .flat_map(|p| p.statements())
        .any(|s| s.may_apply_to(action) && s.may_consult(mfa_key))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::context::{context, resource_tags, RequestFacts};
    use crate::set::{Holder, PrincipalPolicies};
    use ward_policy::{Policy, Principal, Request};

    const CONNECT: &str = "host:Connect";

    fn doc(statements: &str) -> String {
        format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#)
    }

    fn compiled(own: &[String], boundary: Option<String>) -> PrincipalPolicies<Policy> {
        let mut p = PrincipalPolicies::<String>::new(Holder::User);
        p.own.inline = own.to_vec();
        p.boundary = boundary;
        p.compile().unwrap()
    }

    fn required(own: &[String]) -> bool {
        may_require(&compiled(own, None).assemble().set(), CONNECT)
    }

    const ALLOW_ALL: &str = r#"{"Effect":"Allow","Action":"host:Connect","Resource":"*"}"#;
    const ALLOW_MFA: &str = r#"{"Effect":"Allow","Action":"host:Connect","Resource":"*",
        "Condition":{"Bool":{"ward:MultiFactorAuthPresent":"true"}}}"#;
    const DENY_NO_MFA: &str = r#"{"Effect":"Deny","Action":"host:*","Resource":"*",
        "Condition":{"BoolIfExists":{"aws:MultiFactorAuthPresent":"false"}}}"#;

    #[test]
    fn an_allow_that_needs_mfa_requires_it() {
        assert!(required(&[doc(ALLOW_MFA)]));
        // The age alone, in another spelling.
        assert!(required(&[doc(
            r#"{"Effect":"Allow","Action":"host:Connect","Resource":"arn:ward:host::*:host/db-*",
                "Condition":{"NumericLessThan":{"AWS:multifactorauthage":"300"}}}"#
        )]));
        // Beside an allow without MFA (another host may need it).
        assert!(required(&[doc(ALLOW_ALL), doc(ALLOW_MFA)]));
    }

    #[test]
    fn a_deny_that_mfa_lifts_requires_it() {
        assert!(required(&[doc(&format!("{ALLOW_ALL},{DENY_NO_MFA}"))]));
    }

    #[test]
    fn wildcards_and_not_action_are_read() {
        for (action, needed) in [
            (r#""Action":"*""#, true),
            (r#""Action":"host:*""#, true),
            (r#""Action":"host:Conn?ct""#, true),
            (r#""Action":"HOST:CONNECT""#, true),
            (r#""NotAction":"iam:*""#, true),
            (r#""NotAction":["iam:*","host:Connect"]"#, false),
            (r#""NotAction":"host:*""#, false),
            (r#""Action":"host:Login""#, false),
            (r#""Action":["host:Sudo","iam:*"]"#, false),
        ] {
            let st = format!(
                r#"{{"Effect":"Allow",{action},"Resource":"*",
                    "Condition":{{"Bool":{{"ward:MultiFactorAuthPresent":"true"}}}}}}"#
            );
            assert_eq!(required(&[doc(&st)]), needed, "{action}");
        }
    }

    #[test]
    fn no_mfa_key_no_mfa() {
        assert!(!required(&[]));
        assert!(!required(&[doc(ALLOW_ALL)]));
        assert!(!required(&[doc(
            r#"{"Effect":"Allow","Action":"host:Connect","Resource":"*",
                "Condition":{"StringEquals":{"ward:ResourceTag/env":"prod","host:Service":"gateway"},
                             "Bool":{"ward:SecureTransport":"true"}}}"#
        )]));
        // MFA on another action only.
        assert!(!required(&[doc(&format!(
            r#"{ALLOW_ALL},{{"Effect":"Allow","Action":"host:Login","Resource":"*",
                "Condition":{{"Bool":{{"ward:MultiFactorAuthPresent":"true"}}}}}}"#
        ))]));
    }

    #[test]
    fn a_boundary_or_a_variable_counts() {
        let set = compiled(&[doc(ALLOW_ALL)], Some(doc(ALLOW_MFA)));
        assert!(may_require(&set.assemble().set(), CONNECT));
        assert!(required(&[doc(
            r#"{"Effect":"Allow","Action":"host:Connect","Resource":"*",
                "Condition":{"StringEquals":{"host:Principal":"${ward:MultiFactorAuthPresent}"}}}"#
        )]));
    }

    /// Where [`may_require`] says no, the decision with an MFA check made
    /// now equals the decision without one, for every host and source.
    #[test]
    fn no_means_mfa_changes_no_decision() {
        let docs = [
            vec![],
            vec![doc(ALLOW_ALL)],
            vec![doc(ALLOW_MFA)],
            vec![doc(&format!("{ALLOW_ALL},{DENY_NO_MFA}"))],
            vec![doc(r#"{"Effect":"Allow","Action":"host:*","Resource":"*",
                    "Condition":{"StringEquals":{"ward:ResourceTag/env":"dev"}}},
                   {"Effect":"Allow","Action":"host:Login","Resource":"*",
                    "Condition":{"Bool":{"ward:MultiFactorAuthPresent":"true"}}}"#)],
        ];
        let who = Principal::from_arn("arn:ward:iam::123456789012:user/alice").unwrap();
        let (mut yes, mut no) = (0, 0);
        for own in &docs {
            let c = compiled(own, None);
            let a = c.assemble();
            let set = a.set();
            let changes = ["dev", "prod"].iter().any(|env| {
                let decide = |mfa: Option<i64>| {
                    let facts = RequestFacts {
                        source_ip: None,
                        now: 1_700_000_000,
                        secure_transport: true,
                        auth_method: "ssh-certificate",
                        mfa_authenticated_at: mfa,
                        principal_tags: &[],
                    };
                    let extra = resource_tags([("env", *env)]);
                    let ctx = context(CONNECT, &facts, &crate::context::refs(&extra));
                    let req = Request::new(
                        who.clone(),
                        CONNECT,
                        "arn:ward:host::123456789012:host/web-01",
                        ctx,
                    );
                    crate::decide(&set, &req).allowed
                };
                decide(None) != decide(Some(1_700_000_000))
            });
            if may_require(&set, CONNECT) {
                yes += 1;
            } else {
                no += 1;
                assert!(!changes, "{own:?}: MFA changed a decision");
            }
            // And where MFA changes a decision, it is required.
            assert!(!changes || may_require(&set, CONNECT), "{own:?}");
        }
        assert_eq!((yes, no), (2, 3));
    }
}
