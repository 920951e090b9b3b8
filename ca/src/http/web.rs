//! The dashboard: server-rendered HTML pages under `/ui/` (and `GET /`
//! redirecting there when it carries no `Action` query parameter, which
//! belongs to the AWS Query API).
//!
//! A third front end over the JSON API's handlers (see
//! [`crate::http::dispatch`]): a page request is authenticated from its
//! session cookie exactly as a bearer token is ([`crate::http::auth`]),
//! and everything the page shows or does is a call of a `/v1/` route as
//! that caller, so the handlers validate, authorize and audit, and a
//! denial is rendered with its explanation. Nothing here decides access.
//!
//! - [`session`]: sign-in (the `POST /v1/login` handler itself), the
//!   cookie (`__Host-ward-session`: the login's session token, a last-seen
//!   time and a MAC; `HttpOnly; Secure; SameSite=Strict; Path=/`), idle and
//!   absolute timeouts, CSRF tokens and origin checks, sign-out.
//! - [`page`]: the layout, security headers, forms and error pages.
//! - [`users`], [`groups`], [`roles`], [`policies`] (with [`diff`] of two
//!   versions), [`simulate`], [`access`] (hosts and the access map),
//!   [`certificates`], [`audit`], [`mfa`] (one's own MFA device),
//!   [`sshkeys`], [`recordings`] (the gateway's, from the audit log, with
//!   replay in the vendored asciinema player), [`root_sessions`] (root's
//!   open sessions; sign out everywhere else): the pages.
//! - assets (`ca/assets/`) are embedded in the binary; no inline script or
//!   style, so the Content-Security-Policy forbids both. The asciinema
//!   player (`ca/assets/vendor/asciinema-player/`, Apache 2.0) is served
//!   under a versioned path with a long cache lifetime; the replay page's
//!   policy adds only `'wasm-unsafe-eval'` for it ([`REPLAY_CSP`]).

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::state::Shared;

pub mod access;
pub mod audit;
pub mod certificates;
pub mod diff;
pub mod groups;
pub mod markup;
pub mod mfa;
pub mod page;
pub mod password;
pub mod policies;
pub mod recordings;
pub mod roles;
pub mod root_sessions;
pub mod session;
pub mod simulate;
pub mod sshkeys;
pub mod users;

/// The dashboard's routes (state supplied by the caller's router).
pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/ui", get(|| async { redirect("/ui/") }))
        .route("/ui/", get(page::home))
        .route("/ui/assets/ward.css", get(css))
        .route("/ui/assets/ward.js", get(js))
        .route("/ui/assets/favicon.svg", get(favicon))
        .route("/ui/assets/replay.js", get(replay_js))
        .route(PLAYER_JS, get(player_js))
        .route(PLAYER_CSS, get(player_css))
        .route(PLAYER_LICENSE, get(player_license))
        .route("/ui/login", get(session::login_form).post(session::login))
        .route("/ui/logout", post(session::logout))
        .route(
            "/ui/password",
            get(password::password_form).post(password::change_password),
        )
        .route("/ui/users", get(users::list).post(users::create))
        .route("/ui/users/{name}", get(users::show))
        .route("/ui/users/{name}/{op}", post(users::act))
        .route("/ui/users/{name}/access-keys/{id}", post(users::key_status))
        .route("/ui/groups", get(groups::list).post(groups::create))
        .route("/ui/groups/{name}", get(groups::show))
        .route("/ui/groups/{name}/{op}", post(groups::act))
        .route("/ui/policies", get(policies::list).post(policies::create))
        .route("/ui/policies/{name}", get(policies::show))
        .route("/ui/policies/{name}/{op}", post(policies::act))
        .route("/ui/api/validate-policy", post(policies::validate))
        .route("/ui/simulate", get(simulate::form).post(simulate::run))
        .route("/ui/hosts", get(access::hosts))
        .route("/ui/access", get(access::map))
        .route("/ui/roles", get(roles::list).post(roles::create))
        .route("/ui/roles/{name}", get(roles::show))
        .route("/ui/roles/{name}/{op}", post(roles::act))
        .route("/ui/certificates", get(certificates::list))
        .route(
            "/ui/certificates/{serial}/revoke",
            post(certificates::revoke),
        )
        .route("/ui/audit", get(audit::list))
        .route("/ui/mfa", get(mfa::show).post(mfa::act))
        .route(
            "/ui/sessions",
            get(root_sessions::show).post(root_sessions::act),
        )
        .route("/ui/ssh-keys", get(sshkeys::mine))
        .route(
            "/ui/ssh-keys/{user}",
            get(sshkeys::show).post(sshkeys::upload),
        )
        .route("/ui/ssh-keys/{user}/{id}", post(sshkeys::act))
        .route("/ui/recordings", get(recordings::list))
        .route("/ui/recordings/{id}", get(recordings::show))
        .route("/ui/recordings/{id}/cast", get(recordings::cast))
        .route("/ui/policy-diff/{name}", get(diff::show))
        .route("/ui/access/cell", get(access::explain))
        .layer(middleware::map_response(security_headers))
}

/// `GET /`: the dashboard for a browser; a request with an `Action` query
/// parameter is the AWS Query API's (not served by this module).
pub async fn root(req: Request) -> Response {
    let has_action = req
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .any(|p| p.split('=').next() == Some("Action"));
    if has_action {
        return crate::error::ApiError::NotFound {
            code: "NotFound",
            message: "no such API route".into(),
        }
        .into_response();
    }
    redirect("/ui/")
}

/// A 303 to `to` (a path of ours).
pub(crate) fn redirect(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// The Content-Security-Policy of every dashboard response: only our own
/// script and style files, no inline code, no framing, forms post to us.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
base-uri 'none'";

/// The replay page's policy: [`CSP`] plus `'wasm-unsafe-eval'`, which the
/// vendored asciinema player needs to compile its terminal emulator
/// (WebAssembly inside its own script). It allows WebAssembly compilation
/// only — no `eval`, no inline script — and only on that page.
pub const REPLAY_CSP: &str = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; \
style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; \
frame-ancestors 'none'; base-uri 'none'";

/// The vendored asciinema player's version (`ca/assets/vendor/`), part of
/// its asset paths so that they can be cached for good.
pub const PLAYER_VERSION: &str = "3.18.0";
/// The player's script.
pub const PLAYER_JS: &str = "/ui/assets/vendor/asciinema-player-3.18.0/asciinema-player.min.js";
/// The player's style sheet.
pub const PLAYER_CSS: &str = "/ui/assets/vendor/asciinema-player-3.18.0/asciinema-player.css";
/// The player's licence (Apache 2.0).
pub const PLAYER_LICENSE: &str = "/ui/assets/vendor/asciinema-player-3.18.0/LICENSE";

/// Adds the security headers to every dashboard response. A handler may
/// set its own `Cache-Control` (the versioned vendored assets) or a
/// Content-Security-Policy (only the replay page, [`REPLAY_CSP`]); every
/// other response gets `no-store` and [`CSP`].
async fn security_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    for (k, v) in [
        ("content-security-policy", CSP),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("x-content-type-options", "nosniff"),
        ("cache-control", "no-store"),
        ("cross-origin-opener-policy", "same-origin"),
    ] {
        if matches!(k, "content-security-policy" | "cache-control") && h.contains_key(k) {
            continue;
        }
        h.insert(k, HeaderValue::from_static(v));
    }
    resp
}

/// A year, immutable: the vendored player's paths carry its version.
const FOREVER: &str = "public, max-age=31536000, immutable";

async fn replay_js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("../../assets/replay.js"),
    )
        .into_response()
}

async fn player_js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, FOREVER),
        ],
        &include_bytes!("../../assets/vendor/asciinema-player/asciinema-player.min.js")[..],
    )
        .into_response()
}

async fn player_css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, FOREVER),
        ],
        &include_bytes!("../../assets/vendor/asciinema-player/asciinema-player.css")[..],
    )
        .into_response()
}

async fn player_license() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, FOREVER),
        ],
        &include_bytes!("../../assets/vendor/asciinema-player/LICENSE")[..],
    )
        .into_response()
}

async fn css() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../../assets/ward.css"),
    )
        .into_response()
}

async fn js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("../../assets/ward.js"),
    )
        .into_response()
}

async fn favicon() -> Response {
    (
        [(header::CONTENT_TYPE, "image/svg+xml")],
        include_str!("../../assets/favicon.svg"),
    )
        .into_response()
}
