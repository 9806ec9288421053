//! The service to build: endpoints, artifacts, data files, modules, requirements and when the
//! notebook trains, decided once from what the notebook says.
//!
//! Planning takes values (the extracted cells, the requirements read from disk, the options)
//! and asks about the notebook's folder only through [`SourceFiles`]; it writes nothing.
//! Rendering turns the plan into files.

mod artifacts;
pub mod endpoints;
pub mod module;
mod modules;
pub mod paths;
pub mod slice;
pub mod training;

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Result};
use serde::Serialize;

use crate::diagnostics::{CellRef, Location, Warning};
use crate::extract::{Dropped, ExtractedCell, Extraction};
use crate::python::{self, ModuleFacts};
use crate::requirements::{Merged, RequirementsSet};
use crate::workspace::SourceFiles;
pub use endpoints::Endpoint;

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
    /// Worker processes asked for; `None` lets the plan choose.
    pub workers: Option<u16>,
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
    /// Top-level names it imports (relative imports left out): its packages are needed too.
    pub imports: Vec<String>,
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
    /// uvicorn worker processes in the image.
    pub workers: u16,
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
    /// Data files the notebook reads that were not next to it: they belong under `data/`.
    pub missing_data: Vec<String>,
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

    let (modules, written_data) = modules::local_modules(&extraction, &facts, files, &mut warnings);
    let requirements =
        modules::merge_requirements(&extraction, &facts, requirements_file, &modules, options)?;

    let path_plan = artifacts::plan_paths(
        &extraction.cells,
        &facts,
        files,
        &written_data,
        &mut warnings,
    );
    let training = training::training_cells(&extraction.cells, &facts);

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
            artifacts::default_model(&path_plan.artifacts),
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
    let trains_at_start = train_at == TrainAt::Start && trains;
    // Two processes use both cores of a small machine; each runs setup once. Training at start
    // in several processes would train several times and race on the files, so it gets one.
    let workers = match options.workers {
        Some(n) if n > 1 && trains_at_start => {
            warnings.push(Warning::general(format!(
                "--workers {n} ignored: the notebook trains at service start, which one process must do alone; 1 worker"
            )));
            1
        }
        Some(n) => n,
        None if trains_at_start => 1,
        None => 2,
    };
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
        workers,
        train_in_build,
        imports_notebook,
        cells,
        endpoints,
        artifacts,
        default_model,
        data_files: path_plan.data_files,
        missing_data: path_plan.missing_data,
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
