//! The store: SQLite (WAL, the default) or PostgreSQL through sqlx's `Any`
//! driver, with numbered migrations per backend (`migrations/sqlite`,
//! `migrations/postgres`: same tables and columns).
//!
//! Every mutation is one transaction that also appends its audit event
//! ([`Mutation`]): it starts by bumping the single `audit_head` row, which
//! serialises writers on both backends (SQLite takes its write lock at the
//! first statement, so deferred-transaction upgrade deadlocks cannot
//! happen; PostgreSQL takes a row lock, so several ward-ca replicas can
//! share one database), and commits the mutation and its chained event
//! together. A dropped `Mutation` rolls back: nothing is half-written.
//!
//! The chain is keyed (chain version 2): each event's `hash` is
//! HMAC-SHA256, under a key derived from the master key and never stored,
//! of the previous event's MAC and the event's canonical text. Someone who
//! can write the database but does not hold the master key cannot
//! recompute it. Events written before keying (version 1, plain SHA-256)
//! are kept as they are; one keyed cut-over event (`ward:AuditChainKeyed`,
//! written once at the first start after the migration) binds their head,
//! and no unkeyed event may follow it. Truncation (removing the newest
//! events and rewinding the head) is detected with signed checkpoints
//! (`crate::store::checkpoint`), not by the chain alone.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde_json::Value;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, Connection, Executor, Row};

use crate::config::Database;
use crate::crypto::{sha256_hex, AuditChainKey, MasterKey};
use crate::error::ApiError;

pub mod authority;
pub mod certs;
pub mod checkpoint;
pub mod gateway_sessions;
pub mod host_identity;
pub mod host_registry;
pub mod hosts;
pub mod iam;
pub mod identity_pools;
pub mod install;
pub mod mfa;
pub mod recordings;
pub mod roles;
pub mod root_login;
pub mod ssh_keys;

/// A database connection (sqlx's `Any` driver), for the store functions in
/// the submodules; other layers name this rather than sqlx.
pub type Conn = AnyConnection;

/// Proof that an action was authorized (or is a system action such as a
/// password login): [`Store::mutation`] takes one, so a handler that skips
/// authorization does not compile. Only `service::authz` makes them
/// (`Grant::new`; the architecture test checks that no other file calls it).
#[derive(Debug)]
pub struct Grant {
    action: String,
    resource: String,
}

impl Grant {
    /// A grant for `action` on `resource`; for `service::authz` only.
    pub(crate) fn new(action: impl Into<String>, resource: impl Into<String>) -> Grant {
        Grant {
            action: action.into(),
            resource: resource.into(),
        }
    }

    /// The authorized action.
    pub fn action(&self) -> &str {
        &self.action
    }

    /// The authorized resource.
    pub fn resource(&self) -> &str {
        &self.resource
    }
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Which database the store runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// A handle on the store; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    account_id: Arc<str>,
    /// Bumped after every local commit; see [`Store::generation`].
    local_generation: Arc<AtomicU64>,
    /// Signalled after every local commit that moves `audit_head.iam_seq`
    /// (wakes host long-polls; see `crate::host_sync`).
    changed: Arc<tokio::sync::Notify>,
    /// The audit chain key; set by [`Store::keyed`]. Without it nothing
    /// can be written (fail closed).
    chain_key: Option<AuditChainKey>,
    /// Generation reads that went to the database (PostgreSQL's
    /// [`Store::generation`]; SQLite's are an atomic load and not
    /// counted): `ward_store_generation_reads_total`.
    generation_reads: Arc<AtomicU64>,
}

pub use crate::config::StoreTimeouts;

/// One transaction on a pooled connection, managed here rather than by
/// sqlx's `Transaction`: sqlx tracks the transaction depth itself, and a
/// failed `COMMIT` or `ROLLBACK` (SQLite's disk full, an I/O error) leaves
/// that count out of step with the database, so the connection's next
/// "transaction" became a savepoint inside one that never ended — writes
/// acknowledged but never committed, and the write lock held forever.
/// Here a connection whose transaction did not commit is never returned
/// to the pool: it is detached and closed (which rolls back whatever it
/// still had open).
pub struct Tx {
    conn: Option<PoolConnection<Any>>,
}

impl Tx {
    async fn begin(pool: &AnyPool) -> Result<Tx, sqlx::Error> {
        let conn = pool.acquire().await?;
        let mut tx = Tx { conn: Some(conn) };
        tx.execute("BEGIN").await?;
        Ok(tx)
    }

    /// Commits; on any error the connection is closed, not reused.
    async fn commit(mut self) -> Result<(), sqlx::Error> {
        self.execute("COMMIT").await?;
        note_write_ok();
        // Committed: the connection is clean and goes back to the pool.
        drop(self.conn.take());
        Ok(())
    }
}

impl Tx {
    /// Ends a read transaction from [`Store::read_tx`] and returns the
    /// connection to the pool (not counted as a successful write).
    pub async fn end_read(mut self) -> Result<(), sqlx::Error> {
        self.execute("COMMIT").await?;
        drop(self.conn.take());
        Ok(())
    }
}

impl std::ops::Deref for Tx {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        match &self.conn {
            Some(c) => c,
            None => unreachable!("a Tx holds its connection until commit or drop"),
        }
    }
}

impl std::ops::DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match &mut self.conn {
            Some(c) => c,
            None => unreachable!("a Tx holds its connection until commit or drop"),
        }
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            // Not committed (an error, a rollback, a cancelled request):
            // take the connection out of the pool and close it; closing
            // rolls back. The pool opens a fresh one when needed.
            let raw = conn.detach();
            match tokio::runtime::Handle::try_current() {
                Ok(rt) => {
                    rt.spawn(async move {
                        let _ = raw.close().await;
                    });
                }
                Err(_) => drop(raw),
            }
        }
    }
}

/// Size of the scratch value `/readyz` writes while recovering from a
/// store failure (see [`Store::can_write`]).
pub const RECOVERY_PROBE_BYTES: usize = 512 * 1024;

/// Order of the latest store failure and the latest successful commit
/// (stamps from one counter; one store per process).
static WRITE_CLOCK: AtomicU64 = AtomicU64::new(1);
static LAST_FAILURE: AtomicU64 = AtomicU64::new(0);
static LAST_COMMIT: AtomicU64 = AtomicU64::new(0);

/// Records a store failure that makes writes unavailable (disk full, I/O
/// error, timeout, lost connection): `/readyz` fails until a commit of
/// representative size succeeds.
pub fn note_write_failure() {
    LAST_FAILURE.store(
        WRITE_CLOCK.fetch_add(1, Ordering::AcqRel),
        Ordering::Release,
    );
}

fn note_write_ok() {
    LAST_COMMIT.store(
        WRITE_CLOCK.fetch_add(1, Ordering::AcqRel),
        Ordering::Release,
    );
}

/// True if the latest store failure is newer than the latest commit.
pub fn last_write_failed() -> bool {
    LAST_FAILURE.load(Ordering::Acquire) > LAST_COMMIT.load(Ordering::Acquire)
}

/// The chain version of keyed events.
pub const CHAIN_KEYED: i64 = 2;
/// The chain version of events written before keying (plain SHA-256).
pub const CHAIN_LEGACY: i64 = 1;
/// The action of the keyed cut-over event.
pub const CUTOVER_ACTION: &str = "ward:AuditChainKeyed";

/// One audit event (SPEC: who, what, resource, decision, source, time).
#[derive(Clone, Debug, PartialEq)]
pub struct AuditEvent {
    /// Unix seconds.
    pub at: i64,
    /// Principal ARN, or the claimed identity for authentication failures.
    pub principal: String,
    /// The action, e.g. `iam:CreateUser`, `ward:Login`.
    pub action: String,
    /// The resource ARN.
    pub resource: String,
    /// `Allowed`, `ImplicitlyDenied`, `ExplicitlyDenied`, `Failed` …
    pub decision: String,
    /// Caller's address.
    pub source_ip: String,
    /// Structured detail (never secrets).
    pub detail: Value,
}

/// A stored audit event with its place in the chain.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredEvent {
    /// Sequence number, from 1, without gaps.
    pub seq: i64,
    /// The event.
    pub event: AuditEvent,
    /// Hash of the previous event (zeros for the first).
    pub prev_hash: String,
    /// This event's MAC (version 2) or hash (version 1).
    pub hash: String,
    /// [`CHAIN_KEYED`] or [`CHAIN_LEGACY`].
    pub chain_version: i64,
}

/// A chain that verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedChain {
    /// Events checked.
    pub events: i64,
    /// Of which written before keying (protected by the cut-over event's
    /// MAC over their head, not individually).
    pub legacy_events: i64,
}

/// Store-level failures at startup.
#[derive(Debug)]
pub struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreError {}

/// The canonical text of an event: a JSON array of the fields in a fixed
/// order, `detail` as its stored text.
fn canonical(seq: i64, ev: &AuditEvent, detail_text: &str) -> String {
    serde_json::json!([
        seq,
        ev.at,
        ev.principal,
        ev.action,
        ev.resource,
        ev.decision,
        ev.source_ip,
        detail_text
    ])
    .to_string()
}

/// A legacy (version 1) event's hash: plain SHA-256, verification only.
fn legacy_hash(prev: &str, seq: i64, ev: &AuditEvent, detail_text: &str) -> String {
    let canon = canonical(seq, ev, detail_text);
    sha256_hex(format!("{prev}\n{canon}").as_bytes())
}

/// Makes the SQLite database owner-only before SQLite opens it: the file is
/// created 0600 if missing, and an existing file (and its `-wal`/`-shm`,
/// `-journal` companions) with group or other bits is narrowed to 0600.
/// SQLite creates the companions with the database file's mode, so they
/// follow.
///
/// An existing file is never opened here, only chmod-ed by path: closing
/// any descriptor of a file drops every POSIX lock this process holds on
/// it, including those of SQLite connections still open in this process
/// (`serve --dev` opens the store once to initialise it, then again to
/// serve). Without its locks another process's last connection believes it
/// is alone, checkpoints and deletes the WAL, and the commits that follow
/// go to an unlinked file — acknowledged and lost.
fn private_sqlite_files(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let e = |p: &Path, e: std::io::Error| StoreError(format!("{}: {e}", p.display()));
    if !path.exists() {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|err| e(path, err))?;
    }
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let p = PathBuf::from(p);
        let meta = match std::fs::metadata(&p) {
            Ok(m) => m,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(err) => return Err(e(&p, err)),
        };
        if meta.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600))
                .map_err(|err| e(&p, err))?;
        }
    }
    Ok(())
}

/// A keyed (version 2) event's MAC.
fn chain_mac(
    key: &AuditChainKey,
    prev: &str,
    seq: i64,
    ev: &AuditEvent,
    detail_text: &str,
) -> String {
    let canon = canonical(seq, ev, detail_text);
    key.mac_hex(format!("ward audit v2\n{prev}\n{canon}").as_bytes())
}

/// Constant-time equality of two MACs.
fn same_mac(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

impl Store {
    /// Connects (creating an SQLite file if needed) and migrates, with the
    /// default PostgreSQL timeouts.
    pub async fn open(db: &Database) -> Result<Store, StoreError> {
        Store::open_with(db, &StoreTimeouts::default()).await
    }

    /// Connects (creating an SQLite file if needed) and migrates.
    pub async fn open_with(db: &Database, timeouts: &StoreTimeouts) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let pg_settings: Arc<str> = Arc::from(timeouts.postgres_settings());
        let (url, backend) = match db {
            Database::Sqlite(path) => {
                private_sqlite_files(path)?;
                (
                    format!("sqlite://{}?mode=rwc", path.display()),
                    Backend::Sqlite,
                )
            }
            Database::Postgres(url) => (url.clone(), Backend::Postgres),
        };
        let opts: AnyConnectOptions = url
            .parse()
            .map_err(|e| StoreError(format!("database {}: {e}", db.describe())))?;
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 8 } else { 16 })
            .acquire_timeout(std::time::Duration::from_secs(10))
            .after_connect(move |conn, _| {
                let pg_settings = pg_settings.clone();
                Box::pin(async move {
                    match backend {
                        // synchronous=FULL: in WAL mode every commit is
                        // fsync-ed before it is acknowledged, so a power
                        // loss cannot take back an acknowledged write
                        // (NORMAL only survives a process crash). Group
                        // commit (`crate::store::certs`) amortises the fsync.
                        Backend::Sqlite => {
                            conn.execute(
                                "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; PRAGMA synchronous = FULL;",
                            )
                            .await?;
                        }
                        // Bounded waits: a replica frozen while holding a
                        // row lock (or an idle transaction) cannot stop the
                        // others for longer than these.
                        Backend::Postgres => {
                            conn.execute(&*pg_settings).await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect_with(opts)
            .await
            .map_err(|e| StoreError(format!("database {}: {e}", db.describe())))?;
        if backend == Backend::Sqlite {
            // WAL is a property of the file: set once, it persists.
            let mut c = pool
                .acquire()
                .await
                .map_err(|e| StoreError(e.to_string()))?;
            c.execute("PRAGMA journal_mode = WAL;")
                .await
                .map_err(|e| StoreError(e.to_string()))?;
        }
        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator
            .run(&pool)
            .await
            .map_err(|e| StoreError(format!("migrating {}: {e}", db.describe())))?;
        Ok(Store {
            pool,
            backend,
            account_id: Arc::from(""),
            local_generation: Arc::new(AtomicU64::new(0)),
            changed: Arc::new(tokio::sync::Notify::new()),
            chain_key: None,
            generation_reads: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Installs the audit chain key derived from `master` (after
    /// [`Store::require_account`], or on a fresh store before `ward-ca
    /// init` writes its rows); on the first start after the keyed-chain
    /// migration of a store that has legacy events, appends the keyed
    /// cut-over event that binds their head. Legacy events are never
    /// re-chained.
    pub async fn keyed(mut self, master: &MasterKey) -> Result<Store, StoreError> {
        self.chain_key = Some(master.audit_chain_key());
        let e = |e: &dyn std::fmt::Display| StoreError(format!("audit chain cut-over: {e}"));
        let pending = sqlx::query("SELECT value FROM meta WHERE name = 'audit_cutover_pending'")
            .fetch_optional(&self.pool)
            .await
            .map_err(|x| e(&x))?;
        if pending.is_none() {
            return Ok(self);
        }
        let m = self.begin().await.map_err(|x| e(&x))?;
        let mut m = m.without_iam_change();
        let keyed: i64 = sqlx::query("SELECT COUNT(*) FROM audit_events WHERE chain_version = $1")
            .bind(CHAIN_KEYED)
            .fetch_one(&mut *m.tx)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(|x| e(&x))?;
        if keyed > 0 {
            // The flag reappeared after keying began: never cut over twice
            // (that would launder a rewritten chain). Verification reports
            // any unkeyed event after the cut-over.
            return Err(StoreError(
                "the audit log asks for a cut-over to the keyed chain, but it already has keyed                  events; refusing to start (remove the 'audit_cutover_pending' row from the meta                  table after checking the log with `ward audit verify`)"
                    .into(),
            ));
        }
        sqlx::query("DELETE FROM meta WHERE name = 'audit_cutover_pending'")
            .execute(&mut *m.tx)
            .await
            .map_err(|x| e(&x))?;
        let ev = AuditEvent {
            at: crate::clock::now(),
            principal: "ward-ca (startup)".into(),
            action: CUTOVER_ACTION.into(),
            resource: ward_authz::arn::audit_log(&self.account_id),
            decision: "Allowed".into(),
            source_ip: "local".into(),
            detail: serde_json::json!({"legacyEvents": m.seq - 1, "legacyHead": m.prev}),
        };
        m.commit(&ev).await.map_err(|x| e(&x))?;
        Ok(self)
    }

    fn chain_key(&self) -> Result<AuditChainKey, ApiError> {
        self.chain_key
            .clone()
            .ok_or_else(|| ApiError::internal("the audit chain key is not loaded"))
    }

    /// The audit head: `(seq, MAC of the newest event)`.
    pub async fn audit_head(&self) -> Result<(i64, String), ApiError> {
        let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        Ok((head.try_get(0)?, head.try_get(1)?))
    }

    /// The installation's account id if this database already has one.
    pub async fn existing_account(&self) -> Result<Option<String>, StoreError> {
        let e = |e: sqlx::Error| StoreError(format!("reading the store: {e}"));
        sqlx::query("SELECT value FROM meta WHERE name = 'account_id'")
            .fetch_optional(&self.pool)
            .await
            .map_err(e)?
            .map(|r| r.try_get::<String, _>(0))
            .transpose()
            .map_err(e)
    }

    /// Loads the installation's account id; an error if the database has
    /// none (never initialised, or an init that failed half-way): `serve`
    /// never invents an account.
    pub async fn require_account(mut self) -> Result<Store, StoreError> {
        match self.existing_account().await? {
            Some(a) => {
                self.account_id = Arc::from(a.as_str());
                Ok(self)
            }
            None => Err(StoreError(
                "the database holds no ward installation, but the data directory has a \
                 master.key: this is not the database that data directory was initialised \
                 with (check `database` in the configuration), or the database was lost \
                 (restore it from a backup); ward-ca does not serve a half-initialised \
                 installation. To start over, move the data directory away and run \
                 `ward-ca init --config FILE`"
                    .into(),
            )),
        }
    }

    /// The 12-digit account id.
    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    /// A number that changes whenever identities, credentials or policies
    /// may have changed, for validating in-memory caches. SQLite is owned by
    /// one ward-ca process, so a local counter bumped after each such commit
    /// suffices; PostgreSQL may be shared by several replicas, so there it
    /// is the audit head's `iam_seq`, read each time. Audit-only events and
    /// certificate issuance ([`Mutation::without_iam_change`]) do not bump it.
    pub async fn generation(&self) -> Result<u64, ApiError> {
        match self.backend {
            Backend::Sqlite => Ok(self.local_generation.load(Ordering::Acquire)),
            Backend::Postgres => {
                self.generation_reads.fetch_add(1, Ordering::Relaxed);
                let row = sqlx::query("SELECT iam_seq FROM audit_head WHERE id = 1")
                    .fetch_one(&self.pool)
                    .await?;
                Ok(u64::try_from(row.try_get::<i64, _>(0)?).unwrap_or(0))
            }
        }
    }

    /// [`Store::generation`] read on a connection the caller already
    /// holds: a request must never hold one pooled connection while
    /// waiting for another (at the pool's size in concurrent requests, all
    /// of them would wait on each other until the acquire timeout).
    pub async fn generation_on(&self, c: &mut AnyConnection) -> Result<u64, ApiError> {
        match self.backend {
            Backend::Sqlite => Ok(self.local_generation.load(Ordering::Acquire)),
            Backend::Postgres => {
                self.generation_reads.fetch_add(1, Ordering::Relaxed);
                let row = sqlx::query("SELECT iam_seq FROM audit_head WHERE id = 1")
                    .fetch_one(&mut *c)
                    .await?;
                Ok(u64::try_from(row.try_get::<i64, _>(0)?).unwrap_or(0))
            }
        }
    }

    /// `/metrics` lines of the store: how many generation reads went to
    /// the database.
    pub fn render_metrics(&self) -> String {
        format!(
            "# HELP ward_store_generation_reads_total Generation reads sent to the database (PostgreSQL).\n\
             # TYPE ward_store_generation_reads_total counter\n\
             ward_store_generation_reads_total {}\n",
            self.generation_reads.load(Ordering::Relaxed)
        )
    }

    /// Signalled after each local commit that moves `audit_head.iam_seq`.
    pub fn changed(&self) -> Arc<tokio::sync::Notify> {
        self.changed.clone()
    }

    /// A read-only transaction that sees one consistent state (SQLite: a
    /// deferred transaction reads one WAL snapshot; PostgreSQL: REPEATABLE
    /// READ). End it with [`Tx::end_read`].
    pub async fn read_tx(&self) -> Result<Tx, ApiError> {
        let conn = self.pool.acquire().await?;
        let mut tx = Tx { conn: Some(conn) };
        tx.execute(match self.backend {
            Backend::Sqlite => "BEGIN",
            Backend::Postgres => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        })
        .await?;
        Ok(tx)
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool, for reads.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// True if the store answers.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").fetch_one(&self.pool).await.is_ok()
    }

    /// Ok if the store takes a write now (for `/readyz`): a real
    /// transaction that rewrites the audit head row unchanged and commits,
    /// so a lock held by a frozen replica or a read-only store shows where
    /// a `SELECT 1` would still succeed. After a store failure (a full
    /// disk, an I/O error, a timeout: [`note_write_failure`]) with no
    /// successful commit since, the probe also rewrites a
    /// [`RECOVERY_PROBE_BYTES`] scratch value: SQLite reuses the space its
    /// failed transactions left in the WAL, so a one-row write can succeed
    /// while certificate batches still fail for lack of room.
    pub async fn can_write(&self) -> Result<(), ApiError> {
        let recovering = last_write_failed();
        let mut tx = Tx::begin(&self.pool).await?;
        sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 1")
            .execute(&mut *tx)
            .await?;
        if recovering {
            sqlx::query(
                "INSERT INTO meta (name, value) VALUES ('readiness_probe', $1)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            )
            .bind("r".repeat(RECOVERY_PROBE_BYTES))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        if recovering {
            // Committed (the space was there); give it back.
            sqlx::query("DELETE FROM meta WHERE name = 'readiness_probe'")
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// Begins a mutation (see the module docs). Needs a [`Grant`]: only
    /// authorized work writes.
    pub async fn mutation(&self, _grant: &Grant) -> Result<Mutation, ApiError> {
        self.begin().await
    }

    async fn begin(&self) -> Result<Mutation, ApiError> {
        let key = self.chain_key()?;
        let mut tx = Tx::begin(&self.pool).await?;
        let row =
            sqlx::query("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")
                .fetch_one(&mut *tx)
                .await?;
        Ok(Mutation {
            seq: row.try_get(0)?,
            prev: row.try_get(1)?,
            tx,
            generation: self.local_generation.clone(),
            changed: self.changed.clone(),
            iam_change: true,
            key,
        })
    }

    /// Begins one transaction for several authorized units of work (group
    /// commit): the audit head is bumped once by `grants.len()` and
    /// [`BatchMutation::commit`] chains one event per grant. Such work never
    /// changes identities, credentials or policies.
    pub async fn batch(&self, grants: &[&Grant]) -> Result<BatchMutation, ApiError> {
        let n = i64::try_from(grants.len()).map_err(ApiError::internal)?;
        if n == 0 {
            return Err(ApiError::internal("empty batch"));
        }
        let key = self.chain_key()?;
        let mut tx = Tx::begin(&self.pool).await?;
        let row =
            sqlx::query("UPDATE audit_head SET seq = seq + $1 WHERE id = 1 RETURNING seq, hash")
                .bind(n)
                .fetch_one(&mut *tx)
                .await?;
        let last: i64 = row.try_get(0)?;
        Ok(BatchMutation {
            tx,
            first_seq: last - n + 1,
            n,
            prev: row.try_get(1)?,
            key,
        })
    }

    /// Records an event on its own (authentication failures, denials).
    pub async fn record(&self, ev: &AuditEvent) -> Result<i64, ApiError> {
        self.begin().await?.without_iam_change().commit(ev).await
    }

    /// Events matching the filters, oldest first.
    pub async fn audit_events(&self, f: &AuditFilter) -> Result<Vec<StoredEvent>, ApiError> {
        let rows = sqlx::query(
            "SELECT seq, at, principal, action, resource, decision, source_ip, detail, prev_hash, hash, chain_version FROM audit_events
             WHERE seq > $1 AND at >= $2 AND at <= $3
               AND ($4 = '' OR principal = $4 OR principal LIKE $5 ESCAPE '!' OR principal LIKE $6 ESCAPE '!')
               AND ($7 = '' OR action = $7)
             ORDER BY seq LIMIT $8",
        )
        .bind(f.after_seq)
        .bind(f.since)
        .bind(f.until)
        .bind(&f.principal)
        // A user name matches `…:user/NAME` and `…:user/PATH/NAME` exactly.
        .bind(format!("%:user/{}", like_literal(&f.principal)))
        .bind(format!("%:user/%/{}", like_literal(&f.principal)))
        .bind(&f.action)
        .bind(f.limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row_event).collect()
    }

    /// Walks the whole chain: every MAC recomputed with the chain key,
    /// every link and the head checked; legacy (unkeyed) events only
    /// before a valid cut-over event. With `checkpoint = (seq, mac)`, also
    /// that the event at `seq` still has `mac` and that the log reaches
    /// `seq` (so rewriting or truncating what the checkpoint covers is
    /// detected). `Ok(chain)` or the first break found.
    pub async fn verify_audit(
        &self,
        checkpoint: Option<(i64, &str)>,
    ) -> Result<Result<VerifiedChain, String>, ApiError> {
        let key = self.chain_key()?;
        let (head_seq, head_hash) = self.audit_head().await?;
        let mut prev = "0".repeat(64);
        let mut expect_seq = 1;
        let mut after = 0;
        let mut keyed_seen = false;
        let mut checkpoint_seen = false;
        let mut legacy_events = 0;
        loop {
            let batch = self
                .audit_events(&AuditFilter {
                    after_seq: after,
                    limit: 1000,
                    ..AuditFilter::all()
                })
                .await?;
            if batch.is_empty() {
                break;
            }
            for e in &batch {
                if e.seq != expect_seq {
                    return Ok(Err(format!(
                        "event {expect_seq} is missing (next is {})",
                        e.seq
                    )));
                }
                if e.prev_hash != prev {
                    return Ok(Err(format!(
                        "event {} does not link to event {}",
                        e.seq,
                        e.seq - 1
                    )));
                }
                let detail_text = e.event.detail.to_string();
                match e.chain_version {
                    CHAIN_KEYED => {
                        if !keyed_seen && e.seq > 1 {
                            // The first keyed event after legacy ones must be
                            // the cut-over, naming exactly that many.
                            let legacy = e.event.detail.get("legacyEvents").and_then(Value::as_i64);
                            if e.event.action != CUTOVER_ACTION || legacy != Some(e.seq - 1) {
                                return Ok(Err(format!(
                                    "events 1 to {} are unkeyed and no cut-over event binds them",
                                    e.seq - 1
                                )));
                            }
                        }
                        keyed_seen = true;
                        if !same_mac(
                            &chain_mac(&key, &prev, e.seq, &e.event, &detail_text),
                            &e.hash,
                        ) {
                            return Ok(Err(format!(
                                "event {} was altered (its MAC does not match; was the log rewritten without the key?)",
                                e.seq
                            )));
                        }
                    }
                    CHAIN_LEGACY if !keyed_seen => {
                        if legacy_hash(&prev, e.seq, &e.event, &detail_text) != e.hash {
                            return Ok(Err(format!("event {} was altered", e.seq)));
                        }
                        legacy_events += 1;
                    }
                    CHAIN_LEGACY => {
                        return Ok(Err(format!(
                            "event {} is unkeyed but follows keyed events: the log was rewritten",
                            e.seq
                        )));
                    }
                    v => {
                        return Ok(Err(format!(
                            "event {} has unknown chain version {v}",
                            e.seq
                        )));
                    }
                }
                if let Some((cp_seq, cp_mac)) = checkpoint {
                    if e.seq == cp_seq {
                        if !same_mac(&e.hash, cp_mac) {
                            return Ok(Err(format!(
                                "event {cp_seq} no longer has the checkpoint's MAC: the log up to the checkpoint was rewritten"
                            )));
                        }
                        checkpoint_seen = true;
                    }
                }
                prev = e.hash.clone();
                expect_seq += 1;
                after = e.seq;
            }
        }
        let count = expect_seq - 1;
        if count != head_seq || prev != head_hash {
            return Ok(Err(format!(
                "the log ends at event {count} but the head says {head_seq}: events were removed"
            )));
        }
        if count > 0 && !keyed_seen {
            return Ok(Err(format!(
                "none of the {count} events is keyed: the log was rewritten without the key"
            )));
        }
        if let Some((cp_seq, _)) = checkpoint {
            if !checkpoint_seen {
                return Ok(Err(format!(
                    "the log ends at event {count}, before the checkpoint's event {cp_seq}: events were removed"
                )));
            }
        }
        Ok(Ok(VerifiedChain {
            events: count,
            legacy_events,
        }))
    }
}

/// `s` as a LIKE pattern matching itself (escape character `!`).
fn like_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '!') {
            out.push('!');
        }
        out.push(c);
    }
    out
}

fn row_event(r: &sqlx::any::AnyRow) -> Result<StoredEvent, ApiError> {
    let detail: String = r.try_get(7)?;
    Ok(StoredEvent {
        seq: r.try_get(0)?,
        event: AuditEvent {
            at: r.try_get(1)?,
            principal: r.try_get(2)?,
            action: r.try_get(3)?,
            resource: r.try_get(4)?,
            decision: r.try_get(5)?,
            source_ip: r.try_get(6)?,
            detail: serde_json::from_str(&detail).unwrap_or(Value::String(detail)),
        },
        prev_hash: r.try_get(8)?,
        hash: r.try_get(9)?,
        chain_version: r.try_get(10)?,
    })
}

/// Filters for [`Store::audit_events`].
#[derive(Clone, Debug)]
pub struct AuditFilter {
    /// Only events after this sequence number (pagination).
    pub after_seq: i64,
    /// Unix seconds, inclusive.
    pub since: i64,
    /// Unix seconds, inclusive.
    pub until: i64,
    /// A principal ARN or a user name; empty for all.
    pub principal: String,
    /// An action; empty for all.
    pub action: String,
    /// Most events returned.
    pub limit: i64,
}

impl AuditFilter {
    /// No filter.
    pub fn all() -> AuditFilter {
        AuditFilter {
            after_seq: 0,
            since: i64::MIN,
            until: i64::MAX,
            principal: String::new(),
            action: String::new(),
            limit: 1000,
        }
    }
}

/// An open mutation: a transaction holding the audit head.
pub struct Mutation {
    /// The transaction; entity functions run on it.
    pub tx: Tx,
    seq: i64,
    prev: String,
    generation: Arc<AtomicU64>,
    changed: Arc<tokio::sync::Notify>,
    iam_change: bool,
    key: AuditChainKey,
}

impl Mutation {
    /// Marks this mutation as leaving identities, credentials and policies
    /// alone (certificate issuance, audit-only records), so caches stay valid.
    pub fn without_iam_change(mut self) -> Mutation {
        self.iam_change = false;
        self
    }

    /// Appends `ev` to the chain and commits everything.
    pub async fn commit(mut self, ev: &AuditEvent) -> Result<i64, ApiError> {
        let detail_text = ev.detail.to_string();
        let hash = chain_mac(&self.key, &self.prev, self.seq, ev, &detail_text);
        sqlx::query(
            "INSERT INTO audit_events (seq, at, principal, action, resource, decision, source_ip, detail, prev_hash, hash, chain_version)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(self.seq)
        .bind(ev.at)
        .bind(&ev.principal)
        .bind(&ev.action)
        .bind(&ev.resource)
        .bind(&ev.decision)
        .bind(&ev.source_ip)
        .bind(&detail_text)
        .bind(&self.prev)
        .bind(&hash)
        .bind(CHAIN_KEYED)
        .execute(&mut *self.tx)
        .await?;
        sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
            .bind(&hash)
            .execute(&mut *self.tx)
            .await?;
        if self.iam_change {
            sqlx::query("UPDATE audit_head SET iam_seq = iam_seq + 1 WHERE id = 1")
                .execute(&mut *self.tx)
                .await?;
        }
        self.tx.commit().await?;
        if self.iam_change {
            self.generation.fetch_add(1, Ordering::AcqRel);
            self.changed.notify_waiters();
        }
        Ok(self.seq)
    }
}

/// An open group-commit transaction (see [`Store::batch`]).
pub struct BatchMutation {
    /// The transaction; the units' own statements run on it.
    pub tx: Tx,
    first_seq: i64,
    n: i64,
    prev: String,
    key: AuditChainKey,
}

impl BatchMutation {
    /// Appends one chained event per unit, in order, and commits.
    pub async fn commit(mut self, events: &[AuditEvent]) -> Result<(), ApiError> {
        if i64::try_from(events.len()).ok() != Some(self.n) {
            return Err(ApiError::internal("batch: one event per grant is required"));
        }
        let mut prev = self.prev.clone();
        for (i, ev) in events.iter().enumerate() {
            let seq = self.first_seq + i64::try_from(i).map_err(ApiError::internal)?;
            let detail_text = ev.detail.to_string();
            let hash = chain_mac(&self.key, &prev, seq, ev, &detail_text);
            sqlx::query(
                "INSERT INTO audit_events (seq, at, principal, action, resource, decision, source_ip, detail, prev_hash, hash, chain_version)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(seq)
            .bind(ev.at)
            .bind(&ev.principal)
            .bind(&ev.action)
            .bind(&ev.resource)
            .bind(&ev.decision)
            .bind(&ev.source_ip)
            .bind(&detail_text)
            .bind(&prev)
            .bind(&hash)
            .bind(CHAIN_KEYED)
            .execute(&mut *self.tx)
            .await?;
            prev = hash;
        }
        sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
            .bind(&prev)
            .execute(&mut *self.tx)
            .await?;
        self.tx.commit().await?;
        Ok(())
    }
}

/// True if `e` says the store cannot take work right now but may later: a
/// full disk, an I/O error, a lock or statement timeout, a lost
/// connection. These are 503 with `Retry-After`, never 500.
pub fn store_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            let Some(code) = db.code() else { return false };
            // Decide the backend by the error's type, not by whether the
            // code looks numeric: many SQLSTATEs are digits too (53100
            // disk_full read as a SQLite code was a 500).
            let sqlite = db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some();
            match code.parse::<i32>().ok().filter(|_| sqlite) {
                // SQLite (extended) result codes: the primary code is the
                // low byte. BUSY 5, LOCKED 6, NOMEM 7, READONLY 8,
                // IOERR 10, FULL 13, CANTOPEN 14, PROTOCOL 15.
                Some(n) => matches!(n & 0xff, 5 | 6 | 7 | 8 | 10 | 13 | 14 | 15),
                // PostgreSQL SQLSTATE: connection exception (08), disk
                // full and other resource shortages (53), system and I/O
                // errors (58), shutdown or cancel (57: statement_timeout
                // is 57014), lock_not_available (55P03, lock_timeout),
                // idle-in-transaction timeout (25P03), serialization
                // failure and deadlock (40001, 40P01).
                None => {
                    let c = code.as_ref();
                    ["08", "53", "57", "58"].iter().any(|p| c.starts_with(p))
                        || matches!(c, "55P03" | "25P03" | "40001" | "40P01")
                }
            }
        }
        _ => false,
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> ApiError {
        if store_unavailable(&e) {
            note_write_failure();
            tracing::warn!(error = %e, "store unavailable");
            return ApiError::Unavailable {
                message:
                    "the store cannot take this request now (full, unreachable or busy); try again"
                        .into(),
            };
        }
        ApiError::internal(format!("store: {e}"))
    }
}
