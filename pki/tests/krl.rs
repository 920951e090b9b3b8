#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! ward's KRL encoder against the real `ssh-keygen`: keys and certificates
//! are made by `ssh-keygen`, ward writes the KRL, and `ssh-keygen -Q` (the
//! same `krl.c` code sshd runs) decides. Every verdict is also compared with
//! a KRL that `ssh-keygen -k` builds from the same revocations, and
//! `ssh-keygen -Q -l` dumps are parsed back to check that ssh-keygen reads
//! exactly the serials ward meant.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use ssh_key::{Certificate, HashAlg, PublicKey};
use ward_pki::krl::{Krl, KrlError};

// ---------------------------------------------------------------------------
// Harness

/// A temporary directory, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("ward-krl-{}-{name}-{n}", std::process::id()));
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

fn run(args: &[&std::ffi::OsStr]) -> Output {
    Command::new("ssh-keygen").args(args).output().unwrap()
}

fn keygen_ok(args: &[&std::ffi::OsStr]) -> Output {
    let out = run(args);
    assert!(
        out.status.success(),
        "ssh-keygen {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A fresh ed25519 key `dir/name` (+ `.pub`); returns the private key path.
fn new_key(dir: &Dir, name: &str) -> PathBuf {
    let path = dir.path(name);
    keygen_ok(&[
        "-q".as_ref(),
        "-t".as_ref(),
        "ed25519".as_ref(),
        "-N".as_ref(),
        "".as_ref(),
        "-C".as_ref(),
        name.as_ref(),
        "-f".as_ref(),
        path.as_os_str(),
    ]);
    path
}

fn pub_path(key: &Path) -> PathBuf {
    let mut p = key.as_os_str().to_owned();
    p.push(".pub");
    PathBuf::from(p)
}

fn public_key(key: &Path) -> PublicKey {
    PublicKey::read_openssh_file(&pub_path(key)).unwrap()
}

/// A certificate for `user`'s key signed by `ca`, stored as `dir/name-cert.pub`.
fn sign(dir: &Dir, ca: &Path, user: &Path, name: &str, key_id: &str, serial: u64) -> PathBuf {
    let copy = dir.path(&format!("{name}.pub"));
    std::fs::copy(pub_path(user), &copy).unwrap();
    keygen_ok(&[
        "-q".as_ref(),
        "-s".as_ref(),
        ca.as_os_str(),
        "-I".as_ref(),
        key_id.as_ref(),
        "-n".as_ref(),
        "alice".as_ref(),
        "-z".as_ref(),
        serial.to_string().as_ref(),
        // A bounded window: the ssh-key crate (ward's reader checks parse
        // with it) refuses ssh-keygen's default "forever".
        "-V".as_ref(),
        "20240101000000Z:20340101000000Z".as_ref(),
        copy.as_os_str(),
    ]);
    dir.path(&format!("{name}-cert.pub"))
}

fn write_krl(dir: &Dir, name: &str, krl: &Krl) -> PathBuf {
    let path = dir.path(name);
    std::fs::write(&path, krl.to_bytes().unwrap()).unwrap();
    path
}

/// `ssh-keygen -Q` on one key: true if revoked. Checks that the exit code
/// and the printed verdict agree.
fn revoked(krl: &Path, key: &Path) -> bool {
    let out = run(&[
        "-Q".as_ref(),
        "-f".as_ref(),
        krl.as_os_str(),
        key.as_os_str(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let verdict = match out.status.code() {
        Some(0) => false,
        Some(1) => true,
        _ => panic!(
            "ssh-keygen -Q -f {} {} failed: {}",
            krl.display(),
            key.display(),
            String::from_utf8_lossy(&out.stderr)
        ),
    };
    let want = if verdict { ": REVOKED" } else { ": ok" };
    assert!(
        stdout.trim_end().ends_with(want),
        "exit code and output disagree for {}: {stdout}",
        key.display()
    );
    verdict
}

/// ward's reader on one key or certificate file: true if revoked.
fn read_verdict(krl: &Krl, key: &Path) -> bool {
    let text = std::fs::read_to_string(key).unwrap();
    if text.contains("-cert-v01@openssh.com") {
        let cert = Certificate::from_openssh(text.trim()).unwrap();
        krl.certificate_revocation(&cert).is_some()
    } else {
        krl.key_revoked(PublicKey::from_openssh(text.trim()).unwrap().key_data())
    }
}

/// `ssh-keygen -Q` on many keys at once: the verdict for each, in order.
fn revoked_many(krl: &Path, keys: &[PathBuf]) -> Vec<bool> {
    let mut args: Vec<&std::ffi::OsStr> = vec!["-Q".as_ref(), "-f".as_ref(), krl.as_os_str()];
    args.extend(keys.iter().map(|k| k.as_os_str()));
    let out = run(&args);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "ssh-keygen -Q failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), keys.len(), "one line per key: {stdout}");
    let verdicts: Vec<bool> = lines
        .iter()
        .zip(keys)
        .map(|(line, key)| {
            assert!(line.starts_with(&*key.to_string_lossy()), "{line}");
            if line.ends_with(": REVOKED") {
                true
            } else {
                assert!(line.ends_with(": ok"), "{line}");
                false
            }
        })
        .collect();
    assert_eq!(out.status.code() == Some(1), verdicts.contains(&true));
    verdicts
}

/// `ssh-keygen -Q -l`: the KRL as ssh-keygen parsed it.
fn dump(krl: &Path) -> String {
    let out = keygen_ok(&["-Q".as_ref(), "-l".as_ref(), "-f".as_ref(), krl.as_os_str()]);
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A dump as a sorted list of blocks (blank-line separated), without the
/// lines that legitimately differ between two KRLs with the same
/// revocations: the KRL version, the generation time and the comment.
fn dump_blocks(krl: &Path) -> Vec<String> {
    let text = dump(krl);
    let mut blocks: Vec<String> = text
        .split("\n\n")
        .map(|b| {
            b.lines()
                .filter(|l| {
                    !["# KRL version", "# Generated at", "# Comment:"]
                        .iter()
                        .any(|p| l.starts_with(p))
                })
                .collect::<Vec<_>>()
                .join("\n")
        })
        .filter(|b| !b.trim().is_empty())
        .collect();
    blocks.sort();
    blocks
}

/// The serials that ssh-keygen read from a dump with one CA, as ranges.
fn dumped_serials(text: &str) -> Vec<(u64, u64)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("serial: "))
        .map(|s| match s.split_once('-') {
            Some((lo, hi)) => (lo.parse().unwrap(), hi.parse().unwrap()),
            None => {
                let v = s.parse().unwrap();
                (v, v)
            }
        })
        .collect()
}

/// Sorted, merged (overlapping or adjacent) ranges: the canonical form
/// ssh-keygen prints.
fn canonical(mut ranges: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    ranges.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::new();
    for (lo, hi) in ranges {
        match out.last_mut() {
            Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

fn contains(ranges: &[(u64, u64)], serial: u64) -> bool {
    ranges.iter().any(|&(lo, hi)| lo <= serial && serial <= hi)
}

/// A KRL built by `ssh-keygen -k` from spec files, one `(ca, spec)` per
/// call (the first creates the KRL, the rest update it with `-u`).
fn reference_krl(dir: &Dir, name: &str, specs: &[(Option<&Path>, String)]) -> PathBuf {
    let krl = dir.path(name);
    for (i, (ca, spec)) in specs.iter().enumerate() {
        let spec_path = dir.path(&format!("{name}.spec{i}"));
        std::fs::write(&spec_path, spec).unwrap();
        let mut args: Vec<&std::ffi::OsStr> = vec!["-q".as_ref(), "-k".as_ref()];
        if i > 0 {
            args.push("-u".as_ref());
        }
        args.extend(["-f".as_ref(), krl.as_os_str()]);
        let ca_pub = ca.map(pub_path);
        if let Some(ca_pub) = &ca_pub {
            args.extend(["-s".as_ref(), ca_pub.as_os_str()]);
        }
        args.push(spec_path.as_os_str());
        keygen_ok(&args);
    }
    krl
}

/// Walks the KRL framing (header, sections, certificate subsections) and
/// returns each certificate subsection as (type, body). Panics on bad
/// framing.
fn cert_subsections(bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    fn string<'a>(b: &mut &'a [u8]) -> &'a [u8] {
        let len = u32::from_be_bytes(b[..4].try_into().unwrap()) as usize;
        let (s, rest) = b[4..].split_at(len);
        *b = rest;
        s
    }
    assert_eq!(&bytes[..12], b"SSHKRL\n\0\0\0\0\x01");
    let mut b = &bytes[12 + 24..];
    string(&mut b); // reserved
    string(&mut b); // comment
    let mut out = Vec::new();
    while !b.is_empty() {
        let kind = b[0];
        b = &b[1..];
        let mut sect = string(&mut b);
        if kind == 1 {
            string(&mut sect); // CA key
            string(&mut sect); // reserved
            while !sect.is_empty() {
                let sub = sect[0];
                sect = &sect[1..];
                out.push((sub, string(&mut sect).to_vec()));
            }
        }
    }
    out
}

/// Deterministic pseudo-random numbers (SplitMix64), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        match (hi - lo).checked_add(1) {
            Some(n) => lo + self.next() % n,
            None => self.next(),
        }
    }
}

// ---------------------------------------------------------------------------
// Tests

/// One table of certificates and plain keys, each checked against ward's
/// KRL and a reference KRL from `ssh-keygen -k` with the same revocations.
#[test]
fn verdicts_match_ssh_keygen() {
    let dir = Dir::new("table");
    let ca1 = new_key(&dir, "ca1");
    let ca2 = new_key(&dir, "ca2");
    let ca3 = new_key(&dir, "ca3"); // revoked outright
    let alice = new_key(&dir, "alice");
    let bob = new_key(&dir, "bob");
    let carol = new_key(&dir, "carol"); // revoked as an explicit key
    let dave = new_key(&dir, "dave"); // revoked by SHA-256 fingerprint
    let erin = new_key(&dir, "erin");
    let frank = new_key(&dir, "frank"); // revoked by fingerprint bytes

    let (ca1_key, ca2_key) = (public_key(&ca1), public_key(&ca2));
    let mut krl = Krl::new(42, 1_700_000_000, "ward test KRL").unwrap();
    krl.revoke_serial(&ca1_key, 5).unwrap();
    krl.revoke_serial(&ca1_key, 7).unwrap();
    krl.revoke_serial_range(&ca1_key, 100, 200).unwrap();
    krl.revoke_serial_range(&ca1_key, u64::MAX - 1, u64::MAX)
        .unwrap();
    krl.revoke_key_id(&ca1_key, "bob-laptop").unwrap();
    krl.revoke_key_id(&ca2_key, "ca2-only").unwrap();
    krl.revoke_key_id_any_ca("stolen").unwrap();
    krl.revoke_key(&public_key(&carol)).unwrap();
    krl.revoke_key(&public_key(&ca3)).unwrap();
    krl.revoke_key_sha256(&public_key(&dave));
    let frank_fp = public_key(&frank)
        .fingerprint(HashAlg::Sha256)
        .sha256()
        .unwrap();
    krl.revoke_sha256(frank_fp);
    let ward = write_krl(&dir, "ward.krl", &krl);

    let line = |key: &Path| std::fs::read_to_string(pub_path(key)).unwrap();
    let fp = |key: &Path| public_key(key).fingerprint(HashAlg::Sha256).to_string();
    let reference = reference_krl(
        &dir,
        "ref.krl",
        &[
            (
                Some(&ca1),
                "serial: 5\nserial: 7\nserial: 100-200\n\
                 serial: 18446744073709551614-18446744073709551615\nid: bob-laptop\n"
                    .to_owned(),
            ),
            (Some(&ca2), "id: ca2-only\n".to_owned()),
            // No "id: stolen": ssh-keygen 9.2 cannot write an any-CA
            // section ("revoking certificates by key ID requires
            // specification of a CA key"), so those cases are ward-only.
            (
                None,
                format!(
                    "key: {}key: {}hash: {}\nhash: {}\n",
                    line(&carol),
                    line(&ca3),
                    fp(&dave),
                    fp(&frank)
                ),
            ),
        ],
    );

    // (what, certificate or key, revoked?)
    let mut cases: Vec<(&str, PathBuf, bool)> = Vec::new();
    let mut cert = |what: &'static str, ca: &Path, user: &Path, id: &str, serial, want| {
        let name = format!("c{}", cases.len());
        cases.push((what, sign(&dir, ca, user, &name, id, serial), want));
    };
    cert("listed serial", &ca1, &alice, "alice", 5, true);
    cert("listed serial", &ca1, &alice, "alice", 7, true);
    cert(
        "serial between listed ones",
        &ca1,
        &alice,
        "alice",
        6,
        false,
    );
    cert("serial below listed ones", &ca1, &alice, "alice", 4, false);
    cert("serial just below range", &ca1, &alice, "alice", 99, false);
    cert("first serial of range", &ca1, &alice, "alice", 100, true);
    cert("inside range", &ca1, &alice, "alice", 150, true);
    cert("last serial of range", &ca1, &alice, "alice", 200, true);
    cert("serial just above range", &ca1, &alice, "alice", 201, false);
    cert("top serial", &ca1, &alice, "alice", u64::MAX, true);
    cert(
        "just below top range",
        &ca1,
        &alice,
        "alice",
        u64::MAX - 2,
        false,
    );
    cert("serial 0 is never revoked", &ca1, &alice, "alice", 0, false);
    cert("same serial, other CA", &ca2, &alice, "alice", 5, false);
    cert("range serial, other CA", &ca2, &alice, "alice", 150, false);
    cert("revoked key id", &ca1, &bob, "bob-laptop", 9, true);
    cert(
        "revoked key id, serial 0",
        &ca1,
        &bob,
        "bob-laptop",
        0,
        true,
    );
    cert(
        "key id revoked for other CA",
        &ca2,
        &bob,
        "bob-laptop",
        9,
        false,
    );
    cert(
        "key id revoked for this CA",
        &ca2,
        &bob,
        "ca2-only",
        9,
        true,
    );
    cert("key id is exact", &ca1, &bob, "bob-laptop2", 9, false);
    cert("any-CA key id (ca1)", &ca1, &bob, "stolen", 11, true);
    cert("any-CA key id (ca2)", &ca2, &bob, "stolen", 11, true);
    cert(
        "cert of explicitly revoked key",
        &ca1,
        &carol,
        "carol",
        50,
        true,
    );
    cert(
        "cert of explicit key, other CA",
        &ca2,
        &carol,
        "carol",
        50,
        true,
    );
    cert("cert of sha256-revoked key", &ca1, &dave, "dave", 51, true);
    cert(
        "cert of fingerprint-revoked key",
        &ca2,
        &frank,
        "frank",
        52,
        true,
    );
    cert(
        "cert signed by a revoked CA key",
        &ca3,
        &erin,
        "erin",
        53,
        true,
    );
    cert("unrevoked cert", &ca1, &erin, "erin", 54, false);
    cases.push(("explicitly revoked plain key", pub_path(&carol), true));
    cases.push(("sha256-revoked plain key", pub_path(&dave), true));
    cases.push(("fingerprint-revoked plain key", pub_path(&frank), true));
    cases.push(("revoked CA key itself", pub_path(&ca3), true));
    cases.push(("unrevoked plain key", pub_path(&erin), false));
    cases.push(("plain key of a revoked serial", pub_path(&alice), false));
    cases.push(("unrevoked CA key", pub_path(&ca1), false));

    // ward's reader: both KRLs read back, ward's into the very same value.
    let ward_read = Krl::from_bytes(&std::fs::read(&ward).unwrap()).unwrap();
    assert_eq!(ward_read, krl);
    let reference_read = Krl::from_bytes(&std::fs::read(&reference).unwrap()).unwrap();
    let check = |what: &str, key: &Path, want: bool| {
        assert_eq!(revoked(&ward, key), want, "ward KRL: {what}");
        assert_eq!(
            read_verdict(&ward_read, key),
            want,
            "ward KRL, ward reader: {what}"
        );
        if !what.starts_with("any-CA") {
            assert_eq!(revoked(&reference, key), want, "ssh-keygen KRL: {what}");
            assert_eq!(
                read_verdict(&reference_read, key),
                want,
                "ssh-keygen KRL, ward reader: {what}"
            );
        }
    };
    for (what, key, want) in &cases {
        check(what, key, *want);
    }

    // ssh-keygen reads back the same revocations from both KRLs.
    let text = dump(&ward);
    assert!(text.starts_with("# KRL version 42\n"), "{text}");
    assert!(text.contains("# Comment: ward test KRL\n"), "{text}");
    assert!(text.contains("\nserial: 100-200\n"), "{text}");
    assert!(text.contains("# Wildcard CA\nid: stolen"), "{text}");
    let mut blocks = dump_blocks(&ward);
    blocks.retain(|b| b != "# Wildcard CA\nid: stolen");
    assert_eq!(blocks, dump_blocks(&reference));
}

/// Bytes depend on the revocations only, not on the order they came in.
#[test]
fn encoding_is_deterministic() {
    let dir = Dir::new("determinism");
    let (ca1, ca2) = (new_key(&dir, "ca1"), new_key(&dir, "ca2"));
    let (ca1, ca2) = (public_key(&ca1), public_key(&ca2));
    let user = public_key(&new_key(&dir, "user"));
    let mut a = Krl::new(1, 2, "c").unwrap();
    a.revoke_serial(&ca1, 9).unwrap();
    a.revoke_serial_range(&ca1, 3, 4).unwrap();
    a.revoke_key_id(&ca2, "x").unwrap();
    a.revoke_key_id(&ca2, "a").unwrap();
    a.revoke_key(&user).unwrap();
    a.revoke_sha256([7; 32]);
    a.revoke_sha256([1; 32]);
    let mut b = Krl::new(1, 2, "c").unwrap();
    b.revoke_sha256([1; 32]);
    b.revoke_key(&user).unwrap();
    b.revoke_key_id(&ca2, "a").unwrap();
    b.revoke_sha256([7; 32]);
    b.revoke_serial(&ca1, 4).unwrap();
    b.revoke_key_id(&ca2, "x").unwrap();
    b.revoke_serial(&ca1, 9).unwrap();
    b.revoke_serial(&ca1, 3).unwrap();
    b.revoke_key_id(&ca2, "a").unwrap();
    assert_eq!(a, b);
    assert_eq!(a.to_bytes().unwrap(), b.to_bytes().unwrap());
}

#[test]
fn bad_revocations_are_refused() {
    let dir = Dir::new("bad");
    let ca = public_key(&new_key(&dir, "ca"));
    let mut krl = Krl::new(1, 1, "").unwrap();
    let cases: Vec<(Result<(), KrlError>, KrlError)> = vec![
        (krl.revoke_serial(&ca, 0), KrlError::ZeroSerial),
        (krl.revoke_serial_range(&ca, 0, 10), KrlError::ZeroSerial),
        (
            krl.revoke_serial_range(&ca, 10, 9),
            KrlError::InvertedRange { first: 10, last: 9 },
        ),
        (
            krl.revoke_key_id(&ca, "a\0b"),
            KrlError::NulByte { field: "key_id" },
        ),
    ];
    for (got, want) in cases {
        assert_eq!(got, Err(want));
    }
    assert!(krl.is_empty(), "nothing half-added");
    assert!(matches!(
        Krl::new(1, 1, "\0"),
        Err(KrlError::NulByte { field: "comment" })
    ));
}

#[test]
fn empty_krl() {
    let dir = Dir::new("empty");
    let ca = new_key(&dir, "ca");
    let user = new_key(&dir, "user");
    let cert = sign(&dir, &ca, &user, "cert", "user", 1);
    let krl = Krl::new(0, 0, "").unwrap();
    let bytes = krl.to_bytes().unwrap();
    assert_eq!(bytes.len(), 8 + 4 + 8 * 3 + 4 + 4, "header only");
    let path = write_krl(&dir, "empty.krl", &krl);
    assert!(!revoked(&path, &cert));
    assert!(!revoked(&path, &pub_path(&user)));
    assert!(!revoked(&path, &pub_path(&ca)));
    let text = dump(&path);
    assert!(text.starts_with("# KRL version 0\n"), "{text}");
    assert!(
        !text.contains("serial") && !text.contains("CA key"),
        "{text}"
    );
}

/// 100,000+ revoked serials: sparse singletons, short runs, long ranges, a
/// dense stretch wider than one bitmap can hold, and serials at the top of
/// the u64 range. ssh-keygen must parse it and read back exactly that set.
#[test]
fn hundred_thousand_serials() {
    let dir = Dir::new("big");
    let ca = new_key(&dir, "ca");
    let ca_key = public_key(&ca);
    let user = new_key(&dir, "user");
    let mut rng = Rng(0x5eed_0001);
    let mut krl = Krl::new(3, 1_700_000_000, "big").unwrap();
    let mut ranges = Vec::new();
    let mut add = |krl: &mut Krl, lo: u64, hi: u64| {
        krl.revoke_serial_range(&ca_key, lo, hi).unwrap();
        ranges.push((lo, hi));
    };
    // Dense: every other serial in 1..=40001 (20,001 serials over a span
    // that needs three bitmaps).
    for s in (1..=40_001).step_by(2) {
        add(&mut krl, s, s);
    }
    // Sparse singletons.
    for _ in 0..70_000 {
        let s = rng.range(1_000_000, 1 << 40);
        add(&mut krl, s, s);
    }
    // Short runs, medium runs and long ranges.
    for _ in 0..300 {
        let lo = rng.range(1 << 41, 1 << 50);
        let len = [2, 3, 20, 100, 170, 1_000, 100_000][rng.range(0, 6) as usize];
        add(&mut krl, lo, lo + len - 1);
    }
    add(&mut krl, u64::MAX - 1_000, u64::MAX);
    let ranges = canonical(ranges);
    let count: u64 = ranges.iter().map(|&(lo, hi)| hi - lo + 1).sum();
    assert!(count >= 100_000);

    let bytes = krl.to_bytes().unwrap();
    let path = dir.path("big.krl");
    std::fs::write(&path, &bytes).unwrap();
    // Far smaller than one 8-byte list entry per serial.
    assert!(
        (bytes.len() as u64) < 70_000 * 8 + 300 * 30 + 20_000,
        "{} bytes",
        bytes.len()
    );

    assert_eq!(dumped_serials(&dump(&path)), ranges);
    let kinds: std::collections::BTreeSet<u8> =
        cert_subsections(&bytes).iter().map(|(k, _)| *k).collect();
    assert_eq!(kinds, [0x20, 0x21, 0x22].into(), "list, ranges and bitmaps");
    assert_eq!(
        Krl::from_bytes(&bytes).unwrap(),
        krl,
        "ward's reader reads it back"
    );

    let probes: Vec<u64> = vec![
        1,
        2,
        39_999,
        40_001,
        40_002,
        40_003,
        ranges[ranges.len() / 2].0,
        ranges[ranges.len() / 2].1 + 1,
        u64::MAX,
        u64::MAX - 1_001,
    ];
    let certs: Vec<PathBuf> = probes
        .iter()
        .enumerate()
        .map(|(i, &s)| sign(&dir, &ca, &user, &format!("p{i}"), "user", s))
        .collect();
    let want: Vec<bool> = probes.iter().map(|&s| contains(&ranges, s)).collect();
    assert_eq!(revoked_many(&path, &certs), want, "probes {probes:?}");
}

/// Random serial sets: ssh-keygen reads back exactly the set ward wrote,
/// its verdict on probe certificates is set membership, and a KRL built by
/// `ssh-keygen -k` for the same set gives the same verdicts.
#[test]
fn random_serial_sets() {
    let dir = Dir::new("random");
    let ca = new_key(&dir, "ca");
    let ca_key = public_key(&ca);
    let user = new_key(&dir, "user");
    let mut rng = Rng(0x5eed_0002);
    for round in 0..20 {
        // A region of serials: near 1, in the middle, or at the top. Dense
        // regions stay narrower than 16384 serials: ssh-keygen -k would
        // otherwise write a bitmap that it cannot read back.
        let width = [300, 5_000, 12_000, 1_000_000, 1 << 40][rng.range(0, 4) as usize];
        let base = [1, 1 << 32, u64::MAX - width][rng.range(0, 2) as usize];
        let top = base + width;
        let mut ranges = Vec::new();
        let singles = rng.range(1, 200);
        for _ in 0..singles {
            let s = rng.range(base, top);
            ranges.push((s, s));
        }
        for _ in 0..rng.range(0, 5) {
            let lo = rng.range(base, top);
            let hi = lo.saturating_add(rng.range(1, 400)).min(top);
            ranges.push((lo, hi));
        }
        let ranges = canonical(ranges);

        let mut krl = Krl::new(round, 1_700_000_000, "random").unwrap();
        // Add in a scrambled order, sometimes serial by serial.
        let mut order = ranges.clone();
        order.reverse();
        for &(lo, hi) in &order {
            if hi - lo < 8 && rng.range(0, 1) == 0 {
                for s in lo..=hi {
                    krl.revoke_serial(&ca_key, s).unwrap();
                }
            } else {
                krl.revoke_serial_range(&ca_key, lo, hi).unwrap();
            }
        }
        let ward = write_krl(&dir, &format!("ward{round}.krl"), &krl);
        assert_eq!(dumped_serials(&dump(&ward)), ranges, "round {round}");

        let spec: String = ranges
            .iter()
            .map(|&(lo, hi)| match lo == hi {
                true => format!("serial: {lo}\n"),
                false => format!("serial: {lo}-{hi}\n"),
            })
            .collect();
        let reference = reference_krl(&dir, &format!("ref{round}.krl"), &[(Some(&ca), spec)]);

        // Probes: members, their neighbours, and random serials.
        let mut probes = Vec::new();
        for _ in 0..4 {
            let (lo, hi) = ranges[rng.range(0, ranges.len() as u64 - 1) as usize];
            probes.push(rng.range(lo, hi));
        }
        for _ in 0..3 {
            let (lo, hi) = ranges[rng.range(0, ranges.len() as u64 - 1) as usize];
            probes.push(if rng.range(0, 1) == 0 {
                lo.saturating_sub(1).max(1)
            } else {
                hi.saturating_add(1)
            });
        }
        for _ in 0..3 {
            probes.push(rng.range(base, top));
        }
        let certs: Vec<PathBuf> = probes
            .iter()
            .enumerate()
            .map(|(i, &s)| sign(&dir, &ca, &user, &format!("r{round}p{i}"), "user", s))
            .collect();
        let want: Vec<bool> = probes.iter().map(|&s| contains(&ranges, s)).collect();
        let ctx = format!("round {round}, probes {probes:?}");
        assert_eq!(revoked_many(&ward, &certs), want, "ward KRL, {ctx}");
        assert_eq!(
            revoked_many(&reference, &certs),
            want,
            "ssh-keygen KRL, {ctx}"
        );
        // ward's reader agrees on both (ssh-keygen writes its own mix of
        // lists, ranges and bitmaps), and reads ward's KRL back unchanged.
        let ward_read = Krl::from_bytes(&std::fs::read(&ward).unwrap()).unwrap();
        assert_eq!(ward_read, krl, "round trip, {ctx}");
        let reference_read = Krl::from_bytes(&std::fs::read(&reference).unwrap()).unwrap();
        for (cert, &w) in certs.iter().zip(&want) {
            assert_eq!(read_verdict(&ward_read, cert), w, "ward reader, {ctx}");
            assert_eq!(
                read_verdict(&reference_read, cert),
                w,
                "ward reader on ssh-keygen KRL, {ctx}"
            );
        }
    }
}

/// Serials revoked for one CA do not touch another CA's certificates, even
/// with many CAs in one KRL.
#[test]
fn many_cas() {
    let dir = Dir::new("cas");
    let user = new_key(&dir, "user");
    let cas: Vec<PathBuf> = (0..4).map(|i| new_key(&dir, &format!("ca{i}"))).collect();
    let mut krl = Krl::new(1, 1, "").unwrap();
    // CA i revokes serial 10 + i.
    let mut expected: BTreeMap<(usize, u64), bool> = BTreeMap::new();
    for (i, ca) in cas.iter().enumerate() {
        krl.revoke_serial(&public_key(ca), 10 + i as u64).unwrap();
        for j in 0..cas.len() {
            expected.insert((i, 10 + j as u64), i == j);
        }
    }
    let path = write_krl(&dir, "cas.krl", &krl);
    let mut certs = Vec::new();
    let mut want = Vec::new();
    for (&(i, serial), &is_revoked) in &expected {
        certs.push(sign(
            &dir,
            &cas[i],
            &user,
            &format!("ca{i}s{serial}"),
            "u",
            serial,
        ));
        want.push(is_revoked);
    }
    assert_eq!(revoked_many(&path, &certs), want);
}

/// A bitmap at the size limit of OpenSSH's mpint reader: 16384 serials
/// wide, 2048 bytes with the top bit set, so 2049 bytes with the sign byte.
#[test]
fn largest_bitmap() {
    let dir = Dir::new("bitmap");
    let ca = new_key(&dir, "ca");
    let ca_key = public_key(&ca);
    let mut krl = Krl::new(1, 1, "").unwrap();
    let mut ranges: Vec<(u64, u64)> = (1..=16_381).step_by(4).map(|s| (s, s)).collect();
    ranges.push((16_384, 16_384));
    // Just past the limit: starts the next bitmap.
    ranges.extend((16_386..=16_500).step_by(4).map(|s| (s, s)));
    for &(s, _) in &ranges {
        krl.revoke_serial(&ca_key, s).unwrap();
    }
    let bytes = krl.to_bytes().unwrap();
    let subs = cert_subsections(&bytes);
    let first = &subs[0];
    assert_eq!(first.0, 0x22, "a bitmap");
    assert_eq!(&first.1[..8], &1u64.to_be_bytes(), "from serial 1");
    assert_eq!(&first.1[8..13], &[0, 0, 0x08, 0x01, 0], "2049-byte mpint");
    assert_eq!(first.1[13] & 0x80, 0x80, "top bit: serial 16384");
    assert_eq!(subs[1].0, 0x22, "a second bitmap");
    let path = dir.path("bitmap.krl");
    std::fs::write(&path, &bytes).unwrap();
    assert_eq!(dumped_serials(&dump(&path)), ranges);
    assert_eq!(
        Krl::from_bytes(&bytes).unwrap(),
        krl,
        "ward's reader reads it back"
    );

    // One byte more is over OpenSSH's bignum limit: ward's reader refuses it
    // as ssh-keygen does.
    let mut body = 1u64.to_be_bytes().to_vec();
    body.extend_from_slice(&2050u32.to_be_bytes());
    body.push(0);
    body.push(0x80);
    body.extend(std::iter::repeat_n(0u8, 2048));
    let over_krl = krl_with_cert_subsection(&ca_key, 0x22, &body);
    let over_path = dir.path("over.krl");
    std::fs::write(&over_path, &over_krl).unwrap();
    assert!(!run(&[
        "-Q".as_ref(),
        "-l".as_ref(),
        "-f".as_ref(),
        over_path.as_os_str()
    ])
    .status
    .success());
    assert!(matches!(
        Krl::from_bytes(&over_krl),
        Err(KrlError::Malformed(_))
    ));
}

/// A KRL (empty header) with one certificate section for `ca` holding one
/// subsection of `kind` with `body`, written by hand.
fn krl_with_cert_subsection(ca: &PublicKey, kind: u8, body: &[u8]) -> Vec<u8> {
    fn string(out: &mut Vec<u8>, s: &[u8]) {
        out.extend_from_slice(&(s.len() as u32).to_be_bytes());
        out.extend_from_slice(s);
    }
    let mut out = Krl::new(1, 1, "").unwrap().to_bytes().unwrap();
    let mut sect = Vec::new();
    string(&mut sect, &ca.to_bytes().unwrap());
    string(&mut sect, b"");
    sect.push(kind);
    string(&mut sect, body);
    out.push(1);
    string(&mut out, &sect);
    out
}

/// The reader fails closed: whatever it does not fully understand is an
/// error, never a partial revocation set. Each refused input is also one
/// that ssh-keygen refuses or that ward never writes.
#[test]
fn reader_refuses_what_it_does_not_understand() {
    let dir = Dir::new("reader");
    let ca = public_key(&new_key(&dir, "ca"));
    let good = {
        let mut k = Krl::new(1, 1, "").unwrap();
        k.revoke_serial(&ca, 5).unwrap();
        k.to_bytes().unwrap()
    };
    assert!(Krl::from_bytes(&good).is_ok());
    let with_section = |kind: u8, body: &[u8]| {
        let mut out = Krl::new(1, 1, "").unwrap().to_bytes().unwrap();
        out.push(kind);
        out.extend_from_slice(&(body.len() as u32).to_be_bytes());
        out.extend_from_slice(body);
        out
    };
    let mut bad_magic = good.clone();
    bad_magic[0] = b'X';
    let mut bad_version = good.clone();
    bad_version[11] = 2;
    let mut trailing = good.clone();
    trailing.push(1);
    let cases: Vec<(&str, Vec<u8>, KrlError)> = vec![
        ("empty", Vec::new(), KrlError::Malformed("truncated".into())),
        (
            "truncated",
            good[..good.len() - 1].to_vec(),
            KrlError::Malformed("truncated".into()),
        ),
        (
            "trailing byte",
            trailing,
            KrlError::Malformed("truncated".into()),
        ),
        (
            "bad magic",
            bad_magic,
            KrlError::Malformed("bad magic: not an OpenSSH KRL".into()),
        ),
        (
            "format 2",
            bad_version,
            KrlError::Malformed("format version 2 (only 1 is known)".into()),
        ),
        (
            "SHA-1 section",
            with_section(
                3,
                &[
                    0, 0, 0, 20, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19,
                    20,
                ],
            ),
            KrlError::Malformed("SHA-1 fingerprint sections are not supported".into()),
        ),
        (
            "signature section",
            with_section(4, b""),
            KrlError::Malformed("signed KRLs are not supported (nor by OpenSSH ≥ 9.4)".into()),
        ),
        (
            "unknown section",
            with_section(9, b""),
            KrlError::Malformed("unknown section type 9".into()),
        ),
        (
            "short SHA-256",
            with_section(5, &[0, 0, 0, 1, 7]),
            KrlError::Malformed("a SHA-256 fingerprint is not 32 bytes long".into()),
        ),
        (
            "serial 0 listed",
            krl_with_cert_subsection(&ca, 0x20, &0u64.to_be_bytes()),
            KrlError::ZeroSerial,
        ),
        (
            "inverted range",
            krl_with_cert_subsection(
                &ca,
                0x21,
                &[9u64.to_be_bytes(), 3u64.to_be_bytes()].concat(),
            ),
            KrlError::InvertedRange { first: 9, last: 3 },
        ),
        (
            "negative bitmap",
            krl_with_cert_subsection(
                &ca,
                0x22,
                &[&1u64.to_be_bytes()[..], &[0, 0, 0, 1, 0x80]].concat(),
            ),
            KrlError::Malformed("negative serial bitmap".into()),
        ),
        (
            "trailing bytes in a subsection",
            krl_with_cert_subsection(
                &ca,
                0x21,
                &[1u64.to_be_bytes(), 3u64.to_be_bytes(), [0; 8]].concat(),
            ),
            KrlError::Malformed("trailing bytes in a certificate subsection".into()),
        ),
        (
            "unknown subsection",
            krl_with_cert_subsection(&ca, 0x24, b""),
            KrlError::Malformed("unknown certificate subsection type 36".into()),
        ),
        (
            "NUL in a key ID",
            krl_with_cert_subsection(&ca, 0x23, &[0, 0, 0, 2, b'a', 0]),
            KrlError::NulByte { field: "key_id" },
        ),
    ];
    for (what, bytes, want) in cases {
        assert_eq!(Krl::from_bytes(&bytes).unwrap_err(), want, "{what}");
        // ssh-keygen refuses the same file (or, for a trailing byte in the
        // header region, at least ward never writes it).
        let path = dir.path("case.krl");
        std::fs::write(&path, &bytes).unwrap();
        let out = run(&[
            "-Q".as_ref(),
            "-l".as_ref(),
            "-f".as_ref(),
            path.as_os_str(),
        ]);
        if !matches!(
            what,
            "SHA-1 section" | "signature section" | "NUL in a key ID"
        ) {
            assert!(!out.status.success(), "ssh-keygen accepted {what}");
        }
    }
}
