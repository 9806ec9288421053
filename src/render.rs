//! From a [`ServicePlan`] to the files of the service, through Tera templates.
//!
//! The built-in templates are embedded in the binary; a folder given with `--templates`
//! replaces any of them by file name. Decisions are made in Rust and handed to templates as
//! prepared fields of [`ServiceView`]: templates only loop and branch. Every value that comes
//! from user input goes through the escaping of the language it lands in, owned by
//! [`crate::escape`]: templates apply its filters (`py_string`, `py_docstring`, `yaml_string`,
//! `md_code`, ...), and the sentences prepared here call it for their user parts.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::OnceLock;

use anyhow::{Context, Result};
use serde::Serialize;
use tera::Tera;

use crate::escape;
use crate::plan::{Artifact, Endpoint, ModuleOrigin, PlannedCell, ServicePlan, TrainAt};
use crate::requirements::{self, Origin};

/// The built-in templates: (name, text). The name is also the file name an override uses.
pub const BUILTIN_TEMPLATES: &[(&str, &str)] = &[
    ("main.py", include_str!("../templates/main.py")),
    ("notebook.py", include_str!("../templates/notebook.py")),
    (
        "nb2svc_runtime.py",
        include_str!("../templates/nb2svc_runtime.py"),
    ),
    (
        "nb2svc_inputs.py",
        include_str!("../templates/nb2svc_inputs.py"),
    ),
    ("__init__.py", include_str!("../templates/__init__.py")),
    ("Dockerfile", include_str!("../templates/Dockerfile")),
    (
        "docker-compose.yaml",
        include_str!("../templates/docker-compose.yaml"),
    ),
    (
        "docker-compose.prod.yaml",
        include_str!("../templates/docker-compose.prod.yaml"),
    ),
    ("dockerignore", include_str!("../templates/dockerignore")),
    ("gitignore", include_str!("../templates/gitignore")),
    ("ruff.toml", include_str!("../templates/ruff.toml")),
    ("env.example", include_str!("../templates/env.example")),
    ("README.md", include_str!("../templates/README.md")),
    (
        "data-README.txt",
        include_str!("../templates/data-README.txt"),
    ),
];

/// Which template makes which output file.
const OUTPUTS: &[(&str, &str)] = &[
    ("main.py", "app/main.py"),
    ("notebook.py", "app/notebook.py"),
    ("__init__.py", "app/__init__.py"),
    ("Dockerfile", "Dockerfile"),
    ("docker-compose.yaml", "docker-compose.yaml"),
    ("docker-compose.prod.yaml", "docker-compose.prod.yaml"),
    ("dockerignore", ".dockerignore"),
    ("gitignore", ".gitignore"),
    ("ruff.toml", "ruff.toml"),
    ("README.md", "README.md"),
    ("data-README.txt", "data/README.txt"),
];

/// Files written as they are, without template processing: the runtime is plain Python with no
/// fields to fill, and skipping Tera's parser for its 14 kB halves the cost of loading templates.
const VERBATIM: &[(&str, &str)] = &[
    ("nb2svc_runtime.py", "app/nb2svc_runtime.py"),
    ("nb2svc_inputs.py", "app/nb2svc_inputs.py"),
];

/// Refuses a file in the templates folder that is no template's name: a misspelled override
/// would otherwise be ignored without a word and the built-in template used.
fn check_override_names(dir: &Path) -> Result<()> {
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("reading templates folder {}", dir.display()))?;
    let mut unknown = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("reading templates folder {}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        // Hidden files are editors' and version control's (`.git`, `.main.py.swp`), not templates.
        if !name.starts_with('.') && !BUILTIN_TEMPLATES.iter().any(|(known, _)| *known == name) {
            unknown.push(name);
        }
    }
    if !unknown.is_empty() {
        unknown.sort();
        let known: Vec<&str> = BUILTIN_TEMPLATES.iter().map(|(name, _)| *name).collect();
        anyhow::bail!(
            "templates folder {} has files that are no template's name: {}; the templates are {}",
            dir.display(),
            unknown.join(", "),
            known.join(", ")
        );
    }
    Ok(())
}

/// The paths of the files nb2svc always generates, under the output folder: no file of the
/// notebook's may take their place.
pub fn generated_paths() -> impl Iterator<Item = &'static str> {
    OUTPUTS
        .iter()
        .chain(VERBATIM)
        .map(|(_, output)| *output)
        .chain(["requirements.txt", "requirements.in", ENV_EXAMPLE])
}

/// The file that lists the variables `.env` must give, with no value.
const ENV_EXAMPLE: &str = ".env.example";

fn view_needs_env_example(plan: &ServicePlan) -> bool {
    !plan.credentials.is_empty() || plan.loads_dotenv.is_some()
}

/// What a generated file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    Text(String),
    /// A copy of a file in the notebook's folder (path relative to it).
    CopyOf(String),
}

/// One file of the generated project, by its path inside the output folder.
#[derive(Debug, Clone)]
pub struct OutputFile {
    pub path: String,
    pub content: Content,
}

/// The templates to render with: the built-in ones, each replaced by a same-named file in
/// `overrides` when one is given.
pub struct Templates {
    /// The overrides, parsed when loaded so that a mistake in one is reported before any work.
    overrides: Tera,
    /// (output path, text) of the files written verbatim.
    verbatim: Vec<(&'static str, String)>,
}

/// Each built-in template parsed on its first use, once per process: a run renders only the
/// ones its service needs (no `env.example` without credentials), and a process converting
/// several notebooks (the devcontainer commands, the tests) parses them once.
static BUILTIN_PARSED: [OnceLock<Tera>; BUILTIN_TEMPLATES.len()] =
    [const { OnceLock::new() }; BUILTIN_TEMPLATES.len()];

/// A Tera with nb2svc's filters and no HTML escaping.
fn empty_tera() -> Tera {
    let mut tera = Tera::default();
    tera.autoescape_on(vec![]);
    escape::register(&mut tera);
    tera
}

/// The built-in template `name`, parsed.
fn builtin(name: &str) -> Result<&'static Tera> {
    let index = BUILTIN_TEMPLATES
        .iter()
        .position(|(builtin, _)| *builtin == name)
        .with_context(|| format!("no built-in template `{name}`"))?;
    if let Some(tera) = BUILTIN_PARSED[index].get() {
        return Ok(tera);
    }
    let mut tera = empty_tera();
    tera.add_raw_template(name, BUILTIN_TEMPLATES[index].1)
        .with_context(|| format!("parsing the built-in template `{name}`"))?;
    Ok(BUILTIN_PARSED[index].get_or_init(|| tera))
}

impl Templates {
    /// Renders the template `name`: the override of that name, else the built-in one.
    fn render(&self, name: &str, context: &tera::Context) -> Result<String> {
        let tera = if self.overrides.get_template_names().any(|n| n == name) {
            &self.overrides
        } else {
            builtin(name)?
        };
        tera.render(name, context)
            .with_context(|| format!("rendering template `{name}`"))
    }
}

/// Loads the templates, taking each from `overrides` when that folder has a file of its name.
/// Only the overrides are parsed here; the built-in templates are parsed when first rendered.
pub fn templates(overrides: Option<&Path>) -> Result<Templates> {
    let mut tera = empty_tera();
    let mut sources = Vec::new();
    let mut verbatim: Vec<(&'static str, String)> = VERBATIM
        .iter()
        .map(|(name, output)| (*output, builtin_text(name).to_string()))
        .collect();
    if let Some(dir) = overrides {
        anyhow::ensure!(
            dir.is_dir(),
            "templates folder {} does not exist",
            dir.display()
        );
        check_override_names(dir)?;
        for (name, _) in BUILTIN_TEMPLATES {
            let path = dir.join(name);
            if !path.exists() {
                continue;
            }
            let bytes = crate::input::read_bounded(&path, crate::input::TEXT_LIMIT, "template")?;
            let text = String::from_utf8(bytes)
                .with_context(|| format!("template {} is not UTF-8 text", path.display()))?;
            match VERBATIM.iter().find(|(template, _)| template == name) {
                Some((_, output)) => {
                    for (path, kept) in verbatim.iter_mut() {
                        if path == output {
                            *kept = text.clone();
                        }
                    }
                }
                None => sources.push((name.to_string(), text)),
            }
        }
    }
    tera.add_raw_templates(sources)
        .context("parsing the templates")?;
    Ok(Templates {
        overrides: tera,
        verbatim,
    })
}

/// The text of the built-in template `name` (one of [`BUILTIN_TEMPLATES`]).
fn builtin_text(name: &str) -> &'static str {
    BUILTIN_TEMPLATES
        .iter()
        .find(|(builtin, _)| *builtin == name)
        .map_or("", |(_, text)| text)
}

/// A cell as `notebook.py` shows it.
#[derive(Serialize)]
struct CellView<'a> {
    marker: String,
    code: &'a str,
    wrapped: bool,
    training: Option<&'a str>,
}

/// An artifact as templates show it.
#[derive(Serialize)]
struct ArtifactView<'a> {
    /// The name it is served under: `POST /predict/NAME`.
    name: &'a str,
    /// Path under `data/`.
    path: &'a str,
    /// `data/PATH`, as the README shows it.
    data_path: String,
    /// `joblib`, `pickle`, `pandas`, `keras` or `torch`.
    serializer: &'a str,
    /// `cell 3, line 2`: where the notebook saves it, when it does.
    saved_at: Option<String>,
    /// Where it is copied from in the notebook's project, when the notebook only loads it.
    shipped_from: Option<&'a str>,
    /// Its name says it predicts (not an encoder or a table).
    looks_like_model: bool,
}

/// A README row for an environment variable the notebook reads.
#[derive(Serialize)]
struct SettingView {
    name: String,
    /// What the service uses when it is unset, for people.
    default: String,
    meaning: String,
}

/// A credential taken out of the code, for the README and `.env.example`.
#[derive(Serialize)]
struct CredentialView {
    /// `A-Z`, digits and `_` only (see `python::credentials`).
    variable: String,
    /// Markdown: where and how it was written.
    origin: String,
    /// The service's code reads it, so it will not start without it.
    needed: bool,
    /// Whether the service needs it, for people.
    need: &'static str,
}

/// An endpoint with its curl body quoted for a POSIX shell.
#[derive(Serialize)]
struct EndpointView<'a> {
    #[serde(flatten)]
    endpoint: &'a Endpoint,
    example_shell: String,
}

/// The contract between nb2svc and template authors: every field a template can use.
/// Fields that hold user text are escaped by the templates' filters or prepared with
/// [`crate::escape`]; the few a template pastes raw are numbers, fixed words, Python
/// identifiers from the parsed notebook (endpoint names, request fields), the checked base
/// image, and the notebook's own code.
#[derive(Serialize)]
pub struct ServiceView<'a> {
    /// Human title, from the service name.
    title: String,
    /// One sentence for the OpenAPI description.
    description: String,
    /// The description as `main.py`'s `description=` argument, split as ruff formats it.
    description_argument: String,
    /// The notebook's file name.
    notebook_file: &'a str,
    /// Compose service name: lowercase letters, digits, `-`, `_`, `.`.
    name: &'a str,
    /// Image name used by the compose files.
    image: String,
    host_port: u16,
    container_port: u16,
    container_port_text: String,
    /// `"HOST:CONTAINER"`.
    port_mapping: String,
    /// The development file's mapping, on one host address (127.0.0.1 unless asked).
    dev_port_mapping: String,
    dev_address: String,
    base_image: &'a str,
    /// The Python the image runs, `3.10`.
    python_version: &'a str,
    /// Why that Python: a clause that reads after "because" (plain text, for `md_text`).
    python_because: &'a str,
    /// The lowest versions the generated code needs (`fastapi>=0.100`), as code spans.
    serving_floors: Vec<String>,
    /// `` `data/model.pkl` was pickled by scikit-learn 1.3.2 ``: README sentences.
    pickled_by: Vec<String>,
    /// `build` or `start`.
    train_at: &'static str,
    train_in_build: bool,
    /// uvicorn worker processes (WEB_CONCURRENCY).
    workers: u16,
    has_training: bool,
    wraps_training: bool,
    imports_notebook: bool,
    /// The notebook's folder inside `data/` (`data` or `data/SUBDIR`), for people.
    notebook_folder: String,
    /// `notebook_folder` with its closing `/`, as the README shows it in a code span.
    notebook_folder_shown: String,
    /// The notebook's folder relative to `data/` (empty at the top), for the runtime.
    notebook_subdir: &'a str,
    /// Data files the notebook reads that are not in its project (paths under `data/`).
    missing_data: Vec<&'a str>,
    /// Sentences about paths only known when the notebook runs.
    unknown_paths: Vec<String>,
    cells: Vec<CellView<'a>>,
    shims: &'a [String],
    /// `from __future__` lines that must open `notebook.py`.
    future_imports: &'a [String],
    endpoints: Vec<EndpointView<'a>>,
    /// ruff's name for the image's Python (`py311`), for the generated `ruff.toml`.
    ruff_target: String,
    /// The files of `app/` that are the author's code, not nb2svc's: `app/notebook.py` and the
    /// modules the notebook writes or imports.
    author_code: Vec<String>,
    /// The `typing` names `main.py` uses, sorted: its import line.
    typing_imports: Vec<String>,
    /// The pydantic names `main.py` uses (none without a function endpoint).
    pydantic_imports: Vec<&'static str>,
    /// Every artifact the static plan knows: saved with a path known before the notebook runs,
    /// or only loaded.
    artifacts: Vec<ArtifactView<'a>>,
    /// Artifacts the notebook only loads, shipped in `data/` and loaded by `main.py`.
    shipped_artifacts: Vec<&'a Artifact>,
    /// The notebook saves artifacts: the service loads what the runtime recorded.
    saves_artifacts: bool,
    /// The service serves saved models: `/models` and the prediction routes.
    serves_models: bool,
    default_model: Option<&'a str>,
    /// Environment variables the notebook reads: README rows.
    settings: Vec<SettingView>,
    /// `NAME: value` pairs for the compose files' `environment:`, values JSON-encoded.
    compose_settings: Vec<(String, String)>,
    /// Python dict literal of defaults nb2svc gives settings the notebook reads with none.
    setting_defaults: String,
    /// Python dict literal of required settings and where each is read.
    required_settings: String,
    /// Python dict literal of the credentials the code needs and where each was written.
    secret_settings: String,
    /// The code reads a credential back from `os.environ`: `notebook.py` imports `os`.
    reads_credentials: bool,
    /// Credentials taken out of the code: README rows and `.env.example` lines.
    credentials: Vec<CredentialView>,
    /// The compose files read `.env` (credentials, or a notebook that loads `.env`).
    env_file: bool,
    /// Where the notebook loads `.env`, for people.
    loads_dotenv: Option<String>,
    /// Python dict literal: the author's container folders -> the folders of `data/` serving
    /// them; empty when the project's Docker files place none.
    container_mounts: String,
    /// The same, for people: `/home/jovyan/work` is `data/jupyter_work` (docker-compose.yml line 9).
    container_folders: Vec<String>,
    /// Cells left out because they are not valid Python.
    unparsed: Vec<String>,
    /// Statements left out because nothing served depends on them: `cell N, line L: why`.
    left_out: Vec<String>,
    /// Data fetches that run when the notebook trains: `cell N, line L: downloads URL to F`.
    fetches: Vec<String>,
    /// What training does to the data, as nb2svc reads it: `cell N, line L: `code` — what`.
    preprocessing: Vec<String>,
    /// Where a prediction route visibly cannot replay that: `cell N, line L: why`.
    replay_warnings: Vec<String>,
    /// The orchestrators asked for (`--kubernetes`, `--swarm`), for the README.
    deploy: Option<crate::deploy::DeployView>,
    /// Human sentences for the README.
    dropped: Vec<String>,
    skipped: Vec<String>,
    added_requirements: Vec<String>,
    /// `requirements.txt` is a lock made by uv (`requirements.in` holds what was asked).
    locked: bool,
    /// The image installs with `uv pip install --require-hashes`.
    require_hashes: bool,
    /// For the README: `uv 0.13.9, for Python 3.11 on x86_64-manylinux_2_28 (the base image
    /// python:3.11-slim): 27 packages`, escaped for Markdown.
    lock_summary: String,
    /// The uv command that updates the lock by hand, when no project lock constrains it.
    lock_update_command: Option<String>,
    /// The project's lock whose versions were kept, in a Markdown code span.
    user_lock: Option<String>,
    /// Why the requirements are not locked, when they are not.
    unlocked_reason: Option<String>,
    /// The uv version the image installs with.
    uv_version: &'static str,
    /// `RUN --mount=type=cache` for uv's cache (BuildKit only).
    buildkit_cache: bool,
    /// The `COPY` lines of the training layer, each a JSON array (Docker's exec form): the
    /// files `python -m app.notebook` needs, grouped by folder.
    training_copies: Vec<String>,
    warnings: Vec<String>,
}

/// Renders every file of the service.
pub fn render(plan: &ServicePlan, templates: &Templates) -> Result<Vec<OutputFile>> {
    let view = view(plan);
    let context = tera::Context::from_serialize(serde_json::json!({ "service": view }))
        .context("preparing the template context")?;
    let mut files = Vec::new();
    for (template, path) in OUTPUTS {
        let text = templates.render(template, &context)?;
        files.push(OutputFile {
            path: path.to_string(),
            content: Content::Text(text),
        });
    }
    // Only a service with credentials or a `.env` of the notebook's has variables to list.
    if view_needs_env_example(plan) {
        let text = templates.render("env.example", &context)?;
        files.push(OutputFile {
            path: ENV_EXAMPLE.to_string(),
            content: Content::Text(text),
        });
    }
    files.extend(crate::deploy::files(plan)?);
    for (path, text) in &templates.verbatim {
        files.push(OutputFile {
            path: path.to_string(),
            content: Content::Text(text.clone()),
        });
    }
    let intent = requirements::render_requirements_txt(&plan.requirements);
    match plan.lock.locked() {
        // The lock is what the image installs; what was asked for stays readable beside it,
        // byte for byte what uv resolved.
        Some(lock) => {
            files.push(OutputFile {
                path: "requirements.in".into(),
                content: Content::Text(intent),
            });
            files.push(OutputFile {
                path: "requirements.txt".into(),
                content: Content::Text(lock.text.clone()),
            });
        }
        None => files.push(OutputFile {
            path: "requirements.txt".into(),
            content: Content::Text(intent),
        }),
    }
    for module in &plan.modules {
        let content = match &module.origin {
            ModuleOrigin::Writefile { contents, .. } => Content::Text(contents.clone()),
            ModuleOrigin::Copied { source } => Content::CopyOf(source.clone()),
            ModuleOrigin::Rewritten { contents, .. } => Content::Text(contents.clone()),
        };
        files.push(OutputFile {
            path: format!("app/{}", module.path),
            content,
        });
    }
    for data in &plan.data_files {
        files.push(OutputFile {
            path: format!("data/{}", data.path),
            content: Content::CopyOf(data.source.clone()),
        });
    }
    for (path, contents) in &plan.written_data {
        files.push(OutputFile {
            path: format!("data/{path}"),
            content: Content::Text(contents.clone()),
        });
    }
    for artifact in &plan.artifacts {
        if let Some(source) = &artifact.shipped_from {
            files.push(OutputFile {
                path: format!("data/{}", artifact.path),
                content: Content::CopyOf(source.clone()),
            });
        }
    }
    // Later entries for the same path (a data file also loaded as an artifact) add nothing.
    let mut seen = std::collections::BTreeSet::new();
    files.retain(|file| seen.insert(file.path.clone()));
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// ruff's name for a Python version: `3.10` → `py310`; the oldest the generated code
/// supports, `py39`, for anything else, so the linter never asks for newer syntax.
fn ruff_target(version: &str) -> String {
    match version.split('.').collect::<Vec<_>>().as_slice() {
        ["3", minor, ..] if minor.parse::<u32>().is_ok_and(|m| m >= 9) => format!("py3{minor}"),
        _ => "py39".to_string(),
    }
}

fn view(plan: &ServicePlan) -> ServiceView<'_> {
    let title = plan
        .name
        .split(['-', '_', '.'])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            chars
                .next()
                .map(|c| c.to_uppercase().collect::<String>() + chars.as_str())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ");
    let cells = plan.cells.iter().map(cell_view).collect();
    let python_dict = |pairs: Vec<(String, String)>| {
        let map: BTreeMap<String, String> = pairs.into_iter().collect();
        escape::python_str_dict(map.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    };
    let setting_defaults = python_dict(
        plan.settings
            .iter()
            .filter(|s| s.default_from_nb2svc)
            .filter_map(|s| Some((s.name.clone(), s.default.clone()?)))
            .collect(),
    );
    let required_settings = python_dict(
        plan.settings
            .iter()
            .filter(|s| s.required && !s.secret)
            .map(|s| (s.name.clone(), s.location.to_string()))
            .collect(),
    );
    let secret_settings = python_dict(
        plan.settings
            .iter()
            .filter(|s| s.required && s.secret)
            .map(|s| (s.name.clone(), s.location.to_string()))
            .collect(),
    );
    let credentials: Vec<CredentialView> = plan
        .credentials
        .iter()
        .map(|c| {
            let needed = plan
                .settings
                .iter()
                .any(|s| s.secret && s.required && s.name == c.variable);
            CredentialView {
                variable: c.variable.clone(),
                origin: format!("{} in {}", c.written_as, c.place),
                needed,
                need: match (needed, c.read_back) {
                    (true, _) => "yes",
                    (false, true) => "no: only statements the service leaves out read it",
                    (false, false) => "no: the code only put it in the environment, for libraries that read it there",
                },
            }
        })
        .collect();
    let compose_settings = plan
        .settings
        .iter()
        .filter_map(|s| {
            let value = s.default.as_deref()?;
            // Compose substitutes `$NAME` in values: `$$` is a literal `$`.
            let literal = value.replace('$', "$$");
            Some((escape::yaml_string(&s.name), escape::yaml_string(&literal)))
        })
        .collect();
    let settings = plan
        .settings
        .iter()
        .map(|s| SettingView {
            name: s.name.clone(),
            default: match (&s.default, s.required) {
                _ if s.secret => "none: from `.env`".into(),
                (Some(value), _) => escape::markdown_code(value),
                (None, true) => "none: required".into(),
                (None, false) => "none (`None` in the code)".into(),
            },
            meaning: format!(
                "Read by the notebook in {}{}.",
                s.location,
                if s.secret {
                    "; a credential that was written in the code (see \"Credentials\")"
                } else if s.default_from_nb2svc {
                    "; it names a path the notebook writes, so nb2svc gives it a default (a folder in the notebook's folder)"
                } else {
                    ""
                }
            ),
        })
        .collect();
    let serves_models =
        plan.saves_artifacts || plan.artifacts.iter().any(|a| a.shipped_from.is_some());
    let shipped_artifacts: Vec<&Artifact> = plan
        .artifacts
        .iter()
        .filter(|a| a.shipped_from.is_some())
        .collect();
    let added_requirements = plan
        .requirements
        .missing
        .iter()
        .map(|r| match &r.origin {
            Origin::Import { module, cells } if !cells.is_empty() => format!(
                "{} (imported as {} in {})",
                escape::markdown_code(&r.text),
                escape::markdown_code(module),
                cells
                    .iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Origin::Import { module, .. } => format!(
                "{} (imported as {} by a shipped module)",
                escape::markdown_code(&r.text),
                escape::markdown_code(module)
            ),
            _ => escape::markdown_code(&r.text),
        })
        .collect();
    let lock = plan.lock.locked();
    ServiceView {
        locked: lock.is_some(),
        require_hashes: lock.is_some_and(|l| l.hashed),
        lock_summary: lock
            .map(|l| {
                format!(
                    "{} packages, resolved by {} for Python {} ({}) on {}",
                    l.packages.len(),
                    l.resolver,
                    l.target.python,
                    escape::markdown_text(&l.target.python_from),
                    l.target.platform,
                )
            })
            .unwrap_or_default(),
        lock_update_command: lock.filter(|l| l.user_lock.is_none()).map(|l| {
            format!(
                "uv pip compile --generate-hashes --no-header --python-version {} --python-platform {} requirements.in -o requirements.txt",
                l.target.python, l.target.platform
            )
        }),
        user_lock: lock
            .and_then(|l| l.user_lock.as_ref())
            .map(|u| escape::markdown_code(&u.file)),
        unlocked_reason: match &plan.lock {
            crate::lock::LockState::Unlocked { reason } => Some(escape::markdown_text(reason)),
            crate::lock::LockState::Locked(_) => None,
        },
        uv_version: crate::lock::IMAGE_UV_VERSION,
        buildkit_cache: plan.buildkit_cache,
        training_copies: training_copies(plan),
        description: format!("Generated by nb2svc from {}.", plan.notebook_file),
        description_argument: escape::python_string_argument(
            &format!("Generated by nb2svc from {}.", plan.notebook_file),
            "    description=".len(),
            8,
        ),
        title,
        notebook_file: &plan.notebook_file,
        name: &plan.name,
        image: format!("{}:latest", plan.name),
        host_port: plan.host_port,
        container_port: plan.container_port,
        container_port_text: plan.container_port.to_string(),
        port_mapping: format!("{}:{}", plan.host_port, plan.container_port),
        dev_address: plan.dev_address.to_string(),
        dev_port_mapping: match plan.dev_address {
            std::net::IpAddr::V6(address) => {
                format!("[{address}]:{}:{}", plan.host_port, plan.container_port)
            }
            address => format!("{address}:{}:{}", plan.host_port, plan.container_port),
        },
        base_image: &plan.base_image,
        python_version: &plan.python.version,
        python_because: &plan.python.because,
        serving_floors: crate::plan::SERVING_PACKAGES
            .iter()
            .map(|floor| escape::markdown_code(floor.spec))
            .collect(),
        pickled_by: plan
            .requirements
            .pickled_by
            .iter()
            .map(|made| {
                format!(
                    "{} was pickled by {} {}",
                    escape::markdown_code(&made.file),
                    made.distribution,
                    escape::markdown_text(&made.version)
                )
            })
            .collect(),
        train_at: match plan.train_at {
            TrainAt::Build => "build",
            TrainAt::Start => "start",
        },
        train_in_build: plan.train_in_build,
        workers: plan.workers,
        has_training: plan.cells.iter().any(|c| c.training.is_some())
            || plan.artifacts.iter().any(|a| a.saved_at.is_some()),
        wraps_training: plan.cells.iter().any(|c| c.wrapped),
        imports_notebook: plan.imports_notebook,
        notebook_folder: if plan.notebook_subdir.is_empty() {
            "data".into()
        } else {
            format!("data/{}", plan.notebook_subdir)
        },
        notebook_folder_shown: if plan.notebook_subdir.is_empty() {
            "data/".into()
        } else {
            format!("data/{}/", plan.notebook_subdir)
        },
        notebook_subdir: &plan.notebook_subdir,
        missing_data: plan.missing_data.iter().map(String::as_str).collect(),
        unknown_paths: plan
            .unknown_paths
            .iter()
            .map(|u| {
                format!(
                    "{}: {} {}",
                    u.location,
                    u.access,
                    escape::markdown_code(&u.written.replace('\n', " "))
                )
            })
            .collect(),
        cells,
        shims: &plan.needs_ipython_shims,
        future_imports: &plan.future_imports,
        endpoints: plan
            .endpoints
            .iter()
            .map(|endpoint| EndpointView {
                endpoint,
                example_shell: escape::shell_single_quoted(&endpoint.example.to_string()),
            })
            .collect(),
        artifacts: plan
            .artifacts
            .iter()
            .map(|a| ArtifactView {
                name: &a.name,
                path: &a.path,
                data_path: format!("data/{}", a.path),
                serializer: a.serializer,
                saved_at: a.saved_at.as_ref().map(ToString::to_string),
                shipped_from: a.shipped_from.as_deref(),
                looks_like_model: a.looks_like_model,
            })
            .collect(),
        ruff_target: ruff_target(&plan.python.version),
        author_code: std::iter::once("app/notebook.py".to_string())
            .chain(plan.modules.iter().map(|m| format!("app/{}", m.path)))
            .collect(),
        typing_imports: {
            let mut names: BTreeSet<String> = plan
                .endpoints
                .iter()
                .flat_map(|e| e.typing_names.iter().cloned())
                .collect();
            if serves_models {
                names.insert("Any".to_string());
            }
            names.into_iter().collect()
        },
        pydantic_imports: match (
            plan.endpoints.is_empty(),
            plan.endpoints.iter().any(|e| e.uses_field),
        ) {
            (true, _) => Vec::new(),
            (false, false) => vec!["BaseModel", "ConfigDict"],
            (false, true) => vec!["BaseModel", "ConfigDict", "Field"],
        },
        serves_models,
        shipped_artifacts,
        saves_artifacts: plan.saves_artifacts,
        default_model: plan.default_model.as_deref(),
        settings,
        compose_settings,
        setting_defaults,
        required_settings,
        secret_settings,
        reads_credentials: plan.credentials.iter().any(|c| c.read_back),
        env_file: view_needs_env_example(plan),
        loads_dotenv: plan.loads_dotenv.as_ref().map(|l| l.to_string()),
        credentials,
        container_mounts: if plan.container_mounts.is_empty() {
            String::new()
        } else {
            python_dict(
                plan.container_mounts
                    .iter()
                    .map(|m| (m.container.clone(), m.data_path.clone()))
                    .collect(),
            )
        },
        container_folders: plan
            .container_mounts
            .iter()
            .map(|m| {
                format!(
                    "{} is {} ({})",
                    escape::markdown_code(&m.container),
                    escape::markdown_code(&format!("data/{}", m.data_path)),
                    m.said_in
                )
            })
            .collect(),
        fetches: plan.fetches.iter().map(fetch_sentence).collect(),
        preprocessing: plan
            .preprocessing
            .iter()
            .map(|step| {
                format!(
                    "{}: {} — {}",
                    step.location,
                    escape::markdown_code(&step.text),
                    step.description
                )
            })
            .collect(),
        replay_warnings: plan.replay_warnings.iter().map(|w| w.to_string()).collect(),
        left_out: plan
            .left_out
            .iter()
            .map(|(location, text, reason)| {
                format!("{location}: {}: {reason}", escape::markdown_code(text))
            })
            .collect(),
        unparsed: plan
            .unparsed_cells
            .iter()
            .map(|(_, reason)| reason.clone())
            .collect(),
        dropped: plan
            .dropped
            .iter()
            .map(|d| {
                format!(
                    "{}: {}: {}",
                    d.location,
                    escape::markdown_code(&d.text),
                    d.reason
                )
            })
            .collect(),
        skipped: plan.skipped_cells.iter().map(|c| c.to_string()).collect(),
        deploy: crate::deploy::view(plan),
        added_requirements,
        // The replay warnings are shown with the preprocessing they are about.
        warnings: plan
            .warnings
            .iter()
            .filter(|w| !plan.replay_warnings.contains(w))
            .map(|w| w.to_string())
            .collect(),
    }
}

/// The `COPY` lines (JSON arrays) of what training at build needs: the package, the runtime
/// that records what the notebook saves, the notebook's code and the modules it imports,
/// grouped by the folder they go to. Everything else of `app/` (`main.py`, the serving code)
/// is copied after training, so that editing it does not train again.
fn training_copies(plan: &ServicePlan) -> Vec<String> {
    let mut by_folder: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let fixed = [
        "__init__.py",
        "nb2svc_inputs.py",
        "nb2svc_runtime.py",
        "notebook.py",
    ];
    let modules = plan.modules.iter().map(|m| m.path.as_str());
    for path in fixed.into_iter().chain(modules) {
        let folder = match path.rsplit_once('/') {
            Some((folder, _)) => format!("./app/{folder}/"),
            None => "./app/".to_string(),
        };
        let files = by_folder.entry(folder).or_default();
        let source = format!("app/{path}");
        if !files.contains(&source) {
            files.push(source);
        }
    }
    by_folder
        .into_iter()
        .map(|(folder, mut files)| {
            files.sort();
            files.push(folder);
            // JSON strings, as Docker's exec form reads them: no path can break the line.
            let quoted: Vec<String> = files
                .iter()
                .map(|f| serde_json::Value::from(f.as_str()).to_string())
                .collect();
            format!("[{}]", quoted.join(", "))
        })
        .collect()
}

/// `cell 2, line 1: downloads <URL> to `wine.csv``, for the README.
fn fetch_sentence(fetch: &crate::extract::Fetch) -> String {
    use crate::extract::FetchKind;
    let what = match (&fetch.kind, &fetch.url, &fetch.archive) {
        (FetchKind::Download, Some(url), _) => format!(
            "downloads {} to {}",
            escape::markdown_url(url),
            escape::markdown_code(&fetch.dest)
        ),
        (FetchKind::Unpack, _, Some(archive)) => format!(
            "unpacks {} into {}",
            escape::markdown_code(archive),
            escape::markdown_code(&fetch.dest)
        ),
        _ => format!("creates the folder {}", escape::markdown_code(&fetch.dest)),
    };
    format!("{}: {what}", fetch.location)
}

fn cell_view(cell: &PlannedCell) -> CellView<'_> {
    let id = cell
        .cell
        .id
        .as_ref()
        .map(|id| format!(" (id {})", escape::one_line(id)))
        .unwrap_or_default();
    CellView {
        marker: format!(
            "cell {}{id}, line {}",
            cell.cell.number,
            cell.line_offset + 1
        ),
        code: cell.code.trim_end_matches('\n'),
        wrapped: cell.wrapped,
        training: cell.training.as_deref(),
    }
}
