//! What the notebook's literal paths become: artifacts to load, data files to copy, and the
//! rewrites that resolve each path through the runtime instead of the working directory.

use std::collections::{BTreeMap, BTreeSet};

use crate::diagnostics::{Location, Warning};
use crate::extract::ExtractedCell;
use crate::python::{ModuleFacts, PathAccess, Serializer};
use crate::workspace::SourceFiles;

use super::paths::{self, Mapped};
use super::{Artifact, DataFile, PathUse};

/// What the literal paths of the notebook become.
#[derive(Default)]
pub(super) struct PathPlan {
    pub(super) artifacts: Vec<Artifact>,
    pub(super) data_files: Vec<DataFile>,
    pub(super) uses: Vec<PathUse>,
    /// Data files read but not found next to the notebook (paths under `data/`).
    pub(super) missing_data: Vec<String>,
    /// Per cell (by index), the literal ranges to replace and their replacement text.
    pub(super) rewrites: BTreeMap<usize, Vec<(usize, usize, String)>>,
}

fn serializer_name(serializer: Option<&Serializer>) -> Option<&'static str> {
    match serializer? {
        Serializer::Joblib => Some("joblib"),
        Serializer::Pickle => Some("pickle"),
        Serializer::Pandas => Some("pandas"),
        Serializer::Keras => Some("keras"),
        Serializer::Torch => Some("torch"),
        Serializer::Numpy | Serializer::Other => None,
    }
}

pub(super) fn plan_paths(
    cells: &[ExtractedCell],
    facts: &[ModuleFacts],
    files: &dyn SourceFiles,
    written_data: &[(String, String)],
    warnings: &mut Vec<Warning>,
) -> PathPlan {
    let mut plan = PathPlan::default();
    let mut written: BTreeSet<String> = written_data.iter().map(|(p, _)| p.clone()).collect();
    let mut artifact_index: BTreeMap<String, usize> = BTreeMap::new();
    let mut data_seen = BTreeSet::new();
    for (index, (cell, cell_facts)) in cells.iter().zip(facts).enumerate() {
        for call in &cell_facts.path_calls {
            let location = Location {
                cell: cell.cell.clone(),
                line: call.line + cell.line_offset,
            };
            let (relative, env) = match paths::map(&call.path) {
                Mapped::Absolute => {
                    warnings.push(Warning::at(location, format!("`{}` is an absolute path: kept as written, so it must exist inside the container", call.path)));
                    continue;
                }
                Mapped::Data {
                    relative,
                    env,
                    escaped_parent,
                } => {
                    if escaped_parent {
                        warnings.push(Warning::at(location.clone(), format!("`{}` points outside the notebook's folder: the service keeps it at data/{relative}", call.path)));
                    }
                    (relative, env)
                }
            };
            if relative.is_empty() {
                continue;
            }
            let writes = matches!(call.access, PathAccess::Save | PathAccess::Write);
            let replacement = format!(
                "_nb2svc.data_path({}, {}{})",
                serde_json::to_string(&relative).unwrap_or_default(),
                serde_json::to_string(&env).unwrap_or_default(),
                if writes { ", write=True" } else { "" }
            );
            plan.rewrites.entry(index).or_default().push((
                call.literal_start,
                call.literal_end,
                replacement,
            ));
            plan.uses.push(PathUse {
                literal: call.path.clone(),
                path: relative.clone(),
                env: env.clone(),
                location: location.clone(),
            });
            let serializer = serializer_name(call.serializer.as_ref());
            match (call.access, serializer) {
                (PathAccess::Save, Some(serializer)) => {
                    written.insert(relative.clone());
                    let at = *artifact_index.entry(relative.clone()).or_insert_with(|| {
                        plan.artifacts.push(Artifact {
                            name: String::new(),
                            path: relative.clone(),
                            env: env.clone(),
                            serializer,
                            saved_at: None,
                            shipped_from: None,
                            looks_like_model: false,
                        });
                        plan.artifacts.len() - 1
                    });
                    let artifact = &mut plan.artifacts[at];
                    artifact.saved_at.get_or_insert(location);
                    artifact.shipped_from = None;
                }
                (PathAccess::Load, Some(serializer)) => {
                    if artifact_index.contains_key(&relative) {
                        continue;
                    }
                    let shipped = files.exists(&call.path).then(|| call.path.clone());
                    if shipped.is_none() && !written.contains(&relative) {
                        warnings.push(Warning::at(location, format!("loads `{}`, which is neither next to the notebook nor saved by it: put it at data/{relative} or set {env}", call.path)));
                    }
                    artifact_index.insert(relative.clone(), plan.artifacts.len());
                    plan.artifacts.push(Artifact {
                        name: String::new(),
                        path: relative,
                        env,
                        serializer,
                        saved_at: None,
                        shipped_from: shipped,
                        looks_like_model: false,
                    });
                }
                (PathAccess::Save | PathAccess::Write, _) => {
                    written.insert(relative);
                }
                (PathAccess::Read | PathAccess::Load, _) => {
                    if written.contains(&relative) || !data_seen.insert(relative.clone()) {
                        continue;
                    }
                    if files.exists(&call.path) {
                        plan.data_files.push(DataFile {
                            source: call.path.clone(),
                            path: relative,
                            env,
                        });
                    } else {
                        warnings.push(Warning::at(location, format!("reads `{}`, which is not next to the notebook: put it at data/{relative} or set {env}", call.path)));
                        plan.missing_data.push(relative);
                    }
                }
            }
        }
    }
    name_artifacts(&mut plan.artifacts);
    plan
}

/// Gives each artifact a unique route-friendly name from its file name.
fn name_artifacts(artifacts: &mut [Artifact]) {
    let mut used = BTreeSet::new();
    for artifact in artifacts {
        let base = paths::artifact_name(&artifact.path);
        let mut name = base.clone();
        let mut n = 2;
        while !used.insert(name.clone()) {
            name = format!("{base}_{n}");
            n += 1;
        }
        artifact.looks_like_model = artifact.serializer != "pandas"
            && !name
                .split('_')
                .any(|word| PREPROCESSOR_WORDS.contains(&word));
        artifact.name = name;
    }
}

/// Artifacts whose names say they prepare inputs rather than predict.
const PREPROCESSOR_WORDS: &[&str] = &[
    "encoder",
    "encoders",
    "scaler",
    "scalers",
    "imputer",
    "vectorizer",
    "transformer",
    "tokenizer",
    "pca",
    "label",
    "labels",
    "column",
    "columns",
    "order",
    "feature",
    "features",
    "metrics",
    "report",
    "stats",
    "schema",
    "config",
    "vocab",
    "preprocess",
    "preprocessor",
    "mapping",
    "map",
    "le",
    "ohe",
];

/// The artifact `POST /predict` answers with: the first that looks like a model. When none
/// does (only an encoder or a metrics table), the service lists them at `/models` and offers no
/// prediction route; the runtime still checks each loaded object for `predict`.
pub(super) fn default_model(artifacts: &[Artifact]) -> Option<String> {
    artifacts
        .iter()
        .find(|a| a.looks_like_model)
        .map(|a| a.name.clone())
}
