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
