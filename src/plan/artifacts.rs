//! What the notebook's file paths become: data files shipped in `data/`, artifacts the service
//! loads, and what can only be known once the notebook runs.
//!
//! The service's `data/` folder stands for the notebook's project folder, and the notebook's
//! code runs in its own folder inside it, as in Jupyter; so no path is rewritten. A file the
//! notebook reads is shipped at its place in the project when its path is known before the
//! notebook runs (see `python::values`) and it exists; an artifact the notebook saves is
//! recorded by the runtime as it is written (the manifest), so the static plan here only says
//! what to expect.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;

use crate::diagnostics::{Location, Warning};
use crate::extract::ExtractedCell;
use crate::python::values::settings_in;
use crate::python::{ModuleFacts, PathAccess, Serializer};
use crate::requirements::PickledBy;
use crate::workspace::container_paths::{normalize_absolute, project_path_of, ContainerMount};
use crate::workspace::{depth_above, project_path, SourceFiles};

use super::containment::{check_read, check_shipped};
use super::paths;
use super::{Artifact, ContainerFolder, DataFile, UnknownPath};

/// What the paths of the notebook become.
#[derive(Default)]
pub(super) struct PathPlan {
    pub(super) artifacts: Vec<Artifact>,
    pub(super) data_files: Vec<DataFile>,
    /// Files read that are not in the project (paths as the notebook writes them).
    pub(super) missing_data: Vec<String>,
    /// Paths only known when the notebook runs.
    pub(super) unknown: Vec<UnknownPath>,
    /// The notebook saves an artifact (known path or not): the runtime's manifest lists it.
    pub(super) saves_artifacts: bool,
    /// The notebook's folder inside `data/`: its place in the project, under as many of the
    /// folders above the project as the notebook's paths reach through `..`.
    pub(super) subdir: String,
    /// The author's container folders and the folders of `data/` that serve them.
    pub(super) container_mounts: Vec<ContainerFolder>,
}

/// Where in `data/` the rest of the author's container folders goes.
const CONTAINER_FOLDER: &str = "_container";

/// The project's own Docker files place the author's container folders in the project; the
/// notebook reads paths of that container (`/home/jovyan/work/x.csv`).
struct Mounts {
    mounts: Vec<ContainerMount>,
    /// `../` as many times as the notebook's folder is deep in the project.
    up_to_root: String,
    /// The folders of `data/` above the project's own, when the notebook writes above it.
    above: String,
}

impl Mounts {
    fn new(files: &dyn SourceFiles, data_subdir: &str) -> Mounts {
        let real = files.notebook_subdir();
        let depth = real.split('/').filter(|p| !p.is_empty()).count();
        let above = data_subdir
            .strip_suffix(real)
            .unwrap_or_default()
            .trim_end_matches('/')
            .to_string();
        Mounts {
            // A container's whole root says nothing about where a file is.
            mounts: files
                .container_mounts()
                .into_iter()
                .filter(|m| m.container != "/")
                .collect(),
            up_to_root: "../".repeat(depth),
            above,
        }
    }

    /// The container path `value` as the notebook's code would reach it from its folder: the
    /// first place in the project, by the longest matching mount, that holds something (the
    /// first place at all for a path only written). Several containers may mount different
    /// folders at one path (`/app` of the API and of Jupyter).
    fn notebook_relative(&self, value: &str, files: &dyn SourceFiles) -> Option<String> {
        if !value.starts_with('/') {
            return None;
        }
        let places: Vec<String> = self
            .places_of(value)
            .into_iter()
            .map(|held| format!("{}{held}", self.up_to_root))
            .collect();
        places
            .iter()
            .find(|p| files.exists(p) || files.is_dir(p))
            .or(places.first())
            .cloned()
    }

    /// Every project path a container path stands for, longest mount first.
    fn places_of(&self, container_path: &str) -> Vec<String> {
        let mut matching: Vec<(usize, String)> = self
            .mounts
            .iter()
            .filter_map(|m| {
                let (held, _) = project_path_of(std::slice::from_ref(m), container_path)?;
                Some((m.container.len(), held))
            })
            .collect();
        matching.sort_by_key(|(length, _)| std::cmp::Reverse(*length));
        matching.into_iter().map(|(_, held)| held).collect()
    }

    /// A relative path the notebook reads that the project does not hold where the notebook
    /// sits, but does where the author's container resolved it: the notebook's folder was
    /// mounted elsewhere there (`models_volume/notebook` at `/app/models/notebook`, reading
    /// `../../data/x.csv`, which is `/app/data/x.csv`, which the Dockerfile fills from
    /// `jupyter/data`). Returns the file to ship, relative to the notebook's folder.
    fn resolved_in_container(&self, relative: &str, files: &dyn SourceFiles) -> Option<String> {
        let real = files.notebook_subdir();
        self.mounts
            .iter()
            .filter_map(|m| {
                let rest: &str = if m.project.is_empty() {
                    real
                } else if real == m.project {
                    ""
                } else {
                    real.strip_prefix(m.project.as_str())?.strip_prefix('/')?
                };
                normalize_absolute(&format!("{}/{rest}/{relative}", m.container))
            })
            .flat_map(|absolute| self.places_of(&absolute))
            .map(|held| format!("{}{held}", self.up_to_root))
            .find(|source| files.exists(source) || files.is_dir(source))
    }

    /// The mounts in the container folders the notebook's absolute paths use (`/app` for
    /// `/app/data/x.csv`), and those top folders themselves: what the notebook writes
    /// elsewhere there (`/app/models`) lands in `data/_container/app/` rather than on the
    /// machine that runs the service. A notebook that uses no such path gets no translation.
    fn for_runtime(&self, used: &BTreeSet<String>) -> Vec<ContainerFolder> {
        let top = |path: &str| {
            path.trim_start_matches('/')
                .split('/')
                .next()
                .map(str::to_string)
        };
        let used_tops: BTreeSet<String> = used
            .iter()
            .filter(|value| !self.places_of(value).is_empty())
            .filter_map(|value| top(value))
            .filter(|t| !t.is_empty())
            .collect();
        let in_data = |path: &str| {
            [self.above.as_str(), path]
                .iter()
                .filter(|p| !p.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join("/")
        };
        // A container path that mounts hold for different folders (two containers) is not
        // translated: which folder the notebook meant is not known.
        let ambiguous = |container: &str| {
            let held: BTreeSet<&str> = self
                .mounts
                .iter()
                .filter(|m| m.container == container)
                .map(|m| m.project.as_str())
                .collect();
            held.len() > 1
        };
        let mut folders: Vec<ContainerFolder> = self
            .mounts
            .iter()
            .filter(|m| top(&m.container).is_some_and(|t| used_tops.contains(&t)))
            .filter(|m| !ambiguous(&m.container))
            .map(|m| ContainerFolder {
                container: m.container.clone(),
                data_path: in_data(&m.project),
                said_in: m.said_in.clone(),
            })
            .collect();
        folders.dedup_by(|a, b| a.container == b.container);
        for top in &used_tops {
            let container = format!("/{top}");
            if self.mounts.iter().any(|m| m.container == container) {
                continue;
            }
            folders.push(ContainerFolder {
                data_path: in_data(&format!("{CONTAINER_FOLDER}/{top}")),
                said_in: "the folder the mounts above live in".into(),
                container,
            });
        }
        folders
    }
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

/// What planning needs besides the cells: the files the user named and what is written.
pub(super) struct PathInputs<'a> {
    pub(super) files: &'a dyn SourceFiles,
    /// `%%writefile` outputs that are not modules, relative to the notebook's folder.
    pub(super) written_data: &'a [(String, String)],
    /// `--include` paths, relative to the notebook's folder.
    pub(super) includes: &'a [String],
}

pub(super) fn plan_paths(
    cells: &[ExtractedCell],
    facts: &[ModuleFacts],
    inputs: &PathInputs,
    warnings: &mut Vec<Warning>,
) -> Result<PathPlan> {
    let files = inputs.files;
    let real_subdir = files.notebook_subdir();
    let mut plan = PathPlan {
        subdir: data_subdir(facts, files),
        ..PathPlan::default()
    };
    let subdir = plan.subdir.clone();
    let subdir = subdir.as_str();
    let mounts = Mounts::new(files, subdir);
    let mut absolute_values: BTreeSet<String> = BTreeSet::new();
    let mut written: BTreeSet<String> = inputs
        .written_data
        .iter()
        .filter_map(|(p, _)| project_path(subdir, p))
        .collect();
    let mut artifact_index: BTreeMap<String, usize> = BTreeMap::new();
    let mut shipped = BTreeSet::new();
    for include in inputs.includes {
        ship(files, include, None, &mut plan, &mut shipped, warnings);
    }
    for (cell, cell_facts) in cells.iter().zip(facts) {
        for call in &cell_facts.path_calls {
            let location = Location {
                cell: cell.cell.clone(),
                line: call.line + cell.line_offset,
            };
            let serializer = serializer_name(call.serializer.as_ref());
            let saves = matches!(call.access, PathAccess::Save) && serializer.is_some();
            plan.saves_artifacts |= saves;
            // A value holding a setting with no default is known only at run time.
            let known: Vec<&String> = call
                .values
                .iter()
                .filter(|v| settings_in(v).is_empty())
                .collect();
            if known.is_empty() {
                plan.unknown.push(UnknownPath {
                    location,
                    written: call.written.clone(),
                    access: access_word(call.access, saves),
                });
                continue;
            }
            for value in known {
                if value.starts_with('/') {
                    absolute_values.insert(value.clone());
                }
                // A path of the author's container, as the project's Docker files place it.
                let local = mounts.notebook_relative(value, files);
                let value = local.as_ref().unwrap_or(value);
                if matches!(call.access, PathAccess::Read | PathAccess::Load) {
                    check_read(files, value, &location)?;
                }
                let Some(in_project) = project_path(subdir, value) else {
                    warnings.push(Warning::at(location.clone(), outside_message(value)));
                    continue;
                };
                let reads = matches!(call.access, PathAccess::Read | PathAccess::Load);
                if reads && project_path(real_subdir, value).is_none() {
                    // Nothing outside the project is shipped without being named.
                    warnings.push(Warning::at(
                        location.clone(),
                        format!(
                            "{} (the notebook finds it at data/{in_project} if you put it there)",
                            outside_message(value)
                        ),
                    ));
                    plan.missing_data.push(in_project);
                    continue;
                }
                if in_project.is_empty() {
                    continue;
                }
                match (call.access, serializer) {
                    (PathAccess::Save, Some(serializer)) => {
                        written.insert(in_project.clone());
                        let at = *artifact_index.entry(in_project.clone()).or_insert_with(|| {
                            plan.artifacts.push(Artifact {
                                name: String::new(),
                                path: in_project.clone(),
                                serializer,
                                saved_at: None,
                                shipped_from: None,
                                looks_like_model: false,
                            });
                            plan.artifacts.len() - 1
                        });
                        let artifact = &mut plan.artifacts[at];
                        artifact.saved_at.get_or_insert(location.clone());
                        artifact.shipped_from = None;
                    }
                    (PathAccess::Load, Some(serializer)) => {
                        if artifact_index.contains_key(&in_project) || written.contains(&in_project)
                        {
                            continue;
                        }
                        let exists = files.exists(value);
                        if exists {
                            check_shipped(files, value, Some(&location))?;
                        }
                        if !exists {
                            warnings.push(Warning::at(location.clone(), format!("loads `{value}`, which is neither in the project nor saved by the notebook before: put it at data/{in_project} or pass --include")));
                        }
                        artifact_index.insert(in_project.clone(), plan.artifacts.len());
                        plan.artifacts.push(Artifact {
                            name: String::new(),
                            path: in_project,
                            serializer,
                            saved_at: None,
                            shipped_from: exists.then(|| value.clone()),
                            looks_like_model: false,
                        });
                    }
                    (PathAccess::Save | PathAccess::Write, _) => {
                        written.insert(in_project);
                    }
                    (PathAccess::Read | PathAccess::Load, _) => {
                        if written.contains(&in_project) || shipped.contains(&in_project) {
                            continue;
                        }
                        if let Some(source) = (!files.exists(value) && !files.is_dir(value))
                            .then(|| mounts.resolved_in_container(value, files))
                            .flatten()
                        {
                            // Shipped where the service's code will look for it.
                            shipped.insert(in_project.clone());
                            plan.data_files.push(DataFile {
                                source,
                                path: in_project,
                                read_at: Some(location.clone()),
                            });
                            continue;
                        }
                        if !ship(
                            files,
                            value,
                            Some(&location),
                            &mut plan,
                            &mut shipped,
                            warnings,
                        ) {
                            warnings.push(Warning::at(location.clone(), format!("reads `{value}`, which is not in the project: training fails without it; put it at data/{in_project} or pass --include")));
                            plan.missing_data.push(in_project);
                        }
                    }
                }
            }
        }
    }
    for data in &plan.data_files {
        check_shipped(files, &data.source, data.read_at.as_ref())?;
    }
    plan.container_mounts = mounts.for_runtime(&absolute_values);
    for artifact in &plan.artifacts {
        shipped.insert(artifact.path.clone());
    }
    plan.data_files.retain(|d| {
        !plan
            .artifacts
            .iter()
            .any(|a| a.shipped_from.is_some() && a.path == d.path)
    });
    name_artifacts(&mut plan.artifacts);
    Ok(plan)
}

/// The notebook's folder inside `data/`. A notebook that writes `../API/model.pkl` from the top
/// of its project reaches the folder above it: `data/` then stands for that folder too, with the
/// project under its own name, so every such path still lands inside `data/`.
fn data_subdir(facts: &[ModuleFacts], files: &dyn SourceFiles) -> String {
    let subdir = files.notebook_subdir();
    let depth = facts
        .iter()
        .flat_map(|f| f.path_calls.iter())
        .flat_map(|call| call.values.iter())
        .map(|value| depth_above(subdir, value))
        .max()
        .unwrap_or(0);
    if depth == 0 {
        return subdir.to_string();
    }
    let above = files.names_above();
    let mut parts: Vec<String> = (0..depth)
        .rev()
        .map(|level| {
            above
                .get(level)
                .cloned()
                .unwrap_or_else(|| format!("up{}", level + 1))
        })
        .collect();
    parts.extend(
        subdir
            .split('/')
            .filter(|p| !p.is_empty())
            .map(str::to_string),
    );
    parts.join("/")
}

/// Ships the file or folder at `relative` (from the notebook's folder) into `data/`; false when
/// there is nothing there.
fn ship(
    files: &dyn SourceFiles,
    relative: &str,
    read_at: Option<&Location>,
    plan: &mut PathPlan,
    shipped: &mut BTreeSet<String>,
    warnings: &mut Vec<Warning>,
) -> bool {
    let real_subdir = files.notebook_subdir();
    let subdir = plan.subdir.clone();
    let sources = if files.exists(relative) {
        vec![relative.to_string()]
    } else if files.is_dir(relative) {
        files.files_in(relative)
    } else {
        return false;
    };
    for source in sources {
        let Some(path) = project_path(real_subdir, &source).and(project_path(&subdir, &source))
        else {
            let message = outside_message(&source);
            match read_at {
                Some(location) => warnings.push(Warning::at(location.clone(), message)),
                None => warnings.push(Warning::general(message)),
            }
            continue;
        };
        if shipped.insert(path.clone()) {
            plan.data_files.push(DataFile {
                source,
                path,
                read_at: read_at.cloned(),
            });
        }
    }
    true
}

fn outside_message(value: &str) -> String {
    if value.starts_with('/') || value.starts_with('~') || value.contains("://") {
        format!(
            "`{value}` is an absolute path: kept as written, so it must exist inside the container"
        )
    } else {
        format!("`{value}` is outside the notebook's project folder: not shipped (pass --root to widen the project)")
    }
}

fn access_word(access: PathAccess, saves_artifact: bool) -> &'static str {
    match access {
        PathAccess::Save if saves_artifact => "saves an artifact at",
        PathAccess::Save | PathAccess::Write => "writes",
        PathAccess::Load => "loads",
        PathAccess::Read => "reads",
    }
}

/// A pickle larger than this is not scanned for the modules it needs (a model this size is
/// rare, and the read would cost more than the hint is worth).
const MAX_SCANNED_PICKLE: u64 = 256 * 1024 * 1024;

/// What the pickled artifacts the notebook only loads need: the modules they refer to, with
/// the file each is in (`sklearn.ensemble._forest` for a pickled random forest), and the
/// library versions that pickled them, when the file records one.
pub(super) fn unpickled(artifacts: &[Artifact], files: &dyn SourceFiles) -> Unpickled {
    let mut unpickled = Unpickled::default();
    for artifact in artifacts {
        let Some(source) = &artifact.shipped_from else {
            continue;
        };
        if !matches!(artifact.serializer, "joblib" | "pickle" | "pandas") {
            continue;
        }
        let Some(bytes) = files.read_bytes(source, MAX_SCANNED_PICKLE) else {
            continue;
        };
        let file = format!("data/{}", artifact.path);
        for module in crate::pickled::modules(&bytes) {
            unpickled.modules.push((module, file.clone()));
        }
        for version in crate::pickled::sklearn_versions(&bytes) {
            unpickled.made_by.push(PickledBy {
                distribution: "scikit-learn".into(),
                version,
                file: file.clone(),
            });
        }
    }
    unpickled
}

/// What [`unpickled`] found.
#[derive(Debug, Default)]
pub(super) struct Unpickled {
    /// (module, file under `data/`).
    pub(super) modules: Vec<(String, String)>,
    pub(super) made_by: Vec<PickledBy>,
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
