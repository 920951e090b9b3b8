//! Architecture invariants from ARCHITECTURE.md, checked mechanically.
//!
//! 1. The crates that run inside other processes or must stay pure — the
//!    agent protocol, the policy engine and the certificate code (ward-pki)
//!    — never link an async runtime, TLS, SQL or a thread pool. Checked on
//!    the real dependency graph from `cargo metadata`. A guarded crate that
//!    is not a workspace member fails the test (add new crates here when
//!    they land: `pam_ward`, `nss_ward`, `ward-authz`).
//! 2. ward-policy and ward-pki do no I/O and read no clock: no path in
//!    their sources (whatever the spelling: grouped or nested `use` trees,
//!    aliases, fully qualified paths; in every file under `src/`, outside
//!    `#[cfg(test)]` items) names a file, socket, process, environment,
//!    thread or clock API.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Crates that must stay light, and the dependencies none of them may link.
/// Each entry: the crate, and the names of [`FORBIDDEN`] it may link anyway.
/// ward-pki signs X.509 certificates with *ring* (through rcgen) and checks
/// CSR signatures with webpki's *ring* algorithms: a crypto library, not a
/// TLS stack, so *ring* is allowed there and nowhere else.
const GUARDED: &[(&str, &[&str])] = &[
    ("ward-policy", &[]),
    ("ward-authz", &[]),
    ("ward-protocol", &[]),
    ("ward-pki", &["ring"]),
    ("pam_ward", &[]),
    ("nss_ward", &[]),
];
const FORBIDDEN: &[&str] = &[
    "tokio",
    "tokio-rustls",
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
    "ureq",
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

/// The workspace member called `name`: its package id.
fn member_id<'m>(meta: &'m serde_json::Value, name: &str) -> Option<&'m str> {
    meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["source"].is_null() && p["name"] == name)
        .map(|p| p["id"].as_str().unwrap())
}

/// The forbidden crates `name` links.
fn forbidden_in(meta: &serde_json::Value, name: &str, allowed: &[&str]) -> Vec<String> {
    let id = member_id(meta, name)
        .unwrap_or_else(|| panic!("guarded crate {name} is not a workspace member"));
    normal_closure(meta, id)
        .into_iter()
        .filter(|d| FORBIDDEN.contains(&d.as_str()) && !allowed.contains(&d.as_str()))
        .collect()
}

#[test]
fn guarded_crates_link_no_runtime_tls_sql_or_thread_pool() {
    let meta = metadata();
    for (name, allowed) in GUARDED {
        let bad = forbidden_in(&meta, name, allowed);
        assert!(
            bad.is_empty(),
            "{name} links {bad:?}; see ARCHITECTURE.md invariants"
        );
    }
}

#[test]
fn the_check_itself_sees_heavy_dependencies() {
    // Guard against a vacuous pass: ward-ca does link tokio, rustls and
    // sqlx, so the same walk must report them for it.
    let meta = metadata();
    let bad = forbidden_in(&meta, "ward-ca", &[]);
    for heavy in ["tokio", "rustls", "sqlx", "hyper"] {
        assert!(
            bad.iter().any(|d| d == heavy),
            "closure walk is broken: {heavy} not found in ward-ca's graph {bad:?}"
        );
    }
    // And the allowance is narrow: ward-pki's ring is allowed, nothing else.
    assert!(forbidden_in(&meta, "ward-pki", &[]) == ["ring"]);
}

// ---------------------------------------------------------------------------
// No I/O, no clock: a path-level check of the sources.

/// Source trees that must do no I/O and read no clock.
const PURE_SOURCES: &[(&str, &str)] = &[
    ("ward-policy", "policy/src"),
    ("ward-authz", "authz/src"),
    ("ward-pki", "pki/src"),
];

/// Paths (after resolving `use` aliases) that mean I/O, a clock or a
/// runtime. A path is banned if it starts with one of these, segment by
/// segment; `*` is a glob import.
const BANNED_PATHS: &[&[&str]] = &[
    &["std", "fs"],
    &["std", "io"],
    &["std", "process"],
    &["std", "env"],
    &["std", "thread"],
    &["std", "os"],
    &["std", "net"],
    &["std", "time", "SystemTime"],
    &["std", "time", "Instant"],
    &["std", "time", "UNIX_EPOCH"],
    &["std", "time", "*"],
    &["std", "*"],
    &["tokio"],
];
/// Exceptions under `std::net`: address values, no sockets.
const ALLOWED_PATHS: &[&[&str]] = &[
    &["std", "net", "IpAddr"],
    &["std", "net", "Ipv4Addr"],
    &["std", "net", "Ipv6Addr"],
    &["std", "net", "AddrParseError"],
];
const BANNED_MACROS: &[&str] = &["println", "eprintln", "print", "eprint", "dbg"];

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    /// `::`
    Sep,
    Punct(char),
}

/// Rust source as tokens, without comments, string, byte and char
/// literals, lifetimes and numbers.
fn lex(src: &str) -> Vec<Tok> {
    let c: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let skip_string = |mut i: usize| -> usize {
        // c[i] is the opening quote.
        i += 1;
        while i < c.len() && c[i] != '"' {
            i += if c[i] == '\\' { 2 } else { 1 };
        }
        i + 1
    };
    while i < c.len() {
        let ch = c[i];
        if ch == '/' && c.get(i + 1) == Some(&'/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && c.get(i + 1) == Some(&'*') {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if ch == '"' {
            i = skip_string(i);
        } else if ch == '\'' {
            if c.get(i + 1) == Some(&'\\') {
                i += 2;
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if c.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                // A lifetime or label: skip the quote, the name follows.
                i += 1;
                while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                    i += 1;
                }
            }
        } else if ch.is_alphabetic() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            let word: String = c[start..i].iter().collect();
            let next = c.get(i).copied();
            if matches!(word.as_str(), "r" | "br") && matches!(next, Some('"' | '#')) {
                // Raw string r#"…"# (or a raw identifier r#name).
                let mut hashes = 0;
                while c.get(i) == Some(&'#') {
                    hashes += 1;
                    i += 1;
                }
                if c.get(i) == Some(&'"') {
                    i += 1;
                    loop {
                        if i >= c.len() {
                            break;
                        }
                        if c[i] == '"' && (1..=hashes).all(|k| c.get(i + k) == Some(&'#')) {
                            i += 1 + hashes;
                            break;
                        }
                        i += 1;
                    }
                }
                // A raw identifier's name is lexed next as an ordinary word.
            } else if word == "b" && next == Some('"') {
                i = skip_string(i);
            } else if word == "b" && next == Some('\'') {
                i += 1;
                if c.get(i + 1) == Some(&'\\') {
                    i += 2;
                }
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else {
                out.push(Tok::Ident(word));
            }
        } else if ch.is_ascii_digit() {
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_' || c[i] == '.') {
                if c[i] == '.' && c.get(i + 1) == Some(&'.') {
                    break;
                }
                i += 1;
            }
        } else if ch == ':' && c.get(i + 1) == Some(&':') {
            out.push(Tok::Sep);
            i += 2;
        } else {
            if !ch.is_whitespace() {
                out.push(Tok::Punct(ch));
            }
            i += 1;
        }
    }
    out
}

/// The tokens without `#[cfg(test)]` items (the attribute, any further
/// attributes, and the item up to its `;` or its closing brace).
fn strip_cfg_test(toks: Vec<Tok>) -> Vec<Tok> {
    let attr: Vec<Tok> = lex("#[cfg(test)]");
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        if toks[i..].starts_with(&attr) {
            i += attr.len();
            let mut depth = 0i32;
            while i < toks.len() {
                match &toks[i] {
                    Tok::Punct('{' | '(' | '[') => depth += 1,
                    Tok::Punct('}' | ')' | ']') => {
                        depth -= 1;
                        if depth == 0 && toks[i] == Tok::Punct('}') {
                            i += 1;
                            break;
                        }
                    }
                    Tok::Punct(';') if depth == 0 => {
                        i += 1;
                        break;
                    }
                    _ => {}
                }
                i += 1;
            }
        } else {
            out.push(toks[i].clone());
            i += 1;
        }
    }
    out
}

/// Parses one `use` tree at `toks[*i]` under `prefix`; pushes every full
/// path and every name it binds (`name → path`).
fn use_tree(
    toks: &[Tok],
    i: &mut usize,
    prefix: &[String],
    paths: &mut Vec<Vec<String>>,
    aliases: &mut HashMap<String, Vec<String>>,
) {
    let mut path = prefix.to_vec();
    if toks.get(*i) == Some(&Tok::Sep) {
        *i += 1;
    }
    loop {
        match toks.get(*i) {
            Some(Tok::Ident(seg)) => {
                if seg != "self" {
                    path.push(seg.clone());
                }
                *i += 1;
            }
            Some(Tok::Punct('*')) => {
                path.push("*".into());
                *i += 1;
                paths.push(path);
                return;
            }
            Some(Tok::Punct('{')) => {
                *i += 1;
                while *i < toks.len() && toks[*i] != Tok::Punct('}') {
                    use_tree(toks, i, &path, paths, aliases);
                    if toks.get(*i) == Some(&Tok::Punct(',')) {
                        *i += 1;
                    }
                }
                *i += 1;
                return;
            }
            _ => break,
        }
        if toks.get(*i) == Some(&Tok::Sep) {
            *i += 1;
        } else {
            break;
        }
    }
    let mut name = path.last().cloned();
    if toks.get(*i) == Some(&Tok::Ident("as".into())) {
        name = match toks.get(*i + 1) {
            Some(Tok::Ident(n)) => Some(n.clone()),
            _ => None, // `as _`
        };
        *i += 2;
    }
    if let Some(name) = name {
        aliases.insert(name, path.clone());
    }
    paths.push(path);
}

/// Every path a source file names outside `#[cfg(test)]` items, with
/// `use` aliases resolved, plus the macros it invokes (as `name!`).
fn named_paths(src: &str) -> Vec<String> {
    let toks = strip_cfg_test(lex(src));
    let mut paths: Vec<Vec<String>> = Vec::new();
    let mut aliases: HashMap<String, Vec<String>> = HashMap::new();
    let mut exprs: Vec<Vec<String>> = Vec::new();
    let mut macros = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        match &toks[i] {
            Tok::Ident(w) if w == "use" => {
                i += 1;
                use_tree(&toks, &mut i, &[], &mut paths, &mut aliases);
            }
            Tok::Ident(w) if w == "extern" => {
                // extern crate NAME [as ALIAS];
                i += 1;
                let mut j = i;
                if toks.get(j) == Some(&Tok::Ident("crate".into())) {
                    j += 1;
                    use_tree(&toks, &mut j, &[], &mut paths, &mut aliases);
                    i = j;
                }
            }
            Tok::Ident(_) | Tok::Sep => {
                let mut path = Vec::new();
                if toks[i] == Tok::Sep {
                    i += 1;
                }
                while let Some(Tok::Ident(seg)) = toks.get(i) {
                    path.push(seg.clone());
                    i += 1;
                    if toks.get(i) == Some(&Tok::Sep) {
                        i += 1;
                    } else {
                        break;
                    }
                }
                if path.len() == 1 && toks.get(i) == Some(&Tok::Punct('!')) {
                    macros.push(format!("{}!", path[0]));
                }
                if path.is_empty() {
                    i += 1;
                } else {
                    exprs.push(path);
                }
            }
            _ => i += 1,
        }
    }
    // Resolve aliases (repeatedly: `use std as s; use s::fs;`).
    let resolve = |mut p: Vec<String>| {
        for _ in 0..8 {
            match p.first().and_then(|h| aliases.get(h)) {
                Some(full) if full != &p[..1] => {
                    let mut q = full.clone();
                    q.extend(p.drain(1..));
                    p = q;
                }
                _ => break,
            }
        }
        p
    };
    let mut out: Vec<String> = paths
        .clone()
        .into_iter()
        .chain(exprs)
        .map(|p| resolve(p).join("::"))
        .collect();
    out.extend(macros);
    out
}

/// The banned names in `src`.
fn banned_in(src: &str) -> BTreeSet<String> {
    named_paths(src)
        .into_iter()
        .filter(|p| {
            if let Some(m) = p.strip_suffix('!') {
                return BANNED_MACROS.contains(&m);
            }
            let segs: Vec<&str> = p.split("::").collect();
            let starts = |prefix: &&[&str]| segs.starts_with(prefix);
            BANNED_PATHS.iter().any(starts) && !ALLOWED_PATHS.iter().any(starts)
        })
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn pure_crates_do_no_io_and_read_no_clock() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for (name, dir) in PURE_SOURCES {
        let mut files = Vec::new();
        rust_files(&root.join(dir), &mut files);
        assert!(files.len() >= 4, "{name}: found only {files:?}");
        for path in files {
            let bad = banned_in(&std::fs::read_to_string(&path).unwrap());
            assert!(
                bad.is_empty(),
                "{} names {bad:?}: {name} must stay pure (ARCHITECTURE.md)",
                path.display()
            );
        }
    }
}

#[test]
fn the_source_check_sees_every_spelling() {
    // (source, the banned names it must report)
    let cases: &[(&str, &[&str])] = &[
        ("use std::fs;", &["std::fs"]),
        ("use std::{env, fs};", &["std::env", "std::fs"]),
        ("use std::{\n    env,\n    fs::{self, File},\n};", &["std::env", "std::fs", "std::fs::File"]),
        ("use ::std::process::Command;", &["std::process::Command"]),
        ("use std::net::{IpAddr, TcpStream};", &["std::net::TcpStream"]),
        ("use std::net::*;", &["std::net::*"]),
        ("use std::*;", &["std::*"]),
        ("use std::time::{Duration, Instant};", &["std::time::Instant"]),
        ("fn f() -> u64 { std::time::SystemTime::now(); 0 }", &["std::time::SystemTime::now"]),
        ("use std::time; fn f() { time::Instant::now(); }", &["std::time::Instant::now"]),
        ("use std as s; fn f() { s::env::var(\"X\"); }", &["std::env::var"]),
        ("use std::fs as disk; fn f() { disk::read(\"x\"); }", &["std::fs", "std::fs::read"]),
        ("extern crate std as core2; fn f() { core2::fs::read(\"x\"); }", &["std::fs::read"]),
        ("fn f() { ::std::thread::spawn(|| ()); }", &["std::thread::spawn"]),
        ("fn f() { println!(\"x\"); }", &["println!"]),
        ("async fn f() { tokio::spawn(async {}); }", &["tokio::spawn"]),
        ("#[cfg(test)]\nmod tests { use std::fs; }\nuse std::env;", &["std::env"]),
        // Not banned: comments, strings, address types, Duration, test code.
        ("// std::fs::read\n/* use std::env; */ fn f() {}", &[]),
        ("const X: &str = \"std::fs\"; const Y: &str = r#\"std::env\"#;", &[]),
        ("use std::net::{IpAddr, Ipv4Addr}; use std::time::Duration;", &[]),
        ("#[cfg(test)]\nmod tests {\n    use std::{env, fs};\n    fn t() { println!(\"{}\", 'a'); }\n}", &[]),
        ("fn f<'a>(x: &'a str) -> &'a str { x }", &[]),
    ];
    for (src, want) in cases {
        let got = banned_in(src);
        let want: BTreeSet<String> = want.iter().map(|s| s.to_string()).collect();
        assert_eq!(got, want, "source: {src}");
    }
}
