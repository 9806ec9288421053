//! The Python modules shipped beside the notebook's code, and the requirements that the
//! notebook and those modules need.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;

use crate::diagnostics::{CellRef, Location, Warning};
use crate::extract::Extraction;
use crate::python::{self, ModuleFacts};
use crate::requirements::{self, Merged, NotebookNeeds, RequirementsSet};
use crate::workspace::SourceFiles;

use super::{artifacts, LocalModule, ModuleOrigin, Options, SERVING_PACKAGES};
use crate::workspace::project_path;

/// Modules the service ships in `app/`: `%%writefile` Python files and sibling modules the code
/// imports. Written files that are not Python go to `data/` (returned second).
pub(super) fn local_modules(
    extraction: &Extraction,
    facts: &[ModuleFacts],
    files: &dyn SourceFiles,
    warnings: &mut Vec<Warning>,
) -> (Vec<LocalModule>, Vec<(String, String)>) {
    let mut modules: BTreeMap<String, LocalModule> = BTreeMap::new();
    let mut written_data = Vec::new();
    for written in &extraction.written_files {
        let Some(relative) = project_path("", &written.path).filter(|r| !r.is_empty()) else {
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
                    imports: Vec::new(),
                    trains: false,
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
    for module in modules.values_mut() {
        if let ModuleOrigin::Writefile { contents, .. } = &module.origin {
            if let Ok(module_facts) = python::analyze(contents) {
                module.imports = package_imports(&module_facts);
                module.trains = trains_or_saves(&module_facts);
            }
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
        if modules.keys().any(|path| module_name(path) == name) {
            continue;
        }
        for path in files.python_module(&name) {
            let mut imports = Vec::new();
            let mut trains = false;
            if let Some(source) = files.read_text(&path) {
                if let Ok(module_facts) = python::analyze(&source) {
                    pending.extend(
                        module_facts
                            .imports
                            .iter()
                            .map(|i| i.top_level().to_string()),
                    );
                    imports = package_imports(&module_facts);
                    trains = trains_or_saves(&module_facts);
                }
            }
            modules.insert(
                path.clone(),
                LocalModule {
                    path: path.clone(),
                    origin: ModuleOrigin::Copied { source: path },
                    imports,
                    trains,
                },
            );
        }
    }
    (modules.into_values().collect(), written_data)
}

/// Merges the requirements file with what the notebook and its modules import.
pub(super) fn merge_requirements(
    extraction: &Extraction,
    facts: &[ModuleFacts],
    all_facts: &[ModuleFacts],
    file: Option<RequirementsSet>,
    modules: &[LocalModule],
    unpickled: &artifacts::Unpickled,
    options: &Options,
) -> Result<Merged> {
    // Imports of the shipped modules' names are the notebook's own code, not packages.
    let module_names: Vec<String> = modules
        .iter()
        .map(|m| module_name(&m.path).to_string())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
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
    for import in modules.iter().flat_map(|m| &m.imports) {
        imports.entry(import.clone()).or_default();
    }
    // What the statements the service leaves out import, for a warning that tells them apart
    // from packages the notebook never imports.
    let left_out_imports: Vec<String> = all_facts
        .iter()
        .flat_map(|f| f.imports.iter())
        .filter(|i| !i.relative && !imports.contains_key(i.top_level()))
        .map(|i| i.top_level().to_string())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
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
        local_modules: &module_names,
        magic_requirements: &magic,
        unpickled: &unpickled.modules,
        pickled_by: &unpickled.made_by,
        left_out_imports: &left_out_imports,
    };
    requirements::merge(file, &needs, SERVING_PACKAGES, options.strict)
}

/// The top-level import name a shipped file provides: `utils/model_trainer.py` → `utils`.
fn module_name(path: &str) -> &str {
    path.split(['/', '.']).next().unwrap_or(path)
}

/// Whether a module's code fits a model or saves an artifact (in its functions and classes).
fn trains_or_saves(facts: &ModuleFacts) -> bool {
    facts.trains
        || facts
            .path_calls
            .iter()
            .any(|c| c.access == python::PathAccess::Save)
}

/// Whether the notebook's code imports a shipped module that trains or saves: then running
/// the notebook trains, though no cell of its own fits or saves.
pub(super) fn imports_training_module(facts: &[ModuleFacts], modules: &[LocalModule]) -> bool {
    let imported: BTreeSet<&str> = facts
        .iter()
        .flat_map(|f| f.imports.iter().map(|i| i.top_level()))
        .collect();
    modules
        .iter()
        .any(|m| m.trains && imported.contains(module_name(&m.path)))
}

/// The top-level names a module imports from outside itself (relative imports left out).
fn package_imports(facts: &ModuleFacts) -> Vec<String> {
    facts
        .imports
        .iter()
        .filter(|i| !i.relative)
        .map(|i| i.top_level().to_string())
        .collect()
}
