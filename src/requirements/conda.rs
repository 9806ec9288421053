//! conda's dependency files: `environment.yml` (hand-written or from `conda env export`) and
//! the text of `conda list --export`. conda specs become pip requirements with the line they
//! were found on; the `pip:` sub-list is read as requirements-file lines. What pip cannot
//! express is skipped: `python` itself, conda-only packages and build strings, the last two
//! summarised once per file because an export holds dozens of them.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

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
    ("matplotlib-base", "matplotlib"),
    ("brotli-python", "brotli"),
    ("python-tzdata", "tzdata"),
];

/// conda packages that are not Python packages: pip cannot install them, or would install
/// something else under the name. A heuristic list of what `conda env export` commonly shows
/// (system libraries, compilers, runtimes, data), by normalized name; see also
/// [`CONDA_ONLY_PREFIXES`].
const CONDA_NON_PYTHON: &[&str] = &[
    "pip",
    "cudatoolkit",
    "cudnn",
    "cuda-toolkit",
    "nccl",
    "pytorch-cuda",
    "pytorch-mutex",
    "cpuonly",
    "mkl",
    "intel-openmp",
    "llvm-openmp",
    "tbb",
    "blas",
    "openblas",
    "nodejs",
    "openssl",
    "ca-certificates",
    "ld-impl-linux-64",
    "python-abi",
    "tzdata",
    "sqlite",
    "tk",
    "xz",
    "zlib",
    "zstd",
    "lz4-c",
    "bzip2",
    "readline",
    "ncurses",
    "icu",
    "krb5",
    "c-ares",
    "keyutils",
    "expat",
    "gettext",
    "glib",
    "jpeg",
    "freetype",
    "fontconfig",
    "lerc",
    "yaml",
    "gmp",
    "mpfr",
    "mpc",
    "pcre",
    "pcre2",
    "zeromq",
    "ucrt",
    "vc",
    "vc14-runtime",
    "vs2015-runtime",
    "graphviz",
    "git",
    "gcc",
    "make",
];

/// Name prefixes of conda-only packages (`libgcc-ng`, `mkl-include`, `cuda-nvrtc`, `r-base`),
/// part of the same heuristic.
const CONDA_ONLY_PREFIXES: &[&str] = &["lib", "mkl-", "cuda-", "xorg-", "font-", "fonts-", "r-"];

/// Python packages on PyPI whose name has a conda-only prefix.
const PYTHON_DESPITE_PREFIX: &[&str] =
    &["librosa", "libcst", "mkl-service", "mkl-fft", "mkl-random"];

/// Whether pip has nothing to install for the conda package `name` (as written).
fn is_conda_only(name: &str) -> bool {
    let normalized = normalize(name);
    // `_libgcc_mutex`, `_openmp_mutex`, and virtual packages such as `__glibc`.
    name.starts_with('_')
        || CONDA_NON_PYTHON.contains(&normalized.as_str())
        || (CONDA_ONLY_PREFIXES
            .iter()
            .any(|p| normalized.starts_with(p))
            && !PYTHON_DESPITE_PREFIX.contains(&normalized.as_str())
            && import_names_for(&normalized).is_empty())
}

#[derive(Deserialize)]
struct Environment {
    #[serde(default)]
    dependencies: Vec<serde_yaml::Value>,
}

/// Parses a conda `environment.yml`: conda specs become pip specs (`numpy=1.24` →
/// `numpy==1.24.*`, `numpy=1.26.4=py311h64a7726_0` → `numpy==1.26.4`), the `pip:` sub-list
/// is read as requirements lines (its `-r` relative to this file), `python` and conda-only
/// packages are skipped with a warning.
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
    let mut reader = CondaReader::new(path);
    for dependency in &env.dependencies {
        match dependency {
            serde_yaml::Value::String(spec) => reader.spec(spec, finder.find(spec))?,
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
                reader.set.extend(parse_requirements_txt(
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
    Ok(reader.finish())
}

/// Whether `text` is the output of `conda list --export`: every line that is not blank or a
/// comment is `name=version=build`, or `name=version` when a `# platform:` comment says the
/// file comes from conda.
pub(crate) fn is_conda_list(text: &str) -> bool {
    let platform = text
        .lines()
        .any(|l| l.trim_start().starts_with("# platform:"));
    let mut specs = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .peekable();
    specs.peek().is_some()
        && specs.all(|line| match conda_list_fields(line) {
            Some(3) => true,
            Some(2) => platform,
            _ => false,
        })
}

/// How many `=`-separated fields `line` has when it reads as `name=version[=build]`.
fn conda_list_fields(line: &str) -> Option<usize> {
    let fields: Vec<&str> = line.split('=').collect();
    let name_ok = fields[0]
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    let fields_ok = fields
        .iter()
        .all(|f| !f.is_empty() && !f.contains(char::is_whitespace));
    (name_ok && fields_ok && (2..=3).contains(&fields.len())).then_some(fields.len())
}

/// Parses the text of `conda list --export` (see [`is_conda_list`]) like the conda specs of
/// an `environment.yml`.
pub(crate) fn parse_conda_list(text: &str, path: &Path) -> Result<RequirementsSet> {
    let mut reader = CondaReader::new(path);
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if !line.is_empty() && !line.starts_with('#') {
            reader.spec(line, index + 1)?;
        }
    }
    Ok(reader.finish())
}

/// Reads the conda specs of one file, gathering what is reported once per file.
struct CondaReader<'a> {
    path: &'a Path,
    set: RequirementsSet,
    /// Names not in the import table, whose PyPI spelling a person should check.
    unverified: Vec<String>,
    /// conda-only packages skipped, as written.
    conda_only: Vec<String>,
    /// Specs whose build string was dropped, with the pip spec they became.
    builds: Vec<(String, String)>,
}

impl<'a> CondaReader<'a> {
    fn new(path: &'a Path) -> Self {
        Self {
            path,
            set: RequirementsSet::default(),
            unverified: Vec::new(),
            conda_only: Vec::new(),
            builds: Vec::new(),
        }
    }

    /// Adds one conda spec found on `line`.
    fn spec(&mut self, spec: &str, line: usize) -> Result<()> {
        let at = format!("{}:{line}", self.path.display());
        let Some(pip_spec) = self.conda_to_pip(spec, &at) else {
            return Ok(());
        };
        let parsed = parse_spec(&pip_spec)
            .map_err(|err| anyhow::anyhow!("{at}: invalid conda package {spec:?}: {err}"))?;
        if import_names_for(&parsed.name).is_empty() {
            self.unverified.push(parsed.name.clone());
        }
        let origin = Origin::File {
            path: self.path.display().to_string(),
            line,
        };
        self.set.add(Requirement {
            name: parsed.name,
            text: parsed.text,
            origin,
        });
        Ok(())
    }

    /// Translates one conda spec (`conda-forge::numpy=1.24=py311_0`, `numpy >=1.2`) to pip;
    /// `None` when pip has nothing to install for it.
    fn conda_to_pip(&mut self, spec: &str, at: &str) -> Option<String> {
        let written = spec.trim();
        let spec = written.rsplit("::").next().unwrap_or(written).trim();
        let end = spec
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
            .unwrap_or(spec.len());
        let (name, constraint) = (&spec[..end], spec[end..].trim());
        let normalized = normalize(name);
        if normalized == "python" {
            self.set.python_version = self
                .set
                .python_version
                .take()
                .or_else(|| python_version(constraint));
            self.set.warnings.push(Warning::general(format!(
                "{at}: {spec:?} skipped: the image's Python version is chosen by nb2svc, not by this file"
            )));
            return None;
        }
        if is_conda_only(name) {
            // Every environment has pip; saying so would be noise.
            if normalized != "pip" {
                self.conda_only.push(name.to_string());
            }
            return None;
        }
        let pypi = match CONDA_TO_PYPI.iter().find(|(conda, _)| *conda == normalized) {
            Some((_, pypi)) => {
                self.set.warnings.push(Warning::general(format!(
                    "{at}: conda package {name:?} is {pypi:?} on PyPI"
                )));
                pypi
            }
            None => name,
        };
        let mut parts = constraint.split_whitespace();
        let first = parts.next();
        let single_pin = first.filter(|v| v.starts_with('=') && !v.starts_with("=="));
        let build = match single_pin {
            Some(pin) => pin[1..].split_once('=').map(|(_, build)| build),
            None => parts.next(),
        };
        let version = match first {
            None => String::new(),
            Some(v) if v.contains(['|', '[']) => {
                self.set.warnings.push(Warning::general(format!(
                    "{at}: conda constraint {v:?} has no pip spelling; left unpinned"
                )));
                String::new()
            }
            Some(v) if v.starts_with(|c: char| c.is_ascii_digit()) => exact(v),
            // With a build string the version is the exact one that was installed.
            Some(v) if build.is_some() && single_pin.is_some() => {
                exact(v[1..].split('=').next().unwrap_or_default())
            }
            Some(v) if single_pin.is_some() => {
                conda_pin_to_pip(&format!("{pypi}{v}"))[pypi.len()..].to_string()
            }
            Some(v) => v.to_string(),
        };
        let pip_spec = format!("{pypi}{version}");
        // `conda list --export` writes `pypi_0` for what pip installed: not a conda build.
        if build.is_some_and(|b| b != "pypi_0") {
            self.builds.push((written.to_string(), pip_spec.clone()));
        }
        Some(pip_spec)
    }

    /// The set, with the warnings that sum up the file.
    fn finish(mut self) -> RequirementsSet {
        let path = self.path.display();
        let warnings = &mut self.set.warnings;
        if !self.conda_only.is_empty() {
            let count = self.conda_only.len();
            warnings.push(Warning::general(format!(
                "{path}: {count} conda-only package{} skipped (no pip equivalent): {}",
                if count == 1 { "" } else { "s" },
                self.conda_only.join(", ")
            )));
        }
        if let Some((spec, pip)) = self.builds.first() {
            let count = self.builds.len();
            warnings.push(Warning::general(format!(
                "{path}: conda build string{} dropped from {count} package{} (pip pins versions, not builds), e.g. {spec:?} is {pip}",
                if count == 1 { "" } else { "s" },
                if count == 1 { "" } else { "s" },
            )));
        }
        if !self.unverified.is_empty() {
            warnings.push(Warning::general(format!(
                "{path}: conda packages are installed with pip in the image, and conda and PyPI names can differ; \
                 check these names on PyPI: {}",
                self.unverified.join(", ")
            )));
        }
        self.set
    }
}

/// `==1.24` for a version, `==1.24.*` for conda's `1.24.*` or `1.24*`.
fn exact(version: &str) -> String {
    match version.strip_suffix('*') {
        Some(prefix) => format!("=={}.*", prefix.trim_end_matches('.')),
        None => format!("=={version}"),
    }
}

/// The Python version of a `python` spec's constraint (`=3.11.5=h955ad1f_0`, ` 3.9`,
/// `=3.10.*`); `None` for a range such as `>=3.9`, which names no one version.
fn python_version(constraint: &str) -> Option<String> {
    let version = constraint
        .trim()
        .strip_prefix("==")
        .or_else(|| constraint.trim().strip_prefix('='));
    let version = version.unwrap_or(constraint.trim());
    let version = version.split(['=', ' ']).next()?;
    let version = version.trim_end_matches('*').trim_end_matches('.');
    let digits = version.chars().all(|c| c.is_ascii_digit() || c == '.');
    (digits && version.starts_with(|c: char| c.is_ascii_digit())).then(|| version.to_string())
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

/// conda's `name=1.24` means any 1.24.x; pip spells that `name==1.24.*`. A build string
/// (`name=1.24=py311_0`) is dropped. Anything else is returned unchanged. The one place a
/// conda pin becomes a pip one, for environment files and `conda install` magics alike.
pub(crate) fn conda_pin_to_pip(spec: &str) -> String {
    let Some((name, rest)) = spec.split_once('=') else {
        return spec.to_string();
    };
    if rest.starts_with('=')
        || name.is_empty()
        || name.ends_with(['<', '>', '!', '~'])
        || spec.contains(['@', ';', ' ', '#', '/'])
    {
        return spec.to_string();
    }
    let version = rest
        .split('=')
        .next()
        .unwrap_or(rest)
        .trim_end_matches(".*")
        .trim_end_matches('*');
    format!("{name}=={version}.*")
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
        assert_eq!(
            warnings[1],
            format!("{at}:9: conda package \"pytorch\" is \"torch\" on PyPI")
        );
        assert_eq!(
            warnings[2],
            format!("{at}: conda build string dropped from 1 package (pip pins versions, not builds), e.g. \"scikit-learn 1.3.2 py39_0\" is scikit-learn==1.3.2")
        );
        assert!(warnings[3].ends_with("check these names on PyPI: some-conda-only-lib"));
        assert_eq!(set.python_version.as_deref(), Some("3.9"));
    }

    #[test]
    fn reads_a_conda_env_export() {
        let path = fixture("conda_env_export.yml");
        let set = read(&path).unwrap();
        assert_eq!(
            texts(&set),
            [
                "joblib==1.2.0",
                "mkl-service==2.4.0",
                "numpy==1.26.4",
                "pandas==2.1.4",
                "scikit-learn==1.3.0",
                "fastapi==0.110.0",
                "uvicorn==0.29.0"
            ]
        );
        assert_eq!(file_lines(&set), [9, 17, 19, 21, 25, 32, 33]);
        assert_eq!(set.python_version.as_deref(), Some("3.11.5"));
        let warnings = messages(&set);
        let at = path.display().to_string();
        assert_eq!(warnings.len(), 4, "{warnings:#?}");
        assert_eq!(
            warnings[0],
            format!("{at}:23: \"python=3.11.5=h955ad1f_0\" skipped: the image's Python version is chosen by nb2svc, not by this file")
        );
        assert_eq!(
            warnings[1],
            format!(
                "{at}: 19 conda-only packages skipped (no pip equivalent): _libgcc_mutex, _openmp_mutex, \
                 bzip2, ca-certificates, ld_impl_linux-64, libffi, libgcc-ng, libgomp, libstdcxx-ng, \
                 libuuid, mkl, ncurses, openssl, readline, sqlite, tk, tzdata, xz, zlib"
            )
        );
        assert_eq!(
            warnings[2],
            format!("{at}: conda build strings dropped from 5 packages (pip pins versions, not builds), e.g. \"joblib=1.2.0=py311h06a4308_0\" is joblib==1.2.0")
        );
        assert!(
            warnings[3].ends_with("check these names on PyPI: mkl-service"),
            "{}",
            warnings[3]
        );
    }

    const CONDA_LIST: &str = "\
# This file may be used to create an environment using:
# $ conda create --name <env> --file <this file>
# platform: linux-64
_libgcc_mutex=0.1=main
ca-certificates=2023.01.10=h06a4308_0
libstdcxx-ng=11.2.0=h1234567_1
numpy=1.26.4=py311h64a7726_0
python=3.11.5=h955ad1f_0
requests=2.31.0=pypi_0
scikit-learn=1.3.0=py311ha02d727_0
";

    #[test]
    fn reads_conda_list_export_under_any_name() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["spec-file.txt", "requirements.txt", "packages"] {
            let path = dir.path().join(name);
            std::fs::write(&path, CONDA_LIST).unwrap();
            let set = read(&path).unwrap_or_else(|err| panic!("{name}: {err:#}"));
            assert_eq!(
                texts(&set),
                ["numpy==1.26.4", "requests==2.31.0", "scikit-learn==1.3.0"],
                "{name}"
            );
            assert_eq!(file_lines(&set), [7, 9, 10]);
            assert_eq!(set.python_version.as_deref(), Some("3.11.5"));
            let warnings = messages(&set);
            let at = path.display().to_string();
            assert_eq!(warnings.len(), 3, "{warnings:#?}");
            assert!(
                warnings[0].starts_with(&format!("{at}:8: \"python=3.11.5=h955ad1f_0\" skipped"))
            );
            assert_eq!(
                warnings[1],
                format!("{at}: 3 conda-only packages skipped (no pip equivalent): _libgcc_mutex, ca-certificates, libstdcxx-ng")
            );
            // `pypi_0` marks what pip installed: not counted as a conda build.
            assert!(
                warnings[2].contains("dropped from 2 packages"),
                "{}",
                warnings[2]
            );
        }
    }

    #[test]
    fn recognises_only_conda_list_text() {
        assert!(is_conda_list(CONDA_LIST));
        assert!(is_conda_list("numpy=1.26.4=py311h64a7726_0\n"));
        assert!(is_conda_list("# platform: osx-arm64\nnumpy=1.26.4\n"));
        for text in [
            "",
            "# platform: linux-64\n",
            "numpy==1.26.4\npandas\n",
            "numpy=1.26\n",
            "# platform: linux-64\nnumpy=1.26.4=0\npandas>=2\n",
            "numpy=1.2=b=c\n",
            "numpy=1.2=py 1\n",
        ] {
            assert!(!is_conda_list(text), "{text:?}");
        }
    }

    #[test]
    fn classifies_conda_only_packages() {
        for name in [
            "_libgcc_mutex",
            "__glibc",
            "libgcc-ng",
            "mkl",
            "mkl-include",
            "intel-openmp",
            "tzdata",
            "ld_impl_linux-64",
            "cuda-nvrtc",
            "r-base",
        ] {
            assert!(is_conda_only(name), "{name}");
        }
        for name in [
            "librosa",
            "libcst",
            "mkl-service",
            "mkl_fft",
            "numpy",
            "lightgbm",
        ] {
            assert!(!is_conda_only(name), "{name}");
        }
    }

    #[test]
    fn reads_the_python_version_of_a_spec() {
        assert_eq!(
            python_version("=3.11.5=h955ad1f_0").as_deref(),
            Some("3.11.5")
        );
        assert_eq!(python_version(" 3.9").as_deref(), Some("3.9"));
        assert_eq!(python_version("=3.10.*").as_deref(), Some("3.10"));
        assert_eq!(python_version(">=3.9"), None);
        assert_eq!(python_version(""), None);
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
