//! The SSH certificate authority: CA keys, user and host certificates in
//! OpenSSH's format (PROTOCOL.certkeys), and the public lines that sshd
//! (`TrustedUserCAKeys`) and ssh (`@cert-authority` in known_hosts) need.
//!
//! This module is pure: it reads no clock and does no I/O. Times are inputs
//! (seconds since the epoch) chosen by the caller, which also owns policy
//! (TTL caps, which principals a user may have), serial allocation and the
//! record of every issued certificate. The only outside input is randomness
//! (the CA key and the 32-byte certificate nonce).
//!
//! What it refuses, so that no caller can forget to (SPEC §6, issue 4 item 2):
//! empty principal lists, empty validity windows, malformed `source-address`
//! CIDRs, serial 0 (OpenSSH never revokes serial 0 by serial, see `krl.c`),
//! and keys OpenSSH has given up on: DSA and RSA under 2048 bits.
//!
//! It does not touch the store: the CA private key comes in and goes out as
//! OpenSSH PEM text ([`SshCa::from_openssh`], [`SshCa::to_openssh`]) and is
//! sealed under the master key by the caller.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rand_core::OsRng;
use ssh_key::certificate::{Builder, CertType};
use ssh_key::public::{EcdsaPublicKey, KeyData};
use ssh_key::{Algorithm, Certificate, EcdsaCurve, HashAlg, LineEnding, PrivateKey, PublicKey};
use zeroize::Zeroizing;

/// Longest public key line accepted (an RSA 16384-bit key is ~2.8 KiB).
const MAX_KEY_LEN: usize = 16 * 1024;
/// Smallest RSA modulus accepted, in bits.
const MIN_RSA_BITS: usize = 2048;
/// OpenSSH's `SSHKEY_CERT_MAX_PRINCIPALS`.
const MAX_PRINCIPALS: usize = 256;
/// Longest principal (user or host name) accepted, in bytes.
const MAX_PRINCIPAL_LEN: usize = 255;
/// Longest key id accepted, in bytes.
const MAX_KEY_ID_LEN: usize = 255;
/// Most `source-address` entries accepted.
const MAX_SOURCE_ADDRESSES: usize = 64;
/// Nonce length; ssh-keygen uses 32 bytes too.
const NONCE_LEN: usize = 32;
/// ssh-key 0.6 refuses times beyond `i64::MAX` (so no "forever" certificates).
const MAX_TIME: u64 = i64::MAX as u64;

/// Signature algorithm of a CA key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaAlg {
    /// Ed25519, the default (SPEC §6).
    Ed25519,
    /// ECDSA on NIST P-256 with SHA-256, for sites that require NIST curves.
    EcdsaP256,
}

impl CaAlg {
    fn algorithm(self) -> Algorithm {
        match self {
            CaAlg::Ed25519 => Algorithm::Ed25519,
            CaAlg::EcdsaP256 => Algorithm::Ecdsa {
                curve: EcdsaCurve::NistP256,
            },
        }
    }

    fn of(algorithm: &Algorithm) -> Option<CaAlg> {
        match algorithm {
            Algorithm::Ed25519 => Some(CaAlg::Ed25519),
            Algorithm::Ecdsa {
                curve: EcdsaCurve::NistP256,
            } => Some(CaAlg::EcdsaP256),
            _ => None,
        }
    }
}

impl fmt::Display for CaAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CaAlg::Ed25519 => "ed25519",
            CaAlg::EcdsaP256 => "ecdsa-p256",
        })
    }
}

/// An SSH CA private key. Its `Debug` shows the algorithm and fingerprint,
/// never the key.
pub struct SshCa {
    key: PrivateKey,
    alg: CaAlg,
}

impl fmt::Debug for SshCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SshCa")
            .field("alg", &self.alg)
            .field("fingerprint", &self.fingerprint())
            .field("key", &"<redacted>")
            .finish()
    }
}

impl SshCa {
    /// A new random CA key.
    pub fn generate(alg: CaAlg) -> Result<SshCa, SshCaError> {
        let key = PrivateKey::random(&mut OsRng, alg.algorithm())
            .map_err(|e| SshCaError::CaKey(format!("cannot generate a {alg} key: {e}")))?;
        Ok(SshCa { key, alg })
    }

    /// A CA key from unencrypted OpenSSH private key PEM (as unsealed from
    /// the store). Only Ed25519 and ECDSA P-256 keys are CA keys.
    pub fn from_openssh(private_key_pem: &str) -> Result<SshCa, SshCaError> {
        let key = PrivateKey::from_openssh(private_key_pem.trim())
            .map_err(|e| SshCaError::CaKey(format!("not an OpenSSH private key: {e}")))?;
        if key.is_encrypted() {
            return Err(SshCaError::CaKey(
                "the CA key is passphrase-encrypted; ward seals keys itself".into(),
            ));
        }
        let alg = CaAlg::of(&key.algorithm()).ok_or_else(|| {
            SshCaError::CaKey(format!(
                "{} is not a CA key type (ed25519 or ecdsa-sha2-nistp256)",
                key.algorithm()
            ))
        })?;
        Ok(SshCa { key, alg })
    }

    /// The private key as OpenSSH PEM, for sealing under the master key.
    pub fn to_openssh(&self) -> Result<Zeroizing<String>, SshCaError> {
        self.key
            .to_openssh(LineEnding::LF)
            .map_err(|e| SshCaError::CaKey(format!("cannot encode the CA key: {e}")))
    }

    /// The CA's algorithm.
    pub fn alg(&self) -> CaAlg {
        self.alg
    }

    /// The public key (without a comment).
    pub fn public_key(&self) -> PublicKey {
        PublicKey::new(self.key.public_key().key_data().clone(), "")
    }

    /// `SHA256:…` fingerprint of the public key, as ssh-keygen prints it.
    pub fn fingerprint(&self) -> String {
        self.key.fingerprint(HashAlg::Sha256).to_string()
    }

    /// `ssh-ed25519 AAAA… comment`: one line of a `TrustedUserCAKeys` file.
    /// Control characters in `comment` become spaces so the line stays one line.
    pub fn public_line(&self, comment: &str) -> String {
        let comment: String = comment
            .trim()
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        PublicKey::new(self.key.public_key().key_data().clone(), comment).to_string()
    }
}

/// What a user certificate says. Policy has already decided every field;
/// this module only checks that the result is a certificate OpenSSH will
/// honour as meant.
#[derive(Clone, Debug)]
pub struct UserCertRequest<'a> {
    /// The user's public key (see [`parse_public_key`]).
    pub public_key: &'a PublicKey,
    /// Unique, non-zero serial.
    pub serial: u64,
    /// The user's unique id (SPEC §5: key id = user id).
    pub key_id: &'a str,
    /// Local account names this certificate may log into; never empty.
    pub principals: &'a [String],
    /// First second of validity (the caller backdates it).
    pub valid_after: u64,
    /// First second of invalidity; must be after `valid_after`.
    pub valid_before: u64,
    /// Extension `permit-pty`.
    pub permit_pty: bool,
    /// Extension `permit-port-forwarding`.
    pub permit_port_forwarding: bool,
    /// Extension `permit-agent-forwarding`.
    pub permit_agent_forwarding: bool,
    /// Extension `permit-X11-forwarding`.
    pub permit_x11_forwarding: bool,
    /// Extension `permit-user-rc`.
    pub permit_user_rc: bool,
    /// CIDRs (or single addresses) the certificate may be used from: the
    /// critical option `source-address`. `None` for anywhere.
    pub source_addresses: Option<&'a [String]>,
}

/// Signs a user certificate for `req.public_key` with `ca`.
pub fn sign_user_cert(ca: &SshCa, req: &UserCertRequest<'_>) -> Result<Certificate, SshCaError> {
    let mut b = builder(
        ca,
        req.public_key,
        req.serial,
        req.key_id,
        req.principals,
        req.valid_after,
        req.valid_before,
    )?;
    let source = match req.source_addresses {
        Some(list) => Some(source_address_option(list)?),
        None => None,
    };
    b.cert_type(CertType::User).map_err(build_error)?;
    if let Some(source) = source {
        b.critical_option("source-address", source)
            .map_err(build_error)?;
    }
    // Extensions carry an empty value; ssh-key keeps them sorted by name as
    // PROTOCOL.certkeys requires.
    let extensions = [
        (req.permit_x11_forwarding, "permit-X11-forwarding"),
        (req.permit_agent_forwarding, "permit-agent-forwarding"),
        (req.permit_port_forwarding, "permit-port-forwarding"),
        (req.permit_pty, "permit-pty"),
        (req.permit_user_rc, "permit-user-rc"),
    ];
    for (on, name) in extensions {
        if on {
            b.extension(name, "").map_err(build_error)?;
        }
    }
    b.sign(&ca.key).map_err(sign_error)
}

/// Signs a host certificate for `host_key`, valid for `hostnames` (the
/// names clients type: ssh compares them to the certificate's principals).
pub fn sign_host_cert(
    ca: &SshCa,
    host_key: &PublicKey,
    serial: u64,
    key_id: &str,
    hostnames: &[String],
    valid_after: u64,
    valid_before: u64,
) -> Result<Certificate, SshCaError> {
    let mut b = builder(
        ca,
        host_key,
        serial,
        key_id,
        hostnames,
        valid_after,
        valid_before,
    )?;
    b.cert_type(CertType::Host).map_err(build_error)?;
    b.sign(&ca.key).map_err(sign_error)
}

/// `@cert-authority PATTERN ssh-ed25519 AAAA…`: a known_hosts line trusting
/// `ca_public` for host certificates of hosts matching `pattern` (e.g. `*`,
/// `*.example.com`, `[127.0.0.1]:2222`). Whitespace and control characters
/// cannot occur in a pattern and are dropped.
pub fn known_hosts_line(ca_public: &PublicKey, pattern: &str) -> String {
    let pattern: String = pattern
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control())
        .collect();
    let key = PublicKey::new(ca_public.key_data().clone(), "").to_string();
    format!("@cert-authority {pattern} {key}")
}

/// Parses one OpenSSH public key line (`TYPE BASE64 [COMMENT]`) and checks
/// that ward will certify it: Ed25519, ECDSA, FIDO (`sk-…`) or RSA of at
/// least 2048 bits. Private keys, certificates and DSA keys are refused.
pub fn parse_public_key(text: &str) -> Result<PublicKey, SshCaError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(SshCaError::MalformedPublicKey(
            "the public key is empty".into(),
        ));
    }
    if t.len() > MAX_KEY_LEN {
        return Err(SshCaError::MalformedPublicKey(format!(
            "the public key is longer than {MAX_KEY_LEN} bytes"
        )));
    }
    if t.contains("PRIVATE KEY") {
        return Err(SshCaError::PrivateKeyGiven);
    }
    if t.contains('\n') || t.contains('\r') {
        return Err(SshCaError::MalformedPublicKey(
            "give exactly one public key line".into(),
        ));
    }
    let alg_name = t.split_whitespace().next().unwrap_or_default();
    if alg_name.ends_with("-cert-v01@openssh.com") {
        return Err(SshCaError::CertificateGiven);
    }
    if alg_name == "ssh-dss" {
        return Err(dsa_refused());
    }
    let key = PublicKey::from_openssh(t).map_err(|e| {
        SshCaError::MalformedPublicKey(format!(
            "not an OpenSSH public key line (\"TYPE BASE64 [COMMENT]\"): {e}"
        ))
    })?;
    check_key_type(key.key_data())?;
    Ok(key)
}

/// Why a key or certificate request was refused, or (for
/// [`SshCaError::is_internal`] errors) why ward could not sign. `Display`
/// messages are written for the person who sent the request.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SshCaError {
    /// The public key text does not parse as one OpenSSH public key line.
    MalformedPublicKey(String),
    /// A private key was sent where a public key belongs.
    PrivateKeyGiven,
    /// A certificate was sent where a plain public key belongs.
    CertificateGiven,
    /// A key type ward does not certify (DSA, unknown types).
    UnsupportedKeyType(String),
    /// An RSA key under 2048 bits.
    RsaTooShort {
        /// The modulus size found.
        bits: usize,
    },
    /// The CA's own key was presented for certification.
    CaKeyGiven,
    /// The principal (user or host name) list is empty.
    NoPrincipals,
    /// More principals than OpenSSH accepts.
    TooManyPrincipals(usize),
    /// One principal is unusable.
    BadPrincipal {
        /// The principal, with control characters escaped.
        principal: String,
        /// Why.
        reason: &'static str,
    },
    /// The validity window is empty or out of range.
    BadValidity(String),
    /// A `source-address` entry is not an address or CIDR.
    BadSourceAddress {
        /// The entry, with control characters escaped.
        entry: String,
        /// Why.
        reason: String,
    },
    /// The key id (ward's user id) is unusable: a caller bug.
    BadKeyId(&'static str),
    /// Serial 0, which an OpenSSH KRL cannot revoke by serial: a caller bug.
    ZeroSerial,
    /// The CA key cannot be generated, parsed or encoded.
    CaKey(String),
    /// ssh-key refused to build or sign the certificate.
    Signing(String),
}

impl SshCaError {
    /// True when ward, not the requester, is at fault (map to a 500 and log
    /// the message instead of sending it).
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            SshCaError::BadKeyId(_)
                | SshCaError::ZeroSerial
                | SshCaError::CaKey(_)
                | SshCaError::Signing(_)
        )
    }

    /// The request field at fault, in the API's JSON spelling.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            SshCaError::MalformedPublicKey(_)
            | SshCaError::PrivateKeyGiven
            | SshCaError::CertificateGiven
            | SshCaError::UnsupportedKeyType(_)
            | SshCaError::RsaTooShort { .. }
            | SshCaError::CaKeyGiven => Some("publicKey"),
            SshCaError::NoPrincipals
            | SshCaError::TooManyPrincipals(_)
            | SshCaError::BadPrincipal { .. } => Some("principals"),
            SshCaError::BadValidity(_) => Some("validity"),
            SshCaError::BadSourceAddress { .. } => Some("sourceAddresses"),
            SshCaError::BadKeyId(_)
            | SshCaError::ZeroSerial
            | SshCaError::CaKey(_)
            | SshCaError::Signing(_) => None,
        }
    }
}

impl fmt::Display for SshCaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SshCaError::MalformedPublicKey(m) => f.write_str(m),
            SshCaError::PrivateKeyGiven => {
                f.write_str("this is a private key: never send it; send the matching .pub file")
            }
            SshCaError::CertificateGiven => f.write_str(
                "this is a certificate; send the plain public key (ward issues the certificate)",
            ),
            SshCaError::UnsupportedKeyType(m) => f.write_str(m),
            SshCaError::RsaTooShort { bits } => write!(
                f,
                "RSA keys must have at least {MIN_RSA_BITS} bits (this one has {bits}); use Ed25519"
            ),
            SshCaError::CaKeyGiven => f.write_str("refusing to certify the CA's own key"),
            SshCaError::NoPrincipals => {
                f.write_str("a certificate needs at least one principal (user or host name)")
            }
            SshCaError::TooManyPrincipals(n) => {
                write!(f, "{n} principals; at most {MAX_PRINCIPALS} are allowed")
            }
            SshCaError::BadPrincipal { principal, reason } => {
                write!(f, "principal \"{principal}\": {reason}")
            }
            SshCaError::BadValidity(m) => f.write_str(m),
            SshCaError::BadSourceAddress { entry, reason } => {
                write!(f, "source address \"{entry}\": {reason}")
            }
            SshCaError::BadKeyId(m) => write!(f, "key id: {m}"),
            SshCaError::ZeroSerial => {
                f.write_str("serial 0 cannot be revoked by an OpenSSH KRL; allocate from 1")
            }
            SshCaError::CaKey(m) => write!(f, "SSH CA key: {m}"),
            SshCaError::Signing(m) => write!(f, "cannot sign the certificate: {m}"),
        }
    }
}

impl std::error::Error for SshCaError {}

/// Checks shared by user and host certificates, and a builder with them set.
fn builder(
    ca: &SshCa,
    key: &PublicKey,
    serial: u64,
    key_id: &str,
    principals: &[String],
    valid_after: u64,
    valid_before: u64,
) -> Result<Builder, SshCaError> {
    check_key_type(key.key_data())?;
    if key.key_data() == ca.key.public_key().key_data() {
        return Err(SshCaError::CaKeyGiven);
    }
    if serial == 0 {
        return Err(SshCaError::ZeroSerial);
    }
    check_key_id(key_id)?;
    check_principals(principals)?;
    check_validity(valid_after, valid_before)?;

    let mut nonce = [0u8; NONCE_LEN];
    rand_core::RngCore::fill_bytes(&mut OsRng, &mut nonce);
    let mut b = Builder::new(
        nonce.to_vec(),
        key.key_data().clone(),
        valid_after,
        valid_before,
    )
    .map_err(build_error)?;
    b.serial(serial).map_err(build_error)?;
    b.key_id(key_id).map_err(build_error)?;
    for p in principals {
        b.valid_principal(p.as_str()).map_err(build_error)?;
    }
    Ok(b)
}

fn build_error(e: ssh_key::Error) -> SshCaError {
    SshCaError::Signing(format!("certificate builder: {e}"))
}

fn sign_error(e: ssh_key::Error) -> SshCaError {
    SshCaError::Signing(e.to_string())
}

fn dsa_refused() -> SshCaError {
    SshCaError::UnsupportedKeyType(
        "DSA keys are not accepted (OpenSSH disabled them); use Ed25519".into(),
    )
}

fn check_key_type(key: &KeyData) -> Result<(), SshCaError> {
    match key {
        KeyData::Ed25519(_) | KeyData::SkEd25519(_) | KeyData::SkEcdsaSha2NistP256(_) => Ok(()),
        KeyData::Ecdsa(
            EcdsaPublicKey::NistP256(_) | EcdsaPublicKey::NistP384(_) | EcdsaPublicKey::NistP521(_),
        ) => Ok(()),
        KeyData::Rsa(rsa) => {
            let bits = match rsa.n.as_positive_bytes() {
                Some([first, rest @ ..]) => rest.len() * 8 + (8 - first.leading_zeros() as usize),
                _ => 0,
            };
            if bits < MIN_RSA_BITS {
                return Err(SshCaError::RsaTooShort { bits });
            }
            Ok(())
        }
        KeyData::Dsa(_) => Err(dsa_refused()),
        other => Err(SshCaError::UnsupportedKeyType(format!(
            "unsupported key type {}; use Ed25519",
            other.algorithm()
        ))),
    }
}

fn check_key_id(key_id: &str) -> Result<(), SshCaError> {
    if key_id.is_empty() {
        return Err(SshCaError::BadKeyId("empty"));
    }
    if key_id.len() > MAX_KEY_ID_LEN {
        return Err(SshCaError::BadKeyId("longer than 255 bytes"));
    }
    if key_id.chars().any(char::is_control) {
        return Err(SshCaError::BadKeyId("contains control characters"));
    }
    Ok(())
}

fn check_principals(principals: &[String]) -> Result<(), SshCaError> {
    // An empty list would be a "golden ticket": OpenSSH accepts it for any
    // user or host (PROTOCOL.certkeys, "valid principals").
    if principals.is_empty() {
        return Err(SshCaError::NoPrincipals);
    }
    if principals.len() > MAX_PRINCIPALS {
        return Err(SshCaError::TooManyPrincipals(principals.len()));
    }
    for (i, p) in principals.iter().enumerate() {
        let bad = |reason| SshCaError::BadPrincipal {
            principal: p.escape_debug().to_string(),
            reason,
        };
        if p.is_empty() {
            return Err(bad("empty"));
        }
        if p.len() > MAX_PRINCIPAL_LEN {
            return Err(bad("longer than 255 bytes"));
        }
        // Whitespace and commas separate entries in AuthorizedPrincipalsFile
        // and in ssh-keygen -n; wildcards and negation are pattern syntax
        // elsewhere in OpenSSH. None of them belongs in a name.
        if p.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(bad("contains whitespace or control characters"));
        }
        if p.contains([',', '*', '?', '!', '"', '\'']) {
            return Err(bad("contains one of , * ? ! \" '"));
        }
        if principals[..i].contains(p) {
            return Err(bad("listed twice"));
        }
    }
    Ok(())
}

fn check_validity(valid_after: u64, valid_before: u64) -> Result<(), SshCaError> {
    if valid_before <= valid_after {
        return Err(SshCaError::BadValidity(format!(
            "the certificate would never be valid: valid_before ({valid_before}) is not after valid_after ({valid_after})"
        )));
    }
    if valid_before > MAX_TIME {
        return Err(SshCaError::BadValidity(format!(
            "valid_before ({valid_before}) is beyond {MAX_TIME}"
        )));
    }
    Ok(())
}

/// The value of the `source-address` critical option: a comma-separated
/// list of canonical `ADDR/LEN` entries (OpenSSH's `addr_match_cidr_list`).
fn source_address_option(list: &[String]) -> Result<String, SshCaError> {
    if list.is_empty() {
        return Err(SshCaError::BadSourceAddress {
            entry: String::new(),
            reason: "an empty list would allow no address; omit it to allow any".into(),
        });
    }
    if list.len() > MAX_SOURCE_ADDRESSES {
        return Err(SshCaError::BadSourceAddress {
            entry: format!("{} entries", list.len()),
            reason: format!("at most {MAX_SOURCE_ADDRESSES} are allowed"),
        });
    }
    let mut out = Vec::with_capacity(list.len());
    for entry in list {
        out.push(parse_cidr(entry)?);
    }
    Ok(out.join(","))
}

fn parse_cidr(entry: &str) -> Result<String, SshCaError> {
    let bad = |reason: String| SshCaError::BadSourceAddress {
        entry: entry.escape_debug().to_string(),
        reason,
    };
    let (addr_text, len_text) = match entry.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (entry, None),
    };
    let addr: IpAddr = addr_text
        .parse()
        .map_err(|_| bad("not an IPv4 or IPv6 address".into()))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len: u32 = match len_text {
        None => max,
        Some(l) if !l.is_empty() && l.len() <= 3 && l.bytes().all(|b| b.is_ascii_digit()) => l
            .parse()
            .map_err(|_| bad("the prefix length is not a number".into()))?,
        Some(_) => return Err(bad("the prefix length is not a number".into())),
    };
    if len > max {
        return Err(bad(format!("the prefix length must be at most {max}")));
    }
    let network = match addr {
        IpAddr::V4(a) => {
            let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask))
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask))
        }
    };
    // A set host part is almost always a typo (10.1.2.3/8 for 10.0.0.0/8);
    // say so instead of silently widening or narrowing the range.
    if network != addr {
        return Err(bad(format!(
            "host bits are set; did you mean {network}/{len}?"
        )));
    }
    Ok(format!("{addr}/{len}"))
}
