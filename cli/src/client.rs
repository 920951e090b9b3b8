//! A blocking HTTPS client for ward-ca's `/v1/` API: every call is SigV4
//! signed in header form (service `ward`), or, with no access key but a
//! client certificate configured, authenticated by mTLS (ward-ca takes a
//! ward-issued client certificate as the caller's identity on requests with
//! no `Authorization` header; issue #4 item 5). `POST /v1/login` and the
//! public `/v1/ca/…` downloads go unauthenticated.
//!
//! The query string sent is exactly the signer's canonical query and the
//! `Host` header is set by us (and signed), so what the server verifies is
//! byte for byte what was signed. Server errors become [`Failure::Api`];
//! connection and TLS errors become [`Failure::Unreachable`] with a hint,
//! except a handshake in which ward-ca refused our client certificate
//! ([`Failure::CertificateRefused`]).

use std::io::{BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::Value;
use ward_protocol::api::ErrorBody;

use crate::config::{ClientCert, Credentials, Endpoint, Settings};
use crate::error::Failure;

/// SigV4 service name (SPEC §5).
const SERVICE: &str = "ward";
/// Largest response body read.
const MAX_RESPONSE: u64 = 32 * 1024 * 1024;
/// Largest CA bundle (or client certificate chain) read.
const MAX_BUNDLE: u64 = 4 * 1024 * 1024;
/// Largest client private key file read.
const MAX_KEY: u64 = 64 * 1024;

/// Path segments are percent-encoded with AWS's unreserved set, so that the
/// signer's canonical URI is the path as sent.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// A ward-ca connection.
pub(crate) struct Client {
    endpoint: Endpoint,
    region: String,
    credentials: Option<Credentials>,
    /// Whether the TLS configuration presents a client certificate.
    mtls: bool,
    agent: ureq::Agent,
}

/// HTTP methods used by the API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

impl Client {
    /// A client for authenticated calls: needs an endpoint and either
    /// credentials (SigV4) or a client certificate (mTLS). An access key
    /// wins, as the server ignores a certificate on signed requests.
    pub(crate) fn authenticated(settings: &Settings) -> Result<Client, Failure> {
        match (&settings.credentials, &settings.client_cert) {
            (Some(credentials), cert) => {
                if cert.as_ref().is_some_and(|c| c.from_flag) {
                    eprintln!(
                        "ward: note: signing with access key {}; --cert and --key are \
                         used only when no access key is configured",
                        credentials.access_key_id
                    );
                }
                let mut c = Client::build(settings, None)?;
                c.credentials = Some(credentials.clone());
                Ok(c)
            }
            (None, Some(cert)) => Client::build(settings, Some(cert)),
            (None, None) => Err(Failure::usage(format!(
                "no credentials for profile {}: set WARD_ACCESS_KEY_ID and \
                 WARD_SECRET_ACCESS_KEY, add them to ~/.ward/credentials, run `ward login`, \
                 or pass a client certificate with --cert and --key",
                settings.profile
            ))),
        }
    }

    /// A client for unauthenticated calls (`ward login`, the public CA
    /// material): needs an endpoint. It presents no client certificate, so
    /// that an expired one cannot get in the way.
    pub(crate) fn anonymous(settings: &Settings) -> Result<Client, Failure> {
        Client::build(settings, None)
    }

    fn build(settings: &Settings, cert: Option<&ClientCert>) -> Result<Client, Failure> {
        let endpoint = settings.endpoint.clone().ok_or_else(|| {
            Failure::usage(format!(
                "no endpoint: pass --endpoint, set WARD_ENDPOINT, or set endpoint in \
                 [{}] of ~/.ward/config",
                if settings.profile == "default" {
                    "default".to_owned()
                } else {
                    format!("profile {}", settings.profile)
                }
            ))
        })?;
        let tls = tls_config(settings.ca_bundle.as_deref(), cert)?;
        let agent = ureq::AgentBuilder::new()
            .tls_config(tls)
            .redirects(0)
            .timeout_connect(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .user_agent(concat!("ward-cli/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Client {
            endpoint,
            region: settings.region.clone(),
            credentials: None,
            mtls: cert.is_some(),
            agent,
        })
    }

    /// The endpoint's base URL, for messages.
    pub(crate) fn base(&self) -> &str {
        &self.endpoint.base
    }

    /// Calls `METHOD /v1/SEGMENTS…?QUERY` with an optional JSON body
    /// (already encoded).
    /// Returns the response JSON, or `None` for an empty (204) answer.
    pub(crate) fn call(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<Option<Value>, Failure> {
        match self.send(method, segments, query, body, "application/json") {
            Ok(resp) => {
                let status = resp.status();
                let text = read_body(resp)?;
                if text.trim().is_empty() {
                    return Ok(None);
                }
                serde_json::from_str(&text).map(Some).map_err(|_| {
                    Failure::Unexpected(format!(
                        "unexpected answer from {} (HTTP {status}): not JSON; is this ward-ca?",
                        self.endpoint.base
                    ))
                })
            }
            Err(e) => Err(e),
        }
    }

    /// A signed `GET /v1/SEGMENTS…` whose answer is not JSON (a session
    /// recording): its bytes, at most `max` (more is an error, never a
    /// truncated answer). Errors as in [`Client::call`].
    pub(crate) fn get_bytes(
        &self,
        segments: &[&str],
        accept: &str,
        max: u64,
    ) -> Result<Vec<u8>, Failure> {
        let resp = self.send(Method::Get, segments, &[], None, accept)?;
        let mut buf = Vec::new();
        resp.into_reader()
            .take(max.saturating_add(1))
            .read_to_end(&mut buf)
            .map_err(|e| Failure::Unreachable(format!("reading the response: {e}")))?;
        if buf.len() as u64 > max {
            return Err(Failure::Unexpected(format!(
                "the answer from {} is larger than {max} bytes",
                self.endpoint.base
            )));
        }
        Ok(buf)
    }

    /// Signs and sends a request; the answer of a 2xx/3xx, else the
    /// failure.
    fn send(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, &str)],
        body: Option<Vec<u8>>,
        accept: &str,
    ) -> Result<ureq::Response, Failure> {
        let path = api_path(segments)?;
        let has_body = body.is_some();
        let body_bytes = body.unwrap_or_default();
        let host = self.endpoint.host.as_str();
        let mut headers: Vec<(&str, String)> = vec![("Host", host.to_owned())];
        let query_string = match &self.credentials {
            Some(c) => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0);
                let amz_date = ward_sigv4::format_amz_date(i64::try_from(now).unwrap_or(0));
                let signed = ward_sigv4::sign(
                    method.as_str(),
                    &path,
                    query,
                    &[("host", host)],
                    &body_bytes,
                    &c.access_key_id,
                    c.secret_access_key.expose(),
                    c.session_token.as_ref().map(|t| t.expose()),
                    &self.region,
                    SERVICE,
                    &amz_date,
                );
                headers.push(("Authorization", signed.authorization));
                headers.push(("X-Amz-Date", signed.x_amz_date));
                headers.push(("X-Amz-Content-Sha256", signed.x_amz_content_sha256));
                if let Some(t) = signed.x_amz_security_token {
                    headers.push(("X-Amz-Security-Token", t));
                }
                signed.canonical_query
            }
            None => query
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{}={}",
                        utf8_percent_encode(k, SEGMENT),
                        utf8_percent_encode(v, SEGMENT)
                    )
                })
                .collect::<Vec<_>>()
                .join("&"),
        };
        let mut url = format!("{}{path}", self.endpoint.base);
        if !query_string.is_empty() {
            url.push('?');
            url.push_str(&query_string);
        }
        let mut req = self
            .agent
            .request(method.as_str(), &url)
            .set("Accept", accept);
        for (k, v) in &headers {
            req = req.set(k, v);
        }
        let result = if has_body {
            req.set("Content-Type", "application/json")
                .send_bytes(&body_bytes)
        } else {
            req.call()
        };
        result.map_err(|e| self.failure(e))
    }

    /// `GET /v1/SEGMENTS…` unauthenticated, for the public CA material:
    /// the body as bytes (a KRL is binary). Errors as in [`Client::call`].
    pub(crate) fn fetch(&self, segments: &[&str]) -> Result<Vec<u8>, Failure> {
        let url = format!("{}{}", self.endpoint.base, api_path(segments)?);
        let result = self
            .agent
            .get(&url)
            .set("Host", &self.endpoint.host)
            .set("Accept", "*/*")
            .call();
        match result {
            Ok(resp) => read_bytes(resp),
            Err(e) => Err(self.failure(e)),
        }
    }

    /// A ureq error as a [`Failure`].
    fn failure(&self, e: ureq::Error) -> Failure {
        match e {
            ureq::Error::Status(status, resp) => {
                let text = read_body(resp).unwrap_or_default();
                match serde_json::from_str::<ErrorBody>(&text) {
                    Ok(b) => Failure::Api { error: b.error },
                    Err(_) => Failure::Unexpected(format!(
                        "unexpected answer from {} (HTTP {status}); is this ward-ca?",
                        self.endpoint.base
                    )),
                }
            }
            ureq::Error::Transport(t) => {
                if self.mtls {
                    if let Some(alert) = client_cert_alert(&t) {
                        return Failure::CertificateRefused(format!(
                            "{} refused the client certificate during the TLS handshake \
                             ({alert:?}): it is expired or not yet valid, or was not issued \
                             by this ward-ca",
                            self.endpoint.base
                        ));
                    }
                }
                Failure::Unreachable(format!(
                    "cannot reach {}: {}",
                    self.endpoint.base,
                    describe_transport(&t, &self.endpoint.host)
                ))
            }
        }
    }
}

/// `/v1/` plus the encoded segments.
fn api_path(segments: &[&str]) -> Result<String, Failure> {
    let mut path = String::from("/v1");
    for s in segments {
        // Dot segments would be resolved away before reaching the server.
        if s.is_empty() || *s == "." || *s == ".." {
            return Err(Failure::usage(format!(
                "{s:?} cannot be used as a name in a request path"
            )));
        }
        path.push('/');
        path.extend(utf8_percent_encode(s, SEGMENT));
    }
    Ok(path)
}

fn read_body(resp: ureq::Response) -> Result<String, Failure> {
    let buf = read_bytes(resp)?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

fn read_bytes(resp: ureq::Response) -> Result<Vec<u8>, Failure> {
    let mut buf = Vec::new();
    resp.into_reader()
        .take(MAX_RESPONSE)
        .read_to_end(&mut buf)
        .map_err(|e| Failure::Unreachable(format!("reading the response: {e}")))?;
    Ok(buf)
}

/// The web PKI roots plus those in `bundle`; with `cert`, that client
/// certificate is presented.
fn tls_config(
    bundle: Option<&Path>,
    cert: Option<&ClientCert>,
) -> Result<Arc<rustls::ClientConfig>, Failure> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = bundle {
        let shown = path.display();
        let mut added = 0usize;
        for cert in pem_certs(path, "CA bundle")? {
            roots.add(cert).map_err(|e| {
                Failure::usage(format!("CA bundle {shown}: unusable certificate: {e}"))
            })?;
            added += 1;
        }
        if added == 0 {
            return Err(Failure::usage(format!(
                "CA bundle {shown}: no PEM certificates found"
            )));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Failure::Unexpected(format!("TLS setup: {e}")))?
        .with_root_certificates(roots);
    let config = match cert {
        None => builder.with_no_client_auth(),
        Some(c) => {
            let chain = pem_certs(&c.cert, "client certificate")?;
            if chain.is_empty() {
                return Err(Failure::usage(format!(
                    "client certificate {}: no PEM certificate found",
                    c.cert.display()
                )));
            }
            let key = pem_key(&c.key)?;
            builder.with_client_auth_cert(chain, key).map_err(|e| {
                Failure::usage(format!(
                    "client certificate {} with key {}: {e}",
                    c.cert.display(),
                    c.key.display()
                ))
            })?
        }
    };
    Ok(Arc::new(config))
}

/// The PEM certificates in `path` (what: for messages).
fn pem_certs(
    path: &Path,
    what: &str,
) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, Failure> {
    let shown = path.display();
    let file =
        std::fs::File::open(path).map_err(|e| Failure::usage(format!("{what} {shown}: {e}")))?;
    let mut reader = BufReader::new(file.take(MAX_BUNDLE));
    rustls_pemfile::certs(&mut reader)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Failure::usage(format!("{what} {shown}: {e}")))
}

/// The private key in `path` (PKCS #8, SEC1 or PKCS #1 PEM). Messages never
/// quote the file.
fn pem_key(path: &Path) -> Result<rustls::pki_types::PrivateKeyDer<'static>, Failure> {
    let shown = path.display();
    let file = std::fs::File::open(path)
        .map_err(|e| Failure::usage(format!("client key {shown}: {e}")))?;
    let mut reader = BufReader::new(file.take(MAX_KEY));
    rustls_pemfile::private_key(&mut reader)
        .map_err(|e| Failure::usage(format!("client key {shown}: {e}")))?
        .ok_or_else(|| {
            Failure::usage(format!(
                "client key {shown}: no PEM private key found (an encrypted key must be \
                 decrypted first: ward cannot prompt for its passphrase)"
            ))
        })
}

/// The alert with which the server refused our client certificate, if
/// that is why `t` happened.
fn client_cert_alert(t: &ureq::Transport) -> Option<rustls::AlertDescription> {
    use rustls::AlertDescription as A;
    match find_rustls_error(t)? {
        rustls::Error::AlertReceived(
            a @ (A::BadCertificate
            | A::UnsupportedCertificate
            | A::CertificateRevoked
            | A::CertificateExpired
            | A::CertificateUnknown
            | A::UnknownCA
            | A::AccessDenied
            | A::CertificateRequired),
        ) => Some(a),
        _ => None,
    }
}

/// A short reason for a transport failure, with a hint where one helps.
fn describe_transport(t: &ureq::Transport, host: &str) -> String {
    if let Some(e) = find_rustls_error(t) {
        use rustls::CertificateError as C;
        return match e {
            rustls::Error::InvalidCertificate(C::UnknownIssuer) => {
                "certificate not trusted (unknown issuer); set WARD_CA_BUNDLE \
                 (or ca_bundle in ~/.ward/config, or --ca-bundle) to the CA that signed it"
                    .to_owned()
            }
            rustls::Error::InvalidCertificate(
                C::NotValidForName | C::NotValidForNameContext { .. },
            ) => format!("the server's certificate is not valid for {host}"),
            rustls::Error::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => {
                "the server's certificate has expired".to_owned()
            }
            other => format!("TLS handshake failed: {other}"),
        };
    }
    let detail = std::error::Error::source(t)
        .map(|s| s.to_string())
        .or_else(|| t.message().map(str::to_owned))
        .unwrap_or_else(|| t.to_string());
    match t.kind() {
        ureq::ErrorKind::Dns => format!("cannot resolve the host name ({detail})"),
        ureq::ErrorKind::ConnectionFailed => format!("connection failed ({detail})"),
        _ => detail,
    }
}

/// The rustls error somewhere in `t`'s chain (rustls errors travel inside
/// `io::Error`s, whose `source()` skips them, hence `get_ref`).
fn find_rustls_error(t: &ureq::Transport) -> Option<rustls::Error> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(t);
    let mut depth = 0;
    while let Some(e) = next {
        if let Some(r) = e.downcast_ref::<rustls::Error>() {
            return Some(r.clone());
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if let Some(inner) = io.get_ref() {
                if let Some(r) = inner.downcast_ref::<rustls::Error>() {
                    return Some(r.clone());
                }
            }
        }
        depth += 1;
        if depth > 16 {
            break;
        }
        next = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn paths() {
        for (segs, want) in [
            (&["users", "alice"][..], Ok("/v1/users/alice")),
            (
                &["users", "a b+c@d=e,f"][..],
                Ok("/v1/users/a%20b%2Bc%40d%3De%2Cf"),
            ),
            (&["users", "\u{e9}"][..], Ok("/v1/users/%C3%A9")),
            (&["users", "x/y"][..], Ok("/v1/users/x%2Fy")),
            (&["users", ".."][..], Err(())),
            (&["users", ""][..], Err(())),
        ] {
            match (api_path(segs), want) {
                (Ok(p), Ok(w)) => assert_eq!(p, w),
                (Err(e), Err(())) => assert_eq!(e.exit_code(), 2),
                (got, want) => panic!("{segs:?}: {got:?} vs {want:?}"),
            }
        }
    }
}
