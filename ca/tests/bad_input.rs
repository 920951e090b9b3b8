//! Bad input at the API edge (SPEC §7): every route of `ward_protocol::api`
//! gets malformed, mistyped, oversized, unknown and conflicting input, sent
//! with the real curl to the real ward-ca. Each case names the status, the
//! AWS-style error code and, where the input has one, the field at fault;
//! after each case the whole database is compared with its state before
//! the case, so a failed request provably wrote nothing (no half-written
//! entity, no audit event for a failed mutation), and the audit log read
//! through the API holds no event for any of them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::collections::BTreeMap;

use common::{creds_of, Db, Response, Server};
use serde_json::json;

// ---- the table runner ---------------------------------------------------

/// How a case is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Auth {
    /// Signed as root with curl's `--aws-sigv4`.
    Root,
    /// No authentication at all.
    None,
}

/// One request and the error it must get.
struct Case {
    what: String,
    method: &'static str,
    path: String,
    body: Option<Vec<u8>>,
    auth: Auth,
    /// Send the path exactly as written (`curl --path-as-is`).
    as_is: bool,
    status: u16,
    code: &'static str,
    field: Option<String>,
    says: Vec<String>,
}

fn c(what: impl Into<String>, method: &'static str, path: impl Into<String>) -> Case {
    Case {
        what: what.into(),
        method,
        path: path.into(),
        body: None,
        auth: Auth::Root,
        as_is: false,
        status: 0,
        code: "",
        field: None,
        says: Vec::new(),
    }
}

impl Case {
    fn json(mut self, body: impl Into<String>) -> Case {
        self.body = Some(body.into().into_bytes());
        self
    }
    fn bytes(mut self, body: Vec<u8>) -> Case {
        self.body = Some(body);
        self
    }
    fn unsigned(mut self) -> Case {
        self.auth = Auth::None;
        self
    }
    fn path_as_is(mut self) -> Case {
        self.as_is = true;
        self
    }
    fn want(mut self, status: u16, code: &'static str) -> Case {
        self.status = status;
        self.code = code;
        self
    }
    /// `error.field` must be exactly this.
    fn field(mut self, f: impl Into<String>) -> Case {
        self.field = Some(f.into());
        self
    }
    /// `error.message` must contain this.
    fn says(mut self, m: impl Into<String>) -> Case {
        self.says.push(m.into());
        self
    }
    /// Whether the audit log must be left as it was too: root reads
    /// (simulations included) are audited even when they then fail.
    fn mutates(&self) -> bool {
        !matches!(self.method, "GET" | "HEAD") && !self.path.starts_with("/v1/simulate/")
    }
}

/// A read-only view of ward-ca's database: every table as sorted text.
struct Snapshot {
    rt: tokio::runtime::Runtime,
    conn: Conn,
    /// `(table, query returning the table as one text)`.
    tables: Vec<(String, String)>,
}

enum Conn {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

/// Tables a root read may append to (root reads are audited).
const AUDIT_TABLES: [&str; 2] = ["audit_events", "audit_head"];

impl Snapshot {
    fn open(s: &Server) -> Snapshot {
        use sqlx::{Connection, Row};
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (conn, tables) = rt.block_on(async {
            match s.db {
                Db::Sqlite => {
                    let url = format!("sqlite://{}?mode=ro", s.data_dir().join("ward.db").display());
                    let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
                    let names: Vec<String> = sqlx::query(
                        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
                    )
                    .fetch_all(&mut c)
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| r.get::<String, _>(0))
                    .collect();
                    let mut tables = Vec::new();
                    for t in names {
                        let cols: Vec<String> = sqlx::query(&format!("PRAGMA table_info(\"{t}\")"))
                            .fetch_all(&mut c)
                            .await
                            .unwrap()
                            .iter()
                            .map(|r| format!("quote(\"{}\")", r.get::<String, _>("name")))
                            .collect();
                        let sql = format!(
                            "SELECT coalesce(group_concat(r, char(10)), '') FROM (SELECT {} AS r FROM \"{t}\" ORDER BY r)",
                            cols.join(" || '|' || ")
                        );
                        tables.push((t, sql));
                    }
                    (Conn::Sqlite(c), tables)
                }
                Db::Postgres => {
                    let mut c = sqlx::PgConnection::connect(s.db_url.as_deref().unwrap())
                        .await
                        .unwrap();
                    let names: Vec<String> = sqlx::query(
                        "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1",
                    )
                    .fetch_all(&mut c)
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| r.get::<String, _>(0))
                    .collect();
                    let tables = names
                        .into_iter()
                        .map(|t| {
                            let sql = format!(
                                "SELECT coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '') FROM \"{t}\" t"
                            );
                            (t, sql)
                        })
                        .collect();
                    (Conn::Postgres(c), tables)
                }
            }
        });
        assert!(
            tables.iter().any(|(t, _)| t == "users"),
            "no users table in {:?}",
            tables.iter().map(|(t, _)| t).collect::<Vec<_>>()
        );
        Snapshot { rt, conn, tables }
    }

    fn take(&mut self) -> BTreeMap<String, String> {
        use sqlx::Row;
        let Snapshot { rt, conn, tables } = self;
        rt.block_on(async {
            let mut out = BTreeMap::new();
            for (t, sql) in tables.iter() {
                let text: String = match conn {
                    Conn::Sqlite(c) => sqlx::query(sql).fetch_one(&mut *c).await.unwrap().get(0),
                    Conn::Postgres(c) => sqlx::query(sql).fetch_one(&mut *c).await.unwrap().get(0),
                };
                out.insert(t.clone(), text);
            }
            out
        })
    }
}

/// Tables that differ (ignoring the audit tables unless `with_audit`).
fn changed(
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
    with_audit: bool,
) -> Vec<String> {
    let mut out = Vec::new();
    for (t, a) in after {
        if !with_audit && AUDIT_TABLES.contains(&t.as_str()) {
            continue;
        }
        let b = before.get(t).map(String::as_str).unwrap_or("");
        if a != b {
            let new: Vec<&str> = a.lines().filter(|l| !b.lines().any(|x| x == *l)).collect();
            let gone: Vec<&str> = b.lines().filter(|l| !a.lines().any(|x| x == *l)).collect();
            out.push(format!("{t}: +{new:?} -{gone:?}"));
        }
    }
    out
}

fn send(s: &Server, case: &Case) -> Response {
    let extra: &[&str] = if case.as_is { &["--path-as-is"] } else { &[] };
    match case.auth {
        Auth::Root => s.call_with(
            &s.root(),
            case.method,
            &case.path,
            case.body.as_deref(),
            extra,
        ),
        Auth::None => s.raw_with(case.method, &case.path, &[], case.body.as_deref(), extra),
    }
}

/// Runs every case and fails once, listing every case that did not get
/// its expected error or that changed the database.
fn check(s: &Server, snap: &mut Snapshot, table: &str, cases: &[Case]) {
    assert!(!cases.is_empty());
    let mut before = snap.take();
    let mut failures = Vec::new();
    for case in cases {
        assert!(
            case.status >= 400,
            "{}: a case must expect an error",
            case.what
        );
        let r = send(s, case);
        let label = format!("{} [{} {}]", case.what, case.method, shorten(&case.path));
        let code = r.body["error"]["code"].as_str().unwrap_or("");
        let message = r.body["error"]["message"].as_str().unwrap_or("");
        if r.status != case.status || code != case.code {
            failures.push(format!(
                "{label}: want {} {}, got {} {}",
                case.status,
                case.code,
                r.status,
                shorten(&r.body.to_string())
            ));
        } else if let Some(f) = &case.field {
            if r.field() != f {
                failures.push(format!(
                    "{label}: want field {f:?}, got {:?} ({message})",
                    r.field()
                ));
            }
        }
        for m in &case.says {
            if !message.contains(m.as_str()) {
                failures.push(format!("{label}: message {message:?} lacks {m:?}"));
            }
        }
        let after = snap.take();
        let diff = changed(&before, &after, case.mutates());
        if !diff.is_empty() {
            failures.push(format!("{label}: the failed request wrote: {diff:?}"));
        }
        before = after;
    }
    assert!(
        failures.is_empty(),
        "{table}: {} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    eprintln!("{table} ({:?}): {} cases passed", s.db, cases.len());
}

fn shorten(s: &str) -> String {
    if s.chars().count() > 160 {
        format!("{}…", s.chars().take(160).collect::<String>())
    } else {
        s.to_owned()
    }
}

// ---- fixtures ----------------------------------------------------------

/// A valid identity policy document.
const DOC: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetUser","Resource":"*"}]}"#;

/// A valid document of exactly `n` characters (it has no whitespace).
fn doc_of_len(n: usize) -> String {
    // Several resources of about 1,000 characters: ARNs are capped at 2,048.
    let head = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetUser","Resource":["#;
    let tail = "]}]}";
    let quote_prefix = r#""arn:ward:iam::*:user/"#;
    let avail = n - head.len() - tail.len();
    let k = avail.div_ceil(1000);
    let a_total = avail - k * (quote_prefix.len() + 1) - (k - 1);
    let entries: Vec<String> = (0..k)
        .map(|i| {
            let a = a_total / k + usize::from(i < a_total % k);
            format!("{quote_prefix}{}\"", "a".repeat(a))
        })
        .collect();
    let doc = format!("{head}{}{tail}", entries.join(","));
    assert_eq!(doc.len(), n);
    doc
}

/// An OpenSSH Ed25519 public key line, different for each `seed`.
fn ssh_key(seed: u8) -> String {
    ssh_line("ssh-ed25519", &[&[seed; 32]])
}

/// `TYPE BASE64 comment` with the blob made of SSH strings.
fn ssh_line(kind: &str, parts: &[&[u8]]) -> String {
    use base64::Engine;
    let mut blob = Vec::new();
    for p in std::iter::once(kind.as_bytes()).chain(parts.iter().copied()) {
        blob.extend_from_slice(&(p.len() as u32).to_be_bytes());
        blob.extend_from_slice(p);
    }
    format!(
        "{kind} {} test",
        base64::engine::general_purpose::STANDARD.encode(blob)
    )
}

/// `{"name": N, "document": D}` with the document as a JSON string.
fn policy_body(name: &str, doc: &str) -> String {
    json!({"name": name, "document": doc}).to_string()
}

fn ok(r: Response) -> serde_json::Value {
    r.ok().clone()
}

/// The fixture every table runs against. Names say what they are for.
struct Fixture {
    /// The account id.
    account: String,
    /// Access key ids of user `full` (which has the maximum, 2).
    full_keys: Vec<String>,
    /// SSH public key ids of user `sshfull` (which has the maximum, 5).
    ssh_keys: Vec<String>,
    /// Per mutation action, how many audit events the setup left.
    audit_counts: BTreeMap<&'static str, usize>,
}

/// Every mutation action, for the audit-log check around the tables.
const MUTATIONS: &[&str] = &[
    "iam:CreateUser",
    "iam:UpdateUser",
    "iam:DeleteUser",
    "iam:TagUser",
    "iam:UntagUser",
    "iam:CreateGroup",
    "iam:DeleteGroup",
    "iam:AddUserToGroup",
    "iam:RemoveUserFromGroup",
    "iam:CreatePolicy",
    "iam:DeletePolicy",
    "iam:CreatePolicyVersion",
    "iam:DeletePolicyVersion",
    "iam:SetDefaultPolicyVersion",
    "iam:AttachUserPolicy",
    "iam:AttachGroupPolicy",
    "iam:DetachUserPolicy",
    "iam:DetachGroupPolicy",
    "iam:PutUserPolicy",
    "iam:PutGroupPolicy",
    "iam:DeleteUserPolicy",
    "iam:DeleteGroupPolicy",
    "iam:PutUserPermissionsBoundary",
    "iam:DeleteUserPermissionsBoundary",
    "iam:CreateLoginProfile",
    "iam:UpdateLoginProfile",
    "iam:DeleteLoginProfile",
    "iam:CreateAccessKey",
    "iam:UpdateAccessKey",
    "iam:DeleteAccessKey",
    "iam:UploadSSHPublicKey",
    "iam:UpdateSSHPublicKey",
    "iam:DeleteSSHPublicKey",
    "iam:ChangePassword",
];

fn audit_count(s: &Server, action: &str) -> usize {
    let path = format!(
        "/v1/audit/events?action={}&limit=1000",
        action.replace(':', "%3A")
    );
    let r = s.call(&s.root(), "GET", &path, None);
    r.ok()["events"].as_array().unwrap().len()
}

fn audit_counts(s: &Server) -> BTreeMap<&'static str, usize> {
    MUTATIONS.iter().map(|a| (*a, audit_count(s, a))).collect()
}

fn setup(s: &Server) -> Fixture {
    let root = s.root();
    let post = |path: &str, body: &str| ok(s.call(&root, "POST", path, Some(body)));
    let put = |path: &str, body: Option<&str>| ok(s.call(&root, "PUT", path, body));

    post(
        "/v1/users",
        r#"{"name":"alice","tags":[{"key":"team","value":"db"}]}"#,
    );
    for u in [
        "bob", "full", "joiner", "loaded", "inl", "busy", "pw", "tagged", "sshfull",
    ] {
        post("/v1/users", &json!({ "name": u }).to_string());
    }
    post("/v1/groups", r#"{"name":"ops"}"#);
    post("/v1/groups", r#"{"name":"gloaded"}"#);
    for i in 0..=10 {
        post(
            "/v1/groups",
            &json!({ "name": format!("g{i}") }).to_string(),
        );
    }
    post("/v1/policies", &policy_body("read-own", DOC));
    post("/v1/policies", &policy_body("bound", DOC));
    post("/v1/policies", &policy_body("versioned", DOC));
    for i in 0..=10 {
        post("/v1/policies", &policy_body(&format!("p{i}"), DOC));
    }
    // Limits reached: 2 keys, 10 groups, 10 policies (user and group), 5
    // versions, 50 tags, inline totals near 2,048 (user) and 5,120 (group).
    let full_keys = (0..2)
        .map(|_| creds_of(&post("/v1/users/full/access-keys", "")).id)
        .collect();
    for i in 0..10 {
        put(&format!("/v1/groups/g{i}/users/joiner"), None);
        put(&format!("/v1/users/loaded/attached-policies/p{i}"), None);
        put(&format!("/v1/groups/gloaded/attached-policies/p{i}"), None);
    }
    for _ in 0..4 {
        post(
            "/v1/policies/versioned/versions",
            &json!({ "document": DOC }).to_string(),
        );
    }
    let tags: Vec<_> = (0..50)
        .map(|i| json!({"key": format!("k{i}"), "value": "v"}))
        .collect();
    post(
        "/v1/users/tagged/tags",
        &json!({ "tags": tags }).to_string(),
    );
    s.call(
        &root,
        "PUT",
        "/v1/users/inl/policies/a",
        Some(&json!({"document": doc_of_len(1500)}).to_string()),
    )
    .ok();
    s.call(
        &root,
        "PUT",
        "/v1/groups/ops/policies/a",
        Some(&json!({"document": doc_of_len(5000)}).to_string()),
    )
    .ok();
    // Things a delete must refuse to orphan.
    put("/v1/groups/ops/users/alice", None);
    put("/v1/groups/ops/attached-policies/read-own", None);
    put(
        "/v1/users/bob/permissions-boundary",
        Some(r#"{"policy":"bound"}"#),
    );
    post("/v1/users/busy/access-keys", "");
    put("/v1/groups/g10/users/busy", None);
    put(
        "/v1/users/busy/login-profile",
        Some(r#"{"password":"Kestrel-Orbit-77"}"#),
    );
    put(
        "/v1/users/pw/login-profile",
        Some(r#"{"password":"Kestrel-Orbit-77"}"#),
    );
    let ssh_keys = (0..5)
        .map(|i| {
            let k = post(
                "/v1/users/sshfull/ssh-keys",
                &json!({ "publicKey": ssh_key(i) }).to_string(),
            );
            k["sshPublicKeyId"].as_str().unwrap().to_owned()
        })
        .collect();
    Fixture {
        account: s.account.clone(),
        full_keys,
        ssh_keys,
        audit_counts: audit_counts(s),
    }
}

/// After the tables: the audit log, read through the API, holds no event
/// for any of the failed mutations.
fn assert_no_new_mutation_events(s: &Server, fx: &Fixture) {
    let now = audit_counts(s);
    let grew: Vec<_> = now
        .iter()
        .filter(|(a, n)| fx.audit_counts.get(*a) != Some(n))
        .collect();
    assert!(
        grew.is_empty(),
        "failed mutations were audited as done: {grew:?} (before: {:?})",
        fx.audit_counts
    );
}

// ---- the tables --------------------------------------------------------

/// A route that takes a JSON body: a body of the right shape, the field a
/// `{}` body lacks (if any), and a body with a value of the wrong type and
/// the field it must be reported under.
struct BodyRoute {
    method: &'static str,
    path: &'static str,
    valid: &'static str,
    required: Option<&'static str>,
    wrong_type: (&'static str, &'static str),
    auth: Auth,
}

fn body_routes() -> Vec<BodyRoute> {
    let r = |method, path, valid, required, wrong_type| BodyRoute {
        method,
        path,
        valid,
        required,
        wrong_type,
        auth: Auth::Root,
    };
    vec![
        BodyRoute {
            auth: Auth::None,
            ..r(
                "POST",
                "/v1/login",
                r#"{"userName":"pw","password":"Kestrel-Orbit-77"}"#,
                Some("userName"),
                (r#"{"userName":["pw"],"password":"x"}"#, "userName"),
            )
        },
        r(
            "POST",
            "/v1/users",
            r#"{"name":"newuser"}"#,
            Some("name"),
            (r#"{"name":5}"#, "name"),
        ),
        r(
            "PATCH",
            "/v1/users/alice",
            r#"{"newPath":"/x/"}"#,
            None,
            (r#"{"newName":true}"#, "newName"),
        ),
        r(
            "POST",
            "/v1/users/alice/tags",
            r#"{"tags":[{"key":"a","value":"b"}]}"#,
            Some("tags"),
            (r#"{"tags":"a=b"}"#, "tags"),
        ),
        r(
            "POST",
            "/v1/groups",
            r#"{"name":"newgroup"}"#,
            Some("name"),
            (r#"{"name":{}}"#, "name"),
        ),
        r(
            "POST",
            "/v1/policies",
            r#"{"name":"newpolicy","document":"{}"}"#,
            Some("name"),
            (
                r#"{"name":"x","document":"{}","description":7}"#,
                "description",
            ),
        ),
        r(
            "POST",
            "/v1/policies/read-own/versions",
            r#"{"document":"{}"}"#,
            Some("document"),
            (r#"{"document":"{}","setAsDefault":"yes"}"#, "setAsDefault"),
        ),
        r(
            "PUT",
            "/v1/policies/versioned/default-version",
            r#"{"versionId":"v2"}"#,
            Some("versionId"),
            (r#"{"versionId":2}"#, "versionId"),
        ),
        r(
            "PUT",
            "/v1/users/alice/policies/inline1",
            r#"{"document":"{}"}"#,
            Some("document"),
            (r#"{"document":"{}","extra":[]}"#, "extra"),
        ),
        r(
            "PUT",
            "/v1/groups/ops/policies/inline1",
            r#"{"document":"{}"}"#,
            Some("document"),
            (r#"{"document":"{}","extra":[]}"#, "extra"),
        ),
        r(
            "PUT",
            "/v1/users/alice/permissions-boundary",
            r#"{"policy":"bound"}"#,
            Some("policy"),
            (r#"{"policy":null}"#, "policy"),
        ),
        r(
            "PUT",
            "/v1/users/alice/login-profile",
            r#"{"password":"Kestrel-Orbit-77"}"#,
            Some("password"),
            (
                r#"{"password":"Kestrel-Orbit-77","passwordResetRequired":"true"}"#,
                "passwordResetRequired",
            ),
        ),
        r(
            "PATCH",
            "/v1/users/full/access-keys/KEY",
            r#"{"status":"Inactive"}"#,
            Some("status"),
            (r#"{"status":0}"#, "status"),
        ),
        r(
            "POST",
            "/v1/users/alice/ssh-keys",
            r#"{"publicKey":"ssh-ed25519 AAAA"}"#,
            Some("publicKey"),
            (r#"{"publicKey":["ssh-ed25519 AAAA"]}"#, "publicKey"),
        ),
        r(
            "PATCH",
            "/v1/users/sshfull/ssh-keys/SSHKEY",
            r#"{"status":"Inactive"}"#,
            Some("status"),
            (r#"{"status":false}"#, "status"),
        ),
        r(
            "POST",
            "/v1/simulate/principal",
            r#"{"policySourceArn":"arn:ward:iam::123456789012:user/alice","actionNames":["iam:GetUser"]}"#,
            Some("policySourceArn"),
            (
                r#"{"policySourceArn":"x","actionNames":"iam:GetUser"}"#,
                "actionNames",
            ),
        ),
        r(
            "POST",
            "/v1/simulate/custom",
            r#"{"policyInputList":[],"actionNames":["iam:GetUser"]}"#,
            Some("policyInputList"),
            (
                r#"{"policyInputList":[],"actionNames":["iam:GetUser"],"contextEntries":[]}"#,
                "contextEntries",
            ),
        ),
        r(
            "POST",
            "/v1/change-password",
            r#"{"oldPassword":"Kestrel-Orbit-77","newPassword":"Kestrel-Orbit-78"}"#,
            Some("oldPassword"),
            (r#"{"oldPassword":1,"newPassword":"x"}"#, "oldPassword"),
        ),
    ]
}

/// Malformed JSON, wrong types, unknown, missing and duplicate fields,
/// empty, non-UTF-8 and trailing-garbage bodies, for every body route.
fn body_cases(fx: &Fixture) -> Vec<Case> {
    let mut out = Vec::new();
    for r in body_routes() {
        let path = r
            .path
            .replace("SSHKEY", &fx.ssh_keys[0])
            .replace("KEY", &fx.full_keys[0]);
        let valid = r.valid.trim_end_matches('}');
        let mk = |what: &str| {
            let mut k = c(what, r.method, path.clone());
            k.auth = r.auth;
            k
        };
        let bad = |what: &str, body: &[u8], field: &str| {
            mk(what)
                .bytes(body.to_vec())
                .want(400, "ValidationError")
                .field(field)
        };
        out.push(bad("malformed JSON", valid.as_bytes(), "body"));
        out.push(bad("not JSON", b"name=alice", "body"));
        out.push(bad("JSON null", b"null", "body"));
        out.push(bad("JSON array", b"[]", "body"));
        out.push(bad("JSON string", b"\"x\"", "body"));
        out.push(bad(
            "trailing garbage",
            format!("{} x", r.valid).as_bytes(),
            "body",
        ));
        out.push(bad(
            "two JSON objects",
            format!("{}{}", r.valid, r.valid).as_bytes(),
            "body",
        ));
        out.push(bad("wrong type", r.wrong_type.0.as_bytes(), r.wrong_type.1));
        out.push(bad(
            "unknown field",
            format!(r#"{valid},"bogus":1}}"#).as_bytes(),
            "bogus",
        ));
        out.push(bad(
            "unknown field differing in case",
            format!(r#"{{"Bogus":1,{}"#, &valid[1..]).as_bytes(),
            "Bogus",
        ));
        if let Some(f) = r.required {
            out.push(bad("missing required field", b"{}", f));
            out.push(bad(
                "duplicate field",
                format!(r#"{valid},"{f}":"again"}}"#).as_bytes(),
                f,
            ));
        }
        out.push(mk("empty body").want(400, "ValidationError").field("body"));
        out.push(bad("whitespace body", b" \n", "body"));
        let mut non_utf8 = valid.as_bytes().to_vec();
        non_utf8.extend_from_slice(b",\"x\xff\xfe\":1}");
        out.push(bad("non-UTF-8 key", &non_utf8, "body"));
        out.push(bad("non-UTF-8 bytes", b"\xff\xfe{}", "body"));
        out.push(bad("UTF-16 body", b"\xff\xfe{\x00}\x00", "body"));
        out.push(bad(
            "deeply nested",
            format!("{}{}", "[".repeat(5000), "]".repeat(5000)).as_bytes(),
            "body",
        ));
    }
    // Not UTF-8 inside a string: a syntax error (serde_json knows no path).
    out.push(
        c("non-UTF-8 name", "POST", "/v1/users")
            .bytes(b"{\"name\":\"al\xffice\"}".to_vec())
            .want(400, "ValidationError")
            .field("body")
            .says("invalid unicode"),
    );
    // Nested faults name the nested field.
    out.push(
        c("tag without value", "POST", "/v1/users")
            .json(r#"{"name":"x","tags":[{"key":"a"}]}"#)
            .want(400, "ValidationError")
            .field("tags[0].value"),
    );
    out.push(
        c("tag with unknown field", "POST", "/v1/users")
            .json(r#"{"name":"x","tags":[{"key":"a","value":"b","color":"red"}]}"#)
            .want(400, "ValidationError")
            .field("tags[0].color"),
    );
    out.push(
        c("tag value not a string", "POST", "/v1/users")
            .json(r#"{"name":"x","tags":[{"key":"a","value":1}]}"#)
            .want(400, "ValidationError")
            .field("tags[0].value"),
    );
    out.push(
        c("tags not a list", "POST", "/v1/users")
            .json(r#"{"name":"x","tags":{"a":"b"}}"#)
            .want(400, "ValidationError")
            .field("tags"),
    );
    out.push(
        c("path not a string", "POST", "/v1/groups")
            .json(r#"{"name":"x","path":["/"]}"#)
            .want(400, "ValidationError")
            .field("path"),
    );
    out.push(
        c("login: password too long", "POST", "/v1/login")
            .unsigned()
            .json(json!({"userName":"pw","password":"x".repeat(1025)}).to_string())
            .want(400, "ValidationError")
            .field("password"),
    );
    out.push(
        c("login: bad user name", "POST", "/v1/login")
            .unsigned()
            .json(r#"{"userName":"p w","password":"x"}"#)
            .want(400, "ValidationError")
            .field("userName"),
    );
    out.push(
        c("login: body over 16 KiB", "POST", "/v1/login")
            .unsigned()
            .json(json!({"userName":"pw","password":"x".repeat(17 * 1024)}).to_string())
            .want(413, "RequestEntityTooLarge"),
    );
    out
}

/// Every route refuses a body over 256 KiB with 413, signed or not.
fn oversized_cases(fx: &Fixture) -> Vec<Case> {
    let key = &fx.full_keys[0];
    let routes: Vec<(&'static str, String)> = vec![
        ("GET", "/v1/whoami".into()),
        ("POST", "/v1/users".into()),
        ("GET", "/v1/users".into()),
        ("GET", "/v1/users/alice".into()),
        ("PATCH", "/v1/users/alice".into()),
        ("DELETE", "/v1/users/bob".into()),
        ("POST", "/v1/users/alice/tags".into()),
        ("DELETE", "/v1/users/alice/tags?keys=team".into()),
        ("GET", "/v1/users/alice/groups".into()),
        ("POST", "/v1/groups".into()),
        ("GET", "/v1/groups".into()),
        ("GET", "/v1/groups/ops".into()),
        ("DELETE", "/v1/groups/g10".into()),
        ("PUT", "/v1/groups/ops/users/bob".into()),
        ("DELETE", "/v1/groups/ops/users/alice".into()),
        ("POST", "/v1/policies".into()),
        ("GET", "/v1/policies".into()),
        ("GET", "/v1/policies/read-own".into()),
        ("DELETE", "/v1/policies/p10".into()),
        ("POST", "/v1/policies/read-own/versions".into()),
        ("GET", "/v1/policies/read-own/versions".into()),
        ("GET", "/v1/policies/read-own/versions/v1".into()),
        ("PUT", "/v1/policies/versioned/default-version".into()),
        ("DELETE", "/v1/policies/versioned/versions/v2".into()),
        ("PUT", "/v1/users/alice/attached-policies/p10".into()),
        ("DELETE", "/v1/users/loaded/attached-policies/p0".into()),
        ("GET", "/v1/users/alice/attached-policies".into()),
        ("PUT", "/v1/groups/ops/attached-policies/p10".into()),
        ("DELETE", "/v1/groups/ops/attached-policies/read-own".into()),
        ("GET", "/v1/groups/ops/attached-policies".into()),
        ("PUT", "/v1/users/alice/policies/x".into()),
        ("GET", "/v1/users/inl/policies/a".into()),
        ("GET", "/v1/users/inl/policies".into()),
        ("DELETE", "/v1/users/inl/policies/a".into()),
        ("PUT", "/v1/groups/ops/policies/x".into()),
        ("DELETE", "/v1/groups/ops/policies/a".into()),
        ("PUT", "/v1/users/alice/permissions-boundary".into()),
        ("DELETE", "/v1/users/bob/permissions-boundary".into()),
        ("PUT", "/v1/users/alice/login-profile".into()),
        ("DELETE", "/v1/users/pw/login-profile".into()),
        ("POST", "/v1/users/alice/access-keys".into()),
        ("GET", "/v1/users/full/access-keys".into()),
        ("PATCH", format!("/v1/users/full/access-keys/{key}")),
        ("DELETE", format!("/v1/users/full/access-keys/{key}")),
        ("GET", "/v1/audit/events".into()),
        ("GET", "/v1/audit/verify".into()),
        ("POST", "/v1/users/alice/ssh-keys".into()),
        ("GET", "/v1/users/sshfull/ssh-keys".into()),
        (
            "GET",
            format!("/v1/users/sshfull/ssh-keys/{}", fx.ssh_keys[0]),
        ),
        (
            "PATCH",
            format!("/v1/users/sshfull/ssh-keys/{}", fx.ssh_keys[0]),
        ),
        (
            "DELETE",
            format!("/v1/users/sshfull/ssh-keys/{}", fx.ssh_keys[0]),
        ),
        ("POST", "/v1/simulate/principal".into()),
        ("POST", "/v1/simulate/custom".into()),
        ("POST", "/v1/change-password".into()),
    ];
    let big = {
        let mut b = br#"{"name":""#.to_vec();
        b.extend(std::iter::repeat_n(b'a', 300 * 1024));
        b.extend_from_slice(br#""}"#);
        b
    };
    let mut out = Vec::new();
    for (m, p) in routes {
        out.push(
            c("body over 256 KiB", m, p.clone())
                .bytes(big.clone())
                .want(413, "RequestEntityTooLarge"),
        );
    }
    out.push(
        c("unsigned body over 256 KiB", "POST", "/v1/users")
            .unsigned()
            .bytes(big)
            .want(413, "RequestEntityTooLarge"),
    );
    out
}

/// Names, paths and tags (SPEC §3), in bodies and in paths.
fn name_cases() -> Vec<Case> {
    let mut out = Vec::new();
    let long = |n: usize| "a".repeat(n);
    let bad_names: Vec<(&str, String)> = vec![
        ("empty", String::new()),
        ("space", "al ice".into()),
        ("slash", "a/b".into()),
        ("colon", "a:b".into()),
        ("asterisk", "a*b".into()),
        ("quote", "a\"b".into()),
        ("NUL", "a\u{0}b".into()),
        ("newline", "a\nb".into()),
        ("non-ASCII letter", "ålice".into()),
        ("non-ASCII digit", "a\u{0663}".into()),
        ("emoji", "a\u{1F600}".into()),
        ("full-width", "ａｌｉｃｅ".into()),
    ];
    for (what, n) in &bad_names {
        out.push(
            c(format!("user name: {what}"), "POST", "/v1/users")
                .json(json!({ "name": n }).to_string())
                .want(400, "ValidationError")
                .field("name"),
        );
        out.push(
            c(format!("group name: {what}"), "POST", "/v1/groups")
                .json(json!({ "name": n }).to_string())
                .want(400, "ValidationError")
                .field("name"),
        );
        out.push(
            c(format!("policy name: {what}"), "POST", "/v1/policies")
                .json(policy_body(n, DOC))
                .want(400, "ValidationError")
                .field("name"),
        );
        out.push(
            c(format!("new user name: {what}"), "PATCH", "/v1/users/alice")
                .json(json!({ "newName": n }).to_string())
                .want(400, "ValidationError")
                .field("newName"),
        );
    }
    // Lengths: users 64, groups and policies 128.
    for (what, path, body, field) in [
        (
            "user name of 65",
            "/v1/users",
            json!({"name": long(65)}),
            "name",
        ),
        (
            "group name of 129",
            "/v1/groups",
            json!({"name": long(129)}),
            "name",
        ),
        (
            "policy name of 129",
            "/v1/policies",
            json!({"name": long(129), "document": DOC}),
            "name",
        ),
        (
            "user name of 5000",
            "/v1/users",
            json!({"name": long(5000)}),
            "name",
        ),
    ] {
        out.push(
            c(what, "POST", path)
                .json(body.to_string())
                .want(400, "ValidationError")
                .field(field)
                .says("1 to"),
        );
    }
    out.push(
        c("rename to 65 characters", "PATCH", "/v1/users/alice")
            .json(json!({ "newName": long(65) }).to_string())
            .want(400, "ValidationError")
            .field("newName"),
    );
    // Names in the URL path.
    let enc_bad = [
        ("space", "al%20ice"),
        ("non-ASCII", "%C3%A5lice"),
        ("colon", "a%3Ab"),
        ("asterisk", "a*b"),
        ("NUL", "a%00b"),
        ("tilde", "a~b"),
    ];
    for (what, n) in enc_bad {
        for (route, label) in [
            (format!("/v1/users/{n}"), "GET user"),
            (format!("/v1/users/{n}/groups"), "GET groups of user"),
            (format!("/v1/groups/{n}"), "GET group"),
            (format!("/v1/policies/{n}"), "GET policy"),
        ] {
            out.push(
                c(format!("{label}: name with {what}"), "GET", route)
                    .want(400, "ValidationError")
                    .field("name"),
            );
        }
        out.push(
            c(
                format!("DELETE user: name with {what}"),
                "DELETE",
                format!("/v1/users/{n}"),
            )
            .want(400, "ValidationError")
            .field("name"),
        );
        out.push(
            c(
                format!("add user with {what} to group"),
                "PUT",
                format!("/v1/groups/ops/users/{n}"),
            )
            .want(400, "ValidationError")
            .field("user"),
        );
        out.push(
            c(
                format!("inline policy name with {what}"),
                "PUT",
                format!("/v1/users/alice/policies/{n}"),
            )
            .json(json!({ "document": DOC }).to_string())
            .want(400, "ValidationError")
            .field("policyName"),
        );
        out.push(
            c(
                format!("attach policy named with {what}"),
                "PUT",
                format!("/v1/users/alice/attached-policies/{n}"),
            )
            .want(400, "ValidationError")
            .field("policy"),
        );
    }
    for (what, path, field) in [
        (
            "user name of 65 in path",
            format!("/v1/users/{}", long(65)),
            "name",
        ),
        (
            "group name of 129 in path",
            format!("/v1/groups/{}", long(129)),
            "name",
        ),
        (
            "policy name of 129 in path",
            format!("/v1/policies/{}", long(129)),
            "name",
        ),
        (
            "inline policy name of 129 in path",
            format!("/v1/users/alice/policies/{}", long(129)),
            "policyName",
        ),
        (
            "user name of 4000 in path",
            format!("/v1/users/{}", long(4000)),
            "name",
        ),
        ("invalid UTF-8 in path", "/v1/users/%FF%FE".into(), "path"),
    ] {
        out.push(
            c(what, "GET", path)
                .want(400, "ValidationError")
                .field(field),
        );
    }
    // Paths: `/…/`, no empty segment, at most 512 printable ASCII.
    let bad_paths = [
        ("empty", String::new()),
        ("no leading slash", "ops/".into()),
        ("no trailing slash", "/ops".into()),
        ("double slash", "/a//b/".into()),
        ("space", "/a b/".into()),
        ("non-ASCII", "/ö/".into()),
        ("tab", "/a\tb/".into()),
        ("513 characters", format!("/{}/", long(511))),
    ];
    for (what, p) in &bad_paths {
        for (route, body) in [
            ("/v1/users", json!({"name": "pathuser", "path": p})),
            ("/v1/groups", json!({"name": "pathgroup", "path": p})),
            (
                "/v1/policies",
                json!({"name": "pathpolicy", "path": p, "document": DOC}),
            ),
        ] {
            out.push(
                c(format!("path {what}"), "POST", route)
                    .json(body.to_string())
                    .want(400, "ValidationError")
                    .field("path"),
            );
        }
        out.push(
            c(format!("new path {what}"), "PATCH", "/v1/users/alice")
                .json(json!({ "newPath": p }).to_string())
                .want(400, "ValidationError")
                .field("newPath"),
        );
    }
    out.push(
        c(
            "pathPrefix without a leading slash",
            "GET",
            "/v1/users?pathPrefix=ops",
        )
        .want(400, "ValidationError")
        .field("pathPrefix"),
    );
    out.push(
        c(
            "pathPrefix of 513",
            "GET",
            format!("/v1/groups?pathPrefix=%2F{}%2F", long(511)),
        )
        .want(400, "ValidationError")
        .field("pathPrefix"),
    );
    out.push(
        c("policy description of 1001", "POST", "/v1/policies")
            .json(
                json!({"name": "described", "document": DOC, "description": long(1001)})
                    .to_string(),
            )
            .want(400, "ValidationError")
            .field("description"),
    );
    out
}

/// Tags on create and on TagUser: reserved prefixes, lengths, characters,
/// count, duplicates; one bad tag among good ones writes nothing.
fn tag_cases() -> Vec<Case> {
    let mut out = Vec::new();
    let t = |k: &str, v: &str| json!({"key": k, "value": v});
    let bad: Vec<(&str, Vec<serde_json::Value>, &str)> = vec![
        ("reserved aws: prefix", vec![t("aws:team", "x")], "tags[0]"),
        (
            "reserved ward: prefix",
            vec![t("ward:team", "x")],
            "tags[0]",
        ),
        (
            "reserved prefix in capitals",
            vec![t("AWS:team", "x")],
            "tags[0]",
        ),
        ("reserved Ward: prefix", vec![t("Ward:x", "x")], "tags[0]"),
        ("empty key", vec![t("", "x")], "tags[0]"),
        ("key of 129", vec![t(&"k".repeat(129), "x")], "tags[0]"),
        ("value of 257", vec![t("k", &"v".repeat(257))], "tags[0]"),
        ("key with <", vec![t("a<b", "x")], "tags[0]"),
        (
            "value with control char",
            vec![t("k", "a\u{7}b")],
            "tags[0]",
        ),
        (
            "bad tag after a good one",
            vec![t("good", "x"), t("aws:bad", "y")],
            "tags[1]",
        ),
        (
            "duplicate keys",
            vec![t("env", "a"), t("env", "b")],
            "tags[1].key",
        ),
        (
            "duplicate keys differing in case",
            vec![t("env", "a"), t("ENV", "b")],
            "tags[1].key",
        ),
        (
            "51 tags",
            (0..51).map(|i| t(&format!("k{i}"), "v")).collect(),
            "tags",
        ),
    ];
    for (what, tags, field) in bad {
        out.push(
            c(format!("create user: {what}"), "POST", "/v1/users")
                .json(json!({"name": "taggeduser", "tags": tags}).to_string())
                .want(400, "ValidationError")
                .field(field),
        );
        out.push(
            c(format!("tag user: {what}"), "POST", "/v1/users/alice/tags")
                .json(json!({ "tags": tags }).to_string())
                .want(400, "ValidationError")
                .field(field),
        );
    }
    out.push(
        c("untag without keys", "DELETE", "/v1/users/alice/tags")
            .want(400, "ValidationError")
            .field("keys"),
    );
    out.push(
        c(
            "untag with empty keys",
            "DELETE",
            "/v1/users/alice/tags?keys=",
        )
        .want(400, "ValidationError")
        .field("keys"),
    );
    out.push(
        c(
            "untag with keys twice",
            "DELETE",
            "/v1/users/alice/tags?keys=a&keys=b",
        )
        .want(400, "ValidationError")
        .field("keys"),
    );
    out.push(
        c(
            "untag a reserved key",
            "DELETE",
            "/v1/users/alice/tags?keys=aws%3Ax",
        )
        .want(400, "ValidationError")
        .field("keys"),
    );
    out.push(
        c(
            "untag 51 keys",
            "DELETE",
            format!(
                "/v1/users/alice/tags?keys={}",
                (0..51)
                    .map(|i| format!("k{i}"))
                    .collect::<Vec<_>>()
                    .join("%2C")
            ),
        )
        .want(400, "ValidationError")
        .field("keys"),
    );
    out.push(
        c(
            "untag with only commas",
            "DELETE",
            "/v1/users/alice/tags?keys=%2C%2C",
        )
        .want(400, "ValidationError")
        .field("keys"),
    );
    out
}

/// Query parameters of the list and audit routes.
fn query_cases() -> Vec<Case> {
    let mut out = Vec::new();
    for route in ["/v1/users", "/v1/groups", "/v1/policies"] {
        for (what, q, field) in [
            ("maxItems=0", "maxItems=0", "maxItems"),
            ("maxItems=abc", "maxItems=abc", "maxItems"),
            ("maxItems=1001", "maxItems=1001", "maxItems"),
            ("maxItems=-1", "maxItems=-1", "maxItems"),
            ("maxItems empty", "maxItems=", "maxItems"),
            ("maxItems=1.5", "maxItems=1.5", "maxItems"),
            (
                "maxItems huge",
                "maxItems=99999999999999999999999",
                "maxItems",
            ),
            ("unknown parameter", "bogus=1", "bogus"),
            ("parameter in wrong case", "MaxItems=10", "MaxItems"),
            ("duplicate parameter", "maxItems=1&maxItems=2", "maxItems"),
            (
                "marker too long",
                &format!("marker={}", "m".repeat(257)),
                "marker",
            ),
            ("invalid UTF-8", "pathPrefix=%FF", "query"),
        ] {
            out.push(
                c(format!("{route}: {what}"), "GET", format!("{route}?{q}"))
                    .want(400, "ValidationError")
                    .field(field),
            );
        }
    }
    for (what, q, field) in [
        ("limit=0", "limit=0", "limit"),
        ("limit=1001", "limit=1001", "limit"),
        ("limit=x", "limit=x", "limit"),
        ("afterSeq=-1", "afterSeq=-1", "afterSeq"),
        ("afterSeq=x", "afterSeq=x", "afterSeq"),
        ("since not a time", "since=yesterday", "since"),
        ("until not a time", "until=2024-13-45", "until"),
        ("unknown parameter", "verbose=1", "verbose"),
        ("duplicate parameter", "limit=1&limit=2", "limit"),
        (
            "user filter too long",
            &format!("user={}", "u".repeat(2049)),
            "user",
        ),
        (
            "action filter too long",
            &format!("action={}", "a".repeat(257)),
            "action",
        ),
    ] {
        out.push(
            c(
                format!("audit: {what}"),
                "GET",
                format!("/v1/audit/events?{q}"),
            )
            .want(400, "ValidationError")
            .field(field),
        );
    }
    out
}

/// Version ids, access key ids and status values.
fn id_cases(fx: &Fixture) -> Vec<Case> {
    let mut out = Vec::new();
    for v in [
        "abc",
        "v0",
        "0",
        "v-1",
        "v",
        "v1.5",
        "V2",
        "v99999999999999999999",
        "%20",
    ] {
        out.push(
            c(
                format!("get version {v:?}"),
                "GET",
                format!("/v1/policies/versioned/versions/{v}"),
            )
            .want(400, "ValidationError")
            .field("versionId"),
        );
        out.push(
            c(
                format!("delete version {v:?}"),
                "DELETE",
                format!("/v1/policies/versioned/versions/{v}"),
            )
            .want(400, "ValidationError")
            .field("versionId"),
        );
    }
    for v in ["abc", "v0", "", "v1 "] {
        out.push(
            c(
                format!("set default version {v:?}"),
                "PUT",
                "/v1/policies/versioned/default-version",
            )
            .json(json!({ "versionId": v }).to_string())
            .want(400, "ValidationError")
            .field("versionId"),
        );
    }
    out.push(
        c(
            "get version that does not exist",
            "GET",
            "/v1/policies/versioned/versions/v9",
        )
        .want(404, "NoSuchEntity"),
    );
    out.push(
        c(
            "delete version that does not exist",
            "DELETE",
            "/v1/policies/versioned/versions/v9",
        )
        .want(404, "NoSuchEntity"),
    );
    out.push(
        c(
            "default version that does not exist",
            "PUT",
            "/v1/policies/versioned/default-version",
        )
        .json(r#"{"versionId":"v9"}"#)
        .want(404, "NoSuchEntity"),
    );
    let key = &fx.full_keys[0];
    for id in [
        "abc",
        "akiaaaaaaaaaaaaaaaaa",
        "AKIA123",
        "AKIAAAAAAAAAAAAAAAAAA",
        "ASIAAAAAAAAAAAAAAAAA",
        "AKIA%C3%84AAAAAAAAAAAAAA",
        "AKIAAAAAAAAAAAAAAA-A",
    ] {
        out.push(
            c(
                format!("update key {id:?}"),
                "PATCH",
                format!("/v1/users/full/access-keys/{id}"),
            )
            .json(r#"{"status":"Inactive"}"#)
            .want(400, "ValidationError")
            .field("accessKeyId"),
        );
        out.push(
            c(
                format!("delete key {id:?}"),
                "DELETE",
                format!("/v1/users/full/access-keys/{id}"),
            )
            .want(400, "ValidationError")
            .field("accessKeyId"),
        );
    }
    out.push(
        c(
            "update unknown key",
            "PATCH",
            "/v1/users/full/access-keys/AKIAAAAAAAAAAAAAAAAA",
        )
        .json(r#"{"status":"Inactive"}"#)
        .want(404, "NoSuchEntity"),
    );
    out.push(
        c(
            "delete unknown key",
            "DELETE",
            "/v1/users/full/access-keys/AKIAAAAAAAAAAAAAAAAA",
        )
        .want(404, "NoSuchEntity"),
    );
    out.push(
        c(
            "update another user's key",
            "PATCH",
            format!("/v1/users/bob/access-keys/{key}"),
        )
        .json(r#"{"status":"Inactive"}"#)
        .want(404, "NoSuchEntity"),
    );
    out.push(
        c(
            "delete another user's key",
            "DELETE",
            format!("/v1/users/bob/access-keys/{key}"),
        )
        .want(404, "NoSuchEntity"),
    );
    for st in ["active", "INACTIVE", "Deleted", "", " Active"] {
        out.push(
            c(
                format!("key status {st:?}"),
                "PATCH",
                format!("/v1/users/full/access-keys/{key}"),
            )
            .json(json!({ "status": st }).to_string())
            .want(400, "ValidationError")
            .field("status"),
        );
    }
    out
}

/// Unknown routes, wrong methods and path tricks.
fn route_cases() -> Vec<Case> {
    let mut out = Vec::new();
    for (m, p) in [
        ("GET", "/v1/nothing"),
        ("GET", "/v2/users"),
        ("GET", "/v1"),
        ("POST", "/v1/"),
        ("GET", "/v1/users/alice/nothing"),
        ("GET", "/v1/users/alice/access-keys/x/y"),
        // Roles exist since issue #14; other kinds still do not.
        ("GET", "/v1/roles/x/nothing"),
        ("PUT", "/v1/widgets/x/attached-policies/p0"),
        ("GET", "/v1/hosts/x/attached-policies"),
        ("GET", "/V1/users"),
        ("GET", "/v1/Users"),
    ] {
        out.push(c(format!("unknown route {p}"), m, p).want(404, "NotFound"));
    }
    out.push(
        c("unknown route, unsigned", "GET", "/v1/nothing")
            .unsigned()
            .want(404, "NotFound"),
    );
    for (m, p) in [
        ("PUT", "/v1/users"),
        ("DELETE", "/v1/users"),
        ("POST", "/v1/users/alice"),
        ("PUT", "/v1/users/alice"),
        ("DELETE", "/v1/whoami"),
        ("POST", "/v1/whoami"),
        // (PATCH /v1/groups/{name} is UpdateGroup, issue #16.)
        ("PUT", "/v1/groups/ops"),
        ("POST", "/v1/groups/ops/users/alice"),
        ("PATCH", "/v1/policies/read-own"),
        ("GET", "/v1/policies/read-own/default-version"),
        ("GET", "/v1/users/alice/tags"),
        ("GET", "/v1/users/alice/permissions-boundary"),
        // (GET/POST/PATCH …/login-profile are Get/Create/UpdateLoginProfile.)
        ("GET", "/v1/users/alice/sessions/x"),
        ("PUT", "/v1/users/alice/access-keys"),
        ("GET", "/v1/users/full/access-keys/AKIAAAAAAAAAAAAAAAAA"),
        ("POST", "/v1/users/alice/attached-policies"),
        ("POST", "/v1/audit/events"),
        ("DELETE", "/v1/audit/events"),
        ("POST", "/v1/audit/verify"),
    ] {
        out.push(c(format!("wrong method {m} {p}"), m, p).want(405, "MethodNotAllowed"));
    }
    out.push(
        c("wrong method, unsigned", "PUT", "/v1/users")
            .unsigned()
            .want(405, "MethodNotAllowed"),
    );
    out.push(
        c("wrong method on login", "GET", "/v1/login")
            .unsigned()
            .want(405, "MethodNotAllowed"),
    );
    // Path traversal: refused before routing can disagree with signing.
    for (what, p) in [
        ("dot-dot", "/v1/users/../groups"),
        ("dot-dot at the end", "/v1/users/alice/.."),
        ("dot", "/v1/users/./alice"),
        ("dot segment as name", "/v1/users/."),
        ("encoded dot-dot", "/v1/users/%2e%2e/groups"),
        ("encoded dot-dot, capitals", "/v1/users/%2E%2E"),
        ("half-encoded dot-dot", "/v1/users/.%2e"),
        ("encoded slash", "/v1/users/a%2fb"),
        ("encoded slash, capitals", "/v1/users/..%2F..%2Fgroups"),
        ("double slash", "/v1/users//groups"),
    ] {
        out.push(
            c(format!("traversal: {what}"), "GET", p)
                .path_as_is()
                .want(400, "ValidationError")
                .field("path"),
        );
        out.push(
            c(format!("traversal, unsigned: {what}"), "GET", p)
                .path_as_is()
                .unsigned()
                .want(400, "ValidationError")
                .field("path"),
        );
    }
    out.push(
        c(
            "traversal: mutation through dot-dot",
            "DELETE",
            "/v1/users/../groups/ops",
        )
        .path_as_is()
        .want(400, "ValidationError")
        .field("path"),
    );
    out.push(
        c("traversal: double slash in prefix", "GET", "/v1//users")
            .path_as_is()
            .want(400, "ValidationError")
            .field("path"),
    );
    out
}

/// Policy documents: invalid per ward-policy, Principal in an identity
/// policy, duplicate keys (raw object and string), wrong JSON types, size.
fn document_cases() -> Vec<Case> {
    let mut out = Vec::new();
    let stmt = r#""Effect":"Allow","Action":"iam:GetUser","Resource":"*""#;
    let malformed: Vec<(&str, String)> = vec![
        (
            "no Effect",
            r#"{"Version":"2012-10-17","Statement":[{"Action":"iam:GetUser","Resource":"*"}]}"#.into(),
        ),
        (
            "Principal in an identity policy",
            format!(r#"{{"Version":"2012-10-17","Statement":[{{{stmt},"Principal":"*"}}]}}"#),
        ),
        (
            "NotPrincipal in an identity policy",
            format!(r#"{{"Version":"2012-10-17","Statement":[{{{stmt},"NotPrincipal":{{"AWS":"*"}}}}]}}"#),
        ),
        (
            "duplicate Statement key",
            format!(r#"{{"Version":"2012-10-17","Statement":[{{{stmt}}}],"Statement":[{{"Effect":"Deny","Action":"*","Resource":"*"}}]}}"#),
        ),
        (
            "duplicate Effect key",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Effect":"Allow","Action":"iam:GetUser","Resource":"*"}]}"#.into(),
        ),
        (
            "duplicate Version key",
            format!(r#"{{"Version":"2012-10-17","Version":"2012-10-17","Statement":[{{{stmt}}}]}}"#),
        ),
        ("no Version", format!(r#"{{"Statement":[{{{stmt}}}]}}"#)),
        (
            "old Version",
            format!(r#"{{"Version":"2008-10-17","Statement":[{{{stmt}}}]}}"#),
        ),
        (
            "unknown key",
            format!(r#"{{"Version":"2012-10-17","Statement":[{{{stmt},"Color":"red"}}]}}"#),
        ),
        (
            "Action and NotAction",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetUser","NotAction":"iam:GetUser","Resource":"*"}]}"#.into(),
        ),
        (
            "action without a service",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"GetUser","Resource":"*"}]}"#.into(),
        ),
        (
            "resource not an ARN",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetUser","Resource":"users"}]}"#.into(),
        ),
        (
            "unknown condition operator",
            format!(r#"{{"Version":"2012-10-17","Statement":[{{{stmt},"Condition":{{"StringSorta":{{"ward:username":"a"}}}}}}]}}"#),
        ),
        ("empty object", "{}".into()),
        (
            "nested too deep",
            format!("{}1{}", r#"{"a":"#.repeat(300), "}".repeat(300)),
        ),
    ];
    let routes = [
        ("create policy", "POST", "/v1/policies", true),
        (
            "create version",
            "POST",
            "/v1/policies/read-own/versions",
            false,
        ),
        (
            "put user policy",
            "PUT",
            "/v1/users/alice/policies/inline1",
            false,
        ),
        (
            "put group policy",
            "PUT",
            "/v1/groups/ops/policies/inline1",
            false,
        ),
    ];
    for (what, doc) in &malformed {
        for (label, m, p, named) in routes {
            // As a raw JSON object …
            let raw = if named {
                format!(r#"{{"name":"newpolicy","document":{doc}}}"#)
            } else {
                format!(r#"{{"document":{doc}}}"#)
            };
            // … and as a JSON string holding it.
            let string = if named {
                policy_body("newpolicy", doc)
            } else {
                json!({ "document": doc }).to_string()
            };

            out.push(
                c(format!("{label}: {what} (object)"), m, p)
                    .json(raw)
                    .want(400, "MalformedPolicyDocument")
                    .field("document"),
            );
            out.push(
                c(format!("{label}: {what} (string)"), m, p)
                    .json(string)
                    .want(400, "MalformedPolicyDocument")
                    .field("document"),
            );
        }
    }
    for (label, m, p, named) in routes {
        for (what, v) in [
            ("number", "5"),
            ("array", "[]"),
            ("null", "null"),
            ("true", "true"),
        ] {
            let body = if named {
                format!(r#"{{"name":"newpolicy","document":{v}}}"#)
            } else {
                format!(r#"{{"document":{v}}}"#)
            };
            out.push(
                c(format!("{label}: document is {what}"), m, p)
                    .json(body)
                    .want(400, "ValidationError")
                    .field("document"),
            );
        }
        let body = if named {
            policy_body("newpolicy", "{")
        } else {
            json!({"document": "{"}).to_string()
        };
        out.push(
            c(format!("{label}: document string is not JSON"), m, p)
                .json(body)
                .want(400, "MalformedPolicyDocument")
                .field("document"),
        );
    }
    // Sizes (characters without whitespace): managed 6,144, user inline
    // 2,048, group inline 5,120.
    out.push(
        c("managed policy of 6,145 characters", "POST", "/v1/policies")
            .json(policy_body("bigpolicy", &doc_of_len(6145)))
            .want(400, "MalformedPolicyDocument")
            .field("document")
            .says("6144"),
    );
    out.push(
        c(
            "policy version of 6,145 characters",
            "POST",
            "/v1/policies/read-own/versions",
        )
        .json(json!({"document": doc_of_len(6145)}).to_string())
        .want(400, "MalformedPolicyDocument")
        .field("document")
        .says("6144"),
    );
    out.push(
        c(
            "user inline policy of 2,049 characters",
            "PUT",
            "/v1/users/bob/policies/big",
        )
        .json(json!({"document": doc_of_len(2049)}).to_string())
        .want(400, "MalformedPolicyDocument")
        .field("document")
        .says("2048"),
    );
    out.push(
        c(
            "group inline policy of 5,121 characters",
            "PUT",
            "/v1/groups/g10/policies/big",
        )
        .json(json!({"document": doc_of_len(5121)}).to_string())
        .want(400, "MalformedPolicyDocument")
        .field("document")
        .says("5120"),
    );
    out
}

/// Store-level refusals: duplicates, limits, delete conflicts, missing
/// entities. Run on SQLite and PostgreSQL: these exercise the
/// transactions (a limit found after a write must roll it back).
fn state_cases(fx: &Fixture) -> Vec<Case> {
    let mut out = Vec::new();
    // Names are unique case-insensitively.
    for (what, m, p, body) in [
        ("user ALICE", "POST", "/v1/users", json!({"name": "ALICE"})),
        ("user Alice", "POST", "/v1/users", json!({"name": "Alice"})),
        ("group OPS", "POST", "/v1/groups", json!({"name": "OPS"})),
        (
            "group Ops under another path",
            "POST",
            "/v1/groups",
            json!({"name": "Ops", "path": "/x/"}),
        ),
        (
            "policy READ-OWN",
            "POST",
            "/v1/policies",
            json!({"name": "READ-OWN", "document": DOC}),
        ),
        (
            "rename bob to ALICE",
            "PATCH",
            "/v1/users/bob",
            json!({"newName": "ALICE"}),
        ),
    ] {
        out.push(
            c(format!("duplicate {what}"), m, p)
                .json(body.to_string())
                .want(409, "EntityAlreadyExists"),
        );
    }
    // Limits (SPEC §3), each naming the limit.
    out.push(
        c("third access key", "POST", "/v1/users/full/access-keys")
            .want(409, "LimitExceeded")
            .says("the limit is 2"),
    );
    out.push(
        c("eleventh group", "PUT", "/v1/groups/g10/users/joiner")
            .want(409, "LimitExceeded")
            .says("the limit is 10"),
    );
    out.push(
        c(
            "eleventh managed policy on a user",
            "PUT",
            "/v1/users/loaded/attached-policies/p10",
        )
        .want(409, "LimitExceeded")
        .says("the limit is 10"),
    );
    out.push(
        c(
            "eleventh managed policy on a group",
            "PUT",
            "/v1/groups/gloaded/attached-policies/p10",
        )
        .want(409, "LimitExceeded")
        .says("the limit is 10"),
    );
    out.push(
        c(
            "sixth policy version",
            "POST",
            "/v1/policies/versioned/versions",
        )
        .json(json!({ "document": DOC, "setAsDefault": true }).to_string())
        .want(409, "LimitExceeded")
        .says("the limit is 5"),
    );
    out.push(
        c(
            "user inline policies over 2,048 in all",
            "PUT",
            "/v1/users/inl/policies/b",
        )
        .json(json!({"document": doc_of_len(600)}).to_string())
        .want(409, "LimitExceeded")
        .says("the limit is 2048"),
    );
    out.push(
        c(
            "user inline policies over 2,048, name in capitals",
            "PUT",
            "/v1/users/inl/policies/B",
        )
        .json(json!({"document": doc_of_len(600)}).to_string())
        .want(409, "LimitExceeded")
        .says("the limit is 2048"),
    );
    out.push(
        c(
            "group inline policies over 5,120 in all",
            "PUT",
            "/v1/groups/ops/policies/b",
        )
        .json(json!({"document": doc_of_len(200)}).to_string())
        .want(409, "LimitExceeded")
        .says("the limit is 5120"),
    );
    // The tag limit is found after the new tags are written: rolled back.
    out.push(
        c("51st tag", "POST", "/v1/users/tagged/tags")
            .json(r#"{"tags":[{"key":"k50","value":"v"}]}"#)
            .want(409, "LimitExceeded")
            .says("at most 50"),
    );
    out.push(
        c(
            "51st tag with a replaced one",
            "POST",
            "/v1/users/tagged/tags",
        )
        .json(r#"{"tags":[{"key":"K0","value":"changed"},{"key":"new","value":"v"}]}"#)
        .want(409, "LimitExceeded"),
    );
    // Deletes that would orphan something (AWS's DeleteConflict).
    for (what, p, says) in [
        (
            "user with access keys",
            "/v1/users/full",
            vec!["access keys"],
        ),
        (
            "user in groups",
            "/v1/users/joiner",
            vec!["group memberships"],
        ),
        (
            "user with policies",
            "/v1/users/loaded",
            vec!["attached policies"],
        ),
        (
            "user with inline policies",
            "/v1/users/inl",
            vec!["inline policies"],
        ),
        (
            "user with a login profile",
            "/v1/users/pw",
            vec!["a login profile"],
        ),
        (
            "user with SSH keys",
            "/v1/users/sshfull",
            vec!["SSH public keys"],
        ),
        (
            "user with several",
            "/v1/users/busy",
            vec!["group memberships", "access keys", "a login profile"],
        ),
        ("group with members", "/v1/groups/g0", vec!["members"]),
        (
            "group with policies",
            "/v1/groups/gloaded",
            vec!["attached policies"],
        ),
        (
            "group with everything",
            "/v1/groups/ops",
            vec!["members", "attached policies", "inline policies"],
        ),
        ("attached policy", "/v1/policies/p0", vec!["attached to 2"]),
        (
            "boundary policy",
            "/v1/policies/bound",
            vec!["boundary of 1"],
        ),
        (
            "default version",
            "/v1/policies/versioned/versions/v1",
            vec!["default version"],
        ),
    ] {
        let mut k = c(format!("delete {what}"), "DELETE", p).want(409, "DeleteConflict");
        for s in says {
            k = k.says(s);
        }
        out.push(k);
    }
    // Missing entities, one per route.
    let key = &fx.full_keys[0];
    for (m, p, body) in [
        ("GET", "/v1/users/nobody".to_owned(), None),
        ("PATCH", "/v1/users/nobody".into(), Some("{}")),
        ("DELETE", "/v1/users/nobody".into(), None),
        (
            "POST",
            "/v1/users/nobody/tags".into(),
            Some(r#"{"tags":[]}"#),
        ),
        ("DELETE", "/v1/users/nobody/tags?keys=a".into(), None),
        ("GET", "/v1/users/nobody/groups".into(), None),
        ("GET", "/v1/groups/nogroup".into(), None),
        ("DELETE", "/v1/groups/nogroup".into(), None),
        ("PUT", "/v1/groups/nogroup/users/alice".into(), None),
        ("PUT", "/v1/groups/ops/users/nobody".into(), None),
        ("DELETE", "/v1/groups/ops/users/bob".into(), None),
        ("DELETE", "/v1/groups/nogroup/users/alice".into(), None),
        ("GET", "/v1/policies/nopolicy".into(), None),
        ("DELETE", "/v1/policies/nopolicy".into(), None),
        (
            "POST",
            "/v1/policies/nopolicy/versions".into(),
            Some(
                r#"{"document":"{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"iam:GetUser\",\"Resource\":\"*\"}]}"}"#,
            ),
        ),
        ("GET", "/v1/policies/nopolicy/versions".into(), None),
        ("GET", "/v1/policies/nopolicy/versions/v1".into(), None),
        (
            "PUT",
            "/v1/policies/nopolicy/default-version".into(),
            Some(r#"{"versionId":"v1"}"#),
        ),
        ("DELETE", "/v1/policies/nopolicy/versions/v2".into(), None),
        (
            "PUT",
            "/v1/users/alice/attached-policies/nopolicy".into(),
            None,
        ),
        ("PUT", "/v1/users/nobody/attached-policies/p0".into(), None),
        (
            "PUT",
            "/v1/groups/nogroup/attached-policies/p0".into(),
            None,
        ),
        (
            "DELETE",
            "/v1/users/alice/attached-policies/p0".into(),
            None,
        ),
        ("DELETE", "/v1/groups/ops/attached-policies/p0".into(), None),
        ("GET", "/v1/users/nobody/attached-policies".into(), None),
        ("GET", "/v1/groups/nogroup/attached-policies".into(), None),
        (
            "PUT",
            "/v1/users/nobody/policies/x".into(),
            Some(
                r#"{"document":"{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"iam:GetUser\",\"Resource\":\"*\"}]}"}"#,
            ),
        ),
        ("GET", "/v1/users/alice/policies/none".into(), None),
        ("DELETE", "/v1/users/alice/policies/none".into(), None),
        ("DELETE", "/v1/groups/ops/policies/none".into(), None),
        ("GET", "/v1/users/nobody/policies".into(), None),
        (
            "PUT",
            "/v1/users/alice/permissions-boundary".into(),
            Some(r#"{"policy":"nopolicy"}"#),
        ),
        (
            "PUT",
            "/v1/users/alice/permissions-boundary".into(),
            Some(r#"{"policy":"arn:ward:iam::123456789012:policy/nopolicy"}"#),
        ),
        (
            "PUT",
            "/v1/users/nobody/permissions-boundary".into(),
            Some(r#"{"policy":"bound"}"#),
        ),
        (
            "DELETE",
            "/v1/users/alice/permissions-boundary".into(),
            None,
        ),
        (
            "PUT",
            "/v1/users/nobody/login-profile".into(),
            Some(r#"{"password":"Kestrel-Orbit-77"}"#),
        ),
        ("DELETE", "/v1/users/alice/login-profile".into(), None),
        ("POST", "/v1/users/nobody/access-keys".into(), None),
        ("GET", "/v1/users/nobody/access-keys".into(), None),
        (
            "PATCH",
            format!("/v1/users/nobody/access-keys/{key}"),
            Some(r#"{"status":"Inactive"}"#),
        ),
        (
            "DELETE",
            format!("/v1/users/nobody/access-keys/{key}"),
            None,
        ),
    ] {
        let mut k = c("missing entity", m, p).want(404, "NoSuchEntity");
        if let Some(b) = body {
            k = k.json(b);
        }
        out.push(k);
    }
    // An ARN must name the policy exactly: not a same-named one elsewhere.
    for arn in [
        "arn:ward:iam::999999999999:policy/bound".to_owned(),
        format!("arn:ward:iam::{}:policy/other/bound", fx.account),
        "arn:aws:iam::aws:policy/bound".to_owned(),
    ] {
        out.push(
            c(
                format!("boundary {arn}"),
                "PUT",
                "/v1/users/alice/permissions-boundary",
            )
            .json(json!({ "policy": arn }).to_string())
            .want(404, "NoSuchEntity"),
        );
    }
    // Text PostgreSQL cannot store (NUL) must be refused, not reach it.
    for (what, m, p, body, field) in [
        (
            "NUL in marker",
            "GET",
            "/v1/users?marker=a%00",
            None,
            "marker",
        ),
        (
            "NUL in pathPrefix",
            "GET",
            "/v1/groups?pathPrefix=%2F%00%2F",
            None,
            "pathPrefix",
        ),
        (
            "NUL in audit user",
            "GET",
            "/v1/audit/events?user=%00",
            None,
            "user",
        ),
        (
            "NUL in audit action",
            "GET",
            "/v1/audit/events?action=iam%3A%00",
            None,
            "action",
        ),
        (
            "NUL in untag keys",
            "DELETE",
            "/v1/users/alice/tags?keys=team%2C%00",
            None,
            "keys",
        ),
        (
            "NUL in description",
            "POST",
            "/v1/policies",
            Some(json!({"name": "described", "description": "a\u{0}b", "document": DOC})),
            "description",
        ),
        (
            "escape in description",
            "POST",
            "/v1/policies",
            Some(json!({"name": "described", "description": "a\u{1b}[31m", "document": DOC})),
            "description",
        ),
    ] {
        let mut k = c(what, m, p).want(400, "ValidationError").field(field);
        if let Some(b) = body {
            k = k.json(b.to_string());
        }
        out.push(k);
    }
    // Values the store would accept but the rules refuse.
    out.push(
        c("weak password", "PUT", "/v1/users/alice/login-profile")
            .json(r#"{"password":"short"}"#)
            .want(400, "PasswordPolicyViolation")
            .field("password"),
    );
    out.push(
        c(
            "password with the user name",
            "PUT",
            "/v1/users/alice/login-profile",
        )
        .json(r#"{"password":"xx-ALICE-Kestrel-77"}"#)
        .want(400, "PasswordPolicyViolation")
        .field("password"),
    );
    out.push(
        c(
            "boundary: bad policy name",
            "PUT",
            "/v1/users/alice/permissions-boundary",
        )
        .json(r#"{"policy":"no such"}"#)
        .want(400, "ValidationError")
        .field("policy"),
    );
    out.push(
        c(
            "boundary: empty policy",
            "PUT",
            "/v1/users/alice/permissions-boundary",
        )
        .json(r#"{"policy":""}"#)
        .want(400, "ValidationError")
        .field("policy"),
    );
    out.push(
        c(
            "rename to an invalid and a valid path",
            "PATCH",
            "/v1/users/alice",
        )
        .json(r#"{"newName":"alice2","newPath":"bad"}"#)
        .want(400, "ValidationError")
        .field("newPath"),
    );
    out
}

// ---- tests -------------------------------------------------------------

/// The state table: duplicates, limits, conflicts and missing entities,
/// on the given backend.
fn state_table(db: Db) {
    let Some(s) = Server::start(db) else { return };
    let fx = setup(&s);
    let mut snap = Snapshot::open(&s);
    check(&s, &mut snap, "state_cases", &state_cases(&fx));
    check(&s, &mut snap, "document_cases", &document_cases());
    check(
        &s,
        &mut snap,
        "key_and_simulation_cases",
        &key_and_simulation_cases(&fx),
    );
    assert_no_new_mutation_events(&s, &fx);
}

#[test]
fn state_table_sqlite() {
    state_table(Db::Sqlite);
}

#[test]
fn state_table_postgres() {
    state_table(Db::Postgres);
}

#[test]
fn bodies() {
    let Some(s) = Server::start(Db::Sqlite) else {
        return;
    };
    let fx = setup(&s);
    let mut snap = Snapshot::open(&s);
    check(&s, &mut snap, "body_cases", &body_cases(&fx));
    check(&s, &mut snap, "oversized_cases", &oversized_cases(&fx));
    assert_no_new_mutation_events(&s, &fx);
}

#[test]
fn names_paths_and_tags() {
    let Some(s) = Server::start(Db::Sqlite) else {
        return;
    };
    let fx = setup(&s);
    let mut snap = Snapshot::open(&s);
    check(&s, &mut snap, "name_cases", &name_cases());
    check(&s, &mut snap, "tag_cases", &tag_cases());
    assert_no_new_mutation_events(&s, &fx);
}

#[test]
fn queries_ids_and_routes() {
    let Some(s) = Server::start(Db::Sqlite) else {
        return;
    };
    let fx = setup(&s);
    let mut snap = Snapshot::open(&s);
    check(&s, &mut snap, "query_cases", &query_cases());
    check(&s, &mut snap, "id_cases", &id_cases(&fx));
    check(&s, &mut snap, "route_cases", &route_cases());
    assert_no_new_mutation_events(&s, &fx);
}

/// A failing request changes nothing, and the same request made valid
/// then succeeds: the refusals above are not the server refusing
/// everything.
#[test]
fn refusals_are_specific() {
    let Some(s) = Server::start(Db::Sqlite) else {
        return;
    };
    let fx = setup(&s);
    let root = s.root();
    // A name with every allowed punctuation character, 64 characters long.
    let name = format!("a.b+c=d,e@f-g_h{}", "x".repeat(49));
    assert_eq!(name.len(), 64);
    s.call(
        &root,
        "POST",
        "/v1/users",
        Some(&json!({ "name": name }).to_string()),
    )
    .ok();
    s.call(
        &root,
        "POST",
        "/v1/groups",
        Some(&json!({"name": "g".repeat(128)}).to_string()),
    )
    .ok();
    s.call(
        &root,
        "POST",
        "/v1/policies",
        Some(&policy_body(&"p".repeat(128), &doc_of_len(6144))),
    )
    .ok();
    s.call(
        &root,
        "PUT",
        "/v1/users/inl/policies/a",
        Some(&json!({"document": doc_of_len(2048)}).to_string()),
    )
    .ok();
    let tags: Vec<_> = (0..50)
        .map(|i| json!({"key": format!("t{i}"), "value": "v".repeat(256)}))
        .collect();
    s.call(
        &root,
        "POST",
        "/v1/users",
        Some(
            &json!({"name": "fifty", "path": format!("/{}/", "p".repeat(510)), "tags": tags})
                .to_string(),
        ),
    )
    .ok();
    s.call(&root, "GET", "/v1/users?maxItems=1000&pathPrefix=%2F", None)
        .ok();
    // After the access key limit is freed, a new key can be made.
    s.call(
        &root,
        "DELETE",
        &format!("/v1/users/full/access-keys/{}", fx.full_keys[0]),
        None,
    )
    .ok();
    s.call(&root, "POST", "/v1/users/full/access-keys", None)
        .ok();
    // A boundary named by its exact ARN.
    let arn = format!("arn:ward:iam::{}:policy/bound", s.account);
    s.call(
        &root,
        "PUT",
        "/v1/users/alice/permissions-boundary",
        Some(&json!({ "policy": arn }).to_string()),
    )
    .ok();
    assert_eq!(
        s.call(&root, "GET", "/v1/users/alice", None).ok()["permissionsBoundary"],
        arn
    );
    // A raw-object document without duplicate keys is accepted as sent.
    let raw = format!(r#"{{"name":"rawdoc","document":{DOC}}}"#);
    let p = s.call(&root, "POST", "/v1/policies", Some(&raw));
    assert_eq!(p.ok()["document"]["Statement"][0]["Action"], "iam:GetUser");
}

/// Concurrent requests cannot slip past uniqueness or a limit, and a lost
/// race is a 409, never a 5xx.
fn races(db: Db) {
    let Some(s) = Server::start(db) else { return };
    let root = s.root();
    s.call(&root, "POST", "/v1/users", Some(r#"{"name":"keyholder"}"#))
        .ok();
    let statuses = |f: &(dyn Fn(usize) -> Response + Sync), n: usize| -> Vec<(u16, String)> {
        std::thread::scope(|sc| {
            let hs: Vec<_> = (0..n).map(|i| sc.spawn(move || f(i))).collect();
            let mut out: Vec<(u16, String)> = hs
                .into_iter()
                .map(|h| {
                    let r = h.join().unwrap();
                    (
                        r.status,
                        r.body["error"]["code"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect();
            out.sort();
            out
        })
    };
    let names = [
        "racer", "RACER", "Racer", "rAcer", "raCer", "racEr", "raceR", "RaCeR",
    ];
    let got = statuses(
        &|i| {
            s.call(
                &root,
                "POST",
                "/v1/users",
                Some(&json!({ "name": names[i] }).to_string()),
            )
        },
        names.len(),
    );
    let mut want = vec![(201, String::new())];
    want.extend(std::iter::repeat_n(
        (409, "EntityAlreadyExists".to_owned()),
        names.len() - 1,
    ));
    assert_eq!(got, want);
    let got = statuses(
        &|_| s.call(&root, "POST", "/v1/users/keyholder/access-keys", None),
        6,
    );
    let mut want = vec![(201, String::new()); 2];
    want.extend(std::iter::repeat_n((409, "LimitExceeded".to_owned()), 4));
    assert_eq!(got, want);
    let keys = s.call(&root, "GET", "/v1/users/keyholder/access-keys", None);
    assert_eq!(keys.ok()["accessKeys"].as_array().unwrap().len(), 2);
    let created = s.call(
        &root,
        "GET",
        "/v1/audit/events?action=iam%3ACreateAccessKey&limit=1000",
        None,
    );
    let made: Vec<_> = created.ok()["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["resource"].as_str().unwrap().ends_with(":user/keyholder"))
        .collect();
    assert_eq!(made.len(), 2, "one audit event per key made");
}

#[test]
fn races_sqlite() {
    races(Db::Sqlite);
}

#[test]
fn races_postgres() {
    races(Db::Postgres);
}

/// The SSH public key, simulation and change-password routes.
fn key_and_simulation_cases(fx: &Fixture) -> Vec<Case> {
    let mut out = Vec::new();
    let rsa_1024 = ssh_line(
        "ssh-rsa",
        &[&[1, 0, 1], &[&[0u8][..], &[0xc5; 128]].concat()],
    );
    let dsa = ssh_line(
        "ssh-dss",
        &[&[0x7f; 128], &[0x7f; 20], &[0x7f; 128], &[0x7f; 128]],
    );
    let cert = ssh_line("ssh-ed25519-cert-v01@openssh.com", &[&[0; 32], &[1; 32]]);
    for (what, key) in [
        ("empty", String::new()),
        ("junk", "not a key".to_owned()),
        ("base64 junk", "ssh-ed25519 AAAA%%%% x".to_owned()),
        ("truncated blob", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI x".to_owned()),
        ("type differing from the blob", ssh_key(9).replacen("ssh-ed25519", "ssh-rsa", 1)),
        ("two keys", format!("{}\n{}", ssh_key(7), ssh_key(8))),
        ("private key", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----".to_owned()),
        ("certificate", cert),
        ("RSA of 1024 bits", rsa_1024),
        ("DSA", dsa),
        ("over 16 KiB", format!("ssh-ed25519 {}", "A".repeat(17 * 1024))),
    ] {
        out.push(
            c(format!("SSH key: {what}"), "POST", "/v1/users/alice/ssh-keys")
                .json(json!({ "publicKey": key }).to_string())
                .want(400, "ValidationError")
                .field("publicKey"),
        );
    }
    out.push(
        c("sixth SSH key", "POST", "/v1/users/sshfull/ssh-keys")
            .json(json!({ "publicKey": ssh_key(5) }).to_string())
            .want(409, "LimitExceeded")
            .says("the limit is 5"),
    );
    out.push(
        c(
            "the same SSH key twice",
            "POST",
            "/v1/users/sshfull/ssh-keys",
        )
        .json(json!({ "publicKey": ssh_key(0) }).to_string())
        .want(409, "DuplicateSSHPublicKey"),
    );
    out.push(
        c(
            "SSH key for a missing user",
            "POST",
            "/v1/users/nobody/ssh-keys",
        )
        .json(json!({ "publicKey": ssh_key(6) }).to_string())
        .want(404, "NoSuchEntity"),
    );
    let id = &fx.ssh_keys[0];
    for bad in [
        "abc",
        "APKA123",
        "apkaaaaaaaaaaaaaaaaaa",
        "AKIAAAAAAAAAAAAAAAAAA",
    ] {
        for m in ["GET", "DELETE"] {
            out.push(
                c(
                    format!("SSH key id {bad:?}"),
                    m,
                    format!("/v1/users/sshfull/ssh-keys/{bad}"),
                )
                .want(400, "ValidationError")
                .field("sshPublicKeyId"),
            );
        }
    }
    for (m, p) in [
        (
            "GET",
            "/v1/users/sshfull/ssh-keys/APKAAAAAAAAAAAAAAAAAA".to_owned(),
        ),
        (
            "DELETE",
            "/v1/users/sshfull/ssh-keys/APKAAAAAAAAAAAAAAAAAA".to_owned(),
        ),
        ("GET", format!("/v1/users/alice/ssh-keys/{id}")),
        ("DELETE", format!("/v1/users/alice/ssh-keys/{id}")),
        ("GET", "/v1/users/nobody/ssh-keys".to_owned()),
    ] {
        out.push(c("missing SSH key", m, p).want(404, "NoSuchEntity"));
    }
    out.push(
        c(
            "SSH key of another user",
            "PATCH",
            format!("/v1/users/alice/ssh-keys/{id}"),
        )
        .json(r#"{"status":"Inactive"}"#)
        .want(404, "NoSuchEntity"),
    );
    for st in ["inactive", "Deleted", ""] {
        out.push(
            c(
                format!("SSH key status {st:?}"),
                "PATCH",
                format!("/v1/users/sshfull/ssh-keys/{id}"),
            )
            .json(json!({ "status": st }).to_string())
            .want(400, "ValidationError")
            .field("status"),
        );
    }
    // Simulations.
    let user_arn = format!("arn:ward:iam::{}:user/alice", fx.account);
    let principal = |v: serde_json::Value| {
        let mut b = json!({"policySourceArn": user_arn, "actionNames": ["iam:GetUser"]});
        for (k, x) in v.as_object().unwrap() {
            b[k] = x.clone();
        }
        b.to_string()
    };
    for (what, body, field) in [
        (
            "no actions",
            principal(json!({"actionNames": []})),
            "actionNames",
        ),
        (
            "wildcard action",
            principal(json!({"actionNames": ["iam:*"]})),
            "actionNames[0]",
        ),
        (
            "action without service",
            principal(json!({"actionNames": ["GetUser"]})),
            "actionNames[0]",
        ),
        (
            "101 actions",
            principal(json!({"actionNames": vec!["iam:GetUser"; 101]})),
            "actionNames",
        ),
        (
            "empty resource",
            principal(json!({"resourceArns": [""]})),
            "resourceArns[0]",
        ),
        (
            "context value a number",
            principal(json!({"contextEntries": {"ward:SourceIp": 1}})),
            "contextEntries.ward:SourceIp",
        ),
        (
            "context list of numbers",
            principal(json!({"contextEntries": {"ward:TagKeys": [1]}})),
            "contextEntries.ward:TagKeys",
        ),
        (
            "bad user name",
            principal(json!({"policySourceArn": "arn:ward:iam::1:user/a b"})),
            "policySourceArn",
        ),
    ] {
        out.push(
            c(
                format!("simulate principal: {what}"),
                "POST",
                "/v1/simulate/principal",
            )
            .json(body)
            .want(400, "ValidationError")
            .field(field),
        );
    }
    out.push(
        c(
            "simulate principal: missing user",
            "POST",
            "/v1/simulate/principal",
        )
        .json(principal(
            json!({"policySourceArn": format!("arn:ward:iam::{}:user/nobody", fx.account)}),
        ))
        .want(404, "NoSuchEntity"),
    );
    let custom = |v: serde_json::Value| {
        let mut b = json!({"policyInputList": [DOC], "actionNames": ["iam:GetUser"]});
        for (k, x) in v.as_object().unwrap() {
            b[k] = x.clone();
        }
        b.to_string()
    };
    let dup = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Effect":"Deny","Action":"iam:GetUser","Resource":"*"}]}"#;
    for (what, body, code, field) in [
        (
            "malformed policy",
            custom(json!({"policyInputList": ["{}"]})),
            "MalformedPolicyDocument",
            "policyInputList[0]",
        ),
        (
            "duplicate keys",
            custom(json!({"policyInputList": [DOC, dup]})),
            "MalformedPolicyDocument",
            "policyInputList[1]",
        ),
        (
            "policy a number",
            custom(json!({"policyInputList": [5]})),
            "ValidationError",
            "policyInputList[0]",
        ),
        (
            "21 policies",
            custom(json!({"policyInputList": vec![DOC; 21]})),
            "ValidationError",
            "policyInputList",
        ),
        (
            "malformed boundary",
            custom(json!({"permissionsBoundaryPolicyInputList": ["{"]})),
            "MalformedPolicyDocument",
            "permissionsBoundaryPolicyInputList[0]",
        ),
        (
            "resource policy naming a bad principal",
            custom(
                json!({"resourcePolicy": r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Ward":"x"},"Action":"iam:GetUser","Resource":"*"}]}"#}),
            ),
            "MalformedPolicyDocument",
            // ward-ca names it like a list's first element.
            "resourcePolicy[0]",
        ),
        (
            "caller not an ARN",
            custom(json!({"callerArn": "alice"})),
            "ValidationError",
            "callerArn",
        ),
        (
            "no actions",
            custom(json!({"actionNames": []})),
            "ValidationError",
            "actionNames",
        ),
    ] {
        out.push(
            c(
                format!("simulate custom: {what}"),
                "POST",
                "/v1/simulate/custom",
            )
            .json(body)
            .want(400, code)
            .field(field),
        );
    }
    // ChangePassword is for users: root has no password.
    out.push(
        c("change password as root", "POST", "/v1/change-password")
            .json(r#"{"oldPassword":"Kestrel-Orbit-77","newPassword":"Kestrel-Orbit-78"}"#)
            .want(400, "ValidationError")
            .field("caller"),
    );
    out
}
