//! Error texts are part of the interface: people search for them and scripts match them. Each
//! refusal here is checked word for word, run from the fixtures' folder so the paths it names
//! are the relative ones the person typed; and each leaves nothing behind.

use crate::support::{nb2svc, root};

/// Runs nb2svc with `args` in `tests/fixtures/cli`, into a fresh output folder; expects it to
/// fail with exit code `code` and exactly `stderr`, writing nothing.
fn refuses(args: &[&str], code: i32, stderr: &str) {
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("service");
    let output = nb2svc()
        .current_dir(root().join("tests/fixtures/cli"))
        .args(args)
        .arg("-o")
        .arg(&target)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        stderr,
        "nb2svc {args:?}"
    );
    assert_eq!(output.status.code(), Some(code), "nb2svc {args:?}");
    assert!(
        !target.exists(),
        "nb2svc {args:?} wrote {}",
        target.display()
    );
}

#[test]
fn a_missing_notebook() {
    refuses(
        &["missing.ipynb"],
        1,
        "error: cannot read notebook missing.ipynb: No such file or directory (os error 2)\n",
    );
}

#[test]
fn a_file_that_is_not_json() {
    refuses(
        &["bad_requirements.txt"],
        1,
        "error: bad_requirements.txt is not a notebook nb2svc can read: not a valid JSON \
         notebook: expected ident at line 1, column 3\n",
    );
}

#[test]
fn a_notebook_with_merge_conflict_markers() {
    refuses(
        &["merge_conflict.ipynb"],
        1,
        "error: merge_conflict.ipynb is not a notebook nb2svc can read: not a valid JSON \
         notebook: key must be a string at line 7, column 1; the file contains git \
         merge-conflict markers (line 7); resolve the conflict first\n",
    );
}

#[test]
fn a_notebook_in_another_language() {
    refuses(
        &["r_kernel.ipynb"],
        1,
        "error: r_kernel.ipynb cannot become a Python service: the notebook's kernel is `ir` \
         (language R); expected a Python kernel such as python3\n",
    );
}

#[test]
fn an_invalid_requirement() {
    refuses(
        &["imports_sklearn.ipynb", "-r", "bad_requirements.txt"],
        1,
        "error: bad_requirements.txt:3: invalid requirement \"pandas=>2\": no such comparison \
         operator \"=>\", must be one of ~= == != <= >= < > ===\n",
    );
}

#[test]
fn an_endpoint_the_notebook_does_not_define() {
    refuses(
        &[
            "imports_sklearn.ipynb",
            "--endpoint",
            "nosuch",
            "-r",
            "empty_requirements.txt",
        ],
        1,
        "error: in imports_sklearn.ipynb: no top-level function `nosuch` to serve in the \
         notebook (functions defined: predict)\n",
    );
}

#[test]
fn replicas_without_an_orchestrator() {
    refuses(
        &["imports_sklearn.ipynb", "--replicas", "3"],
        2,
        "error: the following required arguments were not provided:\n  \
         <--kubernetes|--swarm>\n\nUsage: nb2svc --replicas <N> --out <DIR> \
         <--kubernetes|--swarm> <NOTEBOOK>\n\nFor more information, try '--help'.\n",
    );
}
