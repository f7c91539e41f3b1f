//! Custom fields as Cloud has them: each with an id (`customfield_<n>`), a name and a schema,
//! listed by `GET /field`, set on create and edit by id, shown on the issue (`null` when unset),
//! some required on the create screen (a create without them is answered 400 with
//! `errors: {"<id>": "<name> is required."}`), their values checked against the schema as
//! Cloud checks them.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The kinds of custom field the emulator knows, by Cloud's schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CustomFieldKind {
    /// Short text: a string of at most 255 characters (`schema.type` `string`).
    Text,
    /// Labels: a list of strings without spaces (`array` of `string`).
    Labels,
    /// Select list (single choice): `{"value": "<option>"}` (`option`).
    Select,
    /// Select list (multiple choices): `[{"value": "<option>"}, ...]` (`array` of `option`).
    MultiSelect,
    /// Date picker: `"YYYY-MM-DD"` (`date`).
    Date,
    /// Paragraph (multi-line text): an ADF document in REST v3, a string (wiki markup) in REST
    /// v2, as Cloud and Data Center take it (`string`, `textarea`).
    TextArea,
}

/// One custom field of the site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomField {
    /// `customfield_<n>`.
    pub id: String,
    pub name: String,
    pub kind: CustomFieldKind,
    /// Required on the create screen of every issue type.
    #[serde(default)]
    pub required_on_create: bool,
    /// The choices of a select list.
    #[serde(default)]
    pub options: Vec<String>,
}

impl CustomField {
    pub fn new(id: &str, name: &str, kind: CustomFieldKind) -> CustomField {
        CustomField {
            id: id.to_owned(),
            name: name.to_owned(),
            kind,
            required_on_create: false,
            options: Vec::new(),
        }
    }

    /// The field's `schema`, as `GET /field` shows it.
    pub(crate) fn schema(&self) -> Value {
        let number = self.id.trim_start_matches("customfield_");
        let (kind, items, custom) = match self.kind {
            CustomFieldKind::Text => ("string", None, "textfield"),
            CustomFieldKind::Labels => ("array", Some("string"), "labels"),
            CustomFieldKind::Select => ("option", None, "select"),
            CustomFieldKind::MultiSelect => ("array", Some("option"), "multiselect"),
            CustomFieldKind::Date => ("date", None, "datepicker"),
            CustomFieldKind::TextArea => ("string", None, "textarea"),
        };
        let mut schema = json!({
            "type": kind,
            "custom": format!("com.atlassian.jira.plugin.system.customfieldtypes:{custom}"),
            "customId": number.parse::<u64>().unwrap_or_default(),
        });
        if let (Some(items), Some(object)) = (items, schema.as_object_mut()) {
            object.insert("items".into(), json!(items));
        }
        schema
    }

    /// The field as `GET /field` lists it.
    pub(crate) fn listing(&self) -> Value {
        json!({
            "id": self.id,
            "key": self.id,
            "name": self.name,
            "custom": true,
            "orderable": true,
            "navigable": true,
            "searchable": true,
            "clauseNames": [format!("cf[{}]", self.id.trim_start_matches("customfield_")), self.name],
            "schema": self.schema(),
        })
    }

    /// The value as stored when `value` is one Jira accepts for this field (`null` clears),
    /// otherwise Jira's message for the field; for a request through REST v3 (`adf`: rich text is
    /// an ADF document) or v2 (rich text is a string), or a person's edit on Cloud or Data Center.
    pub(crate) fn accept_in(&self, value: &Value, adf: bool) -> Result<Value, String> {
        if value.is_null() {
            return Ok(Value::Null);
        }
        let option = |choice: &Value| -> Result<Value, String> {
            let wanted = choice
                .get("value")
                .or_else(|| choice.get("name"))
                .and_then(Value::as_str);
            match wanted {
                Some(wanted) if self.options.iter().any(|o| o == wanted) => {
                    Ok(json!({"value": wanted}))
                }
                Some(wanted) => Err(format!("Option value '{wanted}' is not valid")),
                None => Err(format!("Specify a valid 'id' or 'name' for {}", self.name)),
            }
        };
        match self.kind {
            CustomFieldKind::Text => match value.as_str() {
                Some(text) if text.chars().count() <= 255 => Ok(json!(text)),
                Some(_) => Err(format!(
                    "{}: the value can be at most 255 characters.",
                    self.name
                )),
                None => Err("Operation value must be a string".into()),
            },
            CustomFieldKind::Labels => {
                let labels = value
                    .as_array()
                    .ok_or_else(|| "Operation value must be an array".to_owned())?;
                let mut kept = Vec::new();
                for label in labels {
                    let label = label
                        .as_str()
                        .ok_or_else(|| "Operation value must be a string".to_owned())?;
                    if label.contains(char::is_whitespace) {
                        return Err(format!(
                            "The label '{label}' contains spaces which is invalid."
                        ));
                    }
                    kept.push(json!(label));
                }
                Ok(Value::Array(kept))
            }
            CustomFieldKind::Select => option(value),
            CustomFieldKind::MultiSelect => value
                .as_array()
                .ok_or_else(|| "Operation value must be an array".to_owned())?
                .iter()
                .map(option)
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            CustomFieldKind::TextArea if adf => match crate::adf::optional_document(value) {
                Ok(document) => Ok(document.unwrap_or(Value::Null)),
                Err(()) => Err(crate::adf::NOT_A_DOCUMENT.to_owned()),
            },
            CustomFieldKind::TextArea => match value.as_str() {
                Some(text) => Ok(json!(text)),
                None => Err("Operation value must be a string".into()),
            },
            CustomFieldKind::Date => {
                let text = value.as_str().unwrap_or_default();
                let format = time::macros::format_description!("[year]-[month]-[day]");
                time::Date::parse(text, &format)
                    .map(|_| json!(text))
                    .map_err(|_| format!("Error parsing date string: {value}"))
            }
        }
    }
}

/// The system fields `GET /field` lists before the custom ones (those the emulator serves).
pub(crate) fn system_fields() -> Vec<Value> {
    let field = |id: &str, name: &str, schema: Value| {
        json!({
            "id": id, "key": id, "name": name, "custom": false, "orderable": true,
            "navigable": true, "searchable": true, "clauseNames": [id], "schema": schema,
        })
    };
    vec![
        field(
            "summary",
            "Summary",
            json!({"type": "string", "system": "summary"}),
        ),
        field(
            "description",
            "Description",
            json!({"type": "string", "system": "description"}),
        ),
        field(
            "labels",
            "Labels",
            json!({"type": "array", "items": "string", "system": "labels"}),
        ),
        field(
            "status",
            "Status",
            json!({"type": "status", "system": "status"}),
        ),
        field(
            "issuetype",
            "Issue Type",
            json!({"type": "issuetype", "system": "issuetype"}),
        ),
        field(
            "project",
            "Project",
            json!({"type": "project", "system": "project"}),
        ),
        field(
            "reporter",
            "Reporter",
            json!({"type": "user", "system": "reporter"}),
        ),
        field(
            "priority",
            "Priority",
            json!({"type": "priority", "system": "priority"}),
        ),
        field(
            "resolution",
            "Resolution",
            json!({"type": "resolution", "system": "resolution"}),
        ),
    ]
}
