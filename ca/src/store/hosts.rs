//! Registered hosts and the names their certificates may carry
//! (`hosts`, `host_names`).

use sqlx::{AnyConnection, Row};
use ward_protocol::api;

use crate::error::ApiError;

/// A registered host.
#[derive(Debug)]
pub struct HostRow {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Other names its certificates may carry.
    pub aliases: Vec<String>,
    /// Its tags.
    pub tags: Vec<api::Tag>,
    /// When it was registered.
    pub created_at: i64,
}

/// The host named `name` (case-insensitive).
pub async fn find(c: &mut AnyConnection, name: &str) -> Result<Option<HostRow>, ApiError> {
    let r = sqlx::query("SELECT id, name, aliases, tags, created_at FROM hosts WHERE name_lc = $1")
        .bind(name.to_lowercase())
        .fetch_optional(&mut *c)
        .await?;
    let Some(r) = r else { return Ok(None) };
    let (name, aliases, tags): (String, String, String) =
        (r.try_get(1)?, r.try_get(2)?, r.try_get(3)?);
    // Fail closed: a tag column that cannot be read must not become "no
    // tags" (a Deny conditioned on a host tag would then not apply), nor
    // unreadable aliases "no aliases".
    let unreadable = |what: &str, e: serde_json::Error| {
        ApiError::internal(format!(
            "host {name}: the stored {what} are unreadable: {e}"
        ))
    };
    Ok(Some(HostRow {
        id: r.try_get(0)?,
        aliases: serde_json::from_str(&aliases).map_err(|e| unreadable("aliases", e))?,
        tags: serde_json::from_str(&tags).map_err(|e| unreadable("tags", e))?,
        name,
        created_at: r.try_get(4)?,
    }))
}

/// Claims `names` (lower-cased) for host `id` in `host_names`, whose primary
/// key makes every certificate name belong to one host: a name or alias of
/// another host is a 409 naming it (checked first for a clear message; the
/// key refuses it even if two registrations race).
pub async fn claim_names(
    c: &mut AnyConnection,
    id: &str,
    names: &[(String, String)],
) -> Result<(), ApiError> {
    for (field, n) in names {
        let taken = sqlx::query("SELECT host_id FROM host_names WHERE name_lc = $1")
            .bind(n.to_lowercase())
            .fetch_optional(&mut *c)
            .await?;
        let conflict = || ApiError::Conflict {
            code: "EntityAlreadyExists",
            message: format!("{field}: {n:?} is already a name or alias of a registered host"),
        };
        if taken.is_some() {
            return Err(conflict());
        }
        let res = sqlx::query("INSERT INTO host_names (name_lc, host_id) VALUES ($1, $2)")
            .bind(n.to_lowercase())
            .bind(id)
            .execute(&mut *c)
            .await;
        match res {
            Ok(_) => {}
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => return Err(conflict()),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Stores a new host and claims its name and aliases (409 if taken,
/// [`claim_names`]).
pub async fn insert(c: &mut AnyConnection, h: &HostRow) -> Result<(), ApiError> {
    sqlx::query("INSERT INTO hosts (id, name, name_lc, aliases, tags, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(&h.id)
        .bind(&h.name)
        .bind(h.name.to_lowercase())
        .bind(serde_json::to_string(&h.aliases).unwrap_or_default())
        .bind(serde_json::to_string(&h.tags).unwrap_or_default())
        .bind(h.created_at)
        .execute(&mut *c)
        .await?;
    let mut claimed = vec![("name".to_owned(), h.name.clone())];
    claimed.extend(
        h.aliases
            .iter()
            .enumerate()
            .map(|(i, a)| (format!("aliases[{i}]"), a.clone())),
    );
    claim_names(c, &h.id, &claimed).await
}

/// Replaces a host's tags.
pub async fn set_tags(c: &mut AnyConnection, id: &str, tags: &[api::Tag]) -> Result<(), ApiError> {
    sqlx::query("UPDATE hosts SET tags = $1 WHERE id = $2")
        .bind(serde_json::to_string(tags).unwrap_or_default())
        .bind(id)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Every host's name, in order (at most 10 000).
pub async fn names(c: &mut AnyConnection) -> Result<Vec<String>, ApiError> {
    let rows = sqlx::query("SELECT name FROM hosts ORDER BY name_lc LIMIT 10000")
        .fetch_all(&mut *c)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.push(r.try_get::<String, _>(0)?);
    }
    Ok(out)
}

/// Removes a host and releases its names.
pub async fn delete(c: &mut AnyConnection, id: &str) -> Result<(), ApiError> {
    sqlx::query("DELETE FROM hosts WHERE id = $1")
        .bind(id)
        .execute(&mut *c)
        .await?;
    sqlx::query("DELETE FROM host_names WHERE host_id = $1")
        .bind(id)
        .execute(&mut *c)
        .await?;
    Ok(())
}
