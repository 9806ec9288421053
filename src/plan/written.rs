//! Where `%%writefile` cells land in the service, checked against the files nb2svc generates.
//!
//! A `%%writefile main.py` cell ships as `app/main.py`, the file that starts the service: left
//! unchecked, one of the two would silently replace the other. And a file where a folder must
//! be (`%%writefile main.py/x.py`, or two cells writing `a` and `a/b`) fails only when the
//! files are moved into place. Both are refused here, naming the cell, before anything is
//! written.

use std::collections::BTreeMap;

use anyhow::{bail, Result};

use crate::diagnostics::Location;
use crate::extract::WrittenFile;
use crate::workspace::project_path;

/// The path under the output folder where a written file ships: Python modules in `app/`,
/// other files in `data/` at their place in the project; `None` when it is not shipped.
pub(super) fn shipped_path(written: &WrittenFile, subdir: &str) -> Option<String> {
    let relative = project_path("", &written.path).filter(|r| !r.is_empty())?;
    if relative.ends_with(".py") {
        Some(format!("app/{relative}"))
    } else {
        project_path(subdir, &relative).map(|path| format!("data/{path}"))
    }
}

/// Fails when a written file would be shipped where a generated file (`generated`, paths under
/// the output folder) is, or where either needs the other to be a folder.
pub(super) fn check_targets<'a>(
    written: &[WrittenFile],
    subdir: &str,
    generated: impl IntoIterator<Item = &'a str>,
) -> Result<()> {
    // Every shipped path, with the cell that writes it (`None`: nb2svc generates it).
    let mut owners: BTreeMap<String, Option<&Location>> = generated
        .into_iter()
        .map(|path| (path.to_string(), None))
        .collect();
    let mut targets = Vec::new();
    for file in written {
        if let Some(path) = shipped_path(file, subdir) {
            let origin = &file.location;
            match owners.get(&path) {
                Some(None) => bail!(
                    "{origin}: `%%writefile {}` would ship as {path}, a file nb2svc generates; \
                     rename the file in the notebook (and its imports)",
                    file.path
                ),
                // The same cell target twice (`-a` appends, or a rewrite) is one file.
                Some(Some(_)) => continue,
                None => {
                    owners.insert(path.clone(), Some(origin));
                    targets.push((path, origin, &file.path));
                }
            }
        }
    }
    for (path, origin, name) in &targets {
        // A folder this file needs must not be a file too.
        for (end, _) in path.match_indices('/') {
            let folder = &path[..end];
            match owners.get(folder) {
                Some(None) => bail!(
                    "{origin}: `%%writefile {name}` would ship as {path}, inside {folder}, \
                     which is a file nb2svc generates; rename the file in the notebook"
                ),
                Some(Some(other)) => bail!(
                    "{origin}: `%%writefile {name}` would ship as {path}, inside {folder}, \
                     which {other} writes as a file; one path cannot be both a file and a folder"
                ),
                None => {}
            }
        }
        let inside = format!("{path}/");
        if let Some((below, owner)) = owners
            .range(inside.clone()..)
            .next()
            .filter(|(p, _)| p.starts_with(&inside))
        {
            let by = match owner {
                None => "nb2svc generates".to_string(),
                Some(other) => format!("{other} writes"),
            };
            bail!(
                "{origin}: `%%writefile {name}` would ship as the file {path}, where {by} {below}, \
                 which needs {path} to be a folder"
            );
        }
    }
    Ok(())
}

/// Fails when a written Python module nests past [`crate::python::limits`]: it ships as it
/// is, and CPython would refuse it in the service (and our analysis would overflow the stack).
pub(super) fn check_module_limits(written: &[WrittenFile]) -> Result<()> {
    for file in written.iter().filter(|f| f.path.ends_with(".py")) {
        if let Err(too_deep) = crate::python::limits::check(&file.contents) {
            let at = Location {
                cell: file.location.cell.clone(),
                line: file.location.line + too_deep.line,
            };
            bail!("{at}: in `%%writefile {}`: {}", file.path, too_deep.message);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::CellRef;

    fn written(cell: usize, path: &str) -> WrittenFile {
        WrittenFile {
            path: path.into(),
            contents: String::new(),
            append: false,
            location: Location {
                cell: CellRef::new(cell, None),
                line: 1,
            },
        }
    }

    fn error(files: &[WrittenFile]) -> String {
        let generated = ["app/main.py", "data/README.txt", "README.md"];
        check_targets(files, "", generated).unwrap_err().to_string()
    }

    #[test]
    fn generated_files_are_never_replaced() {
        let message = error(&[written(2, "main.py")]);
        assert!(message.starts_with("cell 2, line 1: `%%writefile main.py` would ship as app/main.py, a file nb2svc generates"), "{message}");
        assert!(error(&[written(3, "README.txt")]).contains("data/README.txt"));
        assert!(error(&[written(3, "main.py/x.py")]).contains("inside app/main.py"));
    }

    #[test]
    fn a_path_cannot_be_a_file_and_a_folder() {
        let message = error(&[written(4, "a/b.csv"), written(1, "a")]);
        assert!(
            message.starts_with("cell 4, line 1:")
                && message.contains("which cell 1, line 1 writes as a file"),
            "{message}"
        );
        let message = error(&[written(1, "a"), written(4, "a/b.csv")]);
        assert!(
            message.starts_with("cell 1, line 1:")
                && message.contains("needs data/a to be a folder"),
            "{message}"
        );
    }

    #[test]
    fn ordinary_targets_pass() {
        let files = [
            written(1, "utils.py"),
            written(2, "utils.py"),
            written(3, "conf/x.json"),
            written(4, "/tmp/x"),
        ];
        assert!(check_targets(&files, "nb", ["app/main.py", "data/README.txt"]).is_ok());
    }
}
