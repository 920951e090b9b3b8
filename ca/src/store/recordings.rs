//! Session recordings uploaded by gateways (`recordings`, migration 0020;
//! issue #15): the asciicast bytes with their id, the uploading gateway,
//! size, SHA-256 and upload time. Rows are written once and never
//! updated; the service decides who may write which id.

use sqlx::{AnyConnection, Row};

use crate::error::ApiError;

/// What is stored about a recording, without its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Meta {
    /// `gws-…`.
    pub id: String,
    /// The uploading gateway's host id (`AHOA…`).
    pub host_id: String,
    /// Its host name at upload time.
    pub host_name: String,
    /// Bytes.
    pub size: i64,
    /// SHA-256 of the bytes (hex).
    pub sha256: String,
    /// Unix seconds.
    pub created_at: i64,
}

const COLUMNS: &str = "id, host_id, host_name, size, sha256, created_at";

fn meta(r: &sqlx::any::AnyRow) -> Result<Meta, ApiError> {
    Ok(Meta {
        id: r.try_get(0)?,
        host_id: r.try_get(1)?,
        host_name: r.try_get(2)?,
        size: r.try_get(3)?,
        sha256: r.try_get(4)?,
        created_at: r.try_get(5)?,
    })
}

/// The recording `id`'s metadata, if it is stored.
pub async fn get_meta(c: &mut AnyConnection, id: &str) -> Result<Option<Meta>, ApiError> {
    let r = sqlx::query(&format!("SELECT {COLUMNS} FROM recordings WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *c)
        .await?;
    r.as_ref().map(meta).transpose()
}

/// The recording `id`'s bytes, if it is stored.
pub async fn content(c: &mut AnyConnection, id: &str) -> Result<Option<Vec<u8>>, ApiError> {
    let r = sqlx::query("SELECT content FROM recordings WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *c)
        .await?;
    Ok(r.map(|r| r.try_get::<Vec<u8>, _>(0)).transpose()?)
}

/// Stores a new recording; `false` if a row with this id already exists
/// (nothing written).
pub async fn insert(c: &mut AnyConnection, m: &Meta, bytes: &[u8]) -> Result<bool, ApiError> {
    let done = sqlx::query(
        "INSERT INTO recordings (id, host_id, host_name, size, sha256, created_at, content) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
    )
    .bind(&m.id)
    .bind(&m.host_id)
    .bind(&m.host_name)
    .bind(m.size)
    .bind(&m.sha256)
    .bind(m.created_at)
    .bind(bytes)
    .execute(&mut *c)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The metadata of those of `ids` that are stored (in no set order).
pub async fn some(c: &mut AnyConnection, ids: &[String]) -> Result<Vec<Meta>, ApiError> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(m) = get_meta(c, id).await? {
            out.push(m);
        }
    }
    Ok(out)
}

/// The newest `limit` recordings' metadata, newest first.
pub async fn newest(c: &mut AnyConnection, limit: i64) -> Result<Vec<Meta>, ApiError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM recordings ORDER BY created_at DESC, id LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(&mut *c)
    .await?;
    rows.iter().map(meta).collect()
}

/// True if host `host_id` delivered an audit event with id `event_id`
/// (`host_audit_ids`): a gateway's `ID-start` event is what makes it the
/// owner of recording `ID`.
pub async fn reported(
    c: &mut AnyConnection,
    host_id: &str,
    event_id: &str,
) -> Result<bool, ApiError> {
    let r = sqlx::query("SELECT 1 FROM host_audit_ids WHERE host_id = $1 AND event_id = $2")
        .bind(host_id)
        .bind(event_id)
        .fetch_optional(&mut *c)
        .await?;
    Ok(r.is_some())
}
