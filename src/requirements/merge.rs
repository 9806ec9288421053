//! Merging a dependency file with what the notebook needs, and writing the result.
//!
//! The supplied file is the person's word and wins: nothing in it is dropped or re-pinned.
//! Imports it does not cover are added (or, in strict mode, refused), ambiguous imports are
//! only reported, and packages it lists that the notebook never imports stay, because a
//! pickled model can need a package its code never imports.

use std::collections::BTreeSet;

use anyhow::{bail, Result};
use serde::Serialize;

use super::spec::parse_spec;
use super::{Floor, Origin, Requirement, RequirementsSet};
use crate::diagnostics::{CellRef, Location, Warning};
use crate::import_map::{
    candidate_matches, distribution_for, import_names_for, normalize, Distribution,
};

/// The requirements of the service, ready to render.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Merged {
    /// Everything to install: file entries in file order, then magics, then imports (sorted
    /// by module), then serving packages.
    pub requirements: Vec<Requirement>,
    /// pip options from the file, written first.
    pub options: Vec<String>,
    /// The file's warnings followed by the merge's.
    pub warnings: Vec<Warning>,
    /// The requirements added because the notebook imports them and the file does not list
    /// them (also present in `requirements`).
    pub missing: Vec<Requirement>,
    /// The library versions the shipped pickles record (pinned unless the file says otherwise).
    pub pickled_by: Vec<super::PickledBy>,
}

/// What the notebook asks for, as found by the extractor.
#[derive(Debug, Clone, Copy)]
pub struct NotebookNeeds<'a> {
    /// Top-level import names with the cells that import them, in the code the service runs.
    pub imports: &'a [(String, Vec<CellRef>)],
    /// Top-level import names that only statements the service leaves out import.
    pub left_out_imports: &'a [String],
    /// Modules shipped next to the notebook (`utils`, `etl`): never looked up on PyPI.
    pub local_modules: &'a [String],
    /// Specs from `%pip install` / `!pip install` / `%conda install`, with their line.
    pub magic_requirements: &'a [(String, Location)],
    /// Modules that pickled files the notebook loads refer to, with the file: their packages
    /// must be there to load it. Only modules nb2svc knows the package of count.
    pub unpickled: &'a [(String, String)],
    /// Library versions that pickled files the notebook only loads record: pinned.
    pub pickled_by: &'a [super::PickledBy],
}

/// Merges the dependency file (if any) with the notebook's needs and the `serving`
/// packages (`fastapi>=0.100`, ...), which are added when absent and are floors for the
/// lines that name them (see [`super::floors`]). With `strict`, an import the file does not
/// cover is an error listing every such import and its cells.
pub fn merge(
    file: Option<RequirementsSet>,
    needs: &NotebookNeeds,
    serving: &[Floor],
    strict: bool,
) -> Result<Merged> {
    let had_file = file.is_some();
    let file = file.unwrap_or_default();
    let mut merged = Merged {
        requirements: file.requirements,
        options: file.options,
        warnings: file.warnings,
        missing: Vec::new(),
        pickled_by: needs.pickled_by.to_vec(),
    };
    add_magics(&mut merged, needs.magic_requirements);
    let mut imports: Vec<&(String, Vec<CellRef>)> = needs.imports.iter().collect();
    imports.sort_by(|a, b| a.0.cmp(&b.0));
    let local: BTreeSet<&str> = needs.local_modules.iter().map(|m| top_level(m)).collect();
    let mut refused = Vec::new();
    for (module, cells) in imports {
        let top = top_level(module);
        if local.contains(top) || provides(&merged.requirements, top) {
            continue;
        }
        let dist = match distribution_for(module) {
            Distribution::Stdlib => continue,
            Distribution::Ambiguous(candidates) => {
                if !merged
                    .requirements
                    .iter()
                    .any(|r| candidates.iter().any(|c| candidate_matches(c, &r.name)))
                {
                    merged.warnings.push(Warning::general(format!(
                        "import {module} in {} could come from several packages ({}); nb2svc does not guess: \
                         add the right one to the requirements file",
                        crate::diagnostics::places(cells, ", "),
                        candidates.join(", ")
                    )));
                }
                continue;
            }
            Distribution::Known(dist) if listed(&merged.requirements, dist) => continue,
            Distribution::Known(dist) => dist.to_string(),
            Distribution::Unknown => {
                if !strict {
                    merged.warnings.push(Warning::general(format!(
                        "import {module} in {} is not in nb2svc's import table and no listed package provides it; \
                         added {top:?} as a guess: check that this is the PyPI name",
                        crate::diagnostics::places(cells, ", ")
                    )));
                }
                top.to_string()
            }
        };
        let origin = Origin::Import {
            module: module.clone(),
            cells: cells.clone(),
        };
        let requirement = Requirement {
            name: normalize(&dist),
            text: dist,
            origin,
        };
        if strict {
            refused.push(requirement);
        } else {
            merged.missing.push(requirement.clone());
            merged.requirements.push(requirement);
        }
    }
    for (module, file) in needs.unpickled {
        let top = top_level(module);
        if local.contains(top) || provides(&merged.requirements, top) {
            continue;
        }
        let Distribution::Known(dist) = distribution_for(module) else {
            continue;
        };
        if listed(&merged.requirements, dist) {
            continue;
        }
        let requirement = Requirement {
            name: normalize(dist),
            text: dist.to_string(),
            origin: Origin::Added {
                reason: format!("loading {file} needs `{top}`"),
            },
        };
        merged.missing.push(requirement.clone());
        merged.requirements.push(requirement);
    }
    if !refused.is_empty() {
        let lines: Vec<String> = refused
            .iter()
            .map(|r| format!("  {} ({})", r.text, r.origin))
            .collect();
        let source = if had_file {
            "the requirements file does not list"
        } else {
            "no requirements file lists"
        };
        bail!(
            "{source} {} package(s) the notebook imports (strict mode):\n{}\nexpected every import to be covered: add them to the requirements file",
            refused.len(),
            lines.join("\n")
        );
    }
    let pin_warnings = super::pickle_pins::pin(
        &mut merged.requirements,
        &mut merged.missing,
        needs.pickled_by,
    );
    merged.warnings.extend(pin_warnings);
    if let Some(numpy) = super::numpy_abi::keep_numpy_abi(&mut merged.requirements) {
        merged.missing.push(numpy);
    }
    let serving_names = serving
        .iter()
        .map(Floor::name)
        .collect::<Result<Vec<String>>>()?;
    warn_unused(&mut merged, needs, &serving_names);
    let floor_warnings = super::floors::hold(&mut merged.requirements, serving)?;
    merged.warnings.extend(floor_warnings);
    // An added line a bound changed reads as it is written.
    for added in &mut merged.missing {
        if let Some(now) = merged.requirements.iter().find(|r| r.name == added.name) {
            added.clone_from(now);
        }
    }
    for (floor, name) in serving.iter().zip(serving_names) {
        if !merged.requirements.iter().any(|r| r.name == name) {
            merged.requirements.push(Requirement {
                name,
                text: floor.spec.to_string(),
                origin: Origin::Added {
                    reason: floor.why.to_string(),
                },
            });
        }
    }
    warn_hash_mode(&mut merged);
    Ok(merged)
}

fn add_magics(merged: &mut Merged, magics: &[(String, Location)]) {
    for (spec, location) in magics {
        let parsed = match parse_spec(spec) {
            Ok(parsed) => parsed,
            Err(err) => {
                merged.warnings.push(Warning::at(
                    location.clone(),
                    format!("cannot read install spec {spec:?}: {err}; skipped"),
                ));
                continue;
            }
        };
        if let Some(problem) = &parsed.problem {
            merged
                .warnings
                .push(Warning::at(location.clone(), problem.clone()));
        }
        let same = |r: &&Requirement| match parsed.name.is_empty() {
            true => r.text == parsed.text,
            false => r.name == parsed.name,
        };
        if let Some(existing) = merged.requirements.iter().find(same) {
            let bare = normalize(&parsed.text) == parsed.name;
            if !bare && squash(&existing.text) != squash(&parsed.text) {
                merged.warnings.push(Warning::at(
                    location.clone(),
                    format!(
                        "installs {:?}, but {} has {:?}; keeping the latter",
                        parsed.text, existing.origin, existing.text
                    ),
                ));
            }
            continue;
        }
        let origin = Origin::Magic {
            location: location.clone(),
        };
        merged.requirements.push(Requirement {
            name: parsed.name,
            text: parsed.text,
            origin,
        });
    }
}

/// One warning for the listed packages that only left-out statements import, and one for
/// those that no notebook import uses.
fn warn_unused(merged: &mut Merged, needs: &NotebookNeeds, serving: &[String]) {
    let imported: BTreeSet<&str> = needs.imports.iter().map(|(m, _)| top_level(m)).collect();
    let left_out_imports: BTreeSet<&str> =
        needs.left_out_imports.iter().map(String::as_str).collect();
    let provided_by = |requirement: &Requirement, imports: &BTreeSet<&str>| {
        imports
            .iter()
            .any(|import| provides(std::slice::from_ref(requirement), import))
    };
    let (left_out, never): (Vec<&Requirement>, Vec<&Requirement>) = merged
        .requirements
        .iter()
        .filter(|r| r.origin.is_file() && !r.name.is_empty() && !serving.contains(&r.name))
        .filter(|r| !provided_by(r, &imported))
        .partition(|r| provided_by(r, &left_out_imports));
    for (unused, why) in [
        (
            left_out,
            "are imported only by statements the service does not run",
        ),
        (never, "are never imported by the notebook"),
    ] {
        if unused.is_empty() {
            continue;
        }
        let names: Vec<&str> = unused.iter().map(|r| r.name.as_str()).collect();
        merged.warnings.push(Warning::general(format!(
            "{} listed package(s) {why}; kept, since a pickled model or another package may need them: {}",
            unused.len(),
            names.join(", ")
        )));
    }
}

/// pip checks every hash once one requirement has one; added lines have none.
fn warn_hash_mode(merged: &mut Merged) {
    let hashed = |r: &Requirement| r.text.contains(" --hash=");
    if !merged.requirements.iter().any(hashed) {
        return;
    }
    let unhashed: Vec<&str> = merged
        .requirements
        .iter()
        .filter(|r| !hashed(r))
        .map(|r| r.text.as_str())
        .collect();
    if !unhashed.is_empty() {
        merged.warnings.push(Warning::general(format!(
            "the requirements use --hash, so pip will require a pinned, hashed line for every package; these have none: {}",
            unhashed.join(", ")
        )));
    }
}

/// Whether a listed requirement provides the import `top`, by the table or by name.
fn provides(requirements: &[Requirement], top: &str) -> bool {
    let as_name = normalize(top);
    requirements.iter().any(|r| {
        !r.name.is_empty() && (r.name == as_name || import_names_for(&r.name).contains(&top))
    })
}

fn listed(requirements: &[Requirement], dist: &str) -> bool {
    let dist = normalize(dist);
    requirements.iter().any(|r| r.name == dist)
}

fn top_level(module: &str) -> &str {
    module.split('.').next().unwrap_or(module)
}

fn squash(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_lowercase()
}

/// Renders the merged requirements as a requirements.txt: pip options first, then one line
/// per requirement, each followed by a comment saying where it came from. Deterministic.
pub fn render_requirements_txt(merged: &Merged) -> String {
    let mut out = String::from("# Generated by nb2svc. Each line says where it came from.\n");
    if !merged.options.is_empty() {
        out.push_str("# pip options from the requirements file\n");
        for option in &merged.options {
            out.push_str(&crate::escape::one_line(option));
            out.push('\n');
        }
    }
    for requirement in &merged.requirements {
        // One line per requirement: a line break in its text or origin (a cell id, a path)
        // would give pip a line nobody wrote.
        out.push_str(&format!(
            "{}  # {}\n",
            crate::escape::one_line(&requirement.text),
            crate::escape::one_line(&requirement.origin.to_string())
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::plan::SERVING_PACKAGES;
    use crate::requirements::{parse_requirements_txt, read};
    use crate::test_support::corpus_file;

    fn file(text: &str) -> RequirementsSet {
        parse_requirements_txt(text, Path::new("requirements.txt"), &mut |_| {
            bail!("no includes")
        })
        .unwrap()
    }

    fn cell(number: usize, id: Option<&str>) -> CellRef {
        CellRef::new(number, id.map(str::to_string))
    }

    fn imports(names: &[(&str, usize)]) -> Vec<(String, Vec<CellRef>)> {
        names
            .iter()
            .map(|(n, c)| (n.to_string(), vec![cell(*c, None)]))
            .collect()
    }

    fn needs<'a>(imports: &'a [(String, Vec<CellRef>)]) -> NotebookNeeds<'a> {
        NotebookNeeds {
            imports,
            local_modules: &[],
            magic_requirements: &[],
            unpickled: &[],
            pickled_by: &[],
            left_out_imports: &[],
        }
    }

    fn texts(merged: &Merged) -> Vec<&str> {
        merged
            .requirements
            .iter()
            .map(|r| r.text.as_str())
            .collect()
    }

    fn messages(merged: &Merged) -> Vec<String> {
        merged.warnings.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn adds_missing_import_with_cell_comment() {
        let imports = vec![(
            "sklearn".to_string(),
            vec![cell(4, Some("abc")), cell(7, None)],
        )];
        let merged = merge(Some(file("numpy==1.26.4\n")), &needs(&imports), &[], false).unwrap();
        assert_eq!(texts(&merged), ["numpy==1.26.4", "scikit-learn"]);
        assert_eq!(merged.missing, merged.requirements[1..]);
        assert_eq!(
            render_requirements_txt(&merged),
            "# Generated by nb2svc. Each line says where it came from.\n\
             numpy==1.26.4  # from requirements.txt line 1\n\
             scikit-learn  # import sklearn in cell 4 (id abc), cell 7; added by nb2svc\n"
        );
    }

    #[test]
    fn strict_mode_fails_on_missing_import() {
        let imports = vec![
            ("sklearn".to_string(), vec![cell(3, Some("x1"))]),
            ("joblib".to_string(), vec![cell(5, None)]),
            ("numpy".to_string(), vec![cell(2, None)]),
        ];
        let err = merge(
            Some(file("numpy\n")),
            &needs(&imports),
            SERVING_PACKAGES,
            true,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "the requirements file does not list 2 package(s) the notebook imports (strict mode):\n  \
             joblib (import joblib in cell 5; added by nb2svc)\n  \
             scikit-learn (import sklearn in cell 3 (id x1); added by nb2svc)\n\
             expected every import to be covered: add them to the requirements file"
        );
        assert!(merge(
            Some(file("numpy\nscikit-learn\njoblib\n")),
            &needs(&imports),
            &[],
            true
        )
        .is_ok());
    }

    #[test]
    fn warns_on_ambiguous_import() {
        let imports = imports(&[("google.protobuf", 2), ("jose", 3)]);
        let merged = merge(Some(file("python-jose\n")), &needs(&imports), &[], false).unwrap();
        assert_eq!(texts(&merged), ["python-jose"]);
        let warnings = messages(&merged);
        assert_eq!(warnings.len(), 1, "{warnings:#?}");
        assert!(warnings[0].starts_with("import google.protobuf in cell 2 could come from several packages (protobuf, google-cloud-*"));
        let merged = merge(
            Some(file("google-cloud-storage\n")),
            &needs(&imports[..1]),
            &[],
            true,
        )
        .unwrap();
        assert!(merged.warnings.is_empty(), "{:?}", merged.warnings);
    }

    #[test]
    fn listed_alternative_distribution_satisfies_import() {
        let imports = imports(&[("cv2", 1), ("PIL", 1), ("yaml", 2)]);
        let merged = merge(
            Some(file("opencv-python==4.9.0.80\nPillow\npyyaml\n")),
            &needs(&imports),
            &[],
            true,
        )
        .unwrap();
        assert_eq!(
            texts(&merged),
            ["opencv-python==4.9.0.80", "Pillow", "pyyaml"]
        );
        let merged = merge(None, &needs(&imports[..1]), &[], false).unwrap();
        assert_eq!(texts(&merged), ["opencv-python-headless"]);
    }

    #[test]
    fn excludes_stdlib_and_local_modules() {
        let imports = imports(&[
            ("os", 1),
            ("json", 1),
            ("sqlite3", 1),
            ("etl", 2),
            ("utils", 3),
        ]);
        let local = ["etl".to_string(), "utils.model_trainer".to_string()];
        let needs = NotebookNeeds {
            imports: &imports,
            local_modules: &local,
            magic_requirements: &[],
            unpickled: &[],
            pickled_by: &[],
            left_out_imports: &[],
        };
        let merged = merge(None, &needs, &[], true).unwrap();
        assert!(merged.requirements.is_empty() && merged.warnings.is_empty());
    }

    #[test]
    fn guesses_unknown_import_with_warning() {
        let imports = imports(&[("penguin_tools", 6), ("my_lib", 2)]);
        let merged = merge(Some(file("my-lib==0.1\n")), &needs(&imports), &[], false).unwrap();
        assert_eq!(texts(&merged), ["my-lib==0.1", "penguin_tools"]);
        assert_eq!(merged.missing[0].name, "penguin-tools");
        assert!(messages(&merged)[0]
            .contains("added \"penguin_tools\" as a guess: check that this is the PyPI name"));
        let err = merge(None, &needs(&imports[..1]), &[], true)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("no requirements file lists 1 package(s)"),
            "{err}"
        );
    }

    #[test]
    fn tells_packages_only_left_out_statements_import_from_those_never_imported() {
        let imports = imports(&[("pandas", 1)]);
        let left_out = vec!["sklearn".to_string()];
        let needs = NotebookNeeds {
            left_out_imports: &left_out,
            ..needs(&imports)
        };
        let merged = merge(
            Some(file("pandas\nscikit-learn\nrequests\n")),
            &needs,
            SERVING_PACKAGES,
            false,
        )
        .unwrap();
        assert_eq!(texts(&merged)[..3], ["pandas", "scikit-learn", "requests"]);
        assert_eq!(
            messages(&merged),
            [
                "1 listed package(s) are imported only by statements the service does not run; kept, since a pickled model or another package may need them: scikit-learn",
                "1 listed package(s) are never imported by the notebook; kept, since a pickled model or another package may need them: requests",
            ]
        );
    }

    #[test]
    fn keeps_listed_packages_that_are_never_imported() {
        let imports = imports(&[("pandas", 1)]);
        let merged = merge(
            Some(file("pandas\nscikit-learn\nfastapi\n")),
            &needs(&imports),
            SERVING_PACKAGES,
            false,
        )
        .unwrap();
        // The listed `fastapi` gets the floor the generated code needs; the rest are added.
        assert_eq!(
            texts(&merged),
            [
                "pandas",
                "scikit-learn",
                "fastapi>=0.100",
                "pydantic>=2",
                "uvicorn[standard]>=0.15"
            ]
        );
        assert_eq!(
            messages(&merged),
            ["1 listed package(s) are never imported by the notebook; kept, since a pickled model or another package may need them: scikit-learn"]
        );
    }

    #[test]
    fn file_pin_wins_over_magic_with_warning() {
        let location = Location {
            cell: cell(2, Some("m")),
            line: 1,
        };
        let magics = vec![
            ("numpy==1.24".to_string(), location.clone()),
            ("pandas".to_string(), location.clone()),
            ("xgboost>=2".to_string(), location.clone()),
            ("numpy=>1".to_string(), location.clone()),
        ];
        let imports = imports(&[("xgboost", 3), ("pandas", 3)]);
        let needs = NotebookNeeds {
            imports: &imports,
            local_modules: &[],
            magic_requirements: &magics,
            unpickled: &[],
            pickled_by: &[],
            left_out_imports: &[],
        };
        let merged = merge(
            Some(file("numpy==1.26.4\npandas==2.2\n")),
            &needs,
            &[],
            true,
        )
        .unwrap();
        assert_eq!(
            texts(&merged),
            ["numpy==1.26.4", "pandas==2.2", "xgboost>=2"]
        );
        let warnings = messages(&merged);
        assert_eq!(warnings.len(), 3, "{warnings:#?}");
        assert_eq!(
            warnings[0],
            "cell 2 (id m), line 1: installs \"numpy==1.24\", but from requirements.txt line 1 has \"numpy==1.26.4\"; keeping the latter"
        );
        assert!(
            warnings[1].starts_with("cell 2 (id m), line 1: cannot read install spec \"numpy=>1\"")
        );
        assert!(render_requirements_txt(&merged)
            .ends_with("xgboost>=2  # install magic in cell 2 (id m), line 1\n"));
    }

    #[test]
    fn appends_serving_packages_in_order_when_absent() {
        let imports = imports(&[("sklearn", 2), ("pandas", 1)]);
        let magics = vec![(
            "requests".to_string(),
            Location {
                cell: cell(1, None),
                line: 3,
            },
        )];
        let needs = NotebookNeeds {
            imports: &imports,
            local_modules: &[],
            magic_requirements: &magics,
            unpickled: &[],
            pickled_by: &[],
            left_out_imports: &[],
        };
        let mut set = file("--extra-index-url https://x.example/simple\nuvicorn==0.30\n");
        set.warnings.clear();
        let merged = merge(Some(set), &needs, SERVING_PACKAGES, false).unwrap();
        assert_eq!(
            render_requirements_txt(&merged),
            "# Generated by nb2svc. Each line says where it came from.\n\
             # pip options from the requirements file\n\
             --extra-index-url https://x.example/simple\n\
             uvicorn==0.30  # from requirements.txt line 2\n\
             requests  # install magic in cell 1, line 3\n\
             pandas  # import pandas in cell 1; added by nb2svc\n\
             scikit-learn  # import sklearn in cell 2; added by nb2svc\n\
             fastapi>=0.100  # added by nb2svc: app/main.py needs FastAPI 0.100 or later, the first for pydantic 2\n\
             pydantic>=2  # added by nb2svc: app/main.py and the runtime use pydantic 2 (ConfigDict, model_dump), which FastAPI alone does not require\n"
        );
    }

    #[test]
    fn a_pin_below_what_the_generated_code_needs_is_an_error_naming_its_line() {
        let imports = imports(&[("sklearn", 2)]);
        let err = merge(
            Some(file("scikit-learn==1.5.2\nfastapi==0.95.2\n")),
            &needs(&imports),
            SERVING_PACKAGES,
            false,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "`fastapi==0.95.2` (from requirements.txt line 2) allows no version of fastapi>=0.100, \
             which the generated service needs: app/main.py needs FastAPI 0.100 or later, the first \
             for pydantic 2; allow fastapi>=0.100 on that line, or remove it (nb2svc then adds \
             `fastapi>=0.100`)"
        );
        // A pin inside the floor is kept as the user wrote it.
        let merged = merge(
            Some(file("pydantic==2.10.6\nuvicorn==0.30.6\n")),
            &needs(&imports),
            SERVING_PACKAGES,
            false,
        )
        .unwrap();
        assert_eq!(
            texts(&merged),
            [
                "pydantic==2.10.6",
                "uvicorn==0.30.6",
                "scikit-learn",
                "fastapi>=0.100"
            ]
        );
    }

    #[test]
    fn warns_that_added_lines_break_hash_checking() {
        let imports = imports(&[("pandas", 1)]);
        let merged = merge(
            Some(file("numpy==1.26.4 --hash=sha256:ab\n")),
            &needs(&imports),
            &[],
            false,
        )
        .unwrap();
        assert!(messages(&merged)
            .last()
            .unwrap()
            .ends_with("these have none: pandas"));
    }

    #[test]
    fn adds_what_penguinfinder_requirements_lack() {
        let Some(path) = corpus_file("g_penguinfinder/requirements.txt") else {
            return;
        };
        let imports = imports(&[
            ("sklearn", 3),
            ("pandas", 2),
            ("joblib", 5),
            ("requests", 1),
        ]);
        let merged = merge(
            Some(read(&path).unwrap()),
            &needs(&imports),
            SERVING_PACKAGES,
            false,
        )
        .unwrap();
        let added: Vec<&str> = merged.missing.iter().map(|r| r.text.as_str()).collect();
        assert_eq!(added, ["joblib", "pandas", "scikit-learn"]);
        // fastapi==0.124.4 and uvicorn==0.38.0 fit the floors; pydantic>=2 is added.
        assert_eq!(merged.requirements.len(), 7);
    }
}
