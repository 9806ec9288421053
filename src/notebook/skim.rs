//! Cuts what nb2svc never reads out of a notebook's JSON before the JSON reader sees it: each
//! cell's `outputs` and `attachments`, which are most of a notebook's bytes (base64 images,
//! tables, logs). serde's reader walks every byte of a value it skips, eight at a time; here the
//! end of each string is found with SIMD (`memchr`), several times faster on a notebook whose
//! outputs hold megabytes of PNG.
//!
//! The cut is checked as far as skipping needs: every string inside it ends, and its brackets
//! pair up. Anything else (an unterminated string, brackets that do not pair, no `outputs` at
//! all) gives `None`, and the whole file goes to the JSON reader as it is, which reports what is
//! wrong where it is. Cutting a well-formed value leaves a well-formed document, so a file that
//! the reader refuses once cut is refused as it is too. What the cut does not check is the rest
//! of the grammar inside the cut value (a missing comma between two outputs): nb2svc reads
//! nothing there.

use memchr::{memchr, memchr2};

/// The keys whose values are cut, replaced by an empty list or object.
const CUT_KEYS: &[&[u8]] = &[b"outputs", b"attachments"];

/// `json` with the value of every [`CUT_KEYS`] key emptied, or `None` when nothing was cut or
/// the file is not well-formed enough to cut safely.
pub(super) fn skimmed(json: &[u8]) -> Option<Vec<u8>> {
    let mut out: Vec<u8> = Vec::new();
    // `json[copied..]` is not in `out` yet.
    let mut copied = 0;
    let mut at = 0;
    while let Some(quote) = memchr(b'"', &json[at..]) {
        let start = at + quote;
        let end = string_end(json, start)?;
        at = end;
        if !CUT_KEYS.contains(&&json[start + 1..end - 1]) {
            continue;
        }
        let colon = skip_whitespace(json, end);
        if json.get(colon) != Some(&b':') {
            continue;
        }
        let open = skip_whitespace(json, colon + 1);
        let Some(&bracket @ (b'[' | b'{')) = json.get(open) else {
            continue;
        };
        let close = matching_bracket(json, open)?;
        out.extend_from_slice(&json[copied..=open]);
        out.push(if bracket == b'[' { b']' } else { b'}' });
        copied = close + 1;
        at = close + 1;
    }
    if copied == 0 {
        return None;
    }
    out.extend_from_slice(&json[copied..]);
    Some(out)
}

/// The index just past the string that opens with the quote at `start`; `None` if it never
/// closes.
fn string_end(json: &[u8], start: usize) -> Option<usize> {
    let mut at = start + 1;
    loop {
        let found = at + memchr2(b'"', b'\\', json.get(at..)?)?;
        if json[found] == b'"' {
            return Some(found + 1);
        }
        // A backslash escapes the next byte, which may be a quote.
        at = found + 2;
    }
}

fn skip_whitespace(json: &[u8], mut at: usize) -> usize {
    while json
        .get(at)
        .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
    {
        at += 1;
    }
    at
}

/// The index of the bracket that closes the one at `open`, strings skipped; `None` when the
/// brackets do not pair up before the end.
fn matching_bracket(json: &[u8], open: usize) -> Option<usize> {
    let mut open_brackets: Vec<u8> = Vec::new();
    let mut at = open;
    while let Some(&byte) = json.get(at) {
        match byte {
            b'"' => {
                at = string_end(json, at)?;
                continue;
            }
            b'[' | b'{' => open_brackets.push(byte),
            b']' | b'}' => {
                let expected = if byte == b']' { b'[' } else { b'{' };
                if open_brackets.pop() != Some(expected) {
                    return None;
                }
                if open_brackets.is_empty() {
                    return Some(at);
                }
            }
            _ => {}
        }
        at += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skim(json: &str) -> Option<String> {
        skimmed(json.as_bytes()).map(|out| String::from_utf8(out).unwrap())
    }

    #[test]
    fn outputs_and_attachments_are_emptied_and_everything_else_kept() {
        let json = r#"{"cells": [{"cell_type": "code", "source": ["x = '\"outputs\": [1]'"],
            "outputs" : [{"data": {"image/png": "iVBOR\"w0]}["}, "text": ["a\\", "]"]}],
            "metadata": {}}, {"cell_type": "markdown", "attachments": {"a.png": {"image/png": "xyz"}},
            "source": "![a](attachment:a.png)"}], "nbformat": 4}"#;
        let skimmed = skim(json).unwrap();
        assert_eq!(
            skimmed,
            r#"{"cells": [{"cell_type": "code", "source": ["x = '\"outputs\": [1]'"],
            "outputs" : [],
            "metadata": {}}, {"cell_type": "markdown", "attachments": {},
            "source": "![a](attachment:a.png)"}], "nbformat": 4}"#
        );
        let original: serde_json::Value = serde_json::from_str(json).unwrap();
        let cut: serde_json::Value = serde_json::from_str(&skimmed).unwrap();
        assert_eq!(original["cells"][0]["source"], cut["cells"][0]["source"]);
    }

    #[test]
    fn a_file_with_nothing_to_cut_or_not_safe_to_cut_is_left_to_the_json_reader() {
        // Nothing to cut.
        assert_eq!(skim(r#"{"cells": [], "nbformat": 4}"#), None);
        // A value that is not a list or an object is left in place.
        assert_eq!(skim(r#"{"outputs": 3}"#), None);
        // A string inside outputs that never ends, brackets that do not pair, a file cut short.
        for broken in [
            r#"{"cells": [{"outputs": ["abc]}], "nbformat": 4}"#,
            r#"{"cells": [{"outputs": [{"a": 1]}], "nbformat": 4}"#,
            r#"{"cells": [{"outputs": [{"a": 1}"#,
        ] {
            assert_eq!(skim(broken), None, "{broken}");
        }
    }
}
