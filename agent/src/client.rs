//! The agent's HTTPS client for ward-ca's host routes (blocking ureq over
//! rustls). After `join`, every call trusts only the CA bundle pinned in
//! the state directory and presents the host certificate (mTLS); the first
//! contact (`join`) trusts what [`Trust`] says.
//!
//! Bodies are read with a cap: a response larger than the caller's limit
//! is an error, never a truncated value.

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};
use ward_protocol::api::ErrorBody;
use ward_protocol::host::{AGENT_VERSION_HEADER, SNAPSHOT_DELTA_MEDIA_TYPE};

/// This agent's version, sent in `X-Ward-Agent-Version`.
pub const AGENT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Which server certificates to accept.
#[derive(Clone, Debug)]
pub enum Trust {
    /// The public web roots (webpki-roots): for a ward-ca behind a
    /// publicly trusted certificate.
    System,
    /// Only these CA certificates (PEM): the pinned bundle, or
    /// `join --ca-bundle`.
    Bundle(Vec<u8>),
    /// A chain that contains a certificate with this SHA-256 fingerprint
    /// (of its DER), and that verifies up to it (`join --ca-fingerprint`).
    /// Only certificates the server sends can match: ward-ca sends its
    /// server certificate (not its root), so that is what is pinned.
    Fingerprint([u8; 32]),
}

/// The client certificate (PEM chain and key).
pub struct ClientIdentity {
    /// Leaf then issuer, PEM.
    pub chain_pem: Vec<u8>,
    /// PKCS #8 private key, PEM.
    pub key_pem: Vec<u8>,
}

impl std::fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientIdentity(<redacted>)")
    }
}

/// Why a call failed.
#[derive(Debug)]
pub enum CallError {
    /// Local TLS setup failed (bad bundle, key or certificate).
    Setup(String),
    /// ward-ca could not be reached or the connection failed.
    Unreachable(String),
    /// ward-ca answered with an error status.
    Status {
        /// HTTP status.
        code: u16,
        /// ward's error code (`AccessDenied`, …), if the body had one.
        error: Option<String>,
        /// Message.
        message: String,
        /// `Retry-After` in seconds (429 and 503), if ward-ca sent one.
        retry_after: Option<u64>,
    },
    /// The answer was larger than allowed.
    TooLarge(u64),
    /// The answer did not parse.
    Malformed(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Setup(m) => write!(f, "TLS setup: {m}"),
            CallError::Unreachable(m) => write!(f, "ward-ca unreachable: {m}"),
            CallError::Status {
                code,
                error,
                message,
                ..
            } => match error {
                Some(e) => write!(f, "ward-ca answered {code} {e}: {message}"),
                None => write!(f, "ward-ca answered {code}: {message}"),
            },
            CallError::TooLarge(n) => write!(f, "ward-ca's answer exceeds {n} bytes"),
            CallError::Malformed(m) => write!(f, "ward-ca's answer is malformed: {m}"),
        }
    }
}

impl std::error::Error for CallError {}

/// A connection to ward-ca.
pub struct CaClient {
    base: String,
    agent: ureq::Agent,
    timeout: Duration,
}

/// A snapshot response.
#[derive(Debug)]
pub enum SnapshotReply {
    /// 200: the body and its `ETag`.
    Changed {
        /// Body (at most the cap).
        body: Vec<u8>,
        /// `ETag`, if sent.
        etag: Option<String>,
    },
    /// 200 with `Content-Type` [`SNAPSHOT_DELTA_MEDIA_TYPE`]: a
    /// `SnapshotDelta` body (at most the cap) and its `ETag`.
    Delta {
        /// Body (at most the cap).
        body: Vec<u8>,
        /// `ETag`, if sent.
        etag: Option<String>,
    },
    /// 304: what we hold is current.
    NotModified,
}

impl CaClient {
    /// A client for `base` (`https://…`, no trailing `/`).
    pub fn new(
        base: &str,
        trust: &Trust,
        identity: Option<&ClientIdentity>,
        connect_timeout: Duration,
        timeout: Duration,
    ) -> Result<CaClient, CallError> {
        let tls = tls_config(trust, identity)?;
        let agent = ureq::AgentBuilder::new()
            .tls_config(tls)
            .redirects(0)
            .timeout_connect(connect_timeout)
            .user_agent(concat!("ward-agent/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(CaClient {
            base: base.trim_end_matches('/').to_string(),
            agent,
            timeout,
        })
    }

    /// `POST {base}{path}` with a JSON body; the JSON answer (at most
    /// `max` bytes).
    pub fn post<T: Serialize, R: DeserializeOwned>(
        &self,
        path: &str,
        body: &T,
        max: u64,
    ) -> Result<R, CallError> {
        let bytes = self.post_bytes(path, body, max)?;
        serde_json::from_slice(&bytes).map_err(|e| CallError::Malformed(e.to_string()))
    }

    /// `POST {base}{path}` with a JSON body; the raw answer (at most `max`
    /// bytes), for callers that validate it themselves.
    pub fn post_bytes<T: Serialize>(
        &self,
        path: &str,
        body: &T,
        max: u64,
    ) -> Result<Vec<u8>, CallError> {
        let body = serde_json::to_vec(body).map_err(|e| CallError::Setup(e.to_string()))?;
        let resp = self
            .agent
            .post(&format!("{}{path}", self.base))
            .timeout(self.timeout)
            .set(AGENT_VERSION_HEADER, AGENT_VERSION)
            .set("content-type", "application/json")
            .send_bytes(&body);
        let resp = answer(resp)?;
        read_capped(resp, max)
    }

    /// `PUT {base}{path}` with `len` bytes read from `body` as
    /// `content_type` (streamed with a `Content-Length`, never held in
    /// memory whole); the status and the answer (at most `max` bytes).
    pub fn put_stream(
        &self,
        path: &str,
        content_type: &str,
        len: u64,
        body: impl Read,
        max: u64,
    ) -> Result<(u16, Vec<u8>), CallError> {
        let resp = self
            .agent
            .put(&format!("{}{path}", self.base))
            .timeout(self.timeout)
            .set(AGENT_VERSION_HEADER, AGENT_VERSION)
            .set("content-type", content_type)
            .set("content-length", &len.to_string())
            .send(body);
        let resp = answer(resp)?;
        let status = resp.status();
        Ok((status, read_capped(resp, max)?))
    }

    /// `GET {base}/v1/host/snapshot?wait=N` with `If-None-Match` (never a
    /// delta).
    pub fn snapshot(
        &self,
        wait: Duration,
        etag: Option<&str>,
        max: u64,
    ) -> Result<SnapshotReply, CallError> {
        self.snapshot_or_delta(wait, etag, max, false)
    }

    /// [`CaClient::snapshot`]; with `deltas`, `Accept` also lists
    /// [`SNAPSHOT_DELTA_MEDIA_TYPE`] (ward-ca may then answer with a delta
    /// from the generation held, [`SnapshotReply::Delta`]).
    pub fn snapshot_or_delta(
        &self,
        wait: Duration,
        etag: Option<&str>,
        max: u64,
        deltas: bool,
    ) -> Result<SnapshotReply, CallError> {
        let mut req = self
            .agent
            .get(&format!(
                "{}/v1/host/snapshot?wait={}",
                self.base,
                wait.as_secs()
            ))
            .timeout(self.timeout + wait)
            .set(AGENT_VERSION_HEADER, AGENT_VERSION);
        if let Some(tag) = etag {
            req = req.set("if-none-match", tag);
        }
        if deltas {
            req = req.set(
                "accept",
                &format!("application/json, {SNAPSHOT_DELTA_MEDIA_TYPE}"),
            );
        }
        let resp = answer(req.call())?;
        match resp.status() {
            304 => Ok(SnapshotReply::NotModified),
            200 if deltas
                && resp
                    .header("content-type")
                    .is_some_and(|t| t.eq_ignore_ascii_case(SNAPSHOT_DELTA_MEDIA_TYPE)) =>
            {
                let etag = resp.header("etag").map(str::to_string);
                let body = read_capped(resp, max)?;
                Ok(SnapshotReply::Delta { body, etag })
            }
            200 => {
                let etag = resp.header("etag").map(str::to_string);
                let body = read_capped(resp, max)?;
                Ok(SnapshotReply::Changed { body, etag })
            }
            code => Err(CallError::Status {
                code,
                error: None,
                message: "unexpected status".into(),
                retry_after: None,
            }),
        }
    }
}

/// Turns ureq's result into a response with status < 400, or an error.
fn answer(r: Result<ureq::Response, ureq::Error>) -> Result<ureq::Response, CallError> {
    match r {
        Ok(resp) if (300..400).contains(&resp.status()) && resp.status() != 304 => {
            Err(CallError::Status {
                code: resp.status(),
                error: None,
                message: "redirects are not followed".into(),
                retry_after: None,
            })
        }
        Ok(resp) => Ok(resp),
        Err(ureq::Error::Status(code, resp)) => {
            let retry_after = resp
                .header("retry-after")
                .and_then(|v| v.trim().parse::<u64>().ok());
            let text = read_capped(resp, 64 * 1024)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            let (error, message) = match serde_json::from_str::<ErrorBody>(&text) {
                Ok(b) => (Some(b.error.code), b.error.message),
                Err(_) => (None, text.chars().take(200).collect()),
            };
            Err(CallError::Status {
                code,
                error,
                message: message.escape_debug().to_string(),
                retry_after,
            })
        }
        Err(ureq::Error::Transport(t)) => Err(CallError::Unreachable(t.to_string())),
    }
}

/// The body, refusing more than `max` bytes.
fn read_capped(resp: ureq::Response, max: u64) -> Result<Vec<u8>, CallError> {
    let mut out = Vec::new();
    resp.into_reader()
        .take(max + 1)
        .read_to_end(&mut out)
        .map_err(|e| CallError::Unreachable(format!("reading the answer: {e}")))?;
    if out.len() as u64 > max {
        return Err(CallError::TooLarge(max));
    }
    Ok(out)
}

/// The PEM certificates in `pem`.
pub fn pem_certs(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = rustls_pemfile::certs(&mut &pem[..])
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    if certs.is_empty() {
        return Err("no PEM certificate found".into());
    }
    Ok(certs)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn tls_config(
    trust: &Trust,
    identity: Option<&ClientIdentity>,
) -> Result<Arc<rustls::ClientConfig>, CallError> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| CallError::Setup(e.to_string()))?;
    let builder = match trust {
        Trust::System => {
            let mut roots = rustls::RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            builder.with_root_certificates(roots)
        }
        Trust::Bundle(pem) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in pem_certs(pem).map_err(|e| CallError::Setup(format!("CA bundle: {e}")))? {
                roots
                    .add(c)
                    .map_err(|e| CallError::Setup(format!("CA bundle: {e}")))?;
            }
            builder.with_root_certificates(roots)
        }
        Trust::Fingerprint(fp) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedVerifier { pin: *fp })),
    };
    let config = match identity {
        None => builder.with_no_client_auth(),
        Some(id) => {
            let chain = pem_certs(&id.chain_pem)
                .map_err(|e| CallError::Setup(format!("host certificate: {e}")))?;
            let key = rustls_pemfile::private_key(&mut &id.key_pem[..])
                .map_err(|e| CallError::Setup(format!("host key: {e}")))?
                .ok_or_else(|| CallError::Setup("host key: no PEM private key".into()))?;
            let key: PrivateKeyDer<'static> = key;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| CallError::Setup(format!("host certificate: {e}")))?
        }
    };
    Ok(Arc::new(config))
}

/// Parses `SHA256:HEX`, `HEX` or `AA:BB:…` (as `openssl x509 -fingerprint
/// -sha256` prints it) into 32 bytes.
pub fn parse_fingerprint(s: &str) -> Result<[u8; 32], String> {
    let s = s.trim();
    let s = s
        .strip_prefix("SHA256:")
        .or_else(|| s.strip_prefix("sha256:"))
        .or_else(|| s.strip_prefix("sha256 Fingerprint="))
        .unwrap_or(s);
    let hexed: String = s.chars().filter(|&c| c != ':').collect();
    let bytes = hex::decode(&hexed)
        .map_err(|_| "a SHA-256 fingerprint is 64 hex digits (colons allowed)".to_string())?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| "a SHA-256 fingerprint is 64 hex digits (colons allowed)".to_string())
}

/// Trust on first contact by fingerprint: the server's chain must contain
/// a certificate whose DER has the pinned SHA-256. If that is the leaf, the
/// pin is exact; otherwise the leaf must verify (signatures, validity,
/// server name) up to the pinned certificate as the only trust anchor.
#[derive(Debug)]
struct PinnedVerifier {
    pin: [u8; 32],
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let matches = |c: &CertificateDer<'_>| Sha256::digest(c.as_ref()).as_slice() == self.pin;
        if matches(end_entity) {
            return Ok(ServerCertVerified::assertion());
        }
        let Some(anchor) = intermediates.iter().find(|c| matches(c)) else {
            return Err(rustls::Error::General(format!(
                "none of the {} certificate(s) ward-ca sent has the pinned fingerprint \
                 (pin its server certificate or an intermediate it sends; a root it \
                 does not send is trusted with --ca-bundle instead)",
                1 + intermediates.len()
            )));
        };
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(anchor.clone().into_owned())
            .map_err(|e| rustls::Error::General(format!("pinned certificate: {e}")))?;
        let inner = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            provider(),
        )
        .build()
        .map_err(|e| rustls::Error::General(e.to_string()))?;
        inner.verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &provider().signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &provider().signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_parse_in_common_spellings() {
        let hex64 = "ab".repeat(32);
        let colons = vec!["AB"; 32].join(":");
        assert_eq!(parse_fingerprint(&hex64).unwrap(), [0xab; 32]);
        assert_eq!(
            parse_fingerprint(&format!("SHA256:{hex64}")).unwrap(),
            [0xab; 32]
        );
        assert_eq!(parse_fingerprint(&colons).unwrap(), [0xab; 32]);
        assert!(parse_fingerprint("abcd").is_err());
        assert!(parse_fingerprint(&"zz".repeat(32)).is_err());
    }
}
