//! The service to build: endpoints, artifacts, data files, modules, requirements and when the
//! notebook trains, decided once from what the notebook says.
//!
//! Planning takes values (the extracted cells, the requirements read from disk, the options)
//! and asks about the notebook's folder only through [`SourceFiles`]; it writes nothing.
//! Rendering turns the plan into files.

mod artifacts;
mod containment;
mod credentials;
pub(crate) mod endpoints;
pub(crate) mod module;
mod modules;
pub(crate) mod paths;
mod preprocessing;
mod seeds;
mod settings;
pub(crate) mod slice;
pub(crate) mod training;
mod written;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use anyhow::{bail, Result};
use serde::Serialize;

use crate::base_image::PythonChoice;
use crate::diagnostics::{CellRef, Location, Warning};
use crate::extract::{Dropped, ExtractedCell, Extraction};
use crate::python::{self, ModuleFacts, KEPT_TREES_CODE_BYTES};
use crate::requirements::{Floor, Merged, RequirementsSet};
use crate::workspace::{project_path, SourceFiles};
pub use credentials::PlannedCredential;
pub use endpoints::Endpoint;

/// Packages every generated service needs to serve, each at the lowest version the generated
/// code and runtime are written for: floors for the lines that name them, added when absent.
/// Measured, not guessed: the penguins example trains and answers, and the runtime's own tests
/// pass, with exactly fastapi 0.100.0, pydantic 2.0.2 (the first 2.x FastAPI 0.100 accepts) and
/// uvicorn 0.15.0, on Python 3.9 and 3.11; uvicorn 0.14 serves too but its parent process
/// ignores SIGTERM with several workers, so `docker stop` has to kill it.
pub const SERVING_PACKAGES: &[Floor] = &[
    Floor {
        spec: "fastapi>=0.100",
        why: "app/main.py needs FastAPI 0.100 or later, the first for pydantic 2",
    },
    Floor {
        spec: "pydantic>=2",
        why: "app/main.py and the runtime use pydantic 2 (ConfigDict, model_dump), which FastAPI alone does not require",
    },
    Floor {
        spec: "uvicorn[standard]>=0.15",
        why: "serves the API; uvicorn before 0.15 ignores SIGTERM with several workers",
    },
];

/// When the notebook's training code runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
    /// The host address the development compose file publishes on.
    pub dev_address: std::net::IpAddr,
    pub container_port: u16,
    /// The `FROM` image, checked.
    pub base_image: String,
    /// The Python the image runs, and why.
    pub python: PythonChoice,
    pub endpoints: Vec<String>,
    pub train_at: TrainAt,
    /// Worker processes asked for; `None` lets the plan choose.
    pub workers: Option<u16>,
    pub strict: bool,
    /// Files and folders to ship besides those the analysis finds (`--include`), relative to
    /// the notebook's folder and inside its project.
    pub includes: Vec<String>,
    /// The orchestrators to write files for (`--kubernetes`, `--swarm`, `--replicas`).
    pub deploy: crate::deploy::Targets,
    /// The Dockerfile keeps uv's cache in a BuildKit cache mount (`--buildkit-cache`).
    pub buildkit_cache: bool,
}

/// A code cell as it goes into `app/notebook.py`.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedCell {
    pub cell: CellRef,
    /// Plain Python, as the notebook wrote it once notebook syntax is replaced.
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
    /// Path under `data/`: its place in the notebook's project.
    pub path: String,
    pub serializer: &'static str,
    /// Where the notebook saves it, when it does.
    pub saved_at: Option<Location>,
    /// Copied from the notebook's folder (relative path there) when the notebook only loads it.
    pub shipped_from: Option<String>,
    /// Its name says it predicts (not an encoder, scaler or table); the runtime checks for real.
    pub looks_like_model: bool,
}

/// A file copied from the notebook's project into `data/`.
#[derive(Debug, Clone, Serialize)]
pub struct DataFile {
    /// Relative to the notebook's folder, as the notebook wrote it.
    pub source: String,
    /// Path under `data/`: its place in the project.
    pub path: String,
    /// Where the notebook reads it; `None` for a file shipped by `--include`.
    pub read_at: Option<Location>,
}

/// A path the notebook builds that is only known when it runs.
#[derive(Debug, Clone, Serialize)]
pub struct UnknownPath {
    pub location: Location,
    /// The path expression as written.
    pub written: String,
    /// What the code does with it: `reads`, `writes`, `loads`, `saves an artifact at`.
    pub access: &'static str,
}

/// A folder of the author's container (from the project's Dockerfiles and compose files) and
/// the folder of `data/` that serves it: the notebook's absolute paths there still work.
#[derive(Debug, Clone, Serialize)]
pub struct ContainerFolder {
    /// Absolute, in the author's container: `/home/jovyan/work`.
    pub container: String,
    /// Under `data/`: `jupyter_work`.
    pub data_path: String,
    /// The file and line that say so.
    pub said_in: String,
}

/// A statement that preprocesses data, found before the notebook runs.
#[derive(Debug, Clone, Serialize)]
pub struct PreprocessingStep {
    pub location: Location,
    /// The statement's line, shortened.
    pub text: String,
    /// What it does, in Markdown: names from the notebook are in code spans.
    pub description: String,
}

/// An environment variable the notebook reads, and what the service does about it.
#[derive(Debug, Clone, Serialize)]
pub struct Setting {
    pub name: String,
    /// The value the service uses when the variable is not set: the notebook's own default,
    /// or one nb2svc gives a setting with no default that names a path the notebook writes.
    pub default: Option<String>,
    /// The default comes from nb2svc, not from the notebook.
    pub default_from_nb2svc: bool,
    /// No default at all: the service refuses to start without it.
    pub required: bool,
    /// Where the notebook first reads it.
    pub location: Location,
    /// A credential nb2svc took out of the code: it comes from `.env`, never from a file
    /// the service ships.
    pub secret: bool,
}

/// A Python file shipped in `app/` because the notebook imports it.
#[derive(Debug, Clone, Serialize)]
pub struct LocalModule {
    /// Path under `app/`.
    pub path: String,
    pub origin: ModuleOrigin,
    /// Top-level names it imports (relative imports left out): its packages are needed too.
    pub imports: Vec<String>,
    /// Its code fits a model or saves an artifact.
    pub trains: bool,
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
    /// From the notebook's folder, with the credentials its code held taken out.
    Rewritten { source: String, contents: String },
}

/// Everything rendering needs, and everything the report shows.
#[derive(Debug, Clone, Serialize)]
pub struct ServicePlan {
    pub name: String,
    pub notebook_file: String,
    /// The notebook's folder inside its project (and so inside `data/`); empty at the top.
    pub notebook_subdir: String,
    pub host_port: u16,
    pub container_port: u16,
    pub dev_address: std::net::IpAddr,
    pub base_image: String,
    /// The Python the image runs and why (the notebook's metadata, `--python`, the tag of
    /// `--base-image`, or the default): requirements are meant for this Python.
    pub python: PythonChoice,
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
    /// The notebook saves artifacts: the service loads what the runtime recorded as it ran.
    pub saves_artifacts: bool,
    pub data_files: Vec<DataFile>,
    /// Data files the notebook reads that are not in its project (paths under `data/`).
    pub missing_data: Vec<String>,
    /// Paths only known when the notebook runs.
    pub unknown_paths: Vec<UnknownPath>,
    /// Files `%%writefile` creates that are not Python modules: (path under `data/`, text).
    pub written_data: Vec<(String, String)>,
    pub modules: Vec<LocalModule>,
    /// Environment variables the notebook reads.
    pub settings: Vec<Setting>,
    /// Credentials taken out of the code, each now read from an environment variable.
    pub credentials: Vec<PlannedCredential>,
    /// Where the notebook loads a `.env` file (python-dotenv): the service gets its variables
    /// from the environment instead, which compose fills from `.env`.
    pub loads_dotenv: Option<Location>,
    /// Cells left out because they are not valid Python, with the reason.
    pub unparsed_cells: Vec<(CellRef, String)>,
    /// Statements left out because nothing the service serves depends on them: where, the
    /// statement's first line (shortened), and why.
    pub left_out: Vec<(Location, String, String)>,
    /// What the statements the service runs do to the data before a model is fitted, as
    /// nb2svc reads them before any training: what the prediction routes will replay. Empty
    /// when the service serves no saved model.
    pub preprocessing: Vec<PreprocessingStep>,
    /// Where nb2svc already sees that a route cannot replay the preprocessing (also in
    /// `warnings`).
    pub replay_warnings: Vec<Warning>,
    /// The author's container folders the service serves from `data/`.
    pub container_mounts: Vec<ContainerFolder>,
    /// Downloads, unpacking and folders the notebook's shell lines made: runtime steps that
    /// run in order when the notebook trains.
    pub fetches: Vec<crate::extract::Fetch>,
    pub requirements: Merged,
    /// The requirements' lock, or why there is none. Planning does no I/O: [`crate::lock`]
    /// resolves it after planning; until then it is unresolved.
    pub lock: crate::lock::LockState,
    /// The Dockerfile keeps uv's cache in a BuildKit cache mount.
    pub buildkit_cache: bool,
    pub dropped: Vec<Dropped>,
    pub skipped_cells: Vec<CellRef>,
    /// The notebook uses IPython's `display` or `get_ipython`; the runtime stands in for them.
    pub needs_ipython_shims: Vec<String>,
    /// `from __future__` imports, moved to the top of `notebook.py`.
    pub future_imports: Vec<String>,
    pub warnings: Vec<Warning>,
    /// The orchestrators the service gets files for.
    pub deploy: crate::deploy::Targets,
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
    warnings.extend(options.python.warning.iter().map(Warning::general));
    let mut extraction = extraction;
    written::check_module_limits(&extraction.written_files)?;
    let mut credential_names = crate::python::credentials::Names::default();
    let mut found_credentials =
        credentials::take_out_of_cells(&mut extraction, &mut credential_names, &mut warnings);
    let mut analysis = analyze_cells(&mut extraction.cells, options.strict, &mut warnings)?;
    let all_facts = std::mem::take(&mut analysis.facts);
    let endpoints = plan_endpoints(&extraction.cells, &all_facts, options, &mut warnings)?;

    // Only the statements that saved artifacts and served functions depend on run in the
    // service; what the others import, read or need cannot break it.
    let served: BTreeSet<String> = endpoints.iter().map(|e| e.function.clone()).collect();
    let sliced = slice::slice(&extraction.cells, &all_facts, &served);
    // The facts of what runs; all of them (not a copy) when the slice keeps everything.
    let kept: Option<Vec<ModuleFacts>> = (!sliced.keeps_everything()).then(|| {
        all_facts
            .iter()
            .enumerate()
            .map(|(index, f)| kept_facts(f, index, &sliced))
            .collect()
    });
    let facts: &[ModuleFacts] = kept.as_deref().unwrap_or(&all_facts);
    let left_out = left_out_statements(&extraction.cells, &sliced);
    let (preprocessing, replay_warnings) = preprocessing::steps(&extraction.cells, facts);
    for (index, cell) in extraction.cells.iter_mut().enumerate() {
        cell.code = module::main_guards_true(&cell.code, &all_facts[index].main_guards);
        cell.code = sliced.comment_out(index, &cell.code);
    }
    let future_imports = module::hoist_future_imports(&mut extraction.cells, facts);

    let (mut modules, written_data) =
        modules::local_modules(&extraction, facts, files, &mut warnings);
    for written in &extraction.written_files {
        containment::check_written(&written.path, &written.contents, &written.location)?;
    }
    for module in &modules {
        if let ModuleOrigin::Copied { source } = &module.origin {
            containment::check_module(files, source)?;
        }
    }
    found_credentials.extend(credentials::take_out_of_modules(
        &mut modules,
        files,
        &mut credential_names,
    ));
    let credentials = credentials::by_variable(found_credentials);

    let path_plan = artifacts::plan_paths(
        &extraction.cells,
        facts,
        &artifacts::PathInputs {
            files,
            written_data: &written_data,
            includes: &options.includes,
        },
        &mut warnings,
    )?;
    let unpickled = artifacts::unpickled(&path_plan.artifacts, files);
    let requirements = modules::merge_requirements(
        &extraction,
        facts,
        &all_facts,
        requirements_file,
        &modules,
        &unpickled,
        options,
    )?;
    let mut settings = settings::plan_settings(&extraction.cells, facts, &mut warnings);
    for setting in &mut settings {
        setting.secret = credentials.iter().any(|c| c.variable == setting.name);
    }
    // Kept or left out, the import says the author keeps variables in `.env`.
    let loads_dotenv = loads_dotenv(&extraction.cells, &all_facts);
    if let Some(location) = &loads_dotenv {
        warnings.push(Warning::at(location.clone(), "the notebook loads a `.env` file, which the service never ships: its variables come from the environment, which docker compose fills from `.env` in the service's folder"));
    }
    let training = training::training_cells(&extraction.cells, facts);
    analysis.check_unparsed_needs(facts, &names_read(facts))?;
    let trains = training.any() || modules::imports_training_module(facts, &modules);
    let mut train_at = options.train_at;
    // The image must not hold a credential, so code that needs one runs where `.env` is.
    let needed_secret = settings.iter().find(|s| s.secret && s.required);
    if let (Some(secret), TrainAt::Build, true) = (needed_secret, train_at, trains) {
        warnings.push(Warning::at(
            secret.location.clone(),
            format!(
                "the code needs the credential `{}`, which the image must not hold: the notebook trains at service start, with the value from `.env`",
                secret.name
            ),
        ));
        train_at = TrainAt::Start;
    }
    if !endpoints.is_empty() && train_at == TrainAt::Build && trains {
        let needed: BTreeSet<String> = endpoint_globals(facts, &endpoints);
        let missing = training.needs_training(&needed);
        if let Some((name, cell)) = missing.first() {
            warnings.push(Warning::general(format!(
                "the served functions use `{name}`, which only training in {cell} defines: the notebook trains at service start (save the model and load it in a later cell to train at build instead)"
            )));
            train_at = TrainAt::Start;
        }
    }
    // A notebook that trains may save through code nb2svc cannot see (a shipped module's
    // class, a library call): the service loads whatever the runtime records as it runs.
    let (artifacts, default_model, saves_artifacts) = if endpoints.is_empty() {
        (
            path_plan.artifacts.clone(),
            artifacts::default_model(&path_plan.artifacts),
            path_plan.saves_artifacts || trains,
        )
    } else {
        (Vec::new(), None, false)
    };
    if endpoints.is_empty() && artifacts.is_empty() && !path_plan.saves_artifacts {
        warnings.push(Warning::general(if trains {
            "nb2svc sees no model saved before the notebook runs: the service serves what the notebook saves as it trains, and answers nothing if it saves nothing; mark a function with `# nb2svc: endpoint` or pass --endpoint NAME to serve one"
        } else {
            "nothing to serve: the notebook defines no `predict` function and saves no model; mark a function with `# nb2svc: endpoint` or pass --endpoint NAME"
        }));
    }
    // Only the routes of saved models take the notebook's raw columns and replay its steps.
    let serves_models = saves_artifacts || artifacts.iter().any(|a| a.shipped_from.is_some());
    let (preprocessing, replay_warnings) = if serves_models {
        warnings.extend(replay_warnings.iter().cloned());
        (preprocessing, replay_warnings)
    } else {
        (Vec::new(), Vec::new())
    };
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
    let cells = module::planned_cells(&extraction.cells, &training.reasons, wrap_training);
    if trains && !seeds::sets_a_seed(&cells) {
        warnings.push(Warning::general(seeds::UNSEEDED));
    }
    let needs_ipython_shims = ["display", "get_ipython"]
        .into_iter()
        .filter(|name| {
            facts.iter().any(|f| f.loaded_names.contains(name))
                && !facts.iter().any(|f| f.bound_names.contains(name))
        })
        .map(str::to_string)
        .collect();
    let subdir = path_plan.subdir.as_str();
    written::check_targets(
        &extraction.written_files,
        subdir,
        crate::render::generated_paths(),
    )?;
    let written_data = written_data
        .into_iter()
        .filter_map(|(path, text)| Some((project_path(subdir, &path)?, text)))
        .collect();

    warnings.extend(requirements.warnings.iter().cloned());
    warnings.sort();
    warnings.dedup();
    let code_bytes = cells.iter().map(|cell| cell.code.len()).sum();
    crate::parallel::drop_in_background((all_facts, kept), code_bytes);
    Ok(ServicePlan {
        name: options.service_name.clone(),
        notebook_file: notebook_file.to_string(),
        notebook_subdir: subdir.to_string(),
        host_port: options.host_port,
        container_port: options.container_port,
        dev_address: options.dev_address,
        base_image: options.base_image.clone(),
        python: options.python.clone(),
        train_at,
        workers,
        train_in_build,
        imports_notebook,
        cells,
        endpoints,
        artifacts,
        default_model,
        saves_artifacts,
        data_files: path_plan.data_files,
        missing_data: path_plan.missing_data,
        unknown_paths: path_plan.unknown,
        written_data,
        modules,
        settings,
        credentials,
        loads_dotenv,
        requirements,
        lock: crate::lock::LockState::not_resolved(),
        buildkit_cache: options.buildkit_cache,
        dropped: extraction.dropped,
        skipped_cells: extraction.skipped_cells,
        unparsed_cells: analysis.unparsed,
        left_out,
        preprocessing,
        replay_warnings,
        fetches: extraction.fetches,
        container_mounts: path_plan.container_mounts,
        needs_ipython_shims,
        future_imports,
        warnings,
        deploy: options.deploy,
    })
}

/// The first import of python-dotenv, which notebooks use to load `.env`.
fn loads_dotenv(cells: &[ExtractedCell], facts: &[ModuleFacts]) -> Option<Location> {
    cells.iter().zip(facts).find_map(|(cell, cell_facts)| {
        let import = cell_facts
            .imports
            .iter()
            .find(|i| i.top_level() == "dotenv")?;
        Some(Location {
            cell: cell.cell.clone(),
            line: import.line + cell.line_offset,
        })
    })
}

/// How many levels of helper functions calling helper functions pass their paths on.
const MAX_HELPER_DEPTH: usize = 3;

/// The cells as each analysis pass takes them.
enum PassInput<'c> {
    /// Parsed once for every pass.
    Parsed(Vec<Result<python::ParsedCell<'c>, python::SyntaxError>>),
    /// Parsed again by each pass, one cell at a time.
    Sources(&'c [ExtractedCell]),
}

impl<'c> PassInput<'c> {
    /// The cells as later passes take them, and the first pass's results. Unless there is a
    /// lot of code, each cell is parsed once, spread over the cores, while the calling thread
    /// analyzes the cells in order as their trees come.
    fn first_pass(
        cells: &'c [ExtractedCell],
        parameters: &Arc<python::values::ParameterValues>,
    ) -> (PassInput<'c>, Vec<PassResult>) {
        let code: usize = cells.iter().map(|cell| cell.code.len()).sum();
        if code > KEPT_TREES_CODE_BYTES {
            let input = PassInput::Sources(cells);
            let results = analyze_pass(&input, parameters);
            return (input, results);
        }
        let mut pass = Pass::new(parameters);
        let mut results = Vec::with_capacity(cells.len());
        let parsed = crate::parallel::produce_and_consume_in_order(
            cells,
            code,
            |cell| python::ParsedCell::of_cleaned(&cell.code, cell.tree.as_ref()),
            |parsed| results.push(pass.analyze(parsed.as_ref())),
        );
        (PassInput::Parsed(parsed), results)
    }
}

/// What a pass says of one cell: its facts, or why it is not Python.
type PassResult = Result<ModuleFacts, python::SyntaxError>;

/// One analysis pass over the cells in order, each inheriting what the ones before it leave.
struct Pass<'p> {
    parameters: &'p Arc<python::values::ParameterValues>,
    inherited: python::Inherited,
}

impl<'p> Pass<'p> {
    fn new(parameters: &'p Arc<python::values::ParameterValues>) -> Pass<'p> {
        Pass {
            parameters,
            inherited: python::Inherited {
                parameters: Arc::clone(parameters),
                ..python::Inherited::default()
            },
        }
    }

    /// The next cell's facts; a cell that is not Python passes on what it inherited.
    fn analyze(
        &mut self,
        parsed: Result<&python::ParsedCell<'_>, &python::SyntaxError>,
    ) -> PassResult {
        let facts = python::analyze_parsed(parsed.map_err(Clone::clone)?, &self.inherited);
        self.inherited = python::Inherited::after(&facts, self.parameters);
        Ok(facts)
    }
}

/// Analyzes every cell in order, each inheriting what the ones before it leave.
fn analyze_pass(
    cells: &PassInput<'_>,
    parameters: &Arc<python::values::ParameterValues>,
) -> Vec<PassResult> {
    let mut pass = Pass::new(parameters);
    match cells {
        PassInput::Parsed(parsed) => parsed
            .iter()
            .map(|cell| pass.analyze(cell.as_ref()))
            .collect(),
        PassInput::Sources(cells) => cells
            .iter()
            .map(|cell| {
                pass.analyze(
                    python::ParsedCell::of_cleaned(&cell.code, cell.tree.as_ref()).as_ref(),
                )
            })
            .collect(),
    }
}

/// What the notebook's functions are called with, from every call site of every cell.
fn parameter_values(results: &[PassResult]) -> python::values::ParameterValues {
    let facts = results.iter().flatten();
    let params: BTreeMap<String, Vec<String>> = facts
        .clone()
        .flat_map(|f| f.functions.iter())
        // A function whose body reads no argument's value needs no second look.
        .filter(|function| function.reads_arguments)
        .map(|function| {
            let positional = function
                .params
                .iter()
                .filter(|p| {
                    matches!(
                        p.kind,
                        python::ParamKind::PositionalOnly | python::ParamKind::Regular
                    )
                })
                .map(|p| p.name.clone())
                .collect();
            (function.name.clone(), positional)
        })
        .collect();
    let sites: Vec<python::values::CallSite> =
        facts.flat_map(|f| f.call_sites.iter().cloned()).collect();
    python::values::parameter_values(&sites, &params)
}

/// The statements the slice leaves out, each with its first line, shortened for a listing.
fn left_out_statements(
    cells: &[ExtractedCell],
    sliced: &slice::Slice,
) -> Vec<(Location, String, String)> {
    let mut listed = Vec::new();
    for (index, cell) in cells.iter().enumerate() {
        let lines: Vec<&str> = cell.code.split('\n').collect();
        for statement in sliced.cell(index).iter().filter(|s| !s.verdict.is_kept()) {
            let first = lines
                .get(statement.first_line.saturating_sub(1))
                .map_or("", |l| l.trim());
            // nb2svc's own stand-in for a magic is listed with what was dropped already.
            if first.starts_with(crate::extract::PLACEHOLDER_PREFIX.trim_end()) {
                continue;
            }
            listed.push((
                statement.location.clone(),
                shortened(first),
                statement.verdict.reason().to_string(),
            ));
        }
    }
    listed
}

/// `line` cut to a listing's width: the first 60 characters, then `...`.
fn shortened(line: &str) -> String {
    const SHOWN: usize = 60;
    let mut shown: String = line.chars().take(SHOWN).collect();
    if line.chars().count() > SHOWN {
        shown.push_str("...");
    }
    shown
}

/// A cell's facts restricted to the statements the service runs.
fn kept_facts(facts: &ModuleFacts, cell: usize, sliced: &slice::Slice) -> ModuleFacts {
    let runs = |line: usize| sliced.runs_line(cell, line);
    let kept_units: Vec<&python::Unit> =
        facts.units.iter().filter(|u| runs(u.first_line)).collect();
    let mut kept = facts.clone();
    kept.imports = kept_items(&facts.imports, |i| runs(i.line));
    kept.path_calls.retain(|c| runs(c.line));
    kept.settings.retain(|s| runs(s.line));
    kept.functions = kept_items(&facts.functions, |f| runs(f.line));
    kept.preprocessing.retain(|p| runs(p.line));
    kept.opaque_fits.retain(|f| runs(f.line));
    kept.call_sites.clear();
    kept.loaded_names = kept_units
        .iter()
        .flat_map(|u| u.loaded.iter().cloned())
        .collect();
    kept.bound_names = kept_units
        .iter()
        .flat_map(|u| u.bound.iter().cloned())
        .collect();
    kept.trains &= !kept_units.is_empty();
    kept
}

/// The items of a list the facts share with the parse that `keep` keeps, as a list of their own.
fn kept_items<T: Clone>(items: &[T], keep: impl Fn(&T) -> bool) -> Arc<[T]> {
    items.iter().filter(|item| keep(item)).cloned().collect()
}

/// Every module-level name the cells the service runs read.
fn names_read(facts: &[ModuleFacts]) -> BTreeSet<String> {
    facts
        .iter()
        .flat_map(|f| f.loaded_names.iter().cloned())
        .collect()
}

/// The cells' facts, and the cells left out because they are not valid Python.
struct Analysis {
    facts: Vec<ModuleFacts>,
    unparsed: Vec<(CellRef, String)>,
    /// The text of each unparsed cell, to tell whether it could define a name others need.
    unparsed_text: Vec<(CellRef, String)>,
}

impl Analysis {
    /// A cell left out for its syntax must not be one the service needs: if a name the other
    /// cells read is bound by no parsed cell and appears in a left-out cell, that cell probably
    /// defined it (a heuristic: the cell cannot be parsed to know for sure), and it is an error.
    fn check_unparsed_needs(&self, facts: &[ModuleFacts], needed: &BTreeSet<String>) -> Result<()> {
        if self.unparsed.is_empty() {
            return Ok(());
        }
        let bound: BTreeSet<&String> = facts.iter().flat_map(|f| f.bound_names.iter()).collect();
        for name in needed.iter().filter(|n| !bound.contains(n)) {
            for ((cell, reason), (_, text)) in self.unparsed.iter().zip(&self.unparsed_text) {
                if python::mentions_identifier(text, name) {
                    bail!(
                        "{reason}; the service needs `{name}`, which only this cell could define: fix the cell, or exclude it with a `skip` tag and define `{name}` elsewhere ({cell})"
                    );
                }
            }
        }
        Ok(())
    }
}

/// Parses every cleaned cell. A cell that is not valid Python (prose, Python 2 `print x`) is
/// left out with a warning naming cell, line and column, as Jupyter would run the others;
/// with `strict` it is an error. Import aliases and known values carry from cell to cell, as
/// they do when the notebook runs.
fn analyze_cells(
    cells: &mut [ExtractedCell],
    strict: bool,
    warnings: &mut Vec<Warning>,
) -> Result<Analysis> {
    let mut parameters = Arc::new(python::values::ParameterValues::new());
    let code_bytes: usize = cells.iter().map(|cell| cell.code.len()).sum();
    let results = {
        // Each cell is parsed once for all the looks below, unless there is a lot of code.
        let (parsed, mut results) = PassInput::first_pass(cells, &parameters);
        // More looks once the call sites are known, so a helper `def save(obj, path)` knows
        // the paths it is called with; each look reaches one more level of helpers calling
        // helpers.
        for _ in 0..MAX_HELPER_DEPTH {
            let called_with = parameter_values(&results);
            if called_with == *parameters {
                break;
            }
            parameters = Arc::new(called_with);
            results = analyze_pass(&parsed, &parameters);
        }
        let owned: Vec<_> = match parsed {
            PassInput::Parsed(parsed) => parsed
                .into_iter()
                .map(|cell| cell.map(python::ParsedCell::into_owned))
                .collect(),
            PassInput::Sources(_) => Vec::new(),
        };
        // The trees kept from cleaning the cells are done with too: the code changes from here.
        let trees: Vec<_> = cells.iter_mut().map(|cell| cell.tree.take()).collect();
        crate::parallel::drop_in_background((owned, trees), code_bytes);
        results
    };
    let mut analysis = Analysis {
        facts: Vec::with_capacity(cells.len()),
        unparsed: Vec::new(),
        unparsed_text: Vec::new(),
    };
    // The facts of the latest cell that parsed, whose state a cell left out passes on.
    let mut previous: Option<usize> = None;
    for (cell, result) in cells.iter_mut().zip(results) {
        match result {
            Ok(facts) => {
                previous = Some(analysis.facts.len());
                analysis.facts.push(facts);
            }
            Err(error) => {
                let reason = format!(
                    "{}, line {}, column {}: not valid Python 3 after removing notebook syntax: {}",
                    cell.cell,
                    error.line + cell.line_offset,
                    error.column,
                    error.message
                );
                if strict {
                    bail!("{reason} (--strict; exclude the cell with a `skip` tag or a first-line `# nb2svc: skip`)");
                }
                warnings.push(Warning::general(format!(
                    "{reason}: the cell is left out (--strict makes this an error)"
                )));
                analysis
                    .unparsed_text
                    .push((cell.cell.clone(), cell.code.clone()));
                analysis.unparsed.push((cell.cell.clone(), reason));
                // The cell stays in notebook.py as comments, so line numbers still map.
                cell.code = module::commented_out(&cell.code, "not valid Python");
                let passed_on = match previous {
                    Some(index) => python::Inherited::after(&analysis.facts[index], &parameters),
                    None => python::Inherited::default(),
                };
                analysis.facts.push(ModuleFacts {
                    aliases: passed_on.aliases,
                    bindings: passed_on.bindings,
                    held: passed_on.held,
                    ..ModuleFacts::default()
                });
            }
        }
    }
    Ok(analysis)
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
