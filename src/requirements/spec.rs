//! One requirement on its own: a PEP 508 specifier (validated by `pep508_rs`), a URL or VCS
//! link, or a local path, with the distribution name it states and whether it can be
//! installed in a container as written.

use std::str::FromStr;

use pep508_rs::{Requirement as Pep508, VerbatimUrl};

use crate::import_map::normalize;

/// A requirement specifier understood on its own, before it gets an [`Origin`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Spec {
    /// Normalized distribution name, "" when a bare URL or path does not say it.
    pub name: String,
    /// What to write to the merged requirements file.
    pub text: String,
    /// Why this spec cannot be installed as written in a container, if it cannot.
    pub problem: Option<String>,
}

/// Parses one requirement as pip would read it from a line: a PEP 508 specifier, a URL or
/// VCS link (`git+https://…#egg=name`), or a local path. The error is the reason only.
pub(crate) fn parse_spec(spec: &str) -> Result<Spec, String> {
    let spec = spec.trim();
    if has_url_scheme(spec) {
        let local = spec.starts_with("file:");
        return Ok(Spec {
            name: name_from_url(spec),
            text: spec.to_string(),
            problem: local
                .then(|| format!("{spec} is a local file that will not exist in the container")),
        });
    }
    if looks_like_path(spec) {
        return Ok(Spec {
            name: name_from_url(spec),
            text: spec.to_string(),
            problem: Some(format!(
                "{spec} is a local path that will not exist in the container"
            )),
        });
    }
    check_name_end(spec)?;
    let parsed = Pep508::<VerbatimUrl>::from_str(spec).map_err(|err| err.message.to_string())?;
    let name = normalize(parsed.name.as_ref());
    let url = match &parsed.version_or_url {
        Some(pep508_rs::VersionOrUrl::Url(url)) => Some(url.to_string()),
        _ => None,
    };
    match url {
        // A `pip freeze` from a conda or locally built environment: the wheel it points to
        // is on someone's disk. The name alone installs the package from PyPI instead.
        Some(url) if url.starts_with("file:") => {
            let (head, _) = spec.split_once('@').unwrap_or((spec, ""));
            let marker = spec.split_once(" ;").or_else(|| spec.split_once("; "));
            let text = match marker {
                Some((_, marker)) => format!("{} ; {}", head.trim(), marker.trim()),
                None => head.trim().to_string(),
            };
            Ok(Spec {
                name,
                problem: Some(format!(
                    "{spec:?} points to a local file that will not exist in the container; \
                     nb2svc writes {text:?} unpinned instead: pin a PyPI version"
                )),
                text,
            })
        }
        _ => Ok(Spec {
            name,
            text: spec.to_string(),
            problem: None,
        }),
    }
}

pub(crate) fn has_url_scheme(spec: &str) -> bool {
    let Some((scheme, _)) = spec.split_once("://") else {
        return spec.starts_with("file:");
    };
    !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

pub(crate) fn looks_like_path(spec: &str) -> bool {
    let first = spec.split_whitespace().next().unwrap_or(spec);
    first.starts_with(['.', '/', '~', '\\'])
        || first.get(1..3) == Some(":\\")
        || [".whl", ".tar.gz", ".zip", ".tar.bz2"]
            .iter()
            .any(|ext| first.ends_with(ext))
}

/// The distribution name a URL or path states: `#egg=name`, or a wheel or sdist file name.
fn name_from_url(url: &str) -> String {
    let url = url.split(" ;").next().unwrap_or(url).trim();
    if let Some((_, fragment)) = url.split_once('#') {
        for part in fragment.split('&') {
            if let Some(egg) = part.strip_prefix("egg=") {
                let egg = egg.split('[').next().unwrap_or(egg);
                return normalize(egg);
            }
        }
    }
    let file = url.split(['#', '?']).next().unwrap_or(url);
    let file = file.rsplit(['/', '\\']).next().unwrap_or(file);
    if let Some(stem) = file.strip_suffix(".whl") {
        return normalize(stem.split('-').next().unwrap_or(""));
    }
    let sdist = [".tar.gz", ".tar.bz2", ".zip"]
        .iter()
        .find_map(|ext| file.strip_suffix(ext));
    match sdist.and_then(|stem| stem.rsplit_once('-')) {
        Some((name, version)) if version.starts_with(|c: char| c.is_ascii_digit()) => {
            normalize(name)
        }
        _ => String::new(),
    }
}

/// pep508_rs 0.9 panics on a name whose last character is `.`, `-` or `_` when something other
/// than the end of the line follows it (`python-#x`, `scikit- learn`): found by tests/it/fuzz.rs.
/// The same error it gives at the end of a line, given here first.
fn check_name_end(spec: &str) -> Result<(), String> {
    let trimmed = spec.trim_start();
    let (name, rest) = identifier(trimmed);
    ends_alphanumeric(name, "Package name")?;
    // The extras (`name[a, b]`) have the same rule, and the same panic.
    if let Some(extras) = rest.trim_start().strip_prefix('[') {
        let extras = extras.split(']').next().unwrap_or_default();
        for extra in extras.split(',') {
            ends_alphanumeric(identifier(extra.trim_start()).0, "Extra name")?;
        }
    }
    Ok(())
}

/// The leading `[A-Za-z0-9._-]*` of `text`, and what follows it.
fn identifier(text: &str) -> (&str, &str) {
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
        .unwrap_or(text.len());
    text.split_at(end)
}

fn ends_alphanumeric(name: &str, what: &str) -> Result<(), String> {
    match name.chars().last() {
        Some(last @ ('.' | '-' | '_')) => Err(format!(
            "{what} must end with an alphanumeric character, not '{last}'"
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod name_end_tests {
    use super::check_name_end;

    #[test]
    fn a_name_ending_in_punctuation_is_an_error_not_a_panic() {
        for spec in [
            "python-#dateutil",
            "sci---",
            "scikit- learn",
            "a_ ==1",
            "x.[y]",
        ] {
            assert!(check_name_end(spec).is_err(), "{spec}");
        }
        for spec in [
            "scikit-learn==1.5",
            "numpy",
            " pandas>=2",
            "a[b]",
            "a[b-c, d]",
        ] {
            assert!(check_name_end(spec).is_ok(), "{spec}");
        }
    }
}
