//! The project's own lock: `uv.lock`, `pylock.toml`, `poetry.lock`, `Pipfile.lock`, or a
//! requirements file given with `--requirements` whose every line is pinned and hashed.
//!
//! Its versions win for what it covers: they become constraints (`name==version`) of the
//! resolution, so only what the notebook needs beyond them is chosen by uv. Constraints add
//! no package, so a lock's development packages are harmless. Packages it takes from
//! somewhere other than an index (git, a path, a URL) are left to the requirements, and a
//! package locked at two versions (uv's forks for different markers) is not constrained.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::diagnostics::Warning;
use crate::import_map::normalize;
use crate::requirements::{Origin, RequirementsSet};
use crate::workspace::NotebookFolder;

/// The kinds of lock nb2svc reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LockFormat {
    Uv,
    Pylock,
    Poetry,
    Pipfile,
    /// A requirements file whose every line is `name==version --hash=...`.
    HashedRequirements,
}

impl LockFormat {
    /// The lock files looked for in a folder, in this order.
    const FILES: &'static [(&'static str, LockFormat)] = &[
        ("uv.lock", LockFormat::Uv),
        ("pylock.toml", LockFormat::Pylock),
        ("poetry.lock", LockFormat::Poetry),
        ("Pipfile.lock", LockFormat::Pipfile),
    ];

    /// How a person updates one package of such a lock.
    pub fn update_hint(self, package: &str) -> String {
        match self {
            LockFormat::Uv => format!("uv lock --upgrade-package {package}"),
            LockFormat::Poetry => format!("poetry update {package}"),
            LockFormat::Pipfile => format!("pipenv update {package}"),
            LockFormat::Pylock => "write it again with the tool that made it".into(),
            LockFormat::HashedRequirements => format!("change the line of {package}"),
        }
    }
}

/// A version the project's lock fixes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pin {
    /// Normalized (PEP 503).
    pub name: String,
    pub version: String,
    /// Its line in the lock file.
    pub line: usize,
}

/// The lock that was read, and what it fixes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserLock {
    /// The file, relative to the project folder (or its name, outside it).
    pub file: String,
    pub format: LockFormat,
    /// The versions passed to uv as constraints (none for a hashed requirements file, whose
    /// pins are requirements already).
    pub pins: Vec<Pin>,
    /// Packages of the lock that are not constrained, and why.
    pub skipped: Vec<String>,
}

impl UserLock {
    /// The constraints file uv gets: one `name==version` per pin, with its line in the lock.
    pub fn constraints(&self) -> String {
        let mut out = format!(
            "# Versions of the project's lock {}, kept by nb2svc.\n",
            self.file
        );
        for pin in &self.pins {
            out.push_str(&format!(
                "{}=={}  # {} line {}\n",
                pin.name,
                pin.version,
                crate::escape::one_line(&self.file),
                pin.line
            ));
        }
        out
    }
}

/// The requirements file itself is a lock when every line is pinned (`==`) and hashed.
pub fn hashed_requirements(set: &RequirementsSet, shown: &str) -> Option<UserLock> {
    let from_file: Vec<_> = set
        .requirements
        .iter()
        .filter(|r| matches!(r.origin, Origin::File { .. }))
        .collect();
    let pinned = |text: &str| {
        let spec = text.split(" --hash").next().unwrap_or(text);
        spec.contains("==") && !spec.contains(',') && text.contains("--hash=")
    };
    (!from_file.is_empty() && from_file.iter().all(|r| pinned(&r.text))).then(|| UserLock {
        file: shown.to_string(),
        format: LockFormat::HashedRequirements,
        pins: Vec::new(),
        skipped: Vec::new(),
    })
}

/// The project's lock, where uv, pip or Poetry users keep it: the `--requirements` file
/// itself when it is pinned and hashed; else the first lock file (see [`lock_file_in`]) beside
/// the `--requirements` file, then in the notebook's folder and each folder above it up to the
/// project folder (the nearest wins). A lock that cannot be read is not used, with a warning.
pub fn find(
    folder: &NotebookFolder,
    requirements: Option<(&Path, &RequirementsSet)>,
    warnings: &mut Vec<Warning>,
) -> Option<UserLock> {
    let root = std::fs::canonicalize(folder.root()).ok();
    // Shown relative to the project, so the lock's header reads the same on every machine.
    let shown = |path: &Path| -> String {
        let full = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        match root
            .as_deref()
            .and_then(|root| full.strip_prefix(root).ok())
        {
            Some(inside) => inside.to_string_lossy().replace('\\', "/"),
            None => path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
        }
    };
    if let Some((path, set)) = requirements {
        if let Some(lock) = hashed_requirements(set, &shown(path)) {
            return Some(lock);
        }
    }
    let depth = folder.subdir.split('/').filter(|p| !p.is_empty()).count();
    let mut folders: Vec<std::path::PathBuf> = requirements
        .and_then(|(path, _)| path.parent())
        .map(|p| p.to_path_buf())
        .into_iter()
        .collect();
    folders.extend((0..=depth).map(|up| folder.path(&"../".repeat(up))));
    for dir in folders {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".").to_path_buf()
        } else {
            dir
        };
        let Some((path, format)) = lock_file_in(&dir) else {
            continue;
        };
        let shown = shown(&path);
        return match read(&path, format, &shown) {
            Ok(lock) => Some(lock),
            Err(error) => {
                warnings.push(Warning::general(format!(
                    "{error:#}; its versions are not kept: the lock is resolved without it"
                )));
                None
            }
        };
    }
    None
}

/// The lock file in `folder` (the first of `uv.lock`, `pylock.toml`, `poetry.lock`,
/// `Pipfile.lock` there), if any: its path and format.
pub fn lock_file_in(folder: &Path) -> Option<(std::path::PathBuf, LockFormat)> {
    LockFormat::FILES
        .iter()
        .map(|(name, format)| (folder.join(name), *format))
        .find(|(path, _)| path.is_file())
}

/// Reads the lock at `path`, shown as `shown`.
pub fn read(path: &Path, format: LockFormat, shown: &str) -> Result<UserLock> {
    let bytes = crate::input::read_bounded(path, crate::input::TEXT_LIMIT, "lock file")?;
    let text = String::from_utf8(bytes).with_context(|| format!("{shown} is not UTF-8 text"))?;
    parse(&text, format, shown)
}

/// Reads a lock's text.
pub fn parse(text: &str, format: LockFormat, shown: &str) -> Result<UserLock> {
    let found = match format {
        LockFormat::Uv | LockFormat::Pylock | LockFormat::Poetry => toml_pins(text, format),
        LockFormat::Pipfile => pipfile_pins(text),
        LockFormat::HashedRequirements => Ok(Vec::new()),
    }
    .with_context(|| format!("{shown} is not a {} nb2svc can read", describe(format)))?;
    let mut versions: BTreeMap<String, Vec<Found>> = BTreeMap::new();
    let mut skipped = Vec::new();
    for found in found {
        match &found.unpinnable {
            Some(why) => skipped.push(format!("{} ({why})", found.name)),
            None => versions.entry(found.name.clone()).or_default().push(found),
        }
    }
    let mut pins = Vec::new();
    for (name, mut found) in versions {
        found.dedup_by(|a, b| a.version == b.version);
        match found.as_slice() {
            [one] => pins.push(Pin {
                name,
                version: one.version.clone(),
                line: one.line,
            }),
            _ => skipped.push(format!(
                "{name} (locked at several versions, for different platforms or Pythons)"
            )),
        }
    }
    Ok(UserLock {
        file: shown.to_string(),
        format,
        pins,
        skipped,
    })
}

fn describe(format: LockFormat) -> &'static str {
    match format {
        LockFormat::Uv => "uv lock (uv.lock)",
        LockFormat::Pylock => "PEP 751 lock (pylock.toml)",
        LockFormat::Poetry => "Poetry lock (poetry.lock)",
        LockFormat::Pipfile => "pipenv lock (Pipfile.lock)",
        LockFormat::HashedRequirements => "hashed requirements file",
    }
}

/// A package entry of a lock.
struct Found {
    name: String,
    version: String,
    line: usize,
    /// Why it cannot be a constraint: not from an index, or no version.
    unpinnable: Option<String>,
}

#[derive(Deserialize)]
struct TomlLock {
    /// uv.lock and poetry.lock: `[[package]]`.
    #[serde(default)]
    package: Vec<TomlPackage>,
    /// pylock.toml (PEP 751): `[[packages]]`.
    #[serde(default)]
    packages: Vec<TomlPackage>,
}

#[derive(Deserialize)]
struct TomlPackage {
    name: Spanned<String>,
    version: Option<String>,
    source: Option<toml::Value>,
    /// PEP 751's sources other than an index.
    vcs: Option<toml::Value>,
    directory: Option<toml::Value>,
    archive: Option<toml::Value>,
}

fn toml_pins(text: &str, format: LockFormat) -> Result<Vec<Found>> {
    let lock: TomlLock = toml::from_str(text)?;
    let entries = lock.package.into_iter().chain(lock.packages);
    Ok(entries
        .map(|package| {
            let source = package.source.as_ref();
            let key = |k: &str| source.and_then(|s| s.get(k)).is_some();
            let unpinnable = match format {
                // uv.lock: `source = { registry = ... }`; the project itself is `editable` or
                // `virtual`, other sources are git, paths and URLs.
                LockFormat::Uv => (!key("registry")).then(|| "not from an index".to_string()),
                // poetry.lock: no `[package.source]`, or a `legacy` (index) one.
                LockFormat::Poetry => source
                    .and_then(|s| s.get("type"))
                    .and_then(toml::Value::as_str)
                    .filter(|kind| *kind != "legacy")
                    .map(|kind| format!("from a {kind} source, not an index")),
                _ => (package.vcs.is_some()
                    || package.directory.is_some()
                    || package.archive.is_some())
                .then(|| "not from an index".to_string()),
            };
            let (unpinnable, version) = match (unpinnable, package.version) {
                (Some(why), _) => (Some(why), String::new()),
                (None, Some(version)) => (None, version),
                (None, None) => (Some("no version".to_string()), String::new()),
            };
            Found {
                name: normalize(package.name.get_ref()),
                line: line_of(text, package.name.span().start),
                version,
                unpinnable,
            }
        })
        .collect())
}

#[derive(Deserialize)]
struct PipfileLock {
    #[serde(default)]
    default: BTreeMap<String, PipfileEntry>,
    #[serde(default)]
    develop: BTreeMap<String, PipfileEntry>,
}

#[derive(Deserialize)]
struct PipfileEntry {
    version: Option<String>,
}

fn pipfile_pins(text: &str) -> Result<Vec<Found>> {
    let lock: PipfileLock = serde_json::from_str(text)?;
    let mut found = Vec::new();
    // The service installs `default`; a `develop` package at another version stays out.
    let default_names: Vec<String> = lock.default.keys().map(|n| normalize(n)).collect();
    let develop = lock
        .develop
        .into_iter()
        .filter(|(name, _)| !default_names.contains(&normalize(name)));
    for (name, entry) in lock.default.into_iter().chain(develop) {
        let line = text
            .find(&format!("\"{name}\": {{"))
            .map_or(0, |at| line_of(text, at));
        let version = entry.version.as_deref().and_then(|v| v.strip_prefix("=="));
        found.push(Found {
            name: normalize(&name),
            version: version.unwrap_or_default().to_string(),
            line,
            unpinnable: version
                .is_none()
                .then(|| "not pinned with == (a git or path entry)".to_string()),
        });
    }
    Ok(found)
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::requirements::parse_requirements_txt;

    const UV_LOCK: &str = r#"version = 1
requires-python = ">=3.11"

[[package]]
name = "my-project"
version = "0.1.0"
source = { virtual = "." }

[[package]]
name = "Numpy"
version = "1.26.4"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "pandas"
version = "2.2.2"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "torch"
version = "2.3.0"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "torch"
version = "2.3.0+cpu"
source = { registry = "https://download.pytorch.org/whl/cpu" }

[[package]]
name = "mylib"
version = "0.3.0"
source = { git = "https://example.com/mylib.git?rev=abc" }
"#;

    #[test]
    fn reads_uv_lock_registry_packages_with_their_lines() {
        let lock = parse(UV_LOCK, LockFormat::Uv, "uv.lock").unwrap();
        assert_eq!(
            lock.pins,
            [
                Pin {
                    name: "numpy".into(),
                    version: "1.26.4".into(),
                    line: 10
                },
                Pin {
                    name: "pandas".into(),
                    version: "2.2.2".into(),
                    line: 15
                },
            ]
        );
        assert_eq!(
            lock.skipped,
            [
                "my-project (not from an index)",
                "mylib (not from an index)",
                "torch (locked at several versions, for different platforms or Pythons)"
            ]
        );
        assert_eq!(
            lock.constraints(),
            "# Versions of the project's lock uv.lock, kept by nb2svc.\n\
             numpy==1.26.4  # uv.lock line 10\n\
             pandas==2.2.2  # uv.lock line 15\n"
        );
    }

    #[test]
    fn reads_poetry_lock_and_leaves_git_sources_out() {
        let text = r#"[[package]]
name = "scikit-learn"
version = "1.4.2"
description = "A set of python modules for machine learning"
optional = false
python-versions = ">=3.9"
files = [
    {file = "scikit_learn-1.4.2.tar.gz", hash = "sha256:daa1c471d95bad080c6e44b4946c9390a4842adc3082572c20e4f8884e39e959"},
]

[[package]]
name = "tools"
version = "0.1"
optional = false

[package.source]
type = "git"
url = "https://example.com/tools.git"

[metadata]
lock-version = "2.0"
"#;
        let lock = parse(text, LockFormat::Poetry, "poetry.lock").unwrap();
        assert_eq!(lock.pins.len(), 1);
        assert_eq!(
            (
                lock.pins[0].name.as_str(),
                lock.pins[0].version.as_str(),
                lock.pins[0].line
            ),
            ("scikit-learn", "1.4.2", 2)
        );
        assert_eq!(lock.skipped, ["tools (from a git source, not an index)"]);
    }

    #[test]
    fn reads_pylock_toml() {
        let text = r#"lock-version = "1.0"
created-by = "uv"

[[packages]]
name = "joblib"
version = "1.4.2"
index = "https://pypi.org/simple"

[[packages]]
name = "local"
directory = { path = "." }
"#;
        let lock = parse(text, LockFormat::Pylock, "pylock.toml").unwrap();
        assert_eq!(
            lock.pins,
            [Pin {
                name: "joblib".into(),
                version: "1.4.2".into(),
                line: 5
            }]
        );
        assert_eq!(lock.skipped, ["local (not from an index)"]);
    }

    #[test]
    fn reads_pipfile_lock_default_before_develop() {
        let text = r#"{
    "_meta": {"hash": {"sha256": "x"}, "pipfile-spec": 6},
    "default": {
        "flask": {
            "hashes": ["sha256:ab"],
            "index": "pypi",
            "version": "==3.0.3"
        },
        "mylib": {"git": "https://example.com/mylib.git", "ref": "abc"}
    },
    "develop": {
        "flask": {"version": "==2.0.0"},
        "pytest": {"version": "==8.2.0"}
    }
}"#;
        let lock = parse(text, LockFormat::Pipfile, "Pipfile.lock").unwrap();
        let pins: Vec<(&str, &str, usize)> = lock
            .pins
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str(), p.line))
            .collect();
        assert_eq!(pins, [("flask", "3.0.3", 4), ("pytest", "8.2.0", 13)]);
        assert_eq!(
            lock.skipped,
            ["mylib (not pinned with == (a git or path entry))"]
        );
    }

    #[test]
    fn finds_the_nearest_lock_from_the_requirements_then_up_to_the_project() {
        let project = tempfile::tempdir().unwrap();
        let notebooks = project.path().join("notebooks");
        std::fs::create_dir(&notebooks).unwrap();
        std::fs::write(project.path().join("uv.lock"), UV_LOCK).unwrap();
        let folder = NotebookFolder {
            dir: notebooks.clone(),
            subdir: "notebooks".into(),
        };
        let mut warnings = Vec::new();
        let lock = find(&folder, None, &mut warnings).unwrap();
        assert_eq!(
            (lock.file.as_str(), lock.format),
            ("uv.lock", LockFormat::Uv)
        );
        // Beside the requirements file wins, even outside the project (shown by its name).
        let elsewhere = tempfile::tempdir().unwrap();
        std::fs::write(elsewhere.path().join("Pipfile.lock"), "{\"default\": {}}").unwrap();
        let requirements = elsewhere.path().join("Pipfile");
        let set = RequirementsSet::default();
        let lock = find(&folder, Some((&requirements, &set)), &mut warnings).unwrap();
        assert_eq!(
            (lock.file.as_str(), lock.format),
            ("Pipfile.lock", LockFormat::Pipfile)
        );
        // A lock that cannot be read is not used, with a warning naming it.
        std::fs::write(notebooks.join("poetry.lock"), "[[package]\n").unwrap();
        assert!(find(&folder, None, &mut warnings).is_none());
        assert!(
            warnings[0]
                .message
                .starts_with("notebooks/poetry.lock is not a Poetry lock"),
            "{warnings:?}"
        );
    }

    #[test]
    fn a_broken_lock_names_its_file() {
        let error = parse("[[package]\n", LockFormat::Uv, "sub/uv.lock").unwrap_err();
        assert!(
            format!("{error:#}")
                .starts_with("sub/uv.lock is not a uv lock (uv.lock) nb2svc can read: "),
            "{error:#}"
        );
    }

    #[test]
    fn a_pinned_hashed_requirements_file_is_a_lock() {
        let parse = |text: &str| {
            parse_requirements_txt(text, Path::new("requirements.txt"), &mut |_| {
                anyhow::bail!("no includes")
            })
            .unwrap()
        };
        let hashed =
            parse("numpy==1.26.4 --hash=sha256:ab\npandas==2.2.2 \\\n    --hash=sha256:cd\n");
        let lock = hashed_requirements(&hashed, "requirements.txt").unwrap();
        assert_eq!(lock.format, LockFormat::HashedRequirements);
        assert!(
            hashed_requirements(&parse("numpy==1.26.4 --hash=sha256:ab\npandas>=2\n"), "r")
                .is_none()
        );
        assert!(hashed_requirements(&parse("numpy==1.26.4\n"), "r").is_none());
    }
}
