//! Gateway sessions (issue #13): which gateway reported a session (its
//! `ward-gateway:SessionStart` event id, `ID-start`, in
//! `host_audit_ids`), and the terminations administrators asked for
//! (`gateway_terminations`, kept [`KEEP`] seconds).

use sqlx::{AnyConnection, Row};
use ward_protocol::host::GatewayTermination;

use crate::error::ApiError;

/// How long a termination is kept (and carried in gateways' snapshots).
pub const KEEP: i64 = 86_400;

/// The id and name of the gateway (an enrolled host of kind `gateway`)
/// whose audit events started session `id`; an ordinary host reporting a
/// session start names no gateway session.
pub async fn gateway_of(
    c: &mut AnyConnection,
    id: &str,
) -> Result<Option<(String, String)>, ApiError> {
    let r = sqlx::query(
        "SELECT h.id, h.name FROM host_audit_ids a JOIN hosts h ON h.id = a.host_id \
         JOIN host_identity i ON i.host_id = a.host_id \
         WHERE a.event_id = $1 AND i.kind = $2",
    )
    .bind(format!("{id}-start"))
    .bind(ward_protocol::host::KIND_GATEWAY)
    .fetch_optional(&mut *c)
    .await?;
    match r {
        None => Ok(None),
        Some(r) => Ok(Some((r.try_get(0)?, r.try_get(1)?))),
    }
}

/// Records a termination of session `id` on gateway `host_id` (again:
/// the first request stands) and drops those older than [`KEEP`].
pub async fn terminate(
    c: &mut AnyConnection,
    id: &str,
    host_id: &str,
    requested_by: &str,
    at: i64,
) -> Result<(), ApiError> {
    sqlx::query("DELETE FROM gateway_terminations WHERE at < $1")
        .bind(at - KEEP)
        .execute(&mut *c)
        .await?;
    sqlx::query(
        "INSERT INTO gateway_terminations (id, host_id, requested_by, at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(id)
    .bind(host_id)
    .bind(requested_by)
    .bind(at)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Terminations asked for since `since` (Unix seconds), oldest first.
pub async fn recent(
    c: &mut AnyConnection,
    since: i64,
) -> Result<Vec<GatewayTermination>, ApiError> {
    let rows = sqlx::query(
        "SELECT id, requested_by, at FROM gateway_terminations WHERE at >= $1 ORDER BY at, id",
    )
    .bind(since)
    .fetch_all(&mut *c)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(GatewayTermination {
                id: r.try_get(0)?,
                requested_by: r.try_get(1)?,
                at: r.try_get(2)?,
            })
        })
        .collect()
}
