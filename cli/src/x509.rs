//! `ward x509 …`: X.509 client certificates and ward's public X.509 CA
//! material.
//!
//! `issue` makes the key and the CSR with the real `openssl` command in a
//! private scratch directory, sends only the CSR to
//! `POST /v1/x509/client-certificates`, checks that the certificate
//! certifies that key, and saves `ward-client.key` (0600),
//! `ward-client.pem` (the leaf), `ward-client-fullchain.pem` (leaf +
//! issuing CA: what a TLS client presents, `curl --cert`) and
//! `ward-chain.pem` (issuing CA + ward's X.509 client root: what verifies
//! the leaf, `openssl verify -CAfile`, nginx `ssl_client_certificate`)
//! (issue #4 item 4, issue #8 items 5 and 6). The key never leaves the
//! machine. The client CA is not the root of ward-ca's HTTPS certificate
//! (`WARD_CA_BUNDLE`), which verifies the server only.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use clap::{Args, Subcommand, ValueEnum};
use ward_protocol::api;

use crate::client::Method;
use crate::config::OutputFormat;
use crate::ctx::{body, typed, Api, Ctx, Done};
use crate::error::Failure;
use crate::files::{self, ScratchDir, PRIVATE, PUBLIC};
use crate::output::{self, fields};
use crate::ssh::{clean_lines, public_text, save};
use crate::ttl::{self, Ttl};

/// Largest CSR read back from openssl (ward-ca's limit is 16 KiB).
const MAX_CSR: u64 = 16 * 1024;

#[derive(Subcommand, Debug)]
pub(crate) enum X509Command {
    /// Get an X.509 client certificate: make a key and CSR with openssl,
    /// have ward-ca certify it, save key, certificate and chain.
    Issue(IssueArgs),
    /// Print ward's X.509 CA certificates (issuing CAs, then roots), PEM.
    Bundle,
    /// Print or save the CRLs (one per X.509 CA key, so certificates of a
    /// rotated issuing key stay checkable), PEM.
    Crl {
        /// Where to write it (replaced atomically) [default: standard output].
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

/// The key algorithm of a client certificate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub(crate) enum KeyType {
    /// Ed25519.
    #[default]
    Ed25519,
    /// ECDSA on NIST P-256, for TLS stacks without Ed25519.
    #[value(name = "ec-p256")]
    EcP256,
}

#[derive(Args, Debug)]
pub(crate) struct IssueArgs {
    /// Certificate lifetime: seconds, or e.g. 8h, 7d [default: 24h; at
    /// most 90d, and policy may allow less (ca:ValiditySeconds)].
    #[arg(long, value_name = "DURATION", value_parser = ttl::parse)]
    ttl: Option<Ttl>,
    /// Where to write ward-client.key, ward-client.pem and ward-chain.pem
    /// [default: ~/.ward/x509].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// The key algorithm.
    #[arg(long, value_enum, default_value_t = KeyType::Ed25519)]
    key_type: KeyType,
}

pub(crate) fn run(cmd: X509Command, ctx: &Ctx) -> Done {
    match cmd {
        X509Command::Issue(a) => issue(a, ctx),
        X509Command::Bundle => {
            let text = public_text(ctx, &["ca", "x509-bundle.pem"])?;
            output::print(&clean_lines(&text));
            Ok(ExitCode::SUCCESS)
        }
        X509Command::Crl { out } => {
            let text = public_text(ctx, &["ca", "x509.crl"])?;
            if !text.contains("-----BEGIN X509 CRL-----") {
                return Err(Failure::Unexpected(
                    "the server's answer is not a PEM CRL".into(),
                ));
            }
            match out {
                Some(path) => save(&path, text.as_bytes(), "CRL"),
                None => {
                    output::print(&clean_lines(&text));
                    Ok(ExitCode::SUCCESS)
                }
            }
        }
    }
}

/// Runs `openssl ARGS` with `stdin`; its standard output. A missing or
/// failing openssl is a local problem (exit 2).
fn openssl(args: &[&str], stdin: Option<&[u8]>) -> Result<Vec<u8>, Failure> {
    use std::io::Write;
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Failure::usage(
                    "openssl is not installed: ward makes the key and the CSR locally with it",
                )
            } else {
                Failure::usage(format!("running openssl: {e}"))
            }
        })?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        let _ = pipe.write_all(input);
    }
    let out = child
        .wait_with_output()
        .map_err(|e| Failure::usage(format!("running openssl: {e}")))?;
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stderr);
        return Err(Failure::usage(format!(
            "openssl {} failed: {}",
            args.first().copied().unwrap_or_default(),
            output::clean(said.trim())
        )));
    }
    Ok(out.stdout)
}

fn path_str(p: &Path) -> Result<&str, Failure> {
    p.to_str()
        .ok_or_else(|| Failure::usage(format!("{}: not a UTF-8 path", p.display())))
}

/// `openssl req -subj` text for `/CN=name`: every character that is not
/// plainly safe is backslash-escaped (`/`, `+`, `=`, `,` are special).
fn subject(name: &str) -> String {
    let mut s = String::from("/CN=");
    for c in name.chars() {
        if !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@')) {
            s.push('\\');
        }
        s.push(c);
    }
    s
}

/// The caller's user name for the CSR's CN (ward-ca ignores it: the
/// identity goes in the URI SAN it writes). Best effort: a caller who may
/// not call whoami gets `$USER`, any other failure stops here.
fn caller_name(api: &Api, ctx: &Ctx) -> Result<String, Failure> {
    let from_whoami = match api.get(&["whoami"], &[]) {
        Ok(v) => typed::<api::CallerIdentity>(&v)
            .ok()
            .and_then(|c| {
                c.arn
                    .split_once(":user/")
                    .and_then(|(_, p)| p.rsplit('/').next().map(str::to_owned))
            })
            .filter(|n| !n.is_empty()),
        Err(Failure::Api { .. }) => None,
        Err(e) => return Err(e),
    };
    Ok(from_whoami
        .or_else(|| ctx.env.get("USER").map(str::to_owned))
        .unwrap_or_else(|| "ward-client".to_owned()))
}

fn issue(a: IssueArgs, ctx: &Ctx) -> Done {
    let api = ctx.api()?;
    let dir = match a.out {
        Some(d) => d,
        None => ctx
            .env
            .home()
            .ok_or_else(|| Failure::usage("HOME is not set: pass --out DIR"))?
            .join(".ward")
            .join("x509"),
    };
    let name = caller_name(&api, ctx)?;
    files::private_dir(&dir)?;
    let scratch = ScratchDir::new_in(&dir, "ward-x509")?;
    let key_path = scratch.join("key.pem");
    let key = path_str(&key_path)?;
    match a.key_type {
        KeyType::Ed25519 => openssl(&["genpkey", "-algorithm", "ED25519", "-out", key], None)?,
        KeyType::EcP256 => openssl(
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-pkeyopt",
                "ec_param_enc:named_curve",
                "-out",
                key,
            ],
            None,
        )?,
    };
    let subj = subject(&name);
    let mut req_args = vec!["req", "-new", "-key", key, "-subj", &subj];
    if a.key_type == KeyType::EcP256 {
        req_args.push("-sha256");
    }
    let csr = openssl(&req_args, None)?;
    if csr.len() as u64 > MAX_CSR {
        return Err(Failure::usage("openssl made a CSR larger than 16 KiB"));
    }
    let csr = String::from_utf8(csr)
        .map_err(|_| Failure::usage("openssl made a CSR that is not text"))?;

    let req = api::X509CertificateRequest {
        csr,
        validity_seconds: a.ttl.map(Ttl::seconds),
    };
    let v = api
        .send_for_json(Method::Post, &["x509", "client-certificates"], body(&req)?)
        .map_err(|e| ttl::note_denial(e, a.ttl, "24h"))?;
    let issued: api::X509Certificate = typed(&v)?;

    // The certificate must certify our key, or it is useless with it.
    let ours = openssl(&["pkey", "-in", key, "-pubout"], None)?;
    let theirs = openssl(
        &["x509", "-noout", "-pubkey"],
        Some(issued.certificate.as_bytes()),
    )
    .map_err(|e| Failure::Unexpected(format!("the server's certificate: {e}")))?;
    if ours != theirs {
        return Err(Failure::Unexpected(
            "the server's certificate is for another key; nothing was saved".into(),
        ));
    }

    let cert_path = dir.join("ward-client.pem");
    let chain_path = dir.join("ward-chain.pem");
    let full_path = dir.join("ward-client-fullchain.pem");
    let key_out = dir.join("ward-client.key");
    files::write_atomic(&cert_path, issued.certificate.as_bytes(), PUBLIC)?;
    files::write_atomic(&chain_path, issued.chain.as_bytes(), PUBLIC)?;
    files::write_atomic(
        &full_path,
        fullchain(&issued.certificate, &issued.chain).as_bytes(),
        PUBLIC,
    )?;
    files::move_into_place(&key_path, &key_out, PRIVATE)?;
    drop(scratch);

    match api.output {
        OutputFormat::Json => {
            let mut v = v;
            if let Some(o) = v.as_object_mut() {
                o.insert(
                    "certificateFile".into(),
                    cert_path.display().to_string().into(),
                );
                o.insert("chainFile".into(), chain_path.display().to_string().into());
                o.insert(
                    "fullchainFile".into(),
                    full_path.display().to_string().into(),
                );
                o.insert(
                    "privateKeyFile".into(),
                    key_out.display().to_string().into(),
                );
            }
            output::print(&output::json(&v));
        }
        OutputFormat::Table => {
            output::print(&fields(&[
                ("Serial", issued.serial.clone()),
                ("NotAfter", issued.not_after.clone()),
                ("Certificate", cert_path.display().to_string()),
                ("Chain", chain_path.display().to_string()),
                ("Fullchain", full_path.display().to_string()),
                ("PrivateKey", key_out.display().to_string()),
            ]));
            eprintln!(
                "ward: use it with: ward --cert {} --key {} whoami\n\
                 ward: or: curl --cert {} --key {} …; verify it with: openssl verify -CAfile {} {}",
                cert_path.display(),
                key_out.display(),
                full_path.display(),
                key_out.display(),
                chain_path.display(),
                cert_path.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The leaf followed by the intermediates of `chain` (issuing CA first,
/// root last, as ward-ca sends it), without the root: what curl's `--cert`,
/// nginx and rustls clients present in a handshake (issue #8 item 6).
fn fullchain(leaf: &str, chain: &str) -> String {
    let blocks: Vec<&str> = chain
        .split_inclusive("-----END CERTIFICATE-----")
        .map(str::trim)
        .filter(|b| b.starts_with("-----BEGIN CERTIFICATE-----"))
        .collect();
    let intermediates = match blocks.split_last() {
        Some((_root, rest)) if !rest.is_empty() => rest,
        _ => &blocks[..],
    };
    let mut out = format!("{}\n", leaf.trim());
    for b in intermediates {
        out.push_str(b);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn subjects() {
        for (name, want) in [
            ("alice", "/CN=alice"),
            ("a.b_c-d@e", "/CN=a.b_c-d@e"),
            ("a+b=c,d", "/CN=a\\+b\\=c\\,d"),
            ("x/y", "/CN=x\\/y"),
        ] {
            assert_eq!(subject(name), want, "{name}");
        }
    }
}
