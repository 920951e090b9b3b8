//! The connection budget of the real `ward-ca` daemon (issue 7, item 9):
//! idle HTTP/1.1 and HTTP/2 connections, silent TCP connections and slow
//! request bodies must not be able to hold every slot. Clients are raw TCP
//! plus rustls from distinct loopback source addresses (127.0.0.2, …: all of
//! 127/8 is local on Linux), so per-source caps can be exercised; limits are
//! proven by the server's `/metrics` counters and by observed closes (EOF),
//! never by elapsed time. Client-side timeouts only bound a hang.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::{IpAddr, SocketAddr};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::{Db, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::client::TlsStream;

/// Generous bound on anything that should happen "soon"; only a hang hits it.
const HANG: Duration = Duration::from_secs(60);

fn server_addr(s: &Server) -> SocketAddr {
    s.endpoint
        .trim_start_matches("https://")
        .parse()
        .expect("endpoint is https://IP:PORT")
}

/// A TCP connection to the server from a given loopback source address.
async fn tcp_from(source: &str, to: SocketAddr) -> TcpStream {
    let sock = TcpSocket::new_v4().unwrap();
    sock.bind(SocketAddr::new(source.parse::<IpAddr>().unwrap(), 0))
        .unwrap();
    sock.connect(to).await.unwrap()
}

fn tls_connector(s: &Server, alpn: &[u8]) -> tokio_rustls::TlsConnector {
    let pem = std::fs::read(&s.bundle).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// A TLS connection from `source`, ALPN `alpn`; `Err` if the server hung up
/// before or during the handshake.
async fn tls_from(s: &Server, source: &str, alpn: &[u8]) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = tcp_from(source, server_addr(s)).await;
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    tokio::time::timeout(HANG, tls_connector(s, alpn).connect(name, tcp))
        .await
        .expect("TLS handshake hung")
}

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

fn h2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap();
    let mut f = len.to_be_bytes()[1..].to_vec();
    f.extend([kind, flags]);
    f.extend(stream.to_be_bytes());
    f.extend(payload);
    f
}

/// Reads one HTTP/2 frame: (type, flags, stream, payload); `None` at EOF.
async fn read_frame<S: AsyncReadExt + Unpin>(s: &mut S) -> Option<(u8, u8, u32, Vec<u8>)> {
    let mut head = [0u8; 9];
    s.read_exact(&mut head).await.ok()?;
    let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
    let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).await.ok()?;
    Some((head[3], head[4], stream, payload))
}

/// An HTTP/2 connection that has sent the preface and its SETTINGS and read
/// the server's SETTINGS (so it is being served), then says nothing.
async fn idle_h2(s: &Server, source: &str) -> TlsStream<TcpStream> {
    let mut tls = tls_from(s, source, b"h2").await.unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    tls.write_all(H2_PREFACE).await.unwrap();
    tls.write_all(&h2_frame(4, 0, 0, &[])).await.unwrap();
    tls.flush().await.unwrap();
    let (kind, _, _, _) = tokio::time::timeout(HANG, read_frame(&mut tls))
        .await
        .unwrap()
        .expect("server closed a fresh HTTP/2 connection");
    assert_eq!(kind, 4, "the server's first frame is SETTINGS");
    tls
}

/// Whether a stream of HTTP/2 frames holds a GOAWAY (type 7).
fn has_goaway(mut frames: &[u8]) -> bool {
    while frames.len() >= 9 {
        if frames[3] == 7 {
            return true;
        }
        let len = u32::from_be_bytes([0, frames[0], frames[1], frames[2]]) as usize;
        frames = &frames[(9 + len).min(frames.len())..];
    }
    false
}

/// Sends `GET /healthz` on a kept-alive HTTP/1.1 connection and reads the
/// response; `None` if the server has closed the connection.
async fn h1_healthz(tls: &mut TlsStream<TcpStream>) -> Option<String> {
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .ok()?;
    tls.flush().await.ok()?;
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = tokio::time::timeout(HANG, tls.read(&mut buf))
            .await
            .expect("HTTP/1.1 response hung")
            .ok()?;
        if n == 0 {
            return None;
        }
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).into_owned();
        if text.ends_with("\r\n\r\nok\n") {
            return Some(text);
        }
    }
}

/// An HTTP/1.1 connection that completed one request and stays open.
async fn idle_h1(s: &Server, source: &str) -> TlsStream<TcpStream> {
    let mut tls = tls_from(s, source, b"http/1.1").await.unwrap();
    let resp = h1_healthz(&mut tls).await.expect("first request served");
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    tls
}

/// Sends a raw HTTP/1.1 request and reads one response (headers and a
/// `content-length` body); `None` if the server has closed the connection.
async fn h1_request(tls: &mut TlsStream<TcpStream>, request: &[u8]) -> Option<String> {
    tls.write_all(request).await.ok()?;
    tls.flush().await.ok()?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(HANG, tls.read(&mut buf))
            .await
            .expect("HTTP/1.1 response hung")
            .ok()?;
        if n == 0 {
            return None;
        }
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .expect("a content-length");
            if body.len() >= len {
                return Some(text);
            }
        }
    }
}

/// A SigV4-signed `GET /v1/whoami` as raw HTTP/1.1, signed with ward-sigv4.
fn signed_whoami(s: &Server) -> Vec<u8> {
    let host = server_addr(s).to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let date = ward_sigv4::format_amz_date(i64::try_from(now).unwrap());
    let h = ward_sigv4::sign(
        "GET",
        "/v1/whoami",
        &[],
        &[("host", &host)],
        b"",
        &s.root.id,
        &s.root.secret,
        None,
        "local",
        "ward",
        &date,
    );
    format!(
        "GET /v1/whoami HTTP/1.1\r\nhost: {host}\r\nauthorization: {}\r\n\
         x-amz-date: {}\r\nx-amz-content-sha256: {}\r\n\r\n",
        h.authorization, h.x_amz_date, h.x_amz_content_sha256
    )
    .into_bytes()
}

/// Reads until EOF (or an error such as a reset); returns what was read.
/// Panics if the server keeps the connection open for [`HANG`].
async fn read_until_closed<S: AsyncReadExt + Unpin>(s: &mut S, what: &str) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(HANG, s.read(&mut buf)).await {
            Err(_) => panic!("{what}: the server did not close the connection"),
            Ok(Ok(0)) | Ok(Err(_)) => return got,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// `/metrics` as text (from 127.0.0.1, which the default allow-list admits).
fn metrics(s: &Server) -> String {
    let out = Command::new("curl")
        .args(["-sS", "--fail", "--max-time", "60", "--cacert"])
        .arg(&s.bundle)
        .arg(format!("{}/metrics", s.endpoint))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "/metrics: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// One sample of `/metrics` by its full series name.
fn metric(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in /metrics:\n{text}"))
}

fn curl_healthz(s: &Server, source: &str) -> std::process::Output {
    Command::new("curl")
        .args(["-sS", "--max-time", "60", "--interface", source, "--cacert"])
        .arg(&s.bundle)
        .arg(format!("{}/healthz", s.endpoint))
        .output()
        .unwrap()
}

/// Connection slots filled by idle HTTP/2, idle HTTP/1.1 and silent TCP
/// connections (nothing expires during the test: every deadline is an hour)
/// leave /healthz and signed calls working: the newcomer sheds the oldest idle
/// connection. A source over its share is refused before the handshake.
#[tokio::test(flavor = "multi_thread")]
async fn idle_connections_at_the_cap_do_not_lock_out_callers() {
    let Some(s) = Server::start_with(
        Db::Sqlite,
        "[limits]\nmax_connections = 24\nmax_connections_per_source = 8\n\
         handshake_timeout_seconds = 3600\nheader_timeout_seconds = 3600\n\
         idle_timeout_seconds = 3600\n",
    ) else {
        return;
    };
    // 127.0.0.2: 8 idle HTTP/2 connections; the 9th and 10th are over the
    // source's share and closed before the handshake.
    let mut h2 = Vec::new();
    for _ in 0..8 {
        h2.push(idle_h2(&s, "127.0.0.2").await);
    }
    for _ in 0..2 {
        assert!(
            tls_from(&s, "127.0.0.2", b"h2").await.is_err(),
            "a 9th connection from one source was admitted"
        );
    }
    // 127.0.0.3: 8 HTTP/1.1 connections, each served once, now idle.
    let mut h1 = Vec::new();
    for _ in 0..8 {
        h1.push(idle_h1(&s, "127.0.0.3").await);
    }
    // 127.0.0.4: 8 TCP connections that never start TLS: the last 8 slots.
    let mut silent = Vec::new();
    for _ in 0..8 {
        silent.push(tcp_from("127.0.0.4", server_addr(&s)).await);
    }

    // Every slot is taken; health checks and signed calls are still served.
    let out = curl_healthz(&s, "127.0.0.1");
    assert!(
        out.status.success() && out.stdout == b"ok\n",
        "/healthz at the connection cap: {out:?}"
    );
    let who = s.call(&s.root(), "GET", "/v1/whoami", None);
    assert_eq!(who.ok()["arn"], format!("arn:ward:iam::{}:root", s.account));
    let m = metrics(&s);
    assert_eq!(
        metric(&m, "ward_connections_refused_total{reason=\"per_source\"}"),
        2,
        "{m}"
    );
    let shed = metric(&m, "ward_connections_shed_total");
    assert!(shed >= 1, "the newcomer got a slot without shedding:\n{m}");
    assert!(
        metric(&m, "ward_connections_open") <= 24,
        "more connections than the cap:\n{m}"
    );

    // The victim was the longest-idle one: the first HTTP/2 connection. It
    // got a GOAWAY (frame type 7) and was closed.
    let first = read_until_closed(&mut h2[0], "the shed HTTP/2 connection").await;
    assert!(has_goaway(&first), "no GOAWAY before the close: {first:?}");
    // The most recently used connection is untouched and still serves.
    let again = h1_healthz(h1.last_mut().unwrap())
        .await
        .expect("the most recently used HTTP/1.1 connection was closed");
    assert!(again.starts_with("HTTP/1.1 200"), "{again}");
    drop((h2, h1, silent));
}

/// At the cap, an idle connection that carried an authenticated request is
/// kept and a younger, unauthenticated idle one is shed instead.
#[tokio::test(flavor = "multi_thread")]
async fn authenticated_connections_are_shed_last() {
    let Some(s) = Server::start_with(
        Db::Sqlite,
        "[limits]\nmax_connections = 3\nmax_connections_per_source = 3\n\
         handshake_timeout_seconds = 3600\nheader_timeout_seconds = 3600\n\
         idle_timeout_seconds = 3600\n",
    ) else {
        return;
    };
    // The oldest: a signed call, now idle.
    let mut authed = tls_from(&s, "127.0.0.2", b"http/1.1").await.unwrap();
    let who = h1_request(&mut authed, &signed_whoami(&s))
        .await
        .expect("signed call served");
    assert!(who.starts_with("HTTP/1.1 200"), "{who}");
    // Two younger unauthenticated ones fill the cap.
    let mut anon = idle_h1(&s, "127.0.0.3").await;
    let _younger = idle_h1(&s, "127.0.0.4").await;

    let out = curl_healthz(&s, "127.0.0.1");
    assert!(out.status.success(), "/healthz at the cap: {out:?}");
    read_until_closed(&mut anon, "the oldest unauthenticated connection").await;
    let again = h1_request(&mut authed, &signed_whoami(&s))
        .await
        .expect("the authenticated connection was shed");
    assert!(again.starts_with("HTTP/1.1 200"), "{again}");
    assert!(metric(&metrics(&s), "ward_connections_shed_total") >= 1);
}

/// With a short idle timeout the server closes idle HTTP/2 and HTTP/1.1
/// connections itself (EOF on the client), and counts each.
#[tokio::test(flavor = "multi_thread")]
async fn idle_connections_are_closed_after_the_idle_timeout() {
    let Some(s) = Server::start_with(
        Db::Sqlite,
        "[limits]\nidle_timeout_seconds = 2\nheader_timeout_seconds = 3600\n",
    ) else {
        return;
    };
    let mut h2 = idle_h2(&s, "127.0.0.2").await;
    let mut h1 = idle_h1(&s, "127.0.0.3").await;
    let got = read_until_closed(&mut h2, "idle HTTP/2").await;
    assert!(
        has_goaway(&got),
        "idle HTTP/2 closed without GOAWAY: {got:?}"
    );
    read_until_closed(&mut h1, "idle HTTP/1.1").await;
    let m = metrics(&s);
    assert_eq!(
        metric(&m, "ward_connections_timed_out_total{phase=\"idle\"}"),
        2,
        "{m}"
    );
    assert_eq!(
        metric(&m, "ward_connections_timed_out_total{phase=\"header\"}"),
        0,
        "{m}"
    );
}

/// Request headers (HTTP/1.1) or an HTTP/2 preface that stop arriving close
/// the connection after the header deadline, even with a long idle timeout.
#[tokio::test(flavor = "multi_thread")]
async fn stalled_headers_are_closed_after_the_header_timeout() {
    let Some(s) = Server::start_with(
        Db::Sqlite,
        "[limits]\nheader_timeout_seconds = 2\nidle_timeout_seconds = 3600\n",
    ) else {
        return;
    };
    let mut h1 = tls_from(&s, "127.0.0.2", b"http/1.1").await.unwrap();
    h1.write_all(b"GET /healthz HTTP/1.1\r\nHost: loc")
        .await
        .unwrap();
    h1.flush().await.unwrap();
    let got = read_until_closed(&mut h1, "HTTP/1.1 with stalled headers").await;
    assert!(
        !String::from_utf8_lossy(&got).contains(" 200 "),
        "a request was served: {got:?}"
    );
    let mut h2 = tls_from(&s, "127.0.0.3", b"h2").await.unwrap();
    h2.write_all(b"PRI * HTTP").await.unwrap();
    h2.flush().await.unwrap();
    read_until_closed(&mut h2, "half an HTTP/2 preface").await;
    let m = metrics(&s);
    assert_eq!(
        metric(&m, "ward_connections_timed_out_total{phase=\"header\"}"),
        2,
        "{m}"
    );
    assert_eq!(
        metric(&m, "ward_connections_timed_out_total{phase=\"idle\"}"),
        0,
        "{m}"
    );
}

/// A request body that stops arriving gets a 408 naming the body, and the
/// connection is closed: over HTTP/1.1 and over HTTP/2.
#[tokio::test(flavor = "multi_thread")]
async fn a_slow_body_gets_408_and_the_connection_is_closed() {
    let Some(s) = Server::start_with(
        Db::Sqlite,
        "[limits]\nbody_timeout_seconds = 2\nidle_timeout_seconds = 3600\n",
    ) else {
        return;
    };
    // HTTP/1.1: 100 bytes promised, 1 sent.
    let mut h1 = tls_from(&s, "127.0.0.2", b"http/1.1").await.unwrap();
    h1.write_all(
        b"POST /v1/users HTTP/1.1\r\nHost: localhost\r\ncontent-type: application/json\r\n\
          content-length: 100\r\n\r\n{",
    )
    .await
    .unwrap();
    h1.flush().await.unwrap();
    let got = read_until_closed(&mut h1, "HTTP/1.1 with a stalled body").await;
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("\"code\":\"RequestTimeout\""), "{text}");
    assert!(text.contains("\"field\":\"body\""), "{text}");

    // HTTP/2: HEADERS without END_STREAM, one DATA byte, then nothing.
    let mut h2 = idle_h2(&s, "127.0.0.3").await;
    let mut block = vec![0x83, 0x87]; // :method POST, :scheme https
    block.push(0x04); // :path, literal without indexing, name index 4
    block.push(9);
    block.extend(b"/v1/users");
    block.push(0x01); // :authority, name index 1
    block.push(9);
    block.extend(b"localhost");
    h2.write_all(&h2_frame(1, 0x4, 1, &block)).await.unwrap(); // END_HEADERS
    h2.write_all(&h2_frame(0, 0, 1, b"{")).await.unwrap();
    h2.flush().await.unwrap();
    let mut body = Vec::new();
    let mut goaway = false;
    loop {
        match tokio::time::timeout(HANG, read_frame(&mut h2))
            .await
            .expect("HTTP/2 with a stalled body: the server did not close")
        {
            None => break,
            Some((0, _, 1, payload)) => body.extend(payload),
            Some((7, ..)) => goaway = true,
            Some(_) => {}
        }
    }
    let body = String::from_utf8_lossy(&body);
    assert!(body.contains("\"code\":\"RequestTimeout\""), "{body}");
    assert!(body.contains("\"field\":\"body\""), "{body}");
    assert!(goaway, "HTTP/2 connection closed without GOAWAY");

    let m = metrics(&s);
    assert_eq!(
        metric(&m, "ward_connections_timed_out_total{phase=\"body\"}"),
        2,
        "{m}"
    );
    // A prompt body is unaffected by the deadline.
    let created = s.call(
        &s.root(),
        "POST",
        "/v1/users",
        Some(r#"{"name":"after-408"}"#),
    );
    created.ok();
}

/// `/metrics` is served only to sources in `[metrics] allow`: by default all
/// of loopback; with an explicit list, another loopback address is refused.
#[test]
fn metrics_are_served_only_to_allowed_sources() {
    let metrics_from = |s: &Server, source: &str| {
        let out = Command::new("curl")
            .args([
                "-sS",
                "--max-time",
                "60",
                "-w",
                "\n%{http_code}",
                "--interface",
                source,
                "--cacert",
            ])
            .arg(&s.bundle)
            .arg(format!("{}/metrics", s.endpoint))
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let (body, code) = text.rsplit_once('\n').unwrap();
        (code.to_owned(), body.to_owned())
    };
    // Default (serve --dev): loopback only, and all of 127/8 is loopback.
    let Some(dev) = Server::start(Db::Sqlite) else {
        return;
    };
    let (code, body) = metrics_from(&dev, "127.0.0.2");
    assert_eq!(code, "200", "{body}");
    assert!(body.contains("ward_connections_open"), "{body}");
    drop(dev);

    let Some(s) = Server::start_with(Db::Sqlite, "[metrics]\nallow = [\"127.0.0.1/32\"]\n") else {
        return;
    };
    let (code, body) = metrics_from(&s, "127.0.0.2");
    assert_eq!(code, "403", "{body}");
    assert!(body.contains("AccessDenied"), "{body}");
    assert!(!body.contains("ward_http_responses_total"), "{body}");
    let (code, body) = metrics_from(&s, "127.0.0.1");
    assert_eq!(code, "200", "{body}");
}
