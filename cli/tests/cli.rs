//! End-to-end tests of the real `ward` binary: `policy validate` and
//! `policy simulate` on files and stdin, with good, malformed, hostile,
//! oversized and boundary inputs. Every run is checked for a clean exit code
//! and for the absence of a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const WARD: &str = env!("CARGO_BIN_EXE_ward");

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("ward-cli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
    fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn ward(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(WARD)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        let mut si = child.stdin.take().unwrap();
        // The child may stop reading early (size cap): ignore broken pipes.
        let _ = si.write_all(input);
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "ward panicked: {stderr}");
    out
}

/// Runs ward and checks exit code and that stdout/stderr contain fragments.
#[track_caller]
fn check(
    args: &[&str],
    stdin: Option<&[u8]>,
    code: i32,
    stdout_has: &str,
    stderr_has: &str,
) -> Output {
    let out = ward(args, stdin);
    let (so, se) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(
        out.status.code(),
        Some(code),
        "ward {args:?}\nstdout: {so}\nstderr: {se}"
    );
    assert!(
        so.contains(stdout_has),
        "ward {args:?}: stdout lacks {stdout_has:?}:\n{so}"
    );
    assert!(
        se.contains(stderr_has),
        "ward {args:?}: stderr lacks {stderr_has:?}:\n{se}"
    );
    out
}

const GOOD: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"host:Login","Resource":"*"}}"#;

#[test]
fn validate_accepts_and_rejects() {
    let s = Scratch::new("validate");
    let example = repo().join("examples/ops-policy.json");
    check(
        &["policy", "validate", example.to_str().unwrap()],
        None,
        0,
        "valid managed policy, 1 statement",
        "",
    );
    check(
        &["policy", "validate", "-"],
        Some(GOOD.as_bytes()),
        0,
        "valid",
        "",
    );
    let bad = s.file("bad.json", br#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"login","Resource":"*"}]}"#);
    check(
        &["policy", "validate", bad.to_str().unwrap()],
        None,
        2,
        "",
        "$.Statement[0].Action: action \"login\" must be prefixed by a service",
    );
    // Kinds change the rules.
    let trust = s.file("trust.json", br#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Ward":"123456789012"},"Action":"sts:AssumeRole"}}"#);
    check(
        &["policy", "validate", trust.to_str().unwrap()],
        None,
        2,
        "",
        "Principal is not allowed in an identity policy",
    );
    check(
        &[
            "policy",
            "validate",
            "--kind",
            "trust",
            trust.to_str().unwrap(),
        ],
        None,
        0,
        "valid trust policy",
        "",
    );
    check(
        &[
            "policy",
            "validate",
            "--kind",
            "bogus",
            trust.to_str().unwrap(),
        ],
        None,
        2,
        "",
        "invalid value 'bogus'",
    );
    // Warnings go to stderr but the document is valid.
    let warn = s.file("warn.json", br#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"host:Logon","Resource":"*"}}"#);
    check(
        &["policy", "validate", warn.to_str().unwrap()],
        None,
        0,
        "valid",
        "warning: ",
    );
}

#[test]
fn validate_hostile_input() {
    let s = Scratch::new("hostile");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", b"".to_vec(), "malformed JSON"),
        ("garbage", b"This is not a json document".to_vec(), "malformed JSON"),
        ("non-utf8", b"{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"a:\xff\xfe\",\"Resource\":\"*\"}}".to_vec(), "malformed JSON"),
        ("latin1-outside-strings", b"\xef\xbb\xbf{}".to_vec(), "malformed JSON"),
        ("deep", format!("{}{}", "[".repeat(2_000), "]".repeat(2_000)).into_bytes(), "recursion limit"),
        ("deep-objects", "{\"a\":".repeat(1000).into_bytes(), "recursion limit"),
        ("huge", format!(r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"a:b","Resource":"{}"}}}}"#, "x".repeat(200_000)).into_bytes(), "larger than"),
        ("over-limit", format!(r#"{{"Version":"2012-10-17","Statement":[{}]}}"#, vec![r#"{"Effect":"Allow","Action":"host:Login","Resource":"*"}"#; 200].join(",")).into_bytes(), "the limit for a managed policy is 6144"),
        ("nul", b"\0".to_vec(), "malformed JSON"),
        ("dup-keys", br#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Effect":"Deny","Action":"a:b","Resource":"*"}}"#.to_vec(), "duplicate key"),
        ("number-version", br#"{"Version":2012,"Statement":{"Effect":"Allow","Action":"a:b","Resource":"*"}}"#.to_vec(), "$.Version"),
        ("huge-number", br#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"a:b","Resource":"*","Condition":{"NumericEquals":{"k":1e999999}}}}"#.to_vec(), "malformed JSON"),
    ];
    for (name, bytes, msg) in &cases {
        let f = s.file(name, bytes);
        check(
            &["policy", "validate", f.to_str().unwrap()],
            None,
            2,
            "",
            msg,
        );
        check(&["policy", "validate", "-"], Some(bytes), 2, "", msg);
    }
    check(
        &["policy", "validate", "/nonexistent/ward.json"],
        None,
        2,
        "",
        "No such file",
    );
    check(
        &["policy", "validate", s.0.to_str().unwrap()],
        None,
        2,
        "",
        "",
    );
}

/// The CLI classifies the whole moto corpus as the library does.
#[test]
fn validate_classifies_the_corpus() {
    let s = Scratch::new("corpus");
    let path = repo().join("policy/tests/data/policy-validation/moto-iam-policies.json");
    let corpus: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let text = |d: &serde_json::Value| match d {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    for (i, d) in corpus["valid"].as_array().unwrap().iter().enumerate() {
        let f = s.file(&format!("v{i}.json"), text(d).as_bytes());
        check(
            &["policy", "validate", f.to_str().unwrap()],
            None,
            0,
            "valid",
            "",
        );
    }
    for (i, c) in corpus["invalid"].as_array().unwrap().iter().enumerate() {
        let f = s.file(&format!("i{i}.json"), text(&c["document"]).as_bytes());
        check(
            &["policy", "validate", f.to_str().unwrap()],
            None,
            2,
            "",
            "$",
        );
    }
}

fn sim_json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).expect("simulate prints JSON")
}

#[test]
fn simulate_the_readme_example() {
    let example = repo().join("examples/ops-login.json");
    let out = check(
        &["policy", "simulate", "--input", example.to_str().unwrap()],
        None,
        0,
        "",
        "",
    );
    let v = sim_json(&out);
    assert_eq!(v["decision"], "Allowed");
    assert_eq!(
        v["explanation"]["matchedStatements"][0]["sid"],
        "OpsLoginProd"
    );
    let text = std::fs::read_to_string(&example)
        .unwrap()
        .replace(r#""deploy","#, r#""root","#);
    let out = check(
        &["policy", "simulate", "--input", "-"],
        Some(text.as_bytes()),
        0,
        "",
        "",
    );
    let v = sim_json(&out);
    assert_eq!(v["decision"], "ExplicitlyDenied");
    assert!(v["explanation"]["message"]
        .as_str()
        .unwrap()
        .contains("\"NoRootLogins\" of identityPolicies[1] explicitly denies"));
    let text = text
        .replace(r#""10.1.2.3""#, r#""192.0.2.1""#)
        .replace(r#""root","#, r#""deploy","#);
    let v = sim_json(&check(
        &["policy", "simulate", "--input", "-"],
        Some(text.as_bytes()),
        0,
        "",
        "",
    ));
    assert_eq!(v["decision"], "ImplicitlyDenied");
    assert_eq!(
        v["explanation"]["message"],
        "denied: no statement allows host:Login on arn:ward:host::123456789012:host/db-1 for principal alice; statement \"OpsLoginProd\" of identityPolicies[0] matches but its condition IpAddress on ward:SourceIp is false"
    );
    check(&["policy", "simulate", "--input", example.to_str().unwrap(), "--explain"], None, 0, "identityPolicies[1] statement #0 (NoRootLogins) [Deny]: condition StringEquals on host:Principal is false", "");
}

#[test]
fn simulate_uses_the_clock_unless_told() {
    let input = |ctx: &str| {
        format!(
            r#"{{"request":{{"action":"host:Login","resource":"arn:ward:host::123456789012:host/a","principal":"arn:ward:iam::123456789012:user/alice","context":{{{ctx}}}}},
            "identityPolicies":[{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"host:Login","Resource":"*","Condition":{{"DateGreaterThan":{{"aws:CurrentTime":"2020-01-01T00:00:00Z"}}}}}}}}]}}"#
        )
    };
    let v = sim_json(&check(
        &["policy", "simulate", "--input", "-"],
        Some(input("").as_bytes()),
        0,
        "",
        "",
    ));
    assert_eq!(v["decision"], "Allowed");
    let v = sim_json(&check(
        &["policy", "simulate", "--input", "-"],
        Some(input(r#""ward:CurrentTime":"2019-06-01T00:00:00Z""#).as_bytes()),
        0,
        "",
        "",
    ));
    assert_eq!(v["decision"], "ImplicitlyDenied");
}

#[test]
fn simulate_rejects_bad_input_with_paths() {
    let req = r#""request":{"action":"host:Login","resource":"arn:ward:host::123456789012:host/a","principal":"arn:ward:iam::123456789012:user/alice"}"#;
    let cases: Vec<(String, &str)> = vec![
        ("".into(), "malformed JSON"),
        ("[]".into(), "input must be an object"),
        ("{}".into(), "request is required"),
        (format!("{{{req},\"extra\":1}}"), "$.extra: unknown key"),
        (r#"{"request":{"action":"host:Login","principal":"arn:ward:iam::123456789012:user/alice"}}"#.into(), "request.resource is required"),
        (r#"{"request":{"action":"host:Login","resource":"x","principal":"alice"}}"#.into(), "$.request.principal: principal \"alice\" is not an ARN"),
        (r#"{"request":{"action":"Login","resource":"x","principal":"arn:ward:iam::123456789012:user/a"}}"#.into(), "$.request.action"),
        (r#"{"request":{"action":"host:Login","resource":"x","principal":"arn:ward:iam::123456789012:user/a","context":{"k":1}}}"#.into(), "$.request.context.k: context values must be strings"),
        (r#"{"request":{"action":"host:Login","resource":"x","principal":"arn:ward:iam::123456789012:user/a","context":{"k":[1]}}}"#.into(), "$.request.context.k[0]"),
        (r#"{"request":{"action":"host:Login","resource":"x","principal":"arn:ward:iam::123456789012:user/a","context":{"aws:SourceIp":"1.1.1.1","ward:sourceip":"2.2.2.2"}}}"#.into(), "given twice"),
        (format!(r#"{{{req},"identityPolicies":[{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"x","Resource":"*"}}}}]}}"#), "$.identityPolicies[0].Statement.Action: action \"x\""),
        (format!(r#"{{{req},"identityPolicies":{{}}}}"#), "$.identityPolicies: identityPolicies must be an array"),
        (format!(r#"{{{req},"identityPolicies":[7]}}"#), "$.identityPolicies[0]: a policy must be an object or a JSON string"),
        (format!(r#"{{{req},"sessionPolicy":"not json"}}"#), "$.sessionPolicy: malformed JSON"),
        (format!(r#"{{{req},"resourcePolicy":{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Principal":{{"Ward":"arn:ward:iam::123456789012:user/*"}},"Action":"a:b","Resource":"*"}}}}}}"#), "$.resourcePolicy.Statement.Principal"),
        (format!("{}{}", "[".repeat(50_000), "]".repeat(50_000)), "recursion limit"),
        (format!(r#"{{"request":{{"action":"{}"}}}}"#, "a".repeat(5 * 1024 * 1024)), "larger than"),
    ];
    for (input, msg) in &cases {
        check(
            &["policy", "simulate", "--input", "-"],
            Some(input.as_bytes()),
            2,
            "",
            msg,
        );
    }
    check(
        &["policy", "simulate", "--input", "-"],
        Some(b"{\"request\":\xff}"),
        2,
        "",
        "malformed JSON",
    );
    check(
        &["policy", "simulate", "--input", "/nonexistent"],
        None,
        2,
        "",
        "No such file",
    );
    check(&["policy", "simulate"], None, 2, "", "--input");
}

/// Policies may be passed as JSON strings, as AWS's APIs do.
#[test]
fn simulate_accepts_policies_as_strings() {
    let policy = serde_json::to_string(GOOD).unwrap();
    let input = format!(
        r#"{{"request":{{"action":"host:Login","resource":"arn:ward:host::123456789012:host/a","principal":"arn:ward:iam::123456789012:user/alice"}},"identityPolicies":[{policy}]}}"#
    );
    let v = sim_json(&check(
        &["policy", "simulate", "--input", "-"],
        Some(input.as_bytes()),
        0,
        "",
        "",
    ));
    assert_eq!(v["decision"], "Allowed");
}

/// A subcommand's help lists its own options first and the global ones
/// after, under their own heading (issue #8 item 9).
#[test]
fn help_shows_own_options_before_globals() {
    for (args, own) in [
        (&["audit", "list", "--help"][..], "--since"),
        (&["user", "create", "--help"][..], "--permissions-boundary"),
        (&["host", "certificate", "--help"][..], "--public-key"),
    ] {
        let out = check(args, None, 0, "Global options:", "");
        let text = String::from_utf8_lossy(&out.stdout);
        let own_at = text
            .find(own)
            .unwrap_or_else(|| panic!("{own} missing: {text}"));
        let globals = text.find("Global options:").unwrap();
        let profile = text.find("--profile").unwrap();
        assert!(own_at < globals && globals < profile, "{text}");
    }
}

/// ARNs are capped at AWS's 2,048 characters, in policy documents and in
/// the simulator's request, with an error naming the limit.
#[test]
fn resource_arns_are_capped_at_2048_characters() {
    let arn = |n: usize| format!("arn:ward:iam::123456789012:user/{}", "a".repeat(n - 32));
    assert_eq!(arn(2048).len(), 2048);
    let doc = |r: &str| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"iam:GetUser","Resource":"{r}"}}}}"#
        )
    };
    check(
        &["policy", "validate", "--kind", "inline-role", "-"],
        Some(doc(&arn(2048)).as_bytes()),
        0,
        "valid",
        "",
    );
    check(
        &["policy", "validate", "--kind", "inline-role", "-"],
        Some(doc(&arn(2049)).as_bytes()),
        2,
        "",
        "$.Statement.Resource: resource is 2049 characters; the limit is 2048",
    );
    let input = |r: &str| {
        format!(
            r#"{{"request":{{"action":"iam:GetUser","resource":"{r}","principal":"arn:ward:iam::123456789012:user/alice"}},"identityPolicies":[{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"iam:GetUser","Resource":"*"}}}}]}}"#
        )
    };
    let v = sim_json(&check(
        &["policy", "simulate", "--input", "-"],
        Some(input(&arn(2048)).as_bytes()),
        0,
        "",
        "",
    ));
    assert_eq!(v["decision"], "Allowed");
    check(
        &["policy", "simulate", "--input", "-"],
        Some(input(&arn(2049)).as_bytes()),
        2,
        "",
        "$.request.resource: resource is 2049 characters; the limit is 2048",
    );
}

/// `sts:GetCallerIdentity` is never denied in the offline simulator, even
/// by an explicit Deny of everything.
#[test]
fn simulate_never_denies_get_caller_identity() {
    let input = |action: &str| {
        format!(
            r#"{{"request":{{"action":"{action}","resource":"*","principal":"arn:ward:iam::123456789012:user/alice"}},"identityPolicies":[{{"Version":"2012-10-17","Statement":{{"Effect":"Deny","Action":"*","Resource":"*"}}}}]}}"#
        )
    };
    let v = sim_json(&check(
        &["policy", "simulate", "--input", "-"],
        Some(input("sts:GetCallerIdentity").as_bytes()),
        0,
        "",
        "",
    ));
    assert_eq!(v["decision"], "Allowed", "{v}");
    assert_eq!(v["explanation"]["reason"], "AlwaysAllowed", "{v}");
    // The Deny still shows as having applied, and any other action is denied.
    assert_eq!(
        v["explanation"]["matchedStatements"][0]["effect"], "Deny",
        "{v}"
    );
    let v = sim_json(&check(
        &["policy", "simulate", "--input", "-"],
        Some(input("sts:GetSessionToken").as_bytes()),
        0,
        "",
        "",
    ));
    assert_eq!(v["decision"], "ExplicitlyDenied", "{v}");
}

/// `ward policy validate` warns (exit 0: warnings are not errors) about a
/// condition on a key that none of the statement's actions ever supplies:
/// the way a Deny guard-rail silently never applies.
#[test]
fn validate_warns_about_condition_keys_never_supplied() {
    let never = r#"{"Version":"2012-10-17","Statement":[
      {"Sid":"NoAdminKeys","Effect":"Deny","Action":["iam:CreateAccessKey","iam:GetUser"],"Resource":"*",
       "Condition":{"ArnEquals":{"iam:PolicyARN":"arn:ward:iam::123456789012:policy/Admin"}}},
      {"Effect":"Deny","Action":"iam:CreateGroup","Resource":"*",
       "Condition":{"StringEquals":{"aws:ResourceTag/protected":"true"}}}]}"#;
    let out = check(
        &["policy", "validate", "-"],
        Some(never.as_bytes()),
        0,
        "valid managed policy, 2 statement(s)",
        "ward: warning: -: $.Statement[0].Condition.ArnEquals[\"iam:PolicyARN\"]: condition key \"iam:PolicyARN\" is never supplied by iam:CreateAccessKey, iam:GetUser",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("$.Statement[1].Condition.StringEquals[\"aws:ResourceTag/protected\"]: condition key \"aws:ResourceTag/protected\" is never supplied by iam:CreateGroup"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("warning:").count(), 2, "{stderr}");

    // Keys the actions do supply (any case, aws: or ward:, tag keys under
    // /*), global keys, wildcards, "*" and other services: no warning.
    let fine = r#"{"Version":"2012-10-17","Statement":[
      {"Effect":"Deny","Action":["iam:AttachUserPolicy","iam:CreateAccessKey"],"Resource":"*",
       "Condition":{"ArnEquals":{"IAM:policyArn":"arn:ward:iam::123456789012:policy/Admin"},
                    "StringEquals":{"aws:ResourceTag/protected":"true"},
                    "IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}},
      {"Effect":"Deny","Action":"iam:Tag*","Resource":"*","Condition":{"ForAnyValue:StringEquals":{"ward:TagKeys":"owner"}}},
      {"Effect":"Deny","Action":"*","Resource":"*","Condition":{"StringEquals":{"iam:PolicyARN":"x"}}},
      {"Effect":"Deny","NotAction":"iam:GetUser","Resource":"*","Condition":{"StringEquals":{"iam:PolicyARN":"x"}}},
      {"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"StringLike":{"s3:prefix":"home/*"}}},
      {"Effect":"Allow","Action":"host:Login","Resource":"*","Condition":{"StringEquals":{"host:Principal":"${ward:username}"}}}]}"#;
    let out = check(
        &["policy", "validate", "-"],
        Some(fine.as_bytes()),
        0,
        "valid managed policy, 6 statement(s)",
        "",
    );
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}
