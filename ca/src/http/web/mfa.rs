//! MFA self-service: the signed-in user's virtual MFA device — create one
//! (its seed shown once, as the `otpauth://` URI, the same URI as a QR
//! code rendered here as inline SVG, and the base32 secret to type or
//! paste into an authenticator app), enable it with two
//! consecutive codes, see it, resync it, deactivate it and delete it.
//!
//! Every step is the `/v1/` MFA handler called as the signed-in user
//! (`iam:CreateVirtualMFADevice`, `iam:EnableMFADevice`,
//! `iam:ListMFADevices`, `iam:ResyncMFADevice`, `iam:DeactivateMFADevice`,
//! `iam:DeleteVirtualMFADevice`), so policy decides and a refusal is shown
//! with its explanation. The seed is in the one response to the create
//! form (`Cache-Control: no-store`, as every page) and nowhere else.

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, PreEscaped};

use crate::http::dispatch::{segment, Failure};
use crate::http::web::page::{self, csrf_field, failure_box};
use crate::http::web::session::Ctx;
use crate::service::caller::Identity;
use crate::state::Shared;

/// The signed-in user's name; `None` for root and role sessions, which
/// have no MFA device of their own here.
pub fn me(ctx: &Ctx) -> Option<String> {
    match &ctx.caller.identity {
        Identity::User(u) => Some(u.name.clone()),
        _ => None,
    }
}

/// What the page shows besides the device list.
#[derive(Default)]
struct Extra<'a> {
    /// A device just created: its seed, shown this once.
    created: Option<&'a serde_json::Value>,
    /// The device name the enable form is for.
    enable_name: Option<&'a str>,
    /// A device just deactivated (offered for deletion).
    deactivated: Option<&'a str>,
    /// A refusal to show in place.
    error: Option<&'a Failure>,
    /// A confirmation.
    note: Option<&'a str>,
}

/// `GET /ui/mfa`.
pub(crate) async fn show(State(st): State<Shared>, req: Request) -> Response {
    let ctx = match Ctx::get(&st, req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    mfa_page(&ctx, StatusCode::OK, Extra::default()).await
}

fn code_fields(prefix: &str) -> Markup {
    html! {
        label for={(prefix) "-code1"} { "Code" }
        input id={(prefix) "-code1"} name="code1" inputmode="numeric" autocomplete="one-time-code"
            pattern="[0-9]{6}" maxlength="6" required;
        label for={(prefix) "-code2"} { "Next code " span class="hint" { "(wait for the app to show the following one)" } }
        input id={(prefix) "-code2"} name="code2" inputmode="numeric" autocomplete="one-time-code"
            pattern="[0-9]{6}" maxlength="6" required;
    }
}

/// Devices created but never enabled (or deactivated), as
/// `GET /v1/mfa-devices?assignmentStatus=Unassigned` (AWS's
/// ListVirtualMFADevices) lists them to this caller: every unassigned
/// device of the account when policy allows `iam:ListVirtualMFADevices`,
/// else the denial's explanation. Each has a "delete" form
/// (`iam:DeleteVirtualMFADevice`) and, when `enable` (a user without an
/// enabled device), an "enable for me" form with two codes.
async fn unassigned(ctx: &Ctx, enable: bool) -> Markup {
    let list = ctx
        .call(
            Method::GET,
            "/v1/mfa-devices?assignmentStatus=Unassigned",
            None,
        )
        .await;
    html! {
        section aria-labelledby="unassigned-h" {
            h2 id="unassigned-h" { "Devices created but not enabled" }
            @match &list {
                Err(f) => {
                    p class="hint" { "Devices not enabled yet are listed to whoever policy allows iam:ListVirtualMFADevices." }
                    (failure_box(f))
                }
                Ok(l) => {
                    @let devices = l["virtualMfaDevices"].as_array().cloned().unwrap_or_default();
                    @if devices.is_empty() {
                        p { "None: every virtual MFA device is enabled for a user." }
                    } @else {
                        p class="hint" { "A device left here was created but never enabled (or was deactivated). Enable it with two consecutive codes from the app it was added to, or delete it." }
                        ul class="unassigned" {
                            @for d in &devices {
                                @let serial = d["serialNumber"].as_str().unwrap_or_default();
                                @let name = serial.rsplit('/').next().unwrap_or_default();
                                li {
                                    code { (serial) }
                                    @if enable {
                                        form method="post" action="/ui/mfa" class="stack" {
                                            (csrf_field(ctx))
                                            input type="hidden" name="op" value="enable";
                                            input type="hidden" name="device" value=(name);
                                            @let prefix = format!("enable-{name}");
                                            (code_fields(&prefix))
                                            button type="submit" { "Enable " (name) " for me" }
                                        }
                                    }
                                    form method="post" action="/ui/mfa" class="inline" {
                                        (csrf_field(ctx))
                                        input type="hidden" name="op" value="delete";
                                        input type="hidden" name="device" value=(name);
                                        button type="submit" class="bad" { "Delete " (name) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

async fn mfa_page(ctx: &Ctx, status: StatusCode, x: Extra<'_>) -> Response {
    let Some(user) = me(ctx) else {
        let pending = unassigned(ctx, false).await;
        let body = html! {
            h1 { "MFA device" }
            @if let Some(n) = x.note { p class="note" role="status" { (n) } }
            @if let Some(f) = x.error { (failure_box(f)) }
            p class="note" { "MFA devices belong to users. Sign in as a user to manage yours." }
            (pending)
        };
        return ctx.finish((status, page::layout(ctx, "MFA device", body)).into_response());
    };
    let list = ctx
        .call(
            Method::GET,
            &format!("/v1/users/{}/mfa-devices", segment(&user)),
            None,
        )
        .await;
    let devices: Vec<serde_json::Value> = match &list {
        Ok(l) => l["mfaDevices"].as_array().cloned().unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    let pending = unassigned(ctx, devices.is_empty() && list.is_ok()).await;
    let body = html! {
        h1 { "Your MFA device" }
        @if let Some(n) = x.note { p class="note" role="status" { (n) } }
        @if let Some(f) = x.error { (failure_box(f)) }
        @if let Some(c) = x.created { (seed_once(c)) }
        @match &list {
            Err(f) => (failure_box(f)),
            Ok(_) => {
                @if devices.is_empty() {
                    p { "You have no MFA device enabled: sign-in asks for your password only." }
                } @else {
                    table class="list" {
                        caption class="sr-only" { "Your MFA devices" }
                        thead { tr { th scope="col" { "Serial number" } th scope="col" { "Enabled" } } }
                        tbody {
                            @for d in &devices {
                                tr {
                                    td { code { (d["serialNumber"].as_str().unwrap_or_default()) } }
                                    td { (d["enableDate"].as_str().unwrap_or_default()) }
                                }
                            }
                        }
                    }
                }
            }
        }
        @for d in &devices {
            @let serial = d["serialNumber"].as_str().unwrap_or_default();
            @let name = serial.rsplit('/').next().unwrap_or_default();
            section aria-labelledby="resync-h" {
                h2 id="resync-h" { "Resync" }
                p class="hint" { "If codes are refused because the device's clock drifted, enter two consecutive codes." }
                form method="post" action="/ui/mfa" class="stack" {
                    (csrf_field(ctx))
                    input type="hidden" name="op" value="resync";
                    input type="hidden" name="device" value=(name);
                    (code_fields("resync"))
                    button type="submit" { "Resync" }
                }
            }
            section aria-labelledby="deactivate-h" class="danger" {
                h2 id="deactivate-h" { "Deactivate" }
                form method="post" action="/ui/mfa" class="inline" {
                    (csrf_field(ctx))
                    input type="hidden" name="op" value="deactivate";
                    input type="hidden" name="device" value=(name);
                    button type="submit" class="bad" { "Deactivate " (name) }
                }
            }
        }
        @if let Some(name) = x.deactivated {
            form method="post" action="/ui/mfa" class="row" {
                (csrf_field(ctx))
                input type="hidden" name="op" value="delete";
                input type="hidden" name="device" value=(name);
                button type="submit" class="bad" { "Delete device " (name) }
                span class="hint" { "(it is unassigned now; delete it unless you mean to enable it again)" }
            }
        }
        (pending)
        @if devices.is_empty() && list.is_ok() {
            @if x.created.is_none() {
                section aria-labelledby="create-h" {
                    h2 id="create-h" { "Create a virtual MFA device" }
                    form method="post" action="/ui/mfa" class="stack" {
                        (csrf_field(ctx))
                        input type="hidden" name="op" value="create";
                        label for="device-name" { "Device name " span class="hint" { "(letters, digits and +=,.@_-)" } }
                        input id="device-name" name="device" required maxlength="64" value=(user);
                        button type="submit" { "Create device" }
                    }
                }
            }
            section aria-labelledby="enable-h" {
                h2 id="enable-h" { "Enable a device" }
                form method="post" action="/ui/mfa" class="stack" {
                    (csrf_field(ctx))
                    input type="hidden" name="op" value="enable";
                    label for="enable-device" { "Device name" }
                    input id="enable-device" name="device" required maxlength="64" value=(x.enable_name.unwrap_or_default());
                    (code_fields("enable"))
                    button type="submit" { "Enable" }
                }
            }
        }
    };
    ctx.finish((status, page::layout(ctx, "MFA device", body)).into_response())
}

/// The page with a refusal shown in place (the enable form keeps the
/// device name).
async fn shown(ctx: &Ctx, f: &Failure, device: &str) -> Response {
    mfa_page(
        ctx,
        f.status,
        Extra {
            error: Some(f),
            enable_name: Some(device),
            ..Extra::default()
        },
    )
    .await
}

/// A new device's seed: in this response only.
fn seed_once(c: &serde_json::Value) -> Markup {
    html! {
        div class="secret" role="status" {
            h2 { "New virtual MFA device" }
            p { "Add it to your authenticator app now: the secret is shown this once and cannot be retrieved later. Then enable it below with two consecutive codes." }
            dl class="facts" {
                dt { "Serial number" } dd { code { (c["serialNumber"].as_str().unwrap_or_default()) } }
                dt { "Secret (base32)" }
                dd {
                    code id="mfa-secret" { (c["base32StringSeed"].as_str().unwrap_or_default()) } " "
                    button type="button" class="small" data-copy="mfa-secret" { "Copy" }
                }
                dt { "otpauth URI" }
                dd {
                    code id="mfa-uri" { (c["otpauthUri"].as_str().unwrap_or_default()) } " "
                    button type="button" class="small" data-copy="mfa-uri" { "Copy" }
                }
            }
            @if let Some(svg) = qr_svg(c["otpauthUri"].as_str().unwrap_or_default()) {
                figure class="qr" {
                    div id="mfa-qr" role="img" aria-label="QR code of the otpauth URI: scan it with your authenticator app" {
                        (PreEscaped(svg))
                    }
                    figcaption { "Scan with your authenticator app (the same secret as above)." }
                }
            }
        }
    }
}

/// The otpauth URI as a QR code, an SVG to inline in the page (rendered
/// here, never by a script or another server; CSP-clean: no script, no
/// style attribute). The SVG holds only the modules' geometry, none of
/// the URI's characters, so inlining it injects nothing. `None` if the
/// URI cannot be encoded (too long for a QR code) — the page still shows
/// the URI and the base32 secret.
pub fn qr_svg(uri: &str) -> Option<String> {
    if uri.is_empty() {
        return None;
    }
    let code =
        qrcode::QrCode::with_error_correction_level(uri.as_bytes(), qrcode::EcLevel::M).ok()?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(240, 240)
        .dark_color(qrcode::render::svg::Color("#000000"))
        .light_color(qrcode::render::svg::Color("#ffffff"))
        .build();
    // The XML declaration does not belong inside an HTML document.
    let start = svg.find("<svg")?;
    Some(svg[start..].to_owned())
}

/// `POST /ui/mfa` (`op` = create, enable, resync, deactivate, delete).
pub(crate) async fn act(State(st): State<Shared>, req: Request) -> Response {
    let (ctx, form) = match Ctx::post(&st, req).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let device = form.text("device");
    let d = segment(device);
    // Deleting an unassigned device is anyone's whom policy allows
    // (root's too): it belongs to no user.
    if form.text("op") == "delete" {
        let path = format!("/v1/mfa-devices/{d}");
        return match ctx.call(Method::DELETE, &path, None).await {
            Ok(_) => page::see(&ctx, "/ui/mfa"),
            Err(f) => shown(&ctx, &f, device).await,
        };
    }
    let Some(user) = me(&ctx) else {
        return mfa_page(&ctx, StatusCode::OK, Extra::default()).await;
    };
    let u = segment(&user);
    let codes = serde_json::json!({
        "authenticationCode1": form.text("code1"),
        "authenticationCode2": form.text("code2"),
    });
    match form.text("op") {
        "create" => {
            let body = serde_json::json!({"virtualMfaDeviceName": device});
            match ctx.call(Method::POST, "/v1/mfa-devices", Some(&body)).await {
                Ok(c) => {
                    mfa_page(
                        &ctx,
                        StatusCode::OK,
                        Extra {
                            created: Some(&c),
                            enable_name: Some(device),
                            ..Extra::default()
                        },
                    )
                    .await
                }
                Err(f) => shown(&ctx, &f, device).await,
            }
        }
        "enable" => {
            let mut body = codes;
            body["serialNumber"] =
                serde_json::Value::String(crate::service::mfa::serial(&ctx.st, device));
            match ctx
                .call(
                    Method::POST,
                    &format!("/v1/users/{u}/mfa-devices"),
                    Some(&body),
                )
                .await
            {
                Ok(_) => page::see(&ctx, "/ui/mfa"),
                Err(f) => shown(&ctx, &f, device).await,
            }
        }
        "resync" => {
            let path = format!("/v1/users/{u}/mfa-devices/{d}/resync");
            match ctx.call(Method::POST, &path, Some(&codes)).await {
                Ok(_) => {
                    let note = "Device resynchronised.";
                    mfa_page(
                        &ctx,
                        StatusCode::OK,
                        Extra {
                            note: Some(note),
                            ..Extra::default()
                        },
                    )
                    .await
                }
                Err(f) => shown(&ctx, &f, device).await,
            }
        }
        "deactivate" => {
            let path = format!("/v1/users/{u}/mfa-devices/{d}");
            match ctx.call(Method::DELETE, &path, None).await {
                Ok(_) => {
                    mfa_page(
                        &ctx,
                        StatusCode::OK,
                        Extra {
                            deactivated: Some(device),
                            note: Some("Device deactivated: sign-in no longer asks for a code."),
                            ..Extra::default()
                        },
                    )
                    .await
                }
                Err(f) => shown(&ctx, &f, device).await,
            }
        }
        _ => page::fail(
            &ctx,
            &Failure {
                status: StatusCode::BAD_REQUEST,
                code: "InvalidInput".into(),
                message: "op must be create, enable, resync, deactivate or delete".into(),
                field: Some("op".into()),
            },
        ),
    }
}
