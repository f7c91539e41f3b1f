//! The bus contract: the six events the Lambdas exchange on the integration bus.
//!
//! `CaseCreated | CaseUpdated | CaseDeleted` come from SIR (source `security-ir`, published by the
//! poller, consumed by jira-client); `IssueCreated | IssueUpdated | IssueDeleted` come from Jira
//! (source `jira`, published by jira-notifications-handler, consumed by sir-client).
//!
//! An event carries identity, the synced scalar fields (bounded by SIR's own limits), which of
//! them changed, and the ids of new or edited comments and attachments, never their bodies: the
//! consumer reads bodies from the source API. Id lists are capped at [`MAX_IDS_PER_LIST`] with a
//! `truncated` flag, after which the consumer lists the source itself, so an event stays far
//! below EventBridge's 256 KB for any case, however many comments it has.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::snapshot::{CaseSnapshot, Fingerprint, IssueSnapshot};

/// Source of the events published from the SIR side.
pub const SOURCE_SECURITY_IR: &str = "security-ir";
/// Source of the events published from the Jira side.
pub const SOURCE_JIRA: &str = "jira";
/// Source of SIR's own native events on the default bus (they only name a case to re-read).
pub const SOURCE_NATIVE_SIR: &str = "aws.security-ir";
/// The integration bus's name in every deployment.
pub const DEFAULT_EVENT_BUS_NAME: &str = "security-incident-event-bus";
/// EventBridge's limit on one PutEvents entry, in bytes.
pub const MAX_ENTRY_BYTES: usize = 256 * 1024;
/// The most ids one event lists per kind; past it the list is cut and marked truncated.
pub const MAX_IDS_PER_LIST: usize = 200;

/// The native SIR detail-types the poller listens to (each names one case to re-read).
pub const NATIVE_SIR_DETAIL_TYPES: [&str; 5] = [
    "Case Created",
    "Case Updated",
    "Case Comment Added",
    "Case Comment Updated",
    "Case Closed",
];

/// The event patterns of the stack's rules, in one place for the CDK app and the local world.
pub mod rule_patterns {
    use serde_json::{Value, json};

    /// Integration bus → jira-client: the case events.
    pub fn jira_client() -> Value {
        json!({"source": [super::SOURCE_SECURITY_IR]})
    }

    /// Integration bus → sir-client: the issue events.
    pub fn sir_client() -> Value {
        json!({"source": [super::SOURCE_JIRA]})
    }

    /// Default bus → poller: SIR's native case events.
    pub fn native_sir() -> Value {
        json!({"source": [super::SOURCE_NATIVE_SIR], "detail-type": super::NATIVE_SIR_DETAIL_TYPES})
    }
}

/// The detail-type of each bus event, with its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DetailType {
    CaseCreated,
    CaseUpdated,
    CaseDeleted,
    IssueCreated,
    IssueUpdated,
    IssueDeleted,
}

impl DetailType {
    pub const ALL: [DetailType; 6] = [
        DetailType::CaseCreated,
        DetailType::CaseUpdated,
        DetailType::CaseDeleted,
        DetailType::IssueCreated,
        DetailType::IssueUpdated,
        DetailType::IssueDeleted,
    ];

    /// The `detail-type` string on the bus.
    pub fn as_str(self) -> &'static str {
        match self {
            DetailType::CaseCreated => "CaseCreated",
            DetailType::CaseUpdated => "CaseUpdated",
            DetailType::CaseDeleted => "CaseDeleted",
            DetailType::IssueCreated => "IssueCreated",
            DetailType::IssueUpdated => "IssueUpdated",
            DetailType::IssueDeleted => "IssueDeleted",
        }
    }

    /// The `source` an event of this type is published with.
    pub fn source(self) -> &'static str {
        match self {
            DetailType::CaseCreated | DetailType::CaseUpdated | DetailType::CaseDeleted => {
                SOURCE_SECURITY_IR
            }
            DetailType::IssueCreated | DetailType::IssueUpdated | DetailType::IssueDeleted => {
                SOURCE_JIRA
            }
        }
    }

    pub fn parse(detail_type: &str) -> Result<Self> {
        DetailType::ALL
            .into_iter()
            .find(|d| d.as_str() == detail_type)
            .ok_or_else(|| Error::Unknown {
                what: "event detail-type",
                value: detail_type.to_owned(),
            })
    }
}

/// Ids of comments or attachments that are new, edited or deleted since the last sync.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdDelta {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub added: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub updated: Vec<String>,
    /// Copied items the source no longer has (deleted there); the consumer says so on its side.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<String>,
    /// More ids changed than the event lists: the consumer must list the source to find them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

impl IdDelta {
    /// Up to [`MAX_IDS_PER_LIST`] ids in all (added first), `truncated` if any had to be left out.
    pub fn new(
        added: impl IntoIterator<Item = String>,
        updated: impl IntoIterator<Item = String>,
    ) -> Self {
        fn take(ids: impl IntoIterator<Item = String>, room: usize) -> (Vec<String>, bool) {
            let mut ids = ids.into_iter();
            let kept: Vec<String> = ids.by_ref().take(room).collect();
            let more = ids.next().is_some();
            (kept, more)
        }
        let (added, more_added) = take(added, MAX_IDS_PER_LIST);
        let (updated, more_updated) = take(updated, MAX_IDS_PER_LIST - added.len());
        let truncated = more_added || more_updated;
        IdDelta {
            added,
            updated,
            removed: Vec::new(),
            truncated,
        }
    }

    /// This delta with `removed` too, within what is left of [`MAX_IDS_PER_LIST`].
    #[must_use]
    pub fn with_removed(mut self, removed: impl IntoIterator<Item = String>) -> Self {
        let room = MAX_IDS_PER_LIST - self.added.len() - self.updated.len();
        let mut removed = removed.into_iter();
        self.removed = removed.by_ref().take(room).collect();
        self.truncated |= removed.next().is_some();
        self
    }

    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.updated.is_empty()
            && self.removed.is_empty()
            && !self.truncated
    }
}

/// A synced field of a case, named in [`CaseChange::changed_fields`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CaseField {
    Title,
    Description,
    Status,
    ClosureCode,
    EngagementType,
    ReportedIncidentStartDate,
    ImpactedAccounts,
    ImpactedRegions,
    ImpactedServices,
    Watchers,
}

impl CaseField {
    /// The fields whose values differ between two snapshots of a case.
    pub fn diff(before: &CaseSnapshot, after: &CaseSnapshot) -> BTreeSet<CaseField> {
        let (b, a) = (before.clone().normalized(), after.clone().normalized());
        let mut changed = BTreeSet::new();
        let mut check = |field, differs: bool| {
            if differs {
                changed.insert(field);
            }
        };
        check(CaseField::Title, b.title != a.title);
        check(CaseField::Description, b.description != a.description);
        check(CaseField::Status, b.status != a.status);
        check(CaseField::ClosureCode, b.closure_code != a.closure_code);
        check(
            CaseField::EngagementType,
            b.engagement_type != a.engagement_type,
        );
        check(
            CaseField::ReportedIncidentStartDate,
            b.reported_incident_start_date != a.reported_incident_start_date,
        );
        check(
            CaseField::ImpactedAccounts,
            b.impacted_accounts != a.impacted_accounts,
        );
        check(
            CaseField::ImpactedRegions,
            b.impacted_regions != a.impacted_regions,
        );
        check(
            CaseField::ImpactedServices,
            b.impacted_services != a.impacted_services,
        );
        check(CaseField::Watchers, b.watchers != a.watchers);
        changed
    }
}

/// A synced field of an issue, named in [`IssueChange::changed_fields`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum IssueField {
    Summary,
    Description,
    Status,
    Watchers,
}

impl IssueField {
    /// The fields whose values differ between two snapshots of an issue.
    pub fn diff(before: &IssueSnapshot, after: &IssueSnapshot) -> BTreeSet<IssueField> {
        let (b, a) = (before.clone().normalized(), after.clone().normalized());
        let mut changed = BTreeSet::new();
        if b.summary != a.summary {
            changed.insert(IssueField::Summary);
        }
        if b.description != a.description {
            changed.insert(IssueField::Description);
        }
        if !b.status.eq_ignore_ascii_case(&a.status) {
            changed.insert(IssueField::Status);
        }
        if b.watchers != a.watchers {
            changed.insert(IssueField::Watchers);
        }
        changed
    }
}

/// Detail of `CaseCreated` and `CaseUpdated`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CaseChange {
    /// The case's synced fields as the poller read them (normalized).
    pub case: CaseSnapshot,
    pub fingerprint: Fingerprint,
    /// Empty for `CaseCreated` (everything is new).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub changed_fields: BTreeSet<CaseField>,
    #[serde(default, skip_serializing_if = "IdDelta::is_empty")]
    pub comments: IdDelta,
    #[serde(default, skip_serializing_if = "IdDelta::is_empty")]
    pub attachments: IdDelta,
    /// The pending delivery this event is (see [`crate::delivery`]): the consumer acknowledges
    /// it by this id once applied, so an older event's success never clears a newer delivery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_id: Option<String>,
    /// Published by the poller's audit of an open pair: the consumer compares the live case with
    /// the live issue field by field, not only the fields named here (absent: `false`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub audit: bool,
    /// When the change happened in SIR (RFC 3339): the case's `lastUpdatedDate`, or the newest
    /// comment's time for a comment found by the sweep; the earliest of a merged delivery's.
    /// The consumer measures the sync lag from it. Absent on an audit (a repair, no change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_at: Option<String>,
}

impl CaseChange {
    /// The change from `before` (`None`: a case never seen) to `after`.
    pub fn new(before: Option<&CaseSnapshot>, after: CaseSnapshot) -> Self {
        let case = after.normalized();
        let changed_fields = before
            .map(|b| CaseField::diff(b, &case))
            .unwrap_or_default();
        CaseChange {
            fingerprint: case.fingerprint(),
            case,
            changed_fields,
            comments: IdDelta::default(),
            attachments: IdDelta::default(),
            delivery_id: None,
            audit: false,
            changed_at: None,
        }
    }
}

/// Detail of `CaseDeleted`: the case can no longer be read from SIR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CaseGone {
    pub case_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issue_key: Option<String>,
}

/// Detail of `IssueCreated` and `IssueUpdated`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IssueChange {
    /// The issue's synced fields as the handler re-read them from Jira (normalized).
    pub issue: IssueSnapshot,
    pub fingerprint: Fingerprint,
    /// Empty for `IssueCreated`.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub changed_fields: BTreeSet<IssueField>,
    #[serde(default, skip_serializing_if = "IdDelta::is_empty")]
    pub comments: IdDelta,
    #[serde(default, skip_serializing_if = "IdDelta::is_empty")]
    pub attachments: IdDelta,
    /// The pending delivery this event is (see [`crate::delivery`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_id: Option<String>,
    /// When the change happened in Jira (RFC 3339): the issue's `updated` as re-read; the
    /// earliest of a merged delivery's. The consumer measures the sync lag from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_at: Option<String>,
}

impl IssueChange {
    /// The change from `before` (`None`: an issue never seen) to `after`.
    pub fn new(before: Option<&IssueSnapshot>, after: IssueSnapshot) -> Self {
        let issue = after.normalized();
        let changed_fields = before
            .map(|b| IssueField::diff(b, &issue))
            .unwrap_or_default();
        IssueChange {
            fingerprint: issue.fingerprint(),
            issue,
            changed_fields,
            comments: IdDelta::default(),
            attachments: IdDelta::default(),
            delivery_id: None,
            changed_at: None,
        }
    }
}

/// Detail of `IssueDeleted`: Jira answers 404 for an issue the table links.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IssueGone {
    pub issue_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_id: Option<String>,
}

/// Any event on the integration bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusEvent {
    CaseCreated(CaseChange),
    CaseUpdated(CaseChange),
    CaseDeleted(CaseGone),
    IssueCreated(IssueChange),
    IssueUpdated(IssueChange),
    IssueDeleted(IssueGone),
}

impl BusEvent {
    pub fn detail_type(&self) -> DetailType {
        match self {
            BusEvent::CaseCreated(_) => DetailType::CaseCreated,
            BusEvent::CaseUpdated(_) => DetailType::CaseUpdated,
            BusEvent::CaseDeleted(_) => DetailType::CaseDeleted,
            BusEvent::IssueCreated(_) => DetailType::IssueCreated,
            BusEvent::IssueUpdated(_) => DetailType::IssueUpdated,
            BusEvent::IssueDeleted(_) => DetailType::IssueDeleted,
        }
    }

    pub fn source(&self) -> &'static str {
        self.detail_type().source()
    }

    /// The case id or issue key the event is about (for logs and error messages).
    pub fn subject(&self) -> &str {
        match self {
            BusEvent::CaseCreated(c) | BusEvent::CaseUpdated(c) => &c.case.case_id,
            BusEvent::CaseDeleted(g) => &g.case_id,
            BusEvent::IssueCreated(i) | BusEvent::IssueUpdated(i) => &i.issue.issue_key,
            BusEvent::IssueDeleted(g) => &g.issue_key,
        }
    }

    /// When the change the event carries happened on its source side (only `…Created` /
    /// `…Updated` carry it; see [`CaseChange::changed_at`]).
    pub fn changed_at(&self) -> Option<&str> {
        match self {
            BusEvent::CaseCreated(c) | BusEvent::CaseUpdated(c) => c.changed_at.as_deref(),
            BusEvent::IssueCreated(i) | BusEvent::IssueUpdated(i) => i.changed_at.as_deref(),
            BusEvent::CaseDeleted(_) | BusEvent::IssueDeleted(_) => None,
        }
    }

    /// The pending-delivery id the event carries (only `…Created`/`…Updated` carry one).
    pub fn delivery_id(&self) -> Option<&str> {
        match self {
            BusEvent::CaseCreated(c) | BusEvent::CaseUpdated(c) => c.delivery_id.as_deref(),
            BusEvent::IssueCreated(i) | BusEvent::IssueUpdated(i) => i.delivery_id.as_deref(),
            BusEvent::CaseDeleted(_) | BusEvent::IssueDeleted(_) => None,
        }
    }

    /// The `detail` JSON.
    pub fn detail_json(&self) -> Result<String> {
        let json = match self {
            BusEvent::CaseCreated(c) | BusEvent::CaseUpdated(c) => serde_json::to_string(c),
            BusEvent::CaseDeleted(g) => serde_json::to_string(g),
            BusEvent::IssueCreated(i) | BusEvent::IssueUpdated(i) => serde_json::to_string(i),
            BusEvent::IssueDeleted(g) => serde_json::to_string(g),
        };
        json.map_err(Error::json("event detail"))
    }

    /// The size EventBridge counts for this entry (source + detail-type + detail, UTF-8 bytes).
    pub fn entry_size(&self) -> Result<usize> {
        let detail_type = self.detail_type();
        Ok(detail_type.source().len() + detail_type.as_str().len() + self.detail_json()?.len())
    }

    /// The event in an EventBridge envelope, as a rule target receives it. Checks that the
    /// source belongs to the detail-type, so a forged `jira` event cannot pose as a case event.
    pub fn from_envelope(
        source: &str,
        detail_type: &str,
        detail: serde_json::Value,
    ) -> Result<Self> {
        let kind = DetailType::parse(detail_type)?;
        if kind.source() != source {
            return Err(Error::EventSourceMismatch {
                detail_type: kind.as_str(),
                event_source: source.to_owned(),
                expected: kind.source(),
            });
        }
        let what = "event detail";
        let event = match kind {
            DetailType::CaseCreated => {
                BusEvent::CaseCreated(serde_json::from_value(detail).map_err(Error::json(what))?)
            }
            DetailType::CaseUpdated => {
                BusEvent::CaseUpdated(serde_json::from_value(detail).map_err(Error::json(what))?)
            }
            DetailType::CaseDeleted => {
                BusEvent::CaseDeleted(serde_json::from_value(detail).map_err(Error::json(what))?)
            }
            DetailType::IssueCreated => {
                BusEvent::IssueCreated(serde_json::from_value(detail).map_err(Error::json(what))?)
            }
            DetailType::IssueUpdated => {
                BusEvent::IssueUpdated(serde_json::from_value(detail).map_err(Error::json(what))?)
            }
            DetailType::IssueDeleted => {
                BusEvent::IssueDeleted(serde_json::from_value(detail).map_err(Error::json(what))?)
            }
        };
        Ok(event)
    }
}

/// An RFC 3339 time (`2026-12-04T19:30:00Z`, `…00.123Z`) in epoch milliseconds; `None` when it
/// is not one or lies before 1970.
pub fn rfc3339_to_epoch_ms(text: &str) -> Option<u64> {
    use aws_smithy_types::date_time::{DateTime, Format};
    let at = DateTime::from_str(text.trim(), Format::DateTime).ok()?;
    u64::try_from(at.to_millis().ok()?).ok()
}

/// Epoch milliseconds as RFC 3339 in UTC (milliseconds shown when not zero).
pub fn epoch_ms_to_rfc3339(ms: u64) -> Option<String> {
    use aws_smithy_types::date_time::{DateTime, Format};
    DateTime::from_millis(i64::try_from(ms).ok()?)
        .fmt(Format::DateTime)
        .ok()
}

/// Milliseconds from the source change time `changed_at` (see [`CaseChange::changed_at`]) to
/// `now_ms`: the sync lag of an event that wrote it. A time ahead of `now_ms` (clocks apart)
/// is 0; one that cannot be read, none.
pub fn lag_ms(changed_at: Option<&str>, now_ms: u64) -> Option<u64> {
    changed_at
        .and_then(rfc3339_to_epoch_ms)
        .map(|at| now_ms.saturating_sub(at))
}

/// The earlier of two source change times (see [`CaseChange::changed_at`]); one that cannot
/// be read counts as absent.
pub fn earliest_change(a: Option<&str>, b: Option<&str>) -> Option<String> {
    fn readable(t: Option<&str>) -> Option<(u64, &str)> {
        t.and_then(|t| rfc3339_to_epoch_ms(t).map(|ms| (ms, t)))
    }
    match (readable(a), readable(b)) {
        (Some(a), Some(b)) => Some(a.min(b).1.to_owned()),
        (Some((_, t)), None) | (None, Some((_, t))) => Some(t.to_owned()),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::SirStatus;

    #[test]
    fn change_times_read_as_rfc3339_and_the_earliest_of_two_is_kept() {
        assert_eq!(
            rfc3339_to_epoch_ms("2026-12-04T19:30:00Z"),
            Some(1_796_412_600_000)
        );
        assert_eq!(
            rfc3339_to_epoch_ms("2026-12-04T19:30:00.250Z"),
            Some(1_796_412_600_250)
        );
        assert_eq!(rfc3339_to_epoch_ms("yesterday"), None);
        assert_eq!(
            epoch_ms_to_rfc3339(1_796_412_600_250).as_deref(),
            Some("2026-12-04T19:30:00.25Z")
        );
        let (early, late) = ("2026-12-04T19:30:00Z", "2026-12-04T19:31:00.5Z");
        assert_eq!(
            earliest_change(Some(late), Some(early)).as_deref(),
            Some(early)
        );
        assert_eq!(earliest_change(None, Some(late)).as_deref(), Some(late));
        assert_eq!(
            earliest_change(Some("bad"), Some(late)).as_deref(),
            Some(late)
        );
        assert_eq!(earliest_change(None, None), None);
    }

    #[test]
    fn lag_counts_from_the_change_and_never_below_zero() {
        let at = "2026-12-04T19:30:00Z";
        assert_eq!(lag_ms(Some(at), 1_796_412_602_500), Some(2_500));
        assert_eq!(lag_ms(Some(at), 1_796_412_590_000), Some(0), "clocks apart");
        assert_eq!(lag_ms(None, 1_796_412_602_500), None);
        assert_eq!(lag_ms(Some("not a time"), 1_796_412_602_500), None);
    }

    #[test]
    fn detail_types_and_sources_are_fixed() {
        let pairs: Vec<_> = DetailType::ALL
            .into_iter()
            .map(|d| (d.as_str(), d.source()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("CaseCreated", "security-ir"),
                ("CaseUpdated", "security-ir"),
                ("CaseDeleted", "security-ir"),
                ("IssueCreated", "jira"),
                ("IssueUpdated", "jira"),
                ("IssueDeleted", "jira"),
            ]
        );
        assert!(DetailType::parse("CaseClosed").is_err());
    }

    #[test]
    fn id_delta_caps_ids_and_marks_truncation() {
        let ids = |n: usize| (0..n).map(|i| i.to_string()).collect::<Vec<_>>();
        let small = IdDelta::new(ids(3), ids(2));
        assert_eq!(
            (small.added.len(), small.updated.len(), small.truncated),
            (3, 2, false)
        );
        let big = IdDelta::new(ids(150), ids(100));
        assert_eq!(big.added.len() + big.updated.len(), MAX_IDS_PER_LIST);
        assert!(big.truncated);
        let exact = IdDelta::new(ids(MAX_IDS_PER_LIST), ids(0));
        assert!(!exact.truncated);
        assert!(IdDelta::default().is_empty());
        let with_removed = IdDelta::new(ids(1), ids(0)).with_removed(ids(2));
        assert_eq!(with_removed.removed, ids(2));
        assert!(!IdDelta::default().with_removed(ids(1)).is_empty());
        let full = IdDelta::new(ids(150), ids(49)).with_removed(ids(3));
        assert_eq!(full.removed.len(), 1);
        assert!(full.truncated);
    }

    #[test]
    fn forged_source_is_refused() {
        let gone = serde_json::json!({"caseId": "1"});
        let forged = BusEvent::from_envelope("jira", "CaseDeleted", gone.clone()).unwrap_err();
        assert!(
            matches!(
                &forged,
                Error::EventSourceMismatch {
                    detail_type: "CaseDeleted",
                    event_source,
                    expected: "security-ir",
                } if event_source == "jira"
            ),
            "{forged}"
        );
        assert!(BusEvent::from_envelope("security-ir", "CaseDeleted", gone).is_ok());
    }

    #[test]
    fn case_change_names_changed_fields() {
        let before = CaseSnapshot {
            case_id: "1".into(),
            title: "t".into(),
            description: "d".into(),
            status: SirStatus::Submitted,
            closure_code: None,
            engagement_type: None,
            reported_incident_start_date: None,
            impacted_accounts: BTreeSet::new(),
            impacted_regions: BTreeSet::new(),
            impacted_services: BTreeSet::new(),
            watchers: BTreeSet::new(),
        };
        let mut after = before.clone();
        after.status = SirStatus::Closed;
        after.closure_code = Some("Investigation Completed".into());
        let change = CaseChange::new(Some(&before), after.clone());
        assert_eq!(
            change.changed_fields,
            [CaseField::Status, CaseField::ClosureCode].into()
        );
        assert_eq!(change.fingerprint, after.fingerprint());
        assert!(CaseChange::new(None, after).changed_fields.is_empty());
    }

    #[test]
    fn the_audit_flag_is_written_only_when_set_and_an_old_event_reads_as_no_audit() {
        let case = CaseSnapshot {
            case_id: "1".into(),
            title: "t".into(),
            description: "d".into(),
            status: SirStatus::Submitted,
            closure_code: None,
            engagement_type: None,
            reported_incident_start_date: None,
            impacted_accounts: BTreeSet::new(),
            impacted_regions: BTreeSet::new(),
            impacted_services: BTreeSet::new(),
            watchers: BTreeSet::new(),
        };
        let mut change = CaseChange::new(Some(&case), case.clone());
        let plain = serde_json::to_value(&change).unwrap();
        assert!(plain.get("audit").is_none());
        let old: CaseChange = serde_json::from_value(plain).unwrap();
        assert!(!old.audit);
        change.audit = true;
        let audit = serde_json::to_value(&change).unwrap();
        assert_eq!(audit["audit"], serde_json::json!(true));
        assert!(serde_json::from_value::<CaseChange>(audit).unwrap().audit);
    }
}
