//! The cells as they go into `app/notebook.py`: the notebook's own code, unchanged but for
//! notebook syntax, with training cells guarded so that importing the module for serving does
//! not retrain.

use crate::extract::ExtractedCell;
use crate::python::{indent_block, ModuleFacts};

use super::training::Reason;
use super::PlannedCell;

/// `from __future__` imports must open a module; they move from their cell to the top of
/// `notebook.py`, and a `pass` keeps the cell's line numbering. Returns the hoisted lines.
pub fn hoist_future_imports(cells: &mut [ExtractedCell], facts: &[ModuleFacts]) -> Vec<String> {
    let mut hoisted: Vec<String> = Vec::new();
    for (cell, cell_facts) in cells.iter_mut().zip(facts) {
        let lines: Vec<usize> = cell_facts
            .imports
            .iter()
            .filter(|i| i.module == "__future__")
            .map(|i| i.line)
            .collect();
        if lines.is_empty() {
            continue;
        }
        let mut code: Vec<String> = cell.code.split('\n').map(str::to_string).collect();
        for line in lines {
            let Some(text) = code.get_mut(line - 1) else {
                continue;
            };
            // Only a complete statement at the left margin can move on its own.
            if text.starts_with("from __future__") && !text.trim_end().ends_with(['(', '\\', ',']) {
                let statement = text.trim_end().to_string();
                if !hoisted.contains(&statement) {
                    hoisted.push(statement);
                }
                *text = format!(
                    "{}`from __future__` import moved to the top of the module",
                    crate::extract::PLACEHOLDER_PREFIX
                );
            }
        }
        cell.code = code.join("\n");
    }
    hoisted
}

/// Prepares each cell's code; `wrap_training` puts training cells under `if _nb2svc_training:`.
pub fn planned_cells(
    cells: &[ExtractedCell],
    reasons: &[Option<Reason>],
    wrap_training: bool,
) -> Vec<PlannedCell> {
    cells
        .iter()
        .zip(reasons)
        .map(|(cell, reason)| {
            let mut code = cell.code.clone();
            let wrapped = wrap_training && reason.is_some();
            if wrapped {
                // The cell was valid Python a moment ago, so indenting it keeps it valid.
                code = indent_block(&code, "    ").unwrap_or(code);
                if !has_statement(&code) {
                    code.push_str("    pass\n");
                }
            }
            PlannedCell {
                cell: cell.cell.clone(),
                code,
                line_offset: cell.line_offset,
                training: reason.as_ref().map(Reason::describe),
                wrapped,
            }
        })
        .collect()
}

/// Replaces each `__name__ == "__main__"` test (byte ranges of `code`) with `True`: the
/// notebook's kernel ran the cell as `__main__`, so its guarded code ran. A test written over
/// several lines is left as it is, so line numbers still map.
pub fn main_guards_true(code: &str, guards: &[(usize, usize)]) -> String {
    let mut out = code.to_string();
    for &(start, end) in guards.iter().rev() {
        let fits = end <= out.len() && out.is_char_boundary(start) && out.is_char_boundary(end);
        if fits && !out[start..end].contains('\n') {
            out.replace_range(start..end, "True");
        }
    }
    out
}

/// `code` as comments, one line for one line so that line numbers still map to the notebook;
/// the first line says why. Lines end where Python's tokenizer ends them (`\n`, `\r\n` or a
/// lone `\r`), so no part of a line escapes its `#`.
pub fn commented_out(code: &str, why: &str) -> String {
    let starts = crate::python::line_starts(code);
    let mut out = String::with_capacity(code.len() + 64);
    for (index, &start) in starts.iter().enumerate() {
        let end = starts.get(index + 1).copied().unwrap_or(code.len());
        let line = &code[start..end];
        let content = line.trim_end_matches(['\n', '\r']);
        let content = crate::escape::python_commented_code(content);
        if index == 0 {
            out.push_str(&format!(
                "# nb2svc: left out ({}): {content}",
                crate::escape::python_comment(why)
            ));
        } else if !content.is_empty() {
            out.push_str(&format!("# {content}"));
        }
        out.push_str(&line[line.trim_end_matches(['\n', '\r']).len()..]);
    }
    out
}

/// Whether the code has a line that is neither blank nor a comment.
fn has_statement(code: &str) -> bool {
    code.lines().any(|line| {
        let trimmed = line.trim();
        !trimmed.is_empty() && !trimmed.starts_with('#')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commented_out_code_keeps_its_lines_and_parses() {
        let code = "print x\nif y:\n    z = '''a\nb'''\n";
        let out = commented_out(code, "not valid Python");
        assert_eq!(out.split('\n').count(), code.split('\n').count());
        assert!(out.starts_with("# nb2svc: left out (not valid Python): print x\n# if y:"));
        assert!(ruff_python_parser::parse_module(&out).is_ok());
    }

    #[test]
    fn a_lone_carriage_return_cannot_end_the_comment() {
        // Python ends a line at a lone `\r`: without its own `#`, `import os` would run.
        let out = commented_out("print x\rimport os\0", "not valid Python");
        assert_eq!(
            out,
            "# nb2svc: left out (not valid Python): print x\r# import os\\x00"
        );
        assert!(ruff_python_parser::parse_module(&out)
            .unwrap()
            .into_syntax()
            .body
            .is_empty());
    }

    #[test]
    fn main_guards_become_true() {
        let code = "if __name__ == '__main__':\n    train()\n";
        let out = main_guards_true(code, &[(3, 25)]);
        assert_eq!(out, "if True:\n    train()\n");
    }

    #[test]
    fn comment_only_code_has_no_statement() {
        assert!(!has_statement("# just a note\n\n"));
        assert!(has_statement("# note\nx = 1\n"));
    }
}
