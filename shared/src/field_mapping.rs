//! The field mapping: which SIR case fields also go to which Jira fields, and the values a Jira
//! project's screens require (on create, on a transition), kept in the `fields` key of the same
//! JSON document as the status mapping (SSM `…/statusMapping`, `deploy.sh --field-mapping`).
//!
//! ```json
//! {"fields": {
//!   "sirToJira": {"impactedAccounts": "customfield_10050", "engagementType": "Incident type"},
//!   "onCreate": {"Severity": {"value": "Sev 2"}},
//!   "onTransition": {"Done": {"resolution": {"name": "Done"}}}
//! }}
//! ```
//!
//! Jira fields are named by id (`customfield_10050`, `labels`, `priority`) or by name
//! (`Incident type`, any case), resolved once per cold start through `GET /field`
//! ([`FieldMapping::resolve`]): a name no field has, or two fields share, a field whose type the
//! mapping cannot fill, or one the integration owns (summary, description, status…) fails
//! loudly, never a sync. Values are converted by the Jira field's schema ([`JiraFieldKind`]):
//! a SIR list to a list of strings (labels: spaces become `_`), to a multi-select, or joined
//! into a text; a single value to a select option; a date-time to a date. The details block in
//! the description keeps every SIR field, mapped or not.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::snapshot::CaseSnapshot;

/// A SIR case field the mapping can send to Jira.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MappedSirField {
    ImpactedAccounts,
    ImpactedRegions,
    ImpactedServices,
    EngagementType,
    ReportedIncidentStartDate,
}

impl MappedSirField {
    /// The case field an event names when this one changed.
    pub fn case_field(self) -> crate::events::CaseField {
        use crate::events::CaseField;
        match self {
            MappedSirField::ImpactedAccounts => CaseField::ImpactedAccounts,
            MappedSirField::ImpactedRegions => CaseField::ImpactedRegions,
            MappedSirField::ImpactedServices => CaseField::ImpactedServices,
            MappedSirField::EngagementType => CaseField::EngagementType,
            MappedSirField::ReportedIncidentStartDate => CaseField::ReportedIncidentStartDate,
        }
    }

    /// The field's value on `case`, as a list (empty: no value).
    pub fn values(self, case: &CaseSnapshot) -> Vec<String> {
        match self {
            MappedSirField::ImpactedAccounts => case.impacted_accounts.iter().cloned().collect(),
            MappedSirField::ImpactedRegions => case.impacted_regions.iter().cloned().collect(),
            MappedSirField::ImpactedServices => case.impacted_services.iter().cloned().collect(),
            MappedSirField::EngagementType => case.engagement_type.iter().cloned().collect(),
            MappedSirField::ReportedIncidentStartDate => {
                case.reported_incident_start_date.iter().cloned().collect()
            }
        }
    }
}

/// Jira fields the integration writes itself: a mapping may not name them.
const OWNED_BY_THE_INTEGRATION: [&str; 6] = [
    "summary",
    "description",
    "status",
    "project",
    "issuetype",
    "reporter",
];

/// What is wrong with a field mapping.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FieldMappingError {
    #[error("the field mapping is not valid JSON of the documented shape: {reason}")]
    Shape { reason: String },
    #[error("the field mapping names an empty Jira field")]
    EmptyField,
    #[error("the field mapping may not set the Jira field {field:?}: the integration writes it")]
    OwnedField { field: String },
    #[error("the Jira site has no field {field:?} (by id or name)")]
    UnknownField { field: String },
    #[error("the Jira site has several fields named {field:?}; name it by id: {ids}")]
    AmbiguousField { field: String, ids: String },
    #[error("the Jira field {field:?} is of type {kind:?}, which the mapping cannot fill")]
    UnsupportedType { field: String, kind: String },
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FieldMappingJson {
    #[serde(default)]
    sir_to_jira: BTreeMap<MappedSirField, String>,
    #[serde(default)]
    on_create: BTreeMap<String, Value>,
    #[serde(default)]
    on_transition: BTreeMap<String, BTreeMap<String, Value>>,
    #[serde(default)]
    jira_to_sir: BTreeMap<MappedSirField, String>,
}

/// SIR fields a case created from a Jira issue may take from a mapped Jira field instead of the
/// stack-wide default (`jiraToSir`).
pub const READ_FROM_JIRA: [MappedSirField; 4] = [
    MappedSirField::ImpactedAccounts,
    MappedSirField::ImpactedRegions,
    MappedSirField::ImpactedServices,
    MappedSirField::EngagementType,
];

/// The field mapping as configured (Jira fields by id or by name, not resolved yet).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldMapping {
    pub sir_to_jira: BTreeMap<MappedSirField, String>,
    pub on_create: BTreeMap<String, Value>,
    /// By Jira status name, lower case.
    pub on_transition: BTreeMap<String, BTreeMap<String, Value>>,
    /// For cases created from Jira issues: SIR field → Jira field (id or name).
    pub jira_to_sir: BTreeMap<MappedSirField, String>,
}

/// One Jira field as `GET /field` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct JiraField {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub custom: bool,
    #[serde(default)]
    pub schema: Option<JiraFieldSchema>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct JiraFieldSchema {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub items: Option<String>,
    #[serde(default)]
    pub system: Option<String>,
    /// A custom field's type key (`…:textarea` takes ADF in REST v3).
    #[serde(default)]
    pub custom: Option<String>,
}

/// How a Jira field takes a value, from its schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JiraFieldKind {
    /// The system `labels` field: written with `add`/`remove`, so labels people and the
    /// integration set stay.
    SystemLabels,
    /// A list of strings (a custom labels field): no spaces.
    StringList,
    /// A single-line text: list values joined with ", ", at most 255 characters.
    Text,
    /// A multi-line text (paragraph) field: the same text as an ADF document.
    TextArea,
    /// A select list: the first value as the option.
    Option,
    /// A multi-select: each value an option.
    OptionList,
    /// A date picker: the date part of a date-time.
    Date,
    /// A date-time picker.
    DateTime,
}

impl JiraFieldKind {
    fn of(field: &JiraField) -> Result<JiraFieldKind, FieldMappingError> {
        let schema = field.schema.as_ref();
        let kind = schema.map_or("", |s| s.kind.as_str());
        let items = schema.and_then(|s| s.items.as_deref()).unwrap_or("");
        Ok(match (kind, items) {
            ("array", "string") if field.id == "labels" => JiraFieldKind::SystemLabels,
            ("array", "string") => JiraFieldKind::StringList,
            ("array", "option") => JiraFieldKind::OptionList,
            ("option", _) => JiraFieldKind::Option,
            ("string", _)
                if schema
                    .and_then(|s| s.custom.as_deref())
                    .is_some_and(|c| c.ends_with(":textarea")) =>
            {
                JiraFieldKind::TextArea
            }
            ("string", _) => JiraFieldKind::Text,
            ("date", _) => JiraFieldKind::Date,
            ("datetime", _) => JiraFieldKind::DateTime,
            _ => {
                return Err(FieldMappingError::UnsupportedType {
                    field: field.id.clone(),
                    kind: if items.is_empty() {
                        kind.to_owned()
                    } else {
                        format!("{kind} of {items}")
                    },
                });
            }
        })
    }

    /// The REST value for `values` (`null` clears the field); not for [`SystemLabels`](Self::SystemLabels).
    pub fn value(self, values: &[String]) -> Value {
        let first = values.first();
        match self {
            JiraFieldKind::SystemLabels | JiraFieldKind::StringList => json!(
                values
                    .iter()
                    .map(|v| label_of(v))
                    .filter(|l| !l.is_empty())
                    .collect::<Vec<_>>()
            ),
            JiraFieldKind::OptionList => {
                json!(
                    values
                        .iter()
                        .map(|v| json!({"value": v}))
                        .collect::<Vec<_>>()
                )
            }
            _ if values.is_empty() => Value::Null,
            JiraFieldKind::Text => json!(crate::text::clip_chars(&values.join(", "), 255)),
            JiraFieldKind::TextArea => crate::adf::text_to_adf(&values.join(", ")),
            JiraFieldKind::Option => json!({"value": first}),
            JiraFieldKind::Date => json!(first.map(|v| v.chars().take(10).collect::<String>())),
            JiraFieldKind::DateTime => json!(first.map(|v| jira_datetime(v))),
        }
    }
}

/// An RFC 3339 date-time as Jira's REST API documents its date-time fields
/// (`2026-11-30T08:00:00.000+0000`); a value that does not parse is sent as it is.
fn jira_datetime(value: &str) -> String {
    use aws_smithy_types::date_time::{DateTime, Format};
    let Ok(parsed) = DateTime::from_str(value.trim(), Format::DateTime) else {
        return value.to_owned();
    };
    let Ok(whole) = DateTime::from_secs(parsed.secs()).fmt(Format::DateTime) else {
        return value.to_owned();
    };
    let millis = parsed.subsec_nanos() / 1_000_000;
    format!("{}.{millis:03}+0000", whole.trim_end_matches('Z'))
}

/// The strings a Jira field's value holds: a text split at commas, semicolons and line breaks;
/// a list's items; an option's value (whole).
pub fn strings_of(value: &Value) -> Vec<String> {
    match value {
        Value::String(text) => text
            .split([',', ';', '\n'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        Value::Array(items) => items.iter().flat_map(strings_of).collect(),
        Value::Object(option) => option
            .get("value")
            .or_else(|| option.get("name"))
            .and_then(Value::as_str)
            .map(|v| vec![v.trim().to_owned()])
            .unwrap_or_default(),
        Value::Number(n) => vec![n.to_string()],
        _ => Vec::new(),
    }
}

/// A value as a Jira label: no whitespace (Jira refuses it), at most 255 characters.
pub fn label_of(value: &str) -> String {
    let label: String = value
        .trim()
        .chars()
        .map(|c| if c.is_whitespace() { '_' } else { c })
        .collect();
    crate::text::clip_chars(&label, 255)
}

/// A mapped SIR field's Jira target, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedField {
    pub sir: MappedSirField,
    pub jira_id: String,
    pub kind: JiraFieldKind,
}

/// The mapping with every Jira field resolved to its id and kind, ready to write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolvedFieldMapping {
    pub to_jira: Vec<MappedField>,
    /// Field id → value, for every create.
    pub on_create: Map<String, Value>,
    /// Jira status (lower case) → field id → value, for transitions into it.
    pub on_transition: BTreeMap<String, Map<String, Value>>,
}

impl FieldMapping {
    /// The `fields` key of the mapping document `json` (`{}` or no key: an empty mapping).
    pub fn from_mapping_document(json: &str) -> Result<FieldMapping, FieldMappingError> {
        let shape = |e: serde_json::Error| FieldMappingError::Shape {
            reason: e.to_string(),
        };
        let document: Value = serde_json::from_str(json).map_err(shape)?;
        let Some(fields) = document.get("fields") else {
            return Ok(FieldMapping::default());
        };
        let parsed: FieldMappingJson = serde_json::from_value(fields.clone()).map_err(shape)?;
        let check = |field: &str| -> Result<String, FieldMappingError> {
            let field = field.trim();
            if field.is_empty() {
                return Err(FieldMappingError::EmptyField);
            }
            if OWNED_BY_THE_INTEGRATION.contains(&field.to_lowercase().as_str()) {
                return Err(FieldMappingError::OwnedField {
                    field: field.to_owned(),
                });
            }
            Ok(field.to_owned())
        };
        let mut mapping = FieldMapping::default();
        for (sir, jira) in parsed.sir_to_jira {
            mapping.sir_to_jira.insert(sir, check(&jira)?);
        }
        for (jira, value) in parsed.on_create {
            mapping.on_create.insert(check(&jira)?, value);
        }
        for (sir, jira) in parsed.jira_to_sir {
            if !READ_FROM_JIRA.contains(&sir) {
                return Err(FieldMappingError::Shape {
                    reason: format!(
                        "jiraToSir takes impactedAccounts, impactedRegions, impactedServices and \
                         engagementType, not {sir:?}"
                    ),
                });
            }
            mapping.jira_to_sir.insert(sir, check(&jira)?);
        }
        for (status, fields) in parsed.on_transition {
            let mut checked = BTreeMap::new();
            for (jira, value) in fields {
                checked.insert(check(&jira)?, value);
            }
            mapping
                .on_transition
                .insert(status.trim().to_lowercase(), checked);
        }
        Ok(mapping)
    }

    /// Nothing for jira-client to write (`jiraToSir` is sir-client's).
    pub fn is_empty(&self) -> bool {
        self.sir_to_jira.is_empty() && self.on_create.is_empty() && self.on_transition.is_empty()
    }

    /// Only the `jiraToSir` part of the mapping document `json`: what sir-client reads, so a
    /// broken `sirToJira` (jira-client's) never stops the Jira → SIR half.
    pub fn reverse_from_mapping_document(
        json: &str,
    ) -> Result<BTreeMap<MappedSirField, String>, FieldMappingError> {
        let shape = |e: serde_json::Error| FieldMappingError::Shape {
            reason: e.to_string(),
        };
        let document: Value = serde_json::from_str(json).map_err(shape)?;
        let Some(part) = document.get("fields").and_then(|f| f.get("jiraToSir")) else {
            return Ok(BTreeMap::new());
        };
        let only = serde_json::json!({"fields": {"jiraToSir": part}}).to_string();
        Ok(FieldMapping::from_mapping_document(&only)?.jira_to_sir)
    }

    /// The Jira field ids of `reverse` (by id or name) on the site.
    pub fn resolve_reverse(
        reverse: &BTreeMap<MappedSirField, String>,
        site: &[JiraField],
    ) -> Result<Vec<(MappedSirField, String)>, FieldMappingError> {
        let mut ids = Vec::new();
        for (sir, jira) in reverse {
            let one = FieldMapping {
                on_create: BTreeMap::from([(jira.clone(), Value::Null)]),
                ..FieldMapping::default()
            }
            .resolve(site)?;
            if let Some(id) = one.on_create.keys().next() {
                ids.push((*sir, id.clone()));
            }
        }
        Ok(ids)
    }

    /// Every Jira field the mapping names, as written (ids or names).
    pub fn jira_fields(&self) -> Vec<&str> {
        let mut named: Vec<&str> = self
            .sir_to_jira
            .values()
            .map(String::as_str)
            .chain(self.on_create.keys().map(String::as_str))
            .chain(
                self.on_transition
                    .values()
                    .flat_map(|fields| fields.keys().map(String::as_str)),
            )
            .collect();
        named.sort_unstable();
        named.dedup();
        named
    }

    /// The mapping against the site's fields (`GET /field`).
    pub fn resolve(&self, site: &[JiraField]) -> Result<ResolvedFieldMapping, FieldMappingError> {
        let find = |wanted: &str| -> Result<&JiraField, FieldMappingError> {
            if let Some(field) = site.iter().find(|f| f.id == wanted) {
                return Ok(field);
            }
            let named: Vec<&JiraField> = site
                .iter()
                .filter(|f| f.name.to_lowercase() == wanted.to_lowercase())
                .collect();
            match named.as_slice() {
                [field] => Ok(field),
                [] => Err(FieldMappingError::UnknownField {
                    field: wanted.to_owned(),
                }),
                several => Err(FieldMappingError::AmbiguousField {
                    field: wanted.to_owned(),
                    ids: several
                        .iter()
                        .map(|f| f.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                }),
            }
        };
        let id_of = |wanted: &str| -> Result<String, FieldMappingError> {
            let field = find(wanted)?;
            if OWNED_BY_THE_INTEGRATION.contains(&field.id.as_str()) {
                return Err(FieldMappingError::OwnedField {
                    field: wanted.to_owned(),
                });
            }
            Ok(field.id.clone())
        };
        let mut resolved = ResolvedFieldMapping::default();
        for (sir, jira) in &self.sir_to_jira {
            let field = find(jira)?;
            id_of(jira)?;
            resolved.to_jira.push(MappedField {
                sir: *sir,
                jira_id: field.id.clone(),
                kind: JiraFieldKind::of(field)?,
            });
        }
        for (jira, value) in &self.on_create {
            resolved.on_create.insert(id_of(jira)?, value.clone());
        }
        for (status, fields) in &self.on_transition {
            let mut by_id = Map::new();
            for (jira, value) in fields {
                by_id.insert(id_of(jira)?, value.clone());
            }
            resolved.on_transition.insert(status.clone(), by_id);
        }
        Ok(resolved)
    }
}

impl ResolvedFieldMapping {
    /// The mapped fields' values for `case`, by Jira field id, for a create (the system labels
    /// go with the issue's own labels instead: see [`Self::labels_for`]).
    pub fn create_fields(&self, case: &CaseSnapshot) -> Map<String, Value> {
        let mut fields = self.on_create.clone();
        for mapped in &self.to_jira {
            if mapped.kind == JiraFieldKind::SystemLabels {
                continue;
            }
            fields.insert(
                mapped.jira_id.clone(),
                mapped.kind.value(&mapped.sir.values(case)),
            );
        }
        fields
    }

    /// The labels the mapped SIR fields put on the issue for `case`.
    pub fn labels_for(&self, case: &CaseSnapshot) -> Vec<String> {
        self.labels_by_field(case).into_values().flatten().collect()
    }

    /// The labels each SIR field mapped to the system labels puts on the issue for `case`.
    pub fn labels_by_field(
        &self,
        case: &CaseSnapshot,
    ) -> BTreeMap<MappedSirField, BTreeSet<String>> {
        let mut by_field: BTreeMap<MappedSirField, BTreeSet<String>> = BTreeMap::new();
        for mapped in &self.to_jira {
            if mapped.kind == JiraFieldKind::SystemLabels {
                by_field.entry(mapped.sir).or_default().extend(
                    mapped
                        .sir
                        .values(case)
                        .iter()
                        .map(|value| label_of(value))
                        .filter(|label| !label.is_empty()),
                );
            }
        }
        by_field
    }

    /// The field values a transition into `status` needs (empty when none are configured).
    pub fn transition_fields(&self, status: &str) -> Map<String, Value> {
        self.on_transition
            .get(&status.trim().to_lowercase())
            .cloned()
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(id: &str, name: &str, kind: &str, items: Option<&str>) -> JiraField {
        JiraField {
            id: id.into(),
            name: name.into(),
            custom: id.starts_with("customfield_"),
            schema: Some(JiraFieldSchema {
                kind: kind.into(),
                items: items.map(str::to_owned),
                system: None,
                custom: None,
            }),
        }
    }

    fn site() -> Vec<JiraField> {
        vec![
            field("summary", "Summary", "string", None),
            field("labels", "Labels", "array", Some("string")),
            field("priority", "Priority", "priority", None),
            field("resolution", "Resolution", "resolution", None),
            field("customfield_10050", "AWS accounts", "array", Some("string")),
            field("customfield_10060", "Severity", "option", None),
            field("customfield_10070", "Incident start", "date", None),
            field("customfield_10080", "Team", "string", None),
            field("customfield_10081", "Team", "string", None),
        ]
    }

    #[test]
    fn a_document_without_fields_maps_nothing_and_a_bad_one_is_refused() {
        assert!(
            FieldMapping::from_mapping_document("{}")
                .unwrap()
                .is_empty()
        );
        assert!(
            FieldMapping::from_mapping_document(r#"{"sirToJira": {"Closed": "Done"}}"#)
                .unwrap()
                .is_empty()
        );
        assert!(matches!(
            FieldMapping::from_mapping_document(r#"{"fields": {"sirToJira": {"title": "x"}}}"#),
            Err(FieldMappingError::Shape { .. })
        ));
        assert!(matches!(
            FieldMapping::from_mapping_document(r#"{"fields": {"toJira": {}}}"#),
            Err(FieldMappingError::Shape { .. })
        ));
        assert_eq!(
            FieldMapping::from_mapping_document(
                r#"{"fields": {"sirToJira": {"impactedAccounts": "Summary"}}}"#
            ),
            Err(FieldMappingError::OwnedField {
                field: "Summary".into()
            })
        );
        assert_eq!(
            FieldMapping::from_mapping_document(r#"{"fields": {"onCreate": {" ": 1}}}"#),
            Err(FieldMappingError::EmptyField)
        );
    }

    #[test]
    fn fields_resolve_by_id_or_name_and_unknown_ambiguous_or_unfillable_ones_fail() {
        let mapping = FieldMapping::from_mapping_document(
            r#"{"fields": {
                "sirToJira": {"impactedAccounts": "AWS accounts", "impactedRegions": "labels",
                              "engagementType": "customfield_10060",
                              "reportedIncidentStartDate": "incident start"},
                "onCreate": {"Priority": {"name": "High"}},
                "onTransition": {"Done": {"resolution": {"name": "Done"}}}
            }}"#,
        )
        .unwrap();
        let resolved = mapping.resolve(&site()).unwrap();
        let kinds: Vec<(&str, JiraFieldKind)> = resolved
            .to_jira
            .iter()
            .map(|m| (m.jira_id.as_str(), m.kind))
            .collect();
        assert_eq!(
            kinds,
            [
                ("customfield_10050", JiraFieldKind::StringList),
                ("labels", JiraFieldKind::SystemLabels),
                ("customfield_10060", JiraFieldKind::Option),
                ("customfield_10070", JiraFieldKind::Date),
            ]
        );
        assert_eq!(resolved.on_create["priority"], json!({"name": "High"}));
        assert_eq!(
            resolved.transition_fields("DONE")["resolution"],
            json!({"name": "Done"})
        );
        assert!(resolved.transition_fields("In Progress").is_empty());

        let one = |target: &str| {
            FieldMapping::from_mapping_document(&format!(
                r#"{{"fields": {{"sirToJira": {{"impactedAccounts": "{target}"}}}}}}"#
            ))
            .unwrap()
            .resolve(&site())
        };
        assert!(matches!(
            one("Nope"),
            Err(FieldMappingError::UnknownField { .. })
        ));
        assert!(matches!(
            one("Team"),
            Err(FieldMappingError::AmbiguousField { .. })
        ));
        assert!(one("customfield_10080").is_ok());
        assert!(matches!(
            one("Priority"),
            Err(FieldMappingError::UnsupportedType { .. })
        ));
    }

    #[test]
    fn the_reverse_part_is_read_alone_and_resolved_by_name() {
        let document = r#"{"fields": {"sirToJira": {"impactedAccounts": "Summary"},
            "jiraToSir": {"impactedAccounts": "aws accounts", "engagementType": "Severity"}}}"#;
        // The broken sirToJira is jira-client's: sir-client's part still reads.
        let reverse = FieldMapping::reverse_from_mapping_document(document).unwrap();
        assert_eq!(
            FieldMapping::resolve_reverse(&reverse, &site()).unwrap(),
            [
                (
                    MappedSirField::ImpactedAccounts,
                    "customfield_10050".to_owned()
                ),
                (
                    MappedSirField::EngagementType,
                    "customfield_10060".to_owned()
                ),
            ]
        );
        assert!(matches!(
            FieldMapping::reverse_from_mapping_document(
                r#"{"fields": {"jiraToSir": {"reportedIncidentStartDate": "Start"}}}"#
            ),
            Err(FieldMappingError::Shape { .. })
        ));
        assert_eq!(
            strings_of(&json!("111122223333, 444455556666;x")),
            ["111122223333", "444455556666", "x"]
        );
        assert_eq!(strings_of(&json!([{"value": "Sev 1"}])), ["Sev 1"]);
        assert_eq!(
            strings_of(&json!({"value": "Security Incident"})),
            ["Security Incident"]
        );
    }

    #[test]
    fn sir_values_are_converted_by_the_jira_fields_kind() {
        let values = ["111122223333".to_owned(), "us east 1".to_owned()];
        assert_eq!(
            JiraFieldKind::StringList.value(&values),
            json!(["111122223333", "us_east_1"])
        );
        assert_eq!(
            JiraFieldKind::Text.value(&values),
            json!("111122223333, us east 1")
        );
        assert_eq!(
            JiraFieldKind::Option.value(&values[..1]),
            json!({"value": "111122223333"})
        );
        assert_eq!(
            JiraFieldKind::OptionList.value(&values[..1]),
            json!([{"value": "111122223333"}])
        );
        assert_eq!(
            JiraFieldKind::Date.value(&["2026-11-30T08:00:00Z".to_owned()]),
            json!("2026-11-30")
        );
        assert_eq!(
            JiraFieldKind::DateTime.value(&["2026-11-30T08:00:00Z".to_owned()]),
            json!("2026-11-30T08:00:00.000+0000")
        );
        assert_eq!(
            JiraFieldKind::Text
                .value(&vec!["123456789012".to_owned(); 30])
                .as_str()
                .map(|t| t.chars().count()),
            Some(255)
        );
        assert_eq!(
            JiraFieldKind::TextArea.value(&values[..1])["type"],
            json!("doc")
        );
        assert_eq!(
            JiraFieldKind::StringList.value(&[" ".to_owned()]),
            json!([])
        );
        assert_eq!(JiraFieldKind::Option.value(&[]), Value::Null);
        assert_eq!(JiraFieldKind::StringList.value(&[]), json!([]));
    }
}
