//! Virtual MFA devices against the real daemon (issue #14 item 3), on
//! SQLite and PostgreSQL: a device is enabled with two consecutive codes
//! (computed here from the seed with ward's TOTP code, which is
//! cross-checked against `oathtool`), wrong codes are refused, a code is
//! accepted once, a drifted device is resynced, wrong codes lock the
//! device, a user with a device cannot log in with the password alone,
//! and `ward:MultiFactorAuthPresent` / `ward:MultiFactorAuthAge` decide
//! for MFA and non-MFA sessions. Bad input is a 4xx naming the field.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;

use common::{creds_of, Creds, Db, Server};
use serde_json::json;
use ward_ca::crypto::totp;

const PW: &str = "Kestrel-Orbit-77";

fn unix_now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

fn step_now() -> i64 {
    totp::step_of(unix_now())
}

/// A user with a password and a policy of `statements`.
fn new_user(s: &Server, name: &str, statements: &str) {
    let root = s.root();
    s.call(
        &root,
        "POST",
        "/v1/users",
        Some(&json!({ "name": name }).to_string()),
    )
    .ok();
    s.call(
        &root,
        "PUT",
        &format!("/v1/users/{name}/login-profile"),
        Some(&json!({"password": PW}).to_string()),
    )
    .ok();
    let doc = format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#);
    s.call(
        &root,
        "PUT",
        &format!("/v1/users/{name}/policies/self"),
        Some(&json!({ "document": doc }).to_string()),
    )
    .ok();
}

fn login(s: &Server, user: &str, code: Option<&str>) -> common::Response {
    let mut b = json!({"userName": user, "password": PW});
    if let Some(c) = code {
        b["mfaCode"] = json!(c);
    }
    s.raw("POST", "/v1/login", &[], Some(b.to_string().as_bytes()))
}

/// Creates device `name` as `creds`: (serial, seed).
fn create_device(s: &Server, creds: &Creds, name: &str) -> (String, Vec<u8>) {
    let r = s.call(
        creds,
        "POST",
        "/v1/mfa-devices",
        Some(&json!({ "virtualMfaDeviceName": name }).to_string()),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let serial = r.body["serialNumber"].as_str().unwrap().to_owned();
    let b32 = r.body["base32StringSeed"].as_str().unwrap();
    let uri = r.body["otpauthUri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(uri.contains(&format!("secret={b32}&")), "{uri}");
    assert_eq!(serial, format!("arn:ward:iam::{}:mfa/{name}", s.account));
    (serial, totp::base32_decode(b32).unwrap())
}

fn code(seed: &[u8], step: i64) -> String {
    totp::code_at(seed, step)
}

/// A 6-digit code that is not the device's code at any step near now.
fn wrong_code(seed: &[u8]) -> String {
    let now = step_now();
    let near: Vec<String> = (now - 30..=now + 30).map(|s| code(seed, s)).collect();
    (0..1000)
        .map(|i| format!("{:06}", (i * 7919 + 13) % 1_000_000))
        .find(|c| !near.contains(c))
        .unwrap()
}

/// Enables `serial` for `user` with the codes of the previous and the
/// current step; returns the current step (the last one now used).
fn enable(s: &Server, creds: &Creds, user: &str, serial: &str, seed: &[u8]) -> i64 {
    let now = step_now();
    s.call(
        creds,
        "POST",
        &format!("/v1/users/{user}/mfa-devices"),
        Some(
            &json!({
                "serialNumber": serial,
                "authenticationCode1": code(seed, now - 1),
                "authenticationCode2": code(seed, now),
            })
            .to_string(),
        ),
    )
    .ok();
    now
}

fn audit_count(s: &Server, action: &str, decision: &str) -> usize {
    let path = format!(
        "/v1/audit/events?action={}&limit=1000",
        action.replace(':', "%3A")
    );
    let r = s.call(&s.root(), "GET", &path, None);
    r.ok()["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["decision"] == decision)
        .count()
}

/// ward's TOTP agrees with oathtool on RFC 6238's SHA-1 vector and on a
/// seed ward-ca generated, at several times.
#[test]
fn totp_agrees_with_oathtool() {
    let out = Command::new("oathtool")
        .args(["--totp", "-d", "8", "-N", "@1111111109"])
        .arg(hex::encode(b"12345678901234567890"))
        .output()
        .expect("oathtool (apt package oathtool)");
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "07081804");
    assert_eq!(
        totp::hotp(
            b"12345678901234567890",
            u64::try_from(totp::step_of(1_111_111_109)).unwrap(),
            8
        ),
        "07081804"
    );
    let s = Server::start(Db::Sqlite).unwrap();
    let (_, seed) = create_device(&s, &s.root(), "oath-check");
    for t in [59i64, 1_700_000_000, unix_now()] {
        let out = Command::new("oathtool")
            .args(["--totp", "-b", "-N", &format!("@{t}")])
            .arg(totp::base32(&seed))
            .output()
            .unwrap();
        assert!(out.status.success());
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            code(&seed, totp::step_of(t)),
            "t={t}"
        );
    }
}

const MFA_POLICY: &str = r#"
 {"Effect":"Allow","Action":"iam:ListUsers","Resource":"*",
  "Condition":{"Bool":{"ward:MultiFactorAuthPresent":"true"}}},
 {"Effect":"Allow","Action":"iam:GetUser","Resource":"*",
  "Condition":{"NumericLessThan":{"ward:MultiFactorAuthAge":"3600"}}},
 {"Effect":"Allow","Action":"iam:ListGroups","Resource":"*",
  "Condition":{"NumericLessThan":{"ward:MultiFactorAuthAge":"0"}}},
 {"Effect":"Allow","Action":"iam:ListMFADevices","Resource":"*"}"#;

/// Enable with two consecutive codes, login requires the code, a code is
/// accepted once, and the MFA keys decide for MFA and non-MFA sessions.
fn enable_login_replay_policy(db: Db) {
    let Some(s) = Server::start(db) else { return };
    let root = s.root();
    new_user(&s, "mia", MFA_POLICY);
    // Before a device: the password alone, a non-MFA session.
    let plain = creds_of(login(&s, "mia", None).ok());
    // A code for a user without a device is refused, naming it.
    let r = login(&s, "mia", Some("123456"));
    r.err(400, "ValidationError");
    assert_eq!(r.field(), "mfaCode");
    let (serial, seed) = create_device(&s, &root, "mia-phone");
    // Wrong codes do not enable it.
    let now = step_now();
    let r = s.call(
        &root,
        "POST",
        "/v1/users/mia/mfa-devices",
        Some(
            &json!({"serialNumber": serial, "authenticationCode1": code(&seed, now),
                    "authenticationCode2": code(&seed, now - 1)})
            .to_string(),
        ),
    );
    r.err(400, "InvalidAuthenticationCode");
    let used = enable(&s, &root, "mia", &serial, &seed);
    let list = s.call(&root, "GET", "/v1/users/mia/mfa-devices", None);
    let devices = list.ok()["mfaDevices"].as_array().unwrap().clone();
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0]["serialNumber"], serial.as_str());
    assert_eq!(devices[0]["userName"], "mia");
    // The password alone no longer logs in.
    login(&s, "mia", None).err(401, "MfaRequired");
    // The codes used to enable it are spent.
    login(&s, "mia", Some(&code(&seed, used))).err(403, "AccessDenied");
    let c = code(&seed, used + 1);
    let mfa = creds_of(login(&s, "mia", Some(&c)).ok());
    // A replay of the code that just worked is refused.
    login(&s, "mia", Some(&c)).err(403, "AccessDenied");
    assert!(audit_count(&s, "ward:MfaVerify", "Failed") >= 2);
    // MFA session: present and a real (small) age; NumericLessThan 0 never.
    s.call(&mfa, "GET", "/v1/users", None).ok();
    s.call(&mfa, "GET", "/v1/users/mia", None).ok();
    s.call(&mfa, "GET", "/v1/groups", None)
        .err(403, "AccessDenied");
    // Non-MFA session (opened before the device): denied by both.
    s.call(&plain, "GET", "/v1/users", None)
        .err(403, "AccessDenied");
    s.call(&plain, "GET", "/v1/users/mia", None)
        .err(403, "AccessDenied");
    // The session row keeps when the factor was checked.
    let sessions = s.call(&root, "GET", "/v1/users/mia/sessions", None);
    assert_eq!(sessions.ok()["sessions"].as_array().unwrap().len(), 2);
    // Deactivated: the password alone works again.
    s.call(&root, "DELETE", "/v1/users/mia/mfa-devices/mia-phone", None)
        .ok();
    let again = creds_of(login(&s, "mia", None).ok());
    s.call(&again, "GET", "/v1/users", None)
        .err(403, "AccessDenied");
    assert_eq!(audit_count(&s, "iam:EnableMFADevice", "Allowed"), 1);
    assert_eq!(audit_count(&s, "iam:DeactivateMFADevice", "Allowed"), 1);
    assert_eq!(audit_count(&s, "iam:CreateVirtualMFADevice", "Allowed"), 1);
}

#[test]
fn enable_login_replay_policy_sqlite() {
    enable_login_replay_policy(Db::Sqlite);
}

#[test]
fn enable_login_replay_policy_postgres() {
    enable_login_replay_policy(Db::Postgres);
}

/// After `passwords.max_failures` wrong codes the device is locked: the
/// right code is refused with 429 too.
fn wrong_codes_lock_the_device(db: Db) {
    let Some(s) = Server::start(db) else { return };
    let root = s.root();
    new_user(&s, "tom", MFA_POLICY);
    let (serial, seed) = create_device(&s, &root, "tom-phone");
    let used = enable(&s, &root, "tom", &serial, &seed);
    let bad = wrong_code(&seed);
    for _ in 0..5 {
        login(&s, "tom", Some(&bad)).err(403, "AccessDenied");
    }
    let r = login(&s, "tom", Some(&code(&seed, used + 1)));
    let msg = r.err(429, "Throttling");
    assert!(msg.contains("MFA"), "{msg}");
    // Resync is locked too (same device).
    let r = s.call(
        &root,
        "POST",
        "/v1/users/tom/mfa-devices/tom-phone/resync",
        Some(
            &json!({"authenticationCode1": code(&seed, used + 1),
                    "authenticationCode2": code(&seed, used + 2)})
            .to_string(),
        ),
    );
    r.err(429, "Throttling");
}

#[test]
fn wrong_codes_lock_the_device_sqlite() {
    wrong_codes_lock_the_device(Db::Sqlite);
}

#[test]
fn wrong_codes_lock_the_device_postgres() {
    wrong_codes_lock_the_device(Db::Postgres);
}

/// A device whose clock runs 8 steps (4 minutes) ahead: its codes are
/// refused until a resync with two consecutive codes measures the drift;
/// the resync codes cannot be replayed.
fn resync_measures_drift(db: Db) {
    let Some(s) = Server::start(db) else { return };
    let root = s.root();
    new_user(&s, "ada", MFA_POLICY);
    let (serial, seed) = create_device(&s, &root, "ada-phone");
    enable(&s, &root, "ada", &serial, &seed);
    let ahead = step_now() + 8;
    login(&s, "ada", Some(&code(&seed, ahead))).err(403, "AccessDenied");
    let resync = |a: i64| {
        s.call(
            &root,
            "POST",
            "/v1/users/ada/mfa-devices/ada-phone/resync",
            Some(
                &json!({"authenticationCode1": code(&seed, a),
                        "authenticationCode2": code(&seed, a + 1)})
                .to_string(),
            ),
        )
    };
    // Not consecutive: refused.
    let r = s.call(
        &root,
        "POST",
        "/v1/users/ada/mfa-devices/ada-phone/resync",
        Some(
            &json!({"authenticationCode1": code(&seed, ahead + 1),
                    "authenticationCode2": code(&seed, ahead)})
            .to_string(),
        ),
    );
    r.err(400, "InvalidAuthenticationCode");
    resync(ahead).ok();
    resync(ahead).err(400, "InvalidAuthenticationCode");
    // Now the drifted device's next code logs in.
    let mfa = creds_of(login(&s, "ada", Some(&code(&seed, ahead + 2))).ok());
    s.call(&mfa, "GET", "/v1/users", None).ok();
    // Far outside the resync window: refused.
    let far = step_now() + 60;
    let r = s.call(
        &root,
        "POST",
        "/v1/users/ada/mfa-devices/ada-phone/resync",
        Some(
            &json!({"authenticationCode1": code(&seed, far),
                    "authenticationCode2": code(&seed, far + 1)})
            .to_string(),
        ),
    );
    r.err(400, "InvalidAuthenticationCode");
    assert_eq!(audit_count(&s, "iam:ResyncMFADevice", "Allowed"), 1);
}

#[test]
fn resync_measures_drift_sqlite() {
    resync_measures_drift(Db::Sqlite);
}

#[test]
fn resync_measures_drift_postgres() {
    resync_measures_drift(Db::Postgres);
}

/// Bad input is a 4xx naming the field; other users' devices are 403;
/// an enabled device cannot be deleted, nor its user.
fn bad_input(db: Db) {
    let Some(s) = Server::start(db) else { return };
    let root = s.root();
    // Self-service: own user and devices named after oneself.
    let own = r#"{"Effect":"Allow","Action":["iam:EnableMFADevice","iam:ListMFADevices","iam:DeactivateMFADevice","iam:ResyncMFADevice"],"Resource":"arn:ward:iam::*:user/${ward:username}"},
                 {"Effect":"Allow","Action":["iam:CreateVirtualMFADevice","iam:DeleteVirtualMFADevice"],"Resource":"arn:ward:iam::*:mfa/${ward:username}-*"}"#;
    new_user(&s, "amy", own);
    new_user(&s, "bob", own);
    let key = |u: &str| {
        creds_of(
            s.call(&root, "POST", &format!("/v1/users/{u}/access-keys"), None)
                .ok(),
        )
    };
    let (amy, bob) = (key("amy"), key("bob"));
    let post =
        |c: &Creds, path: &str, b: serde_json::Value| s.call(c, "POST", path, Some(&b.to_string()));
    // Names.
    for (name, why) in [
        ("x".repeat(65), "65 characters"),
        (String::new(), "empty"),
        ("amy-ph one".into(), "space"),
        ("amy/phone".into(), "slash"),
    ] {
        let r = post(
            &root,
            "/v1/mfa-devices",
            json!({"virtualMfaDeviceName": name}),
        );
        r.err(400, "ValidationError");
        assert_eq!(r.field(), "virtualMfaDeviceName", "{why}");
    }
    post(&root, "/v1/mfa-devices", json!({"virtualMfaDeviceName": 5})).err(400, "ValidationError");
    // A name outside amy's policy: 403.
    post(
        &amy,
        "/v1/mfa-devices",
        json!({"virtualMfaDeviceName": "bob-x"}),
    )
    .err(403, "AccessDenied");
    let (amy_serial, amy_seed) = create_device(&s, &amy, "amy-phone");
    post(
        &amy,
        "/v1/mfa-devices",
        json!({"virtualMfaDeviceName": "amy-phone"}),
    )
    .err(409, "EntityAlreadyExists");
    let now = step_now();
    let (c1, c2) = (code(&amy_seed, now - 1), code(&amy_seed, now));
    for (field, a, b) in [
        ("authenticationCode1", "12345", c2.as_str()),
        ("authenticationCode1", "1234567", c2.as_str()),
        ("authenticationCode2", c1.as_str(), "12345a"),
        ("authenticationCode2", c1.as_str(), "１２３４５６"),
    ] {
        let r = post(
            &amy,
            "/v1/users/amy/mfa-devices",
            json!({"serialNumber": amy_serial, "authenticationCode1": a, "authenticationCode2": b}),
        );
        r.err(400, "ValidationError");
        assert_eq!(r.field(), field);
    }
    for bad_serial in [
        "amy-phone".to_owned(),
        "arn:ward:iam::000000000000:mfa/amy-phone".to_owned(),
        format!("arn:ward:iam::{}:mfa/{}", s.account, "y".repeat(65)),
        format!("arn:ward:iam::{}:user/amy", s.account),
    ] {
        let r = post(
            &amy,
            "/v1/users/amy/mfa-devices",
            json!({"serialNumber": bad_serial, "authenticationCode1": c1, "authenticationCode2": c2}),
        );
        r.err(400, "ValidationError");
        assert_eq!(r.field(), "serialNumber", "{bad_serial}");
    }
    let r = post(
        &amy,
        "/v1/users/amy/mfa-devices",
        json!({"serialNumber": format!("arn:ward:iam::{}:mfa/amy-nothing", s.account),
               "authenticationCode1": c1, "authenticationCode2": c2}),
    );
    r.err(404, "NoSuchEntity");
    let used = enable(&s, &amy, "amy", &amy_serial, &amy_seed);
    // Login with malformed codes: 400 naming mfaCode, before any check.
    for bad in ["12345", "1234567", "abcdef", "12 456", ""] {
        let r = login(&s, "amy", Some(bad));
        r.err(400, "ValidationError");
        assert_eq!(r.field(), "mfaCode", "{bad:?}");
    }
    // bob and amy's things: 403.
    s.call(&bob, "GET", "/v1/users/amy/mfa-devices", None)
        .err(403, "AccessDenied");
    s.call(&bob, "DELETE", "/v1/users/amy/mfa-devices/amy-phone", None)
        .err(403, "AccessDenied");
    s.call(&bob, "DELETE", "/v1/users/bob/mfa-devices/amy-phone", None)
        .err(403, "AccessDenied");
    post(
        &bob,
        "/v1/users/bob/mfa-devices/amy-phone/resync",
        json!({"authenticationCode1": code(&amy_seed, used + 1), "authenticationCode2": code(&amy_seed, used + 2)}),
    )
    .err(403, "AccessDenied");
    post(
        &bob,
        "/v1/users/bob/mfa-devices",
        json!({"serialNumber": amy_serial, "authenticationCode1": code(&amy_seed, used + 1),
               "authenticationCode2": code(&amy_seed, used + 2)}),
    )
    .err(403, "AccessDenied");
    // Unknown device and oversized device names in paths.
    s.call(&bob, "DELETE", "/v1/users/bob/mfa-devices/bob-none", None)
        .err(404, "NoSuchEntity");
    let r = s.call(
        &bob,
        "DELETE",
        &format!("/v1/users/bob/mfa-devices/{}", "z".repeat(65)),
        None,
    );
    r.err(400, "ValidationError");
    assert_eq!(r.field(), "device");
    let r = post(
        &bob,
        "/v1/users/bob/mfa-devices/bob-none/resync",
        json!({"authenticationCode1": "1", "authenticationCode2": "2"}),
    );
    r.err(400, "ValidationError");
    assert_eq!(r.field(), "authenticationCode1");
    // An enabled device cannot be deleted, nor its user.
    s.call(&amy, "DELETE", "/v1/mfa-devices/amy-phone", None)
        .err(409, "DeleteConflict");
    let msg = s
        .call(&root, "DELETE", "/v1/users/amy", None)
        .err(409, "DeleteConflict")
        .to_owned();
    assert!(msg.contains("MFA device"), "{msg}");
    // Deactivated, it can.
    s.call(&amy, "DELETE", "/v1/users/amy/mfa-devices/amy-phone", None)
        .ok();
    s.call(&amy, "DELETE", "/v1/mfa-devices/amy-phone", None)
        .ok();
    s.call(&amy, "DELETE", "/v1/mfa-devices/amy-phone", None)
        .err(404, "NoSuchEntity");
    assert_eq!(audit_count(&s, "iam:DeleteVirtualMFADevice", "Allowed"), 1);
}

#[test]
fn bad_input_sqlite() {
    bad_input(Db::Sqlite);
}

#[test]
fn bad_input_postgres() {
    bad_input(Db::Postgres);
}

// ---- MFA in STS: AssumeRole and GetSessionToken --------------------------

const STS_POLICY: &str = r#"
 {"Effect":"Allow","Action":["sts:AssumeRole","sts:GetSessionToken"],"Resource":"*"}"#;

/// A role `name` whose trust policy lets `users` assume it only with MFA,
/// and whose own policy allows iam:ListUsers only in an MFA session.
fn mfa_role(s: &Server, name: &str, users: &[&str]) -> String {
    let principals: Vec<String> = users
        .iter()
        .map(|u| format!("arn:ward:iam::{}:user/{u}", s.account))
        .collect();
    let trust = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": principals}, "Action": "sts:AssumeRole",
        "Condition": {"Bool": {"ward:MultiFactorAuthPresent": "true"}}}]});
    let root = s.root();
    s.call(
        &root,
        "POST",
        "/v1/roles",
        Some(&json!({"name": name, "assumeRolePolicyDocument": trust}).to_string()),
    )
    .ok();
    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:ListUsers","Resource":"*","Condition":{"Bool":{"ward:MultiFactorAuthPresent":"true"}}}]}"#;
    s.call(
        &root,
        "PUT",
        &format!("/v1/roles/{name}/policies/p"),
        Some(&json!({ "document": doc }).to_string()),
    )
    .ok();
    format!("arn:ward:iam::{}:role/{name}", s.account)
}

/// A long-term access key of `user`.
fn access_key(s: &Server, user: &str) -> Creds {
    let r = s.call(
        &s.root(),
        "POST",
        &format!("/v1/users/{user}/access-keys"),
        None,
    );
    creds_of(r.ok())
}

fn assume(s: &Server, who: &Creds, body: serde_json::Value) -> common::Response {
    s.call(who, "POST", "/v1/sts/assume-role", Some(&body.to_string()))
}

/// A trust policy asking for MFA: AssumeRole without a code is denied, a
/// wrong code and a replayed code are refused, the right code gives a role
/// session that carries the factor (its own MFA condition allows); an MFA
/// session from GetSessionToken passes its factor on to AssumeRole; a role
/// session cannot present a device; half a pair names the missing field.
fn mfa_in_sts(db: Db) {
    let Some(s) = Server::start(db) else { return };
    let root = s.root();
    new_user(&s, "sam", STS_POLICY);
    new_user(&s, "tom", STS_POLICY);
    let role = mfa_role(&s, "breakglass", &["sam", "tom"]);
    let sam = access_key(&s, "sam");
    let tom = access_key(&s, "tom");
    let (sam_serial, sam_seed) = create_device(&s, &root, "sam-phone");
    let sam_used = enable(&s, &root, "sam", &sam_serial, &sam_seed);
    let (tom_serial, tom_seed) = create_device(&s, &root, "tom-phone");
    let tom_used = enable(&s, &root, "tom", &tom_serial, &tom_seed);
    let base = json!({"roleArn": role, "roleSessionName": "fix"});

    // No code: the trust policy's MFA condition denies.
    assume(&s, &sam, base.clone()).err(403, "AccessDenied");
    // Half a pair: the missing field is named.
    let mut b = base.clone();
    b["serialNumber"] = json!(sam_serial);
    let r = assume(&s, &sam, b);
    r.err(400, "ValidationError");
    assert_eq!(r.field(), "tokenCode");
    let mut b = base.clone();
    b["tokenCode"] = json!("123456");
    let r = assume(&s, &sam, b);
    r.err(400, "ValidationError");
    assert_eq!(r.field(), "serialNumber");
    // A wrong code, and tom's device presented by sam: refused.
    let mut b = base.clone();
    b["serialNumber"] = json!(sam_serial);
    b["tokenCode"] = json!(wrong_code(&sam_seed));
    assume(&s, &sam, b).err(403, "AccessDenied");
    let mut b = base.clone();
    b["serialNumber"] = json!(tom_serial);
    b["tokenCode"] = json!(code(&tom_seed, tom_used + 1));
    assume(&s, &sam, b).err(403, "AccessDenied");
    // The right code: a role session with the factor.
    let good = code(&sam_seed, sam_used + 1);
    let mut b = base.clone();
    b["serialNumber"] = json!(sam_serial);
    b["tokenCode"] = json!(good);
    let r = assume(&s, &sam, b.clone());
    let role_session = creds_of(&r.ok()["credentials"]);
    s.call(&role_session, "GET", "/v1/users", None).ok();
    // The same code again: a replay, refused.
    assume(&s, &sam, b).err(403, "AccessDenied");
    // A role session has no device to present.
    let mut b = base.clone();
    b["serialNumber"] = json!(sam_serial);
    b["tokenCode"] = json!(code(&sam_seed, sam_used + 2));
    let r = assume(&s, &role_session, b);
    r.err(400, "ValidationError");
    assert_eq!(r.field(), "serialNumber");

    // GetSessionToken with tom's code: an MFA session, which passes its
    // factor on to AssumeRole without a second code.
    let plain = creds_of(
        s.call(&tom, "POST", "/v1/sts/session-token", Some("{}"))
            .ok(),
    );
    assume(&s, &plain, base.clone()).err(403, "AccessDenied");
    let body = json!({"serialNumber": tom_serial, "tokenCode": code(&tom_seed, tom_used + 1)});
    let tom_mfa = creds_of(
        s.call(
            &tom,
            "POST",
            "/v1/sts/session-token",
            Some(&body.to_string()),
        )
        .ok(),
    );
    let r = assume(&s, &tom_mfa, base.clone());
    let chained = creds_of(&r.ok()["credentials"]);
    s.call(&chained, "GET", "/v1/users", None).ok();
    // ...and the spent code cannot open another session.
    s.call(
        &tom,
        "POST",
        "/v1/sts/session-token",
        Some(&body.to_string()),
    )
    .err(403, "AccessDenied");
    assert!(audit_count(&s, "ward:MfaVerify", "Failed") >= 3);
}

#[test]
fn mfa_in_sts_sqlite() {
    mfa_in_sts(Db::Sqlite);
}

#[test]
fn mfa_in_sts_postgres() {
    mfa_in_sts(Db::Postgres);
}
