//! IAM entities in the store: users, groups, managed and inline policies,
//! attachments, boundaries, login profiles, access keys and sessions.
//!
//! Functions take a connection: `&mut *mutation.tx` for writes (so they
//! commit with their audit event) or a pooled connection for reads. Limits
//! of SPEC §3 are checked here, inside the transaction, so two concurrent
//! requests cannot both slip under a limit. Names are unique
//! case-insensitively (`name_lc` columns with UNIQUE constraints).

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::error::ApiError;

/// Limits (SPEC §3, AWS IAM defaults).
pub mod limits {
    /// Groups a user may be in.
    pub const GROUPS_PER_USER: i64 = 10;
    /// Managed policies attached to one principal.
    pub const MANAGED_PER_PRINCIPAL: i64 = 10;
    /// Access keys per user.
    pub const ACCESS_KEYS_PER_USER: i64 = 2;
    /// SSH public keys per user.
    pub const SSH_KEYS_PER_USER: i64 = 5;
    /// Versions kept per managed policy.
    pub const VERSIONS_PER_POLICY: i64 = 5;
    /// Inline policy characters (no whitespace) in all, per principal type.
    pub fn inline_total(kind: &str) -> usize {
        match kind {
            "user" => 2_048,
            "group" => 5_120,
            _ => 10_240,
        }
    }
}

/// A user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// `AIDA…`
    pub id: String,
    /// Name as created.
    pub name: String,
    /// Path, `/` by default.
    pub path: String,
    /// Unix uid.
    pub uid: i64,
    /// Primary gid: the user-private group (= uid; NULL only on rows no
    /// code wrote, read as the uid).
    pub gid: Option<i64>,
    /// Home directory, `None` = the configured template.
    pub home: Option<String>,
    /// Login shell, `None` = the configured default.
    pub shell: Option<String>,
    /// GECOS field.
    pub gecos: String,
    /// When the user was disabled (Unix seconds); `None` = enabled.
    pub disabled_at: Option<i64>,
    /// Unix seconds.
    pub created_at: i64,
    /// Permissions boundary policy id, if any.
    pub boundary_policy_id: Option<String>,
}

/// A group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    /// `AGPA…`
    pub id: String,
    /// Name.
    pub name: String,
    /// Path.
    pub path: String,
    /// Unix gid.
    pub gid: i64,
    /// Unix seconds.
    pub created_at: i64,
}

/// A managed policy (its default version's document is loaded separately).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManagedPolicy {
    /// `ANPA…`
    pub id: String,
    /// Name.
    pub name: String,
    /// Path.
    pub path: String,
    /// Description.
    pub description: String,
    /// Default version number (documents are `v1`, `v2`, …).
    pub default_version: i64,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

/// An access key (the secret stays sealed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessKey {
    /// `AKIA…`
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// `Active` or `Inactive`.
    pub status: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub last_used_at: Option<i64>,
}

/// Who a policy is attached to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrincipalType {
    /// A user.
    User,
    /// A group.
    Group,
    /// A role.
    Role,
}

impl PrincipalType {
    /// Column value.
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalType::User => "user",
            PrincipalType::Group => "group",
            PrincipalType::Role => "role",
        }
    }
}

/// A page of results.
#[derive(Clone, Debug)]
pub struct Page<T> {
    /// Items.
    pub items: Vec<T>,
    /// Where the next page starts, if there is one.
    pub marker: Option<String>,
}

/// Pagination input, validated.
#[derive(Clone, Debug)]
pub struct PageRequest {
    /// Start after this (lower-cased) name.
    pub marker: String,
    /// 1..=1000.
    pub max_items: i64,
}

pub(super) fn user_row(r: &AnyRow) -> Result<User, sqlx::Error> {
    Ok(User {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        path: r.try_get("path")?,
        uid: r.try_get("uid")?,
        gid: r.try_get("gid")?,
        home: r.try_get("home")?,
        shell: r.try_get("shell")?,
        gecos: r.try_get("gecos")?,
        disabled_at: r.try_get("disabled_at")?,
        created_at: r.try_get("created_at")?,
        boundary_policy_id: r.try_get("boundary_policy_id")?,
    })
}

fn group_row(r: &AnyRow) -> Result<Group, sqlx::Error> {
    Ok(Group {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        path: r.try_get("path")?,
        gid: r.try_get("gid")?,
        created_at: r.try_get("created_at")?,
    })
}

fn policy_row(r: &AnyRow) -> Result<ManagedPolicy, sqlx::Error> {
    Ok(ManagedPolicy {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        path: r.try_get("path")?,
        description: r.try_get("description")?,
        default_version: r.try_get("default_version")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn key_row(r: &AnyRow) -> Result<AccessKey, sqlx::Error> {
    Ok(AccessKey {
        id: r.try_get("id")?,
        user_id: r.try_get("user_id")?,
        status: r.try_get("status")?,
        created_at: r.try_get("created_at")?,
        last_used_at: r.try_get("last_used_at")?,
    })
}

pub(super) const USER_COLS: &str =
    "id, name, path, uid, gid, home, shell, gecos, disabled_at, created_at, boundary_policy_id";
const GROUP_COLS: &str = "id, name, path, gid, created_at";
const POLICY_COLS: &str = "id, name, path, description, default_version, created_at, updated_at";

/// A kind of named IAM entity (users, groups, managed policies, roles):
/// its table, columns and row reader, so reading one by name or id
/// and listing a page under a path prefix is written once for every kind.
pub(super) struct Kind<T> {
    pub(super) table: &'static str,
    pub(super) cols: &'static str,
    pub(super) row: fn(&AnyRow) -> Result<T, sqlx::Error>,
}

const USERS: Kind<User> = Kind {
    table: "users",
    cols: USER_COLS,
    row: user_row,
};
const GROUPS: Kind<Group> = Kind {
    table: "iam_groups",
    cols: GROUP_COLS,
    row: group_row,
};
const POLICIES: Kind<ManagedPolicy> = Kind {
    table: "policies",
    cols: POLICY_COLS,
    row: policy_row,
};

impl<T> Kind<T> {
    /// The entity whose `column` (`name_lc` or `id`) is `value`.
    pub(super) async fn one(
        &self,
        c: &mut AnyConnection,
        column: &str,
        value: &str,
    ) -> Result<Option<T>, ApiError> {
        let row = sqlx::query(&format!(
            "SELECT {} FROM {} WHERE {column} = $1",
            self.cols, self.table
        ))
        .bind(value)
        .fetch_optional(&mut *c)
        .await?;
        Ok(row.as_ref().map(self.row).transpose()?)
    }

    /// A page in name order under a path prefix.
    pub(super) async fn page(
        &self,
        c: &mut AnyConnection,
        path_prefix: &str,
        page: &PageRequest,
    ) -> Result<Page<T>, ApiError> {
        let rows = sqlx::query(&format!(
            "SELECT {}, name_lc FROM {} WHERE name_lc > $1 AND substr(path, 1, CAST($4 AS INTEGER)) = $2 ORDER BY name_lc LIMIT $3",
            self.cols, self.table
        ))
        .bind(&page.marker)
        .bind(path_prefix)
        .bind(page.max_items + 1)
        .bind(prefix_len(path_prefix))
        .fetch_all(&mut *c)
        .await?;
        paginate(rows, page.max_items, self.row)
    }
}
const KEY_COLS: &str = "id, user_id, status, created_at, last_used_at";

/// True if a store error is a uniqueness violation (a concurrent create).
pub(super) fn is_unique_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => {
            d.code()
                .is_some_and(|c| c == "23505" || c == "2067" || c == "1555")
                || d.message().contains("UNIQUE")
        }
        _ => false,
    }
}

/// The outcome of an INSERT or UPDATE that writes an entity's name: 409
/// `EntityAlreadyExists` for `what` `name` when the UNIQUE constraint on
/// the name refused it (a concurrent create or rename got there first),
/// else how many rows were written.
pub(super) fn name_written(
    res: Result<sqlx::any::AnyQueryResult, sqlx::Error>,
    what: &str,
    name: &str,
) -> Result<u64, ApiError> {
    match res {
        Err(e) if is_unique_violation(&e) => Err(ApiError::exists(what, name)),
        Err(e) => Err(e.into()),
        Ok(r) => Ok(r.rows_affected()),
    }
}

/// Allocates the next Unix id for a user (its uid and user-private gid)
/// or a group (its gid), never reused: one counter, `unix_id`, serves
/// both, so a uid and a gid never name two different entities. It holds
/// the last id handed out (migration 0008 set it above every id in use;
/// `init` sets it to `uid_min - 1`). The old `uid`/`gid` counters of
/// databases made before 0008 stay in the table, unread.
async fn next_unix_id(c: &mut AnyConnection, max: i64) -> Result<i64, ApiError> {
    let row = sqlx::query(
        "UPDATE id_counters SET next_id = next_id + 1 WHERE name = 'unix_id' RETURNING next_id",
    )
    .fetch_optional(&mut *c)
    .await?
    .ok_or_else(|| ApiError::internal("the unix_id counter is missing from id_counters"))?;
    let id: i64 = row.try_get::<i64, _>(0)?;
    if id > max {
        return Err(ApiError::limit(format!(
            "the uid/gid range is exhausted (max {max})"
        )));
    }
    Ok(id)
}

// ---- users -----------------------------------------------------------

/// Creates a user.
pub async fn create_user(
    c: &mut AnyConnection,
    id: &str,
    name: &str,
    path: &str,
    now: i64,
    uid_max: i64,
) -> Result<User, ApiError> {
    if find_user(c, name).await?.is_some() {
        return Err(ApiError::exists("user", name));
    }
    let uid = next_unix_id(c, uid_max).await?;
    // gid = uid: the user-private group.
    let res = sqlx::query("INSERT INTO users (id, name, name_lc, path, uid, gid, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
        .bind(id)
        .bind(name)
        .bind(name.to_lowercase())
        .bind(path)
        .bind(uid)
        .bind(uid)
        .bind(now)
        .execute(&mut *c)
        .await;
    name_written(res, "user", name)?;
    Ok(User {
        id: id.into(),
        name: name.into(),
        path: path.into(),
        uid,
        gid: Some(uid),
        home: None,
        shell: None,
        gecos: String::new(),
        disabled_at: None,
        created_at: now,
        boundary_policy_id: None,
    })
}

/// A user by name (case-insensitive).
pub async fn find_user(c: &mut AnyConnection, name: &str) -> Result<Option<User>, ApiError> {
    USERS.one(c, "name_lc", &name.to_lowercase()).await
}

/// A user by name, or 404.
pub async fn user(c: &mut AnyConnection, name: &str) -> Result<User, ApiError> {
    find_user(c, name)
        .await?
        .ok_or_else(|| ApiError::no_such("user", name))
}

/// A user by unique id.
pub async fn user_by_id(c: &mut AnyConnection, id: &str) -> Result<Option<User>, ApiError> {
    USERS.one(c, "id", id).await
}

/// Users by name order, optionally under a path prefix.
pub async fn list_users(
    c: &mut AnyConnection,
    path_prefix: &str,
    page: &PageRequest,
) -> Result<Page<User>, ApiError> {
    USERS.page(c, path_prefix, page).await
}

/// The length `substr(path, 1, N) = prefix` compares. A prefix is matched
/// exactly and case-sensitively on both backends: `LIKE` would treat `_`
/// and `%` as wildcards and, on SQLite, ignore case (issue #7). Paths and
/// prefixes are printable ASCII, so bytes and characters agree.
fn prefix_len(prefix: &str) -> i64 {
    i64::try_from(prefix.len()).unwrap_or(i64::MAX)
}

fn paginate<T>(
    rows: Vec<AnyRow>,
    max: i64,
    f: fn(&AnyRow) -> Result<T, sqlx::Error>,
) -> Result<Page<T>, ApiError> {
    let truncated = rows.len() as i64 > max;
    let mut items = Vec::new();
    let mut marker = None;
    for (i, r) in rows.iter().enumerate() {
        if i as i64 == max {
            break;
        }
        items.push(f(r)?);
        marker = Some(r.try_get::<String, _>("name_lc")?);
    }
    Ok(Page {
        items,
        marker: if truncated { marker } else { None },
    })
}

/// Renames or moves a user.
pub async fn update_user(
    c: &mut AnyConnection,
    u: &User,
    new_name: Option<&str>,
    new_path: Option<&str>,
) -> Result<User, ApiError> {
    let name = new_name.unwrap_or(&u.name);
    let path = new_path.unwrap_or(&u.path);
    if let Some(n) = new_name {
        if n.to_lowercase() != u.name.to_lowercase() && find_user(c, n).await?.is_some() {
            return Err(ApiError::exists("user", n));
        }
    }
    sqlx::query("UPDATE users SET name = $1, name_lc = $2, path = $3 WHERE id = $4")
        .bind(name)
        .bind(name.to_lowercase())
        .bind(path)
        .bind(&u.id)
        .execute(&mut *c)
        .await?;
    Ok(User {
        name: name.into(),
        path: path.into(),
        ..u.clone()
    })
}

/// Sets a user's POSIX fields (`None` home/shell = the configured
/// defaults); values were validated by `posix`.
pub async fn set_posix(
    c: &mut AnyConnection,
    u: &User,
    home: Option<&str>,
    shell: Option<&str>,
    gecos: &str,
) -> Result<User, ApiError> {
    sqlx::query("UPDATE users SET home = $1, shell = $2, gecos = $3 WHERE id = $4")
        .bind(home)
        .bind(shell)
        .bind(gecos)
        .bind(&u.id)
        .execute(&mut *c)
        .await?;
    Ok(User {
        home: home.map(str::to_owned),
        shell: shell.map(str::to_owned),
        gecos: gecos.to_owned(),
        ..u.clone()
    })
}

/// Disables (`Some(now)`) or enables (`None`) a user. Nothing else
/// changes: keys, sessions and certificates are refused while disabled
/// (see `auth.rs`) and work again once enabled.
pub async fn set_disabled(
    c: &mut AnyConnection,
    u: &User,
    at: Option<i64>,
) -> Result<User, ApiError> {
    sqlx::query("UPDATE users SET disabled_at = $1 WHERE id = $2")
        .bind(at)
        .bind(&u.id)
        .execute(&mut *c)
        .await?;
    Ok(User {
        disabled_at: at,
        ..u.clone()
    })
}

pub(super) async fn count(c: &mut AnyConnection, sql: &str, id: &str) -> Result<i64, ApiError> {
    Ok(sqlx::query(sql)
        .bind(id)
        .fetch_one(&mut *c)
        .await?
        .try_get::<i64, _>(0)?)
}

/// AWS's refusal to delete an entity that others still depend on: 409
/// `DeleteConflict` naming everything `what` (`user`, `group`, `role`)
/// `name` still has. Each check is a `SELECT COUNT(*) … = $1` bound to
/// `id` and what a non-zero count means.
pub(super) async fn refuse_while_in_use(
    c: &mut AnyConnection,
    what: &str,
    name: &str,
    id: &str,
    checks: &[(&str, &'static str)],
) -> Result<(), ApiError> {
    let mut left = Vec::new();
    for (sql, has) in checks {
        if count(c, sql, id).await? > 0 {
            left.push(*has);
        }
    }
    if left.is_empty() {
        return Ok(());
    }
    Err(ApiError::Conflict {
        code: "DeleteConflict",
        message: format!(
            "{what} {name} still has {}; remove them first",
            left.join(", ")
        ),
    })
}

/// Runs each statement (one `$1` parameter) with `id`, in order.
pub(super) async fn execute_each(
    c: &mut AnyConnection,
    statements: &[&str],
    id: &str,
) -> Result<(), ApiError> {
    for sql in statements {
        sqlx::query(sql).bind(id).execute(&mut *c).await?;
    }
    Ok(())
}

/// Deletes a user; like AWS, refuses while the user still has attached
/// policies, inline policies, group memberships, access keys, SSH keys or a
/// login profile (DeleteConflict names them).
pub async fn delete_user(c: &mut AnyConnection, u: &User) -> Result<(), ApiError> {
    let checks = [
        ("SELECT COUNT(*) FROM attachments WHERE principal_type = 'user' AND principal_id = $1", "attached policies"),
        ("SELECT COUNT(*) FROM inline_policies WHERE principal_type = 'user' AND principal_id = $1", "inline policies"),
        ("SELECT COUNT(*) FROM group_members WHERE user_id = $1", "group memberships"),
        ("SELECT COUNT(*) FROM access_keys WHERE user_id = $1", "access keys"),
        ("SELECT COUNT(*) FROM ssh_keys WHERE user_id = $1", "SSH public keys"),
        ("SELECT COUNT(*) FROM login_profiles WHERE user_id = $1", "a login profile"),
        ("SELECT COUNT(*) FROM mfa_devices WHERE user_id = $1", "an MFA device"),
    ];
    refuse_while_in_use(c, "user", &u.name, &u.id, &checks).await?;
    execute_each(
        c,
        &[
            "DELETE FROM sessions WHERE user_id = $1",
            "DELETE FROM user_tags WHERE user_id = $1",
            "DELETE FROM users WHERE id = $1",
        ],
        &u.id,
    )
    .await
}

/// Where an entity kind keeps its tags: `user_tags`/`user_id`,
/// `role_tags`/`role_id`, and the kind's name for limit messages.
#[derive(Clone, Copy)]
pub(super) struct TagTable {
    pub(super) table: &'static str,
    pub(super) owner: &'static str,
    pub(super) what: &'static str,
}

const USER_TAGS: TagTable = TagTable {
    table: "user_tags",
    owner: "user_id",
    what: "user",
};

const POLICY_TAGS: TagTable = TagTable {
    table: "policy_tags",
    owner: "policy_id",
    what: "policy",
};

impl TagTable {
    /// The owner's tags, in key order.
    pub(super) async fn get(
        self,
        c: &mut AnyConnection,
        id: &str,
    ) -> Result<Vec<(String, String)>, ApiError> {
        let rows = sqlx::query(&format!(
            "SELECT tag_key, tag_value FROM {} WHERE {} = $1 ORDER BY key_lc",
            self.table, self.owner
        ))
        .bind(id)
        .fetch_all(&mut *c)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// Sets tags (replacing values of existing keys), enforcing the 50-tag limit.
    pub(super) async fn set(
        self,
        c: &mut AnyConnection,
        id: &str,
        tags: &[(String, String)],
    ) -> Result<(), ApiError> {
        for (k, v) in tags {
            sqlx::query(&format!(
                "DELETE FROM {} WHERE {} = $1 AND key_lc = $2",
                self.table, self.owner
            ))
            .bind(id)
            .bind(k.to_lowercase())
            .execute(&mut *c)
            .await?;
            sqlx::query(&format!(
                "INSERT INTO {} ({}, tag_key, key_lc, tag_value) VALUES ($1, $2, $3, $4)",
                self.table, self.owner
            ))
            .bind(id)
            .bind(k)
            .bind(k.to_lowercase())
            .bind(v)
            .execute(&mut *c)
            .await?;
        }
        let n = count(
            c,
            &format!(
                "SELECT COUNT(*) FROM {} WHERE {} = $1",
                self.table, self.owner
            ),
            id,
        )
        .await?;
        if n > ward_authz::names::MAX_TAGS as i64 {
            return Err(ApiError::limit(format!(
                "a {} may have at most {} tags (would have {n})",
                self.what,
                ward_authz::names::MAX_TAGS
            )));
        }
        Ok(())
    }

    /// Removes tags by key.
    pub(super) async fn remove(
        self,
        c: &mut AnyConnection,
        id: &str,
        keys: &[String],
    ) -> Result<(), ApiError> {
        for k in keys {
            sqlx::query(&format!(
                "DELETE FROM {} WHERE {} = $1 AND key_lc = $2",
                self.table, self.owner
            ))
            .bind(id)
            .bind(k.to_lowercase())
            .execute(&mut *c)
            .await?;
        }
        Ok(())
    }
}

/// A user's tags, in key order.
pub async fn user_tags(
    c: &mut AnyConnection,
    user_id: &str,
) -> Result<Vec<(String, String)>, ApiError> {
    USER_TAGS.get(c, user_id).await
}

/// Sets tags (replacing values of existing keys), enforcing the 50-tag limit.
pub async fn tag_user(
    c: &mut AnyConnection,
    user_id: &str,
    tags: &[(String, String)],
) -> Result<(), ApiError> {
    USER_TAGS.set(c, user_id, tags).await
}

/// Removes tags by key.
pub async fn untag_user(
    c: &mut AnyConnection,
    user_id: &str,
    keys: &[String],
) -> Result<(), ApiError> {
    USER_TAGS.remove(c, user_id, keys).await
}

/// A managed policy's tags, in key order.
pub async fn policy_tags(
    c: &mut AnyConnection,
    policy_id: &str,
) -> Result<Vec<(String, String)>, ApiError> {
    POLICY_TAGS.get(c, policy_id).await
}

/// Sets tags on a managed policy, enforcing the 50-tag limit.
pub async fn tag_policy(
    c: &mut AnyConnection,
    policy_id: &str,
    tags: &[(String, String)],
) -> Result<(), ApiError> {
    POLICY_TAGS.set(c, policy_id, tags).await
}

/// Removes tags from a managed policy by key.
pub async fn untag_policy(
    c: &mut AnyConnection,
    policy_id: &str,
    keys: &[String],
) -> Result<(), ApiError> {
    POLICY_TAGS.remove(c, policy_id, keys).await
}

// ---- groups ----------------------------------------------------------

/// A group by name (case-insensitive).
pub async fn find_group(c: &mut AnyConnection, name: &str) -> Result<Option<Group>, ApiError> {
    GROUPS.one(c, "name_lc", &name.to_lowercase()).await
}

/// A group by name, or 404.
pub async fn group(c: &mut AnyConnection, name: &str) -> Result<Group, ApiError> {
    find_group(c, name)
        .await?
        .ok_or_else(|| ApiError::no_such("group", name))
}

/// Renames or moves a group in place: its id, gid, members and policies
/// (all keyed by id) stay; 409 if another group has the new name.
pub async fn update_group(
    c: &mut AnyConnection,
    g: &Group,
    new_name: Option<&str>,
    new_path: Option<&str>,
) -> Result<Group, ApiError> {
    let name = new_name.unwrap_or(&g.name);
    let path = new_path.unwrap_or(&g.path);
    if name.to_lowercase() != g.name.to_lowercase() && find_group(c, name).await?.is_some() {
        return Err(ApiError::exists("group", name));
    }
    let res = sqlx::query("UPDATE iam_groups SET name = $1, name_lc = $2, path = $3 WHERE id = $4")
        .bind(name)
        .bind(name.to_lowercase())
        .bind(path)
        .bind(&g.id)
        .execute(&mut *c)
        .await;
    if name_written(res, "group", name)? == 0 {
        return Err(ApiError::no_such("group", &g.name));
    }
    Ok(Group {
        name: name.into(),
        path: path.into(),
        ..g.clone()
    })
}

/// Creates a group.
pub async fn create_group(
    c: &mut AnyConnection,
    id: &str,
    name: &str,
    path: &str,
    now: i64,
    gid_max: i64,
) -> Result<Group, ApiError> {
    if find_group(c, name).await?.is_some() {
        return Err(ApiError::exists("group", name));
    }
    let gid = next_unix_id(c, gid_max).await?;
    let res = sqlx::query("INSERT INTO iam_groups (id, name, name_lc, path, gid, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(id)
        .bind(name)
        .bind(name.to_lowercase())
        .bind(path)
        .bind(gid)
        .bind(now)
        .execute(&mut *c)
        .await;
    name_written(res, "group", name)?;
    Ok(Group {
        id: id.into(),
        name: name.into(),
        path: path.into(),
        gid,
        created_at: now,
    })
}

/// Groups by name order.
pub async fn list_groups(
    c: &mut AnyConnection,
    path_prefix: &str,
    page: &PageRequest,
) -> Result<Page<Group>, ApiError> {
    GROUPS.page(c, path_prefix, page).await
}

/// Members of a group, by name.
pub async fn group_members(c: &mut AnyConnection, group_id: &str) -> Result<Vec<User>, ApiError> {
    let rows = sqlx::query(&format!(
        "SELECT {} FROM users u JOIN group_members m ON m.user_id = u.id WHERE m.group_id = $1 ORDER BY u.name_lc",
        USER_COLS.split(", ").map(|c| format!("u.{c}")).collect::<Vec<_>>().join(", ")
    ))
    .bind(group_id)
    .fetch_all(&mut *c)
    .await?;
    Ok(rows.iter().map(user_row).collect::<Result<_, _>>()?)
}

/// Groups a user is in, by name.
pub async fn groups_for_user(c: &mut AnyConnection, user_id: &str) -> Result<Vec<Group>, ApiError> {
    let rows = sqlx::query(
        "SELECT g.id, g.name, g.path, g.gid, g.created_at FROM iam_groups g JOIN group_members m ON m.group_id = g.id WHERE m.user_id = $1 ORDER BY g.name_lc",
    )
    .bind(user_id)
    .fetch_all(&mut *c)
    .await?;
    Ok(rows.iter().map(group_row).collect::<Result<_, _>>()?)
}

/// Adds a user to a group (idempotent), enforcing 10 groups per user.
pub async fn add_user_to_group(c: &mut AnyConnection, g: &Group, u: &User) -> Result<(), ApiError> {
    let already = sqlx::query("SELECT 1 FROM group_members WHERE group_id = $1 AND user_id = $2")
        .bind(&g.id)
        .bind(&u.id)
        .fetch_optional(&mut *c)
        .await?;
    if already.is_some() {
        return Ok(());
    }
    let n = count(
        c,
        "SELECT COUNT(*) FROM group_members WHERE user_id = $1",
        &u.id,
    )
    .await?;
    if n >= limits::GROUPS_PER_USER {
        return Err(ApiError::limit(format!(
            "user {} is already in {n} groups; the limit is {}",
            u.name,
            limits::GROUPS_PER_USER
        )));
    }
    sqlx::query("INSERT INTO group_members (group_id, user_id) VALUES ($1, $2)")
        .bind(&g.id)
        .bind(&u.id)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Removes a user from a group; 404 if not a member.
pub async fn remove_user_from_group(
    c: &mut AnyConnection,
    g: &Group,
    u: &User,
) -> Result<(), ApiError> {
    let res = sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2")
        .bind(&g.id)
        .bind(&u.id)
        .execute(&mut *c)
        .await?;
    if res.rows_affected() == 0 {
        return Err(ApiError::NotFound {
            code: "NoSuchEntity",
            message: format!("user {} is not in group {}", u.name, g.name),
        });
    }
    Ok(())
}

/// Deletes a group; refuses while it has members or policies (AWS).
pub async fn delete_group(c: &mut AnyConnection, g: &Group) -> Result<(), ApiError> {
    let checks = [
        ("SELECT COUNT(*) FROM group_members WHERE group_id = $1", "members"),
        ("SELECT COUNT(*) FROM attachments WHERE principal_type = 'group' AND principal_id = $1", "attached policies"),
        ("SELECT COUNT(*) FROM inline_policies WHERE principal_type = 'group' AND principal_id = $1", "inline policies"),
    ];
    refuse_while_in_use(c, "group", &g.name, &g.id, &checks).await?;
    execute_each(c, &["DELETE FROM iam_groups WHERE id = $1"], &g.id).await
}

// ---- managed policies ------------------------------------------------

/// A managed policy by name.
pub async fn find_policy(
    c: &mut AnyConnection,
    name: &str,
) -> Result<Option<ManagedPolicy>, ApiError> {
    POLICIES.one(c, "name_lc", &name.to_lowercase()).await
}

/// A managed policy by name, or 404.
pub async fn policy(c: &mut AnyConnection, name: &str) -> Result<ManagedPolicy, ApiError> {
    find_policy(c, name)
        .await?
        .ok_or_else(|| ApiError::no_such("policy", name))
}

/// A managed policy by id.
pub async fn policy_by_id(
    c: &mut AnyConnection,
    id: &str,
) -> Result<Option<ManagedPolicy>, ApiError> {
    POLICIES.one(c, "id", id).await
}

/// Creates a managed policy with its first version (v1, default).
pub async fn create_policy(
    c: &mut AnyConnection,
    id: &str,
    name: &str,
    path: &str,
    description: &str,
    document: &str,
    now: i64,
) -> Result<ManagedPolicy, ApiError> {
    if find_policy(c, name).await?.is_some() {
        return Err(ApiError::exists("policy", name));
    }
    let res = sqlx::query(
        "INSERT INTO policies (id, name, name_lc, path, description, default_version, next_version, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 1, 2, $6, $6)",
    )
    .bind(id)
    .bind(name)
    .bind(name.to_lowercase())
    .bind(path)
    .bind(description)
    .bind(now)
    .execute(&mut *c)
    .await;
    name_written(res, "policy", name)?;
    sqlx::query("INSERT INTO policy_versions (policy_id, version, document, created_at) VALUES ($1, 1, $2, $3)")
        .bind(id)
        .bind(document)
        .bind(now)
        .execute(&mut *c)
        .await?;
    Ok(ManagedPolicy {
        id: id.into(),
        name: name.into(),
        path: path.into(),
        description: description.into(),
        default_version: 1,
        created_at: now,
        updated_at: now,
    })
}

/// Managed policies by name order.
pub async fn list_policies(
    c: &mut AnyConnection,
    path_prefix: &str,
    page: &PageRequest,
) -> Result<Page<ManagedPolicy>, ApiError> {
    POLICIES.page(c, path_prefix, page).await
}

/// The document of a policy version.
pub async fn policy_document(
    c: &mut AnyConnection,
    policy_id: &str,
    version: i64,
) -> Result<Option<String>, ApiError> {
    let row =
        sqlx::query("SELECT document FROM policy_versions WHERE policy_id = $1 AND version = $2")
            .bind(policy_id)
            .bind(version)
            .fetch_optional(&mut *c)
            .await?;
    Ok(row.map(|r| r.try_get::<String, _>(0)).transpose()?)
}

/// `(version, created_at)` of every version of a policy.
pub async fn policy_versions(
    c: &mut AnyConnection,
    policy_id: &str,
) -> Result<Vec<(i64, i64)>, ApiError> {
    let rows = sqlx::query(
        "SELECT version, created_at FROM policy_versions WHERE policy_id = $1 ORDER BY version",
    )
    .bind(policy_id)
    .fetch_all(&mut *c)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

/// Adds a version (at most 5 kept, as AWS); optionally the new default.
pub async fn create_policy_version(
    c: &mut AnyConnection,
    p: &ManagedPolicy,
    document: &str,
    set_default: bool,
    now: i64,
) -> Result<i64, ApiError> {
    let n = count(
        c,
        "SELECT COUNT(*) FROM policy_versions WHERE policy_id = $1",
        &p.id,
    )
    .await?;
    if n >= limits::VERSIONS_PER_POLICY {
        return Err(ApiError::limit(format!(
            "policy {} has {n} versions; the limit is {}: delete one first",
            p.name,
            limits::VERSIONS_PER_POLICY
        )));
    }
    let row = sqlx::query("UPDATE policies SET next_version = next_version + 1, updated_at = $1 WHERE id = $2 RETURNING next_version")
        .bind(now)
        .bind(&p.id)
        .fetch_one(&mut *c)
        .await?;
    let version: i64 = row.try_get::<i64, _>(0)? - 1;
    sqlx::query("INSERT INTO policy_versions (policy_id, version, document, created_at) VALUES ($1, $2, $3, $4)")
        .bind(&p.id)
        .bind(version)
        .bind(document)
        .bind(now)
        .execute(&mut *c)
        .await?;
    if set_default {
        sqlx::query("UPDATE policies SET default_version = $1 WHERE id = $2")
            .bind(version)
            .bind(&p.id)
            .execute(&mut *c)
            .await?;
    }
    Ok(version)
}

/// Makes `version` the default.
pub async fn set_default_version(
    c: &mut AnyConnection,
    p: &ManagedPolicy,
    version: i64,
    now: i64,
) -> Result<(), ApiError> {
    if policy_document(c, &p.id, version).await?.is_none() {
        return Err(ApiError::no_such(
            "policy version",
            &format!("v{version} of {}", p.name),
        ));
    }
    sqlx::query("UPDATE policies SET default_version = $1, updated_at = $2 WHERE id = $3")
        .bind(version)
        .bind(now)
        .bind(&p.id)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Deletes a non-default version.
pub async fn delete_policy_version(
    c: &mut AnyConnection,
    p: &ManagedPolicy,
    version: i64,
) -> Result<(), ApiError> {
    if version == p.default_version {
        return Err(ApiError::Conflict {
            code: "DeleteConflict",
            message: format!(
                "v{version} is the default version of {}; set another default first",
                p.name
            ),
        });
    }
    let res = sqlx::query("DELETE FROM policy_versions WHERE policy_id = $1 AND version = $2")
        .bind(&p.id)
        .bind(version)
        .execute(&mut *c)
        .await?;
    if res.rows_affected() == 0 {
        return Err(ApiError::no_such(
            "policy version",
            &format!("v{version} of {}", p.name),
        ));
    }
    Ok(())
}

/// Deletes a policy; refuses while attached or used as a boundary (AWS).
pub async fn delete_policy(c: &mut AnyConnection, p: &ManagedPolicy) -> Result<(), ApiError> {
    // A role's boundary counts as a user's does: deleting it would leave
    // the role naming a policy that no longer exists.
    let (attached, boundary) = usage_counts(c, &p.id).await?;
    if attached + boundary > 0 {
        return Err(ApiError::Conflict {
            code: "DeleteConflict",
            message: format!("policy {} is attached to {attached} principal(s) and is the boundary of {boundary}; detach it first", p.name),
        });
    }
    execute_each(
        c,
        &[
            "DELETE FROM policy_versions WHERE policy_id = $1",
            "DELETE FROM policy_tags WHERE policy_id = $1",
            "DELETE FROM policies WHERE id = $1",
        ],
        &p.id,
    )
    .await
}

/// Where a managed policy is attached: (`user`/`group`/`role`, name,
/// id, path), by type then name.
pub async fn policy_entities(
    c: &mut AnyConnection,
    policy_id: &str,
) -> Result<Vec<(String, String, String, String)>, ApiError> {
    let rows = sqlx::query(
        "SELECT a.principal_type, COALESCE(u.name, g.name, r.name) AS name, a.principal_id, \
         COALESCE(u.path, g.path, r.path) AS path \
         FROM attachments a \
         LEFT JOIN users u ON a.principal_type = 'user' AND u.id = a.principal_id \
         LEFT JOIN iam_groups g ON a.principal_type = 'group' AND g.id = a.principal_id \
         LEFT JOIN roles r ON a.principal_type = 'role' AND r.id = a.principal_id \
         WHERE a.policy_id = $1 ORDER BY a.principal_type, 2",
    )
    .bind(policy_id)
    .fetch_all(&mut *c)
    .await?;
    let mut out = Vec::new();
    for r in &rows {
        let name: Option<String> = r.try_get(1)?;
        let path: Option<String> = r.try_get(3)?;
        if let Some(name) = name {
            out.push((
                r.try_get(0)?,
                name,
                r.try_get(2)?,
                path.unwrap_or_else(|| "/".into()),
            ));
        }
    }
    Ok(out)
}

/// How a managed policy is used, in one query: the principals it is
/// attached to, and the users and roles whose permissions boundary it is.
pub async fn usage_counts(c: &mut AnyConnection, policy_id: &str) -> Result<(i64, i64), ApiError> {
    let r = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM attachments WHERE policy_id = $1), \
         (SELECT COUNT(*) FROM users WHERE boundary_policy_id = $1) + \
         (SELECT COUNT(*) FROM roles WHERE boundary_policy_id = $1)",
    )
    .bind(policy_id)
    .fetch_one(&mut *c)
    .await?;
    Ok((r.try_get::<i64, _>(0)?, r.try_get::<i64, _>(1)?))
}

/// The users and roles whose permissions boundary a policy is, as
/// (`user` | `role`, name, id, path), users first, each by name.
pub async fn boundary_entities(
    c: &mut AnyConnection,
    policy_id: &str,
) -> Result<Vec<(String, String, String, String)>, ApiError> {
    let rows = sqlx::query(
        "SELECT 'user' AS kind, name, id, path, name_lc FROM users WHERE boundary_policy_id = $1 \
         UNION ALL \
         SELECT 'role' AS kind, name, id, path, name_lc FROM roles WHERE boundary_policy_id = $1 \
         ORDER BY 1, 5",
    )
    .bind(policy_id)
    .fetch_all(&mut *c)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.push((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?));
    }
    Ok(out)
}

/// Entity counts for GetAccountSummary, with AWS's `SummaryMap` keys.
pub async fn account_counts(c: &mut AnyConnection) -> Result<Vec<(&'static str, i64)>, ApiError> {
    let queries: [(&'static str, &str); 7] = [
        ("Users", "SELECT COUNT(*) FROM users"),
        ("Groups", "SELECT COUNT(*) FROM iam_groups"),
        ("Roles", "SELECT COUNT(*) FROM roles"),
        ("Policies", "SELECT COUNT(*) FROM policies"),
        ("PolicyVersionsInUse", "SELECT COUNT(*) FROM attachments"),
        ("MFADevices", "SELECT COUNT(*) FROM mfa_devices"),
        (
            "MFADevicesInUse",
            "SELECT COUNT(*) FROM mfa_devices WHERE user_id IS NOT NULL",
        ),
    ];
    let mut out = Vec::new();
    for (key, sql) in queries {
        let n: i64 = sqlx::query(sql).fetch_one(&mut *c).await?.try_get(0)?;
        out.push((key, n));
    }
    Ok(out)
}

// ---- attachments and inline policies --------------------------------

/// Attaches a managed policy (idempotent), enforcing 10 per principal.
pub async fn attach(
    c: &mut AnyConnection,
    kind: PrincipalType,
    principal_id: &str,
    who: &str,
    p: &ManagedPolicy,
) -> Result<(), ApiError> {
    let exists = sqlx::query("SELECT 1 FROM attachments WHERE principal_type = $1 AND principal_id = $2 AND policy_id = $3")
        .bind(kind.as_str())
        .bind(principal_id)
        .bind(&p.id)
        .fetch_optional(&mut *c)
        .await?;
    if exists.is_some() {
        return Ok(());
    }
    let n: i64 = sqlx::query(
        "SELECT COUNT(*) FROM attachments WHERE principal_type = $1 AND principal_id = $2",
    )
    .bind(kind.as_str())
    .bind(principal_id)
    .fetch_one(&mut *c)
    .await?
    .try_get(0)?;
    if n >= limits::MANAGED_PER_PRINCIPAL {
        return Err(ApiError::limit(format!(
            "{} {who} already has {n} managed policies attached; the limit is {}",
            kind.as_str(),
            limits::MANAGED_PER_PRINCIPAL
        )));
    }
    sqlx::query(
        "INSERT INTO attachments (policy_id, principal_type, principal_id) VALUES ($1, $2, $3)",
    )
    .bind(&p.id)
    .bind(kind.as_str())
    .bind(principal_id)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Detaches; 404 if not attached.
pub async fn detach(
    c: &mut AnyConnection,
    kind: PrincipalType,
    principal_id: &str,
    who: &str,
    p: &ManagedPolicy,
) -> Result<(), ApiError> {
    let res = sqlx::query("DELETE FROM attachments WHERE principal_type = $1 AND principal_id = $2 AND policy_id = $3")
        .bind(kind.as_str())
        .bind(principal_id)
        .bind(&p.id)
        .execute(&mut *c)
        .await?;
    if res.rows_affected() == 0 {
        return Err(ApiError::NotFound {
            code: "NoSuchEntity",
            message: format!(
                "policy {} is not attached to {} {who}",
                p.name,
                kind.as_str()
            ),
        });
    }
    Ok(())
}

/// Managed policies attached to a principal.
pub async fn attached(
    c: &mut AnyConnection,
    kind: PrincipalType,
    principal_id: &str,
) -> Result<Vec<ManagedPolicy>, ApiError> {
    let rows = sqlx::query(
        "SELECT p.id, p.name, p.path, p.description, p.default_version, p.created_at, p.updated_at FROM policies p
         JOIN attachments a ON a.policy_id = p.id WHERE a.principal_type = $1 AND a.principal_id = $2 ORDER BY p.name_lc",
    )
    .bind(kind.as_str())
    .bind(principal_id)
    .fetch_all(&mut *c)
    .await?;
    Ok(rows.iter().map(policy_row).collect::<Result<_, _>>()?)
}

/// Characters of a document not counting whitespace (AWS's size measure).
pub fn policy_chars(doc: &str) -> usize {
    doc.chars().filter(|c| !c.is_whitespace()).count()
}

/// Creates or replaces an inline policy, enforcing the per-principal total.
pub async fn put_inline(
    c: &mut AnyConnection,
    kind: PrincipalType,
    principal_id: &str,
    who: &str,
    name: &str,
    document: &str,
) -> Result<(), ApiError> {
    remove_inline(c, kind, principal_id, name).await?;
    let others = inline_policies(c, kind, principal_id).await?;
    let total: usize =
        others.iter().map(|(_, d)| policy_chars(d)).sum::<usize>() + policy_chars(document);
    let max = limits::inline_total(kind.as_str());
    if total > max {
        return Err(ApiError::limit(format!(
            "inline policies of {} {who} would total {total} characters without whitespace; the limit is {max}",
            kind.as_str()
        )));
    }
    sqlx::query("INSERT INTO inline_policies (principal_type, principal_id, name, name_lc, document) VALUES ($1, $2, $3, $4, $5)")
        .bind(kind.as_str())
        .bind(principal_id)
        .bind(name)
        .bind(name.to_lowercase())
        .bind(document)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// `(name, document)` of a principal's inline policies.
pub async fn inline_policies(
    c: &mut AnyConnection,
    kind: PrincipalType,
    principal_id: &str,
) -> Result<Vec<(String, String)>, ApiError> {
    let rows = sqlx::query("SELECT name, document FROM inline_policies WHERE principal_type = $1 AND principal_id = $2 ORDER BY name_lc")
        .bind(kind.as_str())
        .bind(principal_id)
        .fetch_all(&mut *c)
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

/// Deletes an inline policy; 404 if absent.
pub async fn delete_inline(
    c: &mut AnyConnection,
    kind: PrincipalType,
    principal_id: &str,
    who: &str,
    name: &str,
) -> Result<(), ApiError> {
    if remove_inline(c, kind, principal_id, name).await? == 0 {
        return Err(ApiError::NotFound {
            code: "NoSuchEntity",
            message: format!("{} {who} has no inline policy {name}", kind.as_str()),
        });
    }
    Ok(())
}

/// Removes a principal's inline policy `name` (ignoring case); how many
/// rows went (0 or 1).
async fn remove_inline(
    c: &mut AnyConnection,
    kind: PrincipalType,
    principal_id: &str,
    name: &str,
) -> Result<u64, ApiError> {
    let res = sqlx::query("DELETE FROM inline_policies WHERE principal_type = $1 AND principal_id = $2 AND name_lc = $3")
        .bind(kind.as_str())
        .bind(principal_id)
        .bind(name.to_lowercase())
        .execute(&mut *c)
        .await?;
    Ok(res.rows_affected())
}

/// Sets or clears a user's permissions boundary.
pub async fn set_boundary(
    c: &mut AnyConnection,
    user_id: &str,
    policy_id: Option<&str>,
) -> Result<(), ApiError> {
    sqlx::query("UPDATE users SET boundary_policy_id = $1 WHERE id = $2")
        .bind(policy_id)
        .bind(user_id)
        .execute(&mut *c)
        .await?;
    Ok(())
}

// ---- credentials -----------------------------------------------------

/// A user's password hash, if they have a login profile.
pub async fn password_hash(
    c: &mut AnyConnection,
    user_id: &str,
) -> Result<Option<String>, ApiError> {
    let row = sqlx::query("SELECT password_hash FROM login_profiles WHERE user_id = $1")
        .bind(user_id)
        .fetch_optional(&mut *c)
        .await?;
    Ok(row.map(|r| r.try_get::<String, _>(0)).transpose()?)
}

/// A user's password hash and whether a reset is required, if they have a
/// login profile.
pub async fn login_profile(
    c: &mut AnyConnection,
    user_id: &str,
) -> Result<Option<(String, bool)>, ApiError> {
    let row =
        sqlx::query("SELECT password_hash, reset_required FROM login_profiles WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(&mut *c)
            .await?;
    Ok(row
        .map(|r| -> Result<_, sqlx::Error> {
            Ok((r.try_get::<String, _>(0)?, r.try_get::<i64, _>(1)? != 0))
        })
        .transpose()?)
}

/// A login profile as the host password routes need it.
pub struct LoginProfileRow {
    /// The Argon2id PHC string.
    pub hash: String,
    /// Must be changed at the next login.
    pub reset_required: bool,
    /// Moves on every create, update, reset and change (see migration
    /// 0010): hosts drop their offline verifier when it does.
    pub version: u64,
}

/// A user's login profile with its version, if they have one.
pub async fn login_profile_row(
    c: &mut AnyConnection,
    user_id: &str,
) -> Result<Option<LoginProfileRow>, ApiError> {
    let row = sqlx::query(
        "SELECT password_hash, reset_required, version FROM login_profiles WHERE user_id = $1",
    )
    .bind(user_id)
    .fetch_optional(&mut *c)
    .await?;
    Ok(row
        .map(|r| -> Result<_, sqlx::Error> {
            Ok(LoginProfileRow {
                hash: r.try_get(0)?,
                reset_required: r.try_get::<i64, _>(1)? != 0,
                version: u64::try_from(r.try_get::<i64, _>(2)?).unwrap_or(0),
            })
        })
        .transpose()?)
}

/// The version a login profile written in this mutation gets: the
/// mutation's audit sequence number (`audit_head.seq`, already bumped and
/// locked by this transaction), so versions only grow, also across a
/// delete and re-create.
async fn profile_version(c: &mut AnyConnection) -> Result<i64, ApiError> {
    Ok(sqlx::query("SELECT seq FROM audit_head WHERE id = 1")
        .fetch_one(&mut *c)
        .await?
        .try_get(0)?)
}

/// Creates or replaces a login profile and revokes every session of the
/// user (a changed or reset password ends what the old one opened).
/// Returns how many sessions were revoked.
///
/// Runs inside a [`crate::store::Mutation`]: the profile's version becomes
/// the mutation's audit sequence number (`audit_head.seq`, already bumped
/// and locked by this transaction), so versions only grow, also across a
/// delete and re-create.
pub async fn set_password(
    c: &mut AnyConnection,
    user_id: &str,
    hash: &str,
    reset_required: bool,
    now: i64,
) -> Result<u64, ApiError> {
    let existed = password_hash(c, user_id).await?.is_some();
    let version = profile_version(c).await?;
    if existed {
        sqlx::query("UPDATE login_profiles SET password_hash = $1, reset_required = $2, updated_at = $3, version = $5 WHERE user_id = $4")
            .bind(hash)
            .bind(i64::from(reset_required))
            .bind(now)
            .bind(user_id)
            .bind(version)
            .execute(&mut *c)
            .await?;
    } else {
        sqlx::query("INSERT INTO login_profiles (user_id, password_hash, reset_required, created_at, updated_at, version) VALUES ($1, $2, $3, $4, $4, $5)")
            .bind(user_id)
            .bind(hash)
            .bind(i64::from(reset_required))
            .bind(now)
            .bind(version)
            .execute(&mut *c)
            .await?;
    }
    revoke_sessions(c, user_id).await
}

/// Creates a login profile only if the user has none: one conditional
/// INSERT, so two racing creates cannot both succeed and neither
/// overwrites a profile made meanwhile (409 `EntityAlreadyExists`).
/// Revokes the user's sessions as [`set_password`] does; returns how many.
pub async fn create_password(
    c: &mut AnyConnection,
    user_id: &str,
    who: &str,
    hash: &str,
    reset_required: bool,
    now: i64,
) -> Result<u64, ApiError> {
    let version = profile_version(c).await?;
    let res = sqlx::query(
        "INSERT INTO login_profiles (user_id, password_hash, reset_required, created_at, updated_at, version) \
         VALUES ($1, $2, $3, $4, $4, $5) ON CONFLICT (user_id) DO NOTHING",
    )
    .bind(user_id)
    .bind(hash)
    .bind(i64::from(reset_required))
    .bind(now)
    .bind(version)
    .execute(&mut *c)
    .await?;
    if res.rows_affected() == 0 {
        return Err(ApiError::exists("login profile for user", who));
    }
    revoke_sessions(c, user_id).await
}

/// Changes an existing login profile's password and/or reset flag (404 if
/// the user has none: one conditional UPDATE). A new password revokes the
/// user's sessions, as [`set_password`] does; returns how many.
pub async fn update_password(
    c: &mut AnyConnection,
    user_id: &str,
    who: &str,
    hash: Option<&str>,
    reset_required: Option<bool>,
    now: i64,
) -> Result<u64, ApiError> {
    let version = profile_version(c).await?;
    let res = sqlx::query(
        "UPDATE login_profiles SET password_hash = COALESCE($1, password_hash), \
         reset_required = COALESCE($2, reset_required), updated_at = $3, version = $4 \
         WHERE user_id = $5",
    )
    .bind(hash.map(str::to_owned))
    .bind(reset_required.map(i64::from))
    .bind(now)
    .bind(version)
    .bind(user_id)
    .execute(&mut *c)
    .await?;
    if res.rows_affected() == 0 {
        return Err(ApiError::no_such("login profile for user", who));
    }
    if hash.is_some() {
        revoke_sessions(c, user_id).await
    } else {
        Ok(0)
    }
}

/// A login profile's creation time and reset flag, if the user has one.
pub async fn login_profile_info(
    c: &mut AnyConnection,
    user_id: &str,
) -> Result<Option<(i64, bool)>, ApiError> {
    let row =
        sqlx::query("SELECT created_at, reset_required FROM login_profiles WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(&mut *c)
            .await?;
    Ok(row
        .map(|r| -> Result<_, sqlx::Error> {
            Ok((r.try_get::<i64, _>(0)?, r.try_get::<i64, _>(1)? != 0))
        })
        .transpose()?)
}

/// Deletes a login profile (and every session of the user); 404 if none.
pub async fn delete_password(
    c: &mut AnyConnection,
    user_id: &str,
    who: &str,
) -> Result<(), ApiError> {
    let res = sqlx::query("DELETE FROM login_profiles WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *c)
        .await?;
    if res.rows_affected() == 0 {
        return Err(ApiError::no_such("login profile for user", who));
    }
    revoke_sessions(c, user_id).await?;
    Ok(())
}

/// Stores a new access key, enforcing 2 per user.
pub async fn create_access_key(
    c: &mut AnyConnection,
    id: &str,
    user: &User,
    sealed: &[u8],
    now: i64,
) -> Result<AccessKey, ApiError> {
    let n = count(
        c,
        "SELECT COUNT(*) FROM access_keys WHERE user_id = $1",
        &user.id,
    )
    .await?;
    if n >= limits::ACCESS_KEYS_PER_USER {
        return Err(ApiError::limit(format!(
            "user {} already has {n} access keys; the limit is {}",
            user.name,
            limits::ACCESS_KEYS_PER_USER
        )));
    }
    sqlx::query("INSERT INTO access_keys (id, user_id, secret_sealed, status, created_at) VALUES ($1, $2, $3, 'Active', $4)")
        .bind(id)
        .bind(&user.id)
        .bind(sealed.to_vec())
        .bind(now)
        .execute(&mut *c)
        .await?;
    Ok(AccessKey {
        id: id.into(),
        user_id: user.id.clone(),
        status: "Active".into(),
        created_at: now,
        last_used_at: None,
    })
}

/// A user's access keys.
pub async fn access_keys(c: &mut AnyConnection, user_id: &str) -> Result<Vec<AccessKey>, ApiError> {
    let rows = sqlx::query(&format!(
        "SELECT {KEY_COLS} FROM access_keys WHERE user_id = $1 ORDER BY created_at, id"
    ))
    .bind(user_id)
    .fetch_all(&mut *c)
    .await?;
    Ok(rows.iter().map(key_row).collect::<Result<_, _>>()?)
}

/// An access key with its sealed secret, by id.
pub async fn access_key_secret(
    c: &mut AnyConnection,
    id: &str,
) -> Result<Option<(AccessKey, Vec<u8>)>, ApiError> {
    let row = sqlx::query(&format!(
        "SELECT {KEY_COLS}, secret_sealed FROM access_keys WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *c)
    .await?;
    match row {
        None => Ok(None),
        Some(r) => Ok(Some((key_row(&r)?, r.try_get("secret_sealed")?))),
    }
}

/// Sets a key's status; 404 if the user has no such key.
pub async fn set_access_key_status(
    c: &mut AnyConnection,
    user: &User,
    id: &str,
    status: &str,
) -> Result<(), ApiError> {
    let res = sqlx::query("UPDATE access_keys SET status = $1 WHERE id = $2 AND user_id = $3")
        .bind(status)
        .bind(id)
        .bind(&user.id)
        .execute(&mut *c)
        .await?;
    if res.rows_affected() == 0 {
        return Err(ApiError::no_such(
            "access key",
            &format!("{id} of user {}", user.name),
        ));
    }
    Ok(())
}

/// Deletes a key; 404 if the user has no such key.
pub async fn delete_access_key(
    c: &mut AnyConnection,
    user: &User,
    id: &str,
) -> Result<(), ApiError> {
    let res = sqlx::query("DELETE FROM access_keys WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(&user.id)
        .execute(&mut *c)
        .await?;
    if res.rows_affected() == 0 {
        return Err(ApiError::no_such(
            "access key",
            &format!("{id} of user {}", user.name),
        ));
    }
    Ok(())
}

/// A key's last use: owner id, then (time, region, service) if it was
/// ever used; `None` if there is no such key.
pub async fn access_key_last_used(
    c: &mut AnyConnection,
    id: &str,
) -> Result<Option<(String, Option<(i64, String, String)>)>, ApiError> {
    let row = sqlx::query(
        "SELECT user_id, last_used_at, last_used_region, last_used_service FROM access_keys WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *c)
    .await?;
    let Some(r) = row else {
        return Ok(None);
    };
    let user_id: String = r.try_get(0)?;
    let at: Option<i64> = r.try_get(1)?;
    let region: Option<String> = r.try_get(2)?;
    let service: Option<String> = r.try_get(3)?;
    Ok(Some((
        user_id,
        at.map(|t| (t, region.unwrap_or_default(), service.unwrap_or_default())),
    )))
}

/// Records a key's last use.
pub async fn touch_access_key(
    c: &mut AnyConnection,
    id: &str,
    now: i64,
    region: &str,
    service: &str,
) -> Result<(), ApiError> {
    sqlx::query("UPDATE access_keys SET last_used_at = $1, last_used_region = $2, last_used_service = $3 WHERE id = $4")
        .bind(now)
        .bind(region)
        .bind(service)
        .bind(id)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// A temporary credential: a user's (password login, GetSessionToken) or
/// a role's (AssumeRole). Exactly one of `user_id` and `role_id` is set.
#[derive(Clone, Debug, Default)]
pub struct Session {
    /// `ASIA…`
    pub access_key_id: String,
    /// Owner, for a user session.
    pub user_id: Option<String>,
    /// How it was obtained (`password`, `session-token`, `assume-role`).
    pub auth_method: String,
    /// Unix seconds.
    pub expires_at: i64,
    /// SHA-256 of the session token.
    pub token_hash: String,
    /// The sealed secret access key.
    pub secret_sealed: Vec<u8>,
    /// Unix seconds (`ward:TokenIssueTime`).
    pub created_at: i64,
    /// The address the session was opened from.
    pub source_ip: String,
    /// Opened with a password that must be changed: the session may only
    /// change it (and ask who it is).
    pub password_change_only: bool,
    /// When a second factor was verified for it (Unix seconds), if one was.
    pub mfa_authenticated_at: Option<i64>,
    /// The role, for a role session.
    pub role_id: Option<String>,
    /// `RoleSessionName` (role sessions).
    pub session_name: String,
    /// The session policy (inline and managed session policies merged
    /// into one document at AssumeRole), if any.
    pub session_policy: Option<String>,
    /// Session tags.
    pub session_tags: Vec<(String, String)>,
    /// Keys of the session tags that pass on to a chained session.
    pub transitive_tag_keys: Vec<String>,
    /// `SourceIdentity`, if set (it passes on to chained sessions).
    pub source_identity: Option<String>,
    /// Assumed by a role session (role chaining).
    pub chained: bool,
}

/// Stores a session.
pub async fn create_session(c: &mut AnyConnection, s: &Session, now: i64) -> Result<(), ApiError> {
    sqlx::query("DELETE FROM sessions WHERE expires_at < $1")
        .bind(now)
        .execute(&mut *c)
        .await?;
    let tags = serde_json::to_string(&s.session_tags).map_err(ApiError::internal)?;
    let transitive = serde_json::to_string(&s.transitive_tag_keys).map_err(ApiError::internal)?;
    sqlx::query(
        "INSERT INTO sessions (access_key_id, token_hash, secret_sealed, user_id, auth_method, created_at, expires_at, source_ip, password_change_only, mfa_authenticated_at, role_id, session_name, session_policy, session_tags, transitive_tag_keys, source_identity, chained) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
    )
    .bind(&s.access_key_id)
    .bind(&s.token_hash)
    .bind(s.secret_sealed.clone())
    .bind(&s.user_id)
    .bind(&s.auth_method)
    .bind(now)
    .bind(s.expires_at)
    .bind(&s.source_ip)
    .bind(i64::from(s.password_change_only))
    .bind(s.mfa_authenticated_at)
    .bind(&s.role_id)
    .bind(&s.session_name)
    .bind(&s.session_policy)
    .bind(tags)
    .bind(transitive)
    .bind(&s.source_identity)
    .bind(i64::from(s.chained))
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// A JSON column.
fn json<T: serde::de::DeserializeOwned>(r: &AnyRow, col: &str) -> Result<T, sqlx::Error> {
    let text: String = r.try_get(col)?;
    serde_json::from_str(&text).map_err(|e| sqlx::Error::ColumnDecode {
        index: col.to_owned(),
        source: Box::new(e),
    })
}

fn session_row(r: &AnyRow) -> Result<Session, sqlx::Error> {
    Ok(Session {
        access_key_id: r.try_get("access_key_id")?,
        user_id: r.try_get("user_id")?,
        auth_method: r.try_get("auth_method")?,
        expires_at: r.try_get("expires_at")?,
        token_hash: r.try_get("token_hash")?,
        secret_sealed: r.try_get("secret_sealed")?,
        created_at: r.try_get("created_at")?,
        source_ip: r.try_get("source_ip")?,
        password_change_only: r.try_get::<i64, _>("password_change_only")? != 0,
        mfa_authenticated_at: r.try_get("mfa_authenticated_at")?,
        role_id: r.try_get("role_id")?,
        session_name: r.try_get("session_name")?,
        session_policy: r.try_get("session_policy")?,
        session_tags: json(r, "session_tags")?,
        transitive_tag_keys: json(r, "transitive_tag_keys")?,
        source_identity: r.try_get("source_identity")?,
        chained: r.try_get::<i64, _>("chained")? != 0,
    })
}

const SESSION_COLS: &str = "access_key_id, user_id, auth_method, expires_at, token_hash, secret_sealed, created_at, source_ip, password_change_only, mfa_authenticated_at, role_id, session_name, session_policy, session_tags, transitive_tag_keys, source_identity, chained";

/// A user's unexpired sessions, oldest first.
pub async fn user_sessions(
    c: &mut AnyConnection,
    user_id: &str,
    now: i64,
) -> Result<Vec<Session>, ApiError> {
    let rows = sqlx::query(&format!(
        "SELECT {SESSION_COLS} FROM sessions WHERE user_id = $1 AND expires_at > $2 ORDER BY created_at, access_key_id"
    ))
    .bind(user_id)
    .bind(now)
    .fetch_all(&mut *c)
    .await?;
    Ok(rows.iter().map(session_row).collect::<Result<_, _>>()?)
}

/// Revokes every session of a user; returns how many there were.
pub async fn revoke_sessions(c: &mut AnyConnection, user_id: &str) -> Result<u64, ApiError> {
    let res = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *c)
        .await?;
    Ok(res.rows_affected())
}

/// Revokes one session of a user; false if the user has no such session.
pub async fn revoke_session(
    c: &mut AnyConnection,
    user_id: &str,
    access_key_id: &str,
) -> Result<bool, ApiError> {
    let res = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND access_key_id = $2")
        .bind(user_id)
        .bind(access_key_id)
        .execute(&mut *c)
        .await?;
    Ok(res.rows_affected() == 1)
}

/// The session whose `column` (a unique one) is `value`.
async fn session_where(
    c: &mut AnyConnection,
    column: &str,
    value: &str,
) -> Result<Option<Session>, ApiError> {
    let row = sqlx::query(&format!(
        "SELECT {SESSION_COLS} FROM sessions WHERE {column} = $1"
    ))
    .bind(value)
    .fetch_optional(&mut *c)
    .await?;
    Ok(row.as_ref().map(session_row).transpose()?)
}

/// A session by its `ASIA…` key id.
pub async fn session_by_key(
    c: &mut AnyConnection,
    access_key_id: &str,
) -> Result<Option<Session>, ApiError> {
    session_where(c, "access_key_id", access_key_id).await
}

/// A session by the SHA-256 of its token.
pub async fn session_by_token_hash(
    c: &mut AnyConnection,
    token_hash: &str,
) -> Result<Option<Session>, ApiError> {
    session_where(c, "token_hash", token_hash).await
}

// ---- throttling ------------------------------------------------------
//
// A `throttle` row counts the attempts reserved for a scope (a user name
// or a source address) in the current window. An attempt is reserved by
// one conditional UPDATE *before* the password is verified, so however
// many requests race, at most `max` verifications run per window, across
// every replica sharing the database: PostgreSQL re-checks the WHERE
// clause on the locked row, SQLite serialises writers. A success resets
// the count; a failure leaves its reservation counted and, at `max`, locks
// the scope; a lock is only ever extended, never shortened.

/// Reserves one password attempt for `scope`: `Ok(None)` if granted,
/// `Ok(Some(seconds))` if the scope is locked (or has `max` attempts in
/// flight or failed) and may try again in that many seconds.
pub async fn reserve_attempt(
    c: &mut AnyConnection,
    scope: &str,
    now: i64,
    max: i64,
    window: i64,
) -> Result<Option<i64>, ApiError> {
    sqlx::query("INSERT INTO throttle (scope, failures, window_start, locked_until) VALUES ($1, 0, $2, 0) ON CONFLICT (scope) DO NOTHING")
        .bind(scope)
        .bind(now)
        .execute(&mut *c)
        .await?;
    // A lapsed lock or window starts a fresh count; an active lock, or
    // `max` attempts already reserved in the window, refuses.
    let res = sqlx::query(
        "UPDATE throttle SET
           failures = CASE WHEN locked_until > 0 OR window_start <= $2 - $3 THEN 1 ELSE failures + 1 END,
           window_start = CASE WHEN locked_until > 0 OR window_start <= $2 - $3 THEN $2 ELSE window_start END,
           locked_until = 0
         WHERE scope = $1 AND locked_until <= $2
           AND (failures < $4 OR locked_until > 0 OR window_start <= $2 - $3)",
    )
    .bind(scope)
    .bind(now)
    .bind(window)
    .bind(max)
    .execute(&mut *c)
    .await?;
    if res.rows_affected() == 1 {
        return Ok(None);
    }
    let row = sqlx::query("SELECT window_start, locked_until FROM throttle WHERE scope = $1")
        .bind(scope)
        .fetch_optional(&mut *c)
        .await?;
    let (start, until) = match row {
        Some(r) => (r.try_get::<i64, _>(0)?, r.try_get::<i64, _>(1)?),
        None => (now, 0),
    };
    let wait = if until > now {
        until - now
    } else {
        start + window - now
    };
    Ok(Some(wait.max(1)))
}

/// Gives back an attempt reserved by [`reserve_attempt`] that verified no
/// password (the request was refused for another reason).
pub async fn release_attempt(c: &mut AnyConnection, scope: &str) -> Result<(), ApiError> {
    sqlx::query(
        "UPDATE throttle SET failures = failures - 1 WHERE scope = $1 AND failures > 0 AND locked_until = 0",
    )
    .bind(scope)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Records that the attempt reserved for `scope` failed: at `max`
/// attempts in the window the scope is locked until `now + lockout`. An
/// existing later lock is kept: a failure never shortens a lock.
pub async fn record_failure(
    c: &mut AnyConnection,
    scope: &str,
    now: i64,
    max: i64,
    lockout: i64,
) -> Result<(), ApiError> {
    sqlx::query(
        "UPDATE throttle SET locked_until = CASE WHEN failures >= $2 AND locked_until < $3 THEN $3 ELSE locked_until END WHERE scope = $1",
    )
    .bind(scope)
    .bind(max)
    .bind(now + lockout)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Resets the count for `scope` after a success (an active lock, set by
/// attempts that failed meanwhile, stays), and forgets lapsed rows.
pub async fn clear_failures(
    c: &mut AnyConnection,
    scope: &str,
    now: i64,
    window: i64,
) -> Result<(), ApiError> {
    sqlx::query(
        "UPDATE throttle SET failures = 0, window_start = $2 WHERE scope = $1 AND locked_until = 0",
    )
    .bind(scope)
    .bind(now)
    .execute(&mut *c)
    .await?;
    sqlx::query("DELETE FROM throttle WHERE locked_until <= $1 AND window_start <= $1 - $2")
        .bind(now)
        .bind(window)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// A root access key's status and sealed secret.
pub async fn root_access_key(
    c: &mut AnyConnection,
    id: &str,
) -> Result<Option<(String, Vec<u8>)>, ApiError> {
    use sqlx::Row;
    let row = sqlx::query("SELECT status, secret_sealed FROM root_access_keys WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *c)
        .await?;
    Ok(row
        .map(|r| -> Result<_, sqlx::Error> { Ok((r.try_get(0)?, r.try_get(1)?)) })
        .transpose()?)
}

/// One policy document attached to a user or to one of the user's groups.
#[derive(Debug)]
pub struct AttachedDocument {
    /// The document text (a managed policy's default version, or inline).
    pub document: String,
    /// `user` or `group`.
    pub principal_type: String,
    /// The user's or the group's id.
    pub principal_id: String,
    /// An inline policy (else managed).
    pub inline: bool,
}

/// Every policy document that bears on `user_id`: managed (default
/// versions) first, then inline, each for the user and the groups it is in.
pub async fn attached_documents(
    c: &mut AnyConnection,
    user_id: &str,
) -> Result<Vec<AttachedDocument>, ApiError> {
    let managed = sqlx::query(
        "SELECT v.document, a.principal_type, a.principal_id FROM attachments a
           JOIN policies p ON p.id = a.policy_id
           JOIN policy_versions v ON v.policy_id = p.id AND v.version = p.default_version
         WHERE (a.principal_type = 'user' AND a.principal_id = $1)
            OR (a.principal_type = 'group' AND a.principal_id IN (SELECT group_id FROM group_members WHERE user_id = $1))",
    )
    .bind(user_id)
    .fetch_all(&mut *c)
    .await?;
    let inline = sqlx::query(
        "SELECT document, principal_type, principal_id FROM inline_policies
         WHERE (principal_type = 'user' AND principal_id = $1)
            OR (principal_type = 'group' AND principal_id IN (SELECT group_id FROM group_members WHERE user_id = $1))",
    )
    .bind(user_id)
    .fetch_all(&mut *c)
    .await?;
    let mut out = Vec::with_capacity(managed.len() + inline.len());
    for (rows, inline) in [(managed, false), (inline, true)] {
        for r in rows {
            out.push(AttachedDocument {
                document: r.try_get(0)?,
                principal_type: r.try_get(1)?,
                principal_id: r.try_get(2)?,
                inline,
            });
        }
    }
    Ok(out)
}

/// Stores a new, active root access key (its secret sealed).
pub async fn insert_root_access_key(
    c: &mut AnyConnection,
    id: &str,
    secret_sealed: Vec<u8>,
    now: i64,
) -> Result<(), ApiError> {
    sqlx::query("INSERT INTO root_access_keys (id, secret_sealed, status, created_at) VALUES ($1, $2, 'Active', $3)")
        .bind(id)
        .bind(secret_sealed)
        .bind(now)
        .execute(&mut *c)
        .await?;
    Ok(())
}
