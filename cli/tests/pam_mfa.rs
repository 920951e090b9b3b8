//! Issue #14 item 3, MFA required by policy at PAM, every component real:
//! `ward-ca serve --dev`, the `ward` CLI (`ward mfa create|enable`),
//! `ward-agent join`/`run`, pam_ward loaded by the real libpam
//! (`pamtester`) and codes computed by the real `oathtool` from the seed
//! `ward mfa create` printed.
//!
//! The stack (a dedicated `ward-test-mfa` service in a private /etc):
//! `auth requisite pam_ward.so` (the ward password), `auth required
//! pam_ward.so mfa` (the code, only when the decision needs one),
//! `account required pam_ward.so` (host:Login with the MFA ticket the auth
//! stage left in the PAM environment).
//!
//! alice's only `host:Login` grant needs `ward:MultiFactorAuthPresent`;
//! bob's does not. alice without a code, with a wrong code and with a
//! replayed code is refused; with the right code she gets in; her account
//! stage alone (no code) is denied; bob is never asked for a code.
//!
//! With the real sshd (UsePAM, keyboard-interactive only, the same stack
//! as its `sshd` service in the private /etc) and stock ssh: the ticket
//! reaches the account stage, never the session's environment, is single
//! use and bound to its login (see the test's own doc).
//!
//! Each test re-runs itself inside a private mount namespace (as
//! `pam_finish.rs`): a tmpfs over /run, a private copy of /etc.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/agent.rs"]
mod agent;
#[path = "support/harness.rs"]
mod harness;
#[path = "support/pam.rs"]
mod pam;
#[path = "../../ca/tests/sshd/mod.rs"]
mod sshd;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use agent::s;
use harness::{json, Scratch};
use pam::{
    build_host_side, in_namespace, pamtester, pamtester_with, until, AgentHost, Namespace, PW,
};

const INNER: &str = "WARD_PAM_MFA_INNER";
const PROMPT: &str = "ward MFA code";

/// The TOTP code of `seed` (base32) at time step `step`, from oathtool.
fn oathtool(seed: &str, step: i64) -> String {
    let out = Command::new("oathtool")
        .args(["--totp", "-b", "-N", &format!("@{}", step * 30)])
        .arg(seed)
        .output()
        .unwrap();
    assert!(out.status.success(), "oathtool: {}", sshd::text(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn step_now() -> i64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    i64::try_from(t).unwrap() / 30
}

/// host:Login as oneself, only with MFA checked in the last 10 minutes.
const LOGIN_MFA: &str = r#"{"Version":"2012-10-17","Statement":[
    {"Effect":"Allow","Action":"host:Login","Resource":"arn:ward:host::*:host/*",
     "Condition":{"StringLike":{"host:Principal":"${ward:username}"},
                  "Bool":{"ward:MultiFactorAuthPresent":"true"},
                  "NumericLessThan":{"ward:MultiFactorAuthAge":"600"}}}]}"#;
/// host:Login as oneself.
const LOGIN: &str = r#"{"Version":"2012-10-17","Statement":[
    {"Effect":"Allow","Action":"host:Login","Resource":"arn:ward:host::*:host/*",
     "Condition":{"StringLike":{"host:Principal":"${ward:username}"}}}]}"#;

/// A namespace with ward-ca (alice in `mfa-ops`, bob in `ops`, both with
/// password [`PW`]; alice has an enabled MFA device) and an enrolled,
/// running agent; the `ward-test-mfa` PAM service.
struct Host {
    agent: AgentHost,
    /// alice's seed (base32) and the last step her device has used.
    seed: String,
    used: i64,
}

impl std::ops::Deref for Host {
    type Target = AgentHost;
    fn deref(&self) -> &AgentHost {
        &self.agent
    }
}

impl Host {
    fn setup(name: &str, stack: &str) -> Host {
        Host::setup_with(name, "", &[("pam.d/ward-test-mfa", stack)])
    }

    /// [`Host::setup`] with `passwd_lines` appended to the private
    /// /etc/passwd and these files (name under /etc, contents) in it.
    fn setup_with(name: &str, passwd_lines: &str, files: &[(&str, &str)]) -> Host {
        let ns = Namespace::new(name, passwd_lines, "", files);
        for (group, doc, user) in [("mfa-ops", LOGIN_MFA, "alice"), ("ops", LOGIN, "bob")] {
            ns.w(&["group", "create", group]);
            let path = ns.dir.write(&format!("{group}.json"), doc);
            ns.w(&["policy", "create", group, "--document", s(&path)]);
            ns.w(&["policy", "attach", group, "--group", group]);
            ns.w(&["user", "create", user]);
            ns.w(&["group", "add-user", group, user]);
            ns.set_password(user);
        }
        let created = json(&ns.w(&["--output", "json", "mfa", "create", "alice-phone"]));
        let seed = created["base32StringSeed"].as_str().unwrap().to_owned();
        let used = step_now();
        ns.w(&[
            "mfa",
            "enable",
            "--serial",
            "alice-phone",
            "--code1",
            &oathtool(&seed, used - 1),
            "--code2",
            &oathtool(&seed, used),
            "--user",
            "alice",
        ]);
        Host {
            agent: ns.enrol(&[], ""),
            seed,
            used,
        }
    }
}

fn login(user: &str, input: &[&str]) -> (bool, String) {
    let out = pamtester("ward-test-mfa", user, &["authenticate", "acct_mgmt"], input);
    (out.status.success(), sshd::text(&out))
}

#[test]
fn pam_asks_for_an_mfa_code_when_the_policy_needs_one() {
    if !in_namespace(
        "pam_asks_for_an_mfa_code_when_the_policy_needs_one",
        INNER,
        &["pamtester", "oathtool"],
    ) {
        return;
    }
    let (_, so) = build_host_side();
    let so = s(&so);
    let stack = format!(
        "auth     requisite {so} timeout=30\n\
         auth     required  {so} mfa timeout=30\n\
         account  required  {so} timeout=30\n"
    );
    let h = Host::setup("pam-mfa", &stack);
    let wrong = "000000";

    // bob's grant needs no MFA: never asked, let in.
    let (ok, out) = login("bob", &[PW]);
    assert!(ok, "bob: {out}");
    assert!(!out.contains(PROMPT), "bob was asked for a code: {out}");

    // alice: the password, then the code prompt. No code (end of input),
    // a wrong code, a code that is not six digits: refused.
    let (ok, out) = login("alice", &[PW]);
    assert!(!ok, "alice without a code: {out}");
    assert!(out.contains(PROMPT), "alice was not asked: {out}");
    let (ok, out) = login("alice", &[PW, wrong]);
    assert!(!ok, "alice with a wrong code: {out}");
    let (ok, out) = login("alice", &[PW, "12ab56"]);
    assert!(!ok, "alice with a malformed code: {out}");
    // The account stage alone (no auth stage, so no ticket): denied.
    let out = pamtester("ward-test-mfa", "alice", &["acct_mgmt"], &[]);
    assert!(
        !out.status.success(),
        "alice's account alone: {}",
        sshd::text(&out)
    );
    assert!(
        sshd::text(&out).contains("MFA"),
        "the denial does not say why: {}",
        sshd::text(&out)
    );

    // The right code (of the current step, or the next one while the
    // enabling codes' step lasts): in.
    let good = oathtool(&h.seed, step_now().max(h.used + 1));
    assert_ne!(good, wrong);
    let (ok, out) = login("alice", &[PW, &good]);
    assert!(ok, "alice with the right code: {out}\n{}", h.agent_log());
    assert!(out.contains(PROMPT), "{out}");
    // The same code again: refused (single use).
    let (ok, out) = login("alice", &[PW, &good]);
    assert!(!ok, "alice replaying the code: {out}");

    // ward-ca checked the codes: one accepted, the wrong and the replayed
    // one refused (the malformed one never left the host), all by web-01.
    let ev = h.audit("host:VerifyMfa");
    let by = |d: &str| ev.iter().filter(|e| e["decision"] == d).count();
    assert_eq!((by("Allowed"), by("Failed")), (1, 2), "{ev:?}");
    assert!(
        ev.iter()
            .all(|e| e["principal"].as_str().unwrap().ends_with(":host/web-01")),
        "{ev:?}"
    );
}

impl Host {
    /// A code of alice's device for a step it has not used yet (the step
    /// after the last used one, or the current one), waiting for the
    /// clock when that step is further ahead than ward-ca's window; marks
    /// the step used (the caller spends the code).
    fn fresh_code(&mut self) -> String {
        let step = (self.used + 1).max(step_now());
        // ward-ca takes a step within one of the current one.
        assert!(
            until(Duration::from_secs(40), || step_now() + 1 >= step),
            "the clock did not reach step {step}"
        );
        self.used = step;
        oathtool(&self.seed, step)
    }
}

/// `ssh alice@127.0.0.1 -p PORT env` by keyboard-interactive only, with
/// the askpass helper `askpass` (which answers `Password:` with [`PW`] and
/// the MFA prompt with the code the test wrote for it).
fn ssh_env(port: u16, askpass: &Path) -> Output {
    let mut cmd = Command::new("timeout");
    cmd.args(["60", "ssh", "-F", "/dev/null"]);
    for opt in [
        "PreferredAuthentications=keyboard-interactive",
        "PubkeyAuthentication=no",
        "PasswordAuthentication=no",
        "KbdInteractiveAuthentication=yes",
        "NumberOfPasswordPrompts=1",
        "IdentityAgent=none",
        "UserKnownHostsFile=/dev/null",
        "GlobalKnownHostsFile=/dev/null",
        "StrictHostKeyChecking=no",
        "UpdateHostKeys=no",
        "BatchMode=no",
        "ConnectTimeout=10",
        "ControlMaster=no",
        "ControlPath=none",
        "LogLevel=ERROR",
    ] {
        cmd.args(["-o", opt]);
    }
    cmd.args(["-p", &port.to_string(), "alice@127.0.0.1", "env"])
        .env("SSH_ASKPASS", askpass)
        .env("SSH_ASKPASS_REQUIRE", "force")
        .env("DISPLAY", ":0")
        .stdin(Stdio::null());
    let out = cmd.output().unwrap();
    assert_ne!(
        out.status.code(),
        Some(124),
        "ssh hung: {}",
        sshd::text(&out)
    );
    out
}

/// The ticket through the real sshd (UsePAM, keyboard-interactive only,
/// stock ssh with an askpass helper typing the password and an oathtool
/// code): sshd runs `authenticate` and `acct_mgmt` in its
/// keyboard-interactive child and copies that handle's PAM environment
/// back before the session, so the account stage must take the ticket
/// out (the stack has no pam_ward session line, so nothing later would).
/// alice gets in with the right code and her session's `env` has no
/// WARD_MFA_TICKET; a wrong code and the replayed right code are refused.
/// A real ticket captured after `authenticate` (pam_exec dumps the PAM
/// environment) and copied by hand (`pamtester -E`) into other logins —
/// another source address, another PAM service — is refused; in its own
/// login it is honoured once, then refused.
#[test]
fn mfa_ticket_through_real_sshd_is_single_use_and_never_in_the_session() {
    if !in_namespace(
        "mfa_ticket_through_real_sshd_is_single_use_and_never_in_the_session",
        INNER,
        &["pamtester", "oathtool", "ssh"],
    ) {
        return;
    }
    let (_, so) = build_host_side();
    let so = s(&so);
    let scratch = Scratch::new("pam-mfa-sshd-files");
    // alice's local account for sshd (the agent's passwd copy is the
    // machine's, without her).
    let home = scratch.path("alice-home");
    std::fs::create_dir_all(&home).unwrap();
    let _ = Command::new("chown")
        .args(["61001:61001", s(&home)])
        .status();
    let passwd = format!("alice:x:61001:61001:alice:{}:/bin/sh\n", s(&home));
    let ticket_file = scratch.path("ticket");
    let dump = scratch.write(
        "dump-ticket.sh",
        &format!(
            "#!/bin/sh\nprintf '%s' \"$WARD_MFA_TICKET\" > {}\n",
            s(&ticket_file)
        ),
    );
    std::fs::set_permissions(&dump, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let auth = format!(
        "auth     requisite {so} timeout=30\n\
         auth     required  {so} mfa timeout=30\n"
    );
    let account = format!("account  required  {so} timeout=30\n");
    let sshd_stack = format!(
        "{auth}{account}\
         password required  pam_deny.so\n\
         session  required  pam_permit.so\n"
    );
    let steal_stack = format!(
        "{auth}auth     optional  pam_exec.so quiet {dump}\n{account}",
        dump = s(&dump)
    );
    let mut h = Host::setup_with(
        "pam-mfa-sshd",
        &passwd,
        &[
            ("pam.d/sshd", &sshd_stack),
            ("pam.d/ward-test-mfa", &format!("{auth}{account}")),
            ("pam.d/ward-test-steal", &steal_stack),
        ],
    );
    let server = sshd::Sshd::start(
        "UsePAM yes\n\
         KbdInteractiveAuthentication yes\n\
         AuthenticationMethods keyboard-interactive\n\
         PermitUserEnvironment no\n",
    );
    let code_file = scratch.path("code");
    let askpass = scratch.write(
        "askpass.sh",
        &format!(
            "#!/bin/sh\ncase \"$1\" in\n  *MFA*) cat {code} ;;\n  *assword*) printf '%s\\n' '{PW}' ;;\n  *) exit 1 ;;\nesac\n",
            code = s(&code_file)
        ),
    );
    std::fs::set_permissions(
        &askpass,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let login = |code: &str| {
        std::fs::write(&code_file, format!("{code}\n")).unwrap();
        let out = ssh_env(server.port(), &askpass);
        (out.status.success(), sshd::text(&out))
    };

    // A wrong code: refused, no session.
    let (ok, out) = login("000000");
    assert!(!ok, "alice over ssh with a wrong code: {out}");
    assert!(!out.contains("HOME="), "{out}");

    // The right code: in. Her only grant needs MFA, so the ticket reached
    // the account stage; the session's environment does not have it.
    let good = h.fresh_code();
    let (ok, out) = login(&good);
    assert!(
        ok,
        "alice over ssh with the right code: {out}\n{}\n{}",
        server.log(),
        h.agent_log()
    );
    assert!(out.contains("USER=alice"), "no env output: {out}");
    assert!(
        !out.contains("WARD_MFA_TICKET"),
        "the MFA ticket leaked into the session: {out}"
    );
    // The same code again: refused (single-use codes).
    let (ok, out) = login(&good);
    assert!(!ok, "alice replaying the code over ssh: {out}");

    // A real ticket, captured right after `authenticate`.
    let code = h.fresh_code();
    let out = pamtester("ward-test-steal", "alice", &["authenticate"], &[PW, &code]);
    assert!(out.status.success(), "authenticate: {}", sshd::text(&out));
    let ticket = std::fs::read_to_string(&ticket_file).unwrap();
    assert_eq!(ticket.len(), 32, "no ticket captured: {ticket:?}");
    let env = format!("WARD_MFA_TICKET={ticket}");
    let account = |opts: &[&str], service: &str| {
        let mut all = vec!["-E", env.as_str()];
        all.extend_from_slice(opts);
        pamtester_with(&all, service, "alice", &["acct_mgmt"], &[])
    };
    // Copied into a login from another address, and into another service.
    let out = account(&["-I", "rhost=192.0.2.7"], "ward-test-steal");
    assert!(
        !out.status.success(),
        "from elsewhere: {}",
        sshd::text(&out)
    );
    assert!(sshd::text(&out).contains("MFA"), "{}", sshd::text(&out));
    let out = account(&[], "ward-test-mfa");
    assert!(!out.status.success(), "other service: {}", sshd::text(&out));
    // Its own login: once.
    let out = account(&[], "ward-test-steal");
    assert!(out.status.success(), "own login: {}", sshd::text(&out));
    let out = account(&[], "ward-test-steal");
    assert!(
        !out.status.success(),
        "ticket replayed: {}",
        sshd::text(&out)
    );
    assert!(sshd::text(&out).contains("MFA"), "{}", sshd::text(&out));
}
