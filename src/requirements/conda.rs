//! conda's `environment.yml`: conda specs become pip requirements with the line they were
//! found on; the `pip:` sub-list is read as requirements-file lines. What pip cannot
//! express (build strings, non-Python packages, `python` itself) is skipped with a warning.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use super::magic::conda_pin_to_pip;
use super::pip::parse_requirements_txt;
use super::spec::parse_spec;
use super::{Origin, Requirement, RequirementsSet};
use crate::diagnostics::Warning;
use crate::import_map::{import_names_for, normalize};

/// conda packages whose PyPI name differs.
const CONDA_TO_PYPI: &[(&str, &str)] = &[
    ("pytorch", "torch"),
    ("py-xgboost", "xgboost"),
    ("py-opencv", "opencv-python-headless"),
    ("pytables", "tables"),
    ("python-graphviz", "graphviz"),
    ("msgpack-python", "msgpack"),
    ("tensorflow-base", "tensorflow"),
];

/// conda packages that are not Python packages (pip cannot install them).
const CONDA_NON_PYTHON: &[&str] = &[
    "pip",
    "cudatoolkit",
    "cudnn",
    "cuda-toolkit",
    "mkl",
    "blas",
    "libblas",
    "openblas",
    "libgcc",
    "libgcc-ng",
    "libstdcxx-ng",
    "libgomp",
    "nodejs",
    "openssl",
    "ca-certificates",
    "sqlite",
    "tk",
    "xz",
    "zlib",
    "readline",
    "ncurses",
    "libffi",
    "graphviz",
    "git",
    "gcc",
    "make",
];

#[derive(Deserialize)]
struct Environment {
    #[serde(default)]
    dependencies: Vec<serde_yaml::Value>,
}

/// Parses a conda `environment.yml`: conda specs become pip specs (`numpy=1.24` →
/// `numpy==1.24.*`), the `pip:` sub-list is read as requirements lines (its `-r` relative to
/// this file), `python` and non-Python packages are skipped with a warning.
pub(crate) fn parse_environment_yml(
    text: &str,
    path: &Path,
    includes: &mut dyn FnMut(&Path) -> Result<String>,
) -> Result<RequirementsSet> {
    let env: Environment = serde_yaml::from_str(text).with_context(|| {
        format!(
            "{}: not a conda environment file (YAML with a dependencies: list)",
            path.display()
        )
    })?;
    let lines: Vec<&str> = text.lines().collect();
    let mut finder = LineFinder {
        lines: &lines,
        next: 0,
    };
    let mut set = RequirementsSet::default();
    let mut unverified = Vec::new();
    for dependency in &env.dependencies {
        match dependency {
            serde_yaml::Value::String(spec) => {
                let line = finder.find(spec);
                let at = format!("{}:{line}", path.display());
                let Some(pip_spec) = conda_to_pip(spec, &at, &mut set.warnings) else {
                    continue;
                };
                let parsed = parse_spec(&pip_spec).map_err(|err| {
                    anyhow::anyhow!("{at}: invalid conda package {spec:?}: {err}")
                })?;
                if import_names_for(&parsed.name).is_empty() {
                    unverified.push(parsed.name.clone());
                }
                let origin = Origin::File {
                    path: path.display().to_string(),
                    line,
                };
                set.add(Requirement {
                    name: parsed.name,
                    text: parsed.text,
                    origin,
                });
            }
            serde_yaml::Value::Mapping(map) => {
                let Some(pip) = map.get("pip").and_then(serde_yaml::Value::as_sequence) else {
                    bail!("{}: unexpected entry in dependencies: expected a conda spec or a pip: list", path.display());
                };
                // Rebuild the pip list as a requirements file whose lines sit where they are in
                // the YAML, so origins and errors name the real line.
                let mut pip_lines = vec![String::new(); lines.len()];
                for item in pip {
                    let Some(item) = item.as_str() else {
                        bail!("{}: pip: entries must be strings", path.display());
                    };
                    let line = finder.find(item);
                    pip_lines[line.saturating_sub(1)] = item.to_string();
                }
                set.extend(parse_requirements_txt(
                    &pip_lines.join("\n"),
                    path,
                    includes,
                )?);
            }
            other => bail!(
                "{}: unexpected dependency {other:?}: expected a conda spec string",
                path.display()
            ),
        }
    }
    if !unverified.is_empty() {
        set.warnings.push(Warning::general(format!(
            "{}: conda packages are installed with pip in the image, and conda and PyPI names can differ; \
             check these names on PyPI: {}",
            path.display(),
            unverified.join(", ")
        )));
    }
    Ok(set)
}

/// Translates one conda spec (`conda-forge::numpy=1.24=py311_0`, `numpy >=1.2`) to pip;
/// `None` when pip has nothing to install for it.
fn conda_to_pip(spec: &str, at: &str, warnings: &mut Vec<Warning>) -> Option<String> {
    let spec = spec.rsplit("::").next().unwrap_or(spec).trim();
    let end = spec
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(spec.len());
    let (name, constraint) = (&spec[..end], spec[end..].trim());
    let normalized = normalize(name);
    if normalized == "python" {
        warnings.push(Warning::general(format!(
            "{at}: {spec:?} skipped: the image's Python version is chosen by nb2svc, not by this file"
        )));
        return None;
    }
    if CONDA_NON_PYTHON.contains(&normalized.as_str()) || normalized.starts_with("r-") {
        if normalized != "pip" {
            warnings.push(Warning::general(format!(
                "{at}: {name:?} is not a Python package pip can install; skipped"
            )));
        }
        return None;
    }
    let pypi = match CONDA_TO_PYPI.iter().find(|(conda, _)| *conda == normalized) {
        Some((_, pypi)) => {
            warnings.push(Warning::general(format!(
                "{at}: conda package {name:?} is {pypi:?} on PyPI"
            )));
            pypi
        }
        None => name,
    };
    let mut parts = constraint.split_whitespace();
    let first = parts.next();
    let single_pin = first.filter(|v| v.starts_with('=') && !v.starts_with("=="));
    if parts.next().is_some() || single_pin.is_some_and(|v| v[1..].contains('=')) {
        warnings.push(Warning::general(format!(
            "{at}: conda build string in {spec:?} dropped"
        )));
    }
    let version = match first {
        None => String::new(),
        Some(v) if v.contains(['|', '[']) => {
            warnings.push(Warning::general(format!(
                "{at}: conda constraint {v:?} has no pip spelling; left unpinned"
            )));
            String::new()
        }
        Some(v) if v.starts_with(|c: char| c.is_ascii_digit()) => match v.strip_suffix('*') {
            Some(prefix) => format!("=={}.*", prefix.trim_end_matches('.')),
            None => format!("=={v}"),
        },
        Some(v) if v.starts_with('=') && !v.starts_with("==") => {
            conda_pin_to_pip(&format!("{pypi}{v}"))[pypi.len()..].to_string()
        }
        Some(v) => v.to_string(),
    };
    Some(format!("{pypi}{version}"))
}

/// Finds the line (1-based) of a YAML list item, searching forward from the previous one.
struct LineFinder<'a> {
    lines: &'a [&'a str],
    next: usize,
}

impl LineFinder<'_> {
    fn find(&mut self, item: &str) -> usize {
        let found = (self.next..self.lines.len()).find(|&i| {
            let line = self.lines[i].trim_start().trim_start_matches('-').trim();
            let line = line
                .split(" #")
                .next()
                .unwrap_or(line)
                .trim()
                .trim_matches(['"', '\'']);
            line == item
        });
        match found {
            Some(index) => {
                self.next = index + 1;
                index + 1
            }
            None => self.next.max(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::requirements::{file_lines, fixture, messages, read, texts};

    #[test]
    fn translates_conda_environment() {
        let path = fixture("environment.yml");
        let set = read(&path).unwrap();
        assert_eq!(
            texts(&set),
            [
                "numpy==1.24.*",
                "pandas>=2.0",
                "scikit-learn==1.3.2",
                "torch",
                "some-conda-only-lib",
                "requests==2.31.0",
                "fastapi>=0.110"
            ]
        );
        let lines = file_lines(&set);
        assert_eq!(lines, [6, 7, 8, 9, 10, 13, 14]);
        let warnings = messages(&set);
        let at = path.display().to_string();
        assert_eq!(warnings.len(), 4, "{warnings:#?}");
        assert!(warnings[0].starts_with(&format!("{at}:5: \"python=3.9\" skipped")));
        assert!(warnings[1].starts_with(&format!("{at}:8: conda build string")));
        assert_eq!(
            warnings[2],
            format!("{at}:9: conda package \"pytorch\" is \"torch\" on PyPI")
        );
        assert!(warnings[3].ends_with("check these names on PyPI: some-conda-only-lib"));
    }

    #[test]
    fn rejects_invalid_pip_line_in_environment_with_its_line() {
        let text = "dependencies:\n  - numpy\n  - pip:\n      - ok\n      - bad=>1\n";
        let err = parse_environment_yml(text, Path::new("environment.yml"), &mut |_| bail!("none"))
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("environment.yml:5: invalid requirement \"bad=>1\""),
            "{err}"
        );
    }
}
