//! The crate's one error type: start-up failures, and the service's own errors, which the wire
//! layer turns into restJson1 error responses (`x-amzn-errortype` header, JSON body with the
//! members of the model's error shape) and the human actions return as they are.

use std::path::PathBuf;

use serde_json::{Value, json};

/// One refused member of a request, as in `ValidationException.fieldList`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    pub name: String,
    pub message: String,
}

/// What went wrong, at start-up or in a call to the emulated service.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No botocore model where it was looked for.
    #[error("no security-ir service model found (looked for {searched})")]
    ModelNotFound { searched: String },

    /// The model file could not be read.
    #[error("cannot read the service model {path}")]
    ModelRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The model file is not a model this emulator understands.
    #[error("the service model {path} is not usable: {reason}")]
    ModelInvalid { path: PathBuf, reason: String },

    /// The server could not listen.
    #[error("cannot listen on 127.0.0.1:{port}")]
    Bind {
        port: u16,
        #[source]
        source: std::io::Error,
    },

    /// `ValidationException` (400): the request breaks the model or a service rule.
    #[error("ValidationException: {message}")]
    Validation {
        message: String,
        /// One of the model's `ValidationExceptionReason` values.
        reason: &'static str,
        fields: Vec<FieldError>,
    },

    /// `ResourceNotFoundException` (404).
    #[error("ResourceNotFoundException: {message}")]
    NotFound { message: String },

    /// `ConflictException` (409): the resource's state does not allow the call.
    #[error("ConflictException: {message}")]
    Conflict {
        message: String,
        resource_id: String,
        resource_type: String,
    },

    /// `ServiceQuotaExceededException` (402).
    #[error("ServiceQuotaExceededException: {message}")]
    QuotaExceeded {
        message: String,
        resource_id: String,
        resource_type: String,
        quota_code: String,
    },

    /// `AccessDeniedException` (403).
    #[error("AccessDeniedException: {message}")]
    AccessDenied { message: String },

    /// `InvalidTokenException` (423): a `nextToken` this emulator did not hand out.
    #[error("InvalidTokenException: {message}")]
    InvalidToken { message: String },

    /// `ThrottlingException` (429) with `Retry-After`.
    #[error("ThrottlingException: {message}")]
    Throttled {
        message: String,
        retry_after_seconds: u32,
    },

    /// `InternalServerException` (500).
    #[error("InternalServerException: {message}")]
    Internal { message: String },

    /// An injected failure with a status that no model error shape has (e.g. 502, 503).
    #[error("{code} (HTTP {status}): {message}")]
    Injected {
        status: u16,
        code: String,
        message: String,
    },

    /// No operation of the model is bound to this method and path.
    #[error("UnknownOperationException: no operation is bound to {method} {path}")]
    UnknownOperation { method: String, path: String },
}

impl Error {
    pub(crate) fn validation(message: impl Into<String>) -> Error {
        Error::Validation {
            message: message.into(),
            reason: "OTHER",
            fields: Vec::new(),
        }
    }

    pub(crate) fn field(name: &str, message: impl Into<String>) -> Error {
        let message = message.into();
        Error::Validation {
            message: format!("1 validation error detected: {message}"),
            reason: "FIELD_VALIDATION_FAILED",
            fields: vec![FieldError {
                name: name.to_owned(),
                message,
            }],
        }
    }

    pub(crate) fn case_not_found(case_id: &str) -> Error {
        Error::NotFound {
            message: format!("Case {case_id} was not found"),
        }
    }

    pub(crate) fn case_closed(case_id: &str) -> Error {
        Error::Conflict {
            message: format!("Case {case_id} is closed and can no longer be changed"),
            resource_id: case_id.to_owned(),
            resource_type: "case".to_owned(),
        }
    }

    /// The error code (`x-amzn-errortype`) the service answers with.
    pub fn code(&self) -> &str {
        match self {
            Error::Validation { .. } => "ValidationException",
            Error::NotFound { .. } => "ResourceNotFoundException",
            Error::Conflict { .. } => "ConflictException",
            Error::QuotaExceeded { .. } => "ServiceQuotaExceededException",
            Error::AccessDenied { .. } => "AccessDeniedException",
            Error::InvalidToken { .. } => "InvalidTokenException",
            Error::Throttled { .. } => "ThrottlingException",
            Error::Injected { code, .. } => code,
            Error::UnknownOperation { .. } => "UnknownOperationException",
            Error::ModelNotFound { .. }
            | Error::ModelRead { .. }
            | Error::ModelInvalid { .. }
            | Error::Bind { .. }
            | Error::Internal { .. } => "InternalServerException",
        }
    }

    /// The HTTP status when the model does not say (it does for every code above but the
    /// injected and unknown-operation ones).
    pub(crate) fn fallback_status(&self) -> u16 {
        match self {
            Error::Validation { .. } => 400,
            Error::NotFound { .. } | Error::UnknownOperation { .. } => 404,
            Error::Conflict { .. } => 409,
            Error::QuotaExceeded { .. } => 402,
            Error::AccessDenied { .. } => 403,
            Error::InvalidToken { .. } => 423,
            Error::Throttled { .. } => 429,
            Error::Injected { status, .. } => *status,
            _ => 500,
        }
    }

    /// `Retry-After` seconds, for the errors that carry it.
    pub(crate) fn retry_after(&self) -> Option<u32> {
        match self {
            Error::Throttled {
                retry_after_seconds,
                ..
            } => Some(*retry_after_seconds),
            _ => None,
        }
    }

    /// The JSON body: the members of the model's error shape.
    pub(crate) fn body(&self) -> Value {
        match self {
            Error::Validation {
                message,
                reason,
                fields,
            } => {
                let mut body = json!({ "message": message, "reason": reason });
                if !fields.is_empty() {
                    body["fieldList"] = json!(fields);
                }
                body
            }
            Error::Conflict {
                message,
                resource_id,
                resource_type,
            } => json!({
                "message": message,
                "resourceId": resource_id,
                "resourceType": resource_type,
            }),
            Error::QuotaExceeded {
                message,
                resource_id,
                resource_type,
                quota_code,
            } => json!({
                "message": message,
                "resourceId": resource_id,
                "resourceType": resource_type,
                "serviceCode": "security-ir",
                "quotaCode": quota_code,
            }),
            Error::Throttled { message, .. } => json!({
                "message": message,
                "serviceCode": "security-ir",
                "quotaCode": "api-rate",
            }),
            Error::NotFound { message }
            | Error::AccessDenied { message }
            | Error::InvalidToken { message }
            | Error::Internal { message }
            | Error::Injected { message, .. } => json!({ "message": message }),
            other => json!({ "message": other.to_string() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ServiceModel;

    fn one_of_each() -> Vec<Error> {
        let message = String::new;
        vec![
            Error::validation("x"),
            Error::NotFound { message: message() },
            Error::Conflict {
                message: message(),
                resource_id: message(),
                resource_type: message(),
            },
            Error::QuotaExceeded {
                message: message(),
                resource_id: message(),
                resource_type: message(),
                quota_code: message(),
            },
            Error::AccessDenied { message: message() },
            Error::InvalidToken { message: message() },
            Error::Throttled {
                message: message(),
                retry_after_seconds: 1,
            },
            Error::Internal { message: message() },
        ]
    }

    #[test]
    fn every_model_error_shape_but_not_active_is_answered_with_the_models_status() {
        let model = ServiceModel::load(None).expect("model");
        let mut model_errors: Vec<(String, u16)> = model
            .shapes
            .iter()
            .filter_map(|(name, shape)| shape.error_status.map(|status| (name.clone(), status)))
            .collect();
        model_errors.sort();
        let mut ours: Vec<(String, u16)> = one_of_each()
            .iter()
            .map(|error| (error.code().to_owned(), error.fallback_status()))
            .collect();
        // The emulated account's membership is always active.
        ours.push(("SecurityIncidentResponseNotActiveException".to_owned(), 400));
        ours.sort();
        assert_eq!(ours, model_errors);
    }

    #[test]
    fn error_bodies_carry_the_required_members_of_their_shapes() {
        let model = ServiceModel::load(None).expect("model");
        for error in one_of_each() {
            let body = error.body();
            let shape = model.shape(error.code()).expect("an error shape");
            if let crate::model::ShapeKind::Structure { required, .. } = &shape.kind {
                for member in required {
                    assert!(
                        body.get(member).is_some(),
                        "{} lacks {member}",
                        error.code()
                    );
                }
            }
        }
    }
}
