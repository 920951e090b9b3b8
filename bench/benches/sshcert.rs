//! The ceiling for SSH certificate issuance: raw in-process Ed25519 signing
//! of the same certificate ward-ca issues (one principal, permit-pty, 8 h),
//! with nothing else — no HTTP, no SigV4, no policy, no database. Compare
//! with `bench/scripts/certs.sh` (issuance through the API with a durable
//! inventory record) in the same session.
#![allow(clippy::unwrap_used, clippy::expect_used)] // bench inputs are fixed

use std::hint::black_box;
use std::time::Instant;

use rand_core::OsRng;
use ssh_key::certificate::{Builder, CertType};
use ssh_key::{Algorithm, PrivateKey};

fn main() {
    let ca = PrivateKey::random(&mut OsRng, Algorithm::Ed25519).unwrap();
    let user = PrivateKey::random(&mut OsRng, Algorithm::Ed25519).unwrap();
    let sign = |serial: u64| {
        let mut b = Builder::new_with_random_nonce(
            &mut OsRng,
            user.public_key(),
            1_800_000_000,
            1_800_028_800,
        )
        .unwrap();
        b.serial(serial).unwrap();
        b.key_id("AIDAEXAMPLEUSERID0001").unwrap();
        b.cert_type(CertType::User).unwrap();
        b.valid_principal("alice").unwrap();
        b.extension("permit-pty", "").unwrap();
        b.sign(&ca).unwrap()
    };
    for i in 0..1000 {
        black_box(sign(i + 1));
    }
    let mut rates = Vec::new();
    for round in 0..15 {
        let n = 5_000u64;
        let t = Instant::now();
        for i in 0..n {
            black_box(sign(round * n + i + 1).to_openssh().unwrap());
        }
        rates.push(n as f64 / t.elapsed().as_secs_f64());
    }
    rates.sort_by(|a, b| a.total_cmp(b));
    let median = rates[rates.len() / 2];
    println!("== raw Ed25519 SSH user-certificate signing, in process, one core");
    println!(
        "median {median:.0} certificates/s (15 rounds of 5,000; sign + encode to OpenSSH text)"
    );
}
