//! Certificate authorities: their keys in the store, sealed under the
//! master key, several per authority so that rotation needs no downtime.
//!
//! Authorities: `ssh-user` and `ssh-host` (OpenSSH CAs), `x509-root` and
//! `x509-issuing` (root → issuing CA → client certificates). The newest
//! unretired key of an authority signs; every unretired key is published as
//! trusted, so `ward-ca rotate ssh-user` adds a key while certificates from
//! the old one keep working until it is retired.

use std::sync::Arc;

use sqlx::{AnyConnection, Row};

use crate::crypto::MasterKey;
use crate::error::ApiError;
use ward_pki::sshca::{CaAlg, SshCa};
use ward_pki::x509::{self, CaKey, KeyAlg};

/// Authority names (the last part of `arn:ward:ca::ACCT:authority/NAME`).
pub const SSH_USER: &str = "ssh-user";
/// SSH host CA.
pub const SSH_HOST: &str = "ssh-host";
/// X.509 root CA.
pub const X509_ROOT: &str = "x509-root";
/// X.509 issuing CA (signs client certificates).
pub const X509_ISSUING: &str = "x509-issuing";

/// One CA key, opened.
pub enum Signer {
    /// An OpenSSH CA.
    Ssh(Box<SshCa>),
    /// An X.509 CA.
    X509(CaKey),
}

/// A CA key with its metadata.
pub struct CaKeyEntry {
    /// Row id, e.g. `ssh-user-1700000000-AB12`.
    pub id: String,
    /// Public form: an OpenSSH line or a PEM certificate.
    pub public_text: String,
    /// The opened key.
    pub signer: Signer,
}

impl std::fmt::Debug for CaKeyEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaKeyEntry")
            .field("id", &self.id)
            .field("public_text", &self.public_text)
            .finish_non_exhaustive()
    }
}

/// The unretired keys of every authority, newest first.
#[derive(Debug, Default)]
pub struct Authorities {
    /// SSH user CA keys.
    pub ssh_user: Vec<Arc<CaKeyEntry>>,
    /// SSH host CA keys.
    pub ssh_host: Vec<Arc<CaKeyEntry>>,
    /// X.509 roots.
    pub x509_root: Vec<Arc<CaKeyEntry>>,
    /// X.509 issuing CAs.
    pub x509_issuing: Vec<Arc<CaKeyEntry>>,
}

impl Authorities {
    /// The signing (newest) key of an authority.
    pub fn signing(&self, authority: &str) -> Result<&Arc<CaKeyEntry>, ApiError> {
        let list = match authority {
            SSH_USER => &self.ssh_user,
            SSH_HOST => &self.ssh_host,
            X509_ROOT => &self.x509_root,
            X509_ISSUING => &self.x509_issuing,
            _ => return Err(ApiError::internal(format!("unknown authority {authority}"))),
        };
        list.first()
            .ok_or_else(|| ApiError::internal(format!("authority {authority} has no key")))
    }

    /// Every unretired key of an SSH authority.
    pub fn ssh_keys(&self, authority: &str) -> Vec<&SshCa> {
        let list = if authority == SSH_HOST {
            &self.ssh_host
        } else {
            &self.ssh_user
        };
        list.iter()
            .filter_map(|e| match &e.signer {
                Signer::Ssh(k) => Some(&**k),
                Signer::X509(_) => None,
            })
            .collect()
    }
}

fn key_id(authority: &str, now: i64) -> String {
    format!(
        "{authority}-{now}-{}",
        &crate::crypto::unique_id("XXXX")[4..12]
    )
}

async fn insert(
    c: &mut AnyConnection,
    master: &MasterKey,
    authority: &str,
    alg: &str,
    public_text: &str,
    private_text: &str,
    now: i64,
) -> Result<String, ApiError> {
    // The newest key signs, by created_at: make it strictly newer than every
    // earlier key of the authority even within the same second (a rotation
    // right after init), so the order never falls to the random id suffix.
    let latest: i64 =
        sqlx::query("SELECT COALESCE(MAX(created_at), 0) FROM ca_keys WHERE authority = $1")
            .bind(authority)
            .fetch_one(&mut *c)
            .await?
            .try_get(0)?;
    let now = now.max(latest + 1);
    let id = key_id(authority, now);
    let sealed = master.seal(private_text.as_bytes(), id.as_bytes());
    sqlx::query("INSERT INTO ca_keys (id, authority, algorithm, public_text, sealed_private, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(&id)
        .bind(authority)
        .bind(alg)
        .bind(public_text)
        .bind(sealed)
        .bind(now)
        .execute(&mut *c)
        .await?;
    Ok(id)
}

async fn count(c: &mut AnyConnection, authority: &str) -> Result<i64, ApiError> {
    Ok(
        sqlx::query("SELECT COUNT(*) FROM ca_keys WHERE authority = $1 AND retired_at IS NULL")
            .bind(authority)
            .fetch_one(&mut *c)
            .await?
            .try_get(0)?,
    )
}

const TEN_YEARS: i64 = 10 * 366 * 86_400;
const FIVE_YEARS: i64 = 5 * 366 * 86_400;

fn x509_alg(alg: CaAlg) -> KeyAlg {
    match alg {
        CaAlg::Ed25519 => KeyAlg::Ed25519,
        CaAlg::EcdsaP256 => KeyAlg::EcdsaP256,
    }
}

/// Adds a new key to `authority` (rotation, or first creation); `alg` is
/// the key algorithm (Ed25519 by default, ECDSA P-256 as an option).
pub async fn add_key(
    c: &mut AnyConnection,
    master: &MasterKey,
    account: &str,
    authority: &str,
    ssh_alg: CaAlg,
    now: i64,
) -> Result<String, ApiError> {
    let e =
        |e: &dyn std::fmt::Display| ApiError::internal(format!("creating a {authority} key: {e}"));
    match authority {
        SSH_USER | SSH_HOST => {
            let ca = SshCa::generate(ssh_alg).map_err(|x| e(&x))?;
            let private = ca.to_openssh().map_err(|x| e(&x))?;
            insert(
                c,
                master,
                authority,
                &ssh_alg.to_string(),
                &ca.public_line(&format!("ward {authority} CA {account}")),
                &private,
                now,
            )
            .await
        }
        X509_ROOT => {
            // Ed25519 by default (OpenSSL 3, curl and rustls all verify it);
            // ECDSA P-256 on request, as for the SSH authorities.
            let alg = x509_alg(ssh_alg);
            let root =
                x509::create_root(account, alg, now - 3600, now + TEN_YEARS).map_err(|x| e(&x))?;
            insert(
                c,
                master,
                authority,
                alg.as_str(),
                &root.cert_pem,
                root.private_key_pem(),
                now,
            )
            .await
        }
        X509_ISSUING => {
            let auth = load(c, master).await?;
            let root = match &auth.signing(X509_ROOT)?.signer {
                Signer::X509(k) => k.clone(),
                Signer::Ssh(_) => return Err(ApiError::internal("x509 root is not an X.509 key")),
            };
            let alg = x509_alg(ssh_alg);
            let issuing = x509::create_issuing(&root, account, alg, now - 3600, now + FIVE_YEARS)
                .map_err(|x| e(&x))?;
            insert(
                c,
                master,
                authority,
                alg.as_str(),
                &issuing.cert_pem,
                issuing.private_key_pem(),
                now,
            )
            .await
        }
        other => Err(ApiError::invalid(
            "authority",
            format!("unknown authority {other:?} (ssh-user, ssh-host, x509-root, x509-issuing)"),
        )),
    }
}

/// Creates every authority that has no key yet.
pub async fn ensure(
    c: &mut AnyConnection,
    master: &MasterKey,
    account: &str,
    now: i64,
) -> Result<Vec<String>, ApiError> {
    let mut created = Vec::new();
    for authority in [SSH_USER, SSH_HOST, X509_ROOT, X509_ISSUING] {
        if count(c, authority).await? == 0 {
            created.push(add_key(c, master, account, authority, CaAlg::Ed25519, now).await?);
        }
    }
    Ok(created)
}

/// Opens every unretired key.
pub async fn load(c: &mut AnyConnection, master: &MasterKey) -> Result<Authorities, ApiError> {
    let rows = sqlx::query("SELECT id, authority, public_text, sealed_private FROM ca_keys WHERE retired_at IS NULL ORDER BY created_at DESC, id DESC")
        .fetch_all(&mut *c)
        .await?;
    let mut a = Authorities::default();
    for r in &rows {
        let (id, authority, public_text, sealed): (String, String, String, Vec<u8>) =
            (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?);
        let private = master
            .open(&sealed, id.as_bytes())
            .map_err(ApiError::internal)?;
        let private = std::str::from_utf8(&private).map_err(ApiError::internal)?;
        let signer = match authority.as_str() {
            SSH_USER | SSH_HOST => Signer::Ssh(Box::new(
                SshCa::from_openssh(private).map_err(ApiError::internal)?,
            )),
            _ => Signer::X509(CaKey::from_pem(&public_text, private).map_err(ApiError::internal)?),
        };
        let entry = Arc::new(CaKeyEntry {
            id,
            public_text,
            signer,
        });
        match authority.as_str() {
            SSH_USER => a.ssh_user.push(entry),
            SSH_HOST => a.ssh_host.push(entry),
            X509_ROOT => a.x509_root.push(entry),
            X509_ISSUING => a.x509_issuing.push(entry),
            _ => {}
        }
    }
    Ok(a)
}

/// Retires a key: it no longer signs and is no longer published as trusted.
pub async fn retire(c: &mut AnyConnection, id: &str, now: i64) -> Result<(), ApiError> {
    let res =
        sqlx::query("UPDATE ca_keys SET retired_at = $1 WHERE id = $2 AND retired_at IS NULL")
            .bind(now)
            .bind(id)
            .execute(&mut *c)
            .await?;
    if res.rows_affected() == 0 {
        return Err(ApiError::no_such("CA key", id));
    }
    Ok(())
}

/// `(key id, public key)` of every key an SSH authority ever had, retired
/// ones included (the KRL must keep naming them).
pub async fn all_public_keys(
    c: &mut AnyConnection,
    authority: &str,
) -> Result<Vec<(String, ssh_key::PublicKey)>, ApiError> {
    let rows = sqlx::query("SELECT id, public_text FROM ca_keys WHERE authority = $1")
        .bind(authority)
        .fetch_all(&mut *c)
        .await?;
    let mut out = Vec::new();
    for r in &rows {
        let (id, text): (String, String) = (r.try_get(0)?, r.try_get(1)?);
        let pk = ssh_key::PublicKey::from_openssh(&text).map_err(ApiError::internal)?;
        out.push((id, pk));
    }
    Ok(out)
}

/// A summary of the `ca_keys` table that changes whenever a key is added
/// or retired (the CA key cache's validity key).
pub async fn summary(c: &mut AnyConnection) -> Result<String, ApiError> {
    let r = sqlx::query("SELECT COUNT(*), COALESCE(MAX(created_at), 0), COALESCE(MAX(retired_at), 0), COUNT(retired_at) FROM ca_keys").fetch_one(&mut *c).await?;
    let key = format!(
        "{}:{}:{}:{}",
        r.try_get::<i64, _>(0)?,
        r.try_get::<i64, _>(1)?,
        r.try_get::<i64, _>(2)?,
        r.try_get::<i64, _>(3)?
    );
    Ok(key)
}
