//! Where things are in a notebook, and the warnings the pipeline collects on the way.
//!
//! Every stage reports problems against a [`CellRef`] and a line inside that cell, so a person
//! can go straight to the notebook cell that needs attention. Errors use `anyhow`; warnings are
//! values that travel with the plan and end up on stderr, in `--json` and in the README.

use serde::Serialize;
use std::fmt;

/// A code cell of the notebook, as a person finds it: its 1-based position among all cells
/// (markdown included, as Jupyter shows them) and its nbformat 4.5 id when it has one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct CellRef {
    pub number: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

impl CellRef {
    pub fn new(number: usize, id: Option<String>) -> Self {
        Self { number, id }
    }
}

impl fmt::Display for CellRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.id {
            // An id is free text: a newline in it would start a line wherever a location is written.
            Some(id) => write!(
                f,
                "cell {} (id {})",
                self.number,
                crate::escape::one_line(id)
            ),
            None => write!(f, "cell {}", self.number),
        }
    }
}

/// Longest list of places that is written out whole; a longer one names its first
/// `PLACES_NAMED_OF_MANY` and counts the rest. A heuristic for readability: a notebook that
/// does the same thing in hundreds of cells (`%matplotlib inline` in each, the same import in
/// each) would otherwise give a requirements comment or a README line as long as a page,
/// and where something first happens is what a reader goes to.
const PLACES_NAMED_WHOLE: usize = 5;
const PLACES_NAMED_OF_MANY: usize = 3;

/// Places joined by `separator` for a sentence: `cell 2, cell 3` whole, or `cell 2, cell 3,
/// cell 5 and 597 more` for a list longer than [`PLACES_NAMED_WHOLE`], in the order given.
/// Places that hold commas themselves (`cell 2, line 5`) take `"; "`.
pub fn places<T: fmt::Display>(places: &[T], separator: &str) -> String {
    let named = if places.len() > PLACES_NAMED_WHOLE {
        PLACES_NAMED_OF_MANY
    } else {
        places.len()
    };
    let mut text = places[..named]
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(separator);
    if named < places.len() {
        text.push_str(&format!(" and {} more", places.len() - named));
    }
    text
}

/// A line inside a cell (1-based).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Location {
    pub cell: CellRef,
    pub line: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, line {}", self.cell, self.line)
    }
}

/// Something the user should know about but that does not stop the conversion.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Warning {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    pub message: String,
}

impl Warning {
    pub fn at(location: Location, message: impl Into<String>) -> Self {
        Self {
            location: Some(location),
            message: message.into(),
        }
    }

    pub fn general(message: impl Into<String>) -> Self {
        Self {
            location: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(location) => write!(f, "{location}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// The 1-based line and column (in characters) of byte `offset` in `source`.
pub fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = source.get(..offset).unwrap_or(source);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(count: usize) -> Vec<CellRef> {
        (1..=count).map(|n| CellRef::new(n, None)).collect()
    }

    #[test]
    fn a_short_list_of_places_is_written_out_whole() {
        assert_eq!(places(&cells(1), ", "), "cell 1");
        assert_eq!(
            places(&cells(PLACES_NAMED_WHOLE), ", "),
            "cell 1, cell 2, cell 3, cell 4, cell 5"
        );
    }

    #[test]
    fn a_long_list_of_places_names_the_first_and_counts_the_rest() {
        assert_eq!(places(&cells(6), ", "), "cell 1, cell 2, cell 3 and 3 more");
        assert_eq!(
            places(&cells(600), "; "),
            "cell 1; cell 2; cell 3 and 597 more"
        );
    }
}
