//! Users' SSH public keys (`ssh_keys`).

use sqlx::{AnyConnection, Row};

use crate::error::ApiError;

#[derive(Debug)]
/// A stored SSH public key of a user.
pub struct SshKeyRow {
    /// `APKA…`.
    pub id: String,
    /// `type base64 comment`, normalised.
    pub public_key: String,
    /// SHA256 fingerprint.
    pub fingerprint: String,
    /// `Active` or `Inactive`.
    pub status: String,
    /// Unix seconds.
    pub uploaded_at: i64,
}

/// A user's SSH public keys, oldest first.
pub async fn keys_of(c: &mut AnyConnection, user_id: &str) -> Result<Vec<SshKeyRow>, ApiError> {
    let rows = sqlx::query("SELECT id, public_key, fingerprint, status, uploaded_at FROM ssh_keys WHERE user_id = $1 ORDER BY uploaded_at, id")
        .bind(user_id)
        .fetch_all(&mut *c)
        .await?;
    rows.iter()
        .map(|r| -> Result<SshKeyRow, sqlx::Error> {
            Ok(SshKeyRow {
                id: r.try_get(0)?,
                public_key: r.try_get(1)?,
                fingerprint: r.try_get(2)?,
                status: r.try_get(3)?,
                uploaded_at: r.try_get(4)?,
            })
        })
        .collect::<Result<_, _>>()
        .map_err(Into::into)
}

/// Stores a new key of `user_id`.
pub async fn insert(c: &mut AnyConnection, user_id: &str, row: &SshKeyRow) -> Result<(), ApiError> {
    sqlx::query("INSERT INTO ssh_keys (id, user_id, public_key, fingerprint, status, uploaded_at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(&row.id)
        .bind(user_id)
        .bind(&row.public_key)
        .bind(&row.fingerprint)
        .bind(&row.status)
        .bind(row.uploaded_at)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Sets a key's status; false if `user_id` has no key `id`.
pub async fn set_status(
    c: &mut AnyConnection,
    user_id: &str,
    id: &str,
    status: &str,
) -> Result<bool, ApiError> {
    let res = sqlx::query("UPDATE ssh_keys SET status = $1 WHERE id = $2 AND user_id = $3")
        .bind(status)
        .bind(id)
        .bind(user_id)
        .execute(&mut *c)
        .await?;
    Ok(res.rows_affected() > 0)
}

/// Removes a key; false if `user_id` has no key `id`.
pub async fn delete(c: &mut AnyConnection, user_id: &str, id: &str) -> Result<bool, ApiError> {
    let res = sqlx::query("DELETE FROM ssh_keys WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(user_id)
        .execute(&mut *c)
        .await?;
    Ok(res.rows_affected() > 0)
}
