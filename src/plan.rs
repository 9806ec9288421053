//! The service to build: endpoints, artifacts, data files, modules, requirements and when the
//! notebook trains, decided once from what the notebook says.
//!
//! Planning takes values (the extracted cells, the requirements read from disk, the options)
//! and asks about the notebook's folder only through [`SourceFiles`]; it writes nothing.
//! Rendering turns the plan into files.

pub mod endpoints;
pub mod module;
pub mod paths;
pub mod training;

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Result};
use serde::Serialize;

use crate::diagnostics::{CellRef, Location, Warning};
use crate::extract::{Dropped, ExtractedCell, Extraction};
use crate::python::{self, ModuleFacts, PathAccess, Serializer};
use crate::requirements::{self, Merged, NotebookNeeds, RequirementsSet};
use crate::workspace::SourceFiles;
pub use endpoints::Endpoint;
use paths::Mapped;

/// Packages every generated service needs to serve.
pub const SERVING_PACKAGES: &[&str] = &["fastapi", "uvicorn[standard]"];

/// When the notebook's training code runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum TrainAt {
    /// During the image build: the image carries the artifacts and starts fast.
    Build,
    /// Once when the service starts.
    Start,
}

/// What the user chose, already checked.
#[derive(Debug, Clone)]
pub struct Options {
    pub service_name: String,
    pub host_port: u16,
    pub container_port: u16,
    pub base_image: String,
    pub endpoints: Vec<String>,
    pub train_at: TrainAt,
    pub strict: bool,
}

/// A code cell as it goes into `app/notebook.py`.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedCell {
    pub cell: CellRef,
    /// Plain Python with literal paths resolved through the runtime.
    pub code: String,
    pub line_offset: usize,
    /// Why the cell counts as training, if it does.
    pub training: Option<String>,
    /// The code is indented under `if _nb2svc_training:`.
    pub wrapped: bool,
}

/// An object the notebook saves or loads, served by the service.
#[derive(Debug, Clone, Serialize)]
pub struct Artifact {
    pub name: String,
    /// Path under `data/`.
    pub path: String,
    pub env: String,
    pub serializer: &'static str,
    /// Where the notebook saves it, when it does.
    pub saved_at: Option<Location>,
    /// Copied from the notebook's folder (relative path there) when the notebook only loads it.
    pub shipped_from: Option<String>,
    /// Its name says it predicts (not an encoder, scaler or table); the runtime checks for real.
    pub looks_like_model: bool,
}

/// A file copied from the notebook's folder into `data/`.
#[derive(Debug, Clone, Serialize)]
pub struct DataFile {
    /// Relative to the notebook's folder, as the notebook wrote it.
    pub source: String,
    /// Path under `data/`.
    pub path: String,
    pub env: String,
}

/// A Python file shipped in `app/` because the notebook imports it.
#[derive(Debug, Clone, Serialize)]
pub struct LocalModule {
    /// Path under `app/`.
    pub path: String,
    pub origin: ModuleOrigin,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ModuleOrigin {
    /// Written by a `%%writefile` cell; the text is here.
    Writefile {
        location: Location,
        contents: String,
    },
    /// Copied from the notebook's folder.
    Copied { source: String },
}

/// A relative path the notebook uses, and where the service finds it.
#[derive(Debug, Clone, Serialize)]
pub struct PathUse {
    pub literal: String,
    pub path: String,
    pub env: String,
    pub location: Location,
}

/// Everything rendering needs, and everything the report shows.
#[derive(Debug, Clone, Serialize)]
pub struct ServicePlan {
    pub name: String,
    pub notebook_file: String,
    pub host_port: u16,
    pub container_port: u16,
    pub base_image: String,
    /// When training runs after weighing what the service needs.
    pub train_at: TrainAt,
    /// The image build runs the notebook (`RUN python -m app.notebook`).
    pub train_in_build: bool,
    /// The service imports the notebook module at start.
    pub imports_notebook: bool,
    pub cells: Vec<PlannedCell>,
    pub endpoints: Vec<Endpoint>,
    pub artifacts: Vec<Artifact>,
    /// The model `POST /predict` answers with, when the service serves saved models.
    pub default_model: Option<String>,
    pub data_files: Vec<DataFile>,
    /// Files `%%writefile` creates that are not Python modules; they go to `data/`.
    pub written_data: Vec<(String, String)>,
    pub modules: Vec<LocalModule>,
    pub paths: Vec<PathUse>,
    pub requirements: Merged,
    pub dropped: Vec<Dropped>,
    pub skipped_cells: Vec<CellRef>,
    /// The notebook uses IPython's `display` or `get_ipython`; the runtime stands in for them.
    pub needs_ipython_shims: Vec<String>,
    /// `from __future__` imports, moved to the top of `notebook.py`.
    pub future_imports: Vec<String>,
    pub warnings: Vec<Warning>,
}

/// Plans the service for a notebook named `notebook_file` whose code cells are `extraction`.
pub fn plan(
    notebook_file: &str,
    extraction: Extraction,
    requirements_file: Option<RequirementsSet>,
    files: &dyn SourceFiles,
    options: &Options,
) -> Result<ServicePlan> {
    let mut warnings = extraction.warnings.clone();
    let mut extraction = extraction;
    let facts = analyze_cells(&extraction.cells)?;
    let future_imports = module::hoist_future_imports(&mut extraction.cells, &facts);

    let (modules, written_data) = local_modules(&extraction, &facts, files, &mut warnings);
    let module_names: Vec<String> = modules
        .iter()
        .filter_map(|m| m.path.split(['/', '.']).next().map(str::to_string))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let requirements = merge_requirements(
        &extraction,
        &facts,
        &module_names,
        requirements_file,
        files,
        &modules,
        options,
    )?;

    let path_plan = plan_paths(
        &extraction.cells,
        &facts,
        files,
        &written_data,
        &mut warnings,
    );
    let saves: Vec<bool> = facts
        .iter()
        .map(|f| f.path_calls.iter().any(|c| c.access == PathAccess::Save))
        .collect();
    let cell_views: Vec<_> = extraction
        .cells
        .iter()
        .zip(&facts)
        .zip(&saves)
        .map(|((c, f), s)| (c, f, *s))
        .collect();
    let training = training::training_cells(&cell_views);

    let endpoints = plan_endpoints(&extraction.cells, &facts, options, &mut warnings)?;
    let trains = training.any();
    let mut train_at = options.train_at;
    if !endpoints.is_empty() && train_at == TrainAt::Build && trains {
        let needed: BTreeSet<String> = endpoint_globals(&facts, &endpoints);
        let missing = training.needs_training(&needed);
        if let Some((name, cell)) = missing.first() {
            warnings.push(Warning::general(format!(
                "the served functions use `{name}`, which only training in {cell} defines: the notebook trains at service start (save the model and load it in a later cell to train at build instead)"
            )));
            train_at = TrainAt::Start;
        }
    }
    let (artifacts, default_model) = if endpoints.is_empty() {
        (
            path_plan.artifacts.clone(),
            default_model(&path_plan.artifacts),
        )
    } else {
        (Vec::new(), None)
    };
    if endpoints.is_empty() && artifacts.is_empty() {
        warnings.push(Warning::general(
            "nothing to serve: the notebook defines no `predict` function and saves no model; mark a function with `# nb2svc: endpoint` or pass --endpoint NAME",
        ));
    }
    let imports_notebook = !endpoints.is_empty() || (train_at == TrainAt::Start && trains);
    let train_in_build = train_at == TrainAt::Build && trains;
    // Wrapping training cells matters only where the service imports the notebook and must not retrain.
    let wrap_training = imports_notebook && train_at == TrainAt::Build;
    let cells = module::planned_cells(
        &extraction.cells,
        &facts,
        &training.reasons,
        &path_plan.rewrites,
        wrap_training,
    );
    let needs_ipython_shims = ["display", "get_ipython"]
        .into_iter()
        .filter(|name| {
            facts.iter().any(|f| f.loaded_names.contains(*name))
                && !facts.iter().any(|f| f.bound_names.contains(*name))
        })
        .map(str::to_string)
        .collect();

    warnings.extend(requirements.warnings.iter().cloned());
    warnings.sort();
    warnings.dedup();
    Ok(ServicePlan {
        name: options.service_name.clone(),
        notebook_file: notebook_file.to_string(),
        host_port: options.host_port,
        container_port: options.container_port,
        base_image: options.base_image.clone(),
        train_at,
        train_in_build,
        imports_notebook,
        cells,
        endpoints,
        artifacts,
        default_model,
        data_files: path_plan.data_files,
        written_data,
        modules,
        paths: path_plan.uses,
        requirements,
        dropped: extraction.dropped,
        skipped_cells: extraction.skipped_cells,
        needs_ipython_shims,
        future_imports,
        warnings,
    })
}

/// Parses every cleaned cell; a cell that is not valid Python is an error naming cell and line.
/// Import aliases carry from cell to cell, as they do when the notebook runs.
fn analyze_cells(cells: &[ExtractedCell]) -> Result<Vec<ModuleFacts>> {
    let mut aliases = BTreeMap::new();
    let mut all = Vec::with_capacity(cells.len());
    for cell in cells {
        let facts = python::analyze_with(&cell.code, &aliases).map_err(|error| {
            anyhow::anyhow!(
                "{}, line {}, column {}: not valid Python 3 after removing notebook syntax: {} (exclude the cell with a `skip` tag or a first-line `# nb2svc: skip`)",
                cell.cell,
                error.line + cell.line_offset,
                error.column,
                error.message
            )
        })?;
        aliases = facts.aliases.clone();
        all.push(facts);
    }
    Ok(all)
}

/// Modules the service ships in `app/`: `%%writefile` Python files and sibling modules the code
/// imports. Written files that are not Python go to `data/` (returned second).
fn local_modules(
    extraction: &Extraction,
    facts: &[ModuleFacts],
    files: &dyn SourceFiles,
    warnings: &mut Vec<Warning>,
) -> (Vec<LocalModule>, Vec<(String, String)>) {
    let mut modules: BTreeMap<String, LocalModule> = BTreeMap::new();
    let mut written_data = Vec::new();
    for written in &extraction.written_files {
        let Mapped::Data { relative, .. } = paths::map(&written.path) else {
            warnings.push(Warning::at(
                written.location.clone(),
                format!(
                    "`%%writefile {}` writes outside the project: not shipped",
                    written.path
                ),
            ));
            continue;
        };
        if relative.ends_with(".py") {
            let module = modules
                .entry(relative.clone())
                .or_insert_with(|| LocalModule {
                    path: relative.clone(),
                    origin: ModuleOrigin::Writefile {
                        location: written.location.clone(),
                        contents: String::new(),
                    },
                });
            if let ModuleOrigin::Writefile { contents, .. } = &mut module.origin {
                if !written.append {
                    contents.clear();
                }
                contents.push_str(&written.contents);
            }
        } else {
            written_data.push((relative, written.contents.clone()));
        }
    }
    // Sibling modules, and the siblings those import, until nothing new turns up.
    let mut pending: Vec<String> = facts
        .iter()
        .flat_map(|f| f.imports.iter().map(|i| i.top_level().to_string()))
        .collect();
    let mut seen = BTreeSet::new();
    while let Some(name) = pending.pop() {
        if name.is_empty() || !seen.insert(name.clone()) {
            continue;
        }
        if modules
            .keys()
            .any(|path| path.split(['/', '.']).next() == Some(name.as_str()))
        {
            continue;
        }
        for path in files.python_module(&name) {
            if let Some(source) = files.read_text(&path) {
                if let Ok(module_facts) = python::analyze(&source) {
                    pending.extend(
                        module_facts
                            .imports
                            .iter()
                            .map(|i| i.top_level().to_string()),
                    );
                }
            }
            modules.insert(
                path.clone(),
                LocalModule {
                    path: path.clone(),
                    origin: ModuleOrigin::Copied { source: path },
                },
            );
        }
    }
    (modules.into_values().collect(), written_data)
}

/// Merges the requirements file with what the notebook and its modules import.
fn merge_requirements(
    extraction: &Extraction,
    facts: &[ModuleFacts],
    module_names: &[String],
    file: Option<RequirementsSet>,
    files: &dyn SourceFiles,
    modules: &[LocalModule],
    options: &Options,
) -> Result<Merged> {
    let mut imports: BTreeMap<String, BTreeSet<CellRef>> = BTreeMap::new();
    for (cell, cell_facts) in extraction.cells.iter().zip(facts) {
        for import in cell_facts.imports.iter().filter(|i| !i.relative) {
            imports
                .entry(import.top_level().to_string())
                .or_default()
                .insert(cell.cell.clone());
        }
    }
    // Shipped modules need their packages too; they have no cell to point at.
    for module in modules {
        let source = match &module.origin {
            ModuleOrigin::Writefile { contents, .. } => Some(contents.clone()),
            ModuleOrigin::Copied { source } => files.read_text(source),
        };
        if let Some(Ok(module_facts)) = source.as_deref().map(python::analyze) {
            for import in module_facts.imports.iter().filter(|i| !i.relative) {
                imports.entry(import.top_level().to_string()).or_default();
            }
        }
    }
    let imports: Vec<(String, Vec<CellRef>)> = imports
        .into_iter()
        .map(|(k, v)| (k, v.into_iter().collect()))
        .collect();
    let magic: Vec<(String, Location)> = extraction
        .magic_requirements
        .iter()
        .map(|m| (m.spec.clone(), m.location.clone()))
        .collect();
    let needs = NotebookNeeds {
        imports: &imports,
        local_modules: module_names,
        magic_requirements: &magic,
    };
    requirements::merge(file, &needs, SERVING_PACKAGES, options.strict)
}

/// What the literal paths of the notebook become.
#[derive(Default)]
struct PathPlan {
    artifacts: Vec<Artifact>,
    data_files: Vec<DataFile>,
    uses: Vec<PathUse>,
    /// Per cell (by index), the literal ranges to replace and their replacement text.
    rewrites: BTreeMap<usize, Vec<(usize, usize, String)>>,
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

fn plan_paths(
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
fn default_model(artifacts: &[Artifact]) -> Option<String> {
    artifacts
        .iter()
        .find(|a| a.looks_like_model)
        .map(|a| a.name.clone())
}

/// The functions to serve: `--endpoint` names, then directives, else a top-level `predict`.
fn plan_endpoints(
    cells: &[ExtractedCell],
    facts: &[ModuleFacts],
    options: &Options,
    warnings: &mut Vec<Warning>,
) -> Result<Vec<Endpoint>> {
    // The last definition of each function wins, as it does when the module runs.
    let mut defined: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (index, cell_facts) in facts.iter().enumerate() {
        for (f, function) in cell_facts.functions.iter().enumerate() {
            defined.insert(&function.name, (index, f));
        }
    }
    let mut wanted: Vec<String> = options.endpoints.clone();
    for (index, cell) in cells.iter().enumerate() {
        match &cell.directives.endpoints {
            Some(names) if names.is_empty() => {
                wanted.extend(facts[index].functions.iter().map(|f| f.name.clone()))
            }
            Some(names) => wanted.extend(names.iter().cloned()),
            None => {}
        }
    }
    if wanted.is_empty() && defined.contains_key("predict") {
        wanted.push("predict".into());
    }
    let mut seen = BTreeSet::new();
    let mut endpoints = Vec::new();
    for name in wanted {
        if !seen.insert(name.clone()) {
            continue;
        }
        let Some(&(index, f)) = defined.get(name.as_str()) else {
            let available: Vec<&str> = defined.keys().copied().collect();
            bail!(
                "no top-level function `{name}` to serve in the notebook (functions defined: {})",
                if available.is_empty() {
                    "none".to_string()
                } else {
                    available.join(", ")
                }
            );
        };
        endpoints.push(endpoints::endpoint(
            &facts[index].functions[f],
            &cells[index].cell,
            cells[index].line_offset,
            warnings,
        ));
    }
    Ok(endpoints)
}

/// Global names the served functions read.
fn endpoint_globals(facts: &[ModuleFacts], endpoints: &[Endpoint]) -> BTreeSet<String> {
    let served: BTreeSet<&str> = endpoints.iter().map(|e| e.function.as_str()).collect();
    facts
        .iter()
        .flat_map(|f| f.functions.iter())
        .filter(|function| served.contains(function.name.as_str()))
        .flat_map(|function| function.globals_used.iter().cloned())
        .collect()
}

#[cfg(test)]
mod tests;
