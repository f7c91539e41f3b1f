//! Who is calling: the access key id of the SigV4 `Authorization` header, and the principal the
//! emulator records for it.
//!
//! Rule: access key `<AKID>` is recorded as `arn:aws:iam::<account>:user/<AKID>` (matches the
//! model's `PrincipalId` pattern). Signatures are not verified, the credential scope's region is
//! not checked, and the date is not checked; only the header's shape and the scope's service
//! name (`security-ir`) are.

use crate::error::Error;

/// The principal (`creator`, `lastUpdatedBy`, `createdBy`) recorded for access key `access_key_id`
/// in account `account_id`.
pub fn principal_for(account_id: &str, access_key_id: &str) -> String {
    format!("arn:aws:iam::{account_id}:user/{access_key_id}")
}

/// The principal recorded for changes AWS itself makes (as in the native events' `updatedBy`).
pub const AWS_RESPONDER: &str = "AWS Responder";

/// The access key id of `Authorization: AWS4-HMAC-SHA256 Credential=<AKID>/<date>/<region>/security-ir/aws4_request, …`.
pub(crate) fn access_key_id(authorization: Option<&str>) -> Result<String, Error> {
    let denied = |message: &str| Error::AccessDenied {
        message: message.to_owned(),
    };
    let header = authorization.ok_or_else(|| denied("Missing Authentication Token"))?;
    let rest = header
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or_else(|| denied("Authorization header requires the AWS4-HMAC-SHA256 algorithm"))?;
    let credential = rest
        .split(',')
        .map(str::trim)
        .find_map(|part| part.strip_prefix("Credential="))
        .ok_or_else(|| denied("Authorization header requires a 'Credential' parameter"))?;
    let scope: Vec<&str> = credential.split('/').collect();
    match scope.as_slice() {
        [akid, _date, _region, service, "aws4_request"] if !akid.is_empty() => {
            if *service == "security-ir" {
                Ok((*akid).to_owned())
            } else {
                Err(denied(&format!(
                    "Credential should be scoped to correct service: 'security-ir', not '{service}'"
                )))
            }
        }
        _ => Err(denied("Credential is not a valid SigV4 credential scope")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_access_key_from_the_credential_scope() {
        let header = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/security-ir/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc";
        assert_eq!(access_key_id(Some(header)).expect("valid"), "AKIDEXAMPLE");
    }

    #[test]
    fn refuses_missing_or_foreign_credentials() {
        assert!(matches!(
            access_key_id(None),
            Err(Error::AccessDenied { .. })
        ));
        let other =
            "AWS4-HMAC-SHA256 Credential=AK/20240101/us-east-1/s3/aws4_request, Signature=x";
        assert!(matches!(
            access_key_id(Some(other)),
            Err(Error::AccessDenied { .. })
        ));
        assert!(matches!(
            access_key_id(Some("Basic dXNlcjpwYXNz")),
            Err(Error::AccessDenied { .. })
        ));
    }

    #[test]
    fn principal_is_an_iam_user_arn_of_the_access_key() {
        assert_eq!(
            principal_for("123456789012", "human"),
            "arn:aws:iam::123456789012:user/human"
        );
    }
}
