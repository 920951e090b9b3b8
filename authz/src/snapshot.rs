//! A user's policy documents from a host snapshot
//! ([`ward_protocol::host::Snapshot`]): the one assembly that the host
//! agent decides logins with and that ward-ca's access map
//! (`POST /v1/simulate/matrix`) decides its matrix with, so a map cell and
//! a login on the host cannot be assembled differently.

use ward_protocol::host::{Snapshot, SnapshotUser};

use crate::set::{Attached, Holder, PrincipalPolicies};

/// Why a user's policies could not be assembled or compiled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssemblyError(pub String);

impl std::fmt::Display for AssemblyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AssemblyError {}

/// The documents that bear on `user`, as texts: its own inline and managed
/// ones, each of its groups' (in the order the user lists them), and its
/// boundary. A group or managed policy the snapshot does not hold is an
/// error (a partial set could allow what a full one denies).
pub fn user_documents<'s>(
    snap: &'s Snapshot,
    user: &'s SnapshotUser,
) -> Result<PrincipalPolicies<&'s str>, AssemblyError> {
    let policy = |arn: &str| -> Result<&'s str, AssemblyError> {
        snap.policies
            .iter()
            .find(|p| p.arn == arn)
            .map(|p| p.document.as_str())
            .ok_or_else(|| AssemblyError(format!("managed policy {arn} is not in the snapshot")))
    };
    let mut docs = PrincipalPolicies::<&str>::new(Holder::User);
    docs.own.inline = user.inline_policies.iter().map(String::as_str).collect();
    docs.own.managed = user
        .managed_policies
        .iter()
        .map(|a| policy(a))
        .collect::<Result<_, _>>()?;
    for name in &user.groups {
        let g = snap
            .groups
            .iter()
            .find(|g| &g.name == name)
            .ok_or_else(|| AssemblyError(format!("group {name} is not in the snapshot")))?;
        let mut a = Attached::new(Holder::Group);
        a.inline = g.inline_policies.iter().map(String::as_str).collect();
        a.managed = g
            .managed_policies
            .iter()
            .map(|p| policy(p))
            .collect::<Result<_, _>>()?;
        docs.inherited.push(a);
    }
    docs.boundary = user
        .permissions_boundary
        .as_deref()
        .map(policy)
        .transpose()?;
    Ok(docs)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use ward_protocol::host::{SnapshotGroup, SnapshotPolicy};

    fn user(groups: &[&str], managed: &[&str]) -> SnapshotUser {
        SnapshotUser {
            name: "u".into(),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
            inline_policies: vec!["i".into()],
            managed_policies: managed.iter().map(|m| (*m).to_owned()).collect(),
            ..SnapshotUser::default()
        }
    }

    fn snap() -> Snapshot {
        Snapshot {
            policies: vec![SnapshotPolicy {
                arn: "arn:p".into(),
                document: "m".into(),
            }],
            groups: vec![SnapshotGroup {
                name: "g".into(),
                inline_policies: vec!["gi".into()],
                managed_policies: vec!["arn:p".into()],
                ..SnapshotGroup::default()
            }],
            ..Snapshot::default()
        }
    }

    #[test]
    fn own_group_and_managed_documents_are_assembled_and_a_missing_one_is_an_error() {
        let s = snap();
        let u = user(&["g"], &["arn:p"]);
        let d = user_documents(&s, &u).unwrap();
        assert_eq!(
            d.identity().copied().collect::<Vec<_>>(),
            ["i", "m", "gi", "m"]
        );
        let u = user(&["nope"], &[]);
        assert!(user_documents(&s, &u).unwrap_err().0.contains("group nope"));
        let u = user(&[], &["arn:missing"]);
        assert!(user_documents(&s, &u).is_err());
    }
}
