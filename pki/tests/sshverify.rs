#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! `ward_pki::sshverify::verify` on certificates made by the real
//! `ssh-keygen -s` and by ward's own builder (`ward_pki::sshca`), one table
//! of cases through one `check(input, expected)` helper: every refusal
//! (untrusted CA, bad signature, wrong type, revoked by serial / key ID /
//! key / CA key, not yet valid, expired, principal not listed, critical
//! options) and the accepted cases with what they certify. Revocation sets
//! come from ward's `Krl` builder and from a KRL written by `ssh-keygen -k`
//! and read back with `Krl::from_bytes`.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use ssh_key::{Certificate, HashAlg, PublicKey};
use ward_pki::krl::{Krl, Revocation};
use ward_pki::sshca::{sign_host_cert, sign_user_cert, CaAlg, SshCa, UserCertRequest};
use ward_pki::sshverify::{verify, Kind, Verified, VerifyError, VerifyRequest};

/// 2024-01-01T00:00:00Z and 2024-01-02T00:00:00Z: the validity window of
/// every certificate below.
const VA: u64 = 1_704_067_200;
const VB: u64 = 1_704_153_600;
const MID: u64 = VA + 3600;

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("ward-sshverify-{}-{name}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Dir(path)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn keygen(args: &[&str]) {
    let out = Command::new("ssh-keygen").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ssh-keygen {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A new key `dir/name` of `kind` (`ed25519`, `ecdsa`); returns its path.
fn new_key(dir: &Dir, name: &str, kind: &str) -> PathBuf {
    let path = dir.path(name);
    let mut args = vec!["-q", "-t", kind, "-N", "", "-C", name, "-f"];
    args.push(path.to_str().unwrap());
    if kind == "ecdsa" {
        args.extend(["-b", "256"]);
    }
    keygen(&args);
    path
}

fn public(key: &Path) -> PublicKey {
    PublicKey::read_openssh_file(&key.with_extension("pub")).unwrap()
}

/// `ssh-keygen -s CA -I ID -n PRINCIPALS -z SERIAL -V window [extra]` on a
/// copy of `user`'s public key; returns the certificate.
fn keygen_cert(
    dir: &Dir,
    ca: &Path,
    user: &Path,
    id: &str,
    principals: &str,
    serial: u64,
    extra: &[&str],
) -> Certificate {
    static N: AtomicUsize = AtomicUsize::new(0);
    let name = format!("c{}", N.fetch_add(1, Ordering::Relaxed));
    let copy = dir.path(&format!("{name}.pub"));
    std::fs::copy(user.with_extension("pub"), &copy).unwrap();
    let serial = serial.to_string();
    let mut args = vec![
        "-q",
        "-s",
        ca.to_str().unwrap(),
        "-I",
        id,
        "-z",
        &serial,
        "-V",
        "20240101000000Z:20240102000000Z",
    ];
    if !principals.is_empty() {
        args.extend(["-n", principals]);
    }
    args.extend(extra);
    args.push(copy.to_str().unwrap());
    keygen(&args);
    let text = std::fs::read_to_string(dir.path(&format!("{name}-cert.pub"))).unwrap();
    let cert = Certificate::from_openssh(text.trim()).unwrap();
    assert_eq!((cert.valid_after(), cert.valid_before()), (VA, VB));
    assert_eq!(
        cert.valid_principals().len(),
        principals.split_terminator(',').count()
    );
    cert
}

/// `cert` with one byte of its key ID changed: it still parses, but the CA
/// signature no longer covers it.
fn tampered(cert: &Certificate) -> Certificate {
    let mut bytes = cert.to_bytes().unwrap();
    let id = cert.key_id().as_bytes();
    let at = bytes.windows(id.len()).position(|w| w == id).unwrap();
    bytes[at] ^= 0x01;
    let t = Certificate::from_bytes(&bytes).unwrap();
    assert_ne!(t.key_id(), cert.key_id());
    t
}

/// One verification: the certificate and what the caller expects of it.
struct Input<'a> {
    what: &'a str,
    cert: &'a Certificate,
    trusted: &'a [PublicKey],
    now: u64,
    kind: Kind,
    principal: &'a str,
    client: Option<&'a str>,
    revoked: &'a Krl,
}

/// What an accepted certificate must be found to certify.
#[derive(Debug)]
struct Expect {
    key_id: &'static str,
    serial: u64,
    principals: &'static [&'static str],
    force_command: Option<&'static str>,
    source_address: Option<&'static str>,
}

fn check(input: &Input<'_>, expected: Result<Expect, VerifyError>) {
    let got = verify(&VerifyRequest {
        cert: input.cert,
        trusted_cas: input.trusted,
        now: input.now,
        kind: input.kind,
        principal: input.principal,
        client_addr: input.client.map(|a| a.parse::<IpAddr>().unwrap()),
        revoked: input.revoked,
    });
    let what = input.what;
    match (got, expected) {
        (Ok(v), Ok(e)) => {
            let Verified {
                key_id,
                principals,
                serial,
                valid_after,
                valid_before,
                ca_fingerprint,
                force_command,
                source_address,
                extensions: _,
            } = v;
            assert_eq!(key_id, e.key_id, "{what}: key id");
            assert_eq!(serial, e.serial, "{what}: serial");
            assert_eq!(principals, e.principals, "{what}: principals");
            assert_eq!((valid_after, valid_before), (VA, VB), "{what}: validity");
            assert_eq!(
                ca_fingerprint,
                input
                    .cert
                    .signature_key()
                    .fingerprint(HashAlg::Sha256)
                    .to_string(),
                "{what}: CA fingerprint"
            );
            assert_eq!(force_command.as_deref(), e.force_command, "{what}");
            assert_eq!(source_address.as_deref(), e.source_address, "{what}");
        }
        (Err(g), Err(e)) => assert_eq!(g, e, "{what}"),
        (g, e) => panic!("{what}: got {g:?}, expected {e:?}"),
    }
}

fn ok(
    key_id: &'static str,
    serial: u64,
    principals: &'static [&'static str],
) -> Result<Expect, VerifyError> {
    Ok(Expect {
        key_id,
        serial,
        principals,
        force_command: None,
        source_address: None,
    })
}

#[test]
fn certificates_from_ssh_keygen_and_ward() {
    let dir = Dir::new("table");
    let ca = new_key(&dir, "ca", "ed25519");
    let ca_ec = new_key(&dir, "ca_ec", "ecdsa");
    let foreign = new_key(&dir, "foreign", "ed25519");
    let alice = new_key(&dir, "alice", "ed25519");
    let bob = new_key(&dir, "bob", "ed25519");
    let host = new_key(&dir, "host", "ed25519");
    let ward_ca = SshCa::generate(CaAlg::Ed25519).unwrap();
    let trusted = [public(&ca), public(&ca_ec), ward_ca.public_key()];
    let (ca_pub, alice_pub) = (public(&ca), public(&alice));

    // ssh-keygen's certificates.
    let user = keygen_cert(&dir, &ca, &alice, "alice-id", "alice,ops", 10, &[]);
    let user_ec = keygen_cert(&dir, &ca_ec, &alice, "alice-ec", "alice", 11, &[]);
    let by_foreign = keygen_cert(&dir, &foreign, &alice, "alice-id", "alice", 12, &[]);
    let host_cert = keygen_cert(&dir, &ca, &host, "host-id", "db.example", 13, &["-h"]);
    let forced = keygen_cert(
        &dir,
        &ca,
        &alice,
        "forced",
        "alice",
        14,
        &["-O", "force-command=/usr/bin/backup"],
    );
    let sourced = keygen_cert(
        &dir,
        &ca,
        &alice,
        "sourced",
        "alice",
        15,
        &["-O", "source-address=10.0.0.0/8,2001:db8::/32"],
    );
    let fido = keygen_cert(
        &dir,
        &ca,
        &alice,
        "fido",
        "alice",
        16,
        &["-O", "verify-required"],
    );
    let bobs = keygen_cert(&dir, &ca, &bob, "bob-id", "bob", 17, &[]);
    let laptop = keygen_cert(&dir, &ca, &alice, "bob-laptop", "alice", 18, &[]);
    let no_principals = keygen_cert(&dir, &ca, &alice, "nobody", "", 19, &[]);
    let forged = tampered(&user);

    // ward's certificates.
    let principals = vec!["alice".to_string()];
    let sources = vec!["192.0.2.0/24".to_string()];
    let ward_user = sign_user_cert(
        &ward_ca,
        &UserCertRequest {
            public_key: &alice_pub,
            serial: 20,
            key_id: "AIDAWARDALICE",
            principals: &principals,
            valid_after: VA,
            valid_before: VB,
            permit_pty: true,
            permit_port_forwarding: false,
            permit_agent_forwarding: false,
            permit_x11_forwarding: false,
            permit_user_rc: false,
            source_addresses: Some(&sources),
        },
    )
    .unwrap();
    let hostnames = vec!["db.example".to_string(), "db".to_string()];
    let ward_host =
        sign_host_cert(&ward_ca, &public(&host), 21, "host-db", &hostnames, VA, VB).unwrap();

    // Revocations: ward's builder ...
    let none = Krl::new(1, VA, "").unwrap();
    let mut krl = Krl::new(2, VA, "").unwrap();
    krl.revoke_serial(&ca_pub, 10).unwrap();
    krl.revoke_key_id(&ca_pub, "bob-laptop").unwrap();
    krl.revoke_key(&public(&bob)).unwrap();
    let mut ca_revoked = Krl::new(3, VA, "").unwrap();
    ca_revoked.revoke_key_sha256(&public(&ca_ec));
    let mut ward_revoked = Krl::new(4, VA, "").unwrap();
    ward_revoked
        .revoke_serial(&ward_ca.public_key(), 21)
        .unwrap();
    // ... and ssh-keygen's, read back.
    let spec = dir.path("spec");
    std::fs::write(&spec, "serial: 10-11\nid: forced\n").unwrap();
    let krl_path = dir.path("ssh-keygen.krl");
    keygen(&[
        "-q",
        "-k",
        "-f",
        krl_path.to_str().unwrap(),
        "-s",
        ca.with_extension("pub").to_str().unwrap(),
        spec.to_str().unwrap(),
    ]);
    let keygen_krl = Krl::from_bytes(&std::fs::read(&krl_path).unwrap()).unwrap();

    let base = Input {
        what: "",
        cert: &user,
        trusted: &trusted,
        now: MID,
        kind: Kind::User,
        principal: "alice",
        client: None,
        revoked: &none,
    };
    macro_rules! case {
        ($what:expr, { $($field:ident: $value:expr),* $(,)? }, $expected:expr) => {
            check(&Input { what: $what, $($field: $value,)* ..base }, $expected)
        };
    }

    // Accepted.
    case!(
        "ssh-keygen user cert",
        {},
        ok("alice-id", 10, &["alice", "ops"])
    );
    case!("second principal", { principal: "ops" }, ok("alice-id", 10, &["alice", "ops"]));
    case!("ECDSA P-256 CA", { cert: &user_ec }, ok("alice-ec", 11, &["alice"]));
    case!("first valid second", { now: VA }, ok("alice-id", 10, &["alice", "ops"]));
    case!("last valid second", { now: VB - 1 }, ok("alice-id", 10, &["alice", "ops"]));
    case!(
        "host cert",
        { cert: &host_cert, kind: Kind::Host, principal: "db.example" },
        ok("host-id", 13, &["db.example"])
    );
    case!(
        "force-command is reported",
        { cert: &forced },
        Ok(Expect {
            key_id: "forced",
            serial: 14,
            principals: &["alice"],
            force_command: Some("/usr/bin/backup"),
            source_address: None,
        })
    );
    for client in ["10.9.8.7", "2001:db8::5", "::ffff:10.0.0.1"] {
        case!(
            &format!("source-address allows {client}"),
            { cert: &sourced, client: Some(client) },
            Ok(Expect {
                key_id: "sourced",
                serial: 15,
                principals: &["alice"],
                force_command: None,
                source_address: Some("10.0.0.0/8,2001:db8::/32"),
            })
        );
    }
    case!(
        "ward user cert",
        { cert: &ward_user, client: Some("192.0.2.200") },
        Ok(Expect {
            key_id: "AIDAWARDALICE",
            serial: 20,
            principals: &["alice"],
            force_command: None,
            source_address: Some("192.0.2.0/24"),
        })
    );
    case!(
        "ward host cert",
        { cert: &ward_host, kind: Kind::Host, principal: "db" },
        ok("host-db", 21, &["db.example", "db"])
    );
    case!("other serial of a revoking KRL", { cert: &user_ec, revoked: &krl }, ok("alice-ec", 11, &["alice"]));
    case!("other CA's serial in ssh-keygen KRL", { cert: &user_ec, revoked: &keygen_krl }, ok("alice-ec", 11, &["alice"]));
    case!("ward KRL, other serial", { cert: &ward_user, client: Some("192.0.2.1"), revoked: &ward_revoked },
        Ok(Expect { key_id: "AIDAWARDALICE", serial: 20, principals: &["alice"], force_command: None, source_address: Some("192.0.2.0/24") }));

    // Refused.
    let fp = |k: &Path| public(k).fingerprint(HashAlg::Sha256).to_string();
    case!(
        "untrusted CA",
        { cert: &by_foreign },
        Err(VerifyError::UnknownCa { fingerprint: fp(&foreign) })
    );
    case!(
        "no trusted CAs at all",
        { trusted: &[] },
        Err(VerifyError::UnknownCa { fingerprint: fp(&ca) })
    );
    case!("tampered key id", { cert: &forged }, Err(VerifyError::BadSignature));
    case!(
        "host cert as user cert",
        { cert: &host_cert, principal: "db.example" },
        Err(VerifyError::WrongType { expected: Kind::User })
    );
    case!(
        "user cert as host cert",
        { kind: Kind::Host },
        Err(VerifyError::WrongType { expected: Kind::Host })
    );
    case!(
        "ward host cert as user cert",
        { cert: &ward_host, principal: "db" },
        Err(VerifyError::WrongType { expected: Kind::User })
    );
    case!(
        "revoked serial",
        { revoked: &krl },
        Err(VerifyError::Revoked(Revocation::Serial(10)))
    );
    case!(
        "revoked key id",
        { cert: &laptop, revoked: &krl },
        Err(VerifyError::Revoked(Revocation::KeyId("bob-laptop".into())))
    );
    case!(
        "revoked certified key",
        { cert: &bobs, principal: "bob", revoked: &krl },
        Err(VerifyError::Revoked(Revocation::Key))
    );
    case!(
        "revoked CA key (by fingerprint)",
        { cert: &user_ec, revoked: &ca_revoked },
        Err(VerifyError::Revoked(Revocation::CaKey))
    );
    case!(
        "serial in ssh-keygen's KRL",
        { revoked: &keygen_krl },
        Err(VerifyError::Revoked(Revocation::Serial(10)))
    );
    case!(
        "key id in ssh-keygen's KRL",
        { cert: &forced, revoked: &keygen_krl },
        Err(VerifyError::Revoked(Revocation::KeyId("forced".into())))
    );
    case!(
        "ward host cert revoked by serial",
        { cert: &ward_host, kind: Kind::Host, principal: "db", revoked: &ward_revoked },
        Err(VerifyError::Revoked(Revocation::Serial(21)))
    );
    case!(
        "one second early",
        { now: VA - 1 },
        Err(VerifyError::NotYetValid { valid_after: VA })
    );
    case!(
        "at valid_before",
        { now: VB },
        Err(VerifyError::Expired { valid_before: VB })
    );
    case!(
        "ward cert expired",
        { cert: &ward_user, client: Some("192.0.2.1"), now: VB + 86_400 },
        Err(VerifyError::Expired { valid_before: VB })
    );
    case!(
        "principal not listed",
        { principal: "root" },
        Err(VerifyError::PrincipalNotListed { principal: "root".into() })
    );
    case!(
        "principal match is exact",
        { principal: "alic" },
        Err(VerifyError::PrincipalNotListed { principal: "alic".into() })
    );
    case!(
        "host name not listed",
        { cert: &ward_host, kind: Kind::Host, principal: "db.example.org" },
        Err(VerifyError::PrincipalNotListed { principal: "db.example.org".into() })
    );
    case!(
        "empty principal list matches nobody",
        { cert: &no_principals },
        Err(VerifyError::PrincipalNotListed { principal: "alice".into() })
    );
    case!(
        "verify-required is not supported",
        { cert: &fido },
        Err(VerifyError::UnsupportedCriticalOption("verify-required".into()))
    );
    for client in ["11.0.0.1", "2001:db9::1", "192.0.2.1"] {
        case!(
            &format!("source-address refuses {client}"),
            { cert: &sourced, client: Some(client) },
            Err(VerifyError::SourceAddressRefused { client: Some(client.parse().unwrap()) })
        );
    }
    case!(
        "source-address without a client address",
        { cert: &sourced },
        Err(VerifyError::SourceAddressRefused { client: None })
    );
    case!(
        "ward source-address refuses",
        { cert: &ward_user, client: Some("198.51.100.1") },
        Err(VerifyError::SourceAddressRefused { client: Some("198.51.100.1".parse().unwrap()) })
    );
}
