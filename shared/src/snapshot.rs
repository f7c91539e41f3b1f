//! Normalized snapshots of the synced fields of a SIR case and of a Jira issue, and their
//! fingerprints.
//!
//! Each side keeps the last snapshot it saw (or wrote) in the mapping table. When a write of ours
//! comes back as an event, the re-read side normalizes to the same snapshot and the same
//! fingerprint, so the echo publishes nothing; a real change gives another fingerprint.
//! Normalization removes what the round trip through the other system changes but a person
//! does not see: line endings, trailing blanks, runs of blank lines, e-mail case, list order.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::status::SirStatus;
use crate::text::{
    JIRA_SUMMARY_MAX_UTF16_UNITS, SIR_DESCRIPTION_MAX_CHARS, SIR_TITLE_MAX_CHARS, clip_chars,
    clip_utf16, normalize_line, normalize_text,
};

/// A stable digest of a snapshot's synced fields (lower-case hex SHA-256).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fingerprint(String);

impl Fingerprint {
    fn of<T: Serialize>(fields: &T) -> Fingerprint {
        // Serializing plain structs of strings and sets cannot fail; an empty digest input would
        // only make every snapshot compare unequal (a spurious sync), never equal.
        let bytes = serde_json::to_vec(fields).unwrap_or_default();
        let digest = Sha256::digest(&bytes);
        Fingerprint(digest.iter().map(|b| format!("{b:02x}")).collect())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The fingerprint of a comment body (normalized text), stored in item links to notice edits.
    pub fn of_text(text: &str) -> Fingerprint {
        Fingerprint::of(&("text/v1", normalize_text(text)))
    }
}

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The synced fields of a SIR case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CaseSnapshot {
    pub case_id: String,
    pub title: String,
    pub description: String,
    pub status: SirStatus,
    /// Set by SIR when the case is closed; read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closure_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engagement_type: Option<String>,
    /// RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported_incident_start_date: Option<String>,
    #[serde(default)]
    pub impacted_accounts: BTreeSet<String>,
    #[serde(default)]
    pub impacted_regions: BTreeSet<String>,
    #[serde(default)]
    pub impacted_services: BTreeSet<String>,
    /// Watcher e-mail addresses, lower-cased.
    #[serde(default)]
    pub watchers: BTreeSet<String>,
}

impl CaseSnapshot {
    /// The same case with every field in its normal form (see the module docs).
    pub fn normalized(mut self) -> Self {
        self.case_id = self.case_id.trim().to_owned();
        self.title = clip_chars(&normalize_line(&self.title), SIR_TITLE_MAX_CHARS);
        self.description = clip_chars(
            &normalize_text(&self.description),
            SIR_DESCRIPTION_MAX_CHARS,
        );
        self.closure_code = self.closure_code.map(|c| c.trim().to_owned());
        self.engagement_type = self.engagement_type.map(|c| c.trim().to_owned());
        self.impacted_accounts = normalize_set(self.impacted_accounts, false);
        self.impacted_regions = normalize_set(self.impacted_regions, false);
        self.impacted_services = normalize_set(self.impacted_services, false);
        self.watchers = normalize_set(self.watchers, true);
        self
    }

    /// The fingerprint of the normalized synced fields (the case id is identity, not content).
    pub fn fingerprint(&self) -> Fingerprint {
        let n = self.clone().normalized();
        Fingerprint::of(&(
            "case/v1",
            &n.title,
            &n.description,
            n.status,
            &n.closure_code,
            &n.engagement_type,
            &n.reported_incident_start_date,
            &n.impacted_accounts,
            &n.impacted_regions,
            &n.impacted_services,
            &n.watchers,
        ))
    }
}

/// The synced fields of a Jira issue, with the description as plain text (ADF rendered).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IssueSnapshot {
    pub issue_key: String,
    pub summary: String,
    /// Plain text, clipped to what a SIR case can hold.
    pub description: String,
    /// The Jira status name, as the workflow spells it.
    pub status: String,
    /// Watcher accountIds.
    #[serde(default)]
    pub watchers: BTreeSet<String>,
}

impl IssueSnapshot {
    /// The same issue with every field in its normal form (see the module docs).
    pub fn normalized(mut self) -> Self {
        self.issue_key = self.issue_key.trim().to_uppercase();
        self.summary = clip_utf16(&normalize_line(&self.summary), JIRA_SUMMARY_MAX_UTF16_UNITS);
        self.description = clip_chars(
            &normalize_text(&self.description),
            SIR_DESCRIPTION_MAX_CHARS,
        );
        self.status = self.status.trim().to_owned();
        self.watchers = normalize_set(self.watchers, false);
        self
    }

    /// The fingerprint of the normalized synced fields (the key is identity, not content).
    pub fn fingerprint(&self) -> Fingerprint {
        let n = self.clone().normalized();
        Fingerprint::of(&(
            "issue/v1",
            &n.summary,
            &n.description,
            n.status.to_lowercase(),
            &n.watchers,
        ))
    }
}

fn normalize_set(set: BTreeSet<String>, lowercase: bool) -> BTreeSet<String> {
    set.into_iter()
        .map(|s| {
            let s = s.trim();
            if lowercase {
                s.to_lowercase()
            } else {
                s.to_owned()
            }
        })
        .filter(|s| !s.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn case() -> CaseSnapshot {
        CaseSnapshot {
            case_id: "1234567890".into(),
            title: "Suspicious IAM activity".into(),
            description: "Access keys used from an unknown ASN.\n\nSee CloudTrail.".into(),
            status: SirStatus::DetectionAndAnalysis,
            closure_code: None,
            engagement_type: Some("Security Incident".into()),
            reported_incident_start_date: Some("2026-11-20T10:00:00Z".into()),
            impacted_accounts: ["111122223333".to_owned()].into(),
            impacted_regions: ["eu-west-1".to_owned()].into(),
            impacted_services: ["IAM".to_owned()].into(),
            watchers: ["Alice@Example.com".to_owned()].into(),
        }
    }

    fn issue() -> IssueSnapshot {
        IssueSnapshot {
            issue_key: "SEC-12".into(),
            summary: "Suspicious IAM activity".into(),
            description: "Access keys used from an unknown ASN.".into(),
            status: "In Progress".into(),
            watchers: ["5b10ac8d82e05b22cc7d4ef5".to_owned()].into(),
        }
    }

    #[test]
    fn echo_with_only_formatting_differences_has_the_same_fingerprint() {
        let original = case();
        let mut echoed = case();
        echoed.description =
            "Access keys used from an unknown ASN.  \r\n\r\n\r\nSee CloudTrail.\n".into();
        echoed.title = "  Suspicious   IAM activity ".into();
        echoed.watchers = ["alice@example.com ".to_owned()].into();
        assert_eq!(original.fingerprint(), echoed.fingerprint());
    }

    #[test]
    fn every_synced_case_field_changes_the_fingerprint() {
        let base = case().fingerprint();
        type Change = Box<dyn Fn(&mut CaseSnapshot)>;
        let changes: Vec<Change> = vec![
            Box::new(|c| c.title.push('!')),
            Box::new(|c| c.description.push_str(" More.")),
            Box::new(|c| c.status = SirStatus::Closed),
            Box::new(|c| c.closure_code = Some("Investigation Completed".into())),
            Box::new(|c| c.engagement_type = Some("Investigation".into())),
            Box::new(|c| c.reported_incident_start_date = Some("2026-11-21T00:00:00Z".into())),
            Box::new(|c| {
                c.impacted_accounts.insert("444455556666".into());
            }),
            Box::new(|c| {
                c.impacted_regions.insert("us-east-1".into());
            }),
            Box::new(|c| {
                c.impacted_services.insert("S3".into());
            }),
            Box::new(|c| {
                c.watchers.insert("bob@example.com".into());
            }),
        ];
        for (i, change) in changes.iter().enumerate() {
            let mut changed = case();
            change(&mut changed);
            assert_ne!(changed.fingerprint(), base, "change {i} went unnoticed");
        }
    }

    #[test]
    fn case_id_is_not_part_of_the_fingerprint() {
        let mut other = case();
        other.case_id = "999".into();
        assert_eq!(other.fingerprint(), case().fingerprint());
    }

    #[test]
    fn fingerprint_is_stable_across_releases() {
        // Stored fingerprints must still compare equal after an upgrade: if this changes, bump
        // the "case/v1" tag and accept one round of re-syncs knowingly.
        assert_eq!(
            case().fingerprint().as_str(),
            "9efe0350f7a6a086fefbc79d0ef890e13ac10f3c0033c6279ab2f747cc0caec6"
        );
    }

    #[test]
    fn issue_echo_compares_equal_and_real_change_does_not() {
        let mut echoed = issue();
        echoed.description.push_str("\n\n");
        echoed.status = "in progress".into();
        echoed.issue_key = "sec-12".into();
        assert_eq!(issue().fingerprint(), echoed.fingerprint());
        for change in [
            |i: &mut IssueSnapshot| i.summary = "Other".into(),
            |i: &mut IssueSnapshot| i.description = "Other".into(),
            |i: &mut IssueSnapshot| i.status = "Done".into(),
            |i: &mut IssueSnapshot| {
                i.watchers.insert("x".into());
            },
        ] {
            let mut changed = issue();
            change(&mut changed);
            assert_ne!(changed.fingerprint(), issue().fingerprint());
        }
    }

    #[test]
    fn long_fields_are_clipped_to_the_target_limits_by_characters() {
        let mut long = issue();
        long.summary = "é".repeat(400);
        long.description = "🙂".repeat(9_000);
        let n = long.normalized();
        assert_eq!(n.summary.chars().count(), JIRA_SUMMARY_MAX_UTF16_UNITS);
        assert_eq!(n.description.chars().count(), SIR_DESCRIPTION_MAX_CHARS);
    }

    #[test]
    fn jira_summaries_are_clipped_by_utf16_units_and_sir_text_by_code_points() {
        let mut long = issue();
        long.summary = "🛡".repeat(300);
        let n = long.normalized();
        assert_eq!(
            n.summary.encode_utf16().count(),
            254,
            "127 emoji, not half of one"
        );
        assert_eq!(n.summary.chars().count(), 127);

        let mut case = CaseSnapshot {
            case_id: "1".into(),
            title: "🛡".repeat(400),
            description: "🛡".repeat(9_000),
            status: SirStatus::Submitted,
            closure_code: None,
            engagement_type: None,
            reported_incident_start_date: None,
            impacted_accounts: BTreeSet::new(),
            impacted_regions: BTreeSet::new(),
            impacted_services: BTreeSet::new(),
            watchers: BTreeSet::new(),
        };
        case = case.normalized();
        assert_eq!(case.title.chars().count(), SIR_TITLE_MAX_CHARS);
        assert_eq!(case.description.chars().count(), SIR_DESCRIPTION_MAX_CHARS);
    }
}
