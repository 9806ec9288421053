//! The lock step against a stand-in uv: a shell script that answers `--version` and prints a
//! recorded `uv pip compile` answer, and keeps the files it was given.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::*;
use crate::requirements::{Origin, Requirement};

/// uv 0.13.9's output for `numpy==1.26.4` and `fastapi` (hashes shortened).
const LOCKED: &str = "\
annotated-types==0.8.0 \\
    --hash=sha256:13b2 \\
    --hash=sha256:f072
    # via pydantic
fastapi==0.121.0 \\
    --hash=sha256:aa
    # via -r requirements.in
numpy==1.26.4 \\
    --hash=sha256:03a8
    # via -r requirements.in
";

/// A stand-in uv in `dir` that prints `stdout` and `stderr` and exits with `code` for `pip
/// compile`, after copying its folder's files to `dir/seen/`.
fn fake_uv(dir: &Path, stdout: &str, stderr: &str, code: i32) -> Resolver {
    std::fs::write(dir.join("stdout"), stdout).unwrap();
    std::fs::write(dir.join("stderr"), stderr).unwrap();
    let script = format!(
        "#!/bin/sh\n\
         if [ \"$1\" = --version ]; then echo 'uv 0.13.9 (fake)'; exit 0; fi\n\
         mkdir -p '{dir}/seen' && cp ./* '{dir}/seen/'\n\
         echo \"$@\" > '{dir}/seen/args'\n\
         cat '{dir}/stdout'; cat '{dir}/stderr' >&2; exit {code}\n",
        dir = dir.display()
    );
    let program = dir.join("uv");
    std::fs::write(&program, script).unwrap();
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    Resolver {
        program: program.into(),
        arch: "x86_64".into(),
        limit: Duration::from_secs(30),
    }
}

fn merged() -> Merged {
    Merged {
        requirements: vec![
            Requirement {
                name: "numpy".into(),
                text: "numpy==1.26.4".into(),
                origin: Origin::File {
                    path: "requirements.txt".into(),
                    line: 1,
                },
            },
            Requirement {
                name: "fastapi".into(),
                text: "fastapi".into(),
                origin: Origin::Added {
                    reason: "serves the API".into(),
                },
            },
        ],
        ..Merged::default()
    }
}

fn request<'a>(
    merged: &'a Merged,
    base_image: &'a str,
    user_lock: Option<&'a UserLock>,
    mode: LockMode,
) -> Request<'a> {
    Request {
        merged,
        base_image,
        python: "3.11",
        user_lock,
        previous: None,
        upgrade: false,
        mode,
    }
}

#[test]
fn locks_requirements_in_for_the_image_with_its_own_header() {
    let merged = merged();
    let dir = tempfile::tempdir().unwrap();
    let resolver = fake_uv(dir.path(), LOCKED, "Resolved 3 packages in 12ms\n", 0);
    let state = lock(
        &request(&merged, "python:3.10-slim", None, LockMode::Auto),
        &resolver,
    )
    .unwrap();
    let lock = state.locked().expect("locked");
    assert_eq!(
        lock.text,
        format!(
            "# The lock of requirements.in: every package the service installs, pinned, with its\n\
             # hashes (the image installs with --require-hashes). Made by nb2svc with uv 0.13.9\n\
             # for Python 3.10 on x86_64-manylinux_2_28 (the base image python:3.10-slim).\n\
             # To update: run nb2svc again with --upgrade-lock --force, or\n\
             #   uv pip compile --generate-hashes --no-header --python-version 3.10 --python-platform x86_64-manylinux_2_28 requirements.in -o requirements.txt\n\
             {LOCKED}"
        )
    );
    let names: Vec<String> = lock
        .packages
        .iter()
        .map(|p| format!("{}=={}", p.name, p.version))
        .collect();
    assert_eq!(
        names,
        [
            "annotated-types==0.8.0",
            "fastapi==0.121.0",
            "numpy==1.26.4"
        ]
    );
    assert!(lock.hashed);
    // uv got the intent as the service ships it, and nothing else.
    let seen = dir.path().join("seen");
    assert_eq!(
        std::fs::read_to_string(seen.join("requirements.in")).unwrap(),
        crate::requirements::render_requirements_txt(&merged)
    );
    let args = std::fs::read_to_string(seen.join("args")).unwrap();
    assert!(
        args.contains("pip compile --generate-hashes --no-header --python-version 3.10 --python-platform x86_64-manylinux_2_28 requirements.in"),
        "{args}"
    );
}

#[test]
fn passes_the_project_lock_as_constraints_and_says_so() {
    let merged = merged();
    let dir = tempfile::tempdir().unwrap();
    let resolver = fake_uv(dir.path(), LOCKED, "", 0);
    let user = user_lock::parse(
        "[[package]]\nname = \"numpy\"\nversion = \"1.26.4\"\nsource = { registry = \"https://pypi.org/simple\" }\n",
        user_lock::LockFormat::Uv,
        "sub/uv.lock",
    )
    .unwrap();
    let state = lock(
        &request(&merged, "python:3.11-slim", Some(&user), LockMode::Required),
        &resolver,
    )
    .unwrap();
    let seen = dir.path().join("seen");
    assert_eq!(
        std::fs::read_to_string(seen.join("uv.lock.constraints.txt")).unwrap(),
        "# Versions of the project's lock sub/uv.lock, kept by nb2svc.\nnumpy==1.26.4  # sub/uv.lock line 2\n"
    );
    let args = std::fs::read_to_string(seen.join("args")).unwrap();
    assert!(
        args.contains("--constraint uv.lock.constraints.txt requirements.in"),
        "{args}"
    );
    let lock = state.locked().unwrap();
    assert!(
        lock.text
            .contains("# The versions of the project's lock sub/uv.lock were kept."),
        "{}",
        lock.text
    );
    assert_eq!(lock.user_lock.as_ref().unwrap().file, "sub/uv.lock");
}

#[test]
fn a_conflict_is_an_error_naming_the_lines_whatever_the_mode() {
    let merged = merged();
    let dir = tempfile::tempdir().unwrap();
    let stderr = "error: No solution found when resolving dependencies\n  cause: Because you require numpy==1.26.4 and numpy>=2, we can conclude that your requirements are unsatisfiable.\n";
    let resolver = fake_uv(dir.path(), "", stderr, 1);
    for mode in [LockMode::Auto, LockMode::Required] {
        let error = lock(&request(&merged, "python:3.11-slim", None, mode), &resolver)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("  numpy==1.26.4  (from requirements.txt line 1)\n"),
            "{error}"
        );
        assert!(
            error.contains("uv says:\n  error: No solution found"),
            "{error}"
        );
    }
}

#[test]
fn without_uv_or_index_auto_says_why_and_lock_refuses() {
    let merged = merged();
    let dir = tempfile::tempdir().unwrap();
    let missing = Resolver {
        program: dir.path().join("no-uv").into(),
        arch: "x86_64".into(),
        limit: Duration::from_secs(5),
    };
    let state = lock(
        &request(&merged, "python:3.11-slim", None, LockMode::Auto),
        &missing,
    )
    .unwrap();
    assert!(
        matches!(&state, LockState::Unlocked { reason } if reason.starts_with("uv is not installed")),
        "{state:?}"
    );
    let error = lock(
        &request(&merged, "python:3.11-slim", None, LockMode::Required),
        &missing,
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.starts_with("--lock: cannot lock the requirements: uv is not installed"),
        "{error}"
    );

    let offline = fake_uv(
        dir.path(),
        "",
        "error: Request failed after 3 retries in 5.0s\n  cause: Failed to fetch: https://pypi.org/simple/numpy/\n  cause: dns error\n",
        2,
    );
    let state = lock(
        &request(&merged, "python:3.11-slim", None, LockMode::Auto),
        &offline,
    )
    .unwrap();
    assert_eq!(
        state,
        LockState::Unlocked {
            reason: "uv could not reach the package index (dns error)".into()
        }
    );
    assert!(lock(
        &request(&merged, "python:3.11-slim", None, LockMode::Required),
        &offline
    )
    .is_err());
    let state = lock(
        &request(&merged, "python:3.11-slim", None, LockMode::Off),
        &offline,
    )
    .unwrap();
    assert_eq!(
        state,
        LockState::Unlocked {
            reason: OFF_REASON.into()
        }
    );
}

#[test]
fn another_failure_is_an_error_with_uv_message() {
    let merged = merged();
    let dir = tempfile::tempdir().unwrap();
    let resolver = fake_uv(
        dir.path(),
        "",
        "error: Failed to build `numpy==1.19.5`\n  cause: The build backend returned an error\n",
        1,
    );
    let error = lock(
        &request(&merged, "python:3.11-slim", None, LockMode::Auto),
        &resolver,
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.starts_with("cannot lock the requirements: uv failed (exit code 1) for Python 3.11"),
        "{error}"
    );
    assert!(error.ends_with("  error: Failed to build `numpy==1.19.5`\n    cause: The build backend returned an error"), "{error}");
}

#[test]
fn a_vcs_line_without_hashes_is_seen() {
    assert!(!all_hashed("numpy==1.26.4 \\\n    --hash=sha256:ab\nmylib @ git+https://example.com/mylib@abc\n    # via -r requirements.in\n"));
    assert!(all_hashed(LOCKED));
}

#[test]
fn the_mode_comes_from_the_flags_then_the_environment() {
    assert_eq!(
        LockMode::choose(false, false, None).unwrap(),
        LockMode::Auto
    );
    assert_eq!(
        LockMode::choose(true, false, Some("no")).unwrap(),
        LockMode::Required
    );
    assert_eq!(
        LockMode::choose(false, true, Some("yes")).unwrap(),
        LockMode::Off
    );
    assert_eq!(
        LockMode::choose(false, false, Some("no")).unwrap(),
        LockMode::Off
    );
    assert_eq!(
        LockMode::choose(false, false, Some("yes")).unwrap(),
        LockMode::Required
    );
    assert!(LockMode::choose(false, false, Some("maybe")).is_err());
}
