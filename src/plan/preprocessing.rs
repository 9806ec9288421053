//! What the notebook does to its data before fitting a model, located and described for the
//! README and the report, and the warnings where a prediction route visibly cannot replay it.
//!
//! The facts come from `python::preprocessing`, already restricted to the statements the
//! service runs; this only places them in the notebook and words them. The runtime is the
//! judge of what a route really replays (`GET /models`); this is what nb2svc can say before
//! anything trains.

use crate::diagnostics::{Location, Warning};
use crate::extract::ExtractedCell;
use crate::python::ModuleFacts;

use super::{shortened, PreprocessingStep};

/// How many characters of a receiver or an argument a warning quotes.
const QUOTED: usize = 40;

/// Every preprocessing step of the cells, in notebook order, and a warning per model fit
/// whose input visibly cannot be traced to the data. `facts` are the kept facts, and
/// `cells` the code they were read from.
pub(super) fn steps(
    cells: &[ExtractedCell],
    facts: &[ModuleFacts],
) -> (Vec<PreprocessingStep>, Vec<Warning>) {
    let mut steps = Vec::new();
    let mut warnings = Vec::new();
    for (cell, cell_facts) in cells.iter().zip(facts) {
        let lines: Vec<&str> = cell.code.split('\n').collect();
        let at = |line: usize| Location {
            cell: cell.cell.clone(),
            line: line + cell.line_offset,
        };
        for found in &cell_facts.preprocessing {
            let text = lines
                .get(found.line.saturating_sub(1))
                .map_or("", |l| l.trim());
            steps.push(PreprocessingStep {
                location: at(found.line),
                text: shortened(text),
                description: found.step.describe(),
            });
        }
        for fit in &cell_facts.opaque_fits {
            warnings.push(Warning::at(
                at(fit.line),
                format!(
                    "`{}.fit` is given `{}`, {}: the route for that model will take the model's own features, not the notebook's raw columns (after training, `GET /models` gives the reason)",
                    quoted(&fit.receiver),
                    quoted(&fit.argument),
                    fit.why.describe()
                ),
            ));
        }
    }
    (steps, warnings)
}

/// Source text for a code span in a message: its first line, no backtick, shortened.
fn quoted(source: &str) -> String {
    let first = source.lines().next().unwrap_or_default().trim();
    let first = first.replace('`', "'");
    let mut shown: String = first.chars().take(QUOTED).collect();
    if first.chars().count() > QUOTED || source.trim().lines().nth(1).is_some() {
        shown.push_str("...");
    }
    shown
}

#[cfg(test)]
mod tests {
    #[test]
    fn quotes_are_one_short_line_without_backticks() {
        assert_eq!(super::quoted("np.array(`x`)"), "np.array('x')");
        assert_eq!(super::quoted("np.hstack([\n    a, b])"), "np.hstack([...");
        assert_eq!(
            super::quoted(&"a".repeat(50)),
            format!("{}...", "a".repeat(40))
        );
    }
}
