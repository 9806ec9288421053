//! The lowest versions the generated code is written for, and the check that what the person
//! wrote allows them: a pin outside a floor would build an image that fails at import (a
//! pydantic 1 next to `app/main.py`'s `ConfigDict`), so it is an error at generation time.
//!
//! A requirement is judged by its version specifiers alone, with PEP 440's semantics (through
//! `pep508_rs`): it conflicts when no version at all satisfies both it and the floor. That is
//! conservative: a set that leaves some version (`fastapi>=0.99`) is kept as written, and
//! whether a release exists in it is the resolver's business. Markers are not evaluated: a
//! line is judged as if it applied. A line with no version (`fastapi`, `uvicorn[standard]`)
//! gets the floor's bound; a URL cannot be judged and gets a warning.

use std::str::FromStr;

use anyhow::{bail, Result};
use pep508_rs::pep440_rs::VersionSpecifiers;
use pep508_rs::{Requirement as Pep508, VerbatimUrl, VersionOrUrl};
use version_ranges::Ranges;

use super::{Origin, Requirement};
use crate::diagnostics::Warning;
use crate::import_map::normalize;

/// A package the generated service needs, at the lowest version its code works with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Floor {
    /// What nb2svc adds when the package is not listed: `pydantic>=2`.
    pub spec: &'static str,
    /// Why, in the words of the merged file's comment: what needs that version.
    pub why: &'static str,
}

impl Floor {
    /// The normalized distribution name, the bound (`>=2`) and its specifiers.
    fn parts(&self) -> Result<(String, String, VersionSpecifiers)> {
        let parsed = Pep508::<VerbatimUrl>::from_str(self.spec)
            .map_err(|err| anyhow::anyhow!("floor {:?} is not PEP 508: {err}", self.spec))?;
        let Some(VersionOrUrl::VersionSpecifier(specifiers)) = parsed.version_or_url else {
            bail!("floor {:?} states no version", self.spec);
        };
        Ok((
            normalize(parsed.name.as_ref()),
            specifiers.to_string(),
            specifiers,
        ))
    }

    /// The distribution name: `uvicorn` for `uvicorn[standard]>=0.15`.
    pub fn name(&self) -> Result<String> {
        Ok(self.parts()?.0)
    }
}

/// What a line says about the versions it allows.
pub(super) enum Allowed {
    /// No version: any.
    Any,
    /// These specifiers.
    Versions(VersionSpecifiers),
    /// A URL or path: unknown.
    Url,
    /// Not PEP 508 (reported where it was read).
    Unreadable,
}

/// The versions a requirement line allows, options (`--hash=...`) aside.
pub(super) fn allowed(text: &str) -> Allowed {
    let requirement = text.split(" --").next().unwrap_or(text).trim();
    if super::spec::has_url_scheme(requirement) || super::spec::looks_like_path(requirement) {
        return Allowed::Url;
    }
    match Pep508::<VerbatimUrl>::from_str(requirement) {
        Ok(parsed) => match parsed.version_or_url {
            None => Allowed::Any,
            Some(VersionOrUrl::VersionSpecifier(specifiers)) if specifiers.is_empty() => {
                Allowed::Any
            }
            Some(VersionOrUrl::VersionSpecifier(specifiers)) => Allowed::Versions(specifiers),
            Some(VersionOrUrl::Url(_)) => Allowed::Url,
        },
        Err(_) => Allowed::Unreadable,
    }
}

/// Whether some version satisfies both specifier sets.
pub(super) fn compatible(a: &VersionSpecifiers, b: &VersionSpecifiers) -> bool {
    let a = Ranges::from(a.clone());
    let b = Ranges::from(b.clone());
    !a.intersection(&b).is_empty()
}

/// Holds every listed requirement of a floor's package to the floor: a line without a version
/// gets the floor's bound (saying so in its origin), a line that allows some version above the
/// floor stays as written, and a line that allows none is an error naming the line, the floor
/// and what needs it. Returns warnings for lines that cannot be judged (URLs).
pub(super) fn hold(requirements: &mut [Requirement], floors: &[Floor]) -> Result<Vec<Warning>> {
    let mut conflicts = Vec::new();
    let mut warnings = Vec::new();
    for floor in floors {
        let (name, bound, floor_versions) = floor.parts()?;
        for requirement in requirements.iter_mut().filter(|r| r.name == name) {
            match allowed(&requirement.text) {
                Allowed::Any => bound_line(requirement, &bound, floor.why),
                Allowed::Versions(versions) if compatible(&versions, &floor_versions) => {}
                Allowed::Versions(_) => conflicts.push(format!(
                    "`{}` ({}) allows no version of {name}{bound}, which the generated service \
                     needs: {}; allow {name}{bound} on that line, or remove it (nb2svc then adds \
                     `{}`)",
                    requirement.text, requirement.origin, floor.why, floor.spec
                )),
                Allowed::Url => warnings.push(Warning::general(format!(
                    "`{}` ({}) installs {name} from a URL or path: nb2svc cannot check that it \
                     is {name}{bound}, which the generated service needs ({})",
                    requirement.text, requirement.origin, floor.why
                ))),
                Allowed::Unreadable => {}
            }
        }
    }
    match conflicts.as_slice() {
        [] => Ok(warnings),
        [one] => bail!("{one}"),
        many => bail!(
            "{} requirements conflict with what the generated service needs:\n  {}",
            many.len(),
            many.join("\n  ")
        ),
    }
}

/// `fastapi` → `fastapi>=0.100`; `pkg ; marker` → `pkg>=1 ; marker`; the origin says why.
pub(super) fn bound_line(requirement: &mut Requirement, bound: &str, why: &str) {
    let (head, marker) = match requirement.text.split_once(';') {
        Some((head, marker)) => (head.trim_end(), Some(marker.trim())),
        None => (requirement.text.trim(), None),
    };
    requirement.text = match marker {
        Some(marker) => format!("{head}{bound} ; {marker}"),
        None => format!("{head}{bound}"),
    };
    let origin = std::mem::replace(
        &mut requirement.origin,
        Origin::Added {
            reason: String::new(),
        },
    );
    requirement.origin = Origin::Bounded {
        origin: Box::new(origin),
        bound: bound.to_string(),
        reason: why.to_string(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    const PYDANTIC: Floor = Floor {
        spec: "pydantic>=2",
        why: "the code uses pydantic 2",
    };
    const FASTAPI: Floor = Floor {
        spec: "fastapi>=0.100",
        why: "the code is written for FastAPI 0.100",
    };
    const UVICORN: Floor = Floor {
        spec: "uvicorn[standard]>=0.15",
        why: "uvicorn stops on SIGTERM",
    };

    fn line(text: &str, line: usize) -> Requirement {
        let name = Pep508::<VerbatimUrl>::from_str(text.split(" --").next().unwrap())
            .map(|r| normalize(r.name.as_ref()))
            .unwrap_or_else(|_| text.split(['=', '<', '>', '[']).next().unwrap().into());
        Requirement {
            name,
            text: text.into(),
            origin: Origin::File {
                path: "requirements.txt".into(),
                line,
            },
        }
    }

    fn specifiers(text: &str) -> VersionSpecifiers {
        VersionSpecifiers::from_str(text).unwrap()
    }

    #[test]
    fn specifier_sets_conflict_only_when_no_version_satisfies_both() {
        let floor = specifiers(">=2");
        for fits in [
            "==2.5.3", ">=1.7,<3", "<=2.0", "==2.*", "~=2.0", "!=2.0", ">1.10", "<2.1", "===2.1",
        ] {
            assert!(compatible(&specifiers(fits), &floor), "{fits}");
        }
        for conflicts in [
            "==1.10.4", "<2", "~=1.10", "==1.*", "<=1.99", "==2.0b3", "<2.0.0",
        ] {
            assert!(!compatible(&specifiers(conflicts), &floor), "{conflicts}");
        }
        let floor = specifiers(">=0.100");
        assert!(!compatible(&specifiers(">=0.68.0,<0.69.0"), &floor));
        assert!(!compatible(&specifiers("==0.99.1"), &floor));
        assert!(compatible(&specifiers(">=0.68"), &floor));
        assert!(compatible(&specifiers("==0.100.0"), &floor));
    }

    #[test]
    fn a_pin_that_satisfies_the_floor_is_kept_as_written() {
        let mut requirements = vec![
            line("fastapi==0.115.0", 1),
            line("pydantic>=2.5,<3 --hash=sha256:ab", 2),
            line("uvicorn==0.30.6", 3),
        ];
        let before = requirements.clone();
        let warnings = hold(&mut requirements, &[FASTAPI, PYDANTIC, UVICORN]).unwrap();
        assert_eq!(requirements, before);
        assert!(warnings.is_empty());
    }

    #[test]
    fn a_pin_below_the_floor_is_an_error_naming_its_line_and_the_floor() {
        let mut requirements = vec![line("numpy==1.26.4", 1), line("fastapi==0.95.2", 2)];
        let err = hold(&mut requirements, &[FASTAPI, PYDANTIC])
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "`fastapi==0.95.2` (from requirements.txt line 2) allows no version of \
             fastapi>=0.100, which the generated service needs: the code is written for FastAPI \
             0.100; allow fastapi>=0.100 on that line, or remove it (nb2svc then adds \
             `fastapi>=0.100`)"
        );
        let mut requirements = vec![line("fastapi>=0.68.0,<0.69.0", 1), line("pydantic<2", 7)];
        let err = hold(&mut requirements, &[FASTAPI, PYDANTIC])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("2 requirements conflict with what the generated service needs:\n  `fastapi>=0.68.0,<0.69.0` (from requirements.txt line 1) allows no version"),
            "{err}"
        );
        assert!(
            err.contains("\n  `pydantic<2` (from requirements.txt line 7) allows no version of pydantic>=2, which the generated service needs: the code uses pydantic 2;"),
            "{err}"
        );
    }

    #[test]
    fn a_line_without_a_version_gets_the_floor_and_says_so() {
        let mut requirements = vec![
            line("fastapi", 1),
            line("uvicorn[standard]", 2),
            line("pydantic ; python_version >= \"3.9\"", 3),
        ];
        hold(&mut requirements, &[FASTAPI, PYDANTIC, UVICORN]).unwrap();
        let texts: Vec<&str> = requirements.iter().map(|r| r.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "fastapi>=0.100",
                "uvicorn[standard]>=0.15",
                "pydantic>=2 ; python_version >= \"3.9\""
            ]
        );
        assert_eq!(
            requirements[0].origin.to_string(),
            "from requirements.txt line 1; >=0.100 added by nb2svc: the code is written for FastAPI 0.100"
        );
    }

    #[test]
    fn a_url_cannot_be_judged_and_is_a_warning() {
        let mut requirements = vec![Requirement {
            name: "fastapi".into(),
            text: "git+https://github.com/fastapi/fastapi@0.95.0#egg=fastapi".into(),
            origin: Origin::File {
                path: "requirements.txt".into(),
                line: 4,
            },
        }];
        let warnings = hold(&mut requirements, &[FASTAPI]).unwrap();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].to_string().contains(
            "installs fastapi from a URL or path: nb2svc cannot check that it is fastapi>=0.100"
        ));
    }
}
