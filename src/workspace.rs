//! The files of the notebook's project: data it reads, artifacts it loads, modules it imports.
//!
//! The project is a folder (by default the git work tree that holds the notebook, else the
//! notebook's own folder) with the notebook somewhere inside it. The service's `data/` folder
//! stands for that project folder, so a read through `..` that stays inside it keeps its place.
//! Planning asks questions about it through [`SourceFiles`], so it can be tested in memory;
//! [`NotebookFolder`] answers them from the disk.

pub(crate) mod container_paths;
pub(crate) mod secrets;

#[cfg(test)]
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// What planning may ask about the notebook's project. Paths are relative to the notebook's
/// folder, as the notebook's code writes them.
pub trait SourceFiles {
    /// The notebook's folder relative to the project folder, `/`-separated; empty when the
    /// notebook sits at the top of the project.
    fn notebook_subdir(&self) -> &str;
    /// The names of the project folder and of the folders above it, nearest first (as far as
    /// known): a notebook that writes through `..` past the project folder needs them to keep
    /// its paths inside `data/`.
    fn names_above(&self) -> Vec<String>;
    /// Where the project's own Dockerfiles and compose files put its folders and files in the
    /// author's container.
    fn container_mounts(&self) -> Vec<container_paths::ContainerMount>;
    /// Whether a regular file exists at `relative`.
    fn exists(&self, relative: &str) -> bool;
    /// Whether a folder exists at `relative`.
    fn is_dir(&self, relative: &str) -> bool;
    /// The regular files under the folder `relative` (recursively, hidden entries and caches
    /// left out), relative to the notebook's folder, sorted.
    fn files_in(&self, relative: &str) -> Vec<String>;
    /// The text of a file, if it exists and is UTF-8.
    fn read_text(&self, relative: &str) -> Option<String>;
    /// The bytes of a file, if it exists and is at most `limit` bytes long.
    fn read_bytes(&self, relative: &str, limit: u64) -> Option<Vec<u8>>;
    /// At most the first `limit` bytes of a file, however long it is: enough to see what kind
    /// of file it is.
    fn head(&self, relative: &str, limit: usize) -> Option<Vec<u8>>;
    /// Where `relative` really is, symlinks resolved, when that is outside the project folder;
    /// `None` when it is inside or does not exist. A link inside the project can point at
    /// `/etc/shadow`: only where it resolves says what would be copied.
    fn escapes(&self, relative: &str) -> Option<String>;
    /// The `.py` files that make up top-level module `name`, if the folder has it: `name.py`,
    /// or every `.py` file of a `name/` package, in sorted order.
    fn python_module(&self, name: &str) -> Vec<String>;
}

/// Where `relative` (a path as the notebook's code writes it, from the notebook's folder) is in
/// the project: `/`-separated, relative to the project folder. `None` when it is absolute,
/// remote, or leaves the project through `..`.
pub fn project_path(subdir: &str, relative: &str) -> Option<String> {
    if relative.starts_with('/') || relative.starts_with('~') || relative.contains("://") {
        return None;
    }
    let mut parts: Vec<&str> = subdir.split('/').filter(|p| !p.is_empty()).collect();
    for part in relative.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            part => parts.push(part),
        }
    }
    Some(parts.join("/"))
}

/// How many folders above the project folder `relative` (from the notebook's folder at
/// `subdir`) reaches through `..`; 0 for a path inside the project, or an absolute one.
pub fn depth_above(subdir: &str, relative: &str) -> usize {
    if relative.starts_with('/') || relative.starts_with('~') || relative.contains("://") {
        return 0;
    }
    let mut depth = subdir.split('/').filter(|p| !p.is_empty()).count() as isize;
    let mut lowest = 0;
    for part in relative.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => depth -= 1,
            _ => depth += 1,
        }
        lowest = lowest.min(depth);
    }
    lowest.unsigned_abs()
}

/// The notebook's folder on disk, inside its project folder.
pub struct NotebookFolder {
    pub dir: PathBuf,
    /// The notebook's folder relative to the project folder (empty when they are the same).
    pub subdir: String,
}

/// At most this many files are shipped from one folder the notebook reads as a whole: a data
/// set, not a home directory.
const MAX_FOLDER_FILES: usize = 2000;

impl NotebookFolder {
    /// Where `relative` is on disk.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.join(relative)
    }

    /// The project folder on disk.
    pub fn root(&self) -> PathBuf {
        let depth = self.subdir.split('/').filter(|p| !p.is_empty()).count();
        // Resolved first: the folder of `model.ipynb` is the empty path, which has no parent.
        let here = if self.dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            &self.dir
        };
        let mut root = fs::canonicalize(here).unwrap_or_else(|_| self.dir.clone());
        for _ in 0..depth {
            root.pop();
        }
        root
    }

    /// An `--include` path (relative to the current folder, or absolute) as the notebook's
    /// code would write it: relative to the notebook's folder. It must exist and lie inside
    /// the project.
    pub fn relative_include(&self, include: &Path) -> Result<String> {
        let shown = include.display();
        let full = fs::canonicalize(include)
            .with_context(|| format!("--include {shown}: no such file or folder"))?;
        let root = fs::canonicalize(self.root())
            .with_context(|| format!("reading the project folder {}", self.root().display()))?;
        let inside = full.strip_prefix(&root).map_err(|_| {
            anyhow::anyhow!(
                "--include {shown} is {}, outside the notebook's project folder {} once symlinks are resolved: nothing outside it is shipped; copy it into the project, or pass --root DIR to widen the project",
                full.display(),
                root.display()
            )
        })?;
        let depth = self.subdir.split('/').filter(|p| !p.is_empty()).count();
        let mut relative = "../".repeat(depth);
        relative.push_str(&inside.to_string_lossy().replace('\\', "/"));
        Ok(relative)
    }
}

/// The notebook's folder and its project folder: `root` when given, else the git work tree
/// that holds the notebook (the nearest folder with a `.git`), else the notebook's folder.
pub fn project_of(notebook: &Path, root: Option<&Path>) -> Result<NotebookFolder> {
    let dir = notebook.parent().map(Path::to_path_buf).unwrap_or_default();
    let absolute = fs::canonicalize(if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        &dir
    })
    .with_context(|| format!("reading the notebook's folder {}", dir.display()))?;
    let root = match root {
        Some(root) => fs::canonicalize(root)
            .with_context(|| format!("--root {}: no such folder", root.display()))?,
        None => absolute
            .ancestors()
            .find(|folder| folder.join(".git").exists())
            .map_or_else(|| absolute.clone(), Path::to_path_buf),
    };
    let inside = absolute.strip_prefix(&root).map_err(|_| {
        anyhow::anyhow!(
            "--root {} does not hold the notebook's folder {}",
            root.display(),
            absolute.display()
        )
    })?;
    Ok(NotebookFolder {
        dir,
        subdir: inside.to_string_lossy().replace('\\', "/"),
    })
}

impl SourceFiles for NotebookFolder {
    fn notebook_subdir(&self) -> &str {
        &self.subdir
    }

    fn container_mounts(&self) -> Vec<container_paths::ContainerMount> {
        container_paths::container_mounts(&self.root())
    }

    fn names_above(&self) -> Vec<String> {
        let root = fs::canonicalize(self.root()).unwrap_or_else(|_| self.root());
        root.ancestors()
            .filter_map(|folder| Some(folder.file_name()?.to_string_lossy().into_owned()))
            .collect()
    }

    fn exists(&self, relative: &str) -> bool {
        self.path(relative).is_file()
    }

    fn is_dir(&self, relative: &str) -> bool {
        self.path(relative).is_dir()
    }

    fn files_in(&self, relative: &str) -> Vec<String> {
        let mut files = Vec::new();
        collect_files(&self.dir, Path::new(relative), &mut files, 0, &|_| true);
        files.truncate(MAX_FOLDER_FILES);
        files.sort();
        files
    }

    fn read_text(&self, relative: &str) -> Option<String> {
        let bytes =
            crate::input::read_bounded(&self.path(relative), crate::input::TEXT_LIMIT, "file")
                .ok()?;
        String::from_utf8(bytes).ok()
    }

    fn read_bytes(&self, relative: &str, limit: u64) -> Option<Vec<u8>> {
        crate::input::read_bounded(&self.path(relative), limit, "file").ok()
    }

    fn head(&self, relative: &str, limit: usize) -> Option<Vec<u8>> {
        use std::io::Read;
        let path = self.path(relative);
        // Regular files only: a pipe or device would block or never end.
        if !path.is_file() {
            return None;
        }
        let mut bytes = Vec::new();
        fs::File::open(&path)
            .ok()?
            .take(limit as u64)
            .read_to_end(&mut bytes)
            .ok()?;
        Some(bytes)
    }

    fn escapes(&self, relative: &str) -> Option<String> {
        let full = fs::canonicalize(self.path(relative)).ok()?;
        let root = fs::canonicalize(self.root()).unwrap_or_else(|_| self.root());
        (!full.starts_with(&root)).then(|| full.display().to_string())
    }

    fn python_module(&self, name: &str) -> Vec<String> {
        let single = format!("{name}.py");
        if self.exists(&single) {
            return vec![single];
        }
        let mut files = Vec::new();
        let python = |path: &Path| path.extension().is_some_and(|e| e == "py");
        collect_files(&self.dir, Path::new(name), &mut files, 0, &python);
        files.sort();
        files
    }
}

/// Walks a folder for the files `keep` accepts, hidden entries and `__pycache__` left out;
/// depth- and count-limited so a symlink loop or a huge tree cannot trap it.
fn collect_files(
    root: &Path,
    relative: &Path,
    files: &mut Vec<String>,
    depth: usize,
    keep: &dyn Fn(&Path) -> bool,
) {
    let Ok(entries) = fs::read_dir(root.join(relative)) else {
        return;
    };
    if depth > 8 || files.len() > MAX_FOLDER_FILES {
        return;
    }
    for entry in entries.flatten() {
        let name = entry.file_name();
        let child = relative.join(&name);
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        if kind.is_dir() && name != "__pycache__" {
            collect_files(root, &child, files, depth + 1, keep);
        } else if (kind.is_file() || (kind.is_symlink() && root.join(&child).is_file()))
            && keep(&child)
        {
            // A link to a file is listed, not skipped: planning checks where it leads.
            files.push(child.to_string_lossy().replace('\\', "/"));
        }
    }
}

/// A folder held in memory, for tests.
#[cfg(test)]
#[derive(Default)]
pub struct MemoryFolder {
    pub files: BTreeMap<String, String>,
    /// What the project's Docker files would say about the author's container.
    pub mounts: Vec<container_paths::ContainerMount>,
    /// Files that are links to somewhere outside the project, and where they lead.
    pub outside: BTreeMap<String, String>,
}

#[cfg(test)]
impl MemoryFolder {
    pub fn with(files: &[(&str, &str)]) -> Self {
        Self {
            files: files
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            mounts: Vec::new(),
            outside: BTreeMap::new(),
        }
    }
}

#[cfg(test)]
impl SourceFiles for MemoryFolder {
    fn notebook_subdir(&self) -> &str {
        ""
    }

    fn names_above(&self) -> Vec<String> {
        Vec::new()
    }

    fn container_mounts(&self) -> Vec<container_paths::ContainerMount> {
        self.mounts.clone()
    }

    fn exists(&self, relative: &str) -> bool {
        self.files.contains_key(relative.trim_start_matches("./"))
    }

    fn is_dir(&self, relative: &str) -> bool {
        !self.files_in(relative).is_empty()
    }

    fn files_in(&self, relative: &str) -> Vec<String> {
        let prefix = format!(
            "{}/",
            relative.trim_start_matches("./").trim_end_matches('/')
        );
        self.files
            .keys()
            .filter(|k| k.starts_with(&prefix))
            .cloned()
            .collect()
    }

    fn read_text(&self, relative: &str) -> Option<String> {
        self.files.get(relative.trim_start_matches("./")).cloned()
    }

    fn read_bytes(&self, relative: &str, limit: u64) -> Option<Vec<u8>> {
        let text = self.read_text(relative)?;
        (text.len() as u64 <= limit).then(|| text.into_bytes())
    }

    fn head(&self, relative: &str, limit: usize) -> Option<Vec<u8>> {
        let mut bytes = self.read_text(relative)?.into_bytes();
        bytes.truncate(limit);
        Some(bytes)
    }

    fn escapes(&self, relative: &str) -> Option<String> {
        self.outside.get(relative.trim_start_matches("./")).cloned()
    }

    fn python_module(&self, name: &str) -> Vec<String> {
        let single = format!("{name}.py");
        if self.files.contains_key(&single) {
            return vec![single];
        }
        let prefix = format!("{name}/");
        self.files
            .keys()
            .filter(|k| k.starts_with(&prefix) && k.ends_with(".py"))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::project_path;

    #[test]
    fn project_paths_resolve_from_the_notebooks_folder() {
        assert_eq!(
            project_path("", "data/x.csv").as_deref(),
            Some("data/x.csv")
        );
        assert_eq!(project_path("", "./a/../b.csv").as_deref(), Some("b.csv"));
        assert_eq!(
            project_path("notebooks", "../data/x.csv").as_deref(),
            Some("data/x.csv")
        );
        assert_eq!(project_path("a/b", "../../x").as_deref(), Some("x"));
        assert_eq!(project_path("", "../x.csv"), None);
        assert_eq!(project_path("a", "../../x.csv"), None);
        assert_eq!(project_path("", "/etc/passwd"), None);
        assert_eq!(project_path("", "https://example.invalid/x.csv"), None);
        assert_eq!(project_path("", ".").as_deref(), Some(""));
    }

    #[test]
    fn depth_above_counts_the_folders_left_behind() {
        use super::depth_above;
        assert_eq!(depth_above("", "x.csv"), 0);
        assert_eq!(depth_above("", "../API/m.pkl"), 1);
        assert_eq!(depth_above("nb", "../x.csv"), 0);
        assert_eq!(depth_above("nb", "../../../x"), 2);
        assert_eq!(depth_above("", "/abs/../../x"), 0);
    }
}
