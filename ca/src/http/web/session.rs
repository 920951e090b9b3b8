//! Dashboard sessions: sign-in, the session cookie, CSRF, sign-out.
//!
//! Sign-in posts user name, password (and the TOTP code of a user with an
//! MFA device) to the very handler of `POST /v1/login` (the name `root`:
//! the account root's password check, [`crate::service::root_login`],
//! with the same throttling; its session is the root caller), so throttling,
//! lockout, MFA and auditing are the API's. The session it opens is an
//! ordinary login session (listable and revocable with
//! `iam:ListSessions`/`iam:RevokeSession`, revoked by a password change)
//! and the cookie carries its token:
//!
//! `__Host-ward-session=TOKEN.SIGNED_IN.LAST_SEEN.MAC; HttpOnly; Secure; SameSite=Strict; Path=/`
//!
//! Every page request authenticates TOKEN exactly as `Authorization:
//! Bearer TOKEN` ([`crate::http::auth::authenticate`]: the session row is
//! read on every request, so a revoked or expired session — the absolute
//! timeout — stops at once). SIGNED_IN is when the sign-in issued the
//! cookie, LAST_SEEN when it was last re-issued; MAC (HMAC-SHA256 under a
//! key derived from the master key) binds both to the token, so the
//! timeouts need no storage and hold across replicas: a cookie not
//! refreshed within `[dashboard] idle_timeout_seconds`, or signed in
//! `absolute_timeout_seconds` ago or more however active, is refused.
//! Every response to a signed-in page re-issues it (same SIGNED_IN).
//!
//! CSRF: each form carries `csrf`, HMAC of the session token under the
//! same derived key (no storage; a token is useless without its session),
//! compared in constant time on every POST; and a POST whose `Origin` is
//! not this server or whose `Sec-Fetch-Site` is not `same-origin` is
//! refused before anything else, sign-in included.

use std::net::{IpAddr, Ipv4Addr};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use hmac::Mac;
use maud::html;
use subtle::ConstantTimeEq;

use crate::conn::ConnInfo;
use crate::crypto::sha256_hex;
use crate::error::ApiError;
use crate::http::auth::{authenticate, Refusal};
use crate::http::dispatch::{Dispatch, Failure, Reply};
use crate::http::web::markup::{self as page, Form};
use crate::http::web::redirect;
use crate::service::caller::{user_arn, Caller, Identity};
use crate::state::{now, AppState, Shared};

/// The session cookie's name (`__Host-`: Secure, Path=/, no Domain).
pub const COOKIE: &str = "__Host-ward-session";

/// Largest form body accepted.
const MAX_FORM: usize = 128 * 1024;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// HMAC-SHA256 (hex) of `label ‖ 0 ‖ data` under the dashboard key, which
/// is derived from the master key (through its audit-chain derivation,
/// with a label of its own), so replicas sharing a master key agree.
fn mac(st: &AppState, label: &str, data: &str) -> String {
    let key = st
        .master
        .audit_chain_key()
        .mac_hex(b"ward dashboard key v1");
    match <HmacSha256 as Mac>::new_from_slice(key.as_bytes()) {
        Ok(mut m) => {
            m.update(label.as_bytes());
            m.update(&[0]);
            m.update(data.as_bytes());
            hex::encode(m.finalize().into_bytes())
        }
        // HMAC takes keys of any length.
        Err(_) => String::new(),
    }
}

fn ct_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The CSRF token of a session.
pub fn csrf_token(st: &AppState, token: &str) -> String {
    mac(st, "csrf", token)
}

/// The cookie value for `token`, signed in at `issued`, last seen at `t`.
fn cookie_value(st: &AppState, token: &str, issued: i64, t: i64) -> String {
    let body = format!("{token}.{issued}.{t}");
    let m = mac(st, "cookie", &body);
    format!("{body}.{m}")
}

/// The `Set-Cookie` header that (re-)issues the session cookie.
fn set_cookie(value: &str) -> String {
    format!("{COOKIE}={value}; HttpOnly; Secure; SameSite=Strict; Path=/")
}

/// The `Set-Cookie` header that clears it.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=0")
}

/// The session token and sign-in time of a well-formed, authentic cookie
/// within both timeouts (`[dashboard]` in the configuration): last issued
/// less than `idle_timeout_seconds` ago and first issued (at sign-in) less
/// than `absolute_timeout_seconds` ago.
fn token_of(st: &AppState, parts: &Parts) -> Option<(String, i64)> {
    let value = parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(COOKIE)?.strip_prefix('='))?;
    let mut it = value.rsplitn(4, '.');
    let (m, seen, issued, token) = (it.next()?, it.next()?, it.next()?, it.next()?);
    if token.is_empty() || token.len() > 256 {
        return None;
    }
    if !ct_eq(m, &mac(st, "cookie", &format!("{token}.{issued}.{seen}"))) {
        return None;
    }
    let seen: i64 = seen.parse().ok()?;
    let issued: i64 = issued.parse().ok()?;
    let t = now();
    let limits = &st.config.dashboard;
    // Idle, past the absolute timeout, or times from the future (which no
    // server of ours wrote).
    if t - seen >= limits.idle_timeout_seconds
        || t - issued >= limits.absolute_timeout_seconds
        || seen > t + 60
        || issued > seen
    {
        return None;
    }
    Some((token.to_owned(), issued))
}

fn peer(parts: &Parts) -> (Option<ConnInfo>, IpAddr, bool) {
    match parts.extensions.get::<ConnInfo>() {
        Some(c) => (Some(c.clone()), c.remote.ip(), c.tls),
        None => (None, IpAddr::V4(Ipv4Addr::LOCALHOST), false),
    }
}

/// True unless the request says it comes from another origin.
/// `Sec-Fetch-Site` (set by the browser, never by page script) must be
/// `same-origin` when sent; `Origin` must then be this server or `null`
/// (what a browser sends for a same-origin form post under
/// `Referrer-Policy: no-referrer`). Without `Sec-Fetch-Site` (an older
/// browser, or not a browser), an `Origin` that is sent must be this
/// server exactly.
pub fn same_origin(parts: &Parts) -> bool {
    let h = |k: &str| parts.headers.get(k).and_then(|v| v.to_str().ok());
    let ours = |origin: &str| match server_host(parts) {
        Some(host) => origin.eq_ignore_ascii_case(&format!("https://{host}")),
        None => false,
    };
    match (h("sec-fetch-site"), h("origin")) {
        (Some(site), _) if site != "same-origin" => false,
        (Some(_), Some(origin)) => origin == "null" || ours(origin),
        (Some(_), None) => true,
        (None, Some(origin)) => ours(origin),
        (None, None) => true,
    }
}

/// The refusal of a cross-origin POST, naming what was seen.
fn cross_origin(parts: &Parts) -> Response {
    let h = |k: &str| {
        parts
            .headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("(none)")
            .to_owned()
    };
    page::refused(
        StatusCode::FORBIDDEN,
        "CrossOriginRequest",
        &format!(
            "this form was not sent from the dashboard's own pages (Origin {}, Sec-Fetch-Site {}, host {})",
            h("origin"),
            h("sec-fetch-site"),
            server_host(parts).unwrap_or_else(|| "(none)".into())
        ),
    )
}

/// The host (and port) the request was sent to.
fn server_host(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| parts.uri.authority().map(|a| a.as_str().to_owned()))
}

/// A signed-in page request.
pub struct Ctx {
    /// The server.
    pub st: Shared,
    /// Who is calling.
    pub caller: Caller,
    /// The connection (for handlers that read the source).
    pub conn: Option<ConnInfo>,
    /// The CSRF token for this session's forms.
    pub csrf: String,
    token: String,
    issued: i64,
    api: Dispatch,
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("caller", &self.caller.principal)
            .finish_non_exhaustive()
    }
}

/// A refused page request: the sign-in page (or an error page).
fn to_login() -> Response {
    let mut r = redirect("/ui/login");
    if let Ok(v) = HeaderValue::from_str(&clear_cookie()) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

impl Ctx {
    /// Authenticates a GET (or the head of a POST) from its cookie.
    pub async fn from_parts(st: &Shared, parts: &Parts) -> Result<Ctx, Response> {
        let Some((token, issued)) = token_of(st, parts) else {
            return Err(to_login());
        };
        let (conn, ip, tls) = peer(parts);
        // Exactly as a bearer token: same checks, same failure audit and
        // per-source throttling.
        let mut b = Request::builder()
            .method(parts.method.clone())
            .uri(parts.uri.clone());
        if let Ok(v) = HeaderValue::from_str(&format!("Bearer {token}")) {
            b = b.header(header::AUTHORIZATION, v);
        }
        let (bearer, _) = match b.body(()) {
            Ok(r) => r.into_parts(),
            Err(_) => return Err(to_login()),
        };
        let caller = match authenticate(st, &bearer, &sha256_hex(b""), ip, tls).await {
            Ok(c) => c,
            Err(Refusal::RateLimited(secs)) => {
                return Err(crate::service::authn_failures::throttled(secs))
            }
            Err(Refusal::Failed(_)) => return Err(to_login()),
        };
        if matches!(caller.identity, Identity::Host(_)) {
            return Err(to_login());
        }
        Ok(Ctx {
            csrf: csrf_token(st, &token),
            st: st.clone(),
            caller,
            conn,
            token,
            issued,
            api: Dispatch::new(st.clone()),
        })
    }

    /// A GET page request; a session that may only change its password is
    /// sent to the password page.
    pub async fn get(st: &Shared, req: Request) -> Result<Ctx, Response> {
        let (parts, _) = req.into_parts();
        let ctx = Ctx::from_parts(st, &parts).await?;
        if ctx.caller.password_change_only {
            return Err(redirect("/ui/password"));
        }
        Ok(ctx)
    }

    /// A form POST: same origin, signed in, the CSRF token right.
    pub async fn post(st: &Shared, req: Request) -> Result<(Ctx, Form), Response> {
        let (parts, body) = req.into_parts();
        if !same_origin(&parts) {
            return Err(cross_origin(&parts));
        }
        let ctx = Ctx::from_parts(st, &parts).await?;
        let bytes = match crate::service::request::read_body(body, MAX_FORM).await {
            Ok(b) => b,
            Err(e) => return Err(page::refused(e.status(), e.code(), &e.message())),
        };
        let form = Form::parse(&bytes);
        let sent = form
            .get("csrf")
            .or_else(|| {
                parts
                    .headers
                    .get("x-csrf-token")
                    .and_then(|v| v.to_str().ok())
            })
            .unwrap_or("");
        if !ct_eq(sent, &ctx.csrf) {
            return Err(page::refused(
                StatusCode::FORBIDDEN,
                "InvalidCsrfToken",
                "the form's CSRF token is missing or wrong: reload the page and try again",
            ));
        }
        Ok((ctx, form))
    }

    /// The signed-in user's name (`root` for the account root).
    pub fn who(&self) -> String {
        match &self.caller.identity {
            Identity::User(u) => u.name.clone(),
            Identity::Root => "root".into(),
            Identity::RoleSession(rs) => format!("{}/{}", rs.role.name, rs.name),
            Identity::Host(h) => h.name.clone(),
        }
    }

    /// Calls a `/v1/` route as the signed-in caller: its JSON reply, or
    /// its typed error.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value, Failure> {
        let fail = |e: ApiError| Failure {
            status: e.status(),
            code: e.code().into(),
            message: e.message(),
            field: None,
        };
        let reply = self
            .api
            .call(&self.caller, self.conn.as_ref(), method, path, body)
            .await
            .map_err(fail)?;
        if let Some(f) = reply.failure() {
            return Err(f);
        }
        reply.json().map_err(fail)
    }

    /// Calls a `GET` route as the signed-in caller and returns its reply
    /// as is (status, bytes, content type), reading at most `max` bytes:
    /// for routes whose answer is not JSON (a session recording).
    pub async fn fetch(&self, path: &str, max: usize) -> Result<Reply, ApiError> {
        self.api
            .call_capped(
                &self.caller,
                self.conn.as_ref(),
                Method::GET,
                path,
                None,
                max,
            )
            .await
    }

    /// `resp` with the session cookie re-issued (idle timer restarted).
    pub fn finish(&self, mut resp: Response) -> Response {
        let v = set_cookie(&cookie_value(&self.st, &self.token, self.issued, now()));
        if let Ok(v) = HeaderValue::from_str(&v) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
        resp
    }
}

/// `GET /ui/login`.
pub(crate) async fn login_form(req: Request) -> Response {
    let changed = req.uri().query().unwrap_or("").contains("changed=1");
    login_page(
        StatusCode::OK,
        changed.then_some("Password changed: sign in with the new one."),
        None,
    )
}

fn login_page(status: StatusCode, note: Option<&str>, error: Option<&str>) -> Response {
    let body = html! {
        main class="signin" {
            h1 { "Sign in to ward" }
            @if let Some(n) = note { p class="note" role="status" { (n) } }
            @if let Some(e) = error { p class="error" role="alert" id="signin-error" { (e) } }
            form method="post" action="/ui/login" {
                label for="userName" { "User name" }
                input id="userName" name="userName" autocomplete="username" required autofocus;
                label for="password" { "Password" }
                input id="password" name="password" type="password" autocomplete="current-password" required;
                label for="mfaCode" { "MFA code " span class="hint" { "(only if your user has an MFA device)" } }
                input id="mfaCode" name="mfaCode" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}";
                button type="submit" { "Sign in" }
            }
        }
    };
    (status, page::document("Sign in", None, body)).into_response()
}

/// `POST /ui/login`: the `/v1/login` handler, then the cookie.
pub(crate) async fn login(State(st): State<Shared>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    if !same_origin(&parts) {
        return cross_origin(&parts);
    }
    let bytes = match crate::service::request::read_body(body, 16 * 1024).await {
        Ok(b) => b,
        Err(e) => return page::refused(e.status(), e.code(), &e.message()),
    };
    let form = Form::parse(&bytes);
    // `root` is the account root, never an IAM user (none may be named so).
    if crate::service::root_login::is_root_name(form.get("userName").unwrap_or("")) {
        return root_login(&st, &parts, &form).await;
    }
    let mut creds = serde_json::json!({
        "userName": form.get("userName").unwrap_or(""),
        "password": form.get("password").unwrap_or(""),
    });
    if let Some(code) = form.get("mfaCode").filter(|c| !c.is_empty()) {
        creds["mfaCode"] = serde_json::Value::String(code.to_owned());
    }
    let json = match serde_json::to_vec(&creds) {
        Ok(j) => j,
        Err(e) => return ApiError::internal(e.to_string()).into_response(),
    };
    let mut r = match Request::builder()
        .method(Method::POST)
        .uri("/v1/login")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(json))
    {
        Ok(r) => r,
        Err(e) => return ApiError::internal(e.to_string()).into_response(),
    };
    if let Some(c) = parts.extensions.get::<ConnInfo>() {
        r.extensions_mut().insert(c.clone());
    }
    match crate::service::passwords::login(State(st.clone()), r).await {
        Ok(axum::Json(c)) => {
            let mut resp = redirect(if c.password_reset_required {
                "/ui/password"
            } else {
                "/ui/"
            });
            let t = now();
            let v = set_cookie(&cookie_value(&st, &c.session_token, t, t));
            if let Ok(v) = HeaderValue::from_str(&v) {
                resp.headers_mut().insert(header::SET_COOKIE, v);
            }
            resp
        }
        Err(e) => {
            let mut resp = login_page(e.status(), None, Some(&e.message()));
            if let ApiError::RetryLater { retry_after, .. } = &e {
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
            }
            resp
        }
    }
}

/// The account root's sign-in ([`crate::service::root_login`]): the same
/// answers, throttling and cookie as a user's.
async fn root_login(st: &Shared, parts: &Parts, form: &Form) -> Response {
    let (_, ip, _) = peer(parts);
    let code = form.get("mfaCode").filter(|c| !c.is_empty());
    let ua = parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    match crate::service::root_login::login(st, ip, form.get("password").unwrap_or(""), code, ua)
        .await
    {
        Ok(opened) => {
            let mut resp = redirect("/ui/");
            let t = now();
            let v = set_cookie(&cookie_value(st, opened.token.expose(), t, t));
            if let Ok(v) = HeaderValue::from_str(&v) {
                resp.headers_mut().insert(header::SET_COOKIE, v);
            }
            resp
        }
        Err(e) => {
            let mut resp = login_page(e.status(), None, Some(&e.message()));
            if let ApiError::RetryLater { retry_after, .. } = &e {
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
            }
            resp
        }
    }
}

/// `POST /ui/logout`: revokes the session (whatever the caller's policy
/// says about `iam:RevokeSession`: one's own sign-out is never refused)
/// and clears the cookie.
pub(crate) async fn logout(State(st): State<Shared>, req: Request) -> Response {
    let (ctx, _) = match Ctx::post(&st, req).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match (&ctx.caller.identity, &ctx.caller.access_key_id) {
        (Identity::User(u), Some(id)) => {
            if let Err(e) = revoke(&st, &ctx.caller, u, id).await {
                return page::refused(e.status(), e.code(), &e.message());
            }
        }
        (Identity::Root, Some(id)) => {
            if let Err(e) =
                crate::service::root_login::sign_out(&st, id, ctx.caller.source_ip).await
            {
                return page::refused(e.status(), e.code(), &e.message());
            }
        }
        _ => {}
    }
    to_login()
}

async fn revoke(
    st: &AppState,
    caller: &Caller,
    u: &crate::store::iam::User,
    id: &str,
) -> Result<(), ApiError> {
    let g =
        crate::service::authz::system_grant("ward:SignOut", &user_arn(st.store.account_id(), u));
    let mut m = st.store.mutation(&g).await?;
    crate::store::iam::revoke_session(&mut m.tx, &u.id, id).await?;
    crate::service::request::commit(m, caller, &g, serde_json::json!({"session": id})).await
}
