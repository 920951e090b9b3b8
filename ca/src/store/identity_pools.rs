//! Identity pools in the store (issue #14 item 4): the pool rows, the
//! identities GetId hands out (a guest's, or one per signed-in user and
//! pool), and which role sessions were issued through a pool — so that
//! deleting a pool ends them and a guest session can be recognised (it
//! may not chain into another role). The sessions themselves are rows of
//! `sessions` ([`super::iam::create_session`]). Pool tags live in
//! `identity_pool_tags` (migration 0018), kept like role tags.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::iam::TagTable;
use crate::error::ApiError;

const POOL_TAGS: TagTable = TagTable {
    table: "identity_pool_tags",
    owner: "pool_id",
    what: "identity pool",
};

/// A pool's tags, in key order.
pub async fn pool_tags(c: &mut AnyConnection, id: &str) -> Result<Vec<(String, String)>, ApiError> {
    POOL_TAGS.get(c, id).await
}

/// Sets tags on a pool (replacing values of existing keys), enforcing the
/// 50-tag limit.
pub async fn tag_pool(
    c: &mut AnyConnection,
    id: &str,
    tags: &[(String, String)],
) -> Result<(), ApiError> {
    POOL_TAGS.set(c, id, tags).await
}

/// Removes tags from a pool by key.
pub async fn untag_pool(c: &mut AnyConnection, id: &str, keys: &[String]) -> Result<(), ApiError> {
    POOL_TAGS.remove(c, id, keys).await
}

/// A pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pool {
    /// `REGION:UUID`.
    pub id: String,
    /// Name (not unique, as Cognito).
    pub name: String,
    /// Whether guests get identities and credentials.
    pub allow_unauthenticated: bool,
    /// The guest role's unique id (`AROA…`).
    pub unauthenticated_role_id: Option<String>,
    /// The signed-in users' role's unique id.
    pub authenticated_role_id: Option<String>,
    /// The fixed guest session policy (`""` when none is set, which
    /// only a pool that refuses guests may have).
    pub session_policy: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// An identity handed out by GetId.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolIdentity {
    /// `REGION:UUID`.
    pub id: String,
    /// Its pool.
    pub pool_id: String,
    /// The signed-in user it is bound to; `None` for a guest's.
    pub user_id: Option<String>,
}

const POOL_COLS: &str = "id, name, allow_unauthenticated, unauthenticated_role_id, authenticated_role_id, session_policy, created_at";

fn pool_row(r: &AnyRow) -> Result<Pool, sqlx::Error> {
    Ok(Pool {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        allow_unauthenticated: r.try_get::<i64, _>("allow_unauthenticated")? != 0,
        unauthenticated_role_id: r.try_get("unauthenticated_role_id")?,
        authenticated_role_id: r.try_get("authenticated_role_id")?,
        session_policy: r.try_get("session_policy")?,
        created_at: r.try_get("created_at")?,
    })
}

/// Stores a new pool.
pub async fn create_pool(c: &mut AnyConnection, p: &Pool) -> Result<(), ApiError> {
    sqlx::query(
        "INSERT INTO identity_pools (id, name, allow_unauthenticated, unauthenticated_role_id, authenticated_role_id, session_policy, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&p.id)
    .bind(&p.name)
    .bind(i64::from(p.allow_unauthenticated))
    .bind(&p.unauthenticated_role_id)
    .bind(&p.authenticated_role_id)
    .bind(&p.session_policy)
    .bind(p.created_at)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// A pool by id.
pub async fn pool(c: &mut AnyConnection, id: &str) -> Result<Option<Pool>, ApiError> {
    let row = sqlx::query(&format!(
        "SELECT {POOL_COLS} FROM identity_pools WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *c)
    .await?;
    Ok(row.as_ref().map(pool_row).transpose()?)
}

/// Up to `limit` pools with ids after `after`, by id.
pub async fn list_pools(
    c: &mut AnyConnection,
    after: &str,
    limit: i64,
) -> Result<Vec<Pool>, ApiError> {
    let rows = sqlx::query(&format!(
        "SELECT {POOL_COLS} FROM identity_pools WHERE id > $1 ORDER BY id LIMIT $2"
    ))
    .bind(after)
    .bind(limit)
    .fetch_all(&mut *c)
    .await?;
    Ok(rows.iter().map(pool_row).collect::<Result<_, _>>()?)
}

/// Writes a pool's mutable fields as given.
pub async fn update_pool(c: &mut AnyConnection, p: &Pool) -> Result<(), ApiError> {
    sqlx::query(
        "UPDATE identity_pools SET name = $1, allow_unauthenticated = $2, unauthenticated_role_id = $3, authenticated_role_id = $4, session_policy = $5 WHERE id = $6",
    )
    .bind(&p.name)
    .bind(i64::from(p.allow_unauthenticated))
    .bind(&p.unauthenticated_role_id)
    .bind(&p.authenticated_role_id)
    .bind(&p.session_policy)
    .bind(&p.id)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Deletes a pool, its identities and every session issued through it
/// (they stop working on their next request). Returns the number of
/// sessions ended.
pub async fn delete_pool(c: &mut AnyConnection, id: &str) -> Result<u64, ApiError> {
    let ended = sqlx::query(
        "DELETE FROM sessions WHERE access_key_id IN (SELECT access_key_id FROM identity_pool_sessions WHERE pool_id = $1)",
    )
    .bind(id)
    .execute(&mut *c)
    .await?
    .rows_affected();
    for sql in [
        "DELETE FROM identity_pool_sessions WHERE pool_id = $1",
        "DELETE FROM identity_pool_identities WHERE pool_id = $1",
        "DELETE FROM identity_pool_tags WHERE pool_id = $1",
        "DELETE FROM identity_pools WHERE id = $1",
    ] {
        sqlx::query(sql).bind(id).execute(&mut *c).await?;
    }
    Ok(ended)
}

/// Stores a new identity.
pub async fn create_identity(
    c: &mut AnyConnection,
    i: &PoolIdentity,
    source: &str,
    now: i64,
) -> Result<(), ApiError> {
    sqlx::query(
        "INSERT INTO identity_pool_identities (id, pool_id, user_id, source_ip, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&i.id)
    .bind(&i.pool_id)
    .bind(&i.user_id)
    .bind(source)
    .bind(now)
    .execute(&mut *c)
    .await?;
    Ok(())
}

fn identity_row(r: &AnyRow) -> Result<PoolIdentity, sqlx::Error> {
    Ok(PoolIdentity {
        id: r.try_get("id")?,
        pool_id: r.try_get("pool_id")?,
        user_id: r.try_get("user_id")?,
    })
}

/// An identity by id.
pub async fn identity(c: &mut AnyConnection, id: &str) -> Result<Option<PoolIdentity>, ApiError> {
    let row =
        sqlx::query("SELECT id, pool_id, user_id FROM identity_pool_identities WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *c)
            .await?;
    Ok(row.as_ref().map(identity_row).transpose()?)
}

/// The identity a signed-in user already has in a pool.
pub async fn user_identity(
    c: &mut AnyConnection,
    pool_id: &str,
    user_id: &str,
) -> Result<Option<PoolIdentity>, ApiError> {
    let row = sqlx::query(
        "SELECT id, pool_id, user_id FROM identity_pool_identities WHERE pool_id = $1 AND user_id = $2",
    )
    .bind(pool_id)
    .bind(user_id)
    .fetch_optional(&mut *c)
    .await?;
    Ok(row.as_ref().map(identity_row).transpose()?)
}

/// Guest identities created from `source` (in every pool).
pub async fn guest_identities_from(c: &mut AnyConnection, source: &str) -> Result<i64, ApiError> {
    Ok(sqlx::query(
        "SELECT COUNT(*) FROM identity_pool_identities WHERE source_ip = $1 AND user_id IS NULL",
    )
    .bind(source)
    .fetch_one(&mut *c)
    .await?
    .try_get::<i64, _>(0)?)
}

/// Records that session `access_key_id` was issued through a pool.
pub async fn record_session(
    c: &mut AnyConnection,
    access_key_id: &str,
    i: &PoolIdentity,
) -> Result<(), ApiError> {
    sqlx::query(
        "INSERT INTO identity_pool_sessions (access_key_id, pool_id, identity_id, guest) VALUES ($1, $2, $3, $4)",
    )
    .bind(access_key_id)
    .bind(&i.pool_id)
    .bind(&i.id)
    .bind(i64::from(i.user_id.is_none()))
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// True if session `access_key_id` is a guest's (issued through a pool
/// to an unauthenticated identity).
pub async fn is_guest_session(
    c: &mut AnyConnection,
    access_key_id: &str,
) -> Result<bool, ApiError> {
    Ok(sqlx::query(
        "SELECT COUNT(*) FROM identity_pool_sessions WHERE access_key_id = $1 AND guest = 1",
    )
    .bind(access_key_id)
    .fetch_one(&mut *c)
    .await?
    .try_get::<i64, _>(0)?
        > 0)
}
