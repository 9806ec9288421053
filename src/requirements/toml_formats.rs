//! TOML dependency files: pipenv's `Pipfile` and `pyproject.toml` (PEP 621 `[project]` and
//! Poetry). Each entry becomes a pip requirement with the line it was found on; what pip
//! cannot express is skipped or loosened, with a warning saying so.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use toml::{Spanned, Value};

use super::spec::{parse_spec, Spec};
use super::{Origin, Requirement, RequirementsSet};
use crate::diagnostics::Warning;
use crate::import_map::normalize;

#[derive(Deserialize)]
struct Pipfile {
    #[serde(default)]
    packages: BTreeMap<Spanned<String>, Value>,
    #[serde(default, rename = "dev-packages")]
    dev_packages: BTreeMap<String, Value>,
    #[serde(default)]
    source: Vec<PipfileSource>,
    requires: Option<BTreeMap<String, Value>>,
}

#[derive(Deserialize)]
struct PipfileSource {
    url: String,
    #[serde(default = "yes")]
    verify_ssl: bool,
}

fn yes() -> bool {
    true
}

/// Parses a pipenv `Pipfile`: `[packages]` in file order (`"*"` is unpinned; tables with
/// `version`, `extras`, `markers`, `git`/`ref`), extra `[[source]]` indexes as options;
/// `[dev-packages]` is left out with a note.
pub(crate) fn parse_pipfile(text: &str, path: &Path) -> Result<RequirementsSet> {
    let pipfile: Pipfile =
        toml::from_str(text).with_context(|| format!("{}: not a valid Pipfile", path.display()))?;
    let mut set = RequirementsSet::default();
    for source in &pipfile.source {
        if !source.url.contains("pypi.org/simple") && !source.url.contains("pypi.python.org/simple")
        {
            set.options
                .push(format!("--extra-index-url {}", source.url));
            if !source.verify_ssl {
                let host = source
                    .url
                    .split("://")
                    .nth(1)
                    .unwrap_or("")
                    .split(['/', ':'])
                    .next()
                    .unwrap_or("");
                set.options.push(format!("--trusted-host {host}"));
            }
        }
    }
    let mut packages: Vec<_> = pipfile.packages.into_iter().collect();
    packages.sort_by_key(|(name, _)| name.span().start);
    for (name, value) in packages {
        let at = Entry {
            path,
            line: line_of(text, name.span().start),
        };
        entry(&mut set, name.get_ref(), &value, at, Flavor::Pipenv)?;
    }
    if !pipfile.dev_packages.is_empty() {
        let names: Vec<&str> = pipfile.dev_packages.keys().map(String::as_str).collect();
        set.warnings.push(Warning::general(format!(
            "{}: [dev-packages] not installed in the service: {}",
            path.display(),
            names.join(", ")
        )));
    }
    if let Some(python) = pipfile
        .requires
        .as_ref()
        .and_then(|r| r.get("python_version"))
    {
        set.warnings.push(Warning::general(format!(
            "{}: [requires] python_version = {python} is not a package; the image's Python is chosen by nb2svc",
            path.display()
        )));
    }
    Ok(set)
}

#[derive(Deserialize)]
struct Pyproject {
    project: Option<Project>,
    tool: Option<Tool>,
}

#[derive(Deserialize)]
struct Project {
    dependencies: Option<Vec<Spanned<String>>>,
    #[serde(default, rename = "optional-dependencies")]
    optional_dependencies: BTreeMap<String, Value>,
    #[serde(default)]
    dynamic: Vec<String>,
}

#[derive(Deserialize)]
struct Tool {
    poetry: Option<Poetry>,
}

#[derive(Deserialize)]
struct Poetry {
    dependencies: Option<BTreeMap<Spanned<String>, Value>>,
}

/// Parses `pyproject.toml`: PEP 621 `[project] dependencies` (PEP 508 strings) and Poetry's
/// `[tool.poetry.dependencies]` (`^`/`~` constraints translated, `python` skipped).
/// Optional and development groups are not installed.
pub(crate) fn parse_pyproject(text: &str, path: &Path) -> Result<RequirementsSet> {
    let pyproject: Pyproject = toml::from_str(text)
        .with_context(|| format!("{}: not a valid pyproject.toml", path.display()))?;
    let mut set = RequirementsSet::default();
    let mut found = false;
    if let Some(project) = &pyproject.project {
        for dependency in project.dependencies.iter().flatten() {
            let at = Entry {
                path,
                line: line_of(text, dependency.span().start),
            };
            let spec = parse_spec(dependency.get_ref()).map_err(|err| {
                anyhow::anyhow!(
                    "{at}: invalid requirement {:?}: {err}",
                    dependency.get_ref()
                )
            })?;
            at.push(&mut set, spec);
            found = true;
        }
        if project.dynamic.iter().any(|d| d == "dependencies") {
            set.warnings.push(Warning::general(format!(
                "{}: dependencies are dynamic (computed by the build backend): pass the requirements file they come from",
                path.display()
            )));
        }
        if !project.optional_dependencies.is_empty() {
            let groups: Vec<&str> = project
                .optional_dependencies
                .keys()
                .map(String::as_str)
                .collect();
            set.warnings.push(Warning::general(format!(
                "{}: optional dependency groups not installed: {}",
                path.display(),
                groups.join(", ")
            )));
        }
    }
    let poetry = pyproject
        .tool
        .and_then(|t| t.poetry)
        .and_then(|p| p.dependencies);
    if let Some(dependencies) = poetry {
        let mut dependencies: Vec<_> = dependencies.into_iter().collect();
        dependencies.sort_by_key(|(name, _)| name.span().start);
        for (name, value) in dependencies {
            let at = Entry {
                path,
                line: line_of(text, name.span().start),
            };
            if normalize(name.get_ref()) == "python" {
                continue;
            }
            entry(&mut set, name.get_ref(), &value, at, Flavor::Poetry)?;
            found = true;
        }
    }
    if !found {
        set.warnings.push(Warning::general(format!(
            "{}: no [project] dependencies or [tool.poetry.dependencies] found",
            path.display()
        )));
    }
    Ok(set)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Flavor {
    Pipenv,
    Poetry,
}

/// A TOML entry's place, for messages and origins.
#[derive(Clone, Copy)]
struct Entry<'a> {
    path: &'a Path,
    line: usize,
}

impl Entry<'_> {
    fn push(&self, set: &mut RequirementsSet, spec: Spec) {
        if let Some(problem) = &spec.problem {
            set.warnings
                .push(Warning::general(format!("{self}: {problem}")));
        }
        let origin = Origin::File {
            path: self.path.display().to_string(),
            line: self.line,
        };
        set.add(Requirement {
            name: spec.name,
            text: spec.text,
            origin,
        });
    }

    fn warn(&self, set: &mut RequirementsSet, message: String) {
        set.warnings
            .push(Warning::general(format!("{self}: {message}")));
    }
}

impl std::fmt::Display for Entry<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.path.display(), self.line)
    }
}

/// One `name = "spec"` or `name = { … }` entry of a Pipfile or Poetry table.
fn entry(
    set: &mut RequirementsSet,
    name: &str,
    value: &Value,
    at: Entry,
    flavor: Flavor,
) -> Result<()> {
    let empty = toml::Table::new();
    let (version, table) = match value {
        Value::String(version) => (Some(version.as_str()), &empty),
        Value::Table(table) => (table.get("version").and_then(Value::as_str), table),
        _ => bail!("{at}: unexpected value for {name:?}: expected a version string or a table"),
    };
    if table.get("optional").and_then(Value::as_bool) == Some(true) {
        at.warn(set, format!("optional dependency {name:?} not installed"));
        return Ok(());
    }
    if let Some(local) = table.get("path").and_then(Value::as_str) {
        at.warn(set, format!("{name:?} comes from local path {local:?}, which will not exist in the container; skipped"));
        return Ok(());
    }
    let extras = match table.get("extras").and_then(Value::as_array) {
        Some(extras) => {
            let extras: Vec<&str> = extras.iter().filter_map(Value::as_str).collect();
            format!("[{}]", extras.join(","))
        }
        None => String::new(),
    };
    let mut text = format!("{name}{extras}");
    if let Some(git) = table.get("git").and_then(Value::as_str) {
        let reference = ["ref", "rev", "tag", "branch"]
            .iter()
            .find_map(|k| table.get(*k).and_then(Value::as_str));
        text.push_str(&format!(" @ git+{git}"));
        if let Some(reference) = reference {
            text.push_str(&format!("@{reference}"));
        }
    } else if let Some(url) = table
        .get("url")
        .or_else(|| table.get("file"))
        .and_then(Value::as_str)
    {
        text.push_str(&format!(" @ {url}"));
    } else if let Some(version) = version {
        let translated = match flavor {
            Flavor::Poetry => poetry_constraint(version),
            Flavor::Pipenv => Ok(pipenv_constraint(version)),
        };
        match translated {
            Ok(constraint) => text.push_str(&constraint),
            Err(reason) => at.warn(
                set,
                format!("{name:?} version {version:?} left unpinned: {reason}"),
            ),
        }
    }
    let mut markers: Vec<String> = table
        .get("markers")
        .and_then(Value::as_str)
        .map(str::to_string)
        .into_iter()
        .collect();
    for key in [
        "sys_platform",
        "platform_machine",
        "platform_system",
        "os_name",
        "python_version",
    ] {
        if let Some(condition) = table
            .get(key)
            .and_then(Value::as_str)
            .filter(|_| flavor == Flavor::Pipenv)
        {
            markers.push(format!("{key} {condition}"));
        }
    }
    if table.contains_key("python") && flavor == Flavor::Poetry {
        at.warn(
            set,
            format!(
                "python restriction on {name:?} ignored: the image's Python is chosen by nb2svc"
            ),
        );
    }
    if !markers.is_empty() {
        text.push_str(&format!(" ; {}", markers.join(" and ")));
    }
    let spec = parse_spec(&text)
        .map_err(|err| anyhow::anyhow!("{at}: invalid requirement {text:?}: {err}"))?;
    at.push(set, spec);
    Ok(())
}

/// Pipfile versions are PEP 440 specifiers, `"*"` for any; a bare `1.0` means `==1.0`.
fn pipenv_constraint(version: &str) -> String {
    let version = version.trim();
    match version {
        "" | "*" => String::new(),
        v if v.starts_with(|c: char| c.is_ascii_digit()) => format!("=={v}"),
        v => v.to_string(),
    }
}

/// Translates a Poetry constraint to PEP 440: `^1.2.3` → `>=1.2.3,<2.0.0`,
/// `~1.2` → `>=1.2,<1.3`, `1.2` → `==1.2`, `*` → any. The error is the reason it cannot be.
fn poetry_constraint(constraint: &str) -> Result<String, String> {
    let constraint = constraint.trim();
    if constraint.is_empty() || constraint == "*" {
        return Ok(String::new());
    }
    if constraint.contains("||") || constraint.contains('|') {
        return Err("alternatives (||) have no pip spelling".to_string());
    }
    let mut parts = Vec::new();
    for part in constraint.split(',') {
        let part: String = part.split_whitespace().collect();
        if let Some(version) = part.strip_prefix('^') {
            parts.push(bounded(version, caret_index)?);
        } else if let Some(version) = part.strip_prefix('~').filter(|v| !v.starts_with('=')) {
            parts.push(bounded(version, |release| usize::from(release.len() >= 2))?);
        } else if part.starts_with(|c: char| c.is_ascii_digit()) {
            parts.push(format!("=={part}"));
        } else {
            parts.push(part);
        }
    }
    Ok(parts.join(","))
}

/// Which release component a caret bumps: the first non-zero one, or the last given.
fn caret_index(release: &[u64]) -> usize {
    release
        .iter()
        .position(|n| *n != 0)
        .unwrap_or(release.len() - 1)
}

/// `>=version,<upper`, where `upper` bumps the release component `index` picks.
fn bounded(version: &str, index: impl Fn(&[u64]) -> usize) -> Result<String, String> {
    let release: Vec<u64> = version
        .split('.')
        .map_while(|part| part.parse().ok())
        .collect();
    if release.is_empty() {
        return Err(format!("{version:?} is not a version"));
    }
    let bump = index(&release);
    let upper: Vec<String> = release
        .iter()
        .enumerate()
        .map(|(i, n)| match i.cmp(&bump) {
            std::cmp::Ordering::Less => n.to_string(),
            std::cmp::Ordering::Equal => (n + 1).to_string(),
            std::cmp::Ordering::Greater => "0".to_string(),
        })
        .collect();
    Ok(format!(">={version},<{}", upper.join(".")))
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::requirements::{fixture, messages, read, texts};

    #[test]
    fn reads_pipfile_in_file_order() {
        let path = fixture("Pipfile");
        let set = read(&path).unwrap();
        assert_eq!(
            texts(&set),
            [
                "zeta-lib",
                "requests[socks]>=2.31",
                "numpy==1.26.4",
                "pywin32 ; sys_platform == 'win32'",
                "mytool @ git+https://github.com/example/mytool.git@v1.0",
            ]
        );
        assert_eq!(
            set.options,
            [
                "--extra-index-url http://mirror.example.org/simple",
                "--trusted-host mirror.example.org"
            ]
        );
        let warnings = messages(&set);
        assert!(warnings[0].ends_with("[dev-packages] not installed in the service: pytest"));
        assert!(warnings[1].contains("python_version = \"3.11\" is not a package"));
    }

    #[test]
    fn translates_poetry_constraints() {
        let path = fixture("poetry/pyproject.toml");
        let set = read(&path).unwrap();
        assert_eq!(
            texts(&set),
            [
                "numpy>=1.24,<2.0",
                "pandas>=2.1,<2.2",
                "scipy>=0.19.1,<0.20.0",
                "requests[socks]==2.31.0",
                "weird"
            ]
        );
        let warnings = messages(&set);
        assert!(
            warnings[0].ends_with("optional dependency \"torch\" not installed"),
            "{warnings:#?}"
        );
        assert!(warnings[1].contains("\"weird\" version \">=1 || <0.5\" left unpinned"));
    }

    #[test]
    fn translates_caret_and_tilde_like_poetry() {
        let cases = [
            ("^1.2.3", ">=1.2.3,<2.0.0"),
            ("^0.2.3", ">=0.2.3,<0.3.0"),
            ("^0.0.3", ">=0.0.3,<0.0.4"),
            ("^0.0", ">=0.0,<0.1"),
            ("^0", ">=0,<1"),
            ("~1.2.3", ">=1.2.3,<1.3.0"),
            ("~1", ">=1,<2"),
            ("~=1.4", "~=1.4"),
            ("1.2.*", "==1.2.*"),
            (">= 1.2, < 1.5", ">=1.2,<1.5"),
            ("*", ""),
        ];
        for (poetry, pep440) in cases {
            assert_eq!(poetry_constraint(poetry).unwrap(), pep440, "{poetry}");
        }
        assert!(poetry_constraint("^x").is_err());
    }

    #[test]
    fn rejects_bad_toml_naming_the_file() {
        let err = parse_pyproject("[project\n", Path::new("pyproject.toml")).unwrap_err();
        assert!(
            format!("{err:#}").starts_with(
                "pyproject.toml: not a valid pyproject.toml: TOML parse error at line 1"
            ),
            "{err:#}"
        );
        let err = parse_pyproject(
            "[project]\ndependencies = [\"ok\", \"no good\"]\n",
            Path::new("pyproject.toml"),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("pyproject.toml:2: invalid requirement \"no good\""),
            "{err}"
        );
    }
}
