//! The Jira issue description written for a SIR case, and how to read the synced part back.
//!
//! The issue's description is the case description followed by a details block (case id, a link
//! to the case in the SIR console, engagement type, impacted accounts, regions and services, the
//! reported start date). The block starts with the stable line [`DETAILS_MARKER`], so whoever
//! reads the issue back (the Jira → SIR side, the snapshots) takes only the text above it with
//! [`strip_details_block`]: the block is information for people in Jira, never synced to SIR.
//!
//! In the ADF document the block is one top-level node: an info panel holding one paragraph
//! whose first line is the marker ([`details_block_adf`]); issues written before the panel hold
//! it as a plain paragraph starting with the marker, and both are found by
//! [`find_details_block`]. The block is rewritten on its own ([`with_details_block`]), every
//! other node of the document kept as it is, so a details change never touches the text people
//! wrote in Jira; the text part is replaced only by [`with_case_text`], which jira-client calls
//! when SIR's description itself changed and is not SIR's own (clipped, flattened or
//! placeholder) copy of the issue's text ([`sir_description_for_issue`]).

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::adf::{adf_to_text, is_adf_document, text_to_adf};
use crate::snapshot::CaseSnapshot;
use crate::text::{SIR_DESCRIPTION_MAX_CHARS, clip_chars, normalize_text};

/// The line that opens the details block. Never change it: issues written by earlier releases
/// carry it, and [`strip_details_block`] and [`find_details_block`] find the block by it.
pub const DETAILS_MARKER: &str =
    "---- AWS Security Incident Response case details (maintained by the integration) ----";

/// The SIR console's page of a case (the console routes by fragment, as its documented
/// `home#/membership/settings` does).
pub fn case_console_url(region: &str, case_id: &str) -> String {
    format!(
        "https://{region}.console.aws.amazon.com/security-ir/home?region={region}#/cases/{case_id}"
    )
}

/// One line of the block: its label (with the separator) and its value; `link` when the value
/// is a URL to show as a link.
struct DetailsLine {
    label: &'static str,
    value: String,
    link: bool,
}

fn details_lines(case: &CaseSnapshot, console_url: &str) -> Vec<DetailsLine> {
    fn list(values: &BTreeSet<String>) -> String {
        if values.is_empty() {
            "none".to_owned()
        } else {
            values.iter().cloned().collect::<Vec<_>>().join(", ")
        }
    }
    let line = |label, value: String| DetailsLine {
        label,
        value,
        link: false,
    };
    vec![
        line("Case ID: ", case.case_id.trim().to_owned()),
        DetailsLine {
            label: "Case in the SIR console: ",
            value: console_url.to_owned(),
            link: true,
        },
        line(
            "Engagement type: ",
            case.engagement_type
                .as_deref()
                .unwrap_or("not set")
                .to_owned(),
        ),
        line("Impacted accounts: ", list(&case.impacted_accounts)),
        line("Impacted regions: ", list(&case.impacted_regions)),
        line("Impacted services: ", list(&case.impacted_services)),
        line(
            "Reported incident start: ",
            case.reported_incident_start_date
                .as_deref()
                .unwrap_or("not set")
                .to_owned(),
        ),
    ]
}

/// The issue description for `case` as text: its description, a blank line, then the details
/// block (what [`issue_description_adf`] reads as).
pub fn compose_issue_description(case: &CaseSnapshot, console_url: &str) -> String {
    let mut details = vec![DETAILS_MARKER.to_owned()];
    details.extend(
        details_lines(case, console_url)
            .into_iter()
            .map(|line| format!("{}{}", line.label, line.value)),
    );
    let details = details.join("\n");
    let description = normalize_text(&case.description);
    if description.is_empty() {
        details
    } else {
        format!("{description}\n\n{details}")
    }
}

/// The details block as one ADF node: an info panel with one paragraph, the marker in bold on
/// its first line, then one line per detail (the console URL as a link).
pub fn details_block_adf(case: &CaseSnapshot, console_url: &str) -> Value {
    let mut inline =
        vec![json!({"type": "text", "text": DETAILS_MARKER, "marks": [{"type": "strong"}]})];
    for line in details_lines(case, console_url) {
        inline.push(json!({"type": "hardBreak"}));
        inline.push(json!({"type": "text", "text": line.label}));
        // Never an empty text node: Jira refuses them.
        if !line.value.is_empty() {
            inline.push(if line.link {
                json!({"type": "text", "text": line.value,
                       "marks": [{"type": "link", "attrs": {"href": line.value}}]})
            } else {
                json!({"type": "text", "text": line.value})
            });
        }
    }
    json!({"type": "panel", "attrs": {"panelType": "info"},
           "content": [{"type": "paragraph", "content": inline}]})
}

/// The ADF description of a new issue for `case`: its description as paragraphs, then the
/// details block.
pub fn issue_description_adf(case: &CaseSnapshot, console_url: &str) -> Value {
    with_case_text(
        &Value::Null,
        &case.description,
        details_block_adf(case, console_url),
    )
}

/// The top-level nodes of `doc` (none for `null` or anything that is not a document).
fn top_level(doc: &Value) -> &[Value] {
    if is_adf_document(doc) {
        doc["content"].as_array().map_or(&[], Vec::as_slice)
    } else {
        &[]
    }
}

/// Where the details block is among the top-level nodes of `doc`: the last panel or paragraph
/// whose first line is [`DETAILS_MARKER`] (a panel today, a paragraph in issues written by
/// earlier releases). `None` when the block is absent (a Jira-born issue, or a person removed
/// it).
pub fn find_details_block(doc: &Value) -> Option<usize> {
    top_level(doc).iter().rposition(|node| {
        matches!(
            node.get("type").and_then(Value::as_str),
            Some("panel" | "paragraph")
        ) && adf_to_text(&json!({"type": "doc", "version": 1, "content": [node]}))
            .lines()
            .next()
            .is_some_and(|first| first.trim() == DETAILS_MARKER)
    })
}

/// `doc` with its details block replaced by `block`, or `block` appended when it has none;
/// every other node is kept as it is.
pub fn with_details_block(doc: &Value, block: Value) -> Value {
    let mut nodes = top_level(doc).to_vec();
    match find_details_block(doc) {
        Some(at) => nodes[at] = block,
        None => nodes.push(block),
    }
    document(doc, nodes)
}

/// `doc` with the text part (every node above the details block, or all of it when it has no
/// block) replaced by `text` as paragraphs, followed by `block`; nodes people added below the
/// block are kept (they are not synced to SIR, see [`strip_details_block`]).
pub fn with_case_text(doc: &Value, text: &str, block: Value) -> Value {
    let below: Vec<Value> = match find_details_block(doc) {
        Some(at) => top_level(doc)[at + 1..].to_vec(),
        None => Vec::new(),
    };
    let mut nodes = top_level(&text_to_adf(text)).to_vec();
    nodes.push(block);
    nodes.extend(below);
    let mut out = document(doc, nodes);
    if let Some(object) = out.as_object_mut() {
        object.remove(WIKI_SOURCE);
    }
    out
}

/// Key of an ADF document read from Data Center that holds the wiki markup it was read from.
/// Edits that keep the top-level nodes of a document keep its other keys too
/// ([`with_details_block`]), so the markup a person wrote above the details block can be written
/// back as written, not as its ADF reading; [`with_case_text`] replaces that text, so it drops it.
pub(crate) const WIKI_SOURCE: &str = "wikiSource";

/// A document with `content`, keeping the top-level attributes of `doc` when it is one.
fn document(doc: &Value, content: Vec<Value>) -> Value {
    let mut out = if is_adf_document(doc) {
        doc.clone()
    } else {
        json!({"type": "doc", "version": 1})
    };
    out["content"] = Value::Array(content);
    out
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

/// The case description SIR gets for an issue whose description reads `issue_text` (as
/// [`crate::adf::adf_to_text`] renders it): the text above the details block within SIR's
/// limit, saying so when it was cut; SIR requires one, so an empty one says it is empty. A case
/// description equal to this is SIR's copy of the issue's text, never a text to write back.
pub fn sir_description_for_issue(issue_key: &str, issue_text: &str) -> String {
    let text = strip_details_block(issue_text);
    if text.is_empty() {
        return format!("Jira issue {issue_key} has no description.");
    }
    if text.chars().count() <= SIR_DESCRIPTION_MAX_CHARS {
        return text;
    }
    let note = format!("\n\n[Cut to fit SIR; the full text is in Jira issue {issue_key}.]");
    let keep = SIR_DESCRIPTION_MAX_CHARS - note.chars().count();
    format!("{}{note}", clip_chars(&text, keep).trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;
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
    fn the_adf_block_reads_as_the_text_block_and_the_url_is_a_link() {
        let mut with_text = case("Keys used.\n\nSee CloudTrail.");
        with_text.engagement_type = None;
        for case in [with_text, case("")] {
            let doc = issue_description_adf(&case, URL);
            assert_eq!(adf_to_text(&doc), compose_issue_description(&case, URL));
            let block = &doc["content"][find_details_block(&doc).unwrap()];
            assert_eq!(block["type"], "panel");
            let links: Vec<&Value> = block["content"][0]["content"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|node| node["marks"][0]["type"] == "link")
                .collect();
            assert_eq!(links.len(), 1);
            assert_eq!(links[0]["marks"][0]["attrs"]["href"], URL);
        }
    }

    /// A description a person wrote in Jira: rich text, no block.
    fn rich() -> Value {
        json!({"type": "doc", "version": 1, "content": [
            {"type": "heading", "attrs": {"level": 2}, "content": [{"type": "text", "text": "Timeline"}]},
            {"type": "bulletList", "content": [{"type": "listItem", "content": [
                {"type": "paragraph", "content": [{"type": "text", "text": "bold", "marks": [{"type": "strong"}]}]}]}]},
            {"type": "codeBlock", "attrs": {"language": "bash"}, "content": [{"type": "text", "text": "aws s3 ls"}]}
        ]})
    }

    #[test]
    fn the_block_is_appended_once_then_replaced_in_place_keeping_every_other_node() {
        let first = with_details_block(&rich(), details_block_adf(&case("x"), URL));
        let nodes = first["content"].as_array().unwrap();
        assert_eq!(nodes[..3], rich()["content"].as_array().unwrap()[..]);
        assert_eq!(find_details_block(&first), Some(3));

        let mut moved = case("x");
        moved.impacted_accounts = ["999988887777".to_owned()].into();
        let below =
            json!({"type": "paragraph", "content": [{"type": "text", "text": "added below"}]});
        let mut edited = first.clone();
        edited["content"]
            .as_array_mut()
            .unwrap()
            .push(below.clone());
        let second = with_details_block(&edited, details_block_adf(&moved, URL));
        let nodes = second["content"].as_array().unwrap();
        assert_eq!(nodes.len(), 5);
        assert_eq!(nodes[..3], rich()["content"].as_array().unwrap()[..]);
        assert_eq!(nodes[3], details_block_adf(&moved, URL));
        assert_eq!(nodes[4], below);
    }

    #[test]
    fn a_block_written_by_an_earlier_release_is_found_and_replaced_by_the_panel() {
        let old = text_to_adf(&compose_issue_description(&case("Keys used."), URL));
        assert_eq!(find_details_block(&old), Some(1));
        let new = with_details_block(&old, details_block_adf(&case("Keys used."), URL));
        assert_eq!(new, issue_description_adf(&case("Keys used."), URL));
        assert_eq!(find_details_block(&rich()), None);
        assert_eq!(find_details_block(&Value::Null), None);
    }

    #[test]
    fn a_paragraph_quoting_the_marker_mid_text_is_not_the_block() {
        let doc = text_to_adf(&format!("Quoted:\n{DETAILS_MARKER}\nCase ID: 1"));
        assert_eq!(find_details_block(&doc), None);
    }

    #[test]
    fn new_case_text_replaces_the_part_above_the_block_and_keeps_what_is_below() {
        let below =
            json!({"type": "paragraph", "content": [{"type": "text", "text": "added below"}]});
        let mut doc = with_details_block(&rich(), details_block_adf(&case("x"), URL));
        doc["content"].as_array_mut().unwrap().push(below.clone());
        let new = with_case_text(
            &doc,
            "Rewritten in SIR.",
            details_block_adf(&case("x"), URL),
        );
        assert_eq!(
            new["content"],
            json!([
                {"type": "paragraph", "content": [{"type": "text", "text": "Rewritten in SIR."}]},
                details_block_adf(&case("x"), URL),
                below
            ])
        );
    }

    #[test]
    fn sir_gets_the_text_above_the_block_clipped_with_a_note_or_a_placeholder() {
        let block = compose_issue_description(&case(""), URL);
        assert_eq!(
            sir_description_for_issue("SEC-1", &format!("Mine.\n\n{block}")),
            "Mine."
        );
        assert_eq!(
            sir_description_for_issue("SEC-1", &block),
            "Jira issue SEC-1 has no description."
        );
        let long = sir_description_for_issue("SEC-1", &"d".repeat(20_000));
        assert_eq!(long.chars().count(), SIR_DESCRIPTION_MAX_CHARS);
        assert!(long.ends_with("[Cut to fit SIR; the full text is in Jira issue SEC-1.]"));
    }

    #[test]
    fn console_url_names_region_and_case() {
        assert_eq!(case_console_url("eu-west-1", "1234567890"), URL);
    }
}
