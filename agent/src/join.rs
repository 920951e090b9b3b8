//! Enrolment (`ward-agent join URL TOKEN`) and certificate renewal.
//!
//! The host makes its keys itself — a P-256 TLS key (CSR built with
//! rcgen) and, if the configured SSH host key does not exist, an ed25519
//! SSH host key — and sends only the CSR and the SSH public key. The
//! answer is checked before anything is written: the X.509 leaf must carry
//! our TLS public key, the SSH host certificate must certify our SSH host
//! key, the CA bundle must hold certificates. Then, each file atomically:
//! the SSH host key (if new), the TLS key (0600), certificate and pinned CA
//! bundle in the state directory (0700), the SSH host certificate at
//! `<ssh_host_key>-cert.pub`, sshd's `TrustedUserCAKeys` and an empty
//! `RevokedKeys`, and last `host.json` (which marks the join complete). A
//! failed join writes nothing.
//!
//! Trust on first contact: `join` has no pinned bundle yet. It trusts, in
//! order of preference, `--ca-fingerprint SHA256` (the chain ward-ca
//! presents must contain a certificate with that SHA-256 fingerprint and
//! verify up to it; ward-ca sends only its server certificate, so that is
//! what an operator pins), `--ca-bundle FILE` (only those CAs), or else the
//! public web roots (for a ward-ca behind a publicly trusted certificate).
//! There is no "trust anything" mode. After the join, only the bundle
//! ward-ca returned is trusted.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use ssh_key::{Algorithm, LineEnding, PrivateKey, PublicKey};
use ward_protocol::host::{JoinRequest, JoinResponse, RenewRequest};

use crate::client::{CaClient, CallError, ClientIdentity, Trust};
use crate::config::Config;
use crate::files::{write_atomic, SshFiles};

/// Largest join/renew answer read.
pub const MAX_JOIN_RESPONSE: u64 = 1024 * 1024;

/// Largest join token.
const MAX_TOKEN: usize = 1024;

/// What `join` records about the host (`STATE/host.json`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HostState {
    /// The host's ward name.
    pub host_name: String,
    /// `arn:ward:host::ACCT:host/NAME`.
    pub host_arn: String,
    /// Account id.
    pub account: String,
    /// Trust domain.
    pub trust_domain: String,
    /// ward-ca's URL as given to `join`.
    pub ca_url: String,
    /// Expiry of the host certificate, RFC 3339 (as ward-ca said).
    pub certificate_expires_at: String,
    /// When the host joined (Unix seconds).
    pub joined_at: i64,
}

/// The files of the state directory.
#[derive(Clone, Debug)]
pub struct StatePaths {
    /// The directory (0700).
    pub dir: PathBuf,
}

impl StatePaths {
    /// The paths under `dir`.
    pub fn new(dir: &Path) -> StatePaths {
        StatePaths {
            dir: dir.to_path_buf(),
        }
    }
    /// `host.json`.
    pub fn host(&self) -> PathBuf {
        self.dir.join("host.json")
    }
    /// TLS private key (PKCS #8 PEM, 0600).
    pub fn key(&self) -> PathBuf {
        self.dir.join("host.key")
    }
    /// Host certificate chain (PEM).
    pub fn cert(&self) -> PathBuf {
        self.dir.join("host.crt")
    }
    /// The pinned CA bundle (PEM).
    pub fn ca_bundle(&self) -> PathBuf {
        self.dir.join("ca-bundle.pem")
    }
    /// The snapshot cache.
    pub fn snapshot(&self) -> PathBuf {
        self.dir.join("snapshot.json")
    }
    /// The offline password verifiers (0600).
    pub fn password_verifiers(&self) -> PathBuf {
        self.dir.join("passwords.json")
    }
    /// The audit spool.
    pub fn spool(&self) -> PathBuf {
        self.dir.join("audit-spool")
    }
}

/// Why a join or renewal failed.
#[derive(Debug)]
pub enum JoinError {
    /// The operator's input is unusable.
    Usage(String),
    /// The call failed.
    Call(CallError),
    /// ward-ca's answer is not acceptable (field, why).
    Invalid(&'static str, String),
    /// Reading or writing local files failed.
    Io(String),
}

impl std::fmt::Display for JoinError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JoinError::Usage(m) | JoinError::Io(m) => f.write_str(m),
            JoinError::Call(e) => write!(f, "{e}"),
            JoinError::Invalid(field, m) => write!(f, "ward-ca's answer: {field}: {m}"),
        }
    }
}

impl std::error::Error for JoinError {}

impl From<CallError> for JoinError {
    fn from(e: CallError) -> JoinError {
        JoinError::Call(e)
    }
}

/// How `join` trusts ward-ca on first contact, and whether it may replace
/// an existing enrolment.
#[derive(Clone, Debug)]
pub struct JoinOptions {
    /// ward-ca's URL.
    pub url: String,
    /// The join token.
    pub token: String,
    /// First-contact trust.
    pub trust: Trust,
    /// Join again although `host.json` exists.
    pub force: bool,
}

/// First-contact trust from the `join` command line of ward-agent and
/// ward-gateway: `--ca-fingerprint` wins, then `--ca-bundle` (read now),
/// else the public web roots.
pub fn trust_from_flags(
    ca_bundle: Option<&Path>,
    ca_fingerprint: Option<&str>,
) -> Result<Trust, JoinError> {
    match (ca_fingerprint, ca_bundle) {
        (Some(fp), _) => crate::client::parse_fingerprint(fp)
            .map(Trust::Fingerprint)
            .map_err(|e| JoinError::Usage(format!("--ca-fingerprint: {e}"))),
        (None, Some(p)) => std::fs::read(p)
            .map(Trust::Bundle)
            .map_err(|e| JoinError::Usage(format!("--ca-bundle {}: {e}", p.display()))),
        (None, None) => Ok(Trust::System),
    }
}

/// Reads a token argument: `-` reads one line from `stdin`.
pub fn read_token(arg: &str, stdin: &mut impl Read) -> Result<String, JoinError> {
    let token = if arg == "-" {
        let mut buf = Vec::new();
        stdin
            .take(MAX_TOKEN as u64 + 2)
            .read_to_end(&mut buf)
            .map_err(|e| JoinError::Io(format!("reading the token from stdin: {e}")))?;
        String::from_utf8(buf).map_err(|_| JoinError::Usage("the token is not UTF-8".into()))?
    } else {
        arg.to_string()
    };
    let token = token.trim().to_string();
    if token.is_empty() || token.len() > MAX_TOKEN || !token.chars().all(|c| c.is_ascii_graphic()) {
        return Err(JoinError::Usage(format!(
            "the join token must be 1–{MAX_TOKEN} printable ASCII characters"
        )));
    }
    Ok(token)
}

/// A fresh TLS key and a CSR for it.
struct TlsKey {
    key_pem: String,
    spki_der: Vec<u8>,
    csr_pem: String,
}

fn new_tls_key() -> Result<TlsKey, JoinError> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|e| JoinError::Io(format!("making the TLS key: {e}")))?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())
        .map_err(|e| JoinError::Io(format!("CSR: {e}")))?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "ward-agent");
    let csr = params
        .serialize_request(&key)
        .and_then(|c| c.pem())
        .map_err(|e| JoinError::Io(format!("CSR: {e}")))?;
    Ok(TlsKey {
        key_pem: key.serialize_pem(),
        spki_der: key.public_key_der(),
        csr_pem: csr,
    })
}

/// The SSH host key: the configured one if it exists (then `None` to
/// write), else a new ed25519 key (returned to be written after success).
fn ssh_host_key(cfg: &Config) -> Result<(PublicKey, Option<PrivateKey>), JoinError> {
    let path = &cfg.ssh_host_key;
    match std::fs::read(path) {
        Ok(bytes) => {
            let key = PrivateKey::from_openssh(&bytes)
                .map_err(|e| JoinError::Usage(format!("SSH host key {}: {e}", path.display())))?;
            if key.is_encrypted() {
                return Err(JoinError::Usage(format!(
                    "SSH host key {} is encrypted",
                    path.display()
                )));
            }
            Ok((key.public_key().clone(), None))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = PrivateKey::random(&mut rand_core::OsRng, Algorithm::Ed25519)
                .map_err(|e| JoinError::Io(format!("making the SSH host key: {e}")))?;
            Ok((key.public_key().clone(), Some(key)))
        }
        Err(e) => Err(JoinError::Io(format!(
            "SSH host key {}: {e}",
            path.display()
        ))),
    }
}

/// Parses and checks a join/renew answer: it must be a [`JoinResponse`]
/// whose X.509 leaf carries `spki_der` (our TLS key) and names this host,
/// whose SSH host certificate certifies `ssh_public`, with a non-empty CA
/// bundle. Pure (no I/O), so hostile answers are tested directly.
pub fn parse_response(
    bytes: &[u8],
    spki_der: &[u8],
    ssh_public: &PublicKey,
    expect_host: Option<&str>,
) -> Result<JoinResponse, JoinError> {
    if bytes.len() as u64 > MAX_JOIN_RESPONSE {
        return Err(JoinError::Invalid("body", "too large".into()));
    }
    let r: JoinResponse = serde_json::from_slice(bytes)
        .map_err(|e| JoinError::Invalid("body", format!("not a JoinResponse: {e}")))?;
    if !valid_name(&r.host_name) {
        return Err(JoinError::Invalid(
            "hostName",
            format!(
                "{:?} is not a host name",
                r.host_name.escape_debug().to_string()
            ),
        ));
    }
    if let Some(h) = expect_host {
        if r.host_name != h {
            return Err(JoinError::Invalid(
                "hostName",
                format!("{} is not this host ({h})", r.host_name),
            ));
        }
    }
    if !valid_name(&r.trust_domain) {
        return Err(JoinError::Invalid(
            "trustDomain",
            "not a trust domain".into(),
        ));
    }
    let chain = crate::client::pem_certs(r.certificate_pem.as_bytes())
        .map_err(|e| JoinError::Invalid("certificatePem", e))?;
    let (_, leaf) = x509_parser::parse_x509_certificate(chain[0].as_ref())
        .map_err(|e| JoinError::Invalid("certificatePem", e.to_string()))?;
    if leaf.public_key().raw != spki_der {
        return Err(JoinError::Invalid(
            "certificatePem",
            "the certificate is not for this host's TLS key".into(),
        ));
    }
    let spiffe = format!("spiffe://{}/host/{}", r.trust_domain, r.host_name);
    let names_us =
        leaf.subject_alternative_name()
            .ok()
            .flatten()
            .is_some_and(|san| {
                san.value.general_names.iter().any(
                    |g| matches!(g, x509_parser::extensions::GeneralName::URI(u) if *u == spiffe),
                )
            });
    if !names_us {
        return Err(JoinError::Invalid(
            "certificatePem",
            format!("the certificate does not name {spiffe}"),
        ));
    }
    crate::client::pem_certs(r.ca_bundle_pem.as_bytes())
        .map_err(|e| JoinError::Invalid("caBundlePem", e))?;
    let ssh_cert = ssh_key::Certificate::from_openssh(r.ssh_host_certificate.trim())
        .map_err(|e| JoinError::Invalid("sshHostCertificate", e.to_string()))?;
    if ssh_cert.public_key() != ssh_public.key_data() {
        return Err(JoinError::Invalid(
            "sshHostCertificate",
            "it does not certify this host's SSH key".into(),
        ));
    }
    if ssh_cert.cert_type() != ssh_key::certificate::CertType::Host {
        return Err(JoinError::Invalid(
            "sshHostCertificate",
            "not a host certificate".into(),
        ));
    }
    Ok(r)
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
}

/// The leaf's validity (not before, not after), Unix seconds.
pub fn validity(chain_pem: &[u8]) -> Result<(i64, i64), String> {
    let chain = crate::client::pem_certs(chain_pem)?;
    let (_, leaf) =
        x509_parser::parse_x509_certificate(chain[0].as_ref()).map_err(|e| e.to_string())?;
    let v = leaf.validity();
    Ok((v.not_before.timestamp(), v.not_after.timestamp()))
}

/// Whether a certificate valid `not_before..not_after` should be renewed
/// at `now`: when less than a third of its lifetime is left.
pub fn needs_renewal(not_before: i64, not_after: i64, now: i64) -> bool {
    let lifetime = not_after.saturating_sub(not_before).max(0);
    now >= not_after.saturating_sub(lifetime / 3)
}

/// `ward-agent join`: enrols the host. Returns the recorded state.
pub fn join(cfg: &Config, opts: &JoinOptions) -> Result<HostState, JoinError> {
    let url = crate::config::check_url(&opts.url).map_err(JoinError::Usage)?;
    let paths = StatePaths::new(&cfg.state_dir);
    if paths.host().exists() && !opts.force {
        return Err(JoinError::Usage(format!(
            "this host has already joined ({} exists); pass --force to join again",
            paths.host().display()
        )));
    }
    let tls = new_tls_key()?;
    let (ssh_public, new_ssh_key) = ssh_host_key(cfg)?;
    let ssh_line = ssh_public
        .to_openssh()
        .map_err(|e| JoinError::Io(e.to_string()))?;
    let client = CaClient::new(
        &url,
        &opts.trust,
        None,
        cfg.connect_timeout,
        cfg.request_timeout,
    )?;
    let body = client.post_bytes(
        "/v1/host/join",
        &JoinRequest {
            token: opts.token.clone(),
            csr_pem: tls.csr_pem.clone(),
            ssh_host_public_key: ssh_line.clone(),
        },
        MAX_JOIN_RESPONSE,
    )?;
    let r = parse_response(&body, &tls.spki_der, &ssh_public, None)?;

    // Everything checked: write.
    std::fs::create_dir_all(&paths.dir)
        .and_then(|()| std::fs::set_permissions(&paths.dir, std::fs::Permissions::from_mode(0o700)))
        .map_err(|e| JoinError::Io(format!("{}: {e}", paths.dir.display())))?;
    if let Some(key) = new_ssh_key {
        let pem = key
            .to_openssh(LineEnding::LF)
            .map_err(|e| JoinError::Io(e.to_string()))?;
        write(&cfg.ssh_host_key, pem.as_bytes(), 0o600)?;
        write(
            &cfg.ssh_host_public_key(),
            format!("{ssh_line}\n").as_bytes(),
            0o644,
        )?;
    }
    let state = store(cfg, &paths, &r, &tls.key_pem, &url, crate::shared::now())?;
    SshFiles {
        trusted_user_ca_keys: cfg.trusted_user_ca_keys_file.clone(),
        revoked_keys: cfg.revoked_keys_file.clone(),
    }
    .update(&r.ssh_user_ca_keys, &[])
    .map_err(|e| JoinError::Io(format!("sshd files: {e}")))?;
    let host = serde_json::to_vec_pretty(&state).map_err(|e| JoinError::Io(e.to_string()))?;
    write(&paths.host(), &host, 0o600)?;
    Ok(state)
}

/// Writes the key, certificate, bundle and SSH host certificate of `r`;
/// returns the state to record (not written here).
fn store(
    cfg: &Config,
    paths: &StatePaths,
    r: &JoinResponse,
    key_pem: &str,
    url: &str,
    joined_at: i64,
) -> Result<HostState, JoinError> {
    write(&paths.key(), key_pem.as_bytes(), 0o600)?;
    write(&paths.cert(), r.certificate_pem.as_bytes(), 0o644)?;
    write(&paths.ca_bundle(), r.ca_bundle_pem.as_bytes(), 0o644)?;
    write(
        &cfg.ssh_host_certificate(),
        format!("{}\n", r.ssh_host_certificate.trim()).as_bytes(),
        0o644,
    )?;
    Ok(HostState {
        host_name: r.host_name.clone(),
        host_arn: r.host_arn.clone(),
        account: r.account.clone(),
        trust_domain: r.trust_domain.clone(),
        ca_url: url.to_string(),
        certificate_expires_at: r.certificate_expires_at.clone(),
        joined_at,
    })
}

fn write(path: &Path, bytes: &[u8], mode: u32) -> Result<(), JoinError> {
    write_atomic(path, bytes, mode).map_err(|e| JoinError::Io(format!("{}: {e}", path.display())))
}

/// Loads `host.json` (the host has joined).
pub fn load_state(paths: &StatePaths) -> Result<HostState, JoinError> {
    let path = paths.host();
    let bytes = std::fs::read(&path).map_err(|e| {
        JoinError::Usage(format!(
            "{}: {e} (has this host joined? run `ward-agent join URL TOKEN`)",
            path.display()
        ))
    })?;
    serde_json::from_slice(&bytes).map_err(|e| JoinError::Io(format!("{}: {e}", path.display())))
}

/// The mTLS client for later calls: the host certificate and key, trusting
/// only the pinned bundle.
pub fn host_client(cfg: &Config, paths: &StatePaths, url: &str) -> Result<CaClient, JoinError> {
    let read =
        |p: PathBuf| std::fs::read(&p).map_err(|e| JoinError::Io(format!("{}: {e}", p.display())));
    let identity = ClientIdentity {
        chain_pem: read(paths.cert())?,
        key_pem: read(paths.key())?,
    };
    let bundle = read(paths.ca_bundle())?;
    Ok(CaClient::new(
        url,
        &Trust::Bundle(bundle),
        Some(&identity),
        cfg.connect_timeout,
        cfg.request_timeout,
    )?)
}

/// Renews the host certificate and the SSH host certificate (`POST
/// /v1/host/renew`) with a new TLS key; writes them and the updated state.
pub fn renew(cfg: &Config, paths: &StatePaths, state: &HostState) -> Result<HostState, JoinError> {
    let url = cfg.ca_url_or(&state.ca_url).to_string();
    let client = host_client(cfg, paths, &url)?;
    let tls = new_tls_key()?;
    let (ssh_public, new_key) = ssh_host_key(cfg)?;
    if new_key.is_some() {
        return Err(JoinError::Usage(format!(
            "SSH host key {} is missing",
            cfg.ssh_host_key.display()
        )));
    }
    let body = client.post_bytes(
        "/v1/host/renew",
        &RenewRequest {
            csr_pem: tls.csr_pem.clone(),
            ssh_host_public_key: ssh_public
                .to_openssh()
                .map_err(|e| JoinError::Io(e.to_string()))?,
        },
        MAX_JOIN_RESPONSE,
    )?;
    let r = parse_response(&body, &tls.spki_der, &ssh_public, Some(&state.host_name))?;
    let mut next = store(cfg, paths, &r, &tls.key_pem, &state.ca_url, state.joined_at)?;
    next.ca_url = state.ca_url.clone();
    let host = serde_json::to_vec_pretty(&next).map_err(|e| JoinError::Io(e.to_string()))?;
    write(&paths.host(), &host, 0o600)?;
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trust_flags_choose_and_refuse() {
        let fp = format!("SHA256:{}", "ab".repeat(32));
        assert!(matches!(
            trust_from_flags(Some(Path::new("/nonexistent")), Some(&fp)),
            Ok(Trust::Fingerprint(f)) if f == [0xab; 32]
        ));
        assert!(matches!(trust_from_flags(None, None), Ok(Trust::System)));
        let e = trust_from_flags(None, Some("SHA256:zz")).unwrap_err();
        assert!(e.to_string().starts_with("--ca-fingerprint"), "{e}");
        let e = trust_from_flags(Some(Path::new("/nonexistent/ca.pem")), None).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
        let f = std::env::temp_dir().join(format!("ward-trust-{}.pem", std::process::id()));
        std::fs::write(&f, b"PEM").unwrap();
        assert!(matches!(trust_from_flags(Some(&f), None), Ok(Trust::Bundle(b)) if b == b"PEM"));
        let _ = std::fs::remove_file(&f);
    }

    #[test]
    fn tokens() {
        let mut none = std::io::empty();
        assert_eq!(read_token("wjt_abc", &mut none).unwrap(), "wjt_abc");
        let mut stdin = &b"wjt_from_stdin\n"[..];
        assert_eq!(read_token("-", &mut stdin).unwrap(), "wjt_from_stdin");
        assert!(read_token("", &mut none).is_err());
        assert!(read_token("a b", &mut none).is_err());
        assert!(read_token(&"x".repeat(2000), &mut none).is_err());
        let mut big = &[b'x'; 5000][..];
        assert!(read_token("-", &mut big).is_err());
    }

    struct Fixture {
        spki: Vec<u8>,
        ssh: PublicKey,
        good: JoinResponse,
    }

    /// A well-formed answer for a fresh TLS key and SSH host key, with
    /// variants built from other keys.
    fn fixture() -> (Fixture, impl Fn(&str, CertType, bool) -> (String, String)) {
        use rand_core::OsRng;
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let ca_pem = ca.pem();
        let bundle = ca_pem.clone();
        let tls = rcgen::KeyPair::generate().unwrap();
        let spki = tls.public_key_der();
        let ssh_ca = PrivateKey::random(&mut OsRng, Algorithm::Ed25519).unwrap();
        let ssh_host = PrivateKey::random(&mut OsRng, Algorithm::Ed25519).unwrap();
        let ssh = ssh_host.public_key().clone();
        // (x509 for SAN `uri` and our key or another, SSH cert of type for
        // our key or another)
        let make = move |uri: &str, kind: CertType, ours: bool| {
            let other = rcgen::KeyPair::generate().unwrap();
            let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
            p.subject_alt_names = vec![rcgen::SanType::URI(uri.try_into().unwrap())];
            let leaf = p
                .signed_by(if ours { &tls } else { &other }, &ca, &ca_key)
                .unwrap();
            let other_ssh = PrivateKey::random(&mut OsRng, Algorithm::Ed25519).unwrap();
            let subject = if ours { &ssh_host } else { &other_ssh };
            let mut b = ssh_key::certificate::Builder::new_with_random_nonce(
                &mut OsRng,
                subject.public_key(),
                0,
                4_000_000_000,
            )
            .unwrap();
            b.serial(1).unwrap();
            b.key_id("web-01").unwrap();
            b.cert_type(kind).unwrap();
            b.valid_principal("web-01").unwrap();
            let cert = b.sign(&ssh_ca).unwrap().to_openssh().unwrap();
            (format!("{}{}", leaf.pem(), ca_pem), cert)
        };
        let (certificate_pem, ssh_host_certificate) =
            make("spiffe://t.ward/host/web-01", CertType::Host, true);
        let good = JoinResponse {
            host_name: "web-01".into(),
            host_arn: "arn:ward:host::123456789012:host/web-01".into(),
            account: "123456789012".into(),
            trust_domain: "t.ward".into(),
            certificate_pem,
            certificate_expires_at: "2099-01-01T00:00:00Z".into(),
            ca_bundle_pem: bundle,
            ssh_host_certificate,
            ssh_user_ca_keys: vec![],
        };
        (Fixture { spki, ssh, good }, make)
    }

    use ssh_key::certificate::CertType;

    #[test]
    fn hostile_join_answers_are_refused() {
        let (f, make) = fixture();
        let parse = |r: &JoinResponse, host: Option<&str>| {
            parse_response(&serde_json::to_vec(r).unwrap(), &f.spki, &f.ssh, host)
        };
        let field = |r: Result<JoinResponse, JoinError>| match r {
            Err(JoinError::Invalid(field, _)) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(parse(&f.good, None).unwrap(), f.good);
        assert_eq!(parse(&f.good, Some("web-01")).unwrap(), f.good);
        // Renewal answered for another host.
        assert_eq!(field(parse(&f.good, Some("db-1"))), "hostName");
        // Not JSON, truncated, oversized.
        let bytes = serde_json::to_vec(&f.good).unwrap();
        for b in [&b"<html>"[..], &bytes[..bytes.len() / 2], &b""[..]] {
            assert_eq!(field(parse_response(b, &f.spki, &f.ssh, None)), "body");
        }
        let mut big = bytes.clone();
        big.resize(MAX_JOIN_RESPONSE as usize + 1, b' ');
        assert_eq!(field(parse_response(&big, &f.spki, &f.ssh, None)), "body");
        // A certificate for someone else's key.
        let mut r = f.good.clone();
        r.certificate_pem = make("spiffe://t.ward/host/web-01", CertType::Host, false).0;
        assert_eq!(field(parse(&r, None)), "certificatePem");
        // A certificate for our key but another host's identity.
        let mut r = f.good.clone();
        r.certificate_pem = make("spiffe://t.ward/host/db-1", CertType::Host, true).0;
        assert_eq!(field(parse(&r, None)), "certificatePem");
        let mut r = f.good.clone();
        r.certificate_pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".into();
        assert_eq!(field(parse(&r, None)), "certificatePem");
        // An SSH certificate for another key, or a user certificate.
        let mut r = f.good.clone();
        r.ssh_host_certificate = make("spiffe://t.ward/host/web-01", CertType::Host, false).1;
        assert_eq!(field(parse(&r, None)), "sshHostCertificate");
        let mut r = f.good.clone();
        r.ssh_host_certificate = make("spiffe://t.ward/host/web-01", CertType::User, true).1;
        assert_eq!(field(parse(&r, None)), "sshHostCertificate");
        let mut r = f.good.clone();
        r.ssh_host_certificate = "ssh-ed25519 AAAA".into();
        assert_eq!(field(parse(&r, None)), "sshHostCertificate");
        // No CA bundle; hostile names (path traversal, control characters).
        let mut r = f.good.clone();
        r.ca_bundle_pem = String::new();
        assert_eq!(field(parse(&r, None)), "caBundlePem");
        for name in ["../etc", "web 01", "web\n01", ""] {
            let mut r = f.good.clone();
            r.host_name = name.into();
            assert_eq!(field(parse(&r, None)), "hostName", "{name:?}");
        }
    }

    #[test]
    fn renewal_at_two_thirds() {
        assert!(!needs_renewal(0, 300, 199));
        assert!(needs_renewal(0, 300, 200));
        assert!(needs_renewal(0, 300, 400));
        assert!(needs_renewal(300, 0, 0));
    }
}
