//! Which cells train, so that a service built from a training notebook does not retrain.
//!
//! A cell trains when it is marked so, when it fits or saves a model, or when it reads a name
//! that only training cells define (an evaluation cell that uses the fitted `pipe` trains too:
//! without training, `pipe` would not exist). Training cells run when the notebook runs as a
//! script (the image build's step) and are skipped when the service imports the notebook.

use std::collections::{BTreeMap, BTreeSet};

use crate::diagnostics::CellRef;
use crate::extract::ExtractedCell;
use crate::python::{ModuleFacts, PathAccess};

/// Why a cell counts as training, for the README and the generated module's comments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    Marked,
    Fits,
    SavesArtifact,
    Uses { name: String, defined_in: CellRef },
}

impl Reason {
    pub fn describe(&self) -> String {
        match self {
            Reason::Marked => "marked `train`".into(),
            Reason::Fits => "fits a model".into(),
            Reason::SavesArtifact => "saves an artifact".into(),
            Reason::Uses { name, defined_in } => {
                format!("uses `{name}`, which training in {defined_in} defines")
            }
        }
    }
}

/// The outcome: for each cell (same order as given) the reason it trains, if it does, and for
/// each name the cell that last defined it and whether that cell trains.
pub struct Training {
    pub reasons: Vec<Option<Reason>>,
    last_binding: BTreeMap<String, (CellRef, bool)>,
}

impl Training {
    /// Names among `needed` whose final definition comes from training: if any, the service
    /// cannot skip training. Each comes with the training cell that defines it.
    pub fn needs_training(&self, needed: &BTreeSet<String>) -> Vec<(String, CellRef)> {
        needed
            .iter()
            .filter_map(|name| match self.last_binding.get(name) {
                Some((cell, true)) => Some((name.clone(), cell.clone())),
                _ => None,
            })
            .collect()
    }

    pub fn any(&self) -> bool {
        self.reasons.iter().any(Option::is_some)
    }
}

/// Decides which cells train, from each cell and what its code says (`facts`, same order).
pub fn training_cells(cells: &[ExtractedCell], facts: &[ModuleFacts]) -> Training {
    let mut last_binding: BTreeMap<String, (CellRef, bool)> = BTreeMap::new();
    let mut reasons = Vec::with_capacity(cells.len());
    for (cell, facts) in cells.iter().zip(facts) {
        let saves_artifact = facts
            .path_calls
            .iter()
            .any(|c| c.access == PathAccess::Save);
        let reason = if cell.directives.serve {
            None
        } else if cell.directives.train {
            Some(Reason::Marked)
        } else if facts.trains {
            Some(Reason::Fits)
        } else if saves_artifact {
            Some(Reason::SavesArtifact)
        } else {
            facts
                .loaded_names
                .iter()
                .find_map(|name| match last_binding.get(name) {
                    Some((defined_in, true)) => Some(Reason::Uses {
                        name: name.clone(),
                        defined_in: defined_in.clone(),
                    }),
                    _ => None,
                })
        };
        let trains = reason.is_some();
        // `pipe.fit(X, y)` binds nothing, yet `pipe` is only usable after it: what a training
        // cell fits counts as defined by training.
        let fitted = facts.fitted_names.iter().filter(|_| trains);
        for name in facts.bound_names.iter().chain(fitted) {
            // A name bound again (an import every cell repeats) keeps its key.
            match last_binding.get_mut(name) {
                Some(binding) => *binding = (cell.cell.clone(), trains),
                None => {
                    last_binding.insert(name.clone(), (cell.cell.clone(), trains));
                }
            }
        }
        reasons.push(reason);
    }
    Training {
        reasons,
        last_binding,
    }
}
