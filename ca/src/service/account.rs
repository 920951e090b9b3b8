//! Account-wide IAM reads: AWS's GetAccountSummary (entity counts and the
//! quotas ward enforces) and GetAccountAuthorizationDetails (every user,
//! group, role and managed policy with the policies that apply to it, read
//! from one consistent snapshot). Both are authorized once on `*`, as AWS
//! does, and write nothing.

use axum::extract::State;
use axum::{Extension, Json};
use ward_protocol::api;

use crate::error::ApiError;
use crate::service::authz::authorize_read;
use crate::service::caller::Caller;
use crate::service::iam::{document_json, group_out, policy_arn, policy_out, user_out};
use crate::service::request::{rfc3339, Q};
use crate::service::roles::role_out;
use crate::state::Shared;
use crate::store::iam::{self, PageRequest, PrincipalType};
use crate::store::{roles, Conn};

/// `GET /v1/account/summary`: the entity counts ward keeps and the quotas
/// it enforces, under AWS's `SummaryMap` keys.
pub(crate) async fn summary(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<api::AccountSummary>, ApiError> {
    authorize_read(&st, &caller, "iam:GetAccountSummary", "*", &[]).await?;
    let mut c = st.store.pool().acquire().await?;
    let mut map: std::collections::BTreeMap<String, i64> = iam::account_counts(&mut c)
        .await?
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    use iam::limits as l;
    for (k, v) in [
        ("AccessKeysPerUserQuota", l::ACCESS_KEYS_PER_USER),
        ("GroupsPerUserQuota", l::GROUPS_PER_USER),
        ("AttachedPoliciesPerUserQuota", l::MANAGED_PER_PRINCIPAL),
        ("AttachedPoliciesPerGroupQuota", l::MANAGED_PER_PRINCIPAL),
        ("AttachedPoliciesPerRoleQuota", l::MANAGED_PER_PRINCIPAL),
        ("VersionsPerPolicyQuota", l::VERSIONS_PER_POLICY),
    ] {
        map.insert(k.to_owned(), v);
    }
    Ok(Json(api::AccountSummary { summary_map: map }))
}

/// `GET /v1/account/authorization-details` query.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DetailsQuery {
    /// Comma-separated `User`, `Group`, `Role`, `LocalManagedPolicy`,
    /// `AWSManagedPolicy` (none in ward); all when absent.
    #[serde(default)]
    filter: Option<String>,
}

/// Which kinds a `filter` asks for: users, groups, roles, policies.
fn kinds(filter: Option<&str>) -> Result<[bool; 4], ApiError> {
    let Some(f) = filter.filter(|f| !f.is_empty()) else {
        return Ok([true; 4]);
    };
    let mut want = [false; 4];
    for part in f.split(',') {
        match part {
            "User" => want[0] = true,
            "Group" => want[1] = true,
            "Role" => want[2] = true,
            "LocalManagedPolicy" => want[3] = true,
            "AWSManagedPolicy" => {}
            _ => {
                return Err(ApiError::invalid(
                    "filter",
                    "filter lists User, Group, Role, LocalManagedPolicy or AWSManagedPolicy",
                ))
            }
        }
    }
    Ok(want)
}

/// A page size for reading whole tables.
const BATCH: i64 = 1000;

fn first_page() -> PageRequest {
    PageRequest {
        marker: String::new(),
        max_items: BATCH,
    }
}

fn next_page(marker: Option<String>) -> Option<PageRequest> {
    marker.map(|marker| PageRequest {
        marker,
        max_items: BATCH,
    })
}

async fn inline(
    c: &mut Conn,
    kind: PrincipalType,
    id: &str,
) -> Result<Vec<api::InlinePolicy>, ApiError> {
    Ok(iam::inline_policies(c, kind, id)
        .await?
        .into_iter()
        .map(|(name, doc)| api::InlinePolicy {
            name,
            document: document_json(&doc),
        })
        .collect())
}

async fn attached(
    st: &Shared,
    c: &mut Conn,
    kind: PrincipalType,
    id: &str,
) -> Result<Vec<api::AttachedPolicyRef>, ApiError> {
    Ok(iam::attached(c, kind, id)
        .await?
        .iter()
        .map(|p| api::AttachedPolicyRef {
            policy_name: p.name.clone(),
            policy_arn: policy_arn(st, p),
        })
        .collect())
}

/// `GET /v1/account/authorization-details?filter=User,Role`: AWS's
/// GetAccountAuthorizationDetails, whole (the Query API pages it).
pub(crate) async fn authorization_details(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    Q(q): Q<DetailsQuery>,
) -> Result<Json<api::AuthorizationDetails>, ApiError> {
    let [users, groups, roles_, policies] = kinds(q.filter.as_deref())?;
    authorize_read(&st, &caller, "iam:GetAccountAuthorizationDetails", "*", &[]).await?;
    let mut out = api::AuthorizationDetails {
        users: Vec::new(),
        groups: Vec::new(),
        roles: Vec::new(),
        policies: Vec::new(),
    };
    let mut tx = st.store.read_tx().await?;
    let mut page = Some(first_page());
    while let Some(pr) = page.take().filter(|_| users) {
        let p = iam::list_users(&mut tx, "/", &pr).await?;
        for u in &p.items {
            let groups = iam::groups_for_user(&mut tx, &u.id)
                .await?
                .into_iter()
                .map(|g| g.name)
                .collect();
            out.users.push(api::UserAuthorization {
                user: user_out(&st, &mut tx, u).await?,
                groups,
                inline_policies: inline(&mut tx, PrincipalType::User, &u.id).await?,
                attached_policies: attached(&st, &mut tx, PrincipalType::User, &u.id).await?,
            });
        }
        page = next_page(p.marker);
    }
    let mut page = Some(first_page());
    while let Some(pr) = page.take().filter(|_| groups) {
        let p = iam::list_groups(&mut tx, "/", &pr).await?;
        for g in &p.items {
            out.groups.push(api::GroupAuthorization {
                group: group_out(&st, g),
                inline_policies: inline(&mut tx, PrincipalType::Group, &g.id).await?,
                attached_policies: attached(&st, &mut tx, PrincipalType::Group, &g.id).await?,
            });
        }
        page = next_page(p.marker);
    }
    let mut page = Some(first_page());
    while let Some(pr) = page.take().filter(|_| roles_) {
        let p = roles::list_roles(&mut tx, "/", &pr).await?;
        for r in &p.items {
            out.roles.push(api::RoleAuthorization {
                role: role_out(&st, &mut tx, r).await?,
                inline_policies: inline(&mut tx, PrincipalType::Role, &r.id).await?,
                attached_policies: attached(&st, &mut tx, PrincipalType::Role, &r.id).await?,
            });
        }
        page = next_page(p.marker);
    }
    let mut page = Some(first_page());
    while let Some(pr) = page.take().filter(|_| policies) {
        let p = iam::list_policies(&mut tx, "/", &pr).await?;
        for m in &p.items {
            let mut versions = Vec::new();
            for (v, t) in iam::policy_versions(&mut tx, &m.id).await? {
                let doc = iam::policy_document(&mut tx, &m.id, v).await?;
                versions.push(api::PolicyVersion {
                    version_id: format!("v{v}"),
                    is_default: v == m.default_version,
                    created: rfc3339(t),
                    document: doc.as_deref().map(document_json),
                });
            }
            out.policies.push(api::PolicyAuthorization {
                policy: policy_out(&st, &mut tx, m, false).await?,
                versions,
            });
        }
        page = next_page(p.marker);
    }
    tx.end_read().await?;
    Ok(Json(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters() {
        assert_eq!(kinds(None).unwrap(), [true; 4]);
        assert_eq!(kinds(Some("")).unwrap(), [true; 4]);
        assert_eq!(
            kinds(Some("Role,LocalManagedPolicy")).unwrap(),
            [false, false, true, true]
        );
        assert_eq!(kinds(Some("AWSManagedPolicy")).unwrap(), [false; 4]);
        assert!(kinds(Some("User,Bucket")).is_err());
    }
}
