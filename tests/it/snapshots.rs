//! Snapshots of every generated file for fixtures named after the behaviour they show.
//! Reviewing a snapshot diff is reviewing the product. The runtime is stored once (the
//! `runtime_modules` snapshot, every module as a service gets it); a fixture's snapshot lists
//! the runtime modules its service got, each with a hash of its text.

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
            // The runtime's modules are the same in every project and have tests of their own
            // (tests/runtime): here it is enough that each is its stamped template, byte for
            // byte, as the runtime snapshot holds it.
            let text = match shipped_runtime(&file) {
                Some(module) => {
                    assert_eq!(
                        text, module,
                        "{file} is its stamped template, byte for byte"
                    );
                    format!(
                        "(runtime module, fnv1a64 {:016x}, as in the runtime snapshot)",
                        fnv1a64(text.as_bytes())
                    )
                }
                None => text,
            };
            listing.push_str(&format!("===== {file} =====\n{text}\n"));
        }
        insta::assert_snapshot!(listing);
    });
}

/// A runtime module as a service gets it (its template, the version stamped), if `file` is one.
fn shipped_runtime(file: &str) -> Option<String> {
    let name = file.strip_prefix("app/")?;
    if !(name.starts_with("nb2svc_") && name.ends_with(".py")) {
        return None;
    }
    let template = fs::read_to_string(crate::support::root().join("templates").join(name)).ok()?;
    Some(template.replace("@nb2svc_version@", env!("CARGO_PKG_VERSION")))
}

/// FNV-1a, 64 bits: a stable fingerprint of a text for the snapshots (not a security hash;
/// equality is checked byte for byte above).
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The runtime, once: every module as a service gets it, with the fingerprint the fixtures'
/// snapshots name it by.
#[test]
fn runtime_modules_match_snapshot() {
    let templates = crate::support::root().join("templates");
    let mut names: Vec<String> = fs::read_dir(&templates)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("nb2svc_") && name.ends_with(".py"))
        .collect();
    names.sort();
    assert_eq!(names.len(), 5, "the runtime's modules: {names:?}");
    let mut listing = String::new();
    for name in names {
        let text = shipped_runtime(&format!("app/{name}")).unwrap();
        let hash = fnv1a64(text.as_bytes());
        listing.push_str(&format!(
            "===== app/{name} (fnv1a64 {hash:016x}) =====\n{text}\n"
        ));
    }
    insta::assert_snapshot!(listing);
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
