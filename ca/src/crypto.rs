//! Secrets: the master key, sealing secrets at rest, random identifiers
//! and credentials, and password hashing.
//!
//! - The master key is 32 random bytes in a 0600 file created at init.
//!   ward-ca refuses to start if the file is readable by group or others.
//! - Sealed values are `1 || nonce(24) || XChaCha20-Poly1305(ciphertext)`,
//!   with associated data binding each ciphertext to its row (e.g. the
//!   access key id), so a ciphertext moved to another row does not open.
//! - Passwords are hashed with Argon2id (OWASP parameters: m = 19 MiB,
//!   t = 2, p = 1); verification is constant-time in the crate.
//! - [`Secret`] never prints its contents.
//! - The audit chain key ([`AuditChainKey`]) is derived from the master key
//!   with HMAC-SHA256 under the fixed label `ward audit chain v1`; it lives
//!   only in memory and is never stored.

pub mod totp;

use std::fmt;
use std::io::Write;
use std::path::Path;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::rngs::OsRng;
use rand::{Rng, RngCore};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// A string that must not be logged: `Debug` and `Display` redact it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: String) -> Secret {
        Secret(Zeroizing::new(s))
    }

    /// The secret text. Call sites are the places secrets flow; keep them few.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Crypto failures (never carry secret material).
#[derive(Debug)]
pub enum CryptoError {
    /// The master key file is missing, malformed or too open.
    MasterKey(String),
    /// A sealed value did not open (wrong key, tampered, moved).
    Unseal,
    /// Password hashing failed.
    Hash(String),
}

impl fmt::Display for CryptoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CryptoError::MasterKey(m) => write!(f, "master key: {m}"),
            CryptoError::Unseal => {
                f.write_str("a sealed secret did not open: wrong master key or tampered data")
            }
            CryptoError::Hash(m) => write!(f, "password hashing: {m}"),
        }
    }
}

impl std::error::Error for CryptoError {}

/// The installation's master key.
pub struct MasterKey {
    cipher: XChaCha20Poly1305,
    audit_chain: AuditChainKey,
}

/// The key that MACs the audit chain (HMAC-SHA256), derived from the master
/// key: whoever can write the database but does not hold the master key
/// cannot recompute the chain.
#[derive(Clone)]
pub struct AuditChainKey(Zeroizing<[u8; 32]>);

impl fmt::Debug for AuditChainKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuditChainKey(***)")
    }
}

/// The derivation label of the audit chain key.
const AUDIT_CHAIN_LABEL: &[u8] = b"ward audit chain v1";

type HmacSha256 = hmac::Hmac<Sha256>;

impl AuditChainKey {
    fn derive(master: &[u8; 32]) -> AuditChainKey {
        use hmac::Mac;
        // HMAC accepts keys of any length; 32 bytes cannot fail.
        let mut out = Zeroizing::new([0u8; 32]);
        if let Ok(mut m) = <HmacSha256 as hmac::Mac>::new_from_slice(master) {
            m.update(AUDIT_CHAIN_LABEL);
            out.copy_from_slice(&m.finalize().into_bytes());
        }
        AuditChainKey(out)
    }

    /// Hex HMAC-SHA256 of `data`.
    pub fn mac_hex(&self, data: &[u8]) -> String {
        use hmac::Mac;
        match <HmacSha256 as hmac::Mac>::new_from_slice(&*self.0) {
            Ok(mut m) => {
                m.update(data);
                hex::encode(m.finalize().into_bytes())
            }
            Err(_) => String::new(),
        }
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

const SEAL_VERSION: u8 = 1;

impl MasterKey {
    /// Creates a new random key file (mode 0600); fails if it exists.
    pub fn create(path: &Path) -> Result<MasterKey, CryptoError> {
        use std::os::unix::fs::OpenOptionsExt;
        let mut key = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(&mut *key);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| CryptoError::MasterKey(format!("{}: {e}", path.display())))?;
        f.write_all(hex::encode(*key).as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(|e| CryptoError::MasterKey(format!("{}: {e}", path.display())))?;
        Ok(MasterKey::from_bytes(&key))
    }

    /// Loads the key file, refusing one readable by group or others.
    pub fn load(path: &Path) -> Result<MasterKey, CryptoError> {
        use std::os::unix::fs::PermissionsExt;
        let bad = |m: String| CryptoError::MasterKey(format!("{}: {m}", path.display()));
        let meta = std::fs::metadata(path).map_err(|e| bad(e.to_string()))?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(bad(format!(
                "mode {:o} is too open; it must be 0600 (chmod 600 {})",
                meta.permissions().mode() & 0o777,
                path.display()
            )));
        }
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?);
        let bytes = Zeroizing::new(hex::decode(text.trim()).map_err(|_| bad("not hex".into()))?);
        let key: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| bad("must be 32 bytes (64 hex digits)".into()))?;
        Ok(MasterKey::from_bytes(&Zeroizing::new(key)))
    }

    /// A key from raw bytes (tests).
    pub fn from_bytes(key: &[u8; 32]) -> MasterKey {
        MasterKey {
            cipher: XChaCha20Poly1305::new(key.into()),
            audit_chain: AuditChainKey::derive(key),
        }
    }

    /// The audit chain key derived from this master key.
    pub fn audit_chain_key(&self) -> AuditChainKey {
        self.audit_chain.clone()
    }

    /// Seals `plaintext`, bound to `aad`.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; 24];
        OsRng.fill_bytes(&mut nonce);
        // Encryption with a valid key and in-memory buffers cannot fail.
        let ct = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .unwrap_or_default();
        let mut out = Vec::with_capacity(1 + 24 + ct.len());
        out.push(SEAL_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    /// Opens a sealed value bound to `aad`.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if sealed.len() < 1 + 24 + 16 || sealed[0] != SEAL_VERSION {
            return Err(CryptoError::Unseal);
        }
        let (nonce, ct) = sealed[1..].split_at(24);
        self.cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad })
            .map(Zeroizing::new)
            .map_err(|_| CryptoError::Unseal)
    }
}

const UPPER_ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const KEY_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const SECRET_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn random_from(alphabet: &[u8], n: usize) -> String {
    let mut rng = OsRng;
    (0..n)
        .map(|_| char::from(alphabet[rng.gen_range(0..alphabet.len())]))
        .collect()
}

/// A unique id with an AWS-style prefix (`AIDA`, `AGPA`, `ANPA`, `AROA`,
/// `APKA`): 21 characters, like AWS's.
pub fn unique_id(prefix: &str) -> String {
    format!("{prefix}{}", random_from(UPPER_ALNUM, 21 - prefix.len()))
}

/// A long-term (`AKIA`) or temporary (`ASIA`) access key id: 20 characters.
pub fn access_key_id(prefix: &str) -> String {
    format!("{prefix}{}", random_from(KEY_ALPHABET, 20 - prefix.len()))
}

/// A 40-character secret access key.
pub fn secret_access_key() -> Secret {
    Secret::new(random_from(SECRET_ALPHABET, 40))
}

/// An opaque session token (256 random bits, base64url).
pub fn session_token() -> Secret {
    use base64::Engine as _;
    let mut b = Zeroizing::new([0u8; 32]);
    OsRng.fill_bytes(&mut *b);
    Secret::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(*b))
}

/// Hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn argon2() -> Argon2<'static> {
    // Argon2id, m = 19 MiB, t = 2, p = 1: OWASP's minimum recommendation,
    // also the crate's default. Figures in BENCHMARKS.md.
    Argon2::default()
}

/// Hashes a password (PHC string).
pub fn hash_password(password: &str) -> Result<String, CryptoError> {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| CryptoError::Hash(e.to_string()))
}

/// A hash of a random password, verified against when the user does not
/// exist so that the response time does not reveal which users exist.
pub fn dummy_password_hash() -> &'static str {
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$9m0Kc5Ju8ITRgeVGM+s0rGvQ6lK0Nf84+Zt5BbvpNGM"
}

/// Verifies a password against a PHC hash (constant-time).
pub fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(h) => argon2().verify_password(password.as_bytes(), &h).is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_round_trip_and_binding() {
        let k = MasterKey::from_bytes(&[7; 32]);
        let s = k.seal(b"secret", b"AKIA1");
        assert_eq!(&*k.open(&s, b"AKIA1").unwrap(), b"secret");
        assert!(
            k.open(&s, b"AKIA2").is_err(),
            "moved ciphertext must not open"
        );
        let other = MasterKey::from_bytes(&[8; 32]);
        assert!(other.open(&s, b"AKIA1").is_err());
        let mut t = s.clone();
        let last = t.len() - 1;
        t[last] ^= 1;
        assert!(k.open(&t, b"AKIA1").is_err());
        assert!(k.open(&[], b"").is_err());
        assert!(k.open(&[1; 10], b"").is_err());
        assert!(!s.windows(6).any(|w| w == b"secret"));
    }

    #[test]
    fn key_file_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("ward-mk-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("master.key");
        let _ = std::fs::remove_file(&p);
        let k = MasterKey::create(&p).unwrap();
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(MasterKey::create(&p).is_err(), "must not overwrite");
        let k2 = MasterKey::load(&p).unwrap();
        assert_eq!(&*k2.open(&k.seal(b"x", b"a"), b"a").unwrap(), b"x");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = MasterKey::load(&p).unwrap_err().to_string();
        assert!(e.contains("too open"), "{e}");
        std::fs::write(&p, "zz").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(MasterKey::load(&p).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn audit_chain_key_is_derived_and_keyed() {
        let a = MasterKey::from_bytes(&[7; 32]).audit_chain_key();
        let b = MasterKey::from_bytes(&[8; 32]).audit_chain_key();
        assert_eq!(a.mac_hex(b"x").len(), 64);
        assert_eq!(
            a.mac_hex(b"x"),
            MasterKey::from_bytes(&[7; 32])
                .audit_chain_key()
                .mac_hex(b"x")
        );
        assert_ne!(a.mac_hex(b"x"), b.mac_hex(b"x"));
        assert_ne!(a.mac_hex(b"x"), sha256_hex(b"x"));
        assert_eq!(format!("{a:?}"), "AuditChainKey(***)");
    }

    #[test]
    fn ids_and_secrets() {
        let id = unique_id("AIDA");
        assert_eq!(id.len(), 21);
        assert!(id.starts_with("AIDA"));
        let ak = access_key_id("AKIA");
        assert_eq!(ak.len(), 20);
        assert_eq!(secret_access_key().expose().len(), 40);
        assert_ne!(unique_id("AIDA"), unique_id("AIDA"));
        assert_eq!(format!("{:?}", secret_access_key()), "Secret(***)");
    }

    #[test]
    fn passwords() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not a hash"));
        assert!(PasswordHash::new(dummy_password_hash()).is_ok());
        assert!(!verify_password("", dummy_password_hash()));
    }
}
