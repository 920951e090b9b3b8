//! `ward mfa …`: virtual MFA devices (RFC 6238 TOTP, 6 digits, 30 s).
//! `create` prints the device's seed and its `otpauth://` URI once (type
//! the seed into an authenticator app, or paste the URI into one; ward
//! draws no QR code); `enable` needs two consecutive codes; `resync` two
//! consecutive codes of a device whose clock drifted. Without `--user`,
//! the current credentials' own user.

use std::io::{BufRead, IsTerminal, Read};

use clap::Subcommand;
use ward_protocol::api;

use crate::client::Method;
use crate::ctx::{body, Ctx, Done};
use crate::error::Failure;
use crate::output::table;
use crate::sessions::user_or_self;

#[derive(Subcommand, Debug)]
pub(crate) enum MfaCommand {
    /// Create a virtual device; prints its seed and otpauth:// URI once.
    Create {
        /// Device name (letters, digits and +=,.@_-; at most 64).
        name: String,
    },
    /// Enable a device for a user with two consecutive codes.
    Enable {
        /// The device's serial (arn:ward:iam::ACCT:mfa/NAME) or name.
        #[arg(long)]
        serial: String,
        /// A current code.
        #[arg(long)]
        code1: String,
        /// The code after it (wait for the next 30-second step).
        #[arg(long)]
        code2: String,
        /// User name (default: the current credentials' user).
        #[arg(long)]
        user: Option<String>,
    },
    /// List a user's MFA devices.
    List {
        /// User name (default: the current credentials' user).
        #[arg(long)]
        user: Option<String>,
    },
    /// Deactivate a user's device (it can then be deleted or re-enabled).
    Deactivate {
        /// The device's serial or name.
        #[arg(long)]
        serial: String,
        /// User name (default: the current credentials' user).
        #[arg(long)]
        user: Option<String>,
    },
    /// Resynchronise a device whose clock drifted, with two consecutive codes.
    Resync {
        /// The device's serial or name.
        #[arg(long)]
        serial: String,
        /// A current code of the device.
        #[arg(long)]
        code1: String,
        /// The code after it.
        #[arg(long)]
        code2: String,
        /// User name (default: the current credentials' user).
        #[arg(long)]
        user: Option<String>,
    },
    /// Delete a device that is not enabled for anyone.
    Delete {
        /// The device's serial or name.
        #[arg(long)]
        serial: String,
    },
}

/// The device name in a serial `arn:ward:iam::ACCT:mfa/NAME` (a bare name
/// is taken as is).
fn device_name(serial: &str) -> &str {
    match serial.split_once(":mfa/") {
        Some((_, name)) => name,
        None => serial,
    }
}

/// A full serial: as given, or built from a bare name and the caller's
/// account (from whoami).
fn full_serial(api: &crate::ctx::Api, serial: &str) -> Result<String, Failure> {
    if serial.starts_with("arn:") {
        return Ok(serial.to_owned());
    }
    let v = api.get(&["whoami"], &[])?;
    let me: api::CallerIdentity = serde_json::from_value(v)
        .map_err(|e| Failure::usage(format!("unexpected whoami answer: {e}")))?;
    Ok(format!("arn:ward:iam::{}:mfa/{serial}", me.account))
}

/// Asks for an MFA code: without echo on a terminal, else the next line
/// of standard input.
pub(crate) fn prompt_code() -> Result<String, Failure> {
    let code = if std::io::stdin().is_terminal() {
        rpassword::prompt_password("MFA code: ")
            .map_err(|e| Failure::usage(format!("reading the MFA code: {e}")))?
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .take(64)
            .read_line(&mut line)
            .map_err(|e| Failure::usage(format!("reading the MFA code: {e}")))?;
        line
    };
    Ok(code.trim().to_owned())
}

pub(crate) fn run(cmd: MfaCommand, ctx: &Ctx) -> Done {
    let api = ctx.api()?;
    match cmd {
        MfaCommand::Create { name } => {
            let req = api::CreateVirtualMfaDevice {
                virtual_mfa_device_name: name,
            };
            let v = api.send_for_json(Method::Post, &["mfa-devices"], body(&req)?)?;
            api.show(&v, |d: &api::VirtualMfaDevice| {
                format!(
                    "serial:  {}\nseed:    {}\nuri:     {}\n\
                     The seed is shown once: add it to an authenticator app now, then\n\
                     ward mfa enable --serial {} --code1 CODE --code2 NEXT-CODE\n",
                    d.serial_number, d.base32_string_seed, d.otpauth_uri, d.serial_number
                )
            })
        }
        MfaCommand::Enable {
            serial,
            code1,
            code2,
            user,
        } => {
            let user = user_or_self(&api, user)?;
            let req = api::EnableMfaDevice {
                serial_number: full_serial(&api, &serial)?,
                authentication_code1: code1,
                authentication_code2: code2,
            };
            let v =
                api.send_for_json(Method::Post, &["users", &user, "mfa-devices"], body(&req)?)?;
            api.show(&v, |d: &api::MfaDevice| {
                format!("enabled {} for user {}\n", d.serial_number, d.user_name)
            })
        }
        MfaCommand::List { user } => {
            let user = user_or_self(&api, user)?;
            let v = api.get(&["users", &user, "mfa-devices"], &[])?;
            api.show(&v, |l: &api::MfaDeviceList| {
                let rows: Vec<Vec<String>> = l
                    .mfa_devices
                    .iter()
                    .map(|d| {
                        vec![
                            d.user_name.clone(),
                            d.serial_number.clone(),
                            d.enable_date.clone(),
                        ]
                    })
                    .collect();
                table(&["user", "serial", "enabled"], &rows)
            })
        }
        MfaCommand::Deactivate { serial, user } => {
            let user = user_or_self(&api, user)?;
            let name = device_name(&serial);
            let v = api.send(
                Method::Delete,
                &["users", &user, "mfa-devices", name],
                &[],
                None,
            )?;
            api.done(v, format!("deactivated MFA device {name} of user {user}"))
        }
        MfaCommand::Resync {
            serial,
            code1,
            code2,
            user,
        } => {
            let user = user_or_self(&api, user)?;
            let name = device_name(&serial);
            let req = api::ResyncMfaDevice {
                authentication_code1: code1,
                authentication_code2: code2,
            };
            let v = api.send(
                Method::Post,
                &["users", &user, "mfa-devices", name, "resync"],
                &[],
                body(&req)?,
            )?;
            api.done(v, format!("resynchronised MFA device {name}"))
        }
        MfaCommand::Delete { serial } => {
            let name = device_name(&serial);
            let v = api.send(Method::Delete, &["mfa-devices", name], &[], None)?;
            api.done(v, format!("deleted MFA device {name}"))
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn device_names_from_serials() {
        assert_eq!(super::device_name("arn:ward:iam::123:mfa/phone"), "phone");
        assert_eq!(super::device_name("phone"), "phone");
    }
}
