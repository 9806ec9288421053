//! Writing the generated project: all of it or none of it, and never over a user's changes.
//!
//! Every file is first staged next to its destination; only when all are staged are they
//! renamed into place. A file that exists with other contents is a conflict: without `--force`
//! nothing at all is written and the conflicts are listed. A file whose contents are already
//! right is not touched, so running nb2svc twice on the same input changes nothing.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::render::{Content, OutputFile};
use crate::workspace::NotebookFolder;

/// What writing did to each file.
#[derive(Debug, Default, Serialize)]
pub struct WriteReport {
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub unchanged: Vec<String>,
}

/// Writes `files` under `out`, copying `CopyOf` sources from `folder`.
pub fn write_to(
    out: &Path,
    files: &[OutputFile],
    folder: &NotebookFolder,
    force: bool,
) -> Result<WriteReport> {
    let mut report = WriteReport::default();
    let mut pending: Vec<(PathBuf, Vec<u8>, bool)> = Vec::new();
    let mut conflicts = Vec::new();
    for file in files {
        let bytes = match &file.content {
            Content::Text(text) => text.clone().into_bytes(),
            Content::CopyOf(source) => {
                let path = folder.path(source);
                fs::read(&path).with_context(|| format!("reading {}", path.display()))?
            }
        };
        let destination = out.join(&file.path);
        match fs::read(&destination) {
            Ok(existing) if existing == bytes => report.unchanged.push(file.path.clone()),
            Ok(_) => {
                conflicts.push(file.path.clone());
                pending.push((destination, bytes, false));
            }
            Err(_) if destination.is_dir() => bail!(
                "{} is a folder, where nb2svc writes a file",
                destination.display()
            ),
            Err(_) => pending.push((destination, bytes, true)),
        }
    }
    if !conflicts.is_empty() && !force {
        bail!(
            "{} already has files with other contents: {}; nothing was written (use --force to overwrite them, or --out for another folder)",
            out.display(),
            conflicts.join(", ")
        );
    }
    let staged = stage(&pending)?;
    for ((destination, _, is_new), staging) in pending.iter().zip(&staged) {
        fs::rename(staging, destination)
            .with_context(|| format!("moving {} into place", destination.display()))?;
        let relative = destination
            .strip_prefix(out)
            .unwrap_or(destination)
            .to_string_lossy()
            .replace('\\', "/");
        if *is_new {
            report.created.push(relative)
        } else {
            report.updated.push(relative)
        }
    }
    Ok(report)
}

/// Writes each file's bytes to a hidden sibling; on any failure removes what it staged.
fn stage(pending: &[(PathBuf, Vec<u8>, bool)]) -> Result<Vec<PathBuf>> {
    let mut staged: Vec<PathBuf> = Vec::new();
    let result = (|| -> Result<()> {
        for (destination, bytes, _) in pending {
            let parent = destination.parent().context("output path has no folder")?;
            fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
            let name = destination
                .file_name()
                .context("output path has no file name")?
                .to_string_lossy();
            let staging = parent.join(format!(".{name}.nb2svc-{}", std::process::id()));
            fs::write(&staging, bytes).with_context(|| format!("writing {}", staging.display()))?;
            staged.push(staging);
        }
        Ok(())
    })();
    if let Err(error) = result {
        for path in &staged {
            let _ = fs::remove_file(path);
        }
        return Err(error);
    }
    Ok(staged)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(path: &str, text: &str) -> OutputFile {
        OutputFile {
            path: path.into(),
            content: Content::Text(text.into()),
        }
    }

    fn folder() -> NotebookFolder {
        NotebookFolder {
            dir: PathBuf::from("."),
            subdir: String::new(),
        }
    }

    #[test]
    fn creates_then_leaves_identical_files_alone() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("svc");
        let files = [text("app/main.py", "x = 1\n"), text("README.md", "hi\n")];
        let first = write_to(&out, &files, &folder(), false).unwrap();
        assert_eq!(first.created, vec!["app/main.py", "README.md"]);
        let second = write_to(&out, &files, &folder(), false).unwrap();
        assert!(second.created.is_empty() && second.updated.is_empty());
        assert_eq!(second.unchanged.len(), 2);
    }

    #[test]
    fn refuses_to_overwrite_changed_files_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path();
        fs::write(out.join("README.md"), "my notes\n").unwrap();
        let files = [
            text("app/main.py", "x = 1\n"),
            text("README.md", "generated\n"),
        ];
        let error = write_to(out, &files, &folder(), false)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("README.md") && error.contains("--force"),
            "{error}"
        );
        assert!(
            !out.join("app/main.py").exists(),
            "nothing may be written on conflict"
        );
        assert_eq!(
            fs::read_to_string(out.join("README.md")).unwrap(),
            "my notes\n"
        );
        let forced = write_to(out, &files, &folder(), true).unwrap();
        assert_eq!(forced.updated, vec!["README.md"]);
        assert_eq!(
            fs::read_to_string(out.join("README.md")).unwrap(),
            "generated\n"
        );
    }

    #[test]
    fn leaves_no_staging_files_behind() {
        let dir = tempfile::tempdir().unwrap();
        write_to(dir.path(), &[text("a/b.txt", "b")], &folder(), false).unwrap();
        let names: Vec<_> = fs::read_dir(dir.path().join("a"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("b.txt")]);
    }
}
