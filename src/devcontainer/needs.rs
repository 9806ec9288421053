//! What a set of notebooks needs installed, found with the service's machinery: the notebook
//! reader, the magics extractor, the Python facts (imports) and the import table. Standard
//! library modules and modules that live beside a notebook (`helpers.py`, a `utils/` package,
//! a `%%writefile`d `.py`) are left out; `%pip install` lines count as requested packages.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::image_probe::{Needs, Requested};
use crate::import_map::{distribution_for, Distribution};
use crate::requirements::{parse_requirements_txt, RequirementsSet};
use crate::workspace::{NotebookFolder, SourceFiles};
use crate::{extract, notebook, python};

/// The notebooks named on the command line: files as given, folders searched recursively
/// (hidden folders and `.ipynb_checkpoints` skipped), each notebook once, in a stable order.
pub fn find_notebooks(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut found = BTreeSet::new();
    for path in paths {
        if path.is_dir() {
            let before = found.len();
            walk(path, &mut found, 0);
            if found.len() == before {
                bail!("{} holds no .ipynb notebook", path.display());
            }
        } else if path.is_file() {
            found.insert(path.clone());
        } else {
            bail!(
                "cannot read {}: expected a notebook or a folder of notebooks",
                path.display()
            );
        }
    }
    Ok(found.into_iter().collect())
}

fn walk(dir: &Path, found: &mut BTreeSet<PathBuf>, depth: usize) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    if depth > 8 {
        return;
    }
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() && !name.starts_with('.') && name != "node_modules" {
            walk(&path, found, depth + 1);
        } else if kind.is_file() && name.ends_with(".ipynb") {
            found.insert(path);
        }
    }
}

/// Reads every notebook and collects its imports and install magics. `shown` names a notebook
/// in the report (its path relative to the work folder). Cells that are not valid Python are
/// skipped with a warning rather than failing: a dev container must open broken notebooks too.
pub fn collect(
    notebooks: &[PathBuf],
    requirements: Option<&RequirementsSet>,
    shown: &dyn Fn(&Path) -> String,
    warnings: &mut Vec<String>,
) -> Result<Needs> {
    let mut needs = Needs::default();
    if let Some(file) = requirements {
        for requirement in &file.requirements {
            needs.requested.push(Requested {
                name: requirement.name.clone(),
                spec: pip_argument(&requirement.text),
                origin: requirement.origin.to_string().replacen("from ", "", 1),
            });
        }
    }
    let mut imports: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for path in notebooks {
        let name = shown(path);
        let notebook = crate::input::with_notebook_bytes(path, notebook::parse)?
            .with_context(|| format!("{name} is not a notebook nb2svc can read"))?;
        notebook
            .check_python()
            .with_context(|| format!("{name} is not a Python notebook"))?;
        let extraction = match extract::extract(&notebook) {
            Ok(extraction) => extraction,
            Err(err) => {
                warnings.push(format!("{name}: {err:#}; its imports are not counted"));
                continue;
            }
        };
        let folder = NotebookFolder {
            dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
            subdir: String::new(),
        };
        let written: BTreeSet<String> = extraction
            .written_files
            .iter()
            .filter_map(|w| w.path.strip_suffix(".py"))
            .map(|p| p.rsplit('/').next().unwrap_or(p).to_string())
            .collect();
        let mut inherited = python::Inherited::default();
        for cell in &extraction.cells {
            let facts = match python::analyze_with(&cell.code, &inherited) {
                Ok(facts) => facts,
                Err(err) => {
                    warnings.push(format!(
                        "{name} {}: not valid Python (line {}: {}); its imports are not counted",
                        cell.cell,
                        err.line + cell.line_offset,
                        err.message
                    ));
                    continue;
                }
            };
            inherited = python::Inherited::after(&facts, &Default::default());
            for import in facts.imports.iter().filter(|i| !i.relative) {
                let top = import.top_level().to_string();
                let local = written.contains(&top) || !folder.python_module(&top).is_empty();
                if local || distribution_for(&top) == Distribution::Stdlib {
                    continue;
                }
                imports
                    .entry(top)
                    .or_default()
                    .insert(format!("{name} cell {}", cell.cell.number));
            }
        }
        for magic in &extraction.magic_requirements {
            let spec = pip_argument(&magic.spec);
            let mut no_includes = |_: &Path| -> Result<String> { bail!("no includes") };
            let parsed = parse_requirements_txt(&spec, Path::new("magic"), &mut no_includes);
            let normalized = parsed
                .ok()
                .and_then(|set| set.requirements.first().map(|r| r.name.clone()))
                .unwrap_or_default();
            if needs
                .requested
                .iter()
                .any(|r| (!normalized.is_empty() && r.name == normalized) || r.spec == spec)
            {
                continue;
            }
            needs.requested.push(Requested {
                name: normalized,
                spec,
                origin: format!("%pip install in {name} cell {}", magic.location.cell.number),
            });
        }
    }
    needs.imports = imports
        .into_iter()
        .map(|(import, places)| (import, places.into_iter().collect()))
        .collect();
    Ok(needs)
}

/// A requirement line as a pip argument: options such as `--hash=…` are only valid in files.
fn pip_argument(text: &str) -> String {
    text.split(" --").next().unwrap_or(text).trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notebook(cells: &[&str]) -> String {
        let cells: Vec<serde_json::Value> = cells
            .iter()
            .map(|source| {
                serde_json::json!({"cell_type": "code", "metadata": {}, "outputs": [],
                                   "execution_count": null, "source": source})
            })
            .collect();
        serde_json::json!({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells})
            .to_string()
    }

    fn needs_of(cells: &[&str], siblings: &[&str]) -> (Needs, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nb.ipynb");
        fs::write(&path, notebook(cells)).unwrap();
        for sibling in siblings {
            fs::write(dir.path().join(sibling), "import numpy\n").unwrap();
        }
        let mut warnings = Vec::new();
        let shown = |_: &Path| "nb.ipynb".to_string();
        let needs = collect(&[path], None, &shown, &mut warnings).unwrap();
        (needs, warnings)
    }

    #[test]
    fn leaves_out_stdlib_and_local_modules() {
        let (needs, _) = needs_of(
            &[
                "import os, json\nimport helpers\nfrom tabulate import tabulate",
                "import six.moves",
            ],
            &["helpers.py"],
        );
        let imports: Vec<&String> = needs.imports.keys().collect();
        assert_eq!(imports, ["six", "tabulate"]);
        assert_eq!(needs.imports["six"], ["nb.ipynb cell 2"]);
    }

    #[test]
    fn pip_magics_count_as_requested_packages() {
        let (needs, _) = needs_of(&["%pip install tabulate==0.9.0\nimport tabulate"], &[]);
        assert_eq!(needs.requested.len(), 1);
        assert_eq!(needs.requested[0].spec, "tabulate==0.9.0");
        assert_eq!(needs.requested[0].name, "tabulate");
        assert!(needs.requested[0]
            .origin
            .starts_with("%pip install in nb.ipynb"));
    }

    #[test]
    fn a_broken_cell_is_a_warning_not_an_error() {
        let (needs, warnings) = needs_of(&["def broken(:\n", "import six"], &[]);
        assert_eq!(needs.imports.len(), 1, "the other cells still count");
        assert!(warnings[0].contains("not valid Python"), "{warnings:?}");
    }

    #[test]
    fn a_folder_without_notebooks_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = find_notebooks(&[dir.path().to_path_buf()]).unwrap_err();
        assert!(
            err.to_string().contains("holds no .ipynb notebook"),
            "{err}"
        );
    }
}
