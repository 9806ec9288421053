//! The generated Python passes the field's linter and formatter (issue 11): `ruff check` and
//! `ruff format --check` with the `ruff.toml` each service carries (the image's Python, rules
//! E, F, W, I, UP and B, no blanket `noqa`), for the penguins example, every fixture and every
//! corpus notebook. The author's own code (`app/notebook.py`, the modules it writes or ships) is
//! left out by that file, and the test checks that nothing else is. No generated file holds
//! Tera's `[object]`, the sign of a structure pasted into a template.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{
    generate_into, generated_inputs, output_text, tool_or_skip, venv_or_skip, works,
};

/// Generates every input of [`generated_inputs`] into a folder of its own under `all`: the
/// notebook and the folder of each service generated. A refused input is left out: corpus.rs
/// checks its error.
fn generate_all(all: &Path) -> Vec<(PathBuf, PathBuf)> {
    let mut generated = Vec::new();
    for (index, (notebook, requirements, extra)) in generated_inputs().into_iter().enumerate() {
        let out = all.join(format!("{index:03}"));
        if generate_into(&out, &notebook, requirements.as_deref(), &extra)
            .status
            .success()
        {
            generated.push((notebook, out));
        }
    }
    generated
}

#[test]
fn every_generated_service_passes_ruff_check_and_format() {
    let test = "every_generated_service_passes_ruff_check_and_format";
    if !tool_or_skip(test, works("ruff", &["--version"]), "ruff") {
        return;
    }
    let all = tempfile::tempdir().unwrap();
    let mut checked = 0;
    let mut failures = Vec::new();
    for (notebook, out) in generate_all(all.path()) {
        // A template handed a structure instead of text prints Tera's `[object]`.
        for file in crate::support::files_under(&out) {
            let text = fs::read_to_string(out.join(&file)).unwrap_or_default();
            assert!(
                !text.contains("[object]"),
                "{} gives a {file} with `[object]` in it",
                notebook.display()
            );
        }
        let config = fs::read_to_string(out.join("ruff.toml")).unwrap();
        // nb2svc's own files: the app, and the runtime modules this service got.
        let runtime: Vec<String> = crate::support::files_under(&out)
            .into_iter()
            .filter(|f| f.starts_with("app/nb2svc_") && f.ends_with(".py"))
            .collect();
        assert!(runtime.contains(&"app/nb2svc_runtime.py".to_string()));
        let own = ["app/main.py".to_string(), "app/__init__.py".to_string()];
        for generated in own.iter().chain(&runtime) {
            assert!(
                !config.contains(&format!("\"{generated}\"")),
                "{} excludes nb2svc's own {generated}:\n{config}",
                notebook.display()
            );
        }
        for args in [
            &["check", "--no-cache", "."][..],
            &["format", "--check", "--no-cache", "."],
        ] {
            let run = Command::new("ruff")
                .args(args)
                .current_dir(&out)
                .output()
                .unwrap();
            if !run.status.success() {
                failures.push(format!(
                    "{} (ruff {}):\n{}",
                    notebook.display(),
                    args[0],
                    output_text(&run)
                ));
            }
        }
        checked += 1;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked >= 12, "only {checked} services generated");
    eprintln!("{test}: {checked} generated services pass ruff check and ruff format --check");
}

/// Every generated `app/main.py` imports with nothing but what the serving code needs
/// (FastAPI, pydantic, uvicorn): the routes, the request models and their typing names are
/// real Python, not only text that compiles. Importing runs none of the notebook's code,
/// which happens at startup, so the notebook's own libraries need not be there.
#[test]
fn every_generated_app_main_imports_with_the_serving_libraries_alone() {
    let test = "every_generated_app_main_imports_with_the_serving_libraries_alone";
    let spec = tempfile::tempdir().unwrap();
    let requirements = spec.path().join("requirements.txt");
    fs::write(
        &requirements,
        "fastapi>=0.100\npydantic>=2\nuvicorn>=0.15\n",
    )
    .unwrap();
    let Some(python) = venv_or_skip(test, &requirements) else {
        return;
    };
    let all = tempfile::tempdir().unwrap();
    let mut imported = 0;
    let mut failures = Vec::new();
    for (notebook, out) in generate_all(all.path()) {
        let run = Command::new(&python)
            .args([
                "-c",
                "import sys, app.main\n\
                 assert app.main.app.title, 'a title'\n\
                 assert 'app.notebook' not in sys.modules, 'the notebook ran at import'",
            ])
            .current_dir(&out)
            .output()
            .unwrap();
        if run.status.success() {
            imported += 1;
        } else {
            failures.push(format!("{}:\n{}", notebook.display(), output_text(&run)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(imported >= 12, "only {imported} services generated");
    eprintln!("{test}: {imported} generated app/main.py import with FastAPI alone");
}
