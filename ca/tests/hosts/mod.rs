//! Host enrolment for integration tests: keys made as ward-agent makes them
//! (an openssl ed25519 key with a CSR, an ssh-keygen host key), join tokens,
//! `POST /v1/host/join`, and calls with the host's X.509 certificate as the
//! only credential (the real `curl --cert`).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::common::{Creds, Response, Server};

/// Runs `cmd`, asserting that it succeeded.
pub fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A host's keys made as the agent makes them: an ed25519 TLS key with a
/// CSR (optionally naming a URI SAN) and an ssh-keygen host key. After
/// [`install`], `dir` also holds the issued certificate, `tls.pem`.
pub struct HostKeys {
    pub dir: PathBuf,
    pub csr: String,
    pub ssh_pub: String,
}

/// Makes a host's keys in `d/tag`.
pub fn host_keys(d: &Path, tag: &str, san: Option<&str>) -> HostKeys {
    let dir = d.join(tag);
    std::fs::create_dir_all(&dir).unwrap();
    run(Command::new("openssl")
        .args(["genpkey", "-algorithm", "ed25519", "-out", "tls.key"])
        .current_dir(&dir));
    let mut req = Command::new("openssl");
    req.args([
        "req", "-new", "-key", "tls.key", "-subj", "/CN=host", "-out", "tls.csr",
    ])
    .current_dir(&dir);
    if let Some(uri) = san {
        req.args(["-addext", &format!("subjectAltName=URI:{uri}")]);
    }
    run(&mut req);
    run(Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-f",
            "ssh_host_ed25519_key",
        ])
        .current_dir(&dir));
    HostKeys {
        csr: std::fs::read_to_string(dir.join("tls.csr")).unwrap(),
        ssh_pub: std::fs::read_to_string(dir.join("ssh_host_ed25519_key.pub"))
            .unwrap()
            .trim()
            .to_owned(),
        dir,
    }
}

/// A join token for host `name`, made by `creds` with the request `body`.
pub fn join_token(s: &Server, creds: &Creds, name: &str, body: Value) -> String {
    let v = s
        .call(
            creds,
            "POST",
            &format!("/v1/hosts/{name}/join-tokens"),
            Some(&body.to_string()),
        )
        .ok()
        .clone();
    assert_eq!(v["hostName"], name);
    v["token"].as_str().unwrap().to_owned()
}

/// `POST /v1/host/join` with `token` and the host's CSR and SSH host key.
pub fn join(s: &Server, token: &str, keys: &HostKeys) -> Response {
    let body = json!({"token": token, "csrPem": keys.csr, "sshHostPublicKey": keys.ssh_pub});
    s.raw(
        "POST",
        "/v1/host/join",
        &[],
        Some(body.to_string().as_bytes()),
    )
}

/// Writes the issued certificate next to the host's key.
pub fn install(keys: &HostKeys, joined: &Value) {
    std::fs::write(
        keys.dir.join("tls.pem"),
        joined["certificatePem"].as_str().unwrap(),
    )
    .unwrap();
}

/// Enrols host `name` (keys in `d/name`) with a join token made by root
/// from `token_body`; returns its keys (certificate installed) and the
/// join answer.
pub fn enrol(s: &Server, d: &Path, name: &str, token_body: Value) -> (HostKeys, Value) {
    let token = join_token(s, &s.root(), name, token_body);
    let keys = host_keys(d, name, None);
    let v = join(s, &token, &keys).ok().clone();
    install(&keys, &v);
    (keys, v)
}

/// [`enrol`] with the tag `env=prod`.
pub fn enrolled(s: &Server, d: &Path, name: &str) -> (HostKeys, Value) {
    enrol(
        s,
        d,
        name,
        json!({"tags": [{"key": "env", "value": "prod"}]}),
    )
}

/// A response from an mTLS call: status, headers (lower-case names), body.
pub struct Mtls {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Mtls {
    /// The body as JSON, or as a JSON string when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::String(self.body.clone()))
    }
    /// The first header named `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A call with the host's X.509 certificate as the only credential, with
/// an optional JSON `body` (sent from stdin) and extra `headers`. Asserts
/// that curl got an answer and that it is not a 5xx.
pub fn mtls(
    s: &Server,
    keys: &HostKeys,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
    headers: &[(&str, &str)],
) -> Mtls {
    mtls_try(s, keys, method, path, body, headers)
        .unwrap_or_else(|stderr| panic!("curl failed: {stderr}"))
}

/// [`mtls`], with `Err(curl's stderr)` when curl got no answer at all —
/// e.g. for an oversized body the server answered and closed while curl
/// was still sending (`Send failure: Broken pipe`). Still asserts that an
/// answer is not a 5xx.
pub fn mtls_try(
    s: &Server,
    keys: &HostKeys,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
    headers: &[(&str, &str)],
) -> Result<Mtls, String> {
    // curl leaves -o files alone when there is no body (a 304).
    let _ = std::fs::remove_file(keys.dir.join("body.txt"));
    let _ = std::fs::remove_file(keys.dir.join("headers.txt"));
    let mut cmd = Command::new("curl");
    // HTTP/1.1: an oversized body is answered 413 (HTTP/2 resets the
    // stream, which curl reports as its own error).
    cmd.args(["-sS", "--http1.1", "-H", "Expect:", "--cacert"])
        .arg(&s.bundle)
        .args(["--cert", "tls.pem", "--key", "tls.key", "-X", method])
        .args(["-D", "headers.txt", "-o", "body.txt", "-w", "%{http_code}"])
        .current_dir(&keys.dir);
    for (k, v) in headers {
        cmd.args(["-H", &format!("{k}: {v}")]);
    }
    if body.is_some() {
        // From stdin, as the common harness sends bodies.
        cmd.args([
            "-H",
            "content-type: application/json",
            "--data-binary",
            "@-",
        ]);
    }
    cmd.arg(format!("{}{path}", s.endpoint));
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut si = child.stdin.take().unwrap();
        if let Some(b) = body {
            let _ = si.write_all(b);
        }
    }
    let out = child.wait_with_output().unwrap();
    let status: u16 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    if status == 0 {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    assert!(status < 500, "{path}: a 5xx");
    let headers = std::fs::read_to_string(keys.dir.join("headers.txt"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_owned()))
        .collect();
    let body = std::fs::read_to_string(keys.dir.join("body.txt")).unwrap_or_default();
    Ok(Mtls {
        status,
        headers,
        body,
    })
}

/// `GET /v1/host/snapshot{query}` as an agent asks for it, optionally
/// conditional on `etag`.
pub fn snapshot(s: &Server, keys: &HostKeys, query: &str, etag: Option<&str>) -> Mtls {
    let mut h = vec![("x-ward-agent-version", "ward-agent/0.1.0-test")];
    if let Some(e) = etag {
        h.push(("if-none-match", e));
    }
    mtls(
        s,
        keys,
        "GET",
        &format!("/v1/host/snapshot{query}"),
        None,
        &h,
    )
}
