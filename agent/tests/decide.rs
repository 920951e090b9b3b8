//! ward-agent's decisions (decide.rs) from a snapshot: a table of login
//! decisions, the fail-closed cases, the sshd certificate and key paths,
//! hostile tokens, the audit events, and a differential property test
//! against ward-authz driven the way ward-ca drives it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::net::IpAddr;
use std::sync::Arc;

use base64::Engine as _;
use proptest::prelude::*;
use support::*;
use ward_agent::decide::{self, Decider, Facts};
use ward_authz::{Attached, Holder, PrincipalPolicies, RequestFacts};
use ward_pki::sshca::{sign_user_cert, CaAlg, SshCa, UserCertRequest};
use ward_policy::{ContextValue, Policy, Principal, Request};
use ward_protocol::agent::{
    AuthorizeRequest, Outcome, Response, SessionRequest, SshKeysRequest, SshPrincipalsRequest,
};
use ward_protocol::host::{Snapshot, SnapshotRole, SnapshotSshKey, SnapshotUser};

fn facts<'a>(principal: &'a str, source_ip: Option<IpAddr>, now: i64) -> Facts<'a> {
    Facts {
        action: "host:Login",
        principal,
        service: "sshd",
        auth_method: "ssh-certificate",
        source_ip,
        secure_transport: true,
        now,
    }
}

fn authorize(d: &Decider, user: &str, principal: &str) -> Response {
    d.authorize(
        &AuthorizeRequest {
            action: "host:Login".into(),
            user: user.into(),
            principal: principal.into(),
            service: "sshd".into(),
            source_ip: None,
            auth_method: "password".into(),
            mfa_ticket: None,
        },
        now(),
    )
}

fn outcome(r: &Response) -> (Outcome, Option<String>) {
    match r {
        Response::Decision {
            outcome, reason, ..
        } => (*outcome, reason.clone()),
        other => panic!("not a decision: {other:?}"),
    }
}

/// One row: (who, as whom, expected outcome, words the reason contains).
fn check(snap: Snapshot, rows: &[(&str, &str, Outcome, &str)]) {
    let (sh, rec) = shared(Some(snap), now(), 3600);
    let d = Decider::new(sh);
    for (user, principal, want, words) in rows {
        let (got, reason) = outcome(&authorize(&d, user, principal));
        assert_eq!(got, *want, "{user} as {principal}: {reason:?}");
        if !words.is_empty() {
            let r = reason.unwrap_or_default();
            assert!(
                r.contains(words),
                "{user} as {principal}: {r:?} lacks {words:?}"
            );
        }
    }
    // Every decision was recorded once, with a unique id.
    let ev = rec.events();
    assert_eq!(ev.len(), rows.len());
    let mut ids: Vec<_> = ev.iter().map(|e| e.id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), rows.len());
    for (e, (user, principal, want, _)) in ev.iter().zip(rows) {
        assert_eq!(e.allowed, *want == Outcome::Allowed);
        assert_eq!(e.principal.as_deref(), Some(*principal));
        assert_eq!(e.action, "host:Login");
        assert!(e.id.len() <= 64 && e.id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
        if *want != Outcome::UnknownUser {
            assert_eq!(e.user.as_deref(), Some(*user));
        }
        assert_eq!(e.reason.is_none(), *want == Outcome::Allowed);
    }
}

#[test]
fn login_decisions_follow_policy() {
    use Outcome::*;
    check(
        base_snapshot(),
        &[
            ("alice", "alice", Allowed, ""),
            ("alice", "deploy", Allowed, ""),
            ("alice", "root", Denied, "host:Login"),
            ("bob", "bob", Denied, "host:Login"),
            ("mallory", "root", UnknownUser, "not a ward user"),
        ],
    );
}

#[test]
fn disabled_users_missing_documents_and_bad_policies_deny() {
    use Outcome::*;
    let mut s = base_snapshot();
    s.users[0].enabled = false;
    check(s, &[("alice", "alice", Denied, "disabled")]);

    let mut s = base_snapshot();
    s.policies.clear();
    check(s, &[("alice", "alice", Denied, "not in the snapshot")]);

    let mut s = base_snapshot();
    s.groups.clear();
    check(
        s,
        &[("alice", "alice", Denied, "group ops is not in the snapshot")],
    );

    // A bad document among good ones denies (never a partial set).
    let mut s = base_snapshot();
    s.users[0].inline_policies.push("{not json".into());
    check(s, &[("alice", "alice", Denied, "does not compile")]);

    // A boundary that does not allow host:Login wins over the group.
    let mut s = base_snapshot();
    s.policies
        .push(managed("b", statement("Allow", "host:Sudo", "*", None)));
    s.users[0].permissions_boundary = Some(policy_arn("b"));
    check(s, &[("alice", "alice", Denied, "")]);
}

#[test]
fn no_snapshot_or_a_stale_one_denies() {
    let d = Decider::new(shared(None, 0, 3600).0);
    let (o, r) = outcome(&authorize(&d, "alice", "alice"));
    assert_eq!(o, Outcome::Denied);
    assert!(r.unwrap().contains("no snapshot"));

    let (sh, rec) = shared(Some(base_snapshot()), now() - 7200, 3600);
    let d = Decider::new(sh);
    let (o, r) = outcome(&authorize(&d, "alice", "alice"));
    assert_eq!(o, Outcome::Denied);
    assert!(r.unwrap().contains("staleness"));
    assert!(!rec.events()[0].allowed);
    // Within the bound, the same snapshot decides.
    let (sh, _) = shared(Some(base_snapshot()), now() - 3000, 3600);
    assert_eq!(
        outcome(&authorize(&Decider::new(sh), "alice", "alice")).0,
        Outcome::Allowed
    );
}

#[test]
fn host_tags_source_address_and_principal_tags_reach_the_context() {
    let mut s = base_snapshot();
    s.policies = vec![managed(
        "login",
        statement(
            "Allow",
            "host:Login",
            "arn:ward:host::123456789012:host/web-01",
            Some(
                r#"{"StringEquals":{"ward:ResourceTag/env":"prod","host:Name":"web-01","host:Service":"sshd","ward:PrincipalTag/team":"ops"},"IpAddressIfExists":{"ward:SourceIp":"10.0.0.0/8"}}"#,
            ),
        ),
    )];
    s.users[0].tags = vec![tag("team", "ops")];
    let (sh, _) = shared(Some(s.clone()), now(), 3600);
    let d = Decider::new(sh);
    let cur = d.usable(now()).unwrap();
    let alice = cur.snapshot.users[0].clone();
    let t = now();
    let v = |ip: Option<&str>| {
        d.decide_user(
            &cur,
            &alice,
            &facts("alice", ip.map(|i| i.parse().unwrap()), t),
        )
        .outcome
    };
    assert_eq!(v(Some("10.1.2.3")), Outcome::Allowed);
    assert_eq!(v(Some("192.0.2.1")), Outcome::Denied);
    // Unknown address: the key is absent, so ...IfExists holds.
    assert_eq!(v(None), Outcome::Allowed);
    let req = decide::request(
        &cur.snapshot,
        &d.compiled(&cur, &alice).unwrap(),
        &facts("alice", None, t),
    );
    assert!(!req.context().contains("ward:SourceIp"));

    // A plain IpAddress condition on an unknown address does not hold.
    let mut s2 = s.clone();
    s2.policies[0].document = s2.policies[0]
        .document
        .replace("IpAddressIfExists", "IpAddress");
    let (sh, _) = shared(Some(s2), now(), 3600);
    let d2 = Decider::new(sh);
    let cur2 = d2.usable(now()).unwrap();
    assert_eq!(
        d2.decide_user(&cur2, &alice, &facts("alice", None, t))
            .outcome,
        Outcome::Denied
    );
    assert_eq!(
        d2.decide_user(
            &cur2,
            &alice,
            &facts("alice", Some("10.0.0.9".parse().unwrap()), t)
        )
        .outcome,
        Outcome::Allowed
    );

    // Another host's tags do not match.
    let mut s3 = s;
    s3.host.tags = vec![tag("env", "dev")];
    let (sh, _) = shared(Some(s3), now(), 3600);
    let d3 = Decider::new(sh);
    let cur3 = d3.usable(now()).unwrap();
    assert_eq!(
        d3.decide_user(&cur3, &alice, &facts("alice", None, t))
            .outcome,
        Outcome::Denied
    );
}

#[test]
fn the_compiled_set_is_cached_per_snapshot() {
    let (sh, _) = shared(Some(base_snapshot()), now(), 3600);
    let d = Decider::new(sh.clone());
    let cur = d.usable(now()).unwrap();
    let alice = cur.snapshot.users[0].clone();
    let a = d.compiled(&cur, &alice).unwrap();
    let b = d.compiled(&cur, &alice).unwrap();
    assert!(Arc::ptr_eq(&a, &b));
    // A new snapshot (alice left ops) is compiled afresh and decides.
    let mut s = base_snapshot();
    s.generation = 2;
    s.users[0].groups.clear();
    sh.replace(ward_agent::shared::Current {
        snapshot: s,
        received_at: now(),
    });
    assert_eq!(outcome(&authorize(&d, "alice", "alice")).0, Outcome::Denied);
    let cur2 = d.usable(now()).unwrap();
    let c = d.compiled(&cur2, &cur2.snapshot.users[0]).unwrap();
    assert!(!Arc::ptr_eq(&a, &c));
}

// ---------------------------------------------------------------- sshd paths

struct Pki {
    ca: SshCa,
    user_key: ssh_key::PublicKey,
}

fn pki() -> Pki {
    Pki {
        ca: SshCa::generate(CaAlg::Ed25519).unwrap(),
        user_key: SshCa::generate(CaAlg::Ed25519).unwrap().public_key(),
    }
}

fn cert(p: &Pki, key_id: &str, principals: &[&str], serial: u64, valid: (i64, i64)) -> String {
    let principals: Vec<String> = principals.iter().map(|s| s.to_string()).collect();
    let c = sign_user_cert(
        &p.ca,
        &UserCertRequest {
            public_key: &p.user_key,
            serial,
            key_id,
            principals: &principals,
            valid_after: valid.0 as u64,
            valid_before: valid.1 as u64,
            permit_pty: true,
            permit_port_forwarding: false,
            permit_agent_forwarding: false,
            permit_x11_forwarding: false,
            permit_user_rc: false,
            source_addresses: None,
        },
    )
    .unwrap();
    base64::engine::general_purpose::STANDARD.encode(c.to_bytes().unwrap())
}

fn lines(r: Response) -> (Vec<String>, Option<String>) {
    match r {
        Response::Lines { lines, reason } => (lines, reason),
        other => panic!("not lines: {other:?}"),
    }
}

/// (snapshot, %u, %i, %s, certificate, printed, reason words)
type Row<'a> = (
    &'a Snapshot,
    &'a str,
    &'a str,
    u64,
    String,
    &'a [&'a str],
    &'a str,
);

#[test]
fn ssh_principals_table() {
    let p = pki();
    let mut s = base_snapshot();
    s.ssh_user_ca_keys = vec![p.ca.public_line("ward")];
    s.revoked_ssh_serials = vec![666];
    let alice = "AIDAALICE0000000001";
    let t = now();
    let valid = (t - 60, t + 3600);
    let foreign = pki();
    let mut disabled = base_snapshot();
    disabled.ssh_user_ca_keys = s.ssh_user_ca_keys.clone();
    disabled.users[0].enabled = false;
    let mut renamed = s.clone();
    renamed.users[0].name = "alicia".into();
    renamed.policies = vec![managed("login", login_self_or_deploy())];
    // (snapshot, %u, %i, %s, certificate, printed, reason words)
    let rows: Vec<Row<'_>> = vec![
        (
            &s,
            "alice",
            alice,
            7,
            cert(&p, alice, &["alice"], 7, valid),
            &["alice"],
            "",
        ),
        (
            &s,
            "deploy",
            alice,
            7,
            cert(&p, alice, &["alice"], 7, valid),
            &["alice"],
            "",
        ),
        (
            &s,
            "root",
            alice,
            7,
            cert(&p, alice, &["alice"], 7, valid),
            &[],
            "host:Login",
        ),
        // Extra principals grant nothing by themselves.
        (
            &s,
            "root",
            alice,
            8,
            cert(&p, alice, &["alice", "root"], 8, valid),
            &[],
            "host:Login",
        ),
        (
            &s,
            "alice",
            alice,
            666,
            cert(&p, alice, &["alice"], 666, valid),
            &[],
            "revoked",
        ),
        (
            &s,
            "alice",
            alice,
            7,
            cert(&p, alice, &["alice"], 7, (t - 7200, t - 3600)),
            &[],
            "expired",
        ),
        (
            &s,
            "alice",
            alice,
            7,
            cert(&foreign, alice, &["alice"], 7, valid),
            &[],
            "untrusted CA",
        ),
        (
            &s,
            "alice",
            alice,
            9,
            cert(&p, alice, &["alice"], 7, valid),
            &[],
            "serial",
        ),
        (
            &s,
            "alice",
            "AIDABOB00000000000002",
            7,
            cert(&p, alice, &["alice"], 7, valid),
            &[],
            "key id",
        ),
        (
            &s,
            "alice",
            "AIDANOBODY",
            7,
            cert(&p, "AIDANOBODY", &["alice"], 7, valid),
            &[],
            "not a ward user",
        ),
        (&s, "alice", alice, 7, "AAAA".into(), &[], "does not parse"),
        (&s, "alice", alice, 7, "%%%".into(), &[], "does not parse"),
        (
            &disabled,
            "alice",
            alice,
            7,
            cert(&p, alice, &["alice"], 7, valid),
            &[],
            "disabled",
        ),
        // After a rename, the old certificate names the old name.
        (
            &renamed,
            "alicia",
            alice,
            7,
            cert(&p, alice, &["alice"], 7, valid),
            &[],
            "rename",
        ),
        (
            &renamed,
            "alicia",
            alice,
            7,
            cert(&p, alice, &["alicia"], 7, valid),
            &["alicia"],
            "",
        ),
    ];
    for (i, (snap, account, key_id, serial, certificate, want, words)) in
        rows.into_iter().enumerate()
    {
        let (sh, rec) = shared(Some(snap.clone()), t, 3600);
        let d = Decider::new(sh);
        let (got, reason) = lines(d.ssh_principals(
            &SshPrincipalsRequest {
                account: account.into(),
                key_id: key_id.into(),
                serial,
                certificate,
                source_ip: None,
            },
            t,
        ));
        assert_eq!(got, want, "row {i}: {reason:?}");
        let r = reason.unwrap_or_default();
        assert!(r.contains(words), "row {i}: {r:?} lacks {words:?}");
        let ev = rec.events();
        assert_eq!(ev.len(), 1, "row {i}");
        assert_eq!(ev[0].allowed, !want.is_empty());
        assert_eq!(ev[0].auth_method.as_deref(), Some("ssh-certificate"));
    }
}

/// Role-session certificates (issue #14 item 5): key id
/// `AROA…:SESSION:ISSUED`; the role's policies decide `host:Login` for the
/// account (`%u`) the certificate names, with `ward:TokenIssueTime` = the
/// session's issue time, so revoke-sessions' Deny reaches the host.
#[test]
fn role_session_certificates_use_the_roles_policies() {
    let p = pki();
    let t = now();
    let valid = (t - 60, t + 900);
    let role_id = "AROAOPS0000000000001";
    // 2023-11-14T22:13:20Z, and a session issued 100 s later.
    let (old, new) = (1_700_000_000_i64, 1_700_000_100_i64);
    let kid = |issued: i64| format!("{role_id}:oncall:{issued}");
    let prod_only = statement(
        "Allow",
        "host:Login",
        "arn:ward:host::*:host/*",
        Some(
            r#"{"StringEquals":{"host:Principal":"deploy","ward:ResourceTag/env":"prod","ward:userid":"AROAOPS0000000000001:oncall"}}"#,
        ),
    );
    let mut s = base_snapshot();
    s.ssh_user_ca_keys = vec![p.ca.public_line("ward")];
    s.roles = vec![SnapshotRole {
        id: role_id.into(),
        name: "ops".into(),
        path: "/".into(),
        inline_policies: vec![prod_only],
        ..SnapshotRole::default()
    }];
    // Elsewhere: a host tagged env=dev.
    let mut dev = s.clone();
    dev.host.tags = vec![tag("env", "dev")];
    // After `ward role revoke-sessions ops` at 22:13:21Z.
    let mut revoked = s.clone();
    revoked.roles[0].inline_policies.push(statement(
        "Deny",
        "*",
        "*",
        Some(r#"{"DateLessThan":{"ward:TokenIssueTime":"2023-11-14T22:13:21Z"}}"#),
    ));
    let mut gone = s.clone();
    gone.roles.clear();
    let (ko, kn) = (kid(old), kid(new));
    let rows: Vec<Row<'_>> = vec![
        (
            &s,
            "deploy",
            &ko,
            3,
            cert(&p, &ko, &["deploy"], 3, valid),
            &["deploy"],
            "",
        ),
        // Not an account the role may use, though the certificate names it.
        (
            &s,
            "root",
            &ko,
            3,
            cert(&p, &ko, &["deploy", "root"], 3, valid),
            &[],
            "host:Login",
        ),
        // An account the certificate does not name.
        (
            &s,
            "admin",
            &ko,
            3,
            cert(&p, &ko, &["deploy"], 3, valid),
            &[],
            "principal",
        ),
        // Not on a host the role may not log in to.
        (
            &dev,
            "deploy",
            &ko,
            3,
            cert(&p, &ko, &["deploy"], 3, valid),
            &[],
            "host:Login",
        ),
        // The session expired: so did its certificate.
        (
            &s,
            "deploy",
            &ko,
            3,
            cert(&p, &ko, &["deploy"], 3, (t - 1800, t - 60)),
            &[],
            "expired",
        ),
        // revoke-sessions: the old session's certificate is refused, a
        // session issued after it still logs in.
        (
            &revoked,
            "deploy",
            &ko,
            3,
            cert(&p, &ko, &["deploy"], 3, valid),
            &[],
            "explicitly denies",
        ),
        (
            &revoked,
            "deploy",
            &kn,
            4,
            cert(&p, &kn, &["deploy"], 4, valid),
            &["deploy"],
            "",
        ),
        // The role was deleted.
        (
            &gone,
            "deploy",
            &ko,
            3,
            cert(&p, &ko, &["deploy"], 3, valid),
            &[],
            "no ward role",
        ),
    ];
    for (i, (snap, account, key_id, serial, certificate, want, words)) in
        rows.into_iter().enumerate()
    {
        let (sh, rec) = shared(Some(snap.clone()), t, 3600);
        let d = Decider::new(sh);
        let (got, reason) = lines(d.ssh_principals(
            &SshPrincipalsRequest {
                account: account.into(),
                key_id: key_id.into(),
                serial,
                certificate,
                source_ip: None,
            },
            t,
        ));
        assert_eq!(got, want, "row {i}: {reason:?}");
        let r = reason.unwrap_or_default();
        assert!(r.contains(words), "row {i}: {r:?} lacks {words:?}");
        let ev = rec.events();
        assert_eq!(ev.len(), 1, "row {i}");
        assert_eq!(ev[0].allowed, !want.is_empty(), "row {i}");
        if !words.contains("no ward role") {
            assert_eq!(ev[0].user.as_deref(), Some("ops/oncall"), "row {i}");
        }
    }
    // Malformed role key ids are refused before deciding.
    for bad in [
        "AROAOPS:oncall",
        "AROAOPS:o:1",
        "AROAOPS:oncall:12x",
        "AROA:oncall:1:2",
    ] {
        assert!(decide::role_key_id(bad).is_none(), "{bad}");
    }
    assert_eq!(
        decide::role_key_id(&kid(old)),
        Some((role_id, "oncall", old))
    );
}

#[test]
fn hostile_tokens_are_refused_before_deciding() {
    let (sh, rec) = shared(Some(base_snapshot()), now(), 3600);
    let d = Decider::new(sh);
    let long = "a".repeat(10_000);
    for (account, key_id) in [
        (long.as_str(), "AIDAALICE0000000001"),
        ("../../etc/passwd", "AIDAALICE0000000001"),
        ("ali\nce", "AIDAALICE0000000001"),
        ("-oProxyCommand=x", "AIDAALICE0000000001"),
        ("", "AIDAALICE0000000001"),
        ("alice", "AIDA%u%i"),
        ("alice", "aida"),
        ("alice", "AIDA\u{7f}"),
        ("alice", &long),
        ("alice", "AIDA"),
    ] {
        let r = d.ssh_principals(
            &SshPrincipalsRequest {
                account: account.into(),
                key_id: key_id.into(),
                serial: 1,
                certificate: "AAAA".into(),
                source_ip: None,
            },
            now(),
        );
        assert!(
            matches!(&r, Response::Error { code, .. } if code == "malformed"),
            "{account:?} {key_id:?}: {r:?}"
        );
    }
    for fp in [
        "",
        "MD5:aa",
        "SHA256:",
        "SHA256:a b",
        "SHA256:../x",
        &format!("SHA256:{long}"),
    ] {
        let r = d.ssh_keys(
            &SshKeysRequest {
                account: "alice".into(),
                fingerprint: fp.into(),
                source_ip: None,
            },
            now(),
        );
        assert!(
            matches!(&r, Response::Error { code, .. } if code == "malformed"),
            "{fp:?}"
        );
    }
    let r = d.ssh_keys(
        &SshKeysRequest {
            account: "alice".into(),
            fingerprint: "SHA256:abc".into(),
            source_ip: Some("not-an-ip".into()),
        },
        now(),
    );
    assert!(matches!(&r, Response::Error { code, .. } if code == "malformed"));
    // Refused input is not a decision: nothing recorded.
    assert!(rec.events().is_empty());
}

#[test]
fn ssh_keys_answer_the_registered_key_only_when_allowed() {
    let key = SshCa::generate(CaAlg::Ed25519).unwrap().public_key();
    let mut line = key.clone();
    line.set_comment("alice@laptop command=\"evil\"");
    let fp = key.fingerprint(ssh_key::HashAlg::Sha256).to_string();
    let mut s = base_snapshot();
    s.users[0].ssh_keys = vec![SnapshotSshKey {
        id: "APKAA".into(),
        public_key: line.to_openssh().unwrap(),
        status: "Active".into(),
    }];
    let ask = |s: &Snapshot, account: &str| {
        let (sh, _) = shared(Some(s.clone()), now(), 3600);
        lines(Decider::new(sh).ssh_keys(
            &SshKeysRequest {
                account: account.into(),
                fingerprint: fp.clone(),
                source_ip: None,
            },
            now(),
        ))
    };
    let (l, _) = ask(&s, "deploy");
    let mut bare = key.clone();
    bare.set_comment("");
    assert_eq!(l, [bare.to_openssh().unwrap()]);
    assert!(!l[0].contains("command") && !l[0].contains("laptop"));
    assert!(ask(&s, "root").0.is_empty());
    let mut inactive = s.clone();
    inactive.users[0].ssh_keys[0].status = "Inactive".into();
    assert!(ask(&inactive, "alice").1.unwrap().contains("no active"));
    let mut disabled = s.clone();
    disabled.users[0].enabled = false;
    assert!(ask(&disabled, "alice").1.unwrap().contains("disabled"));
    let mut twice = s.clone();
    let k = twice.users[0].ssh_keys.clone();
    twice.users[1].ssh_keys = k;
    assert!(ask(&twice, "alice").1.unwrap().contains("more than one"));
}

// ------------------------------------------------------------ differential

/// ward-ca's assembly, as `ca/src/authz.rs::load_effective` does it from
/// its attachment rows: managed rows then inline rows, a group's documents
/// together in the order groups first appear; then `authorize`'s facts and
/// context. Driven from the same snapshot data, it must agree with the
/// agent on every request.
fn ward_ca_way(snap: &Snapshot, user: &SnapshotUser, f: &Facts<'_>) -> ward_policy::Decision {
    // Rows as the store returns them: (document, principal_type, principal_id).
    let mut managed_rows = Vec::new();
    for arn in &user.managed_policies {
        let d = &snap
            .policies
            .iter()
            .find(|p| &p.arn == arn)
            .unwrap()
            .document;
        managed_rows.push((d.clone(), "user", user.id.clone()));
    }
    let mut inline_rows: Vec<_> = user
        .inline_policies
        .iter()
        .map(|d| (d.clone(), "user", user.id.clone()))
        .collect();
    for gname in &user.groups {
        let g = snap.groups.iter().find(|g| &g.name == gname).unwrap();
        for arn in &g.managed_policies {
            let d = &snap
                .policies
                .iter()
                .find(|p| &p.arn == arn)
                .unwrap()
                .document;
            managed_rows.push((d.clone(), "group", g.id.clone()));
        }
        for d in &g.inline_policies {
            inline_rows.push((d.clone(), "group", g.id.clone()));
        }
    }
    let mut docs = PrincipalPolicies::<String>::new(Holder::User);
    let mut groups: Vec<String> = Vec::new();
    for (rows, is_inline) in [(&managed_rows, false), (&inline_rows, true)] {
        for (doc, ty, id) in rows {
            let holder = if *ty == "user" {
                &mut docs.own
            } else {
                let i = match groups.iter().position(|g| g == id) {
                    Some(i) => i,
                    None => {
                        groups.push(id.clone());
                        docs.inherited.push(Attached::new(Holder::Group));
                        docs.inherited.len() - 1
                    }
                };
                &mut docs.inherited[i]
            };
            if is_inline {
                holder.inline.push(doc.clone());
            } else {
                holder.managed.push(doc.clone());
            }
        }
    }
    if let Some(b) = &user.permissions_boundary {
        docs.boundary = Some(
            snap.policies
                .iter()
                .find(|p| &p.arn == b)
                .unwrap()
                .document
                .clone(),
        );
    }
    let policies = docs.try_map(|d, k| Policy::parse(&d, k)).unwrap();
    let tags: Vec<(String, String)> = user
        .tags
        .iter()
        .map(|t| (t.key.clone(), t.value.clone()))
        .collect();
    let facts = RequestFacts {
        source_ip: f.source_ip,
        now: f.now,
        secure_transport: f.secure_transport,
        auth_method: f.auth_method,
        mfa_authenticated_at: None,
        principal_tags: &tags,
    };
    let mut extra: Vec<(String, ContextValue)> = vec![
        ("host:Principal".into(), ContextValue::from(f.principal)),
        ("host:Service".into(), ContextValue::from(f.service)),
        (
            "host:Name".into(),
            ContextValue::from(snap.host.name.as_str()),
        ),
    ];
    extra.extend(ward_authz::context::resource_tags(
        snap.host
            .tags
            .iter()
            .map(|t| (t.key.as_str(), t.value.as_str())),
    ));
    let ctx = ward_authz::context(f.action, &facts, &ward_authz::context::refs(&extra));
    let principal = Principal::from_arn(&ward_authz::arn::user(
        &snap.account,
        &user.path,
        &user.name,
    ))
    .unwrap()
    .with_unique_id(user.id.clone());
    let req = Request::new(
        principal,
        f.action,
        &ward_authz::arn::host(&snap.account, &snap.host.name),
        ctx,
    );
    let a = policies.assemble();
    ward_authz::decide(&a.set(), &req).decision
}

const ACTIONS: &[&str] = &[
    "host:Login",
    "host:Sudo",
    "host:*",
    "host:Log*",
    "iam:GetUser",
    "*",
];
const RESOURCES: &[&str] = &[
    "*",
    "arn:ward:host::123456789012:host/web-01",
    "arn:ward:host::*:host/web-*",
    "arn:ward:host::123456789012:host/db-*",
];
const CONDITIONS: &[Option<&str>] = &[
    None,
    Some(r#"{"StringEquals":{"host:Principal":"${ward:username}"}}"#),
    Some(r#"{"StringEquals":{"host:Principal":["deploy","root"]}}"#),
    Some(r#"{"StringEquals":{"ward:ResourceTag/env":"prod"}}"#),
    Some(r#"{"StringNotEquals":{"ward:ResourceTag/env":"prod"}}"#),
    Some(r#"{"IpAddress":{"ward:SourceIp":"10.0.0.0/8"}}"#),
    Some(r#"{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#),
    Some(r#"{"IpAddressIfExists":{"ward:SourceIp":"10.0.0.0/8"}}"#),
    Some(r#"{"StringEquals":{"ward:PrincipalTag/team":"ops"}}"#),
    Some(r#"{"StringEquals":{"host:Service":"sshd","ward:AuthMethod":"ssh-certificate"}}"#),
    Some(r#"{"StringLike":{"host:Name":"web-*"}}"#),
    Some(r#"{"StringEquals":{"ward:userid":"AIDAU0"}}"#),
    Some(r#"{"NumericLessThan":{"ward:EpochTime":"1800000000"}}"#),
];

fn doc_strategy() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            prop::bool::weighted(0.75),
            prop::sample::select(ACTIONS),
            prop::sample::select(RESOURCES),
            prop::sample::select(CONDITIONS),
        ),
        1..3,
    )
    .prop_map(|sts| {
        let body: Vec<String> = sts
            .into_iter()
            .map(|(allow, a, r, c)| {
                let cond = c
                    .map(|c| format!(r#","Condition":{c}"#))
                    .unwrap_or_default();
                format!(
                    r#"{{"Effect":"{}","Action":"{a}","Resource":"{r}"{cond}}}"#,
                    if allow { "Allow" } else { "Deny" }
                )
            })
            .collect();
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
            body.join(",")
        )
    })
}

#[derive(Debug, Clone)]
struct World {
    snap: Snapshot,
    requests: Vec<(usize, String, Option<String>, String, String)>,
}

fn world() -> impl Strategy<Value = World> {
    (
        prop::collection::vec(doc_strategy(), 1..6),
        prop::collection::vec((0usize..6, 0usize..6, prop::bool::ANY), 3),
        prop::collection::vec(
            (
                prop::collection::vec(0usize..3, 0..3),
                prop::collection::vec(0usize..6, 0..3),
                prop::collection::vec(0usize..6, 0..2),
                prop::option::of(0usize..6),
                prop::bool::ANY,
            ),
            1..4,
        ),
        prop::sample::select(&["prod", "dev"][..]),
        prop::sample::select(&["web-01", "db-01"][..]),
        prop::collection::vec(
            (
                0usize..4,
                prop::sample::select(&["alice", "deploy", "root", "u0"][..]),
                prop::option::of(prop::sample::select(&["10.2.3.4", "192.0.2.1", "::1"][..])),
                prop::sample::select(&["host:Login", "host:Sudo"][..]),
                prop::sample::select(&["sshd", "sudo"][..]),
            ),
            1..8,
        ),
    )
        .prop_map(|(docs, groups, users, env, host, reqs)| {
            let n = docs.len();
            let mut snap = base_snapshot();
            snap.host.name = host.into();
            snap.host.tags = vec![tag("env", env)];
            snap.policies = docs
                .iter()
                .enumerate()
                .map(|(i, d)| managed(&format!("p{i}"), d.clone()))
                .collect();
            snap.groups = groups
                .iter()
                .enumerate()
                .map(|(i, (m, inl, both))| {
                    let mut g = group(
                        &format!("g{i}"),
                        None,
                        &[&policy_arn(&format!("p{}", m % n))],
                    );
                    if *both {
                        g.inline_policies.push(docs[inl % n].clone());
                    }
                    g
                })
                .collect();
            snap.users = users
                .iter()
                .enumerate()
                .map(|(i, (gs, own_m, own_i, boundary, team))| {
                    let gnames: Vec<String> = {
                        let mut v: Vec<String> = gs.iter().map(|g| format!("g{g}")).collect();
                        v.dedup();
                        v
                    };
                    let gref: Vec<&str> = gnames.iter().map(String::as_str).collect();
                    let mut u = user(
                        &format!("AIDAU{i}"),
                        &format!("u{i}"),
                        300000 + i as u32,
                        &gref,
                    );
                    u.managed_policies = own_m
                        .iter()
                        .map(|m| policy_arn(&format!("p{}", m % n)))
                        .collect();
                    u.managed_policies.dedup();
                    u.inline_policies = own_i.iter().map(|m| docs[m % n].clone()).collect();
                    u.permissions_boundary = boundary.map(|b| policy_arn(&format!("p{}", b % n)));
                    if *team {
                        u.tags = vec![tag("team", "ops")];
                    }
                    u
                })
                .collect();
            let requests = reqs
                .into_iter()
                .map(|(u, p, ip, a, s)| {
                    (
                        u,
                        p.to_owned(),
                        ip.map(str::to_owned),
                        a.to_owned(),
                        s.to_owned(),
                    )
                })
                .collect();
            World { snap, requests }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// The agent's decision equals ward-authz's decision assembled the way
    /// ward-ca assembles it, for random users, groups, policies, hosts and
    /// requests (issue #11 item 1).
    #[test]
    fn agent_and_ward_ca_assembly_agree(w in world()) {
        let t = 1_750_000_000;
        let (sh, _) = shared(Some(w.snap.clone()), t, 3600);
        let d = Decider::new(sh);
        let cur = d.usable(t).unwrap();
        for (ui, principal, ip, action, service) in &w.requests {
            let Some(user) = w.snap.users.get(*ui % w.snap.users.len()) else { continue };
            let f = Facts {
                action,
                principal,
                service,
                auth_method: "ssh-certificate",
                source_ip: ip.as_deref().map(|i| i.parse().unwrap()),
                secure_transport: true,
                now: t,
            };
            let want = ward_ca_way(&w.snap, user, &f);
            let got = d.decide_user(&cur, user, &f);
            prop_assert_eq!(
                got.outcome == Outcome::Allowed,
                want == ward_policy::Decision::Allowed,
                "user {:?} request {:?}: agent {:?}, ward-ca way {:?}", user.name, f, got, want
            );
            let direct = decide::evaluate(&w.snap, &decide::compile(&w.snap, user).unwrap(), &f);
            prop_assert_eq!(direct.decision, want);
        }
    }
}

/// The differential property is not vacuous: over a fixed-seed run of
/// random worlds, both outcomes occur often and every request agrees.
#[test]
fn differential_worlds_exercise_both_outcomes() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]),
    );
    let strategy = world();
    let t = 1_750_000_000;
    let (mut allowed, mut denied) = (0usize, 0usize);
    for _ in 0..300 {
        let w = strategy.new_tree(&mut runner).unwrap().current();
        let (sh, _) = shared(Some(w.snap.clone()), t, 3600);
        let d = Decider::new(sh);
        let cur = d.usable(t).unwrap();
        for (ui, principal, ip, action, service) in &w.requests {
            let user = &w.snap.users[*ui % w.snap.users.len()];
            let f = Facts {
                action,
                principal,
                service,
                auth_method: "ssh-certificate",
                source_ip: ip.as_deref().map(|i| i.parse().unwrap()),
                secure_transport: true,
                now: t,
            };
            let want = ward_ca_way(&w.snap, user, &f) == ward_policy::Decision::Allowed;
            let got = d.decide_user(&cur, user, &f).outcome == Outcome::Allowed;
            assert_eq!(got, want, "{f:?}");
            if got {
                allowed += 1;
            } else {
                denied += 1;
            }
        }
    }
    let total = allowed + denied;
    println!("differential: {allowed} allowed, {denied} denied of {total}");
    assert!(allowed * 10 >= total, "{allowed} of {total} allowed");
    assert!(denied * 10 >= total, "{denied} of {total} denied");
}

fn session(d: &Decider, user: &str, open: bool, rhost: Option<&str>) -> Response {
    d.session(
        &SessionRequest {
            open,
            user: user.into(),
            service: "login".into(),
            rhost: rhost.map(str::to_owned),
        },
        now(),
    )
}

/// PAM sessions of ward users are spooled as audit events (open and
/// close, with an address rhost as the source); users ward does not know
/// and hostile names leave no event.
#[test]
fn sessions_of_ward_users_are_recorded() {
    let (sh, rec) = shared(Some(base_snapshot()), now(), 3600);
    let d = Decider::new(sh);
    assert_eq!(
        session(&d, "alice", true, Some("192.0.2.7")),
        Response::Recorded { recorded: true }
    );
    assert_eq!(
        session(&d, "alice", false, Some("ws-7.example")),
        Response::Recorded { recorded: true }
    );
    assert_eq!(
        session(&d, "nobody-here", true, None),
        Response::Recorded { recorded: false }
    );
    for bad in ["", "../etc", "al\nice", &"a".repeat(300)] {
        assert!(
            matches!(session(&d, bad, true, None), Response::Error { .. }),
            "{bad:?} accepted"
        );
    }
    let ev = rec.events();
    assert_eq!(ev.len(), 2, "{ev:?}");
    assert_eq!(ev[0].action, "pam_ward:OpenSession");
    assert_eq!(ev[0].source_ip.as_deref(), Some("192.0.2.7"));
    assert_eq!(ev[1].action, "pam_ward:CloseSession");
    assert_eq!(ev[1].source_ip, None, "a host name is not an address");
    assert!(ev
        .iter()
        .all(|e| e.user.as_deref() == Some("alice") && e.allowed));
    assert_ne!(ev[0].id, ev[1].id);
    // A stale snapshot still records (the event is a record, not a decision).
    let (sh, rec) = shared(Some(base_snapshot()), now() - 7200, 3600);
    let d = Decider::new(sh);
    assert_eq!(
        session(&d, "alice", true, None),
        Response::Recorded { recorded: true }
    );
    assert_eq!(rec.events().len(), 1);
}
