//! How deep code may nest, checked by a linear scan before any parser or visitor sees it.
//!
//! ruff's parser, the syntax tree's `Drop` and our visitors all recurse once per level of
//! nesting, so a cell of 100,000 nested `-` or parentheses, or a 200,000-term sum (a tree
//! nested one level per `+`), would overflow the stack and abort the process. This scan
//! recurses nowhere: it bounds from above how deep the syntax tree of each expression can be
//! (every operator, keyword like `not` or `lambda`, `.`, call or subscript may add a level;
//! brackets add one each) and refuses code past limits no looser than CPython's own, so that
//! what nb2svc accepts also compiles in the service. The limits are in the README.

/// Open brackets at once: CPython's tokenizer stops at 200 ("too many nested parentheses").
pub const MAX_BRACKETS: usize = 200;
/// Indented blocks inside each other: CPython refuses the 100th ("too many levels of indentation").
pub const MAX_INDENT: usize = 99;
/// Upper bound of an expression's depth (operators, calls, attributes, brackets) in one
/// expression: CPython 3.11 stops compiling at about 3,000 ("maximum recursion depth exceeded
/// during compilation"); this is a third of that, as the count is an upper bound.
pub const MAX_EXPRESSION_DEPTH: usize = 1000;
/// CPython's parser gives up ("MemoryError") past 6,000 levels of its own recursion, and each
/// open bracket costs it about 29 of them, each unary operator one: this bounds
/// `29 × brackets + the rest of the depth` (200 brackets alone pass, like in CPython).
pub const MAX_PARSER_COST: usize = 5800;
const BRACKET_COST: usize = 29;

/// Code past one of the limits: the 1-based line where the limit was crossed, and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooDeep {
    pub line: usize,
    pub message: String,
}

/// Checks `source` (Python, IPython escapes allowed) against the nesting limits.
pub fn check(source: &str) -> Result<(), TooDeep> {
    let mut scan = Scan::default();
    scan.run(source.as_bytes())
}

/// The scanner's state; it only looks at ASCII bytes, which never occur inside a UTF-8
/// multi-byte character.
#[derive(Default)]
struct Scan {
    line: usize,
    /// Per open bracket (the first entry is the statement level): operators since the start
    /// of the current element there.
    levels: Vec<usize>,
    /// Sum of `levels`, plus one per open bracket: the bound of the current depth.
    depth: usize,
    indents: Vec<usize>,
}

impl Scan {
    fn run(&mut self, bytes: &[u8]) -> Result<(), TooDeep> {
        self.line = 1;
        self.levels = vec![0];
        let mut i = 0;
        let mut line_start = true;
        while i < bytes.len() {
            if line_start && self.levels.len() == 1 {
                i = self.indentation(bytes, i)?;
                line_start = false;
                continue;
            }
            let byte = bytes[i];
            match byte {
                b'\n' => {
                    self.line += 1;
                    line_start = true;
                    if self.levels.len() == 1 {
                        self.reset();
                    }
                    i += 1;
                }
                b'\\' if bytes.get(i + 1) == Some(&b'\n') => {
                    self.line += 1;
                    i += 2;
                }
                b'#' => {
                    while i < bytes.len() && bytes[i] != b'\n' {
                        i += 1;
                    }
                }
                b'\'' | b'"' => i = self.string(bytes, i, false)?,
                b'(' | b'[' | b'{' => {
                    self.levels.push(0);
                    self.depth += 1;
                    if self.levels.len() - 1 > MAX_BRACKETS {
                        return Err(self
                            .too_deep(format!("more than {MAX_BRACKETS} brackets open at once")));
                    }
                    self.check_depth()?;
                    i += 1;
                }
                b')' | b']' | b'}' => {
                    if self.levels.len() > 1 {
                        let count = self.levels.pop().unwrap_or(0);
                        self.depth -= count + 1;
                    }
                    // The bracketed atom, call or subscript is one level of what encloses it.
                    self.operator()?;
                    i += 1;
                }
                b',' | b';' => {
                    self.reset();
                    i += 1;
                }
                b'=' => {
                    if bytes.get(i + 1) == Some(&b'=') {
                        self.operator()?;
                        i += 2;
                    } else {
                        self.reset();
                        i += 1;
                    }
                }
                b'<' | b'>' | b'!' if bytes.get(i + 1) == Some(&b'=') => {
                    self.operator()?;
                    i += 2;
                }
                b'+' | b'-' | b'*' | b'/' | b'%' | b'@' | b'&' | b'|' | b'^' | b'~' | b'<'
                | b'>' | b'.' => {
                    self.operator()?;
                    i += 1;
                }
                b'0'..=b'9' => i = number_end(bytes, i),
                b if b == b'_' || b.is_ascii_alphabetic() || b >= 0x80 => {
                    let end = word_end(bytes, i);
                    let word = &bytes[i..end];
                    if matches!(bytes.get(end), Some(b'\'' | b'"')) && is_string_prefix(word) {
                        let formatted = word.iter().any(|c| matches!(c, b'f' | b'F' | b't' | b'T'));
                        i = self.string(bytes, end, formatted)?;
                    } else {
                        if matches!(
                            word,
                            b"not" | b"lambda" | b"await" | b"if" | b"else" | b"yield"
                        ) {
                            self.operator()?;
                        }
                        i = end;
                    }
                }
                _ => i += 1,
            }
        }
        Ok(())
    }

    /// Reads the indentation of a logical line starting at `i` and returns where its code starts.
    fn indentation(&mut self, bytes: &[u8], mut i: usize) -> Result<usize, TooDeep> {
        let mut width = 0;
        while let Some(&byte) = bytes.get(i) {
            match byte {
                b' ' => width += 1,
                b'\t' => width = (width / 8 + 1) * 8,
                b'\x0c' => width = 0,
                _ => break,
            }
            i += 1;
        }
        if matches!(bytes.get(i), None | Some(b'\n' | b'\r' | b'#')) {
            return Ok(i); // blank lines and comments do not indent
        }
        while self.indents.last().is_some_and(|&top| top > width) {
            self.indents.pop();
        }
        if width > self.indents.last().copied().unwrap_or(0) {
            self.indents.push(width);
            if self.indents.len() > MAX_INDENT {
                return Err(self.too_deep(format!(
                    "more than {MAX_INDENT} indented blocks inside each other"
                )));
            }
        }
        Ok(i)
    }

    /// Skips the string whose quote is at `start`; returns the index after its closing quote.
    /// In f-strings (and t-strings) the `{...}` parts are expressions: their brackets and
    /// operators count on top of the depth where the string stands.
    fn string(&mut self, bytes: &[u8], start: usize, formatted: bool) -> Result<usize, TooDeep> {
        let quote = bytes[start];
        let triple = bytes.get(start + 1) == Some(&quote) && bytes.get(start + 2) == Some(&quote);
        let mut i = start + if triple { 3 } else { 1 };
        let outer = self.depth;
        let mut braces = 0usize;
        let mut inner = 0usize;
        let mut result = Ok(());
        while i < bytes.len() {
            let byte = bytes[i];
            if byte == b'\\' {
                if bytes.get(i + 1) == Some(&b'\n') {
                    self.line += 1;
                }
                i += 2;
                continue;
            }
            if byte == quote
                && (!triple
                    || (bytes.get(i + 1) == Some(&quote) && bytes.get(i + 2) == Some(&quote)))
            {
                i += if triple { 3 } else { 1 };
                break;
            }
            if byte == b'\n' {
                if !triple {
                    break; // unterminated: the parser reports it
                }
                self.line += 1;
            } else if formatted {
                match byte {
                    b'{' if braces == 0 && bytes.get(i + 1) == Some(&b'{') => i += 1,
                    b'{' => {
                        braces += 1;
                        inner += 1;
                    }
                    b'}' if braces > 0 => {
                        braces -= 1;
                        inner = inner.saturating_sub(1);
                    }
                    b'(' | b'[' if braces > 0 => inner += 1,
                    b')' | b']' if braces > 0 => inner = inner.saturating_sub(1),
                    b'+' | b'-' | b'*' | b'/' | b'%' | b'@' | b'&' | b'|' | b'^' | b'~' | b'.'
                    | b'<' | b'>'
                        if braces > 0 =>
                    {
                        inner += 1
                    }
                    _ => {}
                }
                if braces == 0 {
                    inner = 0;
                }
                self.depth = outer + inner;
                if result.is_ok() {
                    result = self.check_depth();
                }
            }
            i += 1;
        }
        self.depth = outer;
        result.map(|()| i)
    }

    /// One more possible level in the current expression.
    fn operator(&mut self) -> Result<(), TooDeep> {
        if let Some(count) = self.levels.last_mut() {
            *count += 1;
        }
        self.depth += 1;
        self.check_depth()
    }

    /// A new element (after `,`, `;`, `=` or a statement's end) starts at the current level.
    fn reset(&mut self) {
        if let Some(count) = self.levels.last_mut() {
            self.depth -= *count;
            *count = 0;
        }
    }

    fn check_depth(&self) -> Result<(), TooDeep> {
        let brackets = self.levels.len().saturating_sub(1);
        if self.depth > MAX_EXPRESSION_DEPTH
            || self.depth + (BRACKET_COST - 1) * brackets > MAX_PARSER_COST
        {
            return Err(self.too_deep(format!(
                "an expression nests deeper than {MAX_EXPRESSION_DEPTH} levels of operators, calls, attributes and brackets (fewer inside many brackets)"
            )));
        }
        Ok(())
    }

    fn too_deep(&self, what: String) -> TooDeep {
        TooDeep {
            line: self.line,
            message: format!(
                "{what}: nb2svc's limit, which keeps within what CPython compiles; split it into smaller statements"
            ),
        }
    }
}

fn word_end(bytes: &[u8], mut i: usize) -> usize {
    while bytes
        .get(i)
        .is_some_and(|&b| b == b'_' || b.is_ascii_alphanumeric() || b >= 0x80)
    {
        i += 1;
    }
    i
}

/// The end of a number literal (`1.5e-3`, `0x_ff`, `2j`), whose `.` and exponent sign are
/// not operators.
fn number_end(bytes: &[u8], mut i: usize) -> usize {
    while let Some(&b) = bytes.get(i) {
        let exponent_sign = matches!(b, b'+' | b'-')
            && matches!(bytes.get(i.wrapping_sub(1)), Some(b'e' | b'E'))
            && !bytes[..i]
                .iter()
                .rev()
                .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_' || **c == b'.')
                .any(|c| matches!(c, b'x' | b'X'));
        if b == b'_' || b == b'.' || b.is_ascii_alphanumeric() || exponent_sign {
            i += 1;
        } else {
            break;
        }
    }
    i
}

fn is_string_prefix(word: &[u8]) -> bool {
    word.len() <= 2
        && word
            .iter()
            .all(|c| matches!(c.to_ascii_lowercase(), b'r' | b'b' | b'u' | b'f' | b't'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line_of(source: &str) -> Option<usize> {
        check(source).err().map(|e| e.line)
    }

    #[test]
    fn ordinary_code_passes() {
        let code = "import numpy as np\nx = np.arange(10).reshape(2, 5).T.mean(axis=0) + 1.5e-3\n\
            def f(a, b=-1):\n    if a:\n        return [i ** 2 for i in range(a) if not i % 2]\n\
            s = f\"{x!r:>10} {{literal}} {d['k'] + 1}\"\n# ((((((((\nt = '(((((' + \"\"\"\n)))\n\"\"\"\n";
        assert_eq!(check(code), Ok(()));
        let long_list = format!("x = [{}]\n", vec!["-1.5"; 100_000].join(", "));
        assert_eq!(check(&long_list), Ok(()));
        let sum = format!("x = 1{}\n", "+1".repeat(900));
        assert_eq!(check(&sum), Ok(()));
        assert_eq!(
            check(&format!("x = {}1{}", "(".repeat(200), ")".repeat(200))),
            Ok(())
        );
    }

    #[test]
    fn hostile_nesting_is_refused_at_its_line() {
        assert_eq!(
            line_of(&format!("y = 2\nx = {}1\n", "-".repeat(100_000))),
            Some(2)
        );
        assert_eq!(
            line_of(&format!("x = 1{}\n", "+1".repeat(200_000))),
            Some(1)
        );
        assert_eq!(line_of(&format!("x = {}1", "(".repeat(100_000))), Some(1));
        assert_eq!(line_of(&format!("x = a{}", ".b".repeat(5000))), Some(1));
        assert_eq!(line_of(&format!("x = {}1", "not ".repeat(5000))), Some(1));
        assert_eq!(
            line_of(&format!("x = {}1", "lambda: ".repeat(5000))),
            Some(1)
        );
        assert_eq!(line_of(&format!("x = f(){}", "()".repeat(5000))), Some(1));
        assert_eq!(
            line_of(&format!("x = f\"{{{}1}}\"", "-".repeat(5000))),
            Some(1)
        );
        let blocks: String = (0..150)
            .map(|i| format!("{}if 1:\n", " ".repeat(i)))
            .collect();
        assert_eq!(line_of(&blocks), Some(101)); // where CPython stops too
        assert!(check(&"(".repeat(201))
            .unwrap_err()
            .message
            .contains("brackets"));
        // Where CPython's parser runs out of stack: 199 brackets and 215 unary minus.
        let mixed = format!(
            "x = {}{}1{}",
            "[".repeat(199),
            "-".repeat(215),
            "]".repeat(199)
        );
        assert_eq!(line_of(&mixed), Some(1));
        let lambdas = format!("x = {}1", "lambda: ".repeat(990));
        assert_eq!(check(&lambdas), Ok(()));
    }
}
