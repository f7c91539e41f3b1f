//! Jira Data Center's wiki markup, the text of descriptions and comment bodies in its REST API,
//! converted to and from the emulator's internal form (ADF) well enough for the emulator.
//!
//! Data Center stores the wiki text as it was written; so does the emulator (see
//! `Store::wiki_text`), and this conversion only gives the internal document (what
//! `IssueRecord::description` holds, and its plain text) and renders a document written
//! through the Rust or admin API (a person in the UI) as wiki text.
//!
//! The subset read: paragraphs separated by empty lines, lines of a paragraph as hard breaks,
//! `h1.`–`h6.` headings, `* `/`- `/`# ` list items (one level: deeper markers are items of the
//! same list), `----` rules, the block macros `{panel}`, `{info}`, `{note}`, `{warning}`, `{tip}`,
//! `{quote}` (their content read as blocks), `{code}` and `{noformat}` (their content kept
//! verbatim), and in a line `*strong*`, `_emphasis_`, `-deleted-`, `+inserted+`, `^sup^`,
//! `~sub~`, `{{monospace}}`, `[text|url]`, `[url]`, `[~username]` (a mention), `\\` (a line
//! break), `\` before punctuation (that character as it is) and the entities `&amp;` and
//! `&#92;`. Everything else is text.
//!
//! Plain text rendered as wiki is escaped only where it would otherwise read as markup, so that
//! what a reader of the wiki text sees is the text that was written.

use serde_json::{Map, Value, json};

use crate::adf;

/// The ADF document of a wiki text.
pub(crate) fn to_document(wiki: &str) -> Value {
    let wiki = wiki.replace("\r\n", "\n");
    let lines: Vec<&str> = wiki.split('\n').collect();
    json!({"type": "doc", "version": 1, "content": blocks(&lines)})
}

/// The wiki text of an ADF document: blocks separated by empty lines.
pub(crate) fn from_document(document: &Value) -> String {
    children(document)
        .iter()
        .map(block_wiki)
        .collect::<Vec<_>>()
        .join("\n\n")
}

fn children(node: &Value) -> &[Value] {
    node.get("content")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn node_type(node: &Value) -> &str {
    node.get("type").and_then(Value::as_str).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Reading wiki text.

/// A block macro: its name and the ADF node its content becomes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Macro {
    Panel(&'static str),
    Quote,
    Code,
    NoFormat,
}

fn block_macro(name: &str) -> Option<Macro> {
    Some(match name {
        "panel" => Macro::Panel("custom"),
        "info" => Macro::Panel("info"),
        "note" => Macro::Panel("note"),
        "warning" => Macro::Panel("warning"),
        "tip" => Macro::Panel("success"),
        "quote" => Macro::Quote,
        "code" => Macro::Code,
        "noformat" => Macro::NoFormat,
        _ => return None,
    })
}

/// A line opening a block macro: the macro, its name, its parameters (after `:`), and the
/// text after the opening tag.
fn macro_opening(line: &str) -> Option<(Macro, &str, &str, &str)> {
    let rest = line.strip_prefix('{')?;
    let end = rest.find('}')?;
    let tag = &rest[..end];
    let (name, parameters) = tag.split_once(':').unwrap_or((tag, ""));
    let found = block_macro(name)?;
    Some((found, name, parameters, &rest[end + 1..]))
}

fn blocks(lines: &[&str]) -> Vec<Value> {
    let mut blocks = Vec::new();
    let mut paragraph: Vec<&str> = Vec::new();
    let flush = |paragraph: &mut Vec<&str>, blocks: &mut Vec<Value>| {
        if !paragraph.is_empty() {
            blocks.push(json!({"type": "paragraph", "content": paragraph_inline(paragraph)}));
            paragraph.clear();
        }
    };
    let mut index = 0;
    while index < lines.len() {
        let line = lines[index];
        if line.is_empty() {
            flush(&mut paragraph, &mut blocks);
            index += 1;
            continue;
        }
        if let Some((found, name, parameters, after)) = macro_opening(line)
            && let Some((inner, next)) = macro_body(lines, index, name, after)
        {
            flush(&mut paragraph, &mut blocks);
            blocks.push(macro_block(found, parameters, &inner));
            index = next;
            continue;
        }
        if let Some((level, text)) = heading(line) {
            flush(&mut paragraph, &mut blocks);
            blocks.push(json!({
                "type": "heading",
                "attrs": {"level": level},
                "content": inline(text),
            }));
            index += 1;
            continue;
        }
        if let Some(text) = line.strip_prefix("bq. ") {
            flush(&mut paragraph, &mut blocks);
            blocks.push(json!({"type": "blockquote", "content": [
                {"type": "paragraph", "content": inline(text)}
            ]}));
            index += 1;
            continue;
        }
        if line.trim_end() == "----" {
            flush(&mut paragraph, &mut blocks);
            blocks.push(json!({"type": "rule"}));
            index += 1;
            continue;
        }
        if let Some((ordered, _)) = list_item(line) {
            flush(&mut paragraph, &mut blocks);
            let mut items = Vec::new();
            while let Some((same, text)) = lines.get(index).and_then(|line| list_item(line)) {
                if same != ordered {
                    break;
                }
                items.push(json!({"type": "listItem", "content": [
                    {"type": "paragraph", "content": inline(text)}
                ]}));
                index += 1;
            }
            let kind = if ordered { "orderedList" } else { "bulletList" };
            blocks.push(json!({"type": kind, "content": items}));
            continue;
        }
        paragraph.push(line);
        index += 1;
    }
    flush(&mut paragraph, &mut blocks);
    blocks
}

/// The lines inside a block macro opened on `lines[start]` (with `after` the rest of that line),
/// and the index of the line after its closing tag; `None` when it is never closed.
fn macro_body(
    lines: &[&str],
    start: usize,
    name: &str,
    after: &str,
) -> Option<(Vec<String>, usize)> {
    let closing = format!("{{{name}}}");
    let mut inner = Vec::new();
    if let Some(end) = after.find(&closing) {
        let text = &after[..end];
        if !text.is_empty() {
            inner.push(text.to_owned());
        }
        return Some((inner, start + 1));
    }
    if !after.is_empty() {
        inner.push(after.to_owned());
    }
    for (offset, line) in lines[start + 1..].iter().enumerate() {
        if let Some(end) = line.find(&closing) {
            let text = &line[..end];
            if !text.is_empty() {
                inner.push(text.to_owned());
            }
            return Some((inner, start + 2 + offset));
        }
        inner.push((*line).to_owned());
    }
    None
}

fn macro_block(found: Macro, parameters: &str, inner: &[String]) -> Value {
    let lines: Vec<&str> = inner.iter().map(String::as_str).collect();
    match found {
        Macro::Panel(panel_type) => json!({
            "type": "panel",
            "attrs": {"panelType": panel_type},
            "content": blocks(&lines),
        }),
        Macro::Quote => json!({"type": "blockquote", "content": blocks(&lines)}),
        Macro::Code | Macro::NoFormat => {
            let text = lines.join("\n");
            let mut node = json!({"type": "codeBlock", "content": []});
            if !text.is_empty() {
                node["content"] = json!([{"type": "text", "text": text}]);
            }
            let language = parameters
                .split('|')
                .find(|parameter| !parameter.contains('='))
                .filter(|language| !language.is_empty());
            if found == Macro::Code
                && let Some(language) = language
            {
                node["attrs"] = json!({"language": language});
            }
            node
        }
    }
}

fn heading(line: &str) -> Option<(u64, &str)> {
    let rest = line.strip_prefix('h')?;
    let level = rest.chars().next()?.to_digit(10)?;
    let text = rest.get(1..)?.strip_prefix(". ")?;
    (1..=6).contains(&level).then_some((u64::from(level), text))
}

/// `* item`, `- item`, `# item` (any depth of `*` or `#`): whether ordered, and the text.
fn list_item(line: &str) -> Option<(bool, &str)> {
    if let Some(text) = line.strip_prefix("- ") {
        return Some((false, text));
    }
    let marker = line.chars().next().filter(|c| *c == '*' || *c == '#')?;
    let depth = line.chars().take_while(|c| *c == marker).count();
    let text = line[depth..].strip_prefix(' ')?;
    Some((marker == '#', text))
}

fn paragraph_inline(lines: &[&str]) -> Vec<Value> {
    let mut nodes = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        if index > 0 {
            nodes.push(json!({"type": "hardBreak"}));
        }
        nodes.extend(inline(line));
    }
    nodes
}

/// The inline nodes of one line.
fn inline(line: &str) -> Vec<Value> {
    let chars: Vec<char> = line.chars().collect();
    let mut nodes = Vec::new();
    inline_into(&chars, &[], &mut nodes);
    merge_text(nodes)
}

const MARKS: [(char, &str); 6] = [
    ('*', "strong"),
    ('_', "em"),
    ('-', "strike"),
    ('+', "underline"),
    ('^', "sup"),
    ('~', "sub"),
];

fn mark_for(delimiter: char) -> Option<Value> {
    let (_, name) = MARKS.iter().find(|(c, _)| *c == delimiter)?;
    Some(match *name {
        "sup" | "sub" => json!({"type": "subsup", "attrs": {"type": name}}),
        name => json!({"type": name}),
    })
}

fn text_node(text: &str, marks: &[Value]) -> Value {
    let mut node = json!({"type": "text", "text": text});
    if !marks.is_empty() {
        node["marks"] = Value::Array(marks.to_vec());
    }
    node
}

fn inline_into(chars: &[char], marks: &[Value], nodes: &mut Vec<Value>) {
    let mut text = String::new();
    let flush = |text: &mut String, nodes: &mut Vec<Value>| {
        if !text.is_empty() {
            nodes.push(text_node(text, marks));
            text.clear();
        }
    };
    let mut at = 0;
    while at < chars.len() {
        let c = chars[at];
        let next = chars.get(at + 1).copied();
        match c {
            '\\' if next == Some('\\') => {
                flush(&mut text, nodes);
                nodes.push(json!({"type": "hardBreak"}));
                at += 2;
                continue;
            }
            '\\' if next.is_some_and(|next| next.is_ascii_punctuation()) => {
                text.extend(next);
                at += 2;
                continue;
            }
            '&' => {
                let rest: String = chars[at..].iter().take(5).collect();
                if rest.starts_with("&amp;") {
                    text.push('&');
                    at += 5;
                    continue;
                }
                if rest.starts_with("&#92;") {
                    text.push('\\');
                    at += 5;
                    continue;
                }
            }
            '{' if next == Some('{') => {
                if let Some(end) = find_pair(chars, at + 2, '}').filter(|end| *end > at + 2) {
                    flush(&mut text, nodes);
                    let code: String = chars[at + 2..end].iter().collect();
                    let mut with_code = marks.to_vec();
                    with_code.push(json!({"type": "code"}));
                    nodes.push(text_node(&code, &with_code));
                    at = end + 2;
                    continue;
                }
            }
            '[' => {
                if let Some(end) = chars[at + 1..].iter().position(|c| *c == ']') {
                    let inside: String = chars[at + 1..at + 1 + end].iter().collect();
                    if let Some(link) = link_nodes(&inside, marks) {
                        flush(&mut text, nodes);
                        nodes.extend(link);
                        at += end + 2;
                        continue;
                    }
                }
            }
            _ => {}
        }
        if let Some(mark) = mark_for(c)
            && let Some(end) = closing(chars, at, c)
        {
            flush(&mut text, nodes);
            let mut inner_marks = marks.to_vec();
            inner_marks.push(mark);
            inline_into(&chars[at + 1..end], &inner_marks, nodes);
            at = end + 1;
            continue;
        }
        text.push(c);
        at += 1;
    }
    flush(&mut text, nodes);
}

/// The index of the first of two `c` in a row from `from`.
fn find_pair(chars: &[char], from: usize, c: char) -> Option<usize> {
    (from..chars.len().saturating_sub(1)).find(|&at| chars[at] == c && chars[at + 1] == c)
}

/// Where the mark opened by `chars[open]` closes, if it opens one: the opening delimiter
/// follows the start or a non-alphanumeric character and precedes a non-space; the closing one
/// follows a non-space and precedes the end or a non-alphanumeric character.
fn closing(chars: &[char], open: usize, delimiter: char) -> Option<usize> {
    let before_ok = open == 0 || !chars[open - 1].is_alphanumeric();
    let after_ok = chars
        .get(open + 1)
        .is_some_and(|c| !c.is_whitespace() && *c != delimiter);
    if !before_ok || !after_ok {
        return None;
    }
    (open + 2..chars.len()).find(|&at| {
        chars[at] == delimiter
            && chars[at - 1] != '\\'
            && !chars[at - 1].is_whitespace()
            && chars.get(at + 1).is_none_or(|c| !c.is_alphanumeric())
    })
}

/// `[~user]`, `[text|url]` or `[url]` as nodes; `None` for `[]` or `[|…]`.
fn link_nodes(inside: &str, marks: &[Value]) -> Option<Vec<Value>> {
    if let Some(user) = inside.strip_prefix('~') {
        return (!user.is_empty()).then(|| {
            vec![json!({"type": "mention", "attrs": {"id": user, "text": format!("@{user}")}})]
        });
    }
    let (text, href) = match inside.rsplit_once('|') {
        Some((text, href)) => (text, href),
        None => (inside, inside),
    };
    if text.is_empty() || href.trim().is_empty() {
        return None;
    }
    let mut with_link = marks.to_vec();
    with_link.push(json!({"type": "link", "attrs": {"href": href.trim()}}));
    let chars: Vec<char> = text.chars().collect();
    let mut nodes = Vec::new();
    inline_into(&chars, &with_link, &mut nodes);
    Some(nodes)
}

/// Adjacent text nodes with the same marks as one.
fn merge_text(nodes: Vec<Value>) -> Vec<Value> {
    let mut merged: Vec<Value> = Vec::new();
    for node in nodes {
        if let Some(last) = merged.last_mut()
            && node_type(last) == "text"
            && node_type(&node) == "text"
            && last.get("marks") == node.get("marks")
        {
            let joined = format!(
                "{}{}",
                last["text"].as_str().unwrap_or_default(),
                node["text"].as_str().unwrap_or_default()
            );
            last["text"] = Value::String(joined);
            continue;
        }
        merged.push(node);
    }
    merged
}

// ---------------------------------------------------------------------------------------------
// Writing wiki text.

/// How much of a text to escape: only what reads as markup in context, or every character the
/// reader above treats as markup.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Escape {
    AsNeeded,
    All,
}

/// A top-level block as wiki text: written plainly when that reads back as the same block with
/// the same text, otherwise with its text escaped.
fn block_wiki(block: &Value) -> String {
    let plain = block_text(block, Escape::AsNeeded);
    if plain.is_empty() || reads_back(block, &plain) {
        plain
    } else {
        block_text(block, Escape::All)
    }
}

fn reads_back(block: &Value, wiki: &str) -> bool {
    let read = to_document(wiki);
    let read_blocks = children(&read);
    read_blocks.len() == 1
        && node_type(&read_blocks[0]) == node_type(block)
        && adf::to_plain_text(&read) == adf::to_plain_text(&json!({"content": [block]}))
}

fn block_text(block: &Value, escape: Escape) -> String {
    match node_type(block) {
        "paragraph" => inline_wiki(children(block), escape),
        "heading" => {
            let level = block
                .get("attrs")
                .and_then(|attrs| attrs.get("level"))
                .and_then(Value::as_u64)
                .unwrap_or(1);
            format!("h{level}. {}", inline_wiki(children(block), escape))
        }
        "bulletList" | "orderedList" => {
            let marker = if node_type(block) == "orderedList" {
                '#'
            } else {
                '*'
            };
            list_lines(block, marker, 1, escape).join("\n")
        }
        "rule" => "----".to_owned(),
        "codeBlock" => {
            let text = adf::to_plain_text(&json!({"content": [block]}));
            match block
                .get("attrs")
                .and_then(|attrs| attrs.get("language"))
                .and_then(Value::as_str)
            {
                Some(language) => format!("{{code:{language}}}\n{text}\n{{code}}"),
                None => format!("{{noformat}}\n{text}\n{{noformat}}"),
            }
        }
        "panel" => {
            let name = match block
                .get("attrs")
                .and_then(|attrs| attrs.get("panelType"))
                .and_then(Value::as_str)
            {
                Some("info") => "info",
                Some("note") => "note",
                Some("warning" | "error") => "warning",
                Some("success") => "tip",
                _ => "panel",
            };
            format!("{{{name}}}\n{}\n{{{name}}}", inner_blocks(block, escape))
        }
        "blockquote" => format!("{{quote}}\n{}\n{{quote}}", inner_blocks(block, escape)),
        _ => escape_text(
            &adf::to_plain_text(&json!({"content": [block]})),
            Escape::All,
            true,
        ),
    }
}

fn inner_blocks(block: &Value, escape: Escape) -> String {
    children(block)
        .iter()
        .map(|inner| block_text(inner, escape))
        .collect::<Vec<_>>()
        .join("\n\n")
}

fn list_lines(list: &Value, marker: char, depth: usize, escape: Escape) -> Vec<String> {
    let prefix: String = std::iter::repeat_n(marker, depth).collect();
    let mut lines = Vec::new();
    for item in children(list) {
        let mut first = true;
        for inner in children(item) {
            match node_type(inner) {
                "bulletList" => lines.extend(list_lines(inner, '*', depth + 1, escape)),
                "orderedList" => lines.extend(list_lines(inner, '#', depth + 1, escape)),
                _ => {
                    let text = block_text(inner, escape);
                    if first {
                        lines.push(format!("{prefix} {text}"));
                        first = false;
                    } else {
                        lines.push(text);
                    }
                }
            }
        }
        if first {
            lines.push(format!("{prefix} "));
        }
    }
    lines
}

fn inline_wiki(nodes: &[Value], escape: Escape) -> String {
    let mut wiki = String::new();
    for node in nodes {
        let attributes = node.get("attrs").unwrap_or(&Value::Null);
        let attribute = |name: &str| attributes.get(name).and_then(Value::as_str);
        match node_type(node) {
            "text" => {
                let text = node.get("text").and_then(Value::as_str).unwrap_or_default();
                let at_line_start = wiki.is_empty() || wiki.ends_with('\n');
                wiki.push_str(&marked(text, node.get("marks"), escape, at_line_start));
            }
            "hardBreak" => wiki.push('\n'),
            "mention" => {
                wiki.push_str(&format!("[~{}]", attribute("id").unwrap_or_default()));
            }
            "inlineCard" => {
                let url = attribute("url").unwrap_or_default();
                wiki.push_str(&format!("[{url}]"));
            }
            "emoji" | "status" | "date" => {
                let text = attribute("text")
                    .or_else(|| attribute("shortName"))
                    .unwrap_or_default();
                wiki.push_str(&escape_text(text, Escape::All, false));
            }
            _ => {
                let text = adf::to_plain_text(&json!({"content": [node]}));
                wiki.push_str(&escape_text(&text, Escape::All, false));
            }
        }
    }
    wiki
}

/// A text node with its marks as wiki text.
fn marked(text: &str, marks: Option<&Value>, escape: Escape, at_line_start: bool) -> String {
    let marks: Vec<&Map<String, Value>> = marks
        .and_then(Value::as_array)
        .map(|marks| marks.iter().filter_map(Value::as_object).collect())
        .unwrap_or_default();
    let code = marks
        .iter()
        .any(|mark| mark.get("type").and_then(Value::as_str) == Some("code"));
    let mut wiki = if code {
        format!("{{{{{text}}}}}")
    } else if marks.is_empty() {
        escape_text(text, escape, at_line_start)
    } else {
        escape_text(text, Escape::All, false)
    };
    for mark in &marks {
        let kind = mark.get("type").and_then(Value::as_str).unwrap_or_default();
        let attribute = |name: &str| {
            mark.get("attrs")
                .and_then(|attrs| attrs.get(name))
                .and_then(Value::as_str)
        };
        wiki = match kind {
            "strong" => format!("*{wiki}*"),
            "em" => format!("_{wiki}_"),
            "strike" => format!("-{wiki}-"),
            "underline" => format!("+{wiki}+"),
            "subsup" if attribute("type") == Some("sub") => format!("~{wiki}~"),
            "subsup" => format!("^{wiki}^"),
            "textColor" => {
                let color = attribute("color").unwrap_or("#000000");
                format!("{{color:{color}}}{wiki}{{color}}")
            }
            "link" => format!("[{wiki}|{}]", attribute("href").unwrap_or_default()),
            _ => wiki,
        };
    }
    wiki
}

/// Characters the reader treats as markup somewhere.
const SPECIAL: &str = "*_-+^~{[#";

/// Text as wiki text: as it is, or with every character the reader takes as markup escaped
/// (`\` before it; a backslash and `&` as entities; the `.` of a line that would read as a
/// heading or a quote).
fn escape_text(text: &str, escape: Escape, at_line_start: bool) -> String {
    if escape == Escape::AsNeeded {
        return text.to_owned();
    }
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => escaped.push_str("&#92;"),
            '&' => escaped.push_str("&amp;"),
            c if SPECIAL.contains(c) => {
                escaped.push('\\');
                escaped.push(c);
            }
            c => escaped.push(c),
        }
    }
    escaped
        .split('\n')
        .enumerate()
        .map(|(index, line)| {
            let starts_block = heading(line).is_some() || line.starts_with("bq. ");
            match line.find('.') {
                Some(dot) if starts_block && (index > 0 || at_line_start) => {
                    format!("{}\\{}", &line[..dot], &line[dot..])
                }
                _ => line.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(wiki: &str) -> String {
        adf::to_plain_text(&to_document(wiki))
    }

    #[test]
    fn paragraphs_and_line_breaks_read_as_in_plain_text() {
        let text = "First paragraph.\n\nSecond,\nwith a break.";
        assert_eq!(to_document(text), adf::from_plain_text(text));
    }

    #[test]
    fn markup_reads_as_marks_links_mentions_and_panels() {
        let document = to_document(
            "Hi *bold* and [the site|https://example.com] for [~ann]\n\n{info}\nInside\n{info}",
        );
        assert!(adf::is_document(&document));
        let paragraph = &children(&document)[0];
        let inline = children(paragraph);
        assert_eq!(inline[1]["text"], "bold");
        assert_eq!(inline[1]["marks"][0]["type"], "strong");
        assert_eq!(
            inline[3]["marks"][0]["attrs"]["href"],
            "https://example.com"
        );
        assert_eq!(inline[5]["type"], "mention");
        assert_eq!(inline[5]["attrs"]["id"], "ann");
        let panel = &children(&document)[1];
        assert_eq!(panel["type"], "panel");
        assert_eq!(panel["attrs"]["panelType"], "info");
        assert_eq!(adf::to_plain_text(panel), "Inside");
    }

    #[test]
    fn code_keeps_its_content_verbatim() {
        let document = to_document("{code:rust}\nlet *x* = [y];\n{code}");
        let code = &children(&document)[0];
        assert_eq!(code["type"], "codeBlock");
        assert_eq!(code["attrs"]["language"], "rust");
        assert_eq!(code["content"][0]["text"], "let *x* = [y];");
    }

    #[test]
    fn delimiters_inside_words_or_before_spaces_are_text() {
        assert_eq!(plain("2024-05-01 and a - b"), "2024-05-01 and a - b");
        assert_eq!(plain("snake_case_name"), "snake_case_name");
        assert_eq!(plain("5 * 3 * 2"), "5 * 3 * 2");
    }

    #[test]
    fn plain_text_written_as_wiki_reads_back_as_the_same_text() {
        for text in [
            "Nothing special here.",
            "Use *stars* and _underscores_ and {panel} and [brackets|x]",
            "h1. not a heading\n* not a list\n----",
            "a back\\slash before \\* and &amp; literally",
            "first\n\nsecond\nwith a break",
            "{{not code}} -not struck- +not inserted+",
            "bq. not a quote",
            "# not numbered",
        ] {
            let wiki = from_document(&adf::from_plain_text(text));
            assert_eq!(plain(&wiki), text, "{text:?} written as {wiki:?}");
        }
    }

    #[test]
    fn any_line_of_text_and_specials_written_as_wiki_reads_back_as_itself() {
        let alphabet: Vec<char> = "ab1 .*_-+^~{}[]|!#?&\\;~h".chars().collect();
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..5_000 {
            let length = rng.usize(1..12);
            let lines: Vec<String> = (0..rng.usize(1..3))
                .map(|_| {
                    (0..length)
                        .map(|_| alphabet[rng.usize(..alphabet.len())])
                        .collect()
                })
                .collect();
            let text = lines.join("\n");
            let wiki = from_document(&adf::from_plain_text(&text));
            assert_eq!(plain(&wiki), text, "{text:?} written as {wiki:?}");
        }
    }

    #[test]
    fn any_wiki_text_reads_as_a_valid_document() {
        // Pieces separated by `¦`.
        let pieces: Vec<&str> =
            "a¦ ¦\n¦\n\n¦*¦_¦-¦+¦^¦~¦{{¦}}¦[¦]¦|¦[~¦\\¦&amp;¦h1. ¦* ¦# ¦- ¦bq. ¦----\
             ¦{panel}¦{info}¦{code}¦{noformat}¦{quote}¦x"
                .split('¦')
                .collect();
        let mut rng = fastrand::Rng::with_seed(11);
        for _ in 0..5_000 {
            let wiki: String = (0..rng.usize(1..16))
                .map(|_| pieces[rng.usize(..pieces.len())])
                .collect();
            let document = to_document(&wiki);
            assert!(adf::is_document(&document), "{wiki:?} read as {document}");
        }
    }

    #[test]
    fn text_without_markup_is_written_unescaped() {
        let text = "Suspicious login from 10.0.0.1 - see the logs (2024-05-01).";
        assert_eq!(from_document(&adf::from_plain_text(text)), text);
    }

    #[test]
    fn a_document_with_marks_is_written_as_markup() {
        let document = json!({"type": "doc", "version": 1, "content": [
            {"type": "paragraph", "content": [
                {"type": "text", "text": "See "},
                {"type": "text", "text": "this", "marks": [{"type": "strong"}]},
                {"type": "text", "text": " at "},
                {"type": "text", "text": "the site", "marks": [{"type": "link", "attrs": {"href": "https://a"}}]}
            ]},
            {"type": "panel", "attrs": {"panelType": "note"}, "content": [
                {"type": "paragraph", "content": [{"type": "text", "text": "Careful"}]}
            ]}
        ]});
        assert_eq!(
            from_document(&document),
            "See *this* at [the site|https://a]\n\n{note}\nCareful\n{note}"
        );
    }
}
