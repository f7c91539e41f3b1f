//! The Jira issue description written for a SIR case, and how to read the synced part back.
//!
//! The issue's description is the case description followed by a details block (case id, a link
//! to the case in the SIR console, engagement type, impacted accounts, regions and services, the
//! reported start date). The block starts with the stable line [`DETAILS_MARKER`], so whoever
//! reads the issue back (the Jira → SIR side, the snapshots) takes only the text above it with
//! [`strip_details_block`]: the block is information for people in Jira, never synced to SIR.
//! Both functions work on the plain text that [`crate::adf`] turns into ADF and back.

use std::collections::BTreeSet;

use crate::snapshot::CaseSnapshot;
use crate::text::normalize_text;

/// The line that opens the details block. Never change it: issues written by earlier releases
/// carry it, and [`strip_details_block`] finds the block by it.
pub const DETAILS_MARKER: &str =
    "---- AWS Security Incident Response case details (maintained by the integration) ----";

/// The SIR console's page of a case (the console routes by fragment, as its documented
/// `home#/membership/settings` does).
pub fn case_console_url(region: &str, case_id: &str) -> String {
    format!(
        "https://{region}.console.aws.amazon.com/security-ir/home?region={region}#/cases/{case_id}"
    )
}

/// The issue description for `case`: its description, a blank line, then the details block.
pub fn compose_issue_description(case: &CaseSnapshot, console_url: &str) -> String {
    fn list(values: &BTreeSet<String>) -> String {
        if values.is_empty() {
            "none".to_owned()
        } else {
            values.iter().cloned().collect::<Vec<_>>().join(", ")
        }
    }
    let details = [
        DETAILS_MARKER.to_owned(),
        format!("Case ID: {}", case.case_id.trim()),
        format!("Case in the SIR console: {console_url}"),
        format!(
            "Engagement type: {}",
            case.engagement_type.as_deref().unwrap_or("not set")
        ),
        format!("Impacted accounts: {}", list(&case.impacted_accounts)),
        format!("Impacted regions: {}", list(&case.impacted_regions)),
        format!("Impacted services: {}", list(&case.impacted_services)),
        format!(
            "Reported incident start: {}",
            case.reported_incident_start_date
                .as_deref()
                .unwrap_or("not set")
        ),
    ]
    .join("\n");
    let description = normalize_text(&case.description);
    if description.is_empty() {
        details
    } else {
        format!("{description}\n\n{details}")
    }
}

/// The synced part of an issue description: the text above the last [`DETAILS_MARKER`] line
/// (normalized), or all of it when the block was removed.
pub fn strip_details_block(text: &str) -> String {
    let text = normalize_text(text);
    let lines: Vec<&str> = text.lines().collect();
    match lines.iter().rposition(|line| line.trim() == DETAILS_MARKER) {
        Some(at) => normalize_text(&lines[..at].join("\n")),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adf::{adf_to_text, text_to_adf};
    use crate::status::SirStatus;

    fn case(description: &str) -> CaseSnapshot {
        CaseSnapshot {
            case_id: "1234567890".into(),
            title: "Suspicious IAM activity".into(),
            description: description.into(),
            status: SirStatus::DetectionAndAnalysis,
            closure_code: None,
            engagement_type: Some("Security Incident".into()),
            reported_incident_start_date: Some("2026-11-20T10:00:00Z".into()),
            impacted_accounts: ["111122223333".to_owned(), "444455556666".to_owned()].into(),
            impacted_regions: ["eu-west-1".to_owned()].into(),
            impacted_services: BTreeSet::new(),
            watchers: BTreeSet::new(),
        }
    }

    const URL: &str = "https://eu-west-1.console.aws.amazon.com/security-ir/home?region=eu-west-1#/cases/1234567890";

    #[test]
    fn description_carries_the_details_block_after_the_case_text() {
        let text = compose_issue_description(&case("Keys used.\n\nSee CloudTrail."), URL);
        assert_eq!(
            text,
            format!(
                "Keys used.\n\nSee CloudTrail.\n\n{DETAILS_MARKER}\nCase ID: 1234567890\n\
                 Case in the SIR console: {URL}\nEngagement type: Security Incident\n\
                 Impacted accounts: 111122223333, 444455556666\nImpacted regions: eu-west-1\n\
                 Impacted services: none\nReported incident start: 2026-11-20T10:00:00Z"
            )
        );
    }

    #[test]
    fn stripping_gives_back_the_case_description_through_adf() {
        for description in [
            "Keys used.\r\n\r\n\r\nSee CloudTrail.  ",
            "one line",
            "",
            "mentions the marker inline: ---- AWS Security Incident Response case details",
        ] {
            let composed = compose_issue_description(&case(description), URL);
            let read_back = adf_to_text(&text_to_adf(&composed));
            assert_eq!(
                strip_details_block(&read_back),
                normalize_text(description),
                "{description:?}"
            );
        }
    }

    #[test]
    fn only_the_last_marker_starts_the_block() {
        let description = format!("Quoted an old issue:\n{DETAILS_MARKER}\nCase ID: 1");
        let composed = compose_issue_description(&case(&description), URL);
        assert_eq!(strip_details_block(&composed), normalize_text(&description));
    }

    #[test]
    fn text_without_the_block_is_synced_whole() {
        assert_eq!(
            strip_details_block("Rewritten in Jira.\n\nNo block."),
            "Rewritten in Jira.\n\nNo block."
        );
    }

    #[test]
    fn console_url_names_region_and_case() {
        assert_eq!(case_console_url("eu-west-1", "1234567890"), URL);
    }
}
