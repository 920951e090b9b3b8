//! AWS Signature Version 4 (`AWS4-HMAC-SHA256`): a pure verifier for ward-ca and a
//! header-form signer for the `ward` CLI and tests.
//!
//! The verifier is split in two steps so that the HTTP layer can look up the secret
//! in between:
//!
//! 1. [`parse`] reads the `Authorization` header (header form) or the `X-Amz-*` query
//!    parameters (presigned form), checks syntax, credential scope (region, service,
//!    `aws4_request`), that the scope date matches the request date, that `host` is
//!    signed and that the request time is within the allowed window. It returns a
//!    [`Claim`]: who says they signed the request.
//! 2. [`verify`] recomputes the canonical request, the string to sign and the
//!    signature with the access key's secret and compares in constant time.
//!
//! What this module deliberately does **not** do: no I/O, no clock (the caller passes
//! "now" in [`Expect`]), no key lookup, no session-token validation (the token is
//! returned in the [`Claim`] for the caller to check against the access key). Every
//! input is length-bounded; malformed input is an error, never a panic.
//!
//! Canonicalization follows AWS's rules for services other than S3, as pinned by the
//! AWS signing test suite (aws-c-auth, shipped with the `aws-sigv4` crate) and by
//! botocore's `SigV4Auth`:
//!
//! * canonical URI: the raw path as received is normalized (`.` and `..` segments
//!   resolved, empty segments removed, a trailing `/` kept) and every segment is
//!   URI-encoded once more, so `%3A` on the wire becomes `%253A` ("double encoding");
//! * canonical query: each `name=value` pair is percent-decoded and re-encoded with
//!   AWS's unreserved set (`A-Z a-z 0-9 - _ . ~`), pairs sorted by name then value;
//!   `+` is a literal plus, not a space; `X-Amz-Signature` is dropped for presigned;
//! * canonical headers: the signed headers, lowercased and sorted, values trimmed with
//!   inner whitespace runs collapsed to one space, repeated headers joined with `,`;
//! * payload hash: `X-Amz-Content-Sha256` when present, else the body's SHA-256. The
//!   body is always authenticated: a hex `X-Amz-Content-Sha256` must equal the body
//!   hash and `UNSIGNED-PAYLOAD` is only accepted for an empty body.
//!
//! References: <https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html>,
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-authentication-methods.html>.
#![forbid(unsafe_code)]

use std::fmt;

use hmac::{Hmac, Mac};
use percent_encoding::{percent_decode, percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// The only algorithm accepted: `AWS4-HMAC-SHA256`.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// Payload-hash placeholder a client may sign instead of the body hash.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// Hex SHA-256 of the empty string.
pub const EMPTY_SHA256_HEX: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// Default allowed clock skew (AWS: 15 minutes).
pub const DEFAULT_MAX_SKEW_SECS: i64 = 900;
/// Default maximum `X-Amz-Expires` for presigned requests (AWS: 7 days).
pub const DEFAULT_MAX_PRESIGN_EXPIRES_SECS: i64 = 604_800;

/// Most headers a request may carry (hyper's own default limit is 100).
pub const MAX_HEADERS: usize = 256;
/// Longest raw path accepted.
pub const MAX_PATH_LEN: usize = 8 * 1024;
/// Longest raw query string accepted.
pub const MAX_QUERY_LEN: usize = 16 * 1024;
/// Most `&`-separated query parameters accepted.
pub const MAX_QUERY_PARAMS: usize = 256;
/// Longest `Authorization` header value accepted.
pub const MAX_AUTHORIZATION_LEN: usize = 4 * 1024;
/// Most entries in `SignedHeaders`.
pub const MAX_SIGNED_HEADERS: usize = 64;
/// Largest canonical-headers block (all signed header lines together).
pub const MAX_CANONICAL_HEADERS_LEN: usize = 64 * 1024;
/// Longest session token accepted.
pub const MAX_SESSION_TOKEN_LEN: usize = 8 * 1024;
/// Longest access key id accepted (IAM's own limit).
pub const MAX_ACCESS_KEY_ID_LEN: usize = 128;
const MAX_METHOD_LEN: usize = 32;
const MAX_SCOPE_PART_LEN: usize = 64;
const MAX_HEADER_NAME_LEN: usize = 128;

const TERMINATOR: &str = "aws4_request";

/// AWS's unreserved characters (RFC 3986 §2.3): everything else is percent-encoded,
/// with upper-case hex digits.
const AWS_URI_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// What the HTTP layer hands in.
///
/// Header names as received (any case); raw path and raw query exactly as on the wire
/// (not decoded). With HTTP/2 there is no `Host` header: pass the `:authority` as a
/// `host` header.
#[derive(Clone, Copy)]
pub struct HttpRequest<'a> {
    /// Request method, e.g. `GET`.
    pub method: &'a str,
    /// Raw path, e.g. `/v1/users/alice`.
    pub path: &'a str,
    /// Raw query without `?`, possibly empty.
    pub query: &'a str,
    /// All request headers, in the order received; repeated names allowed.
    pub headers: &'a [(&'a str, &'a [u8])],
    /// Lower-case hex SHA-256 of the body as received (computed by the caller).
    pub body_sha256_hex: &'a str,
}

/// What the server expects: its own region and service, and the current time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expect<'a> {
    /// The only accepted credential-scope region, e.g. `local`.
    pub region: &'a str,
    /// The only accepted credential-scope service, e.g. `ward`.
    pub service: &'a str,
    /// The current time, seconds since the Unix epoch.
    pub now_epoch_secs: i64,
    /// Allowed difference between the request time and now (header form), or before
    /// the request time (presigned form). AWS uses 900.
    pub max_skew_secs: i64,
    /// Largest `X-Amz-Expires` accepted for presigned requests. AWS uses 604800.
    pub max_presign_expires_secs: i64,
}

impl<'a> Expect<'a> {
    /// Expectations with AWS's default skew (15 min) and presign limit (7 days).
    pub fn new(region: &'a str, service: &'a str, now_epoch_secs: i64) -> Self {
        Self {
            region,
            service,
            now_epoch_secs,
            max_skew_secs: DEFAULT_MAX_SKEW_SECS,
            max_presign_expires_secs: DEFAULT_MAX_PRESIGN_EXPIRES_SECS,
        }
    }
}

/// Parsed but not yet verified: who claims to have signed.
///
/// Only [`parse`] constructs it; pass it to [`verify`] with the secret of
/// `access_key_id`. `Debug` redacts the signature and the session token.
#[derive(Clone)]
pub struct Claim {
    /// The access key id from the credential scope.
    pub access_key_id: String,
    /// `X-Amz-Security-Token` (header, or query parameter when presigned), if any.
    /// Not validated here: the caller must check that it belongs to `access_key_id`.
    pub session_token: Option<String>,
    /// True for the presigned (query-string) form.
    pub presigned: bool,
    /// Request time, `yyyymmddThhmmssZ` (from `X-Amz-Date`, or the `Date` header).
    amz_date: String,
    signed_at: i64,
    expires_at: Option<i64>,
    scope_date: String,
    region: String,
    service: String,
    signed_headers: Vec<String>,
    signature: [u8; 32],
}

impl Claim {
    /// Request time, seconds since the Unix epoch.
    pub fn signed_at_epoch_secs(&self) -> i64 {
        self.signed_at
    }

    /// For presigned requests, `X-Amz-Date + X-Amz-Expires`.
    pub fn expires_at_epoch_secs(&self) -> Option<i64> {
        self.expires_at
    }

    /// `date/region/service/aws4_request`.
    pub fn credential_scope(&self) -> String {
        format!(
            "{}/{}/{}/{TERMINATOR}",
            self.scope_date, self.region, self.service
        )
    }

    /// The lower-case header names covered by the signature, sorted.
    pub fn signed_headers(&self) -> &[String] {
        &self.signed_headers
    }
}

impl fmt::Debug for Claim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Claim")
            .field("access_key_id", &self.access_key_id)
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .field("presigned", &self.presigned)
            .field("amz_date", &self.amz_date)
            .field("credential_scope", &self.credential_scope())
            .field("signed_headers", &self.signed_headers)
            .field("signature", &"<redacted>")
            .finish()
    }
}

/// Why a request is not authenticated. Codes and messages follow AWS's.
///
/// Messages never contain a signature, a secret or a session token; values echoed
/// from the request are truncated and escaped.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SigV4Error {
    /// No `Authorization` header and no `X-Amz-*` query authentication (AWS: 403).
    MissingAuthenticationToken,
    /// Malformed or incomplete signature data, or a bound exceeded (AWS: 400).
    IncompleteSignature(String),
    /// Unknown or inactive access key. Not produced here: for the caller after the
    /// key lookup (AWS: 403).
    InvalidClientTokenId,
    /// The recomputed signature differs, or the body does not match its declared hash
    /// (AWS: 403).
    SignatureDoesNotMatch(String),
    /// The request time is outside the allowed window (AWS: 400).
    RequestExpired(String),
    /// Well-formed but unacceptable: wrong region, service or terminator in the
    /// credential scope, scope date differs from the request date, `host` or the date
    /// header not signed, a signed header absent, `X-Amz-Expires` too large
    /// (AWS: 400 for JSON-protocol services).
    InvalidSignatureException(String),
}

impl SigV4Error {
    /// AWS's error code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            SigV4Error::MissingAuthenticationToken => "MissingAuthenticationToken",
            SigV4Error::IncompleteSignature(_) => "IncompleteSignature",
            SigV4Error::InvalidClientTokenId => "InvalidClientTokenId",
            SigV4Error::SignatureDoesNotMatch(_) => "SignatureDoesNotMatch",
            SigV4Error::RequestExpired(_) => "RequestExpired",
            SigV4Error::InvalidSignatureException(_) => "InvalidSignatureException",
        }
    }

    /// Human-readable message, safe to return to the client.
    pub fn message(&self) -> String {
        match self {
            SigV4Error::MissingAuthenticationToken => {
                "Request is missing Authentication Token".to_string()
            }
            SigV4Error::InvalidClientTokenId => {
                "The security token included in the request is invalid.".to_string()
            }
            SigV4Error::IncompleteSignature(m)
            | SigV4Error::SignatureDoesNotMatch(m)
            | SigV4Error::RequestExpired(m)
            | SigV4Error::InvalidSignatureException(m) => m.clone(),
        }
    }
}

impl fmt::Display for SigV4Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.message())
    }
}

impl std::error::Error for SigV4Error {}

fn incomplete(msg: impl Into<String>) -> SigV4Error {
    SigV4Error::IncompleteSignature(msg.into())
}

fn invalid(msg: impl Into<String>) -> SigV4Error {
    SigV4Error::InvalidSignatureException(msg.into())
}

fn mismatch() -> SigV4Error {
    SigV4Error::SignatureDoesNotMatch(
        "The request signature we calculated does not match the signature you provided. \
         Check your AWS Secret Access Key and signing method. \
         Consult the service documentation for details."
            .to_string(),
    )
}

/// Echo a client-supplied value in a message: at most 64 characters, escaped.
fn show(s: &str) -> String {
    let mut out: String = s.chars().take(64).flat_map(char::escape_debug).collect();
    if s.chars().nth(64).is_some() {
        out.push('…');
    }
    out
}

// ---------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------

/// True if the request carries SigV4 authentication data at all (an `Authorization`
/// header starting with `AWS4-`, or `X-Amz-Algorithm`/`-Credential`/`-Signature` in
/// the query). Lets the HTTP layer choose between SigV4 and other schemes; a request
/// for which this is true must go through [`parse`].
pub fn is_sigv4(req: &HttpRequest<'_>) -> bool {
    let header = req
        .headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("authorization") && v.starts_with(b"AWS4-"));
    header
        || req
            .query
            .split('&')
            .take(MAX_QUERY_PARAMS + 1)
            .map(|p| p.split('=').next().unwrap_or(""))
            // The auth parameter names are short even when fully percent-encoded.
            .filter(|name| name.len() <= 64)
            .any(|name| is_query_auth_param(&decode(name)))
}

fn is_query_auth_param(name: &[u8]) -> bool {
    matches!(
        name,
        b"X-Amz-Algorithm" | b"X-Amz-Credential" | b"X-Amz-Signature"
    )
}

/// Parse and check the authentication data of `req` without the secret.
///
/// Header form: `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…,
/// Signature=…` with `X-Amz-Date` (or `Date`); `|now - date| <= max_skew`.
/// Presigned form: `X-Amz-Algorithm`, `X-Amz-Credential`, `X-Amz-Date`,
/// `X-Amz-Expires`, `X-Amz-SignedHeaders`, `X-Amz-Signature` and optionally
/// `X-Amz-Security-Token` in the query; `now` within `[date - skew, date + expires]`.
pub fn parse(req: &HttpRequest<'_>, expect: &Expect<'_>) -> Result<Claim, SigV4Error> {
    check_bounds(req)?;
    let params = split_query(req.query)?;
    let auth_headers: Vec<&[u8]> = header_values(req, "authorization").collect();
    let query_auth = params.iter().any(|p| is_query_auth_param(&p.name));

    let raw = match (auth_headers.as_slice(), query_auth) {
        ([], false) => return Err(SigV4Error::MissingAuthenticationToken),
        ([_, ..], true) => {
            return Err(incomplete(
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter \
                 or the Authorization header should be specified",
            ))
        }
        ([value], false) => raw_from_header(req, value)?,
        ([], true) => raw_from_query(&params)?,
        (_, false) => return Err(incomplete("Multiple Authorization headers")),
    };
    claim_from_raw(req, expect, raw)
}

/// Authentication fields as found in the request, before validation.
struct RawAuth {
    presigned: bool,
    credential: String,
    signed_headers: String,
    signature: String,
    /// `yyyymmddThhmmssZ` and its epoch seconds.
    date: (String, i64),
    /// Header form: the lower-case name of the header that supplied the date.
    date_header: Option<&'static str>,
    expires: Option<i64>,
    session_token: Option<String>,
}

fn check_bounds(req: &HttpRequest<'_>) -> Result<(), SigV4Error> {
    if req.headers.len() > MAX_HEADERS {
        return Err(incomplete(format!(
            "Too many request headers (limit {MAX_HEADERS})"
        )));
    }
    if req.path.len() > MAX_PATH_LEN {
        return Err(incomplete(format!(
            "Request path too long (limit {MAX_PATH_LEN} bytes)"
        )));
    }
    if req.query.len() > MAX_QUERY_LEN {
        return Err(incomplete(format!(
            "Query string too long (limit {MAX_QUERY_LEN} bytes)"
        )));
    }
    if req.method.is_empty() || req.method.len() > MAX_METHOD_LEN {
        return Err(incomplete("Invalid request method"));
    }
    Ok(())
}

fn header_values<'r>(
    req: &'r HttpRequest<'_>,
    lower_name: &'r str,
) -> impl Iterator<Item = &'r [u8]> + 'r {
    req.headers
        .iter()
        .filter(move |(n, _)| n.eq_ignore_ascii_case(lower_name))
        .map(|(_, v)| *v)
}

/// At most one header `lower_name`, as trimmed UTF-8.
fn single_header<'r>(
    req: &'r HttpRequest<'_>,
    lower_name: &'r str,
    display: &str,
) -> Result<Option<&'r str>, SigV4Error> {
    let mut values = header_values(req, lower_name);
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(incomplete(format!("Multiple {display} headers")));
    }
    let s = std::str::from_utf8(first)
        .map_err(|_| incomplete(format!("{display} header is not valid UTF-8")))?;
    Ok(Some(s.trim_matches([' ', '\t'])))
}

fn raw_from_header(req: &HttpRequest<'_>, value: &[u8]) -> Result<RawAuth, SigV4Error> {
    if value.len() > MAX_AUTHORIZATION_LEN {
        return Err(incomplete(format!(
            "Authorization header too long (limit {MAX_AUTHORIZATION_LEN} bytes)"
        )));
    }
    let value = std::str::from_utf8(value)
        .map_err(|_| incomplete("Authorization header is not valid UTF-8"))?
        .trim_matches([' ', '\t']);
    let (algorithm, rest) = match value.split_once([' ', '\t']) {
        Some((a, r)) => (a, r),
        None => (value, ""),
    };
    if algorithm != ALGORITHM {
        return Err(incomplete(format!(
            "Unsupported AWS 'algorithm': '{}' (expected '{ALGORITHM}')",
            show(algorithm)
        )));
    }

    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split(',') {
        let part = part.trim_matches([' ', '\t']);
        if part.is_empty() {
            continue;
        }
        // Not echoed: the fragment could be (part of) the signature.
        let Some((key, val)) = part.split_once('=') else {
            return Err(incomplete(
                "Authorization header component is not a valid key=value pair \
                 (missing equal-sign)",
            ));
        };
        let slot = match key {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => {
                return Err(incomplete(format!(
                    "Unknown parameter '{}' in Authorization header",
                    show(key)
                )))
            }
        };
        if slot.replace(val.to_string()).is_some() {
            return Err(incomplete(format!(
                "Duplicate '{key}' parameter in Authorization header"
            )));
        }
    }
    let missing: Vec<&str> = [
        ("Credential", credential.is_none()),
        ("Signature", signature.is_none()),
        ("SignedHeaders", signed_headers.is_none()),
    ]
    .iter()
    .filter(|(_, m)| *m)
    .map(|(n, _)| *n)
    .collect();
    let (Some(credential), Some(signed_headers), Some(signature)) =
        (credential, signed_headers, signature)
    else {
        let list: Vec<String> = missing
            .iter()
            .map(|n| format!("Authorization header requires '{n}' parameter."))
            .collect();
        return Err(incomplete(list.join(" ")));
    };

    let (date, date_header) = if let Some(d) = single_header(req, "x-amz-date", "X-Amz-Date")? {
        let epoch = parse_amz_date(d).ok_or_else(|| {
            incomplete(format!(
                "Invalid X-Amz-Date '{}': expected yyyymmddThhmmssZ",
                show(d)
            ))
        })?;
        ((d.to_string(), epoch), "x-amz-date")
    } else if let Some(d) = single_header(req, "date", "Date")? {
        let epoch = parse_http_date(d).ok_or_else(|| {
            incomplete(format!(
                "Invalid Date header '{}': expected an IMF-fixdate",
                show(d)
            ))
        })?;
        ((format_amz_date(epoch), epoch), "date")
    } else {
        return Err(incomplete(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        ));
    };

    let session_token =
        single_header(req, "x-amz-security-token", "X-Amz-Security-Token")?.map(str::to_string);

    Ok(RawAuth {
        presigned: false,
        credential,
        signed_headers,
        signature,
        date,
        date_header: Some(date_header),
        expires: None,
        session_token,
    })
}

fn raw_from_query(params: &[QueryParam]) -> Result<RawAuth, SigV4Error> {
    let get = |name: &str, required: bool| -> Result<Option<String>, SigV4Error> {
        let mut found = params.iter().filter(|p| p.name == name.as_bytes());
        let Some(first) = found.next() else {
            return if required {
                Err(incomplete(format!(
                    "AWS query-string parameters must include '{name}'. \
                     Re-examine the query-string parameters."
                )))
            } else {
                Ok(None)
            };
        };
        if found.next().is_some() {
            return Err(incomplete(format!("Duplicate query parameter '{name}'")));
        }
        let value = String::from_utf8(first.value.clone())
            .map_err(|_| incomplete(format!("Query parameter '{name}' is not valid UTF-8")))?;
        Ok(Some(value))
    };
    // Order matters only for which error is reported first.
    let algorithm = get("X-Amz-Algorithm", true)?.unwrap_or_default();
    let credential = get("X-Amz-Credential", true)?.unwrap_or_default();
    let date = get("X-Amz-Date", true)?.unwrap_or_default();
    let expires = get("X-Amz-Expires", true)?.unwrap_or_default();
    let signed_headers = get("X-Amz-SignedHeaders", true)?.unwrap_or_default();
    let signature = get("X-Amz-Signature", true)?.unwrap_or_default();
    let session_token = get("X-Amz-Security-Token", false)?;

    if algorithm != ALGORITHM {
        return Err(incomplete(format!(
            "Unsupported X-Amz-Algorithm '{}' (expected '{ALGORITHM}')",
            show(&algorithm)
        )));
    }
    let epoch = parse_amz_date(&date).ok_or_else(|| {
        incomplete(format!(
            "Invalid X-Amz-Date '{}': expected yyyymmddThhmmssZ",
            show(&date)
        ))
    })?;
    let expires_secs = parse_decimal(&expires).ok_or_else(|| {
        incomplete(format!(
            "X-Amz-Expires must be a non-negative integer, not '{}'",
            show(&expires)
        ))
    })?;
    Ok(RawAuth {
        presigned: true,
        credential,
        signed_headers,
        signature,
        date: (date, epoch),
        date_header: None,
        expires: Some(expires_secs),
        session_token,
    })
}

fn parse_decimal(s: &str) -> Option<i64> {
    if s.is_empty() || s.len() > 18 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn claim_from_raw(
    req: &HttpRequest<'_>,
    expect: &Expect<'_>,
    raw: RawAuth,
) -> Result<Claim, SigV4Error> {
    let form = if raw.presigned {
        "X-Amz-SignedHeaders"
    } else {
        "SignedHeaders"
    };

    // Credential = AKID/yyyymmdd/region/service/aws4_request
    let parts: Vec<&str> = raw.credential.splitn(6, '/').collect();
    let [akid, scope_date, region, service, terminator] = parts.as_slice() else {
        return Err(incomplete(format!(
            "Credential must have the form \
             <access key id>/<yyyymmdd>/<region>/<service>/{TERMINATOR}, \
             not '{}'",
            show(&raw.credential)
        )));
    };
    if akid.is_empty()
        || akid.len() > MAX_ACCESS_KEY_ID_LEN
        || !akid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(incomplete(format!(
            "Invalid access key id '{}' in Credential",
            show(akid)
        )));
    }
    if scope_date.len() != 8 || !scope_date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(incomplete(format!(
            "Invalid date '{}' in Credential scope: expected yyyymmdd",
            show(scope_date)
        )));
    }
    if region.len() > MAX_SCOPE_PART_LEN || service.len() > MAX_SCOPE_PART_LEN {
        return Err(incomplete("Credential scope component too long"));
    }

    let signed_headers = parse_signed_headers(&raw.signed_headers, form)?;
    let signature = parse_signature(&raw.signature)?;
    let session_token = match raw.session_token {
        Some(t) if t.is_empty() => return Err(incomplete("Empty X-Amz-Security-Token")),
        Some(t) if t.len() > MAX_SESSION_TOKEN_LEN => {
            return Err(incomplete(format!(
                "X-Amz-Security-Token too long (limit {MAX_SESSION_TOKEN_LEN} bytes)"
            )))
        }
        other => other,
    };

    // Scope checks: AWS reports these before looking at time or the signature.
    if *region != expect.region {
        return Err(invalid(format!(
            "Credential should be scoped to a valid region, not '{}'.",
            show(region)
        )));
    }
    if *service != expect.service {
        return Err(invalid(format!(
            "Credential should be scoped to correct service: '{}'.",
            show(expect.service)
        )));
    }
    if *terminator != TERMINATOR {
        return Err(invalid(format!(
            "Credential should be scoped with a valid terminator: '{TERMINATOR}', not '{}'.",
            show(terminator)
        )));
    }
    let (amz_date, signed_at) = raw.date;
    if amz_date.get(..8) != Some(*scope_date) {
        return Err(invalid(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date \
             from HTTP: '{}' != '{}', from '{}'.",
            show(scope_date),
            amz_date.get(..8).unwrap_or(""),
            amz_date
        )));
    }

    // `host` must be signed (AWS requires it; it binds the request to this server), and
    // in header form so must the header that carries the request time.
    if !signed_headers.iter().any(|h| h == "host") {
        return Err(invalid(format!(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization ({form})."
        )));
    }
    if let Some(date_header) = raw.date_header {
        if !signed_headers.iter().any(|h| h == date_header) {
            return Err(invalid(format!(
                "'{date_header}' must be a 'SignedHeader' in the AWS Authorization."
            )));
        }
    }
    for name in &signed_headers {
        if header_values(req, name).next().is_none() {
            return Err(invalid(format!(
                "Header '{}' is listed in {form} but absent from the request.",
                show(name)
            )));
        }
    }
    check_content_sha256_syntax(req)?;

    // Time window.
    let now = expect.now_epoch_secs;
    let skew = expect.max_skew_secs;
    let expires_at = match raw.expires {
        None => {
            if signed_at < now.saturating_sub(skew) {
                return Err(SigV4Error::RequestExpired(format!(
                    "Signature expired: {amz_date} is now earlier than {} ({} - {} min.)",
                    format_amz_date(now.saturating_sub(skew)),
                    format_amz_date(now),
                    skew / 60
                )));
            }
            if signed_at > now.saturating_add(skew) {
                return Err(SigV4Error::RequestExpired(format!(
                    "Signature not yet current: {amz_date} is still later than {} ({} + {} min.)",
                    format_amz_date(now.saturating_add(skew)),
                    format_amz_date(now),
                    skew / 60
                )));
            }
            None
        }
        Some(expires) => {
            if expires > expect.max_presign_expires_secs {
                return Err(invalid(format!(
                    "X-Amz-Expires must be at most {} seconds",
                    expect.max_presign_expires_secs
                )));
            }
            let expires_at = signed_at.saturating_add(expires);
            if now > expires_at {
                return Err(SigV4Error::RequestExpired(format!(
                    "Request has expired: X-Amz-Date {amz_date} + X-Amz-Expires {expires} s \
                     is earlier than {}",
                    format_amz_date(now)
                )));
            }
            if signed_at > now.saturating_add(skew) {
                return Err(SigV4Error::RequestExpired(format!(
                    "Request is not yet valid: X-Amz-Date {amz_date} is later than {} \
                     ({} + {} min.)",
                    format_amz_date(now.saturating_add(skew)),
                    format_amz_date(now),
                    skew / 60
                )));
            }
            Some(expires_at)
        }
    };

    Ok(Claim {
        access_key_id: akid.to_string(),
        session_token,
        presigned: raw.presigned,
        scope_date: scope_date.to_string(),
        region: region.to_string(),
        service: service.to_string(),
        amz_date,
        signed_at,
        expires_at,
        signed_headers,
        signature,
    })
}

/// `host;x-amz-date`: non-empty, lower-case tokens, strictly ascending.
fn parse_signed_headers(s: &str, form: &str) -> Result<Vec<String>, SigV4Error> {
    let mut out: Vec<String> = Vec::new();
    for name in s.split(';') {
        if out.len() >= MAX_SIGNED_HEADERS {
            return Err(incomplete(format!(
                "Too many entries in {form} (limit {MAX_SIGNED_HEADERS})"
            )));
        }
        let valid = !name.is_empty()
            && name.len() <= MAX_HEADER_NAME_LEN
            && name.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b)
            });
        if !valid {
            return Err(incomplete(format!(
                "Invalid header name '{}' in {form}: names must be lower-case HTTP tokens \
                 separated by ';'",
                show(name)
            )));
        }
        if let Some(prev) = out.last() {
            if prev.as_str() >= name {
                return Err(incomplete(format!(
                    "{form} must be sorted and free of duplicates ('{}' after '{}')",
                    show(name),
                    show(prev)
                )));
            }
        }
        out.push(name.to_string());
    }
    Ok(out)
}

fn parse_signature(s: &str) -> Result<[u8; 32], SigV4Error> {
    let mut sig = [0u8; 32];
    if s.len() != 64 || hex::decode_to_slice(s, &mut sig).is_err() {
        return Err(incomplete(
            "Signature must be 64 hexadecimal characters (HMAC-SHA256)",
        ));
    }
    Ok(sig)
}

fn check_content_sha256_syntax(req: &HttpRequest<'_>) -> Result<(), SigV4Error> {
    match single_header(req, "x-amz-content-sha256", "X-Amz-Content-Sha256")? {
        None => Ok(()),
        Some(v) if v == UNSIGNED_PAYLOAD || is_sha256_hex(v) => Ok(()),
        Some(v) => Err(incomplete(format!(
            "X-Amz-Content-Sha256 must be {UNSIGNED_PAYLOAD} or a hex SHA-256, not '{}'",
            show(v)
        ))),
    }
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

// ---------------------------------------------------------------------------------
// Verification
// ---------------------------------------------------------------------------------

/// Recompute the signature of `req` for `claim` with `secret_access_key` and compare
/// it in constant time. `req` must be the request `claim` was parsed from.
pub fn verify(
    req: &HttpRequest<'_>,
    claim: &Claim,
    secret_access_key: &[u8],
) -> Result<(), SigV4Error> {
    check_bounds(req)?;
    let key = signing_key(
        secret_access_key,
        &claim.scope_date,
        &claim.region,
        &claim.service,
    )
    .ok_or_else(mismatch)?;
    let mut matched = subtle::Choice::from(0u8);
    // AWS's canonical URI first; then the path exactly as received, which is
    // what curl 7.88's --aws-sigv4 signs (no second encoding). Both are
    // computed from the bytes received, so the fallback accepts no request
    // that the signer did not sign: any other request with the same
    // canonical text names the same resource.
    let aws_uri = canonical_uri(req.path);
    let mut uris = vec![aws_uri.clone()];
    if req.path != aws_uri && req.path.starts_with('/') {
        uris.push(req.path.to_owned());
    }
    for payload in payload_candidates(req, claim)? {
        for uri in &uris {
            let creq = build_canonical_request_with_uri(req, claim, &payload, uri)?;
            let sts = string_to_sign(claim, &creq);
            let sig = hmac_sha256(key.as_slice(), sts.as_bytes()).ok_or_else(mismatch)?;
            matched |= sig.ct_eq(&claim.signature);
        }
    }
    if bool::from(matched) {
        Ok(())
    } else {
        Err(mismatch())
    }
}

/// The payload hashes to try, best first. Never more than two: the body hash, and
/// `UNSIGNED-PAYLOAD` for a presigned request with an empty body.
fn payload_candidates(req: &HttpRequest<'_>, claim: &Claim) -> Result<Vec<String>, SigV4Error> {
    let body = req.body_sha256_hex.to_ascii_lowercase();
    let body_is_empty = body == EMPTY_SHA256_HEX;
    match single_header(req, "x-amz-content-sha256", "X-Amz-Content-Sha256")? {
        Some(v) if v == UNSIGNED_PAYLOAD => {
            // Accepting UNSIGNED-PAYLOAD with a body would leave the body
            // unauthenticated; ward's API has no use for that.
            if body_is_empty {
                Ok(vec![v.to_string()])
            } else {
                Err(SigV4Error::SignatureDoesNotMatch(format!(
                    "{UNSIGNED_PAYLOAD} is only accepted for requests without a body"
                )))
            }
        }
        Some(v) => {
            if v.eq_ignore_ascii_case(&body) {
                Ok(vec![v.to_string()])
            } else {
                Err(SigV4Error::SignatureDoesNotMatch(
                    "The provided 'x-amz-content-sha256' header does not match what was computed."
                        .to_string(),
                ))
            }
        }
        // botocore, the AWS SDKs and the AWS test suite sign the body hash for
        // presigned non-S3 requests; S3-style signers use UNSIGNED-PAYLOAD.
        None if claim.presigned && body_is_empty => Ok(vec![body, UNSIGNED_PAYLOAD.to_string()]),
        None => Ok(vec![body]),
    }
}

/// The canonical request that `verify` checks first (for a presigned request with an
/// empty body and no `X-Amz-Content-Sha256`, `verify` also tries `UNSIGNED-PAYLOAD`).
/// Bytes, because header values may contain obs-text. For tests and debugging.
pub fn canonical_request(req: &HttpRequest<'_>, claim: &Claim) -> Result<Vec<u8>, SigV4Error> {
    check_bounds(req)?;
    let payload = payload_candidates(req, claim)?
        .into_iter()
        .next()
        .unwrap_or_default();
    build_canonical_request(req, claim, &payload)
}

/// `AWS4-HMAC-SHA256\n<date>\n<scope>\n<hex sha256(canonical request)>`.
pub fn string_to_sign(claim: &Claim, canonical_request: &[u8]) -> String {
    format!(
        "{ALGORITHM}\n{}\n{}\n{}",
        claim.amz_date,
        claim.credential_scope(),
        hex::encode(Sha256::digest(canonical_request))
    )
}

fn build_canonical_request(
    req: &HttpRequest<'_>,
    claim: &Claim,
    payload: &str,
) -> Result<Vec<u8>, SigV4Error> {
    build_canonical_request_with_uri(req, claim, payload, &canonical_uri(req.path))
}

fn build_canonical_request_with_uri(
    req: &HttpRequest<'_>,
    claim: &Claim,
    payload: &str,
    uri: &str,
) -> Result<Vec<u8>, SigV4Error> {
    let query = canonical_query(req.query, claim.presigned)?;
    let mut headers = Vec::new();
    for name in &claim.signed_headers {
        push_header_line(&mut headers, name, header_values(req, name));
        if headers.len() > MAX_CANONICAL_HEADERS_LEN {
            return Err(incomplete(format!(
                "Signed headers too large (limit {MAX_CANONICAL_HEADERS_LEN} bytes)"
            )));
        }
    }
    Ok(assemble_canonical_request(
        req.method,
        uri,
        &query,
        &headers,
        &claim.signed_headers.join(";"),
        payload,
    ))
}

fn assemble_canonical_request(
    method: &str,
    uri: &str,
    query: &str,
    header_lines: &[u8],
    signed_headers: &str,
    payload: &str,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        method.len() + uri.len() + query.len() + header_lines.len() + signed_headers.len() + 80,
    );
    for part in [method, uri, query] {
        out.extend_from_slice(part.as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice(header_lines);
    out.push(b'\n');
    out.extend_from_slice(signed_headers.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(payload.as_bytes());
    out
}

/// `name:v1,v2\n`, each value trimmed with inner whitespace runs collapsed.
fn push_header_line<'v>(out: &mut Vec<u8>, name: &str, values: impl Iterator<Item = &'v [u8]>) {
    out.extend_from_slice(name.as_bytes());
    out.push(b':');
    for (i, value) in values.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let (mut started, mut pending_space) = (false, false);
        for &b in value {
            if b.is_ascii_whitespace() {
                pending_space = started;
            } else {
                if pending_space {
                    out.push(b' ');
                }
                (started, pending_space) = (true, false);
                out.push(b);
            }
        }
    }
    out.push(b'\n');
}

/// Normalize the raw path (RFC 3986 §5.2.4 plus removal of empty segments, as AWS's
/// non-S3 services and botocore do) and URI-encode each segment once more.
fn canonical_uri(raw_path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for seg in raw_path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(raw_path.len() + 16);
    out.push('/');
    for (i, seg) in segments.iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.extend(percent_encode(seg.as_bytes(), AWS_URI_ENCODE));
    }
    if raw_path.ends_with('/') && !segments.is_empty() {
        out.push('/');
    }
    out
}

struct QueryParam {
    name: Vec<u8>,
    value: Vec<u8>,
}

fn split_query(query: &str) -> Result<Vec<QueryParam>, SigV4Error> {
    let mut out = Vec::new();
    for raw in query.split('&').filter(|p| !p.is_empty()) {
        if out.len() >= MAX_QUERY_PARAMS {
            return Err(incomplete(format!(
                "Too many query parameters (limit {MAX_QUERY_PARAMS})"
            )));
        }
        let (name, value) = raw.split_once('=').unwrap_or((raw, ""));
        out.push(QueryParam {
            name: decode(name),
            value: decode(value),
        });
    }
    Ok(out)
}

fn decode(s: &str) -> Vec<u8> {
    percent_decode(s.as_bytes()).collect()
}

fn encode(bytes: &[u8]) -> String {
    percent_encode(bytes, AWS_URI_ENCODE).to_string()
}

fn canonical_query(query: &str, presigned: bool) -> Result<String, SigV4Error> {
    let mut pairs: Vec<(String, String)> = split_query(query)?
        .into_iter()
        .filter(|p| !(presigned && p.name == b"X-Amz-Signature"))
        .map(|p| (encode(&p.name), encode(&p.value)))
        .collect();
    pairs.sort_unstable();
    Ok(join_query(&pairs))
}

fn join_query(pairs: &[(String, String)]) -> String {
    let mut out = String::new();
    for (i, (n, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(n);
        out.push('=');
        out.push_str(v);
    }
    out
}

// ---------------------------------------------------------------------------------
// Crypto
// ---------------------------------------------------------------------------------

/// HMAC-SHA256. `None` is unreachable (HMAC takes keys of any length) but callers fail
/// closed on it rather than unwrap.
fn hmac_sha256(key: &[u8], msg: &[u8]) -> Option<[u8; 32]> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).ok()?;
    mac.update(msg);
    Some(mac.finalize().into_bytes().into())
}

/// kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request").
fn signing_key(
    secret: &[u8],
    date: &str,
    region: &str,
    service: &str,
) -> Option<Zeroizing<[u8; 32]>> {
    let mut k_secret = Zeroizing::new(Vec::with_capacity(4 + secret.len()));
    k_secret.extend_from_slice(b"AWS4");
    k_secret.extend_from_slice(secret);
    let k_date = Zeroizing::new(hmac_sha256(&k_secret, date.as_bytes())?);
    let k_region = Zeroizing::new(hmac_sha256(k_date.as_slice(), region.as_bytes())?);
    let k_service = Zeroizing::new(hmac_sha256(k_region.as_slice(), service.as_bytes())?);
    Some(Zeroizing::new(hmac_sha256(
        k_service.as_slice(),
        TERMINATOR.as_bytes(),
    )?))
}

// ---------------------------------------------------------------------------------
// Time
// ---------------------------------------------------------------------------------

/// `yyyymmddThhmmssZ` → seconds since the Unix epoch; `None` if malformed.
pub fn parse_amz_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let digits = b.get(r)?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(
            digits
                .iter()
                .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0')),
        )
    };
    civil_to_epoch(
        num(0..4)?,
        num(4..6)?,
        num(6..8)?,
        num(9..11)?,
        num(11..13)?,
        num(13..15)?,
    )
}

/// Seconds since the Unix epoch → `yyyymmddThhmmssZ` (for `sign`'s `amz_date`).
pub fn format_amz_date(epoch_secs: i64) -> String {
    let days = epoch_secs.div_euclid(86_400);
    let secs = epoch_secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC 9110 §5.6.7) → epoch seconds.
fn parse_http_date(s: &str) -> Option<i64> {
    let parts: Vec<&str> = s.split(' ').collect();
    let [wday, day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    if !["Mon,", "Tue,", "Wed,", "Thu,", "Fri,", "Sat,", "Sun,"].contains(wday) {
        return None;
    }
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| m == month)?;
    let digits = |s: &str, n: usize| -> Option<i64> {
        (s.len() == n && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let t: Vec<&str> = time.split(':').collect();
    let [hh, mm, ss] = t.as_slice() else {
        return None;
    };
    civil_to_epoch(
        digits(year, 4)?,
        i64::try_from(month).ok()? + 1,
        digits(day, 2)?,
        digits(hh, 2)?,
        digits(mm, 2)?,
        digits(ss, 2)?,
    )
}

fn civil_to_epoch(y: i64, m: i64, d: i64, hh: i64, mm: i64, ss: i64) -> Option<i64> {
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if !(1..=month_days).contains(&d) || hh > 23 || mm > 59 || ss > 59 {
        return None;
    }
    Some(days_from_civil(y, m, d) * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

// ---------------------------------------------------------------------------------
// Client-side signer
// ---------------------------------------------------------------------------------

/// What [`sign`] produces: the headers to add and the query string to send.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    /// Value of the `Authorization` header.
    pub authorization: String,
    /// Value of the `X-Amz-Date` header.
    pub x_amz_date: String,
    /// Value of the `X-Amz-Content-Sha256` header (hex SHA-256 of the body).
    pub x_amz_content_sha256: String,
    /// Value of the `X-Amz-Security-Token` header, when a session token was given.
    pub x_amz_security_token: Option<String>,
    /// The query string to send (without `?`): sorted and encoded exactly as signed.
    pub canonical_query: String,
}

impl fmt::Debug for SignedHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedHeaders")
            .field("authorization", &"<redacted>")
            .field("x_amz_date", &self.x_amz_date)
            .field("x_amz_content_sha256", &self.x_amz_content_sha256)
            .field(
                "x_amz_security_token",
                &self.x_amz_security_token.as_ref().map(|_| "<redacted>"),
            )
            .field("canonical_query", &self.canonical_query)
            .finish()
    }
}

/// Sign a request in header form (client side).
///
/// `path` is the path as it will be sent (already percent-encoded where needed);
/// `query_pairs` are unencoded names and values; `headers` are the headers that will
/// be sent verbatim and must include `host` (e.g. `127.0.0.1:8443`). Every header in
/// `headers` is signed, plus `x-amz-date`, `x-amz-content-sha256` and, with a session
/// token, `x-amz-security-token` (any of these, and `authorization`, given in
/// `headers` are ignored). `amz_date` is `yyyymmddThhmmssZ` (see [`format_amz_date`]).
///
/// Send `SignedHeaders::canonical_query` as the query string and add the
/// `Authorization`, `X-Amz-Date`, `X-Amz-Content-Sha256` (and `X-Amz-Security-Token`)
/// headers. This function does no validation; bad input yields a request that
/// [`parse`]/[`verify`] reject.
#[allow(clippy::too_many_arguments)] // The interface the CLI and tests were promised.
pub fn sign(
    method: &str,
    path: &str,
    query_pairs: &[(&str, &str)],
    headers: &[(&str, &str)],
    body: &[u8],
    access_key_id: &str,
    secret: &str,
    session_token: Option<&str>,
    region: &str,
    service: &str,
    amz_date: &str,
) -> SignedHeaders {
    let content_sha256 = hex::encode(Sha256::digest(body));
    let mut pairs: Vec<(String, String)> = query_pairs
        .iter()
        .map(|(n, v)| (encode(n.as_bytes()), encode(v.as_bytes())))
        .collect();
    pairs.sort_unstable();
    let canonical_query = join_query(&pairs);

    const OURS: [&str; 4] = [
        "authorization",
        "x-amz-date",
        "x-amz-content-sha256",
        "x-amz-security-token",
    ];
    let mut all: Vec<(String, &str)> = headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), *v))
        .filter(|(n, _)| !OURS.contains(&n.as_str()))
        .collect();
    all.push(("x-amz-date".to_string(), amz_date));
    all.push(("x-amz-content-sha256".to_string(), &content_sha256));
    if let Some(token) = session_token {
        all.push(("x-amz-security-token".to_string(), token));
    }
    all.sort_by(|a, b| a.0.cmp(&b.0)); // stable: repeated headers keep their order
    let mut names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
    names.dedup();
    let mut header_lines = Vec::new();
    for name in &names {
        let values = all
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_bytes());
        push_header_line(&mut header_lines, name, values);
    }
    let signed_headers = names.join(";");

    let creq = assemble_canonical_request(
        method,
        &canonical_uri(path),
        &canonical_query,
        &header_lines,
        &signed_headers,
        &content_sha256,
    );
    let scope_date = amz_date.get(..8).unwrap_or(amz_date);
    let scope = format!("{scope_date}/{region}/{service}/{TERMINATOR}");
    let sts = format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(&creq))
    );
    // Fails closed: an empty signature is rejected by `parse`.
    let signature = signing_key(secret.as_bytes(), scope_date, region, service)
        .and_then(|key| hmac_sha256(key.as_slice(), sts.as_bytes()))
        .map(hex::encode)
        .unwrap_or_default();
    SignedHeaders {
        authorization: format!(
            "{ALGORITHM} Credential={access_key_id}/{scope}, SignedHeaders={signed_headers}, \
             Signature={signature}"
        ),
        x_amz_date: amz_date.to_string(),
        x_amz_content_sha256: content_sha256,
        x_amz_security_token: session_token.map(str::to_string),
        canonical_query,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    const AKID: &str = "AKIAIOSFODNN7EXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    const DATE: &str = "20240102T030405Z";
    const HOST: &str = "127.0.0.1:8443";
    const ZERO_SIG: &str = "0000000000000000000000000000000000000000000000000000000000000000";

    fn now() -> i64 {
        parse_amz_date(DATE).unwrap()
    }

    fn expect(now: i64) -> Expect<'static> {
        Expect::new("local", "ward", now)
    }

    /// An owned request that tests can edit.
    #[derive(Clone, Debug)]
    struct Req {
        method: String,
        path: String,
        query: String,
        headers: Vec<(String, Vec<u8>)>,
        body: Vec<u8>,
    }

    impl Req {
        fn new(method: &str, path: &str) -> Req {
            Req {
                method: method.into(),
                path: path.into(),
                query: String::new(),
                headers: vec![("Host".into(), HOST.into())],
                body: Vec::new(),
            }
        }

        /// `GET /v1/users?MaxItems=10`, signed with `sign`.
        fn signed() -> Req {
            Req::new("GET", "/v1/users").sign(&[("MaxItems", "10")], None)
        }

        fn sign(mut self, query: &[(&str, &str)], token: Option<&str>) -> Req {
            let headers: Vec<(String, String)> = self
                .headers
                .iter()
                .map(|(n, v)| (n.clone(), String::from_utf8(v.clone()).unwrap()))
                .collect();
            let headers: Vec<(&str, &str)> = headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            let s = super::sign(
                &self.method,
                &self.path,
                query,
                &headers,
                &self.body,
                AKID,
                SECRET,
                token,
                "local",
                "ward",
                DATE,
            );
            self.query = s.canonical_query;
            self = self
                .add("Authorization", &s.authorization)
                .add("X-Amz-Date", &s.x_amz_date)
                .add("X-Amz-Content-Sha256", &s.x_amz_content_sha256);
            if let Some(t) = s.x_amz_security_token {
                self = self.add("X-Amz-Security-Token", &t);
            }
            self
        }

        fn add(mut self, name: &str, value: impl AsRef<[u8]>) -> Req {
            self.headers.push((name.into(), value.as_ref().to_vec()));
            self
        }

        fn remove(mut self, name: &str) -> Req {
            self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
            self
        }

        fn set(self, name: &str, value: impl AsRef<[u8]>) -> Req {
            self.remove(name).add(name, value)
        }

        fn query(mut self, q: &str) -> Req {
            self.query = q.into();
            self
        }

        fn body(mut self, b: &[u8]) -> Req {
            self.body = b.to_vec();
            self
        }

        fn header(&self, name: &str) -> String {
            let (_, v) = self
                .headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .unwrap();
            String::from_utf8(v.clone()).unwrap()
        }

        /// Rewrite the Authorization header.
        fn auth(self, f: impl FnOnce(&str) -> String) -> Req {
            let new = f(&self.header("authorization"));
            self.set("Authorization", new)
        }

        fn with<R>(&self, f: impl FnOnce(&HttpRequest<'_>) -> R) -> R {
            let headers: Vec<(&str, &[u8])> = self
                .headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_slice()))
                .collect();
            let body_hash = hex::encode(Sha256::digest(&self.body));
            f(&HttpRequest {
                method: &self.method,
                path: &self.path,
                query: &self.query,
                headers: &headers,
                body_sha256_hex: &body_hash,
            })
        }

        /// Replace the placeholder signature `ZERO_SIG` (header or query) by the real
        /// one, computed with the module's own canonicalization. `payload` overrides
        /// the payload hash signed.
        fn resign(self, payload: Option<&str>) -> Req {
            let sig = self.with(|http| {
                let lenient = Expect {
                    max_presign_expires_secs: i64::MAX,
                    ..expect(now())
                };
                let claim = parse(http, &lenient).unwrap();
                let payload = payload.map_or_else(
                    || payload_candidates(http, &claim).unwrap()[0].clone(),
                    str::to_string,
                );
                let creq = build_canonical_request(http, &claim, &payload).unwrap();
                let sts = string_to_sign(&claim, &creq);
                let key = signing_key(SECRET.as_bytes(), &DATE[..8], "local", "ward").unwrap();
                hex::encode(hmac_sha256(key.as_slice(), sts.as_bytes()).unwrap())
            });
            let mut r = self;
            r.query = r.query.replace(ZERO_SIG, &sig);
            for (_, v) in &mut r.headers {
                if let Ok(s) = std::str::from_utf8(v) {
                    *v = s.replace(ZERO_SIG, &sig).into_bytes();
                }
            }
            r
        }
    }

    /// A presigned `GET /v1/users?MaxItems=10`.
    fn presigned(expires: &str, token: Option<&str>, payload: Option<&str>) -> Req {
        let mut q = vec![
            ("MaxItems".to_string(), "10".to_string()),
            ("X-Amz-Algorithm".into(), ALGORITHM.into()),
            (
                "X-Amz-Credential".into(),
                format!("{AKID}/{}/local/ward/aws4_request", &DATE[..8]),
            ),
            ("X-Amz-Date".into(), DATE.into()),
            ("X-Amz-Expires".into(), expires.into()),
            ("X-Amz-SignedHeaders".into(), "host".into()),
        ];
        if let Some(t) = token {
            q.push(("X-Amz-Security-Token".into(), t.into()));
        }
        q.push(("X-Amz-Signature".into(), ZERO_SIG.into()));
        let query: Vec<String> = q
            .iter()
            .map(|(n, v)| format!("{}={}", encode(n.as_bytes()), encode(v.as_bytes())))
            .collect();
        Req::new("GET", "/v1/users")
            .query(&query.join("&"))
            .resign(payload)
    }

    /// Run parse + verify; `Ok(())` or the error code. Also checks that no message
    /// echoes the signature.
    fn run(req: &Req, now: i64) -> Result<(), &'static str> {
        req.with(|http| {
            let result =
                parse(http, &expect(now)).and_then(|claim| verify(http, &claim, SECRET.as_bytes()));
            if let Err(e) = &result {
                let text = format!("{e} {e:?}");
                for (_, v) in http.headers {
                    if let Some(sig) = std::str::from_utf8(v)
                        .ok()
                        .and_then(|s| s.split("Signature=").nth(1))
                    {
                        assert!(!text.contains(sig), "signature echoed: {text}");
                    }
                }
            }
            result.map_err(|e| e.code())
        })
    }

    #[track_caller]
    fn check(name: &str, req: &Req, now: i64, want: Result<(), &str>) {
        assert_eq!(run(req, now), want, "{name}");
    }

    fn replace(s: &str, from: &str, to: &str) -> String {
        assert!(s.contains(from), "{from} not in {s}");
        s.replacen(from, to, 1)
    }

    #[test]
    fn parse_errors() {
        let ok = Req::signed();
        let sig = ok.header("authorization");
        let sig = sig.split("Signature=").nth(1).unwrap().to_string();
        let t = now();
        let big = "a".repeat(1 << 20);
        let many_headers = (0..10_000).fold(Req::signed(), |r, i| r.add(&format!("x-h{i}"), "v"));
        let many_signed: Vec<String> = (0..100).map(|i| format!("x-h{i:03}")).collect();
        let presigned_ok = presigned("3600", None, None);

        #[rustfmt::skip]
        let table: Vec<(&str, Req, i64, Result<(), &str>)> = vec![
            ("valid", ok.clone(), t, Ok(())),
            ("valid, header names in other case", Req { headers: ok.headers.iter().map(|(n, v)| (n.to_uppercase(), v.clone())).collect(), ..ok.clone() }, t, Ok(())),
            ("no authentication at all", ok.clone().remove("authorization"), t, Err("MissingAuthenticationToken")),
            ("garbage Authorization", ok.clone().set("Authorization", "garbage"), t, Err("IncompleteSignature")),
            ("Bearer Authorization", ok.clone().set("Authorization", "Bearer abc"), t, Err("IncompleteSignature")),
            ("empty Authorization", ok.clone().set("Authorization", ""), t, Err("IncompleteSignature")),
            ("algorithm only", ok.clone().set("Authorization", ALGORITHM), t, Err("IncompleteSignature")),
            ("SigV4a algorithm", ok.clone().auth(|a| replace(a, ALGORITHM, "AWS4-ECDSA-P256-SHA256")), t, Err("IncompleteSignature")),
            ("lower-case algorithm", ok.clone().auth(|a| replace(a, ALGORITHM, "aws4-hmac-sha256")), t, Err("IncompleteSignature")),
            ("missing Credential", ok.clone().auth(|a| replace(a, &format!("Credential={AKID}/20240102/local/ward/aws4_request,"), "")), t, Err("IncompleteSignature")),
            ("missing SignedHeaders", ok.clone().auth(|a| replace(a, "SignedHeaders=host;x-amz-content-sha256;x-amz-date,", "")), t, Err("IncompleteSignature")),
            ("missing Signature", ok.clone().auth(|a| replace(a, &format!(", Signature={sig}"), "")), t, Err("IncompleteSignature")),
            ("duplicate Signature", ok.clone().auth(|a| format!("{a}, Signature={sig}")), t, Err("IncompleteSignature")),
            ("unknown component", ok.clone().auth(|a| format!("{a}, Foo=bar")), t, Err("IncompleteSignature")),
            ("component without '='", ok.clone().auth(|a| replace(a, "Signature=", "Signature ")), t, Err("IncompleteSignature")),
            ("signature not hex", ok.clone().auth(|a| replace(a, &sig, &"zz".repeat(32))), t, Err("IncompleteSignature")),
            ("signature too short", ok.clone().auth(|a| replace(a, &sig, &sig[..62])), t, Err("IncompleteSignature")),
            ("signature in upper case is still the signature", ok.clone().auth(|a| replace(a, &sig, &sig.to_uppercase())), t, Ok(())),
            ("credential with 4 parts", ok.clone().auth(|a| replace(a, "/local/ward/", "/local/")), t, Err("IncompleteSignature")),
            ("credential with 6 parts", ok.clone().auth(|a| replace(a, "/aws4_request", "/aws4_request/x")), t, Err("IncompleteSignature")),
            ("empty access key id", ok.clone().auth(|a| replace(a, AKID, "")), t, Err("IncompleteSignature")),
            ("bad access key id", ok.clone().auth(|a| replace(a, AKID, "AKIA\u{e9}")), t, Err("IncompleteSignature")),
            ("huge access key id", ok.clone().auth(|a| replace(a, AKID, &"A".repeat(200))), t, Err("IncompleteSignature")),
            ("bad scope date", ok.clone().auth(|a| replace(a, "/20240102/", "/2024-1-2/")), t, Err("IncompleteSignature")),
            ("bad X-Amz-Date format", ok.clone().set("X-Amz-Date", "2024-01-02T03:04:05Z"), t, Err("IncompleteSignature")),
            ("X-Amz-Date month 13", ok.clone().set("X-Amz-Date", "20241302T030405Z"), t, Err("IncompleteSignature")),
            ("X-Amz-Date Feb 30", ok.clone().set("X-Amz-Date", "20240230T030405Z"), t, Err("IncompleteSignature")),
            ("X-Amz-Date 24:00", ok.clone().set("X-Amz-Date", "20240102T240000Z"), t, Err("IncompleteSignature")),
            ("X-Amz-Date with sign", ok.clone().set("X-Amz-Date", "+0240102T030405Z"), t, Err("IncompleteSignature")),
            ("no date header", ok.clone().remove("x-amz-date"), t, Err("IncompleteSignature")),
            ("two X-Amz-Date headers", ok.clone().add("x-amz-date", DATE), t, Err("IncompleteSignature")),
            ("bad Date header", ok.clone().remove("x-amz-date").add("Date", "yesterday"), t, Err("IncompleteSignature")),
            ("scope: other region", ok.clone().auth(|a| replace(a, "/local/", "/us-east-1/")), t, Err("InvalidSignatureException")),
            ("scope: other service", ok.clone().auth(|a| replace(a, "/ward/", "/iam/")), t, Err("InvalidSignatureException")),
            ("scope: other terminator", ok.clone().auth(|a| replace(a, "/aws4_request", "/aws5_request")), t, Err("InvalidSignatureException")),
            ("scope date is not the request date", ok.clone().auth(|a| replace(a, "/20240102/", "/20240103/")), t, Err("InvalidSignatureException")),
            ("scope checked before time", ok.clone().auth(|a| replace(a, "/local/", "/x/")), t + 86_400, Err("InvalidSignatureException")),
            ("host not signed", ok.clone().auth(|a| replace(a, "SignedHeaders=host;", "SignedHeaders=")), t, Err("InvalidSignatureException")),
            ("x-amz-date not signed", ok.clone().auth(|a| replace(a, ";x-amz-date", "")), t, Err("InvalidSignatureException")),
            ("signed header absent", ok.clone().remove("host"), t, Err("InvalidSignatureException")),
            ("extra signed header absent", ok.clone().auth(|a| replace(a, "host;", "content-type;host;")), t, Err("InvalidSignatureException")),
            ("SignedHeaders unsorted", ok.clone().auth(|a| replace(a, "host;x-amz-content-sha256", "x-amz-content-sha256;host")), t, Err("IncompleteSignature")),
            ("SignedHeaders duplicate", ok.clone().auth(|a| replace(a, "host;", "host;host;")), t, Err("IncompleteSignature")),
            ("SignedHeaders upper case", ok.clone().auth(|a| replace(a, "host;", "Host;")), t, Err("IncompleteSignature")),
            ("SignedHeaders empty entry", ok.clone().auth(|a| replace(a, "host;", "host;;")), t, Err("IncompleteSignature")),
            ("SignedHeaders empty", ok.clone().auth(|a| replace(a, "host;x-amz-content-sha256;x-amz-date", "")), t, Err("IncompleteSignature")),
            ("header and query auth", ok.clone().query(&presigned_ok.query), t, Err("IncompleteSignature")),
            ("two Authorization headers", ok.clone().add("authorization", ok.header("authorization")), t, Err("IncompleteSignature")),
            ("duplicate ordinary query param, signed", Req::new("GET", "/v1/users").sign(&[("a", "2"), ("a", "1")], None), t, Ok(())),
            ("duplicate ordinary query param, wire order differs", { let r = Req::new("GET", "/v1/users").sign(&[("a", "2"), ("a", "1")], None); let q = r.query.clone(); r.query(&q.split('&').rev().collect::<Vec<_>>().join("&")) }, t, Ok(())),
            ("query param added", ok.clone().query("MaxItems=10&a=1"), t, Err("SignatureDoesNotMatch")),
            ("query value changed", ok.clone().query("MaxItems=11"), t, Err("SignatureDoesNotMatch")),
            ("query empty pieces ignored", ok.clone().query("&MaxItems=10&&"), t, Ok(())),
            ("query sloppily encoded", ok.clone().query("Max%49tems=1%30"), t, Ok(())),
            ("path changed", Req { path: "/v1/groups".into(), ..ok.clone() }, t, Err("SignatureDoesNotMatch")),
            ("path normalized", Req { path: "/v1/./x/../users".into(), ..ok.clone() }, t, Ok(())),
            ("method changed", Req { method: "DELETE".into(), ..ok.clone() }, t, Err("SignatureDoesNotMatch")),
            ("empty method", Req { method: String::new(), ..ok.clone() }, t, Err("IncompleteSignature")),
            ("header value whitespace", ok.clone().set("Host", format!("  {HOST}\t")), t, Ok(())),
            ("body added", ok.clone().body(b"{}"), t, Err("SignatureDoesNotMatch")),
            ("content sha mismatch", ok.clone().set("x-amz-content-sha256", "ab".repeat(32)), t, Err("SignatureDoesNotMatch")),
            ("content sha garbage", ok.clone().set("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"), t, Err("IncompleteSignature")),
            ("two content sha headers", ok.clone().add("x-amz-content-sha256", EMPTY_SHA256_HEX), t, Err("IncompleteSignature")),
            ("UNSIGNED-PAYLOAD, empty body", Req::new("PUT", "/x").add("X-Amz-Content-Sha256", UNSIGNED_PAYLOAD).add("X-Amz-Date", DATE).add("Authorization", format!("{ALGORITHM} Credential={AKID}/20240102/local/ward/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature={ZERO_SIG}")).resign(None), t, Ok(())),
            ("UNSIGNED-PAYLOAD with a body", Req::new("PUT", "/x").add("X-Amz-Content-Sha256", UNSIGNED_PAYLOAD).add("X-Amz-Date", DATE).add("Authorization", format!("{ALGORITHM} Credential={AKID}/20240102/local/ward/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature={ZERO_SIG}")).resign(None).body(b"x"), t, Err("SignatureDoesNotMatch")),
            ("Date header instead of X-Amz-Date", Req::new("GET", "/").add("Date", "Tue, 02 Jan 2024 03:04:05 GMT").add("Authorization", format!("{ALGORITHM} Credential={AKID}/20240102/local/ward/aws4_request, SignedHeaders=date;host, Signature={ZERO_SIG}")).resign(None), t, Ok(())),
            ("Date header not signed", Req::new("GET", "/").add("Date", "Tue, 02 Jan 2024 03:04:05 GMT").add("Authorization", format!("{ALGORITHM} Credential={AKID}/20240102/local/ward/aws4_request, SignedHeaders=host, Signature={ZERO_SIG}")), t, Err("InvalidSignatureException")),
            ("16 min late", ok.clone(), t + 960, Err("RequestExpired")),
            ("16 min early", ok.clone(), t - 960, Err("RequestExpired")),
            ("15 min late", ok.clone(), t + 900, Ok(())),
            ("15 min early", ok.clone(), t - 900, Ok(())),
            ("extreme clocks", ok.clone(), i64::MIN, Err("RequestExpired")),
            ("extreme clocks", ok.clone(), i64::MAX, Err("RequestExpired")),
            ("session token signed", Req::new("GET", "/").sign(&[], Some("tok")), t, Ok(())),
            ("session token changed", Req::new("GET", "/").sign(&[], Some("tok")).set("x-amz-security-token", "tok2"), t, Err("SignatureDoesNotMatch")),
            ("session token empty", ok.clone().add("x-amz-security-token", ""), t, Err("IncompleteSignature")),
            ("session token twice", ok.clone().add("x-amz-security-token", "a").add("x-amz-security-token", "b"), t, Err("IncompleteSignature")),
            ("session token huge", ok.clone().add("x-amz-security-token", "t".repeat(MAX_SESSION_TOKEN_LEN + 1)), t, Err("IncompleteSignature")),
            // Presigned form.
            ("presigned", presigned_ok.clone(), t, Ok(())),
            ("presigned, 59 min later", presigned_ok.clone(), t + 3540, Ok(())),
            ("presigned, expired", presigned_ok.clone(), t + 3601, Err("RequestExpired")),
            ("presigned, 16 min early", presigned_ok.clone(), t - 960, Err("RequestExpired")),
            ("presigned, session token", presigned("60", Some("tok/+="), None), t, Ok(())),
            ("presigned, UNSIGNED-PAYLOAD", presigned("60", None, Some(UNSIGNED_PAYLOAD)), t, Ok(())),
            ("presigned, UNSIGNED-PAYLOAD with a body", presigned("60", None, Some(UNSIGNED_PAYLOAD)).body(b"x"), t, Err("SignatureDoesNotMatch")),
            ("presigned, body added", presigned_ok.clone().body(b"x"), t, Err("SignatureDoesNotMatch")),
            ("presigned, X-Amz-Expires a week", presigned("604800", None, None), t, Ok(())),
            ("presigned, X-Amz-Expires over a week", presigned("604801", None, None), t, Err("InvalidSignatureException")),
            ("presigned, X-Amz-Expires negative", presigned_ok.clone().query(&replace(&presigned_ok.query, "X-Amz-Expires=3600", "X-Amz-Expires=-1")), t, Err("IncompleteSignature")),
            ("presigned, X-Amz-Expires not a number", presigned_ok.clone().query(&replace(&presigned_ok.query, "X-Amz-Expires=3600", "X-Amz-Expires=1h")), t, Err("IncompleteSignature")),
            ("presigned, X-Amz-Expires huge", presigned_ok.clone().query(&replace(&presigned_ok.query, "X-Amz-Expires=3600", "X-Amz-Expires=99999999999999999999999")), t, Err("IncompleteSignature")),
            ("presigned, X-Amz-Date missing", presigned_ok.clone().query(&replace(&presigned_ok.query, &format!("X-Amz-Date={DATE}&"), "")), t, Err("IncompleteSignature")),
            ("presigned, X-Amz-Algorithm missing", presigned_ok.clone().query(&replace(&presigned_ok.query, "X-Amz-Algorithm=AWS4-HMAC-SHA256&", "")), t, Err("IncompleteSignature")),
            ("presigned, X-Amz-Signature twice", presigned_ok.clone().query(&format!("{}&X-Amz-Signature={ZERO_SIG}", presigned_ok.query)), t, Err("IncompleteSignature")),
            ("presigned, X-Amz-Credential twice (encoded name)", presigned_ok.clone().query(&format!("{}&X-Amz-Credentia%6C=x", presigned_ok.query)), t, Err("IncompleteSignature")),
            ("presigned, host not signed", presigned_ok.clone().query(&replace(&presigned_ok.query, "X-Amz-SignedHeaders=host", "X-Amz-SignedHeaders=x-amz-date")), t, Err("InvalidSignatureException")),
            ("presigned, non-UTF-8 credential", presigned_ok.clone().query(&replace(&presigned_ok.query, "X-Amz-Credential=", "X-Amz-Credential=%FF")), t, Err("IncompleteSignature")),
            ("presigned, query param changed", presigned_ok.clone().query(&replace(&presigned_ok.query, "MaxItems=10", "MaxItems=1000")), t, Err("SignatureDoesNotMatch")),
            // Huge inputs.
            ("10k headers", many_headers, t, Err("IncompleteSignature")),
            ("1 MiB Authorization", ok.clone().auth(|a| format!("{a}{big}")), t, Err("IncompleteSignature")),
            ("1 MiB query", ok.clone().query(&big), t, Err("IncompleteSignature")),
            ("1000 query params", ok.clone().query(&vec!["a=1"; 1000].join("&")), t, Err("IncompleteSignature")),
            ("1 MiB path", Req { path: format!("/{big}"), ..ok.clone() }, t, Err("IncompleteSignature")),
            ("1 MiB method", Req { method: big.clone(), ..ok.clone() }, t, Err("IncompleteSignature")),
            ("100 signed headers", ok.clone().auth(|a| replace(a, "SignedHeaders=host;", &format!("SignedHeaders={};host;", many_signed.join(";")))), t, Err("IncompleteSignature")),
            ("huge signed header value", { let mut r = ok.clone().add("x-big", &big); r = r.auth(|a| replace(a, ";x-amz-date", ";x-amz-date;x-big")); r }, t, Err("IncompleteSignature")),
            ("huge header name in SignedHeaders", ok.clone().auth(|a| replace(a, ";x-amz-date", &format!(";x-amz-date;x{}", "a".repeat(200)))), t, Err("IncompleteSignature")),
            // Bytes that are not UTF-8.
            ("non-UTF-8 Authorization", ok.clone().set("Authorization", b"AWS4-HMAC-SHA256 \xff\xfe"), t, Err("IncompleteSignature")),
            ("non-UTF-8 X-Amz-Date", ok.clone().set("X-Amz-Date", b"2024\xff"), t, Err("IncompleteSignature")),
            ("non-UTF-8 session token", ok.clone().add("X-Amz-Security-Token", b"\xff"), t, Err("IncompleteSignature")),
            ("non-UTF-8 signed header value", ok.clone().set("Host", b"h\xffst"), t, Err("SignatureDoesNotMatch")),
            ("non-UTF-8 unsigned header", ok.clone().add("X-Other", b"\xff"), t, Ok(())),
            ("percent-encoded non-UTF-8 query", ok.clone().query("MaxItems=%FF"), t, Err("SignatureDoesNotMatch")),
            ("invalid percent escapes", ok.clone().query("MaxItems=%zz%"), t, Err("SignatureDoesNotMatch")),
        ];
        for (name, req, now, want) in &table {
            check(name, req, *now, *want);
        }
    }

    #[test]
    fn signer_roundtrips() {
        /// name, method, path, query pairs, headers besides host, body, session token
        type Row<'a> = (
            &'a str,
            &'a str,
            &'a str,
            Vec<(&'a str, &'a str)>,
            Vec<(&'a str, &'a str)>,
            &'a [u8],
            Option<&'a str>,
        );
        #[rustfmt::skip]
        let table: Vec<Row<'_>> = vec![
            ("list users", "GET", "/v1/users", vec![("MaxItems", "10")], vec![], b"", None),
            ("create user", "POST", "/v1/users", vec![], vec![("Content-Type", "application/json")], br#"{"UserName":"alice"}"#, None),
            ("encoded path", "GET", "/v1/users/al%20ice/%E2%82%AC", vec![], vec![], b"", None),
            ("raw utf-8 path", "GET", "/v1/users/\u{20ac}", vec![], vec![], b"", None),
            ("dot segments", "GET", "/v1/./users/../users//", vec![], vec![], b"", None),
            ("reserved chars in query", "GET", "/", vec![("Name", "a b+c/d?e&f=g~"), ("Empty", ""), ("\u{e9}t\u{e9}", "\u{20ac}")], vec![], b"", None),
            ("repeated query keys", "GET", "/", vec![("k", "b"), ("k", "a"), ("K", "c")], vec![], b"", None),
            ("session token", "DELETE", "/v1/users/alice", vec![], vec![], b"", Some("FwoGZXIvYXdzE+/=")),
            ("messy header values", "PUT", "/x", vec![], vec![("X-Multi", "  a   b  "), ("x-multi", "c"), ("X-Tab", "a\tb")], b"data", None),
            ("upper-case host header", "GET", "/", vec![], vec![("HOST", HOST)], b"", None),
        ];
        for (name, method, path, query, extra, body, token) in table {
            let mut headers: Vec<(&str, &str)> = vec![("host", HOST)];
            if extra.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
                headers.clear();
            }
            headers.extend(extra.iter().copied());
            let mut req = Req::new(method, path).remove("host").body(body);
            for (n, v) in &headers {
                req = req.add(n, v);
            }
            let req = req.sign(&query, token);
            check(name, &req, now(), Ok(()));
            let claim = req.with(|http| parse(http, &expect(now())).unwrap());
            assert_eq!(claim.session_token.as_deref(), token, "{name}");
            assert_eq!(claim.access_key_id, AKID, "{name}");
            assert!(!claim.presigned, "{name}");
        }
    }

    #[test]
    fn signer_output_format() {
        let s = sign(
            "GET",
            "/v1/users",
            &[("MaxItems", "10"), ("Marker", "a b")],
            &[("Host", HOST)],
            b"",
            AKID,
            SECRET,
            None,
            "local",
            "ward",
            DATE,
        );
        assert_eq!(s.canonical_query, "Marker=a%20b&MaxItems=10");
        assert_eq!(s.x_amz_date, DATE);
        assert_eq!(s.x_amz_content_sha256, EMPTY_SHA256_HEX);
        let prefix = format!(
            "AWS4-HMAC-SHA256 Credential={AKID}/20240102/local/ward/aws4_request, \
             SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature="
        );
        assert!(s.authorization.starts_with(&prefix), "{}", s.authorization);
        assert_eq!(s.authorization.len(), prefix.len() + 64);
        assert!(!format!("{s:?}").contains(&s.authorization[prefix.len()..]));
    }

    #[test]
    fn debug_output_redacts() {
        let req = Req::new("GET", "/").sign(&[], Some("secret-token"));
        let claim = req.with(|http| parse(http, &expect(now())).unwrap());
        let sig = hex::encode(claim.signature);
        let debug = format!("{claim:?}");
        assert!(!debug.contains(&sig), "{debug}");
        assert!(!debug.contains("secret-token"), "{debug}");
        assert!(debug.contains(AKID), "{debug}");
    }

    /// Random byte-level damage to a valid request never panics.
    #[test]
    fn mutations_never_panic() {
        let base = Req::signed();
        let pre = presigned("3600", Some("tok"), None);
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet = b"%=&;,/ :\t\xffAaZz09-_.~+\x00";
        for i in 0..4000 {
            let mut r = if i % 2 == 0 {
                base.clone()
            } else {
                pre.clone()
            };
            let has_auth = r.headers.iter().any(|(n, _)| n == "Authorization");
            let which = match next() % 3 {
                0 if !has_auth => 1,
                w => w,
            };
            let mut target: Vec<u8> = match which {
                0 => r.header("authorization").into_bytes(),
                1 => r.query.clone().into_bytes(),
                _ => r.path.clone().into_bytes(),
            };
            for _ in 0..(1 + next() % 4) {
                if target.is_empty() {
                    break;
                }
                let at = (next() as usize) % target.len();
                match next() % 3 {
                    0 => target[at] = alphabet[(next() as usize) % alphabet.len()],
                    1 => {
                        target.remove(at);
                    }
                    _ => target.insert(at, alphabet[(next() as usize) % alphabet.len()]),
                }
            }
            let text = String::from_utf8_lossy(&target).into_owned();
            match which {
                0 => r = r.set("Authorization", &target),
                1 => r.query = text,
                _ => r.path = text,
            }
            let _ = run(&r, now());
            let _ = r.with(|http| parse(http, &expect(now())).map(|c| canonical_request(http, &c)));
        }
    }

    #[test]
    fn canonical_uris() {
        for (raw, want) in [
            ("", "/"),
            ("/", "/"),
            ("//", "/"),
            ("/a/b/..", "/a"),
            ("/a/b/../", "/a/"),
            ("/../..", "/"),
            ("/a/./b", "/a/b"),
            ("/a%2Fb", "/a%252Fb"),
            ("/a%20b", "/a%2520b"),
            ("/a b", "/a%20b"),
            ("/~user/-_.", "/~user/-_."),
            ("/a:b@c", "/a%3Ab%40c"),
            ("/\u{20ac}", "/%E2%82%AC"),
            ("/%2E%2E/x", "/%252E%252E/x"),
        ] {
            assert_eq!(canonical_uri(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn canonical_queries() {
        for (raw, presigned, want) in [
            ("", false, ""),
            ("b=2&a=1", false, "a=1&b=2"),
            ("a=1&a=0", false, "a=0&a=1"),
            ("a", false, "a="),
            ("a+b=c d", false, "a%2Bb=c%20d"),
            ("%7e=%41", false, "~=A"),
            ("&&a=1&", false, "a=1"),
            ("x=%zz", false, "x=%25zz"),
            ("k=a=b", false, "k=a%3Db"),
            ("B=1&a=1", false, "B=1&a=1"),
            ("X-Amz-Signature=1&a=1", true, "a=1"),
            ("X-Amz-Signature=1&a=1", false, "X-Amz-Signature=1&a=1"),
            ("X-Amz-Signatur%65=1", true, ""),
        ] {
            assert_eq!(canonical_query(raw, presigned).unwrap(), want, "{raw:?}");
        }
    }

    #[test]
    fn header_canonicalization() {
        for (values, want) in [
            (vec![&b"a"[..]], "x:a\n"),
            (vec![b"  a   b  "], "x:a b\n"),
            (vec![b"a,  b"], "x:a, b\n"),
            (vec![b" a ", b" b "], "x:a,b\n"),
            (vec![b"a\t\tb"], "x:a b\n"),
            (vec![b""], "x:\n"),
            (vec![b"   "], "x:\n"),
            (vec![b"\"a   b   c\""], "x:\"a b c\"\n"),
        ] {
            let mut out = Vec::new();
            push_header_line(&mut out, "x", values.into_iter());
            assert_eq!(String::from_utf8(out).unwrap(), want);
        }
    }

    #[test]
    fn dates() {
        for (s, want) in [
            ("19700101T000000Z", Some(0)),
            ("20150830T123600Z", Some(1_440_938_160)),
            ("20240229T235959Z", Some(1_709_251_199)),
            ("20230229T000000Z", None),
            ("21000229T000000Z", None),
            ("20000229T000000Z", Some(951_782_400)),
            ("20150830T123660Z", None),
            ("20150830 123600Z", None),
            ("20150830T123600", None),
            ("", None),
            ("2015083\u{e9}T12360Z", None),
        ] {
            assert_eq!(parse_amz_date(s), want, "{s}");
            if let Some(t) = want {
                assert_eq!(format_amz_date(t), s);
            }
        }
        assert_eq!(format_amz_date(-1), "19691231T235959Z");
        let _ = format_amz_date(i64::MIN);
        let _ = format_amz_date(i64::MAX);
        assert_eq!(
            parse_http_date("Sun, 30 Aug 2015 12:36:00 GMT"),
            Some(1_440_938_160)
        );
        assert_eq!(parse_http_date("Sunday, 30-Aug-15 12:36:00 GMT"), None);
        assert_eq!(parse_http_date("Sun, 30 Aug 2015 12:36:00 UTC"), None);
        assert_eq!(parse_http_date("Sun, 31 Sep 2015 12:36:00 GMT"), None);
    }

    #[test]
    fn error_codes_and_messages() {
        for (e, code) in [
            (
                SigV4Error::MissingAuthenticationToken,
                "MissingAuthenticationToken",
            ),
            (
                SigV4Error::IncompleteSignature("m".into()),
                "IncompleteSignature",
            ),
            (SigV4Error::InvalidClientTokenId, "InvalidClientTokenId"),
            (mismatch(), "SignatureDoesNotMatch"),
            (SigV4Error::RequestExpired("m".into()), "RequestExpired"),
            (invalid("m"), "InvalidSignatureException"),
        ] {
            assert_eq!(e.code(), code);
            assert!(!e.message().is_empty());
            assert_eq!(e.to_string(), format!("{code}: {}", e.message()));
        }
        assert_eq!(show(&"x".repeat(100)).chars().count(), 65);
        assert_eq!(show("a\nb"), "a\\nb");
    }

    #[test]
    fn detects_sigv4() {
        let yes = [Req::signed(), presigned("60", None, None)];
        for r in &yes {
            assert!(r.with(is_sigv4));
        }
        let no = [
            Req::new("GET", "/"),
            Req::new("GET", "/").add("Authorization", "Bearer x"),
            Req::new("GET", "/").query("a=1"),
        ];
        for r in &no {
            assert!(!r.with(is_sigv4));
        }
    }
}
