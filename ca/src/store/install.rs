//! The database rows of a new installation (`ward-ca init`), written on the
//! caller's transaction so that an installation's rows (account id, the
//! uid/gid counter, the CA keys, the audit signing key, the first root key
//! and their audit events) commit together or not at all (issue #10 item 5).

use sqlx::{AnyConnection, Row};

use crate::error::ApiError;

/// Claims the database for installation `account` on transaction `c`:
/// records the account id and starts the shared uid/gid counter `unix_id`
/// (which holds the last id handed out) at `uid_min - 1`, and counts the
/// change in `audit_head.iam_seq`. Returns the id of the installation the
/// database already holds instead (nothing written). Run it after the
/// transaction holds the audit head (`Store::batch`), so two inits on one
/// database are serialised and the second sees the first's account.
pub async fn claim_account(
    c: &mut AnyConnection,
    account: &str,
    uid_min: i64,
) -> Result<Option<String>, ApiError> {
    let existing = sqlx::query("SELECT value FROM meta WHERE name = 'account_id'")
        .fetch_optional(&mut *c)
        .await?;
    if let Some(row) = existing {
        return Ok(Some(row.try_get::<String, _>(0)?));
    }
    sqlx::query("INSERT INTO meta (name, value) VALUES ('account_id', $1)")
        .bind(account)
        .execute(&mut *c)
        .await?;
    sqlx::query("INSERT INTO id_counters (name, next_id) VALUES ('unix_id', $1)")
        .bind(uid_min - 1)
        .execute(&mut *c)
        .await?;
    sqlx::query("UPDATE audit_head SET iam_seq = iam_seq + 1 WHERE id = 1")
        .execute(&mut *c)
        .await?;
    Ok(None)
}
