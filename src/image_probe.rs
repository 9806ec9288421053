//! What a Docker image already provides for a set of notebooks, found by running it once.
//!
//! [`probe`] starts a throwaway container of the image (`--rm`, no network, never pulled) with a
//! small Python script (`templates/devcontainer/probe.py`) that prints the installed
//! distributions, the top-level import names each provides, and which of the notebooks' imports
//! the image's Python can locate. [`resolve_versions`] asks the image's own pip (with network)
//! which version of each unpinned package it would install, so the generated Dockerfile can pin
//! it. [`assess`] turns those facts and what the notebooks need into a per-import report and the
//! list to install. Docker is reached only through the [`Engine`] trait, so the report logic is
//! tested without it. Reading notebooks and writing files are left to [`crate::devcontainer`].

mod assess;

#[cfg(test)]
pub use assess::Install;
pub use assess::{assess, Assessment, ItemLine, Needs, Requested, Status};

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde::Deserialize;

use crate::import_map::normalize;

/// The probe script, run as `python -c SCRIPT IMPORT...`.
pub const PROBE_SCRIPT: &str = include_str!("../templates/devcontainer/probe.py");

/// Whether a throwaway container may reach the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// `--network none`: probing needs nothing from outside.
    None,
    /// `--network host`: pip needs PyPI to resolve versions.
    Host,
}

/// Why a throwaway container did not give an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunError {
    /// The image is not on this machine (nb2svc never pulls).
    ImageMissing,
    /// The program is not in the image.
    ProgramMissing,
    /// It ran and failed, or docker itself failed; the text says how.
    Failed(String),
}

/// How nb2svc runs a throwaway container; tests substitute a fake.
pub trait Engine {
    /// Runs `program args...` as the entrypoint of `image` in a container removed afterwards,
    /// and returns its stdout.
    fn run(
        &self,
        image: &str,
        network: Network,
        program: &str,
        args: &[String],
    ) -> Result<String, RunError>;
}

/// The Docker engine, through the `docker` command.
pub struct Docker;

impl Docker {
    /// The engine when `docker info` answers, else `None`.
    pub fn reachable() -> Option<Docker> {
        let answered = Command::new("docker")
            .args(["info", "--format", "{{.ServerVersion}}"])
            .output()
            .is_ok_and(|output| output.status.success());
        answered.then_some(Docker)
    }
}

impl Engine for Docker {
    fn run(
        &self,
        image: &str,
        network: Network,
        program: &str,
        args: &[String],
    ) -> Result<String, RunError> {
        let present = Command::new("docker")
            .args(["image", "inspect", "--format", "{{.Id}}", image])
            .output()
            .map_err(|err| RunError::Failed(format!("cannot run docker: {err}")))?;
        if !present.status.success() {
            return Err(RunError::ImageMissing);
        }
        let network = match network {
            Network::None => "none",
            Network::Host => "host",
        };
        let output = Command::new("docker")
            .args(["run", "--rm", "--pull", "never", "--network", network])
            .args(["--entrypoint", program, image])
            .args(args)
            .output()
            .map_err(|err| RunError::Failed(format!("cannot run docker: {err}")))?;
        match output.status.code() {
            Some(0) => Ok(String::from_utf8_lossy(&output.stdout).into_owned()),
            // docker run's codes for "cannot invoke" and "not found".
            Some(126 | 127) => Err(RunError::ProgramMissing),
            code => {
                let stderr = String::from_utf8_lossy(&output.stderr);
                let last = stderr.lines().rev().find(|l| !l.trim().is_empty());
                Err(RunError::Failed(format!(
                    "exit {}: {}",
                    code.map_or("by signal".into(), |c| c.to_string()),
                    last.unwrap_or("no message").trim()
                )))
            }
        }
    }
}

/// What the probe script printed about the image's Python.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ImageFacts {
    /// The Python version, `3.11.2`.
    pub python: String,
    /// Installed distributions (as their metadata spells them) and their versions.
    pub distributions: BTreeMap<String, String>,
    /// Top-level import name → the distributions that install it.
    pub providers: BTreeMap<String, Vec<String>>,
    /// For each import asked about: whether the image's Python can locate it.
    pub importable: BTreeMap<String, bool>,
}

impl ImageFacts {
    /// Parses the probe script's output.
    pub fn parse(stdout: &str) -> Result<ImageFacts, String> {
        let line = stdout
            .lines()
            .rev()
            .find(|l| l.trim_start().starts_with('{'));
        let line = line.ok_or_else(|| "the probe printed no JSON object".to_string())?;
        serde_json::from_str(line)
            .map_err(|err| format!("the probe's JSON is not as expected: {err}"))
    }

    /// The installed distribution named `name` (any spelling pip accepts), with its version.
    pub fn installed(&self, name: &str) -> Option<(&str, &str)> {
        let wanted = normalize(name);
        self.distributions
            .iter()
            .find(|(dist, _)| normalize(dist) == wanted)
            .map(|(dist, version)| (dist.as_str(), version.as_str()))
    }

    /// The distributions providing `import` when the image can import it; `None` when it cannot.
    pub fn provider_of(&self, import: &str) -> Option<Vec<String>> {
        let found = self.importable.get(import).copied().unwrap_or(false)
            || self.providers.contains_key(import);
        found.then(|| self.providers.get(import).cloned().unwrap_or_default())
    }
}

/// Runs the probe in `image` for `imports`: `python`, or `python3` when the image has no
/// `python`. The error says, in words for the report, why the image was not probed.
pub fn probe(engine: &dyn Engine, image: &str, imports: &[String]) -> Result<ImageFacts, String> {
    let mut args = vec!["-c".to_string(), PROBE_SCRIPT.to_string()];
    args.extend(imports.iter().cloned());
    let mut last = RunError::ProgramMissing;
    for python in ["python", "python3"] {
        match engine.run(image, Network::None, python, &args) {
            Ok(stdout) => return ImageFacts::parse(&stdout),
            Err(RunError::ProgramMissing) => continue,
            Err(err) => {
                last = err;
                break;
            }
        }
    }
    Err(match last {
        RunError::ImageMissing => format!(
            "the image {image} is not on this machine and nb2svc never pulls; run `docker pull {image}` (or build it) and run nb2svc again"
        ),
        RunError::ProgramMissing => format!("the image {image} has neither `python` nor `python3`"),
        RunError::Failed(how) => format!("running the probe in {image} failed ({how})"),
    })
}

/// Asks pip in `image` (with the host network, to reach PyPI) which version of each named
/// distribution it would install there, without installing anything. Returns normalized name →
/// version for those it resolved; needs pip 22.2 or later in the image.
pub fn resolve_versions(
    engine: &dyn Engine,
    image: &str,
    names: &[String],
) -> Result<BTreeMap<String, String>, String> {
    if names.is_empty() {
        return Ok(BTreeMap::new());
    }
    let mut args: Vec<String> = [
        "-m",
        "pip",
        "install",
        "--dry-run",
        "--quiet",
        "--no-deps",
        "--ignore-installed",
        "--disable-pip-version-check",
        "--report",
        "-",
    ]
    .map(String::from)
    .to_vec();
    args.extend(names.iter().cloned());
    let stdout = ["python", "python3"]
        .iter()
        .find_map(
            |python| match engine.run(image, Network::Host, python, &args) {
                Err(RunError::ProgramMissing) => None,
                other => Some(other),
            },
        )
        .unwrap_or(Err(RunError::ProgramMissing))
        .map_err(|err| format!("pip could not resolve versions in {image}: {err:?}"))?;
    parse_pip_report(&stdout)
}

/// Reads `pip install --report`: the name and version of every distribution it would install.
fn parse_pip_report(stdout: &str) -> Result<BTreeMap<String, String>, String> {
    #[derive(Deserialize)]
    struct Report {
        install: Vec<Item>,
    }
    #[derive(Deserialize)]
    struct Item {
        metadata: Metadata,
    }
    #[derive(Deserialize)]
    struct Metadata {
        name: String,
        version: String,
    }
    let start = stdout
        .find('{')
        .ok_or_else(|| "pip printed no report".to_string())?;
    let report: Report = serde_json::from_str(&stdout[start..])
        .map_err(|err| format!("pip's report is not as expected: {err}"))?;
    Ok(report
        .install
        .into_iter()
        .map(|item| (normalize(&item.metadata.name), item.metadata.version))
        .collect())
}

/// The imports to ask the image about: sorted, unique, and only valid Python identifiers (they
/// become arguments of the probe).
pub fn probe_names<'a>(imports: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let names: BTreeSet<&str> = imports
        .into_iter()
        .filter(|name| {
            name.chars()
                .next()
                .is_some_and(|c| c.is_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_alphanumeric() || c == '_')
        })
        .collect();
    names.into_iter().map(String::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// Answers `run` from a script of canned results, recording every call.
    struct Fake {
        answers: RefCell<Vec<Result<String, RunError>>>,
        calls: RefCell<Vec<(String, Network, String)>>,
    }

    impl Fake {
        fn new(answers: Vec<Result<String, RunError>>) -> Fake {
            Fake {
                answers: RefCell::new(answers),
                calls: RefCell::new(Vec::new()),
            }
        }
    }

    impl Engine for Fake {
        fn run(
            &self,
            image: &str,
            network: Network,
            program: &str,
            _args: &[String],
        ) -> Result<String, RunError> {
            self.calls
                .borrow_mut()
                .push((image.into(), network, program.into()));
            self.answers.borrow_mut().remove(0)
        }
    }

    const FACTS: &str = r#"{"distributions": {"PyYAML": "6.0.1", "six": "1.16.0"},
        "importable": {"six": true, "tabulate": false, "yaml": true},
        "providers": {"six": ["six"], "yaml": ["PyYAML"]}, "python": "3.11.2"}"#;

    #[test]
    fn probe_parses_the_scripts_json_without_network() {
        let fake = Fake::new(vec![Ok(format!(
            "a warning line\n{}\n",
            FACTS.replace('\n', " ")
        ))]);
        let facts = probe(&fake, "img:1", &["six".into(), "tabulate".into()]).unwrap();
        assert_eq!(facts.python, "3.11.2");
        assert_eq!(facts.installed("pyyaml"), Some(("PyYAML", "6.0.1")));
        assert_eq!(facts.provider_of("yaml"), Some(vec!["PyYAML".to_string()]));
        assert_eq!(facts.provider_of("tabulate"), None);
        assert_eq!(
            fake.calls.borrow()[0],
            ("img:1".into(), Network::None, "python".into())
        );
    }

    #[test]
    fn probe_falls_back_to_python3() {
        let fake = Fake::new(vec![
            Err(RunError::ProgramMissing),
            Ok(FACTS.replace('\n', " ")),
        ]);
        assert!(probe(&fake, "img:1", &[]).is_ok());
        assert_eq!(fake.calls.borrow()[1].2, "python3");
    }

    #[test]
    fn a_missing_image_is_explained_not_pulled() {
        let fake = Fake::new(vec![Err(RunError::ImageMissing)]);
        let why = probe(&fake, "tensorflow/tfx:1.12.0", &[]).unwrap_err();
        assert!(
            why.contains("not on this machine")
                && why.contains("docker pull tensorflow/tfx:1.12.0"),
            "{why}"
        );
    }

    #[test]
    fn garbage_output_is_an_error_not_a_panic() {
        let fake = Fake::new(vec![Ok("Traceback ...".into())]);
        assert!(probe(&fake, "img:1", &[]).unwrap_err().contains("no JSON"));
    }

    #[test]
    fn resolves_versions_from_pips_report_with_network() {
        let report = r#"{"version": "1", "install": [{"metadata": {"name": "Tabulate", "version": "0.9.0"}}]}"#;
        let fake = Fake::new(vec![Ok(report.into())]);
        let versions = resolve_versions(&fake, "img:1", &["tabulate".into()]).unwrap();
        assert_eq!(versions["tabulate"], "0.9.0");
        assert_eq!(fake.calls.borrow()[0].1, Network::Host);
    }

    #[test]
    fn probe_names_are_identifiers_only() {
        assert_eq!(
            probe_names(["six", "bad name", "-x", "six", "_ok"]),
            vec!["_ok".to_string(), "six".to_string()]
        );
    }
}
