//! Architecture invariants from ARCHITECTURE.md, checked mechanically.
//!
//! 1. The crates that run inside other processes or must stay pure — the
//!    PAM and NSS modules, the agent protocol and the policy engine — never
//!    link an async runtime, TLS, SQL or a thread pool. Checked on the real
//!    dependency graph from `cargo metadata`.
//! 2. ward-policy does no I/O and reads no clock: its sources name no
//!    file, socket, process, environment, thread or clock API.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::process::Command;

/// Crates that must stay light, and the dependencies none of them may link.
const GUARDED: &[&str] = &[
    "ward-policy",
    "ward-authz",
    "ward-protocol",
    "pam_ward",
    "nss_ward",
];
const FORBIDDEN: &[&str] = &[
    "tokio",
    "mio",
    "async-std",
    "smol",
    "futures-executor",
    "rustls",
    "openssl",
    "openssl-sys",
    "native-tls",
    "ring",
    "aws-lc-rs",
    "sqlx",
    "rusqlite",
    "libsqlite3-sys",
    "postgres",
    "tokio-postgres",
    "hyper",
    "reqwest",
    "axum",
    "tonic",
    "rayon",
    "rayon-core",
    "threadpool",
    "crossbeam-deque",
];

fn metadata() -> serde_json::Value {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(&root)
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("metadata JSON")
}

/// Names of all crates linked into `id` through normal (non-dev, non-build)
/// dependencies.
fn normal_closure(meta: &serde_json::Value, id: &str) -> BTreeSet<String> {
    let names: HashMap<&str, &str> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    let nodes: HashMap<&str, &serde_json::Value> = meta["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["id"].as_str().unwrap(), n))
        .collect();
    let mut seen = BTreeSet::new();
    let mut stack = vec![id];
    while let Some(cur) = stack.pop() {
        for dep in nodes[cur]["deps"].as_array().unwrap() {
            let normal = dep["dep_kinds"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["kind"].is_null());
            let pkg = dep["pkg"].as_str().unwrap();
            if normal && seen.insert(names[pkg].to_owned()) {
                stack.push(pkg);
            }
        }
    }
    seen
}

#[test]
fn guarded_crates_link_no_runtime_tls_sql_or_thread_pool() {
    let meta = metadata();
    let members: Vec<(&str, &str)> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["source"].is_null())
        .map(|p| (p["name"].as_str().unwrap(), p["id"].as_str().unwrap()))
        .collect();
    let guarded: Vec<_> = members
        .iter()
        .filter(|(n, _)| GUARDED.contains(n))
        .collect();
    assert!(
        guarded.iter().any(|(n, _)| *n == "ward-policy"),
        "ward-policy must be a workspace member"
    );
    for (name, id) in guarded {
        let deps = normal_closure(&meta, id);
        let bad: Vec<_> = deps
            .iter()
            .filter(|d| FORBIDDEN.contains(&d.as_str()))
            .collect();
        assert!(
            bad.is_empty(),
            "{name} links {bad:?}; see ARCHITECTURE.md invariants"
        );
    }
}

#[test]
fn the_check_itself_sees_heavy_dependencies() {
    // Guard against a vacuous pass: ward-policy does link serde_json, so
    // the closure walk must find it.
    let meta = metadata();
    let policy = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "ward-policy")
        .unwrap();
    let deps = normal_closure(&meta, policy["id"].as_str().unwrap());
    assert!(
        deps.contains("serde_json"),
        "closure walk is broken: {deps:?}"
    );
}

#[test]
fn policy_sources_do_no_io_and_read_no_clock() {
    const BANNED: &[&str] = &[
        "std::fs",
        "std::io",
        "std::net::Tcp",
        "std::net::Udp",
        "UnixStream",
        "std::process",
        "std::env",
        "std::thread",
        "SystemTime",
        "std::time::Instant",
        "Instant::now",
        "tokio",
        "println!",
        "eprintln!",
    ];
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policy/src");
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            files += 1;
            let text = std::fs::read_to_string(&path).unwrap();
            // Only the non-test part of the file counts.
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            for b in BANNED {
                assert!(
                    !code.contains(b),
                    "{} uses {b}: ward-policy must stay pure",
                    path.display()
                );
            }
        }
    }
    assert!(files >= 5, "found only {files} policy source files");
}
