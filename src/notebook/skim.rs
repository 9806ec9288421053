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

use crate::parallel;

/// The keys whose values are cut, replaced by an empty list or object.
const CUT_KEYS: &[&[u8]] = &[b"outputs", b"attachments"];

/// Files smaller than this per core are skimmed on one thread: handing a part to a helper and
/// joining the parts cost about as much as skimming a tenth of a megabyte.
const BYTES_PER_THREAD: usize = 2 * 1024 * 1024;

/// `json` with the value of every [`CUT_KEYS`] key emptied, or `None` when nothing was cut or
/// the file is not well-formed enough to cut safely.
///
/// A big file is skimmed in parts on several cores. Each part after the first starts at a raw
/// newline, which JSON only allows outside strings, so the part finds the strings where they
/// are; what it cannot know is whether it starts inside a value being cut. The parts are
/// joined in order: the scan that ends one part continues into the next from where it stopped,
/// and when that place lies outside every cut the next part found, the two scans are in the
/// same state from there on and the next part's cuts are taken as they are. Otherwise (when
/// a part failed, which may come of a wrong guess of its start, or when the scans before it
/// found its start inside a string, as in a file with a raw newline in a string, which is not
/// JSON) that part is scanned again from where the scan before it stopped. So the cuts are
/// always those of one scan from the start.
pub(super) fn skimmed(json: &[u8]) -> Option<Vec<u8>> {
    let cuts = cuts(json, &part_starts(json))?;
    if cuts.is_empty() {
        return None;
    }
    let kept = json.len()
        - cuts
            .iter()
            .map(|cut| cut.close - cut.open - 1)
            .sum::<usize>();
    let mut out: Vec<u8> = Vec::with_capacity(kept);
    // `json[copied..]` is not in `out` yet.
    let mut copied = 0;
    for cut in &cuts {
        out.extend_from_slice(&json[copied..=cut.open]);
        out.push(json[cut.close]);
        copied = cut.close + 1;
    }
    out.extend_from_slice(&json[copied..]);
    Some(out)
}

/// Where each part of `json` starts: 0, then the first raw newline after each even share of
/// the file, one part per core that is worth one.
fn part_starts(json: &[u8]) -> Vec<usize> {
    let parts = parallel::cores().min(json.len() / BYTES_PER_THREAD).max(1);
    let mut starts = vec![0];
    for part in 1..parts {
        let share = json.len() / parts * part;
        match memchr(b'\n', &json[share..]) {
            Some(newline) if share + newline > *starts.last().unwrap_or(&0) => {
                starts.push(share + newline);
            }
            _ => {}
        }
    }
    starts
}

/// The cuts of one scan of `json` from its start, scanned in parts from `starts` at once (see
/// [`skimmed`]); `None` when the file cannot be cut safely. Whatever `starts` are, the cuts
/// are those of one scan from the start.
fn cuts(json: &[u8], starts: &[usize]) -> Option<Vec<Cut>> {
    let stops: Vec<usize> = starts.iter().skip(1).copied().chain([json.len()]).collect();
    let parts: Vec<(usize, usize)> = starts.iter().copied().zip(stops).collect();
    let scans = parallel::map_in_order(&parts, json.len(), |&(from, stop)| {
        scan(json, from, stop, starts)
    });
    let mut cuts = Vec::new();
    // The part starts that the scan from the start found inside a string.
    let mut in_strings = Vec::new();
    // Where the scan from the start has got to: outside every string and cut.
    let mut at = 0;
    for (&(from, stop), part) in parts.iter().zip(scans) {
        let part = match part {
            Some(part)
                if !in_strings.contains(&from)
                    && !part
                        .cuts
                        .iter()
                        .any(|cut| (cut.key..=cut.close).contains(&at)) =>
            {
                part
            }
            _ => scan(json, at, stop, starts)?,
        };
        cuts.extend(part.cuts.into_iter().filter(|cut| cut.key >= at));
        in_strings.extend(part.starts_in_strings);
        at = at.max(part.end);
    }
    Some(cuts)
}

/// A value to cut: the key's opening quote, and the brackets that open and close its value.
struct Cut {
    key: usize,
    open: usize,
    close: usize,
}

/// What one scan found: its cuts, and where it stopped.
struct Scan {
    cuts: Vec<Cut>,
    /// The first place at or past the stop that the scan reached outside every string and cut,
    /// or the end of the file.
    end: usize,
    /// The part starts it found inside a string: no place to start a scan.
    starts_in_strings: Vec<usize>,
}

/// Scans `json` from `from`, taken to be outside every string and cut value, until it passes
/// `stop`, noting which of the part `starts` lie inside a string; `None` when a string never
/// ends or a cut value's brackets do not pair up.
fn scan(json: &[u8], from: usize, stop: usize, starts: &[usize]) -> Option<Scan> {
    let mut strings = Strings {
        json,
        starts: &starts[starts.partition_point(|&start| start <= from)..],
        starts_inside: Vec::new(),
    };
    let mut cuts = Vec::new();
    let mut at = from;
    while at < stop {
        let Some(quote) = memchr(b'"', &json[at..]) else {
            at = json.len();
            break;
        };
        let start = at + quote;
        let end = strings.end(start)?;
        at = end;
        if !CUT_KEYS.contains(&&json[start + 1..end - 1]) {
            continue;
        }
        let colon = skip_whitespace(json, end);
        if json.get(colon) != Some(&b':') {
            continue;
        }
        let open = skip_whitespace(json, colon + 1);
        if !matches!(json.get(open), Some(b'[' | b'{')) {
            continue;
        }
        let close = strings.matching_bracket(open)?;
        cuts.push(Cut {
            key: start,
            open,
            close,
        });
        at = close + 1;
    }
    Some(Scan {
        cuts,
        end: at,
        starts_in_strings: strings.starts_inside,
    })
}

/// The strings of `json`, found in order, checked against the part starts.
struct Strings<'j> {
    json: &'j [u8],
    /// The part starts after the last string found.
    starts: &'j [usize],
    starts_inside: Vec<usize>,
}

impl Strings<'_> {
    /// The index just past the string that opens with the quote at `open`; `None` if it never
    /// closes.
    fn end(&mut self, open: usize) -> Option<usize> {
        let end = string_end(self.json, open)?;
        let passed = self.starts.partition_point(|&start| start <= open);
        let inside = passed + self.starts[passed..].partition_point(|&start| start < end);
        self.starts_inside
            .extend_from_slice(&self.starts[passed..inside]);
        self.starts = &self.starts[inside..];
        Some(end)
    }

    /// The index of the bracket that closes the one at `open`, strings skipped; `None` when
    /// the brackets do not pair up before the end.
    fn matching_bracket(&mut self, open: usize) -> Option<usize> {
        let json = self.json;
        let mut open_brackets: Vec<u8> = Vec::new();
        let mut at = open;
        while let Some(&byte) = json.get(at) {
            match byte {
                b'"' => {
                    at = self.end(at)?;
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

    /// The cuts as `(key, open, close)`, or `None`, for comparing.
    fn found(cuts: Option<Vec<Cut>>) -> Option<Vec<(usize, usize, usize)>> {
        cuts.map(|cuts| cuts.iter().map(|c| (c.key, c.open, c.close)).collect())
    }

    #[test]
    fn a_scan_in_parts_finds_what_one_scan_finds_wherever_the_parts_start() {
        // Parts that start inside a string, on a quote, on an escaped quote, inside a value
        // being cut, inside a key, or inside a string that never ends.
        let files = [
            r#"{"cells": [{"source": ["x = '\"outputs\": [1]'\n"], "outputs": [{"data": {"image/png": "iVB\"OR]}[", "text/plain": ["a\\", "]"]}}], "metadata": {"outputs": "no"}},
 {"cell_type": "markdown", "attachments": {"a.png": {"image/png": "xyz"}}, "source": "\"outputs\": []"},
 {"outputs": [], "source": ["[\"outputs\", {\"attachments\": 1}]"]}], "nbformat": 4}"#,
            r#"{"cells": [{"outputs": [{"a": "\"outputs\": [1, 2]"}, ["\\"]], "x": "outputs"}, {"outputs" : {"b": [1]}}]}"#,
            r#"{"cells": [{"outputs": [1]}, {"outputs": ["never ends]}"#,
            r#"{"cells": [{"outputs": [1]}, {"outputs": [{"a": 1]}]}"#,
        ];
        for json in files {
            let json = json.as_bytes();
            let whole = found(cuts(json, &[0]));
            for first in 1..json.len() {
                assert_eq!(found(cuts(json, &[0, first])), whole, "from {first}");
                for second in (first + 1..json.len()).step_by(7) {
                    assert_eq!(
                        found(cuts(json, &[0, first, second])),
                        whole,
                        "from {first} and {second}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_big_notebook_is_skimmed_as_one_scan_would() {
        let mut json = String::from("{\"cells\": [\n");
        for cell in 0..64 {
            let png = "iVBORw0KGgo".repeat(8192 + cell);
            json.push_str(&format!(
                " {{\"source\": [\"x = {cell}  # \\\"outputs\\\": [\\n\"],\n  \"outputs\": [{{\"data\": {{\"image/png\": \"{png}\"}}}}]}},\n"
            ));
        }
        json.push_str(" {\"source\": []}\n], \"nbformat\": 4}");
        assert!(json.len() > 2 * BYTES_PER_THREAD);
        let skimmed = skimmed(json.as_bytes()).unwrap();
        let one_scan = found(cuts(json.as_bytes(), &[0]));
        assert_eq!(
            found(cuts(json.as_bytes(), &part_starts(json.as_bytes()))),
            one_scan
        );
        let cut: serde_json::Value = serde_json::from_slice(&skimmed).unwrap();
        let original: serde_json::Value = serde_json::from_str(&json).unwrap();
        for (cut, original) in cut["cells"]
            .as_array()
            .unwrap()
            .iter()
            .zip(original["cells"].as_array().unwrap())
        {
            assert_eq!(cut["source"], original["source"]);
            assert!(cut["outputs"].as_array().is_none_or(Vec::is_empty));
        }
    }
}
