//! `ward login` (password → temporary credentials stored in the profile),
//! `ward whoami`, and `ward change-password` (the caller's own password).

use std::io::{BufRead, IsTerminal, Read};
use std::process::ExitCode;

use clap::Args;
use ward_protocol::api;

use crate::client::{Client, Method};
use crate::config::{self, Credentials, Need, OutputFormat, Secret};
use crate::ctx::{body, typed, Ctx, Done};
use crate::error::Failure;
use crate::iam::read_stdin_secret;
use crate::output::{self, fields};

/// Longest password accepted (ward-ca's own limit is 1,024 bytes).
const MAX_PASSWORD: u64 = 4096;

#[derive(Args, Debug)]
pub(crate) struct LoginArgs {
    /// The ward user name (default: $USER). The MFA code, when your user
    /// has a device enabled, is the global --mfa-code (on a terminal you
    /// are asked for it if the server says so).
    #[arg(long)]
    user: Option<String>,
}

#[derive(Args, Debug)]
pub(crate) struct ChangePasswordArgs {
    /// Read the current password and then the new one, one per line, from
    /// standard input instead of prompting (the default when standard input
    /// is not a terminal).
    #[arg(long, visible_alias = "old-password-stdin")]
    passwords_stdin: bool,
}

/// The password: prompted without echo on a terminal, else the first line
/// of standard input.
fn read_password(user: &str) -> Result<String, Failure> {
    if std::io::stdin().is_terminal() {
        return rpassword::prompt_password(format!("Password for {user}: "))
            .map_err(|e| Failure::usage(format!("reading the password: {e}")));
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .take(MAX_PASSWORD + 1)
        .read_line(&mut line)
        .map_err(|e| Failure::usage(format!("reading the password: {e}")))?;
    if line.len() as u64 > MAX_PASSWORD {
        return Err(Failure::usage("the password is too long"));
    }
    let pw = line
        .strip_suffix('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .unwrap_or(&line);
    if pw.is_empty() {
        return Err(Failure::usage("no password on standard input"));
    }
    Ok(pw.to_owned())
}

pub(crate) fn login(args: LoginArgs, ctx: &Ctx) -> Done {
    let settings = ctx.settings(Need::Login)?;
    let user = match args.user.or_else(|| ctx.env.get("USER").map(str::to_owned)) {
        Some(u) => u,
        None => return Err(Failure::usage("no user name: pass --user NAME")),
    };
    let client = Client::anonymous(&settings)?;
    let password = read_password(&user)?;
    let mut req = api::LoginRequest {
        user_name: user.clone(),
        password,
        mfa_code: ctx.flags.mfa_code.clone(),
    };
    let answer = match client.call(Method::Post, &["login"], &[], body(&req)?) {
        // The user has an MFA device: ask for its code on a terminal.
        Err(Failure::Api { error })
            if error.code == "MfaRequired" && std::io::stdin().is_terminal() =>
        {
            req.mfa_code = Some(crate::mfa::prompt_code()?);
            client.call(Method::Post, &["login"], &[], body(&req)?)?
        }
        other => other?,
    };
    let v = answer.ok_or_else(|| {
        Failure::Unexpected("the server answered login with no credentials".into())
    })?;
    let c: api::Credentials = typed(&v)?;
    let creds = Credentials {
        access_key_id: c.access_key_id.clone(),
        secret_access_key: Secret::new(c.secret_access_key),
        session_token: Some(Secret::new(c.session_token)),
    };
    let path = config::store_credentials(&ctx.env, &settings.profile, &creds)?;
    // Remember where the credentials work, as `aws configure` does: a new
    // shell then needs no WARD_ENDPOINT / WARD_CA_BUNDLE (issue #8 item 7).
    config::store_settings(
        &ctx.env,
        &settings.profile,
        &config::remembered_settings(&settings),
    )?;
    match settings.output {
        OutputFormat::Json => output::print(&output::json(&serde_json::json!({
            "userName": user,
            "profile": settings.profile,
            "accessKeyId": c.access_key_id,
            "expiration": c.expiration,
            "credentialsFile": path.display().to_string(),
        }))),
        OutputFormat::Table => output::print(&format!(
            "logged in as {user}: temporary credentials {} stored in profile {} of {}\n\
             they expire at {}\n",
            c.access_key_id,
            settings.profile,
            path.display(),
            output::clean(&c.expiration)
        )),
    }
    if ctx.flags.profile.is_none() && ctx.env.get("WARD_ACCESS_KEY_ID").is_some() {
        eprintln!(
            "ward: note: WARD_ACCESS_KEY_ID is set and takes precedence over the stored \
             credentials; unset it (or pass --profile {}) to use them",
            settings.profile
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn whoami(ctx: &Ctx) -> Done {
    let api = ctx.api()?;
    let v = api.get(&["whoami"], &[])?;
    api.show(&v, |c: &api::CallerIdentity| {
        fields(&[
            ("Arn", c.arn.clone()),
            ("UserId", c.user_id.clone()),
            ("Account", c.account.clone()),
            ("AuthMethod", c.auth_method.clone()),
        ])
    })
}

/// The current and the new password: prompted without echo on a terminal
/// (the new one twice), else two lines of standard input.
fn read_password_change(from_stdin: bool) -> Result<(String, String), Failure> {
    if from_stdin || !std::io::stdin().is_terminal() {
        let text = read_stdin_secret(2 * MAX_PASSWORD + 4, "passwords")?;
        return two_lines(&text);
    }
    let prompt = |p: &str| {
        rpassword::prompt_password(p)
            .map_err(|e| Failure::usage(format!("reading the password: {e}")))
    };
    let old = prompt("Current password: ")?;
    let new = prompt("New password: ")?;
    if prompt("Retype the new password: ")? != new {
        return Err(Failure::usage("the new passwords do not match"));
    }
    if old.is_empty() || new.is_empty() {
        return Err(Failure::usage("empty password"));
    }
    Ok((old, new))
}

/// `OLD\nNEW[\n]` (CRLF too) → (old, new). Messages never quote the text.
fn two_lines(text: &str) -> Result<(String, String), Failure> {
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let (old, new) = match (lines.next(), lines.next()) {
        (Some(o), Some(n)) if !o.is_empty() && !n.is_empty() => (o, n),
        _ => {
            return Err(Failure::usage(
                "standard input must hold two lines: the current password, then the new one",
            ))
        }
    };
    if lines.any(|l| !l.is_empty()) {
        return Err(Failure::usage(
            "standard input holds more than two lines: give the current password, then the new one",
        ));
    }
    if old.len() as u64 > MAX_PASSWORD || new.len() as u64 > MAX_PASSWORD {
        return Err(Failure::usage("a password is too long"));
    }
    Ok((old.to_owned(), new.to_owned()))
}

pub(crate) fn change_password(args: ChangePasswordArgs, ctx: &Ctx) -> Done {
    // Credentials first, so that a missing profile fails before any prompt.
    let api = ctx.api()?;
    let (old_password, new_password) = read_password_change(args.passwords_stdin)?;
    let req = api::ChangePassword {
        old_password,
        new_password,
    };
    let v = api.send(Method::Post, &["change-password"], &[], body(&req)?)?;
    api.done(v, "changed your password")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn password_lines() {
        for (text, want) in [
            ("old\nnew", Some(("old", "new"))),
            ("old\r\nnew\r", Some(("old", "new"))),
            ("old\nnew\n", Some(("old", "new"))),
            ("o l d\n n e w ", Some(("o l d", " n e w "))),
            ("old", None),
            ("old\n", None),
            ("\nnew", None),
            ("old\nnew\nthird", None),
        ] {
            let got = two_lines(text).ok();
            let got = got.as_ref().map(|(o, n)| (o.as_str(), n.as_str()));
            assert_eq!(got, want, "{text:?}");
        }
        assert_eq!(two_lines("x").unwrap_err().exit_code(), 2);
    }
}
