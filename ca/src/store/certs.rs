//! The issued-certificate inventory: every SSH and X.509 certificate ward
//! issues is recorded (serial, kind, user, key fingerprint, validity, CA
//! key) in the same transaction as its audit event; revocation marks rows,
//! and the KRL and CRL are built from them. Expired entries are kept.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use tokio::sync::{mpsc, oneshot};

use crate::error::ApiError;
use crate::store::Grant;
use crate::store::{AuditEvent, Store};

/// Kinds of certificates.
pub mod kind {
    /// An OpenSSH user certificate.
    pub const SSH_USER: &str = "ssh-user";
    /// An OpenSSH host certificate.
    pub const SSH_HOST: &str = "ssh-host";
    /// An X.509 client certificate.
    pub const X509_CLIENT: &str = "x509-client";
}

/// One inventory row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertRecord {
    /// Decimal (SSH) or hex (X.509) serial.
    pub serial: String,
    /// See [`kind`].
    pub kind: String,
    /// The user it was issued to, if any.
    pub user_id: Option<String>,
    /// Key id (SSH) or subject (X.509).
    pub subject: String,
    /// Fingerprint of the certified public key.
    pub key_fingerprint: String,
    /// The CA key that signed it.
    pub ca_key_id: String,
    /// Principals or names, JSON array text.
    pub principals: String,
    /// Unix seconds.
    pub valid_after: i64,
    /// Unix seconds.
    pub valid_before: i64,
    /// Unix seconds.
    pub issued_at: i64,
    /// Unix seconds, when revoked.
    pub revoked_at: Option<i64>,
    /// The certified public key (OpenSSH line), kept for host certificates
    /// so that `@revoked` known_hosts lines can name it.
    pub public_key: Option<String>,
    /// The gateway (host name) a one-session certificate was issued to
    /// for this user (terminating mode), if any.
    pub gateway: Option<String>,
}

const COLS: &str = "serial, kind, user_id, subject, key_fingerprint, ca_key_id, principals, valid_after, valid_before, issued_at, revoked_at, public_key, gateway";

fn row(r: &AnyRow) -> Result<CertRecord, sqlx::Error> {
    Ok(CertRecord {
        serial: r.try_get(0)?,
        kind: r.try_get(1)?,
        user_id: r.try_get(2)?,
        subject: r.try_get(3)?,
        key_fingerprint: r.try_get(4)?,
        ca_key_id: r.try_get(5)?,
        principals: r.try_get(6)?,
        valid_after: r.try_get(7)?,
        valid_before: r.try_get(8)?,
        issued_at: r.try_get(9)?,
        revoked_at: r.try_get(10)?,
        public_key: r.try_get(11)?,
        gateway: r.try_get(12)?,
    })
}

/// Records a certificate; `Ok(false)` if the serial is taken (the caller
/// draws another).
pub async fn insert(c: &mut AnyConnection, rec: &CertRecord) -> Result<bool, ApiError> {
    let taken = sqlx::query("SELECT 1 FROM certificates WHERE serial = $1")
        .bind(&rec.serial)
        .fetch_optional(&mut *c)
        .await?;
    if taken.is_some() {
        return Ok(false);
    }
    sqlx::query(&format!(
        "INSERT INTO certificates ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, $11, $12)"
    ))
    .bind(&rec.serial)
    .bind(&rec.kind)
    .bind(&rec.user_id)
    .bind(&rec.subject)
    .bind(&rec.key_fingerprint)
    .bind(&rec.ca_key_id)
    .bind(&rec.principals)
    .bind(rec.valid_after)
    .bind(rec.valid_before)
    .bind(rec.issued_at)
    .bind(&rec.public_key)
    .bind(&rec.gateway)
    .execute(&mut *c)
    .await?;
    Ok(true)
}

/// One certificate by serial.
pub async fn get(c: &mut AnyConnection, serial: &str) -> Result<Option<CertRecord>, ApiError> {
    let r = sqlx::query(&format!(
        "SELECT {COLS} FROM certificates WHERE serial = $1"
    ))
    .bind(serial)
    .fetch_optional(&mut *c)
    .await?;
    Ok(r.as_ref().map(row).transpose()?)
}

/// Filters for [`list`].
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Only this user's.
    pub user_id: Option<String>,
    /// Only this kind.
    pub kind: Option<String>,
    /// `Some(true)`: only revoked; `Some(false)`: only not revoked.
    pub revoked: Option<bool>,
    /// Only certificates valid at this time.
    pub valid_at: Option<i64>,
    /// Newest first (the default listing) or oldest first.
    pub newest_first: bool,
    /// Continue after this position `(issued_at, serial)` in that order.
    pub after: Option<(i64, String)>,
    /// At most this many.
    pub limit: i64,
}

/// Certificates matching `f`, in the order it asks for, from its position.
/// Positions are `(issued_at, serial)`: unique, so pages never repeat or
/// skip a certificate, however many were issued in the same second.
pub async fn list(c: &mut AnyConnection, f: &Filter) -> Result<Vec<CertRecord>, ApiError> {
    let (cmp, order) = if f.newest_first {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    let (at, serial) = match &f.after {
        Some((at, serial)) => (*at, serial.clone()),
        None => (0, String::new()),
    };
    let rows = sqlx::query(&format!(
        "SELECT {COLS} FROM certificates
         WHERE ($1 = '' OR user_id = $1) AND ($2 = '' OR kind = $2)
           AND ($3 = 0 OR ($3 = 1 AND revoked_at IS NOT NULL) OR ($3 = 2 AND revoked_at IS NULL))
           AND ($4 = 0 OR (valid_after <= $4 AND valid_before > $4))
           AND ($5 = '' OR issued_at {cmp} $6 OR (issued_at = $6 AND serial {cmp} $5))
         ORDER BY issued_at {order}, serial {order} LIMIT $7"
    ))
    .bind(f.user_id.clone().unwrap_or_default())
    .bind(f.kind.clone().unwrap_or_default())
    .bind(match f.revoked {
        None => 0i64,
        Some(true) => 1,
        Some(false) => 2,
    })
    .bind(f.valid_at.unwrap_or(0))
    .bind(serial)
    .bind(at)
    .bind(f.limit)
    .fetch_all(&mut *c)
    .await?;
    Ok(rows.iter().map(row).collect::<Result<_, _>>()?)
}

/// Marks one certificate revoked (idempotent); `Ok(false)` if unknown.
pub async fn revoke(
    c: &mut AnyConnection,
    serial: &str,
    at: i64,
    reason: &str,
) -> Result<bool, ApiError> {
    if get(c, serial).await?.is_none() {
        return Ok(false);
    }
    sqlx::query("UPDATE certificates SET revoked_at = $1, revocation_reason = $2 WHERE serial = $3 AND revoked_at IS NULL")
        .bind(at)
        .bind(reason)
        .bind(serial)
        .execute(&mut *c)
        .await?;
    Ok(true)
}

/// Revokes every unrevoked certificate of a user; returns the serials.
pub async fn revoke_user(
    c: &mut AnyConnection,
    user_id: &str,
    at: i64,
    reason: &str,
) -> Result<Vec<String>, ApiError> {
    let rows = sqlx::query(
        "SELECT serial FROM certificates WHERE user_id = $1 AND revoked_at IS NULL ORDER BY serial",
    )
    .bind(user_id)
    .fetch_all(&mut *c)
    .await?;
    let serials: Vec<String> = rows
        .iter()
        .map(|r| r.try_get::<String, _>(0))
        .collect::<Result<_, _>>()?;
    sqlx::query("UPDATE certificates SET revoked_at = $1, revocation_reason = $2 WHERE user_id = $3 AND revoked_at IS NULL")
        .bind(at)
        .bind(reason)
        .bind(user_id)
        .execute(&mut *c)
        .await?;
    Ok(serials)
}

/// Revokes every unrevoked certificate of a registered host (its SSH host
/// certificates and, once enrolled, its X.509 host certificates, both
/// recorded with the host id as subject); returns the serials.
pub async fn revoke_host(
    c: &mut AnyConnection,
    host_id: &str,
    at: i64,
    reason: &str,
) -> Result<Vec<String>, ApiError> {
    let rows = sqlx::query(
        "SELECT serial FROM certificates WHERE kind IN ($1, $2) AND subject = $3 AND user_id IS NULL AND revoked_at IS NULL ORDER BY serial",
    )
    .bind(kind::SSH_HOST)
    .bind(kind::X509_CLIENT)
    .bind(host_id)
    .fetch_all(&mut *c)
    .await?;
    let serials: Vec<String> = rows
        .iter()
        .map(|r| r.try_get::<String, _>(0))
        .collect::<Result<_, _>>()?;
    sqlx::query("UPDATE certificates SET revoked_at = $1, revocation_reason = $2 WHERE kind IN ($3, $4) AND subject = $5 AND user_id IS NULL AND revoked_at IS NULL")
        .bind(at)
        .bind(reason)
        .bind(kind::SSH_HOST)
        .bind(kind::X509_CLIENT)
        .bind(host_id)
        .execute(&mut *c)
        .await?;
    Ok(serials)
}

/// What happens to a user that its certificates must not survive.
#[derive(Clone, Copy, Debug)]
pub enum UserChange<'a> {
    /// The user is deleted: every certificate is revoked.
    Deleted,
    /// The user is renamed from this name: SSH certificates naming it as a
    /// principal and every X.509 certificate (its SPIFFE URI names the
    /// user) are revoked.
    Renamed(&'a str),
}

/// Revokes, inside the caller's mutation transaction, the certificates of
/// `user_id` that a delete or rename leaves naming someone who no longer
/// exists (a later user of the same name would inherit them); returns the
/// serials. Unreadable principals count as naming the old name (fail
/// closed).
pub async fn revoke_for_user_change(
    c: &mut AnyConnection,
    user_id: &str,
    change: UserChange<'_>,
    at: i64,
) -> Result<Vec<String>, ApiError> {
    let (old, reason) = match change {
        UserChange::Deleted => return revoke_user(c, user_id, at, "user deleted").await,
        UserChange::Renamed(old) => (old, format!("user renamed from {old}")),
    };
    let rows = sqlx::query(
        "SELECT serial, kind, principals FROM certificates WHERE user_id = $1 AND revoked_at IS NULL ORDER BY serial",
    )
    .bind(user_id)
    .fetch_all(&mut *c)
    .await?;
    let mut serials = Vec::new();
    for r in &rows {
        let (serial, k, principals): (String, String, String) =
            (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
        let names_old = k == kind::X509_CLIENT
            || serde_json::from_str::<Vec<String>>(&principals)
                .map(|p| p.iter().any(|n| n == old))
                .unwrap_or(true);
        if names_old {
            revoke(c, &serial, at, &reason).await?;
            serials.push(serial);
        }
    }
    Ok(serials)
}

/// OpenSSH public keys of revoked host certificates that have not expired
/// at `now` (for `@revoked` known_hosts lines).
pub async fn revoked_host_keys(c: &mut AnyConnection, now: i64) -> Result<Vec<String>, ApiError> {
    let rows = sqlx::query("SELECT DISTINCT public_key FROM certificates WHERE kind = $1 AND revoked_at IS NOT NULL AND valid_before > $2 AND public_key IS NOT NULL ORDER BY public_key")
        .bind(kind::SSH_HOST)
        .bind(now)
        .fetch_all(&mut *c)
        .await?;
    rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
}

/// `(serial, ca_key_id, revoked_at)` of revoked certificates of a kind.
pub async fn revoked(
    c: &mut AnyConnection,
    kind: &str,
) -> Result<Vec<(String, String, i64)>, ApiError> {
    let rows = sqlx::query("SELECT serial, ca_key_id, revoked_at FROM certificates WHERE kind = $1 AND revoked_at IS NOT NULL ORDER BY serial")
        .bind(kind)
        .fetch_all(&mut *c)
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
        .collect()
}

/// Group commit for issued certificates: handlers sign in parallel and hand
/// the inventory row and audit event here; one task commits whatever has
/// queued up (up to 256) in one transaction, so the single database writer
/// is not the limit. Each caller still learns its own outcome; if a batch
/// fails, its items are retried one by one.
#[derive(Debug, Clone)]
pub struct Recorder {
    tx: mpsc::Sender<Job>,
}

struct Job {
    grant: Grant,
    rec: CertRecord,
    event: AuditEvent,
    reply: oneshot::Sender<Result<(), ApiError>>,
}

/// Most records per transaction.
const BATCH_MAX: usize = 256;

impl Recorder {
    /// Starts the recording task on the current tokio runtime.
    pub fn start(store: Store) -> Recorder {
        let (tx, rx) = mpsc::channel(4096);
        tokio::spawn(run(store, rx));
        Recorder { tx }
    }

    /// Records `rec` with its audit event durably; returns once committed.
    pub async fn record(
        &self,
        grant: Grant,
        rec: CertRecord,
        event: AuditEvent,
    ) -> Result<(), ApiError> {
        let (reply, wait) = oneshot::channel();
        let unavailable = || ApiError::Unavailable {
            message: "the certificate inventory is not accepting records; try again".into(),
        };
        self.tx
            .send(Job {
                grant,
                rec,
                event,
                reply,
            })
            .await
            .map_err(|_| unavailable())?;
        wait.await.map_err(|_| unavailable())?
    }
}

async fn run(store: Store, mut rx: mpsc::Receiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < BATCH_MAX {
            match rx.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        match commit_batch(&store, &batch).await {
            Ok(()) => {
                for j in batch {
                    let _ = j.reply.send(Ok(()));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, size = batch.len(), "certificate batch failed; recording one by one");
                for j in batch {
                    let r = commit_one(&store, &j).await;
                    let _ = j.reply.send(r);
                }
            }
        }
    }
}

async fn commit_batch(store: &Store, batch: &[Job]) -> Result<(), ApiError> {
    let grants: Vec<&Grant> = batch.iter().map(|j| &j.grant).collect();
    let mut m = store.batch(&grants).await?;
    for j in batch {
        insert_unchecked(&mut m.tx, &j.rec).await?;
    }
    let events: Vec<AuditEvent> = batch.iter().map(|j| j.event.clone()).collect();
    m.commit(&events).await
}

async fn commit_one(store: &Store, j: &Job) -> Result<(), ApiError> {
    let mut m = store.mutation(&j.grant).await?.without_iam_change();
    if !insert(&mut m.tx, &j.rec).await? {
        return Err(ApiError::internal(format!(
            "certificate serial {} is already recorded",
            j.rec.serial
        )));
    }
    m.commit(&j.event).await.map(|_| ())
}

/// Inserts without the existence check (a duplicate serial fails the
/// statement, and with it the batch).
async fn insert_unchecked(c: &mut AnyConnection, rec: &CertRecord) -> Result<(), ApiError> {
    sqlx::query(&format!(
        "INSERT INTO certificates ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, $11, $12)"
    ))
    .bind(&rec.serial)
    .bind(&rec.kind)
    .bind(&rec.user_id)
    .bind(&rec.subject)
    .bind(&rec.key_fingerprint)
    .bind(&rec.ca_key_id)
    .bind(&rec.principals)
    .bind(rec.valid_after)
    .bind(rec.valid_before)
    .bind(rec.issued_at)
    .bind(&rec.public_key)
    .bind(&rec.gateway)
    .execute(&mut *c)
    .await?;
    Ok(())
}
