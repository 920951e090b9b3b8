//! The decision: ward-policy's [`evaluate`] on the hot path, and its
//! [`explain`] only when the answer is a denial (the explanation is what a
//! 403 says and what the audit log records); [`decision`] never explains.

use ward_policy::{evaluate, explain, Explanation, PolicySet, Request};

/// An authorization decision.
#[derive(Clone, Debug)]
pub struct Decision {
    /// True if the request is allowed.
    pub allowed: bool,
    /// Allowed, implicitly or explicitly denied.
    pub decision: ward_policy::Decision,
    /// Why it was denied; `None` when allowed (not computed).
    pub explanation: Option<Explanation>,
}

/// Decides `request` against `set`.
pub fn decide(set: &PolicySet<'_>, request: &Request) -> Decision {
    let d = evaluate(set, request);
    if d.is_allowed() {
        return Decision {
            allowed: true,
            decision: d,
            explanation: None,
        };
    }
    let e = explain(set, request);
    Decision {
        allowed: false,
        decision: e.decision,
        explanation: Some(e),
    }
}

/// The decision alone, never explained: for a caller that decides many
/// requests and explains only the few a person asks about (ward-ca's
/// access map). Always the same as [`decide`]'s `decision`.
pub fn decision(set: &PolicySet<'_>, request: &Request) -> ward_policy::Decision {
    evaluate(set, request)
}

/// What a session opened with a password that must be changed may do,
/// whatever its policies allow: change it, and ask who it is.
pub const PASSWORD_CHANGE_ONLY_ACTIONS: &[&str] = &["iam:ChangePassword", "sts:GetCallerIdentity"];

/// True if a password-change-only session may ask for `action`.
pub fn password_change_allows(action: &str) -> bool {
    PASSWORD_CHANGE_ONLY_ACTIONS.contains(&action)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ward_policy::{Context, Policy, PolicyKind, Principal};

    fn req(action: &str) -> Request {
        let who = Principal::from_arn("arn:ward:iam::123456789012:user/alice").unwrap();
        Request::new(
            who,
            action,
            "arn:ward:iam::123456789012:user/alice",
            Context::new(),
        )
    }

    #[test]
    fn explains_denials_only() {
        let p = Policy::parse(
            r#"{"Version":"2012-10-17","Statement":[
                {"Effect":"Allow","Action":"iam:Get*","Resource":"*"},
                {"Effect":"Deny","Action":"iam:GetUser","Resource":"*"}]}"#,
            PolicyKind::InlineUser,
        )
        .unwrap();
        let set = PolicySet {
            identity: &[&p],
            ..PolicySet::default()
        };
        let d = decide(&set, &req("iam:GetLoginProfile"));
        assert!(d.allowed && d.explanation.is_none());
        assert_eq!(d.decision, ward_policy::Decision::Allowed);
        let d = decide(&set, &req("iam:GetUser"));
        assert!(!d.allowed);
        assert_eq!(d.decision, ward_policy::Decision::ExplicitlyDenied);
        assert_eq!(d.explanation.unwrap().decision, d.decision);
        let d = decide(&set, &req("iam:ListUsers"));
        assert_eq!(d.decision, ward_policy::Decision::ImplicitlyDenied);
        for a in ["iam:GetLoginProfile", "iam:GetUser", "iam:ListUsers"] {
            assert_eq!(decision(&set, &req(a)), decide(&set, &req(a)).decision);
        }
        assert!(d.explanation.unwrap().message.contains("iam:ListUsers"));
    }

    #[test]
    fn password_change_only_sessions_may_change_it_and_ask_who_they_are() {
        assert!(password_change_allows("iam:ChangePassword"));
        assert!(password_change_allows("sts:GetCallerIdentity"));
        assert!(!password_change_allows("iam:GetUser"));
        assert!(!password_change_allows("iam:changepassword"));
    }
}
