//! The contract between nb2svc and template authors: no template prints a struct, an override
//! can replace one block of a built-in template, and `TEMPLATES.md` documents what the
//! templates read.

use std::fs;
use std::path::{Path, PathBuf};

use predicates::prelude::*;

use crate::support::{files_under, generate_into, nb2svc, output_text, root};

/// Every notebook the tests know as a project: the fixture cases, the deploy fixtures and the
/// penguins example, each with its root and requirements.
fn projects() -> Vec<(PathBuf, PathBuf, Option<PathBuf>)> {
    let mut projects = Vec::new();
    for group in ["tests/fixtures/cases", "tests/fixtures/deploy"] {
        for entry in fs::read_dir(root().join(group)).unwrap() {
            let case = entry.unwrap().path();
            let notebook = case.join("notebook.ipynb");
            if notebook.is_file() {
                let requirements = case.join("requirements.txt");
                projects.push((
                    notebook,
                    case,
                    requirements.is_file().then_some(requirements),
                ));
            }
        }
    }
    let penguins = root().join("examples/penguins");
    projects.push((
        penguins.join("penguins.ipynb"),
        penguins.clone(),
        Some(penguins.join("requirements.txt")),
    ));
    projects
}

fn generate(
    notebook: &Path,
    project: &Path,
    requirements: Option<&Path>,
    out: &Path,
    extra: &[&str],
) {
    let project = project.to_str().expect("a UTF-8 project path");
    let args: Vec<&str> = ["--root", project]
        .into_iter()
        .chain(extra.iter().copied())
        .collect();
    let output = generate_into(out, notebook, requirements, &args);
    assert!(output.status.success(), "{}", output_text(&output));
}

#[test]
fn no_template_prints_a_struct() {
    for (notebook, project, requirements) in projects() {
        // The orchestrators' sections of the README are rendered only when asked for.
        for extra in [&[][..], &["--kubernetes", "--swarm"][..]] {
            let out = tempfile::tempdir().unwrap();
            generate(
                &notebook,
                &project,
                requirements.as_deref(),
                out.path(),
                extra,
            );
            for file in files_under(out.path()) {
                let Ok(text) = fs::read_to_string(out.path().join(&file)) else {
                    continue;
                };
                assert!(
                    !text.contains("[object]"),
                    "{file} of {} prints a struct:\n{text}",
                    notebook.display()
                );
            }
        }
    }
}

/// The README of the `double` fixture, with `--templates overrides` when given.
fn readme(dir: &Path, overrides: Option<&Path>) -> String {
    let out = dir.join(if overrides.is_some() {
        "custom"
    } else {
        "default"
    });
    let mut command = nb2svc();
    command
        .arg(root().join("tests/fixtures/cli/double.ipynb"))
        .arg("-o")
        .arg(&out)
        .arg("-q");
    if let Some(overrides) = overrides {
        command.arg("--templates").arg(overrides);
    }
    command.assert().success();
    fs::read_to_string(out.join("README.md")).unwrap()
}

#[test]
fn overriding_one_readme_block_changes_that_section_only() {
    let dir = tempfile::tempdir().unwrap();
    let overrides = dir.path().join("templates");
    fs::create_dir(&overrides).unwrap();
    fs::write(
        overrides.join("README.md"),
        "{% extends \"nb2svc/README.md\" %}\nignored text\n{% block run %}## Run it\n\nRun `make serve` on port {{ service.host_port }}.{% endblock run %}\n",
    )
    .unwrap();
    let default = readme(dir.path(), None);
    let custom = readme(dir.path(), Some(&overrides));
    let start = default.find("## Run it\n").unwrap();
    let end = default
        .find("\n\n## When the notebook's code runs")
        .unwrap();
    let expected = format!(
        "{}## Run it\n\nRun `make serve` on port 8000.{}",
        &default[..start],
        &default[end..]
    );
    assert_eq!(custom, expected);
}

#[test]
fn a_block_the_template_does_not_have_is_an_error_naming_its_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let overrides = dir.path().join("templates");
    fs::create_dir(&overrides).unwrap();
    fs::write(
        overrides.join("Dockerfile"),
        "{% extends \"nb2svc/Dockerfile\" %}{% block serv %}CMD [\"x\"]{% endblock serv %}",
    )
    .unwrap();
    nb2svc()
        .arg(root().join("tests/fixtures/cli/double.ipynb"))
        .arg("-o")
        .arg(dir.path().join("svc"))
        .arg("--templates")
        .arg(&overrides)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "error: template {} defines blocks that nb2svc/Dockerfile does not have: serv; its blocks are base, code, dependencies, header, serve, serving_code, user\n",
            overrides.join("Dockerfile").display()
        )));
}

#[test]
fn the_exported_document_lists_every_field_the_templates_read() {
    let dir = tempfile::tempdir().unwrap();
    nb2svc().arg("templates").arg(dir.path()).assert().success();
    let document = fs::read_to_string(dir.path().join("TEMPLATES.md")).unwrap();
    let service = document
        .split("### `ServiceView`\n")
        .nth(1)
        .unwrap()
        .split("\n### ")
        .next()
        .unwrap();
    let mut read = std::collections::BTreeSet::new();
    for file in files_under(dir.path()) {
        // The runtime's files are Python copied as they are, not templates.
        if file == "TEMPLATES.md" || file.starts_with("nb2svc_") {
            continue;
        }
        let text = fs::read_to_string(dir.path().join(&file)).unwrap();
        for (index, _) in text.match_indices("service.") {
            let field: String = text[index + "service.".len()..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if !field.is_empty() {
                read.insert(field);
            }
        }
    }
    assert!(
        read.contains("routes") && read.contains("training"),
        "{read:?}"
    );
    for field in read {
        assert!(
            service.contains(&format!("| `{field}` |")),
            "TEMPLATES.md does not document service.{field}"
        );
    }
    for (block, file) in [("run", "README.md"), ("serve", "Dockerfile")] {
        assert!(
            document.contains(&format!("- `{block}`: ")),
            "{file}: {block}"
        );
    }
}
