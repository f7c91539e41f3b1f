//! Atlassian Document Format (ADF) ⇄ plain text, for Jira Cloud REST v3 bodies.
//!
//! SIR holds plain text; Jira v3 wants ADF documents for descriptions and comments (a plain
//! string is a 400). Text becomes one paragraph per blank-line-separated block, single line
//! breaks become `hardBreak` nodes. Going back, every node that shows text to a person is kept
//! (paragraphs, headings, lists, code, quotes, mentions, emoji, links, tables), so what was
//! written in Jira reaches SIR readable. `text_to_adf` then `adf_to_text` gives back the
//! normalized input, so our own writes fingerprint the same when read back.
//! No crate on crates.io covers ADF (the `adf` crate is an unrelated XML format), hence this one.

use serde_json::{Value, json};

use crate::text::normalize_text;

/// An ADF document holding `text` as paragraphs.
pub fn text_to_adf(text: &str) -> Value {
    let normalized = normalize_text(text);
    let paragraphs: Vec<Value> = normalized
        .split("\n\n")
        .filter(|block| !block.is_empty())
        .map(|block| {
            let mut content = Vec::new();
            for (i, line) in block.split('\n').enumerate() {
                if i > 0 {
                    content.push(json!({"type": "hardBreak"}));
                }
                if !line.is_empty() {
                    content.push(json!({"type": "text", "text": line}));
                }
            }
            json!({"type": "paragraph", "content": content})
        })
        .collect();
    json!({"type": "doc", "version": 1, "content": paragraphs})
}

/// The text a person sees in an ADF document (normalized; empty for `null`).
pub fn adf_to_text(doc: &Value) -> String {
    let mut out = String::new();
    render_blocks(doc, &mut out, "");
    normalize_text(&out)
}

/// A node's child nodes (none when it has no `content`).
pub(crate) fn children(node: &Value) -> &[Value] {
    node.get("content")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// A node's `type` (empty when it has none).
pub(crate) fn node_type(node: &Value) -> &str {
    node.get("type").and_then(Value::as_str).unwrap_or_default()
}

/// A node's string attribute `name`.
pub(crate) fn attr<'a>(node: &'a Value, name: &str) -> Option<&'a str> {
    node.get("attrs")?.get(name)?.as_str()
}

/// Block nodes: each ends with a blank line so blocks stay apart.
fn render_blocks(node: &Value, out: &mut String, prefix: &str) {
    let kind = node.get("type").and_then(Value::as_str).unwrap_or_default();
    match kind {
        "doc" | "blockquote" | "panel" | "expand" | "nestedExpand" | "layoutSection"
        | "layoutColumn" | "table" | "tableRow" | "tableCell" | "tableHeader" => {
            for child in children(node) {
                render_blocks(child, out, prefix);
            }
        }
        "bulletList" | "orderedList" | "taskList" => {
            for (i, item) in children(node).iter().enumerate() {
                let marker = if kind == "orderedList" {
                    format!("{prefix}{}. ", i + 1)
                } else {
                    format!("{prefix}- ")
                };
                out.push_str(&marker);
                let mut item_text = String::new();
                for child in children(item) {
                    render_blocks(child, &mut item_text, &format!("{prefix}  "));
                }
                if children(item).is_empty()
                    || item.get("type").and_then(Value::as_str) == Some("taskItem")
                {
                    render_inline(item, &mut item_text);
                }
                out.push_str(item_text.trim());
                out.push('\n');
            }
            out.push('\n');
        }
        "rule" => out.push_str("---\n\n"),
        "paragraph" | "heading" | "codeBlock" => {
            render_inline(node, out);
            out.push_str("\n\n");
        }
        "mediaSingle" | "mediaGroup" => {
            for media in children(node) {
                if let Some(name) = attr(media, "alt").or_else(|| attr(media, "id")) {
                    out.push_str(&format!("[attachment: {name}]\n\n"));
                }
            }
        }
        _ => {
            // Inline nodes at block level, or block types this renderer does not name.
            render_inline(node, out);
            if !out.ends_with('\n') {
                out.push_str("\n\n");
            }
        }
    }
}

fn render_inline(node: &Value, out: &mut String) {
    for child in children(node) {
        match child
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
        {
            "text" => out.push_str(
                child
                    .get("text")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
            ),
            "hardBreak" => out.push('\n'),
            "mention" => out.push_str(attr(child, "text").unwrap_or("@someone")),
            "emoji" => out.push_str(
                attr(child, "text")
                    .or_else(|| attr(child, "shortName"))
                    .unwrap_or_default(),
            ),
            "inlineCard" | "blockCard" => out.push_str(attr(child, "url").unwrap_or_default()),
            "date" => out.push_str(attr(child, "timestamp").unwrap_or_default()),
            "status" => out.push_str(attr(child, "text").unwrap_or_default()),
            _ => render_inline(child, out),
        }
    }
}

/// Whether `value` is shaped like an ADF document (what Jira v3 accepts as a body).
pub fn is_adf_document(value: &Value) -> bool {
    value.get("type").and_then(Value::as_str) == Some("doc")
        && value.get("version").and_then(Value::as_u64) == Some(1)
        && value.get("content").is_some_and(Value::is_array)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_becomes_paragraphs_with_hard_breaks() {
        let doc = text_to_adf("First line\nsecond line\n\nNext paragraph");
        assert!(is_adf_document(&doc));
        assert_eq!(
            doc["content"],
            json!([
                {"type": "paragraph", "content": [
                    {"type": "text", "text": "First line"},
                    {"type": "hardBreak"},
                    {"type": "text", "text": "second line"}
                ]},
                {"type": "paragraph", "content": [{"type": "text", "text": "Next paragraph"}]}
            ])
        );
    }

    #[test]
    fn text_round_trips_through_adf() {
        for text in [
            "one",
            "a\nb\n\nc",
            "Access keys used from 203.0.113.7.\r\n\r\n\r\nSee CloudTrail.  ",
            "",
        ] {
            assert_eq!(
                adf_to_text(&text_to_adf(text)),
                normalize_text(text),
                "{text:?}"
            );
        }
    }

    #[test]
    fn empty_text_is_a_valid_empty_document() {
        let doc = text_to_adf("  \n ");
        assert!(is_adf_document(&doc));
        assert_eq!(doc["content"], json!([]));
    }

    #[test]
    fn rich_jira_content_renders_readably() {
        let doc = json!({"type": "doc", "version": 1, "content": [
            {"type": "heading", "attrs": {"level": 2}, "content": [{"type": "text", "text": "Timeline"}]},
            {"type": "bulletList", "content": [
                {"type": "listItem", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "10:00 alert"}]}]},
                {"type": "listItem", "content": [{"type": "paragraph", "content": [
                    {"type": "mention", "attrs": {"id": "1", "text": "@Alice"}},
                    {"type": "text", "text": " isolated the host"}]}]}
            ]},
            {"type": "codeBlock", "content": [{"type": "text", "text": "aws ec2 stop-instances"}]},
            {"type": "paragraph", "content": [
                {"type": "text", "text": "See ", "marks": [{"type": "strong"}]},
                {"type": "inlineCard", "attrs": {"url": "https://example.com/runbook"}}]}
        ]});
        assert_eq!(
            adf_to_text(&doc),
            "Timeline\n\n- 10:00 alert\n- @Alice isolated the host\n\naws ec2 stop-instances\n\nSee https://example.com/runbook"
        );
    }

    #[test]
    fn null_description_is_empty_text() {
        assert_eq!(adf_to_text(&Value::Null), "");
        assert!(!is_adf_document(&json!("plain string")));
    }
}
