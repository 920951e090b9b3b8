//! SSH certificates from `ward_pki::sshca`, checked by real OpenSSH:
//! `ssh-keygen -L` reads back every field, a stock sshd on a loopback port
//! (see `sshd/mod.rs`) accepts ward user certificates and refuses expired,
//! not-yet-valid, wrong-principal, foreign-CA and wrong-source ones, and
//! ssh trusts a ward host certificate through an `@cert-authority` line.
//! Then table-driven refusals of `sign_user_cert` and `parse_public_key`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod sshd;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use ssh_key::public::{DsaPublicKey, Ed25519PublicKey, KeyData, RsaPublicKey, SkEd25519};
use ssh_key::{Certificate, HashAlg, Mpint, PublicKey};
use ward_pki::sshca::{
    known_hosts_line, parse_public_key, sign_host_cert, sign_user_cert, CaAlg, SshCa, SshCaError,
    UserCertRequest,
};

use sshd::{keygen, run, text, write_file, Sshd, TempDir, TestAccount};

// 2023-11-14T22:13:20Z and eight hours later, for ssh-keygen -L checks.
const T0: u64 = 1_700_000_000;
const T1: u64 = T0 + 8 * 3600;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// `ssh-keygen` arguments for the user key types tested against OpenSSH.
const USER_KEYS: [(&str, &[&str]); 3] = [
    ("ed25519", &["-t", "ed25519"]),
    ("ecdsa", &["-t", "ecdsa", "-b", "256"]),
    ("rsa", &["-t", "rsa", "-b", "3072"]),
];

/// A user key made by ssh-keygen: (private key path, parsed public key).
fn user_key(dir: &Path, name: &str, args: &[&str]) -> (PathBuf, PublicKey) {
    let path = keygen(dir, name, args);
    let line = std::fs::read_to_string(path.with_extension("pub")).unwrap();
    (path, parse_public_key(&line).unwrap())
}

/// A plain request: principal `alice`, all extensions but X11, no pinning.
fn request<'a>(
    key: &'a PublicKey,
    principals: &'a [String],
    valid_after: u64,
    valid_before: u64,
) -> UserCertRequest<'a> {
    UserCertRequest {
        public_key: key,
        serial: 42,
        key_id: "u-0f3a9c",
        principals,
        valid_after,
        valid_before,
        permit_pty: true,
        permit_port_forwarding: true,
        permit_agent_forwarding: true,
        permit_x11_forwarding: false,
        permit_user_rc: true,
        source_addresses: None,
    }
}

/// Writes `cert` next to its key as OpenSSH does (`KEY-cert.pub`).
fn write_cert(key: &Path, cert: &Certificate) -> PathBuf {
    let path = PathBuf::from(format!("{}-cert.pub", key.display()));
    write_file(&path, format!("{}\n", cert.to_openssh().unwrap()), 0o644);
    path
}

/// `ssh-keygen -L` output, lines trimmed, without the file-name line.
fn keygen_l(cert: &Path) -> Vec<String> {
    let out = run(Command::new("ssh-keygen")
        .env("TZ", "UTC")
        .arg("-L")
        .arg("-f")
        .arg(cert));
    assert!(out.status.success(), "ssh-keygen -L: {}", text(&out));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.trim().to_string())
        .collect()
}

fn ca_names(alg: CaAlg) -> (&'static str, &'static str) {
    match alg {
        CaAlg::Ed25519 => ("ED25519", "ssh-ed25519"),
        CaAlg::EcdsaP256 => ("ECDSA", "ecdsa-sha2-nistp256"),
    }
}

fn key_names(key: &PublicKey) -> (String, &'static str) {
    let alg = key.algorithm().as_str().to_string();
    let short = match key.key_data() {
        KeyData::Ed25519(_) => "ED25519-CERT",
        KeyData::Ecdsa(_) => "ECDSA-CERT",
        KeyData::Rsa(_) => "RSA-CERT",
        other => panic!("unexpected key {other:?}"),
    };
    (format!("{alg}-cert-v01@openssh.com"), short)
}

#[test]
fn ssh_keygen_lists_every_field() {
    let dir = TempDir::new("ward-sshca");
    let keys: Vec<_> = USER_KEYS
        .iter()
        .map(|(name, args)| user_key(dir.path(), name, args))
        .collect();
    let principals = strings(&["alice", "ward-ops"]);
    let sources = strings(&["127.0.0.0/8", "10.0.0.0/8", "2001:db8::/32", "192.0.2.7"]);
    for alg in [CaAlg::Ed25519, CaAlg::EcdsaP256] {
        let ca = SshCa::generate(alg).unwrap();
        let (ca_short, ca_sig) = ca_names(alg);
        for (path, key) in &keys {
            let mut req = request(key, &principals, T0, T1);
            req.source_addresses = Some(&sources);
            req.permit_x11_forwarding = true;
            req.permit_user_rc = false;
            let cert = sign_user_cert(&ca, &req).unwrap();
            let (cert_type, short) = key_names(key);
            let expected = strings(&[
                &format!("Type: {cert_type} user certificate"),
                &format!("Public key: {short} {}", key.fingerprint(HashAlg::Sha256)),
                &format!(
                    "Signing CA: {ca_short} {} (using {ca_sig})",
                    ca.fingerprint()
                ),
                "Key ID: \"u-0f3a9c\"",
                "Serial: 42",
                "Valid: from 2023-11-14T22:13:20 to 2023-11-15T06:13:20",
                "Principals:",
                "alice",
                "ward-ops",
                "Critical Options:",
                "source-address 127.0.0.0/8,10.0.0.0/8,2001:db8::/32,192.0.2.7/32",
                "Extensions:",
                "permit-X11-forwarding",
                "permit-agent-forwarding",
                "permit-port-forwarding",
                "permit-pty",
            ]);
            assert_eq!(
                keygen_l(&write_cert(path, &cert)),
                expected,
                "{alg:?} CA, {path:?}"
            );
        }

        // A minimal user certificate: no options, no extensions.
        let (path, key) = &keys[0];
        let mut req = request(key, &principals[..1], T0, T1);
        req.permit_pty = false;
        req.permit_port_forwarding = false;
        req.permit_agent_forwarding = false;
        req.permit_user_rc = false;
        let cert = sign_user_cert(&ca, &req).unwrap();
        let listed = keygen_l(&write_cert(path, &cert));
        assert_eq!(
            listed[6..],
            strings(&[
                "Principals:",
                "alice",
                "Critical Options: (none)",
                "Extensions: (none)"
            ])[..],
            "{listed:#?}"
        );

        // A host certificate.
        let hostnames = strings(&["db1.example.com", "10.1.2.3"]);
        let cert = sign_host_cert(&ca, key, 7, "host-db1", &hostnames, T0, T1).unwrap();
        let expected = strings(&[
            "Type: ssh-ed25519-cert-v01@openssh.com host certificate",
            &format!(
                "Public key: ED25519-CERT {}",
                key.fingerprint(HashAlg::Sha256)
            ),
            &format!(
                "Signing CA: {ca_short} {} (using {ca_sig})",
                ca.fingerprint()
            ),
            "Key ID: \"host-db1\"",
            "Serial: 7",
            "Valid: from 2023-11-14T22:13:20 to 2023-11-15T06:13:20",
            "Principals:",
            "db1.example.com",
            "10.1.2.3",
            "Critical Options: (none)",
            "Extensions: (none)",
        ]);
        assert_eq!(
            keygen_l(&write_cert(path, &cert)),
            expected,
            "{alg:?} host cert"
        );
    }
}

#[test]
fn ca_keys_round_trip_through_ssh_keygen() {
    let dir = TempDir::new("ward-sshca");
    // Ward's exported CA key is a key ssh-keygen reads (and so can be
    // inspected or used by hand in an emergency).
    for alg in [CaAlg::Ed25519, CaAlg::EcdsaP256] {
        let ca = SshCa::generate(alg).unwrap();
        let path = dir.join(&format!("ward-{alg}"));
        write_file(&path, ca.to_openssh().unwrap().as_bytes(), 0o600);
        let out = run(Command::new("ssh-keygen").arg("-y").arg("-f").arg(&path));
        assert!(out.status.success(), "{}", text(&out));
        let derived = String::from_utf8(out.stdout).unwrap();
        assert_eq!(derived.trim(), ca.public_line(""), "{alg:?}");
        let again = SshCa::from_openssh(&ca.to_openssh().unwrap()).unwrap();
        assert_eq!(again.public_key(), ca.public_key());
        assert_eq!(again.alg(), alg);
        let debug = format!("{ca:?}");
        assert!(
            debug.contains("redacted") && debug.contains("SHA256:"),
            "{debug}"
        );
        assert!(!debug.contains(ca.to_openssh().unwrap().lines().nth(1).unwrap()));
    }
    // ssh-keygen's keys are accepted as CA keys when they are of a CA type.
    for (name, args, alg) in [
        ("ed", &["-t", "ed25519"][..], Some(CaAlg::Ed25519)),
        (
            "p256",
            &["-t", "ecdsa", "-b", "256"],
            Some(CaAlg::EcdsaP256),
        ),
        ("p384", &["-t", "ecdsa", "-b", "384"], None),
        ("rsa", &["-t", "rsa", "-b", "2048"], None),
    ] {
        let path = keygen(dir.path(), name, args);
        let pem = std::fs::read_to_string(&path).unwrap();
        let public = std::fs::read_to_string(path.with_extension("pub")).unwrap();
        match (SshCa::from_openssh(&pem), alg) {
            (Ok(ca), Some(alg)) => {
                assert_eq!(ca.alg(), alg);
                assert_eq!(
                    ca.public_key(),
                    parse_public_key(&public).unwrap().clone_bare()
                );
            }
            (Err(e), None) => {
                assert!(e.to_string().contains("not a CA key type"), "{e}");
                assert!(e.is_internal());
            }
            (other, _) => panic!("{name}: {other:?}"),
        }
    }
    let path = keygen(dir.path(), "locked", &["-t", "ed25519", "-N", "secret"]);
    let e = SshCa::from_openssh(&std::fs::read_to_string(path).unwrap()).unwrap_err();
    assert!(e.to_string().contains("passphrase-encrypted"), "{e}");
    let e = SshCa::from_openssh("-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n").unwrap_err();
    assert!(e.to_string().contains("not an OpenSSH private key"), "{e}");
}

/// `PublicKey` equality includes the comment; compare keys only.
trait Bare {
    fn clone_bare(&self) -> PublicKey;
}
impl Bare for PublicKey {
    fn clone_bare(&self) -> PublicKey {
        PublicKey::new(self.key_data().clone(), "")
    }
}

/// Asserts that a login succeeded and ran `echo ok`.
#[track_caller]
fn assert_login(out: &std::process::Output, what: &str) {
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok",
        "{what}: {}",
        text(out)
    );
}

/// Asserts that a login was refused and sshd logged `reason` for it.
#[track_caller]
fn assert_refused(sshd: &Sshd, since: usize, out: &std::process::Output, what: &str, reason: &str) {
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("Permission denied"),
        "{what}: expected a refusal ({reason}): {}",
        text(out)
    );
    assert!(
        sshd.log_has(since, reason),
        "{what}: sshd did not log {reason:?}:\n{}",
        &sshd.log()[since..]
    );
}

#[test]
fn sshd_accepts_ward_user_certificates() {
    let sshd = Sshd::start("");
    let dir = TempDir::new("ward-sshca");
    let cas = [
        SshCa::generate(CaAlg::Ed25519).unwrap(),
        SshCa::generate(CaAlg::EcdsaP256).unwrap(),
    ];
    sshd.set_trusted_user_ca_keys(&format!(
        "{}\n{}",
        cas[0].public_line("ward user CA 1"),
        cas[1].public_line("ward user CA 2")
    ));
    sshd.set_principals("root", &["alice"]);
    let principals = strings(&["alice"]);
    let t = now();
    for (name, args) in USER_KEYS {
        let (path, key) = user_key(dir.path(), name, args);
        for ca in &cas {
            let cert = sign_user_cert(ca, &request(&key, &principals, t - 30, t + 600)).unwrap();
            let out = sshd.login("root", &path, &write_cert(&path, &cert));
            assert_login(&out, &format!("{name} key, {:?} CA", ca.alg()));
        }
    }
}

#[test]
fn sshd_refuses_bad_user_certificates() {
    let sshd = Sshd::start("");
    let dir = TempDir::new("ward-sshca");
    let ca = SshCa::generate(CaAlg::Ed25519).unwrap();
    let other_ca = SshCa::generate(CaAlg::Ed25519).unwrap();
    sshd.set_trusted_user_ca_keys(&ca.public_line("ward"));
    sshd.set_principals("root", &["alice"]);
    let (path, key) = user_key(dir.path(), "alice", &["-t", "ed25519"]);
    let alice = strings(&["alice"]);
    let bob = strings(&["bob"]);
    let loopback = strings(&["127.0.0.0/8"]);
    let ten = strings(&["10.0.0.0/8"]);
    let t = now();

    let login = |ca: &SshCa, req: &UserCertRequest<'_>, extra: &[&str]| {
        let cert = sign_user_cert(ca, req).unwrap();
        sshd.login_with("root", &path, &write_cert(&path, &cert), extra)
    };

    // The control: a good certificate logs in.
    let out = login(&ca, &request(&key, &alice, t - 30, t + 600), &[]);
    assert_login(&out, "good certificate");

    let cases: [(&str, &SshCa, UserCertRequest<'_>, &str); 5] = [
        (
            "expired",
            &ca,
            request(&key, &alice, t - 7200, t - 3600),
            "Certificate invalid: expired",
        ),
        (
            "not yet valid",
            &ca,
            request(&key, &alice, t + 3600, t + 7200),
            "Certificate invalid: not yet valid",
        ),
        (
            "wrong principal",
            &ca,
            request(&key, &bob, t - 30, t + 600),
            "Certificate does not contain an authorized principal",
        ),
        (
            "another CA",
            &other_ca,
            request(&key, &alice, t - 30, t + 600),
            &format!("CA ED25519 {} is not listed", other_ca.fingerprint()),
        ),
        (
            "source-address 10.0.0.0/8",
            &ca,
            UserCertRequest {
                source_addresses: Some(&ten),
                ..request(&key, &alice, t - 30, t + 600)
            },
            "but not from a permitted source address (127.0.0.1)",
        ),
    ];
    for (what, ca, req, reason) in &cases {
        let since = sshd.log().len();
        let out = login(ca, req, &[]);
        assert_refused(&sshd, since, &out, what, reason);
    }

    let pinned = UserCertRequest {
        source_addresses: Some(&loopback),
        ..request(&key, &alice, t - 30, t + 600)
    };
    assert_login(&login(&ca, &pinned, &[]), "source-address 127.0.0.0/8");

    // Without permit-pty, `echo ok` (which needs no pty) still works, but a
    // forced pty (`ssh -tt`) is refused; with permit-pty it is granted.
    let no_pty = UserCertRequest {
        permit_pty: false,
        ..request(&key, &alice, t - 30, t + 600)
    };
    let out = login(&ca, &no_pty, &[]);
    assert_login(&out, "no permit-pty");
    let out = login(&ca, &no_pty, &["-tt"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("PTY allocation request failed"),
        "no permit-pty, ssh -tt: {}",
        text(&out)
    );
    let out = login(&ca, &request(&key, &alice, t - 30, t + 600), &["-tt"]);
    assert_login(&out, "permit-pty, ssh -tt");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("PTY allocation request failed"),
        "{}",
        text(&out)
    );
}

#[test]
fn sshd_default_principal_is_the_user_name() {
    let account = TestAccount::create();
    let sshd = Sshd::start("AuthorizedPrincipalsFile none\n");
    let dir = TempDir::new("ward-sshca");
    let ca = SshCa::generate(CaAlg::Ed25519).unwrap();
    sshd.set_trusted_user_ca_keys(&ca.public_line("ward"));
    let (path, key) = user_key(dir.path(), "user", &["-t", "ed25519"]);
    let t = now();

    let own = strings(&[account.name()]);
    let cert = sign_user_cert(&ca, &request(&key, &own, t - 30, t + 600)).unwrap();
    let out = sshd.login(account.name(), &path, &write_cert(&path, &cert));
    assert_login(&out, "principal = user name");

    let other = strings(&["root"]);
    let cert = sign_user_cert(&ca, &request(&key, &other, t - 30, t + 600)).unwrap();
    let since = sshd.log().len();
    let out = sshd.login(account.name(), &path, &write_cert(&path, &cert));
    assert_refused(
        &sshd,
        since,
        &out,
        "principal root for another user",
        "Certificate invalid: name is not a listed principal",
    );
}

#[test]
fn ssh_trusts_ward_host_certificates() {
    let dir = TempDir::new("ward-sshca");
    let host_ca = SshCa::generate(CaAlg::Ed25519).unwrap();
    let other_ca = SshCa::generate(CaAlg::EcdsaP256).unwrap();
    let user_ca = SshCa::generate(CaAlg::Ed25519).unwrap();
    let t = now();

    let start = |hostnames: &[&str]| {
        let mut setup = Sshd::setup();
        let host_key = parse_public_key(&setup.host_public_key()).unwrap();
        let cert = sign_host_cert(
            &host_ca,
            &host_key,
            7,
            "host-loopback",
            &strings(hostnames),
            t - 30,
            t + 600,
        )
        .unwrap();
        setup.set_host_certificate(&cert.to_openssh().unwrap());
        let sshd = setup.start("");
        sshd.set_trusted_user_ca_keys(&user_ca.public_line("ward users"));
        sshd.set_principals("root", &["alice"]);
        sshd
    };
    let (path, key) = user_key(dir.path(), "alice", &["-t", "ed25519"]);
    let alice = strings(&["alice"]);
    let cert = sign_user_cert(&user_ca, &request(&key, &alice, t - 30, t + 600)).unwrap();
    let cert_path = write_cert(&path, &cert);

    let connect = |sshd: &Sshd, ca: &SshCa| {
        let known_hosts = dir.join("known_hosts");
        let line = known_hosts_line(&ca.public_key(), &sshd.host_pattern());
        assert!(line.starts_with(&format!("@cert-authority [127.0.0.1]:{} ", sshd.port())));
        write_file(&known_hosts, format!("{line}\n"), 0o644);
        let option = format!("UserKnownHostsFile={}", known_hosts.display());
        sshd.login_with(
            "root",
            &path,
            &cert_path,
            &["-o", "StrictHostKeyChecking=yes", "-o", &option],
        )
    };

    let sshd = start(&["127.0.0.1", "localhost"]);
    assert_login(
        &connect(&sshd, &host_ca),
        "host certificate from the trusted CA",
    );
    let out = connect(&sshd, &other_ca);
    assert!(
        !out.status.success()
            && String::from_utf8_lossy(&out.stderr).contains("Host key verification failed"),
        "another CA's @cert-authority line: {}",
        text(&out)
    );
    drop(sshd);

    // The certificate names another host: ssh falls back to the plain key,
    // which known_hosts does not list.
    let sshd = start(&["db1.example.com"]);
    let out = connect(&sshd, &host_ca);
    assert!(
        !out.status.success()
            && String::from_utf8_lossy(&out.stderr).contains("Host key verification failed"),
        "host certificate for another name: {}",
        text(&out)
    );
}

/// An owned user-certificate request, mutated by each table case.
struct Req {
    key: PublicKey,
    serial: u64,
    key_id: String,
    principals: Vec<String>,
    valid_after: u64,
    valid_before: u64,
    source: Option<Vec<String>>,
}

fn rsa_key(bits: usize) -> PublicKey {
    // A modulus of exactly `bits` bits (not a real key: enough for a size check).
    let mut n = vec![0xffu8; bits.div_ceil(8)];
    if bits % 8 != 0 {
        n[0] = 0xff >> (8 - bits % 8);
    }
    KeyData::Rsa(RsaPublicKey {
        e: Mpint::from_positive_bytes(&[1, 0, 1]).unwrap(),
        n: Mpint::from_positive_bytes(&n).unwrap(),
    })
    .into()
}

/// Signs the baseline request after `mutate`; `expected` is `Ok(())` or a
/// piece of the error's message.
#[track_caller]
fn check(ca: &SshCa, mutate: impl FnOnce(&mut Req), expected: Result<(), &str>) {
    let mut r = Req {
        key: ca_free_key(),
        serial: 1,
        key_id: "u-1".into(),
        principals: strings(&["alice"]),
        valid_after: T0,
        valid_before: T1,
        source: None,
    };
    mutate(&mut r);
    let req = UserCertRequest {
        public_key: &r.key,
        serial: r.serial,
        key_id: &r.key_id,
        principals: &r.principals,
        valid_after: r.valid_after,
        valid_before: r.valid_before,
        permit_pty: true,
        permit_port_forwarding: false,
        permit_agent_forwarding: false,
        permit_x11_forwarding: false,
        permit_user_rc: false,
        source_addresses: r.source.as_deref(),
    };
    match (sign_user_cert(ca, &req), expected) {
        (Ok(_), Ok(())) => {}
        (Err(e), Err(want)) => {
            assert!(e.to_string().contains(want), "{e:?} does not say {want:?}");
            assert!(e.is_internal() || e.field().is_some(), "{e:?}: no field");
        }
        (got, want) => panic!("got {got:?}, want {want:?}"),
    }
}

fn src(v: &[&str]) -> Option<Vec<String>> {
    Some(strings(v))
}

fn ca_free_key() -> PublicKey {
    SshCa::generate(CaAlg::Ed25519).unwrap().public_key()
}

#[test]
fn sign_user_cert_refusals() {
    let ca = SshCa::generate(CaAlg::Ed25519).unwrap();
    let c = |mutate: fn(&mut Req), expected| check(&ca, mutate, expected);

    c(|_| {}, Ok(()));
    c(
        |r| r.principals = strings(&["alice", "ward-ops", "a.b_c-d@x"]),
        Ok(()),
    );
    c(|r| r.principals.clear(), Err("at least one principal"));
    c(|r| r.principals = strings(&[""]), Err("\"\": empty"));
    c(|r| r.principals = strings(&["al ice"]), Err("whitespace"));
    c(
        |r| r.principals = strings(&["alice\n"]),
        Err("whitespace or control"),
    );
    c(
        |r| r.principals = strings(&["alice,root"]),
        Err("contains one of"),
    );
    c(|r| r.principals = strings(&["*"]), Err("contains one of"));
    c(
        |r| r.principals = strings(&["!root"]),
        Err("contains one of"),
    );
    c(
        |r| r.principals = strings(&["alice", "alice"]),
        Err("listed twice"),
    );
    c(
        |r| r.principals = vec!["a".repeat(256)],
        Err("longer than 255"),
    );
    c(
        |r| r.principals = (0..257).map(|i| format!("p{i}")).collect(),
        Err("257 principals; at most 256"),
    );
    c(|r| r.valid_before = r.valid_after, Err("never be valid"));
    c(
        |r| r.valid_before = r.valid_after - 1,
        Err("never be valid"),
    );
    c(|r| r.valid_before = u64::MAX, Err("beyond"));
    c(|r| r.valid_after = 0, Ok(()));
    c(|r| r.serial = 0, Err("serial 0"));
    c(|r| r.key_id.clear(), Err("key id: empty"));
    c(|r| r.key_id = "u-1\n".into(), Err("control"));
    c(|r| r.key_id = "u".repeat(256), Err("longer than 255"));

    c(
        |r| r.source = src(&["127.0.0.0/8", "::1", "2001:db8::/32"]),
        Ok(()),
    );
    c(|r| r.source = src(&["0.0.0.0/0"]), Ok(()));
    c(|r| r.source = src(&[]), Err("empty list"));
    c(|r| r.source = src(&["10.0.0.0/33"]), Err("at most 32"));
    c(|r| r.source = src(&["::/129"]), Err("at most 128"));
    c(
        |r| r.source = src(&["10.1.2.3/8"]),
        Err("did you mean 10.0.0.0/8?"),
    );
    c(
        |r| r.source = src(&["2001:db8::1/32"]),
        Err("did you mean 2001:db8::/32?"),
    );
    c(|r| r.source = src(&["10.0.0.0/"]), Err("not a number"));
    c(|r| r.source = src(&["10.0.0.0/+8"]), Err("not a number"));
    c(|r| r.source = src(&["10.0.0.0/08"]), Ok(()));
    c(
        |r| r.source = src(&["localhost"]),
        Err("not an IPv4 or IPv6"),
    );
    c(|r| r.source = src(&[""]), Err("not an IPv4 or IPv6"));
    c(
        |r| r.source = src(&["10.0.0.0/8,0.0.0.0/0"]),
        Err("not a number"),
    );
    c(
        |r| r.source = src(&["10.0.0.0 "]),
        Err("not an IPv4 or IPv6"),
    );
    c(
        |r| r.source = Some((0..65).map(|i| format!("10.0.{i}.0/24")).collect()),
        Err("at most 64"),
    );

    c(|r| r.key = rsa_key(2048), Ok(()));
    c(
        |r| r.key = rsa_key(2047),
        Err("at least 2048 bits (this one has 2047)"),
    );
    c(|r| r.key = rsa_key(1024), Err("this one has 1024"));
    c(
        |r| r.key = parse_fixture_dsa(),
        Err("DSA keys are not accepted"),
    );
    check(&ca, |r| r.key = ca.public_key(), Err("CA's own key"));

    // The critical option is written in canonical form.
    let key = ca_free_key();
    let principals = strings(&["alice"]);
    let sources = strings(&["192.0.2.7", "2001:DB8:0:0::/48"]);
    let mut req = request(&key, &principals, T0, T1);
    req.source_addresses = Some(&sources);
    let cert = sign_user_cert(&ca, &req).unwrap();
    assert_eq!(
        cert.critical_options()
            .get("source-address")
            .map(String::as_str),
        Some("192.0.2.7/32,2001:db8::/48")
    );
    assert_eq!(cert.nonce().len(), 32);
    cert.validate_at(T0, &[ca.public_key().fingerprint(HashAlg::Sha256)])
        .unwrap();
}

const P384: &str = "ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBPtPbi4oW3ipPk7XY5Q3Tgp8Y7zmAgjTOmY24b40HABrR4+X4stpyRlY1mfIwwflDAHgSl/sM+JVNu9DBeP9K97evJqJniotEqmxn9960/3LFXHxpgXXFg9HgZY+5MczYQ== fixture";
const P521: &str = "ecdsa-sha2-nistp521 AAAAE2VjZHNhLXNoYTItbmlzdHA1MjEAAAAIbmlzdHA1MjEAAACFBAAuy3b3cR+LqNV2fktedS22d+19gxX1CVlPNq7LqPbf00QJK634rUFS9uodZrfJQxRvR0wDfhdFJyMHA5VCDGGwAACVW5KKsmP1DecEUam3hTVFMhnRq6rvDaDU0MhCLGgo5x9fSyBzQQIFj48ssnqxBBp2oPrgqpVFZ1RJ2vfSIhgxcg== fixture";
const DSA: &str = "ssh-dss AAAAB3NzaC1kc3MAAACBAObfBpsvLA341rSuZ0tITup3PMeKXnvXG+ydG7GJZ/Vx1O70Ac78Qur6X8NI1kW8raG854Fy0Brqc1t67MDOqyKrqnCQqYtMgQPQCnUzP4+1BTXwAcAyoWChEPsI4h6kaR2xyMOLd5a0VzrEe3RPZa6rgwciaCPi2yEFMe3J7KNhAAAAFQD4NGiGDNHbrlHBDWp0O0S9tacp4QAAAIEAzAZUIqYU5H8A/36o1MKT5jIbuHJGUz1HEbPbI60vTq0eT7cC5waOOOqZoS3pcXFV+p6RmOXmEmiF4RDL06bNUealJrkjS6sptSwx/A1JCayLg4ktlZG2B3/MqFjUbyJcUNkMiRyxCTzyThlIs2by0NyvLQOzamhY4jRydEAravcAAACAPoAbUthCEkwmv+XLd+w8vQSGTRYsEZ4bf8CKTIoa9umSm0Xu3GBaBjlcyc7dUwaObGIkeoFdpk3ttL8ItM9SNT1PbxAEkyjnBuW0+M6BxL3VlZfoUTAkn3Kam97a8snv5e/OCo7vaFf+hGd4JVlFr+/fBsNKrRgsSCwFgMux4ng= fixture";
const RSA1024: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQD03lpIwSK+xqNogiudTGkqzVwfwSVKNAYnYqEZdPYAGc2CPRAgfCwN19l2B6oP85HRqXy15IiK6t8JpVI6E/B3MO4aL370UZB67iXopYIrhXHXlO2dsBUaFtYYVlJevDB5iMO2JLrU5MQONOHgrgIa/xUna6890mOqXkBUbvutpw== fixture";

/// The DSA fixture as a key (ssh-key parses it; ward refuses it).
fn parse_fixture_dsa() -> PublicKey {
    let key = PublicKey::from_openssh(DSA).unwrap();
    assert!(matches!(key.key_data(), KeyData::Dsa(DsaPublicKey { .. })));
    key
}

/// Parses `text`; `expected` is `Ok(algorithm name)` or a piece of the
/// error's message.
#[track_caller]
fn check_parse(text: &str, expected: Result<&str, &str>) {
    match (parse_public_key(text), expected) {
        (Ok(key), Ok(alg)) => assert_eq!(key.algorithm().as_str(), alg, "{text:?}"),
        (Err(e), Err(want)) => {
            assert!(
                e.to_string().contains(want),
                "{text:.60?}: {e:?} does not say {want:?}"
            );
            assert_eq!(e.field(), Some("publicKey"));
            assert!(!e.is_internal());
        }
        (got, want) => panic!("{text:.60?}: got {got:?}, want {want:?}"),
    }
}

#[test]
fn parse_public_key_refusals() {
    let ca = SshCa::generate(CaAlg::Ed25519).unwrap();
    let ed = ca.public_line("alice@laptop");
    let p256 = SshCa::generate(CaAlg::EcdsaP256).unwrap().public_line("");
    let body = ed.split(' ').nth(1).unwrap().to_string();
    let sk: PublicKey =
        KeyData::SkEd25519(SkEd25519::new(Ed25519PublicKey([7; 32]), "ssh:")).into();
    let cert = {
        let principals = strings(&["alice"]);
        let key = ca_free_key();
        sign_user_cert(&ca, &request(&key, &principals, T0, T1))
            .unwrap()
            .to_openssh()
            .unwrap()
    };
    let private = SshCa::generate(CaAlg::Ed25519)
        .unwrap()
        .to_openssh()
        .unwrap();
    let rsa2048 = rsa_key(2048).to_openssh().unwrap();

    check_parse(&ed, Ok("ssh-ed25519"));
    check_parse(&format!("  {ed}\n"), Ok("ssh-ed25519"));
    check_parse(&format!("ssh-ed25519 {body}"), Ok("ssh-ed25519"));
    check_parse(&p256, Ok("ecdsa-sha2-nistp256"));
    check_parse(P384, Ok("ecdsa-sha2-nistp384"));
    check_parse(P521, Ok("ecdsa-sha2-nistp521"));
    check_parse(&rsa2048, Ok("ssh-rsa"));
    check_parse(&sk.to_openssh().unwrap(), Ok("sk-ssh-ed25519@openssh.com"));

    check_parse("", Err("empty"));
    check_parse(" \n\t", Err("empty"));
    check_parse(&private, Err("private key"));
    check_parse(&cert, Err("certificate"));
    check_parse(DSA, Err("DSA keys are not accepted"));
    check_parse(RSA1024, Err("this one has 1024"));
    check_parse(&format!("{ed}\n{ed}"), Err("exactly one"));
    check_parse(
        &format!("ssh-ed25519 {}", &body[..40]),
        Err("not an OpenSSH public key"),
    );
    check_parse(
        &format!("ssh-ed25519 {body}AAAA"),
        Err("not an OpenSSH public key"),
    );
    check_parse("ssh-ed25519 !!!!", Err("not an OpenSSH public key"));
    check_parse("ssh-ed25519", Err("not an OpenSSH public key"));
    check_parse(&format!("ssh-rsa {body}"), Err("not an OpenSSH public key"));
    check_parse(
        &format!("from=\"10.0.0.1\" {ed}"),
        Err("not an OpenSSH public key"),
    );
    check_parse("ssh-foo AAAAB3NzaC1mb28=", Err("not an OpenSSH public key"));
    check_parse(
        &format!("ssh-ed25519 {}", "A".repeat(20_000)),
        Err("longer than 16384"),
    );
}

#[test]
fn known_hosts_and_trusted_ca_lines() {
    let ca = SshCa::generate(CaAlg::Ed25519).unwrap();
    let key = ca.public_line("");
    assert!(
        key.starts_with("ssh-ed25519 AAAA") && !key.ends_with(' '),
        "{key}"
    );
    assert_eq!(
        ca.public_line("ward user CA"),
        format!("{key} ward user CA")
    );
    assert_eq!(ca.public_line("a\nb"), format!("{key} a b"));
    assert_eq!(
        known_hosts_line(&ca.public_key(), "*.example.com"),
        format!("@cert-authority *.example.com {key}")
    );
    assert_eq!(
        known_hosts_line(&ca.public_key(), "bad pattern\n"),
        format!("@cert-authority badpattern {key}")
    );
    let p256 = SshCa::generate(CaAlg::EcdsaP256).unwrap();
    assert!(known_hosts_line(&p256.public_key(), "*")
        .starts_with("@cert-authority * ecdsa-sha2-nistp256 AAAA"));
    // A parsed key's comment never leaks into the line.
    let with_comment = parse_public_key(&format!("{key} comment")).unwrap();
    assert_eq!(
        known_hosts_line(&with_comment, "*"),
        format!("@cert-authority * {key}")
    );
    // Errors name the API field at fault, or are ward's own fault.
    assert_eq!(SshCaError::NoPrincipals.field(), Some("principals"));
    assert_eq!(SshCaError::PrivateKeyGiven.field(), Some("publicKey"));
    assert!(SshCaError::ZeroSerial.is_internal() && SshCaError::ZeroSerial.field().is_none());
}
