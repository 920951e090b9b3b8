//! Signed checkpoints of the audit head.
//!
//! The keyed chain (see `crate::store`) stops anyone without the master key
//! from recomputing MACs, but not from removing the newest events and
//! rewinding the head (truncation), nor can it prove to an outsider what
//! the log said yesterday. A checkpoint is `(account, seq, head MAC, time)`
//! signed with an Ed25519 key that is sealed under the master key like the
//! CA keys (table `audit_signing_keys`, associated data = the key id). An
//! operator keeps checkpoints offline; `ward audit verify --checkpoint`
//! checks the signature against the pinned public key and asks ward-ca to
//! confirm that the event at `seq` still has that MAC and that the log
//! reaches `seq`.
//!
//! The public key is published unauthenticated (`GET /v1/ca/audit-key`),
//! derived from the opened private key rather than read from its column,
//! so a database writer cannot substitute another key there.

use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey};
use rand::RngCore;
use sqlx::{AnyConnection, Row};
use ward_protocol::api;

use crate::crypto::MasterKey;
use crate::error::ApiError;

/// The opened audit signing key.
pub struct AuditSigner {
    /// Row id, e.g. `audit-1700000000-AB12CD34`.
    pub id: String,
    key: SigningKey,
}

impl std::fmt::Debug for AuditSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditSigner")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

impl AuditSigner {
    /// The public key, standard base64.
    pub fn public_key_b64(&self) -> String {
        b64(self.key.verifying_key().as_bytes())
    }

    /// Signs a checkpoint of `(seq, mac)` taken at `time` (RFC 3339).
    pub fn checkpoint(
        &self,
        account: &str,
        seq: i64,
        mac: &str,
        time: &str,
    ) -> api::AuditCheckpoint {
        let mut cp = api::AuditCheckpoint {
            format: api::AUDIT_CHECKPOINT_FORMAT.into(),
            account_id: account.into(),
            seq,
            mac: mac.into(),
            time: time.into(),
            key_id: self.id.clone(),
            public_key: self.public_key_b64(),
            signature: String::new(),
        };
        cp.signature = b64(&self.key.sign(&cp.signed_message()).to_bytes());
        cp
    }
}

/// Creates the audit signing key if there is none; returns its id if it
/// was created (the caller records that in the audit log, in the same
/// transaction).
pub async fn ensure(
    c: &mut AnyConnection,
    master: &MasterKey,
    now: i64,
) -> Result<Option<String>, ApiError> {
    let n: i64 = sqlx::query("SELECT COUNT(*) FROM audit_signing_keys")
        .fetch_one(&mut *c)
        .await?
        .try_get(0)?;
    if n > 0 {
        return Ok(None);
    }
    let mut seed = zeroize::Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(&mut *seed);
    let key = SigningKey::from_bytes(&seed);
    let id = format!("audit-{now}-{}", &crate::crypto::unique_id("XXXX")[4..12]);
    let sealed = master.seal(&*seed, id.as_bytes());
    sqlx::query("INSERT INTO audit_signing_keys (id, public_key, sealed_private, created_at) VALUES ($1, $2, $3, $4)")
        .bind(&id)
        .bind(b64(key.verifying_key().as_bytes()))
        .bind(sealed)
        .bind(now)
        .execute(&mut *c)
        .await?;
    Ok(Some(id))
}

/// Opens the newest audit signing key. Its stored public key must match
/// the one derived from the sealed private key (fail closed otherwise).
pub async fn load(c: &mut AnyConnection, master: &MasterKey) -> Result<AuditSigner, ApiError> {
    let row = sqlx::query(
        "SELECT id, public_key, sealed_private FROM audit_signing_keys ORDER BY created_at DESC, id DESC LIMIT 1",
    )
    .fetch_optional(&mut *c)
    .await?
    .ok_or_else(|| ApiError::internal("there is no audit signing key"))?;
    let (id, public, sealed): (String, String, Vec<u8>) =
        (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
    let seed = master
        .open(&sealed, id.as_bytes())
        .map_err(ApiError::internal)?;
    let seed: zeroize::Zeroizing<[u8; 32]> = zeroize::Zeroizing::new(
        seed.as_slice()
            .try_into()
            .map_err(|_| ApiError::internal("the audit signing key is not 32 bytes"))?,
    );
    let signer = AuditSigner {
        id,
        key: SigningKey::from_bytes(&seed),
    };
    if signer.public_key_b64() != public {
        return Err(ApiError::internal(
            "the audit signing key's stored public key does not match its private key",
        ));
    }
    Ok(signer)
}
