//! The runtime a service ships (`templates/nb2svc_*.py`, one module per feature) has tests of
//! its own, in pytest (`tests/runtime`): the notebook's folder, training as `app.notebook`, the
//! artifact manifest, downloads from a local server, unpacking, settings, the replay of a
//! notebook's preprocessing, the serving guards, and the core working with any other module
//! missing. They run here, offline, in a virtual environment that has pytest, pandas,
//! scikit-learn, joblib, FastAPI and httpx, so that `cargo test` runs them too; none may skip.
//! Which modules a service gets is checked here as well, on notebooks that each need a
//! different set.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::support::{files_under, nb2svc, output_text, root, tool_or_skip, venv_for, works};

#[test]
fn runtime_tests_pass_under_pytest() {
    let test = "runtime_tests_pass_under_pytest";
    if !tool_or_skip(
        test,
        works("python3", &["-c", "import venv"]),
        "python3 with venv",
    ) {
        return;
    }
    let spec = tempfile::tempdir().unwrap();
    let requirements = spec.path().join("requirements.txt");
    fs::write(
        &requirements,
        "pandas\nscikit-learn\njoblib\nfastapi\nhttpx\npytest\n",
    )
    .unwrap();
    let python = match venv_for(&requirements) {
        Ok(python) => python,
        Err(reason) => {
            tool_or_skip(
                test,
                false,
                &format!("pytest, pandas and scikit-learn from PyPI ({reason})"),
            );
            return;
        }
    };
    // No cache folder in the checkout; `-rs` lists any skip, which fails the test.
    let output = Command::new(&python)
        .args(["-m", "pytest", "-p", "no:cacheprovider", "-q", "-rs"])
        .arg(root().join("tests/runtime"))
        .current_dir(root().join("tests/runtime"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("python runs");
    let text = output_text(&output);
    assert!(output.status.success(), "the runtime's tests:\n{text}");
    // pytest's summary is the last line of its standard output; a setup thread of a test's
    // service may still log on standard error after it, so the combined text's last line is
    // not always the summary.
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary = stdout
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .unwrap_or_default();
    assert!(
        !summary.contains("skipped"),
        "a runtime test skipped:\n{text}"
    );
    let passed = passed(summary);
    assert!(
        passed >= 50,
        "the runtime's tests passed ({passed}):\n{text}"
    );
}

/// How many tests pytest's last line says passed (`41 passed, 1 warning in 9.1s`).
fn passed(summary: &str) -> u32 {
    let words: Vec<&str> = summary.split([' ', ',']).collect();
    words
        .windows(2)
        .find(|pair| pair[1] == "passed")
        .and_then(|pair| pair[0].parse().ok())
        .unwrap_or(0)
}

/// The runtime modules (`app/nb2svc_*.py`) of the service generated from these code cells,
/// with the project files given beside the notebook.
fn runtime_of(cells: &[&str], files: &[(&str, &[u8])]) -> Vec<String> {
    let project = tempfile::tempdir().unwrap();
    let notebook = serde_json::json!({
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "language": "python"}},
        "cells": cells.iter().map(|source| serde_json::json!({
            "cell_type": "code", "metadata": {}, "outputs": [], "execution_count": null,
            "source": source,
        })).collect::<Vec<_>>(),
    });
    let path = project.path().join("nb.ipynb");
    fs::write(&path, notebook.to_string()).unwrap();
    for (name, bytes) in files {
        fs::write(project.path().join(name), bytes).unwrap();
    }
    let out = project.path().join("out");
    nb2svc()
        .arg(&path)
        .arg("--out")
        .arg(&out)
        .arg("--root")
        .arg(project.path())
        .arg("--quiet")
        .assert()
        .success();
    let modules: Vec<String> = files_under(&out)
        .into_iter()
        .filter_map(|f| {
            Some(
                f.strip_prefix("app/nb2svc_")?
                    .strip_suffix(".py")?
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(
        modules.contains(&"fetch".to_string()),
        read(&out, "app/notebook.py").contains("from app import nb2svc_fetch"),
        "notebook.py imports nb2svc_fetch exactly when it ships"
    );
    assert_eq!(
        modules.contains(&"models".to_string()),
        read(&out, "app/main.py").contains("from app import nb2svc_models"),
        "main.py imports nb2svc_models exactly when it ships"
    );
    for module in &modules {
        assert!(
            read(&out, "README.md").contains(&format!("`app/nb2svc_{module}.py`")),
            "the README lists app/nb2svc_{module}.py"
        );
    }
    modules
}

fn read(dir: &Path, file: &str) -> String {
    fs::read_to_string(dir.join(file)).unwrap()
}

const TRAINS_AND_SAVES: &[&str] = &[
    "import joblib\nfrom sklearn.linear_model import LogisticRegression",
    "model = LogisticRegression().fit([[0], [1]], [0, 1])\njoblib.dump(model, 'model.joblib')",
];

#[test]
fn a_served_function_gets_the_core_alone() {
    let cells = ["def predict(x: float) -> float:\n    return 2 * x"];
    assert_eq!(runtime_of(&cells, &[]), ["runtime"]);
}

#[test]
fn a_notebook_that_saves_models_gets_recording_replay_and_model_routes() {
    assert_eq!(
        runtime_of(TRAINS_AND_SAVES, &[]),
        ["inputs", "models", "recording", "runtime"]
    );
}

#[test]
fn a_served_function_of_a_notebook_that_trains_gets_the_recording_only() {
    // Training at build still creates the folders it writes into; no route replays inputs.
    let mut cells = TRAINS_AND_SAVES.to_vec();
    cells.push("def predict(x: float) -> float:\n    return 2 * x");
    assert_eq!(runtime_of(&cells, &[]), ["recording", "runtime"]);
}

#[test]
fn a_shipped_model_gets_model_routes_without_recording() {
    let cells = ["import joblib\nmodel = joblib.load('model.joblib')"];
    let pickle = b"\x80\x04K\x01.";
    assert_eq!(
        runtime_of(&cells, &[("model.joblib", pickle)]),
        ["models", "runtime"]
    );
}

#[test]
fn a_notebook_that_downloads_gets_the_fetch_module() {
    let mut cells = vec!["!wget -q https://example.org/penguins.csv -O penguins.csv"];
    cells.extend(TRAINS_AND_SAVES);
    assert_eq!(
        runtime_of(&cells, &[]),
        ["fetch", "inputs", "models", "recording", "runtime"]
    );
    // `mkdir -p` alone needs no runtime: it becomes `os.makedirs`.
    let cells = [
        "!mkdir -p out",
        "def predict(x: float) -> float:\n    return 2 * x",
    ];
    assert_eq!(runtime_of(&cells, &[]), ["runtime"]);
}
