//! `ward login` (password → temporary credentials stored in the profile)
//! and `ward whoami`.

use std::io::{BufRead, IsTerminal, Read};
use std::process::ExitCode;

use clap::Args;
use ward_protocol::api;

use crate::client::{Client, Method};
use crate::config::{self, Credentials, Need, OutputFormat, Secret};
use crate::ctx::{body, typed, Ctx, Done};
use crate::error::Failure;
use crate::output::{self, fields};

/// Longest password accepted (ward-ca's own limit is 1,024 bytes).
const MAX_PASSWORD: u64 = 4096;

#[derive(Args, Debug)]
pub(crate) struct LoginArgs {
    /// The ward user name (default: $USER).
    #[arg(long)]
    user: Option<String>,
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
    let req = api::LoginRequest {
        user_name: user.clone(),
        password,
    };
    let v = client
        .call(Method::Post, &["login"], &[], body(&req)?)?
        .ok_or_else(|| {
            Failure::Unexpected("the server answered login with no credentials".into())
        })?;
    let c: api::Credentials = typed(&v)?;
    let creds = Credentials {
        access_key_id: c.access_key_id.clone(),
        secret_access_key: Secret::new(c.secret_access_key),
        session_token: Some(Secret::new(c.session_token)),
    };
    let path = config::store_credentials(&ctx.env, &settings.profile, &creds)?;
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
