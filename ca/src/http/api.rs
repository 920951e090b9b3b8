//! The JSON API's route table: every authenticated `/v1/` route mapped to
//! its service handler ([`api`]), with the body cap and the path rule that
//! every front end applies. `router` serves it behind `authn`;
//! `dispatch` calls it in process for the Query API and the dashboard.
//! It names only the service layer, so every front end can name it.

use axum::routing::{get, post, put};
use axum::Router;

use crate::service::audit::{audit_checkpoint, audit_events, audit_verify};
use crate::service::credentials::{
    access_key_last_used, create_access_key, create_login_profile, delete_access_key,
    delete_login_profile, get_login_profile, list_access_keys, put_login_profile,
    update_access_key, update_login_profile,
};
use crate::service::iam::*;
use crate::state::Shared;

/// Largest request body accepted.
pub const MAX_BODY: usize = 256 * 1024;

/// The authenticated `/v1/` routes without authentication in front:
/// `router::router` puts `authn` before them, and `crate::http::dispatch` calls
/// them for an already authenticated caller — one set of handlers (and so
/// one authorization path) behind every wire format.
pub fn api() -> Router<Shared> {
    Router::new()
        .route("/v1/whoami", get(whoami))
        .route(
            "/v1/root/sessions",
            get(crate::service::root_login::list_sessions),
        )
        .route(
            "/v1/root/sessions/sign-out-others",
            post(crate::service::root_login::sign_out_others),
        )
        .route("/v1/users", post(create_user).get(list_users))
        .route(
            "/v1/users/{name}",
            get(get_user).patch(update_user).delete(delete_user),
        )
        .route("/v1/users/{name}/tags", post(tag_user).delete(untag_user))
        .route(
            "/v1/users/{name}/disable",
            post(crate::service::disable::disable),
        )
        .route(
            "/v1/users/{name}/enable",
            post(crate::service::disable::enable),
        )
        .route("/v1/users/{name}/groups", get(groups_for_user))
        .route(
            "/v1/users/{name}/permissions-boundary",
            put(put_boundary).delete(delete_boundary),
        )
        .route(
            "/v1/users/{name}/login-profile",
            put(put_login_profile)
                .post(create_login_profile)
                .get(get_login_profile)
                .patch(update_login_profile)
                .delete(delete_login_profile),
        )
        .route(
            "/v1/users/{name}/sessions",
            get(crate::service::sessions::list).delete(crate::service::sessions::revoke_all),
        )
        .route(
            "/v1/users/{name}/sessions/{id}",
            axum::routing::delete(crate::service::sessions::revoke),
        )
        .route(
            "/v1/users/{name}/access-keys",
            post(create_access_key).get(list_access_keys),
        )
        .route(
            "/v1/users/{name}/access-keys/{id}",
            axum::routing::patch(update_access_key).delete(delete_access_key),
        )
        .route("/v1/access-keys/{id}/last-used", get(access_key_last_used))
        .route(
            "/v1/users/{name}/ssh-keys",
            post(crate::service::ssh_keys::upload).get(crate::service::ssh_keys::list),
        )
        .route(
            "/v1/users/{name}/ssh-keys/{id}",
            get(crate::service::ssh_keys::get)
                .patch(crate::service::ssh_keys::update)
                .delete(crate::service::ssh_keys::delete),
        )
        .route(
            "/v1/mfa-devices",
            post(crate::service::mfa::create).get(crate::service::mfa::list_virtual),
        )
        .route(
            "/v1/mfa-devices/{name}",
            axum::routing::delete(crate::service::mfa::delete),
        )
        .route(
            "/v1/users/{name}/mfa-devices",
            post(crate::service::mfa::enable).get(crate::service::mfa::list),
        )
        .route(
            "/v1/users/{name}/mfa-devices/{device}",
            axum::routing::delete(crate::service::mfa::deactivate),
        )
        .route(
            "/v1/users/{name}/mfa-devices/{device}/resync",
            post(crate::service::mfa::resync),
        )
        .route(
            "/v1/simulate/principal",
            post(crate::service::simulate::principal),
        )
        .route("/v1/account/summary", get(crate::service::account::summary))
        .route(
            "/v1/account/authorization-details",
            get(crate::service::account::authorization_details),
        )
        .route(
            "/v1/simulate/custom",
            post(crate::service::simulate::custom),
        )
        .route(
            "/v1/simulate/matrix",
            post(crate::service::simulate_matrix::matrix),
        )
        .route(
            "/v1/ssh/user-certificates",
            post(crate::service::certificates::ssh_user_certificate),
        )
        .route(
            "/v1/x509/client-certificates",
            post(crate::service::certificates::x509_client_certificate),
        )
        .route(
            "/v1/hosts",
            post(crate::service::hosts::register).get(crate::service::hosts::list),
        )
        .route(
            "/v1/hosts/{name}",
            get(crate::service::hosts::get)
                .delete(crate::service::hosts::deregister)
                .patch(crate::service::host_registry::update),
        )
        .route(
            "/v1/gateway-sessions/{id}/terminate",
            post(crate::service::gateway_sessions::terminate),
        )
        .route(
            "/v1/hosts/{name}/ssh-certificate",
            post(crate::service::hosts::host_certificate),
        )
        .route("/v1/certificates", get(crate::service::certificates::list))
        .route(
            "/v1/certificates/{serial}/revoke",
            post(crate::service::certificates::revoke),
        )
        .route(
            "/v1/users/{name}/certificates/revoke",
            post(crate::service::certificates::revoke_user),
        )
        .route(
            "/v1/change-password",
            post(crate::service::passwords::change_password),
        )
        .route("/v1/groups", post(create_group).get(list_groups))
        .route(
            "/v1/groups/{name}",
            get(get_group).patch(update_group).delete(delete_group),
        )
        .route(
            "/v1/groups/{name}/users/{user}",
            put(add_user_to_group).delete(remove_user_from_group),
        )
        .route("/v1/policies", post(create_policy).get(list_policies))
        .route("/v1/policies/{name}", get(get_policy).delete(delete_policy))
        .route("/v1/policies/{name}/entities", get(policy_entities))
        .route(
            "/v1/policies/{name}/tags",
            post(tag_policy).delete(untag_policy).get(list_policy_tags),
        )
        .route(
            "/v1/policies/{name}/versions",
            post(create_policy_version).get(list_policy_versions),
        )
        .route(
            "/v1/policies/{name}/versions/{v}",
            get(get_policy_version).delete(delete_policy_version),
        )
        .route(
            "/v1/policies/{name}/default-version",
            put(set_default_version),
        )
        .route(
            "/v1/roles",
            post(crate::service::roles::create_role).get(crate::service::roles::list_roles),
        )
        .route(
            "/v1/roles/{name}",
            get(crate::service::roles::get_role)
                .patch(crate::service::roles::update_role)
                .delete(crate::service::roles::delete_role),
        )
        .route(
            "/v1/roles/{name}/trust-policy",
            put(crate::service::roles::update_trust),
        )
        .route(
            "/v1/roles/{name}/tags",
            post(crate::service::roles::tag_role).delete(crate::service::roles::untag_role),
        )
        .route(
            "/v1/roles/{name}/permissions-boundary",
            put(crate::service::roles::put_boundary).delete(crate::service::roles::delete_boundary),
        )
        .route(
            "/v1/roles/{name}/revoke-sessions",
            post(crate::service::roles::revoke_sessions),
        )
        .route(
            "/v1/sts/assume-role",
            post(crate::service::sts::assume_role),
        )
        .route(
            "/v1/sts/session-token",
            post(crate::service::sts::session_token),
        )
        .route(
            "/v1/identity-pools",
            post(crate::service::identity_pools::create).get(crate::service::identity_pools::list),
        )
        .route(
            "/v1/identity-pools/{id}",
            get(crate::service::identity_pools::get)
                .patch(crate::service::identity_pools::update)
                .delete(crate::service::identity_pools::delete),
        )
        .route(
            "/v1/identity-pools/{id}/tags",
            get(crate::service::identity_pools::list_tags)
                .post(crate::service::identity_pools::tag)
                .delete(crate::service::identity_pools::untag),
        )
        .route(
            "/v1/identity/id",
            post(crate::service::identity_pools::get_id),
        )
        .route(
            "/v1/identity/credentials",
            post(crate::service::identity_pools::credentials),
        )
        .route("/v1/{kind}/{name}/attached-policies", get(list_attached))
        .route(
            "/v1/{kind}/{name}/attached-policies/{policy}",
            put(attach_policy).delete(detach_policy),
        )
        .route("/v1/{kind}/{name}/policies", get(list_inline))
        .route(
            "/v1/{kind}/{name}/policies/{pname}",
            put(put_inline).get(get_inline).delete(delete_inline),
        )
        .route("/v1/audit/events", get(audit_events))
        .route("/v1/audit/verify", get(audit_verify))
        .route("/v1/audit/checkpoint", get(audit_checkpoint))
        .route("/v1/recordings", get(crate::service::recordings::list))
        .route("/v1/recordings/{id}", get(crate::service::recordings::get))
        .route(
            "/v1/hosts/{name}/join-tokens",
            post(crate::service::host_join::create_token),
        )
        .route("/v1/host/renew", post(crate::service::host_join::renew))
        .route(
            "/v1/host/snapshot",
            get(crate::service::host_sync::snapshot),
        )
        .route("/v1/host/audit", post(crate::service::host_audit::deliver))
        .route(
            "/v1/host/password/verify",
            post(crate::service::host_passwords::verify),
        )
        .route(
            "/v1/host/password/change",
            post(crate::service::host_passwords::change),
        )
        .route(
            "/v1/host/mfa/verify",
            post(crate::service::mfa::host_verify),
        )
        .route(
            "/v1/host/gateway/session-certificate",
            post(crate::service::gateway_certs::issue),
        )
}

/// True if a raw path has `.`/`..` segments (also percent-encoded) or an
/// empty segment. SigV4 signs the normalised path while the router sees
/// the raw one, so such paths are refused before either looks at them.
pub fn ambiguous_path(path: &str) -> bool {
    path.split('/').skip(1).enumerate().any(|(i, seg)| {
        let lower = seg.to_ascii_lowercase();
        let dots = lower.replace("%2e", ".");
        dots == "." || dots == ".." || (seg.is_empty() && i + 1 < path.split('/').count() - 1)
    }) || path.to_ascii_lowercase().contains("%2f")
}
