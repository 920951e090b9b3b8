//! The AWS IAM and STS Query API (`POST /` with a form body, or `GET /?…`):
//! a second wire format over the JSON API's handlers, so that the `aws`
//! CLI, boto3 and the AWS SDKs manage ward unchanged.
//!
//! A request is authenticated exactly as a `/v1/` one (the same
//! [`authenticate_scoped`]), except that SigV4 credential scopes name
//! service `iam` (region `us-east-1`, where AWS clients sign IAM, or the
//! configured region) or `sts` (the configured region) — and only here:
//! `/v1/` keeps service `ward`. The `Action` (with its service's `Version`)
//! is then mapped by [`actions`] to the `/v1/` route doing that job, run
//! for the caller through [`Dispatch::call`] (so the handler validates,
//! authorizes and audits), and its JSON reply is rendered as AWS's XML
//! (`<XResponse><XResult>…</XResult><ResponseMetadata>…`); a failure as
//! AWS's `<ErrorResponse>` with AWS's code and status ([`errors`]).

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use rand::RngCore;

use crate::conn::ConnInfo;
use crate::crypto::sha256_hex;
use crate::error::ApiError;
use crate::http::api::MAX_BODY;
use crate::http::auth::{authenticate_scoped, Refusal, Scope};
use crate::http::dispatch::{Dispatch, Failure};
use crate::service::request::read_body;
use crate::state::Shared;

pub mod actions;
pub mod errors;
pub mod form;
pub mod xml;

use form::Params;

/// IAM's API version and XML namespace.
pub const IAM_VERSION: &str = "2010-05-08";
/// STS's API version.
pub const STS_VERSION: &str = "2011-06-15";
/// The region AWS clients sign IAM requests for (IAM is global).
pub const IAM_SIGNING_REGION: &str = "us-east-1";

/// Which AWS service an action belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    /// IAM (`Version=2010-05-08`, SigV4 service `iam`).
    Iam,
    /// STS (`Version=2011-06-15`, SigV4 service `sts`).
    Sts,
}

impl Service {
    /// The SigV4 service name.
    pub fn signing_name(self) -> &'static str {
        match self {
            Service::Iam => "iam",
            Service::Sts => "sts",
        }
    }

    /// The `Version` parameter it takes.
    pub fn version(self) -> &'static str {
        match self {
            Service::Iam => IAM_VERSION,
            Service::Sts => STS_VERSION,
        }
    }

    /// The replies' XML namespace.
    pub fn namespace(self) -> &'static str {
        match self {
            Service::Iam => "https://iam.amazonaws.com/doc/2010-05-08/",
            Service::Sts => "https://sts.amazonaws.com/doc/2011-06-15/",
        }
    }
}

/// A Query API failure, rendered as AWS's `<ErrorResponse>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    /// HTTP status.
    pub status: StatusCode,
    /// AWS's error code.
    pub code: String,
    /// The message.
    pub message: String,
}

impl QueryError {
    /// A 400 `ValidationError`.
    pub fn validation(message: impl Into<String>) -> QueryError {
        QueryError {
            status: StatusCode::BAD_REQUEST,
            code: "ValidationError".into(),
            message: message.into(),
        }
    }

    /// A 400 with another code.
    pub fn bad(code: &str, message: impl Into<String>) -> QueryError {
        QueryError {
            status: StatusCode::BAD_REQUEST,
            code: code.into(),
            message: message.into(),
        }
    }

    /// A handler's failure in AWS's terms.
    pub fn from_failure(f: Failure) -> QueryError {
        errors::map(f)
    }

    /// ward's own error (authentication, body limits) in AWS's terms.
    pub fn from_api(e: ApiError) -> QueryError {
        errors::map(Failure::from_api(&e))
    }
}

/// A fresh request id (a random UUID, as AWS's look).
fn request_id() -> String {
    let mut b = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A reply: `body` is a whole document (see [`xml::Xml::document`]).
fn xml_response(status: StatusCode, body: String, id: &str) -> Response {
    let mut resp = (status, [("content-type", "text/xml")], body).into_response();
    if let Ok(v) = HeaderValue::from_str(id) {
        resp.headers_mut().insert("x-amzn-requestid", v);
    }
    resp
}

impl QueryError {
    fn into_response_with(self, id: &str) -> Response {
        let kind = if self.status.is_server_error() {
            "Receiver"
        } else {
            "Sender"
        };
        let mut x = xml::Xml::document();
        x.open("ErrorResponse")
            .open("Error")
            .text("Type", kind)
            .text("Code", &self.code)
            .text("Message", &self.message)
            .close("Error")
            .text("RequestId", id)
            .close("ErrorResponse");
        let mut resp = xml_response(self.status, x.finish(), id);
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            resp.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                HeaderValue::from(crate::error::UNAVAILABLE_RETRY_AFTER),
            );
        }
        resp
    }
}

/// What the front end needs per request.
#[derive(Clone)]
struct QueryState {
    st: Shared,
    dispatch: Dispatch,
}

/// The `GET /` and `POST /` routes, to be mounted at `/` by the router.
pub fn service(st: Shared) -> Router {
    let dispatch = Dispatch::new(st.clone());
    Router::new()
        .route("/", get(serve).post(serve))
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(QueryState { st, dispatch })
}

/// Query parameters SigV4 presigning adds (not the action's).
const PRESIGN_PARAMS: &[&str] = &[
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
    "X-Amz-Security-Token",
];

/// The (region, service) a SigV4 request claims, if it is one.
fn claimed_scope(parts: &axum::http::request::Parts, params: &Params) -> Option<(String, String)> {
    let cred = match parts.headers.get("authorization") {
        Some(h) => {
            let h = h.to_str().ok()?;
            if !h.starts_with("AWS4-") {
                return None;
            }
            h.split("Credential=")
                .nth(1)?
                .split([',', ' '])
                .next()?
                .to_owned()
        }
        None => params.peek("X-Amz-Credential")?.to_owned(),
    };
    let mut it = cred.split('/').skip(2);
    let region = it.next()?.to_owned();
    let service = it.next()?.to_owned();
    Some((region, service))
}

/// The scope to verify against: the claimed one when the Query API
/// accepts it, else `iam` in the configured region (so the verifier
/// refuses the claim with AWS's scope message).
fn scope_for(claim: Option<&(String, String)>, configured: &str) -> (String, &'static str) {
    if let Some((region, service)) = claim {
        if service == "iam" && (region == IAM_SIGNING_REGION || region == configured) {
            return (region.clone(), "iam");
        }
        if service == "sts" && region == configured {
            return (region.clone(), "sts");
        }
    }
    (configured.to_owned(), "iam")
}

async fn serve(State(q): State<QueryState>, req: Request) -> Response {
    // A browser's bare `GET /` (no parameters, no signature) is the
    // dashboard's front door, not a Query API request.
    if req.method() == Method::GET
        && req.uri().query().is_none_or(str::is_empty)
        && !req.headers().contains_key("authorization")
    {
        return crate::http::web::root(req).await;
    }
    let id = request_id();
    match handle(&q, req, &id).await {
        Ok((body, authed)) => {
            let mut resp = xml_response(StatusCode::OK, body, &id);
            if authed {
                resp.extensions_mut().insert(crate::conn::Authenticated);
            }
            resp
        }
        Err((e, authed)) => {
            let mut resp = e.into_response_with(&id);
            if authed {
                resp.extensions_mut().insert(crate::conn::Authenticated);
            }
            resp
        }
    }
}

type Outcome = Result<(String, bool), (QueryError, bool)>;

async fn handle(q: &QueryState, req: Request, id: &str) -> Outcome {
    let unauthed = |e: QueryError| (e, false);
    let (parts, body) = req.into_parts();
    let bytes = read_body(body, MAX_BODY)
        .await
        .map_err(|e| unauthed(QueryError::from_api(e)))?;
    let raw: Vec<u8> = if parts.method == Method::GET {
        if !bytes.is_empty() {
            return Err(unauthed(QueryError::validation(
                "GET requests take no body; send the parameters in the query string",
            )));
        }
        parts.uri.query().unwrap_or("").as_bytes().to_vec()
    } else {
        let form = parts
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.to_ascii_lowercase()
                    .starts_with("application/x-www-form-urlencoded")
            });
        if !form {
            return Err(unauthed(QueryError::validation(
                "POST / takes an application/x-www-form-urlencoded body",
            )));
        }
        if parts.uri.query().is_some_and(|s| !s.is_empty()) {
            return Err(unauthed(QueryError::validation(
                "POST / takes its parameters in the body, not the query string",
            )));
        }
        bytes.to_vec()
    };
    let mut params = Params::parse(&raw).map_err(unauthed)?;
    let claim = claimed_scope(&parts, &params);
    let presigned = params.peek("X-Amz-Signature").is_some();
    for p in PRESIGN_PARAMS {
        params.opt(p);
    }
    let (ip, tls) = match parts.extensions.get::<ConnInfo>() {
        Some(c) => (c.remote.ip(), c.tls),
        None => (std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), false),
    };
    let (region, service) = scope_for(claim.as_ref(), &q.st.config.region);
    let scope = Scope {
        region: &region,
        service,
    };
    let caller = match authenticate_scoped(&q.st, &parts, &sha256_hex(&bytes), ip, tls, scope).await
    {
        Ok(c) => c,
        Err(Refusal::Failed(e)) => return Err(unauthed(QueryError::from_api(e))),
        Err(Refusal::RateLimited(_)) => {
            return Err(unauthed(QueryError {
                status: StatusCode::TOO_MANY_REQUESTS,
                code: "Throttling".into(),
                message: "too many failed authentications from this address; retry later".into(),
            }));
        }
    };
    let authed = |e: QueryError| (e, true);
    let action = params.req("Action").map_err(|_| {
        authed(QueryError::bad(
            "MissingAction",
            "the request must contain the parameter Action",
        ))
    })?;
    let svc = actions::service_of(&action).ok_or_else(|| {
        authed(QueryError::bad(
            "InvalidAction",
            format!(
                "Could not find operation {} for version {IAM_VERSION}",
                trim(&action)
            ),
        ))
    })?;
    match params.opt("Version") {
        Some(v) if v == svc.version() => {}
        Some(v) => {
            return Err(authed(QueryError::bad(
                "InvalidAction",
                format!(
                    "Could not find operation {} for version {}",
                    trim(&action),
                    trim(&v)
                ),
            )))
        }
        None => {
            return Err(authed(QueryError::bad(
                "MissingParameter",
                "the request must contain the parameter Version",
            )))
        }
    }
    // A SigV4 signature names one service: IAM actions are signed for
    // `iam`, STS actions for `sts`.
    if claim.is_some() && service != svc.signing_name() {
        return Err(authed(QueryError::bad(
            "InvalidClientTokenId",
            format!(
                "Credential should be scoped to correct service: '{}'.",
                svc.signing_name()
            ),
        )));
    }
    // A presigned URL ends up in proxy and browser logs: it may prove an
    // identity (GetCallerIdentity), never carry another action.
    if presigned && action != "GetCallerIdentity" {
        return Err(authed(QueryError {
            status: StatusCode::FORBIDDEN,
            code: "AccessDenied".into(),
            message: "presigned Query API URLs are accepted for GetCallerIdentity only".into(),
        }));
    }
    let ctx = actions::Ctx {
        st: &q.st,
        dispatch: &q.dispatch,
        caller: &caller,
        conn: parts.extensions.get::<ConnInfo>(),
        account: q.st.store.account_id().to_owned(),
        action: &action,
    };
    let inner = actions::run(&ctx, &action, &mut params)
        .await
        .map_err(authed)?;
    let mut x = xml::Xml::document();
    let resp = format!("{action}Response");
    x.out_raw(&format!("<{resp} xmlns=\"{}\">", svc.namespace()));
    if let Some(inner) = inner {
        let result = format!("{action}Result");
        x.open(&result);
        x.out_raw(&inner);
        x.close(&result);
    }
    x.open("ResponseMetadata")
        .text("RequestId", id)
        .close("ResponseMetadata")
        .close(&resp);
    Ok((x.finish(), true))
}

/// At most 64 characters of a caller's string, for messages.
fn trim(s: &str) -> String {
    s.chars().take(64).collect::<String>()
}

impl From<ApiError> for QueryError {
    fn from(e: ApiError) -> QueryError {
        QueryError::from_api(e)
    }
}
