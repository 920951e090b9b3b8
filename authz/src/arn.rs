//! ARN builders for every resource type ward authorizes, so that no
//! caller spells `arn:ward:…` by hand. `path` arguments are IAM paths
//! (`/` or `/a/b/`, checked by [`crate::names::path`]); a `name` of `*`
//! builds the wildcard ARN of a listing (`user/ops/*`).

/// `arn:ward:iam::ACCT:root`.
pub fn root(account: &str) -> String {
    format!("arn:ward:iam::{account}:root")
}

/// `arn:ward:iam::ACCT:user{path}{name}`.
pub fn user(account: &str, path: &str, name: &str) -> String {
    format!("arn:ward:iam::{account}:user{path}{name}")
}

/// `arn:ward:iam::ACCT:group{path}{name}`.
pub fn group(account: &str, path: &str, name: &str) -> String {
    format!("arn:ward:iam::{account}:group{path}{name}")
}

/// `arn:ward:iam::ACCT:role{path}{name}`.
pub fn role(account: &str, path: &str, name: &str) -> String {
    format!("arn:ward:iam::{account}:role{path}{name}")
}

/// `arn:ward:iam::ACCT:policy{path}{name}`.
pub fn policy(account: &str, path: &str, name: &str) -> String {
    format!("arn:ward:iam::{account}:policy{path}{name}")
}

/// `arn:ward:sts::ACCT:assumed-role/ROLE/SESSION`: a role session.
pub fn assumed_role(account: &str, role: &str, session: &str) -> String {
    format!("arn:ward:sts::{account}:assumed-role/{role}/{session}")
}

/// `arn:ward:host::ACCT:host/NAME`.
pub fn host(account: &str, name: &str) -> String {
    format!("arn:ward:host::{account}:host/{name}")
}

/// `arn:ward:ca::ACCT:authority/NAME`.
pub fn authority(account: &str, name: &str) -> String {
    format!("arn:ward:ca::{account}:authority/{name}")
}

/// `arn:ward:ca::ACCT:certificate/SERIAL`.
pub fn certificate(account: &str, serial: &str) -> String {
    format!("arn:ward:ca::{account}:certificate/{serial}")
}

/// `arn:ward:audit::ACCT:log`: the audit log.
pub fn audit_log(account: &str) -> String {
    format!("arn:ward:audit::{account}:log")
}

/// `arn:ward:audit::ACCT:recording/ID`: a gateway's session recording
/// (part of the audit record: who did what, frame by frame). `ID` may be
/// `*` for every recording.
pub fn recording(account: &str, id: &str) -> String {
    format!("arn:ward:audit::{account}:recording/{id}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ward_policy::Principal;

    const A: &str = "123456789012";

    #[test]
    fn every_builder_spells_its_resource() {
        assert_eq!(root(A), "arn:ward:iam::123456789012:root");
        assert_eq!(
            user(A, "/", "alice"),
            "arn:ward:iam::123456789012:user/alice"
        );
        assert_eq!(
            user(A, "/ops/", "*"),
            "arn:ward:iam::123456789012:user/ops/*"
        );
        assert_eq!(group(A, "/", "g"), "arn:ward:iam::123456789012:group/g");
        assert_eq!(role(A, "/x/", "r"), "arn:ward:iam::123456789012:role/x/r");
        assert_eq!(policy(A, "/", "p"), "arn:ward:iam::123456789012:policy/p");
        assert_eq!(
            assumed_role(A, "r", "s"),
            "arn:ward:sts::123456789012:assumed-role/r/s"
        );
        assert_eq!(host(A, "db-1"), "arn:ward:host::123456789012:host/db-1");
        assert_eq!(
            authority(A, "ssh-user"),
            "arn:ward:ca::123456789012:authority/ssh-user"
        );
        assert_eq!(
            certificate(A, "42"),
            "arn:ward:ca::123456789012:certificate/42"
        );
        assert_eq!(audit_log(A), "arn:ward:audit::123456789012:log");
    }

    #[test]
    fn principal_arns_parse_as_principals_of_their_kind() {
        for (arn, ty) in [
            (root(A), "Account"),
            (user(A, "/ops/", "alice"), "User"),
            (assumed_role(A, "r", "s"), "AssumedRole"),
        ] {
            let p = Principal::from_arn(&arn).unwrap_or_else(|e| panic!("{arn}: {e:?}"));
            assert_eq!(p.arn(), arn);
            assert_eq!(p.type_name(), ty, "{arn}");
        }
    }
}
