//! pip's requirements-file format: comments, continuation lines, includes (`-r`, `-c`),
//! options and per-requirement hashes. Each specifier is left to [`super::spec`].

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::spec::{looks_like_path, parse_spec};
use super::{Origin, Requirement, RequirementsSet};
use crate::diagnostics::Warning;

/// Options that may stand on their own line of a requirements file, with whether they take a
/// value. The long spelling is what the merged file gets.
const LINE_OPTIONS: &[(&str, Option<&str>, bool)] = &[
    ("--index-url", Some("-i"), true),
    ("--extra-index-url", None, true),
    ("--no-index", None, false),
    ("--find-links", Some("-f"), true),
    ("--trusted-host", None, true),
    ("--no-binary", None, true),
    ("--only-binary", None, true),
    ("--pre", None, false),
    ("--prefer-binary", None, false),
    ("--require-hashes", None, false),
    ("--use-feature", None, true),
];

/// Options pip accepts after a requirement on the same line.
const PER_REQUIREMENT_OPTIONS: &[(&str, Option<&str>)] = &[
    ("--hash", None),
    ("--config-settings", Some("-C")),
    ("--global-option", None),
];

/// Parses the text of a requirements file. `path` names it in origins and errors and anchors
/// relative includes; `includes` returns the text of an included file (`-r`, `-c`) given its
/// path, already resolved against the including file. Includes are followed recursively;
/// a file already being read is not read again (a cycle is reported as a warning).
pub fn parse_requirements_txt(
    text: &str,
    path: &Path,
    includes: &mut dyn FnMut(&Path) -> Result<String>,
) -> Result<RequirementsSet> {
    let mut parser = Parser {
        includes,
        stack: Vec::new(),
        seen: HashSet::new(),
        set: RequirementsSet::default(),
    };
    parser.file(text, path, false)?;
    Ok(parser.set)
}

struct Parser<'a> {
    includes: &'a mut dyn FnMut(&Path) -> Result<String>,
    stack: Vec<PathBuf>,
    seen: HashSet<PathBuf>,
    set: RequirementsSet,
}

impl Parser<'_> {
    /// Reads one file; with `constraints`, its requirements are checked but not kept.
    fn file(&mut self, text: &str, path: &Path, constraints: bool) -> Result<usize> {
        let key = lexical(path);
        self.stack.push(key.clone());
        self.seen.insert(key);
        let mut count = 0;
        for (line_no, line) in logical_lines(text) {
            let at = Place {
                path,
                line: line_no,
            };
            count += self.line(&line, at, constraints)?;
        }
        self.stack.pop();
        Ok(count)
    }

    /// Handles one logical line; returns how many requirements it held.
    fn line(&mut self, line: &str, at: Place, constraints: bool) -> Result<usize> {
        if !line.starts_with('-') {
            let (spec, options) = split_options(line);
            let options = option_suffix(options, at)?;
            if constraints {
                parse_spec(spec).map_err(|err| at.invalid(spec, &err))?;
            } else {
                self.requirement("", spec, &options, at)?;
            }
            return Ok(1);
        }
        let tokens =
            shlex::split(line).with_context(|| format!("{at}: unbalanced quotes in {line:?}"))?;
        let mut tokens = tokens.into_iter();
        let mut count = 0;
        while let Some(token) = tokens.next() {
            let (flag, inline) = split_flag(&token);
            let mut value = |what: &str| -> Result<String> {
                match inline.clone().or_else(|| tokens.next()) {
                    Some(value) => Ok(value),
                    None => bail!("{at}: expected {what} after {flag}"),
                }
            };
            match flag {
                "-r" | "--requirement" => {
                    count += self.include(&value("a file name")?, at, constraints)?
                }
                "-c" | "--constraint" => {
                    let file = value("a file name")?;
                    let pins = self.include(&file, at, true)?;
                    self.set.warnings.push(Warning::general(format!(
                        "{at}: constraints file {file:?} ({pins} entries) is not applied: \
                         nb2svc writes one requirements.txt; pin those versions there if they matter"
                    )));
                }
                "-e" | "--editable" => {
                    let target = value("a path or VCS URL")?;
                    let rest: Vec<String> = tokens.by_ref().collect();
                    let options = option_suffix(&rest.join(" "), at)?;
                    if !constraints {
                        self.requirement("-e ", &target, &options, at)?;
                    }
                    count += 1;
                }
                _ => {
                    let Some((long, _, takes_value)) = LINE_OPTIONS
                        .iter()
                        .find(|(long, short, _)| flag == *long || Some(flag) == *short)
                    else {
                        bail!(
                            "{at}: unknown pip option {flag:?}: expected a requirement or one of \
                             -r, -c, -e, -i, --extra-index-url, --no-index, -f, --trusted-host, \
                             --no-binary, --only-binary, --pre, --prefer-binary, --require-hashes"
                        );
                    };
                    let option = match takes_value {
                        true => format!("{long} {}", value("a value")?),
                        false if inline.is_some() => bail!("{at}: {long} takes no value"),
                        false => long.to_string(),
                    };
                    if *long == "--find-links" && looks_like_path(&option[13..]) {
                        self.set.warnings.push(Warning::general(format!(
                            "{at}: {option} is a local folder that will not exist in the container"
                        )));
                    }
                    if !self.set.options.contains(&option) {
                        self.set.options.push(option);
                    }
                }
            }
        }
        Ok(count)
    }

    /// Adds `spec` (with a `-e ` prefix and per-requirement options already rendered).
    fn requirement(&mut self, prefix: &str, spec: &str, options: &str, at: Place) -> Result<()> {
        let parsed = parse_spec(spec).map_err(|err| at.invalid(spec, &err))?;
        if let Some(problem) = &parsed.problem {
            self.set
                .warnings
                .push(Warning::general(format!("{at}: {problem}")));
        }
        let text = format!("{prefix}{}{options}", parsed.text);
        let origin = Origin::File {
            path: at.path.display().to_string(),
            line: at.line,
        };
        self.set.add(Requirement {
            name: parsed.name,
            text,
            origin,
        });
        Ok(())
    }

    fn include(&mut self, file: &str, at: Place, constraints: bool) -> Result<usize> {
        let target = at.path.parent().unwrap_or(Path::new("")).join(file);
        let key = lexical(&target);
        if self.stack.contains(&key) {
            self.set.warnings.push(Warning::general(format!(
                "{at}: {file:?} includes itself (directly or through other files); not read again"
            )));
            return Ok(0);
        }
        if !self.seen.insert(key.clone()) {
            return Ok(0);
        }
        let text = (self.includes)(&key)
            .with_context(|| format!("{at}: cannot read included file {:?}", key.display()))?;
        self.file(&text, &key, constraints)
    }
}

/// A line of a file, for messages: `requirements.txt:7`.
#[derive(Clone, Copy)]
struct Place<'a> {
    path: &'a Path,
    line: usize,
}

impl Place<'_> {
    fn invalid(&self, spec: &str, reason: &str) -> anyhow::Error {
        anyhow::anyhow!("{self}: invalid requirement {spec:?}: {reason}")
    }
}

impl std::fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.path.display(), self.line)
    }
}

/// Joins continuation lines and drops comments and blank lines, keeping each logical line's
/// first physical line number.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut lines = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (index, raw) in text.lines().enumerate() {
        let raw = raw.trim_end_matches('\r');
        let comment_only = raw.trim_start().starts_with('#');
        let continued = !comment_only && raw.ends_with('\\');
        let piece = if continued {
            &raw[..raw.len() - 1]
        } else {
            raw
        };
        let (number, mut joined) = pending.take().unwrap_or((index + 1, String::new()));
        if !comment_only || joined.is_empty() {
            joined.push_str(piece);
        }
        if continued {
            pending = Some((number, joined));
            continue;
        }
        let line = strip_comment(&joined).trim();
        if !line.is_empty() {
            lines.push((number, line.to_string()));
        }
    }
    if let Some((number, joined)) = pending {
        let line = strip_comment(&joined).trim();
        if !line.is_empty() {
            lines.push((number, line.to_string()));
        }
    }
    lines
}

/// Cuts a `#` comment that starts the line or follows whitespace (`pkg#egg` is not one).
fn strip_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'#' && (i == 0 || bytes[i - 1].is_ascii_whitespace()) {
            return &line[..i];
        }
    }
    line
}

/// Splits `spec --hash=…` into the specifier and its options: at the first whitespace
/// followed by `-` outside quotes.
fn split_options(line: &str) -> (&str, &str) {
    let mut quote = None;
    let mut previous_space = false;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if q == c => quote = None,
            (None, '-') if previous_space => return (line[..i].trim(), line[i..].trim()),
            _ => {}
        }
        previous_space = quote.is_none() && c.is_whitespace();
    }
    (line.trim(), "")
}

/// Per-requirement options (`--hash=sha256:…`) as written after the requirement in the
/// merged file, each as ` --name=value`.
fn option_suffix(options: &str, at: Place) -> Result<String> {
    let mut text = String::new();
    let tokens =
        shlex::split(options).with_context(|| format!("{at}: unbalanced quotes in {options:?}"))?;
    let mut tokens = tokens.into_iter();
    while let Some(token) = tokens.next() {
        let (flag, inline) = split_flag(&token);
        let Some((long, _)) = PER_REQUIREMENT_OPTIONS
            .iter()
            .find(|(l, s)| flag == *l || Some(flag) == *s)
        else {
            bail!("{at}: unknown option {flag:?} after a requirement: expected --hash, --config-settings or --global-option");
        };
        let Some(value) = inline.or_else(|| tokens.next()) else {
            bail!("{at}: expected a value after {flag}");
        };
        if *long == "--hash" && !value.contains(':') {
            bail!("{at}: invalid hash {value:?}: expected algorithm:digest such as sha256:…");
        }
        text.push_str(&format!(" {long}={value}"));
    }
    Ok(text)
}

/// `--opt=value` → (`--opt`, value); `-rfile` → (`-r`, file); anything else has no inline value.
pub(crate) fn split_flag(token: &str) -> (&str, Option<String>) {
    if token.starts_with("--") {
        match token.split_once('=') {
            Some((flag, value)) => (flag, Some(value.to_string())),
            None => (token, None),
        }
    } else if token.starts_with('-') && token.len() > 2 && token.is_char_boundary(2) {
        (&token[..2], Some(token[2..].to_string()))
    } else {
        (token, None)
    }
}

/// Resolves `.` and `..` without touching the disk, so includes can be compared.
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// Parses `files["requirements.txt"]`, serving includes from the same map.
    fn parse(files: &[(&str, &str)]) -> Result<RequirementsSet> {
        let files: HashMap<PathBuf, String> = files
            .iter()
            .map(|(p, t)| (PathBuf::from(p), t.to_string()))
            .collect();
        let mut loader = |path: &Path| match files.get(path) {
            Some(text) => Ok(text.clone()),
            None => bail!("no such file"),
        };
        parse_requirements_txt(
            &files[Path::new("requirements.txt")],
            Path::new("requirements.txt"),
            &mut loader,
        )
    }

    fn texts(set: &RequirementsSet) -> Vec<&str> {
        set.requirements.iter().map(|r| r.text.as_str()).collect()
    }

    fn fixture_text(name: &str) -> String {
        std::fs::read_to_string(super::super::fixture(name)).unwrap()
    }

    #[test]
    fn resolves_nested_includes_relative_to_including_file() {
        let set = parse(&[
            ("requirements.txt", "-r deps/web.txt\nnumpy\n"),
            ("deps/web.txt", "--requirement=more/api.txt\nflask\n"),
            ("deps/more/api.txt", "fastapi\n-r ../../requirements.txt\n"),
        ])
        .unwrap();
        assert_eq!(texts(&set), ["fastapi", "flask", "numpy"]);
        let origins: Vec<String> = set
            .requirements
            .iter()
            .map(|r| r.origin.to_string())
            .collect();
        assert_eq!(
            origins,
            [
                "from deps/more/api.txt line 1",
                "from deps/web.txt line 2",
                "from requirements.txt line 2"
            ]
        );
        assert_eq!(set.warnings.len(), 1);
        assert!(set.warnings[0]
            .message
            .starts_with("deps/more/api.txt:2: \"../../requirements.txt\" includes itself"));
    }

    #[test]
    fn names_the_including_line_when_an_include_is_missing() {
        let err = parse(&[("requirements.txt", "numpy\n-r nope.txt\n")]).unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "requirements.txt:2: cannot read included file \"nope.txt\": no such file"
        );
    }

    #[test]
    fn rejects_invalid_line_with_file_and_line() {
        let err = parse(&[("requirements.txt", &fixture_text("bad_line.txt"))])
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "requirements.txt:5: invalid requirement \"numpy=>1\": no such comparison operator \"=>\", must be one of ~= == != <= >= < > ==="
        );
        let err = parse(&[
            ("requirements.txt", "a\n-r base.txt\n"),
            ("base.txt", "ok\n\nnot a requirement\n"),
        ]);
        assert!(err
            .unwrap_err()
            .to_string()
            .starts_with("base.txt:3: invalid requirement \"not a requirement\""));
    }

    #[test]
    fn rejects_unknown_option_with_file_and_line() {
        let err = parse(&[("requirements.txt", &fixture_text("unknown_option.txt"))])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("requirements.txt:2: unknown pip option \"--upgrade\": expected a requirement or one of -r"), "{err}");
        let err = parse(&[("requirements.txt", "numpy --no-deps\n")])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("requirements.txt:1: unknown option \"--no-deps\" after a requirement"),
            "{err}"
        );
        let err = parse(&[("requirements.txt", "-r\n")])
            .unwrap_err()
            .to_string();
        assert_eq!(err, "requirements.txt:1: expected a file name after -r");
    }

    #[test]
    fn keeps_hashes_and_markers() {
        let set = parse(&[("requirements.txt", &fixture_text("hashes.txt"))]).unwrap();
        assert_eq!(
            texts(&set),
            [
                "scikit-learn[alldeps]>=1.3; python_version >= \"3.8\" --hash=sha256:0123456789abcdef --hash=sha256:fedcba9876543210",
                "requests==2.32.3 --hash=sha256:aaaa",
            ]
        );
        assert_eq!(set.requirements[0].name, "scikit-learn");
        assert_eq!(
            set.requirements[1].origin,
            Origin::File {
                path: "requirements.txt".into(),
                line: 4
            }
        );
    }

    #[test]
    fn joins_continuation_lines_and_strips_comments() {
        let set = parse(&[("requirements.txt", &fixture_text("continuation.txt"))]).unwrap();
        assert_eq!(texts(&set), ["pandas   ==2.2.3", "numpy"]);
        let lines: Vec<String> = set
            .requirements
            .iter()
            .map(|r| r.origin.to_string())
            .collect();
        assert_eq!(
            lines,
            [
                "from requirements.txt line 1",
                "from requirements.txt line 4"
            ]
        );
        let set = parse(&[(
            "requirements.txt",
            "pkg@https://x.org/p.zip#sha1=ab # note\n  # indented comment\n",
        )])
        .unwrap();
        assert_eq!(texts(&set), ["pkg@https://x.org/p.zip#sha1=ab"]);
    }

    #[test]
    fn reads_urls_vcs_links_and_local_paths() {
        let set = parse(&[("requirements.txt", &fixture_text("vcs.txt"))]).unwrap();
        let named: Vec<(&str, &str)> = set
            .requirements
            .iter()
            .map(|r| (r.name.as_str(), r.text.as_str()))
            .collect();
        assert_eq!(
            named,
            [
                (
                    "example-tool",
                    "git+https://github.com/example/tool.git@v1.2#egg=example-tool"
                ),
                ("", "https://github.com/example/other/archive/master.zip"),
                (
                    "mylib",
                    "mylib @ https://example.org/wheels/mylib-0.3-py3-none-any.whl"
                ),
                (
                    "editable-pkg",
                    "-e git+https://github.com/example/editable.git#egg=editable_pkg"
                ),
                ("torch", "torch"),
                ("", "./vendor/localpkg"),
            ]
        );
        let warnings: Vec<String> = set.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(warnings.len(), 2, "{warnings:#?}");
        assert!(warnings[0].starts_with("requirements.txt:5: \"torch @ file:///home/user/conda/pkgs/torch-2.1.0.tar.bz2\" points to a local file"));
        assert!(warnings[0].contains("nb2svc writes \"torch\" unpinned instead"));
        assert!(warnings[1].starts_with("requirements.txt:6: ./vendor/localpkg is a local path"));
    }

    #[test]
    fn keeps_index_options_once_in_long_form() {
        let set = parse(&[(
            "requirements.txt",
            "-i https://a.example/simple\n--extra-index-url=https://b.example/simple --pre\n-f ./wheels\n--pre\n--trusted-host a.example\nnumpy\n",
        )])
        .unwrap();
        assert_eq!(
            set.options,
            [
                "--index-url https://a.example/simple",
                "--extra-index-url https://b.example/simple",
                "--pre",
                "--find-links ./wheels",
                "--trusted-host a.example",
            ]
        );
        assert!(set.warnings[0]
            .message
            .contains("--find-links ./wheels is a local folder"));
    }

    #[test]
    fn keeps_first_of_duplicate_names_with_warning() {
        let set = parse(&[(
            "requirements.txt",
            "Scikit_Learn==1.3\nnumpy\nscikit-learn==1.4\n",
        )])
        .unwrap();
        assert_eq!(texts(&set), ["Scikit_Learn==1.3", "numpy"]);
        assert_eq!(
            set.warnings[0].message,
            "scikit-learn is listed twice (from requirements.txt line 1 and from requirements.txt line 3); keeping the first: Scikit_Learn==1.3"
        );
    }
}
