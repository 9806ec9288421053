//! Helpers shared by the unit tests: the corpus, read in place, and notebooks built in memory.

use std::path::{Path, PathBuf};

use crate::diagnostics::CellRef;
use crate::notebook::{Cell, CellKind, Notebook};

/// The shared corpus beside the checkout, when it is there (CI has it). Under
/// `NB2SVC_E2E=1` (CI) a missing corpus fails the test instead of letting it pass unchecked.
pub fn corpus_dir() -> Option<PathBuf> {
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpus")).to_path_buf();
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var("NB2SVC_E2E").as_deref() != Ok("1"),
        "../shared/corpus is required with NB2SVC_E2E=1 but {} is not there",
        dir.display()
    );
    eprintln!("skipping: the corpus {} is not here", dir.display());
    None
}

/// A file of the shared corpus, under the rule of [`corpus_dir`].
pub fn corpus_file(relative: &str) -> Option<PathBuf> {
    let path = corpus_dir()?.join(relative);
    assert!(path.exists(), "corpus file {} is not there", path.display());
    Some(path)
}

/// Every `.ipynb` file under `dir`, sorted.
pub fn notebooks_under(dir: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.extension().is_some_and(|ext| ext == "ipynb") {
                found.push(path);
            }
        }
    }
    let mut found = Vec::new();
    walk(dir, &mut found);
    found.sort();
    found
}

/// A Python notebook whose code cells have these sources and tags, numbered from 1.
pub fn notebook_with_tags(cells: &[(&str, Vec<&str>)]) -> Notebook {
    Notebook {
        nbformat: 4,
        nbformat_minor: 5,
        kernel_name: Some("python3".into()),
        language: Some("python".into()),
        language_version: None,
        cells: cells
            .iter()
            .enumerate()
            .map(|(i, (source, tags))| Cell {
                reference: CellRef::new(i + 1, None),
                kind: CellKind::Code,
                source: source.to_string(),
                tags: tags.iter().map(|t| t.to_string()).collect(),
            })
            .collect(),
    }
}

/// A Python notebook whose code cells have these sources.
pub fn notebook(cells: &[&str]) -> Notebook {
    notebook_with_tags(&cells.iter().map(|c| (*c, vec![])).collect::<Vec<_>>())
}
