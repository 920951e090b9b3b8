//! Password hashing cost (issue #3: "report the password-hash cost and its
//! parameters"). ward-ca hashes with Argon2id at argon2's defaults, which are
//! OWASP's minimum (m = 19,456 KiB, t = 2, p = 1): `ward_ca::crypto`. The
//! baseline in the same run is one SHA-256 of the same password, to show
//! the work factor as a ratio.
#![allow(clippy::unwrap_used, clippy::expect_used)] // bench inputs are fixed

use std::hint::black_box;
use std::time::Instant;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use sha2::{Digest, Sha256};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let params = Params::new(19_456, 2, 1, None).unwrap();
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    assert_eq!(
        format!("{:?}", Argon2::default().params()),
        format!("{:?}", argon.params()),
        "ward-ca uses argon2's defaults"
    );
    let password = b"Kestrel-Orbit-77";
    let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
    let phc = argon.hash_password(password, &salt).unwrap().to_string();
    let parsed = PasswordHash::new(&phc).unwrap();

    let mut hash = Vec::new();
    let mut verify = Vec::new();
    for _ in 0..30 {
        let t = Instant::now();
        black_box(argon.hash_password(black_box(password), &salt).unwrap());
        hash.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        black_box(argon.verify_password(black_box(password), &parsed).is_ok());
        verify.push(t.elapsed().as_secs_f64());
    }
    let mut sha = Vec::new();
    for _ in 0..30 {
        let t = Instant::now();
        for _ in 0..10_000 {
            black_box(Sha256::digest(black_box(password)));
        }
        sha.push(t.elapsed().as_secs_f64() / 10_000.0);
    }
    let (h, v, s) = (median(hash), median(verify), median(sha));
    println!("== password hashing (Argon2id m=19456 KiB, t=2, p=1), median of 30");
    println!("argon2id hash:   {:8.2} ms", h * 1e3);
    println!(
        "argon2id verify: {:8.2} ms   (one login attempt; ≈ {:.0} verifications/s per core)",
        v * 1e3,
        1.0 / v
    );
    println!(
        "sha256 baseline: {:8.3} µs   (argon2id verify / sha256 = {:.0}×)",
        s * 1e6,
        v / s
    );
}
