//! Writing the generated project: all of it or none of it, and never over a user's changes.
//!
//! Everything that can be known to fail is checked before anything is written: two outputs
//! where one needs the other to be a folder, a file on disk where a folder must be, a folder
//! where a file goes. Every file is then staged next to its destination; only when all are
//! staged are they renamed into place. When staging or a rename fails after all, the staged
//! files, the files this run created and the folders it made are removed again. A file that exists with other contents is a conflict: without `--force`
//! nothing at all is written and the conflicts are listed. A file whose contents are already
//! right is not touched, so running nb2svc twice on the same input changes nothing.

use std::collections::BTreeSet;
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
                // Regular files only: a pipe or device would never end.
                crate::input::read_bounded(&path, u64::MAX / 2, "file to ship")?
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
    check_folders(out, files)?;
    if !conflicts.is_empty() && !force {
        bail!(
            "{} already has files with other contents: {}; nothing was written (use --force to overwrite them, or --out for another folder)",
            out.display(),
            conflicts.join(", ")
        );
    }
    let mut made_folders = Vec::new();
    let staged = match stage(&pending, &mut made_folders) {
        Ok(staged) => staged,
        Err(error) => {
            remove_folders(&made_folders);
            return Err(error);
        }
    };
    for (index, ((destination, _, is_new), staging)) in pending.iter().zip(&staged).enumerate() {
        if let Err(error) = fs::rename(staging, destination) {
            for later in &staged[index..] {
                let _ = fs::remove_file(later);
            }
            let mut replaced = Vec::new();
            for (earlier, _, was_new) in &pending[..index] {
                if *was_new {
                    let _ = fs::remove_file(earlier);
                } else {
                    replaced.push(earlier.display().to_string());
                }
            }
            remove_folders(&made_folders);
            let replaced = match replaced.is_empty() {
                true => "nothing else was written".to_string(),
                false => format!("already replaced: {}", replaced.join(", ")),
            };
            return Err(anyhow::Error::new(error).context(format!(
                "moving {} into place ({replaced})",
                destination.display()
            )));
        }
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

/// Fails, before anything is written, when a folder the files need is a file: among the
/// outputs themselves (`a` and `a/b`), or on disk under `out` (or `out` itself).
fn check_folders(out: &Path, files: &[OutputFile]) -> Result<()> {
    let paths: BTreeSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
    let mut checked = BTreeSet::new();
    for path in &paths {
        anyhow::ensure!(
            !path.is_empty()
                && !path.starts_with('/')
                && path.split('/').all(|part| !matches!(part, "" | "." | "..")),
            "internal error: output path {path:?} is not a plain relative path; nothing was written"
        );
        for (end, _) in path.match_indices('/') {
            let folder = &path[..end];
            if paths.contains(folder) {
                bail!(
                    "{folder} would be both a file and the folder of {path}; nothing was written"
                );
            }
            if checked.insert(folder) {
                let on_disk = out.join(folder);
                if on_disk.exists() && !on_disk.is_dir() {
                    bail!(
                        "{} exists and is not a folder, where nb2svc writes {path}; nothing was written",
                        on_disk.display()
                    );
                }
            }
        }
    }
    if out.exists() && !out.is_dir() {
        bail!(
            "{} exists and is not a folder; nothing was written",
            out.display()
        );
    }
    Ok(())
}

/// Removes folders this run made (innermost last in `made`), if they are empty again.
fn remove_folders(made: &[PathBuf]) {
    for folder in made.iter().rev() {
        let _ = fs::remove_dir(folder);
    }
}

/// Creates `folder` and the folders above it that are missing, recording each one made.
fn make_folders(folder: &Path, made: &mut Vec<PathBuf>) -> Result<()> {
    let mut missing = Vec::new();
    let mut current = Some(folder);
    while let Some(path) = current.filter(|p| !p.as_os_str().is_empty() && !p.is_dir()) {
        missing.push(path.to_path_buf());
        current = path.parent();
    }
    for path in missing.into_iter().rev() {
        fs::create_dir(&path).with_context(|| format!("creating {}", path.display()))?;
        made.push(path);
    }
    Ok(())
}

/// Writes each file's bytes to a hidden sibling; on any failure removes what it staged.
fn stage(pending: &[(PathBuf, Vec<u8>, bool)], made: &mut Vec<PathBuf>) -> Result<Vec<PathBuf>> {
    let mut staged: Vec<PathBuf> = Vec::new();
    let result = (|| -> Result<()> {
        for (destination, bytes, _) in pending {
            let parent = destination.parent().context("output path has no folder")?;
            make_folders(parent, made)?;
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
    fn a_file_where_a_folder_goes_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("svc");
        fs::create_dir(&out).unwrap();
        fs::write(out.join("data"), "mine").unwrap();
        let files = [text("app/main.py", "x = 1\n"), text("data/x.csv", "a\n")];
        let error = write_to(&out, &files, &folder(), true)
            .unwrap_err()
            .to_string();
        assert!(error.contains("data exists and is not a folder"), "{error}");
        let left: Vec<_> = fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from("data")]);
        let clash = [text("data", "a"), text("data/x.csv", "b")];
        let error = write_to(&dir.path().join("new"), &clash, &folder(), false).unwrap_err();
        assert!(
            error.to_string().contains("both a file and the folder"),
            "{error}"
        );
        assert!(!dir.path().join("new").exists());
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
