#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Integration tests of `ward_ca::tls` against real clients: curl (HTTP/1.1 and
//! HTTP/2 over OpenSSL) and the `openssl` command line tool. Every server listens on
//! 127.0.0.1 with an ephemeral port; every file lives in a temporary directory that is
//! removed at the end of the test.

use std::io::{self, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::routing::get;
use axum::{Extension, Json, Router};
use rcgen::{
    CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use ward_ca::tls::{
    generate_dev_pki, load_pem_certs, load_pem_key, serve_tls, serve_tls_with, server_config,
    ConnInfo, ConnStats, PemInput, Pki, ServeOptions, TlsError,
};

const ACCOUNT: &str = "123456789012";

// ---------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------

/// A temporary directory, removed on drop (also when the test fails).
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "ward-ca-tls-{tag}-{}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A dev PKI written to a temp dir as root.pem, server.pem, server.key.
struct Files {
    dir: TempDir,
    pki: Pki,
    root: PathBuf,
    server_cert: PathBuf,
}

fn dev_pki_files(tag: &str) -> Files {
    let dir = TempDir::new(tag);
    let pki = generate_dev_pki(ACCOUNT, &[], &[]).unwrap();
    let root = dir.write("root.pem", &pki.root_cert_pem);
    let server_cert = dir.write("server.pem", &pki.server_cert_pem);
    dir.write("server.key", &pki.server_key_pem);
    Files {
        dir,
        pki,
        root,
        server_cert,
    }
}

fn router() -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/whoami-conn",
            get(
                |Extension(info): Extension<ConnInfo>,
                 ConnectInfo(addr): ConnectInfo<SocketAddr>| async move {
                    Json(serde_json::json!({
                        "remote_ip": info.remote.ip().to_string(),
                        "connect_info_ip": addr.ip().to_string(),
                        "tls": info.tls,
                        "client_certs": info.client_cert_chain_der.as_ref().map_or(0, |c| c.len()),
                        "client_chain_sha256": info
                            .client_cert_chain_der
                            .iter()
                            .flat_map(|chain| chain.iter())
                            .map(|der| sha256_hex(der))
                            .collect::<Vec<_>>(),
                    }))
                },
            ),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(500)).await;
                "slow done"
            }),
        )
        .route(
            "/very-slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "too late"
            }),
        )
}

struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<io::Result<()>>,
}

impl Server {
    async fn start(config: Arc<rustls::ServerConfig>, options: Option<ServeOptions>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = stopped.await;
        };
        let task = match options {
            None => tokio::spawn(serve_tls(listener, config, router(), shutdown)),
            Some(options) => tokio::spawn(serve_tls_with(
                listener,
                config,
                router(),
                shutdown,
                options,
            )),
        };
        Server {
            addr,
            stop: Some(stop),
            task,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.addr.port())
    }

    fn trigger_shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Shuts down and checks that `serve_tls` returns promptly and without error.
    async fn shutdown(mut self) {
        self.trigger_shutdown();
        tokio::time::timeout(Duration::from_secs(15), self.task)
            .await
            .expect("serve_tls did not return after shutdown")
            .unwrap()
            .unwrap();
    }
}

async fn start_dev(files: &Files, options: Option<ServeOptions>) -> Server {
    let config =
        server_config(&files.pki.server_cert_pem, &files.pki.server_key_pem, None).unwrap();
    Server::start(config, options).await
}

#[derive(Debug)]
struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Output {
    fn ok(&self) -> bool {
        self.code == Some(0)
    }
}

/// Runs a real client with stdin closed, killing it after 20 s.
async fn run(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || {
        let start = Instant::now();
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = child.stdout.take().unwrap();
        let mut err = child.stderr.take().unwrap();
        let out = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = out.read_to_string(&mut s);
            s
        });
        let err = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if start.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                break child.wait().unwrap();
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        Output {
            code: status.code(),
            stdout: out.join().unwrap(),
            stderr: err.join().unwrap(),
        }
    })
    .await
    .unwrap()
}

/// curl without any configuration from the environment: no ~/.curlrc, no proxy, no CA
/// bundle override, so that "no --cacert" really means the system trust store.
fn curl(args: &[&str]) -> Command {
    let mut cmd = Command::new("curl");
    cmd.args(["-q", "-sS", "--noproxy", "*", "--max-time", "10"])
        .args(args)
        .env_remove("CURL_CA_BUNDLE")
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR")
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .env_remove("ALL_PROXY")
        .env_remove("all_proxy");
    cmd
}

fn openssl(args: &[&str]) -> Command {
    let mut cmd = Command::new("openssl");
    cmd.args(args)
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR");
    cmd
}

fn sha256_hex(der: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(der))
}

/// The SHA-256 of each certificate in a PEM, in order.
fn pem_sha256(pem: &str) -> Vec<String> {
    load_pem_certs(pem)
        .unwrap()
        .iter()
        .map(|der| sha256_hex(der))
        .collect()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

async fn whoami(server: &Server, extra: &[&str]) -> serde_json::Value {
    let url = server.url("/whoami-conn");
    let mut args = extra.to_vec();
    args.extend(["--fail", url.as_str()]);
    let out = run(curl(&args)).await;
    assert!(out.ok(), "{out:?}");
    serde_json::from_str(&out.stdout).unwrap()
}

/// A client certificate (EKU clientAuth, SPIFFE URI SAN) signed by the given CA.
///
/// rcgen 0.13 signs with an `rcgen::Certificate`, not with parameters, so the issuer is
/// rebuilt from its PEM and re-self-signed with its key: same subject, same key, same
/// subject key identifier (taken over from the PEM), hence a valid issuer for chaining.
fn client_cert(issuer_cert_pem: &str, issuer_key_pem: &str, name: &str) -> (String, String) {
    let issuer_key = KeyPair::from_pem(issuer_key_pem).unwrap();
    let issuer = CertificateParams::from_ca_cert_pem(issuer_cert_pem)
        .unwrap()
        .self_signed(&issuer_key)
        .unwrap();
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, name.to_owned());
    params.subject_alt_names = vec![SanType::URI(
        format!("spiffe://ward.test/user/{name}")
            .try_into()
            .unwrap(),
    )];
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.use_authority_key_identifier_extension = true;
    let cert = params.signed_by(&key, &issuer, &issuer_key).unwrap();
    (cert.pem(), key.serialize_pem())
}

// ---------------------------------------------------------------------------------
// Real clients against the dev PKI
// ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn curl_trusts_the_dev_root_over_http1_and_http2() {
    let files = dev_pki_files("curl");
    let server = start_dev(&files, None).await;
    let url = server.url("/healthz");
    let cacert = path(&files.root);

    for (flag, version) in [("--http1.1", "1.1"), ("--http2", "2")] {
        let out = run(curl(&[
            flag,
            "--fail",
            "--cacert",
            cacert,
            "-w",
            "\n%{http_version}",
            &url,
        ]))
        .await;
        assert!(out.ok(), "{flag}: {out:?}");
        assert_eq!(out.stdout, format!("ok\n{version}"), "{flag}: {out:?}");
    }

    // The DNS name SAN works too, not only the IP SAN.
    let port = server.addr.port();
    let out = run(curl(&[
        "--fail",
        "--cacert",
        cacert,
        "--resolve",
        &format!("localhost:{port}:127.0.0.1"),
        &format!("https://localhost:{port}/healthz"),
    ]))
    .await;
    assert!(out.ok(), "{out:?}");
    assert_eq!(out.stdout, "ok");

    // Without the dev root, the system trust store must reject the chain: curl exit 60
    // is "peer certificate cannot be authenticated with known CA certificates".
    let out = run(curl(&["--fail", &url])).await;
    assert_eq!(out.code, Some(60), "{out:?}");

    // Handlers see the connection info.
    let who = whoami(&server, &["--cacert", cacert]).await;
    assert_eq!(who["remote_ip"], "127.0.0.1");
    assert_eq!(who["connect_info_ip"], "127.0.0.1");
    assert_eq!(who["tls"], true);
    assert_eq!(who["client_certs"], 0);

    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn openssl_verifies_the_chain_and_negotiates_alpn_and_tls12() {
    let files = dev_pki_files("openssl");
    let server = start_dev(&files, None).await;
    let connect = format!("127.0.0.1:{}", server.addr.port());
    let root = path(&files.root);

    let out = run(openssl(&[
        "s_client",
        "-connect",
        &connect,
        "-CAfile",
        root,
        "-verify_return_error",
        "-verify_ip",
        "127.0.0.1",
    ]))
    .await;
    assert!(out.ok(), "{out:?}");
    assert!(out.stdout.contains("Verify return code: 0 (ok)"), "{out:?}");
    assert!(out.stdout.contains("TLSv1.3"), "{out:?}");

    let out = run(openssl(&[
        "s_client",
        "-connect",
        &connect,
        "-CAfile",
        root,
        "-verify_return_error",
        "-alpn",
        "h2,http/1.1",
    ]))
    .await;
    assert!(out.ok(), "{out:?}");
    assert!(out.stdout.contains("ALPN protocol: h2"), "{out:?}");

    let out = run(openssl(&[
        "s_client",
        "-connect",
        &connect,
        "-CAfile",
        root,
        "-verify_return_error",
        "-tls1_2",
    ]))
    .await;
    assert!(out.ok(), "{out:?}");
    assert!(out.stdout.contains("Protocol  : TLSv1.2"), "{out:?}");
    assert!(out.stdout.contains("Verify return code: 0 (ok)"), "{out:?}");

    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn openssl_accepts_the_dev_certificates_strictly() {
    let files = dev_pki_files("verify");
    let root = path(&files.root);
    let server_cert = path(&files.server_cert);

    let out = run(openssl(&[
        "verify",
        "-x509_strict",
        "-purpose",
        "sslserver",
        "-CAfile",
        root,
        server_cert,
    ]))
    .await;
    assert!(out.ok(), "{out:?}");
    assert_eq!(out.stdout.trim(), format!("{server_cert}: OK"));

    let out = run(openssl(&["x509", "-in", root, "-noout", "-text"])).await;
    assert!(out.ok(), "{out:?}");
    for expected in [
        "CN = ward dev root CA 123456789012",
        "CA:TRUE, pathlen:1",
        "Certificate Sign, CRL Sign",
        "ecdsa-with-SHA256",
        "NIST CURVE: P-256",
    ] {
        assert!(out.stdout.contains(expected), "{expected}: {}", out.stdout);
    }

    let out = run(openssl(&["x509", "-in", server_cert, "-noout", "-text"])).await;
    assert!(out.ok(), "{out:?}");
    for expected in [
        "CA:FALSE",
        "TLS Web Server Authentication",
        "DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1",
    ] {
        assert!(out.stdout.contains(expected), "{expected}: {}", out.stdout);
    }

    // Validity: the root for about 10 years, the server certificate for about 1 year.
    let days = |cert: &str| {
        let cert = cert.to_owned();
        async move {
            let mut valid = Vec::new();
            for days in [364, 366, 3649, 3651] {
                let out = run(openssl(&[
                    "x509",
                    "-in",
                    &cert,
                    "-noout",
                    "-checkend",
                    &(days * 86_400).to_string(),
                ]))
                .await;
                valid.push(out.ok());
            }
            valid
        }
    };
    assert_eq!(days(server_cert).await, [true, false, false, false]);
    assert_eq!(days(root).await, [true, true, true, false]);
}

#[tokio::test(flavor = "multi_thread")]
async fn explicit_names_are_used_and_ip_strings_become_ip_sans() {
    let dir = TempDir::new("names");
    let pki = generate_dev_pki(
        ACCOUNT,
        &["ca.ward.test".to_owned(), "10.1.2.3".to_owned()],
        &["127.0.0.1".parse().unwrap()],
    )
    .unwrap();
    let cert = dir.write("server.pem", &pki.server_cert_pem);
    let out = run(openssl(&[
        "x509",
        "-in",
        path(&cert),
        "-noout",
        "-ext",
        "subjectAltName",
        "-subject",
    ]))
    .await;
    assert!(out.ok(), "{out:?}");
    assert!(
        out.stdout
            .contains("DNS:ca.ward.test, IP Address:10.1.2.3, IP Address:127.0.0.1"),
        "{out:?}"
    );
    assert!(out.stdout.contains("CN = ca.ward.test"), "{out:?}");
    assert!(!out.stdout.contains("localhost"), "{out:?}");
}

// ---------------------------------------------------------------------------------
// Misbehaving clients
// ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn plain_http_to_the_tls_port_fails_cleanly_and_serving_continues() {
    let files = dev_pki_files("plain");
    let server = start_dev(&files, None).await;

    let out = run(curl(&[
        "--fail",
        &format!("http://127.0.0.1:{}/healthz", server.addr.port()),
    ]))
    .await;
    assert!(!out.ok(), "{out:?}");
    assert!(!out.stdout.contains("ok"), "{out:?}");

    // The same by hand: whatever comes back is not an HTTP response, and the socket
    // is closed rather than left hanging.
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut reply = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut reply)).await;
    assert!(read.is_ok(), "server left a plain-HTTP socket open");
    assert!(!reply.starts_with(b"HTTP/"), "{reply:?}");

    let out = run(curl(&[
        "--fail",
        "--cacert",
        path(&files.root),
        &server.url("/healthz"),
    ]))
    .await;
    assert!(out.ok(), "{out:?}");
    assert_eq!(out.stdout, "ok");

    server.shutdown().await;
}

fn fast_options(stats: &Arc<ConnStats>) -> ServeOptions {
    ServeOptions {
        handshake_timeout: Duration::from_millis(300),
        stats: stats.clone(),
        ..ServeOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn silent_client_is_dropped_after_the_handshake_timeout() {
    let files = dev_pki_files("silent");
    let stats = Arc::new(ConnStats::default());
    let server = start_dev(&files, Some(fast_options(&stats))).await;

    let mut silent = TcpStream::connect(server.addr).await.unwrap();

    // Others are served while the silent client sits there.
    let out = run(curl(&[
        "--fail",
        "--cacert",
        path(&files.root),
        &server.url("/healthz"),
    ]))
    .await;
    assert!(out.ok(), "{out:?}");
    assert_eq!(out.stdout, "ok");

    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(5), silent.read(&mut buf))
        .await
        .expect("silent client was not dropped");
    // EOF or a reset: either way, the server closed it — and by its own
    // account for the handshake deadline (server state, not wall time).
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    assert_eq!(stats.handshake_timeouts.load(Ordering::Relaxed), 1);

    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn client_that_sends_no_request_is_dropped_after_the_header_timeout() {
    let files = dev_pki_files("idle");
    let stats = Arc::new(ConnStats::default());
    let options = ServeOptions {
        header_read_timeout: Duration::from_millis(300),
        stats: stats.clone(),
        ..ServeOptions::default()
    };
    let server = start_dev(&files, Some(options)).await;
    let connect = format!("127.0.0.1:{}", server.addr.port());

    // A full TLS handshake, then silence: s_client with -ign_eof stays until the server
    // hangs up, so its run time is how long the server kept the idle connection.
    for alpn in [None, Some("h2"), Some("http/1.1")] {
        let mut args = vec![
            "s_client",
            "-connect",
            &connect,
            "-CAfile",
            path(&files.root),
            "-verify_return_error",
            "-ign_eof",
        ];
        if let Some(alpn) = alpn {
            args.extend(["-alpn", alpn]);
        }
        let out = run(openssl(&args)).await;
        assert!(
            out.stdout.contains("Verify return code: 0 (ok)"),
            "{alpn:?}: {out:?}"
        );
        // s_client -ign_eof ends only when the server hangs up (run()
        // kills it after 20 s otherwise: no exit code), and the server says
        // why in its counters below.
        assert!(out.code.is_some(), "{alpn:?}: {out:?}");
    }
    assert_eq!(stats.header_timeouts.load(Ordering::Relaxed), 3);

    // A client that starts the HTTP/2 preface and stops is dropped too.
    let mut roots = rustls::RootCertStore::empty();
    for cert in load_pem_certs(&files.pki.root_cert_pem).unwrap() {
        roots.add(cert).unwrap();
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    tls.write_all(b"PRI * HTTP").await.unwrap();
    tls.flush().await.unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), tls.read_to_end(&mut buf))
        .await
        .expect("half-sent HTTP/2 preface kept the connection open");
    assert!(read.is_err() || buf.is_empty(), "{read:?} {buf:?}");
    assert_eq!(stats.header_timeouts.load(Ordering::Relaxed), 4);

    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn at_the_connection_limit_an_idle_client_is_shed_for_a_new_one() {
    let files = dev_pki_files("limit");
    let stats = Arc::new(ConnStats::default());
    let options = ServeOptions {
        max_connections: 1,
        handshake_timeout: Duration::from_secs(3600),
        stats: stats.clone(),
        ..ServeOptions::default()
    };
    let server = start_dev(&files, Some(options)).await;

    // The silent client takes the only slot (its handshake deadline is an hour);
    // a new client is served all the same, and the silent one is closed for it.
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    let out = run(curl(&[
        "--fail",
        "--cacert",
        path(&files.root),
        &server.url("/healthz"),
    ]))
    .await;
    assert!(out.ok(), "{out:?}");
    assert_eq!(out.stdout, "ok");
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(30), silent.read(&mut buf))
        .await
        .expect("the silent client kept its slot");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    assert_eq!(stats.shed.load(Ordering::Relaxed), 1);

    server.shutdown().await;
}

// ---------------------------------------------------------------------------------
// Client certificates (mTLS plumbing)
// ---------------------------------------------------------------------------------

fn curl_cert_args<'a>(cacert: &'a str, cert: &'a Path, key: &'a Path) -> Vec<&'a str> {
    vec!["--cacert", cacert, "--cert", path(cert), "--key", path(key)]
}

#[tokio::test(flavor = "multi_thread")]
async fn client_certificates_are_optional_but_verified() {
    let files = dev_pki_files("mtls");
    let cacert = path(&files.root);

    // Client certificates from the dev root itself, and from a separate client CA
    // (standing in for the issuing CA of a later issue).
    let (alice_cert, key) = client_cert(&files.pki.root_cert_pem, &files.pki.root_key_pem, "alice");
    let alice_pem = files.dir.write("alice.pem", &alice_cert);
    let alice_key = files.dir.write("alice.key", &key);
    let client_ca = generate_dev_pki("222222222222", &[], &[]).unwrap();
    let (bob_cert, key) = client_cert(&client_ca.root_cert_pem, &client_ca.root_key_pem, "bob");
    let bob_pem = files.dir.write("bob.pem", &bob_cert);
    let bob_key = files.dir.write("bob.key", &key);
    let stranger = generate_dev_pki("999999999999", &[], &[]).unwrap();
    let (cert, key) = client_cert(&stranger.root_cert_pem, &stranger.root_key_pem, "mallory");
    let stranger_pem = files.dir.write("stranger.pem", &cert);
    let stranger_key = files.dir.write("stranger.key", &key);

    let roots = format!("{}{}", files.pki.root_cert_pem, client_ca.root_cert_pem);
    let config = server_config(
        &files.pki.server_cert_pem,
        &files.pki.server_key_pem,
        Some(&roots),
    )
    .unwrap();
    let server = Server::start(config, None).await;

    for version in ["--http1.1", "--http2"] {
        // bob's CA is not in curl's --cacert, so curl sends exactly bob's certificate.
        let mut args = curl_cert_args(cacert, &bob_pem, &bob_key);
        args.push(version);
        let who = whoami(&server, &args).await;
        assert_eq!(who["tls"], true, "{version}: {who}");
        assert_eq!(who["client_certs"], 1, "{version}: {who}");
        assert_eq!(
            who["client_chain_sha256"],
            serde_json::json!(pem_sha256(&bob_cert)),
            "{version}"
        );

        // alice's issuer is the very root curl trusts for the server, and OpenSSL's
        // client builds its chain from that store, so curl sends alice's certificate
        // followed by the root: the leaf always comes first.
        let mut args = curl_cert_args(cacert, &alice_pem, &alice_key);
        args.push(version);
        let who = whoami(&server, &args).await;
        let leaf = pem_sha256(&alice_cert);
        let with_root = [leaf.clone(), pem_sha256(&files.pki.root_cert_pem)].concat();
        let chain = &who["client_chain_sha256"];
        assert!(
            *chain == serde_json::json!(leaf) || *chain == serde_json::json!(with_root),
            "{version}: {who}"
        );
    }

    // Optional: no certificate is fine at the TLS layer.
    let who = whoami(&server, &["--cacert", cacert]).await;
    assert_eq!(who["client_certs"], 0, "{who}");

    // A certificate from an unknown CA fails the handshake.
    let mut args = curl_cert_args(cacert, &stranger_pem, &stranger_key);
    let url = server.url("/whoami-conn");
    args.extend(["--fail", url.as_str()]);
    let out = run(curl(&args)).await;
    assert!(!out.ok(), "{out:?}");
    assert!(!out.stdout.contains("client_certs"), "{out:?}");

    // openssl agrees: with the stranger's certificate the server sends an alert.
    let out = run(openssl(&[
        "s_client",
        "-connect",
        &format!("127.0.0.1:{}", server.addr.port()),
        "-CAfile",
        cacert,
        "-cert",
        path(&stranger_pem),
        "-key",
        path(&stranger_key),
        // Wait for the server's answer instead of leaving at stdin EOF, which with
        // TLS 1.3 would come before the server has even looked at our certificate.
        "-ign_eof",
    ]))
    .await;
    assert!(
        out.stderr.contains("alert unknown ca"),
        "stranger certificate was accepted: {out:?}"
    );

    // And the server is still fine.
    let who = whoami(&server, &curl_cert_args(cacert, &bob_pem, &bob_key)).await;
    assert_eq!(who["client_certs"], 1, "{who}");

    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_client_roots_no_client_certificate_is_requested() {
    let files = dev_pki_files("nomtls");
    let (cert, key) = client_cert(&files.pki.root_cert_pem, &files.pki.root_key_pem, "alice");
    let client_pem = files.dir.write("client.pem", &cert);
    let client_key = files.dir.write("client.key", &key);
    let server = start_dev(&files, None).await;

    let who = whoami(
        &server,
        &[
            "--cacert",
            path(&files.root),
            "--cert",
            path(&client_pem),
            "--key",
            path(&client_key),
        ],
    )
    .await;
    assert_eq!(who["client_certs"], 0, "{who}");

    server.shutdown().await;
}

// ---------------------------------------------------------------------------------
// Graceful shutdown
// ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_lets_in_flight_requests_finish() {
    for version in ["--http1.1", "--http2"] {
        let files = dev_pki_files("graceful");
        let mut server = start_dev(&files, None).await;
        let request = tokio::spawn(run(curl(&[
            version,
            "--fail",
            "--cacert",
            path(&files.root),
            &server.url("/slow"),
        ])));

        // Wait until the request is in the handler (it sleeps 500 ms), then stop.
        tokio::time::sleep(Duration::from_millis(250)).await;
        server.trigger_shutdown();

        let out = request.await.unwrap();
        assert!(out.ok(), "{version}: {out:?}");
        assert_eq!(out.stdout, "slow done", "{version}");

        let addr = server.addr;
        server.shutdown().await;
        // The listener is closed: new clients are refused, not queued.
        assert!(TcpStream::connect(addr).await.is_err(), "{version}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_grace_bounds_the_wait_for_stuck_requests() {
    let files = dev_pki_files("grace");
    let options = ServeOptions {
        shutdown_grace: Duration::from_millis(300),
        ..ServeOptions::default()
    };
    let mut server = start_dev(&files, Some(options)).await;
    let request = tokio::spawn(run(curl(&[
        "--fail",
        "--cacert",
        path(&files.root),
        &server.url("/very-slow"),
    ])));
    tokio::time::sleep(Duration::from_millis(250)).await;

    server.trigger_shutdown();
    // The stuck handler sleeps 30 s: serve_tls returning at all within 5 s
    // proves the grace period bounded the wait.
    tokio::time::timeout(Duration::from_secs(5), &mut server.task)
        .await
        .expect("serve_tls waited past the grace period")
        .unwrap()
        .unwrap();

    // The stuck request was cut off, not answered (curl ended well before
    // run()'s 20 s limit, which would also fail `ok`... so check the code).
    let out = request.await.unwrap();
    assert!(!out.ok(), "{out:?}");
    assert!(out.code.is_some(), "curl was killed, not cut off: {out:?}");
}

// ---------------------------------------------------------------------------------
// Bad input
// ---------------------------------------------------------------------------------

/// What a `server_config` call must fail with.
#[derive(Debug)]
enum Expect {
    BadPem(PemInput),
    NoCertificate(PemInput),
    NoPrivateKey,
    MultiplePrivateKeys,
    UnsupportedKey,
    InvalidCertificate(PemInput),
    KeyCertMismatch,
}

fn check(name: &str, cert: &str, key: &str, roots: Option<&str>, expected: Expect) {
    let err = match server_config(cert, key, roots) {
        Ok(_) => panic!("{name}: accepted"),
        Err(err) => err,
    };
    let matched = match (&expected, &err) {
        (Expect::BadPem(want), TlsError::BadPem { input, .. }) => want == input,
        (Expect::NoCertificate(want), TlsError::NoCertificate { input }) => want == input,
        (Expect::NoPrivateKey, TlsError::NoPrivateKey) => true,
        (Expect::MultiplePrivateKeys, TlsError::MultiplePrivateKeys) => true,
        (Expect::UnsupportedKey, TlsError::UnsupportedKey(_)) => true,
        (Expect::InvalidCertificate(want), TlsError::InvalidCertificate { input, .. }) => {
            want == input
        }
        (Expect::KeyCertMismatch, TlsError::KeyCertMismatch) => true,
        _ => false,
    };
    assert!(matched, "{name}: expected {expected:?}, got {err:?}");
    // The message names what is wrong, and never echoes key material.
    let message = err.to_string();
    assert!(!message.is_empty(), "{name}");
    assert!(!message.contains("BEGIN"), "{name}: {message}");
}

fn pem(label: &str, base64: &str) -> String {
    format!("-----BEGIN {label}-----\n{base64}\n-----END {label}-----\n")
}

#[test]
fn bad_tls_input_is_a_typed_error() {
    use PemInput::{CertChain, ClientRoots, PrivateKey};

    let a = generate_dev_pki(ACCOUNT, &[], &[]).unwrap();
    let b = generate_dev_pki(ACCOUNT, &[], &[]).unwrap();
    let (cert, key) = (a.server_cert_pem.as_str(), a.server_key_pem.as_str());
    let garbage = "this is not PEM at all\n\u{0}\u{1}\u{ff}";
    let broken_cert = "-----BEGIN CERTIFICATE-----\nMIIB!!!not base64\n";
    let junk_cert = pem("CERTIFICATE", "AAECAwQF");
    let junk_key = pem("PRIVATE KEY", "AAECAwQF");
    let two_keys = format!("{}{}", a.server_key_pem.as_str(), b.server_key_pem.as_str());

    check(
        "empty cert",
        "",
        key,
        None,
        Expect::NoCertificate(CertChain),
    );
    check("empty key", cert, "", None, Expect::NoPrivateKey);
    check("both empty", "", "", None, Expect::NoCertificate(CertChain));
    check(
        "garbage cert",
        garbage,
        key,
        None,
        Expect::NoCertificate(CertChain),
    );
    check("garbage key", cert, garbage, None, Expect::NoPrivateKey);
    check(
        "broken cert PEM",
        broken_cert,
        key,
        None,
        Expect::BadPem(CertChain),
    );
    check(
        "broken key PEM",
        cert,
        "-----BEGIN PRIVATE KEY-----\n%%%\n",
        None,
        Expect::BadPem(PrivateKey),
    );
    check(
        "cert and key swapped",
        key,
        cert,
        None,
        Expect::NoCertificate(CertChain),
    );
    check(
        "junk certificate DER",
        &junk_cert,
        key,
        None,
        Expect::InvalidCertificate(CertChain),
    );
    check(
        "junk key DER",
        cert,
        &junk_key,
        None,
        Expect::UnsupportedKey,
    );
    check(
        "two keys",
        cert,
        &two_keys,
        None,
        Expect::MultiplePrivateKeys,
    );
    check(
        "key of another PKI",
        cert,
        &b.server_key_pem,
        None,
        Expect::KeyCertMismatch,
    );
    check(
        "root key for server cert",
        cert,
        &a.root_key_pem,
        None,
        Expect::KeyCertMismatch,
    );
    check(
        "empty client roots",
        cert,
        key,
        Some(""),
        Expect::NoCertificate(ClientRoots),
    );
    check(
        "garbage client roots",
        cert,
        key,
        Some(garbage),
        Expect::NoCertificate(ClientRoots),
    );
    check(
        "broken client roots",
        cert,
        key,
        Some(broken_cert),
        Expect::BadPem(ClientRoots),
    );
    check(
        "junk client root DER",
        cert,
        key,
        Some(&junk_cert),
        Expect::InvalidCertificate(ClientRoots),
    );

    // Sanity: the good inputs do work, also as combined files.
    server_config(cert, key, None).unwrap();
    server_config(cert, key, Some(&a.root_cert_pem)).unwrap();
    let combined = format!("{cert}{}", key);
    server_config(&combined, &combined, Some(&combined)).unwrap();
}

#[test]
fn pem_helpers_read_what_they_should() {
    let pki = generate_dev_pki(ACCOUNT, &[], &[]).unwrap();
    let chain = format!("{}{}", pki.server_cert_pem, pki.root_cert_pem);
    assert_eq!(load_pem_certs(&chain).unwrap().len(), 2);
    assert!(matches!(
        load_pem_certs(&pki.server_key_pem),
        Err(TlsError::NoCertificate {
            input: PemInput::CertChain
        })
    ));
    let key = load_pem_key(&pki.server_key_pem).unwrap();
    assert!(matches!(key, rustls::pki_types::PrivateKeyDer::Pkcs8(_)));
    assert!(matches!(
        load_pem_key(&pki.server_cert_pem),
        Err(TlsError::NoPrivateKey)
    ));
}

#[test]
fn dev_pki_rejects_bad_names_and_never_prints_keys() {
    for bad in [
        "",
        "12345678901",
        "1234567890123",
        "12345678901x",
        "١٢٣٤٥٦٧٨٩٠١٢",
    ] {
        assert!(
            matches!(
                generate_dev_pki(bad, &[], &[]),
                Err(TlsError::InvalidAccountId(_))
            ),
            "{bad:?}"
        );
    }
    for bad in ["", "bad name", "ünïcode.test", "a..b", "-lead.test"] {
        assert!(
            matches!(
                generate_dev_pki(ACCOUNT, &[bad.to_owned()], &[]),
                Err(TlsError::InvalidDnsName(_))
            ),
            "{bad:?}"
        );
    }

    let pki = generate_dev_pki(ACCOUNT, &[], &[]).unwrap();
    assert!(pki.root_key_pem.contains("BEGIN PRIVATE KEY"));
    assert!(pki.server_key_pem.contains("BEGIN PRIVATE KEY"));
    let debug = format!("{pki:?}");
    assert!(!debug.contains("PRIVATE KEY"), "{debug}");
    // Not just the label: none of the key material itself.
    for k in key_spellings(&pki.root_key_pem)
        .into_iter()
        .chain(key_spellings(&pki.server_key_pem))
    {
        assert!(!debug.contains(&k), "private key material in Debug");
    }
    assert!(debug.contains("<redacted>"));
    assert!(debug.contains("BEGIN CERTIFICATE"));

    // Fresh keys and serials every time.
    let again = generate_dev_pki(ACCOUNT, &[], &[]).unwrap();
    assert_ne!(pki.root_cert_pem, again.root_cert_pem);
    assert_ne!(*pki.server_key_pem, *again.server_key_pem);
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
