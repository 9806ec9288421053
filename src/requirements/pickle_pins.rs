//! Train and serve with the same library: a model pickled by one scikit-learn may not load, or
//! may predict differently, under another, and scikit-learn records the version that pickled
//! each estimator. When the service ships a pickle made elsewhere (the notebook only loads it),
//! the library is pinned to that version, unless the person's requirements say otherwise; then
//! their line stays as written and a warning says what it risks.
//!
//! Only scikit-learn's `_sklearn_version` is read today (by [`crate::pickled`]); the versions
//! other libraries may record, or the notebook's outputs show, are not.

use std::collections::BTreeMap;
use std::str::FromStr;

use pep508_rs::pep440_rs::{Version, VersionSpecifiers};

use super::floors::{allowed, bound_line, compatible, Allowed};
use super::{Origin, Requirement};
use crate::diagnostics::Warning;
use crate::import_map::normalize;

/// A library version a shipped pickle records.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PickledBy {
    /// The distribution: `scikit-learn`.
    pub distribution: String,
    /// As recorded: `1.3.2`.
    pub version: String,
    /// The pickle, under `data/`.
    pub file: String,
}

/// Pins each library the shipped pickles record to the version that pickled them: added when
/// absent (also to `missing`), given `==V` when its line names no version; a line of the
/// person's that allows other versions is kept, with a warning. Files that disagree, or a
/// version PyPI never publishes (a development build), pin nothing and say why.
pub(super) fn pin(
    requirements: &mut Vec<Requirement>,
    missing: &mut Vec<Requirement>,
    made_by: &[PickledBy],
) -> Vec<Warning> {
    let mut warnings = Vec::new();
    let mut by_library: BTreeMap<&str, BTreeMap<&str, Vec<&str>>> = BTreeMap::new();
    for made in made_by {
        by_library
            .entry(&made.distribution)
            .or_default()
            .entry(&made.version)
            .or_default()
            .push(&made.file);
    }
    for (library, versions) in by_library {
        let name = normalize(library);
        if versions.len() > 1 {
            let each: Vec<String> = versions
                .iter()
                .map(|(version, files)| format!("{} by {version}", files.join(", ")))
                .collect();
            warnings.push(Warning::general(format!(
                "the shipped pickles were made by different {library} versions ({}): nb2svc pins \
                 none of them; a model may not load, or may predict differently, under another \
                 version than its own",
                each.join("; ")
            )));
            continue;
        }
        let Some((version, files)) = versions.into_iter().next() else {
            continue;
        };
        let files = files.join(", ");
        let made = format!("{files} was pickled by {library} {version}");
        if !published(version) {
            warnings.push(Warning::general(format!(
                "{made}, a development or local build PyPI does not publish: {library} is not \
                 pinned to it"
            )));
            continue;
        }
        let exact = format!("=={version}");
        let Some(listed) = requirements.iter_mut().find(|r| r.name == name) else {
            let added = Requirement {
                name,
                text: format!("{library}{exact}"),
                origin: Origin::Added { reason: made },
            };
            missing.push(added.clone());
            requirements.push(added);
            continue;
        };
        match (allowed(&listed.text), &listed.origin) {
            // nb2svc's own line (added because the pickle needs the library): now pinned.
            (Allowed::Any, Origin::Added { .. }) => {
                listed.text = format!("{library}{exact}");
                listed.origin = Origin::Added { reason: made };
            }
            (Allowed::Any, _) => bound_line(listed, &exact, &made),
            (Allowed::Versions(versions), _) => {
                let pinned = VersionSpecifiers::from_str(&exact).ok();
                let fits = pinned
                    .as_ref()
                    .is_some_and(|pinned| compatible(&versions, pinned));
                if !fits {
                    warnings.push(Warning::general(format!(
                        "{made}, but `{}` ({}) allows no such version: loading it may fail or \
                         predict differently; the line is kept as written (pin {library}{exact} \
                         to serve with the library that made it)",
                        listed.text, listed.origin
                    )));
                } else if !is_exactly(&versions, version) {
                    warnings.push(Warning::general(format!(
                        "{made}, and `{}` ({}) allows other versions too: the installer may pick \
                         one the model was not made with; pin {library}{exact} to serve with the \
                         library that made it",
                        listed.text, listed.origin
                    )));
                }
            }
            (Allowed::Url | Allowed::Unreadable, _) => {}
        }
    }
    // Lines given a pin read the same in `missing`.
    for added in missing.iter_mut() {
        if let Some(now) = requirements.iter().find(|r| r.name == added.name) {
            added.clone_from(now);
        }
    }
    warnings
}

/// A release PyPI can serve: a PEP 440 version without a development or local segment.
fn published(version: &str) -> bool {
    Version::from_str(version).is_ok_and(|v| v.dev().is_none() && v.local().is_empty())
}

/// `==1.3.2` (or `===1.3.2`) and nothing else.
fn is_exactly(versions: &VersionSpecifiers, version: &str) -> bool {
    let Ok(version) = Version::from_str(version) else {
        return false;
    };
    versions.len() == 1
        && versions.iter().all(|specifier| {
            matches!(
                specifier.operator(),
                pep508_rs::pep440_rs::Operator::Equal | pep508_rs::pep440_rs::Operator::ExactEqual
            ) && *specifier.version() == version
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn made(version: &str, file: &str) -> PickledBy {
        PickledBy {
            distribution: "scikit-learn".into(),
            version: version.into(),
            file: file.into(),
        }
    }

    fn listed(text: &str, origin: Origin) -> Requirement {
        Requirement {
            name: "scikit-learn".into(),
            text: text.into(),
            origin,
        }
    }

    fn file_line(line: usize) -> Origin {
        Origin::File {
            path: "requirements.txt".into(),
            line,
        }
    }

    fn messages(warnings: &[Warning]) -> Vec<String> {
        warnings.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn an_unlisted_library_is_pinned_to_the_version_that_pickled_the_model() {
        let (mut requirements, mut missing) = (Vec::new(), Vec::new());
        let warnings = pin(
            &mut requirements,
            &mut missing,
            &[made("1.3.2", "data/model.pkl")],
        );
        assert!(warnings.is_empty());
        assert_eq!(requirements, missing);
        assert_eq!(requirements[0].text, "scikit-learn==1.3.2");
        assert_eq!(
            requirements[0].origin.to_string(),
            "added by nb2svc: data/model.pkl was pickled by scikit-learn 1.3.2"
        );
    }

    #[test]
    fn a_line_without_a_version_gets_the_pin_and_a_users_pin_is_kept() {
        let mut requirements = vec![listed("scikit-learn", file_line(2))];
        pin(
            &mut requirements,
            &mut Vec::new(),
            &[made("1.3.2", "data/m.pkl")],
        );
        assert_eq!(requirements[0].text, "scikit-learn==1.3.2");
        assert_eq!(
            requirements[0].origin.to_string(),
            "from requirements.txt line 2; ==1.3.2 added by nb2svc: data/m.pkl was pickled by scikit-learn 1.3.2"
        );

        let mut requirements = vec![listed("scikit-learn==1.5.2", file_line(3))];
        let warnings = pin(
            &mut requirements,
            &mut Vec::new(),
            &[made("1.3.2", "data/m.pkl")],
        );
        assert_eq!(
            requirements[0].text, "scikit-learn==1.5.2",
            "kept as written"
        );
        assert_eq!(
            messages(&warnings),
            [
                "data/m.pkl was pickled by scikit-learn 1.3.2, but `scikit-learn==1.5.2` (from \
              requirements.txt line 3) allows no such version: loading it may fail or predict \
              differently; the line is kept as written (pin scikit-learn==1.3.2 to serve with the \
              library that made it)"
            ]
        );

        let mut requirements = vec![listed("scikit-learn>=1.3,<1.8", file_line(1))];
        let warnings = pin(
            &mut requirements,
            &mut Vec::new(),
            &[made("1.3.2", "data/m.pkl")],
        );
        assert_eq!(requirements[0].text, "scikit-learn>=1.3,<1.8");
        assert!(messages(&warnings)[0].contains("allows other versions too"));

        let mut requirements = vec![listed("scikit-learn==1.3.2", file_line(1))];
        let warnings = pin(
            &mut requirements,
            &mut Vec::new(),
            &[made("1.3.2", "data/m.pkl")],
        );
        assert!(warnings.is_empty(), "{warnings:?}");
    }

    #[test]
    fn disagreeing_files_or_development_builds_pin_nothing() {
        let (mut requirements, mut missing) = (Vec::new(), Vec::new());
        let warnings = pin(
            &mut requirements,
            &mut missing,
            &[made("1.3.2", "data/a.pkl"), made("1.2.2", "data/b.pkl")],
        );
        assert!(requirements.is_empty());
        assert_eq!(
            messages(&warnings),
            [
                "the shipped pickles were made by different scikit-learn versions (data/b.pkl by \
              1.2.2; data/a.pkl by 1.3.2): nb2svc pins none of them; a model may not load, or may \
              predict differently, under another version than its own"
            ]
        );
        let warnings = pin(
            &mut requirements,
            &mut missing,
            &[made("1.4.dev0", "data/a.pkl")],
        );
        assert!(requirements.is_empty());
        assert!(messages(&warnings)[0].contains("a development or local build"));
    }
}
