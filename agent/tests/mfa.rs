//! MFA in ward-agent's decisions (issue #14 item 3): a denial that an MFA
//! check made now would turn into an allow is `MfaRequired` (and nothing
//! else is); `verify_mfa` checks the code only then, decides again with
//! the time of the check, and issues a ticket that `authorize` honours
//! once, for that login only (user, account, service, source), for a
//! bounded time; a stale check, an unknown, used or another login's
//! ticket give no MFA; malformed tickets and codes are
//! refused. The code check (ward-ca's route) is a closure here; the real
//! route is covered by `ca/tests/host_mfa.rs` and `cli/tests/pam_mfa.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::cell::Cell;

use support::*;
use ward_agent::decide::{Decider, MFA_TICKET_SECONDS};
use ward_protocol::agent::{
    AuthorizeRequest, MfaAnswer, MfaOutcome, Outcome, Response, Secret, VerifyMfaRequest,
};
use ward_protocol::host::Snapshot;

/// `host:Login` as oneself with MFA checked in the last `max_age` s.
fn login_with_mfa(max_age: u32) -> String {
    statement(
        "Allow",
        "host:Login",
        "arn:ward:host::*:host/*",
        Some(
            r#"{"StringEquals":{"host:Principal":"${ward:username}"},
                "Bool":{"ward:MultiFactorAuthPresent":"true"},
                "NumericLessThan":{"ward:MultiFactorAuthAge":"MAX"}}"#
                .replace("MAX", &max_age.to_string())
                .as_str(),
        ),
    )
}

/// alice: login without MFA (ops); bob: only with MFA of the last hour;
/// carol: with MFA of the last 120 s, and an explicit Deny from
/// 10.0.0.0/8.
fn snapshot() -> Snapshot {
    let mut s = base_snapshot();
    let mut bob = user("AIDABOB00000000000002", "bob", 200001, &[]);
    bob.inline_policies = vec![login_with_mfa(3600)];
    let mut carol = user("AIDACAROL0000000003", "carol", 200002, &[]);
    carol.inline_policies = vec![
        login_with_mfa(120),
        statement(
            "Deny",
            "host:Login",
            "*",
            Some(r#"{"IpAddress":{"ward:SourceIp":"10.0.0.0/8"}}"#),
        ),
    ];
    s.users.retain(|u| u.name == "alice");
    s.users.push(bob);
    s.users.push(carol);
    s
}

fn req(user: &str, source: Option<&str>, ticket: Option<&str>) -> AuthorizeRequest {
    AuthorizeRequest {
        action: "host:Login".into(),
        user: user.into(),
        principal: user.into(),
        service: "sshd".into(),
        source_ip: source.map(str::to_owned),
        auth_method: "password".into(),
        mfa_ticket: ticket.map(str::to_owned),
    }
}

fn outcome(r: &Response) -> Outcome {
    match r {
        Response::Decision { outcome, .. } => *outcome,
        other => panic!("not a decision: {other:?}"),
    }
}

fn mfa(r: Response) -> MfaAnswer {
    match r {
        Response::Mfa(a) => a,
        other => panic!("not an MFA answer: {other:?}"),
    }
}

fn verify(
    d: &Decider,
    user: &str,
    source: Option<&str>,
    now: i64,
    calls: &Cell<u32>,
    result: Result<i64, (MfaOutcome, String)>,
) -> MfaAnswer {
    let r = VerifyMfaRequest {
        request: req(user, source, None),
        code: Secret("123456".into()),
        rhost: source.map(str::to_owned),
    };
    mfa(d.verify_mfa(&r, now, |u, code, rhost| {
        calls.set(calls.get() + 1);
        assert_eq!((u, code, rhost), (user, "123456", source));
        result
    }))
}

#[test]
fn mfa_required_only_when_mfa_would_allow() {
    let (sh, rec) = shared(Some(snapshot()), now(), 3600);
    let d = Decider::new(sh);
    let t = now();
    assert_eq!(
        outcome(&d.authorize(&req("alice", None, None), t)),
        Outcome::Allowed
    );
    let r = d.authorize(&req("bob", None, None), t);
    assert_eq!(outcome(&r), Outcome::MfaRequired, "{r:?}");
    // carol needs MFA from elsewhere, and no code helps from 10/8.
    assert_eq!(
        outcome(&d.authorize(&req("carol", Some("192.0.2.1"), None), t)),
        Outcome::MfaRequired
    );
    assert_eq!(
        outcome(&d.authorize(&req("carol", Some("10.1.2.3"), None), t)),
        Outcome::Denied
    );
    // bob as someone else: no statement would allow it, MFA or not.
    let mut other = req("bob", None, None);
    other.principal = "root".into();
    assert_eq!(outcome(&d.authorize(&other, t)), Outcome::Denied);
    // Recorded as denials (MfaRequired is not an allow).
    let ev = rec.events();
    assert_eq!(ev.len(), 5);
    assert_eq!(ev.iter().filter(|e| e.allowed).count(), 1);
}

#[test]
fn a_right_code_gives_a_ticket_for_that_user_for_a_while() {
    let (sh, rec) = shared(Some(snapshot()), now(), 3600);
    let d = Decider::new(sh);
    let t = now();
    let calls = Cell::new(0);

    // Not needed (alice) or denied whatever the code (carol from 10/8):
    // the code is not sent to ward-ca.
    let a = verify(&d, "alice", None, t, &calls, Ok(t));
    assert_eq!(
        (a.outcome, a.ticket.is_none()),
        (MfaOutcome::NotNeeded, true)
    );
    let a = verify(&d, "carol", Some("10.1.2.3"), t, &calls, Ok(t));
    assert_eq!((a.outcome, a.ticket.is_none()), (MfaOutcome::Denied, true));
    assert_eq!(calls.get(), 0);

    // ward-ca refuses the code: no ticket, its outcome.
    for o in [
        MfaOutcome::Wrong,
        MfaOutcome::Throttled,
        MfaOutcome::Unavailable,
    ] {
        let a = verify(&d, "bob", None, t, &calls, Err((o, "no".into())));
        assert_eq!((a.outcome, a.ticket.is_none()), (o, true));
    }
    // A check too old for the policy's MultiFactorAuthAge: denied.
    let a = verify(&d, "carol", Some("192.0.2.1"), t, &calls, Ok(t - 1000));
    assert_eq!((a.outcome, a.ticket.is_none()), (MfaOutcome::Denied, true));
    assert_eq!(calls.get(), 4);

    // A right code: a ticket, and the final decision recorded as allowed.
    let before = rec.events().len();
    let a = verify(&d, "bob", None, t, &calls, Ok(t));
    assert_eq!(a.outcome, MfaOutcome::Ok);
    let ticket = a.ticket.unwrap();
    let ev = rec.events();
    assert_eq!(ev.len(), before + 1);
    assert!(ev.last().unwrap().allowed);
    // Debug never shows the ticket.
    let shown = format!(
        "{:?}",
        mfa(Response::Mfa(MfaAnswer {
            outcome: MfaOutcome::Ok,
            ticket: Some(ticket.clone()),
            reason: None,
        }))
    );
    assert!(!shown.contains(&ticket), "{shown}");

    // The account stage with the ticket: allowed once within the
    // ticket's life (bob's policy takes an hour-old check), not after.
    let with = req("bob", None, Some(&ticket));
    assert_eq!(
        outcome(&d.authorize(&with, t + MFA_TICKET_SECONDS - 1)),
        Outcome::Allowed
    );
    let a = verify(&d, "bob", None, t, &calls, Ok(t));
    let late = req("bob", None, Some(a.ticket.as_deref().unwrap()));
    assert_eq!(
        outcome(&d.authorize(&late, t + MFA_TICKET_SECONDS)),
        Outcome::MfaRequired
    );
    // Expired is gone: not honoured later either (time going back).
    assert_eq!(outcome(&d.authorize(&late, t)), Outcome::MfaRequired);

    // Another user's ticket, an unknown one: no MFA.
    let a = verify(&d, "carol", Some("192.0.2.1"), t, &calls, Ok(t));
    let carols = a.ticket.unwrap();
    assert_eq!(
        outcome(&d.authorize(&req("bob", None, Some(&carols)), t)),
        Outcome::MfaRequired
    );
    assert_eq!(
        outcome(&d.authorize(&req("bob", None, Some(&"0".repeat(32))), t)),
        Outcome::MfaRequired
    );
    // carol's own: allowed while her policy takes the check's age (120 s);
    // a ticket used when the check is too old gives MFA again.
    let with = req("carol", Some("192.0.2.1"), Some(&carols));
    assert_eq!(outcome(&d.authorize(&with, t + 100)), Outcome::Allowed);
    let a = verify(&d, "carol", Some("192.0.2.1"), t, &calls, Ok(t));
    let with = req(
        "carol",
        Some("192.0.2.1"),
        Some(a.ticket.as_deref().unwrap()),
    );
    assert_eq!(outcome(&d.authorize(&with, t + 200)), Outcome::MfaRequired);
}

/// A ticket is honoured once, and only for the login it was issued for:
/// the same user, local account, service and source address. Copied into
/// another login it gives no MFA (and stays good for its own login);
/// replayed after use it gives no MFA.
#[test]
fn a_ticket_is_single_use_and_bound_to_its_login() {
    let (sh, _) = shared(Some(snapshot()), now(), 3600);
    let d = Decider::new(sh);
    let t = now();
    let calls = Cell::new(0);
    let src = Some("192.0.2.1");
    let a = verify(&d, "bob", src, t, &calls, Ok(t));
    assert_eq!(a.outcome, MfaOutcome::Ok);
    let ticket = a.ticket.unwrap();
    let tk = Some(ticket.as_str());

    // Copied into other logins: from another address, with no address,
    // for another PAM service, for another local account.
    assert_eq!(
        outcome(&d.authorize(&req("bob", Some("192.0.2.99"), tk), t)),
        Outcome::MfaRequired
    );
    assert_eq!(
        outcome(&d.authorize(&req("bob", None, tk), t)),
        Outcome::MfaRequired
    );
    let mut other_service = req("bob", src, tk);
    other_service.service = "login".into();
    assert_eq!(
        outcome(&d.authorize(&other_service, t)),
        Outcome::MfaRequired
    );
    let mut other_account = req("bob", src, tk);
    other_account.principal = "root".into();
    assert_eq!(outcome(&d.authorize(&other_account, t)), Outcome::Denied);

    // Its own login: honoured, once.
    assert_eq!(
        outcome(&d.authorize(&req("bob", src, tk), t)),
        Outcome::Allowed
    );
    assert_eq!(
        outcome(&d.authorize(&req("bob", src, tk), t)),
        Outcome::MfaRequired
    );
}

#[test]
fn malformed_tickets_and_codes_are_refused() {
    let (sh, _) = shared(Some(snapshot()), now(), 3600);
    let d = Decider::new(sh);
    let t = now();
    for bad in [
        "",
        "abc",
        &"A".repeat(32),
        &"0".repeat(33),
        "0123456789abcdef0123456789abcdeg",
    ] {
        let r = d.authorize(&req("bob", None, Some(bad)), t);
        assert!(
            matches!(&r, Response::Error { code, .. } if code == "malformed"),
            "{bad:?}: {r:?}"
        );
    }
    for code in ["", "12345", "1234567", "12a456", "１２３４５６"] {
        let r = VerifyMfaRequest {
            request: req("bob", None, None),
            code: Secret(code.into()),
            rhost: None,
        };
        let called = Cell::new(false);
        let a = d.verify_mfa(&r, t, |_, _, _| {
            called.set(true);
            Ok(t)
        });
        assert!(
            matches!(&a, Response::Error { code, .. } if code == "malformed"),
            "{code:?}: {a:?}"
        );
        assert!(!called.get());
    }
    let r = VerifyMfaRequest {
        request: req("bob", None, None),
        code: Secret("123456".into()),
        rhost: Some("evil\nhost".into()),
    };
    assert!(matches!(
        d.verify_mfa(&r, t, |_, _, _| Ok(t)),
        Response::Error { .. }
    ));
}
