//! The image a service builds on and the Python it runs, decided once before planning: the
//! Python the notebook ran under (`metadata.language_info.version`), unless `--python X.Y` or
//! `--base-image IMAGE` says otherwise. The plan carries the choice and the reason for it, so
//! the report, the generated README and anything resolved for that Python say the same.
//!
//! The rules, in order:
//! - `--base-image IMAGE` is used as given. Its Python is read from its tag when it is a
//!   `python` image (`python:3.12-slim`, `registry.example.com/python:3.12.4@sha256:...`); with
//!   `--python X.Y` as well, the two must agree. When the tag names no Python (`team/ml:1.0`),
//!   `--python` says which one the image runs, else the notebook's is assumed, with a warning.
//! - `--python X.Y` alone gives `python:X.Y-slim`, for a supported X.Y.
//! - Otherwise the notebook's recorded version gives `python:X.Y-slim`. A version outside the
//!   supported range gets the nearest supported one, with a warning; a notebook that records
//!   none gets [`DEFAULT`].
//!
//! Which image tags exist, and which versions still get fixes, is a fact table of this release
//! (December 2026); nothing here asks a registry.

use std::fmt;

use anyhow::{bail, Result};
use serde::Serialize;

/// A Python release line, `3.10`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PythonVersion {
    pub major: u32,
    pub minor: u32,
}

impl fmt::Display for PythonVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

const fn version(major: u32, minor: u32) -> PythonVersion {
    PythonVersion { major, minor }
}

/// The oldest Python the generated code runs on: `app/nb2svc_runtime.py` annotates with
/// `dict[str, Any]`, evaluated when the module loads, which Python 3.8 refuses (the templates
/// are checked with ruff's `--target-version py39`). Python 3.9 itself is past its end of life,
/// but its image and wheels are still published, and old notebooks' pins need it.
pub const OLDEST: PythonVersion = version(3, 9);

/// The newest Python with a `python:X.Y-slim` image and Linux wheels of the libraries most
/// notebooks use (numpy, pandas, scikit-learn, scipy, pydantic-core), checked in December 2026
/// with `uv pip compile --only-binary :all: --python-version 3.15`.
pub const NEWEST: PythonVersion = version(3, 15);

/// The Python of a notebook that does not record one: the image every service used before
/// nb2svc read the notebook's version.
pub const DEFAULT: PythonVersion = version(3, 11);

/// Supported versions past their end of life (python.org's release schedule, PEP 596 and
/// PEP 619): their images get no more security fixes.
const END_OF_LIFE: &[(PythonVersion, &str)] = &[
    (version(3, 9), "October 2025"),
    (version(3, 10), "October 2026"),
];

/// Why the service runs the Python it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PythonReason {
    /// The notebook's `metadata.language_info.version`.
    Notebook,
    /// The notebook's version is outside the supported range: the nearest supported one.
    NearestSupported,
    /// `--python X.Y`.
    PythonOption,
    /// The tag of `--base-image`.
    BaseImageTag,
    /// `--base-image` does not say which Python it runs: the notebook's (or the default) is
    /// assumed.
    Assumed,
    /// The notebook records no Python version: [`DEFAULT`].
    Default,
}

/// The Python the service runs, and why: the plan's one statement of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PythonChoice {
    /// `3.10`: the Python of the image, and the one to resolve requirements for.
    pub version: String,
    pub reason: PythonReason,
    /// What the notebook's metadata records (`3.10.12`), when it records a version.
    pub recorded: Option<String>,
    /// The reason, as a clause that reads after "because" (for the report and the README).
    pub because: String,
    /// What the person should know about the choice, when there is something.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// The base image and its Python.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseImage {
    /// The `FROM` reference, checked.
    pub image: String,
    pub python: PythonChoice,
}

/// Chooses the base image and its Python from the notebook's recorded version and the
/// `--python` and `--base-image` options (`base_image` already checked as a Docker reference).
pub fn choose(
    recorded: Option<&str>,
    python_option: Option<&str>,
    base_image: Option<&str>,
) -> Result<BaseImage> {
    let asked = python_option.map(parse_option).transpose()?;
    let notebook = Recorded {
        raw: recorded,
        version: recorded.and_then(recorded_version),
    };
    if let Some(image) = base_image {
        let python = given_image(image, asked, &notebook)?;
        return Ok(BaseImage {
            image: image.to_string(),
            python,
        });
    }
    let (version, python) = match asked {
        Some(asked) => (asked, python_option_alone(asked, &notebook)?),
        None => notebook_python(&notebook),
    };
    Ok(BaseImage {
        image: slim_image(version),
        python,
    })
}

/// What the notebook's metadata says about its Python.
struct Recorded<'a> {
    raw: Option<&'a str>,
    /// Its release line, when the text reads as one.
    version: Option<PythonVersion>,
}

impl Recorded<'_> {
    /// The recorded text as messages show it.
    fn shown(&self) -> String {
        self.raw.map(shown).unwrap_or_default()
    }

    /// `; the notebook ran under 3.10.12` when the notebook ran under another Python.
    fn differs_from(&self, chosen: PythonVersion) -> String {
        match self.version {
            Some(ran) if ran != chosen => format!("; the notebook ran under {}", self.shown()),
            _ => String::new(),
        }
    }

    fn choice(
        &self,
        version: PythonVersion,
        reason: PythonReason,
        because: String,
        warning: Option<String>,
    ) -> PythonChoice {
        PythonChoice {
            version: version.to_string(),
            reason,
            recorded: self.raw.map(str::to_string),
            because,
            warning,
        }
    }
}

/// `--base-image IMAGE`, used as given: its tag, `--python`, or an assumption says its Python.
fn given_image(
    image: &str,
    asked: Option<PythonVersion>,
    notebook: &Recorded,
) -> Result<PythonChoice> {
    let (version, reason, because) = match (python_of_image(image), asked) {
        (Some(tagged), Some(asked)) if tagged != asked => bail!(
            "--python {asked} and --base-image {image} disagree: the image's tag says Python \
             {tagged}; pass one of them, or an image of Python {asked}"
        ),
        (Some(tagged), _) => (
            tagged,
            PythonReason::BaseImageTag,
            format!(
                "the tag of --base-image {image} says so{}",
                notebook.differs_from(tagged)
            ),
        ),
        (None, Some(asked)) => (
            asked,
            PythonReason::PythonOption,
            format!(
                "--python {asked} says that --base-image {image} runs it{}",
                notebook.differs_from(asked)
            ),
        ),
        (None, None) => {
            let (assumed, whose) = match notebook.version {
                Some(ran) => (ran.clamp(OLDEST, NEWEST), "the notebook's"),
                None => (DEFAULT, "nb2svc's default"),
            };
            return Ok(notebook.choice(
                assumed,
                PythonReason::Assumed,
                format!(
                    "it is assumed: the tag of --base-image {image} does not say which Python it \
                     runs, and {assumed} is {whose}"
                ),
                Some(format!(
                    "--base-image {image} does not say which Python it runs: nb2svc assumes \
                     {assumed} ({whose}); pass --python X.Y to say which"
                )),
            ));
        }
    };
    if version < OLDEST {
        bail!(
            "--base-image {image} runs Python {version}, but the generated code needs Python \
             {OLDEST} or later"
        );
    }
    let warning = (version > NEWEST).then(|| {
        format!(
            "--base-image {image} runs Python {version}, newer than nb2svc has checked images \
             and wheels for (up to {NEWEST}): built as asked"
        )
    });
    Ok(notebook.choice(version, reason, because, warning))
}

/// `--python X.Y` without `--base-image`: a supported version.
fn python_option_alone(asked: PythonVersion, notebook: &Recorded) -> Result<PythonChoice> {
    if !(OLDEST..=NEWEST).contains(&asked) {
        bail!(
            "--python {asked}: nb2svc supports Python {OLDEST} to {NEWEST} (the generated code \
             needs {OLDEST} or later); to build on another image anyway, pass --base-image IMAGE"
        );
    }
    Ok(notebook.choice(
        asked,
        PythonReason::PythonOption,
        format!("--python {asked} chose it{}", notebook.differs_from(asked)),
        None,
    ))
}

/// Neither option: the notebook's recorded Python, the nearest supported one, or the default.
fn notebook_python(notebook: &Recorded) -> (PythonVersion, PythonChoice) {
    let text = notebook.shown();
    let supported = format!("{OLDEST} to {NEWEST}");
    match (notebook.raw, notebook.version) {
        (None, _) => (
            DEFAULT,
            notebook.choice(
                DEFAULT,
                PythonReason::Default,
                format!("the notebook does not record the Python it ran under, and {DEFAULT} is nb2svc's default"),
                None,
            ),
        ),
        (Some(raw), None) => (
            DEFAULT,
            notebook.choice(
                DEFAULT,
                PythonReason::Default,
                format!(
                    "the notebook's recorded version {raw:?} is not MAJOR.MINOR, and {DEFAULT} is nb2svc's default"
                ),
                Some(format!(
                    "the notebook's metadata records Python version {raw:?}, which nb2svc cannot \
                     read as MAJOR.MINOR: the image runs Python {DEFAULT}, nb2svc's default \
                     (--python X.Y chooses another)"
                )),
            ),
        ),
        (Some(_), Some(ran)) if ran < OLDEST => {
            let warning = if ran.major < 3 {
                format!(
                    "the notebook ran under Python {text}: the service runs Python 3 ({OLDEST}, \
                     the oldest nb2svc supports), so its code must be valid Python 3 (--python \
                     X.Y chooses another)"
                )
            } else {
                format!(
                    "the notebook ran under Python {text}, older than the generated code runs on: \
                     the image runs Python {OLDEST}, the nearest supported, where pins made for \
                     {ran} may not install (--python X.Y chooses another)"
                )
            };
            let because = format!(
                "the notebook ran under {text}, and {OLDEST} is the nearest Python nb2svc \
                 supports ({supported})"
            );
            (
                OLDEST,
                notebook.choice(
                    OLDEST,
                    PythonReason::NearestSupported,
                    because,
                    Some(warning),
                ),
            )
        }
        (Some(_), Some(ran)) if ran > NEWEST => {
            let because = format!(
                "the notebook ran under {text}, and {NEWEST} is the nearest Python nb2svc \
                 supports ({supported})"
            );
            let warning = format!(
                "the notebook ran under Python {text}, newer than nb2svc has checked images and \
                 wheels for: the image runs Python {NEWEST}, the nearest (--base-image \
                 python:{ran}-slim builds on {ran} anyway)"
            );
            (
                NEWEST,
                notebook.choice(
                    NEWEST,
                    PythonReason::NearestSupported,
                    because,
                    Some(warning),
                ),
            )
        }
        (Some(_), Some(ran)) => {
            let warning = END_OF_LIFE
                .iter()
                .find(|(v, _)| *v == ran)
                .map(|(_, when)| {
                    format!(
                        "Python {ran} reached its end of life in {when}: {} gets no more security \
                     fixes. nb2svc keeps the Python the notebook ran under, since its pins were \
                     made for it (--python {DEFAULT} or later moves on)",
                        slim_image(ran)
                    )
                });
            let because = format!(
                "the notebook ran under Python {text} (its metadata.language_info.version)"
            );
            (
                ran,
                notebook.choice(ran, PythonReason::Notebook, because, warning),
            )
        }
    }
}

/// A recorded version as the messages show it: as written when it looks like a version,
/// quoted (control characters escaped) when it does not, since it is the notebook's text.
fn shown(text: &str) -> String {
    let plain = text.len() <= 32
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '-'));
    if plain {
        text.to_string()
    } else {
        format!("{text:?}")
    }
}

/// `python:3.10-slim`: the official image of that Python on Debian, without build tools.
fn slim_image(version: PythonVersion) -> String {
    format!("python:{version}-slim")
}

/// `--python`: exactly `MAJOR.MINOR`.
fn parse_option(text: &str) -> Result<PythonVersion> {
    let parts: Vec<&str> = text.split('.').collect();
    let number = |part: &str| {
        (!part.is_empty() && part.len() <= 3 && part.chars().all(|c| c.is_ascii_digit()))
            .then(|| part.parse::<u32>().ok())
            .flatten()
    };
    match parts.as_slice() {
        [major, minor] => match (number(major), number(minor)) {
            (Some(major), Some(minor)) => Ok(version(major, minor)),
            _ => bail!("--python {text:?}: expected MAJOR.MINOR such as 3.10"),
        },
        [_, _, _] if parts.iter().all(|p| number(p).is_some()) => bail!(
            "--python {text}: expected MAJOR.MINOR such as {}.{} (for an exact release, pass --base-image python:{text}-slim)",
            parts[0],
            parts[1]
        ),
        _ => bail!("--python {text:?}: expected MAJOR.MINOR such as 3.10"),
    }
}

/// The release line of a recorded version: `3.10` from `3.10.12`, `3.13.0rc1` or `3.9`.
fn recorded_version(text: &str) -> Option<PythonVersion> {
    let text = text.trim();
    let (major, rest) = text.split_once('.')?;
    let minor: String = rest.chars().take_while(char::is_ascii_digit).collect();
    if major.is_empty() || !major.chars().all(|c| c.is_ascii_digit()) || minor.is_empty() {
        return None;
    }
    Some(version(major.parse().ok()?, minor.parse().ok()?))
}

/// The Python a `python` image's tag names: `3.12` for `python:3.12-slim`,
/// `mirror.example.com/library/python:3.12.4-bookworm@sha256:...`; `None` for another image or a
/// tag that names no version (`python:slim`, `python` alone).
pub fn python_of_image(image: &str) -> Option<PythonVersion> {
    let reference = image.split('@').next().unwrap_or(image);
    let last_slash = reference.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = reference[last_slash..].split_once(':')?;
    if name != "python" {
        return None;
    }
    // `3.12-slim`, `3.12.4`, `3.12-rc-alpine`: MAJOR.MINOR, then the end, `.` or `-`.
    let (major, rest) = tag.split_once('.')?;
    let minor: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let after = rest[minor.len()..].chars().next();
    if major.is_empty()
        || !major.chars().all(|c| c.is_ascii_digit())
        || minor.is_empty()
        || after.is_some_and(|c| c != '.' && c != '-')
    {
        return None;
    }
    Some(version(major.parse().ok()?, minor.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chosen(recorded: Option<&str>, python: Option<&str>, image: Option<&str>) -> BaseImage {
        choose(recorded, python, image).unwrap()
    }

    fn refused(recorded: Option<&str>, python: Option<&str>, image: Option<&str>) -> String {
        format!("{:#}", choose(recorded, python, image).unwrap_err())
    }

    #[test]
    fn follows_the_notebooks_recorded_python() {
        let base = chosen(Some("3.10.12"), None, None);
        assert_eq!(base.image, "python:3.10-slim");
        assert_eq!(base.python.version, "3.10");
        assert_eq!(base.python.reason, PythonReason::Notebook);
        assert_eq!(base.python.recorded.as_deref(), Some("3.10.12"));
        assert_eq!(
            base.python.because,
            "the notebook ran under Python 3.10.12 (its metadata.language_info.version)"
        );
        // 3.10 is past its end of life: kept, with a warning that says so.
        assert_eq!(
            base.python.warning.as_deref(),
            Some(
                "Python 3.10 reached its end of life in October 2026: python:3.10-slim gets no more security fixes. \
                 nb2svc keeps the Python the notebook ran under, since its pins were made for it \
                 (--python 3.11 or later moves on)"
            )
        );
        let base = chosen(Some("3.12.9"), None, None);
        assert_eq!(
            (base.image.as_str(), base.python.warning),
            ("python:3.12-slim", None)
        );
        assert_eq!(chosen(Some("3.13.0rc1"), None, None).python.version, "3.13");
        // The recorded text is the notebook's: shown quoted, its line breaks escaped.
        let odd = chosen(Some("3.12\n# <b>"), None, None);
        assert_eq!(odd.image, "python:3.12-slim");
        assert_eq!(
            odd.python.because,
            r#"the notebook ran under Python "3.12\n# <b>" (its metadata.language_info.version)"#
        );
    }

    #[test]
    fn an_unsupported_recorded_python_gets_the_nearest_with_a_warning() {
        let base = chosen(Some("3.7.12"), None, None);
        assert_eq!(base.image, "python:3.9-slim");
        assert_eq!(base.python.reason, PythonReason::NearestSupported);
        assert_eq!(
            base.python.warning.as_deref(),
            Some(
                "the notebook ran under Python 3.7.12, older than the generated code runs on: the image runs Python 3.9, \
                 the nearest supported, where pins made for 3.7 may not install (--python X.Y chooses another)"
            )
        );
        let python2 = chosen(Some("2.7.18"), None, None);
        assert_eq!(python2.image, "python:3.9-slim");
        assert!(python2
            .python
            .warning
            .unwrap()
            .contains("so its code must be valid Python 3"));
        let future = chosen(Some("3.16.0a1"), None, None);
        assert_eq!(future.image, "python:3.15-slim");
        assert!(future
            .python
            .warning
            .unwrap()
            .contains("(--base-image python:3.16-slim builds on 3.16 anyway)"));
    }

    #[test]
    fn no_recorded_python_is_the_default_said_in_the_reason() {
        let base = chosen(None, None, None);
        assert_eq!(base.image, "python:3.11-slim");
        assert_eq!(base.python.reason, PythonReason::Default);
        assert_eq!(
            base.python.because,
            "the notebook does not record the Python it ran under, and 3.11 is nb2svc's default"
        );
        assert_eq!(base.python.warning, None);
        let unreadable = chosen(Some("three"), None, None);
        assert_eq!(unreadable.image, "python:3.11-slim");
        assert!(unreadable
            .python
            .warning
            .unwrap()
            .starts_with("the notebook's metadata records Python version \"three\""));
    }

    #[test]
    fn the_python_option_wins_over_the_notebook() {
        let base = chosen(Some("3.10.12"), Some("3.12"), None);
        assert_eq!(base.image, "python:3.12-slim");
        assert_eq!(base.python.reason, PythonReason::PythonOption);
        assert_eq!(
            base.python.because,
            "--python 3.12 chose it; the notebook ran under 3.10.12"
        );
        assert_eq!(base.python.warning, None);
        assert_eq!(
            refused(None, Some("3.8"), None),
            "--python 3.8: nb2svc supports Python 3.9 to 3.15 (the generated code needs 3.9 or later); \
             to build on another image anyway, pass --base-image IMAGE"
        );
        assert_eq!(
            refused(None, Some("3.10.12"), None),
            "--python 3.10.12: expected MAJOR.MINOR such as 3.10 (for an exact release, pass --base-image python:3.10.12-slim)"
        );
        assert_eq!(
            refused(None, Some("py3"), None),
            "--python \"py3\": expected MAJOR.MINOR such as 3.10"
        );
    }

    #[test]
    fn the_base_image_is_used_as_given_and_its_tag_says_the_python() {
        let digest = "python:3.11-slim@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        let base = chosen(Some("3.10.12"), None, Some(digest));
        assert_eq!(base.image, digest);
        assert_eq!(base.python.version, "3.11");
        assert_eq!(base.python.reason, PythonReason::BaseImageTag);
        assert_eq!(
            base.python.because,
            format!("the tag of --base-image {digest} says so; the notebook ran under 3.10.12")
        );
        // Consistent with --python: fine; inconsistent: an error naming both.
        assert_eq!(chosen(None, Some("3.11"), Some(digest)).image, digest);
        assert_eq!(
            refused(None, Some("3.10"), Some("python:3.11-slim")),
            "--python 3.10 and --base-image python:3.11-slim disagree: the image's tag says Python 3.11; \
             pass one of them, or an image of Python 3.10"
        );
        assert_eq!(
            refused(None, None, Some("python:3.8-slim")),
            "--base-image python:3.8-slim runs Python 3.8, but the generated code needs Python 3.9 or later"
        );
        let newer = chosen(None, None, Some("python:3.16-slim"));
        assert_eq!(newer.python.version, "3.16");
        assert!(newer.python.warning.unwrap().ends_with("built as asked"));
    }

    #[test]
    fn a_base_image_that_names_no_python_takes_the_option_or_assumes_the_notebooks() {
        let base = chosen(Some("3.10.12"), Some("3.12"), Some("team/ml:1.0"));
        assert_eq!(base.image, "team/ml:1.0");
        assert_eq!(base.python.version, "3.12");
        assert_eq!(base.python.reason, PythonReason::PythonOption);
        let assumed = chosen(Some("3.10.12"), None, Some("team/ml:1.0"));
        assert_eq!(assumed.python.version, "3.10");
        assert_eq!(assumed.python.reason, PythonReason::Assumed);
        assert_eq!(
            assumed.python.warning.as_deref(),
            Some("--base-image team/ml:1.0 does not say which Python it runs: nb2svc assumes 3.10 (the notebook's); pass --python X.Y to say which")
        );
        assert_eq!(
            chosen(None, None, Some("python")).python.reason,
            PythonReason::Assumed
        );
    }

    #[test]
    fn reads_the_python_of_python_image_tags_only() {
        for (image, expected) in [
            ("python:3.12-slim", Some(version(3, 12))),
            ("python:3.12.4-slim-bookworm", Some(version(3, 12))),
            ("python:3.9", Some(version(3, 9))),
            ("python:3.14-rc-alpine", Some(version(3, 14))),
            (
                "docker.io/library/python:3.13@sha256:00",
                Some(version(3, 13)),
            ),
            ("localhost:5000/python:3.10-slim", Some(version(3, 10))),
            ("python:slim", None),
            ("python", None),
            ("python@sha256:0123", None),
            ("pypy:3.10", None),
            ("tensorflow/tensorflow:2.15.0", None),
            ("python:3x", None),
        ] {
            assert_eq!(python_of_image(image), expected, "{image}");
        }
    }
}
