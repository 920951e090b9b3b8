//! SSH public keys of users (`iam:UploadSSHPublicKey` and friends): parsed
//! and validated with the ssh-key crate. Accepted: Ed25519, ECDSA
//! (P-256/384/521), RSA of at least 2,048 bits and FIDO `sk-` keys; refused
//! with a clear message: private keys, DSA, short RSA, certificates and
//! anything that does not parse. 5 keys per user, no duplicate fingerprint.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use ssh_key::HashAlg;

use crate::crypto;
use crate::error::ApiError;
use crate::service::caller::Caller;
use crate::service::iam::target_user;
use crate::service::names;
use crate::service::request::{body, commit, rfc3339, P};
use crate::state::{now, Shared};
use crate::store::iam::{limits, User};
use crate::store::ssh_keys::{self, SshKeyRow};
use ward_protocol::api;

/// A parsed, acceptable key: `(normalised "type base64 comment" text,
/// SHA256 fingerprint)`. The rules are the certificate authority's
/// ([`ward_pki::sshca::parse_public_key`]): one definition of an acceptable key.
pub fn parse_public_key(text: &str) -> Result<(String, String), ApiError> {
    let key = ward_pki::sshca::parse_public_key(text)
        .map_err(|e| ApiError::invalid("publicKey", e.to_string()))?;
    let fingerprint = key.fingerprint(HashAlg::Sha256).to_string();
    let normalised = key
        .to_openssh()
        .map_err(|e| ApiError::invalid("publicKey", e.to_string()))?;
    Ok((normalised, fingerprint))
}

fn out(user: &User, r: &SshKeyRow, with_key: bool) -> api::SshPublicKey {
    api::SshPublicKey {
        user_name: user.name.clone(),
        ssh_public_key_id: r.id.clone(),
        fingerprint: r.fingerprint.clone(),
        status: r.status.clone(),
        uploaded: rfc3339(r.uploaded_at),
        public_key: with_key.then(|| r.public_key.clone()),
    }
}

fn check_id(id: &str) -> Result<(), ApiError> {
    if names::is_credential_id(id, "APKA", 21) {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "sshPublicKeyId",
            format!("{id:?} is not an SSH public key id (APKA followed by 17 characters)"),
        ))
    }
}

/// `POST /v1/users/{name}/ssh-keys`.
pub(crate) async fn upload(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
    b: Bytes,
) -> Result<(StatusCode, Json<api::SshPublicKey>), ApiError> {
    let req: api::UploadSshPublicKey = body(&b)?;
    let (text, fingerprint) = parse_public_key(&req.public_key)?;
    let (u, g) = target_user(&st, &caller, "iam:UploadSSHPublicKey", &name, false).await?;
    let mut m = st.store.mutation(&g).await?;
    let existing = ssh_keys::keys_of(&mut m.tx, &u.id).await?;
    if existing.iter().any(|k| k.fingerprint == fingerprint) {
        return Err(ApiError::Conflict {
            code: "DuplicateSSHPublicKey",
            message: format!("user {} already has the key {fingerprint}", u.name),
        });
    }
    if existing.len() as i64 >= limits::SSH_KEYS_PER_USER {
        return Err(ApiError::limit(format!(
            "user {} already has {} SSH public keys; the limit is {}",
            u.name,
            existing.len(),
            limits::SSH_KEYS_PER_USER
        )));
    }
    let row = SshKeyRow {
        id: crypto::unique_id("APKA"),
        public_key: text,
        fingerprint,
        status: "Active".into(),
        uploaded_at: now(),
    };
    ssh_keys::insert(&mut m.tx, &u.id, &row).await?;
    commit(
        m,
        &caller,
        &g,
        serde_json::json!({"sshPublicKeyId": row.id, "fingerprint": row.fingerprint}),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(out(&u, &row, true))))
}

/// `GET /v1/users/{name}/ssh-keys`.
pub(crate) async fn list(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
) -> Result<Json<api::SshPublicKeyList>, ApiError> {
    let (u, _) = target_user(&st, &caller, "iam:ListSSHPublicKeys", &name, true).await?;
    let mut c = st.store.pool().acquire().await?;
    let keys = ssh_keys::keys_of(&mut c, &u.id).await?;
    Ok(Json(api::SshPublicKeyList {
        ssh_public_keys: keys.iter().map(|k| out(&u, k, false)).collect(),
    }))
}

/// `GET /v1/users/{name}/ssh-keys/{id}`.
pub(crate) async fn get(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P((name, id)): P<(String, String)>,
) -> Result<Json<api::SshPublicKey>, ApiError> {
    check_id(&id)?;
    let (u, _) = target_user(&st, &caller, "iam:GetSSHPublicKey", &name, true).await?;
    let mut c = st.store.pool().acquire().await?;
    let keys = ssh_keys::keys_of(&mut c, &u.id).await?;
    let k = keys
        .iter()
        .find(|k| k.id == id)
        .ok_or_else(|| ApiError::no_such("SSH public key", &format!("{id} of user {}", u.name)))?;
    Ok(Json(out(&u, k, true)))
}

/// `PATCH /v1/users/{name}/ssh-keys/{id}`.
pub(crate) async fn update(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P((name, id)): P<(String, String)>,
    b: Bytes,
) -> Result<StatusCode, ApiError> {
    check_id(&id)?;
    let req: api::UpdateAccessKey = body(&b)?;
    if req.status != "Active" && req.status != "Inactive" {
        return Err(ApiError::invalid(
            "status",
            "status must be Active or Inactive",
        ));
    }
    let (u, g) = target_user(&st, &caller, "iam:UpdateSSHPublicKey", &name, false).await?;
    let mut m = st.store.mutation(&g).await?;
    let found = ssh_keys::set_status(&mut m.tx, &u.id, &id, &req.status).await?;
    if !found {
        return Err(ApiError::no_such(
            "SSH public key",
            &format!("{id} of user {}", u.name),
        ));
    }
    commit(
        m,
        &caller,
        &g,
        serde_json::json!({"sshPublicKeyId": id, "status": req.status}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /v1/users/{name}/ssh-keys/{id}`.
pub(crate) async fn delete(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P((name, id)): P<(String, String)>,
) -> Result<StatusCode, ApiError> {
    check_id(&id)?;
    let (u, g) = target_user(&st, &caller, "iam:DeleteSSHPublicKey", &name, false).await?;
    let mut m = st.store.mutation(&g).await?;
    let found = ssh_keys::delete(&mut m.tx, &u.id, &id).await?;
    if !found {
        return Err(ApiError::no_such(
            "SSH public key",
            &format!("{id} of user {}", u.name),
        ));
    }
    commit(m, &caller, &g, serde_json::json!({"sshPublicKeyId": id})).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGR0JQz0K7WDnzBSyLxnCgWpFTLvwJ9Hrz8bUwHzt5b+ alice@laptop";

    fn check(input: &str, ok: bool, fragment: &str) {
        match parse_public_key(input) {
            Ok((text, fp)) => {
                assert!(ok, "{input:?} accepted");
                assert!(fp.starts_with("SHA256:"), "{fp}");
                assert!(text.starts_with("ssh-"), "{text}");
            }
            Err(e) => {
                assert!(!ok, "{input:?} refused: {e}");
                assert!(e.message().contains(fragment), "{e} lacks {fragment:?}");
            }
        }
    }

    #[test]
    fn keys() {
        check(ED, true, "");
        check(&format!("  {ED}\n"), true, "");
        check("", false, "empty");
        check("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----", false, "private key");
        check(
            "ssh-ed25519 not-base64!!",
            false,
            "not an OpenSSH public key",
        );
        check(
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGR0JQz0K7WDnzBSyLxnCgWpFTLvwJ9Hrz8b",
            false,
            "not an OpenSSH public key",
        );
        check(&format!("{ED}\n{ED}"), false, "exactly one");
        check(&"A".repeat(20_000), false, "longer than");
        check("hello world", false, "not an OpenSSH public key");
        check(
            "ssh-ed25519-cert-v01@openssh.com AAAA",
            false,
            "this is a certificate",
        );
    }
}
