//! The PAM stacks shipped in `packaging/pam/` cannot let a ward denial
//! fall through. Every file there is parsed (the explicit `pam.d/` stacks
//! and the `pam-auth-update` profile) and checked:
//!
//! - no control field anywhere says `default=ignore` (the pattern that
//!   turned a denial into "ignore" in another module of this kind);
//! - every stack has a pam_ward `auth` and `account` line, and the
//!   profile has both sections;
//! - each pam_ward `auth`/`account`/`password` line is terminal on a
//!   denial: `requisite`, or brackets whose `default` is `die` or `bad`
//!   and in which no failure code is sent anywhere but `die`/`bad`
//!   (only `success`, `new_authtok_reqd`, `user_unknown` and `ignore`
//!   may have other actions);
//! - no earlier line of the same type can jump over the pam_ward line
//!   (`sufficient`, `done`, a jump reaching past it, or an include whose
//!   content this test cannot see).
//!
//! The checker proves itself first on stacks written to be wrong.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

/// One stack line: type, control, module.
#[derive(Debug, Clone)]
struct Line {
    kind: String,
    control: String,
    module: String,
    at: String,
}

/// Codes that may have a non-failing action on a pam_ward line.
const MAY_PASS: &[&str] = &["success", "new_authtok_reqd", "user_unknown", "ignore"];

fn is_ward(l: &Line) -> bool {
    Path::new(&l.module).file_name().and_then(|f| f.to_str()) == Some("pam_ward.so")
}

/// Splits a stack line; a bracketed control may contain spaces.
fn split(line: &str) -> Option<(String, String, String)> {
    let line = line.trim();
    let (kind, rest) = line.split_once(char::is_whitespace)?;
    let rest = rest.trim_start();
    let (control, rest) = if rest.starts_with('[') {
        let end = rest.find(']')?;
        (rest[..=end].to_owned(), rest[end + 1..].trim_start())
    } else {
        let (c, r) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        (c.to_owned(), r.trim_start())
    };
    let module = rest.split_whitespace().next().unwrap_or("").to_owned();
    Some((kind.trim_start_matches('-').to_owned(), control, module))
}

/// A `pam.d` file.
fn parse_stack(name: &str, text: &str) -> Vec<Line> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if line.starts_with('@') {
            // `@include FILE`: applies to every type.
            for kind in ["auth", "account", "password", "session"] {
                out.push(Line {
                    kind: kind.into(),
                    control: "include".into(),
                    module: line.to_owned(),
                    at: format!("{name}:{}", i + 1),
                });
            }
            continue;
        }
        let Some((kind, control, module)) = split(line) else {
            out.push(Line {
                kind: "?".into(),
                control: line.into(),
                module: String::new(),
                at: format!("{name}:{}", i + 1),
            });
            continue;
        };
        out.push(Line {
            kind,
            control,
            module,
            at: format!("{name}:{}", i + 1),
        });
    }
    out
}

/// A `pam-auth-update` profile: the lines of its `Auth:`, `Account:`,
/// `Password:`, `Session:` sections (and their `-Initial` forms), each
/// section a stack of its own.
fn parse_profile(name: &str, text: &str) -> Vec<Vec<Line>> {
    let mut sections: Vec<Vec<Line>> = Vec::new();
    let mut kind: Option<String> = None;
    for (i, raw) in text.lines().enumerate() {
        if raw.starts_with(char::is_whitespace) {
            let Some(k) = &kind else { continue };
            let line = format!("{k} {}", raw.trim());
            if let Some((kind, control, module)) = split(&line) {
                sections.last_mut().unwrap().push(Line {
                    kind,
                    control,
                    module,
                    at: format!("{name}:{}", i + 1),
                });
            }
            continue;
        }
        kind = match raw.split(':').next().unwrap_or("") {
            "Auth" | "Auth-Initial" => Some("auth".into()),
            "Account" | "Account-Initial" => Some("account".into()),
            "Password" | "Password-Initial" => Some("password".into()),
            "Session" | "Session-Initial" => Some("session".into()),
            _ => None,
        };
        if kind.is_some() {
            sections.push(Vec::new());
        }
    }
    sections
}

/// The `key=action` pairs of a bracketed control.
fn actions(control: &str) -> Option<Vec<(String, String)>> {
    let inner = control.strip_prefix('[')?.strip_suffix(']')?;
    Some(
        inner
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
    )
}

/// Faults of one ward line.
fn ward_line_faults(l: &Line) -> Vec<String> {
    let mut f = Vec::new();
    match l.control.as_str() {
        "requisite" => {}
        c if c.starts_with('[') => {
            let acts = actions(c).unwrap_or_default();
            match acts.iter().find(|(k, _)| k == "default") {
                Some((_, v)) if v == "die" || v == "bad" => {}
                Some((_, v)) => f.push(format!(
                    "{}: pam_ward {} line has default={v}: a denial is not terminal",
                    l.at, l.kind
                )),
                None => f.push(format!(
                    "{}: pam_ward {} line has no default (libpam's is ignore)",
                    l.at, l.kind
                )),
            }
            for (k, v) in &acts {
                if k != "default" && !MAY_PASS.contains(&k.as_str()) && v != "die" && v != "bad" {
                    f.push(format!(
                        "{}: pam_ward {} line sends {k} to {v}: a denial is not terminal",
                        l.at, l.kind
                    ));
                }
            }
        }
        other => f.push(format!(
            "{}: pam_ward {} line is {other}: a denial is not terminal",
            l.at, l.kind
        )),
    }
    f
}

/// Can line `i` (before the ward line at `w`) skip it?
fn skips(lines: &[Line], i: usize, w: usize) -> Option<String> {
    let l = &lines[i];
    match l.control.as_str() {
        "sufficient" => return Some("sufficient".into()),
        "include" | "substack" => return Some(format!("{} (not checked here)", l.control)),
        c if c.starts_with('[') => {
            for (k, v) in actions(c).unwrap_or_default() {
                if v == "done" {
                    return Some(format!("{k}=done"));
                }
                if let Ok(n) = v.parse::<usize>() {
                    // Jumps count lines of the same type.
                    let same: Vec<usize> = (0..lines.len())
                        .filter(|&j| lines[j].kind == l.kind)
                        .collect();
                    let me = same.iter().position(|&j| j == i).unwrap();
                    let ward = same.iter().position(|&j| j == w).unwrap();
                    if me + n >= ward {
                        return Some(format!("{k}={n} jumps over it"));
                    }
                }
            }
        }
        _ => {}
    }
    None
}

/// Every fault of one stack (`needs`: the types that must have a pam_ward
/// line).
fn stack_faults(lines: &[Line], needs: &[&str]) -> Vec<String> {
    let mut f = Vec::new();
    for l in lines {
        if l.kind == "?" {
            f.push(format!("{}: cannot parse {:?}", l.at, l.control));
        }
        if l.control.contains("default=ignore") {
            f.push(format!("{}: default=ignore", l.at));
        }
    }
    for kind in needs {
        if !lines.iter().any(|l| &l.kind == kind && is_ward(l)) {
            f.push(format!("no pam_ward {kind} line"));
        }
    }
    // A stack that needs a session line decides there (sudo's host:Sudo
    // to the target user): that line must be terminal and unskippable
    // too.
    let decides =
        |kind: &str| kind == "account" || (kind == "session" && needs.contains(&"session"));
    for (w, l) in lines.iter().enumerate() {
        if !is_ward(l)
            || !(["auth", "account", "password"].contains(&l.kind.as_str()) || decides(&l.kind))
        {
            continue;
        }
        f.extend(ward_line_faults(l));
        // auth may start with pam_rootok (root needs no password); the
        // account check, which decides, may not be skipped by anything.
        if decides(&l.kind) {
            for i in 0..w {
                if lines[i].kind == l.kind {
                    if let Some(why) = skips(lines, i, w) {
                        f.push(format!(
                            "{}: can skip the pam_ward {} line at {} ({why})",
                            lines[i].at, l.kind, l.at
                        ));
                    }
                }
            }
        }
    }
    f
}

fn packaging() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/pam")
}

#[test]
fn the_checker_finds_stacks_that_let_a_denial_through() {
    let good = "auth [success=done user_unknown=ignore ignore=ignore default=die] pam_ward.so\n\
                auth required pam_unix.so try_first_pass\n\
                account [success=1 new_authtok_reqd=done user_unknown=ignore ignore=ignore default=die] pam_ward.so\n\
                account required pam_unix.so\n\
                account required pam_permit.so\n";
    assert_eq!(
        stack_faults(&parse_stack("good", good), &["auth", "account"]),
        Vec::<String>::new()
    );
    let cases: &[(&str, &str)] = &[
        (
            "auth required pam_ward.so\naccount [success=ok default=ignore] pam_ward.so\n",
            "default=ignore",
        ),
        (
            "auth requisite pam_ward.so\naccount [success=ok perm_denied=ignore default=die] pam_ward.so\n",
            "sends perm_denied to ignore",
        ),
        (
            "auth requisite pam_ward.so\naccount [success=ok authinfo_unavail=ok default=bad] /lib/security/pam_ward.so\n",
            "sends authinfo_unavail to ok",
        ),
        (
            "auth requisite pam_ward.so\naccount [success=ok] pam_ward.so\n",
            "has no default",
        ),
        (
            "auth requisite pam_ward.so\naccount optional pam_ward.so\n",
            "line is optional",
        ),
        (
            "auth requisite pam_ward.so\naccount sufficient pam_ward.so\n",
            "line is sufficient",
        ),
        (
            "auth requisite pam_ward.so\naccount sufficient pam_permit.so\naccount requisite pam_ward.so\n",
            "(sufficient)",
        ),
        (
            "auth requisite pam_ward.so\naccount [success=1 default=die] pam_unix.so\naccount requisite pam_ward.so\n",
            "success=1 jumps over it",
        ),
        (
            "auth requisite pam_ward.so\naccount [success=done default=die] pam_localuser.so\naccount requisite pam_ward.so\n",
            "success=done",
        ),
        (
            "auth requisite pam_ward.so\n@include common-account\naccount requisite pam_ward.so\n",
            "include (not checked here)",
        ),
        ("auth requisite pam_ward.so\naccount required pam_unix.so\n", "no pam_ward account line"),
        ("account requisite pam_ward.so\n", "no pam_ward auth line"),
    ];
    // sudo stacks: the session line decides and must be terminal.
    let sudo_cases: &[(&str, &str)] = &[
        (
            "auth requisite pam_ward.so\naccount requisite pam_ward.so\nsession optional pam_ward.so\n",
            "line is optional",
        ),
        (
            "auth requisite pam_ward.so\naccount requisite pam_ward.so\nsession required pam_unix.so\n",
            "no pam_ward session line",
        ),
        (
            "auth requisite pam_ward.so\naccount requisite pam_ward.so\nsession sufficient pam_permit.so\nsession requisite pam_ward.so\n",
            "can skip the pam_ward session line",
        ),
    ];
    for (text, expect) in sudo_cases {
        let faults = stack_faults(&parse_stack("bad", text), &["auth", "account", "session"]);
        assert!(
            faults.iter().any(|f| f.contains(expect)),
            "expected {expect:?} for\n{text}got {faults:?}"
        );
    }
    for (text, expect) in cases {
        let faults = stack_faults(&parse_stack("bad", text), &["auth", "account"]);
        assert!(
            faults.iter().any(|f| f.contains(expect)),
            "expected {expect:?} for\n{text}got {faults:?}"
        );
    }
    // A jump that lands before the ward line is fine.
    let ok = "auth requisite pam_ward.so\naccount [success=1 default=die] pam_a.so\naccount required pam_b.so\naccount required pam_c.so\naccount requisite pam_ward.so\n";
    assert_eq!(
        stack_faults(&parse_stack("ok", ok), &["auth", "account"]),
        Vec::<String>::new()
    );
    // The profile parser sees the sections' lines.
    let bad_profile =
        "Name: x\nAccount-Type: Primary\nAccount:\n\t[success=end default=ignore]\tpam_ward.so\n";
    let sections = parse_profile("p", bad_profile);
    assert_eq!(sections.len(), 1);
    assert!(stack_faults(&sections[0], &["account"])
        .iter()
        .any(|f| f.contains("default=ignore")));
}

#[test]
fn the_shipped_stacks_make_a_ward_denial_terminal() {
    let dir = packaging().join("pam.d");
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&p).unwrap();
        // sudo decides host:Sudo to the target at the session.
        let needs: &[&str] = if name.starts_with("sudo") {
            &["auth", "account", "session"]
        } else {
            &["auth", "account"]
        };
        let faults = stack_faults(&parse_stack(&name, &text), needs);
        assert!(faults.is_empty(), "{name}: {faults:#?}");
        seen.push(name);
    }
    seen.sort();
    assert_eq!(seen, ["login", "sshd", "su", "sudo", "sudo-i"]);
}

#[test]
fn the_pam_auth_update_profile_makes_a_ward_denial_terminal() {
    let p = packaging().join("pam-configs/ward");
    let text = std::fs::read_to_string(&p).unwrap();
    let sections = parse_profile("pam-configs/ward", &text);
    assert!(!sections.is_empty());
    let mut kinds = Vec::new();
    for s in &sections {
        assert!(!s.is_empty(), "an empty section in {}", p.display());
        let kind = s[0].kind.clone();
        let faults = stack_faults(s, &[kind.as_str()]);
        assert!(faults.is_empty(), "{faults:#?}");
        kinds.push(kind);
    }
    for k in ["auth", "account", "password", "session"] {
        assert!(kinds.iter().any(|x| x == k), "no {k} section");
    }
}
