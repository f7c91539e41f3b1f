//! The emulator's records and the inputs of the human actions. They serialize with the API's
//! member names (camelCase, timestamps as epoch seconds with milliseconds, `impactedAwsRegions`
//! as `[{"region": …}]`), so the same types read the wire and the admin API's JSON.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Someone who follows a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Watcher {
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_title: Option<String>,
}

impl Watcher {
    /// A watcher known only by e-mail.
    pub fn email(email: impl Into<String>) -> Watcher {
        Watcher {
            email: email.into(),
            name: None,
            job_title: None,
        }
    }
}

/// An IP address (with user agent) the case says the threat actor used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreatActorIp {
    pub ip_address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

/// One `caseMetadata` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseMetadataEntry {
    pub key: String,
    pub value: String,
}

/// A case to create (CreateCase's members; `Default` gives a valid self-managed case).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewCase {
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// `Security Incident` or `Investigation`.
    #[serde(default = "default_engagement_type")]
    pub engagement_type: String,
    /// `Self` or `AWS`.
    #[serde(default = "default_resolver_type")]
    pub resolver_type: String,
    #[serde(default = "crate::store::now", with = "epoch_seconds")]
    pub reported_incident_start_date: OffsetDateTime,
    #[serde(default)]
    pub impacted_accounts: Vec<String>,
    #[serde(default)]
    pub watchers: Vec<Watcher>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub threat_actor_ip_addresses: Vec<ThreatActorIp>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub impacted_services: Vec<String>,
    /// Region names (`us-east-1`); on the wire each is `{"region": …}`.
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "regions")]
    pub impacted_aws_regions: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_token: Option<String>,
}

fn default_engagement_type() -> String {
    "Security Incident".to_owned()
}

fn default_resolver_type() -> String {
    "Self".to_owned()
}

impl Default for NewCase {
    fn default() -> NewCase {
        NewCase {
            title: "Emulated security incident".to_owned(),
            description: "Created in the SIR emulator.".to_owned(),
            engagement_type: default_engagement_type(),
            resolver_type: default_resolver_type(),
            reported_incident_start_date: crate::store::now(),
            impacted_accounts: Vec::new(),
            watchers: Vec::new(),
            threat_actor_ip_addresses: Vec::new(),
            impacted_services: Vec::new(),
            impacted_aws_regions: Vec::new(),
            tags: BTreeMap::new(),
            client_token: None,
        }
    }
}

/// UpdateCase's members: `None`/empty leaves a field as it is; lists change by adding and
/// deleting (watchers and threat-actor IPs are matched by e-mail and address).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CaseUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "option_epoch_seconds"
    )]
    pub reported_incident_start_date: Option<OffsetDateTime>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "option_epoch_seconds"
    )]
    pub actual_incident_start_date: Option<OffsetDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engagement_type: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub watchers_to_add: Vec<Watcher>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub watchers_to_delete: Vec<Watcher>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub threat_actor_ip_addresses_to_add: Vec<ThreatActorIp>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub threat_actor_ip_addresses_to_delete: Vec<ThreatActorIp>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub impacted_services_to_add: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub impacted_services_to_delete: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "regions")]
    pub impacted_aws_regions_to_add: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "regions")]
    pub impacted_aws_regions_to_delete: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub impacted_accounts_to_add: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub impacted_accounts_to_delete: Vec<String>,
    /// Replaces the whole metadata list when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_metadata: Option<Vec<CaseMetadataEntry>>,
}

/// A comment on a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommentRecord {
    /// Six digits, as the model's `CommentId` pattern says.
    pub comment_id: String,
    pub body: String,
    /// The principal that created it (see [`crate::principal_for`]).
    pub creator: String,
    pub last_updated_by: String,
    #[serde(with = "epoch_seconds")]
    pub created_date: OffsetDateTime,
    #[serde(with = "epoch_seconds")]
    pub last_updated_date: OffsetDateTime,
}

/// An attachment of a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentRecord {
    /// A UUID, as the model's `AttachmentId` pattern says.
    pub attachment_id: String,
    pub file_name: String,
    /// `Pending` until the bytes are PUT to the upload URL, then `Verified`.
    pub attachment_status: String,
    pub creator: String,
    #[serde(with = "epoch_seconds")]
    pub created_date: OffsetDateTime,
    /// The `contentLength` declared when the upload URL was asked for.
    pub content_length: u64,
    /// The uploaded bytes (empty while pending); not in the admin API's JSON.
    #[serde(skip)]
    pub bytes: Vec<u8>,
}

/// The full state of one case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CaseRecord {
    /// Ten digits.
    pub case_id: String,
    pub case_arn: String,
    pub title: String,
    pub description: String,
    pub case_status: String,
    pub engagement_type: String,
    pub resolver_type: String,
    pub pending_action: String,
    #[serde(with = "epoch_seconds")]
    pub reported_incident_start_date: OffsetDateTime,
    #[serde(default, with = "option_epoch_seconds")]
    pub actual_incident_start_date: Option<OffsetDateTime>,
    pub impacted_accounts: Vec<String>,
    pub watchers: Vec<Watcher>,
    pub threat_actor_ip_addresses: Vec<ThreatActorIp>,
    pub impacted_services: Vec<String>,
    #[serde(with = "regions")]
    pub impacted_aws_regions: Vec<String>,
    pub case_metadata: Vec<CaseMetadataEntry>,
    pub tags: BTreeMap<String, String>,
    /// Set by CloseCase (see the crate documentation for the value).
    pub closure_code: Option<String>,
    #[serde(default, with = "option_epoch_seconds")]
    pub closed_date: Option<OffsetDateTime>,
    #[serde(with = "epoch_seconds")]
    pub created_date: OffsetDateTime,
    #[serde(with = "epoch_seconds")]
    pub last_updated_date: OffsetDateTime,
    /// The principal that created the case.
    pub created_by: String,
    /// The principal of the last change to the case, its comments or its attachments.
    pub last_updated_by: String,
    pub comments: Vec<CommentRecord>,
    pub attachments: Vec<AttachmentRecord>,
}

impl CaseRecord {
    pub fn comment(&self, comment_id: &str) -> Option<&CommentRecord> {
        self.comments.iter().find(|c| c.comment_id == comment_id)
    }

    pub fn attachment(&self, attachment_id: &str) -> Option<&AttachmentRecord> {
        self.attachments
            .iter()
            .find(|a| a.attachment_id == attachment_id)
    }
}

/// A member of the membership's incident response team, as GetMembership lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IncidentResponder {
    pub name: String,
    pub job_title: String,
    pub email: String,
}

/// One request the SIR API answered (admin and upload/download URLs are not recorded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedRequest {
    /// The model's operation name (`GetCase`), or `Unknown`.
    pub operation: String,
    /// The access key id of the signature, `None` when unsigned.
    pub access_key_id: Option<String>,
    /// The `caseId` label, when the operation has one.
    pub case_id: Option<String>,
    /// The HTTP status answered.
    pub status: u16,
}

/// A native `aws.security-ir` event the emulator emitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NativeEvent {
    /// `Case Created`, `Case Updated`, `Case Comment Added`, `Case Comment Updated`, `Case Closed`.
    pub detail_type: String,
    /// `{"caseId": …, "createdBy": …}` or `{"caseId": …, "updatedBy": …}`.
    pub detail: serde_json::Value,
}

/// Counts of native events: emitted, delivered to EventBridge, and refused or failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventStats {
    pub emitted: u64,
    pub published: u64,
    pub failed: u64,
}

/// Timestamps as epoch seconds with millisecond precision, restJson1's default in bodies.
pub(crate) mod epoch_seconds {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::OffsetDateTime;

    pub fn to_f64(at: &OffsetDateTime) -> f64 {
        let millis = at.unix_timestamp_nanos() / 1_000_000;
        millis as f64 / 1000.0
    }

    pub fn from_f64(seconds: f64) -> Option<OffsetDateTime> {
        if !seconds.is_finite() {
            return None;
        }
        let nanos = (seconds * 1e9).round() as i128;
        OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()
    }

    pub fn serialize<S: Serializer>(at: &OffsetDateTime, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(to_f64(at))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<OffsetDateTime, D::Error> {
        let seconds = f64::deserialize(deserializer)?;
        from_f64(seconds).ok_or_else(|| serde::de::Error::custom("timestamp out of range"))
    }
}

pub(crate) mod option_epoch_seconds {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::OffsetDateTime;

    pub fn serialize<S: Serializer>(
        at: &Option<OffsetDateTime>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => super::epoch_seconds::serialize(at, serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<OffsetDateTime>, D::Error> {
        match Option::<f64>::deserialize(deserializer)? {
            Some(seconds) => super::epoch_seconds::from_f64(seconds)
                .map(Some)
                .ok_or_else(|| serde::de::Error::custom("timestamp out of range")),
            None => Ok(None),
        }
    }
}

/// `Vec<String>` of region names as the wire's `[{"region": "us-east-1"}]`.
pub(crate) mod regions {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct ImpactedAwsRegion {
        region: String,
    }

    pub fn serialize<S: Serializer>(regions: &[String], serializer: S) -> Result<S::Ok, S::Error> {
        let wire: Vec<ImpactedAwsRegion> = regions
            .iter()
            .map(|region| ImpactedAwsRegion {
                region: region.clone(),
            })
            .collect();
        wire.serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<String>, D::Error> {
        let wire = Vec::<ImpactedAwsRegion>::deserialize(deserializer)?;
        Ok(wire.into_iter().map(|r| r.region).collect())
    }
}
