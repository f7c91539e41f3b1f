//! Atlassian Document Format (ADF) ⇄ Jira wiki markup, for Jira Data Center / Server REST v2
//! bodies.
//!
//! Jira Data Center takes and gives descriptions and comment bodies as wiki markup strings where
//! Jira Cloud takes ADF documents. The rest of the integration works on ADF ([`crate::adf`],
//! [`crate::issue_description`]), so the Data Center adapter converts at its edge: every document
//! it writes goes out through [`adf_to_wiki`], every body it reads comes in through
//! [`wiki_to_adf`].
//!
//! Writing shows text exactly as written: a character Jira's renderer would read as markup is
//! escaped where it could be read so, with a backslash where the renderer honours one and an HTML
//! character reference where it does not (a literal backslash, the `.` of a line starting `h1.`
//! or `bq.`, a `|`, doubled braces, `:P`-like emoticons, `&` before something entity-shaped).
//! Bare URLs are written as explicit `[url]` links, since Jira links URLs before it reads
//! escapes. Reading follows the renderer's own rules (phrase boundaries, escapes, forced line
//! breaks, dashes, emoticons, macros), so what a person typed reads as what Jira showed them and
//! our own writes read back as written: `wiki_to_adf(adf_to_wiki(doc))` has the text of `doc`,
//! and writing it again gives the same markup, so an unchanged description is never rewritten.
//!
//! Lossy on the way out (wiki markup cannot hold it): text and background colours, table layout
//! (widths, merged cells), list start numbers and list styles, media without a file name or URL
//! (dropped) and image sizes, panel colours; an error panel becomes `{warning}`, a container
//! inside one of its own kind is flattened, blocks after a nested list in a list item move before
//! it, and blocks inside list items and table cells become lines. On the way in: `{color}` and
//! `{anchor}` keep only their text, other unknown macros stay literal text, `??citation??`
//! becomes emphasis, panel titles become a bold first line, `bq.` becomes a quote, `{code}`
//! parameters other than the language are dropped, an image becomes a media node named by its
//! file (its parameters dropped) and splits the paragraph it stood in.

use serde_json::{Value, json};

use crate::adf::{adf_to_text, attr, children, node_type, text_to_adf};

/// Jira wiki markup showing the ADF document `doc`; empty for `null` or anything that is not a
/// document.
pub fn adf_to_wiki(doc: &Value) -> String {
    if node_type(doc) != "doc" {
        return String::new();
    }
    Writer::default().blocks(children(doc), 0).join("\n\n")
}

/// The ADF document for Jira wiki markup: the inverse of [`adf_to_wiki`], and what a person
/// typed in Jira as the document it shows. Empty or blank markup is a document with no content.
pub fn wiki_to_adf(wiki: &str) -> Value {
    let wiki = wiki.replace("\r\n", "\n").replace('\r', "\n");
    json!({"type": "doc", "version": 1, "content": parse_blocks(&wiki, 0)})
}

/// Wiki markup showing exactly the plain text `text` (SIR's side): its paragraphs and lines.
pub fn text_to_wiki(text: &str) -> String {
    adf_to_wiki(&text_to_adf(text))
}

/// The text a person sees in wiki markup (normalized, as [`adf_to_text`] gives it).
pub fn wiki_to_text(wiki: &str) -> String {
    adf_to_text(&wiki_to_adf(wiki))
}

// ----------------------------------------------------------------------------------------------
// What both directions share: Jira's renderer's character classes and the marks.

/// Characters Jira's renderer takes literally after a backslash (its `BackslashEscape`
/// component); a backslash before anything else is itself literal.
const ESCAPABLE: &[char] = &[
    '-', '#', '*', '_', '+', '?', '^', '~', '|', '%', '{', '}', '[', ']', '(', ')', '!', '@',
];

/// Jira's emoticons, longest first (a symbol followed by an ASCII letter is not one).
const EMOTICONS: &[&str] = &[
    "(flagoff)",
    "(flag)",
    "(off)",
    "(on)",
    "(*r)",
    "(*g)",
    "(*b)",
    "(*y)",
    "(y)",
    "(n)",
    "(i)",
    "(/)",
    "(x)",
    "(!)",
    "(+)",
    "(-)",
    "(?)",
    "(*)",
    ":)",
    ":(",
    ":P",
    ":D",
    ";)",
];

/// Where Jira links a bare URL.
const URL_PROTOCOLS: &[&str] = &[
    "https://", "http://", "ftps://", "ftp://", "mailto:", "file:",
];

/// Link targets `[target]` reads as a link (besides issue keys and `www.` hosts).
const LINK_SCHEMES: &[&str] = &[
    "https://", "http://", "ftps://", "ftp://", "sftp://", "ssh://", "irc://", "nntp://",
    "mailto:", "file:", "news:", "tel:",
];

/// Characters Jira trims from the end of a bare URL.
const URL_INVALID_END: &[char] = &['.', ',', '>', ')', ']', ';', '}', '"', '\'', '!'];

/// Nesting beyond which the writer stops descending into a document.
const MAX_DEPTH: usize = 48;
/// Nesting of phrases (`*_-x-_*`) beyond which the reader takes delimiters literally.
const MAX_PHRASE_DEPTH: usize = 12;
/// Nesting of macros beyond which the reader takes them literally.
const MAX_MACRO_DEPTH: usize = 8;
/// List nesting kept (deeper list markers count as this deep).
const MAX_LIST_DEPTH: usize = 10;

/// White space as Jira's renderer's regular expressions see it (`\s`).
fn is_jira_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\u{b}' | '\u{c}' | '\r')
}

/// A letter or digit, which keeps a phrase delimiter next to it from opening or closing one.
fn is_word(c: char) -> bool {
    c.is_alphanumeric()
}

/// A character Jira takes into a bare URL.
fn is_url_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_.!~*';/?:@#&=%+$,[]()\\".contains(c)
}

/// Where a bare URL starting at `start` in `chars` ends, if one starts there.
fn url_end(chars: &[char], start: usize) -> Option<usize> {
    let rest = chars.get(start..)?;
    let protocol = URL_PROTOCOLS
        .iter()
        .find(|protocol| starts_with(rest, protocol))?;
    let body = start + protocol.chars().count();
    let mut end = body;
    while chars.get(end).is_some_and(|c| is_url_char(*c)) {
        end += 1;
    }
    while end > body
        && chars
            .get(end - 1)
            .is_some_and(|c| URL_INVALID_END.contains(c))
    {
        end -= 1;
    }
    (end > body).then_some(end)
}

fn starts_with(chars: &[char], prefix: &str) -> bool {
    let mut rest = chars.iter();
    prefix.chars().all(|p| rest.next() == Some(&p))
}

/// Whether `[target]` is a link (a URL, a `www.` host or an issue key) rather than text in
/// brackets.
fn is_link_target(target: &str) -> bool {
    let lower = target.to_ascii_lowercase();
    LINK_SCHEMES
        .iter()
        .any(|scheme| lower.starts_with(scheme) && lower.len() > scheme.len())
        || (lower.starts_with("www.") && lower.len() > 4)
        || is_issue_key(target)
}

fn is_issue_key(text: &str) -> bool {
    let Some((project, number)) = text.split_once('-') else {
        return false;
    };
    let mut project = project.chars();
    project.next().is_some_and(|c| c.is_ascii_uppercase())
        && project.clone().next().is_some()
        && project.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        && !number.is_empty()
        && number.chars().all(|c| c.is_ascii_digit())
}

fn is_list(node: &Value) -> bool {
    matches!(
        node_type(node),
        "bulletList" | "orderedList" | "taskList" | "decisionList"
    )
}

fn is_block(node: &Value) -> bool {
    is_list(node)
        || matches!(
            node_type(node),
            "paragraph"
                | "heading"
                | "codeBlock"
                | "blockquote"
                | "panel"
                | "rule"
                | "mediaSingle"
                | "mediaGroup"
                | "table"
                | "tableRow"
                | "tableCell"
                | "tableHeader"
                | "listItem"
                | "expand"
                | "nestedExpand"
                | "blockCard"
                | "embedCard"
                | "layoutSection"
                | "layoutColumn"
                | "bodiedExtension"
        )
}

/// The marks of a run of text that wiki markup can show.
#[derive(Clone, Debug, Default, PartialEq)]
struct Marks {
    strong: bool,
    em: bool,
    strike: bool,
    underline: bool,
    sup: bool,
    sub: bool,
    code: bool,
    link: Option<String>,
}

impl Marks {
    fn of(node: &Value) -> Marks {
        let mut marks = Marks::default();
        let list = node
            .get("marks")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        for mark in list {
            match node_type(mark) {
                "strong" => marks.strong = true,
                "em" => marks.em = true,
                "strike" => marks.strike = true,
                "underline" => marks.underline = true,
                "code" => marks.code = true,
                "subsup" => match attr(mark, "type") {
                    Some("sub") => marks.sub = true,
                    Some("sup") => marks.sup = true,
                    _ => {}
                },
                "link" => {
                    marks.link = attr(mark, "href")
                        .map(str::trim)
                        .filter(|href| !href.is_empty())
                        .map(str::to_owned);
                }
                _ => {}
            }
        }
        marks
    }

    fn is_plain(&self) -> bool {
        *self == Marks::default()
    }

    fn without_link(&self) -> Marks {
        Marks {
            link: None,
            ..self.clone()
        }
    }

    /// Only a link: the text is written as a `[…]` link and nothing around it.
    fn link_only(&self) -> bool {
        self.link.is_some()
            && Marks {
                link: None,
                ..self.clone()
            }
            .is_plain()
    }

    /// The phrase delimiters of these marks, outermost first.
    fn delimiters(&self) -> Vec<char> {
        [
            (self.strong, '*'),
            (self.em, '_'),
            (self.strike, '-'),
            (self.underline, '+'),
            (self.sup, '^'),
            (self.sub, '~'),
        ]
        .into_iter()
        .filter_map(|(on, delimiter)| on.then_some(delimiter))
        .collect()
    }

    fn to_json(&self) -> Vec<Value> {
        let mut marks = Vec::new();
        for (on, name) in [
            (self.strong, "strong"),
            (self.em, "em"),
            (self.strike, "strike"),
            (self.underline, "underline"),
        ] {
            if on {
                marks.push(json!({"type": name}));
            }
        }
        if self.sup {
            marks.push(json!({"type": "subsup", "attrs": {"type": "sup"}}));
        }
        if self.sub {
            marks.push(json!({"type": "subsup", "attrs": {"type": "sub"}}));
        }
        if self.code {
            marks.push(json!({"type": "code"}));
        }
        if let Some(href) = &self.link {
            marks.push(json!({"type": "link", "attrs": {"href": href}}));
        }
        marks
    }
}

// ----------------------------------------------------------------------------------------------
// Writing: ADF → wiki markup.

#[derive(Default)]
struct Writer {
    /// The container macros (`quote`, `panel`, `info`…) open around the block being written: one
    /// cannot open again inside itself (Jira closes it at the first closing tag).
    open: Vec<&'static str>,
}

impl Writer {
    /// Each block's markup, empty ones left out.
    fn blocks(&mut self, nodes: &[Value], depth: usize) -> Vec<String> {
        nodes
            .iter()
            .map(|node| self.block(node, depth))
            .filter(|block| !block.is_empty())
            .collect()
    }

    fn block(&mut self, node: &Value, depth: usize) -> String {
        if depth > MAX_DEPTH {
            return String::new();
        }
        match node_type(node) {
            "paragraph" => paragraph(pieces(children(node), depth)),
            "heading" => {
                let level = node
                    .get("attrs")
                    .and_then(|attrs| attrs.get("level"))
                    .and_then(Value::as_u64)
                    .unwrap_or(1)
                    .clamp(1, 6);
                format!("h{level}. {}", single_line(pieces(children(node), depth)))
            }
            "bulletList" | "orderedList" | "taskList" | "decisionList" => {
                let mut lines = Vec::new();
                list_lines(node, "", depth, &mut lines);
                lines.join("\n")
            }
            "codeBlock" => code_block(node),
            "blockquote" => self.container("quote", children(node), depth),
            "panel" => {
                let name = match attr(node, "panelType") {
                    Some("info") => "info",
                    Some("note") => "note",
                    Some("warning" | "error") => "warning",
                    Some("success" | "tip") => "tip",
                    _ => "panel",
                };
                self.container(name, children(node), depth)
            }
            "rule" => "----".to_owned(),
            "mediaSingle" | "mediaGroup" => children(node)
                .iter()
                .filter_map(media_wiki)
                .collect::<Vec<_>>()
                .join("\n\n"),
            "media" | "mediaInline" => media_wiki(node).unwrap_or_default(),
            "table" => table(node, depth),
            "expand" | "nestedExpand" => {
                let mut blocks = Vec::new();
                if let Some(title) = attr(node, "title").filter(|t| !t.trim().is_empty()) {
                    let strong = Marks {
                        strong: true,
                        ..Marks::default()
                    };
                    blocks.push(paragraph(vec![Piece::Text(title.to_owned(), strong)]));
                }
                blocks.extend(self.blocks(children(node), depth + 1));
                blocks.retain(|block| !block.is_empty());
                blocks.join("\n\n")
            }
            "blockCard" | "embedCard" => attr(node, "url")
                .filter(|url| !url.trim().is_empty())
                .map(|url| link_wiki(url, url))
                .unwrap_or_default(),
            _ if children(node).iter().any(is_block) => {
                self.blocks(children(node), depth + 1).join("\n\n")
            }
            // Inline content at block level, or a block type not named here.
            _ => paragraph(pieces(std::slice::from_ref(node), depth)),
        }
    }

    /// A `{name}…{name}` macro around `nodes`, or the nodes alone inside one already open.
    fn container(&mut self, name: &'static str, nodes: &[Value], depth: usize) -> String {
        if self.open.contains(&name) {
            return self.blocks(nodes, depth + 1).join("\n\n");
        }
        self.open.push(name);
        let inner = self.blocks(nodes, depth + 1).join("\n\n");
        self.open.pop();
        if inner.is_empty() {
            String::new()
        } else {
            format!("{{{name}}}\n{inner}\n{{{name}}}")
        }
    }
}

/// The lines of a list (nested lists add their marker to `prefix`): one per item, its blocks
/// on that line, then its nested lists.
fn list_lines(node: &Value, prefix: &str, depth: usize, lines: &mut Vec<String>) {
    if depth > MAX_DEPTH {
        return;
    }
    let marker = if node_type(node) == "orderedList" {
        '#'
    } else {
        '*'
    };
    let prefix = if prefix.chars().count() < MAX_LIST_DEPTH {
        format!("{prefix}{marker}")
    } else {
        prefix.to_owned()
    };
    for item in children(node) {
        let (nested, own): (Vec<&Value>, Vec<&Value>) =
            children(item).iter().partition(|child| is_list(child));
        let mut line = Vec::new();
        if children(item).is_empty() {
            // A task or decision item holds inline nodes; an empty one shows nothing.
            line = pieces(std::slice::from_ref(item), depth + 1);
        } else {
            let own: Vec<Value> = own.into_iter().cloned().collect();
            flat_pieces(&own, depth + 1, &mut line);
        }
        let content = single_line(line);
        // An item holding only a nested list has no line of its own.
        if !content.is_empty() || nested.is_empty() {
            lines.push(format!("{prefix} {content}"));
        }
        for list in nested {
            list_lines(list, &prefix, depth + 1, lines);
        }
    }
}

fn code_text(node: &Value) -> String {
    let mut text = String::new();
    for child in children(node) {
        match node_type(child) {
            "text" => text.push_str(
                child
                    .get("text")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
            ),
            "hardBreak" => text.push('\n'),
            _ => {}
        }
    }
    text.replace("\r\n", "\n").replace('\r', "\n")
}

/// `{code:language}` or `{noformat}` around the text, whichever the text does not close; lines in
/// monospace when it holds both closing tags.
fn code_block(node: &Value) -> String {
    let text = code_text(node);
    let language: Option<String> = attr(node, "language")
        .map(|language| {
            language
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || "+#-_.".contains(*c))
                .collect::<String>()
        })
        .filter(|language| !language.is_empty());
    let closes_code = text.contains("{code}");
    let closes_noformat = text.contains("{noformat}");
    match (language, closes_code, closes_noformat) {
        (Some(language), false, _) => format!("{{code:{language}}}\n{text}\n{{code}}"),
        (_, _, false) => format!("{{noformat}}\n{text}\n{{noformat}}"),
        (_, false, true) => format!("{{code}}\n{text}\n{{code}}"),
        _ => {
            let code = Marks {
                code: true,
                ..Marks::default()
            };
            let mut lines = Vec::new();
            for (i, line) in text.split('\n').enumerate() {
                if i > 0 {
                    lines.push(Piece::Break);
                }
                if !line.is_empty() {
                    lines.push(Piece::Text(line.to_owned(), code.clone()));
                }
            }
            paragraph(lines)
        }
    }
}

/// `!name!` for a media node with a URL or file name (a Jira attachment is embedded by name).
fn media_wiki(node: &Value) -> Option<String> {
    let name = attr(node, "url").or_else(|| attr(node, "alt"))?;
    is_image_name(name).then(|| format!("!{name}!"))
}

/// A name `!name!` embeds and reads back as it is: no markup characters, no white space at
/// either end.
fn is_image_name(name: &str) -> bool {
    !name.is_empty()
        && name.trim() == name
        && !name.contains(['!', '|', '\\', '{', '}', '[', ']', '\n', '\r'])
}

fn table(node: &Value, depth: usize) -> String {
    let mut rows = Vec::new();
    for row in children(node) {
        let mut line = String::new();
        let mut last = "|";
        for cell in children(row) {
            let separator = if node_type(cell) == "tableHeader" {
                "||"
            } else {
                "|"
            };
            let mut content = Vec::new();
            flat_pieces(children(cell), depth + 1, &mut content);
            let content = single_line(content);
            line.push_str(separator);
            line.push_str(if content.is_empty() { " " } else { &content });
            last = separator;
        }
        if !line.is_empty() {
            line.push_str(last);
            rows.push(line);
        }
    }
    rows.join("\n")
}

/// One run of inline output.
#[derive(Clone, Debug, PartialEq)]
enum Piece {
    /// Text with its marks (adjacent runs with the same marks merged).
    Text(String, Marks),
    /// A line break.
    Break,
    /// Ready markup for an inline node: `bracketed` when it is a `[…]` link or mention, which
    /// Jira reads before anything around it.
    Atom { wiki: String, bracketed: bool },
}

/// The inline pieces of `nodes`: white space at the ends of a link's text outside the link
/// (it is written outside the brackets), runs with the same marks merged, control characters
/// out of phrases.
fn pieces(nodes: &[Value], depth: usize) -> Vec<Piece> {
    let mut out = Vec::new();
    push_pieces(nodes, depth, &mut out);
    let mut merged: Vec<Piece> = Vec::with_capacity(out.len());
    let mut push = |piece: Piece| {
        if let (Some(Piece::Text(text, marks)), Piece::Text(more, more_marks)) =
            (merged.last_mut(), &piece)
            && marks == more_marks
        {
            text.push_str(more);
        } else {
            merged.push(piece);
        }
    };
    for piece in out {
        match piece {
            Piece::Text(text, marks) if marks.link.is_some() => {
                let core = text.trim_matches(is_jira_space);
                let start = text.len() - text.trim_start_matches(is_jira_space).len();
                if core.is_empty() {
                    push(Piece::Text(text.clone(), marks.without_link()));
                    continue;
                }
                if start > 0 {
                    push(Piece::Text(text[..start].to_owned(), marks.without_link()));
                }
                push(Piece::Text(core.to_owned(), marks.clone()));
                if start + core.len() < text.len() {
                    let trail = text[start + core.len()..].to_owned();
                    push(Piece::Text(trail, marks.without_link()));
                }
            }
            piece => push(piece),
        }
    }
    // A phrase cannot span a control character (a tab): there the marks pause.
    let mut split = Vec::with_capacity(merged.len());
    for piece in merged {
        match piece {
            Piece::Text(text, marks)
                if !marks.without_link().is_plain() && text.contains(char::is_control) =>
            {
                let paused = Marks {
                    link: marks.link.clone(),
                    ..Marks::default()
                };
                let mut run = String::new();
                let mut run_paused = false;
                for c in text.chars() {
                    if c.is_control() != run_paused && !run.is_empty() {
                        let run_marks = if run_paused { &paused } else { &marks };
                        split.push(Piece::Text(std::mem::take(&mut run), run_marks.clone()));
                    }
                    run_paused = c.is_control();
                    run.push(c);
                }
                let run_marks = if run_paused { paused } else { marks };
                split.push(Piece::Text(run, run_marks));
            }
            piece => split.push(piece),
        }
    }
    split
}

fn push_text_pieces(text: &str, marks: &Marks, out: &mut Vec<Piece>) {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push(Piece::Break);
        }
        if !line.is_empty() {
            out.push(Piece::Text(line.to_owned(), marks.clone()));
        }
    }
}

fn push_pieces(nodes: &[Value], depth: usize, out: &mut Vec<Piece>) {
    if depth > MAX_DEPTH {
        return;
    }
    for node in nodes {
        match node_type(node) {
            "text" => push_text_pieces(
                node.get("text").and_then(Value::as_str).unwrap_or_default(),
                &Marks::of(node),
                out,
            ),
            "hardBreak" => out.push(Piece::Break),
            "mention" => {
                let usable = |name: &&str| {
                    !name.is_empty()
                        && !name.contains(|c: char| {
                            c.is_whitespace() || matches!(c, '[' | ']' | '|' | '{' | '}')
                        })
                };
                let name = attr(node, "id").filter(usable).or_else(|| {
                    attr(node, "text")
                        .map(|text| text.trim_start_matches('@'))
                        .filter(usable)
                });
                match name {
                    Some(name) => out.push(Piece::Atom {
                        wiki: format!("[~{name}]"),
                        bracketed: true,
                    }),
                    None => push_text_pieces(
                        attr(node, "text").unwrap_or("@someone"),
                        &Marks::default(),
                        out,
                    ),
                }
            }
            "emoji" => {
                let text = attr(node, "text").or_else(|| attr(node, "shortName"));
                let emoticon = [attr(node, "shortName"), text]
                    .into_iter()
                    .flatten()
                    .find(|symbol| EMOTICONS.contains(symbol));
                match emoticon {
                    Some(symbol) => out.push(Piece::Atom {
                        wiki: symbol.to_owned(),
                        bracketed: false,
                    }),
                    None => push_text_pieces(text.unwrap_or_default(), &Marks::default(), out),
                }
            }
            "inlineCard" | "blockCard" | "embedCard" => {
                if let Some(url) = attr(node, "url").filter(|url| !url.trim().is_empty()) {
                    out.push(Piece::Atom {
                        wiki: link_wiki(url, url),
                        bracketed: true,
                    });
                }
            }
            "date" => push_text_pieces(
                attr(node, "timestamp").unwrap_or_default(),
                &Marks::default(),
                out,
            ),
            "status" => {
                push_text_pieces(
                    attr(node, "text").unwrap_or_default(),
                    &Marks::default(),
                    out,
                );
            }
            "media" | "mediaInline" => {
                if let Some(wiki) = media_wiki(node) {
                    out.push(Piece::Atom {
                        wiki,
                        bracketed: false,
                    });
                }
            }
            "placeholder" => {}
            _ => push_pieces(children(node), depth + 1, out),
        }
    }
}

/// The pieces of block nodes run together, a line break between blocks: for a list item or a
/// table cell, which hold one line.
fn flat_pieces(nodes: &[Value], depth: usize, out: &mut Vec<Piece>) {
    if depth > MAX_DEPTH {
        return;
    }
    for node in nodes {
        let mut group = Vec::new();
        match node_type(node) {
            "paragraph" | "heading" => group = pieces(children(node), depth),
            "codeBlock" => {
                let code = Marks {
                    code: true,
                    ..Marks::default()
                };
                push_text_pieces(&code_text(node), &code, &mut group);
            }
            "mediaSingle" | "mediaGroup" => {
                for media in children(node) {
                    if let Some(wiki) = media_wiki(media) {
                        if !group.is_empty() {
                            group.push(Piece::Break);
                        }
                        group.push(Piece::Atom {
                            wiki,
                            bracketed: false,
                        });
                    }
                }
            }
            "rule" => {}
            _ if is_block(node) => flat_pieces(children(node), depth + 1, &mut group),
            _ => group = pieces(std::slice::from_ref(node), depth),
        }
        if !group.is_empty() {
            if !out.is_empty() {
                out.push(Piece::Break);
            }
            out.extend(group);
        }
    }
}

/// A paragraph: its lines (hard breaks) separated by newlines, which Jira shows as line breaks;
/// blank lines left out (they would split the paragraph).
fn paragraph(mut pieces: Vec<Piece>) -> String {
    while matches!(pieces.first(), Some(Piece::Break)) {
        pieces.remove(0);
    }
    while matches!(pieces.last(), Some(Piece::Break)) {
        pieces.pop();
    }
    let raw = emit(&pieces, false);
    let mut lines: Vec<&str> = Vec::new();
    for line in raw.split('\n') {
        let line = if line.trim().is_empty() { "" } else { line };
        if line.is_empty() && lines.last().is_none_or(|last| last.is_empty()) {
            continue;
        }
        lines.push(line);
    }
    while lines.last() == Some(&"") {
        lines.pop();
    }
    lines.join("\n")
}

/// One line (a heading, a list item, a table cell): hard breaks as `\\`, ends trimmed.
fn single_line(mut pieces: Vec<Piece>) -> String {
    loop {
        match pieces.first_mut() {
            Some(Piece::Break) => {
                pieces.remove(0);
            }
            Some(Piece::Text(text, marks)) => {
                // The reader trims the markup: white space inside delimiters is kept.
                let trimmed = if marks.is_plain() {
                    text.trim_start()
                } else {
                    text.trim_start_matches(is_jira_space)
                }
                .to_owned();
                if trimmed.is_empty() {
                    pieces.remove(0);
                } else {
                    *text = trimmed;
                    break;
                }
            }
            _ => break,
        }
    }
    loop {
        match pieces.last_mut() {
            Some(Piece::Break) => {
                pieces.pop();
            }
            Some(Piece::Text(text, marks)) => {
                let trimmed = if marks.is_plain() {
                    text.trim_end()
                } else {
                    text.trim_end_matches(is_jira_space)
                }
                .to_owned();
                if trimmed.is_empty() {
                    pieces.pop();
                } else {
                    *text = trimmed;
                    break;
                }
            }
            _ => break,
        }
    }
    emit(&pieces, true)
}

/// What is next to a character being escaped.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Ctx {
    /// The start or end of a line.
    Edge,
    /// A character of the same text run.
    Char(char),
    /// A `[…]` link or mention.
    Token,
    /// Markup whose characters are not known here (a phrase delimiter, an image, an emoticon).
    Unknown,
}

#[derive(Clone, Copy, Debug)]
struct Around {
    prev: Ctx,
    next: Ctx,
    line_start: bool,
    /// Inside phrase delimiters, where a delimiter character among letters can still end the
    /// phrase's content too early (`_a_b_` is no phrase).
    inside: bool,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    /// Running text: bare URLs become links.
    Text,
    /// A link's text, inside `[…|…]`: brackets as character references.
    Alias,
}

/// The first character written for `piece` (as far as letters and digits go).
fn first_char(piece: &Piece) -> char {
    match piece {
        Piece::Break => '\n',
        Piece::Atom { wiki, .. } => wiki.chars().next().unwrap_or('\n'),
        Piece::Text(text, marks) => {
            let chars: Vec<char> = text.chars().take(16).collect();
            match chars.first() {
                // A bare URL is written as a `[…]` link.
                Some(_) if marks.is_plain() && url_end(&chars, 0).is_some() => '[',
                Some(c) if marks.is_plain() || is_jira_space(*c) => *c,
                _ => '{',
            }
        }
    }
}

/// The last character written for `piece` (as far as letters and digits go).
fn last_char(piece: &Piece) -> char {
    match piece {
        Piece::Break => '\n',
        Piece::Atom { wiki, .. } => wiki.chars().last().unwrap_or('\n'),
        Piece::Text(text, marks) => match text.chars().last() {
            Some(c) if marks.is_plain() || is_jira_space(c) => c,
            _ => '}',
        },
    }
}

/// `pieces` as Jira can show them: an emoticon followed by a letter is text, and monospace goes
/// where `{{…}}` cannot open (after a letter or digit) or close (before one).
fn showable(pieces: &[Piece]) -> Vec<Piece> {
    // Each change turns a mark or an emoticon into text, which can make another one change.
    let mut pieces = pieces.to_vec();
    loop {
        let next = showable_once(&pieces);
        if next == pieces {
            return next;
        }
        pieces = next;
    }
}

fn showable_once(pieces: &[Piece]) -> Vec<Piece> {
    let mut out: Vec<Piece> = Vec::with_capacity(pieces.len());
    for (i, piece) in pieces.iter().enumerate() {
        let mut piece = piece.clone();
        // Followed by a letter, Jira shows an emoticon's characters as they are.
        if let Piece::Atom { wiki, .. } = &piece
            && EMOTICONS.contains(&wiki.as_str())
            && pieces
                .get(i + 1)
                .is_some_and(|next| first_char(next).is_ascii_alphabetic())
        {
            piece = Piece::Text(wiki.clone(), Marks::default());
        }
        if let Piece::Text(text, marks) = &mut piece
            && marks.code
            && marks.delimiters().is_empty()
        {
            let before = i.checked_sub(1).and_then(|p| pieces.get(p));
            let touches_before =
                !text.starts_with(is_jira_space) && before.is_some_and(|p| is_word(last_char(p)));
            let touches_after = !text.ends_with(is_jira_space)
                && pieces.get(i + 1).is_some_and(|p| is_word(first_char(p)));
            if touches_before || touches_after {
                marks.code = false;
            }
        }
        if let (Some(Piece::Text(text, marks)), Piece::Text(more, more_marks)) =
            (out.last_mut(), &piece)
            && marks == more_marks
        {
            text.push_str(more);
            continue;
        }
        out.push(piece);
    }
    out
}

fn emit(pieces: &[Piece], single_line: bool) -> String {
    let pieces = &showable(pieces);
    // What a neighbouring piece shows next to this one: white space at the end of marked text
    // is written outside its delimiters.
    let ctx_of = |piece: &Piece, edge: Option<char>| match piece {
        // `\\ ` is markup Jira's phrases see; a newline ends the line.
        Piece::Break if single_line => Ctx::Unknown,
        Piece::Break => Ctx::Edge,
        Piece::Atom {
            bracketed: true, ..
        } => Ctx::Token,
        Piece::Text(_, marks) if marks.link_only() => Ctx::Token,
        Piece::Text(..) => match edge {
            Some(c) if is_jira_space(c) => Ctx::Char(c),
            _ => Ctx::Unknown,
        },
        Piece::Atom { .. } => Ctx::Unknown,
    };
    let text_of = |piece: &Piece| match piece {
        Piece::Text(text, _) => text.clone(),
        _ => String::new(),
    };
    let mut out = String::new();
    let mut i = 0;
    while i < pieces.len() {
        match &pieces[i] {
            Piece::Break => out.push_str(if single_line { "\\\\ " } else { "\n" }),
            Piece::Atom { wiki, .. } => out.push_str(wiki),
            Piece::Text(_, marks) => {
                // Runs that differ only by their links share their phrase delimiters.
                let outer = marks.without_link();
                let mut end = i + 1;
                if !outer.is_plain() {
                    while matches!(pieces.get(end), Some(Piece::Text(_, m)) if m.without_link() == outer)
                    {
                        end += 1;
                    }
                }
                let before = i.checked_sub(1).and_then(|p| pieces.get(p));
                let after = pieces.get(end);
                let around = Around {
                    prev: before.map_or(Ctx::Edge, |p| ctx_of(p, text_of(p).chars().last())),
                    next: after.map_or(Ctx::Edge, |p| ctx_of(p, text_of(p).chars().next())),
                    line_start: before.is_none_or(|p| matches!(p, Piece::Break)),
                    inside: false,
                };
                let next_char = after.map_or('\n', first_char);
                text_group(&mut out, &pieces[i..end], &outer, around, next_char);
                i = end;
                continue;
            }
        }
        i += 1;
    }
    out
}

/// Runs of text sharing the marks `outer` (each maybe a link): phrase delimiters around them,
/// `{*}`-style where a letter or digit touches them (`*` alone would not open or close there),
/// white space at either end left outside.
fn text_group(out: &mut String, runs: &[Piece], outer: &Marks, around: Around, next_char: char) {
    let texts: Vec<(&str, Option<&String>)> = runs
        .iter()
        .filter_map(|run| match run {
            Piece::Text(text, marks) => Some((text.as_str(), marks.link.as_ref())),
            _ => None,
        })
        .collect();
    let last = texts.len().saturating_sub(1);
    let whole: String = texts.iter().map(|(text, _)| *text).collect();
    let lead_len = whole.len() - whole.trim_start_matches(is_jira_space).len();
    let trail_len = whole.len() - whole.trim_end_matches(is_jira_space).len();
    let blank = lead_len == whole.len();
    let before_word = lead_len == 0 && out.chars().last().is_some_and(is_word);
    let after_word = trail_len == 0 && is_word(next_char);
    let delimiters = if blank {
        Vec::new()
    } else {
        outer.delimiters()
    };
    // Monospace has no form that opens after a letter: there the text goes without it.
    let code = !blank && outer.code && (!delimiters.is_empty() || !(before_word || after_word));
    let wrapped = code || !delimiters.is_empty();
    // White space at either end goes outside the delimiters (a phrase cannot start or end
    // with it); unwrapped text is written whole.
    let (lead, trail) = if wrapped {
        (&whole[..lead_len], &whole[whole.len() - trail_len..])
    } else {
        ("", "")
    };
    out.push_str(lead);
    for (i, delimiter) in delimiters.iter().enumerate() {
        if i == 0 && before_word {
            out.push('{');
            out.push(*delimiter);
            out.push('}');
        } else {
            out.push(*delimiter);
        }
    }
    if code {
        out.push_str("{{");
    }
    let mut consumed = 0;
    for (i, (text, link)) in texts.iter().enumerate() {
        let start = lead.len().saturating_sub(consumed).min(text.len());
        let end = text
            .len()
            .min((whole.len() - trail.len()).saturating_sub(consumed))
            .max(start);
        consumed += text.len();
        let core = &text[start..end];
        if core.is_empty() {
            continue;
        }
        let neighbour = |other: Option<&(&str, Option<&String>)>, edge: Ctx| match other {
            Some((_, Some(_))) => Ctx::Token,
            Some(_) => Ctx::Unknown,
            None if wrapped => Ctx::Unknown,
            None => edge,
        };
        let here = Around {
            prev: neighbour(i.checked_sub(1).and_then(|p| texts.get(p)), around.prev),
            next: neighbour(if i < last { texts.get(i + 1) } else { None }, around.next),
            line_start: i == 0 && !wrapped && around.line_start,
            inside: wrapped,
        };
        match link {
            Some(href) if !core.trim().is_empty() => {
                // The link's own white space stays outside its brackets.
                let inner = core.trim_matches(is_jira_space);
                let inner_start = core.len() - core.trim_start_matches(is_jira_space).len();
                out.push_str(&core[..inner_start]);
                out.push_str(&link_wiki(inner, href));
                out.push_str(&core[inner_start + inner.len()..]);
            }
            _ => escape_into(out, core, here, Mode::Text),
        }
    }
    if code {
        out.push_str("}}");
    }
    for (i, delimiter) in delimiters.iter().enumerate().rev() {
        if i == 0 && after_word {
            out.push('{');
            out.push(*delimiter);
            out.push('}');
        } else {
            out.push(*delimiter);
        }
    }
    out.push_str(trail);
}

/// `[href]` when the text is the target, else `[text|href]` (the target's brackets, bars,
/// braces and spaces percent-encoded).
fn link_wiki(text: &str, href: &str) -> String {
    let href = href.trim();
    let plain = !href
        .contains(|c: char| c.is_whitespace() || matches!(c, '|' | '[' | ']' | '{' | '}' | '\\'));
    if text == href && plain && is_link_target(href) {
        return format!("[{href}]");
    }
    let mut alias = String::new();
    let around = Around {
        prev: Ctx::Unknown,
        next: Ctx::Unknown,
        line_start: false,
        inside: false,
    };
    escape_into(&mut alias, text, around, Mode::Alias);
    let mut encoded = String::with_capacity(href.len());
    for c in href.chars() {
        match c {
            '|' => encoded.push_str("%7C"),
            '[' => encoded.push_str("%5B"),
            ']' => encoded.push_str("%5D"),
            '{' => encoded.push_str("%7B"),
            '}' => encoded.push_str("%7D"),
            '\\' => encoded.push_str("%5C"),
            c if c.is_whitespace() => encoded.push_str("%20"),
            c => encoded.push(c),
        }
    }
    format!("[{alias}|{encoded}]")
}

/// Whether a bare URL may start after `previous` (as Jira sees the written markup: a `|` is
/// written as `&#124;`, which ends in `;`).
fn url_may_follow(previous: char) -> bool {
    !previous.is_ascii_alphanumeric() && !matches!(previous, '"' | '[' | '\'' | '!')
}

/// `text` escaped, bare URLs (in running text) written as links.
fn escape_into(out: &mut String, text: &str, around: Around, mode: Mode) {
    let chars: Vec<char> = text.chars().collect();
    if mode == Mode::Alias {
        escape_range(out, &chars, around, mode);
        return;
    }
    let mut from = 0;
    let mut prev = around.prev;
    let mut line_start = around.line_start;
    let mut k = 0;
    while k < chars.len() {
        let may_start = if k == from {
            !matches!(prev, Ctx::Char(p) if !url_may_follow(p))
        } else {
            url_may_follow(chars[k - 1])
        };
        if may_start && let Some(end) = url_end(&chars, k) {
            let before = Around {
                prev,
                next: Ctx::Token,
                line_start,
                inside: around.inside,
            };
            escape_range(out, &chars[from..k], before, mode);
            let url: String = chars[k..end].iter().collect();
            out.push_str(&link_wiki(&url, &url));
            prev = Ctx::Token;
            line_start = false;
            from = end;
            k = end;
            continue;
        }
        k += 1;
    }
    let rest = Around {
        prev,
        next: around.next,
        line_start,
        inside: around.inside,
    };
    escape_range(out, &chars[from..], rest, mode);
}

fn push_reference(out: &mut String, c: char) {
    out.push_str(&format!("&#{};", u32::from(c)));
}

/// Whether `chars` start with something Jira keeps as an HTML entity (`&name;`, `&#123;`).
fn entity_shaped(chars: &[char]) -> bool {
    let Some(semicolon) = chars.iter().take(10).position(|c| *c == ';') else {
        return false;
    };
    let name = &chars[1..semicolon];
    (2..=8).contains(&name.len())
        && name
            .first()
            .is_some_and(|c| *c == '#' || c.is_ascii_alphanumeric())
        && name[1..].iter().all(char::is_ascii_alphanumeric)
}

/// How one character is written.
enum Written {
    Raw,
    /// After a backslash (only characters Jira unescapes).
    Backslash,
    /// As an HTML character reference, which Jira passes to the browser as it is.
    Reference,
}

impl Written {
    fn backslash_if(escape: bool) -> Written {
        if escape {
            Written::Backslash
        } else {
            Written::Raw
        }
    }
}

fn escape_range(out: &mut String, chars: &[char], around: Around, mode: Mode) {
    let ctx_word = |ctx: Ctx| matches!(ctx, Ctx::Char(c) if is_word(c));
    let ctx_space =
        |ctx: Ctx| matches!(ctx, Ctx::Edge) || matches!(ctx, Ctx::Char(c) if is_jira_space(c));
    let brace_safe = |ctx: Ctx| match ctx {
        Ctx::Edge | Ctx::Token => true,
        Ctx::Char(c) => c != '{' && c != '}',
        Ctx::Unknown => false,
    };
    // The `.` of a line starting `h1.` or `bq.`, which would make it a heading or a quote.
    let dot = around.line_start.then(|| {
        let start = chars.iter().position(|c| !c.is_whitespace())?;
        let word: String = chars.get(start..start + 2)?.iter().collect();
        let word = word.to_ascii_lowercase();
        let marker = word == "bq"
            || (word.starts_with('h') && word.ends_with(|c: char| ('1'..='6').contains(&c)));
        (marker && chars.get(start + 2) == Some(&'.')).then_some(start + 2)
    });
    let dot = dot.flatten();
    let mut leading = around.line_start;
    let n = chars.len();
    for (k, &c) in chars.iter().enumerate() {
        let prev = if k > 0 {
            Ctx::Char(chars[k - 1])
        } else {
            around.prev
        };
        let next = if k + 1 < n {
            Ctx::Char(chars[k + 1])
        } else {
            around.next
        };
        let written = match c {
            '\\' => {
                if matches!(next, Ctx::Char(x) if x != '\\' && !ESCAPABLE.contains(&x)) {
                    Written::Raw
                } else {
                    Written::Reference
                }
            }
            '{' | '}' if brace_safe(prev) && brace_safe(next) => Written::Backslash,
            '{' | '}' | '|' => Written::Reference,
            '[' | ']' if mode == Mode::Alias => Written::Reference,
            '[' | ']' => Written::Backslash,
            '*' | '_' | '-' | '+' | '^' | '~' => {
                let marker = leading && matches!(c, '*' | '-');
                let inert =
                    (ctx_word(prev) && ctx_word(next)) || (ctx_space(prev) && ctx_space(next));
                Written::backslash_if(marker || !inert || around.inside)
            }
            '?' => {
                let doubled = |ctx: Ctx| matches!(ctx, Ctx::Char('?') | Ctx::Unknown);
                Written::backslash_if(doubled(prev) || doubled(next))
            }
            '!' => Written::backslash_if(!ctx_space(next)),
            '#' => Written::backslash_if(leading || prev == Ctx::Unknown),
            '(' => {
                let rest = &chars[k..];
                let emoticon = matches!(prev, Ctx::Char(':') | Ctx::Unknown)
                    || EMOTICONS
                        .iter()
                        .filter(|e| e.starts_with('('))
                        .any(|emoticon| {
                            let symbol: Vec<char> = emoticon.chars().collect();
                            rest.starts_with(&symbol)
                                || (symbol.starts_with(rest) && around.next == Ctx::Unknown)
                        });
                Written::backslash_if(emoticon)
            }
            ')' => Written::backslash_if(matches!(prev, Ctx::Char(':' | ';') | Ctx::Unknown)),
            ':' => {
                let emoticon = match chars.get(k + 1) {
                    None => around.next == Ctx::Unknown,
                    Some('P' | 'D' | 'p' | 'd') => match chars.get(k + 2) {
                        Some(after) => !after.is_ascii_alphabetic(),
                        None => {
                            !matches!(around.next, Ctx::Char(after) if after.is_ascii_alphabetic())
                        }
                    },
                    Some(_) => false,
                };
                if emoticon {
                    Written::Reference
                } else {
                    Written::Raw
                }
            }
            '.' if dot == Some(k) => Written::Reference,
            '&' if entity_shaped(&chars[k..]) => Written::Reference,
            _ => Written::Raw,
        };
        match written {
            Written::Raw => out.push(c),
            Written::Backslash => {
                out.push('\\');
                out.push(c);
            }
            Written::Reference => push_reference(out, c),
        }
        if !c.is_whitespace() {
            leading = false;
        }
    }
}

// ----------------------------------------------------------------------------------------------
// Reading: wiki markup → ADF.

/// The block nodes of `text` (no `\r` in it).
fn parse_blocks(text: &str, depth: usize) -> Vec<Value> {
    let mut blocks = Vec::new();
    let mut pending = Pending::None;
    let mut rest = text;
    while !rest.is_empty() {
        let line_end = rest.find('\n').unwrap_or(rest.len());
        if depth < MAX_MACRO_DEPTH
            && let Some(found) = find_block_macro(rest, line_end)
        {
            let prefix = &rest[..found.start];
            if !prefix.trim().is_empty() {
                pending.line(prefix, &mut blocks);
            }
            pending.flush(&mut blocks);
            blocks.extend(found.block(depth));
            rest = &rest[found.end..];
            let tail_end = rest.find('\n');
            if rest[..tail_end.unwrap_or(rest.len())].trim().is_empty() {
                rest = tail_end.map_or("", |end| &rest[end + 1..]);
            }
            continue;
        }
        pending.line(&rest[..line_end], &mut blocks);
        rest = rest.get(line_end + 1..).unwrap_or_default();
    }
    pending.flush(&mut blocks);
    blocks
}

/// Lines waiting to become one block.
enum Pending {
    None,
    Paragraph(Vec<String>),
    List(Vec<ListLine>),
    Table(Vec<String>),
}

struct ListLine {
    markers: Vec<char>,
    content: String,
}

impl Pending {
    fn line(&mut self, line: &str, blocks: &mut Vec<Value>) {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            self.flush(blocks);
        } else if let Some((level, content)) = heading_line(line) {
            self.flush(blocks);
            let content = inline_values(trimmed_line(content));
            blocks.push(json!({"type": "heading", "attrs": {"level": level}, "content": content}));
        } else if let Some(content) = quote_line(line) {
            self.flush(blocks);
            let content = split_blocks(parse_inline(content));
            if !content.is_empty() {
                blocks.push(json!({"type": "blockquote", "content": content}));
            }
        } else if trimmed == "----" {
            self.flush(blocks);
            blocks.push(json!({"type": "rule"}));
        } else if let Some(item) = list_line(line) {
            if !matches!(self, Pending::List(_)) {
                self.flush(blocks);
                *self = Pending::List(Vec::new());
            }
            if let Pending::List(items) = self {
                items.push(item);
            }
        } else if trimmed.starts_with('|') {
            if !matches!(self, Pending::Table(_)) {
                self.flush(blocks);
                *self = Pending::Table(Vec::new());
            }
            if let Pending::Table(rows) = self {
                rows.push(trimmed.to_owned());
            }
        } else {
            if !matches!(self, Pending::Paragraph(_)) {
                self.flush(blocks);
                *self = Pending::Paragraph(Vec::new());
            }
            if let Pending::Paragraph(lines) = self {
                lines.push(line.to_owned());
            }
        }
    }

    fn flush(&mut self, blocks: &mut Vec<Value>) {
        match std::mem::replace(self, Pending::None) {
            Pending::None => {}
            Pending::Paragraph(lines) => {
                blocks.extend(split_blocks(parse_inline(&lines.join("\n"))))
            }
            Pending::List(items) => blocks.extend(build_lists(&items, 0)),
            Pending::Table(rows) => {
                let rows: Vec<Value> = rows
                    .iter()
                    .map(|row| split_cells(row))
                    .filter(|cells| !cells.is_empty())
                    .map(|cells| {
                        let cells: Vec<Value> = cells
                            .into_iter()
                            .map(|(header, content)| {
                                let mut content = split_blocks(trimmed_line(&content));
                                if content.is_empty() {
                                    content.push(json!({"type": "paragraph", "content": []}));
                                }
                                let kind = if header { "tableHeader" } else { "tableCell" };
                                json!({"type": kind, "content": content})
                            })
                            .collect();
                        json!({"type": "tableRow", "content": cells})
                    })
                    .collect();
                if !rows.is_empty() {
                    blocks.push(json!({"type": "table", "content": rows}));
                }
            }
        }
    }
}

/// `h1.`–`h6.` at the start of a line: the level and the heading's text.
fn heading_line(line: &str) -> Option<(u32, &str)> {
    let rest = line.trim_start_matches(is_jira_space).strip_prefix('h')?;
    let level = rest
        .chars()
        .next()?
        .to_digit(10)
        .filter(|l| (1..=6).contains(l))?;
    let rest = rest.get(1..)?.strip_prefix('.')?;
    (rest.is_empty() || rest.starts_with(is_jira_space)).then(|| (level, rest.trim()))
}

/// `bq.` at the start of a line: the quote's text.
fn quote_line(line: &str) -> Option<&str> {
    let rest = line.trim_start_matches(is_jira_space).strip_prefix("bq.")?;
    (rest.is_empty() || rest.starts_with(is_jira_space)).then(|| rest.trim())
}

/// `*`, `#` (nested: `**`, `#*`…) or `-`, then white space: a list item.
fn list_line(line: &str) -> Option<ListLine> {
    let text = line.trim_start_matches(is_jira_space);
    let mut markers: Vec<char> = text
        .chars()
        .take_while(|c| matches!(c, '*' | '#'))
        .collect();
    if markers.is_empty() && text.starts_with('-') {
        markers.push('-');
    }
    let rest = &text[markers.len()..];
    if markers.is_empty() || !rest.starts_with(is_jira_space) {
        return None;
    }
    markers.truncate(MAX_LIST_DEPTH);
    Some(ListLine {
        markers,
        content: rest.trim().to_owned(),
    })
}

fn list_kind(marker: Option<&char>) -> &'static str {
    if marker == Some(&'#') {
        "orderedList"
    } else {
        "bulletList"
    }
}

/// The lists of consecutive list lines at nesting `depth`: a deeper line belongs to the item
/// above it (an empty item holds it when there is none).
fn build_lists(items: &[ListLine], depth: usize) -> Vec<Value> {
    let mut lists = Vec::new();
    let mut i = 0;
    while i < items.len() {
        let kind = list_kind(items[i].markers.get(depth));
        let mut list_items = Vec::new();
        while i < items.len() && list_kind(items[i].markers.get(depth)) == kind {
            let direct = items[i].markers.len() <= depth + 1;
            let mut j = i + 1;
            while j < items.len()
                && items[j].markers.len() > depth + 1
                && list_kind(items[j].markers.get(depth)) == kind
            {
                j += 1;
            }
            let (mut content, nested) = if direct {
                (
                    split_blocks(parse_inline(&items[i].content)),
                    &items[i + 1..j],
                )
            } else {
                (Vec::new(), &items[i..j])
            };
            if content.is_empty() {
                content.push(json!({"type": "paragraph", "content": []}));
            }
            content.extend(build_lists(nested, depth + 1));
            list_items.push(json!({"type": "listItem", "content": content}));
            i = j;
        }
        lists.push(json!({"type": kind, "content": list_items}));
    }
    lists
}

/// The cells of a table row: whether each is a header (`||`), and its markup.
fn split_cells(row: &str) -> Vec<(bool, String)> {
    let chars: Vec<char> = row.chars().collect();
    let mut cells = Vec::new();
    let mut current = String::new();
    let mut header = false;
    let mut started = false;
    let mut brackets = 0usize;
    let mut k = 0;
    while k < chars.len() {
        let c = chars[k];
        if c == '\\' && k + 1 < chars.len() {
            current.push(c);
            current.push(chars[k + 1]);
            k += 2;
            continue;
        }
        if c == '[' && chars[k + 1..].contains(&']') {
            brackets += 1;
        } else if c == ']' && brackets > 0 {
            brackets -= 1;
        } else if c == '|' && brackets == 0 {
            if started {
                cells.push((header, std::mem::take(&mut current)));
            }
            started = true;
            header = chars.get(k + 1) == Some(&'|');
            k += if header { 2 } else { 1 };
            continue;
        }
        current.push(c);
        k += 1;
    }
    if started && !current.trim().is_empty() {
        cells.push((header, current));
    }
    cells
}

/// A block macro found in the text: `start`/`end` are its byte offsets.
struct Macro<'a> {
    name: &'static str,
    params: &'a str,
    body: &'a str,
    start: usize,
    end: usize,
}

const BLOCK_MACROS: &[&str] = &[
    "code", "noformat", "quote", "panel", "info", "note", "warning", "tip",
];

fn close_tag(name: &str) -> String {
    format!("{{{name}}}")
}

fn is_escaped(text: &str, at: usize) -> bool {
    text[..at].ends_with('\\')
}

/// A block macro's opening tag at the start of `text`: its name, parameters and length.
fn open_tag(text: &str) -> Option<(&'static str, &str, usize)> {
    let rest = text.strip_prefix('{')?;
    let name_len = rest
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(rest.len());
    let name = *BLOCK_MACROS
        .iter()
        .find(|name| **name == &rest[..name_len])?;
    let after = &rest[name_len..];
    if after.starts_with('}') {
        return Some((name, "", name_len + 2));
    }
    let params = after.strip_prefix(':')?;
    let close = params.find(['}', '\n'])?;
    (params[close..].starts_with('}')).then(|| (name, &params[..close], name_len + close + 3))
}

/// The first block macro opening on the first line of `rest` (which ends at `line_end`) and
/// closed somewhere after.
fn find_block_macro(rest: &str, line_end: usize) -> Option<Macro<'_>> {
    let line = &rest[..line_end];
    let mut from = 0;
    while let Some(offset) = line[from..].find('{') {
        let start = from + offset;
        from = start + 1;
        if is_escaped(line, start)
            || line[..start].ends_with('{')
            || line[start + 1..].starts_with('{')
        {
            continue;
        }
        let Some((name, params, open_len)) = open_tag(&line[start..]) else {
            continue;
        };
        let open_end = start + open_len;
        let close = if matches!(name, "code" | "noformat") {
            rest[open_end..]
                .find(&close_tag(name))
                .map(|at| open_end + at)
        } else {
            find_container_close(rest, open_end, name)
        };
        if let Some(close) = close {
            return Some(Macro {
                name,
                params,
                body: &rest[open_end..close],
                start,
                end: close + close_tag(name).len(),
            });
        }
    }
    None
}

/// Where `{name}` closes a container opened before `from`, skipping code held inside.
fn find_container_close(text: &str, from: usize, name: &str) -> Option<usize> {
    let close = close_tag(name);
    let mut at = from;
    while let Some(offset) = text[at..].find('{') {
        let k = at + offset;
        at = k + 1;
        if is_escaped(text, k) {
            continue;
        }
        if text[k..].starts_with(&close) {
            return Some(k);
        }
        if !text[..k].ends_with('{')
            && let Some((inner, _, open_len)) = open_tag(&text[k..])
            && matches!(inner, "code" | "noformat")
            && let Some(end) = text[k + open_len..].find(&close_tag(inner))
        {
            at = k + open_len + end + close_tag(inner).len();
        }
    }
    None
}

impl Macro<'_> {
    fn block(&self, depth: usize) -> Vec<Value> {
        match self.name {
            "code" | "noformat" => {
                let language = (self.name == "code")
                    .then(|| {
                        self.params
                            .split('|')
                            .map(str::trim)
                            .find(|param| !param.is_empty() && !param.contains('='))
                    })
                    .flatten();
                let text = fence_body(self.body);
                let content = if text.is_empty() {
                    json!([])
                } else {
                    json!([{"type": "text", "text": text}])
                };
                vec![match language {
                    Some(language) => {
                        json!({"type": "codeBlock", "attrs": {"language": language}, "content": content})
                    }
                    None => json!({"type": "codeBlock", "content": content}),
                }]
            }
            "quote" => {
                let content = parse_blocks(self.body, depth + 1);
                if content.is_empty() {
                    Vec::new()
                } else {
                    vec![json!({"type": "blockquote", "content": content})]
                }
            }
            name => {
                let panel_type = match name {
                    "info" => "info",
                    "note" => "note",
                    "warning" => "warning",
                    "tip" => "success",
                    _ => "custom",
                };
                let mut content = Vec::new();
                let title = self
                    .params
                    .split('|')
                    .filter_map(|param| param.trim().strip_prefix("title="))
                    .map(str::trim)
                    .find(|title| !title.is_empty());
                if let Some(title) = title {
                    content.push(json!({"type": "paragraph", "content": [
                        {"type": "text", "text": title, "marks": [{"type": "strong"}]}]}));
                }
                content.extend(parse_blocks(self.body, depth + 1));
                if content.is_empty() {
                    Vec::new()
                } else {
                    vec![
                        json!({"type": "panel", "attrs": {"panelType": panel_type}, "content": content}),
                    ]
                }
            }
        }
    }
}

/// The text of a code macro: without the blank line the opening tag ends and the one the closing
/// tag starts.
fn fence_body(body: &str) -> &str {
    let mut text = body;
    if let Some(end) = text.find('\n')
        && text[..end].trim().is_empty()
    {
        text = &text[end + 1..];
    }
    if let Some(start) = text.rfind('\n')
        && text[start + 1..].trim().is_empty()
    {
        text = &text[..start];
    }
    text
}

/// Inline markup as Jira's renderer sees it after its links, URLs, escapes, dashes and
/// emoticons, before its phrases.
#[derive(Clone, Debug)]
enum Atom {
    /// A character as typed: may open or close a phrase.
    Ch(char),
    /// An escaped or entity character: always text (and, to the phrase rules, punctuation).
    Lit(char),
    /// A line break inside a paragraph.
    Newline,
    /// `\\`: a forced line break.
    Forced,
    /// A bare URL: text, read literally.
    Url(String),
    /// `[text|href]` (its text still to read) or `[href]`.
    Link {
        alias: Option<Vec<Atom>>,
        text: String,
        href: String,
    },
    Mention(String),
    Emoji(&'static str),
    Image(String),
}

/// The reading of inline markup: text runs, breaks, inline nodes and images (which become
/// blocks).
#[derive(Clone, Debug)]
enum Out {
    Text(String, Marks),
    /// A line break; `eat_space` after `\\`, whose following space is part of it.
    Break {
        eat_space: bool,
    },
    Node(Value),
    Image(String),
}

fn parse_inline(text: &str) -> Vec<Out> {
    let chars: Vec<char> = text.chars().collect();
    let atoms = tokenize(&chars, true);
    let mut out = Vec::new();
    phrases(&atoms, &Marks::default(), 0, &mut out);
    out
}

fn tokenize(chars: &[char], urls: bool) -> Vec<Atom> {
    let mut atoms = Vec::new();
    let mut i = 0;
    let mut after_backslash = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' {
            if after_backslash {
                atoms.push(Atom::Ch('\\'));
                i += 1;
                continue;
            }
            match chars.get(i + 1) {
                Some('\\') => {
                    // `\\` breaks the line unless the word after it holds another backslash
                    // (a UNC path).
                    let continues = chars[i + 2..]
                        .iter()
                        .take_while(|c| !is_jira_space(**c))
                        .any(|c| *c == '\\');
                    if continues {
                        atoms.extend([Atom::Ch('\\'), Atom::Ch('\\')]);
                        after_backslash = true;
                    } else {
                        atoms.push(Atom::Forced);
                    }
                    i += 2;
                }
                Some(next) if ESCAPABLE.contains(next) => {
                    atoms.push(Atom::Lit(*next));
                    i += 2;
                    after_backslash = false;
                }
                _ => {
                    atoms.push(Atom::Ch('\\'));
                    i += 1;
                    after_backslash = true;
                }
            }
            continue;
        }
        after_backslash = false;
        let (atom, len) = match c {
            '\n' => (Some(Atom::Newline), 1),
            '&' => match entity_at(chars, i) {
                Some((decoded, len)) => (Some(Atom::Lit(decoded)), len),
                None => (Some(Atom::Ch(c)), 1),
            },
            '[' => link_at(chars, i).map_or((Some(Atom::Ch(c)), 1), |(a, l)| (Some(a), l)),
            '!' => image_at(chars, i).map_or((Some(Atom::Ch(c)), 1), |(a, l)| (Some(a), l)),
            '{' => match inline_tag_at(chars, i) {
                Some(len) => (None, len),
                None => (Some(Atom::Ch(c)), 1),
            },
            '-' => dash_at(chars, i).map_or((Some(Atom::Ch(c)), 1), |(a, l)| (Some(a), l)),
            _ => {
                let url_may_start = urls
                    && i.checked_sub(1).and_then(|p| chars.get(p)).is_none_or(|p| {
                        !p.is_ascii_alphanumeric() && !matches!(p, '"' | '[' | '|' | '\'' | '!')
                    });
                if let Some(end) = url_may_start.then(|| url_end(chars, i)).flatten() {
                    (Some(Atom::Url(chars[i..end].iter().collect())), end - i)
                } else if let Some(symbol) = emoticon_at(chars, i) {
                    (Some(Atom::Emoji(symbol)), symbol.chars().count())
                } else {
                    (Some(Atom::Ch(c)), 1)
                }
            }
        };
        atoms.extend(atom);
        i += len.max(1);
    }
    atoms
}

/// The character of an HTML entity at `at` and its length (Jira keeps `&name;` and `&#n;` as
/// they are, for the browser to show).
fn entity_at(chars: &[char], at: usize) -> Option<(char, usize)> {
    let rest = chars.get(at..)?;
    if !entity_shaped(rest) {
        return None;
    }
    let semicolon = rest.iter().position(|c| *c == ';')?;
    let name: String = rest[1..semicolon].iter().collect();
    let decoded = if let Some(number) = name.strip_prefix('#') {
        let code = match number.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => number.parse().ok()?,
        };
        char::from_u32(code).filter(|c| *c != '\0')?
    } else {
        match name.as_str() {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            "nbsp" => '\u{a0}',
            "bsol" => '\\',
            "ndash" => '–',
            "mdash" => '—',
            "hellip" => '…',
            "lsquo" => '‘',
            "rsquo" => '’',
            "ldquo" => '“',
            "rdquo" => '”',
            "laquo" => '«',
            "raquo" => '»',
            "middot" => '·',
            "bull" => '•',
            "deg" => '°',
            "copy" => '©',
            "reg" => '®',
            "trade" => '™',
            "euro" => '€',
            "pound" => '£',
            "times" => '×',
            "divide" => '÷',
            _ => return None,
        }
    };
    Some((decoded, semicolon + 1))
}

/// `[…]` at `at`: a link, a mention, or nothing (brackets around plain text stay text).
fn link_at(chars: &[char], at: usize) -> Option<(Atom, usize)> {
    let mut k = at + 1;
    while k < chars.len() {
        match chars[k] {
            '\\' => k += 2,
            ']' => break,
            '[' | '\n' => return None,
            _ => k += 1,
        }
    }
    if chars.get(k) != Some(&']') {
        return None;
    }
    let content = &chars[at + 1..k];
    let bar = unescaped(content, '|');
    let (alias, target) = match bar {
        Some(bar) => (Some(&content[..bar]), &content[bar + 1..]),
        None => (None, content),
    };
    let target = match unescaped(target, '|') {
        Some(tip) => &target[..tip],
        None => target,
    };
    let target: String = target.iter().collect::<String>().trim().to_owned();
    if target.is_empty() {
        return None;
    }
    let atom = if let Some(user) = target.strip_prefix('~').filter(|user| !user.is_empty()) {
        Atom::Mention(user.to_owned())
    } else if let Some(alias) = alias.filter(|alias| alias.iter().any(|c| !c.is_whitespace())) {
        Atom::Link {
            alias: Some(tokenize(alias, false)),
            text: String::new(),
            href: target,
        }
    } else if let Some(name) = target
        .strip_prefix(['^', '#'])
        .filter(|name| !name.is_empty())
    {
        Atom::Link {
            alias: None,
            text: name.to_owned(),
            href: target.clone(),
        }
    } else if alias.is_some() || is_link_target(&target) {
        Atom::Link {
            alias: None,
            text: target.clone(),
            href: target,
        }
    } else {
        return None;
    };
    Some((atom, k + 1 - at))
}

/// The position of the first `c` in `chars` not escaped by a backslash.
fn unescaped(chars: &[char], c: char) -> Option<usize> {
    let mut k = 0;
    while k < chars.len() {
        if chars[k] == '\\' {
            k += 2;
        } else if chars[k] == c {
            return Some(k);
        } else {
            k += 1;
        }
    }
    None
}

/// `!file.png!` or `!file.png|thumbnail!` at `at`: an embedded image, by name.
fn image_at(chars: &[char], at: usize) -> Option<(Atom, usize)> {
    let first = *chars.get(at + 1)?;
    if is_jira_space(first) || first == '!' {
        return None;
    }
    let mut k = at + 1;
    while k < chars.len() && chars[k] != '!' && chars[k] != '\n' {
        k += if chars[k] == '\\' { 2 } else { 1 };
    }
    if chars.get(k) != Some(&'!') || chars.get(k - 1).is_some_and(|c| is_jira_space(*c)) {
        return None;
    }
    let content: String = chars[at + 1..k].iter().collect();
    let name = content.split('|').next().unwrap_or_default().trim();
    is_image_name(name).then(|| (Atom::Image(name.to_owned()), k + 1 - at))
}

/// The length of a `{color…}`, `{color}` or `{anchor:…}` tag at `at`, whose text is kept
/// without it.
fn inline_tag_at(chars: &[char], at: usize) -> Option<usize> {
    let rest = chars.get(at..)?;
    let name_end = if starts_with(rest, "{color") {
        6
    } else if starts_with(rest, "{anchor:") {
        7
    } else {
        return None;
    };
    match rest.get(name_end)? {
        '}' => Some(name_end + 1),
        ':' => rest
            .iter()
            .take_while(|c| **c != '\n')
            .position(|c| *c == '}')
            .map(|close| close + 1),
        _ => None,
    }
}

/// ` -- ` and ` --- `, which Jira shows as an en and an em dash.
fn dash_at(chars: &[char], at: usize) -> Option<(Atom, usize)> {
    if at > 0 && !chars.get(at - 1).is_some_and(|c| is_jira_space(*c)) {
        return None;
    }
    let run = chars[at..].iter().take_while(|c| **c == '-').count();
    let followed = chars.get(at + run).is_none_or(|c| is_jira_space(*c));
    match run {
        2 if followed => Some((Atom::Lit('–'), 2)),
        3 if followed => Some((Atom::Lit('—'), 3)),
        _ => None,
    }
}

fn emoticon_at(chars: &[char], at: usize) -> Option<&'static str> {
    let rest = chars.get(at..)?;
    EMOTICONS.iter().copied().find(|symbol| {
        starts_with(rest, symbol)
            && !rest
                .get(symbol.chars().count())
                .is_some_and(char::is_ascii_alphabetic)
    })
}

/// A phrase: its delimiters, the mark it gives.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Strong,
    Em,
    Strike,
    Underline,
    Sup,
    Sub,
    Cite,
    Mono,
}

const KINDS: [Kind; 8] = [
    Kind::Strong,
    Kind::Em,
    Kind::Strike,
    Kind::Underline,
    Kind::Sup,
    Kind::Sub,
    Kind::Cite,
    Kind::Mono,
];

impl Kind {
    fn open(self) -> &'static [char] {
        match self {
            Kind::Strong => &['*'],
            Kind::Em => &['_'],
            Kind::Strike => &['-'],
            Kind::Underline => &['+'],
            Kind::Sup => &['^'],
            Kind::Sub => &['~'],
            Kind::Cite => &['?', '?'],
            Kind::Mono => &['{', '{'],
        }
    }

    fn close(self) -> &'static [char] {
        match self {
            Kind::Mono => &['}', '}'],
            kind => kind.open(),
        }
    }

    /// The `{*}` form, which opens and closes next to letters.
    fn braced(self) -> Option<&'static [char]> {
        match self {
            Kind::Strong => Some(&['{', '*', '}']),
            Kind::Em => Some(&['{', '_', '}']),
            Kind::Strike => Some(&['{', '-', '}']),
            Kind::Underline => Some(&['{', '+', '}']),
            Kind::Sup => Some(&['{', '^', '}']),
            Kind::Sub => Some(&['{', '~', '}']),
            Kind::Cite => Some(&['{', '?', '?', '}']),
            Kind::Mono => None,
        }
    }

    fn mark(self, marks: &Marks) -> Marks {
        let mut marks = marks.clone();
        match self {
            Kind::Strong => marks.strong = true,
            Kind::Em | Kind::Cite => marks.em = true,
            Kind::Strike => marks.strike = true,
            Kind::Underline => marks.underline = true,
            Kind::Sup => marks.sup = true,
            Kind::Sub => marks.sub = true,
            Kind::Mono => marks.code = true,
        }
        marks
    }
}

fn ch_at(atoms: &[Atom], k: usize) -> Option<char> {
    match atoms.get(k) {
        Some(Atom::Ch(c)) => Some(*c),
        _ => None,
    }
}

fn seq_at(atoms: &[Atom], k: usize, seq: &[char]) -> bool {
    seq.iter()
        .enumerate()
        .all(|(offset, c)| ch_at(atoms, k + offset) == Some(*c))
}

fn atom_space(atom: Option<&Atom>) -> bool {
    matches!(atom, Some(Atom::Ch(c)) if is_jira_space(*c))
}

fn atom_word(atom: Option<&Atom>) -> bool {
    matches!(atom, Some(Atom::Ch(c)) if is_word(*c))
}

fn atom_backslash(atom: Option<&Atom>) -> bool {
    matches!(atom, Some(Atom::Ch('\\') | Atom::Forced))
}

/// What a phrase cannot span: a line break, a control character.
fn is_barrier(atom: &Atom) -> bool {
    matches!(atom, Atom::Newline) || matches!(atom, Atom::Ch(c) if c.is_control())
}

/// Where a phrase of `kind` may close: after a character that is not white space, the
/// delimiter or a backslash; a plain delimiter only before something that is not a letter or a
/// digit. Each as (position, delimiter length), in order.
fn phrase_ends(atoms: &[Atom], kind: Kind) -> Vec<(usize, usize)> {
    let last_forbidden = kind.close()[kind.close().len() - 1];
    let mut ends = Vec::new();
    for j in 1..atoms.len() {
        let last = atoms.get(j - 1);
        if atom_space(last) || atom_backslash(last) || ch_at(atoms, j - 1) == Some(last_forbidden) {
            continue;
        }
        let close = kind.close();
        if seq_at(atoms, j, close) && !atom_word(atoms.get(j + close.len())) {
            ends.push((j, close.len()));
        } else if let Some(braced) = kind.braced()
            && seq_at(atoms, j, braced)
        {
            ends.push((j, braced.len()));
        }
    }
    ends
}

/// Reads `atoms` with `marks` into `out`: phrases as Jira finds them (the shortest one from each
/// opening delimiter), their content read with their mark added.
fn phrases(atoms: &[Atom], marks: &Marks, depth: usize, out: &mut Vec<Out>) {
    let searching = depth < MAX_PHRASE_DEPTH;
    let ends: Vec<Vec<(usize, usize)>> = if searching {
        KINDS.iter().map(|kind| phrase_ends(atoms, *kind)).collect()
    } else {
        Vec::new()
    };
    let mut barrier = vec![atoms.len(); atoms.len() + 1];
    for k in (0..atoms.len()).rev() {
        barrier[k] = if is_barrier(&atoms[k]) {
            k
        } else {
            barrier[k + 1]
        };
    }
    let mut i = 0;
    while i < atoms.len() {
        if searching && let Some((kind, content, after)) = phrase_at(atoms, i, &ends, &barrier) {
            phrases(
                &atoms[content.0..content.1],
                &kind.mark(marks),
                depth + 1,
                out,
            );
            i = after;
            continue;
        }
        read_atom(&atoms[i], marks, depth, out);
        i += 1;
    }
}

/// The phrase opening at `i`: its kind, its content's range and where it ends.
fn phrase_at(
    atoms: &[Atom],
    i: usize,
    ends: &[Vec<(usize, usize)>],
    barrier: &[usize],
) -> Option<(Kind, (usize, usize), usize)> {
    let may_open = i == 0 || !(atom_word(atoms.get(i - 1)) || atom_backslash(atoms.get(i - 1)));
    for (kind, ends) in KINDS.iter().zip(ends) {
        let start = if may_open && seq_at(atoms, i, kind.open()) {
            i + kind.open().len()
        } else if let Some(braced) = kind.braced()
            && seq_at(atoms, i, braced)
        {
            i + braced.len()
        } else {
            continue;
        };
        let first = atoms.get(start);
        let first_forbidden = kind.open()[kind.open().len() - 1];
        if first.is_none_or(is_barrier)
            || atom_space(first)
            || ch_at(atoms, start) == Some(first_forbidden)
        {
            continue;
        }
        let at = ends.partition_point(|(j, _)| *j <= start);
        let Some(&(end, len)) = ends.get(at) else {
            continue;
        };
        if barrier.get(start).is_some_and(|b| *b < end)
            || (end > start + 1 && seq_at(atoms, start + 1, kind.close()))
        {
            continue;
        }
        return Some((*kind, (start, end), end + len));
    }
    None
}

fn read_atom(atom: &Atom, marks: &Marks, depth: usize, out: &mut Vec<Out>) {
    match atom {
        Atom::Ch(c) | Atom::Lit(c) => push_text(out, c.encode_utf8(&mut [0; 4]), marks),
        Atom::Newline => out.push(Out::Break { eat_space: false }),
        Atom::Forced => out.push(Out::Break { eat_space: true }),
        Atom::Url(url) => push_text(out, url, marks),
        Atom::Link { alias, text, href } => {
            let mut linked = marks.clone();
            linked.link = Some(href.clone());
            match alias {
                Some(alias) => phrases(alias, &linked, depth + 1, out),
                None => push_text(out, text, &linked),
            }
        }
        Atom::Mention(user) => out.push(Out::Node(
            json!({"type": "mention", "attrs": {"id": user, "text": format!("@{user}")}}),
        )),
        Atom::Emoji(symbol) => out.push(Out::Node(
            json!({"type": "emoji", "attrs": {"shortName": symbol, "text": symbol}}),
        )),
        Atom::Image(name) => out.push(Out::Image(name.clone())),
    }
}

fn push_text(out: &mut Vec<Out>, text: &str, marks: &Marks) {
    let mut text = text;
    if let Some(Out::Break { eat_space }) = out.last_mut()
        && *eat_space
    {
        *eat_space = false;
        text = text.strip_prefix(' ').unwrap_or(text);
    }
    if text.is_empty() {
        return;
    }
    if let Some(Out::Text(previous, previous_marks)) = out.last_mut()
        && previous_marks == marks
    {
        previous.push_str(text);
        return;
    }
    out.push(Out::Text(text.to_owned(), marks.clone()));
}

fn text_value(text: &str, marks: &Marks) -> Value {
    let marks = marks.to_json();
    if marks.is_empty() {
        json!({"type": "text", "text": text})
    } else {
        json!({"type": "text", "text": text, "marks": marks})
    }
}

/// Inline nodes for a heading or a paragraph: images by name, no break at either end, never an
/// empty text node.
fn inline_values(outs: Vec<Out>) -> Vec<Value> {
    let mut merged = Vec::with_capacity(outs.len());
    for out in outs {
        match out {
            Out::Image(name) => push_text(&mut merged, &name, &Marks::default()),
            Out::Text(text, marks) => push_text(&mut merged, &text, &marks),
            other => merged.push(other),
        }
    }
    while matches!(merged.first(), Some(Out::Break { .. })) {
        merged.remove(0);
    }
    while matches!(merged.last(), Some(Out::Break { .. })) {
        merged.pop();
    }
    merged
        .into_iter()
        .filter_map(|out| match out {
            Out::Text(text, marks) => (!text.is_empty()).then(|| text_value(&text, &marks)),
            Out::Break { .. } => Some(json!({"type": "hardBreak"})),
            Out::Node(node) => Some(node),
            Out::Image(_) => None,
        })
        .collect()
}

/// The inline reading of one line (a heading, a list item, a table cell) without breaks or white
/// space at either end (white space inside phrase delimiters is only Jira's own).
fn trimmed_line(text: &str) -> Vec<Out> {
    let mut outs = parse_inline(text);
    loop {
        match outs.first_mut() {
            Some(Out::Break { .. }) => {
                outs.remove(0);
            }
            Some(Out::Text(text, marks)) => {
                let trimmed = if marks.is_plain() {
                    text.trim_start()
                } else {
                    text.trim_start_matches(is_jira_space)
                }
                .to_owned();
                if trimmed.is_empty() {
                    outs.remove(0);
                } else {
                    *text = trimmed;
                    break;
                }
            }
            _ => break,
        }
    }
    loop {
        match outs.last_mut() {
            Some(Out::Break { .. }) => {
                outs.pop();
            }
            Some(Out::Text(text, marks)) => {
                let trimmed = if marks.is_plain() {
                    text.trim_end()
                } else {
                    text.trim_end_matches(is_jira_space)
                }
                .to_owned();
                if trimmed.is_empty() {
                    outs.pop();
                } else {
                    *text = trimmed;
                    break;
                }
            }
            _ => break,
        }
    }
    outs
}

/// Paragraphs for inline content, split where an image stands (an image is a block in ADF); no
/// paragraph of nothing but white space.
fn split_blocks(outs: Vec<Out>) -> Vec<Value> {
    let mut blocks = Vec::new();
    let mut segment = Vec::new();
    let mut after_image = false;
    for out in outs {
        if let Out::Image(name) = out {
            blocks.extend(paragraph_value(
                std::mem::take(&mut segment),
                after_image,
                true,
            ));
            blocks.push(
                json!({"type": "mediaSingle", "attrs": {"layout": "center"}, "content": [
                {"type": "media", "attrs": {"type": "external", "url": name, "alt": name}}]}),
            );
            after_image = true;
        } else {
            segment.push(out);
        }
    }
    blocks.extend(paragraph_value(segment, after_image, false));
    blocks
}

fn paragraph_value(mut segment: Vec<Out>, trim_start: bool, trim_end: bool) -> Option<Value> {
    if trim_start && let Some(Out::Text(text, _)) = segment.first_mut() {
        *text = text.trim_start().to_owned();
    }
    if trim_end && let Some(Out::Text(text, _)) = segment.last_mut() {
        *text = text.trim_end().to_owned();
    }
    let blank = segment.iter().all(|out| match out {
        Out::Text(text, _) => text.trim().is_empty(),
        Out::Break { .. } => true,
        Out::Node(_) | Out::Image(_) => false,
    });
    if blank {
        return None;
    }
    Some(json!({"type": "paragraph", "content": inline_values(segment)}))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::adf::is_adf_document;
    use crate::issue_description::{
        DETAILS_MARKER, details_block_adf, find_details_block, issue_description_adf,
        strip_details_block, with_case_text, with_details_block,
    };
    use crate::snapshot::CaseSnapshot;
    use crate::status::SirStatus;
    use crate::text::normalize_text;

    /// Texts whose characters Jira would read as markup if written as they are.
    const TEXTS: &[&str] = &[
        "one line",
        "First line\nsecond line\n\nNext paragraph",
        "\n\n\nblank lines around\n\n\n\nand between\n\n",
        "*not bold* and _not italic_ and -not struck- and +not underlined+",
        "_x_",
        "{code}\nnot code\n{code}",
        "{noformat} {quote} {panel:title=x} {color:red}red{color} {{mono}} {*}x{*}",
        "[a|b] [https://example.com] [~someone] [^file.txt] [#anchor] !image.png!",
        "-",
        "--",
        "---",
        "----",
        "a -- b --- c ---- d",
        "- dash item\n* star item\n# hash item\n  - indented\n** double",
        "# 1",
        "h1. x\nh6.y\nbq. quoted\n  h2. indented\nH3. upper",
        "\\\\",
        "a\\\\b",
        "C:\\temp\\",
        "\\\\server\\share\\dir",
        "ends with a backslash \\",
        "\\*escaped\\* and \\- and \\\\* and \\\\\\",
        "|",
        "||h1||h2||\n|c1|c2|",
        "^~?+",
        "?? cite ?? and ??x?? and Why? Really?!",
        "Wow! Really!! !bang and a!b!c",
        "(y) (n) (i) (/) (x) (!) (+) (-) (?) (on) (off) (*) (*r) (flag) (flagoff) (c) (2024)",
        ":) :( :P :D ;) C:D C:Drive 10:00 note:",
        "&amp; &lt; &#92; &#x41; AT&T &copy;",
        "unicode: Größe — 日本語 ✓ 🛡 é",
        "trailing spaces   \nnext   ",
        "CRLF line\r\nnext\r\n\r\nparagraph\rold mac",
        "    indented line\n\tTabbed",
        "2*3 = 6, a * b, x_y_z, eu-west-1, 2026-11-20T10:00:00Z, C++ and c#",
        "See https://example.com/a_b-c?x=1&y=-2#frag, (https://example.com/p) and <https://x.y/z>.",
        "https://example.com/path_(x) and https://x.y/[1] and mailto:a@b.c and file:///etc/hosts",
        "xhttps://not.a.link and \"https://quoted.example\" and |https://piped.example/-x",
        "@user 100% #hash a@b.com",
        "{ braces } {{ double }} }{ {x}",
        "* ",
        "*",
        "+ plus start\n^ caret start\n~ tilde start",
        "a_ _b *c* d*",
    ];

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

    /// A small deterministic generator (no dependency for a test).
    struct Lcg(u64);

    impl Lcg {
        fn below(&mut self, n: usize) -> usize {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((self.0 >> 33) as usize) % n
        }
    }

    /// Random strings of wiki-meaningful pieces.
    fn random_strings(seed: u64, count: usize) -> Vec<String> {
        const PARTS: &[&str] = &[
            "*",
            "_",
            "-",
            "+",
            "^",
            "~",
            "?",
            "!",
            "#",
            "|",
            "||",
            "{",
            "}",
            "{{",
            "}}",
            "[",
            "]",
            "(",
            ")",
            ":",
            ";",
            ".",
            "&",
            "&amp;",
            "&#92;",
            "\\",
            "\\\\",
            " ",
            " ",
            "  ",
            "\n",
            "\n\n",
            "\r\n",
            "\t",
            "a",
            "b",
            "word",
            "x1",
            "é",
            "🛡",
            "h1.",
            "bq.",
            "h3. ",
            "* ",
            "# ",
            "- ",
            "----",
            "--",
            "{code}",
            "{code:java}",
            "{noformat}",
            "{quote}",
            "{info}",
            "{panel:title=T}",
            "{color:red}",
            "https://example.com/a",
            "mailto:x@y.z",
            "[~bob]",
            "[x|https://e.com]",
            "!img.png!",
            "(y)",
            ":)",
            ":P",
            "{*}",
            "@",
            "%",
            "\"",
            "'",
        ];
        let mut rng = Lcg(seed);
        (0..count)
            .map(|_| {
                (0..rng.below(24))
                    .map(|_| PARTS[rng.below(PARTS.len())])
                    .collect()
            })
            .collect()
    }

    fn assert_no_empty_text(node: &Value) {
        if node_type(node) == "text" {
            assert!(
                node.get("text")
                    .and_then(Value::as_str)
                    .is_some_and(|text| !text.is_empty()),
                "empty text node: {node}"
            );
        }
        for child in children(node) {
            assert_no_empty_text(child);
        }
    }

    #[test]
    fn our_text_documents_read_back_as_the_same_text() {
        for text in TEXTS {
            let doc = text_to_adf(text);
            let wiki = adf_to_wiki(&doc);
            assert_eq!(
                adf_to_text(&wiki_to_adf(&wiki)),
                adf_to_text(&doc),
                "{text:?} written as {wiki:?}"
            );
        }
    }

    #[test]
    fn random_texts_full_of_wiki_specials_read_back_as_written() {
        for text in random_strings(7, 3000) {
            let wiki = text_to_wiki(&text);
            assert_eq!(
                wiki_to_text(&wiki),
                normalize_text(&text),
                "{text:?} written as {wiki:?}"
            );
            assert_eq!(text_to_wiki(&wiki_to_text(&wiki)), wiki, "{text:?}");
        }
    }

    #[test]
    fn the_issue_description_keeps_its_details_block_through_wiki() {
        let mut descriptions: Vec<&str> = TEXTS.to_vec();
        descriptions.push("");
        let quoting = format!("Quoted an old issue:\n{DETAILS_MARKER}\nCase ID: 1");
        descriptions.push(&quoting);
        for description in descriptions {
            let case = case(description);
            let doc = issue_description_adf(&case, URL);
            let read = wiki_to_adf(&adf_to_wiki(&doc));
            assert!(find_details_block(&read).is_some(), "{description:?}");
            assert_eq!(
                find_details_block(&read),
                find_details_block(&doc),
                "{description:?}"
            );
            assert_eq!(adf_to_text(&read), adf_to_text(&doc), "{description:?}");
            assert_eq!(
                strip_details_block(&adf_to_text(&read)),
                normalize_text(description),
                "{description:?}"
            );

            let mut moved = case.clone();
            moved.impacted_accounts = ["999988887777".to_owned()].into();
            let block = details_block_adf(&moved, URL);
            assert_eq!(
                adf_to_text(&with_details_block(&read, block.clone())),
                adf_to_text(&with_details_block(&doc, block.clone())),
                "{description:?}"
            );
            assert_eq!(
                adf_to_text(&with_case_text(&read, "Rewritten in SIR.", block.clone())),
                adf_to_text(&with_case_text(&doc, "Rewritten in SIR.", block)),
                "{description:?}"
            );
        }
    }

    #[test]
    fn the_details_block_is_an_info_panel_with_a_bold_marker_and_a_link() {
        let wiki = adf_to_wiki(&issue_description_adf(&case("Keys used."), URL));
        assert_eq!(
            wiki,
            format!(
                "Keys used.\n\n{{info}}\n*\\-\\-\\-\\- AWS Security Incident Response case details \
                 (maintained by the integration) \\-\\-\\-\\-*\nCase ID: 1234567890\n\
                 Case in the SIR console: [{URL}]\nEngagement type: Security Incident\n\
                 Impacted accounts: 111122223333, 444455556666\nImpacted regions: eu-west-1\n\
                 Impacted services: none\nReported incident start: 2026-11-20T10:00:00Z\n{{info}}"
            )
        );
        let read = wiki_to_adf(&wiki);
        let block = &read["content"][1];
        assert_eq!(block["type"], "panel");
        assert_eq!(block["attrs"]["panelType"], "info");
        let inline = block["content"][0]["content"].as_array().unwrap();
        assert_eq!(inline[0]["text"], DETAILS_MARKER);
        assert_eq!(inline[0]["marks"], json!([{"type": "strong"}]));
        let link = inline
            .iter()
            .find(|node| node["marks"][0]["type"] == "link")
            .unwrap();
        assert_eq!(link["text"], URL);
        assert_eq!(link["marks"][0]["attrs"]["href"], URL);
    }

    #[test]
    fn writing_what_was_read_gives_the_same_markup() {
        let mut docs: Vec<Value> = TEXTS.iter().map(|text| text_to_adf(text)).collect();
        docs.extend(
            TEXTS
                .iter()
                .map(|text| issue_description_adf(&case(text), URL)),
        );
        docs.push(issue_description_adf(&case(""), URL));
        docs.push(rich_adf());
        for doc in docs {
            let wiki = adf_to_wiki(&doc);
            assert_eq!(adf_to_wiki(&wiki_to_adf(&wiki)), wiki, "{doc}");
        }
    }

    #[test]
    fn wiki_a_person_typed_reads_as_plain_text() {
        for (wiki, text) in [
            (
                "*Bold* and _italic_ with {{mono}}, -gone- +under+ ^sup^ ~sub~ ??cite??",
                "Bold and italic with mono, gone under sup sub cite",
            ),
            (
                "See [the runbook|https://example.com/rb], [https://example.com] and https://x.y/a_b_c",
                "See the runbook, https://example.com and https://x.y/a_b_c",
            ),
            (
                "h2. Timeline\n* first\n* second *bold*\n- dash\n\n# one\n# two",
                "Timeline\n\n- first\n- second bold\n- dash\n\n1. one\n2. two",
            ),
            (
                "\\*not bold\\*, a \\[bracket\\], a \\{brace\\} and C:\\temp",
                "*not bold*, a [bracket], a {brace} and C:\\temp",
            ),
            (
                "{code:bash}\naws s3 ls *bucket* [x|y] \\\\\n{code}",
                "aws s3 ls *bucket* [x|y] \\\\",
            ),
            ("{noformat}\n  spaced  *raw*\n{noformat}", "  spaced  *raw*"),
            (
                "first line\\\\second line\nthird line",
                "first line\nsecond line\nthird line",
            ),
            ("[~jsmith] please check", "@jsmith please check"),
            (
                "||Host||IP||\n|web-1|10.0.0.1|",
                "Host\n\nIP\n\nweb-1\n\n10.0.0.1",
            ),
            (
                "{panel:title=Note}\nSome text\n{panel}",
                "Note\n\nSome text",
            ),
            (
                "{info}\nHeads up\n{info}\n\nbq. quoted",
                "Heads up\n\nquoted",
            ),
            ("{quote}\nquoted *text*\n{quote}", "quoted text"),
            ("a -- b --- c", "a – b — c"),
            ("{color:red}red{color} text", "red text"),
            ("!screenshot.png|thumbnail!", "[attachment: screenshot.png]"),
            ("Windows\r\nline\r\n\r\nnext", "Windows\nline\n\nnext"),
            ("before\n----\nafter", "before\n\n---\n\nafter"),
            (
                "5 * 3 and snake_case_name and a-b",
                "5 * 3 and snake_case_name and a-b",
            ),
            ("Nice (y) :)", "Nice (y) :)"),
            ("&amp; &lt;tag&gt; &#64;", "& <tag> @"),
        ] {
            assert_eq!(wiki_to_text(wiki), text, "{wiki:?}");
        }
    }

    #[test]
    fn special_characters_are_escaped_only_where_jira_would_read_markup() {
        for (text, wiki) in [
            ("*not bold*", "\\*not bold\\*"),
            (
                "eu-west-1 at 2026-11-20 in snake_case",
                "eu-west-1 at 2026-11-20 in snake_case",
            ),
            ("a * b and 2*3", "a * b and 2*3"),
            ("- item", "\\- item"),
            ("# 1", "\\# 1"),
            ("h1. Title", "h1&#46; Title"),
            ("C:\\temp\\", "C:\\temp&#92;"),
            ("a\\\\b", "a&#92;\\b"),
            ("a|b", "a&#124;b"),
            ("{x}", "\\{x\\}"),
            ("{{x}}", "&#123;&#123;x&#125;&#125;"),
            ("(x) and (see)", "\\(x) and (see)"),
            ("Why? Yes!", "Why? Yes!"),
            (
                "See https://example.com/a-b.",
                "See [https://example.com/a-b].",
            ),
            ("&amp;", "&#38;amp;"),
            ("a -- b", "a \\-\\- b"),
        ] {
            assert_eq!(text_to_wiki(text), wiki, "{text:?}");
        }
    }

    fn rich_adf() -> Value {
        let text = |t: &str| json!({"type": "text", "text": t});
        let marked = |t: &str, marks: Value| json!({"type": "text", "text": t, "marks": marks});
        json!({"type": "doc", "version": 1, "content": [
            {"type": "heading", "attrs": {"level": 2}, "content": [text("Timeline")]},
            {"type": "paragraph", "content": [
                marked("bold", json!([{"type": "strong"}])), text(" "),
                marked("it", json!([{"type": "em"}])), text(" "),
                marked("mono", json!([{"type": "code"}])), text(" "),
                marked("gone", json!([{"type": "strike"}])), text(" "),
                marked("under", json!([{"type": "underline"}])), text(" mid"),
                marked("word", json!([{"type": "strong"}])), text("s "),
                marked("runbook", json!([{"type": "link", "attrs": {"href": "https://example.com/rb"}}])),
                {"type": "hardBreak"},
                {"type": "mention", "attrs": {"id": "alice", "text": "@Alice"}}, text(" "),
                {"type": "emoji", "attrs": {"shortName": ":smile:", "text": "😄"}}, text(" "),
                {"type": "inlineCard", "attrs": {"url": "https://example.com/card"}}
            ]},
            {"type": "bulletList", "content": [
                {"type": "listItem", "content": [
                    {"type": "paragraph", "content": [text("one")]},
                    {"type": "orderedList", "content": [
                        {"type": "listItem", "content": [{"type": "paragraph", "content": [text("nested")]}]}]}]},
                {"type": "listItem", "content": [{"type": "paragraph", "content": [text("two")]}]}]},
            {"type": "codeBlock", "attrs": {"language": "bash"}, "content": [text("aws s3 ls\n*x*")]},
            {"type": "codeBlock", "content": [text("plain")]},
            {"type": "blockquote", "content": [{"type": "paragraph", "content": [text("quoted")]}]},
            {"type": "panel", "attrs": {"panelType": "warning"}, "content": [
                {"type": "paragraph", "content": [text("careful")]}]},
            {"type": "panel", "attrs": {"panelType": "error"}, "content": [
                {"type": "paragraph", "content": [text("broken")]}]},
            {"type": "panel", "attrs": {"panelType": "success"}, "content": [
                {"type": "paragraph", "content": [text("done")]}]},
            {"type": "rule"},
            {"type": "table", "content": [
                {"type": "tableRow", "content": [
                    {"type": "tableHeader", "content": [{"type": "paragraph", "content": [text("Host")]}]},
                    {"type": "tableHeader", "content": [{"type": "paragraph", "content": [text("IP")]}]}]},
                {"type": "tableRow", "content": [
                    {"type": "tableCell", "content": [{"type": "paragraph", "content": [text("web|1")]}]},
                    {"type": "tableCell", "content": [{"type": "paragraph", "content": []}]}]}]},
            {"type": "mediaSingle", "content": [
                {"type": "media", "attrs": {"type": "file", "id": "abc", "alt": "shot.png"}}]},
            {"type": "mediaSingle", "content": [{"type": "media", "attrs": {"type": "file", "id": "abc"}}]},
            {"type": "unknownBlock", "content": [text("kept text")]}
        ]})
    }

    #[test]
    fn rich_adf_becomes_the_expected_markup() {
        assert_eq!(
            adf_to_wiki(&rich_adf()),
            "h2. Timeline\n\n\
             *bold* _it_ {{mono}} -gone- +under+ mid{*}word{*}s [runbook|https://example.com/rb]\n\
             [~alice] 😄 [https://example.com/card]\n\n\
             * one\n*# nested\n* two\n\n\
             {code:bash}\naws s3 ls\n*x*\n{code}\n\n\
             {noformat}\nplain\n{noformat}\n\n\
             {quote}\nquoted\n{quote}\n\n\
             {warning}\ncareful\n{warning}\n\n\
             {warning}\nbroken\n{warning}\n\n\
             {tip}\ndone\n{tip}\n\n\
             ----\n\n\
             ||Host||IP||\n|web&#124;1| |\n\n\
             !shot.png!\n\n\
             kept text"
        );
        assert_eq!(adf_to_wiki(&Value::Null), "");
        assert_eq!(adf_to_wiki(&json!("plain string")), "");
        assert_eq!(adf_to_wiki(&json!({"type": "paragraph"})), "");
    }

    #[test]
    fn rich_wiki_becomes_the_expected_adf() {
        let doc = wiki_to_adf(
            "h3. Title\n* a\n** b\n# c\n\n{code:python|title=x}\nprint(1)\n{code}\n\
             {tip:title=Done}\nok\n{tip}\n[Runbook|https://e.com] [~bob] (y)\n|x|y|",
        );
        assert_eq!(
            doc,
            json!({"type": "doc", "version": 1, "content": [
                {"type": "heading", "attrs": {"level": 3}, "content": [{"type": "text", "text": "Title"}]},
                {"type": "bulletList", "content": [{"type": "listItem", "content": [
                    {"type": "paragraph", "content": [{"type": "text", "text": "a"}]},
                    {"type": "bulletList", "content": [{"type": "listItem", "content": [
                        {"type": "paragraph", "content": [{"type": "text", "text": "b"}]}]}]}]}]},
                {"type": "orderedList", "content": [{"type": "listItem", "content": [
                    {"type": "paragraph", "content": [{"type": "text", "text": "c"}]}]}]},
                {"type": "codeBlock", "attrs": {"language": "python"},
                 "content": [{"type": "text", "text": "print(1)"}]},
                {"type": "panel", "attrs": {"panelType": "success"}, "content": [
                    {"type": "paragraph", "content": [
                        {"type": "text", "text": "Done", "marks": [{"type": "strong"}]}]},
                    {"type": "paragraph", "content": [{"type": "text", "text": "ok"}]}]},
                {"type": "paragraph", "content": [
                    {"type": "text", "text": "Runbook",
                     "marks": [{"type": "link", "attrs": {"href": "https://e.com"}}]},
                    {"type": "text", "text": " "},
                    {"type": "mention", "attrs": {"id": "bob", "text": "@bob"}},
                    {"type": "text", "text": " "},
                    {"type": "emoji", "attrs": {"shortName": "(y)", "text": "(y)"}}]},
                {"type": "table", "content": [{"type": "tableRow", "content": [
                    {"type": "tableCell", "content": [
                        {"type": "paragraph", "content": [{"type": "text", "text": "x"}]}]},
                    {"type": "tableCell", "content": [
                        {"type": "paragraph", "content": [{"type": "text", "text": "y"}]}]}]}]}
            ]})
        );
    }

    #[test]
    fn empty_markup_is_an_empty_document() {
        for wiki in ["", "  \n\t\r\n "] {
            let doc = wiki_to_adf(wiki);
            assert!(is_adf_document(&doc));
            assert_eq!(doc, text_to_adf(""));
            assert_eq!(wiki_to_text(wiki), "");
        }
        assert_eq!(text_to_wiki(""), "");
    }

    #[test]
    fn odd_markup_never_panics_and_reads_as_valid_adf() {
        let mut inputs: Vec<String> = [
            "{code}unbalanced",
            "{code:java}\nno end",
            "{quote}\nopen quote",
            "{panel:title=x",
            "*",
            "[",
            "]",
            "[|]",
            "[ ]",
            "[~]",
            "!",
            "!!",
            "! x!",
            "\\",
            "trailing \\",
            "\\\\",
            "\\\\\\",
            "&",
            "&#;",
            "&#xZZ;",
            "&#0;",
            "&#1114112;",
            "&unknown;",
            "\r\n\r\n",
            "{{",
            "}}",
            "{{}}",
            "{*}{*}",
            "{color:red",
            "||",
            "|",
            "| |",
            "h1.",
            "bq.",
            "* ",
            "** x",
            "#*#* y",
            "- ",
            "{code}{code}",
            "{noformat}\n{code}\n{noformat}",
            "*_-+^~x~^+-_*",
            "é*ü*",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        inputs.push("*".repeat(5000));
        inputs.push("*a ".repeat(2000));
        inputs.push("[".repeat(3000));
        inputs.push("*".repeat(40) + " x");
        inputs.extend(random_strings(11, 3000));
        for wiki in &inputs {
            let doc = wiki_to_adf(wiki);
            assert!(is_adf_document(&doc), "{wiki:?}");
            assert_no_empty_text(&doc);
            // What the writer makes of any document it reads, it reads back as the same text,
            // and writes again the same way.
            let written = adf_to_wiki(&doc);
            let again = wiki_to_adf(&written);
            assert_eq!(
                adf_to_text(&again),
                adf_to_text(&doc),
                "{wiki:?} → {written:?}"
            );
            assert_eq!(adf_to_wiki(&again), written, "{wiki:?}");
        }
    }

    #[test]
    fn text_and_wiki_conversions_compose_the_adf_ones() {
        for text in TEXTS {
            assert_eq!(text_to_wiki(text), adf_to_wiki(&text_to_adf(text)));
            let wiki = text_to_wiki(text);
            assert_eq!(wiki_to_text(&wiki), adf_to_text(&wiki_to_adf(&wiki)));
        }
    }
}
