//! Snapshots of every generated file for fixtures named after the behaviour they show.
//! Reviewing a snapshot diff is reviewing the product.

use std::fs;

use crate::support::{files_under, nb2svc};

#[test]
fn generated_files_match_snapshots() {
    insta::glob!("../fixtures/cases", "*/notebook.ipynb", |notebook| {
        let case = notebook.parent().unwrap();
        let out = tempfile::tempdir().unwrap();
        let mut command = nb2svc();
        command
            .arg(notebook)
            .arg("--out")
            .arg(out.path())
            .arg("--quiet")
            .arg("--name")
            .arg(case.file_name().unwrap())
            // Each fixture is a project of its own, whether or not this checkout is a git
            // work tree (which would make the fixture a folder deep inside it).
            .arg("--root")
            .arg(case);
        let requirements = case.join("requirements.txt");
        if requirements.exists() {
            command.arg("--requirements").arg(&requirements);
        }
        command.assert().success();
        let mut listing = String::new();
        for file in files_under(out.path()) {
            let bytes = fs::read(out.path().join(&file)).unwrap();
            let text = String::from_utf8(bytes).unwrap_or_else(|_| "<binary>".into());
            // The runtime's files are the same in every project and have tests of their own
            // (tests/runtime): here it is enough that they are the templates, byte for byte.
            let text = match verbatim_template(&file) {
                Some(template) => {
                    assert_eq!(text, template, "{file} is its template, byte for byte");
                    format!("(templates/{}, verbatim)", file.trim_start_matches("app/"))
                }
                None => text,
            };
            listing.push_str(&format!("===== {file} =====\n{text}\n"));
        }
        insta::assert_snapshot!(listing);
    });
}

/// The template a generated file copies verbatim, if it is one of the runtime's files.
fn verbatim_template(file: &str) -> Option<String> {
    let name = file.strip_prefix("app/")?;
    (name.starts_with("nb2svc_") && name.ends_with(".py"))
        .then(|| fs::read_to_string(crate::support::root().join("templates").join(name)).ok())
        .flatten()
}

#[test]
fn output_is_byte_identical_across_runs() {
    let notebook = crate::support::root().join("examples/penguins/penguins.ipynb");
    let requirements = crate::support::root().join("examples/penguins/requirements.txt");
    let render = || {
        let out = tempfile::tempdir().unwrap();
        nb2svc()
            .arg(&notebook)
            .arg("-r")
            .arg(&requirements)
            .arg("-o")
            .arg(out.path())
            .arg("-q")
            .assert()
            .success();
        files_under(out.path())
            .into_iter()
            .map(|f| (f.clone(), fs::read(out.path().join(f)).unwrap()))
            .collect::<Vec<_>>()
    };
    assert_eq!(render(), render());
}
