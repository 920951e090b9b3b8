//! The dashboard's self-service and history pages against the real
//! ward-ca (SQLite and PostgreSQL), driven with curl as a browser would:
//! MFA self-service (a virtual device created with its seed shown once,
//! enabled with two consecutive codes, resynced, deactivated, deleted),
//! SSH keys (upload with validation errors shown, activate/deactivate,
//! delete; another user's keys by policy only), session recordings listed
//! from the audit log, and a policy version diff. Each page: its happy
//! path, CSRF or origin refusal writing nothing, XSS payloads (device
//! names, key comments, recording fields, policy values) rendered inert,
//! and a denial explained.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod hosts;
mod sshd;
mod ui;

use common::Server;
use hosts::{enrol, mtls};
use serde_json::json;
use sshd::TempDir;
use std::process::Command;
use ui::*;
use ward_ca::crypto::totp;

/// The text of the element after `marker` (up to the next tag).
fn text_after<'a>(body: &'a str, marker: &str) -> &'a str {
    let i = body
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} not in {body}"))
        + marker.len();
    &body[i..i + body[i..].find('<').unwrap()]
}

fn unix_now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

/// A payload that would run script if written unescaped.
const XSS: &str = "<img src=x onerror=alert(1)>";

/// The payload is on the page only escaped.
fn inert(p: &Page, payload: &str) {
    assert!(!p.body.contains(payload), "raw payload in {}", p.body);
    let escaped = payload
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    assert!(
        p.body.contains(&escaped),
        "escaped payload not shown: {}",
        p.body
    );
}

const MFA_SELF: &str = r#"{"Effect":"Allow","Action":["iam:CreateVirtualMFADevice",
    "iam:EnableMFADevice","iam:ListMFADevices","iam:ResyncMFADevice",
    "iam:DeactivateMFADevice","iam:DeleteVirtualMFADevice"],"Resource":"*"}"#;

#[test]
fn mfa_self_service_creates_shows_once_enables_resyncs_deactivates_and_deletes_a_device() {
    for s in servers() {
        let root = s.root();
        user_with_password(&s, "alice", MFA_SELF);
        user_with_password(
            &s,
            "bob",
            r#"{"Effect":"Allow","Action":"iam:GetUser","Resource":"*"}"#,
        );
        let cookie = sign_in(&s, "alice");
        let page = web(&s, "GET", "/ui/mfa", Some(&cookie), None, &[]);
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("no MFA device"), "{}", page.body);
        let csrf = page.csrf();

        // Without the CSRF token, or from another origin: refused, nothing
        // created (the same name is free afterwards).
        let create = |extra: &[(&str, &str)], csrf: &str| {
            let form = enc(&[("csrf", csrf), ("op", "create"), ("device", "alice-phone")]);
            web(&s, "POST", "/ui/mfa", Some(&cookie), Some(&form), extra)
        };
        let p = create(&[], "");
        assert_eq!(p.status, 403, "{}", p.body);
        assert!(p.body.contains("InvalidCsrfToken"), "{}", p.body);
        let p = create(&[("origin", "https://evil.example")], &csrf);
        assert_eq!(p.status, 403, "{}", p.body);
        assert!(p.body.contains("CrossOriginRequest"), "{}", p.body);

        // A device name with markup: refused by the handler, naming the
        // field, and the name echoed only escaped.
        let form = enc(&[("csrf", &csrf), ("op", "create"), ("device", XSS)]);
        let p = web(&s, "POST", "/ui/mfa", Some(&cookie), Some(&form), &[]);
        assert_eq!(p.status, 400, "{}", p.body);
        assert!(p.body.contains("virtualMfaDeviceName"), "{}", p.body);
        inert(&p, XSS);

        // Created: the seed is shown in this answer, as URI and base32.
        let p = create(&[("origin", s.endpoint.as_str())], &csrf);
        assert_eq!(p.status, 200, "{}", p.body);
        let secret = text_after(&p.body, "id=\"mfa-secret\">").to_owned();
        let uri = text_after(&p.body, "id=\"mfa-uri\">").replace("&amp;", "&");
        assert!(uri.starts_with("otpauth://totp/"), "{uri}");
        assert!(uri.contains(&format!("secret={secret}&")), "{uri}");
        let seed = totp::base32_decode(&secret).unwrap();
        // ... and never again.
        let p = web(&s, "GET", "/ui/mfa", Some(&cookie), None, &[]);
        assert!(!p.body.contains(&secret), "the seed was shown twice");

        let op = |fields: &[(&str, &str)]| {
            let mut all = vec![("csrf", csrf.as_str())];
            all.extend_from_slice(fields);
            web(&s, "POST", "/ui/mfa", Some(&cookie), Some(&enc(&all)), &[])
        };
        // Wrong codes: the handler's refusal in place, nothing enabled.
        let now = totp::step_of(unix_now());
        let good = [totp::code_at(&seed, now - 1), totp::code_at(&seed, now)];
        let wrong = (0..1000)
            .map(|i| format!("{:06}", (i * 7919 + 13) % 1_000_000))
            .find(|c| (now - 30..=now + 30).all(|st| totp::code_at(&seed, st) != *c))
            .unwrap();
        let p = op(&[
            ("op", "enable"),
            ("device", "alice-phone"),
            ("code1", &wrong),
            ("code2", &wrong),
        ]);
        assert!(
            p.status == 400 || p.status == 403,
            "{}: {}",
            p.status,
            p.body
        );
        assert!(p.body.contains("InvalidAuthenticationCode"), "{}", p.body);
        let devices = |s: &Server| {
            s.call(&root, "GET", "/v1/users/alice/mfa-devices", None)
                .ok()["mfaDevices"]
                .as_array()
                .unwrap()
                .len()
        };
        assert_eq!(devices(&s), 0);
        // Two consecutive codes: enabled.
        let p = op(&[
            ("op", "enable"),
            ("device", "alice-phone"),
            ("code1", &good[0]),
            ("code2", &good[1]),
        ]);
        assert_eq!(
            (p.status, p.header("location")),
            (303, Some("/ui/mfa")),
            "{}",
            p.body
        );
        assert_eq!(devices(&s), 1);
        let serial = format!("arn:ward:iam::{}:mfa/alice-phone", s.account);
        let p = web(&s, "GET", "/ui/mfa", Some(&cookie), None, &[]);
        assert!(p.body.contains(&serial), "{}", p.body);
        // Resync with two later consecutive codes.
        let later = [totp::code_at(&seed, now + 2), totp::code_at(&seed, now + 3)];
        let p = op(&[
            ("op", "resync"),
            ("device", "alice-phone"),
            ("code1", &later[0]),
            ("code2", &later[1]),
        ]);
        assert_eq!(p.status, 200, "{}", p.body);
        assert!(p.body.contains("Device resynchronised"), "{}", p.body);
        // Deactivate, then delete the unassigned device.
        let p = op(&[("op", "deactivate"), ("device", "alice-phone")]);
        assert_eq!(p.status, 200, "{}", p.body);
        assert!(p.body.contains("Delete device alice-phone"), "{}", p.body);
        assert_eq!(devices(&s), 0);
        let p = op(&[("op", "delete"), ("device", "alice-phone")]);
        assert_eq!(p.status, 303, "{}", p.body);
        s.call(&root, "DELETE", "/v1/mfa-devices/alice-phone", None)
            .err(404, "NoSuchEntity");

        // bob may not list his devices: the page says why.
        let bob = sign_in(&s, "bob");
        let p = web(&s, "GET", "/ui/mfa", Some(&bob), None, &[]);
        assert!(p.body.contains("AccessDenied"), "{}", p.body);
        assert!(p.body.contains("iam:ListMFADevices"), "{}", p.body);
    }
}

#[test]
fn ssh_keys_upload_validate_toggle_delete_for_self_and_by_policy_for_others() {
    for s in servers() {
        let root = s.root();
        let own = format!(
            r#"{{"Effect":"Allow","Action":["iam:UploadSSHPublicKey","iam:ListSSHPublicKeys",
            "iam:GetSSHPublicKey","iam:UpdateSSHPublicKey","iam:DeleteSSHPublicKey"],
            "Resource":"arn:ward:iam::{}:user/alice"}}"#,
            s.account
        );
        user_with_password(&s, "alice", &own);
        user_with_password(&s, "admin", ADMIN);
        s.call(&root, "POST", "/v1/users", Some(r#"{"name":"bob"}"#))
            .ok();
        let cookie = sign_in(&s, "alice");

        // /ui/ssh-keys is one's own.
        let p = web(&s, "GET", "/ui/ssh-keys", Some(&cookie), None, &[]);
        assert_eq!(
            (p.status, p.header("location")),
            (303, Some("/ui/ssh-keys/alice"))
        );
        let page = web(&s, "GET", "/ui/ssh-keys/alice", Some(&cookie), None, &[]);
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("No SSH keys."), "{}", page.body);
        let csrf = page.csrf();

        let d = std::env::temp_dir().join(format!("ward-dashpages-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let key = d.join("k");
        let comment = "<script>alert(1)</script> & friends";
        let out = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
            .arg(&key)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line = std::fs::read_to_string(d.join("k.pub")).unwrap();
        let _ = std::fs::remove_dir_all(&d);
        let keys = |user: &str| {
            s.call(&root, "GET", &format!("/v1/users/{user}/ssh-keys"), None)
                .ok()["sshPublicKeys"]
                .as_array()
                .unwrap()
                .clone()
        };

        // No CSRF token: refused, nothing stored.
        let p = web(
            &s,
            "POST",
            "/ui/ssh-keys/alice",
            Some(&cookie),
            Some(&enc(&[("publicKey", line.trim())])),
            &[],
        );
        assert_eq!(p.status, 403, "{}", p.body);
        assert!(keys("alice").is_empty());
        // Not a key: the handler's error, naming the field, the text kept
        // (escaped) in the form.
        let junk = format!("ssh-ed25519 not-base64 {XSS}");
        let p = web(
            &s,
            "POST",
            "/ui/ssh-keys/alice",
            Some(&cookie),
            Some(&enc(&[("csrf", &csrf), ("publicKey", &junk)])),
            &[],
        );
        assert_eq!(p.status, 400, "{}", p.body);
        assert!(p.body.contains("publicKey"), "{}", p.body);
        inert(&p, XSS);
        assert!(keys("alice").is_empty());
        // A key: stored, listed with its comment rendered inert.
        let p = web(
            &s,
            "POST",
            "/ui/ssh-keys/alice",
            Some(&cookie),
            Some(&enc(&[("csrf", &csrf), ("publicKey", line.trim())])),
            &[],
        );
        assert_eq!(
            (p.status, p.header("location")),
            (303, Some("/ui/ssh-keys/alice")),
            "{}",
            p.body
        );
        let k = keys("alice");
        assert_eq!(k.len(), 1);
        let id = k[0]["sshPublicKeyId"].as_str().unwrap().to_owned();
        let p = web(&s, "GET", "/ui/ssh-keys/alice", Some(&cookie), None, &[]);
        assert!(p.body.contains(&id), "{}", p.body);
        assert!(
            p.body.contains(k[0]["fingerprint"].as_str().unwrap()),
            "{}",
            p.body
        );
        inert(&p, comment);
        // Deactivate, activate, delete.
        let act = |op: &str| {
            web(
                &s,
                "POST",
                &format!("/ui/ssh-keys/alice/{id}"),
                Some(&cookie),
                Some(&enc(&[("csrf", &csrf), ("op", op)])),
                &[],
            )
        };
        assert_eq!(act("Inactive").status, 303);
        assert_eq!(keys("alice")[0]["status"], "Inactive");
        let p = web(&s, "GET", "/ui/ssh-keys/alice", Some(&cookie), None, &[]);
        assert!(p.body.contains(">Activate<"), "{}", p.body);
        assert_eq!(act("Active").status, 303);
        assert_eq!(keys("alice")[0]["status"], "Active");
        let p = act("Sideways");
        assert_eq!(p.status, 400, "{}", p.body);
        assert!(p.body.contains("<code>status</code>"), "{}", p.body);
        assert_eq!(act("delete").status, 303);
        assert!(keys("alice").is_empty());

        // Another user's keys: alice's policy does not reach bob — the
        // denial explained, and her upload to bob refused and not stored.
        let p = web(&s, "GET", "/ui/ssh-keys?user=bob", Some(&cookie), None, &[]);
        assert_eq!(p.header("location"), Some("/ui/ssh-keys/bob"));
        let p = web(&s, "GET", "/ui/ssh-keys/bob", Some(&cookie), None, &[]);
        assert!(p.body.contains("AccessDenied"), "{}", p.body);
        assert!(p.body.contains("iam:ListSSHPublicKeys"), "{}", p.body);
        let p = web(
            &s,
            "POST",
            "/ui/ssh-keys/bob",
            Some(&cookie),
            Some(&enc(&[("csrf", &csrf), ("publicKey", line.trim())])),
            &[],
        );
        assert_eq!(p.status, 403, "{}", p.body);
        assert!(p.body.contains("iam:UploadSSHPublicKey"), "{}", p.body);
        assert!(keys("bob").is_empty());
        // An administrator's policy does.
        let admin = sign_in(&s, "admin");
        let page = web(&s, "GET", "/ui/ssh-keys/bob", Some(&admin), None, &[]);
        assert!(page.body.contains("SSH keys of"), "{}", page.body);
        let p = web(
            &s,
            "POST",
            "/ui/ssh-keys/bob",
            Some(&admin),
            Some(&enc(&[("csrf", &page.csrf()), ("publicKey", line.trim())])),
            &[],
        );
        assert_eq!(p.status, 303, "{}", p.body);
        assert_eq!(keys("bob").len(), 1);
    }
}

#[test]
fn recordings_are_listed_from_the_audit_log_and_policy_versions_diffed_inertly() {
    for s in servers() {
        let root = s.root();
        user_with_password(&s, "admin", ADMIN);
        user_with_password(
            &s,
            "bob",
            r#"{"Effect":"Allow","Action":"iam:GetPolicy","Resource":"*"}"#,
        );
        // A gateway reports a recorded session, with markup in every field
        // a host chooses.
        let d = TempDir::new("ward-dashpages-gw");
        let (gw, _) = enrol(&s, d.path(), "gw-01", json!({"gateway": true}));
        let reason = format!(
            "session gws-0a1b connection gs-0123456789abcdef target web-01 as deploy \
             start 1700000000 end 1700000060 bytesIn 12 bytesOut 3456 recording gws-0a1b{XSS_WORD}"
        );
        let batch = json!({"events": [{
            "id": "gws-0a1b-end", "time": 1_700_000_060,
            "action": "ward-gateway:RecordingEnd", "user": format!("alice{XSS}"),
            "principal": "deploy", "allowed": true, "reason": reason,
            "target": format!("web-01{XSS}")
        }]});
        let r = mtls(
            &s,
            &gw,
            "POST",
            "/v1/host/audit",
            Some(batch.to_string().as_bytes()),
            &[("content-type", "application/json")],
        );
        assert_eq!(r.status, 200, "audit: {}", r.body);

        let admin = sign_in(&s, "admin");
        let p = web(&s, "GET", "/ui/recordings", Some(&admin), None, &[]);
        assert_eq!(p.status, 200, "{}", p.body);
        assert!(p.body.contains("gs-0123456789abcdef"), "{}", p.body);
        assert!(p.body.contains("2023-11-14T22:13:20Z"), "{}", p.body);
        assert!(p.body.contains("12 / 3456"), "{}", p.body);
        assert!(p.body.contains("gw-01"), "{}", p.body);
        assert!(p.body.contains("ward recording get ID"), "{}", p.body);
        assert!(p.body.contains("not uploaded yet"), "{}", p.body);
        inert(&p, XSS);
        inert(&p, XSS_WORD);
        let bob = sign_in(&s, "bob");
        let p = web(&s, "GET", "/ui/recordings", Some(&bob), None, &[]);
        assert!(p.body.contains("AccessDenied"), "{}", p.body);
        assert!(p.body.contains("audit:ListEvents"), "{}", p.body);
        assert!(!p.body.contains("gws-0a1b"), "{}", p.body);

        // Two versions of a policy, the second with markup in a value.
        let v1 = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"host:Login","Resource":"*"}]}"#;
        let v2 = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"host:Login","Resource":"*","Condition":{{"StringEquals":{{"host:Principal":"{}"}}}}}}]}}"#,
            XSS.replace('"', "")
        );
        s.call(
            &root,
            "POST",
            "/v1/policies",
            Some(&json!({"name": "logins", "document": v1}).to_string()),
        )
        .ok();
        s.call(
            &root,
            "POST",
            "/v1/policies/logins/versions",
            Some(&json!({"document": v2, "setAsDefault": true}).to_string()),
        )
        .ok();
        let p = web(&s, "GET", "/ui/policies/logins", Some(&admin), None, &[]);
        assert!(
            p.body.contains("action=\"/ui/policy-diff/logins\""),
            "{}",
            p.body
        );
        let p = web(
            &s,
            "GET",
            "/ui/policy-diff/logins?from=v1&to=v2",
            Some(&admin),
            None,
            &[],
        );
        assert_eq!(p.status, 200, "{}", p.body);
        assert!(
            p.body
                .contains("<ins class=\"diff-add\">+       &quot;Condition&quot;: {"),
            "{}",
            p.body
        );
        assert!(
            p.body.contains(
                "<span class=\"diff-same\">        &quot;Effect&quot;: &quot;Allow&quot;,"
            ),
            "{}",
            p.body
        );
        inert(&p, XSS);
        let p = web(
            &s,
            "GET",
            "/ui/policy-diff/logins?from=v2&to=v2",
            Some(&admin),
            None,
            &[],
        );
        assert!(p.body.contains("the same document"), "{}", p.body);
        // Bad input: a version missing, a version that does not exist.
        let p = web(
            &s,
            "GET",
            "/ui/policy-diff/logins?from=v1",
            Some(&admin),
            None,
            &[],
        );
        assert_eq!(p.status, 400, "{}", p.body);
        assert!(p.body.contains("<code>to</code>"), "{}", p.body);
        let p = web(
            &s,
            "GET",
            "/ui/policy-diff/logins?from=v1&to=v9",
            Some(&admin),
            None,
            &[],
        );
        assert_eq!(p.status, 404, "{}", p.body);
        assert!(p.body.contains("NoSuchEntity"), "{}", p.body);
        // bob may read the policy but not its versions: the denial shown.
        let p = web(
            &s,
            "GET",
            "/ui/policy-diff/logins?from=v1&to=v2",
            Some(&bob),
            None,
            &[],
        );
        assert_eq!(p.status, 403, "{}", p.body);
        assert!(p.body.contains("iam:GetPolicyVersion"), "{}", p.body);
    }
}

/// A payload without spaces (the gateway's reason is split on them).
const XSS_WORD: &str = "<svg/onload=alert(1)>";

/// The QR code on a page, rasterised by a real SVG renderer (resvg) and
/// read back by a real QR decoder (rqrr): the text it encodes.
fn decode_qr(body: &str) -> String {
    let start = body.find("<svg").expect("no inline SVG on the page");
    let end = start + body[start..].find("</svg>").expect("unterminated SVG") + 6;
    let svg = &body[start..end];
    let tree = resvg::usvg::Tree::from_str(svg, &resvg::usvg::Options::default()).unwrap();
    let size = tree.size().to_int_size();
    let scale = 2.0;
    let (w, h) = (size.width() * 2, size.height() * 2);
    let mut pixmap = resvg::tiny_skia::Pixmap::new(w, h).unwrap();
    pixmap.fill(resvg::tiny_skia::Color::WHITE);
    resvg::render(
        &tree,
        resvg::tiny_skia::Transform::from_scale(scale, scale),
        &mut pixmap.as_mut(),
    );
    let px = pixmap.data();
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(w as usize, h as usize, |x, y| {
        px[(y * w as usize + x) * 4]
    });
    let grids = img.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code expected");
    grids[0].decode().unwrap().1
}

const MFA_LISTER: &str = r#"{"Effect":"Allow","Action":["iam:CreateVirtualMFADevice",
    "iam:EnableMFADevice","iam:ListMFADevices","iam:ListVirtualMFADevices",
    "iam:DeactivateMFADevice","iam:DeleteVirtualMFADevice"],"Resource":"*"}"#;

#[test]
fn mfa_qr_code_decodes_to_the_uri_and_devices_not_enabled_are_listed_to_enable_or_delete() {
    for s in servers() {
        let root = s.root();
        user_with_password(&s, "carol", MFA_LISTER);
        user_with_password(&s, "bob", MFA_SELF);
        let cookie = sign_in(&s, "carol");
        let page = web(&s, "GET", "/ui/mfa", Some(&cookie), None, &[]);
        assert!(page.body.contains("Devices created but not enabled"));
        assert!(
            page.body.contains("None: every virtual MFA device"),
            "{}",
            page.body
        );
        let csrf = page.csrf();
        let op = |fields: &[(&str, &str)]| {
            let mut all = vec![("csrf", csrf.as_str())];
            all.extend_from_slice(fields);
            web(&s, "POST", "/ui/mfa", Some(&cookie), Some(&enc(&all)), &[])
        };

        // Created: the otpauth URI as a QR code, which decodes to it.
        let p = op(&[("op", "create"), ("device", "carol-phone")]);
        assert_eq!(p.status, 200, "{}", p.body);
        let uri = unescape(text_after(&p.body, "id=\"mfa-uri\">"));
        assert!(uri.starts_with("otpauth://totp/ward%3Acarol"), "{uri}");
        assert!(p.body.contains("id=\"mfa-qr\""), "{}", p.body);
        assert_eq!(decode_qr(&p.body), uri);
        let secret = text_after(&p.body, "id=\"mfa-secret\">").to_owned();
        let seed = totp::base32_decode(&secret).unwrap();

        // Left without enabling it: listed on the next visit (without its
        // seed or QR code), with enable and delete.
        let p = web(&s, "GET", "/ui/mfa", Some(&cookie), None, &[]);
        assert!(!p.body.contains(&secret), "the seed was shown twice");
        assert!(!p.body.contains("<svg"), "the QR code was shown twice");
        let serial = format!("arn:ward:iam::{}:mfa/carol-phone", s.account);
        assert!(p.body.contains(&serial), "{}", p.body);
        assert!(p.body.contains("Enable carol-phone for me"), "{}", p.body);
        assert!(p.body.contains("Delete carol-phone"), "{}", p.body);
        // Another's stray device is listed too (by policy), and deleted here.
        s.call(
            &root,
            "POST",
            "/v1/mfa-devices",
            Some(r#"{"virtualMfaDeviceName":"stray-token"}"#),
        )
        .ok();
        let p = web(&s, "GET", "/ui/mfa", Some(&cookie), None, &[]);
        assert!(p.body.contains("Delete stray-token"), "{}", p.body);
        let p = op(&[("op", "delete"), ("device", "stray-token")]);
        assert_eq!(p.status, 303, "{}", p.body);
        s.call(&root, "DELETE", "/v1/mfa-devices/stray-token", None)
            .err(404, "NoSuchEntity");
        let listed = |s: &Server| -> Vec<String> {
            s.call(
                &root,
                "GET",
                "/v1/mfa-devices?assignmentStatus=Unassigned",
                None,
            )
            .ok()["virtualMfaDevices"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["serialNumber"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(listed(&s), vec![serial]);

        // Enabled from the list with two consecutive codes: no longer listed.
        let now = totp::step_of(unix_now());
        let good = [totp::code_at(&seed, now - 1), totp::code_at(&seed, now)];
        let p = op(&[
            ("op", "enable"),
            ("device", "carol-phone"),
            ("code1", &good[0]),
            ("code2", &good[1]),
        ]);
        assert_eq!(p.status, 303, "{}", p.body);
        assert!(listed(&s).is_empty());
        let p = web(&s, "GET", "/ui/mfa", Some(&cookie), None, &[]);
        assert!(!p.body.contains("Enable carol-phone for me"), "{}", p.body);

        // Someone whom policy does not allow the list: the denial, explained.
        s.call(
            &root,
            "POST",
            "/v1/mfa-devices",
            Some(r#"{"virtualMfaDeviceName":"other-token"}"#),
        )
        .ok();
        let bob = sign_in(&s, "bob");
        let p = web(&s, "GET", "/ui/mfa", Some(&bob), None, &[]);
        assert!(p.body.contains("iam:ListVirtualMFADevices"), "{}", p.body);
        assert!(p.body.contains("AccessDenied"), "{}", p.body);
        assert!(!p.body.contains("Delete other-token"), "{}", p.body);
    }
}
