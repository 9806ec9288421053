//! Writing the generated project: all of it or none of it, and never over a user's changes.
//!
//! Everything that can be known to fail is checked before anything is written: two outputs
//! where one needs the other to be a folder, a file on disk where a folder must be, a folder
//! where a file goes. Every file is then staged next to its destination; only when all are
//! staged are they renamed into place. When staging or a rename fails after all, the staged
//! files, the files this run created and the folders it made are removed again. A file that exists with other contents is a conflict: without `--force`
//! nothing at all is written and the conflicts are listed. A file whose contents are already
//! right is not touched, so running nb2svc twice on the same input changes nothing.

use std::borrow::Cow;
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

/// A file whose new text was made from the text on disk (a `.env` completed, a `.gitignore`
/// with a line added, a README with nb2svc's section replaced): it replaces that text without
/// `--force`, since nothing of the person's is lost, but only while the disk still holds the
/// text the merge started from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Merged {
    /// Relative to the output folder, `/`-separated.
    pub path: String,
    /// The text the merge started from; `None` when the file did not exist.
    pub base: Option<String>,
    pub text: String,
    /// Readable by its owner only (it holds a secret).
    pub private: bool,
}

/// A file to put in place: its destination and bytes, whether it is new, and whether only
/// its owner may read it.
struct Pending<'f> {
    destination: PathBuf,
    /// The generated text itself, or the bytes read from a file to copy.
    bytes: Cow<'f, [u8]>,
    is_new: bool,
    private: bool,
}

/// Writes `files` under `out`, copying `CopyOf` sources from `folder`.
pub fn write_to(
    out: &Path,
    files: &[OutputFile],
    folder: &NotebookFolder,
    force: bool,
) -> Result<WriteReport> {
    write_all(out, files, &[], folder, force)
}

/// Writes generated `files` and `merged` ones under `out` in one all-or-nothing step: a
/// generated file with other contents on disk is a conflict unless `force`; a merged file
/// replaces the text it was made from, and is an error when that text changed meanwhile.
pub(crate) fn write_all<'f>(
    out: &Path,
    files: &'f [OutputFile],
    merged: &'f [Merged],
    folder: &NotebookFolder,
    force: bool,
) -> Result<WriteReport> {
    let mut report = WriteReport::default();
    let mut pending: Vec<Pending> = Vec::new();
    let mut conflicts = Vec::new();
    let entry = |destination: PathBuf, bytes: Cow<'f, [u8]>, is_new: bool, private: bool| Pending {
        destination,
        bytes,
        is_new,
        private,
    };
    for file in files {
        let bytes = match &file.content {
            Content::Text(text) => Cow::Borrowed(text.as_bytes()),
            Content::CopyOf(source) => {
                let path = folder.path(source);
                // Regular files only: a pipe or device would never end.
                Cow::Owned(crate::input::read_bounded(
                    &path,
                    u64::MAX / 2,
                    "file to ship",
                )?)
            }
        };
        let destination = out.join(&file.path);
        match fs::read(&destination) {
            Ok(existing) if existing == *bytes => report.unchanged.push(file.path.clone()),
            Ok(_) => {
                conflicts.push(file.path.clone());
                pending.push(entry(destination, bytes, false, false));
            }
            Err(_) if destination.is_dir() => bail!(
                "{} is a folder, where nb2svc writes a file",
                destination.display()
            ),
            Err(_) => pending.push(entry(destination, bytes, true, false)),
        }
    }
    for file in merged {
        let destination = out.join(&file.path);
        let existing = match fs::read(&destination) {
            Ok(existing) => Some(existing),
            Err(_) if destination.is_dir() => bail!(
                "{} is a folder, where nb2svc writes a file",
                destination.display()
            ),
            Err(_) => None,
        };
        if existing.as_deref() == Some(file.text.as_bytes()) {
            report.unchanged.push(file.path.clone());
            continue;
        }
        if existing.as_deref() != file.base.as_deref().map(str::as_bytes) {
            bail!(
                "{} changed while nb2svc was merging it; nothing was written (run nb2svc again)",
                destination.display()
            );
        }
        let bytes = Cow::Borrowed(file.text.as_bytes());
        pending.push(entry(destination, bytes, existing.is_none(), file.private));
    }
    let paths: BTreeSet<&str> = files
        .iter()
        .map(|f| f.path.as_str())
        .chain(merged.iter().map(|f| f.path.as_str()))
        .collect();
    check_folders(out, &paths)?;
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
    for (index, (file, staging)) in pending.iter().zip(&staged).enumerate() {
        let destination = &file.destination;
        if let Err(error) = fs::rename(staging, destination) {
            for later in &staged[index..] {
                let _ = fs::remove_file(later);
            }
            let mut replaced = Vec::new();
            for earlier in &pending[..index] {
                if earlier.is_new {
                    let _ = fs::remove_file(&earlier.destination);
                } else {
                    replaced.push(earlier.destination.display().to_string());
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
        if file.is_new {
            report.created.push(relative)
        } else {
            report.updated.push(relative)
        }
    }
    Ok(report)
}

/// Fails, before anything is written, when a folder the files need is a file: among the
/// outputs themselves (`a` and `a/b`), or on disk under `out` (or `out` itself).
fn check_folders(out: &Path, paths: &BTreeSet<&str>) -> Result<()> {
    let mut checked = BTreeSet::new();
    for path in paths {
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
fn stage(pending: &[Pending], made: &mut Vec<PathBuf>) -> Result<Vec<PathBuf>> {
    let mut staged: Vec<PathBuf> = Vec::new();
    let result = (|| -> Result<()> {
        for Pending {
            destination,
            bytes,
            private,
            ..
        } in pending
        {
            let parent = destination.parent().context("output path has no folder")?;
            make_folders(parent, made)?;
            let name = destination
                .file_name()
                .context("output path has no file name")?
                .to_string_lossy();
            let staging = parent.join(format!(".{name}.nb2svc-{}", std::process::id()));
            write_new(&staging, bytes, *private)
                .with_context(|| format!("writing {}", staging.display()))?;
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

/// Writes `bytes` to `path`; a private file is created readable by its owner only, so the
/// secret is never readable by others, not even for a moment.
fn write_new(path: &Path, bytes: &[u8], private: bool) -> std::io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options.open(path)?;
    std::io::Write::write_all(&mut file, bytes)?;
    // `mode` applies only to a file it creates; a staging file left by a crash is reused.
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
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

    fn merged(path: &str, base: Option<&str>, text: &str) -> Merged {
        Merged {
            path: path.into(),
            base: base.map(str::to_string),
            text: text.into(),
            private: false,
        }
    }

    #[test]
    fn a_merged_file_replaces_the_text_it_was_made_from_without_force() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(".gitignore"), "target\n").unwrap();
        let merge = [merged(".gitignore", Some("target\n"), "target\n.env\n")];
        let report = write_all(dir.path(), &[], &merge, &folder(), false).unwrap();
        assert_eq!(report.updated, [".gitignore"]);
        let again = write_all(dir.path(), &[], &merge, &folder(), false).unwrap();
        assert_eq!(again.unchanged, [".gitignore"]);
    }

    #[test]
    fn a_merged_file_changed_meanwhile_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("README.md"), "edited since\n").unwrap();
        let files = [text("app/main.py", "x = 1\n")];
        let merge = [merged("README.md", Some("# Notes\n"), "# Notes\nsection\n")];
        let error = write_all(dir.path(), &files, &merge, &folder(), true).unwrap_err();
        assert!(
            error.to_string().contains("README.md changed while"),
            "{error}"
        );
        assert!(!dir.path().join("app").exists());
        assert_eq!(
            fs::read_to_string(dir.path().join("README.md")).unwrap(),
            "edited since\n"
        );
    }

    #[cfg(unix)]
    #[test]
    fn private_files_are_readable_by_their_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let mut secret = merged(".env", None, "TOKEN=x\n");
        secret.private = true;
        write_all(dir.path(), &[], &[secret], &folder(), false).unwrap();
        let mode = fs::metadata(dir.path().join(".env"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
