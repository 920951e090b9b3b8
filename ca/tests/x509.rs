#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Tests of `ward_pki::x509` against real relying parties: keys and CSRs are made by
//! the `openssl` command line tool (3.0), issued certificates and CRLs are checked by
//! `openssl verify`, `openssl x509`, `openssl crl`, by rustls' `WebPkiClientVerifier`
//! and by a full in-memory rustls mTLS handshake with ward-ca's own server config.
//! Every file lives in a temporary directory removed at the end of the test.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, UnixTime};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use ward_pki::x509::{
    create_issuing, create_root, crl_pem, issue_client_cert, normalize_serial, parse_client_cert,
    parse_serial_hex, spiffe_id, CaKey, CaSigner, ClientCertRequest, IssuedCert, KeyAlg, X509Error,
    MAX_CSR_PEM_LEN,
};

const ACCOUNT: &str = "123456789012";
const TD: &str = "ward.test";
const DAY: i64 = 24 * 60 * 60;

// ---------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------

/// A temporary directory, removed on drop (also when the test fails).
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "ward-ca-x509-{tag}-{}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Runs `openssl ARGS` in `dir`; returns the output whatever the exit status.
fn openssl_in(dir: &Path, args: &[&str]) -> Output {
    Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command line tool is installed")
}

/// Runs `openssl ARGS` in `dir` and returns stdout; panics unless it succeeds.
fn openssl(dir: &Path, args: &[&str]) -> String {
    let out = openssl_in(dir, args);
    assert!(
        out.status.success(),
        "openssl {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Client key types, with the `openssl genpkey` arguments that make them.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Ed25519,
    P256,
    P384,
    Rsa2048,
}

impl Kind {
    const ALL: [Kind; 4] = [Kind::Ed25519, Kind::P256, Kind::P384, Kind::Rsa2048];

    fn genpkey_args(self) -> &'static [&'static str] {
        match self {
            Kind::Ed25519 => &["-algorithm", "ed25519"],
            Kind::P256 => &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
            Kind::P384 => &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
            Kind::Rsa2048 => &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
        }
    }
}

/// `openssl genpkey ARGS -out NAME`; returns the file name.
fn genpkey(dir: &TempDir, name: &str, args: &[&str]) -> String {
    let mut all = vec!["genpkey"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-out", name]);
    openssl(&dir.0, &all);
    name.to_owned()
}

/// `openssl req -new -key KEY -subj /CN=alice EXTRA`; returns the CSR PEM.
fn csr(dir: &TempDir, key: &str, extra: &[&str]) -> String {
    let out = format!("{key}.{}.csr", rand::random::<u32>());
    let mut args = vec![
        "req",
        "-new",
        "-key",
        key,
        "-subj",
        "/CN=alice",
        "-out",
        &out,
    ];
    args.extend_from_slice(extra);
    openssl(&dir.0, &args);
    dir.read(&out)
}

/// A root and an issuing CA of `alg`, valid from an hour ago for ten years, written
/// to `root.pem`, `issuing.pem` and `chain.pem` (both) in `dir`.
struct Pki {
    root: CaKey,
    issuing: CaKey,
}

fn pki(dir: &TempDir, alg: KeyAlg) -> Pki {
    pki_for(dir, alg, ACCOUNT)
}

fn pki_for(dir: &TempDir, alg: KeyAlg, account: &str) -> Pki {
    let (start, end) = (now() - 3600, now() + 3650 * DAY);
    let root = create_root(account, alg, start, end).unwrap();
    let issuing = create_issuing(&root, account, alg, start, end).unwrap();
    dir.write("root.pem", &root.cert_pem);
    dir.write("issuing.pem", &issuing.cert_pem);
    dir.write(
        "chain.pem",
        &format!("{}{}", root.cert_pem, issuing.cert_pem),
    );
    Pki { root, issuing }
}

fn request<'a>(csr_pem: &'a str, user_name: &'a str) -> ClientCertRequest<'a> {
    ClientCertRequest {
        csr_pem,
        trust_domain: TD,
        user_name,
        not_before: now() - 60,
        not_after: now() + 3600,
        serial: rand::random(),
    }
}

fn pem_to_der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}

fn der_to_pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(chunk).unwrap());
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {label}-----\n"));
    pem
}

fn cert_der(pem: &str) -> CertificateDer<'static> {
    CertificateDer::from(pem_to_der(pem))
}

/// rustls' client certificate verifier over `root`, optionally with CRLs (checked for
/// the end entity only: the root publishes no CRL for the issuing CA).
fn rustls_verifier(root: &CaKey, crls: &[&str]) -> Arc<dyn ClientCertVerifier> {
    let mut roots = RootCertStore::empty();
    roots.add(cert_der(&root.cert_pem)).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
    if !crls.is_empty() {
        builder = builder
            .with_crls(
                crls.iter()
                    .map(|pem| CertificateRevocationListDer::from(pem_to_der(pem))),
            )
            .only_check_end_entity_revocation();
    }
    builder.build().unwrap()
}

fn rustls_verify(
    verifier: &dyn ClientCertVerifier,
    pki: &Pki,
    leaf: &IssuedCert,
    at: i64,
) -> Result<(), rustls::Error> {
    verifier
        .verify_client_cert(
            &cert_der(&leaf.cert_pem),
            &[cert_der(&pki.issuing.cert_pem)],
            UnixTime::since_unix_epoch(Duration::from_secs(at as u64)),
        )
        .map(|_| ())
}

// ---------------------------------------------------------------------------------
// Issuance, checked by OpenSSL and rustls
// ---------------------------------------------------------------------------------

/// Every CA algorithm × every client key type: `openssl verify` accepts the chain for
/// client use and refuses it for server use, `openssl x509 -text` shows the profile,
/// rustls' verifier accepts the chain, and `parse_client_cert` reads it back.
#[test]
fn issued_certificates_verify_with_openssl_and_rustls() {
    let dir = TempDir::new("issue");
    let keys: Vec<(Kind, String)> = Kind::ALL
        .iter()
        .map(|&k| (k, genpkey(&dir, &format!("{k:?}.key"), k.genpkey_args())))
        .collect();
    for alg in [KeyAlg::Ed25519, KeyAlg::EcdsaP256] {
        let pki = pki(&dir, alg);
        let verifier = rustls_verifier(&pki.root, &[]);
        for (kind, key) in &keys {
            let what = format!("CA {alg}, client key {kind:?}");
            let csr_pem = csr(&dir, key, &[]);
            let req = request(&csr_pem, "alice");
            let leaf = issue_client_cert(&pki.issuing, &req).unwrap();
            dir.write("leaf.pem", &leaf.cert_pem);

            let ok = openssl(
                &dir.0,
                &[
                    "verify",
                    "-CAfile",
                    "root.pem",
                    "-untrusted",
                    "issuing.pem",
                    "leaf.pem",
                ],
            );
            assert_eq!(ok.trim(), "leaf.pem: OK", "{what}");
            let ok = openssl(
                &dir.0,
                &[
                    "verify",
                    "-purpose",
                    "sslclient",
                    "-CAfile",
                    "root.pem",
                    "-untrusted",
                    "issuing.pem",
                    "leaf.pem",
                ],
            );
            assert_eq!(ok.trim(), "leaf.pem: OK", "{what}");
            let server = openssl_in(
                &dir.0,
                &[
                    "verify",
                    "-purpose",
                    "sslserver",
                    "-CAfile",
                    "root.pem",
                    "-untrusted",
                    "issuing.pem",
                    "leaf.pem",
                ],
            );
            assert!(!server.status.success(), "{what}: sslserver must fail");
            assert!(
                String::from_utf8_lossy(&server.stderr).contains("unsuitable certificate purpose"),
                "{what}: {}",
                String::from_utf8_lossy(&server.stderr)
            );

            let text = openssl(&dir.0, &["x509", "-in", "leaf.pem", "-noout", "-text"]);
            for want in [
                "CA:FALSE",
                "TLS Web Client Authentication",
                "Digital Signature",
                "URI:spiffe://ward.test/user/alice",
                "Subject: O = ward, CN = alice",
                &format!("Issuer: O = ward, CN = ward issuing CA {ACCOUNT}"),
                "X509v3 Authority Key Identifier",
            ] {
                assert!(text.contains(want), "{what}: {want:?} missing in\n{text}");
            }
            for unwanted in [
                "TLS Web Server Authentication",
                "CA:TRUE",
                "DNS:",
                "Key Encipherment",
            ] {
                assert!(!text.contains(unwanted), "{what}: {unwanted:?} in\n{text}");
            }
            let key_line = match kind {
                Kind::Ed25519 => "Public Key Algorithm: ED25519",
                Kind::P256 => "NIST CURVE: P-256",
                // rcgen's own CSR parser would certify this key as P-256 (see x509.rs).
                Kind::P384 => "NIST CURVE: P-384",
                Kind::Rsa2048 => "Public-Key: (2048 bit)",
            };
            assert!(
                text.contains(key_line),
                "{what}: {key_line:?} missing in\n{text}"
            );

            // A 128-bit serial: 16 bytes, positive, and the one reported.
            let serial = openssl(&dir.0, &["x509", "-in", "leaf.pem", "-noout", "-serial"]);
            let serial = serial.trim().strip_prefix("serial=").unwrap();
            assert_eq!(serial.len(), 32, "{what}: {serial}");
            assert_eq!(serial, leaf.serial_hex.to_uppercase(), "{what}");
            assert_eq!(leaf.serial, normalize_serial(req.serial));
            assert_eq!(parse_serial_hex(serial).unwrap(), leaf.serial);

            // The public key pin is SHA-256 of the CSR's SubjectPublicKeyInfo.
            let spki = openssl_in(&dir.0, &["pkey", "-in", key, "-pubout", "-outform", "DER"]);
            assert!(spki.status.success());
            use sha2::Digest;
            assert_eq!(
                leaf.public_key_sha256_hex,
                hex::encode(sha2::Sha256::digest(&spki.stdout)),
                "{what}"
            );

            rustls_verify(&*verifier, &pki, &leaf, now()).unwrap_or_else(|e| panic!("{what}: {e}"));

            let id = parse_client_cert(&pem_to_der(&leaf.cert_pem)).unwrap();
            assert_eq!(id.user_name, "alice");
            assert_eq!(id.trust_domain, TD);
            assert_eq!(id.serial_hex, leaf.serial_hex);
            assert_eq!(id.public_key_sha256_hex, leaf.public_key_sha256_hex);
            assert_eq!(
                (id.not_before, id.not_after),
                (req.not_before, req.not_after)
            );
        }

        // The CAs themselves, as OpenSSL sees them.
        let root = openssl(&dir.0, &["x509", "-in", "root.pem", "-noout", "-text"]);
        assert!(root.contains("CA:TRUE, pathlen:1"), "{root}");
        assert!(root.contains("Certificate Sign, CRL Sign"), "{root}");
        assert!(root.contains(&format!("Subject: O = ward, CN = ward root CA {ACCOUNT}")));
        let issuing = openssl(&dir.0, &["x509", "-in", "issuing.pem", "-noout", "-text"]);
        assert!(issuing.contains("CA:TRUE, pathlen:0"), "{issuing}");
        assert!(issuing.contains("Certificate Sign, CRL Sign"), "{issuing}");
        let want = match alg {
            KeyAlg::Ed25519 => "Signature Algorithm: ED25519",
            KeyAlg::EcdsaP256 => "Signature Algorithm: ecdsa-with-SHA256",
        };
        assert!(issuing.contains(want), "{issuing}");
        let ok = openssl(&dir.0, &["verify", "-CAfile", "root.pem", "issuing.pem"]);
        assert_eq!(ok.trim(), "issuing.pem: OK");
    }
}

/// rustls refuses what it should: an expired or not-yet-valid leaf, and a leaf from
/// another ward installation's CA, whether that CA has another name (another account)
/// or the same name (same account id, other keys).
#[test]
fn rustls_refuses_expired_early_and_foreign_certificates() {
    let dir = TempDir::new("refuse");
    let key = genpkey(&dir, "k.pem", Kind::Ed25519.genpkey_args());
    let csr_pem = csr(&dir, &key, &[]);
    let ours = pki(&dir, KeyAlg::Ed25519);
    let other_dir = TempDir::new("other");
    let theirs = pki_for(&other_dir, KeyAlg::Ed25519, "210987654321");
    let twin = pki(&other_dir, KeyAlg::Ed25519);
    let verifier = rustls_verifier(&ours.root, &[]);

    let req = request(&csr_pem, "alice");
    let leaf = issue_client_cert(&ours.issuing, &req).unwrap();
    rustls_verify(&*verifier, &ours, &leaf, now()).unwrap();
    let expired = rustls_verify(&*verifier, &ours, &leaf, req.not_after + 1).unwrap_err();
    assert!(format!("{expired:?}").contains("Expired"), "{expired:?}");
    let early = rustls_verify(&*verifier, &ours, &leaf, req.not_before - 1).unwrap_err();
    assert!(format!("{early:?}").contains("NotValidYet"), "{early:?}");

    let foreign = issue_client_cert(&theirs.issuing, &req).unwrap();
    let err = rustls_verify(&*verifier, &theirs, &foreign, now()).unwrap_err();
    assert!(format!("{err:?}").contains("UnknownIssuer"), "{err:?}");
    let twins = issue_client_cert(&twin.issuing, &req).unwrap();
    let err = rustls_verify(&*verifier, &twin, &twins, now()).unwrap_err();
    assert!(format!("{err:?}").contains("BadSignature"), "{err:?}");
}

/// A full TLS handshake in memory: a rustls client presents an issued certificate
/// (with an OpenSSL-made key) to a server built by ward-ca's own `tls::server_config`
/// with the X.509 root as its client CA, in TLS 1.3 and 1.2.
#[test]
fn rustls_mtls_handshake_with_issued_certificate() {
    let dir = TempDir::new("mtls");
    let server_pki = ward_ca::tls::generate_dev_pki(ACCOUNT, &[], &[]).unwrap();
    for (alg, kind) in [
        (KeyAlg::Ed25519, Kind::Ed25519),
        (KeyAlg::Ed25519, Kind::P256),
        (KeyAlg::EcdsaP256, Kind::P384),
        (KeyAlg::EcdsaP256, Kind::Rsa2048),
    ] {
        let what = format!("CA {alg}, client key {kind:?}");
        let pki = pki(&dir, alg);
        let key = genpkey(&dir, &format!("{kind:?}.pem"), kind.genpkey_args());
        let leaf = issue_client_cert(&pki.issuing, &request(&csr(&dir, &key, &[]), "bob")).unwrap();

        let server_config = ward_ca::tls::server_config(
            &server_pki.server_cert_pem,
            &server_pki.server_key_pem,
            Some(&pki.root.cert_pem),
        )
        .unwrap();
        for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
            let mut roots = RootCertStore::empty();
            roots.add(cert_der(&server_pki.root_cert_pem)).unwrap();
            let client_config = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_protocol_versions(&[version])
            .unwrap()
            .with_root_certificates(roots)
            .with_client_auth_cert(
                vec![cert_der(&leaf.cert_pem), cert_der(&pki.issuing.cert_pem)],
                ward_ca::tls::load_pem_key(&dir.read(&key)).unwrap(),
            )
            .unwrap();
            let mut client = rustls::ClientConnection::new(
                Arc::new(client_config),
                "localhost".try_into().unwrap(),
            )
            .unwrap();
            let mut server = rustls::ServerConnection::new(server_config.clone()).unwrap();
            handshake(&mut client, &mut server).unwrap_or_else(|e| panic!("{what}: {e}"));
            let peer = server
                .peer_certificates()
                .expect("client certificate presented");
            let id = parse_client_cert(&peer[0]).unwrap();
            assert_eq!(
                (id.user_name.as_str(), id.serial_hex),
                ("bob", leaf.serial_hex.clone())
            );
        }
    }
}

/// Shuttles TLS records between the two ends until neither has anything to say.
fn handshake(
    client: &mut rustls::ClientConnection,
    server: &mut rustls::ServerConnection,
) -> Result<(), rustls::Error> {
    for _ in 0..20 {
        let mut buf = Vec::new();
        while client.wants_write() {
            client.write_tls(&mut buf).unwrap();
        }
        if !buf.is_empty() {
            server.read_tls(&mut buf.as_slice()).unwrap();
            server.process_new_packets()?;
        }
        let mut back = Vec::new();
        while server.wants_write() {
            server.write_tls(&mut back).unwrap();
        }
        if !back.is_empty() {
            client.read_tls(&mut back.as_slice()).unwrap();
            client.process_new_packets()?;
        }
        if !client.is_handshaking() && !server.is_handshaking() {
            return Ok(());
        }
    }
    panic!("handshake did not finish")
}

// ---------------------------------------------------------------------------------
// Revocation
// ---------------------------------------------------------------------------------

/// The CRL parses with `openssl crl`, lists exactly the revoked serials, and makes
/// `openssl verify -crl_check` and rustls refuse the revoked leaf but not the other.
#[test]
fn crl_revokes_with_openssl_and_rustls() {
    let dir = TempDir::new("crl");
    let key = genpkey(&dir, "k.pem", Kind::P256.genpkey_args());
    let csr_pem = csr(&dir, &key, &[]);
    for alg in [KeyAlg::Ed25519, KeyAlg::EcdsaP256] {
        let pki = pki(&dir, alg);
        let revoked = issue_client_cert(&pki.issuing, &request(&csr_pem, "alice")).unwrap();
        let kept = issue_client_cert(&pki.issuing, &request(&csr_pem, "alice")).unwrap();
        dir.write("revoked.pem", &revoked.cert_pem);
        dir.write("kept.pem", &kept.cert_pem);
        let also_revoked: [u8; 16] = rand::random();
        let crl = crl_pem(
            &pki.issuing,
            &[
                (revoked.serial, now() - 10),
                // Un-normalized: listed as the certificate ward would have issued.
                (also_revoked, now() - 5),
                // A duplicate: listed once.
                (revoked.serial, now() - 1),
            ],
            7,
            now() - 60,
            now() + DAY,
        )
        .unwrap();
        dir.write("crl.pem", &crl);

        let text = openssl(&dir.0, &["crl", "-in", "crl.pem", "-noout", "-text"]);
        assert!(
            text.contains("X509v3 CRL Number: \n                7"),
            "{text}"
        );
        assert!(text.contains("X509v3 Authority Key Identifier"), "{text}");
        assert!(text.contains(&format!("Issuer: O = ward, CN = ward issuing CA {ACCOUNT}")));
        let listed: Vec<&str> = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("Serial Number: "))
            .collect();
        let mut want = vec![
            revoked.serial_hex.to_uppercase(),
            hex::encode_upper(normalize_serial(also_revoked)),
        ];
        want.sort();
        let mut got: Vec<String> = listed.iter().map(|s| s.to_string()).collect();
        got.sort();
        assert_eq!(got, want, "{text}");
        // The CRL's signature verifies under the issuing CA.
        let out = openssl_in(
            &dir.0,
            &["crl", "-in", "crl.pem", "-noout", "-CAfile", "chain.pem"],
        );
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("verify OK"),
            "{out:?}"
        );

        let verify = |leaf: &str| {
            openssl_in(
                &dir.0,
                &[
                    "verify",
                    "-crl_check",
                    "-CRLfile",
                    "crl.pem",
                    "-CAfile",
                    "chain.pem",
                    leaf,
                ],
            )
        };
        let out = verify("revoked.pem");
        assert!(
            !out.status.success(),
            "{alg}: revoked leaf verified: {out:?}"
        );
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("certificate revoked"),
            "{out:?}"
        );
        let out = verify("kept.pem");
        assert!(out.status.success(), "{alg}: {out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "kept.pem: OK");

        let verifier = rustls_verifier(&pki.root, &[&crl]);
        let err = rustls_verify(&*verifier, &pki, &revoked, now()).unwrap_err();
        assert!(format!("{err:?}").contains("Revoked"), "{alg}: {err:?}");
        rustls_verify(&*verifier, &pki, &kept, now()).unwrap();

        // An empty CRL is valid and revokes nothing.
        let empty = crl_pem(&pki.issuing, &[], 8, now() - 60, now() + DAY).unwrap();
        dir.write("crl.pem", &empty);
        assert!(verify("revoked.pem").status.success());
        let verifier = rustls_verifier(&pki.root, &[&empty]);
        rustls_verify(&*verifier, &pki, &revoked, now()).unwrap();
    }
}

// ---------------------------------------------------------------------------------
// Refusals
// ---------------------------------------------------------------------------------

/// Issues from `csr_pem` and expects an error whose `Debug` starts with `want`, that
/// is the requester's fault (a 4xx) and has a message.
fn check(pki: &Pki, case: &str, req: &ClientCertRequest<'_>, want: &str) {
    match issue_client_cert(&pki.issuing, req) {
        Ok(cert) => panic!("{case}: issued, expected {want}\n{}", cert.cert_pem),
        Err(e) => {
            let debug = format!("{e:?}");
            assert!(
                debug.starts_with(want),
                "{case}: got {debug}, expected {want}…"
            );
            assert!(
                e.is_bad_input(),
                "{case}: {debug} is not the requester's fault"
            );
            assert!(!e.to_string().is_empty());
        }
    }
}

#[test]
fn bad_csrs_are_refused() {
    let dir = TempDir::new("bad");
    let pki = pki(&dir, KeyAlg::Ed25519);
    let ed = genpkey(&dir, "ed.pem", Kind::Ed25519.genpkey_args());
    let rsa = genpkey(&dir, "rsa.pem", Kind::Rsa2048.genpkey_args());
    let rsa1024 = genpkey(
        &dir,
        "rsa1024.pem",
        &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"],
    );
    let p521 = genpkey(
        &dir,
        "p521.pem",
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521"],
    );
    let k256 = genpkey(
        &dir,
        "k256.pem",
        &[
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:secp256k1",
        ],
    );
    let ed448 = genpkey(&dir, "ed448.pem", &["-algorithm", "ed448"]);
    let good = csr(&dir, &ed, &[]);

    // Corruptions of a good CSR's DER, re-encoded as PEM.
    let der = pem_to_der(&good);
    let mut bad_sig = der.clone();
    *bad_sig.last_mut().unwrap() ^= 0x01;
    let mut bad_subject = der.clone();
    let at = der.windows(5).position(|w| w == b"alice").unwrap();
    bad_subject[at] = b'm'; // CN=mlice: well-formed, but not what was signed
    let truncated = der_to_pem("CERTIFICATE REQUEST", &der[..der.len() - 10]);
    let trailing = der_to_pem("CERTIFICATE REQUEST", &[der.as_slice(), &[0, 0]].concat());

    let challenge = dir.write(
        "challenge.cnf",
        "[req]\ndistinguished_name = dn\nattributes = attrs\nprompt = no\n\
         [dn]\nCN = alice\n[attrs]\nchallengePassword = hunter22\n",
    );
    // Not through csr(): with -subj, openssl ignores the config's attributes.
    openssl(
        &dir.0,
        &[
            "req",
            "-new",
            "-key",
            &ed,
            "-config",
            challenge.to_str().unwrap(),
            "-out",
            "challenge.csr",
        ],
    );
    let challenge = dir.read("challenge.csr");
    let ca_and_name = csr(
        &dir,
        &ed,
        &[
            "-addext",
            "basicConstraints=CA:TRUE",
            "-addext",
            "subjectAltName=DNS:evil.example",
        ],
    );

    let ext = |spec: &str| csr(&dir, &ed, &["-addext", spec]);
    let pem = |der: &[u8]| der_to_pem("CERTIFICATE REQUEST", der);
    let found = "BadCsr(\"expected only a CERTIFICATE REQUEST PEM block, found a";
    let found_cert = format!("{found} CERTIFICATE");
    let found_key = format!("{found} PRIVATE KEY");
    let sans = "subjectAltName=DNS:a,DNS:b,DNS:c,DNS:d,DNS:e,DNS:f,DNS:g,DNS:h,DNS:i,IP:10.0.0.1";
    let cases: Vec<(&str, String, &str)> = vec![
        ("empty", String::new(), "BadCsr(\"empty\")"),
        ("whitespace", " \n\t\n".into(), "BadCsr(\"empty\")"),
        (
            "garbage",
            "hello, I am a CSR".into(),
            "BadCsr(\"no -----BEGIN",
        ),
        (
            "binary garbage",
            "\u{0}\u{1}\u{ff}".into(),
            "BadCsr(\"no -----BEGIN",
        ),
        (
            "certificate instead",
            pki.root.cert_pem.clone(),
            &found_cert,
        ),
        ("private key instead", dir.read(&ed), &found_key),
        (
            "private key too",
            format!("{good}{}", dir.read(&ed)),
            &found_key,
        ),
        (
            "two CSRs",
            format!("{good}{good}"),
            "BadCsr(\"more than one",
        ),
        (
            "no END line",
            good.replace("-----END", "-----"),
            "BadCsr(\"malformed PEM",
        ),
        ("broken base64", good.replacen('M', "!", 1), "BadCsr("),
        ("truncated DER", truncated, "BadCsr(\"not a PKCS#10"),
        ("trailing bytes", trailing, "BadCsr(\"trailing bytes"),
        (
            "random DER",
            pem(&rand::random::<[u8; 32]>()),
            "BadCsr(\"not a PKCS#10",
        ),
        (
            "too large",
            " ".repeat(MAX_CSR_PEM_LEN) + &good,
            "CsrTooLarge(",
        ),
        ("flipped signature byte", pem(&bad_sig), "CsrSignature"),
        ("flipped subject byte", pem(&bad_subject), "CsrSignature"),
        ("RSA 1024", csr(&dir, &rsa1024, &[]), "RsaTooShort(1024)"),
        (
            "P-521",
            csr(&dir, &p521, &[]),
            "UnsupportedKey(\"ECDSA on curve secp521r1\")",
        ),
        (
            "secp256k1",
            csr(&dir, &k256, &[]),
            "UnsupportedKey(\"ECDSA on curve 1.3.132.0.10",
        ),
        (
            "Ed448",
            csr(&dir, &ed448, &[]),
            "UnsupportedKey(\"key algorithm ed448\")",
        ),
        (
            "RSA with SHA-1",
            csr(&dir, &rsa, &["-sha1"]),
            "CsrAlgorithm(\"sha1WithRSAEncryption",
        ),
        (
            "CA:TRUE",
            ext("basicConstraints=critical,CA:TRUE"),
            "CsrRequestsCa",
        ),
        ("CA:TRUE and a name", ca_and_name, "CsrRequestsCa"),
        (
            "DNS name",
            ext("subjectAltName=DNS:evil.example"),
            "CsrRequestsNames([\"DNS:evil.ex",
        ),
        (
            "SPIFFE URI",
            ext("subjectAltName=URI:spiffe://ward.test/user/root"),
            "CsrRequestsNames(",
        ),
        (
            "many names",
            ext(sans),
            "CsrRequestsNames([\"DNS:a\", \"DNS:b\", \"DNS:c\", \"DNS:d\",",
        ),
        (
            "CA:FALSE",
            ext("basicConstraints=CA:FALSE"),
            "CsrRequestsExtensions([\"basicConstr",
        ),
        (
            "key usage",
            ext("keyUsage=digitalSignature"),
            "CsrRequestsExtensions([\"keyUsage\"])",
        ),
        (
            "server auth",
            ext("extendedKeyUsage=serverAuth"),
            "CsrRequestsExtensions([\"extendedKe",
        ),
        (
            "challenge password",
            challenge,
            "CsrRequestsExtensions([\"attribute challengeP",
        ),
    ];
    for (case, csr_pem, want) in &cases {
        check(&pki, case, &request(csr_pem, "alice"), want);
    }

    // The names are repeated exactly, but only so many of them.
    let csr_of = |case: &str| cases.iter().find(|c| c.0 == case).unwrap().1.as_str();
    let err = issue_client_cert(&pki.issuing, &request(csr_of("many names"), "alice")).unwrap_err();
    let mut want: Vec<String> = "abcdefgh".chars().map(|c| format!("DNS:{c}")).collect();
    want.push("and 2 more".into());
    assert_eq!(err, X509Error::CsrRequestsNames(want));
    let err = issue_client_cert(&pki.issuing, &request(csr_of("SPIFFE URI"), "alice")).unwrap_err();
    let want = X509Error::CsrRequestsNames(vec!["URI:spiffe://ward.test/user/root".into()]);
    assert_eq!(err, want);
    assert!(
        err.to_string().contains("URI:spiffe://ward.test/user/root"),
        "{err}"
    );

    // The same good CSR passes, so the refusals above are about the CSRs.
    issue_client_cert(&pki.issuing, &request(&good, "alice")).unwrap();
    issue_client_cert(
        &pki.issuing,
        &request(&csr(&dir, &rsa, &["-sha512"]), "alice"),
    )
    .unwrap();
}

#[test]
fn bad_names_and_validity_are_refused() {
    let dir = TempDir::new("names");
    let pki = pki(&dir, KeyAlg::EcdsaP256);
    let key = genpkey(&dir, "k.pem", Kind::P256.genpkey_args());
    let good = csr(&dir, &key, &[]);
    let long = "a".repeat(65);
    let n = now();
    let ca_der = pem_to_der(&pki.issuing.cert_pem);
    let ca_end = x509_parser::parse_x509_certificate(&ca_der)
        .unwrap()
        .1
        .validity()
        .not_after
        .timestamp();

    let base = request(&good, "alice");
    let cases: Vec<(&str, ClientCertRequest<'_>, &str)> = vec![
        (
            "empty user",
            ClientCertRequest {
                user_name: "",
                ..base
            },
            "BadUserName(",
        ),
        (
            "65-char user",
            ClientCertRequest {
                user_name: &long,
                ..base
            },
            "BadUserName(",
        ),
        (
            "slash in user",
            ClientCertRequest {
                user_name: "a/b",
                ..base
            },
            "BadUserName(",
        ),
        (
            "space in user",
            ClientCertRequest {
                user_name: "a b",
                ..base
            },
            "BadUserName(",
        ),
        (
            "non-ASCII user",
            ClientCertRequest {
                user_name: "zoë",
                ..base
            },
            "BadUserName(",
        ),
        (
            "dot user",
            ClientCertRequest {
                user_name: ".",
                ..base
            },
            "BadUserName(",
        ),
        (
            "dot-dot user",
            ClientCertRequest {
                user_name: "..",
                ..base
            },
            "BadUserName(",
        ),
        (
            "empty trust domain",
            ClientCertRequest {
                trust_domain: "",
                ..base
            },
            "BadTrustDomain(",
        ),
        (
            "upper-case trust domain",
            ClientCertRequest {
                trust_domain: "Ward.Test",
                ..base
            },
            "BadTrustDomain(",
        ),
        (
            "trust domain with path",
            ClientCertRequest {
                trust_domain: "ward.test/user/root",
                ..base
            },
            "BadTrustDomain(",
        ),
        (
            "trust domain with port",
            ClientCertRequest {
                trust_domain: "ward.test:443",
                ..base
            },
            "BadTrustDomain(",
        ),
        (
            "empty validity",
            ClientCertRequest {
                not_before: n,
                not_after: n,
                ..base
            },
            "BadValidity(",
        ),
        (
            "reversed validity",
            ClientCertRequest {
                not_before: n,
                not_after: n - 1,
                ..base
            },
            "BadValidity(",
        ),
        (
            "negative time",
            ClientCertRequest {
                not_before: -1,
                ..base
            },
            "BadValidity(",
        ),
        (
            "after year 9999",
            ClientCertRequest {
                not_after: i64::MAX,
                ..base
            },
            "BadValidity(",
        ),
        (
            "before the CA",
            ClientCertRequest {
                not_before: n - 7200,
                ..base
            },
            "BadValidity(",
        ),
        (
            "after the CA",
            ClientCertRequest {
                not_after: ca_end + 1,
                ..base
            },
            "BadValidity(",
        ),
    ];
    for (case, req, want) in &cases {
        check(&pki, case, req, want);
    }

    // Allowed edge cases: every SPEC §3 character, and a validity up to the CA's end.
    let odd = issue_client_cert(
        &pki.issuing,
        &ClientCertRequest {
            user_name: "A_b+c=d,e.f@g-h",
            not_after: ca_end,
            ..base
        },
    )
    .unwrap();
    let id = parse_client_cert(&pem_to_der(&odd.cert_pem)).unwrap();
    assert_eq!(id.user_name, "A_b+c=d,e.f@g-h");
    assert_eq!(id.not_after, ca_end);
}

#[test]
fn ca_material_is_checked_and_the_key_never_printed() {
    let dir = TempDir::new("ca");
    let pki = pki(&dir, KeyAlg::Ed25519);
    let key = genpkey(&dir, "k.pem", Kind::Ed25519.genpkey_args());
    let good = csr(&dir, &key, &[]);
    let n = now();

    // Debug redacts the private key.
    let debug = format!(
        "{:?} {:?}",
        pki.issuing,
        CaSigner::new(&pki.issuing).unwrap()
    );
    assert!(!debug.contains("PRIVATE KEY"), "{debug}");
    assert!(debug.contains("<redacted>"));
    assert!(pki.issuing.private_key_pem().contains("BEGIN PRIVATE KEY"));
    // Not just the label: none of the key material itself.
    for k in key_spellings(pki.issuing.private_key_pem()) {
        assert!(!debug.contains(&k), "issuing key material in Debug");
    }

    // A stored CA round-trips; a mismatched key or a non-CA certificate does not.
    let reloaded = CaKey::from_pem(&pki.issuing.cert_pem, pki.issuing.private_key_pem()).unwrap();
    issue_client_cert(&reloaded, &request(&good, "alice")).unwrap();
    let err = CaKey::from_pem(&pki.issuing.cert_pem, pki.root.private_key_pem()).unwrap_err();
    assert!(
        matches!(err, X509Error::BadCaKey(_)) && !err.is_bad_input(),
        "{err:?}"
    );
    let leaf = issue_client_cert(&pki.issuing, &request(&good, "alice")).unwrap();
    let err = CaKey::from_pem(&leaf.cert_pem, dir.read(&key).as_str()).unwrap_err();
    assert!(format!("{err:?}").contains("not a CA"), "{err:?}");
    let err = CaKey::from_pem("", pki.issuing.private_key_pem()).unwrap_err();
    assert!(matches!(err, X509Error::BadCaKey(_)), "{err:?}");

    // Client certificates come from the issuing CA only, and an issuing CA cannot
    // make another CA.
    let err = issue_client_cert(&pki.root, &request(&good, "alice")).unwrap_err();
    assert!(matches!(err, X509Error::BadCaKey(_)), "{err:?}");
    let err = create_issuing(&pki.issuing, ACCOUNT, KeyAlg::Ed25519, n, n + DAY).unwrap_err();
    assert!(matches!(err, X509Error::BadCaKey(_)), "{err:?}");

    // Account ids and CA validity.
    for bad in ["", "12345678901", "1234567890123", "12345678901a"] {
        let err = create_root(bad, KeyAlg::Ed25519, n, n + DAY).unwrap_err();
        assert!(
            matches!(err, X509Error::BadAccountId(_)),
            "{bad:?}: {err:?}"
        );
    }
    let err = create_root(ACCOUNT, KeyAlg::Ed25519, n, n).unwrap_err();
    assert!(matches!(err, X509Error::BadValidity(_)), "{err:?}");
    let err =
        create_issuing(&pki.root, ACCOUNT, KeyAlg::Ed25519, n, n + 20 * 365 * DAY).unwrap_err();
    assert!(matches!(err, X509Error::BadValidity(_)), "{err:?}");

    // CRL times.
    let err = crl_pem(&pki.issuing, &[], 1, n, n).unwrap_err();
    assert!(matches!(err, X509Error::BadValidity(_)), "{err:?}");
    let err = crl_pem(&pki.issuing, &[([0; 16], -5)], 1, n, n + DAY).unwrap_err();
    assert!(matches!(err, X509Error::BadValidity(_)), "{err:?}");
}

#[test]
fn parse_client_cert_insists_on_wards_shape() {
    let dir = TempDir::new("parse");
    let pki = pki(&dir, KeyAlg::Ed25519);

    // A CA certificate, garbage, and certificates of another shape, made with rcgen.
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "root CA",
            pem_to_der(&pki.root.cert_pem),
            "BadCert(\"it is a CA",
        ),
        ("empty", Vec::new(), "BadCert(\"does not parse"),
        ("garbage", b"garbage".to_vec(), "BadCert(\"does not parse"),
        ("too large", vec![0x30; 20_000], "BadCert(\"larger than"),
        (
            "DNS name only",
            foreign_leaf(vec![rcgen::SanType::DnsName(
                "alice.example".try_into().unwrap(),
            )]),
            "BadCert(\"subjectAltName is not exactly one URI",
        ),
        (
            "no SAN",
            foreign_leaf(vec![]),
            "BadCert(\"no subject alternative name",
        ),
        (
            "two URIs",
            foreign_leaf(vec![
                uri("spiffe://ward.test/user/alice"),
                uri("spiffe://ward.test/user/root"),
            ]),
            "BadCert(\"subjectAltName is not exactly one URI",
        ),
        (
            "https URI",
            foreign_leaf(vec![uri("https://ward.test/user/alice")]),
            "BadCert(\"URI SAN is not spiffe",
        ),
        (
            "service path",
            foreign_leaf(vec![uri("spiffe://ward.test/service/alice")]),
            "BadCert(\"URI SAN is not spiffe",
        ),
        (
            "dot-dot user",
            foreign_leaf(vec![uri("spiffe://ward.test/user/..")]),
            "BadCert(\"user name",
        ),
        (
            "nested user",
            foreign_leaf(vec![uri("spiffe://ward.test/user/a/b")]),
            "BadCert(\"user name",
        ),
        (
            "bad trust domain",
            foreign_leaf(vec![uri("spiffe://Ward.Test/user/alice")]),
            "BadCert(\"trust domain",
        ),
    ];
    for (case, der, want) in &cases {
        let got = format!("{:?}", parse_client_cert(der).unwrap_err());
        assert!(got.starts_with(want), "{case}: got {got}, expected {want}…");
    }
    assert_eq!(spiffe_id(TD, "alice"), "spiffe://ward.test/user/alice");
    // Enrolled hosts (issue #11) have their own path and kind.
    let host =
        parse_client_cert(&foreign_leaf(vec![uri("spiffe://ward.test/host/web-01")])).unwrap();
    assert_eq!(host.kind, ward_pki::x509::SpiffeKind::Host);
    assert_eq!(host.user_name, "web-01");
    for bad in [
        "spiffe://ward.test/host/a/b",
        "spiffe://ward.test/host/..",
        "spiffe://ward.test/host/",
    ] {
        assert!(
            parse_client_cert(&foreign_leaf(vec![uri(bad)])).is_err(),
            "{bad}"
        );
    }
}

fn uri(s: &str) -> rcgen::SanType {
    rcgen::SanType::URI(s.try_into().unwrap())
}

/// A self-signed leaf with a 16-byte serial and the given names.
fn foreign_leaf(sans: Vec<rcgen::SanType>) -> Vec<u8> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let mut params = rcgen::CertificateParams::default();
    params.subject_alt_names = sans;
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&normalize_serial(
        rand::random(),
    )));
    params.self_signed(&key).unwrap().der().to_vec()
}

#[test]
fn serial_helpers() {
    let s = [0xffu8; 16];
    let n = normalize_serial(s);
    assert_eq!(n[0], 0x7f);
    assert_eq!(normalize_serial(n), n, "idempotent");
    assert_eq!(normalize_serial([0; 16])[0], 0x40);
    let hex = hex::encode(n);
    assert_eq!(parse_serial_hex(&hex).unwrap(), n);
    assert_eq!(parse_serial_hex(&hex.to_uppercase()).unwrap(), n);
    let colons: Vec<String> = n.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(parse_serial_hex(&colons.join(":")).unwrap(), n);
    for bad in [
        "",
        "abc",
        &hex[..30],
        &format!("{hex}00"),
        &hex.replace('f', "g"),
    ] {
        let err = parse_serial_hex(bad).unwrap_err();
        assert!(
            matches!(err, X509Error::BadSerial(_)) && err.is_bad_input(),
            "{bad:?}"
        );
    }
}

/// The key material of a PEM private key in the spellings a leak would
/// use: each body line, the whole base64 body, and the DER in hex.
fn key_spellings(pem: &str) -> Vec<String> {
    use base64::Engine;
    let body: Vec<String> = pem
        .lines()
        .filter(|l| !l.starts_with("-----") && !l.trim().is_empty())
        .map(str::to_owned)
        .collect();
    let joined = body.concat();
    let der = base64::engine::general_purpose::STANDARD
        .decode(&joined)
        .unwrap();
    let mut out = body;
    out.push(joined);
    out.push(hex::encode(&der));
    out.push(hex::encode(&der[der.len() - 32..]));
    out
}
