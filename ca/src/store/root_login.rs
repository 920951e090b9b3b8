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
}

/// Stores a root session (and forgets expired ones).
pub async fn create_session(c: &mut AnyConnection, s: &RootSession) -> Result<(), ApiError> {
    sqlx::query("DELETE FROM root_sessions WHERE expires_at <= $1")
        .bind(s.created_at)
        .execute(&mut *c)
        .await?;
    sqlx::query(
        "INSERT INTO root_sessions (id, token_hash, created_at, expires_at, source_ip) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&s.id)
    .bind(&s.token_hash)
    .bind(s.created_at)
    .bind(s.expires_at)
    .bind(&s.source_ip)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// The root session whose token hashes to `token_hash`, if any.
pub async fn session_by_token_hash(
    c: &mut AnyConnection,
    token_hash: &str,
) -> Result<Option<RootSession>, ApiError> {
    let row = sqlx::query(
        "SELECT id, token_hash, created_at, expires_at, source_ip FROM root_sessions WHERE token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(&mut *c)
    .await?;
    Ok(row
        .map(|r| -> Result<_, sqlx::Error> {
            Ok(RootSession {
                id: r.try_get(0)?,
                token_hash: r.try_get(1)?,
                created_at: r.try_get(2)?,
                expires_at: r.try_get(3)?,
                source_ip: r.try_get(4)?,
            })
        })
        .transpose()?)
}

/// Ends one root session; false if there was none with that id.
pub async fn revoke_session(c: &mut AnyConnection, id: &str) -> Result<bool, ApiError> {
    let res = sqlx::query("DELETE FROM root_sessions WHERE id = $1")
        .bind(id)
        .execute(&mut *c)
        .await?;
    Ok(res.rows_affected() == 1)
}
