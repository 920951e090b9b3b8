//! HTTPS plumbing of the ward-ca daemon (SPEC §5: "HTTPS (rustls) on 8443").
//!
//! This module is:
//! - the **dev PKI** ([`generate_dev_pki`]): a root CA plus a server certificate for
//!   `ward-ca serve --dev` and `ward-ca init`, both ECDSA P-256 so that rustls, curl
//!   and OpenSSL all accept the chain;
//! - the **rustls server configuration** ([`server_config`]): TLS 1.2 and 1.3, ALPN `h2`
//!   and `http/1.1`, and optional client certificates verified against given roots;
//! - the **accept loop** ([`serve_tls`], [`serve_tls_with`]): TLS handshakes under a
//!   timeout, HTTP/1.1 and HTTP/2 through hyper, [`ConnInfo`] in every request's
//!   extensions, and graceful shutdown;
//! - the **connection budget**: a global bound on connections, a per-source bound
//!   enforced right after accept, deadlines for every phase (handshake, headers,
//!   request body, idle between requests, on both protocols), and shedding of the
//!   longest-idle connection, unauthenticated ones first, when every slot is taken,
//!   so that connections which hold a slot and do nothing cannot lock out health
//!   checks and real callers ([`ServeOptions`], [`ConnStats`]).
//!
//! It is deliberately *not* authentication: a verified client chain is reported in
//! [`ConnInfo`], and mapping it to an identity (and deciding whether one is required)
//! is the API layer's job. It does not issue client certificates either; the X.509 CA
//! (root → issuing CA → leaf, SPEC §6) lives elsewhere and only borrows the root key
//! returned in [`Pki::root_key_pem`].

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use rand::RngCore;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

pub use crate::conn::{is_body_timeout, Authenticated, BodyTimeout, ConnInfo, ConnStats};
use zeroize::Zeroizing;

/// Lifetime of the dev root CA.
const ROOT_LIFETIME: Duration = Duration::from_secs(10 * 365 * 24 * 60 * 60);
/// Lifetime of the dev server certificate. One year stays under the 398 days that
/// browsers accept for TLS server certificates.
const SERVER_LIFETIME: Duration = Duration::from_secs(365 * 24 * 60 * 60);
/// `notBefore` is set this far in the past so that a client whose clock is slightly
/// behind ours does not reject a certificate generated a moment ago.
const BACKDATE: Duration = Duration::from_secs(60 * 60);
/// Pause after a failed `accept` (e.g. EMFILE) so that the loop does not spin.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);

// ---------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------

/// Which PEM input a [`TlsError`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PemInput {
    /// The server certificate chain (end-entity certificate first).
    CertChain,
    /// The server private key.
    PrivateKey,
    /// The roots that client certificates are verified against.
    ClientRoots,
}

impl fmt::Display for PemInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PemInput::CertChain => "certificate chain",
            PemInput::PrivateKey => "private key",
            PemInput::ClientRoots => "client CA roots",
        })
    }
}

/// Why TLS material could not be loaded or generated.
///
/// Every variant is the operator's input or the environment at fault (a bad file, a
/// mismatched key, a wrong name); none of them is retryable without changing something.
#[derive(Debug)]
#[non_exhaustive]
pub enum TlsError {
    /// The input is not well-formed PEM (broken base64, a section without its end line).
    BadPem {
        /// Which input.
        input: PemInput,
        /// The parser's complaint.
        source: io::Error,
    },
    /// The input holds no `CERTIFICATE` section (empty, garbage, or a key file).
    NoCertificate {
        /// Which input.
        input: PemInput,
    },
    /// The key input holds no private key (PKCS#8, PKCS#1 or SEC1).
    NoPrivateKey,
    /// The key input holds more than one private key, so which one is meant is ambiguous.
    MultiplePrivateKeys,
    /// The private key could not be loaded: corrupt encoding or unsupported algorithm.
    UnsupportedKey(rustls::Error),
    /// A certificate's DER could not be parsed or is unusable as a trust anchor.
    InvalidCertificate {
        /// Which input.
        input: PemInput,
        /// What rustls/webpki reported.
        source: rustls::Error,
    },
    /// The private key does not belong to the first (end-entity) certificate of the chain.
    KeyCertMismatch,
    /// The client certificate verifier could not be built from the given roots.
    ClientVerifier(rustls::server::VerifierBuilderError),
    /// rustls rejected the configuration (protocol versions, cipher suites).
    Config(rustls::Error),
    /// Dev PKI: the account id is not 12 ASCII digits (SPEC §3).
    InvalidAccountId(String),
    /// Dev PKI: a DNS name cannot be put into a certificate.
    InvalidDnsName(String),
    /// Dev PKI: the system clock is before 1970, so no validity period can be computed.
    ClockBeforeEpoch,
    /// Dev PKI: key or certificate generation failed.
    Generate(rcgen::Error),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::BadPem { input, source } => write!(f, "{input}: malformed PEM: {source}"),
            TlsError::NoCertificate { input } => {
                write!(f, "{input}: no CERTIFICATE section found in PEM")
            }
            TlsError::NoPrivateKey => write!(
                f,
                "private key: no private key (PKCS#8, PKCS#1 or SEC1) found in PEM"
            ),
            TlsError::MultiplePrivateKeys => {
                write!(f, "private key: PEM holds more than one private key")
            }
            TlsError::UnsupportedKey(e) => write!(f, "private key: cannot be loaded: {e}"),
            TlsError::InvalidCertificate { input, source } => {
                write!(f, "{input}: invalid certificate: {source}")
            }
            TlsError::KeyCertMismatch => write!(
                f,
                "private key does not match the first certificate of the certificate chain"
            ),
            TlsError::ClientVerifier(e) => write!(f, "client CA roots: {e}"),
            TlsError::Config(e) => write!(f, "TLS configuration rejected: {e}"),
            TlsError::InvalidAccountId(id) => {
                write!(f, "account id {id:?} is not 12 digits")
            }
            TlsError::InvalidDnsName(name) => {
                write!(f, "DNS name {name:?} cannot be used in a certificate")
            }
            TlsError::ClockBeforeEpoch => write!(f, "system clock is before 1970"),
            TlsError::Generate(e) => write!(f, "certificate generation failed: {e}"),
        }
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TlsError::BadPem { source, .. } => Some(source),
            TlsError::UnsupportedKey(e) | TlsError::Config(e) => Some(e),
            TlsError::InvalidCertificate { source, .. } => Some(source),
            TlsError::ClientVerifier(e) => Some(e),
            TlsError::Generate(e) => Some(e),
            TlsError::NoCertificate { .. }
            | TlsError::NoPrivateKey
            | TlsError::MultiplePrivateKeys
            | TlsError::KeyCertMismatch
            | TlsError::InvalidAccountId(_)
            | TlsError::InvalidDnsName(_)
            | TlsError::ClockBeforeEpoch => None,
        }
    }
}

// ---------------------------------------------------------------------------------
// Dev PKI
// ---------------------------------------------------------------------------------

/// A development PKI: a root CA and a server certificate it signed, all PEM.
///
/// Keys are PKCS#8 PEM in [`Zeroizing`] strings; `Debug` prints the certificates but
/// never the keys.
pub struct Pki {
    /// The root CA certificate; clients trust this (`curl --cacert`).
    pub root_cert_pem: String,
    /// The root CA's private key. Needed later to sign the issuing CA; keep it off the
    /// server's disk in anything but a dev setup.
    pub root_key_pem: Zeroizing<String>,
    /// The server certificate (end-entity only; the root is the trust anchor).
    pub server_cert_pem: String,
    /// The server certificate's private key.
    pub server_key_pem: Zeroizing<String>,
}

impl fmt::Debug for Pki {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pki")
            .field("root_cert_pem", &self.root_cert_pem)
            .field("root_key_pem", &"<redacted>")
            .field("server_cert_pem", &self.server_cert_pem)
            .field("server_key_pem", &"<redacted>")
            .finish()
    }
}

/// Creates a dev root CA and a server certificate signed by it.
///
/// The root is "ward dev root CA `account_id`", valid 10 years, `CA:TRUE, pathlen:1`
/// (root → issuing CA → leaf, SPEC §6), key usage keyCertSign + cRLSign. The server
/// certificate is valid 1 year for `dns_names` and `ips` (when both are empty:
/// `localhost`, `127.0.0.1`, `::1`), `CA:FALSE`, key usage digitalSignature, EKU
/// serverAuth. Both keys are ECDSA P-256, which every TLS client accepts. A string in
/// `dns_names` that parses as an IP address is put into the IP SANs.
pub fn generate_dev_pki(
    account_id: &str,
    dns_names: &[String],
    ips: &[IpAddr],
) -> Result<Pki, TlsError> {
    if account_id.len() != 12 || !account_id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TlsError::InvalidAccountId(account_id.to_owned()));
    }
    let sans = server_sans(dns_names, ips)?;
    let since_epoch = since_epoch()?;

    let root_key =
        KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(TlsError::Generate)?;
    let mut root = CertificateParams::default();
    root.distinguished_name = distinguished_name(&format!("ward dev root CA {account_id}"));
    root.is_ca = IsCa::Ca(BasicConstraints::Constrained(1));
    root.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    root.serial_number = Some(random_serial());
    set_validity(&mut root, since_epoch, ROOT_LIFETIME);
    let root_cert = root.self_signed(&root_key).map_err(TlsError::Generate)?;

    let (server_cert_pem, server_key_pem) = sign_server(sans, since_epoch, &root_cert, &root_key)?;

    Ok(Pki {
        root_cert_pem: root_cert.pem(),
        root_key_pem: Zeroizing::new(root_key.serialize_pem()),
        server_cert_pem,
        server_key_pem,
    })
}

/// A server certificate for `dns_names` and `ips` (defaults as in
/// [`generate_dev_pki`]) signed by an existing CA given as PEM certificate
/// and PKCS#8 key, e.g. ward's X.509 root: then one root is trusted for the
/// API's TLS and for client certificates. Returns (certificate, key) PEM.
pub fn server_cert_signed_by(
    ca_cert_pem: &str,
    ca_key_pem: &str,
    dns_names: &[String],
    ips: &[IpAddr],
) -> Result<(String, Zeroizing<String>), TlsError> {
    let sans = server_sans(dns_names, ips)?;
    let ca_key = KeyPair::from_pem(ca_key_pem).map_err(TlsError::Generate)?;
    // rcgen signs only under its own certificate object; rebuilt from the
    // PEM it keeps the CA's subject and key identifier.
    let ca_cert = CertificateParams::from_ca_cert_pem(ca_cert_pem)
        .map_err(TlsError::Generate)?
        .self_signed(&ca_key)
        .map_err(TlsError::Generate)?;
    sign_server(sans, since_epoch()?, &ca_cert, &ca_key)
}

fn sign_server(
    sans: Vec<SanType>,
    since_epoch: Duration,
    ca_cert: &rcgen::Certificate,
    ca_key: &KeyPair,
) -> Result<(String, Zeroizing<String>), TlsError> {
    let server_key =
        KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(TlsError::Generate)?;
    let mut server = CertificateParams::default();
    let common_name = sans
        .iter()
        .find_map(|san| match san {
            SanType::DnsName(name) => Some(name.as_str().to_owned()),
            _ => None,
        })
        .unwrap_or_else(|| "ward-ca".to_owned());
    server.distinguished_name = distinguished_name(&common_name);
    server.subject_alt_names = sans;
    server.is_ca = IsCa::ExplicitNoCa;
    server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    server.use_authority_key_identifier_extension = true;
    server.serial_number = Some(random_serial());
    set_validity(&mut server, since_epoch, SERVER_LIFETIME);
    let server_cert = server
        .signed_by(&server_key, ca_cert, ca_key)
        .map_err(TlsError::Generate)?;
    Ok((
        server_cert.pem(),
        Zeroizing::new(server_key.serialize_pem()),
    ))
}

/// The subject alternative names of the dev server certificate.
fn server_sans(dns_names: &[String], ips: &[IpAddr]) -> Result<Vec<SanType>, TlsError> {
    if dns_names.is_empty() && ips.is_empty() {
        return Ok(vec![
            SanType::DnsName(ia5("localhost")?),
            SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            SanType::IpAddress(IpAddr::V6(Ipv6Addr::LOCALHOST)),
        ]);
    }
    let mut sans = Vec::with_capacity(dns_names.len() + ips.len());
    let mut push = |san: SanType| {
        if !sans.contains(&san) {
            sans.push(san);
        }
    };
    for name in dns_names {
        if let Ok(ip) = name.parse::<IpAddr>() {
            push(SanType::IpAddress(ip));
            continue;
        }
        // rustls' own name syntax check, so a name that rustls clients could never
        // match is refused here rather than discovered at the first connection.
        if rustls::pki_types::DnsName::try_from(name.as_str()).is_err() {
            return Err(TlsError::InvalidDnsName(name.clone()));
        }
        push(SanType::DnsName(ia5(name)?));
    }
    for ip in ips {
        push(SanType::IpAddress(*ip));
    }
    Ok(sans)
}

fn ia5(name: &str) -> Result<rcgen::Ia5String, TlsError> {
    rcgen::Ia5String::try_from(name).map_err(|_| TlsError::InvalidDnsName(name.to_owned()))
}

fn distinguished_name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "ward");
    dn.push(DnType::CommonName, common_name);
    dn
}

/// Time since the Unix epoch, for certificate validity periods.
fn since_epoch() -> Result<Duration, TlsError> {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|_| TlsError::ClockBeforeEpoch)
}

/// Sets `params` valid from [`BACKDATE`] ago for `lifetime`.
///
/// rcgen 0.13 takes `time::OffsetDateTime`, and `time` is not a dependency of this
/// crate; adding a `std::time::Duration` to rcgen's own epoch value avoids naming it.
fn set_validity(params: &mut CertificateParams, since_epoch: Duration, lifetime: Duration) {
    let now = rcgen::date_time_ymd(1970, 1, 1) + since_epoch;
    params.not_before = now - BACKDATE;
    params.not_after = now + lifetime;
}

/// A random, positive, 16-byte serial number (RFC 5280 §4.1.2.2 allows up to 20 bytes;
/// CA/B Forum asks for at least 64 random bits).
fn random_serial() -> SerialNumber {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    // Clear the sign bit and set the next one so the DER length is always 16 bytes.
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    SerialNumber::from_slice(&bytes)
}

// ---------------------------------------------------------------------------------
// PEM loading and server configuration
// ---------------------------------------------------------------------------------

/// Reads every `CERTIFICATE` section of `pem`, in order; other sections are ignored.
///
/// Fails with [`TlsError::BadPem`] on malformed PEM and [`TlsError::NoCertificate`]
/// when there is no certificate at all.
pub fn load_pem_certs(pem: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    load_certs(pem, PemInput::CertChain)
}

fn load_certs(pem: &str, input: PemInput) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let mut certs = Vec::new();
    for item in rustls_pemfile::read_all(&mut pem.as_bytes()) {
        let item = item.map_err(|source| TlsError::BadPem { input, source })?;
        if let rustls_pemfile::Item::X509Certificate(cert) = item {
            certs.push(cert);
        }
    }
    if certs.is_empty() {
        return Err(TlsError::NoCertificate { input });
    }
    Ok(certs)
}

/// Reads the single private key (PKCS#8, PKCS#1 or SEC1) in `pem`; certificate
/// sections are ignored, so a combined key+cert file works.
///
/// Fails with [`TlsError::NoPrivateKey`] or [`TlsError::MultiplePrivateKeys`] unless
/// there is exactly one key. Whether the key is usable is checked by [`server_config`].
pub fn load_pem_key(pem: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    let mut key = None;
    for item in rustls_pemfile::read_all(&mut pem.as_bytes()) {
        let found: PrivateKeyDer<'static> = match item.map_err(|source| TlsError::BadPem {
            input: PemInput::PrivateKey,
            source,
        })? {
            rustls_pemfile::Item::Pkcs8Key(k) => k.into(),
            rustls_pemfile::Item::Pkcs1Key(k) => k.into(),
            rustls_pemfile::Item::Sec1Key(k) => k.into(),
            _ => continue,
        };
        if key.replace(found).is_some() {
            return Err(TlsError::MultiplePrivateKeys);
        }
    }
    key.ok_or(TlsError::NoPrivateKey)
}

/// Builds the rustls server configuration: TLS 1.3 and 1.2, ALPN `h2` then `http/1.1`.
///
/// `cert_chain_pem` is the end-entity certificate first, then any intermediates;
/// `key_pem` must be its private key. With `client_ca_roots_pem`, clients *may*
/// present a certificate; if they do, it must chain to one of those roots or the
/// handshake fails. Whether a request needs one is for the API layer to decide from
/// [`ConnInfo::client_cert_chain_der`].
///
/// The ring provider is named explicitly rather than taken from the process default,
/// so that another crate enabling a second rustls provider cannot make this panic.
pub fn server_config(
    cert_chain_pem: &str,
    key_pem: &str,
    client_ca_roots_pem: Option<&str>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let roots = client_ca_roots_pem.map(ClientRoots::new).transpose()?;
    server_config_with_client_roots(cert_chain_pem, key_pem, roots)
}

/// Like [`server_config`], with a [`ClientRoots`] handle whose anchors can
/// be replaced while the server runs (after a CA rotation).
pub fn server_config_with_client_roots(
    cert_chain_pem: &str,
    key_pem: &str,
    client_roots: Option<Arc<ClientRoots>>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = load_certs(cert_chain_pem, PemInput::CertChain)?;
    let key = load_pem_key(key_pem)?;
    // Load the key once on its own so that a bad key is reported as such and not
    // confused with certificate errors from the combined check below.
    provider
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(TlsError::UnsupportedKey)?;

    let builder = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(TlsError::Config)?;
    let builder = match client_roots {
        None => builder.with_no_client_auth(),
        Some(roots) => builder.with_client_cert_verifier(roots),
    };
    let mut config = builder.with_single_cert(chain, key).map_err(|e| match e {
        rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
            TlsError::KeyCertMismatch
        }
        rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented => {
            TlsError::InvalidCertificate {
                input: PemInput::CertChain,
                source: e,
            }
        }
        other => TlsError::Config(other),
    })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Optional, verified client certificates whose trust anchors can be
/// replaced at run time: ward-ca swaps them when a CA key is added or
/// retired, so certificates from a rotated issuing CA pass the handshake
/// without a restart. Client hints are not sent (clients present their
/// ward certificate anyway).
pub struct ClientRoots {
    inner: std::sync::RwLock<Arc<dyn rustls::server::danger::ClientCertVerifier>>,
}

impl fmt::Debug for ClientRoots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientRoots")
    }
}

impl ClientRoots {
    /// Anchors from PEM certificates.
    pub fn new(pem: &str) -> Result<Arc<ClientRoots>, TlsError> {
        Ok(Arc::new(ClientRoots {
            inner: std::sync::RwLock::new(Self::build(pem)?),
        }))
    }

    /// Replaces the anchors; on error the old ones stay.
    pub fn replace(&self, pem: &str) -> Result<(), TlsError> {
        let v = Self::build(pem)?;
        if let Ok(mut inner) = self.inner.write() {
            *inner = v;
        }
        Ok(())
    }

    fn build(pem: &str) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        for cert in load_certs(pem, PemInput::ClientRoots)? {
            roots
                .add(cert)
                .map_err(|source| TlsError::InvalidCertificate {
                    input: PemInput::ClientRoots,
                    source,
                })?;
        }
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .allow_unauthenticated()
            .build()
            .map_err(TlsError::ClientVerifier)
    }

    fn current(
        &self,
    ) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, rustls::Error> {
        self.inner
            .read()
            .map(|v| v.clone())
            .map_err(|_| rustls::Error::General("client verifier lock poisoned".into()))
    }
}

impl crate::state::ClientAnchors for ClientRoots {
    fn replace_pem(&self, pem: &str) -> Result<(), String> {
        self.replace(pem).map_err(|e| e.to_string())
    }
}

impl rustls::server::danger::ClientCertVerifier for ClientRoots {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        self.current()?
            .verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.current()?.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.current()?.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.current()
            .map(|v| v.supported_verify_schemes())
            .unwrap_or_default()
    }
}

// ---------------------------------------------------------------------------------
// Serving
// ---------------------------------------------------------------------------------

/// Limits and timeouts of [`serve_tls_with`].
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Connections served at once, handshakes included. When all are taken, the idle
    /// connection (no request in flight) that has gone longest without activity is
    /// closed to admit the new one, connections that never carried an authenticated
    /// request first ([`Authenticated`]); when none is idle, new clients wait in the
    /// kernel's accept backlog. Clamped to at least 1. Default 4096.
    pub max_connections: usize,
    /// Connections one source may hold at once (an IPv4 address, or an IPv6 /64);
    /// more are closed right after accept, before the TLS handshake. Clamped to at
    /// least 1. Default 64.
    pub max_connections_per_source: usize,
    /// Time a client gets to complete the TLS handshake, so that clients which connect
    /// and say nothing cannot hold sockets. Default 10 s.
    pub handshake_timeout: Duration,
    /// Time a client gets, after the handshake, to show which HTTP version it speaks
    /// (an HTTP/1 request line, or the whole HTTP/2 preface), and on HTTP/1.1 to send
    /// each request's headers. Default 10 s.
    pub header_read_timeout: Duration,
    /// A connection (HTTP/1.1 or HTTP/2) with no request in flight for this long is
    /// closed (HTTP/2: GOAWAY). Default 60 s.
    pub idle_timeout: Duration,
    /// A request body must have fully arrived this long after its headers; if not,
    /// reading it fails with [`BodyTimeout`] and the connection is closed after the
    /// response. Default 30 s.
    pub body_timeout: Duration,
    /// HTTP/2 streams a client may have open at once on one connection. Default 100.
    pub h2_max_concurrent_streams: u32,
    /// HTTP/2 keep-alive: a PING is sent after this long without a frame from the
    /// client, and the connection closed if it is not answered within
    /// [`ServeOptions::h2_keepalive_timeout`]. Default 30 s.
    pub h2_keepalive_interval: Duration,
    /// See [`ServeOptions::h2_keepalive_interval`]. Default 20 s.
    pub h2_keepalive_timeout: Duration,
    /// After shutdown, how long in-flight connections may take to finish before they
    /// are aborted. Default 10 s.
    pub shutdown_grace: Duration,
    /// Counters updated by the server.
    pub stats: Arc<ConnStats>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            max_connections: 4096,
            max_connections_per_source: 256,
            handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(30),
            h2_max_concurrent_streams: 100,
            h2_keepalive_interval: Duration::from_secs(30),
            h2_keepalive_timeout: Duration::from_secs(20),
            shutdown_grace: Duration::from_secs(10),
            stats: Arc::default(),
        }
    }
}

/// [`serve_tls_with`] with [`ServeOptions::default`].
pub async fn serve_tls(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    router: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    serve_tls_with(listener, tls, router, shutdown, ServeOptions::default()).await
}

/// Accepts TLS connections on `listener` and serves `router` over HTTP/1.1 and HTTP/2.
///
/// Every request carries a [`ConnInfo`] (and axum's `ConnectInfo<SocketAddr>`) in its
/// extensions. When `shutdown` resolves, the listener is closed, open connections are
/// asked to finish (HTTP/1.1: after the current response; HTTP/2: GOAWAY), and the
/// function returns once they have, or after [`ServeOptions::shutdown_grace`], aborting
/// the rest. Failures of single connections are logged at debug level and never stop
/// the server. The only error is failing to read the listener's local address.
pub async fn serve_tls_with(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    router: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    options: ServeOptions,
) -> io::Result<()> {
    let local = listener.local_addr()?;
    tracing::info!(%local, "serving HTTPS");

    let mut http = auto::Builder::new(TokioExecutor::new());
    http.http1()
        .timer(TokioTimer::new())
        .keep_alive(true)
        .header_read_timeout(options.header_read_timeout);
    http.http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(options.h2_max_concurrent_streams.max(1))
        .keep_alive_interval(Some(options.h2_keepalive_interval))
        .keep_alive_timeout(options.h2_keepalive_timeout);
    let stats = options.stats.clone();
    let registry = Arc::new(Registry {
        conns: std::sync::Mutex::new(Conns::default()),
        became_idle: Notify::new(),
        per_source_max: options.max_connections_per_source.max(1),
    });
    let shared = Arc::new(Shared {
        acceptor: TlsAcceptor::from(tls),
        http,
        router,
        handshake_timeout: options.handshake_timeout,
        version_sniff_timeout: options.header_read_timeout,
        idle_timeout: options.idle_timeout,
        body_timeout: options.body_timeout,
        stats: stats.clone(),
        registry: registry.clone(),
    });

    let permits = Arc::new(Semaphore::new(
        options.max_connections.clamp(1, Semaphore::MAX_PERMITS),
    ));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);

    'serve: loop {
        while let Some(done) = connections.try_join_next() {
            log_task_end(done);
        }
        let (stream, remote) = tokio::select! {
            biased;
            () = &mut shutdown => break 'serve,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Usually EMFILE/ENFILE or a connection reset before accept; none
                    // of them is a reason to stop serving everyone else.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                    continue;
                }
            },
        };
        let Some(guard) = registry.register(SourceKey::of(remote.ip())) else {
            stats.refused_per_source.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%remote, "connection refused: too many from this source");
            drop(stream);
            continue;
        };
        let permit = tokio::select! {
            biased;
            () = &mut shutdown => break 'serve,
            permit = admit(&permits, &registry, &stats) => match permit {
                Some(permit) => permit,
                None => break 'serve,
            },
        };
        connections.spawn(connection(
            shared.clone(),
            stream,
            remote,
            stop_rx.clone(),
            permit,
            guard,
        ));
    }

    // Stop accepting first, so that new clients get a refused connection rather than a
    // silent backlog while we drain.
    drop(listener);
    // Send fails only without receivers, i.e. when there is nothing to drain anyway.
    let _ = stop_tx.send(true);
    tracing::info!(%local, open = connections.len(), "shutting down HTTPS");
    let drain = async {
        while let Some(done) = connections.join_next().await {
            log_task_end(done);
        }
    };
    if tokio::time::timeout(options.shutdown_grace, drain)
        .await
        .is_err()
    {
        tracing::warn!(
            %local,
            aborted = connections.len(),
            "shutdown grace period over; aborting open connections"
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// What every connection task needs, shared.
struct Shared {
    acceptor: TlsAcceptor,
    http: auto::Builder<TokioExecutor>,
    router: axum::Router,
    handshake_timeout: Duration,
    version_sniff_timeout: Duration,
    idle_timeout: Duration,
    body_timeout: Duration,
    stats: Arc<ConnStats>,
    registry: Arc<Registry>,
}

/// How long a connection closed for being idle (or shed) may take to send its
/// GOAWAY and go; it has no request in flight, so there is nothing to wait for.
const IDLE_CLOSE_GRACE: Duration = Duration::from_millis(500);
/// How long a connection whose request body timed out may take to send the 408
/// before it is dropped.
const BODY_CLOSE_GRACE: Duration = Duration::from_secs(5);

/// Who a per-source connection cap applies to: an IPv4 address, or the /64 of an
/// IPv6 address (one host usually holds a whole /64). IPv4-mapped IPv6 addresses
/// count as their IPv4 address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct SourceKey(IpAddr);

impl SourceKey {
    fn of(ip: IpAddr) -> SourceKey {
        match ip.to_canonical() {
            IpAddr::V4(v4) => SourceKey(IpAddr::V4(v4)),
            IpAddr::V6(v6) => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                SourceKey(IpAddr::V6(Ipv6Addr::from(bits)))
            }
        }
    }
}

/// Why the server closes a connection that the client has not closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CloseReason {
    /// Its slot went to a new connection.
    Shed,
    /// No request in flight for [`ServeOptions::idle_timeout`].
    Idle,
    /// A request body did not arrive in time.
    BodyTimeout,
}

/// What a connection is doing, as seen by its task and by the shedding logic.
#[derive(Clone, Copy, Debug)]
struct Activity {
    /// Holds a slot (its task runs); only admitted connections can be shed.
    admitted: bool,
    /// Requests being handled.
    in_flight: usize,
    /// When `in_flight` last changed (or the connection was accepted).
    since: Instant,
    /// Whether a response on this connection carried [`Authenticated`].
    authenticated: bool,
    /// Set when the server decides to close the connection.
    close: Option<CloseReason>,
}

/// One connection's shared state.
struct ConnShared {
    activity: watch::Sender<Activity>,
}

/// Every open connection, by id, and the count per source.
struct Registry {
    conns: std::sync::Mutex<Conns>,
    /// Signalled when a connection's last in-flight request ends, so that a new
    /// client waiting for a slot can shed it.
    became_idle: Notify,
    per_source_max: usize,
}

#[derive(Default)]
struct Conns {
    next_id: u64,
    by_id: HashMap<u64, Arc<ConnShared>>,
    per_source: HashMap<SourceKey, usize>,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, Conns> {
        // The map stays consistent even if a holder panicked: every update is one
        // insert/remove.
        self.conns
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a new connection from `source`, or `None` if the source already
    /// holds its share.
    fn register(self: &Arc<Self>, source: SourceKey) -> Option<ConnGuard> {
        let mut conns = self.lock();
        let count = conns.per_source.entry(source).or_insert(0);
        if *count >= self.per_source_max {
            return None;
        }
        *count += 1;
        let id = conns.next_id;
        conns.next_id += 1;
        let (activity, _) = watch::channel(Activity {
            admitted: false,
            in_flight: 0,
            since: Instant::now(),
            authenticated: false,
            close: None,
        });
        let conn = Arc::new(ConnShared { activity });
        conns.by_id.insert(id, conn.clone());
        Some(ConnGuard {
            registry: self.clone(),
            id,
            source,
            conn,
        })
    }

    /// Asks the best idle connection to close: one with no request in flight that
    /// never carried an authenticated request, longest idle first; then authenticated
    /// ones the same way. False if every admitted connection has a request in flight.
    fn shed_one(&self) -> bool {
        let conns = self.lock();
        let victim = conns
            .by_id
            .values()
            .filter_map(|conn| {
                let a = *conn.activity.borrow();
                (a.admitted && a.in_flight == 0 && a.close.is_none())
                    .then_some(((a.authenticated, a.since), conn))
            })
            .min_by_key(|(key, _)| *key);
        match victim {
            Some((_, conn)) => {
                conn.activity
                    .send_modify(|a| a.close = Some(CloseReason::Shed));
                true
            }
            None => false,
        }
    }
}

/// Removes its connection from the [`Registry`] when the connection ends.
struct ConnGuard {
    registry: Arc<Registry>,
    id: u64,
    source: SourceKey,
    conn: Arc<ConnShared>,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        let mut conns = self.registry.lock();
        conns.by_id.remove(&self.id);
        if let Some(count) = conns.per_source.get_mut(&self.source) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                conns.per_source.remove(&self.source);
            }
        }
    }
}

/// Counts one request in flight on a connection for as long as it lives.
struct InFlight {
    conn: Arc<ConnShared>,
    registry: Arc<Registry>,
}

impl InFlight {
    fn start(conn: Arc<ConnShared>, registry: Arc<Registry>) -> InFlight {
        // No wake-up for the connection's idle watcher: it re-reads the
        // state when its timer fires (see `close_wanted`), so a request
        // costs two uncontended updates, not two task wake-ups and a timer.
        conn.activity.send_if_modified(|a| {
            a.in_flight += 1;
            a.since = Instant::now();
            false
        });
        InFlight { conn, registry }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut idle = false;
        self.conn.activity.send_if_modified(|a| {
            a.in_flight = a.in_flight.saturating_sub(1);
            a.since = Instant::now();
            idle = a.in_flight == 0;
            false
        });
        if idle {
            self.registry.became_idle.notify_waiters();
        }
    }
}

/// A slot for a new connection: a free one, or one freed by shedding an idle
/// connection; waits while every connection has a request in flight. `None` only if
/// the semaphore was closed (never).
async fn admit(
    permits: &Arc<Semaphore>,
    registry: &Registry,
    stats: &ConnStats,
) -> Option<OwnedSemaphorePermit> {
    loop {
        if let Ok(permit) = permits.clone().try_acquire_owned() {
            return Some(permit);
        }
        // Registered before looking, so that a connection going idle in between
        // is not missed.
        let became_idle = registry.became_idle.notified();
        let mut became_idle = std::pin::pin!(became_idle);
        became_idle.as_mut().enable();
        if registry.shed_one() {
            stats.shed.fetch_add(1, Ordering::Relaxed);
            return permits.clone().acquire_owned().await.ok();
        }
        tokio::select! {
            permit = permits.clone().acquire_owned() => return permit.ok(),
            () = became_idle => {}
        }
    }
}

fn log_task_end(done: Result<(), tokio::task::JoinError>) {
    if let Err(err) = done {
        if err.is_panic() {
            tracing::error!(error = %err, "connection task panicked");
        }
    }
}

/// Resolves once shutdown has been signalled (or the server is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The `Ref` returned by `wait_for` is not `Send`; drop it here, inside.
    let _ = stop.wait_for(|stopped| *stopped).await;
}

/// Resolves when the server decides to close the connection: it was shed, a body
/// timed out, or it has had no request in flight for `idle`.
///
/// Requests starting and ending do not notify this watcher (that cost a
/// task wake-up and a new timer per request, 15% of `/healthz`'s
/// throughput); it sleeps until the earliest moment the connection could
/// have been idle for `idle` and then re-reads the state. Only a decision
/// to close (`close`) notifies it.
async fn close_wanted(activity: &mut watch::Receiver<Activity>, idle: Duration) -> CloseReason {
    loop {
        let a = *activity.borrow_and_update();
        if let Some(reason) = a.close {
            return reason;
        }
        let deadline = if a.in_flight == 0 {
            let d = tokio::time::Instant::from_std(a.since) + idle;
            if d <= tokio::time::Instant::now() {
                return CloseReason::Idle;
            }
            d
        } else {
            // Busy now: it cannot be idle long enough before `idle` from now.
            tokio::time::Instant::now() + idle
        };
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => {}
            changed = activity.changed() => if changed.is_err() {
                // The sender lives in the registry as long as the connection does.
                std::future::pending::<()>().await;
            },
        }
    }
}

/// Whether a connection error is a read deadline (header or version sniff).
fn is_timeout(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(e) = e.downcast_ref::<hyper::Error>() {
            if e.is_timeout() {
                return true;
            }
        }
        if let Some(e) = e.downcast_ref::<io::Error>() {
            if e.kind() == io::ErrorKind::TimedOut {
                return true;
            }
        }
        cur = e.source();
    }
    false
}

/// Serves one connection: TLS handshake, then HTTP until the client leaves, the
/// server closes it (idle, shed, body timeout) or shutdown.
async fn connection(
    shared: Arc<Shared>,
    stream: TcpStream,
    remote: SocketAddr,
    mut stop: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
    guard: ConnGuard,
) {
    let stats = shared.stats.clone();
    stats.accepted.fetch_add(1, Ordering::Relaxed);
    stats.open.fetch_add(1, Ordering::Relaxed);
    let _open = OpenGauge(stats.clone());
    let conn = guard.conn.clone();
    conn.activity.send_modify(|a| {
        a.admitted = true;
        a.since = Instant::now();
    });
    let mut activity = conn.activity.subscribe();

    // Small request/response exchanges: do not let Nagle delay the last segment.
    if let Err(err) = stream.set_nodelay(true) {
        tracing::debug!(%remote, error = %err, "TCP_NODELAY failed");
    }
    let handshake = tokio::time::timeout(shared.handshake_timeout, shared.acceptor.accept(stream));
    let tls_stream = tokio::select! {
        result = handshake => match result {
            Ok(Ok(tls_stream)) => tls_stream,
            Ok(Err(err)) => {
                tracing::debug!(%remote, error = %err, "TLS handshake failed");
                return;
            }
            Err(_) => {
                stats.handshake_timeouts.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%remote, "TLS handshake timed out");
                return;
            }
        },
        () = stopped(&mut stop) => return,
        reason = close_wanted(&mut activity, shared.handshake_timeout.max(shared.idle_timeout)) => {
            tracing::debug!(%remote, ?reason, "closed during the TLS handshake");
            return;
        }
    };
    conn.activity.send_modify(|a| a.since = Instant::now());

    let client_cert_chain_der = tls_stream.get_ref().1.peer_certificates().map(|chain| {
        Arc::new(
            chain
                .iter()
                .map(|cert| cert.as_ref().to_vec())
                .collect::<Vec<_>>(),
        )
    });
    let info = ConnInfo {
        remote,
        tls: true,
        client_cert_chain_der,
    };
    let router = shared.router.clone();
    let registry = shared.registry.clone();
    let body_timeout = shared.body_timeout;
    let service_conn = conn.clone();
    let service_stats = stats.clone();
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let in_flight = InFlight::start(service_conn.clone(), registry.clone());
        let (mut parts, body) = request.into_parts();
        parts.extensions.insert(info.clone());
        parts.extensions.insert(axum::extract::ConnectInfo(remote));
        let body = DeadlineBody {
            inner: body,
            deadline: tokio::time::Instant::now() + body_timeout,
            sleep: None,
            conn: service_conn.clone(),
            stats: service_stats.clone(),
            timed_out: false,
        };
        let router = router.clone();
        async move {
            let response = router
                .oneshot(hyper::Request::from_parts(parts, body))
                .await;
            if let Ok(response) = &response {
                if response.extensions().get::<Authenticated>().is_some() {
                    in_flight.conn.activity.send_if_modified(|a| {
                        a.authenticated = true;
                        false
                    });
                }
            }
            drop(in_flight);
            response
        }
    });

    let http = shared.http.serve_connection(
        TokioIo::new(VersionSniffDeadline::new(
            tls_stream,
            shared.version_sniff_timeout,
        )),
        service,
    );
    let mut http = std::pin::pin!(http);
    let result = tokio::select! {
        result = http.as_mut() => result,
        () = stopped(&mut stop) => {
            http.as_mut().graceful_shutdown();
            http.await
        }
        reason = close_wanted(&mut activity, shared.idle_timeout) => {
            let grace = match reason {
                CloseReason::Idle => {
                    stats.idle_timeouts.fetch_add(1, Ordering::Relaxed);
                    IDLE_CLOSE_GRACE
                }
                CloseReason::Shed => IDLE_CLOSE_GRACE,
                CloseReason::BodyTimeout => BODY_CLOSE_GRACE,
            };
            tracing::debug!(%remote, ?reason, "closing the connection");
            http.as_mut().graceful_shutdown();
            match tokio::time::timeout(grace, http.as_mut()).await {
                Ok(result) => result,
                // The client did not take the hint (an unanswered HTTP/2 PING, a
                // request body still trickling in): drop it.
                Err(_) => Ok(()),
            }
        }
    };
    if let Err(err) = result {
        if is_timeout(&*err) {
            stats.header_timeouts.fetch_add(1, Ordering::Relaxed);
        }
        tracing::debug!(%remote, error = %err, "connection ended with an error");
    }
    drop(guard);
}

/// Decrements [`ConnStats::open`] when a connection task ends.
struct OpenGauge(Arc<ConnStats>);

impl Drop for OpenGauge {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A request body that fails with [`BodyTimeout`] if it has not fully arrived by
/// `deadline`, and then asks its connection to close. The timer is only armed
/// when the body is actually waited for, so bodiless requests cost nothing.
struct DeadlineBody {
    inner: Incoming,
    deadline: tokio::time::Instant,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    conn: Arc<ConnShared>,
    stats: Arc<ConnStats>,
    timed_out: bool,
}

impl hyper::body::Body for DeadlineBody {
    type Data = bytes::Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        if this.timed_out {
            return Poll::Ready(Some(Err(Box::new(BodyTimeout))));
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(frame.map(|f| f.map_err(Into::into))),
            Poll::Pending => {
                let deadline = this.deadline;
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.timed_out = true;
                this.stats.body_timeouts.fetch_add(1, Ordering::Relaxed);
                this.conn
                    .activity
                    .send_modify(|a| a.close = Some(CloseReason::BodyTimeout));
                Poll::Ready(Some(Err(Box::new(BodyTimeout))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.timed_out || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// The HTTP/2 connection preface (RFC 9113 §3.4), which hyper-util's auto builder
/// looks for to tell HTTP/2 from HTTP/1.
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Fails reads with `TimedOut` if the client has not revealed its HTTP version before
/// a deadline.
///
/// hyper's HTTP/1 header timeout only starts once hyper-util's auto builder has seen
/// enough bytes to tell HTTP/1 from HTTP/2, and HTTP/2 has no timeout for the preface;
/// so a client that completes the TLS handshake and then says nothing (or sends "PRI"
/// and stops) would otherwise hold a connection slot forever. The deadline is disarmed
/// exactly when the auto builder decides: at the first byte that departs from the
/// HTTP/2 preface, or once the whole preface has arrived.
struct VersionSniffDeadline<T> {
    inner: T,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    /// How many bytes read so far match the HTTP/2 preface.
    preface_seen: usize,
}

impl<T> VersionSniffDeadline<T> {
    fn new(inner: T, timeout: Duration) -> Self {
        VersionSniffDeadline {
            inner,
            deadline: Some(Box::pin(tokio::time::sleep(timeout))),
            preface_seen: 0,
        }
    }

    fn observe(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            if H2_PREFACE.get(self.preface_seen) != Some(&byte) {
                self.deadline = None;
                return;
            }
            self.preface_seen += 1;
        }
        if self.preface_seen == H2_PREFACE.len() {
            self.deadline = None;
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for VersionSniffDeadline<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if this.deadline.is_some() {
                    if let Some(new) = buf.filled().get(before..) {
                        this.observe(new);
                    }
                }
                Poll::Ready(result)
            }
            Poll::Pending => {
                let expired = match this.deadline.as_mut() {
                    Some(deadline) => deadline.as_mut().poll(cx).is_ready(),
                    None => false,
                };
                if expired {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "no HTTP request after the TLS handshake",
                    )));
                }
                Poll::Pending
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for VersionSniffDeadline<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
