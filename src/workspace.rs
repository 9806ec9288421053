//! The files next to the notebook: data it reads, artifacts it loads, modules it imports.
//!
//! Planning asks questions about the notebook's folder through [`SourceFiles`], so it can be
//! tested in memory; [`NotebookFolder`] answers them from the disk.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// What planning may ask about the notebook's folder. Paths are relative to that folder.
pub trait SourceFiles {
    /// Whether a regular file exists at `relative`.
    fn exists(&self, relative: &str) -> bool;
    /// The text of a file, if it exists and is UTF-8.
    fn read_text(&self, relative: &str) -> Option<String>;
    /// The `.py` files that make up top-level module `name`, if the folder has it: `name.py`,
    /// or every `.py` file of a `name/` package, in sorted order.
    fn python_module(&self, name: &str) -> Vec<String>;
}

/// The notebook's folder on disk.
pub struct NotebookFolder {
    pub dir: PathBuf,
}

impl NotebookFolder {
    /// Where `relative` is on disk.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.join(relative)
    }
}

impl SourceFiles for NotebookFolder {
    fn exists(&self, relative: &str) -> bool {
        self.path(relative).is_file()
    }

    fn read_text(&self, relative: &str) -> Option<String> {
        fs::read_to_string(self.path(relative)).ok()
    }

    fn python_module(&self, name: &str) -> Vec<String> {
        let single = format!("{name}.py");
        if self.exists(&single) {
            return vec![single];
        }
        let mut files = Vec::new();
        collect_python_files(&self.dir, Path::new(name), &mut files, 0);
        files.sort();
        files
    }
}

/// Walks a package folder for `.py` files; depth-limited so a symlink loop cannot trap it.
fn collect_python_files(root: &Path, relative: &Path, files: &mut Vec<String>, depth: usize) {
    let Ok(entries) = fs::read_dir(root.join(relative)) else {
        return;
    };
    if depth > 8 {
        return;
    }
    for entry in entries.flatten() {
        let name = entry.file_name();
        let child = relative.join(&name);
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() && name != "__pycache__" && !name.to_string_lossy().starts_with('.') {
            collect_python_files(root, &child, files, depth + 1);
        } else if kind.is_file() && child.extension().is_some_and(|e| e == "py") {
            files.push(child.to_string_lossy().replace('\\', "/"));
        }
    }
}

/// A folder held in memory, for tests.
#[derive(Default)]
pub struct MemoryFolder {
    pub files: BTreeMap<String, String>,
}

impl MemoryFolder {
    pub fn with(files: &[(&str, &str)]) -> Self {
        Self {
            files: files
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }
}

impl SourceFiles for MemoryFolder {
    fn exists(&self, relative: &str) -> bool {
        self.files.contains_key(relative.trim_start_matches("./"))
    }

    fn read_text(&self, relative: &str) -> Option<String> {
        self.files.get(relative.trim_start_matches("./")).cloned()
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
