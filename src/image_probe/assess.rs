//! From what the notebooks need and what the image has (or nothing, when it was not probed)
//! to a report line per import and per requested package, and the list to install.
//!
//! An import is provided when the image's Python can locate it. One it cannot is missing when a
//! requested package or the import table names its distribution, and unknown otherwise: nb2svc
//! never installs a guessed name. A requested package (a `%pip install` line, a line of the
//! requirements file) is provided when the image has that distribution at a version the line
//! accepts. Unprobed, everything with a known distribution is installed: pip skips what is there.

use std::collections::BTreeMap;
use std::str::FromStr;

use pep508_rs::pep440_rs::Version;
use pep508_rs::{Requirement, VerbatimUrl, VersionOrUrl};
use serde::Serialize;

use super::ImageFacts;
use crate::import_map::{distribution_for, import_names_for, normalize, Distribution};

/// What the notebooks need.
#[derive(Debug, Clone, Default)]
pub struct Needs {
    /// Top-level imports (standard library and local modules already left out) → where each is
    /// imported (`TFDV.ipynb cell 3`).
    pub imports: BTreeMap<String, Vec<String>>,
    /// Packages asked for by name, in order: requirements file lines, then `%pip install` lines.
    pub requested: Vec<Requested>,
}

/// A package asked for by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requested {
    /// Normalized distribution name; empty for a URL that names none.
    pub name: String,
    /// What to give pip: `tabulate==0.9.0`, `apache-beam[gcp]>=2.45`.
    pub spec: String,
    /// Where it was asked for: `requirements.txt line 3`, `%pip install in nb.ipynb cell 2`.
    pub origin: String,
}

/// What the image does about one import or requested package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Status {
    /// The image has it, from these distributions (empty: located but not from a distribution).
    Provided { by: Vec<String> },
    /// The image lacks it; `install` is the pip spec that adds it.
    Missing { install: String },
    /// The image was not probed; `install` is the pip spec (pip skips it if already there).
    NotProbed { install: String },
    /// The image lacks it (or was not probed) and no distribution is known for it.
    Unknown { why: String },
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemLine {
    /// `six` for an import, the spec for a requested package.
    pub name: String,
    /// Where the notebooks import it, or where it was requested.
    pub used_in: Vec<String>,
    #[serde(flatten)]
    pub status: Status,
}

/// A package the Dockerfile installs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Install {
    /// Normalized distribution name (empty for a URL).
    pub name: String,
    /// The pip spec, pinned when a version is known.
    pub spec: String,
}

impl Install {
    /// Whether pip is told which versions to accept (a specifier or a URL), as hadolint's DL3013
    /// asks; a bare name is not.
    pub fn pinned(&self) -> bool {
        self.name.is_empty() || self.spec.contains(['=', '<', '>', '~', '@'])
    }

    /// Pins a bare spec (`tabulate`, `apache-beam[gcp]`) to `version`.
    pub fn pin(&mut self, version: &str) {
        let bare = self
            .spec
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.[],".contains(c));
        if bare && !self.pinned() {
            self.spec = format!("{}=={version}", self.spec);
        }
    }
}

/// The report and the install list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assessment {
    /// The image's Python version when it was probed.
    pub python: Option<String>,
    /// Why it was not probed (absent when it was).
    pub not_probed: Option<String>,
    /// One line per import, sorted by name.
    pub imports: Vec<ItemLine>,
    /// One line per requested package, in request order.
    pub requested: Vec<ItemLine>,
    /// What the Dockerfile installs, in the order first needed; empty when nothing is missing.
    pub install: Vec<Install>,
}

#[cfg(test)]
impl Assessment {
    /// The imports the image lacks, by name.
    pub fn missing_imports(&self) -> Vec<&str> {
        self.imports
            .iter()
            .filter(|line| matches!(line.status, Status::Missing { .. }))
            .map(|line| line.name.as_str())
            .collect()
    }
}

/// Compares the needs with the image (`Ok(facts)`) or with nothing (`Err(why not probed)`).
pub fn assess(needs: &Needs, image: Result<&ImageFacts, &str>) -> Assessment {
    let facts = image.ok();
    let mut install: Vec<Install> = Vec::new();
    let mut add = |name: &str, spec: &str| {
        if !install
            .iter()
            .any(|i| i.spec == spec || (!name.is_empty() && i.name == name))
        {
            install.push(Install {
                name: name.to_string(),
                spec: spec.to_string(),
            });
        }
    };
    let lacking = |install: String| match facts {
        Some(_) => Status::Missing { install },
        None => Status::NotProbed { install },
    };

    let mut requested = Vec::new();
    for request in &needs.requested {
        let status = match facts.and_then(|f| provided_request(f, request)) {
            Some(by) => Status::Provided { by },
            None => {
                add(&request.name, &request.spec);
                lacking(request.spec.clone())
            }
        };
        requested.push(ItemLine {
            name: request.spec.clone(),
            used_in: vec![request.origin.clone()],
            status,
        });
    }

    let mut imports = Vec::new();
    for (import, used_in) in &needs.imports {
        let status = if let Some(by) = facts.and_then(|f| f.provider_of(import)) {
            Status::Provided { by }
        } else if let Some(request) = needs.requested.iter().find(|r| provides(r, import)) {
            add(&request.name, &request.spec);
            lacking(request.spec.clone())
        } else {
            match distribution_for(import) {
                Distribution::Known(dist) => {
                    add(&normalize(dist), dist);
                    lacking(dist.to_string())
                }
                Distribution::Ambiguous(candidates) => Status::Unknown {
                    why: format!(
                        "several distributions provide it ({}); name the right one in --requirements",
                        candidates.join(", ")
                    ),
                },
                Distribution::Stdlib => Status::Provided { by: Vec::new() },
                Distribution::Unknown => Status::Unknown {
                    why: "not in nb2svc's import table; name its distribution in --requirements"
                        .to_string(),
                },
            }
        };
        imports.push(ItemLine {
            name: import.clone(),
            used_in: used_in.clone(),
            status,
        });
    }
    Assessment {
        python: facts.map(|f| f.python.clone()),
        not_probed: image.err().map(str::to_string),
        imports,
        requested,
        install,
    }
}

/// Whether a requested package provides `import`, by its name or by the import table.
fn provides(request: &Requested, import: &str) -> bool {
    !request.name.is_empty()
        && (request.name == normalize(import) || import_names_for(&request.name).contains(&import))
}

/// The distribution satisfying `request` in the image, if it has one at an accepted version.
fn provided_request(facts: &ImageFacts, request: &Requested) -> Option<Vec<String>> {
    if request.name.is_empty() {
        return None;
    }
    let (dist, version) = facts.installed(&request.name)?;
    let accepted = match Requirement::<VerbatimUrl>::from_str(&request.spec) {
        Ok(parsed) => match parsed.version_or_url {
            None => true,
            Some(VersionOrUrl::VersionSpecifier(specifiers)) => Version::from_str(version)
                .map(|v| specifiers.contains(&v))
                .unwrap_or(false),
            Some(VersionOrUrl::Url(_)) => false,
        },
        Err(_) => false,
    };
    accepted.then(|| vec![format!("{dist} {version}")])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> ImageFacts {
        ImageFacts {
            python: "3.11.2".into(),
            distributions: [
                ("six", "1.16.0"),
                ("PyYAML", "6.0.1"),
                ("tabulate", "0.8.0"),
            ]
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .into(),
            providers: [("six", "six"), ("yaml", "PyYAML")]
                .map(|(a, b)| (a.to_string(), vec![b.to_string()]))
                .into(),
            importable: [
                ("six", true),
                ("yaml", true),
                ("cv2", false),
                ("mystery", false),
            ]
            .map(|(a, b)| (a.to_string(), b))
            .into(),
        }
    }

    fn needs(imports: &[&str], requested: &[(&str, &str)]) -> Needs {
        Needs {
            imports: imports
                .iter()
                .map(|i| (i.to_string(), vec!["nb.ipynb cell 1".to_string()]))
                .collect(),
            requested: requested
                .iter()
                .map(|(name, spec)| Requested {
                    name: name.to_string(),
                    spec: spec.to_string(),
                    origin: "requirements.txt line 1".into(),
                })
                .collect(),
        }
    }

    fn status_of<'a>(lines: &'a [ItemLine], name: &str) -> &'a Status {
        &lines.iter().find(|l| l.name == name).unwrap().status
    }

    #[test]
    fn reports_provided_missing_and_unknown_imports() {
        let report = assess(
            &needs(&["six", "yaml", "cv2", "mystery"], &[]),
            Ok(&facts()),
        );
        assert_eq!(
            status_of(&report.imports, "yaml"),
            &Status::Provided {
                by: vec!["PyYAML".into()]
            }
        );
        assert_eq!(
            status_of(&report.imports, "cv2"),
            &Status::Missing {
                install: "opencv-python-headless".into()
            }
        );
        assert!(matches!(
            status_of(&report.imports, "mystery"),
            Status::Unknown { .. }
        ));
        assert_eq!(report.missing_imports(), vec!["cv2"]);
        let specs: Vec<&str> = report.install.iter().map(|i| i.spec.as_str()).collect();
        assert_eq!(
            specs,
            vec!["opencv-python-headless"],
            "never a guessed name"
        );
    }

    #[test]
    fn requirement_versions_are_used_for_missing_imports() {
        let report = assess(
            &needs(
                &["cv2"],
                &[("opencv-python-headless", "opencv-python-headless==4.9.0.80")],
            ),
            Ok(&facts()),
        );
        assert_eq!(report.install[0].spec, "opencv-python-headless==4.9.0.80");
        assert!(report.install[0].pinned());
        assert_eq!(report.install.len(), 1);
    }

    #[test]
    fn a_requested_version_the_image_lacks_is_installed() {
        let report = assess(
            &needs(
                &[],
                &[("tabulate", "tabulate==0.9.0"), ("six", "six>=1.10")],
            ),
            Ok(&facts()),
        );
        assert_eq!(
            status_of(&report.requested, "tabulate==0.9.0"),
            &Status::Missing {
                install: "tabulate==0.9.0".into()
            }
        );
        assert_eq!(
            status_of(&report.requested, "six>=1.10"),
            &Status::Provided {
                by: vec!["six 1.16.0".into()]
            }
        );
    }

    #[test]
    fn unprobed_installs_every_known_distribution() {
        let report = assess(&needs(&["six", "mystery"], &[]), Err("no engine"));
        assert_eq!(report.not_probed.as_deref(), Some("no engine"));
        assert_eq!(
            status_of(&report.imports, "six"),
            &Status::NotProbed {
                install: "six".into()
            }
        );
        assert_eq!(report.install.len(), 1);
    }

    #[test]
    fn pins_only_bare_specs() {
        let mut bare = Install {
            name: "tabulate".into(),
            spec: "tabulate".into(),
        };
        bare.pin("0.9.0");
        assert_eq!(bare.spec, "tabulate==0.9.0");
        let mut ranged = Install {
            name: "six".into(),
            spec: "six>=1".into(),
        };
        ranged.pin("1.16.0");
        assert_eq!(ranged.spec, "six>=1");
    }
}
