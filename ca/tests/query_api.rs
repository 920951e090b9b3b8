//! The AWS IAM and STS Query API (issue #16) against the real daemon with
//! real clients: boto3 (`tests/query/boto_suite.py`: every action's
//! success path, its error codes as boto3 raises them, paginators, the
//! `user_exists` waiter), the `aws` CLI compared field by field with the
//! JSON API's view of the same entities, and bad input sent by curl
//! (malformed bodies, unknown actions, wrong `Version`, oversized and
//! duplicate parameters, mismatched SigV4 scopes) — each an AWS-shaped 4xx.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::process::{Command, Stdio};

use common::{user_with_policy, Creds, Db, Server};
use serde_json::Value;

const BOTO_SUITE: &str = include_str!("../../tests/query/boto_suite.py");

/// Installs a PyPI package for `python3` if its module is missing
/// (idempotent; `scripts/test` installs them up front).
fn ensure_python(module: &str, package: &str) {
    let has = || {
        Command::new("python3")
            .args(["-c", &format!("import {module}")])
            .status()
            .is_ok_and(|s| s.success())
    };
    if has() {
        return;
    }
    for extra in [&[][..], &["--break-system-packages"][..]] {
        let ok = Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", package])
            .args(extra)
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            break;
        }
    }
    assert!(
        has(),
        "{package} is needed (python3 -m pip install {package})"
    );
}

/// The `aws` CLI's command line (`python3 -m awscli`: the pip install).
fn ensure_aws_cli() {
    ensure_python("awscli", "awscli");
}

fn ssh_public_key(s: &Server) -> String {
    let key = s.dir.join("boto_ssh_key");
    let _ = std::fs::remove_file(&key);
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "boto", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::read_to_string(key.with_extension("pub"))
        .unwrap()
        .trim()
        .to_owned()
}

fn boto_suite(db: Db) {
    ensure_python("boto3", "boto3");
    let Some(s) = Server::start(db) else {
        return;
    };
    let root = s.root();
    let script = s.dir.join("boto_suite.py");
    std::fs::write(&script, BOTO_SUITE).unwrap();
    let out = Command::new("python3")
        .arg(&script)
        .env("WARD_ENDPOINT", &s.endpoint)
        .env("WARD_CA_BUNDLE", &s.bundle)
        .env("ROOT_KEY", &root.id)
        .env("ROOT_SECRET", &root.secret)
        .env("WARD_ACCOUNT", &s.account)
        .env("WARD_REGION", "local")
        .env("SSH_PUBLIC_KEY", ssh_public_key(&s))
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_CONFIG_FILE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "boto3 suite failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let facts: Value = serde_json::from_slice(&out.stdout).unwrap();
    // boto3's view of alice is the JSON API's.
    let alice = s.call(&root, "GET", "/v1/users/alice", None);
    let alice = alice.ok();
    assert_eq!(facts["alice"]["UserId"], alice["userId"]);
    assert_eq!(facts["alice"]["Arn"], alice["arn"]);
    assert_eq!(facts["alice"]["Path"], alice["path"]);
    let created = alice["created"]
        .as_str()
        .unwrap()
        .replace('T', " ")
        .replace('Z', "+00:00");
    assert_eq!(facts["alice"]["CreateDate"], created.as_str());
    assert!(facts["list_users_pages"].as_u64().unwrap() >= 4);
    let keys = s.call(&root, "GET", "/v1/users/alice/access-keys", None);
    assert_eq!(
        keys.ok()["accessKeys"][0]["accessKeyId"],
        facts["alice_key"]
    );
    // One audit log: the Query API's mutations are the handlers' events.
    let ev = s.call(&root, "GET", "/v1/audit/events?limit=1000", None);
    let events = ev.ok()["events"].as_array().unwrap().clone();
    for action in [
        "iam:CreateUser",
        "iam:AttachUserPolicy",
        "iam:CreateRole",
        "sts:AssumeRole",
    ] {
        assert!(
            events.iter().any(|e| e["action"] == action),
            "no {action} in the audit log"
        );
    }
    assert_eq!(s.count_5xx(), 0);
}

#[test]
fn boto3_manages_ward_sqlite() {
    boto_suite(Db::Sqlite);
}

#[test]
fn boto3_manages_ward_postgres() {
    boto_suite(Db::Postgres);
}

/// A Query API call signed by curl for `region`/`service`, with a form
/// body; the status and the XML body.
fn query(s: &Server, creds: &Creds, scope: &str, body: &[u8]) -> (u16, String) {
    query_with(
        s,
        creds,
        scope,
        "POST",
        "/",
        body,
        "application/x-www-form-urlencoded",
    )
}

fn query_with(
    s: &Server,
    creds: &Creds,
    scope: &str,
    method: &str,
    path: &str,
    body: &[u8],
    content_type: &str,
) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--cacert"])
        .arg(&s.bundle)
        .args(["-X", method, "--aws-sigv4", &format!("aws:amz:{scope}")])
        .args(["--user", &format!("{}:{}", creds.id, creds.secret)])
        .args(["-H", &format!("content-type: {content_type}")])
        .args(["-w", "\n%{http_code}"]);
    if !body.is_empty() {
        cmd.args(["--data-binary", "@-"]);
    }
    let mut child = cmd
        .arg(format!("{}{path}", s.endpoint))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut si = child.stdin.take().unwrap();
        let _ = si.write_all(body);
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (b, code) = text.rsplit_once('\n').unwrap();
    let status: u16 = code.trim().parse().unwrap();
    assert!(status < 500, "a 5xx ({status}): {b}");
    (status, b.to_owned())
}

/// The text of `<tag>` in an XML reply.
fn xml_text<'a>(xml: &'a str, tag: &str) -> &'a str {
    let open = format!("<{tag}>");
    let start = xml
        .find(&open)
        .unwrap_or_else(|| panic!("no <{tag}> in {xml}"))
        + open.len();
    let end = xml[start..].find(&format!("</{tag}>")).unwrap() + start;
    &xml[start..end]
}

/// An AWS error document with `code` and `status`.
fn aws_error(r: &(u16, String), status: u16, code: &str) {
    assert_eq!(r.0, status, "{}", r.1);
    assert!(r.1.contains("<ErrorResponse>"), "{}", r.1);
    assert_eq!(xml_text(&r.1, "Code"), code, "{}", r.1);
    assert_eq!(xml_text(&r.1, "Type"), "Sender", "{}", r.1);
    assert!(!xml_text(&r.1, "RequestId").is_empty());
}

const IAM: &str = "us-east-1:iam";
const V: &str = "Version=2010-05-08";

#[test]
fn protocol_and_bad_input() {
    let Some(s) = Server::start(Db::Sqlite) else {
        return;
    };
    let root = s.root();
    // Success in AWS's shape.
    let r = query(
        &s,
        &root,
        IAM,
        format!("Action=CreateUser&{V}&UserName=bob&Tags.member.1.Key=a&Tags.member.1.Value=b")
            .as_bytes(),
    );
    assert_eq!(r.0, 200, "{}", r.1);
    assert!(
        r.1.contains(
            "<CreateUserResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><CreateUserResult><User>"
        ),
        "{}",
        r.1
    );
    assert_eq!(xml_text(&r.1, "UserName"), "bob");
    assert!(xml_text(&r.1, "RequestId").len() == 36);
    let created = xml_text(&r.1, "CreateDate");
    assert!(created.len() == 20 && created.ends_with('Z'), "{created}");
    // The configured region also signs IAM; GET with a header signature.
    let r = query_with(
        &s,
        &root,
        "local:iam",
        "GET",
        &format!("/?Action=GetUser&UserName=bob&{V}"),
        b"",
        "application/x-www-form-urlencoded",
    );
    assert_eq!(r.0, 200, "{}", r.1);
    assert_eq!(xml_text(&r.1, "UserName"), "bob");
    // STS with the configured region.
    let r = query(
        &s,
        &root,
        "local:sts",
        b"Action=GetCallerIdentity&Version=2011-06-15",
    );
    assert_eq!(r.0, 200, "{}", r.1);
    assert_eq!(xml_text(&r.1, "Account"), s.account);

    // Unknown action, wrong or missing Version.
    aws_error(
        &query(
            &s,
            &root,
            IAM,
            format!("Action=CreateBucket&{V}").as_bytes(),
        ),
        400,
        "InvalidAction",
    );
    aws_error(
        &query(&s, &root, IAM, b"Action=ListUsers&Version=2011-06-15"),
        400,
        "InvalidAction",
    );
    aws_error(
        &query(&s, &root, IAM, b"Action=ListUsers"),
        400,
        "MissingParameter",
    );
    aws_error(&query(&s, &root, IAM, V.as_bytes()), 400, "MissingAction");
    // Duplicate, unknown, oversized parameters; bodies that are not forms.
    let dup = query(
        &s,
        &root,
        IAM,
        format!("Action=GetUser&{V}&UserName=bob&UserName=eve").as_bytes(),
    );
    aws_error(&dup, 400, "ValidationError");
    assert!(
        xml_text(&dup.1, "Message").contains("UserName"),
        "{}",
        dup.1
    );
    let unknown = query(
        &s,
        &root,
        IAM,
        format!("Action=ListUsers&{V}&Bogus=1").as_bytes(),
    );
    aws_error(&unknown, 400, "ValidationError");
    assert!(xml_text(&unknown.1, "Message").contains("Bogus"));
    let big = format!("Action=CreateUser&{V}&UserName={}", "x".repeat(140_000));
    aws_error(
        &query(&s, &root, IAM, big.as_bytes()),
        400,
        "ValidationError",
    );
    let huge = format!("Action=CreateUser&{V}&UserName={}", "x".repeat(300_000));
    let r = query(&s, &root, IAM, huge.as_bytes());
    assert_eq!(r.0, 413, "{}", r.1);
    assert_eq!(xml_text(&r.1, "Code"), "RequestEntityTooLarge");
    // Too long for a user name: the handler's own validation, AWS-shaped.
    let long = format!("Action=CreateUser&{V}&UserName={}", "x".repeat(200));
    let r = query(&s, &root, IAM, long.as_bytes());
    aws_error(&r, 400, "ValidationError");
    aws_error(
        &query(
            &s,
            &root,
            IAM,
            format!("Action=GetUser&{V}&UserName=%FF").as_bytes(),
        ),
        400,
        "ValidationError",
    );
    aws_error(
        &query_with(
            &s,
            &root,
            IAM,
            "POST",
            "/",
            br#"{"Action":"ListUsers"}"#,
            "application/json",
        ),
        400,
        "ValidationError",
    );
    // A user name that would be a path segment of its own.
    aws_error(
        &query(
            &s,
            &root,
            IAM,
            format!("Action=GetUser&{V}&UserName=..").as_bytes(),
        ),
        400,
        "ValidationError",
    );
    aws_error(
        &query(
            &s,
            &root,
            IAM,
            format!("Action=GetUser&{V}&UserName=nobody").as_bytes(),
        ),
        404,
        "NoSuchEntity",
    );
    aws_error(
        &query(
            &s,
            &root,
            IAM,
            format!("Action=CreateUser&{V}&UserName=bob").as_bytes(),
        ),
        409,
        "EntityAlreadyExists",
    );
    // Scopes: `ward` is not accepted here, `iam` and `sts` not on /v1/,
    // and a signature names the action's service.
    let r = query(
        &s,
        &root,
        "local:ward",
        format!("Action=ListUsers&{V}").as_bytes(),
    );
    assert!(r.0 == 400 || r.0 == 403, "{}", r.1);
    assert!(r.1.contains("<ErrorResponse>"), "{}", r.1);
    assert!(xml_text(&r.1, "Message").contains("'iam'"), "{}", r.1);
    let r = query(
        &s,
        &root,
        "local:sts",
        format!("Action=ListUsers&{V}").as_bytes(),
    );
    aws_error(&r, 400, "InvalidClientTokenId");
    let r = query(
        &s,
        &root,
        IAM,
        b"Action=GetCallerIdentity&Version=2011-06-15",
    );
    aws_error(&r, 400, "InvalidClientTokenId");
    let r = query(
        &s,
        &root,
        "us-east-1:sts",
        b"Action=GetCallerIdentity&Version=2011-06-15",
    );
    assert!(r.0 == 400 || r.0 == 403, "{}", r.1);
    let r = query_with(
        &s,
        &root,
        IAM,
        "GET",
        "/v1/users/bob",
        b"",
        "application/json",
    );
    assert!(
        r.0 == 400 || r.0 == 403,
        "/v1/ must refuse the iam scope: {}",
        r.1
    );
    // No credentials at all: AWS-shaped too.
    let r = s.raw(
        "POST",
        "/",
        &[("content-type", "application/x-www-form-urlencoded")],
        Some(format!("Action=ListUsers&{V}").as_bytes()),
    );
    assert!(r.status == 401 || r.status == 403, "{:?}", r.body);
    assert!(r.body.as_str().unwrap().contains("<ErrorResponse>"));
    // Nothing half-written by the refusals.
    let users = s.call(&root, "GET", "/v1/users", None);
    let names: Vec<&str> = users.ok()["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["bob"]);
    assert_eq!(s.count_5xx(), 0);
}

/// The actions added for the rest of IAM's surface (GetLoginProfile,
/// CreateLoginProfile's 409, GetAccessKeyLastUsed, UpdateGroup,
/// ListEntitiesForPolicy, ListVirtualMFADevices, GetAccountSummary): bad
/// and unknown input is a typed 4xx naming the parameter, never a 5xx,
/// and a refused request changes nothing.
fn new_actions_bad_input(db: Db) {
    let Some(s) = Server::start(db) else {
        return;
    };
    let root = s.root();
    let q = |creds: &Creds, params: &str| query(&s, creds, IAM, format!("{V}&{params}").as_bytes());
    let ok = |r: (u16, String)| {
        assert_eq!(r.0, 200, "{}", r.1);
        r.1
    };
    ok(q(&root, "Action=CreateUser&UserName=alice"));
    ok(q(&root, "Action=CreateGroup&GroupName=devs"));

    // Login profiles: none yet is 404; a second create is 409 and keeps
    // the first password (the JSON API's PUT still replaces it).
    aws_error(
        &q(&root, "Action=GetLoginProfile&UserName=alice"),
        404,
        "NoSuchEntity",
    );
    aws_error(
        &q(&root, "Action=GetLoginProfile&UserName=nobody"),
        404,
        "NoSuchEntity",
    );
    let created = ok(q(
        &root,
        "Action=CreateLoginProfile&UserName=alice&Password=Kestrel-Orbit-77-x&PasswordResetRequired=true",
    ));
    let got = ok(q(&root, "Action=GetLoginProfile&UserName=alice"));
    assert_eq!(
        xml_text(&got, "CreateDate"),
        xml_text(&created, "CreateDate")
    );
    assert_eq!(xml_text(&got, "PasswordResetRequired"), "true");
    let again = q(
        &root,
        "Action=CreateLoginProfile&UserName=alice&Password=Another-Pass-88-y",
    );
    aws_error(&again, 409, "EntityAlreadyExists");
    let login = |pw: &str| {
        s.raw(
            "POST",
            "/v1/login",
            &[("content-type", "application/json")],
            Some(
                serde_json::json!({"userName": "alice", "password": pw})
                    .to_string()
                    .as_bytes(),
            ),
        )
        .status
    };
    assert_eq!(
        login("Kestrel-Orbit-77-x"),
        200,
        "the 409 must not replace the password"
    );
    assert_ne!(login("Another-Pass-88-y"), 200);
    let json_create = s.call(
        &root,
        "POST",
        "/v1/users/alice/login-profile",
        Some(r#"{"password":"Another-Pass-88-y"}"#),
    );
    json_create.err(409, "EntityAlreadyExists");
    let put = s.call(
        &root,
        "PUT",
        "/v1/users/alice/login-profile",
        Some(r#"{"password":"Another-Pass-88-y"}"#),
    );
    assert_eq!(put.status, 204, "PUT keeps create-or-replace for the CLI");
    assert_eq!(login("Another-Pass-88-y"), 200);
    aws_error(
        &q(
            &root,
            "Action=CreateLoginProfile&UserName=nobody&Password=Kestrel-Orbit-77-x",
        ),
        404,
        "NoSuchEntity",
    );

    // GetAccessKeyLastUsed.
    let key = ok(q(&root, "Action=CreateAccessKey&UserName=alice"));
    let key_id = xml_text(&key, "AccessKeyId").to_owned();
    let lu = ok(q(
        &root,
        &format!("Action=GetAccessKeyLastUsed&AccessKeyId={key_id}"),
    ));
    assert_eq!(xml_text(&lu, "UserName"), "alice");
    assert_eq!(xml_text(&lu, "ServiceName"), "N/A", "{lu}");
    assert_eq!(xml_text(&lu, "Region"), "N/A", "{lu}");
    assert!(!lu.contains("<LastUsedDate>"), "{lu}");
    let bad = q(&root, "Action=GetAccessKeyLastUsed&AccessKeyId=not-a-key");
    aws_error(&bad, 400, "ValidationError");
    assert!(
        xml_text(&bad.1, "Message").contains("AccessKeyId"),
        "{}",
        bad.1
    );
    aws_error(
        &q(
            &root,
            &format!(
                "Action=GetAccessKeyLastUsed&AccessKeyId={}",
                "A".repeat(3000)
            ),
        ),
        400,
        "ValidationError",
    );
    aws_error(
        &q(
            &root,
            "Action=GetAccessKeyLastUsed&AccessKeyId=AKIAZZZZZZZZZZZZZZZZ",
        ),
        404,
        "NoSuchEntity",
    );
    aws_error(
        &q(&root, "Action=GetAccessKeyLastUsed"),
        400,
        "ValidationError",
    );

    // UpdateGroup.
    aws_error(
        &q(&root, "Action=UpdateGroup&GroupName=nobody&NewGroupName=x"),
        404,
        "NoSuchEntity",
    );
    let long = q(
        &root,
        &format!(
            "Action=UpdateGroup&GroupName=devs&NewGroupName={}",
            "g".repeat(200)
        ),
    );
    aws_error(&long, 400, "ValidationError");
    assert!(
        xml_text(&long.1, "Message").contains("NewGroupName"),
        "{}",
        long.1
    );
    aws_error(
        &q(&root, "Action=UpdateGroup&GroupName=devs&NewPath=noslash"),
        400,
        "ValidationError",
    );
    aws_error(
        &q(
            &root,
            "Action=UpdateGroup&GroupName=devs&NewGroupName=a%2Fb",
        ),
        400,
        "ValidationError",
    );
    ok(q(&root, "Action=CreateGroup&GroupName=ops"));
    aws_error(
        &q(&root, "Action=UpdateGroup&GroupName=ops&NewGroupName=DEVS"),
        409,
        "EntityAlreadyExists",
    );
    assert_eq!(s.call(&root, "GET", "/v1/groups/devs", None).status, 200);
    assert_eq!(s.call(&root, "GET", "/v1/groups/ops", None).status, 200);

    // ListEntitiesForPolicy, ListVirtualMFADevices, GetAccountSummary.
    aws_error(
        &q(
            &root,
            &format!(
                "Action=ListEntitiesForPolicy&PolicyArn=arn:ward:iam::{}:policy/nosuch",
                s.account
            ),
        ),
        404,
        "NoSuchEntity",
    );
    aws_error(
        &q(&root, "Action=ListEntitiesForPolicy&PolicyArn=notarn"),
        400,
        "ValidationError",
    );
    ok(q(
        &root,
        "Action=CreatePolicy&PolicyName=p&PolicyDocument=%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22iam%3AGetUser%22%2C%22Resource%22%3A%22*%22%7D%5D%7D",
    ));
    let parn = format!("arn:ward:iam::{}:policy/p", s.account);
    aws_error(
        &q(
            &root,
            &format!("Action=ListEntitiesForPolicy&PolicyArn={parn}&EntityFilter=Bucket"),
        ),
        400,
        "ValidationError",
    );
    aws_error(
        &q(
            &root,
            &format!("Action=ListEntitiesForPolicy&PolicyArn={parn}&MaxItems=0"),
        ),
        400,
        "ValidationError",
    );
    aws_error(
        &q(&root, "Action=ListVirtualMFADevices&AssignmentStatus=Maybe"),
        400,
        "ValidationError",
    );
    aws_error(
        &q(&root, "Action=GetAccountSummary&Users=5"),
        400,
        "ValidationError",
    );
    let gaad = q(
        &root,
        "Action=GetAccountAuthorizationDetails&Filter.member.1=Bucket",
    );
    aws_error(&gaad, 400, "ValidationError");
    assert!(
        xml_text(&gaad.1, "Message").contains("Filter"),
        "{}",
        gaad.1
    );
    aws_error(
        &q(
            &root,
            "Action=GetAccountAuthorizationDetails&Filter.member.1=User%2CRole",
        ),
        400,
        "ValidationError",
    );
    aws_error(
        &q(&root, "Action=GetAccountAuthorizationDetails&MaxItems=5000"),
        400,
        "ValidationError",
    );
    let details = ok(q(
        &root,
        "Action=GetAccountAuthorizationDetails&Filter.member.1=Group",
    ));
    assert!(details.contains("<GroupName>devs</GroupName>"), "{details}");
    assert!(
        details.contains("<UserDetailList></UserDetailList>"),
        "{details}"
    );
    let sum = ok(q(&root, "Action=GetAccountSummary"));
    assert!(
        sum.contains("<entry><key>Groups</key><value>2</value></entry>"),
        "{sum}"
    );
    assert!(
        sum.contains("<entry><key>Policies</key><value>1</value></entry>"),
        "{sum}"
    );
    assert!(
        sum.contains("<entry><key>AccessKeysPerUserQuota</key><value>2</value></entry>"),
        "{sum}"
    );

    // The JSON API routes behind them answer on their own too.
    let lp = s.call(&root, "GET", "/v1/users/alice/login-profile", None);
    assert_eq!(lp.ok()["userName"], "alice");
    assert_eq!(lp.ok()["passwordResetRequired"], false);
    let r = s.call(&root, "GET", "/v1/mfa-devices?assignmentStatus=Bogus", None);
    r.err(400, "ValidationError");
    assert_eq!(r.field(), "assignmentStatus");
    let r = s.call(&root, "GET", "/v1/access-keys/nope/last-used", None);
    r.err(400, "ValidationError");
    assert_eq!(r.field(), "accessKeyId");
    let r = s.call(&root, "GET", "/v1/account/summary", None);
    assert_eq!(r.ok()["summaryMap"]["Users"], 1);
    let r = s.call(
        &root,
        "GET",
        "/v1/account/authorization-details?filter=Nope",
        None,
    );
    r.err(400, "ValidationError");
    assert_eq!(r.field(), "filter");
    let r = s.call(
        &root,
        "PATCH",
        "/v1/groups/devs",
        Some(r#"{"newName":"devs","bogus":1}"#),
    );
    r.err(400, "ValidationError");
    let r = s.call(
        &root,
        "POST",
        "/v1/policies/p/tags",
        Some(r#"{"tags":[{"key":"","value":"v"}]}"#),
    );
    r.err(400, "ValidationError");

    // UpdateLoginProfile changes an existing profile only.
    let r = s.call(&root, "PATCH", "/v1/users/alice/login-profile", Some("{}"));
    r.err(400, "ValidationError");
    ok(q(&root, "Action=CreateUser&UserName=carol"));
    aws_error(
        &q(
            &root,
            "Action=UpdateLoginProfile&UserName=carol&Password=Kestrel-Orbit-77-x",
        ),
        404,
        "NoSuchEntity",
    );
    aws_error(
        &q(&root, "Action=GetLoginProfile&UserName=carol"),
        404,
        "NoSuchEntity",
    );

    // Authorization comes before existence: a user allowed to read key use
    // and rename groups only on their own user and on `group/devs` learns
    // nothing of other keys, and cannot rename devs into a name outside
    // what they may update.
    let eve = user_with_policy(
        &s,
        &root,
        "eve",
        &format!(
            r#"{{"Effect":"Allow","Action":"iam:GetAccessKeyLastUsed","Resource":"arn:ward:iam::{a}:user/eve"}},
               {{"Effect":"Allow","Action":"iam:UpdateGroup","Resource":"arn:ward:iam::{a}:group/devs"}}"#,
            a = s.account
        ),
    );
    let own = ok(q(
        &eve,
        &format!("Action=GetAccessKeyLastUsed&AccessKeyId={}", eve.id),
    ));
    assert_eq!(xml_text(&own, "UserName"), "eve");
    // Eve's own request just now was her key's first use, for IAM.
    assert_eq!(xml_text(&own, "ServiceName"), "iam", "{own}");
    assert_eq!(xml_text(&own, "Region"), "us-east-1", "{own}");
    aws_error(
        &q(
            &eve,
            &format!("Action=GetAccessKeyLastUsed&AccessKeyId={key_id}"),
        ),
        403,
        "AccessDenied",
    );
    aws_error(
        &q(
            &eve,
            "Action=GetAccessKeyLastUsed&AccessKeyId=AKIAZZZZZZZZZZZZZZZZ",
        ),
        403,
        "AccessDenied",
    );
    aws_error(
        &q(
            &eve,
            "Action=UpdateGroup&GroupName=devs&NewGroupName=admins",
        ),
        403,
        "AccessDenied",
    );
    aws_error(
        &q(&eve, "Action=GetAccountAuthorizationDetails"),
        403,
        "AccessDenied",
    );
    aws_error(&q(&eve, "Action=GetAccountSummary"), 403, "AccessDenied");
    assert_eq!(s.call(&root, "GET", "/v1/groups/devs", None).status, 200);
    assert_eq!(s.call(&root, "GET", "/v1/groups/admins", None).status, 404);
    assert_eq!(s.count_5xx(), 0);
}

#[test]
fn new_actions_bad_input_sqlite() {
    new_actions_bad_input(Db::Sqlite);
}

#[test]
fn new_actions_bad_input_postgres() {
    new_actions_bad_input(Db::Postgres);
}

/// A managed policy's tags are its `ward:ResourceTag/*` keys (as a
/// user's are), through the JSON API and the Query API alike.
fn policy_tags_are_resource_tags(db: Db) {
    let Some(s) = Server::start(db) else {
        return;
    };
    let root = s.root();
    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetUser","Resource":"*"}]}"#;
    for (name, team) in [
        ("blue-p", Some("blue")),
        ("red-p", Some("red")),
        ("bare-p", None),
    ] {
        s.call(
            &root,
            "POST",
            "/v1/policies",
            Some(&serde_json::json!({"name": name, "document": doc}).to_string()),
        )
        .ok();
        if let Some(t) = team {
            s.call(
                &root,
                "POST",
                &format!("/v1/policies/{name}/tags"),
                Some(&serde_json::json!({"tags": [{"key": "team", "value": t}]}).to_string()),
            )
            .ok();
        }
    }
    let blue = user_with_policy(
        &s,
        &root,
        "bob",
        r#"{"Effect":"Allow","Action":"iam:GetPolicy","Resource":"*","Condition":{"StringEquals":{"ward:ResourceTag/team":"blue"}}}"#,
    );
    s.call(&blue, "GET", "/v1/policies/blue-p", None).ok();
    for other in ["red-p", "bare-p"] {
        s.call(&blue, "GET", &format!("/v1/policies/{other}"), None)
            .err(403, "AccessDenied");
    }
    let arn = |n: &str| {
        s.call(&root, "GET", &format!("/v1/policies/{n}"), None)
            .ok()["arn"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let r = query(
        &s,
        &blue,
        IAM,
        format!("{V}&Action=GetPolicy&PolicyArn={}", arn("blue-p")).as_bytes(),
    );
    assert_eq!(r.0, 200, "{}", r.1);
    aws_error(
        &query(
            &s,
            &blue,
            IAM,
            format!("{V}&Action=GetPolicy&PolicyArn={}", arn("red-p")).as_bytes(),
        ),
        403,
        "AccessDenied",
    );
}

#[test]
fn policy_tags_are_resource_tags_sqlite() {
    policy_tags_are_resource_tags(Db::Sqlite);
}

#[test]
fn policy_tags_are_resource_tags_postgres() {
    policy_tags_are_resource_tags(Db::Postgres);
}

/// Presigned Query URLs carry mutations in logs: refused but for
/// `GetCallerIdentity` (which other systems use to prove an identity).
#[test]
fn presigned_query_urls_are_read_only() {
    ensure_python("botocore", "botocore");
    let Some(s) = Server::start(Db::Sqlite) else {
        return;
    };
    let root = s.root();
    let script = r#"
import os, sys, json
from botocore.auth import SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.httpsession import URLLib3Session
ep = os.environ["WARD_ENDPOINT"]
session = URLLib3Session(verify=os.environ["WARD_CA_BUNDLE"])
creds = Credentials(os.environ["ROOT_KEY"], os.environ["ROOT_SECRET"])
out = {}
for name, service, region, q in [
    ("create", "iam", "us-east-1", "Action=CreateUser&UserName=sneaky&Version=2010-05-08"),
    ("whoami", "sts", "local", "Action=GetCallerIdentity&Version=2011-06-15"),
]:
    req = AWSRequest(method="GET", url=ep + "/?" + q)
    SigV4QueryAuth(creds, service, region, expires=300).add_auth(req)
    r = session.send(req.prepare())
    out[name] = {"status": r.status_code, "body": r.content.decode()}
print(json.dumps(out))
"#;
    let path = s.dir.join("presign.py");
    std::fs::write(&path, script).unwrap();
    let out = Command::new("python3")
        .arg(&path)
        .env("WARD_ENDPOINT", &s.endpoint)
        .env("WARD_CA_BUNDLE", &s.bundle)
        .env("ROOT_KEY", &root.id)
        .env("ROOT_SECRET", &root.secret)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["whoami"]["status"], 200, "{}", r["whoami"]);
    assert_eq!(r["create"]["status"], 403, "{}", r["create"]);
    assert!(r["create"]["body"]
        .as_str()
        .unwrap()
        .contains("AccessDenied"));
    let gone = s.call(&root, "GET", "/v1/users/sneaky", None);
    assert_eq!(gone.status, 404);
}

/// Runs `aws ARGS --output json` as `creds`.
fn aws(s: &Server, creds: &Creds, region: &str, args: &[&str]) -> Value {
    let out = Command::new("python3")
        .args(["-m", "awscli"])
        .args(args)
        .args(["--output", "json", "--endpoint-url", &s.endpoint])
        .env("AWS_ACCESS_KEY_ID", &creds.id)
        .env("AWS_SECRET_ACCESS_KEY", &creds.secret)
        .env("AWS_CA_BUNDLE", &s.bundle)
        .env("AWS_DEFAULT_REGION", region)
        .env("AWS_MAX_ATTEMPTS", "1")
        .env("AWS_CONFIG_FILE", s.dir.join("no-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            s.dir.join("no-aws-credentials"),
        )
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "aws {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    if out.stdout.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `2026-12-02T01:02:03Z` and the CLI's `2026-12-02T01:02:03+00:00`.
fn same_time(cli: &Value, json: &Value) -> bool {
    let c = cli.as_str().unwrap_or_default().replace("+00:00", "Z");
    c == json.as_str().unwrap_or("-")
}

#[test]
fn aws_cli_matches_the_json_api() {
    ensure_aws_cli();
    let Some(s) = Server::start(Db::Sqlite) else {
        return;
    };
    let root = s.root();
    let created = aws(
        &s,
        &root,
        "us-east-1",
        &[
            "iam",
            "create-user",
            "--user-name",
            "carol",
            "--path",
            "/ops/",
        ],
    );
    let json_user = s.call(&root, "GET", "/v1/users/carol", None);
    let j = json_user.ok();
    let got = aws(
        &s,
        &root,
        "us-east-1",
        &["iam", "get-user", "--user-name", "carol"],
    );
    for u in [&created["User"], &got["User"]] {
        assert_eq!(u["UserName"], j["name"]);
        assert_eq!(u["UserId"], j["userId"]);
        assert_eq!(u["Arn"], j["arn"]);
        assert_eq!(u["Path"], j["path"]);
        assert!(same_time(&u["CreateDate"], &j["created"]), "{u} {j}");
    }
    aws(
        &s,
        &root,
        "us-east-1",
        &["iam", "create-group", "--group-name", "ops"],
    );
    aws(
        &s,
        &root,
        "us-east-1",
        &[
            "iam",
            "add-user-to-group",
            "--group-name",
            "ops",
            "--user-name",
            "carol",
        ],
    );
    let groups = aws(&s, &root, "us-east-1", &["iam", "list-groups"]);
    let jg = s.call(&root, "GET", "/v1/groups", None);
    let jg = &jg.ok()["groups"][0];
    let g = &groups["Groups"][0];
    assert_eq!(g["GroupName"], jg["name"]);
    assert_eq!(g["GroupId"], jg["groupId"]);
    assert_eq!(g["Arn"], jg["arn"]);
    assert!(same_time(&g["CreateDate"], &jg["created"]));
    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:*","Resource":"*"}]}"#;
    let p = aws(
        &s,
        &root,
        "us-east-1",
        &[
            "iam",
            "create-policy",
            "--policy-name",
            "sts-all",
            "--policy-document",
            doc,
        ],
    );
    let jp = s.call(&root, "GET", "/v1/policies/sts-all", None);
    let jp = jp.ok();
    assert_eq!(p["Policy"]["Arn"], jp["arn"]);
    assert_eq!(p["Policy"]["PolicyId"], jp["policyId"]);
    assert_eq!(p["Policy"]["DefaultVersionId"], jp["defaultVersionId"]);
    let arn = jp["arn"].as_str().unwrap();
    aws(
        &s,
        &root,
        "us-east-1",
        &[
            "iam",
            "attach-user-policy",
            "--user-name",
            "carol",
            "--policy-arn",
            arn,
        ],
    );
    let key = aws(
        &s,
        &root,
        "us-east-1",
        &["iam", "create-access-key", "--user-name", "carol"],
    );
    let carol = Creds {
        id: key["AccessKey"]["AccessKeyId"].as_str().unwrap().to_owned(),
        secret: key["AccessKey"]["SecretAccessKey"]
            .as_str()
            .unwrap()
            .to_owned(),
        token: None,
    };
    let jk = s.call(&root, "GET", "/v1/users/carol/access-keys", None);
    assert_eq!(jk.ok()["accessKeys"][0]["accessKeyId"], carol.id.as_str());
    let me = aws(&s, &carol, "local", &["sts", "get-caller-identity"]);
    assert_eq!(me["Arn"], j["arn"]);
    assert_eq!(me["UserId"], j["userId"]);
    assert_eq!(me["Account"], s.account.as_str());
    let trust = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{}"}},"Action":"sts:AssumeRole"}}]}}"#,
        j["arn"].as_str().unwrap()
    );
    let role = aws(
        &s,
        &root,
        "us-east-1",
        &[
            "iam",
            "create-role",
            "--role-name",
            "deploy",
            "--assume-role-policy-document",
            &trust,
        ],
    );
    let jr = s.call(&root, "GET", "/v1/roles/deploy", None);
    let jr = jr.ok();
    assert_eq!(role["Role"]["Arn"], jr["arn"]);
    assert_eq!(role["Role"]["RoleId"], jr["roleId"]);
    assert_eq!(
        role["Role"]["AssumeRolePolicyDocument"],
        jr["assumeRolePolicyDocument"]
    );
    // `aws sts assume-role` returns working ward credentials.
    let ar = aws(
        &s,
        &carol,
        "local",
        &[
            "sts",
            "assume-role",
            "--role-arn",
            jr["arn"].as_str().unwrap(),
            "--role-session-name",
            "cli",
        ],
    );
    let c = &ar["Credentials"];
    let session = Creds {
        id: c["AccessKeyId"].as_str().unwrap().to_owned(),
        secret: c["SecretAccessKey"].as_str().unwrap().to_owned(),
        token: c["SessionToken"].as_str().map(str::to_owned),
    };
    let who = s.call(&session, "GET", "/v1/whoami", None);
    assert_eq!(who.ok()["arn"], ar["AssumedRoleUser"]["Arn"]);
    assert!(who.ok()["arn"]
        .as_str()
        .unwrap()
        .ends_with(":assumed-role/deploy/cli"));

    // The README's ~/.aws/config profile: endpoint_url, ca_bundle, region
    // and credential_process (here a script printing carol's key in the
    // format `ward credential-process` prints), no environment.
    let script = s.dir.join("creds.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s' '{{\"Version\":1,\"AccessKeyId\":\"{}\",\"SecretAccessKey\":\"{}\"}}'\n",
            carol.id, carol.secret
        ),
    )
    .unwrap();
    let config = s.dir.join("aws-config");
    std::fs::write(
        &config,
        format!(
            "[profile ward]\nendpoint_url = {}\nca_bundle = {}\nregion = local\n\
             credential_process = sh {}\n",
            s.endpoint,
            s.bundle.display(),
            script.display()
        ),
    )
    .unwrap();
    let out = Command::new("python3")
        .args([
            "-m",
            "awscli",
            "--profile",
            "ward",
            "sts",
            "get-caller-identity",
        ])
        .args(["--output", "json"])
        .env("AWS_CONFIG_FILE", &config)
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            s.dir.join("no-aws-credentials"),
        )
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_CA_BUNDLE")
        .env_remove("AWS_DEFAULT_REGION")
        .env_remove("AWS_REGION")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "aws --profile ward: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let me: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(me["Arn"], j["arn"]);
    assert_eq!(s.count_5xx(), 0);
}
