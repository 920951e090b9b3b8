//! The host registry gateways route by (issue #13): each registered host's
//! admin-set address (`hosts.address`), its aliases (`hosts.aliases` and
//! the names they claim in `host_names`), and each enrolled host's kind
//! (`host_identity.kind`: `host` or `gateway`).

use sqlx::{AnyConnection, Row};
use ward_protocol::api::Tag;

use crate::error::ApiError;
use crate::store::hosts;

/// A registered host as the registry holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryRow {
    /// Name.
    pub name: String,
    /// Aliases.
    pub aliases: Vec<String>,
    /// Address as stored (`HOST` or `HOST:PORT`), if set.
    pub address: Option<String>,
    /// Tags.
    pub tags: Vec<Tag>,
}

/// The kind of the enrolled host `host_id` (`None`: not enrolled).
pub async fn kind(c: &mut AnyConnection, host_id: &str) -> Result<Option<String>, ApiError> {
    Ok(
        sqlx::query("SELECT kind FROM host_identity WHERE host_id = $1")
            .bind(host_id)
            .fetch_optional(&mut *c)
            .await?
            .map(|r| r.try_get::<String, _>(0))
            .transpose()?,
    )
}

/// The stored address of host `host_id`.
pub async fn address(c: &mut AnyConnection, host_id: &str) -> Result<Option<String>, ApiError> {
    Ok(sqlx::query("SELECT address FROM hosts WHERE id = $1")
        .bind(host_id)
        .fetch_optional(&mut *c)
        .await?
        .map(|r| r.try_get::<Option<String>, _>(0))
        .transpose()?
        .flatten())
}

/// Sets (or with `None` clears) host `host_id`'s address.
pub async fn set_address(
    c: &mut AnyConnection,
    host_id: &str,
    address: Option<&str>,
) -> Result<(), ApiError> {
    sqlx::query("UPDATE hosts SET address = $1 WHERE id = $2")
        .bind(address)
        .bind(host_id)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Replaces host `host_id`'s aliases: releases the old names except its
/// own name, claims the new ones (409 naming the alias another host
/// holds, [`hosts::claim_names`]).
pub async fn set_aliases(
    c: &mut AnyConnection,
    host_id: &str,
    name: &str,
    aliases: &[String],
) -> Result<(), ApiError> {
    sqlx::query("DELETE FROM host_names WHERE host_id = $1 AND name_lc <> $2")
        .bind(host_id)
        .bind(name.to_lowercase())
        .execute(&mut *c)
        .await?;
    sqlx::query("UPDATE hosts SET aliases = $1 WHERE id = $2")
        .bind(serde_json::to_string(aliases).unwrap_or_default())
        .bind(host_id)
        .execute(&mut *c)
        .await?;
    let claimed: Vec<(String, String)> = aliases
        .iter()
        .enumerate()
        .map(|(i, a)| (format!("aliases[{i}]"), a.clone()))
        .collect();
    hosts::claim_names(c, host_id, &claimed).await
}

/// Every registered host (at most 10 000), by name.
pub async fn all(c: &mut AnyConnection) -> Result<Vec<RegistryRow>, ApiError> {
    let rows =
        sqlx::query("SELECT name, aliases, address, tags FROM hosts ORDER BY name_lc LIMIT 10000")
            .fetch_all(&mut *c)
            .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let name: String = r.try_get(0)?;
        let aliases: String = r.try_get(1)?;
        let tags: String = r.try_get(3)?;
        // Fail closed as hosts::find does: unreadable tags must not become
        // "no tags" (a Deny on a tag would stop applying).
        let unreadable = |what: &str, e: serde_json::Error| {
            ApiError::internal(format!(
                "host {name}: the stored {what} are unreadable: {e}"
            ))
        };
        out.push(RegistryRow {
            aliases: serde_json::from_str(&aliases).map_err(|e| unreadable("aliases", e))?,
            tags: serde_json::from_str(&tags).map_err(|e| unreadable("tags", e))?,
            address: r.try_get(2)?,
            name,
        });
    }
    Ok(out)
}
