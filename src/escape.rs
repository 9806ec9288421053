//! The one place that knows how to put user-derived text into each language nb2svc writes.
//!
//! Notebook file names, cell ids, setting names, URLs and paths come from the user and may hold
//! anything: quotes, triple quotes, backslashes, newlines, backticks, YAML and Markdown syntax.
//! Pasted raw, `x""" + __import__("os").system("id") + """.ipynb` ran `id` at `import app`, and
//! a newline in a file name added Dockerfile instructions. Every such string goes through one
//! function here, chosen for where it lands; templates reach them as Tera filters
//! ([`register`]), and Rust code that builds text calls them directly. Each function's output
//! keeps the text readable for people: only what would change the structure is escaped.

use std::borrow::Cow;
use std::collections::HashMap;

use tera::{Tera, Value};

/// The escape a control or line-breaking character is shown with (`\n`, `\x00`, `\u2028`), or
/// `None` for a character that can stay as it is. The spelling is valid in Python and YAML
/// double-quoted strings, so [`python_string`] and [`yaml_string`] use it too.
fn escaped(ch: char) -> Option<String> {
    match ch {
        '\n' => Some(r"\n".into()),
        '\r' => Some(r"\r".into()),
        '\t' => None,
        // C0, DEL and C1 controls (U+0085 NEL ends a line in YAML 1.1).
        c if c.is_control() => Some(format!(r"\x{:02x}", c as u32)),
        // Line and paragraph separators end lines for YAML 1.1 and many editors; U+FEFF and the
        // noncharacters U+FFFE/U+FFFF are not printable YAML.
        c @ ('\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}') => {
            Some(format!(r"\u{:04x}", c as u32))
        }
        _ => None,
    }
}

/// `text` on one line: every control or line-breaking character shown as its escape. The base
/// of every comment context (Python, Dockerfile, YAML, requirements.txt) and of plain text
/// files, where a newline would start a line the user wrote.
pub fn one_line(text: &str) -> Cow<'_, str> {
    // Most text is printable ASCII, which has nothing to escape: it is given back as it is.
    if text
        .bytes()
        .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
    {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match escaped(ch) {
            Some(escape) => out.push_str(&escape),
            None => out.push(ch),
        }
    }
    Cow::Owned(out)
}

/// [`one_line`] as an owned string, for the templates' `text_line` filter.
fn text_line(text: &str) -> String {
    one_line(text).into_owned()
}

/// The inside of a Python `"""` docstring (not raw) that reads as `text`: backslashes and
/// double quotes are escaped, so no `"""` can close it, and line breaks are escapes.
pub fn python_docstring(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '\\' => out.push_str(r"\\"),
            '"' => out.push_str("\\\""),
            c => match escaped(c) {
                Some(escape) => out.push_str(&escape),
                None => out.push(c),
            },
        }
    }
    out
}

/// A Python string literal (`"..."`) whose value is `text`. Non-ASCII stays as it is (the
/// files are UTF-8); what Python or an editor would read as a line break is an escape.
pub fn python_string(text: &str) -> String {
    format!("\"{}\"", python_docstring(text))
}

/// The text of a Python comment (after `#`): one line.
pub fn python_comment(text: &str) -> String {
    one_line(text).into_owned()
}

/// A line of code kept as a comment (`# LINE`): it stays as written, except what Python's
/// tokenizer would take as the end of the comment (a lone `\r`) or refuse (a NUL byte), so
/// that the rest of the line cannot run. A `\r` before the line's `\n` is kept (CRLF files).
pub fn python_commented_code(line: &str) -> String {
    let (body, crlf) = match line.strip_suffix('\r') {
        Some(body) => (body, true),
        None => (line, false),
    };
    let mut out = body.replace('\r', r"\r").replace('\0', r"\x00");
    if crlf {
        out.push('\r');
    }
    out
}

/// A Python dict literal of strings, `{"KEY": "value"}`, in the order given.
pub fn python_str_dict<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let items: Vec<String> = pairs
        .into_iter()
        .map(|(key, value)| format!("{}: {}", python_string(key), python_string(value)))
        .collect();
    format!("{{{}}}", items.join(", "))
}

/// A YAML double-quoted scalar whose value is `text`, for keys and values alike. JSON strings
/// are close but leave DEL, U+0085 and U+2028 raw, which YAML 1.1 parsers refuse or fold.
pub fn yaml_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for ch in text.chars() {
        match ch {
            '\\' => out.push_str(r"\\"),
            '"' => out.push_str("\\\""),
            '\t' => out.push_str(r"\t"),
            c => match escaped(c) {
                Some(escape) => out.push_str(&escape),
                None => out.push(c),
            },
        }
    }
    out.push('"');
    out
}

/// The text of a YAML comment: one line.
pub fn yaml_comment(text: &str) -> String {
    one_line(text).into_owned()
}

/// The text of a Dockerfile comment: one line, so that nothing after it is an instruction.
/// (The built-in Dockerfile's first comment starts with the title, never `word=`, so it is not
/// read as a parser directive.)
pub fn dockerfile_comment(text: &str) -> String {
    one_line(text).into_owned()
}

/// An inline Markdown code span showing `text` as it is: fenced with more backticks than any
/// run inside it, padded when it starts or ends with one, on one line.
pub fn markdown_code(text: &str) -> String {
    let text = one_line(text);
    let mut longest = 0;
    let mut run = 0;
    for ch in text.chars() {
        run = if ch == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    let pad = text.is_empty()
        || text.starts_with('`')
        || text.ends_with('`')
        || (text.starts_with(' ') && text.ends_with(' '));
    let pad = if pad { " " } else { "" };
    format!("{fence}{pad}{text}{pad}{fence}")
}

/// Markdown text that shows `text` literally: one line, every character that could start
/// markup backslash-escaped.
pub fn markdown_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in one_line(text).chars() {
        if "\\`*_[]<>#|!~&".contains(ch) {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// A sentence nb2svc prepared for the README (its user parts already through
/// [`markdown_code`]): kept on one line, so that it stays one list item or table cell.
pub fn markdown_line(text: &str) -> String {
    one_line(text).into_owned()
}

/// The content of a Markdown table cell: a `|` would end the cell, even inside a code span.
pub fn markdown_table_cell(text: &str) -> String {
    one_line(text).replace('|', r"\|")
}

/// A URL for the README: an autolink `<URL>` when it is one, else a code span.
pub fn markdown_url(url: &str) -> String {
    let autolink = url.contains("://")
        && !url.is_empty()
        && url
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && !"<>`\\".contains(c));
    if autolink {
        format!("<{url}>")
    } else {
        markdown_code(url)
    }
}

/// `text` single-quoted for a POSIX shell: nothing inside is expanded.
pub fn shell_single_quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// Prose re-flowed to 88 columns (ruff's and black's line length), paragraph by paragraph:
/// a generated docstring holding a long notebook name still passes the linter. A word longer
/// than the line stands alone, which the linter accepts.
pub fn wrapped_prose(text: &str) -> String {
    wrapped(text, 0)
}

/// Like [`wrapped_prose`], for a docstring's text: its first line follows the opening `"""`.
pub fn wrapped_docstring(text: &str) -> String {
    wrapped(text, 3)
}

/// The line length of the generated Python: ruff's and black's default.
const WIDTH: usize = 88;

fn wrapped(text: &str, first_line_taken: usize) -> String {
    let mut out = Vec::new();
    let mut taken = first_line_taken;
    for paragraph in text.split("\n\n") {
        let mut lines: Vec<String> = Vec::new();
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            let width = if lines.is_empty() {
                WIDTH - taken
            } else {
                WIDTH
            };
            let fits = line.is_empty() || line.chars().count() + 1 + word.chars().count() <= width;
            if !fits {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        lines.push(line);
        out.push(lines.join("\n"));
        taken = 0;
    }
    out.join("\n\n")
}

/// A Python string literal as a call's keyword argument, `prefix` columns into its line
/// (`    description=`), formatted as ruff formats it: one literal when the line fits, else
/// parenthesised pieces split at spaces, one per line at `prefix`'s indent plus four.
pub fn python_string_argument(text: &str, prefix: usize, indent: usize) -> String {
    let whole = python_string(text);
    if prefix + whole.chars().count() < WIDTH {
        return whole;
    }
    let room = WIDTH - indent - 2;
    let mut pieces: Vec<String> = Vec::new();
    let mut piece = String::new();
    for word in text.split_inclusive(' ') {
        if !piece.is_empty() && python_string(&format!("{piece}{word}")).chars().count() > room {
            pieces.push(std::mem::take(&mut piece));
        }
        piece.push_str(word);
    }
    pieces.push(piece);
    let pad = " ".repeat(indent);
    let lines: Vec<String> = pieces
        .iter()
        .map(|p| format!("{pad}{}", python_string(p)))
        .collect();
    format!("(\n{}\n{})", lines.join("\n"), " ".repeat(indent - 4))
}

/// A TOML basic string: JSON's escapes (`\"`, `\\`, `\n`, `\uXXXX`) are TOML's too.
pub fn toml_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_string())
}

/// One escaping function: the text as it must be written in its context.
type Escape = fn(&str) -> String;

/// The filters templates use, by name, each one of the functions above.
const FILTERS: &[(&str, Escape)] = &[
    ("py_docstring", python_docstring),
    ("py_string", python_string),
    ("py_comment", python_comment),
    ("yaml_string", yaml_string),
    ("yaml_comment", yaml_comment),
    ("dockerfile_comment", dockerfile_comment),
    ("md_code", markdown_code),
    ("md_text", markdown_text),
    ("md_line", markdown_line),
    ("md_cell", markdown_table_cell),
    ("sh_quote", shell_single_quoted),
    ("text_line", text_line),
    ("wrap", wrapped_prose),
    ("wrap_docstring", wrapped_docstring),
    ("toml_string", toml_string),
];

/// Registers every escaping filter. A number is escaped as its text; anything else that is not
/// a string is an error naming the filter, never silently pasted.
pub fn register(tera: &mut Tera) {
    for &(name, escape) in FILTERS {
        tera.register_filter(
            name,
            move |value: &Value, _: &HashMap<String, Value>| match value {
                Value::String(text) => Ok(Value::String(escape(text))),
                Value::Number(number) => Ok(Value::String(escape(&number.to_string()))),
                other => Err(tera::Error::msg(format!(
                    "filter `{name}` expects a string, got {other}"
                ))),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prose_is_wrapped_at_88_columns_by_paragraph() {
        let text = format!("{} end\n\nnext", "word ".repeat(30));
        let wrapped = wrapped_prose(&text);
        assert!(
            wrapped.lines().all(|l| l.chars().count() <= 88),
            "{wrapped}"
        );
        assert!(wrapped.ends_with("end\n\nnext"), "{wrapped}");
        assert_eq!(wrapped_prose(&"x".repeat(100)), "x".repeat(100));
    }

    #[test]
    fn docstrings_cannot_be_closed() {
        let name = r#"x""" + str(__import__("os").system("id")) + """.ipynb"#;
        let inner = python_docstring(name);
        assert!(!inner.contains("\"\"\""), "{inner}");
        assert_eq!(
            inner,
            r#"x\"\"\" + str(__import__(\"os\").system(\"id\")) + \"\"\".ipynb"#
        );
        assert_eq!(python_docstring("a\\"), r"a\\");
        assert_eq!(python_docstring("a\nb\u{2028}"), r"a\nb\u2028");
    }

    #[test]
    fn python_strings_escape_line_breaks_and_keep_other_text() {
        assert_eq!(python_string("é \"q\" \\"), r#""é \"q\" \\""#);
        assert_eq!(python_string("\r\0\u{85}\u{7f}"), r#""\r\x00\x85\x7f""#);
        assert_eq!(
            python_str_dict([("A", "1"), ("B\n", "'")]),
            r#"{"A": "1", "B\n": "'"}"#
        );
    }

    #[test]
    fn comments_stay_on_one_line() {
        assert_eq!(one_line("a\nRUN id\r\u{2029}"), r"a\nRUN id\r\u2029");
        assert_eq!(
            python_commented_code("x = 1\rimport os"),
            r"x = 1\rimport os"
        );
        assert_eq!(python_commented_code("x = 1\r"), "x = 1\r");
    }

    #[test]
    fn yaml_strings_escape_what_yaml_refuses() {
        assert_eq!(yaml_string("a: #b"), r#""a: #b""#);
        assert_eq!(
            yaml_string("\t\u{7f}\u{85}\u{2028}"),
            r#""\t\x7f\x85\u2028""#
        );
        let parsed: String = serde_yaml::from_str(&yaml_string("q\"\\\n\u{2028}é")).unwrap();
        assert_eq!(parsed, "q\"\\\n\u{2028}é");
    }

    #[test]
    fn markdown_code_spans_hold_any_backticks() {
        assert_eq!(markdown_code("a.ipynb"), "`a.ipynb`");
        assert_eq!(markdown_code("a`b"), "``a`b``");
        assert_eq!(markdown_code("`x``"), "``` `x`` ```");
        assert_eq!(markdown_code("a\n# b"), r"`a\n# b`");
        assert_eq!(markdown_table_cell("`a|b`"), r"`a\|b`");
        assert_eq!(markdown_text("*a* [b]"), r"\*a\* \[b\]");
        assert_eq!(markdown_url("https://x.org/a.csv"), "<https://x.org/a.csv>");
        assert_eq!(markdown_url("https://x.org/a b>"), "`https://x.org/a b>`");
    }

    #[test]
    fn shell_quotes_close_around_single_quotes() {
        assert_eq!(shell_single_quoted("it's $x"), r"'it'\''s $x'");
    }
}
