//! The Python packages the service needs, and where each one came from.
//!
//! Reads the dependency file a person supplies (`requirements.txt` with its includes,
//! `environment.yml`, `conda list --export` output, `Pipfile` or `pyproject.toml`), merges it with what the notebook
//! needs (its imports, mapped through [`crate::import_map`], and its `%pip install` magics)
//! and the packages that serve the API, and renders one `requirements.txt` whose every line
//! says where it came from. Finding the imports and magics in the notebook is left to the
//! extractor; choosing the base image and Python version is left to the planner.

mod conda;
mod floors;
mod install;
mod merge;
mod numpy_abi;
mod pickle_pins;
mod pip;
mod spec;
mod toml_formats;

use std::fmt;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::diagnostics::{CellRef, Location, Warning};

pub use floors::Floor;
pub(crate) use install::parse_install;
pub use merge::{merge, render_requirements_txt, Merged, NotebookNeeds};
pub use pickle_pins::PickledBy;
pub use pip::parse_requirements_txt;

/// Where a requirement of the merged file comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Origin {
    /// A line of a dependency file (for TOML and YAML files, the line of the entry).
    File { path: String, line: usize },
    /// A `%pip install` / `!pip install` / `%conda install` line in a cell.
    Magic { location: Location },
    /// Added by nb2svc because the notebook imports `module` in these cells.
    Import { module: String, cells: Vec<CellRef> },
    /// Added by nb2svc for another reason, such as serving the API.
    Added { reason: String },
    /// A line of another origin that named no version, given a bound by nb2svc (`>=2` for
    /// what the generated code needs, `==1.3.2` for the library that pickled a model).
    Bounded {
        origin: Box<Origin>,
        bound: String,
        reason: String,
    },
}

impl Origin {
    /// Whether the line is the person's: a line of their dependency file, bounded or not.
    pub fn is_file(&self) -> bool {
        match self {
            Origin::File { .. } => true,
            Origin::Bounded { origin, .. } => origin.is_file(),
            _ => false,
        }
    }
}

impl fmt::Display for Origin {
    /// The origin as the comment of the merged file says it: `from requirements.txt line 3`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File { path, line } => write!(f, "from {path} line {line}"),
            Origin::Magic { location } => write!(f, "install magic in {location}"),
            Origin::Import { module, cells } => write!(
                f,
                "import {module} in {}; added by nb2svc",
                crate::diagnostics::places(cells, ", ")
            ),
            Origin::Added { reason } => write!(f, "added by nb2svc: {reason}"),
            Origin::Bounded {
                origin,
                bound,
                reason,
            } => write!(f, "{origin}; {bound} added by nb2svc: {reason}"),
        }
    }
}

/// One package to install.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Requirement {
    /// Normalized distribution name (PEP 503); "" for a URL or path that does not name one.
    pub name: String,
    /// The line to write to requirements.txt, e.g. `scikit-learn[alldeps]>=1.3`, a URL or
    /// VCS link, or a requirement followed by `--hash=…` options.
    pub text: String,
    /// Where it comes from.
    pub origin: Origin,
}

/// What a dependency file asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RequirementsSet {
    /// Requirements in file order (includes expanded in place), first of each name only.
    pub requirements: Vec<Requirement>,
    /// pip options to keep at the top of the merged file (`--index-url URL`, `--pre`, …).
    pub options: Vec<String>,
    /// Things the person should know: duplicates, local paths, translations, skipped entries.
    pub warnings: Vec<Warning>,
    /// The Python version the file pins (conda's `python=3.11.5`), which is not a package.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub python_version: Option<String>,
}

impl RequirementsSet {
    /// Appends a requirement unless its name (or, unnamed, its text) is already there, in
    /// which case the first one stays and a warning says so.
    fn add(&mut self, requirement: Requirement) {
        let existing = self
            .requirements
            .iter()
            .find(|r| match requirement.name.is_empty() {
                true => r.text == requirement.text,
                false => r.name == requirement.name,
            });
        match existing {
            Some(first) => self.warnings.push(Warning::general(format!(
                "{} is listed twice ({} and {}); keeping the first: {}",
                display_name(&requirement),
                first.origin,
                requirement.origin,
                first.text
            ))),
            None => self.requirements.push(requirement),
        }
    }

    /// Appends everything from `other`, with the same duplicate rule as a single file.
    fn extend(&mut self, other: RequirementsSet) {
        for requirement in other.requirements {
            self.add(requirement);
        }
        for option in other.options {
            if !self.options.contains(&option) {
                self.options.push(option);
            }
        }
        self.warnings.extend(other.warnings);
        self.python_version = self.python_version.take().or(other.python_version);
    }
}

fn display_name(requirement: &Requirement) -> &str {
    match requirement.name.is_empty() {
        true => &requirement.text,
        false => &requirement.name,
    }
}

/// The dependency file formats [`read`] accepts, for error messages.
const ACCEPTED: &str = "expected a pip requirements file (requirements.txt, *.in), \
                        environment.yml, Pipfile or pyproject.toml";

/// Reads a dependency file from disk, choosing the format by file name (and, for unusual
/// names, by content). pip includes are read relative to the including file.
pub fn read(path: &Path) -> Result<RequirementsSet> {
    let mut set = read_any(path)?;
    // Origins name files relative to the one given, so the merged file reads the same on
    // every machine (errors keep the full path).
    let base = path.parent().unwrap_or(Path::new(""));
    for requirement in &mut set.requirements {
        if let Origin::File { path: origin, .. } = &mut requirement.origin {
            if let Ok(relative) = Path::new(origin.as_str()).strip_prefix(base) {
                *origin = relative.to_string_lossy().replace('\\', "/");
            }
        }
    }
    Ok(set)
}

fn read_any(path: &Path) -> Result<RequirementsSet> {
    let text = load(path)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let extension = path
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let mut loader = |include: &Path| load(include);
    match (name.as_str(), extension.as_str()) {
        ("pipfile", _) => toml_formats::parse_pipfile(&text, path),
        ("pyproject.toml", _) => toml_formats::parse_pyproject(&text, path),
        ("pipfile.lock" | "poetry.lock" | "uv.lock" | "pdm.lock" | "pylock.toml", _) => bail!(
            "{}: lock files are not read as requirements: pass the Pipfile or pyproject.toml next to it; a uv.lock, pylock.toml, poetry.lock or Pipfile.lock beside it then keeps its versions ({ACCEPTED})",
            path.display()
        ),
        (_, "toml") if text.contains("[project]") || text.contains("[tool.poetry") => {
            toml_formats::parse_pyproject(&text, path)
        }
        // `conda list --export` output has no usual name; its lines give it away.
        _ if conda::is_conda_list(&text) => conda::parse_conda_list(&text, path),
        (_, "yml" | "yaml") if text.contains("dependencies:") => {
            conda::parse_environment_yml(&text, path, &mut loader)
        }
        (_, "txt" | "in" | "pip") => parse_requirements_txt(&text, path, &mut loader),
        (_, "toml" | "yml" | "yaml" | "json" | "lock" | "py" | "cfg" | "ipynb" | "md") => {
            bail!("{}: not a dependency file nb2svc can read; {ACCEPTED}", path.display())
        }
        _ => parse_requirements_txt(&text, path, &mut loader).with_context(|| {
            format!("{}: not a dependency file nb2svc can read; {ACCEPTED}", path.display())
        }),
    }
}

fn load(path: &Path) -> Result<String> {
    let bytes = crate::input::read_bounded(path, crate::input::TEXT_LIMIT, "requirements file")?;
    decode(&bytes, path)
}

/// Decodes a dependency file: UTF-8 with or without a byte-order mark, or UTF-16 (little or
/// big endian) with one, as PowerShell's `pip freeze > requirements.txt` writes it. CRLF
/// line ends become LF.
pub fn decode(bytes: &[u8], path: &Path) -> Result<String> {
    let text = if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        utf8(rest, path, 3)?
    } else if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        utf16(rest, path, u16::from_le_bytes)?
    } else if let Some(rest) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        utf16(rest, path, u16::from_be_bytes)?
    } else if bytes.contains(&0) {
        bail!(
            "{}: contains NUL bytes; looks like UTF-16 without a byte-order mark: expected UTF-8, \
             or UTF-16 starting with a byte-order mark",
            path.display()
        )
    } else {
        utf8(bytes, path, 0)?
    };
    Ok(text.replace("\r\n", "\n"))
}

fn utf8(bytes: &[u8], path: &Path, offset: usize) -> Result<String> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(text.to_string()),
        Err(err) => {
            let at = err.valid_up_to();
            let line = bytes[..at].iter().filter(|b| **b == b'\n').count() + 1;
            bail!(
                "{}:{line}: not valid UTF-8 (byte {}): expected UTF-8, or UTF-16 with a byte-order mark",
                path.display(),
                at + offset
            )
        }
    }
}

fn utf16(bytes: &[u8], path: &Path, unit: fn([u8; 2]) -> u16) -> Result<String> {
    if !bytes.len().is_multiple_of(2) {
        bail!(
            "{}: UTF-16 text with an odd number of bytes: the file is truncated",
            path.display()
        );
    }
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|pair| unit([pair[0], pair[1]]))
        .collect();
    String::from_utf16(&units).map_err(|_| {
        anyhow::anyhow!(
            "{}: invalid UTF-16 (a broken surrogate pair): expected UTF-16 text",
            path.display()
        )
    })
}

/// The requirement lines of a set, for assertions.
#[cfg(test)]
fn texts(set: &RequirementsSet) -> Vec<&str> {
    set.requirements.iter().map(|r| r.text.as_str()).collect()
}

/// The warnings of a set as a person reads them, for assertions.
#[cfg(test)]
fn messages(set: &RequirementsSet) -> Vec<String> {
    set.warnings.iter().map(ToString::to_string).collect()
}

/// The file line each requirement came from (0 for other origins), for assertions.
#[cfg(test)]
fn file_lines(set: &RequirementsSet) -> Vec<usize> {
    set.requirements
        .iter()
        .map(|r| match r.origin {
            Origin::File { line, .. } => line,
            _ => 0,
        })
        .collect()
}

/// A fixture of `tests/fixtures/requirements`.
#[cfg(test)]
fn fixture(relative: &str) -> std::path::PathBuf {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/requirements"
    ))
    .join(relative)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::corpus_file;

    fn names(set: &RequirementsSet) -> Vec<&str> {
        set.requirements.iter().map(|r| r.name.as_str()).collect()
    }

    #[test]
    fn reads_utf16_freeze_with_bom() {
        let Some(path) = corpus_file("s_t2_sanchez/app_back/requirements.txt") else {
            return;
        };
        let set = read(&path).unwrap();
        assert_eq!(set.requirements[0].text, "altair==5.5.0");
        assert_eq!(
            set.requirements[0].origin,
            Origin::File {
                path: "requirements.txt".into(),
                line: 1
            }
        );
        assert!(names(&set).contains(&"fastapi"));
        assert!(set
            .requirements
            .iter()
            .all(|r| !r.text.contains('\r') && !r.text.contains('\u{feff}')));
    }

    /// What `pip freeze > requirements.txt` writes in Windows PowerShell 5: UTF-16 LE with a
    /// byte-order mark and CRLF line ends.
    #[test]
    fn reads_a_powershell_freeze_in_utf16() {
        let set = read(&fixture("utf16_powershell_freeze.txt")).unwrap();
        assert_eq!(names(&set), ["numpy", "pandas", "scikit-learn"]);
        assert_eq!(set.requirements[2].text, "scikit-learn==1.4.2");
        assert_eq!(
            set.requirements[1].origin,
            Origin::File {
                path: "utf16_powershell_freeze.txt".into(),
                line: 2
            }
        );
    }

    #[test]
    fn decodes_boms_and_crlf() {
        let path = Path::new("r.txt");
        assert_eq!(
            decode(b"\xEF\xBB\xBFnumpy\r\npandas\r\n", path).unwrap(),
            "numpy\npandas\n"
        );
        let be: Vec<u8> = [0xFE, 0xFF]
            .into_iter()
            .chain("a==1\r\n".encode_utf16().flat_map(u16::to_be_bytes))
            .collect();
        assert_eq!(decode(&be, path).unwrap(), "a==1\n");
        let le: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("ñ\n".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        assert_eq!(decode(&le, path).unwrap(), "ñ\n");
    }

    #[test]
    fn rejects_undecodable_bytes_naming_the_file() {
        let path = Path::new("r.txt");
        let err = decode(b"numpy\n\xFFpandas", path).unwrap_err().to_string();
        assert_eq!(
            err,
            "r.txt:2: not valid UTF-8 (byte 6): expected UTF-8, or UTF-16 with a byte-order mark"
        );
        let err = decode(b"n\0u\0m\0", path).unwrap_err().to_string();
        assert!(
            err.starts_with(
                "r.txt: contains NUL bytes; looks like UTF-16 without a byte-order mark"
            ),
            "{err}"
        );
        assert!(decode(b"\xFF\xFEa", path)
            .unwrap_err()
            .to_string()
            .contains("odd number of bytes"));
    }

    #[test]
    fn reads_include_fixtures_from_disk() {
        let set = read(&fixture("includes/requirements.txt")).unwrap();
        // pinned.txt (read first, through common.txt) lists flask too: the first one wins.
        assert_eq!(names(&set), ["numpy", "flask", "pandas"]);
        assert_eq!(set.requirements[1].text, "flask==2.0.0");
        assert_eq!(set.options, ["--index-url https://pypi.org/simple"]);
        let warnings: Vec<String> = set.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(warnings.len(), 3, "{warnings:#?}");
        assert!(warnings[0].contains("includes itself"));
        assert!(
            warnings[1].contains("constraints file \"constraints.txt\" (2 entries) is not applied")
        );
        assert!(warnings[2].starts_with("flask is listed twice"));
    }

    #[test]
    fn parses_every_corpus_requirements_file() {
        let Some(root) = corpus_file("") else { return };
        let mut stack = vec![root];
        let mut parsed = 0;
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                let name = path.file_name().unwrap().to_string_lossy().to_string();
                if path.is_dir() {
                    stack.push(path);
                } else if name.ends_with("requirements.txt")
                    || name == "Pipfile"
                    || name == "pyproject.toml"
                {
                    let set = read(&path).unwrap_or_else(|err| panic!("{err:#}"));
                    assert!(!set.requirements.is_empty(), "{}", path.display());
                    parsed += 1;
                }
            }
        }
        assert!(parsed >= 30, "only {parsed} dependency files found");
    }

    #[test]
    fn reads_the_big_freeze_in_file_order() {
        let Some(path) = corpus_file("s_t2_bricj/jupyter_models/app/requirements.txt") else {
            return;
        };
        let set = read(&path).unwrap();
        assert!(set.requirements.len() > 100);
        assert_eq!(set.requirements[0].text, "absl-py==2.1.0");
        let lines = file_lines(&set);
        assert!(lines.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn reads_corpus_pyproject_and_pipfile() {
        if let Some(path) = corpus_file("g_penguinfinder/pyproject.toml") {
            let set = read(&path).unwrap();
            assert_eq!(
                names(&set)[..4],
                ["fastapi", "requests", "uvicorn", "pandas"]
            );
            assert_eq!(
                set.requirements[0].origin,
                Origin::File {
                    path: "pyproject.toml".into(),
                    line: 8
                }
            );
        }
        if let Some(path) = corpus_file("s_t2_gallo/api/pyproject.toml") {
            let set = read(&path).unwrap();
            assert_eq!(
                names(&set),
                ["fastapi", "pandas", "scikit-learn", "uvicorn"]
            );
            assert_eq!(set.requirements[2].text, "scikit-learn>=1.7.1");
        }
        if let Some(path) = corpus_file("g_zoomcamp_spaces_flask/Pipfile") {
            let set = read(&path).unwrap();
            assert_eq!(
                names(&set),
                [
                    "jupyter",
                    "pandas",
                    "seaborn",
                    "scikit-learn",
                    "flask",
                    "requests",
                    "gunicorn"
                ]
            );
            assert_eq!(set.requirements[0].text, "jupyter");
            assert!(set
                .warnings
                .iter()
                .any(|w| w.message.contains("python_version")));
        }
        if let Some(path) = corpus_file("course_tft/requirements.txt") {
            assert_eq!(names(&read(&path).unwrap()), ["tfx", "apache-beam"]);
        }
    }

    #[test]
    fn rejects_files_that_are_not_dependency_files() {
        let dir = std::env::temp_dir().join(format!("nb2svc-req-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let lock = dir.join("uv.lock");
        std::fs::write(&lock, "version = 1\n").unwrap();
        let err = read(&lock).unwrap_err().to_string();
        assert!(
            err.contains("lock files are not read as requirements")
                && err.contains("environment.yml, Pipfile or pyproject.toml"),
            "{err}"
        );
        let notebook = dir.join("model.ipynb");
        std::fs::write(&notebook, "{}").unwrap();
        let err = read(&notebook).unwrap_err().to_string();
        assert!(err.ends_with("not a dependency file nb2svc can read; expected a pip requirements file (requirements.txt, *.in), environment.yml, Pipfile or pyproject.toml"), "{err}");
        let missing = read(&dir.join("nope.txt")).unwrap_err().to_string();
        assert!(
            missing.starts_with("cannot read ") && missing.contains("nope.txt"),
            "{missing}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
