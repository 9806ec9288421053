//! Re-indenting a cell so it can be nested under a block (`if`, `def`, `try`) unchanged.
//!
//! A line is indented unless it starts inside a string token: the continuation lines of
//! triple-quoted strings, f-strings and t-strings spanning lines (their `{...}` parts included),
//! and single-quoted strings continued with a backslash. Adding spaces there would change the
//! string's value. Lines inside brackets or after a backslash outside strings are indented like
//! any other, which Python ignores. Blank lines are left as they are. Which block to wrap the
//! cell in is the renderer's choice.

use ruff_python_ast::token::{TokenKind, Tokens};
use ruff_python_parser::parse_module;
use ruff_text_size::Ranged;

use super::{line_starts, syntax_error, SyntaxError};

/// Prefixes every line of `source` with `indent`, except blank lines and lines that begin
/// inside a multi-line string literal, so that every string keeps its value.
///
/// Fails when `source` is not valid Python. A cell with no statements (only comments) still
/// needs a `pass` after it to form a valid block.
pub fn indent_block(source: &str, indent: &str) -> Result<String, SyntaxError> {
    super::check_limits(source)?;
    let parsed = parse_module(source).map_err(|err| syntax_error(source, &err))?;
    let strings = string_ranges(parsed.tokens());
    let starts = line_starts(source);
    let mut indented = String::with_capacity(source.len() + starts.len() * indent.len());
    let mut next_string = 0;
    for (index, &start) in starts.iter().enumerate() {
        let end = starts.get(index + 1).copied().unwrap_or(source.len());
        let line = source.get(start..end).unwrap_or_default();
        while strings
            .get(next_string)
            .is_some_and(|&(_, end)| end <= start)
        {
            next_string += 1;
        }
        let in_string = strings
            .get(next_string)
            .is_some_and(|&(string_start, _)| string_start < start);
        if !in_string && !line.trim().is_empty() {
            indented.push_str(indent);
        }
        indented.push_str(line);
    }
    Ok(indented)
}

/// Byte ranges of string tokens, each f-string or t-string counted whole (outermost only),
/// in source order.
fn string_ranges(tokens: &Tokens) -> Vec<(usize, usize)> {
    let mut ranges = Vec::new();
    let mut open_interpolated = Vec::new();
    for token in tokens.iter() {
        let range = token.range();
        match token.kind() {
            TokenKind::String if open_interpolated.is_empty() => {
                ranges.push((range.start().to_usize(), range.end().to_usize()));
            }
            TokenKind::FStringStart | TokenKind::TStringStart => {
                open_interpolated.push(range.start().to_usize());
            }
            TokenKind::FStringEnd | TokenKind::TStringEnd => {
                if let Some(start) = open_interpolated.pop() {
                    if open_interpolated.is_empty() {
                        ranges.push((start, range.end().to_usize()));
                    }
                }
            }
            _ => {}
        }
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;
    use ruff_python_ast::visitor::{self, Visitor};
    use ruff_python_ast::{Expr, FStringPart, InterpolatedStringElement};

    /// Every string value in a module: plain literals and the literal parts of f-strings.
    #[derive(Default)]
    struct Strings(Vec<String>);

    impl<'a> Visitor<'a> for Strings {
        fn visit_expr(&mut self, expr: &'a Expr) {
            match expr {
                Expr::StringLiteral(literal) => self.0.push(literal.value.to_str().to_string()),
                Expr::FString(fstring) => {
                    for part in &fstring.value {
                        match part {
                            FStringPart::Literal(literal) => self.0.push(literal.to_string()),
                            FStringPart::FString(fstring) => {
                                for element in &fstring.elements {
                                    if let InterpolatedStringElement::Literal(literal) = element {
                                        self.0.push(literal.value.to_string());
                                    }
                                }
                            }
                        }
                    }
                }
                _ => {}
            }
            visitor::walk_expr(self, expr);
        }
    }

    fn strings(source: &str) -> Vec<String> {
        let parsed = parse_module(source).unwrap_or_else(|err| panic!("{err}\n{source}"));
        let mut strings = Strings::default();
        strings.visit_body(&parsed.syntax().body);
        strings.0
    }

    /// Indents `source` under an `if`, checks it parses and every string kept its value.
    fn wrapped(source: &str) -> String {
        let indented = indent_block(source, "    ").unwrap();
        let wrapped = format!("if True:\n{indented}\n    pass\n");
        assert_eq!(strings(&wrapped), strings(source), "{wrapped}");
        indented
    }

    #[test]
    fn indent_block_keeps_triple_quoted_strings() {
        let source = concat!(
            "def predict(x):\n",
            "    \"\"\"Predict.\n\n    Longer text.\n    \"\"\"\n",
            "    return x\n\n",
            "QUERY = '''\nSELECT *\n  FROM penguins\n WHERE año = 2024\n'''\n",
        );
        let expected = concat!(
            "    def predict(x):\n",
            "        \"\"\"Predict.\n\n    Longer text.\n    \"\"\"\n",
            "        return x\n\n",
            "    QUERY = '''\nSELECT *\n  FROM penguins\n WHERE año = 2024\n'''\n",
        );
        assert_eq!(wrapped(source), expected);
    }

    #[test]
    fn indent_block_keeps_multiline_fstrings_and_continued_strings() {
        let cases = [
            (
                "msg = f\"\"\"\nrows: {len(\n    df)}\n  {f'''\nnested'''}\n\"\"\"\n",
                "    msg = f\"\"\"\nrows: {len(\n    df)}\n  {f'''\nnested'''}\n\"\"\"\n",
            ),
            ("s = 'one \\\ntwo'\n", "    s = 'one \\\ntwo'\n"),
            (
                "x = (1,\n2)\ny = 1 + \\\n  2\n",
                "    x = (1,\n    2)\n    y = 1 + \\\n      2\n",
            ),
            (
                "a = 1\r\n\r\n# comment\r\nb = '''x\r\ny'''",
                "    a = 1\r\n\r\n    # comment\r\n    b = '''x\r\ny'''",
            ),
            ("t = '''a''' + '''\nb'''\n", "    t = '''a''' + '''\nb'''\n"),
        ];
        for (source, expected) in cases {
            assert_eq!(wrapped(source), expected, "{source}");
        }
    }

    #[test]
    fn indent_block_rejects_invalid_python() {
        let err = indent_block("x = '''open\n", "  ").unwrap_err();
        assert_eq!(err.line, 1);
    }
}
