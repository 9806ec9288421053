//! The views templates read: one struct per thing a template shows, made from the
//! [`ServicePlan`] once, with every decision (which routes, which sentence, which path) taken
//! here. The fields hold only strings, numbers, bools and lists of views; no plan struct is
//! passed through, so a template cannot print one.

use std::collections::{BTreeMap, BTreeSet};

use super::contract::view_struct;
use crate::escape;
use crate::plan::{PlannedCell, ServicePlan, TrainAt};
use crate::requirements::Origin;

view_struct! {
    /// A cell as `notebook.py` shows it.
    pub struct CellView {
        /// `cell 3 (id abc), line 1`: the `# %%` marker, pointing back to the notebook.
        marker: String,
        /// The cell's code as nb2svc kept it (magics replaced), without trailing newlines.
        code: String,
        /// The cell trains and the service imports the notebook: `notebook.py` runs it under
        /// `if _nb2svc_training:`.
        wrapped: bool,
        /// Why nb2svc counts the cell as training (`calls fit`), when it does.
        training: Option<String>,
    }
}

view_struct! {
    /// An artifact as templates show it.
    pub struct ArtifactView {
        /// The name it is served under: `POST /predict/NAME`.
        name: String,
        /// Path under `data/`.
        path: String,
        /// `data/PATH`, as the README shows it.
        data_path: String,
        /// `joblib`, `pickle`, `pandas`, `keras` or `torch`.
        serializer: String,
        /// `cell 3, line 2`: where the notebook saves it, when it does.
        saved_at: Option<String>,
        /// Where it is copied from in the notebook's project, when the notebook only loads it.
        shipped_from: Option<String>,
        /// Its name says it predicts (not an encoder or a table).
        looks_like_model: bool,
    }
}

view_struct! {
    /// A README row for an environment variable the notebook reads.
    pub struct SettingView {
        /// The variable's name, as the notebook reads it.
        name: String,
        /// What the service uses when it is unset, for people (Markdown).
        default: String,
        /// Where the notebook reads it and what nb2svc made of it (Markdown).
        meaning: String,
    }
}

view_struct! {
    /// One entry of the compose files' `environment:`.
    pub struct ComposeSettingView {
        /// The variable's name, YAML-quoted.
        name: String,
        /// Its default, YAML-quoted, with `$` doubled (compose would substitute it).
        value: String,
    }
}

view_struct! {
    /// A credential taken out of the code, for the README and `.env.example`.
    pub struct CredentialView {
        /// `A-Z`, digits and `_` only (see `python::credentials`).
        variable: String,
        /// Markdown: where and how it was written.
        origin: String,
        /// The service's code reads it, so it will not start without it.
        needed: bool,
        /// Whether the service needs it, for people.
        need: String,
    }
}

view_struct! {
    /// A runtime module the service ships, as the README lists it.
    pub struct RuntimeModuleView {
        /// `app/nb2svc_models.py`.
        path: String,
        /// What it does, for people (Markdown).
        purpose: &'static str,
    }
}

view_struct! {
    /// A notebook function served as `POST /NAME`.
    pub struct EndpointView {
        /// The notebook function's name.
        function: String,
        /// `/NAME`.
        route: String,
        /// The route function's name in `main.py`.
        handler: String,
        /// The pydantic class of the request body.
        request_model: String,
        /// Field declarations of the request model, one Python line each.
        fields: Vec<String>,
        /// The notebook function is `async def`.
        is_async: bool,
        /// Where the function is defined, as a person would say it: `cell 3`.
        cell: String,
        /// The OpenAPI summary of the route.
        summary: String,
        /// A request body that validates, quoted for a POSIX shell (the README's curl line).
        example_shell: String,
    }
}

view_struct! {
    /// A row of the README's table of routes.
    pub struct RouteView {
        /// `GET` or `POST`.
        method: String,
        /// The paths as Markdown code spans, ready for a table cell: `` `/docs`, `/openapi.json` ``.
        paths: String,
        /// What the route does, Markdown, ready for a table cell.
        does: String,
    }
}

view_struct! {
    /// When the notebook's code runs, decided once for the README and the run's report.
    pub struct TrainingView {
        /// `build` (trains in the image build), `start` (trains when the service starts),
        /// `import` (only imports the notebook's code at start) or `never`.
        when: String,
        /// The report's words: `during the image build`.
        summary: String,
        /// The README's paragraph (Markdown, wrapped), without the sentences every service shares.
        paragraph: String,
    }
}

view_struct! {
    /// The contract between nb2svc and template authors: every field a template can use.
    /// Fields that hold user text are escaped by the templates' filters or prepared with
    /// [`crate::escape`]; the few a template pastes raw are numbers, fixed words, Python
    /// identifiers from the parsed notebook (endpoint names, request fields), the checked base
    /// image, and the notebook's own code.
    pub struct ServiceView {
        /// Human title, from the service name.
        title: String,
        /// One sentence for the OpenAPI description.
        description: String,
        /// The description as `main.py`'s `description=` argument, split as ruff formats it.
        description_argument: String,
        /// The notebook's file name.
        notebook_file: String,
        /// Compose service name: lowercase letters, digits, `-`, `_`, `.`.
        name: String,
        /// Image name used by the compose files.
        image: String,
        /// The port published on the host.
        host_port: u16,
        /// The port uvicorn listens on inside the container.
        container_port: u16,
        /// `container_port` as a string, for the compose files' `command:` (YAML-quoted there).
        container_port_text: String,
        /// `"HOST:CONTAINER"`.
        port_mapping: String,
        /// The development file's mapping, on one host address (127.0.0.1 unless asked).
        dev_port_mapping: String,
        /// The host address the development compose file publishes on (`127.0.0.1`).
        dev_address: String,
        /// The checked base image reference (`python:3.11-slim`), pasted into `FROM`.
        base_image: String,
        /// The Python the image runs, `3.10`.
        python_version: String,
        /// Why that Python: a clause that reads after "because" (plain text, for `md_text`).
        python_because: String,
        /// The lowest versions the generated code needs (`fastapi>=0.100`), as code spans.
        serving_floors: Vec<String>,
        /// `` `data/model.pkl` was pickled by scikit-learn 1.3.2 ``: README sentences.
        pickled_by: Vec<String>,
        /// `build` or `start`.
        train_at: &'static str,
        /// The image build runs the notebook's training (`RUN python -m app.notebook`).
        train_in_build: bool,
        /// uvicorn worker processes (WEB_CONCURRENCY).
        workers: u16,
        /// The notebook has training cells or saves artifacts: `python -m app.notebook` trains.
        has_training: bool,
        /// Some cells are wrapped in `if _nb2svc_training:` (the service imports the notebook and
        /// must not train again).
        wraps_training: bool,
        /// The service imports `app/notebook.py` at start (for its functions, or to train).
        imports_notebook: bool,
        /// When the notebook's code runs: the README's paragraph and the report's words.
        training: TrainingView,
        /// The notebook's folder inside `data/` (`data` or `data/SUBDIR`), for people.
        notebook_folder: String,
        /// `notebook_folder` with its closing `/`, as the README shows it in a code span.
        notebook_folder_shown: String,
        /// The notebook's folder relative to `data/` (empty at the top), for the runtime.
        notebook_subdir: String,
        /// Data files the notebook reads that are not in its project (paths under `data/`).
        missing_data: Vec<String>,
        /// Sentences about paths only known when the notebook runs.
        unknown_paths: Vec<String>,
        /// The notebook's code cells, in order, for `notebook.py`.
        cells: Vec<CellView>,
        /// IPython names `notebook.py` imports from the runtime (`display`, `get_ipython`).
        shims: Vec<String>,
        /// `from __future__` lines that must open `notebook.py`.
        future_imports: Vec<String>,
        /// The notebook functions served as `POST /NAME`.
        endpoints: Vec<EndpointView>,
        /// Every route of the service, for the README's table (the run's report lists the same).
        routes: Vec<RouteView>,
        /// The README's curl lines, one command each (a POST spans three lines).
        curl_examples: Vec<String>,
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
        artifacts: Vec<ArtifactView>,
        /// Artifacts the notebook only loads, shipped in `data/` and loaded by `main.py`.
        shipped_artifacts: Vec<ArtifactView>,
        /// The notebook saves artifacts: the service loads what the runtime recorded.
        saves_artifacts: bool,
        /// The service serves saved models: `/models` and the prediction routes.
        serves_models: bool,
        /// The model `POST /predict` prefers when it is loaded (a name the notebook saves).
        default_model: Option<String>,
        /// Environment variables the notebook reads: README rows.
        settings: Vec<SettingView>,
        /// The compose files' `environment:` entries, name and value YAML-quoted.
        compose_settings: Vec<ComposeSettingView>,
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
        /// Lines dropped from the code (magics, shell commands), one item for each text and
        /// reason: `cell N, line L: `code`: why`, with every place it was dropped from.
        dropped: Vec<String>,
        /// Cells skipped by a tag or `# nb2svc: skip`: `cell 4`.
        skipped: Vec<String>,
        /// Packages added to the requirements, each with the import that asked for it (Markdown).
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
        /// The runtime modules the service ships (`app/nb2svc_runtime.py`, ...), for the README.
        runtime_modules: Vec<RuntimeModuleView>,
        /// The notebook downloads or unpacks data: `notebook.py` imports `app/nb2svc_fetch.py`.
        fetches_data: bool,
        /// The README's warnings (those about replaying preprocessing are shown with it).
        warnings: Vec<String>,
    }
}

/// The view of `plan` every template renders from.
pub fn view(plan: &ServicePlan) -> ServiceView {
    let runtime_modules = super::runtime::modules_for(plan);
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
                }
                .to_string(),
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
            Some(ComposeSettingView {
                name: escape::yaml_string(&s.name),
                value: escape::yaml_string(&literal),
            })
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
    let serves_models = super::routes::serves_models(plan);
    let routes = super::routes::routes(plan);
    let artifacts: Vec<ArtifactView> = plan.artifacts.iter().map(artifact_view).collect();
    let shipped_artifacts = plan
        .artifacts
        .iter()
        .filter(|a| a.shipped_from.is_some())
        .map(artifact_view)
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
        training_copies: super::training_copies(plan),
        fetches_data: runtime_modules
            .iter()
            .any(|module| module.file == "nb2svc_fetch.py"),
        runtime_modules: runtime_modules
            .iter()
            .map(|module| RuntimeModuleView {
                path: format!("app/{}", module.file),
                purpose: module.purpose,
            })
            .collect(),
        description: format!("Generated by nb2svc from {}.", plan.notebook_file),
        description_argument: escape::python_string_argument(
            &format!("Generated by nb2svc from {}.", plan.notebook_file),
            "    description=".len(),
            8,
        ),
        title,
        notebook_file: plan.notebook_file.clone(),
        name: plan.name.clone(),
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
        base_image: plan.base_image.clone(),
        python_version: plan.python.version.clone(),
        python_because: plan.python.because.clone(),
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
        has_training: super::training::has_training(plan),
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
        notebook_subdir: plan.notebook_subdir.clone(),
        missing_data: plan.missing_data.clone(),
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
        shims: plan.needs_ipython_shims.clone(),
        future_imports: plan.future_imports.clone(),
        endpoints: plan.endpoints.iter().map(endpoint_view).collect(),
        routes: routes
            .iter()
            .map(|route| RouteView {
                method: route.method.to_string(),
                paths: route
                    .paths
                    .iter()
                    .map(|path| escape::markdown_table_cell(&escape::markdown_code(path)))
                    .collect::<Vec<_>>()
                    .join(", "),
                does: route.does.clone(),
            })
            .collect(),
        curl_examples: routes.iter().filter_map(|r| r.curl.clone()).collect(),
        training: training_view(plan),
        artifacts,
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
        default_model: plan.default_model.clone(),
        settings,
        compose_settings,
        setting_defaults,
        required_settings,
        secret_settings,
        reads_credentials: plan.credentials.iter().any(|c| c.read_back),
        env_file: super::view_needs_env_example(plan),
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
        dropped: dropped_lines(&plan.dropped),
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

/// The README's items for the lines dropped from the code, in the order of their first place:
/// the same line dropped for the same reason in many cells (`%matplotlib inline` in each) is
/// one item that says where.
fn dropped_lines(dropped: &[crate::extract::Dropped]) -> Vec<String> {
    let mut groups: Vec<(&crate::extract::Dropped, Vec<&crate::diagnostics::Location>)> =
        Vec::new();
    let mut group_of: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for line in dropped {
        let next = groups.len();
        let group = *group_of
            .entry((line.text.as_str(), line.reason.as_str()))
            .or_insert(next);
        if group == next {
            groups.push((line, Vec::new()));
        }
        groups[group].1.push(&line.location);
    }
    groups
        .into_iter()
        .map(|(line, places)| {
            format!(
                "{}: {}: {}",
                crate::diagnostics::places(&places, "; "),
                escape::markdown_code(&line.text),
                line.reason
            )
        })
        .collect()
}

/// ruff's name for a Python version: `3.10` → `py310`; the oldest the generated code
/// supports, `py39`, for anything else, so the linter never asks for newer syntax.
fn ruff_target(version: &str) -> String {
    match version.split('.').collect::<Vec<_>>().as_slice() {
        ["3", minor, ..] if minor.parse::<u32>().is_ok_and(|m| m >= 9) => format!("py3{minor}"),
        _ => "py39".to_string(),
    }
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

fn cell_view(cell: &PlannedCell) -> CellView {
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
        code: cell.code.trim_end_matches('\n').to_string(),
        wrapped: cell.wrapped,
        training: cell.training.clone(),
    }
}

fn artifact_view(artifact: &crate::plan::Artifact) -> ArtifactView {
    ArtifactView {
        name: artifact.name.clone(),
        path: artifact.path.clone(),
        data_path: format!("data/{}", artifact.path),
        serializer: artifact.serializer.to_string(),
        saved_at: artifact.saved_at.as_ref().map(ToString::to_string),
        shipped_from: artifact.shipped_from.clone(),
        looks_like_model: artifact.looks_like_model,
    }
}

fn endpoint_view(endpoint: &crate::plan::Endpoint) -> EndpointView {
    EndpointView {
        function: endpoint.function.clone(),
        route: endpoint.route.clone(),
        handler: endpoint.handler.clone(),
        request_model: endpoint.request_model.clone(),
        fields: endpoint.fields.clone(),
        is_async: endpoint.is_async,
        cell: endpoint.cell.clone(),
        summary: endpoint.summary.clone(),
        example_shell: escape::shell_single_quoted(&endpoint.example.to_string()),
    }
}

fn training_view(plan: &ServicePlan) -> TrainingView {
    let when = super::training::WhenCodeRuns::of(plan);
    TrainingView {
        when: when.word().to_string(),
        summary: when.summary().to_string(),
        paragraph: when.paragraph(plan.imports_notebook),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::{CellRef, Location};
    use crate::extract::Dropped;

    fn dropped(cell: usize, text: &str, reason: &str) -> Dropped {
        Dropped {
            location: Location {
                cell: CellRef::new(cell, None),
                line: 1,
            },
            text: text.into(),
            reason: reason.into(),
        }
    }

    #[test]
    fn a_line_dropped_in_many_cells_is_one_item_that_says_where() {
        let mut lines: Vec<Dropped> = (1..=8)
            .map(|cell| {
                dropped(
                    cell,
                    "%matplotlib inline",
                    "only affects the notebook session",
                )
            })
            .collect();
        lines.insert(1, dropped(9, "!ls", "a shell command"));
        assert_eq!(
            dropped_lines(&lines),
            [
                "cell 1, line 1; cell 2, line 1; cell 3, line 1 and 5 more: `%matplotlib inline`: only affects the notebook session",
                "cell 9, line 1: `!ls`: a shell command",
            ]
        );
    }
}
