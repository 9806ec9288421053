//! The environment variables the notebook reads, and the values the service gives them.
//!
//! A setting read with a default keeps the notebook's default. One read with no default that
//! names a folder or file the notebook writes (`MODELS_DIR = os.environ.get("MODELS_DIR")`,
//! then a save under it) gets a default from nb2svc, so the service can write there; one whose
//! value reaches a path the notebook reads, or that is read as `os.environ["X"]`, is required,
//! and the service says so at start, naming the variable and the cell. Others (a `DEBUG` flag
//! read with `os.getenv`) keep Python's meaning: `None` when unset.

use std::collections::BTreeMap;

use crate::diagnostics::{Location, Warning};
use crate::extract::ExtractedCell;
use crate::python::values::settings_in;
use crate::python::{ModuleFacts, PathAccess};

use super::Setting;

pub(super) fn plan_settings(
    cells: &[ExtractedCell],
    facts: &[ModuleFacts],
    warnings: &mut Vec<Warning>,
) -> Vec<Setting> {
    let mut settings: BTreeMap<String, Setting> = BTreeMap::new();
    let mut written_by: BTreeMap<String, bool> = BTreeMap::new();
    for cell_facts in facts {
        for call in &cell_facts.path_calls {
            let writes = matches!(call.access, PathAccess::Save | PathAccess::Write);
            for name in call.values.iter().flat_map(|v| settings_in(v)) {
                *written_by.entry(name).or_default() |= writes;
            }
        }
    }
    for (cell, cell_facts) in cells.iter().zip(facts) {
        for read in &cell_facts.settings {
            let location = Location {
                cell: cell.cell.clone(),
                line: read.line + cell.line_offset,
            };
            let setting = settings
                .entry(read.name.clone())
                .or_insert_with(|| Setting {
                    name: read.name.clone(),
                    default: None,
                    default_from_nb2svc: false,
                    required: false,
                    location: location.clone(),
                    secret: false,
                });
            if setting.default.is_none() && !setting.default_from_nb2svc {
                setting.default = read.default.clone();
            }
            if read.has_default {
                continue;
            }
            match written_by.get(&read.name) {
                Some(true) if setting.default.is_none() => {
                    setting.default = Some(default_for(&read.name));
                    setting.default_from_nb2svc = true;
                    warnings.push(Warning::at(location, format!("`{}` is read with no default and names a path the notebook writes: the service sets it to `{}` (a folder in the notebook's folder) unless the environment does", read.name, default_for(&read.name))));
                }
                Some(true) => {}
                Some(false) => setting.required = setting.default.is_none(),
                None => {}
            }
        }
    }
    // `os.environ["X"]` raises without the variable: better said at start, naming the cell.
    for cell_facts in facts {
        for read in cell_facts.settings.iter().filter(|r| r.fails_when_unset) {
            if let Some(setting) = settings.get_mut(&read.name) {
                setting.required |= setting.default.is_none();
            }
        }
    }
    settings.into_values().collect()
}

/// `MODELS_DIR` → `models`: the variable's name without a folder or path suffix, lowercase.
/// A heuristic for a readable folder name; the README shows it and the user can set another.
fn default_for(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    let stem = ["_directory", "_dir", "_folder", "_path", "_file"]
        .iter()
        .find_map(|suffix| lower.strip_suffix(suffix))
        .filter(|stem| !stem.is_empty())
        .unwrap_or(&lower);
    let cleaned: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cleaned.trim_matches('_').is_empty() {
        "nb2svc-setting".into()
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use super::default_for;

    #[test]
    fn default_folders_come_from_the_variable_name() {
        assert_eq!(default_for("MODELS_DIR"), "models");
        assert_eq!(default_for("OUTPUT_PATH"), "output");
        assert_eq!(default_for("ARTIFACTS"), "artifacts");
        assert_eq!(default_for("_DIR"), "_dir");
    }
}
