//! Architecture invariants from ARCHITECTURE.md, checked mechanically.
//!
//! 1. The crates that run inside other processes or must stay pure — the
//!    agent protocol, the policy engine and the certificate code (ward-pki)
//!    — never link an async runtime, TLS, SQL or a thread pool. Checked on
//!    the real dependency graph from `cargo metadata`. A guarded crate that
//!    is not a workspace member fails the test (add new crates here when
//!    they land: `pam_ward`, `nss_ward`, `ward-authz`, `ward-agentlink`).
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
    ("ward-agentlink", &[]),
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

/// ward-gateway (issue #13) enrols, syncs and decides through ward-agent's
/// library and ward-authz, and is a host-side component: it links neither
/// ward-ca nor any server-side store or HTTP stack, nor a second crypto
/// provider for russh (ring, as the rest of the workspace).
#[test]
fn gateway_reuses_the_agent_and_links_nothing_server_side() {
    let meta = metadata();
    let id = member_id(&meta, "ward-gateway").expect("ward-gateway is a workspace member");
    let deps = normal_closure(&meta, id);
    for needed in ["ward-agent", "ward-authz", "russh"] {
        assert!(deps.contains(needed), "ward-gateway does not link {needed}");
    }
    for banned in [
        "ward-ca",
        "sqlx",
        "libsqlite3-sys",
        "axum",
        "hyper",
        "aws-lc-rs",
    ] {
        assert!(
            !deps.contains(banned),
            "ward-gateway links {banned}; see ARCHITECTURE.md (gateway/)"
        );
    }
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

// ---------------------------------------------------------------------------------
// ward-ca's layers (issue #9): http → service → state → store, no cycles
// ---------------------------------------------------------------------------------

/// ward-ca's top-level modules, highest layer first. A module may name only
/// modules after it in this list (and itself); `lib.rs` is the root and
/// `main.rs` a separate crate, so neither is a node.
const CA_LAYERS: &[&str] = &[
    "http", "service", "state", "store", "config", "crypto", "failures", "conn", "error", "clock",
];

/// One source file of ward-ca: its module path (`["store", "iam"]` for
/// `store/iam.rs`) and text.
struct CaFile {
    module: Vec<String>,
    src: String,
}

fn ca_files() -> Vec<CaFile> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ca/src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut out = Vec::new();
    for path in files {
        let rel = path.strip_prefix(&src).unwrap().with_extension("");
        let module: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if module == ["lib"] || module == ["main"] {
            continue;
        }
        out.push(CaFile {
            module,
            src: std::fs::read_to_string(&path).unwrap(),
        });
    }
    out
}

/// The modules (by path) that `file` names through `crate::…` or
/// `super::…` paths, in `use` trees (grouped or not) and in code, outside
/// `#[cfg(test)]` items. A path names the longest module in `modules` it
/// starts with.
fn crate_edges(file: &CaFile, modules: &BTreeSet<Vec<String>>) -> BTreeSet<Vec<String>> {
    let mut out = BTreeSet::new();
    for p in named_paths(&file.src) {
        let segs: Vec<&str> = p.split("::").collect();
        let abs: Vec<String> = match segs.first() {
            Some(&"crate") => segs[1..].iter().map(|s| s.to_string()).collect(),
            Some(&"super") => {
                let mut base = file.module.clone();
                let mut rest = &segs[..];
                while rest.first() == Some(&"super") {
                    base.pop();
                    rest = &rest[1..];
                }
                base.extend(rest.iter().map(|s| s.to_string()));
                base
            }
            _ => continue,
        };
        if let Some(n) = (1..=abs.len())
            .rev()
            .map(|n| abs[..n].to_vec())
            .find(|m| modules.contains(m))
        {
            if n != file.module {
                out.insert(n);
            }
        }
    }
    out
}

/// A cycle in `graph`, if there is one (as the list of its nodes).
fn find_cycle<N: Ord + Clone>(
    graph: &std::collections::BTreeMap<N, BTreeSet<N>>,
) -> Option<Vec<N>> {
    // Depth-first search with colours: 1 on the stack, 2 done.
    fn visit<N: Ord + Clone>(
        n: &N,
        graph: &std::collections::BTreeMap<N, BTreeSet<N>>,
        colour: &mut std::collections::BTreeMap<N, u8>,
        stack: &mut Vec<N>,
    ) -> Option<Vec<N>> {
        colour.insert(n.clone(), 1);
        stack.push(n.clone());
        for m in graph.get(n).into_iter().flatten() {
            match colour.get(m) {
                Some(1) => {
                    let at = stack.iter().position(|s| s == m).unwrap_or(0);
                    let mut cycle = stack[at..].to_vec();
                    cycle.push(m.clone());
                    return Some(cycle);
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(m, graph, colour, stack) {
                        return Some(c);
                    }
                }
            }
        }
        stack.pop();
        colour.insert(n.clone(), 2);
        None
    }
    let mut colour = std::collections::BTreeMap::new();
    for n in graph.keys() {
        if !colour.contains_key(n) {
            if let Some(c) = visit(n, graph, &mut colour, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

/// Every layering fault in `files`: a cycle between top-level modules, a
/// cycle between the files of one layer, a module naming a layer above it
/// or one missing from [`CA_LAYERS`], `sqlx` named outside `store`, and a
/// `Grant` made outside `service::authz`.
fn ca_layer_faults(files: &[CaFile]) -> Vec<String> {
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| f.module.clone()).collect();
    let mut faults = Vec::new();
    let mut top: std::collections::BTreeMap<String, BTreeSet<String>> = Default::default();
    let mut inner: std::collections::BTreeMap<Vec<String>, BTreeSet<Vec<String>>> =
        Default::default();
    for f in files {
        let from = f.module[0].clone();
        let rank = CA_LAYERS.iter().position(|l| *l == from);
        if rank.is_none() {
            faults.push(format!("{from}: not a known layer (add it to CA_LAYERS)"));
        }
        let edges = crate_edges(f, &modules);
        for to in &edges {
            if to[0] != from {
                top.entry(from.clone()).or_default().insert(to[0].clone());
                let to_rank = CA_LAYERS.iter().position(|l| *l == to[0]);
                if let (Some(a), Some(b)) = (rank, to_rank) {
                    if b < a {
                        faults.push(format!(
                            "{} names crate::{} (a layer above it)",
                            f.module.join("::"),
                            to.join("::")
                        ));
                    }
                }
            } else {
                inner
                    .entry(f.module.clone())
                    .or_default()
                    .insert(to.clone());
            }
        }
        let paths = named_paths(&f.src);
        if from != "store" && paths.iter().any(|p| p == "sqlx" || p.starts_with("sqlx::")) {
            faults.push(format!(
                "{} names sqlx (only store/ may)",
                f.module.join("::")
            ));
        }
        if f.module != ["service", "authz"]
            && paths
                .iter()
                .any(|p| p == "Grant::new" || p.ends_with("::Grant::new"))
        {
            faults.push(format!(
                "{} makes a Grant (only service::authz may)",
                f.module.join("::")
            ));
        }
    }
    if let Some(c) = find_cycle(&top) {
        faults.push(format!("module cycle: {}", c.join(" → ")));
    }
    // Files inside one layer: a folder's root file (`store.rs`) and its
    // children are one node, so a child may use what its parent declares.
    let mut files_graph: std::collections::BTreeMap<Vec<String>, BTreeSet<Vec<String>>> =
        Default::default();
    for (from, tos) in inner {
        for to in tos {
            if from.len() > 1 && to.len() > 1 {
                files_graph.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    if let Some(c) = find_cycle(&files_graph) {
        let names: Vec<String> = c.iter().map(|m| m.join("::")).collect();
        faults.push(format!("file cycle inside a layer: {}", names.join(" → ")));
    }
    faults
}

#[test]
fn ca_layers_point_one_way() {
    let files = ca_files();
    // The folders exist (the check is not vacuous).
    for layer in ["http", "service", "store"] {
        assert!(
            files
                .iter()
                .any(|f| f.module.len() > 1 && f.module[0] == layer),
            "ca/src/{layer}/ has no files"
        );
    }
    let faults = ca_layer_faults(&files);
    assert!(
        faults.is_empty(),
        "ward-ca layering faults:\n{}",
        faults.join("\n")
    );
}

#[test]
fn the_layer_check_finds_cycles_upward_names_and_stray_sql() {
    let file = |m: &str, src: &str| CaFile {
        module: m.split("::").map(str::to_owned).collect(),
        src: src.to_owned(),
    };
    let check = |files: Vec<CaFile>, want: &[&str]| {
        let got = ca_layer_faults(&files);
        for w in want {
            assert!(
                got.iter().any(|g| g.contains(w)),
                "wanted a fault containing {w:?}, got {got:?}"
            );
        }
        if want.is_empty() {
            assert!(got.is_empty(), "wanted no faults, got {got:?}");
        }
    };
    // The shape of today's fault: store imports Grant from service.
    check(
        vec![
            file("store", "use crate::service::authz::Grant;"),
            file("service::authz", "use crate::store::Store;"),
        ],
        &["store names crate::service::authz", "module cycle"],
    );
    // Grouped use trees, nested groups and paths in code are seen.
    check(
        vec![
            file("store::iam", "use crate::{error::ApiError, http::{auth}};"),
            file("http::auth", "fn f() {}"),
            file("error", ""),
        ],
        &["store::iam names crate::http::auth"],
    );
    check(
        vec![
            file(
                "service::iam",
                "fn f() { let _ = crate::http::router::router; }",
            ),
            file("http::router", "use crate::service::iam;"),
        ],
        &[
            "service::iam names crate::http::router",
            "module cycle: http → service → http",
        ],
    );
    // Aliases resolve: `use crate::service as s; s::iam::x()`.
    check(
        vec![
            file("store", "use crate::service as s; fn f() { s::iam::x(); }"),
            file("service::iam", ""),
        ],
        &["store names crate::service::iam"],
    );
    // A cycle between two files of one layer.
    check(
        vec![
            file("service::a", "use crate::service::b::x;"),
            file("service::b", "use super::a::y;"),
        ],
        &["file cycle inside a layer: service::a → service::b → service::a"],
    );
    // sqlx outside store, spelled directly or through an alias; Grant::new.
    check(
        vec![file("service::hosts", "use sqlx::Row;")],
        &["service::hosts names sqlx"],
    );
    check(
        vec![file(
            "http::auth",
            "use sqlx as db; fn f() { db::query(\"x\"); }",
        )],
        &["http::auth names sqlx"],
    );
    check(
        vec![file(
            "service::iam",
            "use crate::store::Grant; fn f() { Grant::new(\"a\", \"b\"); }",
        )],
        &["service::iam makes a Grant"],
    );
    // An unknown top-level module is a fault, not a silent pass.
    check(vec![file("api", "")], &["api: not a known layer"]);
    // Downward names, comments, strings and test code are fine.
    check(
        vec![
            file(
                "http::router",
                "use crate::service::iam; use crate::store::Store;",
            ),
            file(
                "service::iam",
                "// crate::http::router\nconst X: &str = \"crate::http\";",
            ),
            file(
                "store",
                "#[cfg(test)]\nmod tests { use crate::service::iam; }\nuse sqlx::Row;",
            ),
        ],
        &[],
    );
}
