//! Why a command failed, and the exit code that says whose fault it is
//! (issue #3 item 8): 1 the server refused (with an error body, or by
//! refusing our client certificate in the TLS handshake) or answered
//! something unexpected, 2 bad usage or local input, 3 ward-ca could not be reached.
//!
//! Messages never contain a secret: configuration errors name the file,
//! line and key, never the value.

use std::fmt;

use ward_protocol::api::ErrorDetail;

/// Exit code for a refusal by the server (or an unexpected answer).
pub(crate) const EXIT_API: u8 = 1;
/// Exit code for bad flags or unusable local input (clap uses 2 as well).
pub(crate) const EXIT_USAGE: u8 = 2;
/// Exit code for connection and TLS failures.
pub(crate) const EXIT_UNREACHABLE: u8 = 3;

/// A failed command.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Bad flags, a missing or malformed configuration, an unreadable file.
    Usage(String),
    /// ward-ca answered with an error body.
    Api {
        /// The server's error.
        error: ErrorDetail,
    },
    /// The connection or the TLS handshake failed.
    Unreachable(String),
    /// ward-ca refused our client certificate in the TLS handshake (it
    /// could not answer with an error body): a refusal, not an outage.
    CertificateRefused(String),
    /// The server answered something that is not ward's API, or a local
    /// step after the call failed.
    Unexpected(String),
}

impl Failure {
    /// The process exit code for this failure.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Failure::Usage(_) => EXIT_USAGE,
            Failure::Api { .. } | Failure::Unexpected(_) | Failure::CertificateRefused(_) => {
                EXIT_API
            }
            Failure::Unreachable(_) => EXIT_UNREACHABLE,
        }
    }

    /// A usage failure.
    pub(crate) fn usage(msg: impl Into<String>) -> Failure {
        Failure::Usage(msg.into())
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Api { error, .. } => {
                write!(f, "{}: {}", error.code, error.message)?;
                if let Some(field) = &error.field {
                    write!(f, " (field: {field})")?;
                }
                Ok(())
            }
            Failure::Usage(m)
            | Failure::Unreachable(m)
            | Failure::Unexpected(m)
            | Failure::CertificateRefused(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Failure {}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn display_and_codes() {
        let api = |field: Option<&str>| Failure::Api {
            error: ErrorDetail {
                code: "NoSuchEntity".into(),
                message: "user bob does not exist".into(),
                field: field.map(str::to_owned),
            },
        };
        for (f, text, code) in [
            (api(None), "NoSuchEntity: user bob does not exist", EXIT_API),
            (
                api(Some("name")),
                "NoSuchEntity: user bob does not exist (field: name)",
                EXIT_API,
            ),
            (Failure::usage("bad"), "bad", EXIT_USAGE),
            (
                Failure::Unreachable("down".into()),
                "down",
                EXIT_UNREACHABLE,
            ),
            (Failure::Unexpected("odd".into()), "odd", EXIT_API),
            (Failure::CertificateRefused("no".into()), "no", EXIT_API),
        ] {
            assert_eq!(f.to_string(), text);
            assert_eq!(f.exit_code(), code);
        }
    }
}
