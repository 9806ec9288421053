//! Files the notebook reads and writes by literal path: where they live in the service.
//!
//! A notebook names files relative to wherever Jupyter was started. The service resolves
//! them from its own `data/` folder instead (never from the working directory), and each can
//! be moved with an environment variable. This module decides the data-relative name and the
//! variable for each literal path; `plan` decides what to do with the file.

use std::path::{Component, Path};

/// How a literal path of the notebook maps into the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mapped {
    /// Relative path: lives under `data/` as `relative`; `$env` overrides it.
    Data {
        relative: String,
        env: String,
        escaped_parent: bool,
    },
    /// Absolute path: left as written, it means the same inside the container.
    Absolute,
}

/// Maps one literal path as written in the notebook.
pub fn map(literal: &str) -> Mapped {
    let path = Path::new(literal);
    if path.is_absolute() || literal.starts_with('~') || literal.contains("://") {
        return Mapped::Absolute;
    }
    let mut parts: Vec<String> = Vec::new();
    let mut escaped_parent = false;
    for component in path.components() {
        match component {
            Component::Normal(part) => parts.push(part.to_string_lossy().into_owned()),
            Component::ParentDir => {
                if parts.pop().is_none() {
                    // `../models/x.pkl` reaches outside the notebook's folder; the service keeps
                    // the rest of the path under data/ instead.
                    escaped_parent = true;
                }
            }
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    let relative = parts.join("/");
    let env = env_name(&relative);
    Mapped::Data {
        relative,
        env,
        escaped_parent,
    }
}

/// `models/rf model.joblib` → `NB2SVC_PATH_MODELS_RF_MODEL_JOBLIB`.
pub fn env_name(relative: &str) -> String {
    let mut name = String::from("NB2SVC_PATH_");
    let mut last_underscore = true;
    for ch in relative.chars() {
        if ch.is_ascii_alphanumeric() {
            name.push(ch.to_ascii_uppercase());
            last_underscore = false;
        } else if !last_underscore {
            name.push('_');
            last_underscore = true;
        }
    }
    name.trim_end_matches('_').to_string()
}

/// A name fit for a route and a Python identifier, from a file name: `RF Model.joblib` → `rf_model`.
pub fn artifact_name(relative: &str) -> String {
    let file = relative.rsplit('/').next().unwrap_or(relative);
    let stem = file.split_once('.').map_or(file, |(stem, _)| stem);
    let mut name = String::new();
    for ch in stem.chars() {
        if ch.is_ascii_alphanumeric() {
            name.push(ch.to_ascii_lowercase());
        } else if !name.ends_with('_') {
            name.push('_');
        }
    }
    let name = name.trim_matches('_').to_string();
    match name.chars().next() {
        None => "model".into(),
        Some(first) if first.is_ascii_digit() => format!("model_{name}"),
        Some(_) => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(relative: &str, env: &str, escaped_parent: bool) -> Mapped {
        Mapped::Data {
            relative: relative.into(),
            env: env.into(),
            escaped_parent,
        }
    }

    #[test]
    fn maps_relative_paths_under_data_with_env_names() {
        assert_eq!(
            map("model.joblib"),
            data("model.joblib", "NB2SVC_PATH_MODEL_JOBLIB", false)
        );
        assert_eq!(
            map("./models/rf.pkl"),
            data("models/rf.pkl", "NB2SVC_PATH_MODELS_RF_PKL", false)
        );
        assert_eq!(map("a/../b.csv"), data("b.csv", "NB2SVC_PATH_B_CSV", false));
    }

    #[test]
    fn parent_paths_stay_inside_data() {
        assert_eq!(
            map("../API/modelos/m.pkl"),
            data("API/modelos/m.pkl", "NB2SVC_PATH_API_MODELOS_M_PKL", true)
        );
    }

    #[test]
    fn absolute_and_remote_paths_are_left_alone() {
        assert_eq!(map("/app/models/x.pkl"), Mapped::Absolute);
        assert_eq!(map("https://example.invalid/x.csv"), Mapped::Absolute);
    }

    #[test]
    fn env_names_fold_odd_characters() {
        assert_eq!(
            env_name("my data/pingüinos 2.csv"),
            "NB2SVC_PATH_MY_DATA_PING_INOS_2_CSV"
        );
    }

    #[test]
    fn artifact_names_are_identifiers() {
        assert_eq!(artifact_name("models/RF Model.joblib"), "rf_model");
        assert_eq!(artifact_name("2024-svm.pkl"), "model_2024_svm");
        assert_eq!(artifact_name(".pkl"), "model");
    }
}
