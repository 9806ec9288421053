//! The cells as they go into `app/notebook.py`: literal paths resolved through the runtime,
//! training cells guarded so that importing the module for serving does not retrain.

use std::collections::BTreeMap;

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
                *text = "pass  # nb2svc: `from __future__` import moved to the top of the module"
                    .to_string();
            }
        }
        cell.code = code.join("\n");
    }
    hoisted
}

/// Prepares each cell's code. `rewrites` maps a cell's index to `(start, end, replacement)`
/// byte ranges of its code; `wrap_training` puts training cells under `if _nb2svc_training:`.
pub fn planned_cells(
    cells: &[ExtractedCell],
    facts: &[ModuleFacts],
    reasons: &[Option<Reason>],
    rewrites: &BTreeMap<usize, Vec<(usize, usize, String)>>,
    wrap_training: bool,
) -> Vec<PlannedCell> {
    debug_assert_eq!(cells.len(), facts.len());
    cells
        .iter()
        .zip(reasons)
        .enumerate()
        .map(|(index, (cell, reason))| {
            let mut code = rewrite(
                &cell.code,
                rewrites.get(&index).map(Vec::as_slice).unwrap_or_default(),
            );
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

/// Applies non-overlapping replacements, from the last to the first so offsets stay valid.
fn rewrite(code: &str, replacements: &[(usize, usize, String)]) -> String {
    let mut sorted: Vec<&(usize, usize, String)> = replacements.iter().collect();
    sorted.sort_by_key(|(start, _, _)| std::cmp::Reverse(*start));
    let mut out = code.to_string();
    let mut limit = usize::MAX;
    for (start, end, replacement) in sorted {
        if *end > limit
            || *end > out.len()
            || start > end
            || !out.is_char_boundary(*start)
            || !out.is_char_boundary(*end)
        {
            continue;
        }
        out.replace_range(*start..*end, replacement);
        limit = *start;
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
    fn rewrites_ranges_back_to_front() {
        let code = "a = load('x')\nb = load('y')\n";
        let out = rewrite(code, &[(9, 12, "P('x')".into()), (23, 26, "P('y')".into())]);
        assert_eq!(out, "a = load(P('x'))\nb = load(P('y'))\n");
    }

    #[test]
    fn comment_only_code_has_no_statement() {
        assert!(!has_statement("# just a note\n\n"));
        assert!(has_statement("# note\nx = 1\n"));
    }
}
