//! Hostile input never gets through: each case fails with exit code 1 (never a crash: 134 is
//! a stack overflow's abort, 101 a panic), an error naming the file, cell and line, no staging
//! file left beside the output, and an existing output folder untouched.

use std::fs;
use std::path::{Path, PathBuf};

use predicates::prelude::*;

use crate::support::{nb2svc, write_notebook};

/// Writes a notebook with these code cells into `dir`.
fn notebook(dir: &Path, name: &str, cells: &[&str]) -> PathBuf {
    write_notebook(dir.join(name), cells)
}

/// An output folder holding one file of the user's, to check it is left as it was.
fn existing_output(dir: &Path) -> PathBuf {
    let out = dir.join("svc");
    fs::create_dir(&out).unwrap();
    fs::write(out.join("notes.txt"), "mine\n").unwrap();
    out
}

/// The output folder still holds only the user's file, and nothing is staged beside it.
fn assert_untouched(out: &Path) {
    let names = |dir: &Path| -> Vec<String> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    assert_eq!(names(out), ["notes.txt"], "the output folder changed");
    assert_eq!(fs::read_to_string(out.join("notes.txt")).unwrap(), "mine\n");
    let parent = out.parent().unwrap();
    let staged: Vec<_> = names(parent)
        .into_iter()
        .filter(|n| n.contains(".nb2svc-"))
        .collect();
    assert!(staged.is_empty(), "staging files left: {staged:?}");
}

/// Runs nb2svc on `cells` into an existing output and expects exit code 1 with `expected`.
fn refused(cells: &[&str], expected: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = notebook(dir.path(), "hostile.ipynb", cells);
    let out = existing_output(dir.path());
    nb2svc()
        .arg(&path)
        .arg("-o")
        .arg(&out)
        .arg("-q")
        .assert()
        .code(1)
        .stderr(
            predicate::str::starts_with(format!("error: in {}: ", path.display()))
                .and(predicate::str::contains(expected)),
        );
    assert_untouched(&out);
}

#[test]
fn deep_nesting_is_an_error_naming_cell_and_line_not_a_crash() {
    let minus = format!("y = 2\nx = {}1\n", "-".repeat(100_000));
    let sum = format!("y = 2\nx = 1{}\n", "+1".repeat(200_000));
    let parens = format!(
        "y = 2\nx = {}1{}\n",
        "(".repeat(100_000),
        ")".repeat(100_000)
    );
    let depth = "cell 1, line 2: an expression nests deeper than 1000 levels";
    refused(&[&minus], depth);
    refused(&[&sum], depth);
    refused(
        &["import os\n", &parens],
        "cell 2, line 2: more than 200 brackets open at once",
    );
    let blocks: String = (0..120)
        .map(|i| format!("{}if x:\n", " ".repeat(i)))
        .collect();
    refused(&[&blocks], "cell 1, line 101: more than 99 indented blocks");
    let module = format!("%%writefile deep.py\nx = {}1\n", "-".repeat(100_000));
    refused(
        &[&module],
        "cell 1, line 2: in `%%writefile deep.py`: an expression nests",
    );
}

#[test]
fn long_flat_code_within_the_limits_converts() {
    let dir = tempfile::tempdir().unwrap();
    let sum = format!("x = 1{}\n", "+1".repeat(900));
    let list = format!("y = [{}]\n", vec!["-1"; 50_000].join(", "));
    let path = notebook(dir.path(), "flat.ipynb", &[&sum, &list]);
    nb2svc()
        .arg(&path)
        .arg("-o")
        .arg(dir.path().join("svc"))
        .arg("-q")
        .assert()
        .success();
}

#[test]
fn writefile_to_a_folder_is_an_error_naming_the_cell() {
    for target in [".", "..", "./", "out/", "a/.."] {
        refused(
            &["x = 1\n", &format!("%%writefile {target}\nhello\n")],
            &format!("cell 2, line 1: `%%writefile {target}` names a folder, not a file"),
        );
    }
    refused(
        &["%%writefile\nhello\n"],
        "cell 1, line 1: `%%writefile` without a file name",
    );
}

#[test]
fn writefile_over_a_generated_file_is_an_error_not_dropped() {
    for name in [
        "main.py",
        "nb2svc_runtime.py",
        "nb2svc_inputs.py",
        "notebook.py",
        "__init__.py",
    ] {
        refused(
            &[&format!("%%writefile {name}\nprint('mine')\n")],
            &format!("cell 1, line 1: `%%writefile {name}` would ship as app/{name}, a file nb2svc generates"),
        );
    }
    refused(
        &["%%writefile README.txt\nmine\n"],
        "would ship as data/README.txt",
    );
    refused(&["%%writefile main.py/x.py\nx = 1\n"], "inside app/main.py");
}

#[test]
fn writefile_of_a_file_and_a_folder_of_the_same_name_is_an_error() {
    refused(
        &["%%writefile data\nx\n", "%%writefile data/x.csv\na\n"],
        "cell 1, line 1: `%%writefile data` would ship as the file data/data, where cell 2, line 1 writes data/data/x.csv, which needs data/data to be a folder",
    );
}

#[test]
fn a_file_where_the_output_needs_a_folder_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = notebook(dir.path(), "nb.ipynb", &["x = 1\n"]);
    let out = existing_output(dir.path());
    fs::write(out.join("app"), "mine\n").unwrap();
    nb2svc()
        .arg(&path)
        .arg("-o")
        .arg(&out)
        .args(["-q", "--force"])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("app exists and is not a folder")
                .and(predicate::str::contains("nothing was written")),
        );
    fs::remove_file(out.join("app")).unwrap();
    assert_untouched(&out);
}

#[test]
fn devices_and_huge_files_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    nb2svc()
        .args(["/dev/zero", "--dry-run"])
        .assert()
        .code(1)
        .stderr("error: cannot read notebook /dev/zero: not a regular file (a folder, device or pipe); expected a file\n");
    let big = dir.path().join("big.ipynb");
    // Sparse: the size is checked before anything is read.
    fs::File::create(&big)
        .unwrap()
        .set_len(513 * 1024 * 1024)
        .unwrap();
    nb2svc()
        .arg(&big)
        .arg("--dry-run")
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "cannot read notebook {}: larger than nb2svc's limit of 512 MiB",
            big.display()
        )));
    let path = notebook(dir.path(), "nb.ipynb", &["import numpy\n"]);
    let requirements = dir.path().join("requirements.txt");
    fs::write(&requirements, "numpy\n-r /dev/zero\n").unwrap();
    nb2svc()
        .arg(&path)
        .arg("-r")
        .arg(&requirements)
        .arg("--dry-run")
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("cannot read included file \"/dev/zero\"").and(
                predicate::str::contains(
                    "cannot read requirements file /dev/zero: not a regular file",
                ),
            ),
        );
    let huge = dir.path().join("huge.txt");
    fs::File::create(&huge)
        .unwrap()
        .set_len(17 * 1024 * 1024)
        .unwrap();
    nb2svc()
        .arg(&path)
        .arg("-r")
        .arg(&huge)
        .arg("--dry-run")
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "larger than nb2svc's limit of 16 MiB for a requirements file",
        ));
}

#[test]
fn image_references_follow_dockers_grammar() {
    let dir = tempfile::tempdir().unwrap();
    let path = notebook(dir.path(), "nb.ipynb", &["x = 1\n"]);
    for image in [
        "a::@@//",
        "Python:3.11-slim",
        "python:3.11 slim",
        "python@sha256:abc",
    ] {
        nb2svc()
            .arg(&path)
            .args(["--base-image", image, "--dry-run"])
            .assert()
            .code(1)
            .stderr(predicate::str::contains(format!(
                "`{image}` is not a Docker image reference"
            )));
    }
    nb2svc()
        .arg(&path)
        .args([
            "--base-image",
            "registry.example.com:5000/team/py:3.11-slim",
            "--dry-run",
        ])
        .assert()
        .success();
}

#[test]
fn a_misspelled_template_is_an_error_listing_the_names() {
    let dir = tempfile::tempdir().unwrap();
    let path = notebook(dir.path(), "nb.ipynb", &["x = 1\n"]);
    let templates = dir.path().join("templates");
    fs::create_dir(&templates).unwrap();
    fs::write(templates.join("Dokerfile"), "FROM x\n").unwrap();
    fs::write(templates.join(".Dockerfile.swp"), "").unwrap();
    let out = existing_output(dir.path());
    nb2svc()
        .arg(&path)
        .arg("-o")
        .arg(&out)
        .arg("--templates")
        .arg(&templates)
        .arg("--quiet")
        .assert()
        .code(1)
        .stderr(format!(
            "error: templates folder {} has files that are no template's name: Dokerfile; the templates are main.py, notebook.py, nb2svc_runtime.py, nb2svc_inputs.py, nb2svc_recording.py, nb2svc_models.py, nb2svc_fetch.py, __init__.py, Dockerfile, docker-compose.yaml, docker-compose.prod.yaml, dockerignore, gitignore, ruff.toml, env.example, README.md, data-README.txt\n",
            templates.display()
        ));
    assert_untouched(&out);
}

#[test]
fn compose_refuses_a_command_that_is_not_docker_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("docker-compose.yaml");
    nb2svc()
        .args(["compose", "-o"])
        .arg(&out)
        .args(["--command", "podman run -p 8888:8888 jupyter/base-notebook"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "`podman` is not docker: expected `docker run` or `docker container run`",
        ));
    assert!(!out.exists());
}
