//! Roles in the store: the role rows, their tags, trust policies and
//! permissions boundaries, and the documents a role session's decisions
//! read. A role's inline policies and managed attachments are the shared
//! `inline_policies`/`attachments` rows with `principal_type = 'role'`
//! (the functions in [`super::iam`] serve every principal type). Role
//! sessions are rows of `sessions` with `role_id` set
//! ([`super::iam::create_session`]).

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::iam::{
    execute_each, name_written, refuse_while_in_use, Kind, Page, PageRequest, TagTable,
};
use crate::error::ApiError;

/// Shortest and longest `MaxSessionDuration` (1 h to 12 h, as AWS).
pub const MAX_SESSION_RANGE: (i64, i64) = (3_600, 43_200);

/// A role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Role {
    /// `AROA…`
    pub id: String,
    /// Name as created.
    pub name: String,
    /// Path, `/` by default.
    pub path: String,
    /// Description.
    pub description: String,
    /// The trust policy as stored: user and role principals by unique id.
    pub trust_policy: String,
    /// Longest session, seconds.
    pub max_session_duration: i64,
    /// Permissions boundary policy id, if any.
    pub boundary_policy_id: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
}

fn role_row(r: &AnyRow) -> Result<Role, sqlx::Error> {
    Ok(Role {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        path: r.try_get("path")?,
        description: r.try_get("description")?,
        trust_policy: r.try_get("trust_policy")?,
        max_session_duration: r.try_get("max_session_duration")?,
        boundary_policy_id: r.try_get("boundary_policy_id")?,
        created_at: r.try_get("created_at")?,
    })
}

const ROLES: Kind<Role> = Kind {
    table: "roles",
    cols: "id, name, path, description, trust_policy, max_session_duration, boundary_policy_id, created_at",
    row: role_row,
};

const ROLE_TAGS: TagTable = TagTable {
    table: "role_tags",
    owner: "role_id",
    what: "role",
};

/// A role by name (case-insensitive).
pub async fn find_role(c: &mut AnyConnection, name: &str) -> Result<Option<Role>, ApiError> {
    ROLES.one(c, "name_lc", &name.to_lowercase()).await
}

/// A role by its `AROA…` id.
pub async fn role_by_id(c: &mut AnyConnection, id: &str) -> Result<Option<Role>, ApiError> {
    ROLES.one(c, "id", id).await
}

/// Roles by name order under a path prefix.
pub async fn list_roles(
    c: &mut AnyConnection,
    path_prefix: &str,
    page: &PageRequest,
) -> Result<Page<Role>, ApiError> {
    ROLES.page(c, path_prefix, page).await
}

/// Creates a role (409 `EntityAlreadyExists` if the name is taken).
pub async fn create_role(c: &mut AnyConnection, r: &Role) -> Result<(), ApiError> {
    if find_role(c, &r.name).await?.is_some() {
        return Err(ApiError::exists("role", &r.name));
    }
    let res = sqlx::query(
        "INSERT INTO roles (id, name, name_lc, path, description, trust_policy, max_session_duration, boundary_policy_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&r.id)
    .bind(&r.name)
    .bind(r.name.to_lowercase())
    .bind(&r.path)
    .bind(&r.description)
    .bind(&r.trust_policy)
    .bind(r.max_session_duration)
    .bind(&r.boundary_policy_id)
    .bind(r.created_at)
    .execute(&mut *c)
    .await;
    name_written(res, "role", &r.name)?;
    Ok(())
}

/// Writes a role's mutable fields (description, maximum session
/// duration, trust policy, boundary) as given.
pub async fn update_role(c: &mut AnyConnection, r: &Role) -> Result<(), ApiError> {
    sqlx::query(
        "UPDATE roles SET description = $1, max_session_duration = $2, trust_policy = $3, boundary_policy_id = $4 WHERE id = $5",
    )
    .bind(&r.description)
    .bind(r.max_session_duration)
    .bind(&r.trust_policy)
    .bind(&r.boundary_policy_id)
    .bind(&r.id)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Deletes a role; `DeleteConflict` (409) while managed or inline
/// policies are attached, as AWS. Its tags and sessions go with it.
pub async fn delete_role(c: &mut AnyConnection, r: &Role) -> Result<(), ApiError> {
    let checks = [
        ("SELECT COUNT(*) FROM attachments WHERE principal_type = 'role' AND principal_id = $1", "attached policies"),
        ("SELECT COUNT(*) FROM inline_policies WHERE principal_type = 'role' AND principal_id = $1", "inline policies"),
    ];
    refuse_while_in_use(c, "role", &r.name, &r.id, &checks).await?;
    execute_each(
        c,
        &[
            "DELETE FROM sessions WHERE role_id = $1",
            "DELETE FROM role_tags WHERE role_id = $1",
            "DELETE FROM roles WHERE id = $1",
        ],
        &r.id,
    )
    .await
}

/// A role's tags, in key order.
pub async fn role_tags(
    c: &mut AnyConnection,
    role_id: &str,
) -> Result<Vec<(String, String)>, ApiError> {
    ROLE_TAGS.get(c, role_id).await
}

/// Sets tags on a role, enforcing the 50-tag limit.
pub async fn tag_role(
    c: &mut AnyConnection,
    role_id: &str,
    tags: &[(String, String)],
) -> Result<(), ApiError> {
    ROLE_TAGS.set(c, role_id, tags).await
}

/// Removes tags from a role by key.
pub async fn untag_role(
    c: &mut AnyConnection,
    role_id: &str,
    keys: &[String],
) -> Result<(), ApiError> {
    ROLE_TAGS.remove(c, role_id, keys).await
}

/// `(document, inline)` of every policy attached to a role: managed
/// (default versions) first, then inline.
pub async fn role_documents(
    c: &mut AnyConnection,
    role_id: &str,
) -> Result<Vec<(String, bool)>, ApiError> {
    let managed = sqlx::query(
        "SELECT v.document FROM attachments a
           JOIN policies p ON p.id = a.policy_id
           JOIN policy_versions v ON v.policy_id = p.id AND v.version = p.default_version
         WHERE a.principal_type = 'role' AND a.principal_id = $1",
    )
    .bind(role_id)
    .fetch_all(&mut *c)
    .await?;
    let inline = sqlx::query(
        "SELECT document FROM inline_policies WHERE principal_type = 'role' AND principal_id = $1 ORDER BY name_lc",
    )
    .bind(role_id)
    .fetch_all(&mut *c)
    .await?;
    let mut out = Vec::with_capacity(managed.len() + inline.len());
    for (rows, is_inline) in [(managed, false), (inline, true)] {
        for r in rows {
            out.push((r.try_get(0)?, is_inline));
        }
    }
    Ok(out)
}
