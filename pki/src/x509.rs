//! The X.509 certificate authority (SPEC §6, issue 4): root CA → issuing CA → client
//! certificates issued from CSRs, and the CRL that revokes them.
//!
//! This module is pure: it does no I/O and reads no clock. Every time is an input in
//! Unix seconds, client certificate serials come from the caller, and the only
//! randomness is in creating a new CA (its key and serial). Storing CA keys (encrypted
//! under the master key), authorizing and recording issuance, capping TTLs by policy
//! and publishing the CRL are the callers' jobs.
//!
//! What it guarantees about an issued client certificate:
//! - it is built only from ward's own inputs: the CSR contributes its public key and
//!   nothing else. A CSR that *asks* for anything (CA:TRUE, any subject alternative
//!   name, any other extension or attribute) is refused rather than silently trimmed,
//!   so that the requester learns the request was not honoured;
//! - the CSR's signature verifies (proof of possession), with an algorithm that rustls'
//!   mTLS verifier also accepts: Ed25519, ECDSA P-256/P-384, RSA 2048–8192 bits;
//! - `CA:FALSE`, KeyUsage digitalSignature, EKU clientAuth only, the identity only in
//!   the URI SAN `spiffe://TRUST_DOMAIN/user/NAME`, subject `CN=NAME, O=ward`, a
//!   16-byte positive serial, an authority key identifier, validity as given and
//!   within the issuing CA's.
//!
//! CA keys are Ed25519 by default ([`KeyAlg::Ed25519`]); ECDSA P-256 is the option for
//! relying parties without Ed25519. OpenSSL 3, curl and rustls (webpki) verify
//! Ed25519-signed chains; `ca/tests/x509.rs` checks both algorithms with each.
//!
//! It links no TLS stack: CSR signatures are verified with webpki's *ring*
//! algorithms, the same ones rustls' *ring* provider uses.

use std::fmt;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, KeyIdMethod, KeyPair, KeyUsagePurpose,
    RevokedCertParams, SanType, SerialNumber,
};
use rustls_pki_types::{CertificateDer, SignatureVerificationAlgorithm};
use sha2::{Digest, Sha256};
use x509_parser::certificate::X509Certificate;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::cri_attributes::ParsedCriAttribute;
use x509_parser::der_parser::asn1_rs::{Any, FromDer, Oid, Tag};
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_PKCS1_RSAENCRYPTION,
    OID_PKCS9_EXTENSION_REQUEST, OID_SIG_ED25519, OID_X509_EXT_BASIC_CONSTRAINTS,
    OID_X509_EXT_SUBJECT_ALT_NAME, OID_X509_OBSOLETE_SUBJECT_ALT_NAME,
};
use x509_parser::public_key::RSAPublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;
use zeroize::Zeroizing;

/// Largest CSR accepted, in bytes of PEM. An RSA-8192 CSR is about 2.5 KiB.
pub const MAX_CSR_PEM_LEN: usize = 16 * 1024;
/// Largest certificate [`parse_client_cert`] looks at, in bytes of DER.
pub const MAX_CERT_DER_LEN: usize = 16 * 1024;
/// Smallest RSA modulus accepted in a CSR (NIST SP 800-131A; also webpki's minimum).
pub const MIN_RSA_BITS: u32 = 2048;
/// Largest RSA modulus accepted in a CSR (ring's and webpki's maximum).
pub const MAX_RSA_BITS: u32 = 8192;
/// 9999-12-31T23:59:59Z: the last instant a GeneralizedTime can hold (RFC 5280
/// §4.1.2.5), and the end of the range of rcgen's date type.
const MAX_TIME: i64 = 253_402_300_799;
/// Longest SPIFFE trust domain (SPIFFE-ID §2.1).
const MAX_TRUST_DOMAIN_LEN: usize = 255;
/// Longest user name (SPEC §3, AWS IAM's limit).
const MAX_USER_NAME_LEN: usize = 64;
/// How many requested names or extensions an error message repeats back, and how long
/// each may be: the CSR is untrusted input, and the message goes into a 4xx body.
const MAX_ECHOED_ITEMS: usize = 8;
const MAX_ECHOED_LEN: usize = 80;

// ---------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------

/// Why a CA operation failed.
///
/// [`X509Error::is_bad_input`] says who is at fault: the requester (a 4xx, and every
/// message is written to be shown to them) or ward itself (the CA material or a
/// signing failure: a 5xx whose detail is logged, not sent).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum X509Error {
    /// The CSR is larger than [`MAX_CSR_PEM_LEN`].
    CsrTooLarge(usize),
    /// The CSR is not a single well-formed PEM `CERTIFICATE REQUEST` (empty, garbage,
    /// a certificate or key instead, truncated DER, trailing bytes, …).
    BadCsr(String),
    /// The CSR's signature does not verify with its own public key (tampered, or signed
    /// by another key).
    CsrSignature,
    /// The CSR is signed with an algorithm that is not accepted (e.g. SHA-1, or a
    /// digest that does not fit the key).
    CsrAlgorithm(String),
    /// The CSR's public key is of an unsupported type or curve, or malformed.
    UnsupportedKey(String),
    /// The CSR's RSA key is shorter than [`MIN_RSA_BITS`]; the value is its size.
    RsaTooShort(u32),
    /// The CSR asks for `CA:TRUE`.
    CsrRequestsCa,
    /// The CSR asks for subject alternative names (the listed ones, abbreviated).
    CsrRequestsNames(Vec<String>),
    /// The CSR asks for other extensions or carries attributes (listed by name).
    CsrRequestsExtensions(Vec<String>),
    /// The user name is not one ward can put into a certificate.
    BadUserName(String),
    /// The trust domain is not a valid SPIFFE trust domain.
    BadTrustDomain(String),
    /// The account id is not 12 ASCII digits (SPEC §3).
    BadAccountId(String),
    /// A validity period or time is out of range, empty, or outside the issuer's.
    BadValidity(String),
    /// A serial number in text form is not 32 hex digits.
    BadSerial(String),
    /// A certificate given to [`parse_client_cert`] is malformed or not a ward client
    /// certificate.
    BadCert(String),
    /// The CA certificate or key cannot be used: unparsable, not a CA, the key does not
    /// match, or the wrong CA for the operation. ward's fault, not the requester's.
    BadCaKey(String),
    /// Key generation, signing or the post-signing self-check failed. ward's fault.
    Sign(String),
}

impl X509Error {
    /// True when the input was at fault (map to a 4xx); false when ward's own CA
    /// material or signing failed (map to a 5xx).
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, X509Error::BadCaKey(_) | X509Error::Sign(_))
    }
}

impl fmt::Display for X509Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            X509Error::CsrTooLarge(n) => write!(
                f,
                "CSR is {n} bytes; at most {MAX_CSR_PEM_LEN} bytes of PEM are accepted"
            ),
            X509Error::BadCsr(why) => write!(f, "CSR is malformed: {why}"),
            X509Error::CsrSignature => write!(
                f,
                "CSR signature does not verify with the CSR's public key (tampered or corrupt)"
            ),
            X509Error::CsrAlgorithm(alg) => write!(
                f,
                "CSR signature algorithm {alg} is not supported; sign with SHA-256, SHA-384 \
                 or SHA-512 (or Ed25519)"
            ),
            X509Error::UnsupportedKey(what) => write!(
                f,
                "CSR public key is not supported ({what}); use Ed25519, ECDSA P-256 or P-384, \
                 or RSA of {MIN_RSA_BITS} to {MAX_RSA_BITS} bits"
            ),
            X509Error::RsaTooShort(bits) => write!(
                f,
                "CSR RSA key has {bits} bits; at least {MIN_RSA_BITS} are required"
            ),
            X509Error::CsrRequestsCa => write!(
                f,
                "CSR requests CA:TRUE; ward issues only end-entity client certificates"
            ),
            X509Error::CsrRequestsNames(names) => write!(
                f,
                "CSR requests subject alternative names ({}); ward sets the certificate's \
                 identity itself, so remove them from the CSR",
                names.join(", ")
            ),
            X509Error::CsrRequestsExtensions(exts) => write!(
                f,
                "CSR carries extensions or attributes ({}); ward sets every extension itself, \
                 so remove them from the CSR",
                exts.join(", ")
            ),
            X509Error::BadUserName(why) => write!(f, "user name cannot be certified: {why}"),
            X509Error::BadTrustDomain(why) => write!(f, "trust domain is invalid: {why}"),
            X509Error::BadAccountId(id) => write!(f, "account id {id:?} is not 12 digits"),
            X509Error::BadValidity(why) => write!(f, "validity is invalid: {why}"),
            X509Error::BadSerial(why) => write!(f, "serial number is invalid: {why}"),
            X509Error::BadCert(why) => {
                write!(f, "certificate is not a ward client certificate: {why}")
            }
            X509Error::BadCaKey(why) => write!(f, "CA certificate or key unusable: {why}"),
            X509Error::Sign(why) => write!(f, "certificate signing failed: {why}"),
        }
    }
}

impl std::error::Error for X509Error {}

fn sign_err(e: rcgen::Error) -> X509Error {
    X509Error::Sign(e.to_string())
}

// ---------------------------------------------------------------------------------
// CA keys
// ---------------------------------------------------------------------------------

/// The key algorithm of a CA created by [`create_root`] or [`create_issuing`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum KeyAlg {
    /// Ed25519 (RFC 8410), the default (issue 4: "Ed25519 by default").
    #[default]
    Ed25519,
    /// ECDSA on P-256 with SHA-256, for relying parties that lack Ed25519.
    EcdsaP256,
}

impl KeyAlg {
    /// The name used in configuration and the API: `ed25519` or `ecdsa-p256`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyAlg::Ed25519 => "ed25519",
            KeyAlg::EcdsaP256 => "ecdsa-p256",
        }
    }

    fn rcgen(self) -> &'static rcgen::SignatureAlgorithm {
        match self {
            KeyAlg::Ed25519 => &rcgen::PKCS_ED25519,
            KeyAlg::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
        }
    }
}

impl fmt::Display for KeyAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A CA: its certificate and its PKCS#8 private key, both PEM. `Debug` redacts the key.
#[derive(Clone)]
pub struct CaKey {
    /// The CA certificate (public; published in the trust bundle).
    pub cert_pem: String,
    key_pem: Zeroizing<String>,
}

impl CaKey {
    /// Rebuilds a CA from stored PEM (after decrypting the key), checking that the
    /// certificate is a CA certificate and that the key belongs to it.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<CaKey, X509Error> {
        let ca = CaKey {
            cert_pem: cert_pem.to_owned(),
            key_pem: Zeroizing::new(key_pem.to_owned()),
        };
        CaSigner::new(&ca)?;
        Ok(ca)
    }

    /// The private key, PKCS#8 PEM: to be encrypted under the master key, never logged.
    pub fn private_key_pem(&self) -> &str {
        &self.key_pem
    }
}

impl fmt::Debug for CaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaKey")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

/// Creates a self-signed root CA for `account_id`: CN "ward root CA ACCOUNT", O "ward",
/// `CA:TRUE, pathlen:1` (root → issuing CA → leaf), key usage keyCertSign + cRLSign,
/// a subject key identifier and a random 16-byte serial.
pub fn create_root(
    account_id: &str,
    alg: KeyAlg,
    not_before: i64,
    not_after: i64,
) -> Result<CaKey, X509Error> {
    check_account_id(account_id)?;
    let validity = Validity::new(not_before, not_after)?;
    let key = KeyPair::generate_for(alg.rcgen()).map_err(sign_err)?;
    let params = ca_params(&format!("ward root CA {account_id}"), 1, &validity);
    let cert = params.self_signed(&key).map_err(sign_err)?;
    Ok(CaKey {
        cert_pem: cert.pem(),
        key_pem: Zeroizing::new(key.serialize_pem()),
    })
}

/// Creates an issuing CA signed by `root`: CN "ward issuing CA ACCOUNT", O "ward",
/// `CA:TRUE, pathlen:0`, key usage keyCertSign + cRLSign, subject and authority key
/// identifiers. Its validity must lie within the root's.
pub fn create_issuing(
    root: &CaKey,
    account_id: &str,
    alg: KeyAlg,
    not_before: i64,
    not_after: i64,
) -> Result<CaKey, X509Error> {
    check_account_id(account_id)?;
    let root = CaSigner::new(root)?;
    if root.path_len == Some(0) {
        return Err(X509Error::BadCaKey(
            "the parent CA has pathlen 0 and cannot sign another CA".into(),
        ));
    }
    let validity = Validity::new(not_before, not_after)?;
    root.check_within(&validity)?;
    let key = KeyPair::generate_for(alg.rcgen()).map_err(sign_err)?;
    let mut params = ca_params(&format!("ward issuing CA {account_id}"), 0, &validity);
    params.use_authority_key_identifier_extension = true;
    let cert = params
        .signed_by(&key, &root.issuer, &root.key)
        .map_err(sign_err)?;
    Ok(CaKey {
        cert_pem: cert.pem(),
        key_pem: Zeroizing::new(key.serialize_pem()),
    })
}

fn ca_params(common_name: &str, path_len: u8, validity: &Validity) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = distinguished_name(common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(path_len));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let serial: [u8; 16] = rand::random();
    params.serial_number = Some(SerialNumber::from_slice(&normalize_serial(serial)));
    validity.apply(&mut params);
    params
}

fn distinguished_name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "ward");
    dn.push(DnType::CommonName, common_name);
    dn
}

fn check_account_id(account_id: &str) -> Result<(), X509Error> {
    if account_id.len() == 12 && account_id.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(X509Error::BadAccountId(truncate(account_id)))
    }
}

/// A CA loaded for signing: parse once, sign many times.
///
/// [`issue_client_cert`] and [`crl_pem`] build one of these per call; a server issuing
/// at volume keeps one per CA instead, saving the key parse and the stand-in signature
/// described below.
pub struct CaSigner {
    /// rcgen 0.13 signs only under an issuer `Certificate` of its own, and can build
    /// one from an existing certificate only by signing it anew. This stand-in has the
    /// real CA's subject (byte-identical, checked after every issuance), key identifier
    /// and key usages, which is all rcgen reads from it; it is never published.
    issuer: rcgen::Certificate,
    key: KeyPair,
    subject_der: Vec<u8>,
    key_id: Option<Vec<u8>>,
    path_len: Option<u32>,
    not_before: i64,
    not_after: i64,
}

impl fmt::Debug for CaSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaSigner")
            .field("path_len", &self.path_len)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl CaSigner {
    /// Loads `ca`, checking that it is a CA certificate with keyCertSign and that the
    /// key belongs to it.
    pub fn new(ca: &CaKey) -> Result<CaSigner, X509Error> {
        let bad = |why: &str| X509Error::BadCaKey(why.to_owned());
        let der = single_pem_cert(&ca.cert_pem).ok_or_else(|| bad("no single CERTIFICATE"))?;
        let (rest, cert) = X509Certificate::from_der(&der)
            .map_err(|e| X509Error::BadCaKey(format!("certificate does not parse: {e}")))?;
        if !rest.is_empty() {
            return Err(bad("trailing bytes after the certificate"));
        }
        let path_len = match cert.basic_constraints() {
            Ok(Some(bc)) if bc.value.ca => bc.value.path_len_constraint,
            _ => return Err(bad("certificate is not a CA (no basicConstraints CA:TRUE)")),
        };
        match cert.key_usage() {
            Ok(Some(ku)) if ku.value.key_cert_sign() => {}
            _ => return Err(bad("CA certificate lacks keyUsage keyCertSign")),
        }
        // rcgen panics on an empty RDN when converting the name; ward's CAs have none,
        // but refuse one here rather than trust that.
        if cert.subject().iter().any(|rdn| rdn.iter().count() != 1) {
            return Err(bad("CA subject has an empty or multi-valued RDN"));
        }
        let key = KeyPair::from_pem(&ca.key_pem)
            .map_err(|e| X509Error::BadCaKey(format!("private key does not load: {e}")))?;
        if key.public_key_der() != cert.public_key().raw {
            return Err(bad("private key does not match the CA certificate"));
        }
        let key_id = cert
            .iter_extensions()
            .find_map(|ext| match ext.parsed_extension() {
                ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0.to_vec()),
                _ => None,
            });
        let params = CertificateParams::from_ca_cert_der(&CertificateDer::from(der.as_slice()))
            .map_err(|e| X509Error::BadCaKey(format!("CA certificate not usable: {e}")))?;
        let issuer = params.self_signed(&key).map_err(sign_err)?;
        Ok(CaSigner {
            issuer,
            subject_der: cert.subject().as_raw().to_vec(),
            key_id,
            path_len,
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
            key,
        })
    }

    /// See [`issue_client_cert`].
    pub fn issue_client_cert(&self, req: &ClientCertRequest<'_>) -> Result<IssuedCert, X509Error> {
        self.issue_client_cert_with_crl(req, None)
    }

    /// Like [`CaSigner::issue_client_cert`], naming `crl_url` (an `http(s)`
    /// URL of this CA's CRL) in a CRL distribution points extension.
    pub fn issue_client_cert_with_crl(
        &self,
        req: &ClientCertRequest<'_>,
        crl_url: Option<&str>,
    ) -> Result<IssuedCert, X509Error> {
        if self.path_len != Some(0) {
            return Err(X509Error::BadCaKey(
                "client certificates are issued by the issuing CA (pathlen 0), not the root".into(),
            ));
        }
        let csr = parse_csr(req.csr_pem, None)?;
        self.issue_parsed(&csr, req, crl_url, SpiffeKind::User)
    }

    /// Like [`CaSigner::issue_client_cert_with_crl`] for a CSR already
    /// checked with [`check_csr`] (its key type decided the request first);
    /// `req.csr_pem` is not read again.
    pub fn issue_checked_client_cert(
        &self,
        csr: &CheckedCsr,
        req: &ClientCertRequest<'_>,
        crl_url: Option<&str>,
    ) -> Result<IssuedCert, X509Error> {
        if self.path_len != Some(0) {
            return Err(X509Error::BadCaKey(
                "client certificates are issued by the issuing CA (pathlen 0), not the root".into(),
            ));
        }
        self.issue_parsed(&csr.0, req, crl_url, SpiffeKind::User)
    }

    /// Like [`CaSigner::issue_checked_client_cert`] for a host: the URI SAN
    /// is `spiffe://TRUST_DOMAIN/host/NAME` with `req.user_name` holding
    /// the host name (1–253 of `[A-Za-z0-9.-]`).
    pub fn issue_checked_host_cert(
        &self,
        csr: &CheckedCsr,
        req: &ClientCertRequest<'_>,
        crl_url: Option<&str>,
    ) -> Result<IssuedCert, X509Error> {
        if self.path_len != Some(0) {
            return Err(X509Error::BadCaKey(
                "client certificates are issued by the issuing CA (pathlen 0), not the root".into(),
            ));
        }
        self.issue_parsed(&csr.0, req, crl_url, SpiffeKind::Host)
    }

    /// Like [`CaSigner::issue_checked_client_cert`] for a role session:
    /// the URI SAN is `spiffe://TRUST_DOMAIN/role/ROLE/SESSION` with
    /// `req.user_name` holding `ROLE/SESSION` (each a name of
    /// `[A-Za-z0-9_+=,.@-]`).
    pub fn issue_checked_role_cert(
        &self,
        csr: &CheckedCsr,
        req: &ClientCertRequest<'_>,
        crl_url: Option<&str>,
    ) -> Result<IssuedCert, X509Error> {
        if self.path_len != Some(0) {
            return Err(X509Error::BadCaKey(
                "client certificates are issued by the issuing CA (pathlen 0), not the root".into(),
            ));
        }
        self.issue_parsed(&csr.0, req, crl_url, SpiffeKind::Role)
    }

    fn issue_parsed(
        &self,
        csr: &ParsedCsr,
        req: &ClientCertRequest<'_>,
        crl_url: Option<&str>,
        kind: SpiffeKind,
    ) -> Result<IssuedCert, X509Error> {
        check_trust_domain(req.trust_domain)?;
        match kind {
            SpiffeKind::User => check_user_name(req.user_name)?,
            SpiffeKind::Host => check_host_name(req.user_name)?,
            SpiffeKind::Role => check_role_session(req.user_name)?,
        }
        let validity = Validity::new(req.not_before, req.not_after)?;
        self.check_within(&validity)?;
        let public_key = rcgen::SubjectPublicKeyInfo::from_der(&csr.spki_der)
            .map_err(|e| X509Error::UnsupportedKey(e.to_string()))?;

        let serial = normalize_serial(req.serial);
        let uri = match kind {
            SpiffeKind::User => spiffe_id(req.trust_domain, req.user_name),
            SpiffeKind::Host => host_spiffe_id(req.trust_domain, req.user_name),
            SpiffeKind::Role => format!("spiffe://{}/role/{}", req.trust_domain, req.user_name),
        };
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "ward");
        dn.push(DnType::CommonName, req.user_name);
        params.distinguished_name = dn;
        params.subject_alt_names = vec![SanType::URI(
            rcgen::Ia5String::try_from(uri.as_str())
                .map_err(|_| X509Error::BadUserName("not ASCII".into()))?,
        )];
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(SerialNumber::from_slice(&serial));
        if let Some(url) = crl_url {
            params.crl_distribution_points = vec![rcgen::CrlDistributionPoint {
                uris: vec![url.to_owned()],
            }];
        }
        validity.apply(&mut params);
        let cert = params
            .signed_by(&public_key, &self.issuer, &self.key)
            .map_err(sign_err)?;

        // Self-check of what rcgen produced, since it re-encodes both the issuer name
        // and the public key: a mismatch would make a certificate that does not chain
        // or that certifies a different key than the one in the CSR.
        let der = cert.der();
        let (_, parsed) = X509Certificate::from_der(der)
            .map_err(|e| X509Error::Sign(format!("issued certificate does not parse: {e}")))?;
        if parsed.issuer().as_raw() != self.subject_der.as_slice() {
            return Err(X509Error::Sign(
                "issuer name differs from the CA's subject".into(),
            ));
        }
        if parsed.public_key().raw != csr.spki_der.as_slice() {
            return Err(X509Error::Sign("public key differs from the CSR's".into()));
        }
        if parsed.raw_serial() != serial.as_slice() {
            return Err(X509Error::Sign(
                "serial differs from the requested one".into(),
            ));
        }
        Ok(IssuedCert {
            cert_pem: cert.pem(),
            serial,
            serial_hex: hex::encode(serial),
            public_key_sha256_hex: hex::encode(Sha256::digest(&csr.spki_der)),
            not_before: req.not_before,
            not_after: req.not_after,
        })
    }

    /// See [`crl_pem`].
    pub fn crl_pem(
        &self,
        revoked: &[([u8; 16], i64)],
        crl_number: u64,
        this_update: i64,
        next_update: i64,
    ) -> Result<String, X509Error> {
        self.crl(revoked, crl_number, this_update, next_update)?
            .pem()
            .map_err(sign_err)
    }

    /// The same CRL as [`CaSigner::crl_pem`], DER-encoded.
    pub fn crl_der(
        &self,
        revoked: &[([u8; 16], i64)],
        crl_number: u64,
        this_update: i64,
        next_update: i64,
    ) -> Result<Vec<u8>, X509Error> {
        Ok(self
            .crl(revoked, crl_number, this_update, next_update)?
            .der()
            .to_vec())
    }

    fn crl(
        &self,
        revoked: &[([u8; 16], i64)],
        crl_number: u64,
        this_update: i64,
        next_update: i64,
    ) -> Result<rcgen::CertificateRevocationList, X509Error> {
        let window = Validity::new(this_update, next_update)
            .map_err(|e| X509Error::BadValidity(format!("CRL thisUpdate/nextUpdate: {e}")))?;
        let mut entries: Vec<([u8; 16], i64)> = revoked
            .iter()
            .map(|(serial, at)| (normalize_serial(*serial), *at))
            .collect();
        // One entry per serial (the earliest revocation), in serial order, so that the
        // same set always yields the same CRL body.
        entries.sort();
        entries.dedup_by_key(|(serial, _)| *serial);
        let mut revoked_certs = Vec::with_capacity(entries.len());
        for (serial, at) in entries {
            revoked_certs.push(RevokedCertParams {
                serial_number: SerialNumber::from_slice(&serial),
                revocation_time: rcgen::date_time_ymd(1970, 1, 1)
                    + unix_duration("revocation time", at)?,
                reason_code: None,
                invalidity_date: None,
            });
        }
        let params = CertificateRevocationListParams {
            this_update: rcgen::date_time_ymd(1970, 1, 1) + window.not_before,
            next_update: rcgen::date_time_ymd(1970, 1, 1) + window.not_after,
            crl_number: SerialNumber::from_slice(&crl_number.to_be_bytes()),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: match &self.key_id {
                Some(id) => KeyIdMethod::PreSpecified(id.clone()),
                None => KeyIdMethod::Sha256,
            },
        };
        params.signed_by(&self.issuer, &self.key).map_err(sign_err)
    }

    fn check_within(&self, v: &Validity) -> Result<(), X509Error> {
        if v.start < self.not_before || v.end > self.not_after {
            return Err(X509Error::BadValidity(format!(
                "{}..{} is not within the issuing CA's validity {}..{}",
                v.start, v.end, self.not_before, self.not_after
            )));
        }
        Ok(())
    }
}

fn single_pem_cert(pem: &str) -> Option<Vec<u8>> {
    let mut found = None;
    for item in rustls_pemfile::read_all(&mut pem.as_bytes()) {
        if let rustls_pemfile::Item::X509Certificate(der) = item.ok()? {
            if found.replace(der.to_vec()).is_some() {
                return None;
            }
        }
    }
    found
}

// ---------------------------------------------------------------------------------
// Client certificates
// ---------------------------------------------------------------------------------

/// What to certify: a CSR (only its public key is used) for `user_name` in
/// `trust_domain`, valid from `not_before` to `not_after` (Unix seconds; the caller
/// caps the TTL by policy and backdates if it wants to).
#[derive(Clone, Copy, Debug)]
pub struct ClientCertRequest<'a> {
    /// The PEM `CERTIFICATE REQUEST`, at most [`MAX_CSR_PEM_LEN`] bytes.
    pub csr_pem: &'a str,
    /// The SPIFFE trust domain, e.g. `ward.example.com`.
    pub trust_domain: &'a str,
    /// The user name, as in SPEC §3.
    pub user_name: &'a str,
    /// Start of validity, Unix seconds.
    pub not_before: i64,
    /// End of validity, Unix seconds.
    pub not_after: i64,
    /// 16 random bytes from the caller; see [`normalize_serial`] for what is used.
    pub serial: [u8; 16],
}

/// A freshly issued client certificate, with what the inventory records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedCert {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The serial as issued: the request's serial after [`normalize_serial`].
    pub serial: [u8; 16],
    /// [`IssuedCert::serial`] as 32 lowercase hex digits.
    pub serial_hex: String,
    /// SHA-256 of the certificate's DER SubjectPublicKeyInfo, lowercase hex: the same
    /// key gives the same value across certificates (an "SPKI pin").
    pub public_key_sha256_hex: String,
    /// Start of validity, Unix seconds.
    pub not_before: i64,
    /// End of validity, Unix seconds.
    pub not_after: i64,
}

/// Issues a client certificate for `req` under the issuing CA `issuing`.
///
/// Checks, in order: the trust domain and user name; the validity (non-empty, within
/// the issuing CA's); the CSR (size, PEM, DER, key type and size, signature, no
/// requested extensions or attributes). Nothing is signed unless all pass.
pub fn issue_client_cert(
    issuing: &CaKey,
    req: &ClientCertRequest<'_>,
) -> Result<IssuedCert, X509Error> {
    CaSigner::new(issuing)?.issue_client_cert(req)
}

/// [`issue_client_cert`] for a [`CheckedCsr`], with an optional CRL
/// distribution point naming `crl_url`.
pub fn issue_checked_client_cert(
    issuing: &CaKey,
    csr: &CheckedCsr,
    req: &ClientCertRequest<'_>,
    crl_url: Option<&str>,
) -> Result<IssuedCert, X509Error> {
    CaSigner::new(issuing)?.issue_checked_client_cert(csr, req, crl_url)
}

/// [`issue_client_cert`] with a CRL distribution point naming `crl_url`.
pub fn issue_client_cert_with_crl(
    issuing: &CaKey,
    req: &ClientCertRequest<'_>,
    crl_url: Option<&str>,
) -> Result<IssuedCert, X509Error> {
    CaSigner::new(issuing)?.issue_client_cert_with_crl(req, crl_url)
}

/// A CRL (v2, PEM) from the issuing CA listing `revoked` (serial, revocation time),
/// with CRL number `crl_number` and the given thisUpdate/nextUpdate. Serials are
/// normalized as in [`normalize_serial`], so either form of a serial may be passed;
/// duplicates are listed once. An empty list is a valid CRL.
pub fn crl_pem(
    issuing: &CaKey,
    revoked: &[([u8; 16], i64)],
    crl_number: u64,
    this_update: i64,
    next_update: i64,
) -> Result<String, X509Error> {
    CaSigner::new(issuing)?.crl_pem(revoked, crl_number, this_update, next_update)
}

/// The serial ward puts into a certificate for the caller's 16 random bytes: the top
/// bit cleared (a DER INTEGER with it set would be negative) and the next one set (so
/// the encoding is always exactly 16 bytes). That leaves 126 random bits, well above
/// the CA/Browser Forum's 64. Idempotent.
pub fn normalize_serial(mut serial: [u8; 16]) -> [u8; 16] {
    serial[0] = (serial[0] & 0x7f) | 0x40;
    serial
}

/// Parses a serial as printed by ward (32 hex digits) or OpenSSL (`-serial` prints
/// upper case; `-text` separates bytes with colons). Does not normalize.
pub fn parse_serial_hex(text: &str) -> Result<[u8; 16], X509Error> {
    let digits: String = text.trim().chars().filter(|&c| c != ':').collect();
    let mut serial = [0u8; 16];
    hex::decode_to_slice(&digits, &mut serial)
        .map_err(|_| X509Error::BadSerial(format!("{:?} is not 32 hex digits", truncate(text))))?;
    Ok(serial)
}

/// The SPIFFE ID ward certifies for a user: `spiffe://TRUST_DOMAIN/user/NAME`.
pub fn spiffe_id(trust_domain: &str, user_name: &str) -> String {
    format!("spiffe://{trust_domain}/user/{user_name}")
}

/// The SPIFFE ID ward certifies for an enrolled host:
/// `spiffe://TRUST_DOMAIN/host/NAME`.
pub fn host_spiffe_id(trust_domain: &str, host_name: &str) -> String {
    format!("spiffe://{trust_domain}/host/{host_name}")
}

/// Whom a ward client certificate names: a user or an enrolled host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpiffeKind {
    /// `spiffe://TD/user/NAME`.
    User,
    /// `spiffe://TD/host/NAME`.
    Host,
    /// `spiffe://TD/role/ROLE/SESSION`: a role session (`user_name` is
    /// `ROLE/SESSION`).
    Role,
}

/// Who a ward client certificate says its holder is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientIdentity {
    /// User or host.
    pub kind: SpiffeKind,
    /// The user name (or, for [`SpiffeKind::Host`], the host name) from the URI SAN.
    pub user_name: String,
    /// The trust domain from the URI SAN; the caller must compare it with its own.
    pub trust_domain: String,
    /// The serial, 32 lowercase hex digits (for the revocation and inventory lookup).
    pub serial_hex: String,
    /// SHA-256 of the SubjectPublicKeyInfo, lowercase hex (as in [`IssuedCert`]).
    pub public_key_sha256_hex: String,
    /// Start of validity, Unix seconds.
    pub not_before: i64,
    /// End of validity, Unix seconds.
    pub not_after: i64,
}

/// Reads the identity from a DER client certificate, for mTLS authentication.
///
/// This does **not** verify the certificate: the TLS layer must already have verified
/// the chain to ward's root, the validity and EKU clientAuth (rustls'
/// `WebPkiClientVerifier` does), and the caller must still check the trust domain and
/// revocation. It does insist on ward's shape: not a CA, a 16-byte serial, and exactly
/// one subject alternative name, a URI `spiffe://TRUST_DOMAIN/user/NAME` with a valid
/// trust domain and user name.
pub fn parse_client_cert(der: &[u8]) -> Result<ClientIdentity, X509Error> {
    let bad = |why: &str| X509Error::BadCert(why.to_owned());
    if der.len() > MAX_CERT_DER_LEN {
        return Err(bad("larger than 16 KiB"));
    }
    let (rest, cert) = X509Certificate::from_der(der)
        .map_err(|e| X509Error::BadCert(format!("does not parse: {e}")))?;
    if !rest.is_empty() {
        return Err(bad("trailing bytes after the certificate"));
    }
    match cert.basic_constraints() {
        Ok(Some(bc)) if bc.value.ca => return Err(bad("it is a CA certificate")),
        Ok(_) => {}
        Err(_) => return Err(bad("malformed or duplicate basicConstraints")),
    }
    let serial: [u8; 16] = cert
        .raw_serial()
        .try_into()
        .map_err(|_| bad("serial is not 16 bytes"))?;
    let san = match cert.subject_alternative_name() {
        Ok(Some(san)) => san.value,
        Ok(None) => return Err(bad("no subject alternative name")),
        Err(_) => return Err(bad("malformed or duplicate subjectAltName")),
    };
    let uri = match san.general_names.as_slice() {
        [GeneralName::URI(uri)] => *uri,
        _ => return Err(bad("subjectAltName is not exactly one URI")),
    };
    let rest = uri
        .strip_prefix("spiffe://")
        .ok_or_else(|| bad("URI SAN is not spiffe://TRUST_DOMAIN/user/NAME"))?;
    let (kind, (trust_domain, user_name)) = if let Some(pair) = rest.split_once("/user/") {
        (SpiffeKind::User, pair)
    } else if let Some(pair) = rest.split_once("/role/") {
        (SpiffeKind::Role, pair)
    } else {
        (
            SpiffeKind::Host,
            rest.split_once("/host/").ok_or_else(|| {
                bad("URI SAN is not spiffe://TRUST_DOMAIN/user/NAME, spiffe://TRUST_DOMAIN/host/NAME or spiffe://TRUST_DOMAIN/role/ROLE/SESSION")
            })?,
        )
    };
    check_trust_domain(trust_domain).map_err(|e| X509Error::BadCert(e.to_string()))?;
    match kind {
        SpiffeKind::User => check_user_name(user_name),
        SpiffeKind::Host => check_host_name(user_name),
        SpiffeKind::Role => check_role_session(user_name),
    }
    .map_err(|e| X509Error::BadCert(e.to_string()))?;
    Ok(ClientIdentity {
        kind,
        user_name: user_name.to_owned(),
        trust_domain: trust_domain.to_owned(),
        serial_hex: hex::encode(serial),
        public_key_sha256_hex: hex::encode(Sha256::digest(cert.public_key().raw)),
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
    })
}

/// A SPIFFE trust domain (SPIFFE-ID §2.1): 1–255 of `[a-z0-9._-]`. Upper case is
/// refused rather than folded so that one identity has one spelling.
fn check_trust_domain(td: &str) -> Result<(), X509Error> {
    if td.is_empty() || td.len() > MAX_TRUST_DOMAIN_LEN {
        return Err(X509Error::BadTrustDomain(format!(
            "must be 1 to {MAX_TRUST_DOMAIN_LEN} characters"
        )));
    }
    if !td
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
    {
        return Err(X509Error::BadTrustDomain(format!(
            "{:?} may contain only a-z, 0-9, '.', '-' and '_'",
            truncate(td)
        )));
    }
    Ok(())
}

/// A user name as SPEC §3 allows (1–64 of `[A-Za-z0-9_+=,.@-]`), all of which are URI
/// path characters (RFC 3986 `pchar`), except `.` and `..`, which URI normalization
/// would turn into another path (RFC 3986 §5.2.4). Note that `+=,@` are outside the
/// strict SPIFFE path alphabet; ward's own verifier accepts them.
fn check_user_name(name: &str) -> Result<(), X509Error> {
    let n = name.chars().count();
    if n == 0 || n > MAX_USER_NAME_LEN {
        return Err(X509Error::BadUserName(format!(
            "must be 1 to {MAX_USER_NAME_LEN} characters, got {n}"
        )));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b))
    {
        return Err(X509Error::BadUserName(format!(
            "{:?} may contain only letters, digits and _+=,.@-",
            truncate(name)
        )));
    }
    if name == "." || name == ".." {
        return Err(X509Error::BadUserName(format!(
            "{name:?} is a URI dot-segment"
        )));
    }
    Ok(())
}

/// `ROLE/SESSION`: two names of the user-name alphabet.
fn check_role_session(s: &str) -> Result<(), X509Error> {
    let (role, session) = s
        .split_once('/')
        .ok_or_else(|| X509Error::BadUserName(format!("{:?} is not ROLE/SESSION", truncate(s))))?;
    check_user_name(role)?;
    check_user_name(session)
}

/// A host name as a SPIFFE path segment: 1–253 of `[A-Za-z0-9.-]`, not a
/// dot-segment (ward-ca checks its own stricter host-name rule first).
fn check_host_name(name: &str) -> Result<(), X509Error> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        && name != "."
        && name != "..";
    if ok {
        Ok(())
    } else {
        Err(X509Error::BadUserName(format!(
            "{:?} is not a host name (1 to 253 of letters, digits, '.' and '-')",
            truncate(name)
        )))
    }
}

// ---------------------------------------------------------------------------------
// Validity
// ---------------------------------------------------------------------------------

/// A checked validity period: `0 <= start < end <= MAX_TIME`.
struct Validity {
    start: i64,
    end: i64,
    not_before: Duration,
    not_after: Duration,
}

impl Validity {
    fn new(start: i64, end: i64) -> Result<Validity, X509Error> {
        let not_before = unix_duration("notBefore", start)?;
        let not_after = unix_duration("notAfter", end)?;
        if start >= end {
            return Err(X509Error::BadValidity(format!(
                "start {start} is not before end {end}"
            )));
        }
        Ok(Validity {
            start,
            end,
            not_before,
            not_after,
        })
    }

    /// rcgen 0.13 takes `time::OffsetDateTime`, and `time` is not a dependency of this
    /// crate; adding a `Duration` to rcgen's own epoch value avoids naming it (as in
    /// `tls.rs`). The range check in [`unix_duration`] keeps the addition from
    /// overflowing, which would panic.
    fn apply(&self, params: &mut CertificateParams) {
        params.not_before = rcgen::date_time_ymd(1970, 1, 1) + self.not_before;
        params.not_after = rcgen::date_time_ymd(1970, 1, 1) + self.not_after;
    }
}

fn unix_duration(what: &str, t: i64) -> Result<Duration, X509Error> {
    match u64::try_from(t) {
        Ok(secs) if t <= MAX_TIME => Ok(Duration::from_secs(secs)),
        _ => Err(X509Error::BadValidity(format!(
            "{what} {t} is outside 0..={MAX_TIME} (1970 to 9999)"
        ))),
    }
}

// ---------------------------------------------------------------------------------
// CSR parsing
// ---------------------------------------------------------------------------------

/// What ward takes from a CSR: its public key, DER SubjectPublicKeyInfo.
#[derive(Debug)]
struct ParsedCsr {
    spki_der: Vec<u8>,
    key_type: &'static str,
}

/// A CSR that passed every check issuance makes (size, PEM shape, key,
/// signature, no requested extensions), parsed once: its key type is the
/// `ca:KeyType` of an X.509 issuance, known before the request is
/// authorized, and [`CaSigner::issue_checked_client_cert`] certifies it
/// without parsing and verifying it again.
#[derive(Debug)]
pub struct CheckedCsr(ParsedCsr);

impl CheckedCsr {
    /// `ed25519`, `ecdsa-p256`, `ecdsa-p384` or `rsa`.
    pub fn key_type(&self) -> &'static str {
        self.0.key_type
    }
}

/// Checks and parses a PEM CSR (see [`CheckedCsr`]).
pub fn check_csr(pem: &str) -> Result<CheckedCsr, X509Error> {
    parse_csr(pem, None).map(CheckedCsr)
}

/// [`check_csr`], except that the CSR may request exactly one subject
/// alternative name: the URI `allowed_uri` (a host enrolling states its own
/// SPIFFE ID). Any other requested name is refused as by [`check_csr`].
pub fn check_csr_allowing_uri(pem: &str, allowed_uri: &str) -> Result<CheckedCsr, X509Error> {
    parse_csr(pem, Some(allowed_uri)).map(CheckedCsr)
}

/// Parses and checks a PEM CSR.
///
/// rcgen 0.13's own `CertificateSigningRequestParams` is not used: it copies requested
/// SANs, key usages and EKUs into the new certificate's parameters, refuses CA:TRUE
/// only as a generic "unsupported extension", reports a bad signature as
/// `RingUnspecified`, and takes the key type from the *signature* algorithm, so a
/// P-384 key signed with SHA-256 (what `openssl req` does by default) would be
/// certified as a P-256 key with P-384 bytes.
fn parse_csr(pem: &str, allowed_uri: Option<&str>) -> Result<ParsedCsr, X509Error> {
    if pem.len() > MAX_CSR_PEM_LEN {
        return Err(X509Error::CsrTooLarge(pem.len()));
    }
    let der = csr_der_from_pem(pem)?;
    let (rest, csr) = X509CertificationRequest::from_der(&der)
        .map_err(|e| X509Error::BadCsr(format!("not a PKCS#10 certification request: {e}")))?;
    if !rest.is_empty() {
        return Err(X509Error::BadCsr(
            "trailing bytes after the certification request".into(),
        ));
    }
    let info = &csr.certification_request_info;
    if info.version.0 != 0 {
        return Err(X509Error::BadCsr(format!(
            "version {} (only v1, 0, exists)",
            info.version.0
        )));
    }
    let spki = &info.subject_pki;
    let key_type = check_public_key(spki)?;
    verify_csr_signature(&der, &csr)?;
    check_no_requests(&csr, allowed_uri)?;
    Ok(ParsedCsr {
        spki_der: spki.raw.to_vec(),
        key_type,
    })
}

fn csr_der_from_pem(pem: &str) -> Result<Vec<u8>, X509Error> {
    let mut csr = None;
    for item in rustls_pemfile::read_all(&mut pem.as_bytes()) {
        let item = item.map_err(|e| X509Error::BadCsr(format!("malformed PEM: {e}")))?;
        let other = match item {
            rustls_pemfile::Item::Csr(der) => {
                if csr.replace(der.to_vec()).is_some() {
                    return Err(X509Error::BadCsr(
                        "more than one CERTIFICATE REQUEST; send one".into(),
                    ));
                }
                continue;
            }
            rustls_pemfile::Item::X509Certificate(_) => "a CERTIFICATE",
            rustls_pemfile::Item::Crl(_) => "an X509 CRL",
            rustls_pemfile::Item::SubjectPublicKeyInfo(_) => "a PUBLIC KEY",
            // Even a key sent by mistake is refused loudly: ward never needs it.
            _ => "a PRIVATE KEY (keep it on the client; send only the CSR)",
        };
        return Err(X509Error::BadCsr(format!(
            "expected only a CERTIFICATE REQUEST PEM block, found {other}"
        )));
    }
    csr.ok_or_else(|| {
        X509Error::BadCsr(if pem.trim().is_empty() {
            "empty".into()
        } else {
            "no -----BEGIN CERTIFICATE REQUEST----- block found".into()
        })
    })
}

/// Accepts Ed25519, ECDSA P-256 and P-384, and RSA of 2048–8192 bits.
fn check_public_key(spki: &SubjectPublicKeyInfo<'_>) -> Result<&'static str, X509Error> {
    let alg = &spki.algorithm.algorithm;
    let key = &spki.subject_public_key.data;
    if *alg == OID_SIG_ED25519 {
        if key.len() != 32 || spki.algorithm.parameters.is_some() {
            return Err(X509Error::UnsupportedKey("malformed Ed25519 key".into()));
        }
        Ok("ed25519")
    } else if *alg == OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok())
            .ok_or_else(|| X509Error::UnsupportedKey("EC key without a named curve".into()))?;
        if curve == OID_EC_P256 {
            Ok("ecdsa-p256")
        } else if curve == OID_NIST_EC_P384 {
            Ok("ecdsa-p384")
        } else {
            Err(X509Error::UnsupportedKey(format!(
                "ECDSA on curve {}",
                oid_name(&curve)
            )))
        }
    } else if *alg == OID_PKCS1_RSAENCRYPTION {
        let (rest, rsa) = RSAPublicKey::from_der(key)
            .map_err(|_| X509Error::UnsupportedKey("malformed RSA key".into()))?;
        if !rest.is_empty() {
            return Err(X509Error::UnsupportedKey("malformed RSA key".into()));
        }
        let bits = rsa_modulus_bits(rsa.modulus);
        if bits < MIN_RSA_BITS {
            return Err(X509Error::RsaTooShort(bits));
        }
        if bits > MAX_RSA_BITS {
            return Err(X509Error::UnsupportedKey(format!("RSA key of {bits} bits")));
        }
        Ok("rsa")
    } else {
        Err(X509Error::UnsupportedKey(format!(
            "key algorithm {}",
            oid_name(alg)
        )))
    }
}

/// The size of an RSA modulus in bits. (x509-parser's `key_size` miscounts moduli
/// without a leading zero byte.)
fn rsa_modulus_bits(modulus: &[u8]) -> u32 {
    let digits: &[u8] = match modulus.iter().position(|&b| b != 0) {
        Some(first) => &modulus[first..],
        None => return 0,
    };
    let top_bits = 8 - digits[0].leading_zeros();
    let bits = (digits.len() - 1).saturating_mul(8) + top_bits as usize;
    u32::try_from(bits).unwrap_or(u32::MAX)
}

/// The signature algorithms rustls' *ring* provider verifies with
/// (`rustls::crypto::ring::default_provider().signature_verification_algorithms.all`,
/// rustls 0.23), taken from webpki directly so that this crate links no TLS stack.
/// `ca/tests/x509.rs` checks that every CSR accepted here also completes a rustls
/// mTLS handshake.
static CSR_SIGNATURE_ALGS: &[&dyn SignatureVerificationAlgorithm] = &[
    webpki::ring::ECDSA_P256_SHA256,
    webpki::ring::ECDSA_P256_SHA384,
    webpki::ring::ECDSA_P384_SHA256,
    webpki::ring::ECDSA_P384_SHA384,
    webpki::ring::ED25519,
    webpki::ring::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
    webpki::ring::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
    webpki::ring::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
    webpki::ring::RSA_PKCS1_2048_8192_SHA256,
    webpki::ring::RSA_PKCS1_2048_8192_SHA384,
    webpki::ring::RSA_PKCS1_2048_8192_SHA512,
    webpki::ring::RSA_PKCS1_2048_8192_SHA256_ABSENT_PARAMS,
    webpki::ring::RSA_PKCS1_2048_8192_SHA384_ABSENT_PARAMS,
    webpki::ring::RSA_PKCS1_2048_8192_SHA512_ABSENT_PARAMS,
];

/// Verifies the CSR's self-signature with the algorithms rustls' own (webpki) verifier
/// uses, matched exactly as webpki matches them: by the DER of the key's and the
/// signature's AlgorithmIdentifier. So a CSR is accepted only with a key and digest
/// that a rustls server will also accept in the TLS handshake, and never with SHA-1.
fn verify_csr_signature(der: &[u8], csr: &X509CertificationRequest<'_>) -> Result<(), X509Error> {
    let malformed = || X509Error::BadCsr("malformed algorithm identifier".into());
    // CertificationRequest ::= SEQUENCE { info, signatureAlgorithm, signature }
    let outer = sequence_contents(der).ok_or_else(malformed)?;
    let (after_info, _) = Any::from_der(outer).map_err(|_| malformed())?;
    let sig_alg_id = sequence_contents(after_info).ok_or_else(malformed)?;
    // SubjectPublicKeyInfo ::= SEQUENCE { algorithm, subjectPublicKey }
    let spki = &csr.certification_request_info.subject_pki;
    let key_alg_id = sequence_contents(spki.raw)
        .and_then(sequence_contents)
        .ok_or_else(malformed)?;

    let alg: &dyn SignatureVerificationAlgorithm = CSR_SIGNATURE_ALGS
        .iter()
        .copied()
        .find(|a| *a.public_key_alg_id() == *key_alg_id && *a.signature_alg_id() == *sig_alg_id)
        .ok_or_else(|| {
            X509Error::CsrAlgorithm(format!(
                "{} with a {} key",
                oid_name(&csr.signature_algorithm.algorithm),
                oid_name(&spki.algorithm.algorithm)
            ))
        })?;
    alg.verify_signature(
        &spki.subject_public_key.data,
        csr.certification_request_info.raw,
        &csr.signature_value.data,
    )
    .map_err(|_| X509Error::CsrSignature)
}

/// The contents of the DER SEQUENCE at the start of `der` (trailing data ignored).
fn sequence_contents(der: &[u8]) -> Option<&[u8]> {
    let (_, any) = Any::from_der(der).ok()?;
    (any.tag() == Tag::Sequence).then_some(any.data)
}

/// Refuses a CSR that asks for anything: CA:TRUE, names, other extensions, attributes.
fn check_no_requests(
    csr: &X509CertificationRequest<'_>,
    allowed_uri: Option<&str>,
) -> Result<(), X509Error> {
    let mut wants_ca = false;
    let mut names = Vec::new();
    let mut others = Vec::new();
    for attr in csr.certification_request_info.iter_attributes() {
        match attr.parsed_attribute() {
            ParsedCriAttribute::ExtensionRequest(req)
                if attr.oid == OID_PKCS9_EXTENSION_REQUEST =>
            {
                for ext in &req.extensions {
                    if ext.oid == OID_X509_EXT_BASIC_CONSTRAINTS {
                        match ext.parsed_extension() {
                            ParsedExtension::BasicConstraints(bc) if !bc.ca => {
                                others.push("basicConstraints CA:FALSE".to_owned())
                            }
                            // CA:TRUE, or unparsable and so possibly meant as CA:TRUE.
                            _ => wants_ca = true,
                        }
                    } else if ext.oid == OID_X509_EXT_SUBJECT_ALT_NAME
                        || ext.oid == OID_X509_OBSOLETE_SUBJECT_ALT_NAME
                    {
                        match ext.parsed_extension() {
                            ParsedExtension::SubjectAlternativeName(san)
                                if !san.general_names.is_empty() =>
                            {
                                let own = match (allowed_uri, san.general_names.as_slice()) {
                                    (Some(a), [GeneralName::URI(u)]) => *u == a,
                                    _ => false,
                                };
                                if !own {
                                    names.extend(san.general_names.iter().map(general_name))
                                }
                            }
                            _ => names.push("an unparsable subjectAltName".to_owned()),
                        }
                    } else {
                        others.push(oid_name(&ext.oid));
                    }
                }
            }
            _ => others.push(format!("attribute {}", oid_name(&attr.oid))),
        }
    }
    if wants_ca {
        return Err(X509Error::CsrRequestsCa);
    }
    if !names.is_empty() {
        return Err(X509Error::CsrRequestsNames(echo(names)));
    }
    if !others.is_empty() {
        return Err(X509Error::CsrRequestsExtensions(echo(others)));
    }
    Ok(())
}

/// A name as OpenSSL prints it (`DNS:evil.example`), for error messages.
fn general_name(name: &GeneralName<'_>) -> String {
    match name {
        GeneralName::DNSName(s) => format!("DNS:{s}"),
        GeneralName::URI(s) => format!("URI:{s}"),
        GeneralName::RFC822Name(s) => format!("email:{s}"),
        GeneralName::IPAddress(b) => match <[u8; 4]>::try_from(*b) {
            Ok(v4) => format!("IP:{}", std::net::Ipv4Addr::from(v4)),
            Err(_) => match <[u8; 16]>::try_from(*b) {
                Ok(v6) => format!("IP:{}", std::net::Ipv6Addr::from(v6)),
                Err(_) => "IP:<malformed>".to_owned(),
            },
        },
        GeneralName::DirectoryName(dn) => format!("DirName:{dn}"),
        GeneralName::OtherName(oid, _) => format!("othername:{oid}"),
        GeneralName::RegisteredID(oid) => format!("RID:{oid}"),
        GeneralName::X400Address(_) => "X400Name".to_owned(),
        GeneralName::EDIPartyName(_) => "EdiPartyName".to_owned(),
    }
}

fn oid_name(oid: &Oid<'_>) -> String {
    x509_parser::objects::oid2sn(oid, x509_parser::objects::oid_registry())
        .map(str::to_owned)
        .unwrap_or_else(|_| oid.to_id_string())
}

/// Untrusted strings repeated in an error message: few, short, and escaped.
fn echo(items: Vec<String>) -> Vec<String> {
    let more = items.len().saturating_sub(MAX_ECHOED_ITEMS);
    let mut out: Vec<String> = items
        .into_iter()
        .take(MAX_ECHOED_ITEMS)
        .map(|s| truncate(&s).chars().flat_map(char::escape_debug).collect())
        .collect();
    if more > 0 {
        out.push(format!("and {more} more"));
    }
    out
}

/// At most [`MAX_ECHOED_LEN`] characters (callers print the result with `{:?}` or
/// through [`echo`], which escape it).
fn truncate(s: &str) -> String {
    let mut out: String = s.chars().take(MAX_ECHOED_LEN).collect();
    if s.chars().count() > MAX_ECHOED_LEN {
        out.push('…');
    }
    out
}
