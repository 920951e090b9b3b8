//! Enrolled hosts' identity state (issue #11): join tokens
//! (`host_join_tokens`, only the SHA-256 of a token is stored), each
//! enrolled host's current certificates and last contact
//! (`host_identity`), the ids of audit events a host delivered
//! (`host_audit_ids`), the snapshot generation (`audit_head.iam_seq`) and
//! the one read of everything a host snapshot carries.

use std::collections::{BTreeSet, HashMap, HashSet};

use sqlx::{AnyConnection, Row};
use ward_protocol::api::Tag;
use ward_protocol::host::{SnapshotLoginProfile, SnapshotSshKey};

use crate::error::ApiError;
use crate::store::certs::{self, CertRecord};
use crate::store::iam::{self, User};
use crate::store::Store;

/// An enrolled host as a caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPrincipal {
    /// `AHOA…`.
    pub id: String,
    /// Host name.
    pub name: String,
}

/// The host a host certificate's inventory record names, if it is still
/// registered under the certificate's name: `Ok(Err(why))` refuses it.
pub async fn host_for_cert(
    c: &mut AnyConnection,
    rec: &CertRecord,
    cert_name: &str,
) -> Result<Result<HostPrincipal, &'static str>, ApiError> {
    if rec.user_id.is_some() {
        return Ok(Err("it does not match ward's record"));
    }
    let row = sqlx::query("SELECT id, name FROM hosts WHERE id = $1")
        .bind(&rec.subject)
        .fetch_optional(&mut *c)
        .await?;
    let Some(row) = row else {
        return Ok(Err("its host has been deregistered"));
    };
    let (id, name): (String, String) = (row.try_get(0)?, row.try_get(1)?);
    if name != cert_name {
        return Ok(Err("its host was renamed"));
    }
    Ok(Ok(HostPrincipal { id, name }))
}

/// Forgets an enrolled host's identity state (deregistration, re-join;
/// its certificates are revoked by the caller in the same transaction).
pub async fn forget(c: &mut AnyConnection, host_id: &str) -> Result<(), ApiError> {
    for table in ["host_identity", "host_audit_ids"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE host_id = $1"))
            .bind(host_id)
            .execute(&mut *c)
            .await?;
    }
    Ok(())
}

/// A new join token, as stored.
pub struct NewJoinToken<'a> {
    /// SHA-256 (hex) of the token.
    pub token_hash: &'a str,
    /// The host it enrols.
    pub host_name: &'a str,
    /// The tags the host gets.
    pub tags: &'a [Tag],
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub expires_at: i64,
    /// The creator's ARN.
    pub created_by: &'a str,
    /// What it enrols: `host` or `gateway`.
    pub kind: &'a str,
}

/// Stores a join token.
pub async fn insert_join_token(
    c: &mut AnyConnection,
    t: &NewJoinToken<'_>,
) -> Result<(), ApiError> {
    sqlx::query(
        "INSERT INTO host_join_tokens (token_hash, host_name, tags, created_at, expires_at, used_at, created_by, kind)
         VALUES ($1, $2, $3, $4, $5, NULL, $6, $7)",
    )
    .bind(t.token_hash)
    .bind(t.host_name)
    .bind(serde_json::to_string(t.tags).unwrap_or_default())
    .bind(t.created_at)
    .bind(t.expires_at)
    .bind(t.created_by)
    .bind(t.kind)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// A stored join token.
pub struct JoinTokenRow {
    /// SHA-256 (hex) of the token, as stored.
    pub token_hash: String,
    /// The host it enrols.
    pub host_name: String,
    /// The tags the host gets.
    pub tags: Vec<Tag>,
    /// Unix seconds.
    pub expires_at: i64,
    /// Consumed already.
    pub used: bool,
    /// What it enrols: `host` or `gateway`.
    pub kind: String,
}

/// The join token whose hash is `hash`.
pub async fn find_join_token(
    c: &mut AnyConnection,
    hash: &str,
) -> Result<Option<JoinTokenRow>, ApiError> {
    let row = sqlx::query(
        "SELECT token_hash, host_name, tags, expires_at, used_at, kind FROM host_join_tokens WHERE token_hash = $1",
    )
    .bind(hash)
    .fetch_optional(&mut *c)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let tags: String = r.try_get(2)?;
    Ok(Some(JoinTokenRow {
        token_hash: r.try_get(0)?,
        host_name: r.try_get(1)?,
        tags: serde_json::from_str(&tags)
            .map_err(|e| ApiError::internal(format!("a join token's tags are unreadable: {e}")))?,
        expires_at: r.try_get(3)?,
        used: r.try_get::<Option<i64>, _>(4)?.is_some(),
        kind: r.try_get(5)?,
    }))
}

/// Consumes the unused, unexpired token whose hash is `hash` at `t`;
/// false if there is none (of two racing joins exactly one gets it).
pub async fn consume_join_token(
    c: &mut AnyConnection,
    hash: &str,
    t: i64,
) -> Result<bool, ApiError> {
    let consumed = sqlx::query(
        "UPDATE host_join_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1",
    )
    .bind(t)
    .bind(hash)
    .execute(&mut *c)
    .await?;
    Ok(consumed.rows_affected() == 1)
}

/// Records a host's enrolment: its certificates' serials, joined and
/// renewed at `t`, never seen yet, and its kind (`host` or `gateway`).
pub async fn insert_identity(
    c: &mut AnyConnection,
    host_id: &str,
    x509_serial: &str,
    ssh_serial: &str,
    t: i64,
    kind: &str,
) -> Result<(), ApiError> {
    sqlx::query(
        "INSERT INTO host_identity (host_id, x509_serial, ssh_serial, joined_at, renewed_at, last_seen, agent_version, generation_held, kind)
         VALUES ($1, $2, $3, $4, $4, NULL, NULL, NULL, $5)",
    )
    .bind(host_id)
    .bind(x509_serial)
    .bind(ssh_serial)
    .bind(t)
    .bind(kind)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Records a host's renewed certificates.
pub async fn renewed(
    c: &mut AnyConnection,
    host_id: &str,
    x509_serial: &str,
    ssh_serial: &str,
    t: i64,
) -> Result<(), ApiError> {
    sqlx::query(
        "UPDATE host_identity SET x509_serial = $1, ssh_serial = $2, renewed_at = $3 WHERE host_id = $4",
    )
    .bind(x509_serial)
    .bind(ssh_serial)
    .bind(t)
    .bind(host_id)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Whether a host with this id is registered.
pub async fn host_exists(c: &mut AnyConnection, host_id: &str) -> Result<bool, ApiError> {
    Ok(sqlx::query("SELECT 1 FROM hosts WHERE id = $1")
        .bind(host_id)
        .fetch_optional(&mut *c)
        .await?
        .is_some())
}

/// The snapshot generation as stored (`audit_head.iam_seq`).
pub async fn generation(c: &mut AnyConnection) -> Result<u64, ApiError> {
    let row = sqlx::query("SELECT iam_seq FROM audit_head WHERE id = 1")
        .fetch_one(&mut *c)
        .await?;
    Ok(u64::try_from(row.try_get::<i64, _>(0)?).unwrap_or(0))
}

/// Records that a host was seen at `t` (and what it runs and holds),
/// outside the audited mutation path: it never moves the generation.
pub async fn seen(
    store: &Store,
    host_id: &str,
    t: i64,
    version: Option<&str>,
    generation_held: Option<u64>,
) -> Result<(), ApiError> {
    sqlx::query(
        "UPDATE host_identity SET last_seen = $1,
             agent_version = COALESCE($2, agent_version),
             generation_held = COALESCE($3, generation_held)
         WHERE host_id = $4",
    )
    .bind(t)
    .bind(version)
    .bind(generation_held.and_then(|g| i64::try_from(g).ok()))
    .bind(host_id)
    .execute(store.pool())
    .await?;
    Ok(())
}

/// An enrolled host's identity row.
pub struct IdentityRow {
    /// Unix seconds.
    pub joined_at: i64,
    /// Unix seconds.
    pub last_seen: Option<i64>,
    /// As the agent reported it.
    pub agent_version: Option<String>,
    /// The snapshot generation the agent holds.
    pub generation_held: Option<u64>,
    /// Current X.509 certificate serial.
    pub x509_serial: String,
    /// Current SSH host certificate serial.
    pub ssh_serial: String,
}

/// An enrolled host's identity row; `None` if it never joined.
pub async fn identity(
    c: &mut AnyConnection,
    host_id: &str,
) -> Result<Option<IdentityRow>, ApiError> {
    let r = sqlx::query(
        "SELECT joined_at, last_seen, agent_version, generation_held, x509_serial, ssh_serial
         FROM host_identity WHERE host_id = $1",
    )
    .bind(host_id)
    .fetch_optional(&mut *c)
    .await?;
    let Some(r) = r else { return Ok(None) };
    Ok(Some(IdentityRow {
        joined_at: r.try_get(0)?,
        last_seen: r.try_get(1)?,
        agent_version: r.try_get(2)?,
        generation_held: r
            .try_get::<Option<i64>, _>(3)?
            .and_then(|g| u64::try_from(g).ok()),
        x509_serial: r.try_get(4)?,
        ssh_serial: r.try_get(5)?,
    }))
}

/// Which of `ids` this host has delivered before.
pub async fn known_audit_ids(
    c: &mut AnyConnection,
    host_id: &str,
    ids: &[&str],
) -> Result<HashSet<String>, ApiError> {
    let mut known = HashSet::new();
    for chunk in ids.chunks(100) {
        let placeholders: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "SELECT event_id FROM host_audit_ids WHERE host_id = $1 AND event_id IN ({})",
            placeholders.join(", ")
        );
        let mut q = sqlx::query(&sql).bind(host_id);
        for id in chunk {
            q = q.bind(*id);
        }
        for r in q.fetch_all(&mut *c).await? {
            known.insert(r.try_get(0)?);
        }
    }
    Ok(known)
}

/// Records that this host delivered event `event_id`; false if that id is
/// recorded already (by a concurrent delivery of the same batch).
pub async fn insert_audit_id(
    c: &mut AnyConnection,
    host_id: &str,
    event_id: &str,
    t: i64,
) -> Result<bool, ApiError> {
    let r = sqlx::query(
        "INSERT INTO host_audit_ids (host_id, event_id, recorded_at) VALUES ($1, $2, $3)",
    )
    .bind(host_id)
    .bind(event_id)
    .bind(t)
    .execute(&mut *c)
    .await;
    match r {
        Ok(_) => Ok(true),
        Err(sqlx::Error::Database(d)) if d.is_unique_violation() => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Everything a host snapshot carries, as stored, read in one
/// transaction by [`snapshot_rows`]; the service turns it into the wire
/// snapshot (POSIX views, policy ARNs referenced).
pub struct SnapshotRows {
    /// The generation the rows are at.
    pub generation: u64,
    /// The host's tags.
    pub host_tags: Vec<Tag>,
    /// Managed policies: id → (ARN, default version text).
    pub policies: HashMap<String, (String, String)>,
    /// Managed policy ids attached anywhere or used as a boundary.
    pub referenced: BTreeSet<String>,
    /// Attached managed policy ARNs by (principal type, principal id).
    pub managed: HashMap<(String, String), Vec<String>>,
    /// Inline documents by (principal type, principal id).
    pub inline: HashMap<(String, String), Vec<String>>,
    /// Tags by user id.
    pub tags: HashMap<String, Vec<Tag>>,
    /// Group names by user id.
    pub member_of: HashMap<String, Vec<String>>,
    /// SSH keys by user id.
    pub keys: HashMap<String, Vec<SnapshotSshKey>>,
    /// Login-profile status by user id (never the hash).
    pub profiles: HashMap<String, SnapshotLoginProfile>,
    /// Users by lower-cased name.
    pub users: Vec<User>,
    /// Groups (id, name, path, gid) by lower-cased name.
    pub groups: Vec<(String, String, String, i64)>,
    /// Serials of revoked SSH user certificates still within validity.
    pub revoked_ssh_serials: Vec<u64>,
    /// Roles (id, name, path, boundary policy id) by lower-cased name.
    pub roles: Vec<(String, String, String, Option<String>)>,
    /// Tags by role id.
    pub role_tags: HashMap<String, Vec<Tag>>,
}

/// Host `host_id`'s name and tags (the host section of its snapshot), on
/// `c`; `None` if the host is gone.
pub async fn host_section(
    c: &mut AnyConnection,
    host_id: &str,
) -> Result<Option<(String, Vec<Tag>)>, ApiError> {
    let Some(h) = sqlx::query("SELECT name, tags FROM hosts WHERE id = $1")
        .bind(host_id)
        .fetch_optional(&mut *c)
        .await?
    else {
        return Ok(None);
    };
    let host_name: String = h.try_get(0)?;
    let host_tags: String = h.try_get(1)?;
    let host_tags: Vec<Tag> = serde_json::from_str(&host_tags)
        .map_err(|e| ApiError::internal(format!("host {host_name}: tags unreadable: {e}")))?;
    Ok(Some((host_name, host_tags)))
}

/// Reads everything a snapshot carries at `t`, on `c` (a read
/// transaction, [`Store::read_tx`]): with `host_id`, that host's section
/// too (`None` if the host is gone); without, the host-independent part
/// (empty host tags), which ward-ca builds once per generation for every
/// host.
pub async fn snapshot_rows(
    c: &mut AnyConnection,
    account: &str,
    host_id: Option<&str>,
    t: i64,
) -> Result<Option<SnapshotRows>, ApiError> {
    let generation = generation(c).await?;
    let host_tags = match host_id {
        None => Vec::new(),
        Some(id) => match host_section(c, id).await? {
            Some((_, tags)) => tags,
            None => return Ok(None),
        },
    };

    let mut policies: HashMap<String, (String, String)> = HashMap::new();
    for r in sqlx::query(
        "SELECT p.id, p.path, p.name, v.document FROM policies p
         JOIN policy_versions v ON v.policy_id = p.id AND v.version = p.default_version",
    )
    .fetch_all(&mut *c)
    .await?
    {
        let (id, path, name, doc): (String, String, String, String) =
            (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?);
        policies.insert(id, (ward_authz::arn::policy(account, &path, &name), doc));
    }
    let mut referenced: BTreeSet<String> = BTreeSet::new();

    let mut managed: HashMap<(String, String), Vec<String>> = HashMap::new();
    for r in sqlx::query(
        "SELECT principal_type, principal_id, policy_id FROM attachments ORDER BY principal_type, principal_id, policy_id",
    )
    .fetch_all(&mut *c)
    .await?
    {
        let (ty, pid, pol): (String, String, String) = (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
        if let Some((arn, _)) = policies.get(&pol) {
            referenced.insert(pol.clone());
            managed.entry((ty, pid)).or_default().push(arn.clone());
        }
    }
    let mut inline: HashMap<(String, String), Vec<String>> = HashMap::new();
    for r in sqlx::query(
        "SELECT principal_type, principal_id, document FROM inline_policies ORDER BY principal_type, principal_id, name_lc",
    )
    .fetch_all(&mut *c)
    .await?
    {
        let (ty, pid, doc): (String, String, String) = (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
        inline.entry((ty, pid)).or_default().push(doc);
    }

    let mut tags: HashMap<String, Vec<Tag>> = HashMap::new();
    for r in
        sqlx::query("SELECT user_id, tag_key, tag_value FROM user_tags ORDER BY user_id, key_lc")
            .fetch_all(&mut *c)
            .await?
    {
        tags.entry(r.try_get(0)?).or_default().push(Tag {
            key: r.try_get(1)?,
            value: r.try_get(2)?,
        });
    }
    let mut member_of: HashMap<String, Vec<String>> = HashMap::new();
    for r in sqlx::query(
        "SELECT m.user_id, g.name FROM group_members m JOIN iam_groups g ON g.id = m.group_id ORDER BY g.name_lc",
    )
    .fetch_all(&mut *c)
    .await?
    {
        member_of.entry(r.try_get(0)?).or_default().push(r.try_get(1)?);
    }
    let mut keys: HashMap<String, Vec<SnapshotSshKey>> = HashMap::new();
    for r in sqlx::query(
        "SELECT user_id, id, public_key, status FROM ssh_keys ORDER BY user_id, uploaded_at, id",
    )
    .fetch_all(&mut *c)
    .await?
    {
        keys.entry(r.try_get(0)?).or_default().push(SnapshotSshKey {
            id: r.try_get(1)?,
            public_key: r.try_get(2)?,
            status: r.try_get(3)?,
        });
    }
    let mut profiles: HashMap<String, SnapshotLoginProfile> = HashMap::new();
    for r in sqlx::query("SELECT user_id, reset_required, version FROM login_profiles")
        .fetch_all(&mut *c)
        .await?
    {
        profiles.insert(
            r.try_get(0)?,
            SnapshotLoginProfile {
                reset_required: r.try_get::<i64, _>(1)? != 0,
                version: u64::try_from(r.try_get::<i64, _>(2)?).unwrap_or(0),
            },
        );
    }

    let mut users = Vec::new();
    for r in sqlx::query(&format!(
        "SELECT {} FROM users ORDER BY name_lc",
        iam::USER_COLS
    ))
    .fetch_all(&mut *c)
    .await?
    {
        users.push(iam::user_row(&r)?);
    }

    let mut groups = Vec::new();
    for r in sqlx::query("SELECT id, name, path, gid FROM iam_groups ORDER BY name_lc")
        .fetch_all(&mut *c)
        .await?
    {
        groups.push((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?));
    }

    let mut revoked_ssh_serials = Vec::new();
    for r in sqlx::query(
        "SELECT serial FROM certificates WHERE kind = $1 AND revoked_at IS NOT NULL AND valid_before > $2 ORDER BY serial",
    )
    .bind(certs::kind::SSH_USER)
    .bind(t)
    .fetch_all(&mut *c)
    .await?
    {
        let s: String = r.try_get(0)?;
        // Fail closed: an unreadable serial is a bug, not "nothing revoked".
        revoked_ssh_serials.push(
            s.parse::<u64>()
                .map_err(|_| ApiError::internal(format!("revoked SSH serial {s:?} is not a number")))?,
        );
    }
    revoked_ssh_serials.sort_unstable();
    let mut roles = Vec::new();
    for r in sqlx::query("SELECT id, name, path, boundary_policy_id FROM roles ORDER BY name_lc")
        .fetch_all(&mut *c)
        .await?
    {
        roles.push((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?));
    }
    let mut role_tags: HashMap<String, Vec<Tag>> = HashMap::new();
    for r in
        sqlx::query("SELECT role_id, tag_key, tag_value FROM role_tags ORDER BY role_id, key_lc")
            .fetch_all(&mut *c)
            .await?
    {
        role_tags.entry(r.try_get(0)?).or_default().push(Tag {
            key: r.try_get(1)?,
            value: r.try_get(2)?,
        });
    }
    Ok(Some(SnapshotRows {
        roles,
        role_tags,
        generation,
        host_tags,
        policies,
        referenced,
        managed,
        inline,
        tags,
        member_of,
        keys,
        profiles,
        users,
        groups,
        revoked_ssh_serials,
    }))
}
