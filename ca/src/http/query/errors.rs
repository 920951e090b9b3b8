//! ward's error codes as AWS's: the code an AWS SDK raises as its typed
//! exception (`EntityAlreadyExists` → `EntityAlreadyExistsException`) and
//! the HTTP status IAM answers it with. Bad input is never a 5xx.

use axum::http::StatusCode;

use super::QueryError;
use crate::http::dispatch::Failure;

/// JSON API request fields whose AWS Query parameter is the same for
/// every action (the fields naming the entity an action is on are
/// resolved by [`aws_param`] from the action).
const FIELDS: &[(&str, &str)] = &[
    ("accessKeyId", "AccessKeyId"),
    ("password", "Password"),
    ("oldPassword", "OldPassword"),
    ("newPassword", "NewPassword"),
    ("document", "PolicyDocument"),
    ("assumeRolePolicyDocument", "AssumeRolePolicyDocument"),
    ("description", "Description"),
    ("maxSessionDuration", "MaxSessionDuration"),
    ("durationSeconds", "DurationSeconds"),
    ("roleArn", "RoleArn"),
    ("roleSessionName", "RoleSessionName"),
    ("externalId", "ExternalId"),
    ("sourceIdentity", "SourceIdentity"),
    ("serialNumber", "SerialNumber"),
    ("tokenCode", "TokenCode"),
    ("authenticationCode1", "AuthenticationCode1"),
    ("authenticationCode2", "AuthenticationCode2"),
    ("virtualMfaDeviceName", "VirtualMFADeviceName"),
    ("assignmentStatus", "AssignmentStatus"),
    ("filter", "Filter"),
    ("publicKey", "SSHPublicKeyBody"),
    ("status", "Status"),
    ("tags", "Tags"),
    ("keys", "TagKeys"),
    ("path", "Path"),
    ("newPath", "NewPath"),
    ("pathPrefix", "PathPrefix"),
    ("marker", "Marker"),
    ("maxItems", "MaxItems"),
    ("versionId", "VersionId"),
    ("policyName", "PolicyName"),
    ("policySourceArn", "PolicySourceArn"),
    ("actionNames", "ActionNames"),
    ("resourceArns", "ResourceArns"),
    ("callerArn", "CallerArn"),
    ("user", "UserName"),
    ("userName", "UserName"),
];

/// The AWS Query parameter a JSON API field stands for in `action`, when
/// the mapping is known: the one table of them.
pub fn aws_param(action: &str, field: &str) -> Option<&'static str> {
    // The entity an action is on: the first of these its name mentions
    // (`AddUserToGroup`'s `name` is the group's, its `user` the user's).
    let entity = if action == "ListGroupsForUser" {
        "User"
    } else {
        [
            "Group",
            "Role",
            "User",
            "Policy",
            "VirtualMFADevice",
            "MFADevice",
            "SSHPublicKey",
            "AccessKey",
            "LoginProfile",
        ]
        .into_iter()
        .find(|e| action.contains(e))
        .unwrap_or("")
    };
    let by_entity = match (field, entity) {
        ("name", "Group") => Some("GroupName"),
        ("name", "Role") => Some("RoleName"),
        ("name", "User" | "MFADevice" | "SSHPublicKey" | "AccessKey" | "LoginProfile") => {
            Some("UserName")
        }
        ("name", "Policy") if action == "CreatePolicy" => Some("PolicyName"),
        ("name", "Policy") => Some("PolicyArn"),
        ("name", "VirtualMFADevice") => Some("SerialNumber"),
        ("newName", "Group") => Some("NewGroupName"),
        ("newName", "User") => Some("NewUserName"),
        ("policy", "Group" | "Role" | "User") if action.contains("PermissionsBoundary") => {
            Some("PermissionsBoundary")
        }
        ("policy", _) if action == "AssumeRole" => Some("Policy"),
        _ => None,
    };
    by_entity.or_else(|| FIELDS.iter().find(|(f, _)| *f == field).map(|(_, p)| *p))
}

/// `message` with whole-word occurrences of `from` replaced by `to`.
fn replace_word(message: &str, from: &str, to: &str) -> String {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(i) = rest.find(from) {
        let before = rest[..i].chars().next_back();
        let after = rest[i + from.len()..].chars().next();
        out.push_str(&rest[..i]);
        if before.is_some_and(word) || after.is_some_and(word) {
            out.push_str(from);
        } else {
            out.push_str(to);
        }
        rest = &rest[i + from.len()..];
    }
    out.push_str(rest);
    out
}

/// [`map`] for a failure of `action`'s call: a validation message names
/// AWS's parameter (`UserName`) instead of ward's JSON field (`name`)
/// where [`aws_param`] knows it.
pub fn map_for(action: &str, mut f: Failure) -> QueryError {
    if let Some(field) = f.field.clone() {
        if let Some(param) = aws_param(action, &field) {
            f.message = format!(
                "{} (parameter {param})",
                replace_word(&f.message, &field, param)
            );
            f.field = None;
        }
    }
    map(f)
}

/// A handler's (or authentication's) failure as AWS's code and status.
pub fn map(f: Failure) -> QueryError {
    let s = |n: u16| StatusCode::from_u16(n).unwrap_or(StatusCode::BAD_REQUEST);
    let (code, status): (&str, StatusCode) = match f.code.as_str() {
        "ValidationError" => ("ValidationError", s(400)),
        "MalformedPolicyDocument" => ("MalformedPolicyDocument", s(400)),
        "NoSuchEntity" => ("NoSuchEntity", s(404)),
        "EntityAlreadyExists" => ("EntityAlreadyExists", s(409)),
        "DeleteConflict" => ("DeleteConflict", s(409)),
        "LimitExceeded" => ("LimitExceeded", s(409)),
        "ConcurrentModification" => ("ConcurrentModification", s(409)),
        "DuplicateSSHPublicKey" => ("DuplicateSSHPublicKey", s(400)),
        "AccessDenied" => ("AccessDenied", s(403)),
        // Refusals ward names more precisely are AWS's AccessDenied.
        "UserDisabled" | "MfaRequired" => ("AccessDenied", s(403)),
        "Throttling" => ("Throttling", s(429)),
        "RequestEntityTooLarge" => ("RequestEntityTooLarge", s(413)),
        "RequestTimeout" => ("RequestTimeout", s(408)),
        // No route or method for a mapped call: the table asked for
        // something the JSON API does not do.
        "NotFound" | "MethodNotAllowed" => ("InvalidAction", s(400)),
        "ServiceUnavailable" => ("ServiceUnavailable", s(503)),
        "InternalFailure" => ("ServiceFailure", s(500)),
        // Authentication's codes are AWS's already (InvalidClientTokenId,
        // SignatureDoesNotMatch, ExpiredToken, IncompleteSignature, …).
        other => (other, f.status),
    };
    let message = match &f.field {
        Some(field) if code == "ValidationError" || code == "MalformedPolicyDocument" => {
            format!("{} (field {field})", f.message)
        }
        _ => f.message,
    };
    QueryError {
        status,
        code: code.to_owned(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(code: &str, status: u16, field: Option<&str>) -> Failure {
        Failure {
            status: StatusCode::from_u16(status).unwrap(),
            code: code.into(),
            message: "m".into(),
            field: field.map(str::to_owned),
        }
    }

    #[test]
    fn codes_and_statuses() {
        let e = map(failure("ValidationError", 400, Some("name")));
        assert_eq!(
            (e.status.as_u16(), e.code.as_str()),
            (400, "ValidationError")
        );
        assert_eq!(e.message, "m (field name)");
        let e = map(failure("UserDisabled", 403, None));
        assert_eq!((e.status.as_u16(), e.code.as_str()), (403, "AccessDenied"));
        let e = map(failure("InternalFailure", 500, None));
        assert_eq!(
            (e.status.as_u16(), e.code.as_str()),
            (500, "ServiceFailure")
        );
        let e = map(failure("SignatureDoesNotMatch", 403, None));
        assert_eq!(e.code, "SignatureDoesNotMatch");
        let e = map(failure("NotFound", 404, None));
        assert_eq!((e.status.as_u16(), e.code.as_str()), (400, "InvalidAction"));
    }

    #[test]
    fn fields_become_aws_parameters() {
        assert_eq!(aws_param("GetUser", "name"), Some("UserName"));
        assert_eq!(aws_param("AddUserToGroup", "name"), Some("GroupName"));
        assert_eq!(aws_param("AddUserToGroup", "user"), Some("UserName"));
        assert_eq!(aws_param("ListGroupsForUser", "name"), Some("UserName"));
        assert_eq!(aws_param("UpdateGroup", "newName"), Some("NewGroupName"));
        assert_eq!(aws_param("UpdateUser", "newName"), Some("NewUserName"));
        assert_eq!(aws_param("PutRolePolicy", "name"), Some("RoleName"));
        assert_eq!(aws_param("CreatePolicy", "name"), Some("PolicyName"));
        assert_eq!(
            aws_param("PutUserPermissionsBoundary", "policy"),
            Some("PermissionsBoundary")
        );
        assert_eq!(aws_param("GetUser", "csr"), None);
        assert_eq!(
            aws_param("DeleteVirtualMFADevice", "name"),
            Some("SerialNumber")
        );
        assert_eq!(aws_param("EnableMFADevice", "name"), Some("UserName"));
        assert_eq!(aws_param("CreateAccessKey", "name"), Some("UserName"));
        let mut f = failure("ValidationError", 400, Some("name"));
        f.message = "name must be 1 to 64 characters; username is not name2".into();
        let e = map_for("CreateUser", f);
        assert_eq!(
            e.message,
            "UserName must be 1 to 64 characters; username is not name2 (parameter UserName)"
        );
        // Unknown mappings keep ward's field.
        let e = map_for("GetUser", failure("ValidationError", 400, Some("csr")));
        assert_eq!(e.message, "m (field csr)");
    }
}
