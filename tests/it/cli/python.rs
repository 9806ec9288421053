//! The Python a service runs and the libraries it needs (issue 10): the notebook's recorded
//! version unless `--python` or `--base-image` says otherwise, in the Dockerfile's `FROM`, the
//! README, the report and the JSON plan; the versions the generated code needs, as floors.

use std::fs;
use std::path::{Path, PathBuf};

use predicates::prelude::*;

use crate::support::{nb2svc, root};

/// A notebook whose metadata says it ran under Python 3.10.12.
fn python_3_10() -> PathBuf {
    root().join("tests/fixtures/cli/python_3_10.ipynb")
}

/// A copy of that notebook in `dir` recording `version` instead.
fn recording(dir: &Path, version: &str) -> PathBuf {
    let text = fs::read_to_string(python_3_10()).unwrap();
    let path = dir.join(format!("nb_{}.ipynb", version.replace('.', "_")));
    fs::write(
        &path,
        text.replace("\"3.10.12\"", &format!("\"{version}\"")),
    )
    .unwrap();
    path
}

/// Generates `notebook` with `extra` arguments; the output folder.
fn generate(notebook: &Path, extra: &[&str]) -> tempfile::TempDir {
    let out = tempfile::tempdir().unwrap();
    nb2svc()
        .arg(notebook)
        .arg("-o")
        .arg(out.path())
        .args(["-q", "--force"])
        .args(extra)
        .assert()
        .success();
    out
}

fn from_line(out: &Path) -> String {
    fs::read_to_string(out.join("Dockerfile"))
        .unwrap()
        .lines()
        .find(|l| l.starts_with("FROM "))
        .unwrap()
        .to_string()
}

fn readme(out: &Path) -> String {
    fs::read_to_string(out.join("README.md")).unwrap()
}

#[test]
fn a_notebook_that_ran_under_3_10_builds_on_python_3_10() {
    let out = generate(&python_3_10(), &[]);
    assert_eq!(from_line(out.path()), "FROM python:3.10-slim");
    let readme = readme(out.path());
    assert!(
        readme.contains(
            "## Python and libraries\n\nThe image runs Python 3.10 (`python:3.10-slim`) because the notebook ran \
             under Python 3.10.12 (its metadata.language\\_info.version).\n"
        ),
        "{readme}"
    );
    assert!(
        readme.contains("- Python 3.10 reached its end of life in October 2026"),
        "the warning is in the README too:\n{readme}"
    );
}

#[test]
fn the_dry_run_and_the_json_plan_say_which_python_and_why() {
    nb2svc()
        .arg(python_3_10())
        .arg("--dry-run")
        .assert()
        .success()
        .stdout(
            predicate::str::contains(
                "  python        3.10 (python:3.10-slim): the notebook ran under Python 3.10.12 \
                 (its metadata.language_info.version)\n",
            )
            .and(predicate::str::contains(
                "Python 3.10 reached its end of life in October 2026: python:3.10-slim gets no \
                 more security fixes",
            )),
        );
    let output = nb2svc()
        .arg(python_3_10())
        .args(["--dry-run", "--json", "--python", "3.12"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let plan = &report["plan"];
    assert_eq!(plan["base_image"], "python:3.12-slim");
    assert_eq!(
        plan["python"],
        serde_json::json!({
            "version": "3.12",
            "reason": "python_option",
            "recorded": "3.10.12",
            "because": "--python 3.12 chose it; the notebook ran under 3.10.12",
        })
    );
}

#[test]
fn an_end_of_life_python_gets_the_nearest_supported_one_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let notebook = recording(dir.path(), "3.7.12");
    nb2svc()
        .arg(&notebook)
        .arg("-o")
        .arg(dir.path().join("svc"))
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "warning: the notebook ran under Python 3.7.12, older than the generated code runs on: \
             the image runs Python 3.9, the nearest supported",
        ));
    assert_eq!(from_line(&dir.path().join("svc")), "FROM python:3.9-slim");
}

#[test]
fn the_python_option_and_a_base_image_by_digest_say_otherwise() {
    let out = generate(&python_3_10(), &["--python", "3.11"]);
    assert_eq!(from_line(out.path()), "FROM python:3.11-slim");
    assert!(readme(out.path()).contains(
        "The image runs Python 3.11 (`python:3.11-slim`) because --python 3.11 chose it; the \
         notebook ran under 3.10.12."
    ));
    let pinned = format!("python:3.11-slim@sha256:{}", "0a".repeat(32));
    let out = generate(&python_3_10(), &["--base-image", &pinned]);
    assert_eq!(from_line(out.path()), format!("FROM {pinned}"));
    assert!(readme(out.path()).contains(&format!(
        "The image runs Python 3.11 (`{pinned}`) because the tag of --base-image {pinned} says so"
    )));
    // Both at once must agree.
    generate(
        &python_3_10(),
        &["--base-image", &pinned, "--python", "3.11"],
    );
    nb2svc()
        .arg(python_3_10())
        .args(["--dry-run", "--base-image", &pinned, "--python", "3.10"])
        .assert()
        .code(1)
        .stderr(predicate::str::ends_with(format!(
            "error: --python 3.10 and --base-image {pinned} disagree: the image's tag says Python \
             3.11; pass one of them, or an image of Python 3.10\n"
        )));
}

#[test]
fn an_unsupported_python_option_is_refused() {
    nb2svc()
        .arg(python_3_10())
        .args(["--dry-run", "--python", "3.8"])
        .assert()
        .code(1)
        .stderr(predicate::str::ends_with(
            "error: --python 3.8: nb2svc supports Python 3.9 to 3.15 (the generated code needs 3.9 \
             or later); to build on another image anyway, pass --base-image IMAGE\n",
        ));
}

#[test]
fn a_requirements_pin_older_than_the_generated_code_needs_is_refused_naming_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let requirements = dir.path().join("requirements.txt");
    fs::write(&requirements, "numpy==1.26.4\nfastapi==0.95.2\n").unwrap();
    let out = dir.path().join("svc");
    nb2svc()
        .arg(python_3_10())
        .arg("-r")
        .arg(&requirements)
        .arg("-o")
        .arg(&out)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "`fastapi==0.95.2` (from requirements.txt line 2) allows no version of \
             fastapi>=0.100, which the generated service needs: app/main.py needs FastAPI 0.100 \
             or later, the first for pydantic 2; allow fastapi>=0.100 on that line, or remove \
             it (nb2svc then adds `fastapi>=0.100`)\n",
        ));
    assert!(!out.exists(), "nothing is written");
}

#[test]
fn pins_that_fit_the_floors_are_kept_and_the_rest_are_added_with_their_reason() {
    let dir = tempfile::tempdir().unwrap();
    let requirements = dir.path().join("requirements.txt");
    fs::write(
        &requirements,
        "fastapi==0.100.0\npydantic==2.0.2\nuvicorn\n",
    )
    .unwrap();
    let out = generate(&python_3_10(), &["-r", requirements.to_str().unwrap()]);
    let merged = fs::read_to_string(out.path().join("requirements.txt")).unwrap();
    assert_eq!(
        merged,
        "# Generated by nb2svc. Each line says where it came from.\n\
         fastapi==0.100.0  # from requirements.txt line 1\n\
         pydantic==2.0.2  # from requirements.txt line 2\n\
         uvicorn>=0.15  # from requirements.txt line 3; >=0.15 added by nb2svc: serves the API; \
         uvicorn before 0.15 ignores SIGTERM with several workers\n"
    );
}

/// A project folder holding a notebook that only loads `model.joblib`, a real scikit-learn
/// 1.9.1 pickle (tests/fixtures/pickles), and `requirements` when given.
fn project_loading_a_model(requirements: Option<&str>) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    fs::copy(
        root().join("tests/fixtures/pickles/tree_protocol2.pkl"),
        dir.path().join("model.joblib"),
    )
    .unwrap();
    let notebook = dir.path().join("serve.ipynb");
    let text = fs::read_to_string(python_3_10()).unwrap().replace(
        r#""def predict(x: float) -> float:\n",
    "    return 2 * x\n""#,
        r#""import joblib\n",
    "model = joblib.load(\"model.joblib\")\n""#,
    );
    assert!(text.contains("joblib.load"), "{text}");
    fs::write(&notebook, text).unwrap();
    if let Some(requirements) = requirements {
        fs::write(dir.path().join("requirements.txt"), requirements).unwrap();
    }
    (dir, notebook)
}

#[test]
fn a_shipped_pickle_pins_the_scikit_learn_that_made_it() {
    let (dir, notebook) = project_loading_a_model(None);
    let out = generate(&notebook, &[]);
    let merged = fs::read_to_string(out.path().join("requirements.txt")).unwrap();
    assert!(
        merged.contains(
            "scikit-learn==1.9.1  # added by nb2svc: data/model.joblib was pickled by scikit-learn 1.9.1\n"
        ),
        "{merged}"
    );
    assert!(
        readme(out.path()).contains("\n- `data/model.joblib` was pickled by scikit-learn 1.9.1\n")
    );
    drop(dir);

    // The person's own pin wins, with a warning that names both.
    let (dir, notebook) = project_loading_a_model(Some("joblib\nscikit-learn==1.5.2\n"));
    nb2svc()
        .arg(&notebook)
        .arg("-r")
        .arg(dir.path().join("requirements.txt"))
        .arg("--dry-run")
        .assert()
        .success()
        .stdout(
            predicate::str::contains(
                "warning: data/model.joblib was pickled by scikit-learn 1.9.1, but \
                 `scikit-learn==1.5.2` (from requirements.txt line 2) allows no such version",
            )
            .and(predicate::str::contains(format!(
                "    {:<32} from requirements.txt line 2\n",
                "scikit-learn==1.5.2"
            ))),
        );
}
