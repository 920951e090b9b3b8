//! Virtual MFA devices (`mfa_devices`): created unassigned with a sealed
//! TOTP seed, enabled for one user (at most one device per user), and the
//! last time step accepted, advanced only forwards by one conditional
//! UPDATE so that a code is accepted once however many requests race.
//! `mfa_host_checks` records which host verified each code a host checked
//! (device, step, host id, time of the check), so that a gateway's claim
//! of an MFA time can be held to a check that gateway made.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::error::ApiError;

/// A stored device. Its `Debug` never shows the sealed seed.
#[derive(Clone)]
pub struct Device {
    /// Random id (sealing associated data).
    pub id: String,
    /// The name in its serial `arn:ward:iam::ACCT:mfa/NAME`.
    pub name: String,
    /// The seed, sealed under the master key.
    pub seed_sealed: Vec<u8>,
    /// The user it is enabled for, if any.
    pub user_id: Option<String>,
    /// Unix seconds it was enabled.
    pub enabled_at: Option<i64>,
    /// The last time step accepted.
    pub last_step: i64,
    /// Steps the device's clock is ahead (negative: behind), from a resync.
    pub drift: i64,
    /// Unix seconds.
    pub created_at: i64,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("user_id", &self.user_id)
            .field("enabled_at", &self.enabled_at)
            .field("last_step", &self.last_step)
            .field("drift", &self.drift)
            .finish_non_exhaustive()
    }
}

const COLS: &str = "id, name, seed_sealed, user_id, enabled_at, last_step, drift, created_at";

fn row(r: &AnyRow) -> Result<Device, sqlx::Error> {
    Ok(Device {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        seed_sealed: r.try_get("seed_sealed")?,
        user_id: r.try_get("user_id")?,
        enabled_at: r.try_get("enabled_at")?,
        last_step: r.try_get("last_step")?,
        drift: r.try_get("drift")?,
        created_at: r.try_get("created_at")?,
    })
}

/// Stores a new, unassigned device; 409 if the name is taken.
pub async fn create(c: &mut AnyConnection, d: &Device) -> Result<(), ApiError> {
    if by_name(c, &d.name).await?.is_some() {
        return Err(ApiError::exists("MFA device", &d.name));
    }
    sqlx::query(
        "INSERT INTO mfa_devices (id, name, seed_sealed, user_id, enabled_at, last_step, drift, created_at) VALUES ($1, $2, $3, NULL, NULL, 0, 0, $4)",
    )
    .bind(&d.id)
    .bind(&d.name)
    .bind(d.seed_sealed.clone())
    .bind(d.created_at)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// A device by name.
pub async fn by_name(c: &mut AnyConnection, name: &str) -> Result<Option<Device>, ApiError> {
    let r = sqlx::query(&format!("SELECT {COLS} FROM mfa_devices WHERE name = $1"))
        .bind(name)
        .fetch_optional(&mut *c)
        .await?;
    Ok(r.as_ref().map(row).transpose()?)
}

/// Every device, by name: (name, enabled at, user name, user path) — the
/// user's only when it is assigned.
pub async fn list_all(
    c: &mut AnyConnection,
) -> Result<Vec<(String, Option<i64>, Option<String>, Option<String>)>, ApiError> {
    let rows = sqlx::query(
        "SELECT d.name, d.enabled_at, u.name, u.path FROM mfa_devices d \
         LEFT JOIN users u ON u.id = d.user_id ORDER BY d.name",
    )
    .fetch_all(&mut *c)
    .await?;
    let mut out = Vec::new();
    for r in &rows {
        out.push((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?));
    }
    Ok(out)
}

/// The device enabled for a user, if any.
pub async fn of_user(c: &mut AnyConnection, user_id: &str) -> Result<Option<Device>, ApiError> {
    let r = sqlx::query(&format!(
        "SELECT {COLS} FROM mfa_devices WHERE user_id = $1"
    ))
    .bind(user_id)
    .fetch_optional(&mut *c)
    .await?;
    Ok(r.as_ref().map(row).transpose()?)
}

/// Enables an unassigned device for `user_id`, with `last_step` the step
/// of the second code; false if it was assigned meanwhile.
pub async fn enable(
    c: &mut AnyConnection,
    id: &str,
    user_id: &str,
    now: i64,
    last_step: i64,
    drift: i64,
) -> Result<bool, ApiError> {
    let res = sqlx::query(
        "UPDATE mfa_devices SET user_id = $1, enabled_at = $2, last_step = $3, drift = $4 WHERE id = $5 AND user_id IS NULL",
    )
    .bind(user_id)
    .bind(now)
    .bind(last_step)
    .bind(drift)
    .bind(id)
    .execute(&mut *c)
    .await?;
    Ok(res.rows_affected() == 1)
}

/// Accepts time step `step` for the device: true only if it is later
/// than every step accepted before (a replay, also a racing one, is false).
pub async fn accept_step(
    c: &mut AnyConnection,
    id: &str,
    step: i64,
    drift: Option<i64>,
) -> Result<bool, ApiError> {
    let res = match drift {
        None => {
            sqlx::query("UPDATE mfa_devices SET last_step = $1 WHERE id = $2 AND last_step < $1")
                .bind(step)
                .bind(id)
                .execute(&mut *c)
                .await?
        }
        Some(d) => sqlx::query(
            "UPDATE mfa_devices SET last_step = $1, drift = $2 WHERE id = $3 AND last_step < $1",
        )
        .bind(step)
        .bind(d)
        .bind(id)
        .execute(&mut *c)
        .await?,
    };
    Ok(res.rows_affected() == 1)
}

/// Unassigns a user's device (it stays, unassigned, until deleted) and
/// forgets which hosts checked its codes.
pub async fn deactivate(c: &mut AnyConnection, id: &str, user_id: &str) -> Result<bool, ApiError> {
    let res = sqlx::query(
        "UPDATE mfa_devices SET user_id = NULL, enabled_at = NULL WHERE id = $1 AND user_id = $2",
    )
    .bind(id)
    .bind(user_id)
    .execute(&mut *c)
    .await?;
    if res.rows_affected() != 1 {
        return Ok(false);
    }
    forget_host_checks(c, id).await?;
    Ok(true)
}

/// Deletes an unassigned device (and any host checks of it); false if it
/// is assigned or gone.
pub async fn delete_unassigned(c: &mut AnyConnection, id: &str) -> Result<bool, ApiError> {
    let res = sqlx::query("DELETE FROM mfa_devices WHERE id = $1 AND user_id IS NULL")
        .bind(id)
        .execute(&mut *c)
        .await?;
    if res.rows_affected() != 1 {
        return Ok(false);
    }
    forget_host_checks(c, id).await?;
    Ok(true)
}

async fn forget_host_checks(c: &mut AnyConnection, device_id: &str) -> Result<(), ApiError> {
    sqlx::query("DELETE FROM mfa_host_checks WHERE device_id = $1")
        .bind(device_id)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Records that host `host_id` verified device `device_id`'s code of time
/// step `step` at `at` (Unix seconds, the time the host was answered).
pub async fn record_host_check(
    c: &mut AnyConnection,
    device_id: &str,
    step: i64,
    host_id: &str,
    at: i64,
) -> Result<(), ApiError> {
    sqlx::query(
        "INSERT INTO mfa_host_checks (device_id, step, host_id, checked_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(device_id)
    .bind(step)
    .bind(host_id)
    .bind(at)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// The ids of the hosts that verified a code of device `device_id` at `at`
/// (several hosts may each have checked one of its codes in one second).
pub async fn hosts_checked_at(
    c: &mut AnyConnection,
    device_id: &str,
    at: i64,
) -> Result<Vec<String>, ApiError> {
    let rows =
        sqlx::query("SELECT host_id FROM mfa_host_checks WHERE device_id = $1 AND checked_at = $2")
            .bind(device_id)
            .bind(at)
            .fetch_all(&mut *c)
            .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.push(r.try_get(0)?);
    }
    Ok(out)
}
