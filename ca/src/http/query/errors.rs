//! ward's error codes as AWS's: the code an AWS SDK raises as its typed
//! exception (`EntityAlreadyExists` → `EntityAlreadyExistsException`) and
//! the HTTP status IAM answers it with. Bad input is never a 5xx.

use axum::http::StatusCode;

use super::QueryError;
use crate::http::dispatch::Failure;

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
}
