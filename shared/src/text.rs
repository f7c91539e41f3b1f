//! Text as the two services take it: the normalization every synced text goes through (so an
//! echo of our own write compares equal), and each service's length limits with the clipping
//! that counts as that service counts.

// SIR's limits are Smithy `@length` traits, which count Unicode code points (Rust `char`s):
// clip them with [`clip_chars`]. Jira's are Java `String.length()`, which counts UTF-16 code
// units (a character outside the Basic Multilingual Plane, like most emoji, is two): clip them
// with [`clip_utf16`].

/// SIR's limit on a case title, in characters (code points).
pub const SIR_TITLE_MAX_CHARS: usize = 300;
/// SIR's limit on a case description, in characters (code points).
pub const SIR_DESCRIPTION_MAX_CHARS: usize = 8_000;
/// Jira's limit on an issue summary, in UTF-16 code units (255 emoji do not fit: 127 do).
pub const JIRA_SUMMARY_MAX_UTF16_UNITS: usize = 255;
/// SIR's limit on a comment body, in characters (code points).
pub const SIR_COMMENT_MAX_CHARS: usize = 12_000;

/// One line of text: inner runs of white space folded to one space, ends trimmed.
pub fn normalize_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Multi-line text: CRLF/CR to LF, trailing blanks of each line removed, runs of blank lines
/// folded to one, leading and trailing blank lines removed.
pub fn normalize_text(text: &str) -> String {
    let unified = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut out = String::with_capacity(unified.len());
    let mut blank_run = 0usize;
    for line in unified.lines().map(str::trim_end) {
        if line.is_empty() {
            blank_run += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank_run > 0 { "\n\n" } else { "\n" });
        }
        blank_run = 0;
        out.push_str(line);
    }
    out
}

/// The first `max` characters of `text` (characters, not bytes: never splits one).
pub fn clip_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => text[..cut].to_owned(),
        None => text.to_owned(),
    }
}

/// The longest start of `text` that is at most `max` UTF-16 code units long (what Java's
/// `String.length()`, and so Jira, counts); never splits a character.
pub fn clip_utf16(text: &str, max: usize) -> String {
    let mut units = 0;
    for (index, character) in text.char_indices() {
        units += character.len_utf16();
        if units > max {
            return text[..index].to_owned();
        }
    }
    text.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_clipping_never_splits_a_character() {
        assert_eq!(clip_utf16("abc", 10), "abc");
        assert_eq!(clip_utf16("a🛡b", 2), "a");
        assert_eq!(clip_utf16("a🛡b", 3), "a🛡");
        assert_eq!(clip_utf16("äöü", 2), "äö");
        assert_eq!(clip_utf16("", 0), "");
    }

    #[test]
    fn text_normalization_keeps_paragraphs() {
        assert_eq!(
            normalize_text("\n\na  \r\nb\r\n\r\n\r\n\r\nc\n\n"),
            "a\nb\n\nc"
        );
        assert_eq!(normalize_line(" a \t b\n c "), "a b c");
        assert_eq!(clip_chars("abc", 10), "abc");
        assert_eq!(clip_chars("äöü", 2), "äö");
    }
}
