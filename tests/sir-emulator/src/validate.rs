//! Request validation against the model: every member of the input is walked down its shapes and
//! checked for presence (`required`), type, enum membership, string length, list and map size,
//! numeric range and pattern. All violations are reported at once, as the service does, in one
//! `ValidationException` whose `fieldList` names each member by its path (`watchers[3].email`).
//! Values of `sensitive` shapes are never echoed in messages.

use serde_json::Value;

use crate::error::{Error, FieldError};
use crate::model::{ServiceModel, Shape, ShapeKind};

/// Checks `value` (the whole input: labels, query, headers and body merged) against `shape_name`.
pub(crate) fn validate(model: &ServiceModel, shape_name: &str, value: &Value) -> Result<(), Error> {
    let mut errors = Vec::new();
    check(model, shape_name, value, "", &mut errors);
    if errors.is_empty() {
        return Ok(());
    }
    let count = errors.len();
    let summary = errors
        .iter()
        .map(|e| e.message.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    let noun = if count == 1 { "error" } else { "errors" };
    Err(Error::Validation {
        message: format!("{count} validation {noun} detected: {summary}"),
        reason: "FIELD_VALIDATION_FAILED",
        fields: errors,
    })
}

fn join(path: &str, member: &str) -> String {
    if path.is_empty() {
        member.to_owned()
    } else {
        format!("{path}.{member}")
    }
}

fn check(
    model: &ServiceModel,
    shape_name: &str,
    value: &Value,
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    let Some(shape) = model.shape(shape_name) else {
        return;
    };
    let mut fail = |constraint: String, shown: Option<&str>| {
        let value_part = match shown {
            Some(text) if !shape.sensitive => {
                let short: String = text.chars().take(64).collect();
                format!("Value '{short}' at")
            }
            _ => "Value at".to_owned(),
        };
        errors.push(FieldError {
            name: path.to_owned(),
            message: format!(
                "{value_part} '{path}' failed to satisfy constraint: Member must {constraint}"
            ),
        });
    };
    match &shape.kind {
        ShapeKind::Structure { members, required } => {
            let Some(object) = value.as_object() else {
                fail("be a structure".into(), None);
                return;
            };
            for member in members {
                let member_path = join(path, &member.name);
                match object.get(&member.name).filter(|v| !v.is_null()) {
                    Some(member_value) => {
                        check(model, &member.shape, member_value, &member_path, errors);
                    }
                    None if required.contains(&member.name) => errors.push(FieldError {
                        name: member_path.clone(),
                        message: format!(
                            "Value null at '{member_path}' failed to satisfy constraint: Member must not be null"
                        ),
                    }),
                    None => {}
                }
            }
        }
        ShapeKind::List { member } => {
            let Some(items) = value.as_array() else {
                fail("be a list".into(), None);
                return;
            };
            check_size(shape, items.len(), "length", &mut fail);
            for (index, item) in items.iter().enumerate() {
                check(model, member, item, &format!("{path}[{index}]"), errors);
            }
        }
        ShapeKind::Map {
            key,
            value: value_shape,
        } => {
            let Some(entries) = value.as_object() else {
                fail("be a map".into(), None);
                return;
            };
            check_size(shape, entries.len(), "length", &mut fail);
            for (entry_key, entry_value) in entries {
                let entry_path = join(path, entry_key);
                check(
                    model,
                    key,
                    &Value::String(entry_key.clone()),
                    &entry_path,
                    errors,
                );
                check(model, value_shape, entry_value, &entry_path, errors);
            }
        }
        ShapeKind::String { allowed } => {
            let Some(text) = value.as_str() else {
                fail("be a string".into(), None);
                return;
            };
            if let Some(allowed) = allowed {
                if !allowed.iter().any(|a| a == text) {
                    fail(
                        format!("satisfy enum value set: [{}]", allowed.join(", ")),
                        Some(text),
                    );
                }
                return;
            }
            check_size(shape, text.chars().count(), "length", &mut fail);
            if let Some(pattern) = &shape.pattern
                && !pattern.regex.is_match(text)
            {
                fail(
                    format!("satisfy regular expression pattern: {}", pattern.source),
                    Some(text),
                );
            }
        }
        ShapeKind::Integer | ShapeKind::Long => match value.as_i64() {
            Some(number) => {
                if shape.kind_is_integer_in_range(number) {
                    check_range(shape, number as f64, &mut fail);
                } else {
                    fail("be a 32-bit integer".into(), None);
                }
            }
            None => fail("be an integer".into(), None),
        },
        ShapeKind::Float => match value.as_f64() {
            Some(number) => check_range(shape, number, &mut fail),
            None => fail("be a number".into(), None),
        },
        ShapeKind::Boolean => {
            if !value.is_boolean() {
                fail("be a boolean".into(), None);
            }
        }
        ShapeKind::Timestamp => {
            if !value.is_number() {
                fail("be a timestamp in epoch seconds".into(), None);
            }
        }
        ShapeKind::Blob => {
            if !value.is_string() {
                fail("be base64-encoded bytes".into(), None);
            }
        }
    }
}

impl Shape {
    fn kind_is_integer_in_range(&self, number: i64) -> bool {
        match self.kind {
            ShapeKind::Integer => i32::try_from(number).is_ok(),
            _ => true,
        }
    }
}

fn check_size(shape: &Shape, size: usize, what: &str, fail: &mut impl FnMut(String, Option<&str>)) {
    check_bounds(shape, size as f64, what, fail);
}

fn check_range(shape: &Shape, number: f64, fail: &mut impl FnMut(String, Option<&str>)) {
    check_bounds(shape, number, "value", fail);
}

fn check_bounds(
    shape: &Shape,
    measure: f64,
    what: &str,
    fail: &mut impl FnMut(String, Option<&str>),
) {
    if let Some(min) = shape.min
        && measure < min
    {
        fail(format!("have {what} greater than or equal to {min}"), None);
    }
    if let Some(max) = shape.max
        && measure > max
    {
        fail(format!("have {what} less than or equal to {max}"), None);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fields(result: Result<(), Error>) -> Vec<FieldError> {
        match result {
            Err(Error::Validation { fields, .. }) => fields,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn reports_every_violation_with_its_member_path() {
        let model = ServiceModel::load(None).expect("model");
        let input = json!({
            "title": "t".repeat(301),
            "description": "d",
            "engagementType": "Party",
            "resolverType": "Self",
            "impactedAccounts": ["12345"],
            "watchers": [{"email": "not-an-email"}],
        });
        let mut names: Vec<String> = fields(validate(&model, "CreateCaseRequest", &input))
            .into_iter()
            .map(|f| f.name)
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "engagementType",
                "impactedAccounts[0]",
                "impactedAccounts[0]",
                "reportedIncidentStartDate",
                "title",
                "watchers[0].email",
            ]
        );
    }

    #[test]
    fn sensitive_values_are_not_echoed() {
        let model = ServiceModel::load(None).expect("model");
        let input =
            json!({ "caseId": "1234567890", "fileName": "secret name.txt", "contentLength": 1 });
        let found = fields(validate(
            &model,
            "GetCaseAttachmentUploadUrlRequest",
            &input,
        ));
        assert_eq!(found.len(), 1);
        assert!(!found[0].message.contains("secret"), "{}", found[0].message);
    }

    #[test]
    fn numeric_ranges_are_enforced() {
        let model = ServiceModel::load(None).expect("model");
        let found = fields(validate(
            &model,
            "ListCasesRequest",
            &json!({ "maxResults": 26 }),
        ));
        assert_eq!(found[0].name, "maxResults");
        assert!(validate(&model, "ListCasesRequest", &json!({ "maxResults": 25 })).is_ok());
    }
}
