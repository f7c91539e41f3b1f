//! Atlassian Document Format: the minimal validation Cloud applies to description and comment
//! bodies, and the plain-text conversion the REST v2 API uses in both directions.

use serde_json::{Value, json};

/// The message Cloud gives when a description is not an ADF document.
pub(crate) const NOT_A_DOCUMENT: &str =
    "Operation value must be an Atlassian Document (see the Atlassian Document Format)";

/// Whether `value` is an ADF document: `type` doc, `version` 1, a `content` array of nodes, each
/// an object with a string `type`, text nodes with a non-empty string `text`, children in arrays,
/// and for the nodes and marks whose attributes the schema requires, those attributes (a panel's
/// `panelType`, a heading's `level` 1–6, a link's `href`), as Cloud's validation refuses them.
pub(crate) fn is_document(value: &Value) -> bool {
    let Some(object) = value.as_object() else {
        return false;
    };
    object.get("type").and_then(Value::as_str) == Some("doc")
        && object.get("version").and_then(Value::as_u64) == Some(1)
        && object
            .get("content")
            .and_then(Value::as_array)
            .is_some_and(|nodes| nodes.iter().all(is_node))
}

const PANEL_TYPES: [&str; 6] = ["info", "note", "warning", "success", "error", "custom"];

fn is_node(node: &Value) -> bool {
    let Some(object) = node.as_object() else {
        return false;
    };
    let Some(kind) = object.get("type").and_then(Value::as_str) else {
        return false;
    };
    let attr = |name: &str| object.get("attrs").and_then(|attrs| attrs.get(name));
    let attributes_ok = match kind {
        "text" => object
            .get("text")
            .and_then(Value::as_str)
            .is_some_and(|text| !text.is_empty()),
        "panel" => attr("panelType")
            .and_then(Value::as_str)
            .is_some_and(|panel| PANEL_TYPES.contains(&panel)),
        "heading" => attr("level")
            .and_then(Value::as_u64)
            .is_some_and(|level| (1..=6).contains(&level)),
        _ => true,
    };
    let marks_ok = match object.get("marks") {
        None => true,
        Some(Value::Array(marks)) => marks.iter().all(is_mark),
        Some(_) => false,
    };
    attributes_ok
        && marks_ok
        && match object.get("content") {
            None => true,
            Some(Value::Array(children)) => children.iter().all(is_node),
            Some(_) => false,
        }
}

fn is_mark(mark: &Value) -> bool {
    match mark.get("type").and_then(Value::as_str) {
        Some("link") => mark
            .get("attrs")
            .and_then(|attrs| attrs.get("href"))
            .is_some_and(Value::is_string),
        Some(_) => true,
        None => false,
    }
}

/// A document of paragraphs: blank lines separate paragraphs, single newlines become hard breaks,
/// so `to_plain_text(from_plain_text(t)) == t` for any `t`.
pub(crate) fn from_plain_text(text: &str) -> Value {
    let text = text.replace("\r\n", "\n");
    if text.is_empty() {
        return json!({"type": "doc", "version": 1, "content": []});
    }
    let paragraphs: Vec<Value> = text
        .split("\n\n")
        .map(|paragraph| {
            let mut inline = Vec::new();
            for (index, line) in paragraph.split('\n').enumerate() {
                if index > 0 {
                    inline.push(json!({"type": "hardBreak"}));
                }
                if !line.is_empty() {
                    inline.push(json!({"type": "text", "text": line}));
                }
            }
            json!({"type": "paragraph", "content": inline})
        })
        .collect();
    json!({"type": "doc", "version": 1, "content": paragraphs})
}

/// The text of a document: blocks separated by blank lines, hard breaks as newlines, list items
/// on their own lines with `* ` or `1. `, mentions and links by their text.
pub(crate) fn to_plain_text(document: &Value) -> String {
    blocks_text(children(document))
}

fn children(node: &Value) -> &[Value] {
    node.get("content")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn blocks_text(blocks: &[Value]) -> String {
    blocks
        .iter()
        .map(block_text)
        .collect::<Vec<_>>()
        .join("\n\n")
}

fn node_type(node: &Value) -> &str {
    node.get("type").and_then(Value::as_str).unwrap_or_default()
}

fn block_text(block: &Value) -> String {
    match node_type(block) {
        "bulletList" | "orderedList" => {
            let ordered = node_type(block) == "orderedList";
            children(block)
                .iter()
                .enumerate()
                .map(|(index, item)| {
                    let marker = if ordered {
                        format!("{}. ", index + 1)
                    } else {
                        "* ".to_owned()
                    };
                    format!("{marker}{}", blocks_text(children(item)))
                })
                .collect::<Vec<_>>()
                .join("\n")
        }
        "rule" => "----".to_owned(),
        "blockquote" | "panel" | "expand" | "layoutSection" | "layoutColumn" | "listItem" => {
            blocks_text(children(block))
        }
        _ => inline_text(children(block)),
    }
}

fn inline_text(nodes: &[Value]) -> String {
    let mut text = String::new();
    for node in nodes {
        let attributes = node.get("attrs").map_or(&Value::Null, |attrs| attrs);
        match node_type(node) {
            "text" => text.push_str(node.get("text").and_then(Value::as_str).unwrap_or_default()),
            "hardBreak" => text.push('\n'),
            "mention" | "emoji" | "status" | "date" => text.push_str(
                attributes
                    .get("text")
                    .or_else(|| attributes.get("shortName"))
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
            ),
            "inlineCard" => {
                text.push_str(
                    attributes
                        .get("url")
                        .and_then(Value::as_str)
                        .unwrap_or_default(),
                );
            }
            _ => text.push_str(&block_text(node)),
        }
    }
    text
}

/// A description as given in a request: `Ok(None)` for JSON null, `Err` when not a document.
pub(crate) fn optional_document(value: &Value) -> Result<Option<Value>, ()> {
    match value {
        Value::Null => Ok(None),
        document if is_document(document) => Ok(Some(document.clone())),
        _ => Err(()),
    }
}

/// An empty document (no content) counts as no description.
pub(crate) fn non_empty(document: Value) -> Option<Value> {
    if children(&document).is_empty() {
        None
    } else {
        Some(document)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_round_trips_through_adf() {
        for text in [
            "one line",
            "first paragraph\n\nsecond\nwith a break",
            "a\n\n\n\nb",
            "\n\n\n",
            "trailing\n",
            "",
        ] {
            assert_eq!(to_plain_text(&from_plain_text(text)), text, "{text:?}");
        }
    }

    #[test]
    fn converted_text_is_a_valid_document() {
        assert!(is_document(&from_plain_text("hello\n\nworld")));
    }

    #[test]
    fn a_string_is_not_a_document() {
        assert!(!is_document(&json!("hello")));
        assert!(!is_document(
            &json!({"type": "doc", "version": 2, "content": []})
        ));
        assert!(!is_document(&json!({"type": "doc", "version": 1})));
        assert!(!is_document(
            &json!({"type": "doc", "version": 1, "content": [{"type": "text"}]})
        ));
    }

    #[test]
    fn nodes_missing_what_the_schema_requires_are_refused() {
        let doc = |node: Value| json!({"type": "doc", "version": 1, "content": [node]});
        let paragraph = |inline: Value| doc(json!({"type": "paragraph", "content": [inline]}));
        assert!(!is_document(&paragraph(
            json!({"type": "text", "text": ""})
        )));
        assert!(!is_document(&doc(json!({"type": "panel", "content": []}))));
        assert!(!is_document(&doc(
            json!({"type": "panel", "attrs": {"panelType": "shiny"}, "content": []})
        )));
        assert!(!is_document(&doc(
            json!({"type": "heading", "content": []})
        )));
        assert!(!is_document(&paragraph(
            json!({"type": "text", "text": "x", "marks": [{"type": "link"}]})
        )));
        assert!(is_document(&doc(
            json!({"type": "panel", "attrs": {"panelType": "info"},
            "content": [{"type": "paragraph", "content": [{"type": "text", "text": "x",
                "marks": [{"type": "strong"}, {"type": "link", "attrs": {"href": "https://a"}}]}]}]})
        )));
        assert!(is_document(&doc(
            json!({"type": "heading", "attrs": {"level": 2}, "content": []})
        )));
    }

    #[test]
    fn lists_and_mentions_read_as_text() {
        let document = json!({"type": "doc", "version": 1, "content": [
            {"type": "bulletList", "content": [
                {"type": "listItem", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "one"}]}]},
                {"type": "listItem", "content": [{"type": "paragraph", "content": [{"type": "mention", "attrs": {"id": "x", "text": "@Ann"}}]}]}
            ]}
        ]});
        assert_eq!(to_plain_text(&document), "* one\n* @Ann");
    }
}
