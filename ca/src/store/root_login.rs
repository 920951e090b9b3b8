//! The account root's dashboard password (`root_login_profile`, one row)
//! and the sessions it opens (`root_sessions`; migration 0019). Root is not
//! a user row: its password is set only on the server machine
//! (`ward-ca root-password`), and its sessions are looked up by the
//! SHA-256 of their bearer token, as users' sessions are.

use sqlx::{AnyConnection, Row};

use crate::error::ApiError;

/// Root's password hash (Argon2id PHC string), if one was set.
pub async fn password_hash(c: &mut AnyConnection) -> Result<Option<String>, ApiError> {
    let row = sqlx::query("SELECT password_hash FROM root_login_profile WHERE id = 1")
        .fetch_optional(&mut *c)
        .await?;
    Ok(row.map(|r| r.try_get::<String, _>(0)).transpose()?)
}

/// Sets root's password hash and ends every root session (a new password
/// ends what the old one opened). Returns how many sessions were ended.
pub async fn set_password(c: &mut AnyConnection, hash: &str, now: i64) -> Result<u64, ApiError> {
    let updated = sqlx::query(
        "UPDATE root_login_profile SET password_hash = $1, updated_at = $2 WHERE id = 1",
    )
    .bind(hash)
    .bind(now)
    .execute(&mut *c)
    .await?;
    if updated.rows_affected() == 0 {
        sqlx::query(
            "INSERT INTO root_login_profile (id, password_hash, created_at, updated_at) VALUES (1, $1, $2, $2)",
        )
        .bind(hash)
        .bind(now)
        .execute(&mut *c)
        .await?;
    }
    let revoked = sqlx::query("DELETE FROM root_sessions")
        .execute(&mut *c)
        .await?;
    Ok(revoked.rows_affected())
}

/// A root session.
#[derive(Debug, Clone)]
pub struct RootSession {
    /// `ASIA…`, its id (audit records, sign-out).
    pub id: String,
    /// SHA-256 (hex) of its bearer token.
    pub token_hash: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub expires_at: i64,
    /// Where it was opened from.
    pub source_ip: String,
    /// Unix seconds: the last request authenticated with it (kept to
    /// [`SEEN_GRANULARITY`]); its creation until then.
    pub last_seen: i64,
    /// The sign-in's `User-Agent` (cut), if it sent one.
    pub user_agent: Option<String>,
}

/// How stale `last_seen` may get before authentication writes it again
/// (seconds): at most one write a minute per session.
pub const SEEN_GRANULARITY: i64 = 60;

const COLUMNS: &str = "id, token_hash, created_at, expires_at, source_ip, last_seen, user_agent";

fn from_row(r: &sqlx::any::AnyRow) -> Result<RootSession, sqlx::Error> {
    let created_at: i64 = r.try_get(2)?;
    Ok(RootSession {
        id: r.try_get(0)?,
        token_hash: r.try_get(1)?,
        created_at,
        expires_at: r.try_get(3)?,
        source_ip: r.try_get(4)?,
        last_seen: r.try_get::<Option<i64>, _>(5)?.unwrap_or(created_at),
        user_agent: r.try_get(6)?,
    })
}

/// Stores a root session (and forgets expired ones).
pub async fn create_session(c: &mut AnyConnection, s: &RootSession) -> Result<(), ApiError> {
    sqlx::query("DELETE FROM root_sessions WHERE expires_at <= $1")
        .bind(s.created_at)
        .execute(&mut *c)
        .await?;
    sqlx::query(
        "INSERT INTO root_sessions (id, token_hash, created_at, expires_at, source_ip, last_seen, user_agent) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&s.id)
    .bind(&s.token_hash)
    .bind(s.created_at)
    .bind(s.expires_at)
    .bind(&s.source_ip)
    .bind(s.last_seen)
    .bind(s.user_agent.clone())
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// The root session whose token hashes to `token_hash`, if any.
pub async fn session_by_token_hash(
    c: &mut AnyConnection,
    token_hash: &str,
) -> Result<Option<RootSession>, ApiError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM root_sessions WHERE token_hash = $1"
    ))
    .bind(token_hash)
    .fetch_optional(&mut *c)
    .await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}

/// The root sessions not expired at `now`, oldest first.
pub async fn open_sessions(c: &mut AnyConnection, now: i64) -> Result<Vec<RootSession>, ApiError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM root_sessions WHERE expires_at > $1 ORDER BY created_at, id"
    ))
    .bind(now)
    .fetch_all(&mut *c)
    .await?;
    Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
}

/// Notes that session `id` was used at `now`, unless that was noted less
/// than [`SEEN_GRANULARITY`] ago (no write then). Outside the audited
/// mutation path: it never moves the generation.
pub async fn seen(c: &mut AnyConnection, id: &str, now: i64) -> Result<(), ApiError> {
    sqlx::query(
        "UPDATE root_sessions SET last_seen = $1 WHERE id = $2 AND (last_seen IS NULL OR last_seen <= $3)",
    )
    .bind(now)
    .bind(id)
    .bind(now - SEEN_GRANULARITY)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Ends every root session but `keep`; the ids ended.
pub async fn revoke_others(c: &mut AnyConnection, keep: &str) -> Result<Vec<String>, ApiError> {
    let rows = sqlx::query("SELECT id FROM root_sessions WHERE id <> $1 ORDER BY created_at, id")
        .bind(keep)
        .fetch_all(&mut *c)
        .await?;
    let ids: Vec<String> = rows
        .iter()
        .map(|r| r.try_get::<String, _>(0))
        .collect::<Result<_, _>>()?;
    sqlx::query("DELETE FROM root_sessions WHERE id <> $1")
        .bind(keep)
        .execute(&mut *c)
        .await?;
    Ok(ids)
}

/// Ends one root session; false if there was none with that id.
pub async fn revoke_session(c: &mut AnyConnection, id: &str) -> Result<bool, ApiError> {
    let res = sqlx::query("DELETE FROM root_sessions WHERE id = $1")
        .bind(id)
        .execute(&mut *c)
        .await?;
    Ok(res.rows_affected() == 1)
}
