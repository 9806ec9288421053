//! When uv finds no versions that fit: which requirement lines it names, where each came from,
//! and what would resolve it, with uv's own message after.
//!
//! uv's explanation is prose ("Because pandas==1.5.3 depends on numpy>=1.23.2 and you require
//! numpy==1.21.0, ..."); it is read conservatively: a word counts as a package only when it
//! is the name of a line nb2svc gave uv (a requirement, or a pin of the project's lock) and
//! either carries a version specifier or is no word of uv's prose. Whatever is not
//! recognised is still in uv's message, which is always shown whole.

use crate::import_map::normalize;
use crate::requirements::{Origin, Requirement};

use super::target::Target;
use super::user_lock::UserLock;

/// Whether uv's stderr says the requirements have no solution (as opposed to an index that
/// does not answer, or a build that failed).
pub fn is_conflict(stderr: &str) -> bool {
    stderr.contains("No solution found when resolving dependencies")
}

/// Whether uv's stderr says it could not reach an index.
pub fn is_unreachable(stderr: &str) -> bool {
    [
        "Failed to fetch",
        "error sending request for url",
        "Could not connect",
        "tcp connect error",
        "dns error",
        "operation timed out",
        "Network is unreachable",
    ]
    .iter()
    .any(|sign| stderr.contains(sign))
}

/// One line nb2svc gave uv: a requirement of `requirements.in`, or a pin of the project's lock.
struct Asked {
    name: String,
    text: String,
    /// Where it came from, as a person reads it.
    origin: String,
    /// What to change so that it no longer conflicts.
    remedy: String,
}

/// The error message for a conflict: the lines uv names, their origins, what would resolve
/// it, and uv's own message.
pub fn report(
    stderr: &str,
    requirements: &[Requirement],
    user_lock: Option<&UserLock>,
    target: &Target,
) -> String {
    let asked = asked_lines(requirements, user_lock);
    let named = named_packages(stderr);
    let involved: Vec<&Asked> = asked
        .iter()
        .filter(|line| named.contains(&line.name))
        .collect();
    let mut out = format!(
        "the requirements cannot be installed together: uv finds no versions that fit them all for Python {} on {}",
        target.python, target.platform
    );
    if involved.is_empty() {
        out.push_str(" (nb2svc cannot tell from uv's message which lines conflict)\n");
    } else {
        out.push_str("; the lines involved:\n");
        for line in &involved {
            out.push_str(&format!("  {}  ({})\n", line.text, line.origin));
        }
    }
    out.push_str("what would resolve it:\n");
    for line in &involved {
        out.push_str(&format!("  - {}: {}\n", line.text, line.remedy));
    }
    // uv says so when a pin needs another Python, or has no wheels built for this one.
    if stderr.contains("requested Python version") || stderr.contains("matching Python ABI tag") {
        out.push_str(&format!(
            "  - the lock is for Python {} ({}): a base image with another Python (--base-image python:X.Y-slim) may fit these pins\n",
            target.python, target.python_from
        ));
    }
    out.push_str(
        "  - or generate the service unlocked with --no-lock (its image build will fail the same way until the lines fit)\n",
    );
    out.push_str("uv says:\n");
    for line in stderr.trim_end().lines() {
        out.push_str("  ");
        out.push_str(line);
        out.push('\n');
    }
    out.trim_end().to_string()
}

fn asked_lines(requirements: &[Requirement], user_lock: Option<&UserLock>) -> Vec<Asked> {
    let mut asked: Vec<Asked> = requirements
        .iter()
        .filter(|r| !r.name.is_empty())
        .map(|r| Asked {
            name: r.name.clone(),
            text: crate::escape::one_line(&r.text).into_owned(),
            origin: crate::escape::one_line(&r.origin.to_string()).into_owned(),
            remedy: remedy(&r.origin),
        })
        .collect();
    if let Some(lock) = user_lock {
        for pin in &lock.pins {
            asked.push(Asked {
                name: pin.name.clone(),
                text: format!("{}=={}", pin.name, pin.version),
                origin: format!(
                    "pinned by the project's lock {} line {}",
                    lock.file, pin.line
                ),
                remedy: format!(
                    "update {} ({}), or remove the project's lock to resolve without it",
                    lock.file,
                    lock.format.update_hint(&pin.name)
                ),
            });
        }
    }
    asked
}

/// What to change for a line of this origin.
fn remedy(origin: &Origin) -> String {
    match origin {
        Origin::File { path, line } => {
            format!("change or remove its version at {path} line {line}")
        }
        Origin::Magic { location } => format!(
            "change the version of the install magic in {location}, or leave that cell out of the service (`# nb2svc: skip` as its first line, or a `skip` tag) if the service does not need it"
        ),
        Origin::Import { module, cells } if !cells.is_empty() => {
            let cells: Vec<String> = cells.iter().map(ToString::to_string).collect();
            format!(
                "nb2svc added it for `import {module}` in {}: if the service does not need that code, leave those cells out (`# nb2svc: skip` or a `skip` tag); otherwise list a version of it that fits in the requirements file",
                cells.join(", ")
            )
        }
        Origin::Import { module, .. } => format!(
            "nb2svc added it for `import {module}` in a shipped module: list a version of it that fits in the requirements file"
        ),
        Origin::Added { reason } => format!(
            "nb2svc adds it ({reason}): list a version of it that fits the others in the requirements file"
        ),
        // nb2svc bounded the person's line (`fastapi` became `fastapi>=0.100`): the remedy is
        // the line's own, and the bound says why it is there.
        Origin::Bounded {
            origin,
            bound,
            reason,
        } => format!("{} (nb2svc requires `{bound}`: {reason})", remedy(origin)),
    }
}

/// Words of uv's explanations that are not package names, even where a line has that name.
const PROSE: &[&str] = &[
    "a",
    "all",
    "and",
    "are",
    "available",
    "be",
    "because",
    "can",
    "cannot",
    "conclude",
    "depends",
    "does",
    "for",
    "found",
    "has",
    "have",
    "hint",
    "in",
    "is",
    "no",
    "not",
    "of",
    "on",
    "only",
    "package",
    "python",
    "registry",
    "require",
    "requirements",
    "satisfy",
    "so",
    "that",
    "the",
    "there",
    "these",
    "unsatisfiable",
    "used",
    "version",
    "versions",
    "was",
    "we",
    "wheels",
    "which",
    "with",
    "you",
    "your",
];

/// The normalized names uv's message mentions as packages.
fn named_packages(stderr: &str) -> Vec<String> {
    let mut names = Vec::new();
    for word in stderr.split(|c: char| c.is_whitespace() || matches!(c, ',' | '(' | ')' | '`')) {
        let end = word
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
            .unwrap_or(word.len());
        let name = word[..end].trim_end_matches(['.', '-', '_']);
        if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
            continue;
        }
        let specified = word[end..].starts_with(['=', '<', '>', '!', '~', '[']);
        let normalized = normalize(name);
        if (specified || !PROSE.contains(&normalized.as_str())) && !names.contains(&normalized) {
            names.push(normalized);
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::{CellRef, Location};
    use crate::lock::user_lock::{LockFormat, Pin};

    fn requirement(text: &str, origin: Origin) -> Requirement {
        let name = text
            .split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
            .next()
            .unwrap();
        Requirement {
            name: normalize(name),
            text: text.into(),
            origin,
        }
    }

    fn file(line: usize) -> Origin {
        Origin::File {
            path: "requirements.txt".into(),
            line,
        }
    }

    fn target() -> Target {
        Target::for_image("python:3.11-slim", "x86_64")
    }

    /// uv 0.13.9's message for `pandas==1.5.3` and `numpy==1.21.0` (`--color never`).
    const PANDAS_NUMPY: &str = "error: No solution found when resolving dependencies\n  cause: Because pandas==1.5.3 depends on numpy>=1.23.2 and you require pandas==1.5.3, we can conclude that you require numpy>=1.23.2.\n         And because you require numpy==1.21.0, we can conclude that your requirements are unsatisfiable.\n";

    #[test]
    fn names_both_lines_of_a_file_with_their_lines() {
        let requirements = [
            requirement("numpy==1.21.0", file(2)),
            requirement("pandas==1.5.3", file(3)),
            requirement(
                "fastapi",
                Origin::Added {
                    reason: "serves the API".into(),
                },
            ),
        ];
        assert!(is_conflict(PANDAS_NUMPY) && !is_unreachable(PANDAS_NUMPY));
        let report = report(PANDAS_NUMPY, &requirements, None, &target());
        assert!(
            report.starts_with(
                "the requirements cannot be installed together: uv finds no versions that fit them all for Python 3.11 on x86_64-manylinux_2_28; the lines involved:\n  \
                 numpy==1.21.0  (from requirements.txt line 2)\n  \
                 pandas==1.5.3  (from requirements.txt line 3)\n\
                 what would resolve it:\n  \
                 - numpy==1.21.0: change or remove its version at requirements.txt line 2\n  \
                 - pandas==1.5.3: change or remove its version at requirements.txt line 3\n"
            ),
            "{report}"
        );
        assert!(!report.contains("fastapi"), "{report}");
        assert!(
            report.ends_with("we can conclude that your requirements are unsatisfiable."),
            "uv's own message closes the report: {report}"
        );
        assert!(report.contains("uv says:\n  error: No solution found"));
    }

    #[test]
    fn an_added_import_points_at_its_cell() {
        // `import fastapi_old` (a made-up package) in cell 4 against a pinned file line.
        let stderr = "error: No solution found when resolving dependencies\n  cause: Because you require fastapi==0.65.0 and fastapi>0.70, we can conclude that your requirements are unsatisfiable.\n";
        let requirements = [
            requirement("fastapi==0.65.0", file(1)),
            requirement(
                "fastapi>0.70",
                Origin::Magic {
                    location: Location {
                        cell: CellRef::new(4, Some("ab".into())),
                        line: 2,
                    },
                },
            ),
        ];
        let report = report(stderr, &requirements, None, &target());
        assert!(
            report.contains("fastapi>0.70  (install magic in cell 4 (id ab), line 2)"),
            "{report}"
        );
        assert!(
            report.contains("leave that cell out of the service (`# nb2svc: skip`"),
            "{report}"
        );
    }

    #[test]
    fn a_guessed_name_missing_from_the_index_names_the_import() {
        let stderr = "error: No solution found when resolving dependencies\n  cause: Because penguin-tools was not found in the package registry and you require penguin-tools, we can conclude that your requirements are unsatisfiable.\n";
        let requirements = [requirement(
            "penguin_tools",
            Origin::Import {
                module: "penguin_tools".into(),
                cells: vec![CellRef::new(6, None)],
            },
        )];
        let report = report(stderr, &requirements, None, &target());
        assert!(
            report.contains("penguin_tools  (import penguin_tools in cell 6; added by nb2svc)"),
            "{report}"
        );
        assert!(report.contains("leave those cells out"), "{report}");
    }

    #[test]
    fn a_pin_of_the_project_lock_is_named_with_its_line() {
        let stderr = "error: No solution found when resolving dependencies\n  cause: Because you require numpy>=2 and numpy==1.26.4, we can conclude that your requirements are unsatisfiable.\n";
        let requirements = [requirement("numpy>=2", file(1))];
        let lock = UserLock {
            file: "uv.lock".into(),
            format: LockFormat::Uv,
            pins: vec![Pin {
                name: "numpy".into(),
                version: "1.26.4".into(),
                line: 12,
            }],
            skipped: vec![],
        };
        let report = report(stderr, &requirements, Some(&lock), &target());
        assert!(
            report.contains("  numpy>=2  (from requirements.txt line 1)\n  numpy==1.26.4  (pinned by the project's lock uv.lock line 12)\n"),
            "{report}"
        );
        assert!(
            report.contains("uv lock --upgrade-package numpy"),
            "{report}"
        );
    }

    #[test]
    fn a_python_too_old_for_a_pin_suggests_another_base_image() {
        let stderr = "error: No solution found when resolving dependencies\n  cause: Because the requested Python version (>=3.9) does not satisfy Python>=3.11 and numpy==2.3.0 depends on Python>=3.11, we can conclude that numpy==2.3.0 cannot be used.\n         And because you require numpy==2.3.0, we can conclude that your requirements are unsatisfiable.\n";
        let target = Target::for_image("python:3.9-slim", "x86_64");
        let report = report(
            stderr,
            &[requirement("numpy==2.3.0", file(1))],
            None,
            &target,
        );
        assert!(report.contains("numpy==2.3.0  (from requirements.txt line 1)"));
        assert!(
            report.contains("the lock is for Python 3.9 (the base image python:3.9-slim): a base image with another Python"),
            "{report}"
        );
    }

    #[test]
    fn a_pin_with_no_wheels_for_this_python_suggests_another_base_image() {
        // uv 0.13.9 on the corpus's course_tft (tfx==1.12.0 for Python 3.11).
        let stderr = "error: No solution found when resolving dependencies\n  cause: Because tensorflow>=2.11.0,<=2.11.1 has no wheels with a matching Python ABI tag (e.g., `cp311`) and only the following versions of tensorflow are available:\n               tensorflow<=2.11.1\n               tensorflow>=2.12\n           we can conclude that tensorflow>=2.11.0,<2.12 cannot be used.\n           And because tfx==1.12.0 depends on tensorflow>=2.11.0,<2.12 and you require tfx==1.12.0, we can conclude that your requirements are unsatisfiable.\n";
        let requirements = [
            requirement("tfx==1.12.0", file(1)),
            requirement(
                "tensorflow",
                Origin::Import {
                    module: "tensorflow".into(),
                    cells: vec![CellRef::new(3, None)],
                },
            ),
        ];
        let report = report(stderr, &requirements, None, &target());
        assert!(report.contains("  tfx==1.12.0  (from requirements.txt line 1)\n  tensorflow  (import tensorflow in cell 3; added by nb2svc)\n"), "{report}");
        assert!(
            report.contains("a base image with another Python"),
            "{report}"
        );
    }

    #[test]
    fn prose_is_not_a_package_and_unknown_messages_still_show_uv() {
        // A line named like one of uv's words is named only with a version after it.
        let requirements = [requirement("requirements", file(1))];
        let stderr = "error: No solution found when resolving dependencies\n  cause: your requirements are unsatisfiable.\n";
        let report = report(stderr, &requirements, None, &target());
        assert!(
            report.contains("nb2svc cannot tell from uv's message which lines conflict"),
            "{report}"
        );
        assert!(report.contains("uv says:\n  error: No solution found"));
    }

    #[test]
    fn tells_an_unreachable_index_from_a_conflict() {
        let stderr = "error: Request failed after 3 retries in 5.0s\n  cause: Failed to fetch: http://127.0.0.1:9/simple/numpy/\n  cause: error sending request for url (http://127.0.0.1:9/simple/numpy/)\n  cause: client error (Connect)\n  cause: tcp connect error\n  cause: Connection refused (os error 111)\n";
        assert!(is_unreachable(stderr) && !is_conflict(stderr));
    }
}
